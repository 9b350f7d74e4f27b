//! The market's adversaries: peers that serve nothing they learned
//! (also what a probe must find nothing in, `crate::quality`).

use std::sync::{Arc, Mutex};

use rand::Rng;
use rand::rngs::StdRng;

use crate::Model;
use crate::rng::seeded;

/// Random vectors: a peer that serves nothing it learned.
pub struct Lazy {
    dim: usize,
    context: usize,
    rng: Mutex<StdRng>,
}

impl Lazy {
    pub fn new(context: usize, dim: usize, seed: u64) -> Self {
        Self {
            dim,
            context,
            rng: Mutex::new(seeded(seed)),
        }
    }
}

impl Model for Lazy {
    fn context(&self) -> usize {
        self.context
    }
    fn dim(&self) -> usize {
        self.dim
    }
    fn forward(&self, inputs: &[Vec<u8>]) -> candle_core::Result<Vec<Vec<f32>>> {
        let mut rng = self.rng.lock().expect("not poisoned");
        Ok(inputs
            .iter()
            .map(|_| (0..self.dim).map(|_| rng.gen_range(-1.0..1.0)).collect())
            .collect())
    }
}

/// A good model drowned in noise: uniform in ± three times its range.
pub struct Noisy {
    inner: Arc<dyn Model>,
    noise: Lazy,
    amplitude: f32,
}

/// How many times its range the noise is.
const NOISE_TIMES_RANGE: f32 = 3.0;

impl Noisy {
    /// `inner`'s range is the largest magnitude it serves on `sample`, and
    /// at least 1 (a tanh model's): a model whose outputs are not bounded
    /// (the transformer's layer-normed states) is drowned alike.
    pub fn new(inner: Arc<dyn Model>, sample: &[Vec<u8>], seed: u64) -> candle_core::Result<Self> {
        let range = inner
            .forward(sample)?
            .iter()
            .flatten()
            .fold(1.0f32, |range, value| range.max(value.abs()));
        let noise = Lazy::new(inner.context(), inner.dim(), seed);
        Ok(Self {
            inner,
            noise,
            amplitude: NOISE_TIMES_RANGE * range,
        })
    }
}

impl Model for Noisy {
    fn context(&self) -> usize {
        self.inner.context()
    }
    fn dim(&self) -> usize {
        self.inner.dim()
    }
    fn forward(&self, inputs: &[Vec<u8>]) -> candle_core::Result<Vec<Vec<f32>>> {
        let clean = self.inner.forward(inputs)?;
        let noise = self.noise.forward(inputs)?;
        Ok(clean
            .iter()
            .zip(noise)
            .map(|(c, n)| {
                c.iter()
                    .zip(n)
                    .map(|(c, n)| c + self.amplitude * n)
                    .collect()
            })
            .collect())
    }
}
