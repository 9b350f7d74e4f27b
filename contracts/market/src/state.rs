//! Storage, laid out for the epoch's reads and writes (see
//! `docs/performance.md`: a byte written costs 30 gas, a byte read 3, and
//! every key 1000-2000 more).
//!
//! | key | value | written by |
//! |---|---|---|
//! | `config` | denom, admin, pending admin | admin messages |
//! | `graphs/{graph}` | params, peg `k`, clock, totals, pool, the running epoch's cursor | most messages |
//! | `peers/{graph}/{uid}` | address, endpoint, registration height (JSON) | register, serve |
//! | `uids/{graph}/{address}` | uid: address → uid, the only index | register, prune |
//! | `registry/{graph}/{uid / 64}` | registration heights of 64 uids, 8 bytes each | register |
//! | `ledger/{graph}/{uid / 32}` | [`Account`]s of 32 uids: stake, flags, bond scalars | stake, set_weights, the epoch's pay pass |
//! | `results/{graph}/{epoch % 2}/{uid / 32}` | [`Results`] of 32 uids, one slot per epoch parity | the epoch's pay pass |
//! | `rows/{graph}/{uid}` | [`RowRecord`]: the weight row (4 bytes an entry) and its bonds' base | set_weights (rarely the epoch) |
//! | `pending/{graph}/{uid}` | a row sent while the epoch had yet to pay that uid | set_weights, the epoch |
//! | `epoch_columns/{graph}/{uid / 1024}` | the running epoch's column sums, between pages | the epoch |
//! | `commits/{graph}/{uid}` | unrevealed row hashes and the epoch of each (commit-reveal) | commit_weights, reveal_weights |
//! | `claims/{address}` | unbonding amounts and release heights | unstake, prune, claim |
//! | `total_claims` | Σ pending claims: the token invariant without a scan | likewise |
//!
//! Why this shape: the epoch must read every row and rewrite every peer's
//! stake. Bonds are kept factored ([`agora_mechanism::Bonds`]), so a row's
//! bonds cost the epoch two scalars in its [`Account`] and the row record is
//! only rewritten when its owner sends a new row. Accounts are grouped 32 to
//! a key so the epoch pays one key's fixed cost per 32 peers, and a stake
//! message still writes only ~1 KB. An epoch's results go to one of two
//! slots by its parity, so a paged epoch writes its results without
//! rewriting the last finished epoch's, which queries keep showing until
//! the last page has run; the epoch never reads results. Registration heights, which every page
//! needs for every uid (masking), sit apart in small fixed-width chunks.

use agora_mechanism::Bonds;
use cosmwasm_std::{Addr, Binary, HexBinary, StdError, StdResult, Storage, Uint128};
use cw_storage_plus::{Item, Map};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::codec::{Reader, Writer};
use crate::params::GraphParams;

