//! The relay's blob store: encrypted attachments that senders leave for offline recipients
//! (`/tern/blob/1` uploads) and that readers fetch by root and capability.
//!
//! The blobs are files in `blobs/` beside the database, in the same layout a node keeps
//! (`tern_blob::store`): ciphertext and outboard, named by root, nothing else. Their records
//! (`store/blobs.rs`) hold the read capability, the length, the times and the mailbox whose
//! quota a blob counts against. The relay never sees a file key, a file name or who sent it:
//! uploads come from connection identities that appear in no record, and the quota token
//! names the recipient's mailbox, not the uploader.
//!
//! Limits (all in [`crate::Limits`]): a per-blob maximum, a quota per mailbox, a budget for
//! all blobs, the filesystem reserve the mailboxes keep too, a retention period after which a
//! blob is deleted whether or not anyone read it, and a cap on transfers at once. A blob
//! counts against its quota from the moment its upload begins (its record is synced before
//! the first byte is taken), so interrupted uploads cannot escape the limits; one that makes
//! no progress for [`PARTIAL_RETENTION_SECS`] is deleted.

mod serve;

use std::{
    collections::{BTreeMap, HashMap, HashSet},
    path::Path,
    sync::{Arc, Mutex},
};

use libp2p::identity::Keypair;
use tern_blob::{
    Capability, Root,
    store::{Complete, FinishError, Partial, Store as Files},
    wire::{CustodyReceipt, UploadRefusal},
};
use tern_proto::grouplog;
use tracing::{info, warn};

pub(crate) use self::serve::{Share, run};
use crate::{
    Limits,
    service::now_secs,
    store::{BlobRecord, Store, StoreError},
};

/// How long an upload that stopped half way is kept for its uploader to resume.
pub(crate) const PARTIAL_RETENTION_SECS: u64 = 24 * 60 * 60;
/// The quota token's kind byte for "a blob for this mailbox".
const TOKEN_MAILBOX: u8 = 0;

/// What the relay reports about its blobs (part of [`crate::Metrics`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct BlobMetrics {
    /// Blobs held, complete or being uploaded.
    pub held: u64,
    /// Their bytes (ciphertext, counted at full length from the start of an upload).
    pub bytes: u64,
    /// The most bytes of blobs the relay holds ([`crate::Limits::blob_budget`]).
    pub budget: u64,
    /// Uploads completed (custody receipts signed).
    pub uploads: u64,
    /// Reads answered with data.
    pub gets: u64,
    /// Bytes of verified stream sent to readers.
    pub bytes_served: u64,
    /// Blobs deleted at the end of their retention, or abandoned half uploaded.
    pub expired: u64,
    /// Uploads and reads refused, by reason (`too_large`, `over_quota`, `bad_token`,
    /// `bad_length`, `storage_full`, `corrupt`, `busy`, `conflict`, `not_found`,
    /// `bad_capability`, `range_past_end`, `bad_request`).
    pub refused: BTreeMap<String, u64>,
}

/// Bytes held, by mailbox and in all.
#[derive(Default)]
struct Ledger {
    by_mailbox: HashMap<[u8; 32], u64>,
    total: u64,
    held: u64,
}

impl Ledger {
    fn add(&mut self, mailbox: [u8; 32], bytes: u64) {
        *self.by_mailbox.entry(mailbox).or_default() += bytes;
        self.total += bytes;
        self.held += 1;
    }

    fn remove(&mut self, mailbox: &[u8; 32], bytes: u64) {
        if let Some(used) = self.by_mailbox.get_mut(mailbox) {
            *used = used.saturating_sub(bytes);
            if *used == 0 {
                self.by_mailbox.remove(mailbox);
            }
        }
        self.total = self.total.saturating_sub(bytes);
        self.held = self.held.saturating_sub(1);
    }
}

struct Inner {
    files: Files,
    db: Store,
    limits: Limits,
    allow: Option<HashSet<[u8; 32]>>,
    keypair: Keypair,
    ledger: Mutex<Ledger>,
    /// Roots with an upload running: one uploader at a time per blob.
    uploading: Mutex<HashSet<Root>>,
    metrics: Mutex<BlobMetrics>,
}

