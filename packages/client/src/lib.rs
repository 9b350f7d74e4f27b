//! # agora-client
//!
//! How a peer talks to the market: the [`Chain`] trait holds every message
//! and query a peer needs (register, stake, weights, commit-reveal, the
//! metagraph, the epoch), so the peer, the demo and the tests are written
//! once against it. [`EmbeddedChain`] is the implementation that needs no
//! node: the market contract runs in-process on cw-multi-test, with a bank
//! and a block clock. [`NodeChain`] is the same market on a real node
//! (wasmd) over CometBFT RPC. [`keyring`] keeps the keys a peer signs with.

pub mod comet;
pub mod copier;
pub mod durable;
mod embedded;
pub mod keyring;
pub mod node;
mod retry;
mod shared;

pub use embedded::{EmbeddedChain, key_account};
pub use node::{Network, NodeChain};
pub use retry::Retrying;
pub use shared::Shared;

/// Metagraph page size clients ask for (the contract's maximum).
pub const METAGRAPH_PAGE: u32 = 256;

use agora_market::msg::{
    CommitsResponse, EpochStateResponse, ExecuteMsg, GraphParams, MetagraphResponse, PeerInfo,
    QueryMsg, TotalsResponse, WeightsResponse,
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

/// The attributes of the contract's `wasm` event, in order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Attributes(pub Vec<(String, String)>);

impl Attributes {
    /// The value of the first attribute named `key`.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, value)| value.as_str())
    }
}

/// Query `msg` of the market, decoded.
fn query<T: serde::de::DeserializeOwned, C: Chain + ?Sized>(
    chain: &C,
    msg: &QueryMsg,
) -> Result<T, ChainError> {
    let answer = chain.query_market_json(msg)?;
    serde_json::from_slice(&answer)
        .map_err(|e| ChainError::Query(format!("undecodable answer: {e}")))
}

