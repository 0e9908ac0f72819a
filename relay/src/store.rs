//! The relay's database: the only module that uses RocksDB.
//!
//! Tables (column families):
//! - `envelopes`: `mailbox id [32] ‖ envelope id u64 BE` → `stored_at u64 BE ‖ envelope`. Big-
//!   endian ids make a mailbox one contiguous range, oldest first.
//! - `meta`: `"schema"` → `u32 BE`, `"next_id"` → `u64 BE`.
//! - `prekeys`: `mailbox id [32] ‖ prekey id u32 BE` → `stored_at u64 BE ‖` the owner's
//!   signed one-time prekey (`OneTimePrekey::to_bytes`). Public keys the owner published for
//!   senders; taking one deletes it in a synced write before it is handed out. They count
//!   against the mailbox's byte quota and the disk budget, and expire like envelopes.
//!   (Schema 1 stored the prekey alone; opening such a store dates them to the upgrade.)
//! - `digests`: `mailbox id [32] ‖ SHA-256 of the envelope [32]` → `envelope id u64 BE ‖
//!   stored_at u64 BE`, written with each envelope and kept for [`DEDUP_WINDOW_SECS`]
//!   whether or not the envelope is acknowledged meanwhile. The same envelope deposited again
//!   within that time (a sender depositing again after a stream broke before its receipt
//!   came) is answered with a receipt for the first deposit rather than stored twice; the
//!   answer does not depend on whether the owner has collected it. Expiry forgets older rows.
//!   (Schema 2 had no such table.)
//! - `blobs`: `root [32]` → a held attachment's record (`store/blobs.rs`): its read
//!   capability, length, times, and the mailbox whose blob quota it counts against. The
//!   encrypted blobs themselves are files in `blobs/` beside the database.
//!
//! Nothing else is stored: no sender, no peer id, no address. Per-mailbox usage (messages and
//! bytes) is rebuilt in memory from the keys at start. Deposits are written in groups by one
//! writer thread, each group one synced write, so that custody receipts (sent only after the
//! write returns) are true and many deposits share one sync.
//!
//! A full disk is an ordinary condition, not a failure: the writer keeps `min_free` bytes of
//! the filesystem free and refuses deposits that would eat into it, so acknowledgements (which
//! write tombstones) always have room, and a deposit is accepted again as soon as space is
//! back. A write that fails anyway leaves nothing half-done (a RocksDB batch is atomic), marks
//! the store unhealthy until a write succeeds, and never stops fetches and acknowledgements.

use std::{
    collections::HashMap,
    path::{Path, PathBuf},
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant},
};

use rocksdb::{
    ColumnFamilyDescriptor, DB, Direction, IteratorMode, Options, WriteBatch, WriteOptions,
};
use tern_proto::mailbox::{Custody, CustodyBatch, Refusal, StoredEnvelope};
use tokio::sync::{mpsc, oneshot};

use crate::timing::Timings;

mod blobs;
mod logs;
mod reclaim;
mod schema;
mod watch;
mod writer;

pub(crate) use self::{
    blobs::BlobRecord,
    logs::{LogJob, LogOutcome, LogWork},
    watch::Watch,
};

use self::{
    logs::{LOGS, write_logs},
    schema::{families, migrate},
    writer::{WriteFailure, Writer, next_group, write_deposits},
};

const ENVELOPES: &str = "envelopes";
const META: &str = "meta";
const PREKEYS: &str = "prekeys";
const BLOBS: &str = "blobs";
const DIGESTS: &str = "digests";
const SCHEMA_VERSION: u32 = 4;
/// How long a deposit's digest is remembered: a deposit made again within it is stored once.
/// Senders deposit again at once after a broken stream, or after a relay's restart; an hour
/// covers both and bounds the table to an hour or two of deposits.
pub(crate) const DEDUP_WINDOW_SECS: u64 = 3600;
/// Most deposits written in one synced batch.
const GROUP: usize = 512;
/// Keys deleted in one write (and looked up in one batch) at most.
const DELETE_CHUNK: usize = 4096;
/// Deposits waiting for the writer; depositors beyond it wait, asynchronously (backpressure).
const QUEUE: usize = 4096;

