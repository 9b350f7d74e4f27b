use thiserror::Error;

use crate::Uid;

/// Every way an epoch's input can be unusable. The mechanism never panics on
/// input: the contract turns these into a failed transaction that changes
/// nothing, the simulator into exit code 2.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum MechanismError {
    #[error("{what} = {amount} does not fit a Decimal (at most {max})")]
    AmountTooLarge {
        what: &'static str,
        amount: u128,
        max: u128,
    },

    #[error("stake {stake} of uid {uid} exceeds the epoch's total stake {total}")]
    StakeAboveTotal { uid: Uid, stake: u128, total: u128 },

    #[error("stake of uid {uid} overflows after payout")]
    StakeOverflow { uid: Uid },

    #[error("row of uid {row}: target uid {target} is out of range (graph has {peers} peers)")]
    UidOutOfRange { row: Uid, target: Uid, peers: usize },

    #[error("row of uid {uid}: uids must be strictly increasing (saw {previous} then {next})")]
    RowNotSorted { uid: Uid, previous: Uid, next: Uid },

    #[error("row of uid {uid} weights itself; self-weights are not allowed")]
    SelfWeight { uid: Uid },

    #[error("bond row of uid {uid} holds a negative bond toward uid {target}")]
    NegativeBond { uid: Uid, target: Uid },

    #[error("rows must be absorbed in increasing uid order (uid {uid} after {previous})")]
    RowOutOfOrder { uid: Uid, previous: Uid },

    #[error("payouts must run over every uid in order (expected uid {expected}, got {got})")]
    PayOutOfOrder { expected: usize, got: Uid },

    #[error("uid {uid} is out of range (graph has {peers} peers)")]
    PeerOutOfRange { uid: Uid, peers: usize },

    #[error("a graph holds at most {max} peers, got {peers}")]
    TooManyPeers { peers: usize, max: usize },

    #[error("invalid parameter {name}: {reason}")]
    InvalidParam { name: &'static str, reason: String },

    #[error("arithmetic overflow in {0}")]
    Overflow(&'static str),
}
