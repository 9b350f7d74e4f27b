//! Registration, endpoints and weight rows (SPEC §4, §7).

use cosmwasm_std::{Coin, DepsMut, Env, MessageInfo, Order, Response, Storage};
use rust_decimal::Decimal;

use super::{load_graph, load_own_peer};
use crate::ContractError;
use crate::execute::stake::add_claim;
use crate::rows::pack_weights;
use crate::state::{BONDS, CONFIG, GRAPHS, Graph, PEERS, Peer, UIDS, WEIGHTS};

const MAX_ENDPOINT_LEN: usize = 256;

fn validate_endpoint(endpoint: &str) -> Result<(), ContractError> {
    let reason = if endpoint.is_empty() {
        "must not be empty"
    } else if endpoint.len() > MAX_ENDPOINT_LEN {
        "must be at most 256 bytes"
    } else if endpoint
        .chars()
        .any(|c| c.is_whitespace() || c.is_control())
    {
        "must not contain whitespace or control characters"
    } else {
        return Ok(());
    };
    Err(ContractError::InvalidEndpoint {
        reason: reason.to_string(),
    })
}

/// SPEC §7: join a graph for exactly `registration_fee`, pruning the
/// weakest peer out of immunity when the graph is full.
pub fn register(
    deps: DepsMut,
    env: Env,
    info: MessageInfo,
    graph_name: String,
    endpoint: String,
) -> Result<Response, ContractError> {
    validate_endpoint(&endpoint)?;
    let mut graph = load_graph(deps.storage, &graph_name)?;
    if let Some(uid) = UIDS.may_load(deps.storage, (&graph_name, &info.sender))? {
        return Err(ContractError::AlreadyRegistered {
            address: info.sender.to_string(),
            graph: graph_name,
            uid,
        });
    }
    let denom = CONFIG.load(deps.storage)?.denom;
    let fee = graph.params.registration_fee;
    let expected: Vec<Coin> = if fee.is_zero() {
        vec![]
    } else {
        vec![Coin::new(fee, denom.clone())]
    };
    if info.funds != expected {
        return Err(ContractError::WrongFee {
            graph: graph_name,
            fee,
            denom,
        });
    }

    let block = env.block.height;
    let mut response = Response::new();
    let uid = if graph.peers < graph.params.max_peers {
        graph.peers += 1;
        (graph.peers - 1) as u16
    } else {
        let (uid, pruned) = weakest_prunable(deps.storage, &graph_name, &graph, block)?;
        prune(deps.storage, &graph_name, &mut graph, uid, &pruned, block)?;
        response = response
            .add_attribute("pruned_uid", uid.to_string())
            .add_attribute("pruned_address", pruned.address.as_str())
            .add_attribute("pruned_stake", pruned.stake);
        uid
    };
    graph.reward_pool += fee;
    PEERS.save(
        deps.storage,
        (&graph_name, uid),
        &Peer::new(info.sender.clone(), endpoint.clone(), block),
    )?;
    UIDS.save(deps.storage, (&graph_name, &info.sender), &uid)?;
    GRAPHS.save(deps.storage, &graph_name, &graph)?;
    Ok(response
        .add_attribute("action", "register")
        .add_attribute("graph", graph_name)
        .add_attribute("uid", uid.to_string())
        .add_attribute("address", info.sender)
        .add_attribute("endpoint", endpoint)
        .add_attribute("fee", fee))
}

/// The peer with the lowest incentive whose immunity has ended; ties go
/// to the oldest registration, then the lowest uid.
fn weakest_prunable(
    storage: &dyn Storage,
    graph_name: &str,
    graph: &Graph,
    block: u64,
) -> Result<(u16, Peer), ContractError> {
    let mut weakest: Option<(u16, Peer)> = None;
    for item in PEERS
        .prefix(graph_name)
        .range(storage, None, None, Order::Ascending)
    {
        let (uid, peer) = item?;
        if block.saturating_sub(peer.registered_at) < graph.params.immunity_period {
            continue;
        }
        let weaker = match &weakest {
            None => true,
            Some((_, current)) => {
                (peer.incentive, peer.registered_at) < (current.incentive, current.registered_at)
            }
        };
        if weaker {
            weakest = Some((uid, peer));
        }
    }
    weakest.ok_or_else(|| ContractError::GraphFull {
        graph: graph_name.to_string(),
    })
}

