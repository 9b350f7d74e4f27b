//! Messages and responses. Decimals travel as strings, amounts as
//! `Uint128` strings; `schema/` is generated from these types.

use cosmwasm_schema::{QueryResponses, cw_serde};
use cosmwasm_std::{Addr, HexBinary, Uint128};

pub use crate::decimal::Dec;

pub use crate::params::GraphParams;

/// The graph that exists from instantiation (SPEC §1).
pub const TEXT: &str = "TEXT";

#[cw_serde]
pub struct InstantiateMsg {
    /// The one native denom of stake, fees and rewards.
    pub denom: String,
    /// Defaults to the sender.
    pub admin: Option<String>,
    /// Parameters of the TEXT graph.
    pub text_params: GraphParams,
}

#[cw_serde]
pub enum ExecuteMsg {
    /// Join `graph` with exactly `registration_fee` attached; prunes the
    /// weakest peer out of immunity when the graph is full (SPEC §7).
    Register {
        graph: String,
        endpoint: String,
    },
    /// Change the sender's endpoint.
    Serve {
        graph: String,
        endpoint: String,
    },
    /// Replace the sender's weight row (SPEC §4). `(uid, weight)` pairs.
    SetWeights {
        graph: String,
        weights: Vec<(u16, u16)>,
    },
    /// Bond the attached funds to the sender's peer.
    /// Commit-reveal graphs: commit to `hash = sha256(uid ‖ row ‖ salt)`
    /// (`execute::commit` documents the bytes); reveal it `reveal_period`
    /// epochs later.
    CommitWeights {
        graph: String,
        hash: HexBinary,
    },
    /// Reveal a committed row; it then counts exactly like `set_weights`.
    RevealWeights {
        graph: String,
        weights: Vec<(u16, u16)>,
        salt: HexBinary,
    },
    Stake {
        graph: String,
    },
    /// Stop counting `amount` of stake now; claimable after `unbonding_period`.
    Unstake {
        graph: String,
        amount: Uint128,
    },
    /// Pay out every claim of the sender whose unbonding has ended.
    Claim {},
    /// Add the attached funds to `graph`'s reward pool.
    FundRewards {
        graph: String,
    },
    /// Run the epoch of `graph` (anyone, once `epoch_length` blocks passed),
    /// or its next page: at most `max_rows` rows are read in this
    /// transaction (`None`: run to the end).
    Epoch {
        graph: String,
        max_rows: Option<u32>,
    },
    /// Admin: add a graph for another modality.
    AddGraph {
        modality: String,
        params: GraphParams,
    },
    /// Admin: change a graph's parameters.
    UpdateParams {
        graph: String,
        params: GraphParams,
    },
    /// Admin: offer the admin role to `admin`, who must accept it.
    ProposeAdmin {
        admin: String,
    },
    /// Accept a pending admin offer.
    AcceptAdmin {},
}

#[cw_serde]
#[derive(QueryResponses)]
pub enum QueryMsg {
    #[returns(ConfigResponse)]
    Config {},
    /// Graph names, in order, paged.
    #[returns(GraphsResponse)]
    Graphs {
        start_after: Option<String>,
        limit: Option<u32>,
    },
    #[returns(GraphParams)]
    Params { graph: String },
    #[returns(PeerInfo)]
    Peer { graph: String, uid: u16 },
    #[returns(PeerInfo)]
    PeerByAddress { graph: String, address: String },
    /// Every peer with its last epoch's vectors, by uid, paged.
    #[returns(MetagraphResponse)]
    Metagraph {
        graph: String,
        start_after: Option<u16>,
        limit: Option<u32>,
    },
    /// Peers sorted by incentive, highest first (ties: lower uid).
    #[returns(MetagraphResponse)]
    Ranking { graph: String, limit: Option<u32> },
    #[returns(WeightsResponse)]
    Weights { graph: String, uid: u16 },
    #[returns(BondsResponse)]
    Bonds { graph: String, uid: u16 },
    #[returns(EpochStateResponse)]
    EpochState { graph: String },
    /// A peer's unrevealed commits: hashes and windows, never contents.
    #[returns(CommitsResponse)]
    Commits { graph: String, uid: u16 },
    #[returns(ClaimsResponse)]
    Claims { address: String },
    /// Totals across every graph: what the contract's balance must equal.
    #[returns(TotalsResponse)]
    Totals {},
}

