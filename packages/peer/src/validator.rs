//! One peer's loop between two epochs (whitepaper §7-§9): learn through
//! the neighbours with the sparse gate, calling only those some input
//! routes to; value each neighbour; turn the values into a weight row.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use candle_nn::{AdamW, Optimizer, ParamsAdamW};
use tokio::task::JoinHandle;

use crate::corpus::Corpus;
use crate::gating::{GatedHead, Masks, Noise, Routes, routes_of};
use crate::local::{DistillPair, batch};
use crate::model::Learner;
use crate::rng::seeded;
use crate::{Dendrite, Model, Neighbour, PeerKey, Reply};

/// What one assessment found.
#[derive(Clone, Debug)]
pub struct Assessment {
    /// Held-out loss of the local model alone.
    pub alone_loss: f32,
    /// Held-out loss through the neighbours.
    pub network_loss: f32,
    /// Each neighbour's worth: how much the loss rises without it, times
    /// (1 + its mean gate weight while learning), times its reliability.
    pub worth: Vec<(u16, f64)>,
    /// Each neighbour's share of calls answered since the last `learn`
    /// began (1 when all were): failures lower its worth (whitepaper §9).
    pub reliability: Vec<(u16, f64)>,
}

/// Held-out losses (nats per byte) that [`Validator::measure`] found:
/// alone, through the neighbours, and with a student standing in for
/// them.
#[derive(Clone, Copy, Debug)]
pub struct Measured {
    pub alone: f32,
    pub network: f32,
    pub student: Option<f32>,
}

/// A learning batch whose neighbour calls are on their way.
struct InFlight {
    contexts: Vec<Vec<u8>>,
    next: Vec<u8>,
    own: Vec<Vec<f32>>,
    /// The gate's noise it was routed with (a learning gate).
    noise: Option<Noise>,
    routes: Routes,
    replies: JoinHandle<Vec<Reply>>,
}

/// A neighbour's gain, from what it added to each input: the mean less
/// two standard errors, so a gain that chance alone could give (a random
/// vector's, whose mean is about 0) counts as none.
fn lower_bound(gains: &[f32]) -> f32 {
    let n = gains.len() as f64;
    if n < 2.0 {
        return 0.0;
    }
    let mean = gains.iter().map(|g| f64::from(*g)).sum::<f64>() / n;
    let variance = gains
        .iter()
        .map(|g| (f64::from(*g) - mean).powi(2))
        .sum::<f64>()
        / (n - 1.0);
    (mean - 2.0 * (variance / n).sqrt()) as f32
}

/// A validator's own held-out text: about half of the corpus's held-out
/// units, picked by its secret `key` (whitepaper §9: a neighbour cannot
/// know which text it is valued on). It depends on nothing else, so a
/// peer draws it once.
pub fn private_held_out(corpus: &Corpus, key: &PeerKey) -> Vec<u8> {
    corpus.held_out_share(|unit| key.private_number("held-out unit", unit).is_multiple_of(2))
}

/// The loss `f` learns through the network on (whitepaper §5.3): its own
/// next-byte logits of `contexts`, corrected by the head's reading of the
/// neighbours' gated `mixture` `[batch, dim]` (held fixed: the neighbours'
/// outputs are inputs of `f`), against the byte after each context.
/// Differentiable in `local`'s parameters.
fn served_loss(
    local: &dyn Learner,
    head: &GatedHead,
    contexts: &[Vec<u8>],
    next: &[u8],
    mixture: &candle_core::Tensor,
) -> candle_core::Result<candle_core::Tensor> {
    let own = local.represent(contexts)?;
    let logits = head.corrected(&local.read(&own)?, &own, mixture)?;
    let targets: Vec<u32> = next.iter().map(|b| u32::from(*b)).collect();
    let targets = candle_core::Tensor::from_vec(targets, next.len(), own.device())?;
    candle_nn::loss::cross_entropy(&logits, &targets)
}

/// Mixed into an assessment's seed for the judge's routes.
const JUDGE_SEED: u64 = 0x004a_7564_6765;

/// Held-out batches each assessment averages.
const ASSESS_BATCHES: u64 = 4;

