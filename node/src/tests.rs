//! Scenario tests that need the crate's internals: a raw libp2p client that speaks Tern's
//! protocols badly on purpose, and access to a node's outbox to capture a real envelope.

use std::time::Duration;

use futures::{AsyncReadExt, AsyncWriteExt, StreamExt};
use libp2p::{
    Multiaddr, PeerId, StreamProtocol, Swarm, kad, noise,
    request_response::{self, ProtocolSupport},
    swarm::SwarmEvent,
    tcp, yamux,
};
use tempfile::TempDir;
use tern_crypto::{AccountKey, DeviceId, PrekeySecrets, UserId, rand_core::UnwrapErr};

use tern_proto::{dht::KAD_PROTOCOL, msg as codec, record};

use crate::{Event, Node, store::Direction, tables::Outbox};

mod attachments;
mod changes;
mod disappear;
mod identity;
mod lookup;
mod months;
mod search;
mod sessions;
mod settings;
mod signals;
mod streams;

const TIMEOUT: Duration = Duration::from_secs(60);

/// Starts (or restarts) a node in `dir` on `clock` (shared by the nodes of a test, so that
/// one `advance` moves them all), knowing `bootstrap`, picking no relays from the DHT.
async fn start_on(dir: &std::path::Path, clock: &crate::Clock, bootstrap: &[String]) -> Node {
    let mut builder = crate::test_utils::builder(dir)
        .with_relay_discovery(false)
        .with_clock(clock.clone());
    for address in bootstrap {
        builder = builder.with_bootstrap(address.clone());
    }
    builder.spawn().await.unwrap()
}

/// Runs `work` to its end while letting simulated time run on `clock` (100 ms per real
/// 20 ms), so that retries and expiries a manual clock schedules come due.
async fn drive_until<T>(clock: &crate::Clock, work: impl Future<Output = T>) -> T {
    tokio::pin!(work);
    loop {
        tokio::select! {
            done = &mut work => return done,
            () = tokio::time::sleep(Duration::from_millis(20)) => {
                clock.advance(Duration::from_millis(100));
            }
        }
    }
}

/// Waits for the first event `pick` accepts, driving `clock` as [`drive_until`] does.
async fn wait_driving<T>(
    events: &mut crate::EventStream,
    clock: &crate::Clock,
    mut pick: impl FnMut(&Event) -> Option<T>,
) -> T {
    let found = async {
        loop {
            match events.next().await {
                Some((_, event)) => {
                    if let Some(found) = pick(&event) {
                        return found;
                    }
                }
                None => panic!("event stream ended"),
            }
        }
    };
    tokio::time::timeout(TIMEOUT, drive_until(clock, found))
        .await
        .expect("timed out waiting for an event")
}

/// Waits until `done` holds, driving `clock` as [`drive_until`] does: for what shows in the
/// store rather than as an event.
async fn until_driving(clock: &crate::Clock, what: &str, done: impl Fn() -> bool) {
    let held = async {
        while !done() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };
    tokio::time::timeout(TIMEOUT, drive_until(clock, held))
        .await
        .unwrap_or_else(|_| panic!("timed out: {what}"));
}

async fn start(dir: &std::path::Path, bootstrap: &[String]) -> Node {
    crate::test_utils::TestNode::spawn(dir, bootstrap).await
}

/// A bootstrap node, then Alice and Bob on it as each other's contacts, in `dirs[0..3]`.
async fn contacts(dirs: &[TempDir]) -> (Node, Node, Node) {
    let bootstrap = start(dirs[0].path(), &[]).await;
    let seed = bootstrap.addresses().await;
    let alice = start(dirs[1].path(), &seed).await;
    let bob = start(dirs[2].path(), &seed).await;
    alice.add_contact("bob", bob.user_id()).await.unwrap();
    bob.add_contact("alice", alice.user_id()).await.unwrap();
    (bootstrap, alice, bob)
}

