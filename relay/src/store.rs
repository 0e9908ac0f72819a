//! The relay's database: the only module that uses RocksDB.
//!
//! Tables (column families):
//! - `envelopes`: `mailbox id [32] ‖ envelope id u64 BE` → `stored_at u64 BE ‖ envelope`. Big-
//!   endian ids make a mailbox one contiguous range, oldest first.
//! - `meta`: `"schema"` → `u32 BE`, `"next_id"` → `u64 BE`.
//! - `prekeys`: `mailbox id [32] ‖ prekey id u32 BE` → the owner's signed one-time prekey
//!   (`OneTimePrekey::to_bytes`). Public keys the owner published for senders; taking one
//!   deletes it in a synced write before it is handed out.
//!
//! Nothing else is stored: no sender, no peer id, no address. Per-mailbox usage (messages and
//! bytes) is rebuilt in memory from the keys at start. Deposits are written in groups by one
//! writer thread, each group one synced write, so that custody receipts (sent only after the
//! write returns) are true and many deposits share one sync.

use std::{
    collections::HashMap,
    path::Path,
    sync::{Arc, Mutex},
};

use rocksdb::{
    ColumnFamilyDescriptor, DB, Direction, IteratorMode, Options, WriteBatch, WriteOptions,
};
use tern_proto::mailbox::{Refusal, StoredEnvelope};
use tokio::sync::{mpsc, oneshot};

use crate::timing::Timings;

const ENVELOPES: &str = "envelopes";
const META: &str = "meta";
const PREKEYS: &str = "prekeys";
const SCHEMA_VERSION: u32 = 1;
/// Most deposits written in one synced batch.
const GROUP: usize = 512;
/// Deposits waiting for the writer; depositors beyond it wait, asynchronously (backpressure).
const QUEUE: usize = 4096;

/// A database failure. The relay stops accepting deposits after one (the store is then
/// poisoned and the relay reports itself unhealthy).
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
    /// An earlier write failed.
    #[error("the store failed earlier")]
    Poisoned,
}

/// Limits applied to deposits.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Quota {
    pub(crate) max_messages: u64,
    pub(crate) max_bytes: u64,
    pub(crate) disk_budget: u64,
}

#[derive(Default, Clone, Copy)]
struct Usage {
    messages: u64,
    bytes: u64,
}

struct Shared {
    db: DB,
    usage: Mutex<(HashMap<[u8; 32], Usage>, u64)>,
    poisoned: std::sync::atomic::AtomicBool,
    /// Serialises uploads and takes of one-time prekeys: two senders must never be handed
    /// the same one.
    prekeys: Mutex<()>,
}

