//! Commit-reveal weights: every refusal of the path, the window, and a
//! revealed row counting like `set_weights`.

use crate::suite::{Suite, SuiteBuilder};
use agora_market::ContractError;
use agora_market::execute::commit::{MAX_PENDING_COMMITS, commit_hash};
use agora_market::msg::{ExecuteMsg, GraphParams, TEXT};
use cosmwasm_std::HexBinary;
use rust_decimal::Decimal;

const SALT: &[u8] = b"a salt of 24 bytes......";
const ROW: &[(u16, u16)] = &[(1, 3), (2, 1)];

/// alice, bob, carol, staked; reveals come `reveal_period` = 2 epochs after
/// their commit.
fn graph() -> Suite {
    graph_with(|p| p.reveal_period = 2, &["alice", "bob", "carol"])
}

/// A commit-reveal graph of alice, bob and carol, params changed by
/// `change`, the `staked` ones with 1,000,000 each.
fn graph_with(change: impl FnOnce(&mut GraphParams), staked: &[&str]) -> Suite {
    let mut suite = SuiteBuilder::new()
        .with_params(|p| {
            p.commit_reveal = true;
            change(p);
        })
        .build();
    suite.fund(TEXT, 1_000_000_000).unwrap();
    for name in ["alice", "bob", "carol"] {
        suite.register(name).unwrap();
    }
    suite.next_block();
    for name in staked {
        suite.stake(name, 1_000_000).unwrap();
    }
    suite
}

#[test]
fn a_row_is_committed_then_revealed_in_its_window_and_counts() {
    let mut suite = graph();
    suite
        .set_weights("alice", ROW)
        .unwrap_err()
        .is(ContractError::CommitRevealRequired {
            graph: TEXT.to_string(),
        });
    suite.commit("alice", ROW, SALT).unwrap();
    let hash = HexBinary::from(commit_hash(0, ROW, SALT));
    let commits = suite.commits(0).commits;
    assert_eq!(commits.len(), 1);
    assert_eq!(commits[0].hash, hash);
    assert_eq!(
        (commits[0].committed_at_epoch, commits[0].reveal_at_epoch),
        (0, 2)
    );
    assert!(!commits[0].expired);
    // The query shows hashes, never rows: nothing to copy yet.
    assert_eq!(suite.weights(TEXT, 0).weights, vec![]);

    suite
        .reveal("alice", ROW, SALT)
        .unwrap_err()
        .is(ContractError::RevealTooEarly {
            reveal_at_epoch: 2,
            epoch: 0,
        });
    suite.run_epoch(TEXT);
    suite
        .reveal("alice", ROW, SALT)
        .unwrap_err()
        .is(ContractError::RevealTooEarly {
            reveal_at_epoch: 2,
            epoch: 1,
        });
    suite.run_epoch(TEXT);
    // The wrong salt, or another row, matches no commit.
    let wrong = b"another salt of 24 bytes";
    suite
        .reveal("alice", ROW, wrong)
        .unwrap_err()
        .is(ContractError::RevealMismatch {
            hash: HexBinary::from(commit_hash(0, ROW, wrong)).to_hex(),
        });
    // The entries' order as sent does not matter.
    suite.reveal("alice", &[(2, 1), (1, 3)], SALT).unwrap();
    assert_eq!(suite.weights(TEXT, 0).weights, ROW.to_vec());
    assert_eq!(suite.commits(0).commits, vec![]);
    suite
        .reveal("alice", ROW, SALT)
        .unwrap_err()
        .is(ContractError::NoCommit { uid: 0 });

    // The revealed row counts at the next epoch like any row.
    suite.run_epoch(TEXT);
    let bob = suite.peer(TEXT, 1);
    assert_eq!(
        bob.trust.0,
        rust_decimal::Decimal::ONE / rust_decimal::Decimal::from(3)
    );
}

#[test]
fn a_reveal_runs_every_check_of_set_weights() {
    let mut suite = graph();
    let self_weight: &[(u16, u16)] = &[(0, 1)];
    suite.commit("alice", self_weight, SALT).unwrap();
    suite.run_epoch(TEXT);
    suite.run_epoch(TEXT);
    suite
        .reveal("alice", self_weight, SALT)
        .unwrap_err()
        .is(ContractError::SelfWeight { uid: 0 });
    // Refused, so the commit is still there (the suite also checks that
    // nothing else changed).
    assert_eq!(suite.commits(0).commits.len(), 1);
}

