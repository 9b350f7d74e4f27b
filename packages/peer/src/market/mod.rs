//! The whole market on one machine: honest peers of different quality, a
//! lazy peer and a noisy peer serve over loopback HTTP; the honest ones
//! stake, learn through each other with sparse gating, value each neighbour
//! and set weights; the embedded chain runs the epochs. The test suite, the
//! `agora peer market` command and the demo run this one scenario.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use agora_client::{Chain, ChainError, EmbeddedChain, key_account};
use agora_market::msg::{Consensus, GraphParams, TEXT};
use serde::Serialize;

use crate::axon::{BackwardConfig, router};
use crate::corpus::Corpus;
use crate::local::{DistillPair, LocalModel, Shape, batch};
use crate::model::Learner;
use crate::quality::{PROBE_STEPS, bigram_loss, probe_loss};
use crate::transformer::{Transformer, TransformerShape};
use crate::validator::private_held_out;
use crate::weights::{RowRules, float, smoothed, weight_row};
use crate::{AxonConfig, Model, Neighbour, PeerKey, Registry, Validator};

pub use crate::adversaries::{Lazy, Noisy};

/// The report's held-out batches (of 256) and their seed (public: this
/// is the project's measurement, not a validator's).
const REPORT_BATCHES: u64 = 16;
const REPORT_SEED: u64 = 1_000_000;

/// Passes of distillation over the weakest peer's kept mixtures (the
/// transformer's student was 26% off its network loss after 4).
const DISTILL_PASSES: usize = 20;
/// The most recent learning batches the student learns from: the quick
/// market's three epochs of 60, and a long demo's last three.
const STUDENT_BATCHES: usize = 180;
/// Windows a batch of the transformer's local training (each of `context`
/// targets; `agora bench lm`'s).
const TRANSFORMER_BATCH: usize = 32;

/// How big a market to run.
#[derive(Clone, Debug)]
pub struct MarketConfig {
    /// The window model's shape (every peer's, unless `transformer`; the
    /// student's, with the served model's context and dim).
    pub shape: Shape,
    /// The honest peers serve and learn with the byte-level transformer
    /// of this shape instead of the window model.
    pub transformer: Option<TransformerShape>,
    /// The corpus (a file or a directory); the fortunes when `None`, with
    /// the licence texts as fallback.
    pub corpus: Option<std::path::PathBuf>,
    /// The best honest peer starts from this checkpoint (`agora peer
    /// train --out`) instead of training.
    pub start_from: Option<std::path::PathBuf>,
    /// Training steps of each honest peer's local model, best first; their
    /// number is the number of honest peers.
    pub honest_steps: Vec<usize>,
    /// The window model's local training: contexts per batch and AdamW's
    /// step size (README, "The market's recipe").
    pub train_batch: usize,
    pub learning_rate: f64,
    /// Whether each honest peer's gate and head learn on all the training
    /// text (every shard) rather than its own shard only. On its own shard
    /// a peer's model already knows what its neighbours could add, so its
    /// head learns to trust itself (README, "The market's recipe").
    pub learn_on_all_text: bool,
    /// Peers that serve random vectors.
    pub lazy: usize,
    /// Peers that serve a good model drowned in noise.
    pub noisy: usize,
    /// Staked peers that serve random vectors and weight only each other.
    pub cabal: usize,
    /// Each noisy, lazy and cabal peer's stake, as a share of an honest
    /// peer's.
    pub cabal_stake_percent: u128,
    pub epochs: u64,
    /// Gate-and-head steps per honest peer per epoch.
    pub learn_steps: usize,
    /// Weight of the newest assessment in each neighbour's worth EMA.
    pub worth_ema: f64,
    pub top_k: usize,
    pub stake: u128,
    pub emission_per_epoch: u128,
    /// Seeds every model's parameters and every batch.
    pub seed: u64,
    /// The peg's ceiling for `k` (docs/SPEC.md §6); 1 keeps `k` at 1.
    pub peg_ceiling: u32,
    /// Rows go by commit and reveal (`reveal_period` 1): each peer reveals
    /// last epoch's commit, then commits this epoch's row.
    pub commit_reveal: bool,
    /// How the contract forms incentive: the paper's sigmoid or the
    /// median (docs/SPEC.md §3b).
    pub consensus: Consensus,
    /// Honest peers' axons take gradients (`POST /backward`) and every
    /// honest learner sends them: what a neighbour serves then learns
    /// from its callers (README, "Gradients through the network").
    pub backward: bool,
    /// The honest peers' gates learn (noisy top-k with Shazeer et al.'s
    /// load-balancing losses) instead of staying as they start.
    pub learning_gate: bool,
    /// Local training steps each honest peer takes on its shard every
    /// epoch, while it serves (0: its model stays as trained).
    pub local_steps: usize,
    /// With a step size, each honest peer's served model learns through
    /// the network at every gate-and-head step (whitepaper §5.3,
    /// [`crate::Validator::set_served_learning`]); `None`: it does not.
    pub served_learning_rate: Option<f64>,
}

