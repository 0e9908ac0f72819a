//! Tests of the store on real RocksDB files in temporary directories.

use std::{
    collections::BTreeMap,
    io::{BufRead, BufReader, Read, Write},
    ops::Bound,
    path::{Path, PathBuf},
    process::{Command, Stdio},
    sync::atomic::{AtomicUsize, Ordering},
    time::Instant,
};

use proptest::prelude::*;
use serde::{Deserialize, Serialize};
use tempfile::TempDir;

use super::*;

const PASSPHRASE: &[u8] = b"correct horse battery staple";

/// Cheap Argon2id costs, so that tests spend their time in RocksDB rather than in the KDF.
fn cheap() -> KdfParams {
    KdfParams::new(64, 1, 1).unwrap()
}

/// A row of every shape postcard encodes differently: a string, an integer, bytes, an option.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Row {
    text: String,
    n: u64,
    bytes: Vec<u8>,
    flag: Option<bool>,
}

fn row(text: &str, n: u64) -> Row {
    Row {
        text: text.to_string(),
        n,
        bytes: vec![1, 2, 3],
        flag: Some(n.is_multiple_of(2)),
    }
}

/// Rows keyed by a number.
struct Rows;
impl Table for Rows {
    const NAME: &'static str = "test/rows";
    type Key = u64;
    type Value = Row;
}

/// Chat-history-shaped keys: conversation, time, message id.
struct History;
impl Table for History {
    const NAME: &'static str = "test/history";
    type Key = ([u8; 16], u64, [u8; 16]);
    type Value = String;
}

/// String keys.
struct Names;
impl Table for Names {
    const NAME: &'static str = "test/names";
    type Key = String;
    type Value = u32;
}

/// Same key type as `Rows`, another table: a value moved here from `Rows` must not open.
struct OtherRows;
impl Table for OtherRows {
    const NAME: &'static str = "test/history";
    type Key = u64;
    type Value = Row;
}

fn new_store() -> (TempDir, Store) {
    let dir = TempDir::new().unwrap();
    let store = Store::create(dir.path(), PASSPHRASE, cheap()).unwrap();
    (dir, store)
}

fn put<T: Table>(store: &Store, key: T::Key, value: T::Value) {
    let mut batch = Batch::new();
    batch.put::<T>(&key, &value).unwrap();
    store.commit(batch).unwrap();
}

/// The raw bytes RocksDB holds for a row, bypassing the sealing.
fn raw_get(store: &Store, table: &str, key: &[u8]) -> Option<Vec<u8>> {
    store
        .inner
        .db
        .get_cf(store.cf(table).unwrap(), key)
        .unwrap()
}

fn raw_put(store: &Store, table: &str, key: &[u8], value: &[u8]) {
    store
        .inner
        .db
        .put_cf(store.cf(table).unwrap(), key, value)
        .unwrap();
}

/// Every byte of every file under `dir`.
fn all_files(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut files = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                pending.push(path);
            } else {
                files.push((path.clone(), std::fs::read(&path).unwrap()));
            }
        }
    }
    files
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

fn assert_nowhere_on_disk(dir: &Path, needles: &[(&str, &[u8])]) {
    let files = all_files(dir);
    assert!(
        files
            .iter()
            .any(|(path, _)| path.extension().is_some_and(|e| e == "log"))
    );
    for (path, bytes) in &files {
        for (what, needle) in needles {
            assert!(
                !contains(bytes, needle),
                "{what} found in {}",
                path.display()
            );
        }
    }
}

#[test]
fn create_then_open_round_trip() {
    let (dir, store) = new_store();
    assert_eq!(store.get::<Rows>(&1).unwrap(), None);
    let mut batch = Batch::new();
    batch.put::<Rows>(&1, &row("one", 1)).unwrap();
    batch.put::<Rows>(&2, &row("two", 2)).unwrap();
    batch.put::<Names>(&"alice".to_string(), &7).unwrap();
    assert_eq!(batch.len(), 3);
    store.commit(batch).unwrap();
    assert_eq!(store.get::<Rows>(&1).unwrap(), Some(row("one", 1)));
    // Another handle sees the same database.
    assert_eq!(
        store.clone().get::<Names>(&"alice".to_string()).unwrap(),
        Some(7)
    );
    drop(store);

    // Durable across close: a new process would see the same.
    let store = Store::open(dir.path(), PASSPHRASE).unwrap();
    assert_eq!(store.get::<Rows>(&1).unwrap(), Some(row("one", 1)));
    assert_eq!(store.get::<Rows>(&2).unwrap(), Some(row("two", 2)));
    assert_eq!(store.get::<Rows>(&3).unwrap(), None);
    assert_eq!(store.get::<Names>(&"alice".to_string()).unwrap(), Some(7));
    assert_eq!(
        read_schema_version(&store.inner.db).unwrap(),
        SCHEMA_VERSION
    );
    assert_eq!(SCHEMA_VERSION, 1);
}

#[test]
fn overwrite_and_delete() {
    let (dir, store) = new_store();
    put::<Rows>(&store, 1, row("one", 1));
    put::<Rows>(&store, 1, row("uno", 1));
    put::<Rows>(&store, 2, row("two", 2));
    assert_eq!(store.get::<Rows>(&1).unwrap(), Some(row("uno", 1)));

    let mut batch = Batch::new();
    batch.delete::<Rows>(&1);
    // A put and a delete of one row in one batch: the later write wins.
    batch.put::<Rows>(&3, &row("three", 3)).unwrap();
    batch.delete::<Rows>(&3);
    batch.delete::<Rows>(&99);
    store.commit(batch).unwrap();
    drop(store);

    let store = Store::open(dir.path(), PASSPHRASE).unwrap();
    assert_eq!(store.get::<Rows>(&1).unwrap(), None);
    assert_eq!(store.get::<Rows>(&2).unwrap(), Some(row("two", 2)));
    assert_eq!(store.get::<Rows>(&3).unwrap(), None);
    // An empty batch is allowed and writes nothing.
    store.commit(Batch::new()).unwrap();
}

