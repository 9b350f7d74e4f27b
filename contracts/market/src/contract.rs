//! Entry points and dispatch, nothing else.

#[cfg(not(feature = "library"))]
use cosmwasm_std::entry_point;
use cosmwasm_std::{Binary, Deps, DepsMut, Env, MessageInfo, Response, to_json_binary};

use crate::ContractError;
use crate::execute::admin::{CONTRACT_NAME, CONTRACT_VERSION};
use crate::execute::{abort, admin, commit, epoch, peer, stake};
use crate::msg::{ExecuteMsg, InstantiateMsg, MigrateMsg, QueryMsg, TEXT};
use crate::query;
use crate::state::{CONFIG, Config, GRAPHS, Graph, TOTAL_CLAIMS};

#[cfg_attr(not(feature = "library"), entry_point)]
pub fn instantiate(
    deps: DepsMut,
    env: Env,
    info: MessageInfo,
    msg: InstantiateMsg,
) -> Result<Response, ContractError> {
    cw_utils::nonpayable(&info)?;
    cw2::set_contract_version(deps.storage, CONTRACT_NAME, CONTRACT_VERSION)?;
    validate_denom(&msg.denom)?;
    msg.text_params.validate()?;
    let admin = match msg.admin {
        Some(admin) => deps.api.addr_validate(&admin)?,
        None => info.sender,
    };
    CONFIG.save(
        deps.storage,
        &Config {
            denom: msg.denom.clone(),
            admin: admin.clone(),
            pending_admin: None,
        },
    )?;
    GRAPHS.save(
        deps.storage,
        TEXT,
        &Graph::new(msg.text_params, env.block.height),
    )?;
    TOTAL_CLAIMS.save(deps.storage, &Default::default())?;
    Ok(Response::new()
        .add_attribute("action", "instantiate")
        .add_attribute("denom", msg.denom)
        .add_attribute("admin", admin)
        .add_attribute("graph", TEXT))
}

/// A native denom as the bank module accepts it: 3-128 characters,
/// a letter first, then letters, digits or `/:._-`.
fn validate_denom(denom: &str) -> Result<(), ContractError> {
    let mut bytes = denom.bytes();
    let valid = (3..=128).contains(&denom.len())
        && bytes.next().is_some_and(|b| b.is_ascii_alphabetic())
        && bytes.all(|b| b.is_ascii_alphanumeric() || b"/:._-".contains(&b));
    if !valid {
        return Err(ContractError::InvalidParams {
            name: "denom".to_string(),
            reason: format!("{denom:?} is not a valid native denom"),
        });
    }
    Ok(())
}

#[cfg_attr(not(feature = "library"), entry_point)]
pub fn execute(
    deps: DepsMut,
    env: Env,
    info: MessageInfo,
    msg: ExecuteMsg,
) -> Result<Response, ContractError> {
    match msg {
        ExecuteMsg::Register { graph, endpoint } => {
            peer::register(deps, env, info, graph, endpoint)
        }
        ExecuteMsg::Serve { graph, endpoint } => peer::serve(deps, info, graph, endpoint),
        ExecuteMsg::SetWeights { graph, weights } => {
            peer::set_weights(deps, env, info, graph, weights)
        }
        ExecuteMsg::CommitWeights { graph, hash } => {
            commit::commit_weights(deps, info, graph, hash)
        }
        ExecuteMsg::RevealWeights {
            graph,
            weights,
            salt,
        } => commit::reveal_weights(deps, env, info, graph, weights, salt),
        ExecuteMsg::Stake { graph } => stake::stake(deps, info, graph),
        ExecuteMsg::Unstake { graph, amount } => stake::unstake(deps, env, info, graph, amount),
        ExecuteMsg::Claim {} => stake::claim(deps, env, info),
        ExecuteMsg::FundRewards { graph } => stake::fund_rewards(deps, info, graph),
        ExecuteMsg::Epoch { graph, max_rows } => {
            cw_utils::nonpayable(&info)?;
            epoch::epoch(deps, env, graph, max_rows)
        }
        ExecuteMsg::AddGraph { modality, params } => {
            admin::add_graph(deps, env, info, modality, params)
        }
        ExecuteMsg::UpdateParams { graph, params } => {
            admin::update_params(deps, info, graph, params)
        }
        ExecuteMsg::AbortEpoch { graph } => abort::abort_epoch(deps, info, graph),
        ExecuteMsg::ProposeAdmin { admin } => admin::propose_admin(deps, info, admin),
        ExecuteMsg::AcceptAdmin {} => admin::accept_admin(deps, info),
    }
}

#[cfg_attr(not(feature = "library"), entry_point)]
pub fn query(deps: Deps, _env: Env, msg: QueryMsg) -> Result<Binary, ContractError> {
    Ok(match msg {
        QueryMsg::Config {} => to_json_binary(&query::config(deps)?),
        QueryMsg::Graphs { start_after, limit } => {
            to_json_binary(&query::graphs(deps, start_after, limit)?)
        }
        QueryMsg::Params { graph } => to_json_binary(&query::params(deps, graph)?),
        QueryMsg::Peer { graph, uid } => to_json_binary(&query::peer(deps, graph, uid)?),
        QueryMsg::PeerByAddress { graph, address } => {
            to_json_binary(&query::peer_by_address(deps, graph, address)?)
        }
        QueryMsg::Metagraph {
            graph,
            start_after,
            limit,
        } => to_json_binary(&query::metagraph(deps, graph, start_after, limit)?),
        QueryMsg::Ranking { graph, limit } => to_json_binary(&query::ranking(deps, graph, limit)?),
        QueryMsg::Weights { graph, uid } => to_json_binary(&query::weights(deps, graph, uid)?),
        QueryMsg::Bonds { graph, uid } => to_json_binary(&query::bonds(deps, graph, uid)?),
        QueryMsg::EpochState { graph } => to_json_binary(&query::epoch_state(deps, graph)?),
        QueryMsg::Commits { graph, uid } => to_json_binary(&query::commits(deps, graph, uid)?),
        QueryMsg::Claims { address } => to_json_binary(&query::claims(deps, address)?),
        QueryMsg::Totals {} => to_json_binary(&query::totals(deps)?),
    }?)
}

#[cfg_attr(not(feature = "library"), entry_point)]
pub fn migrate(deps: DepsMut, _env: Env, _msg: MigrateMsg) -> Result<Response, ContractError> {
    admin::migrate(deps)
}
