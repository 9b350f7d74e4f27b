//! Every query: everything stored can be read, and lists are paged.

use cosmwasm_std::{Deps, Order, StdResult, Uint128};
use cw_storage_plus::Bound;

use crate::ContractError;
use crate::execute::{load_graph, load_own_peer};
use crate::msg::{
    BondsResponse, ClaimInfo, ClaimsResponse, ConfigResponse, EpochStateResponse, GraphParams,
    GraphsResponse, MetagraphResponse, PeerInfo, TotalsResponse, WeightsResponse,
};
use crate::rows::{unpack_bonds, unpack_weights};
use crate::state::{BONDS, CLAIMS, CONFIG, GRAPHS, PEERS, Peer, TOTAL_CLAIMS, WEIGHTS};

const DEFAULT_LIMIT: u32 = 30;
const MAX_LIMIT: u32 = 256;

fn page_size(limit: Option<u32>) -> usize {
    limit.unwrap_or(DEFAULT_LIMIT).min(MAX_LIMIT) as usize
}

fn info(uid: u16, peer: Peer) -> PeerInfo {
    PeerInfo {
        uid,
        address: peer.address,
        endpoint: peer.endpoint,
        stake: peer.stake,
        rank: peer.rank.into(),
        trust: peer.trust.into(),
        consensus: peer.consensus.into(),
        incentive: peer.incentive.into(),
        dividends: peer.dividends.into(),
        last_paid: peer.last_paid,
        registered_at: peer.registered_at,
        last_update: peer.last_update,
    }
}

fn load_peer(deps: Deps, graph: &str, uid: u16) -> Result<Peer, ContractError> {
    load_graph(deps.storage, graph)?;
    PEERS
        .may_load(deps.storage, (graph, uid))?
        .ok_or_else(|| ContractError::UnknownUid {
            graph: graph.to_string(),
            uid,
        })
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
    Ok(info(uid, load_peer(deps, &graph, uid)?))
}

pub fn peer_by_address(
    deps: Deps,
    graph: String,
    address: String,
) -> Result<PeerInfo, ContractError> {
    let address = deps.api.addr_validate(&address)?;
    load_graph(deps.storage, &graph)?;
    let (uid, peer) = load_own_peer(deps.storage, &graph, &address)?;
    Ok(info(uid, peer))
}

pub fn metagraph(
    deps: Deps,
    graph: String,
    start_after: Option<u16>,
    limit: Option<u32>,
) -> Result<MetagraphResponse, ContractError> {
    load_graph(deps.storage, &graph)?;
    let peers = PEERS
        .prefix(&graph)
        .range(
            deps.storage,
            start_after.map(Bound::exclusive),
            None,
            Order::Ascending,
        )
        .take(page_size(limit))
        .map(|item| item.map(|(uid, peer)| info(uid, peer)))
        .collect::<StdResult<_>>()?;
    Ok(MetagraphResponse { peers })
}

/// Every peer of the graph is read and sorted: O(peers) per query.
pub fn ranking(
    deps: Deps,
    graph: String,
    limit: Option<u32>,
) -> Result<MetagraphResponse, ContractError> {
    load_graph(deps.storage, &graph)?;
    let mut peers: Vec<PeerInfo> = PEERS
        .prefix(&graph)
        .range(deps.storage, None, None, Order::Ascending)
        .map(|item| item.map(|(uid, peer)| info(uid, peer)))
        .collect::<StdResult<_>>()?;
    peers.sort_by(|a, b| b.incentive.cmp(&a.incentive).then(a.uid.cmp(&b.uid)));
    peers.truncate(page_size(limit));
    Ok(MetagraphResponse { peers })
}

pub fn weights(deps: Deps, graph: String, uid: u16) -> Result<WeightsResponse, ContractError> {
    let peer = load_peer(deps, &graph, uid)?;
    let row = WEIGHTS.may_load(deps.storage, (&graph, uid))?;
    Ok(WeightsResponse {
        uid,
        weights: row.map_or(Ok(vec![]), |row| unpack_weights(&row))?,
        last_update: peer.last_update,
    })
}

pub fn bonds(deps: Deps, graph: String, uid: u16) -> Result<BondsResponse, ContractError> {
    load_peer(deps, &graph, uid)?;
    let row = BONDS.may_load(deps.storage, (&graph, uid))?;
    Ok(BondsResponse {
        uid,
        bonds: row
            .map_or(Ok(vec![]), |row| unpack_bonds(&row))?
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
        graph,
    })
}

pub fn claims(deps: Deps, address: String) -> StdResult<ClaimsResponse> {
    let address = deps.api.addr_validate(&address)?;
    let claims = CLAIMS
        .may_load(deps.storage, &address)?
        .unwrap_or_default()
        .into_iter()
        .map(|claim| ClaimInfo {
            amount: claim.amount,
            release_at: claim.release_at,
        })
        .collect();
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
