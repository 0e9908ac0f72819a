//! The flood phase: one honest sender's deposit latency on a relay with its default limits,
//! alone and while one attacker connection sends junk challenges and 256 KiB deposits into
//! random mailboxes as fast as the relay answers. Quiet and flooded rounds alternate in one
//! run, so the machine's noise hits both.

use std::sync::{
    Arc,
    atomic::{AtomicU64, Ordering},
};

use tokio::sync::watch;

use super::*;

/// Honest deposits per round, one at a time.
const HONEST: usize = 300;
/// Quiet/flooded round pairs.
const ROUNDS: usize = 2;
/// The attacker's requests in flight.
const ATTACK_WINDOW: usize = 64;
/// The attacker's envelopes: the largest the relay takes.
const JUNK: usize = 256 * 1024;

/// Deposit latencies of `count` honest deposits, one after the other.
async fn honest(
    swarm: &mut Client,
    peer: PeerId,
    mailbox: [u8; 32],
    count: usize,
) -> Vec<Duration> {
    let mut envelope = vec![0x5a; ENVELOPE];
    envelope[0] = tern_crypto::envelope::ENVELOPE_VERSION;
    let mut latencies = Vec::with_capacity(count);
    for _ in 0..count {
        // Each different, as sealed envelopes are: the relay stores a repeated one once.
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        envelope[1..9].copy_from_slice(&n.to_be_bytes());
        let at = Instant::now();
        let answer = one(
            swarm,
            peer,
            Request::Deposit {
                mailbox,
                envelope: envelope.clone(),
            },
        )
        .await;
        assert!(
            matches!(answer, Response::Stored(_)),
            "an honest deposit was refused: {answer:?}"
        );
        latencies.push(at.elapsed());
    }
    latencies.sort();
    latencies
}

/// Floods until `stop` turns true; counts the answers it got.
async fn attack(
    address: Multiaddr,
    peer: PeerId,
    stop: watch::Receiver<bool>,
    sent: Arc<AtomicU64>,
) {
    let mut swarm = client();
    swarm.dial(address).expect("dial");
    // Junk shaped as the largest sealed envelope: the relay cannot tell it from one.
    let mut junk = vec![0xee; JUNK];
    junk[0] = tern_crypto::envelope::ENVELOPE_VERSION;
    let mut in_flight = 0usize;
    let mut n = 0u64;
    while !*stop.borrow() {
        while in_flight < ATTACK_WINDOW {
            let request = if n.is_multiple_of(2) {
                Request::Challenge
            } else {
                let mut mailbox = [0u8; 32];
                mailbox[..8].copy_from_slice(&n.to_be_bytes());
                Request::Deposit {
                    mailbox,
                    envelope: junk.clone(),
                }
            };
            swarm.behaviour_mut().send_request(&peer, request);
            in_flight += 1;
            n += 1;
        }
        if let SwarmEvent::Behaviour(
            request_response::Event::Message {
                message: request_response::Message::Response { .. },
                ..
            }
            | request_response::Event::OutboundFailure { .. },
        ) = swarm.select_next_some().await
        {
            in_flight -= 1;
            sent.fetch_add(1, Ordering::Relaxed);
        }
    }
}

pub(crate) async fn run(dir: &std::path::Path) {
    let relay = tern_relay::Relay::spawn(
        tern_relay::Config::new(dir.join("flood-relay")).with_listen_addr("/ip4/127.0.0.1/tcp/0"),
    )
    .await
    .expect("relay");
    let address: Multiaddr = relay.addresses().await[0].parse().expect("address");
    let peer: PeerId = relay.peer_id().parse().expect("peer id");
    let mailbox = *owner().1.mailbox().id().as_bytes();
    let mut sender = client();
    sender.dial(address.clone()).expect("dial");
    // Warm the connection up, outside the measurement.
    honest(&mut sender, peer, mailbox, 10).await;

    let (mut quiet, mut flooded) = (Vec::new(), Vec::new());
    let answered = Arc::new(AtomicU64::new(0));
    let (mut flood_secs, mut flood_answers) = (0.0, 0);
    for _ in 0..ROUNDS {
        quiet.extend(honest(&mut sender, peer, mailbox, HONEST).await);

        let (stop, stopped) = watch::channel(false);
        let attacker = tokio::spawn(attack(address.clone(), peer, stopped, answered.clone()));
        // Measure only once the flood is under way.
        let before = answered.load(Ordering::Relaxed);
        while answered.load(Ordering::Relaxed) < before + 200 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let started = Instant::now();
        let at_start = answered.load(Ordering::Relaxed);
        flooded.extend(honest(&mut sender, peer, mailbox, HONEST).await);
        flood_secs += started.elapsed().as_secs_f64();
        flood_answers += answered.load(Ordering::Relaxed) - at_start;
        let _ = stop.send(true);
        let _ = attacker.await;
    }
    quiet.sort();
    flooded.sort();
    let metrics = relay.metrics().await;
    let (q50, q99) = (percentile(&quiet, 0.5), percentile(&quiet, 0.99));
    let (f50, f99) = (percentile(&flooded, 0.5), percentile(&flooded, 0.99));
    println!(
        "flood: honest deposit latency alone p50 {:.2} ms p99 {:.2} ms; under flood p50 {:.2} ms \
         p99 {:.2} ms; flooded / alone p50 {:.2}x p99 {:.2}x",
        ms(q50),
        ms(q99),
        ms(f50),
        ms(f99),
        f50.as_secs_f64() / q50.as_secs_f64(),
        f99.as_secs_f64() / q99.as_secs_f64(),
    );
    println!(
        "flood: the attacker got {} answers in all, {:.0}/s while honest latency was measured; \
         refused {:?}; evicted {:?}",
        answered.load(Ordering::Relaxed),
        flood_answers as f64 / flood_secs.max(f64::EPSILON),
        metrics.refused,
        metrics.evicted,
    );
    relay.shutdown().await;
}
