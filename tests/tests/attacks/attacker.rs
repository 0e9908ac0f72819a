//! The attacker: raw libp2p written here, not Tern's client. It speaks `/tern/mailbox/2` with
//! the protocol crate's codec, so that it can send anything the wire allows, and runs on a
//! thread of its own so that its event loop never shares a worker with the test's.

use std::{
    collections::HashSet,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    thread::JoinHandle,
};

use futures::StreamExt;
use libp2p::{
    Multiaddr, PeerId, StreamProtocol, Swarm, noise,
    request_response::{self, ProtocolSupport},
    swarm::SwarmEvent,
    tcp, yamux,
};
use rand_chacha::{ChaCha20Rng, rand_core::SeedableRng};
use tern_crypto::{AccountKey, PrekeyBundle, PrekeySecrets};
use tern_proto::mailbox::{Codec, Operation, OwnerProof, Request, Response};
use tern_tests::TIMEOUT;
use tokio::sync::oneshot;

pub(crate) type MailboxClient = Swarm<request_response::Behaviour<Codec>>;

/// A client with a fresh identity that speaks the mailbox protocol.
pub(crate) fn mailbox_client() -> MailboxClient {
    client(Codec, tern_proto::mailbox::PROTOCOL)
}

/// A client with a fresh identity that sends requests of `protocol` through `codec`.
pub(crate) fn client<C>(codec: C, protocol: StreamProtocol) -> Swarm<request_response::Behaviour<C>>
where
    C: request_response::Codec<Protocol = StreamProtocol> + Clone + Send + 'static,
{
    libp2p::SwarmBuilder::with_new_identity()
        .with_tokio()
        .with_tcp(
            tcp::Config::default(),
            noise::Config::new,
            yamux::Config::default,
        )
        .expect("tcp")
        .with_behaviour(|_| {
            request_response::Behaviour::with_codec(
                codec,
                [(protocol, ProtocolSupport::Outbound)],
                request_response::Config::default().with_request_timeout(TIMEOUT),
            )
        })
        .expect("behaviour")
        .with_swarm_config(|c| c.with_idle_connection_timeout(TIMEOUT))
        .build()
}

/// The peer id at the end of `address`.
pub(crate) fn peer_of(address: &Multiaddr) -> PeerId {
    match address.iter().last() {
        Some(libp2p::multiaddr::Protocol::P2p(peer)) => peer,
        _ => panic!("no peer id in {address}"),
    }
}

/// Sends one request and waits for its answer (`None` when the stream failed).
pub(crate) async fn call(
    swarm: &mut MailboxClient,
    relay: PeerId,
    request: Request,
) -> Option<Response> {
    let id = swarm.behaviour_mut().send_request(&relay, request);
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
    .expect("an answer from the relay in time")
}

/// Bytes that do not compress, different for each `seed`.
/// [`noise_bytes`] shaped as a sealed envelope (its version byte first; `len` a bucket
/// length): what a relay cannot tell from a real one.
pub(crate) fn sealed_noise(seed: u64, len: usize) -> Vec<u8> {
    let mut bytes = noise_bytes(seed, len);
    bytes[0] = tern_crypto::envelope::ENVELOPE_VERSION;
    bytes
}

pub(crate) fn noise_bytes(seed: u64, len: usize) -> Vec<u8> {
    let mut state = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect()
}

/// What an attack has had back so far.
#[derive(Debug, Default)]
pub(crate) struct Tally {
    /// Answers of any kind.
    pub(crate) answered: AtomicU64,
    /// Answers that refused the request.
    pub(crate) refused: AtomicU64,
}

