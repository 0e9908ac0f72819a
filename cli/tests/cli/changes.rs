//! Replies, reactions, edits and deletes as people make them with `tern` commands, between
//! two real daemons: directly, then through the relay while the recipient's daemon is down.

use serde_json::Value;

use super::harness::{Pair, eventually};

/// The message of `history` with `id`.
fn find<'a>(history: &'a [Value], id: &str) -> Option<&'a Value> {
    history.iter().find(|m| m["id"] == id)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replies_reactions_edits_and_deletes_between_two_daemons() {
    let mut pair = Pair::start().await;
    let (alice, bob) = (&pair.alice, &pair.bob);

    let sent = alice.tern(&["send", "bob", "lunch at 12?", "--json"]).await;
    assert_eq!(sent.code, 0, "{sent:?}");
    let lunch = sent.json()["id"].as_str().unwrap().to_owned();
    eventually("bob to get the message", || async {
        find(&bob.history("alice").await, &lunch).map(|_| ())
    })
    .await;

    // Bob replies to it by its short id, as `tern history` prints it, and reacts.
    let listing = bob.tern(&["history", "alice"]).await;
    assert!(listing.stdout.contains(&lunch[..8]), "{listing:?}");
    let run = bob
        .tern(&["reply", "alice", &lunch[..8], "yes!", "--json"])
        .await;
    assert_eq!(run.code, 0, "{run:?}");
    let yes = run.json()["id"].as_str().unwrap().to_owned();
    let run = bob.tern(&["react", "alice", "last", "👍"]).await;
    assert_eq!(run.code, 0, "{run:?}");
    let reply = eventually("alice to get the reply", || async {
        find(&alice.history("bob").await, &yes).cloned()
    })
    .await;
    assert_eq!(reply["reply_to"], lunch.as_str());
    // `last` is the newest message of the chat, Bob's reply itself: react to the first.
    let run = bob.tern(&["react", "alice", &lunch, "🎉"]).await;
    assert_eq!(run.code, 0, "{run:?}");
    eventually("alice to see bob's reaction", || async {
        let history = alice.history("bob").await;
        let m = find(&history, &lunch)?;
        (m["reactions"][0]["emoji"] == "🎉").then_some(())
    })
    .await;
    let refused = bob.tern(&["react", "alice", &lunch, "nice"]).await;
    assert_ne!(refused.code, 0, "a word is not a reaction: {refused:?}");

    // Alice edits; Bob sees the new text, marked edited, and both versions.
    let run = alice.tern(&["edit", "bob", "last", "lunch at 1?"]).await;
    assert_eq!(run.code, 0, "{run:?}");
    eventually("bob to see the edit", || async {
        let history = bob.history("alice").await;
        let m = find(&history, &lunch)?;
        (m["text"] == "lunch at 1?" && m["edited_at_ms"].is_u64()).then_some(())
    })
    .await;
    let human = bob.tern(&["history", "alice"]).await;
    assert!(human.stdout.contains("lunch at 1? (edited)"), "{human:?}");
    let versions = bob.tern(&["edits", "alice", &lunch, "--json"]).await.json();
    assert_eq!(versions.as_array().unwrap().len(), 2, "{versions}");
    let found = bob.tern(&["search", "LUNCH", "at", "--json"]).await.json();
    assert_eq!(found["hits"][0]["chat"], "peer", "{found}");
    assert_eq!(found["hits"][0]["message"]["id"], lunch.as_str(), "{found}");
    let human = bob.tern(&["search", "lunch", "--in", "alice"]).await;
    assert!(human.stdout.contains("lunch at 1?"), "{human:?}");
    let forged = bob.tern(&["edit", "alice", &lunch, "mine now"]).await;
    assert_ne!(forged.code, 0, "only the author edits: {forged:?}");

    // Through the relay, while Bob's daemon is down: a new message, an edit and a delete.
    pair.bob_daemon.take().unwrap().stop().await;
    let sent = alice
        .tern(&["send", "bob", "wrong chat, sorry", "--json"])
        .await;
    let oops = sent.json()["id"].as_str().unwrap().to_owned();
    let run = alice.tern(&["edit", "bob", &oops, "wrong chat!"]).await;
    assert_eq!(run.code, 0, "{run:?}");
    let run = alice.tern(&["delete", "bob", &oops]).await;
    assert_eq!(run.code, 0, "{run:?}");
    let run = alice.tern(&["delete", "bob", &lunch]).await;
    assert_eq!(run.code, 0, "{run:?}");
    let bob = &pair.bob;
    pair.bob_daemon = Some(bob.daemon().await);
    let history = eventually("bob to collect the changes from the relay", || async {
        let history = bob.history("alice").await;
        let (oops, lunch) = (find(&history, &oops)?, find(&history, &lunch)?);
        (oops["kind"] == "deleted" && lunch["kind"] == "deleted").then(|| history.clone())
    })
    .await;
    for m in &history {
        let text = m["text"].as_str().unwrap();
        assert!(
            !text.contains("lunch") && !text.contains("wrong chat"),
            "{m}"
        );
    }
    let human = bob.tern(&["history", "alice"]).await;
    assert!(human.stdout.contains("message deleted"), "{human:?}");
    let found = bob.tern(&["search", "lunch", "--json"]).await.json();
    assert!(found["hits"].as_array().unwrap().is_empty(), "{found}");

    // Delete for me: gone from Bob's history only.
    let run = bob.tern(&["delete", "alice", &yes, "--for-me"]).await;
    assert_eq!(run.code, 0, "{run:?}");
    assert!(find(&bob.history("alice").await, &yes).is_none());
    assert!(find(&pair.alice.history("bob").await, &yes).is_some());

    // Mute, pin and archive from the chat list.
    let alice = &pair.alice;
    let run = alice.tern(&["chats", "mute", "bob", "--for", "8h"]).await;
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(alice.tern(&["chats", "pin", "bob"]).await.code, 0);
    let chats = alice.tern(&["chats", "--json"]).await.json();
    assert_eq!(chats["chats"][0]["pinned"], true, "{chats}");
    assert!(chats["chats"][0]["muted_until_ms"].is_u64(), "{chats}");
    let human = alice.tern(&["chats"]).await;
    assert!(human.stdout.contains("📌🔇"), "{human:?}");
    assert_eq!(alice.tern(&["chats", "archive", "bob"]).await.code, 0);
    let chats = alice.tern(&["chats", "--json"]).await.json();
    assert!(chats["chats"].as_array().unwrap().is_empty(), "{chats}");
    let archived = alice.tern(&["chats", "--archived", "--json"]).await.json();
    assert_eq!(archived["chats"].as_array().unwrap().len(), 1, "{archived}");
    let bad = alice.tern(&["chats", "mute", "bob", "--for", "soon"]).await;
    assert_ne!(bad.code, 0, "{bad:?}");

    // A download rule of the chat's own, and back to the node's.
    let run = alice.tern(&["chats", "downloads", "bob", "2MB"]).await;
    assert_eq!(run.code, 0, "{run:?}");
    let archived = alice.tern(&["chats", "--archived", "--json"]).await.json();
    assert_eq!(
        archived["chats"][0]["auto_download"], 2_000_000,
        "{archived}"
    );
    let bad = alice.tern(&["chats", "downloads", "bob", "lots"]).await;
    assert_ne!(bad.code, 0, "{bad:?}");
    assert!(bad.stderr.contains("lots"), "{bad:?}");
    let archived = alice.tern(&["chats", "--archived", "--json"]).await.json();
    assert_eq!(
        archived["chats"][0]["auto_download"], 2_000_000,
        "{archived}"
    );
    let run = alice.tern(&["chats", "downloads", "bob", "default"]).await;
    assert_eq!(run.code, 0, "{run:?}");
    let archived = alice.tern(&["chats", "--archived", "--json"]).await.json();
    assert!(
        archived["chats"][0]["auto_download"].is_null(),
        "{archived}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disappearing_timers_and_profiles_between_two_daemons() {
    let mut pair = Pair::start().await;
    let (alice, bob) = (&pair.alice, &pair.bob);

    // Alice's profile reaches Bob; the name he gave her stays first.
    let set = alice
        .tern(&[
            "profile",
            "set",
            "Alice Liddell",
            "--status",
            "tea time",
            "--json",
        ])
        .await;
    assert_eq!(set.code, 0, "{set:?}");
    assert_eq!(set.json()["sent_to"], 1, "{set:?}");
    let shown = alice.tern(&["profile"]).await;
    assert!(
        shown.stdout.contains("Alice Liddell — tea time"),
        "{shown:?}"
    );
    eventually("bob to get alice's profile", || async {
        let contacts = bob.tern(&["contact", "list", "--json"]).await.json();
        let alice = contacts.as_array()?.first()?.clone();
        (alice["profile"]["name"] == "Alice Liddell").then_some(alice)
    })
    .await;
    let listed = bob.tern(&["contact", "list"]).await;
    assert!(
        listed.stdout.contains("alice") && listed.stdout.contains("Alice Liddell — tea time"),
        "{listed:?}"
    );
    let bad = alice.tern(&["profile", "set", ""]).await;
    assert_ne!(bad.code, 0, "a name is needed: {bad:?}");

    // With Bob's daemon down, Alice turns on a one-hour timer and writes: both travel
    // through the relay, and Bob's copy keeps the timer it was sent under.
    pair.bob_daemon.take().unwrap().stop().await;
    let refused = alice.tern(&["disappear", "bob", "2h"]).await;
    assert_ne!(refused.code, 0, "2h is not a timer: {refused:?}");
    let run = alice.tern(&["disappear", "bob", "1h"]).await;
    assert_eq!(run.code, 0, "{run:?}");
    assert!(run.stdout.contains("1 hour"), "{run:?}");
    let sent = alice
        .tern(&["send", "bob", "this note self-destructs", "--json"])
        .await;
    let note = sent.json()["id"].as_str().unwrap().to_owned();
    let mine = find(&alice.history("bob").await, &note).cloned().unwrap();
    assert_eq!(mine["disappear_secs"], 3600, "{mine}");
    assert!(
        mine["expires_at_ms"].is_u64(),
        "Alice's clock runs from sending: {mine}"
    );
    let bob = &pair.bob;
    pair.bob_daemon = Some(bob.daemon().await);
    let history = eventually("bob to collect the timer and the note", || async {
        let history = bob.history("alice").await;
        find(&history, &note)?;
        Some(history)
    })
    .await;
    let timer = history.iter().find(|m| m["kind"] == "timer").unwrap();
    assert_eq!(timer["timer_secs"], 3600, "{timer}");
    let received = find(&history, &note).unwrap();
    assert_eq!(received["disappear_secs"], 3600, "{received}");
    assert!(
        received.get("expires_at_ms").is_none(),
        "Bob's clock starts when he reads it: {received}"
    );
    let human = bob.tern(&["history", "alice"]).await;
    assert!(
        human.stdout.contains("⏱ disappearing messages: 1 hour"),
        "{human:?}"
    );
    assert!(
        human.stdout.contains("⏱ this note self-destructs"),
        "{human:?}"
    );
    let chats = bob.tern(&["chats", "--json"]).await.json();
    assert_eq!(chats["chats"][0]["disappear_secs"], 3600, "{chats}");
    let run = bob.tern(&["read", "alice"]).await;
    assert_eq!(run.code, 0, "{run:?}");
    let read = find(&bob.history("alice").await, &note).cloned().unwrap();
    assert!(
        read["expires_at_ms"].is_u64(),
        "read: the clock runs: {read}"
    );

    // Bob turns it off; Alice sees the notice.
    let run = bob.tern(&["disappear", "alice", "off"]).await;
    assert_eq!(run.code, 0, "{run:?}");
    eventually("alice to see the timer turned off", || async {
        let chats = pair.alice.tern(&["chats", "--json"]).await.json();
        chats["chats"][0]["disappear_secs"].is_null().then_some(())
    })
    .await;
}
