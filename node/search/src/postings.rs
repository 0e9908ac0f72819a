//! Sorted lists of small integers, compressed: the documents holding a term (its posting
//! list) and the terms of a document.
//!
//! # Format
//!
//! A strictly increasing list `x₀ < x₁ < … < xₙ₋₁` of `u32` is stored as the LEB128 varints
//! of `x₀, x₁ − x₀ − 1, …, xₙ₋₁ − xₙ₋₂ − 1`: seven bits a byte, least significant group
//! first, the high bit set on every byte but a number's last. Documents are numbered in the
//! order they were indexed, so the gaps in a term's list are small and most entries take one
//! byte; the list also keeps its length and last entry, so that appending a larger number
//! (the common case: a new message) costs no decoding.
//!
//! Removing one entry ([`List::remove`]) decodes up to it and rewrites only the gap after it
//! (the two gaps around it become one), moving the rest of the bytes down;
//! [`List::remove_sorted`] removes many in one pass of decoding and re-encoding, which is how
//! a conversation or a batch of expired messages leaves the index. Bytes left behind in the
//! buffer are overwritten with zeros.
//!
//! A document's term ids are the same encoding without the bookkeeping ([`pack`],
//! [`unpack`]): written once, read when the document is removed.

/// A compressed, strictly increasing list of `u32`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct List {
    bytes: Vec<u8>,
    len: u32,
    last: u32,
}

impl List {
    /// The empty list, in a constant.
    pub(crate) const fn new_empty() -> List {
        List {
            bytes: Vec::new(),
            len: 0,
            last: 0,
        }
    }

    /// The list of `values`, which must be strictly increasing (others are skipped).
    pub(crate) fn from_sorted(values: impl IntoIterator<Item = u32>) -> List {
        let mut list = List::default();
        for value in values {
            list.push(value);
        }
        list.bytes.shrink_to_fit();
        list
    }

    /// How many entries the list holds.
    pub(crate) fn len(&self) -> usize {
        self.len as usize
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Appends `value` if it is larger than every entry; returns whether it did.
    pub(crate) fn push(&mut self, value: u32) -> bool {
        let gap = match (self.len, value.checked_sub(self.last)) {
            (0, _) => value,
            (_, Some(diff)) if diff > 0 => diff - 1,
            _ => return false,
        };
        write_varint(&mut self.bytes, gap);
        self.len += 1;
        self.last = value;
        true
    }

    /// The entries, in increasing order.
    pub(crate) fn iter(&self) -> Iter<'_> {
        unpack(&self.bytes)
    }

    /// Removes `value`; returns whether the list held it.
    pub(crate) fn remove(&mut self, value: u32) -> bool {
        if self.len == 0 || value > self.last {
            return false;
        }
        // Messages removed singly (deleted, expired, edited) are mostly recent ones, whose
        // slots are near the end: walk from the nearer end.
        let found = if self.last - value < value {
            self.locate_backward(value)
        } else {
            self.locate_forward(value)
        };
        let Some((start, at, previous)) = found else {
            return false;
        };
        // The entry is bytes[start..at]. The entry after it, if any, takes a gap measured
        // from the entry before it.
        let mut end = at;
        let replacement = match read_varint_at(&self.bytes, &mut end) {
            Some(after_gap) => {
                let after = value.wrapping_add(1).wrapping_add(after_gap);
                let gap = previous.map_or(after, |p| after.wrapping_sub(p).wrapping_sub(1));
                let mut out = Vec::with_capacity(5);
                write_varint(&mut out, gap);
                out
            }
            None => {
                end = at;
                self.last = previous.unwrap_or(0);
                Vec::new()
            }
        };
        let old_len = self.bytes.len();
        self.bytes.splice(start..end, replacement);
        // Zero the bytes the splice moved out of the list but left in its buffer.
        let stale = old_len - self.bytes.len();
        self.bytes.resize(old_len, 0);
        self.bytes.truncate(old_len - stale);
        self.len -= 1;
        true
    }

