//! Group chats through real relays: a group is created, members are added over the 1:1 path
//! (key packages asked for and given, the Welcome sent once the commit won), messages go
//! through the group's log, a removed member reads nothing sent after its removal, and a
//! member that restarts goes on where it was.

mod support;

use std::time::Duration;

use support::{
    groups::{
        TIMEOUT, befriend, group_event, group_refusals, in_a_group, received, relay, rename_seen,
        texts, three_in_a_group,
    },
    node_builder as builder, running_clock, until, wait_for,
};
use tern_node::{Event, GroupEvent, Node, UserId};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_group_of_three_talks_through_its_log_and_a_removed_member_reads_no_more() {
    if let Ok(filter) = std::env::var("TERN_TEST_LOG") {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
            .with_test_writer()
            .try_init();
    }
    let (relay, relays, _relay_dir) = relay().await;
    let dirs: Vec<_> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    let alice = builder(dirs[0].path(), &relays).spawn().await.unwrap();
    let mut bob = builder(dirs[1].path(), &relays).spawn().await.unwrap();
    let carol = builder(dirs[2].path(), &relays).spawn().await.unwrap();
    befriend(&alice, &bob).await;
    befriend(&alice, &carol).await;
    let (mut alice_events, mut carol_events) = (
        alice.events(tern_node::From::Oldest),
        carol.events(tern_node::From::Oldest),
    );
    let mut bob_events = bob.events(tern_node::From::Oldest);

    let group = alice.create_group("Zanzibar reunion").await.unwrap();
    let info = alice.group_info(group).await.unwrap();
    assert_eq!(info.name, "Zanzibar reunion");
    assert!(info.admin && info.active);
    assert_eq!(info.members.len(), 1);

    // Alice holds no key packages of theirs: she asks, they answer, she adds them, and each
    // joins from the Welcome.
    alice
        .add_members(group, vec![bob.user_id(), carol.user_id()])
        .await
        .unwrap();
    for events in [&mut bob_events, &mut carol_events] {
        let by = group_event(events, group, |e| match e {
            GroupEvent::Joined { by, .. } => Some(*by),
            _ => None,
        })
        .await;
        assert_eq!(by, Some(alice.user_id()));
    }
    let members = |info: tern_node::GroupInfo| {
        let mut m: Vec<UserId> = info.members.iter().map(|m| m.user).collect();
        m.sort();
        m
    };
    let mut everyone = vec![alice.user_id(), bob.user_id(), carol.user_id()];
    everyone.sort();
    // Bob may have joined before Carol was added (her key package came later): he learns of
    // her from the log.
    for node in [&alice, &bob, &carol] {
        tokio::time::timeout(TIMEOUT, async {
            while members(node.group_info(group).await.unwrap()) != everyone {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        })
        .await
        .expect("a member never saw everyone join");
    }

    // One upload each, read by every other member.
    bob.send_to_group(group, "hi from bob").await.unwrap();
    assert_eq!(
        received(&mut alice_events, group, "hi from bob").await,
        bob.user_id()
    );
    assert_eq!(
        received(&mut carol_events, group, "hi from bob").await,
        bob.user_id()
    );
    alice.send_to_group(group, "hi from alice").await.unwrap();
    received(&mut bob_events, group, "hi from alice").await;
    received(&mut carol_events, group, "hi from alice").await;
    group_event(&mut alice_events, group, |e| match e {
        GroupEvent::Stored { relays, .. } => Some(*relays),
        _ => None,
    })
    .await;

    // Carol is removed: she learns it, and reads nothing said after it.
    alice
        .remove_members(group, vec![carol.user_id()])
        .await
        .unwrap();
    group_event(&mut carol_events, group, |e| match e {
        GroupEvent::Ended => Some(()),
        _ => None,
    })
    .await;
    let removed = group_event(&mut bob_events, group, |e| match e {
        GroupEvent::Removed { members, .. } => Some(members.clone()),
        _ => None,
    })
    .await;
    assert_eq!(removed, vec![carol.user_id()]);
    alice.send_to_group(group, "carol is gone").await.unwrap();
    received(&mut bob_events, group, "carol is gone").await;
    let carols = carol.group_history(group, 100).await.unwrap();
    assert!(carols.iter().all(|m| m.text != "carol is gone"));
    assert!(!carol.group_info(group).await.unwrap().active);

    // What others wrote counts as unread until read; our own messages never do.
    assert_eq!(alice.group_info(group).await.unwrap().unread, 1);
    assert_eq!(bob.group_info(group).await.unwrap().unread, 2);

    // Bob restarts: his group, his place in its log and his unread count come back.
    bob.shutdown().await;
    bob = builder(dirs[1].path(), &relays).spawn().await.unwrap();
    let mut bob_events = bob.events(tern_node::From::Now);
    alice.send_to_group(group, "welcome back").await.unwrap();
    received(&mut bob_events, group, "welcome back").await;
    assert_eq!(
        texts(&bob, group).await,
        [
            "hi from bob",
            "hi from alice",
            "carol is gone",
            "welcome back"
        ],
        "each message once, in the log's order"
    );
    assert_eq!(bob.group_info(group).await.unwrap().unread, 3);
    assert_eq!(bob.mark_group_read(group).await.unwrap(), 3);
    assert_eq!(bob.mark_group_read(group).await.unwrap(), 0, "read once");
    assert_eq!(bob.group_info(group).await.unwrap().unread, 0);
    // A removed member still reads back its count for what it got before the removal.
    assert_eq!(carol.group_info(group).await.unwrap().unread, 2);
    // Nothing that happened here is a refusal: no member's own entries, nobody's commits,
    // no message of the removed member's last epoch is counted as bad input.
    for node in [&alice, &bob, &carol] {
        let refused = group_refusals(node).await;
        assert!(refused.is_empty(), "{refused:?}");
    }

    // Added again, Carol joins over the state she kept of the group, and reads on.
    alice
        .add_members(group, vec![carol.user_id()])
        .await
        .unwrap();
    let mut carol_events = carol.events(tern_node::From::Now);
    until("carol to join again", || async {
        carol
            .group_info(group)
            .await
            .is_ok_and(|g| g.active && g.members.len() == 3)
    })
    .await;
    until("alice to see carol again", || async {
        alice
            .group_info(group)
            .await
            .is_ok_and(|g| g.members.len() == 3)
    })
    .await;
    alice.send_to_group(group, "carol is back").await.unwrap();
    received(&mut carol_events, group, "carol is back").await;
    let carols = carol.group_history(group, 100).await.unwrap();
    assert!(carols.iter().all(|m| m.text != "carol is gone"));

    for node in [alice, bob, carol] {
        node.shutdown().await;
    }
    relay.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_away_through_commits_catches_up_and_an_invitee_joins_after_its_inviter_left() {
    let (relay, relays, _relay_dir) = relay().await;
    let dirs: Vec<_> = (0..4).map(|_| tempfile::tempdir().unwrap()).collect();
    // Alice writes only through relays: her Welcomes wait in the invitees' mailboxes.
    let alice = builder(dirs[0].path(), &relays)
        .with_direct_delivery(false)
        .spawn()
        .await
        .unwrap();
    let mut bob = builder(dirs[1].path(), &relays).spawn().await.unwrap();
    let carol = builder(dirs[2].path(), &relays).spawn().await.unwrap();
    let mut dave = builder(dirs[3].path(), &relays).spawn().await.unwrap();
    for other in [&bob, &carol, &dave] {
        befriend(&alice, other).await;
    }
    let (carol_id, dave_id) = (carol.user_id(), dave.user_id());
    let group = in_a_group(&alice, &bob, "away").await;

    // Bob is away while the group takes in Carol, is renamed, and talks.
    bob.shutdown().await;
    alice.add_members(group, vec![carol_id]).await.unwrap();
    until("carol to join", || async {
        carol.group_info(group).await.is_ok_and(|g| g.active)
    })
    .await;
    alice
        .send_to_group(group, "while bob was away")
        .await
        .unwrap();
    let hour = Duration::from_secs(3600);
    alice.set_disappearing(group, Some(hour)).await.unwrap();
    // A change waits while the one before is in the log.
    rename_seen(&alice, &carol, group, "back again").await;
    carol.send_to_group(group, "carol here").await.unwrap();

    // Bob comes back and reads it all from the log, in order, through both commits.
    bob = builder(dirs[1].path(), &relays).spawn().await.unwrap();
    until("bob to catch up", || async {
        texts(&bob, group).await == ["while bob was away", "carol here"]
    })
    .await;
    let info = bob.group_info(group).await.unwrap();
    assert_eq!(info.name, "back again");
    assert_eq!(info.members.len(), 3);
    // What changed while he was away stands where it happened, among the messages, though
    // he read it all at once, later.
    let seen: Vec<String> = bob
        .group_history(group, 100)
        .await
        .unwrap()
        .into_iter()
        .map(|m| match m.notice.as_deref() {
            Some(GroupEvent::Joined { .. }) => "joined".to_owned(),
            Some(GroupEvent::Added { members, .. }) if *members == [carol_id] => {
                "carol added".to_owned()
            }
            Some(GroupEvent::Renamed { name, .. }) => format!("renamed {name}"),
            Some(GroupEvent::TimerChanged { secs, .. }) => format!("timer {secs}"),
            Some(other) => format!("{other:?}"),
            None => m.text,
        })
        .collect();
    assert_eq!(
        seen,
        [
            "joined",
            "carol added",
            "while bob was away",
            "timer 3600",
            "renamed back again",
            "carol here"
        ]
    );

    // Alice invites Dave and goes away for good: Dave joins from the Welcome waiting at his
    // relay, and reads what Bob says next.
    until("alice to invite dave", || async {
        alice.add_members(group, vec![dave_id]).await.is_ok()
    })
    .await;
    until("dave's add to win its epoch", || async {
        let info = alice.group_info(group).await.unwrap();
        info.members.iter().any(|m| m.user == dave_id)
    })
    .await;
    // Dave goes offline at once (the Welcome most likely still on its way), Alice once the
    // Welcome has left her device (her outbox is empty: it is at Dave's relay), for good.
    dave.shutdown().await;
    until("alice's outbox to empty", || async {
        alice.status().await.unwrap().outbox == 0
    })
    .await;
    alice.shutdown().await;
    dave = builder(dirs[3].path(), &relays).spawn().await.unwrap();
    until("dave to join", || async {
        dave.group_info(group).await.is_ok_and(|g| g.active)
    })
    .await;
    until("bob to see dave", || async {
        let info = bob.group_info(group).await.unwrap();
        info.members.iter().any(|m| m.user == dave_id)
    })
    .await;
    bob.send_to_group(group, "hello dave").await.unwrap();
    until("dave to read bob", || async {
        texts(&dave, group).await.contains(&"hello dave".to_owned())
    })
    .await;
    assert!(
        !texts(&dave, group)
            .await
            .contains(&"while bob was away".to_owned()),
        "a new member reads nothing from before it joined"
    );

    for node in [bob, carol, dave] {
        node.shutdown().await;
    }
    relay.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sequencer_killed_mid_conversation_loses_nothing() {
    // Three relay processes: the group's three sequencers, and both nodes' mailbox relays.
    let relay_dirs: Vec<_> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    let mut processes: Vec<_> = relay_dirs
        .iter()
        .map(|d| support::RelayProcess::start(d.path()))
        .collect();
    let mut relays = Vec::new();
    for process in &processes {
        relays.push(process.address().await.1.to_string());
    }
    let dirs: Vec<_> = (0..2).map(|_| tempfile::tempdir().unwrap()).collect();
    let alice = builder(dirs[0].path(), &relays).spawn().await.unwrap();
    let bob = builder(dirs[1].path(), &relays).spawn().await.unwrap();
    befriend(&alice, &bob).await;
    let group = alice.create_group("resilient").await.unwrap();
    assert_eq!(alice.group_info(group).await.unwrap().sequencers.len(), 3);
    alice.add_members(group, vec![bob.user_id()]).await.unwrap();
    until("bob to join", || async {
        bob.group_info(group).await.is_ok_and(|g| g.active)
    })
    .await;
    alice.send_to_group(group, "before").await.unwrap();
    until("bob to read it", || async {
        texts(&bob, group).await == ["before"]
    })
    .await;

    // The first sequencer, the one both read and whose order decides, dies.
    processes.remove(0).kill();
    for i in 0..3 {
        alice
            .send_to_group(group, format!("after {i}"))
            .await
            .unwrap();
    }
    bob.send_to_group(group, "bob after").await.unwrap();
    until("bob to read everything", || async {
        texts(&bob, group).await == ["before", "after 0", "after 1", "after 2", "bob after"]
    })
    .await;
    until("alice to read bob", || async {
        texts(&alice, group).await.contains(&"bob after".to_owned())
    })
    .await;
    // And the group still changes: a commit goes to the next sequencer.
    rename_seen(&alice, &bob, group, "still here").await;

    alice.shutdown().await;
    bob.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn members_renew_their_keys_a_day_after_joining_then_weekly_and_talk_on() {
    let (relay, relays, _relay_dir) = relay().await;
    let (clock, ticking) = running_clock();
    let dirs: Vec<_> = (0..2).map(|_| tempfile::tempdir().unwrap()).collect();
    let spawn = |dir: &std::path::Path| builder(dir, &relays).with_clock(clock.clone()).spawn();
    let alice = spawn(dirs[0].path()).await.unwrap();
    let bob = spawn(dirs[1].path()).await.unwrap();
    befriend(&alice, &bob).await;
    let mut bob_events = bob.events(tern_node::From::Oldest);
    let group = alice.create_group("keys").await.unwrap();
    alice.add_members(group, vec![bob.user_id()]).await.unwrap();
    group_event(&mut bob_events, group, |e| {
        matches!(e, GroupEvent::Joined { .. }).then_some(())
    })
    .await;
    let epoch = |node: &Node| {
        let node = node.clone();
        async move { node.group_info(group).await.unwrap().epoch }
    };
    let joined = epoch(&bob).await;
    assert_eq!(epoch(&alice).await, joined);

    // A day on, each member commits fresh keys of its own: two commits, two epochs, and no
    // change anyone is told of.
    let mut alice_events = alice.events(tern_node::From::Now);
    clock.advance(Duration::from_secs(24 * 3600 + 60));
    for node in [&alice, &bob] {
        until("both members to renew their keys", || async {
            epoch(node).await == joined + 2
        })
        .await;
    }
    bob.send_to_group(group, "after the renewals")
        .await
        .unwrap();
    received(&mut alice_events, group, "after the renewals").await;
    let info = alice.group_info(group).await.unwrap();
    assert_eq!(info.members.len(), 2);
    let renewed = info.keys_renewed_ms.expect("alice's renewal is on record");

    // A renewal is remembered across a restart, and the next is a week after it.
    alice.shutdown().await;
    let alice = spawn(dirs[0].path()).await.unwrap();
    let mut alice_events = alice.events(tern_node::From::Now);
    bob.send_to_group(group, "while alice restarted")
        .await
        .unwrap();
    received(&mut alice_events, group, "while alice restarted").await;
    let info = alice.group_info(group).await.unwrap();
    assert_eq!(info.keys_renewed_ms, Some(renewed));
    clock.advance(Duration::from_secs(7 * 24 * 3600 + 60));
    for node in [&alice, &bob] {
        until("both members to renew again a week later", || async {
            epoch(node).await == joined + 4
        })
        .await;
    }
    alice.send_to_group(group, "a week later").await.unwrap();
    until("bob to read it", || async {
        texts(&bob, group)
            .await
            .contains(&"a week later".to_owned())
    })
    .await;
    let info = alice.group_info(group).await.unwrap();
    assert!(info.keys_renewed_ms > Some(renewed + 6 * 24 * 3600 * 1000));
    ticking.abort();
    for node in [alice, bob] {
        node.shutdown().await;
    }
    relay.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_last_admin_leaving_hands_the_group_to_the_longest_standing_member() {
    let (relay, relays, _relay_dir) = relay().await;
    let dirs: Vec<_> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    let alice = builder(dirs[0].path(), &relays);
    let (alice, bob, carol, group) = three_in_a_group(&dirs, &relays, alice, "handover").await;

    // Alice, the only admin, leaves. No admin is left to commit her leave: the member it
    // will promote, Bob, does, and the group goes on with him as its admin.
    alice.leave_group(group).await.unwrap();
    until("alice to be out", || async {
        !alice.group_info(group).await.unwrap().active
    })
    .await;
    for node in [&bob, &carol] {
        until("bob to be the admin of two", || async {
            let info = node.group_info(group).await.unwrap();
            let bob_admin = info
                .members
                .iter()
                .any(|m| m.user == bob.user_id() && m.admin);
            info.members.len() == 2 && bob_admin
        })
        .await;
    }
    carol.send_to_group(group, "just us").await.unwrap();

    // Bob's first change as admin is still waiting for the log when he writes: the message
    // is taken at once, and reaches Carol after the rename, in the new epoch.
    bob.rename_group(group, "two of us").await.unwrap();
    bob.send_to_group(group, "renamed it").await.unwrap();
    until("carol to read bob under the new name", || async {
        texts(&carol, group)
            .await
            .contains(&"renamed it".to_owned())
            && carol.group_info(group).await.unwrap().name == "two of us"
    })
    .await;
    until("bob to read carol", || async {
        texts(&bob, group).await.contains(&"just us".to_owned())
    })
    .await;
    for node in [alice, bob, carol] {
        node.shutdown().await;
    }
    relay.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_of_messages_larger_than_any_queue_all_arrive_once() {
    let (relay, relays, _relay_dir) = relay().await;
    let dirs: Vec<_> = (0..2).map(|_| tempfile::tempdir().unwrap()).collect();
    let alice = builder(dirs[0].path(), &relays).spawn().await.unwrap();
    let bob = builder(dirs[1].path(), &relays).spawn().await.unwrap();
    befriend(&alice, &bob).await;
    let group = in_a_group(&alice, &bob, "burst").await;
    // Far more sends at once than the core's hand-over to the log task holds (256).
    const BURST: usize = 1000;
    let sends: Vec<_> = (0..BURST)
        .map(|i| {
            let alice = alice.clone();
            tokio::spawn(async move { alice.send_to_group(group, &format!("m{i}")).await })
        })
        .collect();
    for send in sends {
        send.await.unwrap().unwrap();
    }
    let all = || async {
        let history = bob.group_history(group, 2 * BURST).await.unwrap();
        let messages = history.into_iter().filter(|m| m.notice.is_none());
        messages.map(|m| m.text).collect::<Vec<_>>()
    };
    until("bob to read every message", || async {
        all().await.len() >= BURST
    })
    .await;
    let mut seen = all().await;
    assert_eq!(seen.len(), BURST);
    seen.sort();
    seen.dedup();
    assert_eq!(seen.len(), BURST, "each message once");
    // All of them unread, found page by page when marked read.
    assert_eq!(bob.group_info(group).await.unwrap().unread, BURST as u32);
    assert_eq!(bob.mark_group_read(group).await.unwrap(), BURST);
    assert_eq!(bob.group_info(group).await.unwrap().unread, 0);
    assert_eq!(alice.group_info(group).await.unwrap().unread, 0);
    for node in [alice, bob] {
        node.shutdown().await;
    }
    relay.shutdown().await;
}

/// An invitation is sent over the 1:1 path and advances the session with the invitee like
/// any message. Its state is written with the invitation: after a restart, the inviter's
/// next message to the invitee is encrypted under keys the invitee has not used yet, and
/// arrives (it was refused as undecryptable before).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_after_a_restart_reaches_a_member_invited_before_it() {
    let (relay, relays, _relay_dir) = relay().await;
    let dirs: Vec<_> = (0..2).map(|_| tempfile::tempdir().unwrap()).collect();
    let alice = builder(dirs[0].path(), &relays).spawn().await.unwrap();
    let bob = builder(dirs[1].path(), &relays).spawn().await.unwrap();
    befriend(&alice, &bob).await;
    in_a_group(&alice, &bob, "invited").await;

    alice.shutdown().await;
    let alice = builder(dirs[0].path(), &relays).spawn().await.unwrap();
    let mut bob_events = bob.events(tern_node::From::Now);
    let sent = alice
        .send(bob.user_id(), "after the restart")
        .await
        .unwrap();
    wait_for(&mut bob_events, |e| match e {
        Event::MessageReceived(m) if m.id == sent => Some(()),
        _ => None,
    })
    .await;
    for node in [alice, bob] {
        node.shutdown().await;
    }
    relay.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changes_to_a_group_stay_in_its_history_where_they_happened_across_restarts() {
    let (relay, relays, _relay_dir) = relay().await;
    let dirs: Vec<_> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    let alice = builder(dirs[0].path(), &relays);
    let (alice, bob, carol, group) = three_in_a_group(&dirs, &relays, alice, "notices").await;
    bob.send_to_group(group, "before the rename").await.unwrap();
    for node in [&alice, &carol] {
        until("bob's message to be read", || async {
            texts(node, group)
                .await
                .contains(&"before the rename".to_owned())
        })
        .await;
    }
    rename_seen(&alice, &bob, group, "noticed").await;
    until("bob to be made an admin", || async {
        alice.set_admin(group, bob.user_id(), true).await.is_ok()
    })
    .await;
    until("carol to be removed", || async {
        alice
            .remove_members(group, vec![carol.user_id()])
            .await
            .is_ok()
    })
    .await;
    until("bob to see carol go", || async {
        bob.group_info(group).await.unwrap().members.len() == 2
    })
    .await;
    until("carol to be out", || async {
        !carol.group_info(group).await.unwrap().active
    })
    .await;
    bob.send_to_group(group, "after carol").await.unwrap();
    until("alice to read bob", || async {
        texts(&alice, group)
            .await
            .contains(&"after carol".to_owned())
    })
    .await;

    // After a restart, each member's history holds the changes it saw, in place among the
    // messages, made by whoever made them; a notice has no text.
    bob.shutdown().await;
    let bob = builder(dirs[1].path(), &relays).spawn().await.unwrap();
    let (a, b, c) = (alice.user_id(), bob.user_id(), carol.user_id());
    let shown = |history: Vec<tern_node::GroupMessage>| -> Vec<String> {
        history
            .into_iter()
            .map(|m| match m.notice.as_deref() {
                None => format!("{} said {}", m.sender.short(), m.text),
                Some(notice) => {
                    assert!(m.text.is_empty(), "a notice with text: {m:?}");
                    let by = m.sender.short();
                    match notice {
                        GroupEvent::Joined { by: None, .. } => format!("{by} made it"),
                        GroupEvent::Joined { by: Some(_), .. } => format!("{by} added me"),
                        GroupEvent::Added { members, .. } => {
                            format!("{by} added {}", members[0].short())
                        }
                        GroupEvent::Removed { members, .. } => {
                            format!("{by} removed {}", members[0].short())
                        }
                        GroupEvent::Renamed { name, .. } => format!("{by} renamed it {name}"),
                        GroupEvent::AdminChanged { member, admin, .. } => {
                            format!("{by} made {} admin {admin}", member.short())
                        }
                        GroupEvent::Ended => "ended".to_owned(),
                        other => format!("unexpected {other:?}"),
                    }
                }
            })
            .collect()
    };
    let (a, b, c) = (a.short(), b.short(), c.short());
    let after_rename = [
        format!("{a} renamed it noticed"),
        format!("{a} made {b} admin true"),
    ];
    let mut alices = vec![
        format!("{a} made it"),
        format!("{a} added {b}"),
        format!("{a} added {c}"),
        format!("{b} said before the rename"),
    ];
    alices.extend(after_rename.clone());
    alices.extend([format!("{a} removed {c}"), format!("{b} said after carol")]);
    assert_eq!(
        shown(alice.group_history(group, 100).await.unwrap()),
        alices
    );
    // Bob joined before Carol was added (`three_in_a_group`).
    let mut bobs = vec![
        format!("{a} added me"),
        format!("{a} added {c}"),
        format!("{b} said before the rename"),
    ];
    bobs.extend(after_rename.clone());
    bobs.extend([format!("{a} removed {c}"), format!("{b} said after carol")]);
    assert_eq!(shown(bob.group_history(group, 100).await.unwrap()), bobs);
    let mut carols = vec![
        format!("{a} added me"),
        format!("{b} said before the rename"),
    ];
    carols.extend(after_rename);
    carols.extend([format!("{a} removed {c}"), "ended".to_owned()]);
    assert_eq!(
        shown(carol.group_history(group, 100).await.unwrap()),
        carols
    );
    // Notices are never unread, and nothing can be done to them but to read them.
    assert_eq!(bob.group_info(group).await.unwrap().unread, 0);
    let notice = alice.group_history(group, 100).await.unwrap()[0].id;
    let reacted = alice.react(group, notice, "👍").await;
    assert!(reacted.is_err(), "{reacted:?}");
    for node in [alice, bob, carol] {
        node.shutdown().await;
    }
    relay.shutdown().await;
}
