//! End-to-end delivery benchmark: two real nodes over loopback TCP, every write durable
//! (synced) on both ends, 1 KiB texts.
//!
//! Measures, in one run:
//! - one-way latency from `send` to the recipient's `MessageReceived` event (p50, p99), one
//!   message at a time;
//! - sustained throughput with acks: messages per second from the first `send` until the
//!   sender has seen `Delivered` for every message, with several concurrent senders;
//! - the resident memory of an idle node (a child process running one node);
//! - as the baseline, the cost of one synced 1 KiB file write on the same disk (a durable
//!   delivery needs at least two: the sender's outbox write and the recipient's commit).
//!
//! Every round runs twice, one arm after the other on fresh nodes, both pipelined on a
//! delivery stream (`/tern/deliver/2`): first with every direct delivery sealed to the
//! recipient's mailbox key as well (`Builder::with_sealed_direct_deliveries`, what nodes did
//! before direct envelopes), then with direct envelopes (the default). `--per-envelope`
//! adds a third arm, direct envelopes on `/tern/msg/2` alone (a request-response stream per
//! envelope, as before delivery streams existed).
//!
//! Run: `cargo bench -p tern-node --bench delivery` (options: `-- --messages N
//! --throughput N --rounds N`). Results go to stdout; `docs/benchmarks.md` records them.

#![allow(clippy::print_stdout, reason = "a benchmark program reports on stdout")]

use std::{
    collections::HashSet,
    io::Write,
    time::{Duration, Instant},
};

use futures::StreamExt;
use tern_node::{DeliveryState, Event, Node};

/// Upper bound for anything the benchmark waits for, so a broken build fails instead of
/// hanging.
const WAIT: Duration = Duration::from_secs(300);
/// Concurrent senders in the throughput run: enough to let group commit batch writes.
const SENDERS: usize = 64;
/// How long the idle node runs before its memory is read: past start-up and bootstrap.
const IDLE_SETTLE: Duration = Duration::from_secs(10);
const IDLE_CHILD_ENV: &str = "TERN_BENCH_IDLE_CHILD";

fn main() {
    if std::env::var_os(IDLE_CHILD_ENV).is_some() {
        idle_child();
        return;
    }
    let args: Vec<String> = std::env::args().collect();
    let option = |name: &str, default: usize| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(default)
    };
    // `cargo bench` passes `--bench`; a plain `cargo test` run of benches passes nothing
    // and should stay quick.
    let full = args.iter().any(|a| a == "--bench");
    let latency_messages = option("--messages", if full { 2000 } else { 20 });
    let throughput_messages = option("--throughput", if full { 20_000 } else { 100 });
    let rounds = option("--rounds", 1);

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");
    let mut arms = vec![
        Arm {
            name: "sealed envelopes on a delivery stream (before)",
            streams: true,
            sealed: true,
        },
        Arm {
            name: "direct envelopes on a delivery stream",
            streams: true,
            sealed: false,
        },
    ];
    if args.iter().any(|a| a == "--per-envelope") {
        arms.push(Arm {
            name: "direct envelopes, a stream per envelope (/tern/msg/2)",
            streams: false,
            sealed: false,
        });
    }
    for round in 1..=rounds {
        for arm in &arms {
            println!("round {round}, {}:", arm.name);
            runtime.block_on(run(arm, latency_messages, throughput_messages));
        }
    }
    if full {
        idle_rss();
    }
}

/// One way of delivering that a round measures.
struct Arm {
    name: &'static str,
    /// Pipelined on delivery streams (else a request-response stream per envelope).
    streams: bool,
    /// Direct deliveries sealed to the mailbox key too (else direct envelopes).
    sealed: bool,
}

async fn start(dir: &std::path::Path, bootstrap: &[String], arm: &Arm) -> Node {
    let mut builder = tern_node::test_utils::builder(dir)
        .with_delivery_streams(arm.streams)
        .with_sealed_direct_deliveries(arm.sealed);
    for address in bootstrap {
        builder = builder.with_bootstrap(address.clone());
    }
    builder.spawn().await.expect("node starts")
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index.min(sorted.len() - 1)]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

