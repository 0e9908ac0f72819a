//! The network task's libp2p stack: every behaviour a node runs, and how the swarm is built
//! from the node's configuration.

use super::*;

#[derive(NetworkBehaviour)]
pub(crate) struct Behaviour {
    pub(super) limits: connection_limits::Behaviour,
    pub(super) memory: memory_connection_limits::Behaviour,
    pub(super) identify: identify::Behaviour,
    pub(super) ping: ping::Behaviour,
    pub(super) kad: kad::Behaviour<kad::store::MemoryStore>,
    pub(super) msg: request_response::Behaviour<codec::Codec>,
    pub(super) autonat: autonat::v2::client::Behaviour,
    pub(super) relay: relay::client::Behaviour,
    pub(super) dcutr: dcutr::Behaviour,
    pub(super) mdns: Toggle<mdns::tokio::Behaviour>,
    /// Raw streams we open: `/tern/blob/1` (see `crate::transfer`).
    pub(super) streams: libp2p_stream::Behaviour,
    /// Raw streams we accept, queued so that a burst is not dropped.
    pub(super) accept: tern_proto::accept::Behaviour,
}

pub(super) fn build_swarm(config: &Config) -> Result<Swarm<Behaviour>, NetError> {
    let dht_server = config.dht_server;
    let mdns_enabled = config.mdns;
    tern_proto::swarm::build_with_relay_client(
        config.keypair.clone(),
        IDLE_TIMEOUT,
        |key, relay| {
            let peer_id = key.public().to_peer_id();
            let mut kad = dht::behaviour(peer_id, dht::Role::Node.capacity());
            if dht_server {
                kad.set_mode(Some(kad::Mode::Server));
            }
            let mdns = if mdns_enabled {
                Some(mdns::tokio::Behaviour::new(
                    mdns::Config::default(),
                    peer_id,
                )?)
            } else {
                None
            };
            Ok(Behaviour {
                limits: tern_proto::swarm::connection_limits(
                    MAX_CONNECTIONS,
                    MAX_CONNECTIONS_PER_PEER,
                ),
                memory: memory_connection_limits::Behaviour::with_max_percentage(
                    MAX_MEMORY_FRACTION,
                ),
                identify: tern_proto::swarm::identify(key.public()),
                ping: ping::Behaviour::default(),
                kad,
                msg: request_response::Behaviour::new(
                    [(codec::PROTOCOL, ProtocolSupport::Full)],
                    request_response::Config::default()
                        .with_request_timeout(REQUEST_TIMEOUT)
                        .with_max_concurrent_streams(MAX_CONCURRENT_STREAMS),
                ),
                autonat: autonat::v2::client::Behaviour::default(),
                relay,
                dcutr: dcutr::Behaviour::new(peer_id),
                mdns: Toggle::from(mdns),
                streams: libp2p_stream::Behaviour::new(),
                accept: tern_proto::accept::Behaviour::new(),
            })
        },
    )
    .map_err(|e| NetError::Transport(e.to_string()))
}
