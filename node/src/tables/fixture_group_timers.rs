//! Disappearing messages in groups (the group events `Message3`, `TimerChanged` and
//! `MessageExpired`), against a fixture of their own: `node/tests/fixtures/node-v1-group-timers/`.
//! Fixtures are never edited.

use std::path::PathBuf;

use tempfile::TempDir;

use super::{
    EventRow, Events,
    tests::{all, copy_dir, generate, user},
};
use crate::{
    event::{DeliveryState, Direction, Event},
    group::{GroupEvent, GroupId, GroupMessage},
    id::MessageId,
    store::{Batch, Store, Table},
};

const PASSPHRASE: &[u8] = b"tern node fixture v1 group timers";

fn fixture_dir() -> PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/node-v1-group-timers")
}

type RowsOf<T> = Vec<(<T as Table>::Key, <T as Table>::Value)>;

fn events() -> RowsOf<Events> {
    let group = GroupId::from_bytes([91; 32]);
    let message = GroupMessage {
        id: MessageId::from_bytes([92; 16]),
        group,
        sender: user(2),
        direction: Direction::Outgoing,
        text: "gone in an hour".into(),
        attachment: None,
        reply_to: Some(MessageId::from_bytes([93; 16])),
        edited_at_ms: None,
        reactions: Vec::new(),
        deleted: false,
        sent_at_ms: 1_800_000_000_000,
        state: DeliveryState::Queued,
        delivery: None,
        disappear_secs: Some(3600),
        expires_at_ms: Some(1_800_003_600_000),
        notice: None,
    };
    let events = [
        GroupEvent::TimerChanged {
            by: user(2),
            secs: 3600,
        },
        GroupEvent::Message(message),
        GroupEvent::MessageExpired {
            id: MessageId::from_bytes([92; 16]),
        },
        GroupEvent::TimerChanged {
            by: user(3),
            secs: 0,
        },
    ];
    events
        .into_iter()
        .enumerate()
        .map(|(seq, event)| (seq as u64, EventRow(Event::Group { group, event })))
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
fn the_group_timer_rows_read_back_from_their_fixture() {
    let tmp = TempDir::new().unwrap();
    copy_dir(&fixture_dir().join("db"), &tmp.path().join("db"));
    let store = Store::open(tmp.path(), PASSPHRASE).unwrap();
    assert_eq!(all::<Events>(&store), events());
}

#[test]
#[ignore = "writes the fixture; run once, never again"]
fn generate_the_node_v1_group_timers_fixture() {
    generate(&fixture_dir(), PASSPHRASE, write_all);
}
