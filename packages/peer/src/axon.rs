//! The axon: this peer's model behind HTTP.
//!
//! - `GET /health`: `{"status": "ok", "graph", "context", "dim"}`.
//! - `POST /forward`: a signed `inputs` body in, an `outputs` body out.
//! - `POST /backward` (off unless [`AxonConfig::backward`] is set; 404
//!   when off): a signed `inputs` + `gradients` body, the caller's loss
//!   gradient with respect to the representations it received; the model
//!   takes one clipped step along it ([`StepBound`]) and answers
//!   `{"norm", "step"}`. Its own per-caller rate limit.
//!
//! Every refusal is a 4xx with `{"error": "..."}`, never a panic: 401 for
//! an unsigned, badly signed, stale or unregistered caller; 400 for a body
//! of the wrong dtype or shape; 413 past `max_body`; 429 past a caller's
//! `requests_per_second`; 408 past `timeout`. At most `max_concurrent`
//! requests run at once and `max_queue` wait; past that, 503. A model that
//! fails answers 500, never zeros as 200.
//!
//! Each request is counted in the `metrics` facade (a no-op until a
//! recorder is installed, as `agora peer run` does):
//! `agora_axon_requests_total{route,status}` and
//! `agora_axon_request_seconds{route}`.

use std::collections::BTreeSet;
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use agora_client::{Chain, ChainError, KeyAddresser};
use agora_market::msg::PeerInfo;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use serde_json::json;
use tokio::sync::Semaphore;
use tower_http::timeout::TimeoutLayer;

use crate::Model;
use crate::auth::{self, AuthError};
use crate::model::StepBound;
use crate::tensor::{decode_gradients, decode_inputs, encode_hidden, encode_outputs};

#[derive(Clone, Debug)]
pub struct AxonConfig {
    pub graph: String,
    /// Largest request body, in bytes.
    pub max_body: usize,
    /// Most inputs in one request.
    pub max_batch: usize,
    /// Requests per second one caller may send (burst of the same size).
    pub requests_per_second: NonZeroU32,
    /// Longest time a request may take.
    pub timeout: Duration,
    /// How far a request's timestamp may be from this axon's clock.
    pub skew: Duration,
    /// Requests served at once.
    pub max_concurrent: usize,
    /// Requests that may wait for a slot; past that, 503.
    pub max_queue: usize,
    /// Whether (and how far) callers' gradients may train the model.
    pub backward: Option<BackwardConfig>,
}

/// `POST /backward`: how often one caller may send a gradient, and how far
/// one may move the model.
#[derive(Clone, Debug)]
pub struct BackwardConfig {
    pub requests_per_second: NonZeroU32,
    pub bound: StepBound,
}

impl Default for BackwardConfig {
    fn default() -> Self {
        Self {
            requests_per_second: NonZeroU32::new(5).expect("nonzero"),
            bound: StepBound::default(),
        }
    }
}

impl AxonConfig {
    pub fn new(graph: &str) -> Self {
        Self {
            graph: graph.to_string(),
            max_body: 1 << 20,
            max_batch: 256,
            requests_per_second: NonZeroU32::new(50).expect("nonzero"),
            timeout: Duration::from_secs(5),
            skew: Duration::from_secs(30),
            max_concurrent: 64,
            max_queue: 256,
            backward: None,
        }
    }
}

/// The addresses registered in a graph, as last read from the chain, and
/// how a public key maps to an address there.
#[derive(Clone)]
pub struct Registry {
    addresses: Arc<RwLock<BTreeSet<String>>>,
    addresser: KeyAddresser,
}

impl Registry {
    pub fn new(chain: &impl Chain) -> Self {
        Self {
            addresses: Arc::default(),
            addresser: chain.key_addresser(),
        }
    }

    /// Reads `graph`'s metagraph again; returns how many peers it holds.
    pub fn refresh(&self, chain: &impl Chain, graph: &str) -> Result<usize, ChainError> {
        Ok(self.update(&chain.metagraph(graph)?))
    }

    /// Takes `peers`, a metagraph just read, as the registered ones;
    /// returns how many there are.
    pub fn update(&self, peers: &[PeerInfo]) -> usize {
        let addresses: BTreeSet<String> =
            peers.iter().map(|peer| peer.address.to_string()).collect();
        let count = addresses.len();
        *self.addresses.write().expect("not poisoned") = addresses;
        count
    }

