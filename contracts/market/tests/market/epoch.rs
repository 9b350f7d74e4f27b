//! Epochs on chain: the contract and `agora sim` agree to the token, and the
//! adversarial stories of docs/SPEC.md §3, §6, §7 and §8.

use crate::suite::{Suite, SuiteBuilder};
use agora_market::ContractError;
use agora_market::msg::{Consensus, ExecuteMsg, GraphParams, TEXT};
use agora_mechanism::scenario::Scenario;

const NAMES: [&str; 10] = [
    "alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi", "ivan", "judy",
];

/// docs/SPEC.md §8's cabal on chain: 10 peers staking 100,000,000 each; uids 0-5
/// honest, 6-9 a cabal; each side fully connected inside itself, with
/// uneven weights (`1 + j % 3`) so that the median of §3b has work to do.
fn cabal_suite() -> Suite {
    cabal_suite_in(Consensus::Sigmoid)
}

fn cabal_suite_in(consensus: Consensus) -> Suite {
    let mut suite = SuiteBuilder::new()
        .with_params(|p| {
            p.consensus = consensus;
            p.emission_per_epoch = 10_000_000u128.into();
            // Rows are set once; keep them fresh for the whole story.
            p.activity_cutoff = 1_000_000;
        })
        .with_account("funder", 1_000_000_000_000_000)
        .build();
    for name in NAMES {
        suite.register(name).unwrap();
        suite.stake(name, 100_000_000).unwrap();
    }
    suite.next_block();
    for (uid, name) in NAMES.iter().enumerate() {
        let side = if uid < 6 { 0..6u16 } else { 6..10u16 };
        let row: Vec<(u16, u16)> = side
            .filter(|j| usize::from(*j) != uid)
            .map(|j| (j, 1 + j % 3))
            .collect();
        suite.set_weights(name, &row).unwrap();
    }
    suite.fund(TEXT, 1_000_000_000_000_000).unwrap();
    suite
}

fn cabal_scenario(epochs: u32, consensus: &str) -> Scenario {
    let mut weights = String::new();
    for uid in 0..10u16 {
        let side = if uid < 6 { 0..6u16 } else { 6..10u16 };
        let row: Vec<String> = side
            .filter(|j| *j != uid)
            .map(|j| format!("\"{j}\": {}", 1 + j % 3))
            .collect();
        weights += &format!(
            "{}\"{uid}\": {{{}}}",
            if uid > 0 { ", " } else { "" },
            row.join(", ")
        );
    }
    let json = format!(
        r#"{{"params": {{"emission_per_epoch": "10000000", "consensus": "{consensus}"}},
            "reward_pool": "1000000000000000",
            "stake": [{}], "weights": {{{weights}}}, "epochs": {epochs}}}"#,
        ["\"100000000\""; 10].join(", ")
    );
    Scenario::from_json(&json).unwrap()
}

#[test]
fn the_contract_and_agora_sim_agree_to_the_token() {
    contract_equals_sim(Consensus::Sigmoid, "sigmoid");
}

#[test]
fn the_contract_and_agora_sim_agree_to_the_token_in_median_mode() {
    contract_equals_sim(Consensus::Median, "median");
}

fn contract_equals_sim(consensus: Consensus, name: &str) {
    let mut suite = cabal_suite_in(consensus);
    let reports = cabal_scenario(50, name).run().unwrap();
    for report in &reports {
        suite.run_epoch(TEXT);
        let peers = suite.metagraph(TEXT);
        let paid: Vec<u128> = peers.iter().map(|p| p.last_paid.u128()).collect();
        let stake: Vec<u128> = peers.iter().map(|p| p.stake.u128()).collect();
        assert_eq!(paid, report.paid, "epoch {}", report.epoch);
        assert_eq!(stake, report.stake_after, "epoch {}", report.epoch);
        for (peer, incentive) in peers.iter().zip(&report.incentive) {
            assert_eq!(peer.incentive.0.normalize(), *incentive);
        }
        let median: Option<Vec<_>> = peers
            .iter()
            .map(|p| p.median.map(|c| c.0.normalize()))
            .collect();
        let vtrust: Option<Vec<_>> = peers
            .iter()
            .map(|p| p.vtrust.map(|v| v.0.normalize()))
            .collect();
        assert_eq!(median, report.median, "epoch {}", report.epoch);
        assert_eq!(vtrust, report.vtrust, "epoch {}", report.epoch);
        let state = suite.epoch_state(TEXT);
        assert_eq!(state.last_loss.0.normalize(), report.loss);
        assert_eq!(state.k, report.k_after);
        assert_eq!(state.reward_pool.u128(), report.reward_pool_after);
    }
}

