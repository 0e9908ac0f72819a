//! What happens to a group's history on one device: a message deleted from it alone and a
//! gap in the log (the group events `DeletedForMe` and `Missed`), against a fixture of their
//! own: `node/tests/fixtures/node-v1-group-history/`. Fixtures are never edited.

use std::path::PathBuf;

use tempfile::TempDir;

use super::{
    EventRow, Events,
    tests::{all, copy_dir, generate},
};
use crate::{
    event::Event,
    group::{GroupEvent, GroupId},
    id::MessageId,
    store::{Batch, Store, Table},
};

const PASSPHRASE: &[u8] = b"tern node fixture v1 group history";

fn fixture_dir() -> PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/node-v1-group-history")
}

type RowsOf<T> = Vec<(<T as Table>::Key, <T as Table>::Value)>;

fn events() -> RowsOf<Events> {
    let group = GroupId::from_bytes([71; 32]);
    [
        GroupEvent::DeletedForMe {
            id: MessageId::from_bytes([72; 16]),
        },
        GroupEvent::Missed { count: 1 },
        GroupEvent::DeletedForMe {
            id: MessageId::from_bytes([73; 16]),
        },
        GroupEvent::Missed { count: 300_000 },
    ]
    .into_iter()
    .enumerate()
    .map(|(i, event)| (i as u64, EventRow(Event::Group { group, event })))
    .collect()
}

fn write_all(store: &Store) {
    let mut batch = Batch::new();
    for (k, v) in &events() {
        batch.put::<Events>(k, v).unwrap();
    }
    store.commit(batch).unwrap();
}

#[test]
fn the_group_history_events_read_back_from_their_fixture() {
    let tmp = TempDir::new().unwrap();
    copy_dir(&fixture_dir().join("db"), &tmp.path().join("db"));
    let store = Store::open(tmp.path(), PASSPHRASE).unwrap();
    assert_eq!(all::<Events>(&store), events());
}

#[test]
#[ignore = "writes the fixture; run once, never again"]
fn generate_the_node_v1_group_history_fixture() {
    generate(&fixture_dir(), PASSPHRASE, write_all);
}
