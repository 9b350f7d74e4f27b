//! `agora demo`: the whole market on one machine, in one command.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use agora_client::Shared;
use agora_peer::market::{
    EMBEDDED_FUNDER, MarketConfig, MarketReport, Progress, embedded_market, run_market,
    run_market_on,
};
use clap::Args;
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};

use crate::plots;

use crate::deploy::NodeArgs;
use crate::error::{CliError, finish};
use crate::explorer::Explorer;

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Honest peers (each on its own shard; the first trains most).
    #[arg(long, default_value_t = 4)]
    honest: usize,
    /// Peers that serve a good model drowned in noise.
    #[arg(long, default_value_t = 1)]
    noisy: usize,
    /// Peers that serve random vectors.
    #[arg(long, default_value_t = 1)]
    lazy: usize,
    /// Staked peers that serve random vectors and weight only each other.
    #[arg(long, default_value_t = 2)]
    cabal: usize,
    /// Epochs to run (the default takes about 25 s on two cores, after the build).
    #[arg(long, default_value_t = 30)]
    epochs: u64,
    /// Gate-and-head steps per honest peer per epoch.
    #[arg(long, default_value_t = 60)]
    learn_steps: usize,
    /// Neighbours each input is routed to (the sparse gate's k).
    #[arg(long, default_value_t = 2)]
    top_k: usize,
    /// Seeds every model and batch: the same seed gives the same run.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// A tiny run (3 honest peers, 2 epochs; 3 with --commit-reveal, whose
    /// first epoch has no revealed row), for tests.
    #[arg(long)]
    quick: bool,
    /// Weights by commit and reveal: every peer reveals last epoch's row
    /// and commits this epoch's, so nobody can copy a row before it counts.
    #[arg(long)]
    commit_reveal: bool,
    /// How the contract forms incentive: `sigmoid` (the paper's) or
    /// `median` (docs/SPEC.md §3b: a stake-weighted median per peer, rows
    /// clipped to it; ranks finely and leaves a self-voting cabal nothing).
    #[arg(long, value_enum, default_value_t = ConsensusArg::Sigmoid)]
    consensus: ConsensusArg,
    /// Serve the market explorer on 127.0.0.1:PORT (default 8480; 0 for
    /// any free port) while the market runs, and after it until Ctrl-C:
    /// the page reads the embedded chain as it would a node.
    #[arg(long, value_name = "PORT", num_args = 0..=1, default_missing_value = "8480")]
    serve: Option<u16>,
    #[command(flatten)]
    corpus: crate::peer::CorpusArgs,
    /// Start the best honest peer from this checkpoint (`agora peer train
    /// --out`, of the same shape) instead of training it.
    #[arg(long, value_name = "FILE")]
    start_from: Option<PathBuf>,
    /// Where report.json, stake_share.svg and loss.svg go.
    #[arg(long, default_value = "agora-demo")]
    out: PathBuf,
    /// With --network, the market runs on that network's node instead of
    /// the embedded chain: a fresh market is deployed there, `--key` funds
    /// the peers' accounts and sends the epochs, and every register, stake,
    /// row, commit, reveal and epoch is a real transaction.
    #[command(flatten)]
    node: NodeArgs,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum ConsensusArg {
    Sigmoid,
    Median,
}

impl From<ConsensusArg> for agora_market::msg::Consensus {
    fn from(arg: ConsensusArg) -> Self {
        match arg {
            ConsensusArg::Sigmoid => Self::Sigmoid,
            ConsensusArg::Median => Self::Median,
        }
    }
}

/// Local training steps of honest peer `i`: each trains a third as much
/// as the one before, so their quality differs.
fn honest_steps(count: usize) -> Vec<usize> {
    (0..count)
        .map(|i| (3000 / 3usize.pow(i as u32)).max(20))
        .collect()
}

pub fn run(args: &DemoArgs) -> ExitCode {
    finish("demo", demo(args))
}