#[test]
fn a_cabal_with_40_percent_of_stake_loses_share_epoch_after_epoch() {
    let mut suite = cabal_suite();
    let cabal_share = |suite: &Suite| {
        let stake: Vec<u128> = suite
            .metagraph(TEXT)
            .iter()
            .map(|p| p.stake.u128())
            .collect();
        stake[6..].iter().sum::<u128>() as f64 / stake.iter().sum::<u128>() as f64
    };
    let mut previous = cabal_share(&suite);
    assert!((previous - 0.4).abs() < 1e-12);
    for _ in 0..20 {
        suite.run_epoch(TEXT);
        let share = cabal_share(&suite);
        assert!(share < previous);
        previous = share;
    }
    // The ranking puts every honest peer above every cabal member.
    let ranking: agora_market::msg::MetagraphResponse =
        suite.query(&agora_market::msg::QueryMsg::Ranking {
            graph: TEXT.to_string(),
            limit: Some(10),
        });
    let order: Vec<u16> = ranking.peers.iter().map(|p| p.uid).collect();
    assert!(order[..6].iter().all(|uid| *uid < 6), "{order:?}");
}

/// docs/SPEC.md §3b on chain: the cabal's columns never reach κ of the
/// others' stake, so it is paid nothing, epoch after epoch, and ranks last.
#[test]
fn a_cabal_is_paid_nothing_in_median_mode() {
    let mut suite = cabal_suite_in(Consensus::Median);
    for _ in 0..5 {
        suite.run_epoch(TEXT);
        for peer in &suite.metagraph(TEXT)[6..] {
            assert_eq!(peer.last_paid.u128(), 0, "uid {}", peer.uid);
            assert_eq!(peer.median.map(|c| c.0), Some(rust_decimal::Decimal::ZERO));
            assert_eq!(peer.vtrust.map(|v| v.0), Some(rust_decimal::Decimal::ZERO));
        }
    }
}

#[test]
fn an_epoch_before_it_is_due_is_refused() {
    let mut suite = cabal_suite();
    let due = suite.epoch_state(TEXT).next_due_block;
    suite
        .epoch(TEXT)
        .unwrap_err()
        .is(ContractError::EpochNotDue {
            graph: TEXT.to_string(),
            next_due: due,
        });
    suite.run_epoch(TEXT);
    let state = suite.epoch_state(TEXT);
    assert_eq!(state.epoch, 1);
    assert_eq!(state.next_due_block, suite.height() + 100);
    suite
        .epoch(TEXT)
        .unwrap_err()
        .is(ContractError::EpochNotDue {
            graph: TEXT.to_string(),
            next_due: state.next_due_block,
        });
}

#[test]
fn rows_stop_counting_after_activity_cutoff() {
    let mut suite = SuiteBuilder::new()
        .with_params(|p| {
            p.activity_cutoff = 150;
        })
        .build();
    for name in ["alice", "bob", "carol"] {
        suite.register(name).unwrap();
        suite.stake(name, 1_000).unwrap();
    }
    suite.fund(TEXT, 100_000_000).unwrap();
    suite.next_block();
    suite.set_weights("alice", &[(2, 1)]).unwrap();
    suite.set_weights("bob", &[(2, 1)]).unwrap();
    suite.run_epoch(TEXT);
    assert!(suite.peer(TEXT, 2).rank.0 > rust_decimal::Decimal::ZERO);
    // Bob refreshes his row; alice's goes stale.
    suite.advance_blocks(100);
    suite.set_weights("bob", &[(2, 1)]).unwrap();
    suite.run_epoch(TEXT);
    let carol = suite.peer(TEXT, 2);
    // Only bob's stake (at the epoch, before its payout) still votes for carol.
    let bob = suite.peer(TEXT, 1);
    let bob_stake_at_epoch = rust_decimal::Decimal::from(bob.stake.u128() - bob.last_paid.u128());
    assert_eq!(carol.trust.0, bob_stake_at_epoch / total(&suite));
}

/// Total stake as it stood when the last epoch ran (stake before payout).
fn total(suite: &Suite) -> rust_decimal::Decimal {
    let peers = suite.metagraph(TEXT);
    let after: u128 = peers.iter().map(|p| p.stake.u128()).sum();
    let paid: u128 = peers.iter().map(|p| p.last_paid.u128()).sum();
    rust_decimal::Decimal::from(after - paid)
}

