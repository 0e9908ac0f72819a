//! Failovers of a group's log held until they settle (the `group_failovers` table), against
//! a fixture of their own: `node/tests/fixtures/node-v1-group-failovers/`. Fixtures are
//! never edited.

use std::path::PathBuf;

use tempfile::TempDir;

use super::tests::{all, copy_dir, generate, user};
use crate::{
    group::tables::{FailoverRow, GroupFailovers},
    store::{Batch, Store, Table},
};

const PASSPHRASE: &[u8] = b"tern node fixture v1 group failovers";

fn fixture_dir() -> PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/node-v1-group-failovers")
}

type RowsOf<T> = Vec<(<T as Table>::Key, <T as Table>::Value)>;

fn failovers() -> RowsOf<GroupFailovers> {
    vec![
        (
            ([71; 16], [72; 32]),
            FailoverRow {
                epoch: 12,
                entry: vec![73; 90],
                from: None,
                received_ms: 1_800_000_000_000,
            },
        ),
        (
            ([71; 16], [74; 32]),
            FailoverRow {
                epoch: 12,
                entry: vec![75; 60],
                from: Some(user(4)),
                received_ms: 1_800_000_000_500,
            },
        ),
    ]
}

fn write_all(store: &Store) {
    let mut batch = Batch::new();
    for (k, v) in &failovers() {
        batch.put::<GroupFailovers>(k, v).unwrap();
    }
    store.commit(batch).unwrap();
}

#[test]
fn the_group_failover_rows_read_back_from_their_fixture() {
    let tmp = TempDir::new().unwrap();
    copy_dir(&fixture_dir().join("db"), &tmp.path().join("db"));
    let store = Store::open(tmp.path(), PASSPHRASE).unwrap();
    assert_eq!(all::<GroupFailovers>(&store), failovers());
}

#[test]
#[ignore = "writes the fixture; run once, never again"]
fn generate_the_node_v1_group_failovers_fixture() {
    generate(&fixture_dir(), PASSPHRASE, write_all);
}