pub struct Validator {
    pub uid: u16,
    key: PeerKey,
    local: Arc<dyn Learner>,
    gated_head: GatedHead,
    dendrite: Dendrite,
    neighbours: Vec<Neighbour>,
    /// Mean gate weight per neighbour over the last `learn`.
    importance: Vec<f32>,
    /// The dendrite's (calls, failures) when the last `learn` began.
    counted: (BTreeMap<u16, u32>, BTreeMap<u16, u32>),
    batch_size: usize,
    /// What answers, while learning, for a neighbour whose call failed
    /// (whitepaper §8: the distilled student), instead of zeros.
    stand_in: Option<Arc<dyn Model>>,
    /// Replies the stand-in gave.
    stood_in: AtomicU64,
    /// Whether each learning step's gradients go back to the neighbours
    /// that answered (`POST /backward`).
    send_gradients: bool,
    /// Gradients sent that the neighbour applied, and that it refused.
    gradients_applied: AtomicU64,
    gradients_refused: AtomicU64,
    /// The served model's own optimizer, when it learns through the
    /// network ([`Validator::set_served_learning`]).
    served: Option<AdamW>,
}

impl Validator {
    pub fn new(
        uid: u16,
        local: Arc<dyn Learner>,
        key: PeerKey,
        neighbours: Vec<Neighbour>,
        top_k: usize,
        deadline: Duration,
    ) -> candle_core::Result<Self> {
        let gated_head = GatedHead::new(
            local.dim(),
            neighbours.len(),
            top_k,
            local.readout()?,
            local.head_rereads_own(),
        )?;
        Ok(Self {
            uid,
            importance: vec![0.0; neighbours.len()],
            counted: Default::default(),
            local,
            gated_head,
            dendrite: Dendrite::new(key.clone(), deadline),
            key,
            neighbours,
            batch_size: 64,
            stand_in: None,
            stood_in: AtomicU64::new(0),
            send_gradients: false,
            gradients_applied: AtomicU64::new(0),
            gradients_refused: AtomicU64::new(0),
            served: None,
        })
    }

    /// With a step size, every learning step also trains the served model
    /// `f` itself (whitepaper §5.3): one AdamW step on the loss of its own
    /// prediction corrected by the head's reading of the neighbours'
    /// gated outputs, so `f` learns, by gradient, what its neighbours do
    /// not already give, and what its axon serves changes as it learns.
    /// `None`: `f` stays as it is (the gate and head alone learn).
    pub fn set_served_learning(&mut self, learning_rate: Option<f64>) -> candle_core::Result<()> {
        self.served = match learning_rate {
            Some(lr) => Some(AdamW::new(
                self.local.variables(),
                ParamsAdamW {
                    lr,
                    weight_decay: 0.0,
                    ..ParamsAdamW::default()
                },
            )?),
            None => None,
        };
        Ok(())
    }

    /// While learning, `model` (the distilled student) answers for a
    /// neighbour whose call failed or timed out. Never while assessing: a
    /// neighbour is judged on what it answered itself.
    pub fn set_stand_in(&mut self, model: Option<Arc<dyn Model>>) {
        self.stand_in = model;
    }

    /// How many failed replies the stand-in has answered for.
    pub fn stood_in(&self) -> u64 {
        self.stood_in.load(Ordering::Relaxed)
    }

    /// With `on`, every learning step sends each neighbour that answered
    /// the gradient of the loss with respect to its outputs, for the inputs
    /// routed to it (`POST /backward`), before the next batch's calls go
    /// out (so they see the step; learning is then not pipelined).
    pub fn set_send_gradients(&mut self, on: bool) {
        self.send_gradients = on;
    }

    /// Gradients sent so far that the neighbour applied, and that it
    /// refused (its `/backward` off, a failure, past its rate).
    pub fn gradients_sent(&self) -> (u64, u64) {
        (
            self.gradients_applied.load(Ordering::Relaxed),
            self.gradients_refused.load(Ordering::Relaxed),
        )
    }

    pub fn dendrite(&self) -> &Dendrite {
        &self.dendrite
    }

    pub fn gated_head(&self) -> &GatedHead {
        &self.gated_head
    }

