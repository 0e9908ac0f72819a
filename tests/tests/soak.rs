//! Long uptime under steady traffic: one `tern-relay` and two `tern daemon` processes (Alice and
//! Bob, their mailboxes at that relay), each daemon sending the other a message every 100 ms
//! through its local API for `TERN_SOAK_SECS` seconds (default 600). Each process's memory,
//! open descriptors and data on disk are sampled after a warm-up and at the end, and every
//! message must arrive exactly once. Real processes, loopback only.
//!
//! A benchmark, not a check CI runs: it takes as long as it is told to. See
//! `docs/benchmarks.md` for how to run it and the numbers of the last run.
#![allow(
    clippy::print_stderr,
    reason = "the start and end numbers are the benchmark's output"
)]

use std::{
    collections::BTreeMap,
    path::Path,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use serde_json::Value;
use tern_tests::{Api, Daemon, Profile, RelayProcess, eventually};
use tokio::{
    sync::watch,
    task::JoinHandle,
    time::{Instant, MissedTickBehavior},
};

/// How often each daemon sends: ten messages a second each way is a very busy chat, steady,
/// and well below the roughly 1,000 requests/s the API takes (docs/benchmarks.md), so the
/// run measures a long uptime rather than a saturated daemon.
const SEND_INTERVAL: Duration = Duration::from_millis(100);

/// The run length when `TERN_SOAK_SECS` is not set: ten minutes is long enough for a leak of
/// a few bytes per message to show as megabytes, short enough to run before a release.
const DEFAULT_SECS: u64 = 600;

/// Traffic before the first sample, so that what grows afterwards is growth under load, not
/// start-up: sessions, connections, caches and the database's first memtables settle in it.
const WARM_UP: Duration = Duration::from_secs(20);

/// How often a progress line (messages and memory so far) is printed during the run.
const PROGRESS: Duration = Duration::from_secs(60);

/// What one process uses at one moment.
#[derive(Debug, Clone, Copy)]
struct Usage {
    /// Resident memory, `VmRSS` in `/proc/<pid>/status`.
    rss_kib: u64,
    /// Entries in `/proc/<pid>/fd`.
    open_files: u64,
    /// The sizes of all files under its data directory.
    disk_bytes: u64,
}

impl Usage {
    fn of(pid: u32, dir: &Path) -> Self {
        let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
            .unwrap_or_else(|e| panic!("/proc/{pid}/status: {e}"));
        let rss_kib = status
            .lines()
            .find_map(|line| line.strip_prefix("VmRSS:"))
            .and_then(|value| value.trim().strip_suffix("kB"))
            .and_then(|kib| kib.trim().parse().ok())
            .unwrap_or_else(|| panic!("no VmRSS in /proc/{pid}/status"));
        let open_files = std::fs::read_dir(format!("/proc/{pid}/fd"))
            .unwrap_or_else(|e| panic!("/proc/{pid}/fd: {e}"))
            .count()
            .try_into()
            .expect("a count that fits u64");
        Self {
            rss_kib,
            open_files,
            disk_bytes: disk_bytes(dir),
        }
    }
}

/// The sizes of the regular files under `dir`, recursively. Files the database removes while
/// they are being counted (compaction) are skipped.
fn disk_bytes(dir: &Path) -> u64 {
    let mut total = 0;
    let mut stack = vec![dir.to_owned()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let Ok(metadata) = entry.path().symlink_metadata() else {
                continue;
            };
            if metadata.is_dir() {
                stack.push(entry.path());
            } else if metadata.is_file() {
                total += metadata.len();
            }
        }
    }
    total
}

/// The three processes and the two message counts at one moment.
#[derive(Debug)]
struct Sample {
    alice: Usage,
    bob: Usage,
    relay: Usage,
    /// Messages Alice's API accepted for Bob, and Bob's for Alice.
    sent: [u64; 2],
    /// Soak messages in Bob's history from Alice, and in Alice's from Bob.
    received: [u64; 2],
}

/// The text of message `n` from `from` to `to`: unique, so duplicates and losses show.
fn text(from: &str, to: &str, n: u64) -> String {
    format!("soak {from} to {to} #{n}")
}

/// The texts of the soak messages from `from` in `receiver`'s history with it.
async fn received(receiver: &Daemon, from: &str) -> Vec<String> {
    let prefix = format!("soak {from} to ");
    receiver
        .connect()
        .await
        .history(from)
        .await
        .iter()
        .filter(|m| m["direction"] == "incoming")
        .filter_map(|m| m["text"].as_str())
        .filter(|t| t.starts_with(&prefix))
        .map(str::to_owned)
        .collect()
}

