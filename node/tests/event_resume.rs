//! A subscriber that reconnects from its last cursor gets exactly the events it missed —
//! within one run of the node and across a restart.

#[path = "support/harness.rs"]
mod support;

use futures::StreamExt;
use support::{EVENT_TIMEOUT, TestNode};
use tern_node::{Cursor, Event, EventStream, MessageId};

async fn next_sent(events: &mut EventStream) -> (Cursor, MessageId) {
    loop {
        let (cursor, event) = tokio::time::timeout(EVENT_TIMEOUT, events.next())
            .await
            .expect("timed out")
            .expect("stream ended");
        if let Event::MessageSent(m) = event {
            return (cursor, m.id);
        }
    }
}

/// A peer that never comes online: messages to it stay queued, which is all these tests need.
async fn offline_peer() -> tern_node::UserId {
    let other = TestNode::start("offline", &[]).await;
    let user = other.node.user_id();
    other.node.shutdown().await;
    user
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resuming_from_a_cursor_yields_exactly_the_missed_events() {
    let offline = offline_peer().await;
    let alice = TestNode::start("alice", &[]).await;
    let mut first = alice.node.events(tern_node::From::Oldest);
    let mut sent = Vec::new();
    for i in 0..3 {
        sent.push(
            alice
                .node
                .send(offline, format!("message {i}"))
                .await
                .unwrap(),
        );
    }
    let mut seen = Vec::new();
    for _ in 0..3 {
        seen.push(next_sent(&mut first).await);
    }
    assert_eq!(seen.iter().map(|(_, id)| *id).collect::<Vec<_>>(), sent);
    let (last_cursor, _) = seen[1];
    drop(first);

    // Missed while disconnected: message 2 was already logged, and two more happen now.
    for i in 3..5 {
        sent.push(
            alice
                .node
                .send(offline, format!("message {i}"))
                .await
                .unwrap(),
        );
    }
    let mut resumed = alice.node.events(tern_node::From::After(last_cursor));
    let mut got = Vec::new();
    for _ in 0..3 {
        got.push(next_sent(&mut resumed).await);
    }
    assert_eq!(got.iter().map(|(_, id)| *id).collect::<Vec<_>>(), sent[2..]);
    assert!(got.windows(2).all(|w| w[1].0 > w[0].0), "cursors increase");

    // Across a restart of the node: resume after the last event seen before it stopped.
    let (before_restart, _) = got[2];
    let dir = alice.dir.path().to_owned();
    let _keep = &alice.dir;
    alice.node.shutdown().await;
    let node = TestNode::spawn(&dir, &[]).await;
    let after = node.send(offline, "after restart").await.unwrap();
    let mut resumed = node.events(tern_node::From::After(before_restart));
    let (cursor, id) = next_sent(&mut resumed).await;
    assert_eq!(id, after);
    assert_eq!(
        cursor.0,
        before_restart.0 + 1,
        "no event skipped, none repeated"
    );
    node.shutdown().await;
}

/// `From::Now` starts after what the log already holds, across a restart too: a bot that
/// subscribes with it never answers an old message again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscribing_from_now_skips_what_the_log_holds() {
    let offline = offline_peer().await;
    let alice = TestNode::start("alice", &[]).await;
    alice.node.send(offline, "old").await.unwrap();
    let dir = alice.dir.path().to_owned();
    let _keep = &alice.dir;
    alice.node.shutdown().await;

    let node = TestNode::spawn(&dir, &[]).await;
    let mut everything = node.events(tern_node::From::Oldest);
    let (oldest, _) = next_sent(&mut everything).await;
    let mut now = node.events(tern_node::From::Now);
    let new = node.send(offline, "new").await.unwrap();
    let (cursor, id) = next_sent(&mut now).await;
    assert_eq!(id, new, "the old message is not replayed");
    assert!(cursor > oldest);
    node.shutdown().await;
}

/// Dropping every handle stops the node and releases its data directory.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_the_last_handle_stops_the_node() {
    let alice = TestNode::start("alice", &[]).await;
    let dir = alice.dir.path().to_owned();
    let _keep = &alice.dir;
    let mut events = alice.node.events(tern_node::From::Now);
    drop(alice.node);
    // The event stream ends once the node has stopped...
    let end = tokio::time::timeout(EVENT_TIMEOUT, events.next()).await;
    assert!(matches!(end, Ok(None)), "the stream ends");
    // ...and the directory can be opened again (the database lock is released).
    let reopened = tokio::time::timeout(EVENT_TIMEOUT, async {
        loop {
            match tern_node::Node::builder(&dir)
                .with_passphrase("test passphrase")
                .with_listen_addr("/ip4/127.0.0.1/tcp/0")
                .with_mdns(false)
                .spawn()
                .await
            {
                Ok(node) => return node,
                Err(tern_node::StartError::Locked) => {
                    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                }
                Err(e) => panic!("cannot reopen: {e}"),
            }
        }
    })
    .await
    .expect("the data directory stayed locked");
    reopened.shutdown().await;
}

/// A builder without a passphrase refuses to start rather than silently using none.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_or_empty_passphrase_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let builder = || {
        tern_node::Node::builder(dir.path())
            .with_listen_addr("/ip4/127.0.0.1/tcp/0")
            .with_mdns(false)
            .create_account(true)
    };
    assert!(matches!(
        builder().spawn().await,
        Err(tern_node::StartError::NoPassphrase)
    ));
    assert!(matches!(
        builder().with_passphrase("").spawn().await,
        Err(tern_node::StartError::EmptyPassphrase)
    ));
    assert!(!dir.path().join("db").exists(), "nothing was created");
    let node = builder().insecure_no_passphrase().spawn().await.unwrap();
    node.shutdown().await;
}
