//! The axon: this peer's model behind HTTP.
//!
//! - `GET /health`: `{"status": "ok", "graph", "context", "dim"}`.
//! - `POST /forward`: a signed `inputs` body in, an `outputs` body out.
//!
//! Every refusal is a 4xx with `{"error": "..."}`, never a panic: 401 for
//! an unsigned, badly signed, stale or unregistered caller; 400 for a body
//! of the wrong dtype or shape; 413 past `max_body`; 429 past a caller's
//! `requests_per_second`; 408 past `timeout`.

use std::collections::BTreeSet;
use std::num::NonZeroU32;
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use agora_client::{Chain, ChainError, KeyAddresser};
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use serde_json::json;
use tower_http::timeout::TimeoutLayer;

use crate::Model;
use crate::auth::{self, AuthError};
use crate::tensor::{decode_inputs, encode_outputs};

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
        let peers: BTreeSet<String> = chain
            .metagraph(graph)?
            .into_iter()
            .map(|peer| peer.address.to_string())
            .collect();
        let count = peers.len();
        *self.addresses.write().expect("not poisoned") = peers;
        Ok(count)
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
}

/// The axon's routes, with its limits.
pub fn router(model: Arc<dyn Model>, registry: Registry, config: AxonConfig) -> Router {
    let limiter = RateLimiter::keyed(Quota::per_second(config.requests_per_second));
    let timeout = config.timeout;
    let max_body = config.max_body;
    let axon = Arc::new(Axon {
        model,
        registry,
        config,
        limiter,
    });
    Router::new()
        .route("/health", get(health))
        .route("/forward", post(forward))
        .layer(DefaultBodyLimit::max(max_body))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            timeout,
        ))
        .with_state(axon)
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

async fn forward(State(axon): State<Arc<Axon>>, headers: HeaderMap, body: Bytes) -> Response {
    let header = |name: &'static str| {
        headers
            .get(name)
            .and_then(|value| value.to_str().ok())
            .map(str::to_string)
    };
    let skew = axon.config.skew.as_secs();
    let key = match auth::verify(header, "POST", "/forward", &body, now(), skew) {
        Ok(key) => key,
        Err(error) => return refuse(StatusCode::UNAUTHORIZED, error),
    };
    if let Err(address) = axon.registry.registered(&key) {
        let error = AuthError::NotRegistered {
            address,
            graph: axon.config.graph.clone(),
        };
        return refuse(StatusCode::UNAUTHORIZED, error);
    }
    if axon.limiter.check_key(&key).is_err() {
        let limit = axon.config.requests_per_second;
        return refuse(
            StatusCode::TOO_MANY_REQUESTS,
            format!("more than {limit} requests a second from this caller"),
        );
    }
    let context = axon.model.context();
    let inputs = match decode_inputs(&body, context, axon.config.max_batch) {
        Ok(inputs) => inputs,
        Err(error) => return refuse(StatusCode::BAD_REQUEST, error),
    };
    // The model is CPU work: off the async threads.
    let model = Arc::clone(&axon.model);
    match tokio::task::spawn_blocking(move || model.forward(&inputs)).await {
        Ok(outputs) => encode_outputs(&outputs, axon.model.dim()).into_response(),
        Err(_) => refuse(StatusCode::INTERNAL_SERVER_ERROR, "the model failed"),
    }
}
