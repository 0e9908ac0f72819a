//! Sets of chunk groups, kept canonical: sorted, disjoint, non-adjacent, non-empty ranges.
//!
//! On the wire a set is a sequence of `(start, end)` pairs; a receiver refuses a sequence that
//! is not canonical, so every set has exactly one encoding.

use std::ops::Range;

use bao_tree::{ChunkNum, ChunkRanges};
use serde::{Deserialize, Serialize};
use thiserror::Error;

use super::{CHUNKS_PER_GROUP, GROUP_LEN};

/// A set of chunk-group indices, as half-open ranges.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "Vec<(u64, u64)>", into = "Vec<(u64, u64)>")]
pub struct GroupSet {
    ranges: Vec<Range<u64>>,
}

/// A sequence of ranges that is not a canonical group set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
#[error("group ranges must be sorted, disjoint, non-adjacent and non-empty")]
pub struct GroupSetError;

impl GroupSet {
    /// The empty set.
    pub fn new() -> GroupSet {
        GroupSet::default()
    }

    /// Groups `0..count`.
    pub fn all(count: u64) -> GroupSet {
        GroupSet::from(0..count)
    }

    /// The groups that hold any of the ciphertext bytes in `bytes`.
    pub fn covering_bytes(bytes: Range<u64>) -> GroupSet {
        if bytes.is_empty() {
            return GroupSet::new();
        }
        GroupSet::from(bytes.start / GROUP_LEN..bytes.end.div_ceil(GROUP_LEN))
    }

    /// Builds a set from any ranges (overlapping, unsorted, empty ones allowed).
    pub fn from_ranges(ranges: impl IntoIterator<Item = Range<u64>>) -> GroupSet {
        let mut ranges: Vec<Range<u64>> = ranges.into_iter().filter(|r| !r.is_empty()).collect();
        ranges.sort_by_key(|r| r.start);
        let mut out: Vec<Range<u64>> = Vec::with_capacity(ranges.len());
        for range in ranges {
            match out.last_mut() {
                Some(last) if range.start <= last.end => last.end = last.end.max(range.end),
                _ => out.push(range),
            }
        }
        GroupSet { ranges: out }
    }

    /// The ranges, sorted.
    pub fn ranges(&self) -> &[Range<u64>] {
        &self.ranges
    }

    /// Whether the set is empty.
    pub fn is_empty(&self) -> bool {
        self.ranges.is_empty()
    }

    /// Number of groups in the set.
    pub fn count(&self) -> u64 {
        self.ranges.iter().map(|r| r.end - r.start).sum()
    }

    /// One past the last group, if any.
    pub fn end(&self) -> Option<u64> {
        self.ranges.last().map(|r| r.end)
    }

    /// Whether `group` is in the set.
    pub fn contains(&self, group: u64) -> bool {
        let at = self.ranges.partition_point(|r| r.end <= group);
        self.ranges.get(at).is_some_and(|r| r.contains(&group))
    }

    /// Whether every group of `other` is in `self`.
    pub fn contains_all(&self, other: &GroupSet) -> bool {
        other.difference(self).is_empty()
    }

    /// The groups in either set.
    pub fn union(&self, other: &GroupSet) -> GroupSet {
        GroupSet::from_ranges(self.ranges.iter().chain(&other.ranges).cloned())
    }

    /// The groups in `self` but not in `other`.
    pub fn difference(&self, other: &GroupSet) -> GroupSet {
        let mut out = Vec::new();
        for range in &self.ranges {
            let mut start = range.start;
            for cut in &other.ranges {
                if cut.end <= start || cut.start >= range.end {
                    continue;
                }
                if cut.start > start {
                    out.push(start..cut.start);
                }
                start = start.max(cut.end);
            }
            if start < range.end {
                out.push(start..range.end);
            }
        }
        GroupSet { ranges: out }
    }

    /// Adds one group.
    pub fn insert(&mut self, group: u64) {
        if !self.contains(group) {
            *self = self.union(&GroupSet::from(group..group + 1));
        }
    }

    /// The same groups as bao-tree chunk ranges.
    pub(crate) fn to_chunk_ranges(&self) -> ChunkRanges {
        let mut out = ChunkRanges::empty();
        for range in &self.ranges {
            let chunks = ChunkNum(range.start.saturating_mul(CHUNKS_PER_GROUP))
                ..ChunkNum(range.end.saturating_mul(CHUNKS_PER_GROUP));
            out |= ChunkRanges::from(chunks);
        }
        out
    }
}

impl From<Range<u64>> for GroupSet {
    fn from(range: Range<u64>) -> GroupSet {
        GroupSet::from_ranges([range])
    }
}

impl TryFrom<Vec<(u64, u64)>> for GroupSet {
    type Error = GroupSetError;

    fn try_from(pairs: Vec<(u64, u64)>) -> Result<GroupSet, GroupSetError> {
        let mut previous_end = None;
        let mut ranges = Vec::with_capacity(pairs.len());
        for (start, end) in pairs {
            if start >= end || previous_end.is_some_and(|previous| start <= previous) {
                return Err(GroupSetError);
            }
            previous_end = Some(end);
            ranges.push(start..end);
        }
        Ok(GroupSet { ranges })
    }
}

impl From<GroupSet> for Vec<(u64, u64)> {
    fn from(set: GroupSet) -> Vec<(u64, u64)> {
        set.ranges.into_iter().map(|r| (r.start, r.end)).collect()
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn canonical_encoding_is_enforced() {
        assert!(GroupSet::try_from(vec![(0, 2), (3, 4)]).is_ok());
        for bad in [
            vec![(0, 0)],
            vec![(2, 1)],
            vec![(0, 2), (2, 4)],
            vec![(3, 4), (0, 1)],
        ] {
            assert_eq!(GroupSet::try_from(bad), Err(GroupSetError));
        }
    }

    #[test]
    fn covering_bytes_rounds_out_to_groups() {
        assert_eq!(
            GroupSet::covering_bytes(1..GROUP_LEN + 1),
            GroupSet::from(0..2)
        );
        assert!(GroupSet::covering_bytes(5..5).is_empty());
    }

    proptest! {
        #[test]
        fn set_operations_agree_with_a_bitmap(
            a in prop::collection::vec((0u64..64, 0u64..64), 0..6),
            b in prop::collection::vec((0u64..64, 0u64..64), 0..6),
        ) {
            let a = GroupSet::from_ranges(a.into_iter().map(|(x, y)| x.min(y)..x.max(y)));
            let b = GroupSet::from_ranges(b.into_iter().map(|(x, y)| x.min(y)..x.max(y)));
            let bits = |s: &GroupSet| (0..64).map(|g| s.contains(g)).collect::<Vec<_>>();
            let (ba, bb) = (bits(&a), bits(&b));
            let union: Vec<bool> = ba.iter().zip(&bb).map(|(x, y)| *x || *y).collect();
            let diff: Vec<bool> = ba.iter().zip(&bb).map(|(x, y)| *x && !*y).collect();
            prop_assert_eq!(bits(&a.union(&b)), union);
            prop_assert_eq!(bits(&a.difference(&b)), diff);
            let wire: Vec<(u64, u64)> = a.clone().into();
            prop_assert_eq!(GroupSet::try_from(wire).unwrap(), a.clone());
            prop_assert_eq!(a.count(), ba.iter().filter(|x| **x).count() as u64);
        }
    }
}