/// A database failure.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// RocksDB failed.
    #[error("database: {0}")]
    Db(#[from] rocksdb::Error),
    /// The data directory is from a newer version.
    #[error("unsupported schema version {0}")]
    Schema(u32),
    /// A stored value is damaged.
    #[error("damaged data: {0}")]
    Corrupt(&'static str),
    /// The blob directory failed.
    #[error("blob store: {0}")]
    Blobs(String),
}

/// Limits applied to deposits and prekey uploads.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Quota {
    pub(crate) max_messages: u64,
    pub(crate) max_bytes: u64,
    pub(crate) disk_budget: u64,
    /// Bytes of the filesystem always left free.
    pub(crate) min_free: u64,
    /// Bytes held per group log.
    pub(crate) log_bytes: u64,
}

/// What one mailbox holds: envelopes, and bytes of envelopes and prekeys.
#[derive(Default, Clone, Copy)]
struct Usage {
    messages: u64,
    bytes: u64,
}

impl Usage {
    /// Whether `extra` more bytes (and a message, if `message`) fit in `quota`.
    fn admits(&self, quota: &Quota, bytes: u64, message: bool) -> bool {
        (!message || self.messages < quota.max_messages) && self.bytes + bytes <= quota.max_bytes
    }
}

/// Usage by mailbox, and bytes held in all.
#[derive(Default)]
struct Ledger {
    mailboxes: HashMap<[u8; 32], Usage>,
    total: u64,
}

impl Ledger {
    fn add(&mut self, mailbox: [u8; 32], messages: u64, bytes: u64) {
        let entry = self.mailboxes.entry(mailbox).or_default();
        entry.messages += messages;
        entry.bytes += bytes;
        self.total += bytes;
    }

    fn remove(&mut self, mailbox: &[u8; 32], messages: u64, bytes: u64) {
        if let Some(entry) = self.mailboxes.get_mut(mailbox) {
            entry.messages = entry.messages.saturating_sub(messages);
            entry.bytes = entry.bytes.saturating_sub(bytes);
            if entry.messages == 0 && entry.bytes == 0 {
                self.mailboxes.remove(mailbox);
            }
        }
        self.total = self.total.saturating_sub(bytes);
    }

    fn of(&self, mailbox: &[u8; 32]) -> Usage {
        self.mailboxes.get(mailbox).copied().unwrap_or_default()
    }
}

struct Shared {
    db: DB,
    dir: PathBuf,
    quota: Quota,
    usage: Mutex<Ledger>,
    /// The last write failed; cleared by the next one that succeeds.
    failing: AtomicBool,
    /// When the store last compacted to give deleted bytes back to a filesystem short of
    /// space, and whether anything was deleted since.
    reclaimed: Mutex<Option<Instant>>,
    deleted: AtomicBool,
    /// Serialises uploads and takes of one-time prekeys: two senders must never be handed
    /// the same one.
    prekeys: Mutex<()>,
    /// Where the writer reports each synced write's new envelopes, by mailbox.
    commits: Mutex<Option<mpsc::Sender<Vec<[u8; 32]>>>>,
    /// Held by the log writer for each group, and by log expiry: one of them at a time
    /// updates a log's state row.
    logs_lock: Mutex<()>,
    /// Held log reads, by log: told each synced write's new next sequence number.
    log_watchers: Arc<watch::Watchers>,
    /// Held collect-stream reads, by mailbox: told each synced write that stores for it.
    mailbox_watchers: Arc<watch::Watchers>,
}

/// How often, at most, the store compacts to hand deleted bytes back to a full filesystem.
const RECLAIM_EVERY: Duration = Duration::from_secs(5);

impl Shared {
    /// Bytes the filesystem holding the database can still give us, if it says.
    fn free_space(&self) -> Option<u64> {
        let stat = rustix::fs::statvfs(&self.dir).ok()?;
        Some(stat.f_bavail.saturating_mul(stat.f_frsize))
    }

    /// Whether `bytes` more can be written without eating into the free-space reserve.
    fn room_for(&self, free: Option<u64>, bytes: u64) -> bool {
        free.is_none_or(|free| free.saturating_sub(bytes) >= self.quota.min_free)
    }

