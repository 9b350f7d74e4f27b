//! One peer's state between epochs, and what it does in each.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use agora_client::{Chain, ChainError};
use agora_market::execute::commit::commit_hash;
use agora_market::msg::PeerInfo;
use tracing::{info, warn};

use super::store::{GateNeighbours, Pending, Store, Worth};
use super::{DaemonError, Identity, PeerConfig, Served, io};
use crate::corpus::Corpus;
use crate::local::{DistillPair, LocalModel, batch};
use crate::validator::private_held_out;
use crate::weights::{RowRules, float, smoothed, weight_row};
use crate::{Learner, Neighbour, Registry, Validator};

/// Student passes over the epoch's distillation pairs.
const DISTILL_PASSES: usize = 2;

pub(super) struct Peer {
    identity: Identity,
    config: PeerConfig,
    store: Store,
    corpus: Arc<Corpus>,
    /// This peer's shard of the corpus's training text.
    shard: Arc<Vec<u8>>,
    /// Its own share of the held-out text, on which it values neighbours
    /// (drawn with its key, once).
    private_held_out: Arc<Vec<u8>>,
    local: Arc<LocalModel>,
    student: LocalModel,
    /// A copy of the student as last distilled: it answers for a
    /// neighbour whose call fails while learning (whitepaper §8), while
    /// the student itself keeps learning.
    stand_in: Option<Served>,
    /// The validator, and the neighbours (uid, address) its gate is for.
    validator: Option<(GateNeighbours, Validator)>,
    worth: BTreeMap<u16, Worth>,
    address: String,
}

impl Peer {
    /// Opens the data dir; loads the model, or trains and saves it.
    pub(super) fn start(
        chain: &mut impl Chain,
        identity: Identity,
        config: &PeerConfig,
    ) -> Result<Self, DaemonError> {
        let store = Store::open(&config.data_dir)?;
        let (corpus, warning) =
            Corpus::open(config.corpus.as_deref()).map_err(io("reading the corpus"))?;
        if let Some(warning) = warning {
            tracing::warn!("{warning}");
        }
        let shard = Arc::new(corpus.shard(config.shard, config.shards));
        let private_held_out = Arc::new(private_held_out(&corpus, &identity.key));
        let shape = config.shape();
        let mut model = LocalModel::new(shape, config.seed)?
            .with_learning_rate(crate::local::TRAIN_LEARNING_RATE);
        if store.restore("model.safetensors", |path| model.load(path))? {
            info!(path = %store.path("model.safetensors").display(), "loaded the model checkpoint");
        } else if let Some(start) = &config.model {
            model
                .load(start)
                .map_err(|source| super::StoreError::Model {
                    path: start.clone(),
                    source,
                })?;
            store.checkpoint("model.safetensors", |path| model.save(path))?;
            info!(path = %start.display(), "started from the configured model");
        } else {
            info!(
                steps = config.train_steps,
                "training the local model (no checkpoint yet)"
            );
            let loss = model.train(
                &shard,
                config.train_steps,
                crate::local::TRAIN_BATCH,
                config.seed,
            )?;
            store.checkpoint("model.safetensors", |path| model.save(path))?;
            info!(loss, "trained and saved the model checkpoint");
        }
        let mut student = LocalModel::new(shape, config.seed.wrapping_add(1))?;
        let mut stand_in = None;
        if store.restore("student.safetensors", |path| student.load(path))? {
            info!("loaded the student checkpoint");
            stand_in = Some(Arc::new(student.duplicate()?) as Served);
        }
        let worth = store.worth()?;
        let address = chain.address(&identity.name)?;
        Ok(Self {
            identity,
            config: config.clone(),
            store,
            corpus: Arc::new(corpus),
            shard,
            private_held_out,
            local: Arc::new(model),
            student,
            stand_in,
            validator: None,
            worth,
            address,
        })
    }

    pub(super) fn model(&self) -> Served {
        Arc::clone(&self.local) as Served
    }

    fn me(&self, peers: &[PeerInfo]) -> Option<PeerInfo> {
        peers
            .iter()
            .find(|peer| peer.address.as_str() == self.address)
            .cloned()
    }

