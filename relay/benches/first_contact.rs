//! The first message to a new contact in a network where some DHT peers do not answer.
//!
//! A network of 30 DHT peers on loopback TCP: 3 relays, 24 nodes in this process and 3 nodes
//! in child processes, every node using the 3 relays for its mailbox. Once every record is
//! published, the benchmark stops the 3 child processes (`SIGSTOP`): 10 % of the DHT is
//! black-holed, accepting TCP connections and never answering, as a peer whose link has
//! stalled. Then pairs of nodes that never talked send each other a first message: a record
//! lookup, a one-time prekey taken from the recipient's relay, PQXDH, and direct delivery,
//! timed from `send` until the recipient's `MessageReceived`.
//!
//! Half of the senders run with the default lookup grace (a lookup answers shortly after
//! its first valid record) and half with a grace past the query timeout, which waits for the
//! whole Kademlia query as nodes did before: both in the same network and the same minutes.
//! The baseline is a message on a session that already exists, on the same pairs.
//!
//! Run: `cargo bench -p tern-relay --bench first_contact` (options: `-- --pairs N --stopped N`). Without
//! `--bench` (a `cargo test --benches` run) it is a small network and a few pairs.

#![allow(clippy::print_stdout, reason = "a benchmark program reports on stdout")]

use std::{
    collections::HashSet,
    io::{BufRead, BufReader},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use futures::StreamExt;
use tern_node::{Event, EventStream, Node};

#[path = "support/args.rs"]
mod args;

use self::args::Args;

const WAIT: Duration = Duration::from_secs(180);
/// Set in a child process: the bootstrap address and the relays, to run one node.
const CHILD_ENV: &str = "TERN_BENCH_FIRST_CONTACT_CHILD";
/// The "before" arm's grace: past the 30 s query timeout, so a lookup waits for the query.
const WHOLE_QUERY: Duration = Duration::from_secs(60);

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    if let Ok(addresses) = std::env::var(CHILD_ENV) {
        runtime.block_on(child(&addresses));
        return;
    }
    let args = Args::from_env();
    let full = args.full();
    let pairs = args.option("--pairs", if full { 64 } else { 4 });
    let (nodes, stopped) = if full { (24, 3) } else { (6, 1) };
    // `--stopped 0` measures the same network with every peer answering.
    let stopped = args.option("--stopped", stopped);
    runtime.block_on(run(nodes, stopped, pairs));
}

/// A node with the relays, bootstrapped from the first relay.
async fn node(dir: &std::path::Path, relays: &[String], grace: Option<Duration>) -> Node {
    let mut builder = tern_node::test_utils::builder(dir)
        .with_bootstrap(relays[0].clone())
        .with_relay_discovery(false);
    for relay in relays {
        builder = builder.with_relay(relay.clone());
    }
    if let Some(grace) = grace {
        builder = builder.with_lookup_grace(grace);
    }
    builder.spawn().await.expect("node")
}

