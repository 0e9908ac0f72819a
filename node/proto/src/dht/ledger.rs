//! Who put each record a peer stores for others, so that a full store makes room fairly.
//!
//! Every valid record is welcome, and a store of fixed size cannot hold them all if someone
//! mints accounts to fill it. A plain store refuses new records once full, so throwaway
//! records lock real users' records out (and those vanish when their holders churn). The
//! ledger instead attributes each stored record to the peer that sent it (the Noise-
//! authenticated source of the PUT) and, when the store is full, evicts the oldest record of
//! the source holding the most; among sources holding equally many, the one that added a
//! record last, so a flood of one-record Sybils turns over its own newest records instead of
//! the records that were there before it. One source also never holds more than a share of
//! the store (its own oldest goes first). Honest sources hold few records each, so a flood
//! evicts the flooder's records long before anyone else's.
//!
//! Sans-IO: the caller removes what [`Ledger::admit`] returns from its store, then stores
//! the new record.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};

use libp2p::{PeerId, kad::RecordKey};

/// Attribution of stored records to the peers that put them.
#[derive(Debug)]
pub struct Ledger {
    capacity: usize,
    per_source: usize,
    by_key: HashMap<RecordKey, PeerId>,
    /// Each source's keys, oldest first.
    by_source: HashMap<PeerId, VecDeque<RecordKey>>,
    /// Sources by how many records they hold, then by when they last added one.
    by_count: BTreeMap<usize, BTreeSet<(u64, PeerId)>>,
    /// When each source last added a record (an admission counter).
    last: HashMap<PeerId, u64>,
    admissions: u64,
    evicted: u64,
}

impl Ledger {
    /// A ledger for a store of `capacity` records, where one source may hold at most
    /// `per_source` (both at least one).
    pub fn new(capacity: usize, per_source: usize) -> Self {
        Self {
            capacity: capacity.max(1),
            per_source: per_source.max(1),
            by_key: HashMap::new(),
            by_source: HashMap::new(),
            by_count: BTreeMap::new(),
            last: HashMap::new(),
            admissions: 0,
            evicted: 0,
        }
    }

    /// Records that `source` stores the record under `key`; returns the keys to remove from
    /// the store first. A key already held moves to the new source (an update or a
    /// re-publication) and evicts nothing.
    pub fn admit(&mut self, source: PeerId, key: &RecordKey) -> Vec<RecordKey> {
        let mut evict = Vec::new();
        if self.by_key.contains_key(key) {
            self.forget(key);
        } else {
            if self.count(&source) >= self.per_source
                && let Some(oldest) = self.by_source.get(&source).and_then(|k| k.front()).cloned()
            {
                self.forget(&oldest);
                evict.push(oldest);
            }
            while self.by_key.len() >= self.capacity {
                let Some(heaviest) = self
                    .by_count
                    .last_key_value()
                    .and_then(|(_, sources)| sources.last().map(|(_, peer)| *peer))
                else {
                    break;
                };
                let Some(oldest) = self
                    .by_source
                    .get(&heaviest)
                    .and_then(|k| k.front())
                    .cloned()
                else {
                    break;
                };
                self.forget(&oldest);
                evict.push(oldest);
            }
        }
        self.evicted += evict.len() as u64;
        let count = self.count(&source);
        self.untrack(source, count);
        self.admissions += 1;
        self.last.insert(source, self.admissions);
        self.track(source, count + 1);
        self.by_source
            .entry(source)
            .or_default()
            .push_back(key.clone());
        self.by_key.insert(key.clone(), source);
        evict
    }

    /// Forgets `key` (the store dropped it: expired, or removed by its owner's rules).
    pub fn forget(&mut self, key: &RecordKey) {
        let Some(source) = self.by_key.remove(key) else {
            return;
        };
        let count = self.count(&source);
        self.untrack(source, count);
        if let Some(keys) = self.by_source.get_mut(&source) {
            keys.retain(|k| k != key);
            if keys.is_empty() {
                self.by_source.remove(&source);
                self.last.remove(&source);
            }
        }
        self.track(source, count - 1);
    }

