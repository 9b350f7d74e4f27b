//! The dendrite: calls neighbours' axons concurrently under one deadline.
//! A neighbour that fails, answers badly or misses the deadline contributes
//! zeros, and its failures are counted so the peer can rank it down
//! (also as `agora_neighbour_failures_total{uid}` in the `metrics` facade).
//! A call that cannot connect is tried again after a jittered backoff,
//! within the deadline; a body past `max_response` bytes is cut off and
//! counts as a failure.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use futures::future::join_all;

use crate::PeerKey;
use crate::model::Applied;
use crate::tensor::{decode_hidden, decode_outputs, encode_gradients, encode_inputs};

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Neighbour {
    pub uid: u16,
    /// Base URL of its axon, e.g. `http://127.0.0.1:9001`.
    pub endpoint: String,
}

/// One neighbour's answer.
#[derive(Clone, Debug, PartialEq)]
pub struct Reply {
    pub uid: u16,
    /// `[batch][dim]`; zeros when the call failed.
    pub outputs: Vec<Vec<f32>>,
    /// Why it failed, if it did.
    pub error: Option<String>,
}

/// Clones share the connection pool and the counters, so a call sent from
/// a spawned task (a learner's pipelined batch) is counted with the rest.
#[derive(Clone)]
pub struct Dendrite {
    client: reqwest::Client,
    key: PeerKey,
    deadline: Duration,
    failures: Arc<Mutex<BTreeMap<u16, u32>>>,
    calls: Arc<Mutex<BTreeMap<u16, u32>>>,
    /// The largest response body read, in bytes.
    pub max_response: usize,
}

/// Tries of a call that cannot connect, and the first backoff.
const CONNECT_TRIES: u32 = 3;
const BACKOFF: Duration = Duration::from_millis(50);

impl Dendrite {
    pub fn new(key: PeerKey, deadline: Duration) -> Self {
        Self {
            client: reqwest::Client::new(),
            key,
            deadline,
            failures: Arc::default(),
            calls: Arc::default(),
            max_response: 16 << 20,
        }
    }

    /// Failed calls so far, by uid.
    pub fn failures(&self) -> BTreeMap<u16, u32> {
        self.failures.lock().expect("not poisoned").clone()
    }

    /// Calls so far, by uid.
    pub fn calls(&self) -> BTreeMap<u16, u32> {
        self.calls.lock().expect("not poisoned").clone()
    }

    /// Sends `inputs` (each `context` bytes) to every neighbour at once;
    /// one reply each, in the order given, within the deadline.
    pub async fn forward(
        &self,
        neighbours: &[Neighbour],
        inputs: &[Vec<u8>],
        context: usize,
        dim: usize,
    ) -> Vec<Reply> {
        let calls: Vec<(Neighbour, Vec<Vec<u8>>)> = neighbours
            .iter()
            .map(|neighbour| (neighbour.clone(), inputs.to_vec()))
            .collect();
        self.forward_each(&calls, context, dim).await
    }

    /// Sends each neighbour its own inputs (sparse dispatch: only the
    /// examples routed to it), all at once; one reply each, in the order
    /// given, within the deadline.
    pub async fn forward_each(
        &self,
        calls: &[(Neighbour, Vec<Vec<u8>>)],
        context: usize,
        dim: usize,
    ) -> Vec<Reply> {
        let calls = calls.iter().map(|(neighbour, inputs)| async move {
            *self
                .calls
                .lock()
                .expect("not poisoned")
                .entry(neighbour.uid)
                .or_default() += 1;
            let body = encode_inputs(inputs, context);
            match self.call(neighbour, body, inputs.len(), dim).await {
                Ok(outputs) => Reply {
                    uid: neighbour.uid,
                    outputs,
                    error: None,
                },
                Err(error) => {
                    *self
                        .failures
                        .lock()
                        .expect("not poisoned")
                        .entry(neighbour.uid)
                        .or_default() += 1;
                    metrics::counter!(
                        "agora_neighbour_failures_total",
                        "uid" => neighbour.uid.to_string()
                    )
                    .increment(1);
                    Reply {
                        uid: neighbour.uid,
                        outputs: vec![vec![0.0; dim]; inputs.len()],
                        error: Some(error),
                    }
                }
            }
        });
        join_all(calls).await
    }

