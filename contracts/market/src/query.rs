//! Every query: everything stored can be read, and lists are paged.

use cosmwasm_std::{Deps, Order, StdResult, Uint128};
use cw_storage_plus::Bound;

use crate::ContractError;
use crate::execute::commit::{expired, reveal_at};
use crate::execute::{load_graph, load_own_peer};
use crate::msg::{
    BondsResponse, ClaimInfo, ClaimsResponse, CommitInfo, CommitsResponse, ConfigResponse,
    EpochProgress, EpochStateResponse, GraphParams, GraphsResponse, MetagraphResponse, PeerInfo,
    TotalsResponse, WeightsResponse,
};
use crate::state::Phase;
use crate::state::{
    Account, CLAIMS, COMMITS, CONFIG, GRAPHS, Graph, LEDGER_CHUNK, PEERS, Peer, RESULTS_CHUNK,
    Results, TOTAL_CLAIMS, load_account, load_finished_results, load_ledger, load_pending,
    load_registry_for, load_row,
};
use agora_mechanism::{Decimal, sigmoid};

const DEFAULT_LIMIT: u32 = 30;
const MAX_LIMIT: u32 = 256;

fn page_size(limit: Option<u32>) -> usize {
    limit.unwrap_or(DEFAULT_LIMIT).min(MAX_LIMIT) as usize
}

/// A peer as queries show it: its live stake and the last finished epoch's
/// results. Consensus is `σ(ρ (t − κ))` of the stored trust, with that
/// epoch's ρ and κ.
fn info(
    graph: &Graph,
    (uid, peer): (u16, Peer),
    account: &Account,
    results: Option<Results>,
) -> PeerInfo {
    let (rho, kappa) = graph.last_rho_kappa;
    let trust = results.as_ref().map_or(Decimal::ZERO, |r| r.trust);
    PeerInfo {
        uid,
        address: peer.address,
        endpoint: peer.endpoint,
        stake: Uint128::new(account.stake),
        rank: results.as_ref().map_or(Decimal::ZERO, |r| r.rank).into(),
        trust: trust.into(),
        consensus: results
            .as_ref()
            .map_or(Decimal::ZERO, |_| sigmoid(rho * (trust - kappa)))
            .into(),
        incentive: results
            .as_ref()
            .map_or(Decimal::ZERO, |r| r.incentive)
            .into(),
        dividends: results
            .as_ref()
            .map_or(Decimal::ZERO, |r| r.dividends)
            .into(),
        median: results
            .as_ref()
            .and_then(|r| r.median)
            .map(|m| m.median.into()),
        vtrust: results
            .as_ref()
            .and_then(|r| r.median)
            .map(|m| m.vtrust.into()),
        last_paid: Uint128::new(results.as_ref().map_or(0, |r| r.paid)),
        results_epoch: results.and(graph.epoch.checked_sub(1)),
        registered_at: peer.registered_at,
        last_update: peer.last_update,
    }
}

fn load_peer(deps: Deps, graph: &str, uid: u16) -> Result<(Graph, Peer), ContractError> {
    let state = load_graph(deps.storage, graph)?;
    let peer =
        PEERS
            .may_load(deps.storage, (graph, uid))?
            .ok_or_else(|| ContractError::UnknownUid {
                graph: graph.to_string(),
                uid,
            })?;
    Ok((state, peer))
}

/// Peers in uid order with their accounts, reading each ledger chunk once.
fn peers_with_accounts(
    deps: Deps,
    graph_name: &str,
    graph: &Graph,
    start_after: Option<u16>,
    limit: usize,
) -> Result<Vec<PeerInfo>, ContractError> {
    let mut chunk: Option<(u16, Vec<Account>, Vec<Option<Results>>)> = None;
    let mut peers = Vec::new();
    for item in PEERS
        .prefix(graph_name)
        .range(
            deps.storage,
            start_after.map(Bound::exclusive),
            None,
            Order::Ascending,
        )
        .take(limit)
    {
        let (uid, peer) = item?;
        // Results are grouped like accounts: one chunk index for both.
        let index = uid / LEDGER_CHUNK;
        if chunk.as_ref().is_none_or(|(loaded, _, _)| *loaded != index) {
            chunk = Some((
                index,
                load_ledger(deps.storage, graph_name, index)?,
                load_finished_results(deps.storage, graph_name, graph, index)?,
            ));
        }
        let (_, accounts, results) = chunk.as_ref().expect("loaded above");
        let offset = usize::from(uid % LEDGER_CHUNK);
        let account = accounts.get(offset).cloned().unwrap_or_default();
        let results = results.get(offset).cloned().flatten();
        peers.push(info(graph, (uid, peer), &account, results));
    }
    Ok(peers)
}

