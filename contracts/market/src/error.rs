use agora_mechanism::MechanismError;
use cosmwasm_std::{StdError, Uint128};
use thiserror::Error;

/// Every way a message can be refused. A refused message changes nothing.
#[derive(Error, Debug)]
pub enum ContractError {
    #[error("{0}")]
    Std(#[from] StdError),

    #[error("{0}")]
    Payment(#[from] cw_utils::PaymentError),

    #[error("mechanism: {0}")]
    Mechanism(#[from] MechanismError),

    #[error("unauthorized: only the admin may do this")]
    Unauthorized,

    #[error("no admin transfer is pending for this address")]
    NoPendingAdmin,

    #[error("invalid parameter {name}: {reason}")]
    InvalidParams { name: String, reason: String },

    #[error(
        "invalid graph name {name:?}: use 1-32 upper-case letters, digits or '-' (e.g. TEXT, TEXT-IMAGE)"
    )]
    InvalidGraphName { name: String },

    #[error("graph {graph} does not exist")]
    UnknownGraph { graph: String },

    #[error("graph {graph} already exists")]
    GraphExists { graph: String },

    #[error("invalid endpoint: {reason}")]
    InvalidEndpoint { reason: String },

    #[error("{address} is already registered in graph {graph} as uid {uid}")]
    AlreadyRegistered {
        address: String,
        graph: String,
        uid: u16,
    },

    #[error("{address} is not registered in graph {graph}")]
    NotRegistered { address: String, graph: String },

    #[error("graph {graph} is full and every peer is still immune")]
    GraphFull { graph: String },

    #[error("registration in graph {graph} needs exactly {fee}{denom} attached")]
    WrongFee {
        graph: String,
        fee: Uint128,
        denom: String,
    },

    #[error("amount must be positive")]
    ZeroAmount,

    #[error("cannot unstake {requested}: only {bonded} is bonded")]
    InsufficientStake { requested: Uint128, bonded: Uint128 },

    #[error("amount {0} is too large")]
    AmountTooLarge(String),

    #[error(
        "the graph holds {held} tokens (bonded and pooled); {amount} more would pass the {limit} its epoch can count"
    )]
    TokenLimit {
        held: Uint128,
        amount: Uint128,
        limit: Uint128,
    },

    #[error("a block height would overflow")]
    HeightOverflow,

    #[error("nothing to claim yet")]
    NothingToClaim,

    #[error("weights: uid {uid} is not a peer of graph {graph}")]
    UnknownUid { graph: String, uid: u16 },

    #[error("weights: uid {uid} appears more than once")]
    DuplicateUid { uid: u16 },

    #[error("weights: a peer may not weight itself (uid {uid})")]
    SelfWeight { uid: u16 },

    #[error("weights: the weight toward uid {uid} is 0; leave the entry out instead")]
    ZeroWeight { uid: u16 },

    #[error("weights: {got} entries is fewer than the {min} required (k = {k})")]
    TooFewWeights { got: usize, min: usize, k: u32 },

    #[error("weights: {got} entries is more than max_weights_per_row = {max}")]
    TooManyWeights { got: usize, max: u32 },

    #[error("weights: uid {uid} would get {weight} of the row, above max_weight_limit {limit}")]
    MaxWeightExceeded {
        uid: u16,
        weight: String,
        limit: String,
    },

    #[error("weights: rate limited until block {next_allowed}")]
    RateLimited { next_allowed: u64 },

    #[error("epoch of graph {graph} is not due until block {next_due}")]
    EpochNotDue { graph: String, next_due: u64 },

    #[error("max_rows must be at least 1")]
    EmptyPage,

    #[error(
        "graph {graph} takes weights by commit and reveal: send commit_weights, then reveal_weights"
    )]
    CommitRevealRequired { graph: String },

    #[error("graph {graph} does not use commit-reveal: send set_weights")]
    CommitRevealOff { graph: String },

    #[error("a commit hash is 32 bytes of sha256, got {len}")]
    InvalidHash { len: usize },

    #[error("a salt is 16 to 64 bytes, got {len}")]
    InvalidSalt { len: usize },

    #[error("hash {hash} is already committed")]
    DuplicateCommit { hash: String },

    #[error("at most {max} unrevealed commits at a time: reveal or let one expire first")]
    TooManyCommits { max: usize },

    #[error("a commit already waits for reveal window {reveal_at_epoch}: one commit per window")]
    CommitWindowTaken { reveal_at_epoch: u64 },

    #[error("uid {uid} has no commit to reveal")]
    NoCommit { uid: u16 },

    #[error("no commit matches this row and salt (their hash is {hash})")]
    RevealMismatch { hash: String },

    #[error(
        "too early: this commit can be revealed once the graph has finished {reveal_at_epoch} epochs (now {epoch})"
    )]
    RevealTooEarly { reveal_at_epoch: u64, epoch: u64 },

    #[error(
        "too late: this commit could be revealed only while the graph had finished {reveal_at_epoch} epochs (now {epoch}); it has expired"
    )]
    RevealTooLate { reveal_at_epoch: u64, epoch: u64 },

    #[error("graph {graph} has an epoch in progress ({action} waits until its last page has run)")]
    EpochInProgress { graph: String, action: &'static str },

    #[error("graph {graph} has no epoch in progress")]
    NoEpochInProgress { graph: String },

    #[error("cannot migrate from contract {stored}: this is {expected}")]
    ForeignContract { stored: String, expected: String },

    #[error("cannot migrate from version {stored} down to {current}")]
    CannotDowngrade { stored: String, current: String },

    #[error("invalid version: {0}")]
    InvalidVersion(String),
}

impl From<semver::Error> for ContractError {
    fn from(error: semver::Error) -> Self {
        ContractError::InvalidVersion(error.to_string())
    }
}