    /// Writes `batch` synced, recording whether the store is healthy.
    fn write_synced(&self, batch: WriteBatch) -> Result<(), rocksdb::Error> {
        let mut options = WriteOptions::default();
        options.set_sync(true);
        let result = self.db.write_opt(batch, &options);
        self.failing.store(result.is_err(), Ordering::Relaxed);
        if let Err(e) = &result {
            tracing::error!("a write failed: {e}");
        }
        result
    }

    /// Writes a writer's group synced. A failed batch wrote nothing (RocksDB batches are
    /// atomic): its requests are refused, typed by the cause, and the next group tries again.
    fn write_group(&self, batch: WriteBatch) -> Result<(), WriteFailure> {
        self.write_synced(batch).map_err(|e| {
            if is_no_space(&e) {
                WriteFailure::NoSpace
            } else {
                WriteFailure::Failed
            }
        })
    }
}

/// Whether a RocksDB error is the filesystem being full.
fn is_no_space(e: &rocksdb::Error) -> bool {
    e.to_string().contains("No space left")
}

/// A deposit waiting for the writer.
pub(crate) struct Deposit {
    pub(crate) mailbox: [u8; 32],
    pub(crate) envelope: Vec<u8>,
    /// SHA-256 of the envelope, computed by the depositor's task rather than the writer.
    pub(crate) digest: [u8; 32],
    pub(crate) stored_at: u64,
    pub(crate) reply: oneshot::Sender<Result<Stored, Refusal>>,
}

/// A deposit made durable: the synced write's batch of custodies, signed once, and the
/// deposit's place in it.
#[derive(Debug, Clone)]
pub(crate) struct Stored {
    pub(crate) batch: Arc<CustodyBatch>,
    pub(crate) index: usize,
}

/// Totals for metrics.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Totals {
    pub(crate) mailboxes: u64,
    pub(crate) messages: u64,
    pub(crate) bytes: u64,
}

/// A handle to the relay's database; cheap to clone.
#[derive(Clone)]
pub(crate) struct Store {
    shared: Arc<Shared>,
    writer: Arc<Writer>,
}

fn be64(bytes: &[u8]) -> Option<u64> {
    Some(u64::from_be_bytes(bytes.get(..8)?.try_into().ok()?))
}

fn prekey_key(mailbox: &[u8; 32], id: u32) -> [u8; 36] {
    let mut key = [0u8; 36];
    key[..32].copy_from_slice(mailbox);
    key[32..].copy_from_slice(&id.to_be_bytes());
    key
}

fn digest_key(mailbox: &[u8; 32], digest: &[u8; 32]) -> [u8; 64] {
    let mut key = [0u8; 64];
    key[..32].copy_from_slice(mailbox);
    key[32..].copy_from_slice(digest);
    key
}

/// A digest row's value: where the envelope is held, and since when.
fn digest_value(id: u64, stored_at: u64) -> [u8; 16] {
    let mut value = [0u8; 16];
    value[..8].copy_from_slice(&id.to_be_bytes());
    value[8..].copy_from_slice(&stored_at.to_be_bytes());
    value
}

/// If `keys` are envelope keys of one mailbox, in increasing order: the key just past the
/// last, where a scan over them ends.
fn run_end<K: AsRef<[u8]>>(keys: &[K]) -> Option<[u8; 40]> {
    let first: &[u8; 40] = keys.first()?.as_ref().try_into().ok()?;
    let last: &[u8; 40] = keys.last()?.as_ref().try_into().ok()?;
    let mailbox: &[u8; 32] = first[..32].try_into().ok()?;
    let increasing = keys.windows(2).all(|pair| {
        let (a, b) = (pair[0].as_ref(), pair[1].as_ref());
        a.len() == 40 && b.len() == 40 && a[..32] == *mailbox && b[..32] == *mailbox && a < b
    });
    if !increasing {
        return None;
    }
    Some(key(mailbox, be64(&last[32..])?.checked_add(1)?))
}

fn key(mailbox: &[u8; 32], id: u64) -> [u8; 40] {
    let mut key = [0u8; 40];
    key[..32].copy_from_slice(mailbox);
    key[32..].copy_from_slice(&id.to_be_bytes());
    key
}

