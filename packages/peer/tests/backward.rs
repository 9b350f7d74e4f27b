//! `POST /backward` over real HTTP: off unless the axon turns it on;
//! signed, rate-limited and checked like `/forward`; a bounded step that
//! moves the served model downhill on the caller's loss; and a learner
//! that sends its gradients to the neighbours that take them.

use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use agora_market::msg::TEXT;
use agora_peer::axon::{BackwardConfig, router};
use agora_peer::corpus::{Corpus, FALLBACK_DIR};
use agora_peer::local::{LocalModel, Shape};
use agora_peer::model::{Applied, StepBound};
use agora_peer::tensor::encode_gradients;
use agora_peer::{AxonConfig, Model, Neighbour, PeerKey, Registry, Validator};

mod support;
use support::{chain, key};

const SHAPE: Shape = Shape {
    context: 8,
    embed: 8,
    hidden: 16,
    dim: 8,
};

const BOUND: StepBound = StepBound {
    lr: 0.05,
    max_norm: 1.0,
};

/// The registry of a chain where `keys` are registered.
fn registered(keys: &[&PeerKey]) -> Registry {
    let chain = chain(keys);
    let registry = Registry::new(&chain);
    registry.refresh(&chain, TEXT).unwrap();
    registry
}

/// Serves `model` on a free loopback port, `/backward` on with
/// `per_second` or off; returns its base URL.
async fn serve(model: Arc<dyn Model>, registry: Registry, per_second: Option<u32>) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let mut config = AxonConfig::new(TEXT);
    config.backward = per_second.map(|rate| BackwardConfig {
        requests_per_second: NonZeroU32::new(rate).unwrap(),
        bound: BOUND,
    });
    let app = router(model, registry, config);
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://{address}")
}

/// POST /backward with `body`, signed by `signer` for `signed_path`.
async fn post(url: &str, body: Vec<u8>, signer: Option<(&PeerKey, &str)>) -> (u16, String) {
    let mut request = reqwest::Client::new().post(format!("{url}/backward"));
    if let Some((key, path)) = signer {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs();
        for (name, value) in key.sign("POST", path, now, &body) {
            request = request.header(name, value);
        }
    }
    let response = request.body(body).send().await.unwrap();
    (
        response.status().as_u16(),
        response.text().await.unwrap_or_default(),
    )
}

fn inputs(text: &[u8]) -> Vec<Vec<u8>> {
    agora_peer::local::batch(text, SHAPE.context, 16, 7).0
}

/// Σ r·g: the caller's loss, to first order, for gradients `g`.
fn first_order_loss(model: &LocalModel, inputs: &[Vec<u8>], gradients: &[Vec<f32>]) -> f32 {
    let outputs = model.forward(inputs).unwrap();
    outputs
        .iter()
        .flatten()
        .zip(gradients.iter().flatten())
        .map(|(r, g)| r * g)
        .sum()
}

/// A model that serves but cannot learn from gradients.
struct Fixed;

impl Model for Fixed {
    fn context(&self) -> usize {
        SHAPE.context
    }
    fn dim(&self) -> usize {
        SHAPE.dim
    }
    fn forward(&self, inputs: &[Vec<u8>]) -> candle_core::Result<Vec<Vec<f32>>> {
        Ok(vec![vec![0.0; SHAPE.dim]; inputs.len()])
    }
}

