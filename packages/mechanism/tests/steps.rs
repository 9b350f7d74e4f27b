//! Each step of docs/SPEC.md §3 on small graphs worked out by hand.

use std::str::FromStr;

use agora_mechanism::{
    Bonds, Decimal, Epoch, EpochInput, EpochOutput, EpochParams, MechanismError, PeerState, epoch,
};
use rust_decimal::prelude::dec;

fn d(text: &str) -> Decimal {
    Decimal::from_str(text).unwrap()
}

fn assert_close(actual: Decimal, expected: &str, tolerance: Decimal) {
    let expected = d(expected);
    assert!(
        (actual - expected).abs() <= tolerance,
        "{actual} differs from {expected} by more than {tolerance}"
    );
}

fn peer(stake: u128, weights: &[(u16, u16)]) -> PeerState {
    PeerState {
        stake,
        registered_at: 0,
        last_update: 10,
        weights: weights.to_vec(),
        bonds: Bonds::default(),
    }
}

/// Bonds that stand at `values` before an epoch whose previous epoch ran at
/// block 1 (as in [`run`]).
fn bonds(values: &[(u16, Decimal)]) -> Bonds {
    Bonds::from_values(values.to_vec(), 1)
}

fn run(params: &EpochParams, peers: &[PeerState], k: u32, pool: u128) -> EpochOutput {
    epoch(&EpochInput {
        params,
        block: 100,
        last_epoch_block: 1,
        k,
        reward_pool: pool,
        peers,
    })
    .unwrap()
}

/// Three peers, A (uid 0), B (1), C (2), stake 3 : 1 : 0.
/// A weights B 1 and C 3; B weights A; C weights A and B but owns no stake.
///
/// 1. s = [3/4, 1/4, 0].
/// 2. ŵ_A = [0, 1/4, 3/4], ŵ_B = [1, 0, 0] (C's row counts but s_C = 0).
/// 3. R_0 = 1·1/4 = 0.25, R_1 = 1/4·3/4 = 0.1875, R_2 = 3/4·3/4 = 0.5625.
/// 4. t_0 = s_B = 0.25, t_1 = s_A = 0.75, t_2 = s_A = 0.75 (C adds 0).
/// 5. C = [σ(10(0.25−0.5)), σ(2.5), σ(2.5)] = [σ(−2.5), σ(2.5), σ(2.5)]
///    with σ(2.5) = 0.924141819978756448806693823354 and σ(−2.5) = 1 − that.
/// 6. I_j = R_j C_j / Σ R C, Σ R C = 0.25σ(−2.5) + 0.75σ(2.5):
///    I = [0.0266329444712097239837783239838, 0.243341763882197569004055419004,
///    0.730025291646592707012166257012].
/// 7. No bonds before, d = 0: b_A = {1: 0.1875, 2: 0.5625}, b_B = {0: 0.25}.
/// 8. Each column has a single bond holder, who takes its whole incentive:
///    D_A = I_1 + I_2 = 0.973367055528790276016221676016, D_B = I_0, D_C = 0.
/// 9. φ = ½D + ½I: φ_A = ½(I_1 + I_2) + ½I_0 = ½ exactly,
///    φ_B = ½(I_0 + I_1) = 0.134987354176703646493916871494,
///    φ_C = ½I_2 = 0.365012645823296353506083128506.
/// 10. E = min(1000, pool) = 1000: paid = [500, 134, 365], remainder 1.
/// 11. L = −(0.25(σ(−2.5) − ½) + 0.75(σ(2.5) − ½)) = −½(σ(2.5) − ½)
///     = −0.212070909989378224403346911677.
/// 12. L < −0.05, so k falls from 2 to 1.
#[test]
fn three_peers_every_step() {
    let params = EpochParams::with_emission(1000);
    let peers = [
        peer(3, &[(1, 1), (2, 3)]),
        peer(1, &[(0, 1)]),
        peer(0, &[(0, 7), (1, 7)]),
    ];
    let out = run(&params, &peers, 2, 1_000_000);
    let tolerance = dec!(1e-25);

    assert_eq!(out.stake_share, [dec!(0.75), dec!(0.25), dec!(0)]);
    assert_eq!(out.rank, [dec!(0.25), dec!(0.1875), dec!(0.5625)]);
    assert_eq!(out.trust, [dec!(0.25), dec!(0.75), dec!(0.75)]);
    assert_close(
        out.consensus[0],
        "0.0758581800212435511933061766",
        tolerance,
    );
    assert_close(
        out.consensus[1],
        "0.9241418199787564488066938234",
        tolerance,
    );
    assert_eq!(out.consensus[1], out.consensus[2]);
    assert_close(
        out.incentive[0],
        "0.0266329444712097239837783240",
        tolerance,
    );
    assert_close(
        out.incentive[1],
        "0.2433417638821975690040554190",
        tolerance,
    );
    assert_close(
        out.incentive[2],
        "0.7300252916465927070121662570",
        tolerance,
    );
    assert_eq!(
        out.bonds,
        vec![
            vec![(1, dec!(0.1875)), (2, dec!(0.5625))],
            vec![(0, dec!(0.25))],
            vec![],
        ]
    );
    assert_close(
        out.dividends[0],
        "0.9733670555287902760162216760",
        tolerance,
    );
    assert_close(
        out.dividends[1],
        "0.0266329444712097239837783240",
        tolerance,
    );
    assert_eq!(out.dividends[2], Decimal::ZERO);
    assert_close(out.share[0], "0.5", tolerance);
    assert_close(out.share[1], "0.1349873541767036464939168715", tolerance);
    assert_close(out.share[2], "0.3650126458232963535060831285", tolerance);
    assert_eq!(out.emission, 1000);
    assert_eq!(out.paid, [500, 134, 365]);
    assert_eq!(out.emitted, 999);
    assert_eq!(out.reward_pool_after, 1_000_000 - 999);
    assert_eq!(out.stake_after, [503, 135, 365]);
    assert_close(out.loss, "-0.2120709099893782244033469117", tolerance);
    assert_eq!(out.k_after, 1);
}

