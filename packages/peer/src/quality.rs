//! A peer's true quality, for tests and the demo: the held-out next-byte
//! loss of a linear probe trained on that peer's representations alone.

use candle_core::{DType, Device, Module, Tensor};
use candle_nn::{AdamW, Linear, Optimizer, ParamsAdamW, VarBuilder, VarMap, linear};

use crate::Model;
use crate::local::batch;

/// Trains a probe for `steps` batches of `train` through `model`, then
/// returns its mean loss on held-out batches (lower is better).
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
    for index in 0..4 {
        total += loss(held_out, 2_000_000 + index)?.to_scalar::<f32>()?;
    }
    Ok(total / 4.0)
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
    use super::bigram_loss;

    #[test]
    fn the_bigram_baseline_learns_pairs_and_starts_at_uniform() {
        // Nothing learned: every byte has probability 1/256.
        let uniform = bigram_loss(b"", b"abab");
        assert!((uniform - 256f64.ln()).abs() < 1e-12);
        // Having seen "ab" often, "abab" costs far less.
        let learned = bigram_loss(&b"ab".repeat(10_000), b"abab");
        assert!(learned < 0.1, "{learned}");
    }
}
