//! The axon over real HTTP on loopback, and the dendrite calling it.

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use agora_market::msg::TEXT;
use agora_peer::axon::router;
use agora_peer::tensor::encode_inputs;
use agora_peer::{AxonConfig, Dendrite, Model, Neighbour, PeerKey, Registry};
use safetensors::tensor::{Dtype, TensorView};

mod support;
use support::{chain, key};

/// A model that any test can predict: [Σ bytes, first byte, 1], after an
/// optional delay.
struct Sums {
    delay: Duration,
}

impl Model for Sums {
    fn context(&self) -> usize {
        4
    }
    fn dim(&self) -> usize {
        3
    }
    fn forward(&self, inputs: &[Vec<u8>]) -> candle_core::Result<Vec<Vec<f32>>> {
        std::thread::sleep(self.delay);
        Ok(inputs
            .iter()
            .map(|input| {
                let sum: u32 = input.iter().map(|b| u32::from(*b)).sum();
                vec![sum as f32, f32::from(input[0]), 1.0]
            })
            .collect())
    }
}

/// A model whose every forward fails.
struct Broken;

impl Model for Broken {
    fn context(&self) -> usize {
        4
    }
    fn dim(&self) -> usize {
        3
    }
    fn forward(&self, _inputs: &[Vec<u8>]) -> candle_core::Result<Vec<Vec<f32>>> {
        Err(candle_core::Error::Msg("out of memory".to_string()))
    }
}

/// The registry of a chain where `keys` are registered.
fn registered(keys: &[&PeerKey]) -> Registry {
    let chain = chain(keys);
    let registry = Registry::new(&chain);
    registry.refresh(&chain, TEXT).unwrap();
    registry
}

/// Serves an axon on a free loopback port; returns its base URL.
async fn serve(model: impl Model, registry: Registry, config: AxonConfig) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let app = router(Arc::new(model), registry, config);
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://{address}")
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// POST /forward with `body`, signed by `signer` (or not at all).
async fn post(url: &str, body: Vec<u8>, signer: Option<&PeerKey>) -> (u16, String) {
    let mut request = reqwest::Client::new().post(format!("{url}/forward"));
    if let Some(key) = signer {
        for (name, value) in key.sign("POST", "/forward", now(), &body) {
            request = request.header(name, value);
        }
    }
    let response = request.body(body).send().await.unwrap();
    (
        response.status().as_u16(),
        response.text().await.unwrap_or_default(),
    )
}

fn config() -> AxonConfig {
    let mut config = AxonConfig::new(TEXT);
    config.max_body = 1024;
    config.max_batch = 8;
    config
}

