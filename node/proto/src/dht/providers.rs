//! The relays a DHT server lists under [`super::RELAYS_KEY`], and how it makes room among
//! them fairly.
//!
//! libp2p's memory store keeps the first [`super::MAX_PROVIDERS_PER_KEY`] providers of a key
//! and ignores every later one, so whoever announces first (a batch of throwaway peers, each
//! a valid provider of itself) keeps every relay that starts after them out of discovery for
//! as long as they keep re-announcing; and a GET_PROVIDERS answer carries only the first 20
//! of the list (Kademlia's replication factor), so even a relay stored late is never handed
//! out. Here a newcomer always gets in: when the list is full, one provider leaves, chosen
//! at random from the *network group* (see [`NetGroup`]) that holds the most entries; and
//! the list is kept in an order that spreads its first 20 over the groups (see
//! [`add_provider_fairly`]). Sybils are cheap in identities, not in addresses: a batch run
//! from one host or one provider's range shares a group, so it turns over its own entries
//! and fills one place in turn of the first 20, while relays elsewhere keep theirs.
//!
//! Kademlia accepts a provider record only from the provider itself (the Noise-authenticated
//! source of the request), so one peer holds at most one entry per key; only
//! [`super::RELAYS_KEY`] is stored at all, so the total is bounded by the key's list.
//!
//! The addresses grouped are the ones the provider announced. A Sybil may announce
//! addresses in other groups, but then no node reaches it there, and a node only picks a
//! relay that answered a probe (see `docs/protocol/node.md`, "Finding relays").

use std::{
    collections::BTreeMap,
    net::{Ipv4Addr, Ipv6Addr},
    time::Instant,
};

use libp2p::{
    Multiaddr, PeerId,
    kad::{self, ProviderRecord, store::RecordStore},
    multiaddr::Protocol,
};
use tern_crypto::rand_core::Rng;

use super::{MAX_PROVIDERS_PER_KEY, RELAYS_KEY};

/// Where a peer's address sits in the network, coarsely: the unit a Sybil must multiply, as
/// the peer id is not. IPv4 addresses group by their /16 and IPv6 addresses by their /32
/// (an allocation one operator can hold); a DNS name groups by itself; a peer with no usable
/// address is in a group of its own with every other such peer.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum NetGroup {
    /// The first two octets of an IPv4 address.
    V4([u8; 2]),
    /// The first four bytes of an IPv6 address.
    V6([u8; 4]),
    /// A DNS name, as written.
    Name(String),
    /// No IP address or name.
    Unknown,
}

impl NetGroup {
    /// The group of the first address in `addresses` that has an IP or a DNS name.
    pub fn of(addresses: &[Multiaddr]) -> Self {
        addresses
            .iter()
            .find_map(|address| {
                address.iter().find_map(|part| match part {
                    Protocol::Ip4(ip) => Some(Self::v4(ip)),
                    Protocol::Ip6(ip) => Some(Self::v6(ip)),
                    Protocol::Dns(name) | Protocol::Dns4(name) | Protocol::Dns6(name) => {
                        Some(Self::Name(name.to_ascii_lowercase()))
                    }
                    _ => None,
                })
            })
            .unwrap_or(Self::Unknown)
    }

    fn v4(ip: Ipv4Addr) -> Self {
        let [a, b, _, _] = ip.octets();
        Self::V4([a, b])
    }

    fn v6(ip: Ipv6Addr) -> Self {
        // An IPv4 address written as IPv6 is the IPv4 address.
        if let Some(v4) = ip.to_ipv4_mapped() {
            return Self::v4(v4);
        }
        let o = ip.octets();
        Self::V6([o[0], o[1], o[2], o[3]])
    }
}

/// What became of a provider record offered for storage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Admitted {
    /// Stored, as a new provider or an update of one held.
    Stored,
    /// Stored, after this provider was evicted to make room.
    Evicted(PeerId),
    /// Refused: not a provider of [`RELAYS_KEY`], or expired.
    Refused,
}

