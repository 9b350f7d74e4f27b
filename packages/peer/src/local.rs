//! The local model (whitepaper §5): byte contexts in, a `dim`-dimensional
//! representation out, and a next-byte head for the local loss.

use std::sync::Mutex;

use candle_core::{DType, Device, Module, Tensor};
use candle_nn::{
    AdamW, Embedding, Linear, Optimizer, ParamsAdamW, VarBuilder, VarMap, embedding, linear,
};

use rand::Rng;

use crate::Model;
use crate::model::{Applied, Learner, StepBound};
use crate::rng::seeded;

#[derive(Clone, Copy, Debug)]
pub struct Shape {
    /// Bytes of context.
    pub context: usize,
    /// Width of a byte's embedding.
    pub embed: usize,
    pub hidden: usize,
    /// Width of the representation peers exchange.
    pub dim: usize,
}

/// Inputs and the representations a student should give for them.
pub type DistillPair = (Vec<Vec<u8>>, Vec<Vec<f32>>);

/// Representation network and head, with their parameters.
pub struct LocalModel {
    pub shape: Shape,
    vars: VarMap,
    embed: Embedding,
    hidden: Linear,
    repr: Linear,
    head: Linear,
    device: Device,
    /// AdamW's step size in [`Learner::train`].
    learning_rate: f64,
    /// `/backward` steps, one at a time (a step reads and writes every
    /// parameter).
    stepping: Mutex<()>,
}

/// The step size a model trains with unless told otherwise
/// ([`LocalModel::with_learning_rate`]): `agora demo`'s.
pub const DEFAULT_LEARNING_RATE: f64 = 3e-3;

/// How the market and a daemon train a window model: batches of
/// [`TRAIN_BATCH`] contexts at step size [`TRAIN_LEARNING_RATE`] (README,
/// "The market's recipe": 0.77 of the bigram after 2,000 steps, against
/// 0.82 at 64 and 3e-3).
pub const TRAIN_BATCH: usize = 128;
pub const TRAIN_LEARNING_RATE: f64 = 5e-3;

/// Contexts and their next bytes sampled from `text`, deterministically.
pub fn batch(text: &[u8], context: usize, size: usize, seed: u64) -> (Vec<Vec<u8>>, Vec<u8>) {
    let span = text.len().saturating_sub(context + 1).max(1);
    let mut rng = seeded(seed);
    (0..size)
        .map(|_| {
            let start = rng.gen_range(0..span);
            (text[start..start + context].to_vec(), text[start + context])
        })
        .unzip()
}

impl LocalModel {
    /// A model whose initial parameters depend on `seed` alone (candle's
    /// CPU device cannot be seeded, so they are drawn here).
    pub fn new(shape: Shape, seed: u64) -> candle_core::Result<Self> {
        let device = Device::Cpu;
        let vars = VarMap::new();
        let vb = VarBuilder::from_varmap(&vars, DType::F32, &device);
        let model = Self {
            embed: embedding(256, shape.embed, vb.pp("embed"))?,
            hidden: linear(shape.context * shape.embed, shape.hidden, vb.pp("hidden"))?,
            repr: linear(shape.hidden, shape.dim, vb.pp("repr"))?,
            head: linear(shape.dim, 256, vb.pp("head"))?,
            shape,
            vars,
            device,
            learning_rate: DEFAULT_LEARNING_RATE,
            stepping: Mutex::new(()),
        };
        model.initialize(seed)?;
        Ok(model)
    }

