//! The epoch message: loads the graph, runs `agora_mechanism::epoch` (SPEC
//! §3, §6) and writes its results back.

use agora_mechanism::{EpochInput, PeerState};
use cosmwasm_std::{DepsMut, Env, Order, Response, Uint128};

use super::load_graph;
use crate::ContractError;
use crate::rows::{pack_bonds, unpack_bonds, unpack_weights};
use crate::state::{BONDS, GRAPHS, PEERS, Peer, WEIGHTS};

/// Anyone may run a graph's epoch once `epoch_length` blocks have passed
/// since the previous one. Payouts are added to bonded stake; the rounding
/// remainder stays in the reward pool, so no token is created or lost.
pub fn epoch(deps: DepsMut, env: Env, graph_name: String) -> Result<Response, ContractError> {
    let mut graph = load_graph(deps.storage, &graph_name)?;
    let block = env.block.height;
    if block < graph.next_due_block() {
        return Err(ContractError::EpochNotDue {
            graph: graph_name,
            next_due: graph.next_due_block(),
        });
    }

    let peers: Vec<(u16, Peer)> = PEERS
        .prefix(&graph_name)
        .range(deps.storage, None, None, Order::Ascending)
        .collect::<Result<_, _>>()?;
    let mut states = Vec::with_capacity(peers.len());
    for (uid, peer) in &peers {
        let weights = WEIGHTS.may_load(deps.storage, (&graph_name, *uid))?;
        let bonds = BONDS.may_load(deps.storage, (&graph_name, *uid))?;
        states.push(PeerState {
            stake: peer.stake.u128(),
            registered_at: peer.registered_at,
            last_update: peer.last_update.unwrap_or(0),
            weights: weights.map_or(Ok(vec![]), |row| unpack_weights(&row))?,
            bonds: bonds.map_or(Ok(vec![]), |row| unpack_bonds(&row))?,
        });
    }
    let params = graph.params.epoch_params();
    let out = agora_mechanism::epoch(&EpochInput {
        params: &params,
        block,
        last_epoch_block: graph.last_epoch_block,
        k: graph.k,
        reward_pool: graph.reward_pool.u128(),
        peers: &states,
    })?;

    for (index, (uid, mut peer)) in peers.into_iter().enumerate() {
        peer.stake = Uint128::new(out.stake_after[index]);
        peer.rank = out.rank[index];
        peer.trust = out.trust[index];
        peer.consensus = out.consensus[index];
        peer.incentive = out.incentive[index];
        peer.dividends = out.dividends[index];
        peer.last_paid = Uint128::new(out.paid[index]);
        PEERS.save(deps.storage, (&graph_name, uid), &peer)?;
        let (old, new) = (&states[index].bonds, &out.bonds[index]);
        if new.is_empty() {
            if !old.is_empty() {
                BONDS.remove(deps.storage, (&graph_name, uid));
            }
        } else if old != new {
            BONDS.save(deps.storage, (&graph_name, uid), &pack_bonds(new))?;
        }
    }
    let emitted = Uint128::new(out.emitted);
    graph.total_stake += emitted;
    graph.reward_pool -= emitted;
    graph.k = out.k_after;
    graph.last_loss = out.loss;
    graph.last_emitted = emitted;
    graph.last_epoch_block = block;
    graph.epoch += 1;
    GRAPHS.save(deps.storage, &graph_name, &graph)?;

    Ok(Response::new()
        .add_attribute("action", "epoch")
        .add_attribute("graph", graph_name)
        .add_attribute("epoch", graph.epoch.to_string())
        .add_attribute("emitted", emitted)
        .add_attribute("remainder", (out.emission - out.emitted).to_string())
        .add_attribute("loss", out.loss.normalize().to_string())
        .add_attribute("k", graph.k.to_string())
        .add_attribute("reward_pool", graph.reward_pool))
}
