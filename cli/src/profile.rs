//! One account's files on this machine (a *profile*):
//!
//! ```text
//! <data dir>/
//!   node/         the node's encrypted RocksDB database and key file
//!   config.toml   network settings: bootstrap peers, relays, listen addresses
//!   api.token     the local API's bearer token (mode 0600, kept across daemon restarts)
//!   api.addr      the running daemon's API address (removed when it stops)
//! ```

use std::{
    fs,
    io::{self, Write},
    os::unix::fs::{OpenOptionsExt, PermissionsExt},
    path::{Path, PathBuf},
};

use anyhow::Context as _;
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::{cli::Global, error::CliError};

/// A passphrase, wiped from memory when dropped.
pub(crate) type Secret = Zeroizing<Vec<u8>>;

/// Bytes of randomness in an API token.
const TOKEN_BYTES: usize = 32;

/// Network settings kept in `config.toml`, written by `tern init` and read by `tern daemon`
/// (whose flags add to them).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub(crate) struct Config {
    /// Multiaddrs to listen on; empty means all interfaces, random ports.
    pub(crate) listen: Vec<String>,
    /// Bootstrap peers (multiaddrs ending in /p2p/<peer id>).
    pub(crate) bootstrap: Vec<String>,
    /// Mailbox relays (multiaddrs ending in /p2p/<peer id>).
    pub(crate) relays: Vec<String>,
    /// Only ever talk to contacts through relays (hides this machine's IP from them).
    pub(crate) relay_only: bool,
    /// Find peers on the local network with mDNS.
    pub(crate) mdns: Option<bool>,
    /// Pick further mailbox relays from those advertised in the DHT while fewer than three
    /// work (default yes); `false` keeps to `relays` alone, as for private relays.
    pub(crate) relay_discovery: Option<bool>,
    /// Send read receipts to groups when their messages are read (default yes).
    pub(crate) group_read_receipts: Option<bool>,
    /// How long (seconds) every relay keeping a group's log must stay unreachable before
    /// its first admin moves the log to relays of its own (default 3600).
    pub(crate) group_failover_after_secs: Option<u64>,
    /// How much longer (seconds) each further admin waits (default 300).
    pub(crate) group_failover_stagger_secs: Option<u64>,
    /// How long (seconds) a member holds the first move of that kind before it follows
    /// one, so that moves made at once meet (default 300).
    pub(crate) group_failover_settle_secs: Option<u64>,
}

impl Config {
    /// When groups' admins move a log nobody reaches: the node's defaults, with what the
    /// file sets.
    pub(crate) fn group_failover(&self) -> tern_node::GroupFailover {
        let default = tern_node::GroupFailover::default();
        let secs = |set: Option<u64>, or: std::time::Duration| {
            set.map_or(or, std::time::Duration::from_secs)
        };
        tern_node::GroupFailover {
            after: secs(self.group_failover_after_secs, default.after),
            stagger: secs(self.group_failover_stagger_secs, default.stagger),
            settle: secs(self.group_failover_settle_secs, default.settle),
        }
    }
}

/// The files of one profile.
#[derive(Debug, Clone)]
pub(crate) struct Profile {
    home: PathBuf,
}

impl Profile {
    pub(crate) fn new(data_dir: Option<PathBuf>) -> Result<Self, CliError> {
        let home = match data_dir {
            Some(dir) => dir,
            None => default_home().ok_or_else(|| CliError::Usage(t!("profile-no-home")))?,
        };
        Ok(Self { home })
    }

    pub(crate) fn home(&self) -> &Path {
        &self.home
    }

    pub(crate) fn node_dir(&self) -> PathBuf {
        self.home.join("node")
    }

    pub(crate) fn has_account(&self) -> bool {
        self.node_dir().exists()
    }

    fn config_path(&self) -> PathBuf {
        self.home.join("config.toml")
    }

    fn token_path(&self) -> PathBuf {
        self.home.join("api.token")
    }

    pub(crate) fn api_addr_path(&self) -> PathBuf {
        self.home.join("api.addr")
    }

