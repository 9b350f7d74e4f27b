//! The node's CometBFT RPC, made synchronous: every call runs on a
//! runtime owned here, on a scoped thread, so a caller inside another
//! Tokio runtime (the peer, the demo) can call it without nesting runtimes.

use std::future::Future;
use std::time::{Duration, Instant};

use cosmrs::proto::prost::Message;
use cosmrs::rpc::endpoint::abci_query::AbciQuery;
use cosmrs::rpc::{Client, HttpClient, HttpClientUrl, client::CompatMode};
use cosmrs::tendermint::abci::types::ExecTxResult;

use crate::{Attributes, ChainError};

/// How often inclusion is polled for.
const POLL: Duration = Duration::from_millis(100);

pub(crate) struct Rpc {
    client: HttpClient,
    runtime: tokio::runtime::Runtime,
    url: String,
}

/// A transaction the node included in a block.
#[derive(Clone, Debug)]
pub struct Included {
    pub hash: String,
    pub height: u64,
    pub gas_used: u64,
    pub gas_wanted: u64,
    pub(crate) result: ExecTxResult,
}

impl Rpc {
    pub(crate) fn connect(url: &str) -> Result<Self, ChainError> {
        let parsed: HttpClientUrl = url
            .parse()
            .map_err(|e| ChainError::Transport(format!("{url} is not an RPC address: {e}")))?;
        let client = HttpClient::builder(parsed)
            .compat_mode(CompatMode::V0_38)
            .build()
            .map_err(|e| ChainError::Transport(format!("{url}: {e}")))?;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| ChainError::Transport(format!("starting the RPC runtime: {e}")))?;
        Ok(Self {
            client,
            runtime,
            url: url.to_string(),
        })
    }

    fn run<F>(&self, future: F) -> F::Output
    where
        F: Future + Send,
        F::Output: Send,
    {
        std::thread::scope(|scope| {
            scope
                .spawn(|| self.runtime.block_on(future))
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
        })
    }

    fn transport(&self, error: cosmrs::rpc::Error) -> ChainError {
        // The detail alone: the error's own text carries a backtrace.
        ChainError::Transport(format!("node at {}: {}", self.url, error.detail()))
    }

    pub(crate) fn height(&self) -> Result<u64, ChainError> {
        let status = self
            .run(self.client.status())
            .map_err(|e| self.transport(e))?;
        Ok(status.sync_info.latest_block_height.value())
    }

    /// A gRPC query through ABCI (`/cosmos.bank.v1beta1.Query/Balance`, …).
    pub(crate) fn query<Request: Message, Response: Message + Default>(
        &self,
        path: &str,
        request: &Request,
    ) -> Result<Response, ChainError> {
        let answer = self.abci_query(path, request.encode_to_vec())?;
        if answer.code.is_err() {
            return Err(ChainError::Query(node_error(&answer.log)));
        }
        Response::decode(answer.value.as_slice())
            .map_err(|e| ChainError::Query(format!("{path}: undecodable answer: {e}")))
    }

    pub(crate) fn abci_query(&self, path: &str, data: Vec<u8>) -> Result<AbciQuery, ChainError> {
        self.run(
            self.client
                .abci_query(Some(path.to_string()), data, None, false),
        )
        .map_err(|e| self.transport(e))
    }

    /// Hands `tx` to the mempool; returns its hash, for [`Rpc::wait_for`].
    pub(crate) fn send(&self, tx: Vec<u8>) -> Result<cosmrs::tendermint::Hash, ChainError> {
        let checked = self
            .run(self.client.broadcast_tx_sync(tx))
            .map_err(|e| self.transport(e))?;
        if checked.code.is_err() {
            return Err(ChainError::Rejected(node_error(&checked.log)));
        }
        Ok(checked.hash)
    }

    /// Waits up to `timeout` for the block that includes transaction
    /// `hash`.
    pub(crate) fn wait_for(
        &self,
        hash: cosmrs::tendermint::Hash,
        timeout: Duration,
    ) -> Result<Included, ChainError> {
        let started = Instant::now();
        loop {
            // Not found until a block includes it.
            if let Ok(found) = self.run(self.client.tx(hash, false)) {
                return Ok(Included {
                    hash: hash.to_string(),
                    height: found.height.value(),
                    gas_used: u64::try_from(found.tx_result.gas_used).unwrap_or(0),
                    gas_wanted: u64::try_from(found.tx_result.gas_wanted).unwrap_or(0),
                    result: found.tx_result,
                });
            }
            if started.elapsed() > timeout {
                return Err(ChainError::Timeout {
                    hash: hash.to_string(),
                    seconds: timeout.as_secs(),
                });
            }
            std::thread::sleep(POLL);
        }
    }

    /// Broadcasts and waits up to `timeout` for the block that includes it.
    /// A transaction the mempool refuses (a fee too low, a bad sequence)
    /// is `Rejected`; one included with an error is returned as included,
    /// for the caller to read.
    pub(crate) fn broadcast(&self, tx: Vec<u8>, timeout: Duration) -> Result<Included, ChainError> {
        let hash = self.send(tx)?;
        self.wait_for(hash, timeout)
    }

    /// Waits until the node has made block `height`.
    pub(crate) fn wait_for_height(&self, height: u64, timeout: Duration) -> Result<(), ChainError> {
        let started = Instant::now();
        while self.height()? < height {
            if started.elapsed() > timeout {
                return Err(ChainError::Transport(format!(
                    "node at {} did not reach block {height} within {} s",
                    self.url,
                    timeout.as_secs()
                )));
            }
            std::thread::sleep(POLL);
        }
        Ok(())
    }
}

