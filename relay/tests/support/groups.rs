//! What the group scenario tests share: an in-process relay, contacts, groups of three, and
//! what members see.

use std::time::Duration;

use tern_node::{Event, EventStream, GroupEvent, GroupId, Node, UserId};

use super::{node_builder as builder, until, wait_for};

pub(crate) const TIMEOUT: Duration = Duration::from_secs(90);

/// Waits for `event` of `group` on `events`.
pub(crate) async fn group_event<T>(
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

pub(crate) async fn received(events: &mut EventStream, group: GroupId, text: &str) -> UserId {
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
pub(crate) async fn relay() -> (tern_relay::Relay, Vec<String>, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let (relay, address) = super::local_relay(dir.path()).await;
    (relay, vec![address], dir)
}

pub(crate) async fn befriend(a: &Node, b: &Node) {
    let name = |n: &Node| n.user_id().short();
    a.add_contact(name(b), b.user_id()).await.unwrap();
    b.add_contact(name(a), a.user_id()).await.unwrap();
}

/// `alice` makes group `name` and adds `bob`, a contact of hers; returned once Bob is in it.
pub(crate) async fn in_a_group(alice: &Node, bob: &Node, name: &str) -> GroupId {
    let group = alice.create_group(name).await.unwrap();
    alice.add_members(group, vec![bob.user_id()]).await.unwrap();
    until("bob to join", || async {
        bob.group_info(group).await.is_ok_and(|g| g.active)
    })
    .await;
    group
}

/// The group entries and bodies `node` refused, by reason (those counted at all).
pub(crate) async fn group_refusals(node: &Node) -> Vec<(String, u64)> {
    let status = node.status().await.unwrap();
    status
        .rejections
        .into_iter()
        .filter(|(reason, count)| reason.starts_with("group_") && *count > 0)
        .collect()
}

/// Waits until `node`'s history of `group` holds a message with `text`.
pub(crate) async fn holds(node: &Node, group: GroupId, text: &str) {
    until(&format!("{text:?} in history"), || async {
        node.group_history(group, 50)
            .await
            .is_ok_and(|h| h.iter().any(|m| m.text == text))
    })
    .await;
}

/// The texts of `node`'s history of `group`, oldest first (its notices left out).
pub(crate) async fn texts(node: &Node, group: GroupId) -> Vec<String> {
    node.group_history(group, 100)
        .await
        .unwrap()
        .into_iter()
        .filter(|m| m.notice.is_none())
        .map(|m| m.text)
        .collect()
}

/// A free port below the ephemeral range (32768 and up on Linux), so that no outgoing
/// connection of a test running beside this one takes it while its relay is down.
pub(crate) fn fixed_port() -> u16 {
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

/// Alice (from `alice`), Bob and Carol, each a contact of Alice's, in a group she made and
/// added Bob to before Carol (Bob is then the longest-standing after her); returned once
/// each of them sees all three.
pub(crate) async fn three_in_a_group(
    dirs: &[tempfile::TempDir],
    relays: &[String],
    alice: tern_node::Builder,
    name: &str,
) -> (Node, Node, Node, GroupId) {
    let [bob, carol] = [1, 2].map(|i| builder(dirs[i].path(), relays));
    three_made_as([alice, bob, carol], name).await
}

/// [`three_in_a_group`] with Alice, Bob and Carol made from the builders given.
pub(crate) async fn three_made_as(
    [alice, bob, carol]: [tern_node::Builder; 3],
    name: &str,
) -> (Node, Node, Node, GroupId) {
    let alice = alice.spawn().await.unwrap();
    let bob = bob.spawn().await.unwrap();
    let carol = carol.spawn().await.unwrap();
    befriend(&alice, &bob).await;
    befriend(&alice, &carol).await;
    let group = in_a_group(&alice, &bob, name).await;
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

/// `admin` renames `group` to `name` once no change of its own waits for the log, and
/// `member` comes to see the new name.
pub(crate) async fn rename_seen(admin: &Node, member: &Node, group: GroupId, name: &str) {
    until("the rename to be taken", || async {
        admin.rename_group(group, name).await.is_ok()
    })
    .await;
    until("the member to see the new name", || async {
        member.group_info(group).await.unwrap().name == name
    })
    .await;
}

/// A group of Alice and Bob whose only sequencer is a relay process on a port of its own, so
/// that it comes back where the group knows it after a kill.
pub(crate) struct Outage {
    pub(crate) relay: super::RelayProcess,
    pub(crate) relay_dir: tempfile::TempDir,
    pub(crate) listen: String,
    pub(crate) relays: Vec<String>,
    pub(crate) dirs: Vec<tempfile::TempDir>,
    pub(crate) alice: Node,
    pub(crate) bob: Node,
    pub(crate) group: GroupId,
}

impl Outage {
    pub(crate) async fn start(name: &str) -> Self {
        let relay_dir = tempfile::tempdir().unwrap();
        let listen = format!("/ip4/127.0.0.1/tcp/{}", fixed_port());
        let relay = super::RelayProcess::start_on(relay_dir.path(), &listen);
        let relays = vec![relay.address().await.1.to_string()];
        let dirs: Vec<_> = (0..2).map(|_| tempfile::tempdir().unwrap()).collect();
        let alice = builder(dirs[0].path(), &relays).spawn().await.unwrap();
        let bob = builder(dirs[1].path(), &relays).spawn().await.unwrap();
        befriend(&alice, &bob).await;
        let group = in_a_group(&alice, &bob, name).await;
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
