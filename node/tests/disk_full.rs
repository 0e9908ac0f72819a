//! A node whose disk fills up: it keeps the last room for contacts, then refuses new mail
//! and sends with a clear error instead of poisoning its store, and takes mail again by
//! itself once space is freed, with nothing lost and nothing twice.

#[path = "support/harness.rs"]
mod support;

use std::{collections::HashSet, time::Duration};

use futures::StreamExt;
use support::{EVENT_TIMEOUT, TestNode, wait_for};
use tern_node::{DeliveryState, Event, SendError, test_utils::SmallDisk};

/// Incompressible text of about `len` bytes.
fn noise(seed: u64, len: usize) -> String {
    let mut x = seed | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            char::from(b'!' + (x % 90) as u8)
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_refuses_mail_clearly_and_takes_it_again_once_space_is_freed() {
    // Before the fix the first failed write poisoned the store: the node refused everything
    // until restarted, and on restart the disk was as full as before.
    // The reserve is half the disk: room for RocksDB to flush and to compact what Carol
    // wrote (its compactions rewrite files, and need room for the output).
    let Some(disk) = SmallDisk::mount("128m") else {
        return;
    };
    let bootstrap = TestNode::start("bootstrap", &[]).await;
    let seed = bootstrap.node.addresses().await;
    let alice = TestNode::start("alice", &seed).await;
    let carol = TestNode::start("carol", &seed).await;
    let mut builder =
        tern_node::test_utils::builder(&disk.path().join("bob")).with_min_free_disk(64 << 20);
    for address in &seed {
        builder = builder.with_bootstrap(address.clone());
    }
    let bob = builder.spawn().await.unwrap();
    let (a, b, c) = (alice.node.user_id(), bob.user_id(), carol.node.user_id());
    for (node, name, user) in [
        (&alice.node, "bob", b),
        (&carol.node, "bob", b),
        (&bob, "alice", a),
        (&bob, "carol", c),
    ] {
        node.add_contact(name, user).await.unwrap();
    }
    let mut carol_events = carol.node.events(tern_node::From::Oldest);
    let mut bob_events = bob.events(tern_node::From::Oldest);

    // Carol fills Bob's disk, 20 large messages at a time, until Bob turns mail away.
    let full = |status: &tern_node::NodeStatus| status.rejections["storage_full"] > 0;
    let mut carol_sent = HashSet::new();
    let mut delivered = HashSet::new();
    tokio::time::timeout(Duration::from_secs(600), async {
        for round in 0u64.. {
            for i in 0..20 {
                let text = noise(round * 20 + i, 60_000);
                carol_sent.insert(carol.node.send(b, text).await.unwrap());
            }
            loop {
                if full(&bob.status().await.unwrap()) {
                    return;
                }
                if let Ok(Some((_, event))) =
                    tokio::time::timeout(Duration::from_millis(200), carol_events.next()).await
                    && let Event::DeliveryStateChanged {
                        id,
                        state: DeliveryState::Delivered,
                        ..
                    } = event
                {
                    delivered.insert(id);
                }
                if carol_sent.iter().all(|id| delivered.contains(id)) {
                    break;
                }
            }
        }
    })
    .await
    .expect("bob's disk never filled");

    // Full: Bob's own sends fail clearly, Alice's message waits with her, and Bob still
    // answers (its store is not poisoned).
    assert!(matches!(
        bob.send(a, "can you hear me?").await,
        Err(SendError::StorageFull)
    ));
    let waiting = alice
        .node
        .send(b, "written while bob's disk is full")
        .await
        .unwrap();
    assert!(bob.history(a, 10, None).await.unwrap().messages.is_empty());

    // Bob deletes the conversation that filled the disk: mail flows again, no restart.
    bob.delete_chat(c).await.unwrap();
    wait_for(&mut bob_events, |e| match e {
        Event::MessageReceived(m) if m.id == waiting => Some(()),
        _ => None,
    })
    .await;
    bob.send(a, "back").await.unwrap();
    // Carol's messages that were turned away arrive too, each once.
    tokio::time::timeout(EVENT_TIMEOUT * 5, async {
        while !carol_sent.iter().all(|id| delivered.contains(id)) {
            if let Some((_, Event::DeliveryStateChanged { id, state, .. })) =
                carol_events.next().await
                && state >= DeliveryState::Delivered
            {
                delivered.insert(id);
            }
        }
    })
    .await
    .expect("carol's messages were lost");
    let history = bob.history(a, 10, None).await.unwrap();
    let ids: Vec<_> = history.messages.iter().map(|m| m.id).collect();
    assert_eq!(
        ids.iter().filter(|id| **id == waiting).count(),
        1,
        "alice's message arrived exactly once"
    );
    for node in [alice.node, carol.node, bob, bootstrap.node] {
        node.shutdown().await;
    }
}
