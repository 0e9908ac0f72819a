//! `/tern/grouplog/2`: the group logs this relay keeps as a sequencer, served off the event
//! loop like deposit streams. One task accepts the streams; one task per stream reads a
//! request, checks its signature, and answers it before it reads the next: opens and appends
//! through the store's log writer (answered once durable, with a signed receipt), reads from
//! the store, held until the log grows if the reader asks.

use std::{
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use futures::AsyncWriteExt;
use libp2p::{PeerId, Stream, identity::Keypair};
use tern_proto::{
    grouplog::{
        self, Answer, LogReceipt, MAX_ANSWER_LEN, MAX_ENTRY_LEN, MAX_PAGE, MAX_REQUEST_LEN,
        MAX_WAIT_SECS, Op, Refusal, Request, entry_digest,
    },
    mailbox::deposits::{next_frame, put_frame},
};
use tokio::sync::oneshot;
use tokio_util::sync::CancellationToken;
use tracing::debug;

use super::{
    codec::Unreadable,
    now_secs,
    streams::{Bounds, Budget, Place, Refusals, accept},
};
use crate::store::{LogJob, LogOutcome, LogWork, Store};

/// Log streams served at once; beyond it a stream is closed unread.
const MAX_STREAMS: usize = 2048;
/// Log streams one connection identity may hold open (a member waits on one per group).
const MAX_PER_PEER: usize = 16;
/// A stream with no request for this long is closed.
const IDLE: Duration = Duration::from_secs(120);

/// The group log counters, shared by every stream and read by the metrics snapshot.
#[derive(Debug, Default)]
pub(crate) struct LogCounters {
    streams: AtomicU64,
    opened: AtomicU64,
    appended: AtomicU64,
    lost: AtomicU64,
    reads: AtomicU64,
    refused: Refusals,
}

impl LogCounters {
    fn refuse(&self, refusal: Refusal) {
        self.refused.count(refusal.code());
    }

    /// Adds the counts to a metrics snapshot.
    pub(super) fn report(&self, metrics: &mut super::Metrics) {
        metrics.log_streams = self.streams.load(Ordering::Relaxed);
        metrics.logs_opened = self.opened.load(Ordering::Relaxed);
        metrics.log_appends = self.appended.load(Ordering::Relaxed);
        metrics.log_commits_lost = self.lost.load(Ordering::Relaxed);
        metrics.log_reads = self.reads.load(Ordering::Relaxed);
        self.refused.report(&mut metrics.refused);
    }
}

/// What serving log streams needs; shared by every stream.
pub(super) struct Logs {
    pub(super) store: Store,
    pub(super) keypair: Keypair,
    /// This relay's peer id bytes, as request signatures name it.
    pub(super) relay: Vec<u8>,
    /// False on a relay that keeps no group logs: every request is refused `NotAllowed`.
    pub(super) enabled: bool,
    pub(super) rates: Budget,
    pub(super) counters: Arc<LogCounters>,
    pub(super) unreadable: Arc<Unreadable>,
    pub(super) refusal_delay: Duration,
}

impl Logs {
    pub(super) fn new(
        store: Store,
        keypair: Keypair,
        limits: &crate::Limits,
        enabled: bool,
        counters: Arc<LogCounters>,
        unreadable: Arc<Unreadable>,
    ) -> Self {
        Self {
            store,
            relay: keypair.public().to_peer_id().to_bytes(),
            keypair,
            enabled,
            rates: Budget::new(limits.log_request_burst, limits.log_requests_per_sec),
            counters,
            unreadable,
            refusal_delay: Duration::from_millis(limits.refusal_delay_ms),
        }
    }
}

/// Serves `/tern/grouplog/2` until `cancel`.
pub(super) async fn run(
    logs: Logs,
    control: tern_proto::accept::Behaviour,
    cancel: CancellationToken,
) {
    let logs = Arc::new(logs);
    let bounds = Bounds {
        protocol: grouplog::PROTOCOL,
        total: MAX_STREAMS,
        per_peer: MAX_PER_PEER,
        // An answer being written finishes (it is true either way); held reads and idle
        // streams are cut at once.
        grace: Duration::ZERO,
    };
    accept(control, bounds, cancel, |peer, stream, place, cancel| {
        logs.counters.streams.fetch_add(1, Ordering::Relaxed);
        serve(logs.clone(), stream, peer, place, cancel)
    })
    .await;
}

/// Serves one log stream: a request, its answer, the next request.
async fn serve(
    logs: Arc<Logs>,
    mut stream: Stream,
    peer: PeerId,
    _place: Place,
    cancel: CancellationToken,
) {
    loop {
        let request = tokio::select! {
            () = cancel.cancelled() => break,
            request = tokio::time::timeout(
                IDLE,
                next_frame::<Request, _>(&mut stream, MAX_REQUEST_LEN),
            ) => request,
        };
        let request = match request {
            Ok(Ok(Some(request))) => request,
            Ok(Ok(None)) | Err(_) => break,
            Ok(Err(e)) => {
                debug!(%peer, "ended a log stream: {e}");
                logs.unreadable.count(&e);
                break;
            }
        };
        let answer = logs.answer(peer, request).await;
        if let Answer::Refused(refusal) = &answer {
            logs.counters.refuse(*refusal);
        }
        // A buffer per answer: a page can be megabytes, and a stream holds no memory between
        // requests.
        let mut out = Vec::new();
        if put_frame(&mut out, &answer, MAX_ANSWER_LEN).is_err() {
            break;
        }
        let written = async {
            stream.write_all(&out).await?;
            stream.flush().await
        };
        if !matches!(tokio::time::timeout(IDLE, written).await, Ok(Ok(()))) {
            return;
        }
    }
    let _ = stream.close().await;
}

impl Logs {
    /// Answers one request.
    async fn answer(&self, peer: PeerId, request: Request) -> Answer {
        if !self.enabled {
            return Answer::Refused(Refusal::NotAllowed);
        }
        if !self.rates.take(&peer) {
            // An over-budget peer waits for its refusal, as on the mailbox protocols.
            tokio::time::sleep(self.refusal_delay).await;
            return Answer::Refused(Refusal::RateLimited);
        }
        if let Op::Append { body, .. } = &request.op
            && body.len() > MAX_ENTRY_LEN
        {
            return Answer::Refused(Refusal::TooLarge);
        }
        if let Err(refusal) = request.verify(&self.relay) {
            return Answer::Refused(refusal);
        }
        let Request { log, key, op, .. } = request;
        match op {
            Op::Open { epoch } => self.write(log, key, LogWork::Open { epoch }).await,
            Op::Append { kind, body } => {
                let digest = entry_digest(&kind, &body);
                self.write(log, key, LogWork::Append { kind, body, digest })
                    .await
            }
            Op::Read {
                after,
                limit,
                wait_secs,
            } => {
                self.counters.reads.fetch_add(1, Ordering::Relaxed);
                let limit = limit.clamp(1, MAX_PAGE) as usize;
                let wait = Duration::from_secs(u64::from(wait_secs.min(MAX_WAIT_SECS)));
                let deadline = tokio::time::Instant::now() + wait;
                // Watch before reading: an append between the read and the wait still wakes.
                let mut watch = self.store.watch_log(&log);
                loop {
                    let store = self.store.clone();
                    let page = tokio::task::spawn_blocking(move || {
                        store.read_log(&log, &key, after, limit, MAX_ANSWER_LEN / 2)
                    })
                    .await
                    .unwrap_or(Err(Refusal::Unavailable));
                    let page = match page {
                        Ok(page) => page,
                        Err(refusal) => return Answer::Refused(refusal),
                    };
                    let left = deadline.saturating_duration_since(tokio::time::Instant::now());
                    if page.items.is_empty() && !left.is_zero() && watch.changed(left).await {
                        continue;
                    }
                    return Answer::Entries {
                        items: page.items,
                        more: page.more,
                        first: page.first,
                        begin: page.begin,
                    };
                }
            }
        }
    }

    /// Takes an open or an append through the log writer and answers once it is durable.
    async fn write(&self, log: grouplog::LogId, key: [u8; 32], work: LogWork) -> Answer {
        let digest = match &work {
            LogWork::Append { digest, .. } => Some(*digest),
            LogWork::Open { .. } => None,
        };
        let (reply, outcome) = oneshot::channel();
        self.store
            .log_job(LogJob {
                log,
                key,
                work,
                now: now_secs(),
                reply,
            })
            .await;
        match outcome
            .await
            .unwrap_or(LogOutcome::Refused(Refusal::Unavailable))
        {
            LogOutcome::Opened { epoch, next_seq } => {
                self.counters.opened.fetch_add(1, Ordering::Relaxed);
                Answer::Opened { epoch, next_seq }
            }
            LogOutcome::Appended { seq, stored_at } => {
                self.counters.appended.fetch_add(1, Ordering::Relaxed);
                let digest = digest.unwrap_or_default();
                Answer::Appended(LogReceipt::sign(&self.keypair, log, seq, digest, stored_at))
            }
            LogOutcome::Lost { epoch, winner } => {
                self.counters.lost.fetch_add(1, Ordering::Relaxed);
                Answer::Lost { epoch, winner }
            }
            LogOutcome::Refused(refusal) => Answer::Refused(refusal),
        }
    }
}