/// Uids per `ledger` key.
pub const LEDGER_CHUNK: u16 = 32;
/// Uids per `registry` key.
pub const REGISTRY_CHUNK: u16 = 64;
/// Uids per `results` key (the same grouping as the ledger).
pub const RESULTS_CHUNK: u16 = LEDGER_CHUNK;
/// Uids per `epoch_columns` key (~40 KB; a chain caps a value at 128 KiB).
pub const COLUMNS_CHUNK: u16 = 1024;

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct Config {
    pub denom: String,
    pub admin: Addr,
    pub pending_admin: Option<Addr>,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct Graph {
    pub params: GraphParams,
    /// The peg's `k` (docs/SPEC.md §6), enforced on new rows.
    pub k: u32,
    /// Registered peers: uids `0..peers` are all taken.
    pub peers: u32,
    pub created_at: u64,
    /// Epochs finished so far; also the number of the running epoch.
    pub epoch: u64,
    /// Height of the last finished epoch (`created_at` before the first).
    pub last_epoch_block: u64,
    pub last_loss: Decimal,
    pub last_emitted: Uint128,
    /// ρ and κ of the last finished epoch: consensus is shown as
    /// `σ(ρ (t − κ))` of the stored trust, with the parameters it had.
    pub last_rho_kappa: (Decimal, Decimal),
    /// Σ bonded stake of the graph's peers, now.
    pub total_stake: Uint128,
    pub reward_pool: Uint128,
    /// The epoch in progress, if its pages have not all run.
    pub run: Option<EpochRun>,
}

impl Graph {
    pub fn new(params: GraphParams, created_at: u64) -> Self {
        let rho_kappa = (params.rho.0, params.kappa.0);
        Self {
            k: params.min_allowed_weights,
            params,
            peers: 0,
            created_at,
            epoch: 0,
            last_epoch_block: created_at,
            last_loss: Decimal::ZERO,
            last_emitted: Uint128::zero(),
            last_rho_kappa: rho_kappa,
            total_stake: Uint128::zero(),
            reward_pool: Uint128::zero(),
            run: None,
        }
    }

    pub fn next_due_block(&self) -> u64 {
        self.last_epoch_block
            .saturating_add(self.params.epoch_length)
    }

    /// Whether the running epoch has yet to pay `uid`: its stake and row
    /// as they were when the epoch began still count.
    pub fn epoch_still_needs(&self, uid: u16) -> bool {
        self.run.as_ref().is_some_and(|run| {
            u32::from(uid) < run.peers
                && (run.phase == Phase::Absorb || u32::from(uid) >= run.next_uid)
        })
    }
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    /// Rows are being added into the column sums.
    Absorb,
    /// Columns are settled; peers are being paid.
    Pay,
}

/// The cursor of a paged epoch (docs/SPEC.md §3 run as passes).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct EpochRun {
    /// Height at which the epoch began: its `block` throughout.
    pub block: u64,
    /// Peers at the start; later registrations wait for the next epoch.
    pub peers: u32,
    /// `Σ S` at the start.
    pub total_stake: Uint128,
    pub phase: Phase,
    /// The next uid the current phase handles.
    pub next_uid: u32,
    pub pages: u32,
    /// Set when the columns are settled.
    pub rank_consensus_total: Decimal,
    pub emission: Uint128,
    pub emitted: Uint128,
    pub loss: Decimal,
    pub k_after: u32,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct Peer {
    pub address: Addr,
    pub endpoint: String,
    pub registered_at: u64,
}

/// What the epoch reads and writes for one uid.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Account {
    pub stake: u128,
    /// `(epoch, stake)`: the stake at the start of the running epoch
    /// `epoch`, kept when stake moves while that epoch still needs it.
    pub epoch_stake: Option<(u64, u128)>,
    /// A `rows` record exists.
    pub has_row: bool,
    /// A `pending` row waits for the running epoch to pay this uid.
    pub has_pending: bool,
    /// [`Bonds::scale`] and [`Bonds::accum`].
    pub bond_scale: Decimal,
    pub bond_accum: Decimal,
}

/// One epoch's results for one uid (docs/SPEC.md §3).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Results {
    pub rank: Decimal,
    pub trust: Decimal,
    pub incentive: Decimal,
    pub dividends: Decimal,
    pub paid: u128,
}

impl Results {
    fn encode(&self, w: &mut Writer) {
        for value in [self.rank, self.trust, self.incentive, self.dividends] {
            w.decimal(value);
        }
        w.amount(self.paid);
    }

    fn decode(r: &mut Reader) -> StdResult<Self> {
        Ok(Self {
            rank: r.decimal()?,
            trust: r.decimal()?,
            incentive: r.decimal()?,
            dividends: r.decimal()?,
            paid: r.amount()?,
        })
    }
}

impl Default for Account {
    fn default() -> Self {
        Self {
            stake: 0,
            epoch_stake: None,
            has_row: false,
            has_pending: false,
            bond_scale: Decimal::ONE,
            bond_accum: Decimal::ZERO,
        }
    }
}

const SNAPSHOT: u8 = 1;
const HAS_ROW: u8 = 2;
const PENDING: u8 = 4;
const BONDS: u8 = 8;

impl Account {
    /// The stake epoch number `epoch` counts for this uid.
    pub fn stake_in_epoch(&self, epoch: u64) -> u128 {
        match self.epoch_stake {
            Some((tag, stake)) if tag == epoch => stake,
            _ => self.stake,
        }
    }

    /// Keeps the stake the running epoch counts before it moves.
    pub fn hold_epoch_stake(&mut self, graph: &Graph, uid: u16) {
        if graph.epoch_still_needs(uid)
            && !matches!(self.epoch_stake, Some((tag, _)) if tag == graph.epoch)
        {
            self.epoch_stake = Some((graph.epoch, self.stake));
        }
    }

    fn encode(&self, w: &mut Writer) {
        let bonds = self.bond_scale != Decimal::ONE || !self.bond_accum.is_zero();
        let mut flags = 0;
        for (on, bit) in [
            (self.epoch_stake.is_some(), SNAPSHOT),
            (self.has_row, HAS_ROW),
            (self.has_pending, PENDING),
            (bonds, BONDS),
        ] {
            if on {
                flags |= bit;
            }
        }
        w.u8(flags);
        w.amount(self.stake);
        if let Some((epoch, stake)) = self.epoch_stake {
            w.u64(epoch);
            w.amount(stake);
        }
        if bonds {
            w.decimal(self.bond_scale);
            w.decimal(self.bond_accum);
        }
    }

