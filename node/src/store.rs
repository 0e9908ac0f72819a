//! The node's database: typed tables in RocksDB, every value sealed at rest.
//!
//! This is the only module of the node that uses `rocksdb`, and no RocksDB type leaves it. The
//! rest of the node sees typed tables ([`Table`]), keys ([`Key`]), atomic [`Batch`]es and
//! [`StoreError`].
//!
//! # Layout
//!
//! The data directory `dir` holds the database in `dir/db`: one column family per table (see
//! [`tables`]). The `meta` table holds, unsealed, the schema version and the key file: the
//! random master key wrapped by the user's passphrase (`tern_crypto::at_rest::KeyFile`).
//! Opening unwraps the master key, derives one storage key per table from it and forgets it.
//!
//! # Values
//!
//! A value is encoded with postcard, then sealed with the key of its table,
//! `MK.subkey("table/" ‖ NAME)`, bound to the table name and the encoded row key: a value
//! copied to another row or table does not open there, and reading it is
//! [`StoreError::Corrupt`], never a panic. Row keys are stored in the clear; those built from
//! private data go through [`Store::index_id`].
//!
//! # Durability and failure
//!
//! Every [`Store::commit`] is one RocksDB write batch written with `sync = true`: when it
//! returns, the batch is in the fsync'd write-ahead log and survives a crash or power loss,
//! all of it or none of it. A commit that fails poisons the store: it logs the error and
//! refuses every later write with [`StoreError::Poisoned`], so that the node stops
//! acknowledging rather than acknowledge what may not be on disk. Reads keep working.
//!
//! All calls block on disk I/O; async code calls them through [`Store::blocking`].
//!
//! The format is described for people in `docs/storage.md`, and pinned by the fixture in
//! `node/tests/fixtures/store-v1/`.

mod batch;
mod error;
pub(crate) mod key;
mod options;
pub(crate) mod tables;

use std::{
    collections::HashMap,
    fmt,
    ops::{Bound, RangeBounds},
    path::Path,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
};

use rocksdb::{ColumnFamily, ColumnFamilyDescriptor, DB, ReadOptions, WriteBatch, WriteOptions};
use tern_crypto::{
    at_rest::{CreateError, KdfParams, KeyFile, MasterKey, StorageKey, UnlockError},
    rand_core::UnwrapErr,
};

pub(crate) use self::{batch::Batch, error::StoreError, key::Key, tables::Table};
use self::{batch::Op, tables::META};

/// The version of the database format this build writes. Every change to a table's key
/// encoding or value type, or any other change that a database written by the previous
/// version needs converting for, adds a step to [`MIGRATIONS`], which raises this by one.
/// Adding a table needs no step.
#[cfg_attr(not(test), allow(dead_code, reason = "read by migrations and tests"))]
pub(crate) const SCHEMA_VERSION: u32 = schema_version(MIGRATIONS);

/// `MIGRATIONS[i]` converts a database of schema version `i + 1` into version `i + 2`.
const MIGRATIONS: &[Migration] = &[];

/// One migration step. It reads what it needs through the store and adds its writes to the
/// batch; the store adds the new schema version to the same batch and commits it, so a
/// crash leaves the database either before the step or after it. A step too large for one
/// batch may commit batches of its own first, provided that running it again after a crash
/// in between gives the same result.
pub(crate) type Migration = fn(&Store, &mut Batch) -> Result<(), StoreError>;

/// The schema version reached after every step of `migrations`: version 1 had none.
const fn schema_version(migrations: &[Migration]) -> u32 {
    // Cannot truncate: there will never be four billion migration steps.
    #[allow(clippy::cast_possible_truncation)]
    let steps = migrations.len() as u32;
    1 + steps
}

/// `meta` row holding the schema version, a big-endian `u32`.
const META_SCHEMA_VERSION: &[u8] = b"schema_version";
/// `meta` row holding the key file, as `KeyFile::to_bytes` gives it.
const META_KEY_FILE: &[u8] = b"key_file";

