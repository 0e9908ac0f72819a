//! Honest users keep writing while attackers flood: real `tern-relay` and `tern daemon`
//! processes. One attacker, written here with raw libp2p, asks every relay for challenges and
//! pushes junk deposits into random mailboxes as fast as they answer; others are throwaway
//! accounts writing to a daemon that never heard of them. Every message the honest users send
//! arrives exactly once, in order.

use std::sync::{
    Arc,
    atomic::{AtomicU64, Ordering},
};

use futures::StreamExt;
use libp2p::{
    Multiaddr, noise,
    request_response::{self, ProtocolSupport},
    swarm::SwarmEvent,
    tcp, yamux,
};
use tern_proto::mailbox::{Codec, Request};
use tern_tests::{Profile, RelayProcess, TIMEOUT, eventually};

/// Floods the relay at `address` until the task is aborted, counting the answers it gets.
async fn flood(address: String, answered: Arc<AtomicU64>) {
    let address: Multiaddr = address.parse().expect("a relay address");
    let Some(libp2p::multiaddr::Protocol::P2p(relay)) = address.iter().last() else {
        panic!("no peer id in {address}");
    };
    let mut swarm = libp2p::SwarmBuilder::with_new_identity()
        .with_tokio()
        .with_tcp(
            tcp::Config::default(),
            noise::Config::new,
            yamux::Config::default,
        )
        .expect("tcp")
        .with_behaviour(|_| {
            request_response::Behaviour::<Codec>::new(
                [(tern_proto::mailbox::PROTOCOL, ProtocolSupport::Outbound)],
                request_response::Config::default().with_request_timeout(TIMEOUT),
            )
        })
        .expect("behaviour")
        .with_swarm_config(|c| c.with_idle_connection_timeout(TIMEOUT))
        .build();
    swarm.dial(address).expect("dial");
    let junk = vec![0xee; 64 * 1024];
    let (mut in_flight, mut n) = (0, 0u64);
    loop {
        while in_flight < 64 {
            let request = if n.is_multiple_of(2) {
                Request::Challenge
            } else {
                let mut mailbox = [0u8; 32];
                mailbox[..8].copy_from_slice(&n.to_be_bytes());
                Request::Deposit {
                    mailbox,
                    envelope: junk.clone(),
                }
            };
            swarm.behaviour_mut().send_request(&relay, request);
            in_flight += 1;
            n += 1;
        }
        if let SwarmEvent::Behaviour(
            request_response::Event::Message {
                message: request_response::Message::Response { .. },
                ..
            }
            | request_response::Event::OutboundFailure { .. },
        ) = swarm.select_next_some().await
        {
            in_flight -= 1;
            answered.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// The texts Bob received from Alice, oldest first.
async fn received(bob: &Profile) -> Vec<String> {
    bob.history("alice")
        .await
        .iter()
        .filter(|m| m["direction"] == "incoming")
        .map(|m| m["text"].as_str().expect("text").to_owned())
        .collect()
}

/// Waits until `profile`'s daemon has published its record and reaches all three relays.
async fn online(profile: &Profile) {
    eventually(
        "the daemon to be published and reach its relays",
        || async {
            let status = profile.tern(&["status", "--json"]).await.json();
            let connected = status["relays"]
                .as_array()?
                .iter()
                .filter(|r| r["connected"] == true)
                .count();
            (status["record_published"].is_u64() && connected == 3).then_some(())
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_through_flooded_relays_arrive_exactly_once() {
    let dirs: Vec<tempfile::TempDir> = (0..3)
        .map(|_| tempfile::tempdir().expect("tempdir"))
        .collect();
    let first = RelayProcess::start(dirs[0].path(), &[]);
    let (first_address, _) = first.address().await;
    let mut relays = vec![first];
    for dir in &dirs[1..] {
        relays.push(RelayProcess::start(dir.path(), &[&first_address]));
    }
    let mut addresses = Vec::new();
    for relay in &relays {
        addresses.push(relay.address().await.0);
    }
    let addresses: Vec<&str> = addresses.iter().map(String::as_str).collect();

    let alice = Profile::init(&addresses).await;
    let bob = Profile::init(&addresses).await;
    alice.add_contact("bob", &bob).await;
    bob.add_contact("alice", &alice).await;
    let alice_daemon = alice.daemon().await;
    let bob_daemon = bob.daemon().await;
    online(&alice).await;
    online(&bob).await;

    // The attack starts on every relay and runs to the end.
    let answered = Arc::new(AtomicU64::new(0));
    let attackers: Vec<_> = addresses
        .iter()
        .map(|address| tokio::spawn(flood((*address).to_owned(), answered.clone())))
        .collect();
    eventually("the flood to be under way", || async {
        (answered.load(Ordering::Relaxed) >= 500).then_some(())
    })
    .await;

    // Bob is away: Alice's messages go through the flooded relays' mailboxes.
    bob_daemon.kill().await;
    let expected: Vec<String> = (1..=10).map(|i| format!("under fire #{i}")).collect();
    for text in &expected {
        let run = alice.tern(&["send", "bob", text]).await;
        assert_eq!(run.code, 0, "{run:?}");
    }
    eventually("every message to be held by two relays", || async {
        alice
            .history("bob")
            .await
            .iter()
            .filter(|m| m["direction"] == "outgoing")
            .all(|m| m["delivery"]["state"] == "stored" || m["delivery"]["state"] == "delivered")
            .then_some(())
    })
    .await;
    let bob_daemon = bob.daemon().await;
    let got = eventually("bob to collect through the flood", || async {
        let got = received(&bob).await;
        (got.len() >= expected.len()).then_some(got)
    })
    .await;
    assert_eq!(got, expected, "each message exactly once, in order");
    eventually("alice to see every message delivered", || async {
        alice.all_sent_delivered("bob").await.then_some(())
    })
    .await;
    assert!(
        answered.load(Ordering::Relaxed) >= 1_000,
        "the attacker kept flooding throughout"
    );

    for attacker in attackers {
        attacker.abort();
    }
    alice_daemon.stop().await;
    bob_daemon.stop().await;
    for relay in relays {
        relay.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn throwaway_accounts_flooding_a_daemon_stay_in_capped_requests() {
    const ATTACKERS: usize = 6;
    const EACH: usize = 60;
    let relay_dir = tempfile::tempdir().expect("tempdir");
    let relay = RelayProcess::start(relay_dir.path(), &[]);
    let (relay_address, _) = relay.address().await;
    let alice = Profile::init(&[&relay_address]).await;
    let bob = Profile::init(&[&relay_address]).await;
    alice.add_contact("bob", &bob).await;
    bob.add_contact("alice", &alice).await;
    let alice_daemon = alice.daemon().await;
    let bob_daemon = bob.daemon().await;
    let bob_user: tern_node::UserId = bob.address().await.parse().expect("an address");

    // Throwaway accounts, each writing far more than a request holds, all at once.
    let mut attackers = Vec::new();
    for _ in 0..ATTACKERS {
        attackers.push(
            tern_node::test_utils::TestNode::start(
                "attacker",
                std::slice::from_ref(&relay_address),
            )
            .await,
        );
    }
    let floods: Vec<_> = attackers
        .iter()
        .map(|attacker| {
            let node = attacker.node.clone();
            tokio::spawn(async move {
                let sends = (0..EACH).map(|i| node.send(bob_user, format!("spam {i}")));
                futures::future::join_all(sends).await
            })
        })
        .collect();

    // Meanwhile Alice writes to Bob: every message arrives, once, in order.
    let expected: Vec<String> = (1..=10).map(|i| format!("while they spam #{i}")).collect();
    for text in &expected {
        let run = alice.tern(&["send", "bob", text]).await;
        assert_eq!(run.code, 0, "{run:?}");
    }
    let got = eventually("bob to receive alice's messages", || async {
        let got = received(&bob).await;
        (got.len() >= expected.len()).then_some(got)
    })
    .await;
    assert_eq!(got, expected, "each message exactly once, in order");
    for flood in floods {
        for sent in flood.await.expect("a flood task") {
            sent.expect("the attacker's node accepted its send");
        }
    }

    // The attackers fill requests, never the chats: at most 20 each, the rest dropped and
    // counted.
    let dropped = (EACH - 20) as u64;
    eventually(
        "every attacker's request to be full, the rest dropped",
        || async {
            let requests = bob.tern(&["requests", "--json"]).await.json();
            let done = requests
                .as_array()?
                .iter()
                .filter(|r| r["messages"] == 20 && r["dropped"].as_u64() == Some(dropped))
                .count();
            (done == ATTACKERS).then_some(())
        },
    )
    .await;
    let chats = bob.tern(&["chats", "--json"]).await.json();
    let peers: Vec<&str> = chats["chats"]
        .as_array()
        .expect("chats")
        .iter()
        .map(|c| c["name"].as_str().unwrap_or("?"))
        .collect();
    assert_eq!(peers, ["alice"], "only the contact is in the chats");
    let status = bob.tern(&["status", "--json"]).await.json();
    assert_eq!(
        status["rejections"]["request_dropped"].as_u64(),
        Some(ATTACKERS as u64 * dropped),
        "every dropped message is counted"
    );

    for attacker in attackers {
        attacker.node.shutdown().await;
    }
    alice_daemon.stop().await;
    bob_daemon.stop().await;
    relay.stop().await;
}
