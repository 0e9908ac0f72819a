//! A relay cannot link what it stores to who sent it: every peer id that made a mailbox
//! request (deposits, prekey takes, and the owners' own challenges, fetches, acks and prekey
//! uploads) is one that appears in no DHT record, so it names no account and no device.

use std::time::Duration;

use libp2p::PeerId;
use tern_node::{Node, UserId, test_utils::wait_delivered as delivered};

const TIMEOUT: Duration = Duration::from_secs(90);

/// A node on loopback in `dir` that keeps its mailbox at `relay` and sends only through
/// relays, so that every message goes through the relay's mailbox protocol.
async fn start(dir: &std::path::Path, relay: &str) -> Node {
    tern_node::test_utils::builder(dir)
        .with_relay(relay.to_owned())
        .with_direct_delivery(false)
        .spawn()
        .await
        .unwrap()
}

/// The byte strings by which `peer` could be named in a record: its id, and its Ed25519
/// public key (the form a device certificate carries).
fn names_of(peer: &PeerId) -> Vec<Vec<u8>> {
    let mut names = vec![peer.to_bytes()];
    if let Ok(key) = libp2p::identity::PublicKey::try_decode_protobuf(peer.as_ref().digest())
        && let Ok(key) = key.try_into_ed25519()
    {
        names.push(key.to_bytes().to_vec());
    }
    names
}

fn named_in(records: &[Vec<u8>], peer: &PeerId) -> bool {
    names_of(peer).iter().any(|name| {
        records
            .iter()
            .any(|record| record.windows(name.len()).any(|w| w == name.as_slice()))
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_peer_id_a_relay_serves_appears_in_any_record() {
    let relay_dir = tempfile::tempdir().unwrap();
    let relay = tern_relay::Relay::spawn(
        tern_relay::Config::new(relay_dir.path()).with_listen_addr("/ip4/127.0.0.1/tcp/0"),
    )
    .await
    .unwrap();
    let relay_address = relay.addresses().await[0].clone();

    let (alice_dir, bob_dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let alice = start(alice_dir.path(), &relay_address).await;
    let bob = start(bob_dir.path(), &relay_address).await;
    let (a, b): (UserId, UserId) = (alice.user_id(), bob.user_id());
    alice.add_contact("bob", b).await.unwrap();
    bob.add_contact("alice", a).await.unwrap();
    let mut alice_events = alice.events(tern_node::From::Oldest);
    let mut bob_events = bob.events(tern_node::From::Oldest);
    tokio::time::timeout(TIMEOUT, async {
        while relay.metrics().await.prekeys_uploaded < 100 {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
    .expect("the nodes never stocked their relay with one-time prekeys");

    // Alice starts a session with one of Bob's one-time prekeys, taken from the relay, and
    // deposits there; Bob collects and answers the same way.
    let hello = alice.send(b, "hello").await.unwrap();
    delivered(&mut alice_events, hello).await;
    let reply = bob.send(a, "hi alice").await.unwrap();
    delivered(&mut bob_events, reply).await;
    let metrics = relay.metrics().await;
    assert!(
        metrics.prekeys_taken >= 1,
        "Alice took a prekey: {metrics:?}"
    );
    assert!(metrics.deposits >= 4, "messages and receipts: {metrics:?}");
    assert!(metrics.fetches >= 2, "both collected: {metrics:?}");

    let observed = relay.observed().await;
    let devices: Vec<PeerId> = [
        alice.status().await.unwrap().peer_id,
        bob.status().await.unwrap().peer_id,
    ]
    .iter()
    .map(|p| p.parse().unwrap())
    .collect();
    // The check below would be empty if the records did not name the devices at all.
    for device in &devices {
        assert!(
            named_in(&observed.records, device),
            "the relay holds no record naming {device}"
        );
    }
    assert!(!observed.mailbox_peers.is_empty());
    for peer in &observed.mailbox_peers {
        let peer: PeerId = peer.parse().unwrap();
        assert!(
            !devices.contains(&peer),
            "a mailbox request came from a device's own peer id {peer}"
        );
        assert!(
            !named_in(&observed.records, &peer),
            "a mailbox request came from {peer}, which a DHT record names"
        );
    }

    alice.shutdown().await;
    bob.shutdown().await;
    relay.shutdown().await;
}