#[test]
fn create_refuses_an_existing_database() {
    let (dir, store) = new_store();
    put::<Rows>(&store, 1, row("one", 1));
    drop(store);
    assert_eq!(
        Store::create(dir.path(), b"other", cheap()).unwrap_err(),
        StoreError::AlreadyInitialized
    );
    // And left it as it was.
    let store = Store::open(dir.path(), PASSPHRASE).unwrap();
    assert_eq!(store.get::<Rows>(&1).unwrap(), Some(row("one", 1)));
}

#[test]
fn open_without_a_database_is_not_initialized_and_creates_nothing() {
    let dir = TempDir::new().unwrap();
    assert_eq!(
        Store::open(dir.path(), PASSPHRASE).unwrap_err(),
        StoreError::NotInitialized
    );
    assert_eq!(
        Store::open(&dir.path().join("missing"), PASSPHRASE).unwrap_err(),
        StoreError::NotInitialized
    );
    assert!(all_files(dir.path()).is_empty());
    assert!(!dir.path().join("db").exists());
}

#[test]
fn a_database_left_half_made_is_taken_over_by_create() {
    let dir = TempDir::new().unwrap();
    // What a crash between RocksDB creating the files and the key file being written leaves.
    drop(open_db(&dir.path().join("db"), true).unwrap());
    assert_eq!(
        Store::open(dir.path(), PASSPHRASE).unwrap_err(),
        StoreError::NotInitialized
    );
    let store = Store::create(dir.path(), PASSPHRASE, cheap()).unwrap();
    put::<Rows>(&store, 1, row("one", 1));
    drop(store);
    let store = Store::open(dir.path(), PASSPHRASE).unwrap();
    assert_eq!(store.get::<Rows>(&1).unwrap(), Some(row("one", 1)));
}

#[cfg(unix)]
#[test]
fn the_data_directory_is_private() {
    use std::os::unix::fs::PermissionsExt;
    let parent = TempDir::new().unwrap();
    let dir = parent.path().join("data");
    drop(Store::create(&dir, PASSPHRASE, cheap()).unwrap());
    let mode = std::fs::metadata(&dir).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o700, "{mode:o}");
}

#[test]
fn wrong_passphrase_is_refused() {
    let (dir, store) = new_store();
    drop(store);
    for wrong in [
        &b"correct horse battery stapler"[..],
        b"",
        b"Correct horse battery staple",
    ] {
        assert_eq!(
            Store::open(dir.path(), wrong).unwrap_err(),
            StoreError::WrongPassphrase
        );
    }
    // A refused open leaves the database usable.
    Store::open(dir.path(), PASSPHRASE).unwrap();
}

#[test]
fn change_passphrase_keeps_the_data_and_erases_the_old_key_file() {
    let (dir, store) = new_store();
    put::<Rows>(&store, 1, row("one", 1));
    let old_key_file = read_meta(&store.inner.db, META_KEY_FILE).unwrap().unwrap();
    assert_eq!(
        store
            .change_passphrase(b"guess", b"new passphrase", cheap())
            .unwrap_err(),
        StoreError::WrongPassphrase
    );
    let params = KdfParams::new(128, 2, 1).unwrap();
    store
        .change_passphrase(PASSPHRASE, b"new passphrase", params)
        .unwrap();
    // The handle keeps working: the master key did not change.
    put::<Rows>(&store, 2, row("two", 2));
    drop(store);

    assert_eq!(
        Store::open(dir.path(), PASSPHRASE).unwrap_err(),
        StoreError::WrongPassphrase
    );
    let store = Store::open(dir.path(), b"new passphrase").unwrap();
    assert_eq!(store.get::<Rows>(&1).unwrap(), Some(row("one", 1)));
    assert_eq!(store.get::<Rows>(&2).unwrap(), Some(row("two", 2)));
    let key_file = read_meta(&store.inner.db, META_KEY_FILE).unwrap().unwrap();
    assert_eq!(KeyFile::from_bytes(&key_file).unwrap().params(), params);
    drop(store);
    // Whoever learns the old passphrase finds no key file it unwraps.
    assert_nowhere_on_disk(dir.path(), &[("old key file", &old_key_file[54..])]);
}

#[test]
fn an_uncommitted_batch_writes_nothing() {
    let (dir, store) = new_store();
    let mut batch = Batch::new();
    batch.put::<Rows>(&1, &row("one", 1)).unwrap();
    assert!(!batch.is_empty());
    assert_eq!(format!("{batch:?}"), "Batch { len: 1, .. }");
    drop(batch);
    assert_eq!(store.get::<Rows>(&1).unwrap(), None);
    drop(store);
    let store = Store::open(dir.path(), PASSPHRASE).unwrap();
    assert_eq!(store.get::<Rows>(&1).unwrap(), None);
}

#[test]
fn a_batch_reads_back_what_it_staged_last() {
    let mut batch = Batch::new();
    assert_eq!(batch.staged::<Rows>(&1).unwrap(), None, "untouched");
    batch.put::<Rows>(&1, &row("one", 1)).unwrap();
    batch.put::<Rows>(&1, &row("uno", 1)).unwrap();
    batch.put::<OtherRows>(&2, &row("elsewhere", 2)).unwrap();
    assert_eq!(batch.staged::<Rows>(&1).unwrap(), Some(Some(row("uno", 1))));
    assert_eq!(
        batch.staged::<Rows>(&2).unwrap(),
        None,
        "another table's row"
    );
    batch.delete::<Rows>(&1);
    assert_eq!(batch.staged::<Rows>(&1).unwrap(), Some(None));
    batch.put::<Rows>(&1, &row("again", 1)).unwrap();
    batch.delete_range::<Rows>(&0, &5);
    assert_eq!(batch.staged::<Rows>(&1).unwrap(), Some(None));
    assert_eq!(
        batch.staged::<Rows>(&5).unwrap(),
        Some(None),
        "the range ends inclusive"
    );
    assert_eq!(batch.staged::<Rows>(&6).unwrap(), None);
}

