//! Two Tern nodes and a bootstrap node on this machine's loopback interface, in temporary
//! directories: Alice finds Bob through the DHT, they exchange messages, and the delivery and
//! read receipts come back.
//!
//! ```text
//! cargo run -p tern-node --example local_pair
//! ```

#![allow(clippy::print_stdout, reason = "the example prints what happens")]

use std::time::Duration;

use futures::StreamExt;
use tern_node::{DeliveryState, Event, EventStream, From, KdfParams, Node};

async fn start(
    name: &str,
    dir: &std::path::Path,
    bootstrap: &[String],
) -> Result<Node, Box<dyn std::error::Error>> {
    let mut builder = Node::builder(dir.join(name))
        .with_passphrase(format!("{name}'s passphrase"))
        // Cheap key derivation: this demo's keys are thrown away at the end.
        .with_kdf_params(KdfParams::new(8 * 1024, 1, 1)?)
        .with_listen_addr("/ip4/127.0.0.1/tcp/0")
        .with_mdns(false)
        .with_dht_server(true)
        .create_account(true);
    for address in bootstrap {
        builder = builder.with_bootstrap(address.clone());
    }
    Ok(builder.spawn().await?)
}

/// Prints events until `done` says stop; fails if that takes over a minute.
async fn watch(
    name: &str,
    events: &mut EventStream,
    mut done: impl FnMut(&Event) -> bool,
) -> Result<(), Box<dyn std::error::Error>> {
    tokio::time::timeout(Duration::from_secs(60), async {
        while let Some((cursor, event)) = events.next().await {
            match &event {
                Event::MessageReceived(m) => println!(
                    "[{name} #{cursor}] received from {}: {}",
                    m.peer.short(),
                    m.text
                ),
                Event::MessageSent(m) => println!("[{name} #{cursor}] queued: {}", m.text),
                Event::DeliveryStateChanged { id, state, .. } => {
                    println!("[{name} #{cursor}] {} is now {state:?}", id.short())
                }
                other => println!("[{name} #{cursor}] {other:?}"),
            }
            if done(&event) {
                return;
            }
        }
    })
    .await
    .map_err(|_| format!("{name} waited a minute in vain").into())
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let bootstrap = start("bootstrap", dir.path(), &[]).await?;
    let seed = bootstrap.addresses().await;
    let alice = start("alice", dir.path(), &seed).await?;
    let bob = start("bob", dir.path(), &seed).await?;
    println!("alice is {}\nbob   is {}", alice.user_id(), bob.user_id());
    alice.add_contact("bob", bob.user_id()).await?;
    bob.add_contact("alice", alice.user_id()).await?;

    let (mut alice_events, mut bob_events) = (alice.events(From::Now), bob.events(From::Now));
    let id = alice
        .send(bob.user_id(), "Hello Bob! Found you through the DHT.")
        .await?;
    watch("bob", &mut bob_events, |e| {
        matches!(e, Event::MessageReceived(_))
    })
    .await?;
    bob.mark_read(alice.user_id()).await?;
    bob.send(alice.user_id(), "Hi Alice, read you loud and clear.")
        .await?;
    // Alice waits for both the read receipt and Bob's reply, in whichever order they come.
    let (mut read, mut replied) = (false, false);
    watch("alice", &mut alice_events, |e| {
        read |= matches!(e, Event::DeliveryStateChanged { id: i, state: DeliveryState::Read, .. } if *i == id);
        replied |= matches!(e, Event::MessageReceived(_));
        read && replied
    })
    .await?;

    for node in [alice, bob, bootstrap] {
        node.shutdown().await;
    }
    Ok(())
}
