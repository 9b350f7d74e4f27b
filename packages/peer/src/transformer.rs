//! A byte-level causal transformer (pre-LayerNorm, learned positions, a
//! next-byte head tied to the byte embedding): the peer's language model
//! where it is asked for (`agora peer market --model small`; the window
//! MLP stays the default). Byte contexts in; `/forward` serves the last
//! position's hidden state, a `dim`-wide representation of all `context`
//! bytes before the byte to predict, and `/hidden` every position's.
//! `agora bench lm` trains it and measures it against the byte-bigram
//! baseline; `agora bench axon --model release` measures an axon serving
//! it.

use candle_core::{D, DType, Device, IndexOp, Module, Tensor};
use candle_nn::{
    AdamW, Embedding, Init, Linear, Optimizer, ParamsAdamW, VarBuilder, VarMap, embedding, linear,
};

use rand::Rng;

use crate::Model;
use crate::local::batch;
use crate::model::Learner;
use crate::rng::seeded;

/// The transformer's shape. Every peer of a graph must share `context`
/// and `dim` (they are the wire format); `layers` and `heads` are its own.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TransformerShape {
    /// Bytes of context.
    pub context: usize,
    /// Width of the residual stream, and of the representation served.
    pub dim: usize,
    pub layers: usize,
    /// Attention heads; `dim` must be a multiple.
    pub heads: usize,
}

impl TransformerShape {
    /// The release shape: 4 layers × 128 wide × 4 heads, 64 bytes of
    /// context (about 0.8M parameters).
    pub const RELEASE: Self = Self {
        context: 64,
        dim: 128,
        layers: 4,
        heads: 4,
    };
    /// The small shape (about 0.1M parameters): `agora bench lm`'s
    /// default, which two cores train to below the bigram in a minute.
    pub const SMALL: Self = Self {
        context: 32,
        dim: 64,
        layers: 2,
        heads: 4,
    };

    /// Why the shape cannot be built, if it cannot.
    pub fn check(&self) -> Result<(), String> {
        if self.context == 0 || self.dim == 0 || self.layers == 0 || self.heads == 0 {
            return Err("context, dim, layers and heads must be positive".into());
        }
        if !self.dim.is_multiple_of(self.heads) {
            return Err(format!(
                "dim ({}) must be a multiple of heads ({})",
                self.dim, self.heads
            ));
        }
        Ok(())
    }
}

/// LayerNorm through candle's differentiable ops: candle-nn's `LayerNorm`
/// takes a fused kernel with no backward pass on contiguous input, so its
/// gain, its bias and everything before it would never learn.
struct Norm {
    weight: Tensor,
    bias: Tensor,
}

impl Norm {
    fn new(dim: usize, vb: VarBuilder) -> candle_core::Result<Self> {
        Ok(Self {
            weight: vb.get_with_hints(dim, "weight", Init::Const(1.0))?,
            bias: vb.get_with_hints(dim, "bias", Init::Const(0.0))?,
        })
    }

    fn forward(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        candle_nn::ops::layer_norm_slow(x, &self.weight, &self.bias, 1e-5)
    }
}

/// One pre-LayerNorm block: causal self-attention, then a 4× ReLU MLP.
struct Block {
    norm_attention: Norm,
    qkv: Linear,
    projection: Linear,
    norm_mlp: Norm,
    expand: Linear,
    contract: Linear,
    heads: usize,
}

impl Block {
    fn new(dim: usize, heads: usize, vb: VarBuilder) -> candle_core::Result<Self> {
        Ok(Self {
            norm_attention: Norm::new(dim, vb.pp("ln_attention"))?,
            qkv: linear(dim, 3 * dim, vb.pp("qkv"))?,
            projection: linear(dim, dim, vb.pp("projection"))?,
            norm_mlp: Norm::new(dim, vb.pp("ln_mlp"))?,
            expand: linear(dim, 4 * dim, vb.pp("expand"))?,
            contract: linear(4 * dim, dim, vb.pp("contract"))?,
            heads,
        })
    }

