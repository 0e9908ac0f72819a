//! What members send a group besides text, through real relays: files uploaded once and
//! read by every member, and replies, reactions, edits and deletes every member sees alike.
mod support;

use std::time::Duration;

use futures::StreamExt;

use support::{
    groups::{Outage, group_event, group_refusals, relay, three_in_a_group},
    node_builder as builder, until, until_within,
};
use tern_node::{GroupEvent, GroupId, Node};

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
    until("carol to fetch the file", || file_ready(&carol, group, id)).await;
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
    until_within(Duration::from_secs(180), "bob to fetch the file", || {
        file_ready(&bob, group, id)
    })
    .await;
    assert_eq!(read_group_file(&bob, group, id).await, bytes);
    for node in [alice, bob] {
        node.shutdown().await;
    }
}

/// Whether the file of message `id` of `group` is ready in `node`'s history.
async fn file_ready(node: &Node, group: GroupId, id: tern_node::MessageId) -> bool {
    node.group_history(group, 10).await.is_ok_and(|history| {
        history.iter().any(|m| {
            m.id == id
                && m.attachment
                    .as_ref()
                    .is_some_and(|a| a.state == tern_node::AttachmentState::Ready)
        })
    })
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
