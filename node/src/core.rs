//! The core task: the only writer of the node's state, and the message pipeline.
//!
//! It owns the unlocked account, the prekey secrets, the sessions (cached in memory, written
//! through on every commit), the clock and the event counter. Requests from [`crate::Node`]
//! handles, inbound deliveries from the network task and outcomes of outbound deliveries all
//! arrive here and are handled one at a time, so no two writers ever race.
//!
//! **Nothing lost.** `send` writes the message, its outbox entry, the advanced session (if the
//! message could be encrypted at once) and the events into one synchronous database write
//! before anything touches the network, and only then answers with the message id. A received
//! envelope is acknowledged (`Stored`) only after the message, the session state it advanced,
//! the deduplication entries and the events are committed together. Received envelopes are
//! processed in groups, one synchronous write per group, so the cost of an fsync is shared.
//!
//! **Exactly once.** Retries resend the identical envelope from the outbox; the recipient
//! remembers envelopes it processed (`Seen`) and answers `Duplicate` without decrypting, and
//! also deduplicates by `(conversation, message id)` in case a sender re-encrypted.
//!
//! **A failed write is fatal.** If a commit fails the store is poisoned: this task stops
//! acknowledging anything (answers `Unavailable`) and reports the error, instead of carrying on
//! with memory that is ahead of the disk.

use std::{collections::HashMap, time::Duration};

use tern_crypto::{
    AccountKey, DeviceCertificate, Payload, PrekeySecrets, Session, SessionMessage, UserId,
    envelope::{self, MailboxPublicKey},
    rand_core::UnwrapErr,
};
use tern_proto::record::{self, PeerRecord};
use tokio::{
    sync::{broadcast, mpsc, oneshot},
    task::JoinSet,
};
use tokio_util::sync::CancellationToken;
use tracing::{debug, error, info, warn};

use crate::{
    body::{Body, Receipt, ReceiptKind, Text},
    event::{Cursor, DeliveryState, Direction, Event, Message},
    hlc::{self, Hlc, Stamp},
    id::MessageId,
    network::{self, Inbound, Status},
    store::{Batch, Direction as ScanDirection, Store, StoreError},
    tables::{
        ContactRow, Contacts, Conv, ConversationRow, Conversations, Events, MessageIndex,
        MessageRow, Messages, Outbox, OutboxRow, Replays, STATE_CLOCK, STATE_OUTBOX_SEQ,
        STATE_PREKEYS, STATE_RECORD_SEQ, STATE_RELAYS, Seen, Sessions, State,
    },
    upkeep::{self, Upkeep, certificate_due},
    view::{Chat, Contact, HistoryCursor, NodeStatus, Page, RelayStatus},
};

/// Most received envelopes committed in one write. Bounds the latency one message can add to
/// another's acknowledgement while sharing each fsync among many messages under load.
const INBOUND_BATCH: usize = 128;
/// Most sends accepted in one write: enough to share a sync among a burst of sends, few
/// enough that the first sender of a burst is not kept waiting long.
const SEND_BATCH: usize = 128;
/// Smallest group of received envelopes opened on two threads: below it, starting a thread
/// costs more than it saves, and a single message should not pay for one.
const PARALLEL_OPEN_MIN: usize = 8;
/// Most deliveries in flight at once.
const MAX_IN_FLIGHT: usize = 256;
/// Delay before the first retry; doubled per attempt up to [`MAX_RETRY_DELAY`].
const FIRST_RETRY_DELAY: Duration = Duration::from_secs(1);
/// Longest wait between retries: an offline contact is tried at least this often.
const MAX_RETRY_DELAY: Duration = Duration::from_secs(300);
/// How often the outbox is checked for due retries.
const OUTBOX_TICK: Duration = Duration::from_millis(500);
/// Peers whose sessions, records and one-time prekeys are cached: a few thousand active
/// contacts fit, and a stranger flooding session starts cannot grow the cache past it.
const MAX_CACHED_PEERS: usize = 4096;
/// Sessions kept per peer (newest first); older ones are forgotten.
const MAX_SESSIONS_PER_PEER: usize = 3;
/// How long a processed envelope is remembered: relays keep envelopes for 21 days, so a copy
/// may arrive that late; a week more covers retries.
const SEEN_RETENTION_MS: u64 = 28 * 24 * 60 * 60 * 1000;
/// Delay before retrying a failed publication of our record.
/// Relay health reports queued from collectors: they report only changes, so a few per relay.
const HEALTH_CAPACITY: usize = 64;
/// How often our relays' health is checked (a cheap look at a map).
const RELAY_CHECK_EVERY: Duration = Duration::from_secs(1);
/// Asking the DHT for relays again after finding none: from this…
const FIRST_DISCOVERY_BACKOFF: Duration = Duration::from_secs(2);
/// …doubling up to this.
const MAX_DISCOVERY_BACKOFF: Duration = Duration::from_secs(300);
const PUBLISH_RETRY: Duration = Duration::from_secs(5);
/// Largest page of history or chats a caller may ask for.
pub(crate) const MAX_PAGE: usize = 500;

/// Why a request failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The message text is empty or too long.
    #[error("invalid message: {0}")]
    InvalidMessage(String),
    /// No such contact or conversation.
    #[error("unknown contact {0}")]
    UnknownContact(String),
    /// A contact with that name already exists.
    #[error("a contact named {0:?} already exists")]
    DuplicateName(String),
    /// The database failed; the node no longer accepts changes.
    #[error("storage failed: {0}")]
    Storage(String),
    /// The node is shutting down.
    #[error("the node has stopped")]
    Stopped,
    /// A cursor or argument is malformed.
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    /// The passphrase given as the current one is wrong.
    #[error("wrong passphrase")]
    WrongPassphrase,
}

impl From<StoreError> for Error {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::WrongPassphrase => Self::WrongPassphrase,
            other => Self::Storage(other.to_string()),
        }
    }
}

pub(crate) enum Request {
    Send {
        peer: UserId,
        text: String,
        reply: oneshot::Sender<Result<MessageId, Error>>,
    },
    AddContact {
        name: String,
        user: UserId,
        reply: oneshot::Sender<Result<(), Error>>,
    },
    RemoveContact {
        user: UserId,
        reply: oneshot::Sender<Result<(), Error>>,
    },
    VerifyContact {
        user: UserId,
        verified: bool,
        reply: oneshot::Sender<Result<(), Error>>,
    },
    Contacts {
        reply: oneshot::Sender<Result<Vec<Contact>, Error>>,
    },
    Chats {
        reply: oneshot::Sender<Result<Vec<Chat>, Error>>,
    },
    History {
        peer: UserId,
        limit: usize,
        before: Option<HistoryCursor>,
        reply: oneshot::Sender<Result<Page, Error>>,
    },
    MarkRead {
        peer: UserId,
        reply: oneshot::Sender<Result<usize, Error>>,
    },
    Status {
        reply: oneshot::Sender<Result<NodeStatus, Error>>,
    },
    /// New one-time prekeys for a relay of ours, their secrets durable before the reply.
    OneTimePrekeys {
        count: usize,
        reply: oneshot::Sender<Result<Vec<tern_crypto::OneTimePrekey>, Error>>,
    },
}

/// A received envelope after the stateless checks.
struct Prepared {
    digest: [u8; 16],
    /// `None` when the envelope was processed before; otherwise the result of opening it.
    opened: Option<Result<envelope::Opened, envelope::EnvelopeError>>,
}

/// One `send` call waiting to be accepted.
struct SendRequest {
    peer: UserId,
    text: String,
    reply: oneshot::Sender<Result<MessageId, Error>>,
}

/// What came back from a delivery attempt.
enum Outcome {
    Delivered {
        seq: u64,
        status: Result<Status, network::NetError>,
    },
    Looked {
        peer: UserId,
        record: Result<Box<PeerRecord>, network::NetError>,
        /// A one-time prekey from one of the peer's relays, when a session must be started.
        one_time: Option<tern_crypto::OneTimePrekey>,
    },
    /// Relays found in the DHT that answered, to add to ours.
    RelaysFound(Vec<(libp2p::PeerId, Vec<libp2p::Multiaddr>)>),
    Published {
        seq: u64,
        result: Result<(), network::NetError>,
    },
    /// A deposit at the recipient's relays: how many signed custody of how many tried.
    Deposited {
        seq: u64,
        deposit: crate::relay_path::Deposit,
    },
}

/// What the core task starts from: the unlocked state loaded at start.
pub(crate) struct Parts {
    pub(crate) store: Store,
    pub(crate) account: AccountKey,
    pub(crate) prekeys: PrekeySecrets,
    pub(crate) certificate: DeviceCertificate,
    pub(crate) clock: Hlc,
    /// The time of day.
    pub(crate) time: crate::Clock,
    pub(crate) net: network::Handle,
    pub(crate) requests: mpsc::Receiver<Request>,
    /// The sending side of `requests`.
    pub(crate) requests_tx: mpsc::Sender<Request>,
    /// Whether to pick relays from the DHT while fewer than three work.
    pub(crate) discovery: bool,
    /// How long a relay picked from the DHT may fail before it is replaced.
    pub(crate) failover_after: Duration,
    pub(crate) inbound: mpsc::Receiver<Inbound>,
    pub(crate) events: broadcast::Sender<(Cursor, Event)>,
    pub(crate) next_event: u64,
    /// Shared with the handles: the cursor the next committed event will get.
    pub(crate) committed_events: std::sync::Arc<std::sync::atomic::AtomicU64>,
    pub(crate) next_outbox: u64,
    pub(crate) record_seq: u64,
    pub(crate) cancel: CancellationToken,
    /// The relays that hold our mailbox (pinned in the configuration).
    pub(crate) relays: Vec<(libp2p::PeerId, Vec<libp2p::Multiaddr>)>,
    /// Whether messages may go straight to recipients (otherwise only through relays).
    pub(crate) direct: bool,
}

