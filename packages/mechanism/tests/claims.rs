//! The paper's claims that docs/SPEC.md §8 lists, as named tests, and the sigmoid's
//! accuracy (docs/SPEC.md §3 step 5).

use std::str::FromStr;

use agora_mechanism::scenario::{EpochReport, Scenario};
use agora_mechanism::{Decimal, sigmoid};
use rust_decimal::prelude::dec;

/// σ(z) to 28 decimal places, from mpmath at 60 significant digits.
const SIGMOID_REFERENCE: &[(&str, &str)] = &[
    ("0", "0.5000000000000000000000000000"),
    ("0.000000001", "0.5000000002500000000000000000"),
    ("-0.000000001", "0.4999999997500000000000000000"),
    ("0.25", "0.5621765008857981040273236379"),
    ("-0.25", "0.4378234991142018959726763621"),
    ("0.5", "0.6224593312018545646389005657"),
    ("1", "0.7310585786300048792511592418"),
    ("-1", "0.2689414213699951207488407582"),
    ("2.5", "0.9241418199787564488066938234"),
    ("-2.5", "0.0758581800212435511933061766"),
    ("3.14159265358979", "0.9585761678336370445940011850"),
    ("5", "0.9933071490757151444406380196"),
    ("-5", "0.0066928509242848555593619804"),
    ("7.77", "0.9995779649219999202964796198"),
    ("-9.99", "0.0000458541039469413343331171"),
    ("10", "0.9999546021312975656054952238"),
    ("-10", "0.0000453978687024343945047762"),
    ("20", "0.9999999979388463818097964186"),
    ("-20", "2.0611536181902035814E-9"),
    ("33.3", "0.9999999999999965486122556258"),
    ("-40", "4.2483542553E-18"),
    ("50", "0.9999999999999999999998071250"),
    ("-50", "1.928750E-22"),
    ("60", "0.9999999999999999999999999912"),
    ("-60", "8.8E-27"),
    ("65.9", "1.0000000000000000000000000000"),
    ("-65.9", "0E-28"),
    ("66", "1.0000000000000000000000000000"),
    ("-66", "0E-28"),
    ("70", "1.0000000000000000000000000000"),
    ("-70", "0E-28"),
    ("100", "1.0000000000000000000000000000"),
    ("-100", "0E-28"),
    ("1000", "1.0000000000000000000000000000"),
    ("-1000", "0E-28"),
];

#[test]
fn sigmoid_matches_a_50_digit_reference_to_1e_27() {
    for (z, expected) in SIGMOID_REFERENCE {
        let z = Decimal::from_str(z).unwrap();
        let expected = Decimal::from_str(expected).unwrap();
        let error = (sigmoid(z) - expected).abs();
        assert!(
            error <= dec!(1e-27),
            "σ({z}) = {} but the reference is {expected} (error {error})",
            sigmoid(z)
        );
    }
}

#[test]
fn sigmoid_is_symmetric_and_monotone() {
    let mut previous = Decimal::ZERO;
    let mut z = dec!(-80);
    while z <= dec!(80) {
        let value = sigmoid(z);
        assert_eq!(value + sigmoid(-z), Decimal::ONE, "σ({z}) + σ(−{z})");
        assert!(value >= previous, "σ falls at {z}");
        previous = value;
        z += dec!(0.37);
    }
}

/// docs/SPEC.md §8: `dC_j/dt_j = ρ/4` at `t_j = κ`, the paper's `δI/δS = 5/2` for
/// ρ = 10. A central difference with h = 1e-9 has error O(h² ρ³) ≪ 1e-9.
#[test]
fn consensus_slope_at_kappa_is_rho_over_four() {
    let h = dec!(0.000000001);
    for rho in [dec!(1), dec!(10), dec!(40)] {
        let kappa = dec!(0.5);
        let consensus = |t: Decimal| sigmoid(rho * (t - kappa));
        let slope = (consensus(kappa + h) - consensus(kappa - h)) / (h + h);
        let error = (slope - rho / dec!(4)).abs();
        assert!(error < dec!(1e-9), "ρ = {rho}: slope {slope}");
    }
    assert_eq!(sigmoid(Decimal::ZERO), dec!(0.5));
}

/// docs/SPEC.md §8's cabal: 10 peers of 100,000,000 stake each; an honest graph of 6
/// and a cabal of 4, each fully connected inside itself with equal weights;
/// 10,000,000 emitted per epoch from a pool that never runs dry; defaults.
fn cabal_reports() -> Vec<EpochReport> {
    cabal_reports_in("sigmoid")
}

