//! Networking: the libp2p swarm, owned by one task, and the protocols Tern speaks on it.
//!
//! One task ([`EventLoop`]) owns the [`Swarm`]. Everything else talks to it through a
//! [`Handle`]: a bounded channel of [`Command`]s, each carrying a `oneshot` for its answer.
//! The loop keeps the pending queries and requests in maps keyed by libp2p's ids and
//! `select!`s over swarm events, commands, pending inbound answers and a cancellation token.
//!
//! Inbound deliveries go the other way, through a bounded channel of [`Inbound`]s to the
//! message pipeline, which answers each with a [`Status`] once the message is durable. When
//! that channel is full the loop answers [`Status::Busy`] itself: backpressure reaches the
//! sender instead of growing a queue.
//!
//! Mailbox requests never go out on this swarm, whose identity is in our DHT record: they go
//! out under identities that appear in no record ([`unlinked`]).

use std::{
    collections::{HashMap, HashSet},
    sync::Arc,
    time::{Duration, Instant},
};

use futures::{FutureExt, StreamExt, stream::FuturesUnordered};
use libp2p::{
    Multiaddr, PeerId, Swarm, autonat, connection_limits, dcutr, identify,
    identity::Keypair,
    kad::{
        self, GetRecordOk, InboundRequest, QueryId, QueryResult, Quorum, RecordKey,
        store::RecordStore,
    },
    mdns, memory_connection_limits, ping, relay,
    request_response::{self, OutboundRequestId, ProtocolSupport, ResponseChannel},
    swarm::{
        NetworkBehaviour, SwarmEvent,
        behaviour::toggle::Toggle,
        dial_opts::{DialOpts, PeerCondition},
    },
};
use tern_proto::{
    dht, mailbox,
    msg::{self as codec, Delivery},
    rate::Rate,
    record::{self, PeerRecord, RecordError},
};
use tokio::sync::{mpsc, oneshot, watch};
use tokio_util::sync::CancellationToken;
use tracing::{debug, info};

use tern_crypto::UserId;
mod behaviour;
mod deliver;
mod dial;
mod handle;
mod lanes;
pub(crate) use self::handle::Handle;
mod nat;
pub(crate) mod records;
mod unlinked;

use self::{
    behaviour::{Behaviour, BehaviourEvent, build_swarm},
    unlinked::{Call, Job, Persona, Route, Unlinked},
};

pub(crate) use tern_proto::msg::Status;

pub(crate) use self::records::Found;
pub(crate) use self::unlinked::Lease;

/// Capacity of the command channel. Commands are small and answered quickly; a full channel
/// means the loop is saturated and callers should wait rather than pile up work.
const COMMAND_CAPACITY: usize = 256;
/// Capacity of the inbound-delivery channel to the pipeline; beyond it senders get `Busy`.
const INBOUND_CAPACITY: usize = 1024;
/// How long a peer over its delivery rate, or blocked, waits for its answer: its requests in
/// flight sit here instead of coming straight back, so a flooder gets its window back once a
/// second rather than as fast as the node can refuse.
const REFUSAL_DELAY: Duration = Duration::from_secs(1);
/// Answers waiting at once (held refusals and the pipeline's); beyond it refusals go at once.
const MAX_WAITING_ANSWERS: usize = 4 * INBOUND_CAPACITY;
/// How long an idle connection stays open. Chat is bursty with long pauses; a minute keeps a
/// conversation's connection warm without holding idle connections to every peer for ever.
const IDLE_TIMEOUT: Duration = Duration::from_secs(60);
/// How long a direct delivery may take before the sender gives up on this attempt (and the
/// outbox retries, or later falls back to a relay).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// Concurrent inbound or outbound delivery streams per connection.
const MAX_CONCURRENT_STREAMS: usize = 256;
/// How long a mailbox request may take: a fetch may be held open by the relay for up to
/// `mailbox::MAX_WAIT_SECS` before it answers.
const MAILBOX_TIMEOUT: Duration = Duration::from_secs(mailbox::MAX_WAIT_SECS as u64 + 30);
/// DHT peers whose announced addresses are remembered; beyond it the map starts over (it
/// only serves picking relays, which are re-announced on every connection).
const MAX_ANNOUNCED: usize = 4096;
/// Established connections in total and per peer: generous for a chat node, but a bound.
const MAX_CONNECTIONS: u32 = 256;
const MAX_CONNECTIONS_PER_PEER: u32 = 4;
/// Refuse new connections when the process uses more than this share of system memory.
const MAX_MEMORY_FRACTION: f64 = 0.8;
/// Per-peer inbound delivery rate for a peer whose account the user has not accepted
/// (a stranger, or a peer not heard from yet): a burst of 200, refilled at 100 a second. Far above any human typing rate, far
/// below a flood: each refused envelope still costs an HPKE open (about 0.1 ms), so a
/// stranger can take at most about 1% of a core.
const STRANGER_RATE: Rate = Rate {
    burst: 200.0,
    per_sec: 100.0,
};
/// The rate for the device of an accepted account (a contact or a chat, proven by a message
/// from it that decrypted; see `core::requests`): above what two nodes store a second
/// (DESIGN.md asks 5,000), so that bulk transfers run at full speed, yet bounded. On a
/// delivery stream such a peer over its rate is slowed to it, not refused
/// (`deliver::Gate::admit`).
const TRUSTED_RATE: Rate = Rate {
    burst: 20_000.0,
    per_sec: 10_000.0,
};
/// Peers whose rate state is remembered; the oldest is forgotten beyond this.
const MAX_RATE_ENTRIES: usize = 4096;