impl MarketConfig {
    /// The window model's market, on the licence texts: runs in seconds
    /// (`agora peer market --model window`, the test suite, the demo).
    pub fn quick() -> Self {
        Self {
            shape: Shape {
                context: 8,
                embed: 16,
                hidden: 64,
                dim: 16,
            },
            // The licence texts: on the fortunes the window model alone
            // stays above 0.9 of the bigram (README "The peer's corpus").
            transformer: None,
            corpus: Some(crate::corpus::FALLBACK_DIR.into()),
            start_from: None,
            honest_steps: vec![2000, 600, 200, 20],
            train_batch: crate::local::TRAIN_BATCH,
            learning_rate: crate::local::TRAIN_LEARNING_RATE,
            learn_on_all_text: true,
            lazy: 1,
            noisy: 1,
            cabal: 0,
            cabal_stake_percent: 50,
            epochs: 3,
            learn_steps: 60,
            worth_ema: 0.5,
            top_k: 2,
            stake: 1_000_000_000,
            emission_per_epoch: 1_000_000,
            seed: 0,
            peg_ceiling: 1,
            commit_reveal: false,
            consensus: Consensus::Sigmoid,
            backward: false,
            learning_gate: false,
            local_steps: 0,
            served_learning_rate: None,
        }
    }

    /// The paper's market, `agora peer market`'s default: the honest
    /// peers serve and learn with the byte-level transformer's small shape
    /// on the fortunes (the licence texts where they are absent), 120
    /// gate-and-head steps an epoch (README, "The default market: the
    /// transformer on the fortunes"). About 17 minutes on two cores.
    pub fn transformer() -> Self {
        Self {
            transformer: Some(TransformerShape::SMALL),
            corpus: None,
            honest_steps: vec![1500, 600, 200, 20],
            learn_steps: 120,
            ..Self::quick()
        }
    }
}

/// What the market tells its watcher as it runs.
#[derive(Clone, Debug)]
pub enum Progress {
    /// Setting up: a line to show.
    Setup(String),
    /// An honest peer of `epoch` finished learning and set its weights.
    Validated { epoch: u64, done: usize, of: usize },
    /// An epoch closed on chain.
    Closed(EpochRecord),
}

/// One closed epoch, by uid where a vector.
#[derive(Clone, Debug, Serialize)]
pub struct EpochRecord {
    pub epoch: u64,
    pub loss: f64,
    pub k: u32,
    pub stake_share: Vec<f64>,
    pub incentive: Vec<f64>,
    pub dividends: Vec<f64>,
    pub paid: Vec<u128>,
    /// Role of the peer with the highest incentive.
    pub top: String,
}

