//! Shared helpers for the node's scenario tests: nodes on loopback in temporary directories,
//! and waiting for events with a timeout (never sleeping in the hope that something happened).

#![allow(dead_code)]

use std::time::Duration;

use futures::{Stream, StreamExt};
use tempfile::TempDir;
use tern_node::{Cursor, Event, KdfParams, Node};

/// How long a test waits for one expected event. Generous: a loaded 2-core machine running
/// several test binaries at once can be slow, and a passing test never waits this long.
pub(crate) const EVENT_TIMEOUT: Duration = Duration::from_secs(60);

pub(crate) struct TestNode {
    pub(crate) node: Node,
    pub(crate) dir: TempDir,
}

impl TestNode {
    /// A node listening on loopback TCP only, without mDNS, serving the DHT.
    pub(crate) async fn start(name: &str, bootstrap: &[String]) -> Self {
        let dir = tempfile::Builder::new()
            .prefix(&format!("tern-{name}-"))
            .tempdir()
            .unwrap();
        let node = Self::spawn(dir.path(), bootstrap).await;
        Self { node, dir }
    }

    pub(crate) async fn spawn(path: &std::path::Path, bootstrap: &[String]) -> Node {
        let mut builder = Node::builder(path)
            .with_passphrase("test passphrase")
            .with_kdf_params(KdfParams::new(64, 1, 1).unwrap())
            .with_listen_addr("/ip4/127.0.0.1/tcp/0")
            .with_mdns(false)
            .with_dht_server(true)
            .create_account(true);
        for address in bootstrap {
            builder = builder.with_bootstrap(address.clone());
        }
        builder.spawn().await.unwrap()
    }
}

/// Waits for the first event for which `pick` returns `Some`, with [`EVENT_TIMEOUT`].
pub(crate) async fn wait_for<T>(
    events: &mut (impl Stream<Item = (Cursor, Event)> + Unpin),
    mut pick: impl FnMut(&Event) -> Option<T>,
) -> T {
    tokio::time::timeout(EVENT_TIMEOUT, async {
        while let Some((_, event)) = events.next().await {
            if let Some(found) = pick(&event) {
                return found;
            }
        }
        panic!("event stream ended");
    })
    .await
    .expect("timed out waiting for an event")
}
