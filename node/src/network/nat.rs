//! Reachability behind a NAT: circuit reservations at our mailbox relays while AutoNAT finds
//! us private, and which kind of connection (direct or through a relay's circuit) each peer
//! is on.
//!
//! A node that AutoNAT v2 found private reserves a circuit at up to [`CIRCUIT_RELAYS`] of
//! its mailbox relays (they are in our record already, so reserving there tells nobody
//! anything new). The relay then reports the circuit as a listen address, which goes into our
//! record like any other, and a contact dials us through it. Such a relayed connection is
//! where DCUtR starts a hole punch; when one succeeds the relayed connections to that peer
//! are closed, so deliveries move to the direct one (libp2p spreads requests over all of a
//! peer's connections, and a circuit is limited in bytes and time).
//!
//! A reservation that ends (the relay restarted, our uplink went down) is made again at the
//! next [`RESERVE_EVERY`] tick while we are still private.

use std::{collections::HashMap, time::Duration};

use libp2p::{
    Multiaddr, PeerId,
    core::{ConnectedPoint, transport::ListenerId},
    dcutr, kad,
    multiaddr::Protocol,
    ping,
    swarm::ConnectionId,
};
use tracing::{debug, info};

use crate::view::{HolePunches, Path};

/// Relays we hold a circuit reservation at, at most: two, so that one relay lost leaves us
/// reachable while the other is replaced.
pub(super) const CIRCUIT_RELAYS: usize = 2;
/// How often missing reservations are made again.
pub(super) const RESERVE_EVERY: Duration = Duration::from_secs(5);

/// Circuit reservations and the kinds of open connections.
#[derive(Debug, Default)]
pub(super) struct Nat {
    /// Our mailbox relays, in the core's order of preference.
    relays: Vec<(PeerId, Vec<Multiaddr>)>,
    /// Circuit listeners asked for: the relay each is at, and whether the relay accepted
    /// it (it reported a circuit address).
    reservations: HashMap<ListenerId, (PeerId, bool)>,
    /// Open connections per peer (a peer is here exactly while one is open), and whether
    /// each goes through a relay.
    connections: HashMap<PeerId, HashMap<ConnectionId, bool>>,
    pub(super) punches: HolePunches,
}

impl Nat {
    /// Replaces our mailbox relays (reservations at relays no longer ours end by themselves
    /// when their connections close).
    pub(super) fn set_relays(&mut self, relays: Vec<(PeerId, Vec<Multiaddr>)>) {
        self.relays = relays;
    }

    /// The circuit addresses to listen on now: one per relay among the first
    /// [`CIRCUIT_RELAYS`] of ours that has no reservation yet.
    pub(super) fn wanted(&self) -> Vec<(PeerId, Multiaddr)> {
        self.relays
            .iter()
            .filter(|(relay, _)| !self.reservations.values().any(|(r, _)| r == relay))
            .take(CIRCUIT_RELAYS.saturating_sub(self.reservations.len()))
            .filter_map(|(relay, addresses)| {
                circuit_address(*relay, addresses).map(|address| (*relay, address))
            })
            .collect()
    }

    pub(super) fn reserving(&mut self, listener: ListenerId, relay: PeerId) {
        self.reservations.insert(listener, (relay, false));
    }

    /// `listener` reported an address: if it is one of our reservations, the relay took it.
    pub(super) fn listening(&mut self, listener: ListenerId) {
        if let Some((_, accepted)) = self.reservations.get_mut(&listener) {
            *accepted = true;
        }
    }

    /// A listener closed; returns the relay if it was one of our reservations.
    pub(super) fn listener_closed(&mut self, listener: ListenerId) -> Option<PeerId> {
        self.reservations.remove(&listener).map(|(relay, _)| relay)
    }

    /// Relays that accepted a reservation of ours.
    pub(super) fn reserved_at(&self) -> impl Iterator<Item = &PeerId> {
        self.reservations
            .values()
            .filter(|(_, accepted)| *accepted)
            .map(|(relay, _)| relay)
    }

    pub(super) fn opened(&mut self, peer: PeerId, connection: ConnectionId, at: &ConnectedPoint) {
        self.connections
            .entry(peer)
            .or_default()
            .insert(connection, at.is_relayed());
    }

    pub(super) fn closed(&mut self, peer: PeerId, connection: ConnectionId) {
        if let Some(open) = self.connections.get_mut(&peer) {
            open.remove(&connection);
            if open.is_empty() {
                self.connections.remove(&peer);
            }
        }
    }

    /// The peers with at least one open connection.
    pub(super) fn connected(&self) -> impl Iterator<Item = &PeerId> {
        self.connections.keys()
    }

