//! # agora-client
//!
//! How a peer talks to the market: the [`Chain`] trait holds every message
//! and query a peer needs (register, stake, weights, commit-reveal, the
//! metagraph, the epoch), so the peer, the demo and the tests are written
//! once against it. [`EmbeddedChain`] is the implementation that needs no
//! node: the market contract runs in-process on cw-multi-test, with a bank
//! and a block clock. [`NodeChain`] is the same market on a real node
//! (wasmd) over CometBFT RPC. [`keyring`] keeps the keys a peer signs with.

mod embedded;
pub mod keyring;
pub mod node;

pub use embedded::{EmbeddedChain, key_account};
pub use node::{Network, NodeChain};

/// Metagraph page size clients ask for (the contract's maximum).
pub const METAGRAPH_PAGE: u32 = 256;

use agora_market::msg::{
    CommitsResponse, EpochStateResponse, GraphParams, PeerInfo, TotalsResponse, WeightsResponse,
};

/// A salt for a commit-reveal commitment: 32 bytes from the OS's random
/// generator, never derived from public data (anyone could then test
/// candidate rows against the committed hash).
pub fn commit_salt() -> Vec<u8> {
    use rand_core::RngCore;
    let mut salt = vec![0u8; 32];
    rand_core::OsRng.fill_bytes(&mut salt);
    salt
}

/// Public key → address, shareable across threads.
pub type KeyAddresser = std::sync::Arc<dyn Fn(&[u8]) -> String + Send + Sync>;

/// What a chain call can fail with.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum ChainError {
    /// The contract refused the message; the text is its error.
    #[error("refused: {0}")]
    Refused(String),
    /// A query failed (unknown graph or uid, or the chain itself).
    #[error("query failed: {0}")]
    Query(String),
    #[error("unknown account {0:?}: no key of that name")]
    UnknownAccount(String),
    /// The node refused the transaction before any contract ran (a fee
    /// too low, a bad signature or sequence): nothing was included.
    #[error("the node rejected the transaction: {0}")]
    Rejected(String),
    /// The node could not be reached or answered nonsense.
    #[error("{0}")]
    Transport(String),
    /// Broadcast, but no block included it in time: it may still land.
    #[error("transaction {hash} was not included within {seconds} s")]
    Timeout { hash: String, seconds: u64 },
}

/// One finished epoch: how many pages it took and what it paid.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EpochOutcome {
    /// The epoch's number (0-based).
    pub epoch: u64,
    pub pages: u32,
    pub emitted: u128,
}

/// Every message and query a peer sends to the market. Accounts are named
/// by the implementation's key names.
pub trait Chain {
    /// The current block height.
    fn height(&self) -> Result<u64, ChainError>;
    /// Moves (embedded) or waits (node) until block `height` is made.
    fn reach_height(&mut self, height: u64) -> Result<(), ChainError>;
    /// Moves to `graph`'s next due epoch block, if it is ahead.
    fn advance_to_due(&mut self, graph: &str) -> Result<(), ChainError> {
        let due = self.epoch_state(graph)?.next_due_block;
        self.reach_height(due)
    }
    /// The address of key `name`.
    fn address(&self, name: &str) -> Result<String, ChainError>;
    /// Signs for `name` with `key` from now on; returns its address.
    fn add_key(&mut self, name: &str, key: &k256::ecdsa::SigningKey) -> Result<String, ChainError>;
    /// Sends `amount` of the staking denom from key `from` to key `to`.
    fn transfer(&mut self, from: &str, to: &str, amount: u128) -> Result<(), ChainError>;
    /// Key `name`'s balance of the staking denom.
    fn balance(&self, name: &str) -> Result<u128, ChainError>;
    /// Maps a secp256k1 public key (SEC1 compressed) to the address it
    /// signs for: how an axon knows which peer a signed request comes from.
    fn key_addresser(&self) -> KeyAddresser;

    /// Registers `name` in `graph` with `fee` attached; returns its uid.
    fn register(
        &mut self,
        name: &str,
        graph: &str,
        endpoint: &str,
        fee: u128,
    ) -> Result<u16, ChainError>;
    fn serve(&mut self, name: &str, graph: &str, endpoint: &str) -> Result<(), ChainError>;
    fn stake(&mut self, name: &str, graph: &str, amount: u128) -> Result<(), ChainError>;
    /// Adds `amount` from `name` to `graph`'s reward pool.
    fn fund_rewards(&mut self, name: &str, graph: &str, amount: u128) -> Result<(), ChainError>;
    fn unstake(&mut self, name: &str, graph: &str, amount: u128) -> Result<(), ChainError>;
    fn set_weights(
        &mut self,
        name: &str,
        graph: &str,
        weights: &[(u16, u16)],
    ) -> Result<(), ChainError>;
    fn commit_weights(&mut self, name: &str, graph: &str, hash: [u8; 32])
    -> Result<(), ChainError>;
    fn reveal_weights(
        &mut self,
        name: &str,
        graph: &str,
        weights: &[(u16, u16)],
        salt: &[u8],
    ) -> Result<(), ChainError>;
    /// Runs `graph`'s epoch to its last page, `max_rows` uids a page
    /// (`None`: one transaction).
    fn epoch(
        &mut self,
        name: &str,
        graph: &str,
        max_rows: Option<u32>,
    ) -> Result<EpochOutcome, ChainError>;

    /// Every peer of `graph`, in uid order (all pages of the query).
    fn metagraph(&self, graph: &str) -> Result<Vec<PeerInfo>, ChainError>;
    fn epoch_state(&self, graph: &str) -> Result<EpochStateResponse, ChainError>;
    fn params(&self, graph: &str) -> Result<GraphParams, ChainError>;
    fn weights(&self, graph: &str, uid: u16) -> Result<WeightsResponse, ChainError>;
    fn commits(&self, graph: &str, uid: u16) -> Result<CommitsResponse, ChainError>;
    /// Bonded stake, claims and reward pools over every graph.
    fn totals(&self) -> Result<TotalsResponse, ChainError>;
    /// The market contract's own bank balance of the staking denom: what
    /// [`Chain::totals`] must add up to (docs/SPEC.md §5).
    fn market_balance(&self) -> Result<u128, ChainError>;
}
