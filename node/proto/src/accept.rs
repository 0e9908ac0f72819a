//! Accepting inbound streams of Tern's stream protocols with a queue that absorbs bursts.
//!
//! `libp2p-stream` (0.5) hands each inbound stream to its acceptor through a channel that
//! holds one stream per protocol, and drops any stream that arrives while one is waiting: a
//! burst of streams opened at once (many senders reaching a relay together) loses some, and
//! their clients see their first write fail. This behaviour accepts the protocols it is asked
//! for into a queue of [`QUEUE`] streams per protocol; only beyond that is a stream dropped,
//! and counted ([`Behaviour::dropped`]). It only accepts: a side that also opens streams keeps
//! `libp2p-stream` for that.
//!
//! ```no_run
//! # async fn run(behaviour: tern_proto::accept::Behaviour) {
//! use futures::StreamExt;
//! let mut incoming = behaviour
//!     .accept(libp2p::StreamProtocol::new("/example/1"))
//!     .expect("registered once");
//! while let Some((peer, stream)) = incoming.next().await {
//!     // serve `stream` from `peer`, on a task of its own
//! #   let _ = (peer, stream);
//! }
//! # }
//! ```

use std::{
    collections::HashMap,
    convert::Infallible,
    future::{Ready, ready},
    pin::Pin,
    sync::{
        Arc, Mutex,
        atomic::{AtomicU64, Ordering},
    },
    task::{Context, Poll},
};

use futures::channel::mpsc;
use libp2p::{
    Multiaddr, PeerId, Stream, StreamProtocol,
    core::{
        Endpoint, UpgradeInfo,
        transport::PortUse,
        upgrade::{DeniedUpgrade, InboundUpgrade},
    },
    swarm::{
        ConnectionDenied, ConnectionHandler, ConnectionHandlerEvent, ConnectionId, FromSwarm,
        NetworkBehaviour, SubstreamProtocol, THandler, THandlerInEvent, THandlerOutEvent, ToSwarm,
        handler::{ConnectionEvent, FullyNegotiatedInbound},
    },
};

/// Inbound streams of one protocol waiting for their acceptor, at most.
pub const QUEUE: usize = 256;

type Queues = Arc<Mutex<HashMap<StreamProtocol, mpsc::Sender<(PeerId, Stream)>>>>;

/// The behaviour: add it to a swarm, then [`Behaviour::accept`] each protocol once.
#[derive(Debug, Clone, Default)]
pub struct Behaviour {
    queues: Queues,
    dropped: Arc<AtomicU64>,
}

/// The protocol is already being accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the protocol is already accepted")]
pub struct AlreadyAccepted;

/// The inbound streams of one protocol, with the peer that opened each.
#[derive(Debug)]
pub struct Incoming(mpsc::Receiver<(PeerId, Stream)>);

impl futures::Stream for Incoming {
    type Item = (PeerId, Stream);

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        Pin::new(&mut self.0).poll_next(cx)
    }
}

impl Behaviour {
    /// A behaviour that accepts nothing yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Starts accepting `protocol` (on connections made from now on, and on existing ones at
    /// their next stream); once the [`Incoming`] is dropped, it is no longer offered.
    pub fn accept(&self, protocol: StreamProtocol) -> Result<Incoming, AlreadyAccepted> {
        let mut queues = lock(&self.queues);
        queues.retain(|_, sender| !sender.is_closed());
        if queues.contains_key(&protocol) {
            return Err(AlreadyAccepted);
        }
        // A futures channel holds its buffer plus one per sender; the one sender is ours.
        let (sender, receiver) = mpsc::channel(QUEUE - 1);
        queues.insert(protocol, sender);
        Ok(Incoming(receiver))
    }

    /// Inbound streams dropped because their protocol's queue was full.
    pub fn dropped(&self) -> Arc<AtomicU64> {
        self.dropped.clone()
    }

    fn handler(&self, remote: PeerId) -> Handler {
        Handler {
            remote,
            queues: self.queues.clone(),
            dropped: self.dropped.clone(),
        }
    }
}

fn lock(
    queues: &Queues,
) -> std::sync::MutexGuard<'_, HashMap<StreamProtocol, mpsc::Sender<(PeerId, Stream)>>> {
    queues.lock().unwrap_or_else(|e| e.into_inner())
}

impl NetworkBehaviour for Behaviour {
    type ConnectionHandler = Handler;
    type ToSwarm = Infallible;

    fn handle_established_inbound_connection(
        &mut self,
        _: ConnectionId,
        peer: PeerId,
        _: &Multiaddr,
        _: &Multiaddr,
    ) -> Result<THandler<Self>, ConnectionDenied> {
        Ok(self.handler(peer))
    }

    fn handle_established_outbound_connection(
        &mut self,
        _: ConnectionId,
        peer: PeerId,
        _: &Multiaddr,
        _: Endpoint,
        _: PortUse,
    ) -> Result<THandler<Self>, ConnectionDenied> {
        Ok(self.handler(peer))
    }

    fn on_swarm_event(&mut self, _: FromSwarm<'_>) {}

    fn on_connection_handler_event(
        &mut self,
        _: PeerId,
        _: ConnectionId,
        event: THandlerOutEvent<Self>,
    ) {
        match event {}
    }

    fn poll(&mut self, _: &mut Context<'_>) -> Poll<ToSwarm<Self::ToSwarm, THandlerInEvent<Self>>> {
        Poll::Pending
    }
}

/// The protocols accepted when a stream is negotiated.
#[derive(Debug)]
pub struct Protocols(Vec<StreamProtocol>);

impl UpgradeInfo for Protocols {
    type Info = StreamProtocol;
    type InfoIter = std::vec::IntoIter<StreamProtocol>;

