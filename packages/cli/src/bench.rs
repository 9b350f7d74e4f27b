//! `agora bench`: measurements printed as a table (or JSON): `copier`, a
//! story of the market; `axon`, how fast a peer answers.

use std::io::Write as _;
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use agora_client::copier::{self, CopierCase, CopierRow, Span};
use agora_market::msg::Consensus;
use clap::{Args, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};

use agora_peer::local::LocalModel;
use agora_peer::market::MarketConfig;
use agora_peer::quality::bigram_loss;
use agora_peer::speed;
use agora_peer::transformer::{Transformer, TransformerShape};
use agora_peer::{Learner, Model};

use crate::demo::ConsensusArg;
use crate::error::{CliError, finish};
use crate::peer::CorpusArgs;

#[derive(Debug, Subcommand)]
pub enum BenchCommand {
    /// Does copying the visible consensus pay? G per consensus mode,
    /// commit-reveal setting, bond decay and drift.
    ///
    /// Runs the copier story on the embedded chain (four servers whose quality drifts in a wave, four
    /// honest validators with their own noise, one copier of the visible
    /// consensus) and prints G, the copier's dividends per stake over the
    /// honest median's, averaged over epochs FROM..EPOCHS, for both
    /// consensus modes × commit-reveal off / on with reveal period 1 and 3
    /// × bond decay 0 and 0.1 × drift periods 8 and 32. G below 1: copying
    /// loses to honest work.
    Copier(CopierArgs),
    /// How fast an axon answers: requests per second and p50 / p99
    /// latency of signed forward requests over loopback HTTP, for one and
    /// for four callers at once, to an axon serving the demo's model.
    Axon(AxonArgs),
    /// Train the byte-level transformer that is to become the peer's model
    /// (issue 15) on shard 0 of 4 of the corpus, and print its held-out
    /// loss against the byte-bigram baseline every `--every` steps, with
    /// the time taken.
    Lm(LmArgs),
}