/// The blob store, shared by the stream tasks and the expiry sweep.
#[derive(Clone)]
pub(crate) struct Blobs {
    inner: Arc<Inner>,
}

/// Where an accepted upload stands.
pub(crate) enum Admitted {
    /// The relay already holds the whole blob: here is its receipt.
    Held(CustodyReceipt),
    /// Send these groups (all of them for a new blob).
    Receive(Partial),
}

impl Blobs {
    /// Opens the blob directory and reconciles it with the records: a record without its
    /// file is dropped, a file without its record deleted, a blob completed just before a
    /// crash (file renamed, record not yet rewritten) is recorded as complete.
    pub(crate) fn open(
        dir: &Path,
        db: Store,
        limits: Limits,
        allow: Option<HashSet<[u8; 32]>>,
        keypair: Keypair,
    ) -> Result<Self, StoreError> {
        let files = Files::open(dir).map_err(|e| StoreError::Blobs(e.to_string()))?;
        let io = |e: tern_blob::store::StoreError| StoreError::Blobs(e.to_string());
        let complete: HashSet<Root> = files.complete_roots().map_err(io)?.into_iter().collect();
        let partial: HashSet<Root> = files.partial_roots().map_err(io)?.into_iter().collect();
        let mut ledger = Ledger::default();
        let mut recorded = HashSet::new();
        for (key, mut record) in db.blobs()? {
            let root = Root::from_bytes(key);
            let has_file = complete.contains(&root) || partial.contains(&root);
            if !has_file {
                db.delete_blob(&key)?;
                continue;
            }
            if !record.complete && complete.contains(&root) {
                record.complete = true;
                record.stored_at = now_secs();
                record.expires_at = record.stored_at + limits.blob_retention_secs;
                db.put_blob(&key, &record)?;
            }
            ledger.add(record.mailbox, record.ciphertext_len);
            recorded.insert(root);
        }
        for root in complete.union(&partial).filter(|r| !recorded.contains(*r)) {
            files.delete(root).map_err(io)?;
        }
        let metrics = BlobMetrics {
            budget: limits.blob_budget,
            ..BlobMetrics::default()
        };
        info!(blobs = ledger.held, bytes = ledger.total, "blob store open");
        Ok(Self {
            inner: Arc::new(Inner {
                files,
                db,
                limits,
                allow,
                keypair,
                ledger: Mutex::new(ledger),
                uploading: Mutex::new(HashSet::new()),
                metrics: Mutex::new(metrics),
            }),
        })
    }

    /// The counters as they stand.
    pub(crate) fn metrics(&self) -> BlobMetrics {
        let mut metrics = lock(&self.inner.metrics).clone();
        let ledger = lock(&self.inner.ledger);
        metrics.held = ledger.held;
        metrics.bytes = ledger.total;
        metrics
    }

    fn count(&self, update: impl FnOnce(&mut BlobMetrics)) {
        update(&mut lock(&self.inner.metrics));
    }

    fn refused(&self, reason: &str) {
        self.count(|m| *m.refused.entry(reason.to_owned()).or_default() += 1);
    }

    /// The complete blob `root`, if `capability` is the one stored with it (blocking).
    pub(crate) fn open_for_reading(
        &self,
        root: &Root,
        capability: &Capability,
    ) -> Result<Complete, ReadRefusal> {
        let record = self
            .inner
            .db
            .blob(root.as_bytes())
            .map_err(|_| ReadRefusal::Busy)?
            .filter(|r| r.complete && r.expires_at > now_secs())
            .ok_or(ReadRefusal::NotFound)?;
        if !Capability::from_bytes(record.capability).matches(capability) {
            return Err(ReadRefusal::BadCapability);
        }
        self.inner
            .files
            .complete(root)
            .map_err(|_| ReadRefusal::Busy)?
            .ok_or(ReadRefusal::NotFound)
    }

