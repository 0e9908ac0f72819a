//! The unread counts of groups (the `group_unread` table), against a fixture of their own:
//! `node/tests/fixtures/node-v1-group-unread/`. Fixtures are never edited.

use std::path::PathBuf;

use tempfile::TempDir;

use super::tests::{all, copy_dir, generate};
use crate::{
    group::tables::GroupUnread,
    store::{Batch, Store},
};

const PASSPHRASE: &[u8] = b"tern node fixture v1 group unread";

fn fixture_dir() -> PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/node-v1-group-unread")
}

fn unread() -> Vec<([u8; 16], u32)> {
    vec![([61; 16], 1), ([62; 16], 70_000)]
}

fn write_all(store: &Store) {
    let mut batch = Batch::new();
    for (k, v) in &unread() {
        batch.put::<GroupUnread>(k, v).unwrap();
    }
    store.commit(batch).unwrap();
}

#[test]
fn the_group_unread_rows_read_back_from_their_fixture() {
    let tmp = TempDir::new().unwrap();
    copy_dir(&fixture_dir().join("db"), &tmp.path().join("db"));
    let store = Store::open(tmp.path(), PASSPHRASE).unwrap();
    assert_eq!(all::<GroupUnread>(&store), unread());
}

#[test]
#[ignore = "writes the fixture; run once, never again"]
fn generate_the_node_v1_group_unread_fixture() {
    generate(&fixture_dir(), PASSPHRASE, write_all);
}
