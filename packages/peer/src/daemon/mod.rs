//! `agora peer run`: one peer, for weeks. It serves its model (the axon),
//! joins its graph (registering, serving its endpoint, keeping its stake
//! bonded), and every epoch refreshes the metagraph, learns through its
//! neighbours, values them (an EMA of their worth), and sets its row, or
//! commits it and reveals it in its window. What a restart must not lose is
//! in the data dir ([`store`]), written atomically.
//!
//! Logs go through `tracing`; figures through the `metrics` facade (the
//! command installs a Prometheus exporter): `agora_loss{kind}`,
//! `agora_stake`, `agora_incentive`, `agora_last_row_block`,
//! `agora_epoch_lag_blocks`, `agora_epochs_total`, beside the axon's and
//! the dendrite's.

pub mod config;
mod peer;
pub mod store;

use std::sync::Arc;
use std::time::Duration;

use agora_client::{Chain, ChainError};
use tokio::sync::watch;
use tracing::{info, warn};

pub use config::{ConfigError, PeerConfig};
use peer::Peer;
pub use store::{Store, StoreError};

use crate::PeerKey;
use crate::axon::{self, AxonConfig, Registry};

/// How long a step may run on after SIGTERM before it is abandoned (what
/// it wrote is whole: every write is atomic, a commit's salt is saved
/// before the commit is sent).
pub const GRACE: Duration = Duration::from_secs(5);

/// Who the daemon is on chain: the name its chain signs for, and the key
/// that signs its axon requests (the same key).
pub struct Identity {
    pub name: String,
    pub key: PeerKey,
}

#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    #[error("chain: {0}")]
    Chain(#[from] ChainError),
    #[error("data dir: {0}")]
    Store(#[from] StoreError),
    #[error("model: {0}")]
    Model(#[from] candle_core::Error),
    #[error("{context}: {source}")]
    Io {
        context: String,
        source: std::io::Error,
    },
}

fn io(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> DaemonError {
    let context = context.into();
    move |source| DaemonError::Io { context, source }
}

/// Runs the peer until `shutdown` turns true; then the axon stops taking
/// requests, the current step finishes (within [`GRACE`]) and it returns.
pub async fn run<C: Chain>(
    chain: &mut C,
    identity: Identity,
    config: &PeerConfig,
    mut shutdown: watch::Receiver<bool>,
) -> Result<(), DaemonError> {
    let mut peer = Peer::start(chain, identity, config)?;

    let registry = Registry::new(chain);
    let mut axon_config = AxonConfig::new(&config.graph);
    axon_config.max_concurrent = config.max_concurrent;
    axon_config.max_queue = config.max_queue;
    axon_config.backward = config.backward();
    let app = axon::router(peer.model(), registry.clone(), axon_config);
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .map_err(io(format!("binding {}", config.listen)))?;
    let mut axon_stop = shutdown.clone();
    let axon = tokio::spawn(async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(async move {
                let _ = axon_stop.wait_for(|stop| *stop).await;
            })
            .await
    });
    info!(listen = %config.listen, endpoint = %config.endpoint(), "axon serving");

    peer.join(chain, &registry)?;
    let poll = Duration::from_millis(config.poll_ms);
    let mut handled: Option<u64> = None;
    while !*shutdown.borrow() {
        let state = match chain.epoch_state(&config.graph) {
            Ok(state) => state,
            Err(error) => {
                warn!(%error, "reading the epoch state; trying again");
                pause(&mut shutdown, poll).await;
                continue;
            }
        };
        let height = chain.height().unwrap_or(state.last_epoch_block);
        metrics::gauge!("agora_epoch_lag_blocks")
            .set(height.saturating_sub(state.next_due_block) as f64);
        if handled == Some(state.epoch) {
            // New peers may call before the next epoch: let them in.
            if let Err(error) = registry.refresh(chain, &config.graph) {
                warn!(%error, "refreshing the metagraph");
            }
            pause(&mut shutdown, poll).await;
            continue;
        }
        let step = peer.epoch(chain, &registry, state.epoch);
        tokio::pin!(step);
        let outcome = tokio::select! {
            outcome = &mut step => outcome,
            _ = shutdown.wait_for(|stop| *stop) => {
                info!("stopping: finishing the current step");
                match tokio::time::timeout(GRACE, &mut step).await {
                    Ok(outcome) => outcome,
                    Err(_) => {
                        warn!(grace_seconds = GRACE.as_secs(), "the step did not finish in time: abandoned");
                        break;
                    }
                }
            }
        };
        match outcome {
            Ok(()) => {
                handled = Some(state.epoch);
                metrics::counter!("agora_epochs_total").increment(1);
            }
            // The chain is unreachable for now: the same epoch again.
            Err(DaemonError::Chain(error)) => {
                warn!(%error, epoch = state.epoch, "the epoch step failed; trying again");
                pause(&mut shutdown, poll).await;
            }
            Err(error) => return Err(error),
        }
    }
    match tokio::time::timeout(GRACE, axon).await {
        Ok(Ok(Ok(()))) => {}
        Ok(Ok(Err(error))) => warn!(%error, "the axon stopped with an error"),
        Ok(Err(error)) => warn!(%error, "the axon's task failed"),
        Err(_) => warn!("the axon did not stop in time"),
    }
    info!("stopped");
    Ok(())
}

/// Sleeps `poll`, or less if shutdown comes.
async fn pause(shutdown: &mut watch::Receiver<bool>, poll: Duration) {
    let _ = tokio::time::timeout(poll, shutdown.wait_for(|stop| *stop)).await;
}

/// The model a peer serves, shared with its axon.
pub type Served = Arc<dyn crate::Model>;
