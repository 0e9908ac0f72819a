//! The rows per-chat download rules added after schema version 1 (the `download_rules` table
//! and `ChatChangeV1::AutoDownload`), against a fixture of their own:
//! `node/tests/fixtures/node-v1-downloads/`. The earlier fixtures are never edited, so each
//! addition brings its own.

use std::path::PathBuf;

use tempfile::TempDir;

use super::{
    tests::{all, copy_dir, generate, user},
    *,
};
use crate::{
    event::{ChatChange, Event},
    store::{Batch, Store},
};

const PASSPHRASE: &[u8] = b"tern node fixture v1 downloads";

fn fixture_dir() -> PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/node-v1-downloads")
}

fn rules(store: &Store) -> Vec<(Conv, u64)> {
    [0, 2_000_000, 100_000_000]
        .into_iter()
        .enumerate()
        .map(|(i, max)| {
            let conv = store.index_id("conversation", user(i as u8 + 1).as_bytes());
            (conv, max)
        })
        .collect()
}

fn events() -> Vec<(u64, EventRow)> {
    vec![(
        0,
        EventRow(Event::ChatChanged {
            peer: user(1),
            change: ChatChange::AutoDownload,
        }),
    )]
}

#[test]
fn the_download_rules_read_back_from_their_fixture() {
    let tmp = TempDir::new().unwrap();
    copy_dir(&fixture_dir().join("db"), &tmp.path().join("db"));
    let store = Store::open(tmp.path(), PASSPHRASE).unwrap();
    let mut expected = rules(&store);
    expected.sort_by_key(|(key, _)| *key);
    assert_eq!(all::<DownloadRules>(&store), expected);
    assert_eq!(all::<Events>(&store), events());
}

#[test]
#[ignore = "writes the fixture; run once, never again"]
fn generate_the_node_v1_downloads_fixture() {
    generate(&fixture_dir(), PASSPHRASE, |store| {
        let mut batch = Batch::new();
        for (key, max) in rules(store) {
            batch.put::<DownloadRules>(&key, &max).unwrap();
        }
        for (key, row) in events() {
            batch.put::<Events>(&key, &row).unwrap();
        }
        store.commit(batch).unwrap();
    });
}
