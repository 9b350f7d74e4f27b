//! Messages and responses. Decimals travel as strings, amounts as
//! `Uint128` strings; `schema/` is generated from these types.

use cosmwasm_schema::{QueryResponses, cw_serde};
use cosmwasm_std::{Addr, HexBinary, Uint128};

pub use crate::decimal::Dec;

pub use crate::params::{Consensus, GraphParams};

/// The graph that exists from instantiation (docs/SPEC.md §1).
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
    /// weakest peer out of immunity when the graph is full (docs/SPEC.md §7).
    Register {
        /// The graph (modality) to join, e.g. `TEXT`.
        graph: String,
        /// Where the peer's axon answers, e.g. `http://203.0.113.7:8091`:
        /// 1 to 256 bytes of printable ASCII, no spaces.
        endpoint: String,
    },
    /// Change the sender's endpoint.
    Serve {
        /// A graph the sender is registered in.
        graph: String,
        /// The new endpoint, with the rules of `register`.
        endpoint: String,
    },
    /// Replace the sender's weight row (docs/SPEC.md §4). `(uid, weight)` pairs.
    SetWeights {
        /// A graph the sender is registered in, without commit-reveal.
        graph: String,
        /// `(uid, raw weight)` pairs: distinct uids of the graph, not the
        /// sender's own, weights 1..=65535 (normalized at the epoch).
        weights: Vec<(u16, u16)>,
    },
    /// Commit-reveal graphs: commit to `hash = sha256(uid ‖ count ‖ row ‖ salt)`
    /// (`execute::commit` documents the bytes); reveal it `reveal_period`
    /// epochs later.
    CommitWeights {
        /// A commit-reveal graph the sender is registered in.
        graph: String,
        /// 32 bytes of sha256, as hex (docs/SPEC.md §7b).
        hash: HexBinary,
    },
    /// Reveal a committed row; it then counts exactly like `set_weights`.
    RevealWeights {
        /// The graph of the commit.
        graph: String,
        /// The committed row, with the rules of `set_weights`.
        weights: Vec<(u16, u16)>,
        /// The committed salt, 16 to 64 bytes, as hex.
        salt: HexBinary,
    },
    /// Bond the attached funds (the instance's denom) to the sender's peer.
    Stake {
        /// A graph the sender is registered in.
        graph: String,
    },
    /// Stop counting `amount` of stake now; claimable after `unbonding_period`.
    Unstake {
        /// A graph the sender is registered in.
        graph: String,
        /// Base units of the denom, at most the bonded stake.
        amount: Uint128,
    },
    /// Pay out every claim of the sender whose unbonding has ended.
    Claim {},
    /// Add the attached funds to `graph`'s reward pool.
    FundRewards {
        /// The graph whose pool receives the funds.
        graph: String,
    },
    /// Run the epoch of `graph` (anyone, once `epoch_length` blocks passed),
    /// or its next page: at most `max_rows` rows are read in this
    /// transaction (`None`: run to the end).
    Epoch {
        /// The graph whose epoch runs.
        graph: String,
        /// Most uids this transaction handles (at least 1); `None`: all.
        max_rows: Option<u32>,
    },
    /// Admin: add a graph for another modality.
    AddGraph {
        /// The new graph's name: 1 to 32 of `A-Z`, `0-9`, `-`.
        modality: String,
        /// Its parameters (docs/SPEC.md §2).
        params: GraphParams,
    },
    /// Admin: change a graph's parameters.
    UpdateParams {
        /// The graph to change.
        graph: String,
        /// Every parameter anew; omitted fields take their defaults.
        params: GraphParams,
    },
    /// Admin: close a paged epoch that cannot finish where it stands
    /// (docs/SPEC.md §3a): paid uids keep their payouts, the rest get
    /// nothing this epoch, held rows take effect, the rest of the emission
    /// stays in the pool.
    AbortEpoch {
        /// The graph whose running epoch closes.
        graph: String,
    },
    /// Admin: offer the admin role to `admin`, who must accept it.
    ProposeAdmin {
        /// The address offered the role.
        admin: String,
    },
    /// Accept a pending admin offer.
    AcceptAdmin {},
}

#[cw_serde]
#[derive(QueryResponses)]
pub enum QueryMsg {
    /// The instance: denom and admin.
    #[returns(ConfigResponse)]
    Config {},
    /// Graph names, in order, paged.
    #[returns(GraphsResponse)]
    Graphs {
        /// The last name of the previous page.
        start_after: Option<String>,
        /// Names per page (default 30, at most 256).
        limit: Option<u32>,
    },
    /// A graph's parameters.
    #[returns(GraphParams)]
    Params {
        /// The graph's name.
        graph: String,
    },
    /// One peer and its last epoch's vectors.
    #[returns(PeerInfo)]
    Peer {
        /// The graph's name.
        graph: String,
        /// The peer's uid.
        uid: u16,
    },
    /// One peer, found by its address.
    #[returns(PeerInfo)]
    PeerByAddress {
        /// The graph's name.
        graph: String,
        /// The peer's account address.
        address: String,
    },
    /// Every peer with its last epoch's vectors, by uid, paged.
    #[returns(MetagraphResponse)]
    Metagraph {
        /// The graph's name.
        graph: String,
        /// The last uid of the previous page.
        start_after: Option<u16>,
        /// Peers per page (default 30, at most 256).
        limit: Option<u32>,
    },
    /// Peers sorted by incentive, highest first (ties: lower uid).
    #[returns(MetagraphResponse)]
    Ranking {
        /// The graph's name.
        graph: String,
        /// How many of the top peers (default 30, at most 256).
        limit: Option<u32>,
    },
    /// A peer's weight row, and a row held for a running epoch.
    #[returns(WeightsResponse)]
    Weights {
        /// The graph's name.
        graph: String,
        /// The peer's uid.
        uid: u16,
    },
    /// A peer's bonds `b_ij` now.
    #[returns(BondsResponse)]
    Bonds {
        /// The graph's name.
        graph: String,
        /// The bond holder's uid.
        uid: u16,
    },
    /// The graph's clock, peg, pool and the progress of a paged epoch.
    #[returns(EpochStateResponse)]
    EpochState {
        /// The graph's name.
        graph: String,
    },
    /// A peer's unrevealed commits: hashes and windows, never contents.
    #[returns(CommitsResponse)]
    Commits {
        /// The graph's name.
        graph: String,
        /// The committing peer's uid.
        uid: u16,
    },
    /// An address's claims: unbonding amounts and release heights.
    #[returns(ClaimsResponse)]
    Claims {
        /// The owner's account address.
        address: String,
    },
    /// Totals across every graph: what the contract's balance must equal.
    #[returns(TotalsResponse)]
    Totals {},
}

