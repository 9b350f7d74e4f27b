//! # agora-testing
//!
//! The pieces that the contract's multi-test `Suite`, the embedded chain
//! (`agora-client`) and the VM harness (`agora-vm`) share, in the spirit of
//! DAO DAO's `dao-testing`: the market contract wrapped for cw-multi-test,
//! instantiation, funded accounts, a block clock, and reading the
//! attributes of the contract's events. Graph parameters are built with
//! [`GraphParams::builder`].

use agora_market::msg::{GraphParams, InstantiateMsg};
use cosmwasm_std::{Addr, Attribute, BlockInfo, Coin, Empty, Event};
use cw_multi_test::{App, Contract, ContractWrapper, Executor};

/// Seconds between blocks on every simulated clock, as on most Cosmos
/// chains.
pub const BLOCK_SECONDS: u64 = 5;

/// The label the market is instantiated with.
pub const LABEL: &str = "agora-market";

/// The market contract's entry points, for cw-multi-test.
pub fn market_contract() -> Box<dyn Contract<Empty>> {
    Box::new(
        ContractWrapper::new(
            agora_market::contract::execute,
            agora_market::contract::instantiate,
            agora_market::contract::query,
        )
        .with_migrate(agora_market::contract::migrate),
    )
}

/// Gives each `(address, coins)` its starting balance.
pub fn fund(app: &mut App, balances: &[(Addr, Vec<Coin>)]) -> Result<(), String> {
    app.init_modules(|router, _, storage| {
        balances.iter().try_for_each(|(address, coins)| {
            router.bank.init_balance(storage, address, coins.clone())
        })
    })
    .map_err(|e| e.to_string())
}

/// Stores the market's code and instantiates it with `text_params`, `admin`
/// as both the sender and the contract's migration admin. Returns the code
/// id and the contract's address.
pub fn instantiate_market(
    app: &mut App,
    admin: &Addr,
    denom: &str,
    text_params: GraphParams,
) -> Result<(u64, Addr), String> {
    let code_id = app.store_code(market_contract());
    let contract = app
        .instantiate_contract(
            code_id,
            admin.clone(),
            &InstantiateMsg {
                denom: denom.to_string(),
                admin: None,
                text_params,
            },
            &[],
            LABEL,
            Some(admin.to_string()),
        )
        .map_err(|e| e.to_string())?;
    Ok((code_id, contract))
}

/// Moves a block `blocks` forward: height and time together.
pub fn advance(block: &mut BlockInfo, blocks: u64) {
    block.height += blocks;
    block.time = block.time.plus_seconds(BLOCK_SECONDS * blocks);
}

/// Moves `app`'s chain `blocks` forward.
pub fn advance_blocks(app: &mut App, blocks: u64) {
    app.update_block(|block| advance(block, blocks));
}

/// The value of attribute `key` among `attributes` (a contract response's
/// own attributes, as the VM returns them).
pub fn attribute<'a>(attributes: &'a [Attribute], key: &str) -> Option<&'a str> {
    attributes
        .iter()
        .find(|attribute| attribute.key == key)
        .map(|attribute| attribute.value.as_str())
}

/// The value of attribute `key` of the contract's `wasm` event among
/// `events` (as a chain reports them).
pub fn wasm_attribute<'a>(events: &'a [Event], key: &str) -> Option<&'a str> {
    events
        .iter()
        .filter(|event| event.ty == "wasm")
        .find_map(|event| attribute(&event.attributes, key))
}

#[cfg(test)]
mod tests {
    use super::*;
    use agora_market::msg::{QueryMsg, TotalsResponse};
    use cosmwasm_std::coins;

    #[test]
    fn a_market_instantiates_funds_and_reports_attributes() {
        let mut app = App::default();
        let admin = app.api().addr_make("admin");
        fund(&mut app, &[(admin.clone(), coins(500, "uagora"))]).unwrap();
        let params = GraphParams::builder()
            .emission_per_epoch(10)
            .unbonding_period(1)
            .build();
        let (_, contract) = instantiate_market(&mut app, &admin, "uagora", params).unwrap();
        let response = app
            .execute_contract(
                admin.clone(),
                contract.clone(),
                &agora_market::msg::ExecuteMsg::FundRewards {
                    graph: "TEXT".into(),
                },
                &coins(200, "uagora"),
            )
            .unwrap();
        assert_eq!(
            wasm_attribute(&response.events, "action"),
            Some("fund_rewards")
        );
        assert_eq!(wasm_attribute(&response.events, "reward_pool"), Some("200"));
        assert_eq!(wasm_attribute(&response.events, "missing"), None);
        let totals: TotalsResponse = app
            .wrap()
            .query_wasm_smart(&contract, &QueryMsg::Totals {})
            .unwrap();
        assert_eq!(totals.reward_pools.u128(), 200);

        let before = app.block_info();
        advance_blocks(&mut app, 3);
        let after = app.block_info();
        assert_eq!(after.height, before.height + 3);
        assert_eq!(after.time, before.time.plus_seconds(15));
    }
}