    pub(crate) fn config(&self) -> Result<Config, CliError> {
        match fs::read_to_string(self.config_path()) {
            Ok(text) => toml::from_str(&text)
                .map_err(|e| CliError::Usage(format!("{}: {e}", self.config_path().display()))),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Config::default()),
            Err(e) => Err(e.into()),
        }
    }

    pub(crate) fn save_config(&self, config: &Config) -> Result<(), CliError> {
        let text = toml::to_string(config).context("encoding config.toml")?;
        write_private(&self.config_path(), text.as_bytes())?;
        Ok(())
    }

    /// A new API token, replacing the old one: the daemon makes one at every start, so a
    /// token that leaked from an earlier run is worth nothing.
    pub(crate) fn new_token(&self) -> Result<String, CliError> {
        let mut bytes = [0u8; TOKEN_BYTES];
        getrandom::fill(&mut bytes).map_err(|e| anyhow::anyhow!("no randomness: {e}"))?;
        let token = hex::encode(bytes);
        write_private(&self.token_path(), token.as_bytes())?;
        Ok(token)
    }

    pub(crate) fn read_token(&self) -> Result<Option<String>, CliError> {
        match fs::read_to_string(self.token_path()) {
            Ok(token) => Ok(Some(token.trim().to_owned())),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// Where the running daemon's API listens, if one announced itself.
    pub(crate) fn api_addr(&self) -> Option<String> {
        fs::read_to_string(self.api_addr_path())
            .ok()
            .map(|s| s.trim().to_owned())
            .filter(|s| !s.is_empty())
    }

    pub(crate) fn write_api_addr(&self, addr: &str) -> Result<(), CliError> {
        write_private(&self.api_addr_path(), addr.as_bytes())?;
        Ok(())
    }

    pub(crate) fn remove_api_addr(&self) {
        let _ = fs::remove_file(self.api_addr_path());
    }
}

fn default_home() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("XDG_DATA_HOME").filter(|d| !d.is_empty()) {
        return Some(PathBuf::from(dir).join("tern"));
    }
    std::env::var_os("HOME")
        .filter(|d| !d.is_empty())
        .map(|home| PathBuf::from(home).join(".local/share/tern"))
}

/// Writes a file readable only by its owner, atomically (a reader never sees half of it).
fn write_private(path: &Path, contents: &[u8]) -> io::Result<()> {
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent)?;
        fs::set_permissions(parent, fs::Permissions::from_mode(0o700))?;
    }
    let tmp = path.with_extension("tmp");
    let mut file = fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)?;
    file.write_all(contents)?;
    file.sync_all()?;
    fs::rename(&tmp, path)
}

/// Where the passphrase comes from, in order: `--insecure-no-passphrase`, `--passphrase-file`,
/// `TERN_PASSPHRASE`, then a prompt on the terminal.
pub(crate) fn passphrase(global: &Global, confirm: bool) -> Result<Secret, CliError> {
    if global.insecure_no_passphrase {
        return Ok(Secret::default());
    }
    if let Some(file) = &global.passphrase_file {
        let text = fs::read_to_string(file)
            .with_context(|| t!("profile-passphrase-file", file = file.display().to_string()))?;
        let line = text.lines().next().unwrap_or_default();
        return non_empty(Secret::new(line.as_bytes().to_vec()));
    }
    if let Some(value) = std::env::var_os("TERN_PASSPHRASE") {
        return non_empty(Secret::new(value.to_string_lossy().as_bytes().to_vec()));
    }
    if !io::IsTerminal::is_terminal(&io::stdin()) {
        return Err(CliError::Usage(t!("profile-passphrase-no-terminal")));
    }
    let first = Secret::new(
        rpassword::prompt_password(format!("{} ", t!("profile-passphrase-prompt")))?.into_bytes(),
    );
    if confirm {
        let second = Secret::new(
            rpassword::prompt_password(format!("{} ", t!("profile-passphrase-again")))?
                .into_bytes(),
        );
        if *first != *second {
            return Err(CliError::Usage(t!("profile-passphrases-differ")));
        }
    }
    non_empty(first)
}

/// Hands `passphrase` to a node builder. It is empty only when the user chose
/// `--insecure-no-passphrase`, which the node must be told in so many words.
pub(crate) fn unlock(builder: tern_node::Builder, passphrase: &Secret) -> tern_node::Builder {
    if passphrase.is_empty() {
        builder.insecure_no_passphrase()
    } else {
        builder.with_passphrase(passphrase.as_slice())
    }
}

fn non_empty(secret: Secret) -> Result<Secret, CliError> {
    if secret.is_empty() {
        return Err(CliError::Usage(t!("profile-passphrase-empty")));
    }
    Ok(secret)
}
