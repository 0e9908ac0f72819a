//! The relay's event loop: one task owns the libp2p `Swarm` and answers mailbox requests;
//! database work runs on the blocking pool and the store's writer thread.

mod challenges;
mod codec;
mod collect;
mod deposits;
mod grouplog;
mod held;
mod mailbox;
mod metrics;
#[cfg(feature = "test-utils")]
mod observe;
mod setup;
mod streams;
pub use self::metrics::Metrics;
#[cfg(feature = "test-utils")]
pub use self::observe::Observed;

use std::{
    collections::HashSet,
    sync::Arc,
    time::{Duration, Instant},
};

use futures::{FutureExt, StreamExt, future::BoxFuture, stream::FuturesUnordered};
use libp2p::{
    Multiaddr, PeerId, Swarm, autonat, connection_limits, identify,
    kad::{self, RecordKey},
    metrics::{Recorder, Registry},
    ping, relay,
    request_response::{self, InboundFailure, ProtocolSupport, ResponseChannel},
    swarm::{ListenError, NetworkBehaviour, SwarmEvent},
};
use tern_proto::{
    dht::{self, KAD_PROTOCOL},
    mailbox::{MAX_WAIT_SECS, Refusal, Response},
    rate::{Rate, RateLimiter},
};
use tokio::sync::{mpsc, oneshot, watch};
use tokio_util::sync::CancellationToken;
use tracing::{debug, info};

use self::{
    challenges::Challenges,
    codec::{Counting, Unreadable},
    held::Held,
    mailbox::{Done, Parked},
    setup::{circuit_config, load_identity},
};
use crate::{
    Config, Error,
    blobs::Blobs,
    store::{Quota, Store},
    timing::Timings,
};

/// Concurrent mailbox streams per connection.
const MAX_STREAMS: usize = 256;
/// A request may take this long, held fetches included.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(MAX_WAIT_SECS as u64 + 30);
/// Idle connections are kept this long (owners hold fetches open on them).
const IDLE_TIMEOUT: Duration = Duration::from_secs(120);
/// A group log opened and never appended to is deleted after this long.
const UNUSED_LOG_SECS: u64 = 24 * 60 * 60;
/// How often expired envelopes are deleted.
const EXPIRY_INTERVAL: Duration = Duration::from_secs(600);
const MAX_CONNECTIONS: u32 = 4096;
const MAX_CONNECTIONS_PER_PEER: u32 = 8;
/// Outstanding challenge nonces, in all; beyond it the oldest is forgotten.
const MAX_CHALLENGES: usize = 65_536;
/// DHT records being validated at once; offers beyond it are refused.
const MAX_VALIDATING: usize = 256;
/// DHT records one peer may offer for validation: a burst, then a rate. Kademlia's hourly
/// replication of a full store (65,536 records) from one neighbour fits in 17 minutes; a
/// flooder's offers beyond it are refused before they cost a signature check.
const DHT_PUT_RATE: Rate = Rate {
    burst: 1_024.0,
    per_sec: 64.0,
};
/// Fetches held open, in all; beyond it the oldest is answered.
const MAX_HELD: usize = 10_000;
/// Peers whose deposit rate is tracked; the stalest is forgotten beyond this.
const MAX_RATE_ENTRIES: usize = 65_536;
/// Refusals held back from over-budget peers at once, in all; beyond it they go at once.
const MAX_HELD_REFUSALS: usize = 16_384;

#[derive(NetworkBehaviour)]
struct Behaviour {
    limits: connection_limits::Behaviour,
    mailbox: request_response::Behaviour<Counting>,
    kad: kad::Behaviour<kad::store::MemoryStore>,
    identify: identify::Behaviour,
    ping: ping::Behaviour,
    relay: relay::Behaviour,
    autonat: autonat::v2::server::Behaviour,
    /// Accepts the stream protocols served off the event loop.
    streams: tern_proto::accept::Behaviour,
}

