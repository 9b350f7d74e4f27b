//! What an axon serves.

/// A model that maps byte contexts to representations (the TEXT graph).
pub trait Model: Send + Sync + 'static {
    /// Bytes per input.
    fn context(&self) -> usize;
    /// Length of a representation.
    fn dim(&self) -> usize;
    /// One representation of length `dim()` per input; every input has
    /// `context()` bytes. A failure is an error, never zeros: the axon
    /// answers it with a 500 rather than serve a vector that means nothing.
    fn forward(&self, inputs: &[Vec<u8>]) -> candle_core::Result<Vec<Vec<f32>>>;
    /// Whether the model has a hidden state at every position of an input
    /// (a transformer), served by `POST /hidden`; a model that reads a
    /// window into one vector has not (the default).
    fn serves_hidden(&self) -> bool {
        false
    }
    /// Every position's hidden state, `[batch][context][dim]` (paper §6's
    /// standard output shape), when [`Model::serves_hidden`].
    fn hidden(&self, inputs: &[Vec<u8>]) -> candle_core::Result<Vec<Vec<Vec<f32>>>> {
        let _ = inputs;
        Err(candle_core::Error::Msg(
            "this model serves one representation per input".to_string(),
        ))
    }
    /// Learns from a caller's gradient (whitepaper §5, `POST /backward`):
    /// `gradients[i]` is the caller's loss gradient with respect to the
    /// representation of `inputs[i]` it received. One step within `bound`.
    /// A model that cannot learn this way refuses (the default).
    fn backward(
        &self,
        inputs: &[Vec<u8>],
        gradients: &[Vec<f32>],
        bound: StepBound,
    ) -> candle_core::Result<Applied> {
        let _ = (inputs, gradients, bound);
        Err(candle_core::Error::Msg(
            "this model does not learn from gradients".to_string(),
        ))
    }
}

/// The model a peer serves and learns with (its own, `f`): what its
/// learner reads besides what it serves.
pub trait Learner: Model {
    /// The next-byte readout: `[dim, 256]` weight and `[256]` bias that
    /// turn a representation into logits (detached).
    fn readout(&self) -> candle_core::Result<(candle_core::Tensor, candle_core::Tensor)>;
    /// Next-byte logits `[batch, 256]` of `[batch, dim]` representations,
    /// through its own readout, differentiable in it (the served model
    /// learns through the network with it).
    fn read(
        &self,
        representations: &candle_core::Tensor,
    ) -> candle_core::Result<candle_core::Tensor>;
    /// Mean cross-entropy (nats per byte) of the byte after each context.
    fn loss(&self, contexts: &[Vec<u8>], next: &[u8]) -> candle_core::Result<candle_core::Tensor>;
    /// `[batch, dim]` representations, differentiable in
    /// [`Learner::variables`] (a student learns through them).
    fn represent(&self, contexts: &[Vec<u8>]) -> candle_core::Result<candle_core::Tensor>;
    /// Its trainable parameters.
    fn variables(&self) -> Vec<candle_core::Var>;
    /// Reads a checkpoint (safetensors) of the same shape.
    fn load(&mut self, path: &std::path::Path) -> candle_core::Result<()>;
    /// Mean loss over `batches` fixed batches of `text` (held-out loss).
    fn evaluate(&self, text: &[u8], batches: usize, batch_size: usize) -> candle_core::Result<f32> {
        crate::local::held_out_loss(text, self.context(), batches, batch_size, |c, n| {
            self.loss(c, n)
        })
    }
    /// Whether the learner's head also re-reads this model's own
    /// representation (a second readout, learned beside the frozen one):
    /// worth it where the model's own readout is weak (the window model's
    /// weakest peers), harmful where the model has learned its shard well
    /// (the transformer, on whose shard the head learns to trust it more
    /// than held-out text bears out; README, "The transformer in the
    /// market").
    fn head_rereads_own(&self) -> bool {
        true
    }
    /// `steps` training steps on `text` (batches of `batch_size`, seeded
    /// from `seed`); the last loss. It may serve meanwhile: the
    /// parameters are updated in place.
    fn train(
        &self,
        text: &[u8],
        steps: usize,
        batch_size: usize,
        seed: u64,
    ) -> candle_core::Result<f32>;
}

/// How far one `/backward` step may move a model: the gradient is
/// clipped to `max_norm` (over all its parameters), then scaled by `lr`,
/// so no step is longer than `lr × max_norm` however large the gradient
/// a caller sends.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct StepBound {
    pub lr: f32,
    pub max_norm: f32,
}

impl Default for StepBound {
    fn default() -> Self {
        Self {
            lr: 0.05,
            max_norm: 1.0,
        }
    }
}

/// What one `/backward` step did.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Applied {
    /// The parameter gradient's norm, before clipping.
    pub norm: f32,
    /// The length of the step taken (`lr × min(norm, max_norm)`).
    pub step: f32,
}
