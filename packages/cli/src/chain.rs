//! `agora chain ...`: the embedded chain by hand, one message per command.
//!
//! The chain lives in a state file (`--state`, default `agora-chain.json`):
//! the parameters it was started with and every message that went
//! through, replayed on each invocation. Replay is exact (cw-multi-test is
//! deterministic), so separate invocations see one chain. A refused message
//! prints the contract's reason, exits 2 and is not recorded.
//!
//! With `--network NAME` every subcommand but `init` goes to that network's
//! node instead ([`node`]): each message is a real transaction, signed by
//! the key of the name given.
//!
//! On a graph with commit-reveal, `set-weights` commits the row (with a
//! salt from the OS's random generator, kept in the state file) and `epoch` reveals every
//! commit that has come due: the command commits and reveals on its own.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use agora_client::{Attributes, Chain, ChainError, EmbeddedChain};
use agora_market::execute::commit::commit_hash;
use agora_market::msg::{ExecuteMsg, GraphParams, PeerInfo, TEXT};
use clap::{Args, Subcommand};
use serde::{Deserialize, Serialize};

use crate::error::{CliError, finish};
use crate::network::NetworkArgs;

pub(crate) mod file;
mod node;

const DENOM: &str = "uagora";
const ADMIN: &str = "admin";
/// What each named account is given on first use.
const ACCOUNT_FUNDS: u128 = 1_000_000_000_000;

#[derive(Debug, Args)]
pub struct ChainArgs {
    #[command(flatten)]
    network: NetworkArgs,
    /// The state file.
    #[arg(long, global = true, default_value = "agora-chain.json")]
    state: PathBuf,
    /// Print JSON instead of a table.
    #[arg(long, global = true)]
    json: bool,
    /// The graph to act on. The embedded chain has TEXT only; a node's
    /// market may have more (`add-graph`).
    #[arg(long, global = true, default_value = TEXT)]
    graph: String,
    #[command(subcommand)]
    command: ChainCommand,
}