/// Frees `uid`: its stake becomes a claim for its owner, its row and bonds
/// go. Other rows' votes and bonds toward the uid are dropped by the epoch
/// (SPEC §3 steps 2 and 7), since the next owner registers later.
fn prune(
    storage: &mut dyn Storage,
    graph_name: &str,
    graph: &mut Graph,
    uid: u16,
    pruned: &Peer,
    block: u64,
) -> Result<(), ContractError> {
    if !pruned.stake.is_zero() {
        graph.total_stake -= pruned.stake;
        add_claim(
            storage,
            &pruned.address,
            pruned.stake,
            block + graph.params.unbonding_period,
        )?;
    }
    UIDS.remove(storage, (graph_name, &pruned.address));
    WEIGHTS.remove(storage, (graph_name, uid));
    BONDS.remove(storage, (graph_name, uid));
    Ok(())
}

pub fn serve(
    deps: DepsMut,
    info: MessageInfo,
    graph_name: String,
    endpoint: String,
) -> Result<Response, ContractError> {
    cw_utils::nonpayable(&info)?;
    validate_endpoint(&endpoint)?;
    load_graph(deps.storage, &graph_name)?;
    let (uid, mut peer) = load_own_peer(deps.storage, &graph_name, &info.sender)?;
    peer.endpoint = endpoint.clone();
    PEERS.save(deps.storage, (&graph_name, uid), &peer)?;
    Ok(Response::new()
        .add_attribute("action", "serve")
        .add_attribute("graph", graph_name)
        .add_attribute("uid", uid.to_string())
        .add_attribute("endpoint", endpoint))
}

/// SPEC §4: every check, then the row replaces the sender's previous one.
pub fn set_weights(
    deps: DepsMut,
    env: Env,
    info: MessageInfo,
    graph_name: String,
    mut weights: Vec<(u16, u16)>,
) -> Result<Response, ContractError> {
    cw_utils::nonpayable(&info)?;
    let graph = load_graph(deps.storage, &graph_name)?;
    let (own_uid, mut peer) = load_own_peer(deps.storage, &graph_name, &info.sender)?;
    check_row(&graph_name, &graph, own_uid, &mut weights)?;
    let block = env.block.height;
    if let Some(last) = peer.last_update {
        let next_allowed = last.saturating_add(graph.params.weights_rate_limit);
        if block < next_allowed {
            return Err(ContractError::RateLimited { next_allowed });
        }
    }
    WEIGHTS.save(
        deps.storage,
        (&graph_name, own_uid),
        &pack_weights(&weights),
    )?;
    peer.last_update = Some(block);
    PEERS.save(deps.storage, (&graph_name, own_uid), &peer)?;
    Ok(Response::new()
        .add_attribute("action", "set_weights")
        .add_attribute("graph", graph_name)
        .add_attribute("uid", own_uid.to_string())
        .add_attribute("entries", weights.len().to_string()))
}

/// Validates a row and sorts it by uid (the mechanism's order).
fn check_row(
    graph_name: &str,
    graph: &Graph,
    own_uid: u16,
    weights: &mut [(u16, u16)],
) -> Result<(), ContractError> {
    weights.sort_unstable_by_key(|(uid, _)| *uid);
    for pair in weights.windows(2) {
        if pair[0].0 == pair[1].0 {
            return Err(ContractError::DuplicateUid { uid: pair[0].0 });
        }
    }
    for (uid, value) in weights.iter() {
        if u32::from(*uid) >= graph.peers {
            return Err(ContractError::UnknownUid {
                graph: graph_name.to_string(),
                uid: *uid,
            });
        }
        if *uid == own_uid {
            return Err(ContractError::SelfWeight { uid: *uid });
        }
        if *value == 0 {
            return Err(ContractError::ZeroWeight { uid: *uid });
        }
    }
    let others = graph.peers.saturating_sub(1);
    let min = graph.k.min(others) as usize;
    if weights.len() < min {
        return Err(ContractError::TooFewWeights {
            got: weights.len(),
            min,
            k: graph.k,
        });
    }
    if weights.len() > graph.params.max_weights_per_row as usize {
        return Err(ContractError::TooManyWeights {
            got: weights.len(),
            max: graph.params.max_weights_per_row,
        });
    }
    // The cap binds only when the graph has enough other peers to spread a
    // row under it: limit · (peers − 1) ≥ 1.
    let limit = graph.params.max_weight_limit.0;
    if limit * Decimal::from(others) >= Decimal::ONE {
        let sum: u64 = weights.iter().map(|(_, v)| u64::from(*v)).sum();
        let sum = Decimal::from(sum);
        if let Some((uid, value)) = weights
            .iter()
            .find(|(_, value)| Decimal::from(*value) > limit * sum)
        {
            return Err(ContractError::MaxWeightExceeded {
                uid: *uid,
                weight: (Decimal::from(*value) / sum).normalize().to_string(),
                limit: limit.normalize().to_string(),
            });
        }
    }
    Ok(())
}
