//! Challenge nonces a relay has handed out and not yet seen used.
//!
//! Anyone may ask for a challenge, without authentication, so the table is bounded twice and
//! never refuses: each peer holds at most [`PER_PEER`] outstanding nonces (a new one evicts
//! that peer's oldest), and the whole table at most `capacity` (a new one evicts the oldest
//! anywhere). An honest owner uses its nonce one round trip after receiving it, so a flood
//! only costs the flooder its own nonces, and the table's memory stays fixed.
//!
//! Sans-IO: the caller passes the time in, so the rules are tested without a network.

use std::{
    collections::{HashMap, VecDeque},
    hash::Hash,
    time::{Duration, Instant},
};

/// How long a nonce stays valid: long enough for a slow link, short enough that a captured
/// proof is soon useless (it is single use anyway).
pub(super) const LIFETIME: Duration = Duration::from_secs(60);
/// Outstanding nonces per peer. An owner asks for one per fetch, acknowledgement and prekey
/// upload, and has a few of those in flight at most.
pub(super) const PER_PEER: usize = 16;

struct Issued<P> {
    peer: P,
    at: Instant,
}

/// The outstanding nonces, keyed by nonce and by the peer they were issued to.
pub(super) struct Challenges<P> {
    capacity: usize,
    issued: HashMap<[u8; 32], Issued<P>>,
    by_peer: HashMap<P, VecDeque<[u8; 32]>>,
    /// Issue order, oldest first. Nonces taken or evicted stay here until they reach the
    /// front or a compaction, which keeps both operations O(1) amortised.
    order: VecDeque<[u8; 32]>,
    evicted: u64,
}

impl<P: Hash + Eq + Clone> Challenges<P> {
    /// A table holding at most `capacity` nonces (at least one).
    pub(super) fn new(capacity: usize) -> Self {
        Self {
            capacity: capacity.max(1),
            issued: HashMap::new(),
            by_peer: HashMap::new(),
            order: VecDeque::new(),
            evicted: 0,
        }
    }

    /// Records `nonce` as issued to `peer` at `now`, evicting as needed to stay in bounds.
    pub(super) fn issue(&mut self, peer: P, nonce: [u8; 32], now: Instant) {
        let mine = self.by_peer.entry(peer.clone()).or_default();
        if mine.len() >= PER_PEER
            && let Some(oldest) = mine.pop_front()
        {
            self.issued.remove(&oldest);
            self.evicted += 1;
        }
        mine.push_back(nonce);
        while self.issued.len() >= self.capacity {
            self.evict_oldest();
        }
        self.issued.insert(nonce, Issued { peer, at: now });
        self.order.push_back(nonce);
        if self.order.len() > 2 * self.capacity {
            let issued = &self.issued;
            self.order.retain(|n| issued.contains_key(n));
        }
    }

    /// Takes `nonce` for `peer` at `now`: true if it was issued to that peer and is still
    /// fresh. It is gone afterwards either way (a nonce is good for one attempt).
    pub(super) fn take(&mut self, peer: &P, nonce: &[u8; 32], now: Instant) -> bool {
        let Some(issued) = self.issued.get(nonce) else {
            return false;
        };
        if issued.peer != *peer {
            // Someone else's nonce: leave it to its owner.
            return false;
        }
        let fresh = now.saturating_duration_since(issued.at) < LIFETIME;
        self.forget(nonce);
        fresh
    }

    /// Forgets nonces issued [`LIFETIME`] or longer before `now`.
    pub(super) fn expire(&mut self, now: Instant) {
        while let Some(front) = self.order.front() {
            match self.issued.get(front) {
                Some(issued) if now.saturating_duration_since(issued.at) < LIFETIME => break,
                Some(_) => {
                    let nonce = *front;
                    self.forget(&nonce);
                }
                None => {}
            }
            self.order.pop_front();
        }
    }

    /// Outstanding nonces.
    pub(super) fn len(&self) -> usize {
        self.issued.len()
    }

    /// Nonces evicted to make room, since the start.
    pub(super) fn evicted(&self) -> u64 {
        self.evicted
    }

    fn evict_oldest(&mut self) {
        while let Some(nonce) = self.order.pop_front() {
            if self.issued.contains_key(&nonce) {
                self.forget(&nonce);
                self.evicted += 1;
                return;
            }
        }
    }

    fn forget(&mut self, nonce: &[u8; 32]) {
        let Some(issued) = self.issued.remove(nonce) else {
            return;
        };
        if let Some(mine) = self.by_peer.get_mut(&issued.peer) {
            mine.retain(|n| n != nonce);
            if mine.is_empty() {
                self.by_peer.remove(&issued.peer);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nonce(n: u32) -> [u8; 32] {
        let mut nonce = [0u8; 32];
        nonce[..4].copy_from_slice(&n.to_be_bytes());
        nonce
    }

    #[test]
    fn a_nonce_is_good_once_for_the_peer_it_was_issued_to_while_fresh() {
        let now = Instant::now();
        let mut table = Challenges::new(100);
        table.issue("owner", nonce(1), now);
        assert!(
            !table.take(&"other", &nonce(1), now),
            "another peer's nonce"
        );
        assert!(table.take(&"owner", &nonce(1), now));
        assert!(!table.take(&"owner", &nonce(1), now), "used twice");
        table.issue("owner", nonce(2), now);
        assert!(!table.take(&"owner", &nonce(2), now + LIFETIME), "stale");
        assert_eq!(table.len(), 0);
    }

    #[test]
    fn a_flooding_peer_evicts_only_its_own_nonces() {
        let now = Instant::now();
        let mut table = Challenges::new(10_000);
        table.issue("owner", nonce(0), now);
        for n in 1..=100_000 {
            table.issue("flooder", nonce(n), now);
        }
        assert_eq!(table.len(), 1 + PER_PEER);
        assert!(table.take(&"owner", &nonce(0), now));
        assert_eq!(table.evicted(), 100_000 - PER_PEER as u64);
    }

    #[test]
    fn many_flooding_peers_cannot_fill_the_table_past_its_capacity() {
        // Before the fix a full table refused every challenge, so ten thousand junk
        // requests locked every owner out of fetch, ack and prekey upload for a minute.
        let now = Instant::now();
        let mut table = Challenges::new(1_000);
        for n in 0..50_000u32 {
            table.issue(n, nonce(n), now);
        }
        assert_eq!(table.len(), 1_000);
        table.issue(u32::MAX, nonce(u32::MAX), now);
        assert!(table.take(&u32::MAX, &nonce(u32::MAX), now));
        assert!(table.order.len() <= 2 * 1_000 + 1);
    }

    #[test]
    fn expiry_forgets_only_stale_nonces() {
        let now = Instant::now();
        let mut table = Challenges::new(100);
        table.issue("a", nonce(1), now);
        table.issue("b", nonce(2), now + LIFETIME / 2);
        table.expire(now + LIFETIME);
        assert_eq!(table.len(), 1);
        assert!(table.take(&"b", &nonce(2), now + LIFETIME));
        assert!(table.by_peer.is_empty());
    }
}
