//! Files as people send them with `tern` commands and read them through the local API,
//! between two real daemons: `tern send --file`, `tern attachments`, `tern save`, a fetch on
//! demand, a download with a byte range, a chat's own download rule, and a file streamed
//! through the API while it is still arriving.

use serde_json::Value;

use tern_node::test_utils::DamagedBlob;

use super::harness::{Pair, eventually};

/// Bytes nobody would find by accident on a disk.
fn marked(len: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(len);
    let mut i = 0u32;
    while out.len() < len {
        out.extend_from_slice(b"TERN-FILE-MARKER-");
        out.extend_from_slice(&i.to_be_bytes());
        i += 1;
    }
    out.truncate(len);
    out
}

/// The file of message `id` as `tern attachments --json` lists it.
async fn listed(profile: &tern_tests::Profile, id: &str) -> Option<Value> {
    let run = profile.tern(&["attachments", "--json"]).await;
    assert_eq!(run.code, 0, "{run:?}");
    run.json()["files"]
        .as_array()?
        .iter()
        .find(|f| f["id"] == id)
        .cloned()
}

/// Alice and Bob, with a text first, so that the two have a session and a direct
/// connection.
async fn introduced() -> Pair {
    let pair = Pair::start().await;
    let run = pair.alice.tern(&["send", "bob", "a file follows"]).await;
    assert_eq!(run.code, 0, "{run:?}");
    eventually("bob to get the text", || async {
        (!pair.bob.history("alice").await.is_empty()).then_some(())
    })
    .await;
    pair
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_is_sent_fetched_verified_and_saved_between_two_daemons() {
    let pair = introduced().await;
    let (alice, bob) = (&pair.alice, &pair.bob);

    let dir = tempfile::tempdir().unwrap();
    let report = marked(1_500_000);
    let path = dir.path().join("report.pdf");
    std::fs::write(&path, &report).unwrap();
    let sent = alice
        .tern(&[
            "send",
            "bob",
            "--file",
            path.to_str().unwrap(),
            "the numbers for March",
            "--json",
        ])
        .await;
    assert_eq!(sent.code, 0, "{sent:?}");
    let id = sent.json()["id"].as_str().unwrap().to_owned();

    // Bob's daemon fetches it by itself (it is under the auto-download limit).
    let file = eventually("bob to fetch the file", || async {
        listed(bob, &id)
            .await
            .filter(|f| f["file"]["state"] == "ready")
    })
    .await;
    assert_eq!(file["file"]["name"], "report.pdf");
    assert_eq!(file["file"]["size"], 1_500_000);
    assert_eq!(file["caption"], "the numbers for March");
    let human = bob.tern(&["history", "alice"]).await;
    assert!(
        human.stdout.contains("📎 report.pdf · 1.5 MB") && human.stdout.contains("March"),
        "{human:?}"
    );
    let human = bob.tern(&["attachments"]).await;
    assert!(human.stdout.contains(&id[..8]), "{human:?}");

    // Saved by its short id, verified; never over an existing file.
    let out = dir.path().join("saved.pdf");
    let run = bob.tern(&["save", &id[..8], out.to_str().unwrap()]).await;
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(std::fs::read(&out).unwrap(), report);
    let again = bob.tern(&["save", &id[..8], out.to_str().unwrap()]).await;
    assert_ne!(again.code, 0, "{again:?}");

    // A byte range through the local API.
    let api = pair.bob_daemon.as_ref().unwrap().api.clone();
    let response = reqwest::Client::new()
        .get(format!("{api}/v1/chats/alice/messages/{id}/file"))
        .bearer_auth(bob.token())
        .header("Range", "bytes=1000-1999")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 206);
    assert_eq!(
        response.headers()["content-range"],
        "bytes 1000-1999/1500000"
    );
    assert_eq!(&response.bytes().await.unwrap()[..], &report[1000..2000]);

    // No plaintext of the file on Bob's disk but the copy he saved.
    for (path, bytes) in tern_tests::files(bob.path()) {
        assert!(
            !tern_tests::contains(&bytes, b"TERN-FILE-MARKER"),
            "plaintext in {path:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_still_arriving_streams_through_the_api_as_it_verifies() {
    let pair = introduced().await;
    let (alice, bob) = (&pair.alice, &pair.bob);

    // Bob fetches nothing from Alice by itself: the video waits to be asked for.
    let run = bob.tern(&["chats", "downloads", "alice", "never"]).await;
    assert_eq!(run.code, 0, "{run:?}");
    let dir = tempfile::tempdir().unwrap();
    let video = marked(12_000_000);
    let path = dir.path().join("talk.mp4");
    std::fs::write(&path, &video).unwrap();
    // With a preview: a tiny PNG (its header is all that is read of it here).
    let mut png = b"\x89PNG\r\n\x1a\n\0\0\0\x0dIHDR".to_vec();
    png.extend_from_slice(&160u32.to_be_bytes());
    png.extend_from_slice(&90u32.to_be_bytes());
    png.extend_from_slice(&[8, 2, 0, 0, 0, 0, 0, 0, 0]);
    let thumbnail = dir.path().join("talk.png");
    std::fs::write(&thumbnail, &png).unwrap();
    let send = async |thumbnail: &[&str]| {
        let mut args = vec!["send", "bob", "--file", path.to_str().unwrap(), "--json"];
        args.extend_from_slice(thumbnail);
        alice.tern(&args).await
    };
    let refused = send(&["--thumbnail"]).await;
    assert_ne!(refused.code, 0, "{refused:?}");
    let not_image = send(&["--thumbnail", path.to_str().unwrap()]).await;
    assert_ne!(not_image.code, 0, "{not_image:?}");
    let sent = send(&["--thumbnail", thumbnail.to_str().unwrap()]).await;
    assert_eq!(sent.code, 0, "{sent:?}");
    let id = sent.json()["id"].as_str().unwrap().to_owned();
    eventually("bob to be offered the file", || async {
        listed(bob, &id)
            .await
            .filter(|f| f["file"]["state"] == "offered")
    })
    .await;
    assert_eq!(
        bob.tern(&["attachments", "--json"]).await.json()["files"]
            .as_array()
            .unwrap()
            .len(),
        1,
        "the refused sends sent nothing"
    );

    // Alice's copy is damaged past its middle: her daemon stops serving there, and Bob's
    // fetch holds the first half, as with a sender that went away.
    let blobs = alice.path().join("node/blobs/complete");
    let damaged = DamagedBlob::past_the_middle(&blobs);

    let api = pair.bob_daemon.as_ref().unwrap().api.clone();
    let client = reqwest::Client::new();
    let file = format!("{api}/v1/chats/alice/messages/{id}/file");
    // The preview is here before the file.
    let preview: Value = client
        .get(format!("{file}/preview"))
        .bearer_auth(bob.token())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(preview["thumbnail"]["mime"], "image/png", "{preview}");
    assert_eq!(preview["thumbnail"]["width"], 160, "{preview}");
    assert_eq!(preview["thumbnail"]["height"], 90, "{preview}");
    use base64::Engine;
    let data = preview["thumbnail"]["data"].as_str().unwrap();
    assert_eq!(
        base64::engine::general_purpose::STANDARD
            .decode(data)
            .unwrap(),
        png
    );

    let fetch = client
        .post(format!("{file}/fetch"))
        .bearer_auth(bob.token())
        .send()
        .await
        .unwrap();
    assert_eq!(fetch.status(), 200);

    // The first five megabytes come as they verify, while the file is still arriving.
    let response = client
        .get(&file)
        .bearer_auth(bob.token())
        .header("Range", "bytes=0-4999999")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 206);
    assert_eq!(
        response.headers()["content-range"],
        "bytes 0-4999999/12000000"
    );
    assert!(response.bytes().await.unwrap()[..] == video[..5_000_000]);
    let listed_now = listed(bob, &id).await.unwrap();
    assert_eq!(listed_now["file"]["state"], "fetching", "{listed_now}");

    // Whole again, the file finishes, and the API hands out all of it.
    damaged.repair();
    eventually("bob to fetch the rest", || async {
        listed(bob, &id)
            .await
            .filter(|f| f["file"]["state"] == "ready")
    })
    .await;
    let whole = client
        .get(&file)
        .bearer_auth(bob.token())
        .send()
        .await
        .unwrap();
    assert_eq!(whole.status(), 200);
    assert!(whole.bytes().await.unwrap()[..] == video[..]);
}
