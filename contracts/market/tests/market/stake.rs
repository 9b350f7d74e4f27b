//! Stake, unbonding, claims and the reward pool (docs/SPEC.md §5).

use crate::suite::{DENOM, OTHER_DENOM, START_BALANCE, SuiteBuilder};
use agora_market::ContractError;
use agora_market::msg::{ExecuteMsg, TEXT};
use cosmwasm_std::{Coin, Uint128};
use cw_utils::PaymentError;

#[test]
fn stake_moves_tokens_from_the_wallet_into_bonded_stake() {
    let mut suite = SuiteBuilder::new().build();
    suite.register("alice").unwrap();
    suite.stake("alice", 700).unwrap();
    suite.stake("alice", 300).unwrap();
    assert_eq!(suite.stake_of(TEXT, 0), 1_000);
    assert_eq!(suite.balance_of("alice"), START_BALANCE - 1_000);
    assert_eq!(suite.epoch_state(TEXT).total_stake.u128(), 1_000);
}

#[test]
fn stake_needs_the_right_funds_and_a_registration() {
    let mut suite = SuiteBuilder::new().with_account("whale", u128::MAX).build();
    suite.register("alice").unwrap();
    suite
        .stake("alice", 0)
        .unwrap_err()
        .is(ContractError::Payment(PaymentError::NoFunds {}));
    let other = [Coin::new(5u128, OTHER_DENOM)];
    suite
        .execute_with(
            "alice",
            ExecuteMsg::Stake {
                graph: TEXT.to_string(),
            },
            &other,
        )
        .unwrap_err()
        .is(ContractError::Payment(PaymentError::MissingDenom(
            DENOM.to_string(),
        )));
    suite
        .stake("bob", 5)
        .unwrap_err()
        .is(ContractError::NotRegistered {
            address: suite.addr("bob").to_string(),
            graph: TEXT.to_string(),
        });
}

#[test]
fn unstaked_tokens_wait_for_unbonding_then_can_be_claimed() {
    let mut suite = SuiteBuilder::new().build();
    suite.register("alice").unwrap();
    suite.stake("alice", 1_000).unwrap();
    suite
        .unstake("alice", 0)
        .unwrap_err()
        .is(ContractError::ZeroAmount);
    suite
        .unstake("alice", 1_001)
        .unwrap_err()
        .is(ContractError::InsufficientStake {
            requested: Uint128::new(1_001),
            bonded: Uint128::new(1_000),
        });
    suite.unstake("alice", 400).unwrap();
    // It stops counting at once.
    assert_eq!(suite.stake_of(TEXT, 0), 600);
    let release_at = suite.claims("alice").claims[0].release_at;
    assert_eq!(release_at, suite.height() + 10);

    suite.advance_blocks(9);
    suite
        .claim("alice")
        .unwrap_err()
        .is(ContractError::NothingToClaim);
    suite.next_block();
    let before = suite.balance_of("alice");
    suite.claim("alice").unwrap();
    assert_eq!(suite.balance_of("alice"), before + 400);
    assert!(suite.claims("alice").claims.is_empty());
    suite
        .claim("alice")
        .unwrap_err()
        .is(ContractError::NothingToClaim);
}

#[test]
fn a_flash_stake_before_an_epoch_stays_locked_after_unstaking() {
    let mut suite = SuiteBuilder::new()
        .with_params(|p| p.unbonding_period = 500)
        .build();
    for name in ["alice", "bob", "mallory"] {
        suite.register(name).unwrap();
    }
    // Votes count only for peers registered before the row's block.
    suite.next_block();
    suite.fund(TEXT, 100_000_000).unwrap();
    suite.stake("alice", 1_000).unwrap();
    suite.stake("bob", 1_000).unwrap();
    suite.set_weights("alice", &[(1, 1)]).unwrap();
    suite.set_weights("bob", &[(0, 1)]).unwrap();
    suite.set_weights("mallory", &[(0, 1)]).unwrap();
    // Mallory borrows a fortune for the epoch's block only.
    let due = suite.epoch_state(TEXT).next_due_block;
    suite.advance_blocks(due - suite.height());
    suite.stake("mallory", 1_000_000).unwrap();
    suite.epoch(TEXT).unwrap();
    let stake = suite.stake_of(TEXT, 2);
    assert!(stake > 1_000_000, "mallory was paid");
    suite.unstake("mallory", stake).unwrap();
    // …and cannot repay the loan: the stake is locked for 500 blocks.
    suite.advance_blocks(499);
    suite
        .claim("mallory")
        .unwrap_err()
        .is(ContractError::NothingToClaim);
    suite.next_block();
    suite.claim("mallory").unwrap();
}

#[test]
fn anyone_can_fund_a_graphs_reward_pool() {
    let mut suite = SuiteBuilder::new().build();
    suite.fund(TEXT, 5_000).unwrap();
    assert_eq!(suite.epoch_state(TEXT).reward_pool.u128(), 5_000);
    suite
        .fund("IMAGE", 5)
        .unwrap_err()
        .is(ContractError::UnknownGraph {
            graph: "IMAGE".to_string(),
        });
}

#[test]
fn funds_beyond_uint128_are_refused() {
    // Bank coins are Uint256 in CosmWasm 3; stake is kept in Uint128.
    let mut suite = SuiteBuilder::new().build();
    suite.register("alice").unwrap();
    let huge = cosmwasm_std::Uint256::from(u128::MAX) + cosmwasm_std::Uint256::one();
    let alice = suite.addr("alice");
    suite
        .app
        .sudo(cw_multi_test::SudoMsg::Bank(
            cw_multi_test::BankSudo::Mint {
                to_address: alice.to_string(),
                amount: vec![Coin::new(huge, DENOM)],
            },
        ))
        .unwrap();
    suite
        .execute_with(
            "alice",
            ExecuteMsg::Stake {
                graph: TEXT.to_string(),
            },
            &[Coin::new(huge, DENOM)],
        )
        .unwrap_err()
        .is(ContractError::AmountTooLarge(huge.to_string()));
}
