//! Direct deliveries in both directions: the gate every inbound delivery passes on its way
//! to the pipeline, whichever protocol brought it, and the delivery streams
//! (`/tern/deliver/2`) next to `/tern/msg/2`.
//!
//! A sender connected to its peer pipelines its envelopes on one delivery stream ([`lanes`],
//! kind [`Deliveries`]); the first envelope to a peer not yet connected goes by
//! `/tern/msg/2`, whose request dials. The recipient serves each delivery stream on a task
//! of its own, at most [`MAX_STREAMS`] at once and [`MAX_STREAMS_PER_PEER`] per peer; every
//! delivery on it, like every `/tern/msg/2` request, passes the [`Gate`]: a blocked account's
//! devices are refused, each peer is held to its rate and to half the pipeline's places, and
//! a full pipeline answers `Busy`.

use std::{
    collections::{HashMap, HashSet},
    sync::{
        Arc, Mutex,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use futures::{AsyncWriteExt, FutureExt, SinkExt, StreamExt, future::BoxFuture};
use libp2p::{PeerId, Stream};
use tern_proto::{
    msg::stream::{self, next_delivery, put_status},
    rate::{Rate, RateLimiter},
};
use tokio::{
    sync::{Notify, Semaphore, mpsc, oneshot},
    task::JoinSet,
};
use tokio_util::sync::CancellationToken;
use tracing::{debug, warn};

use super::{
    Counters, IDLE_TIMEOUT, Inbound, MAX_RATE_ENTRIES, NetError, PeerStanding, REFUSAL_DELAY,
    REQUEST_TIMEOUT, STRANGER_RATE, Status, TRUSTED_RATE, lanes,
};

/// Delivery streams served at once, from all peers.
pub(super) const MAX_STREAMS: usize = 256;
/// Longest a trusted peer's delivery on a stream waits for its token (see [`Gate::admit`]);
/// beyond it the delivery is refused as `Busy`. A stream waits for one token at a time, and a
/// peer has at most [`MAX_STREAMS_PER_PEER`] of them, so at the trusted rate the wait is far
/// shorter.
const MAX_PACE: Duration = Duration::from_millis(50);
/// Delivery streams served at once from one peer: more than one sender keeps open, few enough
/// that one peer cannot take the node's share of streams.
pub(super) const MAX_STREAMS_PER_PEER: usize = 4;

/// What every inbound direct delivery passes; shared by the network task and the delivery
/// streams.
pub(super) struct Gate {
    peers: Mutex<Peers>,
    inbound: mpsc::Sender<Inbound>,
    places: Arc<Places>,
    blocked: AtomicU64,
    rate_limited: AtomicU64,
    /// Deliveries of trusted peers that waited for their token.
    paced: AtomicU64,
    busy: AtomicU64,
    unreadable: AtomicU64,
    streams: AtomicU64,
}

struct Peers {
    /// Per-peer delivery rates; the core promotes an accepted sender's peer to the trusted
    /// rate.
    rates: RateLimiter<PeerId>,
    /// Peers of blocked accounts, refused before opening (at most `MAX_RATE_ENTRIES`).
    refused: HashSet<PeerId>,
}

impl Gate {
    pub(super) fn new(inbound: mpsc::Sender<Inbound>) -> Self {
        Self::with_rates(inbound, STRANGER_RATE, TRUSTED_RATE)
    }

    fn with_rates(inbound: mpsc::Sender<Inbound>, stranger: Rate, trusted: Rate) -> Self {
        Self {
            peers: Mutex::new(Peers {
                rates: RateLimiter::with_promoted(MAX_RATE_ENTRIES, stranger, trusted),
                refused: HashSet::new(),
            }),
            places: Arc::new(Places {
                share: (inbound.max_capacity() / 2).max(1),
                taken: Mutex::default(),
                freed: Notify::new(),
            }),
            inbound,
            blocked: AtomicU64::new(0),
            rate_limited: AtomicU64::new(0),
            paced: AtomicU64::new(0),
            busy: AtomicU64::new(0),
            unreadable: AtomicU64::new(0),
            streams: AtomicU64::new(0),
        }
    }

    fn peers(&self) -> std::sync::MutexGuard<'_, Peers> {
        self.peers.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(super) fn set_standing(&self, peer: PeerId, standing: PeerStanding) {
        let mut peers = self.peers();
        match standing {
            PeerStanding::Trusted => {
                peers.refused.remove(&peer);
                peers.rates.promote(&peer);
            }
            PeerStanding::Refused => {
                if peers.refused.len() >= MAX_RATE_ENTRIES {
                    peers.refused.clear();
                }
                peers.refused.insert(peer);
            }
        }
    }

    pub(super) fn forget_refused(&self) {
        self.peers().refused.clear();
    }

    /// Passes one direct delivery from `peer` to the pipeline; the future is its answer. A
    /// refused peer (blocked, or over its rate) waits [`REFUSAL_DELAY`] for its answer when
    /// `hold_refusals`, so that a flooder gets its window back once a second rather than as
    /// fast as the node can refuse.
    pub(super) fn pass(
        &self,
        peer: PeerId,
        envelope: Vec<u8>,
        hold_refusals: bool,
    ) -> BoxFuture<'static, Status> {
        let admitted = self.admit(peer, false, Instant::now()).and_then(|_| {
            self.places.take(peer).ok_or_else(|| {
                self.busy.fetch_add(1, Ordering::Relaxed);
                Status::Busy
            })
        });
        match admitted {
            Ok(place) => self.forward(envelope, place),
            Err(status) => refusal(status, hold_refusals),
        }
    }

    /// Whether a delivery from `peer` may pass: after how long, or the status that refuses
    /// it. A trusted peer's delivery on a stream (`paced`) that finds the peer's bucket empty
    /// waits for its token instead, up to [`MAX_PACE`]: the stream reads nothing more
    /// meanwhile, so the sender is slowed to its rate, where a refusal would hold every
    /// answer behind it for a second and the sender would try again later.
    fn admit(&self, peer: PeerId, paced: bool, now: Instant) -> Result<Duration, Status> {
        let mut peers = self.peers();
        if peers.refused.contains(&peer) {
            self.blocked.fetch_add(1, Ordering::Relaxed);
            return Err(Status::Rejected);
        }
        let max_wait = if paced && peers.rates.is_promoted(&peer) {
            MAX_PACE
        } else {
            Duration::ZERO
        };
        match peers.rates.take_or_wait(&peer, now, max_wait) {
            Some(wait) => {
                if !wait.is_zero() {
                    self.paced.fetch_add(1, Ordering::Relaxed);
                }
                Ok(wait)
            }
            None => {
                self.rate_limited.fetch_add(1, Ordering::Relaxed);
                Err(Status::Busy)
            }
        }
    }

    /// [`Gate::admit`] for a delivery on a stream: waits out a trusted peer's turn here, in
    /// the stream's read loop, so that nothing more is read from the stream meanwhile; and
    /// likewise for one of the peer's places in the pipeline when it holds its share.
    async fn admit_on_stream(&self, peer: PeerId, now: Instant) -> Result<Place, Status> {
        let wait = self.admit(peer, true, now)?;
        if !wait.is_zero() {
            tokio::time::sleep(wait).await;
        }
        loop {
            // Made before looking, so that a place freed in between still wakes it.
            let freed = self.places.freed.notified();
            if let Some(place) = self.places.take(peer) {
                return Ok(place);
            }
            freed.await;
        }
    }

    /// Hands an admitted delivery to the pipeline; the future is its answer, and gives the
    /// peer's `place` back once it has it.
    fn forward(&self, envelope: Vec<u8>, place: Place) -> BoxFuture<'static, Status> {
        let (reply, answer) = oneshot::channel();
        let peer = place.peer;
        let inbound = Inbound {
            peer,
            envelope,
            reply,
            via_relay: false,
        };
        match self.inbound.try_send(inbound) {
            // A dropped answer means the pipeline could not store the message.
            Ok(()) => async move {
                let status = answer.await.unwrap_or(Status::Unavailable);
                drop(place);
                status
            }
            .boxed(),
            Err(_) => {
                self.busy.fetch_add(1, Ordering::Relaxed);
                warn!(%peer, "pipeline saturated; answering busy");
                futures::future::ready(Status::Busy).boxed()
            }
        }
    }

    /// Adds the gate's counts to `counters`.
    pub(super) fn count(&self, counters: &mut Counters) {
        counters.deliveries_blocked += self.blocked.load(Ordering::Relaxed);
        counters.deliveries_rate_limited += self.rate_limited.load(Ordering::Relaxed);
        counters.deliveries_paced += self.paced.load(Ordering::Relaxed);
        counters.deliveries_busy += self.busy.load(Ordering::Relaxed);
        counters.inbound_failures += self.unreadable.load(Ordering::Relaxed);
        counters.delivery_streams += self.streams.load(Ordering::Relaxed);
    }
}