pub(crate) struct Core {
    store: Store,
    /// Deposits the recipients' relays refused, by reason (shown in the status).
    deposits_refused: std::collections::BTreeMap<&'static str, u64>,
    /// Shared with blocking tasks that open envelopes in parallel.
    account: std::sync::Arc<AccountKey>,
    prekeys: PrekeySecrets,
    certificate: DeviceCertificate,
    clock: Hlc,
    time: crate::Clock,
    net: network::Handle,
    requests: mpsc::Receiver<Request>,
    inbound: mpsc::Receiver<Inbound>,
    events: broadcast::Sender<(Cursor, Event)>,
    next_event: u64,
    committed_events: std::sync::Arc<std::sync::atomic::AtomicU64>,
    next_outbox: u64,
    record_seq: u64,
    cancel: CancellationToken,
    sessions: HashMap<UserId, Vec<Session>>,
    records: HashMap<UserId, PeerRecord>,
    /// Records whose addresses failed, kept for their relays and mailbox until a fresh lookup
    /// replaces them: every message that failed to the same peer, not only the first one
    /// noticed, can then go to its relays at once.
    stale_records: HashMap<UserId, PeerRecord>,
    in_flight: JoinSet<Outcome>,
    /// The outbox in memory (sequence → what dispatching needs), loaded at start and kept
    /// in step with every commit.
    outbox: std::collections::BTreeMap<u64, Queued>,
    /// Outbox entries being delivered, so a tick does not send them twice.
    busy: std::collections::HashSet<u64>,
    /// Peers whose record is being looked up.
    lookups: std::collections::HashSet<UserId>,
    /// One-time prekeys taken from peers' relays, each for the next session started with
    /// that peer.
    one_time: HashMap<UserId, tern_crypto::OneTimePrekey>,
    /// A handle on our own request queue, for the relay collectors (one-time prekeys).
    requests_tx: mpsc::Sender<Request>,
    /// Relays from the configuration: never replaced.
    pinned: std::collections::HashSet<libp2p::PeerId>,
    /// Since when each of our relays has been failing (absent: working), from the reports
    /// of its collector.
    relay_health: HashMap<libp2p::PeerId, std::time::Instant>,
    /// Collectors' reports on their relays, and the sending side handed to each.
    health_rx: mpsc::Receiver<crate::relay_path::HealthReport>,
    health_tx: mpsc::Sender<crate::relay_path::HealthReport>,
    /// Each collector's stop switch.
    collectors: HashMap<libp2p::PeerId, CancellationToken>,
    /// Whether to pick relays from the DHT.
    discovery: bool,
    /// How long a picked relay may fail before it is replaced.
    failover_after: Duration,
    discovering: bool,
    next_discovery: std::time::Instant,
    discovery_backoff: Duration,
    /// The record no longer says what it should (relays changed): publish again.
    record_stale: bool,
    /// Whether a publication of our record is under way.
    publishing: bool,
    /// When our record must be published again (Unix seconds): halfway through the lifetime
    /// of the one last signed.
    republish_at: u64,
    /// The sequence number of the record last published with success.
    published_seq: Option<u64>,
    /// Failed publications in a row, so that an offline node warns once, not every retry.
    publish_failures: u32,
    /// Set when a commit failed: nothing is acknowledged any more.
    failed: bool,
    /// Entries just committed with their sealed envelope, to send without reading them back.
    ready: Vec<(u64, Vec<u8>)>,
    /// The relays that hold our mailbox.
    relays: Vec<(libp2p::PeerId, Vec<libp2p::Multiaddr>)>,
    /// One task per relay collecting our mail; aborted when the core stops.
    fetchers: JoinSet<()>,
    /// Whether messages may go straight to recipients.
    direct: bool,
    /// What to restore if a received envelope or group fails before its commit.
    undo: Undo,
    /// When to rotate keys and prune, and the pruning pass in progress.
    upkeep: Upkeep,
}

/// Everything one commit changes, plus the events to publish once it is durable.
struct Pending {
    batch: Batch,
    events: Vec<Event>,
    /// Outbox entries the batch adds, entered into the in-memory index once it is durable,
    /// with their envelope when it is already sealed (sent at once, without a read).
    queued: Vec<(u64, Queued, Option<Vec<u8>>)>,
    /// Outbox entries encrypted but not yet sealed: sealed together just before the commit.
    to_seal: Vec<ToSeal>,
}

/// An outbox entry whose ratchet message waits to be sealed into an envelope.
struct ToSeal {
    seq: u64,
    row: OutboxRow,
    message: SessionMessage,
    mailbox: MailboxPublicKey,
}

impl Pending {
    fn new(batch: Batch, events: Vec<Event>) -> Self {
        Self {
            batch,
            events,
            queued: Vec::new(),
            to_seal: Vec::new(),
        }
    }
}

/// What the core keeps in memory about each outbox entry, so that dispatching and
/// acknowledging do not read the outbox.
#[derive(Debug, Clone)]
struct Queued {
    peer: UserId,
    id: MessageId,
    visible: bool,
    next_attempt_ms: u64,
}

impl Queued {
    fn of(row: &OutboxRow) -> Self {
        Self {
            peer: row.peer,
            id: row.id,
            visible: row.visible,
            next_attempt_ms: row.next_attempt_ms,
        }
    }
}

/// What a group of received envelopes has staged so far, so that later envelopes of the same
/// group see the effects of earlier ones before anything is committed.
#[derive(Default, Clone)]
struct Group {
    seen: std::collections::HashSet<[u8; 16]>,
    ids: std::collections::HashSet<(Conv, [u8; 16])>,
    replays: std::collections::HashSet<[u8; 32]>,
    summaries: HashMap<Conv, ConversationRow>,
    touched: Vec<UserId>,
    prekeys_changed: bool,
    /// Whether the envelope being processed came from a relay.
    via_relay: bool,
    /// Texts collected from relays, by sender: their senders get delivery receipts.
    delivered: Vec<(UserId, MessageId)>,
    /// The send stamp of each `MessageReceived` event the group adds, in event order.
    received_stamps: Vec<Stamp>,
}

/// Everything one received envelope may change before its group commits, taken before it is
/// processed: if processing fails half-way, restoring it undoes the envelope's effects (in
/// memory and in the batch) and leaves those of the envelopes before it.
struct Savepoint {
    sender: Option<UserId>,
    /// The sender's sessions as they were (`None`: not cached).
    sessions: Option<Vec<zeroize::Zeroizing<Vec<u8>>>>,
    clock: Hlc,
    staged: Group,
    batch_len: usize,
    events_len: usize,
}

/// Prekey secrets as they were before a received group, and before its current envelope,
/// consumed a one-time prekey; kept only while a group is processed.
#[derive(Default)]
struct Undo {
    group_prekeys: Option<zeroize::Zeroizing<Vec<u8>>>,
    envelope_prekeys: Option<zeroize::Zeroizing<Vec<u8>>>,
}

impl Savepoint {
    fn take(core: &mut Core, pending: &Pending, staged: &Group, prepared: &Prepared) -> Self {
        core.undo.envelope_prekeys = None;
        let opened = match &prepared.opened {
            Some(Ok(opened)) => Some(opened),
            _ => None,
        };
        let sender = opened.map(|o| o.sender);
        Self {
            sender,
            sessions: sender.and_then(|sender| {
                core.sessions
                    .get(&sender)
                    .map(|sessions| sessions.iter().map(Session::to_bytes).collect())
            }),
            clock: core.clock,
            staged: staged.clone(),
            batch_len: pending.batch.len(),
            events_len: pending.events.len(),
        }
    }

    fn restore(self, core: &mut Core, pending: &mut Pending, staged: &mut Group) {
        if let Some(sender) = self.sender {
            match self.sessions {
                Some(saved) => {
                    let sessions = saved
                        .iter()
                        .filter_map(|bytes| Session::from_bytes(bytes).ok())
                        .collect();
                    core.sessions.insert(sender, sessions);
                }
                // Reloaded from the store, which holds no effect of this group yet.
                None => {
                    core.sessions.remove(&sender);
                }
            }
        }
        if let Some(bytes) = core.undo.envelope_prekeys.take() {
            core.restore_prekeys(&bytes);
        }
        core.clock = self.clock;
        *staged = self.staged;
        pending.batch.truncate(self.batch_len);
        pending.events.truncate(self.events_len);
    }
}

impl Core {
    pub(crate) fn new(parts: Parts) -> Self {
        let (health_tx, health_rx) = mpsc::channel(HEALTH_CAPACITY);
        Self {
            store: parts.store,
            deposits_refused: std::collections::BTreeMap::new(),
            account: std::sync::Arc::new(parts.account),
            prekeys: parts.prekeys,
            certificate: parts.certificate,
            clock: parts.clock,
            time: parts.time.clone(),
            net: parts.net,
            requests: parts.requests,
            inbound: parts.inbound,
            events: parts.events,
            next_event: parts.next_event,
            committed_events: parts.committed_events,
            next_outbox: parts.next_outbox,
            record_seq: parts.record_seq,
            cancel: parts.cancel,
            sessions: HashMap::new(),
            records: HashMap::new(),
            stale_records: HashMap::new(),
            in_flight: JoinSet::new(),
            outbox: Default::default(),
            busy: Default::default(),
            lookups: Default::default(),
            one_time: HashMap::new(),
            requests_tx: parts.requests_tx,
            pinned: parts.relays.iter().map(|(peer, _)| *peer).collect(),
            relay_health: HashMap::new(),
            health_rx,
            health_tx,
            collectors: HashMap::new(),
            discovery: parts.discovery,
            failover_after: parts.failover_after,
            discovering: false,
            next_discovery: std::time::Instant::now(),
            discovery_backoff: FIRST_DISCOVERY_BACKOFF,
            record_stale: false,
            publishing: false,
            republish_at: 0,
            published_seq: None,
            publish_failures: 0,
            failed: false,
            ready: Vec::new(),
            relays: parts.relays,
            fetchers: JoinSet::new(),
            direct: parts.direct,
            undo: Undo::default(),
            upkeep: Upkeep::new(parts.time.now_ms()),
        }
    }

