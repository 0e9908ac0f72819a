//! What the relay's scenario tests share: a real `tern-relay` process, raw libp2p clients
//! speaking `/tern/mailbox/2`, owners with fresh keys, and a look at the files on disk.

#![allow(dead_code)] // each test file uses its own part

pub(crate) mod groups;

use std::{
    path::{Path, PathBuf},
    process::{Child, Command},
    time::Duration,
};

use futures::StreamExt;
use libp2p::{
    Multiaddr, PeerId, StreamProtocol, Swarm, noise,
    request_response::{self, ProtocolSupport},
    swarm::{NetworkBehaviour, SwarmEvent},
    tcp, yamux,
};
use rand_chacha::{ChaCha20Rng, rand_core::SeedableRng};
use tern_crypto::{AccountKey, PrekeyBundle, PrekeySecrets};
use tern_proto::mailbox::{Operation, OwnerProof, Request, Response};
use tern_relay::MailboxCodec;

pub(crate) const TIMEOUT: Duration = Duration::from_secs(60);

/// Bytes shaped as a sealed envelope (its version byte, `len` one of the bucket lengths),
/// the only deposits a relay keeps; the rest is `fill`.
pub(crate) fn sealed_like(fill: u8, len: usize) -> Vec<u8> {
    assert!(
        tern_crypto::envelope::BUCKETS.contains(&len),
        "not a bucket length"
    );
    let mut envelope = vec![fill; len];
    envelope[0] = tern_crypto::envelope::ENVELOPE_VERSION;
    envelope
}

/// How long [`until`] waits: generous, for a network of nodes on two busy cores.
pub(crate) const UNTIL: Duration = Duration::from_secs(90);

/// Polls `check` until it holds, for at most [`UNTIL`].
pub(crate) async fn until<F: Future<Output = bool>>(what: &str, check: impl FnMut() -> F) {
    until_within(UNTIL, what, check).await;
}