#[tokio::test]
async fn a_registered_caller_is_served_and_everyone_else_gets_a_4xx() {
    let (server, caller, stranger) = (key(1), key(2), key(3));
    let chain = chain(&[&server, &caller]);
    let registry = Registry::new(&chain);
    assert_eq!(registry.refresh(&chain, TEXT).unwrap(), 2);
    let url = serve(
        Sums {
            delay: Duration::ZERO,
        },
        registry,
        config(),
    )
    .await;

    let health = reqwest::get(format!("{url}/health")).await.unwrap();
    let health: serde_json::Value = serde_json::from_str(&health.text().await.unwrap()).unwrap();
    assert_eq!(health["status"], "ok");
    assert_eq!(
        (health["context"].as_u64(), health["dim"].as_u64()),
        (Some(4), Some(3))
    );

    // The dendrite's signed call is answered with the model's outputs.
    let dendrite = Dendrite::new(caller.clone(), Duration::from_secs(2));
    let inputs = vec![b"abcd".to_vec(), vec![1, 2, 3, 4]];
    let replies = dendrite
        .forward(
            &[Neighbour {
                uid: 0,
                endpoint: url.clone(),
            }],
            &inputs,
            4,
            3,
        )
        .await;
    assert_eq!(replies[0].error, None);
    assert_eq!(
        replies[0].outputs,
        vec![vec![394.0, 97.0, 1.0], vec![10.0, 1.0, 1.0]]
    );

    let body = encode_inputs(&inputs, 4);
    let (status, text) = post(&url, body.clone(), None).await;
    assert_eq!(status, 401);
    assert!(text.contains("unsigned request"), "{text}");
    let (status, text) = post(&url, body.clone(), Some(&stranger)).await;
    assert_eq!(status, 401);
    assert!(text.contains("is not registered in graph TEXT"), "{text}");

    // A signature over another body.
    let mut request = reqwest::Client::new().post(format!("{url}/forward"));
    for (name, value) in caller.sign("POST", "/forward", now(), b"something else") {
        request = request.header(name, value);
    }
    let response = request.body(body.clone()).send().await.unwrap();
    assert_eq!(response.status().as_u16(), 401);
    assert!(response.text().await.unwrap().contains("does not match"));

    // Wrong dtype, wrong shape, too big a batch, not safetensors at all.
    let floats = vec![0u8; 4 * 4];
    let view = TensorView::new(Dtype::F32, vec![1, 4], &floats).unwrap();
    let wrong_dtype =
        safetensors::serialize(HashMap::from([("inputs".to_string(), view)]), None).unwrap();
    for (body, expected) in [
        (wrong_dtype, "must be U8"),
        (
            encode_inputs(&[vec![1, 2, 3, 4, 5]], 5),
            "must have shape [1..=8, 4]",
        ),
        (encode_inputs(&vec![vec![0; 4]; 9], 4), "must have shape"),
        (b"not a tensor".to_vec(), "not a safetensors file"),
    ] {
        let (status, text) = post(&url, body, Some(&caller)).await;
        assert_eq!(status, 400, "{text}");
        assert!(text.contains(expected), "{text}");
    }
    // Past max_body (1024 bytes).
    let (status, _) = post(
        &url,
        encode_inputs(&vec![vec![0; 4]; 300], 4),
        Some(&caller),
    )
    .await;
    assert_eq!(status, 413);
}

#[tokio::test]
async fn callers_are_rate_limited_and_slow_requests_time_out() {
    let (server, caller) = (key(1), key(2));
    let registry = registered(&[&server, &caller]);
    let mut limited = config();
    limited.requests_per_second = NonZeroU32::new(2).unwrap();
    let url = serve(
        Sums {
            delay: Duration::ZERO,
        },
        registry.clone(),
        limited,
    )
    .await;
    let body = encode_inputs(&[b"abcd".to_vec()], 4);
    let mut statuses = Vec::new();
    // A burst of 2 is allowed; the next token comes only after 500 ms, so
    // a quick run of six meets the limit however slow the machine.
    for _ in 0..6 {
        statuses.push(post(&url, body.clone(), Some(&caller)).await.0);
    }
    assert_eq!(statuses[..2], [200, 200]);
    assert!(statuses.contains(&429), "{statuses:?}");
    assert!(
        statuses.iter().all(|s| *s == 200 || *s == 429),
        "{statuses:?}"
    );

    let mut quick = config();
    quick.timeout = Duration::from_millis(100);
    let slow = serve(
        Sums {
            delay: Duration::from_millis(600),
        },
        registry,
        quick,
    )
    .await;
    let (status, _) = post(&slow, body, Some(&caller)).await;
    assert_eq!(status, 408);
}

