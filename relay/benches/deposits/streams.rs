//! Deposits on `/tern/deposit/1`: one long-lived stream per sender, deposits pipelined on it
//! ([`tern_proto::mailbox::deposits`]), against the same relay as the request-response
//! senders.

use futures::StreamExt;
use libp2p::{Multiaddr, PeerId};
use tern_proto::mailbox::{
    VerifiedRoots,
    deposits::{self, DepositAnswer},
};

/// Deposits `envelopes` for `mailbox` on one deposit stream to the relay, keeping `window`
/// unanswered, and checks every receipt as a node does (each batch's signature once).
/// Returns how many were stored.
pub(super) async fn deposit(
    address: Multiaddr,
    relay: PeerId,
    mailbox: [u8; 32],
    envelopes: Vec<Vec<u8>>,
    window: usize,
) -> usize {
    let mut swarm = super::swarm(libp2p_stream::Behaviour::new());
    let mut control = swarm.behaviour().new_control();
    swarm.dial(address).expect("dial");
    let network = tokio::spawn(async move {
        loop {
            swarm.select_next_some().await;
        }
    });
    let stream = control
        .open_stream(relay, deposits::PROTOCOL)
        .await
        .expect("deposit stream");
    let (lane, driver) = deposits::lane(stream);
    let driver = tokio::spawn(driver);
    let roots = VerifiedRoots::default();
    let mailbox_id = tern_crypto::MailboxId::from_bytes(mailbox);
    let stored = futures::stream::iter(envelopes)
        .map(|envelope| {
            let lane = lane.clone();
            async move {
                let answer = lane.deposit(mailbox, envelope.clone()).await;
                (answer, envelope)
            }
        })
        .buffer_unordered(window)
        .map(|(answer, envelope)| {
            let Ok(DepositAnswer::Stored(receipt)) = answer else {
                panic!("deposit not stored: {answer:?}");
            };
            receipt
                .verify_with(&relay.to_bytes(), &mailbox_id, &envelope, &roots)
                .expect("valid receipt");
        })
        .count()
        .await;
    drop(lane);
    driver
        .await
        .expect("driver")
        .expect("stream closed cleanly");
    network.abort();
    stored
}

/// Drains `owner`'s mailbox after `after` on one collect stream (`/tern/collect/1`): one
/// proof, then pages of `page`, each request acknowledging the page before. Returns how many
/// envelopes it took, and the cursor after the last.
pub(super) async fn collect(
    address: Multiaddr,
    relay: PeerId,
    owner: &(tern_crypto::AccountKey, tern_crypto::PrekeyBundle),
    mut after: u64,
    page: u32,
) -> (usize, u64) {
    use futures::AsyncWriteExt;
    use tern_proto::mailbox::{
        MAX_RESPONSE_LEN, Operation, OwnerProof,
        collect::{self, CollectAnswer, CollectRequest},
        deposits::{next_frame, put_frame},
    };
    let mut swarm = super::swarm(libp2p_stream::Behaviour::new());
    let mut control = swarm.behaviour().new_control();
    swarm.dial(address).expect("dial");
    let network = tokio::spawn(async move {
        loop {
            swarm.select_next_some().await;
        }
    });
    let mut stream = control
        .open_stream(relay, collect::PROTOCOL)
        .await
        .expect("collect stream");
    let mut ask = async |request: &CollectRequest| -> CollectAnswer {
        let mut frame = Vec::new();
        put_frame(&mut frame, request, collect::MAX_REQUEST_LEN).expect("frame");
        stream.write_all(&frame).await.expect("write");
        stream.flush().await.expect("flush");
        next_frame(&mut stream, MAX_RESPONSE_LEN)
            .await
            .expect("answer")
            .expect("an answer before the end")
    };
    let CollectAnswer::Challenge { nonce } = ask(&CollectRequest::Hello).await else {
        panic!("no challenge");
    };
    let proof = OwnerProof::new(
        &owner.0,
        &owner.1,
        &relay.to_bytes(),
        nonce,
        Operation::Collect,
    );
    let CollectAnswer::Proven = ask(&CollectRequest::Prove(proof)).await else {
        panic!("proof refused");
    };
    let mut drained = 0;
    let mut ack = Vec::new();
    loop {
        let next = CollectRequest::Next {
            ack: std::mem::take(&mut ack),
            after,
            limit: page,
            wait_secs: 0,
        };
        let CollectAnswer::Page { items, .. } = ask(&next).await else {
            panic!("fetch refused");
        };
        if items.is_empty() {
            break;
        }
        drained += items.len();
        after = items.last().map_or(after, |item| item.id);
        ack = items.iter().map(|item| item.id).collect();
    }
    network.abort();
    (drained, after)
}