/// Whether `sender`'s API shows every message it sent to `to` as delivered.
async fn all_delivered(sender: &Daemon, to: &str) -> bool {
    sender
        .connect()
        .await
        .history(to)
        .await
        .iter()
        .filter(|m: &&Value| m["direction"] == "outgoing")
        .all(|m| m["delivery"]["state"] == "delivered")
}

/// Sends message after message from `from` to `to` through `api`, one every
/// [`SEND_INTERVAL`] (a late tick delays the next rather than bunching up), until `stop`
/// changes. `sent` counts the messages the API accepted; the task returns the final count.
fn sender(
    mut api: Api,
    from: &'static str,
    to: &'static str,
    sent: Arc<AtomicU64>,
    mut stop: watch::Receiver<bool>,
) -> JoinHandle<u64> {
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(SEND_INTERVAL);
        ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let mut n = 0;
        loop {
            tokio::select! {
                biased;
                _ = stop.changed() => break,
                _ = ticks.tick() => {
                    api.send(to, &text(from, to, n)).await;
                    n += 1;
                    sent.store(n, Ordering::Relaxed);
                }
            }
        }
        n
    })
}

/// Waits until `receiver` holds as many soak messages from `from` as were sent, and the
/// sender sees them all delivered, then checks that each arrived exactly once.
async fn arrived_exactly_once(sender: &Daemon, receiver: &Daemon, from: &str, to: &str, sent: u64) {
    let what = format!("{to} to receive all {sent} messages from {from}");
    eventually(&what, || async {
        let count = received(receiver, from).await.len();
        (u64::try_from(count).ok()? >= sent).then_some(())
    })
    .await;
    let what = format!("{from} to see all its messages to {to} delivered");
    eventually(&what, || async {
        all_delivered(sender, to).await.then_some(())
    })
    .await;

    let mut counts: BTreeMap<String, u64> = BTreeMap::new();
    for text in received(receiver, from).await {
        *counts.entry(text).or_default() += 1;
    }
    let duplicated: Vec<&String> = counts
        .iter()
        .filter(|(_, count)| **count > 1)
        .map(|(text, _)| text)
        .collect();
    let missing: Vec<String> = (0..sent)
        .map(|n| text(from, to, n))
        .filter(|t| !counts.contains_key(t))
        .collect();
    let total: u64 = counts.values().sum();
    assert!(
        duplicated.is_empty() && missing.is_empty() && total == sent,
        "{from} to {to}: {sent} sent, {total} received; duplicated: {:?}; missing: {:?}",
        &duplicated[..duplicated.len().min(10)],
        &missing[..missing.len().min(10)],
    );
}

/// Samples the three processes and counts the messages so far.
async fn sample(
    alice: (&Daemon, &Profile),
    bob: (&Daemon, &Profile),
    relay: &RelayProcess,
    sent: [&AtomicU64; 2],
) -> Sample {
    // Received before sent, so that a message sent in between cannot make the received
    // count look larger than the sent one.
    let received = [
        received(bob.0, "alice").await.len(),
        received(alice.0, "bob").await.len(),
    ];
    Sample {
        alice: Usage::of(alice.0.pid(), alice.1.path()),
        bob: Usage::of(bob.0.pid(), bob.1.path()),
        relay: Usage::of(relay.pid(), relay.dir()),
        sent: sent.map(|count| count.load(Ordering::Relaxed)),
        received: received.map(|count| count.try_into().expect("a count that fits u64")),
    }
}

fn mib(kib: u64) -> String {
    format!("{:.1} MiB", kib as f64 / 1024.0)
}

fn size(bytes: u64) -> String {
    if bytes < 1024 * 1024 {
        format!("{:.0} KiB", bytes as f64 / 1024.0)
    } else {
        format!("{:.1} MiB", bytes as f64 / (1024.0 * 1024.0))
    }
}

