//! Nothing accepted is lost: a sender killed with SIGKILL right after `send` returned
//! delivers the message after restart, exactly once; a recipient that was down when the
//! message was sent receives it when it comes back; a disappearing message whose timer ran out
//! while its node lay killed is erased when it starts again.
//!
//! The crash is real: the test binary runs itself again as a child process (the ignored test
//! `child_sender` below, selected by name), which starts a node, sends, reports the message id
//! on stdout and waits; the parent kills it with SIGKILL and restarts the node from the same
//! data directory in-process.

#[path = "support/harness.rs"]
mod support;

use std::{
    io::{BufRead, BufReader},
    process::{Command, Stdio},
};

use support::{TestNode, wait_for};
use tern_node::{DeliveryState, Event, MessageId, UserId};

const CHILD_DIR: &str = "TERN_TEST_CHILD_DIR";
const CHILD_BOOTSTRAP: &str = "TERN_TEST_CHILD_BOOTSTRAP";
const CHILD_PEER: &str = "TERN_TEST_CHILD_PEER";

/// Runs only as the child of `sender_killed_after_send_still_delivers_exactly_once`.
#[tokio::test]
#[ignore = "run by its parent test as a separate process"]
async fn child_sender() {
    let Ok(dir) = std::env::var(CHILD_DIR) else {
        return;
    };
    let bootstrap = std::env::var(CHILD_BOOTSTRAP).unwrap();
    let peer: UserId = std::env::var(CHILD_PEER).unwrap().parse().unwrap();
    let node = TestNode::spawn(std::path::Path::new(&dir), &[bootstrap]).await;
    node.add_contact("peer", peer).await.unwrap();
    let id = node.send(peer, "sent just before the crash").await.unwrap();
    #[allow(clippy::print_stdout, reason = "the parent test reads this line")]
    {
        println!("SENT {id}");
    }
    // Wait to be killed.
    std::future::pending::<()>().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sender_killed_after_send_still_delivers_exactly_once() {
    let bootstrap = TestNode::start("bootstrap", &[]).await;
    let seed = bootstrap.node.addresses().await;
    // The recipient is offline while the sender runs and dies.
    let bob_dir = tempfile::tempdir().unwrap();
    let bob = TestNode::spawn(bob_dir.path(), &seed).await;
    let bob_user = bob.user_id();
    bob.shutdown().await;
    drop(bob);

    let alice_dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--ignored",
            "--exact",
            "child_sender",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_DIR, alice_dir.path())
        .env(CHILD_BOOTSTRAP, &seed[0])
        .env(CHILD_PEER, bob_user.to_string())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = BufReader::new(child.stdout.take().unwrap());
    let line = tokio::task::spawn_blocking(move || {
        // libtest may print its own "test child_sender ... " on the same line first.
        stdout
            .lines()
            .map_while(Result::ok)
            .find_map(|l| l.split_once("SENT ").map(|(_, id)| id.trim().to_owned()))
            .expect("child exited without sending")
    })
    .await
    .unwrap();
    let id: MessageId = line.parse().unwrap();
    // SIGKILL: no destructor, no flush, nothing but what was already on disk survives.
    child.kill().unwrap();
    child.wait().unwrap();

    // Bob comes back; then Alice's node restarts from the crashed directory.
    let bob = TestNode::spawn(bob_dir.path(), &seed).await;
    let mut bob_events = bob.events(tern_node::From::Oldest);
    let alice = TestNode::spawn(alice_dir.path(), &seed).await;
    let mut alice_events = alice.events(tern_node::From::Oldest);
    let history = alice.history(bob_user, 10, None).await.unwrap();
    assert_eq!(
        history.messages.len(),
        1,
        "the accepted message is in the sender's history after the crash"
    );
    assert_eq!(history.messages[0].id, id);

    // Bob never added Alice: her message is a message request, which is stored the same way.
    let received = wait_for(&mut bob_events, |e| match e {
        Event::MessageReceived(m) | Event::RequestReceived(m) if m.id == id => Some(m.text.clone()),
        _ => None,
    })
    .await;
    assert_eq!(received, "sent just before the crash");
    wait_for(&mut alice_events, |e| match e {
        Event::DeliveryStateChanged {
            id: i,
            state: DeliveryState::Delivered,
            ..
        } if *i == id => Some(()),
        _ => None,
    })
    .await;

    // Exactly once: one copy in Bob's history, and one received event in his whole log.
    let bob_history = bob.history(alice.user_id(), 10, None).await.unwrap();
    assert_eq!(
        bob_history.messages.iter().filter(|m| m.id == id).count(),
        1
    );
    bob.shutdown().await;
    let bob = TestNode::spawn(bob_dir.path(), &seed).await;
    // Replay the whole log up to a marker event made after the restart.
    let mut replay = bob.events(tern_node::From::Oldest);
    let marker = bob.send(alice.user_id(), "marker").await.unwrap();
    let mut received = 0;
    wait_for(&mut replay, |e| match e {
        Event::MessageReceived(m) | Event::RequestReceived(m) if m.id == id => {
            received += 1;
            None
        }
        Event::MessageSent(m) if m.id == marker => Some(()),
        _ => None,
    })
    .await;
    assert_eq!(received, 1);

    for node in [alice, bob, bootstrap.node] {
        node.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_changed_passphrase_unlocks_and_the_old_one_does_not() {
    let alice = TestNode::start("alice", &[]).await;
    let dir = alice.dir.path().to_owned();
    let user = alice.node.user_id();
    let params = tern_node::KdfParams::new(64, 1, 1).unwrap();
    assert!(matches!(
        alice
            .node
            .change_passphrase("not the passphrase", "new", params)
            .await,
        Err(tern_node::PassphraseError::Wrong)
    ));
    alice
        .node
        .change_passphrase("test passphrase", "new passphrase", params)
        .await
        .unwrap();
    alice.node.shutdown().await;

    let open = |passphrase: &'static str| {
        tern_node::Node::builder(&dir)
            .with_passphrase(passphrase)
            .with_listen_addr("/ip4/127.0.0.1/tcp/0")
            .with_mdns(false)
            .spawn()
    };
    assert!(matches!(
        open("test passphrase").await,
        Err(tern_node::StartError::WrongPassphrase)
    ));
    let node = open("new passphrase").await.unwrap();
    assert_eq!(node.user_id(), user);
    node.shutdown().await;
}

const CHILD_TIMER_DIR: &str = "TERN_TEST_CHILD_TIMER_DIR";

/// Runs only as the child of `a_disappearing_message_stays_erased_after_sigkill`: sends a
/// message under a five-minute timer to an offline peer, reports it, and waits to be killed.
#[tokio::test]
#[ignore = "run by its parent test as a separate process"]
async fn child_disappearing_sender() {
    let Ok(dir) = std::env::var(CHILD_TIMER_DIR) else {
        return;
    };
    let peer: UserId = std::env::var(CHILD_PEER).unwrap().parse().unwrap();
    let node = TestNode::spawn(std::path::Path::new(&dir), &[]).await;
    node.add_contact("peer", peer).await.unwrap();
    node.set_disappearing(peer, Some(std::time::Duration::from_secs(300)))
        .await
        .unwrap();
    let id = node.send(peer, "gone in five minutes").await.unwrap();
    #[allow(clippy::print_stdout, reason = "the parent test reads this line")]
    {
        println!("SENT {id}");
    }
    std::future::pending::<()>().await;
}

/// A message whose timer ran out while its node was down after a SIGKILL is erased when the
/// node starts again, before it answers anything: the timer was durable with the message.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_disappearing_message_stays_erased_after_sigkill() {
    let bob = TestNode::start("bob", &[]).await;
    let bob_user = bob.node.user_id();
    bob.node.shutdown().await;

    let alice_dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--ignored",
            "--exact",
            "child_disappearing_sender",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_TIMER_DIR, alice_dir.path())
        .env(CHILD_PEER, bob_user.to_string())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = BufReader::new(child.stdout.take().unwrap());
    let line = tokio::task::spawn_blocking(move || {
        stdout
            .lines()
            .map_while(Result::ok)
            .find_map(|l| l.split_once("SENT ").map(|(_, id)| id.trim().to_owned()))
            .expect("child exited without sending")
    })
    .await
    .unwrap();
    let id: MessageId = line.parse().unwrap();
    child.kill().unwrap();
    child.wait().unwrap();

    // Ten minutes later by the node's clock: the five-minute timer ran out while it was down.
    let later = tern_node::Clock::manual(tern_node::Clock::system().now_ms() + 600_000);
    let alice = tern_node::test_utils::builder(alice_dir.path())
        .with_clock(later)
        .spawn()
        .await
        .unwrap();
    let history = alice.history(bob_user, 10, None).await.unwrap();
    assert!(
        history.messages.iter().all(|m| m.id != id),
        "erased before the first answer: {history:?}"
    );
    assert!(
        history
            .messages
            .iter()
            .any(|m| matches!(m.kind, tern_node::MessageKind::Timer { secs: 300 })),
        "the timer notice stays: {history:?}"
    );
    let mut log = alice.events(tern_node::From::Oldest);
    wait_for(&mut log, |e| match e {
        Event::MessageExpired { id: i, .. } if *i == id => Some(()),
        _ => None,
    })
    .await;
    alice.shutdown().await;
}
