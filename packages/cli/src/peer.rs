//! `agora peer ...`: the peer of `agora-peer` from the command line.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use agora_peer::Learner;
use agora_peer::corpus::Corpus;
use agora_peer::local::LocalModel;
use agora_peer::quality::bigram_loss;
use std::sync::atomic::AtomicBool;

use agora_peer::market::{MarketConfig, Progress, run_market};
use clap::{Args, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};

use crate::error::{CliError, finish};

#[derive(Debug, Subcommand)]
pub enum PeerCommand {
    /// Train a peer's local model on its shard of the corpus (Debian's
    /// fortunes by default) and save it: `agora peer run` (`model = ...`),
    /// `agora peer market --start-from` and `agora demo --start-from`
    /// start from the file.
    Train(TrainArgs),
    /// Run a market of honest, lazy and noisy peers on this machine: each
    /// serves an axon on loopback, the honest ones learn through each other
    /// and set weights, the embedded chain runs the epochs. Prints each
    /// peer's quality, incentive and pay, then the market's figures.
    Market(MarketArgs),
    /// Run one peer as a daemon, for weeks: it registers and stakes if
    /// needed, serves its axon, and every epoch learns through its
    /// neighbours and sets (or commits and reveals) its row. Checkpoints,
    /// the worth EMA and pending commits live in its data dir; SIGTERM
    /// stops it cleanly. Exit 2 on a bad config, naming the field.
    Run(crate::daemon::RunArgs),
}

#[derive(Debug, Args)]
pub struct TrainArgs {
    /// Which shard of the corpus (0-based).
    #[arg(long, default_value_t = 0)]
    shard: usize,
    /// Into how many shards the corpus is cut.
    #[arg(long, default_value_t = 4)]
    shards: usize,
    /// Training steps (batches of 64).
    #[arg(long, default_value_t = 2000)]
    steps: usize,
    #[command(flatten)]
    corpus: CorpusArgs,
    /// Seed of the initial parameters and of the batches.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Where to write the parameters (safetensors).
    #[arg(long)]
    out: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct MarketArgs {
    /// Epochs to run.
    #[arg(long, default_value_t = 3)]
    epochs: u64,
    /// Gate-and-head steps per honest peer per epoch [default: 120 with
    /// the transformer, 60 with the window model].
    #[arg(long)]
    learn_steps: Option<usize>,
    /// Local training steps of each honest peer, best first, comma-separated
    /// [default: 1500,600,200,20 with the transformer, 2000,600,200,20
    /// with the window model].
    #[arg(long, value_delimiter = ',')]
    honest_steps: Option<Vec<usize>>,
    /// Start the best honest peer from this checkpoint, of the same model
    /// and shape, instead of training it: `agora bench lm --out` for the
    /// transformer, `agora peer train --out` for `--model window`.
    #[arg(long)]
    start_from: Option<PathBuf>,
    #[command(flatten)]
    corpus: CorpusArgs,
    /// Honest peers' axons take gradients (`POST /backward`) and every
    /// honest learner sends them, so what a peer serves learns from its
    /// callers (off by default; README, "Gradients through the network").
    #[arg(long)]
    backward: bool,
    /// The honest peers' gates learn: noisy top-k routing with the
    /// load-balancing losses of Shazeer et al. (README, "The peer's
    /// corpus").
    #[arg(long)]
    learning_gate: bool,
    /// Each honest peer's model trains this many more steps on its shard
    /// every epoch while it serves, so what it serves improves (0: it
    /// stays as trained).
    #[arg(long, default_value_t = 0)]
    local_steps: usize,
    /// Each honest peer's served model learns through the network at this
    /// AdamW step size, at every gate-and-head step (whitepaper §5.3):
    /// its own prediction, corrected by what its head reads in the
    /// neighbours' outputs, learns the next byte.
    #[arg(long, value_name = "LR", value_parser = positive_rate)]
    served_lr: Option<f64>,
    /// What the honest peers serve and learn with: `small` (the byte-level
    /// transformer, 2 layers × 64 wide, context 32, on the fortunes; about
    /// 17 minutes) or `window` (the demo's MLP over an 8-byte window, on
    /// the licence texts; seconds). README, "The peer's corpus".
    #[arg(long, value_enum, default_value_t = PeerModel::Small)]
    model: PeerModel,
    /// Seeds every model, batch and key-drawn route: the same seed gives
    /// the same report, another seed another market of the same shape.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Print the report as JSON: the bigram baseline's held-out loss, and
    /// per peer its role, losses (nats per byte) and incentive.
    #[arg(long)]
    json: bool,
}

/// The text peers train on, shared by the commands that train one.
#[derive(Debug, Args)]
pub struct CorpusArgs {
    /// Train on this text (a file, or every text file of a directory)
    /// instead of the default: Debian's licence texts for `agora demo`
    /// and `agora peer market --model window` (README, "The peer's
    /// corpus"), Debian's fortunes elsewhere.
    #[arg(long, value_name = "PATH")]
    pub corpus: Option<PathBuf>,
}

impl CorpusArgs {
    /// The corpus of a market whose defaults are `defaults`: the one
    /// given, else the market's.
    pub fn market_corpus(&self, defaults: &MarketConfig) -> Option<PathBuf> {
        self.corpus.clone().or_else(|| defaults.corpus.clone())
    }