/// Purpose of the subkey of [`Store::index_id`].
const INDEX_PURPOSE: &str = "index";

/// The rows a scan returns.
pub(crate) type Rows<T> = Vec<(<T as Table>::Key, <T as Table>::Value)>;

/// Which way [`Store::scan`] walks its range.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Direction {
    /// Smallest key first.
    Forward,
    /// Largest key first: the newest messages of a conversation, for example.
    Reverse,
}

/// The open database. A cheap `Clone`: every clone is a handle to the same database.
#[derive(Clone)]
pub(crate) struct Store {
    inner: Arc<Inner>,
}

struct Inner {
    db: DB,
    /// One storage key per table, built at open so that the master key need not be kept.
    keys: HashMap<&'static str, StorageKey>,
    /// The key of [`Store::index_id`].
    index: StorageKey,
    /// Set by the first failed commit; see [`Store::commit`].
    poisoned: AtomicBool,
    /// Fault injection: makes the next commit fail as a failing disk would.
    #[cfg(test)]
    fail_next_commit: AtomicBool,
    /// Fault injection: makes the next read of the named table fail, as a damaged file would.
    #[cfg(test)]
    fail_next_get: std::sync::Mutex<Option<&'static str>>,
}

impl Store {
    /// Creates the database in `dir/db` and its key file, protected by `passphrase`.
    ///
    /// Refuses a directory that already holds a database with [`StoreError::AlreadyInitialized`].
    /// A database left half-made by a crash during an earlier `create` (it has no key file, so
    /// it can hold no data) is taken over. Runs Argon2id once with `params`.
    pub(crate) fn create(
        dir: &Path,
        passphrase: &[u8],
        params: KdfParams,
    ) -> Result<Store, StoreError> {
        Self::create_with(dir, passphrase, params, MIGRATIONS)
    }

    /// Opens the database in `dir/db` with `passphrase`, migrating it to [`SCHEMA_VERSION`]
    /// if it is older. Runs Argon2id once with the parameters of the key file.
    pub(crate) fn open(dir: &Path, passphrase: &[u8]) -> Result<Store, StoreError> {
        Self::open_with(dir, passphrase, MIGRATIONS)
    }

    fn create_with(
        dir: &Path,
        passphrase: &[u8],
        params: KdfParams,
        migrations: &[Migration],
    ) -> Result<Store, StoreError> {
        create_private_dir(dir)?;
        let db = open_db(&dir.join("db"), true)?;
        if read_meta(&db, META_KEY_FILE)?.is_some() {
            return Err(StoreError::AlreadyInitialized);
        }
        let (key_file, master) =
            KeyFile::create(&mut UnwrapErr(getrandom::SysRng), passphrase, params)
                .map_err(|e: CreateError| StoreError::Kdf(e.to_string()))?;
        let store = Store::new(db, &master);
        // The key file goes in last, and together with the version: until it is on disk the
        // database counts as not made, and `create` may start again.
        let mut batch = Batch::new();
        batch.put_meta(
            META_SCHEMA_VERSION,
            schema_version(migrations).to_be_bytes().to_vec(),
        );
        batch.put_meta(META_KEY_FILE, key_file.to_bytes());
        store.commit(batch)?;
        Ok(store)
    }

    fn open_with(
        dir: &Path,
        passphrase: &[u8],
        migrations: &[Migration],
    ) -> Result<Store, StoreError> {
        let path = dir.join("db");
        // Checked before RocksDB sees the path, because opening a missing database would
        // leave an empty directory and lock file behind even when it fails.
        if !path.join("CURRENT").try_exists()? {
            return Err(StoreError::NotInitialized);
        }
        let db = open_db(&path, false)?;
        let key_file = read_meta(&db, META_KEY_FILE)?.ok_or(StoreError::NotInitialized)?;
        let found = read_schema_version(&db)?;
        let supported = schema_version(migrations);
        if found > supported {
            return Err(StoreError::NewerSchema { found, supported });
        }
        let master = KeyFile::from_bytes(&key_file)
            .map_err(|e| corrupt(META, format!("key file: {e}")))?
            .unlock(passphrase)
            .map_err(unlock_error)?;
        let store = Store::new(db, &master);
        drop(master);
        store.migrate(found, migrations)?;
        Ok(store)
    }

