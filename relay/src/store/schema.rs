//! Upgrades of the relay's database from older schemas.

use super::*;

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
