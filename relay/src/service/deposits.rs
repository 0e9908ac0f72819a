//! Deposits, by either protocol: the [`Gate`] every deposit passes (size, allow list, the
//! depositor's budgets), and `/tern/deposit/1`, many pipelined deposits on one stream.
//!
//! A deposit stream is served off the event loop: one task accepts the streams, one task per
//! stream reads deposit frames, passes each through the gate and queues it for the store's
//! writer, and writes the answers back in order as the writer makes them durable. The event
//! loop hears of refusals and new streams ([`Note`]) for its metrics; the writer itself tells
//! it what each write stored, to count deposits and wake the owners waiting on a mailbox
//! (`Store::report_commits`).

use std::{
    collections::HashSet,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use futures::{AsyncWriteExt, FutureExt, SinkExt, StreamExt, future::BoxFuture};
use libp2p::{PeerId, Stream, identity::Keypair};
use tern_proto::{
    mailbox::{
        CustodyReceipt, MAX_REQUEST_LEN, Refusal,
        deposits::{self, DepositAnswer, DepositFrame, MAX_ANSWER_LEN, WINDOW},
        envelope_digest,
    },
    rate::{Rate, RateLimiter},
};
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;
use tracing::debug;

use super::{
    MAX_RATE_ENTRIES,
    codec::Unreadable,
    now_secs,
    streams::{Bounds, Place, accept},
};
use crate::store::{Deposit, Store, Stored};

/// Deposit streams served at once; beyond it a stream is closed unread.
const MAX_STREAMS: usize = 1024;
/// Deposit streams one connection identity may hold open.
const MAX_PER_PEER: usize = 4;
/// A stream with no deposit for this long is closed (after its answers); a sender opens a new
/// one when it next has something to deposit. A sender that reads no answers for this long
/// loses its stream too.
const IDLE: Duration = Duration::from_secs(60);
/// At shutdown, how long the streams have to answer what they read before they are cut.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// What every deposit passes before it reaches the store, whichever protocol carries it.
pub(crate) struct Gate {
    rates: Mutex<Rates>,
    allow: Option<HashSet<[u8; 32]>>,
    max_envelope: usize,
}

/// Each depositor's budgets: deposits, and bytes (so that a stranger is metered in both).
struct Rates {
    count: RateLimiter<PeerId>,
    bytes: RateLimiter<PeerId>,
}

impl Gate {
    pub(crate) fn new(limits: &crate::Limits, allow: Option<HashSet<[u8; 32]>>) -> Self {
        let count = Rate {
            burst: f64::from(limits.deposit_burst),
            per_sec: f64::from(limits.deposits_per_sec),
        };
        let bytes = Rate {
            burst: limits.deposit_bytes_burst as f64,
            per_sec: limits.deposit_bytes_per_sec as f64,
        };
        Self {
            rates: Mutex::new(Rates {
                count: RateLimiter::new(MAX_RATE_ENTRIES, count),
                bytes: RateLimiter::new(MAX_RATE_ENTRIES, bytes),
            }),
            allow,
            max_envelope: limits.max_envelope,
        }
    }

    /// Takes one of `peer`'s deposit tokens, if it has one: what a one-time prekey costs.
    pub(crate) fn take_token(&self, peer: &PeerId) -> bool {
        let mut rates = self.rates.lock().unwrap_or_else(|e| e.into_inner());
        rates.count.try_take(peer, Instant::now())
    }

    /// Whether `peer` may deposit `envelope` for `mailbox` now: a sealed envelope within
    /// the size limit, for a mailbox this relay serves, within the peer's budgets, which a
    /// deposit let through is charged to.
    pub(crate) fn admit(
        &self,
        peer: &PeerId,
        mailbox: &[u8; 32],
        envelope: &[u8],
    ) -> Result<(), Refusal> {
        let len = envelope.len();
        if len > self.max_envelope {
            return Err(Refusal::TooLarge);
        }
        if tern_crypto::envelope::Form::of(envelope) != Some(tern_crypto::envelope::Form::Sealed) {
            return Err(Refusal::NotSealed);
        }
        if self.allow.as_ref().is_some_and(|a| !a.contains(mailbox)) {
            return Err(Refusal::NotAllowed);
        }
        let now = Instant::now();
        let mut rates = self.rates.lock().unwrap_or_else(|e| e.into_inner());
        if !rates.count.try_take(peer, now) || !rates.bytes.try_take_n(peer, now, len as f64) {
            return Err(Refusal::RateLimited);
        }
        Ok(())
    }
}

/// Signs custody receipts as this relay.
pub(crate) struct Signer {
    keypair: Keypair,
    /// The relay's peer id and protobuf-encoded public key, as receipts name them.
    relay: Vec<u8>,
    relay_key: Vec<u8>,
}

impl Signer {
    pub(crate) fn new(keypair: Keypair) -> Self {
        let public = keypair.public();
        Self {
            relay: public.to_peer_id().to_bytes(),
            relay_key: public.encode_protobuf(),
            keypair,
        }
    }

    /// The receipt of a stored deposit; the first asked of its batch signs the batch.
    fn receipt(&self, stored: &Stored) -> CustodyReceipt {
        stored
            .batch
            .receipt(stored.index, &self.relay_key, &self.relay, |m| {
                self.keypair.sign(m).unwrap_or_default()
            })
    }
}

/// Queues a deposit for the writer (waiting while its queue is full) and returns the answer
/// to come: the deposit's custody receipt once it is durable, or why it was not stored.
pub(crate) async fn store(
    store: &Store,
    signer: Arc<Signer>,
    mailbox: [u8; 32],
    envelope: Vec<u8>,
) -> impl Future<Output = Result<CustodyReceipt, Refusal>> + use<> {
    let (reply, answer) = oneshot::channel();
    store
        .deposit(Deposit {
            mailbox,
            digest: envelope_digest(&envelope),
            envelope,
            stored_at: now_secs(),
            reply,
        })
        .await;
    answer.map(move |answer| {
        let stored = answer.unwrap_or(Err(Refusal::Unavailable))?;
        Ok(signer.receipt(&stored))
    })
}

/// What a deposit stream tells the event loop.
#[derive(Debug)]
pub(super) enum Note {
    /// A deposit was refused.
    Refused(Refusal),
    /// A deposit stream was accepted.
    Opened,
}

/// What serving deposit streams needs; shared by every stream.
pub(super) struct Streams {
    pub(super) gate: Arc<Gate>,
    pub(super) store: Store,
    pub(super) signer: Arc<Signer>,
    pub(super) notes: mpsc::Sender<Note>,
    pub(super) unreadable: Arc<Unreadable>,
    /// How long an over-budget depositor waits for its `rate_limited`.
    pub(super) refusal_delay: Duration,
    pub(super) timings: crate::timing::Timings,
}

/// Serves `/tern/deposit/1` until `cancel`.
pub(super) async fn run(
    streams: Streams,
    control: tern_proto::accept::Behaviour,
    cancel: CancellationToken,
) {
    let streams = Arc::new(streams);
    let bounds = Bounds {
        protocol: deposits::PROTOCOL,
        total: MAX_STREAMS,
        per_peer: MAX_PER_PEER,
        // The streams stop reading and answer what they read, so every receipt sent is
        // true; one whose sender does not take its answers is cut. The deposits themselves
        // finish either way.
        grace: SHUTDOWN_GRACE,
    };
    accept(control, bounds, cancel, |peer, stream, place, cancel| {
        serve(streams.clone(), stream, peer, place, cancel)
    })
    .await;
}

/// Serves one deposit stream: reads deposits until the sender closes its side (or a frame
/// is unreadable, or the stream idles), answering each in order once the writer is done
/// with it.
async fn serve(
    streams: Arc<Streams>,
    stream: Stream,
    peer: PeerId,
    _place: Place,
    cancel: CancellationToken,
) {
    let _ = streams.notes.send(Note::Opened).await;
    let (mut reader, mut writer) = futures::AsyncReadExt::split(stream);
    // Answers to come, in the order the deposits were read; at most a window of them.
    let (mut queued, answers) = futures::channel::mpsc::channel::<BoxFuture<'static, _>>(0);
    let read = {
        let streams = streams.clone();
        async move {
            loop {
                let frame = tokio::time::timeout(
                    IDLE,
                    deposits::next_frame::<DepositFrame, _>(&mut reader, MAX_REQUEST_LEN),
                );
                // At shutdown the relay reads no more, and answers what it read.
                let frame = tokio::select! {
                    () = cancel.cancelled() => break,
                    frame = frame => frame,
                };
                let DepositFrame { mailbox, envelope } = match frame {
                    Ok(Ok(Some(frame))) => frame,
                    Ok(Ok(None)) | Err(_) => break,
                    Ok(Err(e)) => {
                        debug!(%peer, "ended a deposit stream: {e}");
                        streams.unreadable.count(&e);
                        break;
                    }
                };
                let answer = streams.answer(peer, mailbox, envelope).await;
                if queued.send(answer).await.is_err() {
                    break;
                }
            }
        }
    };
    let write = async move {
        let mut answers = answers.buffered(WINDOW);
        let mut out = Vec::new();
        while let Some(answer) = answers.next().await {
            out.clear();
            let mut fits = deposits::put_frame(&mut out, &answer, MAX_ANSWER_LEN).is_ok();
            while fits && let Some(Some(answer)) = answers.next().now_or_never() {
                fits = deposits::put_frame(&mut out, &answer, MAX_ANSWER_LEN).is_ok();
            }
            let written = async {
                writer.write_all(&out).await?;
                writer.flush().await
            };
            // A sender that is gone, or takes no answers, loses the stream; what it deposited
            // is stored all the same. So does one owed an answer that cannot be written: the
            // answers after it would fall on the wrong deposits.
            if !matches!(tokio::time::timeout(IDLE, written).await, Ok(Ok(()))) || !fits {
                return;
            }
        }
        let _ = writer.close().await;
    };
    futures::join!(read, write);
}

impl Streams {
    /// Passes one deposit through the gate and to the writer; the future is its answer.
    async fn answer(
        &self,
        peer: PeerId,
        mailbox: [u8; 32],
        envelope: Vec<u8>,
    ) -> BoxFuture<'static, DepositAnswer> {
        let notes = self.notes.clone();
        if let Err(refusal) = self.gate.admit(&peer, &mailbox, &envelope) {
            let delay = if refusal == Refusal::RateLimited {
                self.refusal_delay
            } else {
                Duration::ZERO
            };
            return async move {
                // An over-budget sender waits for its refusal, and with it every answer
                // behind it on the stream.
                tokio::time::sleep(delay).await;
                let _ = notes.send(Note::Refused(refusal)).await;
                DepositAnswer::Refused(refusal)
            }
            .boxed();
        }
        let started = Instant::now();
        let stored = store(&self.store, self.signer.clone(), mailbox, envelope).await;
        let timings = self.timings.clone();
        // The owners waiting on the mailbox hear from the writer itself once the deposit is
        // durable, however slowly this depositor reads its answers.
        async move {
            match stored.await {
                Ok(receipt) => {
                    timings.deposit.observe(started.elapsed().as_secs_f64());
                    DepositAnswer::Stored(receipt)
                }
                Err(refusal) => {
                    let _ = notes.send(Note::Refused(refusal)).await;
                    DepositAnswer::Refused(refusal)
                }
            }
        }
        .boxed()
    }
}
