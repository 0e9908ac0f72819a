//! `/tern/collect/2` against a real `tern-relay` process: an owner drains its mailbox on one
//! stream with one proof, acknowledgements riding on the next request; pages asked for ahead
//! of their answers; a held read woken by a deposit; nothing unacknowledged lost across a
//! SIGKILL; and proofs or frames that do not hold end only their own stream.

mod support;

use futures::AsyncWriteExt;
use libp2p::{PeerId, Stream};
use tern_proto::mailbox::{
    MAX_RESPONSE_LEN, Operation, OwnerProof, Refusal, Request, Response,
    collect::{self, CollectAnswer, CollectRequest},
    deposits::{next_frame, put_frame},
};

use self::support::*;

/// Sends a request and reads its answer; `None` when the relay closed the stream instead.
async fn ask(stream: &mut Stream, request: &CollectRequest) -> Option<CollectAnswer> {
    put(stream, request).await?;
    answer(stream).await
}

/// Sends a request without waiting for its answer.
async fn put(stream: &mut Stream, request: &CollectRequest) -> Option<()> {
    let mut frame = Vec::new();
    put_frame(&mut frame, request, collect::MAX_REQUEST_LEN).unwrap();
    stream.write_all(&frame).await.ok()?;
    stream.flush().await.ok()
}

/// The next answer; `None` when the relay closed the stream instead.
async fn answer(stream: &mut Stream) -> Option<CollectAnswer> {
    tokio::time::timeout(TIMEOUT, next_frame(stream, MAX_RESPONSE_LEN))
        .await
        .expect("no answer from the relay")
        .ok()
        .flatten()
}

/// Opens a stream and proves ownership on it.
async fn proven(control: &mut libp2p_stream::Control, relay: PeerId, who: &Owner) -> Stream {
    let mut stream = open_stream(control, relay, collect::PROTOCOL).await;
    let Some(CollectAnswer::Challenge { nonce }) = ask(&mut stream, &CollectRequest::Hello).await
    else {
        panic!("no challenge");
    };
    let proof = OwnerProof::new(
        &who.account,
        &who.bundle,
        &relay.to_bytes(),
        nonce,
        Operation::Collect,
    );
    assert_eq!(
        ask(&mut stream, &CollectRequest::Prove(proof)).await,
        Some(CollectAnswer::Proven)
    );
    stream
}

fn next(ack: Vec<u64>, after: u64, limit: u32, wait_secs: u16) -> CollectRequest {
    CollectRequest::Next {
        ack,
        after,
        limit,
        wait_secs,
    }
}

/// Deposits `count` distinct envelopes for `who` by `/tern/mailbox/2`.
async fn deposit(relay: PeerId, address: &libp2p::Multiaddr, who: &Owner, tag: u8, count: u8) {
    let mut sender = client();
    sender.dial(address.clone()).unwrap();
    for i in 0..count {
        let request = Request::Deposit {
            mailbox: *who.bundle.mailbox().id().as_bytes(),
            envelope: {
                let mut envelope = sealed_like(9, 1024);
                envelope[1..3].copy_from_slice(&[tag, i]);
                envelope
            },
        };
        assert!(matches!(
            call(&mut sender, relay, request).await,
            Some(Response::Stored(_))
        ));
    }
}

fn more(ack: Vec<u64>, limit: u32, wait_secs: u16) -> CollectRequest {
    CollectRequest::More {
        ack,
        limit,
        wait_secs,
    }
}

