//! The inverted index: for every term, the documents holding it; for every document, its
//! key and its terms. Held in memory only, and built again from history at unlock
//! (`docs/search.md` gives the measurements behind that choice).
//!
//! # Structure
//!
//! - Each indexed message gets a *slot*, a `u32` handed out in increasing order. A slot is
//!   never reused until the index is renumbered, so a new message's slot is larger than
//!   every slot in every posting list, and indexing it only appends.
//! - `terms[id]` holds a term and its posting list: the slots of the documents holding it
//!   ([`List`], delta-compressed). `by_term` finds a term's id from the term's hash (the
//!   table holds only ids), and `ordered` maps each term to its id in term order, so that a
//!   prefix is a range.
//! - `docs[slot]` holds the document's [`DocKey`] and the sorted ids of its terms (packed as
//!   a list is), so that removing it needs no text and misses no posting. `by_key` finds a
//!   slot from the key's hash.
//!
//! The hashes are SipHash under keys drawn at random for each index (std's `RandomState`):
//! the words come from other people's messages, and must not be able to pick collisions.
//!
//! # Erasure
//!
//! Removing a document removes its slot from the posting list of each of its terms. A term
//! left with no document leaves the dictionary, and its text is overwritten with zeros
//! before its memory is freed, as are the encodings of the lists that held the slot. After
//! a removal nothing in the index tells what the message said, and a search for any of its
//! words no longer finds it. Dropping the index (when the node locks) wipes every term.
//!
//! # Renumbering
//!
//! Removed messages leave empty slots. When they outnumber the live ones (and at least
//! [`MIN_RENUMBER_SLOTS`] are empty), when stragglers do (see below), or when the slots run
//! out, the live documents are renumbered from zero in key order and the posting lists
//! rebuilt from their term lists: O(postings), amortised over at least as many removals or
//! insertions.
//!
//! # Search
//!
//! Each query term gives a set of slots: an exact term its posting list, a prefix the union
//! of the lists of the terms in its range of the dictionary. The sets are intersected
//! smallest first. The slots left are walked from the largest, filtered by conversation and
//! cursor, and the newest `limit + 1` kept in a heap (one more than the page, to know
//! whether another page follows).
//!
//! The walk stops early thanks to the order of slots. A message indexed with a key larger
//! than every key indexed before it is *in order*; any other is a *straggler* (a late
//! delivery, or history loaded one conversation at a time), and `stragglers` lists them.
//! An in-order slot's key is larger than the key of every smaller slot, straggler or not.
//! So when the walk meets an in-order slot older than the oldest of a full heap, no slot
//! below it can enter the page, and the walk ends: a common word costs the decoding of its
//! list and a page's worth of keys, not a key per match. Renumbering puts every slot in
//! order; the index renumbers itself when stragglers are over half of its messages (and at
//! least [`MIN_RENUMBER_SLOTS`]), and [`Index::compact`] does it on request, after a bulk
//! load.

use std::{
    cmp::Reverse,
    collections::{BTreeMap, BinaryHeap},
    hash::{BuildHasher, RandomState},
    ops::Bound,
};

use hashbrown::HashTable;
use zeroize::Zeroize;

use crate::{
    key::{Cursor, DocKey, Page},
    postings::{self, List},
    query::Query,
    text::{self, Mode},
};

/// The most results one page holds; a larger `limit` is cut to this. History pages are
/// capped the same way, and a screen shows far fewer.
pub const MAX_PAGE: usize = 500;

/// Empty slots below which the index is never renumbered: renumbering a small index to
/// save a few slots would cost more than the slots.
pub const MIN_RENUMBER_SLOTS: usize = 4096;

type TermId = u32;
type Slot = u32;

