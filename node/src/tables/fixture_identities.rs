//! The rows the identity-change policy added after schema version 1 (the `identities` table,
//! the `account_previous` state row, the identity-change notice and its message kind, and
//! `EventV1::IdentityChanged`), against a fixture of their own:
//! `node/tests/fixtures/node-v1-identities/`. The earlier fixtures are never edited, so each
//! addition brings its own.

use std::path::PathBuf;

use tempfile::TempDir;

use super::{
    tests::{all, copy_dir, generate, user},
    *,
};
use crate::{
    IdentityPolicy,
    event::{Event, Message, MessageKind},
    store::{Batch, Store},
};

const PASSPHRASE: &[u8] = b"tern node fixture v1 identities";

fn fixture_dir() -> PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/node-v1-identities")
}

const STAMP: u64 = 1_800_000_000_000 << 16;

type RowsOf<T> = Vec<(<T as Table>::Key, <T as Table>::Value)>;

struct Rows {
    state: RowsOf<State>,
    identities: RowsOf<Identities>,
    notices: RowsOf<Notices>,
    events: RowsOf<Events>,
}

fn rows(store: &Store) -> Rows {
    let (bob, carol) = (user(1), user(2));
    let conv = store.index_id("conversation", bob.as_bytes());
    let other = store.index_id("conversation", carol.as_bytes());
    let notice = Message {
        id: MessageId::from_bytes([21; 16]),
        peer: bob,
        direction: Direction::Incoming,
        kind: MessageKind::IdentityChanged { held: true },
        text: String::new(),
        reply_to: None,
        edited_at_ms: None,
        reactions: Vec::new(),
        sent_at_ms: 1_800_000_000_000,
        state: DeliveryState::Delivered,
        read: true,
        disappear_secs: None,
        expires_at_ms: None,
        attachment: None,
    };
    let mut events = vec![
        Event::MessageReceived(notice.clone()),
        Event::MessageSent(notice.clone()),
        Event::RequestReceived(notice),
    ];
    for (policy, held) in [
        (IdentityPolicy::Warn, false),
        (IdentityPolicy::Block, true),
        (IdentityPolicy::TrustNew, false),
    ] {
        events.push(Event::IdentityChanged {
            peer: bob,
            policy,
            held,
        });
    }
    Rows {
        state: vec![(STATE_ACCOUNT_PREVIOUS.to_owned(), vec![2; 105])],
        identities: vec![
            (
                conv,
                IdentityRow {
                    peer: bob,
                    key: Some([22; 32]),
                    policy: PolicyV1::Block,
                    held: true,
                    changed_ms: Some(1_800_000_001_000),
                },
            ),
            (
                other,
                IdentityRow {
                    peer: carol,
                    key: None,
                    policy: PolicyV1::TrustNew,
                    held: false,
                    changed_ms: None,
                },
            ),
        ],
        notices: vec![
            ((conv, STAMP, [21; 16]), NoticeRow::IdentityChanged(true)),
            (
                (conv, STAMP + 1, [23; 16]),
                NoticeRow::IdentityChanged(false),
            ),
        ],
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
    for (k, v) in &rows.identities {
        batch.put::<Identities>(k, v).unwrap();
    }
    for (k, v) in &rows.notices {
        batch.put::<Notices>(k, v).unwrap();
    }
    for (k, v) in &rows.events {
        batch.put::<Events>(k, v).unwrap();
    }
    store.commit(batch).unwrap();
}

#[test]
fn the_identity_rows_read_back_from_their_fixture() {
    let tmp = TempDir::new().unwrap();
    copy_dir(&fixture_dir().join("db"), &tmp.path().join("db"));
    let store = Store::open(tmp.path(), PASSPHRASE).unwrap();
    let expected = rows(&store);
    let state: Vec<_> = all::<State>(&store)
        .into_iter()
        .filter(|(k, _)| k == STATE_ACCOUNT_PREVIOUS)
        .collect();
    assert_eq!(state, expected.state);
    let mut identities = expected.identities.clone();
    identities.sort_by_key(|(k, _)| *k);
    assert_eq!(all::<Identities>(&store), identities);
    assert_eq!(all::<Notices>(&store), expected.notices);
    assert_eq!(all::<Events>(&store), expected.events);
}

#[test]
#[ignore = "writes the fixture; run once, never again"]
fn generate_the_node_v1_identities_fixture() {
    generate(&fixture_dir(), PASSPHRASE, |store| {
        write_all(store, &rows(store))
    });
}
