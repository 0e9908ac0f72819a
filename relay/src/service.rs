//! The relay's event loop: one task owns the libp2p `Swarm` and answers mailbox requests;
//! database work runs on the blocking pool and the store's writer thread.

use std::{
    collections::{HashMap, HashSet},
    io,
    path::Path,
    time::{Duration, Instant},
};

use futures::{FutureExt, StreamExt, future::BoxFuture, stream::FuturesUnordered};
use libp2p::{
    Multiaddr, PeerId, Swarm, autonat, connection_limits, identify,
    identity::Keypair,
    kad::{self, RecordKey},
    ping, relay,
    request_response::{self, ProtocolSupport, ResponseChannel},
    swarm::{NetworkBehaviour, SwarmEvent},
};
use tern_crypto::OneTimePrekey;
use tern_proto::{
    dht::{self, KAD_PROTOCOL},
    mailbox::{
        self, Codec, CustodyReceipt, MAX_PREKEY_BATCH, MAX_PREKEYS_HELD, MAX_RESPONSE_LEN,
        MAX_WAIT_SECS, Operation, OwnerProof, Refusal, Request, Response, StoredEnvelope,
    },
    rate::{Rate, RateLimiter},
};
use tokio::sync::{mpsc, oneshot, watch};
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use crate::{
    Config, Error,
    store::{Deposit, Quota, Store},
    timing::Timings,
};

/// How long a challenge nonce stays valid: long enough for a slow link, short enough that a
/// captured proof is soon useless (it is single use anyway).
const NONCE_LIFETIME: Duration = Duration::from_secs(60);
/// Outstanding nonces; beyond it the oldest are dropped (a peer asking for many only hurts
/// itself).
const MAX_NONCES: usize = 10_000;
/// Most envelopes in one fetched page.
const MAX_PAGE: u32 = 512;
/// Fetches held open waiting for deposits, in all.
const MAX_PARKED: usize = 10_000;
/// Concurrent mailbox streams per connection.
const MAX_STREAMS: usize = 256;
/// A request may take this long, held fetches included.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(MAX_WAIT_SECS as u64 + 30);
/// Idle connections are kept this long (owners hold fetches open on them).
const IDLE_TIMEOUT: Duration = Duration::from_secs(120);
/// How often expired envelopes are deleted.
const EXPIRY_INTERVAL: Duration = Duration::from_secs(600);
const MAX_CONNECTIONS: u32 = 4096;
const MAX_CONNECTIONS_PER_PEER: u32 = 8;
/// Peers whose deposit rate is tracked; the stalest is forgotten beyond this.
const MAX_RATE_ENTRIES: usize = 65_536;

/// Counters, as the metrics endpoint and [`crate::Relay::metrics`] report them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Metrics {
    /// Deposits stored (custody receipts issued).
    pub deposits: u64,
    /// Fetch requests answered.
    pub fetches: u64,
    /// Envelopes deleted on acknowledgement.
    pub acked: u64,
    /// Envelopes deleted at the end of their retention.
    pub expired: u64,
    /// Requests refused, by reason.
    pub refused: std::collections::BTreeMap<String, u64>,
    /// Malformed or failed inbound streams.
    pub bad_streams: u64,
    /// Mailboxes holding at least one envelope.
    pub mailboxes: u64,
    /// Envelopes held.
    pub stored_messages: u64,
    /// Bytes held.
    pub stored_bytes: u64,
    /// DHT records refused on PUT.
    pub records_refused: u64,
    /// One-time prekeys stored from owners' uploads.
    pub prekeys_uploaded: u64,
    /// One-time prekeys handed out to senders (each once).
    pub prekeys_taken: u64,
    /// Prekey requests answered "exhausted".
    pub prekeys_exhausted: u64,
}