    fn new(db: DB, master: &MasterKey) -> Store {
        let keys = tables::opened_tables()
            .filter(|&name| name != META)
            .map(|name| (name, master.subkey(&format!("table/{name}"))))
            .collect();
        Store {
            inner: Arc::new(Inner {
                db,
                keys,
                index: master.subkey(INDEX_PURPOSE),
                poisoned: AtomicBool::new(false),
                #[cfg(test)]
                fail_next_commit: AtomicBool::new(false),
                #[cfg(test)]
                fail_next_get: std::sync::Mutex::new(None),
            }),
        }
    }

    /// Runs the migration steps from version `found` up to the newest of `migrations`.
    fn migrate(&self, found: u32, migrations: &[Migration]) -> Result<(), StoreError> {
        let target = schema_version(migrations);
        for version in found..target {
            // `version ≥ 1` (read_schema_version refuses 0) and `version < target`, so the
            // index lies within `migrations`.
            let Some(step) = usize::try_from(version - 1)
                .ok()
                .and_then(|i| migrations.get(i))
            else {
                return Err(corrupt(
                    META,
                    format!("no migration from version {version}"),
                ));
            };
            let mut batch = Batch::new();
            step(self, &mut batch)?;
            batch.put_meta(META_SCHEMA_VERSION, (version + 1).to_be_bytes().to_vec());
            self.commit(batch)?;
            tracing::info!(from = version, to = version + 1, "migrated the database");
        }
        Ok(())
    }

    /// Wraps the master key under `new` with `params`, after checking `old`. Nothing else in
    /// the database changes, since the master key does not.
    ///
    /// Then flushes and compacts so that RocksDB drops the key file wrapped under the old
    /// passphrase from its files, rather than keep it until some later compaction: someone who
    /// learns the old passphrase should find nothing it opens. (The file system may still hold
    /// the freed blocks; that is beyond what a database can erase.)
    pub(crate) fn change_passphrase(
        &self,
        old: &[u8],
        new: &[u8],
        params: KdfParams,
    ) -> Result<(), StoreError> {
        let bytes = read_meta(&self.inner.db, META_KEY_FILE)?
            .ok_or_else(|| corrupt(META, "no key file".to_string()))?;
        let rewrapped = KeyFile::from_bytes(&bytes)
            .map_err(|e| corrupt(META, format!("key file: {e}")))?
            .rewrap(&mut UnwrapErr(getrandom::SysRng), old, new, params)
            .map_err(unlock_error)?;
        let mut batch = Batch::new();
        batch.put_meta(META_KEY_FILE, rewrapped.to_bytes());
        self.commit(batch)?;
        // Every table, not only meta: the write-ahead log that holds the old key file is
        // deleted only once every table with data in it has been flushed.
        self.flush()?;
        let meta = self.cf(META)?;
        self.inner
            .db
            .compact_range_cf(meta, None::<&[u8]>, None::<&[u8]>);
        Ok(())
    }

    /// The value under `key` in table `T`.
    pub(crate) fn get<T: Table>(&self, key: &T::Key) -> Result<Option<T::Value>, StoreError> {
        declared::<T>();
        #[cfg(test)]
        {
            let mut fail = self
                .inner
                .fail_next_get
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            if *fail == Some(T::NAME) {
                *fail = None;
                return Err(corrupt(T::NAME, "injected read failure".into()));
            }
        }
        let key = key.encode();
        match self.inner.db.get_pinned_cf(self.cf(T::NAME)?, &key)? {
            None => Ok(None),
            Some(sealed) => self.open_value::<T>(&key, &sealed).map(Some),
        }
    }