    /// `x`: `[batch, seq, dim]`; `mask`: `[seq, seq]`, −10⁹ above the
    /// diagonal (a finite −∞: no NaN in the backward pass).
    fn forward(&self, x: &Tensor, mask: &Tensor) -> candle_core::Result<Tensor> {
        let (batch, seq, dim) = x.dims3()?;
        let head = dim / self.heads;
        let qkv = self.qkv.forward(&self.norm_attention.forward(x)?)?;
        let qkv = qkv.reshape((batch, seq, 3, self.heads, head))?;
        let part = |i: usize| qkv.i((.., .., i))?.transpose(1, 2)?.contiguous();
        let (q, k, v) = (part(0)?, part(1)?, part(2)?);
        let scores = (q.matmul(&k.t()?)? / (head as f64).sqrt())?.broadcast_add(mask)?;
        // candle-nn's `softmax_last_dim` has no backward pass.
        let attended = candle_nn::ops::softmax(&scores, D::Minus1)?.matmul(&v)?;
        let attended = attended.transpose(1, 2)?.reshape((batch, seq, dim))?;
        let x = (x + self.projection.forward(&attended)?)?;
        // ReLU, not GELU: as good here in as many steps, and a quarter
        // faster on the CPU (GELU's tanh and powf dominate a small model).
        let hidden = self.expand.forward(&self.norm_mlp.forward(&x)?)?.relu()?;
        x + self.contract.forward(&hidden)?
    }
}

/// The transformer and its parameters.
pub struct Transformer {
    pub shape: TransformerShape,
    vars: VarMap,
    bytes: Embedding,
    positions: Embedding,
    blocks: Vec<Block>,
    norm_out: Norm,
    mask: Tensor,
    device: Device,
}

impl Transformer {
    /// A model whose initial parameters depend on `seed` alone (candle's
    /// CPU device cannot be seeded, so they are drawn here).
    pub fn new(shape: TransformerShape, seed: u64) -> candle_core::Result<Self> {
        shape.check().map_err(candle_core::Error::Msg)?;
        let device = Device::Cpu;
        let vars = VarMap::new();
        let vb = VarBuilder::from_varmap(&vars, DType::F32, &device);
        let blocks = (0..shape.layers)
            .map(|i| Block::new(shape.dim, shape.heads, vb.pp(format!("block{i}"))))
            .collect::<candle_core::Result<_>>()?;
        let mask: Vec<f32> = (0..shape.context)
            .flat_map(|row| (0..shape.context).map(move |col| if col > row { -1e9 } else { 0.0 }))
            .collect();
        let model = Self {
            bytes: embedding(256, shape.dim, vb.pp("bytes"))?,
            positions: embedding(shape.context, shape.dim, vb.pp("positions"))?,
            blocks,
            norm_out: Norm::new(shape.dim, vb.pp("ln_out"))?,
            mask: Tensor::from_vec(mask, (shape.context, shape.context), &device)?,
            shape,
            vars,
            device,
        };
        model.initialize(seed)?;
        Ok(model)
    }

