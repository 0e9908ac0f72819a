//! Fetches a relay holds open until mail arrives for their mailbox or their wait ends.
//!
//! Any account can hold fetches open on its own mailbox, so the table is bounded per peer and
//! in all, and it evicts rather than refuses: a peer holding [`PER_PEER`] fetches that asks
//! for another has its own oldest answered at once (empty), and a full table answers the
//! oldest anywhere. An honest collector holds one fetch per relay; with the relay's
//! connection limit, the per-peer bound keeps the whole table far below its capacity.
//!
//! Sans-IO and generic over what is held (the relay holds response channels), so the rules
//! are tested with plain values and made-up times.

use std::{
    collections::{HashMap, VecDeque},
    hash::Hash,
    time::Instant,
};

/// Fetches held per peer.
pub(super) const PER_PEER: usize = 4;

struct Entry<P, T> {
    peer: P,
    seq: u64,
    deadline: Instant,
    item: T,
}

/// Held fetches by mailbox, with the bookkeeping that bounds them.
pub(super) struct Held<P, T> {
    capacity: usize,
    by_mailbox: HashMap<[u8; 32], Vec<Entry<P, T>>>,
    /// Each peer's held fetches, oldest first: (mailbox, sequence number).
    by_peer: HashMap<P, VecDeque<([u8; 32], u64)>>,
    len: usize,
    next_seq: u64,
    evicted: u64,
}

impl<P: Hash + Eq + Clone, T> Held<P, T> {
    /// A table holding at most `capacity` fetches (at least one).
    pub(super) fn new(capacity: usize) -> Self {
        Self {
            capacity: capacity.max(1),
            by_mailbox: HashMap::new(),
            by_peer: HashMap::new(),
            len: 0,
            next_seq: 0,
            evicted: 0,
        }
    }

    /// Holds `item` for `peer` on `mailbox` until `deadline`; returns what was evicted to make
    /// room, for the caller to answer now.
    pub(super) fn hold(
        &mut self,
        mailbox: [u8; 32],
        peer: P,
        deadline: Instant,
        item: T,
    ) -> Vec<T> {
        let mut evicted = Vec::new();
        let oldest_of_peer = self
            .by_peer
            .get(&peer)
            .filter(|mine| mine.len() >= PER_PEER)
            .and_then(|mine| mine.front().copied());
        if let Some((mailbox, seq)) = oldest_of_peer {
            evicted.extend(self.remove(mailbox, seq));
        }
        while self.len >= self.capacity {
            let oldest = self
                .by_mailbox
                .iter()
                .flat_map(|(mailbox, entries)| entries.iter().map(|e| (*mailbox, e.seq)))
                .min_by_key(|(_, seq)| *seq);
            match oldest {
                Some((mailbox, seq)) => evicted.extend(self.remove(mailbox, seq)),
                None => break,
            }
        }
        self.evicted += evicted.len() as u64;
        let seq = self.next_seq;
        self.next_seq += 1;
        self.by_peer
            .entry(peer.clone())
            .or_default()
            .push_back((mailbox, seq));
        self.by_mailbox.entry(mailbox).or_default().push(Entry {
            peer,
            seq,
            deadline,
            item,
        });
        self.len += 1;
        evicted
    }

    /// Everything held on `mailbox`, released (a deposit arrived for it).
    pub(super) fn wake(&mut self, mailbox: &[u8; 32]) -> Vec<T> {
        let entries = self.by_mailbox.remove(mailbox).unwrap_or_default();
        entries
            .into_iter()
            .map(|entry| {
                self.unlink(&entry.peer, entry.seq);
                entry.item
            })
            .collect()
    }

    /// Everything whose deadline is at or before `now`, or that `keep` rejects (a channel
    /// whose connection closed), released.
    pub(super) fn release(&mut self, now: Instant, keep: impl Fn(&T) -> bool) -> Vec<T> {
        let mut out = Vec::new();
        let mut unlinked = Vec::new();
        self.by_mailbox.retain(|_, entries| {
            let (due, stay): (Vec<_>, Vec<_>) = std::mem::take(entries)
                .into_iter()
                .partition(|e| e.deadline <= now || !keep(&e.item));
            *entries = stay;
            for entry in due {
                unlinked.push((entry.peer, entry.seq));
                out.push(entry.item);
            }
            !entries.is_empty()
        });
        for (peer, seq) in unlinked {
            self.unlink(&peer, seq);
        }
        out
    }

    /// Fetches held now.
    pub(super) fn len(&self) -> usize {
        self.len
    }

    /// Fetches evicted to make room, since the start.
    pub(super) fn evicted(&self) -> u64 {
        self.evicted
    }

    fn remove(&mut self, mailbox: [u8; 32], seq: u64) -> Option<T> {
        let entries = self.by_mailbox.get_mut(&mailbox)?;
        let at = entries.iter().position(|e| e.seq == seq)?;
        let entry = entries.remove(at);
        if entries.is_empty() {
            self.by_mailbox.remove(&mailbox);
        }
        self.unlink(&entry.peer, seq);
        Some(entry.item)
    }

    /// Drops the peer-side link of a removed entry.
    fn unlink(&mut self, peer: &P, seq: u64) {
        self.len -= 1;
        if let Some(mine) = self.by_peer.get_mut(peer) {
            mine.retain(|(_, s)| *s != seq);
            if mine.is_empty() {
                self.by_peer.remove(peer);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    const WAIT: Duration = Duration::from_secs(25);

    #[test]
    fn one_account_cannot_hold_more_than_its_share() {
        // Before the fix one account could hold the relay's whole table of 10,000 fetches,
        // after which no other owner's fetch was held and honest collectors spun.
        let now = Instant::now();
        let mut held = Held::new(10_000);
        held.hold([1; 32], "owner", now + WAIT, 0);
        let mut answered_early = Vec::new();
        for n in 1..=10_000 {
            answered_early.extend(held.hold([9; 32], "flooder", now + WAIT, n));
        }
        assert_eq!(held.len(), 1 + PER_PEER);
        assert_eq!(answered_early.len(), 10_000 - PER_PEER);
        assert_eq!(answered_early[0], 1, "the flooder's oldest goes first");
        assert_eq!(
            held.wake(&[1; 32]),
            vec![0],
            "the owner's fetch is still held"
        );
        assert_eq!(held.evicted(), (10_000 - PER_PEER) as u64);
    }

    #[test]
    fn a_full_table_answers_its_oldest_fetch() {
        let now = Instant::now();
        let mut held = Held::new(3);
        for n in 0..3u8 {
            assert!(held.hold([n; 32], n, now + WAIT, n).is_empty());
        }
        assert_eq!(held.hold([7; 32], 7, now + WAIT, 7), vec![0]);
        assert_eq!(held.len(), 3);
        assert!(held.wake(&[0; 32]).is_empty());
    }

    #[test]
    fn release_answers_what_is_due_or_closed_and_keeps_the_rest() {
        let now = Instant::now();
        let mut held = Held::new(100);
        held.hold([1; 32], "a", now + WAIT, 1);
        held.hold([1; 32], "b", now + 2 * WAIT, 2);
        held.hold([2; 32], "c", now + 2 * WAIT, 3);
        let mut released = held.release(now + WAIT, |item| *item != 3);
        released.sort();
        assert_eq!(released, vec![1, 3]);
        assert_eq!(held.len(), 1);
        assert_eq!(held.wake(&[1; 32]), vec![2]);
        assert!(held.by_peer.is_empty() && held.by_mailbox.is_empty());
    }
}