#[derive(Clone, Debug, Serialize)]
pub struct PeerSummary {
    pub uid: u16,
    pub role: String,
    /// Held-out loss of a linear probe on its representations (lower is
    /// better).
    pub probe_loss: f32,
    pub incentive: f64,
    pub dividends: f64,
    /// Paid by the last epoch.
    pub paid: u128,
    pub stake_share: f64,
    /// Honest peers: held-out loss (nats per byte) of the local model
    /// alone, and through the neighbours.
    pub alone_loss: Option<f32>,
    pub network_loss: Option<f32>,
    /// The weakest honest peer: held-out loss with its distilled student
    /// standing in for the neighbours (whitepaper §8).
    pub student_loss: Option<f32>,
}

#[derive(Clone, Debug, Serialize)]
pub struct MarketReport {
    pub peers: Vec<PeerSummary>,
    /// Every closed epoch.
    pub epochs: Vec<EpochRecord>,
    /// The graph's parameters.
    pub params: GraphParams,
    /// Lazy, noisy and cabal peers' share of the last epoch's emission.
    pub idle_share: f64,
    /// Spearman correlation of incentive with quality (−probe loss).
    pub spearman: f64,
    /// A byte-bigram model's held-out loss on the same split (nats per
    /// byte): the baseline every model must beat.
    pub bigram_loss: f64,
    /// With [`MarketConfig::backward`]: gradients the honest learners sent
    /// that a neighbour applied, and that it refused (the lazy and noisy
    /// peers take none).
    pub gradients_applied: u64,
    pub gradients_refused: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum MarketError {
    #[error("reading the corpus: {0}")]
    Corpus(#[from] std::io::Error),
    #[error("model: {0}")]
    Model(#[from] candle_core::Error),
    #[error("chain: {0}")]
    Chain(#[from] ChainError),
}

impl MarketConfig {
    /// The TEXT graph's parameters for this market.
    pub fn graph_params(&self) -> GraphParams {
        GraphParams::builder()
            .emission_per_epoch(self.emission_per_epoch)
            .unbonding_period(10)
            .epoch_length(10)
            .peg_ceiling(self.peg_ceiling)
            .commit_reveal(self.commit_reveal)
            .consensus(self.consensus)
            .build()
    }

    /// What the reward pool is funded with: a thousand epochs' emission.
    pub fn reward_pool(&self) -> u128 {
        self.emission_per_epoch * 1000
    }

    /// Tokens each peer's account is given: twice its stake.
    pub fn peer_funds(&self) -> u128 {
        2 * self.stake
    }
}

/// Runs the market on an embedded chain. `progress` hears of each step;
/// once `stop` is set the market stops after the step it is in and reports
/// the epochs closed so far (the caller's Ctrl-C).
pub async fn run_market(
    config: &MarketConfig,
    stop: &AtomicBool,
    progress: impl FnMut(Progress),
) -> Result<MarketReport, MarketError> {
    let mut chain = embedded_market(config)?;
    run_market_on(&mut chain, EMBEDDED_FUNDER, config, stop, progress).await
}

/// An embedded chain with the market of `config` and its reward pool
/// funded, for [`run_market_on`] with [`EMBEDDED_FUNDER`] (what
/// [`run_market`] does; the demo's `--serve` keeps a handle on it).
pub fn embedded_market(config: &MarketConfig) -> Result<EmbeddedChain, MarketError> {
    let params = config.graph_params();
    let mut chain = EmbeddedChain::new("uagora", EMBEDDED_FUNDER, u128::from(u64::MAX), params)?;
    chain.fund_rewards(EMBEDDED_FUNDER, TEXT, config.reward_pool())?;
    Ok(chain)
}

/// The embedded chain's funded account, which runs the epochs.
pub const EMBEDDED_FUNDER: &str = "admin";

/// Runs the market on `chain`, whose market contract has
/// [`MarketConfig::graph_params`] and a funded reward pool. `funder` pays
/// each peer's account [`MarketConfig::peer_funds`] and sends the epochs.
pub async fn run_market_on<C: Chain>(
    chain: &mut C,
    funder: &str,
    config: &MarketConfig,
    stop: &AtomicBool,
    mut progress: impl FnMut(Progress),
) -> Result<MarketReport, MarketError> {
    let shape = config.shape;
    let seed = config.seed;
    let mut say = |line: String| progress(Progress::Setup(line));
    let (corpus, warning) = Corpus::open(config.corpus.as_deref())?;
    if let Some(warning) = warning {
        say(format!("warning: {warning}"));
    }
    let count = config.honest_steps.len();
    let shards: Vec<Vec<u8>> = (0..count).map(|i| corpus.shard(i, count)).collect();
    let bigram_loss = bigram_loss(&corpus.train, &corpus.held_out);
    let mut honest: Vec<Arc<dyn Learner>> = Vec::new();
    for (index, steps) in config.honest_steps.iter().enumerate() {
        let start_from = config.start_from.as_deref().filter(|_| index == 0);
        match start_from {
            Some(path) => say(format!("honest-0 starts from {}", path.display())),
            None => say(format!(
                "training honest-{index}: {steps} steps on shard {index} of {count}"
            )),
        }
        let model_seed = seed * 1000 + index as u64 + 1;
        let train_seed = seed * 1_000_000 + 100 * index as u64;
        let (mut model, batch_size): (Box<dyn Learner>, usize) = match config.transformer {
            Some(transformer) => (
                Box::new(Transformer::new(transformer, model_seed)?),
                TRANSFORMER_BATCH,
            ),
            None => (
                Box::new(
                    LocalModel::new(shape, model_seed)?.with_learning_rate(config.learning_rate),
                ),
                config.train_batch,
            ),
        };
        match start_from {
            Some(path) => model
                .load(path)
                .map_err(|e| candle_core::Error::Msg(format!("loading {}: {e}", path.display())))?,
            None => {
                model.train(&shards[index], *steps, batch_size, train_seed)?;
            }
        }
        honest.push(Arc::from(model));
    }
    // What goes on the wire: every peer's context and dim.
    let (context, dim) = (honest[0].context(), honest[0].dim());
    let mut models: Vec<Arc<dyn Model>> = honest
        .iter()
        .map(|m| Arc::clone(m) as Arc<dyn Model>)
        .collect();
    let mut roles: Vec<String> = (0..count).map(|i| format!("honest-{i}")).collect();
    // The best model there is, drowned in noise of its range on this
    // sample of its shard.
    let (sample, _) = batch(&shards[0], context, 256, seed * 1000 + 650);
    for i in 0..config.noisy {
        let inner = Arc::clone(&honest[0]) as Arc<dyn Model>;
        let noisy = Noisy::new(inner, &sample, seed * 1000 + 600 + i as u64)?;
        models.push(Arc::new(noisy));
        roles.push(format!("noisy-{i}"));
    }
    for i in 0..config.lazy {
        models.push(Arc::new(Lazy::new(
            context,
            dim,
            seed * 1000 + 700 + i as u64,
        )));
        roles.push(format!("lazy-{i}"));
    }
    let cabal_start = models.len();
    for i in 0..config.cabal {
        models.push(Arc::new(Lazy::new(
            context,
            dim,
            seed * 1000 + 800 + i as u64,
        )));
        roles.push(format!("cabal-{i}"));
    }
    let keys: Vec<PeerKey> = (0..models.len())
        .map(|i| PeerKey::from_secret(&[i as u8 + 1; 32]).expect("a valid scalar"))
        .collect();

    say("registering every peer and starting its axon".to_string());
    let params = chain.params(TEXT)?;
    let registry = Registry::new(chain);
    // Peers here call each other as fast as the CPU allows: a per-caller
    // rate limit would answer some calls with 429 and make the run depend
    // on timing.
    let mut axon_config = AxonConfig::new(TEXT);
    axon_config.requests_per_second = std::num::NonZeroU32::MAX;
    let mut endpoints = Vec::new();
    for (uid, (key, model)) in keys.iter().zip(&models).enumerate() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let endpoint = format!("http://{}", listener.local_addr()?);
        let mut axon_config = axon_config.clone();
        if config.backward && uid < count {
            axon_config.backward = Some(BackwardConfig {
                requests_per_second: std::num::NonZeroU32::MAX,
                ..BackwardConfig::default()
            });
        }
        let app = router(Arc::clone(model), registry.clone(), axon_config);
        tokio::spawn(async move { axum::serve(listener, app).await });
        let name = key_account(&key.public_key());
        chain.add_key(&name, key.signing_key())?;
        chain.transfer(funder, &name, config.peer_funds())?;
        chain.register(&name, TEXT, &endpoint, 0)?;
        endpoints.push(endpoint);
    }
    registry.refresh(chain, TEXT)?;
    let height = chain.height()?;
    chain.reach_height(height + 1)?;
    for key in &keys[..count] {
        chain.stake(&key_account(&key.public_key()), TEXT, config.stake)?;
    }
    // Everyone else stakes too, less: the noisy and lazy peers never
    // validate, the cabal validates only itself.
    let small_stake = (config.stake * config.cabal_stake_percent / 100).max(1);
    for key in &keys[count..] {
        chain.stake(&key_account(&key.public_key()), TEXT, small_stake)?;
    }

    let mut validators = Vec::new();
    for (v, local) in honest.iter().enumerate() {
        let neighbours = (0..models.len())
            .filter(|uid| *uid != v)
            .map(|uid| Neighbour {
                uid: uid as u16,
                endpoint: endpoints[uid].clone(),
            })
            .collect();
        let mut validator = Validator::new(
            v as u16,
            Arc::clone(local),
            keys[v].clone(),
            neighbours,
            config.top_k,
            Duration::from_secs(5),
        )?;
        validator.set_send_gradients(config.backward);
        validator.set_served_learning(config.served_learning_rate)?;
        validator
            .gated_head_mut()
            .set_learning(config.learning_gate);
        validators.push(validator);
    }
    // Each validator's own share of the held-out text, and its worth EMA
    // per neighbour (whitepaper §9).
    let private: Vec<Vec<u8>> = keys[..count]
        .iter()
        .map(|key| private_held_out(&corpus, key))
        .collect();
    let mut worth_ema: Vec<BTreeMap<u16, f64>> = vec![BTreeMap::new(); count];
    // Per uid, the row committed last epoch and its salt (commit-reveal).
    let mut committed: Vec<Option<Commit>> = vec![None; models.len()];
    let mut pairs: Vec<DistillPair> = Vec::new();
    let mut epochs = Vec::new();
    for epoch in 0..config.epochs {
        if stop.load(Ordering::Relaxed) {
            break;
        }
        for (v, validator) in validators.iter_mut().enumerate() {
            if stop.load(Ordering::Relaxed) {
                break;
            }
            // The weakest peer keeps the mixtures of every epoch (up to
            // `STUDENT_BATCHES`) for its student (whitepaper §8: it learns
            // the network as it goes).
            let keep = (v + 1 == count).then_some(&mut pairs);
            let learn_seed = seed * 1_000_000 + epoch * 10_000;
            if config.local_steps > 0 {
                let train_seed = seed * 1_000_000 + 500_000 + epoch * 10_000 + 1000 * v as u64;
                validator.keep_training(&shards[v], config.local_steps, train_seed)?;
            }
            let text = if config.learn_on_all_text {
                &corpus.train
            } else {
                &shards[v]
            };
            validator
                .learn(text, config.learn_steps, learn_seed, keep)
                .await?;
            let old = pairs.len().saturating_sub(STUDENT_BATCHES);
            pairs.drain(..old);
            let seed = validator.private_seed(epoch);
            let assessment = validator.assess(&private[v], seed).await?;
            for (uid, value) in assessment.worth {
                let previous = worth_ema[v].get(&uid).copied();
                worth_ema[v].insert(uid, smoothed(previous, value, config.worth_ema));
            }
            let rules = RowRules::of_graph(chain, TEXT, v as u16)?;
            let values: Vec<(u16, f64)> = worth_ema[v].iter().map(|(u, w)| (*u, *w)).collect();
            let row = weight_row(&values, &rules);
            let name = key_account(&keys[v].public_key());
            send_row(chain, &name, v as u16, row, &mut committed[v])?;
            progress(Progress::Validated {
                epoch,
                done: v + 1,
                of: count,
            });
        }
        if stop.load(Ordering::Relaxed) {
            break;
        }
        // The cabal weights only itself.
        for (index, key) in keys.iter().enumerate().skip(cabal_start) {
            let worth: Vec<(u16, f64)> = (cabal_start..models.len())
                .map(|uid| (uid as u16, 1.0))
                .collect();
            let rules = RowRules::of_graph(chain, TEXT, index as u16)?;
            if rules.peers > 1 && config.cabal > 1 {
                let row = weight_row(&worth, &rules);
                let name = key_account(&key.public_key());
                send_row(chain, &name, index as u16, row, &mut committed[index])?;
            }
        }
        chain.advance_to_due(TEXT)?;
        chain.epoch(funder, TEXT, None)?;
        let metagraph = chain.metagraph(TEXT)?;
        let state = chain.epoch_state(TEXT)?;
        let total = state.total_stake.u128().max(1) as f64;
        let top = metagraph
            .iter()
            .max_by(|a, b| a.incentive.cmp(&b.incentive).then(b.uid.cmp(&a.uid)))
            .map_or(0, |p| usize::from(p.uid));
        let record = EpochRecord {
            epoch,
            loss: float(&state.last_loss),
            k: state.k,
            stake_share: metagraph
                .iter()
                .map(|p| p.stake.u128() as f64 / total)
                .collect(),
            incentive: metagraph.iter().map(|p| float(&p.incentive)).collect(),
            dividends: metagraph.iter().map(|p| float(&p.dividends)).collect(),
            paid: metagraph.iter().map(|p| p.last_paid.u128()).collect(),
            top: roles[top].clone(),
        };
        progress(Progress::Closed(record.clone()));
        epochs.push(record);
    }

    let mut say = |line: String| progress(Progress::Setup(line));
    let student = if pairs.is_empty() {
        None
    } else {
        say("distilling the weakest honest peer's mixture into a student".to_string());
        // The student is the honest peers' kind of model: a window model
        // of the served context and dim, or a transformer of their shape.
        let student: Box<dyn Learner> = match config.transformer {
            Some(transformer) => Box::new(Transformer::new(transformer, seed * 1000 + 42)?),
            None => {
                let student_shape = Shape {
                    context,
                    dim,
                    ..shape
                };
                Box::new(LocalModel::new(student_shape, seed * 1000 + 42)?)
            }
        };
        validators[count - 1].distill(student.as_ref(), &pairs, DISTILL_PASSES)?;
        Some(student)
    };

    // The report's losses: every honest peer alone and through the
    // network, and the weakest one's student standing in for its
    // neighbours, on the whole held-out split, the batches the same for
    // all.
    say("measuring each honest peer on the held-out text".to_string());
    let mut measured = Vec::with_capacity(count);
    for (v, validator) in validators.iter().enumerate() {
        let student = student.as_deref().filter(|_| v + 1 == count);
        measured.push(
            validator
                .measure(&corpus.held_out, REPORT_BATCHES, REPORT_SEED, student)
                .await?,
        );
    }
    say("measuring each peer's quality with a probe".to_string());
    let metagraph = chain.metagraph(TEXT)?;
    let total_stake = chain.epoch_state(TEXT)?.total_stake.u128().max(1) as f64;
    let mut peers = Vec::new();
    for (uid, model) in models.iter().enumerate() {
        let info = &metagraph[uid];
        let measured = measured.get(uid);
        peers.push(PeerSummary {
            uid: uid as u16,
            role: roles[uid].clone(),
            probe_loss: probe_loss(model.as_ref(), &shards[0], &corpus.held_out, PROBE_STEPS)?,
            incentive: float(&info.incentive),
            dividends: float(&info.dividends),
            paid: info.last_paid.u128(),
            stake_share: info.stake.u128() as f64 / total_stake,
            alone_loss: measured.map(|m| m.alone),
            network_loss: measured.map(|m| m.network),
            student_loss: measured.and_then(|m| m.student),
        });
    }
    let (gradients_applied, gradients_refused) = validators
        .iter()
        .map(Validator::gradients_sent)
        .fold((0, 0), |(a, r), (applied, refused)| {
            (a + applied, r + refused)
        });
    let total: u128 = peers.iter().map(|p| p.paid).sum();
    let idle: u128 = peers[count..].iter().map(|p| p.paid).sum();
    let incentive: Vec<f64> = peers.iter().map(|p| p.incentive).collect();
    let quality: Vec<f64> = peers.iter().map(|p| -f64::from(p.probe_loss)).collect();
    Ok(MarketReport {
        idle_share: if total == 0 {
            0.0
        } else {
            idle as f64 / total as f64
        },
        spearman: spearman(&incentive, &quality),
        bigram_loss,
        gradients_applied,
        gradients_refused,
        peers,
        epochs,
        params,
    })
}

/// A committed row and its salt.
type Commit = (Vec<(u16, u16)>, Vec<u8>);

/// Sends a row the way the graph takes it: with `set_weights`, or, when
/// the graph has commit-reveal on, by revealing last epoch's commit (kept
/// in `committed`) and committing this one.
fn send_row(
    chain: &mut impl Chain,
    name: &str,
    uid: u16,
    row: Vec<(u16, u16)>,
    committed: &mut Option<Commit>,
) -> Result<(), MarketError> {
    if !chain.params(TEXT)?.commit_reveal {
        return Ok(chain.set_weights(name, TEXT, &row)?);
    }
    if let Some((previous, salt)) = committed.take() {
        chain.reveal_weights(name, TEXT, &previous, &salt)?;
    }
    let salt = agora_client::commit_salt();
    let hash = agora_market::execute::commit::commit_hash(uid, &row, &salt);
    chain.commit_weights(name, TEXT, hash)?;
    *committed = Some((row, salt));
    Ok(())
}

/// Spearman's rank correlation (ties share their mean rank).
pub fn spearman(a: &[f64], b: &[f64]) -> f64 {
    fn ranks(values: &[f64]) -> Vec<f64> {
        let mut order: Vec<usize> = (0..values.len()).collect();
        order.sort_by(|x, y| values[*x].total_cmp(&values[*y]));
        let mut ranks = vec![0.0; values.len()];
        let mut i = 0;
        while i < order.len() {
            let mut j = i;
            while j + 1 < order.len() && values[order[j + 1]] == values[order[i]] {
                j += 1;
            }
            for k in &order[i..=j] {
                ranks[*k] = (i + j) as f64 / 2.0;
            }
            i = j + 1;
        }
        ranks
    }
    let (ra, rb) = (ranks(a), ranks(b));
    let mean = (a.len() as f64 - 1.0) / 2.0;
    let cov: f64 = ra
        .iter()
        .zip(&rb)
        .map(|(x, y)| (x - mean) * (y - mean))
        .sum();
    let var_a: f64 = ra.iter().map(|x| (x - mean).powi(2)).sum();
    let var_b: f64 = rb.iter().map(|y| (y - mean).powi(2)).sum();
    if var_a == 0.0 || var_b == 0.0 {
        return 0.0;
    }
    cov / (var_a * var_b).sqrt()
}