    fn protocol_info(&self) -> Self::InfoIter {
        self.0.clone().into_iter()
    }
}

impl InboundUpgrade<Stream> for Protocols {
    type Output = (Stream, StreamProtocol);
    type Error = Infallible;
    type Future = Ready<Result<Self::Output, Infallible>>;

    fn upgrade_inbound(self, stream: Stream, protocol: StreamProtocol) -> Self::Future {
        ready(Ok((stream, protocol)))
    }
}

/// One connection's side of [`Behaviour`]: hands each negotiated stream to its queue.
#[derive(Debug)]
pub struct Handler {
    remote: PeerId,
    queues: Queues,
    dropped: Arc<AtomicU64>,
}

impl ConnectionHandler for Handler {
    type FromBehaviour = Infallible;
    type ToBehaviour = Infallible;
    type InboundProtocol = Protocols;
    type OutboundProtocol = DeniedUpgrade;
    type InboundOpenInfo = ();
    type OutboundOpenInfo = ();

    fn listen_protocol(&self) -> SubstreamProtocol<Protocols> {
        let mut queues = lock(&self.queues);
        queues.retain(|_, sender| !sender.is_closed());
        SubstreamProtocol::new(Protocols(queues.keys().cloned().collect()), ())
    }

    fn poll(
        &mut self,
        _: &mut Context<'_>,
    ) -> Poll<ConnectionHandlerEvent<DeniedUpgrade, (), Infallible>> {
        Poll::Pending
    }

    fn on_behaviour_event(&mut self, event: Infallible) {
        match event {}
    }

    fn on_connection_event(
        &mut self,
        event: ConnectionEvent<'_, Protocols, DeniedUpgrade, (), ()>,
    ) {
        if let ConnectionEvent::FullyNegotiatedInbound(FullyNegotiatedInbound {
            protocol: (stream, protocol),
            ..
        }) = event
        {
            let mut queues = lock(&self.queues);
            let queued = queues
                .get_mut(&protocol)
                .is_some_and(|queue| queue.try_send((self.remote, stream)).is_ok());
            if !queued {
                // Full, or no longer accepted: the stream is dropped, which resets it.
                self.dropped.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use futures::{AsyncReadExt, AsyncWriteExt, StreamExt};
    use libp2p::{Swarm, SwarmBuilder, noise, tcp, yamux};

    use super::*;

    fn swarm<B: NetworkBehaviour>(behaviour: B) -> Swarm<B> {
        SwarmBuilder::with_new_identity()
            .with_tokio()
            .with_tcp(
                tcp::Config::default(),
                noise::Config::new,
                yamux::Config::default,
            )
            .unwrap()
            .with_behaviour(move |_| behaviour)
            .unwrap()
            .with_swarm_config(|c| {
                c.with_idle_connection_timeout(std::time::Duration::from_secs(60))
            })
            .build()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_burst_of_streams_opened_at_once_is_accepted_whole() {
        const PROTOCOL: StreamProtocol = StreamProtocol::new("/tern-test/burst/1");
        let accept = Behaviour::new();
        let mut incoming = accept.accept(PROTOCOL).unwrap();
        assert_eq!(accept.accept(PROTOCOL).unwrap_err(), AlreadyAccepted);
        let dropped = accept.dropped();
        let mut server = swarm(accept);
        server
            .listen_on("/ip4/127.0.0.1/tcp/0".parse().unwrap())
            .unwrap();
        let address = loop {
            if let libp2p::swarm::SwarmEvent::NewListenAddr { address, .. } =
                server.select_next_some().await
            {
                break address;
            }
        };
        let server_id = *server.local_peer_id();
        tokio::spawn(async move {
            loop {
                server.select_next_some().await;
            }
        });
        let mut client = swarm(libp2p_stream::Behaviour::new());
        let control = client.behaviour().new_control();
        client.dial(address).unwrap();
        loop {
            if let libp2p::swarm::SwarmEvent::ConnectionEstablished { .. } =
                client.select_next_some().await
            {
                break;
            }
        }
        tokio::spawn(async move {
            loop {
                client.select_next_some().await;
            }
        });
        // Many streams at once, before the acceptor takes any: libp2p-stream would keep one
        // and drop the rest.
        let opened = futures::future::join_all((0..64u8).map(|i| {
            let mut control = control.clone();
            async move {
                let mut stream = control.open_stream(server_id, PROTOCOL).await.unwrap();
                stream.write_all(&[i]).await.unwrap();
                stream.close().await.unwrap();
            }
        }));
        tokio::time::timeout(std::time::Duration::from_secs(60), opened)
            .await
            .unwrap();
        let mut seen = Vec::new();
        while seen.len() < 64 {
            let (_, mut stream) =
                tokio::time::timeout(std::time::Duration::from_secs(60), incoming.next())
                    .await
                    .unwrap()
                    .unwrap();
            let mut byte = Vec::new();
            stream.read_to_end(&mut byte).await.unwrap();
            seen.extend(byte);
        }
        seen.sort_unstable();
        assert_eq!(seen, (0..64).collect::<Vec<u8>>());
        assert_eq!(dropped.load(Ordering::Relaxed), 0);
    }
}
