//! `/tern/grouplog/2` against a real `tern-relay` process: a group's log ordered by the relay
//! with signed receipts, the first commit of an epoch winning, keys that rotate with the
//! epochs (a removed member reads nothing after its removal), a held read woken by an
//! append, everything durable across a SIGKILL, and bad input refused without harm.

mod support;

use futures::AsyncWriteExt;
use libp2p::{PeerId, Stream};
use tern_proto::grouplog::{self, Access, Answer, Kind, LogId, Op, Refusal};

use self::support::*;

/// One request and its answer.
async fn ask(stream: &mut Stream, request: &grouplog::Request) -> Answer {
    tokio::time::timeout(TIMEOUT, grouplog::call(stream, request))
        .await
        .expect("no answer from the relay")
        .expect("an answer")
}

struct Member {
    relay: Vec<u8>,
    log: LogId,
    key: Access,
}

impl Member {
    fn request(&self, op: Op) -> grouplog::Request {
        self.key.request(&self.relay, self.log, op)
    }

    fn message(&self, body: &[u8]) -> grouplog::Request {
        self.request(Op::Append {
            kind: Kind::Message,
            body: body.to_vec(),
        })
    }

    fn commit(&self, epoch: u64, next: &Access, body: &[u8]) -> grouplog::Request {
        self.request(Op::Append {
            kind: Kind::Commit {
                epoch,
                next_key: next.public(),
            },
            body: body.to_vec(),
        })
    }

    fn read(&self, after: u64, wait_secs: u16) -> grouplog::Request {
        self.request(Op::Read {
            after,
            limit: 100,
            wait_secs,
        })
    }
}

/// The sequence number a receipt for a message gives, after checking the receipt.
fn receipted(answer: Answer, relay: PeerId, log: &LogId, body: &[u8]) -> u64 {
    receipted_as(answer, relay, log, &Kind::Message, body)
}

fn receipted_as(answer: Answer, relay: PeerId, log: &LogId, kind: &Kind, body: &[u8]) -> u64 {
    let Answer::Appended(receipt) = answer else {
        panic!("not appended: {answer:?}");
    };
    receipt
        .verify(&relay.to_bytes(), log, kind, body)
        .expect("a valid receipt");
    receipt.seq
}