/// An in-memory full-text index of messages, keyed by [`DocKey`].
///
/// ```
/// use tern_search::{DocKey, Index, Query};
///
/// let chat = [7u8; 16];
/// let mut index = Index::new();
/// index.insert(DocKey::new(chat, 1, [1; 16]), "See you at the station")?;
/// index.insert(DocKey::new(chat, 2, [2; 16]), "Which station?")?;
///
/// let page = index.search(&Query::parse("stat"), None, 20, None);
/// assert_eq!(page.hits, [DocKey::new(chat, 2, [2; 16]), DocKey::new(chat, 1, [1; 16])]);
///
/// index.remove(&DocKey::new(chat, 2, [2; 16]));
/// assert_eq!(index.search(&Query::parse("which"), None, 20, None).hits, []);
/// # Ok::<(), tern_search::InsertError>(())
/// ```
#[derive(Default)]
pub struct Index {
    terms: Vec<TermEntry>,
    by_term: HashTable<TermId>,
    ordered: BTreeMap<Box<str>, TermId>,
    free_terms: Vec<TermId>,
    docs: Vec<Option<Doc>>,
    by_key: HashTable<Slot>,
    hasher: RandomState,
    postings: usize,
    /// The largest key indexed since the last renumbering.
    newest: Option<DocKey>,
    /// Slots whose key was not larger than `newest` when indexed, increasing.
    stragglers: Vec<Slot>,
    /// How often the index was renumbered (tests only).
    #[cfg(test)]
    renumbered: usize,
}

#[derive(Default)]
struct TermEntry {
    /// The term; empty while the entry is free.
    term: Box<str>,
    postings: List,
}

struct Doc {
    key: DocKey,
    /// The ids of the document's distinct terms, increasing, packed.
    terms: Box<[u8]>,
}

/// Sizes of an index, for metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct Stats {
    /// Messages indexed.
    pub documents: usize,
    /// Distinct terms.
    pub terms: usize,
    /// (term, message) pairs: the entries of all posting lists.
    pub postings: usize,
}

/// Why a message could not be indexed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum InsertError {
    /// The index holds as many messages as it can number (over four billion).
    #[error("the search index is full")]
    Full,
}

impl Index {
    /// An empty index.
    pub fn new() -> Index {
        Index::default()
    }

    /// An index of `docs`, a whole history, in any order (as the node reads it at unlock,
    /// one conversation after another): [`Index::insert`] for each, then one
    /// [`Index::compact`], rather than renumbering as it goes.
    ///
    /// ```
    /// let history = [
    ///     (tern_search::DocKey::new([1; 16], 2, [2; 16]), "second"),
    ///     (tern_search::DocKey::new([2; 16], 1, [1; 16]), "first"),
    /// ];
    /// let index = tern_search::Index::build(history)?;
    /// assert_eq!(index.len(), 2);
    /// # Ok::<(), tern_search::InsertError>(())
    /// ```
    pub fn build<S: AsRef<str>>(
        docs: impl IntoIterator<Item = (DocKey, S)>,
    ) -> Result<Index, InsertError> {
        let mut index = Index::new();
        for (key, text) in docs {
            index.index(key, text.as_ref())?;
        }
        index.compact();
        Ok(index)
    }

    /// Indexes `text` under `key`, replacing what was indexed under `key` before (an edit).
    pub fn insert(&mut self, key: DocKey, text: &str) -> Result<(), InsertError> {
        self.index(key, text)?;
        if self.stragglers.len() >= MIN_RENUMBER_SLOTS && self.stragglers.len() > self.len() / 2 {
            self.renumber();
        }
        Ok(())
    }

