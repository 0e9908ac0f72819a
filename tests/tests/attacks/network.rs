//! What a relay sees and carries (findings 6 and 8 of the abuse review): which peer ids its
//! operator can log against what the DHT publishes, and circuits for NATed users.

use futures::StreamExt;
use libp2p::{
    Multiaddr, PeerId, Swarm,
    identity::Keypair,
    multiaddr::Protocol,
    relay,
    request_response::{self, ProtocolSupport},
    swarm::{NetworkBehaviour, SwarmEvent},
};
use tern_crypto::UserId;
use tern_crypto::envelope::MAX_ENVELOPE_LEN;
use tern_proto::msg::{self, Delivery, Status};
use tern_tests::{RelayProcess, TIMEOUT};

use crate::{dht::find_record, honest::Chat};

/// The peer ids in the relay's log lines for mailbox requests.
fn requesters(log: &[String]) -> Vec<PeerId> {
    let mut peers: Vec<PeerId> = log
        .iter()
        .filter(|line| line.contains("mailbox request"))
        .filter_map(|line| {
            line.split_whitespace()
                .find_map(|word| word.strip_prefix("peer="))
                .and_then(|peer| peer.parse().ok())
        })
        .collect();
    peers.sort();
    peers.dedup();
    peers
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_peer_id_a_relay_operator_logs_is_in_any_record() {
    let _serial = crate::ONE_AT_A_TIME.lock().await;
    // Finding 6: deposits and prekey takes went out under the device's own libp2p identity,
    // which its DHT record and device certificate publish: a relay could tell who wrote to
    // whom.
    let dir = tempfile::tempdir().expect("tempdir");
    let relay = RelayProcess::start_logging(dir.path(), &[], "warn,tern_relay::service=debug");
    let (address, _) = relay.address().await;
    let mut chat = Chat::start(&[&address]).await;
    // Alice's first message to Bob takes one of his one-time prekeys; then more mail, which
    // Bob collects from the relay.
    chat.timed("through the relay", 5).await;
    chat.bob_has_everything().await;

    let log = relay.log();
    let seen = requesters(&log);
    assert!(
        seen.len() >= 2,
        "the relay logged its requesters (a sender and an owner at least): {seen:?}\n{}",
        log.join("\n")
    );
    let target: Multiaddr = address.parse().expect("an address");
    for profile in [&chat.alice, &chat.bob] {
        let user: UserId = profile.address().await.parse().expect("an address");
        let (record, bytes) = find_record(&target, &user).await.expect("a record");
        for peer in &seen {
            assert_ne!(
                &record.device, peer,
                "a device's own identity asked the relay"
            );
            let named = bytes
                .windows(peer.to_bytes().len())
                .any(|w| w == peer.to_bytes().as_slice())
                || String::from_utf8_lossy(&bytes).contains(&peer.to_base58());
            assert!(
                !named,
                "{peer} asked the relay and is named in {user}'s record"
            );
            assert!(
                record.relays.iter().all(|(relay, _)| relay != peer),
                "{peer} is listed as a relay"
            );
        }
    }
    chat.stop().await;
    relay.stop().await;
}

#[derive(NetworkBehaviour)]
struct Peer {
    relay: relay::client::Behaviour,
    msg: request_response::Behaviour<msg::Codec>,
}

fn peer() -> Swarm<Peer> {
    tern_proto::swarm::build_with_relay_client(Keypair::generate_ed25519(), TIMEOUT, |_, relay| {
        Ok(Peer {
            relay,
            msg: request_response::Behaviour::new(
                [(msg::PROTOCOL, ProtocolSupport::Full)],
                request_response::Config::default().with_request_timeout(TIMEOUT),
            ),
        })
    })
    .expect("a swarm")
}

/// Asks the relay at `address` for a reservation: whether it was granted.
async fn reserve(swarm: &mut Swarm<Peer>, address: &Multiaddr) -> bool {
    swarm
        .listen_on(address.clone().with(Protocol::P2pCircuit))
        .expect("listen through the relay");
    tokio::time::timeout(TIMEOUT, async {
        loop {
            match swarm.select_next_some().await {
                SwarmEvent::Behaviour(PeerEvent::Relay(
                    relay::client::Event::ReservationReqAccepted { .. },
                )) => return true,
                SwarmEvent::ListenerClosed { .. } => return false,
                _ => {}
            }
        }
    })
    .await
    .expect("an answer to the reservation in time")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_largest_envelope_crosses_a_circuit_through_a_relay_process() {
    let _serial = crate::ONE_AT_A_TIME.lock().await;
    // Finding 8: circuits ran on libp2p's defaults of 128 KiB each, so relayed deliveries of
    // large envelopes were cut off.
    let dir = tempfile::tempdir().expect("tempdir");
    let relay = RelayProcess::start(dir.path(), &[]);
    let (address, _) = relay.address().await;
    let relay_address: Multiaddr = address.parse().expect("an address");

    // A NATed user reserves, and the largest envelope reaches it through the circuit.
    let mut listener = peer();
    let listener_id = *listener.local_peer_id();
    assert!(
        reserve(&mut listener, &relay_address).await,
        "no reservation"
    );
    let mut dialer = peer();
    dialer
        .dial(
            relay_address
                .with(Protocol::P2pCircuit)
                .with(Protocol::P2p(listener_id)),
        )
        .expect("dial through the circuit");
    let envelope = vec![0x42; MAX_ENVELOPE_LEN];
    let request = dialer.behaviour_mut().msg.send_request(
        &listener_id,
        Delivery {
            envelope: envelope.clone(),
        },
    );
    let status = tokio::time::timeout(TIMEOUT, async {
        loop {
            tokio::select! {
                event = listener.select_next_some() => {
                    if let SwarmEvent::Behaviour(PeerEvent::Msg(request_response::Event::Message {
                        message: request_response::Message::Request { request, channel, .. },
                        ..
                    })) = event {
                        let status = if request.envelope == envelope {
                            Status::Stored
                        } else {
                            Status::Rejected
                        };
                        let _ = listener.behaviour_mut().msg.send_response(channel, status);
                    }
                }
                event = dialer.select_next_some() => match event {
                    SwarmEvent::Behaviour(PeerEvent::Msg(request_response::Event::Message {
                        message: request_response::Message::Response { request_id, response },
                        ..
                    })) if request_id == request => return response,
                    SwarmEvent::Behaviour(PeerEvent::Msg(
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
    .expect("an answer through the circuit in time");
    assert_eq!(status, Status::Stored, "the envelope crossed whole");

    let metrics = relay.metrics().await;
    assert_eq!(
        metrics.get(r#"tern_relay_libp2p_relay_events_total{event="CircuitReqAccepted"}"#),
        1.0,
        "the operator sees the circuit: {:?}",
        metrics.samples()
    );
    relay.stop().await;
}