/// Step 2's masking: uid 2 registered at block 50, after row 0 was set at
/// block 40, so row 0's vote for uid 2 is dropped and the row renormalized
/// over uid 1 alone: ŵ_01 = 1, R_1 = s_0 = 1/2, R_2 = 0, t_2 = 0.
/// A registration in the same block as the row (uid 3 at block 40) counts
/// as after it, so that vote is dropped too.
#[test]
fn votes_for_a_peer_registered_after_the_row_are_dropped() {
    let params = EpochParams::with_emission(1000);
    let mut peers = vec![
        peer(1, &[(1, 1), (2, 5), (3, 9)]),
        peer(1, &[(0, 1)]),
        peer(0, &[]),
        peer(0, &[]),
    ];
    peers[0].last_update = 40;
    peers[2].registered_at = 50;
    peers[3].registered_at = 40;
    let out = run(&params, &peers, 1, 1000);
    assert_eq!(out.rank, [dec!(0.5), dec!(0.5), dec!(0), dec!(0)]);
    assert_eq!(out.trust, [dec!(0.5), dec!(0.5), dec!(0), dec!(0)]);
    assert_eq!(out.bonds[0], vec![(1, dec!(0.5))]);
    assert_eq!(out.incentive[2], Decimal::ZERO);
    assert_eq!(out.incentive[3], Decimal::ZERO);
}

