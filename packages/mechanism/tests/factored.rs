//! The factored bonds (`Bonds`) against docs/SPEC.md §3 step 7 as written: a
//! step-by-step recurrence on plain bond rows, over epochs in which rows
//! change and uids are recycled; and the bound of §3c, that a rebased row
//! keeps at most `max_weights_per_row` bonds.

use std::collections::BTreeMap;

use agora_mechanism::{Decimal, EpochInput, EpochParams, PeerState, Uid, epoch, visible_vote_sum};
use proptest::prelude::*;
use rust_decimal::prelude::dec;

const EPOCH_LENGTH: u64 = 10;

#[derive(Clone, Debug)]
enum Event {
    /// Peer sends a new row (targets and values; self and duplicates are
    /// dropped).
    SetRow(usize, Vec<(usize, u16)>),
    /// A uid is pruned and registered again: no row, no bonds, new stake.
    Recycle(usize, u128),
}

fn event(peers: usize) -> impl Strategy<Value = Event> {
    prop_oneof![
        3 => (0..peers, prop::collection::vec((0..peers, 1u16..=u16::MAX), 1..peers))
            .prop_map(|(uid, row)| Event::SetRow(uid, row)),
        1 => (1..peers, 0u128..1_000_000).prop_map(|(uid, stake)| Event::Recycle(uid, stake)),
    ]
}

/// docs/SPEC.md §3c's bound on a plain bond row: its `max` largest bonds
/// (ties: the lower uid).
fn keep_largest(row: &mut BTreeMap<Uid, Decimal>, max: usize) {
    if row.len() > max {
        let mut bonds: Vec<(Uid, Decimal)> = row.iter().map(|(j, b)| (*j, *b)).collect();
        bonds.sort_by(|(i, a), (j, b)| b.cmp(a).then(i.cmp(j)));
        *row = bonds.into_iter().take(max).collect();
    }
}

/// docs/SPEC.md §3 step 7 verbatim: zero bonds toward peers registered since the
/// previous epoch, then `b ← (1 − d) b + ŵ s`; with §3c's bound where the
/// row's base is taken anew (a target was recycled since the last one).
fn reference_step(
    bonds: &mut [BTreeMap<Uid, Decimal>],
    peers: &[PeerState],
    params: &EpochParams,
    block: u64,
    last_epoch_block: u64,
) {
    let registered: Vec<u64> = peers.iter().map(|p| p.registered_at).collect();
    let total: u128 = peers.iter().map(|p| p.stake).sum();
    if total == 0 {
        return;
    }
    for (uid, peer) in peers.iter().enumerate() {
        let row = &mut bonds[uid];
        row.retain(|j, _| registered[usize::from(*j)] < last_epoch_block);
        let sum = visible_vote_sum(peer.last_update, &peer.weights, &registered);
        if sum != peer.bonds.vote_sum {
            keep_largest(row, params.max_weights_per_row as usize);
        }
        for bond in row.values_mut() {
            *bond *= Decimal::ONE - params.bond_decay;
        }
        let fresh = block - peer.last_update <= params.activity_cutoff;
        if sum == 0 || !fresh || peer.stake == 0 {
            continue;
        }
        let share = Decimal::from(peer.stake) / Decimal::from(total);
        for (j, w) in &peer.weights {
            if registered[usize::from(*j)] < peer.last_update {
                *row.entry(*j).or_default() += Decimal::from(*w) / Decimal::from(sum) * share;
            }
        }
        row.retain(|_, b| !b.is_zero());
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn factored_bonds_follow_the_recurrence(
        n in 3usize..7,
        decay in prop_oneof![Just(dec!(0)), Just(dec!(0.1)), Just(dec!(0.5))],
        max_bonds in prop_oneof![Just(2u32), Just(3), Just(64)],
        stakes in prop::collection::vec(1u128..1_000_000, 7),
        rounds in prop::collection::vec(prop::collection::vec(event(7), 0..3), 1..8),
    ) {
        let mut params = EpochParams::with_emission(1_000_000);
        params.bond_decay = decay;
        params.activity_cutoff = 3 * EPOCH_LENGTH;
        params.max_weights_per_row = max_bonds;
        let mut peers: Vec<PeerState> = (0..n)
            .map(|uid| PeerState { stake: stakes[uid], ..PeerState::default() })
            .collect();
        let mut reference = vec![BTreeMap::new(); n];
        let mut last_epoch_block = 0;
        let mut k = 1;
        for (round, events) in rounds.iter().enumerate() {
            let block = (round as u64 + 1) * EPOCH_LENGTH;
            for (offset, event) in events.iter().enumerate() {
                let now = last_epoch_block + 1 + offset as u64;
                let registered: Vec<u64> = peers.iter().map(|p| p.registered_at).collect();
                match event {
                    Event::SetRow(uid, row) => {
                        let uid = uid % n;
                        let row: BTreeMap<Uid, u16> = row
                            .iter()
                            .filter(|(j, _)| j % n != uid)
                            .map(|(j, w)| ((j % n) as Uid, *w))
                            .collect();
                        let weights: Vec<(Uid, u16)> = row.into_iter().collect();
                        let peer = &mut peers[uid];
                        // What the contract does on `set_weights`.
                        peer.bonds = peer.bonds.rebase(
                            peer.last_update,
                            &peer.weights,
                            &registered,
                            last_epoch_block,
                            visible_vote_sum(now, &weights, &registered),
                            max_bonds as usize,
                        );
                        prop_assert!(peer.bonds.base.len() <= max_bonds as usize);
                        // The rebase sees the bonds as they stand: none
                        // toward a peer recycled since the last epoch.
                        reference[uid].retain(|j, _| registered[usize::from(*j)] < last_epoch_block);
                        keep_largest(&mut reference[uid], max_bonds as usize);
                        peer.weights = weights;
                        peer.last_update = now;
                    }
                    Event::Recycle(uid, stake) => {
                        let uid = uid % n;
                        if uid == 0 {
                            continue;
                        }
                        peers[uid] = PeerState {
                            stake: *stake,
                            registered_at: now,
                            ..PeerState::default()
                        };
                        reference[uid].clear();
                    }
                }
            }
            reference_step(&mut reference, &peers, &params, block, last_epoch_block);
            let out = epoch(&EpochInput {
                params: &params,
                block,
                last_epoch_block,
                k,
                reward_pool: 1_000_000_000,
                peers: &peers,
            })
            .unwrap();
            for (uid, values) in out.bonds.iter().enumerate() {
                let expected: Vec<(Uid, Decimal)> =
                    reference[uid].iter().map(|(j, b)| (*j, *b)).collect();
                prop_assert_eq!(values.len(), expected.len(), "uid {} epoch {}: {:?} vs {:?}", uid, round, values, expected);
                for ((ja, a), (jb, b)) in values.iter().zip(&expected) {
                    prop_assert_eq!(ja, jb);
                    prop_assert!((*a - *b).abs() < dec!(1e-20), "uid {} → {}: {} vs {}", uid, ja, a, b);
                }
            }
            for (peer, (bonds, stake)) in peers.iter_mut().zip(out.bond_state.into_iter().zip(out.stake_after)) {
                // §3c: a base never holds more than the bound, so a row's
                // bonds never outnumber its entries plus the bound.
                prop_assert!(bonds.base.len() <= max_bonds as usize);
                peer.bonds = bonds;
                peer.stake = stake;
            }
            k = out.k_after;
            last_epoch_block = block;
        }
    }
}
