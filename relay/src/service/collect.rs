//! `/tern/collect/2`: owners draining their mailboxes on one stream each, served off the
//! event loop. One task per stream: it hands out a nonce, checks the ownership proof once (on
//! the blocking pool), then answers each `Next` or `More`, in order, by deleting what it
//! acknowledges and reading the page after (read ahead, after a full page), held until a
//! deposit for the mailbox commits if the owner asks.

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
    MAX_RESPONSE_LEN, MAX_WAIT_SECS, Operation, Refusal, StoredEnvelope,
    collect::{self, CollectAnswer, CollectRequest, MAX_ACK},
    deposits::{next_frame, put_frame},
};
use tokio::{
    sync::{OwnedSemaphorePermit, Semaphore},
    task::JoinHandle,
};
use tokio_util::sync::CancellationToken;
use tracing::debug;

use super::{
    codec::Unreadable,
    streams::{Bounds, Budget, Place, Refusals, accept},
};
use crate::store::{Store, StoreError};

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
/// Streams that may hold a page read ahead at once: each holds at most one page (half of
/// [`MAX_RESPONSE_LEN`]) beside the one it sends, so this bounds the memory read-ahead adds.
const READ_AHEAD: usize = 32;

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
    /// Places for pages read ahead, [`READ_AHEAD`] of them.
    ahead: Arc<Semaphore>,
}

/// The page after `after`, read while the page that ends there is on its way to the owner:
/// an owner that drains its mailbox asks for exactly this page next, and then finds it read.
struct Ahead {
    after: u64,
    limit: usize,
    read: JoinHandle<Result<(Vec<StoredEnvelope>, bool), StoreError>>,
    _place: OwnedSemaphorePermit,
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
            ahead: Arc::new(Semaphore::new(READ_AHEAD)),
        }
    }
}

