//! What the relay needs before its event loop starts: its identity, and libp2p's circuit
//! relay configured from the operator's limits.

use std::{io, path::Path, time::Duration};

use libp2p::{identity::Keypair, relay};

use crate::Error;

/// Loads the relay's identity from `dir`, or creates it (owner-only permissions).
pub(super) fn load_identity(dir: &Path) -> Result<Keypair, Error> {
    use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|e| Error::DataDir(format!("{}: {e}", dir.display())))?;
    let path = dir.join("identity.key");
    match std::fs::read(&path) {
        Ok(mut bytes) => {
            Keypair::ed25519_from_bytes(&mut bytes).map_err(|e| Error::Key(e.to_string()))
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            let keypair = libp2p::identity::ed25519::Keypair::generate();
            let mut file = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&path)
                .map_err(|e| Error::Key(e.to_string()))?;
            io::Write::write_all(&mut file, keypair.secret().as_ref())
                .and_then(|()| file.sync_all())
                .map_err(|e| Error::Key(e.to_string()))?;
            Ok(Keypair::from(keypair))
        }
        Err(e) => Err(Error::Key(e.to_string())),
    }
}

/// Circuit relay v2 as the operator's limits say. libp2p's defaults (128 KiB and two minutes
/// per circuit, 16 circuits) cut off a relayed delivery of a large envelope and help very few
/// NATed users; its default rate limiters (per peer and per IP) stay.
pub(super) fn circuit_config(limits: &crate::Limits) -> relay::Config {
    relay::Config {
        max_reservations: limits.max_reservations,
        max_reservations_per_peer: limits.max_reservations_per_peer,
        max_circuits: limits.max_circuits,
        max_circuits_per_peer: limits.max_circuits_per_peer,
        max_circuit_bytes: limits.max_circuit_bytes,
        max_circuit_duration: Duration::from_secs(limits.max_circuit_secs),
        ..relay::Config::default()
    }
}
