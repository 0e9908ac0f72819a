//! Wake-ups for held reads served off the event loop: a reader registers a watch on a key (a
//! group log, a mailbox) before it reads, and the writer that commits to that key changes it
//! after the synced write. A watch unregisters itself when dropped, so the table holds only
//! keys someone waits on.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::Duration,
};

use tokio::sync::watch;

/// The keys someone waits on.
#[derive(Debug, Default)]
pub(crate) struct Watchers {
    keys: Mutex<HashMap<[u8; 32], watch::Sender<u64>>>,
}

impl Watchers {
    /// A watch on `key`, changed by every later [`Watchers::notify`] of it.
    pub(crate) fn watch(self: &Arc<Self>, key: &[u8; 32]) -> Watch {
        let mut keys = self.keys.lock().unwrap_or_else(|e| e.into_inner());
        let receiver = keys
            .entry(*key)
            .or_insert_with(|| watch::channel(0).0)
            .subscribe();
        Watch {
            receiver: Some(receiver),
            key: *key,
            watchers: self.clone(),
        }
    }

    /// Wakes the watches on `key`, if any, with `value`.
    pub(crate) fn notify(&self, key: &[u8; 32], value: u64) {
        let keys = self.keys.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(sender) = keys.get(key) {
            sender.send_replace(value);
        }
    }

    /// How many keys are watched.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.keys.lock().unwrap_or_else(|e| e.into_inner()).len()
    }
}

/// A held read's view of one key; unregisters itself when dropped.
pub(crate) struct Watch {
    receiver: Option<watch::Receiver<u64>>,
    key: [u8; 32],
    watchers: Arc<Watchers>,
}

impl Watch {
    /// Waits until the key is notified (after this watch was made, and since the last
    /// change this watch saw), or `timeout`.
    pub(crate) async fn changed(&mut self, timeout: Duration) -> bool {
        let Some(receiver) = self.receiver.as_mut() else {
            return false;
        };
        matches!(
            tokio::time::timeout(timeout, receiver.changed()).await,
            Ok(Ok(()))
        )
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        drop(self.receiver.take());
        let mut keys = self.watchers.keys.lock().unwrap_or_else(|e| e.into_inner());
        if keys.get(&self.key).is_some_and(|w| w.receiver_count() == 0) {
            keys.remove(&self.key);
        }
    }
}
