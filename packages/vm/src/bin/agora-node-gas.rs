//! `agora-node-gas`: the gas a real node (the localnet's wasmd) charges for
//! the market's messages, beside what `agora-gas` predicts for the same
//! message in the same state ([`agora_vm::node_gas`]). Prints a Markdown
//! table; `scripts/node-gas.sh` puts it in the README.

use std::process::ExitCode;

use agora_vm::node_gas::{Row, measure};
use clap::Parser;
#[derive(Parser, Debug)]
#[command(
    name = "agora-node-gas",
    about = "Gas of the market's messages on a wasmd node, beside the VM's prediction",
    long_about = "Needs a running localnet (scripts/localnet.sh start; scripts/node-gas.sh starts \
                  one). Deploys a fresh market from artifacts/agora_market.wasm, runs the story on \
                  the node and in cosmwasm-vm, and prints a Markdown table."
)]
struct Args {
    /// The node's CometBFT RPC (default: $AGORA_LOCALNET_RPC, else the
    /// localnet's).
    #[arg(long)]
    rpc: Option<String>,
    /// Peers in the graph (a row holds at most peers − 1 entries).
    #[arg(long, default_value_t = 449)]
    peers: usize,
    /// Uids per epoch page.
    #[arg(long, default_value_t = 128)]
    page_rows: u32,
}

fn main() -> ExitCode {
    let args = Args::parse();
    match measure(args.rpc, args.peers, args.page_rows) {
        Ok(rows) => {
            print(&rows);
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("agora-node-gas: {error}");
            ExitCode::FAILURE
        }
    }
}

fn print(rows: &[Row]) {
    println!(
        "| {:<34} | {:>12} | {:>12} | {:>10} | {:>7} |",
        "message", "agora-gas", "node", "node − VM", "gap"
    );
    println!(
        "|{:-<36}|{:->14}|{:->14}|{:->12}|{:->9}|",
        "", "", "", "", ""
    );
    for row in rows {
        let (vm, gap) = if row.vm == 0 {
            ("".to_string(), "".to_string())
        } else {
            let gap = (row.node as f64 - row.vm as f64) / row.vm as f64 * 100.0;
            (row.vm.to_string(), format!("{gap:+.1}%"))
        };
        let diff = if row.vm == 0 {
            String::new()
        } else {
            (row.node as i128 - row.vm as i128).to_string()
        };
        println!(
            "| {:<34} | {:>12} | {:>12} | {:>10} | {:>7} |",
            row.message, vm, row.node, diff, gap
        );
    }
}