/// Step 2's freshness: with activity_cutoff 50 at block 100, a row last set
/// at block 49 no longer counts (100 − 49 > 50) while one set at block 50
/// still does (100 − 50 = 50). The stale row's old bond still decays
/// (d = 0.1: 0.4 → 0.36) but gains nothing.
#[test]
fn stale_rows_stop_counting_and_their_bonds_only_decay() {
    let mut params = EpochParams::with_emission(1000);
    params.activity_cutoff = 50;
    params.bond_decay = dec!(0.1);
    let mut peers = vec![peer(1, &[(1, 1)]), peer(1, &[(0, 1)]), peer(2, &[(0, 1)])];
    peers[0].last_update = 50;
    peers[1].last_update = 49;
    peers[1].bonds = bonds(&[(0, dec!(0.4))]);
    peers[2].last_update = 100;
    let out = run(&params, &peers, 1, 1000);
    // s = [1/4, 1/4, 1/2]; only rows 0 and 2 count.
    assert_eq!(out.rank, [dec!(0.5), dec!(0.25), dec!(0)]);
    assert_eq!(out.trust, [dec!(0.5), dec!(0.25), dec!(0)]);
    // b_10 = 0.9 · 0.4 = 0.36; b_20 = 0 + 1 · 1/2.
    assert_eq!(out.bonds[1], vec![(0, dec!(0.36))]);
    assert_eq!(out.bonds[2], vec![(0, dec!(0.5))]);
    // Column 0's dividend splits 0.36 : 0.5 between uids 1 and 2.
    let column_0 = out.incentive[0];
    let expected_1 = dec!(0.36) * (column_0 / dec!(0.86));
    assert!((out.dividends[1] - expected_1).abs() < dec!(1e-26));
}

/// Step 7: b_ij ← (1 − d) b_ij + ŵ_ij s_i, after bonds toward a peer that is
/// new since the previous epoch (registered at or after block 1) are zeroed.
/// Row 0 (s = 1/2) held 0.2 toward uid 1 and 0.7 toward uid 2 (uid 2 is a
/// recycled uid, registered at block 5): with d = 0.5,
/// b_01 = 0.5 · 0.2 + 1 · 1/2 = 0.6 and b_02 = 0 (not 0.35).
#[test]
fn bonds_decay_accumulate_and_are_zeroed_for_new_peers() {
    let mut params = EpochParams::with_emission(1000);
    params.bond_decay = dec!(0.5);
    let mut peers = vec![peer(1, &[(1, 1)]), peer(1, &[(0, 1)]), peer(0, &[])];
    peers[0].bonds = bonds(&[(1, dec!(0.2)), (2, dec!(0.7))]);
    peers[2].registered_at = 5;
    let out = run(&params, &peers, 1, 1000);
    assert_eq!(out.bonds[0], vec![(1, dec!(0.6))]);
    assert_eq!(out.bonds[1], vec![(0, dec!(0.5))]);
}

/// Step 1: with no stake at all nothing happens: bonds are kept as they are
/// (no decay), nothing is paid and k stays.
#[test]
fn no_stake_nothing_happens() {
    let mut params = EpochParams::with_emission(1000);
    params.bond_decay = dec!(0.5);
    let mut peers = vec![peer(0, &[(1, 1)]), peer(0, &[(0, 1)])];
    peers[0].bonds = bonds(&[(1, dec!(0.3))]);
    let out = run(&params, &peers, 3, 1000);
    assert_eq!(out.bonds[0], vec![(1, dec!(0.3))]);
    assert_eq!(out.paid, [0, 0]);
    assert_eq!(out.emission, 0);
    assert_eq!(out.reward_pool_after, 1000);
    assert_eq!(out.loss, Decimal::ZERO);
    assert_eq!(out.k_after, 3);
}

/// Step 6: with stake but no votes, Σ R C = 0: every I_j = 0, nothing is
/// emitted, the pool keeps everything.
#[test]
fn no_votes_emit_nothing() {
    let params = EpochParams::with_emission(1000);
    let peers = vec![peer(5, &[]), peer(5, &[])];
    let out = run(&params, &peers, 1, 1000);
    assert_eq!(out.incentive, [Decimal::ZERO, Decimal::ZERO]);
    assert_eq!(out.emission, 0);
    assert_eq!(out.reward_pool_after, 1000);
}

/// Step 10: E = min(emission_per_epoch, reward_pool). Two peers weighting
/// each other with equal stake split a pool of 7 (less than the 1000 asked):
/// φ = [½, ½], floor(3.5) = 3 each, 1 token stays.
#[test]
fn emission_is_capped_by_the_pool() {
    let params = EpochParams::with_emission(1000);
    let peers = vec![peer(5, &[(1, 1)]), peer(5, &[(0, 1)])];
    let out = run(&params, &peers, 1, 7);
    assert_eq!(out.emission, 7);
    assert_eq!(out.paid, [3, 3]);
    assert_eq!(out.reward_pool_after, 1);
}

