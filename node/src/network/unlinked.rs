//! Mailbox requests under connection identities that appear in no record.
//!
//! The node's own libp2p identity (its device key) is in its DHT record and device
//! certificate, and every relay is a DHT server that reads those records. A deposit sent on
//! the main swarm would therefore tell the recipient's relay who sent it. So the main swarm
//! does not speak `/tern/mailbox/2` at all: every mailbox request goes out on a small
//! client-only swarm of its own (TCP or QUIC, Noise, Yamux, the circuit-relay transport and
//! the mailbox protocol; no Kademlia, no identify, no listening), under a fresh random
//! Ed25519 key that is written nowhere:
//!
//! - [`Persona::Anonymous`]: deposits, one-time prekey takes and relay probes, for anyone's
//!   mailbox. One identity serves them all for [`ROTATE_AFTER`], then a new one takes over
//!   (the old one finishes its requests in flight and closes); a restart also starts a new
//!   one.
//! - [`Persona::Owner`]: challenges, fetches, acknowledgements, prekey uploads and collect
//!   streams for our own mailbox, one identity per relay for the life of the process. The
//!   owner proof names our account to that relay anyway; a separate identity keeps that
//!   relay from linking our deposits (to anyone) to us, and keeps one relay's view apart from
//!   another's.
//!
//! What stays linkable is written in `docs/threat-model.md`: the IP address and timing, and
//! a sender's deposits to each other within one rotation period.
//!
//! The same identities carry streams with relays ([`Job::Stream`]): our own mail is collected
//! on a `/tern/collect/2` stream under the owner identity, and attachment transfers
//! (`/tern/blob/1`) go out anonymously, like the deposit of the message that names them. A client whose identity has been retired lives on
//! while a stream it opened is in use ([`Lease`]).
//!
//! The main loop routes each call ([`Unlinked::route`]). A call without addresses (a relay
//! found in the DHT) waits until the main swarm has connected to the relay and learnt where
//! it listens: the main swarm only dials it, the request itself never goes there.

use std::{
    collections::HashMap,
    sync::Arc,
    time::{Duration, Instant},
};

use futures::StreamExt;
use libp2p::{
    Multiaddr, PeerId, Stream, Swarm,
    identity::Keypair,
    relay,
    request_response::{self, OutboundRequestId, ProtocolSupport},
    swarm::{
        NetworkBehaviour, SwarmEvent,
        dial_opts::{DialOpts, PeerCondition},
    },
};
use tern_proto::mailbox::{
    self,
    deposits::{self, DepositAnswer, DepositFrame},
};
use tokio::{
    sync::{mpsc, oneshot},
    task::JoinSet,
};
use tokio_util::sync::CancellationToken;
use tracing::debug;

use super::lanes::{self, Lanes};
use super::{MAILBOX_TIMEOUT, MAX_CONCURRENT_STREAMS, NetError};

/// How long one anonymous identity serves deposits and prekey takes before a new one takes
/// over. Within this time a relay can tell that the same (unnamed) sender wrote to several of
/// its mailboxes; a new identity costs one TCP and Noise handshake per relay (about a
/// millisecond on a LAN, a round trip or two further away). Ten minutes covers a
/// conversation's burst on one connection without one identity outliving it by much.
pub(super) const ROTATE_AFTER: Duration = Duration::from_secs(600);
/// Relays we keep an owner identity for: ours (three) and the ones discovery tries and
/// replaces, with room to spare; beyond it the oldest is dropped (a later call makes a new
/// one).
const MAX_OWNERS: usize = 16;
/// Calls queued to one client. The caller waits for each answer, so this only bounds a
/// burst; beyond it a call fails at once rather than grow a queue.
const CALL_CAPACITY: usize = 256;
/// Calls waiting for the main swarm to learn a relay's address, in total.
const MAX_AWAITING: usize = 64;
/// How long a client keeps an idle connection to a relay: as the main swarm.
const IDLE_TIMEOUT: Duration = super::IDLE_TIMEOUT;

/// Which identity a mailbox request goes out under.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Persona {
    /// Anyone's mailbox: deposits, prekey takes, probes.
    Anonymous,
    /// Our own mailbox at this relay.
    Owner,
}

type Reply = oneshot::Sender<Result<mailbox::Response, NetError>>;

