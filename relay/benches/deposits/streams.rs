//! The stream protocols against the same relay as the request-response clients: deposits
//! pipelined on `/tern/deposit/1` ([`tern_proto::mailbox::deposits`]), and an owner's
//! collection on `/tern/collect/2` ([`tern_proto::mailbox::collect`]).

use futures::{AsyncWriteExt, StreamExt};
use libp2p::{Multiaddr, PeerId, Stream, StreamProtocol};
use tern_crypto::{AccountKey, PrekeyBundle};
use tern_proto::mailbox::{
    MAX_RESPONSE_LEN, Operation, OwnerProof, Request, VerifiedRoots,
    collect::{self, CollectAnswer, CollectRequest},
    deposits::{self, DepositAnswer, next_frame, put_frame},
};

/// A stream of `protocol` to the relay from a client of its own, whose swarm runs on the
/// returned task.
async fn open(
    address: Multiaddr,
    relay: PeerId,
    protocol: StreamProtocol,
) -> (Stream, tokio::task::JoinHandle<()>) {
    let mut swarm = super::swarm(libp2p_stream::Behaviour::new());
    let mut control = swarm.behaviour().new_control();
    swarm.dial(address).expect("dial");
    let network = tokio::spawn(async move {
        loop {
            swarm.select_next_some().await;
        }
    });
    let stream = control.open_stream(relay, protocol).await.expect("stream");
    (stream, network)
}

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
    let (stream, network) = open(address, relay, deposits::PROTOCOL).await;
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

/// Writes one collect request.
async fn send(stream: &mut Stream, request: &CollectRequest) {
    let mut frame = Vec::new();
    put_frame(&mut frame, request, collect::MAX_REQUEST_LEN).expect("frame");
    stream.write_all(&frame).await.expect("write");
    stream.flush().await.expect("flush");
}

/// Reads one collect answer.
async fn receive(stream: &mut Stream) -> CollectAnswer {
    next_frame(stream, MAX_RESPONSE_LEN)
        .await
        .expect("answer")
        .expect("an answer before the end")
}

/// A collect stream on which `owner` has proven ownership.
async fn proven(
    address: Multiaddr,
    relay: PeerId,
    owner: &(AccountKey, PrekeyBundle),
) -> (Stream, tokio::task::JoinHandle<()>) {
    let (mut stream, network) = open(address, relay, collect::PROTOCOL).await;
    send(&mut stream, &CollectRequest::Hello).await;
    let CollectAnswer::Challenge { nonce } = receive(&mut stream).await else {
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
    let CollectAnswer::Proven = receive(&mut stream).await else {
        panic!("proof refused");
    };
    (stream, network)
}

/// Drains `owner`'s mailbox after `after` on one collect stream: one proof, then pages of
/// `page` asked for ahead, as a node asks. Returns how many envelopes it took,
/// and the cursor after the last.
pub(super) async fn collect(
    address: Multiaddr,
    relay: PeerId,
    owner: &(AccountKey, PrekeyBundle),
    mut after: u64,
    page: u32,
) -> (usize, u64) {
    let (mut stream, network) = proven(address, relay, owner).await;
    // As a node does: while the relay says more is waiting, two requests stay queued at the
    // relay, each acknowledging the pages taken since the last.
    let mut drained = 0;
    let mut ack = Vec::new();
    let mut asked = 1;
    let first = CollectRequest::Next {
        ack: Vec::new(),
        after,
        limit: page,
        wait_secs: 0,
    };
    send(&mut stream, &first).await;
    while asked > 0 {
        let CollectAnswer::Page { items, more, .. } = receive(&mut stream).await else {
            panic!("fetch refused");
        };
        asked -= 1;
        drained += items.len();
        after = items.last().map_or(after, |item| item.id);
        while more && asked < 2 {
            let next = CollectRequest::More {
                ack: std::mem::take(&mut ack),
                limit: page,
                wait_secs: 0,
            };
            send(&mut stream, &next).await;
            asked += 1;
        }
        ack.extend(items.iter().map(|item| item.id));
    }
    // The last acknowledgements.
    for ids in ack.chunks(collect::MAX_ACK) {
        let last = CollectRequest::Next {
            ack: ids.to_vec(),
            after,
            limit: 0,
            wait_secs: 0,
        };
        send(&mut stream, &last).await;
        receive(&mut stream).await;
    }
    network.abort();
    (drained, after)
}

/// The owner holds a fetch open on a collect stream; `sender` deposits one envelope; the time
/// until the owner has it, `rounds` times. Returns the sorted latencies and the cursor after.
pub(super) async fn latency(
    address: Multiaddr,
    relay: PeerId,
    owner: &(AccountKey, PrekeyBundle),
    mut after: u64,
    sender: &mut super::Client,
    mailbox: [u8; 32],
    rounds: u64,
) -> (Vec<std::time::Duration>, u64) {
    let (mut stream, network) = proven(address, relay, owner).await;
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
        envelope[0] = tern_crypto::envelope::ENVELOPE_VERSION;
        envelope[1..9].copy_from_slice(&round.to_be_bytes());
        let at = std::time::Instant::now();
        sender
            .behaviour_mut()
            .send_request(&relay, Request::Deposit { mailbox, envelope });
        // One read for the whole wait: a frame read cut off by the other branch would lose
        // what it had read.
        let answer = receive(&mut stream);
        tokio::pin!(answer);
        let answer = loop {
            tokio::select! {
                answer = &mut answer => break answer,
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
