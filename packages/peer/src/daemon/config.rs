//! `peer.toml`: what `agora peer run` does, field by field
//! (examples/peer.toml documents each). Any field may be overridden by an
//! environment variable `AGORA_PEER_<FIELD>` (e.g. `AGORA_PEER_STAKE=5000`),
//! as services are configured.

use std::net::SocketAddr;
use std::num::NonZeroU32;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::axon::BackwardConfig;
use crate::local::Shape;
use crate::model::StepBound;

/// The prefix of environment overrides.
pub const ENV_PREFIX: &str = "AGORA_PEER_";

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct PeerConfig {
    /// `embedded` (the chain of an `agora chain` state file, `state`), or
    /// a network of agora.toml (`localnet` is built in).
    pub network: String,
    /// With `network = "embedded"`: the state file, shared with `agora
    /// chain` and other daemons.
    #[serde(default = "default_state")]
    pub state: PathBuf,
    /// The graph to serve and validate in.
    #[serde(default = "default_graph")]
    pub graph: String,
    /// The key that signs transactions and axon requests: a key of `agora
    /// keys` (passphrase from AGORA_KEYRING_PASSPHRASE), or on the
    /// localnet and the embedded chain one of the public test keys.
    pub key: String,
    /// Stake to keep bonded (base units); topped up at start.
    #[serde(default)]
    pub stake: u64,
    /// Where the axon listens.
    pub listen: SocketAddr,
    /// The endpoint registered on chain (default `http://LISTEN`).
    #[serde(default)]
    pub endpoint: Option<String>,
    /// Where Prometheus metrics are served (`/metrics`); none if unset.
    #[serde(default)]
    pub metrics: Option<SocketAddr>,
    /// Checkpoints, the worth EMA and pending commits: what a restart
    /// must not lose.
    pub data_dir: PathBuf,
    /// The corpus: a file, or a directory (every text file in it, in name
    /// order). Without it, Debian's fortunes, or where they are absent the
    /// licence texts, with a warning.
    #[serde(default)]
    pub corpus: Option<PathBuf>,
    /// This peer trains on shard `shard` of `shards`.
    #[serde(default)]
    pub shard: usize,
    #[serde(default = "one")]
    pub shards: usize,
    /// The local model's shape: context bytes, embedding, hidden and
    /// representation widths (every peer of a graph must share `context`
    /// and `dim`).
    #[serde(default = "default_context")]
    pub context: usize,
    #[serde(default = "default_embed")]
    pub embed: usize,
    #[serde(default = "default_hidden")]
    pub hidden: usize,
    #[serde(default = "default_dim")]
    pub dim: usize,
    /// A model to start from when the data dir has none yet (e.g. from
    /// `agora peer train --out`), of this shape; without it, the daemon
    /// trains one.
    #[serde(default)]
    pub model: Option<PathBuf>,
    /// Steps of local training when there is no model checkpoint yet.
    #[serde(default = "default_train_steps")]
    pub train_steps: usize,
    /// Gate-and-head steps through the neighbours each epoch.
    #[serde(default = "default_learn_steps")]
    pub learn_steps: usize,
    /// Neighbours each input routes to (the sparse gate's k).
    #[serde(default = "default_top_k")]
    pub top_k: usize,
    /// Weight of the newest assessment in each neighbour's worth EMA.
    #[serde(default = "default_ema")]
    pub worth_ema: f64,
    /// Seeds the model's initial parameters and the batches.
    #[serde(default)]
    pub seed: u64,
    /// How often the chain is asked whether an epoch closed.
    #[serde(default = "default_poll_ms")]
    pub poll_ms: u64,
    /// Deadline of one call to the neighbours.
    #[serde(default = "default_neighbour_timeout_ms")]
    pub neighbour_timeout_ms: u64,
    /// The axon's global concurrency limit, and requests that may wait.
    #[serde(default = "default_max_concurrent")]
    pub max_concurrent: usize,
    #[serde(default = "default_max_queue")]
    pub max_queue: usize,
    /// The largest neighbour response read, in bytes.
    #[serde(default = "default_max_response")]
    pub max_response_bytes: usize,
    /// Whether callers' gradients train the served model (`POST
    /// /backward`), how far one step may go (`gradient_lr` ×
    /// `gradient_max_norm`), and how many one caller may send a second.
    #[serde(default)]
    pub accept_gradients: bool,
    #[serde(default = "default_gradient_lr")]
    pub gradient_lr: f32,
    #[serde(default = "default_gradient_max_norm")]
    pub gradient_max_norm: f32,
    #[serde(default = "default_gradients_per_second")]
    pub gradients_per_second: u32,
    /// Whether each learning step sends the neighbours it routed to the
    /// gradient with respect to their outputs.
    #[serde(default)]
    pub send_gradients: bool,
    /// Training steps the served model takes on its shard every epoch,
    /// while it serves (0: it stays as first trained).
    #[serde(default)]
    pub local_steps: usize,
    /// With a step size, the served model learns through the network at
    /// every gate-and-head step (whitepaper §5.3; its checkpoint is then
    /// saved every epoch); unset, it does not.
    #[serde(default)]
    pub served_lr: Option<f64>,
}

