//! A file keyring of secp256k1 keys, as Cosmos tools keep them: each key
//! comes from a BIP-39 mnemonic on the Cosmos HD path, and is stored as
//! that mnemonic encrypted with a passphrase (age's scrypt recipient: no
//! home-made crypto), beside its public key. The same key signs chain
//! transactions and axon requests.
//!
//! One file per key, `NAME.json`, written atomically (write, fsync, rename),
//! so a crash never leaves half a key.

use std::fs;
use std::path::{Path, PathBuf};

use age::secrecy::{ExposeSecret, SecretString};
use bip32::{DerivationPath, XPrv};
use bip39::Mnemonic;
use k256::ecdsa::SigningKey;
use rand_core::{OsRng, RngCore};
use ripemd::Ripemd160;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// The Cosmos Hub's HD path (coin type 118), account 0, index 0.
pub const COSMOS_HD_PATH: &str = "m/44'/118'/0'/0/0";

#[derive(Debug, thiserror::Error)]
pub enum KeyringError {
    #[error("key {0:?} not found")]
    NotFound(String),
    #[error("key {0:?} already exists")]
    Exists(String),
    #[error("invalid key name {0:?}: use 1-64 letters, digits, '-' or '_'")]
    InvalidName(String),
    #[error("invalid mnemonic: {0}")]
    InvalidMnemonic(String),
    #[error("invalid bech32 prefix {0:?}")]
    InvalidPrefix(String),
    #[error("wrong passphrase, or the key file is damaged")]
    WrongPassphrase,
    #[error("the key file {path} is damaged: {reason}")]
    Damaged { path: PathBuf, reason: String },
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
}

fn io(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> KeyringError {
    let context = context.into();
    move |source| KeyringError::Io { context, source }
}

/// What a key file holds: the public part in the clear, the mnemonic
/// encrypted.
#[derive(Serialize, Deserialize)]
struct KeyFile {
    name: String,
    /// SEC1 compressed public key, hex.
    public_key: String,
    hd_path: String,
    /// The mnemonic, age-encrypted with the passphrase, hex.
    encrypted_mnemonic: String,
}

/// A key's public part.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct KeyInfo {
    pub name: String,
    /// SEC1 compressed, 33 bytes.
    pub public_key: Vec<u8>,
    pub hd_path: String,
}

impl KeyInfo {
    /// The key's account address under `prefix`.
    pub fn address(&self, prefix: &str) -> Result<String, KeyringError> {
        address(prefix, &self.public_key)
    }
}

/// A chain address: bech32(prefix, ripemd160(sha256(public key))).
pub fn address(prefix: &str, public_key: &[u8]) -> Result<String, KeyringError> {
    let hash = Ripemd160::digest(Sha256::digest(public_key));
    let hrp =
        bech32::Hrp::parse(prefix).map_err(|_| KeyringError::InvalidPrefix(prefix.to_string()))?;
    bech32::encode::<bech32::Bech32>(hrp, &hash)
        .map_err(|_| KeyringError::InvalidPrefix(prefix.to_string()))
}

/// The signing key of `mnemonic` on the Cosmos HD path.
pub fn derive(mnemonic: &str) -> Result<SigningKey, KeyringError> {
    let mnemonic = Mnemonic::parse(mnemonic.trim())
        .map_err(|e| KeyringError::InvalidMnemonic(e.to_string()))?;
    let path: DerivationPath = COSMOS_HD_PATH.parse().expect("a valid constant path");
    let key = XPrv::derive_from_path(mnemonic.to_seed(""), &path)
        .map_err(|e| KeyringError::InvalidMnemonic(e.to_string()))?;
    Ok(key.private_key().clone())
}

/// The keys in one directory.
pub struct Keyring {
    dir: PathBuf,
}