#[test]
fn a_late_reveal_is_refused_and_expired_commits_are_dropped() {
    let mut suite = graph();
    suite.commit("alice", ROW, SALT).unwrap();
    for _ in 0..3 {
        suite.run_epoch(TEXT);
    }
    assert!(suite.commits(0).commits[0].expired);
    suite
        .reveal("alice", ROW, SALT)
        .unwrap_err()
        .is(ContractError::RevealTooLate {
            reveal_at_epoch: 2,
            epoch: 3,
        });
    // The next commit drops the expired one.
    suite.commit("alice", &[(1, 1)], SALT).unwrap();
    let commits = suite.commits(0).commits;
    assert_eq!(commits.len(), 1);
    assert_eq!(commits[0].committed_at_epoch, 3);
}

#[test]
fn commits_are_bounded_unique_and_well_formed() {
    let mut suite = graph();
    // One commit per reveal window: a second row for the same window could
    // be revealed instead of the first once the others' are seen.
    suite.commit("carol", &[(1, 1)], SALT).unwrap();
    suite
        .commit("carol", &[(1, 2)], SALT)
        .unwrap_err()
        .is(ContractError::CommitWindowTaken { reveal_at_epoch: 2 });
    // With a long period, one commit per epoch reaches the bound.
    let mut params = suite.params();
    params.reveal_period = 10;
    suite.update_params(params).unwrap();
    for value in 1..=MAX_PENDING_COMMITS as u16 {
        suite.commit("alice", &[(1, value)], SALT).unwrap();
        suite.run_epoch(TEXT);
    }
    suite
        .commit("alice", &[(1, 99)], SALT)
        .unwrap_err()
        .is(ContractError::TooManyCommits {
            max: MAX_PENDING_COMMITS,
        });
    suite
        .commit("bob", ROW, SALT)
        .map(|_| ())
        .and_then(|_| suite.commit("bob", ROW, SALT))
        .unwrap_err()
        .is(ContractError::DuplicateCommit {
            hash: HexBinary::from(commit_hash(1, ROW, SALT)).to_hex(),
        });
    suite
        .execute(
            "carol",
            ExecuteMsg::CommitWeights {
                graph: TEXT.to_string(),
                hash: HexBinary::from(vec![0u8; 31]),
            },
            0,
        )
        .unwrap_err()
        .is(ContractError::InvalidHash { len: 31 });
    suite
        .reveal("bob", ROW, b"short")
        .unwrap_err()
        .is(ContractError::InvalidSalt { len: 5 });
    suite
        .execute(
            "mallory",
            ExecuteMsg::CommitWeights {
                graph: TEXT.to_string(),
                hash: HexBinary::from(commit_hash(9, ROW, SALT)),
            },
            0,
        )
        .unwrap_err()
        .mentions("is not registered in graph TEXT");
}

#[test]
fn reveal_period_is_validated() {
    let mut suite = graph();
    let mut params = suite.params();
    params.reveal_period = 0;
    suite
        .update_params(params)
        .unwrap_err()
        .is(ContractError::InvalidParams {
            name: "reveal_period".to_string(),
            reason: "must be in 1..=100 epochs".to_string(),
        });
}

#[test]
fn graphs_without_commit_reveal_refuse_commits() {
    let mut suite = SuiteBuilder::new().build();
    suite.register("alice").unwrap();
    suite.register("bob").unwrap();
    suite
        .commit("alice", &[(1, 1)], SALT)
        .unwrap_err()
        .is(ContractError::CommitRevealOff {
            graph: TEXT.to_string(),
        });
    suite
        .reveal("alice", &[(1, 1)], SALT)
        .unwrap_err()
        .is(ContractError::CommitRevealOff {
            graph: TEXT.to_string(),
        });
    suite.set_weights("alice", &[(1, 1)]).unwrap();
}

