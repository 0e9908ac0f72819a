//! openmls's storage, as an overlay over the node's key-value store whose writes are taken
//! out as one batch.
//!
//! openmls writes its state in the middle of an operation (creating a group, merging a
//! commit, even decrypting an application message advances the secret tree). Tern must commit
//! those writes in the same RocksDB write batch as the message that caused them, so that a
//! crash never leaves a group half-advanced. So:
//!
//! ```text
//! read(k)   = pending[k]            if the operation wrote or deleted k
//!           = backing.get(row(k))   otherwise
//! write(k)  → pending[row(k)] = Some(value)
//! delete(k) → pending[row(k)] = None
//! take_batch() → the pending rows, in key order; the node seals the values and commits
//!                them with the message in one write batch
//! drop / discard() → the pending rows are forgotten: nothing happened
//! ```
//!
//! Row keys never show a group id (or any other openmls key) in clear:
//!
//! ```text
//! row(label, key) = 0x01 ‖ HMAC-SHA256(storage_key, "tern-mls/1" ‖ 0x00 ‖ label ‖ 0x00 ‖ encode(key))
//! ```
//!
//! where `storage_key` is a per-profile secret the node passes in ([`StorageKey`]), `label`
//! names the kind of entry (`b"tree"`, `b"context"`, … see `storage/entries.rs`), and
//! `encode` is the value codec below applied to openmls's key type. openmls only ever reads
//! by exact key, so hashed keys lose nothing. The leading byte is the row-format version.
//!
//! Values are openmls's own serde types, opaque here: the node seals them with its at-rest
//! keys. The format must be self-describing: openmls migrates its stored types with
//! `#[serde(default)]` fields and untagged enums, which a compact non-self-describing codec
//! (postcard was tried) cannot decode. A value is written as
//!
//! ```text
//! value = 0x00 ‖ CBOR(value)      (RFC 8949, ciborium's encoding of the serde type)
//! ```
//!
//! and read in that form or as JSON, the encoding openmls's own storage providers use, which
//! rows written before CBOR hold (JSON never starts with a zero byte). CBOR because
//! openmls rewrites the epoch's whole message-secrets store, a sender ratchet for every
//! member, on each message it decrypts: in JSON each of its bytes was a decimal number and a
//! comma, and its encoding was the largest cost of reading a busy group
//! (`docs/benchmarks.md`). Lists (own leaf nodes, queued proposal references) are small and
//! stay one JSON array per key. A fixture test (`tests/storage_fixture.rs`) pins both
//! formats: an openmls upgrade that changes them fails that test before it reaches users.

mod entries;

use std::{collections::BTreeMap, sync::Mutex};

use hmac::{Hmac, KeyInit, Mac};
use serde::{Serialize, de::DeserializeOwned};
use sha2::Sha256;
use zeroize::Zeroizing;

/// Version byte that starts every row key.
pub const ROW_FORMAT: u8 = 1;

/// Domain separation of the row-key MAC.
const ROW_DOMAIN: &[u8] = b"tern-mls/1";

/// What the node's store offers the overlay: reads of committed rows.
///
/// The node implements this over RocksDB (unsealing values with its at-rest keys); the
/// overlay never writes to it.
pub trait Backing {
    /// The store's read error.
    type Error: std::error::Error + Send + Sync + 'static;

    /// The committed value of row `key`, if any.
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, Self::Error>;
}

impl<B: Backing + ?Sized> Backing for &B {
    type Error = B::Error;

    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, Self::Error> {
        (**self).get(key)
    }
}

/// An in-memory [`Backing`]: a map of committed rows. For tests, tools and benchmarks; the
/// node uses RocksDB.
#[derive(Debug, Default, Clone)]
pub struct MemoryBacking {
    rows: BTreeMap<Vec<u8>, Vec<u8>>,
}

impl MemoryBacking {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// Applies a batch taken from an [`Overlay`], as the node's write batch would.
    pub fn commit(&mut self, batch: Batch) {
        for (key, value) in batch {
            match value {
                Some(value) => self.rows.insert(key, value),
                None => self.rows.remove(&key),
            };
        }
    }

    /// The committed rows, in key order.
    pub fn rows(&self) -> &BTreeMap<Vec<u8>, Vec<u8>> {
        &self.rows
    }
}

impl Backing for MemoryBacking {
    type Error = std::convert::Infallible;

    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, Self::Error> {
        Ok(self.rows.get(key).cloned())
    }
}

/// The writes of one operation: `(row key, Some(value))` to put, `(row key, None)` to delete,
/// in row-key order.
pub type Batch = Vec<(Vec<u8>, Option<Vec<u8>>)>;

/// The per-profile secret that hides openmls's keys in row keys. 32 bytes, wiped on drop;
/// the node derives it from its at-rest keys and keeps it for the profile's lifetime.
pub struct StorageKey(Zeroizing<[u8; 32]>);

impl StorageKey {
    /// Wraps a 32-byte secret.
    pub fn new(secret: [u8; 32]) -> Self {
        Self(Zeroizing::new(secret))
    }
}

impl std::fmt::Debug for StorageKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("StorageKey(..)")
    }
}

