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

mod client;

use std::{
    collections::HashMap,
    sync::Arc,
    time::{Duration, Instant},
};

use libp2p::{Multiaddr, PeerId, Stream, identity::Keypair};
use tern_proto::mailbox;
use tokio::{
    sync::{mpsc, oneshot},
    task::JoinSet,
};
use tokio_util::sync::CancellationToken;
use tracing::debug;

use super::NetError;

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
pub(super) const IDLE_TIMEOUT: Duration = super::IDLE_TIMEOUT;

/// Which identity a mailbox request goes out under.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Persona {
    /// Anyone's mailbox: deposits, prekey takes, probes.
    Anonymous,
    /// Our own mailbox at this relay.
    Owner,
}

pub(super) type Reply = oneshot::Sender<Result<mailbox::Response, NetError>>;

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
        let swarm = match client::build(keypair) {
            Ok(swarm) => swarm,
            Err(e) => {
                debug!("mailbox client failed to start: {e}");
                return None;
            }
        };
        let (calls, queue) = mpsc::channel(CALL_CAPACITY);
        self.tasks
            .spawn(client::serve(swarm, queue, self.cancel.child_token()));
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

#[cfg(test)]
mod tests {
    use futures::StreamExt;
    use libp2p::{
        request_response::{self, ProtocolSupport},
        swarm::SwarmEvent,
    };

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

    /// A swarm running `behaviour`, listening on loopback TCP, and its address.
    async fn listening<B: libp2p::swarm::NetworkBehaviour>(
        behaviour: B,
    ) -> (libp2p::Swarm<B>, Multiaddr) {
        let mut swarm =
            tern_proto::swarm::build(Keypair::generate_ed25519(), IDLE_TIMEOUT, |_| Ok(behaviour))
                .unwrap();
        swarm
            .listen_on("/ip4/127.0.0.1/tcp/0".parse().unwrap())
            .unwrap();
        loop {
            if let SwarmEvent::NewListenAddr { address, .. } = swarm.select_next_some().await {
                return (swarm, address);
            }
        }
    }

    /// A relay of the time before deposit streams: `/tern/mailbox/2` only, answering every
    /// deposit with `QuotaExceeded` (an answer only request-response could have carried).
    async fn old_relay() -> (PeerId, Multiaddr, tokio::task::JoinHandle<()>) {
        let (mut swarm, address) = listening(request_response::Behaviour::<mailbox::Codec>::new(
            [(mailbox::PROTOCOL, ProtocolSupport::Inbound)],
            request_response::Config::default(),
        ))
        .await;
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

    /// A relay that speaks only `/tern/collect/2`, counting the streams opened to it.
    async fn stream_relay() -> (PeerId, Multiaddr, mpsc::Receiver<()>) {
        // Accepted through a queue, as relays do: libp2p-stream's own acceptor drops a stream
        // that arrives while one waits.
        let (mut swarm, address) = listening(tern_proto::accept::Behaviour::new()).await;
        let mut incoming = swarm
            .behaviour()
            .accept(mailbox::collect::PROTOCOL)
            .unwrap();
        let peer = *swarm.local_peer_id();
        let (opened, streams) = mpsc::channel(64);
        tokio::spawn(async move {
            let mut held = Vec::new();
            loop {
                tokio::select! {
                    _ = swarm.select_next_some() => {}
                    Some((_, stream)) = incoming.next() => {
                        held.push(stream);
                        if opened.send(()).await.is_err() {
                            break;
                        }
                    }
                }
            }
        });
        (peer, address, streams)
    }

    /// Where the answer to a stream call comes.
    type Opened = oneshot::Receiver<Result<(Stream, Lease), NetError>>;

    /// A call for a `/tern/collect/2` stream to `peer` at `address`.
    fn stream_call(peer: PeerId, address: Multiaddr) -> (Call, Opened) {
        let (reply, answer) = oneshot::channel();
        let call = Call {
            persona: Persona::Owner,
            peer,
            addresses: vec![address],
            job: Job::Stream {
                protocol: mailbox::collect::PROTOCOL,
                reply,
            },
        };
        (call, answer)
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn streams_asked_for_while_the_relay_is_dialled_open_once_it_is_connected() {
        let (relay, address, mut opened) = stream_relay().await;
        let mut unlinked = Unlinked::new(CancellationToken::new());
        // All asked for at once: the first dials, the rest wait for that connection.
        let answers: Vec<_> = (0..8)
            .map(|_| {
                let (call, answer) = stream_call(relay, address.clone());
                assert_eq!(unlinked.route(call, Instant::now()), Route::Sent);
                answer
            })
            .collect();
        let mut streams = Vec::new();
        for answer in answers {
            let answer = tokio::time::timeout(Duration::from_secs(60), answer)
                .await
                .expect("an answer")
                .expect("a reply");
            streams.push(answer.expect("a stream"));
        }
        for _ in 0..8 {
            tokio::time::timeout(Duration::from_secs(60), opened.recv())
                .await
                .expect("the relay saw every stream");
        }
        // Asked for on the connection that is up, a stream opens without a new dial.
        let (call, answer) = stream_call(relay, address);
        unlinked.route(call, Instant::now());
        let answer = tokio::time::timeout(Duration::from_secs(60), answer).await;
        assert!(matches!(answer, Ok(Ok(Ok(_)))), "{answer:?}");
    }

    #[tokio::test]
    async fn a_stream_to_a_relay_that_cannot_be_reached_fails_with_the_dial() {
        let mut unlinked = Unlinked::new(CancellationToken::new());
        // Nothing listens there: the dial fails, and says so, well before the stream's own
        // time limit.
        let (call, answer) = stream_call(PeerId::random(), "/ip4/127.0.0.1/tcp/1".parse().unwrap());
        unlinked.route(call, Instant::now());
        let answer = tokio::time::timeout(crate::network::MAILBOX_TIMEOUT / 2, answer)
            .await
            .expect("the dial's failure, before the time limit")
            .expect("a reply");
        assert!(matches!(answer, Err(NetError::Delivery(_))), "{answer:?}");
    }
}