/// Stores `record`, a provider record its provider sent, under [`RELAYS_KEY`]: an update
/// replaces the provider's entry; a newcomer gets in, evicting (when the list is full) a
/// random entry of the most crowded [`NetGroup`]. The entry of `local` (this peer, when it
/// provides the key itself) is never evicted: Kademlia would stop announcing it. Then the
/// list is reordered for answers: `local` first, then one entry of each group in turn,
/// smaller groups first, at random within a group and among groups of equal size. `random`
/// draws the victim and the order.
pub fn add_provider_fairly(
    store: &mut kad::store::MemoryStore,
    local: PeerId,
    record: ProviderRecord,
    random: &mut impl Rng,
) -> Admitted {
    let now = Instant::now();
    if record.key.as_ref() != RELAYS_KEY || record.is_expired(now) {
        return Admitted::Refused;
    }
    let held = store.providers(&record.key);
    for expired in held.iter().filter(|p| p.is_expired(now)) {
        store.remove_provider(&record.key, &expired.provider);
    }
    let held: Vec<ProviderRecord> = held.into_iter().filter(|p| !p.is_expired(now)).collect();
    let mut evicted = None;
    if held.len() >= MAX_PROVIDERS_PER_KEY && !held.iter().any(|p| p.provider == record.provider) {
        let entries: Vec<(PeerId, NetGroup)> = held
            .iter()
            .filter(|p| p.provider != local)
            .map(|p| (p.provider, NetGroup::of(&p.addresses)))
            .collect();
        if let Some(victim) = victim(&entries, random) {
            store.remove_provider(&record.key, &victim);
            evicted = Some(victim);
        }
    }
    let key = record.key.clone();
    let admitted = match store.add_provider(record) {
        Ok(()) => evicted.map_or(Admitted::Stored, Admitted::Evicted),
        Err(_) => return Admitted::Refused,
    };
    arrange(store, &key, local, random);
    admitted
}

/// Puts the providers of `key` in the order a GET_PROVIDERS answer should take them:
/// Kademlia answers with the first 20 (its replication factor) of the stored list, and the
/// store appends newcomers at the end, so without this a late relay is never handed out even
/// once it is stored. The order: `local` first, then one entry of each network group in turn
/// (smaller groups first, as a crowd is what Sybils look like), random within a group and
/// among groups of equal size, drawn again at every announcement.
fn arrange(
    store: &mut kad::store::MemoryStore,
    key: &kad::RecordKey,
    local: PeerId,
    random: &mut impl Rng,
) {
    let held = store.providers(key);
    if held.len() < 2 {
        return;
    }
    let mut order: Vec<ProviderRecord> = Vec::with_capacity(held.len());
    let mut groups: BTreeMap<NetGroup, Vec<ProviderRecord>> = BTreeMap::new();
    for record in &held {
        if record.provider == local {
            order.push(record.clone());
        } else {
            groups
                .entry(NetGroup::of(&record.addresses))
                .or_default()
                .push(record.clone());
        }
    }
    let mut groups: Vec<Vec<ProviderRecord>> = groups.into_values().collect();
    for group in &mut groups {
        shuffle(group, random);
    }
    shuffle(&mut groups, random);
    groups.sort_by_key(Vec::len);
    let deepest = groups.iter().map(Vec::len).max().unwrap_or(0);
    for depth in 0..deepest {
        order.extend(groups.iter().filter_map(|g| g.get(depth)).cloned());
    }
    for record in &held {
        store.remove_provider(key, &record.provider);
    }
    for record in order {
        // Room was there a moment ago: nothing here can be refused.
        let _ = store.add_provider(record);
    }
}

/// Shuffles `items` in place (Fisher–Yates).
fn shuffle<T>(items: &mut [T], random: &mut impl Rng) {
    for i in (1..items.len()).rev() {
        let j = (random.next_u64() % (i as u64 + 1)) as usize;
        items.swap(i, j);
    }
}

/// The entry to evict from a full list: a random one of the group with the most entries
/// (the first such group in `NetGroup` order when several tie, so that the choice depends on
/// nothing but the entries and `random`).
pub fn victim(entries: &[(PeerId, NetGroup)], random: &mut impl Rng) -> Option<PeerId> {
    let mut groups: BTreeMap<&NetGroup, Vec<PeerId>> = BTreeMap::new();
    for (peer, group) in entries {
        groups.entry(group).or_default().push(*peer);
    }
    let largest = groups.values().map(Vec::len).max()?;
    let crowded = groups.into_values().find(|peers| peers.len() == largest)?;
    let index = (random.next_u64() % crowded.len() as u64) as usize;
    crowded.get(index).copied()
}

#[cfg(test)]
mod tests {
    use rand_chacha::{ChaCha20Rng, rand_core::SeedableRng};

    use super::*;

    fn provider(peer: PeerId, address: &str) -> ProviderRecord {
        ProviderRecord::new(
            kad::RecordKey::new(&RELAYS_KEY),
            peer,
            vec![address.parse().unwrap()],
        )
    }

    thread_local! {
        static LOCAL: PeerId = PeerId::random();
    }

    fn store() -> kad::store::MemoryStore {
        super::super::record_store(LOCAL.with(|l| *l), 16)
    }

    fn listed(store: &kad::store::MemoryStore) -> Vec<PeerId> {
        store
            .providers(&kad::RecordKey::new(&RELAYS_KEY))
            .into_iter()
            .map(|p| p.provider)
            .collect()
    }

