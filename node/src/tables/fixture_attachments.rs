//! The rows attachments added after schema version 1 (the `attachments` and `blob_grants`
//! tables, the `*4` message events with a file, `EventV1::AttachmentChanged` and the
//! `Attachment` message kind), against a fixture of their own:
//! `node/tests/fixtures/node-v1-attachments/`. The earlier fixtures are never edited, so each
//! addition brings its own.

use std::path::PathBuf;

use tempfile::TempDir;

use super::{
    tests::{all, copy_dir, generate, user},
    *,
};
use crate::{
    Attachment, AttachmentKind, AttachmentState,
    event::{Event, Message, MessageKind},
    store::{Batch, Store},
};

const PASSPHRASE: &[u8] = b"tern node fixture v1 attachments";

fn fixture_dir() -> PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/node-v1-attachments")
}

const STAMP: u64 = 1_800_000_000_000 << 16;

type RowsOf<T> = Vec<(<T as Table>::Key, <T as Table>::Value)>;

struct Rows {
    attachments: RowsOf<Attachments>,
    grants: RowsOf<BlobGrants>,
    events: RowsOf<Events>,
}

/// Descriptor bytes as they travel (any bytes pin the row's encoding; these are a valid
/// inline descriptor, so the event's view is the same one).
fn descriptor() -> Vec<u8> {
    tern_blob::Descriptor {
        kind: tern_blob::descriptor::Kind::Document,
        mime: "text/plain".into(),
        name: "note.txt".into(),
        thumbnail: None,
        waveform: None,
        body: tern_blob::descriptor::Body::Inline(b"hello".to_vec()),
    }
    .to_bytes()
    .unwrap()
}

fn rows(store: &Store) -> Rows {
    let bob = user(1);
    let conv = store.index_id("conversation", bob.as_bytes());
    let kinds = [
        AttachmentKind::Image,
        AttachmentKind::Video,
        AttachmentKind::Audio,
        AttachmentKind::Voice,
        AttachmentKind::Document,
    ];
    let states = [
        AttachmentState::Ready,
        AttachmentState::Offered,
        AttachmentState::Fetching,
        AttachmentState::Failed {
            reason: "the sender no longer has the file".into(),
        },
    ];
    let message = |i: u8, kind: AttachmentKind, state: AttachmentState| Message {
        id: MessageId::from_bytes([30 + i; 16]),
        peer: bob,
        direction: Direction::Incoming,
        kind: MessageKind::Attachment,
        text: format!("caption {i}"),
        reply_to: None,
        edited_at_ms: None,
        reactions: Vec::new(),
        sent_at_ms: 1_800_000_000_000,
        state: DeliveryState::Delivered,
        read: false,
        disappear_secs: Some(300),
        expires_at_ms: None,
        attachment: Some(Attachment {
            kind,
            name: format!("file-{i}.bin"),
            mime: "application/octet-stream".into(),
            size: 1_000_000 + u64::from(i),
            state,
        }),
    };
    let mut events = Vec::new();
    for (i, kind) in kinds.into_iter().enumerate() {
        let i = i as u8;
        let m = message(i, kind, states[usize::from(i) % states.len()].clone());
        events.push(match i % 3 {
            0 => Event::MessageReceived(m),
            1 => Event::MessageSent(m),
            _ => Event::RequestReceived(m),
        });
    }
    for (i, state) in states.iter().enumerate() {
        events.push(Event::AttachmentChanged {
            peer: bob,
            id: MessageId::from_bytes([40 + i as u8; 16]),
            state: state.clone(),
        });
    }
    let transfers = [
        TransferV1::Complete,
        TransferV1::Offered,
        TransferV1::Fetching,
        TransferV1::Failed("no source left".into()),
    ];
    Rows {
        attachments: transfers
            .into_iter()
            .enumerate()
            .map(|(i, state)| {
                (
                    (conv, STAMP + i as u64, [50 + i as u8; 16]),
                    AttachmentRow {
                        descriptor: descriptor(),
                        state,
                    },
                )
            })
            .collect(),
        grants: vec![(store.index_id("blob", &[7; 32]), [8; 32])],
        events: events
            .into_iter()
            .enumerate()
            .map(|(i, e)| (i as u64, EventRow(e)))
            .collect(),
    }
}

fn write_all(store: &Store, rows: &Rows) {
    let mut batch = Batch::new();
    for (k, v) in &rows.attachments {
        batch.put::<Attachments>(k, v).unwrap();
    }
    for (k, v) in &rows.grants {
        batch.put::<BlobGrants>(k, v).unwrap();
    }
    for (k, v) in &rows.events {
        batch.put::<Events>(k, v).unwrap();
    }
    store.commit(batch).unwrap();
}

#[test]
fn the_attachment_rows_read_back_from_their_fixture() {
    let tmp = TempDir::new().unwrap();
    copy_dir(&fixture_dir().join("db"), &tmp.path().join("db"));
    let store = Store::open(tmp.path(), PASSPHRASE).unwrap();
    let expected = rows(&store);
    assert_eq!(all::<Attachments>(&store), expected.attachments);
    assert_eq!(all::<BlobGrants>(&store), expected.grants);
    assert_eq!(all::<Events>(&store), expected.events);
}

#[test]
#[ignore = "writes the fixture; run once, never again"]
fn generate_the_node_v1_attachments_fixture() {
    generate(&fixture_dir(), PASSPHRASE, |store| {
        write_all(store, &rows(store))
    });
}
