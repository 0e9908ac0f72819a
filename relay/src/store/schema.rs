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
    if version <= 2 {
        // Schemas 1 and 2 had no digest index: build it from the envelopes held.
        let envelopes = db
            .cf_handle(ENVELOPES)
            .ok_or(StoreError::Corrupt("envelopes"))?;
        let digests = db
            .cf_handle(DIGESTS)
            .ok_or(StoreError::Corrupt("digests"))?;
        for item in db.iterator_cf(envelopes, IteratorMode::Start) {
            let (k, v) = item?;
            let (Some(mailbox), Some(id), Some(stored_at)) = (
                k.get(..32).and_then(|m| <[u8; 32]>::try_from(m).ok()),
                k.get(32..).and_then(be64),
                be64(&v),
            ) else {
                return Err(StoreError::Corrupt("envelope"));
            };
            let digest = envelope_digest(&v[8..]);
            batch.put_cf(
                digests,
                digest_key(&mailbox, &digest),
                digest_value(id, stored_at),
            );
        }
    }
    batch.put_cf(meta, b"schema", SCHEMA_VERSION.to_be_bytes());
    let mut sync = WriteOptions::default();
    sync.set_sync(true);
    db.write_opt(batch, &sync)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn quota() -> Quota {
        Quota {
            max_messages: 100,
            max_bytes: 1 << 20,
            disk_budget: 1 << 30,
            min_free: 0,
        }
    }

    async fn deposit(store: &Store, mailbox: [u8; 32], envelope: &[u8]) -> Custody {
        let (reply, answer) = oneshot::channel();
        store
            .deposit(Deposit {
                mailbox,
                envelope: envelope.to_vec(),
                digest: envelope_digest(envelope),
                stored_at: 1_000,
                reply,
            })
            .await;
        let stored = answer.await.unwrap().unwrap();
        let keypair = libp2p::identity::Keypair::generate_ed25519();
        let receipt = stored
            .batch
            .receipt(stored.index, &[], &[], |m| keypair.sign(m).unwrap());
        Custody {
            mailbox: receipt.mailbox,
            digest: receipt.digest,
            id: receipt.id,
            stored_at: receipt.stored_at,
        }
    }

    #[tokio::test]
    async fn a_schema_2_store_indexes_what_it_holds_and_stores_a_repeat_once() {
        let dir = tempfile::tempdir().unwrap();
        let mailbox = [7u8; 32];
        {
            // A relay of schema 2 held an envelope and had no digest index.
            let mut options = Options::default();
            options.create_if_missing(true);
            options.create_missing_column_families(true);
            let db = DB::open_cf(&options, dir.path(), [ENVELOPES, META, PREKEYS, BLOBS]).unwrap();
            db.put_cf(db.cf_handle(META).unwrap(), b"schema", 2u32.to_be_bytes())
                .unwrap();
            db.put_cf(db.cf_handle(META).unwrap(), b"next_id", 5u64.to_be_bytes())
                .unwrap();
            let mut value = 900u64.to_be_bytes().to_vec();
            value.extend_from_slice(b"held envelope");
            db.put_cf(db.cf_handle(ENVELOPES).unwrap(), key(&mailbox, 4), value)
                .unwrap();
        }
        let store = Store::open(dir.path(), quota(), Timings::new()).unwrap();
        // The envelope held before the upgrade is found again: same id, same time.
        let again = deposit(&store, mailbox, b"held envelope").await;
        assert_eq!((again.id, again.stored_at), (4, 900));
        assert_eq!(store.totals().messages, 1);
        // A new one is stored once, however often it is deposited.
        let first = deposit(&store, mailbox, b"new envelope").await;
        let second = deposit(&store, mailbox, b"new envelope").await;
        assert_eq!(first.id, second.id);
        assert_eq!(store.totals().messages, 2);
        // The same envelope for another mailbox is that mailbox's own.
        let other = deposit(&store, [8; 32], b"new envelope").await;
        assert_ne!(other.id, first.id);
        // Once acknowledged, it is gone from the index too: a later deposit is new.
        assert_eq!(store.ack(&mailbox, &[first.id]).unwrap(), 1);
        let later = deposit(&store, mailbox, b"new envelope").await;
        assert_ne!(later.id, first.id);
        assert_eq!(store.totals().messages, 3);
    }
}
