//! The byte-level transformer that is to become the peer's model (issue
//! 15): it learns, every parameter of it, and its checkpoint round-trips.

use std::path::Path;

use agora_peer::Learner;
use agora_peer::corpus::{Corpus, FALLBACK_DIR};
use agora_peer::local::batch;
use agora_peer::transformer::{Transformer, TransformerShape};

mod support;

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
    let model = Transformer::new(TINY, 1).unwrap();
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

/// An axon serving the transformer answers `POST /hidden` with every
/// position's hidden state, `[batch, context, dim]` in f16 (within f16's
/// rounding of what the model computes, its last position what `/forward`
/// serves); one serving the window model says it has none (501), and an
/// unsigned or malformed request is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_axon_serves_every_positions_hidden_state_in_f16() {
    use std::sync::Arc;
    use std::time::Duration;

    use agora_market::msg::TEXT;
    use agora_peer::axon::router;
    use agora_peer::local::{LocalModel, Shape};
    use agora_peer::{AxonConfig, Dendrite, Model, Neighbour, Registry};

    let (server, caller) = (support::key(1), support::key(2));
    let chain = support::chain(&[&server, &caller]);
    let registry = Registry::new(&chain);
    registry.refresh(&chain, TEXT).unwrap();
    let transformer = Arc::new(Transformer::new(TINY, 3).unwrap());
    let shape = Shape {
        context: TINY.context,
        embed: 8,
        hidden: 32,
        dim: TINY.dim,
    };
    let window = Arc::new(LocalModel::new(shape, 1).unwrap());
    let mut endpoints = Vec::new();
    for model in [
        transformer.clone() as Arc<dyn Model>,
        window as Arc<dyn Model>,
    ] {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        endpoints.push(format!("http://{}", listener.local_addr().unwrap()));
        let app = router(model, registry.clone(), AxonConfig::new(TEXT));
        tokio::spawn(async move { axum::serve(listener, app).await });
    }
    let neighbour = |uid: usize| Neighbour {
        uid: uid as u16,
        endpoint: endpoints[uid].clone(),
    };
    let corpus = Corpus::load(Path::new(FALLBACK_DIR)).unwrap();
    let (inputs, _) = batch(&corpus.held_out, TINY.context, 5, 1);
    let dendrite = Dendrite::new(caller, Duration::from_secs(10));

    let served = dendrite
        .hidden(&neighbour(0), &inputs, TINY.context, TINY.dim)
        .await
        .unwrap();
    let computed = transformer.hidden(&inputs).unwrap();
    assert_eq!(served.len(), 5);
    assert!(served.iter().all(|row| row.len() == TINY.context));
    let close = |a: f32, b: f32| (a - b).abs() <= 1e-3 * b.abs().max(1.0);
    for (served, computed) in served.iter().flatten().zip(computed.iter().flatten()) {
        assert_eq!(served.len(), TINY.dim);
        assert!(served.iter().zip(computed).all(|(a, b)| close(*a, *b)));
    }
    let last = &dendrite
        .forward(&[neighbour(0)], &inputs, TINY.context, TINY.dim)
        .await[0];
    assert_eq!(last.error, None);
    for (row, output) in served.iter().zip(&last.outputs) {
        assert!(
            row[TINY.context - 1]
                .iter()
                .zip(output)
                .all(|(a, b)| close(*a, *b))
        );
    }

    let refused = dendrite
        .hidden(&neighbour(1), &inputs, TINY.context, TINY.dim)
        .await
        .unwrap_err();
    assert!(refused.starts_with("501"), "{refused}");
    let short: Vec<Vec<u8>> = inputs.iter().map(|i| i[1..].to_vec()).collect();
    let malformed = dendrite
        .hidden(&neighbour(0), &short, TINY.context - 1, TINY.dim)
        .await
        .unwrap_err();
    assert!(malformed.starts_with("400"), "{malformed}");
    let unsigned = reqwest::Client::new()
        .post(format!("{}/hidden", endpoints[0]))
        .body(agora_peer::tensor::encode_inputs(&inputs, TINY.context))
        .send()
        .await
        .unwrap();
    assert_eq!(unsigned.status(), 401);
}