#[test]
fn a_failed_commit_writes_nothing_and_poisons_the_store() {
    let (dir, store) = new_store();
    put::<Rows>(&store, 1, row("one", 1));
    assert!(!store.is_poisoned());

    store.inner.fail_next_commit.store(true, Ordering::SeqCst);
    let mut batch = Batch::new();
    batch.put::<Rows>(&2, &row("two", 2)).unwrap();
    batch.put::<Names>(&"bob".to_string(), &2).unwrap();
    batch.delete::<Rows>(&1);
    assert_eq!(
        store.commit(batch).unwrap_err(),
        StoreError::Io("injected write failure".to_string())
    );
    assert!(store.is_poisoned());
    assert!(store.clone().is_poisoned());

    // Every later write is refused without reaching the disk, even one that would succeed.
    let mut batch = Batch::new();
    batch.put::<Rows>(&3, &row("three", 3)).unwrap();
    assert_eq!(store.commit(batch).unwrap_err(), StoreError::Poisoned);
    assert_eq!(
        store.commit(Batch::new()).unwrap_err(),
        StoreError::Poisoned
    );
    assert_eq!(
        store
            .change_passphrase(PASSPHRASE, b"new", cheap())
            .unwrap_err(),
        StoreError::Poisoned
    );
    // Reads still work, and show none of the failed batch.
    assert_eq!(store.get::<Rows>(&1).unwrap(), Some(row("one", 1)));
    assert_eq!(store.get::<Rows>(&2).unwrap(), None);
    assert_eq!(store.get::<Rows>(&3).unwrap(), None);
    drop(store);

    // A restart clears the poison; nothing of the refused batches is on disk.
    let store = Store::open(dir.path(), PASSPHRASE).unwrap();
    assert!(!store.is_poisoned());
    assert_eq!(store.get::<Rows>(&1).unwrap(), Some(row("one", 1)));
    assert_eq!(store.get::<Rows>(&2).unwrap(), None);
    assert_eq!(store.get::<Names>(&"bob".to_string()).unwrap(), None);
    assert_eq!(store.get::<Rows>(&3).unwrap(), None);
}

/// A value type whose encoding fails, to show a batch refusing a write without changing.
struct Unencodable;
impl Serialize for Unencodable {
    fn serialize<S: serde::Serializer>(&self, _: S) -> Result<S::Ok, S::Error> {
        Err(serde::ser::Error::custom("refuses to be encoded"))
    }
}
impl<'de> Deserialize<'de> for Unencodable {
    fn deserialize<D: serde::Deserializer<'de>>(_: D) -> Result<Self, D::Error> {
        Err(serde::de::Error::custom("never stored"))
    }
}
struct Bad;
impl Table for Bad {
    const NAME: &'static str = "test/names";
    type Key = String;
    type Value = Unencodable;
}

