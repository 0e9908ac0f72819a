//! Changes to a group kept in its history (`notices` rows of the `Group` kind, beside their
//! `messages` rows), against a fixture of their own: `node/tests/fixtures/node-v1-group-notices/`.
//! Fixtures are never edited.

use std::path::PathBuf;

use tempfile::TempDir;

use super::{
    MessageRow, Messages, NoticeRow, Notices,
    tests::{all, copy_dir, generate, user},
};
use crate::{
    GroupEvent,
    event::{DeliveryState, Direction},
    store::{Batch, Store, Table},
};

const PASSPHRASE: &[u8] = b"tern node fixture v1 group notices";

fn fixture_dir() -> PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/node-v1-group-notices")
}

type RowsOf<T> = Vec<(<T as Table>::Key, <T as Table>::Value)>;

/// One notice of each kind history keeps, in the order they were stamped.
fn events() -> Vec<GroupEvent> {
    vec![
        GroupEvent::Joined {
            name: "fixture".to_owned(),
            by: Some(user(1)),
        },
        GroupEvent::Added {
            by: user(1),
            members: vec![user(2), user(3)],
        },
        GroupEvent::Removed {
            by: user(1),
            members: vec![user(3)],
        },
        GroupEvent::AddedBack {
            by: user(1),
            members: vec![user(2)],
        },
        GroupEvent::Renamed {
            by: user(2),
            name: "renamed".to_owned(),
        },
        GroupEvent::AdminChanged {
            by: user(1),
            member: user(2),
            admin: true,
        },
        GroupEvent::TimerChanged {
            by: user(2),
            secs: 3600,
        },
        GroupEvent::LogMoved {
            by: user(2),
            relays: vec!["/ip4/198.51.100.7/tcp/4001/p2p/12D3KooWfixture".to_owned()],
        },
        GroupEvent::Missed { count: 12 },
        GroupEvent::FellBehind {
            asked: vec![user(1), user(2)],
        },
        GroupEvent::Ended,
    ]
}

fn rows() -> (RowsOf<Messages>, RowsOf<Notices>) {
    let conv = [91; 16];
    let (mut messages, mut notices) = (Vec::new(), Vec::new());
    for (i, event) in events().iter().enumerate() {
        let key = (conv, 1_000 + i as u64, [i as u8; 16]);
        messages.push((
            key,
            MessageRow {
                peer: user(1),
                direction: Direction::Incoming,
                text: String::new(),
                state: DeliveryState::Delivered,
                read: true,
            },
        ));
        notices.push((key, NoticeRow::group(event).expect("a notice")));
    }
    (messages, notices)
}

fn write_all(store: &Store) {
    let (messages, notices) = rows();
    let mut batch = Batch::new();
    for (k, v) in &messages {
        batch.put::<Messages>(k, v).unwrap();
    }
    for (k, v) in &notices {
        batch.put::<Notices>(k, v).unwrap();
    }
    store.commit(batch).unwrap();
}

#[test]
fn the_group_notice_rows_read_back_from_their_fixture() {
    let tmp = TempDir::new().unwrap();
    copy_dir(&fixture_dir().join("db"), &tmp.path().join("db"));
    let store = Store::open(tmp.path(), PASSPHRASE).unwrap();
    let (messages, notices) = rows();
    assert_eq!(all::<Messages>(&store), messages);
    let stored = all::<Notices>(&store);
    assert_eq!(stored, notices);
    let read: Vec<_> = stored.iter().filter_map(|(_, n)| n.group_event()).collect();
    assert_eq!(read, events());
}

#[test]
#[ignore = "writes the fixture; run once, never again"]
fn generate_the_node_v1_group_notices_fixture() {
    generate(&fixture_dir(), PASSPHRASE, write_all);
}
