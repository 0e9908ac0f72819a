//! The full-screen chat, driven through a real terminal: tmux runs `tern chat` in a detached
//! session; `send-keys` types, `capture-pane` reads the screen as a person would see it.

use std::process::Command;

use unicode_width::UnicodeWidthStr;

use super::harness::{Pair, eventually, stranger, tern};

/// A detached tmux session on a private server socket, killed when dropped.
struct Tmux {
    socket: tempfile::TempDir,
    session: &'static str,
}

impl Tmux {
    fn start(command: &str) -> Self {
        Self::start_sized(command, 120)
    }

    /// A session `width` columns wide (and 30 rows).
    fn start_sized(command: &str, width: u16) -> Self {
        let socket = tempfile::tempdir().unwrap();
        let tmux = Self {
            socket,
            session: "tern",
        };
        let status = tmux
            .command()
            .args([
                "new-session",
                "-d",
                "-s",
                tmux.session,
                "-x",
                &width.to_string(),
                "-y",
                "30",
            ])
            .arg(command)
            .status()
            .expect("tmux is needed for this test (apt-get install tmux)");
        assert!(status.success());
        tmux
    }

    fn command(&self) -> Command {
        let mut command = Command::new("tmux");
        command
            .arg("-S")
            .arg(self.socket.path().join("socket"))
            .env("TERM", "xterm-256color");
        command
    }

    fn keys(&self, keys: &[&str]) {
        let status = self
            .command()
            .args(["send-keys", "-t", self.session])
            .args(keys)
            .status()
            .unwrap();
        assert!(status.success());
    }

    fn screen(&self) -> String {
        let output = self
            .command()
            .args(["capture-pane", "-p", "-t", self.session])
            .output()
            .unwrap();
        String::from_utf8_lossy(&output.stdout).into_owned()
    }

    async fn wait_for(&self, what: &str, check: impl Fn(&str) -> bool) -> String {
        eventually(what, || async {
            let screen = self.screen();
            check(&screen).then_some(screen)
        })
        .await
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.command().arg("kill-server").status();
    }
}