fn demo(args: &DemoArgs) -> Result<(), CliError> {
    if args.honest < 2 {
        return Err(CliError::Invalid(
            "--honest needs at least 2 peers".to_string(),
        ));
    }
    if let (Some(_), Some(name)) = (args.serve, &args.node.network.network) {
        return Err(CliError::Invalid(format!(
            "--serve shows the embedded market; for {name}'s, run `agora explorer --network {name}`"
        )));
    }
    let mut config = MarketConfig {
        honest_steps: honest_steps(args.honest),
        noisy: args.noisy,
        lazy: args.lazy,
        cabal: args.cabal,
        epochs: args.epochs,
        learn_steps: args.learn_steps,
        seed: args.seed,
        commit_reveal: args.commit_reveal,
        consensus: args.consensus.into(),
        top_k: args.top_k,
        // Stake that moves within a few epochs: each epoch emits 10% of
        // an honest peer's stake; the peg is free to move k.
        stake: 10_000_000,
        emission_per_epoch: 1_000_000,
        peg_ceiling: 64,
        corpus: args.corpus.market_corpus(&MarketConfig::quick()),
        start_from: args.start_from.clone(),
        // The recipe the demo's figures and modes were measured with: with
        // the market's (bigger batches, heads learning on all the text) the
        // demo ranks worse, and nearby recipes pay the noisy peer 45% of a
        // two-epoch `--quick` demo (README, "The market's recipe").
        train_batch: 64,
        learning_rate: agora_peer::local::DEFAULT_LEARNING_RATE,
        learn_on_all_text: false,
        ..MarketConfig::quick()
    };
    if args.quick {
        config.honest_steps = vec![1500, 300, 20];
        config.epochs = if args.commit_reveal { 3 } else { 2 };
        config.learn_steps = 30;
    }
    std::fs::create_dir_all(&args.out)
        .map_err(CliError::io(format!("creating {}", args.out.display())))?;

    let bars = MultiProgress::new();
    let status = bars.add(ProgressBar::new_spinner());
    status.enable_steady_tick(Duration::from_millis(120));
    let epoch_bar = bars.add(ProgressBar::new(config.honest_steps.len() as u64));
    epoch_bar.set_style(
        ProgressStyle::with_template(
            "epoch {prefix:>3} {bar:30} {pos}/{len} honest peers set weights",
        )
        .expect("static template"),
    );
    let stop = Arc::new(AtomicBool::new(false));
    let runtime = tokio::runtime::Runtime::new().map_err(CliError::io("starting the runtime"))?;
    {
        let stop = Arc::clone(&stop);
        runtime.spawn(async move {
            if tokio::signal::ctrl_c().await.is_ok() {
                stop.store(true, Ordering::Relaxed);
            }
        });
    }
    let watch = |progress| match progress {
        Progress::Setup(line) => status.set_message(line),
        Progress::Validated { epoch, done, .. } => {
            epoch_bar.set_prefix(epoch.to_string());
            epoch_bar.set_position(done as u64);
        }
        Progress::Closed(record) => {
            let line = format!(
                "epoch {:>3}: loss {:+.4}  k {}  top peer {}",
                record.epoch, record.loss, record.k, record.top
            );
            bars.println(&line).ok();
            status.set_message(line);
            epoch_bar.set_position(0);
        }
    };
    let mut served = None;
    let report = match &args.node.network.network {
        None if args.serve.is_some() => {
            let chain = Shared::new(embedded_market(&config)?);
            // The chain is not Send: the page is answered on this thread,
            // between the market's calls.
            let local = tokio::task::LocalSet::new();
            let explorer = Explorer::embedded(&chain, &local);
            let port = args.serve.unwrap_or_default();
            let (address, server) = runtime.block_on(explorer.bind(port))?;
            runtime.spawn(server);
            bars.println(format!("explorer: http://{address}/")).ok();
            let report = local.block_on(
                &runtime,
                run_market_on(&mut chain.clone(), EMBEDDED_FUNDER, &config, &stop, watch),
            )?;
            served = Some((address, local));
            report
        }
        None => runtime.block_on(run_market(&config, &stop, watch))?,
        Some(name) => {
            let mut chain = args.node.connect(name)?;
            status.set_message(format!("deploying a fresh market on {name}"));
            let deployment = crate::deploy::deploy_market(
                &mut chain,
                &args.node,
                config.graph_params(),
                config.reward_pool(),
            )?;
            bars.println(format!("market {} on {name}", deployment.contract))
                .ok();
            runtime.block_on(run_market_on(
                &mut chain,
                &args.node.key,
                &config,
                &stop,
                watch,
            ))?
        }
    };
    status.finish_and_clear();
    epoch_bar.finish_and_clear();
    if stop.load(Ordering::Relaxed) {
        println!("stopped by Ctrl-C after {} epochs", report.epochs.len());
    }
    print_table(&report);
    write_outputs(&report, &args.out)?;
    if let Some((address, local)) = served
        && !stop.load(Ordering::Relaxed)
    {
        println!("explorer: http://{address}/ shows the final market until Ctrl-C");
        local
            .block_on(&runtime, tokio::signal::ctrl_c())
            .map_err(CliError::io("waiting for Ctrl-C"))?;
    }
    Ok(())
}

fn print_table(report: &MarketReport) {
    println!(
        "{:>3}  {:<9} {:>12} {:>10} {:>10} {:>11} {:>9}",
        "uid", "role", "probe loss", "incentive", "dividends", "stake share", "paid"
    );
    for peer in &report.peers {
        println!(
            "{:>3}  {:<9} {:>12.4} {:>10.4} {:>10.4} {:>11.4} {:>9}",
            peer.uid,
            peer.role,
            peer.probe_loss,
            peer.incentive,
            peer.dividends,
            peer.stake_share,
            peer.paid
        );
    }
    println!(
        "lazy + noisy + cabal share of the last emission: {:.4}\n\
         Spearman(incentive, true quality): {:.3}\n\
         (true quality: held-out loss of a probe on each peer's representations; lower is better)",
        report.idle_share, report.spearman
    );
}

fn write_outputs(report: &MarketReport, out: &std::path::Path) -> Result<(), CliError> {
    let json = serde_json::to_string_pretty(report)?;
    let path = out.join("report.json");
    std::fs::write(&path, json).map_err(CliError::io(format!("writing {}", path.display())))?;
    plots::stake_share(report, &out.join("stake_share.svg"))?;
    plots::loss(report, &out.join("loss.svg"))?;
    println!(
        "wrote {}/report.json, stake_share.svg and loss.svg",
        out.display()
    );
    Ok(())
}