/// Prints the start and end numbers as Markdown tables, ready for docs/benchmarks.md.
fn report(secs: u64, start: &Sample, end: &Sample) {
    eprintln!();
    eprintln!(
        "soak: {secs} s of traffic after a {} s warm-up, one message every {} ms each way",
        WARM_UP.as_secs(),
        SEND_INTERVAL.as_millis()
    );
    eprintln!();
    eprintln!(
        "| process | RSS start | RSS end | open files start | open files end | data start | data end |"
    );
    eprintln!("|---|---|---|---|---|---|---|");
    for (name, a, b) in [
        ("Alice's daemon", start.alice, end.alice),
        ("Bob's daemon", start.bob, end.bob),
        ("relay", start.relay, end.relay),
    ] {
        eprintln!(
            "| {name} | {} | {} | {} | {} | {} | {} |",
            mib(a.rss_kib),
            mib(b.rss_kib),
            a.open_files,
            b.open_files,
            size(a.disk_bytes),
            size(b.disk_bytes),
        );
    }
    eprintln!();
    eprintln!("| messages | sent start | sent end | received start | received end |");
    eprintln!("|---|---|---|---|---|");
    for (i, direction) in ["Alice to Bob", "Bob to Alice"].iter().enumerate() {
        eprintln!(
            "| {direction} | {} | {} | {} | {} |",
            start.sent[i], end.sent[i], start.received[i], end.received[i]
        );
    }
    eprintln!();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "soak benchmark: run explicitly, see docs/benchmarks.md"]
async fn two_daemons_and_a_relay_stay_flat_under_steady_traffic() {
    let secs = std::env::var("TERN_SOAK_SECS").map_or(DEFAULT_SECS, |value| {
        value
            .parse()
            .unwrap_or_else(|_| panic!("TERN_SOAK_SECS is a number of seconds, not {value:?}"))
    });

    let relay_dir = tempfile::tempdir().expect("tempdir");
    let relay = RelayProcess::start(relay_dir.path(), &[]);
    let (relay_address, _) = relay.address().await;
    let alice = Profile::init(&[&relay_address]).await;
    let bob = Profile::init(&[&relay_address]).await;
    alice.add_contact("bob", &bob).await;
    bob.add_contact("alice", &alice).await;
    let alice_daemon = alice.daemon().await;
    let bob_daemon = bob.daemon().await;
    alice.wait_online(1).await;
    bob.wait_online(1).await;

    // Sessions in both directions before the steady traffic starts.
    alice_daemon.connect().await.send("bob", "hello bob").await;
    eventually("bob to receive the first message", || async {
        let history = bob_daemon.connect().await.history("alice").await;
        history
            .iter()
            .any(|m| m["text"] == "hello bob")
            .then_some(())
    })
    .await;
    bob_daemon
        .connect()
        .await
        .send("alice", "hello alice")
        .await;
    eventually("alice to receive the reply", || async {
        let history = alice_daemon.connect().await.history("bob").await;
        history
            .iter()
            .any(|m| m["text"] == "hello alice")
            .then_some(())
    })
    .await;

    let (stop, stopped) = watch::channel(false);
    let counts = [Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0))];
    let senders = [
        sender(
            alice_daemon.connect().await,
            "alice",
            "bob",
            Arc::clone(&counts[0]),
            stopped.clone(),
        ),
        sender(
            bob_daemon.connect().await,
            "bob",
            "alice",
            Arc::clone(&counts[1]),
            stopped,
        ),
    ];
    let sent = [counts[0].as_ref(), counts[1].as_ref()];

    tokio::time::sleep(WARM_UP).await;
    let start = sample((&alice_daemon, &alice), (&bob_daemon, &bob), &relay, sent).await;
    let began = Instant::now();
    let end = began + Duration::from_secs(secs);
    while Instant::now() < end {
        tokio::time::sleep_until((Instant::now() + PROGRESS).min(end)).await;
        let (a, b, r) = (
            Usage::of(alice_daemon.pid(), alice.path()),
            Usage::of(bob_daemon.pid(), bob.path()),
            Usage::of(relay.pid(), relay.dir()),
        );
        eprintln!(
            "soak: {:>4} s, sent {} and {}, RSS {} / {} / {}, open files {} / {} / {}",
            began.elapsed().as_secs(),
            sent[0].load(Ordering::Relaxed),
            sent[1].load(Ordering::Relaxed),
            mib(a.rss_kib),
            mib(b.rss_kib),
            mib(r.rss_kib),
            a.open_files,
            b.open_files,
            r.open_files,
        );
    }
    let end = sample((&alice_daemon, &alice), (&bob_daemon, &bob), &relay, sent).await;

    stop.send(true).expect("the senders are running");
    let mut totals = [0; 2];
    for (total, sender) in totals.iter_mut().zip(senders) {
        *total = sender.await.expect("a sender finished");
    }
    arrived_exactly_once(&alice_daemon, &bob_daemon, "alice", "bob", totals[0]).await;
    arrived_exactly_once(&bob_daemon, &alice_daemon, "bob", "alice", totals[1]).await;

    report(secs, &start, &end);
    eprintln!(
        "all {} messages from Alice and {} from Bob arrived exactly once",
        totals[0], totals[1]
    );

    alice_daemon.stop().await;
    bob_daemon.stop().await;
    relay.stop().await;
}
