//! The tables and event variants added after schema version 1 without a migration, against a
//! fixture of their own: `node/tests/fixtures/node-v1-added/` holds a database with a row in
//! each of them (and an event of every appended variant), and every later build must read
//! each row back exactly. Without it, a field added to one of these rows would pass every
//! other test and make existing databases unreadable.

use std::path::PathBuf;

use tempfile::TempDir;

use super::{
    tests::{all, copy_dir, generate, user},
    *,
};
use crate::{
    event::{ChatChange, Event, Message, MessageKind, Reaction},
    store::{Batch, Store},
};

const PASSPHRASE: &[u8] = b"tern node fixture v1 added tables";

fn fixture_dir() -> PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/node-v1-added")
}

const STAMP: u64 = 1_800_000_000_000 << 16;

/// The rows of table `T`.
type RowsOf<T> = Vec<(<T as Table>::Key, <T as Table>::Value)>;

/// The rows, one table at a time.
struct Rows {
    state: RowsOf<State>,
    requests: RowsOf<Requests>,
    blocked: RowsOf<Blocked>,
    acks: RowsOf<Acks>,
    sightings: RowsOf<RelaySightings>,
    meta: RowsOf<MessageMeta>,
    edits: RowsOf<EditHistory>,
    orphans: RowsOf<Orphans>,
    event_index: RowsOf<EventIndex>,
    settings: RowsOf<ChatSettings>,
    timers: RowsOf<Timers>,
    notices: RowsOf<Notices>,
    expiries: RowsOf<Expiries>,
    expiry_queue: RowsOf<ExpiryQueue>,
    profiles: RowsOf<Profiles>,
    events: RowsOf<Events>,
}

fn message(id: u8, peer: UserId, kind: MessageKind) -> Message {
    Message {
        id: MessageId::from_bytes([id; 16]),
        peer,
        direction: Direction::Incoming,
        kind,
        text: format!("message {id}"),
        reply_to: Some(MessageId::from_bytes([1; 16])),
        edited_at_ms: Some(1_800_000_000_500),
        reactions: vec![Reaction {
            by: peer,
            emoji: "🎉".into(),
        }],
        sent_at_ms: 1_800_000_000_000,
        state: DeliveryState::Delivered,
        read: true,
        disappear_secs: Some(3600),
        expires_at_ms: Some(1_800_003_600_000),
        attachment: None,
    }
}

fn rows(store: &Store) -> Rows {
    let (bob, carol) = (user(1), user(2));
    let conv = store.index_id("conversation", bob.as_bytes());
    let other = store.index_id("conversation", carol.as_bytes());
    let key = (conv, STAMP, [3; 16]);
    let mut events = Vec::new();
    for (i, kind) in [
        MessageKind::Text,
        MessageKind::Deleted,
        MessageKind::Unsupported { content_type: 0x42 },
        MessageKind::Timer { secs: 300 },
    ]
    .into_iter()
    .enumerate()
    {
        let m = message(10 + i as u8, bob, kind);
        events.push(Event::MessageReceived(m.clone()));
        events.push(Event::MessageSent(m.clone()));
        events.push(Event::RequestReceived(m));
    }
    for change in [
        ChatChange::Muted,
        ChatChange::Unmuted,
        ChatChange::Archived,
        ChatChange::Unarchived,
        ChatChange::Pinned,
        ChatChange::Unpinned,
    ] {
        events.push(Event::ChatChanged { peer: bob, change });
    }
    events.extend([
        Event::MessageEdited {
            peer: bob,
            id: MessageId::from_bytes([3; 16]),
            text: "edited".into(),
            edited_at_ms: 1_800_000_001_000,
        },
        Event::MessageDeleted {
            peer: bob,
            id: MessageId::from_bytes([3; 16]),
            for_everyone: true,
        },
        Event::ReactionChanged {
            peer: bob,
            id: MessageId::from_bytes([3; 16]),
            by: carol,
            emoji: None,
        },
        Event::ChangeRefused {
            peer: bob,
            id: MessageId::from_bytes([3; 16]),
            reason: "forged_change".into(),
        },
        Event::MessageExpired {
            peer: bob,
            id: MessageId::from_bytes([3; 16]),
        },
        Event::ProfileChanged {
            peer: bob,
            name: "Bob".into(),
            status: "away".into(),
        },
    ]);
    Rows {
        state: vec![
            (STATE_PROFILE.to_owned(), vec![1; 12]),
            (STATE_SHARING.to_owned(), vec![1, 0]),
        ],
        requests: vec![(
            other,
            RequestRow {
                peer: carol,
                messages: vec![(STAMP, [4; 16]), (STAMP + 1, [5; 16])],
                last_text: "hello?".into(),
                dropped: 2,
            },
        )],
        blocked: vec![(
            other,
            BlockedRow {
                peer: carol,
                since_ms: 1_800_000_000_000,
            },
        )],
        acks: vec![(
            [6; 16],
            AckRow {
                sender: bob,
                id: [7; 16],
            },
        )],
        sightings: vec![(
            [8; 16],
            RelaySightingRow {
                peer: vec![0, 36, 8, 1],
                addresses: vec![vec![4, 127, 0, 0, 1]],
                first_seen_secs: 1_800_000_000,
                last_seen_secs: 1_800_086_400,
                probes: 3,
            },
        )],
        meta: vec![(
            key,
            MetaRow {
                reply_to: Some([1; 16]),
                edited: Some(STAMP + 10),
                deleted: false,
                unsupported: Some(0x42),
                reactions: vec![ReactionRow {
                    by: carol,
                    emoji: "👍".into(),
                    stamp: STAMP + 20,
                }],
            },
        )],
        edits: vec![
            ((conv, [3; 16], STAMP), "first".into()),
            ((conv, [3; 16], STAMP + 10), "second".into()),
        ],
        orphans: vec![
            (
                (conv, [9; 16], (STAMP + 1, [10; 16])),
                OrphanRow {
                    by: bob,
                    change: OrphanChange::Edit("early".into()),
                    expires_ms: 1_802_419_200_000,
                },
            ),
            (
                (conv, [9; 16], (STAMP + 2, [11; 16])),
                OrphanRow {
                    by: bob,
                    change: OrphanChange::Delete,
                    expires_ms: 1_802_419_200_000,
                },
            ),
            (
                (conv, [9; 16], (STAMP + 3, [12; 16])),
                OrphanRow {
                    by: bob,
                    change: OrphanChange::React("😮".into()),
                    expires_ms: 1_802_419_200_000,
                },
            ),
        ],
        event_index: vec![((conv, [3; 16], 4), ())],
        settings: vec![(
            conv,
            ChatSettingsRow {
                muted_until_ms: u64::MAX,
                archived: true,
                pinned: true,
            },
        )],
        timers: vec![(
            conv,
            TimerRow {
                secs: 86_400,
                stamp: STAMP + 30,
            },
        )],
        notices: vec![((conv, STAMP + 30, [13; 16]), NoticeRow::Timer(86_400))],
        expiries: vec![
            (
                key,
                ExpiryRow {
                    secs: 3600,
                    at_ms: Some(1_800_003_600_000),
                },
            ),
            (
                (conv, STAMP + 40, [14; 16]),
                ExpiryRow {
                    secs: 300,
                    at_ms: None,
                },
            ),
        ],
        expiry_queue: vec![((1_800_003_600_000, key), ())],
        profiles: vec![(
            conv,
            ProfileRow {
                name: "Bob".into(),
                status: "at work".into(),
                stamp: STAMP + 50,
            },
        )],
        events: events
            .into_iter()
            .enumerate()
            .map(|(i, e)| (i as u64, EventRow(e)))
            .collect(),
    }
}

