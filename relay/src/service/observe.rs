//! What a test may ask a relay about the peers it served (the `test-utils` feature only): the
//! peer id behind every mailbox request, and the DHT records it holds. A relay in service
//! keeps no list of who asked it for what; these exist to prove what a curious operator could
//! link.

use libp2p::kad::store::RecordStore;
use tokio::sync::oneshot;

use super::{Command, Handle, Service};

/// What a relay saw, for tests.
#[derive(Debug, Clone, Default)]
pub struct Observed {
    /// The peer id of every connection that made a mailbox request, as text.
    pub mailbox_peers: Vec<String>,
    /// The value of every DHT record the relay holds.
    pub records: Vec<Vec<u8>>,
}

impl Handle {
    pub(crate) async fn observed(&self) -> Observed {
        let (reply, answer) = oneshot::channel();
        if self.commands.send(Command::Observed(reply)).await.is_err() {
            return Observed::default();
        }
        answer.await.unwrap_or_default()
    }
}

impl Handle {
    /// Runs the log expiry now, as if the log retention had ended at `cutoff` (Unix
    /// seconds): entries stored before it go. Returns how many did.
    pub(crate) async fn expire_logs_before(&self, cutoff: u64) -> u32 {
        let store = self.store.clone();
        tokio::task::spawn_blocking(move || store.expire_logs(cutoff, 0).unwrap_or(0))
            .await
            .unwrap_or(0)
    }
}

impl Service {
    pub(super) fn observed(&mut self) -> Observed {
        let store = self.swarm.behaviour_mut().kad.store_mut();
        Observed {
            mailbox_peers: self.requesters.iter().map(ToString::to_string).collect(),
            records: store.records().map(|r| r.value.clone()).collect(),
        }
    }
}
