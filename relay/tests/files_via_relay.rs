//! Files to an offline contact: the sender leaves a copy at the recipient's relays with the
//! message, and the recipient fetches it from there after the sender has gone, verified
//! group by group. A relay whose copy was damaged on disk is caught and the file comes from
//! the next relay. The relays' disks hold neither the plaintext nor the file's name.

mod support;

use std::{path::Path, time::Duration};

use support::{delivered, files_contain, local_relay, wait_for};
use tern_node::{AttachmentState, DeliveryState, Event, Node, OutgoingFile, UserId};

const TIMEOUT: Duration = Duration::from_secs(120);
const MARK: &[u8] = b"offline-file-plaintext:";
const NAME: &str = "holiday-video-unique-name.bin";

async fn node(dir: &Path, relays: &[String]) -> Node {
    let mut builder = tern_node::test_utils::builder(dir);
    for relay in relays {
        builder = builder.with_relay(relay.clone());
    }
    builder.spawn().await.unwrap()
}

async fn until(what: &str, mut check: impl AsyncFnMut() -> bool) {
    tokio::time::timeout(TIMEOUT, async {
        while !check().await {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await
    .unwrap_or_else(|_| panic!("timed out waiting until {what}"));
}

fn file(len: usize) -> Vec<u8> {
    let mut bytes = MARK.repeat(len / MARK.len() + 1);
    bytes.truncate(len);
    bytes
}

/// Alice and Bob, with Bob's mailbox at `bob_relays`; one message delivered directly so
/// that Alice holds Bob's record (relays included) and a session.
async fn pair(
    alice_dir: &Path,
    bob_dir: &Path,
    alice_relay: &str,
    bob_relays: &[String],
) -> (Node, Node, UserId, UserId) {
    let alice = node(alice_dir, &[alice_relay.to_owned()]).await;
    let bob = node(bob_dir, bob_relays).await;
    let (a, b) = (alice.user_id(), bob.user_id());
    alice.add_contact("bob", b).await.unwrap();
    bob.add_contact("alice", a).await.unwrap();
    let mut events = alice.events(tern_node::From::Now);
    let hello = alice.send(b, "hello").await.unwrap();
    delivered(&mut events, hello).await;
    (alice, bob, a, b)
}

/// Sends `bytes` to the offline `bob` and waits until the message is stored at his relays
/// and `relays` all hold the file; then Alice goes away for good.
async fn send_while_offline(
    alice: Node,
    b: UserId,
    bytes: Vec<u8>,
    relays: &[&tern_relay::Relay],
) -> tern_node::MessageId {
    let mut events = alice.events(tern_node::From::Now);
    let id = alice
        .send_attachment(
            b,
            OutgoingFile::from_bytes(NAME, bytes).with_mime("application/octet-stream"),
            "for when you are back",
        )
        .await
        .unwrap();
    wait_for(&mut events, |e| match e {
        Event::DeliveryStateChanged {
            id: i,
            state: DeliveryState::StoredAtRelays { .. },
            ..
        } if *i == id => Some(()),
        _ => None,
    })
    .await;
    for relay in relays {
        until("the relay holds the file", async || {
            relay.metrics().await.blobs.uploads == 1
        })
        .await;
    }
    alice.shutdown().await;
    id
}

/// Bob comes back: the message from `alice` arrives and its file is fetched, verified and
/// read back whole.
async fn receive(
    bob_dir: &Path,
    relays: &[String],
    alice: UserId,
    id: tern_node::MessageId,
) -> (Node, Vec<u8>) {
    let bob = node(bob_dir, relays).await;
    let mut events = bob.events(tern_node::From::Oldest);
    wait_for(&mut events, |e| match e {
        Event::MessageReceived(m) if m.id == id => Some(()),
        _ => None,
    })
    .await;
    let end = wait_for(&mut events, |e| match e {
        Event::AttachmentChanged { id: i, state, .. }
            if *i == id && !matches!(state, AttachmentState::Fetching) =>
        {
            Some(state.clone())
        }
        _ => None,
    })
    .await;
    assert_eq!(end, AttachmentState::Ready);
    let mut read = Vec::new();
    std::io::Read::read_to_end(
        &mut bob.open_attachment(alice, id).await.unwrap(),
        &mut read,
    )
    .unwrap();
    (bob, read)
}

/// Two relays, each with its data directory; Alice and Bob (Bob's mailbox at both), Bob
/// gone offline; `bytes` sent to him and held at both relays; Alice gone for good.
struct TwoRelays {
    dirs: Vec<tempfile::TempDir>,
    first: tern_relay::Relay,
    second: tern_relay::Relay,
    relays: [String; 2],
    _alice_dir: tempfile::TempDir,
    bob_dir: tempfile::TempDir,
    alice: UserId,
    id: tern_node::MessageId,
}

async fn two_relays(bytes: Vec<u8>) -> TwoRelays {
    let dirs: Vec<_> = (0..2).map(|_| tempfile::tempdir().unwrap()).collect();
    let (first, first_address) = local_relay(dirs[0].path()).await;
    let (second, second_address) = local_relay(dirs[1].path()).await;
    let relays = [first_address.clone(), second_address];
    let (alice_dir, bob_dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (alice, bob, a, b) = pair(alice_dir.path(), bob_dir.path(), &first_address, &relays).await;
    bob.shutdown().await;
    let id = send_while_offline(alice, b, bytes, &[&first, &second]).await;
    TwoRelays {
        dirs,
        first,
        second,
        relays,
        _alice_dir: alice_dir,
        bob_dir,
        alice: a,
        id,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_to_an_offline_contact_arrives_from_its_relay_after_the_sender_left() {
    let relay_dir = tempfile::tempdir().unwrap();
    let (relay, address) = local_relay(relay_dir.path()).await;
    let (alice_dir, bob_dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let relays = [address.clone()];
    let (alice, bob, a, b) = pair(alice_dir.path(), bob_dir.path(), &address, &relays).await;
    bob.shutdown().await;

    let bytes = file(3_000_000);
    let id = send_while_offline(alice, b, bytes.clone(), &[&relay]).await;
    let (bob, read) = receive(bob_dir.path(), &relays, a, id).await;
    assert_eq!(read, bytes, "the file, verified, from the relay alone");
    assert!(relay.metrics().await.blobs.gets >= 1);

    // What the relay wrote: ciphertext, never the plaintext or the file's name.
    relay.shutdown().await;
    assert!(
        !files_contain(relay_dir.path(), MARK),
        "plaintext on the relay's disk"
    );
    assert!(
        !files_contain(relay_dir.path(), NAME.as_bytes()),
        "the file name on the relay's disk"
    );
    bob.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_damaged_relay_copy_is_caught_and_the_file_comes_from_the_next_relay() {
    let bytes = file(2_000_000);
    let setup = two_relays(bytes.clone()).await;

    // The first relay's disk flips a bit in the middle of its copy.
    let complete = setup.dirs[0].path().join("blobs/complete");
    let path = std::fs::read_dir(&complete)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let mut stored = std::fs::read(&path).unwrap();
    stored[64 + 1_000_000] ^= 0x20;
    std::fs::write(&path, stored).unwrap();

    let (bob, read) = receive(setup.bob_dir.path(), &setup.relays, setup.alice, setup.id).await;
    assert_eq!(read, bytes);
    // Ranges away from the damage may come from the first relay (the first window of a file
    // is 1 MiB); the damaged group never does, so its copy was never served whole.
    assert!(
        setup.first.metrics().await.blobs.bytes_served < bytes.len() as u64,
        "the damaged copy was never served whole"
    );
    assert!(
        setup.second.metrics().await.blobs.gets >= 1,
        "the rest came from the second relay"
    );
    bob.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_comes_from_every_relay_that_holds_it_at_once() {
    // A window of 1 MiB, then ones of 4 MiB: each relay is asked for one at the start.
    let bytes = file(12_000_000);
    let setup = two_relays(bytes.clone()).await;
    let (bob, read) = receive(setup.bob_dir.path(), &setup.relays, setup.alice, setup.id).await;
    assert_eq!(read, bytes);
    assert!(
        setup.first.metrics().await.blobs.gets >= 1,
        "the first relay served a part"
    );
    assert!(
        setup.second.metrics().await.blobs.gets >= 1,
        "the second relay served a part"
    );
    bob.shutdown().await;
}