#[tokio::test]
async fn a_gradient_moves_the_model_downhill_within_its_bound_and_bad_ones_change_nothing() {
    let corpus = Corpus::load(std::path::Path::new(FALLBACK_DIR)).unwrap();
    let (server, caller, stranger) = (key(1), key(2), key(3));
    let registry = registered(&[&server, &caller]);
    let model = Arc::new(LocalModel::new(SHAPE, 1).unwrap());
    let inputs = inputs(&corpus.train);
    let gradients: Vec<Vec<f32>> = (0..inputs.len())
        .map(|i| (0..SHAPE.dim).map(|d| ((i + d) % 3) as f32 - 1.0).collect())
        .collect();
    let body = encode_gradients(&inputs, &gradients, SHAPE.context, SHAPE.dim);

    // Off: 404, and the model is untouched.
    let off = serve(model.clone(), registry.clone(), None).await;
    let before = model.forward(&inputs).unwrap();
    let (status, text) = post(&off, body.clone(), Some((&caller, "/backward"))).await;
    assert_eq!(status, 404, "{text}");
    assert!(text.contains("does not take gradients"), "{text}");

    let on = serve(model.clone(), registry.clone(), Some(100)).await;
    let scaled = |factor: f32| -> Vec<Vec<f32>> {
        gradients
            .iter()
            .map(|row| row.iter().map(|g| g * factor).collect())
            .collect()
    };
    let mut nan = scaled(1.0);
    nan[3][2] = f32::NAN;
    let refusals = [
        (body.clone(), None, 401, "unsigned request"),
        (
            body.clone(),
            Some((&stranger, "/backward")),
            401,
            "not registered",
        ),
        // A /forward signature does not open /backward.
        (
            body.clone(),
            Some((&caller, "/forward")),
            401,
            "does not match",
        ),
        (
            encode_gradients(&inputs, &nan, SHAPE.context, SHAPE.dim),
            Some((&caller, "/backward")),
            400,
            "not finite",
        ),
        (
            encode_gradients(&inputs, &gradients[..4], SHAPE.context, SHAPE.dim),
            Some((&caller, "/backward")),
            400,
            "must have shape [16, 8]",
        ),
    ];
    for (body, signer, expected, message) in refusals {
        let (status, text) = post(&on, body, signer).await;
        assert_eq!((status, text.contains(message)), (expected, true), "{text}");
    }
    assert_eq!(
        model.forward(&inputs).unwrap(),
        before,
        "a refusal moved it"
    );

    // A step: Σ r·g falls (the caller's loss, to first order), and the
    // step is no longer than lr × max_norm.
    let loss_before = first_order_loss(&model, &inputs, &gradients);
    let (status, text) = post(&on, body.clone(), Some((&caller, "/backward"))).await;
    assert_eq!(status, 200, "{text}");
    let applied: Applied = serde_json::from_str(&text).unwrap();
    assert!(applied.norm > 0.0 && applied.step <= BOUND.lr * BOUND.max_norm + 1e-6);
    assert!(first_order_loss(&model, &inputs, &gradients) < loss_before);

    // A huge gradient is clipped: the step is exactly the bound.
    let huge = encode_gradients(&inputs, &scaled(1e6), SHAPE.context, SHAPE.dim);
    let (status, text) = post(&on, huge, Some((&caller, "/backward"))).await;
    assert_eq!(status, 200, "{text}");
    let applied: Applied = serde_json::from_str(&text).unwrap();
    assert!(applied.norm > 1e3, "{applied:?}");
    assert!(
        (applied.step - BOUND.lr * BOUND.max_norm).abs() < 1e-5,
        "{applied:?}"
    );

    // A model that cannot learn says so; nothing is applied.
    let fixed = serve(Arc::new(Fixed), registry.clone(), Some(100)).await;
    let (status, text) = post(&fixed, body.clone(), Some((&caller, "/backward"))).await;
    assert_eq!(status, 422, "{text}");
    assert!(text.contains("does not learn from gradients"), "{text}");

    // Its own rate: a burst of 2, then 429.
    let limited = serve(model.clone(), registry, Some(2)).await;
    let mut statuses = Vec::new();
    for _ in 0..6 {
        statuses.push(
            post(&limited, body.clone(), Some((&caller, "/backward")))
                .await
                .0,
        );
    }
    assert_eq!(statuses[..2], [200, 200]);
    assert!(statuses.contains(&429), "{statuses:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_learner_sends_gradients_to_the_neighbours_that_take_them() {
    let corpus = Corpus::load(std::path::Path::new(FALLBACK_DIR)).unwrap();
    let caller = key(2);
    let registry = registered(&[&caller]);
    let taker = Arc::new(LocalModel::new(SHAPE, 3).unwrap());
    let refuser = Arc::new(LocalModel::new(SHAPE, 4).unwrap());
    let probe = inputs(&corpus.held_out);
    let (taker_before, refuser_before) = (
        taker.forward(&probe).unwrap(),
        refuser.forward(&probe).unwrap(),
    );
    let neighbours = vec![
        Neighbour {
            uid: 0,
            endpoint: serve(taker.clone(), registry.clone(), Some(1000)).await,
        },
        Neighbour {
            uid: 1,
            endpoint: serve(refuser.clone(), registry, None).await,
        },
    ];
    let local = Arc::new(LocalModel::new(SHAPE, 5).unwrap());
    let mut validator =
        Validator::new(9, local, caller, neighbours, 2, Duration::from_secs(5)).unwrap();

    // Off by default: nothing is sent.
    validator.learn(&corpus.train, 3, 1, None).await.unwrap();
    assert_eq!(validator.gradients_sent(), (0, 0));
    assert_eq!(taker.forward(&probe).unwrap(), taker_before);

    validator.set_send_gradients(true);
    validator.learn(&corpus.train, 4, 2, None).await.unwrap();
    // Both neighbours are routed to each step (k = 2 of 2): one applies
    // each step's gradient, the other refuses it.
    assert_eq!(validator.gradients_sent(), (4, 4));
    assert_ne!(taker.forward(&probe).unwrap(), taker_before);
    assert_eq!(refuser.forward(&probe).unwrap(), refuser_before);
    // Refused gradients are not failures of the neighbour.
    assert!(validator.dendrite().failures().is_empty());
}
