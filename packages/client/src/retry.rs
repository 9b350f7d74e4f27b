//! [`Retrying`]: a chain whose calls are tried again, after a backoff with
//! jitter, when the node could not be reached. A refusal (the contract's or
//! the node's) is an answer: it is returned at once, never retried blindly.

use std::time::Duration;

use agora_market::msg::{ExecuteMsg, QueryMsg};

use crate::{Attributes, Chain, ChainError, KeyAddresser};

/// A chain and how hard to try.
pub struct Retrying<C> {
    inner: C,
    tries: u32,
    backoff: Duration,
}

impl<C> Retrying<C> {
    /// `tries` in all per call, waiting `backoff`, twice that, … between
    /// them, each plus up to half again of jitter.
    pub fn new(inner: C, tries: u32, backoff: Duration) -> Self {
        Self {
            inner,
            tries: tries.max(1),
            backoff,
        }
    }

    pub fn inner(&self) -> &C {
        &self.inner
    }
}

/// Calls `call` until it answers something other than a transport error,
/// `tries` times at most, logging each retry.
fn retry<T>(
    tries: u32,
    backoff: Duration,
    mut call: impl FnMut() -> Result<T, ChainError>,
) -> Result<T, ChainError> {
    let mut attempt = 0u32;
    loop {
        match call() {
            Err(ChainError::Transport(reason)) if attempt + 1 < tries => {
                let base = backoff.saturating_mul(2u32.saturating_pow(attempt));
                let spread = u64::try_from(base.as_millis() / 2).unwrap_or(u64::MAX) + 1;
                let jitter = rand_core::RngCore::next_u64(&mut rand_core::OsRng) % spread;
                let wait = base + Duration::from_millis(jitter);
                attempt += 1;
                tracing::warn!(%reason, attempt, tries, wait_ms = wait.as_millis() as u64, "chain unreachable: trying again");
                std::thread::sleep(wait);
            }
            outcome => return outcome,
        }
    }
}

impl<C: Chain> Chain for Retrying<C> {
    fn height(&self) -> Result<u64, ChainError> {
        retry(self.tries, self.backoff, || self.inner.height())
    }

    fn reach_height(&mut self, height: u64) -> Result<(), ChainError> {
        let inner = &mut self.inner;
        retry(self.tries, self.backoff, || inner.reach_height(height))
    }

    fn address(&self, name: &str) -> Result<String, ChainError> {
        self.inner.address(name)
    }

    fn add_key(&mut self, name: &str, key: &k256::ecdsa::SigningKey) -> Result<String, ChainError> {
        self.inner.add_key(name, key)
    }

    fn transfer(&mut self, from: &str, to: &str, amount: u128) -> Result<(), ChainError> {
        self.inner.transfer(from, to, amount)
    }

    fn balance(&self, name: &str) -> Result<u128, ChainError> {
        retry(self.tries, self.backoff, || self.inner.balance(name))
    }

    fn key_addresser(&self) -> KeyAddresser {
        self.inner.key_addresser()
    }

    /// A transaction that may have reached the node is not sent twice
    /// blindly: only an error before any node answered is retried (the
    /// node's sequence check refuses a duplicate that did land).
    fn execute_market(
        &mut self,
        name: &str,
        msg: &ExecuteMsg,
        funds: u128,
    ) -> Result<Attributes, ChainError> {
        let inner = &mut self.inner;
        retry(self.tries, self.backoff, || {
            inner.execute_market(name, msg, funds)
        })
    }

    fn query_market_json(&self, msg: &QueryMsg) -> Result<Vec<u8>, ChainError> {
        retry(self.tries, self.backoff, || {
            self.inner.query_market_json(msg)
        })
    }

    fn market_balance(&self) -> Result<u128, ChainError> {
        retry(self.tries, self.backoff, || self.inner.market_balance())
    }
}