    /// Registers if needed (or moves its endpoint), and tops its stake up
    /// to the configured amount. Returns its uid.
    pub(super) fn join(
        &mut self,
        chain: &mut impl Chain,
        registry: &Registry,
    ) -> Result<u16, DaemonError> {
        let graph = self.config.graph.clone();
        let name = self.identity.name.clone();
        let endpoint = self.config.endpoint();
        let peers = chain.metagraph(&graph)?;
        let me = match self.me(&peers) {
            Some(me) => {
                if me.endpoint != endpoint {
                    chain.serve(&name, &graph, &endpoint)?;
                    info!(uid = me.uid, %endpoint, "moved the registered endpoint");
                }
                me
            }
            None => {
                let fee = chain.params(&graph)?.registration_fee.u128();
                let uid = chain.register(&name, &graph, &endpoint, fee)?;
                info!(uid, %graph, %endpoint, "registered");
                chain
                    .metagraph(&graph)?
                    .into_iter()
                    .find(|peer| peer.uid == uid)
                    .ok_or_else(|| ChainError::Query(format!("uid {uid} not in the metagraph")))?
            }
        };
        let bonded = me.stake.u128();
        let wanted = u128::from(self.config.stake);
        if bonded < wanted {
            let top_up = wanted - bonded;
            match chain.stake(&name, &graph, top_up) {
                Ok(()) => info!(amount = top_up, "staked"),
                Err(ChainError::Refused(reason)) => warn!(%reason, "staking was refused"),
                Err(error) => return Err(error.into()),
            }
        }
        registry.refresh(chain, &graph)?;
        Ok(me.uid)
    }

    /// Reveals every pending commit whose window (`period` epochs after
    /// its commit) has come; one too early stays, one the contract no
    /// longer takes is dropped (logged). The file is written once, if
    /// anything left it.
    fn reveal_due(
        &mut self,
        chain: &mut impl Chain,
        epoch: u64,
        period: u64,
    ) -> Result<(), DaemonError> {
        let all = self.store.pending()?;
        let count = all.len();
        let mut kept = Vec::new();
        let mut failed = None;
        let mut waiting = all.into_iter();
        for pending in waiting.by_ref() {
            if pending.epoch + period > epoch {
                kept.push(pending);
                continue;
            }
            let salt = hex::decode(&pending.salt).unwrap_or_default();
            match chain.reveal_weights(&self.identity.name, &pending.graph, &pending.row, &salt) {
                Ok(()) => info!(
                    committed_at = pending.epoch,
                    entries = pending.row.len(),
                    "revealed"
                ),
                Err(ChainError::Refused(reason)) if reason.contains("too early") => {
                    kept.push(pending);
                }
                Err(ChainError::Refused(reason)) => {
                    warn!(%reason, committed_at = pending.epoch, "dropped a commit the contract no longer takes");
                }
                Err(error) => {
                    // Not reached the chain: this one and the rest wait
                    // for the next try.
                    kept.push(pending);
                    failed = Some(error);
                    break;
                }
            }
        }
        kept.extend(waiting);
        if kept.len() != count {
            self.store.write("pending.json", &kept)?;
        }
        failed.map_or(Ok(()), |error| Err(error.into()))
    }