fn page(answer: Option<CollectAnswer>) -> (Vec<u64>, u32) {
    match answer {
        Some(CollectAnswer::Page { items, acked, .. }) => {
            (items.iter().map(|i| i.id).collect(), acked)
        }
        other => panic!("no page: {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_owner_drains_its_mailbox_on_one_stream_and_loses_nothing_to_a_kill() {
    let dir = tempfile::tempdir().unwrap();
    let relay = RelayProcess::start(dir.path());
    let (peer, address) = relay.address().await;
    let bob = owner(2);
    deposit(peer, &address, &bob, 1, 10).await;

    let (mut control, network) = stream_client(address.clone()).await;
    let mut stream = proven(&mut control, peer, &bob).await;
    let (first, acked) = page(ask(&mut stream, &next(vec![], 0, 4, 0)).await);
    assert_eq!((first.len(), acked), (4, 0));
    // The acknowledgement rides on the next request, and is applied before the read.
    let (second, acked) = page(ask(&mut stream, &next(first.clone(), first[3], 4, 0)).await);
    assert_eq!((second.len(), acked), (4, 4));
    let (again, _) = page(ask(&mut stream, &next(vec![], 0, 100, 0)).await);
    assert_eq!(
        again.len(),
        6,
        "the acknowledged four are gone, the rest are there"
    );

    // A held read wakes when a deposit for the mailbox commits.
    let last = *again.last().unwrap();
    let held = tokio::spawn(async move {
        let answer = ask(&mut stream, &next(second, last, 100, 30)).await;
        (stream, answer)
    });
    deposit(peer, &address, &bob, 2, 1).await;
    let (mut stream, answer) = held.await.unwrap();
    let (woken, acked) = page(answer);
    assert_eq!((woken.len(), acked), (1, 4));

    // SIGKILL: whatever was not acknowledged is still there afterwards (what was
    // acknowledged may or may not be: the owner takes a repeat as a duplicate).
    let unacked: Vec<u64> = again[4..].iter().copied().chain(woken).collect();
    drop(stream.close().await);
    network.abort();
    relay.kill();
    let relay = RelayProcess::start(dir.path());
    let (peer, address) = relay.address().await;
    let (mut control, network) = stream_client(address).await;
    let mut stream = proven(&mut control, peer, &bob).await;
    let (held_now, _) = page(ask(&mut stream, &next(vec![], 0, 100, 0)).await);
    for id in &unacked {
        assert!(held_now.contains(id), "{id} was lost: {held_now:?}");
    }
    network.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_asked_for_ahead_follow_each_other_and_skip_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (relay, peer, address) = spawn_relay(dir.path(), tern_relay::Limits::default()).await;
    let bob = owner(2);
    deposit(peer, &address, &bob, 1, 10).await;
    let (mut control, network) = stream_client(address.clone()).await;

    // `More` before any page reads from the start of the mailbox.
    let mut stream = proven(&mut control, peer, &bob).await;
    let (all, _) = page(ask(&mut stream, &more(vec![], 100, 0)).await);
    assert_eq!(all.len(), 10);
    drop(stream);

    // Four requests at once, without waiting for an answer: each `More` reads after the page
    // before it, whatever was read ahead for it.
    let mut stream = proven(&mut control, peer, &bob).await;
    put(&mut stream, &next(vec![], 0, 4, 0)).await.unwrap();
    for _ in 0..3 {
        put(&mut stream, &more(vec![], 4, 0)).await.unwrap();
    }
    let mut taken = Vec::new();
    for expected in [4, 4, 2, 0] {
        let (ids, _) = page(answer(&mut stream).await);
        assert_eq!(ids.len(), expected, "{taken:?} then {ids:?}");
        taken.extend(ids);
    }
    assert_eq!(taken, all, "in order, each once");

    // A held `More` after an empty page waits after that page's cursor, and a deposit wakes
    // it; the acknowledgement it carries is applied first.
    let held = tokio::spawn(async move {
        let answer = ask(&mut stream, &more(taken, 4, 30)).await;
        (stream, answer)
    });
    deposit(peer, &address, &bob, 2, 1).await;
    let (mut stream, answer) = held.await.unwrap();
    let (woken, acked) = page(answer);
    assert_eq!((woken.len(), acked), (1, 10));
    assert!(woken[0] > all[9]);
    // A `Next` still reads from where it says, and the cursor follows it there.
    deposit(peer, &address, &bob, 3, 2).await;
    let (again, _) = page(ask(&mut stream, &next(vec![], 0, 4, 0)).await);
    assert_eq!(again.len(), 3, "the acknowledged ten are gone");
    assert_eq!(again[0], woken[0]);
    let (last, _) = page(ask(&mut stream, &next(vec![], again[1], 4, 0)).await);
    assert_eq!(last, again[2..]);
    let (after_it, _) = page(ask(&mut stream, &more(vec![], 4, 0)).await);
    assert!(
        after_it.is_empty(),
        "after the last `Next`'s page: {after_it:?}"
    );
    network.abort();
    relay.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proofs_and_frames_that_do_not_hold_end_only_their_stream() {
    let dir = tempfile::tempdir().unwrap();
    let (relay, peer, address) = spawn_relay(dir.path(), tern_relay::Limits::default()).await;
    let (bob, mallory) = (owner(2), owner(3));
    deposit(peer, &address, &bob, 1, 3).await;
    let (mut control, network) = stream_client(address).await;

    // A proof for another operation, or for another nonce, or Mallory's own proof, which
    // opens Mallory's mailbox only.
    for forged in 0..2 {
        let mut stream = open_stream(&mut control, peer, collect::PROTOCOL).await;
        let Some(CollectAnswer::Challenge { nonce }) =
            ask(&mut stream, &CollectRequest::Hello).await
        else {
            panic!("no challenge");
        };
        let (nonce, op) = match forged {
            0 => (nonce, Operation::Fetch),
            _ => ([0; 32], Operation::Collect),
        };
        let proof = OwnerProof::new(&bob.account, &bob.bundle, &peer.to_bytes(), nonce, op);
        assert_eq!(
            ask(&mut stream, &CollectRequest::Prove(proof)).await,
            Some(CollectAnswer::Refused(Refusal::BadProof))
        );
        assert_eq!(
            ask(&mut stream, &next(vec![], 0, 10, 0)).await,
            None,
            "the stream ended"
        );
    }
    let mut theirs = proven(&mut control, peer, &mallory).await;
    let (items, _) = page(ask(&mut theirs, &next(vec![1, 2, 3], 0, 10, 0)).await);
    assert!(items.is_empty(), "Mallory's own mailbox is empty");

    // A fetch before any proof, and garbage, end the stream without an answer.
    let mut early = open_stream(&mut control, peer, collect::PROTOCOL).await;
    assert_eq!(ask(&mut early, &next(vec![], 0, 10, 0)).await, None);
    let mut garbage = open_stream(&mut control, peer, collect::PROTOCOL).await;
    garbage
        .write_all(&[1, 0, 0, 0, 3, 0xff, 0xff, 0xff])
        .await
        .unwrap();
    garbage.flush().await.unwrap();
    let after_garbage =
        tokio::time::timeout(TIMEOUT, next_frame::<CollectAnswer, _>(&mut garbage, 1024))
            .await
            .unwrap();
    assert!(
        matches!(after_garbage, Ok(None) | Err(_)),
        "{after_garbage:?}"
    );

    // A stream that never proves itself does not keep its place: the relay closes it.
    let mut silent = open_stream(&mut control, peer, collect::PROTOCOL).await;
    let closed = tokio::time::timeout(TIMEOUT, next_frame::<CollectAnswer, _>(&mut silent, 1024))
        .await
        .expect("the relay closed an unproven stream");
    assert!(matches!(closed, Ok(None) | Err(_)), "{closed:?}");

    // Bob's mail is untouched by all of it (Mallory's acknowledgement of his ids included).
    let mut stream = proven(&mut control, peer, &bob).await;
    let (items, _) = page(ask(&mut stream, &next(vec![], 0, 10, 0)).await);
    assert_eq!(items.len(), 3);
    let metrics = relay.metrics().await;
    assert_eq!(metrics.refused.get("bad_proof"), Some(&2));
    assert!(metrics.collect_streams >= 6);
    assert_eq!(metrics.acked, 0);
    assert!(
        metrics
            .stream_failures
            .get("malformed")
            .is_some_and(|&n| n >= 1)
    );
    network.abort();
    relay.shutdown().await;
}