    fn decode(r: &mut Reader) -> StdResult<Self> {
        let flags = r.u8()?;
        let mut account = Account {
            stake: r.amount()?,
            has_row: flags & HAS_ROW != 0,
            has_pending: flags & PENDING != 0,
            ..Account::default()
        };
        if flags & SNAPSHOT != 0 {
            account.epoch_stake = Some((r.u64()?, r.amount()?));
        }
        if flags & BONDS != 0 {
            account.bond_scale = r.decimal()?;
            account.bond_accum = r.decimal()?;
        }
        Ok(account)
    }
}

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
        let mut w = Writer::with_capacity(16 + 4 * self.weights.len() + 16 * self.base.len());
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
        let mut r = Reader::new(bytes, "weight row");
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

pub const CONFIG: Item<Config> = Item::new("config");
pub const GRAPHS: Map<&str, Graph> = Map::new("graphs");
pub const PEERS: Map<(&str, u16), Peer> = Map::new("peers");
pub const UIDS: Map<(&str, &Addr), u16> = Map::new("uids");
pub const REGISTRY: Map<(&str, u16), Binary> = Map::new("registry");
pub const LEDGER: Map<(&str, u16), Binary> = Map::new("ledger");
pub const ROWS: Map<(&str, u16), Binary> = Map::new("rows");
pub const PENDING_ROWS: Map<(&str, u16), Binary> = Map::new("pending");
pub const EPOCH_COLUMNS: Map<(&str, u16), Binary> = Map::new("epoch_columns");
pub const RESULTS: Map<(&str, u8, u16), Binary> = Map::new("results");
pub const COMMITS: Map<(&str, u16), Vec<Commit>> = Map::new("commits");
pub const CLAIMS: Map<&Addr, Vec<Claim>> = Map::new("claims");
pub const TOTAL_CLAIMS: Item<Uint128> = Item::new("total_claims");

/// A committed row hash (`execute::commit`).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct Commit {
    pub hash: HexBinary,
    /// Epochs the graph had finished when the commit was made.
    pub epoch: u64,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct Claim {
    pub amount: Uint128,
    pub release_at: u64,
}

/// Every registration height of `graph`'s first `peers` uids.
pub fn load_registry(storage: &dyn Storage, graph: &str, peers: u32) -> StdResult<Vec<u64>> {
    let mut heights = Vec::with_capacity(peers as usize);
    let chunks = peers.div_ceil(u32::from(REGISTRY_CHUNK));
    for chunk in 0..chunks {
        let bytes = REGISTRY.load(storage, (graph, chunk as u16))?;
        if bytes.len() % 8 != 0 {
            return Err(StdError::msg("corrupt registry in storage"));
        }
        heights.extend(
            bytes
                .chunks_exact(8)
                .map(|b| u64::from_le_bytes(b.try_into().expect("8 bytes"))),
        );
    }
    heights.truncate(peers as usize);
    Ok(heights)
}

/// Registration heights of `uids` (others read as `u64::MAX`): only the
/// chunks holding them are read.
pub fn load_registry_for(
    storage: &dyn Storage,
    graph: &str,
    peers: u32,
    uids: impl Iterator<Item = u16>,
) -> StdResult<Vec<u64>> {
    let mut heights = vec![u64::MAX; peers as usize];
    let mut chunks: Vec<u16> = uids.map(|uid| uid / REGISTRY_CHUNK).collect();
    chunks.sort_unstable();
    chunks.dedup();
    for chunk in chunks {
        let Some(bytes) = REGISTRY.may_load(storage, (graph, chunk))? else {
            continue;
        };
        let start = usize::from(chunk) * usize::from(REGISTRY_CHUNK);
        for (offset, b) in bytes.chunks_exact(8).enumerate() {
            if let Some(height) = heights.get_mut(start + offset) {
                *height = u64::from_le_bytes(b.try_into().expect("8 bytes"));
            }
        }
    }
    Ok(heights)
}

pub fn set_registered(
    storage: &mut dyn Storage,
    graph: &str,
    uid: u16,
    height: u64,
) -> StdResult<()> {
    let key = (graph, uid / REGISTRY_CHUNK);
    let mut bytes = REGISTRY
        .may_load(storage, key)?
        .map(Vec::from)
        .unwrap_or_default();
    let offset = usize::from(uid % REGISTRY_CHUNK) * 8;
    if bytes.len() < offset + 8 {
        bytes.resize(offset + 8, 0);
    }
    bytes[offset..offset + 8].copy_from_slice(&height.to_le_bytes());
    REGISTRY.save(storage, key, &Binary::new(bytes))
}

