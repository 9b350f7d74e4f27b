//! The market's gas on a real node (wasmd), beside what the VM harness
//! predicts for the same message in the same state (`agora-node-gas`).
//!
//! One story runs twice, in lockstep: on the node (real transactions) and
//! in cosmwasm-vm with the SDK's storage costs (the `agora-gas` harness),
//! every message at the node's block height. `peers` peers register (449
//! by default, so that a row can hold 448 entries), two stake, one sends a
//! row of 64 entries and one of `peers − 1`, then a paged epoch runs. A bank
//! transfer is measured as the node's cost of any transaction.

use agora_client::node::localnet_keys;
use agora_client::{Chain, Network, NodeChain};
use agora_market::msg::{ExecuteMsg, GraphParams, InstantiateMsg, TEXT};
use cosmwasm_std::coins;

use crate::VmMarket;

struct Args {
    rpc: Option<String>,
    peers: usize,
    page_rows: u32,
}

const DENOM: &str = "uagora";
const DEPLOYER: &str = "deployer";

/// One measured message.
pub struct Row {
    pub message: String,
    /// `agora-gas`'s prediction (0: not a contract call).
    pub vm: u64,
    /// The node's `gas_used`.
    pub node: u64,
}

pub type Failure = Box<dyn std::error::Error>;

fn peer_name(index: usize) -> String {
    format!("peer{index:03}")
}

/// A fixed key per peer: the story is the same on every run.
fn peer_key(index: usize) -> Result<k256::ecdsa::SigningKey, Failure> {
    let mut secret = [7u8; 32];
    secret[..8].copy_from_slice(&(index as u64 + 1).to_be_bytes());
    Ok(k256::ecdsa::SigningKey::from_bytes(&secret.into())?)
}

