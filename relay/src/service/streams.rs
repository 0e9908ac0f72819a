//! Accepting the streams of a protocol served off the event loop (`/tern/deposit/1`,
//! `/tern/grouplog/2`): at most so many at once and so many per connection identity, one task
//! each; a stream beyond either bound is closed unread.

use std::{
    collections::{BTreeMap, HashMap},
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use futures::{AsyncWriteExt, StreamExt};
use libp2p::{PeerId, Stream, StreamProtocol};
use tokio::{
    sync::{OwnedSemaphorePermit, Semaphore},
    task::JoinSet,
};
use tokio_util::sync::CancellationToken;
use tracing::debug;

use tern_proto::rate::{Rate, RateLimiter};

use super::MAX_RATE_ENTRIES;
use crate::blobs::Share;

/// Refusals on a stream protocol, by code, for the metrics snapshot.
#[derive(Debug, Default)]
pub(super) struct Refusals(Mutex<BTreeMap<&'static str, u64>>);

impl Refusals {
    pub(super) fn count(&self, code: &'static str) {
        *self
            .0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(code)
            .or_default() += 1;
    }

    /// Adds the counts to a snapshot's `refused`.
    pub(super) fn report(&self, refused: &mut BTreeMap<String, u64>) {
        for (code, count) in self.0.lock().unwrap_or_else(|e| e.into_inner()).iter() {
            *refused.entry((*code).to_owned()).or_default() += count;
        }
    }
}

/// A per-peer request budget: a burst, then a rate.
pub(super) struct Budget(Mutex<RateLimiter<PeerId>>);

impl Budget {
    pub(super) fn new(burst: u32, per_sec: u32) -> Self {
        Self(Mutex::new(RateLimiter::new(
            MAX_RATE_ENTRIES,
            Rate {
                burst: f64::from(burst),
                per_sec: f64::from(per_sec),
            },
        )))
    }

    /// Takes one of `peer`'s tokens, if it has one.
    pub(super) fn take(&self, peer: &PeerId) -> bool {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .try_take(peer, Instant::now())
    }
}

/// A stream's place among all of its protocol's and among its peer's; given back when the
/// task that holds it ends.
pub(super) type Place = (OwnedSemaphorePermit, Share);

/// How a protocol's streams are bounded.
pub(super) struct Bounds {
    pub(super) protocol: StreamProtocol,
    /// Streams at once, in all.
    pub(super) total: usize,
    /// Streams at once from one connection identity.
    pub(super) per_peer: usize,
    /// At shutdown, how long the streams have to finish before they are cut.
    pub(super) grace: Duration,
}

/// Accepts `bounds.protocol`'s streams until `cancel`, each served by `serve` on a task of
/// its own with a child of `cancel`; then gives the tasks `bounds.grace` to end and cuts the
/// rest.
pub(super) async fn accept<F, Fut>(
    control: tern_proto::accept::Behaviour,
    bounds: Bounds,
    cancel: CancellationToken,
    mut serve: F,
) where
    F: FnMut(PeerId, Stream, Place, CancellationToken) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let mut incoming = match control.accept(bounds.protocol.clone()) {
        Ok(incoming) => incoming,
        Err(e) => {
            tracing::error!(protocol = %bounds.protocol, "cannot serve: {e}");
            return;
        }
    };
    let slots = Arc::new(Semaphore::new(bounds.total));
    let per_peer: Arc<Mutex<HashMap<PeerId, usize>>> = Arc::default();
    let mut tasks = JoinSet::new();
    loop {
        tokio::select! {
            () = cancel.cancelled() => break,
            Some((peer, mut stream)) = incoming.next() => {
                while tasks.try_join_next().is_some() {}
                let place = Share::take(&per_peer, peer, bounds.per_peer)
                    .and_then(|share| Some((slots.clone().try_acquire_owned().ok()?, share)));
                match place {
                    Some(place) => {
                        tasks.spawn(serve(peer, stream, place, cancel.child_token()));
                    }
                    None => {
                        debug!(%peer, protocol = %bounds.protocol, "too many streams: closing one unread");
                        tasks.spawn(async move {
                            let _ = stream.close().await;
                        });
                    }
                }
            }
        }
    }
    let ended = async { while tasks.join_next().await.is_some() {} };
    if tokio::time::timeout(bounds.grace, ended).await.is_err() {
        tasks.abort_all();
        while tasks.join_next().await.is_some() {}
    }
}
