//! `agora deploy` and `agora migrate`: the optimized artifact onto a node.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use agora_client::{Chain, NodeChain};
use agora_market::msg::{GraphParams, InstantiateMsg, MigrateMsg, TEXT};
use clap::Args;
use sha2::{Digest, Sha256};

use crate::error::{CliError, finish};
use crate::network::{self, Deployment, NetworkArgs};

/// The label the market is instantiated with.
const LABEL: &str = "agora-market";

/// How a command reaches a node, signs there, and what it stores.
#[derive(Debug, Args)]
pub struct NodeArgs {
    #[command(flatten)]
    pub network: NetworkArgs,
    /// On a node: the key that signs and pays; it becomes the admin of a
    /// market it instantiates (`deployer`: the localnet's test key).
    #[arg(long, default_value = "deployer")]
    pub key: String,
    /// On a node: the optimized artifact to store; its sha256 must be the
    /// one in checksums.txt beside it.
    #[arg(long, default_value = "artifacts/agora_market.wasm")]
    pub wasm: PathBuf,
}

impl NodeArgs {
    /// Network `name`'s chain, signing as `--key`.
    pub fn connect(&self, name: &str) -> Result<NodeChain, CliError> {
        let mut chain = network::connect(&self.network, name)?;
        network::sign_as(&mut chain, &self.key)?;
        Ok(chain)
    }
}

