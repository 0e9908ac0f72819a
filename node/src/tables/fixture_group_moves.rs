//! Moving a group's log (the outbox's `IntentRow::Move` and the group event `LogMoved`),
//! against a fixture of its own: `node/tests/fixtures/node-v1-group-moves/`. Fixtures are
//! never edited.

use std::path::PathBuf;

use tempfile::TempDir;

use super::{
    EventRow, Events,
    tests::{all, copy_dir, generate, user},
};
use crate::{
    event::Event,
    group::{
        GroupEvent, GroupId,
        tables::{GroupOutbox, GroupOutboxRow, IntentRow, OutgoingRow, SequencerRow},
    },
    store::{Batch, Store, Table},
};

const PASSPHRASE: &[u8] = b"tern node fixture v1 group moves";

fn fixture_dir() -> PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/node-v1-group-moves")
}

type RowsOf<T> = Vec<(<T as Table>::Key, <T as Table>::Value)>;

fn outbox() -> RowsOf<GroupOutbox> {
    let relays = vec![
        SequencerRow {
            peer: vec![81; 38],
            addresses: vec!["/ip4/198.51.100.7/tcp/4001".into()],
        },
        SequencerRow {
            peer: vec![82; 38],
            addresses: Vec::new(),
        },
    ];
    let row = GroupOutboxRow {
        body: vec![83; 24],
        epoch: 9,
        what: OutgoingRow::Commit {
            next_key: [84; 32],
            welcome: None,
            intent: IntentRow::Move(relays),
        },
    };
    vec![(([85; 16], 4), row)]
}

fn events() -> RowsOf<Events> {
    let event = GroupEvent::LogMoved {
        by: user(1),
        relays: vec!["/ip4/198.51.100.7/tcp/4001/p2p/12D3KooWRelay".into()],
    };
    let group = GroupId::from_bytes([86; 32]);
    vec![(0, EventRow(Event::Group { group, event }))]
}

fn write_all(store: &Store) {
    let mut batch = Batch::new();
    for (k, v) in &outbox() {
        batch.put::<GroupOutbox>(k, v).unwrap();
    }
    for (k, v) in &events() {
        batch.put::<Events>(k, v).unwrap();
    }
    store.commit(batch).unwrap();
}

#[test]
fn the_log_move_rows_read_back_from_their_fixture() {
    let tmp = TempDir::new().unwrap();
    copy_dir(&fixture_dir().join("db"), &tmp.path().join("db"));
    let store = Store::open(tmp.path(), PASSPHRASE).unwrap();
    assert_eq!(all::<GroupOutbox>(&store), outbox());
    assert_eq!(all::<Events>(&store), events());
}

#[test]
#[ignore = "writes the fixture; run once, never again"]
fn generate_the_node_v1_group_moves_fixture() {
    generate(&fixture_dir(), PASSPHRASE, write_all);
}
