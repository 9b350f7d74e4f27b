//! Registration, endpoints and weight rows (docs/SPEC.md §4, §7).

use cosmwasm_std::{
    Coin, DepsMut, Env, MessageInfo, Response, StdError, StdResult, Storage, Uint128,
};
use rust_decimal::Decimal;

use agora_mechanism::visible_vote_sum;

use super::{load_graph, load_own_peer, own_uid};
use crate::ContractError;
use crate::execute::stake::add_claim;
use crate::state::{
    AccountSlot, COMMITS, CONFIG, GRAPHS, Graph, LEDGER_CHUNK, PEERS, PENDING_ROWS, Peer, RESULTS,
    RESULTS_CHUNK, ROWS, RowRecord, UIDS, decode_results, encode_results, load_finished_results,
    load_ledger, load_pending, load_registry, load_registry_for, load_row, results_slot,
    set_registered, update_account,
};

const MAX_ENDPOINT_LEN: usize = 256;

fn validate_endpoint(endpoint: &str) -> Result<(), ContractError> {
    let reason = if endpoint.is_empty() {
        "must not be empty"
    } else if endpoint.len() > MAX_ENDPOINT_LEN {
        "must be at most 256 bytes"
    } else if !endpoint.bytes().all(|b| b.is_ascii_graphic()) {
        // A URI is ASCII (RFC 3986; other characters are percent-encoded):
        // no whitespace, control or bidirectional-override characters can
        // make one endpoint display as another.
        "must be printable ASCII without spaces (percent-encode anything else)"
    } else {
        return Ok(());
    };
    Err(ContractError::InvalidEndpoint {
        reason: reason.to_string(),
    })
}

/// docs/SPEC.md §7: join a graph for exactly `registration_fee`, pruning the
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
        if graph.run.is_some() {
            return Err(ContractError::EpochInProgress {
                graph: graph_name,
                action: "registration into a full graph",
            });
        }
        let (uid, pruned) = weakest_prunable(deps.storage, &graph_name, &graph, block)?;
        let stake = prune(deps.storage, &graph_name, &mut graph, uid, &pruned, block)?;
        response = response
            .add_attribute("pruned_uid", uid.to_string())
            .add_attribute("pruned_address", pruned.address.as_str())
            .add_attribute("pruned_stake", stake.to_string());
        uid
    };
    graph.fund(fee)?;
    PEERS.save(
        deps.storage,
        (&graph_name, uid),
        &Peer {
            address: info.sender.clone(),
            endpoint: endpoint.clone(),
            registered_at: block,
            last_update: None,
        },
    )?;
    // No account is written: a missing one is empty, and `prune` reset
    // a recycled uid's.
    set_registered(deps.storage, &graph_name, uid, block)?;
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

/// The peer to prune (docs/SPEC.md §7): among peers whose immunity has
/// ended, an unstaked one before any staked one, then the one the last
/// finished epoch paid least, then the oldest registration, then the lowest
/// uid. A validator earns dividends, not incentive, so ranking by incentive
/// alone would evict the biggest validators first; what a peer was paid
/// counts both. Reads only packed chunks: registration heights, ledger and
/// results, 32 to 64 uids a key.
fn weakest_prunable(
    storage: &dyn Storage,
    graph_name: &str,
    graph: &Graph,
    block: u64,
) -> Result<(u16, Peer), ContractError> {
    let registered = load_registry(storage, graph_name, graph.peers)?;
    let mut weakest: Option<((bool, u128, u64), u16)> = None;
    let mut accounts = Vec::new();
    let mut results = Vec::new();
    for (uid, registered_at) in registered.into_iter().enumerate() {
        let uid = uid as u16;
        if uid.is_multiple_of(LEDGER_CHUNK) {
            accounts = load_ledger(storage, graph_name, uid / LEDGER_CHUNK)?;
        }
        if uid.is_multiple_of(RESULTS_CHUNK) {
            results = load_finished_results(storage, graph_name, graph, uid / RESULTS_CHUNK)?;
        }
        if block.saturating_sub(registered_at) < graph.params.immunity_period {
            continue;
        }
        let staked = accounts
            .get(usize::from(uid % LEDGER_CHUNK))
            .is_some_and(|account| account.stake > 0);
        let paid = results
            .get(usize::from(uid % RESULTS_CHUNK))
            .and_then(Option::as_ref)
            .map_or(0, |results| results.paid);
        let key = (staked, paid, registered_at);
        if weakest.as_ref().is_none_or(|(weakest, _)| key < *weakest) {
            weakest = Some((key, uid));
        }
    }
    let (_, uid) = weakest.ok_or_else(|| ContractError::GraphFull {
        graph: graph_name.to_string(),
    })?;
    Ok((uid, PEERS.load(storage, (graph_name, uid))?))
}