    pub(crate) async fn run(mut self) {
        // Relays picked from the DHT earlier stay ours across restarts: senders were told
        // about them in our record.
        match self
            .read(|s| s.get::<State>(&STATE_RELAYS.to_owned()))
            .await
        {
            Ok(Some(bytes)) => {
                for (peer, addresses) in crate::relay_path::decode_relays(&bytes) {
                    if !self.relays.iter().any(|(p, _)| *p == peer) {
                        self.relays.push((peer, addresses));
                    }
                }
            }
            Ok(None) => {}
            Err(e) => warn!("cannot read the relays picked earlier: {e}"),
        }
        for (relay, addresses) in self.relays.clone() {
            self.start_collector(relay, addresses);
        }
        match self
            .read(|s| s.scan::<Outbox>(.., ScanDirection::Forward, usize::MAX))
            .await
        {
            Ok(rows) => {
                self.outbox = rows
                    .iter()
                    .map(|(seq, row)| (*seq, Queued::of(row)))
                    .collect();
            }
            Err(e) => {
                error!("cannot read the outbox, refusing changes: {e}");
                self.failed = true;
            }
        }
        let mut tick = tokio::time::interval(OUTBOX_TICK);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut relay_check = tokio::time::interval(RELAY_CHECK_EVERY);
        relay_check.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut addresses = self.net.addresses();
        // A failed publication is retried this much later.
        let mut retry_publish = Box::pin(tokio::time::sleep(Duration::MAX));
        loop {
            tokio::select! {
                () = self.cancel.cancelled() => break,
                Ok(()) = addresses.changed() => self.publish().await,
                () = &mut retry_publish, if !self.publishing => {
                    retry_publish.as_mut().reset(tokio::time::Instant::now() + Duration::from_secs(3600 * 24 * 365));
                    self.publish().await;
                }
                Some(request) = self.requests.recv() => self.on_requests(request).await,
                Some(first) = self.inbound.recv() => {
                    let mut group = vec![first];
                    while group.len() < INBOUND_BATCH {
                        match self.inbound.try_recv() {
                            Ok(next) => group.push(next),
                            Err(_) => break,
                        }
                    }
                    self.on_inbound(group).await;
                }
                Some(Ok(first)) = self.in_flight.join_next(), if !self.in_flight.is_empty() => {
                    let mut outcomes = vec![first];
                    while outcomes.len() < INBOUND_BATCH {
                        match self.in_flight.try_join_next() {
                            Some(Ok(next)) => outcomes.push(next),
                            Some(Err(_)) => {}
                            None => break,
                        }
                    }
                    for outcome in &outcomes {
                        if let Outcome::Published { seq, result } = outcome {
                            self.publishing = false;
                            match result {
                                Ok(()) => {
                                    self.publish_failures = 0;
                                    self.published_seq = Some(*seq);
                                    info!(seq, "published our record");
                                }
                                Err(e) => {
                                    // A node without peers (offline, or before its first
                                    // bootstrap) fails every few seconds: say it once.
                                    if self.publish_failures == 0 {
                                        warn!("publishing our record failed, retrying every {} s: {e}", PUBLISH_RETRY.as_secs());
                                    } else {
                                        debug!("publishing our record failed again: {e}");
                                    }
                                    self.publish_failures += 1;
                                    retry_publish.as_mut().reset(tokio::time::Instant::now() + PUBLISH_RETRY);
                                }
                            }
                        }
                    }
                    self.on_outcomes(outcomes).await;
                }
                _ = tick.tick() => {
                    self.upkeep().await;
                    self.dispatch_due().await;
                }
                _ = relay_check.tick() => self.check_relays().await,
                Some((relay, working)) = self.health_rx.recv() => {
                    if working {
                        self.relay_health.remove(&relay);
                    } else if self.relays.iter().any(|(peer, _)| *peer == relay) {
                        self.relay_health.entry(relay).or_insert_with(std::time::Instant::now);
                    }
                }
            }
            if self.record_stale && !self.publishing {
                self.publish().await;
            }
        }
        self.in_flight.abort_all();
        debug!("core task stopped");
    }

    /// The chores of a node that runs for months, as [`Upkeep`] schedules them: rotating
    /// prekeys, renewing the device certificate (both republished, the bundle handed to the
    /// collectors), bounding the caches, and one page of pruning per call while a pass runs.
    async fn upkeep(&mut self) {
        let now_ms = self.time.now_ms();
        if self.upkeep.due(now_ms) {
            let now = now_ms / 1000;
            let rotated =
                self.prekeys
                    .rotate(&mut UnwrapErr(getrandom::SysRng), &self.account, now);
            // Also persists the retirement of old secrets, which `rotate` does silently. The
            // new secrets are durable before their public halves are published.
            let mut pending = Pending::new(Batch::new(), Vec::new());
            let saved = match pending
                .batch
                .put::<State>(&STATE_PREKEYS.to_owned(), &self.prekeys.to_bytes())
            {
                Ok(()) => self.commit(pending).await.map(|_| ()),
                Err(e) => Err(e.into()),
            };
            if let Err(e) = saved {
                error!("cannot store rotated prekeys: {e}");
                return;
            }
            let certificate = &self.certificate;
            if certificate_due(certificate.created(), certificate.expires(), now) {
                info!("renewing the device certificate");
                self.certificate = self.account.certify_device(
                    certificate.device(),
                    now,
                    now + upkeep::CERTIFICATE_LIFETIME_SECS,
                );
                self.record_stale = true;
            }
            if rotated {
                info!("rotated the signed prekeys");
                self.record_stale = true;
                // Collectors prove mailbox ownership with the current bundle.
                for (relay, addresses) in self.relays.clone() {
                    self.start_collector(relay, addresses);
                }
            }
            self.forget_expired_records(now);
        }
        // Republished by the date, not by a timer: a machine that slept, or a clock that
        // jumped, would otherwise let the record expire in the DHT while the node runs.
        if now_ms / 1000 >= self.republish_at && !self.publishing {
            self.record_stale = true;
        }
        self.bound_caches();
        if let Some(page) = self.upkeep.next_page() {
            match self.prune(page, now_ms).await {
                Ok(last) => self.upkeep.page_done(last),
                Err(e) => warn!("pruning the deduplication tables failed: {e}"),
            }
        }
    }

    /// Deletes the expired rows of one page of a deduplication table; returns the key of the
    /// last row examined, or `None` when the table has no more.
    async fn prune(&mut self, page: upkeep::Page, now_ms: u64) -> Result<Option<Vec<u8>>, Error> {
        fn page_of<T>(
            store: &Store,
            after: Option<Vec<u8>>,
            now_ms: u64,
        ) -> Result<(Batch, Option<Vec<u8>>), StoreError>
        where
            T: crate::store::Table<Value = u64>,
            T::Key: for<'a> TryFrom<&'a [u8]> + AsRef<[u8]>,
        {
            use std::ops::Bound;
            let lower = match after.as_deref().map(T::Key::try_from) {
                Some(Ok(key)) => Bound::Excluded(key),
                _ => Bound::Unbounded,
            };
            let rows = store.scan::<T>(
                (lower, Bound::Unbounded),
                ScanDirection::Forward,
                upkeep::PRUNE_PAGE,
            )?;
            let mut batch = Batch::new();
            for (key, expires) in &rows {
                if *expires <= now_ms {
                    batch.delete::<T>(key);
                }
            }
            let last = (rows.len() == upkeep::PRUNE_PAGE)
                .then(|| rows.last().map(|(key, _)| key.as_ref().to_vec()))
                .flatten();
            Ok((batch, last))
        }
        let (batch, last) = self
            .read(move |store| match page.table {
                upkeep::Table::Seen => page_of::<Seen>(store, page.after, now_ms),
                upkeep::Table::Replays => page_of::<Replays>(store, page.after, now_ms),
            })
            .await?;
        if !batch.is_empty() {
            debug!(
                deleted = batch.len(),
                "pruned expired deduplication entries"
            );
            self.commit(Pending::new(batch, Vec::new())).await?;
        }
        Ok(last)
    }

    /// Drops looked-up records past their expiry (they are looked up again when needed).
    fn forget_expired_records(&mut self, now: u64) {
        self.records.retain(|_, record| record.expires > now);
        self.stale_records.retain(|_, record| record.expires > now);
    }

    /// Keeps the in-memory caches within their bounds. Sessions are written through and
    /// records can be looked up again, so an evicted entry costs only a read or a lookup.
    /// Runs only between operations, never while a group holds staged sessions.
    fn bound_caches(&mut self) {
        fn bound<V>(map: &mut HashMap<UserId, V>, max: usize) {
            if map.len() > max {
                let excess: Vec<UserId> =
                    map.keys().take(map.len() - max * 3 / 4).copied().collect();
                for key in excess {
                    map.remove(&key);
                }
            }
        }
        bound(&mut self.sessions, MAX_CACHED_PEERS);
        bound(&mut self.records, MAX_CACHED_PEERS);
        bound(&mut self.stale_records, MAX_CACHED_PEERS);
        bound(&mut self.one_time, MAX_CACHED_PEERS);
    }

    /// Starts collecting mail from `relay` (and stocking it with one-time prekeys).
    fn start_collector(&mut self, relay: libp2p::PeerId, addresses: Vec<libp2p::Multiaddr>) {
        let cancel = self.cancel.child_token();
        if let Some(old) = self.collectors.insert(relay, cancel.clone()) {
            old.cancel();
        }
        let bundle = self.prekeys.bundle(&self.account, self.record_seq);
        self.fetchers.spawn(crate::relay_path::collect(
            crate::relay_path::Collector {
                net: self.net.clone(),
                account: self.account.clone(),
                bundle,
                relay,
                addresses,
                core: self.requests_tx.clone(),
                health: self.health_tx.clone(),
            },
            cancel,
        ));
    }

    /// Replaces relays picked from the DHT that have failed for longer than the failover
    /// delay, and looks for more while fewer than [`crate::relay_path::REPLICAS`] work.
    /// Pinned relays are the operator's choice: never dropped, but a failing one does not
    /// count as working, so a picked relay is added beside it.
    async fn check_relays(&mut self) {
        if !self.discovery {
            return;
        }
        let now = std::time::Instant::now();
        let failing = self.relay_health.clone();
        let failover_after = self.failover_after;
        let down = |peer: &libp2p::PeerId| {
            failing
                .get(peer)
                .is_some_and(|since| now.duration_since(*since) >= failover_after)
        };
        let dead: Vec<libp2p::PeerId> = self
            .relays
            .iter()
            .map(|(peer, _)| *peer)
            .filter(|peer| !self.pinned.contains(peer) && down(peer))
            .collect();
        if !dead.is_empty() {
            for peer in &dead {
                info!(%peer, "a relay of ours has been unreachable too long; replacing it");
                if let Some(token) = self.collectors.remove(peer) {
                    token.cancel();
                }
            }
            self.relays.retain(|(peer, _)| !dead.contains(peer));
            self.relay_health.retain(|peer, _| !dead.contains(peer));
            self.save_relays().await;
            self.record_stale = true;
            self.next_discovery = now;
        }
        let working = self.relays.iter().filter(|(peer, _)| !down(peer)).count();
        if self.discovering || now < self.next_discovery || working >= crate::relay_path::REPLICAS {
            return;
        }
        self.discovering = true;
        let exclude: std::collections::HashSet<libp2p::PeerId> =
            self.relays.iter().map(|(peer, _)| *peer).collect();
        let need = crate::relay_path::REPLICAS - working;
        let net = self.net.clone();
        self.in_flight.spawn(async move {
            Outcome::RelaysFound(crate::relay_path::discover(&net, &exclude, need).await)
        });
    }

