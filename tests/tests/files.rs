//! A large file between two real `tern daemon` processes, the receiving one killed with
//! SIGKILL part way through the download: after the restart it resumes from its journal
//! instead of starting over, and the file it saves is the one that was sent.

use tern_tests::{Events, Profile, RelayProcess, eventually};

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
    let listed = eventually("bob to be offered the file", || async {
        let run = bob.tern(&["attachments", "--json"]).await;
        run.json()["files"]
            .as_array()?
            .iter()
            .find(|f| f["id"] == id.as_str())
            .cloned()
    })
    .await;
    assert_eq!(listed["file"]["state"], "offered", "{listed}");

    let mut events = Events::open(&bob_daemon).await;
    let (status, answer) = bob_daemon
        .connect()
        .await
        .request(
            "POST",
            &format!("/v1/chats/alice/messages/{id}/file/fetch"),
            None,
        )
        .await;
    assert_eq!(status, 200, "{answer}");
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
    let out = dir.path().join("saved.tar");
    let run = bob.tern(&["save", &id[..8], out.to_str().unwrap()]).await;
    assert_eq!(run.code, 0, "{run:?}");
    assert!(
        std::fs::read(&out).expect("the saved file") == file,
        "the saved file differs from the sent one"
    );
}
