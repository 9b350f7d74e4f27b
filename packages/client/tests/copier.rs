//! The copier story (`agora_client::copier`, `agora bench copier`) through
//! the real contract on the embedded chain: what a copier of the visible
//! consensus earns against honest validators, per consensus mode.

use agora_client::copier::{CopierCase, Span, bench_cases, run_embedded};
use agora_market::msg::Consensus;
use rust_decimal::Decimal;
use rust_decimal::prelude::dec;

fn g(consensus: Consensus, commit_reveal: bool, reveal_period: u64, decay: Decimal) -> Decimal {
    let case = CopierCase {
        consensus,
        commit_reveal,
        reveal_period,
        bond_decay: decay,
        drift_period: 8,
    };
    run_embedded(&case, Span::BENCH, |_| {}).unwrap().g
}

/// Issue 14's targets, drift period 8, over epochs 50-300: with the median
/// and commit-reveal a copier keeps at most 87% of an honest validator's
/// dividends per stake at reveal period 1, and 65% at reveal period 3.
#[test]
fn median_and_commit_reveal_make_copying_a_losing_trade() {
    for decay in [dec!(0), dec!(0.1)] {
        let off = g(Consensus::Median, false, 1, decay);
        let one = g(Consensus::Median, true, 1, decay);
        let three = g(Consensus::Median, true, 3, decay);
        assert!(one <= dec!(0.87), "d = {decay}: G at period 1 is {one}");
        assert!(three <= dec!(0.65), "d = {decay}: G at period 3 is {three}");
        assert!(three < one && one < off, "d = {decay}: {off} {one} {three}");
    }
}

/// In the paper's sigmoid mode commit-reveal lowers what a copier earns,
/// but only a little: it still keeps over 90%.
#[test]
fn in_sigmoid_mode_commit_reveal_only_trims_the_copier() {
    let off = g(Consensus::Sigmoid, false, 1, dec!(0));
    let one = g(Consensus::Sigmoid, true, 1, dec!(0));
    assert!(one < off, "{one} vs {off}");
    assert!(one > dec!(0.9), "{one}");
}

#[test]
fn the_bench_covers_every_case_the_issue_lists() {
    let cases = bench_cases();
    assert_eq!(cases.len(), 2 * 3 * 2 * 2);
    for consensus in [Consensus::Sigmoid, Consensus::Median] {
        for drift_period in [8, 32] {
            let of = |c: &&CopierCase| c.consensus == consensus && c.drift_period == drift_period;
            assert_eq!(cases.iter().filter(of).count(), 6);
        }
    }
}
