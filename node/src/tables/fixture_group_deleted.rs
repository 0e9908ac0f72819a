//! A group message deleted from this device alone (the group event `DeletedForMe`), against
//! a fixture of its own: `node/tests/fixtures/node-v1-group-deleted/`. Fixtures are never
//! edited.

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

const PASSPHRASE: &[u8] = b"tern node fixture v1 group deleted";

fn fixture_dir() -> PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/node-v1-group-deleted")
}

type RowsOf<T> = Vec<(<T as Table>::Key, <T as Table>::Value)>;

fn events() -> RowsOf<Events> {
    let group = GroupId::from_bytes([71; 32]);
    [[72; 16], [73; 16]]
        .into_iter()
        .enumerate()
        .map(|(i, id)| {
            let event = GroupEvent::DeletedForMe {
                id: MessageId::from_bytes(id),
            };
            (i as u64, EventRow(Event::Group { group, event }))
        })
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
fn the_deleted_for_me_event_reads_back_from_its_fixture() {
    let tmp = TempDir::new().unwrap();
    copy_dir(&fixture_dir().join("db"), &tmp.path().join("db"));
    let store = Store::open(tmp.path(), PASSPHRASE).unwrap();
    assert_eq!(all::<Events>(&store), events());
}

#[test]
#[ignore = "writes the fixture; run once, never again"]
fn generate_the_node_v1_group_deleted_fixture() {
    generate(&fixture_dir(), PASSPHRASE, write_all);
}