impl Store {
    /// Opens (or creates) the database in `dir` and starts the writer thread with `quota`.
    pub(crate) fn open(dir: &Path, quota: Quota, timings: Timings) -> Result<Self, StoreError> {
        let (options, families) = families(&quota);
        let db = DB::open_cf_descriptors(&options, dir, families)?;
        migrate(&db)?;
        let meta = db.cf_handle(META).ok_or(StoreError::Corrupt("meta"))?;
        let mut next_id = db
            .get_cf(meta, b"next_id")?
            .as_deref()
            .and_then(be64)
            .unwrap_or(1);
        let mut usage = Ledger::default();
        for (name, is_message) in [(ENVELOPES, true), (PREKEYS, false)] {
            let cf = db.cf_handle(name).ok_or(StoreError::Corrupt("family"))?;
            for item in db.iterator_cf(cf, IteratorMode::Start) {
                let (k, v) = item?;
                let mailbox: [u8; 32] = k
                    .get(..32)
                    .and_then(|m| m.try_into().ok())
                    .ok_or(StoreError::Corrupt("key"))?;
                if is_message {
                    let id = be64(&k[32..]).ok_or(StoreError::Corrupt("key"))?;
                    next_id = next_id.max(id + 1);
                }
                usage.add(mailbox, u64::from(is_message), v.len() as u64);
            }
        }
        usage.total += logs::held_bytes(&db)?;
        let shared = Arc::new(Shared {
            db,
            dir: dir.to_owned(),
            quota,
            usage: Mutex::new(usage),
            failing: AtomicBool::new(false),
            reclaimed: Mutex::new(None),
            deleted: AtomicBool::new(false),
            prekeys: Mutex::new(()),
            commits: Mutex::new(None),
            logs_lock: Mutex::new(()),
            log_watchers: Arc::default(),
            mailbox_watchers: Arc::default(),
        });
        let (deposits, mut queue) = mpsc::channel(QUEUE);
        let writer = shared.clone();
        let thread = std::thread::Builder::new()
            .name("relay-writer".into())
            .spawn(move || write_deposits(&writer, &mut queue, next_id, &timings))
            .map_err(|_| StoreError::Corrupt("cannot start the writer thread"))?;
        let (logs, mut log_queue) = mpsc::channel(logs::QUEUE);
        let log_writer = shared.clone();
        let log_thread = std::thread::Builder::new()
            .name("relay-log-writer".into())
            .spawn(move || write_logs(&log_writer, &mut log_queue))
            .map_err(|_| StoreError::Corrupt("cannot start the log writer thread"))?;
        Ok(Self {
            shared,
            writer: Arc::new(Writer {
                deposits: Some(deposits),
                logs: Some(logs),
                threads: vec![thread, log_thread],
            }),
        })
    }

    /// From now on, tells `to` the mailbox of every envelope stored, once per synced write
    /// (before the write's depositors hear of it), whichever protocol brought it; a repeat
    /// answered for an earlier deposit is not told again. The writer waits while `to` is full,
    /// and stops telling once it is closed.
    pub(crate) fn report_commits(&self, to: mpsc::Sender<Vec<[u8; 32]>>) {
        *self
            .shared
            .commits
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = Some(to);
    }

    /// Whether the last write failed (the relay then reports itself unhealthy; it keeps
    /// trying).
    pub(crate) fn failing(&self) -> bool {
        self.shared.failing.load(Ordering::Relaxed)
    }

    /// Queues a deposit for the writer, waiting while the queue is full.
    pub(crate) async fn deposit(&self, deposit: Deposit) {
        let Some(queue) = &self.writer.deposits else {
            let _ = deposit.reply.send(Err(Refusal::Unavailable));
            return;
        };
        if let Err(mpsc::error::SendError(deposit)) = queue.send(deposit).await {
            let _ = deposit.reply.send(Err(Refusal::Unavailable));
        }
    }

