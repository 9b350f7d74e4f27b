//! Learning through neighbours with sparse gating (whitepaper §7), and what
//! each neighbour is worth (§9).
//!
//! For each input, a gate scores the neighbours from this peer's own
//! representation and keeps the top `k`; the head reads the own
//! representation beside the gated sum of the neighbours' and corrects the
//! local model's own next-byte logits (its frozen readout). The correction
//! starts at zero, so through the network a peer starts exactly as good as
//! alone and learns only what its neighbours add. The local model stays as
//! trained. Only neighbours in some input's top `k` are called.
//!
//! Known defect (issue 15): the gate's softmax is candle-nn's
//! `softmax_last_dim`, which has no backward pass, so the gate never
//! learns: its scores stay 0 and every input routes to the lowest-indexed
//! neighbours. Giving it a gradient (with noisy top-k and a
//! load-balancing loss) changes who is paid; README, "The peer's corpus",
//! has the measurements.

use candle_core::{DType, Device, Module, Tensor, Var};
use candle_nn::{AdamW, Linear, Optimizer, ParamsAdamW, VarBuilder, VarMap, linear};

/// The sparse gate over `neighbours` neighbours of width `dim`, and the
/// head that reads the own representation beside their gated mixture.
pub struct GatedHead {
    pub neighbours: usize,
    pub top_k: usize,
    dim: usize,
    vars: VarMap,
    gate: Linear,
    head: Linear,
    device: Device,
    optimizer: Option<AdamW>,
    /// The local model's frozen readout (`[dim, 256]` weight, `[256]`
    /// bias): the own logits the head corrects.
    readout: (Tensor, Tensor),
}

/// Per neighbour called (by index), the inputs of the batch (by row)
/// sent to it.
pub type Routes = Vec<(usize, Vec<usize>)>;

/// What one batch gives: the loss and each neighbour's mean gate weight.
pub struct Step {
    pub loss: f32,
    pub importance: Vec<f32>,
    /// When asked for: per neighbour, the loss gradient with respect to
    /// each output it gave (`[batch][dim]`; zeros for inputs not routed
    /// to it), what `POST /backward` sends back.
    pub gradients: Option<Vec<Vec<Vec<f32>>>>,
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
    ) -> candle_core::Result<Self> {
        let device = Device::Cpu;
        let vars = VarMap::new();
        let vb = VarBuilder::from_varmap(&vars, DType::F32, &device);
        let gate = linear(dim, neighbours.max(1), vb.pp("gate"))?;
        let head = linear(2 * dim, 256, vb.pp("head"))?;
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
            head,
            device,
            optimizer: None,
            readout,
        })
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

    /// Where each input of the batch goes, to its `k` best neighbours: per
    /// neighbour some input routes to (the only ones worth calling), the
    /// inputs routed to it.
    pub fn routes(&self, own: &[Vec<f32>], k: usize) -> candle_core::Result<Routes> {
        let k = k.clamp(1, self.neighbours.max(1));
        let masks = self.top_k_masks(&self.scores(own)?, k)?;
        Ok((0..self.neighbours)
            .map(|j| {
                let rows: Vec<usize> = (0..masks.len()).filter(|row| masks[*row][j]).collect();
                (j, rows)
            })
            .filter(|(_, rows)| !rows.is_empty())
            .collect())
    }

    fn tensor(&self, rows: &[Vec<f32>], width: usize) -> candle_core::Result<Tensor> {
        let flat: Vec<f32> = rows.iter().flatten().copied().collect();
        Tensor::from_vec(flat, (rows.len(), width), &self.device)
    }

    fn scores(&self, own: &[Vec<f32>]) -> candle_core::Result<Tensor> {
        self.gate.forward(&self.tensor(own, self.dim)?)
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
    /// `k`, 0 elsewhere; `without` drops one neighbour from every gate
    /// (leave-one-out), and a row left with none mixes nothing.
    fn gates(
        &self,
        own: &[Vec<f32>],
        without: Option<usize>,
        k: usize,
    ) -> candle_core::Result<Tensor> {
        let scores = self.scores(own)?;
        let keep: Vec<f32> = self
            .top_k_masks(&scores, k)?
            .iter()
            .flat_map(|row| {
                row.iter()
                    .enumerate()
                    .map(|(j, kept)| {
                        if *kept && Some(j) != without {
                            1.0
                        } else {
                            0.0
                        }
                    })
                    .collect::<Vec<_>>()
            })
            .collect();
        let keep = Tensor::from_vec(keep, (own.len(), self.neighbours), &self.device)?;
        let penalty = ((&keep - 1.0)? * 1e9)?;
        candle_nn::ops::softmax_last_dim(&(scores + penalty)?)? * keep
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

    /// Loss of the batch, and the gates that gave it.
    fn forward(
        &self,
        own: &[Vec<f32>],
        neighbours: &[Vec<Vec<f32>>],
        next: &[u8],
        without: Option<usize>,
        k: usize,
    ) -> candle_core::Result<(Tensor, Tensor)> {
        let gates = self.gates(own, without, k)?;
        let used = self.used(&gates)?;
        let mixture = self.mix(&gates, &used, &self.stack(neighbours, &used)?)?;
        Ok((self.head_loss(own, &mixture, next)?, gates))
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

    /// Next-byte logits `[batch, 256]` from the own representations and a
    /// mixture `[batch, dim]` (the neighbours', or a student's).
    pub fn logits(&self, own: &[Vec<f32>], mixture: &Tensor) -> candle_core::Result<Tensor> {
        let own = self.tensor(own, self.dim)?;
        let features = Tensor::cat(&[&own, mixture], 1)?;
        let logits = self.head.forward(&features)?;
        let (weight, bias) = &self.readout;
        logits + own.matmul(weight)?.broadcast_add(bias)?
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
        let gates = self.gates(own, None, self.top_k)?;
        let used = self.used(&gates)?;
        self.mix(&gates, &used, &self.stack(neighbours, &used)?)?
            .to_vec2()
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
        gradients: bool,
    ) -> candle_core::Result<Step> {
        let gates = self.gates(own, None, self.top_k)?;
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
        if self.optimizer.is_none() {
            let params = ParamsAdamW {
                lr: 1e-2,
                ..ParamsAdamW::default()
            };
            self.optimizer = Some(AdamW::new(self.vars.all_vars(), params)?);
        }
        let grads = loss.backward()?;
        self.optimizer.as_mut().expect("set above").step(&grads)?;
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

    /// The batch's loss, with every neighbour and without each: what each
    /// neighbour adds (loss without it minus loss with it), each input
    /// routed to its `routes` best neighbours by the gate (the gate's own
    /// `k` when learning; a judge may look wider).
    pub fn leave_one_out(
        &self,
        own: &[Vec<f32>],
        neighbours: &[Vec<Vec<f32>>],
        next: &[u8],
        routes: usize,
    ) -> candle_core::Result<(f32, Vec<f32>)> {
        let routes = routes.clamp(1, self.neighbours.max(1));
        let (with_all, _) = self.forward(own, neighbours, next, None, routes)?;
        let with_all: f32 = with_all.to_scalar()?;
        let mut gains = Vec::with_capacity(self.neighbours);
        for j in 0..self.neighbours {
            let (without, _) = self.forward(own, neighbours, next, Some(j), routes)?;
            gains.push(without.to_scalar::<f32>()? - with_all);
        }
        Ok((with_all, gains))
    }
}
