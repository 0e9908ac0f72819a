//! Content addressing: the ciphertext is named by its BLAKE3 hash, and moved in ranges that the
//! receiver checks against that hash group by group (BLAKE3 verified streaming, as the `bao`
//! format does it, through the `bao-tree` crate).
//!
//! # Tree
//!
//! The root of a ciphertext `c` of `C` bytes is `BLAKE3(c)`, the plain 32-byte hash. BLAKE3
//! hashes 1 KiB chunks into a binary tree; here the lowest levels are not stored: leaves are
//! **chunk groups** of 16 chunks, [`GROUP_LEN`] = 16 KiB (bao-tree's `BlockSize` 4). Group `g`
//! is ciphertext bytes `[16,384·g, min(16,384·(g+1), C))`; there are `G = ⌈C / 16,384⌉`
//! groups (one when `C ≤ 16 KiB`).
//!
//! # Outboard
//!
//! The outboard holds the `G − 1` parent nodes above the groups, each as its two children's
//! chaining values (`left ‖ right`, 64 bytes), in **post-order** (bao-tree's
//! `PostOrderOutboard`), without a length prefix: `64·(G − 1)` bytes, 64 / 16,384 = 0.39 % of
//! the ciphertext.
//!
//! # Verified ranges
//!
//! A request names a [`GroupSet`]: sorted, disjoint, non-adjacent half-open ranges of group
//! indices. The answer is the bao pre-order encoding of those groups, exactly as
//! `bao_tree::io::sync::encode_ranges_validated` writes it for the chunk ranges
//! `[16·start, 16·end)`: walking the tree from the root in pre-order, each parent node on the
//! way to a requested group is sent as its 64-byte hash pair, and each requested group as its
//! raw bytes. Nothing else is sent: no length prefix (the length comes from the descriptor), no
//! framing. [`encoded_len`] gives the exact length of an answer.
//!
//! The receiver ([`decode_ranges`]) starts from the root it already trusts, checks every hash
//! pair against the hash above it and every group against the hash above it, and only then
//! hands the group on: nothing unverified reaches a caller, and a tampered byte yields a
//! [`VerifyError`] naming the group (or the byte range under a parent) that failed.

use std::{fmt, io, ops::Range, str::FromStr};

use bao_tree::{
    BaoTree, BlockSize, ChunkNum, ChunkRanges, TreeNode,
    io::{
        BaoContentItem, DecodeError, EncodeError, Leaf, Parent,
        outboard::PostOrderOutboard,
        sync::{DecodeResponseIter, ReadAt, encode_ranges_validated, outboard_post_order},
    },
};
use serde::{Deserialize, Serialize};
use thiserror::Error;

mod groups;

pub use groups::{GroupSet, GroupSetError};

/// Bytes per chunk group: the unit a receiver verifies, writes and records.
///
/// 16 KiB makes the outboard 0.39 % of the data while a verification failure costs at most
/// 16 KiB of refetching.
pub const GROUP_LEN: u64 = 16 * 1024;
/// BLAKE3 chunks per group.
const CHUNKS_PER_GROUP: u64 = GROUP_LEN / 1024;
/// `log2(CHUNKS_PER_GROUP)`.
pub(crate) const BLOCK_SIZE: BlockSize = BlockSize::from_chunk_log(4);
/// Bytes of one parent node in the outboard and in the stream.
pub const PARENT_LEN: u64 = 64;

/// The BLAKE3 hash of a ciphertext: its name in stores, requests and descriptors. Not secret.
///
/// Prints as 64 lowercase hex digits; [`Root::short`] gives the first 8 for logs.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Root([u8; 32]);

impl Root {
    /// The root with these bytes.
    pub const fn from_bytes(bytes: [u8; 32]) -> Root {
        Root(bytes)
    }

    /// The root's bytes.
    pub const fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// The root of `ciphertext`, hashed in one go (for small blobs and tests).
    pub fn of(ciphertext: &[u8]) -> Root {
        Root(*bao_tree::blake3::hash(ciphertext).as_bytes())
    }

    /// The first four bytes as hex, for logs.
    pub fn short(&self) -> String {
        hex(&self.0[..4])
    }

    fn hash(&self) -> bao_tree::blake3::Hash {
        bao_tree::blake3::Hash::from_bytes(self.0)
    }
}

fn hex(bytes: &[u8]) -> String {
    use fmt::Write;
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(out, "{b:02x}");
    }
    out
}

impl fmt::Display for Root {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex(&self.0))
    }
}

impl fmt::Debug for Root {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Root({})", self.short())
    }
}

