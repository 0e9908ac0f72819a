//! Relay benchmark: a real relay on loopback TCP, real libp2p clients, durable (synced) writes,
//! 1 KiB envelopes.
//!
//! Measures, in one run:
//! - durable deposits per second from many concurrent senders (each answered with a verified
//!   custody receipt);
//! - bytes on disk per stored message;
//! - fetch-and-ack throughput for the owner draining the mailbox, by request-response and on
//!   one collect stream;
//! - end-to-end latency sender → relay → owner holding a fetch open, by request-response and
//!   on a collect stream (p50, p99);
//! - as baselines, one synced 1 KiB file write on the same disk, and Mosquitto (an MQTT broker)
//!   doing the same store-and-forward job in the same run (see [`mosquitto`] for its durability,
//!   which is weaker); the relay's results are printed as ratios against it;
//! - under attack ([`flood`]): one honest sender's deposit latency on a relay with default
//!   limits, alone and while an attacker connection floods it, as a ratio.
//!
//! Run: `cargo bench -p tern-relay --bench deposits` (options: `-- --deposits N
//! --each-change N`, the second the messages for Mosquitto saving after each change). Without
//! Mosquitto installed (`apt-get install mosquitto`) the broker baselines are skipped.

#![allow(clippy::print_stdout, reason = "a benchmark program reports on stdout")]

use std::{
    io::Write,
    time::{Duration, Instant},
};

use futures::StreamExt;
use libp2p::{
    Multiaddr, PeerId, Swarm,
    request_response::{self, ProtocolSupport},
    swarm::SwarmEvent,
};
use rand_chacha::{ChaCha20Rng, rand_core::SeedableRng};
use tern_crypto::{AccountKey, PrekeyBundle, PrekeySecrets};
use tern_proto::mailbox::{Operation, OwnerProof, Request, Response};
use tern_relay::MailboxCodec;

#[path = "support/args.rs"]
mod args;
#[path = "deposits/flood.rs"]
mod flood;
#[path = "deposits/mosquitto.rs"]
mod mosquitto;
#[path = "deposits/streams.rs"]
mod streams;
#[path = "support/swarm.rs"]
mod support;

use self::{
    args::Args,
    support::{WAIT, swarm},
};

const SENDERS: usize = 16;
const ENVELOPE: usize = 1024;
const IN_FLIGHT_PER_SENDER: usize = 64;

type Client = Swarm<request_response::Behaviour<MailboxCodec>>;

fn client() -> Client {
    swarm(request_response::Behaviour::new(
        [(tern_proto::mailbox::PROTOCOL, ProtocolSupport::Outbound)],
        request_response::Config::default()
            .with_request_timeout(WAIT)
            .with_max_concurrent_streams(IN_FLIGHT_PER_SENDER * 2),
    ))
}

/// Sends `requests` keeping `window` in flight; returns the responses in completion order
/// with the time each took.
async fn run_requests(
    swarm: &mut Client,
    peer: PeerId,
    mut requests: Vec<Request>,
    window: usize,
) -> Vec<(Response, Duration)> {
    let total = requests.len();
    requests.reverse();
    let mut started = std::collections::HashMap::new();
    let mut out = Vec::with_capacity(total);
    while out.len() < total {
        while started.len() < window
            && let Some(request) = requests.pop()
        {
            let id = swarm.behaviour_mut().send_request(&peer, request);
            started.insert(id, Instant::now());
        }
        match swarm.select_next_some().await {
            SwarmEvent::Behaviour(request_response::Event::Message {
                message:
                    request_response::Message::Response {
                        request_id,
                        response,
                    },
                ..
            }) => {
                if let Some(at) = started.remove(&request_id) {
                    out.push((response, at.elapsed()));
                }
            }
            SwarmEvent::Behaviour(request_response::Event::OutboundFailure { error, .. }) => {
                panic!("request failed: {error}");
            }
            _ => {}
        }
    }
    out
}

async fn one(swarm: &mut Client, peer: PeerId, request: Request) -> Response {
    run_requests(swarm, peer, vec![request], 1)
        .await
        .pop()
        .expect("one response")
        .0
}

fn owner() -> (AccountKey, PrekeyBundle) {
    let mut rng = ChaCha20Rng::from_seed([1; 32]);
    let account = AccountKey::generate(&mut rng);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs();
    let bundle = PrekeySecrets::generate(&mut rng, &account, now).bundle(&account, 1);
    (account, bundle)
}