    /// The validator for these neighbours: the same one while they stay,
    /// a new gate (or its checkpoint, if it was for them) when they change.
    fn validator_for(
        &mut self,
        uid: u16,
        neighbours: Vec<(Neighbour, String)>,
    ) -> Result<&mut Validator, DaemonError> {
        let wanted = GateNeighbours(
            neighbours
                .iter()
                .map(|(n, address)| (n.uid, address.clone()))
                .collect(),
        );
        match self.validator.take() {
            Some((gate, validator)) if gate == wanted && validator.uid == uid => {
                return Ok(&mut self.validator.insert((gate, validator)).1);
            }
            _ => {}
        }
        let neighbours: Vec<Neighbour> = neighbours.into_iter().map(|(n, _)| n).collect();
        let build = |peer: &Self| -> Result<Validator, DaemonError> {
            let mut validator = Validator::new(
                uid,
                Arc::clone(&peer.local) as Arc<dyn Learner>,
                peer.identity.key.clone(),
                neighbours.clone(),
                peer.config.top_k,
                Duration::from_millis(peer.config.neighbour_timeout_ms),
            )?;
            validator.dendrite_mut().max_response = peer.config.max_response_bytes;
            validator.set_stand_in(peer.stand_in.clone());
            validator.set_send_gradients(peer.config.send_gradients);
            validator.set_served_learning(peer.config.served_lr)?;
            Ok(validator)
        };
        let mut validator = build(self)?;
        let same_neighbours =
            self.store.read::<GateNeighbours>("gate.json")?.as_ref() == Some(&wanted);
        let restored = same_neighbours
            && match self.store.restore("gate.safetensors", |path| {
                validator.gated_head_mut().load(path)
            }) {
                Ok(restored) => restored,
                // Learned state that can be learned again: a checkpoint
                // of another version (or a damaged one) is replaced.
                Err(error) => {
                    warn!(%error, "the gate checkpoint cannot be loaded: a new gate");
                    validator = build(self)?;
                    false
                }
            };
        if restored {
            info!("loaded the gate checkpoint");
        } else {
            info!(
                neighbours = wanted.0.len(),
                "a new gate for these neighbours"
            );
            self.store.write("gate.json", &wanted)?;
            self.store
                .checkpoint("gate.safetensors", |path| validator.gated_head().save(path))?;
        }
        Ok(&mut self.validator.insert((wanted, validator)).1)
    }

    /// One epoch's work: reveal what is due, learn, value, send the row.
    pub(super) async fn epoch(
        &mut self,
        chain: &mut impl Chain,
        registry: &Registry,
        epoch: u64,
    ) -> Result<(), DaemonError> {
        let graph = self.config.graph.clone();
        let params = chain.params(&graph)?;
        self.reveal_due(chain, epoch, params.reveal_period)?;
        let peers = chain.metagraph(&graph)?;
        registry.update(&peers);
        let me = match self.me(&peers) {
            Some(me) => me,
            None => {
                warn!("not in the metagraph (pruned?): registering again");
                self.join(chain, registry)?;
                return Ok(());
            }
        };
        metrics::gauge!("agora_stake").set(me.stake.u128() as f64);
        metrics::gauge!("agora_incentive").set(float(&me.incentive));
        let neighbours: Vec<(Neighbour, String)> = peers
            .iter()
            .filter(|peer| peer.uid != me.uid && !peer.endpoint.is_empty())
            .map(|peer| {
                (
                    Neighbour {
                        uid: peer.uid,
                        endpoint: peer.endpoint.clone(),
                    },
                    peer.address.to_string(),
                )
            })
            .collect();
        if neighbours.is_empty() {
            info!(epoch, "no neighbours yet");
            return Ok(());
        }
        let addresses: BTreeMap<u16, String> = neighbours
            .iter()
            .map(|(n, address)| (n.uid, address.clone()))
            .collect();
        let (learn_steps, seed) = (self.config.learn_steps, self.config.seed);
        let corpus = Arc::clone(&self.corpus);
        let shard = Arc::clone(&self.shard);
        let held_out = &corpus.held_out;
        let mut pairs: Vec<DistillPair> = Vec::new();
        let learn_seed = seed.wrapping_mul(1_000_003).wrapping_add(epoch * 10_000);
        let private = Arc::clone(&self.private_held_out);
        let assessment = {
            let (local_steps, served) = (self.config.local_steps, self.config.served_lr.is_some());
            let validator = self.validator_for(me.uid, neighbours)?;
            if local_steps > 0 {
                let loss = validator.keep_training(&shard, local_steps, learn_seed)?;
                info!(
                    epoch,
                    steps = local_steps,
                    loss,
                    "the served model trained on"
                );
            }
            // The gate and head learn on all the training text: on its own
            // shard the model already knows what the neighbours could add
            // (README, "The market's recipe").
            let loss = validator
                .learn(&corpus.train, learn_steps, learn_seed, Some(&mut pairs))
                .await?;
            if served {
                info!(
                    epoch,
                    loss, "the served model learned through its neighbours"
                );
            }
            // Its own share of the held-out text, and batches no one can
            // predict: a public split or seed (the epoch) would tell a
            // neighbour which inputs its worth is judged on.
            validator.assess(&private, rand::random::<u64>()).await?
        };
        if let Some((_, validator)) = &self.validator {
            self.store
                .checkpoint("gate.safetensors", |path| validator.gated_head().save(path))?;
        }
        if self.config.accept_gradients
            || self.config.local_steps > 0
            || self.config.served_lr.is_some()
        {
            // Callers' gradients or its own training moved the served
            // model: keep what it learned.
            let local = &self.local;
            self.store
                .checkpoint("model.safetensors", |path| local.save(path))?;
        }
        metrics::gauge!("agora_loss", "kind" => "local").set(f64::from(assessment.alone_loss));
        metrics::gauge!("agora_loss", "kind" => "network").set(f64::from(assessment.network_loss));

        // The worth EMA, started afresh for a uid that changed hands.
        let alpha = self.config.worth_ema;
        self.worth.retain(|uid, _| addresses.contains_key(uid));
        for (uid, value) in &assessment.worth {
            let address = addresses.get(uid).cloned().unwrap_or_default();
            let previous = self
                .worth
                .get(uid)
                .filter(|worth| worth.address == address)
                .map(|worth| worth.ema);
            let ema = smoothed(previous, *value, alpha);
            self.worth.insert(*uid, Worth { address, ema });
        }
        self.store.write("worth.json", &self.worth)?;

        let rules = RowRules::new(&params, &chain.epoch_state(&graph)?, me.uid);
        let values: Vec<(u16, f64)> = self.worth.iter().map(|(uid, w)| (*uid, w.ema)).collect();
        let row = weight_row(&values, &rules);
        self.send(chain, me.uid, row, epoch, params.commit_reveal)?;

        // Distil the epoch's mixture into the student (whitepaper §9).
        if !pairs.is_empty()
            && let Some((_, validator)) = &mut self.validator
        {
            validator.distill(&self.student, &pairs, DISTILL_PASSES)?;
            let (contexts, next) = batch(held_out, self.config.context, 256, epoch);
            let student_loss = self.student.loss(&contexts, &next)?.to_scalar::<f32>()?;
            metrics::gauge!("agora_loss", "kind" => "student").set(f64::from(student_loss));
            let student = &self.student;
            self.store
                .checkpoint("student.safetensors", |path| student.save(path))?;
            let stand_in: Served = Arc::new(self.student.duplicate()?);
            validator.set_stand_in(Some(Arc::clone(&stand_in)));
            self.stand_in = Some(stand_in);
            metrics::gauge!("agora_stood_in").set(validator.stood_in() as f64);
        }
        info!(
            epoch,
            local_loss = assessment.alone_loss,
            network_loss = assessment.network_loss,
            stake = me.stake.u128(),
            "epoch done"
        );
        Ok(())
    }

