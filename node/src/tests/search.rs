//! Search over a node's history: a year of messages, a word in the oldest one found, gone
//! once the message is deleted, and the index rebuilt from history after a restart.

use tern_crypto::rand_core::UnwrapErr;

use super::*;
use crate::{
    MessageId,
    body::{Body, Text},
    test_utils::{wait_for, wait_received},
};

/// Messages in the simulated year: one every 15 hours or so.
const YEAR_OF_MESSAGES: u64 = 600;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_word_from_a_year_ago_is_found_until_its_message_is_deleted() {
    let dirs: Vec<TempDir> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    let bootstrap = start(dirs[0].path(), &[]).await;
    let seed = bootstrap.addresses().await;
    let alice = start(dirs[1].path(), &seed).await;
    let bob = start(dirs[2].path(), &seed).await;
    let (a, b) = (alice.user_id(), bob.user_id());
    alice.add_contact("bob", b).await.unwrap();
    bob.add_contact("alice", a).await.unwrap();
    let mut events = bob.events(crate::From::Oldest);

    // A year of Alice's messages, oldest first, as her clock stamped them.
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    let step = 365 * 24 * 3600 * 1000 / YEAR_OF_MESSAGES;
    let mut oldest = None;
    for i in 0..YEAR_OF_MESSAGES {
        let id = MessageId::random(&mut UnwrapErr(getrandom::SysRng));
        oldest.get_or_insert(id);
        let text = if i == 0 {
            "the Kilimanjaro tickets are booked".to_owned()
        } else {
            format!("message {i} about lunch and the weather")
        };
        let stamp = (now_ms - (YEAR_OF_MESSAGES - i) * step) << 16;
        alice
            .send_body(
                b,
                Body::Text(Text {
                    id,
                    stamp,
                    text,
                    reply_to: None,
                    expire_secs: None,
                }),
            )
            .await;
    }
    let oldest = oldest.unwrap();
    alice.send(b, "that was the year").await.unwrap();
    wait_received(&mut events, "that was the year").await;

    // Case, accents and a word still being typed.
    for query in ["kilimanjaro", "KILIMANJARO tick", "kiliman"] {
        let page = bob.search(query, None, 20, None).await.unwrap();
        assert_eq!(page.hits.len(), 1, "{query}");
        assert_eq!(page.hits[0].id(), oldest);
        assert_eq!(page.hits[0].chat(), crate::ChatId::Peer(a));
    }
    // Newest first, paged like history, only in the chosen conversation.
    let first = bob.search("lunch", Some(a.into()), 50, None).await.unwrap();
    assert_eq!(first.hits.len(), 50);
    assert!(
        first
            .hits
            .windows(2)
            .all(|w| w[0].sent_at_ms() >= w[1].sent_at_ms())
    );
    let second = bob
        .search("lunch", Some(a.into()), 50, first.next.as_deref())
        .await
        .unwrap();
    assert!(second.hits[0].sent_at_ms() <= first.hits[49].sent_at_ms());
    assert!(
        bob.search("lunch", Some(b.into()), 50, None)
            .await
            .unwrap()
            .hits
            .is_empty()
    );
    assert!(matches!(
        bob.search("lunch", None, 5, Some("not a cursor")).await,
        Err(crate::SearchError::BadCursor(_))
    ));

    // The index is rebuilt from history after a restart.
    bob.shutdown().await;
    let bob = start(dirs[2].path(), &seed).await;
    let page = bob.search("kilimanjaro", None, 20, None).await.unwrap();
    assert_eq!(page.hits.len(), 1);

    // Deleted, it is no longer found, also after the next restart.
    let mut events = bob.events(crate::From::Now);
    bob.delete_for_me(a, oldest).await.unwrap();
    wait_for(&mut events, |e| match e {
        Event::MessageDeleted { id, .. } if *id == oldest => Some(()),
        _ => None,
    })
    .await;
    assert!(
        bob.search("kilimanjaro", None, 20, None)
            .await
            .unwrap()
            .hits
            .is_empty()
    );
    bob.shutdown().await;
    let bob = start(dirs[2].path(), &seed).await;
    assert!(
        bob.search("kilimanjaro", None, 20, None)
            .await
            .unwrap()
            .hits
            .is_empty()
    );
    assert!(
        !bob.search("weather", None, 5, None)
            .await
            .unwrap()
            .hits
            .is_empty()
    );
    for node in [alice, bob, bootstrap] {
        node.shutdown().await;
    }
}
