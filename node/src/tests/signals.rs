//! Typing indicators and presence between two in-process nodes on a shared manual clock:
//! opt-in, reciprocal, rate-limited, never stored, never through relays.

use std::time::Duration;

use futures::StreamExt;
use tempfile::TempDir;

use super::{TIMEOUT, start_on as start, wait_driving};
use crate::{Clock, Event, Node, Sharing, UserId, test_utils::wait_for};

/// Alice and Bob, contacts who have written to each other (so sessions and a connection
/// exist), on `clock`.
async fn pair(dirs: &[TempDir], clock: &Clock) -> (Node, Node, Node) {
    let bootstrap = start(dirs[0].path(), clock, &[]).await;
    let seed = bootstrap.addresses().await;
    let alice = start(dirs[1].path(), clock, &seed).await;
    let bob = start(dirs[2].path(), clock, &seed).await;
    let (a, b) = (alice.user_id(), bob.user_id());
    alice.add_contact("bob", b).await.unwrap();
    bob.add_contact("alice", a).await.unwrap();
    let mut alice_events = alice.events(crate::From::Now);
    let mut bob_events = bob.events(crate::From::Now);
    let received = |text: &'static str| {
        move |e: &Event| matches!(e, Event::MessageReceived(m) if m.text == text).then_some(())
    };
    alice.send(b, "hi bob").await.unwrap();
    wait_driving(&mut bob_events, clock, received("hi bob")).await;
    bob.send(a, "hi alice").await.unwrap();
    wait_driving(&mut alice_events, clock, received("hi alice")).await;
    (bootstrap, alice, bob)
}

fn typing_of(peer: UserId) -> impl FnMut(&Event) -> Option<bool> {
    move |e| match e {
        Event::Typing { peer: p, active } if *p == peer => Some(*active),
        _ => None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn typing_is_opt_in_rate_limited_and_never_logged() {
    let clock = Clock::manual(Clock::system().now_ms());
    let dirs: Vec<TempDir> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    let (bootstrap, alice, bob) = pair(&dirs, &clock).await;
    let (a, b) = (alice.user_id(), bob.user_id());
    let log_before = bob.latest_cursor().await.unwrap();

    assert!(
        !alice.typing(b, true).await.unwrap(),
        "typing is off until turned on"
    );
    let both = Sharing {
        typing: true,
        presence: false,
    };
    assert_eq!(alice.set_sharing(both).await.unwrap(), both);
    bob.set_sharing(both).await.unwrap();
    assert_eq!(bob.sharing().await.unwrap(), both);

    let mut bob_events = bob.events(crate::From::Now);
    assert!(alice.typing(b, true).await.unwrap());
    assert!(wait_for(&mut bob_events, typing_of(a)).await);
    assert!(bob.chats().await.unwrap()[0].typing);
    // Key presses within the refresh period send nothing more.
    for _ in 0..50 {
        assert!(!alice.typing(b, true).await.unwrap());
    }
    assert!(alice.typing(b, false).await.unwrap());
    assert!(!wait_for(&mut bob_events, typing_of(a)).await);
    assert!(!alice.typing(b, false).await.unwrap(), "one stop per start");

    // A typing contact who goes quiet stops being shown after the timeout.
    clock.advance(Duration::from_secs(2));
    assert!(alice.typing(b, true).await.unwrap());
    assert!(wait_for(&mut bob_events, typing_of(a)).await);
    clock.advance(crate::TYPING_TIMEOUT + Duration::from_secs(1));
    assert!(!wait_for(&mut bob_events, typing_of(a)).await);

    // Turning typing off hides Alice's at once (reciprocity).
    clock.advance(crate::TYPING_REFRESH);
    assert!(alice.typing(b, true).await.unwrap());
    assert!(wait_for(&mut bob_events, typing_of(a)).await);
    bob.set_sharing(Sharing::default()).await.unwrap();
    assert!(!wait_for(&mut bob_events, typing_of(a)).await);
    assert!(!bob.typing(a, true).await.unwrap(), "and Bob sends none");

    // Nothing of it is in history or in the event log.
    let page = bob.history(a, 100, None).await.unwrap();
    assert_eq!(page.messages.len(), 2, "{:?}", page.messages);
    let mut replay = bob.events(crate::From::After(log_before.unwrap()));
    let latest = bob.latest_cursor().await.unwrap();
    if latest > log_before {
        loop {
            let (cursor, event) = tokio::time::timeout(TIMEOUT, replay.next())
                .await
                .unwrap()
                .unwrap();
            assert!(!event.is_ephemeral(), "{event:?} was logged");
            if Some(cursor) >= latest {
                break;
            }
        }
    }

    // Never queued for later, never through relays: with Bob gone (Alice may not have
    // noticed his connection closing yet), nothing waits in the outbox.
    bob.shutdown().await;
    clock.advance(crate::TYPING_REFRESH);
    alice.typing(b, true).await.unwrap();
    assert_eq!(alice.status().await.unwrap().outbox, 0);
    for node in [alice, bootstrap] {
        node.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn presence_goes_to_contacts_who_share_it_and_runs_out() {
    let clock = Clock::manual(Clock::system().now_ms());
    let dirs: Vec<TempDir> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    let (bootstrap, alice, bob) = pair(&dirs, &clock).await;
    let (a, b) = (alice.user_id(), bob.user_id());
    let presence = Sharing {
        typing: false,
        presence: true,
    };
    let mut alice_events = alice.events(crate::From::Now);
    let mut bob_events = bob.events(crate::From::Now);
    alice.set_sharing(presence).await.unwrap();
    bob.set_sharing(presence).await.unwrap();
    let online_of = |peer: UserId| {
        move |e: &Event| match e {
            Event::Presence {
                peer: p,
                online,
                last_seen_ms,
            } if *p == peer => Some((*online, *last_seen_ms)),
            _ => None,
        }
    };
    assert!(wait_for(&mut bob_events, online_of(a)).await.0);
    assert!(wait_for(&mut alice_events, online_of(b)).await.0);
    let shown = bob.chats().await.unwrap()[0].presence.unwrap();
    assert!(shown.online);

    // Alice goes away without a word: Bob shows her offline once her presence runs out,
    // with the time she was last seen.
    alice.shutdown().await;
    let seen = shown.last_seen_ms;
    clock.advance(Duration::from_secs(151));
    let (online, last_seen_ms) = wait_for(&mut bob_events, online_of(a)).await;
    assert!(!online);
    assert!(last_seen_ms >= seen && last_seen_ms < clock.now_ms());
    for node in [bob, bootstrap] {
        node.shutdown().await;
    }
}
