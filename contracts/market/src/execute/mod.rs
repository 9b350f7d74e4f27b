//! Execute logic, one module per concern.

pub mod abort;
pub mod admin;
pub mod commit;
pub mod epoch;
mod page;
pub mod peer;
pub mod stake;

use cosmwasm_std::{Addr, MessageInfo, Storage, Uint128};

use crate::ContractError;
use crate::state::{GRAPHS, Graph, PEERS, Peer, UIDS};

pub(crate) fn load_graph(storage: &dyn Storage, graph: &str) -> Result<Graph, ContractError> {
    GRAPHS
        .may_load(storage, graph)?
        .ok_or_else(|| ContractError::UnknownGraph {
            graph: graph.to_string(),
        })
}

/// The sender's uid in `graph`.
pub(crate) fn own_uid(
    storage: &dyn Storage,
    graph: &str,
    address: &Addr,
) -> Result<u16, ContractError> {
    UIDS.may_load(storage, (graph, address))?
        .ok_or_else(|| ContractError::NotRegistered {
            address: address.to_string(),
            graph: graph.to_string(),
        })
}

/// The sender's uid and peer record in `graph`.
pub(crate) fn load_own_peer(
    storage: &dyn Storage,
    graph: &str,
    address: &Addr,
) -> Result<(u16, Peer), ContractError> {
    let uid = own_uid(storage, graph, address)?;
    Ok((uid, PEERS.load(storage, (graph, uid))?))
}

/// The positive amount of `denom` attached, and nothing else (cw-utils),
/// as the `Uint128` that stake and pools are kept in.
pub(crate) fn must_pay(info: &MessageInfo, denom: &str) -> Result<Uint128, ContractError> {
    let amount = cw_utils::must_pay(info, denom)?;
    Uint128::try_from(amount).map_err(|_| ContractError::AmountTooLarge(amount.to_string()))
}
