//! # agora-market
//!
//! The Agora market contract: per-modality graphs of peers who register,
//! stake, set weight rows and are paid by the epoch of
//! [`agora_mechanism`] (docs/SPEC.md §1-§7). One crate per contract, laid out as
//! cw-plus does: `contract.rs` holds the entry points and dispatch only;
//! execute logic lives in [`execute`] by concern, queries in [`query`].

pub mod contract;
mod decimal;
mod error;
pub mod execute;
pub mod msg;
pub mod params;
pub mod query;
pub mod state;

pub use crate::error::ContractError;