    /// Takes relays found in the DHT into our set, record and collectors.
    async fn add_relays(&mut self, found: Vec<(libp2p::PeerId, Vec<libp2p::Multiaddr>)>) {
        self.discovering = false;
        let now = std::time::Instant::now();
        if found.is_empty() {
            // None (more) in the DHT yet, or the DHT not joined: ask again later, less often.
            self.discovery_backoff = (self.discovery_backoff * 2).min(MAX_DISCOVERY_BACKOFF);
            self.next_discovery = now + self.discovery_backoff;
            return;
        }
        self.discovery_backoff = FIRST_DISCOVERY_BACKOFF;
        self.next_discovery = now;
        for (peer, addresses) in found {
            if self.relays.iter().any(|(p, _)| *p == peer) {
                continue;
            }
            info!(%peer, "picked a mailbox relay from the DHT");
            self.relays.push((peer, addresses.clone()));
            self.start_collector(peer, addresses);
        }
        self.save_relays().await;
        self.record_stale = true;
    }

    /// Our relays, working ones first: senders deposit at the first three listed.
    fn relays_in_order(&self) -> Vec<(libp2p::PeerId, Vec<libp2p::Multiaddr>)> {
        let mut relays = self.relays.clone();
        relays.sort_by_key(|(peer, _)| self.relay_health.contains_key(peer));
        relays
    }

    /// Persists the relays picked from the DHT (pinned ones come from the configuration).
    async fn save_relays(&mut self) {
        let picked: Vec<_> = self
            .relays
            .iter()
            .filter(|(peer, _)| !self.pinned.contains(peer))
            .cloned()
            .collect();
        let mut batch = Batch::new();
        let saved = match batch.put::<State>(
            &STATE_RELAYS.to_owned(),
            &crate::relay_path::encode_relays(&picked),
        ) {
            Ok(()) => self
                .commit(Pending::new(batch, Vec::new()))
                .await
                .map(|_| ()),
            Err(e) => Err(e.into()),
        };
        if let Err(e) = saved {
            warn!("cannot store the relays picked from the DHT: {e}");
        }
    }

    /// Signs and publishes our DHT record with the current addresses and bundle.
    async fn publish(&mut self) {
        if self.publishing {
            // Published again when this one finishes.
            self.record_stale = true;
            return;
        }
        self.record_stale = false;
        let addresses = self.net.addresses().borrow().clone();
        if addresses.is_empty() {
            return;
        }
        // Relay-only: our addresses stay out of the record, so contacts cannot learn them.
        let addresses = if self.direct { addresses } else { Vec::new() };
        self.record_seq += 1;
        let seq = self.record_seq;
        let now = self.time.now_secs();
        self.republish_at = now + record::REPUBLISH_INTERVAL_SECS;
        let bundle = self.prekeys.bundle(&self.account, seq);
        let value = record::sign(
            &self.account,
            &self.certificate,
            &addresses,
            &bundle,
            &self
                .relays_in_order()
                .iter()
                .map(|(peer, addresses)| record::RelayEntry {
                    peer: peer.to_bytes(),
                    addresses: addresses.iter().map(|a| a.to_vec()).collect(),
                })
                .collect::<Vec<_>>(),
            seq,
            now + record::RECORD_LIFETIME_SECS,
        );
        // The sequence number must never repeat, even across a crash: persist it first. A
        // failure here only delays the publication.
        let mut batch = Batch::new();
        if batch
            .put::<State>(&STATE_RECORD_SEQ.to_owned(), &seq.to_be_bytes().to_vec())
            .is_err()
            || self.commit(Pending::new(batch, Vec::new())).await.is_err()
        {
            return;
        }
        self.publishing = true;
        let net = self.net.clone();
        let key = record::key_for(&self.account.user_id());
        self.in_flight.spawn(async move {
            Outcome::Published {
                seq,
                result: net.publish(key, value).await,
            }
        });
    }

    fn conv(&self, peer: &UserId) -> Conv {
        self.store.index_id("conversation", peer.as_bytes())
    }

    /// Commits and publishes; on failure the node stops accepting changes.
    async fn commit(&mut self, mut pending: Pending) -> Result<Vec<(Cursor, Event)>, Error> {
        if self.failed {
            return Err(Error::Storage(
                "the store failed earlier; restart the node".into(),
            ));
        }
        self.seal_pending(&mut pending).await?;
        let Pending {
            mut batch,
            events,
            queued,
            ..
        } = pending;
        let mut published = Vec::with_capacity(events.len());
        for event in events {
            let cursor = Cursor(self.next_event);
            self.next_event += 1;
            batch.put::<Events>(&cursor.0, &event)?;
            published.push((cursor, event));
        }
        // Keep the log bounded: every event committed retires one past the retention.
        if let Some(oldest) = self
            .next_event
            .checked_sub(crate::event::EVENT_RETENTION + published.len() as u64)
        {
            for seq in oldest..oldest + published.len() as u64 {
                batch.delete::<Events>(&seq);
            }
        }
        batch.put::<State>(
            &STATE_CLOCK.to_owned(),
            &self.clock.last().to_be_bytes().to_vec(),
        )?;
        let store = self.store.clone();
        let result = tokio::task::spawn_blocking(move || store.commit(batch)).await;
        match result {
            Ok(Ok(())) => {
                for (seq, entry, envelope) in queued {
                    self.outbox.insert(seq, entry);
                    if let Some(envelope) = envelope {
                        self.ready.push((seq, envelope));
                    }
                }
                self.committed_events
                    .store(self.next_event, std::sync::atomic::Ordering::SeqCst);
                for item in &published {
                    // No subscriber is not an error: the log keeps the events.
                    let _ = self.events.send(item.clone());
                }
                Ok(published)
            }
            Ok(Err(e)) => {
                self.failed = true;
                error!("database write failed, refusing further changes: {e}");
                Err(e.into())
            }
            Err(e) => {
                self.failed = true;
                error!("database task failed: {e}");
                Err(Error::Storage(e.to_string()))
            }
        }
    }