/// Network settings, from the node's builder.
#[derive(Debug)]
pub(crate) struct Config {
    pub(crate) keypair: Keypair,
    pub(crate) listen: Vec<Multiaddr>,
    /// Bootstrap peers, each with a `/p2p/<peer id>` suffix.
    pub(crate) bootstrap: Vec<Multiaddr>,
    pub(crate) mdns: bool,
    /// Answer DHT queries even without a confirmed public address (LANs, tests, relays).
    pub(crate) dht_server: bool,
    /// How long a record lookup waits for a newer record after the first valid one.
    pub(crate) lookup_grace: Duration,
    /// Pipeline direct deliveries on `/tern/deliver/2` (both ways); off, every envelope
    /// goes by `/tern/msg/2`, as before that protocol existed.
    pub(crate) delivery_streams: bool,
}

/// Why a network operation failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub(crate) enum NetError {
    #[error("the network task has stopped")]
    Stopped,
    #[error("no valid record found for {0}")]
    NotFound(String),
    #[error("could not publish: {0}")]
    Publish(String),
    #[error("delivery failed: {0}")]
    Delivery(String),
    #[error("invalid address: {0}")]
    Address(String),
    #[error("transport setup failed: {0}")]
    Transport(String),
    #[error("the peer does not speak the protocol")]
    Unsupported,
}

/// Counters of what the network refused, by reason.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Counters {
    pub(crate) records_rejected: HashMap<&'static str, u64>,
    /// Records stored for others that were evicted to make room for others.
    pub(crate) records_evicted: u64,
    pub(crate) deliveries_rate_limited: u64,
    /// Deliveries of trusted peers on streams that waited for their token.
    pub(crate) deliveries_paced: u64,
    pub(crate) deliveries_busy: u64,
    /// Direct deliveries refused without opening: the peer's device belongs to a blocked
    /// account.
    pub(crate) deliveries_blocked: u64,
    pub(crate) inbound_failures: u64,
    /// Delivery streams (`/tern/deliver/2`) accepted from peers.
    pub(crate) delivery_streams: u64,
}

/// How the network task treats a peer's direct deliveries, as the core decided from who the
/// envelopes turned out to be from (only the core can open them).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PeerStanding {
    /// An accepted sender's device: the trusted rate.
    Trusted,
    /// A blocked account's device: refused before opening.
    Refused,
}

/// A snapshot of the network state.
#[derive(Debug, Clone)]
pub(crate) struct Snapshot {
    pub(crate) peer_id: PeerId,
    pub(crate) listen_addresses: Vec<Multiaddr>,
    pub(crate) connected_peers: usize,
    /// The peers with an open connection.
    pub(crate) connected: Vec<PeerId>,
    pub(crate) nat: crate::Nat,
    /// The path to each connected peer (direct or circuit).
    pub(crate) paths: HashMap<PeerId, crate::Path>,
    /// The relays that accepted a circuit reservation of ours.
    pub(crate) reserved_at: Vec<PeerId>,
    pub(crate) punches: crate::HolePunches,
    pub(crate) counters: Counters,
}