/// A deposit waiting for the writer.
pub(crate) struct Deposit {
    pub(crate) mailbox: [u8; 32],
    pub(crate) envelope: Vec<u8>,
    pub(crate) stored_at: u64,
    pub(crate) reply: oneshot::Sender<Result<u64, Refusal>>,
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

/// The writer thread and its queue. When the last handle goes, the queue closes and the
/// thread is joined, so the database is closed when the store is gone: a process that exits
/// right after (a test, `tern demo`) never races RocksDB's shutdown, and the data directory
/// can be reopened or removed at once.
struct Writer {
    deposits: Option<mpsc::Sender<Deposit>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Drop for Writer {
    fn drop(&mut self) {
        drop(self.deposits.take());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
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

fn key(mailbox: &[u8; 32], id: u64) -> [u8; 40] {
    let mut key = [0u8; 40];
    key[..32].copy_from_slice(mailbox);
    key[32..].copy_from_slice(&id.to_be_bytes());
    key
}

impl Store {
    /// Opens (or creates) the database in `dir` and starts the writer thread with `quota`.
    pub(crate) fn open(dir: &Path, quota: Quota, timings: Timings) -> Result<Self, StoreError> {
        let mut options = Options::default();
        options.create_if_missing(true);
        options.create_missing_column_families(true);
        // Envelopes are deleted as soon as they are acknowledged, so their column fills with
        // tombstones; a table file where deletes dominate is compacted away early rather than
        // slowing every scan that crosses it.
        let mut envelope_options = Options::default();
        envelope_options.add_compact_on_deletion_collector_factory(128, 64, 0.5);
        let families = [
            ColumnFamilyDescriptor::new(ENVELOPES, envelope_options),
            ColumnFamilyDescriptor::new(META, Options::default()),
            ColumnFamilyDescriptor::new(PREKEYS, Options::default()),
        ];
        let db = DB::open_cf_descriptors(&options, dir, families)?;
        let meta = db.cf_handle(META).ok_or(StoreError::Corrupt("meta"))?;
        match db.get_cf(meta, b"schema")? {
            None => {
                db.put_cf(meta, b"schema", SCHEMA_VERSION.to_be_bytes())?;
            }
            Some(v) => {
                let version = u32::from_be_bytes(
                    v.as_slice()
                        .try_into()
                        .map_err(|_| StoreError::Corrupt("schema"))?,
                );
                if version > SCHEMA_VERSION {
                    return Err(StoreError::Schema(version));
                }
            }
        }
        let mut next_id = db
            .get_cf(meta, b"next_id")?
            .as_deref()
            .and_then(be64)
            .unwrap_or(1);
        let mut usage: HashMap<[u8; 32], Usage> = HashMap::new();
        let mut total = 0u64;
        {
            let envelopes = db
                .cf_handle(ENVELOPES)
                .ok_or(StoreError::Corrupt("envelopes"))?;
            for item in db.iterator_cf(envelopes, IteratorMode::Start) {
                let (k, v) = item?;
                let mailbox: [u8; 32] = k
                    .get(..32)
                    .and_then(|m| m.try_into().ok())
                    .ok_or(StoreError::Corrupt("key"))?;
                let id = be64(&k[32..]).ok_or(StoreError::Corrupt("key"))?;
                next_id = next_id.max(id + 1);
                let entry = usage.entry(mailbox).or_default();
                entry.messages += 1;
                entry.bytes += v.len() as u64;
                total += v.len() as u64;
            }
        }
        let shared = Arc::new(Shared {
            db,
            usage: Mutex::new((usage, total)),
            poisoned: Default::default(),
            prekeys: Mutex::new(()),
        });
        let (deposits, mut queue) = mpsc::channel(QUEUE);
        let writer = shared.clone();
        let thread = std::thread::Builder::new()
            .name("relay-writer".into())
            .spawn(move || write_deposits(&writer, &mut queue, next_id, quota, &timings))
            .map_err(|_| StoreError::Corrupt("cannot start the writer thread"))?;
        Ok(Self {
            shared,
            writer: Arc::new(Writer {
                deposits: Some(deposits),
                thread: Some(thread),
            }),
        })
    }

    /// Whether a write has failed (the relay then refuses deposits).
    pub(crate) fn poisoned(&self) -> bool {
        self.shared
            .poisoned
            .load(std::sync::atomic::Ordering::Relaxed)
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

    /// Stores `prekeys` (id, encoding) for `mailbox` up to `cap` held, in one synced write;
    /// returns how many are held afterwards. The caller has verified them.
    pub(crate) fn upload_prekeys(
        &self,
        mailbox: &[u8; 32],
        prekeys: &[(u32, Vec<u8>)],
        cap: u32,
    ) -> Result<u32, StoreError> {
        let _guard = self
            .shared
            .prekeys
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        let db = &self.shared.db;
        let cf = db
            .cf_handle(PREKEYS)
            .ok_or(StoreError::Corrupt("prekeys"))?;
        let mut held = self.prekey_count(mailbox)?;
        let mut batch = WriteBatch::default();
        for (id, prekey) in prekeys {
            if held >= cap {
                break;
            }
            let key = prekey_key(mailbox, *id);
            if db.get_pinned_cf(cf, key)?.is_none() {
                held += 1;
            }
            batch.put_cf(cf, key, prekey);
        }
        if !batch.is_empty() {
            self.write_synced(batch)?;
        }
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
        let mut batch = WriteBatch::default();
        batch.delete_cf(cf, &k);
        self.write_synced(batch)?;
        Ok(Some(v.to_vec()))
    }

    fn write_synced(&self, batch: WriteBatch) -> Result<(), StoreError> {
        if self.poisoned() {
            return Err(StoreError::Poisoned);
        }
        let mut options = WriteOptions::default();
        options.set_sync(true);
        self.shared.db.write_opt(batch, &options).map_err(|e| {
            self.shared
                .poisoned
                .store(true, std::sync::atomic::Ordering::Relaxed);
            StoreError::Db(e)
        })
    }

    /// Deletes `ids` of `mailbox` in one synced write; returns how many existed.
    pub(crate) fn ack(&self, mailbox: &[u8; 32], ids: &[u64]) -> Result<u32, StoreError> {
        self.delete(ids.iter().map(|id| key(mailbox, *id)))
    }

    /// Deletes every envelope stored before `cutoff` (Unix seconds); returns how many.
    pub(crate) fn expire(&self, cutoff: u64) -> Result<u32, StoreError> {
        let db = &self.shared.db;
        let cf = db
            .cf_handle(ENVELOPES)
            .ok_or(StoreError::Corrupt("envelopes"))?;
        let mut old = Vec::new();
        for item in db.iterator_cf(cf, IteratorMode::Start) {
            let (k, v) = item?;
            if be64(&v).is_some_and(|at| at < cutoff) {
                old.push(k.to_vec());
            }
        }
        self.delete(old.into_iter())
    }

    fn delete<K: AsRef<[u8]>>(&self, keys: impl Iterator<Item = K>) -> Result<u32, StoreError> {
        if self.poisoned() {
            return Err(StoreError::Poisoned);
        }
        let db = &self.shared.db;
        let cf = db
            .cf_handle(ENVELOPES)
            .ok_or(StoreError::Corrupt("envelopes"))?;
        let mut batch = WriteBatch::default();
        let mut freed = Vec::new();
        for k in keys {
            if let Some(v) = db.get_pinned_cf(cf, k.as_ref())? {
                let mailbox: [u8; 32] = k.as_ref()[..32]
                    .try_into()
                    .map_err(|_| StoreError::Corrupt("key"))?;
                freed.push((mailbox, v.len() as u64));
                batch.delete_cf(cf, k.as_ref());
            }
        }
        if freed.is_empty() {
            return Ok(0);
        }
        let mut sync = WriteOptions::default();
        sync.set_sync(true);
        let mut usage = self.shared.usage.lock().unwrap_or_else(|e| e.into_inner());
        if let Err(e) = db.write_opt(batch, &sync) {
            self.shared
                .poisoned
                .store(true, std::sync::atomic::Ordering::Relaxed);
            return Err(e.into());
        }
        for (mailbox, bytes) in &freed {
            if let Some(entry) = usage.0.get_mut(mailbox) {
                entry.messages = entry.messages.saturating_sub(1);
                entry.bytes = entry.bytes.saturating_sub(*bytes);
                if entry.messages == 0 {
                    usage.0.remove(mailbox);
                }
            }
            usage.1 = usage.1.saturating_sub(*bytes);
        }
        Ok(freed.len() as u32)
    }

    /// Mailboxes, messages and bytes held.
    pub(crate) fn totals(&self) -> Totals {
        let usage = self.shared.usage.lock().unwrap_or_else(|e| e.into_inner());
        Totals {
            mailboxes: usage.0.len() as u64,
            messages: usage.0.values().map(|u| u.messages).sum(),
            bytes: usage.1,
        }
    }
}

/// The writer thread: takes deposits in groups, checks quotas, writes each group with one
/// synced write and only then answers.
fn write_deposits(
    shared: &Shared,
    queue: &mut mpsc::Receiver<Deposit>,
    mut next_id: u64,
    quota: Quota,
    timings: &Timings,
) {
    let mut sync = WriteOptions::default();
    sync.set_sync(true);
    while let Some(first) = queue.blocking_recv() {
        let mut group = vec![first];
        while group.len() < GROUP {
            match queue.try_recv() {
                Ok(next) => group.push(next),
                Err(_) => break,
            }
        }
        if shared.poisoned.load(std::sync::atomic::Ordering::Relaxed) {
            for deposit in group {
                let _ = deposit.reply.send(Err(Refusal::Unavailable));
            }
            continue;
        }
        let (Some(envelopes), Some(meta)) =
            (shared.db.cf_handle(ENVELOPES), shared.db.cf_handle(META))
        else {
            return;
        };
        let mut usage = shared.usage.lock().unwrap_or_else(|e| e.into_inner());
        let mut batch = WriteBatch::default();
        let mut answers = Vec::with_capacity(group.len());
        let mut added: Vec<([u8; 32], u64)> = Vec::new();
        let mut pending_total = 0u64;
        let mut pending: HashMap<[u8; 32], Usage> = HashMap::new();
        for deposit in group {
            let size = 8 + deposit.envelope.len() as u64;
            let held = usage.0.get(&deposit.mailbox).copied().unwrap_or_default();
            let extra = pending.get(&deposit.mailbox).copied().unwrap_or_default();
            let refusal = if usage.1 + pending_total + size > quota.disk_budget {
                Some(Refusal::StorageFull)
            } else if held.messages + extra.messages >= quota.max_messages
                || held.bytes + extra.bytes + size > quota.max_bytes
            {
                Some(Refusal::QuotaExceeded)
            } else {
                None
            };
            if let Some(refusal) = refusal {
                answers.push((deposit.reply, Err(refusal)));
                continue;
            }
            let id = next_id;
            next_id += 1;
            let mut value = Vec::with_capacity(size as usize);
            value.extend_from_slice(&deposit.stored_at.to_be_bytes());
            value.extend_from_slice(&deposit.envelope);
            batch.put_cf(envelopes, key(&deposit.mailbox, id), value);
            let entry = pending.entry(deposit.mailbox).or_default();
            entry.messages += 1;
            entry.bytes += size;
            pending_total += size;
            added.push((deposit.mailbox, size));
            answers.push((deposit.reply, Ok(id)));
        }
        batch.put_cf(meta, b"next_id", next_id.to_be_bytes());
        let started = std::time::Instant::now();
        let written = added.is_empty() || shared.db.write_opt(batch, &sync).is_ok();
        if !added.is_empty() {
            timings.sync.observe(started.elapsed().as_secs_f64());
            timings.batch.observe(added.len() as f64);
        }
        if written {
            for (mailbox, size) in added {
                let entry = usage.0.entry(mailbox).or_default();
                entry.messages += 1;
                entry.bytes += size;
                usage.1 += size;
            }
        } else {
            shared
                .poisoned
                .store(true, std::sync::atomic::Ordering::Relaxed);
            tracing::error!("a deposit write failed; refusing further deposits");
        }
        drop(usage);
        for (reply, answer) in answers {
            let _ = reply.send(if written {
                answer
            } else {
                Err(Refusal::Unavailable)
            });
        }
    }
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("poisoned", &self.poisoned())
            .finish_non_exhaustive()
    }
}
