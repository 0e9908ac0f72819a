//! The rows the group pipeline added after schema version 1 (the `groups`, `group_outbox`,
//! `group_own`, `held_key_packages` and `pending_adds` tables, and `EventV1::Group` in each
//! of its forms), against a fixture of their own: `node/tests/fixtures/node-v1-group-pipeline/`.
//! The `mls` table has its own (`node-v1-groups`); fixtures are never edited.

use std::path::PathBuf;

use tempfile::TempDir;

use super::{
    EventRow, Events,
    tests::{all, copy_dir, generate, user},
};
use crate::{
    event::{DeliveryState, Direction, Event},
    group::{
        GroupEvent, GroupId, GroupMessage,
        tables::{
            GroupOutbox, GroupOutboxRow, GroupOwn, GroupRow, Groups, HeldKeyPackages, IntentRow,
            OutgoingRow, PendingAdds, SequencerRow,
        },
    },
    id::MessageId,
    store::{Batch, Store, Table},
};

const PASSPHRASE: &[u8] = b"tern node fixture v1 group pipeline";

fn fixture_dir() -> PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/node-v1-group-pipeline")
}

type RowsOf<T> = Vec<(<T as Table>::Key, <T as Table>::Value)>;

struct Rows {
    groups: RowsOf<Groups>,
    outbox: RowsOf<GroupOutbox>,
    own: RowsOf<GroupOwn>,
    held: RowsOf<HeldKeyPackages>,
    adds: RowsOf<PendingAdds>,
    events: RowsOf<Events>,
}

fn rows() -> Rows {
    let (bob, carol) = (user(1), user(2));
    let (g, peer) = ([31; 16], [32; 16]);
    let group = GroupId::from_bytes([33; 32]);
    let commit = |intent| OutgoingRow::Commit {
        next_key: [34; 32],
        welcome: Some(vec![35; 20]),
        intent,
    };
    let outbox = [
        OutgoingRow::Message {
            id: [36; 16],
            payload: vec![37; 12],
        },
        OutgoingRow::Leave,
        commit(IntentRow::Add(vec![(bob, vec![38; 8])])),
        commit(IntentRow::Remove(vec![carol])),
        commit(IntentRow::Rename("new name".into())),
        commit(IntentRow::Admin(bob, true)),
        commit(IntentRow::Pending),
    ];
    let message = GroupMessage {
        id: MessageId::from_bytes([39; 16]),
        group,
        sender: bob,
        direction: Direction::Incoming,
        text: "hello group".into(),
        attachment: None,
        reply_to: None,
        edited_at_ms: None,
        reactions: Vec::new(),
        deleted: false,
        sent_at_ms: 1_800_000_000_000,
        state: DeliveryState::StoredAtRelays {
            stored: 2,
            replicas: 3,
        },
        delivery: None,
        disappear_secs: None,
        expires_at_ms: None,
        notice: None,
    };
    let events = [
        GroupEvent::Joined {
            name: "family".into(),
            by: Some(bob),
        },
        GroupEvent::Joined {
            name: "family".into(),
            by: None,
        },
        GroupEvent::Message(message),
        GroupEvent::Stored {
            id: MessageId::from_bytes([40; 16]),
            relays: 2,
        },
        GroupEvent::Added {
            by: bob,
            members: vec![carol],
        },
        GroupEvent::Removed {
            by: bob,
            members: vec![carol, bob],
        },
        GroupEvent::Renamed {
            by: bob,
            name: "renamed".into(),
        },
        GroupEvent::AdminChanged {
            by: bob,
            member: carol,
            admin: false,
        },
        GroupEvent::Ended,
        GroupEvent::AddWaiting { member: carol },
    ];
    Rows {
        groups: vec![(
            g,
            GroupRow {
                id: [33; 32],
                name: "family".into(),
                log: [41; 32],
                sequencers: vec![SequencerRow {
                    peer: vec![42; 38],
                    addresses: vec!["/ip4/127.0.0.1/tcp/4001".into()],
                }],
                cursors: vec![7],
                joined_ms: 1_800_000_000_000,
                active: true,
            },
        )],
        outbox: outbox
            .into_iter()
            .enumerate()
            .map(|(i, what)| {
                (
                    (g, i as u64),
                    GroupOutboxRow {
                        body: vec![43; 30],
                        epoch: 5,
                        what,
                    },
                )
            })
            .collect(),
        own: vec![((g, [44; 32]), 3)],
        held: vec![(peer, vec![vec![45; 10], vec![46; 11]])],
        adds: vec![((peer, g), carol)],
        events: events
            .into_iter()
            .enumerate()
            .map(|(i, event)| (i as u64, EventRow(Event::Group { group, event })))
            .collect(),
    }
}

fn write_all(store: &Store) {
    let rows = rows();
    let mut batch = Batch::new();
    for (k, v) in &rows.groups {
        batch.put::<Groups>(k, v).unwrap();
    }
    for (k, v) in &rows.outbox {
        batch.put::<GroupOutbox>(k, v).unwrap();
    }
    for (k, v) in &rows.own {
        batch.put::<GroupOwn>(k, v).unwrap();
    }
    for (k, v) in &rows.held {
        batch.put::<HeldKeyPackages>(k, v).unwrap();
    }
    for (k, v) in &rows.adds {
        batch.put::<PendingAdds>(k, v).unwrap();
    }
    for (k, v) in &rows.events {
        batch.put::<Events>(k, v).unwrap();
    }
    store.commit(batch).unwrap();
}

#[test]
fn the_group_pipeline_rows_read_back_from_their_fixture() {
    let tmp = TempDir::new().unwrap();
    copy_dir(&fixture_dir().join("db"), &tmp.path().join("db"));
    let store = Store::open(tmp.path(), PASSPHRASE).unwrap();
    let expected = rows();
    assert_eq!(all::<Groups>(&store), expected.groups);
    assert_eq!(all::<GroupOutbox>(&store), expected.outbox);
    assert_eq!(all::<GroupOwn>(&store), expected.own);
    assert_eq!(all::<HeldKeyPackages>(&store), expected.held);
    assert_eq!(all::<PendingAdds>(&store), expected.adds);
    assert_eq!(all::<Events>(&store), expected.events);
}

#[test]
#[ignore = "writes the fixture; run once, never again"]
fn generate_the_node_v1_group_pipeline_fixture() {
    generate(&fixture_dir(), PASSPHRASE, write_all);
}
