//! Group log benchmark: a real relay on loopback TCP as a group's sequencer
//! (`/tern/grouplog/2`), real libp2p clients, every append synced before its receipt, 1 KiB
//! entries, every receipt verified.
//!
//! Measures, in one run:
//! - appends per second from 16 members to **one** log (one group's order, the contended
//!   case) and to 16 logs (16 groups), each member one request at a time on its own stream;
//! - fan-out latency: 50 members hold reads open on one log; one member appends; the time
//!   until all 50 have the entry (p50, p99 over 100 rounds);
//! - as the baseline in the same run, the 1:1 way to reach 50 members: one durable deposit
//!   per member's mailbox on one deposit stream, against one append.
//!
//! Run: `cargo bench -p tern-relay --bench grouplog` (options: `-- --appends N`).

#![allow(clippy::print_stdout, reason = "a benchmark program reports on stdout")]

use std::time::{Duration, Instant};

use futures::StreamExt;
use libp2p::{Multiaddr, PeerId, Stream};
use tern_proto::{
    grouplog::{self, Access, Answer, Kind, LogId, Op},
    mailbox::deposits::{self, DepositAnswer},
};

#[path = "support/swarm.rs"]
mod support;

use self::support::swarm;

const MEMBERS: usize = 16;
const READERS: usize = 50;
const ENTRY: usize = 1024;

/// A client on a fresh identity with `count` streams of `protocol` to the relay.
async fn streams(
    address: &Multiaddr,
    relay: PeerId,
    protocol: libp2p::StreamProtocol,
    count: usize,
) -> (Vec<Stream>, tokio::task::JoinHandle<()>) {
    let mut swarm = swarm(libp2p_stream::Behaviour::new());
    let mut control = swarm.behaviour().new_control();
    swarm.dial(address.clone()).expect("dial");
    // Streams go on the connection once it is up.
    loop {
        match swarm.select_next_some().await {
            libp2p::swarm::SwarmEvent::ConnectionEstablished { .. } => break,
            libp2p::swarm::SwarmEvent::OutgoingConnectionError { error, .. } => {
                panic!("dial: {error}")
            }
            _ => {}
        }
    }
    let network = tokio::spawn(async move {
        loop {
            swarm.select_next_some().await;
        }
    });
    let mut out = Vec::new();
    for _ in 0..count {
        out.push(
            control
                .open_stream(relay, protocol.clone())
                .await
                .expect("stream"),
        );
    }
    (out, network)
}

fn entry(tag: u64, i: u64) -> Vec<u8> {
    let mut body = vec![0x5a; ENTRY];
    body[..8].copy_from_slice(&tag.to_be_bytes());
    body[8..16].copy_from_slice(&i.to_be_bytes());
    body
}

async fn call(stream: &mut Stream, request: &grouplog::Request) -> Answer {
    grouplog::call(stream, request).await.expect("answer")
}

/// `MEMBERS` members, each on its own connection, append `per_member` entries one at a time;
/// member `m` appends to `logs[m % logs.len()]`. Returns appends per second.
/// The members' streams are opened before the clock starts.
async fn appends(address: &Multiaddr, relay: PeerId, logs: &[LogId], per_member: usize) -> f64 {
    let key = Access::from_seed([1; 32]);
    let relay_bytes = relay.to_bytes();
    let mut members = Vec::new();
    for member in 0..MEMBERS {
        let (mut streams, network) = streams(address, relay, grouplog::PROTOCOL, 1).await;
        members.push((member, streams.pop().expect("stream"), network));
    }
    let mut tasks = tokio::task::JoinSet::new();
    let started = Instant::now();
    for (member, mut stream, network) in members {
        let (key, relay_bytes) = (key.clone(), relay_bytes.clone());
        let log = logs[member % logs.len()];
        tasks.spawn(async move {
            for i in 0..per_member {
                let body = entry(member as u64, i as u64);
                let request = key.request(
                    &relay_bytes,
                    log,
                    Op::Append {
                        kind: Kind::Message,
                        body: body.clone(),
                    },
                );
                let Answer::Appended(receipt) = call(&mut stream, &request).await else {
                    panic!("append refused");
                };
                receipt
                    .verify(&relay_bytes, &log, &Kind::Message, &body)
                    .expect("valid receipt");
            }
            network.abort();
        });
    }
    while let Some(done) = tasks.join_next().await {
        done.expect("member");
    }
    (MEMBERS * per_member) as f64 / started.elapsed().as_secs_f64()
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let full = args.iter().any(|a| a == "--bench");
    let per_member = args
        .iter()
        .position(|a| a == "--appends")
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse::<usize>().ok())
        .unwrap_or(if full { 16_000 } else { 320 })
        / MEMBERS;
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
        .block_on(run(per_member));
}

