//! A group chat of real nodes on loopback TCP: how long until every member has a message,
//! and what the sender spends against sending the same text 1:1 to each member.
//!
//! One relay (every node's mailbox relay, so the group's sequencer) and `--members N` nodes
//! (default 50) in this process, each a contact of the creator. Once every record is in the
//! DHT, the creator makes the group and adds everyone (key packages asked for over the 1:1
//! path, Welcomes sent back). Then:
//!
//! - **latency**: `--messages M` (default 30) 1 KiB texts from the creator, one at a time,
//!   each timed from `send_to_group` until every other member has reported it
//!   (`GroupEvent::Message`): upload, the relay's synced append, the held reads answered,
//!   and each member's processing and commit;
//! - **receipts**: one more text, timed until the creator's count shows it delivered to
//!   every other member (`GroupEvent::Receipts`): each member's batching delay (2 s), its
//!   receipt through the log, and the creator reading them all;
//! - **sender cost**: the creator sends one 1 KiB text to the group, timed until the
//!   sequencer's receipt is checked (`GroupEvent::Stored`), and, as the baseline in the same
//!   run, the same text 1:1 to each of the other members, timed until every one is
//!   delivered (acknowledged durable by its recipient). Both are the sender's whole job;
//!   the medians of 20 group sends and 5 rounds of 1:1 sends, taken in turns, are compared.
//!   Each group send starts on a quiet network: after the previous one's receipts from every
//!   member are in (the 49 members share the two cores with the sender, and without the
//!   wait each send was timed while they still processed the one before and sent receipts).
//!
//! Run: `cargo bench -p tern-relay --bench group_delivery` (options: `-- --members N
//! --messages M`). Without `--bench` (a `cargo test --benches` run) it is 4 members.

#![allow(clippy::print_stdout, reason = "a benchmark program reports on stdout")]

use std::time::{Duration, Instant};

use futures::StreamExt;
use tern_node::{DeliveryState, Direction, Event, GroupEvent, GroupId, MessageId, Node};
use tokio::sync::mpsc;

const WAIT: Duration = Duration::from_secs(300);

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let args: Vec<String> = std::env::args().collect();
    let full = args.iter().any(|a| a == "--bench");
    let option = |name: &str, default: usize| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(default)
    };
    let members = option("--members", if full { 50 } else { 4 });
    let messages = option("--messages", if full { 30 } else { 3 });
    runtime.block_on(run(members, messages));
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