    /// Up to `limit` rows of table `T` whose keys lie in `range`, in `direction` order.
    ///
    /// Bounds may be inclusive, exclusive or absent at either end, whichever the direction:
    /// to page backwards through history, scan `..cursor` in [`Direction::Reverse`] with the
    /// oldest key of the previous page as the cursor. An empty or inverted range gives no rows.
    pub(crate) fn scan<T: Table>(
        &self,
        range: impl RangeBounds<T::Key>,
        direction: Direction,
        limit: usize,
    ) -> Result<Rows<T>, StoreError> {
        declared::<T>();
        // The range as bytes, `from` inclusive and `to` exclusive. Encodings preserve order,
        // and the first byte string after `k` is `k ‖ 0x00`, so an exclusive lower bound `k`
        // is the inclusive bound `k ‖ 0x00`, and an inclusive upper bound `k` the exclusive
        // bound `k ‖ 0x00`.
        let from = match range.start_bound() {
            Bound::Included(key) => Some(key.encode()),
            Bound::Excluded(key) => Some(key.successor()),
            Bound::Unbounded => None,
        };
        let to = match range.end_bound() {
            Bound::Included(key) => Some(key.successor()),
            Bound::Excluded(key) => Some(key.encode()),
            Bound::Unbounded => None,
        };
        if limit == 0 || matches!((&from, &to), (Some(from), Some(to)) if from >= to) {
            return Ok(Vec::new());
        }
        let in_range = |key: &[u8]| {
            from.as_deref().is_none_or(|from| key >= from)
                && to.as_deref().is_none_or(|to| key < to)
        };

        // The bounds also go to RocksDB, so that it stops at them instead of stepping over
        // deleted rows beyond them.
        let mut options = ReadOptions::default();
        if let Some(from) = &from {
            options.set_iterate_lower_bound(from.clone());
        }
        if let Some(to) = &to {
            options.set_iterate_upper_bound(to.clone());
        }
        let mut iter = self
            .inner
            .db
            .raw_iterator_cf_opt(self.cf(T::NAME)?, options);
        match (direction, &from, &to) {
            (Direction::Forward, Some(from), _) => iter.seek(from),
            (Direction::Forward, None, _) => iter.seek_to_first(),
            (Direction::Reverse, _, Some(to)) => iter.seek_for_prev(to),
            (Direction::Reverse, _, None) => iter.seek_to_last(),
        }

        let mut rows = Vec::new();
        while rows.len() < limit {
            let Some((key, sealed)) = iter.item() else {
                break;
            };
            // seek_for_prev lands on the exclusive upper bound itself when that row exists;
            // every other row outside the range means the walk is past its end.
            if in_range(key) {
                let value = self.open_value::<T>(key, sealed)?;
                let key = T::Key::decode(key).map_err(|e| corrupt(T::NAME, e.to_string()))?;
                rows.push((key, value));
            } else if !(direction == Direction::Reverse && to.as_deref() == Some(key)) {
                break;
            }
            match direction {
                Direction::Forward => iter.next(),
                Direction::Reverse => iter.prev(),
            }
        }
        iter.status()?;
        Ok(rows)
    }

    /// Writes `batch` atomically and durably: when this returns `Ok`, every write in it is in
    /// the fsync'd write-ahead log; after a crash, all of them are on disk or none is.
    ///
    /// A failed write poisons the store: this call returns the error, and every later one
    /// [`StoreError::Poisoned`] without writing (see the module documentation). Values that
    /// fail to seal or tables that are not open fail the call without writing or poisoning.
    /// Commits from several threads are safe, but the node serialises its writers, so a
    /// commit racing the one that poisons the store may still be written.
    pub(crate) fn commit(&self, batch: Batch) -> Result<(), StoreError> {
        if self.is_poisoned() {
            return Err(StoreError::Poisoned);
        }
        if batch.is_empty() {
            return Ok(());
        }
        let write = self.seal_batch(&batch)?;
        drop(batch);
        let mut options = WriteOptions::default();
        options.set_sync(true);
        if let Err(error) = self.write(write, &options) {
            self.inner.poisoned.store(true, Ordering::SeqCst);
            tracing::error!(%error, "a database write failed; the store accepts no more writes");
            return Err(error);
        }
        Ok(())
    }

