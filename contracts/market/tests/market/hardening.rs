//! The review's attacks (issue 17), each replayed as a story: what it did
//! to today's contract, and that it now fails cleanly or is harmless. The
//! suite checks the token invariant after every message.

use crate::suite::{Refusal, Suite, SuiteBuilder, wasm_attribute};
use agora_market::ContractError;
use agora_market::msg::{ExecuteMsg, GraphParams, TEXT};
use cosmwasm_std::Uint128;
use cw_multi_test::AppResponse;
use rust_decimal::Decimal;

/// Idle stake: beside it, one token is a stake share of 2e-26, at the
/// edge of what a Decimal (28 places) resolves.
const WHALE: u128 = 50_000_000_000_000_000_000_000_000;

/// A whale with no row and two dust voters (stake 1) on carol. Bob's row
/// (value 1) is the only one fine enough to buy rank and bonds, so carol's
/// column holds ~2e-26 of bonds for all of the incentive: its dividend per
/// bond is ~5e25. Alice's row puts the raw weight 65535 on carol, but her
/// share over that weight rounds to 0, so she holds no bonds at all.
fn dust_bonded_column() -> Suite {
    let mut suite = SuiteBuilder::new()
        .with_account("whale", WHALE + 1_000)
        .build();
    for name in ["whale", "alice", "bob", "carol"] {
        suite.register(name).unwrap();
    }
    suite.stake("whale", WHALE).unwrap();
    suite.stake("alice", 1).unwrap();
    suite.stake("bob", 1).unwrap();
    suite.next_block();
    let carol = suite.uid("carol");
    suite.set_weights("alice", &[(carol, 65535)]).unwrap();
    suite.set_weights("bob", &[(carol, 1)]).unwrap();
    suite.fund(TEXT, 1_000_000).unwrap();
    suite
}

/// Bob holds every bond of carol, alice none; the epoch closes and pays.
fn assert_dust_voters_paid(suite: &Suite) {
    let bob = suite.peer(TEXT, suite.uid("bob"));
    let alice = suite.peer(TEXT, suite.uid("alice"));
    let carol = suite.peer(TEXT, suite.uid("carol"));
    assert_eq!(bob.dividends.0.round_dp(20), Decimal::ONE);
    assert_eq!(alice.dividends.0, Decimal::ZERO);
    assert_eq!(carol.incentive.0.round_dp(20), Decimal::ONE);
    // β = 0.5: half the emission to bob's bonds, half to carol's incentive.
    assert_eq!(
        (bob.last_paid.u128(), carol.last_paid.u128()),
        (500_000, 500_000)
    );
    let state = suite.epoch_state(TEXT);
    assert_eq!((state.epoch, state.in_progress), (1, None));
}

#[test]
fn dust_bonds_beside_idle_stake_no_longer_overflow_the_dividends() {
    // Before: `Bonds::dot` multiplied alice's 65535 by ~5e25 before scaling
    // it down by her (zero) accumulator, and panicked: every epoch aborted.
    let mut suite = dust_bonded_column();
    suite.run_epoch(TEXT);
    assert_dust_voters_paid(&suite);
}

#[test]
fn a_paged_epoch_past_its_settlement_pays_dust_bonds_too() {
    // Before: the page that settled succeeded and every pay page after it
    // panicked, freezing update_params, pruning and the pool for good.
    let mut suite = dust_bonded_column();
    let pages = suite.run_epoch_paged(TEXT, 1);
    assert!(pages > 4, "absorb and pay over several pages: {pages}");
    assert_dust_voters_paid(&suite);
}

fn abort(suite: &mut Suite, sender: &str) -> Result<AppResponse, Refusal> {
    suite.execute(
        sender,
        ExecuteMsg::AbortEpoch {
            graph: TEXT.to_string(),
        },
        0,
    )
}

