//! Learning through neighbours with sparse gating (whitepaper §7), and what
//! each neighbour is worth (§9).
//!
//! For each input, a gate scores the neighbours from this peer's own
//! representation and keeps the top `k`; the head reads the gated sum of
//! the neighbours' outputs (and, for a window model, the own
//! representation again: [`crate::model::Learner::head_rereads_own`]) and
//! corrects the local model's own next-byte logits (its frozen readout).
//! The correction starts at zero, so through the network a peer starts
//! exactly as good as alone and learns only what its neighbours add. Only
//! neighbours in some input's top `k` are called.
//!
//! The gate starts with every score 0 (each input goes to the
//! lowest-indexed neighbours) and stays so unless it is set to learn
//! ([`GatedHead::set_learning`]: noisy top-k with Shazeer et al.'s
//! load-balancing losses); README, "Valuing neighbours", measures both.

use candle_core::{DType, Device, Module, Tensor, Var};
use candle_nn::{AdamW, Linear, Optimizer, ParamsAdamW, VarBuilder, VarMap, linear};
use rand::Rng;
use rand::rngs::StdRng;

use crate::rng::seeded;

/// The sparse gate over `neighbours` neighbours of width `dim`, and the
/// head that reads their gated mixture (beside the own representation,
/// when it re-reads it).
pub struct GatedHead {
    pub neighbours: usize,
    pub top_k: usize,
    dim: usize,
    vars: VarMap,
    gate: Linear,
    /// The noisy gate's noise scale per neighbour (Shazeer et al.:
    /// softplus of a linear map of the input).
    noise: Linear,
    head: Linear,
    /// Whether the head reads the own representation beside the mixture.
    rereads_own: bool,
    device: Device,
    optimizer: Option<AdamW>,
    /// Whether the gate learns (noisy top-k with a load-balancing loss),
    /// or stays as it started.
    learning: bool,
    /// Draws the gate's noise while learning (seeded: a run replays).
    rng: StdRng,
    /// The local model's frozen readout (`[dim, 256]` weight, `[256]`
    /// bias): the own logits the head corrects.
    readout: (Tensor, Tensor),
    /// Learning steps taken, for the step size's decay.
    steps: usize,
}

/// Seeds the gate's noise.
const GATE_NOISE_SEED: u64 = 0x6a7e;
/// Weight of each load-balancing loss (importance and load). Shazeer et
/// al. use 0.1; here 0.01 learns better through the network (README,
/// "Valuing neighbours").
const BALANCE_WEIGHT: f64 = 0.01;
/// Added to the noise scale, so it never reaches 0.
const MIN_NOISE: f64 = 1e-2;
/// The gate and head's step size: `LEARNING_RATE · T / (T + t)` after `t`
/// steps (`T` = [`DECAY_STEPS`], one market epoch of learning), never
/// below [`LEARNING_RATE_FLOOR`]. At a constant 1e-2 the head ends
/// wherever its last noisy steps left it, which costs a peer whose
/// neighbours add little more than they give (README, "The head's step
/// size"); the floor keeps a long-running peer learning as its
/// neighbours change.
const LEARNING_RATE: f64 = 1e-2;
const DECAY_STEPS: f64 = 60.0;
const LEARNING_RATE_FLOOR: f64 = 1e-3;

/// A learning batch's gate noise, `[batch, neighbours]` standard normal
/// draws: drawn when the batch is routed, used again when it is learned.
pub struct Noise(Tensor);

/// Per neighbour called (by index), the inputs of the batch (by row)
/// sent to it.
pub type Routes = Vec<(usize, Vec<usize>)>;

/// Per input of a batch, per neighbour: whether the input goes to it.
pub type Masks = Vec<Vec<bool>>;

/// The routes of `masks`: per neighbour some input goes to, those inputs.
pub fn routes_of(masks: &Masks) -> Routes {
    let neighbours = masks.first().map_or(0, Vec::len);
    (0..neighbours)
        .map(|j| {
            let rows: Vec<usize> = (0..masks.len()).filter(|row| masks[*row][j]).collect();
            (j, rows)
        })
        .filter(|(_, rows)| !rows.is_empty())
        .collect()
}