    pub fn dendrite_mut(&mut self) -> &mut Dendrite {
        &mut self.dendrite
    }

    pub fn gated_head_mut(&mut self) -> &mut GatedHead {
        &mut self.gated_head
    }

    /// The neighbours it learns through, in gate order.
    pub fn neighbours(&self) -> &[Neighbour] {
        &self.neighbours
    }

    /// Sends each neighbour of `routes` the inputs of `contexts` routed to
    /// it (sparse dispatch), from a task of its own, so the calls travel
    /// while this thread trains.
    fn call(&self, contexts: &[Vec<u8>], routes: &Routes) -> JoinHandle<Vec<Reply>> {
        let (context, dim) = (self.local.context(), self.local.dim());
        let calls: Vec<(Neighbour, Vec<Vec<u8>>)> = routes
            .iter()
            .map(|(j, rows)| {
                let inputs = rows.iter().map(|row| contexts[*row].clone()).collect();
                (self.neighbours[*j].clone(), inputs)
            })
            .collect();
        let dendrite = self.dendrite.clone();
        tokio::spawn(async move { dendrite.forward_each(&calls, context, dim).await })
    }

    /// Neighbour outputs for `contexts`, `[neighbour][input][dim]`: each
    /// routed neighbour's answers at the rows sent to it, zeros elsewhere;
    /// and which neighbours answered. With `stand_in`, a failed call is
    /// answered by the stand-in (if there is one) rather than zeros.
    async fn outputs(
        &self,
        contexts: &[Vec<u8>],
        routes: &Routes,
        replies: JoinHandle<Vec<Reply>>,
        stand_in: bool,
    ) -> (Vec<Vec<Vec<f32>>>, Vec<usize>) {
        let dim = self.local.dim();
        let replies = replies.await.unwrap_or_else(|error| {
            // The calling task died: every call of it failed.
            routes
                .iter()
                .map(|(j, rows)| Reply {
                    uid: self.neighbours[*j].uid,
                    outputs: vec![vec![0.0; dim]; rows.len()],
                    error: Some(format!("the calling task failed: {error}")),
                })
                .collect()
        });
        // One answer of the stand-in a batch serves every failed call.
        let stood_in = match self.stand_in.as_ref().filter(|_| stand_in) {
            Some(model) if replies.iter().any(|r| r.error.is_some()) => {
                model.forward(contexts).ok()
            }
            _ => None,
        };
        let mut outputs = vec![vec![vec![0.0; dim]; contexts.len()]; self.neighbours.len()];
        let mut answered = Vec::new();
        for ((j, rows), reply) in routes.iter().zip(replies) {
            match (&reply.error, &stood_in) {
                (None, _) => {
                    answered.push(*j);
                    for (row, output) in rows.iter().zip(reply.outputs) {
                        outputs[*j][*row] = output;
                    }
                }
                (Some(_), Some(answer)) => {
                    self.stood_in.fetch_add(1, Ordering::Relaxed);
                    for row in rows {
                        outputs[*j][*row] = answer[*row].clone();
                    }
                }
                (Some(_), None) => {}
            }
        }
        (outputs, answered)
    }

    /// Sends each neighbour of `answered` its rows of `gradients` (those
    /// of inputs routed to it, the rest being zero) and counts the
    /// outcomes.
    async fn send_back(
        &self,
        contexts: &[Vec<u8>],
        answered: &[usize],
        gradients: &[Vec<Vec<f32>>],
    ) {
        let (context, dim) = (self.local.context(), self.local.dim());
        let sends = answered.iter().filter_map(|j| {
            let (inputs, rows): (Vec<Vec<u8>>, Vec<Vec<f32>>) = contexts
                .iter()
                .zip(&gradients[*j])
                .filter(|(_, row)| row.iter().any(|value| *value != 0.0))
                .map(|(input, row)| (input.clone(), row.clone()))
                .unzip();
            let neighbour = &self.neighbours[*j];
            (!inputs.is_empty()).then_some(async move {
                self.dendrite
                    .backward(neighbour, &inputs, &rows, context, dim)
                    .await
            })
        });
        for outcome in futures::future::join_all(sends).await {
            let (counter, label) = match outcome {
                Ok(_) => (&self.gradients_applied, "applied"),
                Err(_) => (&self.gradients_refused, "refused"),
            };
            counter.fetch_add(1, Ordering::Relaxed);
            metrics::counter!("agora_gradients_sent_total", "outcome" => label).increment(1);
        }
    }

