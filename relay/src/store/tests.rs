//! The store's own tests: schema upgrades and prekey accounting.

use super::*;

fn quota() -> Quota {
    Quota {
        max_messages: 100,
        max_bytes: 4096,
        disk_budget: 1 << 30,
        min_free: 0,
        log_bytes: 1 << 20,
    }
}

#[test]
fn a_schema_1_store_keeps_its_prekeys_dated_at_the_upgrade() {
    let dir = tempfile::tempdir().unwrap();
    let mailbox = [7u8; 32];
    {
        // A relay of schema 1 stored the prekey's bytes alone.
        let mut options = Options::default();
        options.create_if_missing(true);
        options.create_missing_column_families(true);
        let db = DB::open_cf(&options, dir.path(), [ENVELOPES, META, PREKEYS]).unwrap();
        db.put_cf(db.cf_handle(META).unwrap(), b"schema", 1u32.to_be_bytes())
            .unwrap();
        db.put_cf(
            db.cf_handle(PREKEYS).unwrap(),
            prekey_key(&mailbox, 3),
            b"prekey three",
        )
        .unwrap();
    }
    let store = Store::open(dir.path(), quota(), Timings::new()).unwrap();
    assert_eq!(store.totals().bytes, 8 + 12, "the prekey counts, dated");
    assert_eq!(store.expire(0).unwrap(), 0);
    assert_eq!(
        store.take_prekey(&mailbox).unwrap().as_deref(),
        Some(&b"prekey three"[..])
    );
    assert_eq!(store.totals().bytes, 0);
    drop(store);
    let store = Store::open(dir.path(), quota(), Timings::new()).unwrap();
    assert_eq!(store.take_prekey(&mailbox).unwrap(), None);
}

#[test]
fn prekeys_count_against_the_quota_and_expire() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), quota(), Timings::new()).unwrap();
    let mailbox = [1u8; 32];
    let prekey = vec![9u8; 1100];
    let batch: Vec<_> = (0..3).map(|id| (id, prekey.clone())).collect();
    assert_eq!(store.upload_prekeys(&mailbox, &batch, 200, 1_000), Ok(3));
    // A fourth would pass the mailbox's 4,096 bytes.
    let more = [(10, prekey.clone())];
    assert_eq!(
        store.upload_prekeys(&mailbox, &more, 200, 1_000),
        Err(Refusal::QuotaExceeded)
    );
    // Re-uploading held ids changes nothing.
    assert_eq!(store.upload_prekeys(&mailbox, &batch, 200, 2_000), Ok(3));
    assert_eq!(store.expire(1_001).unwrap(), 0, "no envelopes");
    assert_eq!(store.take_prekey(&mailbox).unwrap(), None, "expired");
    assert_eq!(store.totals().bytes, 0);
    assert_eq!(store.upload_prekeys(&mailbox, &more, 200, 2_000), Ok(1));
}