    /// Where `value` is encoded, `(start, end)`, and the entry before it, decoding from the
    /// front.
    fn locate_forward(&self, value: u32) -> Option<(usize, usize, Option<u32>)> {
        let bytes = self.bytes.as_slice();
        let mut at = 0;
        let mut previous: Option<u32> = None;
        while at < bytes.len() {
            let start = at;
            let gap = read_varint_at(bytes, &mut at)?;
            let current = match previous {
                None => gap,
                Some(p) => p.wrapping_add(1).wrapping_add(gap),
            };
            if current == value {
                return Some((start, at, previous));
            }
            if current > value {
                return None;
            }
            previous = Some(current);
        }
        None
    }

    /// As [`List::locate_forward`], decoding from the back: a number's last byte is the one
    /// without the high bit, so the numbers can be found from the end, and the entries are
    /// known from the last one by subtracting the gaps.
    fn locate_backward(&self, value: u32) -> Option<(usize, usize, Option<u32>)> {
        let bytes = self.bytes.as_slice();
        let mut end = bytes.len();
        let mut current = self.last;
        while end > 0 {
            let start = bytes[..end - 1]
                .iter()
                .rposition(|b| b & 0x80 == 0)
                .map_or(0, |i| i + 1);
            let gap = read_varint_at(bytes, &mut start.clone())?;
            let previous = (start > 0).then(|| current.wrapping_sub(gap).wrapping_sub(1));
            if current == value {
                return Some((start, end, previous));
            }
            if current < value {
                return None;
            }
            current = previous?;
            end = start;
        }
        None
    }

    /// Removes every entry that is in `remove` (strictly increasing); returns how many it
    /// removed. The old encoding is overwritten with zeros before its buffer is freed.
    pub(crate) fn remove_sorted(&mut self, remove: &[u32]) -> usize {
        let mut removing = remove.iter().copied().peekable();
        let mut kept = List::default();
        for value in self.iter() {
            while removing.next_if(|&r| r < value).is_some() {}
            if removing.next_if_eq(&value).is_none() {
                kept.push(value);
            }
        }
        let removed = self.len() - kept.len();
        if removed > 0 {
            kept.bytes.shrink_to_fit();
            zeroize::Zeroize::zeroize(&mut self.bytes);
            *self = kept;
        }
        removed
    }

    /// Wipes the encoding and empties the list.
    pub(crate) fn wipe(&mut self) {
        zeroize::Zeroize::zeroize(&mut self.bytes);
        *self = List::default();
    }
}

/// `values` (strictly increasing) in the encoding of a [`List`], without its bookkeeping.
pub(crate) fn pack(values: &[u32]) -> Box<[u8]> {
    List::from_sorted(values.iter().copied())
        .bytes
        .into_boxed_slice()
}

/// The entries of an encoding made by [`pack`] (or held by a [`List`]).
pub(crate) fn unpack(bytes: &[u8]) -> Iter<'_> {
    Iter {
        bytes,
        next: 0,
        first: true,
    }
}

/// The entries of a [`List`].
#[derive(Debug, Clone)]
pub(crate) struct Iter<'a> {
    bytes: &'a [u8],
    next: u32,
    first: bool,
}

impl Iterator for Iter<'_> {
    type Item = u32;

    fn next(&mut self) -> Option<u32> {
        let gap = read_varint(&mut self.bytes)?;
        let value = if self.first {
            self.first = false;
            gap
        } else {
            // Encodings are only made by `push`, whose entries fit in a u32; wrapping keeps a
            // damaged list from panicking.
            self.next.wrapping_add(gap)
        };
        self.next = value.wrapping_add(1);
        Some(value)
    }
}

fn write_varint(out: &mut Vec<u8>, mut value: u32) {
    while value >= 0x80 {
        // Truncation keeps the low seven bits, which is the point.
        #[allow(clippy::cast_possible_truncation)]
        out.push(value as u8 | 0x80);
        value >>= 7;
    }
    #[allow(clippy::cast_possible_truncation)]
    out.push(value as u8);
}

fn read_varint_at(bytes: &[u8], at: &mut usize) -> Option<u32> {
    let mut rest = bytes.get(*at..)?;
    let before = rest.len();
    let value = read_varint(&mut rest)?;
    *at += before - rest.len();
    Some(value)
}