/// Deposits at relays on `/tern/deposit/1`, through [`lanes`].
struct Deposits;

/// One deposit queued on a lane.
struct Queued {
    mailbox: [u8; 32],
    envelope: Vec<u8>,
    reply: Reply,
}

impl Queued {
    /// The `/tern/mailbox/2` request it goes by instead, and where its answer goes.
    fn into_request(self) -> (mailbox::Request, Reply) {
        let Queued {
            mailbox,
            envelope,
            reply,
        } = self;
        (mailbox::Request::Deposit { mailbox, envelope }, reply)
    }
}

impl lanes::Kind for Deposits {
    type Queued = Queued;
    type Answer = DepositAnswer;
    const PROTOCOL: libp2p::StreamProtocol = deposits::PROTOCOL;
    const WINDOW: usize = deposits::WINDOW;
    const TIMEOUT: Duration = MAILBOX_TIMEOUT;

    fn frame(queued: &Queued) -> Option<Vec<u8>> {
        let frame = DepositFrame {
            mailbox: queued.mailbox,
            envelope: queued.envelope.clone(),
        };
        let mut out = Vec::with_capacity(queued.envelope.len() + 48);
        deposits::put_frame(&mut out, &frame, mailbox::MAX_REQUEST_LEN).ok()?;
        Some(out)
    }

    fn reply(queued: Queued, answer: Result<DepositAnswer, NetError>) {
        let _ = queued.reply.send(answer.map(|answer| match answer {
            DepositAnswer::Stored(receipt) => mailbox::Response::Stored(receipt),
            DepositAnswer::Refused(refusal) => mailbox::Response::Refused(refusal),
        }));
    }
}