async fn run(members: usize, messages: usize) {
    let relay_dir = tempfile::tempdir().expect("tempdir");
    let relay = tern_relay::Relay::spawn(
        tern_relay::Config::new(relay_dir.path()).with_listen_addr("/ip4/127.0.0.1/tcp/0"),
    )
    .await
    .expect("relay");
    let address = relay.addresses().await[0].clone();
    let dirs: Vec<tempfile::TempDir> = (0..members)
        .map(|_| tempfile::tempdir().expect("tempdir"))
        .collect();
    let started = Instant::now();
    let mut nodes: Vec<Node> = Vec::with_capacity(members);
    for dir in &dirs {
        let node = tern_node::test_utils::builder(dir.path())
            .with_relay(address.clone())
            .spawn()
            .await
            .expect("node");
        nodes.push(node);
    }
    // Everyone's record is in the DHT before anyone looks one up (as in first_contact).
    tokio::time::timeout(WAIT, async {
        for node in &nodes {
            while !node.status().await.expect("status").record_current {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    })
    .await
    .expect("a record was never published");
    let creator = nodes[0].clone();
    for (i, node) in nodes.iter().enumerate().skip(1) {
        creator
            .add_contact(format!("m{i}"), node.user_id())
            .await
            .expect("contact");
        node.add_contact("creator", creator.user_id())
            .await
            .expect("contact");
    }

    // Each member's arrivals, as (member, message id).
    let (arrived_tx, mut arrived) = mpsc::channel::<(usize, MessageId)>(members * 4);
    for (i, node) in nodes.iter().enumerate().skip(1) {
        let mut events = node.events(tern_node::From::Now);
        let tx = arrived_tx.clone();
        tokio::spawn(async move {
            while let Some((_, event)) = events.next().await {
                if let Event::Group {
                    event: GroupEvent::Message(m),
                    ..
                } = event
                    && m.direction == Direction::Incoming
                    && tx.send((i, m.id)).await.is_err()
                {
                    return;
                }
            }
        });
    }

    let group = creator.create_group("bench").await.expect("group");
    let others: Vec<_> = nodes[1..].iter().map(Node::user_id).collect();
    creator
        .add_members(group, others.clone())
        .await
        .expect("add");
    tokio::time::timeout(WAIT, async {
        for node in &nodes {
            while node
                .group_info(group)
                .await
                .map_or(true, |g| g.members.len() < members)
            {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    })
    .await
    .expect("the group never took everyone in");
    let epoch = creator.group_info(group).await.expect("info").epoch;
    println!(
        "set up: {members} nodes, one relay, the group at epoch {epoch} after {:.1} s",
        started.elapsed().as_secs_f64()
    );

    let text = "x".repeat(1024);
    let mut latencies = Vec::with_capacity(messages);
    for _ in 0..messages {
        let sent = Instant::now();
        let id = creator.send_to_group(group, &text).await.expect("send");
        let mut have = std::collections::HashSet::new();
        tokio::time::timeout(WAIT, async {
            while have.len() < members - 1 {
                let (member, got) = arrived.recv().await.expect("arrivals");
                if got == id {
                    have.insert(member);
                }
            }
        })
        .await
        .expect("a member never got the message");
        latencies.push(sent.elapsed());
    }
    latencies.sort();
    println!(
        "latency to all {} other members, {messages} messages of 1 KiB: p50 {:.1} ms, p90 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        members - 1,
        ms(percentile(&latencies, 0.5)),
        ms(percentile(&latencies, 0.9)),
        ms(percentile(&latencies, 0.99)),
        ms(latencies[latencies.len() - 1]),
    );

    let receipts = all_receipts(&creator, group, &text, members - 1).await;
    println!(
        "receipts: one message shown delivered to all {} others after {:.2} s (each member acknowledges in a batch, 2 s after the first message it holds)",
        members - 1,
        receipts.as_secs_f64(),
    );

    // Medians of several samples of each side, taken in turns, so that what else the two
    // cores do at one moment weighs on both alike.
    let (mut group_costs, mut direct_costs) = (Vec::new(), Vec::new());
    for _ in 0..COST_ROUNDS {
        for _ in 0..GROUP_SAMPLES_PER_ROUND {
            group_costs.push(quiet_group_send(&creator, group, &text, members - 1).await);
        }
        direct_costs.push(one_to_one(&creator, &others, &text).await);
    }
    group_costs.sort();
    direct_costs.sort();
    let (group_cost, direct_cost) = (
        percentile(&group_costs, 0.5),
        percentile(&direct_costs, 0.5),
    );
    println!(
        "sender cost (medians of {} and {}): one group message stored {:.1} ms; the same to {} members 1:1, all delivered {:.1} ms; ratio {:.3}",
        group_costs.len(),
        direct_costs.len(),
        ms(group_cost),
        others.len(),
        ms(direct_cost),
        group_cost.as_secs_f64() / direct_cost.as_secs_f64(),
    );

    for node in nodes {
        node.shutdown().await;
    }
    relay.shutdown().await;
}

/// Rounds of the sender-cost comparison: in each, this many group sends and one 1:1 send
/// to every member.
const COST_ROUNDS: usize = 5;
const GROUP_SAMPLES_PER_ROUND: usize = 4;

/// One group message, timed until the sequencer's receipt is checked; returns once every
/// one of the `others` has acknowledged it, so that the next send starts on a quiet network.
async fn quiet_group_send(creator: &Node, group: GroupId, text: &str, others: usize) -> Duration {
    let mut events = creator.events(tern_node::From::Now);
    let started = Instant::now();
    let id = creator.send_to_group(group, text).await.expect("send");
    let mut stored = None;
    tokio::time::timeout(WAIT, async {
        while let Some((_, event)) = events.next().await {
            match event {
                Event::Group {
                    event: GroupEvent::Stored { id: s, .. },
                    ..
                } if s == id => {
                    stored.get_or_insert(started.elapsed());
                }
                Event::Group {
                    event: GroupEvent::Receipts { id: r, delivery },
                    ..
                } if r == id && delivery.delivered as usize == others => return,
                _ => {}
            }
        }
    })
    .await
    .expect("the receipts never came");
    stored.expect("stored before every member acknowledged it")
}

/// One group message, until the creator's count shows it delivered to all `others`.
async fn all_receipts(creator: &Node, group: GroupId, text: &str, others: usize) -> Duration {
    group_send_until(creator, group, text, |id, event| {
        matches!(event, GroupEvent::Receipts { id: counted, delivery }
            if *counted == id && delivery.delivered as usize == others)
    })
    .await
}

/// One group message, timed until the creator has a group event for which `done` (given the
/// message's id) holds.
async fn group_send_until(
    creator: &Node,
    group: GroupId,
    text: &str,
    done: impl Fn(MessageId, &GroupEvent) -> bool,
) -> Duration {
    let mut events = creator.events(tern_node::From::Now);
    let started = Instant::now();
    let id = creator.send_to_group(group, text).await.expect("send");
    tokio::time::timeout(WAIT, async {
        while let Some((_, event)) = events.next().await {
            if let Event::Group { event, .. } = event
                && done(id, &event)
            {
                return;
            }
        }
    })
    .await
    .expect("the group event never came");
    started.elapsed()
}

/// The same text 1:1 to each member, until every one is delivered.
async fn one_to_one(creator: &Node, others: &[tern_node::UserId], text: &str) -> Duration {
    let mut events = creator.events(tern_node::From::Now);
    let started = Instant::now();
    let mut waiting = std::collections::HashSet::new();
    for user in others {
        waiting.insert(creator.send(*user, text).await.expect("send"));
    }
    tokio::time::timeout(WAIT, async {
        while !waiting.is_empty() {
            if let Some((_, Event::DeliveryStateChanged { id, state, .. })) = events.next().await
                && state >= DeliveryState::Delivered
            {
                waiting.remove(&id);
            }
        }
    })
    .await
    .expect("never delivered");
    started.elapsed()
}
