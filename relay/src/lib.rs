//! `tern-relay`: the store-and-forward relay that operators run for others.
//!
//! A relay holds sealed envelopes for recipients who are offline, in mailboxes keyed by
//! mailbox id, and hands them to their owners (`/tern/mailbox/2`, defined in
//! [`tern_proto::mailbox`]; deposits pipelined on `/tern/deposit/1`, an owner's collection on
//! `/tern/collect/2`). As a sequencer for group chats it keeps groups' ordered logs
//! (`/tern/grouplog/2`, [`tern_proto::grouplog`]). It is also a Kademlia server and bootstrap node of Tern's DHT
//! (applying the node's record rules on every PUT), a circuit-relay v2 server and an AutoNAT v2
//! server. It never sees plaintext or who sent what: it stores a mailbox id, the padded sealed
//! envelope and its arrival time, nothing else.
//!
//! # Quick start
//!
//! ```no_run
//! # async fn run() -> Result<(), tern_relay::Error> {
//! let config = tern_relay::Config::new("/var/lib/tern-relay")
//!     .with_listen_addr("/ip4/0.0.0.0/tcp/4001");
//! let relay = tern_relay::Relay::spawn(config).await?;
//! println!("bootstrap address: {}", relay.addresses().await[0]);
//! relay.shutdown().await;
//! # Ok(()) }
//! ```
#![deny(missing_docs)]
#![forbid(unsafe_code)]
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

mod blobs;
mod config;
mod http;
mod service;
mod store;
mod timing;

pub use blobs::BlobMetrics;
pub use config::{Config, Limits};
pub use store::StoreError;

use std::sync::Arc;

use tokio::sync::watch;

/// Why a relay could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The database could not be opened.
    #[error("storage: {0}")]
    Store(#[from] StoreError),
    /// The data directory is in use or cannot be created.
    #[error("data directory: {0}")]
    DataDir(String),
    /// The identity key could not be read or written.
    #[error("identity key: {0}")]
    Key(String),
    /// An address is invalid or the network could not start.
    #[error("network: {0}")]
    Network(String),
}

/// A running relay. Dropping it does not stop it; call [`Relay::shutdown`].
#[derive(Debug, Clone)]
pub struct Relay {
    inner: Arc<service::Handle>,
}

impl Relay {
    /// Opens the data directory (creating the relay's identity on first start) and starts
    /// serving.
    pub async fn spawn(config: Config) -> Result<Self, Error> {
        Ok(Self {
            inner: Arc::new(service::spawn(config).await?),
        })
    }

    /// The relay's libp2p peer id, as text.
    pub fn peer_id(&self) -> String {
        self.inner.peer_id.to_string()
    }

    /// The addresses the relay listens on, each ending in `/p2p/<peer id>` (the form nodes
    /// take as a bootstrap or relay address). Waits until it listens somewhere.
    pub async fn addresses(&self) -> Vec<String> {
        let mut watch: watch::Receiver<Vec<String>> = self.inner.addresses.clone();
        match watch.wait_for(|a| !a.is_empty()).await {
            Ok(list) => list.clone(),
            Err(_) => Vec::new(),
        }
    }

    /// Whether the relay can store deposits (its database has not failed).
    pub fn healthy(&self) -> bool {
        self.inner.healthy()
    }

    /// Serves Prometheus metrics at `/metrics` and liveness at `/health` on `address`
    /// (use a private one) until the relay shuts down; returns the bound address.
    pub async fn serve_metrics(
        &self,
        address: std::net::SocketAddr,
    ) -> Result<std::net::SocketAddr, Error> {
        let listener = http::bind(address)
            .await
            .map_err(|e| Error::Network(format!("metrics address {address}: {e}")))?;
        let bound = listener
            .local_addr()
            .map_err(|e| Error::Network(e.to_string()))?;
        tokio::spawn(http::serve(
            listener,
            self.clone(),
            self.inner.cancel_token(),
        ));
        Ok(bound)
    }

    /// The latency histograms, shared with the event loop (for the metrics endpoint).
    pub(crate) fn timings(&self) -> timing::Timings {
        self.inner.timings.clone()
    }

    /// libp2p's metrics, registered for the relay's lifetime (for the metrics endpoint).
    pub(crate) fn network_registry(&self) -> Arc<prometheus_client::registry::Registry> {
        self.inner.network_registry.clone()
    }

    /// A snapshot of the relay's counters.
    pub async fn metrics(&self) -> Metrics {
        self.inner.metrics().await
    }

    /// What the relay saw: the peer behind every mailbox request, and the DHT records it
    /// holds (the `test-utils` feature, for tests that prove what an operator could link).
    #[cfg(feature = "test-utils")]
    pub async fn observed(&self) -> Observed {
        self.inner.observed().await
    }

    /// Expires group-log entries stored before `cutoff` (Unix seconds) now, as the periodic
    /// expiry would once they are older than the log retention (the `test-utils` feature, for
    /// tests of members away longer than that). Returns how many entries went.
    #[cfg(feature = "test-utils")]
    pub async fn expire_logs_before(&self, cutoff: u64) -> u32 {
        self.inner.expire_logs_before(cutoff).await
    }

    /// Stops serving, waits for in-flight writes and closes the database.
    pub async fn shutdown(&self) {
        self.inner.shutdown().await;
    }
}

pub use service::Metrics;
#[cfg(feature = "test-utils")]
pub use service::Observed;
pub use tern_proto::mailbox::Codec as MailboxCodec;
