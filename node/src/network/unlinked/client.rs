//! One mailbox client: a client-only swarm under one identity, and the task that sends the
//! calls routed to it.
//!
//! Streams (collect, attachments, deposit lanes) are asked for only once the connection to
//! their relay is up. libp2p-stream loses a stream asked for between the moment a
//! connection's handler is made and the moment its behaviour hears of the connection: it
//! takes the peer for unconnected, asks for a dial the swarm refuses (a connection exists),
//! and the stream waits for a connection that never comes. On loaded cores a stream asked
//! for just as the connection came up hung until its timeout, a minute. The main swarm waits
//! the same way (`network/dial.rs`).

use std::{
    collections::HashMap,
    sync::Arc,
    time::{Duration, Instant},
};

use futures::StreamExt;
use libp2p::{
    PeerId, Swarm,
    identity::Keypair,
    relay,
    request_response::{self, OutboundRequestId, ProtocolSupport},
    swarm::{
        DialError, NetworkBehaviour, SwarmEvent,
        dial_opts::{DialOpts, PeerCondition},
    },
};
use tern_proto::mailbox::{
    self,
    deposits::{self, DepositAnswer, DepositFrame},
};
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

use super::{Call, IDLE_TIMEOUT, Job, Lease, Reply};
use crate::network::lanes::{self, Fallback, Lanes};
use crate::network::{MAILBOX_TIMEOUT, MAX_CONCURRENT_STREAMS, NetError};

#[derive(NetworkBehaviour)]
pub(super) struct ClientBehaviour {
    relay: relay::client::Behaviour,
    mailbox: request_response::Behaviour<mailbox::Codec>,
    streams: libp2p_stream::Behaviour,
}