/// Text that is not 64 hex digits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
#[error("a root is 64 hex digits")]
pub struct ParseRootError;

impl FromStr for Root {
    type Err = ParseRootError;

    fn from_str(s: &str) -> Result<Root, ParseRootError> {
        let s = s.as_bytes();
        if s.len() != 64 {
            return Err(ParseRootError);
        }
        let digit = |c: u8| (c as char).to_digit(16).ok_or(ParseRootError);
        let mut out = [0u8; 32];
        for (i, pair) in s.chunks_exact(2).enumerate() {
            out[i] = (digit(pair[0])? * 16 + digit(pair[1])?) as u8;
        }
        Ok(Root(out))
    }
}

/// Number of chunk groups of a ciphertext of `ciphertext_len` bytes (at least one).
pub fn group_count(ciphertext_len: u64) -> u64 {
    ciphertext_len.div_ceil(GROUP_LEN).max(1)
}

/// The ciphertext bytes of group `group`.
pub fn group_bytes(ciphertext_len: u64, group: u64) -> Range<u64> {
    let start = group.saturating_mul(GROUP_LEN).min(ciphertext_len);
    start..start.saturating_add(GROUP_LEN).min(ciphertext_len)
}

/// Length of the outboard of a ciphertext of `ciphertext_len` bytes: `64 · (G − 1)`.
pub fn outboard_len(ciphertext_len: u64) -> u64 {
    tree(ciphertext_len).outboard_size()
}

pub(crate) fn tree(ciphertext_len: u64) -> BaoTree {
    BaoTree::new(ciphertext_len, BLOCK_SIZE)
}

/// The exact length of the verified stream that answers a request for `groups`.
pub fn encoded_len(ciphertext_len: u64, groups: &GroupSet) -> u64 {
    let tree = tree(ciphertext_len);
    let ranges = groups.to_chunk_ranges();
    tree.ranges_pre_order_chunks_iter_ref(&ranges, 0)
        .map(|item| match item {
            bao_tree::iter::BaoChunk::Parent { .. } => PARENT_LEN,
            bao_tree::iter::BaoChunk::Leaf { size, .. } => size as u64,
        })
        .sum()
}

/// A ciphertext's root together with its outboard, held in memory (0.39 % of the ciphertext).
#[derive(Clone, PartialEq, Eq)]
pub struct Outboard {
    root: Root,
    ciphertext_len: u64,
    data: Vec<u8>,
}

impl fmt::Debug for Outboard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Outboard")
            .field("root", &self.root)
            .field("ciphertext_len", &self.ciphertext_len)
            .field("outboard_len", &self.data.len())
            .finish()
    }
}

impl Outboard {
    /// Hashes `ciphertext_len` bytes from `ciphertext`, one group in memory at a time.
    ///
    /// ```
    /// use tern_blob::verify::{Outboard, Root};
    ///
    /// let ciphertext = vec![7u8; 100_000];
    /// let outboard = Outboard::compute(&ciphertext[..], 100_000).unwrap();
    /// assert_eq!(outboard.root(), Root::of(&ciphertext));
    /// assert_eq!(outboard.as_bytes().len(), 64 * 6); // 7 groups, 6 parents
    /// ```
    pub fn compute(ciphertext: impl io::Read, ciphertext_len: u64) -> io::Result<Outboard> {
        let tree = tree(ciphertext_len);
        let mut data = Vec::with_capacity(usize::try_from(tree.outboard_size()).unwrap_or(0));
        let root = outboard_post_order(ciphertext, tree, &mut data)?;
        Ok(Outboard {
            root: Root(*root.as_bytes()),
            ciphertext_len,
            data,
        })
    }

    /// An outboard read back from storage; `None` if its length does not fit.
    pub fn from_parts(root: Root, ciphertext_len: u64, data: Vec<u8>) -> Option<Outboard> {
        (data.len() as u64 == outboard_len(ciphertext_len)).then_some(Outboard {
            root,
            ciphertext_len,
            data,
        })
    }

    /// The root.
    pub fn root(&self) -> Root {
        self.root
    }

    /// The ciphertext's length.
    pub fn ciphertext_len(&self) -> u64 {
        self.ciphertext_len
    }

    /// The post-order hash pairs.
    pub fn as_bytes(&self) -> &[u8] {
        &self.data
    }

    /// Writes the verified stream for `groups` of `ciphertext` to `out`, checking every group
    /// and hash pair against the root first (a damaged local copy is never sent).
    pub fn encode_ranges(
        &self,
        ciphertext: &[u8],
        groups: &GroupSet,
        out: impl io::Write,
    ) -> Result<(), EncodeRangeError> {
        encode(
            self.root,
            self.ciphertext_len,
            &self.data[..],
            ciphertext,
            groups,
            out,
        )
    }
}