fn default_state() -> PathBuf {
    PathBuf::from("agora-chain.json")
}
fn default_graph() -> String {
    agora_market::msg::TEXT.to_string()
}
fn one() -> usize {
    1
}
fn default_context() -> usize {
    8
}
fn default_embed() -> usize {
    16
}
fn default_hidden() -> usize {
    64
}
fn default_dim() -> usize {
    16
}
fn default_train_steps() -> usize {
    300
}
fn default_learn_steps() -> usize {
    30
}
fn default_top_k() -> usize {
    2
}
fn default_ema() -> f64 {
    0.5
}
fn default_poll_ms() -> u64 {
    500
}
fn default_neighbour_timeout_ms() -> u64 {
    5000
}
fn default_max_concurrent() -> usize {
    16
}
fn default_max_queue() -> usize {
    64
}
fn default_max_response() -> usize {
    4 << 20
}
fn default_gradient_lr() -> f32 {
    StepBound::default().lr
}
fn default_gradient_max_norm() -> f32 {
    StepBound::default().max_norm
}
fn default_gradients_per_second() -> u32 {
    5
}

/// A config that cannot be used; the text names the field.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ConfigError(pub String);

impl PeerConfig {
    /// Reads `path`, applies the `AGORA_PEER_*` overrides of `env`, and
    /// checks the values.
    pub fn load(
        path: &Path,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| ConfigError(format!("reading {}: {e}", path.display())))?;
        Self::parse(&text, env)
            .map_err(|ConfigError(e)| ConfigError(format!("{}: {e}", path.display())))
    }

    /// [`PeerConfig::load`] of a text.
    pub fn parse(
        text: &str,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Self, ConfigError> {
        let mut table: toml::Table =
            toml::from_str(text).map_err(|e| ConfigError(e.message().to_string()))?;
        for (name, value) in env {
            let Some(field) = name.strip_prefix(ENV_PREFIX) else {
                continue;
            };
            let field = field.to_ascii_lowercase();
            // A TOML value where it parses as one (numbers, booleans),
            // else the text itself.
            let value = toml::from_str::<toml::Table>(&format!("v = {value}"))
                .ok()
                .and_then(|mut t| t.remove("v"))
                .unwrap_or(toml::Value::String(value));
            table.insert(field, value);
        }
        // Parsed from text again so that an error shows the field's line.
        let merged = toml::to_string(&table).map_err(|e| ConfigError(e.to_string()))?;
        let config: Self = toml::from_str(&merged).map_err(|e| ConfigError(describe(&e)))?;
        config.check()?;
        Ok(config)
    }

    fn check(&self) -> Result<(), ConfigError> {
        let bad = |field: &str, why: &str| Err(ConfigError(format!("field `{field}`: {why}")));
        if self.shards == 0 {
            return bad("shards", "must be at least 1");
        }
        if self.shard >= self.shards {
            return bad("shard", "must be below `shards`");
        }
        if self.top_k == 0 {
            return bad("top_k", "must be at least 1");
        }
        if !(self.worth_ema > 0.0 && self.worth_ema <= 1.0) {
            return bad("worth_ema", "must be in (0, 1]");
        }
        if self.context == 0 || self.embed == 0 || self.hidden == 0 || self.dim == 0 {
            return bad("context", "the model's widths must be positive");
        }
        if self.poll_ms == 0 {
            return bad("poll_ms", "must be positive");
        }
        if self.max_concurrent == 0 {
            return bad("max_concurrent", "must be at least 1");
        }
        if !(self.gradient_lr.is_finite() && self.gradient_lr > 0.0) {
            return bad("gradient_lr", "must be a positive number");
        }
        if !(self.gradient_max_norm.is_finite() && self.gradient_max_norm > 0.0) {
            return bad("gradient_max_norm", "must be a positive number");
        }
        if let Some(lr) = self.served_lr
            && !(lr.is_finite() && lr > 0.0)
        {
            return bad("served_lr", "must be a positive number");
        }
        if self.gradients_per_second == 0 {
            return bad("gradients_per_second", "must be at least 1");
        }
        if let Some(endpoint) = &self.endpoint
            && !(endpoint.starts_with("http://") || endpoint.starts_with("https://"))
        {
            return bad("endpoint", "must be an http:// or https:// URL");
        }
        Ok(())
    }

    pub fn shape(&self) -> Shape {
        Shape {
            context: self.context,
            embed: self.embed,
            hidden: self.hidden,
            dim: self.dim,
        }
    }

    /// The axon's `/backward`, when `accept_gradients` is on.
    pub fn backward(&self) -> Option<BackwardConfig> {
        self.accept_gradients.then(|| BackwardConfig {
            requests_per_second: NonZeroU32::new(self.gradients_per_second)
                .unwrap_or(NonZeroU32::MIN),
            bound: StepBound {
                lr: self.gradient_lr,
                max_norm: self.gradient_max_norm,
            },
        })
    }

    /// The endpoint to register.
    pub fn endpoint(&self) -> String {
        self.endpoint
            .clone()
            .unwrap_or_else(|| format!("http://{}", self.listen))
    }
}