pub fn config(deps: Deps) -> StdResult<ConfigResponse> {
    let config = CONFIG.load(deps.storage)?;
    Ok(ConfigResponse {
        denom: config.denom,
        admin: config.admin,
        pending_admin: config.pending_admin,
    })
}

pub fn graphs(
    deps: Deps,
    start_after: Option<String>,
    limit: Option<u32>,
) -> StdResult<GraphsResponse> {
    let start = start_after.as_deref().map(Bound::exclusive);
    let graphs = GRAPHS
        .keys(deps.storage, start, None, Order::Ascending)
        .take(page_size(limit))
        .collect::<StdResult<_>>()?;
    Ok(GraphsResponse { graphs })
}

pub fn params(deps: Deps, graph: String) -> Result<GraphParams, ContractError> {
    Ok(load_graph(deps.storage, &graph)?.params)
}

pub fn peer(deps: Deps, graph: String, uid: u16) -> Result<PeerInfo, ContractError> {
    let (state, peer) = load_peer(deps, &graph, uid)?;
    let account = load_account(deps.storage, &graph, uid)?;
    let results = finished_results(deps, &graph, &state, uid)?;
    Ok(info(&state, (uid, peer), &account, results))
}

/// One uid's results from the last finished epoch.
fn finished_results(
    deps: Deps,
    graph_name: &str,
    graph: &Graph,
    uid: u16,
) -> Result<Option<Results>, ContractError> {
    let mut chunk = load_finished_results(deps.storage, graph_name, graph, uid / RESULTS_CHUNK)?;
    let index = usize::from(uid % RESULTS_CHUNK);
    Ok(if index < chunk.len() {
        chunk.swap_remove(index)
    } else {
        None
    })
}

pub fn peer_by_address(
    deps: Deps,
    graph: String,
    address: String,
) -> Result<PeerInfo, ContractError> {
    let address = deps.api.addr_validate(&address)?;
    let state = load_graph(deps.storage, &graph)?;
    let (uid, peer) = load_own_peer(deps.storage, &graph, &address)?;
    let account = load_account(deps.storage, &graph, uid)?;
    let results = finished_results(deps, &graph, &state, uid)?;
    Ok(info(&state, (uid, peer), &account, results))
}

pub fn metagraph(
    deps: Deps,
    graph: String,
    start_after: Option<u16>,
    limit: Option<u32>,
) -> Result<MetagraphResponse, ContractError> {
    let state = load_graph(deps.storage, &graph)?;
    let peers = peers_with_accounts(deps, &graph, &state, start_after, page_size(limit))?;
    Ok(MetagraphResponse { peers })
}

/// Peers by incentive: the order is taken from the packed results alone
/// (32 uids a key), and only the peers shown are read in full, so the query
/// stays within a query's gas at `max_peers`.
pub fn ranking(
    deps: Deps,
    graph: String,
    limit: Option<u32>,
) -> Result<MetagraphResponse, ContractError> {
    let state = load_graph(deps.storage, &graph)?;
    let mut order: Vec<(Decimal, u16, Option<Results>)> = Vec::new();
    for chunk in 0..state.peers.div_ceil(u32::from(RESULTS_CHUNK)) {
        let chunk = chunk as u16;
        let results = load_finished_results(deps.storage, &graph, &state, chunk)?;
        let first = chunk * RESULTS_CHUNK;
        let uids = first..(first + RESULTS_CHUNK).min(state.peers as u16);
        for (offset, uid) in uids.enumerate() {
            let results = results.get(offset).cloned().flatten();
            let incentive = results.as_ref().map_or(Decimal::ZERO, |r| r.incentive);
            order.push((incentive, uid, results));
        }
    }
    order.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    order.truncate(page_size(limit));
    let mut ledger: Option<(u16, Vec<Account>)> = None;
    let mut peers = Vec::with_capacity(order.len());
    for (_, uid, results) in order {
        let chunk = uid / LEDGER_CHUNK;
        if ledger.as_ref().is_none_or(|(loaded, _)| *loaded != chunk) {
            ledger = Some((chunk, load_ledger(deps.storage, &graph, chunk)?));
        }
        let account = ledger
            .as_ref()
            .and_then(|(_, accounts)| accounts.get(usize::from(uid % LEDGER_CHUNK)).cloned())
            .unwrap_or_default();
        let peer = PEERS.load(deps.storage, (&graph, uid))?;
        peers.push(info(&state, (uid, peer), &account, results));
    }
    Ok(MetagraphResponse { peers })
}