impl Included {
    /// The attributes of the events of type `kind` (`wasm`: the
    /// contract's own), in order; those that are not UTF-8 are left out.
    pub fn attributes(&self, kind: &str) -> Attributes {
        let attributes = self
            .result
            .events
            .iter()
            .filter(|event| event.kind == kind)
            .flat_map(|event| &event.attributes)
            .filter_map(|attribute| {
                let key = attribute.key_str().ok()?;
                let value = attribute.value_str().ok()?;
                Some((key.to_string(), value.to_string()))
            })
            .collect();
        Attributes(attributes)
    }
}

/// The readable core of a node's error log: wasmd wraps a contract's own
/// error as `failed to execute message; message index: 0: <error>: execute
/// wasm contract failed`, a query's as `<error>: query wasm contract
/// failed`, and the SDK may add `[…/file.go:12]` traces.
pub(crate) fn node_error(log: &str) -> String {
    let mut text = log.trim();
    if let Some(position) = text.find("message index: ") {
        let rest = &text[position + "message index: ".len()..];
        text = rest.split_once(": ").map_or(rest, |(_, error)| error);
    }
    for suffix in [
        ": execute wasm contract failed",
        ": query wasm contract failed",
        ": instantiate wasm contract failed",
        ": migrate wasm contract failed",
    ] {
        if let Some(position) = text.find(suffix) {
            text = &text[..position];
        }
    }
    let mut text = text
        .trim_start_matches("rpc error: code = Unknown desc = ")
        .trim_start_matches("Generic error: ");
    // A message the contract could not parse: `kind: Serialization, error: …`.
    if text.starts_with("kind: ")
        && let Some((_, error)) = text.split_once(", error: ")
    {
        text = error;
    }
    text.trim().to_string()
}

#[cfg(test)]
mod tests {
    use super::node_error;

    #[test]
    fn the_contracts_own_words_are_kept() {
        assert_eq!(
            node_error(
                "failed to execute message; message index: 0: weights: a peer may not weight itself (uid 2): execute wasm contract failed"
            ),
            "weights: a peer may not weight itself (uid 2)"
        );
        assert_eq!(
            node_error("unknown graph \"IMAGE\": query wasm contract failed: unknown request"),
            "unknown graph \"IMAGE\""
        );
        assert_eq!(
            node_error(
                "failed to execute message; message index: 0: kind: Serialization, error: missing field `graph` at line 1 column 24: execute wasm contract failed"
            ),
            "missing field `graph` at line 1 column 24"
        );
        assert_eq!(
            node_error("insufficient fees; got: 1uagora required: 250uagora: insufficient fee"),
            "insufficient fees; got: 1uagora required: 250uagora: insufficient fee"
        );
    }
}
