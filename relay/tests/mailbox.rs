//! The relay as operators run it: a real `tern-relay` process on loopback, driven over
//! `/tern/mailbox/2` by a raw libp2p client. Covers custody across a SIGKILL, owner-only
//! fetch and ack, refusals, garbage input, limits, and what the data directory holds.

mod support;

use futures::StreamExt;
use libp2p::{request_response, swarm::SwarmEvent};
use rand_chacha::{ChaCha20Rng, rand_core::SeedableRng};
use tern_crypto::{Session, envelope};
use tern_proto::mailbox::{Operation, Refusal, Request, Response};

use self::support::*;

const PLAINTEXT: &str = "the secret plaintext 4242";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn custody_survives_sigkill_and_only_the_owner_collects() {
    let dir = tempfile::tempdir().unwrap();
    let alice = owner(1);
    let bob = owner(2);
    let mallory = owner(3);
    let mailbox = bob.bundle.mailbox().id();

    // Alice seals a real session message to Bob's mailbox.
    let mut rng = ChaCha20Rng::from_seed([7; 32]);
    let mut session = Session::initiate(
        &mut rng,
        &alice.account,
        &bob.bundle,
        None,
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs(),
    )
    .unwrap();
    let message = session.encrypt(&mut rng, PLAINTEXT.as_bytes()).unwrap();
    let sealed = envelope::seal(
        &mut rng,
        bob.bundle.mailbox(),
        &alice.account.user_id(),
        &message,
    )
    .unwrap();

    let relay = RelayProcess::start(dir.path());
    let (peer, address) = relay.address().await;
    let mut swarm = client();
    swarm.dial(address).unwrap();
    let receipt = match call(
        &mut swarm,
        peer,
        Request::Deposit {
            mailbox: *mailbox.as_bytes(),
            envelope: sealed.clone(),
        },
    )
    .await
    {
        Some(Response::Stored(receipt)) => receipt,
        other => panic!("deposit failed: {other:?}"),
    };
    receipt
        .verify(&peer.to_bytes(), &mailbox, &sealed)
        .expect("a valid custody receipt");

    // The receipt promised durability: kill -9 right after it, and start again.
    relay.kill();
    let relay = RelayProcess::start(dir.path());
    let (peer, address) = relay.address().await;
    let mut swarm = client();
    swarm.dial(address).unwrap();

    // Mallory's proof only ever opens Mallory's own mailbox.
    assert!(fetch(&mut swarm, peer, &mallory).await.is_empty());
    // A proof that borrows Bob's bundle but carries Mallory's signature is refused.
    let mut forged = prove(&mut swarm, peer, &mallory, Operation::Fetch).await;
    forged.bundle = bob.bundle.to_bytes();
    let fetch_with = |proof| Request::Fetch {
        proof,
        after: 0,
        limit: 10,
        wait_secs: 0,
    };
    assert_eq!(
        call(&mut swarm, peer, fetch_with(forged.clone())).await,
        Some(Response::Refused(Refusal::BadProof))
    );
    // A nonce is good once.
    assert_eq!(
        call(&mut swarm, peer, fetch_with(forged)).await,
        Some(Response::Refused(Refusal::StaleChallenge))
    );
    // Garbage on the protocol does not stop the relay serving others.
    let mut garbage = raw_client();
    garbage.dial(relay.address().await.1).unwrap();
    for bytes in [
        vec![1, 0, 0, 0, 3, 9, 9, 9],
        vec![7; 64],
        vec![1, 0xff, 0xff, 0xff, 0xff],
    ] {
        let id = garbage.behaviour_mut().send_request(&peer, bytes);
        tokio::time::timeout(TIMEOUT, async {
            loop {
                match garbage.select_next_some().await {
                    SwarmEvent::Behaviour(request_response::Event::Message {
                        message: request_response::Message::Response { request_id, .. },
                        ..
                    })
                    | SwarmEvent::Behaviour(request_response::Event::OutboundFailure {
                        request_id,
                        ..
                    }) if request_id == id => return,
                    _ => {}
                }
            }
        })
        .await
        .expect("garbage was neither answered nor refused");
    }

    // Bob collects exactly what Alice left, acknowledges, and it is gone.
    let items = fetch(&mut swarm, peer, &bob).await;
    assert_eq!(items.len(), 1);
    assert_eq!(items[0].envelope, sealed);
    assert_eq!(items[0].id, receipt.id);
    let proof = prove(&mut swarm, peer, &bob, Operation::Ack).await;
    assert_eq!(
        call(
            &mut swarm,
            peer,
            Request::Ack {
                proof,
                ids: vec![items[0].id],
            },
        )
        .await,
        Some(Response::Acked { removed: 1 })
    );
    assert!(fetch(&mut swarm, peer, &bob).await.is_empty());

    // What the relay's disk holds: neither the plaintext nor who sent it.
    drop(relay);
    assert!(!files_contain(dir.path(), PLAINTEXT.as_bytes()));
    assert!(!files_contain(
        dir.path(),
        alice.account.user_id().as_bytes()
    ));
    assert!(!files_contain(
        dir.path(),
        alice.account.user_id().to_string().as_bytes()
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quotas_give_clear_refusals_and_a_held_fetch_wakes_on_deposit() {
    let dir = tempfile::tempdir().unwrap();
    let limits = tern_relay::Limits {
        mailbox_messages: 1,
        max_envelope: 4096,
        ..Default::default()
    };
    let (relay, peer, address) = spawn_relay(dir.path(), limits).await;
    let bob = owner(2);
    let mailbox = *bob.bundle.mailbox().id().as_bytes();
    let mut sender = client();
    sender.dial(address.clone()).unwrap();
    let mut owner_swarm = client();
    owner_swarm.dial(address).unwrap();

    // Bob waits for mail before any arrives; the deposit wakes his fetch.
    let proof = prove(&mut owner_swarm, peer, &bob, Operation::Fetch).await;
    let waiting = owner_swarm.behaviour_mut().send_request(
        &peer,
        Request::Fetch {
            proof,
            after: 0,
            limit: 10,
            wait_secs: 30,
        },
    );
    let deposit = |n: u8| Request::Deposit {
        mailbox,
        envelope: sealed_like(n, 1024),
    };
    assert!(matches!(
        call(&mut sender, peer, deposit(1)).await,
        Some(Response::Stored(_))
    ));
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
    assert!(matches!(woke, Response::Envelopes { ref items, .. } if items.len() == 1));

    // The mailbox holds one message at most: the next deposit is refused, clearly.
    assert_eq!(
        call(&mut sender, peer, deposit(2)).await,
        Some(Response::Refused(Refusal::QuotaExceeded))
    );
    assert_eq!(
        call(
            &mut sender,
            peer,
            Request::Deposit {
                mailbox: [9; 32],
                envelope: sealed_like(0, 16 * 1024),
            },
        )
        .await,
        Some(Response::Refused(Refusal::TooLarge))
    );
    // Anything but a sealed envelope is refused before it costs anything: a direct
    // envelope's shape (version 2, a bucket less 48 bytes), which would name its sender on
    // the relay's disk, another version, and a length that is no bucket.
    let mut direct = vec![0; 1024 - 48];
    direct[0] = 2;
    let mut other_version = sealed_like(0, 1024);
    other_version[0] = 3;
    let mut off_bucket = sealed_like(0, 1024);
    off_bucket.pop();
    for envelope in [direct, other_version, off_bucket, Vec::new()] {
        let refused = call(
            &mut sender,
            peer,
            Request::Deposit {
                mailbox: [9; 32],
                envelope,
            },
        )
        .await;
        assert_eq!(refused, Some(Response::Refused(Refusal::NotSealed)));
    }
    let metrics = relay.metrics().await;
    assert_eq!(metrics.deposits, 1);
    assert_eq!(metrics.stored_messages, 1);
    assert_eq!(metrics.refused.get("quota_exceeded"), Some(&1));
    assert_eq!(metrics.refused.get("too_large"), Some(&1));
    assert_eq!(metrics.refused.get("not_sealed"), Some(&4));

    // The same counters, as Prometheus scrapes them, and liveness.
    let http = relay
        .serve_metrics("127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let get = |path: &'static str| async move {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut stream = tokio::net::TcpStream::connect(http).await.unwrap();
        stream
            .write_all(
                format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes(),
            )
            .await
            .unwrap();
        let mut response = String::new();
        stream.read_to_string(&mut response).await.unwrap();
        response
    };
    let scraped = get("/metrics").await;
    assert!(scraped.starts_with("HTTP/1.1 200"), "{scraped}");
    assert!(scraped.contains("tern_relay_deposits_total 1"), "{scraped}");
    assert!(
        scraped.contains("tern_relay_stored_messages 1"),
        "{scraped}"
    );
    assert!(
        scraped.contains("tern_relay_refused_total{reason=\"quota_exceeded\"} 1"),
        "{scraped}"
    );
    // Latency histograms counted the one durable deposit and its group commit.
    for line in [
        "tern_relay_deposit_duration_seconds_count 1",
        "tern_relay_write_sync_duration_seconds_count 1",
        "tern_relay_write_batch_deposits_count 1",
        "tern_relay_write_batch_deposits_sum 1.0",
        "# TYPE tern_relay_fetch_duration_seconds histogram",
    ] {
        assert!(scraped.contains(line), "missing {line:?} in {scraped}");
    }
    assert!(get("/health").await.starts_with("HTTP/1.1 200"));
    relay.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_time_prekeys_go_out_once_each_even_across_a_sigkill() {
    let dir = tempfile::tempdir().unwrap();
    let mut bob = owner(2);
    let mallory = owner(3);
    let mailbox = *bob.bundle.mailbox().id().as_bytes();
    let mut rng = ChaCha20Rng::from_seed([9; 32]);
    let uploaded: Vec<Vec<u8>> = bob
        .prekeys
        .generate_one_time(&mut rng, &bob.account, 5)
        .iter()
        .map(tern_crypto::OneTimePrekey::to_bytes)
        .collect();

    let relay = RelayProcess::start(dir.path());
    let (peer, address) = relay.address().await;
    let mut swarm = client();
    swarm.dial(address).unwrap();

    // Nothing yet: a sender falls back to the signed prekey.
    let take = Request::TakePrekey { mailbox };
    assert_eq!(
        call(&mut swarm, peer, take.clone()).await,
        Some(Response::PrekeysExhausted)
    );

    // Only the owner uploads, only its own keys, only well-formed ones, only with a proof for
    // this operation.
    let upload = |proof, prekeys| Request::UploadPrekeys { proof, prekeys };
    let proof = prove(&mut swarm, peer, &mallory, Operation::UploadPrekeys).await;
    assert_eq!(
        call(&mut swarm, peer, upload(proof, uploaded.clone())).await,
        Some(Response::Refused(Refusal::BadPrekey)),
        "bob's keys under mallory's proof"
    );
    let proof = prove(&mut swarm, peer, &bob, Operation::Fetch).await;
    assert_eq!(
        call(&mut swarm, peer, upload(proof, uploaded.clone())).await,
        Some(Response::Refused(Refusal::BadProof)),
        "a proof for another operation"
    );
    let proof = prove(&mut swarm, peer, &bob, Operation::UploadPrekeys).await;
    assert_eq!(
        call(&mut swarm, peer, upload(proof, vec![vec![1, 2, 3]])).await,
        Some(Response::Refused(Refusal::BadPrekey)),
        "garbage"
    );
    let proof = prove(&mut swarm, peer, &bob, Operation::UploadPrekeys).await;
    let too_many = vec![uploaded[0].clone(); tern_proto::mailbox::MAX_PREKEY_BATCH + 1];
    assert_eq!(
        call(&mut swarm, peer, upload(proof, too_many)).await,
        Some(Response::Refused(Refusal::BadPrekey)),
        "an oversized batch"
    );
    assert_eq!(
        call(&mut swarm, peer, take.clone()).await,
        Some(Response::PrekeysExhausted),
        "refused uploads stored nothing"
    );
    let proof = prove(&mut swarm, peer, &bob, Operation::UploadPrekeys).await;
    assert_eq!(
        call(&mut swarm, peer, upload(proof, uploaded.clone())).await,
        Some(Response::PrekeysHeld { count: 5 })
    );

    // One goes out; the relay is killed; the rest go out after the restart, none twice.
    let Some(Response::Prekey(first)) = call(&mut swarm, peer, take.clone()).await else {
        panic!("no prekey");
    };
    relay.kill();
    let relay = RelayProcess::start(dir.path());
    let (peer, address) = relay.address().await;
    let mut swarm = client();
    swarm.dial(address).unwrap();
    let mut handed = vec![first];
    loop {
        match call(&mut swarm, peer, take.clone()).await {
            Some(Response::Prekey(prekey)) => handed.push(prekey),
            Some(Response::PrekeysExhausted) => break,
            other => panic!("unexpected {other:?}"),
        }
    }
    let mut expected = uploaded.clone();
    expected.sort();
    handed.sort();
    assert_eq!(handed, expected, "each uploaded key exactly once");
    // Every key handed out verifies as Bob's.
    for prekey in &handed {
        let prekey = tern_crypto::OneTimePrekey::from_bytes(prekey).unwrap();
        assert_eq!(prekey.account(), bob.account.user_id());
    }
}

/// Deposits made at once share synced writes, and each write is signed once: every receipt
/// verifies through its inclusion path, receipts that share a signature share their batch, and
/// every deposit that got a receipt is there, once, after a SIGKILL.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_deposits_get_batch_receipts_that_each_verify_and_hold_across_sigkill() {
    const DEPOSITS: usize = 64;
    let dir = tempfile::tempdir().unwrap();
    let owner = owner(30);
    let mailbox = owner.bundle.mailbox().id();
    let relay = RelayProcess::start(dir.path());
    let (peer, address) = relay.address().await;
    let mut swarm = client();
    swarm.dial(address).unwrap();
    let envelopes: Vec<Vec<u8>> = (0..DEPOSITS).map(|i| sealed_like(i as u8, 1024)).collect();
    let mut waiting: std::collections::HashMap<_, usize> = envelopes
        .iter()
        .enumerate()
        .map(|(i, envelope)| {
            let request = Request::Deposit {
                mailbox: *mailbox.as_bytes(),
                envelope: envelope.clone(),
            };
            (swarm.behaviour_mut().send_request(&peer, request), i)
        })
        .collect();
    let mut receipts = vec![None; DEPOSITS];
    tokio::time::timeout(TIMEOUT, async {
        while !waiting.is_empty() {
            if let SwarmEvent::Behaviour(request_response::Event::Message {
                message:
                    request_response::Message::Response {
                        request_id,
                        response,
                    },
                ..
            }) = swarm.select_next_some().await
                && let Some(i) = waiting.remove(&request_id)
            {
                let Response::Stored(receipt) = response else {
                    panic!("deposit {i} refused: {response:?}");
                };
                receipts[i] = Some(receipt);
            }
        }
    })
    .await
    .expect("every deposit answered");
    let roots = tern_proto::mailbox::VerifiedRoots::default();
    let receipts: Vec<_> = receipts.into_iter().map(Option::unwrap).collect();
    for (receipt, envelope) in receipts.iter().zip(&envelopes) {
        receipt
            .verify(&peer.to_bytes(), &mailbox, envelope)
            .expect("each receipt verifies alone");
        receipt
            .verify_with(&peer.to_bytes(), &mailbox, envelope, &roots)
            .expect("and with the roots remembered");
        let sharing: Vec<_> = receipts
            .iter()
            .filter(|r| r.signature == receipt.signature)
            .collect();
        assert!(sharing.len() <= receipt.batch_size as usize, "{receipt:?}");
        assert!(
            sharing.iter().all(|r| r.batch_size == receipt.batch_size),
            "one signature, one batch"
        );
    }

    relay.kill();
    let relay = RelayProcess::start(dir.path());
    let (peer, address) = relay.address().await;
    let mut swarm = client();
    swarm.dial(address).unwrap();
    let held = fetch(&mut swarm, peer, &owner).await;
    let mut ids: Vec<u64> = held.iter().map(|e| e.id).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), DEPOSITS, "every receipted deposit, once");
    for receipt in &receipts {
        assert!(held.iter().any(|e| e.id == receipt.id));
    }
}
