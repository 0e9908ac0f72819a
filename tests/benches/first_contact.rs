//! The first message to a new contact between real daemons, as people send it.
//!
//! A network on loopback TCP of `tern-relay` and `tern daemon` processes: 3 relays and 27
//! daemons (30 DHT peers), every daemon with its mailbox at the 3 relays and nothing else
//! known but them. Pairs of daemons that never talked add each other as contacts through
//! their local API (`POST /v1/contacts` with the other's address, all that an invite
//! carries: no network address), then one sends the other a first message: timed from
//! `POST /v1/messages` on the sender until the `message_received` event on the recipient's
//! event stream. In between are the record lookup in the DHT, a one-time prekey taken from
//! the recipient's relay, PQXDH and delivery, all inside the daemons.
//!
//! Two arms in the same network: first with every DHT peer answering, then with 10 % of them
//! (the 3 daemons started first, so that they are in every routing table) stopped with
//! `SIGSTOP`: their kernel accepts TCP connections, but they never answer. The baseline is a second message on
//! each pair, over the session its first message made.
//!
//! Run (the binaries are found beside the benchmark executable, so build them with the same
//! profile first):
//!
//! ```sh
//! cargo build --release -p tern-cli -p tern-relay --bins
//! cargo bench -p tern-tests --bench first_contact          # options: -- --pairs N --stopped N
//! ```
//!
//! Without `--bench` (a `cargo test --benches` run) it is a small network and a few pairs.
//! `--trace` runs the first pair's two daemons with debug logs, which `TERN_TEST_LOG=1` shows
//! on standard error: the steps of one first message, with their times.

#![allow(clippy::print_stdout, reason = "a benchmark program reports on stdout")]

use std::{
    collections::HashSet,
    ops::Range,
    time::{Duration, Instant},
};

use serde_json::json;
use tern_tests::{Api, Daemon, Events, Profile, RelayProcess};

/// One daemon of the network, with its API connection and event stream. Fields drop in
/// order: the daemon stops before its profile directory goes.
struct Member {
    api: Api,
    events: Events,
    daemon: Daemon,
    profile: Profile,
    address: String,
}

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
    let daemons = option("--daemons", if full { 27 } else { 6 });
    let pairs = option("--pairs", if full { 64 } else { 4 });
    let stopped = option("--stopped", if full { 3 } else { 1 });
    assert!(
        stopped + 2 <= daemons,
        "--stopped leaves fewer than two daemons"
    );
    assert!(pairs >= 2, "--pairs must be at least 2, one for each arm");
    let traced = if args.iter().any(|a| a == "--trace") {
        2
    } else {
        0
    };
    runtime.block_on(run(daemons, stopped, pairs, traced));
}

