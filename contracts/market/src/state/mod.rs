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
//! Every packed record (`registry`, `ledger`, `results`, `rows`, `pending`,
//! `epoch_columns`) starts with a format byte ([`codec::FORMAT`]), so that a
//! later migration can tell one layout from the next.
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

use cosmwasm_std::{Addr, Binary, HexBinary, Uint128};
use cw_storage_plus::{Item, Map};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::ContractError;
use crate::params::GraphParams;

pub(crate) mod codec;
mod ledger;
mod registry;
mod results;
mod rows;

pub use ledger::{
    Account, AccountSlot, LEDGER, LEDGER_CHUNK, load_account, load_ledger, save_ledger,
    update_account,
};
pub use registry::{REGISTRY, REGISTRY_CHUNK, load_registry, load_registry_for, set_registered};
pub use results::{
    MedianResults, RESULTS, RESULTS_CHUNK, Results, decode_results, encode_results,
    load_finished_results, results_slot,
};
pub use rows::{PENDING_ROWS, ROWS, RowRecord, load_pending, load_row};

/// The most tokens one graph may hold, bonded and pooled together: the
/// epoch computes in decimals whose mantissa holds 96 bits (docs/SPEC.md §5).
pub const MAX_GRAPH_TOKENS: u128 = (1 << 96) - 1;

/// Uids per `epoch_columns` key (~1.2 KB): a page reads and writes only
/// the chunks its rows touch.
pub const COLUMNS_CHUNK: u16 = 32;

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

    /// Adds `amount` to bonded stake, unless the graph would then hold more
    /// than [`MAX_GRAPH_TOKENS`].
    pub fn bond(&mut self, amount: Uint128) -> Result<(), ContractError> {
        self.check_room(amount)?;
        self.total_stake += amount;
        Ok(())
    }

    /// Adds `amount` to the reward pool, with the same limit as [`Graph::bond`].
    pub fn fund(&mut self, amount: Uint128) -> Result<(), ContractError> {
        self.check_room(amount)?;
        self.reward_pool += amount;
        Ok(())
    }

    /// Payouts move tokens from the pool into stake, so bonded + pooled is
    /// the most the epoch ever counts: kept within what its decimals hold.
    fn check_room(&self, amount: Uint128) -> Result<(), ContractError> {
        let held = self
            .total_stake
            .u128()
            .saturating_add(self.reward_pool.u128());
        match held.checked_add(amount.u128()) {
            Some(after) if after <= MAX_GRAPH_TOKENS => Ok(()),
            _ => Err(ContractError::TokenLimit {
                held: Uint128::new(held),
                amount,
                limit: Uint128::new(MAX_GRAPH_TOKENS),
            }),
        }
    }

    /// The height at which tokens unbonded at `height` are released.
    pub fn release_height(&self, height: u64) -> Result<u64, ContractError> {
        height
            .checked_add(self.params.unbonding_period)
            .ok_or(ContractError::HeightOverflow)
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
    /// Block of the peer's last row (sent, revealed, or held for a running
    /// epoch): queries show it without reading the row.
    #[serde(default)]
    pub last_update: Option<u64>,
}

pub const CONFIG: Item<Config> = Item::new("config");
pub const GRAPHS: Map<&str, Graph> = Map::new("graphs");
pub const PEERS: Map<(&str, u16), Peer> = Map::new("peers");
pub const UIDS: Map<(&str, &Addr), u16> = Map::new("uids");
pub const EPOCH_COLUMNS: Map<(&str, u16), Binary> = Map::new("epoch_columns");
pub const COMMITS: Map<(&str, u16), Vec<Commit>> = Map::new("commits");
/// Unbonding tokens: one key per owner and release height, so that no
/// record grows with the number of unstakes ([`MAX_CLAIMS`] keys an owner).
pub const CLAIMS: Map<(&Addr, u64), Uint128> = Map::new("unbonding");
/// Release heights one owner may wait on; past it, a new claim merges into
/// the latest one (docs/SPEC.md §5).
pub const MAX_CLAIMS: usize = 32;
pub const TOTAL_CLAIMS: Item<Uint128> = Item::new("total_claims");

/// A committed row hash (`execute::commit`).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct Commit {
    pub hash: HexBinary,
    /// Epochs the graph had finished when the commit was made.
    pub epoch: u64,
    /// The epoch count at which it may be revealed, fixed when it was made
    /// (`epoch + reveal_period` then): a later change of `reveal_period`
    /// does not move it.
    #[serde(default)]
    pub reveal_at: Option<u64>,
}
