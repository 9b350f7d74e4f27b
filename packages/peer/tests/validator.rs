//! The validator values neighbours over real HTTP: one that fails half its
//! calls keeps half its reliability, and its worth is scaled by it; while
//! learning, a distilled student answers for it when it fails.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use agora_market::msg::TEXT;
use agora_peer::axon::router;
use agora_peer::corpus::{Corpus, FALLBACK_DIR};
use agora_peer::local::{LocalModel, Shape};
use agora_peer::validator::private_held_out;
use agora_peer::{AxonConfig, Learner, Neighbour, PeerKey, Registry, Validator};
use axum::extract::Request;
use axum::http::StatusCode;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};

mod support;
use support::{chain, key};

const SHAPE: Shape = Shape {
    context: 8,
    embed: 8,
    hidden: 16,
    dim: 8,
};

/// How a test neighbour answers.
#[derive(Clone)]
enum Manner {
    Steady,
    /// Every other request gets a 503.
    Flaky,
    /// Each request waits 150 ms; `busy` counts requests in progress and
    /// `most` the most at once.
    Slow {
        busy: Arc<AtomicUsize>,
        most: Arc<AtomicUsize>,
    },
}

/// Serves `model` in `manner`.
async fn serve(model: Arc<LocalModel>, registry: Registry, manner: Manner) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let count = Arc::new(AtomicUsize::new(0));
    let app = router(model, registry, AxonConfig::new(TEXT)).layer(middleware::from_fn(
        move |request: Request, next: Next| {
            let count = Arc::clone(&count);
            let manner = manner.clone();
            async move {
                let seen = count.fetch_add(1, Ordering::SeqCst);
                match &manner {
                    Manner::Flaky if seen % 2 == 1 => {
                        return StatusCode::SERVICE_UNAVAILABLE.into_response();
                    }
                    Manner::Slow { busy, most } => {
                        let now = busy.fetch_add(1, Ordering::SeqCst) + 1;
                        most.fetch_max(now, Ordering::SeqCst);
                        tokio::time::sleep(Duration::from_millis(150)).await;
                        busy.fetch_sub(1, Ordering::SeqCst);
                    }
                    _ => {}
                }
                let response: Response = next.run(request).await;
                response
            }
        },
    ));
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://{address}")
}

