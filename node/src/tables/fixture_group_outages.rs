//! Outages of a group's log (the `group_outages` table), against a fixture of their own:
//! `node/tests/fixtures/node-v1-group-outages/`. Fixtures are never edited.

use std::path::PathBuf;

use tempfile::TempDir;

use super::tests::{all, copy_dir, generate, user};
use crate::{
    group::tables::{GroupOutages, IntentRow, OutageRow},
    store::{Batch, Store, Table},
};

const PASSPHRASE: &[u8] = b"tern node fixture v1 group outages";

fn fixture_dir() -> PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/node-v1-group-outages")
}

type RowsOf<T> = Vec<(<T as Table>::Key, <T as Table>::Value)>;

fn outages() -> RowsOf<GroupOutages> {
    vec![
        (
            [81; 16],
            OutageRow {
                since_ms: Some(1_800_000_000_000),
                set_aside: None,
            },
        ),
        (
            [82; 16],
            OutageRow {
                since_ms: Some(1_800_000_003_600),
                set_aside: Some(IntentRow::Admin(user(5), true)),
            },
        ),
        (
            [83; 16],
            OutageRow {
                since_ms: None,
                set_aside: Some(IntentRow::Rename("after the outage".to_owned())),
            },
        ),
    ]
}

fn write_all(store: &Store) {
    let mut batch = Batch::new();
    for (k, v) in &outages() {
        batch.put::<GroupOutages>(k, v).unwrap();
    }
    store.commit(batch).unwrap();
}

#[test]
fn the_group_outage_rows_read_back_from_their_fixture() {
    let tmp = TempDir::new().unwrap();
    copy_dir(&fixture_dir().join("db"), &tmp.path().join("db"));
    let store = Store::open(tmp.path(), PASSPHRASE).unwrap();
    assert_eq!(all::<GroupOutages>(&store), outages());
}

#[test]
#[ignore = "writes the fixture; run once, never again"]
fn generate_the_node_v1_group_outages_fixture() {
    generate(&fixture_dir(), PASSPHRASE, write_all);
}
