//! A group whose every sequencer dies, with relay processes: its admins move the log by
//! themselves. Two admins who cannot reach each other both fail over at once, and a member
//! away at the time passes each one's failover to the other when it comes back, so that all
//! three follow the same one; nothing sent meanwhile is lost.

mod support;

use std::time::Duration;

use support::{
    groups::{befriend, in_a_group, texts},
    node_builder, until, wait_for,
};
use tern_node::{Event, From, GroupEvent, GroupFailover, GroupId, Node, UserId};

/// Both admins fail over a second after the log stops answering, at once (no stagger),
/// and hold what they have for long enough that the member coming back meets them.
const FAILOVER: GroupFailover = GroupFailover {
    after: Duration::from_secs(1),
    stagger: Duration::ZERO,
    settle: Duration::from_secs(45),
};

fn builder(dir: &std::path::Path, relays: &[String]) -> tern_node::Builder {
    node_builder(dir, relays).with_group_failover(FAILOVER)
}

async fn sequencers(node: &Node, group: GroupId) -> Vec<String> {
    node.group_info(group).await.unwrap().sequencers
}

/// `admin` moves `group`'s log to `relay`, and it and `members` come to see it there.
async fn move_log(admin: &Node, members: &[&Node], group: GroupId, relay: &str) {
    admin
        .move_group_log(group, vec![relay.parse().unwrap()])
        .await
        .unwrap();
    for node in std::iter::once(admin).chain(members.iter().copied()) {
        until("the log to move to the relay", || async {
            sequencers(node, group).await == [relay.to_owned()]
        })
        .await;
    }
}

