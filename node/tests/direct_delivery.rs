//! Two nodes that know only a bootstrap node find each other through the DHT and exchange
//! messages both ways, with delivery and read receipts.

#[path = "support/harness.rs"]
mod support;

use support::{TestNode, wait_for};
use tern_node::{DeliveryState, Direction, Event};

/// A bootstrap node, and Alice and Bob, who know only it and are each other's contacts.
async fn contacts() -> (TestNode, TestNode, TestNode) {
    let bootstrap = TestNode::start("bootstrap", &[]).await;
    let seed = bootstrap.node.addresses().await;
    let alice = TestNode::start("alice", &seed).await;
    let bob = TestNode::start("bob", &seed).await;
    let (a, b) = (alice.node.user_id(), bob.node.user_id());
    alice.node.add_contact("bob", b).await.unwrap();
    bob.node.add_contact("alice", a).await.unwrap();
    (bootstrap, alice, bob)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_find_each_other_through_the_dht_and_chat() {
    let (bootstrap, alice, bob) = contacts().await;
    let (a, b) = (alice.node.user_id(), bob.node.user_id());

    let mut alice_events = alice.node.events(tern_node::From::Oldest);
    let mut bob_events = bob.node.events(tern_node::From::Oldest);

    let id = alice.node.send(b, "hello Bob").await.unwrap();
    let received = wait_for(&mut bob_events, |e| match e {
        Event::MessageReceived(m) if m.id == id => Some(m.clone()),
        _ => None,
    })
    .await;
    assert_eq!(
        (received.text.as_str(), received.peer, received.direction),
        ("hello Bob", a, Direction::Incoming)
    );
    wait_for(&mut alice_events, |e| match e {
        Event::DeliveryStateChanged {
            id: i,
            state: DeliveryState::Delivered,
            ..
        } if *i == id => Some(()),
        _ => None,
    })
    .await;

    // Bob reads it: Alice sees the read receipt.
    assert_eq!(bob.node.mark_read(a).await.unwrap(), 1);
    wait_for(&mut alice_events, |e| match e {
        Event::DeliveryStateChanged {
            id: i,
            state: DeliveryState::Read,
            ..
        } if *i == id => Some(()),
        _ => None,
    })
    .await;

    // And replies.
    let reply = bob.node.send(a, "hi Alice").await.unwrap();
    let got = wait_for(&mut alice_events, |e| match e {
        Event::MessageReceived(m) if m.id == reply => Some(m.text.clone()),
        _ => None,
    })
    .await;
    assert_eq!(got, "hi Alice");

    // Both histories hold both messages, in the same order.
    let alice_history = alice.node.history(b, 10, None).await.unwrap();
    let bob_history = bob.node.history(a, 10, None).await.unwrap();
    let ids = |page: &tern_node::Page| page.messages.iter().map(|m| m.id).collect::<Vec<_>>();
    assert_eq!(ids(&alice_history), vec![id, reply]);
    assert_eq!(ids(&alice_history), ids(&bob_history));
    assert_eq!(alice_history.messages[0].state, DeliveryState::Read);

    for node in [alice, bob, bootstrap] {
        node.node.shutdown().await;
    }
}

/// Marking a chat read finds every unread message, however long the chat: more than one
/// page of the rows it reads back, and again after everything older was read.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn marking_read_finds_every_unread_message_of_a_long_chat() {
    let (bootstrap, alice, bob) = contacts().await;
    let (a, b) = (alice.node.user_id(), bob.node.user_id());
    let mut bob_events = bob.node.events(tern_node::From::Oldest);

    // Bob's own messages sit between Alice's: they are read already and not counted.
    let mut from_alice = std::collections::HashSet::new();
    for i in 0..300 {
        from_alice.insert(alice.node.send(b, format!("a{i}")).await.unwrap());
        if i % 50 == 0 {
            bob.node.send(a, format!("b{i}")).await.unwrap();
        }
    }
    let mut waiting = from_alice.clone();
    while !waiting.is_empty() {
        let id = wait_for(&mut bob_events, |e| match e {
            Event::MessageReceived(m) => Some(m.id),
            _ => None,
        })
        .await;
        waiting.remove(&id);
    }
    assert_eq!(bob.node.mark_read(a).await.unwrap(), 300);
    let page = bob.node.history(a, 400, None).await.unwrap();
    assert!(
        page.messages
            .iter()
            .filter(|m| m.direction == Direction::Incoming)
            .all(|m| m.read)
    );
    assert_eq!(
        bob.node.mark_read(a).await.unwrap(),
        0,
        "nothing left unread"
    );

    let last = alice.node.send(b, "one more").await.unwrap();
    wait_for(&mut bob_events, |e| match e {
        Event::MessageReceived(m) if m.id == last => Some(()),
        _ => None,
    })
    .await;
    assert_eq!(bob.node.mark_read(a).await.unwrap(), 1);
    for node in [alice, bob, bootstrap] {
        node.node.shutdown().await;
    }
}