    async fn read<R: Send + 'static>(
        &self,
        f: impl FnOnce(&Store) -> Result<R, StoreError> + Send + 'static,
    ) -> Result<R, Error> {
        let store = self.store.clone();
        tokio::task::spawn_blocking(move || f(&store))
            .await
            .map_err(|e| Error::Storage(e.to_string()))?
            .map_err(Error::from)
    }

    async fn load_sessions(&mut self, peer: &UserId) -> Result<(), Error> {
        if self.sessions.contains_key(peer) {
            return Ok(());
        }
        let conv = self.conv(peer);
        let stored = self
            .read(move |s| s.get::<Sessions>(&conv))
            .await?
            .unwrap_or_default();
        let sessions = stored
            .iter()
            .filter_map(|bytes| Session::from_bytes(bytes).ok())
            .collect();
        self.sessions.insert(*peer, sessions);
        Ok(())
    }

    fn stage_sessions(&self, batch: &mut Batch, peer: &UserId) -> Result<(), Error> {
        if let Some(sessions) = self.sessions.get(peer) {
            let bytes: Vec<Vec<u8>> = sessions.iter().map(|s| s.to_bytes().to_vec()).collect();
            batch.put::<Sessions>(&self.conv(peer), &bytes)?;
        }
        Ok(())
    }

    /// Handles `first` and, when it is a send, the sends queued right behind it as one group.
    async fn on_requests(&mut self, first: Request) {
        let mut sends = Vec::new();
        let mut next = Some(first);
        while let Some(request) = next.take() {
            match request {
                Request::Send { peer, text, reply } => {
                    sends.push(SendRequest { peer, text, reply });
                    if sends.len() < SEND_BATCH {
                        next = self.requests.try_recv().ok();
                    }
                }
                other => {
                    if !sends.is_empty() {
                        self.send_group(std::mem::take(&mut sends)).await;
                    }
                    self.on_request(other).await;
                }
            }
        }
        if !sends.is_empty() {
            self.send_group(sends).await;
        }
        self.dispatch_due().await;
    }

    async fn on_request(&mut self, request: Request) {
        match request {
            Request::Send { peer, text, reply } => {
                self.send_group(vec![SendRequest { peer, text, reply }])
                    .await;
            }
            Request::AddContact { name, user, reply } => {
                let _ = reply.send(self.add_contact(name, user).await);
            }
            Request::RemoveContact { user, reply } => {
                let conv = self.conv(&user);
                let mut batch = Batch::new();
                batch.delete::<Contacts>(&conv);
                let _ = reply.send(self.commit(Pending::new(batch, vec![])).await.map(|_| ()));
            }
            Request::VerifyContact {
                user,
                verified,
                reply,
            } => {
                let _ = reply.send(self.verify_contact(user, verified).await);
            }
            Request::Contacts { reply } => {
                let result = self
                    .read(|s| s.scan::<Contacts>(.., ScanDirection::Forward, usize::MAX))
                    .await
                    .map(|rows| {
                        rows.into_iter()
                            .map(|(_, r)| Contact {
                                user: r.user,
                                name: r.name,
                                verified: r.verified,
                            })
                            .collect()
                    });
                let _ = reply.send(result);
            }
            Request::Chats { reply } => {
                let _ = reply.send(self.chats().await);
            }
            Request::History {
                peer,
                limit,
                before,
                reply,
            } => {
                let _ = reply.send(self.history(peer, limit, before).await);
            }
            Request::MarkRead { peer, reply } => {
                let result = self.mark_read(peer).await;
                let _ = reply.send(result);
                self.dispatch_due().await;
            }
            Request::Status { reply } => {
                let _ = reply.send(self.status().await);
            }
            Request::OneTimePrekeys { count, reply } => {
                let _ = reply.send(self.one_time_prekeys(count).await);
            }
        }
    }

    /// Makes up to `count` one-time prekeys (fewer near the cap on held secrets) and stores
    /// their secrets before the public halves leave for a relay.
    async fn one_time_prekeys(
        &mut self,
        count: usize,
    ) -> Result<Vec<tern_crypto::OneTimePrekey>, Error> {
        let prekeys =
            self.prekeys
                .generate_one_time(&mut UnwrapErr(getrandom::SysRng), &self.account, count);
        if prekeys.is_empty() {
            return Ok(prekeys);
        }
        let mut pending = Pending::new(Batch::new(), Vec::new());
        pending
            .batch
            .put::<State>(&STATE_PREKEYS.to_owned(), &self.prekeys.to_bytes())?;
        self.commit(pending).await?;
        Ok(prekeys)
    }

    async fn verify_contact(&mut self, user: UserId, verified: bool) -> Result<(), Error> {
        let conv = self.conv(&user);
        let mut row = self
            .read(move |s| s.get::<Contacts>(&conv))
            .await?
            .ok_or_else(|| Error::UnknownContact(user.to_string()))?;
        row.verified = verified;
        let mut batch = Batch::new();
        batch.put::<Contacts>(&conv, &row)?;
        self.commit(Pending::new(batch, vec![])).await.map(|_| ())
    }

    async fn add_contact(&mut self, name: String, user: UserId) -> Result<(), Error> {
        let name = name.trim().to_owned();
        if name.is_empty() || name.len() > 64 {
            return Err(Error::InvalidArgument(
                "a contact name is 1 to 64 bytes".into(),
            ));
        }
        let existing = self
            .read(|s| s.scan::<Contacts>(.., ScanDirection::Forward, usize::MAX))
            .await?;
        if existing
            .iter()
            .any(|(_, row)| row.name == name && row.user != user)
        {
            return Err(Error::DuplicateName(name));
        }
        let mut batch = Batch::new();
        let row = ContactRow {
            user,
            name,
            verified: false,
            added_ms: self.time.now_ms(),
        };
        batch.put::<Contacts>(&self.conv(&user), &row)?;
        self.commit(Pending::new(batch, vec![])).await.map(|_| ())
    }

    /// Accepts a group of sends in one durable write, so that under load many messages share
    /// one sync. Each caller gets its message id once the group is on disk.
    async fn send_group(&mut self, sends: Vec<SendRequest>) {
        let mut pending = Pending::new(Batch::new(), Vec::new());
        let mut summaries: HashMap<Conv, ConversationRow> = HashMap::new();
        let mut touched = Vec::new();
        let mut accepted = Vec::with_capacity(sends.len());
        let mut staged = Ok(());
        for SendRequest { peer, text, reply } in sends {
            if text.is_empty() || text.len() > crate::body::MAX_TEXT_LEN {
                let _ = reply.send(Err(Error::InvalidMessage(format!(
                    "text must be 1 to {} bytes",
                    crate::body::MAX_TEXT_LEN
                ))));
                continue;
            }
            if staged.is_ok() {
                staged = self
                    .stage_send(&mut pending, &mut summaries, peer, text)
                    .await
                    .map(|id| accepted.push((reply, id)));
                if !touched.contains(&peer) {
                    touched.push(peer);
                }
            } else {
                let _ = reply.send(Err(Error::Storage(
                    "a write in the same group failed".into(),
                )));
            }
        }
        let result = staged.and_then(|()| {
            for peer in &touched {
                self.stage_sessions(&mut pending.batch, peer)?;
            }
            for (conv, summary) in &summaries {
                pending.batch.put::<Conversations>(conv, summary)?;
            }
            Ok(())
        });
        let result = match result {
            Ok(()) => self.commit(pending).await.map(|_| ()),
            Err(e) => Err(e),
        };
        for (reply, id) in accepted {
            let _ = reply.send(result.clone().map(|()| id));
        }
    }

    /// Adds one outgoing text to a group being accepted.
    async fn stage_send(
        &mut self,
        pending: &mut Pending,
        summaries: &mut HashMap<Conv, ConversationRow>,
        peer: UserId,
        text: String,
    ) -> Result<MessageId, Error> {
        let id = MessageId::random(&mut UnwrapErr(getrandom::SysRng));
        let stamp = self.clock.tick(self.time.now_ms());
        let conv = self.conv(&peer);
        let row = MessageRow {
            peer,
            direction: Direction::Outgoing,
            text,
            state: DeliveryState::Queued,
            read: true,
        };
        pending
            .batch
            .put::<Messages>(&(conv, stamp, *id.as_bytes()), &row)?;
        pending
            .batch
            .put::<MessageIndex>(&(conv, *id.as_bytes()), &stamp)?;
        let mut summary = match summaries.remove(&conv) {
            Some(summary) => summary,
            None => self.summary(conv, peer, 0, "", 0).await?,
        };
        if stamp >= summary.last_stamp {
            summary.last_stamp = stamp;
            summary.last_text = row.text.chars().take(100).collect();
        }
        summaries.insert(conv, summary);
        let body = Body::Text(Text {
            id,
            stamp,
            text: row.text.clone(),
        });
        self.enqueue(pending, peer, &body, true).await?;
        pending
            .events
            .push(Event::MessageSent(to_message(id, stamp, &row)));
        Ok(id)
    }

    /// Puts a body into the outbox, encrypted at once if a session exists. The caller stages
    /// the sessions of `peer`, which encrypting may have advanced.
    async fn enqueue(
        &mut self,
        pending: &mut Pending,
        peer: UserId,
        body: &Body,
        visible: bool,
    ) -> Result<(), Error> {
        self.load_sessions(&peer).await?;
        let payload = body.to_payload().to_bytes().to_vec();
        let encrypted = self.try_encrypt(&peer, &payload)?;
        let seq = self.next_outbox;
        self.next_outbox += 1;
        pending.batch.put::<State>(
            &STATE_OUTBOX_SEQ.to_owned(),
            &self.next_outbox.to_be_bytes().to_vec(),
        )?;
        let row = OutboxRow {
            id: body.id(),
            peer,
            payload,
            envelope: None,
            visible,
            attempts: 0,
            next_attempt_ms: 0,
        };
        match encrypted {
            // Sealed (and written) at commit, together with the rest of the group.
            Some((message, mailbox)) => pending.to_seal.push(ToSeal {
                seq,
                row,
                message,
                mailbox,
            }),
            None => {
                pending.batch.put::<Outbox>(&seq, &row)?;
                pending.queued.push((seq, Queued::of(&row), None));
            }
        }
        Ok(())
    }

    /// Seals the ratchet messages of `pending` into envelopes, off the core task and on two
    /// threads for large groups (sealing is stateless and costs two X25519 operations each),
    /// then stages their outbox rows.
    async fn seal_pending(&self, pending: &mut Pending) -> Result<(), Error> {
        if pending.to_seal.is_empty() {
            return Ok(());
        }
        let to_seal = std::mem::take(&mut pending.to_seal);
        let sender = self.account.user_id();
        let sealed = tokio::task::spawn_blocking(move || {
            let seal = |items: &mut [ToSeal]| -> Result<(), Error> {
                let mut rng = UnwrapErr(getrandom::SysRng);
                for item in items {
                    let envelope = envelope::seal(&mut rng, &item.mailbox, &sender, &item.message)
                        .map_err(|e| Error::InvalidMessage(e.to_string()))?;
                    item.row.envelope = Some(envelope);
                }
                Ok(())
            };
            let mut to_seal = to_seal;
            let result = if to_seal.len() >= PARALLEL_OPEN_MIN {
                let half = to_seal.len() / 2;
                let (first, second) = to_seal.split_at_mut(half);
                std::thread::scope(|scope| {
                    let other = scope.spawn(|| seal(first));
                    let here = seal(second);
                    match other.join() {
                        Ok(there) => there.and(here),
                        Err(_) => Err(Error::Storage("a sealing thread failed".into())),
                    }
                })
            } else {
                seal(&mut to_seal)
            };
            result.map(|()| to_seal)
        })
        .await
        .map_err(|e| Error::Storage(e.to_string()))??;
        for item in sealed {
            pending.batch.put::<Outbox>(&item.seq, &item.row)?;
            pending
                .queued
                .push((item.seq, Queued::of(&item.row), item.row.envelope));
        }
        Ok(())
    }

    /// Encrypts with the newest session, or starts one from the peer's record if known.
    fn try_seal(&mut self, peer: &UserId, payload: &[u8]) -> Result<Option<Vec<u8>>, Error> {
        let Some((message, mailbox)) = self.try_encrypt(peer, payload)? else {
            return Ok(None);
        };
        let sealed = envelope::seal(
            &mut UnwrapErr(getrandom::SysRng),
            &mailbox,
            &self.account.user_id(),
            &message,
        )
        .map_err(|e| Error::InvalidMessage(e.to_string()))?;
        Ok(Some(sealed))
    }

    /// Encrypts with the newest session, or starts one from the peer's record if known;
    /// returns the message and the mailbox key to seal it to.
    fn try_encrypt(
        &mut self,
        peer: &UserId,
        payload: &[u8],
    ) -> Result<Option<(SessionMessage, MailboxPublicKey)>, Error> {
        let mut rng = UnwrapErr(getrandom::SysRng);
        let record = self.records.get(peer).cloned();
        let sessions = self.sessions.entry(*peer).or_default();
        if sessions.is_empty() {
            let Some(record) = &record else {
                return Ok(None);
            };
            let one_time = self.one_time.remove(peer);
            match Session::initiate(
                &mut rng,
                &self.account,
                &record.bundle,
                one_time.as_ref(),
                self.time.now_secs(),
            ) {
                Ok(session) => sessions.insert(0, session),
                Err(e) => {
                    warn!(peer = %peer.short(), "cannot start a session: {e}");
                    return Ok(None);
                }
            }
        }
        let Some(record) = record else {
            // A session exists but the mailbox key comes from the record.
            return Ok(None);
        };
        let session = &mut sessions[0];
        let message = session
            .encrypt(&mut rng, payload)
            .map_err(|e| Error::InvalidMessage(e.to_string()))?;
        Ok(Some((message, *record.bundle.mailbox())))
    }

    async fn summary(
        &self,
        conv: Conv,
        peer: UserId,
        stamp: Stamp,
        text: &str,
        unread: u32,
    ) -> Result<ConversationRow, Error> {
        let existing = self.read(move |s| s.get::<Conversations>(&conv)).await?;
        let mut row = existing.unwrap_or(ConversationRow {
            peer,
            last_stamp: 0,
            last_text: String::new(),
            unread: 0,
        });
        if stamp >= row.last_stamp {
            row.last_stamp = stamp;
            row.last_text = text.chars().take(100).collect();
        }
        row.unread += unread;
        Ok(row)
    }

    /// The record of `peer` if we hold one that has not expired. A record past its expiry may
    /// name stale addresses or prekeys, so it is dropped and looked up again.
    fn known_record(&mut self, peer: &UserId) -> Option<PeerRecord> {
        let now = self.time.now_secs();
        if self.records.get(peer).is_some_and(|r| r.expires <= now) {
            self.records.remove(peer);
        }
        self.records.get(peer).cloned()
    }

    /// Takes a looked-up record unless it is older than one already held: a peer that answers
    /// a lookup with a replayed record (still signed, not yet expired) must not roll back a
    /// contact's prekeys, relays or addresses.
    fn learn_record(&mut self, peer: UserId, record: PeerRecord) -> bool {
        let newest_known = self
            .records
            .get(&peer)
            .into_iter()
            .chain(self.stale_records.get(&peer))
            .map(|r| r.seq)
            .max();
        if newest_known.is_some_and(|seq| record.seq < seq) {
            debug!(peer = %peer.short(), seq = record.seq, "ignored an older record");
            return false;
        }
        debug!(peer = %peer.short(), seq = record.seq, "found record");
        self.stale_records.remove(&peer);
        self.records.insert(peer, record);
        true
    }

    fn start_delivery(&mut self, seq: u64, record: PeerRecord, envelope: Vec<u8>) {
        self.busy.insert(seq);
        let net = self.net.clone();
        let direct = self.direct;
        self.in_flight.spawn(async move {
            let status = if direct {
                net.deliver(record.device, record.addresses, envelope).await
            } else {
                // Relay-only: never connect to the recipient; the failure sends it to relays.
                Err(network::NetError::Delivery(
                    "direct delivery is turned off".into(),
                ))
            };
            Outcome::Delivered { seq, status }
        });
    }

    /// Starts deliveries for due outbox entries (oldest first, up to [`MAX_IN_FLIGHT`]), and
    /// lookups for recipients whose record we do not hold. Entries just accepted with their
    /// envelope go first and need no read.
    async fn dispatch_due(&mut self) {
        if self.failed {
            return;
        }
        for (seq, envelope) in std::mem::take(&mut self.ready) {
            if self.in_flight.len() >= MAX_IN_FLIGHT || self.busy.contains(&seq) {
                continue;
            }
            let Some(peer) = self.outbox.get(&seq).map(|e| e.peer) else {
                continue;
            };
            match self.known_record(&peer) {
                Some(record) => self.start_delivery(seq, record, envelope),
                None => self.lookup(peer),
            }
        }

        let now = self.time.now_ms();
        let mut wanted = Vec::new();
        let mut unknown = Vec::new();
        for (&seq, entry) in &self.outbox {
            if self.in_flight.len() + wanted.len() >= MAX_IN_FLIGHT {
                break;
            }
            if entry.next_attempt_ms > now || self.busy.contains(&seq) {
                continue;
            }
            if self.records.contains_key(&entry.peer) {
                wanted.push(seq);
            } else if !unknown.contains(&entry.peer) {
                unknown.push(entry.peer);
            }
        }
        for peer in unknown {
            self.lookup(peer);
        }
        if wanted.is_empty() {
            return;
        }
        let rows = match self
            .read(move |s| {
                wanted
                    .into_iter()
                    .map(|seq| Ok((seq, s.get::<Outbox>(&seq)?)))
                    .collect::<Result<Vec<_>, StoreError>>()
            })
            .await
        {
            Ok(rows) => rows,
            Err(e) => {
                error!("cannot read the outbox: {e}");
                return;
            }
        };
        // Entries queued before we could encrypt (no session and no record yet) are sealed
        // now, and persisted before they are sent, so that a retry resends the same bytes.
        let mut sealed = Pending::new(Batch::new(), Vec::new());
        let mut touched = Vec::new();
        let mut deliveries = Vec::new();
        for (seq, row) in rows {
            let Some(mut row) = row else {
                self.outbox.remove(&seq);
                continue;
            };
            let Some(record) = self.known_record(&row.peer) else {
                self.lookup(row.peer);
                continue;
            };
            if row.envelope.is_none() {
                if let Err(e) = self.load_sessions(&row.peer).await {
                    error!("cannot load sessions: {e}");
                    return;
                }
                match self.try_seal(&row.peer, &row.payload) {
                    Ok(Some(envelope)) => {
                        row.envelope = Some(envelope);
                        if sealed.batch.put::<Outbox>(&seq, &row).is_err() {
                            continue;
                        }
                        if !touched.contains(&row.peer) {
                            touched.push(row.peer);
                        }
                    }
                    Ok(None) => continue,
                    Err(e) => {
                        warn!("cannot encrypt outbox entry: {e}");
                        continue;
                    }
                }
            }
            if let Some(envelope) = row.envelope {
                deliveries.push((seq, record, envelope));
            }
        }
        if !touched.is_empty() {
            for peer in &touched {
                if let Err(e) = self.stage_sessions(&mut sealed.batch, peer) {
                    error!("cannot stage sessions: {e}");
                    return;
                }
            }
            if let Err(e) = self.commit(sealed).await {
                error!("cannot persist encrypted outbox entries: {e}");
                return;
            }
        }
        for (seq, record, envelope) in deliveries {
            self.start_delivery(seq, record, envelope);
        }
    }

    fn lookup(&mut self, peer: UserId) {
        if !self.lookups.insert(peer) {
            return;
        }
        // Starting a session: take one of the peer's one-time prekeys from its relays too.
        let needs_prekey = self.sessions.get(&peer).is_none_or(Vec::is_empty)
            && !self.one_time.contains_key(&peer);
        let net = self.net.clone();
        self.in_flight.spawn(async move {
            let record = net.lookup(peer).await.map(Box::new);
            let one_time = match &record {
                Ok(record) if needs_prekey && !record.relays.is_empty() => {
                    crate::relay_path::take_prekey(
                        &net,
                        &record.relays,
                        peer,
                        record.bundle.mailbox().id(),
                    )
                    .await
                }
                _ => None,
            };
            Outcome::Looked {
                peer,
                record,
                one_time,
            }
        });
    }

    /// Handles outcomes that completed together; delivery results share one write.
    async fn on_outcomes(&mut self, outcomes: Vec<Outcome>) {
        let mut deliveries = Vec::new();
        for outcome in outcomes {
            match outcome {
                Outcome::Looked {
                    peer,
                    record,
                    one_time,
                } => {
                    self.lookups.remove(&peer);
                    if let Some(prekey) = one_time {
                        self.one_time.insert(peer, prekey);
                    }
                    match record {
                        Ok(record) => {
                            if !self.learn_record(peer, *record) {
                                self.postpone_peer(peer).await;
                            }
                        }
                        Err(e) => {
                            debug!(peer = %peer.short(), "lookup failed: {e}");
                            self.postpone_peer(peer).await;
                        }
                    }
                }
                Outcome::Published { .. } => {}
                Outcome::RelaysFound(found) => self.add_relays(found).await,
                Outcome::Deposited { seq, deposit } => {
                    self.busy.remove(&seq);
                    for refusal in &deposit.refused {
                        *self.deposits_refused.entry(refusal.code()).or_default() += 1;
                    }
                    if let Err(e) = self
                        .on_deposited(seq, deposit.stored, deposit.replicas)
                        .await
                    {
                        error!("cannot record a relay deposit: {e}");
                    }
                }
                Outcome::Delivered { seq, status } => {
                    self.busy.remove(&seq);
                    deliveries.push((seq, status));
                }
            }
        }
        if !deliveries.is_empty()
            && let Err(e) = self.on_deliveries(deliveries).await
        {
            error!("cannot record delivery outcomes: {e}");
        }
        self.dispatch_due().await;
    }

    async fn on_deliveries(
        &mut self,
        results: Vec<(u64, Result<Status, network::NetError>)>,
    ) -> Result<(), Error> {
        let mut pending = Pending::new(Batch::new(), Vec::new());
        let mut retry = Vec::new();
        // Where each failed entry could be left instead: the recipient's relays and mailbox,
        // taken before a failed record is dropped.
        let mut relay_targets = HashMap::new();
        let mut stale = Vec::new();
        for (seq, status) in results {
            let Some(entry) = self.outbox.get(&seq).cloned() else {
                continue;
            };
            let state = match status {
                Ok(Status::Stored | Status::Duplicate) => DeliveryState::Delivered,
                Ok(Status::Rejected | Status::Undecryptable) => {
                    pending.events.push(Event::Error {
                        peer: Some(entry.peer),
                        message: format!("message {} was refused by the recipient", entry.id),
                    });
                    DeliveryState::Failed
                }
                Ok(Status::Busy | Status::Unavailable) | Err(_) => {
                    if let Some(record) = self
                        .records
                        .get(&entry.peer)
                        .or_else(|| self.stale_records.get(&entry.peer))
                        && !record.relays.is_empty()
                    {
                        relay_targets
                            .insert(seq, (record.relays.clone(), record.bundle.mailbox().id()));
                    }
                    if let Err(e) = &status
                        && self.direct
                    {
                        debug!(peer = %entry.peer.short(), "delivery failed: {e}");
                        // The addresses may be stale: look the peer up again next time.
                        stale.push(entry.peer);
                    }
                    retry.push(seq);
                    continue;
                }
            };
            pending.batch.delete::<Outbox>(&seq);
            self.outbox.remove(&seq);
            if entry.visible
                && let Some(event) = self
                    .advance_state(&mut pending.batch, entry.peer, entry.id, state)
                    .await?
            {
                pending.events.push(event);
            }
        }
        for peer in stale {
            if let Some(record) = self.records.remove(&peer) {
                self.stale_records.insert(peer, record);
            }
        }
        let rows = self.reschedule(&mut pending, retry).await?;
        self.commit(pending).await?;
        // Direct delivery failed: leave the envelope at the recipient's relays, if it has any.
        for (seq, row) in rows {
            let Some((relays, mailbox)) = relay_targets.remove(&seq) else {
                continue;
            };
            if self.busy.contains(&seq) {
                continue;
            }
            let Some(envelope) = row.envelope else {
                continue;
            };
            debug!(
                seq,
                relays = relays.len(),
                "leaving the message at the recipient's relays"
            );
            self.busy.insert(seq);
            let net = self.net.clone();
            self.in_flight.spawn(async move {
                let deposit = crate::relay_path::deposit(&net, &relays, mailbox, envelope).await;
                Outcome::Deposited { seq, deposit }
            });
        }
        Ok(())
    }

    /// Records a deposit: once enough relays signed custody, the relays hold the message and
    /// it leaves the outbox; the recipient's delivery receipt completes it later.
    async fn on_deposited(&mut self, seq: u64, stored: u8, replicas: u8) -> Result<(), Error> {
        debug!(seq, stored, replicas, "deposit at relays finished");
        let needed = crate::relay_path::CUSTODY_QUORUM.min(replicas).max(1);
        if stored < needed {
            debug!(
                seq,
                stored, replicas, "not enough custody receipts; will retry"
            );
            return Ok(());
        }
        let Some(entry) = self.outbox.remove(&seq) else {
            return Ok(());
        };
        let mut pending = Pending::new(Batch::new(), Vec::new());
        pending.batch.delete::<Outbox>(&seq);
        if entry.visible
            && let Some(event) = self
                .advance_state(
                    &mut pending.batch,
                    entry.peer,
                    entry.id,
                    DeliveryState::StoredAtRelays { stored, replicas },
                )
                .await?
        {
            pending.events.push(event);
        }
        self.commit(pending).await.map(|_| ())
    }

    /// Stages a later attempt, with exponential backoff, for each of the entries `seqs`;
    /// returns the rows as rescheduled.
    async fn reschedule(
        &mut self,
        pending: &mut Pending,
        seqs: Vec<u64>,
    ) -> Result<Vec<(u64, OutboxRow)>, Error> {
        if seqs.is_empty() {
            return Ok(Vec::new());
        }
        let rows = self
            .read(move |s| {
                seqs.into_iter()
                    .map(|seq| Ok((seq, s.get::<Outbox>(&seq)?)))
                    .collect::<Result<Vec<_>, StoreError>>()
            })
            .await?;
        let now = self.time.now_ms();
        let mut rescheduled = Vec::with_capacity(rows.len());
        for (seq, row) in rows {
            let Some(mut row) = row else { continue };
            row.attempts = row.attempts.saturating_add(1);
            let delay = FIRST_RETRY_DELAY
                .saturating_mul(1 << row.attempts.min(16))
                .min(MAX_RETRY_DELAY);
            row.next_attempt_ms = now + delay.as_millis() as u64;
            pending.batch.put::<Outbox>(&seq, &row)?;
            if let Some(entry) = self.outbox.get_mut(&seq) {
                entry.next_attempt_ms = row.next_attempt_ms;
            }
            rescheduled.push((seq, row));
        }
        Ok(rescheduled)
    }

    /// Backs off every waiting entry for `peer`, whose record could not be found.
    async fn postpone_peer(&mut self, peer: UserId) {
        let seqs: Vec<u64> = self
            .outbox
            .iter()
            .filter(|(seq, e)| e.peer == peer && !self.busy.contains(seq))
            .map(|(seq, _)| *seq)
            .collect();
        let mut pending = Pending::new(Batch::new(), Vec::new());
        let result = match self.reschedule(&mut pending, seqs).await {
            Ok(_) => self.commit(pending).await.map(|_| ()),
            Err(e) => Err(e),
        };
        if let Err(e) = result {
            error!("cannot reschedule outbox entries: {e}");
        }
    }

    /// Moves an outgoing message forward to `state` (never backwards).
    async fn advance_state(
        &mut self,
        batch: &mut Batch,
        peer: UserId,
        id: MessageId,
        state: DeliveryState,
    ) -> Result<Option<Event>, Error> {
        let conv = self.conv(&peer);
        let Some(stamp) = self
            .read(move |s| s.get::<MessageIndex>(&(conv, *id.as_bytes())))
            .await?
        else {
            return Ok(None);
        };
        let key = (conv, stamp, *id.as_bytes());
        let Some(mut row) = self.read(move |s| s.get::<Messages>(&key)).await? else {
            return Ok(None);
        };
        if row.direction != Direction::Outgoing || row.state >= state {
            return Ok(None);
        }
        row.state = state;
        batch.put::<Messages>(&key, &row)?;
        Ok(Some(Event::DeliveryStateChanged { peer, id, state }))
    }

    async fn on_inbound(&mut self, group: Vec<Inbound>) {
        if self.failed {
            for item in group {
                let _ = item.reply.send(Status::Unavailable);
            }
            return;
        }
        let mut pending = Pending::new(Batch::new(), Vec::new());
        let mut answers = Vec::with_capacity(group.len());
        let mut staged = Group::default();
        let (group, prepared) = match self.prepare(group).await {
            Ok(prepared) => prepared,
            Err((group, e)) => {
                error!("cannot prepare received envelopes: {e}");
                for item in group {
                    let _ = item.reply.send(Status::Unavailable);
                }
                return;
            }
        };
        self.undo = Undo::default();
        for (item, prepared) in group.into_iter().zip(prepared) {
            staged.via_relay = item.via_relay;
            let savepoint = Savepoint::take(self, &pending, &staged, &prepared);
            let status = match self.receive(&mut pending, &mut staged, prepared).await {
                Ok(status) => status,
                Err(e) => {
                    // Nothing of this envelope is committed: the sender's retry is processed
                    // afresh, so the message is not lost.
                    error!(peer = %item.peer, "receiving failed: {e}");
                    savepoint.restore(self, &mut pending, &mut staged);
                    Status::Unavailable
                }
            };
            answers.push((item.reply, status));
        }
        // A sender whose message went through a relay learns it arrived from a receipt, in
        // the same write as the messages.
        let mut receipts = Ok(());
        let mut by_sender: HashMap<UserId, Vec<MessageId>> = HashMap::new();
        for (sender, id) in std::mem::take(&mut staged.delivered) {
            by_sender.entry(sender).or_default().push(id);
        }
        for (sender, ids) in by_sender {
            for chunk in ids.chunks(crate::body::MAX_RECEIPT_IDS) {
                let receipt = Body::Receipt(Receipt {
                    id: MessageId::random(&mut UnwrapErr(getrandom::SysRng)),
                    stamp: self.clock.tick(self.time.now_ms()),
                    kind: ReceiptKind::Delivered,
                    messages: chunk.to_vec(),
                });
                if receipts.is_ok() {
                    receipts = self.enqueue(&mut pending, sender, &receipt, false).await;
                }
            }
            if !staged.touched.contains(&sender) {
                staged.touched.push(sender);
            }
        }
        in_sent_order(&mut pending.events, &staged.received_stamps);
        let committed = match receipts.and_then(|()| self.stage_group(&mut pending, &staged)) {
            Ok(()) => self.commit(pending).await.is_ok(),
            Err(e) => {
                error!("cannot stage received messages: {e}");
                false
            }
        };
        if !committed {
            // The sessions the group advanced are read again from the store, which holds
            // none of its effects.
            for peer in &staged.touched {
                self.sessions.remove(peer);
            }
            if let Some(bytes) = self.undo.group_prekeys.take() {
                self.restore_prekeys(&bytes);
            }
        }
        self.undo = Undo::default();
        for (reply, status) in answers {
            let _ = reply.send(if committed {
                status
            } else {
                Status::Unavailable
            });
        }
        if committed {
            self.dispatch_due().await;
        }
    }

    fn restore_prekeys(&mut self, bytes: &[u8]) {
        match PrekeySecrets::from_bytes(bytes) {
            Ok(prekeys) => self.prekeys = prekeys,
            Err(e) => error!("cannot restore prekey secrets: {e}"),
        }
    }

    /// Adds what a group of received envelopes changed in memory to its batch.
    fn stage_group(&self, pending: &mut Pending, staged: &Group) -> Result<(), Error> {
        for peer in &staged.touched {
            self.stage_sessions(&mut pending.batch, peer)?;
        }
        for (conv, summary) in &staged.summaries {
            pending.batch.put::<Conversations>(conv, summary)?;
        }
        if staged.prekeys_changed {
            pending
                .batch
                .put::<State>(&STATE_PREKEYS.to_owned(), &self.prekeys.to_bytes())?;
        }
        Ok(())
    }

    /// The stateless part of receiving a group, off the core task: which envelopes were
    /// processed before (one read for the group), and opening the others, on every core when
    /// the group is large enough to be worth splitting.
    async fn prepare(
        &self,
        group: Vec<Inbound>,
    ) -> Result<(Vec<Inbound>, Vec<Prepared>), (Vec<Inbound>, Error)> {
        let store = self.store.clone();
        let account = self.account.clone();
        let result = tokio::task::spawn_blocking(move || {
            let digests: Vec<[u8; 16]> = group.iter().map(|i| seen_key(&i.envelope)).collect();
            let seen = match digests
                .iter()
                .map(|d| store.get::<Seen>(d).map(|v| v.is_some()))
                .collect::<Result<Vec<bool>, StoreError>>()
            {
                Ok(seen) => seen,
                Err(e) => return (group, Err(Error::from(e))),
            };
            let open = |items: &[Inbound], seen: &[bool]| -> Vec<_> {
                items
                    .iter()
                    .zip(seen)
                    .map(|(item, &seen)| {
                        (!seen).then(|| envelope::open(account.mailbox_secret(), &item.envelope))
                    })
                    .collect()
            };
            let opened = if group.len() >= PARALLEL_OPEN_MIN {
                let half = group.len() / 2;
                std::thread::scope(|scope| {
                    let first = scope.spawn(|| open(&group[..half], &seen[..half]));
                    let mut second = open(&group[half..], &seen[half..]);
                    match first.join() {
                        Ok(mut opened) => {
                            opened.append(&mut second);
                            opened
                        }
                        // Opening does not panic; if it did, do the work again here.
                        Err(_) => open(&group, &seen),
                    }
                })
            } else {
                open(&group, &seen)
            };
            let prepared = digests
                .into_iter()
                .zip(opened)
                .map(|(digest, opened)| Prepared { digest, opened })
                .collect();
            (group, Ok(prepared))
        })
        .await;
        match result {
            Ok((group, Ok(prepared))) => Ok((group, prepared)),
            Ok((group, Err(e))) => Err((group, e)),
            Err(e) => Err((Vec::new(), Error::Storage(e.to_string()))),
        }
    }

    /// Processes one envelope into `pending`. Returns the status to answer once committed.
    async fn receive(
        &mut self,
        pending: &mut Pending,
        staged: &mut Group,
        prepared: Prepared,
    ) -> Result<Status, Error> {
        let digest = prepared.digest;
        if staged.seen.contains(&digest) {
            return Ok(Status::Duplicate);
        }
        let opened = match prepared.opened {
            None => return Ok(Status::Duplicate),
            Some(Ok(opened)) => opened,
            Some(Err(e)) => {
                debug!("refused an envelope: {e}");
                return Ok(Status::Rejected);
            }
        };
        let sender = opened.sender;
        self.load_sessions(&sender).await?;
        let Some(plaintext) = self
            .decrypt(pending, staged, sender, &opened.message)
            .await?
        else {
            return Ok(Status::Undecryptable);
        };
        if !staged.touched.contains(&sender) {
            staged.touched.push(sender);
        }
        staged.seen.insert(digest);
        pending
            .batch
            .put::<Seen>(&digest, &(self.time.now_ms() + SEEN_RETENTION_MS))?;

        let body = match Payload::from_bytes(&plaintext)
            .map_err(|e| e.to_string())
            .and_then(|p| Body::from_payload(&p).map_err(|e| e.to_string()))
        {
            Ok(body) => body,
            Err(e) => {
                // The session advanced (the sender's key is used), so the state is committed,
                // but there is nothing to show.
                debug!(sender = %sender.short(), "undecodable body: {e}");
                return Ok(Status::Stored);
            }
        };
        let conv = self.conv(&sender);
        let id = body.id();
        if staged.ids.contains(&(conv, *id.as_bytes()))
            || self
                .read(move |s| s.get::<MessageIndex>(&(conv, *id.as_bytes())))
                .await?
                .is_some()
        {
            return Ok(Status::Duplicate);
        }
        staged.ids.insert((conv, *id.as_bytes()));
        let now = self.time.now_ms();
        self.clock.observe(body.stamp(), now);
        let stamp = Hlc::clamp(body.stamp(), now);
        match body {
            Body::Text(text) => {
                if staged.via_relay {
                    staged.delivered.push((sender, id));
                }
                let row = MessageRow {
                    peer: sender,
                    direction: Direction::Incoming,
                    text: text.text,
                    state: DeliveryState::Delivered,
                    read: false,
                };
                pending
                    .batch
                    .put::<Messages>(&(conv, stamp, *id.as_bytes()), &row)?;
                pending
                    .batch
                    .put::<MessageIndex>(&(conv, *id.as_bytes()), &stamp)?;
                let mut summary = match staged.summaries.remove(&conv) {
                    Some(row) => row,
                    None => self.summary(conv, sender, 0, "", 0).await?,
                };
                if stamp >= summary.last_stamp {
                    summary.last_stamp = stamp;
                    summary.last_text = row.text.chars().take(100).collect();
                }
                summary.unread += 1;
                staged.summaries.insert(conv, summary);
                staged.received_stamps.push(stamp);
                pending
                    .events
                    .push(Event::MessageReceived(to_message(id, stamp, &row)));
            }
            Body::Receipt(receipt) => {
                pending
                    .batch
                    .put::<MessageIndex>(&(conv, *id.as_bytes()), &stamp)?;
                let state = match receipt.kind {
                    ReceiptKind::Delivered => DeliveryState::Delivered,
                    ReceiptKind::Read => DeliveryState::Read,
                };
                for message in receipt.messages {
                    if let Some(event) = self
                        .advance_state(&mut pending.batch, sender, message, state)
                        .await?
                    {
                        pending.events.push(event);
                    }
                }
            }
        }
        Ok(Status::Stored)
    }

    /// Decrypts with an existing session, or accepts a new session start.
    async fn decrypt(
        &mut self,
        pending: &mut Pending,
        staged: &mut Group,
        sender: UserId,
        message: &SessionMessage,
    ) -> Result<Option<Vec<u8>>, Error> {
        let mut rng = UnwrapErr(getrandom::SysRng);
        let now = self.time.now_secs();
        let sessions = self.sessions.entry(sender).or_default();
        for (index, session) in sessions.iter_mut().enumerate() {
            if let Ok(plaintext) = session.decrypt(&mut rng, message, now) {
                // The session that works is the one to reply with.
                let session = sessions.remove(index);
                sessions.insert(0, session);
                return Ok(Some(plaintext));
            }
        }
        let SessionMessage::Initial(start) = message else {
            return Ok(None);
        };
        if start.identity().user_id() != sender {
            return Ok(None);
        }
        let tag = start.replay_tag();
        if staged.replays.contains(&tag)
            || self.read(move |s| s.get::<Replays>(&tag)).await?.is_some()
        {
            debug!(sender = %sender.short(), "refused a replayed session start");
            return Ok(None);
        }
        if start.one_time_prekey_id().is_some() {
            // Accepting consumes a one-time prekey: keep what to restore if the envelope or
            // its group is not committed after all.
            let before = self.prekeys.to_bytes();
            if self.undo.group_prekeys.is_none() {
                self.undo.group_prekeys = Some(before.clone());
            }
            self.undo.envelope_prekeys = Some(before);
        }
        match Session::respond(&mut rng, &self.account, &mut self.prekeys, start, now) {
            Ok((session, plaintext)) => {
                // Remember the start until its signed prekey is retired: after that it cannot
                // be accepted anyway.
                let retire = self
                    .prekeys
                    .signed_prekey_retires_at(start.signed_prekey_id())
                    .unwrap_or(now);
                staged.replays.insert(tag);
                pending.batch.put::<Replays>(&tag, &(retire * 1000))?;
                staged.prekeys_changed |= start.one_time_prekey_id().is_some();
                let sessions = self.sessions.entry(sender).or_default();
                sessions.insert(0, session);
                sessions.truncate(MAX_SESSIONS_PER_PEER);
                Ok(Some(plaintext))
            }
            Err(e) => {
                debug!(sender = %sender.short(), "refused a session start: {e}");
                Ok(None)
            }
        }
    }

    async fn chats(&self) -> Result<Vec<Chat>, Error> {
        let (rows, contacts) = self
            .read(|s| {
                Ok((
                    s.scan::<Conversations>(.., ScanDirection::Forward, usize::MAX)?,
                    s.scan::<Contacts>(.., ScanDirection::Forward, usize::MAX)?,
                ))
            })
            .await?;
        let names: HashMap<UserId, String> = contacts
            .into_iter()
            .map(|(_, c)| (c.user, c.name))
            .collect();
        let mut chats: Vec<Chat> = rows
            .into_iter()
            .map(|(_, row)| Chat {
                name: names.get(&row.peer).cloned(),
                peer: row.peer,
                last_ms: hlc::millis(row.last_stamp),
                last_text: row.last_text,
                unread: row.unread,
            })
            .collect();
        chats.sort_by_key(|chat| std::cmp::Reverse(chat.last_ms));
        Ok(chats)
    }

    async fn history(
        &self,
        peer: UserId,
        limit: usize,
        before: Option<HistoryCursor>,
    ) -> Result<Page, Error> {
        let limit = limit.clamp(1, MAX_PAGE);
        let conv = self.conv(&peer);
        let upper = match before {
            Some(cursor) => (cursor.stamp, cursor.id),
            None => (u64::MAX, [0xff; 16]),
        };
        let rows = self
            .read(move |s| {
                s.scan::<Messages>(
                    (conv, 0, [0u8; 16])..(conv, upper.0, upper.1),
                    ScanDirection::Reverse,
                    limit + 1,
                )
            })
            .await?;
        let more = rows.len() > limit;
        let rows: Vec<_> = rows.into_iter().take(limit).collect();
        let before = if more {
            rows.last().map(|((_, stamp, id), _)| HistoryCursor {
                stamp: *stamp,
                id: *id,
            })
        } else {
            None
        };
        let mut messages: Vec<Message> = rows
            .into_iter()
            .map(|((_, stamp, id), row)| to_message(MessageId::from_bytes(id), stamp, &row))
            .collect();
        messages.reverse();
        Ok(Page { messages, before })
    }

    async fn mark_read(&mut self, peer: UserId) -> Result<usize, Error> {
        let conv = self.conv(&peer);
        let rows = self
            .read(move |s| {
                s.scan::<Messages>(
                    (conv, 0, [0u8; 16])..=(conv, u64::MAX, [0xff; 16]),
                    ScanDirection::Forward,
                    usize::MAX,
                )
            })
            .await?;
        let mut pending = Pending::new(Batch::new(), Vec::new());
        let mut ids = Vec::new();
        for (key, mut row) in rows {
            if row.direction == Direction::Incoming && !row.read {
                row.read = true;
                pending.batch.put::<Messages>(&key, &row)?;
                ids.push(MessageId::from_bytes(key.2));
            }
        }
        if let Some(mut summary) = self.read(move |s| s.get::<Conversations>(&conv)).await? {
            summary.unread = 0;
            pending.batch.put::<Conversations>(&conv, &summary)?;
        }
        for chunk in ids.chunks(crate::body::MAX_RECEIPT_IDS) {
            let receipt = Body::Receipt(Receipt {
                id: MessageId::random(&mut UnwrapErr(getrandom::SysRng)),
                stamp: self.clock.tick(self.time.now_ms()),
                kind: ReceiptKind::Read,
                messages: chunk.to_vec(),
            });
            self.enqueue(&mut pending, peer, &receipt, false).await?;
        }
        self.stage_sessions(&mut pending.batch, &peer)?;
        self.commit(pending).await?;
        self.dispatch_due().await;
        Ok(ids.len())
    }

    async fn status(&self) -> Result<NodeStatus, Error> {
        let net = self.net.status().await.map_err(|_| Error::Stopped)?;
        let outbox = self.outbox.len();
        let mut rejections = std::collections::BTreeMap::new();
        for (reason, count) in &net.counters.records_rejected {
            rejections.insert(format!("dht_record_{reason}"), *count);
        }
        rejections.insert(
            "delivery_rate_limited".into(),
            net.counters.deliveries_rate_limited,
        );
        rejections.insert("delivery_busy".into(), net.counters.deliveries_busy);
        for (code, count) in &self.deposits_refused {
            rejections.insert(format!("relay_refused_{code}"), *count);
        }
        Ok(NodeStatus {
            user: self.account.user_id(),
            peer_id: net.peer_id.to_string(),
            listen_addresses: net
                .listen_addresses
                .iter()
                .map(ToString::to_string)
                .collect(),
            connected_peers: net.connected_peers,
            nat: net.nat,
            outbox,
            rejections,
            relays: self
                .relays
                .iter()
                .map(|(peer, _)| RelayStatus {
                    peer_id: peer.to_string(),
                    connected: net.connected.contains(peer),
                })
                .collect(),
            record_published: self.published_seq,
        })
    }
}