fn write_all(store: &Store, rows: &Rows) {
    let mut batch = Batch::new();
    macro_rules! put {
        ($table:ty, $rows:expr) => {
            for (k, v) in $rows {
                batch.put::<$table>(k, v).unwrap();
            }
        };
    }
    put!(State, &rows.state);
    put!(Requests, &rows.requests);
    put!(Blocked, &rows.blocked);
    put!(Acks, &rows.acks);
    put!(RelaySightings, &rows.sightings);
    put!(MessageMeta, &rows.meta);
    put!(EditHistory, &rows.edits);
    put!(Orphans, &rows.orphans);
    put!(EventIndex, &rows.event_index);
    put!(ChatSettings, &rows.settings);
    put!(Timers, &rows.timers);
    put!(Notices, &rows.notices);
    put!(Expiries, &rows.expiries);
    put!(ExpiryQueue, &rows.expiry_queue);
    put!(Profiles, &rows.profiles);
    put!(Events, &rows.events);
    store.commit(batch).unwrap();
}

#[test]
fn the_tables_added_after_v1_read_back_from_their_fixture() {
    let tmp = TempDir::new().unwrap();
    copy_dir(&fixture_dir().join("db"), &tmp.path().join("db"));
    let store = Store::open(tmp.path(), PASSPHRASE).unwrap();
    let expected = rows(&store);
    let state: Vec<_> = all::<State>(&store)
        .into_iter()
        .filter(|(k, _)| k == STATE_PROFILE || k == STATE_SHARING)
        .collect();
    let mut wanted = expected.state.clone();
    wanted.sort();
    assert_eq!(state, wanted);
    assert_eq!(all::<Requests>(&store), expected.requests);
    assert_eq!(all::<Blocked>(&store), expected.blocked);
    assert_eq!(all::<Acks>(&store), expected.acks);
    assert_eq!(all::<RelaySightings>(&store), expected.sightings);
    assert_eq!(all::<MessageMeta>(&store), expected.meta);
    assert_eq!(all::<EditHistory>(&store), expected.edits);
    assert_eq!(all::<Orphans>(&store), expected.orphans);
    assert_eq!(all::<EventIndex>(&store), expected.event_index);
    assert_eq!(all::<ChatSettings>(&store), expected.settings);
    assert_eq!(all::<Timers>(&store), expected.timers);
    assert_eq!(all::<Notices>(&store), expected.notices);
    assert_eq!(all::<Expiries>(&store), expected.expiries);
    assert_eq!(all::<ExpiryQueue>(&store), expected.expiry_queue);
    assert_eq!(all::<Profiles>(&store), expected.profiles);
    assert_eq!(all::<Events>(&store), expected.events);
}

#[test]
#[ignore = "writes the fixture; run once, never again"]
fn generate_the_node_v1_added_fixture() {
    generate(&fixture_dir(), PASSPHRASE, |store| {
        write_all(store, &rows(store))
    });
}