    fn index(&mut self, key: DocKey, text: &str) -> Result<(), InsertError> {
        self.remove(&key);
        if self.docs.len() >= Slot::MAX as usize {
            self.renumber();
            if self.docs.len() >= Slot::MAX as usize {
                return Err(InsertError::Full);
            }
        }
        // Cannot truncate: checked against Slot::MAX above.
        #[allow(clippy::cast_possible_truncation)]
        let slot = self.docs.len() as Slot;
        let mut ids = Vec::new();
        text::for_each_term(text, Mode::Index, |term| ids.push(self.term_id(term.text)));
        ids.sort_unstable();
        ids.dedup();
        for &id in &ids {
            if let Some(entry) = self.terms.get_mut(id as usize) {
                entry.postings.push(slot);
            }
        }
        self.postings += ids.len();
        if self.newest.is_none_or(|newest| key > newest) {
            self.newest = Some(key);
        } else {
            self.stragglers.push(slot);
        }
        self.docs.push(Some(Doc {
            key,
            terms: postings::pack(&ids),
        }));
        let Index {
            docs,
            by_key,
            hasher,
            ..
        } = self;
        by_key.insert_unique(hasher.hash_one(key), slot, |&s| slot_hash(docs, hasher, s));
        Ok(())
    }

    /// Removes the message under `key`; returns whether it was indexed.
    pub fn remove(&mut self, key: &DocKey) -> bool {
        self.remove_many(std::slice::from_ref(key)) == 1
    }