#[test]
fn the_admin_aborts_a_paged_epoch_where_it_stands() {
    let mut suite = SuiteBuilder::new()
        .with_params(|p| p.peg_ceiling = 1)
        .build();
    let names = ["alice", "bob", "carol", "dave"];
    for name in names {
        suite.register(name).unwrap();
        suite.stake(name, 1_000).unwrap();
    }
    suite.next_block();
    for (uid, name) in names.iter().enumerate() {
        let next = ((uid + 1) % names.len()) as u16;
        suite.set_weights(name, &[(next, 1)]).unwrap();
    }
    suite.fund(TEXT, 10_000_000).unwrap();
    suite.run_epoch(TEXT);
    abort(&mut suite, "admin")
        .unwrap_err()
        .is(ContractError::NoEpochInProgress {
            graph: TEXT.to_string(),
        });

    // Epoch 1 in pages of 2: absorb 0-1, absorb 2-3, settle, pay 0-1.
    let due = suite.epoch_state(TEXT).next_due_block;
    suite.advance_blocks(due - suite.height());
    for _ in 0..4 {
        suite.epoch_page(TEXT, 2).unwrap();
        suite.next_block();
    }
    // Dave has not been paid: his new row waits for the epoch.
    suite.set_weights("dave", &[(1, 1)]).unwrap();
    assert!(suite.weights(TEXT, 3).pending.is_some());
    let pool = suite.epoch_state(TEXT).reward_pool;

    abort(&mut suite, "alice")
        .unwrap_err()
        .is(ContractError::Unauthorized);
    let response = abort(&mut suite, "admin").unwrap();
    assert_eq!(wasm_attribute(&response, "paid_uids").as_deref(), Some("2"));
    assert_eq!(
        wasm_attribute(&response, "rows_installed").as_deref(),
        Some("1")
    );

    let state = suite.epoch_state(TEXT);
    assert_eq!((state.epoch, state.in_progress), (2, None));
    assert_eq!(state.reward_pool, pool, "nothing more is emitted");
    for (uid, expected) in [(0, Some(1)), (1, Some(1)), (2, None), (3, None)] {
        assert_eq!(suite.peer(TEXT, uid).results_epoch, expected, "uid {uid}");
    }
    let dave = suite.weights(TEXT, 3);
    assert_eq!((dave.weights, dave.pending), (vec![(1, 1)], None));

    // The graph moves on: params change again, the next epoch pays all.
    suite.update_params(suite.params()).unwrap();
    suite.run_epoch(TEXT);
    for uid in 0..4 {
        assert_eq!(suite.peer(TEXT, uid).results_epoch, Some(2), "uid {uid}");
    }
}

#[test]
fn stake_and_funding_beyond_what_the_epoch_counts_are_refused() {
    // Before: stake of 2^97 was accepted, and then every epoch failed.
    let limit = (1u128 << 96) - 1;
    let mut suite = SuiteBuilder::new()
        .with_account("alice", 1u128 << 100)
        .with_account("funder", 1u128 << 100)
        .build();
    suite.register("alice").unwrap();
    suite.register("bob").unwrap();
    let refusal = |held: u128, amount: u128| ContractError::TokenLimit {
        held: Uint128::new(held),
        amount: Uint128::new(amount),
        limit: Uint128::new(limit),
    };
    suite
        .stake("alice", 1u128 << 97)
        .unwrap_err()
        .is(refusal(0, 1u128 << 97));
    // Bonded and pooled together stay within the limit: payouts move
    // tokens from the pool into stake.
    suite.stake("alice", limit - 1_000).unwrap();
    suite.fund(TEXT, 1_000).unwrap();
    suite.fund(TEXT, 1).unwrap_err().is(refusal(limit, 1));
    suite.stake("bob", 1).unwrap_err().is(refusal(limit, 1));
    // At the limit the epoch still runs and pays.
    suite.next_block();
    suite.set_weights("alice", &[(1, 1)]).unwrap();
    suite.run_epoch(TEXT);
    assert_eq!(suite.epoch_state(TEXT).last_emitted.u128(), 1_000);
}

#[test]
fn parameters_that_would_break_the_graph_are_refused() {
    let mut suite = SuiteBuilder::new().build();
    let base = suite.params();
    type Breaks = fn(&mut GraphParams);
    let cases: [(&str, Breaks); 5] = [
        // height + unbonding_period would overflow.
        ("unbonding_period", |p| p.unbonding_period = u64::MAX - 5),
        // The peg could ask for more entries than a row may hold.
        ("peg_ceiling", |p| {
            p.max_weights_per_row = 8;
            p.peg_ceiling = 9;
        }),
        // Eight entries of at most 0.1 cannot sum to 1.
        ("max_weight_limit", |p| {
            p.max_weights_per_row = 8;
            p.peg_ceiling = 8;
            p.max_weight_limit = Decimal::new(1, 1).into();
        }),
        // A row record past the chain's 128 KiB value limit.
        ("max_weights_per_row", |p| p.max_weights_per_row = 40_000),
        ("max_peers", |p| p.max_peers = 8_193),
    ];
    for (name, break_it) in cases {
        let mut params = base.clone();
        break_it(&mut params);
        suite
            .update_params(params)
            .unwrap_err()
            .mentions(&format!("invalid parameter {name}:"));
    }
}

