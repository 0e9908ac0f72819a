//! Search across group chats, through a real relay: a member finds a group's messages (its
//! own and others', by text and by a file's name) as soon as they are in history, beside
//! its 1:1 messages, each shown in the chat it belongs to; a search limited to a group finds
//! only that group's; an edit and a delete for everyone change what is found; and after a
//! restart the rebuilt index still knows a group's messages as group messages.

mod support;

use std::{future::Future, time::Duration};

use support::node_builder as builder;
use tern_node::{ChatId, GroupId, Node, SearchError, SearchHit};

const TIMEOUT: Duration = Duration::from_secs(90);

async fn until<F: Future<Output = bool>>(what: &str, mut check: impl FnMut() -> F) {
    tokio::time::timeout(TIMEOUT, async {
        while !check().await {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
    .unwrap_or_else(|_| panic!("timed out waiting for {what}"));
}

/// The chats and ids of what `node` finds for `query`, newest first.
async fn found(node: &Node, query: &str, chat: Option<ChatId>) -> Vec<(ChatId, String)> {
    let page = node.search(query, chat, 50, None).await.unwrap();
    page.hits
        .iter()
        .map(|hit| (hit.chat(), hit.text().to_owned()))
        .collect()
}

/// Waits until `node`'s history of `group` holds a message with `text`.
async fn holds(node: &Node, group: GroupId, text: &str) {
    until(&format!("{text:?} in history"), || async {
        node.group_history(group, 50)
            .await
            .is_ok_and(|h| h.iter().any(|m| m.text == text))
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_members_search_finds_group_messages_in_their_group_as_they_arrive() {
    let relay_dir = tempfile::tempdir().unwrap();
    let relay = tern_relay::Relay::spawn(
        tern_relay::Config::new(relay_dir.path()).with_listen_addr("/ip4/127.0.0.1/tcp/0"),
    )
    .await
    .unwrap();
    let relays = vec![relay.addresses().await[0].clone()];
    let dirs: Vec<_> = (0..2).map(|_| tempfile::tempdir().unwrap()).collect();
    let alice = builder(dirs[0].path(), &relays).spawn().await.unwrap();
    let bob = builder(dirs[1].path(), &relays).spawn().await.unwrap();
    let (a, b) = (alice.user_id(), bob.user_id());
    alice.add_contact("bob", b).await.unwrap();
    bob.add_contact("alice", a).await.unwrap();
    let group = alice.create_group("trips").await.unwrap();
    alice.add_members(group, vec![b]).await.unwrap();
    until("bob to join", || async {
        bob.group_info(group).await.is_ok_and(|g| g.active)
    })
    .await;

    // The same word in a 1:1 chat and in the group, the group's newest.
    alice.send(b, "kilimanjaro boots bought").await.unwrap();
    until("bob to have the 1:1 message", || async {
        bob.history(a, 10, None)
            .await
            .is_ok_and(|p| p.messages.iter().any(|m| m.text.contains("boots")))
    })
    .await;
    let tickets = alice
        .send_to_group(group, "kilimanjaro tickets booked")
        .await
        .unwrap();
    holds(&bob, group, "kilimanjaro tickets booked").await;
    let both = vec![
        (
            ChatId::Group(group),
            "kilimanjaro tickets booked".to_owned(),
        ),
        (ChatId::Peer(a), "kilimanjaro boots bought".to_owned()),
    ];
    assert_eq!(found(&bob, "kilimanjaro", None).await, both);
    let page = bob.search("tickets", None, 10, None).await.unwrap();
    let [SearchHit::Group(hit)] = page.hits.as_slice() else {
        panic!("not one group hit: {page:?}");
    };
    assert_eq!((hit.id, hit.group, hit.sender), (tickets, group, a));
    // Limited to a chat: the group's, or the 1:1 one's only.
    assert_eq!(
        found(&bob, "kilimanjaro", Some(ChatId::Group(group))).await,
        both[..1]
    );
    assert_eq!(found(&bob, "kilimanjaro", Some(a.into())).await, both[1..]);
    // The sender finds its own group message too.
    assert_eq!(
        found(&alice, "tickets", None).await,
        [(
            ChatId::Group(group),
            "kilimanjaro tickets booked".to_owned()
        )]
    );

    // A file is found by its name.
    let path = dirs[0].path().join("itinerary-arusha.pdf");
    std::fs::write(&path, b"day 1: Moshi").unwrap();
    alice.send_file(group, &path, "the plan").await.unwrap();
    holds(&bob, group, "the plan").await;
    assert_eq!(
        found(&bob, "arusha", None).await,
        [(ChatId::Group(group), "the plan".to_owned())]
    );

    // An edit changes what is found; a delete for everyone removes it.
    alice
        .edit(group, tickets, "everest tickets booked")
        .await
        .unwrap();
    holds(&bob, group, "everest tickets booked").await;
    assert_eq!(found(&bob, "tickets", None).await.len(), 1);
    assert_eq!(found(&bob, "everest", None).await.len(), 1);
    assert_eq!(found(&bob, "kilimanjaro", None).await, both[1..]);
    alice.delete(group, tickets).await.unwrap();
    until("bob to see the delete", || async {
        bob.group_history(group, 50)
            .await
            .is_ok_and(|h| h.iter().any(|m| m.id == tickets && m.deleted))
    })
    .await;
    assert!(found(&bob, "everest", None).await.is_empty());

    // A group this node was never in.
    let elsewhere = alice.create_group("elsewhere").await.unwrap();
    assert!(matches!(
        bob.search("plan", Some(ChatId::Group(elsewhere)), 10, None)
            .await,
        Err(SearchError::NoSuchGroup(g)) if g == elsewhere
    ));

    // After a restart the index is built from history, and still knows the group's.
    bob.shutdown().await;
    let bob = builder(dirs[1].path(), &relays).spawn().await.unwrap();
    assert_eq!(
        found(&bob, "plan", None).await,
        [(ChatId::Group(group), "the plan".to_owned())]
    );
    assert_eq!(
        found(&bob, "kilimanjaro", Some(ChatId::Group(group))).await,
        []
    );
    for node in [alice, bob] {
        node.shutdown().await;
    }
    relay.shutdown().await;
}