    /// Claims `root` for one upload until the claim is dropped; `None` while another upload
    /// of it runs.
    pub(crate) fn claim(&self, root: &Root) -> Option<UploadClaim> {
        lock(&self.inner.uploading)
            .insert(*root)
            .then(|| UploadClaim {
                blobs: self.clone(),
                root: *root,
            })
    }

    /// Checks an upload against the limits and starts (or resumes) it (blocking). The caller
    /// holds the root's [`UploadClaim`].
    pub(crate) fn admit(
        &self,
        root: &Root,
        ciphertext_len: u64,
        capability: &Capability,
        quota_token: &[u8],
    ) -> Result<Admitted, UploadRefusal> {
        let limits = &self.inner.limits;
        if !tern_blob::stream::is_ciphertext_len(ciphertext_len) {
            return Err(UploadRefusal::BadLength);
        }
        if ciphertext_len > limits.max_blob {
            return Err(UploadRefusal::TooLarge);
        }
        let mailbox = self.quota_of(quota_token, root, ciphertext_len)?;
        let (db, files) = (&self.inner.db, &self.inner.files);
        let unavailable = |e: &dyn std::fmt::Display| {
            warn!("blob store: {e}");
            UploadRefusal::StorageFull
        };
        if let Some(record) = db.blob(root.as_bytes()).map_err(|e| unavailable(&e))? {
            if record.ciphertext_len != ciphertext_len
                || !Capability::from_bytes(record.capability).matches(capability)
            {
                return Err(UploadRefusal::Conflict);
            }
            if record.complete {
                return Ok(Admitted::Held(self.receipt(root, &record)));
            }
            return match files.begin(root, ciphertext_len) {
                Ok(partial) => Ok(Admitted::Receive(partial)),
                Err(e) => Err(unavailable(&e)),
            };
        }
        {
            let ledger = lock(&self.inner.ledger);
            let used = ledger.by_mailbox.get(&mailbox).copied().unwrap_or(0);
            if used + ciphertext_len > self.inner.limits.blob_quota {
                return Err(UploadRefusal::OverQuota);
            }
            let spare = db.spare_disk().unwrap_or(u64::MAX);
            if ledger.total + ciphertext_len > self.inner.limits.blob_budget
                || spare < ciphertext_len
            {
                return Err(UploadRefusal::StorageFull);
            }
        }
        let now = now_secs();
        let record = BlobRecord {
            capability: *capability.as_bytes(),
            mailbox,
            ciphertext_len,
            stored_at: now,
            expires_at: now + PARTIAL_RETENTION_SECS,
            complete: false,
        };
        // Counted before the first byte is taken: a crash leaves a record the next start
        // counts (and expires), never bytes that no quota sees.
        db.put_blob(root.as_bytes(), &record)
            .map_err(|e| unavailable(&e))?;
        lock(&self.inner.ledger).add(mailbox, ciphertext_len);
        files
            .begin(root, ciphertext_len)
            .map(Admitted::Receive)
            .map_err(|e| unavailable(&e))
    }

    /// Whose quota an upload of `root` counts against: the mailbox a token `0x00 ‖ mailbox id
    /// (32 bytes)` names, one the relay serves; or the group log a token `0x01 ‖ log ‖ key ‖
    /// signature` names, signed for this upload by one of that log's access keys (a member
    /// of the group: `tern_proto::grouplog::Access::blob_token`).
    fn quota_of(
        &self,
        token: &[u8],
        root: &Root,
        ciphertext_len: u64,
    ) -> Result<[u8; 32], UploadRefusal> {
        let mailbox: [u8; 32] = match token.split_first() {
            Some((&TOKEN_MAILBOX, id)) => id.try_into().map_err(|_| UploadRefusal::BadToken)?,
            Some((&grouplog::TOKEN_LOG, _)) => {
                let relay = self.inner.keypair.public().to_peer_id().to_bytes();
                let (log, key) =
                    grouplog::verify_blob_token(token, &relay, root.as_bytes(), ciphertext_len)
                        .map_err(|_| UploadRefusal::BadToken)?;
                return match self.inner.db.log_has_key(&log, &key) {
                    Ok(true) => Ok(log),
                    Ok(false) => Err(UploadRefusal::BadToken),
                    Err(_) => Err(UploadRefusal::StorageFull),
                };
            }
            _ => return Err(UploadRefusal::BadToken),
        };
        if self
            .inner
            .allow
            .as_ref()
            .is_some_and(|allow| !allow.contains(&mailbox))
        {
            return Err(UploadRefusal::BadToken);
        }
        Ok(mailbox)
    }