    /// The registered address a public key signs for, if any.
    fn registered(&self, public_key: &[u8]) -> Result<String, String> {
        let address = (self.addresser)(public_key);
        if self
            .addresses
            .read()
            .expect("not poisoned")
            .contains(&address)
        {
            Ok(address)
        } else {
            Err(address)
        }
    }
}

struct Axon {
    model: Arc<dyn Model>,
    registry: Registry,
    config: AxonConfig,
    limiter: DefaultKeyedRateLimiter<Vec<u8>>,
    backward_limiter: Option<DefaultKeyedRateLimiter<Vec<u8>>>,
}

/// The axon's routes, with its limits.
pub fn router(model: Arc<dyn Model>, registry: Registry, config: AxonConfig) -> Router {
    let limiter = RateLimiter::keyed(Quota::per_second(config.requests_per_second));
    let backward_limiter = config
        .backward
        .as_ref()
        .map(|b| RateLimiter::keyed(Quota::per_second(b.requests_per_second)));
    let timeout = config.timeout;
    let max_body = config.max_body;
    let admission = Arc::new(Admission {
        slots: Semaphore::new(config.max_concurrent.max(1)),
        waiting: AtomicUsize::new(0),
        max_queue: config.max_queue,
    });
    let axon = Arc::new(Axon {
        model,
        registry,
        config,
        limiter,
        backward_limiter,
    });
    Router::new()
        .route("/health", get(health))
        .route("/forward", post(forward))
        .route("/hidden", post(hidden))
        .route("/backward", post(backward))
        .layer(DefaultBodyLimit::max(max_body))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            timeout,
        ))
        .layer(middleware::from_fn_with_state(admission, admit))
        .layer(middleware::from_fn(measure))
        .with_state(axon)
}

/// The global concurrency limit and its bounded queue.
struct Admission {
    slots: Semaphore,
    waiting: AtomicUsize,
    max_queue: usize,
}

/// Runs a request when a slot is free; refuses it with 503 when the queue
/// of waiting requests is full.
async fn admit(State(admission): State<Arc<Admission>>, request: Request, next: Next) -> Response {
    let permit = match admission.slots.try_acquire() {
        Ok(permit) => permit,
        Err(_) => {
            if admission.waiting.fetch_add(1, Ordering::SeqCst) >= admission.max_queue {
                admission.waiting.fetch_sub(1, Ordering::SeqCst);
                return refuse(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "the axon is busy: retry later",
                );
            }
            let permit = admission.slots.acquire().await;
            admission.waiting.fetch_sub(1, Ordering::SeqCst);
            match permit {
                Ok(permit) => permit,
                Err(_) => return refuse(StatusCode::SERVICE_UNAVAILABLE, "the axon is stopping"),
            }
        }
    };
    let response = next.run(request).await;
    drop(permit);
    response
}

/// Counts each request by route and status, and times it.
async fn measure(request: Request, next: Next) -> Response {
    let route = match request.uri().path() {
        "/forward" => "forward",
        "/backward" => "backward",
        "/health" => "health",
        _ => "other",
    };
    let started = std::time::Instant::now();
    let response = next.run(request).await;
    let status = response.status().as_u16().to_string();
    metrics::counter!("agora_axon_requests_total", "route" => route, "status" => status)
        .increment(1);
    metrics::histogram!("agora_axon_request_seconds", "route" => route)
        .record(started.elapsed().as_secs_f64());
    response
}

fn refuse(status: StatusCode, message: impl ToString) -> Response {
    (status, Json(json!({ "error": message.to_string() }))).into_response()
}

async fn health(State(axon): State<Arc<Axon>>) -> Response {
    Json(json!({
        "status": "ok",
        "graph": axon.config.graph,
        "context": axon.model.context(),
        "dim": axon.model.dim(),
    }))
    .into_response()
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// The caller of a signed request to `path`, if it may be served: signed,
/// fresh, registered in the graph and within `limiter`'s rate.
fn authorize(
    axon: &Axon,
    headers: &HeaderMap,
    path: &str,
    body: &[u8],
    limiter: &DefaultKeyedRateLimiter<Vec<u8>>,
    per_second: NonZeroU32,
) -> Result<(), (StatusCode, String)> {
    let header = |name: &'static str| {
        headers
            .get(name)
            .and_then(|value| value.to_str().ok())
            .map(str::to_string)
    };
    let skew = axon.config.skew.as_secs();
    let key = auth::verify(header, "POST", path, body, now(), skew)
        .map_err(|error| (StatusCode::UNAUTHORIZED, error.to_string()))?;
    if let Err(address) = axon.registry.registered(&key) {
        let error = AuthError::NotRegistered {
            address,
            graph: axon.config.graph.clone(),
        };
        return Err((StatusCode::UNAUTHORIZED, error.to_string()));
    }
    if limiter.check_key(&key).is_err() {
        return Err((
            StatusCode::TOO_MANY_REQUESTS,
            format!("more than {per_second} requests a second to {path} from this caller"),
        ));
    }
    Ok(())
}

