//! When a session's PQXDH header stops travelling.

use super::*;
use crate::{DeliveryState, tables::Sessions, test_utils::wait_for};

/// `node`'s stored sessions with `peer`, newest first.
fn stored_sessions(node: &Node, peer: &UserId) -> Vec<tern_crypto::Session> {
    let store = node.inner_store();
    let conv = store.index_id("conversation", peer.as_bytes());
    store
        .get::<Sessions>(&conv)
        .unwrap()
        .unwrap_or_default()
        .iter()
        .map(|bytes| tern_crypto::Session::from_bytes(bytes).unwrap())
        .collect()
}

/// Bob never writes back. Once his device has answered `stored` for a message that carried
/// the PQXDH header, Alice's stored session is confirmed (she stops sending the header), and
/// Bob reads what she sends after it, in the session her first message started, also after
/// she restarts.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stored_answer_confirms_a_session_that_never_got_a_reply() {
    let dirs: Vec<TempDir> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    let (bootstrap, alice, bob) = contacts(&dirs).await;
    let seed = bootstrap.addresses().await;
    let (alice_user, bob_user) = (alice.user_id(), bob.user_id());
    let mut alice_events = alice.events(crate::From::Oldest);
    let mut bob_events = bob.events(crate::From::Oldest);

    let first = alice.send(bob_user, "first").await.unwrap();
    wait_received(&mut bob_events, "first").await;
    wait_for(&mut alice_events, |event| match event {
        Event::DeliveryStateChanged {
            id,
            state: DeliveryState::Delivered,
            ..
        } if *id == first => Some(()),
        _ => None,
    })
    .await;
    let sessions = stored_sessions(&alice, &bob_user);
    assert_eq!(sessions.len(), 1);
    assert!(
        !sessions[0].is_unconfirmed(),
        "Bob's device stored the message that started the session"
    );

    alice.send(bob_user, "second").await.unwrap();
    wait_received(&mut bob_events, "second").await;

    alice.shutdown().await;
    let alice = start(dirs[1].path(), &seed).await;
    assert!(!stored_sessions(&alice, &bob_user)[0].is_unconfirmed());
    alice.send(bob_user, "after a restart").await.unwrap();
    wait_received(&mut bob_events, "after a restart").await;
    let (ours, theirs) = (
        stored_sessions(&alice, &bob_user),
        stored_sessions(&bob, &alice_user),
    );
    assert_eq!((ours.len(), theirs.len()), (1, 1));
    assert_eq!(ours[0].base_key(), theirs[0].base_key());
}