#[tokio::test]
async fn hanging_and_dead_neighbours_give_zeros_within_the_deadline_and_are_remembered() {
    let (server, caller) = (key(1), key(2));
    let registry = registered(&[&server, &caller]);
    let good = serve(
        Sums {
            delay: Duration::ZERO,
        },
        registry.clone(),
        config(),
    )
    .await;
    let mut patient = config();
    patient.timeout = Duration::from_secs(30);
    let hanging = serve(
        Sums {
            delay: Duration::from_secs(2),
        },
        registry,
        patient,
    )
    .await;
    // A neighbour that died: its port is closed.
    let dead = {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        format!("http://{}", listener.local_addr().unwrap())
    };
    let neighbours = [
        Neighbour {
            uid: 0,
            endpoint: good,
        },
        Neighbour {
            uid: 5,
            endpoint: hanging,
        },
        Neighbour {
            uid: 6,
            endpoint: dead,
        },
    ];
    let deadline = Duration::from_millis(300);
    let dendrite = Dendrite::new(caller, deadline);
    let started = Instant::now();
    let replies = dendrite
        .forward(&neighbours, &[b"wxyz".to_vec()], 4, 3)
        .await;
    // Well before the hanging neighbour (2 s) would answer.
    assert!(
        started.elapsed() < deadline + Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(replies[0].outputs, vec![vec![482.0, 119.0, 1.0]]);
    assert_eq!(replies[1].outputs, vec![vec![0.0; 3]]);
    assert!(
        replies[1]
            .error
            .as_deref()
            .unwrap()
            .contains("no answer within")
    );
    assert_eq!(replies[2].outputs, vec![vec![0.0; 3]]);
    assert!(replies[2].error.is_some());
    // The second round remembers both.
    dendrite
        .forward(&neighbours, &[b"wxyz".to_vec()], 4, 3)
        .await;
    assert_eq!(dendrite.failures(), [(5, 2), (6, 2)].into_iter().collect());
}

#[tokio::test]
async fn a_neighbour_that_dies_mid_epoch_turns_to_zeros() {
    let (server, caller) = (key(1), key(2));
    let registry = registered(&[&server, &caller]);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let app = router(
        Arc::new(Sums {
            delay: Duration::ZERO,
        }),
        registry,
        config(),
    );
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let serving = tokio::spawn(async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(async {
                stopped.await.ok();
            })
            .await
    });
    let dendrite = Dendrite::new(caller, Duration::from_millis(500));
    let neighbour = [Neighbour {
        uid: 0,
        endpoint: url,
    }];
    let before = dendrite
        .forward(&neighbour, &[b"abcd".to_vec()], 4, 3)
        .await;
    assert_eq!(before[0].outputs, vec![vec![394.0, 97.0, 1.0]]);
    // The neighbour goes away between two calls of the same epoch.
    stop.send(()).unwrap();
    serving.await.unwrap().unwrap();
    let after = dendrite
        .forward(&neighbour, &[b"abcd".to_vec()], 4, 3)
        .await;
    assert_eq!(after[0].outputs, vec![vec![0.0; 3]]);
    assert_eq!(dendrite.failures(), [(0, 1)].into_iter().collect());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_full_axon_answers_503_and_a_failing_model_500() {
    let (server, caller) = (key(1), key(2));
    let registry = registered(&[&server, &caller]);
    let mut narrow = config();
    narrow.max_concurrent = 1;
    narrow.max_queue = 1;
    narrow.requests_per_second = NonZeroU32::MAX;
    let url = serve(
        Sums {
            delay: Duration::from_millis(1500),
        },
        registry.clone(),
        narrow,
    )
    .await;
    let body = encode_inputs(&[b"abcd".to_vec()], 4);
    // One runs, one waits, the rest are turned away at once.
    let calls = (0..4).map(|_| post(&url, body.clone(), Some(&caller)));
    let mut statuses: Vec<u16> = futures::future::join_all(calls)
        .await
        .into_iter()
        .map(|(status, _)| status)
        .collect();
    statuses.sort_unstable();
    assert_eq!(statuses, [200, 200, 503, 503]);

    let broken = serve(Broken, registry, config()).await;
    let (status, text) = post(&broken, body, Some(&caller)).await;
    assert_eq!(status, 500, "{text}");
    assert!(text.contains("the model failed: out of memory"), "{text}");
}

#[tokio::test]
async fn a_response_past_the_cap_is_a_failure_not_an_answer() {
    let (server, caller) = (key(1), key(2));
    let registry = registered(&[&server, &caller]);
    let url = serve(
        Sums {
            delay: Duration::ZERO,
        },
        registry,
        config(),
    )
    .await;
    let neighbour = [Neighbour {
        uid: 0,
        endpoint: url,
    }];
    let mut dendrite = Dendrite::new(caller, Duration::from_secs(5));
    dendrite.max_response = 16;
    let replies = dendrite
        .forward(&neighbour, &[b"wxyz".to_vec()], 4, 3)
        .await;
    assert_eq!(replies[0].outputs, vec![vec![0.0; 3]]);
    assert!(
        replies[0]
            .error
            .as_deref()
            .unwrap()
            .contains("past 16 bytes"),
        "{:?}",
        replies[0].error
    );
    dendrite.max_response = 1 << 20;
    let replies = dendrite
        .forward(&neighbour, &[b"wxyz".to_vec()], 4, 3)
        .await;
    assert_eq!(replies[0].outputs, vec![vec![482.0, 119.0, 1.0]]);
}