/// A registered caller's key, and the registry its neighbours check.
fn registered_caller() -> (PeerKey, Registry) {
    let caller = key(2);
    let chain = chain(&[&caller]);
    let registry = Registry::new(&chain);
    registry.refresh(&chain, TEXT).unwrap();
    (caller, registry)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_neighbour_that_fails_half_its_calls_loses_half_its_worth() {
    let corpus = Corpus::load(std::path::Path::new(FALLBACK_DIR)).unwrap();
    let (caller, registry) = registered_caller();
    let model = LocalModel::new(SHAPE, 3).unwrap();
    model.train(&corpus.train, 100, 32, 3).unwrap();
    let model = Arc::new(model);
    let steady = serve(Arc::clone(&model), registry.clone(), Manner::Steady).await;
    let flaky = serve(Arc::clone(&model), registry, Manner::Flaky).await;
    let local = Arc::new(LocalModel::new(SHAPE, 4).unwrap());
    let neighbours = vec![
        Neighbour {
            uid: 0,
            endpoint: steady,
        },
        Neighbour {
            uid: 1,
            endpoint: flaky,
        },
    ];
    let mut validator =
        Validator::new(9, local, caller, neighbours, 2, Duration::from_secs(5)).unwrap();
    validator.learn(&corpus.train, 8, 1, None).await.unwrap();
    let assessment = validator.assess(&corpus.held_out, 1).await.unwrap();
    let reliability: Vec<(u16, f64)> = assessment.reliability.clone();
    assert_eq!(reliability[0], (0, 1.0));
    let (uid, flaky_share) = reliability[1];
    assert_eq!(uid, 1);
    assert!(
        (0.4..=0.6).contains(&flaky_share),
        "every other call failed: {flaky_share}"
    );
    // A failed call also gives zeros, so its loss-based worth is lower
    // too; the reliability scales what is left.
    assert!(
        assessment.worth[1].1 <= assessment.worth[0].1,
        "{:?}",
        assessment.worth
    );

    // With a distilled student as stand-in, a failed call is answered by
    // it while learning (whitepaper §8), never while assessing.
    assert_eq!(validator.stood_in(), 0);
    let student: Arc<dyn agora_peer::Model> = Arc::new(LocalModel::new(SHAPE, 5).unwrap());
    validator.set_stand_in(Some(student));
    validator.learn(&corpus.train, 8, 2, None).await.unwrap();
    let stood_in = validator.stood_in();
    // Both neighbours are called each step; the flaky one fails every
    // other call.
    assert!((2..=6).contains(&stood_in), "{stood_in}");
    let again = validator.assess(&corpus.held_out, 2).await.unwrap();
    assert_eq!(validator.stood_in(), stood_in);
    assert!(again.reliability[1].1 < 1.0);
}

/// The learner pipelines: the next batch's call goes out before this
/// batch's reply is in, so a slow neighbour has two requests of one
/// learner in progress at once (one at a time would be a learner that
/// waits on the network at every step).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_next_batch_is_called_while_this_one_is_pending() {
    let (caller, registry) = registered_caller();
    let (busy, most) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let slow = Manner::Slow {
        busy,
        most: Arc::clone(&most),
    };
    let endpoint = serve(Arc::new(LocalModel::new(SHAPE, 3).unwrap()), registry, slow).await;
    let local = Arc::new(LocalModel::new(SHAPE, 4).unwrap());
    let neighbours = vec![Neighbour { uid: 0, endpoint }];
    let mut validator =
        Validator::new(9, local, caller, neighbours, 1, Duration::from_secs(5)).unwrap();
    let corpus = Corpus::load(std::path::Path::new(FALLBACK_DIR)).unwrap();
    validator.learn(&corpus.train, 4, 1, None).await.unwrap();
    assert_eq!(validator.dendrite().calls()[&0], 4);
    assert_eq!(most.load(Ordering::SeqCst), 2);
}

/// Each validator values its neighbours on its own share of the held-out
/// text and on batches of its own (whitepaper §9): drawn with its secret
/// key, so another key — a neighbour being valued — gets another share
/// and other seeds.
#[test]
fn each_validator_keeps_its_own_held_out_text_and_seeds() {
    let corpus = Corpus::load(std::path::Path::new(FALLBACK_DIR)).unwrap();
    let validator = |byte: u8| {
        let local = Arc::new(LocalModel::new(SHAPE, 1).unwrap());
        Validator::new(0, local, key(byte), vec![], 1, Duration::from_secs(1)).unwrap()
    };
    let (a, b) = (validator(11), validator(12));
    let (mine, theirs) = (
        private_held_out(&corpus, &key(11)),
        private_held_out(&corpus, &key(12)),
    );
    assert_ne!(mine, theirs);
    for share in [&mine, &theirs] {
        let part = share.len() as f64 / corpus.held_out.len() as f64;
        assert!((0.3..0.7).contains(&part), "about half: {part}");
    }
    // The same key draws the same share and seeds again (a restart).
    assert_eq!(private_held_out(&corpus, &key(11)), mine);
    assert_eq!(a.private_seed(3), validator(11).private_seed(3));
    assert_ne!(a.private_seed(3), b.private_seed(3));
    assert_ne!(a.private_seed(3), a.private_seed(4));
}

/// A model that records how many inputs each call brought.
struct Counting {
    inner: Arc<LocalModel>,
    seen: Arc<std::sync::Mutex<Vec<usize>>>,
}