/// Keeps the client that opened a stream running while the stream is in use (its swarm
/// carries the stream).
#[derive(Debug)]
pub(crate) struct Lease(#[allow(dead_code)] Arc<()>);

/// What a call asks of a relay.
#[derive(Debug)]
pub(crate) enum Job {
    /// One `/tern/mailbox/2` request.
    Request {
        request: mailbox::Request,
        reply: Reply,
    },
    /// A stream of `protocol` (`/tern/blob/1`, `/tern/collect/2`).
    Stream {
        protocol: libp2p::StreamProtocol,
        reply: oneshot::Sender<Result<(Stream, Lease), NetError>>,
    },
}

impl Job {
    /// Answers the call with an error.
    fn fail(self, error: NetError) {
        match self {
            Job::Request { reply, .. } => {
                let _ = reply.send(Err(error));
            }
            Job::Stream { reply, .. } => {
                let _ = reply.send(Err(error));
            }
        }
    }
}

/// One call to a relay and where its answer goes.
pub(super) struct Call {
    pub(super) persona: Persona,
    pub(super) peer: PeerId,
    pub(super) addresses: Vec<Multiaddr>,
    pub(super) job: Job,
}

/// A client task's queue, its identity, and when that was made.
struct Client {
    calls: mpsc::Sender<Call>,
    peer_id: PeerId,
    born: Instant,
}

/// The mailbox clients the main loop routes calls to.
pub(super) struct Unlinked {
    anonymous: Option<Client>,
    owners: HashMap<PeerId, Client>,
    /// Calls for relays whose address the main swarm is finding out.
    awaiting: HashMap<PeerId, Vec<Call>>,
    tasks: JoinSet<()>,
    cancel: CancellationToken,
}

impl Unlinked {
    pub(super) fn new(cancel: CancellationToken) -> Self {
        Self {
            anonymous: None,
            owners: HashMap::new(),
            awaiting: HashMap::new(),
            tasks: JoinSet::new(),
            cancel,
        }
    }

    /// Sends `call` on the client of its persona at `now`, making one if needed. A call
    /// without addresses is held until [`Unlinked::found`]; the answer says whether the main
    /// swarm should dial the relay to find it.
    pub(super) fn route(&mut self, call: Call, now: Instant) -> Route {
        if call.addresses.is_empty() {
            let waiting: usize = self.awaiting.values().map(Vec::len).sum();
            if waiting >= MAX_AWAITING {
                call.job
                    .fail(NetError::Delivery("too many relays being looked up".into()));
                return Route::Sent;
            }
            let first = !self.awaiting.contains_key(&call.peer);
            let peer = call.peer;
            self.awaiting.entry(peer).or_default().push(call);
            return if first {
                Route::Dial(peer)
            } else {
                Route::Sent
            };
        }
        while self.tasks.try_join_next().is_some() {}
        let fresh = |client: &Client| !client.calls.is_closed();
        let client = match call.persona {
            Persona::Anonymous => {
                if self
                    .anonymous
                    .as_ref()
                    .is_none_or(|c| !fresh(c) || now.duration_since(c.born) >= ROTATE_AFTER)
                {
                    // Dropping the old queue lets its task finish what is in flight and end.
                    if let Some(old) = self.anonymous.take() {
                        debug!(peer_id = %old.peer_id, "retiring an anonymous mailbox identity");
                    }
                    self.anonymous = self.spawn_client(now);
                }
                self.anonymous.as_ref()
            }
            Persona::Owner => {
                if self.owners.get(&call.peer).is_none_or(|c| !fresh(c)) {
                    if self.owners.len() >= MAX_OWNERS
                        && let Some(oldest) = self
                            .owners
                            .iter()
                            .min_by_key(|(_, c)| c.born)
                            .map(|(peer, _)| *peer)
                    {
                        self.owners.remove(&oldest);
                    }
                    if let Some(client) = self.spawn_client(now) {
                        self.owners.insert(call.peer, client);
                    }
                }
                self.owners.get(&call.peer)
            }
        };
        let Some(client) = client else {
            call.job
                .fail(NetError::Transport("no mailbox client".into()));
            return Route::Sent;
        };
        if let Err(e) = client.calls.try_send(call) {
            let (reason, call) = match e {
                mpsc::error::TrySendError::Full(call) => ("mailbox client saturated", call),
                mpsc::error::TrySendError::Closed(call) => ("mailbox client stopped", call),
            };
            call.job.fail(NetError::Delivery(reason.into()));
        }
        Route::Sent
    }

    /// The main swarm learnt where `peer` can be dialled: the calls held for it go out.
    pub(super) fn found(&mut self, peer: PeerId, addresses: &[Multiaddr], now: Instant) {
        if addresses.is_empty() {
            return;
        }
        for mut call in self.awaiting.remove(&peer).unwrap_or_default() {
            call.addresses = addresses.to_vec();
            self.route(call, now);
        }
    }

    /// The main swarm could not reach `peer`: the calls held for it fail.
    pub(super) fn unreachable(&mut self, peer: PeerId, why: &str) {
        for call in self.awaiting.remove(&peer).unwrap_or_default() {
            call.job.fail(NetError::Delivery(why.to_owned()));
        }
    }

    /// A client on a new identity, or `None` if its swarm could not be built.
    fn spawn_client(&mut self, now: Instant) -> Option<Client> {
        let keypair = Keypair::generate_ed25519();
        let peer_id = keypair.public().to_peer_id();
        let swarm = match build_client(keypair) {
            Ok(swarm) => swarm,
            Err(e) => {
                debug!("mailbox client failed to start: {e}");
                return None;
            }
        };
        let (calls, queue) = mpsc::channel(CALL_CAPACITY);
        self.tasks
            .spawn(serve(swarm, queue, self.cancel.child_token()));
        debug!(%peer_id, "new mailbox identity");
        Some(Client {
            calls,
            peer_id,
            born: now,
        })
    }

    /// The identity a call of `persona` (to `relay`, for an owner) went out under last.
    #[cfg(test)]
    fn identity(&self, persona: Persona, relay: PeerId) -> Option<PeerId> {
        match persona {
            Persona::Anonymous => self.anonymous.as_ref(),
            Persona::Owner => self.owners.get(&relay),
        }
        .map(|c| c.peer_id)
    }
}

/// What [`Unlinked::route`] asks of the main loop.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Route {
    /// Nothing more.
    Sent,
    /// Dial this relay on the main swarm to learn its address.
    Dial(PeerId),
}

#[derive(NetworkBehaviour)]
struct ClientBehaviour {
    relay: relay::client::Behaviour,
    mailbox: request_response::Behaviour<mailbox::Codec>,
    streams: libp2p_stream::Behaviour,
}

