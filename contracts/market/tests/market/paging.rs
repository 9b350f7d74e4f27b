//! The paged epoch (`epoch { graph, max_rows }`): identical to the one-shot
//! epoch to the token, and what happens to messages sent between pages.

use crate::suite::{Suite, SuiteBuilder, wasm_attribute};
use agora_market::ContractError;
use agora_market::msg::{Consensus, GraphParams, PeerInfo, TEXT};
use proptest::prelude::*;
use rust_decimal::prelude::dec;

const PEERS: [&str; 12] = [
    "alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi", "ivan", "judy", "mallory",
    "oscar",
];

/// A row sent by a peer: (sender, [(target, value)]).
type SentRow = (usize, Vec<(usize, u16)>);

/// A graph to run twice: stakes, rows and row changes between epochs.
#[derive(Clone, Debug)]
struct Story {
    peers: usize,
    decay: rust_decimal::Decimal,
    consensus: Consensus,
    stakes: Vec<u128>,
    /// Per epoch, rows sent before it: (sender, [(target, value)]).
    rows: Vec<Vec<SentRow>>,
}

fn story() -> impl Strategy<Value = Story> {
    (3usize..=12).prop_flat_map(|peers| {
        let row = (
            0..peers,
            prop::collection::btree_map(0..peers, 1u16..=u16::MAX, 1..peers),
        )
            .prop_map(|(sender, row)| (sender, row.into_iter().collect::<Vec<_>>()));
        (
            Just(peers),
            prop_oneof![Just(dec!(0)), Just(dec!(0.1))],
            prop_oneof![Just(Consensus::Sigmoid), Just(Consensus::Median)],
            prop::collection::vec(0u128..5_000_000, peers),
            prop::collection::vec(prop::collection::vec(row, 0..peers), 3),
        )
            .prop_map(|(peers, decay, consensus, stakes, rows)| Story {
                peers,
                decay,
                consensus,
                stakes,
                rows,
            })
    })
}

impl Story {
    fn suite(&self) -> Suite {
        let (decay, consensus) = (self.decay, self.consensus);
        let mut suite = SuiteBuilder::new()
            .with_params(|p: &mut GraphParams| {
                p.bond_decay = decay.into();
                p.consensus = consensus;
                // Random rows may be short: keep k at 1.
                p.peg_ceiling = 1;
            })
            .build();
        suite.fund(TEXT, 10_000_000_000).unwrap();
        for name in &PEERS[..self.peers] {
            suite.register(name).unwrap();
        }
        suite.next_block();
        for (name, stake) in PEERS.iter().zip(&self.stakes) {
            if *stake > 0 {
                suite.stake(name, *stake).unwrap();
            }
        }
        suite
    }

