//! The node's own tables against a fixture: `node/tests/fixtures/node-v1/` is a database
//! written by this version with a row in every table, and every later build must read each
//! row back exactly (through migrations, once there are some). See its README.

use std::{
    io::Write,
    path::{Path, PathBuf},
};

use rand_chacha::{ChaCha20Rng, rand_core::SeedableRng};
use tempfile::TempDir;
use tern_crypto::{AccountKey, at_rest::KdfParams};

use super::*;
use crate::{
    event::{ChatChange, Event, Message, MessageKind},
    store::{Batch, Direction as ScanDirection, Store},
};

const PASSPHRASE: &[u8] = b"tern node fixture v1";

fn fixture_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/node-v1")
}

pub(super) fn user(seed: u8) -> UserId {
    AccountKey::generate(&mut ChaCha20Rng::from_seed([seed; 32])).user_id()
}

fn message(id: u8, peer: UserId, direction: Direction, state: DeliveryState) -> Message {
    Message {
        id: MessageId::from_bytes([id; 16]),
        peer,
        direction,
        kind: MessageKind::Text,
        text: format!("message {id}"),
        reply_to: None,
        edited_at_ms: None,
        reactions: Vec::new(),
        sent_at_ms: 1_800_000_000_000 + u64::from(id),
        state,
        read: id.is_multiple_of(2),
        disappear_secs: None,
        expires_at_ms: None,
        attachment: None,
    }
}

/// Every row the fixture holds, one table at a time, as `(key, value)` pairs.
struct Rows {
    state: Vec<(String, Vec<u8>)>,
    contacts: Vec<(Conv, ContactRow)>,
    sessions: Vec<(Conv, Vec<Vec<u8>>)>,
    messages: Vec<(<Messages as Table>::Key, MessageRow)>,
    index: Vec<((Conv, [u8; 16]), Stamp)>,
    conversations: Vec<(Conv, ConversationRow)>,
    outbox: Vec<(u64, OutboxRow)>,
    seen: Vec<([u8; 16], u64)>,
    replays: Vec<([u8; 32], u64)>,
    events: Vec<(u64, EventRow)>,
}

fn rows(store: &Store) -> Rows {
    let (bob, carol) = (user(1), user(2));
    let conv = store.index_id("conversation", bob.as_bytes());
    let states = [
        DeliveryState::Queued,
        DeliveryState::StoredAtRelays {
            stored: 2,
            replicas: 3,
        },
        DeliveryState::Delivered,
        DeliveryState::Read,
        DeliveryState::Failed,
    ];
    let mut messages = Vec::new();
    let mut index = Vec::new();
    for (i, state) in states.into_iter().enumerate() {
        let id = [i as u8; 16];
        let stamp = (1_800_000_000_000u64 + i as u64) << 16;
        let direction = if i % 2 == 0 {
            Direction::Outgoing
        } else {
            Direction::Incoming
        };
        messages.push((
            (conv, stamp, id),
            MessageRow {
                peer: bob,
                direction,
                text: format!("message {i}"),
                state,
                read: i % 2 == 1,
            },
        ));
        index.push(((conv, id), stamp));
    }
    let mut events = vec![
        Event::MessageReceived(message(
            1,
            bob,
            Direction::Incoming,
            DeliveryState::Delivered,
        )),
        Event::MessageSent(message(
            2,
            carol,
            Direction::Outgoing,
            DeliveryState::Queued,
        )),
        Event::ContactOnline(bob),
        Event::ContactOffline(carol),
        Event::Error {
            peer: None,
            message: "something went wrong".into(),
        },
        Event::Error {
            peer: Some(bob),
            message: "message 02 was refused".into(),
        },
    ];
    for state in states {
        events.push(Event::DeliveryStateChanged {
            peer: carol,
            id: MessageId::from_bytes([9; 16]),
            state,
        });
    }
    Rows {
        state: [
            STATE_ACCOUNT,
            STATE_DEVICE_KEY,
            STATE_PREKEYS,
            STATE_CLOCK,
            STATE_RECORD_SEQ,
            STATE_OUTBOX_SEQ,
            STATE_RELAYS,
        ]
        .iter()
        .enumerate()
        .map(|(i, name)| ((*name).to_owned(), vec![i as u8; 8 + i]))
        .collect(),
        contacts: vec![(
            conv,
            ContactRow {
                user: bob,
                name: "bob".into(),
                verified: true,
                added_ms: 1_800_000_000_000,
            },
        )],
        sessions: vec![(conv, vec![vec![1; 40], vec![2; 50]])],
        messages,
        index,
        conversations: vec![(
            conv,
            ConversationRow {
                peer: bob,
                last_stamp: 1_800_000_000_004 << 16,
                last_text: "message 4".into(),
                unread: 2,
            },
        )],
        outbox: vec![
            (
                0,
                OutboxRow {
                    id: MessageId::from_bytes([0; 16]),
                    peer: bob,
                    payload: vec![7; 30],
                    envelope: None,
                    visible: true,
                    attempts: 0,
                    next_attempt_ms: 0,
                },
            ),
            (
                1,
                OutboxRow {
                    id: MessageId::from_bytes([5; 16]),
                    peer: carol,
                    payload: vec![8; 20],
                    envelope: Some(vec![9; 64]),
                    visible: false,
                    attempts: 3,
                    next_attempt_ms: 1_800_000_008_000,
                },
            ),
        ],
        seen: vec![([3; 16], 1_802_419_200_000)],
        replays: vec![([4; 32], 1_803_628_800_000)],
        events: events
            .into_iter()
            .enumerate()
            .map(|(i, e)| (i as u64, EventRow(e)))
            .collect(),
    }
}