/// What one batch gives: the loss and each neighbour's mean gate weight.
pub struct Step {
    pub loss: f32,
    pub importance: Vec<f32>,
    /// When asked for: per neighbour, the loss gradient with respect to
    /// each output it gave (`[batch][dim]`; zeros for inputs not routed
    /// to it), what `POST /backward` sends back.
    pub gradients: Option<Vec<Vec<Vec<f32>>>>,
}

/// The step size after `steps` learning steps.
fn learning_rate(steps: usize) -> f64 {
    (LEARNING_RATE * DECAY_STEPS / (DECAY_STEPS + steps as f64)).max(LEARNING_RATE_FLOOR)
}

impl GatedHead {
    /// A gate over `neighbours` and a head that corrects the logits
    /// `own · weight + bias` (`readout`: the local model's, `[dim, 256]`
    /// and `[256]`) instead of predicting from nothing.
    pub fn new(
        dim: usize,
        neighbours: usize,
        top_k: usize,
        readout: (Tensor, Tensor),
        rereads_own: bool,
    ) -> candle_core::Result<Self> {
        let device = Device::Cpu;
        let vars = VarMap::new();
        let vb = VarBuilder::from_varmap(&vars, DType::F32, &device);
        let gate = linear(dim, neighbours.max(1), vb.pp("gate"))?;
        let noise = linear(dim, neighbours.max(1), vb.pp("noise"))?;
        let read = if rereads_own { 2 * dim } else { dim };
        let head = linear(read, 256, vb.pp("head"))?;
        // Deterministic start: a zero gate (every neighbour alike) and a
        // zero correction (the local model's own prediction).
        for var in vars.all_vars() {
            var.set(&var.zeros_like()?)?;
        }
        Ok(Self {
            neighbours,
            top_k: top_k.clamp(1, neighbours.max(1)),
            dim,
            vars,
            gate,
            noise,
            head,
            rereads_own,
            device,
            optimizer: None,
            learning: false,
            rng: seeded(GATE_NOISE_SEED),
            readout,
            steps: 0,
        })
    }

    /// The local model's readout, again: after it trained on
    /// ([`crate::model::Learner::train`]), the head corrects
    /// what it predicts now.
    pub fn set_readout(&mut self, readout: (Tensor, Tensor)) {
        self.readout = readout;
    }

    /// Writes gate and head as safetensors.
    pub fn save(&self, path: &std::path::Path) -> candle_core::Result<()> {
        self.vars.save(path)
    }

    /// Reads gate and head saved by [`GatedHead::save`] for the same
    /// `dim` and neighbour count.
    pub fn load(&mut self, path: &std::path::Path) -> candle_core::Result<()> {
        self.vars.load(path)
    }

    /// Where each input of the batch goes, to its `k` best neighbours (by
    /// the noisy scores while learning): per neighbour some input routes
    /// to (the only ones worth calling), the inputs routed to it.
    pub fn routes(
        &self,
        own: &[Vec<f32>],
        k: usize,
        noise: Option<&Noise>,
    ) -> candle_core::Result<Routes> {
        let k = k.clamp(1, self.neighbours.max(1));
        Ok(routes_of(
            &self.top_k_masks(&self.noisy_scores(own, noise)?, k)?,
        ))
    }

    /// Per input, whether each neighbour is among its `k` best by the
    /// gate's clean scores.
    pub fn masks(&self, own: &[Vec<f32>], k: usize) -> candle_core::Result<Masks> {
        let k = k.clamp(1, self.neighbours.max(1));
        self.top_k_masks(&self.scores(own)?, k)
    }

    fn tensor(&self, rows: &[Vec<f32>], width: usize) -> candle_core::Result<Tensor> {
        let flat: Vec<f32> = rows.iter().flatten().copied().collect();
        Tensor::from_vec(flat, (rows.len(), width), &self.device)
    }