/// Each peer's places in the pipeline: deliveries passed to it and not answered yet. A peer
/// holds at most half of them. A contact at its trusted rate with all its streams could
/// otherwise fill the pipeline alone, and every other peer would get `Busy`. An honest sender
/// has one stream's window unanswered (plus, for a moment, what a stream that just broke is
/// still owed), well within its share.
struct Places {
    share: usize,
    taken: Mutex<HashMap<PeerId, usize>>,
    /// Woken when a peer at its share gives a place back.
    freed: Notify,
}

impl Places {
    /// A place for `peer`, or `None` when it holds its share.
    fn take(self: &Arc<Self>, peer: PeerId) -> Option<Place> {
        let mut taken = self.taken.lock().unwrap_or_else(|e| e.into_inner());
        let held = taken.entry(peer).or_default();
        if *held >= self.share {
            return None;
        }
        *held += 1;
        Some(Place {
            places: self.clone(),
            peer,
        })
    }
}

/// One delivery's place in the pipeline, given back when dropped.
struct Place {
    places: Arc<Places>,
    peer: PeerId,
}

impl Drop for Place {
    fn drop(&mut self) {
        let mut taken = self.places.taken.lock().unwrap_or_else(|e| e.into_inner());
        let Some(held) = taken.get_mut(&self.peer) else {
            return;
        };
        let was_full = *held >= self.places.share;
        *held -= 1;
        if *held == 0 {
            taken.remove(&self.peer);
        }
        drop(taken);
        if was_full {
            self.places.freed.notify_waiters();
        }
    }
}

