//! Memos of Ed25519 work already done, so that a key or signature seen again costs a lookup.
//!
//! The same few keys and signatures come back all the time: every message of a session that
//! the peer has not yet answered repeats its initial header (an identity whose binding is a
//! signature), every stored row naming an account parses its key, and records and prekey
//! bundles are verified on each lookup. Parsing a key takes two field inversions, verifying
//! a signature about thirty microseconds; both are pure functions of their bytes, so a result
//! stored under those exact bytes is the result computing it again would give.
//!
//! A memo is direct-mapped: each key has one slot, picked by its first bytes, and a new entry
//! replaces whatever held the slot. A lookup compares the whole key, so a collision costs only
//! the recomputation. Only successes are stored: a refusal is recomputed every time, and an
//! attacker can at most evict entries, which slows nothing but their own peers' lookups.

use std::sync::Mutex;

/// Slots in each memo: the keys of a few hundred active contacts.
const SLOTS: usize = 512;

/// A slot: empty, or a key with its value.
type Slot<V> = Option<([u8; 32], V)>;

/// A direct-mapped table from 32-byte keys to values.
pub(crate) struct Memo<V> {
    slots: Mutex<Vec<Slot<V>>>,
}

impl<V: Clone> Memo<V> {
    pub(crate) fn new() -> Self {
        Self {
            slots: Mutex::new(vec![None; SLOTS]),
        }
    }

    fn slot(key: &[u8; 32]) -> usize {
        let mut first = [0u8; 8];
        first.copy_from_slice(&key[..8]);
        (u64::from_le_bytes(first) % SLOTS as u64) as usize
    }

    /// The value stored under exactly `key`, if it is still there.
    pub(crate) fn get(&self, key: &[u8; 32]) -> Option<V> {
        // A panic elsewhere while the lock was held leaves whole entries behind (each write
        // replaces one `Option`), so a poisoned table is still sound.
        let slots = self.slots.lock().unwrap_or_else(|e| e.into_inner());
        match &slots[Self::slot(key)] {
            Some((stored, value)) if stored == key => Some(value.clone()),
            _ => None,
        }
    }

    pub(crate) fn insert(&self, key: [u8; 32], value: V) {
        let mut slots = self.slots.lock().unwrap_or_else(|e| e.into_inner());
        slots[Self::slot(&key)] = Some((key, value));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lookup_finds_only_the_exact_key() {
        let memo = Memo::new();
        let key = [7u8; 32];
        memo.insert(key, 1u32);
        assert_eq!(memo.get(&key), Some(1));
        // Same slot (same first eight bytes), different key: a miss, not the other's value.
        let mut neighbour = key;
        neighbour[31] ^= 1;
        assert_eq!(memo.get(&neighbour), None);
        // The neighbour takes the slot over.
        memo.insert(neighbour, 2);
        assert_eq!((memo.get(&key), memo.get(&neighbour)), (None, Some(2)));
    }
}
