//! Group chats through real relays: a group is created, members are added over the 1:1 path
//! (key packages asked for and given, the Welcome sent once the commit won), messages go
//! through the group's log, a removed member reads nothing sent after its removal, and a
//! member that restarts goes on where it was.

mod support;

use std::time::Duration;

use futures::StreamExt;

use support::{node_builder as builder, running_clock, until, until_within, wait_for};
use tern_node::{Event, EventStream, GroupDelivery, GroupEvent, GroupId, Node, UserId};

const TIMEOUT: Duration = Duration::from_secs(90);

/// Waits for `event` of `group` on `events`.
async fn group_event<T>(
    events: &mut EventStream,
    group: GroupId,
    mut pick: impl FnMut(&GroupEvent) -> Option<T>,
) -> T {
    tokio::time::timeout(
        TIMEOUT,
        wait_for(events, |e| match e {
            Event::Group { group: g, event } if *g == group => pick(event),
            _ => None,
        }),
    )
    .await
    .expect("no such group event in time")
}

async fn received(events: &mut EventStream, group: GroupId, text: &str) -> UserId {
    group_event(events, group, |e| match e {
        GroupEvent::Message(m)
            if m.text == text && m.direction == tern_node::Direction::Incoming =>
        {
            Some(m.sender)
        }
        _ => None,
    })
    .await
}

/// A relay in this process on loopback, its address (as a node's relay list), and its
/// directory (removed on drop).
async fn relay() -> (tern_relay::Relay, Vec<String>, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let relay = tern_relay::Relay::spawn(
        tern_relay::Config::new(dir.path()).with_listen_addr("/ip4/127.0.0.1/tcp/0"),
    )
    .await
    .unwrap();
    let relays = vec![relay.addresses().await[0].clone()];
    (relay, relays, dir)
}