    /// The local model trains `steps` more steps on `text` (it serves
    /// meanwhile), and the head follows its new readout.
    pub fn keep_training(
        &mut self,
        text: &[u8],
        steps: usize,
        seed: u64,
    ) -> candle_core::Result<f32> {
        let loss = self.local.train(text, steps, self.batch_size, seed)?;
        self.gated_head.set_readout(self.local.readout()?);
        Ok(loss)
    }

    /// A learning batch: its inputs, the own representations, whom the
    /// gate routes to, and the calls to them, already sent.
    fn launch(&mut self, text: &[u8], seed: u64) -> candle_core::Result<InFlight> {
        let (contexts, next) = batch(text, self.local.context(), self.batch_size, seed);
        let own = self.local.forward(&contexts)?;
        let noise = self.gated_head.draw_noise(contexts.len())?;
        let routes = self
            .gated_head
            .routes(&own, self.gated_head.top_k, noise.as_ref())?;
        let replies = self.call(&contexts, &routes);
        Ok(InFlight {
            contexts,
            next,
            own,
            noise,
            routes,
            replies,
        })
    }

    /// `steps` steps of gate and head on batches of `text`; the last loss.
    /// With `keep`, each batch's inputs and gated mixture are kept for
    /// distillation. Pipelined: the next batch's calls go out before this
    /// batch's step runs, so the network's latency hides behind the
    /// training (the next batch is routed by the gate as it was before
    /// this step).
    pub async fn learn(
        &mut self,
        text: &[u8],
        steps: usize,
        seed: u64,
        mut keep: Option<&mut Vec<DistillPair>>,
    ) -> candle_core::Result<f32> {
        let mut last = f32::NAN;
        self.counted = (self.dendrite.calls(), self.dendrite.failures());
        let mut importance = vec![0.0f32; self.neighbours.len()];
        let mut upcoming = match steps {
            0 => None,
            _ => Some(self.launch(text, seed)?),
        };
        let mut step = 0;
        if self.served.is_some() {
            self.gated_head.set_readout(self.local.readout()?);
        }
        // Sent gradients must land before the next calls go out.
        let pipelined = !self.send_gradients;
        while let Some(current) = upcoming.take() {
            step += 1;
            if pipelined && step < steps {
                upcoming = Some(self.launch(text, seed + step as u64)?);
            }
            let InFlight {
                contexts,
                next,
                own,
                noise,
                routes,
                replies,
            } = current;
            let (outputs, answered) = self.outputs(&contexts, &routes, replies, true).await;
            let result = self.gated_head.train(
                &own,
                &outputs,
                &next,
                noise.as_ref(),
                self.send_gradients,
            )?;
            if let Some(gradients) = &result.gradients {
                self.send_back(&contexts, &answered, gradients).await;
            }
            if !pipelined && step < steps {
                upcoming = Some(self.launch(text, seed + step as u64)?);
            }
            for (sum, value) in importance.iter_mut().zip(&result.importance) {
                *sum += value / steps as f32;
            }
            last = result.loss;
            let wanted = keep.is_some() || self.served.is_some();
            let mixture = match wanted {
                true => Some(self.gated_head.mixture(&own, &outputs)?),
                false => None,
            };
            if let (Some(optimizer), Some(mixture)) = (self.served.as_mut(), &mixture) {
                let mixture = self.gated_head.mixture_tensor(mixture)?;
                let loss = served_loss(
                    self.local.as_ref(),
                    &self.gated_head,
                    &contexts,
                    &next,
                    &mixture,
                )?;
                optimizer.backward_step(&loss)?;
            }
            if let (Some(pairs), Some(mixture)) = (keep.as_deref_mut(), mixture) {
                pairs.push((contexts, mixture));
            }
        }
        if self.served.is_some() {
            // The head corrects, from now on, what the model predicts now.
            self.gated_head.set_readout(self.local.readout()?);
        }
        self.importance = importance;
        Ok(last)
    }