/// Every message and query a peer sends to the market. Accounts are named
/// by the implementation's key names. An implementation provides keys,
/// blocks and two calls, [`Chain::execute_market`] and
/// [`Chain::query_market_json`]; every message and query is written once on
/// top of them.
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

    /// Executes `msg` on the market from key `name`, with `funds` of the
    /// staking denom attached (none when 0); returns the attributes of the
    /// contract's `wasm` event. Every message below goes through it.
    fn execute_market(
        &mut self,
        name: &str,
        msg: &ExecuteMsg,
        funds: u128,
    ) -> Result<Attributes, ChainError>;
    /// A smart query of the market: its JSON answer. Every query below goes
    /// through it.
    fn query_market_json(&self, msg: &QueryMsg) -> Result<Vec<u8>, ChainError>;

    /// Registers `name` in `graph` with `fee` attached; returns its uid.
    fn register(
        &mut self,
        name: &str,
        graph: &str,
        endpoint: &str,
        fee: u128,
    ) -> Result<u16, ChainError> {
        let msg = ExecuteMsg::Register {
            graph: graph.to_string(),
            endpoint: endpoint.to_string(),
        };
        self.execute_market(name, &msg, fee)?
            .get("uid")
            .and_then(|uid| uid.parse().ok())
            .ok_or_else(|| ChainError::Query("register returned no uid".to_string()))
    }
    fn serve(&mut self, name: &str, graph: &str, endpoint: &str) -> Result<(), ChainError> {
        let msg = ExecuteMsg::Serve {
            graph: graph.to_string(),
            endpoint: endpoint.to_string(),
        };
        self.execute_market(name, &msg, 0).map(drop)
    }
    fn stake(&mut self, name: &str, graph: &str, amount: u128) -> Result<(), ChainError> {
        let msg = ExecuteMsg::Stake {
            graph: graph.to_string(),
        };
        self.execute_market(name, &msg, amount).map(drop)
    }
    /// Adds `amount` from `name` to `graph`'s reward pool.
    fn fund_rewards(&mut self, name: &str, graph: &str, amount: u128) -> Result<(), ChainError> {
        let msg = ExecuteMsg::FundRewards {
            graph: graph.to_string(),
        };
        self.execute_market(name, &msg, amount).map(drop)
    }
    fn unstake(&mut self, name: &str, graph: &str, amount: u128) -> Result<(), ChainError> {
        let msg = ExecuteMsg::Unstake {
            graph: graph.to_string(),
            amount: amount.into(),
        };
        self.execute_market(name, &msg, 0).map(drop)
    }
    fn set_weights(
        &mut self,
        name: &str,
        graph: &str,
        weights: &[(u16, u16)],
    ) -> Result<(), ChainError> {
        let msg = ExecuteMsg::SetWeights {
            graph: graph.to_string(),
            weights: weights.to_vec(),
        };
        self.execute_market(name, &msg, 0).map(drop)
    }
    fn commit_weights(
        &mut self,
        name: &str,
        graph: &str,
        hash: [u8; 32],
    ) -> Result<(), ChainError> {
        let msg = ExecuteMsg::CommitWeights {
            graph: graph.to_string(),
            hash: hash.into(),
        };
        self.execute_market(name, &msg, 0).map(drop)
    }
    fn reveal_weights(
        &mut self,
        name: &str,
        graph: &str,
        weights: &[(u16, u16)],
        salt: &[u8],
    ) -> Result<(), ChainError> {
        let msg = ExecuteMsg::RevealWeights {
            graph: graph.to_string(),
            weights: weights.to_vec(),
            salt: salt.into(),
        };
        self.execute_market(name, &msg, 0).map(drop)
    }
    /// Runs `graph`'s epoch to its last page, `max_rows` uids a page
    /// (`None`: one transaction).
    fn epoch(
        &mut self,
        name: &str,
        graph: &str,
        max_rows: Option<u32>,
    ) -> Result<EpochOutcome, ChainError> {
        self.epoch_pages(name, graph, max_rows, None)?
            .ok_or_else(|| ChainError::Query(format!("the epoch of {graph} did not finish")))
    }
    /// Runs `graph`'s epoch, `max_rows` uids a page, for at most `limit`
    /// pages (`None`: to its last page); `None` when it is left in
    /// progress.
    fn epoch_pages(
        &mut self,
        name: &str,
        graph: &str,
        max_rows: Option<u32>,
        limit: Option<u32>,
    ) -> Result<Option<EpochOutcome>, ChainError> {
        let msg = ExecuteMsg::Epoch {
            graph: graph.to_string(),
            max_rows,
        };
        let mut pages = 0;
        while limit.is_none_or(|limit| pages < limit) {
            let attributes = self.execute_market(name, &msg, 0)?;
            pages += 1;
            if attributes.get("finished") == Some("true") {
                let number = |key: &str| {
                    attributes
                        .get(key)
                        .and_then(|v| v.parse::<u128>().ok())
                        .unwrap_or_default()
                };
                return Ok(Some(EpochOutcome {
                    epoch: number("epoch") as u64,
                    pages,
                    emitted: number("emitted"),
                }));
            }
        }
        Ok(None)
    }

    /// Every peer of `graph`, in uid order (all pages of the query).
    fn metagraph(&self, graph: &str) -> Result<Vec<PeerInfo>, ChainError> {
        let mut peers: Vec<PeerInfo> = Vec::new();
        loop {
            let page: MetagraphResponse = query(
                self,
                &QueryMsg::Metagraph {
                    graph: graph.to_string(),
                    start_after: peers.last().map(|peer| peer.uid),
                    limit: Some(METAGRAPH_PAGE),
                },
            )?;
            let done = page.peers.len() < METAGRAPH_PAGE as usize;
            peers.extend(page.peers);
            if done {
                return Ok(peers);
            }
        }
    }
    fn epoch_state(&self, graph: &str) -> Result<EpochStateResponse, ChainError> {
        query(
            self,
            &QueryMsg::EpochState {
                graph: graph.to_string(),
            },
        )
    }
    fn params(&self, graph: &str) -> Result<GraphParams, ChainError> {
        query(
            self,
            &QueryMsg::Params {
                graph: graph.to_string(),
            },
        )
    }
    fn weights(&self, graph: &str, uid: u16) -> Result<WeightsResponse, ChainError> {
        query(
            self,
            &QueryMsg::Weights {
                graph: graph.to_string(),
                uid,
            },
        )
    }
    fn commits(&self, graph: &str, uid: u16) -> Result<CommitsResponse, ChainError> {
        query(
            self,
            &QueryMsg::Commits {
                graph: graph.to_string(),
                uid,
            },
        )
    }
    /// Bonded stake, claims and reward pools over every graph.
    fn totals(&self) -> Result<TotalsResponse, ChainError> {
        query(self, &QueryMsg::Totals {})
    }
    /// The market contract's own bank balance of the staking denom: what
    /// [`Chain::totals`] must add up to (docs/SPEC.md §5).
    fn market_balance(&self) -> Result<u128, ChainError>;
}
