//! Networks (`agora.toml`), the keys that sign on them, and where each
//! network's market contract is recorded.
//!
//! `agora.toml` is read from `--config`, else `./agora.toml`, else
//! `$AGORA_HOME/agora.toml`; `localnet` (the chain of
//! `scripts/localnet.sh`) is built in and may be overridden there:
//!
//! ```toml
//! [networks.testnet]
//! rpc = "https://rpc.example.org:443"
//! chain_id = "example-testnet-1"
//! prefix = "wasm"
//! denom = "uexample"
//! gas_price = "0.025"
//! gas_adjustment = "1.3"   # optional
//! timeout_seconds = 60     # optional
//! ```

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use agora_client::keyring::Keyring;
use agora_client::node::localnet_keys;
use agora_client::{Network, NodeChain};
use clap::Args;
use serde::{Deserialize, Serialize};

use crate::error::CliError;

/// How a command picks a node.
#[derive(Debug, Args, Clone)]
pub struct NetworkArgs {
    /// A network of agora.toml (`localnet` is built in).
    #[arg(long, global = true)]
    pub network: Option<String>,
    /// The networks file. Default: ./agora.toml, else $AGORA_HOME/agora.toml.
    #[arg(long, global = true)]
    pub config: Option<PathBuf>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ConfigFile {
    #[serde(default)]
    networks: BTreeMap<String, Network>,
}

/// The market a network runs, as `agora deploy` recorded it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Deployment {
    pub chain_id: String,
    pub code_id: u64,
    pub contract: String,
    pub checksum: String,
}

/// `$AGORA_HOME`, else `agora` under the user's config directory.
pub fn agora_home() -> Result<PathBuf, CliError> {
    if let Some(home) = std::env::var_os("AGORA_HOME") {
        return Ok(PathBuf::from(home));
    }
    dirs::config_dir()
        .map(|config| config.join("agora"))
        .ok_or_else(|| CliError::Invalid("no config directory: set AGORA_HOME".into()))
}

/// The network `name`, from the config file or built in.
pub fn network(args: &NetworkArgs, name: &str) -> Result<Network, CliError> {
    let path = match &args.config {
        Some(path) => Some(path.clone()),
        None => [
            PathBuf::from("agora.toml"),
            agora_home()?.join("agora.toml"),
        ]
        .into_iter()
        .find(|path| path.exists()),
    };
    let file = match &path {
        Some(path) => {
            let text =
                std::fs::read_to_string(path).map_err(CliError::unreadable(path.display()))?;
            toml::from_str::<ConfigFile>(&text)
                .map_err(|e| CliError::Invalid(format!("{}: {e}", path.display())))?
        }
        None => ConfigFile::default(),
    };
    if let Some(network) = file.networks.get(name) {
        return Ok(network.clone());
    }
    if name == "localnet" {
        return Ok(localnet());
    }
    let known: Vec<&str> = file
        .networks
        .keys()
        .map(String::as_str)
        .chain(["localnet"])
        .collect();
    Err(CliError::Invalid(format!(
        "no network {name:?} (known: {}); add [networks.{name}] to agora.toml",
        known.join(", ")
    )))
}

/// The built-in localnet; `AGORA_LOCALNET_RPC` moves its node.
fn localnet() -> Network {
    let mut network = Network::localnet();
    if let Ok(rpc) = std::env::var("AGORA_LOCALNET_RPC") {
        network.rpc = rpc;
    }
    network
}

fn deployment_path(name: &str) -> Result<PathBuf, CliError> {
    Ok(agora_home()?
        .join("deployments")
        .join(format!("{name}.json")))
}

/// The recorded market of network `name`, if any.
pub fn deployment(name: &str) -> Result<Option<Deployment>, CliError> {
    let path = deployment_path(name)?;
    if !path.exists() {
        return Ok(None);
    }
    let text = std::fs::read_to_string(&path).map_err(CliError::unreadable(path.display()))?;
    serde_json::from_str(&text)
        .map(Some)
        .map_err(|e| CliError::Invalid(format!("{} is not a deployment: {e}", path.display())))
}

/// Records `deployment` as network `name`'s market (atomically).
pub fn record(name: &str, deployment: &Deployment) -> Result<PathBuf, CliError> {
    let path = deployment_path(name)?;
    write_atomically(&path, &serde_json::to_string_pretty(deployment)?)?;
    Ok(path)
}

/// Writes `text` to `path` atomically (write, fsync, rename).
pub fn write_atomically(path: &Path, text: &str) -> Result<(), CliError> {
    agora_client::durable::write_atomically(path, text.as_bytes(), false)
        .map_err(CliError::io(format!("writing {}", path.display())))
}

/// A chain on network `name`, with its recorded market (if any).
pub fn connect(args: &NetworkArgs, name: &str) -> Result<NodeChain, CliError> {
    let network = network(args, name)?;
    let contract = match deployment(name)? {
        Some(deployment) if deployment.chain_id == network.chain_id => Some(deployment.contract),
        _ => None,
    };
    Ok(NodeChain::connect(network, contract)?)
}

/// Lets `chain` sign as `key`: the localnet's test key of that name, or
/// the keyring's (its passphrase from $AGORA_KEYRING_PASSPHRASE or a
/// prompt). Returns the key's address.
pub fn sign_as(chain: &mut NodeChain, key: &str) -> Result<String, CliError> {
    use agora_client::Chain;
    if let Ok(address) = chain.address(key) {
        return Ok(address);
    }
    let secret = signing_key(key, chain.network().test_keys)?;
    Ok(chain.add_key(key, &secret)?)
}

/// The secret of key `name`: with `test_keys`, one of the localnet's
/// public test keys of that name; else the keyring's.
pub fn signing_key(name: &str, test_keys: bool) -> Result<k256::ecdsa::SigningKey, CliError> {
    if test_keys && let Some((_, mnemonic)) = localnet_keys().into_iter().find(|(n, _)| *n == name)
    {
        return Ok(agora_client::keyring::derive(mnemonic)?);
    }
    let keyring = Keyring::open(agora_home()?.join("keys"));
    keyring.show(name).map_err(|_| {
        CliError::Invalid(format!(
            "no key {name:?} in {} (create it with `agora keys add {name}`){}",
            keyring.dir().display(),
            if test_keys {
                ", nor among the localnet's test keys"
            } else {
                ""
            }
        ))
    })?;
    Ok(keyring.signing_key(name, &crate::keys::passphrase(false)?)?)
}
