//! `tern-relay`: runs a relay in the foreground until SIGTERM or Ctrl-C.

use std::path::PathBuf;

use anyhow::Context;
use clap::Parser;
use serde::Deserialize;
use tern_relay::{Config, Limits, Relay};

/// Tern's store-and-forward relay: holds sealed envelopes for offline recipients, serves the
/// DHT as a bootstrap node, and helps nodes behind NAT.
///
/// Example: tern-relay --data-dir /var/lib/tern-relay --listen /ip4/0.0.0.0/tcp/4001
#[derive(Debug, Parser)]
#[command(version, about, long_about = None)]
struct Args {
    /// A TOML configuration file; flags and environment variables override it.
    #[arg(long, env = "TERN_RELAY_CONFIG")]
    config: Option<PathBuf>,
    /// Where the relay keeps its identity and mailboxes.
    #[arg(long, env = "TERN_RELAY_DATA_DIR")]
    data_dir: Option<PathBuf>,
    /// An address to listen on (a multiaddr); repeatable.
    #[arg(long = "listen", env = "TERN_RELAY_LISTEN", value_delimiter = ',')]
    listen: Vec<String>,
    /// A peer to join the DHT through (a multiaddr ending in /p2p/<peer id>); repeatable.
    #[arg(
        long = "bootstrap",
        env = "TERN_RELAY_BOOTSTRAP",
        value_delimiter = ','
    )]
    bootstrap: Vec<String>,
    /// Serve Prometheus metrics (/metrics) and liveness (/health) on this address, e.g.
    /// 127.0.0.1:9464. Keep it private.
    #[arg(long, env = "TERN_RELAY_METRICS")]
    metrics_addr: Option<std::net::SocketAddr>,
    /// Retention of uncollected envelopes, in days.
    #[arg(long, env = "TERN_RELAY_RETENTION_DAYS")]
    retention_days: Option<u64>,
    /// Log filter (tracing syntax), e.g. "info" or "tern_relay=debug".
    #[arg(long, env = "TERN_RELAY_LOG", default_value = "info")]
    log: String,
}

/// The configuration file.
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct File {
    data_dir: Option<PathBuf>,
    listen: Vec<String>,
    bootstrap: Vec<String>,
    limits: Option<Limits>,
    metrics_addr: Option<std::net::SocketAddr>,
    /// Mailbox ids (hex) this relay serves; absent for a public relay.
    allow: Option<Vec<String>>,
}

fn parse_mailbox(text: &str) -> anyhow::Result<[u8; 32]> {
    let text = text.trim();
    anyhow::ensure!(text.len() == 64, "mailbox id {text:?} is not 64 hex digits");
    let mut id = [0u8; 32];
    for (i, byte) in id.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&text[2 * i..2 * i + 2], 16)
            .with_context(|| format!("mailbox id {text:?} is not hex"))?;
    }
    Ok(id)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new(&args.log))
        .with_writer(std::io::stderr)
        // Colours only on a terminal: journald and log files get plain text.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let file: File = match &args.config {
        Some(path) => toml::from_str(
            &std::fs::read_to_string(path)
                .with_context(|| format!("reading {}", path.display()))?,
        )
        .with_context(|| format!("parsing {}", path.display()))?,
        None => File::default(),
    };
    let data_dir = args
        .data_dir
        .or(file.data_dir)
        .context("no data directory: pass --data-dir or set data_dir in the configuration")?;
    let mut config = Config::new(&data_dir);
    let listen = if args.listen.is_empty() {
        file.listen
    } else {
        args.listen
    };
    for address in listen {
        config = config.with_listen_addr(address);
    }
    let bootstrap = if args.bootstrap.is_empty() {
        file.bootstrap
    } else {
        args.bootstrap
    };
    for address in bootstrap {
        config = config.with_bootstrap(address);
    }
    let mut limits = file.limits.unwrap_or_default();
    if let Some(days) = args.retention_days {
        limits.retention_secs = days * 24 * 60 * 60;
    }
    config = config.with_limits(limits);
    if let Some(allow) = file.allow {
        config = config.with_allow_list(
            allow
                .iter()
                .map(|m| parse_mailbox(m))
                .collect::<Result<_, _>>()?,
        );
    }

    let relay = Relay::spawn(config).await.context("starting the relay")?;
    // Scripts and tests read the addresses from these files: the metrics address first (a
    // port of 0 picks a free one), then the relay's own, which says the relay is ready.
    let metrics_path = data_dir.join("metrics.addr");
    let _ = std::fs::remove_file(&metrics_path);
    if let Some(address) = args.metrics_addr.or(file.metrics_addr) {
        let bound = relay.serve_metrics(address).await?;
        tracing::info!(%bound, "serving metrics");
        write_whole(&metrics_path, &format!("{bound}\n"))?;
    }
    let addresses = relay.addresses().await;
    let path = data_dir.join("relay.addr");
    write_whole(&path, &(addresses.join("\n") + "\n"))?;
    for address in &addresses {
        tracing::info!(%address, "relay address");
    }

    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .context("installing the SIGTERM handler")?;
    tokio::select! {
        _ = terminate.recv() => tracing::info!("SIGTERM: shutting down"),
        _ = tokio::signal::ctrl_c() => tracing::info!("interrupted: shutting down"),
    }
    relay.shutdown().await;
    let _ = std::fs::remove_file(&path);
    let _ = std::fs::remove_file(&metrics_path);
    Ok(())
}

/// Writes `text` to `path` whole: to a temporary file first, then renamed, so that a reader
/// never sees half of it.
fn write_whole(path: &std::path::Path, text: &str) -> anyhow::Result<()> {
    let temporary = path.with_extension("tmp");
    std::fs::write(&temporary, text)
        .and_then(|()| std::fs::rename(&temporary, path))
        .with_context(|| format!("writing {}", path.display()))
}