#[test]
fn changing_the_mode_or_the_period_neither_strands_nor_moves_a_commit() {
    let mut suite = graph();
    suite.commit("alice", ROW, SALT).unwrap();
    // A longer reveal_period applies to new commits only: alice's stays
    // due at epoch 2.
    let mut params = suite.params();
    params.reveal_period = 5;
    suite.update_params(params.clone()).unwrap();
    assert_eq!(suite.commits(0).commits[0].reveal_at_epoch, 2);
    suite.commit("bob", &[(0, 1), (2, 1)], SALT).unwrap();
    assert_eq!(suite.commits(1).commits[0].reveal_at_epoch, 5);

    // Commit-reveal off: set_weights is open again, and the commits made
    // before stay revealable in their windows.
    params.commit_reveal = false;
    suite.update_params(params).unwrap();
    suite.set_weights("carol", &[(0, 1), (1, 1)]).unwrap();
    suite.run_epoch(TEXT);
    suite.run_epoch(TEXT);
    suite.reveal("alice", ROW, SALT).unwrap();
    assert_eq!(suite.weights(TEXT, 0).weights, ROW.to_vec());
    assert!(suite.commits(0).commits.is_empty());
    // With no commit left, a reveal on a graph without commit-reveal says so.
    suite
        .reveal("alice", ROW, SALT)
        .unwrap_err()
        .is(ContractError::CommitRevealOff {
            graph: TEXT.to_string(),
        });
}

/// Whose rows an epoch counted toward carol: both, bob's alone, or
/// neither, read off carol's rank `Σ ŵ s` against the stake shares the
/// epoch started with.
#[derive(Debug, PartialEq)]
enum Counted {
    Both,
    BobOnly,
    Neither,
}

/// alice and bob both rank carol, `reveal_period` 1; alice reveals only
/// where `alice_reveals` says so (and always commits anew).
fn rows_counted_when_alice_skips(binding: bool, alice_reveals: &[bool]) -> Vec<Counted> {
    let mut suite = graph_with(
        |p| {
            p.binding_reveal = binding;
            // One-entry rows stay valid: k never rises.
            p.peg_ceiling = 1;
        },
        &["alice", "bob"],
    );
    let row: &[(u16, u16)] = &[(2, 1)];
    let salt = |epoch: u64| format!("a salt for epoch {epoch:>8}").into_bytes();
    let mut counted = Vec::new();
    for (epoch, reveals) in alice_reveals.iter().enumerate() {
        let epoch = epoch as u64;
        if epoch > 0 {
            suite.reveal("bob", row, &salt(epoch - 1)).unwrap();
            if *reveals {
                suite.reveal("alice", row, &salt(epoch - 1)).unwrap();
            }
        }
        for name in ["alice", "bob"] {
            suite.commit(name, row, &salt(epoch)).unwrap();
        }
        let stakes: Vec<Decimal> = (0..3)
            .map(|uid| Decimal::from(suite.stake_of(TEXT, uid)))
            .collect();
        let total: Decimal = stakes.iter().sum();
        suite.run_epoch(TEXT);
        let rank = suite.peer(TEXT, 2).rank.0.round_dp(20);
        let share = |stake: Decimal| (stake / total).round_dp(20);
        counted.push(if rank == share(stakes[0] + stakes[1]) {
            Counted::Both
        } else if rank == share(stakes[1]) {
            Counted::BobOnly
        } else {
            assert!(rank.is_zero(), "rank {rank}");
            Counted::Neither
        });
    }
    counted
}

#[test]
fn a_missed_reveal_holds_the_old_row_back_until_the_next_reveal() {
    use Counted::*;
    // Epoch 0: no rows yet. Epoch 1: both revealed. Alice then skips two
    // reveals: the window of her epoch-1 commit passes with epoch 2, and
    // she has not revealed again before epoch 3. She reveals before epoch 4.
    let reveals = [false, true, false, false, true, true];
    // Without binding, alice's old row keeps counting while she withholds.
    assert_eq!(
        rows_counted_when_alice_skips(false, &reveals),
        [Neither, Both, Both, Both, Both, Both]
    );
    // With binding: epoch 2 still counts her old row (her window was open
    // through it); epoch 3 counts bob's alone; from her next reveal on,
    // both again.
    assert_eq!(
        rows_counted_when_alice_skips(true, &reveals),
        [Neither, Both, Both, BobOnly, Both, Both]
    );
}