/// Why a verified stream could not be written.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum EncodeRangeError {
    /// A requested group lies beyond the ciphertext.
    #[error("requested group {group} is past the end ({groups} groups)")]
    PastEnd {
        /// The first group that does not exist.
        group: u64,
        /// How many groups there are.
        groups: u64,
    },
    /// The local copy does not match its root: it must not be served.
    #[error("local copy is damaged at bytes {bytes:?}")]
    Damaged {
        /// The ciphertext bytes that failed.
        bytes: Range<u64>,
    },
    /// Writing to the peer failed (it went away).
    #[error("the receiver went away")]
    Write,
    /// Reading the local copy failed.
    #[error("i/o error reading the local copy")]
    Io(#[source] io::Error),
}

/// Writes the verified stream for `groups` from an outboard and data at any positioned source.
pub(crate) fn encode(
    root: Root,
    ciphertext_len: u64,
    outboard: impl ReadAt,
    data: impl ReadAt,
    groups: &GroupSet,
    out: impl io::Write,
) -> Result<(), EncodeRangeError> {
    let count = group_count(ciphertext_len);
    if let Some(end) = groups.end()
        && end > count
    {
        return Err(EncodeRangeError::PastEnd {
            group: count,
            groups: count,
        });
    }
    let tree = tree(ciphertext_len);
    let outboard = PostOrderOutboard {
        root: root.hash(),
        tree,
        data: outboard,
    };
    let ranges = groups.to_chunk_ranges();
    encode_ranges_validated(data, outboard, &ranges, out).map_err(|e| match e {
        EncodeError::ParentHashMismatch(node) => EncodeRangeError::Damaged {
            bytes: node_bytes(node, ciphertext_len),
        },
        EncodeError::LeafHashMismatch(chunk) => EncodeRangeError::Damaged {
            bytes: group_bytes(ciphertext_len, chunk.0 / CHUNKS_PER_GROUP),
        },
        EncodeError::ParentWrite(_) | EncodeError::LeafWrite(_) => EncodeRangeError::Write,
        EncodeError::Io(e) => EncodeRangeError::Io(e),
        _ => EncodeRangeError::Damaged {
            bytes: 0..ciphertext_len,
        },
    })
}

fn node_bytes(node: TreeNode, ciphertext_len: u64) -> Range<u64> {
    let chunks = node.chunk_range();
    let end = chunks.end.to_bytes().min(ciphertext_len);
    chunks.start.to_bytes().min(end)..end
}

/// One verified item of a stream, in stream order.
#[derive(Debug)]
pub enum Verified<'a> {
    /// A hash pair of the tree, checked against the hash above it. Stores keep it in their
    /// outboard so that they can serve the blob on.
    Parent(ParentHashes),
    /// A whole chunk group, checked against the root.
    Group {
        /// The group's index.
        index: u64,
        /// Its ciphertext bytes (16 KiB, or fewer for the last group).
        data: &'a [u8],
    },
}

/// A verified hash pair and its place in the tree.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ParentHashes {
    pub(crate) node: TreeNode,
    pub(crate) pair: [u8; 64],
}

impl ParentHashes {
    /// Byte offset of this pair in the post-order outboard of a ciphertext of
    /// `ciphertext_len` bytes, if the outboard stores it.
    pub(crate) fn outboard_offset(&self, ciphertext_len: u64) -> Option<u64> {
        tree(ciphertext_len)
            .post_order_offset(self.node)
            .map(|offset| offset.value() * PARENT_LEN)
    }
}

