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
    AccountKey, DeviceCertificate, Payload, Plaintext, PrekeySecrets, Session, SessionMessage,
    UserId,
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
    event::{ChatChange, Cursor, DeliveryState, Direction, Event, Message},
    hlc::{self, Hlc, Stamp},
    id::MessageId,
    network::{self, Inbound, Status},
    store::{Batch, Direction as ScanDirection, Store, StoreError},
    tables::{
        AckRow, Acks, ContactRow, Contacts, Conv, ConversationRow, Conversations, EventRow, Events,
        Identities, MessageIndex, MessageRow, Messages, Outbox, OutboxRow, Replays, STATE_ACCOUNT,
        STATE_CLOCK, STATE_OUTBOX_SEQ, STATE_PREKEYS, STATE_RECORD_SEQ, STATE_RELAYS, Seen,
        Sessions, State,
    },
    upkeep::{self, Upkeep, certificate_due},
    view::{
        Chat, Contact, ContactPath, HistoryCursor, MessageRequest, NodeStatus, Page, Path,
        RelayStatus,
    },
};

mod attachments;
mod changes;
mod deliver;
mod disappear;
mod discovery;
mod dispatch;
mod groups;
mod identity;
mod in_flight;
mod maintain;
mod outcomes;
mod profile;
mod publish;
mod queries;
mod queue;
mod receive;
mod records;
mod relays;
mod request;
mod requests;
mod search;
mod send;
mod settings;
mod signals;
mod uploads;

pub use self::{
    changes::EDIT_WINDOW,
    requests::{MAX_REQUEST_MESSAGES, MAX_REQUEST_MESSAGES_PER_SENDER},
    signals::{Presence, Sharing, TYPING_REFRESH, TYPING_TIMEOUT},
};

pub(crate) use self::{
    attachments::{Held, OutgoingFile},
    changes::Change,
    groups::{GroupFileTarget, GroupRequest},
    records::RelayTarget,
    request::{Compose, Request},
    settings::Setting,
    uploads::UploadPlan,
};
use self::{changes::to_message, outcomes::Outcome, queue::Queued};
#[cfg(test)]
pub(crate) use deliver::failpoints;
#[cfg(feature = "test-utils")]
pub(crate) use groups::describe_invite;

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
/// Relay health reports queued from collectors: they report only changes, so a few per relay.
const HEALTH_CAPACITY: usize = 64;
/// How often our relays' health is checked (a cheap look at a map).
const RELAY_CHECK_EVERY: Duration = Duration::from_secs(1);
/// Asking the DHT for relays again after finding none: from this…
const FIRST_DISCOVERY_BACKOFF: Duration = Duration::from_secs(2);
/// …doubling up to this.
const MAX_DISCOVERY_BACKOFF: Duration = Duration::from_secs(300);
/// How often the DHT's relays are probed while we have enough, so that relays answering over
/// days are known as such when we need a new one (see `core::discovery`): four times a day
/// gives a relay the three separate answers that season it within its first day.
const SURVEY_EVERY: Duration = Duration::from_secs(6 * 3600);
/// Largest page of history or chats a caller may ask for.
pub(crate) const MAX_PAGE: usize = 500;

