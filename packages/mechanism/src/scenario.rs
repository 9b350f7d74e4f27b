//! Simulation scenarios, the shared test format of docs/SPEC.md §9.
//!
//! A scenario is one graph whose rows never change, run for some epochs
//! through [`crate::epoch`], the very function the contract calls. Each epoch
//! pays `floor(E φ_i)` into `stake[i]` and takes it out of the reward pool.

use std::collections::BTreeMap;

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::amount::json as amount_json;
use crate::{Consensus, EpochInput, EpochParams, MechanismError, PeerState, Uid, epoch};

/// Blocks between two simulated epochs. Rows are refreshed every epoch, so
/// the value only has to keep them inside `activity_cutoff`.
const SIM_EPOCH_LENGTH: u64 = 100;

/// A scenario as read from JSON (docs/SPEC.md §9).
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    pub params: EpochParams,
    #[serde(with = "amount_json")]
    pub reward_pool: u128,
    /// Bonded stake by uid; its length is the number of peers.
    #[serde(with = "amount_json::vec")]
    pub stake: Vec<u128>,
    /// Raw rows by uid (`{"0": {"1": 65535}}`); a missing row is empty.
    #[serde(default)]
    pub weights: BTreeMap<String, BTreeMap<String, u16>>,
    pub epochs: u32,
}

/// Why a scenario cannot run. `agora sim` prints it and exits with code 2.
#[derive(Debug, Error)]
pub enum ScenarioError {
    #[error("scenario is not valid JSON for docs/SPEC.md §9: {0}")]
    Json(#[from] serde_json::Error),
    #[error("scenario has no peers: `stake` is empty")]
    NoPeers,
    #[error("scenario has {peers} peers; a graph holds at most {max}")]
    TooManyPeers { peers: usize, max: usize },
    #[error("weights: {key:?} is not a uid (expected a whole number in 0..{peers})")]
    NotAUid { key: String, peers: usize },
    #[error("weights: row {row} is out of range (stake lists {peers} peers)")]
    RowOutOfRange { row: u64, peers: usize },
    #[error(
        "weights: row {row} weights uid {target}, which is out of range (stake lists {peers} peers)"
    )]
    TargetOutOfRange { row: Uid, target: u64, peers: usize },
    #[error("weights: row {row} weights itself; self-weights are not allowed")]
    SelfWeight { row: Uid },
    #[error("weights: row {row} gives uid {target} a weight of 0; leave the entry out instead")]
    ZeroWeight { row: Uid, target: Uid },
    #[error(transparent)]
    Mechanism(#[from] MechanismError),
}

/// One epoch's results (docs/SPEC.md §9's output object). Decimals serialize as
/// strings, amounts as strings of digits.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct EpochReport {
    pub epoch: u32,
    pub stake_share: Vec<Decimal>,
    pub rank: Vec<Decimal>,
    pub trust: Vec<Decimal>,
    pub consensus: Vec<Decimal>,
    pub incentive: Vec<Decimal>,
    pub dividends: Vec<Decimal>,
    pub share: Vec<Decimal>,
    #[serde(with = "amount_json::vec")]
    pub paid: Vec<u128>,
    #[serde(with = "amount_json::vec")]
    pub stake_after: Vec<u128>,
    /// `E` of this epoch (an addition to docs/SPEC.md §9: `Σ paid + remainder = E`).
    #[serde(with = "amount_json")]
    pub emission: u128,
    /// `E − Σ paid`, left in the pool.
    #[serde(with = "amount_json")]
    pub remainder: u128,
    pub loss: Decimal,
    pub k_after: u32,
    #[serde(with = "amount_json")]
    pub reward_pool_after: u128,
    /// Median mode only (docs/SPEC.md §3b): `c`, the consensus weight per peer.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub median: Option<Vec<Decimal>>,
    /// Median mode only: `v`, the validator trust per peer.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vtrust: Option<Vec<Decimal>>,
}

impl Scenario {
    /// Reads a scenario from its JSON text.
    pub fn from_json(text: &str) -> Result<Self, ScenarioError> {
        Ok(serde_json::from_str(text)?)
    }