#[cw_serde]
pub struct MigrateMsg {}

#[cw_serde]
pub struct ConfigResponse {
    pub denom: String,
    pub admin: Addr,
    pub pending_admin: Option<Addr>,
}

#[cw_serde]
pub struct GraphsResponse {
    pub graphs: Vec<String>,
}

/// One peer and its vectors from the last finished epoch.
#[cw_serde]
pub struct PeerInfo {
    pub uid: u16,
    pub address: Addr,
    pub endpoint: String,
    pub stake: Uint128,
    pub rank: Dec,
    pub trust: Dec,
    pub consensus: Dec,
    pub incentive: Dec,
    pub dividends: Dec,
    /// Tokens paid by the last epoch.
    pub last_paid: Uint128,
    /// The epoch (0-based) these results are from; `None` before the
    /// peer's first epoch.
    pub results_epoch: Option<u64>,
    pub registered_at: u64,
    /// Block of the last `set_weights`, if any.
    pub last_update: Option<u64>,
}

#[cw_serde]
pub struct MetagraphResponse {
    pub peers: Vec<PeerInfo>,
}

#[cw_serde]
pub struct WeightsResponse {
    pub uid: u16,
    /// The row the epoch reads.
    pub weights: Vec<(u16, u16)>,
    pub last_update: Option<u64>,
    /// A row sent while an epoch was running; it replaces `weights` when
    /// that epoch pays this uid.
    pub pending: Option<Vec<(u16, u16)>>,
}

#[cw_serde]
pub struct BondsResponse {
    pub uid: u16,
    pub bonds: Vec<(u16, Dec)>,
}

#[cw_serde]
pub struct EpochStateResponse {
    pub graph: String,
    /// Epochs run so far.
    pub epoch: u64,
    /// Height of the last epoch (the graph's creation before the first).
    pub last_epoch_block: u64,
    pub next_due_block: u64,
    /// The peg's current `k` (SPEC §6).
    pub k: u32,
    pub last_loss: Dec,
    pub last_emitted: Uint128,
    pub peers: u16,
    pub total_stake: Uint128,
    pub reward_pool: Uint128,
    /// The epoch whose pages are running, if any.
    pub in_progress: Option<EpochProgress>,
}

#[cw_serde]
pub struct EpochProgress {
    /// The block the epoch began at.
    pub block: u64,
    /// `absorb` (rows into columns) or `pay`.
    pub phase: String,
    /// The next uid the phase handles, out of `peers`.
    pub next_uid: u32,
    pub peers: u32,
    pub pages: u32,
}

#[cw_serde]
pub struct CommitInfo {
    pub hash: HexBinary,
    /// Epochs finished when it was committed.
    pub committed_at_epoch: u64,
    /// It may be revealed while exactly this many epochs are finished.
    pub reveal_at_epoch: u64,
    /// Past its window; dropped at the peer's next commit or reveal.
    pub expired: bool,
}

#[cw_serde]
pub struct CommitsResponse {
    pub uid: u16,
    pub commits: Vec<CommitInfo>,
}

#[cw_serde]
pub struct ClaimInfo {
    pub amount: Uint128,
    pub release_at: u64,
}

#[cw_serde]
pub struct ClaimsResponse {
    pub claims: Vec<ClaimInfo>,
}

#[cw_serde]
pub struct TotalsResponse {
    pub bonded: Uint128,
    pub claims: Uint128,
    pub reward_pools: Uint128,
}
