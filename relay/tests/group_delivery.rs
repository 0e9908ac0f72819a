//! Group messages through real relays when things go wrong: a sequencer down across a
//! restart, members away while adds are made, leaves waiting for a commit, and the receipts
//! that count a message delivered to and read by n of m members.
mod support;

use std::time::Duration;

use support::{
    groups::{
        Outage, befriend, group_event, group_refusals, holds, in_a_group, received, relay, texts,
        three_made_as,
    },
    node_builder as builder, running_clock, until, until_within,
};
use tern_node::{EventStream, GroupDelivery, GroupEvent, GroupId, Node};

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

/// Bob's rename loses its epoch to Alice's, and his node stops right after the write that
/// decides so, before it makes the rename again in the new epoch: the rename is made once
/// his node is back. Nothing a member asked for is lost to a crash.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_commit_that_lost_its_epoch_is_made_again_after_a_crash() {
    let Outage {
        relay,
        relay_dir,
        listen,
        relays,
        dirs,
        alice,
        bob,
        group,
    } = Outage::start("lost epoch").await;
    alice.set_admin(group, bob.user_id(), true).await.unwrap();
    until("bob to be an admin", || async {
        bob.group_info(group).await.is_ok_and(|g| g.admin)
    })
    .await;
    // Both rename the group while the log is down, in the same epoch; Bob's node stops
    // before the log is back, so Alice's comes first.
    relay.kill();
    bob.rename_group(group, "bob's name").await.unwrap();
    bob.shutdown().await;
    alice.rename_group(group, "alice's name").await.unwrap();
    let _relay = support::RelayProcess::start_on(relay_dir.path(), &listen);
    until("alice's rename to win", || async {
        alice.group_info(group).await.unwrap().name == "alice's name"
    })
    .await;
    // Bob's node reads that his rename lost, and stops before it makes it again.
    let bob = builder(dirs[1].path(), &relays)
        .dropping_group_followups()
        .spawn()
        .await
        .unwrap();
    until("bob to read alice's rename", || async {
        bob.group_info(group).await.unwrap().name == "alice's name"
    })
    .await;
    bob.shutdown().await;
    assert_eq!(alice.group_info(group).await.unwrap().name, "alice's name");
    let bob = builder(dirs[1].path(), &relays).spawn().await.unwrap();
    for node in [&alice, &bob] {
        until("bob's rename to be made again", || async {
            node.group_info(group).await.unwrap().name == "bob's name"
        })
        .await;
    }
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
        let messages = history.into_iter().filter(|m| m.notice.is_none());
        messages.map(|m| m.text).collect::<Vec<_>>()
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
async fn an_invitation_too_large_for_one_message_comes_as_a_file_after_its_inviter_left() {
    // Alice sends as a file every invitation over 512 bytes, as she would a Welcome for a
    // thousand members over 128 KiB: Bob joins from one while she is online; Carol from one
    // that reached her mailbox after Alice went away for good.
    let (relay, relays, relay_dir) = relay().await;
    let dirs: Vec<_> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    // Alice writes only through relays, so that what she sends Carol waits in her mailbox.
    let alice_builder = || {
        builder(dirs[0].path(), &relays)
            .with_invite_message_len(512)
            .with_direct_delivery(false)
    };
    let mut alice = alice_builder().spawn().await.unwrap();
    let bob = builder(dirs[1].path(), &relays).spawn().await.unwrap();
    let mut carol = builder(dirs[2].path(), &relays).spawn().await.unwrap();
    befriend(&alice, &bob).await;
    befriend(&alice, &carol).await;
    let group = in_a_group(&alice, &bob, "a file for an invitation").await;
    for node in [&alice, &carol] {
        until("both records to be in the DHT", || async {
            node.status().await.unwrap().record_published.is_some()
        })
        .await;
    }

    // Alice asks away Carol for a key package, and is away when Carol answers.
    let carol_user = carol.user_id();
    carol.shutdown().await;
    alice.add_members(group, vec![carol_user]).await.unwrap();
    outbox_empty(&alice, "alice's request to reach carol's mailbox").await;
    alice.shutdown().await;
    let deposited = relay.metrics().await.deposits;
    carol = builder(dirs[2].path(), &relays).spawn().await.unwrap();
    until("carol's answer to reach alice's mailbox", || async {
        relay.metrics().await.deposits > deposited && carol.status().await.unwrap().outbox == 0
    })
    .await;
    carol.shutdown().await;
    // Alice reads the answer and is stopped right after the write that keeps it, before
    // the add it lets go ahead.
    alice = alice_builder()
        .dropping_group_followups()
        .spawn()
        .await
        .unwrap();
    until("alice to read carol's answer", || async {
        relay.metrics().await.stored_messages == 0
    })
    .await;
    alice.shutdown().await;
    // Back for good, Alice adds her, and her invitation goes once a sequencer holds its
    // file: then it waits in Carol's mailbox, and Alice goes away for good.
    let deposited = relay.metrics().await.deposits;
    alice = alice_builder().spawn().await.unwrap();
    until("alice to add carol", || async {
        let info = alice.group_info(group).await.unwrap();
        info.members.iter().any(|m| m.user == carol_user)
    })
    .await;
    until("carol's invitation to reach her mailbox", || async {
        relay.metrics().await.deposits > deposited && alice.status().await.unwrap().outbox == 0
    })
    .await;
    alice.shutdown().await;
    let blobs = files_under(&relay_dir.path().join("blobs"));
    assert!(!blobs.is_empty(), "the relay holds the invitation's file");

    // Carol takes the invitation and is stopped right after the write that keeps it,
    // before its file is fetched; she fetches it when she is back.
    carol = builder(dirs[2].path(), &relays)
        .dropping_group_followups()
        .spawn()
        .await
        .unwrap();
    until("carol to take her invitation", || async {
        relay.metrics().await.stored_messages == 0
    })
    .await;
    carol.shutdown().await;
    let carol = builder(dirs[2].path(), &relays).spawn().await.unwrap();
    until("carol to join without alice", || async {
        carol
            .group_info(group)
            .await
            .is_ok_and(|g| g.active && g.members.len() == 3)
    })
    .await;
    bob.send_to_group(group, "welcome, carol").await.unwrap();
    holds(&carol, group, "welcome, carol").await;
    for node in [&bob, &carol] {
        let refused = group_refusals(node).await;
        assert!(refused.is_empty(), "{refused:?}");
    }
    // The relay's disk holds the Welcome sealed: not even the group's name in clear.
    for file in files_under(relay_dir.path()) {
        let bytes = std::fs::read(&file).unwrap_or_default();
        let name = b"a file for an invitation";
        assert!(
            !bytes.windows(name.len()).any(|w| w == name),
            "{} holds the group's name",
            file.display()
        );
    }
    // Once joined, Carol keeps no copy of the invitation.
    until("carol to drop the invitation's file", || async {
        files_under(&dirs[2].path().join("blobs")).is_empty()
    })
    .await;
    for node in [bob, carol] {
        node.shutdown().await;
    }
    relay.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invitation_whose_file_no_sequencer_takes_goes_in_parts() {
    // The group's only sequencer takes no blob over 1 KiB: Alice's invitation to Bob, a file
    // over her 512 bytes, is refused there for good, and goes to Bob in parts instead.
    let dir = tempfile::tempdir().unwrap();
    let limits = tern_relay::Limits {
        max_blob: 1024,
        ..tern_relay::Limits::default()
    };
    let relay = tern_relay::Relay::spawn(
        tern_relay::Config::new(dir.path())
            .with_listen_addr("/ip4/127.0.0.1/tcp/0")
            .with_limits(limits),
    )
    .await
    .unwrap();
    let relays = vec![relay.addresses().await[0].clone()];
    let dirs: Vec<_> = (0..2).map(|_| tempfile::tempdir().unwrap()).collect();
    let alice = builder(dirs[0].path(), &relays)
        .with_invite_message_len(512)
        .spawn()
        .await
        .unwrap();
    let bob = builder(dirs[1].path(), &relays).spawn().await.unwrap();
    befriend(&alice, &bob).await;
    let group = in_a_group(&alice, &bob, "in parts after all").await;
    alice.send_to_group(group, "you made it").await.unwrap();
    holds(&bob, group, "you made it").await;
    assert!(
        files_under(&dir.path().join("blobs")).is_empty(),
        "the relay took no file"
    );
    let refused = group_refusals(&bob).await;
    assert!(refused.is_empty(), "{refused:?}");
    // Alice keeps no copy of a file that went nowhere.
    until("alice to drop the invitation's file", || async {
        files_under(&dirs[0].path().join("blobs")).is_empty()
    })
    .await;
    for node in [alice, bob] {
        node.shutdown().await;
    }
    relay.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forged_invitation_naming_a_file_already_here_is_refused_and_the_file_kept() {
    // Bob sends Alice a file; Alice, his contact, sends him an invitation whose file is
    // that one. Taken, its fetch would end at once (the blob is complete) and the invitation
    // would be dropped with its blob: Bob's own copy.
    let (relay, relays, _relay_dir) = relay().await;
    let dirs: Vec<_> = (0..2).map(|_| tempfile::tempdir().unwrap()).collect();
    let alice = builder(dirs[0].path(), &relays).spawn().await.unwrap();
    let bob = builder(dirs[1].path(), &relays).spawn().await.unwrap();
    befriend(&alice, &bob).await;
    let file = dirs[1].path().join("report.bin");
    std::fs::write(&file, vec![7u8; 300_000]).unwrap();
    bob.send_file(alice.user_id(), &file, "").await.unwrap();
    let complete = dirs[1].path().join("blobs/complete");
    let held = files_under(&complete);
    assert_eq!(held.len(), 1, "bob keeps the file he sent");
    let name = held[0].file_name().unwrap().to_str().unwrap().to_owned();
    let root: [u8; 32] = (0..32)
        .map(|i| u8::from_str_radix(&name[2 * i..2 * i + 2], 16).unwrap())
        .collect::<Vec<_>>()
        .try_into()
        .unwrap();

    tern_node::test_utils::send_forged_invite_file(&alice, bob.user_id(), root).await;
    until("bob to refuse the invitation", || async {
        !group_refusals(&bob).await.is_empty()
    })
    .await;
    assert_eq!(
        group_refusals(&bob).await,
        vec![("group_invite_file".to_owned(), 1)]
    );
    assert_eq!(files_under(&complete), held, "bob's file is still here");
    for node in [alice, bob] {
        node.shutdown().await;
    }
    relay.shutdown().await;
}

/// Every file under `dir`, recursively (none if it does not exist).
fn files_under(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    entries
        .flatten()
        .flat_map(|entry| {
            let path = entry.path();
            if path.is_dir() {
                files_under(&path)
            } else {
                vec![path]
            }
        })
        .collect()
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
    holds(&carol, group, "did you get this?").await;
    assert_eq!(carol.mark_group_read(group).await.unwrap(), 1);
    holds(&bob, group, "did you get this?").await;
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
