//! What typing indicators cost: two real nodes over loopback TCP, every write synced, both
//! sharing typing.
//!
//! Measures, in one run:
//! - **key presses**: `typing(peer, true)` called as fast as one client can for a fixed time,
//!   as a chat screen does on every key: calls per second handled, and signals that actually
//!   went out per second (the rate limit: at most one per `TYPING_REFRESH`);
//! - **one signal**: the cost of a signal that goes out (alternating typing and stopped, each
//!   of which is due), against the baseline of a 1 KiB text sent and acknowledged in the same
//!   run;
//! - what the receiver shows: typing events published, against signals received.
//!
//! Run: `cargo bench -p tern-node --bench typing` (options: `-- --seconds N --signals N`).

#![allow(clippy::print_stdout, reason = "a benchmark program reports on stdout")]

use std::time::{Duration, Instant};

use futures::StreamExt;
use tern_node::{DeliveryState, Event, Node, Sharing};

const WAIT: Duration = Duration::from_secs(120);

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let option = |name: &str, default: u64| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(default)
    };
    let full = args.iter().any(|a| a == "--bench");
    let seconds = option("--seconds", if full { 10 } else { 1 });
    let signals = option("--signals", if full { 400 } else { 20 });
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");
    runtime.block_on(run(seconds, signals));
}

async fn start(dir: &std::path::Path, bootstrap: &[String]) -> Node {
    let mut builder = tern_node::test_utils::builder(dir);
    for address in bootstrap {
        builder = builder.with_bootstrap(address.clone());
    }
    builder.spawn().await.expect("node starts")
}

async fn until<T>(
    events: &mut tern_node::EventStream,
    mut pick: impl FnMut(&Event) -> Option<T>,
) -> T {
    tokio::time::timeout(WAIT, async {
        loop {
            let (_, event) = events.next().await.expect("event stream open");
            if let Some(found) = pick(&event) {
                return found;
            }
        }
    })
    .await
    .expect("the benchmark waited too long")
}

async fn run(seconds: u64, signals: u64) {
    let dirs: Vec<tempfile::TempDir> = (0..3).map(|_| tempfile::tempdir().expect("dir")).collect();
    let bootstrap = start(dirs[0].path(), &[]).await;
    let seed = bootstrap.addresses().await;
    let alice = start(dirs[1].path(), &seed).await;
    let bob = start(dirs[2].path(), &seed).await;
    let (a, b) = (alice.user_id(), bob.user_id());
    alice.add_contact("bob", b).await.expect("contact");
    bob.add_contact("alice", a).await.expect("contact");
    let sharing = Sharing {
        typing: true,
        presence: false,
    };
    alice.set_sharing(sharing).await.expect("sharing");
    bob.set_sharing(sharing).await.expect("sharing");
    let mut alice_events = alice.events(tern_node::From::Now);
    let mut bob_events = bob.events(tern_node::From::Now);
    // Sessions and the connection exist once a text went each way.
    alice.send(b, "hello").await.expect("send");
    until(&mut bob_events, |e| {
        matches!(e, Event::MessageReceived(_)).then_some(())
    })
    .await;
    bob.send(a, "hello").await.expect("send");
    until(&mut alice_events, |e| {
        matches!(e, Event::MessageReceived(_)).then_some(())
    })
    .await;

    // Baseline: 1 KiB texts, each sent and acknowledged before the next.
    let text = "x".repeat(1024);
    let texts = 50u32;
    let started = Instant::now();
    for _ in 0..texts {
        let id = alice.send(b, text.clone()).await.expect("send");
        until(&mut alice_events, |e| match e {
            Event::DeliveryStateChanged {
                id: delivered,
                state: DeliveryState::Delivered,
                ..
            } if *delivered == id => Some(()),
            _ => None,
        })
        .await;
    }
    let per_text = started.elapsed() / texts;

    // Key presses as fast as a client can report them.
    let started = Instant::now();
    let (mut calls, mut sent) = (0u64, 0u64);
    while started.elapsed() < Duration::from_secs(seconds) {
        calls += 1;
        if alice.typing(b, true).await.expect("typing") {
            sent += 1;
        }
    }
    let elapsed = started.elapsed().as_secs_f64();
    println!(
        "key presses: {calls} in {elapsed:.1} s = {:.0} calls/s",
        calls as f64 / elapsed
    );
    println!(
        "signals out: {sent} = {:.2} per second per open chat (at most one per {:?})",
        sent as f64 / elapsed,
        tern_node::TYPING_REFRESH
    );

    // Signals that go out: typing, stopped, typing… each is due.
    let mut shown = 0u64;
    let started = Instant::now();
    let mut went = 0u64;
    for i in 0..signals {
        if alice.typing(b, i % 2 == 1).await.expect("typing") {
            went += 1;
        }
    }
    let per_signal = started.elapsed() / u32::try_from(signals.max(1)).unwrap_or(u32::MAX);
    // What Bob showed of them: drain what arrived, then a marker text.
    alice.send(b, "marker").await.expect("send");
    until(&mut bob_events, |e| match e {
        Event::Typing { .. } => {
            shown += 1;
            None
        }
        Event::MessageReceived(m) if m.text == "marker" => Some(()),
        _ => None,
    })
    .await;
    println!(
        "one signal: {:.2} ms ({went} of {signals} went out); a 1 KiB text sent and acknowledged: {:.2} ms; ratio {:.2}",
        per_signal.as_secs_f64() * 1e3,
        per_text.as_secs_f64() * 1e3,
        per_signal.as_secs_f64() / per_text.as_secs_f64()
    );
    println!(
        "receiver: {shown} typing changes shown for {went} signals (at most one per second per contact)"
    );
    for node in [alice, bob, bootstrap] {
        node.shutdown().await;
    }
}