pub(super) fn build(keypair: Keypair) -> Result<Swarm<ClientBehaviour>, NetError> {
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

/// What waits for a connection to its relay before it goes out.
enum Work {
    /// A deposit, for the relay's deposit stream.
    Deposit(Queued),
    /// A stream for the caller.
    Stream {
        protocol: libp2p::StreamProtocol,
        reply: oneshot::Sender<Result<(libp2p::Stream, Lease), NetError>>,
    },
}

impl Work {
    fn fail(self, error: NetError) {
        match self {
            Work::Deposit(queued) => <Deposits as lanes::Kind>::reply(queued, Err(error)),
            Work::Stream { reply, .. } => {
                let _ = reply.send(Err(error));
            }
        }
    }
}

/// One client: sends each queued call, answers it, and ends once its queue is closed,
/// nothing is in flight or waiting, and no stream it opened is in use (or at cancellation).
pub(super) async fn serve(
    swarm: Swarm<ClientBehaviour>,
    mut queue: mpsc::Receiver<Call>,
    cancel: CancellationToken,
) {
    let (fallback, mut fallbacks) = mpsc::channel(4 * deposits::WINDOW);
    let mut client = Client::new(swarm, fallback);
    let mut check = tokio::time::interval(Duration::from_secs(1));
    let mut open = true;
    while open || client.busy() || !fallbacks.is_empty() {
        tokio::select! {
            () = cancel.cancelled() => break,
            _ = check.tick() => client.expire(Instant::now()),
            Some(fallback) = fallbacks.recv() => client.fall_back(fallback),
            call = queue.recv(), if open => match call {
                Some(call) => client.take(call),
                None => open = false,
            },
            event = client.swarm.select_next_some() => client.on_event(event),
        }
    }
}

/// A client's swarm and what it has under way.
struct Client {
    swarm: Swarm<ClientBehaviour>,
    control: libp2p_stream::Control,
    /// Held by every stream and lane in use: the client runs while any is.
    leases: Arc<()>,
    lanes: Lanes<Deposits>,
    /// Requests sent, by id.
    calls: HashMap<OutboundRequestId, Reply>,
    /// Work for relays being dialled, and since when.
    waiting: HashMap<PeerId, Vec<(Instant, Work)>>,
}

impl Client {
    fn new(swarm: Swarm<ClientBehaviour>, fallback: mpsc::Sender<Fallback<Queued>>) -> Self {
        let control = swarm.behaviour().streams.new_control();
        Self {
            swarm,
            control,
            leases: Arc::new(()),
            lanes: Lanes::new(fallback),
            calls: HashMap::new(),
            waiting: HashMap::new(),
        }
    }

    /// Whether anything is in flight, waiting, or using the client's connections.
    fn busy(&self) -> bool {
        !self.calls.is_empty() || !self.waiting.is_empty() || Arc::strong_count(&self.leases) > 1
    }

    /// Sends `call`: deposits on the relay's deposit stream where it has one and streams,
    /// once connected; other requests at once (request-response dials by itself).
    fn take(&mut self, call: Call) {
        let Call {
            peer,
            addresses,
            job,
            ..
        } = call;
        for address in addresses {
            self.swarm.add_peer_address(peer, address);
        }
        match job {
            Job::Request {
                request: mailbox::Request::Deposit { mailbox, envelope },
                reply,
            } => {
                let queued = Queued {
                    mailbox,
                    envelope,
                    reply,
                };
                self.when_connected(peer, Work::Deposit(queued));
            }
            Job::Request { request, reply } => self.request(peer, request, reply),
            Job::Stream { protocol, reply } => {
                self.when_connected(peer, Work::Stream { protocol, reply });
            }
        }
    }

    /// Does `work` now if connected to `peer`, else once connected.
    fn when_connected(&mut self, peer: PeerId, work: Work) {
        if self.swarm.is_connected(&peer) {
            return self.start(peer, work);
        }
        let dial = DialOpts::peer_id(peer)
            .condition(PeerCondition::DisconnectedAndNotDialing)
            .build();
        match self.swarm.dial(dial) {
            // A dial under way answers for this one too.
            Ok(()) | Err(DialError::DialPeerConditionFalse(_)) => {
                self.waiting
                    .entry(peer)
                    .or_default()
                    .push((Instant::now(), work));
            }
            Err(e) => work.fail(NetError::Delivery(e.to_string())),
        }
    }

    /// Does `work`; the connection to `peer` is up.
    fn start(&mut self, peer: PeerId, work: Work) {
        match work {
            Work::Deposit(queued) => {
                let leases = &self.leases;
                let lease = || Lease(leases.clone());
                if let Err(queued) = self.lanes.send(peer, queued, &self.control, lease) {
                    let (request, reply) = queued.into_request();
                    self.request(peer, request, reply);
                }
            }
            Work::Stream { protocol, reply } => {
                let (mut control, lease) = (self.control.clone(), Lease(self.leases.clone()));
                tokio::spawn(async move {
                    let opened =
                        tokio::time::timeout(MAILBOX_TIMEOUT, control.open_stream(peer, protocol))
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

    fn request(&mut self, peer: PeerId, request: mailbox::Request, reply: Reply) {
        let id = self
            .swarm
            .behaviour_mut()
            .mailbox
            .send_request(&peer, request);
        self.calls.insert(id, reply);
    }

    /// A deposit a lane handed back goes by request-response.
    fn fall_back(&mut self, fallback: Fallback<Queued>) {
        if fallback.unsupported {
            self.lanes.old(fallback.peer);
        }
        let (request, reply) = fallback.queued.into_request();
        self.request(fallback.peer, request, reply);
    }

    /// Work that waited longer than [`MAILBOX_TIMEOUT`] for its connection fails.
    fn expire(&mut self, now: Instant) {
        for works in self.waiting.values_mut() {
            let (late, on_time) = std::mem::take(works)
                .into_iter()
                .partition(|(since, _)| now.duration_since(*since) >= MAILBOX_TIMEOUT);
            *works = on_time;
            for (_, work) in late {
                work.fail(NetError::Delivery("timed out".into()));
            }
        }
        self.waiting.retain(|_, works| !works.is_empty());
    }

    fn on_event(&mut self, event: SwarmEvent<ClientBehaviourEvent>) {
        match event {
            SwarmEvent::Behaviour(ClientBehaviourEvent::Mailbox(
                request_response::Event::Message {
                    message:
                        request_response::Message::Response {
                            request_id,
                            response,
                        },
                    ..
                },
            )) => {
                if let Some(reply) = self.calls.remove(&request_id) {
                    let _ = reply.send(Ok(response));
                }
            }
            SwarmEvent::Behaviour(ClientBehaviourEvent::Mailbox(
                request_response::Event::OutboundFailure {
                    request_id, error, ..
                },
            )) => {
                if let Some(reply) = self.calls.remove(&request_id) {
                    let _ = reply.send(Err(NetError::Delivery(error.to_string())));
                }
            }
            // The stream behaviour has seen the connection by now.
            SwarmEvent::ConnectionEstablished { peer_id, .. } => {
                for (_, work) in self.waiting.remove(&peer_id).unwrap_or_default() {
                    self.start(peer_id, work);
                }
            }
            SwarmEvent::OutgoingConnectionError {
                peer_id: Some(peer),
                error,
                ..
            } if !self.swarm.is_connected(&peer) => {
                for (_, work) in self.waiting.remove(&peer).unwrap_or_default() {
                    work.fail(NetError::Delivery(error.to_string()));
                }
            }
            _ => {}
        }
    }
}