    /// Up to `limit` envelopes of `mailbox` after id `after`, and at most `max_bytes` of them;
    /// and whether more follow.
    pub(crate) fn fetch(
        &self,
        mailbox: &[u8; 32],
        after: u64,
        limit: usize,
        max_bytes: usize,
    ) -> Result<(Vec<StoredEnvelope>, bool), StoreError> {
        let db = &self.shared.db;
        let cf = db
            .cf_handle(ENVELOPES)
            .ok_or(StoreError::Corrupt("envelopes"))?;
        let start = key(mailbox, after.saturating_add(1));
        // The bound keeps the scan inside the mailbox (ids never reach u64::MAX), so it stops
        // at the mailbox's end instead of walking on through the tombstones of acknowledged
        // envelopes to the next live key.
        let mut bounded = rocksdb::ReadOptions::default();
        bounded.set_iterate_upper_bound(key(mailbox, u64::MAX));
        let mut items = Vec::new();
        let mut bytes = 0usize;
        for item in db.iterator_cf_opt(cf, bounded, IteratorMode::From(&start, Direction::Forward))
        {
            let (k, v) = item?;
            if items.len() >= limit || (bytes + v.len() > max_bytes && !items.is_empty()) {
                return Ok((items, true));
            }
            let id = be64(&k[32..]).ok_or(StoreError::Corrupt("key"))?;
            let stored_at = be64(&v).ok_or(StoreError::Corrupt("value"))?;
            bytes += v.len();
            items.push(StoredEnvelope {
                id,
                envelope: v[8..].to_vec(),
                stored_at,
            });
        }
        Ok((items, false))
    }

    /// The one-time prekeys held for `mailbox`, at most `cap` (a mailbox never holds more).
    fn prekey_count(&self, mailbox: &[u8; 32]) -> Result<u32, StoreError> {
        let db = &self.shared.db;
        let cf = db
            .cf_handle(PREKEYS)
            .ok_or(StoreError::Corrupt("prekeys"))?;
        let mut count = 0;
        for item in db.iterator_cf(cf, IteratorMode::From(mailbox, Direction::Forward)) {
            let (k, _) = item?;
            if k.get(..32) != Some(mailbox.as_slice()) {
                break;
            }
            count += 1;
        }
        Ok(count)
    }

    /// Stores `prekeys` (id, encoding) for `mailbox` up to `cap` held, dated `now`, in one
    /// synced write; returns how many are held afterwards. The caller has verified them.
    /// They count against the mailbox's byte quota and the disk budget like envelopes.
    pub(crate) fn upload_prekeys(
        &self,
        mailbox: &[u8; 32],
        prekeys: &[(u32, Vec<u8>)],
        cap: u32,
        now: u64,
    ) -> Result<u32, Refusal> {
        let _guard = self
            .shared
            .prekeys
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        let db = &self.shared.db;
        let cf = db.cf_handle(PREKEYS).ok_or(Refusal::Unavailable)?;
        let mut held = self
            .prekey_count(mailbox)
            .map_err(|_| Refusal::Unavailable)?;
        let mut batch = WriteBatch::default();
        let mut added = 0u64;
        for (id, prekey) in prekeys {
            if held >= cap {
                break;
            }
            let key = prekey_key(mailbox, *id);
            if db
                .get_pinned_cf(cf, key)
                .map_err(|_| Refusal::Unavailable)?
                .is_some()
            {
                continue;
            }
            held += 1;
            let mut value = Vec::with_capacity(8 + prekey.len());
            value.extend_from_slice(&now.to_be_bytes());
            value.extend_from_slice(prekey);
            added += value.len() as u64;
            batch.put_cf(cf, key, value);
        }
        if batch.is_empty() {
            return Ok(held);
        }
        let shared = &self.shared;
        let mut usage = shared.usage.lock().unwrap_or_else(|e| e.into_inner());
        if usage.total + added > shared.quota.disk_budget
            || !shared.room_for(shared.free_space(), added)
        {
            return Err(Refusal::StorageFull);
        }
        if !usage.of(mailbox).admits(&shared.quota, added, false) {
            return Err(Refusal::QuotaExceeded);
        }
        shared.write_synced(batch).map_err(|e| {
            if is_no_space(&e) {
                Refusal::StorageFull
            } else {
                Refusal::Unavailable
            }
        })?;
        usage.add(*mailbox, 0, added);
        Ok(held)
    }