#[derive(NetworkBehaviour)]
struct Behaviour {
    limits: connection_limits::Behaviour,
    mailbox: request_response::Behaviour<Codec>,
    kad: kad::Behaviour<kad::store::MemoryStore>,
    identify: identify::Behaviour,
    ping: ping::Behaviour,
    relay: relay::Behaviour,
    autonat: autonat::v2::server::Behaviour,
}

enum Command {
    Metrics(oneshot::Sender<Metrics>),
}

/// The running service, behind [`crate::Relay`].
#[derive(Debug)]
pub(crate) struct Handle {
    pub(crate) peer_id: PeerId,
    pub(crate) addresses: watch::Receiver<Vec<String>>,
    commands: mpsc::Sender<Command>,
    cancel: CancellationToken,
    task: std::sync::Mutex<Option<tokio::task::JoinHandle<()>>>,
    store: Store,
    pub(crate) timings: Timings,
}

impl Handle {
    pub(crate) async fn metrics(&self) -> Metrics {
        let (reply, answer) = oneshot::channel();
        if self.commands.send(Command::Metrics(reply)).await.is_err() {
            return Metrics::default();
        }
        answer.await.unwrap_or_default()
    }

    pub(crate) fn healthy(&self) -> bool {
        !self.store.poisoned()
    }

    pub(crate) fn cancel_token(&self) -> CancellationToken {
        self.cancel.clone()
    }

    pub(crate) async fn shutdown(&self) {
        self.cancel.cancel();
        let task = self.task.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(task) = task {
            let _ = task.await;
        }
    }
}

/// Loads the relay's identity from `dir`, or creates it (owner-only permissions).
fn load_identity(dir: &Path) -> Result<Keypair, Error> {
    use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|e| Error::DataDir(format!("{}: {e}", dir.display())))?;
    let path = dir.join("identity.key");
    match std::fs::read(&path) {
        Ok(mut bytes) => {
            Keypair::ed25519_from_bytes(&mut bytes).map_err(|e| Error::Key(e.to_string()))
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            let keypair = libp2p::identity::ed25519::Keypair::generate();
            let mut file = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&path)
                .map_err(|e| Error::Key(e.to_string()))?;
            io::Write::write_all(&mut file, keypair.secret().as_ref())
                .and_then(|()| file.sync_all())
                .map_err(|e| Error::Key(e.to_string()))?;
            Ok(Keypair::from(keypair))
        }
        Err(e) => Err(Error::Key(e.to_string())),
    }
}

fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