    /// The corpus, after saying on stderr where it fell back to.
    pub fn corpus(&self) -> Result<Corpus, CliError> {
        let (corpus, warning) =
            Corpus::open(self.corpus.as_deref()).map_err(CliError::io("reading the corpus"))?;
        if let Some(warning) = warning {
            eprintln!("warning: {warning}");
        }
        Ok(corpus)
    }
}

pub fn run(command: PeerCommand) -> ExitCode {
    let result = match command {
        PeerCommand::Train(args) => train(&args),
        PeerCommand::Market(args) => market(&args),
        PeerCommand::Run(args) => crate::daemon::run(&args),
    };
    finish("peer", result)
}

fn train(args: &TrainArgs) -> Result<(), CliError> {
    if args.shards == 0 || args.shard >= args.shards {
        return Err(CliError::Invalid(format!(
            "--shard must be below --shards ({} of {})",
            args.shard, args.shards
        )));
    }
    let corpus = args.corpus.corpus()?;
    let text = corpus.shard(args.shard, args.shards);
    // The market's recipe, so `agora peer market --start-from` continues
    // what it would have trained.
    let market = MarketConfig::quick();
    let model = LocalModel::new(market.shape, args.seed)?.with_learning_rate(market.learning_rate);
    let before = model.evaluate(&corpus.held_out, 4, 256)?;
    let bar = ProgressBar::new(args.steps as u64);
    bar.set_style(
        ProgressStyle::with_template("{bar:40} {pos}/{len} steps  loss {msg}")
            .expect("static template"),
    );
    let chunk = 100;
    let mut done = 0;
    while done < args.steps {
        let steps = chunk.min(args.steps - done);
        let loss = model.train(
            &text,
            steps,
            market.train_batch,
            args.seed * 1_000_000 + done as u64,
        )?;
        done += steps;
        bar.set_position(done as u64);
        bar.set_message(format!("{loss:.3}"));
    }
    bar.finish_and_clear();
    let after = model.evaluate(&corpus.held_out, 4, 256)?;
    let bigram = bigram_loss(&corpus.train, &corpus.held_out);
    println!(
        "shard {} of {} ({} bytes), {} parameters, {} steps: held-out loss {before:.4} -> \
         {after:.4} nats/byte (byte bigram: {bigram:.4}; uniform: 5.5452)",
        args.shard,
        args.shards,
        text.len(),
        model.parameters(),
        args.steps
    );
    save_to(args.out.as_deref(), |path| model.save(path))
}

/// With `out`, writes a model there with `save` and says so (`--out` of
/// `agora peer train` and `agora bench lm`).
pub fn save_to(
    out: Option<&std::path::Path>,
    save: impl FnOnce(&std::path::Path) -> Result<(), agora_peer::ModelError>,
) -> Result<(), CliError> {
    if let Some(out) = out {
        save(out).map_err(|e| CliError::Invalid(format!("writing {}: {e}", out.display())))?;
        println!("saved {}", out.display());
    }
    Ok(())
}

/// A step size: a finite number above zero.
fn positive_rate(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(rate) if rate.is_finite() && rate > 0.0 => Ok(rate),
        _ => Err("must be a positive number".to_string()),
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum PeerModel {
    Window,
    Small,
}

fn market(args: &MarketArgs) -> Result<(), CliError> {
    let defaults = match args.model {
        PeerModel::Window => MarketConfig::quick(),
        PeerModel::Small => MarketConfig::transformer(),
    };
    let honest_steps = args
        .honest_steps
        .clone()
        .unwrap_or_else(|| defaults.honest_steps.clone());
    if honest_steps.len() < 2 {
        return Err(CliError::Invalid(
            "--honest-steps needs at least two peers".to_string(),
        ));
    }
    let config = MarketConfig {
        honest_steps,
        epochs: args.epochs,
        learn_steps: args.learn_steps.unwrap_or(defaults.learn_steps),
        corpus: args.corpus.market_corpus(&defaults),
        start_from: args.start_from.clone(),
        backward: args.backward,
        learning_gate: args.learning_gate,
        local_steps: args.local_steps,
        served_learning_rate: args.served_lr,
        seed: args.seed,
        ..defaults
    };
    let spinner = ProgressBar::new_spinner();
    spinner.enable_steady_tick(Duration::from_millis(120));
    let runtime = tokio::runtime::Runtime::new().map_err(CliError::io("starting the runtime"))?;
    let stop = AtomicBool::new(false);
    let report = runtime.block_on(run_market(&config, &stop, |progress| match progress {
        Progress::Setup(line) => spinner.set_message(line),
        Progress::Validated { epoch, done, of } => spinner.set_message(format!(
            "epoch {epoch}: {done} of {of} honest peers set weights"
        )),
        Progress::Closed(record) => spinner.set_message(format!(
            "epoch {} closed, top peer {}",
            record.epoch, record.top
        )),
    }))?;
    spinner.finish_and_clear();
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
        return Ok(());
    }
    println!(
        "{:>3}  {:<9} {:>11} {:>10} {:>10} {:>9} {:>10} {:>10} {:>10}",
        "uid",
        "role",
        "probe loss",
        "incentive",
        "dividends",
        "paid",
        "alone",
        "network",
        "student"
    );
    let loss = |value: Option<f32>| value.map_or("-".to_string(), |v| format!("{v:.4}"));
    for peer in &report.peers {
        println!(
            "{:>3}  {:<9} {:>11.4} {:>10.4} {:>10.4} {:>9} {:>10} {:>10} {:>10}",
            peer.uid,
            peer.role,
            peer.probe_loss,
            peer.incentive,
            peer.dividends,
            peer.paid,
            loss(peer.alone_loss),
            loss(peer.network_loss),
            loss(peer.student_loss)
        );
    }
    println!(
        "byte bigram, held-out loss: {:.4}\nlazy + noisy share of the last emission: {:.4}\nSpearman(incentive, quality): {:.3}",
        report.bigram_loss, report.idle_share, report.spearman
    );
    if args.backward {
        println!(
            "gradients sent: {} applied, {} refused",
            report.gradients_applied, report.gradients_refused
        );
    }
    Ok(())
}