/// Polls `check` until it holds, for at most `timeout`.
pub(crate) async fn until_within<F: Future<Output = bool>>(
    timeout: Duration,
    what: &str,
    mut check: impl FnMut() -> F,
) {
    tokio::time::timeout(timeout, async {
        while !check().await {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
    .unwrap_or_else(|_| panic!("timed out waiting for {what}"));
}

pub(crate) struct RelayProcess {
    child: Child,
    dir: PathBuf,
}

impl RelayProcess {
    pub(crate) fn start(dir: &Path) -> Self {
        Self::spawn(dir, Command::new(env!("CARGO_BIN_EXE_tern-relay")))
    }

    /// A relay that reads its limits from `config` (a TOML file).
    pub(crate) fn start_with_config(dir: &Path, config: &Path) -> Self {
        let mut command = Command::new(env!("CARGO_BIN_EXE_tern-relay"));
        command.arg("--config").arg(config);
        Self::spawn(dir, command)
    }

    /// A relay listening on `listen` (to come back at the same address after a kill).
    pub(crate) fn start_on(dir: &Path, listen: &str) -> Self {
        Self::spawn_on(dir, Command::new(env!("CARGO_BIN_EXE_tern-relay")), listen)
    }

    fn spawn(dir: &Path, command: Command) -> Self {
        Self::spawn_on(dir, command, "/ip4/127.0.0.1/tcp/0")
    }

    fn spawn_on(dir: &Path, mut command: Command, listen: &str) -> Self {
        let _ = std::fs::remove_file(dir.join("relay.addr"));
        let child = command
            .arg("--data-dir")
            .arg(dir)
            .arg("--listen")
            .arg(listen)
            .arg("--log")
            .arg("warn")
            .spawn()
            .unwrap();
        Self {
            child,
            dir: dir.to_owned(),
        }
    }

    /// The relay's address, once it has written it.
    pub(crate) async fn address(&self) -> (PeerId, Multiaddr) {
        let path = self.dir.join("relay.addr");
        let text = tokio::time::timeout(TIMEOUT, async {
            loop {
                if let Ok(text) = std::fs::read_to_string(&path)
                    && text.ends_with('\n')
                {
                    return text;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        })
        .await
        .expect("the relay never wrote its address");
        let address: Multiaddr = text.lines().next().unwrap().parse().unwrap();
        let Some(libp2p::multiaddr::Protocol::P2p(peer)) = address.iter().last() else {
            panic!("no peer id in {address}");
        };
        (peer, address)
    }

    pub(crate) fn kill(mut self) {
        self.child.kill().unwrap(); // SIGKILL
        self.child.wait().unwrap();
    }
}

impl Drop for RelayProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A client swarm on a fresh identity over TCP, Noise and Yamux, running `behaviour`.
pub(crate) fn swarm<B: NetworkBehaviour>(behaviour: B) -> Swarm<B> {
    libp2p::SwarmBuilder::with_new_identity()
        .with_tokio()
        .with_tcp(
            tcp::Config::default(),
            noise::Config::new,
            yamux::Config::default,
        )
        .unwrap()
        .with_behaviour(move |_| behaviour)
        .unwrap()
        .with_swarm_config(|c| c.with_idle_connection_timeout(TIMEOUT))
        .build()
}

/// A client speaking `/tern/mailbox/2` through `C`: the real codec, or raw bytes.
pub(crate) fn client_with<C>() -> Swarm<request_response::Behaviour<C>>
where
    C: request_response::Codec<Protocol = StreamProtocol> + Default + Clone + Send + 'static,
{
    swarm(request_response::Behaviour::new(
        [(tern_proto::mailbox::PROTOCOL, ProtocolSupport::Outbound)],
        request_response::Config::default().with_request_timeout(TIMEOUT),
    ))
}

/// A client of raw streams, connected to `address`, with its swarm driven on a task of its
/// own.
pub(crate) async fn stream_client(
    address: Multiaddr,
) -> (libp2p_stream::Control, tokio::task::JoinHandle<()>) {
    tokio::time::timeout(TIMEOUT, connected_stream_client(address))
        .await
        .expect("timed out connecting to the relay")
        .unwrap_or_else(|e| panic!("cannot connect to the relay: {e}"))
}

/// A client of raw streams once its connection to `address` is up, or why it failed.
/// Streams are opened only after that: libp2p-stream loses a stream asked for between the
/// moment a connection's handler is made and the moment the behaviour hears of the
/// connection (it waits for a connection that never comes), which hung a test once on
/// loaded cores.
async fn connected_stream_client(
    address: Multiaddr,
) -> Result<(libp2p_stream::Control, tokio::task::JoinHandle<()>), String> {
    let mut swarm = swarm(libp2p_stream::Behaviour::new());
    let control = swarm.behaviour().new_control();
    swarm.dial(address).map_err(|e| e.to_string())?;
    loop {
        match swarm.select_next_some().await {
            SwarmEvent::ConnectionEstablished { .. } => break,
            SwarmEvent::OutgoingConnectionError { error, .. } => return Err(error.to_string()),
            _ => {}
        }
    }
    let task = tokio::spawn(async move {
        loop {
            swarm.select_next_some().await;
        }
    });
    Ok((control, task))
}

/// A client connected to a relay that has just (re)started at `address`, and a stream of
/// `protocol` to it: a fresh client and dial for each try, a few seconds each, within
/// [`TIMEOUT`] in all, as a node redials a relay that restarted.
pub(crate) async fn stream_after_restart(
    address: Multiaddr,
    relay: PeerId,
    protocol: StreamProtocol,
) -> (
    libp2p_stream::Control,
    tokio::task::JoinHandle<()>,
    libp2p::Stream,
) {
    const TRY: Duration = Duration::from_secs(5);
    tokio::time::timeout(TIMEOUT, async {
        loop {
            let connecting = connected_stream_client(address.clone());
            let Ok(Ok((mut control, network))) = tokio::time::timeout(TRY, connecting).await else {
                // Refused at once, say: try again after a pause rather than in a tight loop.
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            };
            match tokio::time::timeout(TRY, control.open_stream(relay, protocol.clone())).await {
                Ok(Ok(stream)) => return (control, network, stream),
                _ => network.abort(),
            }
        }
    })
    .await
    .unwrap_or_else(|_| panic!("no {protocol} stream to the restarted relay"))
}

/// A stream of `protocol` to `relay` through `control`, within [`TIMEOUT`].
pub(crate) async fn open_stream(
    control: &mut libp2p_stream::Control,
    relay: PeerId,
    protocol: StreamProtocol,
) -> libp2p::Stream {
    tokio::time::timeout(TIMEOUT, control.open_stream(relay, protocol.clone()))
        .await
        .unwrap_or_else(|_| panic!("timed out opening a {protocol} stream"))
        .unwrap_or_else(|e| panic!("no {protocol} stream: {e}"))
}

/// A relay in this process with `limits`, listening on loopback TCP: it, its peer id and its
/// address.
pub(crate) async fn spawn_relay(
    dir: &Path,
    limits: tern_relay::Limits,
) -> (tern_relay::Relay, PeerId, Multiaddr) {
    let relay = tern_relay::Relay::spawn(
        tern_relay::Config::new(dir)
            .with_listen_addr("/ip4/127.0.0.1/tcp/0")
            .with_limits(limits),
    )
    .await
    .unwrap();
    let address: Multiaddr = relay.addresses().await[0].parse().unwrap();
    let peer: PeerId = relay.peer_id().parse().unwrap();
    (relay, peer, address)
}

pub(crate) fn client() -> Swarm<request_response::Behaviour<MailboxCodec>> {
    client_with()
}

pub(crate) async fn call(
    swarm: &mut Swarm<request_response::Behaviour<MailboxCodec>>,
    peer: PeerId,
    request: Request,
) -> Option<Response> {
    let id = swarm.behaviour_mut().send_request(&peer, request);
    tokio::time::timeout(TIMEOUT, async {
        loop {
            match swarm.select_next_some().await {
                SwarmEvent::Behaviour(request_response::Event::Message {
                    message:
                        request_response::Message::Response {
                            request_id,
                            response,
                        },
                    ..
                }) if request_id == id => return Some(response),
                SwarmEvent::Behaviour(request_response::Event::OutboundFailure {
                    request_id,
                    ..
                }) if request_id == id => return None,
                _ => {}
            }
        }
    })
    .await
    .expect("no answer from the relay")
}

/// Writes raw bytes as a request, so that frames the real codec never writes can be tried.
#[derive(Clone, Default)]
pub(crate) struct RawCodec;

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
        futures::AsyncReadExt::read_to_end(io, &mut out).await?;
        Ok(out)
    }

    async fn write_request<T: futures::AsyncWrite + Unpin + Send>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
        request: Vec<u8>,
    ) -> std::io::Result<()> {
        futures::AsyncWriteExt::write_all(io, &request).await?;
        futures::AsyncWriteExt::close(io).await
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

pub(crate) fn raw_client() -> Swarm<request_response::Behaviour<RawCodec>> {
    client_with()
}

pub(crate) struct Owner {
    pub(crate) account: AccountKey,
    pub(crate) bundle: PrekeyBundle,
    pub(crate) prekeys: PrekeySecrets,
}

pub(crate) fn owner(seed: u8) -> Owner {
    let mut rng = ChaCha20Rng::from_seed([seed; 32]);
    let account = AccountKey::generate(&mut rng);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let prekeys = PrekeySecrets::generate(&mut rng, &account, now);
    let bundle = prekeys.bundle(&account, 1);
    Owner {
        account,
        bundle,
        prekeys,
    }
}

/// Challenge, then a proof for `op`.
pub(crate) async fn prove(
    swarm: &mut Swarm<request_response::Behaviour<MailboxCodec>>,
    relay: PeerId,
    who: &Owner,
    op: Operation,
) -> OwnerProof {
    let Some(Response::Challenge { nonce }) = call(swarm, relay, Request::Challenge).await else {
        panic!("no challenge");
    };
    OwnerProof::new(&who.account, &who.bundle, &relay.to_bytes(), nonce, op)
}

pub(crate) async fn fetch(
    swarm: &mut Swarm<request_response::Behaviour<MailboxCodec>>,
    relay: PeerId,
    who: &Owner,
) -> Vec<tern_proto::mailbox::StoredEnvelope> {
    let proof = prove(swarm, relay, who, Operation::Fetch).await;
    match call(
        swarm,
        relay,
        Request::Fetch {
            proof,
            after: 0,
            limit: 100,
            wait_secs: 0,
        },
    )
    .await
    {
        Some(Response::Envelopes { items, .. }) => items,
        other => panic!("fetch failed: {other:?}"),
    }
}

pub(crate) fn files_contain(dir: &Path, needle: &[u8]) -> bool {
    let mut stack = vec![dir.to_owned()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else if let Ok(bytes) = std::fs::read(&path)
                && bytes.windows(needle.len()).any(|w| w == needle)
            {
                return true;
            }
        }
    }
    false
}

/// How long a scenario with real nodes waits for one event.
pub(crate) const EVENT_TIMEOUT: Duration = Duration::from_secs(120);

/// A node on loopback in `dir` that keeps its mailbox at `relays`.
pub(crate) fn node_builder(dir: &Path, relays: &[String]) -> tern_node::Builder {
    let mut builder = tern_node::test_utils::builder(dir);
    for relay in relays {
        builder = builder.with_relay(relay.clone());
    }
    builder
}

/// The first event of a node's stream that `pick` accepts, within [`EVENT_TIMEOUT`].
pub(crate) async fn wait_for<T>(
    events: &mut tern_node::EventStream,
    pick: impl FnMut(&tern_node::Event) -> Option<T>,
) -> T {
    tern_node::test_utils::wait_for_within(EVENT_TIMEOUT, events, pick).await
}

/// Waits until `message`, sent by the node of `events`, is delivered, within [`EVENT_TIMEOUT`].
pub(crate) async fn delivered(events: &mut tern_node::EventStream, message: tern_node::MessageId) {
    tern_node::test_utils::wait_delivered_within(EVENT_TIMEOUT, events, message).await;
}

/// A relay of default limits on loopback, and its address.
pub(crate) async fn local_relay(dir: &Path) -> (tern_relay::Relay, String) {
    let relay = tern_relay::Relay::spawn(
        tern_relay::Config::new(dir).with_listen_addr("/ip4/127.0.0.1/tcp/0"),
    )
    .await
    .unwrap();
    let address = relay.addresses().await[0].clone();
    (relay, address)
}

/// A manual clock that keeps pace with real time (so that retries and timeouts the nodes
/// schedule come due) until the test moves it on by days.
pub(crate) fn running_clock() -> (tern_node::Clock, tokio::task::JoinHandle<()>) {
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    let clock = tern_node::Clock::manual(now_ms);
    let ticking = tokio::spawn({
        let clock = clock.clone();
        async move {
            let step = Duration::from_millis(50);
            loop {
                tokio::time::sleep(step).await;
                clock.advance(step);
            }
        }
    });
    (clock, ticking)
}
