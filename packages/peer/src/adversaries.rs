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

#[cfg(test)]
mod tests {
    use super::*;

    /// Serves `value` in every coordinate.
    struct Constant(f32);

    impl Model for Constant {
        fn context(&self) -> usize {
            4
        }
        fn dim(&self) -> usize {
            8
        }
        fn forward(&self, inputs: &[Vec<u8>]) -> candle_core::Result<Vec<Vec<f32>>> {
            Ok(vec![vec![self.0; 8]; inputs.len()])
        }
    }

    /// The largest distance of a noisy output from the clean `value`.
    fn widest_noise(value: f32) -> f32 {
        let inputs = vec![vec![0u8; 4]; 64];
        let noisy = Noisy::new(Arc::new(Constant(value)), &inputs, 7).unwrap();
        noisy
            .forward(&inputs)
            .unwrap()
            .iter()
            .flatten()
            .map(|v| (v - value).abs())
            .fold(0.0, f32::max)
    }

    #[test]
    fn the_noise_is_three_times_the_models_range_and_at_least_three() {
        // A model serving 10s is drowned in noise up to ±30.
        let wide = widest_noise(10.0);
        assert!(wide > 25.0 && wide <= 30.0, "{wide}");
        // One within the unit interval (a tanh model's) in noise up to ±3.
        let narrow = widest_noise(0.5);
        assert!(narrow > 2.5 && narrow <= 3.0, "{narrow}");
    }
}