    /// Makes the next [`Store::get`] on table `table` fail (tests only).
    #[cfg(test)]
    pub(crate) fn fail_next_get(&self, table: &'static str) {
        *self
            .inner
            .fail_next_get
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = Some(table);
    }

    /// Whether a failed commit has poisoned the store.
    pub(crate) fn is_poisoned(&self) -> bool {
        self.inner.poisoned.load(Ordering::SeqCst)
    }

    /// Runs `f` on a thread for blocking work, off the async executor.
    #[cfg_attr(
        not(test),
        allow(
            dead_code,
            reason = "the core task uses spawn_blocking with owned batches"
        )
    )]
    pub(crate) async fn blocking<R: Send + 'static>(
        &self,
        f: impl FnOnce(&Store) -> Result<R, StoreError> + Send + 'static,
    ) -> Result<R, StoreError> {
        let store = self.clone();
        match tokio::task::spawn_blocking(move || f(&store)).await {
            Ok(result) => result,
            // A panic in `f` is a bug; carry it on to the caller rather than turn it into an
            // error that someone might retry.
            Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
            Err(e) => Err(StoreError::Io(format!("blocking task did not run: {e}"))),
        }
    }

    /// A 16-byte row-key component standing for `data` (a contact's user id, say), so that
    /// the database files do not show who the user talks to: the first 16 bytes of
    /// `keyed_hash(u16(len(purpose)) ‖ purpose ‖ data)` under the `index` subkey. The same
    /// `purpose` and `data` always give the same id; different purposes give unrelated ids.
    pub(crate) fn index_id(&self, purpose: &str, data: &[u8]) -> [u8; 16] {
        // Purposes are short names fixed in the code; the length prefix keeps the boundary
        // between purpose and data. A purpose over 64 KiB would be cut to its first 65535 bytes.
        let purpose = purpose.as_bytes();
        let purpose = &purpose[..purpose.len().min(usize::from(u16::MAX))];
        let len = u16::try_from(purpose.len()).unwrap_or(u16::MAX);
        let mut input = Vec::with_capacity(2 + purpose.len() + data.len());
        input.extend_from_slice(&len.to_be_bytes());
        input.extend_from_slice(purpose);
        input.extend_from_slice(data);
        let hash = self.inner.index.keyed_hash(&input);
        // 128 bits: a collision between two of one user's contacts needs about 2^64 of them,
        // and nobody without the key can search for one.
        std::array::from_fn(|i| hash[i])
    }

    /// A 32-byte secret for `purpose` (the key that hides openmls's row keys, say), from the
    /// same subkey as [`Store::index_id`] but framed so that no index id shares its hash:
    /// `keyed_hash(0xFFFF ‖ "secret" ‖ purpose)`; index ids start with their purpose's
    /// length, which is below 0xFFFF for every purpose in the code.
    pub(crate) fn secret(&self, purpose: &str) -> zeroize::Zeroizing<[u8; 32]> {
        let mut input = Vec::with_capacity(8 + purpose.len());
        input.extend_from_slice(&[0xFF, 0xFF]);
        input.extend_from_slice(b"secret");
        input.extend_from_slice(purpose.as_bytes());
        zeroize::Zeroizing::new(self.inner.index.keyed_hash(&input))
    }

    /// Writes every table's memtable to SST files and waits for it. Commits are durable
    /// without this (they are in the write-ahead log); it makes the files on disk current,
    /// which shortens recovery after a crash.
    pub(crate) fn flush(&self) -> Result<(), StoreError> {
        for name in tables::opened_tables() {
            self.inner.db.flush_cf(self.cf(name)?)?;
        }
        Ok(())
    }

    /// The sealed bytes of a row as RocksDB holds them, for tests that look for them in the
    /// files.
    #[cfg(test)]
    pub(crate) fn raw_value<T: Table>(&self, key: &T::Key) -> Option<Vec<u8>> {
        self.inner
            .db
            .get_cf(self.cf(T::NAME).ok()?, key.encode())
            .ok()
            .flatten()
    }

    /// Bytes the filesystem holding the database can still give this process, if it says.
    pub(crate) fn free_space(&self) -> Option<u64> {
        let stat = rustix::fs::statvfs(self.inner.db.path()).ok()?;
        Some(stat.f_bavail.saturating_mul(stat.f_frsize))
    }

    /// How many rows table `T` holds with keys in `first..=last`, without opening their values.
    pub(crate) fn count<T: Table>(
        &self,
        first: &T::Key,
        last: &T::Key,
    ) -> Result<usize, StoreError> {
        declared::<T>();
        let from = first.encode();
        let mut options = ReadOptions::default();
        options.set_iterate_lower_bound(from.clone());
        options.set_iterate_upper_bound(last.successor());
        let mut iter = self
            .inner
            .db
            .raw_iterator_cf_opt(self.cf(T::NAME)?, options);
        iter.seek(&from);
        let mut count = 0;
        while iter.valid() {
            count += 1;
            iter.next();
        }
        iter.status()?;
        Ok(count)
    }

    /// Makes rows deleted from table `T` in `first..=last` leave the files: compacts the range
    /// to the bottom level, where RocksDB drops deleted rows instead of keeping tombstones
    /// over them. Call [`Store::flush`] first, once for all the ranges erased together, so
    /// that the deletions are in the files and the write-ahead log that still holds the rows
    /// can go. Slow (it rewrites the files overlapping the range); for deletions the user
    /// asks for, such as a whole conversation.
    pub(crate) fn erase<T: Table>(&self, first: &T::Key, last: &T::Key) -> Result<(), StoreError> {
        declared::<T>();
        let mut options = rocksdb::CompactOptions::default();
        options.set_bottommost_level_compaction(rocksdb::BottommostLevelCompaction::Force);
        self.inner.db.compact_range_cf_opt(
            self.cf(T::NAME)?,
            Some(first.encode()),
            Some(last.successor()),
            &options,
        );
        Ok(())
    }

    fn cf(&self, name: &str) -> Result<&ColumnFamily, StoreError> {
        // Every declared table is opened, so this fails only if that invariant is broken.
        self.inner
            .db
            .cf_handle(name)
            .ok_or_else(|| StoreError::Io(format!("column family {name} is not open")))
    }

    fn table_key(&self, name: &str) -> Result<&StorageKey, StoreError> {
        self.inner
            .keys
            .get(name)
            .ok_or_else(|| StoreError::Io(format!("no storage key for table {name}")))
    }

    fn open_value<T: Table>(&self, key: &[u8], sealed: &[u8]) -> Result<T::Value, StoreError> {
        let plaintext = self
            .table_key(T::NAME)?
            .open(T::NAME, key, sealed)
            .map_err(|e| corrupt(T::NAME, e.to_string()))?;
        match postcard::take_from_bytes(&plaintext) {
            Ok((value, [])) => Ok(value),
            Ok((_, rest)) => Err(corrupt(
                T::NAME,
                format!("{} bytes after the value", rest.len()),
            )),
            Err(e) => Err(corrupt(T::NAME, format!("value does not decode: {e}"))),
        }
    }

    /// The RocksDB write batch for `batch`, every value sealed.
    fn seal_batch(&self, batch: &Batch) -> Result<WriteBatch, StoreError> {
        // The rows' nonces come from a generator seeded once per batch by the operating
        // system, not from a system call per row: a group of received messages seals
        // hundreds of rows, and the calls were 2 % of a busy node's CPU.
        let mut rng = <rand_chacha::ChaCha20Rng as rand_chacha::rand_core::SeedableRng>::from_rng(
            &mut UnwrapErr(getrandom::SysRng),
        );
        let mut write = WriteBatch::default();
        for op in &batch.ops {
            match op {
                Op::Put { table, key, value } => {
                    let sealed = self
                        .table_key(table)?
                        .seal(&mut rng, table, key, value)
                        .map_err(|e| StoreError::Seal {
                            table,
                            reason: e.to_string(),
                        })?;
                    write.put_cf(self.cf(table)?, key, sealed);
                }
                Op::Delete { table, key } => write.delete_cf(self.cf(table)?, key),
                Op::DeleteRange { table, from, to } => {
                    write.delete_range_cf(self.cf(table)?, from, to);
                }
                Op::PutMeta { key, value } => write.put_cf(self.cf(META)?, key, value),
            }
        }
        Ok(write)
    }

    fn write(&self, write: WriteBatch, options: &WriteOptions) -> Result<(), StoreError> {
        #[cfg(test)]
        if self.inner.fail_next_commit.swap(false, Ordering::SeqCst) {
            return Err(StoreError::Io("injected write failure".to_string()));
        }
        self.inner.db.write_opt(write, options)?;
        Ok(())
    }
}