/// Why the storage refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StorageError {
    /// The backing store failed to read.
    #[error("the backing store failed: {0}")]
    Backing(Box<dyn std::error::Error + Send + Sync>),
    /// A value could not be encoded.
    #[error("a value could not be encoded: {0}")]
    Encode(String),
    /// A stored value could not be decoded (corrupt, or written by an incompatible version).
    #[error("a stored value could not be decoded: {0}")]
    Decode(String),
    /// A thread panicked while holding the overlay.
    #[error("the storage overlay is poisoned")]
    Poisoned,
}

impl StorageError {
    fn encode(error: impl std::fmt::Display) -> Self {
        Self::Encode(error.to_string())
    }

    fn decode(error: impl std::fmt::Display) -> Self {
        Self::Decode(error.to_string())
    }
}

/// The first byte of a value in CBOR (see the module's documentation).
const CBOR_VALUE: u8 = 0x00;

/// A value as it is written: [`CBOR_VALUE`] and its CBOR.
fn encode<V: Serialize + ?Sized>(value: &V) -> Result<Vec<u8>, StorageError> {
    let mut bytes = vec![CBOR_VALUE];
    ciborium::into_writer(value, &mut bytes).map_err(StorageError::encode)?;
    Ok(bytes)
}

/// A value as it was written: in CBOR, or in JSON by an older version.
fn decode<V: DeserializeOwned>(bytes: &[u8]) -> Result<V, StorageError> {
    match bytes.split_first() {
        Some((&CBOR_VALUE, mut cbor)) => {
            let value = ciborium::from_reader(&mut cbor).map_err(StorageError::decode)?;
            // One value per row: anything after it is corruption, not a second value.
            if !cbor.is_empty() {
                return Err(StorageError::Decode(format!(
                    "{} bytes after the value",
                    cbor.len()
                )));
            }
            Ok(value)
        }
        _ => serde_json::from_slice(bytes).map_err(StorageError::decode),
    }
}

/// openmls's storage for one operation: reads through pending writes to a [`Backing`],
/// writes kept until [`Overlay::take_batch`].
pub struct Overlay<B> {
    backing: B,
    mac: Hmac<Sha256>,
    pending: Mutex<BTreeMap<Vec<u8>, Option<Vec<u8>>>>,
}

impl<B> std::fmt::Debug for Overlay<B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let pending = self.pending.lock().map(|p| p.len()).unwrap_or(0);
        f.debug_struct("Overlay")
            .field("pending", &pending)
            .finish_non_exhaustive()
    }
}

impl<B: Backing> Overlay<B> {
    /// An overlay with no pending writes over `backing`, hiding keys with `key`.
    pub fn new(backing: B, key: &StorageKey) -> Self {
        // HMAC accepts keys of any length, so this cannot fail.
        let mac = <Hmac<Sha256> as KeyInit>::new_from_slice(key.0.as_ref())
            .unwrap_or_else(|_| unreachable!());
        Self {
            backing,
            mac,
            pending: Mutex::new(BTreeMap::new()),
        }
    }

    /// Takes out the pending writes, leaving none. The node commits them in its write batch.
    pub fn take_batch(&self) -> Batch {
        match self.pending.lock() {
            Ok(mut pending) => std::mem::take(&mut *pending).into_iter().collect(),
            // A poisoned overlay has half an operation in it: commit nothing.
            Err(_) => Vec::new(),
        }
    }

    /// Forgets the pending writes (what dropping the overlay does too).
    pub fn discard(&self) {
        if let Ok(mut pending) = self.pending.lock() {
            pending.clear();
        }
    }

    /// Whether no write is pending.
    pub fn is_empty(&self) -> bool {
        self.pending.lock().map(|p| p.is_empty()).unwrap_or(true)
    }

    /// The backing store.
    pub fn backing(&self) -> &B {
        &self.backing
    }

    /// The row key of `(label, key)`.
    pub(crate) fn row<K: Serialize + ?Sized>(
        &self,
        label: &[u8],
        key: &K,
    ) -> Result<Vec<u8>, StorageError> {
        let encoded = serde_json::to_vec(key).map_err(StorageError::encode)?;
        let mut mac = self.mac.clone();
        mac.update(ROW_DOMAIN);
        mac.update(&[0]);
        mac.update(label);
        mac.update(&[0]);
        mac.update(&encoded);
        let mut row = Vec::with_capacity(33);
        row.push(ROW_FORMAT);
        row.extend_from_slice(&mac.finalize().into_bytes());
        Ok(row)
    }

    fn get_row(&self, row: &[u8]) -> Result<Option<Vec<u8>>, StorageError> {
        {
            let pending = self.pending.lock().map_err(|_| StorageError::Poisoned)?;
            if let Some(value) = pending.get(row) {
                return Ok(value.clone());
            }
        }
        self.backing
            .get(row)
            .map_err(|e| StorageError::Backing(Box::new(e)))
    }

    fn put_row(&self, row: Vec<u8>, value: Option<Vec<u8>>) -> Result<(), StorageError> {
        self.pending
            .lock()
            .map_err(|_| StorageError::Poisoned)?
            .insert(row, value);
        Ok(())
    }