pub(crate) async fn spawn(config: Config) -> Result<Handle, Error> {
    let keypair = load_identity(&config.data_dir)?;
    let limits = config.limits;
    let quota = Quota {
        max_messages: limits.mailbox_messages,
        max_bytes: limits.mailbox_bytes,
        disk_budget: limits.disk_budget,
    };
    let db_dir = config.data_dir.join("db");
    let timings = Timings::new();
    let store_timings = timings.clone();
    let store = tokio::task::spawn_blocking(move || Store::open(&db_dir, quota, store_timings))
        .await
        .map_err(|e| Error::DataDir(e.to_string()))??;

    let parse = |a: &String| {
        a.parse::<Multiaddr>()
            .map_err(|e| Error::Network(format!("{a}: {e}")))
    };
    let mut listen = config
        .listen
        .iter()
        .map(parse)
        .collect::<Result<Vec<_>, _>>()?;
    if listen.is_empty() {
        listen = ["/ip4/0.0.0.0/tcp/4001", "/ip4/0.0.0.0/udp/4001/quic-v1"]
            .iter()
            .map(|a| parse(&(*a).to_owned()))
            .collect::<Result<_, _>>()?;
    }
    let bootstrap = config
        .bootstrap
        .iter()
        .map(parse)
        .collect::<Result<Vec<_>, _>>()?;

    let peer_id = keypair.public().to_peer_id();
    let mut swarm = tern_proto::swarm::build(keypair.clone(), IDLE_TIMEOUT, |key| {
        let peer = key.public().to_peer_id();
        let mut kad = dht::behaviour(peer, dht::Role::Server);
        kad.set_mode(Some(kad::Mode::Server));
        Ok(Behaviour {
            limits: tern_proto::swarm::connection_limits(MAX_CONNECTIONS, MAX_CONNECTIONS_PER_PEER),
            mailbox: request_response::Behaviour::new(
                [(mailbox::PROTOCOL, ProtocolSupport::Inbound)],
                request_response::Config::default()
                    .with_request_timeout(REQUEST_TIMEOUT)
                    .with_max_concurrent_streams(MAX_STREAMS),
            ),
            kad,
            identify: tern_proto::swarm::identify(key.public()),
            ping: ping::Behaviour::default(),
            relay: relay::Behaviour::new(peer, relay::Config::default()),
            autonat: autonat::v2::server::Behaviour::default(),
        })
    })
    .map_err(|e| Error::Network(e.to_string()))?;
    for address in listen {
        swarm
            .listen_on(address.clone())
            .map_err(|e| Error::Network(format!("{address}: {e}")))?;
    }
    for address in &bootstrap {
        let Some(libp2p::multiaddr::Protocol::P2p(peer)) = address.iter().last() else {
            return Err(Error::Network(format!(
                "{address}: needs a /p2p/<peer id> suffix"
            )));
        };
        swarm
            .behaviour_mut()
            .kad
            .add_address(&peer, address.clone());
        let _ = swarm.dial(address.clone());
    }
    if !bootstrap.is_empty() {
        let _ = swarm.behaviour_mut().kad.bootstrap();
    }

    let (addresses_tx, addresses) = watch::channel(Vec::new());
    let (commands, command_rx) = mpsc::channel(64);
    let cancel = CancellationToken::new();
    let rates = RateLimiter::new(
        MAX_RATE_ENTRIES,
        Rate {
            burst: f64::from(limits.deposit_burst),
            per_sec: f64::from(limits.deposits_per_sec),
        },
    );
    let service = Service {
        swarm,
        keypair,
        store,
        timings: timings.clone(),
        limits,
        allow: config.allow.map(|list| list.into_iter().collect()),
        addresses: addresses_tx,
        commands: command_rx,
        nonces: HashMap::new(),
        parked: HashMap::new(),
        parked_count: 0,
        pending: FuturesUnordered::new(),
        rates,
        metrics: Metrics::default(),
        providing: false,
        announced: false,
        deposits_committed: 0,
    };
    let store = service.store.clone();
    let task = tokio::spawn(service.run(cancel.clone()));
    info!(%peer_id, "relay started");
    Ok(Handle {
        peer_id,
        addresses,
        commands,
        cancel,
        task: std::sync::Mutex::new(Some(task)),
        store,
        timings,
    })
}

struct Parked {
    channel: ResponseChannel<Response>,
    after: u64,
    limit: u32,
    deadline: Instant,
}

/// What a piece of background work came back with.
enum Done {
    Respond(ResponseChannel<Response>, Response),
    Deposited {
        channel: ResponseChannel<Response>,
        mailbox: [u8; 32],
        response: Response,
        started: Instant,
    },
    Fetched {
        channel: ResponseChannel<Response>,
        mailbox: [u8; 32],
        after: u64,
        limit: u32,
        wait: u16,
        items: Vec<StoredEnvelope>,
        more: bool,
        /// [`Service::deposits_committed`] when the read started.
        as_of: u64,
        started: Instant,
    },
    Acked(ResponseChannel<Response>, u32),
    Expired(u32),
    /// A prekey request finished: its answer, and whether a prekey was uploaded (how many) or
    /// handed out.
    Prekeys {
        channel: ResponseChannel<Response>,
        response: Response,
        uploaded: u64,
    },
}

