//! A relay under attack: an attacker written here with raw libp2p floods the tables a stranger
//! can grow, while an honest owner keeps collecting mail through the same relay. The
//! attacker's excess is evicted and counted; the owner is served throughout.

mod support;

use std::collections::HashSet;

use futures::StreamExt;
use libp2p::{Multiaddr, PeerId, Swarm, request_response, swarm::SwarmEvent};
use rand_chacha::rand_core::SeedableRng;
use tern_proto::mailbox::{Operation, Refusal, Request, Response};
use tern_relay::MailboxCodec;

use self::support::*;

/// Sends `total` requests made by `make`, at most `window` in flight, and returns the
/// answers that came back (failed streams are left out).
async fn flood(
    swarm: &mut Swarm<request_response::Behaviour<MailboxCodec>>,
    relay: PeerId,
    total: usize,
    window: usize,
    mut make: impl FnMut(usize) -> Request,
) -> Vec<Response> {
    let mut sent = 0;
    let mut in_flight = HashSet::new();
    let mut answers = Vec::new();
    tokio::time::timeout(TIMEOUT * 3, async {
        loop {
            while sent < total && in_flight.len() < window {
                in_flight.insert(swarm.behaviour_mut().send_request(&relay, make(sent)));
                sent += 1;
            }
            if in_flight.is_empty() {
                return;
            }
            match swarm.select_next_some().await {
                SwarmEvent::Behaviour(request_response::Event::Message {
                    message:
                        request_response::Message::Response {
                            request_id,
                            response,
                        },
                    ..
                }) if in_flight.remove(&request_id) => answers.push(response),
                SwarmEvent::Behaviour(request_response::Event::OutboundFailure {
                    request_id,
                    ..
                }) => {
                    in_flight.remove(&request_id);
                }
                _ => {}
            }
        }
    })
    .await
    .expect("the flood did not finish");
    answers
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_challenge_flood_does_not_lock_owners_out() {
    // Before the fix the relay refused every challenge once it held 10,000 unused nonces, so
    // one connection asking ~170 a second blocked every owner's fetch, ack and prekey upload;
    // and challenges had no meter, so a flooder kept the relay answering as fast as it could.
    let dir = tempfile::tempdir().unwrap();
    let limits = tern_relay::Limits {
        challenge_burst: 1_024,
        challenges_per_sec: 1,
        ..Default::default()
    };
    let (relay, peer, address) = spawn_relay(dir.path(), limits).await;
    let mut attacker = client();
    attacker.dial(address.clone()).unwrap();
    let started = std::time::Instant::now();
    let answers = flood(&mut attacker, peer, 1_500, 64, |_| Request::Challenge).await;
    let challenges = answers
        .iter()
        .filter(|a| matches!(a, Response::Challenge { .. }))
        .count();
    let refused = answers
        .iter()
        .filter(|a| matches!(a, Response::Refused(Refusal::RateLimited)))
        .count();
    let allowed = 1_024 + started.elapsed().as_secs() as usize + 1;
    assert!(
        (1_000..=allowed).contains(&challenges),
        "the burst is answered, then the meter: {challenges} challenges (at most {allowed})"
    );
    assert!(refused >= 1_500 - allowed - 16, "only {refused} refused");

    // The refusal of an over-budget peer waits out the delay (a lower bound: a timer never
    // fires early). The bucket refills one a second, so at most the first of these few asks
    // back to back is granted.
    let refused_after = tokio::time::timeout(TIMEOUT, async {
        loop {
            let asked = std::time::Instant::now();
            if let Some(Response::Refused(Refusal::RateLimited)) =
                call(&mut attacker, peer, Request::Challenge).await
            {
                return asked.elapsed();
            }
        }
    })
    .await
    .expect("an over-budget peer is refused again");
    assert!(
        refused_after >= std::time::Duration::from_millis(1_000),
        "a refusal came back after {refused_after:?}, before the 1 s delay"
    );

    // The owner, another peer, is served at once.
    let bob = owner(2);
    let mut owner_swarm = client();
    owner_swarm.dial(address).unwrap();
    assert!(fetch(&mut owner_swarm, peer, &bob).await.is_empty());

    let metrics = relay.metrics().await;
    assert!(
        metrics.evicted.get("challenges").copied().unwrap_or(0) >= challenges as u64 - 16,
        "every nonce of the attacker's beyond its 16 is evicted and counted: {metrics:?}"
    );
    assert!(metrics.refused.get("rate_limited").copied().unwrap_or(0) >= refused as u64);
    assert!(metrics.challenges_outstanding <= 32);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_account_holding_many_fetches_does_not_crowd_out_an_owner() {
    let dir = tempfile::tempdir().unwrap();
    let (relay, peer, address) = spawn_relay(dir.path(), Default::default()).await;

    // The attacker proves ownership of its own mailbox and holds fetches open on it, many
    // more than its share; each one past the share answers its oldest at once.
    let mallory = owner(66);
    let mut attacker = client();
    attacker.dial(address.clone()).unwrap();
    for _ in 0..40 {
        let proof = prove(&mut attacker, peer, &mallory, Operation::Fetch).await;
        attacker.behaviour_mut().send_request(
            &peer,
            Request::Fetch {
                proof,
                after: 0,
                limit: 10,
                wait_secs: 60,
            },
        );
    }
    let evicted = tokio::time::timeout(TIMEOUT, async {
        loop {
            let metrics = relay.metrics().await;
            if metrics.evicted.get("held_fetches") == Some(&36) {
                return metrics;
            }
            // Keep the attacker's connection serviced while the relay works through it.
            let _ = tokio::time::timeout(
                std::time::Duration::from_millis(50),
                attacker.select_next_some(),
            )
            .await;
        }
    })
    .await
    .expect("the attacker's excess fetches were not evicted");
    assert_eq!(
        evicted.held_fetches, 4,
        "the attacker keeps its share, no more"
    );

    // Bob's fetch is held, and wakes with his mail.
    let bob = owner(2);
    let mailbox = *bob.bundle.mailbox().id().as_bytes();
    let mut owner_swarm = client();
    owner_swarm.dial(address.clone()).unwrap();
    let proof = prove(&mut owner_swarm, peer, &bob, Operation::Fetch).await;
    let waiting = owner_swarm.behaviour_mut().send_request(
        &peer,
        Request::Fetch {
            proof,
            after: 0,
            limit: 10,
            wait_secs: 60,
        },
    );
    let mut sender = client();
    sender.dial(address).unwrap();
    let deposit = call(
        &mut sender,
        peer,
        Request::Deposit {
            mailbox,
            envelope: sealed_like(7, 1024),
        },
    )
    .await;
    assert!(matches!(deposit, Some(Response::Stored(_))), "{deposit:?}");
    let woke = tokio::time::timeout(TIMEOUT, async {
        loop {
            if let SwarmEvent::Behaviour(request_response::Event::Message {
                message:
                    request_response::Message::Response {
                        request_id,
                        response,
                    },
                ..
            }) = owner_swarm.select_next_some().await
                && request_id == waiting
            {
                return response;
            }
        }
    })
    .await
    .unwrap();
    assert!(
        matches!(woke, Response::Envelopes { ref items, .. } if items.len() == 1),
        "{woke:?}"
    );
    drop(attacker);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_refuses_deposits_serves_acks_and_recovers_without_a_restart() {
    // Before the fix the first ENOSPC poisoned the store: every later deposit, fetch
    // acknowledgement and prekey upload failed until the operator restarted the relay.
    let Some(disk) = tern_node::test_utils::SmallDisk::mount("48m") else {
        return;
    };
    let limits = tern_relay::Limits {
        min_free_disk: 8 * 1024 * 1024,
        deposit_burst: 100_000,
        deposits_per_sec: 100_000,
        deposit_bytes_burst: 1 << 40,
        deposit_bytes_per_sec: 1 << 40,
        ..Default::default()
    };
    let (relay, peer, address) = spawn_relay(&disk.path().join("relay"), limits).await;
    let bob = owner(2);
    let mailbox = *bob.bundle.mailbox().id().as_bytes();
    let mut sender = client();
    sender.dial(address.clone()).unwrap();
    let mut owner_swarm = client();
    owner_swarm.dial(address).unwrap();

    // Incompressible envelopes, so the bytes on disk are the bytes deposited.
    let mut seed = 1u64;
    let mut envelope = move || {
        let mut envelope = (0..64 * 1024)
            .map(|_| {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                seed as u8
            })
            .collect::<Vec<u8>>();
        envelope[0] = tern_crypto::envelope::ENVELOPE_VERSION;
        envelope
    };
    let mut stored = 0;
    let refusal = loop {
        let answer = call(
            &mut sender,
            peer,
            Request::Deposit {
                mailbox,
                envelope: envelope(),
            },
        )
        .await;
        match answer {
            Some(Response::Stored(_)) => stored += 1,
            other => break other,
        }
        assert!(stored < 1_000, "48 MiB never filled");
    };
    assert!(stored > 100, "only {stored} deposits fit");
    assert!(
        matches!(refusal, Some(Response::Refused(Refusal::StorageFull))),
        "a full disk refuses with a typed answer: {refusal:?}"
    );
    assert!(relay.healthy(), "a full disk is not a failure");

    // The owner collects and acknowledges everything.
    let mut collected = 0;
    loop {
        let items = fetch(&mut owner_swarm, peer, &bob).await;
        if items.is_empty() {
            break;
        }
        collected += items.len();
        let proof = prove(&mut owner_swarm, peer, &bob, Operation::Ack).await;
        let ids = items.iter().map(|i| i.id).collect();
        let acked = call(&mut owner_swarm, peer, Request::Ack { proof, ids }).await;
        assert!(matches!(acked, Some(Response::Acked { .. })), "{acked:?}");
    }
    assert_eq!(collected, stored, "nothing accepted was lost");

    // The space comes back without a restart: deposits are accepted again.
    let accepted = tokio::time::timeout(TIMEOUT, async {
        loop {
            let answer = call(
                &mut sender,
                peer,
                Request::Deposit {
                    mailbox,
                    envelope: envelope(),
                },
            )
            .await;
            match answer {
                Some(Response::Stored(_)) => return,
                Some(Response::Refused(Refusal::StorageFull)) => {
                    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
                }
                other => panic!("unexpected answer while recovering: {other:?}"),
            }
        }
    })
    .await;
    assert!(accepted.is_ok(), "the relay never accepted a deposit again");
    assert_eq!(fetch(&mut owner_swarm, peer, &bob).await.len(), 1);
    assert!(relay.healthy());
    let metrics = relay.metrics().await;
    assert!(metrics.refused.get("storage_full").copied().unwrap_or(0) >= 1);
    relay.shutdown().await;
}

/// A client holding only a Kademlia behaviour with Tern's settings, knowing the relay.
fn kad_client(
    relay: PeerId,
    address: &Multiaddr,
) -> Swarm<libp2p::kad::Behaviour<libp2p::kad::store::MemoryStore>> {
    let mut swarm = libp2p::SwarmBuilder::with_new_identity()
        .with_tokio()
        .with_tcp(
            libp2p::tcp::Config::default(),
            libp2p::noise::Config::new,
            libp2p::yamux::Config::default,
        )
        .unwrap()
        .with_behaviour(|key| tern_proto::dht::behaviour(key.public().to_peer_id(), 16))
        .unwrap()
        .with_swarm_config(|c| c.with_idle_connection_timeout(TIMEOUT))
        .build();
    swarm.behaviour_mut().add_address(&relay, address.clone());
    swarm
}

/// A valid record for a fresh account, as a node publishes it.
fn fresh_record(seed: u32) -> libp2p::kad::Record {
    let mut rng = rand_chacha::ChaCha20Rng::from_seed({
        let mut seed_bytes = [0u8; 32];
        seed_bytes[..4].copy_from_slice(&seed.to_be_bytes());
        seed_bytes
    });
    let account = tern_crypto::AccountKey::generate(&mut rng);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let device = libp2p::identity::Keypair::generate_ed25519();
    let device_key: [u8; 32] = device.public().try_into_ed25519().unwrap().to_bytes();
    let certificate = account.certify_device(
        tern_crypto::DeviceId::from_bytes(device_key).unwrap(),
        now,
        now + 86_400,
    );
    let bundle = tern_crypto::PrekeySecrets::generate(&mut rng, &account, now).bundle(&account, 1);
    let value = tern_proto::record::sign(&account, &certificate, &[], &bundle, &[], 1, now + 3600);
    libp2p::kad::Record::new(tern_proto::record::key_for(&account.user_id()), value)
}

/// Puts each record at the relay; returns how many it acknowledged.
async fn put_all(
    swarm: &mut Swarm<libp2p::kad::Behaviour<libp2p::kad::store::MemoryStore>>,
    relay: PeerId,
    records: Vec<libp2p::kad::Record>,
) -> usize {
    let mut waiting = HashSet::new();
    for record in records {
        waiting.insert(swarm.behaviour_mut().put_record_to(
            record,
            std::iter::once(relay),
            libp2p::kad::Quorum::One,
        ));
    }
    let mut stored = 0;
    tokio::time::timeout(TIMEOUT, async {
        while !waiting.is_empty() {
            if let SwarmEvent::Behaviour(libp2p::kad::Event::OutboundQueryProgressed {
                id,
                result: libp2p::kad::QueryResult::PutRecord(result),
                ..
            }) = swarm.select_next_some().await
                && waiting.remove(&id)
            {
                stored += usize::from(result.is_ok());
            }
        }
    })
    .await
    .expect("the puts did not finish");
    stored
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn throwaway_records_cannot_push_a_real_users_record_out_of_a_relay() {
    // Before the fix a full store (65,536 records on a relay) refused every new record, so
    // accounts minted to fill it locked real users out, and their records vanished as they
    // expired. The store is sized by configuration; here it is small so the test fills it.
    let dir = tempfile::tempdir().unwrap();
    let limits = tern_relay::Limits {
        dht_max_records: 32,
        ..Default::default()
    };
    let (relay, peer, address) = spawn_relay(dir.path(), limits).await;

    let mut mallory = kad_client(peer, &address);
    let junk: Vec<_> = (1_000..1_200).map(fresh_record).collect();
    assert_eq!(
        put_all(&mut mallory, peer, junk).await,
        200,
        "valid records are taken"
    );

    // A real user publishes after the store filled up.
    let honest = fresh_record(1);
    let mut alice = kad_client(peer, &address);
    assert_eq!(put_all(&mut alice, peer, vec![honest.clone()]).await, 1);

    let mut reader = kad_client(peer, &address);
    reader.behaviour_mut().get_record(honest.key.clone());
    let found = tokio::time::timeout(TIMEOUT, async {
        loop {
            if let SwarmEvent::Behaviour(libp2p::kad::Event::OutboundQueryProgressed {
                result: libp2p::kad::QueryResult::GetRecord(result),
                ..
            }) = reader.select_next_some().await
            {
                return result;
            }
        }
    })
    .await
    .unwrap();
    let Ok(libp2p::kad::GetRecordOk::FoundRecord(found)) = found else {
        panic!("the honest record is gone: {found:?}");
    };
    assert_eq!(found.record.value, honest.value);
    let metrics = relay.metrics().await;
    assert!(metrics.evicted.get("dht_records").copied().unwrap_or(0) >= 200 - 32);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_beyond_the_per_peer_limit_are_refused_and_counted() {
    use libp2p::swarm::dial_opts::{DialOpts, PeerCondition};

    let dir = tempfile::tempdir().unwrap();
    let (relay, peer, address) = spawn_relay(dir.path(), Default::default()).await;

    // One peer opens a connection more than the relay allows it (8).
    let mut attacker = client();
    for _ in 0..9 {
        attacker
            .dial(
                DialOpts::peer_id(peer)
                    .addresses(vec![address.clone()])
                    .condition(PeerCondition::Always)
                    .build(),
            )
            .unwrap();
    }
    let attacking = tokio::spawn(async move {
        loop {
            attacker.select_next_some().await;
        }
    });
    let metrics = tokio::time::timeout(TIMEOUT, async {
        loop {
            let metrics = relay.metrics().await;
            if metrics.refused.contains_key("connection_limit") && metrics.connections == 8 {
                return metrics;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    })
    .await
    .expect("the ninth connection was never refused");
    assert_eq!(metrics.refused.get("connection_limit"), Some(&1));

    // Someone else still gets in and is served.
    let mut honest = client();
    honest.dial(address).unwrap();
    assert!(matches!(
        call(
            &mut honest,
            peer,
            Request::Deposit {
                mailbox: [7; 32],
                envelope: sealed_like(7, 1024),
            },
        )
        .await,
        Some(Response::Stored(_))
    ));
    attacking.abort();
    relay.shutdown().await;
}