    /// Removes and returns one one-time prekey of `mailbox`, durably deleted first.
    pub(crate) fn take_prekey(&self, mailbox: &[u8; 32]) -> Result<Option<Vec<u8>>, StoreError> {
        let _guard = self
            .shared
            .prekeys
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        let db = &self.shared.db;
        let cf = db
            .cf_handle(PREKEYS)
            .ok_or(StoreError::Corrupt("prekeys"))?;
        let first = db
            .iterator_cf(cf, IteratorMode::From(mailbox, Direction::Forward))
            .next()
            .transpose()?;
        let Some((k, v)) = first else {
            return Ok(None);
        };
        if k.get(..32) != Some(mailbox.as_slice()) {
            return Ok(None);
        }
        let prekey = v.get(8..).ok_or(StoreError::Corrupt("prekey"))?.to_vec();
        let mut batch = WriteBatch::default();
        batch.delete_cf(cf, &k);
        self.shared.write_synced(batch)?;
        let mut usage = self.shared.usage.lock().unwrap_or_else(|e| e.into_inner());
        usage.remove(mailbox, 0, v.len() as u64);
        Ok(Some(prekey))
    }

    /// Deletes `ids` of `mailbox` in one synced write; returns how many existed.
    pub(crate) fn ack(&self, mailbox: &[u8; 32], ids: &[u64]) -> Result<u32, StoreError> {
        self.delete(ENVELOPES, ids.iter().map(|id| key(mailbox, *id)), true)
    }

    /// Deletes acknowledged envelopes as [`Store::ack`] does, without a sync of their own: a
    /// crash right after may bring some back, which the owner recognises as duplicates. The
    /// next synced write (any deposit) makes the deletes durable too.
    pub(crate) fn ack_unsynced(&self, mailbox: &[u8; 32], ids: &[u64]) -> Result<u32, StoreError> {
        self.delete(ENVELOPES, ids.iter().map(|id| key(mailbox, *id)), false)
    }

    /// A watch on `mailbox`, changed after each synced write that stores an envelope for
    /// it. Made before a read, so that no deposit between the two is missed.
    pub(crate) fn watch_mailbox(&self, mailbox: &[u8; 32]) -> Watch {
        self.shared.mailbox_watchers.watch(mailbox)
    }

    /// Deletes every envelope and one-time prekey stored before `cutoff` (Unix seconds);
    /// returns how many envelopes.
    pub(crate) fn expire(&self, cutoff: u64) -> Result<u32, StoreError> {
        let mut envelopes = 0;
        for name in [ENVELOPES, PREKEYS] {
            let db = &self.shared.db;
            let cf = db.cf_handle(name).ok_or(StoreError::Corrupt("family"))?;
            let mut old = Vec::new();
            for item in db.iterator_cf(cf, IteratorMode::Start) {
                let (k, v) = item?;
                if be64(&v).is_some_and(|at| at < cutoff) {
                    old.push(k.to_vec());
                }
            }
            let _guard = (name == PREKEYS).then(|| {
                self.shared
                    .prekeys
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
            });
            let removed = self.delete(name, old.into_iter(), true)?;
            if name == ENVELOPES {
                envelopes = removed;
            }
        }
        // Digests past the dedup window answer nothing any more; they go unsynced (one that
        // a crash brings back is still past the window).
        let db = &self.shared.db;
        let digests = db.cf_handle(DIGESTS).ok_or(StoreError::Corrupt("family"))?;
        let until = crate::service::now_secs().saturating_sub(DEDUP_WINDOW_SECS);
        let mut batch = WriteBatch::default();
        for item in db.iterator_cf(digests, IteratorMode::Start) {
            let (k, v) = item?;
            if v.get(8..).and_then(be64).is_some_and(|at| at < until) {
                batch.delete_cf(digests, k);
            }
        }
        db.write(batch)?;
        Ok(envelopes)
    }