async fn run(per_member: usize) {
    let dir = tempfile::tempdir().expect("tempdir");
    let limits = tern_relay::Limits {
        log_request_burst: u32::MAX,
        log_requests_per_sec: u32::MAX,
        deposit_burst: u32::MAX,
        deposits_per_sec: u32::MAX,
        deposit_bytes_burst: u64::MAX,
        deposit_bytes_per_sec: u64::MAX,
        log_bytes: u64::MAX,
        ..Default::default()
    };
    let relay = tern_relay::Relay::spawn(
        tern_relay::Config::new(dir.path().join("relay"))
            .with_listen_addr("/ip4/127.0.0.1/tcp/0")
            .with_limits(limits),
    )
    .await
    .expect("relay");
    let address: Multiaddr = relay.addresses().await[0].parse().expect("address");
    let peer: PeerId = relay.peer_id().parse().expect("peer id");
    let key = Access::from_seed([1; 32]);
    let relay_bytes = peer.to_bytes();
    let logs: Vec<LogId> = (0..MEMBERS as u8).map(|i| [i + 1; 32]).collect();
    let (mut opener, network) = streams(&address, peer, grouplog::PROTOCOL, 1).await;
    for log in &logs {
        let open = key.request(&relay_bytes, *log, Op::Open { epoch: 0 });
        assert!(matches!(
            call(&mut opener[0], &open).await,
            Answer::Opened { .. }
        ));
    }
    network.abort();

    let one = appends(&address, peer, &logs[..1], per_member).await;
    println!(
        "appends, {MEMBERS} members to one log, one request at a time each: {} durable 1 KiB \
         entries: {one:.0}/s",
        MEMBERS * per_member
    );
    let many = appends(&address, peer, &logs, per_member).await;
    println!(
        "appends, {MEMBERS} members to {MEMBERS} logs: {} durable 1 KiB entries: {many:.0}/s \
         ({:.2}x one log)",
        MEMBERS * per_member,
        many / one
    );

    // Fan-out: READERS members hold reads on log 0 (each on its own connection); one appends.
    let log = logs[0];
    let mut readers = Vec::new();
    let mut networks = Vec::new();
    for _ in 0..READERS {
        let (mut streams, network) = streams(&address, peer, grouplog::PROTOCOL, 1).await;
        readers.push(streams.pop().expect("stream"));
        networks.push(network);
    }
    let (mut writer, network) = streams(&address, peer, grouplog::PROTOCOL, 1).await;
    networks.push(network);
    let read = key.request(
        &relay_bytes,
        log,
        Op::Read {
            after: 0,
            limit: 1,
            wait_secs: 0,
        },
    );
    let Answer::Entries { .. } = call(&mut readers[0], &read).await else {
        panic!("read refused");
    };
    let mut cursor = match call(
        &mut writer[0],
        &key.request(&relay_bytes, log, Op::Open { epoch: 0 }),
    )
    .await
    {
        Answer::Opened { next_seq, .. } => next_seq - 1,
        other => panic!("open: {other:?}"),
    };
    let mut latencies = Vec::new();
    for round in 0..100u64 {
        let held: Vec<_> = readers
            .drain(..)
            .map(|mut stream| {
                let request = key.request(
                    &relay_bytes,
                    log,
                    Op::Read {
                        after: cursor,
                        limit: 16,
                        wait_secs: 10,
                    },
                );
                tokio::spawn(async move {
                    let answer = call(&mut stream, &request).await;
                    (stream, answer, Instant::now())
                })
            })
            .collect();
        // Let the reads reach the relay and wait there.
        tokio::time::sleep(Duration::from_millis(20)).await;
        let body = entry(u64::MAX, round);
        let at = Instant::now();
        let append = key.request(
            &relay_bytes,
            log,
            Op::Append {
                kind: Kind::Message,
                body,
            },
        );
        let Answer::Appended(receipt) = call(&mut writer[0], &append).await else {
            panic!("append refused");
        };
        cursor = receipt.seq;
        let mut last = at;
        for task in held {
            let (stream, answer, when) = task.await.expect("reader");
            let Answer::Entries { items, .. } = answer else {
                panic!("read refused");
            };
            assert!(
                items.iter().any(|e| e.seq == receipt.seq),
                "every reader got it"
            );
            last = last.max(when);
            readers.push(stream);
        }
        latencies.push(last - at);
    }
    latencies.sort();
    println!(
        "fan-out: one durable append until all {READERS} held readers have it: p50 {:.2} ms, \
         p99 {:.2} ms",
        ms(percentile(&latencies, 0.5)),
        ms(percentile(&latencies, 0.99))
    );

    // Baseline: reaching READERS members the 1:1 way, one durable deposit per mailbox on one
    // deposit stream, against one append, 100 times each.
    let (mut stream, network) = streams(&address, peer, deposits::PROTOCOL, 1).await;
    networks.push(network);
    let (lane, driver) = deposits::lane(stream.pop().expect("stream"));
    tokio::spawn(driver);
    let started = Instant::now();
    for round in 0..100u64 {
        let answers = futures::future::join_all((0..READERS as u64).map(|member| {
            let mut mailbox = [0u8; 32];
            mailbox[..8].copy_from_slice(&member.to_be_bytes());
            lane.deposit(mailbox, entry(round, member))
        }))
        .await;
        for answer in answers {
            assert!(matches!(answer, Ok(DepositAnswer::Stored(_))));
        }
    }
    let one_to_one = started.elapsed() / 100;
    let started = Instant::now();
    for round in 0..100u64 {
        let append = key.request(
            &relay_bytes,
            log,
            Op::Append {
                kind: Kind::Message,
                body: entry(u64::MAX - 1, round),
            },
        );
        assert!(matches!(
            call(&mut writer[0], &append).await,
            Answer::Appended(_)
        ));
    }
    let group = started.elapsed() / 100;
    println!(
        "a message to {READERS} members at one relay: {READERS} durable deposits (1:1) {:.2} ms, \
         one durable append (group) {:.2} ms: {:.3}x",
        ms(one_to_one),
        ms(group),
        group.as_secs_f64() / one_to_one.as_secs_f64()
    );
    for network in networks {
        network.abort();
    }
    relay.shutdown().await;
}