fn bodies(answer: Answer) -> Vec<(u64, Vec<u8>)> {
    let Answer::Entries { items, .. } = answer else {
        panic!("no entries: {answer:?}");
    };
    items.into_iter().map(|e| (e.seq, e.body)).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_group_log_orders_commits_rotates_keys_and_survives_a_kill() {
    let dir = tempfile::tempdir().unwrap();
    let relay = RelayProcess::start(dir.path());
    let (peer, address) = relay.address().await;
    let (mut control, network) = stream_client(address).await;
    let mut stream = open_stream(&mut control, peer, grouplog::PROTOCOL).await;
    let log: LogId = [7; 32];
    let (k0, k1, k1_rival) = (
        Access::from_seed([1; 32]),
        Access::from_seed([2; 32]),
        Access::from_seed([3; 32]),
    );
    let at = |key: &Access| Member {
        relay: peer.to_bytes(),
        log,
        key: key.clone(),
    };
    let (epoch0, epoch1) = (at(&k0), at(&k1));

    assert_eq!(
        ask(&mut stream, &epoch0.request(Op::Open { epoch: 0 })).await,
        Answer::Opened {
            epoch: 0,
            next_seq: 1
        }
    );
    let hello = b"ciphertext: hello from epoch 0";
    assert_eq!(
        receipted(
            ask(&mut stream, &epoch0.message(hello)).await,
            peer,
            &log,
            hello
        ),
        1
    );
    // Two admins commit for epoch 0 at once: the first the relay takes wins.
    let removal = b"commit: remove Mallory";
    assert_eq!(
        receipted_as(
            ask(&mut stream, &epoch0.commit(0, &k1, removal)).await,
            peer,
            &log,
            &Kind::Commit {
                epoch: 0,
                next_key: k1.public()
            },
            removal
        ),
        2
    );
    assert_eq!(
        ask(&mut stream, &epoch0.commit(0, &k1_rival, b"commit: rename")).await,
        Answer::Lost {
            epoch: 0,
            winner: 2
        }
    );
    // Mallory, removed, still holds the epoch 0 key: it appends nothing and reads nothing
    // past her removal.
    assert_eq!(
        ask(&mut stream, &epoch0.message(b"mallory speaks")).await,
        Answer::Refused(Refusal::Retired)
    );
    let secret = b"ciphertext: after the removal";
    assert_eq!(
        receipted(
            ask(&mut stream, &epoch1.message(secret)).await,
            peer,
            &log,
            secret
        ),
        3
    );
    assert_eq!(
        bodies(ask(&mut stream, &epoch0.read(0, 0)).await),
        [(1, hello.to_vec()), (2, removal.to_vec())]
    );
    assert_eq!(
        ask(&mut stream, &epoch0.read(2, 5)).await,
        Answer::Refused(Refusal::Retired)
    );

    // A held read on a second stream wakes when the entry arrives on the first.
    let mut waiting = open_stream(&mut control, peer, grouplog::PROTOCOL).await;
    let held = {
        let read = epoch1.read(3, 30);
        tokio::spawn(async move { ask(&mut waiting, &read).await })
    };
    let later = b"ciphertext: while someone waits";
    // The read may reach the relay after the append; either way it answers with the entry.
    assert_eq!(
        receipted(
            ask(&mut stream, &epoch1.message(later)).await,
            peer,
            &log,
            later
        ),
        4
    );
    assert_eq!(bodies(held.await.unwrap()), [(4, later.to_vec())]);

    // SIGKILL: every receipted entry, the keys and the winner are still there.
    drop(stream);
    network.abort();
    relay.kill();
    let relay = RelayProcess::start(dir.path());
    let (peer, address) = relay.address().await;
    let (_control, network, mut stream) =
        stream_after_restart(address, peer, grouplog::PROTOCOL).await;
    let page = ask(&mut stream, &epoch1.read(0, 0)).await;
    // Epoch 1 began with the commit at 2; nothing has expired, the log holds all from 1.
    let Answer::Entries { first, begin, .. } = &page else {
        panic!("no entries: {page:?}");
    };
    assert_eq!((*first, *begin), (1, 2));
    assert_eq!(bodies(page), [(3, secret.to_vec()), (4, later.to_vec())]);
    assert_eq!(
        ask(&mut stream, &epoch1.commit(0, &k1_rival, b"commit: rename")).await,
        Answer::Lost {
            epoch: 0,
            winner: 2
        }
    );
    // An append whose answer was lost is made again: the same entry, not a second.
    assert_eq!(
        receipted(
            ask(&mut stream, &epoch1.message(later)).await,
            peer,
            &log,
            later
        ),
        4
    );
    drop(stream);
    network.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_requests_are_refused_and_the_relay_serves_on() {
    let dir = tempfile::tempdir().unwrap();
    let limits = tern_relay::Limits {
        log_bytes: 4 * 1024,
        ..tern_relay::Limits::default()
    };
    let (relay, peer, address) = spawn_relay(dir.path(), limits).await;
    let (mut control, network) = stream_client(address).await;
    let log: LogId = [8; 32];
    let member = Member {
        relay: peer.to_bytes(),
        log,
        key: Access::from_seed([4; 32]),
    };
    let mut stream = open_stream(&mut control, peer, grouplog::PROTOCOL).await;
    assert_eq!(
        ask(&mut stream, &member.message(b"no log yet")).await,
        Answer::Refused(Refusal::NoSuchLog)
    );
    assert!(matches!(
        ask(&mut stream, &member.request(Op::Open { epoch: 0 })).await,
        Answer::Opened { .. }
    ));
    // Signed for another relay, or tampered with.
    let elsewhere = Member {
        relay: b"another relay".to_vec(),
        log,
        key: member.key.clone(),
    };
    assert_eq!(
        ask(&mut stream, &elsewhere.message(b"replayed")).await,
        Answer::Refused(Refusal::BadSignature)
    );
    let mut tampered = member.message(b"original");
    tampered.op = Op::Append {
        kind: Kind::Message,
        body: b"changed".to_vec(),
    };
    assert_eq!(
        ask(&mut stream, &tampered).await,
        Answer::Refused(Refusal::BadSignature)
    );
    // A stranger's key, an entry over the maximum, a log over its quota.
    let stranger = Member {
        relay: peer.to_bytes(),
        log,
        key: Access::from_seed([5; 32]),
    };
    assert_eq!(
        ask(&mut stream, &stranger.read(0, 0)).await,
        Answer::Refused(Refusal::UnknownKey)
    );
    assert_eq!(
        ask(
            &mut stream,
            &member.message(&vec![0; grouplog::MAX_ENTRY_LEN + 1])
        )
        .await,
        Answer::Refused(Refusal::TooLarge)
    );
    assert!(matches!(
        ask(&mut stream, &member.message(&[1; 3000])).await,
        Answer::Appended(_)
    ));
    assert_eq!(
        ask(&mut stream, &member.message(&[2; 3000])).await,
        Answer::Refused(Refusal::QuotaExceeded)
    );

    // Garbage ends only its own stream.
    let mut garbage = open_stream(&mut control, peer, grouplog::PROTOCOL).await;
    garbage
        .write_all(&[1, 0, 0, 0, 3, 0xff, 0xff, 0xff])
        .await
        .unwrap();
    garbage.flush().await.unwrap();
    assert!(
        tokio::time::timeout(TIMEOUT, grouplog::receive(&mut garbage))
            .await
            .unwrap()
            .is_err()
    );
    assert_eq!(bodies(ask(&mut stream, &member.read(0, 0)).await).len(), 1);

    let metrics = relay.metrics().await;
    assert_eq!(metrics.log_appends, 1);
    assert_eq!(metrics.refused.get("log_bad_signature"), Some(&2));
    assert_eq!(metrics.refused.get("log_quota_exceeded"), Some(&1));
    assert!(metrics.log_streams >= 2 && metrics.log_reads >= 2);
    assert!(
        metrics
            .stream_failures
            .get("malformed")
            .is_some_and(|&n| n >= 1)
    );
    network.abort();
    relay.shutdown().await;

    // A private relay (allow list) keeps no group logs.
    let dir = tempfile::tempdir().unwrap();
    let private = tern_relay::Relay::spawn(
        tern_relay::Config::new(dir.path())
            .with_listen_addr("/ip4/127.0.0.1/tcp/0")
            .with_allow_list(vec![[1; 32]]),
    )
    .await
    .unwrap();
    let address = private.addresses().await[0].parse().unwrap();
    let peer: PeerId = private.peer_id().parse().unwrap();
    let (mut control, network) = stream_client(address).await;
    let mut stream = open_stream(&mut control, peer, grouplog::PROTOCOL).await;
    let member = Member {
        relay: peer.to_bytes(),
        log,
        key: Access::from_seed([4; 32]),
    };
    assert_eq!(
        ask(&mut stream, &member.request(Op::Open { epoch: 0 })).await,
        Answer::Refused(Refusal::NotAllowed)
    );
    network.abort();
    private.shutdown().await;
}