enum Command {
    Metrics(oneshot::Sender<Metrics>),
    #[cfg(feature = "test-utils")]
    Observed(oneshot::Sender<Observed>),
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
    /// libp2p's own metrics (connections, bandwidth, Kademlia, identify, ping, circuit relay):
    /// registered once at start and updated by libp2p as events and bytes pass, so the
    /// endpoint encodes this registry as it stands rather than building it per scrape.
    pub(crate) network_registry: Arc<Registry>,
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
        !self.store.failing()
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

pub(crate) fn now_secs() -> u64 {
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
        min_free: limits.min_free_disk,
        log_bytes: limits.log_bytes,
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
    // libp2p registers its families under `libp2p_`, so they read `tern_relay_libp2p_…`, next
    // to the relay's own `tern_relay_…` counters.
    let mut network_registry = Registry::with_prefix("tern_relay");
    let network_metrics = libp2p::metrics::Metrics::new(&mut network_registry);
    let unreadable = Arc::new(Unreadable::default());
    let codec = Counting::new(unreadable.clone());
    // libp2p-stream's acceptor keeps one waiting stream per protocol and drops the next:
    // Tern's queues a burst (`tern_proto::accept`).
    let accept = tern_proto::accept::Behaviour::new();
    let dropped_streams = accept.dropped();
    let mut swarm = tern_proto::swarm::build_metered(
        keypair.clone(),
        IDLE_TIMEOUT,
        &mut network_registry,
        |key| {
            let peer = key.public().to_peer_id();
            let mut kad = dht::behaviour(peer, limits.dht_max_records);
            kad.set_mode(Some(kad::Mode::Server));
            Ok(Behaviour {
                limits: tern_proto::swarm::connection_limits(
                    MAX_CONNECTIONS,
                    MAX_CONNECTIONS_PER_PEER,
                ),
                mailbox: request_response::Behaviour::with_codec(
                    codec,
                    [(tern_proto::mailbox::PROTOCOL, ProtocolSupport::Inbound)],
                    request_response::Config::default()
                        .with_request_timeout(REQUEST_TIMEOUT)
                        .with_max_concurrent_streams(MAX_STREAMS),
                ),
                kad,
                identify: tern_proto::swarm::identify(key.public()),
                ping: ping::Behaviour::default(),
                relay: relay::Behaviour::new(peer, circuit_config(&limits)),
                autonat: autonat::v2::server::Behaviour::default(),
                streams: accept.clone(),
            })
        },
    )
    .map_err(|e| Error::Network(e.to_string()))?;
    // A relay is a public server: it serves circuits from the start. libp2p's circuit relay
    // server otherwise waits for a confirmed external address, which nothing here confirms
    // (the relay runs no AutoNAT client), and refused every reservation as unsupported.
    swarm
        .behaviour_mut()
        .relay
        .set_status(Some(relay::Status::Enable));
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
    let allow: Option<HashSet<[u8; 32]>> = config.allow.map(|list| list.into_iter().collect());
    let gate = Arc::new(deposits::Gate::new(&limits, allow.clone()));
    let challenge_rates = RateLimiter::new(
        MAX_RATE_ENTRIES,
        Rate {
            burst: f64::from(limits.challenge_burst),
            per_sec: f64::from(limits.challenges_per_sec),
        },
    );
    let blob_dir = config.data_dir.join("blobs");
    let (blob_db, blob_key, blob_allow) = (store.clone(), keypair.clone(), allow.clone());
    let blobs = tokio::task::spawn_blocking(move || {
        Blobs::open(&blob_dir, blob_db, limits, blob_allow, blob_key)
    })
    .await
    .map_err(|e| Error::DataDir(e.to_string()))??;
    let cancel = CancellationToken::new();
    let control = accept.clone();
    let (notes, deposit_notes) = mpsc::channel(4096);
    let (commits_to, commits) = mpsc::channel(1024);
    store.report_commits(commits_to);
    let signer = Arc::new(deposits::Signer::new(keypair.clone()));
    let deposit_streams = deposits::Streams {
        gate: gate.clone(),
        store: store.clone(),
        signer: signer.clone(),
        notes,
        unreadable: unreadable.clone(),
        refusal_delay: Duration::from_millis(limits.refusal_delay_ms),
        timings: timings.clone(),
    };
    let collect_counters = Arc::new(collect::CollectCounters::default());
    let collect = collect::Collect::new(
        store.clone(),
        peer_id.to_bytes(),
        &limits,
        collect_counters.clone(),
        unreadable.clone(),
    );
    let log_counters = Arc::new(grouplog::LogCounters::default());
    let logs = grouplog::Logs::new(
        store.clone(),
        keypair.clone(),
        &limits,
        limits.group_logs && allow.is_none(),
        log_counters.clone(),
        unreadable.clone(),
    );
    let tasks = [
        tokio::spawn(collect::run(collect, control.clone(), cancel.child_token())),
        tokio::spawn(grouplog::run(logs, control.clone(), cancel.child_token())),
        tokio::spawn(crate::blobs::run(
            blobs.clone(),
            control.clone(),
            limits.blob_transfers,
            cancel.child_token(),
        )),
        tokio::spawn(deposits::run(
            deposit_streams,
            control,
            cancel.child_token(),
        )),
    ];
    let service = Service {
        blobs,
        tasks,
        collect_counters,
        log_counters,
        expiring: Arc::default(),
        dropped_streams,
        gate,
        deposit_notes,
        commits,
        swarm,
        signer,
        store,
        timings: timings.clone(),
        limits,
        allow,
        addresses: addresses_tx,
        commands: command_rx,
        challenges: Challenges::new(MAX_CHALLENGES),
        held: Held::new(MAX_HELD),
        pending: FuturesUnordered::new(),
        challenge_rates,
        held_refusals: 0,
        record_rates: RateLimiter::new(MAX_RATE_ENTRIES, DHT_PUT_RATE),
        dht_ledger: dht::ledger(limits.dht_max_records),
        providers_evicted: 0,
        validating: 0,
        metrics: Metrics::default(),
        network_metrics,
        unreadable,
        providing: false,
        announced: false,
        deposits_committed: 0,
        #[cfg(feature = "test-utils")]
        requesters: HashSet::new(),
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
        network_registry: Arc::new(network_registry),
    })
}