/// Step 12 (docs/SPEC.md §6): L > 0 raises k by peg_step up to peg_ceiling.
/// One peer of three (stake 1 of 3) votes for uid 2: t_2 = 1/3 < κ, so
/// C_2 < ½ and L = −R_2 (C_2 − ½) > 0.
#[test]
fn positive_loss_raises_k_up_to_the_ceiling() {
    let mut params = EpochParams::with_emission(1000);
    params.peg_step = 5;
    params.peg_ceiling = 8;
    let peers = vec![peer(1, &[(2, 1)]), peer(1, &[]), peer(1, &[])];
    let out = run(&params, &peers, 1, 1000);
    assert!(out.loss > Decimal::ZERO);
    assert_eq!(out.k_after, 6);
    let out = run(&params, &peers, 6, 1000);
    assert_eq!(out.k_after, 8);
}

/// Step 12: −peg_relax ≤ L ≤ 0 leaves k alone (hysteresis).
#[test]
fn small_negative_loss_keeps_k() {
    let mut params = EpochParams::with_emission(1000);
    params.peg_relax = dec!(0.9);
    let peers = vec![peer(1, &[(1, 1)]), peer(1, &[(0, 1)]), peer(2, &[(0, 1)])];
    let out = run(&params, &peers, 4, 1000);
    assert!(out.loss < Decimal::ZERO && out.loss > dec!(-0.9));
    assert_eq!(out.k_after, 4);
}

#[test]
fn the_passes_skip_empty_rows_and_agree_with_the_one_shot() {
    let params = EpochParams::with_emission(10_000);
    let peers = vec![
        peer(3, &[(2, 1)]),
        peer(0, &[]),
        peer(1, &[(0, 4), (3, 1)]),
        peer(2, &[(2, 9)]),
    ];
    let one_shot = run(&params, &peers, 1, 10_000);

    let total: u128 = peers.iter().map(|p| p.stake).sum();
    let registered: Vec<u64> = peers.iter().map(|p| p.registered_at).collect();
    let mut pass = Epoch::begin(&params, 100, 1, total, registered).unwrap();
    let mut bonds = vec![Bonds::default(); peers.len()];
    for uid in [0u16, 2, 3] {
        let p = &peers[usize::from(uid)];
        bonds[usize::from(uid)] = pass
            .absorb_row(uid, p.stake, p.last_update, &p.weights, &p.bonds)
            .unwrap();
    }
    // Stored and resumed halfway, as a paged caller does.
    let columns = pass.columns.clone();
    let pass = Epoch::resume(&params, 100, 1, total, pass.registered_at, columns, 4).unwrap();
    let mut settlement = pass.settle(10_000, 1).unwrap();
    let payouts: Vec<_> = (0..4u16)
        .map(|uid| {
            let p = &peers[usize::from(uid)];
            let b = &bonds[usize::from(uid)];
            settlement
                .pay(uid, p.stake, p.last_update, &p.weights, b)
                .unwrap()
        })
        .collect();
    let totals = settlement.finish().unwrap();
    assert_eq!(bonds, one_shot.bond_state);
    let paid: Vec<u128> = payouts.iter().map(|p| p.paid).collect();
    let incentive: Vec<Decimal> = payouts.iter().map(|p| p.incentive).collect();
    assert_eq!(paid, one_shot.paid);
    assert_eq!(incentive, one_shot.incentive);
    assert_eq!(totals.emitted, one_shot.emitted);
}