/// Direct deliveries on `/tern/deliver/2`, through [`lanes`].
pub(super) struct Deliveries;

/// One delivery queued on a lane.
pub(super) struct Queued {
    pub(super) envelope: Vec<u8>,
    pub(super) reply: oneshot::Sender<Result<Status, NetError>>,
}

impl lanes::Kind for Deliveries {
    type Queued = Queued;
    type Answer = Status;
    const PROTOCOL: libp2p::StreamProtocol = stream::PROTOCOL;
    const WINDOW: usize = stream::WINDOW;
    const TIMEOUT: Duration = REQUEST_TIMEOUT;

    fn frame(queued: &Queued) -> Option<Vec<u8>> {
        let mut frame = Vec::with_capacity(queued.envelope.len() + 5);
        stream::put_delivery(&mut frame, &queued.envelope).ok()?;
        Some(frame)
    }

    fn reply(queued: Queued, answer: Result<Status, NetError>) {
        let _ = queued.reply.send(answer);
    }
}

/// Serves `/tern/deliver/2` until `cancel`.
pub(super) async fn serve(
    acceptor: tern_proto::accept::Behaviour,
    gate: Arc<Gate>,
    cancel: CancellationToken,
) {
    let mut incoming = match acceptor.accept(stream::PROTOCOL) {
        Ok(incoming) => incoming,
        Err(e) => {
            warn!("cannot serve delivery streams: {e}");
            return;
        }
    };
    let slots = Arc::new(Semaphore::new(MAX_STREAMS));
    let mut per_peer: HashMap<PeerId, usize> = HashMap::new();
    let mut tasks = JoinSet::new();
    loop {
        tokio::select! {
            () = cancel.cancelled() => break,
            Some(ended) = tasks.join_next(), if !tasks.is_empty() => {
                if let Ok(peer) = ended
                    && let Some(count) = per_peer.get_mut(&peer)
                {
                    *count -= 1;
                    if *count == 0 {
                        per_peer.remove(&peer);
                    }
                }
            }
            Some((peer, mut stream)) = incoming.next() => {
                let open = per_peer.get(&peer).copied().unwrap_or(0);
                let slot = slots.clone().try_acquire_owned().ok();
                match slot {
                    Some(slot) if open < MAX_STREAMS_PER_PEER => {
                        *per_peer.entry(peer).or_default() += 1;
                        let gate = gate.clone();
                        tasks.spawn(async move {
                            serve_one(&gate, stream, peer).await;
                            drop(slot);
                            peer
                        });
                    }
                    _ => {
                        debug!(%peer, "too many delivery streams: closing one unread");
                        tokio::spawn(async move {
                            let _ = stream.close().await;
                        });
                    }
                }
            }
        }
    }
    // The node is stopping: deliveries not answered yet are delivered again by their senders.
    tasks.abort_all();
}

