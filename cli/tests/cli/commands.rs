//! The commands, end to end: real `tern` processes, daemons and a relay.

use serde_json::Value;

use super::harness::{Pair, Profile, eventually};

/// The texts of a conversation as `tern history --json` shows it, oldest first.
async fn texts(profile: &Profile, peer: &str) -> Vec<String> {
    profile
        .history(peer)
        .await
        .iter()
        .map(|m| m["text"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn init_creates_one_account_and_id_shows_it() {
    let profile = Profile::new();
    let created = profile.tern(&["init", "--json"]).await.json();
    let address = created["address"].as_str().unwrap();
    assert!(address.starts_with("tern1"), "{created}");
    assert_eq!(created["invite"], format!("tern:{address}"));
    assert_eq!(created["fingerprint"].as_str().unwrap().len(), 35);

    let id = profile.tern(&["id", "--json"]).await.json();
    assert_eq!(id["address"], address);
    let human = profile.tern(&["id"]).await;
    assert!(human.stdout.contains(address), "{human:?}");
    assert!(
        human.stdout.contains('█'),
        "the QR code is drawn: {human:?}"
    );

    let again = profile.tern(&["init"]).await;
    assert_eq!(
        again.code, 2,
        "a second account is a usage error: {again:?}"
    );
    assert!(again.stderr.contains("already exists"), "{again:?}");

    // Key files and the token are the owner's alone.
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(profile.path().join("config.toml"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o077, 0, "config.toml is private");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exit_codes_tell_failures_apart() {
    let empty = Profile::new();
    let no_account = empty.tern(&["contact", "list"]).await;
    assert_eq!(no_account.code, 2, "{no_account:?}");
    assert!(no_account.stderr.contains("tern init"), "{no_account:?}");

    let profile = Profile::init(&[]).await;
    // No daemon: `send` needs the network and says so.
    let send = profile.tern(&["send", "bob", "hi", "--json"]).await;
    assert_eq!(send.code, 4, "{send:?}");
    let error: Value = serde_json::from_str(&send.stderr).unwrap();
    assert_eq!(error["error"]["code"], "no_daemon");
    // Local data works without a daemon; an unknown contact is "not found".
    let history = profile.tern(&["history", "nobody"]).await;
    assert_eq!(history.code, 5, "{history:?}");
    let bad_address = profile
        .tern(&["contact", "add", "x", "tern1notanaddress"])
        .await;
    assert_eq!(bad_address.code, 2, "{bad_address:?}");
    let usage = profile.tern(&["history"]).await;
    assert_eq!(usage.code, 2, "{usage:?}");

    // A passphrase-protected account and a wrong passphrase.
    let locked = Profile::new();
    let pass = locked.path().join("pass");
    std::fs::write(&pass, "right horse\n").unwrap();
    let mut init = tokio::process::Command::new(super::harness::tern());
    init.arg("--data-dir")
        .arg(locked.path())
        .arg("init")
        .env("TERN_PASSPHRASE", "right horse");
    let init = super::harness::run(init).await;
    assert_eq!(init.code, 0, "{init:?}");
    let mut wrong = tokio::process::Command::new(super::harness::tern());
    wrong
        .arg("--data-dir")
        .arg(locked.path())
        .args(["contact", "list"])
        .env("TERN_PASSPHRASE", "wrong horse");
    let wrong = super::harness::run(wrong).await;
    assert_eq!(wrong.code, 3, "{wrong:?}");
    assert!(wrong.stderr.contains("wrong passphrase"), "{wrong:?}");
    let mut right = tokio::process::Command::new(super::harness::tern());
    right
        .arg("--data-dir")
        .arg(locked.path())
        .arg("--passphrase-file")
        .arg(&pass)
        .args(["contact", "list", "--json"]);
    let right = super::harness::run(right).await;
    assert_eq!(right.json(), serde_json::json!([]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_users_chat_and_an_offline_one_gets_its_mail_later() {
    let mut pair = Pair::start().await;
    let (alice, bob) = (&pair.alice, &pair.bob);

    // Contacts were added from invites, before the daemons ran.
    let contacts = alice.tern(&["contact", "list", "--json"]).await.json();
    assert_eq!(contacts[0]["name"], "bob");
    assert_eq!(contacts[0]["verified"], false);
    let verified = alice
        .tern(&["contact", "verify", "bob", "--yes", "--json"])
        .await
        .json();
    assert_eq!(verified["verified"], true);

    // Online: straight through, with the delivered mark coming back.
    let sent = alice
        .tern(&["send", "bob", "hello bob", "--json"])
        .await
        .json();
    assert_eq!(sent["delivery"]["state"], "queued");
    let id = sent["id"].as_str().unwrap().to_owned();
    eventually("bob to receive it", || async {
        (texts(bob, "alice").await == ["hello bob"]).then_some(())
    })
    .await;
    eventually("alice to see it delivered", || async {
        let messages = alice.history("bob").await;
        (messages[0]["id"] == id.as_str() && messages[0]["delivery"]["state"] == "delivered")
            .then_some(())
    })
    .await;
    // Text from standard input.
    let mut piped = bob.command(&["send", "alice"]);
    piped.stdin(std::process::Stdio::piped());
    let mut child = piped.stdout(std::process::Stdio::piped()).spawn().unwrap();
    {
        use tokio::io::AsyncWriteExt;
        let mut stdin = child.stdin.take().unwrap();
        stdin.write_all(b"hi alice, from a pipe\n").await.unwrap();
    }
    assert!(child.wait().await.unwrap().success());
    eventually("alice to receive the piped text", || async {
        (texts(alice, "bob").await == ["hello bob", "hi alice, from a pipe"]).then_some(())
    })
    .await;
    let chats = alice.tern(&["chats", "--json"]).await.json();
    assert_eq!(chats["chats"][0]["name"], "bob");
    assert_eq!(chats["chats"][0]["unread"], 1);
    let read = alice.tern(&["read", "bob", "--json"]).await.json();
    assert_eq!(read["marked"], 1);

    // Bob stops; Alice writes; the relay keeps the messages; Bob comes back and gets each
    // exactly once, in order.
    pair.bob_daemon.take().unwrap().stop().await;
    let away = ["are you there?", "meeting at 3", "bring the slides"];
    for text in away {
        let run = alice.tern(&["send", "bob", text]).await;
        assert_eq!(run.code, 0, "{run:?}");
    }
    eventually("the relay to hold all three", || async {
        let metrics = pair.relay.metrics().await;
        (metrics.stored_messages == 3).then_some(())
    })
    .await;
    pair.bob_daemon = Some(bob.daemon().await);
    let expected: Vec<String> = ["hello bob"]
        .into_iter()
        .chain(away)
        .map(str::to_owned)
        .collect();
    eventually("bob to collect his mailbox", || async {
        let received: Vec<String> = bob
            .history("alice")
            .await
            .iter()
            .filter(|m| m["direction"] == "incoming")
            .map(|m| m["text"].as_str().unwrap().to_owned())
            .collect();
        (received.len() >= expected.len()).then_some(received)
    })
    .await
    .iter()
    .zip(&expected)
    .for_each(|(got, want)| assert_eq!(got, want));
    let incoming = bob
        .history("alice")
        .await
        .iter()
        .filter(|m| m["direction"] == "incoming")
        .count();
    assert_eq!(incoming, 4, "each message exactly once");
    eventually("alice to see all delivered", || async {
        alice.all_sent_delivered("bob").await.then_some(())
    })
    .await;

    let status = alice.tern(&["status", "--json"]).await.json();
    assert_eq!(status["relays"].as_array().unwrap().len(), 1);
    assert_eq!(status["outbox"], 0);
    // Each contact with the path its messages take now.
    let contacts = status["contacts"].as_array().unwrap();
    assert_eq!(contacts.len(), 1, "{status}");
    assert_eq!(contacts[0]["name"], "bob");
    let path = contacts[0]["path"].as_str().unwrap();
    assert!(["direct", "circuit", "mailbox"].contains(&path), "{path}");
    let shown = alice.tern(&["status"]).await;
    assert!(shown.stdout.contains("contact:   bob via "), "{shown:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn history_pages_back_through_a_conversation() {
    let pair = Pair::start().await;
    let (alice, bob) = (&pair.alice, &pair.bob);
    let sent: Vec<String> = (0..7).map(|i| format!("message {i}")).collect();
    for text in &sent {
        let run = alice.tern(&["send", "bob", text]).await;
        assert_eq!(run.code, 0, "{run:?}");
    }
    eventually("bob to receive all seven", || async {
        (texts(bob, "alice").await.len() == 7).then_some(())
    })
    .await;

    let mut pages = Vec::new();
    let mut before: Option<String> = None;
    loop {
        let mut args = vec!["history", "alice", "--limit", "3", "--json"];
        if let Some(cursor) = &before {
            args.extend(["--before", cursor.as_str()]);
        }
        let page = bob.tern(&args).await.json();
        let texts: Vec<String> = page["messages"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["text"].as_str().unwrap().to_owned())
            .collect();
        assert!(texts.len() <= 3);
        pages.push(texts);
        match page["before"].as_str() {
            Some(cursor) => before = Some(cursor.to_owned()),
            None => break,
        }
    }
    assert_eq!(pages.len(), 3, "{pages:?}");
    let all: Vec<String> = pages.into_iter().rev().flatten().collect();
    assert_eq!(all, sent, "pages join up, oldest first, none repeated");

    // Human output names the next page.
    let human = bob.tern(&["history", "alice", "--limit", "2"]).await;
    assert!(
        human.stdout.contains("older: tern history alice --before"),
        "{human:?}"
    );
    // A closed pipe is not an error.
    let mut head = bob.command(&["history", "alice"]);
    head.stdout(std::process::Stdio::piped());
    let mut child = head.spawn().unwrap();
    drop(child.stdout.take());
    let status = child.wait().await.unwrap();
    assert!(status.success(), "{status}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_command_explains_itself_with_an_example() {
    let profile = Profile::new();
    let commands: &[&[&str]] = &[
        &[],
        &["init"],
        &["id"],
        &["daemon"],
        &["contact"],
        &["contact", "add"],
        &["contact", "list"],
        &["contact", "remove"],
        &["contact", "verify"],
        &["send"],
        &["chats"],
        &["history"],
        &["read"],
        &["chat"],
        &["status"],
        &["completions"],
        &["demo"],
    ];
    for command in commands {
        let mut args = command.to_vec();
        args.push("--help");
        let help = profile.tern(&args).await;
        assert_eq!(help.code, 0, "{command:?}: {help:?}");
        assert!(
            help.stdout.contains("Example"),
            "{command:?} has no example:\n{}",
            help.stdout
        );
    }
    let completions = profile.tern(&["completions", "bash"]).await;
    assert_eq!(completions.code, 0);
    assert!(completions.stdout.contains("tern"), "{completions:?}");
}
