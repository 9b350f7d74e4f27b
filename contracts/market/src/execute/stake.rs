//! Stake, unbonding claims and the reward pool (docs/SPEC.md §5).

use cosmwasm_std::{
    Addr, BankMsg, Coin, DepsMut, Env, MessageInfo, Order, Response, StdResult, Storage, Uint128,
};
use cw_storage_plus::Bound;

use super::{load_graph, must_pay, own_uid};
use crate::ContractError;
use crate::state::{CLAIMS, CONFIG, GRAPHS, MAX_CLAIMS, TOTAL_CLAIMS, update_account};

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

/// Adds `amount` to `owner`'s claims, released at `release_at`: merged
/// into a claim of the same height, or a new key while the owner has fewer
/// than [`MAX_CLAIMS`], or else merged into the latest claim, which then
/// releases at the later of the two heights. Never fails for lack of room,
/// so neither an unstake nor a prune can be blocked by old claims.
pub(crate) fn add_claim(
    storage: &mut dyn Storage,
    owner: &Addr,
    amount: Uint128,
    release_at: u64,
) -> Result<(), ContractError> {
    let pending: Vec<(u64, Uint128)> = CLAIMS
        .prefix(owner)
        .range(storage, None, None, Order::Ascending)
        .take(MAX_CLAIMS + 1)
        .collect::<StdResult<_>>()?;
    let held_at = |height: u64| {
        pending
            .iter()
            .find(|(h, _)| *h == height)
            .map(|(_, held)| *held)
    };
    let (height, held) = match (held_at(release_at), pending.last()) {
        // A claim of this height already: add to it.
        (Some(held), _) => (release_at, held),
        (None, Some(&(latest, held))) if pending.len() >= MAX_CLAIMS => {
            if latest < release_at {
                // The latest claim moves to the new, later height.
                CLAIMS.remove(storage, (owner, latest));
                (release_at, held)
            } else {
                (latest, held)
            }
        }
        _ => (release_at, Uint128::zero()),
    };
    // The claims were read above: no second read of this key.
    CLAIMS.save(storage, (owner, height), &(held + amount))?;
    TOTAL_CLAIMS.update(storage, |sum| -> Result<_, ContractError> {
        Ok(sum + amount)
    })?;
    Ok(())
}

pub fn claim(deps: DepsMut, env: Env, info: MessageInfo) -> Result<Response, ContractError> {
    cw_utils::nonpayable(&info)?;
    let ready: Vec<(u64, Uint128)> = CLAIMS
        .prefix(&info.sender)
        .range(
            deps.storage,
            None,
            Some(Bound::inclusive(env.block.height)),
            Order::Ascending,
        )
        .collect::<StdResult<_>>()?;
    let amount: Uint128 = ready.iter().map(|(_, amount)| *amount).sum();
    if amount.is_zero() {
        return Err(ContractError::NothingToClaim);
    }
    for (height, _) in ready {
        CLAIMS.remove(deps.storage, (&info.sender, height));
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