/// Serves `/tern/collect/2` until `cancel`.
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
        let mut ahead = None;
        // Where `More` reads from: after the last envelope answered on this stream.
        let mut cursor = 0;
        loop {
            let idle = tokio::time::Instant::now() + IDLE;
            let Some(request) = self.next(stream, peer, idle).await else {
                return End::Quiet;
            };
            let (ack, after, limit, wait_secs) = match request {
                CollectRequest::Next {
                    ack,
                    after,
                    limit,
                    wait_secs,
                } => (ack, after, limit, wait_secs),
                CollectRequest::More {
                    ack,
                    limit,
                    wait_secs,
                } => (ack, cursor, limit, wait_secs),
                CollectRequest::Hello | CollectRequest::Prove(_) => return End::Quiet,
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
                self.page(mailbox, ack, after, limit, wait_secs, ahead.take())
                    .await
            };
            match &answer {
                CollectAnswer::Refused(refusal) => self.counters.refuse(*refusal),
                CollectAnswer::Page { items, more, .. } => {
                    cursor = items.last().map_or(after, |item| item.id);
                    // A full page: the owner asks for the one after it next. Read it while
                    // this one is sent.
                    if *more {
                        ahead = self.read_ahead(mailbox, cursor, limit);
                    }
                }
                CollectAnswer::Challenge { .. } | CollectAnswer::Proven => {}
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

    /// Starts reading the page after `after` on the blocking pool, if a place for it is
    /// free.
    fn read_ahead(&self, mailbox: [u8; 32], after: u64, limit: u32) -> Option<Ahead> {
        let place = self.ahead.clone().try_acquire_owned().ok()?;
        let limit = limit.min(MAX_PAGE) as usize;
        let store = self.store.clone();
        let read = tokio::task::spawn_blocking(move || {
            store.fetch(&mailbox, after, limit, MAX_RESPONSE_LEN / 2)
        });
        Some(Ahead {
            after,
            limit,
            read,
            _place: place,
        })
    }

    /// Deletes `ack`, then reads the page after `after`, waiting for a deposit if asked.
    ///
    /// A page read `ahead` answers if it is the one asked for, `ack` names nothing in it, and
    /// it holds something. It is what a read at the moment it was made returned: a deposit
    /// committed since has a greater id than anything in it (ids are handed out in commit
    /// order), so it comes in a later page, never skipped. An empty page is read again, so a
    /// held fetch waits only after a read made once its watch was set.
    async fn page(
        &self,
        mailbox: [u8; 32],
        ack: Vec<u64>,
        after: u64,
        limit: u32,
        wait_secs: u16,
        ahead: Option<Ahead>,
    ) -> CollectAnswer {
        let ahead = ahead.filter(|ahead| {
            ahead.after == after
                && ahead.limit == limit.min(MAX_PAGE) as usize
                && ack.iter().all(|&id| id <= after)
        });
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
        if let Some(ahead) = ahead
            && let Ok(Ok((items, more))) = ahead.read.await
            && !items.is_empty()
        {
            return CollectAnswer::Page { items, more, acked };
        }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        Limits,
        store::{
            Quota,
            tests::{deposit, quota},
        },
        timing::Timings,
    };

    fn ids(answer: CollectAnswer) -> (Vec<u64>, bool, u32) {
        match answer {
            CollectAnswer::Page { items, more, acked } => {
                (items.iter().map(|i| i.id).collect(), more, acked)
            }
            other => panic!("no page: {other:?}"),
        }
    }

    /// Waits (at most 5 s) until the page read ahead is read.
    async fn read(ahead: &Ahead) {
        let done = async {
            while !ahead.read.is_finished() {
                tokio::task::yield_now().await;
            }
        };
        tokio::time::timeout(Duration::from_secs(5), done)
            .await
            .expect("the read ahead never ended");
    }

    #[tokio::test]
    async fn a_page_read_ahead_answers_the_next_fetch_and_skips_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let quota = Quota {
            max_bytes: 1 << 20,
            ..quota()
        };
        let store = Store::open(dir.path(), quota, Timings::new()).unwrap();
        let mailbox = [5u8; 32];
        let mut stored = Vec::new();
        for i in 0..6u8 {
            stored.push(deposit(&store, mailbox, &[i; 100], 1_000).await.id);
        }
        let collect = Collect::new(
            store.clone(),
            Vec::new(),
            &Limits::default(),
            Arc::default(),
            Arc::default(),
        );

        // The owner was sent the first four, a full page: the page after it is read ahead.
        let ahead = collect.read_ahead(mailbox, stored[3], 4).expect("a place");
        read(&ahead).await;
        // A deposit committed after that read has a greater id than anything in it.
        let late = deposit(&store, mailbox, &[9; 100], 1_001).await.id;
        let answer = collect
            .page(mailbox, stored[..4].to_vec(), stored[3], 4, 0, Some(ahead))
            .await;
        assert_eq!(
            ids(answer),
            (stored[4..].to_vec(), false, 4),
            "the page read ahead answers, as it was read"
        );
        // The next page is read afresh, and has the late deposit.
        let answer = collect
            .page(mailbox, stored[4..].to_vec(), stored[5], 4, 0, None)
            .await;
        assert_eq!(ids(answer), (vec![late], false, 2));

        // A page read ahead answers nothing but the request it was read for: not one with
        // another limit, nor one after another cursor, nor one acknowledging part of it.
        // Each is read afresh.
        let more = [
            deposit(&store, mailbox, &[10; 100], 1_002).await.id,
            deposit(&store, mailbox, &[11; 100], 1_002).await.id,
        ];
        let cases = [
            (
                Vec::new(),
                0,
                2,
                (vec![late, more[0]], true, 0),
                "another limit",
            ),
            (
                Vec::new(),
                late,
                4,
                (more.to_vec(), false, 0),
                "another cursor",
            ),
            (
                vec![late],
                0,
                4,
                (more.to_vec(), false, 1),
                "an acknowledgement inside it",
            ),
        ];
        for (ack, after, limit, expected, case) in cases {
            let ahead = collect.read_ahead(mailbox, 0, 4).expect("a place");
            read(&ahead).await;
            let answer = collect
                .page(mailbox, ack, after, limit, 0, Some(ahead))
                .await;
            assert_eq!(ids(answer), expected, "{case}");
        }
    }
}
