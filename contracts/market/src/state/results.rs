//! `results/{graph}/{epoch % 2}/{uid / 32}`: each epoch's results, 32 uids
//! to a key, in two slots by epoch parity.

use cosmwasm_std::{Binary, StdResult, Storage};
use cw_storage_plus::Map;
use rust_decimal::Decimal;

use super::Graph;
use super::codec::{Reader, Writer};
use super::ledger::LEDGER_CHUNK;

/// Uids per `results` key (the same grouping as the ledger).
pub const RESULTS_CHUNK: u16 = LEDGER_CHUNK;
pub const RESULTS: Map<(&str, u8, u16), Binary> = Map::new("results");

/// One epoch's results for one uid (docs/SPEC.md §3).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Results {
    pub rank: Decimal,
    pub trust: Decimal,
    pub incentive: Decimal,
    pub dividends: Decimal,
    pub paid: u128,
    /// Median mode only (docs/SPEC.md §3b): `c_j` and `v_i`.
    pub median: Option<MedianResults>,
}

/// What a median-mode epoch adds to a peer's results.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MedianResults {
    /// `c_j`: the consensus weight toward this peer.
    pub median: Decimal,
    /// `v_i`: how much of this peer's row agreed with consensus.
    pub vtrust: Decimal,
}

/// The tag before an entry: none, a sigmoid epoch's, a median epoch's.
const NONE: u8 = 0;
const SIGMOID: u8 = 1;
const MEDIAN: u8 = 2;

impl Results {
    fn encode(&self, w: &mut Writer) {
        w.u8(if self.median.is_some() {
            MEDIAN
        } else {
            SIGMOID
        });
        for value in [self.rank, self.trust, self.incentive, self.dividends] {
            w.decimal(value);
        }
        w.amount(self.paid);
        if let Some(median) = self.median {
            w.decimal(median.median);
            w.decimal(median.vtrust);
        }
    }

    fn decode(tag: u8, r: &mut Reader) -> StdResult<Self> {
        let mut results = Self {
            rank: r.decimal()?,
            trust: r.decimal()?,
            incentive: r.decimal()?,
            dividends: r.decimal()?,
            paid: r.amount()?,
            median: None,
        };
        if tag == MEDIAN {
            results.median = Some(MedianResults {
                median: r.decimal()?,
                vtrust: r.decimal()?,
            });
        }
        Ok(results)
    }
}

/// The results slot epoch number `epoch` writes.
pub fn results_slot(epoch: u64) -> u8 {
    (epoch % 2) as u8
}

pub fn encode_results(entries: &[Option<Results>]) -> Binary {
    let mut w = Writer::record(entries.len() * 64);
    for entry in entries {
        match entry {
            Some(results) => results.encode(&mut w),
            None => w.u8(NONE),
        }
    }
    Binary::new(w.into_bytes())
}

pub fn decode_results(bytes: &[u8]) -> StdResult<Vec<Option<Results>>> {
    let mut r = Reader::record(bytes, "results")?;
    let mut entries = Vec::with_capacity(usize::from(RESULTS_CHUNK));
    while !r.is_empty() {
        entries.push(match r.u8()? {
            NONE => None,
            tag => Some(Results::decode(tag, &mut r)?),
        });
    }
    Ok(entries)
}

/// The results chunk `chunk` of the last finished epoch (empty before the
/// first).
pub fn load_finished_results(
    storage: &dyn Storage,
    graph_name: &str,
    graph: &Graph,
    chunk: u16,
) -> StdResult<Vec<Option<Results>>> {
    let Some(last) = graph.epoch.checked_sub(1) else {
        return Ok(Vec::new());
    };
    RESULTS
        .may_load(storage, (graph_name, results_slot(last), chunk))?
        .map_or(Ok(Vec::new()), |bytes| decode_results(&bytes))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal::prelude::dec;

    #[test]
    fn results_round_trip() {
        let results = vec![
            Some(Results {
                rank: dec!(0.1),
                trust: dec!(0.2),
                incentive: dec!(0.3),
                dividends: dec!(0.4),
                paid: 5,
                median: None,
            }),
            None,
            Some(Results::default()),
            Some(Results {
                incentive: dec!(0.5),
                median: Some(MedianResults {
                    median: dec!(0.25),
                    vtrust: dec!(0.75),
                }),
                ..Results::default()
            }),
        ];
        assert_eq!(decode_results(&encode_results(&results)).unwrap(), results);
    }
}
