//! Nodes find mailbox relays in the DHT (relays advertise themselves there), list them in
//! their records, and replace one that stays unreachable; mail still arrives exactly once.

use std::{collections::HashSet, time::Duration};

use futures::StreamExt;
use tern_node::{DeliveryState, Event, Node};

const TIMEOUT: Duration = Duration::from_secs(90);

async fn relay(dir: &std::path::Path, bootstrap: Option<&str>) -> tern_relay::Relay {
    let mut config = tern_relay::Config::new(dir).with_listen_addr("/ip4/127.0.0.1/tcp/0");
    if let Some(bootstrap) = bootstrap {
        config = config.with_bootstrap(bootstrap);
    }
    tern_relay::Relay::spawn(config).await.unwrap()
}

/// A node that knows one bootstrap relay and picks its mailbox relays from the DHT.
async fn node(dir: &std::path::Path, bootstrap: &str, create: bool) -> Node {
    tern_node::test_utils::builder(dir)
        .with_dht_server(false)
        .with_bootstrap(bootstrap)
        // Long enough for a held fetch (25 s) never to look like a failure, short enough for
        // a test.
        .with_relay_failover_after(Duration::from_secs(3))
        .create_account(create)
        .spawn()
        .await
        .unwrap()
}

/// Waits until `node` works with three relays satisfying `check`; returns their peer ids.
async fn relays_of(node: &Node, check: impl Fn(&HashSet<String>) -> bool) -> HashSet<String> {
    tokio::time::timeout(TIMEOUT, async {
        loop {
            let status = node.status().await.unwrap();
            let relays: HashSet<String> = status.relays.iter().map(|r| r.peer_id.clone()).collect();
            if relays.len() == 3 && check(&relays) {
                return relays;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await
    .expect("the node never settled on three relays")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_pick_relays_from_the_dht_and_replace_one_that_dies() {
    // Four relays in one DHT, all joined through the first.
    let dirs: Vec<_> = (0..4).map(|_| tempfile::tempdir().unwrap()).collect();
    let seed = relay(dirs[0].path(), None).await;
    let seed_address = seed.addresses().await[0].clone();
    let mut relays = vec![seed];
    for dir in &dirs[1..] {
        relays.push(relay(dir.path(), Some(&seed_address)).await);
    }

    // Bob configures no relay at all: he finds three.
    let (alice_dir, bob_dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let bob = node(bob_dir.path(), &seed_address, true).await;
    let picked = relays_of(&bob, |_| true).await;
    let all: HashSet<String> = relays.iter().map(tern_relay::Relay::peer_id).collect();
    assert!(picked.is_subset(&all), "{picked:?} are not relays");

    // Alice writes while Bob is away: the relays he picked (and listed) hold it.
    let alice = node(alice_dir.path(), &seed_address, true).await;
    let b = bob.user_id();
    alice.add_contact("bob", b).await.unwrap();
    bob.add_contact("alice", alice.user_id()).await.unwrap();
    bob.shutdown().await;
    let mut alice_events = alice.events(tern_node::From::Oldest);
    let id = alice.send(b, "found you through the DHT").await.unwrap();
    let state = tokio::time::timeout(TIMEOUT, async {
        while let Some((_, event)) = alice_events.next().await {
            if let Event::DeliveryStateChanged {
                id: changed,
                state: state @ DeliveryState::StoredAtRelays { .. },
                ..
            } = event
                && changed == id
            {
                return state;
            }
        }
        panic!("events ended");
    })
    .await
    .expect("never stored at bob's relays");
    assert_eq!(
        state,
        DeliveryState::StoredAtRelays {
            stored: 3,
            replicas: 3
        }
    );

    // Bob comes back with the same relays (they are remembered) and gets it once.
    let bob = node(bob_dir.path(), &seed_address, false).await;
    assert_eq!(
        relays_of(&bob, |_| true).await,
        picked,
        "relays survive a restart"
    );
    let mut bob_events = bob.events(tern_node::From::Oldest);
    tokio::time::timeout(TIMEOUT, async {
        while let Some((_, event)) = bob_events.next().await {
            if matches!(&event, Event::MessageReceived(m) if m.id == id) {
                return;
            }
        }
    })
    .await
    .expect("bob never got the message");

    // One of Bob's relays (not the seed, which both nodes bootstrap through) dies for good: Bob
    // replaces it with the fourth.
    let seed_id = relays[0].peer_id();
    let victim = relays
        .iter()
        .find(|r| picked.contains(&r.peer_id()) && r.peer_id() != seed_id)
        .unwrap()
        .clone();
    victim.shutdown().await;
    let replaced = relays_of(&bob, |now| !now.contains(&victim.peer_id())).await;
    assert_eq!(replaced.intersection(&picked).count(), 2);
    assert!(replaced.is_subset(&all));

    // Mail still gets through after the failover: Alice (whose copy of Bob's record may
    // predate it) reaches a quorum of his relays, and Bob, back again, collects it once.
    bob.shutdown().await;
    let id = alice.send(b, "after the replacement").await.unwrap();
    let stored = tokio::time::timeout(TIMEOUT, async {
        while let Some((_, event)) = alice_events.next().await {
            if let Event::DeliveryStateChanged {
                id: changed,
                state: DeliveryState::StoredAtRelays { stored, .. },
                ..
            } = event
                && changed == id
            {
                return stored;
            }
        }
        panic!("events ended");
    })
    .await
    .expect("never stored at bob's relays");
    assert!(stored >= 2, "stored at {stored} relays");
    let bob = node(bob_dir.path(), &seed_address, false).await;
    assert_eq!(
        relays_of(&bob, |_| true).await,
        replaced,
        "the replacement is remembered"
    );
    let mut bob_events = bob.events(tern_node::From::Oldest);
    tokio::time::timeout(TIMEOUT, async {
        while let Some((_, event)) = bob_events.next().await {
            if matches!(&event, Event::MessageReceived(m) if m.id == id) {
                return;
            }
        }
    })
    .await
    .expect("bob never got the message after the failover");
    let history = bob.history(alice.user_id(), 10, None).await.unwrap();
    let texts: Vec<&str> = history.messages.iter().map(|m| m.text.as_str()).collect();
    assert_eq!(
        texts,
        ["found you through the DHT", "after the replacement"],
        "each message exactly once"
    );
    bob.shutdown().await;

    alice.shutdown().await;
    for relay in &relays {
        relay.shutdown().await;
    }
}
