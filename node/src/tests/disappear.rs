//! Disappearing messages and profiles between two in-process nodes on a shared manual clock:
//! the timer as a notice on both sides, the clock starting at sending and at reading, the
//! erasure from history, search, chat list, event log and database files, a restart after
//! the expiry, and profiles shared with contacts.

use std::time::Duration;

use tempfile::TempDir;

use super::{TIMEOUT, database_files, start_on as start, wait_driving};
use crate::{Clock, Event, MessageKind, SendError, tables::Messages, test_utils::wait_for};

/// Whether any database file of the node in `dir` holds `needle`.
fn files_hold(dir: &std::path::Path, needle: &[u8]) -> bool {
    database_files(dir, &[".sst", ".log"])
        .iter()
        .any(|(_, bytes)| bytes.windows(needle.len()).any(|w| w == needle))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disappearing_messages_are_erased_after_sending_and_after_reading() {
    let clock = Clock::manual(Clock::system().now_ms());
    let dirs: Vec<TempDir> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    let bootstrap = start(dirs[0].path(), &clock, &[]).await;
    let seed = bootstrap.addresses().await;
    let alice = start(dirs[1].path(), &clock, &seed).await;
    let mut bob = start(dirs[2].path(), &clock, &seed).await;
    let (a, b) = (alice.user_id(), bob.user_id());
    alice.add_contact("bob", b).await.unwrap();
    bob.add_contact("alice", a).await.unwrap();
    let mut alice_events = alice.events(crate::From::Now);
    let mut bob_events = bob.events(crate::From::Now);

    assert!(matches!(
        alice
            .set_disappearing(b, Some(Duration::from_secs(7)))
            .await,
        Err(SendError::BadTimer(7))
    ));
    let five_minutes = Duration::from_secs(300);
    let notice = alice.set_disappearing(b, Some(five_minutes)).await.unwrap();
    // The first delivery may need a retry, which only simulated time brings.
    let shown = wait_driving(&mut bob_events, &clock, |e| match e {
        Event::MessageReceived(m) if m.id == notice => Some(m.clone()),
        _ => None,
    })
    .await;
    assert_eq!(shown.kind, MessageKind::Timer { secs: 300 });
    // A notice is no message to change, for its author or the peer.
    let refused = alice.edit(b, notice, "forged").await;
    assert!(
        matches!(refused, Err(crate::ChangeError::NoMessage(id)) if id == notice),
        "{refused:?}"
    );
    let refused = bob.react(a, notice, "👍").await;
    assert!(
        matches!(refused, Err(crate::ChangeError::NoMessage(_))),
        "{refused:?}"
    );
    let bob_chat = bob.chats().await.unwrap().remove(0);
    assert_eq!(
        bob_chat.disappear_secs,
        Some(300),
        "Bob follows Alice's timer"
    );

    let secret = alice.send(b, "vanishing ink").await.unwrap();
    let sent = wait_for(&mut alice_events, |e| match e {
        Event::MessageSent(m) if m.id == secret => Some(m.clone()),
        _ => None,
    })
    .await;
    assert_eq!(sent.disappear_secs, Some(300));
    assert_eq!(sent.expires_at_ms, Some(clock.now_ms() + 300_000));
    let received = wait_driving(&mut bob_events, &clock, |e| match e {
        Event::MessageReceived(m) if m.id == secret => Some(m.clone()),
        _ => None,
    })
    .await;
    assert_eq!(received.disappear_secs, Some(300));
    assert_eq!(
        received.expires_at_ms, None,
        "Bob's clock starts when he reads it"
    );
    assert_eq!(
        bob.search("vanishing", None, 10, None)
            .await
            .unwrap()
            .hits
            .len(),
        1
    );

    // Bob's copy of the row, sealed as it sits in his files.
    let store = bob.inner_store();
    let conv = store.index_id("conversation", a.as_bytes());
    let stamp = store
        .get::<crate::tables::MessageIndex>(&(conv, *secret.as_bytes()))
        .unwrap()
        .unwrap();
    let sealed = store
        .raw_value::<Messages>(&(conv, stamp, *secret.as_bytes()))
        .unwrap();
    store.flush().unwrap();
    let needle = sealed[sealed.len() - 32..].to_vec();
    assert!(
        files_hold(dirs[2].path(), &needle),
        "the test looks for what the files hold"
    );
    drop(store);

    // Five minutes on: Alice's copy runs out; Bob's, unread, does not.
    clock.advance(five_minutes + Duration::from_secs(1));
    wait_for(&mut alice_events, |e| match e {
        Event::MessageExpired { id, .. } if *id == secret => Some(()),
        _ => None,
    })
    .await;
    let alice_page = alice.history(b, 100, None).await.unwrap();
    assert!(alice_page.messages.iter().all(|m| m.id != secret));
    let bob_page = bob.history(a, 100, None).await.unwrap();
    assert!(bob_page.messages.iter().any(|m| m.id == secret));

    // Bob reads it, and stops his node before its time runs out. The expiry passes while the
    // node is down: at the next start the message is gone before anything is served.
    bob.mark_read(a).await.unwrap();
    let page = bob.history(a, 100, None).await.unwrap();
    let read = page.messages.iter().find(|m| m.id == secret).unwrap();
    assert_eq!(read.expires_at_ms, Some(clock.now_ms() + 300_000));
    bob.shutdown().await;
    clock.advance(five_minutes + Duration::from_secs(1));
    bob = start(dirs[2].path(), &clock, &seed).await;
    let page = bob.history(a, 100, None).await.unwrap();
    assert!(
        page.messages.iter().all(|m| m.id != secret),
        "expired while stopped"
    );
    assert!(
        bob.search("vanishing", None, 10, None)
            .await
            .unwrap()
            .hits
            .is_empty()
    );
    for chat in bob.chats().await.unwrap() {
        assert!(!chat.last_text.contains("vanishing"), "{chat:?}");
    }
    let mut replay = bob.events(crate::From::Oldest);
    let latest = bob.latest_cursor().await.unwrap().unwrap();
    while let Some((cursor, event)) =
        tokio::time::timeout(TIMEOUT, futures::StreamExt::next(&mut replay))
            .await
            .unwrap()
    {
        if let Event::MessageReceived(m) = &event {
            assert!(!m.text.contains("vanishing"), "event {cursor} carries it");
        }
        if cursor >= latest {
            break;
        }
    }
    tokio::time::timeout(TIMEOUT, async {
        while files_hold(dirs[2].path(), &needle) {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
    .expect("the expired message's sealed row is still in the files");

    // Bob turns the timer off; Alice sees it, and what she sends stays.
    let mut alice_events = alice.events(crate::From::Now);
    bob.set_disappearing(a, None).await.unwrap();
    wait_for(&mut alice_events, |e| match e {
        Event::MessageReceived(m) if m.kind == (MessageKind::Timer { secs: 0 }) => Some(()),
        _ => None,
    })
    .await;
    assert_eq!(alice.chats().await.unwrap()[0].disappear_secs, None);
    let kept = alice.send(b, "this one stays").await.unwrap();
    let page = alice.history(b, 100, None).await.unwrap();
    let kept = page.messages.iter().find(|m| m.id == kept).unwrap();
    assert_eq!((kept.disappear_secs, kept.expires_at_ms), (None, None));

    for node in [alice, bob, bootstrap] {
        node.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn profiles_reach_contacts_and_a_local_name_comes_first() {
    let clock = Clock::system();
    let dirs: Vec<TempDir> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    let bootstrap = start(dirs[0].path(), &clock, &[]).await;
    let seed = bootstrap.addresses().await;
    let alice = start(dirs[1].path(), &clock, &seed).await;
    let bob = start(dirs[2].path(), &clock, &seed).await;
    let (a, b) = (alice.user_id(), bob.user_id());
    assert!(
        alice.set_profile("", "x").await.is_err(),
        "a name is needed"
    );
    assert!(alice.set_profile("A\u{1b}[2J", "").await.is_err());
    assert_eq!(alice.profile().await.unwrap(), None);

    // Alice sets her profile before Bob is a contact: he gets it once she adds him.
    let mut bob_events = bob.events(crate::From::Now);
    assert_eq!(
        alice
            .set_profile("Alice Liddell", "down the rabbit hole")
            .await
            .unwrap(),
        0
    );
    bob.add_contact("ally", a).await.unwrap();
    alice.add_contact("bob", b).await.unwrap();
    let (name, status) = wait_for(&mut bob_events, |e| match e {
        Event::ProfileChanged { peer, name, status } if *peer == a => {
            Some((name.clone(), status.clone()))
        }
        _ => None,
    })
    .await;
    assert_eq!(
        (name.as_str(), status.as_str()),
        ("Alice Liddell", "down the rabbit hole")
    );
    let contact = bob.contacts().await.unwrap().remove(0);
    assert_eq!(contact.name, "ally", "the name Bob gave comes first");
    assert_eq!(contact.profile.unwrap().name, "Alice Liddell");

    // Bob shares his; then Alice changes hers, and the newer one wins.
    let mut alice_events = alice.events(crate::From::Now);
    assert_eq!(bob.set_profile("Bob", "").await.unwrap(), 1);
    wait_for(&mut alice_events, |e| {
        matches!(e, Event::ProfileChanged { peer, .. } if *peer == b).then_some(())
    })
    .await;
    alice.set_profile("Alice", "back home").await.unwrap();
    wait_for(&mut bob_events, |e| match e {
        Event::ProfileChanged { status, .. } if status == "back home" => Some(()),
        _ => None,
    })
    .await;
    let contact = bob.contacts().await.unwrap().remove(0);
    assert_eq!(contact.profile.unwrap().status, "back home");
    assert_eq!(
        alice.profile().await.unwrap().map(|p| p.name),
        Some("Alice".to_owned())
    );
    for node in [alice, bob, bootstrap] {
        node.shutdown().await;
    }
}
