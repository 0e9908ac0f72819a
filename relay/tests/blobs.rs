//! The relay's blob store, against a real `tern-relay` process and a raw libp2p client that
//! speaks `/tern/blob/1`: uploads are verified while they stream, custody receipts are signed
//! only for durable blobs, reads need the capability, an interrupted upload resumes where it
//! stopped, a tampered one is refused, the limits hold, and the disk holds no plaintext.

mod support;

use std::{path::Path, time::Duration};

use futures::{AsyncWriteExt, StreamExt};
use libp2p::{Multiaddr, PeerId, Stream, StreamProtocol, identity::PublicKey};
use rand_chacha::{ChaCha20Rng, rand_core::SeedableRng};
use tern_blob::{
    Capability, GroupSet, Root, pipe,
    store::{Imported, Store},
    verify,
    wire::{self, CustodyReceipt, GetStatus, Request, UploadRefusal, UploadStatus},
};

use support::{RelayProcess, TIMEOUT, files_contain};

const PROTOCOL: StreamProtocol = StreamProtocol::new(wire::PROTOCOL);
const PLAINTEXT_MARK: &[u8] = b"plainly-visible-attachment-text:";

/// A raw libp2p peer with only the stream behaviour; the swarm runs on its own task.
struct Client {
    control: libp2p_stream::Control,
    relay: PeerId,
}

impl Client {
    async fn connect(relay: PeerId, address: Multiaddr) -> Self {
        let mut swarm = support::swarm(libp2p_stream::Behaviour::new());
        // The stream behaviour keeps no addresses: connect first, then open streams.
        swarm.dial(address).unwrap();
        tokio::time::timeout(TIMEOUT, async {
            loop {
                if let libp2p::swarm::SwarmEvent::ConnectionEstablished { peer_id, .. } =
                    swarm.select_next_some().await
                    && peer_id == relay
                {
                    return;
                }
            }
        })
        .await
        .expect("cannot connect to the relay");
        let control = swarm.behaviour().new_control();
        tokio::spawn(async move {
            loop {
                swarm.select_next_some().await;
            }
        });
        Self { control, relay }
    }

    async fn open(&mut self) -> Stream {
        tokio::time::timeout(TIMEOUT, self.control.open_stream(self.relay, PROTOCOL))
            .await
            .expect("opening a stream timed out")
            .expect("the relay refused the protocol")
    }

    async fn begin_upload(
        &mut self,
        blob: &Imported,
        capability: [u8; 32],
        token: Vec<u8>,
    ) -> (Stream, UploadStatus) {
        let mut stream = self.open().await;
        let request = Request::Upload {
            root: blob.blob.root(),
            ciphertext_len: blob.lengths.ciphertext(),
            capability: Capability::from_bytes(capability),
            quota_token: token,
        };
        wire::write_frame_async(&mut stream, &request)
            .await
            .unwrap();
        stream.flush().await.unwrap();
        let status = read::<UploadStatus>(&mut stream).await;
        (stream, status)
    }

    /// A whole upload: every group the relay asks for, until it answers for good.
    async fn upload(
        &mut self,
        blob: &Imported,
        capability: [u8; 32],
        token: Vec<u8>,
    ) -> UploadStatus {
        let (mut stream, mut status) = self.begin_upload(blob, capability, token).await;
        while let UploadStatus::Send { groups } = status {
            pipe::send_groups(&mut stream, blob.blob.clone(), groups)
                .await
                .unwrap();
            status = read::<UploadStatus>(&mut stream).await;
        }
        status
    }