pub(crate) use crate::error::Error;
use crate::error::StorageError;

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
    /// Whether direct deliveries are sealed too (for benchmarks: see the builder).
    pub(crate) seal_direct: bool,
    /// The largest part a group invitation is sent in.
    pub(crate) invite_part_len: usize,
    /// When groups' admins move a log whose sequencers nobody reaches.
    pub(crate) group_failover: crate::GroupFailover,
    /// Test only: drop the group work that waits for a write, as a crash after it would.
    pub(crate) drop_group_followups: bool,
    /// The free space to leave on the database's disk.
    pub(crate) min_free_disk: u64,
    /// The profile's blob store (files sent and received).
    pub(crate) blobs: tern_blob::store::Store,
    /// The transfer task.
    pub(crate) transfers: crate::transfer::Transfers,
    /// Received files up to this size are fetched at once.
    pub(crate) auto_download: u64,
    /// Whether marking a group read sends read receipts to it.
    pub(crate) group_read_receipts: bool,
    /// The device's Ed25519 secret key (its libp2p identity): group leaves sign with it.
    pub(crate) device_secret: zeroize::Zeroizing<[u8; 32]>,
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
    /// Other accounts' records, lookups and one-time prekeys.
    records: records::Records,
    in_flight: in_flight::InFlight,
    /// For each recipient, when its latest deposits have been queued at the network task:
    /// the next ones are queued after them (`Core::leave_at_relays`).
    deposits_queued: HashMap<UserId, oneshot::Receiver<()>>,
    /// The outbox in memory, kept in step with every commit.
    queue: queue::Queue,
    /// A handle on our own request queue, for the relay collectors (one-time prekeys).
    requests_tx: mpsc::Sender<Request>,
    /// Collectors' reports on their relays, and the sending side handed to each.
    health_rx: mpsc::Receiver<crate::relay_path::HealthReport>,
    health_tx: mpsc::Sender<crate::relay_path::HealthReport>,
    /// Each collector's stop switch.
    collectors: HashMap<libp2p::PeerId, CancellationToken>,
    /// When to publish our record.
    publication: publish::Publication,
    /// Set when a commit failed: nothing is acknowledged any more.
    failed: bool,
    /// The relays that hold our mailbox, and their health.
    relays: relays::Relays,
    /// The relays we have seen answer probes, and since when.
    sightings: discovery::Sightings,
    /// One task per relay collecting our mail; aborted when the core stops.
    fetchers: JoinSet<()>,
    /// Whether messages may go straight to recipients.
    direct: bool,
    /// Whether the outbox seals what it sends directly too, instead of direct envelopes.
    seal_direct: bool,
    invite_part_len: usize,
    /// What to restore if a received envelope or group fails before its commit.
    undo: receive::Undo,
    /// When to rotate keys and prune, and the pruning pass in progress.
    upkeep: Upkeep,
    /// The message requests.
    area: requests::Area,
    /// Where senders stand, cached; every change of standing removes the peer's entry.
    standing: HashMap<UserId, requests::Standing>,
    /// Request messages dropped to stay within the caps, since start.
    requests_dropped: u64,
    /// The free space to leave on the database's disk.
    min_free_disk: u64,
    /// Deliveries and sends refused for want of disk space, since start.
    storage_full: u64,
    /// Received changes (edits, deletes) refused, by reason, since start.
    changes_refused: std::collections::BTreeMap<&'static str, u64>,
    /// Conversations holding changes that wait for their targets.
    orphan_convs: std::collections::HashSet<Conv>,
    /// The settings of every conversation that has any (mute, archive, pin).
    settings: HashMap<Conv, crate::tables::ChatSettingsRow>,
    /// The conversations with a download rule of their own ([`crate::tables::DownloadRules`]).
    download_rules: HashMap<Conv, u64>,
    /// The full-text index of history, or its build in progress.
    search: search::Search,
    /// Deleted messages being erased from the files (see `changes`).
    erasing: JoinSet<()>,
    /// Every conversation's disappearing-message timer that was ever set.
    timers: HashMap<Conv, crate::tables::TimerRow>,
    /// When the first running timer runs out (Unix milliseconds).
    next_expiry: Option<u64>,
    /// Typing and presence.
    signals: signals::Signals,
    /// The identity key pinned for each peer, and the policy for a change.
    identities: HashMap<UserId, crate::tables::IdentityRow>,
    /// Our account before its identity key was last replaced, while it is kept.
    previous: Option<identity::Previous>,
    /// The profile's blob store.
    blobs: tern_blob::store::Store,
    /// The transfer task, which fetches and serves files.
    transfers: crate::transfer::Transfers,
    /// Received files up to this size are fetched at once.
    auto_download: u64,
    /// Whether marking a group read sends read receipts to it.
    group_read_receipts: bool,
    /// Peers whose files are being fetched: a direct message from one tells the transfer
    /// task it is online.
    fetching_from: std::collections::HashSet<UserId>,
    /// Files sent whose copies wait for their message to go to the recipient's relays.
    unstarted_uploads: HashMap<MessageId, tern_blob::Root>,
    /// The groups we are in, and their log tasks' reports.
    groups: groups::GroupState,
}