async fn befriend(a: &Node, b: &Node) {
    let name = |n: &Node| n.user_id().short();
    a.add_contact(name(b), b.user_id()).await.unwrap();
    b.add_contact(name(a), a.user_id()).await.unwrap();
}

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
    let texts: Vec<String> = bob
        .group_history(group, 100)
        .await
        .unwrap()
        .into_iter()
        .map(|m| m.text)
        .collect();
    assert_eq!(
        texts,
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

/// `admin` renames `group` to `name` once no change of its own waits for the log, and
/// `member` comes to see the new name.
async fn rename_seen(admin: &Node, member: &Node, group: GroupId, name: &str) {
    until("the rename to be taken", || async {
        admin.rename_group(group, name).await.is_ok()
    })
    .await;
    until("the member to see the new name", || async {
        member.group_info(group).await.unwrap().name == name
    })
    .await;
}

/// The group entries and bodies `node` refused, by reason (those counted at all).
async fn group_refusals(node: &Node) -> Vec<(String, u64)> {
    let status = node.status().await.unwrap();
    status
        .rejections
        .into_iter()
        .filter(|(reason, count)| reason.starts_with("group_") && *count > 0)
        .collect()
}

async fn texts(node: &Node, group: GroupId) -> Vec<String> {
    node.group_history(group, 100)
        .await
        .unwrap()
        .into_iter()
        .map(|m| m.text)
        .collect()
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
    let (bob_id, carol_id, dave_id) = (bob.user_id(), carol.user_id(), dave.user_id());
    let group = alice.create_group("away").await.unwrap();
    alice.add_members(group, vec![bob_id]).await.unwrap();
    until("bob to join", || async {
        bob.group_info(group).await.is_ok_and(|g| g.active)
    })
    .await;

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

/// A free port below the ephemeral range (32768 and up on Linux), so that no outgoing
/// connection of a test running beside this one takes it while its relay is down.
fn fixed_port() -> u16 {
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos()
        ^ std::process::id();
    (0..12_000)
        .map(|i| 20_000 + ((seed as usize + i * 7919) % 12_000) as u16)
        .find(|port| std::net::TcpListener::bind(("127.0.0.1", *port)).is_ok())
        .expect("no free port below the ephemeral range")
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

/// Alice (from `alice`), Bob and Carol, each a contact of Alice's, in a group she made and
/// added Bob to before Carol (Bob is then the longest-standing after her); returned once
/// each of them sees all three.
async fn three_in_a_group(
    dirs: &[tempfile::TempDir],
    relays: &[String],
    alice: tern_node::Builder,
    name: &str,
) -> (Node, Node, Node, GroupId) {
    let [bob, carol] = [1, 2].map(|i| builder(dirs[i].path(), relays));
    three_made_as([alice, bob, carol], name).await
}

/// [`three_in_a_group`] with Alice, Bob and Carol made from the builders given.
async fn three_made_as(
    [alice, bob, carol]: [tern_node::Builder; 3],
    name: &str,
) -> (Node, Node, Node, GroupId) {
    let alice = alice.spawn().await.unwrap();
    let bob = bob.spawn().await.unwrap();
    let carol = carol.spawn().await.unwrap();
    befriend(&alice, &bob).await;
    befriend(&alice, &carol).await;
    let group = alice.create_group(name).await.unwrap();
    alice.add_members(group, vec![bob.user_id()]).await.unwrap();
    until("bob to join", || async {
        bob.group_info(group).await.is_ok_and(|g| g.active)
    })
    .await;
    until("alice to add carol", || async {
        alice
            .add_members(group, vec![carol.user_id()])
            .await
            .is_ok()
    })
    .await;
    for node in [&alice, &bob, &carol] {
        until("everyone to see three members", || async {
            node.group_info(group)
                .await
                .is_ok_and(|g| g.members.len() == 3)
        })
        .await;
    }
    (alice, bob, carol, group)
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
    let group = alice.create_group("burst").await.unwrap();
    alice.add_members(group, vec![bob.user_id()]).await.unwrap();
    until("bob to join", || async {
        bob.group_info(group).await.is_ok_and(|g| g.active)
    })
    .await;
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
        history.into_iter().map(|m| m.text).collect::<Vec<_>>()
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
    let group = alice.create_group("invited").await.unwrap();
    alice.add_members(group, vec![bob.user_id()]).await.unwrap();
    until("bob to join", || async {
        bob.group_info(group).await.is_ok_and(|g| g.active)
    })
    .await;

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

/// A group of Alice and Bob whose only sequencer is a relay process on a port of its own, so
/// that it comes back where the group knows it after a kill.
struct Outage {
    relay: support::RelayProcess,
    relay_dir: tempfile::TempDir,
    listen: String,
    relays: Vec<String>,
    dirs: Vec<tempfile::TempDir>,
    alice: Node,
    bob: Node,
    group: GroupId,
}

impl Outage {
    async fn start(name: &str) -> Self {
        let relay_dir = tempfile::tempdir().unwrap();
        let listen = format!("/ip4/127.0.0.1/tcp/{}", fixed_port());
        let relay = support::RelayProcess::start_on(relay_dir.path(), &listen);
        let relays = vec![relay.address().await.1.to_string()];
        let dirs: Vec<_> = (0..2).map(|_| tempfile::tempdir().unwrap()).collect();
        let alice = builder(dirs[0].path(), &relays).spawn().await.unwrap();
        let bob = builder(dirs[1].path(), &relays).spawn().await.unwrap();
        befriend(&alice, &bob).await;
        let group = alice.create_group(name).await.unwrap();
        alice.add_members(group, vec![bob.user_id()]).await.unwrap();
        until("bob to join", || async {
            bob.group_info(group).await.is_ok_and(|g| g.active)
        })
        .await;
        Self {
            relay,
            relay_dir,
            listen,
            relays,
            dirs,
            alice,
            bob,
            group,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_leave_made_in_an_epoch_that_ended_meanwhile_is_made_again() {
    let Outage {
        relay,
        relay_dir,
        listen,
        relays,
        dirs,
        alice,
        bob,
        group,
    } = Outage::start("late leave").await;
    // Bob is away while Alice renames the group: his node still holds the epoch before.
    bob.shutdown().await;
    alice.rename_group(group, "renamed").await.unwrap();
    until("the rename to be decided", || async {
        alice.group_info(group).await.unwrap().name == "renamed"
    })
    .await;
    // The relay is down when Bob comes back and leaves, before his node could read the
    // rename: his leave is made in an epoch that has ended.
    relay.kill();
    let bob = builder(dirs[1].path(), &relays).spawn().await.unwrap();
    bob.leave_group(group).await.unwrap();
    let _relay = support::RelayProcess::start_on(relay_dir.path(), &listen);
    // Once the relay is back, his node reads the rename and makes the leave again in the
    // new epoch; Alice commits it.
    until("bob to be out", || async {
        !bob.group_info(group).await.unwrap().active
    })
    .await;
    until("alice to see him go", || async {
        alice.group_info(group).await.unwrap().members.len() == 1
    })
    .await;
    alice.shutdown().await;
    bob.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn more_messages_than_a_queue_holds_wait_out_a_restart_and_a_relay_outage() {
    let Outage {
        relay,
        relay_dir,
        listen,
        relays,
        dirs,
        mut alice,
        bob,
        group,
    } = Outage::start("outage").await;

    // The group's only sequencer is down: Alice's messages are taken and wait in her outbox,
    // through a restart, more of them than any queue between her core and her log task holds.
    relay.kill();
    const WAITING: usize = 400;
    for i in 0..WAITING {
        alice.send_to_group(group, format!("m{i}")).await.unwrap();
    }
    alice.shutdown().await;
    alice = builder(dirs[0].path(), &relays).spawn().await.unwrap();
    let _relay = support::RelayProcess::start_on(relay_dir.path(), &listen);
    let all = || async {
        let history = bob.group_history(group, 2 * WAITING).await.unwrap();
        history.into_iter().map(|m| m.text).collect::<Vec<_>>()
    };
    // Alice's appends and Bob's reads back off while the relay is down (up to 30 s each): a
    // generous wait. Bob must decrypt them all, however the retries land (they once landed
    // far enough out of order for MLS to refuse some).
    until_within(
        Duration::from_secs(180),
        "bob to read every message",
        || async { all().await.len() >= WAITING },
    )
    .await;
    let mut seen = all().await;
    assert_eq!(seen.len(), WAITING);
    seen.sort();
    seen.dedup();
    assert_eq!(seen.len(), WAITING, "each message once");
    let refused = group_refusals(&bob).await;
    assert!(refused.is_empty(), "{refused:?}");
    for node in [alice, bob] {
        node.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invitation_too_large_for_one_message_arrives_in_parts() {
    let (relay, relays, _relay_dir) = relay().await;
    let dirs: Vec<_> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    // Alice splits invitations at 512 bytes, as she would a Welcome for a thousand members
    // at 128 KiB: Bob and Carol join from parts.
    let alice = builder(dirs[0].path(), &relays).with_invite_part_len(512);
    let (alice, bob, carol, group) = three_in_a_group(&dirs, &relays, alice, "in parts").await;
    carol.send_to_group(group, "all here").await.unwrap();
    for node in [&alice, &bob] {
        until("everyone to read carol", || async {
            texts(node, group).await.contains(&"all here".to_owned())
        })
        .await;
    }
    for node in [&bob, &carol] {
        let refused = group_refusals(node).await;
        assert!(refused.is_empty(), "{refused:?}");
    }
    for node in [alice, bob, carol] {
        node.shutdown().await;
    }
    relay.shutdown().await;
}

/// Waits until `node` has handed every 1:1 message to a relay or its recipient.
async fn outbox_empty(node: &Node, what: &str) {
    until(what, || async { node.status().await.unwrap().outbox == 0 }).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn adds_to_two_groups_complete_though_each_side_is_away_when_the_other_writes() {
    // Alice adds Bob to two groups while he is away; he answers both key package requests
    // while she is away; both answers reach her from her mailbox together, and each add is
    // made from one of them while Bob is away again: none is lost, and none is asked again.
    let (relay, relays, _relay_dir) = relay().await;
    let dirs: Vec<_> = (0..2).map(|_| tempfile::tempdir().unwrap()).collect();
    // Both write only through relays, so that each message waits for the other there.
    let spawn = |dir: &std::path::Path| builder(dir, &relays).with_direct_delivery(false).spawn();
    let mut alice = spawn(dirs[0].path()).await.unwrap();
    let mut bob = spawn(dirs[1].path()).await.unwrap();
    befriend(&alice, &bob).await;
    let bob_user = bob.user_id();
    for node in [&alice, &bob] {
        until("both records to be in the DHT", || async {
            node.status().await.unwrap().record_published.is_some()
        })
        .await;
    }
    let groups = [
        alice.create_group("first").await.unwrap(),
        alice.create_group("second").await.unwrap(),
    ];

    // Bob is away: both requests wait in his mailbox.
    bob.shutdown().await;
    for group in groups {
        alice.add_members(group, vec![bob.user_id()]).await.unwrap();
    }
    outbox_empty(&alice, "alice's requests to reach bob's mailbox").await;
    // Alice is away when bob answers both: the answers wait in her mailbox.
    alice.shutdown().await;
    let deposited = relay.metrics().await.deposits;
    bob = spawn(dirs[1].path()).await.unwrap();
    until("bob's two answers to reach alice's mailbox", || async {
        relay.metrics().await.deposits >= deposited + 2 && bob.status().await.unwrap().outbox == 0
    })
    .await;
    bob.shutdown().await;
    alice = spawn(dirs[0].path()).await.unwrap();
    for group in groups {
        until(
            "alice to add bob to both groups from his two answers",
            || async {
                let info = alice.group_info(group).await.unwrap();
                info.members.iter().any(|m| m.user == bob_user)
            },
        )
        .await;
    }
    bob = spawn(dirs[1].path()).await.unwrap();
    for group in groups {
        until("bob to be in both groups", || async {
            bob.group_info(group).await.is_ok_and(|g| g.active)
        })
        .await;
    }
    for node in [alice, bob] {
        node.shutdown().await;
    }
    relay.shutdown().await;
}

/// The counts of message `id` once a receipt event shows them meeting `wanted`.
async fn counts_when(
    events: &mut EventStream,
    group: GroupId,
    id: tern_node::MessageId,
    wanted: impl Fn(&GroupDelivery) -> bool,
) -> GroupDelivery {
    group_event(events, group, |e| match e {
        GroupEvent::Receipts { id: m, delivery } if *m == id && wanted(delivery) => Some(*delivery),
        _ => None,
    })
    .await
}

/// Alice's counts for her message `id` in `group`, from her history.
async fn delivery(alice: &Node, group: GroupId, id: tern_node::MessageId) -> GroupDelivery {
    let history = alice.group_history(group, 100).await.unwrap();
    let message = history.iter().find(|m| m.id == id).expect("the message");
    message.delivery.expect("counts for our own message")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn receipts_show_a_message_delivered_to_and_read_by_n_of_m_members() {
    let (relay, relays, _relay_dir) = relay().await;
    let dirs: Vec<_> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    // Carol keeps what she reads to herself.
    let builders = [
        builder(dirs[0].path(), &relays),
        builder(dirs[1].path(), &relays),
        builder(dirs[2].path(), &relays).with_group_read_receipts(false),
    ];
    let (alice, bob, carol, group) = three_made_as(builders, "receipts").await;
    let mut events = alice.events(tern_node::From::Now);

    let id = alice
        .send_to_group(group, "did you get this?")
        .await
        .unwrap();
    let nobody = GroupDelivery {
        delivered: 0,
        read: 0,
        members: 2,
    };
    let at_first = delivery(&alice, group, id).await;
    assert!(
        at_first.delivered <= 2 && at_first.read == 0 && at_first.members == 2,
        "{at_first:?}"
    );
    // Bob stops the moment he has it, before his receipt is due, and owes it after his
    // restart: it is kept with the message.
    let mut bob_events = bob.events(tern_node::From::Oldest);
    received(&mut bob_events, group, "did you get this?").await;
    bob.shutdown().await;
    let bob = builder(dirs[1].path(), &relays).spawn().await.unwrap();
    // Each receipt moves the count, live; history agrees.
    let delivered = counts_when(&mut events, group, id, |d| d.delivered == 2).await;
    assert_eq!(
        delivered,
        GroupDelivery {
            delivered: 2,
            ..nobody
        }
    );
    assert_eq!(delivery(&alice, group, id).await, delivered);

    // Carol reads first, then Bob: only Bob's read comes back.
    until("carol to have it", || async {
        texts(&carol, group)
            .await
            .contains(&"did you get this?".to_owned())
    })
    .await;
    assert_eq!(carol.mark_group_read(group).await.unwrap(), 1);
    until("bob to have it after his restart", || async {
        texts(&bob, group)
            .await
            .contains(&"did you get this?".to_owned())
    })
    .await;
    assert_eq!(bob.mark_group_read(group).await.unwrap(), 1);
    let read = counts_when(&mut events, group, id, |d| d.read == 1).await;
    assert_eq!(
        read,
        GroupDelivery {
            delivered: 2,
            read: 1,
            members: 2
        }
    );
    // Anything Carol had sent before her next message would be in the log before it.
    carol.send_to_group(group, "seen").await.unwrap();
    received(&mut events, group, "seen").await;
    assert_eq!(delivery(&alice, group, id).await, read);
    // Receipts are bodies members read and count, never messages in the chat.
    for node in [&alice, &bob, &carol] {
        assert!(
            group_refusals(node).await.is_empty(),
            "{:?}",
            group_refusals(node).await
        );
    }
    assert_eq!(
        texts(&alice, group).await,
        ["did you get this?", "seen"],
        "receipts do not show as messages"
    );
    for node in [alice, bob, carol] {
        node.shutdown().await;
    }
    relay.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_leave_no_admin_is_online_to_commit_is_committed_by_a_member() {
    let (relay, relays, _relay_dir) = relay().await;
    let (clock, ticking) = running_clock();
    let dirs: Vec<_> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    let make = |i: usize| builder(dirs[i].path(), &relays).with_clock(clock.clone());
    let (alice, bob, carol, group) = three_made_as([make(0), make(1), make(2)], "fallback").await;

    // Alice, the only admin, is away when Carol leaves: her leave waits for a commit, and
    // until one is made MLS lets nobody send. Carol, leaving, may not; what Bob sends is
    // kept, shown as queued, and goes out once the leave is committed.
    alice.shutdown().await;
    carol.leave_group(group).await.unwrap();
    assert!(matches!(
        carol.send_to_group(group, "one more thing").await,
        Err(tern_node::GroupError::Busy)
    ));
    let mut said = send_until_held(&bob, group).await;
    let held = said.last().unwrap().clone();
    let state = |node: &Node, text: String| {
        let node = node.clone();
        async move {
            let history = node.group_history(group, 1000).await.unwrap();
            let message = history.into_iter().find(|m| m.text == text).unwrap();
            message.state
        }
    };
    assert_eq!(
        state(&bob, held.clone()).await,
        tern_node::DeliveryState::Queued
    );
    // An edit and a reaction wait the same way: kept, and sent once the leave is committed.
    let history = bob.group_history(group, 1000).await.unwrap();
    let first = history.iter().find(|m| m.text == said[0]).unwrap().id;
    bob.edit(group, first, "edited while a leave waited")
        .await
        .unwrap();
    bob.react(group, first, "👍").await.unwrap();
    said[0] = "edited while a leave waited".to_owned();

    // Half a minute on, Bob, the only one who stays and is online, commits it himself, and
    // then sends what he held.
    clock.advance(Duration::from_secs(60));
    until("bob to commit carol's leave", || async {
        bob.group_info(group).await.unwrap().members.len() == 2
    })
    .await;
    // The committer's own chat says she left, as every other member's does.
    let carol_id = carol.user_id();
    let left = |e: &GroupEvent| match e {
        GroupEvent::Removed { by, members } if members.contains(&carol_id) => Some(*by),
        _ => None,
    };
    let mut bob_events = bob.events(tern_node::From::Oldest);
    assert_eq!(
        group_event(&mut bob_events, group, left).await,
        bob.user_id()
    );
    until("carol to be out", || async {
        !carol.group_info(group).await.unwrap().active
    })
    .await;
    until("bob's held message to be stored", || async {
        bob.group_info(group).await.unwrap().held == 0
            && state(&bob, held.clone()).await != tern_node::DeliveryState::Queued
    })
    .await;
    bob.send_to_group(group, "carol has left").await.unwrap();
    said.push("carol has left".to_owned());

    // Alice comes back to a group of two and reads everything Bob said.
    let alice = make(0).spawn().await.unwrap();
    until("alice to catch up", || async {
        let info = alice.group_info(group).await.unwrap();
        info.members.len() == 2
            && texts(&alice, group)
                .await
                .contains(&"carol has left".to_owned())
    })
    .await;
    let info = alice.group_info(group).await.unwrap();
    assert!(info.admin, "alice is still the admin");
    let mut alice_events = alice.events(tern_node::From::Oldest);
    assert_eq!(
        group_event(&mut alice_events, group, left).await,
        bob.user_id()
    );
    until("alice to read everything bob said", || async {
        let seen = texts(&alice, group).await;
        said.iter().all(|t| seen.contains(t))
    })
    .await;
    until("alice to see bob's reaction", || async {
        let history = alice.group_history(group, 1000).await.unwrap();
        history
            .iter()
            .any(|m| m.id == first && m.edited_at_ms.is_some() && !m.reactions.is_empty())
    })
    .await;
    let seen = texts(&alice, group).await;
    let order: Vec<_> = seen.iter().filter(|t| said.contains(t)).collect();
    assert_eq!(
        order,
        said.iter().collect::<Vec<_>>(),
        "in the order bob sent them"
    );
    ticking.abort();
    for node in [alice, bob, carol] {
        node.shutdown().await;
    }
    relay.shutdown().await;
}

/// Sends to `group` from `node` until a message is held for a leave; returns what it sent.
async fn send_until_held(node: &Node, group: GroupId) -> Vec<String> {
    let mut said = Vec::new();
    until("a member's leave to reach the sender", || {
        let text = format!("while a leave waits #{}", said.len());
        said.push(text.clone());
        async move {
            node.send_to_group(group, &text).await.unwrap();
            node.group_info(group).await.unwrap().held > 0
        }
    })
    .await;
    said
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_held_for_a_leave_fail_when_their_sender_is_out_first() {
    let (relay, relays, _relay_dir) = relay().await;
    let dirs: Vec<_> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    let make = |i: usize| builder(dirs[i].path(), &relays);
    let (alice, bob, carol, group) = three_made_as([make(0), make(1), make(2)], "gone").await;
    // The admin is away when Carol leaves; Bob's messages are held, and then Bob leaves too.
    alice.shutdown().await;
    carol.leave_group(group).await.unwrap();
    let said = send_until_held(&bob, group).await;
    bob.leave_group(group).await.unwrap();
    // Alice comes back and commits both leaves: Bob is out before his messages could go.
    let alice = make(0).spawn().await.unwrap();
    until("bob to be out", || async {
        !bob.group_info(group).await.unwrap().active
    })
    .await;
    let held = said.last().unwrap();
    let history = bob.group_history(group, 1000).await.unwrap();
    let state = history.iter().find(|m| &m.text == held).unwrap().state;
    assert_eq!(state, tern_node::DeliveryState::Failed);
    assert_eq!(bob.group_info(group).await.unwrap().held, 0);
    assert!(!texts(&alice, group).await.contains(held));
    for node in [alice, bob, carol] {
        node.shutdown().await;
    }
    relay.shutdown().await;
}

/// A file's bytes: a marker repeated, so a disk can be searched for any piece of it.
fn marked_file(len: usize) -> Vec<u8> {
    const MARK: &[u8] = b"group-file-plaintext:";
    let mut bytes = MARK.repeat(len / MARK.len() + 1);
    bytes.truncate(len);
    bytes
}

async fn read_group_file(node: &Node, group: GroupId, id: tern_node::MessageId) -> Vec<u8> {
    use std::io::Read;
    let mut file = node.open_attachment(group, id).await.unwrap();
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes).unwrap();
    bytes
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_sent_to_a_group_is_uploaded_once_and_every_member_reads_it_even_after_the_sender_left()
 {
    let (relay, relays, relay_dir) = relay().await;
    let dirs: Vec<_> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    let alice = builder(dirs[0].path(), &relays);
    let (alice, bob, carol, group) = three_in_a_group(&dirs, &relays, alice, "files").await;
    // Carol is away when the file is sent.
    carol.shutdown().await;
    let mut bob_events = bob.events(tern_node::From::Now);
    let name = "group-file-unique-name.bin";
    let bytes = marked_file(1_500_000);
    let path = dirs[0].path().join(name);
    std::fs::write(&path, &bytes).unwrap();
    let id = alice.send_file(group, &path, "the plans").await.unwrap();
    let mine = alice.group_history(group, 10).await.unwrap();
    let sent = mine.iter().find(|m| m.id == id).unwrap();
    assert_eq!(sent.text, "the plans");
    assert_eq!(sent.attachment.as_ref().unwrap().name, name);

    // Bob, online, fetches it by himself (it is under the auto-download limit): from the
    // sequencer, never from Alice's device, which the descriptor does not name.
    let message = group_event(&mut bob_events, group, |e| match e {
        GroupEvent::Message(m) if m.id == id => Some(m.clone()),
        _ => None,
    })
    .await;
    assert_eq!(message.text, "the plans");
    assert_eq!(
        message.attachment.as_ref().unwrap().size,
        bytes.len() as u64
    );
    group_event(&mut bob_events, group, |e| match e {
        GroupEvent::AttachmentChanged {
            id: i,
            state: tern_node::AttachmentState::Ready,
        } if *i == id => Some(()),
        _ => None,
    })
    .await;
    assert_eq!(read_group_file(&bob, group, id).await, bytes);
    let history = bob.group_history(group, 10).await.unwrap();
    let held = history.iter().find(|m| m.id == id).unwrap();
    assert_eq!(
        held.attachment.as_ref().unwrap().state,
        tern_node::AttachmentState::Ready
    );
    let listed = bob.attachments(Some(group.into())).await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].group, Some(group));
    assert_eq!(listed[0].peer, alice.user_id());

    // With the group's own rule at 0, Bob's node waits to be asked.
    bob.set_group_auto_download(group, Some(0)).await.unwrap();
    assert_eq!(bob.group_info(group).await.unwrap().auto_download, Some(0));
    let second = marked_file(400_000);
    let on_demand = alice
        .send_attachment(
            group,
            tern_node::OutgoingFile::from_bytes("later.bin", second.clone()),
            "",
        )
        .await
        .unwrap();
    let offered = group_event(&mut bob_events, group, |e| match e {
        GroupEvent::Message(m) if m.id == on_demand => m.attachment.clone(),
        _ => None,
    })
    .await;
    assert_eq!(offered.state, tern_node::AttachmentState::Offered);
    assert_eq!(
        bob.fetch_attachment(group, on_demand).await.unwrap(),
        tern_node::AttachmentState::Fetching
    );
    group_event(&mut bob_events, group, |e| match e {
        GroupEvent::AttachmentChanged {
            id: i,
            state: tern_node::AttachmentState::Ready,
        } if *i == on_demand => Some(()),
        _ => None,
    })
    .await;
    assert_eq!(read_group_file(&bob, group, on_demand).await, second);

    // Alice leaves for good before Carol comes back: Carol reads the same copy.
    alice.shutdown().await;
    let carol = builder(dirs[2].path(), &relays).spawn().await.unwrap();
    until("carol to fetch the file", || async {
        carol.group_history(group, 10).await.is_ok_and(|history| {
            history.iter().any(|m| {
                m.id == id
                    && m.attachment
                        .as_ref()
                        .is_some_and(|a| a.state == tern_node::AttachmentState::Ready)
            })
        })
    })
    .await;
    assert_eq!(read_group_file(&carol, group, id).await, bytes);

    // One upload per file for the whole group; two members read the first.
    let blobs = relay.metrics().await.blobs;
    assert_eq!(blobs.uploads, 2, "{blobs:?}");
    assert!(blobs.gets >= 2, "{blobs:?}");
    // The relay's disk holds neither the file nor its name.
    assert!(!support::files_contain(relay_dir.path(), &bytes[..64]));
    assert!(!support::files_contain(relay_dir.path(), name.as_bytes()));
    for node in [bob, carol] {
        node.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_group_file_sent_while_its_sequencer_is_down_goes_up_after_a_restart() {
    let Outage {
        relay,
        relay_dir,
        listen,
        relays,
        dirs,
        alice,
        bob,
        group,
    } = Outage::start("outage files").await;

    // The sequencer is down: the file is taken, its message and upload wait, through a
    // restart of the sender's node.
    relay.kill();
    let bytes = marked_file(1_200_000);
    let id = alice
        .send_attachment(
            group,
            tern_node::OutgoingFile::from_bytes("waited.bin", bytes.clone()),
            "sent in the outage",
        )
        .await
        .unwrap();
    alice.shutdown().await;
    let alice = builder(dirs[0].path(), &relays).spawn().await.unwrap();
    let _relay = support::RelayProcess::start_on(relay_dir.path(), &listen);
    until_within(
        Duration::from_secs(180),
        "bob to fetch the file",
        || async {
            bob.group_history(group, 10).await.is_ok_and(|history| {
                history.iter().any(|m| {
                    m.id == id
                        && m.attachment
                            .as_ref()
                            .is_some_and(|a| a.state == tern_node::AttachmentState::Ready)
                })
            })
        },
    )
    .await;
    assert_eq!(read_group_file(&bob, group, id).await, bytes);
    for node in [alice, bob] {
        node.shutdown().await;
    }
}

/// The message `id` of `group` as `node`'s history shows it.
async fn shown(node: &Node, group: GroupId, id: tern_node::MessageId) -> tern_node::GroupMessage {
    node.group_history(group, 50)
        .await
        .unwrap()
        .into_iter()
        .find(|m| m.id == id)
        .expect("no such message")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn members_reply_react_edit_and_delete_and_every_member_sees_the_same() {
    let (_relay, relays, _relay_dir) = relay().await;
    let dirs: Vec<_> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    let alice = builder(dirs[0].path(), &relays);
    let (alice, bob, carol, group) = three_in_a_group(&dirs, &relays, alice, "changes").await;
    let mut carol_events = carol.events(tern_node::From::Now);

    let dinner = bob.send_to_group(group, "dinner at 7").await.unwrap();
    for (name, node) in [("alice", &alice), ("carol", &carol)] {
        until(&format!("{name} to have bob's message"), || async {
            node.group_history(group, 50)
                .await
                .is_ok_and(|h| h.iter().any(|m| m.id == dinner))
        })
        .await;
    }
    let reply = alice.reply(group, dinner, "count me in").await.unwrap();
    bob.react(group, dinner, "👍").await.unwrap();
    alice.react(group, dinner, "🎉").await.unwrap();
    bob.edit(group, dinner, "dinner at 8").await.unwrap();
    // Only the author edits or deletes.
    assert!(matches!(
        carol.edit(group, dinner, "dinner at 9").await,
        Err(tern_node::ChangeError::NotAuthor)
    ));
    let edited = group_event(&mut carol_events, group, |e| match e {
        GroupEvent::MessageEdited { id, text, by, .. } if *id == dinner => {
            Some((text.clone(), *by))
        }
        _ => None,
    })
    .await;
    assert_eq!(edited, ("dinner at 8".into(), bob.user_id()));
    for node in [&alice, &bob, &carol] {
        until(
            "every member to see the replies, reactions and edit",
            || async {
                let (Some(d), Some(r)) = (
                    node.group_history(group, 50)
                        .await
                        .ok()
                        .and_then(|h| h.into_iter().find(|m| m.id == dinner)),
                    node.group_history(group, 50)
                        .await
                        .ok()
                        .and_then(|h| h.into_iter().find(|m| m.id == reply)),
                ) else {
                    return false;
                };
                d.text == "dinner at 8"
                    && d.edited_at_ms.is_some()
                    && d.reactions.len() == 2
                    && r.reply_to == Some(dinner)
            },
        )
        .await;
    }
    let history = bob.edit_history(group, dinner).await.unwrap();
    let texts: Vec<_> = history.iter().map(|e| e.text.as_str()).collect();
    assert_eq!(texts, ["dinner at 7", "dinner at 8"]);

    // Bob deletes it for everyone: a tombstone everywhere, its text gone from Carol's
    // history and from her event log, the reply kept.
    bob.delete(group, dinner).await.unwrap();
    group_event(&mut carol_events, group, |e| {
        matches!(e, GroupEvent::MessageDeleted { id, .. } if *id == dinner).then_some(())
    })
    .await;
    let gone = shown(&carol, group, dinner).await;
    assert!(gone.deleted && gone.text.is_empty() && gone.reactions.is_empty());
    assert_eq!(shown(&carol, group, reply).await.reply_to, Some(dinner));
    let mut logged = carol.events(tern_node::From::Oldest);
    let mut texts = Vec::new();
    while let Ok(Some((_, event))) =
        tokio::time::timeout(Duration::from_millis(500), logged.next()).await
    {
        texts.push(format!("{event:?}"));
    }
    assert!(!texts.is_empty());
    assert!(
        texts.iter().all(|e| !e.contains("dinner at")),
        "the deleted text is still in the event log"
    );
    // Nothing was refused along the way, and a restart keeps it all.
    assert!(group_refusals(&carol).await.is_empty());
    carol.shutdown().await;
    let carol = builder(dirs[2].path(), &relays).spawn().await.unwrap();
    assert!(shown(&carol, group, dinner).await.deleted);
    for node in [alice, bob, carol] {
        node.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_away_longer_than_the_log_keeps_entries_is_added_back_and_shown_the_gap() {
    let (relay, relays, _relay_dir) = relay().await;
    let dirs: Vec<_> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    let alice = builder(dirs[0].path(), &relays);
    let (alice, bob, carol, group) = three_in_a_group(&dirs, &relays, alice, "family").await;
    let (mut alice_events, mut bob_events) = (
        alice.events(tern_node::From::Now),
        bob.events(tern_node::From::Now),
    );
    alice.send_to_group(group, "before").await.unwrap();
    until("carol to read the first message", || async {
        texts(&carol, group).await.contains(&"before".to_owned())
    })
    .await;

    // Carol goes away. The group changes epoch and talks on; then everything stored before
    // `cutoff` expires at the relay, the commit that ended Carol's epoch with it.
    carol.shutdown().await;
    alice.rename_group(group, "family 2").await.unwrap();
    alice.send_to_group(group, "while away").await.unwrap();
    received(&mut bob_events, group, "while away").await;
    let cutoff = tern_node::Clock::system().now_secs() + 1;
    until("the clock to pass the cutoff", || async {
        tern_node::Clock::system().now_secs() >= cutoff
    })
    .await;
    alice.send_to_group(group, "kept").await.unwrap();
    received(&mut bob_events, group, "kept").await;
    assert!(relay.expire_logs_before(cutoff).await >= 3);

    // Back, Carol finds her epoch's end expired: she shows the gap and asks Alice, the admin
    // among her contacts, to add her back.
    let carol = builder(dirs[2].path(), &relays).spawn().await.unwrap();
    let mut carol_events = carol.events(tern_node::From::Oldest);
    let asked = group_event(&mut carol_events, group, |e| match e {
        GroupEvent::FellBehind { asked } => Some(asked.clone()),
        _ => None,
    })
    .await;
    assert_eq!(asked, vec![alice.user_id()]);
    for events in [&mut alice_events, &mut bob_events] {
        let back = group_event(events, group, |e| match e {
            GroupEvent::AddedBack { by, members } => Some((*by, members.clone())),
            _ => None,
        })
        .await;
        assert_eq!(back, (alice.user_id(), vec![carol.user_id()]));
    }
    until("carol to be back in the group", || async {
        carol
            .group_info(group)
            .await
            .is_ok_and(|g| g.active && g.members.len() == 3 && g.name == "family 2")
    })
    .await;

    // She reads on; what she missed stays missed, and nothing was refused as bad input.
    alice.send_to_group(group, "welcome back").await.unwrap();
    received(&mut carol_events, group, "welcome back").await;
    carol.send_to_group(group, "thanks").await.unwrap();
    received(&mut alice_events, group, "thanks").await;
    let seen = texts(&carol, group).await;
    assert!(seen.contains(&"before".to_owned()));
    assert!(!seen.contains(&"while away".to_owned()));
    for node in [&alice, &bob] {
        let refused = group_refusals(node).await;
        assert!(refused.is_empty(), "{refused:?}");
    }
    // The gap and the add-back survive a restart of Carol's node.
    carol.shutdown().await;
    let carol = builder(dirs[2].path(), &relays).spawn().await.unwrap();
    assert!(carol.group_info(group).await.unwrap().active);
    let mut events = carol.events(tern_node::From::Oldest);
    group_event(&mut events, group, |e| {
        matches!(e, GroupEvent::FellBehind { .. }).then_some(())
    })
    .await;

    for node in [alice, bob, carol] {
        node.shutdown().await;
    }
    relay.shutdown().await;
}

/// Two relay processes on ports of their own, so that each comes back where the group knows
/// it, and Alice and Bob in a group whose two sequencers they are.
struct TwoSequencers {
    relay_dirs: Vec<tempfile::TempDir>,
    listens: Vec<String>,
    processes: Vec<Option<support::RelayProcess>>,
    relays: Vec<String>,
    dirs: Vec<tempfile::TempDir>,
    alice: Node,
    bob: Node,
    group: GroupId,
    /// The group's first sequencer (whose order decides), by index.
    first: usize,
    /// The other one.
    second: usize,
}

impl TwoSequencers {
    async fn start(name: &str) -> Self {
        let relay_dirs: Vec<_> = (0..2).map(|_| tempfile::tempdir().unwrap()).collect();
        let (mut processes, mut listens, mut relays, mut peers) =
            (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for dir in &relay_dirs {
            let listen = format!("/ip4/127.0.0.1/tcp/{}", fixed_port());
            let process = support::RelayProcess::start_on(dir.path(), &listen);
            let (peer, address) = process.address().await;
            processes.push(Some(process));
            listens.push(listen);
            relays.push(address.to_string());
            peers.push(peer.to_string());
        }
        let dirs: Vec<_> = (0..2).map(|_| tempfile::tempdir().unwrap()).collect();
        let alice = builder(dirs[0].path(), &relays).spawn().await.unwrap();
        let bob = builder(dirs[1].path(), &relays).spawn().await.unwrap();
        befriend(&alice, &bob).await;
        let group = alice.create_group(name).await.unwrap();
        alice.add_members(group, vec![bob.user_id()]).await.unwrap();
        until("bob to join", || async {
            bob.group_info(group).await.is_ok_and(|g| g.active)
        })
        .await;
        let sequencers = alice.group_info(group).await.unwrap().sequencers;
        assert_eq!(sequencers.len(), 2);
        let first = peers
            .iter()
            .position(|p| sequencers[0].ends_with(p.as_str()))
            .unwrap();
        Self {
            relay_dirs,
            listens,
            processes,
            relays,
            dirs,
            alice,
            bob,
            group,
            first,
            second: 1 - first,
        }
    }

    /// Kills relay process `which` (kill -9).
    fn kill(&mut self, which: usize) {
        self.processes[which].take().unwrap().kill();
    }

    /// Kills relay process `which` and starts it again with its identity but an empty
    /// database: it has lost every log.
    fn wipe(&mut self, which: usize) {
        self.kill(which);
        for data in ["db", "blobs"] {
            let _ = std::fs::remove_dir_all(self.relay_dirs[which].path().join(data));
        }
        self.restart(which);
    }

    /// Starts relay process `which` again, on its directory and port.
    fn restart(&mut self, which: usize) {
        self.processes[which] = Some(support::RelayProcess::start_on(
            self.relay_dirs[which].path(),
            &self.listens[which],
        ));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sequencer_that_missed_a_commit_is_given_it_and_serves_when_the_other_is_gone() {
    let mut two = TwoSequencers::start("lagging").await;
    let (alice, bob, group) = (two.alice.clone(), two.bob.clone(), two.group);

    // The first sequencer, whose order decides, is down while Alice renames the group: only
    // the second takes the commit, and the first comes back knowing nothing of it.
    two.kill(two.first);
    rename_seen(&alice, &bob, group, "renamed").await;
    two.restart(two.first);

    // The next commit: the first sequencer is given the commit it missed, then decides.
    rename_seen(&alice, &bob, group, "renamed again").await;

    // The second sequencer goes for good: the first serves the group alone, both ways.
    two.kill(two.second);
    alice.send_to_group(group, "after").await.unwrap();
    until("bob to read alice", || async {
        texts(&bob, group).await.contains(&"after".to_owned())
    })
    .await;
    bob.send_to_group(group, "bob after").await.unwrap();
    until("alice to read bob", || async {
        texts(&alice, group).await.contains(&"bob after".to_owned())
    })
    .await;
    rename_seen(&alice, &bob, group, "third").await;

    alice.shutdown().await;
    bob.shutdown().await;
}

/// How many sequencers hold `node`'s own group message `text` (0 while none does).
async fn stored_at(node: &Node, group: GroupId, text: &str) -> u8 {
    let history = node.group_history(group, 100).await.unwrap();
    match history
        .into_iter()
        .find(|m| m.text == text)
        .map(|m| m.state)
    {
        Some(tern_node::DeliveryState::StoredAtRelays { stored, .. }) => stored,
        _ => 0,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_a_sequencer_missed_reaches_it_when_it_comes_back() {
    let mut two = TwoSequencers::start("patchy").await;
    let (alice, group) = (two.alice.clone(), two.group);

    // Bob is away while the first sequencer is down: only the second takes Alice's message.
    two.bob.shutdown().await;
    two.kill(two.first);
    let sent = alice.send_to_group(group, "while it was down").await;
    sent.unwrap();
    until("the second sequencer to hold it", || async {
        stored_at(&alice, group, "while it was down").await == 1
    })
    .await;
    two.restart(two.first);
    let sent = alice.send_to_group(group, "once it was back").await;
    sent.unwrap();
    until("both sequencers to hold the next one", || async {
        stored_at(&alice, group, "once it was back").await == 2
    })
    .await;

    // The second sequencer goes for good, and Bob comes back: he reads the first alone, and
    // gets what it missed.
    two.kill(two.second);
    let bob = builder(two.dirs[1].path(), &two.relays);
    let bob = bob.spawn().await.unwrap();
    until("bob to read both messages", || async {
        let texts = texts(&bob, group).await;
        texts.contains(&"while it was down".to_owned())
            && texts.contains(&"once it was back".to_owned())
    })
    .await;
    assert_eq!(stored_at(&alice, group, "while it was down").await, 2);
    alice.shutdown().await;
    bob.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_behind_sequencers_that_lost_the_log_is_told_and_added_back() {
    let mut two = TwoSequencers::start("wiped").await;
    let (alice, group) = (two.alice.clone(), two.group);
    let mut alice_events = alice.events(tern_node::From::Now);

    // Bob is away through a commit; then both sequencers lose the group's log, and Alice's
    // next message takes it up again at the epoch the commit began.
    two.bob.shutdown().await;
    alice.rename_group(group, "wiped 2").await.unwrap();
    until("the rename to be decided", || async {
        let info = alice.group_info(group).await.unwrap();
        info.name == "wiped 2"
    })
    .await;
    two.wipe(0);
    two.wipe(1);
    let sent = alice.send_to_group(group, "after the wipe").await;
    sent.unwrap();
    until("a sequencer to hold it", || async {
        stored_at(&alice, group, "after the wipe").await >= 1
    })
    .await;

    // Back, Bob finds that no sequencer knows his epoch's key: he is told, and asks Alice to
    // add him back.
    let bob = builder(two.dirs[1].path(), &two.relays);
    let bob = bob.spawn().await.unwrap();
    let mut bob_events = bob.events(tern_node::From::Oldest);
    let asked = group_event(&mut bob_events, group, |e| match e {
        GroupEvent::FellBehind { asked } => Some(asked.clone()),
        _ => None,
    })
    .await;
    assert_eq!(asked, vec![alice.user_id()]);
    group_event(&mut alice_events, group, |e| {
        matches!(e, GroupEvent::AddedBack { .. }).then_some(())
    })
    .await;
    until("bob to be back in the renamed group", || async {
        bob.group_info(group)
            .await
            .is_ok_and(|g| g.active && g.name == "wiped 2")
    })
    .await;
    alice.send_to_group(group, "welcome back").await.unwrap();
    received(&mut bob_events, group, "welcome back").await;
    alice.shutdown().await;
    bob.shutdown().await;
}
