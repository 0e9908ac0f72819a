//! Moving a group's log to another relay by an admin's commit, with relay processes: only
//! an admin may, a bad list is refused and changes nothing, a member away at the time
//! follows when it comes back (it reads the commit where the log was, then the rest where
//! it is now), the relay the log left can then die without the group noticing, and a move
//! to the same relay starts a fresh log there.

mod support;

use std::time::Duration;

use support::{groups::texts, node_builder as builder, until, wait_for};
use tern_node::{Event, From, GroupError, GroupEvent, GroupId, Node};

const TIMEOUT: Duration = Duration::from_secs(90);

async fn sequencers(node: &Node, group: GroupId) -> Vec<String> {
    node.group_info(group).await.unwrap().sequencers
}

/// The relays of the first `LogMoved` in `node`'s event log for `group`, and who moved it.
async fn log_moved(node: &Node, group: GroupId) -> (tern_node::UserId, Vec<String>) {
    let mut events = node.events(From::Oldest);
    tokio::time::timeout(
        TIMEOUT,
        wait_for(&mut events, |e| match e {
            Event::Group {
                group: g,
                event: GroupEvent::LogMoved { by, relays },
            } if *g == group => Some((*by, relays.clone())),
            _ => None,
        }),
    )
    .await
    .expect("no LogMoved event")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admin_moves_the_log_and_a_member_away_at_the_time_follows() {
    // Two relay processes: the first keeps both mailboxes and the group's log at first.
    let relay_dirs: Vec<_> = (0..2).map(|_| tempfile::tempdir().unwrap()).collect();
    let mut processes: Vec<_> = relay_dirs
        .iter()
        .map(|d| support::RelayProcess::start(d.path()))
        .collect();
    let first = vec![processes[0].address().await.1.to_string()];
    let second = processes[1].address().await.1.to_string();
    let dirs: Vec<_> = (0..2).map(|_| tempfile::tempdir().unwrap()).collect();
    let alice = builder(dirs[0].path(), &first).spawn().await.unwrap();
    let bob = builder(dirs[1].path(), &first).spawn().await.unwrap();
    alice.add_contact("bob", bob.user_id()).await.unwrap();
    bob.add_contact("alice", alice.user_id()).await.unwrap();
    let group = alice.create_group("movers").await.unwrap();
    assert_eq!(sequencers(&alice, group).await, first);
    alice.add_members(group, vec![bob.user_id()]).await.unwrap();
    until("bob to join", || async {
        bob.group_info(group).await.is_ok_and(|g| g.active)
    })
    .await;
    assert_eq!(sequencers(&bob, group).await, first);
    alice.send_to_group(group, "before").await.unwrap();
    until("bob to read it", || async {
        texts(&bob, group).await == ["before"]
    })
    .await;

    // Only an admin moves the log, and only to a list that makes sense.
    let to_second = vec![second.parse().unwrap()];
    assert!(matches!(
        bob.move_group_log(group, to_second.clone()).await,
        Err(GroupError::NotAllowed(_))
    ));
    for bad in [
        Vec::new(),
        vec!["/ip4/127.0.0.1/tcp/9".parse().unwrap()],
        vec![to_second[0].clone(), to_second[0].clone()],
    ] {
        assert!(matches!(
            alice.move_group_log(group, bad).await,
            Err(GroupError::BadRelays(_))
        ));
    }
    let epoch = alice.group_info(group).await.unwrap().epoch;
    assert_eq!(bob.group_info(group).await.unwrap().epoch, epoch);

    // Bob is away while Alice moves the log and talks on.
    bob.shutdown().await;
    alice.move_group_log(group, to_second).await.unwrap();
    until("the move to be decided", || async {
        sequencers(&alice, group).await == [second.clone()]
    })
    .await;
    assert_eq!(
        log_moved(&alice, group).await,
        (alice.user_id(), vec![second.clone()])
    );
    alice.send_to_group(group, "after the move").await.unwrap();

    // Back, Bob reads the commit at the first relay, then the rest at the second.
    let bob = builder(dirs[1].path(), &first).spawn().await.unwrap();
    until("bob to follow the log", || async {
        texts(&bob, group).await == ["before", "after the move"]
    })
    .await;
    assert_eq!(sequencers(&bob, group).await, std::slice::from_ref(&second));
    assert_eq!(
        log_moved(&bob, group).await,
        (alice.user_id(), vec![second.clone()])
    );

    // The relay the log left dies: the group talks and changes on without it.
    processes.remove(0).kill();
    bob.send_to_group(group, "the first relay is gone")
        .await
        .unwrap();
    until("alice to read bob", || async {
        texts(&alice, group)
            .await
            .contains(&"the first relay is gone".to_owned())
    })
    .await;
    alice.rename_group(group, "moved").await.unwrap();
    until("bob to see the rename", || async {
        bob.group_info(group).await.is_ok_and(|g| g.name == "moved")
    })
    .await;

    // Moved again to the same relay: a fresh log there, read from its start.
    let epoch = bob.group_info(group).await.unwrap().epoch;
    alice
        .move_group_log(group, vec![second.parse().unwrap()])
        .await
        .unwrap();
    until("bob to follow the second move", || async {
        bob.group_info(group).await.is_ok_and(|g| g.epoch > epoch)
    })
    .await;
    alice.send_to_group(group, "a fresh log").await.unwrap();
    until("bob to read the fresh log", || async {
        texts(&bob, group).await.contains(&"a fresh log".to_owned())
    })
    .await;
    assert_eq!(
        texts(&bob, group).await,
        [
            "before",
            "after the move",
            "the first relay is gone",
            "a fresh log"
        ]
    );

    alice.shutdown().await;
    bob.shutdown().await;
}