    /// Reads the value at `(label, key)`.
    pub(crate) fn read<K: Serialize + ?Sized, V: DeserializeOwned>(
        &self,
        label: &[u8],
        key: &K,
    ) -> Result<Option<V>, StorageError> {
        let row = self.row(label, key)?;
        self.get_row(&row)?.map(|bytes| decode(&bytes)).transpose()
    }

    /// Writes `value` at `(label, key)`.
    pub(crate) fn write<K: Serialize + ?Sized, V: Serialize + ?Sized>(
        &self,
        label: &[u8],
        key: &K,
        value: &V,
    ) -> Result<(), StorageError> {
        let row = self.row(label, key)?;
        self.put_row(row, Some(encode(value)?))
    }

    /// Writes the list `value` at `(label, key)` as JSON.
    fn write_list<K: Serialize + ?Sized>(
        &self,
        label: &[u8],
        key: &K,
        value: &[serde_json::Value],
    ) -> Result<(), StorageError> {
        let row = self.row(label, key)?;
        let bytes = serde_json::to_vec(value).map_err(StorageError::encode)?;
        self.put_row(row, Some(bytes))
    }

    /// Deletes `(label, key)`.
    pub(crate) fn delete<K: Serialize + ?Sized>(
        &self,
        label: &[u8],
        key: &K,
    ) -> Result<(), StorageError> {
        let row = self.row(label, key)?;
        self.put_row(row, None)
    }

    /// The list at `(label, key)`, empty if none.
    pub(crate) fn read_list<K: Serialize + ?Sized, V: DeserializeOwned>(
        &self,
        label: &[u8],
        key: &K,
    ) -> Result<Vec<V>, StorageError> {
        Ok(self.read(label, key)?.unwrap_or_default())
    }

    /// Appends `value` to the list at `(label, key)`.
    pub(crate) fn append<K: Serialize + ?Sized, V: Serialize + ?Sized>(
        &self,
        label: &[u8],
        key: &K,
        value: &V,
    ) -> Result<(), StorageError> {
        let mut list: Vec<serde_json::Value> = self.read_list(label, key)?;
        list.push(serde_json::to_value(value).map_err(StorageError::encode)?);
        self.write_list(label, key, &list)
    }

    /// Removes every element equal to `value` from the list at `(label, key)`.
    pub(crate) fn remove_from_list<K: Serialize + ?Sized, V: Serialize + ?Sized>(
        &self,
        label: &[u8],
        key: &K,
        value: &V,
    ) -> Result<(), StorageError> {
        let value = serde_json::to_value(value).map_err(StorageError::encode)?;
        let mut list: Vec<serde_json::Value> = self.read_list(label, key)?;
        list.retain(|v| *v != value);
        if list.is_empty() {
            self.delete(label, key)
        } else {
            self.write_list(label, key, &list)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn overlay(backing: &MemoryBacking) -> Overlay<&MemoryBacking> {
        Overlay::new(backing, &StorageKey::new([7; 32]))
    }

    #[test]
    fn reads_go_through_pending_writes_and_drop_rolls_back() {
        let mut backing = MemoryBacking::new();
        {
            let o = overlay(&backing);
            o.write(b"tree", b"group", &1u32).unwrap();
            assert_eq!(o.read::<_, u32>(b"tree", b"group").unwrap(), Some(1));
            // Dropped without taking the batch: nothing reaches the store.
        }
        assert!(backing.rows().is_empty());

        let o = overlay(&backing);
        o.write(b"tree", b"group", &2u32).unwrap();
        o.append(b"list", b"group", &"a").unwrap();
        o.append(b"list", b"group", &"b").unwrap();
        let batch = o.take_batch();
        assert!(o.is_empty());
        assert_eq!(batch.len(), 2);
        backing.commit(batch);

        let o = overlay(&backing);
        assert_eq!(o.read::<_, u32>(b"tree", b"group").unwrap(), Some(2));
        o.delete(b"tree", b"group").unwrap();
        o.remove_from_list(b"list", b"group", &"a").unwrap();
        assert_eq!(o.read::<_, u32>(b"tree", b"group").unwrap(), None);
        assert_eq!(o.read_list::<_, String>(b"list", b"group").unwrap(), ["b"]);
        o.discard();
        assert_eq!(o.read::<_, u32>(b"tree", b"group").unwrap(), Some(2));
    }

    #[test]
    fn row_keys_hide_the_key_and_depend_on_the_profile() {
        let backing = MemoryBacking::new();
        let a = Overlay::new(&backing, &StorageKey::new([1; 32]));
        let b = Overlay::new(&backing, &StorageKey::new([2; 32]));
        let group = b"family-group-id";
        let row = a.row(b"tree", group).unwrap();
        assert_eq!(row.len(), 33);
        assert_eq!(row[0], ROW_FORMAT);
        assert!(!row.windows(4).any(|w| group.windows(4).any(|g| g == w)));
        assert_ne!(row, b.row(b"tree", group).unwrap());
        assert_ne!(row, a.row(b"context", group).unwrap());
    }
}