#[test]
fn the_peg_raises_k_while_loss_is_positive_and_refuses_short_rows() {
    // One peer of three votes: the vote has a third of the stake behind it,
    // below κ, so consensus < ½ and the loss is positive.
    let mut suite = SuiteBuilder::new().build();
    for name in ["alice", "bob", "carol", "dave"] {
        suite.register(name).unwrap();
        suite.stake(name, 1_000).unwrap();
    }
    suite.fund(TEXT, 100_000_000).unwrap();
    suite.next_block();
    suite.set_weights("alice", &[(3, 1)]).unwrap();
    suite.run_epoch(TEXT);
    let state = suite.epoch_state(TEXT);
    assert!(state.last_loss.0 > rust_decimal::Decimal::ZERO);
    assert_eq!(state.k, 2);
    suite.run_epoch(TEXT);
    assert_eq!(suite.epoch_state(TEXT).k, 3);
    // A one-entry row is now refused; a row of three is fine.
    suite
        .set_weights("bob", &[(3, 1)])
        .unwrap_err()
        .is(ContractError::TooFewWeights {
            got: 1,
            min: 3,
            k: 3,
        });
    suite.set_weights("bob", &[(0, 1), (2, 1), (3, 1)]).unwrap();
}

/// Alice votes for bob (uid 1) and carol (uid 2), 1 : 3, and so holds
/// bonds toward both. Bob and carol hold no stake; bob earns less and is
/// pruned for dave, who takes uid 1. Dave inherits neither alice's vote (cast before he registered)
/// nor the bonds she held toward bob.
#[test]
fn a_recycled_uid_inherits_no_votes_or_bonds() {
    let mut suite = SuiteBuilder::new()
        .with_params(|p| {
            p.max_peers = 3;
            p.immunity_period = 10;
        })
        .build();
    for name in ["alice", "bob", "carol"] {
        suite.register(name).unwrap();
    }
    suite.stake("alice", 1_000).unwrap();
    suite.fund(TEXT, 100_000_000).unwrap();
    suite.next_block();
    suite.set_weights("alice", &[(1, 1), (2, 3)]).unwrap();
    suite.run_epoch(TEXT);
    assert!(suite.bonds(TEXT, 0).bonds.iter().any(|(j, _)| *j == 1));
    assert!(suite.peer(TEXT, 1).incentive.0 < suite.peer(TEXT, 2).incentive.0);

    suite.advance_blocks(10);
    suite.register("dave").unwrap();
    assert_eq!(suite.uid("dave"), 1);
    suite.run_epoch(TEXT);
    let dave = suite.peer(TEXT, 1);
    assert!(dave.rank.0.is_zero() && dave.trust.0.is_zero() && dave.incentive.0.is_zero());
    assert!(suite.bonds(TEXT, 0).bonds.iter().all(|(j, _)| *j != 1));
    // Alice's vote for carol still counts, now as her whole row.
    assert!(suite.peer(TEXT, 2).rank.0 > rust_decimal::Decimal::ZERO);
}

#[test]
fn a_second_graph_is_independent_of_text() {
    let mut suite = SuiteBuilder::new().build();
    suite
        .execute(
            "admin",
            ExecuteMsg::AddGraph {
                modality: "IMAGE".to_string(),
                params: GraphParams::builder()
                    .emission_per_epoch(500)
                    .registration_fee(7)
                    .unbonding_period(10)
                    .build(),
            },
            0,
        )
        .unwrap();
    suite.register("alice").unwrap();
    suite.register("bob").unwrap();
    suite.register_in("bob", "IMAGE", 7).unwrap();
    suite.register_in("carol", "IMAGE", 7).unwrap();
    // Bob is uid 1 in TEXT and uid 0 in IMAGE.
    assert_eq!(suite.peer("IMAGE", 0).address, suite.addr("bob"));
    suite.stake("alice", 1_000).unwrap();
    suite.stake("bob", 1_000).unwrap();
    suite.stake_in("bob", "IMAGE", 5_000).unwrap();
    suite.stake_in("carol", "IMAGE", 5_000).unwrap();
    suite.fund(TEXT, 1_000_000).unwrap();
    suite.fund("IMAGE", 1_000_000).unwrap();
    suite.next_block();
    suite.set_weights("alice", &[(1, 1)]).unwrap();
    suite.set_weights("bob", &[(0, 1)]).unwrap();
    suite.set_weights_in("bob", "IMAGE", &[(1, 1)]).unwrap();
    suite.set_weights_in("carol", "IMAGE", &[(0, 1)]).unwrap();

    let image_before = suite.metagraph("IMAGE");
    suite.run_epoch(TEXT);
    // TEXT's epoch touched nothing in IMAGE…
    assert_eq!(suite.metagraph("IMAGE"), image_before);
    assert_eq!(suite.epoch_state("IMAGE").epoch, 0);
    // …and IMAGE pays its own emission from its own pool.
    suite.run_epoch("IMAGE");
    let image = suite.epoch_state("IMAGE");
    // Its pool held the funding and two registration fees of 7.
    assert_eq!(
        image.last_emitted.u128() + image.reward_pool.u128(),
        1_000_000 + 14
    );
    let text = suite.epoch_state(TEXT);
    assert_eq!(
        text.last_emitted.u128() + text.reward_pool.u128(),
        1_000_000
    );
}