/// An attack running on its own thread until [`Attack::stop`].
pub(crate) struct Attack {
    tally: Arc<Tally>,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Attack {
    /// Runs `attack` on a thread with its own single-threaded runtime.
    pub(crate) fn spawn<F, Fut>(attack: F) -> Self
    where
        F: FnOnce(Arc<Tally>) -> Fut + Send + 'static,
        Fut: Future<Output = ()>,
    {
        let tally = Arc::new(Tally::default());
        let (stop, stopped) = oneshot::channel();
        let counts = tally.clone();
        let thread = std::thread::spawn(move || {
            // The attacker's own CPU would be on its own machine; here it shares two cores
            // with the honest users. At the lowest priority it takes only what they leave
            // idle, so that what the test measures is the cost of the flood to the relay,
            // not the cost of generating it.
            let _ = rustix::process::setpriority_process(Some(rustix::thread::gettid()), 19);
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("the attacker's runtime");
            runtime.block_on(async move {
                tokio::select! {
                    _ = stopped => {}
                    () = attack(counts) => {}
                }
            });
        });
        Self {
            tally,
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    /// Floods the relay at `address` with mailbox requests from one connection: `make(n)` is
    /// the `n`th request, and `window` are in flight at once, each replaced as soon as it is
    /// answered.
    pub(crate) fn flood(
        address: Multiaddr,
        window: usize,
        make: impl FnMut(u64) -> Request + Send + 'static,
    ) -> Self {
        Self::flood_with(
            Codec,
            tern_proto::mailbox::PROTOCOL,
            address,
            window,
            make,
            |response| matches!(response, Response::Refused(_)),
        )
    }

    /// [`Attack::flood`] for any request-response protocol: `refused` tells which answers
    /// turned the request down.
    pub(crate) fn flood_with<C>(
        codec: C,
        protocol: StreamProtocol,
        address: Multiaddr,
        window: usize,
        mut make: impl FnMut(u64) -> C::Request + Send + 'static,
        refused: fn(&C::Response) -> bool,
    ) -> Self
    where
        C: request_response::Codec<Protocol = StreamProtocol> + Clone + Send + 'static,
    {
        Self::spawn(move |tally| async move {
            let relay = peer_of(&address);
            let mut swarm = client(codec, protocol);
            swarm.dial(address.clone()).expect("dial");
            let mut in_flight = HashSet::new();
            let mut n = 0;
            loop {
                while in_flight.len() < window {
                    in_flight.insert(swarm.behaviour_mut().send_request(&relay, make(n)));
                    n += 1;
                }
                match swarm.select_next_some().await {
                    SwarmEvent::Behaviour(request_response::Event::Message {
                        message:
                            request_response::Message::Response {
                                request_id,
                                response,
                            },
                        ..
                    }) if in_flight.remove(&request_id) => {
                        tally.answered.fetch_add(1, Ordering::Relaxed);
                        if refused(&response) {
                            tally.refused.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                    SwarmEvent::Behaviour(request_response::Event::OutboundFailure {
                        request_id,
                        ..
                    }) => {
                        in_flight.remove(&request_id);
                    }
                    SwarmEvent::ConnectionClosed { .. } => {
                        // Refused outright: come back, as an attacker would.
                        in_flight.clear();
                        let _ = swarm.dial(address.clone());
                    }
                    _ => {}
                }
            }
        })
    }

    pub(crate) fn answered(&self) -> u64 {
        self.tally.answered.load(Ordering::Relaxed)
    }

    pub(crate) fn refused(&self) -> u64 {
        self.tally.refused.load(Ordering::Relaxed)
    }

    /// Stops the attack and waits for its thread.
    pub(crate) fn stop(mut self) {
        self.halt();
    }

    fn halt(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            thread.join().expect("the attacker's thread");
        }
    }
}

impl Drop for Attack {
    fn drop(&mut self) {
        self.halt();
    }
}

/// An account of the attacker's own, with a mailbox it can prove it owns.
pub(crate) struct Owner {
    pub(crate) account: AccountKey,
    pub(crate) bundle: PrekeyBundle,
}

impl Owner {
    pub(crate) fn new(seed: u8) -> Self {
        let mut rng = ChaCha20Rng::from_seed([seed; 32]);
        let account = AccountKey::generate(&mut rng);
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("after 1970")
            .as_secs();
        let bundle = PrekeySecrets::generate(&mut rng, &account, now).bundle(&account, 1);
        Self { account, bundle }
    }

    /// Asks for a challenge and answers it: a proof for `operation` on the attacker's mailbox.
    pub(crate) async fn prove(
        &self,
        swarm: &mut MailboxClient,
        relay: PeerId,
        operation: Operation,
    ) -> OwnerProof {
        let Some(Response::Challenge { nonce }) = call(swarm, relay, Request::Challenge).await
        else {
            panic!("no challenge");
        };
        OwnerProof::new(
            &self.account,
            &self.bundle,
            &relay.to_bytes(),
            nonce,
            operation,
        )
    }
}
