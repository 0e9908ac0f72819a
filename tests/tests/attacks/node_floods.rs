//! Floods of a user's node (finding 4 of the abuse review): strangers' throwaway accounts
//! writing far more than anyone reads, and junk deliveries, while Alice writes to Bob.

use tern_crypto::UserId;
use tern_proto::msg::{self, Delivery, Status};
use tern_tests::eventually;

use crate::{
    attacker::{Attack, noise_bytes},
    dht::find_record,
    honest::{Chat, RUN, assert_within_bound},
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn throwaway_accounts_and_junk_deliveries_flood_a_daemon() {
    let _serial = crate::ONE_AT_A_TIME.lock().await;
    const ATTACKERS: usize = 6;
    const EACH: usize = 60;
    let relay_dir = tempfile::tempdir().expect("tempdir");
    let relay = tern_tests::RelayProcess::start(relay_dir.path(), &[]);
    let (relay_address, _) = relay.address().await;
    let mut chat = Chat::start(&[&relay_address]).await;
    chat.bob_comes_online().await;
    let calm = chat.timed("calm", RUN).await;

    // The attacker finds Bob's daemon as anyone can, in his record, and sends it junk.
    let bob_user: UserId = chat.bob.address().await.parse().expect("bob's address");
    let record = find_record(&relay_address.parse().expect("an address"), &bob_user)
        .await
        .expect("bob's record")
        .0;
    let bob_address = record
        .addresses
        .first()
        .expect("bob listens somewhere")
        .clone()
        .with(libp2p::multiaddr::Protocol::P2p(record.device));
    let junk = Attack::flood_with(
        msg::Codec,
        msg::PROTOCOL,
        bob_address,
        64,
        |n| Delivery {
            envelope: noise_bytes(n, 16 * 1024),
        },
        |status| !matches!(status, Status::Stored),
    );

    // With the refusal delay the attacker's window comes back once a second.
    eventually("the junk to be flowing", || async {
        (junk.answered() >= 200).then_some(())
    })
    .await;
    let attacked = chat.timed("under attack", RUN).await;

    // Then throwaway accounts, each writing far more than a request holds, all at once,
    // while the junk goes on and Alice keeps writing. They are real nodes, in this process:
    // junk is refused before it is opened, so only real sessions reach the requests area.
    // They are not timed against: their encryption runs on the machine the honest users
    // share, where an attacker's own CPU would not.
    let mut strangers = Vec::new();
    for _ in 0..ATTACKERS {
        strangers.push(
            tern_node::test_utils::TestNode::start(
                "stranger",
                std::slice::from_ref(&relay_address),
            )
            .await,
        );
    }
    let floods: Vec<_> = strangers
        .iter()
        .map(|stranger| {
            let node = stranger.node.clone();
            tokio::spawn(async move {
                let sends = (0..EACH).map(|i| node.send(bob_user, format!("spam {i}")));
                futures::future::join_all(sends).await
            })
        })
        .collect();
    chat.send("while they spam", 10).await;
    chat.bob_has_everything().await;
    for flood in floods {
        for sent in flood.await.expect("a flood task") {
            sent.expect("the stranger's node accepted its send");
        }
    }
    eprintln!(
        "junk: {} answered, {} refused",
        junk.answered(),
        junk.refused()
    );
    assert_eq!(junk.answered(), junk.refused(), "no junk was stored");
    junk.stop();
    assert_within_bound(&calm, &attacked);

    // The strangers fill requests, never the chats: at most 20 each, the rest dropped and
    // counted.
    let dropped = (EACH - 20) as u64;
    eventually(
        "every stranger's request to be full, the rest dropped",
        || async {
            let requests = chat.bob.tern(&["requests", "--json"]).await.json();
            let done = requests
                .as_array()?
                .iter()
                .filter(|r| r["messages"] == 20 && r["dropped"].as_u64() == Some(dropped))
                .count();
            (done == ATTACKERS).then_some(())
        },
    )
    .await;
    let chats = chat.bob.tern(&["chats", "--json"]).await.json();
    let peers: Vec<&str> = chats["chats"]
        .as_array()
        .expect("chats")
        .iter()
        .map(|c| c["name"].as_str().unwrap_or("?"))
        .collect();
    assert_eq!(peers, ["alice"], "only the contact is in the chats");
    let status = chat.bob.tern(&["status", "--json"]).await.json();
    let rejections = &status["rejections"];
    assert_eq!(
        rejections["request_dropped"].as_u64(),
        Some(ATTACKERS as u64 * dropped),
        "every dropped message is counted: {rejections}"
    );
    let refused: u64 = rejections
        .as_object()
        .expect("rejections by reason")
        .iter()
        .filter(|(reason, _)| *reason != "request_dropped")
        .filter_map(|(_, count)| count.as_u64())
        .sum();
    assert!(refused > 0, "the junk is counted: {rejections}");

    for stranger in strangers {
        stranger.node.shutdown().await;
    }
    chat.stop().await;
    relay.stop().await;
}
