//! The copies of a group's last commits (the `group_commits` table), against a fixture of
//! their own: `node/tests/fixtures/node-v1-group-commits/`. Fixtures are never edited.

use std::path::PathBuf;

use tempfile::TempDir;

use super::tests::{all, copy_dir, generate};
use crate::{
    group::tables::{CommitCopyRow, GroupCommits},
    store::{Batch, Store, Table},
};

const PASSPHRASE: &[u8] = b"tern node fixture v1 group commits";

fn fixture_dir() -> PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/node-v1-group-commits")
}

fn commits() -> Vec<(<GroupCommits as Table>::Key, <GroupCommits as Table>::Value)> {
    vec![
        (
            ([71; 16], 6),
            CommitCopyRow {
                next_key: [72; 32],
                body: vec![73; 50],
                seed: [74; 32],
            },
        ),
        (
            ([71; 16], 7),
            CommitCopyRow {
                next_key: [75; 32],
                body: vec![76; 20],
                seed: [77; 32],
            },
        ),
    ]
}

fn write_all(store: &Store) {
    let mut batch = Batch::new();
    for (k, v) in &commits() {
        batch.put::<GroupCommits>(k, v).unwrap();
    }
    store.commit(batch).unwrap();
}

#[test]
fn the_group_commit_rows_read_back_from_their_fixture() {
    let tmp = TempDir::new().unwrap();
    copy_dir(&fixture_dir().join("db"), &tmp.path().join("db"));
    let store = Store::open(tmp.path(), PASSPHRASE).unwrap();
    assert_eq!(all::<GroupCommits>(&store), commits());
}

#[test]
#[ignore = "writes the fixture; run once, never again"]
fn generate_the_node_v1_group_commits_fixture() {
    generate(&fixture_dir(), PASSPHRASE, write_all);
}
