//! PROTOTYPES, measured by the benchmark only and used nowhere else: the two ways an index
//! encrypted at rest could be built, to compare with the in-memory index `tern-search`
//! ships. Each seals with the node's at-rest sealing (`StorageKey::seal`:
//! XChaCha20-Poly1305, a random 24-byte nonce, bound to a table name and row key).
//!
//! - [`Snapshot`]: the whole index as one sealed image, written after changes and read at
//!   unlock instead of rebuilding from history. Postings as delta varints (the format of
//!   the library's lists), documents as their 40-byte keys, cut into 64 KiB chunks, each
//!   sealed. Loading opens and decodes every chunk into a dictionary of compressed lists
//!   and a key table: less than the real index holds (no per-document term lists, no key
//!   map), so its load time is a lower bound.
//! - [`Blocks`]: an incremental index in a key-value store (RocksDB in the node; here a
//!   `BTreeMap`, so nothing of an LSM tree's own write amplification or I/O is counted).
//!   Rows: `p ‖ tag ‖ first slot` → sealed block of at most [`BLOCK`] slots, where `tag` is
//!   the first 16 bytes of the keyed hash of the term; `d ‖ slot` → sealed (key ‖ tags); and
//!   `k ‖ key` → slot. Indexing a message rewrites the last block of each of its terms;
//!   removing one rewrites the block holding it in each of its terms. Slots are given in
//!   indexing order, and the benchmark indexes history oldest first, so a search reads its
//!   term's blocks newest first and stops at a page: the best case for this layout.

use std::collections::{BTreeMap, HashMap, HashSet};

use rand_chacha::ChaCha20Rng;
use tern_crypto::{
    at_rest::{KdfParams, KeyFile, StorageKey},
    rand_core::SeedableRng,
};
use tern_search::DocKey;

/// Slots per posting block of [`Blocks`]: a block of 128 one-byte gaps seals to under
/// 200 bytes, about one small RocksDB value.
pub(crate) const BLOCK: usize = 128;
/// Chunk size of a [`Snapshot`].
const CHUNK: usize = 64 * 1024;
const TABLE: &str = "search";

/// A storage key as the node would derive it, from a throwaway key file.
pub(crate) fn storage_key() -> StorageKey {
    let mut rng = ChaCha20Rng::seed_from_u64(1);
    let params = KdfParams::new(8, 1, 1).expect("minimal Argon2 costs");
    let (_, master) = KeyFile::create(&mut rng, b"bench", params).expect("key file");
    master.subkey("search")
}

fn tag(key: &StorageKey, term: &str) -> [u8; 16] {
    let hash = key.keyed_hash(term.as_bytes());
    std::array::from_fn(|i| hash[i])
}