    /// Reads `groups` into a fresh download in `into`; the status, and the blob once whole.
    async fn get(
        &mut self,
        root: Root,
        len: u64,
        groups: GroupSet,
        capability: [u8; 32],
        into: &Store,
    ) -> (GetStatus, Option<tern_blob::store::Complete>) {
        let mut stream = self.open().await;
        let request = Request::Get {
            root,
            groups: groups.clone(),
            capability: Capability::from_bytes(capability),
        };
        wire::write_frame_async(&mut stream, &request)
            .await
            .unwrap();
        stream.flush().await.unwrap();
        let status = read::<GetStatus>(&mut stream).await;
        if !matches!(status, GetStatus::Ok { .. }) {
            return (status, None);
        }
        let partial = into.begin(&root, len).unwrap();
        let (partial, receipt) = pipe::receive_groups(&mut stream, partial, groups)
            .await
            .unwrap();
        receipt.received.expect("the relay's stream verifies");
        let complete = partial.is_complete().then(|| partial.finish().unwrap());
        (status, complete)
    }
}

async fn read<T: serde::de::DeserializeOwned + wire::Bounded>(stream: &mut Stream) -> T {
    tokio::time::timeout(TIMEOUT, wire::read_frame_async::<T>(stream))
        .await
        .expect("the relay did not answer")
        .expect("the relay's answer does not decode")
}

/// A file of `len` bytes that starts with a recognisable mark, imported into a sender's store.
fn file(store: &Store, seed: u64, len: usize) -> (Vec<u8>, Imported) {
    let mut plaintext = PLAINTEXT_MARK.repeat(len / PLAINTEXT_MARK.len() + 1);
    plaintext.truncate(len);
    let mut rng = ChaCha20Rng::seed_from_u64(seed);
    let imported = store
        .import(&mut rng, &plaintext[..], plaintext.len() as u64)
        .unwrap();
    (plaintext, imported)
}

fn token(mailbox: u8) -> Vec<u8> {
    let mut token = vec![0u8];
    token.extend_from_slice(&[mailbox; 32]);
    token
}

fn check_receipt(receipt: &CustodyReceipt, relay: PeerId, blob: &Imported) {
    let key = PublicKey::try_decode_protobuf(&receipt.relay_key).unwrap();
    assert_eq!(key.to_peer_id(), relay, "signed by the relay uploaded to");
    assert!(receipt.covers(&blob.blob.root(), blob.lengths.ciphertext()));
    assert!(key.verify(&receipt.statement(), &receipt.signature));
    assert!(receipt.expires_at > receipt.stored_at);
}

