//! The one error type of the `agora` command, and the exit codes it maps
//! to: 2 for what the user can fix (an argument, a file's content, a
//! message the chain refused), 1 for a failure of this machine or the
//! node (I/O, the model, a plot, an unreachable node, a timeout).

use std::process::ExitCode;

use agora_client::ChainError;
use agora_client::keyring::KeyringError;
use agora_peer::ModelError;
use agora_peer::market::MarketError;

#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// A bad argument or file content; the text says which and why.
    #[error("{0}")]
    Invalid(String),
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{0}")]
    Chain(#[from] ChainError),
    #[error("{0}")]
    Market(#[from] MarketError),
    #[error("model: {0}")]
    Model(#[from] ModelError),
    #[error("JSON: {0}")]
    Json(#[from] serde_json::Error),
    #[error("plot: {0}")]
    Plot(String),
    #[error("{0}")]
    Keyring(#[from] KeyringError),
    #[error("{0}")]
    Daemon(#[from] agora_peer::daemon::DaemonError),
}

impl CliError {
    /// An I/O failure while doing `context` (e.g. "writing report.json").
    pub fn io(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> Self {
        let context = context.into();
        move |source| Self::Io { context, source }
    }

    /// An input the user named could not be read (exit 2: the user can fix
    /// the path).
    pub fn unreadable(what: impl std::fmt::Display) -> impl FnOnce(std::io::Error) -> Self {
        move |error| Self::Invalid(format!("cannot read {what}: {error}"))
    }

    pub fn plot(error: impl std::fmt::Display) -> Self {
        Self::Plot(error.to_string())
    }

    pub fn exit_code(&self) -> ExitCode {
        match self {
            // The node could not be reached or did not include in time.
            Self::Chain(ChainError::Transport(_) | ChainError::Timeout { .. }) => ExitCode::FAILURE,
            Self::Invalid(_) | Self::Chain(_) | Self::Json(_) => ExitCode::from(2),
            Self::Keyring(KeyringError::Io { .. } | KeyringError::Damaged { .. }) => {
                ExitCode::FAILURE
            }
            Self::Keyring(_) => ExitCode::from(2),
            Self::Io { .. }
            | Self::Market(_)
            | Self::Model(_)
            | Self::Plot(_)
            | Self::Daemon(_) => ExitCode::FAILURE,
        }
    }
}

/// Prints a failed command's error as `agora COMMAND: …` and gives its exit
/// code.
pub fn finish(command: &str, result: Result<(), CliError>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("agora {command}: {error}");
            error.exit_code()
        }
    }
}