#[test]
fn a_value_that_does_not_encode_is_refused_by_the_batch() {
    let (_dir, store) = new_store();
    let mut batch = Batch::new();
    batch.put::<Rows>(&1, &row("one", 1)).unwrap();
    let err = batch
        .put::<Bad>(&"x".to_string(), &Unencodable)
        .unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::Encode {
                table: "test/names",
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(batch.len(), 1);
    store.commit(batch).unwrap();
    assert!(!store.is_poisoned());
}

#[test]
fn values_on_disk_reveal_neither_contents_nor_contacts() {
    let (dir, store) = new_store();
    let marker = "MARKER-7f3a9c-the-plaintext-of-a-message";
    let user_id = b"tern1qalicealicealicealicealicealice";
    let conversation = store.index_id("conversation", user_id);
    let mut batch = Batch::new();
    batch
        .put::<History>(
            &(conversation, 1_700_000_000_000, [9; 16]),
            &marker.to_string(),
        )
        .unwrap();
    batch
        .put::<Rows>(
            &1,
            &Row {
                text: marker.to_string(),
                n: 0x1122_3344_5566_7788,
                bytes: user_id.to_vec(),
                flag: None,
            },
        )
        .unwrap();
    store.commit(batch).unwrap();
    let integer = postcard::to_stdvec(&0x1122_3344_5566_7788u64).unwrap();
    let needles: [(&str, &[u8]); 4] = [
        ("marker", marker.as_bytes()),
        ("user id", user_id),
        ("passphrase", PASSPHRASE),
        ("encoded integer", &integer),
    ];
    // In the write-ahead log...
    assert_nowhere_on_disk(dir.path(), &needles);
    // ...and in the SST files after a flush.
    store.flush().unwrap();
    drop(store);
    let files = all_files(dir.path());
    assert!(
        files
            .iter()
            .any(|(path, _)| path.extension().is_some_and(|e| e == "sst"))
    );
    assert_nowhere_on_disk(dir.path(), &needles);
    // The row key is on disk, which is why it is a keyed hash of the user id.
    assert!(
        files
            .iter()
            .any(|(_, bytes)| contains(bytes, &conversation))
    );

    let store = Store::open(dir.path(), PASSPHRASE).unwrap();
    assert_eq!(
        store
            .get::<History>(&(conversation, 1_700_000_000_000, [9; 16]))
            .unwrap(),
        Some(marker.to_string())
    );
}

#[test]
fn a_sealed_value_moved_to_another_row_or_table_is_corrupt() {
    let (_dir, store) = new_store();
    put::<Rows>(&store, 1, row("one", 1));
    let sealed = raw_get(&store, Rows::NAME, &1u64.encode()).unwrap();
    // Sealing hides the value and binds it: same table, another row.
    raw_put(&store, Rows::NAME, &2u64.encode(), &sealed);
    let err = store.get::<Rows>(&2).unwrap_err();
    assert!(
        matches!(&err, StoreError::Corrupt { table: "test/rows", reason } if reason.contains("authentication")),
        "{err:?}"
    );
    // Another table with the same key.
    raw_put(&store, OtherRows::NAME, &1u64.encode(), &sealed);
    assert!(matches!(
        store.get::<OtherRows>(&1).unwrap_err(),
        StoreError::Corrupt {
            table: "test/history",
            ..
        }
    ));
    // A scan over the bad row reports it too, rather than skip it.
    assert!(matches!(
        store.scan::<Rows>(.., Direction::Forward, 10).unwrap_err(),
        StoreError::Corrupt {
            table: "test/rows",
            ..
        }
    ));
    // The original still opens.
    assert_eq!(store.get::<Rows>(&1).unwrap(), Some(row("one", 1)));
}

#[test]
fn damaged_values_and_keys_are_corrupt_not_panics() {
    let (_dir, store) = new_store();
    let key = store.table_key(Rows::NAME).unwrap();
    let mut rng = UnwrapErr(getrandom::SysRng);
    let cases: [(&[u8], &str); 4] = [
        (b"", "malformed"),
        (b"\x02garbage", "malformed"),
        (&[0u8; 60], "malformed"),
        (&[1u8; 41], "authentication"),
    ];
    for (i, (bytes, reason_part)) in cases.into_iter().enumerate() {
        let k = u64::try_from(i).unwrap();
        raw_put(&store, Rows::NAME, &k.encode(), bytes);
        let err = store.get::<Rows>(&k).unwrap_err();
        assert!(
            matches!(&err, StoreError::Corrupt { table: "test/rows", reason } if reason.contains(reason_part)),
            "{err:?}"
        );
    }
    // Authentic, but not a `Row`: an invalid string, then a valid row with bytes after it.
    let sealed = key
        .seal(
            &mut rng,
            Rows::NAME,
            &10u64.encode(),
            &[3, 0xff, 0xfe, 0xfd],
        )
        .unwrap();
    raw_put(&store, Rows::NAME, &10u64.encode(), &sealed);
    let err = store.get::<Rows>(&10).unwrap_err();
    assert!(
        matches!(&err, StoreError::Corrupt { reason, .. } if reason.contains("does not decode")),
        "{err:?}"
    );
    let mut encoded = postcard::to_stdvec(&row("x", 1)).unwrap();
    encoded.push(0);
    let sealed = key
        .seal(&mut rng, Rows::NAME, &11u64.encode(), &encoded)
        .unwrap();
    raw_put(&store, Rows::NAME, &11u64.encode(), &sealed);
    let err = store.get::<Rows>(&11).unwrap_err();
    assert!(
        matches!(&err, StoreError::Corrupt { reason, .. } if reason.contains("1 bytes after")),
        "{err:?}"
    );
    // A row key that is no u64: authentic value, wrong key width.
    let (_dir, store) = new_store();
    let key = store.table_key(Rows::NAME).unwrap();
    let encoded = postcard::to_stdvec(&row("x", 1)).unwrap();
    let sealed = key.seal(&mut rng, Rows::NAME, b"abc", &encoded).unwrap();
    raw_put(&store, Rows::NAME, b"abc", &sealed);
    let err = store.scan::<Rows>(.., Direction::Reverse, 5).unwrap_err();
    assert!(
        matches!(&err, StoreError::Corrupt { table: "test/rows", reason } if reason.contains("3 bytes")),
        "{err:?}"
    );
}

#[test]
fn damaged_meta_is_corrupt() {
    let cases: [(&[u8], Option<&[u8]>); 5] = [
        (META_SCHEMA_VERSION, Some(&[0, 0, 0, 0])),
        (META_SCHEMA_VERSION, Some(&[0, 0, 1])),
        (META_SCHEMA_VERSION, None),
        (META_KEY_FILE, Some(b"not a key file")),
        (META_KEY_FILE, Some(&[0; 102])),
    ];
    for (key, value) in cases {
        let (dir, store) = new_store();
        let meta = store.cf(META).unwrap();
        match value {
            Some(value) => store.inner.db.put_cf(meta, key, value).unwrap(),
            None => store.inner.db.delete_cf(meta, key).unwrap(),
        }
        drop(store);
        let err = Store::open(dir.path(), PASSPHRASE).unwrap_err();
        assert!(
            matches!(err, StoreError::Corrupt { table: "meta", .. }),
            "{err:?}"
        );
    }
}

/// Rows of `History` in two conversations and a third one that must never show up.
fn history_fixture(store: &Store) -> Vec<(<History as Table>::Key, String)> {
    let mut rows = Vec::new();
    let mut batch = Batch::new();
    for (conversation, times) in [([1u8; 16], 0..10u64), ([2; 16], 5..8), ([0; 16], 0..3)] {
        for t in times {
            for id in [[0xaa; 16], [0xbb; 16]] {
                let key = (conversation, t, id);
                let value = format!("{}:{t}:{:x}", conversation[0], id[0]);
                batch.put::<History>(&key, &value).unwrap();
                if conversation == [1; 16] {
                    rows.push((key, value));
                }
            }
        }
    }
    store.commit(batch).unwrap();
    rows
}

#[test]
fn scans_follow_key_order_both_ways() {
    let (_dir, store) = new_store();
    let conversation = history_fixture(&store);
    let c = [1u8; 16];
    let all = (c, 0, [0; 16])..=(c, u64::MAX, [0xff; 16]);

    let forward = store
        .scan::<History>(all.clone(), Direction::Forward, 100)
        .unwrap();
    assert_eq!(forward, conversation);
    let reverse = store
        .scan::<History>(all.clone(), Direction::Reverse, 100)
        .unwrap();
    assert_eq!(
        reverse,
        conversation.iter().rev().cloned().collect::<Vec<_>>()
    );

    // Limits cut from the start of the walk.
    let newest = store
        .scan::<History>(all.clone(), Direction::Reverse, 3)
        .unwrap();
    assert_eq!(newest[0].1, "1:9:bb");
    assert_eq!(newest[2].1, "1:8:bb");
    assert!(
        store
            .scan::<History>(all, Direction::Forward, 0)
            .unwrap()
            .is_empty()
    );

    // Inclusive and exclusive bounds, in both directions.
    let at = |t: u64, id: u8| (c, t, [id; 16]);
    let values = |rows: Vec<(<History as Table>::Key, String)>| {
        rows.into_iter().map(|(_, v)| v).collect::<Vec<_>>()
    };
    assert_eq!(
        values(
            store
                .scan::<History>(at(3, 0xbb)..at(5, 0xaa), Direction::Forward, 10)
                .unwrap()
        ),
        ["1:3:bb", "1:4:aa", "1:4:bb"]
    );
    assert_eq!(
        values(
            store
                .scan::<History>(at(3, 0xbb)..=at(5, 0xaa), Direction::Reverse, 10)
                .unwrap()
        ),
        ["1:5:aa", "1:4:bb", "1:4:aa", "1:3:bb"]
    );
    assert_eq!(
        values(
            store
                .scan::<History>(
                    (Bound::Excluded(at(3, 0xbb)), Bound::Excluded(at(5, 0xaa))),
                    Direction::Reverse,
                    10
                )
                .unwrap()
        ),
        ["1:4:bb", "1:4:aa"]
    );
    assert_eq!(
        values(
            store
                .scan::<History>(
                    (Bound::Excluded(at(3, 0xbb)), Bound::Included(at(5, 0xaa))),
                    Direction::Forward,
                    10
                )
                .unwrap()
        ),
        ["1:4:aa", "1:4:bb", "1:5:aa"]
    );
    // Bounds that are not keys of any row.
    assert_eq!(
        values(
            store
                .scan::<History>(at(3, 0xcc)..at(4, 0xbb), Direction::Reverse, 10)
                .unwrap()
        ),
        ["1:4:aa"]
    );
    // Empty and inverted ranges.
    assert!(
        store
            .scan::<History>(at(5, 0xaa)..at(5, 0xaa), Direction::Reverse, 10)
            .unwrap()
            .is_empty()
    );
    assert!(
        store
            .scan::<History>(at(6, 0xaa)..at(5, 0xaa), Direction::Forward, 10)
            .unwrap()
            .is_empty()
    );
    // Unbounded ends reach the neighbouring conversations.
    let first = store.scan::<History>(.., Direction::Forward, 1).unwrap();
    assert_eq!(first[0].1, "0:0:aa");
    let last = store.scan::<History>(.., Direction::Reverse, 1).unwrap();
    assert_eq!(last[0].1, "2:7:bb");
    let after = store
        .scan::<History>(
            (Bound::Excluded(at(9, 0xbb)), Bound::Unbounded),
            Direction::Forward,
            1,
        )
        .unwrap();
    assert_eq!(after[0].1, "2:5:aa");
    let before = store
        .scan::<History>(..at(0, 0xaa), Direction::Reverse, 1)
        .unwrap();
    assert_eq!(before[0].1, "0:2:bb");
}

#[test]
fn reverse_pagination_from_a_cursor_visits_every_row_once() {
    let (_dir, store) = new_store();
    let conversation = history_fixture(&store);
    let c = [1u8; 16];
    let start = (c, 0, [0; 16]);
    // The first page ends at the conversation's newest possible key; each next page ends
    // just before the oldest row of the previous one.
    let mut end = Bound::Included((c, u64::MAX, [0xff; 16]));
    let mut seen = Vec::new();
    loop {
        let page = store
            .scan::<History>((Bound::Included(start), end), Direction::Reverse, 3)
            .unwrap();
        let Some((oldest, _)) = page.last() else {
            break;
        };
        end = Bound::Excluded(*oldest);
        assert!(page.len() <= 3);
        seen.extend(page);
    }
    seen.reverse();
    assert_eq!(seen, conversation);
}

#[test]
fn string_keys_scan_in_string_order() {
    let (_dir, store) = new_store();
    let mut batch = Batch::new();
    for (i, name) in ["bob", "alice", "", "al", "älice", "carol"]
        .into_iter()
        .enumerate()
    {
        batch
            .put::<Names>(&name.to_string(), &u32::try_from(i).unwrap())
            .unwrap();
    }
    store.commit(batch).unwrap();
    let names = |rows: Vec<(String, u32)>| rows.into_iter().map(|(k, _)| k).collect::<Vec<_>>();
    assert_eq!(
        names(store.scan::<Names>(.., Direction::Forward, 10).unwrap()),
        ["", "al", "alice", "bob", "carol", "älice"]
    );
    // "al" as an exclusive lower bound excludes only "al" itself, not its extensions.
    assert_eq!(
        names(
            store
                .scan::<Names>(
                    (
                        Bound::Excluded("al".to_string()),
                        Bound::Excluded("bob".to_string())
                    ),
                    Direction::Reverse,
                    10
                )
                .unwrap()
        ),
        ["alice"]
    );
    assert_eq!(
        names(
            store
                .scan::<Names>(..="al".to_string(), Direction::Reverse, 10)
                .unwrap()
        ),
        ["al", ""]
    );
}

type HistoryKey = <History as Table>::Key;

fn small_history_key() -> impl Strategy<Value = HistoryKey> {
    // A small domain, so that bounds often hit existing keys and neighbours share prefixes.
    (0u8..3, 0u64..12, 0u8..3).prop_map(|(c, t, id)| ([c; 16], t, [id; 16]))
}

fn bound() -> impl Strategy<Value = Bound<HistoryKey>> {
    prop_oneof![
        Just(Bound::Unbounded),
        small_history_key().prop_map(Bound::Included),
        small_history_key().prop_map(Bound::Excluded),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]

    /// Scans agree with a `BTreeMap` holding the same rows.
    #[test]
    fn scans_match_a_btreemap(
        keys in proptest::collection::btree_set(small_history_key(), 0..40),
        queries in proptest::collection::vec((bound(), bound(), any::<bool>(), 0usize..12), 1..12),
    ) {
        let (_dir, store) = new_store();
        let mut model = BTreeMap::new();
        let mut batch = Batch::new();
        for (i, key) in keys.into_iter().enumerate() {
            let value = format!("value {i}");
            batch.put::<History>(&key, &value).unwrap();
            model.insert(key, value);
        }
        store.commit(batch).unwrap();
        for (start, end, reverse, limit) in queries {
            let direction = if reverse { Direction::Reverse } else { Direction::Forward };
            let got = store.scan::<History>((start, end), direction, limit).unwrap();
            let matching = model.iter().filter(|(k, _)| (start, end).contains(*k));
            let expected: Vec<(HistoryKey, String)> = if reverse {
                matching.rev().take(limit).map(|(k, v)| (*k, v.clone())).collect()
            } else {
                matching.take(limit).map(|(k, v)| (*k, v.clone())).collect()
            };
            prop_assert_eq!(got, expected, "{:?} {:?} {:?} {}", start, end, direction, limit);
        }
    }
}

/// Counts runs of `add_a_row`, so that the test can see a step run exactly once.
static MIGRATION_RUNS: AtomicUsize = AtomicUsize::new(0);

fn add_a_row(store: &Store, batch: &mut Batch) -> Result<(), StoreError> {
    MIGRATION_RUNS.fetch_add(1, Ordering::SeqCst);
    // A step reads what the older version wrote and writes the new form.
    let old = store.get::<Rows>(&1)?.unwrap_or_else(|| row("missing", 0));
    batch.put::<Rows>(
        &1000,
        &Row {
            text: format!("migrated {}", old.text),
            ..old
        },
    )
}

fn failing_step(_: &Store, batch: &mut Batch) -> Result<(), StoreError> {
    batch.put::<Rows>(&2000, &row("half done", 0))?;
    Err(StoreError::Io("step failed".to_string()))
}

fn must_not_run(_: &Store, _: &mut Batch) -> Result<(), StoreError> {
    Err(StoreError::Io("this step must not run".to_string()))
}

const V2: &[Migration] = &[add_a_row];
const V2_MUST_NOT_RUN: &[Migration] = &[must_not_run];
const V2_FAILING: &[Migration] = &[failing_step];

#[test]
fn a_migration_runs_once_and_bumps_the_version() {
    let (dir, store) = new_store();
    put::<Rows>(&store, 1, row("one", 1));
    drop(store);

    let store = Store::open_with(dir.path(), PASSPHRASE, V2).unwrap();
    assert_eq!(MIGRATION_RUNS.load(Ordering::SeqCst), 1);
    assert_eq!(read_schema_version(&store.inner.db).unwrap(), 2);
    assert_eq!(
        store.get::<Rows>(&1000).unwrap().unwrap().text,
        "migrated one"
    );
    drop(store);

    let store = Store::open_with(dir.path(), PASSPHRASE, V2).unwrap();
    assert_eq!(MIGRATION_RUNS.load(Ordering::SeqCst), 1);
    assert_eq!(read_schema_version(&store.inner.db).unwrap(), 2);
    drop(store);

    // This build supports version 1 only.
    assert_eq!(
        Store::open(dir.path(), PASSPHRASE).unwrap_err(),
        StoreError::NewerSchema {
            found: 2,
            supported: 1
        }
    );
}

#[test]
fn a_failed_migration_changes_nothing() {
    let (dir, store) = new_store();
    drop(store);
    assert_eq!(
        Store::open_with(dir.path(), PASSPHRASE, V2_FAILING).unwrap_err(),
        StoreError::Io("step failed".to_string())
    );
    let store = Store::open(dir.path(), PASSPHRASE).unwrap();
    assert_eq!(read_schema_version(&store.inner.db).unwrap(), 1);
    assert_eq!(store.get::<Rows>(&2000).unwrap(), None);
}

#[test]
fn a_newer_schema_is_refused_before_the_passphrase_is_tried() {
    let dir = TempDir::new().unwrap();
    drop(Store::create_with(dir.path(), PASSPHRASE, cheap(), V2_MUST_NOT_RUN).unwrap());
    assert_eq!(
        Store::open(dir.path(), b"wrong").unwrap_err(),
        StoreError::NewerSchema {
            found: 2,
            supported: 1
        }
    );
    // A build that knows version 2 opens it without migrating.
    drop(Store::open_with(dir.path(), PASSPHRASE, V2_MUST_NOT_RUN).unwrap());
}

#[test]
fn tables_added_by_a_newer_build_do_not_stop_an_older_one() {
    let (dir, store) = new_store();
    put::<Rows>(&store, 1, row("one", 1));
    drop(store);
    // A newer build adds a table (no migration needed).
    {
        let mut options = rocksdb::Options::default();
        options.create_missing_column_families(true);
        let mut names = DB::list_cf(&options, dir.path().join("db")).unwrap();
        names.push("future/table".to_string());
        drop(DB::open_cf(&options, dir.path().join("db"), names).unwrap());
    }
    let store = Store::open(dir.path(), PASSPHRASE).unwrap();
    assert_eq!(store.get::<Rows>(&1).unwrap(), Some(row("one", 1)));
}

#[test]
fn a_second_open_in_the_same_process_is_locked() {
    let (dir, store) = new_store();
    assert_eq!(
        Store::open(dir.path(), PASSPHRASE).unwrap_err(),
        StoreError::Locked
    );
    assert_eq!(
        Store::create(dir.path(), PASSPHRASE, cheap()).unwrap_err(),
        StoreError::Locked
    );
    drop(store);
    Store::open(dir.path(), PASSPHRASE).unwrap();
}

/// Set for the child process of `a_database_held_by_another_process_is_locked`.
const HOLD_LOCK_DIR: &str = "TERN_STORE_TEST_HOLD_LOCK_DIR";
const HOLDING: &str = "holding the database lock";

#[test]
fn a_database_held_by_another_process_is_locked() {
    let (dir, store) = new_store();
    drop(store);
    // This test binary again, running only `hold_lock`, which opens the store and keeps it
    // open until its stdin closes.
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "store::tests::hold_lock",
            "--ignored",
            "--nocapture",
        ])
        .env(HOLD_LOCK_DIR, dir.path())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    // Ends at the child's exit if it never got the lock, failing below instead of hanging.
    let held = lines
        .by_ref()
        .map_while(Result::ok)
        .any(|line| line == HOLDING);
    let result = Store::open(dir.path(), PASSPHRASE);
    drop(child.stdin.take());
    let status = child.wait().unwrap();
    assert!(held, "the child did not open the store ({status})");
    assert_eq!(result.unwrap_err(), StoreError::Locked);
    // The lock goes with the process.
    Store::open(dir.path(), PASSPHRASE).unwrap();
}