/// Why a verified stream was refused. Nothing after the failing item reached the sink.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum VerifyError {
    /// A group's bytes do not hash to what the tree says.
    #[error("group {group} (bytes {bytes:?}) does not match the root")]
    Group {
        /// The group.
        group: u64,
        /// Its ciphertext bytes.
        bytes: Range<u64>,
    },
    /// A hash pair does not hash to the node above it: everything under it is suspect.
    #[error("hashes covering bytes {bytes:?} do not match the root")]
    Parent {
        /// The ciphertext bytes under the node.
        bytes: Range<u64>,
    },
    /// The stream ended before the item covering `bytes`.
    #[error("stream ended before bytes {bytes:?}")]
    Truncated {
        /// The bytes whose item was missing.
        bytes: Range<u64>,
    },
    /// The request names groups past the end.
    #[error("requested group {group} is past the end ({groups} groups)")]
    PastEnd {
        /// The first group that does not exist.
        group: u64,
        /// How many groups there are.
        groups: u64,
    },
    /// Reading the stream failed.
    #[error("i/o error reading the stream")]
    Io(#[source] io::Error),
    /// The sink refused a verified item.
    #[error("could not store a verified group")]
    Sink(#[source] io::Error),
}

/// Reads the verified stream answering a request for `groups` of the ciphertext named `root`
/// (of `ciphertext_len` bytes), checks every hash pair and group, and hands each verified item
/// to `sink` in stream order. Returns the number of stream bytes read.
///
/// Memory stays at one group, whatever the ranges. The first failure stops the decoding.
///
/// ```
/// use tern_blob::verify::{GroupSet, Outboard, Verified, decode_ranges};
///
/// let ciphertext: Vec<u8> = (0..100_000u32).map(|i| i as u8).collect();
/// let outboard = Outboard::compute(&ciphertext[..], 100_000).unwrap();
/// let groups = GroupSet::from(2..4);
/// let mut stream = Vec::new();
/// outboard.encode_ranges(&ciphertext, &groups, &mut stream).unwrap();
///
/// let mut received = Vec::new();
/// decode_ranges(&outboard.root(), 100_000, &groups, &stream[..], |item| {
///     if let Verified::Group { data, .. } = item {
///         received.extend_from_slice(data);
///     }
///     Ok(())
/// })
/// .unwrap();
/// assert_eq!(received, &ciphertext[2 * 16384..4 * 16384]);
/// ```
pub fn decode_ranges<R: io::Read>(
    root: &Root,
    ciphertext_len: u64,
    groups: &GroupSet,
    encoded: R,
    mut sink: impl FnMut(Verified<'_>) -> io::Result<()>,
) -> Result<u64, VerifyError> {
    let count = group_count(ciphertext_len);
    if let Some(end) = groups.end()
        && end > count
    {
        return Err(VerifyError::PastEnd {
            group: count,
            groups: count,
        });
    }
    let tree = tree(ciphertext_len);
    let ranges: ChunkRanges = groups.to_chunk_ranges();
    let mut counted = CountingReader {
        inner: encoded,
        count: 0,
    };
    let iter = DecodeResponseIter::new(root.hash(), tree, &mut counted, &ranges);
    for item in iter {
        match item.map_err(|e| decode_error(e, ciphertext_len))? {
            BaoContentItem::Parent(Parent { node, pair }) => {
                let mut bytes = [0u8; 64];
                bytes[..32].copy_from_slice(pair.0.as_bytes());
                bytes[32..].copy_from_slice(pair.1.as_bytes());
                sink(Verified::Parent(ParentHashes { node, pair: bytes }))
                    .map_err(VerifyError::Sink)?;
            }
            BaoContentItem::Leaf(Leaf { offset, data }) => {
                // Requests are whole groups, so every leaf starts a group; a leaf of several
                // groups (none in bao-tree 0.17) is handed on one group at a time.
                if !offset.is_multiple_of(GROUP_LEN) {
                    return Err(VerifyError::Group {
                        group: offset / GROUP_LEN,
                        bytes: group_bytes(ciphertext_len, offset / GROUP_LEN),
                    });
                }
                for (i, part) in data.chunks(GROUP_LEN as usize).enumerate() {
                    sink(Verified::Group {
                        index: offset / GROUP_LEN + i as u64,
                        data: part,
                    })
                    .map_err(VerifyError::Sink)?;
                }
            }
        }
    }
    Ok(counted.count)
}

fn decode_error(error: DecodeError, ciphertext_len: u64) -> VerifyError {
    let group_of = |chunk: ChunkNum| chunk.0 / CHUNKS_PER_GROUP;
    match error {
        DecodeError::LeafHashMismatch(chunk) => VerifyError::Group {
            group: group_of(chunk),
            bytes: group_bytes(ciphertext_len, group_of(chunk)),
        },
        DecodeError::ParentHashMismatch(node) => VerifyError::Parent {
            bytes: node_bytes(node, ciphertext_len),
        },
        DecodeError::LeafNotFound(chunk) => VerifyError::Truncated {
            bytes: group_bytes(ciphertext_len, group_of(chunk)),
        },
        DecodeError::ParentNotFound(node) => VerifyError::Truncated {
            bytes: node_bytes(node, ciphertext_len),
        },
        DecodeError::Io(e) => VerifyError::Io(e),
    }
}

struct CountingReader<R> {
    inner: R,
    count: u64,
}

impl<R: io::Read> io::Read for CountingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count += n as u64;
        Ok(n)
    }
}

#[cfg(test)]
mod tests;
