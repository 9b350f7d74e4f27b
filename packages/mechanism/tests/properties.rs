//! Properties of docs/SPEC.md §3 over random graphs (proptest), in both
//! consensus modes (the sigmoid of §3 and the median of §3b).

use agora_mechanism::{
    Bonds, Consensus, Decimal, EpochInput, EpochOutput, EpochParams, PeerState, Uid, epoch,
};
use proptest::prelude::*;
use rust_decimal::prelude::dec;

const BLOCK: u64 = 100;
const LAST_EPOCH: u64 = 10;

#[derive(Clone, Debug)]
struct Graph {
    params: EpochParams,
    pool: u128,
    peers: Vec<PeerState>,
}

impl Graph {
    fn run(&self) -> EpochOutput {
        epoch(&EpochInput {
            params: &self.params,
            block: BLOCK,
            last_epoch_block: LAST_EPOCH,
            k: 1,
            reward_pool: self.pool,
            peers: &self.peers,
        })
        .expect("a valid graph runs")
    }
}

fn peer_strategy(peers: usize) -> impl Strategy<Value = PeerState> {
    (
        prop_oneof![1 => Just(0u128), 4 => 0u128..1_000_000_000_000_000],
        prop_oneof![3 => Just(0u64), 1 => 0u64..60],
        0u64..=BLOCK,
        prop::collection::btree_map(0..peers as Uid, 1u16..=u16::MAX, 0..peers),
        prop::collection::btree_map(0..peers as Uid, 1u64..1_000_000_000, 0..peers),
    )
        .prop_map(
            |(stake, registered_at, last_update, weights, bonds)| PeerState {
                stake,
                registered_at,
                last_update: last_update.max(registered_at),
                weights: weights.into_iter().collect(),
                bonds: Bonds::from_values(
                    bonds
                        .into_iter()
                        .map(|(j, b)| (j, Decimal::new(b as i64, 9)))
                        .collect(),
                    LAST_EPOCH,
                ),
            },
        )
}

fn graph_strategy() -> impl Strategy<Value = Graph> {
    (2usize..10)
        .prop_flat_map(|n| {
            (
                prop::collection::vec(peer_strategy(n), n),
                1u128..100_000_000_000,
                1u128..1_000_000_000_000,
                prop_oneof![Just(dec!(0)), Just(dec!(0.1)), Just(dec!(1))],
                prop_oneof![
                    Just(dec!(0.5)),
                    Just(dec!(0)),
                    Just(dec!(1)),
                    Just(dec!(0.3))
                ],
                30u64..200,
                prop_oneof![Just(Consensus::Sigmoid), Just(Consensus::Median)],
            )
        })
        .prop_map(
            |(mut peers, emission, pool, decay, beta, cutoff, consensus)| {
                // No self-weights (docs/SPEC.md §3 rejects them at submission).
                for (uid, peer) in peers.iter_mut().enumerate() {
                    peer.weights.retain(|(j, _)| usize::from(*j) != uid);
                }
                let mut params = EpochParams::with_emission(emission);
                params.bond_decay = decay;
                params.bond_share = beta;
                params.activity_cutoff = cutoff;
                params.consensus = consensus;
                Graph {
                    params,
                    pool,
                    peers,
                }
            },
        )
}

