//! `tern daemon`: the node in the foreground, serving the local API.

use std::net::SocketAddr;

use tern_node::Node;
use tokio::signal::unix::SignalKind;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use super::Context;
use crate::{
    api::{self, Client},
    error::CliError,
    profile,
};

/// Run the node in the foreground, serving the local API.
///
/// The daemon delivers and receives messages, and serves the local API that the other
/// commands, UIs and bots use.
///
/// On start it writes the API address to <data dir>/api.addr and a new token to
/// <data dir>/api.token (mode 0600). Stop it with Ctrl-C or SIGTERM; nothing accepted is
/// lost even on a crash.
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  tern daemon
  tern daemon -v --relay /ip4/203.0.113.7/tcp/4001/p2p/12D3KooW...
  TERN_PASSPHRASE_FILE=... tern daemon --api-addr 127.0.0.1:7450")]
pub(crate) struct Daemon {
    /// Listen on this multiaddr (repeatable; default: every interface, random ports).
    #[arg(long, value_name = "MULTIADDR")]
    listen: Vec<String>,
    /// A bootstrap peer, added to those in config.toml (repeatable).
    #[arg(long, value_name = "MULTIADDR")]
    bootstrap: Vec<String>,
    /// A mailbox relay, added to those in config.toml (repeatable).
    #[arg(long, value_name = "MULTIADDR")]
    relay: Vec<String>,
    /// Reach contacts only through relays.
    #[arg(long)]
    relay_only: bool,
    /// Do not look for peers on the local network.
    #[arg(long)]
    no_mdns: bool,
    /// Keep what you read in groups to yourself: send no read receipts to them.
    #[arg(long)]
    no_group_read_receipts: bool,
    /// Keep the mailbox at the configured relays only; never add relays found in the DHT.
    #[arg(long)]
    no_relay_discovery: bool,
    /// Where the local API listens. Loopback addresses only: the API is for this machine.
    #[arg(long, default_value = "127.0.0.1:0", value_name = "IP:PORT")]
    api_addr: SocketAddr,
}

#[derive(serde::Serialize)]
struct Ready {
    address: String,
    api: String,
    listen: Vec<String>,
}

impl Daemon {
    pub(crate) async fn run(self, context: &Context) -> Result<(), CliError> {
        let profile = &context.profile;
        if !self.api_addr.ip().is_loopback() {
            return Err(CliError::Usage(t!(
                "daemon-not-loopback",
                address = self.api_addr.to_string()
            )));
        }
        if !profile.has_account() {
            return Err(CliError::NoAccount(profile.home().to_path_buf()));
        }
        if let Ok(Some(_)) = Client::connect(profile).await {
            return Err(CliError::Usage(t!(
                "daemon-running",
                dir = profile.home().display().to_string(),
                api = profile.api_addr().unwrap_or_default()
            )));
        }
        let config = profile.config()?;
        let passphrase = profile::passphrase(&context.global, false)?;
        let mut builder = profile::unlock(Node::builder(profile.node_dir()), &passphrase)
            .with_direct_delivery(!(config.relay_only || self.relay_only))
            .with_mdns(!self.no_mdns && config.mdns.unwrap_or(true))
            .with_group_read_receipts(
                !self.no_group_read_receipts && config.group_read_receipts.unwrap_or(true),
            )
            .with_relay_discovery(
                !self.no_relay_discovery && config.relay_discovery.unwrap_or(true),
            )
            .with_group_failover(config.group_failover());
        let listen = if self.listen.is_empty() {
            config.listen
        } else {
            self.listen
        };
        for address in listen {
            builder = builder.with_listen_addr(address);
        }
        for address in config.bootstrap.into_iter().chain(self.bootstrap) {
            builder = builder.with_bootstrap(address);
        }
        for address in config.relays.into_iter().chain(self.relay) {
            builder = builder.with_relay(address);
        }
        drop(passphrase);
        let node = builder.spawn().await.map_err(|e| match e {
            tern_node::StartError::Locked => CliError::Locked(profile.home().to_path_buf()),
            other => other.into(),
        })?;

        let listener = match tokio::net::TcpListener::bind(self.api_addr).await {
            Ok(listener) => listener,
            Err(e) => {
                node.shutdown().await;
                return Err(CliError::Usage(t!(
                    "daemon-cannot-listen",
                    address = self.api_addr.to_string(),
                    error = e.to_string()
                )));
            }
        };
        let api_addr = listener.local_addr()?;
        let token = profile.new_token()?;
        profile.write_api_addr(&api_addr.to_string())?;

        // Listen for SIGTERM and SIGINT before saying ready: a supervisor that stops the
        // daemon as soon as it is up must not find the default action (die at once) in place.
        let signals = [SignalKind::terminate(), SignalKind::interrupt()]
            .map(|kind| tokio::signal::unix::signal(kind).ok());
        let shutdown = CancellationToken::new();
        let server = tokio::spawn(api::server::serve(
            listener,
            node.clone(),
            token,
            shutdown.clone(),
        ));
        let ready = Ready {
            address: node.user_id().to_string(),
            api: format!("http://{api_addr}"),
            listen: node.addresses().await,
        };
        info!(address = %ready.address, api = %ready.api, "daemon ready");
        context.out.emit(&ready, |out| {
            let address = ready.address.as_str();
            writeln!(out, "{}", t!("daemon-for", address = address))?;
            writeln!(out, "{}", t!("daemon-api", api = ready.api.as_str()))?;
            for address in &ready.listen {
                writeln!(
                    out,
                    "{}",
                    t!("daemon-reachable", address = address.as_str())
                )?;
            }
            writeln!(out, "{}", t!("daemon-stop"))
        })?;

        stop_signal(signals).await;
        info!("stopping");
        shutdown.cancel();
        match server.await {
            Ok(Err(e)) => warn!(error = %e, "the API server failed"),
            Err(e) => warn!(error = %e, "the API server panicked"),
            Ok(Ok(())) => {}
        }
        profile.remove_api_addr();
        node.shutdown().await;
        info!("stopped");
        Ok(())
    }
}

/// Waits for SIGTERM (what systemd and `kill` send) or SIGINT (Ctrl-C), through listeners
/// installed before the daemon said it was ready.
async fn stop_signal(signals: [Option<tokio::signal::unix::Signal>; 2]) {
    let waits = signals.into_iter().flatten().map(|mut signal| {
        Box::pin(async move {
            signal.recv().await;
        })
    });
    let waits: Vec<_> = waits.collect();
    if waits.is_empty() {
        std::future::pending::<()>().await;
    }
    futures::future::select_all(waits).await;
}
