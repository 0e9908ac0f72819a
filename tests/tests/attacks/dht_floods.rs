//! Floods of the DHT (finding 5 of the abuse review): throwaway accounts' records pushed at a
//! relay's bounded store, and Sybil "relays" announcing themselves under `/tern/relays/1`,
//! while Alice writes to Bob and a new user joins.

use futures::StreamExt;
use libp2p::{
    Multiaddr,
    kad::{self, RecordKey},
    swarm::SwarmEvent,
};
use tern_proto::dht;
use tern_tests::{Profile, RelayProcess, TIMEOUT, eventually};

use crate::{
    attacker::{Attack, peer_of},
    dht::{kad_client, put_all, throwaway_record},
    honest::{Chat, RUN, assert_within_bound},
};

/// Records the attacked relay keeps for others: small, so the flood fills it many times.
const STORE: usize = 64;
/// Throwaway "relays" announcing themselves.
const SYBILS: usize = 24;
/// Throwaway accounts whose records the attacker pushes.
const THROWAWAYS: u64 = 400;

/// Announces a fresh peer listening on loopback (and answering nothing but Kademlia) as a
/// relay at `seed`, and keeps it running.
async fn sybil(seed: &Multiaddr) -> libp2p::PeerId {
    let mut swarm = kad_client(seed);
    swarm.behaviour_mut().set_mode(Some(kad::Mode::Client));
    swarm
        .listen_on("/ip4/127.0.0.1/tcp/0".parse().expect("an address"))
        .expect("listen");
    let announced = tokio::time::timeout(TIMEOUT, async {
        let mut id = None;
        loop {
            match swarm.select_next_some().await {
                SwarmEvent::NewListenAddr { address, .. } if id.is_none() => {
                    // Provider records carry the announcer's external addresses.
                    swarm.add_external_address(address);
                    id = Some(
                        swarm
                            .behaviour_mut()
                            .start_providing(RecordKey::new(&dht::RELAYS_KEY))
                            .expect("an announcement"),
                    );
                }
                SwarmEvent::Behaviour(kad::Event::OutboundQueryProgressed {
                    id: done,
                    result: kad::QueryResult::StartProviding(result),
                    ..
                }) if Some(done) == id => return result.is_ok(),
                _ => {}
            }
        }
    })
    .await
    .expect("the announcement finishes in time");
    assert!(announced, "the relay takes the Sybil's announcement");
    let peer = *swarm.local_peer_id();
    tokio::spawn(async move {
        loop {
            swarm.select_next_some().await;
        }
    });
    peer
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn throwaway_records_and_sybil_relays_leave_real_users_findable() {
    let _serial = crate::ONE_AT_A_TIME.lock().await;
    let dirs: Vec<tempfile::TempDir> = (0..2)
        .map(|_| tempfile::tempdir().expect("tempdir"))
        .collect();
    let seed = RelayProcess::start_with_config(
        dirs[0].path(),
        &[],
        &format!("[limits]\ndht_max_records = {STORE}\n"),
    );
    let (seed_address, _) = seed.address().await;
    // An honest relay that advertises itself through the first.
    let honest = RelayProcess::start(dirs[1].path(), &[&seed_address]);
    let (_, honest_peer) = honest.address().await;
    let mut chat = Chat::start(&[&seed_address]).await;
    let calm = chat.timed("calm", RUN).await;

    let target: Multiaddr = seed_address.parse().expect("an address");
    // Made beforehand, as an attacker would on its own machine: minting accounts costs CPU
    // that would otherwise be taken from the honest users sharing this one.
    let throwaways: Vec<kad::Record> = (0..THROWAWAYS).map(throwaway_record).collect();
    let (sybils_tx, sybils_rx) = std::sync::mpsc::channel();
    let attack = Attack::spawn(move |tally| async move {
        for _ in 0..SYBILS {
            sybils_tx
                .send(sybil(&target).await)
                .expect("the test is listening");
        }
        // Then valid records of throwaway accounts, batch after batch, over and over for as
        // long as the test runs.
        let relay = peer_of(&target);
        let mut mallory = kad_client(&target);
        for batch in throwaways.chunks(50).cycle() {
            let stored = put_all(&mut mallory, relay, batch.to_vec()).await;
            tally
                .answered
                .fetch_add(stored as u64, std::sync::atomic::Ordering::Relaxed);
        }
    });
    eventually("the store to have filled several times over", || async {
        (attack.answered() >= THROWAWAYS).then_some(())
    })
    .await;
    let sybils: Vec<String> = sybils_rx.try_iter().map(|p| p.to_string()).collect();
    assert_eq!(sybils.len(), SYBILS, "every Sybil announced itself first");

    let attacked = chat.timed("under attack", RUN).await;
    // A new user publishes while the flood goes on, and is found by someone who only has
    // their address.
    let carol = Profile::init(&[&seed_address]).await;
    let carol_daemon = carol.daemon().await;
    carol.wait_online(1).await;
    chat.alice.add_contact("carol", &carol).await;
    carol.add_contact("alice", &chat.alice).await;
    let run = chat.alice.tern(&["send", "carol", "welcome"]).await;
    assert_eq!(run.code, 0, "{run:?}");
    eventually("carol to receive alice's welcome", || async {
        let history = carol.history("alice").await;
        history.iter().any(|m| m["text"] == "welcome").then_some(())
    })
    .await;
    // Carol's daemon looks for more relays in the DHT: it takes the honest one, never a
    // Sybil, which answers no probe.
    let relays = eventually("carol to add the honest relay", || async {
        let status = carol.tern(&["status", "--json"]).await.json();
        let relays: Vec<String> = status["relays"]
            .as_array()?
            .iter()
            .filter_map(|r| r["peer_id"].as_str().map(str::to_owned))
            .collect();
        relays.contains(&honest_peer).then_some(relays)
    })
    .await;
    assert!(
        relays.iter().all(|r| !sybils.contains(r)),
        "carol picked a Sybil: {relays:?}"
    );

    let metrics = seed.metrics().await;
    eprintln!("attacker: {} throwaway records stored", attack.answered());
    attack.stop();
    chat.bob_has_everything().await;
    assert_within_bound(&calm, &attacked);
    assert!(
        metrics.get(r#"tern_relay_evicted_total{table="dht_records"}"#)
            >= (THROWAWAYS as usize - STORE) as f64,
        "the throwaway records pushed each other out, and it shows: {:?}",
        metrics.samples()
    );

    carol_daemon.stop().await;
    chat.stop().await;
    honest.stop().await;
    seed.stop().await;
}