#[test]
fn pruning_evicts_an_idle_peer_before_a_validator() {
    // Before: the validator (incentive 0, big dividends, oldest) was pruned
    // for one registration fee, its stake forced into unbonding.
    let mut suite = SuiteBuilder::new()
        .with_params(|p| {
            p.max_peers = 3;
            p.immunity_period = 0;
        })
        .build();
    for name in ["alice", "bob", "carol"] {
        suite.register(name).unwrap();
    }
    suite.stake("alice", 1_000_000).unwrap();
    suite.next_block();
    suite.set_weights("alice", &[(1, 1)]).unwrap();
    suite.fund(TEXT, 10_000_000).unwrap();
    suite.run_epoch(TEXT);
    let alice = suite.peer(TEXT, 0);
    assert!(alice.incentive.0.is_zero() && alice.last_paid.u128() > 0);

    // Carol, unstaked and unpaid, goes; alice the validator stays.
    let response = suite.register("dave").unwrap();
    assert_eq!(
        wasm_attribute(&response, "pruned_uid").as_deref(),
        Some("2")
    );
    assert_eq!(suite.uid("dave"), 2);
    assert_eq!(suite.stake_of(TEXT, 0), 1_000_000 + alice.last_paid.u128());

    // Among the staked, the one paid least goes first: bob (incentive from
    // alice's row) was paid, dave not, but dave is still unstaked.
    suite.stake("bob", 10).unwrap();
    suite.run_epoch(TEXT);
    let response = suite.register("erin").unwrap();
    assert_eq!(
        wasm_attribute(&response, "pruned_uid").as_deref(),
        Some("2")
    );
    suite.stake("erin", 10).unwrap();
    suite.run_epoch(TEXT);
    // Now all three are staked: erin, paid nothing, goes before bob.
    let response = suite.register("frank").unwrap();
    assert_eq!(
        wasm_attribute(&response, "pruned_uid").as_deref(),
        Some("2")
    );
}

/// The largest value the contract stores, in bytes.
fn largest_value(suite: &Suite) -> usize {
    let storage = suite.app.contract_storage(&suite.contract);
    storage
        .range(None, None, cosmwasm_std::Order::Ascending)
        .map(|(_, value)| value.len())
        .max()
        .unwrap_or(0)
}

#[test]
fn claims_stay_small_however_many_unstakes_and_never_block_a_prune() {
    // Before: every unstake rewrote one growing JSON list per address;
    // ~3,600 of them passed the chain's 128 KiB value limit, and from then
    // on pruning that peer (and so registering into the full graph) failed.
    let mut suite = SuiteBuilder::new()
        .with_params(|p| {
            p.max_peers = 2;
            p.immunity_period = 0;
            p.unbonding_period = 1_000;
        })
        .build();
    suite.register("alice").unwrap();
    suite.register("bob").unwrap();
    suite.stake("alice", 1_000).unwrap();
    suite.stake("bob", 1_000).unwrap();
    let before = largest_value(&suite);
    for _ in 0..200 {
        suite.unstake("bob", 1).unwrap();
        suite.next_block();
    }
    // 200 release heights merged into at most 32 claims, one key each.
    let claims = suite.claims("bob").claims;
    assert_eq!(claims.len(), 32);
    assert_eq!(claims.iter().map(|c| c.amount.u128()).sum::<u128>(), 200);
    assert_eq!(largest_value(&suite), before, "no record grew");

    // With the rest of his stake unbonding, bob is the unstaked peer a
    // registration prunes: his claims do not stand in the way.
    suite.unstake("bob", 800).unwrap();
    let response = suite.register("carol").unwrap();
    assert_eq!(
        wasm_attribute(&response, "pruned_uid").as_deref(),
        Some("1")
    );
    assert_eq!(suite.claims("bob").claims.len(), 32);
    // Every claim pays out once released, to the token.
    suite.advance_blocks(1_300);
    let balance = suite.balance_of("bob");
    suite.claim("bob").unwrap();
    assert_eq!(suite.balance_of("bob"), balance + 1_000);
    assert!(suite.claims("bob").claims.is_empty());
}

#[test]
fn a_row_that_keeps_changing_targets_holds_a_bounded_set_of_bonds() {
    // Before: with bond_decay 0, a row of 2 entries kept a bond toward
    // every peer it had ever voted for, so the epoch grew as peers² and a
    // record could pass the chain's value limit.
    let mut suite = SuiteBuilder::new()
        .with_params(|p| {
            p.max_weights_per_row = 2;
            p.peg_ceiling = 2;
            p.max_peers = 12;
            p.epoch_length = 1;
        })
        .build();
    let names = [
        "alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi", "ivan", "judy",
        "mallory", "oscar",
    ];
    for name in names {
        suite.register(name).unwrap();
    }
    suite.stake("alice", 1_000).unwrap();
    suite.fund(TEXT, 10_000_000).unwrap();
    suite.next_block();
    for round in 0..30u16 {
        let first = 1 + round % 11;
        let second = 1 + (round + 5) % 11;
        suite
            .set_weights("alice", &[(first, 1), (second, 2)])
            .unwrap();
        suite.run_epoch(TEXT);
        // A base of at most 2 bonds beside a row of 2 entries.
        assert!(suite.bonds(TEXT, 0).bonds.len() <= 4, "round {round}");
    }
    // The row record holds 2 entries and at most 2 base bonds: ~70 bytes.
    let key = agora_market::state::ROWS.key((TEXT, 0));
    let record = suite.app.contract_storage(&suite.contract).get(&key);
    assert!(record.unwrap().len() < 100);
}