/// Runs the benchmark; the first `traced` daemons log at debug level.
async fn run(daemons: usize, stopped: usize, pairs: usize, traced: usize) {
    let relay_dirs: Vec<tempfile::TempDir> = (0..3)
        .map(|_| tempfile::tempdir().expect("tempdir"))
        .collect();
    let (relays, relay_addresses) = RelayProcess::network(&relay_dirs).await;
    let relay_addresses: Vec<&str> = relay_addresses.iter().map(String::as_str).collect();

    let mut members = Vec::with_capacity(daemons);
    for i in 0..daemons {
        let profile = Profile::init(&relay_addresses).await;
        let mut args = vec!["--listen", "/ip4/127.0.0.1/tcp/0"];
        if i < traced {
            args.push("-vv");
        }
        let daemon = profile.daemon_with(&args).await;
        let address = profile.address().await;
        let api = daemon.connect().await;
        let events = Events::open(&daemon).await;
        members.push(Member {
            api,
            events,
            daemon,
            profile,
            address,
        });
    }
    for member in &members {
        member.profile.wait_online(relay_addresses.len()).await;
    }
    let peers = daemons + relays.len();
    println!(
        "network: {} relays and {daemons} daemons ({peers} DHT peers), every record published",
        relays.len()
    );

    let mut talked = HashSet::new();
    let mut baseline = Vec::new();
    let answering = first_contacts(&mut members, 0..daemons, pairs / 2, &mut talked).await;
    baseline.extend(second_messages(&mut members, &answering.pairs).await);

    // The first daemons stop: the longest in the network, they are in every routing table.
    // None of them sends or receives in the second arm.
    for member in &members[..stopped] {
        member.daemon.pause();
    }
    println!(
        "stopped {stopped} daemons ({:.0} % of the DHT peers)",
        100.0 * stopped as f64 / peers as f64
    );
    let with_stopped = first_contacts(
        &mut members,
        stopped..daemons,
        pairs - pairs / 2,
        &mut talked,
    )
    .await;
    baseline.extend(second_messages(&mut members, &with_stopped.pairs).await);

    let baseline = report("baseline: a message on an existing session", baseline);
    let stopped_arm = format!("first message, {stopped} of the {peers} DHT peers stopped");
    for (name, arm) in [
        ("first message, every DHT peer answering", answering),
        (stopped_arm.as_str(), with_stopped),
    ] {
        if arm.times.is_empty() {
            continue;
        }
        let p50 = report(name, arm.times);
        println!(
            "  p50 = {:.1}x the baseline",
            p50.as_secs_f64() / baseline.as_secs_f64()
        );
    }

    for member in &members[..stopped] {
        member.daemon.resume();
    }
    drop(members);
    drop(relays);
}

/// The first contacts of one arm: which pairs, and how long each first message took.
struct Arm {
    pairs: Vec<(usize, usize)>,
    times: Vec<Duration>,
}

/// `count` first messages between pairs of the members in `among` that never talked, each
/// pair once in either direction.
async fn first_contacts(
    members: &mut [Member],
    among: Range<usize>,
    count: usize,
    talked: &mut HashSet<(usize, usize)>,
) -> Arm {
    let mut arm = Arm {
        pairs: Vec::new(),
        times: Vec::new(),
    };
    let n = among.len();
    for k in 0..count {
        let s = among.start + k % n;
        let Some(r) = (1..n)
            .map(|d| among.start + (k % n + d + k / n) % n)
            .find(|r| *r != s && !talked.contains(&(s.min(*r), s.max(*r))))
        else {
            continue;
        };
        talked.insert((s.min(r), s.max(r)));
        for (a, b) in [(s, r), (r, s)] {
            let contact = json!({ "name": format!("m{b}"), "address": members[b].address });
            let (status, answer) = members[a]
                .api
                .request("POST", "/v1/contacts", Some(&contact))
                .await;
            assert!(matches!(status, 200 | 201), "adding a contact: {answer}");
        }
        arm.times.push(timed(members, s, r).await);
        arm.pairs.push((s, r));
    }
    arm
}

/// A second message on each of `pairs`, timed as the first.
async fn second_messages(members: &mut [Member], pairs: &[(usize, usize)]) -> Vec<Duration> {
    let mut times = Vec::with_capacity(pairs.len());
    for &(s, r) in pairs {
        times.push(timed(members, s, r).await);
    }
    times
}

/// Sends a message from member `s` to member `r` through `s`'s API and times it until `r`'s
/// event stream reports it.
async fn timed(members: &mut [Member], s: usize, r: usize) -> Duration {
    let started = Instant::now();
    let sent = members[s].api.send(&format!("m{r}"), "hello").await;
    let id = sent["id"].clone();
    loop {
        let event = members[r].events.next().await;
        if event["type"] == "message_received" && event["message"]["id"] == id {
            return started.elapsed();
        }
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// Prints the distribution of `times`; returns its median.
fn report(name: &str, mut times: Vec<Duration>) -> Duration {
    times.sort();
    let p50 = percentile(&times, 0.5);
    println!(
        "{name}: {} messages, p50 {:.1} ms, p90 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        times.len(),
        ms(p50),
        ms(percentile(&times, 0.9)),
        ms(percentile(&times, 0.99)),
        ms(times[times.len() - 1]),
    );
    p50
}
