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

/// A good model drowned in noise three times its range.
pub struct Noisy {
    inner: Arc<dyn Model>,
    noise: Lazy,
}

impl Noisy {
    pub fn new(inner: Arc<dyn Model>, seed: u64) -> Self {
        let noise = Lazy::new(inner.context(), inner.dim(), seed);
        Self { inner, noise }
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
            .map(|(c, n)| c.iter().zip(n).map(|(c, n)| c + 3.0 * n).collect())
            .collect())
    }
}