struct Service {
    swarm: Swarm<Behaviour>,
    keypair: Keypair,
    store: Store,
    timings: Timings,
    limits: crate::Limits,
    allow: Option<HashSet<[u8; 32]>>,
    addresses: watch::Sender<Vec<String>>,
    commands: mpsc::Receiver<Command>,
    nonces: HashMap<[u8; 32], Instant>,
    parked: HashMap<[u8; 32], Vec<Parked>>,
    parked_count: usize,
    pending: FuturesUnordered<BoxFuture<'static, Done>>,
    rates: RateLimiter<PeerId>,
    metrics: Metrics,
    providing: bool,
    /// Whether the relay announced itself to at least one DHT peer.
    announced: bool,
    /// Deposits committed so far. A fetch that read an empty mailbox parks only if no deposit
    /// committed since its read began; otherwise the deposit's wake-up may have been missed.
    deposits_committed: u64,
}

impl Service {
    async fn run(mut self, cancel: CancellationToken) {
        let mut sweep = tokio::time::interval(Duration::from_secs(1));
        let mut expiry = tokio::time::interval(EXPIRY_INTERVAL);
        loop {
            tokio::select! {
                () = cancel.cancelled() => break,
                event = self.swarm.select_next_some() => self.on_swarm_event(event),
                Some(done) = self.pending.next(), if !self.pending.is_empty() => self.on_done(done),
                Some(command) = self.commands.recv() => match command {
                    Command::Metrics(reply) => {
                        let totals = self.store.totals();
                        let mut metrics = self.metrics.clone();
                        metrics.mailboxes = totals.mailboxes;
                        metrics.stored_messages = totals.messages;
                        metrics.stored_bytes = totals.bytes;
                        let _ = reply.send(metrics);
                    }
                },
                _ = sweep.tick() => self.sweep(),
                _ = expiry.tick() => {
                    let store = self.store.clone();
                    let cutoff = now_secs().saturating_sub(self.limits.retention_secs);
                    self.pending.push(
                        tokio::task::spawn_blocking(move || store.expire(cutoff).unwrap_or(0))
                            .map(|r| Done::Expired(r.unwrap_or(0)))
                            .boxed(),
                    );
                }
            }
        }
        // Let deposits already accepted finish, so every receipt sent is true and nothing
        // half-written is left behind.
        while let Some(done) = self.pending.next().await {
            self.on_done(done);
        }
        info!("relay stopped");
    }

    fn refuse(&mut self, channel: ResponseChannel<Response>, refusal: Refusal) {
        *self
            .metrics
            .refused
            .entry(refusal.code().to_owned())
            .or_default() += 1;
        let _ = self
            .swarm
            .behaviour_mut()
            .mailbox
            .send_response(channel, Response::Refused(refusal));
    }