fn read_varint(bytes: &mut &[u8]) -> Option<u32> {
    let mut value = 0u32;
    let mut shift = 0;
    loop {
        let (&byte, rest) = bytes.split_first()?;
        *bytes = rest;
        value |= u32::from(byte & 0x7f).checked_shl(shift).unwrap_or(0);
        if byte & 0x80 == 0 {
            return Some(value);
        }
        shift += 7;
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn encoding_is_the_documented_gaps() {
        let list = List::from_sorted([5, 6, 200, 200 + 129]);
        // 5; gap 0; gap 193 = 0xc1 0x01; gap 128 = 0x80 0x01.
        assert_eq!(list.bytes, [5, 0, 0xc1, 0x01, 0x80, 0x01]);
        assert_eq!(list.iter().collect::<Vec<_>>(), [5, 6, 200, 329]);
        assert_eq!(list.len(), 4);
    }

    #[test]
    fn push_refuses_what_is_not_larger() {
        let mut list = List::default();
        assert!(list.push(0));
        assert!(!list.push(0));
        assert!(list.push(u32::MAX));
        assert!(!list.push(7));
        assert_eq!(list.iter().collect::<Vec<_>>(), [0, u32::MAX]);
    }

    #[test]
    fn removing_everything_empties_the_list() {
        let mut list = List::from_sorted([1, 2, 3]);
        assert_eq!(list.remove_sorted(&[0, 1, 2, 3, 4]), 3);
        assert!(list.is_empty());
        assert_eq!(list.iter().next(), None);
    }

    proptest! {
        #[test]
        fn lists_round_trip_and_remove(
            values in proptest::collection::btree_set(any::<u32>(), 0..200),
            remove in proptest::collection::btree_set(any::<u32>(), 0..50),
        ) {
            let values: Vec<u32> = values.into_iter().collect();
            let mut list = List::from_sorted(values.iter().copied());
            prop_assert_eq!(list.iter().collect::<Vec<_>>(), values.clone());
            let remove: Vec<u32> = remove.into_iter().chain(values.iter().step_by(3).copied()).collect::<std::collections::BTreeSet<_>>().into_iter().collect();
            let removed = list.remove_sorted(&remove);
            let kept: Vec<u32> = values.iter().copied().filter(|v| !remove.contains(v)).collect();
            prop_assert_eq!(removed, values.len() - kept.len());
            prop_assert_eq!(list.iter().collect::<Vec<_>>(), kept.clone());
            prop_assert_eq!(list.len(), kept.len());
            if let Some(&last) = kept.last() {
                prop_assert!(!list.push(last));
                prop_assert!(last == u32::MAX || list.push(last + 1));
            }
        }

        #[test]
        fn single_removals_keep_the_rest(
            values in proptest::collection::btree_set(0u32..3000, 0..200),
            remove in proptest::collection::vec(0u32..3000, 0..60),
        ) {
            let mut want: std::collections::BTreeSet<u32> = values.clone();
            let mut list = List::from_sorted(values);
            for value in remove.into_iter().chain(want.clone().into_iter().step_by(2)) {
                prop_assert_eq!(list.remove(value), want.remove(&value));
                prop_assert_eq!(list.iter().collect::<Vec<_>>(), want.iter().copied().collect::<Vec<_>>());
                prop_assert_eq!(list.len(), want.len());
                // The encoding is the one a fresh list of the same entries has.
                prop_assert_eq!(&list.bytes, &List::from_sorted(want.iter().copied()).bytes);
                let next = want.last().map_or(0, |l| l + 1);
                let mut grown = list.clone();
                prop_assert!(grown.push(next));
                let mut all: Vec<u32> = want.iter().copied().collect();
                all.push(next);
                prop_assert_eq!(grown.iter().collect::<Vec<_>>(), all);
            }
        }

        #[test]
        fn garbage_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            let list = List { bytes, len: 3, last: 0 };
            let _ = list.iter().count();
        }
    }
}
