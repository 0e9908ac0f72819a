//! Sybil relays cannot lock honest relays out of discovery: throwaway "relays" (raw libp2p
//! peers, each a valid provider of itself, some even answering the mailbox probe) neither
//! push an honest relay off a DHT server's list under `/tern/relays/1` nor take every slot of
//! a node that picks its mailbox relays from the DHT.
//!
//! The Sybils run Kademlia in client mode, so they answer no lookups: what a lookup finds is
//! exactly what the relays under test list.

use std::{collections::HashSet, time::Duration};

use futures::StreamExt;
use libp2p::{
    Multiaddr, PeerId, Swarm,
    kad::{self, GetProvidersOk, QueryResult, RecordKey},
    noise,
    request_response::{self, ProtocolSupport},
    swarm::{SwarmEvent, behaviour::toggle::Toggle},
    tcp, yamux,
};
use tern_proto::{
    dht,
    mailbox::{Request, Response},
};
use tern_relay::MailboxCodec;

const TIMEOUT: Duration = Duration::from_secs(60);
/// More than the list holds, so it is full before the honest relay comes.
const SYBILS_BEFORE: usize = dht::MAX_PROVIDERS_PER_KEY + 6;
/// More Sybils after it, trying to push it out again.
const SYBILS_AFTER: usize = 30;

/// A throwaway peer: Kademlia in client mode and, if it `answers`, the mailbox protocol,
/// where it answers every challenge (all a probe asks).
#[derive(libp2p::swarm::NetworkBehaviour)]
struct Sybil {
    kad: kad::Behaviour<kad::store::MemoryStore>,
    mailbox: Toggle<request_response::Behaviour<MailboxCodec>>,
}

type Peer = Swarm<Sybil>;

/// A peer listening on `ip` and announcing that address.
async fn peer(ip: &str, answers: bool) -> Peer {
    let mut swarm = libp2p::SwarmBuilder::with_new_identity()
        .with_tokio()
        .with_tcp(
            tcp::Config::default(),
            noise::Config::new,
            yamux::Config::default,
        )
        .unwrap()
        .with_behaviour(|key| Sybil {
            kad: dht::behaviour(key.public().to_peer_id(), 16),
            mailbox: Toggle::from(answers.then(|| {
                request_response::Behaviour::new(
                    [(tern_proto::mailbox::PROTOCOL, ProtocolSupport::Inbound)],
                    request_response::Config::default(),
                )
            })),
        })
        .unwrap()
        .with_swarm_config(|c| c.with_idle_connection_timeout(TIMEOUT))
        .build();
    swarm.behaviour_mut().kad.set_mode(Some(kad::Mode::Client));
    swarm
        .listen_on(format!("/ip4/{ip}/tcp/0").parse().unwrap())
        .unwrap();
    let address = tokio::time::timeout(TIMEOUT, async {
        loop {
            if let SwarmEvent::NewListenAddr { address, .. } = swarm.select_next_some().await {
                return address;
            }
        }
    })
    .await
    .expect("never listened");
    // Provider records carry the announcer's external addresses.
    swarm.add_external_address(address);
    swarm
}

/// Announces `swarm` as a relay at `seed`, waits until the announcement was delivered, then
/// keeps the peer running (answering probes, if it does) until the test ends.
async fn announce(mut swarm: Peer, seed: (PeerId, Multiaddr)) -> tokio::task::JoinHandle<()> {
    swarm.behaviour_mut().kad.add_address(&seed.0, seed.1);
    let id = swarm
        .behaviour_mut()
        .kad
        .start_providing(RecordKey::new(&dht::RELAYS_KEY))
        .unwrap();
    tokio::time::timeout(TIMEOUT, async {
        loop {
            if let SwarmEvent::Behaviour(SybilEvent::Kad(kad::Event::OutboundQueryProgressed {
                id: done,
                result: QueryResult::StartProviding(result),
                ..
            })) = swarm.select_next_some().await
                && done == id
            {
                result.expect("the announcement failed");
                return;
            }
        }
    })
    .await
    .expect("the announcement never finished");
    tokio::spawn(async move {
        loop {
            if let SwarmEvent::Behaviour(SybilEvent::Mailbox(request_response::Event::Message {
                message:
                    request_response::Message::Request {
                        request: Request::Challenge,
                        channel,
                        ..
                    },
                ..
            })) = swarm.select_next_some().await
                && let Some(mailbox) = swarm.behaviour_mut().mailbox.as_mut()
            {
                let _ = mailbox.send_response(channel, Response::Challenge { nonce: [7; 32] });
            }
        }
    })
}

