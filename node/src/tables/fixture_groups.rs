//! The rows groups added after schema version 1 (the `mls` table, openmls's state), against
//! a fixture of their own: `node/tests/fixtures/node-v1-groups/`. The earlier fixtures are
//! never edited, so each addition brings its own. What is inside an `mls` value is
//! `tern-mls`'s format, pinned by its own fixture (`node/mls/tests/fixtures/`).

use std::path::PathBuf;

use tempfile::TempDir;

use super::tests::{all, copy_dir, generate};
use crate::{
    group::tables::MlsRows,
    store::{Batch, Store, Table},
};

const PASSPHRASE: &[u8] = b"tern node fixture v1 groups";

fn fixture_dir() -> PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/node-v1-groups")
}

type RowsOf<T> = Vec<(<T as Table>::Key, <T as Table>::Value)>;

fn rows() -> RowsOf<MlsRows> {
    let mut key = [0x01; 33];
    key[1..].copy_from_slice(&[0xA5; 32]);
    let mut other = [0x01; 33];
    other[1..].copy_from_slice(&[0xB6; 32]);
    vec![(key, br#"{"epoch":3}"#.to_vec()), (other, Vec::new())]
}

fn write_all(store: &Store) {
    let mut batch = Batch::new();
    for (k, v) in rows() {
        batch.put::<MlsRows>(&k, &v).unwrap();
    }
    store.commit(batch).unwrap();
}

#[test]
fn the_group_rows_read_back_from_their_fixture() {
    let tmp = TempDir::new().unwrap();
    copy_dir(&fixture_dir().join("db"), &tmp.path().join("db"));
    let store = Store::open(tmp.path(), PASSPHRASE).unwrap();
    assert_eq!(all::<MlsRows>(&store), rows());
}

#[test]
#[ignore = "writes the fixture; run once, never again"]
fn generate_the_node_v1_groups_fixture() {
    generate(&fixture_dir(), PASSPHRASE, write_all);
}