async fn forward(State(axon): State<Arc<Axon>>, headers: HeaderMap, body: Bytes) -> Response {
    let per_second = axon.config.requests_per_second;
    let limiter = &axon.limiter;
    if let Err((status, why)) = authorize(&axon, &headers, "/forward", &body, limiter, per_second) {
        return refuse(status, why);
    }
    match run_model(&axon, &body, |model, inputs| model.forward(inputs)).await {
        Ok(outputs) => encode_outputs(&outputs, axon.model.dim()).into_response(),
        Err(refused) => refused,
    }
}

/// Decodes a body of inputs (400 if it is not one) and runs `work` of the
/// model on them, off the async threads (the model is CPU work); 500 if
/// the model fails.
async fn run_model<T: Send + 'static>(
    axon: &Axon,
    body: &[u8],
    work: impl FnOnce(&dyn Model, &[Vec<u8>]) -> candle_core::Result<T> + Send + 'static,
) -> Result<T, Response> {
    let inputs = decode_inputs(body, axon.model.context(), axon.config.max_batch)
        .map_err(|error| refuse(StatusCode::BAD_REQUEST, error))?;
    let model = Arc::clone(&axon.model);
    match tokio::task::spawn_blocking(move || work(model.as_ref(), &inputs)).await {
        Ok(Ok(done)) => Ok(done),
        Ok(Err(error)) => Err(refuse(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("the model failed: {error}"),
        )),
        Err(_) => Err(refuse(
            StatusCode::INTERNAL_SERVER_ERROR,
            "the model failed",
        )),
    }
}

/// Every position's hidden state (`f16`, `[batch, context, dim]`), for a
/// model that has them; 501 for one that reads a window into one vector.
/// Signed and rate-limited with `/forward` (one budget for both).
async fn hidden(State(axon): State<Arc<Axon>>, headers: HeaderMap, body: Bytes) -> Response {
    let per_second = axon.config.requests_per_second;
    let limiter = &axon.limiter;
    if let Err((status, why)) = authorize(&axon, &headers, "/hidden", &body, limiter, per_second) {
        return refuse(status, why);
    }
    if !axon.model.serves_hidden() {
        return refuse(
            StatusCode::NOT_IMPLEMENTED,
            "this axon's model serves one representation per input (POST /forward), not \
             hidden states per position",
        );
    }
    let (context, dim) = (axon.model.context(), axon.model.dim());
    match run_model(&axon, &body, |model, inputs| model.hidden(inputs)).await {
        Ok(states) => encode_hidden(&states, context, dim).into_response(),
        Err(refused) => refused,
    }
}

async fn backward(State(axon): State<Arc<Axon>>, headers: HeaderMap, body: Bytes) -> Response {
    let (Some(config), Some(limiter)) = (&axon.config.backward, &axon.backward_limiter) else {
        return refuse(
            StatusCode::NOT_FOUND,
            "this axon does not take gradients (its /backward is off)",
        );
    };
    let per_second = config.requests_per_second;
    if let Err((status, why)) = authorize(&axon, &headers, "/backward", &body, limiter, per_second)
    {
        return refuse(status, why);
    }
    let (context, dim) = (axon.model.context(), axon.model.dim());
    let (inputs, gradients) = match decode_gradients(&body, context, dim, axon.config.max_batch) {
        Ok(decoded) => decoded,
        Err(error) => return refuse(StatusCode::BAD_REQUEST, error),
    };
    let (model, bound) = (Arc::clone(&axon.model), config.bound);
    match tokio::task::spawn_blocking(move || model.backward(&inputs, &gradients, bound)).await {
        Ok(Ok(applied)) => Json(applied).into_response(),
        Ok(Err(error)) => refuse(
            StatusCode::UNPROCESSABLE_ENTITY,
            format!("the model took no step: {error}"),
        ),
        Err(_) => refuse(StatusCode::INTERNAL_SERVER_ERROR, "the model failed"),
    }
}
