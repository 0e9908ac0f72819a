//! RocksDB tuning: small memory, no compression, and nothing that keeps stale bytes around.
//!
//! The node aims at 30 MB of resident memory when idle (`DESIGN.md`), and a chat history grows
//! by kilobytes a minute, not megabytes a second, so every buffer here is sized far below
//! RocksDB's server-oriented defaults (64 MiB memtables, unlimited open files, an 8 MiB cache
//! per column family). The numbers are upper bounds on what RocksDB may use, not allocations:
//! memtables and the block cache grow only as data arrives.

use rocksdb::{BlockBasedOptions, Cache, DBCompressionType, Options};

/// The block cache shared by every column family. Reads of recent history, the common case,
/// mostly hit the memtables; 8 MiB keeps the index and filter blocks and a working set of
/// data blocks of a database of a few gigabytes without letting the cache dominate the RSS.
const BLOCK_CACHE_BYTES: usize = 8 << 20;
/// One memtable per column family fills to 4 MiB before it is flushed to an SST file:
/// enough to batch thousands of 1 KiB messages into one file, a sixteenth of the default.
const WRITE_BUFFER_BYTES: usize = 4 << 20;
/// One memtable being written and one being flushed; more only helps write bursts that
/// outrun the disk, which a messenger does not produce.
const MAX_WRITE_BUFFERS: i32 = 2;
/// All memtables of all column families together: when they reach 16 MiB the largest is
/// flushed, so adding tables does not multiply the memory the memtables may take.
const DB_WRITE_BUFFER_BYTES: usize = 16 << 20;
/// A write-ahead log can be deleted only once every column family with data in it has been
/// flushed; this cap forces a flush of rarely written tables (contacts, say) so that the logs
/// behind them cannot grow without limit.
const MAX_TOTAL_WAL_BYTES: u64 = 32 << 20;
/// Every open SST file pins a table reader in memory; 64 bounds that, and a database of the
/// size a node keeps has fewer files than that at its bottom levels anyway.
const MAX_OPEN_FILES: i32 = 64;
/// RocksDB's informational LOG is for diagnosing the database, not an audit trail: two old
/// files of at most 1 MiB each are enough to see what happened before a problem.
const KEEP_LOG_FILES: usize = 2;
const MAX_LOG_FILE_BYTES: usize = 1 << 20;
/// One flush and one compaction at a time, on a machine class with 2 cores that also runs
/// the network and the cryptography.
const MAX_BACKGROUND_JOBS: i32 = 2;
/// A Bloom filter of 10 bits per key (about 1 % false positives) lets a lookup of a missing
/// row, the case of every duplicate check of an incoming message id, skip reading data blocks.
const BLOOM_BITS_PER_KEY: f64 = 10.0;

/// Options for the whole database. `create` is whether the database may be created: only
/// `Store::create` may, so that opening a mistyped directory does not make an empty database.
pub(super) fn db_options(create: bool, cache: &Cache) -> Options {
    let mut options = table_options(cache);
    options.create_if_missing(create);
    // A newer build can add tables without a migration step; and a database created before a
    // table existed gets it on the first open by a build that declares it.
    options.create_missing_column_families(true);
    options.set_max_open_files(MAX_OPEN_FILES);
    options.set_db_write_buffer_size(DB_WRITE_BUFFER_BYTES);
    options.set_max_total_wal_size(MAX_TOTAL_WAL_BYTES);
    options.set_keep_log_file_num(KEEP_LOG_FILES);
    options.set_max_log_file_size(MAX_LOG_FILE_BYTES);
    options.set_max_background_jobs(MAX_BACKGROUND_JOBS);
    // RocksDB's default, stated because it matters: recycled log files would keep old
    // records, among them the key file wrapped under a passphrase since changed.
    options.set_recycle_log_file_num(0);
    options
}

/// Options for each column family.
pub(super) fn table_options(cache: &Cache) -> Options {
    let mut options = Options::default();
    options.set_write_buffer_size(WRITE_BUFFER_BYTES);
    options.set_max_write_buffer_number(MAX_WRITE_BUFFERS);
    // Values are sealed, so indistinguishable from random bytes: compression would cost CPU
    // and save nothing. The crate is built without the compression libraries anyway.
    options.set_compression_type(DBCompressionType::None);
    options.set_bottommost_compression_type(DBCompressionType::None);

    let mut block = BlockBasedOptions::default();
    block.set_block_cache(cache);
    // Index and filter blocks live in the bounded cache rather than beside it, so that the
    // cache size bounds the memory all of them take; those of level-0 files stay pinned,
    // because every read consults them.
    block.set_cache_index_and_filter_blocks(true);
    block.set_pin_l0_filter_and_index_blocks_in_cache(true);
    block.set_bloom_filter(BLOOM_BITS_PER_KEY, false);
    options.set_block_based_table_factory(&block);
    options
}

/// The shared block cache.
pub(super) fn block_cache() -> Cache {
    Cache::new_lru_cache(BLOCK_CACHE_BYTES)
}