/// The providers of `/tern/relays/1` that `seed` lists.
async fn listed(seed: (PeerId, Multiaddr)) -> HashSet<PeerId> {
    let mut client = peer("127.0.0.1", false).await;
    client.behaviour_mut().kad.add_address(&seed.0, seed.1);
    let id = client
        .behaviour_mut()
        .kad
        .get_providers(RecordKey::new(&dht::RELAYS_KEY));
    let mut found = HashSet::new();
    tokio::time::timeout(TIMEOUT, async {
        loop {
            if let SwarmEvent::Behaviour(SybilEvent::Kad(kad::Event::OutboundQueryProgressed {
                id: done,
                result: QueryResult::GetProviders(result),
                step,
                ..
            })) = client.select_next_some().await
                && done == id
            {
                if let Ok(GetProvidersOk::FoundProviders { providers, .. }) = result {
                    found.extend(providers);
                }
                if step.last {
                    return;
                }
            }
        }
    })
    .await
    .expect("the lookup never finished");
    found
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_relay_announced_after_a_sybil_flood_is_still_listed() {
    let dir = tempfile::tempdir().unwrap();
    let seed = tern_relay::Relay::spawn(
        tern_relay::Config::new(dir.path()).with_listen_addr("/ip4/127.0.0.1/tcp/0"),
    )
    .await
    .unwrap();
    let address: Multiaddr = seed.addresses().await[0].parse().unwrap();
    let seed_at = (seed.peer_id().parse::<PeerId>().unwrap(), address);

    // The Sybils share one host (127.0.0.0/16); the honest relay runs elsewhere (127.1/16,
    // still loopback).
    let mut running = Vec::new();
    let mut sybils = HashSet::new();
    for _ in 0..SYBILS_BEFORE {
        let sybil = peer("127.0.0.1", false).await;
        sybils.insert(*sybil.local_peer_id());
        running.push(announce(sybil, seed_at.clone()).await);
    }
    let honest = peer("127.1.0.1", false).await;
    let honest_id = *honest.local_peer_id();
    running.push(announce(honest, seed_at.clone()).await);
    for _ in 0..SYBILS_AFTER {
        let sybil = peer("127.0.0.1", false).await;
        sybils.insert(*sybil.local_peer_id());
        running.push(announce(sybil, seed_at.clone()).await);
    }

    let found = listed(seed_at.clone()).await;
    assert!(
        found.contains(&honest_id),
        "the honest relay is locked out by {} Sybils",
        found.intersection(&sybils).count()
    );
    assert!(
        found.len() <= dht::MAX_PROVIDERS_PER_KEY + 1,
        "{}",
        found.len()
    );
    let metrics = seed.metrics().await;
    assert!(
        metrics.evicted.get("relay_providers").copied().unwrap_or(0)
            >= (SYBILS_BEFORE + 1 + SYBILS_AFTER - dht::MAX_PROVIDERS_PER_KEY) as u64,
        "{:?}",
        metrics.evicted
    );

    for task in running {
        task.abort();
    }
    seed.shutdown().await;
}

async fn relay(dir: &std::path::Path, ip: &str, bootstrap: Option<&str>) -> tern_relay::Relay {
    let mut config = tern_relay::Config::new(dir).with_listen_addr(format!("/ip4/{ip}/tcp/0"));
    if let Some(bootstrap) = bootstrap {
        config = config.with_bootstrap(bootstrap);
    }
    tern_relay::Relay::spawn(config).await.unwrap()
}

/// Sybils that answer a node's probe, and Sybils that do not.
const SYBILS_ANSWERING: usize = 16;
const SYBILS_SILENT: usize = 8;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_picks_honest_relays_past_twenty_four_sybil_providers() {
    // Three honest relays, each on a network of its own (127.1/16, 127.2/16, 127.3/16: still
    // loopback); the first is the seed everyone joins through.
    let dirs: Vec<_> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    let seed = relay(dirs[0].path(), "127.3.0.1", None).await;
    let seed_address = seed.addresses().await[0].clone();
    let seed_at = (
        seed.peer_id().parse::<PeerId>().unwrap(),
        seed_address.parse::<Multiaddr>().unwrap(),
    );
    let mut honest = vec![seed];
    for (dir, ip) in dirs[1..].iter().zip(["127.1.0.1", "127.2.0.1"]) {
        honest.push(relay(dir.path(), ip, Some(&seed_address)).await);
    }
    let honest_ids: HashSet<String> = honest.iter().map(tern_relay::Relay::peer_id).collect();

    // Twenty-four Sybils on one host announce themselves; two thirds answer probes.
    let mut running = Vec::new();
    for n in 0..SYBILS_ANSWERING + SYBILS_SILENT {
        let sybil = peer("127.0.0.1", n < SYBILS_ANSWERING).await;
        running.push(announce(sybil, seed_at.clone()).await);
    }

    // Every honest relay has joined the DHT and is listed before the node looks.
    let ids: HashSet<PeerId> = honest_ids.iter().map(|id| id.parse().unwrap()).collect();
    tokio::time::timeout(TIMEOUT, async {
        while !listed(seed_at.clone()).await.is_superset(&ids) {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await
    .expect("the honest relays were never listed");

    let dir = tempfile::tempdir().unwrap();
    let node = tern_node::test_utils::builder(dir.path())
        .with_dht_server(false)
        .with_bootstrap(&seed_address)
        .create_account(true)
        .spawn()
        .await
        .unwrap();
    let picked = tokio::time::timeout(TIMEOUT, async {
        loop {
            let status = node.status().await.unwrap();
            let relays: HashSet<String> = status.relays.iter().map(|r| r.peer_id.clone()).collect();
            if relays.len() >= 3 {
                return relays;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await
    .expect("the node never found three relays");
    // Before the fix, the node took the first three providers that answered: almost always
    // Sybils.
    assert_eq!(picked, honest_ids, "the Sybils took slots");

    node.shutdown().await;
    for task in running {
        task.abort();
    }
    for relay in &honest {
        relay.shutdown().await;
    }
}