/// Runs the story on the node at `rpc` (default: $AGORA_LOCALNET_RPC, else
/// the localnet's) with `peers` peers and epoch pages of `page_rows` uids.
pub fn measure(rpc: Option<String>, peers: usize, page_rows: u32) -> Result<Vec<Row>, Failure> {
    let args = Args {
        rpc,
        peers,
        page_rows,
    };
    let args = &args;
    if args.peers < 66 {
        return Err("--peers must be at least 66 (a row of 64 entries and a second staker)".into());
    }
    let mut network = Network::localnet();
    if let Some(rpc) = args
        .rpc
        .clone()
        .or_else(|| std::env::var("AGORA_LOCALNET_RPC").ok())
    {
        network.rpc = rpc;
    }
    let mut node = NodeChain::connect(network, None)?;
    for (name, mnemonic) in localnet_keys() {
        node.add_key(name, &agora_client::keyring::derive(mnemonic)?)?;
    }
    let row_len = args.peers - 1;
    let params = GraphParams::builder()
        .emission_per_epoch(10_000_000)
        .unbonding_period(10)
        .max_peers(args.peers as u32 + 1)
        .max_weights_per_row(row_len as u32)
        .peg_ceiling(64)
        .epoch_length(10)
        .build();
    let instantiate = InstantiateMsg {
        denom: DENOM.to_string(),
        admin: None,
        text_params: params,
    };
    let wasm = std::fs::read(crate::artifact_path())?;
    let mut vm = VmMarket::new(&wasm)?;
    let mut rows = Vec::new();

    eprintln!("deploying and funding {} peers", args.peers);
    let (code_id, _) = node.store_code(DEPLOYER, &wasm)?;
    let contract = node.instantiate(DEPLOYER, code_id, &instantiate, "agora-market")?;
    node.set_contract(contract);
    vm.advance(node_height(&node)? - vm.height());
    vm.instantiate(DEPLOYER, &instantiate)?;
    let mut amounts = Vec::new();
    for index in 0..=args.peers {
        let address = node.add_key(&peer_name(index), &peer_key(index)?)?;
        amounts.push((address, 10_000_000_000));
    }
    node.send_many(DEPLOYER, &amounts[..1])?;
    rows.push(Row {
        message: "bank send (any transaction's cost)".into(),
        vm: 0,
        node: last_gas(&node)?,
    });
    node.send_many(DEPLOYER, &amounts[1..])?;

    eprintln!("registering {} peers", args.peers - 1);
    let batch: Vec<(String, ExecuteMsg)> = (0..args.peers - 1)
        .map(|index| (peer_name(index), register()))
        .collect();
    node.execute_all(&batch)?;
    // The VM registers them in the node's uid order, at its heights.
    let addresses: Vec<String> = (0..args.peers - 1)
        .map(|index| node.address(&peer_name(index)))
        .collect::<Result<_, _>>()?;
    for peer in node.metagraph(TEXT)? {
        let index = addresses
            .iter()
            .position(|a| *a == peer.address.as_str())
            .ok_or("a peer the story did not register")?;
        vm.advance(peer.registered_at.saturating_sub(vm.height()));
        vm.execute(&peer_name(index), &register(), &[])?;
    }

    let mut both = |node: &mut NodeChain, name: &str, msg: ExecuteMsg, funds: u128, label: &str| {
        lockstep(node, &mut vm, &mut rows, (name, msg, funds), label)
    };
    let last = peer_name(args.peers - 1);
    both(&mut node, &last, register(), 0, "register")?;
    let stake = ExecuteMsg::Stake { graph: TEXT.into() };
    both(&mut node, &peer_name(0), stake.clone(), 1_000_000, "stake")?;
    both(
        &mut node,
        &peer_name(1),
        stake,
        2_000_000,
        "stake (a second peer)",
    )?;
    let short: Vec<(u16, u16)> = (2..66).map(|uid| (uid, uid)).collect();
    both(
        &mut node,
        &peer_name(0),
        set_weights(short),
        0,
        "set_weights (64 entries)",
    )?;
    let long: Vec<(u16, u16)> = (0..args.peers as u16)
        .filter(|uid| *uid != 1)
        .map(|uid| (uid, uid % 1000 + 1))
        .collect();
    let label = format!("set_weights ({} entries)", long.len());
    both(&mut node, &peer_name(1), set_weights(long), 0, &label)?;

    eprintln!("running a paged epoch, {} uids a page", args.page_rows);
    let due = node.epoch_state(TEXT)?.next_due_block;
    node.wait_for_height(due)?;
    let epoch = ExecuteMsg::Epoch {
        graph: TEXT.into(),
        max_rows: Some(args.page_rows),
    };
    for page in 1.. {
        both(
            &mut node,
            DEPLOYER,
            epoch.clone(),
            0,
            &format!("epoch page {page}"),
        )?;
        if node.epoch_state(TEXT)?.in_progress.is_none() {
            break;
        }
    }
    Ok(rows)
}

/// Sends `msg` from `name` with `funds` on the node, then in the VM at the
/// block the node included it in; records both gases as `label`.
fn lockstep(
    node: &mut NodeChain,
    vm: &mut VmMarket,
    rows: &mut Vec<Row>,
    (name, msg, funds): (&str, ExecuteMsg, u128),
    label: &str,
) -> Result<(), Failure> {
    let funds_vm = if funds == 0 {
        vec![]
    } else {
        coins(funds, DENOM)
    };
    let funds_node: Vec<(u128, &str)> = if funds == 0 {
        vec![]
    } else {
        vec![(funds, DENOM)]
    };
    let included = node.execute_json(name, serde_json::to_vec(&msg)?, &funds_node)?;
    vm.advance(included.height.saturating_sub(vm.height()));
    let call = vm.execute(name, &msg, &funds_vm)?;
    rows.push(Row {
        message: label.to_string(),
        vm: call.gas.total,
        node: included.gas_used,
    });
    Ok(())
}

fn register() -> ExecuteMsg {
    ExecuteMsg::Register {
        graph: TEXT.into(),
        endpoint: "http://127.0.0.1:9000".into(),
    }
}

fn set_weights(weights: Vec<(u16, u16)>) -> ExecuteMsg {
    ExecuteMsg::SetWeights {
        graph: TEXT.into(),
        weights,
    }
}

fn node_height(node: &NodeChain) -> Result<u64, Failure> {
    Ok(node.height()?)
}

fn last_gas(node: &NodeChain) -> Result<u64, Failure> {
    Ok(node.last_tx().ok_or("no transaction yet")?.gas_used)
}