/// Puts the messages received in one group in the order they were sent. Relays return a
/// mailbox in arrival order, and a sender's deposits travel concurrently, so a page fetched
/// from a relay can hold a conversation out of order; history is keyed by send time anyway,
/// and this makes the event log agree with it. Other events keep their places.
fn in_sent_order(events: &mut [Event], stamps: &[Stamp]) {
    let slots: Vec<usize> = events
        .iter()
        .enumerate()
        .filter(|(_, e)| matches!(e, Event::MessageReceived(_)))
        .map(|(i, _)| i)
        .collect();
    if slots.len() != stamps.len() || stamps.is_sorted() {
        return;
    }
    let mut received: Vec<(Stamp, Event)> = stamps
        .iter()
        .zip(&slots)
        .map(|(&stamp, &i)| (stamp, events[i].clone()))
        .collect();
    received.sort_by_key(|(stamp, _)| *stamp);
    for (slot, (_, event)) in slots.into_iter().zip(received) {
        events[slot] = event;
    }
}

fn seen_key(envelope: &[u8]) -> [u8; 16] {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(envelope);
    let mut key = [0u8; 16];
    key.copy_from_slice(&digest[..16]);
    key
}

fn to_message(id: MessageId, stamp: Stamp, row: &MessageRow) -> Message {
    Message {
        id,
        peer: row.peer,
        direction: row.direction,
        text: row.text.clone(),
        sent_at_ms: hlc::millis(stamp),
        state: row.state,
        read: row.read,
    }
}
