//! A group's sequencers failing it, through real relays: entries that expired before a member
//! read them, a sequencer that missed a commit or a message, and sequencers that lost the log.
mod support;

use support::{
    groups::{
        befriend, fixed_port, group_event, group_refusals, in_a_group, received, relay,
        rename_seen, texts, three_in_a_group,
    },
    node_builder as builder, until,
};
use tern_node::{GroupEvent, GroupId, Node};

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
        let group = in_a_group(&alice, &bob, name).await;
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
