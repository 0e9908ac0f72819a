//! The client swarm the relay benchmarks share: a fresh identity over TCP (no Nagle), Noise
//! and Yamux, kept connected for the whole run.

use std::time::Duration;

use libp2p::{Swarm, noise, swarm::NetworkBehaviour, tcp, yamux};

/// How long a benchmark client keeps an idle connection, and waits for an answer.
pub(crate) const WAIT: Duration = Duration::from_secs(300);

/// A client's swarm on a fresh identity, running `behaviour`.
pub(crate) fn swarm<B: NetworkBehaviour>(behaviour: B) -> Swarm<B> {
    libp2p::SwarmBuilder::with_new_identity()
        .with_tokio()
        .with_tcp(
            tcp::Config::default().nodelay(true),
            noise::Config::new,
            yamux::Config::default,
        )
        .expect("tcp")
        .with_behaviour(move |_| behaviour)
        .expect("behaviour")
        .with_swarm_config(|c| c.with_idle_connection_timeout(WAIT))
        .build()
}
