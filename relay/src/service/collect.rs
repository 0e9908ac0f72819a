//! `/tern/collect/1`: owners draining their mailboxes on one stream each, served off the
//! event loop. One task per stream: it hands out a nonce, checks the ownership proof once (on
//! the blocking pool), then answers each `Next` by deleting what it acknowledges and reading
//! the page after, held until a deposit for the mailbox commits if the owner asks.

use std::{
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use futures::AsyncWriteExt;
use libp2p::{PeerId, Stream};
use tern_proto::mailbox::{
    MAX_RESPONSE_LEN, MAX_WAIT_SECS, Operation, Refusal,
    collect::{self, CollectAnswer, CollectRequest, MAX_ACK},
    deposits::{next_frame, put_frame},
};
use tokio_util::sync::CancellationToken;
use tracing::debug;

use super::{
    codec::Unreadable,
    streams::{Bounds, Budget, Place, Refusals, accept},
};
use crate::store::Store;

/// Collect streams served at once.
const MAX_STREAMS: usize = 1024;
/// Collect streams one connection identity may hold (an owner needs one per relay).
const MAX_PER_PEER: usize = 4;
/// A stream with no request for this long is closed; an owner's held fetch asks again well
/// within it.
const IDLE: Duration = Duration::from_secs(120);
/// A stream must be proven within this long of being opened: a stranger's unproven streams
/// hold their places only briefly.
const HANDSHAKE: Duration = Duration::from_secs(10);
/// Most envelopes in one page.
const MAX_PAGE: u32 = 512;

/// The collect counters, shared by every stream and read by the metrics snapshot.
#[derive(Debug, Default)]
pub(crate) struct CollectCounters {
    streams: AtomicU64,
    fetches: AtomicU64,
    acked: AtomicU64,
    refused: Refusals,
}

impl CollectCounters {
    fn refuse(&self, refusal: Refusal) {
        self.refused.count(refusal.code());
    }

    /// Adds the counts to a metrics snapshot: fetches and acknowledgements with those of
    /// `/tern/mailbox/2`.
    pub(super) fn report(&self, metrics: &mut super::Metrics) {
        metrics.collect_streams = self.streams.load(Ordering::Relaxed);
        metrics.fetches += self.fetches.load(Ordering::Relaxed);
        metrics.acked += self.acked.load(Ordering::Relaxed);
        self.refused.report(&mut metrics.refused);
    }
}

/// What serving collect streams needs; shared by every stream.
pub(super) struct Collect {
    pub(super) store: Store,
    /// This relay's peer id bytes, as proofs name it.
    pub(super) relay: Vec<u8>,
    /// Streams opened and pages read, per peer: a budget with the limits of challenges, of
    /// its own.
    pub(super) rates: Budget,
    pub(super) counters: Arc<CollectCounters>,
    pub(super) unreadable: Arc<Unreadable>,
    pub(super) refusal_delay: Duration,
}

impl Collect {
    pub(super) fn new(
        store: Store,
        relay: Vec<u8>,
        limits: &crate::Limits,
        counters: Arc<CollectCounters>,
        unreadable: Arc<Unreadable>,
    ) -> Self {
        Self {
            store,
            relay,
            rates: Budget::new(limits.challenge_burst, limits.challenges_per_sec),
            counters,
            unreadable,
            refusal_delay: Duration::from_millis(limits.refusal_delay_ms),
        }
    }
}

/// Serves `/tern/collect/1` until `cancel`.
pub(super) async fn run(
    collect: Collect,
    control: tern_proto::accept::Behaviour,
    cancel: CancellationToken,
) {
    let collect = Arc::new(collect);
    let bounds = Bounds {
        protocol: collect::PROTOCOL,
        total: MAX_STREAMS,
        per_peer: MAX_PER_PEER,
        // An acknowledgement being applied finishes; held fetches are cut at once.
        grace: Duration::ZERO,
    };
    accept(control, bounds, cancel, |peer, stream, place, cancel| {
        collect.counters.streams.fetch_add(1, Ordering::Relaxed);
        let collect = collect.clone();
        async move {
            tokio::select! {
                () = cancel.cancelled() => {}
                () = collect.serve(stream, peer, place) => {}
            }
        }
    })
    .await;
}

/// Why a stream ends.
enum End {
    /// The owner closed it, it idled, or a write failed.
    Quiet,
    /// A refusal to send first.
    Refused(Refusal),
}

impl Collect {
    /// Serves one collect stream.
    async fn serve(&self, mut stream: Stream, peer: PeerId, _place: Place) {
        if let End::Refused(refusal) = self.session(&mut stream, peer).await {
            self.counters.refuse(refusal);
            let _ = send(&mut stream, &CollectAnswer::Refused(refusal)).await;
        }
        let _ = stream.close().await;
    }

    /// The stream's requests, from `Hello` on; returns how it ends.
    async fn session(&self, stream: &mut Stream, peer: PeerId) -> End {
        let handshake = tokio::time::Instant::now() + HANDSHAKE;
        let Some(CollectRequest::Hello) = self.next(stream, peer, handshake).await else {
            return End::Quiet;
        };
        if !self.rates.take(&peer) {
            tokio::time::sleep(self.refusal_delay).await;
            return End::Refused(Refusal::RateLimited);
        }
        let mut nonce = [0u8; 32];
        if getrandom::fill(&mut nonce).is_err() {
            return End::Refused(Refusal::Unavailable);
        }
        if !send(stream, &CollectAnswer::Challenge { nonce }).await {
            return End::Quiet;
        }
        let Some(CollectRequest::Prove(proof)) = self.next(stream, peer, handshake).await else {
            return End::Quiet;
        };
        let relay = self.relay.clone();
        let proven = tokio::task::spawn_blocking(move || {
            (proof.nonce == nonce)
                .then(|| proof.mailbox(&relay, Operation::Collect).ok())
                .flatten()
        })
        .await
        .ok()
        .flatten();
        let Some(mailbox) = proven.map(|m| *m.as_bytes()) else {
            return End::Refused(Refusal::BadProof);
        };
        if !send(stream, &CollectAnswer::Proven).await {
            return End::Quiet;
        }
        loop {
            let idle = tokio::time::Instant::now() + IDLE;
            let Some(request) = self.next(stream, peer, idle).await else {
                return End::Quiet;
            };
            let CollectRequest::Next {
                ack,
                after,
                limit,
                wait_secs,
            } = request
            else {
                return End::Quiet;
            };
            if ack.len() > MAX_ACK {
                return End::Quiet;
            }
            // Each page read costs a token from the same budget as the stream's opening: a
            // proven owner cannot make the relay re-read its mailbox in a tight loop.
            let answer = if limit > 0 && !self.rates.take(&peer) {
                tokio::time::sleep(self.refusal_delay).await;
                CollectAnswer::Refused(Refusal::RateLimited)
            } else {
                self.page(mailbox, ack, after, limit, wait_secs).await
            };
            if let CollectAnswer::Refused(refusal) = &answer {
                self.counters.refuse(*refusal);
            }
            if !send(stream, &answer).await {
                return End::Quiet;
            }
        }
    }

    /// The next request, or `None` when the stream ended, sent garbage, or sent nothing by
    /// `deadline`.
    async fn next(
        &self,
        stream: &mut Stream,
        peer: PeerId,
        deadline: tokio::time::Instant,
    ) -> Option<CollectRequest> {
        let read = tokio::time::timeout_at(
            deadline,
            next_frame::<CollectRequest, _>(stream, collect::MAX_REQUEST_LEN),
        );
        match read.await {
            Ok(Ok(request)) => request,
            Ok(Err(e)) => {
                debug!(%peer, "ended a collect stream: {e}");
                self.unreadable.count(&e);
                None
            }
            Err(_) => None,
        }
    }

    /// Deletes `ack`, then reads the page after `after`, waiting for a deposit if asked.
    async fn page(
        &self,
        mailbox: [u8; 32],
        ack: Vec<u64>,
        after: u64,
        limit: u32,
        wait_secs: u16,
    ) -> CollectAnswer {
        let wait = Duration::from_secs(u64::from(wait_secs.min(MAX_WAIT_SECS)));
        let deadline = tokio::time::Instant::now() + wait;
        // Watch before reading: a deposit committed between the read and the wait wakes it.
        let mut watch = self.store.watch_mailbox(&mailbox);
        let store = self.store.clone();
        let acked = if ack.is_empty() {
            Ok(0)
        } else {
            tokio::task::spawn_blocking(move || store.ack_unsynced(&mailbox, &ack))
                .await
                .map_err(|_| ())
                .and_then(|r| r.map_err(|_| ()))
        };
        let Ok(acked) = acked else {
            return CollectAnswer::Refused(Refusal::Unavailable);
        };
        self.counters
            .acked
            .fetch_add(u64::from(acked), Ordering::Relaxed);
        if limit == 0 {
            return CollectAnswer::Page {
                items: Vec::new(),
                more: false,
                acked,
            };
        }
        self.counters.fetches.fetch_add(1, Ordering::Relaxed);
        let limit = limit.min(MAX_PAGE) as usize;
        loop {
            let store = self.store.clone();
            let page = tokio::task::spawn_blocking(move || {
                store.fetch(&mailbox, after, limit, MAX_RESPONSE_LEN / 2)
            })
            .await;
            let Ok(Ok((items, more))) = page else {
                return CollectAnswer::Refused(Refusal::Unavailable);
            };
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            if items.is_empty() && !left.is_zero() && watch.changed(left).await {
                continue;
            }
            return CollectAnswer::Page { items, more, acked };
        }
    }
}

/// Writes one answer; false if the stream is gone or takes nothing for [`IDLE`].
async fn send(stream: &mut Stream, answer: &CollectAnswer) -> bool {
    let mut out = Vec::new();
    if put_frame(&mut out, answer, MAX_RESPONSE_LEN).is_err() {
        return false;
    }
    let written = async {
        stream.write_all(&out).await?;
        stream.flush().await
    };
    matches!(tokio::time::timeout(IDLE, written).await, Ok(Ok(())))
}