fn close(a: Decimal, b: Decimal, tolerance: Decimal) -> bool {
    (a - b).abs() <= tolerance
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 256,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn shares_sum_to_one_whenever_anything_is_emitted(graph in graph_strategy()) {
        let out = graph.run();
        let total: Decimal = out.share.iter().sum();
        if out.emission > 0 {
            prop_assert!(close(total, Decimal::ONE, dec!(1e-20)), "Σ φ = {}", total);
        } else {
            prop_assert_eq!(total, Decimal::ZERO);
        }
    }

    #[test]
    fn paid_plus_remainder_is_the_emission(graph in graph_strategy()) {
        let out = graph.run();
        prop_assert!(out.emission <= graph.params.emission_per_epoch.min(graph.pool));
        prop_assert_eq!(out.paid.iter().sum::<u128>(), out.emitted);
        prop_assert!(out.emitted <= out.emission);
        prop_assert_eq!(out.reward_pool_after, graph.pool - out.emitted);
        // Rounding down n payouts loses less than one token each.
        prop_assert!(out.emission - out.emitted <= graph.peers.len() as u128);
        for (uid, peer) in graph.peers.iter().enumerate() {
            prop_assert_eq!(out.stake_after[uid], peer.stake + out.paid[uid]);
        }
    }

    #[test]
    fn trust_and_consensus_stay_in_the_unit_interval(graph in graph_strategy()) {
        let out = graph.run();
        let vectors = [&out.trust, &out.consensus, &out.incentive, &out.median, &out.vtrust];
        for value in vectors.into_iter().flatten() {
            prop_assert!(*value >= Decimal::ZERO && *value <= Decimal::ONE, "{}", value);
        }
    }

    #[test]
    fn a_peer_nobody_weights_gets_no_incentive(graph in graph_strategy(), target in 0usize..10) {
        let mut graph = graph;
        let target = (target % graph.peers.len()) as Uid;
        for peer in &mut graph.peers {
            peer.weights.retain(|(j, _)| *j != target);
        }
        let out = graph.run();
        prop_assert_eq!(out.rank[usize::from(target)], Decimal::ZERO);
        prop_assert_eq!(out.trust[usize::from(target)], Decimal::ZERO);
        prop_assert_eq!(out.incentive[usize::from(target)], Decimal::ZERO);
    }

    #[test]
    fn scaling_all_stake_changes_no_share(graph in graph_strategy(), factor in 2u128..1000) {
        let out = graph.run();
        let mut scaled = graph.clone();
        for peer in &mut scaled.peers {
            peer.stake *= factor;
        }
        let scaled_out = scaled.run();
        for uid in 0..graph.peers.len() {
            prop_assert!(close(out.stake_share[uid], scaled_out.stake_share[uid], dec!(1e-26)));
            prop_assert!(close(out.incentive[uid], scaled_out.incentive[uid], dec!(1e-20)));
            prop_assert!(close(out.share[uid], scaled_out.share[uid], dec!(1e-20)));
        }
        prop_assert_eq!(out.k_after, scaled_out.k_after);
    }

    #[test]
    fn permuting_uids_permutes_every_output(
        graph in graph_strategy(),
        seed in prop::collection::vec(any::<u32>(), 10),
    ) {
        let n = graph.peers.len();
        // A permutation of 0..n from the random keys.
        let mut order: Vec<usize> = (0..n).collect();
        order.sort_by_key(|i| (seed[*i], *i));
        let mut moved_to = vec![0 as Uid; n];
        for (new, old) in order.iter().enumerate() {
            moved_to[*old] = new as Uid;
        }
        let mut permuted = graph.clone();
        for (old, peer) in graph.peers.iter().enumerate() {
            let mut peer = peer.clone();
            peer.weights = remap(&peer.weights, &moved_to);
            peer.bonds.base = remap(&peer.bonds.base, &moved_to);
            permuted.peers[usize::from(moved_to[old])] = peer;
        }
        let out = graph.run();
        let permuted_out = permuted.run();
        let tolerance = dec!(1e-20);
        for old in 0..n {
            let new = usize::from(moved_to[old]);
            for (a, b) in [
                (&out.stake_share, &permuted_out.stake_share),
                (&out.rank, &permuted_out.rank),
                (&out.trust, &permuted_out.trust),
                (&out.consensus, &permuted_out.consensus),
                (&out.incentive, &permuted_out.incentive),
                (&out.dividends, &permuted_out.dividends),
                (&out.share, &permuted_out.share),
                (&out.median, &permuted_out.median),
                (&out.vtrust, &permuted_out.vtrust),
            ] {
                prop_assert!(close(a[old], b[new], tolerance), "uid {} → {}: {} vs {}", old, new, a[old], b[new]);
            }
            // Sums in another order may round a floor across a token.
            prop_assert!(out.paid[old].abs_diff(permuted_out.paid[new]) <= 1);
            let bonds = remap(&out.bonds[old], &moved_to);
            prop_assert_eq!(bonds.len(), permuted_out.bonds[new].len());
            for ((ja, ba), (jb, bb)) in bonds.iter().zip(&permuted_out.bonds[new]) {
                prop_assert_eq!(ja, jb);
                prop_assert!(close(*ba, *bb, tolerance));
            }
        }
        prop_assert!(close(out.loss, permuted_out.loss, tolerance));
    }

    /// docs/SPEC.md §3 step 2: a vote for a peer that registered after the row was
    /// set counts exactly as if it had never been cast.
    #[test]
    fn votes_for_later_registrations_are_masked(graph in graph_strategy(), target in 0usize..10) {
        let mut masked = graph.clone();
        let target = target % graph.peers.len();
        // Registered after every row (every last_update ≤ BLOCK).
        masked.peers[target].registered_at = BLOCK + 1;
        let mut removed = masked.clone();
        for peer in &mut removed.peers {
            peer.weights.retain(|(j, _)| usize::from(*j) != target);
        }
        let masked_out = masked.run();
        prop_assert_eq!(masked_out.rank[target], Decimal::ZERO);
        prop_assert_eq!(masked_out.trust[target], Decimal::ZERO);
        // A new peer inherits no bonds, unless nothing happens (Σ S = 0).
        if masked.peers.iter().any(|p| p.stake > 0) {
            prop_assert!(masked_out
                .bonds
                .iter()
                .all(|row| row.iter().all(|(j, _)| usize::from(*j) != target)));
        }
        prop_assert_eq!(masked_out, removed.run());
    }

    /// docs/SPEC.md §3b, read literally: `c_j` is the largest entry `w` of
    /// column `j` such that the stake of rows giving `j` at least `w`
    /// reaches `κ` of every other peer's stake; `v_i = Σ_j min(ŵ_ij, c_j)`.
    #[test]
    fn median_and_vtrust_match_their_definitions(graph in graph_strategy()) {
        let mut graph = graph;
        graph.params.consensus = Consensus::Median;
        let out = graph.run();
        let total: u128 = graph.peers.iter().map(|p| p.stake).sum();
        if total == 0 {
            prop_assert!(out.median.iter().all(|c| c.is_zero()));
            return Ok(());
        }
        let rows = counting_rows(&graph);
        for (j, peer) in graph.peers.iter().enumerate() {
            let column: Vec<(Decimal, u128)> = rows
                .iter()
                .filter_map(|(i, row)| {
                    row.iter()
                        .find(|(t, _)| usize::from(*t) == j)
                        .map(|(_, w)| (*w, graph.peers[*i].stake))
                })
                .collect();
            let threshold = graph.params.kappa * Decimal::from(total - peer.stake);
            let expected = column
                .iter()
                .map(|(w, _)| *w)
                .filter(|w| {
                    let at_least: u128 =
                        column.iter().filter(|(x, _)| x >= w).map(|(_, s)| s).sum();
                    Decimal::from(at_least) >= threshold
                })
                .max()
                .unwrap_or_default();
            prop_assert_eq!(out.median[j], expected, "c_{}", j);
        }
        for (i, vtrust) in out.vtrust.iter().enumerate() {
            let expected: Decimal = rows
                .iter()
                .find(|(row, _)| *row == i)
                .map(|(_, row)| {
                    row.iter()
                        .map(|(t, w)| (*w).min(out.median[usize::from(*t)]))
                        .sum::<Decimal>()
                        .min(Decimal::ONE)
                })
                .unwrap_or_default();
            prop_assert_eq!(*vtrust, expected, "v_{}", i);
        }
    }
}