    fn on_swarm_event(&mut self, event: SwarmEvent<BehaviourEvent>) {
        match event {
            SwarmEvent::NewListenAddr { address, .. } => {
                info!(%address, "listening");
                let peer = *self.swarm.local_peer_id();
                let list: Vec<String> = self
                    .swarm
                    .listeners()
                    .filter(|a| {
                        !a.iter().any(|p| {
                            matches!(p, libp2p::multiaddr::Protocol::Ip4(ip) if ip.is_unspecified())
                        })
                    })
                    .map(|a| format!("{a}/p2p/{peer}"))
                    .collect();
                self.addresses.send_replace(list);
                if !self.providing {
                    self.providing = true;
                    let _ = self
                        .swarm
                        .behaviour_mut()
                        .kad
                        .start_providing(RecordKey::new(&dht::RELAYS_KEY));
                }
            }
            SwarmEvent::Behaviour(BehaviourEvent::Mailbox(event)) => match event {
                request_response::Event::Message {
                    peer,
                    message:
                        request_response::Message::Request {
                            request, channel, ..
                        },
                    ..
                } => self.on_request(peer, request, channel),
                request_response::Event::InboundFailure { peer, error, .. } => {
                    self.metrics.bad_streams += 1;
                    debug!(%peer, "mailbox stream failed: {error}");
                }
                _ => {}
            },
            SwarmEvent::Behaviour(BehaviourEvent::Kad(kad::Event::InboundRequest { request })) => {
                self.on_kad_request(request);
            }
            SwarmEvent::Behaviour(BehaviourEvent::Kad(kad::Event::RoutingUpdated {
                is_new_peer: true,
                ..
            })) if !self.announced => {
                // Providing started at the first listen address, usually before any DHT peer
                // was known, so the announcement reached nobody: announce again now that
                // someone will hear it (Kademlia itself would only in 12 hours).
                self.announced = true;
                let _ = self
                    .swarm
                    .behaviour_mut()
                    .kad
                    .start_providing(RecordKey::new(&dht::RELAYS_KEY));
            }
            SwarmEvent::Behaviour(BehaviourEvent::Identify(identify::Event::Received {
                peer_id,
                info,
                ..
            })) if info.protocols.contains(&KAD_PROTOCOL) => {
                for address in info.listen_addrs {
                    self.swarm
                        .behaviour_mut()
                        .kad
                        .add_address(&peer_id, address);
                }
            }
            _ => {}
        }
    }

    fn on_kad_request(&mut self, request: kad::InboundRequest) {
        match request {
            kad::InboundRequest::PutRecord {
                record: Some(record),
                ..
            } => {
                let store = self.swarm.behaviour_mut().kad.store_mut();
                let held =
                    kad::store::RecordStore::get(store, &record.key).map(|r| r.value.clone());
                match dht::accept_put(
                    record.key.as_ref(),
                    &record.value,
                    held.as_deref(),
                    now_secs(),
                ) {
                    Ok(()) => {
                        let _ = kad::store::RecordStore::put(store, record);
                    }
                    Err(e) => {
                        self.metrics.records_refused += 1;
                        debug!(reason = e.reason, "refused a DHT record: {e}");
                    }
                }
            }
            kad::InboundRequest::AddProvider {
                record: Some(record),
            } if record.key.as_ref() == dht::RELAYS_KEY => {
                let store = self.swarm.behaviour_mut().kad.store_mut();
                let _ = kad::store::RecordStore::add_provider(store, record);
            }
            _ => {}
        }
    }

    /// Per-peer token bucket for deposits.
    fn take_token(&mut self, peer: PeerId) -> bool {
        self.rates.try_take(&peer, Instant::now())
    }

    /// Takes a nonce: true if it was issued and is still fresh.
    fn take_nonce(&mut self, nonce: &[u8; 32]) -> bool {
        self.nonces
            .remove(nonce)
            .is_some_and(|issued| issued.elapsed() < NONCE_LIFETIME)
    }

