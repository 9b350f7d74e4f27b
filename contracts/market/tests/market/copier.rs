//! Does commit-reveal make copying the consensus unprofitable? A measured
//! story (issue 8): four servers whose quality drifts every epoch, four
//! honest validators who rank them by that quality (each with its own
//! noise), and a copier who evaluates nothing and sets its row to the
//! stake-weighted consensus of the rows it can read. Run with
//! `cargo test -p agora-market --test copier -- --nocapture` for the table.

use std::collections::VecDeque;

use crate::suite::{Suite, SuiteBuilder};
use agora_market::msg::TEXT;
use rust_decimal::Decimal;

const SERVERS: [&str; 4] = ["alice", "bob", "carol", "dave"];
const VALIDATORS: [&str; 4] = ["erin", "frank", "grace", "heidi"];
const COPIER: &str = "ivan";
const STAKE: u128 = 1_000_000_000;
const EPOCHS: u64 = 36;
/// Epochs left out of the average while bonds build up.
const WARM_UP: u64 = 8;
const SALT: &[u8] = b"salt for the copier story";

/// Server `j`'s quality in epoch `t`: a wave of period 8, each server a
/// quarter period apart, so the best server changes every two epochs.
fn quality(server: usize, epoch: u64) -> u64 {
    const WAVE: [u64; 8] = [1, 3, 6, 9, 9, 6, 3, 1];
    WAVE[((epoch as usize) + 2 * server) % 8] * 100
}

/// Validator `v`'s row in epoch `t`: quality plus its own noise.
fn honest_row(validator: usize, epoch: u64) -> Vec<(u16, u16)> {
    (0..SERVERS.len())
        .map(|server| {
            let noise = (validator as u64 * 7919 + epoch * 104_729 + server as u64 * 31) % 200;
            (server as u16, (quality(server, epoch) + noise) as u16)
        })
        .collect()
}

/// The stake-weighted consensus of `rows` (each normalized), scaled so its
/// largest entry is 65535.
fn consensus(rows: &[(u128, Vec<(u16, u16)>)]) -> Vec<(u16, u16)> {
    let mut column = [0u128; SERVERS.len()];
    for (stake, row) in rows {
        let sum: u128 = row.iter().map(|(_, w)| u128::from(*w)).sum();
        if sum == 0 {
            continue;
        }
        for (server, w) in row {
            column[usize::from(*server)] += stake * u128::from(*w) * 1_000_000 / sum;
        }
    }
    let max = column.iter().copied().max().unwrap_or(0).max(1);
    column
        .iter()
        .enumerate()
        .filter(|(_, c)| **c > 0)
        .map(|(server, c)| (server as u16, (c * 65535 / max).max(1) as u16))
        .collect()
}

struct Outcome {
    /// Copier's dividends per token of stake over the honest median's.
    ratio: Decimal,
}

/// `reveal_period` 0 means commit-reveal off.
fn run(reveal_period: u64, bond_decay: Decimal) -> Outcome {
    let commit_reveal = reveal_period > 0;
    let mut suite: Suite = SuiteBuilder::new()
        .with_params(|p| {
            p.bond_decay = bond_decay.into();
            p.commit_reveal = commit_reveal;
            p.reveal_period = reveal_period.max(1);
            p.epoch_length = 10;
            p.peg_ceiling = 1;
            p.emission_per_epoch = 10_000_000u128.into();
        })
        .build();
    suite.fund(TEXT, 100_000_000_000).unwrap();
    for name in SERVERS.iter().chain(&VALIDATORS).chain([&COPIER]) {
        suite.register(name).unwrap();
    }
    suite.next_block();
    for name in VALIDATORS.iter().chain([&COPIER]) {
        suite.stake(name, STAKE).unwrap();
    }
    let validator_uids: Vec<u16> = VALIDATORS.iter().map(|v| suite.uid(v)).collect();
    let copier_uid = suite.uid(COPIER);
    // Rows committed and not yet revealed, oldest first: one per epoch.
    let mut in_flight: Vec<VecDeque<Vec<(u16, u16)>>> = vec![VecDeque::new(); VALIDATORS.len()];
    let mut copier_in_flight: VecDeque<Vec<(u16, u16)>> = VecDeque::new();
    let due = |queue: &VecDeque<Vec<(u16, u16)>>| queue.len() as u64 >= reveal_period;
    let mut ratios = Vec::new();
    for epoch in 0..EPOCHS {
        suite.next_block();
        for (v, name) in VALIDATORS.iter().enumerate() {
            let row = honest_row(v, epoch);
            if commit_reveal {
                if due(&in_flight[v]) {
                    let oldest = in_flight[v].pop_front().expect("due");
                    suite.reveal(name, &oldest, SALT).unwrap();
                }
                suite.commit(name, &row, SALT).unwrap();
                in_flight[v].push_back(row);
            } else {
                suite.set_weights(name, &row).unwrap();
            }
        }
        if commit_reveal && due(&copier_in_flight) {
            let oldest = copier_in_flight.pop_front().expect("due");
            suite.reveal(COPIER, &oldest, SALT).unwrap();
        }
        // The copier reads every row the chain shows now.
        let visible: Vec<(u128, Vec<(u16, u16)>)> = validator_uids
            .iter()
            .map(|uid| {
                (
                    suite.peer(TEXT, *uid).stake.u128(),
                    suite.weights(TEXT, *uid).weights,
                )
            })
            .collect();
        let copy = consensus(&visible);
        if !copy.is_empty() {
            if commit_reveal {
                suite.commit(COPIER, &copy, SALT).unwrap();
                copier_in_flight.push_back(copy);
            } else {
                suite.set_weights(COPIER, &copy).unwrap();
            }
        }
        let stake_before: Vec<u128> = validator_uids
            .iter()
            .chain([&copier_uid])
            .map(|uid| suite.peer(TEXT, *uid).stake.u128())
            .collect();
        suite.run_epoch(TEXT);
        if epoch < WARM_UP {
            continue;
        }
        let per_stake: Vec<Decimal> = validator_uids
            .iter()
            .chain([&copier_uid])
            .zip(&stake_before)
            .map(|(uid, stake)| suite.peer(TEXT, *uid).dividends.0 / Decimal::from(*stake))
            .collect();
        let mut honest = per_stake[..VALIDATORS.len()].to_vec();
        honest.sort();
        let median = (honest[1] + honest[2]) / Decimal::TWO;
        if !median.is_zero() {
            ratios.push(per_stake[VALIDATORS.len()] / median);
        }
    }
    let ratio = ratios.iter().sum::<Decimal>() / Decimal::from(ratios.len());
    Outcome { ratio }
}

#[test]
fn commit_reveal_lowers_what_a_copier_earns() {
    println!("copier's dividends per token of stake / the honest median's");
    println!("| bond_decay | off | on, reveal_period 1 | on, reveal_period 3 |");
    println!("|---|---|---|---|");
    for decay in [Decimal::ZERO, Decimal::new(1, 1)] {
        let off = run(0, decay).ratio;
        let on = run(1, decay).ratio;
        let longer = run(3, decay).ratio;
        println!("| {decay} | {off:.4} | {on:.4} | {longer:.4} |");
        assert!(on < off, "d = {decay}: on {on} is not below off {off}");
    }
}
