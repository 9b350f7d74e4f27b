//! `abort_epoch`: the admin's way out of a paged epoch that cannot finish
//! (docs/SPEC.md §3a). The epoch closes where it stands: uids it paid keep
//! their payouts and results, the rest get nothing this epoch and show no
//! results for it, rows it held as pending take effect now, and what it
//! did not emit stays in the reward pool.

use cosmwasm_std::{DepsMut, MessageInfo, Order, Response, StdResult, Storage};

use super::admin::ensure_admin;
use super::load_graph;
use super::page::ColumnStore;
use super::peer::install_row;
use crate::ContractError;
use crate::state::{
    AccountSlot, CONFIG, GRAPHS, Graph, PENDING_ROWS, Phase, RESULTS, RESULTS_CHUNK,
    decode_results, encode_results, load_pending, load_row, results_slot,
};

pub fn abort_epoch(
    deps: DepsMut,
    info: MessageInfo,
    graph_name: String,
) -> Result<Response, ContractError> {
    cw_utils::nonpayable(&info)?;
    ensure_admin(&CONFIG.load(deps.storage)?, &info)?;
    let mut graph = load_graph(deps.storage, &graph_name)?;
    let Some(run) = graph.run.clone() else {
        return Err(ContractError::NoEpochInProgress { graph: graph_name });
    };
    let storage = deps.storage;
    let paid = if run.phase == Phase::Pay {
        run.next_uid
    } else {
        0
    };
    let installed = install_pending_rows(storage, &graph_name, &graph)?;
    clear_unpaid_results(storage, &graph_name, &graph, paid)?;
    ColumnStore::new(&graph_name, run.peers, false).remove_all(storage);

    graph.run = None;
    graph.last_emitted = run.emitted;
    graph.last_epoch_block = run.block;
    graph.last_rho_kappa = (graph.params.rho.0, graph.params.kappa.0);
    let aborted = graph.epoch;
    // Snapshots of stake taken for the aborted epoch carry its number and
    // are ignored from here on.
    graph.epoch += 1;
    GRAPHS.save(storage, &graph_name, &graph)?;
    Ok(Response::new()
        .add_attribute("action", "abort_epoch")
        .add_attribute("graph", graph_name)
        .add_attribute("epoch", aborted.to_string())
        .add_attribute("paid_uids", paid.to_string())
        .add_attribute("emitted", run.emitted)
        .add_attribute("rows_installed", installed.to_string())
        .add_attribute("reward_pool", graph.reward_pool))
}

/// Rows sent while the epoch ran, for uids it did not pay: installed as
/// `set_weights` installs a row (the epoch no longer reads the old one).
fn install_pending_rows(
    storage: &mut dyn Storage,
    graph_name: &str,
    graph: &Graph,
) -> Result<usize, ContractError> {
    let uids: Vec<u16> = PENDING_ROWS
        .prefix(graph_name)
        .keys(storage, None, None, Order::Ascending)
        .collect::<StdResult<_>>()?;
    for &uid in &uids {
        let Some(pending) = load_pending(storage, graph_name, uid)? else {
            continue;
        };
        let mut slot = AccountSlot::load(storage, graph_name, uid)?;
        let old = if slot.account().has_row {
            load_row(storage, graph_name, uid)?
        } else {
            None
        };
        slot.account().has_pending = false;
        PENDING_ROWS.remove(storage, (graph_name, uid));
        install_row(storage, graph_name, graph, &mut slot, old, pending)?;
    }
    Ok(uids.len())
}

/// The aborted epoch's results slot holds, for uids it did not pay, the
/// results of two epochs ago: drop them, so queries show none.
fn clear_unpaid_results(
    storage: &mut dyn Storage,
    graph_name: &str,
    graph: &Graph,
    paid: u32,
) -> StdResult<()> {
    let slot = results_slot(graph.epoch);
    let chunks: Vec<u16> = RESULTS
        .prefix((graph_name, slot))
        .keys(storage, None, None, Order::Ascending)
        .collect::<StdResult<_>>()?;
    for chunk in chunks {
        let first = u32::from(chunk) * u32::from(RESULTS_CHUNK);
        let key = (graph_name, slot, chunk);
        if first >= paid {
            RESULTS.remove(storage, key);
        } else if first + u32::from(RESULTS_CHUNK) > paid {
            let mut entries = decode_results(&RESULTS.load(storage, key)?)?;
            entries.truncate((paid - first) as usize);
            RESULTS.save(storage, key, &encode_results(&entries))?;
        }
    }
    Ok(())
}