/// Serves one delivery stream: reads deliveries until the sender closes its side (or a frame
/// is unreadable, or the stream idles), answering each in order once the pipeline has.
async fn serve_one(gate: &Gate, stream: Stream, peer: PeerId) {
    gate.streams.fetch_add(1, Ordering::Relaxed);
    let (mut reader, mut writer) = futures::AsyncReadExt::split(stream);
    // Answers to come, in the order the deliveries were read; at most a window of them.
    let (mut queued, answers) = futures::channel::mpsc::channel::<BoxFuture<'static, _>>(0);
    let read = async move {
        loop {
            let next = tokio::time::timeout(IDLE_TIMEOUT, next_delivery(&mut reader));
            let envelope = match next.await {
                Ok(Ok(Some(envelope))) => envelope,
                Ok(Ok(None)) | Err(_) => break,
                Ok(Err(e)) => {
                    debug!(%peer, "ended a delivery stream: {e}");
                    gate.unreadable.fetch_add(1, Ordering::Relaxed);
                    break;
                }
            };
            let answer = match gate.admit_on_stream(peer, Instant::now()).await {
                Ok(place) => gate.forward(envelope, place),
                Err(status) => refusal(status, true),
            };
            if queued.send(answer).await.is_err() {
                break;
            }
        }
    };
    let write = async move {
        let mut answers = answers.buffered(stream::WINDOW);
        let mut out = Vec::new();
        while let Some(status) = answers.next().await {
            out.clear();
            put_status(&mut out, status);
            while let Some(Some(status)) = answers.next().now_or_never() {
                put_status(&mut out, status);
            }
            let written = async {
                writer.write_all(&out).await?;
                writer.flush().await
            };
            // A sender that is gone, or takes no answers, loses the stream; what it delivered
            // is stored all the same.
            if !matches!(
                tokio::time::timeout(IDLE_TIMEOUT, written).await,
                Ok(Ok(()))
            ) {
                return;
            }
        }
        let _ = writer.close().await;
    };
    futures::join!(read, write);
}

