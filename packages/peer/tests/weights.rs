//! Rows from `weight_row` are accepted by the market contract itself, for
//! any worths and any of the graph's rules.

use agora_client::{Chain, EmbeddedChain};
use agora_market::msg::{GraphParams, TEXT};
use agora_peer::weights::{RowRules, score, smoothed, weight_row};
use proptest::prelude::*;
use rust_decimal::Decimal;

fn graph(peers: u16, k: u32, max_entries: u32, limit: Decimal) -> EmbeddedChain {
    let params = GraphParams::builder()
        .emission_per_epoch(1_000)
        .unbonding_period(10)
        .min_allowed_weights(k)
        .peg_floor(1)
        .max_weights_per_row(max_entries)
        .peg_ceiling(max_entries)
        .max_weight_limit(limit)
        .build();
    let mut chain = EmbeddedChain::new("uagora", "admin", 10u128.pow(12), params).unwrap();
    for uid in 0..peers {
        let name = format!("peer{uid}");
        chain.fund("admin", &name, 10).unwrap();
        chain
            .register(&name, TEXT, "http://127.0.0.1:9000", 0)
            .unwrap();
    }
    chain
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn the_contract_accepts_every_row(
        peers in 2u16..16,
        k in 1u32..5,
        extra in 0u32..6,
        limit in prop_oneof![Just(100), Just(50), Just(30), Just(25), Just(20)],
        own in 0u16..16,
        worths in prop::collection::vec((0u16..20, -1.0f64..10.0), 0..20),
    ) {
        let own = own % peers;
        let max_entries = k + extra;
        let limit = Decimal::new(limit, 2);
        let cap = limit.to_string().parse::<f64>().unwrap();
        // A graph whose rows are too short to meet its cap is refused by
        // the contract (max_weight_limit · max_weights_per_row < 1).
        let cap_entries = (1.0 / cap).ceil() as u32;
        prop_assume!(cap_entries <= max_entries);
        let mut chain = graph(peers, k, max_entries, limit);
        let rules = RowRules {
            own_uid: own,
            peers,
            min_entries: k as usize,
            max_entries: max_entries as usize,
            max_weight: cap,
        };
        let row = weight_row(&worths, &rules);
        prop_assert!(!row.is_empty());
        let name = format!("peer{own}");
        prop_assert_eq!(chain.set_weights(&name, TEXT, &row), Ok(()), "row {:?}", row);
    }
}

#[test]
fn worth_orders_the_row_and_the_cap_spreads_it() {
    let rules = RowRules {
        own_uid: 0,
        peers: 6,
        min_entries: 1,
        max_entries: 3,
        max_weight: 1.0,
    };
    // The three most valuable, through the softplus of their share of the
    // best (1, 0.25, 0.5), scaled so the best is 65535; self dropped.
    let row = weight_row(&[(0, 9.0), (1, 4.0), (2, 1.0), (3, 2.0), (4, 0.0)], &rules);
    let expected = |x: f64| (score(x, 1.0) / score(1.0, 1.0) * 65535.0).floor() as u16;
    assert_eq!(
        row,
        vec![(1, 65535), (2, expected(0.25)), (3, expected(0.5))]
    );
    // Fewer valued than k: the rest is padding at the smallest weight.
    let row = weight_row(
        &[(1, 4.0)],
        &RowRules {
            min_entries: 3,
            ..rules.clone()
        },
    );
    assert_eq!(row, vec![(1, 65535), (2, 1), (3, 1)]);
    // A cap of 0.4 moves the excess of the best to the others.
    let capped = RowRules {
        max_weight: 0.4,
        ..rules
    };
    let row = weight_row(&[(1, 4.0), (2, 1.0), (3, 2.0)], &capped);
    let total: f64 = row.iter().map(|(_, w)| f64::from(*w)).sum();
    assert!(row.iter().all(|(_, w)| f64::from(*w) / total <= 0.4));
    assert_eq!(row[0].0, 1);
    // Nothing is worth anything: k entries at equal weight.
    let row = weight_row(
        &[],
        &RowRules {
            min_entries: 2,
            ..rules
        },
    );
    assert_eq!(row, vec![(1, 65535), (2, 65535)]);
    // A graph of one.
    assert_eq!(weight_row(&[], &RowRules { peers: 1, ..rules }), vec![]);
}

proptest! {
    /// The softplus is strictly positive and increasing above 0, and 0 at
    /// and below it (issue 14: a neighbour that helps at all is paid).
    #[test]
    fn score_is_positive_and_monotone(a in 1e-9f64..1e6, b in 1e-9f64..1e6, best in 1e-3f64..1e6) {
        let (low, high) = if a <= b { (a, b) } else { (b, a) };
        let (low, high) = (low.min(best), high.min(best));
        prop_assert!(score(low, best) > 0.0);
        prop_assert!(score(low, best) <= score(high, best));
        prop_assert_eq!(score(0.0, best), 0.0);
        prop_assert_eq!(score(-low, best), 0.0);
    }
}

#[test]
fn worth_is_smoothed_across_epochs() {
    // No history: the value itself; then the newest weighs alpha.
    assert_eq!(smoothed(None, 0.8, 0.5), 0.8);
    assert_eq!(smoothed(Some(0.8), 0.0, 0.5), 0.4);
    assert_eq!(smoothed(Some(0.8), 0.0, 1.0), 0.0);
    // One lucky epoch of a worthless neighbour is damped.
    let mut ema = None;
    for value in [0.0, 0.0, 1.0] {
        ema = Some(smoothed(ema, value, 0.25));
    }
    assert_eq!(ema, Some(0.25));
}
