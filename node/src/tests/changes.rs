//! Replies, edits, deletes and reactions between two in-process nodes, including the orders
//! relays can deliver them in (a change before its message, crossing edits) and changes that
//! break the rules (forged, too late), which a well-behaved node never sends: those are
//! crafted with `Node::send_body`.

use tern_crypto::rand_core::UnwrapErr;

use super::*;
use crate::{
    ChangeError, MessageId, MessageKind, Reaction, SendError,
    body::{Body, Delete, Edit, Reaction as ReactionBody, Text},
    hlc,
    tables::{Messages, Orphans},
    test_utils::wait_for,
};

/// Alice and Bob, contacts of each other, with Bob's events from the start.
struct Pair {
    _dirs: Vec<TempDir>,
    nodes: Vec<Node>,
    alice: Node,
    bob: Node,
    bob_events: crate::EventStream,
}

impl Pair {
    async fn new() -> Self {
        let dirs: Vec<TempDir> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
        let (bootstrap, alice, bob) = contacts(&dirs).await;
        let bob_events = bob.events(crate::From::Oldest);
        Self {
            _dirs: dirs,
            nodes: vec![bootstrap, alice.clone(), bob.clone()],
            alice,
            bob,
            bob_events,
        }
    }

    /// Waits until Bob has message `id` from Alice, and returns it as his history shows it.
    async fn bob_has(&mut self, id: MessageId) -> crate::Message {
        wait_for(&mut self.bob_events, |e| match e {
            Event::MessageReceived(m) if m.id == id => Some(()),
            _ => None,
        })
        .await;
        self.bob_message(id).await
    }

    async fn bob_message(&self, id: MessageId) -> crate::Message {
        let page = self
            .bob
            .history(self.alice.user_id(), 100, None)
            .await
            .unwrap();
        page.messages.into_iter().find(|m| m.id == id).unwrap()
    }

    async fn shutdown(self) {
        for node in self.nodes {
            node.shutdown().await;
        }
    }
}

fn new_id() -> MessageId {
    MessageId::random(&mut UnwrapErr(getrandom::SysRng))
}

