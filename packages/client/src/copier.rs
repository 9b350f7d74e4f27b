//! The copier story (issue 14, `agora bench copier`): does copying the
//! visible consensus pay? Four servers whose quality drifts in a wave, four
//! honest validators who rank them by that quality (each with its own
//! noise), and a copier who evaluates nothing and sets its row to the
//! stake-weighted consensus of the rows the chain shows. Its result is
//! `G`: the copier's dividends per token of stake over the honest median's,
//! averaged over the epochs after a warm-up.
//!
//! The story runs through a [`Chain`]'s real messages (commit, reveal,
//! set_weights, epoch), so it measures the contract, not a model of it.

use std::collections::VecDeque;

use agora_market::execute::commit::commit_hash;
use agora_market::msg::{Consensus, GraphParams, TEXT};
use rust_decimal::Decimal;
use serde::Serialize;

use crate::embedded::EmbeddedChain;
use crate::{Chain, ChainError};

const SERVERS: [&str; 4] = ["alice", "bob", "carol", "dave"];
const VALIDATORS: [&str; 4] = ["erin", "frank", "grace", "heidi"];
const COPIER: &str = "ivan";
const ADMIN: &str = "admin";
const STAKE: u128 = 1_000_000_000;
const EPOCH_LENGTH: u64 = 10;

/// One row of the bench: a graph's settings and the copier's `G` under them.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct CopierCase {
    /// `"sigmoid"` or `"median"` (docs/SPEC.md §3b).
    pub consensus: Consensus,
    pub commit_reveal: bool,
    /// Epochs between a commit and its reveal (1 when commit-reveal is off).
    pub reveal_period: u64,
    pub bond_decay: Decimal,
    /// Epochs per period of the servers' quality wave.
    pub drift_period: u64,
}

/// A case and what it measured.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct CopierRow {
    #[serde(flatten)]
    pub case: CopierCase,
    /// The copier's dividends per stake over the honest median's, averaged
    /// over the measured epochs.
    pub g: Decimal,
}

/// How long the story runs: `epochs` in all, `G` averaged from `from` on.
#[derive(Clone, Copy, Debug)]
pub struct Span {
    pub epochs: u64,
    pub from: u64,
}

impl Span {
    /// The span: 300 epochs, averaged over epochs 50-300.
    pub const BENCH: Span = Span {
        epochs: 300,
        from: 50,
    };
}

/// The bench's rows: both consensus modes × commit-reveal off, on with
/// reveal period 1 and 3 × bond decay 0 and 0.1 × drift periods 8 and 32.
pub fn bench_cases() -> Vec<CopierCase> {
    let mut cases = Vec::new();
    for consensus in [Consensus::Sigmoid, Consensus::Median] {
        for drift_period in [8, 32] {
            for bond_decay in [Decimal::ZERO, Decimal::new(1, 1)] {
                for (commit_reveal, reveal_period) in [(false, 1), (true, 1), (true, 3)] {
                    cases.push(CopierCase {
                        consensus,
                        commit_reveal,
                        reveal_period,
                        bond_decay,
                        drift_period,
                    });
                }
            }
        }
    }
    cases
}

/// Server `j`'s quality in epoch `t`: a wave of `period` epochs (for 8:
/// 1, 3, 6, 9, 9, 6, 3, 1, each value held `period / 8` epochs), each
/// server a quarter period after the previous one.
fn quality(server: usize, epoch: u64, period: u64) -> u64 {
    const WAVE: [u64; 8] = [1, 3, 6, 9, 9, 6, 3, 1];
    let phase = (epoch + server as u64 * period / 4) % period;
    WAVE[(phase * 8 / period) as usize] * 100
}

/// Validator `v`'s row in epoch `t`: quality plus its own noise.
fn honest_row(validator: usize, epoch: u64, period: u64) -> Vec<(u16, u16)> {
    (0..SERVERS.len())
        .map(|server| {
            let noise = (validator as u64 * 7919 + epoch * 104_729 + server as u64 * 31) % 200;
            (
                server as u16,
                (quality(server, epoch, period) + noise) as u16,
            )
        })
        .collect()
}