#[test]
#[ignore = "helper run by a_database_held_by_another_process_is_locked"]
fn hold_lock() {
    let Some(dir) = std::env::var_os(HOLD_LOCK_DIR) else {
        return;
    };
    let _store = Store::open(Path::new(&dir), PASSPHRASE).unwrap();
    let mut stdout = std::io::stdout();
    writeln!(stdout, "\n{HOLDING}").unwrap();
    stdout.flush().unwrap();
    let _ = std::io::stdin().read_to_end(&mut Vec::new());
}

#[tokio::test]
async fn blocking_runs_off_the_executor() {
    let (_dir, store) = new_store();
    store
        .blocking(|store| {
            let mut batch = Batch::new();
            batch.put::<Rows>(&1, &row("one", 1))?;
            store.commit(batch)
        })
        .await
        .unwrap();
    let got = store.blocking(|store| store.get::<Rows>(&1)).await.unwrap();
    assert_eq!(got, Some(row("one", 1)));
    let err = store
        .blocking(|store| {
            store
                .get::<Rows>(&1)
                .and(Err::<(), _>(StoreError::Poisoned))
        })
        .await
        .unwrap_err();
    assert_eq!(err, StoreError::Poisoned);
}

#[test]
fn index_ids_are_stable_keyed_and_separated() {
    let (dir, store) = new_store();
    let alice = store.index_id("contact", b"alice");
    assert_eq!(alice, store.index_id("contact", b"alice"));
    assert_ne!(alice, store.index_id("contact", b"alicf"));
    assert_ne!(alice, store.index_id("conversation", b"alice"));
    // The purpose is length-prefixed: moving bytes across the boundary changes the id.
    assert_ne!(store.index_id("ab", b"c"), store.index_id("a", b"bc"));
    drop(store);
    // Stable across restarts (the key comes from the master key)...
    let store = Store::open(dir.path(), PASSPHRASE).unwrap();
    assert_eq!(store.index_id("contact", b"alice"), alice);
    // ...and another user's database gives unrelated ids.
    let (_other_dir, other) = new_store();
    assert_ne!(other.index_id("contact", b"alice"), alice);
}