    /// A hole punch to `peer` succeeded: the relayed connections to close now.
    pub(super) fn punched(&mut self, peer: PeerId) -> Vec<ConnectionId> {
        self.punches.succeeded += 1;
        self.connections
            .get(&peer)
            .map(|open| {
                open.iter()
                    .filter(|(_, relayed)| **relayed)
                    .map(|(id, _)| *id)
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The path to each connected peer: [`Path::Direct`] if any of its connections goes
    /// straight to it, else [`Path::Circuit`].
    pub(super) fn paths(&self) -> HashMap<PeerId, Path> {
        self.connections
            .iter()
            .map(|(peer, open)| {
                let path = if open.values().any(|relayed| !relayed) {
                    Path::Direct
                } else {
                    Path::Circuit
                };
                (*peer, path)
            })
            .collect()
    }
}

impl super::EventLoop {
    /// Asks for the circuit reservations we lack, while AutoNAT finds us private.
    pub(super) fn reserve_circuits(&mut self) {
        if self.nat_status() != crate::Nat::Private {
            return;
        }
        for (relay, address) in self.nat.wanted() {
            match self.swarm.listen_on(address.clone()) {
                Ok(listener) => {
                    info!(%relay, %address, "reserving a circuit");
                    self.nat.reserving(listener, relay);
                }
                Err(e) => debug!(%relay, %address, "cannot reserve a circuit: {e}"),
            }
        }
    }

    /// Serves the DHT only from a confirmed address of our own: libp2p would also serve it
    /// through a circuit (which counts as an external address), sending every DHT query
    /// for us through a relay that is there for messages.
    pub(super) fn set_dht_mode(&mut self) {
        if self.dht_server {
            return;
        }
        let mode = if self.nat_status() == crate::Nat::Public {
            kad::Mode::Server
        } else {
            kad::Mode::Client
        };
        self.swarm.behaviour_mut().kad.set_mode(Some(mode));
    }

    /// Closes a connection whose pings time out: libp2p keeps it otherwise, and over a link
    /// that went down it would stay until TCP gives up, minutes later, holding our circuit
    /// reservation and DHT queries with it. (A peer without ping is left alone.)
    pub(super) fn on_ping(&mut self, event: ping::Event) {
        match event.result {
            Ok(_) | Err(ping::Failure::Unsupported) => {}
            Err(error) => {
                debug!(peer = %event.peer, "closing a connection that stopped answering pings: {error}");
                self.swarm.close_connection(event.connection);
            }
        }
    }

    pub(super) fn nat_listener_closed(&mut self, listener: ListenerId) {
        if let Some(relay) = self.nat.listener_closed(listener) {
            info!(%relay, "circuit reservation ended; making it again");
            self.reserve_circuits();
        }
    }

    pub(super) fn on_hole_punch(&mut self, event: dcutr::Event) {
        let peer = event.remote_peer_id;
        match event.result {
            Ok(_) => {
                info!(%peer, "hole punched: a direct connection replaces the circuit");
                for connection in self.nat.punched(peer) {
                    self.swarm.close_connection(connection);
                }
            }
            Err(e) => {
                self.nat.punches.failed += 1;
                info!(%peer, "hole punch failed; staying on the circuit: {e}");
            }
        }
    }
}

/// Whether `address` goes through a relay's circuit.
pub(super) fn is_circuit(address: &Multiaddr) -> bool {
    address.iter().any(|p| p == Protocol::P2pCircuit)
}

/// The circuit addresses among `addresses`, one per relay (over QUIC where the relay offers
/// it): a sender dials every address in our record at once, and each circuit it opens
/// counts against the relay's circuit limits for it and for us.
pub(super) fn one_circuit_per_relay<'a>(
    addresses: impl Iterator<Item = &'a Multiaddr>,
) -> Vec<Multiaddr> {
    let mut chosen: Vec<(PeerId, Multiaddr)> = Vec::new();
    for address in addresses.filter(|a| is_circuit(a)) {
        // The first `/p2p` of a circuit address is the relay's.
        let Some(relay) = super::peer_of(address) else {
            continue;
        };
        let quic = address.iter().any(|p| p == Protocol::QuicV1);
        match chosen.iter_mut().find(|(r, _)| *r == relay) {
            Some((_, held)) if quic && !held.iter().any(|p| p == Protocol::QuicV1) => {
                *held = address.clone();
            }
            Some(_) => {}
            None => chosen.push((relay, address.clone())),
        }
    }
    chosen.into_iter().map(|(_, address)| address).collect()
}

/// `<relay address>/p2p/<relay>/p2p-circuit`, over the relay's first QUIC address if it has
/// one (hole punching works best over UDP, and QUIC dials from the port we listen on), else
/// its first address.
fn circuit_address(relay: PeerId, addresses: &[Multiaddr]) -> Option<Multiaddr> {
    let quic = addresses
        .iter()
        .find(|a| a.iter().any(|p| matches!(p, Protocol::QuicV1)));
    let base = quic.or_else(|| addresses.first())?;
    let mut address: Multiaddr = base
        .iter()
        .filter(|p| !matches!(p, Protocol::P2p(_)))
        .collect();
    address.push(Protocol::P2p(relay));
    address.push(Protocol::P2pCircuit);
    Some(address)
}

#[cfg(test)]
mod tests {
    use libp2p::core::Endpoint;

    use super::*;

    fn relay(n: u8) -> (PeerId, Vec<Multiaddr>) {
        let tcp: Multiaddr = format!("/ip4/203.0.113.{n}/tcp/4001").parse().unwrap();
        let quic: Multiaddr = format!("/ip4/203.0.113.{n}/udp/4001/quic-v1")
            .parse()
            .unwrap();
        (PeerId::random(), vec![tcp, quic])
    }

    #[test]
    fn reserves_over_quic_at_the_first_two_relays_and_again_after_one_ends() {
        let relays = [relay(1), relay(2), relay(3)];
        let mut nat = Nat::default();
        nat.set_relays(relays.to_vec());
        let wanted = nat.wanted();
        assert_eq!(wanted.len(), CIRCUIT_RELAYS);
        assert_eq!(wanted[0].0, relays[0].0);
        assert_eq!(
            wanted[0].1.to_string(),
            format!(
                "/ip4/203.0.113.1/udp/4001/quic-v1/p2p/{}/p2p-circuit",
                relays[0].0
            )
        );
        let first = ListenerId::next();
        nat.reserving(first, wanted[0].0);
        let second = ListenerId::next();
        nat.reserving(second, wanted[1].0);
        assert!(nat.wanted().is_empty(), "two reservations are enough");
        assert_eq!(nat.reserved_at().count(), 0, "none accepted yet");
        nat.listening(second);
        assert_eq!(nat.reserved_at().collect::<Vec<_>>(), vec![&relays[1].0]);

        assert_eq!(nat.listener_closed(first), Some(relays[0].0));
        assert_eq!(nat.listener_closed(ListenerId::next()), None);
        let again = nat.wanted();
        assert_eq!(again.len(), 1);
        assert_eq!(again[0].0, relays[0].0, "the ended one is made again first");
    }

    #[test]
    fn one_circuit_per_relay_over_quic_is_published() {
        let (a, b) = (PeerId::random(), PeerId::random());
        let me = PeerId::random();
        let circuit = |n: u8, transport: &str, relay: PeerId| -> Multiaddr {
            format!("/ip4/203.0.113.{n}/{transport}/p2p/{relay}/p2p-circuit/p2p/{me}")
                .parse()
                .unwrap()
        };
        let listening = [
            "/ip4/198.51.100.10/udp/5000/quic-v1".parse().unwrap(),
            circuit(1, "tcp/4001", a),
            circuit(1, "udp/4001/quic-v1", a),
            circuit(2, "tcp/4001", b),
        ];
        assert_eq!(
            one_circuit_per_relay(listening.iter()),
            vec![circuit(1, "udp/4001/quic-v1", a), circuit(2, "tcp/4001", b)]
        );
    }

    #[test]
    fn a_punch_closes_the_relayed_connections_and_the_link_turns_direct() {
        let mut nat = Nat::default();
        let peer = PeerId::random();
        let relayed_at = ConnectedPoint::Dialer {
            address: format!(
                "/ip4/203.0.113.1/udp/4001/quic-v1/p2p/{}/p2p-circuit",
                PeerId::random()
            )
            .parse()
            .unwrap(),
            role_override: Endpoint::Dialer,
            port_use: libp2p::core::transport::PortUse::Reuse,
        };
        let direct_at = ConnectedPoint::Dialer {
            address: "/ip4/203.0.113.9/udp/5000/quic-v1".parse().unwrap(),
            role_override: Endpoint::Dialer,
            port_use: libp2p::core::transport::PortUse::Reuse,
        };
        let relayed = ConnectionId::new_unchecked(1);
        nat.opened(peer, relayed, &relayed_at);
        assert_eq!(nat.paths()[&peer], Path::Circuit);

        let direct = ConnectionId::new_unchecked(2);
        nat.opened(peer, direct, &direct_at);
        assert_eq!(nat.punched(peer), vec![relayed]);
        assert_eq!(nat.punches.succeeded, 1);
        assert_eq!(nat.paths()[&peer], Path::Direct);
        nat.closed(peer, relayed);
        nat.closed(peer, direct);
        assert!(nat.paths().is_empty());
        assert_eq!(nat.connected().count(), 0);
    }
}