#[derive(Debug, Args)]
pub struct DeployArgs {
    #[command(flatten)]
    node: NodeArgs,
    /// The TEXT graph's params as JSON (docs/messages.md); omitted fields
    /// take their defaults (docs/SPEC.md §2).
    #[arg(long)]
    params: Option<PathBuf>,
    /// Tokens the key adds to TEXT's reward pool after instantiating.
    #[arg(long, default_value_t = 0)]
    reward_pool: u128,
    /// Print one JSON object: code_id, contract, checksum.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Args)]
pub struct MigrateArgs {
    /// `--key` must be the contract's admin; `--wasm` is the new code.
    #[command(flatten)]
    node: NodeArgs,
    #[arg(long)]
    json: bool,
}

pub fn run_deploy(args: &DeployArgs) -> ExitCode {
    finish("deploy", deploy(args))
}

pub fn run_migrate(args: &MigrateArgs) -> ExitCode {
    finish("migrate", migrate(args))
}

fn network_name(args: &NetworkArgs) -> Result<&str, CliError> {
    args.network
        .as_deref()
        .ok_or_else(|| CliError::Invalid("--network is required (e.g. --network localnet)".into()))
}

/// The artifact's bytes, checked against the checksums.txt beside it.
fn artifact(path: &Path) -> Result<(Vec<u8>, String), CliError> {
    let wasm = std::fs::read(path).map_err(CliError::unreadable(format!(
        "{} (build it with scripts/build-wasm.sh)",
        path.display()
    )))?;
    let sums = path.with_file_name("checksums.txt");
    let listed = std::fs::read_to_string(&sums).map_err(CliError::unreadable(sums.display()))?;
    let file_name = path
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or_default();
    let expected = listed
        .lines()
        .filter_map(|line| line.split_once(char::is_whitespace))
        .find(|(_, name)| name.trim() == file_name)
        .map(|(sum, _)| sum.to_lowercase())
        .ok_or_else(|| CliError::Invalid(format!("{} lists no {file_name}", sums.display())))?;
    let actual = hex(&Sha256::digest(&wasm));
    if actual != expected {
        return Err(CliError::Invalid(format!(
            "{} has sha256 {actual}, but {} says {expected}: rebuild with scripts/build-wasm.sh",
            path.display(),
            sums.display()
        )));
    }
    Ok((wasm, expected))
}

/// Stores the artifact and checks that the node computed its checksum.
fn store(chain: &mut NodeChain, key: &str, path: &Path) -> Result<(u64, String), CliError> {
    let (wasm, expected) = artifact(path)?;
    eprintln!("storing {} ({} bytes)", path.display(), wasm.len());
    let (code_id, checksum) = chain.store_code(key, &wasm)?;
    if checksum != expected {
        return Err(CliError::Invalid(format!(
            "the node stored code {code_id} with checksum {checksum}, not {expected}"
        )));
    }
    Ok((code_id, checksum))
}

/// A params file: a JSON object of some of GraphParams' fields, the rest
/// at their defaults.
fn read_params(path: &Path) -> Result<GraphParams, CliError> {
    let invalid = |e: &dyn std::fmt::Display| CliError::Invalid(format!("{}: {e}", path.display()));
    let text = std::fs::read_to_string(path).map_err(CliError::unreadable(path.display()))?;
    let given: serde_json::Map<String, serde_json::Value> =
        serde_json::from_str(&text).map_err(|e| invalid(&e))?;
    let mut params = serde_json::to_value(GraphParams::builder().build())?;
    let defaults = params
        .as_object_mut()
        .ok_or_else(|| invalid(&"params are not an object"))?;
    for (key, value) in given {
        if !defaults.contains_key(&key) {
            let known: Vec<&str> = defaults.keys().map(String::as_str).collect();
            return Err(invalid(&format!(
                "unknown param {key:?} (known: {})",
                known.join(", ")
            )));
        }
        defaults.insert(key, value);
    }
    serde_json::from_value(params).map_err(|e| invalid(&e))
}

fn deploy(args: &DeployArgs) -> Result<(), CliError> {
    let name = network_name(&args.node.network)?;
    let params = match &args.params {
        Some(path) => read_params(path)?,
        None => GraphParams::builder().build(),
    };
    let mut chain = args.node.connect(name)?;
    let deployment = deploy_market(&mut chain, &args.node, params, args.reward_pool)?;
    let path = network::record(name, &deployment)?;
    print_deployment(&deployment, args.json)?;
    if !args.json {
        println!("recorded in {}", path.display());
    }
    Ok(())
}

/// Stores `node.wasm`, instantiates it with `params` (`node.key` as
/// admin), funds TEXT's reward pool with `reward_pool`, and points `chain`
/// at the new market.
pub fn deploy_market(
    chain: &mut NodeChain,
    node: &NodeArgs,
    params: GraphParams,
    reward_pool: u128,
) -> Result<Deployment, CliError> {
    let key = node.key.as_str();
    let (code_id, checksum) = store(chain, key, &node.wasm)?;
    eprintln!("instantiating code {code_id}");
    let msg = InstantiateMsg {
        denom: chain.network().denom.clone(),
        admin: None,
        text_params: params,
    };
    let contract = chain.instantiate(key, code_id, &msg, LABEL)?;
    chain.set_contract(contract.clone());
    if reward_pool > 0 {
        chain.fund_rewards(key, TEXT, reward_pool)?;
    }
    Ok(Deployment {
        chain_id: chain.network().chain_id.clone(),
        code_id,
        contract,
        checksum,
    })
}

fn migrate(args: &MigrateArgs) -> Result<(), CliError> {
    let name = network_name(&args.node.network)?;
    let mut chain = network::connect(&args.node.network, name)?;
    let contract = chain.contract().map(str::to_string).ok_or_else(|| {
        CliError::Invalid(format!(
            "no market recorded for {name}: run `agora deploy` first"
        ))
    })?;
    // The recorded market is checked before the key is unlocked.
    network::sign_as(&mut chain, &args.node.key)?;
    let (code_id, checksum) = store(&mut chain, &args.node.key, &args.node.wasm)?;
    eprintln!("migrating {contract} to code {code_id}");
    chain.migrate(&args.node.key, code_id, &MigrateMsg {})?;
    let deployment = Deployment {
        chain_id: chain.network().chain_id.clone(),
        code_id,
        contract,
        checksum,
    };
    network::record(name, &deployment)?;
    print_deployment(&deployment, args.json)
}

fn print_deployment(deployment: &Deployment, json: bool) -> Result<(), CliError> {
    if json {
        let object = serde_json::json!({
            "code_id": deployment.code_id,
            "contract": deployment.contract,
            "checksum": deployment.checksum,
        });
        println!("{}", serde_json::to_string(&object)?);
    } else {
        println!("code_id  {}", deployment.code_id);
        println!("contract {}", deployment.contract);
        println!("checksum {}", deployment.checksum);
    }
    Ok(())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
