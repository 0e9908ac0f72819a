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
//!   wait each send was timed while they still processed the one before and sent receipts);
//! - **the sender's own CPU time** in the same samples: the creator runs on a runtime of its
//!   own, whose threads are listed as they start, and the time the kernel counts for them
//!   (`/proc/self/task/<tid>/schedstat`) is read before and after each sample. Wall-clock
//!   time above also counts the members and the relay working on the same two cores; this
//!   counts only what the sender spends. For a group message it is given twice: until the
//!   sequencer's receipt is checked, and until every member's delivery receipt has been
//!   read from the log (49 more log entries to open, which in real use one receipt batch
//!   shares among all the messages of its 2 s).
//!
//! Run: `cargo bench -p tern-relay --bench group_delivery` (options: `-- --members N
//! --messages M`). Without `--bench` (a `cargo test --benches` run) it is 4 members.

#![allow(clippy::print_stdout, reason = "a benchmark program reports on stdout")]

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::StreamExt;
use tern_node::{DeliveryState, Direction, Event, GroupEvent, GroupId, MessageId, Node};
use tokio::sync::mpsc;

#[path = "support/args.rs"]
mod args;

use self::args::Args;

const WAIT: Duration = Duration::from_secs(300);

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let creator_threads = Threads::default();
    let listed = creator_threads.clone();
    let creator_runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        // Named, so that a profile can be read for the creator alone (`perf report --comm`).
        .thread_name("tern-creator")
        .on_thread_start(move || listed.add_current())
        // A blocking thread that ends takes its count with it: keep them for the whole run.
        .thread_keep_alive(Duration::from_secs(24 * 3600))
        .build()
        .expect("the creator's runtime");
    let args = Args::from_env();
    let full = args.full();
    let members = args.option("--members", if full { 50 } else { 4 });
    let messages = args.option("--messages", if full { 30 } else { 3 });
    runtime.block_on(run(
        members,
        messages,
        Creator {
            runtime: creator_runtime.handle().clone(),
            threads: creator_threads,
        },
    ));
}

/// The threads of the creator's runtime, and the CPU time they have used.
#[derive(Clone, Default)]
struct Threads(Arc<Mutex<Vec<u32>>>);

impl Threads {
    /// Lists the calling thread (run as each thread of the runtime starts).
    fn add_current(&self) {
        let link = std::fs::read_link("/proc/thread-self").expect("/proc/thread-self");
        let tid = link
            .file_name()
            .and_then(|name| name.to_str()?.parse().ok())
            .expect("a thread id");
        self.0.lock().expect("thread list").push(tid);
    }

    /// CPU time used by the listed threads so far (the first field of `schedstat`, in ns).
    fn cpu(&self) -> Duration {
        let tids = self.0.lock().expect("thread list").clone();
        let nanos: u64 = tids
            .iter()
            .map(|tid| {
                std::fs::read_to_string(format!("/proc/self/task/{tid}/schedstat"))
                    .ok()
                    .and_then(|stat| stat.split_whitespace().next()?.parse::<u64>().ok())
                    .expect("a listed thread's schedstat (threads are kept alive)")
            })
            .sum();
        Duration::from_nanos(nanos)
    }
}