    fn on_request(&mut self, peer: PeerId, request: Request, channel: ResponseChannel<Response>) {
        let relay = self.swarm.local_peer_id().to_bytes();
        match request {
            Request::Deposit { mailbox, envelope } => {
                if envelope.len() > self.limits.max_envelope {
                    return self.refuse(channel, Refusal::TooLarge);
                }
                if self.allow.as_ref().is_some_and(|a| !a.contains(&mailbox)) {
                    return self.refuse(channel, Refusal::NotAllowed);
                }
                if !self.take_token(peer) {
                    return self.refuse(channel, Refusal::RateLimited);
                }
                if self.store.poisoned() {
                    return self.refuse(channel, Refusal::Unavailable);
                }
                let store = self.store.clone();
                let keypair = self.keypair.clone();
                let started = Instant::now();
                self.pending.push(
                    async move {
                        let (reply, answer) = oneshot::channel();
                        let stored_at = now_secs();
                        let deposit = Deposit {
                            mailbox,
                            envelope: envelope.clone(),
                            stored_at,
                            reply,
                        };
                        store.deposit(deposit).await;
                        let response = match answer.await {
                            Ok(Ok(id)) => match CustodyReceipt::issue(
                                keypair.public().encode_protobuf(),
                                |m| keypair.sign(m).unwrap_or_default(),
                                mailbox,
                                &envelope,
                                id,
                                stored_at,
                            ) {
                                Ok(receipt) => Response::Stored(receipt),
                                Err(_) => Response::Refused(Refusal::Unavailable),
                            },
                            Ok(Err(refusal)) => Response::Refused(refusal),
                            Err(_) => Response::Refused(Refusal::Unavailable),
                        };
                        Done::Deposited {
                            channel,
                            mailbox,
                            response,
                            started,
                        }
                    }
                    .boxed(),
                );
            }
            Request::Challenge => {
                if self.nonces.len() >= MAX_NONCES {
                    self.nonces.retain(|_, at| at.elapsed() < NONCE_LIFETIME);
                    if self.nonces.len() >= MAX_NONCES {
                        return self.refuse(channel, Refusal::RateLimited);
                    }
                }
                let mut nonce = [0u8; 32];
                if getrandom::fill(&mut nonce).is_err() {
                    return self.refuse(channel, Refusal::Unavailable);
                }
                self.nonces.insert(nonce, Instant::now());
                let _ = self
                    .swarm
                    .behaviour_mut()
                    .mailbox
                    .send_response(channel, Response::Challenge { nonce });
            }
            Request::Fetch {
                proof,
                after,
                limit,
                wait_secs,
            } => {
                if !self.take_nonce(&proof.nonce) {
                    return self.refuse(channel, Refusal::StaleChallenge);
                }
                self.metrics.fetches += 1;
                let store = self.store.clone();
                let limit = limit.clamp(1, MAX_PAGE);
                let wait = wait_secs.min(MAX_WAIT_SECS);
                let as_of = self.deposits_committed;
                let started = Instant::now();
                self.pending.push(
                    tokio::task::spawn_blocking(move || {
                        let Some(mailbox) = proven_mailbox(&proof, &relay, Operation::Fetch) else {
                            return Done::Respond(channel, Response::Refused(Refusal::BadProof));
                        };
                        match store.fetch(&mailbox, after, limit as usize, MAX_RESPONSE_LEN / 2) {
                            Ok((items, more)) => Done::Fetched {
                                channel,
                                mailbox,
                                after,
                                limit,
                                wait,
                                items,
                                more,
                                as_of,
                                started,
                            },
                            Err(_) => {
                                Done::Respond(channel, Response::Refused(Refusal::Unavailable))
                            }
                        }
                    })
                    .map(|r| r.unwrap_or_else(|_| Done::Expired(0)))
                    .boxed(),
                );
            }
            Request::UploadPrekeys { proof, prekeys } => {
                if !self.take_nonce(&proof.nonce) {
                    return self.refuse(channel, Refusal::StaleChallenge);
                }
                if prekeys.len() > MAX_PREKEY_BATCH {
                    return self.refuse(channel, Refusal::BadPrekey);
                }
                let store = self.store.clone();
                let allow = self.allow.clone();
                self.pending.push(
                    tokio::task::spawn_blocking(move || {
                        let outcome = (|| {
                            let (mailbox, owner) = proof
                                .owner(&relay, Operation::UploadPrekeys)
                                .map_err(|_| Refusal::BadProof)?;
                            let mailbox = *mailbox.as_bytes();
                            if allow.as_ref().is_some_and(|a| !a.contains(&mailbox)) {
                                return Err(Refusal::NotAllowed);
                            }
                            // Every key must be the owner's: a relay must never hand a sender
                            // a key that the recipient cannot use, or that someone else made.
                            let mut verified = Vec::with_capacity(prekeys.len());
                            for bytes in prekeys {
                                match OneTimePrekey::from_bytes(&bytes) {
                                    Ok(prekey) if prekey.account() == owner => {
                                        verified.push((prekey.id(), bytes));
                                    }
                                    _ => return Err(Refusal::BadPrekey),
                                }
                            }
                            let count = store
                                .upload_prekeys(&mailbox, &verified, MAX_PREKEYS_HELD)
                                .map_err(|_| Refusal::Unavailable)?;
                            Ok((count, verified.len() as u64))
                        })();
                        match outcome {
                            Ok((count, uploaded)) => Done::Prekeys {
                                channel,
                                response: Response::PrekeysHeld { count },
                                uploaded,
                            },
                            Err(refusal) => Done::Respond(channel, Response::Refused(refusal)),
                        }
                    })
                    .map(|r| r.unwrap_or_else(|_| Done::Expired(0)))
                    .boxed(),
                );
            }
            Request::TakePrekey { mailbox } => {
                if self.allow.as_ref().is_some_and(|a| !a.contains(&mailbox)) {
                    return self.refuse(channel, Refusal::NotAllowed);
                }
                // Taking a prekey costs a token like a deposit: a stranger draining an
                // account's prekeys is slowed to the deposit rate.
                if !self.take_token(peer) {
                    return self.refuse(channel, Refusal::RateLimited);
                }
                let store = self.store.clone();
                self.pending.push(
                    tokio::task::spawn_blocking(move || {
                        let response = match store.take_prekey(&mailbox) {
                            Ok(Some(prekey)) => Response::Prekey(prekey),
                            Ok(None) => Response::PrekeysExhausted,
                            Err(_) => Response::Refused(Refusal::Unavailable),
                        };
                        Done::Prekeys {
                            channel,
                            response,
                            uploaded: 0,
                        }
                    })
                    .map(|r| r.unwrap_or_else(|_| Done::Expired(0)))
                    .boxed(),
                );
            }
            Request::Ack { proof, ids } => {
                if !self.take_nonce(&proof.nonce) {
                    return self.refuse(channel, Refusal::StaleChallenge);
                }
                let store = self.store.clone();
                self.pending.push(
                    tokio::task::spawn_blocking(move || {
                        let Some(mailbox) = proven_mailbox(&proof, &relay, Operation::Ack) else {
                            return Done::Respond(channel, Response::Refused(Refusal::BadProof));
                        };
                        match store.ack(&mailbox, &ids) {
                            Ok(removed) => Done::Acked(channel, removed),
                            Err(_) => {
                                Done::Respond(channel, Response::Refused(Refusal::Unavailable))
                            }
                        }
                    })
                    .map(|r| r.unwrap_or_else(|_| Done::Expired(0)))
                    .boxed(),
                );
            }
        }
    }