/// A stamp `hours` from now on the wall clock.
fn stamp_in(hours: i64) -> hlc::Stamp {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    ((now + hours * 3_600_000) as u64) << 16
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replies_edits_reactions_and_deletes_reach_the_peer() {
    let mut pair = Pair::new().await;
    let (a, b) = (pair.alice.user_id(), pair.bob.user_id());
    let first = pair.alice.send(b, "lunch at 12?").await.unwrap();
    pair.bob_has(first).await;

    // Bob answers with a reply that quotes it; Alice sees which message it answers.
    let mut alice_events = pair.alice.events(crate::From::Oldest);
    let reply = pair.bob.reply(a, first, "yes!").await.unwrap();
    let got = wait_for(&mut alice_events, |e| match e {
        Event::MessageReceived(m) if m.id == reply => Some(m.clone()),
        _ => None,
    })
    .await;
    assert_eq!(got.reply_to, Some(first));
    assert!(matches!(
        pair.bob.reply(a, new_id(), "to nothing").await,
        Err(SendError::NoMessage(_))
    ));

    // Alice edits her message; Bob sees the new text, marked edited, and both versions.
    pair.alice.edit(b, first, "lunch at 1?").await.unwrap();
    let edited = wait_for(&mut pair.bob_events, |e| match e {
        Event::MessageEdited { id, text, .. } if *id == first => Some(text.clone()),
        _ => None,
    })
    .await;
    assert_eq!(edited, "lunch at 1?");
    let shown = pair.bob_message(first).await;
    assert_eq!(shown.text, "lunch at 1?");
    assert!(shown.edited_at_ms.is_some());
    let versions = pair.bob.edit_history(a, first).await.unwrap();
    let texts: Vec<&str> = versions.iter().map(|v| v.text.as_str()).collect();
    assert_eq!(texts, ["lunch at 12?", "lunch at 1?"]);
    // Only the author edits or deletes for everyone.
    assert!(matches!(
        pair.bob.edit(a, first, "mine now").await,
        Err(ChangeError::NotAuthor)
    ));
    assert!(matches!(
        pair.bob.delete(a, first).await,
        Err(ChangeError::NotAuthor)
    ));

    // Bob reacts, changes his reaction, and Alice sees one reaction from him.
    pair.bob.react(a, first, "👍").await.unwrap();
    pair.bob.react(a, first, "🎉").await.unwrap();
    assert!(matches!(
        pair.bob.react(a, first, "ok").await,
        Err(ChangeError::NotAnEmoji)
    ));
    wait_for(&mut alice_events, |e| match e {
        Event::ReactionChanged { id, emoji, .. }
            if *id == first && emoji.as_deref() == Some("🎉") =>
        {
            Some(())
        }
        _ => None,
    })
    .await;
    let page = pair.alice.history(b, 10, None).await.unwrap();
    let mine = page.messages.iter().find(|m| m.id == first).unwrap();
    assert_eq!(
        mine.reactions,
        [Reaction {
            by: b,
            emoji: "🎉".into()
        }]
    );
    pair.bob.react(a, first, "").await.unwrap();
    wait_for(&mut alice_events, |e| match e {
        Event::ReactionChanged {
            id, emoji: None, ..
        } if *id == first => Some(()),
        _ => None,
    })
    .await;

    // Alice deletes it for everyone: Bob keeps a tombstone, and the row's old sealed value
    // and the edit history leave his database files.
    let store = pair.bob.inner_store();
    let stamp = {
        let conv = store.index_id("conversation", a.as_bytes());
        store
            .get::<crate::tables::MessageIndex>(&(conv, *first.as_bytes()))
            .unwrap()
            .unwrap()
    };
    let conv = store.index_id("conversation", a.as_bytes());
    let sealed = store
        .raw_value::<Messages>(&(conv, stamp, *first.as_bytes()))
        .unwrap();
    store.flush().unwrap();
    let files = database_files(pair._dirs[2].path(), &[".sst", ".log"]);
    let needle = &sealed[sealed.len() - 32..];
    assert!(
        files
            .iter()
            .any(|(_, bytes)| bytes.windows(32).any(|w| w == needle)),
        "the test does not look for what the files hold"
    );
    pair.alice.delete(b, first).await.unwrap();
    wait_for(&mut pair.bob_events, |e| match e {
        Event::MessageDeleted {
            id,
            for_everyone: true,
            ..
        } if *id == first => Some(()),
        _ => None,
    })
    .await;
    let shown = pair.bob_message(first).await;
    assert_eq!(shown.kind, MessageKind::Deleted);
    assert!(shown.text.is_empty() && shown.reactions.is_empty());
    assert!(matches!(
        pair.alice.edit(b, first, "again").await,
        Err(ChangeError::Deleted)
    ));
    let versions = pair.bob.edit_history(a, first).await.unwrap();
    assert_eq!(versions.len(), 1, "only the tombstone's empty text is left");
    for chat in pair.bob.chats().await.unwrap() {
        assert!(!chat.last_text.contains("lunch"), "{chat:?}");
    }
    // The event log no longer carries the text either.
    let mut replay = pair.bob.events(crate::From::Oldest);
    let latest = pair.bob.latest_cursor().await.unwrap().unwrap();
    while let Some((cursor, event)) = tokio::time::timeout(TIMEOUT, replay.next()).await.unwrap() {
        let text = match &event {
            Event::MessageReceived(m) => m.text.clone(),
            Event::MessageEdited { text, .. } => text.clone(),
            _ => String::new(),
        };
        assert!(
            !text.starts_with("lunch"),
            "event {cursor} still carries {text:?}"
        );
        if cursor >= latest {
            break;
        }
    }
    tokio::time::timeout(TIMEOUT, async {
        loop {
            let files = database_files(pair._dirs[2].path(), &[".sst", ".log"]);
            if !files
                .iter()
                .any(|(_, bytes)| bytes.windows(32).any(|w| w == needle))
            {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
    .expect("the deleted message's sealed row is still in the files");

    // Delete for me: gone from Bob's history only, and from his unread count (he had not
    // read it).
    let second = pair.alice.send(b, "keep this").await.unwrap();
    pair.bob_has(second).await;
    let unread = async |bob: &Node| {
        let chats = bob.chats().await.unwrap();
        chats
            .iter()
            .find(|c| c.peer == a)
            .map(|c| c.unread)
            .unwrap()
    };
    let before = unread(&pair.bob).await;
    assert!(before >= 1);
    pair.bob.delete_for_me(a, second).await.unwrap();
    assert_eq!(unread(&pair.bob).await, before - 1);
    let page = pair.bob.history(a, 100, None).await.unwrap();
    assert!(page.messages.iter().all(|m| m.id != second));
    let page = pair.alice.history(b, 100, None).await.unwrap();
    assert!(page.messages.iter().any(|m| m.id == second));
    pair.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changes_that_arrive_before_their_message_apply_when_it_comes() {
    let mut pair = Pair::new().await;
    let (a, b) = (pair.alice.user_id(), pair.bob.user_id());
    let now = stamp_in(0);
    let text = |id, text: &str, stamp| {
        Body::Text(Text {
            id,
            stamp,
            text: text.into(),
            reply_to: None,
            expire_secs: None,
        })
    };

    // An edit before its message: the message arrives already edited.
    let edited = new_id();
    pair.alice
        .send_body(
            b,
            Body::Edit(Edit {
                id: new_id(),
                stamp: now + 10,
                target: edited,
                text: "fixed".into(),
            }),
        )
        .await;
    pair.alice.send_body(b, text(edited, "typo", now)).await;
    let shown = pair.bob_has(edited).await;
    assert_eq!(shown.text, "fixed");
    assert!(shown.edited_at_ms.is_some());

    // A delete before its message: the message never appears, not even in the event.
    let deleted = new_id();
    pair.alice
        .send_body(
            b,
            Body::Delete(Delete {
                id: new_id(),
                stamp: now + 20,
                target: deleted,
            }),
        )
        .await;
    pair.alice
        .send_body(b, text(deleted, "oops, wrong chat", now + 1))
        .await;
    let got = wait_for(&mut pair.bob_events, |e| match e {
        Event::MessageReceived(m) if m.id == deleted => Some(m.clone()),
        _ => None,
    })
    .await;
    assert_eq!(got.kind, MessageKind::Deleted);
    assert!(got.text.is_empty());

    // Two edits that cross: the later one (by stamp) wins whatever the order of arrival.
    let crossed = new_id();
    pair.alice.send_body(b, text(crossed, "v1", now + 30)).await;
    pair.bob_has(crossed).await;
    for (stamp, new) in [(now + 50, "v3"), (now + 40, "v2")] {
        pair.alice
            .send_body(
                b,
                Body::Edit(Edit {
                    id: new_id(),
                    stamp,
                    target: crossed,
                    text: new.into(),
                }),
            )
            .await;
    }
    // A reaction behind them, to know both edits were processed.
    let marker = new_id();
    pair.alice
        .send_body(
            b,
            Body::Reaction(ReactionBody {
                id: marker,
                stamp: now + 60,
                target: crossed,
                emoji: "✅".into(),
            }),
        )
        .await;
    wait_for(&mut pair.bob_events, |e| match e {
        Event::ReactionChanged { id, .. } if *id == crossed => Some(()),
        _ => None,
    })
    .await;
    assert_eq!(pair.bob_message(crossed).await.text, "v3");
    let versions = pair.bob.edit_history(a, crossed).await.unwrap();
    assert_eq!(versions.len(), 3);

    // A kind of message this version does not know is kept and shown as unsupported.
    let future = new_id();
    pair.alice
        .send_body(
            b,
            Body::Unsupported {
                id: future,
                stamp: now + 70,
                content_type: 0x42,
            },
        )
        .await;
    assert_eq!(
        pair.bob_has(future).await.kind,
        MessageKind::Unsupported { content_type: 0x42 }
    );
    pair.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_and_late_changes_are_refused_and_counted() {
    let mut pair = Pair::new().await;
    let (a, b) = (pair.alice.user_id(), pair.bob.user_id());
    // Bob's own message, which Alice tries to edit and delete.
    let mut alice_events = pair.alice.events(crate::From::Oldest);
    let bobs = pair.bob.send(a, "my words").await.unwrap();
    wait_for(&mut alice_events, |e| match e {
        Event::MessageReceived(m) if m.id == bobs => Some(()),
        _ => None,
    })
    .await;
    let now = stamp_in(0);
    pair.alice
        .send_body(
            b,
            Body::Edit(Edit {
                id: new_id(),
                stamp: now,
                target: bobs,
                text: "forged".into(),
            }),
        )
        .await;
    pair.alice
        .send_body(
            b,
            Body::Delete(Delete {
                id: new_id(),
                stamp: now + 1,
                target: bobs,
            }),
        )
        .await;
    // A message of Alice's from 26 hours ago, edited now: past the window.
    let old = new_id();
    pair.alice
        .send_body(
            b,
            Body::Text(Text {
                id: old,
                stamp: stamp_in(-26),
                text: "old".into(),
                reply_to: None,
                expire_secs: None,
            }),
        )
        .await;
    pair.alice
        .send_body(
            b,
            Body::Edit(Edit {
                id: new_id(),
                stamp: now + 2,
                target: old,
                text: "rewritten".into(),
            }),
        )
        .await;
    let mut refused = Vec::new();
    wait_for(&mut pair.bob_events, |e| {
        if let Event::ChangeRefused { reason, .. } = e {
            refused.push(reason.clone());
        }
        (refused.len() == 3).then_some(())
    })
    .await;
    assert_eq!(refused, ["forged_change", "forged_change", "edit_window"]);
    let status = pair.bob.status().await.unwrap();
    assert_eq!(status.rejections["forged_change"], 2);
    assert_eq!(status.rejections["edit_window"], 1);
    let page = pair.bob.history(a, 10, None).await.unwrap();
    let mine = page.messages.iter().find(|m| m.id == bobs).unwrap();
    assert_eq!(
        (mine.text.as_str(), mine.kind),
        ("my words", MessageKind::Text)
    );
    assert_eq!(
        page.messages.iter().find(|m| m.id == old).unwrap().text,
        "old"
    );
    pair.shutdown().await;
}

/// A change whose message never comes is held for its retention (28 days), then goes by the
/// node's own upkeep, without a restart: a node that runs for months does not keep them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_whose_message_never_comes_goes_when_its_retention_ends() {
    let clock = crate::Clock::manual(crate::Clock::system().now_ms());
    let dirs: Vec<TempDir> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    let bootstrap = start_on(dirs[0].path(), &clock, &[]).await;
    let seed = bootstrap.addresses().await;
    let alice = start_on(dirs[1].path(), &clock, &seed).await;
    let bob = start_on(dirs[2].path(), &clock, &seed).await;
    let b = bob.user_id();
    alice.add_contact("bob", b).await.unwrap();
    bob.add_contact("alice", alice.user_id()).await.unwrap();
    let orphans = || {
        bob.inner_store()
            .scan::<Orphans>(.., Direction::Forward, usize::MAX)
            .unwrap()
            .len()
    };
    // An edit of a message that Bob never gets. Simulated time runs meanwhile: a first
    // attempt that finds no record of Bob yet (a busy machine) retries on this clock.
    let edit = alice.send_body(
        b,
        Body::Edit(Edit {
            id: new_id(),
            stamp: stamp_in(0),
            target: new_id(),
            text: "never shown".into(),
        }),
    );
    drive_until(&clock, edit).await;
    until_driving(&clock, "the edit was not held", || orphans() == 1).await;

    // Past the retention, the next pruning pass deletes it.
    clock.advance(Duration::from_secs(29 * 24 * 3600));
    until_driving(&clock, "the held edit outlived its retention", || {
        orphans() == 0
    })
    .await;

    for node in [alice, bob, bootstrap] {
        node.shutdown().await;
    }
}