/// A delivery received from a peer, waiting for the pipeline's verdict.
#[derive(Debug)]
pub(crate) struct Inbound {
    pub(crate) peer: PeerId,
    pub(crate) envelope: Vec<u8>,
    pub(crate) reply: oneshot::Sender<Status>,
    /// Collected from a mailbox relay: the sender learns of delivery only from a receipt.
    pub(crate) via_relay: bool,
}

#[derive(Debug)]
enum Command {
    Standing {
        peer: PeerId,
        standing: PeerStanding,
    },
    /// Forget every refused peer (an account was unblocked; blocked ones are found again
    /// from their next delivery).
    ForgetRefused,
    /// Our mailbox relays changed: where circuits are reserved when we are private.
    Relays(Vec<(PeerId, Vec<Multiaddr>)>),
    Publish {
        key: RecordKey,
        value: Vec<u8>,
        reply: oneshot::Sender<Result<(), NetError>>,
    },
    Lookup {
        user: UserId,
        reply: oneshot::Sender<Result<Found, NetError>>,
    },
    Deliver {
        peer: PeerId,
        addresses: Vec<Multiaddr>,
        envelope: Vec<u8>,
        /// Dial the peer if no connection is open (else fail at once: ephemeral signals).
        dial: bool,
        reply: oneshot::Sender<Result<Status, NetError>>,
    },
    Status {
        reply: oneshot::Sender<Snapshot>,
    },
    Mailbox {
        persona: Persona,
        peer: PeerId,
        addresses: Vec<Multiaddr>,
        job: Job,
    },
    Providers {
        key: Vec<u8>,
        reply: oneshot::Sender<Vec<PeerId>>,
    },
    PeerAddresses {
        peer: PeerId,
        reply: oneshot::Sender<Vec<Multiaddr>>,
    },
    DialledAt {
        peer: PeerId,
        reply: oneshot::Sender<Option<Multiaddr>>,
    },
    /// Dials `peer` (at `addresses` too) unless connected; answers once connected.
    Dial {
        peer: PeerId,
        addresses: Vec<Multiaddr>,
        reply: oneshot::Sender<Result<(), NetError>>,
    },
}

/// Starts the network task. Returns its handle, the inbound deliveries, and the task.
pub(crate) fn spawn(
    config: Config,
    clock: crate::Clock,
    cancel: CancellationToken,
) -> Result<(Handle, mpsc::Receiver<Inbound>, tokio::task::JoinHandle<()>), NetError> {
    let mut swarm = build_swarm(&config)?;
    for address in &config.listen {
        swarm
            .listen_on(address.clone())
            .map_err(|e| NetError::Address(format!("{address}: {e}")))?;
    }
    for address in &config.bootstrap {
        let Some(peer) = peer_of(address) else {
            return Err(NetError::Address(format!(
                "{address}: bootstrap address needs a /p2p/<peer id> suffix"
            )));
        };
        swarm
            .behaviour_mut()
            .kad
            .add_address(&peer, address.clone());
        let _ = swarm.dial(address.clone());
    }
    if !config.bootstrap.is_empty() {
        let _ = swarm.behaviour_mut().kad.bootstrap();
    }
    let peer_id = *swarm.local_peer_id();
    let streams = swarm.behaviour().streams.new_control();
    let accept = swarm.behaviour().accept.clone();
    let (commands, command_rx) = mpsc::channel(COMMAND_CAPACITY);
    let (inbound_tx, inbound_rx) = mpsc::channel(INBOUND_CAPACITY);
    let gate = Arc::new(deliver::Gate::new(inbound_tx.clone()));
    if config.delivery_streams {
        tokio::spawn(deliver::serve(accept.clone(), gate.clone(), cancel.clone()));
    }
    let (lane_fallback, lane_fallbacks) = mpsc::channel(4 * tern_proto::msg::stream::WINDOW);
    let (addresses_tx, addresses) = watch::channel(Vec::new());
    let event_loop = EventLoop {
        swarm,
        addresses: addresses_tx,
        commands: command_rx,
        clock,
        cancel: cancel.clone(),
        publishes: HashMap::new(),
        verifications: HashMap::new(),
        lookups: HashMap::new(),
        lookup_grace: config.lookup_grace,
        graces: FuturesUnordered::new(),
        rereads: FuturesUnordered::new(),
        deliveries: HashMap::new(),
        unlinked: Unlinked::new(cancel.clone()),
        waiting_answers: FuturesUnordered::new(),
        checking: FuturesUnordered::new(),
        gate: gate.clone(),
        lanes: config
            .delivery_streams
            .then(|| lanes::Lanes::new(lane_fallback)),
        lane_fallbacks,
        streams: streams.clone(),
        announced: HashMap::new(),
        dialled: HashMap::new(),
        stream_dials: HashMap::new(),
        provider_queries: HashMap::new(),
        counters: Counters::default(),
        ledger: dht::ledger(dht::Role::Node.capacity()),
        nat_failures: 0,
        nat: nat::Nat::default(),
        dht_server: config.dht_server,
    };
    let task = tokio::spawn(event_loop.run());
    Ok((
        Handle {
            commands,
            peer_id,
            addresses,
            inbound: inbound_tx,
            streams,
            accept,
        },
        inbound_rx,
        task,
    ))
}

