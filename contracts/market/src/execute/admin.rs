//! The admin's messages, and migration.

use cosmwasm_std::{DepsMut, Env, MessageInfo, Response};

use super::load_graph;
use crate::ContractError;
use crate::msg::GraphParams;
use crate::state::{CONFIG, Config, GRAPHS, Graph};

pub const CONTRACT_NAME: &str = env!("CARGO_PKG_NAME");
pub const CONTRACT_VERSION: &str = env!("CARGO_PKG_VERSION");

pub(super) fn ensure_admin(config: &Config, info: &MessageInfo) -> Result<(), ContractError> {
    if info.sender != config.admin {
        return Err(ContractError::Unauthorized);
    }
    Ok(())
}

/// Graph names are modalities: `TEXT`, `IMAGE`, `TEXT-IMAGE`, …
pub fn validate_graph_name(name: &str) -> Result<(), ContractError> {
    let valid = (1..=32).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'-');
    if !valid {
        return Err(ContractError::InvalidGraphName {
            name: name.to_string(),
        });
    }
    Ok(())
}

pub fn add_graph(
    deps: DepsMut,
    env: Env,
    info: MessageInfo,
    modality: String,
    params: GraphParams,
) -> Result<Response, ContractError> {
    cw_utils::nonpayable(&info)?;
    ensure_admin(&CONFIG.load(deps.storage)?, &info)?;
    validate_graph_name(&modality)?;
    params.validate()?;
    if GRAPHS.has(deps.storage, &modality) {
        return Err(ContractError::GraphExists { graph: modality });
    }
    GRAPHS.save(
        deps.storage,
        &modality,
        &Graph::new(params, env.block.height),
    )?;
    Ok(Response::new()
        .add_attribute("action", "add_graph")
        .add_attribute("graph", modality))
}

/// New parameters apply from the next message; the peg's `k` is kept,
/// moved into the new `[peg_floor, peg_ceiling]` if it falls outside.
pub fn update_params(
    deps: DepsMut,
    info: MessageInfo,
    graph_name: String,
    params: GraphParams,
) -> Result<Response, ContractError> {
    cw_utils::nonpayable(&info)?;
    ensure_admin(&CONFIG.load(deps.storage)?, &info)?;
    params.validate()?;
    let mut graph = load_graph(deps.storage, &graph_name)?;
    if graph.run.is_some() {
        return Err(ContractError::EpochInProgress {
            graph: graph_name,
            action: "update_params",
        });
    }
    if params.max_peers < graph.peers {
        return Err(ContractError::InvalidParams {
            name: "max_peers".to_string(),
            reason: format!("below the {} peers already registered", graph.peers),
        });
    }
    graph.k = graph.k.clamp(params.peg_floor, params.peg_ceiling);
    graph.params = params;
    GRAPHS.save(deps.storage, &graph_name, &graph)?;
    Ok(Response::new()
        .add_attribute("action", "update_params")
        .add_attribute("graph", graph_name)
        .add_attribute("k", graph.k.to_string()))
}

pub fn propose_admin(
    deps: DepsMut,
    info: MessageInfo,
    admin: String,
) -> Result<Response, ContractError> {
    cw_utils::nonpayable(&info)?;
    let mut config = CONFIG.load(deps.storage)?;
    ensure_admin(&config, &info)?;
    let proposed = deps.api.addr_validate(&admin)?;
    config.pending_admin = Some(proposed.clone());
    CONFIG.save(deps.storage, &config)?;
    Ok(Response::new()
        .add_attribute("action", "propose_admin")
        .add_attribute("pending_admin", proposed))
}

pub fn accept_admin(deps: DepsMut, info: MessageInfo) -> Result<Response, ContractError> {
    cw_utils::nonpayable(&info)?;
    let mut config = CONFIG.load(deps.storage)?;
    if config.pending_admin.as_ref() != Some(&info.sender) {
        return Err(ContractError::NoPendingAdmin);
    }
    config.admin = info.sender.clone();
    config.pending_admin = None;
    CONFIG.save(deps.storage, &config)?;
    Ok(Response::new()
        .add_attribute("action", "accept_admin")
        .add_attribute("admin", info.sender))
}

/// Refuses a foreign contract and any downgrade; records the new version.
pub fn migrate(deps: DepsMut) -> Result<Response, ContractError> {
    let stored = cw2::get_contract_version(deps.storage)?;
    if stored.contract != CONTRACT_NAME {
        return Err(ContractError::ForeignContract {
            stored: stored.contract,
            expected: CONTRACT_NAME.to_string(),
        });
    }
    let stored_version: semver::Version = stored.version.parse()?;
    let current: semver::Version = CONTRACT_VERSION.parse()?;
    if stored_version > current {
        return Err(ContractError::CannotDowngrade {
            stored: stored.version,
            current: CONTRACT_VERSION.to_string(),
        });
    }
    cw2::set_contract_version(deps.storage, CONTRACT_NAME, CONTRACT_VERSION)?;
    Ok(Response::new()
        .add_attribute("action", "migrate")
        .add_attribute("from_version", stored.version)
        .add_attribute("to_version", CONTRACT_VERSION))
}
