//! What can go wrong at the command line, and the exit code each failure gets.
//!
//! Exit codes let scripts tell failures apart without parsing messages:
//!
//! | code | meaning |
//! |---|---|
//! | 0 | success |
//! | 1 | any other failure |
//! | 2 | usage: a bad argument, flag or input |
//! | 3 | the account is locked: wrong passphrase, or the data directory is in use |
//! | 4 | network: no daemon running, or the daemon or the network failed |
//! | 5 | not found: an unknown contact or conversation |

use std::{io, path::PathBuf, process::ExitCode};

use crate::api::ApiError;

/// A command's failure.
#[derive(Debug, thiserror::Error)]
pub(crate) enum CliError {
    /// The command line or its input is wrong.
    #[error("{0}")]
    Usage(String),
    /// The passphrase does not unlock the account.
    #[error("wrong passphrase")]
    WrongPassphrase,
    /// Another process (usually `tern daemon`) holds the data directory.
    #[error(
        "the account in {0} is in use by another process; if `tern daemon` is running, it is \
         the one holding it, and commands talk to it automatically"
    )]
    Locked(PathBuf),
    /// The command needs a running daemon and there is none.
    #[error(
        "no daemon is running for {0}; start one with `tern daemon` (see `tern daemon --help`)"
    )]
    NoDaemon(PathBuf),
    /// The daemon or the network failed.
    #[error("{0}")]
    Network(String),
    /// An unknown contact or conversation.
    #[error("{0}")]
    NotFound(String),
    /// No account in the data directory.
    #[error("no account in {0}; create one with `tern init`")]
    NoAccount(PathBuf),
    /// Anything else.
    #[error(transparent)]
    Other(#[from] anyhow::Error),
}

impl CliError {
    fn exit_code(&self) -> u8 {
        match self {
            Self::Usage(_) | Self::NoAccount(_) => 2,
            Self::WrongPassphrase | Self::Locked(_) => 3,
            Self::NoDaemon(_) | Self::Network(_) => 4,
            Self::NotFound(_) => 5,
            Self::Other(_) => 1,
        }
    }

    /// A stable machine-readable name, used in `--json` error output.
    fn code(&self) -> &'static str {
        match self {
            Self::Usage(_) => "usage",
            Self::WrongPassphrase => "wrong_passphrase",
            Self::Locked(_) => "locked",
            Self::NoDaemon(_) => "no_daemon",
            Self::Network(_) => "network",
            Self::NotFound(_) => "not_found",
            Self::NoAccount(_) => "no_account",
            Self::Other(_) => "failure",
        }
    }

    /// The message for people, in the chosen language. The `Display` text stays English:
    /// it is what `--json` reports, and what logs show.
    fn localized(&self) -> String {
        match self {
            Self::WrongPassphrase => t!("error-wrong-passphrase"),
            Self::Locked(dir) => t!("error-locked", dir = dir.display().to_string()),
            Self::NoDaemon(dir) => t!("error-no-daemon", dir = dir.display().to_string()),
            Self::NoAccount(dir) => t!("error-no-account", dir = dir.display().to_string()),
            // Texts made where the failure happened: already in the chosen language, or
            // the daemon's own (the local API speaks English).
            Self::Usage(_) | Self::Network(_) | Self::NotFound(_) | Self::Other(_) => {
                self.to_string()
            }
        }
    }

    /// Whether this is our stdout being closed by the reader (`tern history | head`).
    pub(crate) fn is_broken_pipe(&self) -> bool {
        match self {
            Self::Other(e) => e
                .chain()
                .filter_map(|cause| cause.downcast_ref::<io::Error>())
                .any(|e| e.kind() == io::ErrorKind::BrokenPipe),
            _ => false,
        }
    }
}

impl From<io::Error> for CliError {
    fn from(e: io::Error) -> Self {
        Self::Other(e.into())
    }
}

impl From<ApiError> for CliError {
    fn from(e: ApiError) -> Self {
        match e.code.as_str() {
            "not_found" => Self::NotFound(e.message),
            "bad_request" | "too_large" | "conflict" | "not_ready" | "bad_range" => {
                Self::Usage(e.message)
            }
            "unavailable" => Self::Network(e.message),
            "wrong_passphrase" => Self::WrongPassphrase,
            _ => Self::Other(anyhow::anyhow!("{}", e.message)),
        }
    }
}

impl From<tern_node::StartError> for CliError {
    fn from(e: tern_node::StartError) -> Self {
        use tern_node::StartError as E;
        match e {
            E::WrongPassphrase => Self::WrongPassphrase,
            E::NotInitialized(dir) => Self::NoAccount(dir),
            E::Locked => Self::Locked(PathBuf::new()),
            E::Address(..) => Self::Usage(e.to_string()),
            E::Network(_) => Self::Network(e.to_string()),
            other => Self::Other(other.into()),
        }
    }
}

/// Prints the error for people (or as one JSON object with `--json`) and returns its exit code.
#[allow(
    clippy::print_stderr,
    reason = "the binary's edge reports failures on stderr"
)]
pub(crate) fn report(error: &CliError, json: bool) -> ExitCode {
    if json {
        let body = serde_json::json!({
            "error": { "code": error.code(), "message": error.to_string() }
        });
        eprintln!("{body}");
    } else {
        eprintln!("tern: {}", error.localized());
        if let CliError::Other(e) = error {
            for cause in e.chain().skip(1) {
                eprintln!("  {}", t!("error-caused-by", cause = cause.to_string()));
            }
        }
    }
    ExitCode::from(error.exit_code())
}
