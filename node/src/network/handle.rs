//! The handle the core task and the collectors drive the network task with: each call sends
//! a [`Command`] and waits for its answer.

use super::*;

/// A cheap, cloneable handle to the network task.
#[derive(Clone)]
pub(crate) struct Handle {
    pub(super) commands: mpsc::Sender<Command>,
    pub(super) peer_id: PeerId,
    pub(super) addresses: watch::Receiver<Vec<Multiaddr>>,
    /// Into the core's inbound pipeline, for envelopes fetched from relays.
    pub(super) inbound: mpsc::Sender<Inbound>,
    /// Opens raw streams (attachments).
    pub(super) streams: libp2p_stream::Control,
    /// Accepts raw streams (attachments).
    pub(super) accept: tern_proto::accept::Behaviour,
}

impl std::fmt::Debug for Handle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Handle")
            .field("peer_id", &self.peer_id)
            .finish_non_exhaustive()
    }
}

impl Handle {
    async fn call<T>(
        &self,
        make: impl FnOnce(oneshot::Sender<T>) -> Command,
    ) -> Result<T, NetError> {
        self.send(make).await?.await.map_err(|_| NetError::Stopped)
    }

    /// Hands the command `make` builds to the network task and returns where its answer will
    /// come, without waiting for it. Commands sent one after the other reach the task in that
    /// order (the channel queues waiting senders first come, first served).
    async fn send<T>(
        &self,
        make: impl FnOnce(oneshot::Sender<T>) -> Command,
    ) -> Result<oneshot::Receiver<T>, NetError> {
        let (reply, answer) = oneshot::channel();
        self.commands
            .send(make(reply))
            .await
            .map_err(|_| NetError::Stopped)?;
        Ok(answer)
    }

    pub(crate) fn peer_id(&self) -> PeerId {
        self.peer_id
    }

    /// A control for opening raw streams (attachments) to peers this node is connected to
    /// ([`Handle::open_stream`] dials first).
    pub(crate) fn streams(&self) -> libp2p_stream::Control {
        self.streams.clone()
    }

    /// Accepts raw streams (attachments), queued so that a burst of them is not dropped.
    pub(crate) fn acceptor(&self) -> tern_proto::accept::Behaviour {
        self.accept.clone()
    }

    /// Opens a `protocol` stream to `peer`, dialling it first (at `addresses` too, and at
    /// those the swarm knows) when not connected, and opening the stream once the connection
    /// is up (see `network/dial.rs` for why libp2p-stream's own dial is not enough).
    pub(crate) async fn open_stream(
        &self,
        peer: PeerId,
        addresses: Vec<Multiaddr>,
        protocol: libp2p::StreamProtocol,
    ) -> Result<libp2p::Stream, NetError> {
        self.call(|reply| Command::Dial {
            peer,
            addresses,
            reply,
        })
        .await??;
        self.streams
            .clone()
            .open_stream(peer, protocol)
            .await
            .map_err(|e| NetError::Transport(e.to_string()))
    }

    /// Sets how `peer`'s direct deliveries are treated. Best effort: when the command queue
    /// is full the change is dropped, and made again after the peer's next delivery.
    pub(crate) fn set_standing(&self, peer: PeerId, standing: PeerStanding) {
        let _ = self.commands.try_send(Command::Standing { peer, standing });
    }

    /// Tells the network which relays hold our mailbox: where it reserves circuits while
    /// AutoNAT finds us private. Best effort, like [`Handle::set_standing`]: every
    /// publication of our record says it again.
    pub(crate) fn set_relays(&self, relays: Vec<(PeerId, Vec<Multiaddr>)>) {
        let _ = self.commands.try_send(Command::Relays(relays));
    }

    /// Lets every refused peer deliver again (at the stranger rate).
    pub(crate) fn forget_refused(&self) {
        let _ = self.commands.try_send(Command::ForgetRefused);
    }

    /// The addresses others can reach this node at (listen addresses on concrete interfaces
    /// and confirmed external addresses); changes whenever they do.
    pub(crate) fn addresses(&self) -> watch::Receiver<Vec<Multiaddr>> {
        self.addresses.clone()
    }

    /// Stores `value` under `key` at the closest peers, then reads it back: a PUT
    /// acknowledgement alone does not prove the record is retrievable.
    pub(crate) async fn publish(&self, key: RecordKey, value: Vec<u8>) -> Result<(), NetError> {
        self.call(|reply| Command::Publish { key, value, reply })
            .await?
    }

    /// Finds the valid record with the highest sequence number for `user`: the newest found
    /// within the grace period after the first, and a newer one later if the query finds it.
    pub(crate) async fn lookup(&self, user: UserId) -> Result<Found, NetError> {
        self.call(|reply| Command::Lookup { user, reply }).await?
    }

    /// Sends one envelope directly to `peer` and waits for its answer.
    pub(crate) async fn deliver(
        &self,
        peer: PeerId,
        addresses: Vec<Multiaddr>,
        envelope: Vec<u8>,
    ) -> Result<Status, NetError> {
        self.call(|reply| Command::Deliver {
            peer,
            addresses,
            envelope,
            dial: true,
            reply,
        })
        .await?
    }

    /// Sends one envelope to `peer` only if a connection to it is open (never dials, never
    /// falls back to relays): typing and presence signals.
    pub(crate) async fn signal(&self, peer: PeerId, envelope: Vec<u8>) -> Result<Status, NetError> {
        self.call(|reply| Command::Deliver {
            peer,
            addresses: Vec::new(),
            envelope,
            dial: false,
            reply,
        })
        .await?
    }