fn stores(dir: &Path) -> (Store, Store) {
    (
        Store::open(dir.join("sender")).unwrap(),
        Store::open(dir.join("reader")).unwrap(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upload_is_verified_stored_durably_and_read_back_by_capability() {
    let dir = tempfile::tempdir().unwrap();
    let relay_dir = dir.path().join("relay");
    let relay = RelayProcess::start(&relay_dir);
    let (peer, address) = relay.address().await;
    let (sender, reader) = stores(dir.path());
    let (plaintext, blob) = file(&sender, 1, 3_000_000);
    let (root, len) = (blob.blob.root(), blob.lengths.ciphertext());
    let mut client = Client::connect(peer, address).await;

    let UploadStatus::Stored(receipt) = client.upload(&blob, [7; 32], token(1)).await else {
        panic!("the upload was not stored");
    };
    check_receipt(&receipt, peer, &blob);
    // The same upload again is answered at once with the same custody.
    let (_, again) = client.begin_upload(&blob, [7; 32], token(1)).await;
    assert_eq!(again, UploadStatus::Stored(receipt.clone()));
    // Another capability for the same root is a conflict, not a second copy.
    let (_, conflict) = client.begin_upload(&blob, [8; 32], token(1)).await;
    assert_eq!(conflict, UploadStatus::Refused(UploadRefusal::Conflict));

    // The receipt is true after kill -9: the blob was synced before it was signed.
    relay.kill();
    let relay = RelayProcess::start(&relay_dir);
    let (peer, address) = relay.address().await;
    let mut client = Client::connect(peer, address).await;

    let groups = verify::group_count(len);
    let wrong = client
        .get(root, len, GroupSet::all(groups), [9; 32], &reader)
        .await;
    assert_eq!(wrong.0, GetStatus::BadCapability);
    let unknown = Root::from_bytes([3; 32]);
    let missing = client
        .get(unknown, len, GroupSet::all(1), [7; 32], &reader)
        .await;
    assert_eq!(missing.0, GetStatus::NotFound);
    let past = client
        .get(
            root,
            len,
            GroupSet::from(groups..groups + 1),
            [7; 32],
            &reader,
        )
        .await;
    assert_eq!(past.0, GetStatus::RangePastEnd { groups });
    let (status, complete) = client
        .get(root, len, GroupSet::all(groups), [7; 32], &reader)
        .await;
    assert_eq!(
        status,
        GetStatus::Ok {
            ciphertext_len: len
        }
    );
    let mut read_back = Vec::new();
    std::io::Read::read_to_end(
        &mut complete
            .unwrap()
            .plaintext(&blob.key, blob.lengths.plaintext())
            .unwrap(),
        &mut read_back,
    )
    .unwrap();
    assert_eq!(read_back, plaintext);

    // The relay's disk holds ciphertext only.
    assert!(
        !files_contain(&relay_dir, PLAINTEXT_MARK),
        "plaintext on the relay's disk"
    );
    assert!(
        !files_contain(&relay_dir, blob.key.as_bytes()),
        "the file key on the relay's disk"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cut_upload_resumes_and_a_tampered_one_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let relay = RelayProcess::start(&dir.path().join("relay"));
    let (peer, address) = relay.address().await;
    let (sender, _) = stores(dir.path());
    let (_, blob) = file(&sender, 2, 2_000_000);
    let groups = verify::group_count(blob.lengths.ciphertext());
    let mut client = Client::connect(peer, address).await;

    // Half the stream, then the link drops.
    let (mut stream, status) = client.begin_upload(&blob, [1; 32], token(2)).await;
    assert_eq!(
        status,
        UploadStatus::Send {
            groups: GroupSet::all(groups)
        }
    );
    let mut encoded = Vec::new();
    blob.blob
        .encode_ranges(&GroupSet::all(groups), &mut encoded)
        .unwrap();
    stream
        .write_all(&encoded[..encoded.len() / 2])
        .await
        .unwrap();
    stream.flush().await.unwrap();
    drop(stream);

    // The next upload is asked only for what is missing (the relay may still be writing the
    // first half when it asks, so wait until it no longer wants the first groups).
    let resumed = tokio::time::timeout(TIMEOUT, async {
        loop {
            let (stream, status) = client.begin_upload(&blob, [1; 32], token(2)).await;
            match status {
                UploadStatus::Send { groups: wanted } if !wanted.contains(0) => {
                    return (stream, wanted);
                }
                UploadStatus::Send { .. } | UploadStatus::Refused(UploadRefusal::Busy) => {
                    drop(stream);
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                other => panic!("unexpected {other:?}"),
            }
        }
    })
    .await
    .expect("the relay never resumed the upload");
    let (mut stream, wanted) = resumed;
    assert!(
        wanted.count() < groups,
        "only the missing groups are asked for"
    );
    pipe::send_groups(&mut stream, blob.blob.clone(), wanted)
        .await
        .unwrap();
    let stored = read::<UploadStatus>(&mut stream).await;
    assert!(matches!(stored, UploadStatus::Stored(_)), "{stored:?}");

    // A stream whose bytes were changed on the way fails verification: refused, not stored.
    let (_, other) = file(&sender, 3, 500_000);
    let (mut stream, status) = client.begin_upload(&other, [1; 32], token(2)).await;
    let UploadStatus::Send { groups: wanted } = status else {
        panic!("{status:?}")
    };
    let mut encoded = Vec::new();
    other.blob.encode_ranges(&wanted, &mut encoded).unwrap();
    let at = encoded.len() - 100;
    encoded[at] ^= 1;
    stream.write_all(&encoded).await.unwrap();
    stream.flush().await.unwrap();
    assert_eq!(
        read::<UploadStatus>(&mut stream).await,
        UploadStatus::Refused(UploadRefusal::Corrupt)
    );
    let reader = Store::open(dir.path().join("reader")).unwrap();
    let (status, _) = client
        .get(
            other.blob.root(),
            other.lengths.ciphertext(),
            GroupSet::all(1),
            [1; 32],
            &reader,
        )
        .await;
    assert_eq!(
        status,
        GetStatus::NotFound,
        "the tampered blob is not readable"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn limits_and_bad_tokens_are_refused_with_their_reason() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("relay.toml");
    std::fs::write(
        &config,
        "[limits]\nmax_blob = 2000000\nblob_quota = 3000000\n",
    )
    .unwrap();
    let relay = RelayProcess::start_with_config(&dir.path().join("relay"), &config);
    let (peer, address) = relay.address().await;
    let (sender, _) = stores(dir.path());
    let mut client = Client::connect(peer, address).await;

    let (_, big) = file(&sender, 4, 2_500_000);
    let (_, refused) = client.begin_upload(&big, [1; 32], token(4)).await;
    assert_eq!(refused, UploadStatus::Refused(UploadRefusal::TooLarge));

    let (_, first) = file(&sender, 5, 1_800_000);
    assert!(matches!(
        client.upload(&first, [1; 32], token(4)).await,
        UploadStatus::Stored(_)
    ));
    let (_, second) = file(&sender, 6, 1_800_000);
    let (_, over) = client.begin_upload(&second, [1; 32], token(4)).await;
    assert_eq!(over, UploadStatus::Refused(UploadRefusal::OverQuota));
    // Another mailbox's quota is its own.
    assert!(matches!(
        client.upload(&second, [1; 32], token(5)).await,
        UploadStatus::Stored(_)
    ));

    for bad in [Vec::new(), vec![0u8; 5], vec![1u8; 33]] {
        let (_, third) = file(&sender, 7, 10_000);
        let (_, status) = client.begin_upload(&third, [1; 32], bad).await;
        assert_eq!(status, UploadStatus::Refused(UploadRefusal::BadToken));
    }
    // A group log's token: signed by a key of no log this relay keeps, or for another blob.
    let (_, fourth) = file(&sender, 8, 10_000);
    let len = fourth.lengths.ciphertext();
    let access = tern_proto::grouplog::Access::from_seed([8; 32]);
    let relay_id = peer.to_bytes();
    let unknown = access.blob_token(&relay_id, &[3; 32], fourth.blob.root().as_bytes(), len);
    let other_blob = access.blob_token(&relay_id, &[3; 32], &[4; 32], len);
    for bad in [unknown, other_blob] {
        let (_, status) = client.begin_upload(&fourth, [1; 32], bad).await;
        assert_eq!(status, UploadStatus::Refused(UploadRefusal::BadToken));
    }
    // A length no attachment has.
    let mut stream = client.open().await;
    let request = Request::Upload {
        root: Root::from_bytes([9; 32]),
        ciphertext_len: 1_000,
        capability: Capability::from_bytes([1; 32]),
        quota_token: token(4),
    };
    wire::write_frame_async(&mut stream, &request)
        .await
        .unwrap();
    stream.flush().await.unwrap();
    assert_eq!(
        read::<UploadStatus>(&mut stream).await,
        UploadStatus::Refused(UploadRefusal::BadLength)
    );
    // Garbage instead of a request: a typed answer, and the relay serves on.
    let mut stream = client.open().await;
    stream.write_all(b"\x01\x00\x00\x00\x03xyz").await.unwrap();
    stream.flush().await.unwrap();
    assert_eq!(read::<GetStatus>(&mut stream).await, GetStatus::BadRequest);
    assert!(matches!(
        client.upload(&second, [1; 32], token(5)).await,
        UploadStatus::Stored(_)
    ));
}
