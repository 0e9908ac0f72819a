//! `/tern/deposit/1` against a real `tern-relay` process: deposits pipelined on one stream
//! and answered in order, a stream cut in the middle (every receipted deposit durable across
//! a SIGKILL, nothing stored twice when the rest is deposited again), and garbage on the
//! stream.

mod support;

use std::collections::HashSet;

use futures::{AsyncReadExt, AsyncWriteExt};
use tern_proto::mailbox::{
    MAX_REQUEST_LEN, VerifiedRoots,
    deposits::{self, DepositAnswer, DepositFrame, MAX_ANSWER_LEN},
    read_frame,
};

use self::support::*;

/// Distinct envelopes, as sealed envelopes are.
fn envelopes(count: usize, tag: u8) -> Vec<Vec<u8>> {
    (0..count)
        .map(|i| {
            let mut envelope = sealed_like(tag, 1024);
            envelope[1..9].copy_from_slice(&(i as u64).to_be_bytes());
            envelope
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pipelined_deposits_are_answered_in_order_with_valid_receipts() {
    let dir = tempfile::tempdir().unwrap();
    let relay = RelayProcess::start(dir.path());
    let (peer, address) = relay.address().await;
    let bob = owner(2);
    let mailbox = bob.bundle.mailbox().id();
    let (mut control, network) = stream_client(address).await;
    let (lane, driver) = deposits::lane(open_stream(&mut control, peer, deposits::PROTOCOL).await);
    let driver = tokio::spawn(driver);

    // More deposits than the window, all queued at once.
    let sent = envelopes(3 * deposits::WINDOW, 1);
    let answers = futures::future::join_all(
        sent.iter()
            .map(|e| lane.deposit(*mailbox.as_bytes(), e.clone())),
    );
    let answers = tokio::time::timeout(TIMEOUT, answers).await.unwrap();
    let roots = VerifiedRoots::default();
    let mut ids = HashSet::new();
    for (envelope, answer) in sent.iter().zip(answers) {
        let Ok(DepositAnswer::Stored(receipt)) = answer else {
            panic!("a deposit was not stored: {answer:?}");
        };
        // Each answer is for the deposit in its place: its receipt covers that envelope.
        receipt
            .verify_with(&peer.to_bytes(), &mailbox, envelope, &roots)
            .expect("a valid receipt for the deposit in its place");
        ids.insert(receipt.id);
    }
    assert_eq!(ids.len(), sent.len(), "every deposit has its own id");

    // A closed lane closes the stream cleanly once everything is answered.
    drop(lane);
    tokio::time::timeout(TIMEOUT, driver)
        .await
        .unwrap()
        .unwrap()
        .expect("a clean end");
    network.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_cut_in_the_middle_loses_no_receipted_deposit_and_stores_none_twice() {
    let dir = tempfile::tempdir().unwrap();
    let relay = RelayProcess::start(dir.path());
    let (peer, address) = relay.address().await;
    let bob = owner(2);
    let mailbox = bob.bundle.mailbox().id();
    let sent = envelopes(90, 2);

    // Every deposit goes out in one write; the sender reads a third of the answers and then
    // the stream is cut, with the rest written, read or being written by the relay.
    let (mut control, network) = stream_client(address.clone()).await;
    let mut stream = open_stream(&mut control, peer, deposits::PROTOCOL).await;
    let mut frames = Vec::new();
    for envelope in &sent {
        let frame = DepositFrame {
            mailbox: *mailbox.as_bytes(),
            envelope: envelope.clone(),
        };
        deposits::put_frame(&mut frames, &frame, MAX_REQUEST_LEN).unwrap();
    }
    stream.write_all(&frames).await.unwrap();
    stream.flush().await.unwrap();
    let roots = VerifiedRoots::default();
    let mut receipted = Vec::new();
    for envelope in &sent[..30] {
        let answer: DepositAnswer =
            tokio::time::timeout(TIMEOUT, read_frame(&mut stream, MAX_ANSWER_LEN))
                .await
                .unwrap()
                .unwrap();
        let DepositAnswer::Stored(receipt) = answer else {
            panic!("refused: {answer:?}");
        };
        receipt
            .verify_with(&peer.to_bytes(), &mailbox, envelope, &roots)
            .unwrap();
        receipted.push(receipt.id);
    }
    drop(stream);
    network.abort();

    // The relay dies at once (kill -9); what it receipted must be on its disk.
    relay.kill();
    let relay = RelayProcess::start(dir.path());
    let (peer, address) = relay.address().await;
    let mut owner_swarm = client();
    owner_swarm.dial(address.clone()).unwrap();
    let held = fetch(&mut owner_swarm, peer, &bob).await;
    let held_ids: HashSet<u64> = held.iter().map(|e| e.id).collect();
    for id in &receipted {
        assert!(held_ids.contains(id), "receipted deposit {id} was lost");
    }

    // The sender deposits again everything it holds no receipt for, on a new stream: the
    // relay stores what it did not have and answers for what it had.
    let (mut control, network) = stream_client(address).await;
    let (lane, driver) = deposits::lane(open_stream(&mut control, peer, deposits::PROTOCOL).await);
    let driver = tokio::spawn(driver);
    for envelope in &sent[30..] {
        let answer =
            tokio::time::timeout(TIMEOUT, lane.deposit(*mailbox.as_bytes(), envelope.clone()))
                .await
                .unwrap();
        let Ok(DepositAnswer::Stored(receipt)) = answer else {
            panic!("a deposit made again was not stored: {answer:?}");
        };
        receipt
            .verify_with(&peer.to_bytes(), &mailbox, envelope, &roots)
            .unwrap();
    }
    drop(lane);
    let _ = driver.await;
    network.abort();

    let held = fetch(&mut owner_swarm, peer, &bob).await;
    assert_eq!(held.len(), sent.len(), "each envelope is held exactly once");
    let held: HashSet<Vec<u8>> = held.into_iter().map(|e| e.envelope).collect();
    assert_eq!(held, sent.into_iter().collect::<HashSet<_>>());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_on_a_deposit_stream_ends_that_stream_only() {
    let dir = tempfile::tempdir().unwrap();
    let relay = RelayProcess::start(dir.path());
    let (peer, address) = relay.address().await;
    let bob = owner(2);
    let mailbox = *bob.bundle.mailbox().id().as_bytes();
    let (mut control, network) = stream_client(address).await;

    for (n, garbage) in [
        vec![7; 64],                           // an unknown frame version
        vec![1, 0xff, 0xff, 0xff, 0xff],       // a frame larger than any deposit
        vec![1, 0, 0, 0, 3, 0xff, 0xff, 0xff], // a body that does not decode
    ]
    .into_iter()
    .enumerate()
    {
        let mut stream = open_stream(&mut control, peer, deposits::PROTOCOL).await;
        // A good deposit first: it is answered before the garbage ends the stream.
        let mut bytes = Vec::new();
        let good = DepositFrame {
            mailbox,
            envelope: sealed_like(n as u8 + 1, 1024),
        };
        deposits::put_frame(&mut bytes, &good, MAX_REQUEST_LEN).unwrap();
        bytes.extend_from_slice(&garbage);
        stream.write_all(&bytes).await.unwrap();
        stream.flush().await.unwrap();
        let answer: DepositAnswer =
            tokio::time::timeout(TIMEOUT, read_frame(&mut stream, MAX_ANSWER_LEN))
                .await
                .unwrap()
                .unwrap();
        assert!(matches!(answer, DepositAnswer::Stored(_)), "{answer:?}");
        // Then the relay closes the stream.
        let mut rest = Vec::new();
        let end = tokio::time::timeout(TIMEOUT, stream.read_to_end(&mut rest)).await;
        assert!(end.is_ok(), "the relay kept a garbled stream open");
        assert!(rest.is_empty(), "no answer to garbage");
    }

    // The relay still serves deposits.
    let (lane, driver) = deposits::lane(open_stream(&mut control, peer, deposits::PROTOCOL).await);
    tokio::spawn(driver);
    let answer = tokio::time::timeout(TIMEOUT, lane.deposit(mailbox, sealed_like(5, 1024)))
        .await
        .unwrap();
    assert!(matches!(answer, Ok(DepositAnswer::Stored(_))), "{answer:?}");
    network.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_depositor_that_never_reads_its_answers_does_not_hold_up_the_relay() {
    let dir = tempfile::tempdir().unwrap();
    let limits = tern_relay::Limits {
        deposit_burst: u32::MAX,
        deposits_per_sec: u32::MAX,
        deposit_bytes_burst: u64::MAX,
        deposit_bytes_per_sec: u64::MAX,
        mailbox_messages: u64::MAX,
        mailbox_bytes: u64::MAX,
        ..Default::default()
    };
    let (relay, peer, address) = spawn_relay(&dir.path().join("relay"), limits).await;
    let bob = owner(2);
    let (mut control, network) = stream_client(address).await;
    let mut stream = open_stream(&mut control, peer, deposits::PROTOCOL).await;

    // Far more deposits than the stream's window of answers holds, and no answer read: the
    // relay's answers fill the stream's flow-control window and its writes stall.
    let mut frames = Vec::new();
    for envelope in envelopes(2_000, 3) {
        let frame = DepositFrame {
            mailbox: *bob.bundle.mailbox().id().as_bytes(),
            envelope,
        };
        deposits::put_frame(&mut frames, &frame, MAX_REQUEST_LEN).unwrap();
    }
    let writing = tokio::spawn(async move {
        let _ = stream.write_all(&frames).await;
        let _ = stream.flush().await;
        stream // kept open, never read
    });
    tokio::time::timeout(TIMEOUT, async {
        while relay.metrics().await.deposits < 600 {
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("the relay stored the deposits it read");

    // Shutting down still ends: the stalled stream is cut after a grace.
    tokio::time::timeout(TIMEOUT, relay.shutdown())
        .await
        .expect("shutdown waited for a depositor that reads nothing");
    writing.abort();
    network.abort();
}
