//! The rows renewing our keys in groups added (the `group_renewed` table, and
//! `IntentRow::Update` in a queued commit), against a fixture of their own:
//! `node/tests/fixtures/node-v1-group-renewal/`. Fixtures are never edited.

use std::path::PathBuf;

use tempfile::TempDir;

use super::tests::{all, copy_dir, generate};
use crate::{
    group::tables::{GroupOutbox, GroupOutboxRow, GroupRenewed, IntentRow, OutgoingRow},
    store::{Batch, Store},
};

const PASSPHRASE: &[u8] = b"tern node fixture v1 group renewal";

fn fixture_dir() -> PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/node-v1-group-renewal")
}

fn renewed() -> Vec<([u8; 16], u64)> {
    vec![([51; 16], 1_800_000_000_000), ([52; 16], 1_800_600_000_000)]
}

fn outbox() -> Vec<(([u8; 16], u64), GroupOutboxRow)> {
    vec![(
        ([51; 16], 9),
        GroupOutboxRow {
            body: vec![53; 40],
            epoch: 12,
            what: OutgoingRow::Commit {
                next_key: [54; 32],
                welcome: None,
                intent: IntentRow::Update,
            },
        },
    )]
}

fn write_all(store: &Store) {
    let mut batch = Batch::new();
    for (k, v) in &renewed() {
        batch.put::<GroupRenewed>(k, v).unwrap();
    }
    for (k, v) in &outbox() {
        batch.put::<GroupOutbox>(k, v).unwrap();
    }
    store.commit(batch).unwrap();
}

#[test]
fn the_group_renewal_rows_read_back_from_their_fixture() {
    let tmp = TempDir::new().unwrap();
    copy_dir(&fixture_dir().join("db"), &tmp.path().join("db"));
    let store = Store::open(tmp.path(), PASSPHRASE).unwrap();
    assert_eq!(all::<GroupRenewed>(&store), renewed());
    assert_eq!(all::<GroupOutbox>(&store), outbox());
}

#[test]
#[ignore = "writes the fixture; run once, never again"]
fn generate_the_node_v1_group_renewal_fixture() {
    generate(&fixture_dir(), PASSPHRASE, write_all);
}