    /// GPT-2's start, from a generator seeded with `seed`, in name order:
    /// weights and embeddings of standard deviation 0.02 (uniform), zero
    /// biases, LayerNorm gains 1.
    fn initialize(&self, seed: u64) -> candle_core::Result<()> {
        let data = self.vars.data().lock().expect("not poisoned");
        let mut names: Vec<&String> = data.keys().collect();
        names.sort();
        let mut rng = seeded(seed);
        let bound = 0.02 * 3f32.sqrt();
        for name in names {
            let var = &data[name];
            let values: Vec<f32> = if name.ends_with("bias") {
                vec![0.0; var.elem_count()]
            } else if name.contains("ln_") {
                vec![1.0; var.elem_count()]
            } else {
                (0..var.elem_count())
                    .map(|_| (2.0 * rng.r#gen::<f32>() - 1.0) * bound)
                    .collect()
            };
            var.set(&Tensor::from_vec(values, var.dims(), &self.device)?)?;
        }
        Ok(())
    }

    /// Number of parameters.
    pub fn parameters(&self) -> usize {
        self.vars.all_vars().iter().map(|v| v.elem_count()).sum()
    }

    fn tokens(&self, rows: &[Vec<u8>], width: usize) -> candle_core::Result<Tensor> {
        let flat: Vec<u32> = rows.iter().flatten().map(|b| u32::from(*b)).collect();
        Tensor::from_vec(flat, (rows.len(), width), &self.device)
    }

    /// Hidden states `[batch, seq, dim]` of `tokens` `[batch, seq]`, seq ≤
    /// context.
    fn states(&self, tokens: &Tensor) -> candle_core::Result<Tensor> {
        let seq = tokens.dim(1)?;
        let positions = Tensor::arange(0u32, seq as u32, &self.device)?;
        let mut x = self
            .bytes
            .forward(tokens)?
            .broadcast_add(&self.positions.forward(&positions)?)?;
        let mask = self.mask.i((..seq, ..seq))?;
        for block in &self.blocks {
            x = block.forward(&x, &mask)?;
        }
        self.norm_out.forward(&x)
    }

    /// Next-byte logits of hidden states, through the tied head.
    fn logits(&self, hidden: &Tensor) -> candle_core::Result<Tensor> {
        hidden.broadcast_matmul(&self.bytes.embeddings().t()?)
    }

    /// Mean cross-entropy of every next byte of windows of `context + 1`
    /// bytes: the language-model loss it trains on.
    fn sequence_loss(&self, windows: &[Vec<u8>]) -> candle_core::Result<Tensor> {
        let seq = self.shape.context;
        let all = self.tokens(windows, seq + 1)?;
        let logits = self.logits(&self.states(&all.narrow(1, 0, seq)?)?)?;
        let targets = all.narrow(1, 1, seq)?.flatten_all()?;
        candle_nn::loss::cross_entropy(&logits.flatten_to(D::Minus2)?, &targets)
    }

    /// Writes the parameters as safetensors.
    pub fn save(&self, path: &std::path::Path) -> candle_core::Result<()> {
        self.vars.save(path)
    }
}

/// What a learner reads of it: the tied head (the byte embedding,
/// transposed, and no bias), its loss, and its training.
impl Learner for Transformer {
    fn readout(&self) -> candle_core::Result<(Tensor, Tensor)> {
        let weight = self.bytes.embeddings().t()?.contiguous()?.detach().copy()?;
        Ok((weight, Tensor::zeros(256, DType::F32, &self.device)?))
    }

    /// `[batch, dim]` representations: the last position's hidden state.
    fn represent(&self, contexts: &[Vec<u8>]) -> candle_core::Result<Tensor> {
        let hidden = self.states(&self.tokens(contexts, self.shape.context)?)?;
        hidden.i((.., self.shape.context - 1))?.contiguous()
    }

    fn read(&self, representations: &Tensor) -> candle_core::Result<Tensor> {
        self.logits(representations)
    }

    /// Mean cross-entropy of the byte after each context (nats per byte).
    fn loss(&self, contexts: &[Vec<u8>], next: &[u8]) -> candle_core::Result<Tensor> {
        let logits = self.logits(&self.represent(contexts)?)?;
        let targets: Vec<u32> = next.iter().map(|b| u32::from(*b)).collect();
        let targets = Tensor::from_vec(targets, next.len(), &self.device)?;
        candle_nn::loss::cross_entropy(&logits, &targets)
    }

    fn variables(&self) -> Vec<candle_core::Var> {
        self.vars.all_vars()
    }

    /// Reads parameters written by [`Transformer::save`] for the same shape.
    fn load(&mut self, path: &std::path::Path) -> candle_core::Result<()> {
        self.vars.load(path)
    }

    fn head_rereads_own(&self) -> bool {
        false
    }

    /// `steps` steps of AdamW on batches from `text`; the last loss. It
    /// may serve meanwhile (the parameters are updated in place).
    fn train(
        &self,
        text: &[u8],
        steps: usize,
        batch_size: usize,
        seed: u64,
    ) -> candle_core::Result<f32> {
        let params = ParamsAdamW {
            lr: 2e-3,
            weight_decay: 0.0,
            ..ParamsAdamW::default()
        };
        let mut optimizer = AdamW::new(self.vars.all_vars(), params)?;
        let mut last = f32::NAN;
        for step in 0..steps {
            let (contexts, next) = batch(text, self.shape.context, batch_size, seed + step as u64);
            let windows: Vec<Vec<u8>> = contexts
                .into_iter()
                .zip(next)
                .map(|(mut window, byte)| {
                    window.push(byte);
                    window
                })
                .collect();
            let loss = self.sequence_loss(&windows)?;
            optimizer.backward_step(&loss)?;
            last = loss.to_scalar::<f32>()?;
        }
        Ok(last)
    }
}

/// What an axon serves from it: the last position's hidden state.
impl Model for Transformer {
    fn context(&self) -> usize {
        self.shape.context
    }
    fn dim(&self) -> usize {
        self.shape.dim
    }
    fn forward(&self, inputs: &[Vec<u8>]) -> candle_core::Result<Vec<Vec<f32>>> {
        self.represent(inputs)?.to_vec2::<f32>()
    }
    fn serves_hidden(&self) -> bool {
        true
    }
    fn hidden(&self, inputs: &[Vec<u8>]) -> candle_core::Result<Vec<Vec<Vec<f32>>>> {
        self.states(&self.tokens(inputs, self.shape.context)?)?
            .to_vec3::<f32>()
    }
}