#[derive(Debug, Args)]
pub struct LmArgs {
    /// `small` (2 layers × 64 wide × 4 heads, context 32) or `release`
    /// (4 layers × 128 wide × 4 heads, context 64).
    #[arg(long, value_enum, default_value_t = LmShape::Small)]
    shape: LmShape,
    /// Training steps (batches of 32 windows of context + 1 bytes; every
    /// position is a target).
    #[arg(long, default_value_t = 600)]
    steps: usize,
    /// A row every this many steps.
    #[arg(long, default_value_t = 100)]
    every: usize,
    /// Seed of the initial parameters and the batches.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    #[command(flatten)]
    corpus: CorpusArgs,
    /// Save the trained parameters (safetensors) here.
    #[arg(long)]
    out: Option<std::path::PathBuf>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum AxonModel {
    Demo,
    Small,
    Release,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum LmShape {
    Small,
    Release,
}

#[derive(Debug, Args)]
pub struct AxonArgs {
    /// Inputs per request.
    #[arg(long, default_value_t = 64)]
    batch: usize,
    /// Requests each caller sends, one after another.
    #[arg(long, default_value_t = 2000)]
    requests: usize,
    /// What the axon serves: `demo` (the market's model), or the
    /// transformer in its `small` or `release` shape (`agora bench lm`).
    #[arg(long, value_enum, default_value_t = AxonModel::Demo)]
    model: AxonModel,
    /// Callers at once, one measurement each.
    #[arg(long, value_delimiter = ',', default_values_t = [1, 4])]
    callers: Vec<usize>,
    /// Ask for every position's hidden state (`POST /hidden`, f16,
    /// `[batch, context, dim]`) instead of one representation per input;
    /// the transformer's models only.
    #[arg(long)]
    hidden: bool,
    /// One JSON array of rows instead of a table.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Args)]
pub struct CopierArgs {
    /// One JSON array of objects (consensus, commit_reveal, reveal_period,
    /// bond_decay, drift_period, g; decimals as strings) instead of a table.
    #[arg(long)]
    json: bool,
    /// Epochs per case.
    #[arg(long, default_value_t = Span::BENCH.epochs)]
    epochs: u64,
    /// First epoch averaged (earlier ones let bonds build up).
    #[arg(long, default_value_t = Span::BENCH.from)]
    from: u64,
    /// Only this consensus mode.
    #[arg(long, value_enum)]
    consensus: Option<ConsensusArg>,
    /// Only this drift period (epochs).
    #[arg(long)]
    drift_period: Option<u64>,
    /// Cases run at once (default: the machine's cores).
    #[arg(long)]
    jobs: Option<usize>,
}

pub fn run(command: BenchCommand) -> ExitCode {
    match command {
        BenchCommand::Copier(args) => finish("bench copier", copier_bench(&args)),
        BenchCommand::Axon(args) => finish("bench axon", axon_bench(&args)),
        BenchCommand::Lm(args) => finish("bench lm", lm_bench(&args)),
    }
}

fn axon_bench(args: &AxonArgs) -> Result<(), CliError> {
    if args.batch == 0 || args.requests == 0 || args.callers.contains(&0) {
        return Err(CliError::Invalid(
            "--batch, --requests and every --callers must be at least 1".to_string(),
        ));
    }
    if args.callers.iter().any(|c| *c > 200) {
        return Err(CliError::Invalid("--callers: at most 200".to_string()));
    }
    if args.hidden && args.model == AxonModel::Demo {
        return Err(CliError::Invalid(
            "--hidden: the demo's model reads a window into one vector; use --model small or \
             release"
                .to_string(),
        ));
    }
    let corpus = CorpusArgs { corpus: None }.corpus()?;
    let shape = MarketConfig::quick().shape;
    let (model, description): (Arc<dyn Model>, String) = match args.model {
        AxonModel::Demo => (
            Arc::new(LocalModel::new(shape, 1)?),
            format!(
                "model: context {}, embed {}, hidden {}, dim {} (the demo's)",
                shape.context, shape.embed, shape.hidden, shape.dim
            ),
        ),
        AxonModel::Small | AxonModel::Release => {
            let shape = match args.model {
                AxonModel::Small => TransformerShape::SMALL,
                _ => TransformerShape::RELEASE,
            };
            let model = Transformer::new(shape, 1)?;
            let description = format!(
                "model: the transformer, {:?} shape (context {}, dim {}, {} layers, {} heads, {} \
                 parameters)",
                args.model,
                shape.context,
                shape.dim,
                shape.layers,
                shape.heads,
                model.parameters()
            );
            (Arc::new(model), description)
        }
    };
    let runtime = tokio::runtime::Runtime::new().map_err(CliError::io("starting the runtime"))?;
    let rows = runtime
        .block_on(speed::measure(
            model,
            args.batch,
            args.requests,
            &args.callers,
            &corpus.held_out,
            args.hidden,
        ))
        .map_err(|e| CliError::Invalid(format!("measuring: {e}")))?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&rows)?);
        return Ok(());
    }
    println!("{description}");
    if args.hidden {
        println!("route: POST /hidden, every position's hidden state, f16 on the wire");
    }
    println!("| callers | batch | requests | failed | requests/s |  p50 ms |  p99 ms |");
    println!("|---------|-------|----------|--------|------------|---------|---------|");
    for row in &rows {
        println!(
            "| {:>7} | {:>5} | {:>8} | {:>6} | {:>10.0} | {:>7.2} | {:>7.2} |",
            row.callers,
            row.batch,
            row.requests,
            row.failed,
            row.requests_per_second,
            row.p50_ms,
            row.p99_ms
        );
    }
    Ok(())
}

fn lm_bench(args: &LmArgs) -> Result<(), CliError> {
    if args.steps == 0 || args.every == 0 {
        return Err(CliError::Invalid(
            "--steps and --every must be at least 1".to_string(),
        ));
    }
    let corpus = args.corpus.corpus()?;
    let shape = match args.shape {
        LmShape::Small => TransformerShape::SMALL,
        LmShape::Release => TransformerShape::RELEASE,
    };
    let shard = corpus.shard(0, 4);
    let bigram = bigram_loss(&corpus.train, &corpus.held_out);
    let model = Transformer::new(shape, args.seed)?;
    println!(
        "{:?} shape: context {}, dim {}, {} layers, {} heads, {} parameters; shard 0 of 4 of {} \
         ({} bytes); byte bigram held-out loss {bigram:.4} nats/byte",
        args.shape,
        shape.context,
        shape.dim,
        shape.layers,
        shape.heads,
        model.parameters(),
        corpus.source.display(),
        shard.len()
    );
    println!("|  steps | seconds | train loss | held-out loss | / bigram |");
    println!("|--------|---------|------------|---------------|----------|");
    let bar = ProgressBar::new(args.steps as u64);
    let started = Instant::now();
    let mut done = 0;
    while done < args.steps {
        let steps = args.every.min(args.steps - done);
        let loss = model.train(&shard, steps, 32, args.seed * 1_000_000 + done as u64)?;
        done += steps;
        bar.set_position(done as u64);
        let seconds = started.elapsed().as_secs_f64();
        let held_out = model.evaluate(&corpus.held_out, 4, 256)?;
        bar.suspend(|| {
            println!(
                "| {done:>6} | {seconds:>7.1} | {loss:>10.4} | {held_out:>13.4} | {:>8.3} |",
                f64::from(held_out) / bigram
            )
        });
    }
    bar.finish_and_clear();
    crate::peer::save_to(args.out.as_deref(), |path| model.save(path))
}