impl agora_peer::Model for Counting {
    fn context(&self) -> usize {
        self.inner.context()
    }
    fn dim(&self) -> usize {
        self.inner.dim()
    }
    fn forward(&self, inputs: &[Vec<u8>]) -> candle_core::Result<Vec<Vec<f32>>> {
        self.seen.lock().unwrap().push(inputs.len());
        self.inner.forward(inputs)
    }
}

/// Sparse dispatch (whitepaper §7): with a gate that sends each input to
/// one of two neighbours by the sign of its own representation's first
/// component, each neighbour is sent only its inputs, and together they
/// see the batch once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_neighbour_is_sent_only_the_inputs_routed_to_it() {
    let corpus = Corpus::load(std::path::Path::new(FALLBACK_DIR)).unwrap();
    let (caller, registry) = registered_caller();
    let model = Arc::new(LocalModel::new(SHAPE, 3).unwrap());
    let mut seen = Vec::new();
    let mut neighbours = Vec::new();
    for uid in 0..2u16 {
        let log = Arc::new(std::sync::Mutex::new(Vec::new()));
        let counting = Counting {
            inner: Arc::clone(&model),
            seen: Arc::clone(&log),
        };
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let endpoint = format!("http://{}", listener.local_addr().unwrap());
        let app = router(Arc::new(counting), registry.clone(), AxonConfig::new(TEXT));
        tokio::spawn(async move { axum::serve(listener, app).await });
        neighbours.push(Neighbour { uid, endpoint });
        seen.push(log);
    }
    let local = Arc::new(LocalModel::new(SHAPE, 4).unwrap());
    let mut validator =
        Validator::new(9, local, caller, neighbours, 1, Duration::from_secs(5)).unwrap();
    // Gate scores: +10·own[0] for neighbour 0, −10·own[0] for neighbour 1.
    let dir = std::env::temp_dir().join(format!("agora-gate-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("gate.safetensors");
    validator.gated_head().save(&path).unwrap();
    let device = candle_core::Device::Cpu;
    let mut tensors = candle_core::safetensors::load(&path, &device).unwrap();
    let mut weight = vec![0f32; 2 * SHAPE.dim];
    weight[0] = 10.0;
    weight[SHAPE.dim] = -10.0;
    let weight = candle_core::Tensor::from_vec(weight, (2, SHAPE.dim), &device).unwrap();
    tensors.insert("gate.weight".to_string(), weight);
    candle_core::safetensors::save(&tensors, &path).unwrap();
    validator.gated_head_mut().load(&path).unwrap();
    std::fs::remove_dir_all(dir).ok();

    validator.learn(&corpus.train, 1, 1, None).await.unwrap();
    let sizes: Vec<Vec<usize>> = seen.iter().map(|log| log.lock().unwrap().clone()).collect();
    let (to_first, to_second) = (
        sizes[0].iter().sum::<usize>(),
        sizes[1].iter().sum::<usize>(),
    );
    assert_eq!(to_first + to_second, 64, "{sizes:?}");
    assert!(to_first > 0 && to_second > 0, "{sizes:?}");
}

/// Random vectors, whatever one is asked.
struct Random(std::sync::Mutex<u64>);

impl agora_peer::Model for Random {
    fn context(&self) -> usize {
        SHAPE.context
    }
    fn dim(&self) -> usize {
        SHAPE.dim
    }
    fn forward(&self, inputs: &[Vec<u8>]) -> candle_core::Result<Vec<Vec<f32>>> {
        let mut state = self.0.lock().unwrap();
        Ok(inputs
            .iter()
            .map(|_| {
                (0..SHAPE.dim)
                    .map(|_| {
                        // A xorshift: enough for noise in a test.
                        *state ^= *state << 13;
                        *state ^= *state >> 7;
                        *state ^= *state << 17;
                        (*state % 2000) as f32 / 1000.0 - 1.0
                    })
                    .collect()
            })
            .collect())
    }
}

/// The judge draws each input's neighbours at random (privately), so
/// where a neighbour sits in the list does not decide whether it is
/// judged; and a neighbour that serves random vectors is worth nothing
/// even when it is judged on every input and sits first.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_random_neighbour_is_worth_nothing_wherever_it_sits() {
    let corpus = Corpus::load(std::path::Path::new(FALLBACK_DIR)).unwrap();
    let (caller, registry) = registered_caller();
    let good = LocalModel::new(SHAPE, 3).unwrap();
    good.train(&corpus.train, 300, 32, 3).unwrap();
    let random: Arc<dyn agora_peer::Model> = Arc::new(Random(std::sync::Mutex::new(7)));
    let mut neighbours = Vec::new();
    for (uid, model) in [random, Arc::new(good) as Arc<dyn agora_peer::Model>]
        .into_iter()
        .enumerate()
    {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let endpoint = format!("http://{}", listener.local_addr().unwrap());
        let app = router(model, registry.clone(), AxonConfig::new(TEXT));
        tokio::spawn(async move { axum::serve(listener, app).await });
        neighbours.push(Neighbour {
            uid: uid as u16,
            endpoint,
        });
    }
    // Each input to both (k = 2): the head learns to read both.
    let local = Arc::new(LocalModel::new(SHAPE, 4).unwrap());
    let mut validator =
        Validator::new(9, local, caller, neighbours, 2, Duration::from_secs(5)).unwrap();
    validator.learn(&corpus.train, 60, 1, None).await.unwrap();
    let assessment = validator.assess(&corpus.held_out, 1).await.unwrap();
    let worth = |uid: u16| assessment.worth.iter().find(|(u, _)| *u == uid).unwrap().1;
    assert_eq!(worth(0), 0.0, "{:?}", assessment.worth);
    assert!(worth(1) > 0.0, "{:?}", assessment.worth);
}

