//! Deposit latency as a node sees it: a real relay and two real nodes on loopback TCP, the
//! sender sending only through relays (`with_direct_delivery(false)`), 1 KiB texts.
//!
//! Measures, in one run:
//! - the first message: record lookup, a one-time prekey taken from the relay, the session
//!   start and the deposit, until `StoredAtRelays`. The mailbox connection to the relay is
//!   made here, under a new identity that appears in no record: this is where an unlinked
//!   identity costs a TCP and Noise handshake;
//! - then `--messages` more, one at a time: `send` until `StoredAtRelays` (durable at the
//!   sender, sealed, deposited, synced by the relay, custody receipt verified), on the warm
//!   connection (p50, p99);
//! - what a new identity costs by itself: a client on a fresh key asks the relay for a
//!   challenge (TCP connect, Noise and Yamux handshakes, one request), then asks again on the
//!   connection it has (one request), 200 times (p50 of each).
//!
//! Run: `cargo bench -p tern-relay --bench node_deposits` (options: `-- --messages N`).

#![allow(clippy::print_stdout, reason = "a benchmark program reports on stdout")]

use std::time::{Duration, Instant};

use futures::StreamExt;
use libp2p::{
    Multiaddr, PeerId, Swarm, noise,
    request_response::{self, ProtocolSupport},
    swarm::SwarmEvent,
    tcp, yamux,
};
use tern_node::{DeliveryState, Event, MessageId, Node};
use tern_proto::mailbox::{Request, Response};
use tern_relay::MailboxCodec;

const WAIT: Duration = Duration::from_secs(120);

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let full = args.iter().any(|a| a == "--bench");
    let messages = args
        .iter()
        .position(|a| a == "--messages")
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(if full { 1000 } else { 100 });
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
        .block_on(run(messages));
}

async fn node(dir: &std::path::Path, relay: &str) -> Node {
    tern_node::test_utils::builder(dir)
        .with_relay(relay.to_owned())
        .with_relay_discovery(false)
        .with_direct_delivery(false)
        .spawn()
        .await
        .expect("node")
}

/// Waits until `message` is stored at relays.
async fn stored(events: &mut tern_node::EventStream, message: MessageId) {
    tokio::time::timeout(WAIT, async {
        while let Some((_, event)) = events.next().await {
            if let Event::DeliveryStateChanged {
                id,
                state: DeliveryState::StoredAtRelays { .. },
                ..
            } = event
                && id == message
            {
                return;
            }
        }
        panic!("event stream ended");
    })
    .await
    .expect("never stored at the relay");
}

async fn run(messages: usize) {
    let relay_dir = tempfile::tempdir().expect("tempdir");
    let relay = tern_relay::Relay::spawn(
        tern_relay::Config::new(relay_dir.path()).with_listen_addr("/ip4/127.0.0.1/tcp/0"),
    )
    .await
    .expect("relay");
    let address = relay.addresses().await[0].clone();
    let (alice_dir, bob_dir) = (
        tempfile::tempdir().expect("tempdir"),
        tempfile::tempdir().expect("tempdir"),
    );
    let alice = node(alice_dir.path(), &address).await;
    let bob = node(bob_dir.path(), &address).await;
    let b = bob.user_id();
    alice.add_contact("bob", b).await.expect("contact");
    // Bob's record (relays included) is published and his relay holds his prekeys.
    tokio::time::timeout(WAIT, async {
        while relay.metrics().await.prekeys_uploaded < 100 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("prekeys never uploaded");
    let mut events = alice.events(tern_node::From::Now);
    let text = "x".repeat(1024);

    let started = Instant::now();
    let first = alice.send(b, text.clone()).await.expect("send");
    stored(&mut events, first).await;
    let first = started.elapsed();

    let mut latencies = Vec::with_capacity(messages);
    for _ in 0..messages {
        let started = Instant::now();
        let id = alice.send(b, text.clone()).await.expect("send");
        stored(&mut events, id).await;
        latencies.push(started.elapsed());
    }
    latencies.sort();
    let at = |p: f64| latencies[((latencies.len() - 1) as f64 * p) as usize];
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    println!(
        "first message to a new contact through the relay: {:.2} ms",
        ms(first)
    );
    println!(
        "send -> stored at relay, {messages} messages one at a time: p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        ms(at(0.5)),
        ms(at(0.99)),
        ms(at(1.0)),
    );
    alice.shutdown().await;
    bob.shutdown().await;

    let address: Multiaddr = address.parse().expect("relay address");
    let Some(libp2p::multiaddr::Protocol::P2p(peer)) = address.iter().last() else {
        panic!("no peer id in {address}");
    };
    let (mut cold, mut warm) = (Vec::new(), Vec::new());
    for _ in 0..200 {
        let mut client = client();
        client.add_peer_address(peer, address.clone());
        let started = Instant::now();
        challenge(&mut client, peer).await;
        cold.push(started.elapsed());
        let started = Instant::now();
        challenge(&mut client, peer).await;
        warm.push(started.elapsed());
    }
    cold.sort();
    warm.sort();
    println!(
        "a challenge on a new identity (connect, Noise, Yamux, request): p50 {:.2} ms; \
         on its open connection: p50 {:.2} ms",
        ms(cold[cold.len() / 2]),
        ms(warm[warm.len() / 2]),
    );
    relay.shutdown().await;
}

type Client = Swarm<request_response::Behaviour<MailboxCodec>>;

/// A mailbox client on a fresh key, on the same stack as a node's (TCP without Nagle, Noise,
/// Yamux).
fn client() -> Client {
    libp2p::SwarmBuilder::with_new_identity()
        .with_tokio()
        .with_tcp(
            tcp::Config::default().nodelay(true),
            noise::Config::new,
            yamux::Config::default,
        )
        .expect("tcp")
        .with_behaviour(|_| {
            request_response::Behaviour::new(
                [(tern_proto::mailbox::PROTOCOL, ProtocolSupport::Outbound)],
                request_response::Config::default().with_request_timeout(WAIT),
            )
        })
        .expect("behaviour")
        .with_swarm_config(|c| c.with_idle_connection_timeout(WAIT))
        .build()
}

async fn challenge(client: &mut Client, relay: PeerId) {
    let id = client
        .behaviour_mut()
        .send_request(&relay, Request::Challenge);
    tokio::time::timeout(WAIT, async {
        loop {
            if let SwarmEvent::Behaviour(request_response::Event::Message {
                message:
                    request_response::Message::Response {
                        request_id,
                        response: Response::Challenge { .. },
                    },
                ..
            }) = client.select_next_some().await
                && request_id == id
            {
                return;
            }
        }
    })
    .await
    .expect("no challenge");
}
