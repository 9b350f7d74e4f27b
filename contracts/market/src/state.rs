//! Storage, laid out for the epoch's writes (see `shared/PERFORMANCE.md`).
//!
//! | key | value | why |
//! |---|---|---|
//! | `config` | denom, admin, pending admin | read by every payment check |
//! | `graphs/{graph}` | params, peg `k`, clock, totals, reward pool | one read per message |
//! | `peers/{graph}/{uid}` | address, endpoint, stake, last epoch's vectors | the metagraph; one write per peer per epoch (stake moves) |
//! | `uids/{graph}/{address}` | uid | address → uid, the only index (every sender lookup) |
//! | `weights/{graph}/{uid}` | packed row, 4 bytes an entry | one key per row: a row is always read and written whole |
//! | `bonds/{graph}/{uid}` | packed row, 18 bytes an entry | one key per bond row, likewise |
//! | `claims/{address}` | unbonding amounts and release heights | few per address, read whole by `claim` |
//! | `total_claims` | Σ pending claims | the token invariant without a scan |
//!
//! Rows are packed binary ([`crate::rows`]) rather than JSON: a JSON weight
//! entry costs ~12 bytes against 4, and storage gas is charged per byte.
//! Stake lives in the peer record rather than a separate map because every
//! epoch rewrites both together.

use cosmwasm_std::{Addr, Binary, Uint128};
use cw_storage_plus::{Item, Map};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::params::GraphParams;

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct Config {
    pub denom: String,
    pub admin: Addr,
    pub pending_admin: Option<Addr>,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct Graph {
    pub params: GraphParams,
    /// The peg's `k` (SPEC §6), enforced on new rows.
    pub k: u32,
    /// Registered peers: uids `0..peers` are all taken.
    pub peers: u32,
    pub created_at: u64,
    /// Epochs run so far.
    pub epoch: u64,
    /// Height of the last epoch (`created_at` before the first).
    pub last_epoch_block: u64,
    pub last_loss: Decimal,
    pub last_emitted: Uint128,
    /// Σ bonded stake of the graph's peers.
    pub total_stake: Uint128,
    pub reward_pool: Uint128,
}

impl Graph {
    pub fn new(params: GraphParams, created_at: u64) -> Self {
        Self {
            k: params.min_allowed_weights,
            params,
            peers: 0,
            created_at,
            epoch: 0,
            last_epoch_block: created_at,
            last_loss: Decimal::ZERO,
            last_emitted: Uint128::zero(),
            total_stake: Uint128::zero(),
            reward_pool: Uint128::zero(),
        }
    }

    pub fn next_due_block(&self) -> u64 {
        self.last_epoch_block
            .saturating_add(self.params.epoch_length)
    }
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct Peer {
    pub address: Addr,
    pub endpoint: String,
    pub stake: Uint128,
    pub registered_at: u64,
    /// Block of the last `set_weights`.
    pub last_update: Option<u64>,
    /// The last finished epoch's vectors (SPEC §3).
    pub rank: Decimal,
    pub trust: Decimal,
    pub consensus: Decimal,
    pub incentive: Decimal,
    pub dividends: Decimal,
    pub last_paid: Uint128,
}

impl Peer {
    pub fn new(address: Addr, endpoint: String, registered_at: u64) -> Self {
        Self {
            address,
            endpoint,
            stake: Uint128::zero(),
            registered_at,
            last_update: None,
            rank: Decimal::ZERO,
            trust: Decimal::ZERO,
            consensus: Decimal::ZERO,
            incentive: Decimal::ZERO,
            dividends: Decimal::ZERO,
            last_paid: Uint128::zero(),
        }
    }
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct Claim {
    pub amount: Uint128,
    pub release_at: u64,
}

pub const CONFIG: Item<Config> = Item::new("config");
pub const GRAPHS: Map<&str, Graph> = Map::new("graphs");
pub const PEERS: Map<(&str, u16), Peer> = Map::new("peers");
pub const UIDS: Map<(&str, &Addr), u16> = Map::new("uids");
pub const WEIGHTS: Map<(&str, u16), Binary> = Map::new("weights");
pub const BONDS: Map<(&str, u16), Binary> = Map::new("bonds");
pub const CLAIMS: Map<&Addr, Vec<Claim>> = Map::new("claims");
pub const TOTAL_CLAIMS: Item<Uint128> = Item::new("total_claims");