impl fmt::Debug for Store {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Store")
            .field("path", &self.inner.db.path())
            .field("poisoned", &self.is_poisoned())
            .finish_non_exhaustive()
    }
}

/// Fails to compile (when `T` is used) unless `T::NAME` is a declared table, so that a table
/// missing from `ALL_TABLES`, and therefore from the database, is caught by the compiler.
fn declared<T: Table>() {
    const {
        assert!(
            tables::is_declared(T::NAME),
            "table name not in ALL_TABLES (or it is `meta`)"
        )
    }
}

fn corrupt(table: &'static str, reason: String) -> StoreError {
    StoreError::Corrupt { table, reason }
}

fn unlock_error(e: UnlockError) -> StoreError {
    match e {
        UnlockError::WrongPassphrase => StoreError::WrongPassphrase,
        other => StoreError::Kdf(other.to_string()),
    }
}

/// Creates `dir` (and its parents) if missing, readable by the owner only: it holds the key
/// file and the history.
fn create_private_dir(dir: &Path) -> Result<(), StoreError> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir)?;
    Ok(())
}

/// Opens (or with `create`, creates) the database at `path` with a column family for every
/// table this build declares, plus any a newer build added: RocksDB refuses to open a
/// database without naming all of its column families.
fn open_db(path: &Path, create: bool) -> Result<DB, StoreError> {
    let cache = options::block_cache();
    let db_options = options::db_options(create, &cache);
    let mut names: Vec<String> = if path.join("CURRENT").try_exists()? {
        DB::list_cf(&db_options, path)?
    } else {
        Vec::new()
    };
    for name in tables::opened_tables() {
        if !names.iter().any(|n| n == name) {
            names.push(name.to_string());
        }
    }
    let descriptors = names
        .into_iter()
        .map(|name| ColumnFamilyDescriptor::new(name, options::table_options(&cache)));
    Ok(DB::open_cf_descriptors(&db_options, path, descriptors)?)
}

fn read_meta(db: &DB, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
    let meta = db
        .cf_handle(META)
        .ok_or_else(|| StoreError::Io("column family meta is not open".to_string()))?;
    Ok(db.get_cf(meta, key)?)
}

fn read_schema_version(db: &DB) -> Result<u32, StoreError> {
    let bytes = read_meta(db, META_SCHEMA_VERSION)?
        .ok_or_else(|| corrupt(META, "no schema version".to_string()))?;
    match <[u8; 4]>::try_from(bytes.as_slice()).map(u32::from_be_bytes) {
        Ok(0) | Err(_) => Err(corrupt(META, format!("bad schema version {bytes:02x?}"))),
        Ok(version) => Ok(version),
    }
}

#[cfg(test)]
mod tests;
