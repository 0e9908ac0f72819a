//! Message requests and blocking: a stranger's messages wait apart until the user accepts
//! them, are capped, and a blocked sender is refused; strangers stay at the stranger rate.

#[path = "support/harness.rs"]
mod support;

use std::time::Duration;

use support::{EVENT_TIMEOUT, TestNode, wait_for};
use tern_node::{
    ChatChange, ChatError, DeliveryState, Event, MAX_REQUEST_MESSAGES_PER_SENDER, SendError,
};

/// Waits until `check` holds for the node's status, asking again after each short pause.
async fn until_status(node: &tern_node::Node, check: impl Fn(&tern_node::NodeStatus) -> bool) {
    tokio::time::timeout(EVENT_TIMEOUT, async {
        loop {
            if check(&node.status().await.unwrap()) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
    .expect("the status never got there");
}

/// A bootstrap node, and Alice and Bob, who have not added each other.
async fn strangers() -> (TestNode, TestNode, TestNode) {
    let bootstrap = TestNode::start("bootstrap", &[]).await;
    let seed = bootstrap.node.addresses().await;
    let alice = TestNode::start("alice", &seed).await;
    let bob = TestNode::start("bob", &seed).await;
    (bootstrap, alice, bob)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_strangers_messages_are_a_request_until_accepted() {
    let (_bootstrap, alice, bob) = strangers().await;
    let (a, b) = (alice.node.user_id(), bob.node.user_id());
    let mut bob_events = bob.node.events(tern_node::From::Oldest);

    // Bob never added Alice: her message is a request, not a chat message.
    let first = alice
        .node
        .send(b, "hi, we met at the conference")
        .await
        .unwrap();
    let request = wait_for(&mut bob_events, |e| match e {
        Event::MessageReceived(m) => panic!("a stranger's message reached the chats: {m:?}"),
        Event::RequestReceived(m) => Some(m.clone()),
        _ => None,
    })
    .await;
    assert_eq!((request.id, request.peer), (first, a));
    assert!(bob.node.chats().await.unwrap().is_empty());
    let requests = bob.node.requests().await.unwrap();
    assert_eq!(requests.len(), 1);
    assert_eq!((requests[0].peer, requests[0].messages), (a, 1));
    assert_eq!(
        requests[0].last_text, "hi, we met at the conference",
        "the request shows its last message"
    );
    let page = bob.node.history(a, 10, None).await.unwrap();
    assert_eq!(
        page.messages.len(),
        1,
        "a request can be read before answering"
    );
    assert_eq!(
        bob.node.mark_read(a).await.unwrap(),
        0,
        "reading a request sends no read receipt"
    );

    // Accepted: it is a chat, and the next message is a chat message.
    bob.node.accept_request(a).await.unwrap();
    wait_for(&mut bob_events, |e| {
        matches!(
            e,
            Event::ChatChanged {
                change: ChatChange::Accepted,
                ..
            }
        )
        .then_some(())
    })
    .await;
    assert!(bob.node.requests().await.unwrap().is_empty());
    let chats = bob.node.chats().await.unwrap();
    assert_eq!((chats.len(), chats[0].peer, chats[0].unread), (1, a, 1));
    assert!(matches!(
        bob.node.accept_request(a).await,
        Err(ChatError::NoRequest(_))
    ));
    let second = alice.node.send(b, "so, coffee?").await.unwrap();
    wait_for(&mut bob_events, |e| match e {
        Event::MessageReceived(m) if m.id == second => Some(()),
        Event::RequestReceived(m) => panic!("an accepted sender's message is a request: {m:?}"),
        _ => None,
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stranger_is_capped_and_writing_back_accepts_them() {
    let (_bootstrap, alice, bob) = strangers().await;
    let (a, b) = (alice.node.user_id(), bob.node.user_id());
    let mut alice_events = alice.node.events(tern_node::From::Oldest);

    let extra = 5;
    let mut ids = Vec::new();
    for i in 0..MAX_REQUEST_MESSAGES_PER_SENDER + extra {
        ids.push(alice.node.send(b, format!("spam {i}")).await.unwrap());
    }
    // Every one was stored (direct deliveries answer once durable), the oldest then dropped.
    let mut delivered = std::collections::HashSet::new();
    wait_for(&mut alice_events, |e| {
        if let Event::DeliveryStateChanged {
            id,
            state: DeliveryState::Delivered,
            ..
        } = e
        {
            delivered.insert(*id);
        }
        (delivered.len() == ids.len()).then_some(())
    })
    .await;
    let requests = bob.node.requests().await.unwrap();
    assert_eq!(requests.len(), 1);
    assert_eq!(
        (requests[0].messages as usize, requests[0].dropped as usize),
        (MAX_REQUEST_MESSAGES_PER_SENDER, extra)
    );
    let page = bob.node.history(a, 100, None).await.unwrap();
    assert_eq!(page.messages.len(), MAX_REQUEST_MESSAGES_PER_SENDER);
    assert_eq!(
        page.messages[0].text,
        format!("spam {extra}"),
        "the oldest went"
    );
    assert_eq!(
        bob.node.status().await.unwrap().rejections["request_dropped"],
        extra as u64
    );

    // Writing back accepts: the request becomes the chat.
    bob.node.send(a, "who is this?").await.unwrap();
    assert!(bob.node.requests().await.unwrap().is_empty());
    let chats = bob.node.chats().await.unwrap();
    assert_eq!(chats.len(), 1);
    assert_eq!(chats[0].last_text, "who is this?");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_blocked_sender_is_refused_until_unblocked() {
    let (_bootstrap, alice, bob) = strangers().await;
    let (a, b) = (alice.node.user_id(), bob.node.user_id());
    let mut alice_events = alice.node.events(tern_node::From::Oldest);
    let mut bob_events = bob.node.events(tern_node::From::Oldest);

    alice.node.send(b, "buy my stuff").await.unwrap();
    wait_for(&mut bob_events, |e| {
        matches!(e, Event::RequestReceived(_)).then_some(())
    })
    .await;
    bob.node.block(a).await.unwrap();
    assert_eq!(bob.node.blocked().await.unwrap(), vec![a]);
    assert!(
        bob.node.requests().await.unwrap().is_empty(),
        "blocking deletes the request"
    );
    assert!(
        bob.node
            .history(a, 10, None)
            .await
            .unwrap()
            .messages
            .is_empty()
    );
    assert!(matches!(
        bob.node.send(a, "stop").await,
        Err(SendError::Blocked(_))
    ));

    // The first delivery after the block is opened and refused; later ones are refused by
    // the network task before opening. Nothing is stored, and Alice gives up on each.
    for i in 0..3 {
        let id = alice.node.send(b, format!("again {i}")).await.unwrap();
        wait_for(&mut alice_events, |e| match e {
            Event::DeliveryStateChanged {
                id: failed,
                state: DeliveryState::Failed,
                ..
            } if *failed == id => Some(()),
            _ => None,
        })
        .await;
    }
    assert!(
        bob.node
            .history(a, 10, None)
            .await
            .unwrap()
            .messages
            .is_empty()
    );
    assert!(bob.node.requests().await.unwrap().is_empty());
    until_status(&bob.node, |s| s.rejections["delivery_blocked"] >= 1).await;

    // Unblocked, Alice is a stranger again: her next message is a request.
    bob.node.unblock(a).await.unwrap();
    assert!(bob.node.blocked().await.unwrap().is_empty());
    let id = alice.node.send(b, "sorry").await.unwrap();
    wait_for(&mut bob_events, |e| match e {
        Event::RequestReceived(m) if m.id == id => Some(()),
        _ => None,
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stranger_stays_at_the_stranger_rate_until_accepted() {
    let (_bootstrap, alice, bob) = strangers().await;
    let (a, b) = (alice.node.user_id(), bob.node.user_id());
    let mut bob_events = bob.node.events(tern_node::From::Oldest);

    // Far past the stranger's burst of 200, faster than its refill of 100 a second: sent
    // at once, so they are accepted in a few writes and delivered concurrently.
    let flood = (0..1000).map(|i| alice.node.send(b, format!("flood {i}")));
    for sent in futures::future::join_all(flood).await {
        sent.unwrap();
    }
    until_status(&bob.node, |s| s.rejections["delivery_rate_limited"] > 0).await;

    bob.node.accept_request(a).await.unwrap();
    // Once a delivery of the accepted sender is stored, its peer has the trusted rate
    // (a burst of 10,000): a second thousand goes through without one refusal.
    // A thousand chat messages, sent at once, until Bob has every one.
    let chat = async |from: usize, events: &mut tern_node::EventStream| {
        let sends = (from..from + 1000).map(|i| alice.node.send(b, format!("chat {i}")));
        let mut waiting: std::collections::HashSet<_> = futures::future::join_all(sends)
            .await
            .into_iter()
            .map(Result::unwrap)
            .collect();
        wait_for(events, |e| {
            if let Event::MessageReceived(m) = e {
                waiting.remove(&m.id);
            }
            waiting.is_empty().then_some(())
        })
        .await;
    };
    chat(0, &mut bob_events).await;
    let limited = bob.node.status().await.unwrap().rejections["delivery_rate_limited"];
    chat(1000, &mut bob_events).await;
    assert_eq!(
        bob.node.status().await.unwrap().rejections["delivery_rate_limited"],
        limited,
        "an accepted sender was rate limited"
    );
}