/// Whether `address` is on a loopback interface.
fn is_loopback(address: &Multiaddr) -> bool {
    address.iter().any(|p| match p {
        libp2p::multiaddr::Protocol::Ip4(ip) => ip.is_loopback(),
        libp2p::multiaddr::Protocol::Ip6(ip) => ip.is_loopback(),
        _ => false,
    })
}

/// The peer id at the end of a `/p2p/...` address.
pub(crate) fn peer_of(address: &Multiaddr) -> Option<PeerId> {
    address.iter().find_map(|p| match p {
        libp2p::multiaddr::Protocol::P2p(peer) => Some(peer),
        _ => None,
    })
}

struct Publish {
    key: RecordKey,
    value: Vec<u8>,
    reply: oneshot::Sender<Result<(), NetError>>,
    /// Reads that found no copy at another peer so far (see `records::REREAD_AFTER`).
    rereads: u32,
}

type Answer = (ResponseChannel<Status>, Status);

struct EventLoop {
    swarm: Swarm<Behaviour>,
    addresses: watch::Sender<Vec<Multiaddr>>,
    commands: mpsc::Receiver<Command>,
    clock: crate::Clock,
    cancel: CancellationToken,
    publishes: HashMap<QueryId, Publish>,
    /// Read-backs after a PUT, keyed by the GET query.
    verifications: HashMap<QueryId, Publish>,
    lookups: HashMap<QueryId, records::Lookup>,
    /// How long a lookup waits after its first valid record (see [`Config::lookup_grace`]).
    lookup_grace: Duration,
    /// Lookups whose grace period is running, each ending with its query's id.
    graces: FuturesUnordered<futures::future::BoxFuture<'static, QueryId>>,
    /// Publications whose record is read back again after a pause (`records::REREAD_AFTER`).
    rereads: FuturesUnordered<futures::future::BoxFuture<'static, Publish>>,
    deliveries: HashMap<OutboundRequestId, oneshot::Sender<Result<Status, NetError>>>,
    /// The clients that send mailbox requests under unlinked identities.
    unlinked: Unlinked,
    waiting_answers: FuturesUnordered<futures::future::BoxFuture<'static, Answer>>,
    /// DHT records being validated on the blocking pool (`None`: the task failed).
    checking: FuturesUnordered<futures::future::BoxFuture<'static, Option<records::Checked>>>,
    /// What every inbound direct delivery passes, on either protocol.
    gate: Arc<deliver::Gate>,
    /// Delivery streams to connected peers (`None`: off in the configuration).
    lanes: Option<lanes::Lanes<deliver::Deliveries>>,
    /// Deliveries a stream handed back, to go by `/tern/msg/2`.
    lane_fallbacks: mpsc::Receiver<lanes::Fallback<deliver::Queued>>,
    /// Opens delivery streams.
    streams: libp2p_stream::Control,
    /// Listen addresses DHT peers announced (identify), for relays we pick from the DHT.
    announced: HashMap<PeerId, Vec<Multiaddr>>,
    /// The address each connected peer was dialled at, when we dialled.
    dialled: HashMap<PeerId, Multiaddr>,
    /// Streams waiting for a dial of their peer ([`dial`]).
    stream_dials: HashMap<PeerId, Vec<oneshot::Sender<Result<(), NetError>>>>,
    /// Provider lookups in progress: the providers found so far.
    provider_queries: HashMap<QueryId, (HashSet<PeerId>, oneshot::Sender<Vec<PeerId>>)>,
    counters: Counters,
    /// Who put the records we store for others, so a full store makes room fairly.
    ledger: dht::Ledger,
    /// AutoNAT probes of our addresses that failed since one last succeeded.
    nat_failures: u32,
    /// Circuit reservations, and the kind of connection each peer is on.
    nat: nat::Nat,
    /// Serve the DHT whatever AutoNAT finds (the configuration asked for it).
    dht_server: bool,
}