    fn on_done(&mut self, done: Done) {
        match done {
            Done::Prekeys {
                channel,
                response,
                uploaded,
            } => {
                match &response {
                    Response::Refused(refusal) => return self.refuse(channel, *refusal),
                    Response::Prekey(_) => self.metrics.prekeys_taken += 1,
                    Response::PrekeysExhausted => self.metrics.prekeys_exhausted += 1,
                    _ => self.metrics.prekeys_uploaded += uploaded,
                }
                let _ = self
                    .swarm
                    .behaviour_mut()
                    .mailbox
                    .send_response(channel, response);
            }
            Done::Respond(channel, response) => {
                if let Response::Refused(refusal) = response {
                    return self.refuse(channel, refusal);
                }
                let _ = self
                    .swarm
                    .behaviour_mut()
                    .mailbox
                    .send_response(channel, response);
            }
            Done::Deposited {
                channel,
                mailbox,
                response,
                started,
            } => {
                match response {
                    Response::Refused(refusal) => return self.refuse(channel, refusal),
                    response => {
                        self.timings
                            .deposit
                            .observe(started.elapsed().as_secs_f64());
                        self.metrics.deposits += 1;
                        self.deposits_committed += 1;
                        let _ = self
                            .swarm
                            .behaviour_mut()
                            .mailbox
                            .send_response(channel, response);
                    }
                }
                // Owners waiting on this mailbox get the new envelope at once.
                if let Some(waiting) = self.parked.remove(&mailbox) {
                    self.parked_count -= waiting.len();
                    for parked in waiting {
                        self.refetch(mailbox, parked);
                    }
                }
            }
            Done::Fetched {
                channel,
                mailbox,
                after,
                limit,
                wait,
                items,
                more,
                as_of,
                started,
            } => {
                if items.is_empty() && wait > 0 && as_of != self.deposits_committed {
                    // A deposit committed while we read: read again rather than risk waiting
                    // for a wake-up that already happened.
                    return self.refetch(
                        mailbox,
                        Parked {
                            channel,
                            after,
                            limit,
                            deadline: Instant::now(),
                        },
                    );
                }
                if items.is_empty() && wait > 0 && self.parked_count < MAX_PARKED {
                    self.parked_count += 1;
                    self.parked.entry(mailbox).or_default().push(Parked {
                        channel,
                        after,
                        limit,
                        deadline: Instant::now() + Duration::from_secs(u64::from(wait)),
                    });
                    return;
                }
                self.timings.fetch.observe(started.elapsed().as_secs_f64());
                let _ = self
                    .swarm
                    .behaviour_mut()
                    .mailbox
                    .send_response(channel, Response::Envelopes { items, more });
            }
            Done::Acked(channel, removed) => {
                self.metrics.acked += u64::from(removed);
                let _ = self
                    .swarm
                    .behaviour_mut()
                    .mailbox
                    .send_response(channel, Response::Acked { removed });
            }
            Done::Expired(removed) => {
                if removed > 0 {
                    info!(removed, "deleted envelopes past their retention");
                }
                self.metrics.expired += u64::from(removed);
            }
        }
    }