/// Sends raw bytes as the whole request of a `/tern/msg/2` stream and reads whatever comes
/// back, so that frames the real codec would never write can be tried.
#[derive(Clone, Default)]
struct RawCodec;

impl request_response::Codec for RawCodec {
    type Protocol = StreamProtocol;
    type Request = Vec<u8>;
    type Response = Vec<u8>;

    async fn read_request<T: futures::AsyncRead + Unpin + Send>(
        &mut self,
        _: &StreamProtocol,
        _: &mut T,
    ) -> std::io::Result<Vec<u8>> {
        Err(std::io::ErrorKind::Unsupported.into())
    }

    async fn read_response<T: futures::AsyncRead + Unpin + Send>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
    ) -> std::io::Result<Vec<u8>> {
        let mut out = Vec::new();
        io.take(16).read_to_end(&mut out).await?;
        Ok(out)
    }

    async fn write_request<T: futures::AsyncWrite + Unpin + Send>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
        request: Vec<u8>,
    ) -> std::io::Result<()> {
        io.write_all(&request).await?;
        io.close().await
    }

    async fn write_response<T: futures::AsyncWrite + Unpin + Send>(
        &mut self,
        _: &StreamProtocol,
        _: &mut T,
        _: Vec<u8>,
    ) -> std::io::Result<()> {
        Err(std::io::ErrorKind::Unsupported.into())
    }
}

#[derive(libp2p::swarm::NetworkBehaviour)]
struct Client {
    msg: request_response::Behaviour<RawCodec>,
    kad: kad::Behaviour<kad::store::MemoryStore>,
}

fn client() -> Swarm<Client> {
    raw_swarm(|key| {
        let peer = key.public().to_peer_id();
        Client {
            msg: request_response::Behaviour::new(
                [(codec::PROTOCOL, ProtocolSupport::Outbound)],
                Default::default(),
            ),
            kad: kad::Behaviour::with_config(
                peer,
                kad::store::MemoryStore::new(peer),
                kad::Config::new(KAD_PROTOCOL),
            ),
        }
    })
}

/// A bare swarm on a fresh key over TCP, Noise and Yamux, running `behaviour`.
fn raw_swarm<B: libp2p::swarm::NetworkBehaviour>(
    behaviour: impl FnOnce(&libp2p::identity::Keypair) -> B,
) -> Swarm<B> {
    libp2p::SwarmBuilder::with_new_identity()
        .with_tokio()
        .with_tcp(
            tcp::Config::default(),
            noise::Config::new,
            yamux::Config::default,
        )
        .unwrap()
        .with_behaviour(|key| behaviour(key))
        .unwrap()
        .with_swarm_config(|c| c.with_idle_connection_timeout(Duration::from_secs(60)))
        .build()
}

/// Sends one raw request and returns the raw response, or `None` if the stream failed.
async fn raw_request(swarm: &mut Swarm<Client>, peer: PeerId, bytes: Vec<u8>) -> Option<Vec<u8>> {
    let id = swarm.behaviour_mut().msg.send_request(&peer, bytes);
    tokio::time::timeout(TIMEOUT, async {
        loop {
            match swarm.select_next_some().await {
                SwarmEvent::Behaviour(ClientEvent::Msg(request_response::Event::Message {
                    message:
                        request_response::Message::Response {
                            request_id,
                            response,
                        },
                    ..
                })) if request_id == id => return Some(response),
                SwarmEvent::Behaviour(ClientEvent::Msg(
                    request_response::Event::OutboundFailure { request_id, .. },
                )) if request_id == id => {
                    return None;
                }
                _ => {}
            }
        }
    })
    .await
    .expect("no answer from the node")
}

fn frame(envelope: &[u8]) -> Vec<u8> {
    let mut out = vec![1u8];
    out.extend_from_slice(&(envelope.len() as u32).to_be_bytes());
    out.extend_from_slice(envelope);
    out
}

