//! The review's attacks (issue 17), each replayed as a story: what it did
//! to today's contract, and that it now fails cleanly or is harmless. The
//! suite checks the token invariant after every message.

use crate::suite::{Refusal, Suite, SuiteBuilder, wasm_attribute};
use agora_market::ContractError;
use agora_market::msg::{ExecuteMsg, TEXT};
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

    // Epoch 1 in pages of 2: absorb 0-1, absorb 2-3 (settles), pay 0-1.
    let due = suite.epoch_state(TEXT).next_due_block;
    suite.advance_blocks(due - suite.height());
    for _ in 0..3 {
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
