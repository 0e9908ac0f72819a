//! The receipts of group messages (`group_receipts_due` and `group_receipts`), against a
//! fixture of their own: `node/tests/fixtures/node-v1-group-receipts/`. Fixtures are never
//! edited.

use std::path::PathBuf;

use tempfile::TempDir;

use super::tests::{all, copy_dir, generate};
use crate::{
    group::tables::{GroupReceiptRow, GroupReceipts, GroupReceiptsDue},
    store::{Batch, Store},
};

const PASSPHRASE: &[u8] = b"tern node fixture v1 group receipts";

fn fixture_dir() -> PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/node-v1-group-receipts")
}

fn due() -> Vec<([u8; 16], Vec<[u8; 16]>)> {
    vec![
        ([71; 16], vec![[72; 16]]),
        ([73; 16], vec![[74; 16], [75; 16]]),
    ]
}

/// `(group key, message id)` → its receipts.
type Rows = Vec<(([u8; 16], [u8; 16]), GroupReceiptRow)>;

fn receipts() -> Rows {
    vec![
        (([71; 16], [76; 16]), GroupReceiptRow::default()),
        (
            ([71; 16], [77; 16]),
            GroupReceiptRow {
                members: 999,
                delivered: vec![[1; 8], [2; 8], [3; 8]],
                read: vec![[2; 8]],
            },
        ),
    ]
}

fn write_all(store: &Store) {
    let mut batch = Batch::new();
    for (k, v) in &due() {
        batch.put::<GroupReceiptsDue>(k, v).unwrap();
    }
    for (k, v) in &receipts() {
        batch.put::<GroupReceipts>(k, v).unwrap();
    }
    store.commit(batch).unwrap();
}

#[test]
fn the_group_receipt_rows_read_back_from_their_fixture() {
    let tmp = TempDir::new().unwrap();
    copy_dir(&fixture_dir().join("db"), &tmp.path().join("db"));
    let store = Store::open(tmp.path(), PASSPHRASE).unwrap();
    assert_eq!(all::<GroupReceiptsDue>(&store), due());
    assert_eq!(all::<GroupReceipts>(&store), receipts());
}

#[test]
#[ignore = "writes the fixture; run once, never again"]
fn generate_the_node_v1_group_receipts_fixture() {
    generate(&fixture_dir(), PASSPHRASE, write_all);
}