    /// Forgets every key for which `held` is false: brings the ledger back in line with a
    /// store whose records expire on their own.
    pub fn retain(&mut self, held: impl Fn(&RecordKey) -> bool) {
        let gone: Vec<RecordKey> = self.by_key.keys().filter(|k| !held(k)).cloned().collect();
        for key in &gone {
            self.forget(key);
        }
    }

    /// Records attributed.
    pub fn len(&self) -> usize {
        self.by_key.len()
    }

    /// Whether no record is attributed.
    pub fn is_empty(&self) -> bool {
        self.by_key.is_empty()
    }

    /// Records evicted to make room, since the start.
    pub fn evicted(&self) -> u64 {
        self.evicted
    }

    /// Records admitted, since the start.
    pub fn admissions(&self) -> u64 {
        self.admissions
    }

    fn count(&self, source: &PeerId) -> usize {
        self.by_source.get(source).map_or(0, VecDeque::len)
    }

    /// Takes `source`, holding `count` records, out of the count index.
    fn untrack(&mut self, source: PeerId, count: usize) {
        let last = self.last.get(&source).copied().unwrap_or(0);
        if let Some(sources) = self.by_count.get_mut(&count) {
            sources.remove(&(last, source));
            if sources.is_empty() {
                self.by_count.remove(&count);
            }
        }
    }

    /// Puts `source`, now holding `count` records, into the count index.
    fn track(&mut self, source: PeerId, count: usize) {
        if count > 0 {
            let last = self.last.get(&source).copied().unwrap_or(0);
            self.by_count
                .entry(count)
                .or_default()
                .insert((last, source));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(n: u32) -> RecordKey {
        RecordKey::new(&n.to_be_bytes())
    }

    #[test]
    fn a_full_store_evicts_from_the_heaviest_source_and_keeps_honest_records() {
        // Before the fix a full store refused every new record: 4,096 throwaway records
        // locked every real user's record out of a node.
        let mut ledger = Ledger::new(100, 100);
        let honest: Vec<PeerId> = (0..10).map(|_| PeerId::random()).collect();
        for (n, peer) in honest.iter().enumerate() {
            assert!(ledger.admit(*peer, &key(n as u32)).is_empty());
        }
        let flooder = PeerId::random();
        let mut evicted = Vec::new();
        for n in 1_000..11_000 {
            evicted.extend(ledger.admit(flooder, &key(n)));
        }
        assert_eq!(ledger.len(), 100);
        assert!(
            evicted.iter().all(|k| k.as_ref() >= key(1_000).as_ref()),
            "only the flooder's records go"
        );
        // A newcomer still gets in, at the flooder's expense.
        let late = PeerId::random();
        assert_eq!(ledger.admit(late, &key(500)).len(), 1);
        assert_eq!(ledger.count(&flooder), 100 - 10 - 1);
    }

    #[test]
    fn many_sybil_sources_cannot_push_honest_records_out_before_their_own() {
        let mut ledger = Ledger::new(50, 50);
        let honest = PeerId::random();
        ledger.admit(honest, &key(0));
        // Each Sybil puts two records: the heaviest are always Sybils until all hold one.
        for n in 0..1_000 {
            let sybil = PeerId::random();
            ledger.admit(sybil, &key(10_000 + 2 * n));
            ledger.admit(sybil, &key(10_001 + 2 * n));
        }
        assert!(
            ledger.by_key.contains_key(&key(0)),
            "the honest record stays"
        );
        assert_eq!(ledger.len(), 50);
    }

    #[test]
    fn one_source_holds_at_most_its_share_and_updates_move_nothing() {
        let mut ledger = Ledger::new(1_000, 3);
        let peer = PeerId::random();
        for n in 0..3 {
            assert!(ledger.admit(peer, &key(n)).is_empty());
        }
        assert_eq!(ledger.admit(peer, &key(3)), vec![key(0)]);
        // Re-publishing a held key, from anyone, evicts nothing.
        assert!(ledger.admit(PeerId::random(), &key(3)).is_empty());
        assert_eq!(ledger.len(), 3);
        ledger.retain(|k| *k != key(1));
        assert_eq!(ledger.len(), 2);
        ledger.forget(&key(2));
        ledger.forget(&key(3));
        assert!(ledger.is_empty() && ledger.by_count.is_empty() && ledger.by_source.is_empty());
        assert!(ledger.last.is_empty());
    }
}