/// Frees `uid`: its stake becomes a claim for its owner, its row, bonds
/// and results go. Other rows' votes and bonds toward the uid are dropped
/// by the epoch (docs/SPEC.md §3 steps 2 and 7), since the next owner registers
/// later. Returns the stake moved into the claim.
fn prune(
    storage: &mut dyn Storage,
    graph_name: &str,
    graph: &mut Graph,
    uid: u16,
    pruned: &Peer,
    block: u64,
) -> Result<Uint128, ContractError> {
    let old = update_account(storage, graph_name, uid, |account| {
        Ok::<_, ContractError>(std::mem::take(account))
    })?;
    let stake = Uint128::new(old.stake);
    if !stake.is_zero() {
        graph.total_stake -= stake;
        add_claim(
            storage,
            &pruned.address,
            stake,
            graph.release_height(block)?,
        )?;
    }
    UIDS.remove(storage, (graph_name, &pruned.address));
    if old.has_row {
        ROWS.remove(storage, (graph_name, uid));
    }
    COMMITS.remove(storage, (graph_name, uid));
    // The last epoch's results belonged to the pruned peer, not the next.
    if let Some(last) = graph.epoch.checked_sub(1) {
        let key = (graph_name, results_slot(last), uid / RESULTS_CHUNK);
        if let Some(bytes) = RESULTS.may_load(storage, key)? {
            let mut entries = decode_results(&bytes)?;
            if let Some(entry) = entries.get_mut(usize::from(uid % RESULTS_CHUNK)) {
                *entry = None;
                RESULTS.save(storage, key, &encode_results(&entries))?;
            }
        }
    }
    Ok(stake)
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

/// docs/SPEC.md §4: every check, then the row replaces the sender's previous one.
pub fn set_weights(
    deps: DepsMut,
    env: Env,
    info: MessageInfo,
    graph_name: String,
    weights: Vec<(u16, u16)>,
) -> Result<Response, ContractError> {
    cw_utils::nonpayable(&info)?;
    let graph = load_graph(deps.storage, &graph_name)?;
    if graph.params.commit_reveal {
        return Err(ContractError::CommitRevealRequired { graph: graph_name });
    }
    let own_uid = own_uid(deps.storage, &graph_name, &info.sender)?;
    apply_row(
        deps,
        &env,
        (&graph_name, &graph),
        own_uid,
        weights,
        "set_weights",
    )
}

/// Every check of docs/SPEC.md §4, then `weights` becomes `own_uid`'s row: at once,
/// or, if the running epoch still reads the old row, when it pays that uid.
/// Shared by `set_weights` and `reveal_weights`.
/// `action` names the message in the event.
pub(crate) fn apply_row(
    deps: DepsMut,
    env: &Env,
    (graph_name, graph): (&str, &Graph),
    own_uid: u16,
    mut weights: Vec<(u16, u16)>,
    action: &str,
) -> Result<Response, ContractError> {
    let graph_name = graph_name.to_string();
    check_row(&graph_name, graph, own_uid, &mut weights)?;
    let block = env.block.height;
    let mut slot = AccountSlot::load(deps.storage, &graph_name, own_uid)?;
    let account = slot.account();
    let row = if account.has_row {
        load_row(deps.storage, &graph_name, own_uid)?
    } else {
        None
    };
    let pending = if account.has_pending {
        load_pending(deps.storage, &graph_name, own_uid)?
    } else {
        None
    };
    if let Some(last) = pending.as_ref().or(row.as_ref()).map(|r| r.last_update) {
        let next_allowed = last.saturating_add(graph.params.weights_rate_limit);
        if block < next_allowed {
            return Err(ContractError::RateLimited { next_allowed });
        }
    }
    let new_row = RowRecord {
        last_update: block,
        weights,
        ..RowRecord::default()
    };
    let entries = new_row.weights.len();
    PEERS.update(
        deps.storage,
        (&graph_name, own_uid),
        |peer| -> StdResult<_> {
            let mut peer = peer.ok_or_else(|| StdError::msg("registered peer without a record"))?;
            peer.last_update = Some(block);
            Ok(peer)
        },
    )?;
    if graph.epoch_still_needs(own_uid) {
        // The running epoch still reads the old row: this one waits until
        // the epoch pays this uid (`execute::epoch`).
        PENDING_ROWS.save(deps.storage, (&graph_name, own_uid), &new_row.encode())?;
        if !account.has_pending {
            account.has_pending = true;
            slot.save(deps.storage, &graph_name)?;
        }
    } else {
        install_row(deps.storage, &graph_name, graph, &mut slot, row, new_row)?;
    }
    Ok(Response::new()
        .add_attribute("action", action)
        .add_attribute("graph", graph_name)
        .add_attribute("uid", own_uid.to_string())
        .add_attribute("entries", entries.to_string())
        .add_attribute("pending", graph.epoch_still_needs(own_uid).to_string()))
}

/// Makes `new_row` the row of `slot`'s uid now, replacing `old`: the bonds
/// are rebased on their current values (docs/SPEC.md §3c), so the epoch
/// then moves only two scalars. Shared by `set_weights` and by an aborted
/// epoch's pending rows.
pub(crate) fn install_row(
    storage: &mut dyn Storage,
    graph_name: &str,
    graph: &Graph,
    slot: &mut AccountSlot,
    old: Option<RowRecord>,
    mut new_row: RowRecord,
) -> StdResult<()> {
    let account = slot.account();
    let old = old.unwrap_or_default();
    let targets = old
        .weights
        .iter()
        .map(|(uid, _)| *uid)
        .chain(old.base.iter().map(|(uid, _)| *uid))
        .chain(new_row.weights.iter().map(|(uid, _)| *uid));
    let registered = load_registry_for(storage, graph_name, graph.peers, targets)?;
    let last_epoch_block = graph
        .run
        .as_ref()
        .map_or(graph.last_epoch_block, |run| run.block);
    let bonds = old.bonds(account).rebase(
        old.last_update,
        &old.weights,
        &registered,
        last_epoch_block,
        visible_vote_sum(new_row.last_update, &new_row.weights, &registered),
        graph.params.max_weights_per_row as usize,
    );
    account.bond_scale = bonds.scale;
    account.bond_accum = bonds.accum;
    account.has_row = true;
    new_row.set_bonds(bonds);
    ROWS.save(storage, (graph_name, slot.uid()), &new_row.encode())?;
    slot.save(storage, graph_name)
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