    /// Values every neighbour on [`ASSESS_BATCHES`] held-out batches (the
    /// validator's own text, [`private_held_out`], and a seed of its own):
    /// each input is judged with `2k` neighbours drawn at random from the
    /// seed, so every neighbour is judged whatever the gate has learned and
    /// whatever its uid; a neighbour's gain is what removing it costs each
    /// input ([`GatedHead::leave_one_out`]), counted as the mean less two
    /// standard errors ([`lower_bound`]), times 1 + its mean gate weight
    /// while learning, times its reliability.
    pub async fn assess(&self, held_out: &[u8], seed: u64) -> candle_core::Result<Assessment> {
        let k = 2 * self.gated_head.top_k;
        // Per neighbour, what it added to each held-out input.
        let mut gains: Vec<Vec<f32>> = vec![Vec::new(); self.neighbours.len()];
        let (mut alone_loss, mut network_loss) = (0.0f32, 0.0f32);
        let share = 1.0 / ASSESS_BATCHES as f32;
        for index in 0..ASSESS_BATCHES {
            let batch_seed = seed.wrapping_mul(ASSESS_BATCHES).wrapping_add(index);
            let (contexts, next) = batch(held_out, self.local.context(), 256, batch_seed);
            let own = self.local.forward(&contexts)?;
            let judge = self.judge_masks(contexts.len(), k, batch_seed);
            // Each neighbour is sent the inputs the judge or the gate
            // routes to it: the only outputs either reads.
            let model = self.gated_head.masks(&own, self.gated_head.top_k)?;
            let union: Masks = judge
                .iter()
                .zip(&model)
                .map(|(a, b)| a.iter().zip(b).map(|(x, y)| *x || *y).collect())
                .collect();
            let routes = routes_of(&union);
            let replies = self.call(&contexts, &routes);
            let (outputs, _) = self.outputs(&contexts, &routes, replies, false).await;
            let (_, batch_gains) = self
                .gated_head
                .leave_one_out(&own, &outputs, &next, &judge)?;
            let (alone, network) = self.losses(&contexts, &next, &own, &outputs)?;
            alone_loss += alone * share;
            network_loss += network * share;
            for (all, batch) in gains.iter_mut().zip(batch_gains) {
                all.extend(batch);
            }
        }
        let gains: Vec<f32> = gains.iter().map(|g| lower_bound(g)).collect();
        let reliability: Vec<(u16, f64)> = self
            .neighbours
            .iter()
            .map(|n| (n.uid, self.reliability(n.uid)))
            .collect();
        let worth = self
            .neighbours
            .iter()
            .zip(gains.iter().zip(&self.importance))
            .zip(&reliability)
            .map(|((n, (gain, importance)), (_, reliable))| {
                (
                    n.uid,
                    f64::from(gain.max(0.0) * (1.0 + importance)) * reliable,
                )
            })
            .collect();
        Ok(Assessment {
            alone_loss,
            network_loss,
            worth,
            reliability,
        })
    }

    /// One batch's loss alone and through the network (routed to the
    /// gate's own `k`: the loss the model itself would have).
    fn losses(
        &self,
        contexts: &[Vec<u8>],
        next: &[u8],
        own: &[Vec<f32>],
        outputs: &[Vec<Vec<f32>>],
    ) -> candle_core::Result<(f32, f32)> {
        let mixture = self.gated_head.mixture(own, outputs)?;
        let network = self.gated_head.loss_with(own, &mixture, next)?;
        let alone = self.local.loss(contexts, next)?.to_scalar::<f32>()?;
        Ok((alone, network))
    }

