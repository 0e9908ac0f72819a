//! Circuit relay v2 through a Tern relay, as NATed nodes use it: one peer reserves a circuit,
//! another dials it through the relay, and the largest envelope (256 KiB) crosses in one
//! request. Raw libp2p peers on loopback; the relay is the real service with default limits.

use std::time::Duration;

use futures::{AsyncReadExt, AsyncWriteExt, StreamExt};
use libp2p::{
    Multiaddr, StreamProtocol, Swarm,
    identity::Keypair,
    multiaddr::Protocol,
    relay,
    request_response::{self, ProtocolSupport},
    swarm::{NetworkBehaviour, SwarmEvent},
};

const TIMEOUT: Duration = Duration::from_secs(60);
const PROTOCOL: StreamProtocol = StreamProtocol::new("/tern-test/blob/1");
const ENVELOPE: usize = 256 * 1024;

/// Bytes one way, their length back.
#[derive(Clone, Default)]
struct Bytes;

impl request_response::Codec for Bytes {
    type Protocol = StreamProtocol;
    type Request = Vec<u8>;
    type Response = u64;

    async fn read_request<T: futures::AsyncRead + Unpin + Send>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
    ) -> std::io::Result<Vec<u8>> {
        let mut out = Vec::new();
        io.take(2 * ENVELOPE as u64).read_to_end(&mut out).await?;
        Ok(out)
    }

    async fn read_response<T: futures::AsyncRead + Unpin + Send>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
    ) -> std::io::Result<u64> {
        let mut out = [0u8; 8];
        io.read_exact(&mut out).await?;
        Ok(u64::from_be_bytes(out))
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
        io: &mut T,
        length: u64,
    ) -> std::io::Result<()> {
        io.write_all(&length.to_be_bytes()).await?;
        io.close().await
    }
}

#[derive(NetworkBehaviour)]
struct Peer {
    relay: relay::client::Behaviour,
    bytes: request_response::Behaviour<Bytes>,
}

fn peer() -> Swarm<Peer> {
    tern_proto::swarm::build_with_relay_client(Keypair::generate_ed25519(), TIMEOUT, |_, relay| {
        Ok(Peer {
            relay,
            bytes: request_response::Behaviour::new(
                [(PROTOCOL, ProtocolSupport::Full)],
                request_response::Config::default().with_request_timeout(TIMEOUT),
            ),
        })
    })
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_largest_envelope_crosses_a_circuit_through_the_relay() {
    // Before the fix the relay's circuit relay server never switched on (libp2p enables it
    // only once an external address is confirmed, and nothing confirmed one), and its limits
    // were libp2p's defaults: 128 KiB per circuit, too little for one large envelope.
    let dir = tempfile::tempdir().unwrap();
    let relay_service = tern_relay::Relay::spawn(
        tern_relay::Config::new(dir.path()).with_listen_addr("/ip4/127.0.0.1/tcp/0"),
    )
    .await
    .unwrap();
    let relay_address: Multiaddr = relay_service.addresses().await[0].parse().unwrap();

    // The listener reserves a circuit at the relay.
    let mut listener = peer();
    let listener_id = *listener.local_peer_id();
    listener
        .listen_on(relay_address.clone().with(Protocol::P2pCircuit))
        .unwrap();
    tokio::time::timeout(TIMEOUT, async {
        loop {
            match listener.select_next_some().await {
                SwarmEvent::Behaviour(PeerEvent::Relay(
                    relay::client::Event::ReservationReqAccepted { .. },
                )) => return,
                SwarmEvent::ListenerClosed { reason, .. } => {
                    panic!("the relay refused the reservation: {reason:?}")
                }
                _ => {}
            }
        }
    })
    .await
    .expect("no reservation");

    // The dialer reaches it through the circuit and sends the largest envelope.
    let mut dialer = peer();
    let circuit = relay_address
        .with(Protocol::P2pCircuit)
        .with(Protocol::P2p(listener_id));
    dialer.dial(circuit).unwrap();
    let request = dialer
        .behaviour_mut()
        .bytes
        .send_request(&listener_id, vec![0x42; ENVELOPE]);
    let length = tokio::time::timeout(TIMEOUT, async {
        loop {
            tokio::select! {
                event = listener.select_next_some() => {
                    if let SwarmEvent::Behaviour(PeerEvent::Bytes(request_response::Event::Message {
                        message: request_response::Message::Request { request, channel, .. },
                        ..
                    })) = event {
                        let _ = listener
                            .behaviour_mut()
                            .bytes
                            .send_response(channel, request.len() as u64);
                    }
                }
                event = dialer.select_next_some() => match event {
                    SwarmEvent::Behaviour(PeerEvent::Bytes(request_response::Event::Message {
                        message: request_response::Message::Response { request_id, response },
                        ..
                    })) if request_id == request => return response,
                    SwarmEvent::Behaviour(PeerEvent::Bytes(
                        request_response::Event::OutboundFailure { error, .. },
                    )) => panic!("the envelope did not cross: {error}"),
                    SwarmEvent::OutgoingConnectionError { error, .. } => {
                        panic!("no circuit: {error}")
                    }
                    _ => {}
                },
            }
        }
    })
    .await
    .expect("no answer through the circuit");
    assert_eq!(length, ENVELOPE as u64);
    relay_service.shutdown().await;
}
