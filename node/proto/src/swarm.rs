//! The libp2p stack every Tern peer runs, node or relay: TCP (no Nagle delay) and QUIC,
//! Noise, Yamux with its auto-tuned window, DNS, and `identify` under Tern's name. Each side
//! adds its own behaviours on top.

use std::{error::Error, time::Duration};

use libp2p::{
    PeerId, Swarm, Transport, connection_limits,
    core::{muxing::StreamMuxerBox, transport::Boxed, upgrade},
    identify,
    identity::{Keypair, PublicKey},
    noise, relay,
    swarm::NetworkBehaviour,
    tcp, yamux,
};

/// The `identify` protocol name of Tern peers.
pub const IDENTIFY_PROTOCOL: &str = "/tern/id/1";

/// Why the stack could not be set up.
#[derive(Debug, thiserror::Error)]
#[error("transport setup failed: {0}")]
pub struct SwarmError(String);

fn failed(e: impl std::fmt::Display) -> SwarmError {
    SwarmError(e.to_string())
}

/// What a behaviour constructor may fail with.
pub type BehaviourError = Box<dyn Error + Send + Sync>;

/// TCP as Tern uses it: `TCP_NODELAY`, since every frame is a small request or answer that
/// should leave at once.
pub fn tcp() -> tcp::Config {
    tcp::Config::default().nodelay(true)
}

/// How long a TCP connection may take to open and finish its Noise and Yamux handshakes, in
/// either direction. Without it a dial to an address that drops packets (a NAT, a firewall)
/// waits for the kernel to give up, minutes later: an AutoNAT server dialling a NATed node
/// back over TCP would then never answer, and the node would never learn it is private.
pub const TCP_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(5);

/// TCP ([`tcp`]), Noise and Yamux, within [`TCP_HANDSHAKE_TIMEOUT`].
fn tcp_transport(key: &Keypair) -> Result<Boxed<(PeerId, StreamMuxerBox)>, BehaviourError> {
    Ok(tcp::tokio::Transport::new(tcp())
        .upgrade(upgrade::Version::V1Lazy)
        .authenticate(noise::Config::new(key)?)
        .multiplex(yamux::Config::default())
        .timeout(TCP_HANDSHAKE_TIMEOUT)
        .map(|(peer, muxer), _| (peer, StreamMuxerBox::new(muxer)))
        .boxed())
}

/// The `identify` behaviour under [`IDENTIFY_PROTOCOL`].
pub fn identify(key: PublicKey) -> identify::Behaviour {
    identify::Behaviour::new(identify::Config::new(IDENTIFY_PROTOCOL.into(), key))
}

/// Connection limits: `total` established connections, `per_peer` to one peer.
pub fn connection_limits(total: u32, per_peer: u32) -> connection_limits::Behaviour {
    connection_limits::Behaviour::new(
        connection_limits::ConnectionLimits::default()
            .with_max_established(Some(total))
            .with_max_established_per_peer(Some(per_peer)),
    )
}

/// A swarm on the Tern stack whose behaviour `make` builds, closing connections idle for
/// `idle`.
pub fn build<B: NetworkBehaviour>(
    keypair: Keypair,
    idle: Duration,
    make: impl FnOnce(&Keypair) -> Result<B, BehaviourError>,
) -> Result<Swarm<B>, SwarmError> {
    Ok(libp2p::SwarmBuilder::with_existing_identity(keypair)
        .with_tokio()
        .with_quic()
        .with_other_transport(tcp_transport)
        .map_err(failed)?
        .with_dns()
        .map_err(failed)?
        .with_behaviour(make)
        .map_err(failed)?
        .with_swarm_config(|c| c.with_idle_connection_timeout(idle))
        .build())
}

/// Like [`build`], recording every connection's bytes in and out, by direction and transport,
/// into `registry` (libp2p's `libp2p_bandwidth_bytes` family). A relay serves these to its
/// operator; the counters are libp2p's own, updated as bytes pass.
pub fn build_metered<B: NetworkBehaviour>(
    keypair: Keypair,
    idle: Duration,
    registry: &mut libp2p::metrics::Registry,
    make: impl FnOnce(&Keypair) -> Result<B, BehaviourError>,
) -> Result<Swarm<B>, SwarmError> {
    Ok(libp2p::SwarmBuilder::with_existing_identity(keypair)
        .with_tokio()
        .with_quic()
        .with_other_transport(tcp_transport)
        .map_err(failed)?
        .with_dns()
        .map_err(failed)?
        .with_bandwidth_metrics(registry)
        .with_behaviour(make)
        .map_err(failed)?
        .with_swarm_config(|c| c.with_idle_connection_timeout(idle))
        .build())
}

/// Like [`build`], with a circuit-relay client transport, whose behaviour `make` is given to
/// place in its own.
pub fn build_with_relay_client<B: NetworkBehaviour>(
    keypair: Keypair,
    idle: Duration,
    make: impl FnOnce(&Keypair, relay::client::Behaviour) -> Result<B, BehaviourError>,
) -> Result<Swarm<B>, SwarmError> {
    Ok(libp2p::SwarmBuilder::with_existing_identity(keypair)
        .with_tokio()
        .with_quic()
        .with_other_transport(tcp_transport)
        .map_err(failed)?
        .with_dns()
        .map_err(failed)?
        .with_relay_client(noise::Config::new, yamux::Config::default)
        .map_err(failed)?
        .with_behaviour(make)
        .map_err(failed)?
        .with_swarm_config(|c| c.with_idle_connection_timeout(idle))
        .build())
}