fn write_all(store: &Store, rows: &Rows) {
    let mut batch = Batch::new();
    for (k, v) in &rows.state {
        batch.put::<State>(k, v).unwrap();
    }
    for (k, v) in &rows.contacts {
        batch.put::<Contacts>(k, v).unwrap();
    }
    for (k, v) in &rows.sessions {
        batch.put::<Sessions>(k, v).unwrap();
    }
    for (k, v) in &rows.messages {
        batch.put::<Messages>(k, v).unwrap();
    }
    for (k, v) in &rows.index {
        batch.put::<MessageIndex>(k, v).unwrap();
    }
    for (k, v) in &rows.conversations {
        batch.put::<Conversations>(k, v).unwrap();
    }
    for (k, v) in &rows.outbox {
        batch.put::<Outbox>(k, v).unwrap();
    }
    for (k, v) in &rows.seen {
        batch.put::<Seen>(k, v).unwrap();
    }
    for (k, v) in &rows.replays {
        batch.put::<Replays>(k, v).unwrap();
    }
    for (k, v) in &rows.events {
        batch.put::<Events>(k, v).unwrap();
    }
    store.commit(batch).unwrap();
}

pub(super) fn all<T: Table>(store: &Store) -> Vec<(T::Key, T::Value)> {
    store
        .scan::<T>(.., ScanDirection::Forward, usize::MAX)
        .unwrap()
}

pub(super) fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        // RocksDB's diagnostic log and its lock file are not needed to open the database.
        if name.starts_with("LOG") || name == "LOCK" {
            continue;
        }
        if path.is_dir() {
            copy_dir(&path, &to.join(&name));
        } else {
            std::fs::copy(&path, to.join(&name)).unwrap();
        }
    }
}

#[test]
fn the_node_v1_fixture_reads_back_every_table() {
    let tmp = TempDir::new().unwrap();
    // A copy: opening writes to the database (a new manifest and log, at least).
    copy_dir(&fixture_dir().join("db"), &tmp.path().join("db"));
    let store = Store::open(tmp.path(), PASSPHRASE).unwrap();
    let expected = rows(&store);
    let mut state = expected.state.clone();
    state.sort();
    assert_eq!(all::<State>(&store), state);
    assert_eq!(all::<Contacts>(&store), expected.contacts);
    assert_eq!(all::<Sessions>(&store), expected.sessions);
    assert_eq!(all::<Messages>(&store), expected.messages);
    assert_eq!(all::<MessageIndex>(&store), expected.index);
    assert_eq!(all::<Conversations>(&store), expected.conversations);
    assert_eq!(all::<Outbox>(&store), expected.outbox);
    assert_eq!(all::<Seen>(&store), expected.seen);
    assert_eq!(all::<Replays>(&store), expected.replays);
    assert_eq!(all::<Events>(&store), expected.events);
}

#[test]
#[ignore = "writes the fixture; run once per schema version, never again"]
fn generate_the_node_v1_fixture() {
    generate(&fixture_dir(), PASSPHRASE, |store| {
        write_all(store, &rows(store))
    });
}

/// Writes a fixture database into `dir/db` with `write`, once: it refuses while one exists.
pub(super) fn generate(dir: &Path, passphrase: &[u8], write: impl FnOnce(&Store)) {
    let target = dir.join("db");
    assert!(
        !target.exists(),
        "{} exists: the fixture must never be regenerated",
        target.display()
    );
    let tmp = TempDir::new().unwrap();
    let cheap = KdfParams::new(64, 1, 1).unwrap();
    let store = Store::create(tmp.path(), passphrase, cheap).unwrap();
    write(&store);
    // Into SST files, so that the fixture pins the table format and not only the log.
    store.flush().unwrap();
    drop(store);
    copy_dir(&tmp.path().join("db"), &target);
    writeln!(std::io::stderr(), "wrote {}", target.display()).unwrap();
}

#[test]
fn events_added_after_version_1_round_trip() {
    let carol = user(3);
    let mut events = vec![Event::RequestReceived(message(
        7,
        carol,
        Direction::Incoming,
        DeliveryState::Delivered,
    ))];
    for change in [
        ChatChange::Accepted,
        ChatChange::Deleted,
        ChatChange::Blocked,
        ChatChange::Unblocked,
    ] {
        events.push(Event::ChatChanged {
            peer: carol,
            change,
        });
    }
    let mut timed = message(8, carol, Direction::Outgoing, DeliveryState::Queued);
    timed.disappear_secs = Some(300);
    timed.expires_at_ms = Some(1_800_000_300_000);
    let mut notice = message(9, carol, Direction::Incoming, DeliveryState::Delivered);
    notice.kind = MessageKind::Timer { secs: 3600 };
    notice.text.clear();
    events.extend([
        Event::MessageSent(timed),
        Event::MessageReceived(notice),
        Event::MessageExpired {
            peer: carol,
            id: MessageId::from_bytes([8; 16]),
        },
        Event::ProfileChanged {
            peer: carol,
            name: "Carol".into(),
            status: "away".into(),
        },
    ]);
    for event in events {
        let bytes = postcard::to_allocvec(&EventRow(event.clone())).unwrap();
        let back: EventRow = postcard::from_bytes(&bytes).unwrap();
        assert_eq!(back.0, event);
    }
}
