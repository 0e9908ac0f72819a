//! The rules of Tern's DHT, for other Kademlia servers (relays, bootstrap nodes) that must
//! apply exactly what every node applies: records are validated on PUT and on GET (see
//! `docs/protocol/node.md`).

use std::time::Duration;

use libp2p::{PeerId, StreamProtocol, kad};

use crate::record;

mod ledger;
mod providers;

pub use ledger::Ledger;
pub use providers::{Admitted, NetGroup, add_provider_fairly, victim};

/// The Kademlia protocol name of Tern's private DHT, so it never mixes with other libp2p
/// networks.
pub const KAD_PROTOCOL: StreamProtocol = StreamProtocol::new("/tern/kad/1.0.0");
/// How long a DHT query may run before it ends with what it found.
pub const QUERY_TIMEOUT: Duration = Duration::from_secs(30);
/// Records a node stores for others. A record is at most [`record::MAX_RECORD_LEN`] (8 KiB)
/// and typically 2–3 KiB, so a node gives the DHT at most 32 MiB.
pub const NODE_MAX_RECORDS: usize = 4096;
/// Records a relay (a DHT server on a public address, holding a larger share of the keys)
/// stores for others: at most 512 MiB, typically a quarter of that.
pub const SERVER_MAX_RECORDS: usize = 65_536;
/// Providers kept per key (relays announce themselves under [`RELAYS_KEY`]); a full list
/// makes room for a newcomer (see [`add_provider_fairly`]).
pub const MAX_PROVIDERS_PER_KEY: usize = 64;
/// How often a relay announces itself again. A full provider list evicts to admit newcomers,
/// so an honest relay evicted by a flood is back within this; an announcement costs one small
/// request to each of the 20 peers closest to [`RELAYS_KEY`]. (Kademlia's default is 12 h.)
pub const PROVIDER_REPUBLISH: Duration = Duration::from_secs(3600);

/// What part a peer takes in the DHT, which sizes its record store by default.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// A user's node.
    Node,
    /// A relay or bootstrap node.
    Server,
}

impl Role {
    /// Records stored for others by default: [`NODE_MAX_RECORDS`] or [`SERVER_MAX_RECORDS`].
    pub fn capacity(self) -> usize {
        match self {
            Self::Node => NODE_MAX_RECORDS,
            Self::Server => SERVER_MAX_RECORDS,
        }
    }
}

/// Room in the store beyond the ledger's capacity, for the records this peer publishes itself
/// (which no source puts, so the ledger never sees them).
const OWN_RECORDS: usize = 64;
/// A ledger is brought back in line with its store (whose records expire on their own) every
/// this many admissions.
const RECONCILE_EVERY: u64 = 1024;

/// The Kademlia settings every Tern peer runs with, node or relay: Tern's protocol name,
/// records validated by the application before they are stored (`FilterBoth`), no periodic
/// re-publication by Kademlia of records this peer published (each publisher republishes its
/// own record, signed and sequence-numbered, on its own schedule), and packets sized for the
/// largest record. Kademlia still replicates stored records to the closest peers, which
/// validate them like any PUT. Relays re-announce themselves as providers every
/// [`PROVIDER_REPUBLISH`].
pub fn kad_config() -> kad::Config {
    let mut config = kad::Config::new(KAD_PROTOCOL);
    config
        .set_record_filtering(kad::StoreInserts::FilterBoth)
        .set_query_timeout(QUERY_TIMEOUT)
        .set_record_ttl(Some(Duration::from_secs(record::MAX_RECORD_LIFETIME_SECS)))
        .set_publication_interval(None)
        .set_provider_publication_interval(Some(PROVIDER_REPUBLISH))
        .set_max_packet_size(4 * record::MAX_RECORD_LEN);
    config
}

/// The record store for `peer`, holding `capacity` records for others (and a few of its own).
/// Records from others go through [`store_fairly`], which makes room before the store is
/// full; the store's own limit is only the last line.
pub fn record_store(peer: PeerId, capacity: usize) -> kad::store::MemoryStore {
    kad::store::MemoryStore::with_config(
        peer,
        kad::store::MemoryStoreConfig {
            max_records: capacity + OWN_RECORDS,
            // The store refuses values of `max_value_bytes` or more; validation allows
            // exactly `MAX_RECORD_LEN`.
            max_value_bytes: record::MAX_RECORD_LEN + 1,
            max_providers_per_key: MAX_PROVIDERS_PER_KEY,
            max_provided_keys: 16,
        },
    )
}

/// A Kademlia behaviour with [`kad_config`] and a [`record_store`] of `capacity`.
pub fn behaviour(peer: PeerId, capacity: usize) -> kad::Behaviour<kad::store::MemoryStore> {
    kad::Behaviour::with_config(peer, record_store(peer, capacity), kad_config())
}

/// The ledger for a store of `capacity`: one source holds at most an eighth of it.
pub fn ledger(capacity: usize) -> Ledger {
    Ledger::new(capacity, capacity / 8)
}

/// Stores `record`, which `source` put and which was validated, making room as `ledger`
/// says (see [`Ledger`]).
///
/// # Errors
///
/// If the store refuses it anyway (a value too large, which validation already refuses).
pub fn store_fairly(
    store: &mut kad::store::MemoryStore,
    ledger: &mut Ledger,
    source: PeerId,
    record: kad::Record,
) -> kad::store::Result<()> {
    use kad::store::RecordStore;
    if ledger.admissions().is_multiple_of(RECONCILE_EVERY) {
        ledger.retain(|key| store.get(key).is_some());
    }
    for key in ledger.admit(source, &record.key) {
        store.remove(&key);
    }
    store.put(record)
}

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
    let key = kad::RecordKey::new(&key);
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

#[cfg(test)]
mod tests {
    use kad::store::RecordStore;

    use super::*;

    fn record(n: u32) -> kad::Record {
        kad::Record::new(kad::RecordKey::new(&n.to_be_bytes()), vec![1; 100])
    }

    #[test]
    fn a_plain_store_refuses_every_new_record_once_full() {
        // The finding: libp2p's store refuses rather than evicts, so whoever fills it first
        // keeps everyone else out.
        let mut store = kad::store::MemoryStore::with_config(
            PeerId::random(),
            kad::store::MemoryStoreConfig {
                max_records: 4,
                ..Default::default()
            },
        );
        for n in 0..4 {
            store.put(record(n)).unwrap();
        }
        assert!(store.put(record(99)).is_err());
    }

    #[test]
    fn a_fair_store_admits_newcomers_at_the_flooders_expense() {
        let mut store = record_store(PeerId::random(), 16);
        let mut ledger = ledger(16);
        let flooder = PeerId::random();
        for n in 0..1_000 {
            store_fairly(&mut store, &mut ledger, flooder, record(n)).unwrap();
        }
        let honest = PeerId::random();
        store_fairly(&mut store, &mut ledger, honest, record(5_000)).unwrap();
        for n in 0..100 {
            store_fairly(
                &mut store,
                &mut ledger,
                PeerId::random(),
                record(10_000 + n),
            )
            .unwrap();
        }
        assert!(
            store.get(&record(5_000).key).is_some(),
            "the honest record is kept"
        );
        assert_eq!(store.records().count(), 16);
        // The flooder holds at most its share.
        assert!(
            (0..1_000)
                .filter(|n| store.get(&record(*n).key).is_some())
                .count()
                <= 2
        );
    }
}