fn push_varint(out: &mut Vec<u8>, mut v: u32) {
    while v >= 0x80 {
        out.push(v as u8 | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn read_varint(bytes: &[u8], at: &mut usize) -> u32 {
    let mut v = 0u32;
    let mut shift = 0;
    while let Some(&b) = bytes.get(*at) {
        *at += 1;
        v |= u32::from(b & 0x7f) << shift;
        if b & 0x80 == 0 {
            break;
        }
        shift += 7;
    }
    v
}

fn encode_list(slots: &[u32]) -> Vec<u8> {
    let mut out = Vec::with_capacity(slots.len() + 4);
    push_varint(&mut out, slots.len() as u32);
    let mut prev = 0;
    for (i, &s) in slots.iter().enumerate() {
        push_varint(&mut out, if i == 0 { s } else { s - prev - 1 });
        prev = s;
    }
    out
}

fn decode_list(bytes: &[u8], at: &mut usize) -> Vec<u32> {
    let n = read_varint(bytes, at) as usize;
    let mut out = Vec::with_capacity(n);
    let mut next = 0u32;
    for i in 0..n {
        let gap = read_varint(bytes, at);
        let v = if i == 0 { gap } else { next + gap };
        out.push(v);
        next = v + 1;
    }
    out
}

/// The sealed image of a whole index.
pub(crate) struct Snapshot {
    pub(crate) chunks: Vec<Vec<u8>>,
}

impl Snapshot {
    /// Seals the index of `docs` (slots in the given order).
    pub(crate) fn write(key: &StorageKey, docs: &[(DocKey, String)]) -> Snapshot {
        let mut lists: BTreeMap<String, Vec<u32>> = BTreeMap::new();
        for (slot, (_, text)) in docs.iter().enumerate() {
            let distinct: HashSet<String> = tern_search::terms(text).into_iter().collect();
            for term in distinct {
                lists.entry(term).or_default().push(slot as u32);
            }
        }
        let mut image = Vec::new();
        push_varint(&mut image, docs.len() as u32);
        for (doc, _) in docs {
            image.extend_from_slice(&doc.to_bytes());
        }
        push_varint(&mut image, lists.len() as u32);
        for (term, slots) in &lists {
            push_varint(&mut image, term.len() as u32);
            image.extend_from_slice(term.as_bytes());
            image.extend_from_slice(&encode_list(slots));
        }
        let mut rng = ChaCha20Rng::seed_from_u64(2);
        let chunks = image
            .chunks(CHUNK)
            .enumerate()
            .map(|(i, chunk)| {
                key.seal(&mut rng, TABLE, &(i as u32).to_be_bytes(), chunk)
                    .expect("seal")
            })
            .collect();
        Snapshot { chunks }
    }

    pub(crate) fn bytes(&self) -> usize {
        self.chunks.iter().map(Vec::len).sum()
    }

    /// Opens and decodes the image: (keys, term → compressed list).
    pub(crate) fn load(&self, key: &StorageKey) -> (Vec<DocKey>, HashMap<String, Vec<u8>>) {
        let mut image = Vec::with_capacity(self.chunks.len() * CHUNK);
        for (i, chunk) in self.chunks.iter().enumerate() {
            let plain = key
                .open(TABLE, &(i as u32).to_be_bytes(), chunk)
                .expect("open");
            image.extend_from_slice(&plain);
        }
        let mut at = 0;
        let n = read_varint(&image, &mut at) as usize;
        let mut docs = Vec::with_capacity(n);
        for _ in 0..n {
            let bytes: [u8; 40] = image[at..at + 40].try_into().expect("40 bytes");
            docs.push(DocKey::from_bytes(&bytes));
            at += 40;
        }
        let terms = read_varint(&image, &mut at) as usize;
        let mut lists = HashMap::with_capacity(terms);
        for _ in 0..terms {
            let len = read_varint(&image, &mut at) as usize;
            let term = String::from_utf8(image[at..at + len].to_vec()).expect("utf-8");
            at += len;
            let start = at;
            let slots = decode_list(&image, &mut at);
            std::hint::black_box(&slots);
            lists.insert(term, image[start..at].to_vec());
        }
        (docs, lists)
    }
}

/// The incremental layout in a key-value store. See the module documentation.
pub(crate) struct Blocks {
    kv: BTreeMap<Vec<u8>, Vec<u8>>,
    key: StorageKey,
    rng: ChaCha20Rng,
    next: u32,
    /// Bytes of keys and values written (puts) so far.
    pub(crate) written: u64,
}

fn block_key(tag: &[u8; 16], slot: u32) -> Vec<u8> {
    let mut k = Vec::with_capacity(21);
    k.push(b'p');
    k.extend_from_slice(tag);
    k.extend_from_slice(&slot.to_be_bytes());
    k
}

fn doc_row(slot: u32) -> Vec<u8> {
    let mut k = vec![b'd'];
    k.extend_from_slice(&slot.to_be_bytes());
    k
}

fn key_row(key: &DocKey) -> Vec<u8> {
    let mut k = vec![b'k'];
    k.extend_from_slice(&key.to_bytes());
    k
}

impl Blocks {
    pub(crate) fn new(key: StorageKey) -> Blocks {
        Blocks {
            kv: BTreeMap::new(),
            key,
            rng: ChaCha20Rng::seed_from_u64(3),
            next: 0,
            written: 0,
        }
    }

    /// Bytes of all rows stored now.
    pub(crate) fn bytes(&self) -> usize {
        self.kv.iter().map(|(k, v)| k.len() + v.len()).sum()
    }

    fn put(&mut self, row: Vec<u8>, plain: &[u8]) {
        let sealed = self
            .key
            .seal(&mut self.rng, TABLE, &row, plain)
            .expect("seal");
        self.written += (row.len() + sealed.len()) as u64;
        self.kv.insert(row, sealed);
    }

    fn open(&self, row: &[u8], sealed: &[u8]) -> Vec<u8> {
        self.key.open(TABLE, row, sealed).expect("open").to_vec()
    }

    pub(crate) fn insert(&mut self, doc: DocKey, text: &str) {
        let slot = self.next;
        self.next += 1;
        let distinct: HashSet<String> = tern_search::terms(text).into_iter().collect();
        let tags: Vec<[u8; 16]> = distinct.iter().map(|t| tag(&self.key, t)).collect();
        for t in &tags {
            let last = self
                .kv
                .range(block_key(t, 0)..=block_key(t, u32::MAX))
                .next_back()
                .map(|(k, v)| (k.clone(), v.clone()));
            let (row, mut slots) = match last {
                Some((row, sealed)) => {
                    let plain = self.open(&row, &sealed);
                    (row, decode_list(&plain, &mut 0))
                }
                None => (block_key(t, slot), Vec::new()),
            };
            if slots.len() >= BLOCK {
                self.put(block_key(t, slot), &encode_list(&[slot]));
            } else {
                slots.push(slot);
                self.put(row, &encode_list(&slots));
            }
        }
        let mut value = doc.to_bytes().to_vec();
        for t in &tags {
            value.extend_from_slice(t);
        }
        self.put(doc_row(slot), &value);
        let row = key_row(&doc);
        self.written += (row.len() + 4) as u64;
        self.kv.insert(row, slot.to_be_bytes().to_vec());
    }

    pub(crate) fn remove(&mut self, doc: &DocKey) {
        let Some(slot) = self.kv.remove(&key_row(doc)) else {
            return;
        };
        let slot = u32::from_be_bytes(slot.try_into().expect("4 bytes"));
        let row = doc_row(slot);
        let sealed = self.kv.remove(&row).expect("document row");
        let value = self.open(&row, &sealed);
        for t in value[40..].chunks_exact(16) {
            let t: [u8; 16] = t.try_into().expect("16 bytes");
            let (row, sealed) = self
                .kv
                .range(block_key(&t, 0)..=block_key(&t, slot))
                .next_back()
                .map(|(k, v)| (k.clone(), v.clone()))
                .expect("block");
            let mut slots = decode_list(&self.open(&row, &sealed), &mut 0);
            slots.retain(|&s| s != slot);
            if slots.is_empty() {
                self.kv.remove(&row);
            } else {
                self.put(row, &encode_list(&slots));
            }
        }
    }

    /// The newest `limit` messages holding `term`: blocks newest first, then the key rows of
    /// the page.
    pub(crate) fn search(&self, term: &str, limit: usize) -> Vec<DocKey> {
        let t = tag(&self.key, term);
        let mut slots = Vec::new();
        for (row, sealed) in self
            .kv
            .range(block_key(&t, 0)..=block_key(&t, u32::MAX))
            .rev()
        {
            let mut block = decode_list(&self.open(row, sealed), &mut 0);
            block.reverse();
            slots.extend(block);
            if slots.len() >= limit {
                break;
            }
        }
        slots.truncate(limit);
        slots
            .into_iter()
            .map(|slot| {
                let row = doc_row(slot);
                let value = self.open(&row, &self.kv[&row]);
                DocKey::from_bytes(&value[..40].try_into().expect("40 bytes"))
            })
            .collect()
    }
}