    /// Sets the row, or with `commit_reveal` commits it (its salt saved
    /// first). A refusal is logged, not retried.
    fn send(
        &mut self,
        chain: &mut impl Chain,
        uid: u16,
        row: Vec<(u16, u16)>,
        epoch: u64,
        commit_reveal: bool,
    ) -> Result<(), DaemonError> {
        if row.is_empty() {
            return Ok(());
        }
        let graph = self.config.graph.clone();
        let name = self.identity.name.clone();
        let sent = if commit_reveal {
            let salt = agora_client::commit_salt();
            let mut pending = self.store.pending()?;
            pending.push(Pending {
                graph: graph.clone(),
                uid,
                row: row.clone(),
                salt: hex::encode(&salt),
                epoch,
            });
            // Saved before it is sent: a crash between the two leaves a
            // salt too many, never a commit that cannot be revealed.
            self.store.write("pending.json", &pending)?;
            let outcome = chain.commit_weights(&name, &graph, commit_hash(uid, &row, &salt));
            if outcome.is_err() {
                pending.pop();
                self.store.write("pending.json", &pending)?;
            }
            outcome.map(|()| "committed")
        } else {
            chain.set_weights(&name, &graph, &row).map(|()| "set")
        };
        match sent {
            Ok(what) => {
                let height = chain.height()?;
                metrics::gauge!("agora_last_row_block").set(height as f64);
                info!(epoch, entries = row.len(), block = height, "{what} the row");
                Ok(())
            }
            Err(ChainError::Refused(reason)) => {
                warn!(%reason, "the row was refused");
                Ok(())
            }
            Err(error) => Err(error.into()),
        }
    }
}
