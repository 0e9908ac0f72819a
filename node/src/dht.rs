//! The rules of Tern's DHT, for other Kademlia servers (relays, bootstrap nodes) that must
//! apply exactly what every node applies: records are validated on PUT and on GET (see
//! `docs/protocol/node.md`).

use crate::network::record;

/// The Kademlia protocol name of Tern's private DHT.
pub const KAD_PROTOCOL: &str = "/tern/kad/1.0.0";

/// The DHT key under which relays advertise themselves as providers, so that nodes can find
/// relays to hold their mailboxes.
pub const RELAYS_KEY: &[u8] = b"/tern/relays/1";

/// Why a record offered for storage was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct InvalidRecord {
    /// A short, stable label for counters (`"bad_signature"`, `"stale"`, …).
    pub reason: &'static str,
    /// What was wrong, for logs.
    pub message: String,
}

/// Whether a server may store the record `value` under `key` at time `now` (Unix seconds),
/// given the record `held` under that key, if any: the record must be valid and not older
/// than the one held.
pub fn accept_put(
    key: &[u8],
    value: &[u8],
    held: Option<&[u8]>,
    now: u64,
) -> Result<(), InvalidRecord> {
    let key = libp2p::kad::RecordKey::new(&key);
    let invalid = |e: record::RecordError| InvalidRecord {
        reason: e.reason(),
        message: e.to_string(),
    };
    let offered = record::validate(&key, value, now).map_err(invalid)?;
    if let Some(held) = held
        && let Ok(held_parsed) = record::validate(&key, held, now)
    {
        record::check_newer(&held_parsed, held, &offered, value).map_err(invalid)?;
    }
    Ok(())
}