/// The accounts of one ledger chunk (missing entries are default).
pub fn load_ledger(storage: &dyn Storage, graph: &str, chunk: u16) -> StdResult<Vec<Account>> {
    let Some(bytes) = LEDGER.may_load(storage, (graph, chunk))? else {
        return Ok(Vec::new());
    };
    let mut r = Reader::new(&bytes, "ledger");
    let mut accounts = Vec::with_capacity(usize::from(LEDGER_CHUNK));
    while !r.is_empty() {
        accounts.push(Account::decode(&mut r)?);
    }
    Ok(accounts)
}

pub fn save_ledger(
    storage: &mut dyn Storage,
    graph: &str,
    chunk: u16,
    accounts: &[Account],
) -> StdResult<()> {
    let mut w = Writer::with_capacity(accounts.len() * 64);
    for account in accounts {
        account.encode(&mut w);
    }
    LEDGER.save(storage, (graph, chunk), &Binary::new(w.into_bytes()))
}

pub fn load_account(storage: &dyn Storage, graph: &str, uid: u16) -> StdResult<Account> {
    Ok(AccountSlot::load(storage, graph, uid)?.account().clone())
}

/// One uid's account inside its ledger chunk: read once, changed, written
/// back once.
pub struct AccountSlot {
    chunk: u16,
    index: usize,
    accounts: Vec<Account>,
}

impl AccountSlot {
    pub fn load(storage: &dyn Storage, graph: &str, uid: u16) -> StdResult<Self> {
        let chunk = uid / LEDGER_CHUNK;
        let index = usize::from(uid % LEDGER_CHUNK);
        let mut accounts = load_ledger(storage, graph, chunk)?;
        if accounts.len() <= index {
            accounts.resize(index + 1, Account::default());
        }
        Ok(Self {
            chunk,
            index,
            accounts,
        })
    }

    pub fn account(&mut self) -> &mut Account {
        &mut self.accounts[self.index]
    }

    pub fn save(&self, storage: &mut dyn Storage, graph: &str) -> StdResult<()> {
        save_ledger(storage, graph, self.chunk, &self.accounts)
    }
}

/// Reads one uid's account, changes it and writes it back, unless `change`
/// fails: then nothing is written.
pub fn update_account<T, E: From<StdError>>(
    storage: &mut dyn Storage,
    graph: &str,
    uid: u16,
    change: impl FnOnce(&mut Account) -> Result<T, E>,
) -> Result<T, E> {
    let mut slot = AccountSlot::load(storage, graph, uid)?;
    let result = change(slot.account())?;
    slot.save(storage, graph)?;
    Ok(result)
}

/// The results slot epoch number `epoch` writes.
pub fn results_slot(epoch: u64) -> u8 {
    (epoch % 2) as u8
}

pub fn encode_results(entries: &[Option<Results>]) -> Binary {
    let mut w = Writer::with_capacity(entries.len() * 64);
    for entry in entries {
        match entry {
            Some(results) => {
                w.u8(1);
                results.encode(&mut w);
            }
            None => w.u8(0),
        }
    }
    Binary::new(w.into_bytes())
}

pub fn decode_results(bytes: &[u8]) -> StdResult<Vec<Option<Results>>> {
    let mut r = Reader::new(bytes, "results");
    let mut entries = Vec::with_capacity(usize::from(RESULTS_CHUNK));
    while !r.is_empty() {
        entries.push(match r.u8()? {
            0 => None,
            _ => Some(Results::decode(&mut r)?),
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
    fn records_round_trip() {
        let account = Account {
            stake: 12345,
            epoch_stake: Some((7, 99)),
            has_row: true,
            has_pending: true,
            bond_scale: dec!(0.9),
            bond_accum: dec!(1.25),
        };
        for account in [account, Account::default()] {
            let mut w = Writer::default();
            account.encode(&mut w);
            let bytes = w.into_bytes();
            let mut r = Reader::new(&bytes, "test");
            assert_eq!(Account::decode(&mut r).unwrap(), account);
            r.end().unwrap();
        }
        let results = vec![
            Some(Results {
                rank: dec!(0.1),
                trust: dec!(0.2),
                incentive: dec!(0.3),
                dividends: dec!(0.4),
                paid: 5,
            }),
            None,
            Some(Results::default()),
        ];
        assert_eq!(decode_results(&encode_results(&results)).unwrap(), results);
        // A new peer's account is two bytes.
        let mut w = Writer::default();
        Account::default().encode(&mut w);
        assert_eq!(w.into_bytes().len(), 2);

        let row = RowRecord {
            last_update: 10,
            weights: vec![(0, 1), (7, 65535)],
            since: 3,
            vote_sum: 65536,
            base: vec![(1, dec!(0.1875)), (300, dec!(12345.0000000000000000000001))],
        };
        assert_eq!(RowRecord::decode(&row.encode()).unwrap(), row);
        assert!(RowRecord::decode(&[1, 2]).is_err());
    }
}
