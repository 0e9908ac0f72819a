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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resuming_from_a_cursor_yields_exactly_the_missed_events() {
    // A peer that never comes online: its messages stay queued, which is all this test needs.
    let offline: tern_node::UserId = {
        let other = TestNode::start("offline", &[]).await;
        let user = other.node.user_id();
        other.node.shutdown().await;
        user
    };
    let alice = TestNode::start("alice", &[]).await;
    let mut first = alice.node.events(None);
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
    let mut resumed = alice.node.events(Some(last_cursor));
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
    let mut resumed = node.events(Some(before_restart));
    let (cursor, id) = next_sent(&mut resumed).await;
    assert_eq!(id, after);
    assert_eq!(
        cursor.0,
        before_restart.0 + 1,
        "no event skipped, none repeated"
    );
    node.shutdown().await;
}