#[cw_serde]
pub struct MigrateMsg {}

#[cw_serde]
pub struct ConfigResponse {
    /// The one native denom of stake, fees and rewards.
    pub denom: String,
    /// May add graphs, change params, abort a stuck paged epoch.
    pub admin: Addr,
    /// Offered the admin role, until it accepts.
    pub pending_admin: Option<Addr>,
}

#[cw_serde]
pub struct GraphsResponse {
    /// Graph names, in order.
    pub graphs: Vec<String>,
}

/// One peer and its vectors from the last finished epoch.
#[cw_serde]
pub struct PeerInfo {
    /// The peer's uid in its graph.
    pub uid: u16,
    /// The account that registered it.
    pub address: Addr,
    /// Where its axon answers.
    pub endpoint: String,
    /// Bonded stake now (base units of the denom).
    pub stake: Uint128,
    /// `R_j` of the last finished epoch (docs/SPEC.md §3 step 3).
    pub rank: Dec,
    /// `t_j`: the share of stake that voted for it (step 4).
    pub trust: Dec,
    /// `C_j = σ(ρ (t_j − κ))` (step 5).
    pub consensus: Dec,
    /// `I_j`, its share of the incentive (step 6).
    pub incentive: Dec,
    /// `D_i`, its share of dividends through its bonds (step 8).
    pub dividends: Dec,
    /// In a median-mode epoch (docs/SPEC.md §3b): `c_j`, the consensus
    /// weight the graph's stake gives this peer. `None` in sigmoid mode.
    pub median: Option<Dec>,
    /// In a median-mode epoch: `v_i`, how much of this peer's row agreed
    /// with consensus (what its bonds were bought with). `None` in sigmoid mode.
    pub vtrust: Option<Dec>,
    /// Tokens paid by the last epoch.
    pub last_paid: Uint128,
    /// The epoch (0-based) these results are from; `None` before the
    /// peer's first epoch.
    pub results_epoch: Option<u64>,
    /// Block height of its registration.
    pub registered_at: u64,
    /// Block of the last `set_weights`, if any.
    pub last_update: Option<u64>,
}

#[cw_serde]
pub struct MetagraphResponse {
    /// Peers in the query's order.
    pub peers: Vec<PeerInfo>,
}

#[cw_serde]
pub struct WeightsResponse {
    /// The row's owner.
    pub uid: u16,
    /// The row the epoch reads.
    pub weights: Vec<(u16, u16)>,
    /// Block of the row's last update, if any.
    pub last_update: Option<u64>,
    /// A row sent while an epoch was running; it replaces `weights` when
    /// that epoch pays this uid.
    pub pending: Option<Vec<(u16, u16)>>,
}

#[cw_serde]
pub struct BondsResponse {
    /// The bond holder.
    pub uid: u16,
    /// `(target uid, b_ij)`, zeros left out.
    pub bonds: Vec<(u16, Dec)>,
}

#[cw_serde]
pub struct EpochStateResponse {
    /// The graph's name.
    pub graph: String,
    /// Epochs run so far.
    pub epoch: u64,
    /// Height of the last epoch (the graph's creation before the first).
    pub last_epoch_block: u64,
    /// The first block at which the next epoch may start.
    pub next_due_block: u64,
    /// The peg's current `k` (docs/SPEC.md §6).
    pub k: u32,
    /// The consensus loss `L` of the last epoch (docs/SPEC.md §3 step 11).
    pub last_loss: Dec,
    /// Tokens the last epoch paid out.
    pub last_emitted: Uint128,
    /// Registered peers (uids `0..peers`).
    pub peers: u16,
    /// Σ bonded stake of the graph now.
    pub total_stake: Uint128,
    /// Tokens waiting to be emitted.
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
    /// Peers the running epoch counts (those registered at its start).
    pub peers: u32,
    /// Pages run so far.
    pub pages: u32,
}

#[cw_serde]
pub struct CommitInfo {
    /// The committed sha256.
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
    /// The committing peer.
    pub uid: u16,
    /// Oldest first.
    pub commits: Vec<CommitInfo>,
}

#[cw_serde]
pub struct ClaimInfo {
    /// Base units of the denom.
    pub amount: Uint128,
    /// Block height from which `claim` pays it.
    pub release_at: u64,
}

#[cw_serde]
pub struct ClaimsResponse {
    /// Every pending claim of the address.
    pub claims: Vec<ClaimInfo>,
}

#[cw_serde]
pub struct TotalsResponse {
    /// Σ bonded stake over every graph.
    pub bonded: Uint128,
    /// Σ claims not yet paid out.
    pub claims: Uint128,
    /// Σ reward pools over every graph.
    pub reward_pools: Uint128,
}
