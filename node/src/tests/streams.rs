//! Direct deliveries on delivery streams (`/tern/deliver/2`): pipelined on one stream per
//! peer, refused frame by frame like `/tern/msg/2` requests, and handed back to
//! `/tern/msg/2` by peers that do not speak the protocol.

use tern_proto::msg::stream::{self, put_delivery};

use super::*;
use crate::test_utils::builder;

/// Opens a delivery stream from `from` to `to`, writes `frames` on it back to back, and
/// reads answers until the stream ends: the answers, two bytes each.
async fn raw_stream(from: &Node, to: &Node, frames: &[u8]) -> Vec<u8> {
    // Dialled at the addresses `to` listens on now: `from` may know only those of an earlier
    // run of it.
    let addresses = to.addresses().await.iter().map(|a| split(a).1).collect();
    let opened =
        from.inner_net()
            .open_stream(to.inner_net().peer_id(), addresses, stream::PROTOCOL);
    let mut stream = tokio::time::timeout(TIMEOUT, opened)
        .await
        .expect("stream opened in time")
        .expect("stream opened");
    stream.write_all(frames).await.unwrap();
    stream.flush().await.unwrap();
    let mut answers = Vec::new();
    tokio::time::timeout(TIMEOUT, stream.read_to_end(&mut answers))
        .await
        .expect("the stream ended in time")
        .ok();
    answers
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_on_a_delivery_stream_is_refused_in_order_and_the_message_is_stored_once() {
    let dirs: Vec<TempDir> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    let (bootstrap, seed, envelope) = envelope_for_bob(&dirs).await;
    let alice_user = tern_node_user(&dirs[1]).await;
    let bob = start(dirs[2].path(), &seed).await;
    let mut bob_events = bob.events(crate::From::Oldest);

    // Altered, random and short envelopes, the real one twice, then a frame that declares
    // more than the maximum: each answered in turn, and the last ends the stream.
    let mut tampered = envelope.clone();
    tampered[100] ^= 1;
    let mut frames = Vec::new();
    for envelope in [&tampered[..], &[7u8; 1024], b"short", &envelope, &envelope] {
        put_delivery(&mut frames, envelope).unwrap();
    }
    frames.push(1);
    frames.extend_from_slice(&u32::MAX.to_be_bytes());
    let answers = raw_stream(&bootstrap, &bob, &frames).await;
    assert_eq!(
        answers,
        [1, 2, 1, 2, 1, 2, 1, 0, 1, 1],
        "rejected ×3, stored, duplicate, then closed"
    );
    // An unknown version ends a stream at once, unanswered.
    assert_eq!(raw_stream(&bootstrap, &bob, &[9, 9, 9]).await, b"");
    wait_received(&mut bob_events, "only once").await;
    let history = bob.history(alice_user, 10, None).await.unwrap();
    let copies = history.messages.iter().filter(|m| m.text == "only once");
    assert_eq!(copies.count(), 1);
    let net = bob.inner_net().status().await.unwrap();
    assert_eq!(net.counters.delivery_streams, 2);
    assert_eq!(net.counters.inbound_failures, 2, "two unreadable frames");

    // Bob still serves honest peers.
    let alice = start(dirs[1].path(), &seed).await;
    alice.send(bob.user_id(), "still working").await.unwrap();
    wait_received(&mut bob_events, "still working").await;
    for node in [alice, bob, bootstrap] {
        node.shutdown().await;
    }
}

/// A peer that brings a contact's *sealed* envelope directly (as a relay holding the
/// contact's mail could) has the message stored, but does not earn the rate of the contact's
/// device: junk from it past a stranger's burst is refused as `busy`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_bringing_a_contacts_sealed_mail_stays_at_the_strangers_rate() {
    let dirs: Vec<TempDir> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    let (bootstrap, seed, envelope) = envelope_for_bob(&dirs).await;
    let bob = start(dirs[2].path(), &seed).await;
    let mut bob_events = bob.events(crate::From::Oldest);
    let sealed = sealed_for(&bob, &envelope);

    // Alice is Bob's contact: her message is stored, whoever brings it. A frame of an
    // unknown version ends each stream once what came before it is answered.
    let mut frames = Vec::new();
    put_delivery(&mut frames, &sealed).unwrap();
    frames.push(9);
    assert_eq!(
        raw_stream(&bootstrap, &bob, &frames).await,
        [1, 0],
        "stored"
    );
    wait_received(&mut bob_events, "only once").await;

    // Five times a stranger's burst of 200, at once.
    let mut junk = Vec::new();
    for _ in 0..1000 {
        put_delivery(&mut junk, &[7u8; 1024]).unwrap();
    }
    junk.push(9);
    let answers = raw_stream(&bootstrap, &bob, &junk).await;
    assert_eq!(answers.len(), 2000);
    let busy = answers.chunks(2).filter(|answer| *answer == [1, 4]).count();
    assert!(
        busy > 0,
        "the bringer of a sealed envelope got the contact's rate"
    );
    for node in [bob, bootstrap] {
        node.shutdown().await;
    }
}

/// Waits until `node` holds `count` messages received from `peer`, and returns their texts.
async fn texts_from(node: &Node, peer: UserId, count: usize) -> Vec<String> {
    tokio::time::timeout(TIMEOUT, async {
        loop {
            let history = node.history(peer, count + 10, None).await.unwrap();
            let texts: Vec<String> = history
                .messages
                .into_iter()
                .filter(|m| m.direction == crate::Direction::Incoming)
                .map(|m| m.text)
                .collect();
            if texts.len() >= count {
                return texts;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
    .expect("every message received")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_goes_on_one_stream_and_to_a_peer_without_streams_by_requests() {
    let dirs: Vec<TempDir> = (0..4).map(|_| tempfile::tempdir().unwrap()).collect();
    let bootstrap = start(dirs[0].path(), &[]).await;
    let seed = bootstrap.addresses().await;
    let alice = start(dirs[1].path(), &seed).await;
    let bob = start(dirs[2].path(), &seed).await;
    let mut carol = builder(dirs[3].path()).with_delivery_streams(false);
    for address in &seed {
        carol = carol.with_bootstrap(address.clone());
    }
    let carol = carol.spawn().await.unwrap();
    const BURST: usize = 300;
    for peer in [&bob, &carol] {
        peer.add_contact("alice", alice.user_id()).await.unwrap();
        let mut events = peer.events(crate::From::Now);
        alice.send(peer.user_id(), "first").await.unwrap();
        wait_received(&mut events, "first").await;
        let sends = (0..BURST).map(|i| alice.send(peer.user_id(), format!("burst {i}")));
        for sent in futures::future::join_all(sends).await {
            sent.unwrap();
        }
    }
    for peer in [&bob, &carol] {
        let mut texts = texts_from(peer, alice.user_id(), BURST + 1).await;
        texts.sort();
        texts.dedup();
        assert_eq!(texts.len(), BURST + 1, "each message once");
    }
    let streams = async |node: &Node| {
        let net = node.inner_net().status().await.unwrap();
        net.counters.delivery_streams
    };
    // The burst to Bob took one stream (a second only if the first idled out); Carol
    // accepts none, and got hers by `/tern/msg/2`.
    let to_bob = streams(&bob).await;
    assert!((1..=2).contains(&to_bob), "bob accepted {to_bob} streams");
    assert_eq!(streams(&carol).await, 0);
    for node in [alice, bob, carol, bootstrap] {
        node.shutdown().await;
    }
}