async fn proof(
    swarm: &mut Client,
    peer: PeerId,
    owner: &(AccountKey, PrekeyBundle),
    op: Operation,
) -> OwnerProof {
    let Response::Challenge { nonce } = one(swarm, peer, Request::Challenge).await else {
        panic!("no challenge");
    };
    OwnerProof::new(&owner.0, &owner.1, &peer.to_bytes(), nonce, op)
}

/// What one store-and-forward system achieved in the run.
#[derive(Debug)]
struct Measured {
    deposits_per_sec: f64,
    bytes_per_message: f64,
    drained_per_sec: f64,
    p50: Duration,
    p99: Duration,
}

impl std::fmt::Display for Measured {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{:.0} deposits/s, {:.0} bytes on disk per message, {:.0} fetched+acked/s, \
             latency p50 {:.2} ms p99 {:.2} ms",
            self.deposits_per_sec,
            self.bytes_per_message,
            self.drained_per_sec,
            ms(self.p50),
            ms(self.p99)
        )
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn dir_size(dir: &std::path::Path) -> u64 {
    let mut total = 0;
    let mut stack = vec![dir.to_owned()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else {
                total += entry.metadata().map_or(0, |m| m.len());
            }
        }
    }
    total
}

fn main() {
    let args = Args::from_env();
    let full = args.full();
    let deposits = args.option("--deposits", if full { 50_000 } else { 500 });
    // Mosquitto saving after each change rewrites its whole state each time: fewer messages.
    let each_change = args.option("--each-change", if full { 5_000 } else { 160 });
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
        .block_on(async {
            let dir = tempfile::tempdir().expect("tempdir");
            baseline_file_sync(dir.path());
            let relay = run(dir.path(), deposits).await;
            println!("relay: {relay}");
            for (saving, messages, name) in [
                (
                    mosquitto::Saving::EverySecond,
                    deposits,
                    "snapshot every 1 s",
                ),
                (
                    mosquitto::Saving::EachChange,
                    each_change,
                    "snapshot after each change",
                ),
            ] {
                let place = dir.path().join(format!("mosquitto-{saving:?}"));
                // Each publisher sends as many: the count is rounded down to a multiple.
                let messages = (messages / SENDERS).max(1) * SENDERS;
                match mosquitto::Broker::start(&place, saving) {
                    Err(why) => println!("mosquitto baseline skipped: {why}"),
                    Ok(broker) => {
                        let broker =
                            mosquitto::run(&broker, SENDERS, messages / SENDERS, ENVELOPE).await;
                        println!(
                            "mosquitto (QoS 1, persistent session, {name}, {messages} messages): \
                             {broker}"
                        );
                        println!(
                            "relay / mosquitto ({name}): deposits {:.2}x, fetch+ack {:.2}x, \
                             bytes per message {:.2}x, latency p50 {:.2}x, p99 {:.2}x",
                            relay.deposits_per_sec / broker.deposits_per_sec,
                            relay.drained_per_sec / broker.drained_per_sec,
                            relay.bytes_per_message / broker.bytes_per_message,
                            relay.p50.as_secs_f64() / broker.p50.as_secs_f64(),
                            relay.p99.as_secs_f64() / broker.p99.as_secs_f64(),
                        );
                    }
                }
            }
            flood::run(dir.path()).await;
        });
}

/// One synced write of an envelope's size at a time, on the same disk: the floor a durable
/// store is measured against.
fn baseline_file_sync(dir: &std::path::Path) {
    let mut file = std::fs::File::create(dir.join("baseline")).expect("file");
    let mut times = Vec::new();
    for _ in 0..500 {
        let at = Instant::now();
        file.write_all(&[7u8; ENVELOPE]).expect("write");
        file.sync_data().expect("sync");
        times.push(at.elapsed());
    }
    times.sort();
    println!(
        "baseline: synced 1 KiB file write p50 {:.3} ms ({:.0}/s one at a time)",
        ms(percentile(&times, 0.5)),
        1.0 / percentile(&times, 0.5).as_secs_f64()
    );
}