    /// Removes the messages under `keys` in one pass over the posting lists they touch (for
    /// expired messages, say); returns how many were indexed.
    pub fn remove_many<'a>(&mut self, keys: impl IntoIterator<Item = &'a DocKey>) -> usize {
        let Index {
            docs,
            by_key,
            hasher,
            ..
        } = self;
        let slots: Vec<Slot> = keys
            .into_iter()
            .filter_map(|key| {
                let found = by_key.find_entry(hasher.hash_one(key), |&s| {
                    docs.get(s as usize)
                        .and_then(Option::as_ref)
                        .is_some_and(|doc| doc.key == *key)
                });
                found.ok().map(|entry| entry.remove().0)
            })
            .collect();
        self.remove_slots(slots)
    }

    /// Removes every message of `conversation` (a deleted chat); returns how many there were.
    pub fn remove_conversation(&mut self, conversation: &[u8; 16]) -> usize {
        let keys: Vec<DocKey> = self
            .docs
            .iter()
            .flatten()
            .filter(|doc| doc.key.conversation == *conversation)
            .map(|doc| doc.key)
            .collect();
        self.remove_many(&keys)
    }

    /// Whether a message is indexed under `key`.
    pub fn contains(&self, key: &DocKey) -> bool {
        self.by_key
            .find(self.hasher.hash_one(key), |&s| self.key_at(s) == Some(*key))
            .is_some()
    }

    /// How many messages are indexed.
    pub fn len(&self) -> usize {
        self.by_key.len()
    }

    /// Whether no message is indexed.
    pub fn is_empty(&self) -> bool {
        self.by_key.is_empty()
    }

    /// Sizes of the index.
    pub fn stats(&self) -> Stats {
        Stats {
            documents: self.by_key.len(),
            terms: self.ordered.len(),
            postings: self.postings,
        }
    }

    /// Renumbers the index in key order if messages were indexed out of order or removed.
    /// Searches read matches newest first and stop at a full page, which needs messages
    /// indexed in key order; [`Index::build`] ends with this, and [`Index::insert`] does it
    /// when messages indexed out of order (late deliveries) are over half of the index.
    pub fn compact(&mut self) {
        if !self.stragglers.is_empty() || self.docs.len() > self.len() {
            self.renumber();
        }
    }

    /// One page of the messages matching `query`, newest first: at most `limit` (at least
    /// one, at most [`MAX_PAGE`]), only of `conversation` if given, and only older than
    /// `after` if given. An empty query finds nothing.
    pub fn search(
        &self,
        query: &Query,
        conversation: Option<&[u8; 16]>,
        limit: usize,
        after: Option<&Cursor>,
    ) -> Page {
        let limit = limit.clamp(1, MAX_PAGE);
        let Some(slots) = self.matching_slots(query) else {
            return Page::default();
        };
        // The newest `limit + 1` matches, in a min-heap so that the oldest kept is on top.
        // Slots are walked from the newest; an in-order slot's key is larger than every key
        // in a smaller slot, so once one is older than everything kept, the walk is done.
        let mut newest: BinaryHeap<Reverse<DocKey>> = BinaryHeap::with_capacity(limit + 2);
        let mut stragglers = self.stragglers.iter().rev().peekable();
        for slot in slots.into_iter().rev() {
            let Some(Some(doc)) = self.docs.get(slot as usize) else {
                continue;
            };
            let key = doc.key;
            while stragglers.next_if(|&&s| s > slot).is_some() {}
            let in_order = stragglers.peek() != Some(&&slot);
            let full = newest.len() > limit;
            if in_order && full && newest.peek().is_some_and(|Reverse(oldest)| key < *oldest) {
                break;
            }
            if conversation.is_some_and(|c| key.conversation != *c)
                || after.is_some_and(|cursor| key >= cursor.0)
            {
                continue;
            }
            if !full {
                newest.push(Reverse(key));
            } else if newest.peek().is_some_and(|Reverse(oldest)| key > *oldest) {
                newest.pop();
                newest.push(Reverse(key));
            }
        }
        let more = newest.len() > limit;
        // Ascending Reverse order is descending key order: newest first.
        let mut hits: Vec<DocKey> = newest
            .into_sorted_vec()
            .into_iter()
            .map(|Reverse(key)| key)
            .collect();
        hits.truncate(limit);
        let next = if more {
            hits.last().copied().map(Cursor)
        } else {
            None
        };
        Page { hits, next }
    }

    /// The slots holding every term of `query`, increasing; `None` if none can.
    fn matching_slots(&self, query: &Query) -> Option<Vec<Slot>> {
        if query.is_empty() {
            return None;
        }
        // Each query term as the ids of the dictionary terms it matches, with their postings.
        let mut sets: Vec<(usize, Vec<TermId>)> = Vec::with_capacity(query.terms().len());
        for term in query.terms() {
            let ids: Vec<TermId> = if term.prefix {
                self.ordered
                    .range::<str, _>((Bound::Included(term.text.as_str()), Bound::Unbounded))
                    .take_while(|(t, _)| t.starts_with(term.text.as_str()))
                    .map(|(_, &id)| id)
                    .collect()
            } else {
                self.find_term(&term.text).into_iter().collect()
            };
            let postings = ids.iter().map(|&id| self.list(id).len()).sum();
            if postings == 0 {
                return None;
            }
            sets.push((postings, ids));
        }
        sets.sort_unstable_by_key(|(postings, _)| *postings);
        let mut sets = sets.into_iter();
        let (_, first) = sets.next()?;
        let mut slots: Vec<Slot> = match first.as_slice() {
            [id] => self.list(*id).iter().collect(),
            // A union: marked in a bitmap and read back in order, which is linear where
            // sorting the lists' concatenation is not.
            ids => {
                let member = self.bitmap(ids);
                let mut slots = Vec::new();
                for (i, &word) in member.iter().enumerate() {
                    let mut word = word;
                    while word != 0 {
                        // i < docs.len() / 64 + 1 and a u64 has 64 bits: the slot fits.
                        #[allow(clippy::cast_possible_truncation)]
                        slots.push((i * 64) as Slot + word.trailing_zeros());
                        word &= word - 1;
                    }
                }
                slots
            }
        };
        for (_, ids) in sets {
            if slots.is_empty() {
                break;
            }
            if let [id] = ids.as_slice() {
                slots = intersect(&slots, self.list(*id).iter());
            } else {
                let member = self.bitmap(&ids);
                slots.retain(|&slot| {
                    member
                        .get(slot as usize / 64)
                        .is_some_and(|word| word & (1 << (slot % 64)) != 0)
                });
            }
        }
        Some(slots)
    }

    /// The slots in the posting lists of `ids`, as a bitmap (bit `s % 64` of word `s / 64`).
    fn bitmap(&self, ids: &[TermId]) -> Vec<u64> {
        let mut member = vec![0u64; self.docs.len().div_ceil(64)];
        for slot in ids.iter().flat_map(|&id| self.list(id).iter()) {
            if let Some(word) = member.get_mut(slot as usize / 64) {
                *word |= 1 << (slot % 64);
            }
        }
        member
    }

    fn list(&self, id: TermId) -> &List {
        static EMPTY: List = List::new_empty();
        self.terms.get(id as usize).map_or(&EMPTY, |e| &e.postings)
    }

    fn key_at(&self, slot: Slot) -> Option<DocKey> {
        self.docs.get(slot as usize)?.as_ref().map(|doc| doc.key)
    }

    fn find_term(&self, term: &str) -> Option<TermId> {
        let terms = &self.terms;
        self.by_term
            .find(self.hasher.hash_one(term), |&id| {
                terms.get(id as usize).is_some_and(|e| &*e.term == term)
            })
            .copied()
    }

    /// The id of `term`, adding it to the dictionary if new.
    fn term_id(&mut self, term: &str) -> TermId {
        if let Some(id) = self.find_term(term) {
            return id;
        }
        let entry = TermEntry {
            term: term.into(),
            postings: List::default(),
        };
        let id = match self.free_terms.pop() {
            Some(id) => {
                if let Some(slot) = self.terms.get_mut(id as usize) {
                    *slot = entry;
                }
                id
            }
            None => {
                // Term ids never outnumber slots times terms per message, far below 2^32;
                // saturating keeps this total.
                let id = TermId::try_from(self.terms.len()).unwrap_or(TermId::MAX);
                self.terms.push(entry);
                id
            }
        };
        let Index {
            terms,
            by_term,
            hasher,
            ..
        } = self;
        by_term.insert_unique(hasher.hash_one(term), id, |&id| {
            term_hash(terms, hasher, id)
        });
        self.ordered.insert(term.into(), id);
        id
    }

    /// Takes the emptied term `id` out of the dictionary, wiping its text.
    fn drop_term(&mut self, id: TermId) {
        let Some(entry) = self.terms.get_mut(id as usize) else {
            return;
        };
        let mut term = std::mem::take(&mut entry.term).into_string();
        if let Ok(found) = self
            .by_term
            .find_entry(self.hasher.hash_one(term.as_str()), |&t| t == id)
        {
            found.remove();
        }
        if let Some((mut ordered, _)) = self.ordered.remove_entry(term.as_str()) {
            ordered.zeroize();
        }
        term.zeroize();
        self.free_terms.push(id);
    }

    /// Removes the documents in `slots` (already taken out of `by_key`).
    fn remove_slots(&mut self, mut slots: Vec<Slot>) -> usize {
        slots.sort_unstable();
        slots.dedup();
        // (term, slot) pairs, sorted, so that each posting list is rewritten once.
        let mut pairs: Vec<(TermId, Slot)> = Vec::new();
        let mut removed = 0;
        for &slot in &slots {
            if let Some(mut doc) = self.docs.get_mut(slot as usize).and_then(Option::take) {
                pairs.extend(postings::unpack(&doc.terms).map(|id| (id, slot)));
                doc.terms.zeroize();
                removed += 1;
            }
        }
        pairs.sort_unstable();
        let mut rest = pairs.as_slice();
        while let Some(&(id, _)) = rest.first() {
            let end = rest
                .iter()
                .position(|&(t, _)| t != id)
                .unwrap_or(rest.len());
            let (group, tail) = rest.split_at(end);
            rest = tail;
            let Some(entry) = self.terms.get_mut(id as usize) else {
                continue;
            };
            self.postings -= match group {
                [(_, slot)] => usize::from(entry.postings.remove(*slot)),
                _ => {
                    let group: Vec<Slot> = group.iter().map(|&(_, slot)| slot).collect();
                    entry.postings.remove_sorted(&group)
                }
            };
            if entry.postings.is_empty() {
                self.drop_term(id);
            }
        }
        let empty = self.docs.len() - self.by_key.len();
        if empty >= MIN_RENUMBER_SLOTS && empty > self.by_key.len() {
            self.renumber();
        }
        removed
    }

    /// Gives the live documents the slots `0..len` in key order and rebuilds every posting
    /// list (see the module documentation).
    fn renumber(&mut self) {
        #[cfg(test)]
        {
            self.renumbered += 1;
        }
        let mut docs: Vec<Doc> = std::mem::take(&mut self.docs)
            .into_iter()
            .flatten()
            .collect();
        docs.sort_unstable_by_key(|doc| doc.key);
        // Every list at once in one buffer: term `id`'s new list fills
        // flat[start[id]..start[id + 1]], in slot order since documents are taken in order.
        let mut start: Vec<usize> = Vec::with_capacity(self.terms.len() + 1);
        let mut total = 0;
        for entry in &self.terms {
            start.push(total);
            total += entry.postings.len();
        }
        start.push(total);
        let mut fill = start.clone();
        let mut flat: Vec<Slot> = vec![0; total];
        for (slot, doc) in docs.iter().enumerate() {
            // Cannot truncate: there were fewer documents than Slot::MAX slots.
            #[allow(clippy::cast_possible_truncation)]
            let slot = slot as Slot;
            for id in postings::unpack(&doc.terms) {
                if let Some(at) = fill.get_mut(id as usize) {
                    if let Some(place) = flat.get_mut(*at) {
                        *place = slot;
                    }
                    *at += 1;
                }
            }
        }
        for (entry, bounds) in self.terms.iter_mut().zip(start.windows(2)) {
            let &[from, to] = bounds else { continue };
            let slots = flat.get(from..to).unwrap_or_default();
            entry.postings.wipe();
            entry.postings = List::from_sorted(slots.iter().copied());
        }
        self.newest = docs.last().map(|doc| doc.key);
        self.stragglers = Vec::new();
        self.docs = docs.into_iter().map(Some).collect();
        let Index {
            docs,
            by_key,
            hasher,
            ..
        } = self;
        by_key.clear();
        by_key.shrink_to_fit(|&s| slot_hash(docs, hasher, s));
        for slot in 0..docs.len() {
            // As above.
            #[allow(clippy::cast_possible_truncation)]
            let slot = slot as Slot;
            let hash = slot_hash(docs, hasher, slot);
            by_key.insert_unique(hash, slot, |&s| slot_hash(docs, hasher, s));
        }
    }
}

