//! The `blobs` table: one row per attachment the relay holds or is receiving.
//!
//! ```text
//! key   = root (32 bytes)
//! value = version u8 = 1 ‖ capability [32] ‖ mailbox [32] ‖ ciphertext_len u64 BE
//!         ‖ stored_at u64 BE ‖ expires_at u64 BE ‖ complete u8 (0 or 1)
//! ```
//!
//! `mailbox` is the quota the blob counts against (the recipient's mailbox, or for a group's
//! file the group's log id, named by the uploader's quota token), never the uploader. A row is written, synced, before the first
//! byte of an upload is accepted (so a crash cannot leave bytes the quota does not count),
//! and rewritten with `complete = 1` after the blob file is durable and before the custody
//! receipt is signed.

use rocksdb::{IteratorMode, WriteBatch};

use super::{BLOBS, Store, StoreError, be64};

const VERSION: u8 = 1;
const LEN: usize = 1 + 32 + 32 + 8 + 8 + 8 + 1;

/// What the relay keeps about one blob.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct BlobRecord {
    /// Readers must present this.
    pub(crate) capability: [u8; 32],
    /// The mailbox (or group log) whose blob quota the blob counts against.
    pub(crate) mailbox: [u8; 32],
    pub(crate) ciphertext_len: u64,
    /// When the upload began, and once complete, when it became durable (Unix seconds).
    pub(crate) stored_at: u64,
    /// When the relay deletes it.
    pub(crate) expires_at: u64,
    /// Whether every group has arrived, verified and been synced.
    pub(crate) complete: bool,
}

impl BlobRecord {
    fn to_bytes(&self) -> [u8; LEN] {
        let mut out = [0u8; LEN];
        out[0] = VERSION;
        out[1..33].copy_from_slice(&self.capability);
        out[33..65].copy_from_slice(&self.mailbox);
        out[65..73].copy_from_slice(&self.ciphertext_len.to_be_bytes());
        out[73..81].copy_from_slice(&self.stored_at.to_be_bytes());
        out[81..89].copy_from_slice(&self.expires_at.to_be_bytes());
        out[89] = u8::from(self.complete);
        out
    }

    fn from_bytes(bytes: &[u8]) -> Result<Self, StoreError> {
        let corrupt = StoreError::Corrupt("blob record");
        if bytes.len() != LEN || bytes[0] != VERSION || bytes[89] > 1 {
            return Err(corrupt);
        }
        let array = |range: std::ops::Range<usize>| -> Result<[u8; 32], StoreError> {
            bytes[range]
                .try_into()
                .map_err(|_| StoreError::Corrupt("blob record"))
        };
        Ok(Self {
            capability: array(1..33)?,
            mailbox: array(33..65)?,
            ciphertext_len: be64(&bytes[65..73]).ok_or(StoreError::Corrupt("blob record"))?,
            stored_at: be64(&bytes[73..81]).ok_or(StoreError::Corrupt("blob record"))?,
            expires_at: be64(&bytes[81..89]).ok_or(StoreError::Corrupt("blob record"))?,
            complete: bytes[89] == 1,
        })
    }
}

impl Store {
    /// The record of `root`, if the relay has one.
    pub(crate) fn blob(&self, root: &[u8; 32]) -> Result<Option<BlobRecord>, StoreError> {
        let db = &self.shared.db;
        let cf = db.cf_handle(BLOBS).ok_or(StoreError::Corrupt("family"))?;
        db.get_cf(cf, root)?
            .map(|v| BlobRecord::from_bytes(&v))
            .transpose()
    }

    /// Writes the record of `root` and syncs it before returning.
    pub(crate) fn put_blob(&self, root: &[u8; 32], record: &BlobRecord) -> Result<(), StoreError> {
        let db = &self.shared.db;
        let cf = db.cf_handle(BLOBS).ok_or(StoreError::Corrupt("family"))?;
        let mut batch = WriteBatch::default();
        batch.put_cf(cf, root, record.to_bytes());
        Ok(self.shared.write_synced(batch)?)
    }

    /// Forgets `root` (its file is the caller's to delete first).
    pub(crate) fn delete_blob(&self, root: &[u8; 32]) -> Result<(), StoreError> {
        let db = &self.shared.db;
        let cf = db.cf_handle(BLOBS).ok_or(StoreError::Corrupt("family"))?;
        let mut batch = WriteBatch::default();
        batch.delete_cf(cf, root);
        Ok(self.shared.write_synced(batch)?)
    }

    /// Every record, by root.
    pub(crate) fn blobs(&self) -> Result<Vec<([u8; 32], BlobRecord)>, StoreError> {
        let db = &self.shared.db;
        let cf = db.cf_handle(BLOBS).ok_or(StoreError::Corrupt("family"))?;
        let mut out = Vec::new();
        for item in db.iterator_cf(cf, IteratorMode::Start) {
            let (key, value) = item?;
            let root: [u8; 32] = key[..]
                .try_into()
                .map_err(|_| StoreError::Corrupt("blob key"))?;
            out.push((root, BlobRecord::from_bytes(&value)?));
        }
        Ok(out)
    }

    /// Free bytes on the relay's filesystem beyond the reserve it always keeps, if known.
    pub(crate) fn spare_disk(&self) -> Option<u64> {
        self.shared
            .free_space()
            .map(|free| free.saturating_sub(self.shared.quota.min_free))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_reads_back_and_damage_is_refused() {
        let record = BlobRecord {
            capability: [1; 32],
            mailbox: [2; 32],
            ciphertext_len: 1040,
            stored_at: 10,
            expires_at: 20,
            complete: true,
        };
        assert_eq!(BlobRecord::from_bytes(&record.to_bytes()).unwrap(), record);
        let mut bytes = record.to_bytes();
        bytes[0] = 2;
        assert!(BlobRecord::from_bytes(&bytes).is_err());
        assert!(BlobRecord::from_bytes(&record.to_bytes()[..LEN - 1]).is_err());
        let mut bytes = record.to_bytes();
        bytes[89] = 7;
        assert!(BlobRecord::from_bytes(&bytes).is_err());
    }
}