    /// Files a fully received upload: rehashes it, syncs it, records it as complete (synced),
    /// and only then signs the custody receipt (blocking).
    pub(crate) fn finish(&self, partial: Partial) -> Result<CustodyReceipt, UploadRefusal> {
        let root = partial.root();
        let db = &self.inner.db;
        let mut record = match db.blob(root.as_bytes()) {
            Ok(Some(record)) => record,
            _ => return Err(UploadRefusal::StorageFull),
        };
        match partial.finish() {
            Ok(_) => {}
            // The disk lost data between verification and now: the upload starts over.
            Err(FinishError::RootMismatch) => return Err(UploadRefusal::Corrupt),
            Err(e) => {
                warn!("cannot finish blob {}: {e}", root.short());
                return Err(UploadRefusal::StorageFull);
            }
        }
        record.complete = true;
        record.stored_at = now_secs();
        record.expires_at = record.stored_at + self.inner.limits.blob_retention_secs;
        if let Err(e) = db.put_blob(root.as_bytes(), &record) {
            warn!("cannot record blob {}: {e}", root.short());
            return Err(UploadRefusal::StorageFull);
        }
        self.count(|m| m.uploads += 1);
        Ok(self.receipt(&root, &record))
    }

    fn receipt(&self, root: &Root, record: &BlobRecord) -> CustodyReceipt {
        let mut receipt = CustodyReceipt {
            relay_key: self.inner.keypair.public().encode_protobuf(),
            root: *root,
            ciphertext_len: record.ciphertext_len,
            stored_at: record.stored_at,
            expires_at: record.expires_at,
            signature: Vec::new(),
        };
        receipt.signature = self
            .inner
            .keypair
            .sign(&receipt.statement())
            .unwrap_or_default();
        receipt
    }

    /// Deletes the blobs whose retention ended by `now` and the uploads abandoned half way
    /// (blocking). Returns how many went.
    pub(crate) fn expire(&self, now: u64) -> Result<u64, StoreError> {
        let mut expired = 0;
        for (key, record) in self.inner.db.blobs()? {
            let root = Root::from_bytes(key);
            if record.expires_at > now || lock(&self.inner.uploading).contains(&root) {
                continue;
            }
            match self.inner.files.delete(&root) {
                Ok(_) => {}
                // Being read: the next sweep takes it.
                Err(tern_blob::store::StoreError::Busy { .. }) => continue,
                Err(e) => return Err(StoreError::Blobs(e.to_string())),
            }
            self.inner.db.delete_blob(&key)?;
            lock(&self.inner.ledger).remove(&record.mailbox, record.ciphertext_len);
            expired += 1;
        }
        self.count(|m| m.expired += expired);
        Ok(expired)
    }

    /// Moves an unfinished upload's deadline to [`PARTIAL_RETENTION_SECS`] from now, after
    /// its stream broke off, so an uploader that keeps resuming is not expired mid-way.
    fn touch(&self, root: &Root) {
        if let Ok(Some(mut record)) = self.inner.db.blob(root.as_bytes())
            && !record.complete
        {
            record.expires_at = now_secs() + PARTIAL_RETENTION_SECS;
            let _ = self.inner.db.put_blob(root.as_bytes(), &record);
        }
    }
}

/// One upload's hold on its root, released when dropped however the upload ends.
pub(crate) struct UploadClaim {
    blobs: Blobs,
    root: Root,
}

impl Drop for UploadClaim {
    fn drop(&mut self) {
        lock(&self.blobs.inner.uploading).remove(&self.root);
    }
}

/// Why a read was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ReadRefusal {
    NotFound,
    BadCapability,
    Busy,
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}
