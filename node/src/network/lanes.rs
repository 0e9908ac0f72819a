//! Pipelined stream protocols on the client side: one long-lived stream per peer, with the
//! requests for that peer written on it back to back instead of each spending a
//! request-response stream. Deposits at relays go this way (`/tern/deposit/1`, from the
//! unlinked clients) and so do direct deliveries to connected peers (`/tern/deliver/2`).
//!
//! A lane is a task per peer: it opens the stream, sends each queued request at once, and
//! answers each caller when the peer's answer comes. It ends after [`IDLE`] without a
//! request (closing the stream), or when the stream breaks. A peer that does not speak the
//! protocol is remembered, and its requests go by the protocol's request-response form as
//! before. A request left unanswered by a broken stream is handed back to go that way too:
//! it may have taken effect, and both protocols answer a repeated request as a repeat (a
//! relay with a receipt for the copy it holds, a node with `Duplicate`).

use std::{
    collections::{HashMap, HashSet},
    time::Duration,
};

use futures::{StreamExt, stream::FuturesUnordered};
use libp2p::{PeerId, StreamProtocol};
use tern_proto::pipe::{self, Closed, Pipe};
use tokio::sync::mpsc;
use tracing::debug;

use super::NetError;

/// How long a lane waits for another request before it closes its stream: less than the
/// serving side's own idle limit, so that the client closes first.
const IDLE: Duration = Duration::from_secs(30);
/// Peers remembered as speaking only the request-response form.
const MAX_OLD: usize = 256;

/// A pipelined protocol, as a lane sees it.
pub(super) trait Kind: Send + 'static {
    /// A queued request and where its answer goes.
    type Queued: Send + 'static;
    /// The peer's answer to one request.
    type Answer: pipe::Answer;
    /// The stream protocol.
    const PROTOCOL: StreamProtocol;
    /// Most requests unanswered on one stream.
    const WINDOW: usize;
    /// How long opening the stream, or one answer, may take.
    const TIMEOUT: Duration;
    /// The request frame of `queued`; `None` hands it to the request-response form, which
    /// refuses it with the protocol's own answer (a request too large for a frame).
    fn frame(queued: &Self::Queued) -> Option<Vec<u8>>;
    /// Answers `queued`'s caller.
    fn reply(queued: Self::Queued, answer: Result<Self::Answer, NetError>);
}

/// A request a lane hands back, to go by the request-response form.
pub(super) struct Fallback<Q> {
    pub(super) peer: PeerId,
    pub(super) queued: Q,
    /// The peer does not speak the stream protocol.
    pub(super) unsupported: bool,
}

/// A client's lanes of one protocol, by peer.
pub(super) struct Lanes<K: Kind> {
    lanes: HashMap<PeerId, mpsc::Sender<K::Queued>>,
    /// Peers that answered the protocol's negotiation with "unsupported".
    old: HashSet<PeerId>,
    fallback: mpsc::Sender<Fallback<K::Queued>>,
}

impl<K: Kind> Lanes<K> {
    /// Lanes that hand back what they cannot send through `fallback`.
    pub(super) fn new(fallback: mpsc::Sender<Fallback<K::Queued>>) -> Self {
        Self {
            lanes: HashMap::new(),
            old: HashSet::new(),
            fallback,
        }
    }

    /// Queues `queued` on `peer`'s lane, starting one if none runs; hands it back if the peer
    /// speaks only the request-response form, or the lane is saturated. The lane holds
    /// `guard()` while it runs.
    pub(super) fn send<G: Send + 'static>(
        &mut self,
        peer: PeerId,
        queued: K::Queued,
        control: &libp2p_stream::Control,
        guard: impl FnOnce() -> G,
    ) -> Result<(), K::Queued> {
        if self.old.contains(&peer) {
            return Err(queued);
        }
        self.lanes.retain(|_, lane| !lane.is_closed());
        let lane = self.lanes.entry(peer).or_insert_with(|| {
            let (queue, queued) = mpsc::channel(K::WINDOW);
            let run = run::<K, G>(
                peer,
                control.clone(),
                queued,
                self.fallback.clone(),
                guard(),
            );
            tokio::spawn(run);
            queue
        });
        lane.try_send(queued).map_err(|e| match e {
            mpsc::error::TrySendError::Full(q) | mpsc::error::TrySendError::Closed(q) => q,
        })
    }

    /// `peer` speaks only the request-response form.
    pub(super) fn old(&mut self, peer: PeerId) {
        if self.old.len() >= MAX_OLD {
            self.old.clear();
        }
        self.old.insert(peer);
    }
}

