//! Floods of a relay's tables (findings 1 to 3 of the abuse review).

use std::sync::atomic::Ordering;

use futures::StreamExt;
use libp2p::Multiaddr;
use tern_crypto::UserId;
use tern_proto::mailbox::{Operation, Refusal, Request, Response};
use tern_tests::{RelayProcess, eventually};

use crate::{
    attacker::{Attack, Owner, call, mailbox_client, peer_of, sealed_noise},
    dht::find_record,
    honest::{Chat, RUN, assert_within_bound},
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn challenges_and_junk_deposits_from_one_connection() {
    let _serial = crate::ONE_AT_A_TIME.lock().await;
    // Finding 1: challenges need no authentication; the table of outstanding nonces once
    // refused everyone when one connection had asked for 10,000 of them, and nothing
    // metered them.
    let dir = tempfile::tempdir().expect("tempdir");
    let relay = RelayProcess::start(dir.path(), &[]);
    let (address, _) = relay.address().await;
    let mut chat = Chat::start(&[&address]).await;
    let calm = chat.timed("calm", RUN).await;

    let junk = sealed_noise(1, 64 * 1024);
    let attack = Attack::flood(
        address.parse::<Multiaddr>().expect("an address"),
        64,
        move |n| {
            if n.is_multiple_of(2) {
                Request::Challenge
            } else {
                let mut mailbox = [0u8; 32];
                mailbox[..8].copy_from_slice(&n.to_be_bytes());
                Request::Deposit {
                    mailbox,
                    envelope: junk.clone(),
                }
            }
        },
    );
    // Its requests beyond its budget wait a second for their refusal, so answers come
    // slowly once the burst is spent.
    eventually("the flood to be under way", || async {
        (attack.answered() >= 500 && attack.refused() >= 64).then_some(())
    })
    .await;
    let attacked = chat.timed("flooded", RUN).await;
    let metrics = relay.metrics().await;
    eprintln!(
        "attacker: {} answered, {} refused",
        attack.answered(),
        attack.refused()
    );
    attack.stop();

    chat.bob_has_everything().await;
    assert_within_bound(&calm, &attacked);
    assert!(
        metrics.get(r#"tern_relay_evicted_total{table="challenges"}"#) > 0.0,
        "the attacker's unused nonces are evicted and counted: {:?}",
        metrics.samples()
    );
    assert!(
        metrics.get(r#"tern_relay_refused_total{reason="rate_limited"}"#) > 0.0,
        "the attacker's deposits beyond its share are refused and counted: {:?}",
        metrics.samples()
    );
    chat.stop().await;
    relay.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn throwaway_identities_and_one_account_hoarding_held_fetches() {
    let _serial = crate::ONE_AT_A_TIME.lock().await;
    // Finding 2: the rate table refused new peers once full, and one account could fill the
    // table of held fetches, after which honest collectors spun without pause.
    let dir = tempfile::tempdir().expect("tempdir");
    let relay = RelayProcess::start(dir.path(), &[]);
    let (address, _) = relay.address().await;
    let mut chat = Chat::start(&[&address]).await;
    let calm = chat.timed("calm", RUN).await;

    let target: Multiaddr = address.parse().expect("an address");
    let attack = Attack::spawn(move |tally| async move {
        let relay = peer_of(&target);
        // One account of the attacker's holds many more fetches open than its share.
        let mallory = Owner::new(66);
        let mut hoarder = mailbox_client();
        hoarder.dial(target.clone()).expect("dial");
        for _ in 0..40 {
            let proof = mallory.prove(&mut hoarder, relay, Operation::Fetch).await;
            hoarder.behaviour_mut().send_request(
                &relay,
                Request::Fetch {
                    proof,
                    after: 0,
                    limit: 10,
                    wait_secs: 60,
                },
            );
        }
        tokio::spawn(async move {
            loop {
                hoarder.select_next_some().await;
            }
        });
        // Meanwhile a new identity for every deposit, as throwaway peers come and go.
        let mut n = 0u64;
        loop {
            let mut sybil = mailbox_client();
            sybil.dial(target.clone()).expect("dial");
            let mut mailbox = [0u8; 32];
            mailbox[..8].copy_from_slice(&n.to_be_bytes());
            let answer = call(
                &mut sybil,
                relay,
                Request::Deposit {
                    mailbox,
                    envelope: sealed_noise(n, 1024),
                },
            )
            .await;
            tally.answered.fetch_add(1, Ordering::Relaxed);
            if !matches!(answer, Some(Response::Stored(_))) {
                tally.refused.fetch_add(1, Ordering::Relaxed);
            }
            n += 1;
        }
    });
    eventually("the hoarder to be evicted and sybils under way", || async {
        let evicted = relay
            .metrics()
            .await
            .get(r#"tern_relay_evicted_total{table="held_fetches"}"#);
        (evicted >= 36.0 && attack.answered() >= 50).then_some(())
    })
    .await;
    let attacked = chat.timed("under attack", RUN).await;
    // Bob collects while the hoarder still holds its share.
    chat.bob_has_everything().await;
    let metrics = relay.metrics().await;
    eprintln!(
        "attacker: {} throwaway identities, {} refused",
        attack.answered(),
        attack.refused()
    );
    attack.stop();

    assert_within_bound(&calm, &attacked);
    assert_eq!(
        metrics.get(r#"tern_relay_evicted_total{table="held_fetches"}"#),
        36.0,
        "the hoarder keeps its share of four held fetches, and only its excess is evicted"
    );
    chat.stop().await;
    relay.stop().await;
}

/// Limits loose enough that one peer fills a small disk in seconds: the end state an attacker
/// with many identities and mailboxes reaches slowly under the defaults.
const LOOSE_LIMITS: &str = r#"
[limits]
min_free_disk = 8388608
mailbox_bytes = 1073741824
mailbox_messages = 1000000
deposit_burst = 1000000
deposits_per_sec = 1000000
deposit_bytes_burst = 1099511627776
deposit_bytes_per_sec = 1099511627776
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_disk_filled_with_junk_refuses_then_drains_through_the_owners_acks() {
    let _serial = crate::ONE_AT_A_TIME.lock().await;
    // Finding 3: the first ENOSPC poisoned the relay's store for every deposit until the
    // operator restarted it.
    let Some(disk) = tern_node::test_utils::SmallDisk::mount("48m") else {
        return;
    };
    let dir = disk.path().join("relay");
    std::fs::create_dir(&dir).expect("the relay's directory");
    let relay = RelayProcess::start_with_config(&dir, &[], LOOSE_LIMITS);
    let (address, _) = relay.address().await;
    let mut chat = Chat::start(&[&address]).await;
    chat.timed("before", 3).await;

    // The attacker finds Bob's mailbox as anyone can, in his record, and fills the disk
    // with junk addressed to it.
    let target: Multiaddr = address.parse().expect("an address");
    let relay_peer = peer_of(&target);
    let bob: UserId = chat.bob.address().await.parse().expect("bob's address");
    let record = find_record(&target, &bob).await.expect("bob's record").0;
    let mailbox = *record.bundle.mailbox().id().as_bytes();
    let mut mallory = mailbox_client();
    mallory.dial(target.clone()).expect("dial");
    let mut junk = 0u64;
    let refusal = loop {
        let answer = call(
            &mut mallory,
            relay_peer,
            Request::Deposit {
                mailbox,
                envelope: sealed_noise(junk, 64 * 1024),
            },
        )
        .await;
        match answer {
            Some(Response::Stored(_)) => junk += 1,
            other => break other,
        }
        assert!(junk < 1_000, "48 MiB never filled");
    };
    assert!(
        matches!(refusal, Some(Response::Refused(Refusal::StorageFull))),
        "a full disk refuses with a typed answer: {refusal:?}"
    );

    // Alice writes while the disk is full: her messages wait on her side.
    chat.send("while full", 3).await;
    let full = relay.metrics().await;
    assert!(
        full.get(r#"tern_relay_refused_total{reason="storage_full"}"#) >= 1.0,
        "{:?}",
        full.samples()
    );

    // Bob collects: the junk is acknowledged and dropped, the space comes back, and every
    // message of Alice's arrives.
    chat.bob_comes_online().await;
    eventually("bob's daemon to drain the junk from the relay", || async {
        let metrics = relay.metrics().await;
        (metrics.get("tern_relay_stored_messages") == 0.0).then_some(())
    })
    .await;
    chat.bob_has_everything().await;
    chat.bob_goes_offline().await;

    // The relay takes deposits again, without a restart.
    chat.timed("after", 3).await;
    chat.bob_has_everything().await;
    eprintln!("{junk} junk envelopes filled the disk");
    chat.stop().await;
    relay.stop().await;
}