fn cabal_reports_in(consensus: &str) -> Vec<EpochReport> {
    let clique = |members: std::ops::Range<u16>| {
        members
            .clone()
            .map(move |i| {
                let row: Vec<String> = members
                    .clone()
                    .filter(|j| *j != i)
                    .map(|j| format!("\"{j}\": 1"))
                    .collect();
                format!("\"{i}\": {{{}}}", row.join(", "))
            })
            .collect::<Vec<_>>()
    };
    let mut rows = clique(0..6);
    rows.extend(clique(6..10));
    let json = format!(
        r#"{{"params": {{"emission_per_epoch": "10000000", "consensus": "{consensus}"}},
            "reward_pool": "1000000000000000000",
            "stake": [{}],
            "weights": {{{}}},
            "epochs": 200}}"#,
        ["\"100000000\""; 10].join(", "),
        rows.join(", ")
    );
    Scenario::from_json(&json).unwrap().run().unwrap()
}

fn cabal_share(report: &EpochReport) -> f64 {
    // Floats here only to read the result; every figure came out of decimals.
    let total: u128 = report.stake_after.iter().sum();
    let cabal: u128 = report.stake_after[6..].iter().sum();
    cabal as f64 / total as f64
}

#[test]
fn a_minority_cabal_loses_share_every_epoch() {
    let reports = cabal_reports();
    assert_eq!(reports[0].stake_share[6..], [dec!(0.1); 4]);
    let mut previous = 0.4;
    for report in &reports {
        let share = cabal_share(report);
        assert!(
            share < previous,
            "epoch {}: cabal share rose to {share}",
            report.epoch
        );
        previous = share;
    }
    let after_50 = cabal_share(&reports[49]);
    let after_200 = cabal_share(&reports[199]);
    assert!(
        after_50 < 0.30,
        "after 50 epochs the cabal holds {after_50}"
    );
    assert!(
        after_200 < 0.16,
        "after 200 epochs the cabal holds {after_200}"
    );
    assert!(reports.iter().any(|r| r.loss < Decimal::ZERO));
    assert!(reports[199].loss < Decimal::ZERO);
}

/// docs/SPEC.md §3b on §8's cabal: the cabal's 30% of the others' stake
/// never reaches κ = 0.5 of it, so its columns' `c_j` is 0 and it earns
/// nothing at all, neither incentive nor (its `v_i` being 0) bonds.
#[test]
fn a_minority_cabal_earns_nothing_in_median_mode() {
    let reports = cabal_reports_in("median");
    for report in &reports {
        let median = report.median.as_ref().expect("median mode reports c");
        let vtrust = report.vtrust.as_ref().expect("median mode reports v");
        assert_eq!(median[6..], [Decimal::ZERO; 4]);
        assert_eq!(median[..6], [dec!(0.2); 6]);
        assert_eq!(vtrust[6..], [Decimal::ZERO; 4]);
        assert_eq!(vtrust[..6], [Decimal::ONE; 6]);
        assert_eq!(report.paid[6..], [0; 4], "epoch {}", report.epoch);
    }
    let after_50 = cabal_share(&reports[49]);
    let after_200 = cabal_share(&reports[199]);
    assert!((after_50 - 0.4 / 1.5).abs() < 1e-6, "after 50: {after_50}");
    assert!(
        (after_200 - 0.4 / 3.0).abs() < 1e-6,
        "after 200: {after_200}"
    );
    // The sigmoid leaves the cabal a little; the median leaves none.
    assert!(after_200 < cabal_share(&cabal_reports()[199]));
}

#[test]
fn emission_is_conserved_every_epoch() {
    let reports = cabal_reports();
    let mut pool: u128 = 1_000_000_000_000_000_000;
    let mut supply: u128 = 10 * 100_000_000 + pool;
    for report in &reports {
        let paid: u128 = report.paid.iter().sum();
        assert_eq!(report.emission, 10_000_000);
        assert_eq!(paid + report.remainder, report.emission);
        assert_eq!(report.reward_pool_after, pool - paid);
        pool = report.reward_pool_after;
        let stake: u128 = report.stake_after.iter().sum();
        assert_eq!(stake + pool, supply, "epoch {}", report.epoch);
        supply = stake + pool;
    }
}