impl EventLoop {
    async fn run(mut self) {
        let mut reserve = tokio::time::interval(nat::RESERVE_EVERY);
        reserve.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                () = self.cancel.cancelled() => break,
                _ = reserve.tick() => self.reserve_circuits(),
                event = self.swarm.select_next_some() => self.on_swarm_event(event),
                command = self.commands.recv() => match command {
                    Some(command) => self.on_command(command),
                    None => break,
                },
                Some(id) = self.graces.next(), if !self.graces.is_empty() => self.answer_lookup(id),
                Some(publish) = self.rereads.next(), if !self.rereads.is_empty() => {
                    self.read_back(publish);
                }
                Some(checked) = self.checking.next(), if !self.checking.is_empty() => {
                    if let Some(checked) = checked {
                        self.on_checked(checked);
                    }
                }
                Some((channel, status)) = self.waiting_answers.next(), if !self.waiting_answers.is_empty() => {
                    let _ = self.swarm.behaviour_mut().msg.send_response(channel, status);
                }
                Some(fallback) = self.lane_fallbacks.recv() => {
                    if fallback.unsupported && let Some(lanes) = &mut self.lanes {
                        lanes.old(fallback.peer);
                    }
                    let deliver::Queued { envelope, reply } = fallback.queued;
                    self.send_delivery(fallback.peer, envelope, reply);
                }
            }
        }
        debug!("network task stopped");
    }

    fn on_command(&mut self, command: Command) {
        match command {
            Command::Standing { peer, standing } => self.gate.set_standing(peer, standing),
            Command::ForgetRefused => self.gate.forget_refused(),
            Command::Relays(relays) => {
                self.nat.set_relays(relays);
                self.reserve_circuits();
            }
            Command::Publish { key, value, reply } => {
                let record = kad::Record::new(key.clone(), value.clone());
                // Keep our own copy too, so we answer GETs for it ourselves.
                let _ = self
                    .swarm
                    .behaviour_mut()
                    .kad
                    .store_mut()
                    .put(record.clone());
                match self
                    .swarm
                    .behaviour_mut()
                    .kad
                    .put_record(record, Quorum::One)
                {
                    Ok(id) => {
                        self.publishes.insert(
                            id,
                            Publish {
                                key,
                                value,
                                reply,
                                rereads: 0,
                            },
                        );
                    }
                    Err(e) => {
                        let _ = reply.send(Err(NetError::Publish(e.to_string())));
                    }
                }
            }
            Command::Lookup { user, reply } => self.start_lookup(user, reply),
            Command::Deliver {
                peer,
                addresses,
                envelope,
                dial,
                reply,
            } => {
                if !dial && !self.swarm.is_connected(&peer) {
                    let _ = reply.send(Err(NetError::Delivery("not connected".into())));
                    return;
                }
                for address in addresses {
                    self.swarm.add_peer_address(peer, address);
                }
                // On the peer's delivery stream once connected; the first envelope to a peer
                // not connected goes by `/tern/msg/2`, whose request dials.
                let queued = deliver::Queued { envelope, reply };
                let queued = match &mut self.lanes {
                    Some(lanes) if self.swarm.is_connected(&peer) => {
                        match lanes.send(peer, queued, &self.streams, || ()) {
                            Ok(()) => return,
                            Err(queued) => queued,
                        }
                    }
                    _ => queued,
                };
                self.send_delivery(peer, queued.envelope, queued.reply);
            }
            Command::Mailbox {
                persona,
                peer,
                mut addresses,
                job,
            } => {
                if addresses.is_empty() {
                    addresses = self.known_addresses(peer);
                }
                let call = Call {
                    persona,
                    peer,
                    addresses,
                    job,
                };
                if let Route::Dial(peer) = self.unlinked.route(call, Instant::now()) {
                    // Only to learn where the relay listens; the request does not go here.
                    let dial = DialOpts::peer_id(peer)
                        .condition(PeerCondition::Always)
                        .build();
                    if let Err(e) = self.swarm.dial(dial) {
                        self.unlinked.unreachable(peer, &e.to_string());
                    }
                }
            }
            Command::Providers { key, reply } => {
                let id = self
                    .swarm
                    .behaviour_mut()
                    .kad
                    .get_providers(RecordKey::new(&key));
                self.provider_queries.insert(id, (HashSet::new(), reply));
            }
            Command::DialledAt { peer, reply } => {
                let _ = reply.send(self.dialled.get(&peer).cloned());
            }
            Command::Dial {
                peer,
                addresses,
                reply,
            } => self.dial_for_stream(peer, addresses, reply),
            Command::PeerAddresses { peer, reply } => {
                let _ = reply.send(self.known_addresses(peer));
            }
            Command::Status { reply } => {
                let _ = reply.send(Snapshot {
                    peer_id: *self.swarm.local_peer_id(),
                    listen_addresses: self.swarm.listeners().cloned().collect(),
                    connected_peers: self.nat.connected().count(),
                    connected: self.nat.connected().copied().collect(),
                    nat: self.nat_status(),
                    paths: self.nat.paths(),
                    reserved_at: self.nat.reserved_at().copied().collect(),
                    punches: self.nat.punches,
                    counters: {
                        let mut counters = self.counters.clone();
                        self.gate.count(&mut counters);
                        counters
                    },
                });
            }
        }
    }

    fn on_swarm_event(&mut self, event: SwarmEvent<BehaviourEvent>) {
        match event {
            SwarmEvent::NewListenAddr {
                listener_id,
                address,
            } => {
                info!(%address, "listening");
                self.nat.listening(listener_id);
                self.publish_addresses();
            }
            SwarmEvent::ExpiredListenAddr { .. } => self.publish_addresses(),
            SwarmEvent::ExternalAddrConfirmed { .. } | SwarmEvent::ExternalAddrExpired { .. } => {
                self.set_dht_mode();
                self.publish_addresses();
            }
            SwarmEvent::ListenerClosed { listener_id, .. } => {
                self.nat_listener_closed(listener_id);
                self.publish_addresses();
            }
            SwarmEvent::ConnectionEstablished {
                peer_id,
                connection_id,
                endpoint,
                ..
            } => {
                self.nat.opened(peer_id, connection_id, &endpoint);
                self.stream_dial_connected(peer_id);
                if endpoint.is_dialer() {
                    let address = endpoint.get_remote_address().clone();
                    self.unlinked
                        .found(peer_id, std::slice::from_ref(&address), Instant::now());
                    self.dialled.insert(peer_id, address);
                }
            }
            SwarmEvent::OutgoingConnectionError {
                peer_id: Some(peer),
                error,
                ..
            } => {
                let why = error.to_string();
                self.unlinked.unreachable(peer, &why);
                self.stream_dial_failed(peer, &why);
            }
            SwarmEvent::ConnectionClosed {
                peer_id,
                connection_id,
                num_established,
                ..
            } => {
                self.nat.closed(peer_id, connection_id);
                if num_established == 0 {
                    self.dialled.remove(&peer_id);
                }
            }
            SwarmEvent::Behaviour(BehaviourEvent::Dcutr(event)) => self.on_hole_punch(event),
            SwarmEvent::Behaviour(BehaviourEvent::Ping(event)) => self.on_ping(event),
            SwarmEvent::Behaviour(BehaviourEvent::Kad(event)) => self.on_kad_event(event),
            SwarmEvent::Behaviour(BehaviourEvent::Msg(event)) => self.on_msg_event(event),
            SwarmEvent::Behaviour(BehaviourEvent::Identify(identify::Event::Received {
                peer_id,
                info,
                ..
            })) if info.protocols.contains(&dht::KAD_PROTOCOL) => {
                // Peers that speak our DHT protocol join the routing table under the addresses
                // they listen on.
                if self.announced.len() >= MAX_ANNOUNCED {
                    self.announced.clear();
                }
                self.unlinked
                    .found(peer_id, &info.listen_addrs, Instant::now());
                self.announced.insert(peer_id, info.listen_addrs.clone());
                for address in info.listen_addrs {
                    self.swarm
                        .behaviour_mut()
                        .kad
                        .add_address(&peer_id, address);
                }
            }
            SwarmEvent::Behaviour(BehaviourEvent::Autonat(autonat::v2::client::Event {
                tested_addr,
                result,
                ..
            })) => match result {
                Ok(()) => {
                    info!(address = %tested_addr, "reachable from outside (AutoNAT)");
                    self.nat_failures = 0;
                }
                Err(e) => {
                    debug!(address = %tested_addr, "not reachable from outside (AutoNAT): {e}");
                    self.nat_failures = self.nat_failures.saturating_add(1);
                    self.reserve_circuits();
                }
            },
            SwarmEvent::Behaviour(BehaviourEvent::Mdns(mdns::Event::Discovered(peers))) => {
                for (peer, address) in peers {
                    self.swarm.behaviour_mut().kad.add_address(&peer, address);
                }
            }
            _ => {}
        }
    }

    /// Reachability as AutoNAT v2 found it: `public` once a server dialled one of our
    /// addresses back (the client then confirms it as external), `private` when probes only
    /// failed, `unknown` before any probe finished.
    fn nat_status(&self) -> crate::Nat {
        // A circuit reserved at a relay counts as an external address to libp2p; it says
        // nothing about our own reachability.
        if self.swarm.external_addresses().any(|a| !nat::is_circuit(a)) {
            crate::Nat::Public
        } else if self.nat_failures > 0 {
            crate::Nat::Private
        } else {
            crate::Nat::Unknown
        }
    }

    /// Updates the address watch: confirmed external addresses, then one circuit per relay
    /// that holds a reservation of ours, then concrete listen addresses (a record keeps the
    /// first [`record::MAX_ADDRESSES`]).
    fn publish_addresses(&mut self) {
        let is_circuit = nat::is_circuit;
        let mut addresses: Vec<Multiaddr> = self
            .swarm
            .external_addresses()
            .filter(|a| !is_circuit(a))
            .cloned()
            .collect();
        addresses.extend(nat::one_circuit_per_relay(self.swarm.listeners()));
        addresses.extend(self.swarm.listeners().filter(|a| !is_circuit(a)).cloned());
        addresses.retain(|a| {
            !a.iter().any(|p| {
                matches!(p, libp2p::multiaddr::Protocol::Ip4(ip) if ip.is_unspecified())
                    || matches!(p, libp2p::multiaddr::Protocol::Ip6(ip) if ip.is_unspecified())
            })
        });
        // Loopback addresses reach a peer on this machine only: published beside others,
        // they send every contact's dial to whatever listens on its own loopback.
        if addresses.iter().any(|a| !is_loopback(a)) {
            addresses.retain(|a| !is_loopback(a));
        }
        let mut seen = HashSet::new();
        addresses.retain(|a| seen.insert(a.clone()));
        self.addresses.send_if_modified(|held| {
            let changed = *held != addresses;
            *held = addresses;
            changed
        });
    }

    fn on_msg_event(&mut self, event: request_response::Event<Delivery, Status>) {
        match event {
            request_response::Event::Message { peer, message, .. } => match message {
                request_response::Message::Request {
                    request, channel, ..
                } => self.on_delivery(peer, request, channel),
                request_response::Message::Response {
                    request_id,
                    response,
                } => {
                    if let Some(reply) = self.deliveries.remove(&request_id) {
                        let _ = reply.send(Ok(response));
                    }
                }
            },
            request_response::Event::OutboundFailure {
                request_id, error, ..
            } => {
                if let Some(reply) = self.deliveries.remove(&request_id) {
                    let _ = reply.send(Err(NetError::Delivery(error.to_string())));
                }
            }
            request_response::Event::InboundFailure { peer, error, .. } => {
                self.counters.inbound_failures += 1;
                debug!(%peer, %error, "inbound delivery failed");
            }
            request_response::Event::ResponseSent { .. } => {}
        }
    }

    fn on_delivery(&mut self, peer: PeerId, request: Delivery, channel: ResponseChannel<Status>) {
        // Refusals are held for a while, unless too many answers wait already.
        let hold = self.waiting_answers.len() < MAX_WAITING_ANSWERS;
        let answer = self.gate.pass(peer, request.envelope, hold);
        self.waiting_answers
            .push(Box::pin(async move { (channel, answer.await) }));
    }

    /// Sends `envelope` to `peer` by `/tern/msg/2`, dialling it if need be.
    fn send_delivery(
        &mut self,
        peer: PeerId,
        envelope: Vec<u8>,
        reply: oneshot::Sender<Result<Status, NetError>>,
    ) {
        let id = self
            .swarm
            .behaviour_mut()
            .msg
            .send_request(&peer, Delivery { envelope });
        self.deliveries.insert(id, reply);
    }
}