/// A TOML error as one line that names the field: serde names it for an
/// unknown or missing field; otherwise it is the key on the line the
/// error points at.
fn describe(error: &toml::de::Error) -> String {
    let message = error.message().trim().to_string();
    if message.contains('`') {
        return message;
    }
    let text = error.to_string();
    let key = text
        .lines()
        .find_map(|line| {
            let (_, source) = line.split_once(" | ")?;
            let (key, _) = source.split_once('=')?;
            Some(key.trim().to_string())
        })
        .filter(|key| !key.is_empty());
    match key {
        Some(key) => format!("field `{key}`: {message}"),
        None => message,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The documented example is a config the daemon takes, and says what
    /// the defaults are where it sets a field a config may leave out.
    #[test]
    fn the_example_config_parses_and_documents_the_defaults() {
        let text = include_str!("../../../../examples/peer.toml");
        let example = PeerConfig::parse(text, []).unwrap();
        assert!(example.backward().is_none());
        let required =
            "network = \"embedded\"\nkey = \"alice\"\nlisten = \"127.0.0.1:0\"\ndata_dir = \"d\"\n";
        let defaults = PeerConfig::parse(required, []).unwrap();
        assert_eq!(
            (example.gradient_lr, example.gradient_max_norm),
            (defaults.gradient_lr, defaults.gradient_max_norm)
        );
        assert_eq!(example.gradients_per_second, defaults.gradients_per_second);
        assert_eq!(example.worth_ema, defaults.worth_ema);
        assert_eq!(example.local_steps, defaults.local_steps);
        assert_eq!(example.served_lr, defaults.served_lr);
        let env = [(
            "AGORA_PEER_ACCEPT_GRADIENTS".to_string(),
            "true".to_string(),
        )];
        let on = PeerConfig::parse(text, env).unwrap().backward().unwrap();
        assert_eq!(on.bound, StepBound::default());
        assert_eq!(on.requests_per_second.get(), 5);
    }
}
