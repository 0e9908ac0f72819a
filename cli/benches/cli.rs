//! CLI benchmark: the `tern` binary and its daemon as users and bots drive them, on loopback,
//! durable writes throughout.
//!
//! Measures, in one run:
//! - `tern demo` wall time (a relay and two nodes start, chat, go offline, come back, stop);
//! - `tern send` through a running daemon, process start to "accepted, durable": p50 and p99,
//!   against `tern --version` (the bare cost of starting the process) as the baseline;
//! - the local API's `POST /v1/messages` requests per second with concurrent clients, against
//!   `GET /v1/identity` (same server, auth and JSON, no database write) as the baseline.
//!
//! Run: `cargo bench -p tern-cli --bench cli` (options: `-- --sends N --posts N`).

#![allow(clippy::print_stdout, reason = "a benchmark program reports on stdout")]

#[path = "../tests/cli/harness.rs"]
#[allow(
    dead_code,
    unused_imports,
    reason = "shared with the tests, which use more of it"
)]
mod harness;

use std::time::{Duration, Instant};

use harness::{Pair, Profile, run};

/// Concurrent API clients: enough to keep both cores busy, as a bot fleet would.
const CLIENTS: usize = 16;

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let rank = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn arg(name: &str, default: usize) -> usize {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let sends = arg("--sends", 100);
    let posts = arg("--posts", 4000);

    // 1. tern demo, five times.
    let mut demo = Vec::new();
    let scratch = Profile::new();
    for _ in 0..5 {
        let started = Instant::now();
        let outcome = run(scratch.command(&["demo"])).await;
        assert_eq!(outcome.code, 0, "{outcome:?}");
        demo.push(started.elapsed());
    }
    demo.sort();
    println!(
        "tern demo wall time: median {:.0} ms, best {:.0} ms, worst {:.0} ms (5 runs)",
        ms(demo[2]),
        ms(demo[0]),
        ms(demo[4])
    );

    // 2. tern send through a daemon, against the bare process start.
    let pair = Pair::start().await;
    let mut baseline = Vec::new();
    let mut send = Vec::new();
    for i in 0..sends {
        let started = Instant::now();
        let version = run(pair.alice.command(&["--version"])).await;
        assert_eq!(version.code, 0);
        baseline.push(started.elapsed());
        let text = format!("bench {i}");
        let started = Instant::now();
        let sent = run(pair.alice.command(&["send", "bob", &text])).await;
        assert_eq!(sent.code, 0, "{sent:?}");
        send.push(started.elapsed());
    }
    baseline.sort();
    send.sort();
    println!(
        "tern send (start → accepted): p50 {:.2} ms, p99 {:.2} ms; tern --version p50 {:.2} ms; \
         ratio p50 {:.2}x ({sends} runs)",
        ms(percentile(&send, 0.5)),
        ms(percentile(&send, 0.99)),
        ms(percentile(&baseline, 0.5)),
        percentile(&send, 0.5).as_secs_f64() / percentile(&baseline, 0.5).as_secs_f64()
    );

    // 3. API throughput.
    let api = pair.alice_api().to_owned();
    let token = pair.alice.token();
    let identity = throughput(&api, &token, posts, false).await;
    let messages = throughput(&api, &token, posts, true).await;
    println!(
        "API with {CLIENTS} clients: POST /v1/messages {messages:.0} req/s; GET /v1/identity \
         {identity:.0} req/s; ratio {:.2} ({posts} requests each)",
        messages / identity
    );
}

/// Requests per second for `total` requests split over [`CLIENTS`] keep-alive clients.
async fn throughput(api: &str, token: &str, total: usize, send: bool) -> f64 {
    let http = reqwest::Client::builder().no_proxy().build().unwrap();
    let started = Instant::now();
    let mut clients = tokio::task::JoinSet::new();
    for client in 0..CLIENTS {
        let (http, api, token) = (http.clone(), api.to_owned(), token.to_owned());
        let count = total / CLIENTS + usize::from(client < total % CLIENTS);
        clients.spawn(async move {
            for i in 0..count {
                let request = if send {
                    http.post(format!("{api}/v1/messages"))
                        .json(&serde_json::json!({
                            "to": "bob",
                            "text": format!("api bench {client}/{i}"),
                        }))
                } else {
                    http.get(format!("{api}/v1/identity"))
                };
                let response = request.bearer_auth(&token).send().await.unwrap();
                assert!(response.status().is_success(), "{}", response.status());
                response.bytes().await.unwrap();
            }
        });
    }
    while let Some(done) = clients.join_next().await {
        done.unwrap();
    }
    total as f64 / started.elapsed().as_secs_f64()
}
