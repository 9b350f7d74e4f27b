//! Stake, unbonding claims and the reward pool (docs/SPEC.md §5).

use cosmwasm_std::{Addr, BankMsg, Coin, DepsMut, Env, MessageInfo, Response, Storage, Uint128};

use super::{load_graph, must_pay, own_uid};
use crate::ContractError;
use crate::state::{CLAIMS, CONFIG, Claim, GRAPHS, TOTAL_CLAIMS, update_account};

pub fn stake(
    deps: DepsMut,
    info: MessageInfo,
    graph_name: String,
) -> Result<Response, ContractError> {
    let denom = CONFIG.load(deps.storage)?.denom;
    let amount = must_pay(&info, &denom)?;
    let mut graph = load_graph(deps.storage, &graph_name)?;
    let uid = own_uid(deps.storage, &graph_name, &info.sender)?;
    graph.bond(amount)?;
    let stake = update_account(deps.storage, &graph_name, uid, |account| {
        account.hold_epoch_stake(&graph, uid);
        account.stake += amount.u128();
        Ok::<_, ContractError>(account.stake)
    })?;
    GRAPHS.save(deps.storage, &graph_name, &graph)?;
    Ok(Response::new()
        .add_attribute("action", "stake")
        .add_attribute("graph", graph_name)
        .add_attribute("uid", uid.to_string())
        .add_attribute("amount", amount)
        .add_attribute("stake", stake.to_string()))
}

/// Stake stops counting at once and becomes claimable after
/// `unbonding_period` blocks: a flash stake stays locked.
pub fn unstake(
    deps: DepsMut,
    env: Env,
    info: MessageInfo,
    graph_name: String,
    amount: Uint128,
) -> Result<Response, ContractError> {
    cw_utils::nonpayable(&info)?;
    if amount.is_zero() {
        return Err(ContractError::ZeroAmount);
    }
    let mut graph = load_graph(deps.storage, &graph_name)?;
    let uid = own_uid(deps.storage, &graph_name, &info.sender)?;
    let release_at = graph.release_height(env.block.height)?;
    update_account(deps.storage, &graph_name, uid, |account| {
        if amount.u128() > account.stake {
            return Err(ContractError::InsufficientStake {
                requested: amount,
                bonded: Uint128::new(account.stake),
            });
        }
        account.hold_epoch_stake(&graph, uid);
        account.stake -= amount.u128();
        Ok(())
    })?;
    graph.total_stake -= amount;
    add_claim(deps.storage, &info.sender, amount, release_at)?;
    GRAPHS.save(deps.storage, &graph_name, &graph)?;
    Ok(Response::new()
        .add_attribute("action", "unstake")
        .add_attribute("graph", graph_name)
        .add_attribute("uid", uid.to_string())
        .add_attribute("amount", amount)
        .add_attribute("release_at", release_at.to_string()))
}

pub(crate) fn add_claim(
    storage: &mut dyn Storage,
    owner: &Addr,
    amount: Uint128,
    release_at: u64,
) -> Result<(), ContractError> {
    let mut claims = CLAIMS.may_load(storage, owner)?.unwrap_or_default();
    claims.push(Claim { amount, release_at });
    CLAIMS.save(storage, owner, &claims)?;
    TOTAL_CLAIMS.update(storage, |total| -> Result<_, ContractError> {
        Ok(total + amount)
    })?;
    Ok(())
}

pub fn claim(deps: DepsMut, env: Env, info: MessageInfo) -> Result<Response, ContractError> {
    cw_utils::nonpayable(&info)?;
    let claims = CLAIMS
        .may_load(deps.storage, &info.sender)?
        .unwrap_or_default();
    let (ready, waiting): (Vec<Claim>, Vec<Claim>) = claims
        .into_iter()
        .partition(|claim| claim.release_at <= env.block.height);
    let amount: Uint128 = ready.iter().map(|claim| claim.amount).sum();
    if amount.is_zero() {
        return Err(ContractError::NothingToClaim);
    }
    if waiting.is_empty() {
        CLAIMS.remove(deps.storage, &info.sender);
    } else {
        CLAIMS.save(deps.storage, &info.sender, &waiting)?;
    }
    TOTAL_CLAIMS.update(deps.storage, |total| -> Result<_, ContractError> {
        Ok(total - amount)
    })?;
    let denom = CONFIG.load(deps.storage)?.denom;
    Ok(Response::new()
        .add_message(BankMsg::Send {
            to_address: info.sender.to_string(),
            amount: vec![Coin::new(amount, denom)],
        })
        .add_attribute("action", "claim")
        .add_attribute("address", info.sender)
        .add_attribute("amount", amount))
}

pub fn fund_rewards(
    deps: DepsMut,
    info: MessageInfo,
    graph_name: String,
) -> Result<Response, ContractError> {
    let denom = CONFIG.load(deps.storage)?.denom;
    let amount = must_pay(&info, &denom)?;
    let mut graph = load_graph(deps.storage, &graph_name)?;
    graph.fund(amount)?;
    GRAPHS.save(deps.storage, &graph_name, &graph)?;
    Ok(Response::new()
        .add_attribute("action", "fund_rewards")
        .add_attribute("graph", graph_name)
        .add_attribute("amount", amount)
        .add_attribute("reward_pool", graph.reward_pool))
}