pub fn weights(deps: Deps, graph: String, uid: u16) -> Result<WeightsResponse, ContractError> {
    load_peer(deps, &graph, uid)?;
    let row = load_row(deps.storage, &graph, uid)?.unwrap_or_default();
    let pending = load_pending(deps.storage, &graph, uid)?;
    Ok(WeightsResponse {
        uid,
        last_update: (!row.weights.is_empty()).then_some(row.last_update),
        weights: row.weights,
        pending: pending.map(|row| row.weights),
    })
}

/// The bond values `b_ij` after the last finished epoch, evaluated from
/// their factored form.
pub fn bonds(deps: Deps, graph: String, uid: u16) -> Result<BondsResponse, ContractError> {
    let (state, _) = load_peer(deps, &graph, uid)?;
    let account = load_account(deps.storage, &graph, uid)?;
    let row = load_row(deps.storage, &graph, uid)?.unwrap_or_default();
    let targets = row
        .weights
        .iter()
        .map(|(j, _)| *j)
        .chain(row.base.iter().map(|(j, _)| *j));
    let registered = load_registry_for(deps.storage, &graph, state.peers, targets)?;
    let bonds = row
        .bonds(&account)
        .values(row.last_update, &row.weights, &registered);
    Ok(BondsResponse {
        uid,
        bonds: bonds
            .into_iter()
            .map(|(uid, bond)| (uid, bond.into()))
            .collect(),
    })
}

pub fn epoch_state(deps: Deps, graph: String) -> Result<EpochStateResponse, ContractError> {
    let state = load_graph(deps.storage, &graph)?;
    Ok(EpochStateResponse {
        epoch: state.epoch,
        last_epoch_block: state.last_epoch_block,
        next_due_block: state.next_due_block(),
        k: state.k,
        last_loss: state.last_loss.into(),
        last_emitted: state.last_emitted,
        peers: u16::try_from(state.peers).unwrap_or(u16::MAX),
        total_stake: state.total_stake,
        reward_pool: state.reward_pool,
        in_progress: state.run.map(|run| EpochProgress {
            block: run.block,
            phase: match run.phase {
                Phase::Absorb => "absorb",
                Phase::Pay => "pay",
            }
            .to_string(),
            next_uid: run.next_uid,
            peers: run.peers,
            pages: run.pages,
        }),
        graph,
    })
}

/// Hashes and windows only: the rows stay secret until revealed.
pub fn commits(deps: Deps, graph: String, uid: u16) -> Result<CommitsResponse, ContractError> {
    let (state, _) = load_peer(deps, &graph, uid)?;
    let commits = COMMITS
        .may_load(deps.storage, (&graph, uid))?
        .unwrap_or_default()
        .into_iter()
        .map(|commit| CommitInfo {
            reveal_at_epoch: reveal_at(&state, &commit),
            expired: expired(&state, &commit),
            hash: commit.hash,
            committed_at_epoch: commit.epoch,
        })
        .collect();
    Ok(CommitsResponse { uid, commits })
}

pub fn claims(deps: Deps, address: String) -> StdResult<ClaimsResponse> {
    let address = deps.api.addr_validate(&address)?;
    let claims = CLAIMS
        .prefix(&address)
        .range(deps.storage, None, None, Order::Ascending)
        .map(|item| item.map(|(release_at, amount)| ClaimInfo { amount, release_at }))
        .collect::<StdResult<_>>()?;
    Ok(ClaimsResponse { claims })
}

pub fn totals(deps: Deps) -> StdResult<TotalsResponse> {
    let mut bonded = Uint128::zero();
    let mut reward_pools = Uint128::zero();
    for item in GRAPHS.range(deps.storage, None, None, Order::Ascending) {
        let (_, graph) = item?;
        bonded += graph.total_stake;
        reward_pools += graph.reward_pool;
    }
    Ok(TotalsResponse {
        bonded,
        claims: TOTAL_CLAIMS.may_load(deps.storage)?.unwrap_or_default(),
        reward_pools,
    })
}
