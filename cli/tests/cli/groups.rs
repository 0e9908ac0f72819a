//! Group chats as people use them, with `tern group`, `tern send '#name'` (texts and files),
//! `tern attachments` and `tern save`, between three real daemons sharing a relay: the
//! commands go through each daemon's local API.

use serde_json::Value;

use super::harness::{Pair, Profile, eventually, relay as start_relay};

/// The texts of `#family` as `profile` sees them.
async fn texts(profile: &Profile) -> Vec<String> {
    let run = profile
        .tern(&["group", "history", "#family", "--json"])
        .await;
    if run.code != 0 {
        return Vec::new();
    }
    run.json()
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["text"].as_str().unwrap().to_owned())
        .collect()
}

/// The id of the message of `#family` whose text is `text`, as `profile` sees it.
async fn history_id(profile: &Profile, text: &str) -> String {
    let found = message(profile, "#family", text).await.unwrap();
    found["id"].as_str().unwrap().to_owned()
}

/// The message of `group` (`#name`) whose text is `text`, as `profile`'s history shows it
/// in JSON.
async fn message(profile: &Profile, group: &str, text: &str) -> Option<Value> {
    let run = profile.tern(&["group", "history", group, "--json"]).await;
    run.json()
        .as_array()?
        .iter()
        .find(|m| m["text"] == text)
        .cloned()
}