async fn run(dir: &std::path::Path, deposits: usize) -> Measured {
    let limits = tern_relay::Limits {
        mailbox_messages: u64::MAX,
        mailbox_bytes: u64::MAX,
        deposit_burst: u32::MAX,
        deposits_per_sec: u32::MAX,
        deposit_bytes_burst: u64::MAX,
        deposit_bytes_per_sec: u64::MAX,
        ..Default::default()
    };
    let relay = tern_relay::Relay::spawn(
        tern_relay::Config::new(dir.join("relay"))
            .with_listen_addr("/ip4/127.0.0.1/tcp/0")
            .with_limits(limits),
    )
    .await
    .expect("relay");
    let address: Multiaddr = relay.addresses().await[0].parse().expect("address");
    let peer: PeerId = relay.peer_id().parse().expect("peer id");
    let owner = owner();
    let mailbox = *owner.1.mailbox().id().as_bytes();
    // Shaped as sealed envelopes are (relays keep nothing else); the rest is filler.
    let mut envelope = vec![0x5a; ENVELOPE];
    envelope[0] = tern_crypto::envelope::ENVELOPE_VERSION;

    // Durable deposits from many senders at once: first each on its own request-response
    // stream (`/tern/mailbox/2`, the way before deposit streams), then pipelined on one
    // deposit stream per sender (`/tern/deposit/1`). Every envelope differs, as sealed
    // envelopes do: the relay stores a repeated one only once.
    let per_sender = deposits / SENDERS;
    let envelopes = |phase: u8, sender: usize| -> Vec<Vec<u8>> {
        (0..per_sender)
            .map(|i| {
                let mut envelope = vec![0x5a; ENVELOPE];
                envelope[0] = tern_crypto::envelope::ENVELOPE_VERSION;
                envelope[1] = phase;
                envelope[2..10].copy_from_slice(&(sender as u64).to_be_bytes());
                envelope[10..18].copy_from_slice(&(i as u64).to_be_bytes());
                envelope
            })
            .collect()
    };
    let mut tasks = tokio::task::JoinSet::new();
    let started = Instant::now();
    for sender in 0..SENDERS {
        let address = address.clone();
        let envelopes = envelopes(0, sender);
        tasks.spawn(async move {
            let mut swarm = client();
            swarm.dial(address).expect("dial");
            let requests = envelopes
                .iter()
                .map(|envelope| Request::Deposit {
                    mailbox,
                    envelope: envelope.clone(),
                })
                .collect();
            let answers = run_requests(&mut swarm, peer, requests, IN_FLIGHT_PER_SENDER).await;
            // As a node does: each batch's signature is checked once.
            let roots = tern_proto::mailbox::VerifiedRoots::default();
            let by_digest: std::collections::HashMap<_, _> = envelopes
                .iter()
                .map(|e| (tern_proto::mailbox::envelope_digest(e), e))
                .collect();
            for (answer, _) in &answers {
                let Response::Stored(receipt) = answer else {
                    panic!("deposit refused: {answer:?}");
                };
                let envelope = by_digest
                    .get(&receipt.digest)
                    .expect("a receipt for a deposit made");
                receipt
                    .verify_with(
                        &peer.to_bytes(),
                        &tern_crypto::MailboxId::from_bytes(mailbox),
                        envelope,
                        &roots,
                    )
                    .expect("valid receipt");
            }
            answers.len()
        });
    }
    let mut stored_requests = 0;
    while let Some(count) = tasks.join_next().await {
        stored_requests += count.expect("sender");
    }
    let request_time = started.elapsed();
    let per_request = stored_requests as f64 / request_time.as_secs_f64();
    println!(
        "deposits, one request-response stream each (/tern/mailbox/2): {stored_requests} durable \
         1 KiB deposits from {SENDERS} senders in {:.2} s: {per_request:.0}/s",
        request_time.as_secs_f64(),
    );
    let started = Instant::now();
    for sender in 0..SENDERS {
        let (address, envelopes) = (address.clone(), envelopes(1, sender));
        tasks.spawn(streams::deposit(
            address,
            peer,
            mailbox,
            envelopes,
            IN_FLIGHT_PER_SENDER,
        ));
    }
    let mut stored = 0;
    while let Some(count) = tasks.join_next().await {
        stored += count.expect("sender");
    }
    let deposit_time = started.elapsed();
    println!(
        "deposits, pipelined on one deposit stream each (/tern/deposit/1): {stored} durable 1 KiB \
         deposits from {SENDERS} senders in {:.2} s: {:.0}/s ({:.2}x request-response)",
        deposit_time.as_secs_f64(),
        stored as f64 / deposit_time.as_secs_f64(),
        stored as f64 / deposit_time.as_secs_f64() / per_request,
    );
    let metrics = relay.metrics().await;
    let on_disk = dir_size(&dir.join("relay").join("db"));
    println!(
        "disk: {} bytes in the database for {} messages ({} envelope bytes): {:.0} bytes per message",
        on_disk,
        metrics.stored_messages,
        metrics.stored_bytes,
        on_disk as f64 / metrics.stored_messages.max(1) as f64
    );

    // The owner drains the mailbox: first the request-response way (a challenge and a fetch,
    // a challenge and an ack per page) for the first phase's envelopes, then the rest on one
    // collect stream (one proof; two requests queued at the relay while pages keep coming,
    // each acknowledging the pages taken since the last).
    let mut swarm = client();
    swarm.dial(address.clone()).expect("dial");
    let started = Instant::now();
    let mut drained = 0;
    let mut cursor = 0;
    while drained < stored_requests {
        let fetch = Request::Fetch {
            proof: proof(&mut swarm, peer, &owner, Operation::Fetch).await,
            after: cursor,
            limit: 512,
            wait_secs: 0,
        };
        let Response::Envelopes { items, .. } = one(&mut swarm, peer, fetch).await else {
            panic!("fetch refused");
        };
        if items.is_empty() {
            break;
        }
        drained += items.len();
        cursor = items.iter().map(|i| i.id).max().unwrap_or(cursor);
        let ack = Request::Ack {
            proof: proof(&mut swarm, peer, &owner, Operation::Ack).await,
            ids: items.iter().map(|i| i.id).collect(),
        };
        one(&mut swarm, peer, ack).await;
    }
    let drain_time = started.elapsed();
    let per_request_drain = drained as f64 / drain_time.as_secs_f64();
    println!(
        "fetch and ack, request-response (/tern/mailbox/2): {drained} envelopes in {:.2} s: \
         {per_request_drain:.0}/s",
        drain_time.as_secs_f64(),
    );
    let started = Instant::now();
    let (drained, after) = streams::collect(address.clone(), peer, &owner, cursor, 512).await;
    cursor = after;
    let drain_time = started.elapsed();
    println!(
        "fetch and ack on one collect stream (/tern/collect/2): {drained} envelopes in {:.2} s: \
         {:.0}/s ({:.2}x request-response)",
        drain_time.as_secs_f64(),
        drained as f64 / drain_time.as_secs_f64(),
        drained as f64 / drain_time.as_secs_f64() / per_request_drain,
    );

    // Latency: the owner holds a fetch open; a sender deposits; the fetch answers.
    let mut sender = client();
    sender.dial(address.clone()).expect("dial");
    let mut latencies = Vec::new();
    for round in 0..200u64 {
        envelope[1..9].copy_from_slice(&round.to_be_bytes());
        let fetch = Request::Fetch {
            proof: proof(&mut swarm, peer, &owner, Operation::Fetch).await,
            after: cursor,
            limit: 16,
            wait_secs: 10,
        };
        let waiting = swarm.behaviour_mut().send_request(&peer, fetch);
        // Give the relay the fetch first: wait until it is parked (it answers nothing yet).
        tokio::time::sleep(Duration::from_millis(5)).await;
        let at = Instant::now();
        sender.behaviour_mut().send_request(
            &peer,
            Request::Deposit {
                mailbox,
                envelope: envelope.clone(),
            },
        );
        let items = loop {
            tokio::select! {
                event = swarm.select_next_some() => if let SwarmEvent::Behaviour(request_response::Event::Message {
                    message: request_response::Message::Response { request_id, response: Response::Envelopes { items, .. } },
                    ..
                }) = event && request_id == waiting {
                    break items;
                },
                _ = sender.select_next_some() => {}
            }
        };
        latencies.push(at.elapsed());
        cursor = items.iter().map(|i| i.id).max().unwrap_or(cursor);
        let ack = Request::Ack {
            proof: proof(&mut swarm, peer, &owner, Operation::Ack).await,
            ids: items.iter().map(|i| i.id).collect(),
        };
        one(&mut swarm, peer, ack).await;
    }
    latencies.sort();
    println!(
        "latency sender -> relay (durable) -> owner waiting on a request-response fetch: p50 \
         {:.2} ms, p99 {:.2} ms",
        ms(percentile(&latencies, 0.5)),
        ms(percentile(&latencies, 0.99))
    );
    // The same with the owner waiting on a collect stream, as nodes do.
    let (stream_latencies, _) =
        streams::latency(address, peer, &owner, cursor, &mut sender, mailbox, 200).await;
    println!(
        "latency sender -> relay (durable) -> owner waiting on a collect stream: p50 {:.2} ms, \
         p99 {:.2} ms",
        ms(percentile(&stream_latencies, 0.5)),
        ms(percentile(&stream_latencies, 0.99))
    );
    let latencies = stream_latencies;
    relay.shutdown().await;
    Measured {
        deposits_per_sec: stored as f64 / deposit_time.as_secs_f64(),
        bytes_per_message: on_disk as f64 / metrics.stored_messages.max(1) as f64,
        drained_per_sec: drained as f64 / drain_time.as_secs_f64(),
        p50: percentile(&latencies, 0.5),
        p99: percentile(&latencies, 0.99),
    }
}