    fn refetch(&mut self, mailbox: [u8; 32], parked: Parked) {
        let store = self.store.clone();
        self.pending.push(
            tokio::task::spawn_blocking(move || {
                match store.fetch(
                    &mailbox,
                    parked.after,
                    parked.limit as usize,
                    MAX_RESPONSE_LEN / 2,
                ) {
                    Ok((items, more)) => {
                        Done::Respond(parked.channel, Response::Envelopes { items, more })
                    }
                    Err(_) => {
                        Done::Respond(parked.channel, Response::Refused(Refusal::Unavailable))
                    }
                }
            })
            .map(|r| r.unwrap_or_else(|_| Done::Expired(0)))
            .boxed(),
        );
    }

    /// Answers held fetches whose wait is over, and forgets expired nonces.
    fn sweep(&mut self) {
        let now = Instant::now();
        let mut expired = Vec::new();
        for waiting in self.parked.values_mut() {
            let (due, keep): (Vec<_>, Vec<_>) = waiting.drain(..).partition(|p| p.deadline <= now);
            *waiting = keep;
            expired.extend(due);
        }
        self.parked.retain(|_, w| !w.is_empty());
        self.parked_count -= expired.len();
        for parked in expired {
            let _ = self.swarm.behaviour_mut().mailbox.send_response(
                parked.channel,
                Response::Envelopes {
                    items: Vec::new(),
                    more: false,
                },
            );
        }
        if self.nonces.len() > MAX_NONCES / 2 {
            self.nonces.retain(|_, at| at.elapsed() < NONCE_LIFETIME);
        }
        if self.store.poisoned() {
            warn!("the store failed; deposits are refused until the relay restarts");
        }
    }
}

/// The mailbox a proof is valid for, if it is.
fn proven_mailbox(proof: &OwnerProof, relay: &[u8], op: Operation) -> Option<[u8; 32]> {
    proof.mailbox(relay, op).ok().map(|m| *m.as_bytes())
}