/// The gate's weights, as saved.
fn gate_weights(validator: &Validator) -> Vec<f32> {
    let dir = std::env::temp_dir().join(format!(
        "agora-gate-weights-{}-{}",
        std::process::id(),
        validator.uid
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("gate.safetensors");
    validator.gated_head().save(&path).unwrap();
    let tensors = candle_core::safetensors::load(&path, &candle_core::Device::Cpu).unwrap();
    std::fs::remove_dir_all(dir).ok();
    tensors["gate.weight"]
        .flatten_all()
        .unwrap()
        .to_vec1()
        .unwrap()
}

/// A learning gate (noisy top-k, load-balanced) learns: its weights move
/// from zero; a frozen one's stay (the default).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_learning_gate_learns_and_a_frozen_one_stays() {
    let corpus = Corpus::load(std::path::Path::new(FALLBACK_DIR)).unwrap();
    let (caller, registry) = registered_caller();
    let mut neighbours = Vec::new();
    for uid in 0..3u16 {
        let model = LocalModel::new(SHAPE, 10 + u64::from(uid)).unwrap();
        model.train(&corpus.train, 50, 32, 3).unwrap();
        let endpoint = serve(Arc::new(model), registry.clone(), Manner::Steady).await;
        neighbours.push(Neighbour { uid, endpoint });
    }
    let mut gates = Vec::new();
    for learning in [false, true] {
        let local = Arc::new(LocalModel::new(SHAPE, 4).unwrap());
        let mut validator = Validator::new(
            9,
            local,
            caller.clone(),
            neighbours.clone(),
            1,
            Duration::from_secs(5),
        )
        .unwrap();
        validator.gated_head_mut().set_learning(learning);
        validator.learn(&corpus.train, 20, 1, None).await.unwrap();
        gates.push(gate_weights(&validator));
    }
    assert!(gates[0].iter().all(|w| *w == 0.0), "frozen: {:?}", gates[0]);
    assert!(
        gates[1].iter().any(|w| *w != 0.0),
        "learning: {:?}",
        gates[1]
    );
}
