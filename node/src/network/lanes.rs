//! Deposits on deposit streams (`/tern/deposit/1`): a client keeps one stream per relay and
//! pipelines its deposits on it, instead of spending a request-response stream on each.
//!
//! A lane is a task per relay: it opens the stream, sends each queued deposit at once, and
//! answers each caller when the relay's answer comes. It ends after [`IDLE`] without a
//! deposit (closing the stream), or when the stream breaks. A relay that does not speak the
//! protocol is remembered, and its deposits go by `/tern/mailbox/2` as before. A deposit left
//! unanswered by a broken stream is made again by `/tern/mailbox/2`: it may have been stored,
//! and the relay answers a second deposit of the same envelope with a receipt for the copy
//! it holds.

use std::{
    collections::{HashMap, HashSet},
    time::Duration,
};

use futures::{StreamExt, stream::FuturesUnordered};
use libp2p::PeerId;
use tern_proto::mailbox::{
    self,
    deposits::{self, DepositAnswer, Lane},
};
use tokio::sync::mpsc;
use tracing::debug;

use super::{Lease, MAILBOX_TIMEOUT, NetError, Reply};

/// How long a lane waits for another deposit before it closes its stream: less than the
/// relay's own idle limit, so that the client closes first.
const IDLE: Duration = Duration::from_secs(30);
/// Relays remembered as speaking only `/tern/mailbox/2`.
const MAX_OLD: usize = 256;

/// One deposit queued on a lane.
pub(super) struct Queued {
    pub(super) mailbox: [u8; 32],
    pub(super) envelope: Vec<u8>,
    pub(super) reply: Reply,
}

/// A deposit a lane hands back, to go by `/tern/mailbox/2`.
pub(super) struct Fallback {
    pub(super) peer: PeerId,
    pub(super) queued: Queued,
    /// The relay does not speak `/tern/deposit/1`.
    pub(super) unsupported: bool,
}

impl Queued {
    /// The `/tern/mailbox/2` request it goes by instead, and where its answer goes.
    pub(super) fn into_request(self) -> (mailbox::Request, Reply) {
        let Queued {
            mailbox,
            envelope,
            reply,
        } = self;
        (mailbox::Request::Deposit { mailbox, envelope }, reply)
    }
}

/// A client's lanes, by relay.
pub(super) struct Lanes {
    lanes: HashMap<PeerId, mpsc::Sender<Queued>>,
    /// Relays that answered the protocol's negotiation with "unsupported".
    old: HashSet<PeerId>,
    fallback: mpsc::Sender<Fallback>,
}

impl Lanes {
    pub(super) fn new(fallback: mpsc::Sender<Fallback>) -> Self {
        Self {
            lanes: HashMap::new(),
            old: HashSet::new(),
            fallback,
        }
    }

    /// Queues `queued` on `peer`'s lane, starting one if none runs; hands it back if the relay
    /// speaks only `/tern/mailbox/2`, or the lane is saturated.
    pub(super) fn deposit(
        &mut self,
        peer: PeerId,
        queued: Queued,
        control: &libp2p_stream::Control,
        lease: impl FnOnce() -> Lease,
    ) -> Result<(), Queued> {
        if self.old.contains(&peer) {
            return Err(queued);
        }
        self.lanes.retain(|_, lane| !lane.is_closed());
        let lane = self.lanes.entry(peer).or_insert_with(|| {
            let (queue, queued) = mpsc::channel(deposits::WINDOW);
            let run = run(
                peer,
                control.clone(),
                queued,
                self.fallback.clone(),
                lease(),
            );
            tokio::spawn(run);
            queue
        });
        lane.try_send(queued).map_err(|e| match e {
            mpsc::error::TrySendError::Full(q) | mpsc::error::TrySendError::Closed(q) => q,
        })
    }

    /// `peer` speaks only `/tern/mailbox/2`.
    pub(super) fn old(&mut self, peer: PeerId) {
        if self.old.len() >= MAX_OLD {
            self.old.clear();
        }
        self.old.insert(peer);
    }
}

/// One lane: opens the stream to `peer` and serves `queue` on it until it idles or breaks.
async fn run(
    peer: PeerId,
    mut control: libp2p_stream::Control,
    mut queue: mpsc::Receiver<Queued>,
    fallback: mpsc::Sender<Fallback>,
    _lease: Lease,
) {
    let opened = tokio::time::timeout(
        MAILBOX_TIMEOUT,
        control.open_stream(peer, deposits::PROTOCOL),
    )
    .await;
    let stream = match opened {
        Ok(Ok(stream)) => stream,
        Ok(Err(e)) => {
            let unsupported = matches!(e, libp2p_stream::OpenStreamError::UnsupportedProtocol(_));
            debug!(%peer, "no deposit stream: {e}");
            return hand_back(peer, queue, &fallback, unsupported).await;
        }
        Err(_) => return hand_back(peer, queue, &fallback, false).await,
    };
    let (lane, driver) = deposits::lane(stream);
    tokio::spawn(async move {
        if let Err(e) = driver.await {
            debug!(%peer, "deposit stream ended: {e}");
        }
    });
    let mut waiting = FuturesUnordered::new();
    loop {
        let idle = waiting.is_empty();
        tokio::select! {
            next = tokio::time::timeout(IDLE, queue.recv()), if !lane.is_closed() => match next {
                Ok(Some(queued)) => waiting.push(answer(lane.clone(), queued)),
                Ok(None) => break,
                Err(_) if idle => break,
                Err(_) => {}
            },
            Some(outcome) = waiting.next(), if !waiting.is_empty() => match outcome {
                Outcome::Answered => {}
                // The stream broke before the relay answered: deposit it again the other
                // way.
                Outcome::Unanswered(queued) => {
                    let _ = fallback
                        .send(Fallback { peer, queued, unsupported: false })
                        .await;
                }
                // A relay that stopped answering gets no more deposits on this stream.
                Outcome::TimedOut => break,
            },
            else => break,
        }
    }
    // Deposits queued from now on go to a new lane, or back by request-response.
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

/// How one deposit on a lane ended.
enum Outcome {
    /// Its caller has the relay's answer.
    Answered,
    /// The stream ended first: it goes again by request-response.
    Unanswered(Queued),
    /// The relay did not answer in time; the caller was told.
    TimedOut,
}

/// Deposits `queued` on `lane` and answers its caller; hands it back if the stream broke
/// first.
async fn answer(lane: Lane, queued: Queued) -> Outcome {
    let envelope = queued.envelope.clone();
    let answer = tokio::time::timeout(MAILBOX_TIMEOUT, lane.deposit(queued.mailbox, envelope));
    let (response, outcome) = match answer.await {
        Ok(Ok(DepositAnswer::Stored(receipt))) => {
            (Ok(mailbox::Response::Stored(receipt)), Outcome::Answered)
        }
        Ok(Ok(DepositAnswer::Refused(refusal))) => {
            (Ok(mailbox::Response::Refused(refusal)), Outcome::Answered)
        }
        Ok(Err(deposits::Closed)) => return Outcome::Unanswered(queued),
        Err(_) => (
            Err(NetError::Delivery("timed out".into())),
            Outcome::TimedOut,
        ),
    };
    let _ = queued.reply.send(response);
    outcome
}

/// Hands every deposit still queued back to go by `/tern/mailbox/2`, and ends the lane.
async fn hand_back(
    peer: PeerId,
    mut queue: mpsc::Receiver<Queued>,
    fallback: &mpsc::Sender<Fallback>,
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