    /// The peers providing `key` in the DHT (relays provide `dht::RELAYS_KEY`).
    pub(crate) async fn providers(&self, key: &[u8]) -> Result<Vec<PeerId>, NetError> {
        let key = key.to_vec();
        self.call(|reply| Command::Providers { key, reply }).await
    }

    /// Where `peer` can be dialled: the addresses it announced (identify), else the one we
    /// reached it at.
    pub(crate) async fn peer_addresses(&self, peer: PeerId) -> Result<Vec<Multiaddr>, NetError> {
        self.call(|reply| Command::PeerAddresses { peer, reply })
            .await
    }

    /// The address we dialled `peer` at, while connected through a dial of ours: one where it
    /// certainly is (the connection was made there), unlike the addresses it announces.
    pub(crate) async fn dialled_at(&self, peer: PeerId) -> Result<Option<Multiaddr>, NetError> {
        self.call(|reply| Command::DialledAt { peer, reply }).await
    }

    pub(crate) async fn status(&self) -> Result<Snapshot, NetError> {
        self.call(|reply| Command::Status { reply }).await
    }

    /// One request to a mailbox relay about someone else's mailbox (a deposit, a prekey
    /// take) or none (a probe), under an anonymous identity that appears in no record. With
    /// no `addresses`, the relay is dialled where the DHT knows it.
    pub(crate) async fn mailbox(
        &self,
        peer: PeerId,
        addresses: Vec<Multiaddr>,
        request: mailbox::Request,
    ) -> Result<mailbox::Response, NetError> {
        self.queue_mailbox(peer, addresses, request)
            .await?
            .await
            .map_err(|_| NetError::Stopped)?
    }

    /// Queues the request [`Handle::mailbox`] makes and returns where its answer will come:
    /// requests queued one after the other to one relay go out on its deposit stream in that
    /// order.
    pub(crate) async fn queue_mailbox(
        &self,
        peer: PeerId,
        addresses: Vec<Multiaddr>,
        request: mailbox::Request,
    ) -> Result<oneshot::Receiver<Result<mailbox::Response, NetError>>, NetError> {
        self.send(|reply| Command::Mailbox {
            persona: Persona::Anonymous,
            peer,
            addresses,
            job: Job::Request { request, reply },
        })
        .await
    }

    /// A `/tern/blob/1` stream to `relay` under the anonymous identity deposits use (an
    /// upload for someone's mailbox, a read of a blob left for us), kept open while the
    /// [`Lease`] lives. With no `addresses`, the relay is dialled where the DHT knows it.
    pub(crate) async fn relay_stream(
        &self,
        relay: PeerId,
        addresses: Vec<Multiaddr>,
    ) -> Result<(libp2p::Stream, Lease), NetError> {
        self.anonymous_stream(relay, addresses, crate::transfer::PROTOCOL)
            .await
    }

    /// A stream of `protocol` to `relay` under the anonymous identity (a group's log,
    /// `/tern/grouplog/2`), kept open while the [`Lease`] lives. [`NetError::Unsupported`] if
    /// the relay does not speak it.
    pub(crate) async fn anonymous_stream(
        &self,
        relay: PeerId,
        addresses: Vec<Multiaddr>,
        protocol: libp2p::StreamProtocol,
    ) -> Result<(libp2p::Stream, Lease), NetError> {
        self.call(|reply| Command::Mailbox {
            persona: Persona::Anonymous,
            peer: relay,
            addresses,
            job: Job::Stream { protocol, reply },
        })
        .await?
    }

    /// A stream of `protocol` to `relay` for our own mailbox there (`/tern/collect/2`), under
    /// this relay's own identity for us, kept open while the [`Lease`] lives.
    /// [`NetError::Unsupported`] if the relay does not speak it.
    pub(crate) async fn own_stream(
        &self,
        relay: PeerId,
        addresses: Vec<Multiaddr>,
        protocol: libp2p::StreamProtocol,
    ) -> Result<(libp2p::Stream, Lease), NetError> {
        self.call(|reply| Command::Mailbox {
            persona: Persona::Owner,
            peer: relay,
            addresses,
            job: Job::Stream { protocol, reply },
        })
        .await?
    }

    /// One request about our own mailbox at `relay` (a challenge and the fetch, ack or prekey
    /// upload it proves), under this relay's own identity for us: it appears in no record,
    /// and is not the one our deposits go out under.
    pub(crate) async fn own_mailbox(
        &self,
        relay: PeerId,
        addresses: Vec<Multiaddr>,
        request: mailbox::Request,
    ) -> Result<mailbox::Response, NetError> {
        self.call(|reply| Command::Mailbox {
            persona: Persona::Owner,
            peer: relay,
            addresses,
            job: Job::Request { request, reply },
        })
        .await?
    }

    /// Hands an envelope fetched from a relay to the core, like a direct delivery; the answer
    /// says whether it may be acknowledged at the relay.
    pub(crate) async fn submit(&self, peer: PeerId, envelope: Vec<u8>) -> Result<Status, NetError> {
        let (reply, answer) = oneshot::channel();
        self.inbound
            .send(Inbound {
                peer,
                envelope,
                reply,
                via_relay: true,
            })
            .await
            .map_err(|_| NetError::Stopped)?;
        answer.await.map_err(|_| NetError::Stopped)
    }
}
