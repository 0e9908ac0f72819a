//! NAT traversal on real Linux networking: homes behind NAT routers and a phone behind a
//! carrier-grade (symmetric) NAT, built in network namespaces (see [`topology`]), with the
//! real `tern-relay` and `tern daemon` binaries inside them.
//!
//! One test walks the whole story in order, because each step needs the network the one
//! before left: AutoNAT finds the users private; they reserve circuits and publish them;
//! Alice reaches Bob through a circuit and a hole punch makes it direct (over many fresh
//! attempts); Carol's symmetric NAT defeats the punch, yet her messages flow; a large
//! message crosses a circuit; on slow, lossy links every path delivers a conversation exactly
//! once and in order; and Bob's uplink going down for 30 s mid-burst loses nothing.
//!
//! It needs root (namespaces, nftables, netem): elsewhere it says SKIPPED, and under CI
//! (`TERN_PRIVILEGED_TESTS`) it fails instead. Run it alone with its report:
//! `cargo test --workspace --test nat -- --nocapture`; `TERN_NAT_ATTEMPTS` sets the number
//! of hole-punch attempts (20 by default).

#![allow(
    clippy::print_stderr,
    reason = "the test reports its measurements (shown with --nocapture)"
)]

mod topology;

use std::{
    collections::HashMap,
    time::{Duration, Instant},
};

use tern_tests::{Events, TIMEOUT, eventually};
use topology::{Home, World, status, wait_reachable};

