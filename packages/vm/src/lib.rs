//! The market contract as a chain runs it: the optimized artifact
//! (`artifacts/agora_market.wasm`) executed by `cosmwasm-vm`, the VM that
//! wasmd embeds, with gas metering on.
//!
//! Gas is reported in Cosmos SDK units, the way a chain bills a transaction
//! (`docs/performance.md`):
//! - **VM gas**: CosmWasm gas used by the Wasm code, divided by wasmd's
//!   multiplier of 140,000;
//! - **storage gas**: the SDK's KV costs, counted by [`MeteredStorage`].
//!
//! The integration tests (`tests/`) and the gas table (`agora-gas`) both
//! drive the contract through [`VmMarket`].

mod market;
pub mod node_gas;
mod storage;
pub mod workload;

pub use market::{Call, Gas, HarnessError, VmMarket, artifact_path};
pub use storage::{KvCosts, KvUsage, MeteredStorage};

/// wasmd's `DefaultGasMultiplier`: CosmWasm gas per SDK gas.
pub const GAS_MULTIPLIER: u64 = 140_000;
