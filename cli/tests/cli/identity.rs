//! Identity changes between two real daemons, the way people and bots meet them: Bob replaces
//! his identity key with `tern id --rotate-key`; Alice's chat shows it, her policy decides
//! whether her messages wait, and her API client hears of it as an event.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use super::{
    api::{Api, Socket, next_frame},
    harness::{Pair, eventually},
};

/// The next event frame of `kind` on `socket`.
async fn next_of(socket: &mut Socket, kind: &str) -> Value {
    loop {
        let frame = next_frame(socket).await;
        if frame["event"]["type"] == kind {
            return frame["event"].clone();
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_identity_change_follows_the_policy_in_the_commands_and_the_api() {
    let pair = Pair::start().await;
    let (alice, bob) = (&pair.alice, &pair.bob);
    let api = Api::new(pair.alice_api(), alice.token());

    // Each has written to the other: sessions exist, and each pinned the other's key.
    let run = alice.tern(&["send", "bob", "hi bob"]).await;
    assert_eq!(run.code, 0, "{run:?}");
    eventually("bob to get hi bob", || async {
        bob.history("alice")
            .await
            .iter()
            .any(|m| m["text"] == "hi bob")
            .then_some(())
    })
    .await;
    let run = bob.tern(&["send", "alice", "hi alice"]).await;
    assert_eq!(run.code, 0, "{run:?}");
    eventually("alice to get hi alice", || async {
        alice
            .history("bob")
            .await
            .iter()
            .any(|m| m["text"] == "hi alice")
            .then_some(())
    })
    .await;

    // Alice verifies Bob and blocks on a change.
    let run = alice.tern(&["contact", "verify", "bob", "--yes"]).await;
    assert_eq!(run.code, 0, "{run:?}");
    let run = alice.tern(&["contact", "policy", "bob", "block"]).await;
    assert_eq!(run.code, 0, "{run:?}");
    assert!(run.stdout.contains("block (your messages wait"), "{run:?}");
    let bad = alice.tern(&["contact", "policy", "bob", "never"]).await;
    assert_ne!(bad.code, 0, "{bad:?}");
    let (status, body) = api
        .call(
            Method::PUT,
            "/v1/contacts/bob/policy",
            Some(r#"{"policy":"sometimes"}"#),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let (_, contact) = api.get("/v1/contacts/bob").await;
    assert_eq!(contact["identity"]["policy"], "block", "{contact}");

    // Bob replaces his key; his address stays, and his next message carries the new key.
    let before = bob.address().await;
    let mut events = api.events(None).await;
    let run = bob.tern(&["id", "--rotate-key", "--no-qr"]).await;
    assert_eq!(run.code, 0, "{run:?}");
    assert!(run.stdout.contains("New identity key"), "{run:?}");
    assert!(run.stdout.contains(&before), "{run:?}");
    let run = bob.tern(&["send", "alice", "new key"]).await;
    assert_eq!(run.code, 0, "{run:?}");
    let changed = next_of(&mut events, "identity_changed").await;
    assert_eq!(changed["peer"], before.as_str(), "{changed}");
    assert_eq!(changed["policy"], "block", "{changed}");
    assert_eq!(changed["held"], true, "{changed}");
    let history = eventually("alice to get new key", || async {
        let history = alice.history("bob").await;
        history
            .iter()
            .any(|m| m["text"] == "new key")
            .then_some(history)
    })
    .await;
    let notice = history
        .iter()
        .find(|m| m["kind"] == "identity_changed")
        .unwrap();
    assert_eq!(notice["held"], true, "{notice}");
    let shown = alice.tern(&["history", "bob"]).await;
    assert!(
        shown
            .stdout
            .contains("identity key changed: your messages wait"),
        "{shown:?}"
    );
    let listed = alice.tern(&["contact", "list"]).await;
    assert!(
        listed.stdout.contains("not verified, ⚠ messages held"),
        "{listed:?}"
    );

    // Alice's reply waits, safe in her outbox, while Bob can still write to her.
    let sent = alice.tern(&["send", "bob", "held reply", "--json"]).await;
    let held = sent.json()["id"].as_str().unwrap().to_owned();
    let run = bob.tern(&["send", "alice", "ping"]).await;
    assert_eq!(run.code, 0, "{run:?}");
    eventually("alice to get ping", || async {
        alice
            .history("bob")
            .await
            .iter()
            .any(|m| m["text"] == "ping")
            .then_some(())
    })
    .await;
    let mine = alice.history("bob").await;
    let reply = mine.iter().find(|m| m["id"] == held.as_str()).unwrap();
    assert_eq!(reply["delivery"]["state"], "queued", "{reply}");
    assert!(
        !bob.history("alice")
            .await
            .iter()
            .any(|m| m["text"] == "held reply")
    );
    let shown = alice.tern(&["contact", "policy", "bob"]).await;
    assert!(
        shown.stdout.contains("your messages wait until"),
        "{shown:?}"
    );

    // Verifying again lets it go.
    let run = alice.tern(&["contact", "verify", "bob", "--yes"]).await;
    assert_eq!(run.code, 0, "{run:?}");
    eventually("bob to get the held reply", || async {
        bob.history("alice")
            .await
            .iter()
            .any(|m| m["text"] == "held reply")
            .then_some(())
    })
    .await;

    // A bot's policy through the API: trust-new keeps the verified mark.
    let (status, identity) = api
        .call(
            Method::PUT,
            "/v1/contacts/bob/policy",
            Some(&json!({"policy": "trust-new"}).to_string()),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{identity}");
    assert_eq!(identity["policy"], "trust-new", "{identity}");
    assert_eq!(identity["held"], false, "{identity}");
    let (_, contact) = api.get("/v1/contacts/bob").await;
    assert_eq!(contact["verified"], true, "{contact}");

    // Alice replaces her key through the API; Bob (the default, warn) sees it with her next
    // message, and nothing waits.
    let (status, rotated) = api.post("/v1/identity/rotate", &json!({})).await;
    assert_eq!(status, StatusCode::OK, "{rotated}");
    assert_eq!(rotated["address"], alice.address().await, "{rotated}");
    let run = alice.tern(&["send", "bob", "my key is new too"]).await;
    assert_eq!(run.code, 0, "{run:?}");
    let history = eventually("bob to get alice's message", || async {
        let history = bob.history("alice").await;
        history
            .iter()
            .any(|m| m["text"] == "my key is new too")
            .then_some(history)
    })
    .await;
    let notice = history
        .iter()
        .find(|m| m["kind"] == "identity_changed")
        .unwrap();
    assert_eq!(notice["held"], false, "{notice}");
    let run = bob.tern(&["send", "alice", "noted"]).await;
    assert_eq!(run.code, 0, "{run:?}");
    eventually("alice to get noted", || async {
        alice
            .history("bob")
            .await
            .iter()
            .any(|m| m["text"] == "noted")
            .then_some(())
    })
    .await;
}
