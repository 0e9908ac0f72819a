//! Large files between real `tern daemon` processes. The receiving one killed with SIGKILL
//! part way through a download resumes from its journal instead of starting over. A file to
//! an offline contact waits at the contact's relays and arrives after the sender has gone,
//! even when one of those relays is killed mid-download. The files saved are the ones sent.

use tern_tests::{Daemon, Events, Profile, RelayProcess, eventually};

/// A file nobody would find by accident, of `len` bytes.
fn marked(len: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(len);
    let mut i = 0u32;
    while out.len() < len {
        out.extend_from_slice(b"TERN-RESUME-MARKER-");
        out.extend_from_slice(&i.to_be_bytes());
        i += 1;
    }
    out.truncate(len);
    out
}

/// The `received` of the next progress report for message `id`, or `None` once the file is
/// ready.
async fn progress(events: &mut Events, id: &str) -> Option<u64> {
    loop {
        let event = events.next().await;
        if event["id"] != id {
            continue;
        }
        match event["type"].as_str() {
            Some("attachment_progress") => return event["received"].as_u64(),
            Some("attachment_changed") if event["state"] == "ready" => return None,
            Some("attachment_changed") if event["state"] == "failed" => {
                panic!("the fetch failed: {event}")
            }
            _ => {}
        }
    }
}

/// Waits until Bob's file list offers message `id`'s file (too large to fetch by itself).
async fn offered(bob: &Profile, id: &str) {
    let listed = eventually("bob to be offered the file", || async {
        let run = bob.tern(&["attachments", "--json"]).await;
        run.json()["files"]
            .as_array()?
            .iter()
            .find(|f| f["id"] == id)
            .cloned()
    })
    .await;
    assert_eq!(listed["file"]["state"], "offered", "{listed}");
}

/// Asks the daemon's local API to fetch message `id`'s file from Alice's chat.
async fn ask_for(daemon: &Daemon, id: &str) {
    let (status, answer) = daemon
        .connect()
        .await
        .request(
            "POST",
            &format!("/v1/chats/alice/messages/{id}/file/fetch"),
            None,
        )
        .await;
    assert_eq!(status, 200, "{answer}");
}

/// `tern save` writes message `id`'s file to `out`, and it is `sent`, byte for byte.
async fn saves_as_sent(bob: &Profile, id: &str, out: &std::path::Path, sent: &[u8]) {
    let run = bob.tern(&["save", &id[..8], out.to_str().unwrap()]).await;
    assert_eq!(run.code, 0, "{run:?}");
    assert!(
        std::fs::read(out).expect("the saved file") == sent,
        "the saved file differs from the sent one"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_download_resumes_where_it_stopped_after_the_receiver_is_killed() {
    let relay_dir = tempfile::tempdir().expect("tempdir");
    let relay = RelayProcess::start(relay_dir.path(), &[]);
    let (relay_address, _) = relay.address().await;
    let alice = Profile::init(&[relay_address.as_str()]).await;
    let bob = Profile::init(&[relay_address.as_str()]).await;
    alice.add_contact("bob", &bob).await;
    bob.add_contact("alice", &alice).await;
    let _alice_daemon = alice.daemon().await;
    let bob_daemon = bob.daemon().await;
    let run = alice.tern(&["send", "bob", "a big one follows"]).await;
    assert_eq!(run.code, 0, "{run:?}");
    eventually("bob to get the text", || async {
        (!bob.history("alice").await.is_empty()).then_some(())
    })
    .await;

    // 90 MB: larger than the auto-download limit, so Bob asks for it.
    let dir = tempfile::tempdir().expect("tempdir");
    let file = marked(90_000_000);
    let path = dir.path().join("archive.tar");
    std::fs::write(&path, &file).expect("write the file");
    let sent = alice
        .tern(&["send", "bob", "--file", path.to_str().unwrap(), "--json"])
        .await;
    assert_eq!(sent.code, 0, "{sent:?}");
    let id = sent.json()["id"].as_str().unwrap().to_owned();
    offered(&bob, &id).await;

    let mut events = Events::open(&bob_daemon).await;
    ask_for(&bob_daemon, &id).await;
    let before = loop {
        match progress(&mut events, &id).await {
            Some(received) if received >= 20_000_000 => break received,
            Some(_) => {}
            None => panic!("the file arrived before the daemon could be killed"),
        }
    };
    bob_daemon.kill().await;

    // The restarted daemon goes on by itself, from what its journal holds.
    let bob_daemon = bob.daemon().await;
    let mut events = Events::open(&bob_daemon).await;
    let first = progress(&mut events, &id).await;
    if let Some(first) = first {
        assert!(
            first > before,
            "the download started over: {first} bytes after the restart, {before} before"
        );
        while progress(&mut events, &id).await.is_some() {}
    }
    saves_as_sent(&bob, &id, &dir.path().join("saved.tar"), &file).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_to_an_offline_contact_arrives_through_its_relays_with_one_killed_midway() {
    let dirs = [
        tempfile::tempdir().expect("tempdir"),
        tempfile::tempdir().expect("tempdir"),
    ];
    let (relays, addresses) = RelayProcess::network(&dirs).await;
    let [first, second]: [RelayProcess; 2] = relays.try_into().expect("two relays");
    let (first_address, second_address) = (&addresses[0], &addresses[1]);
    let alice = Profile::init(&[first_address.as_str()]).await;
    let bob = Profile::init(&[first_address.as_str(), second_address.as_str()]).await;
    alice.add_contact("bob", &bob).await;
    bob.add_contact("alice", &alice).await;
    let alice_daemon = alice.daemon().await;
    let bob_daemon = bob.daemon().await;
    // Both online once: Alice learns Bob's record, and with it his relays.
    let run = alice.tern(&["send", "bob", "hello"]).await;
    assert_eq!(run.code, 0, "{run:?}");
    eventually("bob to get the text", || async {
        (!bob.history("alice").await.is_empty()).then_some(())
    })
    .await;
    bob_daemon.stop().await;

    // 40 MB to Bob while he is away: the message and a copy of the file go to his relays.
    let dir = tempfile::tempdir().expect("tempdir");
    let file = marked(40_000_000);
    let path = dir.path().join("scans.zip");
    std::fs::write(&path, &file).expect("write the file");
    let sent = alice
        .tern(&["send", "bob", "--file", path.to_str().unwrap(), "--json"])
        .await;
    assert_eq!(sent.code, 0, "{sent:?}");
    let id = sent.json()["id"].as_str().unwrap().to_owned();
    for relay in [&first, &second] {
        eventually("both of Bob's relays to hold the file", || async {
            (relay.metrics().await.get("tern_relay_blob_uploads_total") >= 1.0).then_some(())
        })
        .await;
    }
    // Alice goes away for good: her device cannot serve the file any more.
    alice_daemon.kill().await;

    let bob_daemon = bob.daemon().await;
    offered(&bob, &id).await;
    let mut events = Events::open(&bob_daemon).await;
    ask_for(&bob_daemon, &id).await;
    // Part of it from the first relay, which then dies; the rest comes from the second.
    match progress(&mut events, &id).await {
        Some(_) => first.kill().await,
        None => panic!("the file arrived before the relay could be killed"),
    }
    while progress(&mut events, &id).await.is_some() {}
    saves_as_sent(&bob, &id, &dir.path().join("saved.zip"), &file).await;
    assert!(
        second.metrics().await.get("tern_relay_blob_gets_total") >= 1.0,
        "the second relay served the rest"
    );
}
