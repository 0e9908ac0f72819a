//! Messages to an offline contact wait at its relay and arrive, exactly once and in order,
//! when it comes back; the sender sees "stored at relays", then "delivered".

mod support;

use std::time::Duration;

use support::{delivered, local_relay, node_builder as builder, wait_for};
use tern_node::{DeliveryState, Event, Node, UserId};

const TIMEOUT: Duration = Duration::from_secs(90);

async fn start(dir: &std::path::Path, relay: &str) -> Node {
    builder(dir, &[relay.to_owned()]).spawn().await.unwrap()
}

/// Waits until `relay` holds no message: each was collected and acknowledged.
async fn emptied(relay: &tern_relay::Relay) {
    tokio::time::timeout(TIMEOUT, async {
        while relay.metrics().await.stored_messages > 0 {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await
    .expect("the relay still holds acknowledged messages");
}

/// Alice and Bob, each with the other as a contact, both keeping their mailbox at `relay`.
async fn contacts(alice: &std::path::Path, bob: &std::path::Path, relay: &str) -> (Node, Node) {
    let (alice, bob) = (start(alice, relay).await, start(bob, relay).await);
    alice.add_contact("bob", bob.user_id()).await.unwrap();
    bob.add_contact("alice", alice.user_id()).await.unwrap();
    (alice, bob)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_to_an_offline_contact_wait_at_its_relay() {
    if let Ok(filter) = std::env::var("TERN_TEST_LOG") {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
            .with_test_writer()
            .try_init();
    }
    let relay_dir = tempfile::tempdir().unwrap();
    let (relay, relay_address) = local_relay(relay_dir.path()).await;

    let (alice_dir, bob_dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (alice, bob) = contacts(alice_dir.path(), bob_dir.path(), &relay_address).await;
    let (a, b): (UserId, UserId) = (alice.user_id(), bob.user_id());
    let mut alice_events = alice.events(tern_node::From::Oldest);
    // Each node keeps its relay stocked with one-time prekeys for senders.
    tokio::time::timeout(TIMEOUT, async {
        while relay.metrics().await.prekeys_uploaded < 100 {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
    .expect("the nodes never stocked their relay with one-time prekeys");

    // While both are online, directly: this also gives Alice Bob's record, relays included.
    // The session starts with one of Bob's one-time prekeys, taken from his relay.
    let hello = alice.send(b, "hello").await.unwrap();
    delivered(&mut alice_events, hello).await;
    assert_eq!(relay.metrics().await.prekeys_taken, 1);

    // Bob goes offline; Alice keeps writing.
    bob.shutdown().await;
    let mut sent = Vec::new();
    for i in 0..3 {
        sent.push(
            alice
                .send(b, format!("while you were away {i}"))
                .await
                .unwrap(),
        );
    }
    // Deposits complete in any order.
    let mut waiting: std::collections::HashSet<_> = sent.iter().copied().collect();
    while !waiting.is_empty() {
        let (id, state) = wait_for(&mut alice_events, |e| match e {
            Event::DeliveryStateChanged {
                id,
                state: state @ DeliveryState::StoredAtRelays { .. },
                ..
            } => Some((*id, *state)),
            _ => None,
        })
        .await;
        assert!(waiting.remove(&id));
        assert_eq!(
            state,
            DeliveryState::StoredAtRelays {
                stored: 1,
                replicas: 1
            }
        );
    }
    assert_eq!(
        alice.status().await.unwrap().outbox,
        0,
        "the relay holds them now"
    );
    // They went pipelined on a deposit stream, not a request-response stream each.
    assert!(relay.metrics().await.deposit_streams >= 1);

    // Bob comes back and collects them, once each; Alice learns they were delivered.
    let bob = start(bob_dir.path(), &relay_address).await;
    let mut bob_events = bob.events(tern_node::From::Oldest);
    let mut received = Vec::new();
    while received.len() < 3 {
        let message = wait_for(&mut bob_events, |e| match e {
            Event::MessageReceived(m) if sent.contains(&m.id) => Some(m.id),
            _ => None,
        })
        .await;
        received.push(message);
    }
    assert_eq!(
        received, sent,
        "each message exactly once, in the order sent"
    );
    let mut waiting: std::collections::HashSet<_> = sent.iter().copied().collect();
    while !waiting.is_empty() {
        let id = wait_for(&mut alice_events, |e| match e {
            Event::DeliveryStateChanged {
                id,
                state: DeliveryState::Delivered,
                ..
            } => Some(*id),
            _ => None,
        })
        .await;
        waiting.remove(&id);
    }
    let history = bob.history(a, 10, None).await.unwrap();
    let texts: Vec<&str> = history.messages.iter().map(|m| m.text.as_str()).collect();
    assert_eq!(
        texts,
        [
            "hello",
            "while you were away 0",
            "while you were away 1",
            "while you were away 2"
        ]
    );

    // Bob acknowledged them at the relay, which deleted them.
    emptied(&relay).await;
    // On one collect stream, with acknowledgements riding on the next request.
    let metrics = relay.metrics().await;
    assert!(
        metrics.collect_streams >= 1 && metrics.acked >= 3,
        "{metrics:?}"
    );

    alice.shutdown().await;
    bob.shutdown().await;
    relay.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_one_of_three_relays_dead_messages_still_arrive_once() {
    let dirs: Vec<_> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    let mut relays = Vec::new();
    for dir in &dirs {
        relays.push(
            tern_relay::Relay::spawn(
                tern_relay::Config::new(dir.path()).with_listen_addr("/ip4/127.0.0.1/tcp/0"),
            )
            .await
            .unwrap(),
        );
    }
    let mut addresses = Vec::new();
    for relay in &relays {
        addresses.push(relay.addresses().await[0].clone());
    }
    let node = |dir: std::path::PathBuf, addresses: Vec<String>| async move {
        builder(&dir, &addresses).spawn().await.unwrap()
    };
    let (alice_dir, bob_dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let alice = node(alice_dir.path().to_owned(), addresses[..1].to_vec()).await;
    let bob = node(bob_dir.path().to_owned(), addresses.clone()).await;
    let (a, b) = (alice.user_id(), bob.user_id());
    alice.add_contact("bob", b).await.unwrap();
    bob.add_contact("alice", a).await.unwrap();
    let mut alice_events = alice.events(tern_node::From::Oldest);
    let hello = alice.send(b, "hello").await.unwrap();
    delivered(&mut alice_events, hello).await;

    // One of Bob's three relays dies for good, and Bob goes offline.
    relays.pop().unwrap().shutdown().await;
    bob.shutdown().await;
    let id = alice.send(b, "two of three is enough").await.unwrap();
    let state = wait_for(&mut alice_events, |e| match e {
        Event::DeliveryStateChanged {
            id: i,
            state: state @ DeliveryState::StoredAtRelays { .. },
            ..
        } if *i == id => Some(*state),
        _ => None,
    })
    .await;
    assert_eq!(
        state,
        DeliveryState::StoredAtRelays {
            stored: 2,
            replicas: 3
        }
    );

    // Bob collects from both live relays; the copies are one message.
    let bob = node(bob_dir.path().to_owned(), addresses[..2].to_vec()).await;
    let mut bob_events = bob.events(tern_node::From::Oldest);
    wait_for(&mut bob_events, |e| match e {
        Event::MessageReceived(m) if m.id == id => Some(()),
        _ => None,
    })
    .await;
    wait_for(&mut alice_events, |e| match e {
        Event::DeliveryStateChanged {
            id: i,
            state: DeliveryState::Delivered,
            ..
        } if *i == id => Some(()),
        _ => None,
    })
    .await;
    // Both relays are emptied by Bob's acks; only then is it certain both copies were seen.
    tokio::time::timeout(TIMEOUT, async {
        loop {
            let mut held = 0;
            for relay in &relays {
                held += relay.metrics().await.stored_messages;
            }
            if held == 0 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await
    .expect("the relays still hold acknowledged messages");
    let history = bob.history(a, 10, None).await.unwrap();
    let copies = history.messages.iter().filter(|m| m.id == id).count();
    assert_eq!(copies, 1);

    alice.shutdown().await;
    bob.shutdown().await;
    for relay in relays {
        relay.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_relay_refuses_clearly_and_the_message_still_arrives_through_another() {
    // Bob's first relay holds one message per mailbox; his second has room.
    let (full_dir, roomy_dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let full = tern_relay::Relay::spawn(
        tern_relay::Config::new(full_dir.path())
            .with_listen_addr("/ip4/127.0.0.1/tcp/0")
            .with_limits(tern_relay::Limits {
                mailbox_messages: 1,
                ..Default::default()
            }),
    )
    .await
    .unwrap();
    let roomy = tern_relay::Relay::spawn(
        tern_relay::Config::new(roomy_dir.path()).with_listen_addr("/ip4/127.0.0.1/tcp/0"),
    )
    .await
    .unwrap();
    let relays = vec![
        full.addresses().await[0].clone(),
        roomy.addresses().await[0].clone(),
    ];
    let (alice_dir, bob_dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let alice = builder(alice_dir.path(), &relays).spawn().await.unwrap();
    let bob = builder(bob_dir.path(), &relays).spawn().await.unwrap();
    let (a, b) = (alice.user_id(), bob.user_id());
    alice.add_contact("bob", b).await.unwrap();
    bob.add_contact("alice", a).await.unwrap();
    let mut alice_events = alice.events(tern_node::From::Oldest);
    let hello = alice.send(b, "hello").await.unwrap();
    delivered(&mut alice_events, hello).await;

    // Bob is away; two messages: the full relay takes one and refuses the other.
    bob.shutdown().await;
    let sent = [
        alice.send(b, "first while away").await.unwrap(),
        alice.send(b, "second while away").await.unwrap(),
    ];
    let stored_at_both = wait_for(&mut alice_events, |e| match e {
        Event::DeliveryStateChanged {
            id,
            state: DeliveryState::StoredAtRelays { stored, replicas },
            ..
        } if sent.contains(id) => Some((*stored, *replicas)),
        _ => None,
    })
    .await;
    assert_eq!(stored_at_both, (2, 2));
    // The refusal is explicit at the relay and visible to the sender, who keeps the message.
    tokio::time::timeout(TIMEOUT, async {
        loop {
            let status = alice.status().await.unwrap();
            if status.rejections.get("relay_refused_quota_exceeded") >= Some(&1) {
                assert!(
                    status.outbox >= 1,
                    "the refused message stays in the outbox"
                );
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
    .expect("the sender never saw the refusal");
    assert!(full.metrics().await.refused.values().sum::<u64>() >= 1);

    // Bob comes back: both arrive, once each, in order (the refused one from the roomy relay).
    let bob = builder(bob_dir.path(), &relays)
        .create_account(false)
        .spawn()
        .await
        .unwrap();
    let mut bob_events = bob.events(tern_node::From::Oldest);
    let mut received = Vec::new();
    while received.len() < 2 {
        let id = wait_for(&mut bob_events, |e| match e {
            Event::MessageReceived(m) if sent.contains(&m.id) => Some(m.id),
            _ => None,
        })
        .await;
        assert!(!received.contains(&id), "a message arrived twice");
        received.push(id);
    }
    let history = bob.history(a, 10, None).await.unwrap();
    let texts: Vec<&str> = history.messages.iter().map(|m| m.text.as_str()).collect();
    assert_eq!(texts, ["hello", "first while away", "second while away"]);
    let mut waiting: std::collections::HashSet<_> = sent.iter().copied().collect();
    while !waiting.is_empty() {
        let id = wait_for(&mut alice_events, |e| match e {
            Event::DeliveryStateChanged {
                id,
                state: DeliveryState::Delivered,
                ..
            } => Some(*id),
            _ => None,
        })
        .await;
        waiting.remove(&id);
    }
    alice.shutdown().await;
    bob.shutdown().await;
    full.shutdown().await;
    roomy.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_that_never_connect_directly_chat_in_real_time_through_a_relay() {
    let relay_dir = tempfile::tempdir().unwrap();
    let (relay, relay_address) = local_relay(relay_dir.path()).await;
    let relay_only = |dir: std::path::PathBuf| {
        let relays = vec![relay_address.clone()];
        async move {
            builder(&dir, &relays)
                .with_direct_delivery(false)
                .spawn()
                .await
                .unwrap()
        }
    };
    let (alice_dir, bob_dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let alice = relay_only(alice_dir.path().to_owned()).await;
    let bob = relay_only(bob_dir.path().to_owned()).await;
    let (a, b) = (alice.user_id(), bob.user_id());
    alice.add_contact("bob", b).await.unwrap();
    bob.add_contact("alice", a).await.unwrap();
    let mut alice_events = alice.events(tern_node::From::Oldest);
    let mut bob_events = bob.events(tern_node::From::Oldest);

    // Both are online the whole time, yet every message and receipt goes through the relay,
    // and arrives while the other waits (no restart, no polling interval to sit out).
    for round in 0..3 {
        let ping = alice.send(b, format!("ping {round}")).await.unwrap();
        wait_for(&mut bob_events, |e| match e {
            Event::MessageReceived(m) if m.id == ping => Some(()),
            _ => None,
        })
        .await;
        delivered(&mut alice_events, ping).await;
        let pong = bob.send(a, format!("pong {round}")).await.unwrap();
        wait_for(&mut alice_events, |e| match e {
            Event::MessageReceived(m) if m.id == pong => Some(()),
            _ => None,
        })
        .await;
    }
    // Six texts and at least their delivery receipts went through the relay.
    assert!(relay.metrics().await.deposits >= 6);

    alice.shutdown().await;
    bob.shutdown().await;
    relay.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backlog_of_several_pages_arrives_once_each_and_in_order() {
    // More than two pages of 256: the collector asks for pages ahead of the ones it stores.
    const BACKLOG: usize = 600;
    let relay_dir = tempfile::tempdir().unwrap();
    let (relay, relay_address) = local_relay(relay_dir.path()).await;
    let (alice_dir, bob_dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (alice, bob) = contacts(alice_dir.path(), bob_dir.path(), &relay_address).await;
    let (a, b): (UserId, UserId) = (alice.user_id(), bob.user_id());
    let mut alice_events = alice.events(tern_node::From::Oldest);
    let hello = alice.send(b, "hello").await.unwrap();
    delivered(&mut alice_events, hello).await;

    bob.shutdown().await;
    let mut sent = Vec::new();
    for i in 0..BACKLOG {
        sent.push(alice.send(b, format!("backlog {i}")).await.unwrap());
    }
    let mut waiting: std::collections::HashSet<_> = sent.iter().copied().collect();
    while !waiting.is_empty() {
        let id = wait_for(&mut alice_events, |e| match e {
            Event::DeliveryStateChanged {
                id,
                state: DeliveryState::StoredAtRelays { .. },
                ..
            } => Some(*id),
            _ => None,
        })
        .await;
        waiting.remove(&id);
    }

    let bob = start(bob_dir.path(), &relay_address).await;
    let mut bob_events = bob.events(tern_node::From::Oldest);
    let mut received = Vec::new();
    while received.len() < BACKLOG {
        let message = wait_for(&mut bob_events, |e| match e {
            Event::MessageReceived(m) if m.id != hello => Some(m.id),
            _ => None,
        })
        .await;
        received.push(message);
    }
    // Each once. They arrive in the order the relay stored them, which need not be the order
    // sent (a deposit the relay asked to wait is stored later); the chat shows them in the
    // order sent.
    let unique: std::collections::HashSet<_> = received.iter().copied().collect();
    assert_eq!(unique.len(), BACKLOG, "nothing twice");
    assert!(received.iter().all(|id| sent.contains(id)));
    emptied(&relay).await;
    let metrics = relay.metrics().await;
    assert!(metrics.acked >= BACKLOG as u64, "{metrics:?}");
    let (mut shown, mut before) = (Vec::new(), None);
    loop {
        let page = bob.history(a, 500, before).await.unwrap();
        let older: Vec<_> = page.messages.iter().map(|m| m.id).collect();
        shown.splice(0..0, older);
        match page.before {
            Some(older) => before = Some(older),
            None => break,
        }
    }
    let mut expected = vec![hello];
    expected.extend(&sent);
    assert_eq!(shown, expected, "in the order sent, nothing stored twice");

    alice.shutdown().await;
    bob.shutdown().await;
    relay.shutdown().await;
}