#[test]
fn debug_shows_no_secret() {
    let (dir, store) = new_store();
    let shown = format!("{store:?}");
    assert!(shown.starts_with("Store { path: "), "{shown}");
    assert!(shown.contains(&dir.path().display().to_string()), "{shown}");
    assert!(shown.ends_with("poisoned: false, .. }"), "{shown}");
}

// The v1 fixture: a database written by the first version of the format, committed under
// `node/tests/fixtures/store-v1/`. It must open, with these rows, in every later build.

const FIXTURE_PASSPHRASE: &[u8] = b"tern store fixture v1";

fn fixture_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/store-v1")
}

/// The rows the fixture holds, given the store (for the keyed conversation id).
#[allow(clippy::type_complexity)]
fn fixture_rows(
    store: &Store,
) -> (
    Vec<(u64, Row)>,
    Vec<(HistoryKey, String)>,
    Vec<(String, u32)>,
) {
    let rows = vec![
        (1, row("hello", 42)),
        (
            2,
            Row {
                text: "é ünïcödé 🐦".to_string(),
                n: u64::MAX,
                bytes: Vec::new(),
                flag: None,
            },
        ),
        (u64::MAX, row("last", 7)),
    ];
    let conversation = store.index_id("conversation", b"alice");
    let history = vec![
        (
            (conversation, 1_700_000_000_000, [0x11; 16]),
            "first message".to_string(),
        ),
        (
            (conversation, 1_700_000_000_001, [0x22; 16]),
            "second message".to_string(),
        ),
    ];
    let names = vec![("alice".to_string(), 1), ("bob".to_string(), 2)];
    (rows, history, names)
}