/// One lane: opens the stream to `peer` and serves `queue` on it until it idles or breaks.
async fn run<K: Kind, G>(
    peer: PeerId,
    mut control: libp2p_stream::Control,
    mut queue: mpsc::Receiver<K::Queued>,
    fallback: mpsc::Sender<Fallback<K::Queued>>,
    _guard: G,
) {
    let opened = tokio::time::timeout(K::TIMEOUT, control.open_stream(peer, K::PROTOCOL)).await;
    let stream = match opened {
        Ok(Ok(stream)) => stream,
        Ok(Err(e)) => {
            let unsupported = matches!(e, libp2p_stream::OpenStreamError::UnsupportedProtocol(_));
            debug!(%peer, protocol = %K::PROTOCOL, "no stream: {e}");
            return hand_back(peer, queue, &fallback, unsupported).await;
        }
        Err(_) => return hand_back(peer, queue, &fallback, false).await,
    };
    let (lane, driver) = pipe::pipe::<_, K::Answer>(stream, K::WINDOW);
    tokio::spawn(async move {
        if let Err(e) = driver.await {
            debug!(%peer, protocol = %K::PROTOCOL, "stream ended: {e}");
        }
    });
    let mut waiting = FuturesUnordered::new();
    loop {
        let idle = waiting.is_empty();
        tokio::select! {
            next = tokio::time::timeout(IDLE, queue.recv()), if !lane.is_closed() => match next {
                Ok(Some(queued)) => waiting.push(answer::<K>(lane.clone(), queued)),
                Ok(None) => break,
                Err(_) if idle => break,
                Err(_) => {}
            },
            Some(outcome) = waiting.next(), if !waiting.is_empty() => match outcome {
                Outcome::Answered => {}
                // The stream broke before the peer answered: send it again the other way.
                Outcome::Unanswered(queued) => {
                    let _ = fallback
                        .send(Fallback { peer, queued, unsupported: false })
                        .await;
                }
                // A peer that stopped answering gets no more requests on this stream.
                Outcome::TimedOut => break,
            },
            else => break,
        }
    }
    // Requests queued from now on go to a new lane, or back by request-response.
    queue.close();
    drop(lane);
    while let Some(outcome) = waiting.next().await {
        if let Outcome::Unanswered(queued) = outcome {
            let _ = fallback
                .send(Fallback {
                    peer,
                    queued,
                    unsupported: false,
                })
                .await;
        }
    }
    hand_back(peer, queue, &fallback, false).await;
}

/// How one request on a lane ended.
enum Outcome<Q> {
    /// Its caller has the peer's answer.
    Answered,
    /// The stream ended first: it goes again by request-response.
    Unanswered(Q),
    /// The peer did not answer in time; the caller was told.
    TimedOut,
}

/// Sends `queued` on `lane` and answers its caller; hands it back if the stream broke first.
async fn answer<K: Kind>(lane: Pipe<K::Answer>, queued: K::Queued) -> Outcome<K::Queued> {
    let Some(frame) = K::frame(&queued) else {
        return Outcome::Unanswered(queued);
    };
    let answer = tokio::time::timeout(K::TIMEOUT, lane.call(frame));
    match answer.await {
        Ok(Ok(answer)) => {
            K::reply(queued, Ok(answer));
            Outcome::Answered
        }
        Ok(Err(Closed)) => Outcome::Unanswered(queued),
        Err(_) => {
            K::reply(queued, Err(NetError::Delivery("timed out".into())));
            Outcome::TimedOut
        }
    }
}

/// Hands every request still queued back to go by request-response, and ends the lane.
async fn hand_back<Q>(
    peer: PeerId,
    mut queue: mpsc::Receiver<Q>,
    fallback: &mpsc::Sender<Fallback<Q>>,
    unsupported: bool,
) {
    queue.close();
    while let Some(queued) = queue.recv().await {
        let _ = fallback
            .send(Fallback {
                peer,
                queued,
                unsupported,
            })
            .await;
    }
}