    /// Sends a neighbour the gradient of this peer's loss with respect to
    /// the representations it answered for `inputs` (`POST /backward`),
    /// within the deadline. Not counted among its failures: an axon's
    /// `/backward` is off unless its miner turns it on.
    pub async fn backward(
        &self,
        neighbour: &Neighbour,
        inputs: &[Vec<u8>],
        gradients: &[Vec<f32>],
        context: usize,
        dim: usize,
    ) -> Result<Applied, String> {
        let body = encode_gradients(inputs, gradients, context, dim);
        let bytes = self.post_within(neighbour, "/backward", body).await?;
        serde_json::from_slice(&bytes).map_err(|e| format!("a bad /backward answer: {e}"))
    }

    /// Every position's hidden state of `inputs` from a neighbour whose
    /// model has them (`POST /hidden`, `f16` on the wire),
    /// `[batch][context][dim]`, within the deadline.
    pub async fn hidden(
        &self,
        neighbour: &Neighbour,
        inputs: &[Vec<u8>],
        context: usize,
        dim: usize,
    ) -> Result<Vec<Vec<Vec<f32>>>, String> {
        let body = encode_inputs(inputs, context);
        let bytes = self.post_within(neighbour, "/hidden", body).await?;
        decode_hidden(&bytes, inputs.len(), context, dim).map_err(|e| e.to_string())
    }

    async fn call(
        &self,
        neighbour: &Neighbour,
        body: Vec<u8>,
        batch: usize,
        dim: usize,
    ) -> Result<Vec<Vec<f32>>, String> {
        let bytes = self.post_within(neighbour, "/forward", body).await?;
        decode_outputs(&bytes, batch, dim).map_err(|e| e.to_string())
    }

    /// [`Dendrite::post`] within the deadline.
    async fn post_within(
        &self,
        neighbour: &Neighbour,
        path: &str,
        body: Vec<u8>,
    ) -> Result<Vec<u8>, String> {
        match tokio::time::timeout(self.deadline, self.post(neighbour, path, body)).await {
            Ok(result) => result,
            Err(_) => Err(format!("no answer within {:?}", self.deadline)),
        }
    }

    /// A signed POST of `body` to `path` of the neighbour's axon; the
    /// answer's body when it succeeded. A call that cannot connect is
    /// tried again after a jittered backoff.
    async fn post(
        &self,
        neighbour: &Neighbour,
        path: &str,
        body: Vec<u8>,
    ) -> Result<Vec<u8>, String> {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let url = format!("{}{path}", neighbour.endpoint.trim_end_matches('/'));
        let mut tries = 0;
        let mut response = loop {
            let mut request = self.client.post(&url);
            for (name, value) in self.key.sign("POST", path, now, &body) {
                request = request.header(name, value);
            }
            tries += 1;
            match request.body(body.clone()).send().await {
                Ok(response) => break response,
                Err(error) if error.is_connect() && tries < CONNECT_TRIES => {
                    let jitter = rand::random::<u64>() % 50;
                    let wait = BACKOFF * 2u32.pow(tries - 1) + Duration::from_millis(jitter);
                    tokio::time::sleep(wait).await;
                }
                Err(error) => return Err(error.to_string()),
            }
        };
        let status = response.status();
        let mut bytes = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(|e| e.to_string())? {
            if bytes.len() + chunk.len() > self.max_response {
                return Err(format!("a response past {} bytes", self.max_response));
            }
            bytes.extend_from_slice(&chunk);
        }
        if !status.is_success() {
            return Err(format!("{status}: {}", String::from_utf8_lossy(&bytes)));
        }
        Ok(bytes)
    }
}
