//! The store's own tests: schema upgrades, prekey accounting and deletes.

use tern_proto::mailbox::envelope_digest;

use super::*;

/// Deposits `envelope` for `mailbox` as stored at `at`, through the writer; its custody.
pub(crate) async fn deposit(store: &Store, mailbox: [u8; 32], envelope: &[u8], at: u64) -> Custody {
    let (reply, answer) = oneshot::channel();
    store
        .deposit(Deposit {
            mailbox,
            envelope: envelope.to_vec(),
            digest: envelope_digest(envelope),
            stored_at: at,
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

/// Small limits for the store's tests; override what a test needs.
pub(crate) fn quota() -> Quota {
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

#[tokio::test]
async fn an_acknowledgement_counts_each_envelope_it_deletes_once() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), quota(), Timings::new()).unwrap();
    let (mine, theirs) = ([1u8; 32], [2u8; 32]);
    let mut ids = Vec::new();
    for i in 0..6u8 {
        ids.push(deposit(&store, mine, &[i; 100], 1_000).await.id);
    }
    let other = deposit(&store, theirs, &[9; 100], 1_000).await.id;
    let held = |store: &Store| (store.totals().messages, store.totals().bytes);
    assert_eq!(held(&store), (7, 7 * (8 + 100)));

    // The same id named three times is one envelope deleted.
    assert_eq!(store.ack_unsynced(&mine, &[ids[0]; 3]).unwrap(), 1);
    assert_eq!(held(&store), (6, 6 * 108));
    // A run of ids, some deleted already and one never stored, out of order: each held one
    // counts once, and another mailbox's id in this one's name is not found.
    let named = [ids[2], ids[1], ids[0], ids[2], ids[5] + 10, other];
    assert_eq!(store.ack_unsynced(&mine, &named).unwrap(), 2);
    assert_eq!(held(&store), (4, 4 * 108));
    // With the last id there is (no key past it to end a scan at: looked up one by one)
    // they count the same way.
    assert_eq!(store.ack(&mine, &[ids[3], ids[5], u64::MAX]).unwrap(), 2);
    assert_eq!(held(&store), (2, 2 * 108));
    let (left, _) = store.fetch(&mine, 0, 10, 1 << 20).unwrap();
    assert_eq!(left.iter().map(|e| e.id).collect::<Vec<_>>(), [ids[4]]);
    assert_eq!(store.ack_unsynced(&theirs, &[other]).unwrap(), 1);

    // Two ids with 78 envelopes between them: a scan would read far more rows than it
    // looks for, and gives up for lookups.
    let many = [3u8; 32];
    let mut run = Vec::new();
    for i in 0..80u8 {
        run.push(deposit(&store, many, &[i; 10], 1_000).await.id);
    }
    assert_eq!(held(&store), (81, 108 + 80 * 18));
    assert_eq!(store.ack_unsynced(&many, &[run[79], run[0]]).unwrap(), 2);
    assert_eq!(held(&store), (79, 108 + 78 * 18));
}

#[tokio::test]
async fn a_page_of_stored_envelopes_lies_in_a_few_table_blocks() {
    let dir = tempfile::tempdir().unwrap();
    let quota = Quota {
        max_messages: 1_000,
        max_bytes: 1 << 21,
        ..quota()
    };
    let store = Store::open(dir.path(), quota, Timings::new()).unwrap();
    let mailbox = [3u8; 32];
    for i in 0..512u32 {
        let mut envelope = vec![0x5a; 1024];
        envelope[..4].copy_from_slice(&i.to_be_bytes());
        deposit(&store, mailbox, &envelope, 1_000).await;
    }
    // An owner usually collects after its mail was flushed to a table file.
    let db = &store.shared.db;
    let cf = db.cf_handle(ENVELOPES).unwrap();
    db.flush_cf(cf).unwrap();
    let properties = db
        .property_value_cf(cf, "rocksdb.aggregated-table-properties")
        .unwrap()
        .unwrap();
    let blocks: u64 = properties
        .split(';')
        .find_map(|p| p.trim().strip_prefix("# data blocks="))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no block count in {properties}"));
    // A page is read block by block: with 64 KiB blocks about ten of them, where RocksDB's
    // default size would make it well over a hundred.
    assert!(
        (5..=16).contains(&blocks),
        "{blocks} data blocks for 512 KiB"
    );
    let (page, more) = store.fetch(&mailbox, 0, 512, usize::MAX).unwrap();
    assert_eq!((page.len(), more), (512, false));
}
