//! `agora chain --network NAME …`: the same subcommands against a node.
//! Each message is a transaction signed by the named key (`agora keys`, or
//! on the localnet its test keys). Commits wait for their reveal in
//! `$AGORA_HOME/commits/NETWORK.json` (salt included), and `epoch` reveals
//! every one that has come due, as on the embedded chain.

use agora_client::{Chain, NodeChain};
use agora_market::execute::commit::commit_hash;
use agora_market::msg::{ExecuteMsg, GraphParams, TEXT};
use serde::{Deserialize, Serialize};

use super::{ChainArgs, ChainCommand, parse_row, show};
use crate::error::CliError;
use crate::network::{self, agora_home, write_atomically};

/// A commit not yet revealed.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct Pending {
    contract: String,
    /// Files written before graphs were named here hold TEXT commits.
    #[serde(default = "text_graph")]
    graph: String,
    name: String,
    row: Vec<(u16, u16)>,
    /// Hex.
    salt: String,
}

fn text_graph() -> String {
    TEXT.to_string()
}

fn pending_path(network: &str) -> Result<std::path::PathBuf, CliError> {
    Ok(agora_home()?
        .join("commits")
        .join(format!("{network}.json")))
}

fn load_pending(network: &str) -> Result<Vec<Pending>, CliError> {
    let path = pending_path(network)?;
    if !path.exists() {
        return Ok(Vec::new());
    }
    let text = std::fs::read_to_string(&path).map_err(CliError::unreadable(path.display()))?;
    serde_json::from_str(&text)
        .map_err(|e| CliError::Invalid(format!("{} is damaged: {e}", path.display())))
}

fn save_pending(network: &str, pending: &[Pending]) -> Result<(), CliError> {
    write_atomically(
        &pending_path(network)?,
        &serde_json::to_string_pretty(pending)?,
    )
}

fn uid_of(chain: &NodeChain, graph: &str, name: &str) -> Result<u16, CliError> {
    let address = chain.address(name)?;
    chain
        .metagraph(graph)?
        .iter()
        .find(|peer| peer.address.as_str() == address)
        .map(|peer| peer.uid)
        .ok_or_else(|| CliError::Invalid(format!("{name} is not registered in {graph}")))
}

pub(super) fn run(args: &ChainArgs, network: &str) -> Result<(), CliError> {
    let mut chain = network::connect(&args.network, network)?;
    let contract = chain.contract().map(str::to_string).ok_or_else(|| {
        CliError::Invalid(format!(
            "no market recorded for {network}: run `agora deploy --network {network}` first"
        ))
    })?;
    let graph = args.graph.as_str();
    match &args.command {
        ChainCommand::Init { .. } => Err(CliError::Invalid(format!(
            "init is for the embedded chain; on {network} start a market with `agora deploy --network {network}`"
        ))),
        ChainCommand::Register { name, endpoint } => {
            network::sign_as(&mut chain, name)?;
            let uid = chain.register(name, graph, endpoint, 0)?;
            println!("{name} registered as uid {uid}");
            Ok(())
        }
        ChainCommand::Stake { name, amount } => {
            network::sign_as(&mut chain, name)?;
            chain.stake(name, graph, *amount)?;
            println!("{name} staked {amount}");
            Ok(())
        }
        ChainCommand::SetWeights { name, row } => {
            let row = parse_row(row)?;
            network::sign_as(&mut chain, name)?;
            if !chain.params(graph)?.commit_reveal {
                chain.set_weights(name, graph, &row)?;
                println!("{name} set {} weights", row.len());
                return Ok(());
            }
            let salt = agora_client::commit_salt();
            let uid = uid_of(&chain, graph, name)?;
            // Saved before the commit is sent: a crash between the two
            // leaves a salt too many, never a commit that cannot be revealed.
            let mut pending = load_pending(network)?;
            pending.push(Pending {
                contract: contract.clone(),
                graph: graph.to_string(),
                name: name.clone(),
                row: row.clone(),
                salt: hex::encode(&salt),
            });
            save_pending(network, &pending)?;
            chain.commit_weights(name, graph, commit_hash(uid, &row, &salt))?;
            println!("{name} committed {} weights", row.len());
            Ok(())
        }
        ChainCommand::Epoch {
            max_rows,
            pages,
            key,
        } => {
            network::sign_as(&mut chain, key)?;
            chain.advance_to_due(graph)?;
            println!(
                "{}",
                super::run_epoch(&mut chain, key, graph, *max_rows, *pages)?
            );
            reveal_due(&mut chain, network, &contract)
        }
        ChainCommand::AddGraph { name, params, key } => {
            let params: GraphParams = match params {
                Some(path) => {
                    let text = std::fs::read_to_string(path)
                        .map_err(CliError::unreadable(path.display()))?;
                    serde_json::from_str(&text).map_err(|e| {
                        CliError::Invalid(format!("{} is not GraphParams: {e}", path.display()))
                    })?
                }
                None => GraphParams::builder().build(),
            };
            network::sign_as(&mut chain, key)?;
            chain.execute_market(
                key,
                &ExecuteMsg::AddGraph {
                    modality: name.clone(),
                    params,
                },
                0,
            )?;
            println!("added graph {name}");
            Ok(())
        }
        ChainCommand::Metagraph | ChainCommand::Ranking => {
            let peers = chain.metagraph(graph)?;
            show(
                peers,
                matches!(args.command, ChainCommand::Ranking),
                args.json,
            )
        }
    }
}

/// Reveals every pending commit of `contract` the contract takes now; a
/// commit not yet due stays for a later epoch.
fn reveal_due(chain: &mut NodeChain, network: &str, contract: &str) -> Result<(), CliError> {
    let mut kept = Vec::new();
    for commit in load_pending(network)? {
        if commit.contract != contract {
            // A market since replaced (the localnet restarted): drop it.
            continue;
        }
        let salt = hex::decode(&commit.salt)
            .map_err(|e| CliError::Invalid(format!("a pending salt is not hex: {e}")))?;
        network::sign_as(chain, &commit.name)?;
        match chain.reveal_weights(&commit.name, &commit.graph, &commit.row, &salt) {
            Ok(()) => println!("{} revealed {} weights", commit.name, commit.row.len()),
            Err(agora_client::ChainError::Refused(_)) => kept.push(commit),
            Err(other) => return Err(other.into()),
        }
    }
    save_pending(network, &kept)
}