    /// Checks everything docs/SPEC.md §9 rejects and returns the peers of epoch 0.
    pub fn peers(&self) -> Result<Vec<PeerState>, ScenarioError> {
        let peers = self.stake.len();
        if peers == 0 {
            return Err(ScenarioError::NoPeers);
        }
        let max = usize::from(Uid::MAX) + 1;
        if peers > max {
            return Err(ScenarioError::TooManyPeers { peers, max });
        }
        self.params.validate()?;
        let mut states: Vec<PeerState> = self
            .stake
            .iter()
            .map(|stake| PeerState {
                stake: *stake,
                ..PeerState::default()
            })
            .collect();
        for (row_key, row) in &self.weights {
            let row_uid = parse_uid(row_key, peers)?;
            let row_uid = Uid::try_from(row_uid)
                .ok()
                .filter(|uid| usize::from(*uid) < peers)
                .ok_or(ScenarioError::RowOutOfRange {
                    row: row_uid,
                    peers,
                })?;
            let mut entries = Vec::with_capacity(row.len());
            for (target_key, value) in row {
                let target = parse_uid(target_key, peers)?;
                let target = Uid::try_from(target)
                    .ok()
                    .filter(|uid| usize::from(*uid) < peers)
                    .ok_or(ScenarioError::TargetOutOfRange {
                        row: row_uid,
                        target,
                        peers,
                    })?;
                if target == row_uid {
                    return Err(ScenarioError::SelfWeight { row: row_uid });
                }
                if *value == 0 {
                    return Err(ScenarioError::ZeroWeight {
                        row: row_uid,
                        target,
                    });
                }
                entries.push((target, *value));
            }
            // Keys are strings, so "10" sorts before "9": sort by uid.
            entries.sort_unstable_by_key(|(target, _)| *target);
            states[usize::from(row_uid)].weights = entries;
        }
        Ok(states)
    }

    /// Runs every epoch and returns one report per epoch.
    pub fn run(&self) -> Result<Vec<EpochReport>, ScenarioError> {
        let mut peers = self.peers()?;
        let mut reward_pool = self.reward_pool;
        let mut k = self.params.min_allowed_weights;
        let mut reports = Vec::with_capacity(self.epochs as usize);
        for index in 0..self.epochs {
            let last_epoch_block = u64::from(index) * SIM_EPOCH_LENGTH;
            let block = last_epoch_block + SIM_EPOCH_LENGTH;
            // Rows are fresh every epoch (docs/SPEC.md §9).
            for peer in &mut peers {
                peer.last_update = block;
            }
            let out = epoch(&EpochInput {
                params: &self.params,
                block,
                last_epoch_block,
                k,
                reward_pool,
                peers: &peers,
            })?;
            for ((peer, stake), bonds) in peers.iter_mut().zip(&out.stake_after).zip(out.bond_state)
            {
                peer.stake = *stake;
                peer.bonds = bonds;
            }
            reward_pool = out.reward_pool_after;
            k = out.k_after;
            let median_mode = self.params.consensus == Consensus::Median;
            reports.push(EpochReport {
                epoch: index,
                stake_share: normalized(out.stake_share),
                rank: normalized(out.rank),
                trust: normalized(out.trust),
                consensus: normalized(out.consensus),
                incentive: normalized(out.incentive),
                dividends: normalized(out.dividends),
                share: normalized(out.share),
                paid: out.paid,
                stake_after: out.stake_after,
                emission: out.emission,
                remainder: out.emission - out.emitted,
                loss: out.loss.normalize(),
                k_after: out.k_after,
                reward_pool_after: out.reward_pool_after,
                median: median_mode.then(|| normalized(out.median)),
                vtrust: median_mode.then(|| normalized(out.vtrust)),
            });
        }
        Ok(reports)
    }
}

/// A uid key of `weights`: a whole number (range is checked by the caller,
/// which knows whether it is a row or a target).
fn parse_uid(key: &str, peers: usize) -> Result<u64, ScenarioError> {
    let not_a_uid = || ScenarioError::NotAUid {
        key: key.to_string(),
        peers,
    };
    if key.is_empty() || !key.bytes().all(|b| b.is_ascii_digit()) {
        return Err(not_a_uid());
    }
    key.parse().map_err(|_| not_a_uid())
}

/// Drops trailing zeros so "0.4000…0" reads "0.4".
fn normalized(values: Vec<Decimal>) -> Vec<Decimal> {
    values.into_iter().map(|v| v.normalize()).collect()
}