    /// Deletes `keys` from the family `name` (envelopes or prekeys) in one write, synced if
    /// `synced`, and takes them off the usage ledger; returns how many existed.
    fn delete<K: AsRef<[u8]>>(
        &self,
        name: &str,
        keys: impl Iterator<Item = K>,
        synced: bool,
    ) -> Result<u32, StoreError> {
        let db = &self.shared.db;
        let cf = db.cf_handle(name).ok_or(StoreError::Corrupt("family"))?;
        let messages = u64::from(name == ENVELOPES);
        // Each key once, in order: a key named twice is one row deleted, taken off the
        // ledger once.
        let mut keys: Vec<K> = keys.collect();
        keys.sort_unstable_by(|a, b| a.as_ref().cmp(b.as_ref()));
        keys.dedup_by(|a, b| a.as_ref() == b.as_ref());
        let mut deleted = 0;
        // In chunks (an expiry can delete millions), each looked up under the usage lock, so
        // that two deletes of the same key never both take it off the ledger.
        for chunk in keys.chunks(DELETE_CHUNK) {
            let mut usage = self.shared.usage.lock().unwrap_or_else(|e| e.into_inner());
            let found = self.lengths(cf, chunk)?;
            let mut batch = WriteBatch::default();
            let mut freed = Vec::new();
            for (k, len) in chunk.iter().zip(found) {
                if let Some(len) = len {
                    let mailbox: [u8; 32] = k.as_ref()[..32]
                        .try_into()
                        .map_err(|_| StoreError::Corrupt("key"))?;
                    freed.push((mailbox, len));
                    batch.delete_cf(cf, k.as_ref());
                }
            }
            if freed.is_empty() {
                continue;
            }
            if synced {
                self.shared.write_synced(batch)?;
            } else {
                self.shared.db.write(batch)?;
            }
            for (mailbox, bytes) in &freed {
                usage.remove(mailbox, messages, *bytes);
            }
            deleted += freed.len() as u32;
        }
        if deleted == 0 {
            return Ok(0);
        }
        self.shared.deleted.store(true, Ordering::Relaxed);
        self.shared.reclaim_if_short();
        Ok(deleted)
    }

    /// The length of the value under each of `keys` (sorted, each once) in `cf`, `None`
    /// where there is none.
    ///
    /// An acknowledged page is a run of one mailbox's envelopes, in order (their ids are not
    /// consecutive: every mailbox's deposits take ids from one counter, but a scan from the
    /// first key to the last reads this mailbox's rows alone). One scan over the run reads
    /// them in order, at a fraction of the cost of a lookup per key. Keys of several
    /// mailboxes, and a run the mailbox holds much else between (a scan would read more
    /// rows than it looks for), are looked up one by one.
    fn lengths<K: AsRef<[u8]>>(
        &self,
        cf: &rocksdb::ColumnFamily,
        keys: &[K],
    ) -> Result<Vec<Option<u64>>, StoreError> {
        let db = &self.shared.db;
        let look_up = || {
            db.batched_multi_get_cf(cf, keys.iter().map(AsRef::as_ref), true)
                .into_iter()
                .map(|v| Ok(v?.map(|v| v.len() as u64)))
                .collect()
        };
        let Some(end) = run_end(keys) else {
            return look_up();
        };
        // Rows the scan may read, the wanted ones included, before it gives up.
        let budget = 2 * keys.len() + 64;
        let mut lengths = vec![None; keys.len()];
        let mut bounded = rocksdb::ReadOptions::default();
        bounded.set_iterate_upper_bound(end);
        let mut scan = db.raw_iterator_cf_opt(cf, bounded);
        scan.seek(keys[0].as_ref());
        let (mut i, mut read) = (0, 0);
        while let (Some(found), Some(value)) = (scan.key(), scan.value()) {
            read += 1;
            if read > budget {
                return look_up();
            }
            while keys.get(i).is_some_and(|k| k.as_ref() < found) {
                i += 1;
            }
            let Some(wanted) = keys.get(i) else { break };
            if wanted.as_ref() == found {
                lengths[i] = Some(value.len() as u64);
                i += 1;
            }
            scan.next();
        }
        scan.status()?;
        Ok(lengths)
    }

    /// Whether something was deleted since the last [`Store::reclaim`] did its work.
    pub(crate) fn deleted_since_reclaim(&self) -> bool {
        self.shared.deleted.load(Ordering::Relaxed)
    }

    /// If the filesystem is short of space and something was deleted since the last try,
    /// flushes and compacts so the deleted bytes return to it. Blocking; cheap otherwise.
    pub(crate) fn reclaim(&self) {
        self.shared.reclaim_if_short();
    }

    /// Mailboxes, messages and bytes held.
    pub(crate) fn totals(&self) -> Totals {
        let usage = self.shared.usage.lock().unwrap_or_else(|e| e.into_inner());
        Totals {
            mailboxes: usage.mailboxes.len() as u64,
            messages: usage.mailboxes.values().map(|u| u.messages).sum(),
            bytes: usage.total,
        }
    }
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("failing", &self.failing())
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
pub(crate) mod tests;