/// The `index_id("conversation", "alice")` of the fixture's master key: pins the keyed hash,
/// its subkey and its framing, since rows already on disk are found by it.
const FIXTURE_CONVERSATION: &str = "40873f5f7e672a903a2755c612c7af7c";

#[test]
fn the_v1_fixture_opens_and_reads_back() {
    let tmp = TempDir::new().unwrap();
    // A copy: opening writes to the database (a new manifest and log, at least).
    let source = fixture_dir();
    for (path, bytes) in all_files(&source) {
        let relative = path.strip_prefix(&source).unwrap();
        if relative.starts_with("db") {
            let target = tmp.path().join(relative);
            std::fs::create_dir_all(target.parent().unwrap()).unwrap();
            std::fs::write(target, bytes).unwrap();
        }
    }
    assert_eq!(
        Store::open(tmp.path(), PASSPHRASE).unwrap_err(),
        StoreError::WrongPassphrase
    );
    let store = Store::open(tmp.path(), FIXTURE_PASSPHRASE).unwrap();
    assert_eq!(read_schema_version(&store.inner.db).unwrap(), 1);
    let key_file = read_meta(&store.inner.db, META_KEY_FILE).unwrap().unwrap();
    assert_eq!(KeyFile::from_bytes(&key_file).unwrap().params(), cheap());

    let conversation = store.index_id("conversation", b"alice");
    assert_eq!(hex_string(&conversation), FIXTURE_CONVERSATION);
    let (rows, history, names) = fixture_rows(&store);
    assert_eq!(
        store.scan::<Rows>(.., Direction::Forward, 10).unwrap(),
        rows
    );
    assert_eq!(
        store.scan::<History>(.., Direction::Forward, 10).unwrap(),
        history
    );
    assert_eq!(
        store.scan::<Names>(.., Direction::Forward, 10).unwrap(),
        names
    );
    assert_eq!(store.get::<Rows>(&2).unwrap(), Some(rows[1].1.clone()));

    // It stays writable, as an upgraded node's database would.
    put::<Rows>(&store, 3, row("after", 3));
    drop(store);
    let store = Store::open(tmp.path(), FIXTURE_PASSPHRASE).unwrap();
    assert_eq!(store.get::<Rows>(&3).unwrap(), Some(row("after", 3)));
}