/// Waits until `node` has published its current record.
async fn published(node: &Node) {
    tokio::time::timeout(WAIT, async {
        while !node.status().await.expect("status").record_current {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
    .expect("record never published");
}

/// A child process: one node that says when its record is published, then runs until its
/// standard input closes (or it is killed; the parent stops it first).
async fn child(relays: &str) {
    let relays: Vec<String> = relays.split(' ').map(str::to_owned).collect();
    let dir = tempfile::tempdir().expect("tempdir");
    let node = node(dir.path(), &relays, None).await;
    published(&node).await;
    println!("ready");
    tokio::task::spawn_blocking(|| {
        let mut line = String::new();
        while std::io::stdin().read_line(&mut line).is_ok_and(|n| n > 0) {}
    })
    .await
    .expect("stdin");
    node.shutdown().await;
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// Sends one message from `from` to `to` and times it until `to` receives it.
async fn timed(from: &Node, to: &Node, events: &mut EventStream) -> Duration {
    let started = Instant::now();
    let id = from.send(to.user_id(), "hello").await.expect("send");
    tokio::time::timeout(WAIT, async {
        while let Some((_, event)) = events.next().await {
            if let Event::MessageReceived(m) = event
                && m.id == id
            {
                return;
            }
        }
        panic!("event stream ended");
    })
    .await
    .expect("the message never arrived");
    started.elapsed()
}

fn report(name: &str, times: &mut [Duration]) -> Duration {
    times.sort();
    let p50 = percentile(times, 0.5);
    println!(
        "{name}: {} messages, p50 {:.1} ms, p90 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        times.len(),
        ms(p50),
        ms(percentile(times, 0.9)),
        ms(percentile(times, 0.99)),
        ms(times[times.len() - 1]),
    );
    p50
}

async fn run(nodes: usize, stopped: usize, pairs: usize) {
    let mut relays = Vec::new();
    let mut relay_dirs = Vec::new();
    let mut relay_addresses: Vec<String> = Vec::new();
    for _ in 0..3 {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut config =
            tern_relay::Config::new(dir.path()).with_listen_addr("/ip4/127.0.0.1/tcp/0");
        if let Some(first) = relay_addresses.first() {
            config = config.with_bootstrap(first.clone());
        }
        let relay = tern_relay::Relay::spawn(config).await.expect("relay");
        relay_addresses.push(relay.addresses().await[0].clone());
        relays.push(relay);
        relay_dirs.push(dir);
    }

    // The nodes to stop, in child processes, first: they are in every routing table.
    let exe = std::env::current_exe().expect("current exe");
    let mut children: Vec<Child> = (0..stopped)
        .map(|_| {
            Command::new(&exe)
                .env(CHILD_ENV, relay_addresses.join(" "))
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .spawn()
                .expect("child node")
        })
        .collect();
    // Even indexes run with the default grace ("after"), odd ones wait for the whole query.
    let dirs: Vec<tempfile::TempDir> = (0..nodes)
        .map(|_| tempfile::tempdir().expect("tempdir"))
        .collect();
    let mut network = Vec::new();
    for (i, dir) in dirs.iter().enumerate() {
        let grace = (i % 2 == 1).then_some(WHOLE_QUERY);
        network.push(node(dir.path(), &relay_addresses, grace).await);
    }
    for node in &network {
        published(node).await;
    }
    for child in &mut children {
        let mut line = String::new();
        BufReader::new(child.stdout.as_mut().expect("stdout"))
            .read_line(&mut line)
            .expect("child output");
        assert_eq!(line.trim(), "ready", "the child node did not start");
    }
    let mut events: Vec<EventStream> = network
        .iter()
        .map(|n| n.events(tern_node::From::Now))
        .collect();
    for child in &children {
        let status = Command::new("kill")
            .args(["-STOP", &child.id().to_string()])
            .status()
            .expect("kill");
        assert!(status.success(), "could not stop a child node");
    }
    println!(
        "network: {} relays, {} nodes, {} of them stopped ({:.0} % of {} DHT peers)",
        relays.len(),
        nodes + stopped,
        stopped,
        100.0 * stopped as f64 / (nodes + stopped + relays.len()) as f64,
        nodes + stopped + relays.len(),
    );

    // Pairs that never talked: sender `s` and recipient `r`, each unordered pair once.
    let mut talked = HashSet::new();
    let (mut after, mut before, mut warm) = (Vec::new(), Vec::new(), Vec::new());
    let mut used = Vec::new();
    for k in 0..pairs {
        let s = k % nodes;
        let Some(r) = (1..nodes)
            .map(|d| (s + d + k / nodes) % nodes)
            .find(|r| *r != s && !talked.contains(&(s.min(*r), s.max(*r))))
        else {
            continue;
        };
        talked.insert((s.min(r), s.max(r)));
        for (a, b) in [(s, r), (r, s)] {
            network[a]
                .add_contact(&format!("n{b}"), network[b].user_id())
                .await
                .expect("contact");
        }
        let took = timed(&network[s], &network[r], &mut events[r]).await;
        if s.is_multiple_of(2) {
            after.push(took);
        } else {
            before.push(took);
        }
        used.push((s, r));
    }
    for (s, r) in used {
        warm.push(timed(&network[s], &network[r], &mut events[r]).await);
    }
    let warm = report("baseline: a message on an existing session", &mut warm);
    for (name, times) in [
        (
            "first message, lookup answers after a grace (new)",
            &mut after,
        ),
        (
            "first message, lookup waits for the whole query (old)",
            &mut before,
        ),
    ] {
        if times.is_empty() {
            continue;
        }
        let p50 = report(name, times);
        println!(
            "  p50 = {:.1}x the baseline",
            p50.as_secs_f64() / warm.as_secs_f64()
        );
    }

    for mut child in children {
        let _ = child.kill();
        let _ = child.wait();
    }
    for node in network {
        node.shutdown().await;
    }
    for relay in relays {
        relay.shutdown().await;
    }
}