struct Service {
    blobs: Blobs,
    /// Serve `/tern/collect/2`, `/tern/grouplog/2`, `/tern/blob/1` and `/tern/deposit/1`;
    /// stop with the relay.
    tasks: [tokio::task::JoinHandle<()>; 4],
    collect_counters: Arc<collect::CollectCounters>,
    log_counters: Arc<grouplog::LogCounters>,
    /// An expiry runs on the blocking pool.
    expiring: Arc<std::sync::atomic::AtomicBool>,
    /// Inbound streams dropped because their protocol's queue was full.
    dropped_streams: Arc<std::sync::atomic::AtomicU64>,
    /// What every deposit passes.
    gate: Arc<deposits::Gate>,
    /// Refusals and streams on deposit streams.
    deposit_notes: mpsc::Receiver<deposits::Note>,
    /// The mailboxes of the envelopes each synced write stored.
    commits: mpsc::Receiver<Vec<[u8; 32]>>,
    swarm: Swarm<Behaviour>,
    /// Signs custody receipts.
    signer: Arc<deposits::Signer>,
    store: Store,
    timings: Timings,
    limits: crate::Limits,
    allow: Option<HashSet<[u8; 32]>>,
    addresses: watch::Sender<Vec<String>>,
    commands: mpsc::Receiver<Command>,
    challenges: Challenges<PeerId>,
    held: Held<PeerId, Parked>,
    pending: FuturesUnordered<BoxFuture<'static, Done>>,
    /// Who put the DHT records the relay stores, so a full store makes room fairly.
    dht_ledger: dht::Ledger,
    /// Relays evicted from the full provider list of `dht::RELAYS_KEY` to admit newcomers.
    providers_evicted: u64,
    /// DHT records on the blocking pool for validation.
    validating: usize,
    /// Challenges per peer.
    challenge_rates: RateLimiter<PeerId>,
    /// `rate_limited` refusals waiting out [`crate::Limits::refusal_delay_ms`].
    held_refusals: usize,
    /// DHT records offered per peer.
    record_rates: RateLimiter<PeerId>,
    metrics: Metrics,
    /// libp2p's recorders, fed every swarm event.
    network_metrics: libp2p::metrics::Metrics,
    /// Requests the codec could not read, which no event reports.
    unreadable: Arc<Unreadable>,
    providing: bool,
    /// Whether the relay announced itself to at least one DHT peer.
    announced: bool,
    /// Deposits committed so far. A fetch that read an empty mailbox parks only if no deposit
    /// committed since its read began; otherwise the deposit's wake-up may have been missed.
    deposits_committed: u64,
    /// Every peer that made a mailbox request (tests only: a relay in service keeps no such
    /// list).
    #[cfg(feature = "test-utils")]
    requesters: HashSet<PeerId>,
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
                Some(note) = self.deposit_notes.recv() => self.on_deposit_note(note),
                Some(mailboxes) = self.commits.recv() => self.on_committed(mailboxes),
                Some(command) = self.commands.recv() => match command {
                    Command::Metrics(reply) => {
                        // What was reported before the question counts, whichever branch won.
                        while let Ok(mailboxes) = self.commits.try_recv() {
                            self.on_committed(mailboxes);
                        }
                        while let Ok(note) = self.deposit_notes.try_recv() {
                            self.on_deposit_note(note);
                        }
                        let totals = self.store.totals();
                        let mut metrics = self.metrics.clone();
                        metrics.mailboxes = totals.mailboxes;
                        metrics.stored_messages = totals.messages;
                        metrics.stored_bytes = totals.bytes;
                        metrics.disk_budget = self.limits.disk_budget;
                        let dropped = self.dropped_streams.load(std::sync::atomic::Ordering::Relaxed);
                        metrics.bad_streams += dropped;
                        *metrics.stream_failures.entry("queue_full".into()).or_default() += dropped;
                        for (kind, count) in self.unreadable.counts() {
                            metrics.bad_streams += count;
                            *metrics.stream_failures.entry(kind.to_owned()).or_default() +=
                                count;
                        }
                        metrics.connections = u64::from(
                            self.swarm.network_info().connection_counters().num_established(),
                        );
                        metrics.held_fetches = self.held.len() as u64;
                        metrics.challenges_outstanding = self.challenges.len() as u64;
                        metrics.held_refusals = self.held_refusals as u64;
                        metrics
                            .evicted
                            .insert("challenges".into(), self.challenges.evicted());
                        metrics
                            .evicted
                            .insert("held_fetches".into(), self.held.evicted());
                        metrics
                            .evicted
                            .insert("dht_records".into(), self.dht_ledger.evicted());
                        metrics
                            .evicted
                            .insert("relay_providers".into(), self.providers_evicted);
                        metrics.blobs = self.blobs.metrics();
                        self.log_counters.report(&mut metrics);
                        self.collect_counters.report(&mut metrics);
                        let _ = reply.send(metrics);
                    }
                    #[cfg(feature = "test-utils")]
                    Command::Observed(reply) => {
                        let _ = reply.send(self.observed());
                    }
                },
                _ = sweep.tick() => self.sweep(),
                // One expiry at a time: a slow one is not overlapped by the next.
                _ = expiry.tick(), if !self.expiring.load(std::sync::atomic::Ordering::Relaxed) => {
                    self.expiring.store(true, std::sync::atomic::Ordering::Relaxed);
                    let expiring = self.expiring.clone();
                    let store = self.store.clone();
                    let cutoff = now_secs().saturating_sub(self.limits.retention_secs);
                    let log_cutoff = now_secs().saturating_sub(self.limits.log_retention_secs);
                    let unused = now_secs().saturating_sub(UNUSED_LOG_SECS);
                    self.pending.push(
                        tokio::task::spawn_blocking(move || {
                            let logs = store.expire_logs(log_cutoff, unused).unwrap_or(0);
                            let envelopes = store.expire(cutoff).unwrap_or(0);
                            expiring.store(false, std::sync::atomic::Ordering::Relaxed);
                            Done::Expired(envelopes, logs)
                        })
                        .map(|r| r.unwrap_or(Done::Expired(0, 0)))
                        .boxed(),
                    );
                    let blobs = self.blobs.clone();
                    tokio::task::spawn_blocking(move || blobs.expire(now_secs()));
                }
            }
        }
        // The writer must not wait on a loop that no longer listens.
        self.commits.close();
        // Let deposits already accepted finish, so every receipt sent is true and nothing
        // half-written is left behind.
        while let Some(done) = self.pending.next().await {
            self.on_done(done);
        }
        // The deposit streams finish what they read without the loop hearing of it.
        self.deposit_notes.close();
        for task in &mut self.tasks {
            let _ = task.await;
        }
        info!("relay stopped");
    }

    fn refuse(&mut self, channel: ResponseChannel<Response>, refusal: Refusal) {
        self.count_refusal(refusal.code());
        let _ = self
            .swarm
            .behaviour_mut()
            .mailbox
            .send_response(channel, Response::Refused(refusal));
    }

    /// Hands `event` to libp2p's recorders: the swarm's own, and the one for the behaviour
    /// that emitted it.
    fn record(&self, event: &SwarmEvent<BehaviourEvent>) {
        self.network_metrics.record(event);
        match event {
            SwarmEvent::Behaviour(BehaviourEvent::Kad(event)) => self.network_metrics.record(event),
            SwarmEvent::Behaviour(BehaviourEvent::Identify(event)) => {
                self.network_metrics.record(event);
            }
            SwarmEvent::Behaviour(BehaviourEvent::Ping(event)) => {
                self.network_metrics.record(event);
            }
            SwarmEvent::Behaviour(BehaviourEvent::Relay(event)) => {
                self.network_metrics.record(event);
            }
            _ => {}
        }
    }

    /// Refuses an over-budget peer, after [`crate::Limits::refusal_delay_ms`]: its requests
    /// wait in the relay's queue rather than coming straight back, so a flooder with a window
    /// of requests in flight gets a window a second, not as many as the relay can answer.
    fn refuse_late(&mut self, channel: ResponseChannel<Response>, refusal: Refusal) {
        if self.held_refusals >= MAX_HELD_REFUSALS || self.limits.refusal_delay_ms == 0 {
            return self.refuse(channel, refusal);
        }
        self.count_refusal(refusal.code());
        self.held_refusals += 1;
        let delay = Duration::from_millis(self.limits.refusal_delay_ms);
        self.pending.push(
            async move {
                tokio::time::sleep(delay).await;
                Done::HeldRefusal(channel, refusal)
            }
            .boxed(),
        );
    }

    fn count_refusal(&mut self, reason: &str) {
        *self.metrics.refused.entry(reason.to_owned()).or_default() += 1;
    }

    fn on_swarm_event(&mut self, event: SwarmEvent<BehaviourEvent>) {
        self.record(&event);
        match event {
            SwarmEvent::NewListenAddr { address, .. } => {
                info!(%address, "listening");
                // What a relay listens on is where others reach it: circuit reservations
                // carry these addresses, and a reservation without one is refused.
                self.swarm.add_external_address(address.clone());
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
                } => {
                    #[cfg(feature = "test-utils")]
                    self.requesters.insert(peer);
                    // What an operator who logs at debug sees of who asks: senders appear
                    // under throwaway identities only.
                    debug!(%peer, "mailbox request");
                    self.on_request(peer, request, channel);
                }
                request_response::Event::InboundFailure { peer, error, .. } => {
                    self.metrics.bad_streams += 1;
                    let kind = match error {
                        InboundFailure::Timeout => "timeout",
                        InboundFailure::ConnectionClosed => "connection_closed",
                        InboundFailure::UnsupportedProtocols => "unsupported_protocols",
                        InboundFailure::ResponseOmission => "response_omission",
                        InboundFailure::Io(_) => "io",
                    };
                    *self
                        .metrics
                        .stream_failures
                        .entry(kind.to_owned())
                        .or_default() += 1;
                    debug!(%peer, "mailbox stream failed: {error}");
                }
                _ => {}
            },
            // The connection limits deny a connection once it is established, before any
            // behaviour sees it; this is the only place such a refusal shows.
            SwarmEvent::IncomingConnectionError {
                error: ListenError::Denied { cause },
                send_back_addr,
                ..
            } => {
                if let Some(exceeded) = cause.downcast_ref::<connection_limits::Exceeded>() {
                    self.count_refusal("connection_limit");
                    debug!(%send_back_addr, "refused a connection: {exceeded}");
                }
            }
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

    /// Validates a record offered for storage on the blocking pool (a signature check and a
    /// bundle parse each: too much for the event loop under a flood), at most
    /// [`MAX_VALIDATING`] at once; beyond that the offer is refused (`dht_record_busy`), as
    /// are offers from a peer beyond [`DHT_PUT_RATE`] (`dht_record_rate_limited`).
    fn check_record(&mut self, source: PeerId, record: kad::Record) {
        if !self.record_rates.try_take(&source, Instant::now()) {
            return self.refuse_record("rate_limited");
        }
        if self.validating >= MAX_VALIDATING {
            return self.refuse_record("busy");
        }
        let store = self.swarm.behaviour_mut().kad.store_mut();
        let held = kad::store::RecordStore::get(store, &record.key).map(|r| r.value.clone());
        self.validating += 1;
        self.pending.push(
            tokio::task::spawn_blocking(move || {
                let result = dht::accept_put(
                    record.key.as_ref(),
                    &record.value,
                    held.as_deref(),
                    now_secs(),
                );
                Done::RecordChecked {
                    source,
                    record,
                    held,
                    result,
                }
            })
            .map(|r| r.unwrap_or_else(|_| Done::Expired(0, 0)))
            .boxed(),
        );
    }

    /// Stores a record that passed validation, unless the record it was checked against
    /// changed meanwhile (then it is checked again).
    pub(super) fn on_record_checked(
        &mut self,
        source: PeerId,
        record: kad::Record,
        held: Option<Vec<u8>>,
        result: Result<(), dht::InvalidRecord>,
    ) {
        self.validating -= 1;
        if let Err(e) = result {
            debug!(reason = e.reason, "refused a DHT record: {e}");
            return self.refuse_record(e.reason);
        }
        let store = self.swarm.behaviour_mut().kad.store_mut();
        let now_held = kad::store::RecordStore::get(store, &record.key).map(|r| r.value.clone());
        if now_held != held {
            return self.check_record(source, record);
        }
        let _ = dht::store_fairly(store, &mut self.dht_ledger, source, record);
    }

    fn refuse_record(&mut self, reason: &str) {
        self.metrics.records_refused += 1;
        *self
            .metrics
            .refused
            .entry(format!("dht_record_{reason}"))
            .or_default() += 1;
    }

    fn on_kad_request(&mut self, request: kad::InboundRequest) {
        match request {
            kad::InboundRequest::PutRecord {
                source,
                record: Some(record),
                ..
            } => self.check_record(source, record),
            kad::InboundRequest::AddProvider {
                record: Some(record),
            } => {
                // A full list admits the newcomer and evicts from the most crowded network
                // group, instead of keeping whoever announced first (see `dht::providers`).
                let local = *self.swarm.local_peer_id();
                let store = self.swarm.behaviour_mut().kad.store_mut();
                let mut random = tern_crypto::rand_core::UnwrapErr(getrandom::SysRng);
                match dht::add_provider_fairly(store, local, record, &mut random) {
                    dht::Admitted::Evicted(_) => self.providers_evicted += 1,
                    dht::Admitted::Refused => self.count_refusal("dht_provider"),
                    dht::Admitted::Stored => {}
                }
            }
            _ => {}
        }
    }
}