fn build_client(keypair: Keypair) -> Result<Swarm<ClientBehaviour>, NetError> {
    tern_proto::swarm::build_with_relay_client(keypair, IDLE_TIMEOUT, |_, relay| {
        Ok(ClientBehaviour {
            relay,
            mailbox: request_response::Behaviour::new(
                [(mailbox::PROTOCOL, ProtocolSupport::Outbound)],
                request_response::Config::default()
                    .with_request_timeout(MAILBOX_TIMEOUT)
                    .with_max_concurrent_streams(MAX_CONCURRENT_STREAMS),
            ),
            streams: libp2p_stream::Behaviour::new(),
        })
    })
    .map_err(|e| NetError::Transport(e.to_string()))
}

/// One client: sends each queued call, answers it, and ends once its queue is closed,
/// nothing is in flight and no stream it opened is in use (or at cancellation).
async fn serve(
    mut swarm: Swarm<ClientBehaviour>,
    mut queue: mpsc::Receiver<Call>,
    cancel: CancellationToken,
) {
    let mut calls: HashMap<OutboundRequestId, Reply> = HashMap::new();
    let control = swarm.behaviour().streams.new_control();
    let leases = Arc::new(());
    let (fallback, mut fallbacks) = mpsc::channel(4 * deposits::WINDOW);
    let mut lanes = Lanes::<Deposits>::new(fallback);
    let mut check = tokio::time::interval(Duration::from_secs(1));
    let mut open = true;
    while open || !calls.is_empty() || Arc::strong_count(&leases) > 1 || !fallbacks.is_empty() {
        tokio::select! {
            () = cancel.cancelled() => break,
            _ = check.tick() => {}
            Some(fallback) = fallbacks.recv() => {
                if fallback.unsupported {
                    lanes.old(fallback.peer);
                }
                let (request, reply) = fallback.queued.into_request();
                let id = swarm.behaviour_mut().mailbox.send_request(&fallback.peer, request);
                calls.insert(id, reply);
            }
            call = queue.recv(), if open => match call {
                Some(call) => {
                    for address in call.addresses {
                        swarm.add_peer_address(call.peer, address);
                    }
                    let job = match call.job {
                        // Deposits go on the relay's deposit stream where it has one.
                        Job::Request {
                            request: mailbox::Request::Deposit { mailbox, envelope },
                            reply,
                        } => {
                            dial(&mut swarm, call.peer);
                            let queued = Queued { mailbox, envelope, reply };
                            let lease = || Lease(leases.clone());
                            match lanes.send(call.peer, queued, &control, lease) {
                                Ok(()) => continue,
                                Err(queued) => {
                                    let (request, reply) = queued.into_request();
                                    Job::Request { request, reply }
                                }
                            }
                        }
                        job => job,
                    };
                    match job {
                        Job::Request { request, reply } => {
                            let id = swarm
                                .behaviour_mut()
                                .mailbox
                                .send_request(&call.peer, request);
                            calls.insert(id, reply);
                        }
                        Job::Stream { protocol, reply } => {
                            let peer = call.peer;
                            dial(&mut swarm, peer);
                            let (mut control, lease) = (control.clone(), Lease(leases.clone()));
                            tokio::spawn(async move {
                                let opened = tokio::time::timeout(
                                    MAILBOX_TIMEOUT,
                                    control.open_stream(peer, protocol),
                                )
                                .await;
                                let _ = reply.send(match opened {
                                    Ok(Ok(stream)) => Ok((stream, lease)),
                                    Ok(Err(libp2p_stream::OpenStreamError::UnsupportedProtocol(_))) => {
                                        Err(NetError::Unsupported)
                                    }
                                    Ok(Err(e)) => Err(NetError::Delivery(e.to_string())),
                                    Err(_) => Err(NetError::Delivery("timed out".into())),
                                });
                            });
                        }
                    }
                }
                None => open = false,
            },
            event = swarm.select_next_some() => match event {
                SwarmEvent::Behaviour(ClientBehaviourEvent::Mailbox(
                    request_response::Event::Message {
                        message: request_response::Message::Response { request_id, response },
                        ..
                    },
                )) => {
                    if let Some(reply) = calls.remove(&request_id) {
                        let _ = reply.send(Ok(response));
                    }
                }
                SwarmEvent::Behaviour(ClientBehaviourEvent::Mailbox(
                    request_response::Event::OutboundFailure { request_id, error, .. },
                )) => {
                    if let Some(reply) = calls.remove(&request_id) {
                        let _ = reply.send(Err(NetError::Delivery(error.to_string())));
                    }
                }
                _ => {}
            },
        }
    }
}