#[test]
fn bad_input_is_an_error_never_a_panic() {
    let params = EpochParams::with_emission(1000);
    let input = |peers: &[PeerState]| {
        epoch(&EpochInput {
            params: &params,
            block: 100,
            last_epoch_block: 1,
            k: 1,
            reward_pool: 1000,
            peers,
        })
    };
    assert!(matches!(
        input(&[peer(1, &[(5, 1)]), peer(1, &[])]),
        Err(MechanismError::UidOutOfRange {
            row: 0,
            target: 5,
            peers: 2
        })
    ));
    assert!(matches!(
        input(&[peer(1, &[(2, 1), (1, 1)]), peer(1, &[]), peer(1, &[])]),
        Err(MechanismError::RowNotSorted { uid: 0, .. })
    ));
    assert!(matches!(
        input(&[peer(1, &[(1, 1), (1, 2)]), peer(1, &[])]),
        Err(MechanismError::RowNotSorted { uid: 0, .. })
    ));
    assert!(matches!(
        input(&[peer(1, &[(0, 1)]), peer(1, &[])]),
        Err(MechanismError::SelfWeight { uid: 0 })
    ));
    let mut negative = peer(1, &[]);
    negative.bonds = bonds(&[(1, dec!(-1))]);
    assert!(matches!(
        input(&[negative, peer(1, &[])]),
        Err(MechanismError::NegativeBond { uid: 0, target: 1 })
    ));
    assert!(matches!(
        input(&[peer(u128::MAX / 2, &[]), peer(u128::MAX / 2, &[])]),
        Err(MechanismError::AmountTooLarge { .. })
    ));
    assert!(matches!(
        input(&[peer(u128::MAX, &[]), peer(1, &[])]),
        Err(MechanismError::Overflow(_))
    ));

    let none = Bonds::default();
    let mut pass = Epoch::begin(&params, 100, 1, 2, vec![0, 0]).unwrap();
    assert_eq!(
        pass.absorb_row(1, 3, 10, &[(0, 1)], &none),
        Err(MechanismError::StakeAboveTotal {
            uid: 1,
            stake: 3,
            total: 2
        })
    );
    pass.absorb_row(1, 1, 10, &[(0, 1)], &none).unwrap();
    assert_eq!(
        pass.absorb_row(0, 1, 10, &[(1, 1)], &none),
        Err(MechanismError::RowOutOfOrder {
            uid: 0,
            previous: 1
        })
    );
    let mut settlement = pass.settle(1000, 1).unwrap();
    assert!(matches!(
        settlement.pay(1, 1, 10, &[], &none),
        Err(MechanismError::PayOutOfOrder {
            expected: 0,
            got: 1
        })
    ));
    settlement.pay(0, 1, 10, &[], &none).unwrap();
    assert!(matches!(
        settlement.finish(),
        Err(MechanismError::PayOutOfOrder { .. })
    ));
}

#[test]
fn params_out_of_range_are_rejected() {
    let base = EpochParams::with_emission(1);
    type Break = Box<dyn Fn(&mut EpochParams)>;
    let cases: Vec<(&str, Break)> = vec![
        ("rho", Box::new(|p| p.rho = dec!(0))),
        ("rho", Box::new(|p| p.rho = dec!(1000.1))),
        ("kappa", Box::new(|p| p.kappa = dec!(1))),
        ("kappa", Box::new(|p| p.kappa = dec!(0))),
        ("bond_share", Box::new(|p| p.bond_share = dec!(1.5))),
        ("bond_decay", Box::new(|p| p.bond_decay = dec!(-0.1))),
        ("peg_relax", Box::new(|p| p.peg_relax = dec!(-1))),
        ("peg_floor", Box::new(|p| p.peg_floor = 0)),
        ("peg_floor", Box::new(|p| p.peg_floor = 65)),
        (
            "min_allowed_weights",
            Box::new(|p| p.min_allowed_weights = 65),
        ),
        (
            "emission_per_epoch",
            Box::new(|p| p.emission_per_epoch = u128::MAX),
        ),
    ];
    assert_eq!(base.validate(), Ok(()));
    for (name, break_it) in cases {
        let mut params = base.clone();
        break_it(&mut params);
        let error = params.validate().unwrap_err();
        match error {
            MechanismError::InvalidParam { name: got, .. } => assert_eq!(got, name),
            MechanismError::AmountTooLarge { what, .. } => assert_eq!(what, name),
            other => panic!("unexpected {other}"),
        }
    }
}
