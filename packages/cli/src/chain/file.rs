//! [`FileChain`]: the embedded chain of an `agora chain` state file, shared
//! by processes. `agora peer run` daemons and `agora chain` commands each
//! hold one; every call takes the file's lock, catches up with the
//! messages others appended (replay is exact), and a message that goes
//! through is appended before the lock is let go.

use std::cell::RefCell;
use std::path::{Path, PathBuf};

use agora_client::{Attributes, Chain, ChainError, KeyAddresser};
use agora_market::msg::{ExecuteMsg, QueryMsg};

use super::{Op, Replayed, State, load, lock, save};
use crate::error::CliError;

pub struct FileChain {
    path: PathBuf,
    inner: RefCell<Inner>,
}

struct Inner {
    replayed: Replayed,
    /// Messages of the file applied to `replayed`.
    applied: usize,
    /// Keys added by this process, added again when `replayed` is rebuilt.
    keys: Vec<(String, k256::ecdsa::SigningKey)>,
}

fn transport(error: CliError) -> ChainError {
    ChainError::Transport(error.to_string())
}

impl FileChain {
    pub fn open(path: &Path) -> Result<Self, CliError> {
        let _lock = lock(path, false)?;
        let state = load(path)?;
        let replayed = Replayed::new(&state)?;
        Ok(Self {
            path: path.to_path_buf(),
            inner: RefCell::new(Inner {
                replayed,
                applied: state.ops.len(),
                keys: Vec::new(),
            }),
        })
    }

    /// Applies what others appended since the last call. The caller holds
    /// the lock. Returns the file's state.
    fn catch_up(&self) -> Result<State, ChainError> {
        let state = load(&self.path).map_err(transport)?;
        let mut inner = self.inner.borrow_mut();
        if state.ops.len() < inner.applied {
            return Err(ChainError::Transport(format!(
                "{} was replaced (it has fewer messages than were seen): restart",
                self.path.display()
            )));
        }
        for op in &state.ops[inner.applied..] {
            inner
                .replayed
                .apply(op)
                .map_err(|e| ChainError::Transport(format!("replaying: {e}")))?;
            inner.applied += 1;
        }
        Ok(state)
    }

    /// A read under the shared lock, after catching up.
    fn read<T>(&self, read: impl FnOnce(&Replayed) -> T) -> Result<T, ChainError> {
        let _lock = lock(&self.path, false).map_err(transport)?;
        self.catch_up()?;
        let inner = self.inner.borrow();
        Ok(read(&inner.replayed))
    }

    /// `op` under the exclusive lock: applied, and appended if it went
    /// through (a refusal changes nothing, in memory or in the file).
    fn write<T>(
        &self,
        op: Op,
        apply: impl FnOnce(&mut Replayed) -> Result<T, ChainError>,
    ) -> Result<T, ChainError> {
        let _lock = lock(&self.path, true).map_err(transport)?;
        let mut state = self.catch_up()?;
        let mut inner = self.inner.borrow_mut();
        // A refused message may have funded its sender first: replay from
        // the file so memory stays what the file says.
        let outcome = apply(&mut inner.replayed);
        match outcome {
            Ok(value) => {
                state.ops.push(op);
                save(&self.path, &state).map_err(transport)?;
                inner.applied += 1;
                Ok(value)
            }
            Err(error) => {
                inner.replayed = Replayed::new(&state).map_err(transport)?;
                inner.applied = state.ops.len();
                for (name, key) in inner.keys.clone() {
                    inner.replayed.chain.add_key(&name, &key)?;
                }
                Err(error)
            }
        }
    }
}

impl Chain for FileChain {
    fn height(&self) -> Result<u64, ChainError> {
        self.read(|replayed| replayed.chain.height())?
    }

    fn reach_height(&mut self, height: u64) -> Result<(), ChainError> {
        let now = self.height()?;
        if height <= now {
            return Ok(());
        }
        let blocks = height - now;
        self.write(Op::Advance { blocks }, |replayed| {
            replayed.chain.advance(blocks);
            Ok(())
        })
    }

    fn address(&self, name: &str) -> Result<String, ChainError> {
        self.read(|replayed| replayed.chain.address(name))?
    }

    /// On the embedded chain an account is its name: name a key by
    /// [`agora_client::key_account`] for its signed requests to map to it.
    fn add_key(&mut self, name: &str, key: &k256::ecdsa::SigningKey) -> Result<String, ChainError> {
        let mut inner = self.inner.borrow_mut();
        inner.keys.push((name.to_string(), key.clone()));
        inner.replayed.chain.add_key(name, key)
    }

    fn transfer(&mut self, from: &str, to: &str, amount: u128) -> Result<(), ChainError> {
        Err(ChainError::Refused(format!(
            "a state file's accounts are funded when first used; {from} cannot send {amount} to {to} here"
        )))
    }

    fn balance(&self, name: &str) -> Result<u128, ChainError> {
        self.read(|replayed| replayed.chain.balance(name))?
    }

    fn key_addresser(&self) -> KeyAddresser {
        self.inner.borrow().replayed.chain.key_addresser()
    }

    fn execute_market(
        &mut self,
        name: &str,
        msg: &ExecuteMsg,
        funds: u128,
    ) -> Result<Attributes, ChainError> {
        let op = Op::Execute {
            name: name.to_string(),
            msg: Box::new(msg.clone()),
            funds,
        };
        self.write(op, |replayed| replayed.execute(name, msg, funds))
    }

    fn query_market_json(&self, msg: &QueryMsg) -> Result<Vec<u8>, ChainError> {
        self.read(|replayed| replayed.chain.query_market_json(msg))?
    }

    fn market_balance(&self) -> Result<u128, ChainError> {
        self.read(|replayed| replayed.chain.market_balance())?
    }
}
