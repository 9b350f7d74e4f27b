//! `agora sim`: a scenario file in, one JSON array (or a table) out.

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

use agora_mechanism::Decimal;
use agora_mechanism::scenario::{EpochReport, Scenario};
use clap::Args;

use crate::error::{CliError, finish};

#[derive(Debug, Args)]
pub struct SimArgs {
    /// The scenario, as JSON (see examples/ and docs/SPEC.md §9).
    scenario: PathBuf,
    /// Print a readable table per epoch (uid, stake share, incentive,
    /// dividends, paid) instead of JSON.
    #[arg(long)]
    summary: bool,
}

pub fn run(args: &SimArgs) -> ExitCode {
    finish("sim", simulate(args))
}

/// A scenario that cannot run exits 2 (docs/SPEC.md §9): every error of
/// reading and running it is [`CliError::Invalid`].
fn simulate(args: &SimArgs) -> Result<(), CliError> {
    let reports = load_and_run(args)?;
    let text = if args.summary {
        summary(&reports)
    } else {
        let mut json = serde_json::to_string_pretty(&reports)?;
        json.push('\n');
        json
    };
    // A closed pipe (`agora sim … | head`) is not an error worth a panic.
    let _ = std::io::stdout().lock().write_all(text.as_bytes());
    Ok(())
}

fn load_and_run(args: &SimArgs) -> Result<Vec<EpochReport>, CliError> {
    let path = args.scenario.display();
    let text = std::fs::read_to_string(&args.scenario).map_err(CliError::unreadable(&path))?;
    let scenario =
        Scenario::from_json(&text).map_err(|e| CliError::Invalid(format!("{path}: {e}")))?;
    scenario
        .run()
        .map_err(|e| CliError::Invalid(format!("{path}: {e}")))
}

fn summary(reports: &[EpochReport]) -> String {
    let mut out = String::new();
    for report in reports {
        let _ = writeln!(
            out,
            "epoch {}  loss {}  k {}  emission {}  remainder {}  pool {}",
            report.epoch,
            fixed(report.loss),
            report.k_after,
            report.emission,
            report.remainder,
            report.reward_pool_after,
        );
        let _ = writeln!(
            out,
            "{:>5}  {:>11}  {:>11}  {:>11}  {:>14}",
            "uid", "stake share", "incentive", "dividends", "paid"
        );
        for uid in 0..report.stake_share.len() {
            let _ = writeln!(
                out,
                "{:>5}  {:>11}  {:>11}  {:>11}  {:>14}",
                uid,
                fixed(report.stake_share[uid]),
                fixed(report.incentive[uid]),
                fixed(report.dividends[uid]),
                report.paid[uid],
            );
        }
        out.push('\n');
    }
    out
}

/// Six decimals are plenty to read; the JSON keeps every digit.
fn fixed(value: Decimal) -> String {
    format!("{:.6}", value.round_dp(6))
}
