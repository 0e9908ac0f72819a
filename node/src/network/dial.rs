//! Where peers can be dialled, and dials for raw streams (attachments). libp2p-stream dials a peer it is not connected to
//! through a channel of one place and drops the request when that place is taken, and a
//! stream opened between a connection's handler and its `ConnectionEstablished` waits for a
//! connection that never comes. So the network task dials the peer itself and answers only
//! once the connection is established (the stream behaviour has seen it by then), or failed;
//! the stream is opened after that.

use super::*;

impl EventLoop {
    /// Where `peer` can be dialled: the addresses it announced (identify), else the one we
    /// reached it at.
    pub(super) fn known_addresses(&self, peer: PeerId) -> Vec<Multiaddr> {
        match self.announced.get(&peer) {
            Some(announced) if !announced.is_empty() => announced.clone(),
            _ => self.dialled.get(&peer).cloned().into_iter().collect(),
        }
    }

    /// Dials `peer` (at `addresses` too) for a stream; `reply` is answered once connected.
    pub(super) fn dial_for_stream(
        &mut self,
        peer: PeerId,
        addresses: Vec<Multiaddr>,
        reply: oneshot::Sender<Result<(), NetError>>,
    ) {
        for address in &addresses {
            self.swarm.add_peer_address(peer, address.clone());
        }
        if self.swarm.is_connected(&peer) {
            let _ = reply.send(Ok(()));
            return;
        }
        let dial = DialOpts::peer_id(peer)
            .addresses(addresses)
            .condition(PeerCondition::DisconnectedAndNotDialing)
            .build();
        match self.swarm.dial(dial) {
            // A dial already under way answers for this one too.
            Ok(()) | Err(libp2p::swarm::DialError::DialPeerConditionFalse(_)) => {
                self.stream_dials.entry(peer).or_default().push(reply);
            }
            Err(e) => {
                debug!(%peer, "cannot dial for a stream: {e}");
                let _ = reply.send(Err(NetError::Transport(e.to_string())));
            }
        }
    }

    /// A connection to `peer` is up: the streams waiting for it may open.
    pub(super) fn stream_dial_connected(&mut self, peer: PeerId) {
        for reply in self.stream_dials.remove(&peer).unwrap_or_default() {
            let _ = reply.send(Ok(()));
        }
    }

    /// A dial of `peer` failed.
    pub(super) fn stream_dial_failed(&mut self, peer: PeerId, why: &str) {
        for reply in self.stream_dials.remove(&peer).unwrap_or_default() {
            let _ = reply.send(Err(NetError::Transport(why.to_owned())));
        }
    }
}
