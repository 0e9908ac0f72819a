//! The whole network as its users run it: three `tern-relay` processes, two `tern daemon`
//! processes, everything driven through the `tern` command, loopback only, nothing in process.

use tern_tests::{Profile, RelayProcess, contains, eventually, files};

/// The texts of a conversation in one direction, oldest first.
async fn texts(profile: &Profile, peer: &str, direction: &str) -> Vec<String> {
    profile
        .history(peer)
        .await
        .iter()
        .filter(|m| m["direction"] == direction)
        .map(|m| m["text"].as_str().expect("text").to_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_survive_a_killed_recipient_and_a_killed_relay_and_arrive_once_in_order() {
    // Six relays: three hold Bob's mailbox, three Alice's; the first is everyone's way into
    // the DHT. Keeping the two sets apart lets the end of the test tell a sender's traces from
    // an owner's (a relay knows whose mailbox it keeps: the owner proves it).
    let relay_dirs: Vec<tempfile::TempDir> = (0..6)
        .map(|_| tempfile::tempdir().expect("tempdir"))
        .collect();
    let (mut relays, addresses) = RelayProcess::network(&relay_dirs).await;
    let addresses: Vec<&str> = addresses.iter().map(String::as_str).collect();

    // Two people, each with a mailbox at three relays, who exchange invites.
    let bob = Profile::init(&addresses[..3]).await;
    let alice = Profile::init(&addresses[3..]).await;
    let (alice_address, bob_address) = (alice.address().await, bob.address().await);
    alice.add_contact("bob", &bob).await;
    bob.add_contact("alice", &alice).await;
    let alice_daemon = alice.daemon().await;
    let bob_daemon = bob.daemon().await;
    alice.wait_online(3).await;
    bob.wait_online(3).await;

    let run = alice.tern(&["send", "bob", "hello bob"]).await;
    assert_eq!(run.code, 0, "{run:?}");
    eventually("bob to receive the first message", || async {
        (texts(&bob, "alice", "incoming").await == ["hello bob"]).then_some(())
    })
    .await;

    // Bob's daemon dies without a chance to shut down; Alice keeps writing. Each message is
    // stored once custody receipts from at least two relays are in.
    bob_daemon.kill().await;
    let away: Vec<String> = (1..=10)
        .map(|i| format!("while you were away #{i}"))
        .collect();
    for text in &away {
        let run = alice.tern(&["send", "bob", text]).await;
        assert_eq!(run.code, 0, "{run:?}");
    }
    eventually(
        "every message to be held by at least two relays",
        || async {
            let outgoing = alice.history("bob").await;
            outgoing
                .iter()
                .filter(|m| m["direction"] == "outgoing" && m["text"] != "hello bob")
                .all(|m| {
                    m["delivery"]["state"] == "stored"
                        && m["delivery"]["stored"].as_u64() >= Some(2)
                })
                .then_some(())
        },
    )
    .await;

    // One of Bob's relays is killed after issuing its receipts and comes back at its address
    // from its data directory.
    let killed = relays.remove(2);
    let listen = killed.listen_address().await;
    killed.kill().await;
    relays.insert(
        2,
        RelayProcess::start_at(relay_dirs[2].path(), &listen, &[addresses[0]]),
    );
    assert_eq!(
        relays[2].address().await.0,
        addresses[2],
        "the same relay is back"
    );

    // Bob comes back: everything arrives exactly once, in the order it was written, and Alice
    // sees it delivered.
    let bob_daemon = bob.daemon().await;
    let expected: Vec<String> = std::iter::once("hello bob".to_owned())
        .chain(away.iter().cloned())
        .collect();
    let received = eventually("bob to collect his mailboxes", || async {
        let received = texts(&bob, "alice", "incoming").await;
        (received.len() >= expected.len()).then_some(received)
    })
    .await;
    assert_eq!(received, expected, "each message exactly once, in order");
    eventually("alice to see every message delivered", || async {
        alice.all_sent_delivered("bob").await.then_some(())
    })
    .await;
    // Later rounds of collection find nothing new.
    bob.wait_online(3).await;
    assert_eq!(texts(&bob, "alice", "incoming").await, expected);

    alice_daemon.stop().await;
    bob_daemon.stop().await;
    for relay in relays {
        relay.stop().await;
    }

    // No relay's disk holds any text. Bob's relays hold nothing of Alice, the sender, in any
    // form; Alice's relays nothing of Bob, who sent her the receipts.
    let alice_id: tern_crypto::UserId = alice_address.parse().expect("an address");
    let bob_id: tern_crypto::UserId = bob_address.parse().expect("an address");
    let mut texts: Vec<Vec<u8>> = expected.iter().map(|t| t.as_bytes().to_vec()).collect();
    texts.push(b"while you were away".to_vec());
    for (i, dir) in relay_dirs.iter().enumerate() {
        let (sender_address, sender_id) = if i < 3 {
            (&alice_address, &alice_id)
        } else {
            (&bob_address, &bob_id)
        };
        let mut needles = texts.clone();
        needles.push(sender_address.as_bytes().to_vec());
        needles.push(sender_id.as_bytes().to_vec());
        let files = files(dir.path());
        assert!(!files.is_empty());
        for (path, bytes) in &files {
            for needle in &needles {
                assert!(
                    !contains(bytes, needle),
                    "{} holds {:?}",
                    path.display(),
                    String::from_utf8_lossy(needle)
                );
            }
        }
    }
}