/// The owner holds a fetch open on a collect stream; `sender` deposits one envelope; the time
/// until the owner has it, `rounds` times. Returns the sorted latencies and the cursor after.
pub(super) async fn latency(
    address: Multiaddr,
    relay: PeerId,
    owner: &(tern_crypto::AccountKey, tern_crypto::PrekeyBundle),
    mut after: u64,
    sender: &mut super::Client,
    mailbox: [u8; 32],
    rounds: u64,
) -> (Vec<std::time::Duration>, u64) {
    use futures::AsyncWriteExt;
    use tern_proto::mailbox::{
        MAX_RESPONSE_LEN, Operation, OwnerProof, Request,
        collect::{self, CollectAnswer, CollectRequest},
        deposits::{next_frame, put_frame},
    };
    let mut swarm = super::swarm(libp2p_stream::Behaviour::new());
    let mut control = swarm.behaviour().new_control();
    swarm.dial(address).expect("dial");
    let network = tokio::spawn(async move {
        loop {
            swarm.select_next_some().await;
        }
    });
    let mut stream = control
        .open_stream(relay, collect::PROTOCOL)
        .await
        .expect("collect stream");
    let send = async |stream: &mut libp2p::Stream, request: &CollectRequest| {
        let mut frame = Vec::new();
        put_frame(&mut frame, request, collect::MAX_REQUEST_LEN).expect("frame");
        stream.write_all(&frame).await.expect("write");
        stream.flush().await.expect("flush");
    };
    send(&mut stream, &CollectRequest::Hello).await;
    let Some(CollectAnswer::Challenge { nonce }) = next_frame(&mut stream, MAX_RESPONSE_LEN)
        .await
        .expect("answer")
    else {
        panic!("no challenge");
    };
    let proof = OwnerProof::new(
        &owner.0,
        &owner.1,
        &relay.to_bytes(),
        nonce,
        Operation::Collect,
    );
    send(&mut stream, &CollectRequest::Prove(proof)).await;
    let Some(CollectAnswer::Proven) = next_frame(&mut stream, MAX_RESPONSE_LEN)
        .await
        .expect("answer")
    else {
        panic!("proof refused");
    };
    let mut latencies = Vec::new();
    let mut ack = Vec::new();
    for round in 0..rounds {
        let next = CollectRequest::Next {
            ack: std::mem::take(&mut ack),
            after,
            limit: 16,
            wait_secs: 10,
        };
        send(&mut stream, &next).await;
        // Give the relay the fetch first: it waits there (it answers nothing yet).
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        let mut envelope = vec![0x6b; super::ENVELOPE];
        envelope[..8].copy_from_slice(&round.to_be_bytes());
        let at = std::time::Instant::now();
        sender
            .behaviour_mut()
            .send_request(&relay, Request::Deposit { mailbox, envelope });
        let answer = loop {
            tokio::select! {
                answer = next_frame::<CollectAnswer, _>(&mut stream, MAX_RESPONSE_LEN) => {
                    break answer.expect("answer").expect("an answer");
                }
                _ = sender.select_next_some() => {}
            }
        };
        latencies.push(at.elapsed());
        let CollectAnswer::Page { items, .. } = answer else {
            panic!("fetch refused");
        };
        after = items.last().map_or(after, |item| item.id);
        ack = items.iter().map(|item| item.id).collect();
    }
    network.abort();
    latencies.sort();
    (latencies, after)
}