/// How long a hole punch may take before the attempt counts as failed.
const PUNCH_WITHIN: Duration = Duration::from_secs(30);
/// Messages in each conversation on slow links.
const CONVERSATION: usize = 200;
/// The gap between two messages of a conversation: ten a second, a lively group of
/// typists (a slow link's capacity, not the path, would set the latency at a faster rate).
const TYPING_GAP: Duration = Duration::from_millis(100);
/// The delay each way on a slow home link.
const LINK_DELAY: Duration = Duration::from_millis(75);
/// The share of packets a lossy home link drops, each way.
const LINK_LOSS_PERCENT: u8 = 2;
/// How long Bob's uplink stays down.
const OUTAGE: Duration = Duration::from_secs(30);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_cross_home_routers_and_carrier_grade_nat() {
    let Some(mut world) = World::build().await else {
        return;
    };
    let mut report = Report::default();

    // 1 and 2: AutoNAT finds every user private; each reserves circuits at both relays and
    // publishes a record that lists them.
    let started = Instant::now();
    let versions = world.wait_reachable().await;
    report.push(format!(
        "reachable behind NAT (private, 2 circuits, record v{versions:?} published): {:.1} s",
        started.elapsed().as_secs_f64()
    ));

    // 3: Alice and Bob, both behind home routers: the first message goes through a
    // circuit (or the mailbox), and a hole punch then connects them directly.
    let attempts: usize = std::env::var("TERN_NAT_ATTEMPTS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(20);
    let mut to_direct = Vec::new();
    for attempt in 0..attempts {
        if let Some(took) = fresh_punch(&mut world.homes[0], "bob", attempt).await {
            to_direct.push(took);
        }
    }
    report.push(format!(
        "A-B hole punch: {}/{attempts} fresh attempts went direct; time from send to direct {}",
        to_direct.len(),
        Latencies::new(to_direct.clone())
    ));
    assert!(
        !to_direct.is_empty(),
        "no hole punch between two home routers succeeded"
    );
    wait_all_arrived(&world.homes[1], "alice", "punch ", attempts).await;

    // 4: Alice and Carol: Carol's NAT gives every destination another port, so the punch
    // fails; both ways, messages still arrive, over the circuit or the mailbox.
    let [alice, bob, carol] = [&world.homes[0], &world.homes[1], &world.homes[2]];
    let to_carol = conversation(alice, carol, "carol", "alice", "to-carol", 20, 0).await;
    let to_alice = conversation(carol, alice, "alice", "carol", "from-carol", 20, 0).await;
    // DCUtR tries three times before it gives up; Carol's node counts the failure.
    let failed = eventually("Carol's node to give up a hole punch", || async {
        let failed = carol.status().await["hole_punches_failed"].as_u64()?;
        (failed > 0).then_some(failed)
    })
    .await;
    let path = contact_path(&alice.status().await, "carol");
    report.push(format!(
        "A-C (symmetric NAT): 40 messages exactly once; path {path}; hole punches failed at \
         Carol: {failed}; latency A->C {to_carol}, C->A {to_alice}"
    ));
    assert_ne!(path, "direct", "a hole punch through a symmetric NAT");

    // 7: the circuit carries the largest messages: five of 64 KiB, 320 KiB in all, through
    // one circuit.
    let large = conversation(alice, carol, "carol", "alice", "large", 5, MAX_TEXT).await;
    report.push(format!(
        "A-C five 64 KiB messages through the circuit: {large}; path {}",
        contact_path(&alice.status().await, "carol")
    ));

    // 5: slow, lossy home links (75 ms each way, so 150 ms round trip, and 2 % of the
    // packets lost each way): a conversation of 200 messages on each path arrives exactly
    // once and in order.
    let _slow: Vec<_> = [alice, bob, carol]
        .iter()
        .map(|home| {
            world
                .lab
                .impair(&home.router, "lan", LINK_DELAY, LINK_LOSS_PERCENT)
        })
        .collect();
    go_direct(&mut world.homes[0], "bob").await;
    let [alice, bob, carol] = [&world.homes[0], &world.homes[1], &world.homes[2]];
    let direct = conversation(alice, bob, "bob", "alice", "direct", CONVERSATION, 0).await;
    let direct_path = contact_path(&alice.status().await, "bob");
    let circuit = conversation(alice, carol, "carol", "alice", "circuit", CONVERSATION, 0).await;
    let circuit_path = contact_path(&alice.status().await, "carol");
    // Both relay-only: Bob's delivery receipts would otherwise dial Alice, and whether that
    // connection is up when the path is read is a race.
    for home in &mut world.homes[..2] {
        home.stop().await;
        home.start(&["--relay-only"]).await;
    }
    let [alice, bob] = [&world.homes[0], &world.homes[1]];
    let mailbox = conversation(alice, bob, "bob", "alice", "mailbox", CONVERSATION, 0).await;
    let mailbox_path = contact_path(&alice.status().await, "bob");
    world.homes[1].stop().await;
    world.homes[1].start(&[]).await;
    report.push(format!(
        "home links at 150 ms RTT and 2 % loss each way, {CONVERSATION} messages each, exactly \
         once and in order:\n  direct ({direct_path}): {direct}\n  circuit ({circuit_path}): \
         {circuit}\n  mailbox ({mailbox_path}): {mailbox}"
    ));
    // Each conversation measured the path it is labelled with.
    assert_eq!(direct_path, "direct", "the punched connection to Bob went");
    assert_eq!(circuit_path, "circuit", "Carol's circuit went");
    assert_eq!(mailbox_path, "mailbox", "relay-only Alice connected to Bob");

    // 6: Bob's uplink goes down for 30 s in the middle of a burst. Nothing is lost, and his
    // node re-reserves its circuits and republishes its record once the link is back.
    world.homes[0].stop().await;
    world.homes[0].start(&[]).await;
    let flap = link_flap(&world).await;
    report.push(flap);

    eprintln!("\nNAT traversal report\n{}", report.0.join("\n"));
    for home in &mut world.homes {
        home.stop().await;
    }
}

/// The longest text a message may carry.
const MAX_TEXT: usize = tern_node::MAX_TEXT_LEN;

/// Restarts `home`'s daemon (so it holds no connection to `peer`), sends one message and
/// measures how long until the path to `peer` is direct; `None` if not within
/// [`PUNCH_WITHIN`]. The message must arrive either way (checked later).
async fn fresh_punch(home: &mut Home, peer: &str, attempt: usize) -> Option<Duration> {
    home.stop().await;
    home.start(&[]).await;
    home.profile.wait_online(2).await;
    let mut api = home.api().await;
    let sent = Instant::now();
    api.send(peer, &format!("punch {attempt:03}")).await;
    loop {
        if contact_path(&status(&mut api).await, peer) == "direct" {
            return Some(sent.elapsed());
        }
        if sent.elapsed() > PUNCH_WITHIN {
            eprintln!("attempt {attempt}: no direct connection within {PUNCH_WITHIN:?}");
            return None;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Restarts `home` until its path to `peer` is direct (at most five tries), so that the
/// next conversation measures the direct path.
async fn go_direct(home: &mut Home, peer: &str) {
    for attempt in 0..5 {
        if fresh_punch(home, peer, 900 + attempt).await.is_some() {
            return;
        }
    }
    panic!("no direct path to {peer} in five fresh attempts");
}

/// The path `status` shows to the contact named `name`.
fn contact_path(status: &serde_json::Value, name: &str) -> String {
    status["contacts"]
        .as_array()
        .and_then(|contacts| contacts.iter().find(|c| c["name"] == name))
        .and_then(|c| c["path"].as_str())
        .unwrap_or("unknown")
        .to_owned()
}

/// `count` messages from `from` to `to` (named `to_name` at `from`, `from_name` at `to`),
/// one every [`TYPING_GAP`], each padded to `size` bytes: the time from the sender's API
/// accepting each to the recipient's API announcing it. Checks that each arrived exactly
/// once, in order, and that the sender sees every one delivered.
async fn conversation(
    from: &Home,
    to: &Home,
    to_name: &str,
    from_name: &str,
    label: &str,
    count: usize,
    size: usize,
) -> Latencies {
    let mut events = Events::open(to.daemon()).await;
    let prefix = format!("{label} ");
    let watching = prefix.clone();
    let arrivals = tokio::spawn(async move {
        let mut arrived: HashMap<String, Instant> = HashMap::new();
        while arrived.len() < count {
            let event = events.next().await;
            if event["type"] == "message_received"
                && let Some(text) = event["message"]["text"].as_str()
                && text.starts_with(&watching)
            {
                let key: String = text.chars().take(watching.len() + 3).collect();
                assert!(
                    arrived.insert(key.clone(), Instant::now()).is_none(),
                    "{key} arrived twice"
                );
            }
        }
        arrived
    });
    let mut api = from.api().await;
    let mut sent = Vec::new();
    for i in 0..count {
        let head = format!("{prefix}{i:03}");
        let text = format!("{head}{}", "x".repeat(size.saturating_sub(head.len())));
        api.send(to_name, &text).await;
        sent.push((head, Instant::now()));
        tokio::time::sleep(TYPING_GAP).await;
    }
    let arrived = tokio::time::timeout(TIMEOUT * 2, arrivals)
        .await
        .unwrap_or_else(|_| panic!("{label}: not every message arrived in time"))
        .expect("the event reader");
    let latencies = sent
        .iter()
        .map(|(head, at)| arrived[head].saturating_duration_since(*at))
        .collect();
    wait_all_arrived(to, from_name, &prefix, count).await;
    wait_all_delivered(from, to_name, &prefix, count).await;
    Latencies::new(latencies)
}

/// Waits until `home`'s history with `peer` holds the `count` messages starting with
/// `prefix`, once each and in the order they were numbered.
async fn wait_all_arrived(home: &Home, peer: &str, prefix: &str, count: usize) {
    let heads: Vec<String> = eventually(
        &format!("{}: {count} messages {prefix:?} from {peer}", home.name),
        || async move {
            let heads: Vec<String> = home
                .api()
                .await
                .history(peer)
                .await
                .iter()
                .filter(|m| m["direction"] == "incoming")
                .filter_map(|m| m["text"].as_str())
                .filter(|t| t.starts_with(prefix))
                .map(|t| t.chars().take(prefix.len() + 3).collect())
                .collect();
            (heads.len() >= count).then_some(heads)
        },
    )
    .await;
    let expected: Vec<String> = (0..count).map(|i| format!("{prefix}{i:03}")).collect();
    assert_eq!(heads, expected, "{}: exactly once and in order", home.name);
}

/// Waits until every message starting with `prefix` that `home` sent to `peer` is marked
/// delivered.
async fn wait_all_delivered(home: &Home, peer: &str, prefix: &str, count: usize) {
    let started = Instant::now();
    loop {
        let history = home.api().await.history(peer).await;
        let ours: Vec<_> = history
            .iter()
            .filter(|m| m["direction"] == "outgoing")
            .filter(|m| m["text"].as_str().is_some_and(|t| t.starts_with(prefix)))
            .collect();
        if ours.len() == count && ours.iter().all(|m| m["delivery"]["state"] == "delivered") {
            return;
        }
        if started.elapsed() > TIMEOUT * 2 {
            let status = home.status().await;
            let late: Vec<String> = ours
                .iter()
                .filter(|m| m["delivery"]["state"] != "delivered")
                .map(|m| format!("{} {}", m["text"], m["delivery"]))
                .collect();
            panic!(
                "{}: {count} messages {prefix:?} not all delivered in time: {late:?}; {status}",
                home.name
            );
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Alice sends Bob a burst while Bob's uplink is down for [`OUTAGE`]: every message
/// arrives exactly once, and Bob's node notices, re-reserves its circuits and republishes.
async fn link_flap(world: &World) -> String {
    let [alice, bob] = [&world.homes[0], &world.homes[1]];
    let before = wait_reachable(bob).await;
    let burst = 60;
    let gap = (OUTAGE + Duration::from_secs(10)) / burst;
    let lab = &world.lab;
    let router = bob.router.clone();
    let mut bob_api = bob.api().await;
    let sending = async {
        let mut api = alice.api().await;
        for i in 0..burst {
            api.send("bob", &format!("flap {i:03}")).await;
            tokio::time::sleep(gap).await;
        }
    };
    let flapping = async {
        tokio::time::sleep(Duration::from_secs(5)).await;
        lab.ip(&router, "link set wan down");
        let down = Instant::now();
        let mut noticed = None;
        while down.elapsed() < OUTAGE {
            if noticed.is_none() && status(&mut bob_api).await["circuits"].as_array()?.len() < 2 {
                noticed = Some(down.elapsed());
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        lab.ip(&router, "link set wan up");
        Some((noticed, Instant::now()))
    };
    let ((), flapped) = tokio::join!(sending, flapping);
    let (noticed, up) = flapped.expect("a status with circuits");
    let republished = wait_reachable(bob).await;
    let recovered = up.elapsed();
    assert!(republished > before, "Bob republished after the outage");
    wait_all_arrived(bob, "alice", "flap ", burst as usize).await;
    wait_all_delivered(alice, "bob", "flap ", burst as usize).await;
    format!(
        "link flap: Bob's uplink down {OUTAGE:?} mid-burst; {burst} messages exactly once; \
         circuits lost after {noticed:?}; re-reserved and record v{republished} (was \
         v{before}) published {:.1} s after the link came back; every message arrived {:.1} s \
         after",
        recovered.as_secs_f64(),
        up.elapsed().as_secs_f64()
    )
}

/// The measurements so far, each also shown as it is made (a failure later keeps them).
#[derive(Debug, Default)]
struct Report(Vec<String>);

impl Report {
    fn push(&mut self, line: String) {
        eprintln!("NAT: {line}");
        self.0.push(line);
    }
}

/// Latencies of one measurement.
#[derive(Debug)]
struct Latencies(Vec<Duration>);

impl Latencies {
    fn new(mut times: Vec<Duration>) -> Self {
        times.sort();
        Self(times)
    }

    fn quantile(&self, q: f64) -> Duration {
        if self.0.is_empty() {
            return Duration::ZERO;
        }
        let rank = ((self.0.len() as f64 * q).ceil() as usize).clamp(1, self.0.len());
        self.0[rank - 1]
    }
}

impl std::fmt::Display for Latencies {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "p50 {:.0} ms, p99 {:.0} ms, max {:.0} ms (n={})",
            self.quantile(0.5).as_secs_f64() * 1000.0,
            self.quantile(0.99).as_secs_f64() * 1000.0,
            self.quantile(1.0).as_secs_f64() * 1000.0,
            self.0.len()
        )
    }
}