    fn send_rows(&self, suite: &mut Suite, epoch: usize) {
        suite.next_block();
        for (sender, row) in &self.rows[epoch] {
            let row: Vec<(u16, u16)> = row
                .iter()
                .filter(|(target, _)| target != sender)
                .map(|(target, value)| (*target as u16, *value))
                .collect();
            if !row.is_empty() {
                suite.set_weights(PEERS[*sender], &row).unwrap();
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(16))]

    /// Pages of any size give what one transaction gives, to the token and
    /// to the last digit of every score, epoch after epoch.
    #[test]
    fn paged_epochs_equal_one_shot(story in story(), pages in prop::collection::vec(1u32..30, 3)) {
        let mut one_shot = story.suite();
        let mut paged = story.suite();
        for (epoch, max_rows) in pages.iter().enumerate() {
            story.send_rows(&mut one_shot, epoch);
            story.send_rows(&mut paged, epoch);
            one_shot.run_epoch(TEXT);
            let count = paged.run_epoch_paged(TEXT, *max_rows);
            // Each pass touches every uid once. A page that settles stops
            // there unless it can pay everyone too; after rows absorbed by
            // earlier pages, settling is a page of its own. A median graph
            // absorbs every row in its first page.
            let peers = story.peers as u32;
            let expected = if *max_rows >= 2 * peers {
                1
            } else if story.consensus == Consensus::Median {
                1 + peers.div_ceil(*max_rows)
            } else if *max_rows >= peers {
                2
            } else {
                2 * peers.div_ceil(*max_rows) + 1
            };
            prop_assert_eq!(count, expected);
            // Pages run in later blocks, so only `last_update` may differ.
            let (a, b) = (one_shot.metagraph(TEXT), paged.metagraph(TEXT));
            prop_assert_eq!(a.len(), b.len());
            for (a, b) in a.iter().zip(&b) {
                prop_assert_eq!(results(a), results(b));
            }
            for uid in 0..story.peers as u16 {
                prop_assert_eq!(one_shot.bonds(TEXT, uid), paged.bonds(TEXT, uid));
            }
            let (a, b) = (one_shot.epoch_state(TEXT), paged.epoch_state(TEXT));
            prop_assert_eq!((a.epoch, a.k, a.last_loss, a.last_emitted, a.total_stake, a.reward_pool),
                            (b.epoch, b.k, b.last_loss, b.last_emitted, b.total_stake, b.reward_pool));
        }
    }
}

/// Four staked peers voting for each other.
fn four_peers() -> Suite {
    let mut suite = SuiteBuilder::new().build();
    suite.fund(TEXT, 1_000_000_000).unwrap();
    for name in ["alice", "bob", "carol", "dave"] {
        suite.register(name).unwrap();
    }
    suite.next_block();
    for (name, stake) in [("alice", 400), ("bob", 300), ("carol", 200), ("dave", 100)] {
        suite.stake(name, stake * 1_000_000).unwrap();
    }
    suite.next_block();
    suite.set_weights("alice", &[(1, 3), (2, 1)]).unwrap();
    suite.set_weights("bob", &[(0, 1), (2, 1)]).unwrap();
    suite.set_weights("carol", &[(0, 1), (3, 2)]).unwrap();
    suite.set_weights("dave", &[(1, 1)]).unwrap();
    suite
}

fn changes(suite: &mut Suite) {
    suite.stake("alice", 50_000_000).unwrap();
    suite.unstake("bob", 100_000_000).unwrap();
    suite.set_weights("carol", &[(1, 5)]).unwrap();
}

fn results(peer: &PeerInfo) -> impl PartialEq + std::fmt::Debug {
    (
        peer.stake,
        peer.rank,
        peer.trust,
        peer.incentive,
        peer.dividends,
        peer.median,
        peer.vtrust,
        peer.last_paid,
        peer.results_epoch,
    )
}

/// docs/SPEC.md §3 reads stake and rows "at the epoch": with pages, that is when
/// its first page runs. Stake moved and a row sent between pages count
/// from the next epoch, exactly as if they came after the last page.
#[test]
fn changes_between_pages_count_from_the_next_epoch() {
    let mut between = four_peers();
    let mut after = four_peers();

    let due = between.epoch_state(TEXT).next_due_block;
    between.advance_blocks(due - between.height());
    after.advance_blocks(due - after.height());
    let first = between.epoch_page(TEXT, 3).unwrap();
    assert_eq!(wasm_attribute(&first, "finished").as_deref(), Some("false"));
    let progress = between.epoch_state(TEXT).in_progress.expect("running");
    assert_eq!((progress.phase.as_str(), progress.next_uid), ("absorb", 3));
    between.next_block();
    changes(&mut between);
    // Carol's row waits: the running epoch has yet to pay her.
    assert_eq!(
        between.weights(TEXT, 2).pending,
        Some(vec![(1, 5)]),
        "the new row is held"
    );
    assert_eq!(between.weights(TEXT, 2).weights, vec![(0, 1), (3, 2)]);
    between.run_epoch_paged(TEXT, 3);
    assert_eq!(between.weights(TEXT, 2).weights, vec![(1, 5)]);
    assert_eq!(between.weights(TEXT, 2).pending, None);

    after.epoch(TEXT).unwrap();
    after.next_block();
    changes(&mut after);

    for (a, b) in between.metagraph(TEXT).iter().zip(&after.metagraph(TEXT)) {
        assert_eq!(
            results(a),
            results(b),
            "uid {} after the first epoch",
            a.uid
        );
    }
    between.run_epoch_paged(TEXT, 3);
    after.run_epoch(TEXT);
    for (a, b) in between.metagraph(TEXT).iter().zip(&after.metagraph(TEXT)) {
        assert_eq!(
            results(a),
            results(b),
            "uid {} after the second epoch",
            a.uid
        );
    }
    for uid in 0..4 {
        assert_eq!(between.bonds(TEXT, uid), after.bonds(TEXT, uid));
    }
}

/// While pages run, queries show the last finished epoch's results, even
/// for peers the running epoch has already paid.
#[test]
fn queries_show_the_last_finished_epoch_while_pages_run() {
    let mut suite = four_peers();
    suite.run_epoch(TEXT);
    let finished: Vec<_> = suite.metagraph(TEXT).iter().map(|p| p.incentive).collect();
    assert!(
        suite
            .metagraph(TEXT)
            .iter()
            .all(|p| p.results_epoch == Some(0))
    );

    suite.next_block();
    suite.set_weights("dave", &[(0, 1)]).unwrap();
    let due = suite.epoch_state(TEXT).next_due_block;
    suite.advance_blocks(due - suite.height());
    // Pages of 3: absorb uids 0-2; absorb uid 3; settle (a page of its own
    // after earlier absorb pages); pay uids 0-2.
    for _ in 0..4 {
        suite.epoch_page(TEXT, 3).unwrap();
    }
    let progress = suite.epoch_state(TEXT).in_progress.expect("running");
    assert_eq!((progress.phase.as_str(), progress.next_uid), ("pay", 3));
    let during = suite.metagraph(TEXT);
    assert!(during.iter().all(|p| p.results_epoch == Some(0)));
    let shown: Vec<_> = during.iter().map(|p| p.incentive).collect();
    assert_eq!(shown, finished);

    suite.epoch_page(TEXT, 3).unwrap();
    assert_eq!(suite.epoch_state(TEXT).in_progress, None);
    let done = suite.metagraph(TEXT);
    assert!(done.iter().all(|p| p.results_epoch == Some(1)));
    assert_ne!(
        done.iter().map(|p| p.incentive).collect::<Vec<_>>(),
        finished,
        "dave's new row moved incentive"
    );
}

/// What cannot run while pages run is refused with its own error and
/// changes nothing; an empty page is refused; a finished epoch cannot run
/// again before it is due.
#[test]
fn refusals_around_a_running_epoch() {
    let mut suite = SuiteBuilder::new()
        .with_params(|p| {
            p.max_peers = 4;
            p.immunity_period = 0;
        })
        .build();
    suite.fund(TEXT, 1_000_000).unwrap();
    for name in ["alice", "bob", "carol", "dave"] {
        suite.register(name).unwrap();
    }
    suite.next_block();
    suite.stake("alice", 1_000).unwrap();
    suite.set_weights("alice", &[(1, 1)]).unwrap();
    let due = suite.epoch_state(TEXT).next_due_block;
    suite.advance_blocks(due - suite.height());

    suite
        .epoch_page(TEXT, 0)
        .unwrap_err()
        .is(ContractError::EmptyPage);
    suite.epoch_page(TEXT, 1).unwrap();
    suite
        .register("erin")
        .unwrap_err()
        .is(ContractError::EpochInProgress {
            graph: TEXT.to_string(),
            action: "registration into a full graph",
        });
    let params = suite.params();
    suite
        .update_params(params)
        .unwrap_err()
        .is(ContractError::EpochInProgress {
            graph: TEXT.to_string(),
            action: "update_params",
        });
    // The next page continues the running epoch even though it is no
    // longer "due" from the clock's point of view.
    suite.run_epoch_paged(TEXT, 1);
    let next_due = suite.epoch_state(TEXT).next_due_block;
    suite
        .epoch_page(TEXT, 1)
        .unwrap_err()
        .is(ContractError::EpochNotDue {
            graph: TEXT.to_string(),
            next_due,
        });
    // Once closed, the full graph prunes again.
    suite.register("erin").unwrap();
}
