//! `rows/{graph}/{uid}` and `pending/{graph}/{uid}`: a weight row and the
//! base of its bonds, one key a row.

use agora_mechanism::Bonds;
use cosmwasm_std::{Binary, StdResult, Storage};
use cw_storage_plus::Map;
use rust_decimal::Decimal;

use super::codec::{Reader, Writer};
use super::ledger::Account;

pub const ROWS: Map<(&str, u16), Binary> = Map::new("rows");
pub const PENDING_ROWS: Map<(&str, u16), Binary> = Map::new("pending");

/// A weight row and the base of its bonds (docs/SPEC.md §1 `w_i`, `b_i`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RowRecord {
    pub last_update: u64,
    /// Raw row, strictly increasing uids.
    pub weights: Vec<(u16, u16)>,
    /// [`Bonds::since`], [`Bonds::vote_sum`], [`Bonds::base`].
    pub since: u64,
    pub vote_sum: u64,
    pub base: Vec<(u16, Decimal)>,
}

impl RowRecord {
    pub fn bonds(&self, account: &Account) -> Bonds {
        Bonds {
            base: self.base.clone(),
            since: self.since,
            scale: account.bond_scale,
            accum: account.bond_accum,
            vote_sum: self.vote_sum,
        }
    }

    /// Takes `bonds`' row-level part; returns whether it changed.
    pub fn set_bonds(&mut self, bonds: Bonds) -> bool {
        let changed =
            self.base != bonds.base || self.since != bonds.since || self.vote_sum != bonds.vote_sum;
        self.base = bonds.base;
        self.since = bonds.since;
        self.vote_sum = bonds.vote_sum;
        changed
    }

    pub fn encode(&self) -> Binary {
        let mut w = Writer::record(16 + 4 * self.weights.len() + 16 * self.base.len());
        w.u64(self.last_update);
        w.u64(self.since);
        w.u64(self.vote_sum);
        w.u16(self.weights.len() as u16);
        for (uid, value) in &self.weights {
            w.u16(*uid);
            w.u16(*value);
        }
        for (uid, bond) in &self.base {
            w.u16(*uid);
            w.decimal(*bond);
        }
        Binary::new(w.into_bytes())
    }

    pub fn decode(bytes: &[u8]) -> StdResult<Self> {
        let mut r = Reader::record(bytes, "weight row")?;
        let mut row = RowRecord {
            last_update: r.u64()?,
            since: r.u64()?,
            vote_sum: r.u64()?,
            ..RowRecord::default()
        };
        let entries = r.u16()?;
        row.weights = (0..entries)
            .map(|_| Ok((r.u16()?, r.u16()?)))
            .collect::<StdResult<_>>()?;
        while !r.is_empty() {
            row.base.push((r.u16()?, r.decimal()?));
        }
        Ok(row)
    }
}

pub fn load_row(storage: &dyn Storage, graph: &str, uid: u16) -> StdResult<Option<RowRecord>> {
    ROWS.may_load(storage, (graph, uid))?
        .map(|bytes| RowRecord::decode(&bytes))
        .transpose()
}

pub fn load_pending(storage: &dyn Storage, graph: &str, uid: u16) -> StdResult<Option<RowRecord>> {
    PENDING_ROWS
        .may_load(storage, (graph, uid))?
        .map(|bytes| RowRecord::decode(&bytes))
        .transpose()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal::prelude::dec;

    #[test]
    fn rows_round_trip() {
        let row = RowRecord {
            last_update: 10,
            weights: vec![(0, 1), (7, 65535)],
            since: 3,
            vote_sum: 65536,
            base: vec![(1, dec!(0.1875)), (300, dec!(12345.0000000000000000000001))],
        };
        assert_eq!(RowRecord::decode(&row.encode()).unwrap(), row);
        assert!(RowRecord::decode(&[1, 2]).is_err());
        assert!(RowRecord::decode(&[]).is_err());
    }
}