/// The hash of the key in `slot` (of an empty slot: of nothing; `by_key` holds none).
fn slot_hash(docs: &[Option<Doc>], hasher: &RandomState, slot: Slot) -> u64 {
    match docs.get(slot as usize) {
        Some(Some(doc)) => hasher.hash_one(doc.key),
        _ => 0,
    }
}

/// The hash of term `id`'s text.
fn term_hash(terms: &[TermEntry], hasher: &RandomState, id: TermId) -> u64 {
    terms
        .get(id as usize)
        .map_or(0, |entry| hasher.hash_one(&*entry.term))
}

impl Drop for Index {
    /// Wipes every term, so that a dropped index (the node locked) leaves no words behind
    /// in freed memory.
    fn drop(&mut self) {
        for entry in &mut self.terms {
            std::mem::take(&mut entry.term).into_string().zeroize();
        }
        for (term, _) in std::mem::take(&mut self.ordered) {
            term.into_string().zeroize();
        }
    }
}

impl std::fmt::Debug for Index {
    /// Sizes only: the index is derived from private messages.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Index")
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}

/// The entries of `slots` (increasing) that `list` (increasing) also yields.
fn intersect(slots: &[Slot], list: impl Iterator<Item = Slot>) -> Vec<Slot> {
    let mut out = Vec::with_capacity(slots.len());
    let mut list = list.peekable();
    for &slot in slots {
        while list.next_if(|&s| s < slot).is_some() {}
        match list.peek() {
            Some(&s) if s == slot => out.push(slot),
            Some(_) => {}
            None => break,
        }
    }
    out
}

#[cfg(test)]
mod tests;