/// The stake-weighted consensus of `rows` (each normalized), scaled so its
/// largest entry is 65535: what a copier who reads the chain can compute.
fn visible_consensus(rows: &[(u128, Vec<(u16, u16)>)]) -> Vec<(u16, u16)> {
    let mut column = [0u128; SERVERS.len()];
    for (stake, row) in rows {
        let sum: u128 = row.iter().map(|(_, w)| u128::from(*w)).sum();
        if sum == 0 {
            continue;
        }
        for (server, w) in row {
            if let Some(c) = column.get_mut(usize::from(*server)) {
                *c += stake * u128::from(*w) * 1_000_000 / sum;
            }
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

/// The graph a case runs on.
pub fn case_params(case: &CopierCase) -> GraphParams {
    GraphParams::builder()
        .consensus(case.consensus)
        .bond_decay(case.bond_decay)
        .commit_reveal(case.commit_reveal)
        .reveal_period(case.reveal_period)
        .epoch_length(EPOCH_LENGTH)
        .peg_ceiling(1)
        .emission_per_epoch(10_000_000)
        .unbonding_period(10)
        .build()
}

/// Runs `case` on a fresh embedded chain; `progress` is called after
/// every epoch.
pub fn run_embedded(
    case: &CopierCase,
    span: Span,
    progress: impl FnMut(u64),
) -> Result<CopierRow, ChainError> {
    let mut chain = EmbeddedChain::new("uagora", ADMIN, 1_000_000_000_000, case_params(case))?;
    for name in SERVERS.iter().chain(&VALIDATORS).chain([&COPIER]) {
        chain.fund(ADMIN, name, 2 * STAKE)?;
    }
    run(&mut chain, case, span, progress)
}

/// A row and the salt it was committed with.
type Committed = (Vec<(u16, u16)>, Vec<u8>);

/// A peer's rows in flight under commit-reveal: committed, not yet
/// revealed, oldest first.
#[derive(Default)]
struct InFlight(VecDeque<Committed>);

impl InFlight {
    /// Reveals the oldest row once `period` rows wait.
    fn reveal_due<C: Chain>(
        &mut self,
        chain: &mut C,
        name: &str,
        period: u64,
    ) -> Result<(), ChainError> {
        if self.0.len() as u64 >= period
            && let Some((oldest, salt)) = self.0.pop_front()
        {
            chain.reveal_weights(name, TEXT, &oldest, &salt)?;
        }
        Ok(())
    }

    /// Commits `row` (nothing for an empty one) with a fresh salt.
    fn commit<C: Chain>(
        &mut self,
        chain: &mut C,
        (name, uid): (&str, u16),
        row: Vec<(u16, u16)>,
    ) -> Result<(), ChainError> {
        if !row.is_empty() {
            let salt = crate::commit_salt();
            chain.commit_weights(name, TEXT, commit_hash(uid, &row, &salt))?;
            self.0.push_back((row, salt));
        }
        Ok(())
    }
}

/// Runs `case` on `chain`, whose accounts [`SERVERS`], [`VALIDATORS`] and
/// the copier hold at least [`STAKE`] and whose TEXT graph has
/// [`case_params`]. `progress` is called after every epoch.
pub fn run<C: Chain>(
    chain: &mut C,
    case: &CopierCase,
    span: Span,
    mut progress: impl FnMut(u64),
) -> Result<CopierRow, ChainError> {
    chain.fund_rewards(ADMIN, TEXT, 100_000_000_000)?;
    for name in SERVERS.iter().chain(&VALIDATORS).chain([&COPIER]) {
        chain.register(name, TEXT, "http://127.0.0.1:1", 0)?;
    }
    chain.reach_height(chain.height()? + 1)?;
    for name in VALIDATORS.iter().chain([&COPIER]) {
        chain.stake(name, TEXT, STAKE)?;
    }
    let uid_of = |peers: &[agora_market::msg::PeerInfo], name: &str| -> Result<u16, ChainError> {
        let address = chain.address(name)?;
        peers
            .iter()
            .find(|p| p.address.as_str() == address)
            .map(|p| p.uid)
            .ok_or_else(|| ChainError::Query(format!("{name} is not registered")))
    };
    let peers = chain.metagraph(TEXT)?;
    let validators: Vec<u16> = VALIDATORS
        .iter()
        .map(|name| uid_of(&peers, name))
        .collect::<Result<_, _>>()?;
    let copier = uid_of(&peers, COPIER)?;
    let period = case.reveal_period;
    let mut honest_in_flight: Vec<InFlight> =
        VALIDATORS.iter().map(|_| InFlight::default()).collect();
    let mut copier_in_flight = InFlight::default();
    let mut ratios = Vec::new();
    for epoch in 0..span.epochs {
        chain.reach_height(chain.height()? + 1)?;
        for (v, (name, uid)) in VALIDATORS.iter().zip(&validators).enumerate() {
            let row = honest_row(v, epoch, case.drift_period);
            if case.commit_reveal {
                honest_in_flight[v].reveal_due(chain, name, period)?;
                honest_in_flight[v].commit(chain, (name, *uid), row)?;
            } else {
                chain.set_weights(name, TEXT, &row)?;
            }
        }
        if case.commit_reveal {
            // Reveal first, so the copier reads what everyone else can.
            copier_in_flight.reveal_due(chain, COPIER, period)?;
        }
        let before = chain.metagraph(TEXT)?;
        let mut visible = Vec::new();
        for uid in &validators {
            let stake = before[usize::from(*uid)].stake.u128();
            visible.push((stake, chain.weights(TEXT, *uid)?.weights));
        }
        let copy = visible_consensus(&visible);
        if case.commit_reveal {
            copier_in_flight.commit(chain, (COPIER, copier), copy)?;
        } else if !copy.is_empty() {
            chain.set_weights(COPIER, TEXT, &copy)?;
        }
        chain.advance_to_due(TEXT)?;
        chain.epoch(ADMIN, TEXT, None)?;
        progress(epoch);
        if epoch < span.from {
            continue;
        }
        let after = chain.metagraph(TEXT)?;
        let per_stake = |uid: u16| {
            let stake = before[usize::from(uid)].stake.u128().max(1);
            after[usize::from(uid)].dividends.0 / Decimal::from(stake)
        };
        let mut honest: Vec<Decimal> = validators.iter().map(|uid| per_stake(*uid)).collect();
        honest.sort();
        let median = (honest[1] + honest[2]) / Decimal::TWO;
        if !median.is_zero() {
            ratios.push(per_stake(copier) / median);
        }
    }
    let g = if ratios.is_empty() {
        Decimal::ZERO
    } else {
        ratios.iter().sum::<Decimal>() / Decimal::from(ratios.len())
    };
    Ok(CopierRow { case: *case, g })
}
