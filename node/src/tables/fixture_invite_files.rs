//! The rows invitations as files added (the `invite_uploads` and `invite_fetches` tables),
//! against a fixture of their own: `node/tests/fixtures/node-v1-invite-files/`. Fixtures are
//! never edited.

use std::path::PathBuf;

use super::tests::{all, copy_dir, generate, user};
use crate::{
    group::tables::{InviteFetchRow, InviteFetches, InviteUploadRow, InviteUploads, SequencerRow},
    store::{Batch, Store, Table},
};
use tempfile::TempDir;

const PASSPHRASE: &[u8] = b"tern node fixture v1 invite files";

fn fixture_dir() -> PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/node-v1-invite-files")
}

fn sequencers() -> Vec<SequencerRow> {
    vec![SequencerRow {
        peer: vec![71; 38],
        addresses: vec!["/ip4/127.0.0.1/tcp/4001".into()],
    }]
}

fn uploads() -> Vec<(<InviteUploads as Table>::Key, InviteUploadRow)> {
    vec![(
        [72; 16],
        InviteUploadRow {
            group: [73; 32],
            members: vec![user(74), user(75)],
            descriptor: vec![76; 40],
            sequencers: sequencers(),
            sent: true,
        },
    )]
}

fn fetches() -> Vec<(<InviteFetches as Table>::Key, InviteFetchRow)> {
    vec![(
        ([77; 16], [78; 16]),
        InviteFetchRow {
            sender: user(79),
            stamp: 0x0123_4567_89ab_cdef,
            descriptor: vec![80; 40],
            sequencers: sequencers(),
        },
    )]
}

fn write_all(store: &Store) {
    let mut batch = Batch::new();
    for (k, v) in &uploads() {
        batch.put::<InviteUploads>(k, v).unwrap();
    }
    for (k, v) in &fetches() {
        batch.put::<InviteFetches>(k, v).unwrap();
    }
    store.commit(batch).unwrap();
}

#[test]
fn the_invite_file_rows_read_back_from_their_fixture() {
    let tmp = TempDir::new().unwrap();
    copy_dir(&fixture_dir().join("db"), &tmp.path().join("db"));
    let store = Store::open(tmp.path(), PASSPHRASE).unwrap();
    assert_eq!(all::<InviteUploads>(&store), uploads());
    assert_eq!(all::<InviteFetches>(&store), fetches());
}

#[test]
#[ignore = "writes the fixture; run once, never again"]
fn generate_the_node_v1_invite_files_fixture() {
    generate(&fixture_dir(), PASSPHRASE, write_all);
}