async fn info(profile: &Profile) -> Option<Value> {
    let run = profile.tern(&["group", "info", "#family", "--json"]).await;
    (run.code == 0).then(|| run.json())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_daemons_make_a_group_talk_in_it_and_remove_one() {
    let pair = Pair::start().await;
    let (alice, bob) = (&pair.alice, &pair.bob);
    let relay = pair.relay.addresses().await[0].clone();
    let carol = Profile::init(&[relay.as_str()]).await;
    let run = carol
        .tern(&["contact", "add", "alice", &alice.invite().await])
        .await;
    assert_eq!(run.code, 0, "{run:?}");
    let _carol_daemon = carol.daemon().await;
    let run = alice
        .tern(&["contact", "add", "carol", &carol.invite().await])
        .await;
    assert_eq!(run.code, 0, "{run:?}");

    let run = alice
        .tern(&["group", "create", "family", "bob", "carol", "--json"])
        .await;
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(run.json()["name"], "family");
    assert_eq!(run.json()["admin"], true);
    for profile in [alice, bob, &carol] {
        eventually("everyone to be in the group", || async {
            let info = info(profile).await?;
            (info["members"].as_array()?.len() == 3).then_some(())
        })
        .await;
    }
    let human = alice.tern(&["group", "info", "#family"]).await;
    assert!(human.stdout.contains("(admin)"), "{human:?}");
    let list = bob.tern(&["group", "list"]).await;
    assert!(list.stdout.contains("#family"), "{list:?}");
    assert!(list.stdout.contains("3 members"), "{list:?}");

    // One send, read by both others.
    let run = bob.tern(&["send", "#family", "dinner at 8?"]).await;
    assert_eq!(run.code, 0, "{run:?}");
    for profile in [alice, &carol] {
        eventually("the message to reach every member", || async {
            texts(profile)
                .await
                .contains(&"dinner at 8?".to_owned())
                .then_some(())
        })
        .await;
    }
    let human = alice.tern(&["group", "history", "#family"]).await;
    assert!(human.stdout.contains(": dinner at 8?"), "{human:?}");
    // Search finds it in the group, at once, and shows it there.
    let found = carol.tern(&["search", "DINNER", "--json"]).await.json();
    assert_eq!(found["hits"][0]["chat"], "group", "{found}");
    assert_eq!(
        found["hits"][0]["message"]["text"], "dinner at 8?",
        "{found}"
    );
    let human = carol.tern(&["search", "dinner", "--in", "#family"]).await;
    assert!(
        human.stdout.contains("#family") && human.stdout.contains(": dinner at 8?"),
        "{human:?}"
    );
    let elsewhere = carol.tern(&["search", "dinner", "--in", "alice"]).await;
    assert!(elsewhere.stdout.contains("Nothing found"), "{elsewhere:?}");
    // The chat list shows the group under the 1:1 chats, with its last message and what
    // is unread; `tern read '#family'` clears it.
    let chats = carol.tern(&["chats"]).await;
    let line = chats.stdout.lines().find(|l| l.starts_with("#family"));
    assert!(
        line.is_some_and(|l| l.contains("3 members")
            && l.contains("dinner at 8?")
            && l.contains("(1 unread)")),
        "{chats:?}"
    );
    let unread = |run: &tern_tests::Run| {
        run.json()["groups"]
            .as_array()
            .and_then(|groups| groups.iter().find(|g| g["name"] == "family"))
            .map(|g| g["unread"].clone())
    };
    let chats = carol.tern(&["chats", "--json"]).await;
    assert_eq!(unread(&chats), Some(1.into()), "{chats:?}");
    // The daemon lists the groups with their last message, in the one answer.
    assert_eq!(
        chats.json()["groups"][0]["last"]["text"],
        "dinner at 8?",
        "{chats:?}"
    );
    let run = carol.tern(&["read", "#family", "--json"]).await;
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(run.json()["marked"], 1);
    let chats = carol.tern(&["chats", "--json"]).await;
    assert_eq!(unread(&chats), Some(0.into()), "{chats:?}");
    let sent = bob.tern(&["chats", "--json"]).await;
    assert_eq!(
        unread(&sent),
        Some(0.into()),
        "our own message is not unread: {sent:?}"
    );
    // Bob sees it delivered to both others, and read by Carol, who marked it read (Alice
    // has not): in his history and in its JSON.
    eventually("bob to see it delivered to two and read by one", || async {
        let run = bob.tern(&["group", "history", "#family"]).await;
        run.stdout
            .contains("dinner at 8?  ✓2/2 ✓✓1/2")
            .then_some(())
    })
    .await;
    let history = bob
        .tern(&["group", "history", "#family", "--json"])
        .await
        .json();
    let mine = history
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["text"] == "dinner at 8?")
        .unwrap();
    assert_eq!(
        mine["receipts"],
        serde_json::json!({"delivered": 2, "read": 1, "members": 2}),
        "{history}"
    );

    // Replies, reactions, edits and deletes, with the same commands as in a 1:1 chat.
    let dinner = history_id(alice, "dinner at 8?").await;
    for (profile, args) in [
        (&carol, ["reply", "#family", &dinner, "I'll bring dessert"]),
        (alice, ["react", "#family", &dinner, "👍"]),
        (&carol, ["react", "#family", &dinner, "🎉"]),
        (bob, ["edit", "#family", &dinner, "dinner at 9?"]),
        (&carol, ["edit", "#family", "last", "I'll bring pie"]),
    ] {
        let run = profile.tern(&args).await;
        assert_eq!(run.code, 0, "{args:?}: {run:?}");
    }
    let forged = alice.tern(&["delete", "#family", &dinner]).await;
    assert_ne!(forged.code, 0, "only the author deletes: {forged:?}");
    for profile in [alice, bob, &carol] {
        eventually(
            "everyone to see the reply, the edit and the reactions",
            || async {
                let run = profile
                    .tern(&["group", "history", "#family", "--json"])
                    .await;
                let history = run.json();
                let messages = history.as_array()?;
                let shown = messages.iter().find(|m| m["id"] == dinner.as_str())?;
                let reply = messages.iter().find(|m| m["text"] == "I'll bring pie")?;
                (shown["text"] == "dinner at 9?"
                    && shown["edited_at_ms"].is_u64()
                    && shown["reactions"].as_array()?.len() == 2
                    && reply["reply_to"] == dinner.as_str())
                .then_some(())
            },
        )
        .await;
    }
    let human = alice.tern(&["group", "history", "#family"]).await;
    assert!(human.stdout.contains("dinner at 9? (edited)"), "{human:?}");
    let run = carol.tern(&["delete", "#family", "last"]).await;
    assert_eq!(run.code, 0, "{run:?}");
    eventually("bob to see carol's reply deleted", || async {
        let run = bob.tern(&["group", "history", "#family"]).await;
        (run.stdout.contains("message deleted") && !run.stdout.contains("I'll bring pie"))
            .then_some(())
    })
    .await;

    // A file to the group: uploaded once to the group's relay, fetched by Alice's daemon by
    // itself, offered to Carol, whose rule for the group is `never`, until she saves it.
    let run = carol
        .tern(&["chats", "downloads", "#family", "never", "--json"])
        .await;
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(run.json()["auto_download"], 0, "{run:?}");
    let dir = tempfile::tempdir().unwrap();
    let plans: Vec<u8> = (0..1_200_000u32).map(|i| (i % 251) as u8).collect();
    let path = dir.path().join("plans.bin");
    std::fs::write(&path, &plans).unwrap();
    let file = path.to_str().unwrap();
    let sent = bob
        .tern(&["send", "#family", "--file", file, "the plans", "--json"])
        .await;
    assert_eq!(sent.code, 0, "{sent:?}");
    let id = sent.json()["id"].as_str().unwrap().to_owned();
    let file_of = |profile, state: &'static str| {
        let id = id.clone();
        async move {
            let run = Profile::tern(profile, &["attachments", "#family", "--json"]).await;
            (run.code == 0).then_some(())?;
            run.json()["files"]
                .as_array()?
                .iter()
                .find(|f| f["id"] == id.as_str() && f["file"]["state"] == state)
                .cloned()
        }
    };
    eventually("alice's daemon to fetch the group's file", || {
        file_of(alice, "ready")
    })
    .await;
    let listed = eventually("carol's daemon to offer it", || file_of(&carol, "offered")).await;
    assert_eq!(listed["caption"], "the plans");
    assert!(listed["group"].as_str().is_some(), "{listed}");
    let human = carol.tern(&["attachments"]).await;
    assert!(
        human.stdout.contains("#family") && human.stdout.contains("plans.bin"),
        "{human:?}"
    );
    let history = alice.tern(&["group", "history", "#family"]).await;
    assert!(
        history.stdout.contains("📎 plans.bin") && history.stdout.contains("the plans"),
        "{history:?}"
    );
    let saved = dir.path().join("saved.bin");
    let run = carol
        .tern(&["save", &id[..8], saved.to_str().unwrap()])
        .await;
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(std::fs::read(&saved).unwrap(), plans);
    // A file to no such group is refused with the reason, not a reset connection, however
    // much of it the command was still sending when the daemon answered.
    let big = dir.path().join("big.bin");
    std::fs::write(&big, vec![7u8; 16_000_000]).unwrap();
    let refused = bob
        .tern(&["send", "#nosuch", "--file", big.to_str().unwrap()])
        .await;
    assert_ne!(refused.code, 0);
    assert!(refused.stderr.contains("no group"), "{refused:?}");

    // Only an admin removes; Carol is out and reads nothing said after.
    let refused = bob.tern(&["group", "remove", "#family", "alice"]).await;
    assert_ne!(refused.code, 0, "bob is not an admin: {refused:?}");
    let run = alice.tern(&["group", "remove", "#family", "carol"]).await;
    assert_eq!(run.code, 0, "{run:?}");
    eventually("carol to be out", || async {
        (info(&carol).await?["active"] == false).then_some(())
    })
    .await;
    let run = alice.tern(&["send", "#family", "carol is out"]).await;
    assert_eq!(run.code, 0, "{run:?}");
    eventually("bob to read it", || async {
        texts(bob)
            .await
            .contains(&"carol is out".to_owned())
            .then_some(())
    })
    .await;
    assert!(!texts(&carol).await.contains(&"carol is out".to_owned()));
    // The removal stays in history where it happened, for people and in JSON.
    let human = bob.tern(&["group", "history", "#family"]).await;
    let lines: Vec<&str> = human.stdout.lines().collect();
    let removed = lines
        .iter()
        .position(|line| line.starts_with("  ") && line.contains(" removed "))
        .unwrap_or_else(|| panic!("no removal in {lines:?}"));
    assert!(lines[removed + 1].contains("carol is out"), "{lines:?}");
    let json = bob.tern(&["group", "history", "#family", "--json"]).await;
    let json = json.json();
    let notice = json
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["notice"]["kind"] == "removed")
        .expect("the removal in history");
    assert_eq!(notice["text"], "");
    assert_eq!(notice["notice"]["members"].as_array().unwrap().len(), 1);
    let refused = carol.tern(&["send", "#family", "still here?"]).await;
    assert_ne!(refused.code, 0, "carol is no longer a member: {refused:?}");
    // Bob deletes Alice's last message from his device alone; Alice keeps it.
    let run = bob.tern(&["delete", "#family", "last", "--for-me"]).await;
    assert_eq!(run.code, 0, "{run:?}");
    assert!(!texts(bob).await.contains(&"carol is out".to_owned()));
    assert!(texts(alice).await.contains(&"carol is out".to_owned()));

    // The admin moves the group's messages to another relay; Bob follows, and they talk on
    // there. A member cannot, and an address without the relay's id is refused.
    let (_second, second, _second_dir) = start_relay().await;
    let refused = bob.tern(&["group", "relays", "#family", &second]).await;
    assert_ne!(refused.code, 0, "bob is not an admin: {refused:?}");
    let refused = alice
        .tern(&["group", "relays", "#family", "/ip4/127.0.0.1/tcp/9"])
        .await;
    assert!(refused.stderr.contains("/p2p/"), "{refused:?}");
    let run = alice.tern(&["group", "relays", "#family", &second]).await;
    assert_eq!(run.code, 0, "{run:?}");
    assert!(run.stdout.contains("one relay"), "{run:?}");
    for profile in [alice, bob] {
        eventually("the log to move", || async {
            (info(profile).await?["sequencers"] == serde_json::json!([second])).then_some(())
        })
        .await;
    }
    let run = alice.tern(&["send", "#family", "on the new relay"]).await;
    assert_eq!(run.code, 0, "{run:?}");
    eventually("bob to read it there", || async {
        texts(bob)
            .await
            .contains(&"on the new relay".to_owned())
            .then_some(())
    })
    .await;
    let human = bob.tern(&["group", "info", "#family"]).await;
    assert!(
        human.stdout.contains(&format!("Relays: {second}")),
        "{human:?}"
    );

    // Any member turns disappearing messages on for everyone; each copy keeps the timer,
    // the sender's running from sending and the reader's from reading.
    let refused = bob.tern(&["disappear", "#family", "2h"]).await;
    assert_ne!(refused.code, 0, "2h is not a timer: {refused:?}");
    let api = super::api::Api::new(pair.alice_api(), alice.token());
    let group_id = info(bob).await.unwrap()["id"].as_str().unwrap().to_owned();
    let (status, body) = api
        .call(
            reqwest::Method::PATCH,
            &format!("/v1/groups/{group_id}"),
            Some(r#"{"disappear_secs": 7}"#),
        )
        .await;
    assert_eq!(status, reqwest::StatusCode::BAD_REQUEST, "{body}");
    let run = bob.tern(&["disappear", "#family", "1h"]).await;
    assert_eq!(run.code, 0, "{run:?}");
    assert!(run.stdout.contains("1 hour"), "{run:?}");
    eventually("alice to follow bob's timer", || async {
        (info(alice).await?["disappear_secs"] == 3600).then_some(())
    })
    .await;
    let human = alice.tern(&["group", "info", "#family"]).await;
    assert!(
        human
            .stdout
            .contains("⏱ messages disappear 1 hour after they are read"),
        "{human:?}"
    );
    let chats = alice.tern(&["chats"]).await;
    let line = chats.stdout.lines().find(|l| l.starts_with("#family"));
    assert!(line.is_some_and(|l| l.contains('⏱')), "{chats:?}");
    let run = alice.tern(&["send", "#family", "self-destructing"]).await;
    assert_eq!(run.code, 0, "{run:?}");
    let mine = message(alice, "#family", "self-destructing").await.unwrap();
    assert_eq!(mine["disappear_secs"], 3600, "{mine}");
    assert!(mine["expires_at_ms"].is_u64(), "from sending: {mine}");
    let theirs = eventually("bob to read it", || {
        message(bob, "#family", "self-destructing")
    })
    .await;
    assert_eq!(theirs["disappear_secs"], 3600, "{theirs}");
    assert!(
        theirs.get("expires_at_ms").is_none(),
        "from reading: {theirs}"
    );
    let human = bob.tern(&["group", "history", "#family"]).await;
    assert!(human.stdout.contains("⏱ self-destructing"), "{human:?}");
    let run = alice.tern(&["disappear", "#family", "off"]).await;
    assert_eq!(run.code, 0, "{run:?}");
    eventually("bob to see it off", || async {
        info(bob)
            .await?
            .get("disappear_secs")
            .is_none()
            .then_some(())
    })
    .await;

    // Bad names are refused with a clear error, and nothing changes.
    let run = alice.tern(&["group", "info", "#nosuch"]).await;
    assert_ne!(run.code, 0);
    assert!(run.stderr.contains("no group"), "{run:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_daemon_away_longer_than_the_log_keeps_entries_is_added_back_and_talks_again() {
    let mut pair = Pair::start().await;
    let run = pair
        .alice
        .tern(&["group", "create", "family", "bob", "--json"])
        .await;
    assert_eq!(run.code, 0, "{run:?}");
    eventually("bob to join", || async {
        (info(&pair.bob).await?["active"] == true).then_some(())
    })
    .await;

    // Bob's daemon is stopped while the group moves to a new epoch and talks on; then the
    // relay's log lets everything before a cutoff expire, the end of Bob's epoch with it.
    pair.bob_daemon.take().unwrap().stop().await;
    let alice = &pair.alice;
    let run = alice.tern(&["group", "rename", "#family", "kin"]).await;
    assert_eq!(run.code, 0, "{run:?}");
    let run = alice.tern(&["send", "#kin", "while bob was away"]).await;
    assert_eq!(run.code, 0, "{run:?}");
    let clock = tern_node::Clock::system();
    let cutoff = clock.now_secs() + 1;
    eventually("the clock to pass the cutoff", || async {
        (clock.now_secs() >= cutoff).then_some(())
    })
    .await;
    let run = alice.tern(&["send", "#kin", "kept"]).await;
    assert_eq!(run.code, 0, "{run:?}");
    eventually("the log to take it", || async {
        let kept = message(alice, "#kin", "kept").await?;
        (kept["delivery"]["state"] == "stored").then_some(())
    })
    .await;
    assert!(pair.relay.expire_logs_before(cutoff).await >= 2);

    // Back, Bob's daemon finds its epoch's end gone and asks Alice, an admin among its
    // contacts, to add it back; her daemon does, and Bob reads and writes in the group again.
    let bob = &pair.bob;
    pair.bob_daemon = Some(bob.daemon().await);
    let back = eventually("bob to be added back", || async {
        let run = bob.tern(&["group", "info", "#kin", "--json"]).await;
        (run.code == 0 && run.json()["active"] == true).then(|| run.json())
    })
    .await;
    assert_eq!(back["members"].as_array().unwrap().len(), 2, "{back}");
    let run = bob.tern(&["send", "#kin", "back again"]).await;
    assert_eq!(run.code, 0, "{run:?}");
    eventually("alice to read bob", || message(alice, "#kin", "back again")).await;
    let run = alice.tern(&["send", "#kin", "welcome back"]).await;
    assert_eq!(run.code, 0, "{run:?}");
    eventually("bob to read alice", || message(bob, "#kin", "welcome back")).await;
    // What expired stays missed: Bob never saw the message sent while his epoch was ending.
    let run = bob.tern(&["group", "history", "#kin", "--json"]).await;
    assert!(!run.stdout.contains("while bob was away"), "{}", run.stdout);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn when_nobody_reaches_the_groups_relay_its_admins_daemon_moves_the_log_and_bob_follows() {
    let mut pair = Pair::start().await;
    let mailbox = pair.relay.addresses().await[0].clone();
    // Both daemons fail over a second after the log stops answering, and settle in ten.
    for (profile, daemon) in [
        (&pair.alice, pair.alice_daemon.take()),
        (&pair.bob, pair.bob_daemon.take()),
    ] {
        daemon.unwrap().stop().await;
        let config = profile.path().join("config.toml");
        let mut text = std::fs::read_to_string(&config).unwrap();
        text.push_str("group_failover_after_secs = 1\ngroup_failover_settle_secs = 10\n");
        std::fs::write(&config, text).unwrap();
    }
    pair.alice_daemon = Some(pair.alice.daemon().await);
    pair.bob_daemon = Some(pair.bob.daemon().await);
    let (alice, bob) = (&pair.alice, &pair.bob);
    let run = alice.tern(&["group", "create", "family", "bob"]).await;
    assert_eq!(run.code, 0, "{run:?}");
    eventually("bob to join", || async {
        (info(bob).await?["active"] == true).then_some(())
    })
    .await;
    // The group's log goes to a relay of its own, which then dies.
    let (log_relay, log_address, _log_dir) = start_relay().await;
    let run = alice
        .tern(&["group", "relays", "#family", &log_address])
        .await;
    assert_eq!(run.code, 0, "{run:?}");
    for profile in [alice, bob] {
        eventually("the log to move there", || async {
            (info(profile).await?["sequencers"] == serde_json::json!([log_address])).then_some(())
        })
        .await;
    }
    log_relay.shutdown().await;
    drop(log_relay);

    // Alice's daemon, the admin's, moves the log to her own relay; both show the move
    // settling, then both are there.
    eventually("the move to show", || async {
        let run = alice.tern(&["group", "info", "#family"]).await;
        run.stdout
            .contains("the group's log is moving")
            .then_some(())
    })
    .await;
    // The API says since when, for as long as the move settles.
    eventually("the outage to show in the API", || async {
        let info = info(alice).await?;
        (info["failing_over"] == true && info["unreachable_since_ms"].is_u64()).then_some(())
    })
    .await;
    for profile in [alice, bob] {
        eventually("the log to move to alice's relay", || async {
            let info = info(profile).await?;
            (info["sequencers"] == serde_json::json!([mailbox]) && info["failing_over"] == false)
                .then_some(())
        })
        .await;
    }
    let run = alice.tern(&["send", "#family", "after the failover"]).await;
    assert_eq!(run.code, 0, "{run:?}");
    eventually("bob to read it", || {
        message(bob, "#family", "after the failover")
    })
    .await;
    let run = bob.tern(&["send", "#family", "and back"]).await;
    assert_eq!(run.code, 0, "{run:?}");
    eventually("alice to read bob", || {
        message(alice, "#family", "and back")
    })
    .await;
}
