//! `agora`: the command-line front end of Agora. Wiring and presentation
//! only; the logic lives in the library crates.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod bench;
mod chain;
mod daemon;
mod demo;
mod deploy;
mod error;
mod explorer;
mod keys;
mod network;
mod peer;
mod plots;
mod sim;

/// Agora: the incentive mechanism of "Bittensor: A Peer-to-Peer Intelligence
/// Market", on CosmWasm.
#[derive(Debug, Parser)]
#[command(name = "agora", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the epochs of a simulation scenario (docs/SPEC.md §9) through the same
    /// mechanism the contract runs, and print one JSON object per epoch.
    ///
    /// Exit code 2 (with a message on stderr and nothing on stdout) when the
    /// scenario cannot be read or breaks a rule: a self-weight, a uid out of
    /// range, a weight of 0, a parameter out of range.
    Sim(sim::SimArgs),
    /// The whole market on this machine: peers register and stake on an
    /// embedded chain, train and serve over loopback HTTP, rank each other,
    /// and the contract's epochs move stake to the useful ones. Writes
    /// report.json and two plots; Ctrl-C stops cleanly. With --network NAME
    /// a fresh market is deployed on that node and every message is a real
    /// transaction.
    Demo(demo::DemoArgs),
    /// The embedded chain by hand: init, register, stake, set-weights,
    /// epoch, metagraph, ranking. Invocations share one chain through a
    /// state file.
    Chain(chain::ChainArgs),
    /// The off-chain peer: train its local model, or run a whole market of
    /// peers on this machine (loopback HTTP, embedded chain).
    #[command(subcommand)]
    Peer(peer::PeerCommand),
    /// The keyring: secp256k1 keys from BIP-39 mnemonics on the Cosmos HD
    /// path, encrypted with a passphrase; the same key signs chain
    /// transactions and axon requests.
    Keys(keys::KeysArgs),
    /// The market explorer, a web page on 127.0.0.1: a graph's ranking,
    /// params, epoch state and stake shares, read through the chain's
    /// RPC from an `agora chain` state (--state) or from nodes
    /// (--network). `agora demo --serve` shows the demo's market.
    Explorer(explorer::ExplorerArgs),
    /// Store the optimized artifact on a node (checking the checksum the
    /// node computes against artifacts/checksums.txt), instantiate the
    /// market and record its address for the network (docs/deploy.md).
    Deploy(deploy::DeployArgs),
    /// Store a new artifact and migrate the network's recorded market to
    /// it (the key must be the contract's admin).
    Migrate(deploy::MigrateArgs),
    /// Measurements. `agora bench copier`: does copying the visible
    /// consensus pay, per consensus mode and commit-reveal setting? `agora
    /// bench axon`: how fast a peer's axon answers.
    #[command(subcommand)]
    Bench(bench::BenchCommand),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Sim(args) => sim::run(&args),
        Command::Peer(command) => peer::run(command),
        Command::Demo(args) => demo::run(&args),
        Command::Chain(args) => chain::run(&args),
        Command::Keys(args) => keys::run(&args),
        Command::Explorer(args) => explorer::run(&args),
        Command::Deploy(args) => deploy::run_deploy(&args),
        Command::Migrate(args) => deploy::run_migrate(&args),
        Command::Bench(command) => bench::run(command),
    }
}
