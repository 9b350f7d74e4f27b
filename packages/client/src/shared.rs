//! [`Shared`]: one chain used from two places at once, e.g. the demo's
//! market and the explorer's RPC that reads it while it runs.

use std::sync::{Arc, Mutex, MutexGuard};

use agora_market::msg::{ExecuteMsg, QueryMsg};

use crate::{Attributes, Chain, ChainError, KeyAddresser};

/// A chain behind a mutex: every call locks it for that call only, so a
/// reader sees the state between two messages, never inside one.
pub struct Shared<C>(Arc<Mutex<C>>);

impl<C> Clone for Shared<C> {
    fn clone(&self) -> Self {
        Self(Arc::clone(&self.0))
    }
}

impl<C> Shared<C> {
    pub fn new(chain: C) -> Self {
        Self(Arc::new(Mutex::new(chain)))
    }

    /// The chain, locked. A panic while it was held (a bug, never an
    /// input) leaves the state as the last whole call left it, so the lock
    /// is taken over rather than poisoning every later reader.
    pub fn lock(&self) -> MutexGuard<'_, C> {
        self.0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl<C: Chain> Chain for Shared<C> {
    fn height(&self) -> Result<u64, ChainError> {
        self.lock().height()
    }

    fn reach_height(&mut self, height: u64) -> Result<(), ChainError> {
        self.lock().reach_height(height)
    }

    fn address(&self, name: &str) -> Result<String, ChainError> {
        self.lock().address(name)
    }

    fn add_key(&mut self, name: &str, key: &k256::ecdsa::SigningKey) -> Result<String, ChainError> {
        self.lock().add_key(name, key)
    }

    fn transfer(&mut self, from: &str, to: &str, amount: u128) -> Result<(), ChainError> {
        self.lock().transfer(from, to, amount)
    }

    fn balance(&self, name: &str) -> Result<u128, ChainError> {
        self.lock().balance(name)
    }

    fn key_addresser(&self) -> KeyAddresser {
        self.lock().key_addresser()
    }

    fn execute_market(
        &mut self,
        name: &str,
        msg: &ExecuteMsg,
        funds: u128,
    ) -> Result<Attributes, ChainError> {
        self.lock().execute_market(name, msg, funds)
    }

    fn query_market_json(&self, msg: &QueryMsg) -> Result<Vec<u8>, ChainError> {
        self.lock().query_market_json(msg)
    }

    fn market_balance(&self) -> Result<u128, ChainError> {
        self.lock().market_balance()
    }
}
