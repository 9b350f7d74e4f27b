//! What one epoch page reads besides rows and accounts, loaded only where
//! its rows need it (docs/SPEC.md §3a): the running epoch's column sums and
//! the registration heights, both in small chunks, so that a page's cost
//! follows its rows and their entries rather than the size of the graph.
//!
//! Both keep full-length vectors, as the mechanism's passes index them by
//! uid; chunks not loaded hold placeholders that no pass reads: every uid a
//! pass looks up (a row's owner, its targets, its bonds' targets) is loaded
//! first by [`targets_of`].

use std::collections::BTreeSet;

use agora_mechanism::{Columns, Decimal, Settlement};
use cosmwasm_std::{Binary, StdResult, Storage};

use crate::state::codec::{Reader, Writer};
use crate::state::{COLUMNS_CHUNK, EPOCH_COLUMNS, RowRecord, load_registry_for};

/// Every uid whose registration height or column a pass over these rows
/// (and rows held as pending for them) reads: the rows' owners, their
/// targets and their bonds' targets, in order. (A mark per uid: a page
/// may name every uid many times over.)
pub fn targets_of<'a>(
    peers: u32,
    owners: impl Iterator<Item = u16>,
    rows: impl Iterator<Item = &'a RowRecord>,
) -> Vec<u16> {
    let mut marked = vec![false; peers as usize];
    let mut mark = |uid: u16| {
        if let Some(slot) = marked.get_mut(usize::from(uid)) {
            *slot = true;
        }
    };
    owners.for_each(&mut mark);
    for row in rows {
        row.weights.iter().for_each(|(uid, _)| mark(*uid));
        row.base.iter().for_each(|(uid, _)| mark(*uid));
    }
    (0..peers as u16)
        .filter(|uid| marked[usize::from(*uid)])
        .collect()
}

/// Registration heights of the uids a page reads into `registered`, where
/// not already known (`u64::MAX`: never a real height); the others stay
/// `u64::MAX` and are never looked up.
pub fn load_heights(
    storage: &dyn Storage,
    graph: &str,
    registered: &mut [u64],
    uids: &[u16],
) -> StdResult<()> {
    let missing = uids
        .iter()
        .copied()
        .filter(|uid| registered.get(usize::from(*uid)) == Some(&u64::MAX));
    let loaded = load_registry_for(storage, graph, registered.len() as u32, missing)?;
    for (slot, height) in registered.iter_mut().zip(loaded) {
        if *slot == u64::MAX {
            *slot = height;
        }
    }
    Ok(())
}

/// The running epoch's three columns per uid: rank, trust in tokens, and
/// the bond column sums (absorb) or the dividend per bond (pay), stored
/// [`COLUMNS_CHUNK`] uids to a key and loaded chunk by chunk. A median
/// graph's settled columns add two: `c_j` and the clipped rank `R̄_j`
/// (docs/SPEC.md §3b).
pub struct ColumnStore {
    graph: String,
    peers: usize,
    median: bool,
    loaded: BTreeSet<u16>,
    dirty: BTreeSet<u16>,
}

fn chunk_of(uid: u16) -> u16 {
    uid / COLUMNS_CHUNK
}

impl ColumnStore {
    pub fn new(graph: &str, peers: u32, median: bool) -> Self {
        Self {
            graph: graph.to_string(),
            peers: peers as usize,
            median,
            loaded: BTreeSet::new(),
            dirty: BTreeSet::new(),
        }
    }

    fn chunks(&self) -> u16 {
        self.peers.div_ceil(usize::from(COLUMNS_CHUNK)) as u16
    }

    /// Columns of zeros, as the first page starts them: every chunk counts
    /// as loaded.
    pub fn start(&mut self) -> Columns {
        self.loaded = (0..self.chunks()).collect();
        Columns::new(self.peers)
    }

    /// Empty columns, to be filled by [`ColumnStore::ensure`].
    pub fn resume(&self) -> Columns {
        let mut columns = Columns::new(self.peers);
        if self.median {
            columns.median = vec![Decimal::ZERO; self.peers];
            columns.clipped_rank = vec![Decimal::ZERO; self.peers];
        }
        columns
    }

    /// Loads the chunks holding `uids` that are not loaded yet.
    pub fn ensure(
        &mut self,
        storage: &dyn Storage,
        columns: &mut Columns,
        uids: impl IntoIterator<Item = u16>,
    ) -> StdResult<()> {
        let wanted: BTreeSet<u16> = uids.into_iter().map(chunk_of).collect();
        for chunk in wanted {
            if self.loaded.insert(chunk) {
                self.load_chunk(storage, columns, chunk)?;
            }
        }
        Ok(())
    }