/// Who made the move of `node`'s `n`th `LogMoved` event for `group` (1: the first).
async fn moved_by(node: &Node, group: GroupId, n: usize) -> UserId {
    let mut events = node.events(From::Oldest);
    let mut seen = 0;
    wait_for(&mut events, |e| match e {
        Event::Group {
            group: g,
            event: GroupEvent::LogMoved { by, .. },
        } if *g == group => {
            seen += 1;
            (seen == n).then_some(*by)
        }
        _ => None,
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admins_move_a_log_nobody_reaches_and_every_member_follows_the_same_move() {
    let relay_dirs: Vec<_> = (0..2).map(|_| tempfile::tempdir().unwrap()).collect();
    let mut processes: Vec<_> = relay_dirs
        .iter()
        .map(|d| support::RelayProcess::start(d.path()))
        .collect();
    // Mailboxes at the second relay; the log at the first, until it dies.
    let mailbox = vec![processes[1].address().await.1.to_string()];
    let log_relay = processes[0].address().await.1.to_string();
    let dirs: Vec<_> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    let alice = builder(dirs[0].path(), &mailbox).spawn().await.unwrap();
    let bob = builder(dirs[1].path(), &mailbox).spawn().await.unwrap();
    let dave = builder(dirs[2].path(), &mailbox).spawn().await.unwrap();
    // Bob knows both; Alice and Dave do not know each other.
    befriend(&alice, &bob).await;
    befriend(&bob, &dave).await;

    // Alice makes the group and Bob an admin; Bob adds Dave and makes him one too.
    let group = in_a_group(&alice, &bob, "failover").await;
    alice.set_admin(group, bob.user_id(), true).await.unwrap();
    until("bob to be an admin", || async {
        bob.group_info(group).await.is_ok_and(|g| g.admin)
    })
    .await;
    bob.add_members(group, vec![dave.user_id()]).await.unwrap();
    until("dave to join", || async {
        dave.group_info(group).await.is_ok_and(|g| g.active)
    })
    .await;
    bob.set_admin(group, dave.user_id(), true).await.unwrap();
    until("dave to be an admin", || async {
        dave.group_info(group).await.is_ok_and(|g| g.admin)
    })
    .await;
    move_log(&alice, &[&bob, &dave], group, &log_relay).await;
    alice.send_to_group(group, "before").await.unwrap();
    for node in [&bob, &dave] {
        until("everyone to read it", || async {
            texts(node, group).await == ["before"]
        })
        .await;
    }
    let epoch = alice.group_info(group).await.unwrap().epoch;

    // Bob is away, and the only sequencer dies: the group can order nothing.
    bob.shutdown().await;
    processes.remove(0).kill();
    alice
        .send_to_group(group, "while the log is down")
        .await
        .unwrap();

    // Neither admin hears of the other's failover: both make one.
    for node in [&alice, &dave] {
        until("both admins to fail over", || async {
            node.group_info(group).await.is_ok_and(|g| g.failing_over)
        })
        .await;
    }
    assert_eq!(alice.group_info(group).await.unwrap().epoch, epoch);

    // Back, Bob holds both and passes each on to the other admin: all three settle on the
    // same one.
    let bob = builder(dirs[1].path(), &mailbox).spawn().await.unwrap();
    for node in [&alice, &bob, &dave] {
        until("every member to follow a failover", || async {
            node.group_info(group)
                .await
                .is_ok_and(|g| g.epoch == epoch + 1 && !g.failing_over && g.sequencers == mailbox)
        })
        .await;
    }
    // Bob, an admin too, may have made a third on his way back: one of them all the same.
    let by = moved_by(&alice, group, 2).await;
    assert!([alice.user_id(), bob.user_id(), dave.user_id()].contains(&by));
    assert_eq!(moved_by(&bob, group, 2).await, by);
    assert_eq!(moved_by(&dave, group, 2).await, by);

    // The group goes on at the new relay, and what Alice sent meanwhile reached everyone.
    dave.send_to_group(group, "after").await.unwrap();
    for node in [&alice, &bob, &dave] {
        until("everyone to read everything", || async {
            texts(node, group).await == ["before", "while the log is down", "after"]
        })
        .await;
    }

    alice.shutdown().await;
    bob.shutdown().await;
    dave.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_failovers_are_refused_and_counted_and_the_group_goes_on() {
    let relay_dir = tempfile::tempdir().unwrap();
    let process = support::RelayProcess::start(relay_dir.path());
    let relays = vec![process.address().await.1.to_string()];
    let dirs: Vec<_> = (0..2).map(|_| tempfile::tempdir().unwrap()).collect();
    let alice = builder(dirs[0].path(), &relays).spawn().await.unwrap();
    let bob = builder(dirs[1].path(), &relays).spawn().await.unwrap();
    befriend(&alice, &bob).await;
    let group = in_a_group(&alice, &bob, "forged").await;
    let before = alice.group_info(group).await.unwrap();

    // Bob, a member, sends Alice failovers no honest node makes: garbage for this epoch,
    // one for an epoch to come, and one for a group that does not exist.
    let forge = |group, epoch, entry| {
        tern_node::test_utils::send_forged_failover(&bob, alice.user_id(), (group, epoch, entry))
    };
    forge(group, before.epoch, vec![7; 300]).await;
    forge(group, before.epoch + 5, vec![7; 300]).await;
    forge(GroupId::from_bytes([9; 32]), before.epoch, vec![7; 300]).await;
    until("alice to refuse all three", || async {
        let rejections = alice.status().await.unwrap().rejections;
        let count = |reason: &str| rejections.get(reason).copied().unwrap_or(0);
        count("group_failover_sealed") == 1
            && count("group_failover_epoch") == 1
            && count("group_failover_group") == 1
    })
    .await;

    // Nothing changed, and the group goes on.
    let after = alice.group_info(group).await.unwrap();
    assert!(!after.failing_over);
    assert_eq!(
        (after.epoch, &after.sequencers),
        (before.epoch, &before.sequencers)
    );
    bob.send_to_group(group, "still fine").await.unwrap();
    until("alice to read bob", || async {
        texts(&alice, group).await == ["still fine"]
    })
    .await;
    alice.shutdown().await;
    bob.shutdown().await;
}

/// Alice, the only admin, restarts twice while nothing reaches the group's log. The failover
/// delay counts from when the outage began, not from her restart; and the rename that waited
/// at the dead log when she failed over is made once the failover is decided, although her
/// node restarted in between, and stopped again right after the failover was decided.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_outage_and_a_commit_a_failover_set_aside_outlast_restarts() {
    // Shorter than the default, so that the clocks moved on stay within the hour of skew
    // the relays allow for what the nodes sign.
    const TWENTY_MINUTES: GroupFailover = GroupFailover {
        after: Duration::from_secs(20 * 60),
        stagger: Duration::ZERO,
        settle: Duration::from_secs(5 * 60),
    };
    let relay_dirs: Vec<_> = (0..2).map(|_| tempfile::tempdir().unwrap()).collect();
    let mut processes: Vec<_> = relay_dirs
        .iter()
        .map(|d| support::RelayProcess::start(d.path()))
        .collect();
    let mailbox = vec![processes[1].address().await.1.to_string()];
    let log_relay = processes[0].address().await.1.to_string();
    let (clock, ticking) = support::running_clock();
    let dirs: Vec<_> = (0..2).map(|_| tempfile::tempdir().unwrap()).collect();
    let make = |i: usize| {
        node_builder(dirs[i].path(), &mailbox)
            .with_group_failover(TWENTY_MINUTES)
            .with_clock(clock.clone())
    };
    let alice = make(0).spawn().await.unwrap();
    let bob = make(1).spawn().await.unwrap();
    befriend(&alice, &bob).await;
    let group = in_a_group(&alice, &bob, "restarts").await;
    move_log(&alice, &[&bob], group, &log_relay).await;

    // The log dies with Alice's rename waiting at it.
    processes.remove(0).kill();
    alice
        .rename_group(group, "renamed while down")
        .await
        .unwrap();
    until("alice to notice", || async {
        let info = alice.group_info(group).await.unwrap();
        info.unreachable_since_ms.is_some()
    })
    .await;
    let since = alice.group_info(group).await.unwrap().unreachable_since_ms;

    // Twelve minutes on, her node restarts: the outage still counts from when it began, so
    // nine minutes later it is due (counted from the restart, it would not be).
    clock.advance(Duration::from_secs(12 * 60));
    alice.shutdown().await;
    let alice = make(0).spawn().await.unwrap();
    let info = alice.group_info(group).await.unwrap();
    assert_eq!(info.unreachable_since_ms, since);
    clock.advance(Duration::from_secs(9 * 60));
    until("alice to fail over", || async {
        alice.group_info(group).await.is_ok_and(|g| g.failing_over)
    })
    .await;

    // She restarts while the failover settles; Bob holds it too. Then both follow it. Her
    // node stops right after the write that decides it, before it makes the rename again.
    alice.shutdown().await;
    let alice = make(0).dropping_group_followups().spawn().await.unwrap();
    assert!(alice.group_info(group).await.unwrap().failing_over);
    until("bob to hold her failover", || async {
        bob.group_info(group).await.is_ok_and(|g| g.failing_over)
    })
    .await;
    clock.advance(Duration::from_secs(6 * 60));
    until("alice to follow her failover", || async {
        alice
            .group_info(group)
            .await
            .is_ok_and(|g| !g.failing_over && g.sequencers == mailbox)
    })
    .await;
    alice.shutdown().await;
    // Back, her node makes the rename at the new log.
    let alice = make(0).spawn().await.unwrap();
    for node in [&alice, &bob] {
        until("both to follow the failover and see the rename", || async {
            node.group_info(group).await.is_ok_and(|g| {
                !g.failing_over
                    && g.sequencers == mailbox
                    && g.name == "renamed while down"
                    && g.unreachable_since_ms.is_none()
            })
        })
        .await;
    }
    ticking.abort();
    alice.shutdown().await;
    bob.shutdown().await;
}