/// `(i, ŵ_i)` for every row that counts with stake: fresh, a positive
/// visible sum, stake above 0 (docs/SPEC.md §3 step 2, §3b).
fn counting_rows(graph: &Graph) -> Vec<(usize, Vec<(Uid, Decimal)>)> {
    graph
        .peers
        .iter()
        .enumerate()
        .filter_map(|(i, peer)| {
            let visible: Vec<(Uid, u16)> = peer
                .weights
                .iter()
                .copied()
                .filter(|(t, _)| graph.peers[usize::from(*t)].registered_at < peer.last_update)
                .collect();
            let sum: u64 = visible.iter().map(|(_, w)| u64::from(*w)).sum();
            let fresh = BLOCK - peer.last_update <= graph.params.activity_cutoff;
            (fresh && sum > 0 && peer.stake > 0).then(|| {
                let row = visible
                    .iter()
                    .map(|(t, w)| (*t, Decimal::from(*w) / Decimal::from(sum)))
                    .collect();
                (i, row)
            })
        })
        .collect()
}

fn remap<T: Copy>(row: &[(Uid, T)], moved_to: &[Uid]) -> Vec<(Uid, T)> {
    let mut row: Vec<(Uid, T)> = row
        .iter()
        .map(|(j, v)| (moved_to[usize::from(*j)], *v))
        .collect();
    row.sort_by_key(|(j, _)| *j);
    row
}
