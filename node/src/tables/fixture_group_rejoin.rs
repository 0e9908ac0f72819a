//! Rejoining a group after its log's retention (the `group_rejoins` table,
//! `IntentRow::Readd` in a queued commit, and the group events `FellBehind` and
//! `AddedBack`), against a fixture of their own: `node/tests/fixtures/node-v1-group-rejoin/`.
//! Fixtures are never edited.

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
        tables::{GroupOutbox, GroupOutboxRow, GroupRejoins, IntentRow, OutgoingRow, RejoinRow},
    },
    store::{Batch, Store, Table},
};

const PASSPHRASE: &[u8] = b"tern node fixture v1 group rejoin";

fn fixture_dir() -> PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/node-v1-group-rejoin")
}

type RowsOf<T> = Vec<(<T as Table>::Key, <T as Table>::Value)>;

fn rejoins() -> RowsOf<GroupRejoins> {
    vec![
        (
            [61; 16],
            RejoinRow {
                since_ms: 1_800_000_000_000,
                asked_ms: 1_800_086_400_000,
                asked: vec![user(1), user(2)],
            },
        ),
        (
            [62; 16],
            RejoinRow {
                since_ms: 1_800_000_000_001,
                asked_ms: 1_800_000_000_001,
                asked: Vec::new(),
            },
        ),
    ]
}

fn outbox() -> RowsOf<GroupOutbox> {
    vec![(
        ([63; 16], 4),
        GroupOutboxRow {
            body: vec![64; 40],
            epoch: 30,
            what: OutgoingRow::Commit {
                next_key: [65; 32],
                welcome: Some(vec![66; 20]),
                intent: IntentRow::Readd(user(3), vec![67; 30]),
            },
        },
    )]
}

fn events() -> RowsOf<Events> {
    let group = GroupId::from_bytes([68; 32]);
    [
        GroupEvent::FellBehind {
            asked: vec![user(1), user(2)],
        },
        GroupEvent::FellBehind { asked: Vec::new() },
        GroupEvent::AddedBack {
            by: user(1),
            members: vec![user(3)],
        },
    ]
    .into_iter()
    .enumerate()
    .map(|(i, event)| (i as u64, EventRow(Event::Group { group, event })))
    .collect()
}

fn write_all(store: &Store) {
    let mut batch = Batch::new();
    for (k, v) in &rejoins() {
        batch.put::<GroupRejoins>(k, v).unwrap();
    }
    for (k, v) in &outbox() {
        batch.put::<GroupOutbox>(k, v).unwrap();
    }
    for (k, v) in &events() {
        batch.put::<Events>(k, v).unwrap();
    }
    store.commit(batch).unwrap();
}

#[test]
fn the_group_rejoin_rows_read_back_from_their_fixture() {
    let tmp = TempDir::new().unwrap();
    copy_dir(&fixture_dir().join("db"), &tmp.path().join("db"));
    let store = Store::open(tmp.path(), PASSPHRASE).unwrap();
    assert_eq!(all::<GroupRejoins>(&store), rejoins());
    assert_eq!(all::<GroupOutbox>(&store), outbox());
    assert_eq!(all::<Events>(&store), events());
}

#[test]
#[ignore = "writes the fixture; run once, never again"]
fn generate_the_node_v1_group_rejoin_fixture() {
    generate(&fixture_dir(), PASSPHRASE, write_all);
}