async fn run(arm: &Arm, latency_messages: usize, throughput_messages: usize) {
    let dirs = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let alice = start(dirs.0.path(), &[], arm).await;
    let bob = start(dirs.1.path(), &alice.addresses().await, arm).await;
    let (a, b) = (alice.user_id(), bob.user_id());
    alice.add_contact("bob", b).await.unwrap();
    bob.add_contact("alice", a).await.unwrap();
    let text = "x".repeat(1024);

    let fsync = fsync_baseline(dirs.0.path(), 500);
    println!(
        "baseline: synced 1 KiB file write p50 {:.3} ms, p99 {:.3} ms",
        ms(fsync.0),
        ms(fsync.1)
    );

    // Warm up: the first message sets up the session (a DHT lookup and PQXDH).
    let mut bob_events = bob.events(tern_node::From::Oldest);
    let mut alice_events = alice.events(tern_node::From::Oldest);
    let started = Instant::now();
    let first = alice.send(b, text.clone()).await.unwrap();
    wait(
        &mut bob_events,
        |e| matches!(e, Event::MessageReceived(m) if m.id == first),
    )
    .await;
    println!(
        "first message (lookup + session setup): {:.1} ms",
        ms(started.elapsed())
    );
    // Bob answers once, as people do: he looks Alice up, so he knows that the peer sending
    // him sealed envelopes is her device, which earns her device a contact's rate.
    let reply = bob.send(a, "hello").await.unwrap();
    wait(
        &mut alice.events(tern_node::From::Oldest),
        |e| matches!(e, Event::MessageReceived(m) if m.id == reply),
    )
    .await;

    let mut latencies = Vec::with_capacity(latency_messages);
    for _ in 0..latency_messages {
        let started = Instant::now();
        let id = alice.send(b, text.clone()).await.unwrap();
        wait(
            &mut bob_events,
            |e| matches!(e, Event::MessageReceived(m) if m.id == id),
        )
        .await;
        latencies.push(started.elapsed());
    }
    latencies.sort();
    println!(
        "latency, {} messages one at a time: p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms \
         (p50 = {:.1}x the synced write)",
        latency_messages,
        ms(percentile(&latencies, 0.5)),
        ms(percentile(&latencies, 0.99)),
        ms(*latencies.last().unwrap()),
        percentile(&latencies, 0.5).as_secs_f64() / fsync.0.as_secs_f64(),
    );

    // Let the acks of the latency run drain before measuring throughput.
    drain_delivered(&mut alice_events, latency_messages + 1).await;

    let started = Instant::now();
    let mut senders = tokio::task::JoinSet::new();
    for s in 0..SENDERS {
        let alice = alice.clone();
        let text = text.clone();
        let count = throughput_messages / SENDERS + usize::from(s < throughput_messages % SENDERS);
        senders.spawn(async move {
            let mut ids = Vec::with_capacity(count);
            for _ in 0..count {
                ids.push(alice.send(b, text.clone()).await.unwrap());
            }
            ids
        });
    }
    let mut pending = HashSet::new();
    while let Some(ids) = senders.join_next().await {
        pending.extend(ids.unwrap());
    }
    let accepted = started.elapsed();
    tokio::time::timeout(WAIT, async {
        while !pending.is_empty() {
            match alice_events.next().await {
                Some((
                    _,
                    Event::DeliveryStateChanged {
                        id,
                        state: DeliveryState::Delivered,
                        ..
                    },
                )) => {
                    pending.remove(&id);
                }
                Some(_) => {}
                None => panic!("event stream ended"),
            }
        }
    })
    .await
    .expect("every message acknowledged in time");
    let elapsed = started.elapsed();
    println!(
        "throughput, {} messages from {} concurrent senders: {:.0} messages/s acknowledged \
         ({:.0}/s accepted into the outbox)",
        throughput_messages,
        SENDERS,
        throughput_messages as f64 / elapsed.as_secs_f64(),
        throughput_messages as f64 / accepted.as_secs_f64(),
    );
    // Deliveries the recipient refused for a while (each is tried again later), which
    // stretch a run: over the sender's rate, or with its pipeline full.
    let refused = bob.status().await.unwrap().rejections;
    println!(
        "recipient answered busy: {} over the sender's rate, {} with a full pipeline",
        refused.get("delivery_rate_limited").unwrap_or(&0),
        refused.get("delivery_busy").unwrap_or(&0),
    );

    alice.shutdown().await;
    bob.shutdown().await;
}

async fn wait(events: &mut tern_node::EventStream, mut pick: impl FnMut(&Event) -> bool) {
    tokio::time::timeout(WAIT, async {
        while let Some((_, event)) = events.next().await {
            if pick(&event) {
                return;
            }
        }
        panic!("event stream ended");
    })
    .await
    .expect("event in time");
}

async fn drain_delivered(events: &mut tern_node::EventStream, mut count: usize) {
    tokio::time::timeout(WAIT, async {
        while count > 0 {
            if let Some((
                _,
                Event::DeliveryStateChanged {
                    state: DeliveryState::Delivered,
                    ..
                },
            )) = events.next().await
            {
                count -= 1;
            }
        }
    })
    .await
    .expect("acks in time");
}

/// p50 and p99 of writing 1 KiB to a file and syncing it, in `dir` (the same disk).
fn fsync_baseline(dir: &std::path::Path, rounds: usize) -> (Duration, Duration) {
    let mut file = std::fs::File::create(dir.join("fsync-baseline")).unwrap();
    let block = [7u8; 1024];
    let mut times = Vec::with_capacity(rounds);
    for _ in 0..rounds {
        let started = Instant::now();
        file.write_all(&block).unwrap();
        file.sync_data().unwrap();
        times.push(started.elapsed());
    }
    times.sort();
    (percentile(&times, 0.5), percentile(&times, 0.99))
}

/// Runs this program again as a child holding one idle node and reports its resident memory.
fn idle_rss() {
    let output = std::process::Command::new(std::env::current_exe().unwrap())
        .env(IDLE_CHILD_ENV, "1")
        .output()
        .unwrap();
    assert!(output.status.success(), "idle child failed: {output:?}");
    print!("{}", String::from_utf8_lossy(&output.stdout));
}

fn idle_child() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");
    runtime.block_on(async {
        let dir = tempfile::tempdir().unwrap();
        let node = start(
            dir.path(),
            &[],
            &Arm {
                name: "idle",
                streams: true,
                sealed: false,
            },
        )
        .await;
        node.addresses().await;
        tokio::time::sleep(IDLE_SETTLE).await;
        let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
        let field = |name: &str| {
            status
                .lines()
                .find(|l| l.starts_with(name))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<u64>().ok())
                .unwrap_or(0)
        };
        // File-backed pages are mostly the program's own code: shared, and given back to
        // the kernel under memory pressure. Anonymous ones are what the node itself holds.
        println!(
            "idle node after {} s: RSS {:.1} MB (peak {:.1} MB): anonymous {:.1} MB, \
             file-backed {:.1} MB",
            IDLE_SETTLE.as_secs(),
            field("VmRSS:") as f64 / 1024.0,
            field("VmHWM:") as f64 / 1024.0,
            field("RssAnon:") as f64 / 1024.0,
            field("RssFile:") as f64 / 1024.0,
        );
        node.shutdown().await;
    });
}