fn split(address: &str) -> (PeerId, Multiaddr) {
    let full: Multiaddr = address.parse().unwrap();
    let peer = crate::network::peer_of(&full).unwrap();
    (peer, full)
}

use crate::test_utils::wait_received;

/// Three nodes (a bootstrap, Alice and Bob) where Alice has encrypted "only once" for Bob
/// while Bob was down: returns the bootstrap node, its address and the captured envelope,
/// with Alice and Bob stopped.
async fn envelope_for_bob(dirs: &[TempDir]) -> (Node, Vec<String>, Vec<u8>) {
    let bootstrap = start(dirs[0].path(), &[]).await;
    let seed = bootstrap.addresses().await;
    let alice = start(dirs[1].path(), &seed).await;
    let bob = start(dirs[2].path(), &seed).await;
    let bob_user = bob.user_id();
    bob.add_contact("alice", alice.user_id()).await.unwrap();
    // Bob's record must be held by other peers before he goes away: a lookup alone could be
    // answered by Bob himself, from his own store.
    tokio::time::timeout(TIMEOUT, async {
        while bob.status().await.unwrap().record_published.is_none() {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
    .expect("bob's record was never published");
    bob.shutdown().await;

    // Alice sends while Bob is down: the envelope waits in her outbox, encrypted.
    alice.send(bob_user, "only once").await.unwrap();
    let envelope = tokio::time::timeout(TIMEOUT, async {
        loop {
            let rows = alice
                .inner_store()
                .scan::<Outbox>(.., Direction::Forward, 10)
                .unwrap();
            if let Some(envelope) = rows.into_iter().find_map(|(_, row)| row.envelope) {
                return envelope;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await
    .expect("the message was never encrypted");
    alice.shutdown().await;
    (bootstrap, seed, envelope)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn duplicates_garbage_and_oversized_frames_change_nothing() {
    let dirs: Vec<TempDir> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    let (bootstrap, seed, envelope) = envelope_for_bob(&dirs).await;
    let bob_user = tern_node_user(&dirs[2]).await;

    let bob = start(dirs[2].path(), &seed).await;
    let mut bob_events = bob.events(crate::From::Oldest);
    let (peer, address) = split(&bob.addresses().await[0]);
    let mut raw = client();
    raw.dial(address).unwrap();

    // Alice's outbox keeps the direct envelope; a relay would get the sealed one.
    assert_eq!(
        tern_crypto::envelope::Form::of(&envelope),
        Some(tern_crypto::envelope::Form::Direct)
    );
    let sealed = sealed_for(&bob, &envelope);

    // Garbage of every kind first: each refused, with a status or a closed stream.
    for (what, mut tampered) in [("direct", envelope.clone()), ("sealed", sealed.clone())] {
        // The last byte: padding in a direct envelope, the tag of a sealed one.
        *tampered.last_mut().unwrap() ^= 1;
        assert_eq!(
            raw_request(&mut raw, peer, frame(&tampered)).await,
            Some(vec![1, 2]),
            "altered {what} envelope: rejected"
        );
    }
    // A direct envelope names its sender: one that a relay held is refused, and changes
    // nothing (the same bytes are stored when the sender's device brings them).
    assert_eq!(
        bob.inner_net()
            .submit(peer, envelope.clone())
            .await
            .unwrap(),
        codec::Status::Rejected,
        "a direct envelope from a relay"
    );
    assert_eq!(
        raw_request(&mut raw, peer, frame(&[7u8; 1024])).await,
        Some(vec![1, 2]),
        "random envelope: rejected"
    );
    assert_eq!(
        raw_request(&mut raw, peer, frame(b"short")).await,
        Some(vec![1, 2]),
        "wrong size: rejected"
    );
    let mut oversized = vec![1u8];
    oversized.extend_from_slice(&u32::MAX.to_be_bytes());
    assert_eq!(
        raw_request(&mut raw, peer, oversized)
            .await
            .unwrap_or_default(),
        Vec::<u8>::new(),
        "oversized frame: stream closed"
    );
    assert_eq!(
        raw_request(&mut raw, peer, vec![9, 9, 9])
            .await
            .unwrap_or_default(),
        Vec::<u8>::new(),
        "unknown version: stream closed"
    );

    // The real envelope, twice: stored once, then recognised.
    assert_eq!(
        raw_request(&mut raw, peer, frame(&envelope)).await,
        Some(vec![1, 0]),
        "first copy: stored"
    );
    assert_eq!(
        raw_request(&mut raw, peer, frame(&envelope)).await,
        Some(vec![1, 1]),
        "second copy: duplicate"
    );
    // The same message sealed, as a relay would bring it after a lost answer, directly or
    // from the relay: recognised by its contents.
    assert_eq!(
        raw_request(&mut raw, peer, frame(&sealed)).await,
        Some(vec![1, 1]),
        "sealed copy: duplicate"
    );
    assert_eq!(
        bob.inner_net().submit(peer, sealed).await.unwrap(),
        codec::Status::Duplicate,
        "sealed copy from a relay"
    );
    wait_received(&mut bob_events, "only once").await;
    let alice_user = tern_node_user(&dirs[1]).await;
    let history = bob.history(alice_user, 10, None).await.unwrap();
    assert_eq!(
        history
            .messages
            .iter()
            .filter(|m| m.text == "only once")
            .count(),
        1
    );

    // Bob still serves honest peers: Alice comes back and talks to him.
    let alice = start(dirs[1].path(), &seed).await;
    alice.send(bob_user, "still working").await.unwrap();
    wait_received(&mut bob_events, "still working").await;
    // Bob's outbox held one thing: the delivery receipt that the copy "collected from a relay"
    // called for (its sender had no answer for the direct one). It reaches Alice too.
    tokio::time::timeout(TIMEOUT, async {
        while bob.status().await.unwrap().outbox > 0 {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
    .expect("bob's outbox never drained");

    for node in [alice, bob, bootstrap] {
        node.shutdown().await;
    }
}

/// `envelope`, a direct one for `node`, sealed to `node`'s mailbox key: what a relay holds
/// of the same message.
fn sealed_for(node: &Node, envelope: &[u8]) -> Vec<u8> {
    let account = node
        .inner_store()
        .get::<crate::tables::State>(&crate::tables::STATE_ACCOUNT.to_owned())
        .unwrap()
        .unwrap();
    let mailbox = AccountKey::from_bytes(&account)
        .unwrap()
        .mailbox_secret()
        .public();
    tern_crypto::envelope::seal_direct(&mut UnwrapErr(getrandom::SysRng), &mailbox, envelope)
        .unwrap()
}

/// The account id stored in a node's directory, by starting it briefly.
async fn tern_node_user(dir: &TempDir) -> UserId {
    let node = start(dir.path(), &[]).await;
    let user = node.user_id();
    node.shutdown().await;
    user
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_records_are_refused_by_honest_nodes() {
    let dirs: Vec<TempDir> = (0..2).map(|_| tempfile::tempdir().unwrap()).collect();
    let honest = start(dirs[0].path(), &[]).await;
    let seed = honest.addresses().await;
    let alice = start(dirs[1].path(), &seed).await;
    let alice_user = alice.user_id();
    let (peer, address) = split(&seed[0]);

    // Wait until Alice's genuine record is stored.
    let genuine = tokio::time::timeout(TIMEOUT, async {
        loop {
            if let Ok(found) = honest
                .inner_net()
                .lookup(alice_user)
                .await
                .map(|f| f.record)
            {
                return found;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    })
    .await
    .expect("alice's record never appeared");

    // Mallory makes records under Alice's key: signed by Mallory, expired, an older sequence
    // number, and garbage.
    let mut rng = UnwrapErr(getrandom::SysRng);
    let mallory = AccountKey::generate(&mut rng);
    let now = crate::Clock::system().now_secs();
    let device =
        DeviceId::from_bytes(*AccountKey::generate(&mut rng).user_id().as_bytes()).unwrap();
    let certificate = mallory.certify_device(device, now, now + 3600);
    let bundle = PrekeySecrets::generate(&mut rng, &mallory, now).bundle(&mallory, 1);
    let key = record::key_for(&alice_user);
    let forged_signer = record::sign(
        &mallory,
        &certificate,
        &[],
        &bundle,
        &[],
        genuine.seq + 100,
        now + 3600,
    );
    let expired = record::sign(&mallory, &certificate, &[], &bundle, &[], 1, now - 10);
    let mut raw = client();
    raw.behaviour_mut().kad.add_address(&peer, address.clone());
    raw.dial(address).unwrap();
    for (value, key) in [
        (forged_signer, key.clone()),
        (expired, record::key_for(&mallory.user_id())),
        (vec![0xde, 0xad, 0xbe, 0xef], key.clone()),
        (vec![0u8; 100_000], key.clone()),
    ] {
        raw.behaviour_mut().kad.put_record_to(
            kad::Record::new(key, value),
            std::iter::once(peer),
            kad::Quorum::One,
        );
        tokio::time::timeout(TIMEOUT, async {
            loop {
                if let SwarmEvent::Behaviour(ClientEvent::Kad(
                    kad::Event::OutboundQueryProgressed {
                        result: kad::QueryResult::PutRecord(_),
                        ..
                    },
                )) = raw.select_next_some().await
                {
                    return;
                }
            }
        })
        .await
        .expect("put did not finish");
    }

    // The honest node kept the genuine record and counted the refusals.
    let found = honest.inner_net().lookup(alice_user).await.unwrap().record;
    assert_eq!(found.seq, genuine.seq);
    assert_eq!(found.device, genuine.device);
    let status = honest.status().await.unwrap();
    let refused: u64 = status
        .rejections
        .iter()
        .filter(|(k, _)| k.starts_with("dht_record_"))
        .map(|(_, v)| v)
        .sum();
    assert!(
        refused >= 2,
        "refusals not counted: {:?}",
        status.rejections
    );

    for node in [alice, honest] {
        node.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flooding_peer_is_rate_limited_while_others_are_served() {
    let dirs: Vec<TempDir> = (0..2).map(|_| tempfile::tempdir().unwrap()).collect();
    let bob = start(dirs[0].path(), &[]).await;
    let seed = bob.addresses().await;
    let mut bob_events = bob.events(crate::From::Oldest);
    let (peer, address) = split(&seed[0]);
    let mut raw = client();
    raw.dial(address).unwrap();

    // Far more envelopes than a stranger's burst allowance, as fast as the node answers,
    // within its limit of concurrent streams.
    const FLOOD: usize = 600;
    const WINDOW: usize = 32;
    let mut sent = 0;
    let mut waiting = std::collections::HashSet::new();
    let mut answers = std::collections::HashMap::<Vec<u8>, usize>::new();
    tokio::time::timeout(TIMEOUT, async {
        while sent < FLOOD || !waiting.is_empty() {
            while sent < FLOOD && waiting.len() < WINDOW {
                let garbage = vec![(sent % 251) as u8; 1024];
                waiting.insert(raw.behaviour_mut().msg.send_request(&peer, frame(&garbage)));
                sent += 1;
            }
            match raw.select_next_some().await {
                SwarmEvent::Behaviour(ClientEvent::Msg(request_response::Event::Message {
                    message:
                        request_response::Message::Response {
                            request_id,
                            response,
                        },
                    ..
                })) => {
                    waiting.remove(&request_id);
                    *answers.entry(response).or_default() += 1;
                }
                SwarmEvent::Behaviour(ClientEvent::Msg(
                    request_response::Event::OutboundFailure { request_id, .. },
                )) => {
                    waiting.remove(&request_id);
                    *answers.entry(Vec::new()).or_default() += 1;
                }
                _ => {}
            }
        }
    })
    .await
    .expect("the flood was never answered");
    let busy = answers.get(&vec![1, 4]).copied().unwrap_or(0);
    let rejected = answers.get(&vec![1, 2]).copied().unwrap_or(0);
    assert!(busy > 0, "the flood was not limited: {answers:?}");
    assert!(rejected > 0, "nothing was even looked at: {answers:?}");
    assert_eq!(
        answers.get(&vec![1, 0]),
        None,
        "garbage was stored: {answers:?}"
    );
    let status = bob.status().await.unwrap();
    // Every busy answer is accounted for: by the rate limiter, or a full pipeline.
    let limited = status.rejections["delivery_rate_limited"];
    assert!(
        limited > 0,
        "nothing was rate limited: {:?}",
        status.rejections
    );
    assert_eq!(limited + status.rejections["delivery_busy"], busy as u64);

    // An honest peer is served as usual, and its burst is its own.
    let alice = start(dirs[1].path(), &seed).await;
    alice.add_contact("bob", bob.user_id()).await.unwrap();
    bob.add_contact("alice", alice.user_id()).await.unwrap();
    for i in 0..3 {
        alice
            .send(bob.user_id(), format!("hello {i}"))
            .await
            .unwrap();
    }
    // Concurrent deliveries may arrive in any order; history orders them by send time.
    let mut missing: std::collections::HashSet<String> =
        (0..3).map(|i| format!("hello {i}")).collect();
    tokio::time::timeout(TIMEOUT, async {
        while !missing.is_empty() {
            if let Some((_, Event::MessageReceived(m))) = bob_events.next().await {
                missing.remove(&m.text);
            }
        }
    })
    .await
    .expect("messages not received");
    let history = bob.history(alice.user_id(), 10, None).await.unwrap();
    let texts: Vec<&str> = history.messages.iter().map(|m| m.text.as_str()).collect();
    assert_eq!(texts, ["hello 0", "hello 1", "hello 2"]);

    alice.shutdown().await;
    bob.shutdown().await;
}

/// Regression: a receive that failed half-way (here a damaged read after the envelope was
/// decrypted) committed the envelope's `Seen` entry and advanced session anyway while
/// answering `Unavailable`; the sender's retry was then answered `Duplicate` and the message
/// was lost, marked delivered at the sender.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_receive_that_fails_half_way_commits_nothing_and_the_retry_is_stored() {
    let dirs: Vec<TempDir> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    let (bootstrap, seed, envelope) = envelope_for_bob(&dirs).await;
    let alice_user = tern_node_user(&dirs[1]).await;

    let bob = start(dirs[2].path(), &seed).await;
    let mut bob_events = bob.events(crate::From::Oldest);
    let (peer, address) = split(&bob.addresses().await[0]);
    let mut raw = client();
    raw.dial(address).unwrap();

    // The conversation summary is read after the message is decrypted and deduplicated.
    bob.inner_store().fail_next_get("conversations");
    assert_eq!(
        raw_request(&mut raw, peer, frame(&envelope)).await,
        Some(vec![1, 5]),
        "a failed receive is answered unavailable"
    );
    assert!(
        bob.history(alice_user, 10, None)
            .await
            .unwrap()
            .messages
            .is_empty()
    );
    assert_eq!(
        raw_request(&mut raw, peer, frame(&envelope)).await,
        Some(vec![1, 0]),
        "the retry is stored, not taken for a duplicate"
    );
    wait_received(&mut bob_events, "only once").await;
    assert_eq!(
        raw_request(&mut raw, peer, frame(&envelope)).await,
        Some(vec![1, 1]),
        "and only then is a copy a duplicate"
    );
    let history = bob.history(alice_user, 10, None).await.unwrap();
    assert_eq!(history.messages.len(), 1);

    for node in [bob, bootstrap] {
        node.shutdown().await;
    }
}

/// Every file of a database directory whose name ends in one of `suffixes`, read whole. A
/// file that a compaction deleted between listing and reading is gone, bytes and all, so it
/// is skipped.
fn database_files(dir: &std::path::Path, suffixes: &[&str]) -> Vec<(String, Vec<u8>)> {
    std::fs::read_dir(dir.join("db"))
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| {
            let name = path.file_name().unwrap().to_string_lossy();
            suffixes.iter().any(|suffix| name.ends_with(suffix))
        })
        .filter_map(|path| match std::fs::read(&path) {
            Ok(bytes) => Some((path.display().to_string(), bytes)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => panic!("cannot read {}: {e}", path.display()),
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deleted_conversation_leaves_the_database_files() {
    let dirs: Vec<TempDir> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    let (bootstrap, alice, bob) = contacts(&dirs).await;
    let (a, b) = (alice.user_id(), bob.user_id());
    let mut bob_events = bob.events(crate::From::Oldest);
    let mut ids = Vec::new();
    for i in 0..20 {
        ids.push(alice.send(b, format!("note {i}")).await.unwrap());
    }
    let mut waiting: std::collections::HashSet<_> = ids.iter().copied().collect();
    crate::test_utils::wait_for(&mut bob_events, |e| {
        if let Event::MessageReceived(m) = e {
            waiting.remove(&m.id);
        }
        waiting.is_empty().then_some(())
    })
    .await;

    // Message ids are in the row keys of `messages` and `message_index`, and nowhere else in
    // clear (values are sealed): once on disk, the files show them.
    bob.inner_store().flush().unwrap();
    let holds = |files: &[(String, Vec<u8>)], id: &crate::MessageId| {
        files
            .iter()
            .find(|(_, bytes)| bytes.windows(16).any(|w| w == id.as_bytes()))
            .map(|(name, _)| name.clone())
    };
    let before = database_files(dirs[2].path(), &[".sst"]);
    assert!(
        ids.iter().all(|id| holds(&before, id).is_some()),
        "the test does not look for what the files hold"
    );

    assert_eq!(bob.delete_chat(a).await.unwrap(), ids.len());
    assert!(bob.history(a, 50, None).await.unwrap().messages.is_empty());
    assert!(bob.chats().await.unwrap().is_empty());
    let after = database_files(dirs[2].path(), &[".sst", ".log"]);
    for id in &ids {
        assert_eq!(holds(&after, id), None, "message {id} is still on disk");
    }
    assert!(
        matches!(bob.delete_chat(a).await, Err(crate::ChatError::NoChat(_))),
        "nothing is left to delete"
    );

    // The contact stays, and the conversation starts again from the next message.
    let again = alice.send(b, "still there?").await.unwrap();
    crate::test_utils::wait_for(&mut bob_events, |e| match e {
        Event::MessageReceived(m) if m.id == again => Some(()),
        _ => None,
    })
    .await;
    for node in [alice, bob, bootstrap] {
        node.shutdown().await;
    }
}

/// Regression: a delivery task that panicked (a bug, or a fault in a dependency) left its
/// outbox entry marked as being tried, so it was never tried again until the node
/// restarted: the message waited for ever.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delivery_task_that_panics_leaves_its_message_to_be_tried_again() {
    let dirs: Vec<TempDir> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    let (bootstrap, alice, bob) = contacts(&dirs).await;
    let b = bob.user_id();
    let mut bob_events = bob.events(crate::From::Now);
    alice.send(b, "first").await.unwrap();
    wait_received(&mut bob_events, "first").await;

    crate::core::failpoints::panic_next_delivery_to(b);
    alice.send(b, "after a panic").await.unwrap();
    wait_received(&mut bob_events, "after a panic").await;

    for node in [alice, bob, bootstrap] {
        node.shutdown().await;
    }
}