#[derive(Debug, Subcommand)]
enum ChainCommand {
    /// Start a chain: instantiate the market and fund the TEXT reward pool.
    Init {
        #[arg(long, default_value_t = 1_000_000)]
        emission: u128,
        #[arg(long, default_value_t = 100_000_000_000)]
        reward_pool: u128,
        #[arg(long, default_value_t = 10)]
        epoch_length: u64,
        /// Weights by commit and reveal (the command does both).
        #[arg(long)]
        commit_reveal: bool,
        /// Replace an existing state file.
        #[arg(long)]
        force: bool,
    },
    /// Register account NAME as a peer of the graph (--graph).
    Register {
        name: String,
        #[arg(long, default_value = "http://127.0.0.1:9000")]
        endpoint: String,
    },
    /// Bond AMOUNT of NAME's tokens.
    Stake { name: String, amount: u128 },
    /// Set NAME's row: `uid:weight,uid:weight,...`.
    SetWeights { name: String, row: String },
    /// Run the epoch (advancing to its due block, or on a node waiting
    /// for it), in pages of `max_rows`.
    Epoch {
        #[arg(long)]
        max_rows: Option<u32>,
        /// Send at most this many pages and leave the rest of a paged
        /// epoch in progress (a later `epoch` goes on with it).
        #[arg(long)]
        pages: Option<u32>,
        /// On a node: the key that sends the epoch's transactions.
        #[arg(long, default_value = "deployer")]
        key: String,
    },
    /// On a node: add graph NAME to the market (the key must be its
    /// admin), with the parameters of a JSON file (docs/SPEC.md §2; any
    /// left out take their defaults).
    AddGraph {
        name: String,
        /// A GraphParams JSON file.
        #[arg(long)]
        params: Option<PathBuf>,
        #[arg(long, default_value = "deployer")]
        key: String,
    },
    /// Every peer, in uid order.
    Metagraph,
    /// Peers by incentive, best first.
    Ranking,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Op {
    Register {
        name: String,
        endpoint: String,
    },
    Stake {
        name: String,
        amount: u128,
    },
    SetWeights {
        name: String,
        row: Vec<(u16, u16)>,
    },
    Commit {
        name: String,
        row: Vec<(u16, u16)>,
        salt: Vec<u8>,
    },
    Reveal {
        name: String,
        row: Vec<(u16, u16)>,
        salt: Vec<u8>,
    },
    Epoch {
        max_rows: Option<u32>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pages: Option<u32>,
    },
    /// Any market message, as a daemon (`agora peer run`) sends it.
    Execute {
        name: String,
        msg: Box<ExecuteMsg>,
        funds: u128,
    },
    /// Blocks that pass with no message.
    Advance {
        blocks: u64,
    },
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct State {
    params: GraphParams,
    reward_pool: u128,
    ops: Vec<Op>,
}

/// A committed row and its salt: (name, row, salt).
type Unrevealed = (String, Vec<(u16, u16)>, Vec<u8>);

/// The chain as the state file describes it, with the names it knows.
pub(crate) struct Replayed {
    pub(crate) chain: EmbeddedChain,
    names: Vec<String>,
    /// Commits not yet revealed.
    unrevealed: Vec<Unrevealed>,
}

impl Replayed {
    pub(crate) fn new(state: &State) -> Result<Self, CliError> {
        let mut chain = EmbeddedChain::new(DENOM, ADMIN, u128::MAX / 4, state.params.clone())?;
        chain.fund_rewards(ADMIN, TEXT, state.reward_pool)?;
        let mut replayed = Self {
            chain,
            names: Vec::new(),
            unrevealed: Vec::new(),
        };
        for op in &state.ops {
            replayed
                .apply(op)
                .map_err(|e| CliError::Invalid(format!("replaying the state file: {e}")))?;
        }
        Ok(replayed)
    }

    pub(crate) fn account(&mut self, name: &str) -> Result<(), CliError> {
        if !self.names.iter().any(|n| n == name) {
            self.chain.fund(ADMIN, name, ACCOUNT_FUNDS)?;
            self.names.push(name.to_string());
        }
        Ok(())
    }

    /// Any market message from `name` (funded on first use), in the
    /// current block.
    fn send(
        &mut self,
        name: &str,
        msg: &ExecuteMsg,
        funds: u128,
    ) -> Result<Attributes, ChainError> {
        self.account(name)
            .map_err(|e| ChainError::Refused(e.to_string()))?;
        self.chain.execute_market(name, msg, funds)
    }

    /// [`Replayed::send`] as a new block, as [`Replayed::apply`] replays
    /// it: how a daemon's messages enter.
    pub(crate) fn execute(
        &mut self,
        name: &str,
        msg: &ExecuteMsg,
        funds: u128,
    ) -> Result<Attributes, ChainError> {
        self.chain.advance(1);
        self.send(name, msg, funds)
    }

    /// One message, as a new block (or the blocks that passed).
    pub(crate) fn apply(&mut self, op: &Op) -> Result<String, CliError> {
        let blocks = match op {
            Op::Advance { blocks } => *blocks,
            _ => 1,
        };
        self.chain.advance(blocks);
        match op {
            Op::Advance { blocks } => Ok(format!("{blocks} blocks passed")),
            Op::Execute { name, msg, funds } => {
                self.send(name, msg, *funds)?;
                Ok(format!("{name} sent a message"))
            }
            Op::Register { name, endpoint } => {
                self.account(name)?;
                let uid = self.chain.register(name, TEXT, endpoint, 0)?;
                Ok(format!("{name} registered as uid {uid}"))
            }
            Op::Stake { name, amount } => {
                self.account(name)?;
                self.chain.stake(name, TEXT, *amount)?;
                Ok(format!("{name} staked {amount}"))
            }
            Op::SetWeights { name, row } => {
                self.chain.set_weights(name, TEXT, row)?;
                Ok(format!("{name} set {} weights", row.len()))
            }
            Op::Commit { name, row, salt } => {
                let uid = self.uid(name)?;
                self.chain
                    .commit_weights(name, TEXT, commit_hash(uid, row, salt))?;
                self.unrevealed
                    .push((name.clone(), row.clone(), salt.clone()));
                Ok(format!("{name} committed {} weights", row.len()))
            }
            Op::Reveal { name, row, salt } => {
                self.chain.reveal_weights(name, TEXT, row, salt)?;
                self.unrevealed
                    .retain(|(n, r, s)| !(n == name && r == row && s == salt));
                Ok(format!("{name} revealed {} weights", row.len()))
            }
            Op::Epoch { max_rows, pages } => {
                self.chain.advance_to_due(TEXT)?;
                Ok(run_epoch(&mut self.chain, ADMIN, TEXT, *max_rows, *pages)?)
            }
        }
    }

    fn uid(&self, name: &str) -> Result<u16, CliError> {
        let address = self.chain.address(name)?;
        let peers = self.chain.metagraph(TEXT)?;
        peers
            .iter()
            .find(|p| p.address.as_str() == address)
            .map(|p| p.uid)
            .ok_or_else(|| CliError::Invalid(format!("{name} is not registered")))
    }
}

/// Runs `graph`'s epoch in pages of `max_rows`, all of them or at most
/// `pages`; the line to print.
pub(crate) fn run_epoch(
    chain: &mut impl Chain,
    name: &str,
    graph: &str,
    max_rows: Option<u32>,
    pages: Option<u32>,
) -> Result<String, ChainError> {
    if let Some(outcome) = chain.epoch_pages(name, graph, max_rows, pages)? {
        return Ok(format!(
            "epoch {} ran in {} page(s) and paid {}",
            outcome.epoch, outcome.pages, outcome.emitted
        ));
    }
    let state = chain.epoch_state(graph)?;
    Ok(match state.in_progress {
        Some(progress) => format!(
            "epoch {} in progress after {} page(s): {} at uid {} of {}",
            state.epoch, progress.pages, progress.phase, progress.next_uid, progress.peers
        ),
        None => format!("epoch {} finished", state.epoch),
    })
}

/// The embedded chain a state file describes (for `agora explorer`).
pub(crate) fn load_chain(path: &Path) -> Result<EmbeddedChain, CliError> {
    Ok(Replayed::new(&load(path)?)?.chain)
}

pub(crate) fn load(path: &Path) -> Result<State, CliError> {
    let text = std::fs::read_to_string(path).map_err(CliError::unreadable(format!(
        "{} (start a chain with `agora chain init`)",
        path.display()
    )))?;
    serde_json::from_str(&text)
        .map_err(|e| CliError::Invalid(format!("{} is not a chain state: {e}", path.display())))
}

pub(crate) fn save(path: &Path, state: &State) -> Result<(), CliError> {
    let text = serde_json::to_string_pretty(state)?;
    crate::network::write_atomically(path, &text)
}

/// Holds the state file's lock (`FILE.lock`) until dropped: several
/// processes (`agora chain`, `agora peer run` daemons) share one chain.
pub(crate) fn lock(path: &Path, exclusive: bool) -> Result<std::fs::File, CliError> {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(".lock");
    let lock_path = path.with_file_name(name);
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .map_err(CliError::io(format!("opening {}", lock_path.display())))?;
    let locked = if exclusive {
        file.lock()
    } else {
        file.lock_shared()
    };
    locked.map_err(CliError::io(format!("locking {}", lock_path.display())))?;
    Ok(file)
}

fn parse_row(text: &str) -> Result<Vec<(u16, u16)>, CliError> {
    text.split(',')
        .filter(|entry| !entry.is_empty())
        .map(|entry| {
            let (uid, weight) = entry
                .split_once(':')
                .ok_or_else(|| CliError::Invalid(format!("{entry:?} is not uid:weight")))?;
            let uid = uid
                .trim()
                .parse()
                .map_err(|_| CliError::Invalid(format!("{uid:?} is not a uid")))?;
            let weight = weight
                .trim()
                .parse()
                .map_err(|_| CliError::Invalid(format!("{weight:?} is not a u16 weight")))?;
            Ok((uid, weight))
        })
        .collect()
}

pub fn run(args: &ChainArgs) -> ExitCode {
    finish("chain", chain(args))
}

fn chain(args: &ChainArgs) -> Result<(), CliError> {
    if let Some(network) = &args.network.network {
        return node::run(args, network);
    }
    if let ChainCommand::Init {
        emission,
        reward_pool,
        epoch_length,
        commit_reveal,
        force,
    } = &args.command
    {
        if args.state.exists() && !force {
            return Err(CliError::Invalid(format!(
                "{} exists: pass --force to replace it",
                args.state.display()
            )));
        }
        let params = GraphParams::builder()
            .emission_per_epoch(*emission)
            .unbonding_period(10)
            .epoch_length(*epoch_length)
            .commit_reveal(*commit_reveal)
            .build();
        let state = State {
            params,
            reward_pool: *reward_pool,
            ops: Vec::new(),
        };
        Replayed::new(&state)?;
        save(&args.state, &state)?;
        println!("started a chain in {}", args.state.display());
        return Ok(());
    }
    if args.graph != TEXT {
        return Err(CliError::Invalid(format!(
            "the embedded chain has graph {TEXT} only; --graph {} is for a node (--network)",
            args.graph
        )));
    }
    let _lock = lock(&args.state, true)?;
    let mut state = load(&args.state)?;
    let mut replayed = Replayed::new(&state)?;
    let commit_reveal = state.params.commit_reveal;
    let ops: Vec<Op> = match &args.command {
        ChainCommand::Init { .. } => unreachable!("handled above"),
        ChainCommand::AddGraph { .. } => {
            return Err(CliError::Invalid(
                "add-graph is for a node (--network): the embedded chain has one graph".to_string(),
            ));
        }
        ChainCommand::Register { name, endpoint } => vec![Op::Register {
            name: name.clone(),
            endpoint: endpoint.clone(),
        }],
        ChainCommand::Stake { name, amount } => vec![Op::Stake {
            name: name.clone(),
            amount: *amount,
        }],
        ChainCommand::SetWeights { name, row } if commit_reveal => {
            // The salt is recorded with the commit, so replaying the state
            // file gives the same hash.
            vec![Op::Commit {
                name: name.clone(),
                row: parse_row(row)?,
                salt: agora_client::commit_salt(),
            }]
        }
        ChainCommand::SetWeights { name, row } => vec![Op::SetWeights {
            name: name.clone(),
            row: parse_row(row)?,
        }],
        ChainCommand::Epoch {
            max_rows, pages, ..
        } => vec![Op::Epoch {
            max_rows: *max_rows,
            pages: *pages,
        }],
        ChainCommand::Metagraph | ChainCommand::Ranking => {
            let peers = replayed.chain.metagraph(TEXT)?;
            return show(
                peers,
                matches!(args.command, ChainCommand::Ranking),
                args.json,
            );
        }
    };
    for op in ops {
        let line = replayed.apply(&op)?;
        state.ops.push(op);
        println!("{line}");
    }
    // After an epoch, reveal every commit that has come due.
    if matches!(args.command, ChainCommand::Epoch { .. }) && commit_reveal {
        for (name, row, salt) in replayed.unrevealed.clone() {
            let op = Op::Reveal { name, row, salt };
            // A commit not yet due stays for a later epoch.
            if let Ok(line) = replayed.apply(&op) {
                state.ops.push(op);
                println!("{line}");
            }
        }
    }
    save(&args.state, &state)
}

/// Prints the metagraph, or with `ranking` the peers by incentive, best
/// first.
fn show(mut peers: Vec<PeerInfo>, ranking: bool, json: bool) -> Result<(), CliError> {
    if ranking {
        peers.sort_by(|a, b| b.incentive.cmp(&a.incentive).then(a.uid.cmp(&b.uid)));
    }
    if json {
        println!("{}", serde_json::to_string_pretty(&peers)?);
        return Ok(());
    }
    println!(
        "{:>3}  {:>14}  {:>10}  {:>10}  {:>10}  {:>8}  address",
        "uid", "stake", "rank", "incentive", "dividends", "paid"
    );
    for peer in &peers {
        let short = |d: &agora_market::msg::Dec| d.0.round_dp(6).to_string();
        println!(
            "{:>3}  {:>14}  {:>10}  {:>10}  {:>10}  {:>8}  {}",
            peer.uid,
            peer.stake,
            short(&peer.rank),
            short(&peer.incentive),
            short(&peer.dividends),
            peer.last_paid,
            peer.address
        );
    }
    Ok(())
}