    /// Uniform in ±1/√fan_in for weights (±1 for embeddings), zero biases,
    /// from a generator seeded with `seed`, in name order.
    fn initialize(&self, seed: u64) -> candle_core::Result<()> {
        let data = self.vars.data().lock().expect("not poisoned");
        let mut names: Vec<&String> = data.keys().collect();
        names.sort();
        let mut rng = seeded(seed);
        for name in names {
            let var = &data[name];
            let dims = var.dims().to_vec();
            let bound = if name.ends_with("bias") {
                0.0
            } else if name.starts_with("embed") {
                1.0
            } else {
                1.0 / (dims[dims.len() - 1] as f32).sqrt()
            };
            let values: Vec<f32> = (0..var.elem_count())
                .map(|_| (2.0 * rng.r#gen::<f32>() - 1.0) * bound)
                .collect();
            var.set(&Tensor::from_vec(values, dims, &self.device)?)?;
        }
        Ok(())
    }

    /// The same model, training with step size `learning_rate`.
    pub fn with_learning_rate(mut self, learning_rate: f64) -> Self {
        self.learning_rate = learning_rate;
        self
    }

    /// Number of parameters.
    pub fn parameters(&self) -> usize {
        self.vars.all_vars().iter().map(|v| v.elem_count()).sum()
    }

    fn inputs(&self, contexts: &[Vec<u8>]) -> candle_core::Result<Tensor> {
        let flat: Vec<u32> = contexts.iter().flatten().map(|b| u32::from(*b)).collect();
        Tensor::from_vec(flat, (contexts.len(), self.shape.context), &self.device)
    }

    /// A model of the same shape with a copy of these parameters.
    pub fn duplicate(&self) -> candle_core::Result<Self> {
        let copy = Self::new(self.shape, 0)?.with_learning_rate(self.learning_rate);
        {
            let mine = self.vars.data().lock().expect("not poisoned");
            let theirs = copy.vars.data().lock().expect("not poisoned");
            for (name, var) in mine.iter() {
                if let Some(target) = theirs.get(name) {
                    target.set(&var.as_tensor().copy()?)?;
                }
            }
        }
        Ok(copy)
    }

    /// Writes the parameters as safetensors.
    pub fn save(&self, path: &std::path::Path) -> candle_core::Result<()> {
        self.vars.save(path)
    }
}

/// Mean of `loss` over `batches` fixed batches of `text` of `context`
/// bytes each: the same batches for every model of that context, so their
/// held-out losses compare.
pub fn held_out_loss(
    text: &[u8],
    context: usize,
    batches: usize,
    batch_size: usize,
    loss: impl Fn(&[Vec<u8>], &[u8]) -> candle_core::Result<Tensor>,
) -> candle_core::Result<f32> {
    let mut total = 0.0;
    for index in 0..batches {
        let (contexts, next) = batch(text, context, batch_size, 1_000_000 + index as u64);
        total += loss(&contexts, &next)?.to_scalar::<f32>()?;
    }
    Ok(total / batches.max(1) as f32)
}

impl Learner for LocalModel {
    /// The next-byte readout, detached: its `[dim, 256]` weight and
    /// `[256]` bias (what turns a representation into logits).
    fn readout(&self) -> candle_core::Result<(Tensor, Tensor)> {
        let weight = self.head.weight().t()?.contiguous()?.detach();
        let bias = self.head.bias().expect("linear has a bias").detach();
        Ok((weight.copy()?, bias.copy()?))
    }

    /// `[batch, dim]` representations.
    fn represent(&self, contexts: &[Vec<u8>]) -> candle_core::Result<Tensor> {
        let x = self.embed.forward(&self.inputs(contexts)?)?;
        let x = x.flatten_from(1)?;
        let x = self.hidden.forward(&x)?.relu()?;
        self.repr.forward(&x)?.tanh()
    }

    fn read(&self, representations: &Tensor) -> candle_core::Result<Tensor> {
        self.head.forward(representations)
    }

    /// Mean cross-entropy of the next byte.
    fn loss(&self, contexts: &[Vec<u8>], next: &[u8]) -> candle_core::Result<Tensor> {
        let logits = self.read(&self.represent(contexts)?)?;
        let targets: Vec<u32> = next.iter().map(|b| u32::from(*b)).collect();
        let targets = Tensor::from_vec(targets, next.len(), &self.device)?;
        candle_nn::loss::cross_entropy(&logits, &targets)
    }

    /// `steps` steps of AdamW on batches from `text` (a fresh optimizer
    /// each call); the last loss. It may serve meanwhile (whitepaper §5:
    /// what a peer serves improves): one training at a time with callers'
    /// `/backward` steps, which it never interleaves with.
    fn train(
        &self,
        text: &[u8],
        steps: usize,
        batch_size: usize,
        seed: u64,
    ) -> candle_core::Result<f32> {
        let _one_at_a_time = self.stepping.lock().unwrap_or_else(|e| e.into_inner());
        let params = ParamsAdamW {
            lr: self.learning_rate,
            ..ParamsAdamW::default()
        };
        let mut optimizer = AdamW::new(self.vars.all_vars(), params)?;
        let mut last = f32::NAN;
        for step in 0..steps {
            let (contexts, next) = batch(text, self.shape.context, batch_size, seed + step as u64);
            let loss = self.loss(&contexts, &next)?;
            optimizer.backward_step(&loss)?;
            last = loss.to_scalar::<f32>()?;
        }
        Ok(last)
    }

    /// Its trainable parameters (a distilling teacher trains them).
    fn variables(&self) -> Vec<candle_core::Var> {
        self.vars.all_vars()
    }

    /// Reads parameters written by [`LocalModel::save`] for the same shape.
    fn load(&mut self, path: &std::path::Path) -> candle_core::Result<()> {
        self.vars.load(path)
    }
}

impl Model for LocalModel {
    fn context(&self) -> usize {
        self.shape.context
    }
    fn dim(&self) -> usize {
        self.shape.dim
    }
    fn forward(&self, inputs: &[Vec<u8>]) -> candle_core::Result<Vec<Vec<f32>>> {
        self.represent(inputs)?.to_vec2::<f32>()
    }

    /// The caller's loss `L` reaches these parameters only through the
    /// representations `r`, so `Σ r·(∂L/∂r)` has their gradient as its own
    /// (the chain rule); one clipped SGD step along it. The next-byte head
    /// is not on that path and stays.
    fn backward(
        &self,
        inputs: &[Vec<u8>],
        gradients: &[Vec<f32>],
        bound: StepBound,
    ) -> candle_core::Result<Applied> {
        let _one_at_a_time = self.stepping.lock().unwrap_or_else(|e| e.into_inner());
        let flat: Vec<f32> = gradients.iter().flatten().copied().collect();
        let upstream = Tensor::from_vec(flat, (gradients.len(), self.shape.dim), &self.device)?;
        let surrogate = (self.represent(inputs)? * upstream)?.sum_all()?;
        let grads = surrogate.backward()?;
        let mut squared = 0.0f32;
        let mut steps = Vec::new();
        for var in self.vars.all_vars() {
            if let Some(grad) = grads.get(var.as_tensor()) {
                squared += grad.sqr()?.sum_all()?.to_scalar::<f32>()?;
                steps.push((var, grad.clone()));
            }
        }
        let norm = squared.sqrt();
        if !norm.is_finite() {
            return Err(candle_core::Error::Msg(
                "the gradient is not finite".to_string(),
            ));
        }
        let scale = if norm > 0.0 {
            bound.lr * (bound.max_norm / norm).min(1.0)
        } else {
            0.0
        };
        for (var, grad) in steps {
            var.set(&(var.as_tensor() - (grad * f64::from(scale))?)?)?;
        }
        Ok(Applied {
            norm,
            step: scale * norm,
        })
    }
}