/// Dials `peer` unless connected or dialling. A stream is opened after this: libp2p-stream
/// asks for a dial through a channel of one place and drops the request when it is taken, so
/// a second stream opened at once to another peer could wait forever.
fn dial(swarm: &mut Swarm<ClientBehaviour>, peer: PeerId) {
    if !swarm.is_connected(&peer) {
        let dial = DialOpts::peer_id(peer)
            .condition(PeerCondition::DisconnectedAndNotDialing)
            .build();
        let _ = swarm.dial(dial);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A call to `relay` at a loopback port nothing listens on: it fails, which is all these
    /// tests need of it.
    fn call(
        persona: Persona,
        relay: PeerId,
    ) -> (Call, oneshot::Receiver<Result<mailbox::Response, NetError>>) {
        let (reply, answer) = oneshot::channel();
        let call = Call {
            persona,
            peer: relay,
            addresses: vec!["/ip4/127.0.0.1/tcp/1".parse().unwrap()],
            job: Job::Request {
                request: mailbox::Request::Challenge,
                reply,
            },
        };
        (call, answer)
    }

    #[tokio::test]
    async fn deposits_share_an_identity_until_it_rotates_and_owners_get_their_own() {
        let mut unlinked = Unlinked::new(CancellationToken::new());
        let (r1, r2) = (PeerId::random(), PeerId::random());
        let t0 = Instant::now();
        let mut answers = Vec::new();
        for (persona, relay, at) in [
            (Persona::Anonymous, r1, t0),
            (Persona::Anonymous, r2, t0 + ROTATE_AFTER / 2),
            (Persona::Owner, r1, t0),
            (Persona::Owner, r2, t0),
        ] {
            let (call, answer) = call(persona, relay);
            assert_eq!(unlinked.route(call, at), Route::Sent);
            answers.push(answer);
        }
        let anonymous = unlinked.identity(Persona::Anonymous, r1).unwrap();
        let own1 = unlinked.identity(Persona::Owner, r1).unwrap();
        let own2 = unlinked.identity(Persona::Owner, r2).unwrap();
        let all = [anonymous, own1, own2];
        for (i, a) in all.iter().enumerate() {
            for b in &all[i + 1..] {
                assert_ne!(a, b, "identities are never shared between roles or relays");
            }
        }

        // Past the rotation period, a new anonymous identity; the owners' stay.
        let (next, answer) = call(Persona::Anonymous, r1);
        unlinked.route(next, t0 + ROTATE_AFTER);
        answers.push(answer);
        let rotated = unlinked.identity(Persona::Anonymous, r1).unwrap();
        assert_ne!(rotated, anonymous);
        assert!(!all.contains(&rotated));
        let (again, answer) = call(Persona::Owner, r1);
        unlinked.route(again, t0 + ROTATE_AFTER);
        answers.push(answer);
        assert_eq!(unlinked.identity(Persona::Owner, r1), Some(own1));

        // Every call is answered (here: refused, nothing listens), by the old clients too.
        for answer in answers {
            let answer = tokio::time::timeout(Duration::from_secs(60), answer).await;
            assert!(matches!(answer, Ok(Ok(Err(_)))), "{answer:?}");
        }
    }

    #[tokio::test]
    async fn a_call_without_an_address_waits_for_one_and_fails_with_its_relay() {
        let mut unlinked = Unlinked::new(CancellationToken::new());
        let relay = PeerId::random();
        let now = Instant::now();
        let (mut first, answer) = call(Persona::Anonymous, relay);
        first.addresses.clear();
        assert_eq!(unlinked.route(first, now), Route::Dial(relay));
        let (mut second, second_answer) = call(Persona::Anonymous, relay);
        second.addresses.clear();
        assert_eq!(
            unlinked.route(second, now),
            Route::Sent,
            "one dial per relay"
        );
        assert!(
            unlinked.identity(Persona::Anonymous, relay).is_none(),
            "nothing sent yet"
        );
        unlinked.unreachable(relay, "no route");
        for answer in [answer, second_answer] {
            assert!(matches!(answer.await, Ok(Err(NetError::Delivery(_)))));
        }
        // Bounded: beyond MAX_AWAITING calls fail at once.
        let mut answers = Vec::new();
        for _ in 0..MAX_AWAITING {
            let (mut held, answer) = call(Persona::Anonymous, PeerId::random());
            held.addresses.clear();
            unlinked.route(held, now);
            answers.push(answer);
        }
        let (mut over, mut answer) = call(Persona::Anonymous, relay);
        over.addresses.clear();
        assert_eq!(unlinked.route(over, now), Route::Sent);
        assert!(matches!(answer.try_recv(), Ok(Err(NetError::Delivery(_)))));
    }

    /// A relay of the time before deposit streams: `/tern/mailbox/2` only, answering every
    /// deposit with `QuotaExceeded` (an answer only request-response could have carried).
    async fn old_relay() -> (PeerId, Multiaddr, tokio::task::JoinHandle<()>) {
        let mut swarm = tern_proto::swarm::build(Keypair::generate_ed25519(), IDLE_TIMEOUT, |_| {
            Ok(request_response::Behaviour::<mailbox::Codec>::new(
                [(mailbox::PROTOCOL, ProtocolSupport::Inbound)],
                request_response::Config::default(),
            ))
        })
        .unwrap();
        swarm
            .listen_on("/ip4/127.0.0.1/tcp/0".parse().unwrap())
            .unwrap();
        let address = loop {
            if let SwarmEvent::NewListenAddr { address, .. } = swarm.select_next_some().await {
                break address;
            }
        };
        let peer = *swarm.local_peer_id();
        let task = tokio::spawn(async move {
            loop {
                if let SwarmEvent::Behaviour(request_response::Event::Message {
                    message: request_response::Message::Request { channel, .. },
                    ..
                }) = swarm.select_next_some().await
                {
                    let refusal = mailbox::Response::Refused(mailbox::Refusal::QuotaExceeded);
                    let _ = swarm.behaviour_mut().send_response(channel, refusal);
                }
            }
        });
        (peer, address, task)
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn deposits_at_a_relay_without_deposit_streams_go_by_request_response() {
        let (relay, address, task) = old_relay().await;
        let mut unlinked = Unlinked::new(CancellationToken::new());
        for round in 0..3u8 {
            let mut answers = Vec::new();
            for i in 0..4u8 {
                let (reply, answer) = oneshot::channel();
                let call = Call {
                    persona: Persona::Anonymous,
                    peer: relay,
                    addresses: vec![address.clone()],
                    job: Job::Request {
                        request: mailbox::Request::Deposit {
                            mailbox: [7; 32],
                            envelope: vec![round, i],
                        },
                        reply,
                    },
                };
                assert_eq!(unlinked.route(call, Instant::now()), Route::Sent);
                answers.push(answer);
            }
            for answer in answers {
                let answer = tokio::time::timeout(Duration::from_secs(60), answer)
                    .await
                    .expect("an answer")
                    .expect("a reply");
                assert!(
                    matches!(
                        answer,
                        Ok(mailbox::Response::Refused(mailbox::Refusal::QuotaExceeded))
                    ),
                    "{answer:?}"
                );
            }
        }
        task.abort();
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_stream_a_relay_does_not_speak_is_refused_as_unsupported() {
        // The collector falls back to `/tern/mailbox/2` on exactly this error.
        let (relay, address, task) = old_relay().await;
        let mut unlinked = Unlinked::new(CancellationToken::new());
        let (reply, answer) = oneshot::channel();
        let call = Call {
            persona: Persona::Owner,
            peer: relay,
            addresses: vec![address],
            job: Job::Stream {
                protocol: mailbox::collect::PROTOCOL,
                reply,
            },
        };
        assert_eq!(unlinked.route(call, Instant::now()), Route::Sent);
        let answer = tokio::time::timeout(Duration::from_secs(60), answer)
            .await
            .expect("an answer")
            .expect("a reply");
        assert!(matches!(answer, Err(NetError::Unsupported)), "{answer:?}");
        task.abort();
    }
}