fn copier_bench(args: &CopierArgs) -> Result<(), CliError> {
    if args.epochs == 0 || args.from >= args.epochs {
        return Err(CliError::Invalid(format!(
            "--from {} must be below --epochs {} (G averages epochs from..epochs)",
            args.from, args.epochs
        )));
    }
    let cases: Vec<CopierCase> = copier::bench_cases()
        .into_iter()
        .filter(|case| {
            args.consensus
                .is_none_or(|mode| case.consensus == mode.into())
        })
        .filter(|case| args.drift_period.is_none_or(|p| case.drift_period == p))
        .collect();
    if cases.is_empty() {
        return Err(CliError::Invalid(
            "no case matches: --drift-period is 8 or 32".to_string(),
        ));
    }
    let span = Span {
        epochs: args.epochs,
        from: args.from,
    };
    let rows = run_cases(&cases, span, args.jobs)?;
    let text = if args.json {
        let mut json = serde_json::to_string_pretty(&rows)?;
        json.push('\n');
        json
    } else {
        table(&rows, span)
    };
    let _ = std::io::stdout().lock().write_all(text.as_bytes());
    Ok(())
}

/// Runs the cases on `jobs` threads, each on its own embedded chain, with
/// one progress bar over every case's epochs; rows come back in case order.
fn run_cases(
    cases: &[CopierCase],
    span: Span,
    jobs: Option<usize>,
) -> Result<Vec<CopierRow>, CliError> {
    let jobs = jobs
        .or_else(|| std::thread::available_parallelism().ok().map(|n| n.get()))
        .unwrap_or(1)
        .clamp(1, cases.len());
    let bar = ProgressBar::new(cases.len() as u64 * span.epochs);
    bar.set_style(
        ProgressStyle::with_template("copier {bar:30} {pos}/{len} epochs ({eta} left)")
            .expect("static template"),
    );
    let next = Mutex::new(0usize);
    let results: Mutex<Vec<Option<Result<CopierRow, agora_client::ChainError>>>> =
        Mutex::new(vec![None; cases.len()]);
    std::thread::scope(|scope| {
        for _ in 0..jobs {
            scope.spawn(|| {
                loop {
                    let index = {
                        let mut next = next.lock().unwrap_or_else(|e| e.into_inner());
                        let index = *next;
                        *next += 1;
                        index
                    };
                    let Some(case) = cases.get(index) else { break };
                    let row = copier::run_embedded(case, span, |_| bar.inc(1));
                    results.lock().unwrap_or_else(|e| e.into_inner())[index] = Some(row);
                }
            });
        }
    });
    bar.finish_and_clear();
    results
        .into_inner()
        .unwrap_or_else(|e| e.into_inner())
        .into_iter()
        .map(|row| {
            row.unwrap_or_else(|| Err(agora_client::ChainError::Query("case not run".into())))
                .map_err(CliError::from)
        })
        .collect()
}

fn table(rows: &[CopierRow], span: Span) -> String {
    let mut out = format!(
        "G = copier's dividends per stake / the honest median's, epochs {}..{}\n\n\
         | consensus | commit-reveal | reveal period | bond decay | drift period |      G |\n\
         |-----------|---------------|---------------|------------|--------------|--------|\n",
        span.from, span.epochs
    );
    for row in rows {
        let case = row.case;
        out += &format!(
            "| {:<9} | {:<13} | {:>13} | {:>10} | {:>12} | {:>6.3} |\n",
            match case.consensus {
                Consensus::Sigmoid => "sigmoid",
                Consensus::Median => "median",
            },
            if case.commit_reveal { "on" } else { "off" },
            if case.commit_reveal {
                case.reveal_period.to_string()
            } else {
                "-".to_string()
            },
            case.bond_decay,
            case.drift_period,
            row.g,
        );
    }
    out
}