    /// Mean held-out loss alone and through the network over `batches`
    /// batches of 256 from `text` (the same batches for every validator
    /// given the same `seed`), and with `student` standing in for the
    /// neighbours: a measurement, not a valuation, so only the routed
    /// neighbours are called.
    pub async fn measure(
        &self,
        text: &[u8],
        batches: u64,
        seed: u64,
        student: Option<&dyn Learner>,
    ) -> candle_core::Result<Measured> {
        let share = 1.0 / batches.max(1) as f32;
        let mut measured = Measured {
            alone: 0.0,
            network: 0.0,
            student: student.map(|_| 0.0),
        };
        for index in 0..batches {
            let (contexts, next) = batch(text, self.local.context(), 256, seed + index);
            let own = self.local.forward(&contexts)?;
            let routes = self.gated_head.routes(&own, self.gated_head.top_k, None)?;
            let replies = self.call(&contexts, &routes);
            let (outputs, _) = self.outputs(&contexts, &routes, replies, false).await;
            let (alone, network) = self.losses(&contexts, &next, &own, &outputs)?;
            measured.alone += alone * share;
            measured.network += network * share;
            if let (Some(student), Some(sum)) = (student, measured.student.as_mut()) {
                let stood = student.forward(&contexts)?;
                *sum += self.gated_head.loss_with(&own, &stood, &next)? * share;
            }
        }
        Ok(measured)
    }

    /// The judge's routes for a batch of `batch` inputs: each input to `k`
    /// neighbours drawn at random from `seed` (private to this validator),
    /// so every neighbour is judged on about `k / neighbours` of the
    /// inputs, whatever the gate has learned and whatever its uid.
    fn judge_masks(&self, batch: usize, k: usize, seed: u64) -> Masks {
        let count = self.neighbours.len();
        let k = k.min(count);
        let mut rng = seeded(seed ^ JUDGE_SEED);
        (0..batch)
            .map(|_| {
                let mut mask = vec![false; count];
                for j in rand::seq::index::sample(&mut rng, count, k) {
                    mask[j] = true;
                }
                mask
            })
            .collect()
    }

    /// The share of calls to `uid` answered since the last `learn` began.
    fn reliability(&self, uid: u16) -> f64 {
        let since = |now: BTreeMap<u16, u32>, then: &BTreeMap<u16, u32>| {
            let before = then.get(&uid).copied().unwrap_or(0);
            now.get(&uid).copied().unwrap_or(0).saturating_sub(before)
        };
        let calls = since(self.dendrite.calls(), &self.counted.0);
        let failures = since(self.dendrite.failures(), &self.counted.1);
        if calls == 0 {
            return 1.0;
        }
        1.0 - f64::from(failures.min(calls)) / f64::from(calls)
    }

    /// Distillation (whitepaper §8), by KL on logits: trains `student` so
    /// that the head, reading the student's output where the gated
    /// mixture was, predicts the distribution the mixture gave, over
    /// `pairs` (kept by [`Validator::learn`]) `passes` times. Returns the
    /// last pass's mean KL (nats).
    pub fn distill(
        &self,
        student: &dyn Learner,
        pairs: &[DistillPair],
        passes: usize,
    ) -> candle_core::Result<f32> {
        let head = &self.gated_head;
        let mut prepared = Vec::with_capacity(pairs.len());
        for (contexts, mixture) in pairs {
            let own = self.local.forward(contexts)?;
            let teacher = head.logits(&own, &head.mixture_tensor(mixture)?)?.detach();
            let teacher = candle_nn::ops::log_softmax(&teacher, 1)?;
            prepared.push((contexts, own, teacher));
        }
        let params = ParamsAdamW {
            lr: 3e-3,
            ..ParamsAdamW::default()
        };
        let mut optimizer = AdamW::new(student.variables(), params)?;
        let mut last = f32::NAN;
        for _ in 0..passes {
            let mut total = 0.0;
            for (contexts, own, teacher) in &prepared {
                let logits = head.logits(own, &student.represent(contexts)?)?;
                let log_student = candle_nn::ops::log_softmax(&logits, 1)?;
                let kl = (teacher.exp()? * (teacher - log_student)?)?
                    .sum(1)?
                    .mean(0)?;
                optimizer.backward_step(&kl)?;
                total += kl.to_scalar::<f32>()?;
            }
            last = total / prepared.len().max(1) as f32;
        }
        Ok(last)
    }

    /// A seed for `epoch`'s assessment batches that only this validator
    /// can compute.
    pub fn private_seed(&self, epoch: u64) -> u64 {
        self.key.private_number("assessment batches", epoch)
    }
}
