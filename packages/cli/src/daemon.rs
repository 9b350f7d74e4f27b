//! `agora peer run --config peer.toml`: the peer as a long-running daemon
//! ([`agora_peer::daemon`]), on the embedded chain of a state file or on a
//! node. Wiring only: config, logs, metrics exporter, key, chain, signals.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::time::Duration;

use agora_client::{Chain, Retrying, key_account};
use agora_peer::PeerKey;
use agora_peer::daemon::{self, Identity, PeerConfig};
use clap::{Args, ValueEnum};
use metrics_exporter_prometheus::Matcher;
use tokio::sync::watch;
use tracing_subscriber::filter::{LevelFilter, Targets};

use crate::chain::file::FileChain;
use crate::error::CliError;
use crate::network::{self, NetworkArgs};

/// The network name of an `agora chain` state file in peer.toml.
pub const EMBEDDED: &str = "embedded";
/// Tries of a chain call that cannot reach the node, and the first wait.
const CHAIN_TRIES: u32 = 6;
const CHAIN_BACKOFF: Duration = Duration::from_millis(250);
/// Upper bounds of the latency histograms, in seconds.
const LATENCY_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
];

#[derive(Debug, Args)]
pub struct RunArgs {
    /// The peer's config: examples/peer.toml documents every field, and
    /// AGORA_PEER_<FIELD> overrides one (AGORA_PEER_STAKE=5000).
    #[arg(long)]
    config: PathBuf,
    /// Log lines for people (`human`) or one JSON object a line (`json`).
    /// Levels by module from AGORA_LOG, e.g.
    /// `AGORA_LOG=info,agora_peer::dendrite=debug` (default `info`).
    #[arg(long, value_enum, default_value_t = LogFormat::Human)]
    log_format: LogFormat,
    /// The networks file for a node `network` (default ./agora.toml, else
    /// $AGORA_HOME/agora.toml).
    #[arg(long)]
    networks: Option<PathBuf>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum LogFormat {
    Human,
    Json,
}

/// Levels by module from AGORA_LOG (`info` when unset). Targets rather
/// than an `EnvFilter`: module prefixes and levels are all a daemon's
/// logs need, and the env filter's regex engine cost the first build.
fn log_levels(value: Option<&str>) -> Result<Targets, CliError> {
    match value {
        None => Ok(Targets::new().with_default(LevelFilter::INFO)),
        Some(value) => value.parse().map_err(|e| {
            CliError::Invalid(format!(
                "AGORA_LOG={value:?}: {e} (levels by module, e.g. info,agora_peer::dendrite=debug)"
            ))
        }),
    }
}

fn init_logs(format: LogFormat, levels: Targets) {
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    let logs = tracing_subscriber::fmt()
        .with_max_level(LevelFilter::TRACE)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr);
    // Only the first subscriber of a process is kept; there is one.
    let _ = match format {
        LogFormat::Human => logs.finish().with(levels).try_init(),
        LogFormat::Json => logs
            .json()
            .flatten_event(true)
            .finish()
            .with(levels)
            .try_init(),
    };
}

pub fn run(args: &RunArgs) -> Result<(), CliError> {
    let config = PeerConfig::load(&args.config, std::env::vars())
        .map_err(|e| CliError::Invalid(e.to_string()))?;
    let levels = log_levels(std::env::var("AGORA_LOG").ok().as_deref())?;
    init_logs(args.log_format, levels);
    if config.network == EMBEDDED {
        // Any key of the keyring, or a public test key: the embedded
        // chain is a chain of one's own.
        let secret = network::signing_key(&config.key, true)?;
        let mut chain = FileChain::open(&config.state)?;
        let key = peer_key(&secret)?;
        // An embedded account is named by its key, so that the axon maps
        // a signed request to it.
        let name = key_account(&key.public_key());
        chain.add_key(&name, &secret)?;
        serve(
            Retrying::new(chain, CHAIN_TRIES, CHAIN_BACKOFF),
            name,
            key,
            &config,
        )
    } else {
        let network_args = NetworkArgs {
            network: Some(config.network.clone()),
            config: args.networks.clone(),
        };
        let mut chain = network::connect(&network_args, &config.network)?;
        if chain.contract().is_none() {
            return Err(CliError::Invalid(format!(
                "no market recorded for {0}: run `agora deploy --network {0}` first",
                config.network
            )));
        }
        let secret = network::signing_key(&config.key, chain.network().test_keys)?;
        chain.add_key(&config.key, &secret)?;
        let key = peer_key(&secret)?;
        serve(
            Retrying::new(chain, CHAIN_TRIES, CHAIN_BACKOFF),
            config.key.clone(),
            key,
            &config,
        )
    }
}

fn peer_key(secret: &k256::ecdsa::SigningKey) -> Result<PeerKey, CliError> {
    let bytes: [u8; 32] = secret.to_bytes().into();
    PeerKey::from_secret(&bytes).map_err(|e| CliError::Invalid(format!("the key: {e}")))
}

fn serve<C: Chain>(
    mut chain: C,
    name: String,
    key: PeerKey,
    config: &PeerConfig,
) -> Result<(), CliError> {
    let runtime = tokio::runtime::Runtime::new().map_err(CliError::io("starting the runtime"))?;
    if let Some(address) = config.metrics {
        let _entered = runtime.enter();
        metrics_exporter_prometheus::PrometheusBuilder::new()
            .with_http_listener(address)
            // Latencies as histograms (Prometheus aggregates those across
            // peers, not quantiles).
            .set_buckets_for_metric(Matcher::Suffix("_seconds".to_string()), LATENCY_BUCKETS)
            .map_err(|e| CliError::Invalid(format!("metric buckets: {e}")))?
            .install()
            .map_err(|e| {
                CliError::Invalid(format!("field `metrics`: serving on {address}: {e}"))
            })?;
        tracing::info!(%address, "metrics at /metrics");
    }
    let (stop, shutdown) = watch::channel(false);
    runtime.spawn(async move {
        stopped().await;
        tracing::info!("signal received: stopping");
        let _ = stop.send(true);
    });
    let identity = Identity { name, key };
    runtime.block_on(daemon::run(&mut chain, identity, config, shutdown))?;
    Ok(())
}

/// SIGINT or SIGTERM.
async fn stopped() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut terminate) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = terminate.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tracing::Level;

    #[test]
    fn agora_log_sets_levels_by_module_and_a_bad_value_is_refused() {
        let levels = log_levels(Some("warn,agora_peer::dendrite=debug")).unwrap();
        assert!(levels.would_enable("agora_peer::dendrite", &Level::DEBUG));
        assert!(!levels.would_enable("agora_peer::axon", &Level::INFO));
        assert!(levels.would_enable("agora_peer::axon", &Level::WARN));
        let default = log_levels(None).unwrap();
        assert!(default.would_enable("agora", &Level::INFO));
        assert!(!default.would_enable("agora", &Level::DEBUG));
        let refused = log_levels(Some("agora=loud")).unwrap_err().to_string();
        assert!(refused.contains("AGORA_LOG=\"agora=loud\""), "{refused}");
    }
}
