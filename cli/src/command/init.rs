//! `tern init`: create an account.

use tern_node::Node;

use super::Context;
use crate::{api::service, error::CliError, profile};

/// Create an account, its keys encrypted with a passphrase.
///
/// The passphrase is asked on the terminal (twice), or read from --passphrase-file or the
/// TERN_PASSPHRASE environment variable. Network settings given here are saved in the
/// profile's config.toml for `tern daemon`.
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  tern init
  tern --data-dir ~/tern-work init --relay /dns4/relay.example.org/tcp/4001/p2p/12D3KooW...
  TERN_PASSPHRASE='correct horse' tern init --json")]
pub(crate) struct Init {
    /// A bootstrap peer, a multiaddr ending in /p2p/<peer id> (repeatable).
    #[arg(long, value_name = "MULTIADDR")]
    bootstrap: Vec<String>,
    /// A mailbox relay that keeps messages while this account is offline (repeatable; three
    /// is the recommended number).
    #[arg(long, value_name = "MULTIADDR")]
    relay: Vec<String>,
    /// Reach contacts only through relays, never directly (hides this machine's IP address
    /// from them, at some latency).
    #[arg(long)]
    relay_only: bool,
    /// Keep the mailbox at the relays given with --relay only; never add relays found in the
    /// DHT (for private relays).
    #[arg(long)]
    no_relay_discovery: bool,
}

impl Init {
    pub(crate) async fn run(self, context: &Context) -> Result<(), CliError> {
        let profile = &context.profile;
        if profile.has_account() {
            return Err(CliError::Usage(t!(
                "init-exists",
                dir = profile.home().display().to_string()
            )));
        }
        for address in self.bootstrap.iter().chain(&self.relay) {
            if !address.contains("/p2p/") {
                return Err(CliError::Usage(t!(
                    "init-bad-address",
                    address = format!("{address:?}")
                )));
            }
        }
        let passphrase = profile::passphrase(&context.global, true)?;
        std::fs::create_dir_all(profile.home())?;
        // The account is created offline: nothing is announced until the daemon runs.
        let node = profile::unlock(Node::builder(profile.node_dir()), &passphrase)
            .with_listen_addr("/ip4/127.0.0.1/tcp/0")
            .with_mdns(false)
            .create_account(true)
            .spawn()
            .await?;
        let identity = service::identity(&node);
        node.shutdown().await;
        let mut config = profile.config()?;
        config.bootstrap.extend(self.bootstrap);
        config.relays.extend(self.relay);
        config.relay_only |= self.relay_only;
        if self.no_relay_discovery {
            config.relay_discovery = Some(false);
        }
        profile.save_config(&config)?;
        let home = profile.home().display().to_string();
        context.out.emit(&identity, |out| {
            writeln!(out, "{}", t!("init-created", dir = home))?;
            super::id::identity_lines(out, &identity)?;
            writeln!(out)?;
            writeln!(out, "{}", t!("init-next"))
        })
    }
}
