//! How fast an axon answers: requests per second and latency percentiles
//! for `callers` signed callers at once, each sending `requests` forward
//! requests of `batch` inputs through a [`Dendrite`], over loopback HTTP,
//! to an axon serving `model` (`POST /forward`, or `POST /hidden`: every
//! position's hidden state in f16). What `agora bench axon` prints.

use std::sync::Arc;
use std::time::{Duration, Instant};

use agora_client::{Chain, EmbeddedChain, key_account};
use agora_market::msg::{GraphParams, TEXT};
use serde::Serialize;

use crate::Model;
use crate::axon::router;
use crate::local::batch;
use crate::{AxonConfig, Dendrite, Neighbour, PeerKey, Registry};

/// One measured setting.
#[derive(Clone, Debug, Serialize)]
pub struct SpeedRow {
    pub callers: usize,
    pub batch: usize,
    pub requests: usize,
    pub failed: usize,
    pub requests_per_second: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
}

#[derive(Debug, thiserror::Error)]
pub enum SpeedError {
    #[error("chain: {0}")]
    Chain(#[from] agora_client::ChainError),
    #[error("model: {0}")]
    Model(#[from] candle_core::Error),
    #[error("serving: {0}")]
    Io(#[from] std::io::Error),
    #[error("the key: {0}")]
    Key(#[from] crate::auth::AuthError),
}

/// The `p`-th percentile (0–100) of sorted `values`, nearest rank.
fn percentile(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1].as_secs_f64() * 1000.0
}

/// Measures each of `callers` (e.g. 1 and 4) in turn against one axon,
/// asking for hidden states per position when `hidden`.
pub async fn measure(
    model: Arc<dyn Model>,
    batch_size: usize,
    requests: usize,
    callers: &[usize],
    text: &[u8],
    hidden: bool,
) -> Result<Vec<SpeedRow>, SpeedError> {
    let most = callers.iter().copied().max().unwrap_or(1);
    let server = PeerKey::from_secret(&[1; 32])?;
    let keys: Vec<PeerKey> = (0..most)
        .map(|i| PeerKey::from_secret(&[i as u8 + 2; 32]))
        .collect::<Result<_, _>>()?;
    let params = GraphParams::builder()
        .emission_per_epoch(1)
        .unbonding_period(1)
        .max_peers(256)
        .build();
    let mut chain = EmbeddedChain::new("uagora", "admin", 10u128.pow(15), params)?;
    for key in std::iter::once(&server).chain(&keys) {
        let name = key_account(&key.public_key());
        chain.fund("admin", &name, 1_000)?;
        chain.register(&name, TEXT, "http://127.0.0.1:1", 0)?;
    }
    let registry = Registry::new(&chain);
    registry.refresh(&chain, TEXT)?;
    let mut config = AxonConfig::new(TEXT);
    // Throughput, not fairness: no per-caller limit, room for every batch.
    config.requests_per_second = std::num::NonZeroU32::MAX;
    config.max_batch = batch_size.max(1);
    config.max_body = 64 << 20;
    let (context, dim) = (model.context(), model.dim());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let endpoint = format!("http://{}", listener.local_addr()?);
    let app = router(model, registry, config);
    let server_task = tokio::spawn(async move { axum::serve(listener, app).await });
    let neighbour = [Neighbour { uid: 0, endpoint }];
    let (inputs, _) = batch(text, context, batch_size, 7);

    let mut rows = Vec::new();
    for &count in callers {
        let started = Instant::now();
        let calls = keys[..count].iter().cloned().map(|key| {
            let neighbour = neighbour.clone();
            let inputs = inputs.clone();
            async move {
                let dendrite = Dendrite::new(key, Duration::from_secs(30));
                let mut latencies = Vec::with_capacity(requests);
                let mut failed = 0;
                for _ in 0..requests {
                    let sent = Instant::now();
                    let ok = match hidden {
                        true => dendrite
                            .hidden(&neighbour[0], &inputs, context, dim)
                            .await
                            .is_ok(),
                        false => dendrite.forward(&neighbour, &inputs, context, dim).await[0]
                            .error
                            .is_none(),
                    };
                    latencies.push(sent.elapsed());
                    failed += usize::from(!ok);
                }
                (latencies, failed)
            }
        });
        let results = futures::future::join_all(calls).await;
        let elapsed = started.elapsed().as_secs_f64();
        let mut latencies: Vec<Duration> = results.iter().flat_map(|(l, _)| l.clone()).collect();
        latencies.sort_unstable();
        let failed = results.iter().map(|(_, f)| f).sum();
        rows.push(SpeedRow {
            callers: count,
            batch: batch_size,
            requests: latencies.len(),
            failed,
            requests_per_second: latencies.len() as f64 / elapsed.max(f64::EPSILON),
            p50_ms: percentile(&latencies, 50.0),
            p99_ms: percentile(&latencies, 99.0),
        });
    }
    server_task.abort();
    Ok(rows)
}