fn hex_string(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Writes the v1 fixture. Run once, when the format was made; see the fixture's README.md.
#[test]
#[ignore = "writes node/tests/fixtures/store-v1; never to be run again for v1"]
fn generate_the_v1_fixture() {
    let target = fixture_dir().join("db");
    assert!(
        !target.exists(),
        "{} exists: the v1 fixture must never be regenerated",
        target.display()
    );
    let tmp = TempDir::new().unwrap();
    let store = Store::create(tmp.path(), FIXTURE_PASSPHRASE, cheap()).unwrap();
    let (rows, history, names) = fixture_rows(&store);
    let mut batch = Batch::new();
    for (key, value) in &rows {
        batch.put::<Rows>(key, value).unwrap();
    }
    for (key, value) in &history {
        batch.put::<History>(key, value).unwrap();
    }
    for (key, value) in &names {
        batch.put::<Names>(key, value).unwrap();
    }
    store.commit(batch).unwrap();
    // Into SST files, so that the fixture pins the table format and not only the log.
    store.flush().unwrap();
    let conversation = hex_string(&store.index_id("conversation", b"alice"));
    drop(store);

    std::fs::create_dir_all(&target).unwrap();
    for (path, bytes) in all_files(&tmp.path().join("db")) {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        // RocksDB's diagnostic log and its lock file are not needed to open the database.
        if name.starts_with("LOG") || name == "LOCK" {
            continue;
        }
        std::fs::write(target.join(name), bytes).unwrap();
    }
    writeln!(std::io::stderr(), "FIXTURE_CONVERSATION = {conversation}").unwrap();
}

/// Prints the cost of a synced commit, one row per commit against one batch of all rows, for
/// 1 KiB rows and for tiny ones (whose cost is nearly all the fsync). A measurement, not a
/// test: numbers go to `docs/benchmarks.md`, never into assertions. In a debug build, sealing
/// and opening a 1 KiB value dominate (the cipher is compiled unoptimised into tern-crypto).
#[test]
#[ignore = "timing; run with --ignored --nocapture"]
fn time_single_commits_against_one_batch() {
    const ROWS: u64 = 1_000;
    let mut report = String::new();
    for size in [1024, 16] {
        let (_dir, store) = new_store();
        let value = |i: u64| Row {
            text: "x".repeat(size),
            n: i,
            bytes: Vec::new(),
            flag: None,
        };

        let start = Instant::now();
        for i in 0..ROWS {
            put::<Rows>(&store, i, value(i));
        }
        let single = start.elapsed();

        let start = Instant::now();
        let mut batch = Batch::new();
        for i in ROWS..2 * ROWS {
            batch.put::<Rows>(&i, &value(i)).unwrap();
        }
        store.commit(batch).unwrap();
        let batched = start.elapsed();

        let start = Instant::now();
        let rows = store
            .scan::<Rows>(.., Direction::Reverse, 2 * ROWS as usize)
            .unwrap();
        let scanned = start.elapsed();
        assert_eq!(rows.len(), 2_000);

        report.push_str(&format!(
            "{size}-byte rows: {ROWS} commits of one row: {single:?} ({:?} per commit); \
             one commit of {ROWS} rows: {batched:?}; reverse scan of {} rows: {scanned:?}\n",
            single / 1_000,
            rows.len(),
        ));
    }
    write!(std::io::stderr(), "{report}").unwrap();
}