/// How much the disk still takes, against the reserve.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Room {
    /// More than twice the reserve is free.
    Plenty,
    /// Less than twice the reserve: strangers' messages wait.
    Short,
    /// Less than the reserve: nothing new is taken in.
    Full,
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
    /// Messages the batch deletes, to be erased from the files once it is durable.
    erase: Vec<(Conv, Stamp, [u8; 16])>,
    /// What the batch changes in the search index, applied once it is durable.
    search: Vec<search::SearchOp>,
    /// Blobs whose rows the batch deletes, deleted from disk once it is durable.
    unfile: Vec<tern_blob::Root>,
    /// When events of `events` (by index) happened, where that is not now: changes read
    /// from a group's log, which history keeps as notices where they happened.
    happened: Vec<(usize, Stamp)>,
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
            erase: Vec::new(),
            search: Vec::new(),
            unfile: Vec::new(),
            happened: Vec::new(),
        }
    }

    /// Records that the events staged since index `from` happened at `at`, in the order
    /// staged (one counter step apart).
    fn happened_since(&mut self, from: usize, at: Stamp) {
        let staged = from..self.events.len();
        self.happened
            .extend(staged.zip(0..).map(|(index, step)| (index, at + step)));
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
            records: records::Records::default(),
            in_flight: in_flight::InFlight::new(),
            deposits_queued: HashMap::new(),
            queue: queue::Queue::default(),
            requests_tx: parts.requests_tx,
            health_rx,
            health_tx,
            collectors: HashMap::new(),
            publication: publish::Publication::default(),
            failed: false,
            relays: relays::Relays::new(
                parts.relays,
                parts.discovery,
                parts.failover_after,
                std::time::Instant::now(),
            ),
            sightings: discovery::Sightings::default(),
            fetchers: JoinSet::new(),
            direct: parts.direct,
            seal_direct: parts.seal_direct,
            invite_part_len: parts.invite_part_len,
            undo: receive::Undo::default(),
            upkeep: Upkeep::new(parts.time.now_ms()),
            area: requests::Area::default(),
            standing: HashMap::new(),
            requests_dropped: 0,
            min_free_disk: parts.min_free_disk,
            storage_full: 0,
            changes_refused: std::collections::BTreeMap::new(),
            orphan_convs: std::collections::HashSet::new(),
            settings: HashMap::new(),
            download_rules: HashMap::new(),
            search: search::Search::default(),
            erasing: JoinSet::new(),
            timers: HashMap::new(),
            next_expiry: None,
            signals: signals::Signals::default(),
            identities: HashMap::new(),
            previous: None,
            blobs: parts.blobs,
            transfers: parts.transfers,
            auto_download: parts.auto_download,
            group_read_receipts: parts.group_read_receipts,
            fetching_from: std::collections::HashSet::new(),
            unstarted_uploads: HashMap::new(),
            groups: groups::GroupState::new(
                parts.device_secret,
                parts.group_failover,
                parts.drop_group_followups,
            ),
        }
    }

    pub(crate) async fn run(mut self) {
        // Relays picked from the DHT earlier stay ours across restarts: senders were told
        // about them in our record.
        match self
            .read(|s| s.get::<State>(&STATE_RELAYS.to_owned()))
            .await
        {
            Ok(Some(bytes)) => self
                .relays
                .restore(crate::relay_path::decode_relays(&bytes)),
            Ok(None) => {}
            Err(e) => warn!("cannot read the relays picked earlier: {e}"),
        }
        self.load_sightings().await;
        if let Err(e) = self.load_settings().await {
            error!("cannot read the chat settings, refusing changes: {e}");
            self.failed = true;
        }
        if let Err(e) = self.load_timers().await {
            error!("cannot read the disappearing-message timers, refusing changes: {e}");
            self.failed = true;
        }
        if let Err(e) = self.load_identities().await {
            error!("cannot read the peers' identity keys, refusing changes: {e}");
            self.failed = true;
        }
        if let Err(e) = self.load_sharing().await {
            warn!("cannot read what this account shares, sharing nothing: {e}");
        }
        // Messages whose time ran out while the node was stopped go before anything is served.
        self.expire_due().await;
        if let Err(e) = self.load_orphans().await {
            error!("cannot read the changes waiting for their messages, refusing changes: {e}");
            self.failed = true;
        }
        for (relay, addresses) in self.relays.all().to_vec() {
            self.start_collector(relay, addresses);
        }
        if let Err(e) = self.load_groups().await {
            error!("cannot read the groups, refusing changes: {e}");
            self.failed = true;
        }
        // After the groups: a group's files are fetched from and uploaded to its sequencers.
        if let Err(e) = self.resume_fetches().await {
            warn!("cannot resume the files being fetched: {e}");
        }
        if let Err(e) = self.resume_uploads().await {
            warn!("cannot resume the files being uploaded: {e}");
        }
        if let Err(e) = self.resume_invite_fetches().await {
            warn!("cannot resume the invitations being fetched: {e}");
        }
        match self
            .read(|s| s.scan::<Outbox>(.., ScanDirection::Forward, usize::MAX))
            .await
        {
            Ok(rows) => self.queue = queue::Queue::load(&rows),
            Err(e) => {
                error!("cannot read the outbox, refusing changes: {e}");
                self.failed = true;
            }
        }
        match self
            .read(|s| s.scan::<crate::tables::Requests>(.., ScanDirection::Forward, usize::MAX))
            .await
        {
            Ok(rows) => self.area = requests::Area::load(rows),
            Err(e) => {
                error!("cannot read the message requests, refusing changes: {e}");
                self.failed = true;
            }
        }
        let indexer = self.start_indexer();
        let mut tick = tokio::time::interval(OUTBOX_TICK);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut relay_check = tokio::time::interval(RELAY_CHECK_EVERY);
        relay_check.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut addresses = self.net.addresses();
        loop {
            tokio::select! {
                () = self.cancel.cancelled() => break,
                Ok(()) = addresses.changed() => self.publication.invalidate(),
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
                Some(mut outcomes) = self.in_flight.next(), if !self.in_flight.is_empty() => {
                    while outcomes.len() < INBOUND_BATCH {
                        match self.in_flight.try_next() {
                            Some(next) => outcomes.extend(next),
                            None => break,
                        }
                    }
                    self.on_outcomes(outcomes).await;
                }
                _ = tick.tick() => {
                    self.upkeep().await;
                    self.expire_due().await;
                    self.signals_tick().await;
                    self.dispatch_due().await;
                    self.renew_group_keys().await;
                    self.send_group_receipts().await;
                    self.commit_waiting_leaves().await;
                    self.fail_over_logs().await;
                    self.remake_set_aside_commits().await;
                    self.retry_due_adds().await;
                    self.offer_unhanded();
                }
                _ = relay_check.tick() => self.check_relays().await,
                Some((relay, working)) = self.health_rx.recv() => {
                    self.relays.report(relay, working, std::time::Instant::now());
                }
                Some(report) = self.groups.reports.recv() => self.on_log_report(report).await,
            }
            if !self.groups.followups.is_empty() {
                self.run_group_followups().await;
            }
            if self.publication.due(self.time.now_ms()) {
                self.publish().await;
            }
        }
        self.in_flight.abort_all();
        // The indexer's build and erasures hold the database open; the node's shutdown waits
        // for this task, and the build stops early once cancelled.
        self.stop_search();
        let _ = indexer.await;
        while self.erasing.join_next().await.is_some() {}
        debug!("core task stopped");
    }

    /// How much room the disk has, against the reserve (plenty if the filesystem does not
    /// say).
    fn room(&self) -> Room {
        match self.store.free_space() {
            Some(free) if free < self.min_free_disk => Room::Full,
            Some(free) if free < self.min_free_disk.saturating_mul(2) => Room::Short,
            _ => Room::Plenty,
        }
    }

    fn conv(&self, peer: &UserId) -> Conv {
        self.store.index_id("conversation", peer.as_bytes())
    }

    /// Commits and publishes; on failure the node stops accepting changes.
    async fn commit(&mut self, mut pending: Pending) -> Result<Vec<(Cursor, Event)>, Error> {
        if self.failed {
            return Err(Error::Storage(StorageError::other(
                "the store failed earlier; restart the node",
            )));
        }
        self.seal_pending(&mut pending).await?;
        let Pending {
            mut batch,
            events,
            queued,
            erase,
            search,
            unfile,
            happened,
            ..
        } = pending;
        self.stage_notices(&mut batch, &events, &happened)?;
        let mut published = Vec::with_capacity(events.len());
        for event in events {
            let cursor = Cursor(self.next_event);
            self.next_event += 1;
            if let Some((chat, id)) = changes::carried(&event)
                && let Ok(conv) = self.chat_conv(chat)
            {
                batch.put::<crate::tables::EventIndex>(&(conv, *id.as_bytes(), cursor.0), &())?;
            }
            let row = EventRow(event);
            batch.put::<Events>(&cursor.0, &row)?;
            published.push((cursor, row.0));
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
                    self.queue.committed(seq, entry, envelope);
                }
                self.committed_events
                    .store(self.next_event, std::sync::atomic::Ordering::SeqCst);
                for item in &published {
                    // No subscriber is not an error: the log keeps the events.
                    let _ = self.events.send(item.clone());
                }
                self.erase_later(erase);
                self.delete_blobs_later(unfile);
                self.on_search_ops(search).await;
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
                Err(Error::Storage(StorageError::other(e.to_string())))
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
            .map_err(|e| Error::Storage(StorageError::other(e.to_string())))?
            .map_err(Error::from)
    }

    /// Row `key` of table `T` as the write staged in `batch` leaves it: the batch's own write
    /// if it has one (an earlier step of the same write changed the row), else the store's.
    async fn read_staged<T>(&self, batch: &Batch, key: T::Key) -> Result<Option<T::Value>, Error>
    where
        T: crate::store::Table + 'static,
        T::Key: Send + 'static,
        T::Value: Send + 'static,
    {
        match batch.staged::<T>(&key)? {
            Some(staged) => Ok(staged),
            None => self.read(move |s| s.get::<T>(&key)).await,
        }
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
                Request::Send {
                    peer,
                    compose,
                    reply,
                } => {
                    sends.push(send::SendRequest {
                        peer,
                        compose,
                        reply,
                    });
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
}

/// Keeps `map` within `max` entries, evicting a quarter more than the excess at once so that
/// a full cache is not trimmed on every insert. The caches it bounds are written through or
/// can be looked up again, so an evicted entry costs only a read or a lookup.
fn bound<K: Copy + Eq + std::hash::Hash, V>(map: &mut HashMap<K, V>, max: usize) {
    if map.len() > max {
        let excess: Vec<K> = map.keys().take(map.len() - max * 3 / 4).copied().collect();
        for key in excess {
            map.remove(&key);
        }
    }
}
