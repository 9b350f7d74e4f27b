//! # agora-mechanism
//!
//! The incentive mechanism of *Bittensor: A Peer-to-Peer Intelligence Market*
//! (Yuma Rao, 2020), exactly as `docs/SPEC.md` §3 and §6 define it: one epoch of one
//! graph as a pure function of stake, weight rows and bonds.
//!
//! Every ratio, score and bond is a [`rust_decimal::Decimal`]; token amounts are
//! `u128`. Nothing here uses floats, I/O or CosmWasm, so the contract, the
//! simulator (`agora sim`) and the peer all run this one implementation.
//!
//! Two ways in:
//! - [`epoch()`]: the whole epoch at once over every peer in memory.
//! - [`Epoch`]: the same epoch as explicit passes over the rows
//!   ([`Epoch::absorb_row`], [`Epoch::settle`], [`Settlement::pay`],
//!   [`Settlement::finish`]), for callers that stream rows out of storage
//!   page by page. [`epoch()`] is nothing but these passes in order, so both
//!   give identical results.
//!
//! Work and memory are O(peers + weight entries): rows and bonds stay sparse.

mod amount;
mod epoch;
mod error;
mod math;
mod median;
mod params;
#[cfg(feature = "scenario")]
pub mod scenario;

pub use amount::{amount_from_decimal, amount_to_decimal};
pub use epoch::{
    Bonds, Columns, Epoch, EpochInput, EpochOutput, Payout, PeerState, Settlement, Totals, epoch,
    step_bonds, visible_vote_sum,
};
pub use error::MechanismError;
pub use math::sigmoid;
pub use median::Row;
pub use params::{Consensus, EpochParams, RHO_MAX};
pub use rust_decimal::Decimal;

/// A peer's index inside its graph (docs/SPEC.md §1: `uid` in `0..max_peers`).
pub type Uid = u16;
