//! The relay's column families with their tuning, and upgrades from older schemas.

use super::*;

/// Envelope table files' block size. A page of envelopes is read in key order, mostly from
/// table files (a mailbox is collected after its deposits were flushed): with RocksDB's
/// default 4 KiB blocks, about four 1 KiB envelopes each, a page of 512 cost over a hundred
/// block reads and block-cache insertions; with 64 KiB blocks it costs about ten.
const ENVELOPE_BLOCK: usize = 64 << 10;

/// The database's options and its column families, sized from `quota`.
pub(super) fn families(quota: &Quota) -> (Options, [ColumnFamilyDescriptor; 6]) {
    let mut options = Options::default();
    options.create_if_missing(true);
    options.create_missing_column_families(true);
    // The free-space reserve must always hold what RocksDB writes on its own: flushing every
    // memtable (six families, two memtables each, a sixteenth of the reserve apiece: three
    // quarters of it) and the write-ahead log they cover (a quarter). A flush that fails for
    // want of space stops every write, acknowledgements included, which is what the reserve
    // prevents.
    let memtable = usize::try_from(quota.min_free / 16)
        .unwrap_or(usize::MAX)
        .clamp(1 << 20, 64 << 20);
    options.set_max_total_wal_size(quota.min_free / 4);
    let family = || {
        let mut options = Options::default();
        options.set_write_buffer_size(memtable);
        options.set_max_write_buffer_number(2);
        options
    };
    // Envelopes are deleted as soon as they are acknowledged, so their column fills with
    // tombstones; a table file where deletes dominate is compacted away early rather than
    // slowing every scan that crosses it.
    let mut envelope_options = family();
    envelope_options.add_compact_on_deletion_collector_factory(128, 64, 0.5);
    let mut table = rocksdb::BlockBasedOptions::default();
    table.set_block_size(ENVELOPE_BLOCK);
    envelope_options.set_block_based_table_factory(&table);
    // Nearly every deposit looks for a digest that is not there: a Bloom filter answers most
    // of those without reading a table file.
    let mut digest_options = family();
    let mut table = rocksdb::BlockBasedOptions::default();
    table.set_bloom_filter(10.0, false);
    digest_options.set_block_based_table_factory(&table);
    digest_options.add_compact_on_deletion_collector_factory(128, 64, 0.5);
    let families = [
        ColumnFamilyDescriptor::new(ENVELOPES, envelope_options),
        ColumnFamilyDescriptor::new(META, family()),
        ColumnFamilyDescriptor::new(PREKEYS, family()),
        ColumnFamilyDescriptor::new(BLOBS, family()),
        ColumnFamilyDescriptor::new(DIGESTS, digest_options),
        ColumnFamilyDescriptor::new(LOGS, family()),
    ];
    (options, families)
}

/// Brings a database of an older schema up to [`SCHEMA_VERSION`], or refuses a newer one.
pub(super) fn migrate(db: &DB) -> Result<(), StoreError> {
    let meta = db.cf_handle(META).ok_or(StoreError::Corrupt("meta"))?;
    let version = match db.get_cf(meta, b"schema")? {
        None => {
            db.put_cf(meta, b"schema", SCHEMA_VERSION.to_be_bytes())?;
            return Ok(());
        }
        Some(v) => u32::from_be_bytes(
            v.as_slice()
                .try_into()
                .map_err(|_| StoreError::Corrupt("schema"))?,
        ),
    };
    if version > SCHEMA_VERSION {
        return Err(StoreError::Schema(version));
    }
    if version == SCHEMA_VERSION {
        return Ok(());
    }
    let mut batch = WriteBatch::default();
    if version == 1 {
        // Schema 1 kept prekeys undated: date them now, so they expire a retention from
        // the upgrade.
        let prekeys = db
            .cf_handle(PREKEYS)
            .ok_or(StoreError::Corrupt("prekeys"))?;
        let now = crate::service::now_secs().to_be_bytes();
        for item in db.iterator_cf(prekeys, IteratorMode::Start) {
            let (k, v) = item?;
            let mut value = now.to_vec();
            value.extend_from_slice(&v);
            batch.put_cf(prekeys, k, value);
        }
    }
    // Schema 3 added the `digests` table and schema 4 the `logs` table; both start empty.
    batch.put_cf(meta, b"schema", SCHEMA_VERSION.to_be_bytes());
    let mut sync = WriteOptions::default();
    sync.set_sync(true);
    db.write_opt(batch, &sync)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::tests::deposit;

    fn quota() -> Quota {
        Quota {
            max_messages: 100,
            max_bytes: 1 << 20,
            disk_budget: 1 << 30,
            min_free: 0,
            log_bytes: 1 << 20,
        }
    }

    #[tokio::test]
    async fn a_repeat_within_the_window_is_stored_once_and_answered_alike_after_an_ack() {
        let dir = tempfile::tempdir().unwrap();
        {
            // A store of schema 2, without the digest table, opens and upgrades.
            let mut options = Options::default();
            options.create_if_missing(true);
            options.create_missing_column_families(true);
            let db = DB::open_cf(&options, dir.path(), [ENVELOPES, META, PREKEYS, BLOBS]).unwrap();
            db.put_cf(db.cf_handle(META).unwrap(), b"schema", 2u32.to_be_bytes())
                .unwrap();
        }
        let store = Store::open(dir.path(), quota(), Timings::new()).unwrap();
        let mailbox = [7u8; 32];
        let first = deposit(&store, mailbox, b"an envelope", 1_000).await;
        let again = deposit(&store, mailbox, b"an envelope", 1_010).await;
        assert_eq!(again, first, "the same id and time");
        assert_eq!(store.totals().messages, 1);
        // The same envelope for another mailbox is that mailbox's own.
        let other = deposit(&store, [8; 32], b"an envelope", 1_010).await;
        assert_ne!(other.id, first.id);
        // Collected or not, a repeat gets the same answer: it cannot tell a sender whether
        // the owner has collected.
        assert_eq!(store.ack(&mailbox, &[first.id]).unwrap(), 1);
        let after_ack = deposit(&store, mailbox, b"an envelope", 1_020).await;
        assert_eq!(after_ack, first);
        assert_eq!(store.totals().messages, 1, "only the other mailbox's copy");
        // Past the window a deposit is new, whatever became of the first.
        let later = deposit(
            &store,
            mailbox,
            b"an envelope",
            1_000 + DEDUP_WINDOW_SECS + 1,
        )
        .await;
        assert_ne!(later.id, first.id);
        assert_eq!(store.totals().messages, 2);
    }
}
