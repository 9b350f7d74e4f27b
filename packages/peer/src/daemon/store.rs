//! The daemon's data dir: everything a restart must find again. Every file
//! is written atomically (temporary file, fsync, rename), so a `kill -9`
//! leaves the last whole version.
//!
//! - `model.safetensors`: the local model;
//! - `gate.safetensors` and `gate.json`: gate and head, and the neighbours
//!   (uid and address) they were trained for;
//! - `student.safetensors`: the distilled student;
//! - `worth.json`: each neighbour's worth EMA;
//! - `pending.json`: commits not yet revealed, with their salts.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use agora_client::durable::write_atomically;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

/// A neighbour's worth, kept for the address that held the uid.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Worth {
    pub address: String,
    pub ema: f64,
}

/// A commit waiting for its reveal window.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Pending {
    pub graph: String,
    pub uid: u16,
    pub row: Vec<(u16, u16)>,
    /// Hex.
    pub salt: String,
    /// Epochs the graph had finished when it was committed.
    pub epoch: u64,
}

/// The neighbours gate and head were trained for.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GateNeighbours(pub Vec<(u16, String)>);

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} is damaged: {source}")]
    Damaged {
        path: PathBuf,
        source: serde_json::Error,
    },
    #[error("{path}: {source}")]
    Model {
        path: PathBuf,
        source: candle_core::Error,
    },
}

pub struct Store {
    dir: PathBuf,
}

impl Store {
    pub fn open(dir: &Path) -> Result<Self, StoreError> {
        std::fs::create_dir_all(dir).map_err(|source| StoreError::Io {
            path: dir.to_path_buf(),
            source,
        })?;
        Ok(Self {
            dir: dir.to_path_buf(),
        })
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// `name`'s JSON, or `None` if it was never written.
    pub fn read<T: DeserializeOwned>(&self, name: &str) -> Result<Option<T>, StoreError> {
        let path = self.path(name);
        match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map(Some)
                .map_err(|source| StoreError::Damaged { path, source }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(source) => Err(StoreError::Io { path, source }),
        }
    }

    /// Writes `value` as `name`'s JSON, atomically; salts make it private.
    pub fn write<T: Serialize>(&self, name: &str, value: &T) -> Result<(), StoreError> {
        let path = self.path(name);
        let bytes = serde_json::to_vec_pretty(value).map_err(|source| StoreError::Damaged {
            path: path.clone(),
            source,
        })?;
        write_atomically(&path, &bytes, true).map_err(|source| StoreError::Io { path, source })
    }

    /// Saves a checkpoint through `save` (which writes a file at the path
    /// it is given) atomically ([`agora_client::durable::replace`]).
    pub fn checkpoint(
        &self,
        name: &str,
        save: impl FnOnce(&Path) -> candle_core::Result<()>,
    ) -> Result<(), StoreError> {
        let path = self.path(name);
        agora_client::durable::replace(&path, save)
            .map_err(|source| StoreError::Model { path, source })
    }

    /// Loads a checkpoint through `load` if it exists; whether it did.
    pub fn restore(
        &self,
        name: &str,
        load: impl FnOnce(&Path) -> candle_core::Result<()>,
    ) -> Result<bool, StoreError> {
        let path = self.path(name);
        if !path.exists() {
            return Ok(false);
        }
        load(&path).map_err(|source| StoreError::Model { path, source })?;
        Ok(true)
    }

    pub fn pending(&self) -> Result<Vec<Pending>, StoreError> {
        Ok(self.read("pending.json")?.unwrap_or_default())
    }

    pub fn worth(&self) -> Result<BTreeMap<u16, Worth>, StoreError> {
        Ok(self.read("worth.json")?.unwrap_or_default())
    }
}