/// The screen line holding `text`.
fn line_with<'s>(screen: &'s str, text: &str) -> Option<&'s str> {
    screen.lines().find(|line| line.contains(text))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn typing_in_the_chat_screen_sends_and_shows_delivery_across_daemon_restarts() {
    let mut pair = Pair::start().await;
    let bob_says = pair
        .bob
        .tern(&["send", "alice", "hello from bob's script"])
        .await;
    assert_eq!(bob_says.code, 0, "{bob_says:?}");

    let command = format!(
        "{} --lang en --data-dir {} --insecure-no-passphrase chat bob",
        tern().display(),
        pair.alice.path().display()
    );
    let tmux = Tmux::start(&command);
    tmux.wait_for("the chat screen with bob's message", |s| {
        s.contains("bob") && s.contains("hello from bob's script") && s.contains("● daemon")
    })
    .await;

    tmux.keys(&["typed in the chat screen"]);
    tmux.keys(&["Enter"]);
    tmux.wait_for("the typed message, delivered", |s| {
        line_with(s, "me: typed in the chat screen").is_some_and(|l| l.contains('✓'))
    })
    .await;
    // The status line says which way messages reach bob: straight to his daemon here.
    tmux.wait_for("the path to bob", |s| s.contains("via direct"))
        .await;
    eventually("bob to receive the typed message", || async {
        let page = pair.bob.tern(&["history", "alice", "--json"]).await.json();
        page["messages"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["text"] == "typed in the chat screen")
            .then_some(())
    })
    .await;
    // Opening the screen marked bob's message read: bob sees the read mark.
    eventually("bob to see his message read", || async {
        let page = pair.bob.tern(&["history", "alice", "--json"]).await.json();
        page["messages"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["text"] == "hello from bob's script" && m["delivery"]["state"] == "read")
            .then_some(())
    })
    .await;

    // Alice's daemon restarts under the open screen: it notices, reconnects, and carries on.
    pair.alice_daemon.take().unwrap().stop().await;
    tmux.wait_for("the screen to notice the daemon left", |s| {
        s.contains("daemon offline")
    })
    .await;
    pair.alice_daemon = Some(pair.alice.daemon().await);
    tmux.wait_for("the screen to reconnect", |s| {
        s.contains("● daemon") && !s.contains("daemon offline")
    })
    .await;
    let run = pair.bob.tern(&["send", "alice", "after the restart"]).await;
    assert_eq!(run.code, 0, "{run:?}");
    tmux.wait_for("bob's new message on screen", |s| {
        s.contains("after the restart")
    })
    .await;

    tmux.keys(&["Escape"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_request_is_answered_from_the_chat_screen() {
    let pair = Pair::start().await;
    let relay = pair.relay.addresses().await[0].clone();
    let (carol, _carol_daemon) = stranger(&relay, "alice", &pair.alice.invite().await).await;
    let carol_address = carol.address().await;
    assert_eq!(
        carol
            .tern(&["send", "alice", "hi from a stranger"])
            .await
            .code,
        0
    );
    eventually("the request to reach alice", || async {
        let requests = pair.alice.tern(&["requests", "--json"]).await.json();
        requests[0].is_object().then_some(())
    })
    .await;

    let command = format!(
        "{} --lang en --data-dir {} --insecure-no-passphrase chat {carol_address}",
        tern().display(),
        pair.alice.path().display()
    );
    let tmux = Tmux::start(&command);
    tmux.wait_for("the request on screen", |s| {
        s.contains("message request") && s.contains("hi from a stranger")
    })
    .await;
    tmux.keys(&["/accept", "Enter"]);
    tmux.wait_for("the request accepted", |s| !s.contains("message request"))
        .await;
    let chats = pair.alice.tern(&["chats", "--json"]).await.json();
    assert_eq!(chats["chats"][0]["peer"], carol_address.as_str());

    tmux.keys(&["/nonsense", "Enter"]);
    tmux.wait_for("an unknown command explained", |s| {
        s.contains("unknown command /nonsense")
    })
    .await;
    tmux.keys(&["/block", "Enter"]);
    tmux.wait_for("the peer shown blocked", |s| s.contains(" blocked "))
        .await;
    let blocked = pair.alice.tern(&["block", "--json"]).await.json();
    assert_eq!(blocked[0]["address"], carol_address.as_str());

    // /delete removes the conversation and closes the screen.
    tmux.keys(&["/delete", "Enter"]);
    eventually("the conversation to be gone", || async {
        let chats = pair.alice.tern(&["chats", "--json"]).await.json();
        chats["chats"].as_array().unwrap().is_empty().then_some(())
    })
    .await;
    assert!(pair.alice.history(&carol_address).await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_chat_screen_speaks_the_language_of_the_locale() {
    let pair = Pair::start().await;
    // A German desktop's locale, and no --lang.
    let command = format!(
        "env -u LC_ALL -u LC_MESSAGES LANG=de_DE.UTF-8 {} --data-dir {} \
         --insecure-no-passphrase chat bob",
        tern().display(),
        pair.alice.path().display()
    );
    let tmux = Tmux::start(&command);
    tmux.wait_for("the German chat screen", |s| {
        s.contains("● Daemon")
            && s.contains("nicht verifiziert")
            && s.contains("Enter senden")
            && s.contains("Noch keine Nachrichten")
    })
    .await;
    let run = pair.alice.tern(&["send", "bob", "guten Tag"]).await;
    assert_eq!(run.code, 0, "{run:?}");
    tmux.wait_for("our message, as ours in German", |s| {
        s.contains("ich: guten Tag")
    })
    .await;
    tmux.keys(&["/nonsense", "Enter"]);
    tmux.wait_for("an unknown command explained in German", |s| {
        s.contains("unbekannter Befehl /nonsense")
    })
    .await;
    tmux.keys(&["Escape"]);
}

/// Every row of the pane is exactly as wide as the pane: nothing drawn overlaps or is
/// pushed past the border, as it would be if the screen and the terminal measured a
/// character differently.
fn assert_aligned(screen: &str, width: usize) {
    for line in screen.lines().filter(|l| !l.trim().is_empty()) {
        if line.starts_with('│') {
            assert_eq!(line.width(), width, "{line:?} in\n{screen}");
            assert!(line.ends_with('│'), "{line:?} in\n{screen}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wide_and_right_to_left_text_line_up_in_the_chat_screen() {
    let pair = Pair::start().await;
    // 120 CJK characters: 240 columns, so the message wraps over three rows.
    let cjk = "一二三四五六七八九十".repeat(12);
    let mixed = "emoji 😀🎉 and שלום עולם (Hebrew)";
    let hebrew = "שלום עולם, מה שלומך?";
    for text in [cjk.as_str(), mixed, hebrew] {
        let run = pair.bob.tern(&["send", "alice", text]).await;
        assert_eq!(run.code, 0, "{run:?}");
    }
    let command = format!(
        "{} --lang en --data-dir {} --insecure-no-passphrase chat bob",
        tern().display(),
        pair.alice.path().display()
    );
    let tmux = Tmux::start(&command);
    let screen = tmux
        .wait_for("bob's three messages", |s| {
            s.contains("(Hebrew)") && s.contains('?')
        })
        .await;
    assert_aligned(&screen, 120);

    // The CJK text wrapped whole: every character on screen, in order, none cut off at
    // the border.
    let digits = "一二三四五六七八九十";
    let shown: String = screen
        .lines()
        .flat_map(|l| l.chars().filter(|c| digits.contains(*c)))
        .collect();
    assert_eq!(shown, cjk, "{screen}");
    let rows = screen
        .lines()
        .filter(|l| l.contains(|c| digits.contains(c)))
        .count();
    assert_eq!(rows, 3, "{screen}");

    // Right-to-left words in visual order: a terminal without bidi shows them as written
    // here, reversed. In a left-to-right sentence only the Hebrew run turns; a Hebrew
    // sentence turns whole, its question mark at the left.
    assert!(
        screen.contains("emoji 😀🎉 and םלוע םולש (Hebrew)"),
        "{screen}"
    );
    assert!(screen.contains("?ךמולש המ ,םלוע םולש"), "{screen}");
    assert!(!screen.contains("שלום"), "{screen}");

    // A mark after wide text sits where display width puts it: the delivery mark of our
    // own message, one space after the text.
    let run = pair.alice.tern(&["send", "bob", "我 😀 ok"]).await;
    assert_eq!(run.code, 0, "{run:?}");
    let screen = tmux
        .wait_for("our message delivered", |s| {
            line_with(s, "me: 我 😀 ok").is_some_and(|l| l.contains('✓'))
        })
        .await;
    assert_aligned(&screen, 120);
    let line = line_with(&screen, "me: 我 😀 ok").unwrap();
    let text_end = line.find("me: 我 😀 ok").unwrap() + "me: 我 😀 ok".len();
    let mark = line.find('✓').unwrap();
    assert_eq!(&line[text_end..mark], " ", "{line:?}");
    // `│HH:MM me: ` is 11 columns, the text 8 (我 and 😀 take two each).
    assert_eq!(line[..mark].width(), 1 + 10 + 8 + 1, "{line:?}");
    tmux.keys(&["Escape"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reply_react_edit_and_delete_from_the_keys_and_see_the_peer_typing() {
    let pair = Pair::start().await;
    let (alice, bob) = (&pair.alice, &pair.bob);
    for profile in [alice, bob] {
        let run = profile.tern(&["share", "typing", "on"]).await;
        assert_eq!(run.code, 0, "{run:?}");
    }
    let sent = bob.tern(&["send", "alice", "lunch today?", "--json"]).await;
    let lunch = sent.json()["id"].as_str().unwrap().to_owned();
    let screen_of = |profile: &super::harness::Profile, peer: &str| {
        format!(
            "{} --lang en --data-dir {} --insecure-no-passphrase chat {peer}",
            tern().display(),
            profile.path().display()
        )
    };
    let tmux = Tmux::start(&screen_of(alice, "bob"));
    tmux.wait_for("bob's question", |s| s.contains("lunch today?"))
        .await;
    let bob_message = |id: String| async move {
        let page = bob.tern(&["history", "alice", "--json"]).await.json();
        page["messages"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["id"] == id.as_str())
            .cloned()
    };
    let bob_text = |text: &'static str| async move {
        let page = bob.tern(&["history", "alice", "--json"]).await.json();
        page["messages"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["text"] == text)
            .cloned()
    };

    // Alt-↑ selects the newest message, Alt-r answers it.
    tmux.keys(&["M-Up"]);
    tmux.keys(&["M-r"]);
    tmux.keys(&["sure, at noon"]);
    tmux.keys(&["Enter"]);
    let reply = eventually("bob to get the reply", || bob_text("sure, at noon")).await;
    assert_eq!(reply["reply_to"], lunch.as_str(), "{reply}");
    tmux.wait_for("the reply on alice's screen", |s| {
        line_with(s, "sure, at noon").is_some_and(|l| l.contains('✓'))
    })
    .await;

    // Two up is bob's question again: Alt-1 reacts with a thumbs-up.
    tmux.keys(&["M-Up"]);
    tmux.keys(&["M-Up"]);
    tmux.keys(&["M-1"]);
    eventually("bob to see the reaction", || async {
        let m = bob_message(lunch.clone()).await?;
        (m["reactions"][0]["emoji"] == "👍").then_some(())
    })
    .await;

    // Escape clears the selection; Alt-↑ then picks alice's reply, Alt-e edits it.
    tmux.keys(&["Escape"]);
    tmux.keys(&["M-Up"]);
    tmux.keys(&["M-e"]);
    tmux.keys(&["C-u"]);
    tmux.keys(&["sure, at one"]);
    tmux.keys(&["Enter"]);
    eventually("bob to see the edit", || async {
        let m = bob_text("sure, at one").await?;
        m["edited_at_ms"].is_u64().then_some(())
    })
    .await;
    tmux.wait_for("the edit on alice's screen", |s| {
        s.contains("sure, at one (edited)")
    })
    .await;

    // Alt-d deletes it for everyone.
    tmux.keys(&["M-Up"]);
    tmux.keys(&["M-d"]);
    eventually("bob to see the delete", || async {
        let page = bob.tern(&["history", "alice", "--json"]).await.json();
        let messages = page["messages"].as_array().unwrap().clone();
        let gone = messages.iter().all(|m| m["text"] != "sure, at one");
        (gone && messages.iter().any(|m| m["kind"] == "deleted")).then_some(())
    })
    .await;
    tmux.wait_for("the tombstone on alice's screen", |s| {
        s.contains("message deleted")
    })
    .await;

    // `/disappear 1h` turns on the chat's timer: a notice on both sides.
    tmux.keys(&["/disappear 2h", "Enter"]);
    tmux.wait_for("a timer that is not one explained", |s| {
        s.contains("5m, 1h, 1d, 1w or off")
    })
    .await;
    tmux.keys(&["/disappear 1h", "Enter"]);
    tmux.wait_for("the timer's notice", |s| {
        s.contains("disappearing messages: 1 hour")
    })
    .await;
    eventually("bob to follow the timer", || async {
        let chats = bob.tern(&["chats", "--json"]).await.json();
        (chats["chats"][0]["disappear_secs"] == 3600).then_some(())
    })
    .await;

    // `/search` finds the chat's messages through the daemon's index, and Esc clears it.
    tmux.keys(&["/search lunch", "Enter"]);
    tmux.wait_for("what the search found", |s| {
        s.contains("“lunch”: 1 found, highlighted")
    })
    .await;
    tmux.keys(&["Escape"]);

    // Bob starts typing in his own chat screen: alice's header says so.
    let bob_screen = Tmux::start(&screen_of(bob, "alice"));
    bob_screen
        .wait_for("bob's screen", |s| s.contains("lunch today?"))
        .await;
    bob_screen.keys(&["see y"]);
    tmux.wait_for("bob typing on alice's screen", |s| {
        s.contains("bob is typing…")
    })
    .await;
    bob_screen.keys(&["Escape"]);
    tmux.keys(&["Escape"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_chat_list_switches_chats_without_leaving_the_screen() {
    let pair = Pair::start().await;
    let relay = pair.relay.addresses().await[0].clone();
    let alice_invite = pair.alice.invite().await;
    let (carol, _carol_daemon) = stranger(&relay, "alice", &alice_invite).await;
    let run = pair
        .alice
        .tern(&["contact", "add", "carol", &carol.invite().await])
        .await;
    assert_eq!(run.code, 0, "{run:?}");
    let run = pair.alice.tern(&["send", "carol", "hi carol"]).await;
    assert_eq!(run.code, 0, "{run:?}");
    let run = pair.bob.tern(&["send", "alice", "hi from bob"]).await;
    assert_eq!(run.code, 0, "{run:?}");

    // 160 columns: wide enough for the list without asking.
    let command = format!(
        "{} --lang en --data-dir {} --insecure-no-passphrase chat bob",
        tern().display(),
        pair.alice.path().display()
    );
    let tmux = Tmux::start_sized(&command, 160);
    tmux.wait_for("the list with both chats", |s| {
        s.contains("Chats") && s.contains("carol") && s.contains("hi from bob")
    })
    .await;

    // A message in the other chat counts as unread there.
    let run = carol.tern(&["send", "alice", "are you there?"]).await;
    assert_eq!(run.code, 0, "{run:?}");
    tmux.wait_for("carol's unread count", |s| {
        line_with(s, "carol").is_some_and(|l| l.contains(" 1"))
    })
    .await;

    // Ctrl-K finds carol by name and opens her chat, with her message.
    tmux.keys(&["C-k"]);
    tmux.keys(&["car"]);
    tmux.keys(&["Enter"]);
    tmux.wait_for("carol's chat", |s| {
        s.contains("are you there?") && !s.contains("hi from bob")
    })
    .await;
    tmux.keys(&["yes, here"]);
    tmux.keys(&["Enter"]);
    eventually("carol to get the answer", || async {
        let page = carol.tern(&["history", "alice", "--json"]).await.json();
        page["messages"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["text"] == "yes, here")
            .then_some(())
    })
    .await;

    // Ctrl-N moves on to the other chat, bob's, and Ctrl-L hides the list.
    tmux.keys(&["C-n"]);
    tmux.wait_for("bob's chat again", |s| {
        s.contains("hi from bob") && !s.contains("are you there?")
    })
    .await;
    tmux.keys(&["C-l"]);
    tmux.wait_for("the list hidden", |s| !s.contains("Chats"))
        .await;
    tmux.keys(&["Escape"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_identity_change_shows_in_the_open_chat_and_holds_what_is_typed() {
    let pair = Pair::start().await;
    let (alice, bob) = (&pair.alice, &pair.bob);
    let run = alice.tern(&["contact", "policy", "bob", "block"]).await;
    assert_eq!(run.code, 0, "{run:?}");
    let run = bob.tern(&["send", "alice", "before"]).await;
    assert_eq!(run.code, 0, "{run:?}");
    let tmux = Tmux::start(&format!(
        "{} --lang en --data-dir {} --insecure-no-passphrase chat bob",
        tern().display(),
        alice.path().display()
    ));
    tmux.wait_for("bob's first message", |s| s.contains("before"))
        .await;

    // Bob replaces his key and writes: the notice and the hold appear on Alice's screen.
    let run = bob.tern(&["id", "--rotate-key", "--no-qr"]).await;
    assert_eq!(run.code, 0, "{run:?}");
    let run = bob.tern(&["send", "alice", "after"]).await;
    assert_eq!(run.code, 0, "{run:?}");
    let screen = tmux
        .wait_for("the notice and the hold", |s| {
            s.contains("identity key changed: your messages wait") && s.contains("after")
        })
        .await;
    assert!(
        screen.contains("key changed: messages wait until `tern contact verify bob`"),
        "{screen}"
    );

    // What Alice types waits; verifying Bob again lets it go and clears the header.
    tmux.keys(&["still you?"]);
    tmux.keys(&["Enter"]);
    let screen = tmux
        .wait_for("the queued message", |s| {
            line_with(s, "still you?").is_some_and(|l| l.contains('…'))
        })
        .await;
    assert!(
        !bob.history("alice")
            .await
            .iter()
            .any(|m| m["text"] == "still you?"),
        "{screen}"
    );
    let run = alice.tern(&["contact", "verify", "bob", "--yes"]).await;
    assert_eq!(run.code, 0, "{run:?}");
    tmux.wait_for("the message delivered", |s| {
        line_with(s, "still you?").is_some_and(|l| l.contains('✓'))
            && !s.contains("messages wait until `tern contact verify bob`")
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_shows_in_the_chat_screen_and_alt_s_saves_it() {
    let pair = Pair::start().await;
    let (alice, bob) = (&pair.alice, &pair.bob);
    let run = bob.tern(&["send", "alice", "a photo follows"]).await;
    assert_eq!(run.code, 0, "{run:?}");
    let downloads = tempfile::tempdir().unwrap();
    let tmux = Tmux::start(&format!(
        "cd {} && exec {} --lang en --data-dir {} --insecure-no-passphrase chat bob",
        downloads.path().display(),
        tern().display(),
        alice.path().display()
    ));
    tmux.wait_for("bob's text", |s| s.contains("a photo follows"))
        .await;

    let photo: Vec<u8> = (0..500_000u32).map(|i| (i % 253) as u8).collect();
    let source = tempfile::tempdir().unwrap();
    let path = source.path().join("photo.jpg");
    std::fs::write(&path, &photo).unwrap();
    let run = bob
        .tern(&[
            "send",
            "alice",
            "--file",
            path.to_str().unwrap(),
            "the view",
        ])
        .await;
    assert_eq!(run.code, 0, "{run:?}");
    // Inline, with its name, size and state; fetched by alice's daemon by itself.
    tmux.wait_for("the file, fetched", |s| {
        line_with(s, "📎 photo.jpg · 500.0 kB · here").is_some_and(|l| l.contains("the view"))
    })
    .await;

    // Alt-↑ selects it, Alt-s saves it beside the screen under its own name.
    tmux.keys(&["M-Up"]);
    tmux.keys(&["M-s"]);
    tmux.wait_for("the saved notice", |s| s.contains("saved photo.jpg"))
        .await;
    assert_eq!(
        std::fs::read(downloads.path().join("photo.jpg")).unwrap(),
        photo
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_group_is_a_chat_screen_with_members_changes_and_relay_marks() {
    let pair = Pair::start().await;
    let (alice, bob) = (&pair.alice, &pair.bob);
    let run = alice.tern(&["group", "create", "family", "bob"]).await;
    assert_eq!(run.code, 0, "{run:?}");
    eventually("bob to join the group", || async {
        let run = bob.tern(&["group", "info", "#family", "--json"]).await;
        (run.code == 0 && run.json()["members"].as_array()?.len() == 2).then_some(())
    })
    .await;
    let run = bob.tern(&["send", "#family", "hello group"]).await;
    assert_eq!(run.code, 0, "{run:?}");

    let command = format!(
        "{} --lang en --data-dir {} --insecure-no-passphrase chat '#family'",
        tern().display(),
        alice.path().display()
    );
    let tmux = Tmux::start(&command);
    // The title, the member list beside the conversation, bob's message under his name,
    // and before it, from history, how the group began (once).
    tmux.wait_for("the group's screen", |s| {
        s.contains("#family")
            && s.contains("2 members")
            && s.contains("Members (2)")
            && s.contains("me (admin)")
            && line_with(s, "bob: hello group").is_some()
            && s.contains("you created #family")
            && s.matches("me added bob").count() == 1
    })
    .await;

    tmux.keys(&["from the screen"]);
    tmux.keys(&["Enter"]);
    // Taken by the group's relay (⇡1/1), then delivered to Bob, the one other member
    // (✓1/1), when his receipt comes back a moment later: either may be on screen first.
    tmux.wait_for("our message, taken by the group's relay", |s| {
        line_with(s, "me: from the screen")
            .is_some_and(|l| l.contains("⇡1/1") || l.contains("✓1/1"))
    })
    .await;
    eventually("bob to read it", || async {
        let run = bob.tern(&["group", "history", "#family"]).await;
        run.stdout.contains("from the screen").then_some(())
    })
    .await;
    tmux.wait_for("our message, delivered to bob", |s| {
        line_with(s, "me: from the screen").is_some_and(|l| l.contains("✓1/1"))
    })
    .await;

    // Changes typed in the input line come back inline once the group's log has them.
    tmux.keys(&["/rename fam2", "Enter"]);
    tmux.wait_for("the rename, inline and in the title", |s| {
        s.contains("me renamed the group to #fam2") && s.contains(" #fam2 ")
    })
    .await;
    tmux.keys(&["/frobnicate", "Enter"]);
    tmux.wait_for("an unknown command explained", |s| {
        s.contains("unknown command /frobnicate")
    })
    .await;
    let run = bob.tern(&["send", "#fam2", "nice name"]).await;
    assert_eq!(run.code, 0, "{run:?}");
    tmux.wait_for("bob's message under the new name", |s| {
        line_with(s, "bob: nice name").is_some()
    })
    .await;
    // Edits and replies from the input line (each aimed at the newest message: ours for
    // an edit, another member's for a reply); Bob sees them.
    tmux.keys(&["/edit from the screen, edited", "Enter"]);
    tmux.wait_for("our edit, marked", |s| {
        line_with(s, "from the screen, edited (edited)").is_some()
    })
    .await;
    tmux.keys(&["/reply same here", "Enter"]);
    eventually("bob to see alice's reply and her edit", || async {
        let run = bob.tern(&["group", "history", "#fam2", "--json"]).await;
        let history = run.json();
        let messages = history.as_array()?;
        let nice = messages.iter().find(|m| m["text"] == "nice name")?;
        let reply = messages.iter().find(|m| m["text"] == "same here")?;
        let edited = messages
            .iter()
            .find(|m| m["text"] == "from the screen, edited")?;
        (reply["reply_to"] == nice["id"] && edited["edited_at_ms"].is_u64()).then_some(())
    })
    .await;
    // A file from the input line, shown inline on both sides.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("minutes.txt");
    std::fs::write(&path, vec![b'm'; 300_000]).unwrap();
    tmux.keys(&[&format!("/file {} the minutes", path.display()), "Enter"]);
    tmux.wait_for("the file, inline", |s| {
        line_with(s, "📎 minutes.txt").is_some_and(|l| l.contains("the minutes"))
    })
    .await;
    eventually("bob's daemon to fetch it", || async {
        let run = bob.tern(&["attachments", "#fam2", "--json"]).await;
        (run.json()["files"].as_array()?.first()?["file"]["state"] == "ready").then_some(())
    })
    .await;

    // `/disappear 1d` sets the group's timer for every member.
    tmux.keys(&["/disappear 1d", "Enter"]);
    tmux.wait_for("the timer, inline and in the title", |s| {
        s.contains("me set disappearing messages to 1 day") && s.contains("⏱ 1 day")
    })
    .await;
    eventually("bob to follow the group's timer", || async {
        let run = bob.tern(&["group", "info", "#fam2", "--json"]).await;
        (run.json()["disappear_secs"] == 86_400).then_some(())
    })
    .await;

    // `/search` finds the group's messages, a file's caption too.
    tmux.keys(&["/search minutes", "Enter"]);
    tmux.wait_for("what the search found", |s| {
        s.contains("“minutes”:") && s.contains("found, highlighted")
    })
    .await;
    tmux.keys(&["Escape"]);

    // What the open screen shows is read: the group's unread count stays at zero.
    eventually("the screen to mark the group read", || async {
        let run = alice.tern(&["group", "info", "#fam2", "--json"]).await;
        (run.code == 0 && run.json()["unread"] == 0).then_some(())
    })
    .await;

    // Ctrl-N goes on to the next chat, the 1:1 chat with Bob (the list wraps: groups come
    // after the 1:1 chats), and from there Ctrl-N comes back to the group.
    let run = alice.tern(&["send", "bob", "one to one"]).await;
    assert_eq!(run.code, 0, "{run:?}");
    tmux.keys(&["C-n"]);
    tmux.wait_for("bob's 1:1 chat", |s| {
        s.contains("one to one") && !s.contains("Members (2)")
    })
    .await;
    tmux.keys(&["C-n"]);
    tmux.wait_for("the group again", |s| {
        s.contains("Members (2)") && line_with(s, "bob: nice name").is_some()
    })
    .await;
    tmux.keys(&["Escape"]);
}
