//! `agora-gas`: the gas table of `docs/performance.md`.
//!
//! Executes the committed artifact in cosmwasm-vm with SDK storage costs
//! and prints, per workload, the gas of register, stake, set_weights, one
//! epoch (all pages, and the largest page) and a metagraph query page.

use std::process::ExitCode;

use agora_market::msg::Consensus;
use agora_vm::workload::{GasRow, REFERENCE_EPOCH_GAS, Workload, measure};
use clap::Parser;

#[derive(Parser, Debug)]
#[command(
    name = "agora-gas",
    about = "Gas of the market contract's messages, measured in the real CosmWasm VM",
    long_about = "Runs artifacts/agora_market.wasm in cosmwasm-vm 3.0.10 and reports Cosmos SDK gas: \
                  VM gas / 140,000 plus the SDK's KV costs (read 1000 + 3/byte, write 2000 + 30/byte, \
                  has/delete 1000, iterator step 30). Build the artifact first: scripts/build-wasm.sh."
)]
struct Args {
    /// Workloads: cybernet-512 and nN (N peers, all staked, 64 entries a row);
    /// a `-median` suffix runs the graph in median consensus (docs/SPEC.md §3b, N ≤ 1024).
    #[arg(default_values_t = [
        "cybernet-512".to_string(), "n16".into(), "n64".into(), "n256".into(), "n1024".into(), "n4096".into(),
        "cybernet-512-median".into(), "n64-median".into(), "n256-median".into(), "n1024-median".into(),
    ])]
    workloads: Vec<String>,
    /// Uids per epoch page (the epoch message's `max_rows`). Default: the
    /// whole epoch in one transaction up to 1366 peers, pages of 1366 uids
    /// above (a third of n4096: every page of it then stays under 10M gas);
    /// a median graph in pages of a quarter of its peers, so that its
    /// largest page (all rows absorbed and settled at once) shows.
    #[arg(long)]
    page_rows: Option<u32>,
    /// One JSON object per row instead of a table.
    #[arg(long)]
    json: bool,
}

const DEFAULT_PAGE_ROWS: u32 = 1366;

fn main() -> ExitCode {
    let args = Args::parse();
    let mut table: Vec<GasRow> = Vec::new();
    for name in &args.workloads {
        let Some(workload) = Workload::by_name(name) else {
            eprintln!(
                "unknown workload {name:?}: use cybernet-512 or nN with 2 <= N <= 4096 (the largest graph max_peers allows), \
                 with -median for a median graph (N <= 1024)"
            );
            return ExitCode::from(2);
        };
        let default_pages = if workload.consensus == Consensus::Median {
            Some((workload.peers as u32 / 4).max(1))
        } else {
            (workload.peers > DEFAULT_PAGE_ROWS as usize).then_some(DEFAULT_PAGE_ROWS)
        };
        let page_rows = args.page_rows.or(default_pages);
        match measure(&workload, page_rows, !args.json) {
            Ok(rows) => {
                if !args.json {
                    print_rows(&rows, table.is_empty());
                }
                table.extend(rows);
            }
            Err(error) => {
                eprintln!("{name}: {error}");
                return ExitCode::FAILURE;
            }
        }
    }
    if args.json {
        match serde_json::to_string_pretty(&table) {
            Ok(json) => println!("{json}"),
            Err(error) => {
                eprintln!("{error}");
                return ExitCode::FAILURE;
            }
        }
    }
    ExitCode::SUCCESS
}

fn print_rows(rows: &[GasRow], header: bool) {
    if header {
        println!(
            "| {:<19} | {:<26} | {:>12} | {:>10} | {:>12} | {:>8} |",
            "workload", "message", "storage gas", "VM gas", "total", "vs 16M"
        );
        println!(
            "|{:-<21}|{:-<28}|{:->14}|{:->12}|{:->14}|{:->10}|",
            "", "", "", "", "", ""
        );
    }
    for row in rows {
        let ratio = if row.message.starts_with("epoch (") {
            format!("{:.3}", row.total_gas as f64 / REFERENCE_EPOCH_GAS as f64)
        } else {
            String::new()
        };
        let row = if row.message == "epoch storage floor" {
            // The ratio column here: the epoch's storage gas over the floor.
            let epoch = rows.iter().find(|r| r.message.starts_with("epoch ("));
            let over = epoch.map_or(0.0, |e| e.storage_gas as f64 / row.storage_gas as f64);
            println!(
                "| {:<19} | {:<26} | {:>12} | {:>10} | {:>12} | {:>7.2}x |",
                row.workload, row.message, row.storage_gas, "", "", over
            );
            continue;
        } else {
            row
        };
        println!(
            "| {:<19} | {:<26} | {:>12} | {:>10} | {:>12} | {:>8} |",
            row.workload, row.message, row.storage_gas, row.vm_gas, row.total_gas, ratio
        );
    }
}