    /// Turns the gate's learning on: noisy top-k routing while learning,
    /// a differentiable softmax, and Shazeer et al.'s load-balancing
    /// losses, so it learns which neighbours help which inputs.
    pub fn set_learning(&mut self, on: bool) {
        self.learning = on;
    }

    /// Noise for a learning batch of `batch` inputs; none when the gate
    /// does not learn.
    pub fn draw_noise(&mut self, batch: usize) -> candle_core::Result<Option<Noise>> {
        if !self.learning {
            return Ok(None);
        }
        // Box–Muller: two uniforms to one standard normal.
        let draws: Vec<f32> = (0..batch * self.neighbours)
            .map(|_| {
                let (u, v): (f32, f32) = (self.rng.r#gen(), self.rng.r#gen());
                (-2.0 * (1.0 - u).ln()).sqrt() * (std::f32::consts::TAU * v).cos()
            })
            .collect();
        let draws = Tensor::from_vec(draws, (batch, self.neighbours), &self.device)?;
        Ok(Some(Noise(draws)))
    }

    fn scores(&self, own: &[Vec<f32>]) -> candle_core::Result<Tensor> {
        self.gate.forward(&self.tensor(own, self.dim)?)
    }

    /// The noise scale `[batch, neighbours]`: softplus of the noise map.
    fn noise_scale(&self, own: &[Vec<f32>]) -> candle_core::Result<Tensor> {
        let raw = self.noise.forward(&self.tensor(own, self.dim)?)?;
        (raw.exp()? + 1.0)?.log()? + MIN_NOISE
    }

    /// The scores the top k is taken of: clean, plus scaled noise while
    /// learning (Shazeer et al.'s `H(x)`).
    fn noisy_scores(&self, own: &[Vec<f32>], noise: Option<&Noise>) -> candle_core::Result<Tensor> {
        let clean = self.scores(own)?;
        match noise {
            Some(Noise(draws)) => clean + (draws * self.noise_scale(own)?)?,
            None => Ok(clean),
        }
    }

    fn top_k_masks(&self, scores: &Tensor, k: usize) -> candle_core::Result<Vec<Vec<bool>>> {
        Ok(scores
            .to_vec2::<f32>()?
            .into_iter()
            .map(|row| {
                let mut order: Vec<usize> = (0..row.len()).collect();
                // Ties go to the lower index, so the choice is deterministic.
                order.sort_by(|a, b| row[*b].total_cmp(&row[*a]).then(a.cmp(b)));
                let mut mask = vec![false; row.len()];
                for j in order.into_iter().take(k) {
                    mask[j] = true;
                }
                mask
            })
            .collect())
    }

    /// Gate weights `[batch, neighbours]`: softmax over each input's top
    /// `k` (of the noisy scores, while learning), 0 elsewhere.
    fn gates(
        &self,
        own: &[Vec<f32>],
        k: usize,
        noise: Option<&Noise>,
    ) -> candle_core::Result<Tensor> {
        let scores = self.noisy_scores(own, noise)?;
        let masks = self.top_k_masks(&scores, k)?;
        self.masked_gates(scores, &masks)
    }

    /// Gate weights: softmax of `scores` over each input's `masks`, 0
    /// elsewhere.
    fn masked_gates(&self, scores: Tensor, masks: &Masks) -> candle_core::Result<Tensor> {
        let keep: Vec<f32> = masks
            .iter()
            .flat_map(|row| row.iter().map(|kept| f32::from(u8::from(*kept))))
            .collect();
        let keep = Tensor::from_vec(keep, (masks.len(), self.neighbours), &self.device)?;
        let penalty = ((&keep - 1.0)? * 1e9)?;
        let masked = (scores + penalty)?;
        // candle-nn's fused softmax has no backward pass: the learning
        // gate needs the composed one.
        let weights = match self.learning {
            true => candle_nn::ops::softmax(&masked, 1)?,
            false => candle_nn::ops::softmax_last_dim(&masked)?,
        };
        weights * keep
    }

    /// Shazeer et al.'s load-balancing losses: the squared coefficient of
    /// variation of each neighbour's total gate weight (importance), and
    /// of its expected number of inputs (load: the chance, under the
    /// noise, that it stays in an input's top k).
    fn balance_loss(
        &self,
        own: &[Vec<f32>],
        gates: &Tensor,
        noise: &Noise,
    ) -> candle_core::Result<Tensor> {
        let cv_squared = |values: Tensor| -> candle_core::Result<Tensor> {
            let mean = values.mean_all()?;
            let variance = values.broadcast_sub(&mean)?.sqr()?.mean_all()?;
            variance / (mean.sqr()? + 1e-10)?
        };
        let importance = gates.sum(0)?;
        // The k-th best noisy score of the others: a neighbour in the top
        // k is beaten by the (k+1)-th, one outside it by the k-th.
        let clean = self.scores(own)?;
        let scale = self.noise_scale(own)?;
        let noisy = (&clean + (&noise.0 * &scale)?)?.to_vec2::<f32>()?;
        let k = self.top_k;
        let thresholds: Vec<f32> = noisy
            .iter()
            .flat_map(|row| {
                let mut sorted = row.clone();
                sorted.sort_by(|a, b| b.total_cmp(a));
                row.iter()
                    .map(|value| {
                        let inside = *value >= sorted[k - 1];
                        let at = if inside { k } else { k - 1 };
                        sorted.get(at).copied().unwrap_or(-1e9)
                    })
                    .collect::<Vec<_>>()
            })
            .collect();
        let thresholds = Tensor::from_vec(thresholds, (own.len(), self.neighbours), &self.device)?;
        // Φ(z) = (1 + erf(z / √2)) / 2.
        let z = ((clean - thresholds)? / scale)?;
        let chance = (((z / std::f64::consts::SQRT_2)?.erf()? + 1.0)? * 0.5)?;
        let load = chance.sum(0)?;
        (cv_squared(importance)? + cv_squared(load)?)? * BALANCE_WEIGHT
    }

    /// The neighbours some input's gate reaches (a nonzero column of
    /// `gates`): the only ones the mix reads.
    fn used(&self, gates: &Tensor) -> candle_core::Result<Vec<usize>> {
        let rows = gates.to_vec2::<f32>()?;
        Ok((0..self.neighbours)
            .filter(|j| rows.iter().any(|row| row[*j] != 0.0))
            .collect())
    }

    /// The `used` neighbours' outputs, `[batch, used, dim]`.
    /// `neighbours[j]` holds neighbour `j`'s outputs (`[batch][dim]`).
    fn stack(&self, neighbours: &[Vec<Vec<f32>>], used: &[usize]) -> candle_core::Result<Tensor> {
        let batch = neighbours.first().map_or(0, Vec::len);
        let mut stacked = Vec::with_capacity(batch * used.len() * self.dim);
        for input in 0..batch {
            for outputs in used.iter().map(|j| &neighbours[*j]) {
                stacked.extend_from_slice(&outputs[input]);
            }
        }
        Tensor::from_vec(stacked, (batch, used.len(), self.dim), &self.device)
    }

    /// The gated mixture `[batch, dim]` of the neighbours' outputs.
    fn mixture_of(
        &self,
        gates: &Tensor,
        neighbours: &[Vec<Vec<f32>>],
    ) -> candle_core::Result<Tensor> {
        let used = self.used(gates)?;
        self.mix(gates, &used, &self.stack(neighbours, &used)?)
    }

    /// `Σ_j gate_j · neighbour_j`, `[batch, dim]`, over the `used`
    /// neighbours alone (sparse: a neighbour no input routes to is not
    /// read), `stacked` being their [`GatedHead::stack`].
    fn mix(&self, gates: &Tensor, used: &[usize], stacked: &Tensor) -> candle_core::Result<Tensor> {
        let batch = gates.dim(0)?;
        if used.is_empty() {
            return Tensor::zeros((batch, self.dim), DType::F32, &self.device);
        }
        let columns: Vec<u32> = used.iter().map(|j| *j as u32).collect();
        let columns = Tensor::from_vec(columns, used.len(), &self.device)?;
        gates
            .index_select(&columns, 1)?
            .unsqueeze(1)?
            .matmul(stacked)?
            .squeeze(1)
    }

    /// The head's loss given a mixture `[batch, dim]`.
    fn head_loss(
        &self,
        own: &[Vec<f32>],
        mixture: &Tensor,
        next: &[u8],
    ) -> candle_core::Result<Tensor> {
        let logits = self.logits(own, mixture)?;
        let targets: Vec<u32> = next.iter().map(|b| u32::from(*b)).collect();
        let targets = Tensor::from_vec(targets, next.len(), &self.device)?;
        candle_nn::loss::cross_entropy(&logits, &targets)
    }

    /// Next-byte logits `[batch, 256]`: the own representations' through
    /// the local model's readout, corrected by what the head reads in a
    /// mixture `[batch, dim]` (the neighbours', or a student's), and in
    /// the own representations when it re-reads them.
    pub fn logits(&self, own: &[Vec<f32>], mixture: &Tensor) -> candle_core::Result<Tensor> {
        let own = self.tensor(own, self.dim)?;
        let (weight, bias) = &self.readout;
        let own_logits = own.matmul(weight)?.broadcast_add(bias)?;
        self.corrected(&own_logits, &own, mixture)
    }

    /// `own_logits` `[batch, 256]` corrected by what the head reads in a
    /// mixture (and in the own representations `own`, when it re-reads
    /// them). Differentiable in all three: the served model learns
    /// through it ([`crate::Validator::set_served_learning`]).
    pub fn corrected(
        &self,
        own_logits: &Tensor,
        own: &Tensor,
        mixture: &Tensor,
    ) -> candle_core::Result<Tensor> {
        let correction = match self.rereads_own {
            true => self.head.forward(&Tensor::cat(&[own, mixture], 1)?)?,
            false => self.head.forward(mixture)?,
        };
        correction + own_logits
    }

    /// `rows` `[batch][dim]` as a tensor.
    pub fn mixture_tensor(&self, rows: &[Vec<f32>]) -> candle_core::Result<Tensor> {
        self.tensor(rows, self.dim)
    }

    /// The gated mixture itself, `[batch][dim]`: what a student distils.
    pub fn mixture(
        &self,
        own: &[Vec<f32>],
        neighbours: &[Vec<Vec<f32>>],
    ) -> candle_core::Result<Vec<Vec<f32>>> {
        let gates = self.gates(own, self.top_k, None)?;
        self.mixture_of(&gates, neighbours)?.to_vec2()
    }

    /// The head's loss when `mixture` stands in for the neighbours (a
    /// distilled student's output): no neighbour is called.
    pub fn loss_with(
        &self,
        own: &[Vec<f32>],
        mixture: &[Vec<f32>],
        next: &[u8],
    ) -> candle_core::Result<f32> {
        let mixture = self.tensor(mixture, self.dim)?;
        self.head_loss(own, &mixture, next)?.to_scalar()
    }

    /// One training step of gate and head; with `gradients`, also the
    /// loss gradient with respect to every neighbour output.
    pub fn train(
        &mut self,
        own: &[Vec<f32>],
        neighbours: &[Vec<Vec<f32>>],
        next: &[u8],
        noise: Option<&Noise>,
        gradients: bool,
    ) -> candle_core::Result<Step> {
        let gates = self.gates(own, self.top_k, noise)?;
        let used = self.used(&gates)?;
        let stacked = self.stack(neighbours, &used)?;
        // A variable only when its gradient is wanted: the optimizer
        // steps the gate and head alone either way.
        let stacked = match gradients {
            true => Var::from_tensor(&stacked)?.into_inner(),
            false => stacked,
        };
        let mixture = self.mix(&gates, &used, &stacked)?;
        let loss = self.head_loss(own, &mixture, next)?;
        let objective = match noise {
            Some(noise) => (&loss + self.balance_loss(own, &gates, noise)?)?,
            None => loss.clone(),
        };
        let grads = objective.backward()?;
        let optimizer = match self.optimizer.as_mut() {
            Some(optimizer) => optimizer,
            None => self
                .optimizer
                .insert(AdamW::new(self.vars.all_vars(), ParamsAdamW::default())?),
        };
        optimizer.set_learning_rate(learning_rate(self.steps));
        optimizer.step(&grads)?;
        self.steps += 1;
        let gradients = match grads.get(&stacked) {
            Some(grad) if gradients => {
                // `[batch, used, dim]` back to every neighbour's
                // `[batch][dim]`, zeros for those not read.
                let grad = grad.transpose(0, 1)?.contiguous()?.to_vec3::<f32>()?;
                let batch = own.len();
                let mut all = vec![vec![vec![0.0; self.dim]; batch]; self.neighbours];
                for (j, rows) in used.iter().zip(grad) {
                    all[*j] = rows;
                }
                Some(all)
            }
            _ => None,
        };
        Ok(Step {
            loss: loss.to_scalar()?,
            importance: gates.mean(0)?.to_vec1()?,
            gradients,
        })
    }

    /// Each input's loss, with every neighbour and without each: what each
    /// neighbour adds to each input (its loss without it minus with it;
    /// `[neighbour][input]`), each input going to the neighbours of its
    /// `masks` (the judge's choice), mixed by the gate's weights among
    /// them. Removing a neighbour takes its term out of the mixture and
    /// leaves the others' weights as they were: renormalising them would
    /// credit any neighbour, a random vector too, with what the rescaling
    /// does (README, "Valuing neighbours"). Also the batch's mean loss
    /// with every neighbour.
    pub fn leave_one_out(
        &self,
        own: &[Vec<f32>],
        neighbours: &[Vec<Vec<f32>>],
        next: &[u8],
        masks: &Masks,
    ) -> candle_core::Result<(f32, Vec<Vec<f32>>)> {
        let gates = self.masked_gates(self.scores(own)?, masks)?;
        let targets: Vec<u32> = next.iter().map(|b| u32::from(*b)).collect();
        let targets = Tensor::from_vec(targets, (next.len(), 1), &self.device)?;
        let losses = |gates: &Tensor| -> candle_core::Result<Vec<f32>> {
            let mixture = self.mixture_of(gates, neighbours)?;
            let log_p = candle_nn::ops::log_softmax(&self.logits(own, &mixture)?, 1)?;
            log_p.gather(&targets, 1)?.squeeze(1)?.neg()?.to_vec1()
        };
        let with_all = losses(&gates)?;
        let used = self.used(&gates)?;
        let mut gains = Vec::with_capacity(self.neighbours);
        for j in 0..self.neighbours {
            // One no input is judged with adds nothing to any.
            if !used.contains(&j) {
                gains.push(vec![0.0; with_all.len()]);
                continue;
            }
            let mut drop = vec![1.0f32; self.neighbours];
            drop[j] = 0.0;
            let drop = Tensor::from_vec(drop, self.neighbours, &self.device)?;
            let without = losses(&gates.broadcast_mul(&drop)?)?;
            gains.push(without.iter().zip(&with_all).map(|(w, a)| w - a).collect());
        }
        let mean = with_all.iter().sum::<f32>() / with_all.len().max(1) as f32;
        Ok((mean, gains))
    }
}

#[cfg(test)]
mod tests {
    use super::{LEARNING_RATE, LEARNING_RATE_FLOOR, learning_rate};

    #[test]
    fn the_step_size_halves_after_one_epoch_of_learning_and_never_stops() {
        assert_eq!(learning_rate(0), LEARNING_RATE);
        assert!((learning_rate(60) - LEARNING_RATE / 2.0).abs() < 1e-15);
        assert!(learning_rate(180) < learning_rate(120));
        // A peer that learns for weeks still learns.
        assert_eq!(learning_rate(usize::MAX), LEARNING_RATE_FLOOR);
        assert_eq!(learning_rate(540), LEARNING_RATE_FLOOR);
    }
}