    #[test]
    fn a_plain_store_keeps_the_first_providers_and_ignores_a_late_relay() {
        // The finding: Sybils that announce first lock every later relay out.
        let mut store = store();
        for _ in 0..MAX_PROVIDERS_PER_KEY {
            store
                .add_provider(provider(PeerId::random(), "/ip4/10.0.0.1/tcp/1"))
                .unwrap();
        }
        let honest = PeerId::random();
        store
            .add_provider(provider(honest, "/ip4/192.0.2.1/tcp/1"))
            .unwrap();
        assert!(!listed(&store).contains(&honest));
    }

    #[test]
    fn a_late_relay_gets_in_and_sybils_sharing_a_group_evict_each_other() {
        let mut store = store();
        let mut random = ChaCha20Rng::from_seed([7; 32]);
        let sybils: Vec<PeerId> = (0..MAX_PROVIDERS_PER_KEY)
            .map(|_| PeerId::random())
            .collect();
        for (n, sybil) in sybils.iter().enumerate() {
            let record = provider(*sybil, &format!("/ip4/10.0.{n}.1/tcp/1"));
            assert_eq!(
                add_provider_fairly(&mut store, LOCAL.with(|l| *l), record, &mut random),
                Admitted::Stored
            );
        }
        let honest: Vec<PeerId> = (0..8).map(|_| PeerId::random()).collect();
        for (n, relay) in honest.iter().enumerate() {
            let record = provider(*relay, &format!("/ip4/192.{n}.2.1/tcp/1"));
            let admitted = add_provider_fairly(&mut store, LOCAL.with(|l| *l), record, &mut random);
            assert!(
                matches!(admitted, Admitted::Evicted(victim) if sybils.contains(&victim)),
                "{admitted:?}"
            );
        }
        // Thousands more Sybils from the same range never push an honest relay out.
        for n in 0..2_000 {
            let record = provider(PeerId::random(), &format!("/ip4/10.0.{}.2/tcp/1", n % 250));
            add_provider_fairly(&mut store, LOCAL.with(|l| *l), record, &mut random);
        }
        let now = listed(&store);
        assert_eq!(now.len(), MAX_PROVIDERS_PER_KEY);
        assert!(honest.iter().all(|relay| now.contains(relay)));
        // Kademlia answers with the first 20: the honest relays, each in a group of its own,
        // come before the crowd.
        assert!(
            honest.iter().all(|relay| now[..20].contains(relay)),
            "{now:?}"
        );
        // An update of a listed provider evicts no one.
        let record = provider(honest[0], "/ip4/192.0.2.1/tcp/2");
        assert_eq!(
            add_provider_fairly(&mut store, LOCAL.with(|l| *l), record, &mut random),
            Admitted::Stored
        );
    }

    #[test]
    fn other_keys_are_refused() {
        let mut store = store();
        let record = ProviderRecord::new(
            kad::RecordKey::new(b"/tern/other/1"),
            PeerId::random(),
            vec![],
        );
        let mut random = ChaCha20Rng::from_seed([1; 32]);
        assert_eq!(
            add_provider_fairly(&mut store, LOCAL.with(|l| *l), record, &mut random),
            Admitted::Refused
        );
    }

    #[test]
    fn groups_are_coarse_prefixes_and_the_largest_loses_an_entry() {
        let group = |a: &str| NetGroup::of(&[a.parse().unwrap()]);
        assert_eq!(
            group("/ip4/203.0.113.9/tcp/1"),
            group("/ip4/203.0.7.1/udp/2/quic-v1")
        );
        assert_ne!(
            group("/ip4/203.0.113.9/tcp/1"),
            group("/ip4/203.1.113.9/tcp/1")
        );
        assert_eq!(
            group("/ip6/2001:db8::1/tcp/1"),
            group("/ip6/2001:db8:ffff::2/tcp/1")
        );
        assert_eq!(
            group("/ip6/::ffff:203.0.113.9/tcp/1"),
            group("/ip4/203.0.1.1/tcp/1")
        );
        assert_eq!(
            group("/dns/Relay.example/tcp/1"),
            group("/dns4/relay.example/tcp/2")
        );
        assert_eq!(NetGroup::of(&[]), NetGroup::Unknown);

        let mut random = ChaCha20Rng::from_seed([3; 32]);
        let lone = PeerId::random();
        let crowd: Vec<PeerId> = (0..3).map(|_| PeerId::random()).collect();
        let mut entries = vec![(lone, group("/ip4/198.51.100.1/tcp/1"))];
        entries.extend(crowd.iter().map(|p| (*p, group("/ip4/10.9.0.1/tcp/1"))));
        for _ in 0..50 {
            let victim = victim(&entries, &mut random).unwrap();
            assert!(crowd.contains(&victim));
        }
        assert_eq!(victim(&[], &mut random), None);
    }
}
