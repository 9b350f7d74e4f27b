//! The byte-level transformer that is to become the peer's model (issue
//! 15): it learns, every parameter of it, and its checkpoint round-trips.

use std::path::Path;

use agora_peer::corpus::{Corpus, FALLBACK_DIR};
use agora_peer::local::batch;
use agora_peer::transformer::{Transformer, TransformerShape};

/// Smaller than the small shape: the test trains it in seconds.
const TINY: TransformerShape = TransformerShape {
    context: 16,
    dim: 32,
    layers: 2,
    heads: 2,
};

#[test]
fn it_learns_through_every_layer_and_reloads_exactly() {
    let corpus = Corpus::load(Path::new(FALLBACK_DIR)).unwrap();
    let mut model = Transformer::new(TINY, 1).unwrap();
    let before = model.evaluate(&corpus.held_out, 2, 128).unwrap();
    // Uniform over bytes is ln 256 = 5.55; the start is near it.
    assert!(before > 5.0, "{before}");

    let dir = std::env::temp_dir().join(format!("agora-transformer-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let initial = dir.join("initial.safetensors");
    model.save(&initial).unwrap();
    model.train(&corpus.train, 150, 16, 7).unwrap();
    let after = model.evaluate(&corpus.held_out, 2, 128).unwrap();
    assert!(after < before - 1.5, "{before} -> {after}");

    // Every tensor moved, the LayerNorms' gains and the first block's
    // attention among them (candle-nn's fused LayerNorm and
    // softmax_last_dim would have stopped the gradient).
    let trained = dir.join("trained.safetensors");
    model.save(&trained).unwrap();
    let start = candle_core::safetensors::load(&initial, &candle_core::Device::Cpu).unwrap();
    let end = candle_core::safetensors::load(&trained, &candle_core::Device::Cpu).unwrap();
    assert!(
        start.contains_key("block0.ln_attention.weight"),
        "{:?}",
        start.keys()
    );
    for (name, tensor) in &start {
        let moved = (tensor - &end[name])
            .unwrap()
            .abs()
            .unwrap()
            .sum_all()
            .unwrap()
            .to_scalar::<f32>()
            .unwrap();
        assert!(moved > 0.0, "{name} never learned");
    }

    // A checkpoint loads into a fresh model of the same shape exactly.
    let mut reloaded = Transformer::new(TINY, 99).unwrap();
    reloaded.load(&trained).unwrap();
    let (contexts, _) = batch(&corpus.held_out, TINY.context, 8, 5);
    let a = model
        .represent(&contexts)
        .unwrap()
        .to_vec2::<f32>()
        .unwrap();
    let b = reloaded
        .represent(&contexts)
        .unwrap()
        .to_vec2::<f32>()
        .unwrap();
    assert_eq!(a, b);
    assert_eq!(a[0].len(), TINY.dim);
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn shapes_that_cannot_be_built_are_refused() {
    let odd = TransformerShape {
        heads: 3,
        ..TransformerShape::SMALL
    };
    assert!(odd.check().unwrap_err().contains("multiple of heads"));
    assert!(Transformer::new(odd, 1).is_err());
    assert!(TransformerShape::RELEASE.check().is_ok());
}
