//! A peer's true quality, for tests and the demo: the held-out next-byte
//! loss of a linear probe trained on that peer's representations alone.
//!
//! The probe is trained to convergence and measured on 2,048 held-out
//! bytes: a probe on random vectors then learns the byte frequencies and
//! no more (within about 0.1 nats of the unigram loss), so what a peer's
//! probe does better than that is information its outputs carry. Trained
//! for 150 steps and measured on 256 bytes, as before, it ranked peers by
//! how fast a probe learns from them (random vectors 0.7 nats above their
//! converged loss in the market) and the three weakest peers by chance
//! (README, "How true quality is measured").

use candle_core::{DType, Device, Module, Tensor};
use candle_nn::{AdamW, Linear, Optimizer, ParamsAdamW, VarBuilder, VarMap, linear};

use crate::Model;
use crate::local::batch;

/// Training batches of 64 that take a probe to convergence on every
/// model here (1,000 and 2,000 rank the market's peers alike).
pub const PROBE_STEPS: usize = 1000;
/// Held-out batches of 64 a probe is measured on (the same for every
/// model, so peers are compared on the same bytes).
const PROBE_EVAL_BATCHES: u64 = 32;

/// Trains a probe for `steps` batches of `train` through `model`, then
/// returns its mean loss on [`PROBE_EVAL_BATCHES`] held-out batches (lower
/// is better).
pub fn probe_loss(
    model: &dyn Model,
    train: &[u8],
    held_out: &[u8],
    steps: usize,
) -> candle_core::Result<f32> {
    let device = Device::Cpu;
    let vars = VarMap::new();
    let probe: Linear = linear(
        model.dim(),
        256,
        VarBuilder::from_varmap(&vars, DType::F32, &device).pp("probe"),
    )?;
    for var in vars.all_vars() {
        var.set(&var.zeros_like()?)?;
    }
    let loss = |text: &[u8], seed: u64| -> candle_core::Result<Tensor> {
        let (contexts, next) = batch(text, model.context(), 64, seed);
        let rows: Vec<f32> = model.forward(&contexts)?.into_iter().flatten().collect();
        let x = Tensor::from_vec(rows, (contexts.len(), model.dim()), &device)?;
        let targets: Vec<u32> = next.iter().map(|b| u32::from(*b)).collect();
        let targets = Tensor::from_vec(targets, next.len(), &device)?;
        candle_nn::loss::cross_entropy(&probe.forward(&x)?, &targets)
    };
    let mut optimizer = AdamW::new(
        vars.all_vars(),
        ParamsAdamW {
            lr: 1e-2,
            ..ParamsAdamW::default()
        },
    )?;
    for step in 0..steps {
        optimizer.backward_step(&loss(train, step as u64)?)?;
    }
    let mut total = 0.0;
    for index in 0..PROBE_EVAL_BATCHES {
        total += loss(held_out, 2_000_000 + index)?.to_scalar::<f32>()?;
    }
    Ok(total / PROBE_EVAL_BATCHES as f32)
}

/// The baseline every model must beat: a byte-bigram model counted on
/// `train` (add-one smoothing, so no byte is impossible), its mean loss in
/// nats per byte over every byte of `held_out` that follows another.
pub fn bigram_loss(train: &[u8], held_out: &[u8]) -> f64 {
    let mut counts = vec![[1u32; 256]; 256];
    for pair in train.windows(2) {
        counts[usize::from(pair[0])][usize::from(pair[1])] += 1;
    }
    let totals: Vec<f64> = counts
        .iter()
        .map(|row| row.iter().map(|c| f64::from(*c)).sum())
        .collect();
    let pairs = held_out.windows(2);
    let count = pairs.len().max(1) as f64;
    pairs
        .map(|pair| {
            let (a, b) = (usize::from(pair[0]), usize::from(pair[1]));
            -(f64::from(counts[a][b]) / totals[a]).ln()
        })
        .sum::<f64>()
        / count
}

#[cfg(test)]
mod tests {
    use rand::Rng;

    use super::{PROBE_STEPS, bigram_loss, probe_loss};
    use crate::adversaries::Lazy;
    use crate::rng::seeded;

    #[test]
    fn the_bigram_baseline_learns_pairs_and_starts_at_uniform() {
        // Nothing learned: every byte has probability 1/256.
        let uniform = bigram_loss(b"", b"abab");
        assert!((uniform - 256f64.ln()).abs() < 1e-12);
        // Having seen "ab" often, "abab" costs far less.
        let learned = bigram_loss(&b"ab".repeat(10_000), b"abab");
        assert!(learned < 0.1, "{learned}");
    }

    /// Text of 12 letters, each (but the last) twice as likely as the next.
    fn skewed_text(len: usize, seed: u64) -> Vec<u8> {
        let mut rng = seeded(seed);
        (0..len)
            .map(|_| {
                let mut letter = b'a';
                while letter < b'l' && rng.gen_bool(0.5) {
                    letter += 1;
                }
                letter
            })
            .collect()
    }

    /// The held-out text's loss under the training text's byte
    /// frequencies: all a probe can learn from outputs that carry nothing.
    fn unigram_loss(train: &[u8], held_out: &[u8]) -> f64 {
        let mut counts = [0f64; 256];
        for byte in train {
            counts[usize::from(*byte)] += 1.0;
        }
        let total = train.len() as f64;
        held_out
            .iter()
            .map(|b| -(counts[usize::from(*b)] / total).ln())
            .sum::<f64>()
            / held_out.len() as f64
    }

    #[test]
    fn a_probe_on_outputs_that_carry_nothing_learns_the_byte_frequencies_and_no_more() {
        let (train, held_out) = (skewed_text(200_000, 1), skewed_text(50_000, 2));
        let unigram = unigram_loss(&train, &held_out);
        let model = Lazy::new(8, 16, 3);
        let converged = f64::from(probe_loss(&model, &train, &held_out, PROBE_STEPS).unwrap());
        // Not exactly it: fitting random inputs costs a probe a little.
        assert!(
            converged > unigram && converged < unigram + 0.15,
            "probe {converged:.3}, unigram {unigram:.3}"
        );
        // The old 150 steps stop far above it: what such a probe ranks is
        // how fast it learns, not what the outputs carry.
        let early = f64::from(probe_loss(&model, &train, &held_out, 150).unwrap());
        assert!(
            early > unigram + 1.0,
            "probe {early:.3}, unigram {unigram:.3}"
        );
    }
}
