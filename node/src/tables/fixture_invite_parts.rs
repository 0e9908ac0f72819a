//! The rows invitations in parts added (the `invite_parts` table), against a fixture of
//! their own: `node/tests/fixtures/node-v1-invite-parts/`. Fixtures are never edited.

use std::path::PathBuf;

use tempfile::TempDir;

use super::tests::{all, copy_dir, generate};
use crate::{
    group::tables::{InvitePartRow, InviteParts},
    store::{Batch, Store, Table},
};

const PASSPHRASE: &[u8] = b"tern node fixture v1 invite parts";

fn fixture_dir() -> PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/node-v1-invite-parts")
}

fn parts() -> Vec<(<InviteParts as Table>::Key, InvitePartRow)> {
    vec![
        (
            ([61; 16], [62; 16], 0),
            InvitePartRow {
                count: 3,
                bytes: vec![63; 50],
            },
        ),
        (
            ([61; 16], [62; 16], 2),
            InvitePartRow {
                count: 3,
                bytes: vec![64; 7],
            },
        ),
    ]
}

fn write_all(store: &Store) {
    let mut batch = Batch::new();
    for (k, v) in &parts() {
        batch.put::<InviteParts>(k, v).unwrap();
    }
    store.commit(batch).unwrap();
}

#[test]
fn the_invite_part_rows_read_back_from_their_fixture() {
    let tmp = TempDir::new().unwrap();
    copy_dir(&fixture_dir().join("db"), &tmp.path().join("db"));
    let store = Store::open(tmp.path(), PASSPHRASE).unwrap();
    assert_eq!(all::<InviteParts>(&store), parts());
}

#[test]
#[ignore = "writes the fixture; run once, never again"]
fn generate_the_node_v1_invite_parts_fixture() {
    generate(&fixture_dir(), PASSPHRASE, write_all);
}