impl Keyring {
    /// The keyring in `dir` (created on the first key).
    pub fn open(dir: impl Into<PathBuf>) -> Self {
        Self { dir: dir.into() }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn path(&self, name: &str) -> Result<PathBuf, KeyringError> {
        let valid = (1..=64).contains(&name.len())
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if !valid {
            return Err(KeyringError::InvalidName(name.to_string()));
        }
        Ok(self.dir.join(format!("{name}.json")))
    }

    /// A new key from a fresh 24-word mnemonic drawn from the OS's random
    /// generator; returns the mnemonic, to be written down once.
    pub fn add(
        &self,
        name: &str,
        passphrase: &SecretString,
    ) -> Result<(KeyInfo, SecretString), KeyringError> {
        // 256 bits from the OS: a 24-word mnemonic.
        let mut entropy = [0u8; 32];
        OsRng.fill_bytes(&mut entropy);
        let mnemonic = Mnemonic::from_entropy(&entropy)
            .map_err(|e| KeyringError::InvalidMnemonic(e.to_string()))?;
        entropy.fill(0);
        let phrase = SecretString::from(mnemonic.to_string());
        let info = self.recover(name, &phrase, passphrase)?;
        Ok((info, phrase))
    }

    /// Stores the key of an existing `mnemonic` under `name`.
    pub fn recover(
        &self,
        name: &str,
        mnemonic: &SecretString,
        passphrase: &SecretString,
    ) -> Result<KeyInfo, KeyringError> {
        let path = self.path(name)?;
        if path.exists() {
            return Err(KeyringError::Exists(name.to_string()));
        }
        let phrase = mnemonic.expose_secret().trim();
        let key = derive(phrase)?;
        let public_key = key
            .verifying_key()
            .to_encoded_point(true)
            .as_bytes()
            .to_vec();
        let recipient = age::scrypt::Recipient::new(passphrase.clone());
        let encrypted =
            age::encrypt(&recipient, phrase.as_bytes()).map_err(|e| KeyringError::Io {
                context: "encrypting the mnemonic".to_string(),
                source: std::io::Error::other(e),
            })?;
        let file = KeyFile {
            name: name.to_string(),
            public_key: hex::encode(&public_key),
            hd_path: COSMOS_HD_PATH.to_string(),
            encrypted_mnemonic: hex::encode(encrypted),
        };
        let json = serde_json::to_vec_pretty(&file).expect("a key file serializes");
        write_atomically(&self.dir, &path, &json)?;
        Ok(KeyInfo {
            name: name.to_string(),
            public_key,
            hd_path: file.hd_path,
        })
    }

    fn read(&self, name: &str) -> Result<(PathBuf, KeyFile), KeyringError> {
        let path = self.path(name)?;
        let bytes = match fs::read(&path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(KeyringError::NotFound(name.to_string()));
            }
            Err(e) => return Err(io(format!("reading {}", path.display()))(e)),
        };
        let file = serde_json::from_slice(&bytes).map_err(|e| KeyringError::Damaged {
            path: path.clone(),
            reason: e.to_string(),
        })?;
        Ok((path, file))
    }

    fn info(path: &Path, file: KeyFile) -> Result<KeyInfo, KeyringError> {
        let public_key = hex::decode(&file.public_key).map_err(|e| KeyringError::Damaged {
            path: path.to_path_buf(),
            reason: e.to_string(),
        })?;
        Ok(KeyInfo {
            name: file.name,
            public_key,
            hd_path: file.hd_path,
        })
    }

    /// A key's public part: no passphrase needed.
    pub fn show(&self, name: &str) -> Result<KeyInfo, KeyringError> {
        let (path, file) = self.read(name)?;
        Self::info(&path, file)
    }

    /// Every key, by name.
    pub fn list(&self) -> Result<Vec<KeyInfo>, KeyringError> {
        let entries = match fs::read_dir(&self.dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(io(format!("reading {}", self.dir.display()))(e)),
        };
        let mut names = Vec::new();
        for entry in entries {
            let entry = entry.map_err(io(format!("reading {}", self.dir.display())))?;
            let file_name = entry.file_name();
            if let Some(name) = file_name.to_str().and_then(|n| n.strip_suffix(".json")) {
                names.push(name.to_string());
            }
        }
        names.sort();
        names.iter().map(|name| self.show(name)).collect()
    }

    /// The signing key, decrypted with `passphrase`.
    pub fn signing_key(
        &self,
        name: &str,
        passphrase: &SecretString,
    ) -> Result<SigningKey, KeyringError> {
        let (path, file) = self.read(name)?;
        let encrypted =
            hex::decode(&file.encrypted_mnemonic).map_err(|e| KeyringError::Damaged {
                path: path.clone(),
                reason: e.to_string(),
            })?;
        let identity = age::scrypt::Identity::new(passphrase.clone());
        let phrase =
            age::decrypt(&identity, &encrypted).map_err(|_| KeyringError::WrongPassphrase)?;
        let phrase = String::from_utf8(phrase).map_err(|_| KeyringError::WrongPassphrase)?;
        derive(&phrase)
    }

    /// Removes a key.
    pub fn delete(&self, name: &str) -> Result<(), KeyringError> {
        let (path, _) = self.read(name)?;
        fs::remove_file(&path).map_err(io(format!("removing {}", path.display())))
    }
}

/// Key files: atomic, and readable by their owner only.
fn write_atomically(dir: &Path, path: &Path, bytes: &[u8]) -> Result<(), KeyringError> {
    fs::create_dir_all(dir).map_err(io(format!("creating {}", dir.display())))?;
    crate::durable::write_atomically(path, bytes, true)
        .map_err(io(format!("writing {}", path.display())))
}

#[cfg(test)]
mod tests {
    use super::*;

    const ABANDON: &str = "abandon abandon abandon abandon abandon abandon abandon abandon \
                           abandon abandon abandon about";

    #[test]
    fn the_cosmos_test_vector_derives_its_known_addresses() {
        // The all-"abandon" mnemonic on m/44'/118'/0'/0/0, as CosmJS,
        // Keplr and the Cosmos SDK derive it.
        let key = derive(ABANDON).unwrap();
        let public_key = key.verifying_key().to_encoded_point(true);
        assert_eq!(
            address("cosmos", public_key.as_bytes()).unwrap(),
            "cosmos19rl4cm2hmr8afy4kldpxz3fka4jguq0auqdal4"
        );
        assert_eq!(
            address("neutron", public_key.as_bytes()).unwrap(),
            "neutron19rl4cm2hmr8afy4kldpxz3fka4jguq0aclyl9j"
        );
        assert!(derive("abandon abandon").is_err());
        assert!(address("", public_key.as_bytes()).is_err());
    }
}
