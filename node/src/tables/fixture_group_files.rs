//! Files and conversation features in groups (the `group_uploads` table, and the group
//! events `Message2`, `AttachmentChanged`, `MessageEdited`, `MessageDeleted` and
//! `ReactionChanged`), against a fixture of their own: `node/tests/fixtures/node-v1-group-files/`.
//! Fixtures are never edited.

use std::path::PathBuf;

use serde_bytes::ByteBuf;
use tempfile::TempDir;

use super::{
    EventRow, Events, GroupUploadRow, GroupUploads, UploadStateV1, UploadTarget,
    tests::{all, copy_dir, generate, user},
};
use crate::{
    attachment::{Attachment, AttachmentKind, AttachmentState},
    event::{DeliveryState, Direction, Event},
    group::{GroupEvent, GroupId, GroupMessage},
    id::MessageId,
    store::{Batch, Store, Table},
};

const PASSPHRASE: &[u8] = b"tern node fixture v1 group files";

fn fixture_dir() -> PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/node-v1-group-files")
}

type RowsOf<T> = Vec<(<T as Table>::Key, <T as Table>::Value)>;

fn uploads() -> RowsOf<GroupUploads> {
    let states = [
        UploadStateV1::Pending,
        UploadStateV1::Stored(1_800_604_800),
        UploadStateV1::Refused("upload quota exceeded".into()),
    ];
    vec![(
        [51; 16],
        GroupUploadRow {
            root: [52; 32],
            ciphertext_len: 2_099_200,
            group: [53; 32],
            id: MessageId::from_bytes([54; 16]),
            targets: states
                .iter()
                .enumerate()
                .map(|(j, state)| UploadTarget {
                    relay: vec![0, 36, 8, 1, 18, 32, j as u8],
                    addresses: vec![ByteBuf::from(vec![4, 127, 0, 0, 1, 6, 15, 161])],
                    capability: [55 + j as u8; 32],
                    state: state.clone(),
                })
                .collect(),
        },
    )]
}

fn events() -> RowsOf<Events> {
    let group = GroupId::from_bytes([56; 32]);
    let id = MessageId::from_bytes([57; 16]);
    let message = GroupMessage {
        id,
        group,
        sender: user(1),
        direction: Direction::Incoming,
        text: "the plans".into(),
        attachment: Some(Attachment {
            kind: AttachmentKind::Document,
            name: "plans.pdf".into(),
            mime: "application/pdf".into(),
            size: 2_000_000,
            state: AttachmentState::Offered,
        }),
        reply_to: Some(MessageId::from_bytes([58; 16])),
        edited_at_ms: None,
        reactions: Vec::new(),
        deleted: false,
        sent_at_ms: 1_800_000_000_000,
        state: DeliveryState::Delivered,
        delivery: None,
        disappear_secs: None,
        expires_at_ms: None,
        notice: None,
    };
    let mut deleted = message.clone();
    deleted.text.clear();
    deleted.attachment = None;
    deleted.deleted = true;
    [
        GroupEvent::Message(message),
        GroupEvent::Message(deleted),
        GroupEvent::MessageEdited {
            id,
            by: user(1),
            text: "the new plans".into(),
            edited_at_ms: 1_800_000_060_000,
        },
        GroupEvent::MessageDeleted { id, by: user(1) },
        GroupEvent::ReactionChanged {
            id,
            by: user(2),
            emoji: Some("👍".into()),
        },
        GroupEvent::ReactionChanged {
            id,
            by: user(2),
            emoji: None,
        },
        GroupEvent::AttachmentChanged {
            id,
            state: AttachmentState::Ready,
        },
        GroupEvent::AttachmentChanged {
            id,
            state: AttachmentState::Failed {
                reason: "no source has the file".into(),
            },
        },
    ]
    .into_iter()
    .enumerate()
    .map(|(i, event)| (i as u64, EventRow(Event::Group { group, event })))
    .collect()
}

fn write_all(store: &Store) {
    let mut batch = Batch::new();
    for (k, v) in &uploads() {
        batch.put::<GroupUploads>(k, v).unwrap();
    }
    for (k, v) in &events() {
        batch.put::<Events>(k, v).unwrap();
    }
    store.commit(batch).unwrap();
}

#[test]
fn the_group_file_rows_read_back_from_their_fixture() {
    let tmp = TempDir::new().unwrap();
    copy_dir(&fixture_dir().join("db"), &tmp.path().join("db"));
    let store = Store::open(tmp.path(), PASSPHRASE).unwrap();
    assert_eq!(all::<GroupUploads>(&store), uploads());
    assert_eq!(all::<Events>(&store), events());
}

#[test]
#[ignore = "writes the fixture; run once, never again"]
fn generate_the_node_v1_group_files_fixture() {
    generate(&fixture_dir(), PASSPHRASE, write_all);
}