/// The answer to a refused delivery: `status`, after [`REFUSAL_DELAY`] when `hold`.
fn refusal(status: Status, hold: bool) -> BoxFuture<'static, Status> {
    let delay = if hold { REFUSAL_DELAY } else { Duration::ZERO };
    async move {
        tokio::time::sleep(delay).await;
        status
    }
    .boxed()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A trusted peer over its rate on a stream waits for its tokens, each a little longer,
    /// up to [`MAX_PACE`]; by request-response it is refused, like a stranger anywhere.
    #[test]
    fn a_trusted_peer_over_its_rate_waits_on_a_stream_where_a_stranger_is_refused() {
        let (inbound, _pipeline) = mpsc::channel(16);
        let (stranger, trusted) = (
            Rate {
                burst: 1.0,
                per_sec: 1.0,
            },
            Rate {
                burst: 1.0,
                per_sec: 90.0,
            },
        );
        let gate = Gate::with_rates(inbound, stranger, trusted);
        let (contact, other) = (PeerId::random(), PeerId::random());
        let now = Instant::now();
        for peer in [contact, other] {
            assert_eq!(gate.admit(peer, true, now), Ok(Duration::ZERO));
        }
        gate.set_standing(contact, PeerStanding::Trusted);

        let refused = Err(Status::Busy);
        assert_eq!(
            gate.admit(other, true, now),
            refused,
            "a stranger waits not"
        );
        assert_eq!(gate.admit(contact, false, now), refused, "nor a request");
        // 11.1 ms per token at the trusted rate; the fifth would wait 55.6 ms.
        let waits: Vec<_> = (0..6).map(|_| gate.admit(contact, true, now)).collect();
        let tokens = |n: u32| Ok(Duration::from_secs(1) * n / 90);
        let expected = [tokens(1), tokens(2), tokens(3), tokens(4), refused, refused];
        assert_eq!(waits.len(), expected.len());
        for (wait, expected) in waits.iter().zip(expected) {
            match (wait, expected) {
                (Ok(wait), Ok(expected)) => {
                    assert!(
                        wait.abs_diff(expected) < Duration::from_micros(1),
                        "{wait:?}"
                    );
                }
                (wait, expected) => assert_eq!(*wait, expected),
            }
        }
        let mut counters = Counters::default();
        gate.count(&mut counters);
        assert_eq!(
            (counters.deliveries_paced, counters.deliveries_rate_limited),
            (4, 4)
        );
    }

    /// On a stream, the wait happens before the delivery goes on: at least the time the
    /// token takes to refill (a sleep never ends early).
    #[tokio::test]
    async fn a_stream_waits_out_a_trusted_peers_turn() {
        let (inbound, _pipeline) = mpsc::channel(16);
        let trusted = Rate {
            burst: 1.0,
            per_sec: 25.0,
        };
        let gate = Gate::with_rates(inbound, trusted, trusted);
        let (contact, now) = (PeerId::random(), Instant::now());
        gate.admit_on_stream(contact, now).await.unwrap();
        gate.set_standing(contact, PeerStanding::Trusted);
        let started = tokio::time::Instant::now();
        gate.admit_on_stream(contact, now).await.unwrap();
        assert!(
            started.elapsed() >= Duration::from_millis(40),
            "waited for its token"
        );
    }

    /// What `future` gives, or an error after five seconds.
    async fn within<F: Future>(future: F) -> Result<F::Output, tokio::time::error::Elapsed> {
        tokio::time::timeout(Duration::from_secs(5), future).await
    }

    /// A gate in front of a pipeline of `places`, whose rates never refuse in a test.
    fn unlimited_gate(places: usize) -> (Gate, mpsc::Receiver<Inbound>) {
        let (inbound, pipeline) = mpsc::channel(places);
        let fast = Rate {
            burst: 100.0,
            per_sec: 100.0,
        };
        (Gate::with_rates(inbound, fast, fast), pipeline)
    }

    /// One peer, however trusted and however many streams it opens, has at most half of the
    /// pipeline's places: the other half stays open to everyone else.
    #[tokio::test]
    async fn a_peer_takes_at_most_half_the_pipeline() {
        let (gate, mut pipeline) = unlimited_gate(16);
        let (contact, other) = (PeerId::random(), PeerId::random());
        let mut held: Vec<_> = (0..8)
            .map(|_| gate.pass(contact, Vec::new(), false))
            .collect();
        assert_eq!(
            within(gate.pass(contact, Vec::new(), false)).await,
            Ok(Status::Busy),
            "over its share"
        );
        let others: Vec<_> = (0..8)
            .map(|_| gate.pass(other, Vec::new(), false))
            .collect();
        // Every place is taken now; the pipeline answers in order.
        assert_eq!(
            within(gate.pass(PeerId::random(), Vec::new(), false)).await,
            Ok(Status::Busy)
        );
        for _ in 0..16 {
            let delivery = within(pipeline.recv()).await.unwrap().unwrap();
            delivery.reply.send(Status::Stored).unwrap();
        }
        for answer in others {
            assert_eq!(within(answer).await, Ok(Status::Stored));
        }
        // An answered delivery gives its place back.
        assert_eq!(within(held.remove(0)).await, Ok(Status::Stored));
        let again = gate.pass(contact, Vec::new(), false);
        let delivery = within(pipeline.recv()).await.unwrap().unwrap();
        assert_eq!(delivery.peer, contact);
        delivery.reply.send(Status::Duplicate).unwrap();
        assert_eq!(within(again).await, Ok(Status::Duplicate));
    }

    /// Beyond its share, a delivery on a stream waits, reading nothing more, until one of the
    /// peer's own deliveries is answered.
    #[tokio::test]
    async fn a_stream_beyond_its_share_waits_for_a_place() {
        let (gate, mut pipeline) = unlimited_gate(4);
        let contact = PeerId::random();
        let first = gate.pass(contact, Vec::new(), false);
        let _second = gate.pass(contact, Vec::new(), false);
        let waiting = gate.admit_on_stream(contact, Instant::now());
        tokio::pin!(waiting);
        assert!(futures::poll!(waiting.as_mut()).is_pending());
        let delivery = within(pipeline.recv()).await.unwrap().unwrap();
        delivery.reply.send(Status::Stored).unwrap();
        assert_eq!(first.await, Status::Stored);
        let place = within(waiting).await;
        assert!(
            matches!(place, Ok(Ok(_))),
            "a place once the first was answered"
        );
    }
}