/// Where the creator runs, and its threads' CPU time.
struct Creator {
    runtime: tokio::runtime::Handle,
    threads: Threads,
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

async fn run(members: usize, messages: usize, on: Creator) {
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
    for (i, dir) in dirs.iter().enumerate() {
        let builder = tern_node::test_utils::builder(dir.path()).with_relay(address.clone());
        // The creator's tasks run on its own runtime, the others' on this one.
        let node = if i == 0 {
            on.runtime.spawn(builder.spawn()).await.expect("spawned")
        } else {
            builder.spawn().await
        };
        nodes.push(node.expect("node"));
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
    // cores do at one moment weighs on both alike. Each sample runs on the creator's
    // runtime, so that its own handling of the events counts as the creator's CPU time.
    let (mut group_costs, mut direct_costs) = (Vec::new(), Vec::new());
    let mut receipt_cpus = Vec::new();
    for _ in 0..COST_ROUNDS {
        for _ in 0..GROUP_SAMPLES_PER_ROUND {
            let (creator, text, threads) = (creator.clone(), text.clone(), on.threads.clone());
            let sample = on.runtime.spawn(async move {
                quiet_group_send(&creator, group, &text, members - 1, &threads).await
            });
            let (cost, receipts_read) = sample.await.expect("a group sample");
            group_costs.push(cost);
            receipt_cpus.push(receipts_read);
        }
        let (creator, others, text, threads) = (
            creator.clone(),
            others.clone(),
            text.clone(),
            on.threads.clone(),
        );
        let sample = on
            .runtime
            .spawn(async move { one_to_one(&creator, &others, &text, &threads).await });
        direct_costs.push(sample.await.expect("a 1:1 sample"));
    }
    let median = |costs: &[Cost], of: fn(&Cost) -> Duration| {
        let mut values: Vec<Duration> = costs.iter().map(of).collect();
        values.sort();
        percentile(&values, 0.5)
    };
    let (group_wall, direct_wall) = (
        median(&group_costs, |c| c.wall),
        median(&direct_costs, |c| c.wall),
    );
    println!(
        "sender cost (medians of {} and {}): one group message stored {:.1} ms; the same to {} members 1:1, all delivered {:.1} ms; ratio {:.3}",
        group_costs.len(),
        direct_costs.len(),
        ms(group_wall),
        others.len(),
        ms(direct_wall),
        ratio(group_wall, direct_wall),
    );
    let (group_cpu, with_receipts, direct_cpu) = (
        median(&group_costs, |c| c.cpu),
        {
            receipt_cpus.sort();
            percentile(&receipt_cpus, 0.5)
        },
        median(&direct_costs, |c| c.cpu),
    );
    println!(
        "sender CPU time (same samples): group message until stored {:.2} ms, until every receipt is read {:.2} ms; 1:1 to {} members until delivered {:.2} ms; ratios {:.3} and {:.3}",
        ms(group_cpu),
        ms(with_receipts),
        others.len(),
        ms(direct_cpu),
        ratio(group_cpu, direct_cpu),
        ratio(with_receipts, direct_cpu),
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

fn ratio(a: Duration, b: Duration) -> f64 {
    a.as_secs_f64() / b.as_secs_f64()
}

/// One sample of what sending costs the sender.
struct Cost {
    /// From the send until done (stored, or delivered to everyone).
    wall: Duration,
    /// The sender's threads' CPU time over the same span.
    cpu: Duration,
}

/// One group message, timed until the sequencer's receipt is checked; returns once every
/// one of the `others` has acknowledged it, so that the next send starts on a quiet network,
/// with the sender's CPU time until then (every member's receipt read).
async fn quiet_group_send(
    creator: &Node,
    group: GroupId,
    text: &str,
    others: usize,
    threads: &Threads,
) -> (Cost, Duration) {
    let mut events = creator.events(tern_node::From::Now);
    let (started, cpu) = (Instant::now(), threads.cpu());
    let id = creator.send_to_group(group, text).await.expect("send");
    let mut stored = None;
    tokio::time::timeout(WAIT, async {
        while let Some((_, event)) = events.next().await {
            match event {
                Event::Group {
                    event: GroupEvent::Stored { id: s, .. },
                    ..
                } if s == id => {
                    stored.get_or_insert((started.elapsed(), threads.cpu() - cpu));
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
    let (wall, stored_cpu) = stored.expect("stored before every member acknowledged it");
    (
        Cost {
            wall,
            cpu: stored_cpu,
        },
        threads.cpu() - cpu,
    )
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
async fn one_to_one(
    creator: &Node,
    others: &[tern_node::UserId],
    text: &str,
    threads: &Threads,
) -> Cost {
    let mut events = creator.events(tern_node::From::Now);
    let (started, cpu) = (Instant::now(), threads.cpu());
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
    Cost {
        wall: started.elapsed(),
        cpu: threads.cpu() - cpu,
    }
}