    /// Loads every chunk: settling reads every column.
    pub fn ensure_all(&mut self, storage: &dyn Storage, columns: &mut Columns) -> StdResult<()> {
        self.ensure(
            storage,
            columns,
            (0..self.chunks()).map(|c| c * COLUMNS_CHUNK),
        )
    }

    /// Marks the chunks holding `uids` as changed by this page.
    pub fn touch(&mut self, uids: impl IntoIterator<Item = u16>) {
        self.dirty.extend(uids.into_iter().map(chunk_of));
    }

    /// A chunk no page has written yet is all zeros.
    fn load_chunk(
        &self,
        storage: &dyn Storage,
        columns: &mut Columns,
        chunk: u16,
    ) -> StdResult<()> {
        let Some(bytes) = EPOCH_COLUMNS.may_load(storage, (&self.graph, chunk))? else {
            return Ok(());
        };
        let mut r = Reader::record(&bytes, "epoch columns")?;
        // Absorb pages never store a median graph's columns (it absorbs in
        // one page), so a stored median chunk is always a settled one.
        for uid in self.range(chunk) {
            columns.rank[uid] = r.decimal()?;
            columns.trust_stake[uid] = r.amount()?;
            columns.bond_total[uid] = r.decimal()?;
            if let (Some(median), Some(clipped)) = (
                columns.median.get_mut(uid),
                columns.clipped_rank.get_mut(uid),
            ) {
                *median = r.decimal()?;
                *clipped = r.decimal()?;
            }
        }
        r.end()
    }

    fn range(&self, chunk: u16) -> std::ops::Range<usize> {
        let start = usize::from(chunk) * usize::from(COLUMNS_CHUNK);
        start..(start + usize::from(COLUMNS_CHUNK)).min(self.peers)
    }

    /// Writes the chunks this page changed.
    pub fn save_dirty(&mut self, storage: &mut dyn Storage, columns: &Columns) -> StdResult<()> {
        let dirty = std::mem::take(&mut self.dirty);
        for chunk in dirty {
            let settled = Settled {
                rank: &columns.rank,
                trust_stake: &columns.trust_stake,
                third: &columns.bond_total,
                median: &[],
                clipped_rank: &[],
            };
            self.save_chunk(storage, chunk, &settled)?;
        }
        Ok(())
    }

    /// Writes every chunk of a settlement: the third column is its
    /// dividend per bond, and a median graph's `c` and `R̄` follow.
    pub fn save_all(&self, storage: &mut dyn Storage, settlement: &Settlement) -> StdResult<()> {
        let settled = Settled {
            rank: &settlement.rank,
            trust_stake: &settlement.trust_stake,
            third: &settlement.dividend_per_bond,
            median: &settlement.median,
            clipped_rank: &settlement.clipped_rank,
        };
        for chunk in 0..self.chunks() {
            self.save_chunk(storage, chunk, &settled)?;
        }
        Ok(())
    }

    fn save_chunk(
        &self,
        storage: &mut dyn Storage,
        chunk: u16,
        columns: &Settled,
    ) -> StdResult<()> {
        let range = self.range(chunk);
        let mut w = Writer::record(range.len() * 64);
        for uid in range {
            w.decimal(columns.rank[uid]);
            w.amount(columns.trust_stake[uid]);
            w.decimal(columns.third[uid]);
            if self.median {
                let value = |v: &[Decimal]| v.get(uid).copied().unwrap_or_default();
                w.decimal(value(columns.median));
                w.decimal(value(columns.clipped_rank));
            }
        }
        EPOCH_COLUMNS.save(storage, (&self.graph, chunk), &Binary::new(w.into_bytes()))
    }
}

/// Columns as a chunk stores them.
struct Settled<'a> {
    rank: &'a [Decimal],
    trust_stake: &'a [u128],
    third: &'a [Decimal],
    median: &'a [Decimal],
    clipped_rank: &'a [Decimal],
}

impl ColumnStore {
    /// Removes every chunk once the epoch closes.
    pub fn remove_all(&self, storage: &mut dyn Storage) {
        for chunk in 0..self.chunks() {
            EPOCH_COLUMNS.remove(storage, (&self.graph, chunk));
        }
    }
}
