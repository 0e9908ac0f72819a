//! Chunked encryption of the padded plaintext: ChaCha20-Poly1305 (RFC 8439) in the STREAM
//! construction of Hoang, Reyhanitabar, Rogaway and Vizár ("Online Authenticated-Encryption
//! and its Nonce-Reuse Misuse-Resistance", CRYPTO 2015).
//!
//! # Format
//!
//! The padded plaintext (see [`crate::pad`]) of `P` bytes is cut into chunks of
//! [`CHUNK_LEN`] = 65,536 bytes; the last chunk holds the remaining `1 ..= 65,536` bytes, so
//! there are `n = ⌈P / 65,536⌉ ≥ 1` chunks. Chunk `i` (from 0) is sealed on its own:
//!
//! ```text
//! key     = the file key: 32 random bytes, fresh for every file, never derived from content
//! nonce_i = 0x00000000 ‖ i as u64 big-endian                                   (12 bytes)
//! ad_i    = "tern/blob/v1" ‖ flag_i, flag_i = 0x01 if i = n − 1, else 0x00   (13 bytes)
//! sealed_i = ChaCha20-Poly1305-Seal(key, nonce_i, ad_i, chunk_i)    = ciphertext ‖ 16-byte tag
//! ciphertext = sealed_0 ‖ sealed_1 ‖ … ‖ sealed_{n−1}
//! ```
//!
//! so the ciphertext is `C = P + 16·n` bytes long and sealed chunk `i` starts at byte
//! `i · 65,552`. Because the index is in the nonce, a chunk moved to another position, a
//! duplicated chunk or a dropped chunk fails to open; because the final flag is in the
//! associated data, a ciphertext cut at a chunk boundary fails too (its new last chunk was
//! sealed as non-final), and so does a ciphertext with chunks appended after the final one.
//! Every key encrypts exactly one file, so a (key, nonce) pair never repeats.
//!
//! # Streaming and seeking
//!
//! [`EncryptReader`] turns any plaintext reader into ciphertext, holding one chunk in memory; it
//! learns the file's length when the input ends. [`DecryptReader`] does the reverse, also one
//! chunk at a time, and over a seekable source it seeks: a read at plaintext offset `x`
//! decrypts from chunk `⌊x / 65,536⌋`, which starts at ciphertext byte `⌊x / 65,536⌋ · 65,552`.
//! [`DecryptReader::starting_at`] starts a non-seekable source (a range download) at any chunk.

use std::{fmt, io};

use chacha20poly1305::{AeadInOut, ChaCha20Poly1305, KeyInit, Tag};
use rand_core::CryptoRng;
use serde::{Deserialize, Serialize};
use thiserror::Error;
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use crate::pad::{self, TooLarge};

mod read;

pub use read::{DecryptReader, EncryptReader};
pub(crate) use read::{open_error, seal_error};

/// Plaintext bytes per chunk.
///
/// 64 KiB amortises the 16-byte tag to 0.024 % and is small enough that a reader holds only a
/// couple of chunks in memory and a player can start after the first one.
pub const CHUNK_LEN: u64 = 64 * 1024;
/// Poly1305 tag length.
pub const TAG_LEN: u64 = 16;
/// Ciphertext bytes per full chunk.
pub const SEALED_CHUNK_LEN: u64 = CHUNK_LEN + TAG_LEN;
/// The largest ciphertext: that of the largest padded plaintext.
pub const MAX_CIPHERTEXT_LEN: u64 = ciphertext_len_of(pad::MAX_PADDED_LEN);

/// Label at the start of every chunk's associated data; names the format's version.
const AD_LABEL: &[u8; 12] = b"tern/blob/v1";
const FLAG_MORE: u8 = 0x00;
const FLAG_FINAL: u8 = 0x01;

/// Ciphertext length of a padded plaintext of `padded_len` bytes: one tag per chunk.
const fn ciphertext_len_of(padded_len: u64) -> u64 {
    padded_len + TAG_LEN * chunk_count(padded_len)
}

/// Number of chunks of a padded plaintext of `padded_len` bytes (at least one).
pub const fn chunk_count(padded_len: u64) -> u64 {
    if padded_len == 0 {
        1
    } else {
        padded_len.div_ceil(CHUNK_LEN)
    }
}

/// Whether `len` is the ciphertext length of some attachment (of a padded plaintext that is a
/// bucket): the check a relay applies to an announced upload.
pub fn is_ciphertext_len(len: u64) -> bool {
    let mut padded = pad::MIN_BUCKET;
    while padded <= pad::MAX_PADDED_LEN {
        let ciphertext = ciphertext_len_of(padded);
        if ciphertext >= len {
            return ciphertext == len;
        }
        padded = pad::next_bucket(padded);
    }
    false
}

/// The three lengths of one attachment, consistent by construction: plaintext `L`, padded
/// `P = padded_len(L)`, ciphertext `C = P + 16 · ⌈P / 65,536⌉`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Lengths {
    plaintext: u64,
    padded: u64,
    ciphertext: u64,
}

impl Lengths {
    /// The lengths of a file of `plaintext_len` bytes.
    ///
    /// ```
    /// let lengths = tern_blob::Lengths::for_plaintext(1_000_000).unwrap();
    /// assert_eq!(lengths.padded(), 1_004_138);
    /// assert_eq!(lengths.ciphertext(), 1_004_138 + 16 * 16);
    /// ```
    pub fn for_plaintext(plaintext_len: u64) -> Result<Lengths, TooLarge> {
        let padded = pad::padded_len(plaintext_len)?;
        Ok(Lengths {
            plaintext: plaintext_len,
            padded,
            ciphertext: ciphertext_len_of(padded),
        })
    }

    /// Checks lengths received from elsewhere (a descriptor): `None` unless they are exactly
    /// the ones [`Lengths::for_plaintext`] gives.
    pub fn check(plaintext: u64, padded: u64, ciphertext: u64) -> Option<Lengths> {
        let lengths = Self::for_plaintext(plaintext).ok()?;
        (lengths.padded == padded && lengths.ciphertext == ciphertext).then_some(lengths)
    }

    /// The file's length.
    pub fn plaintext(&self) -> u64 {
        self.plaintext
    }

    /// The padded plaintext's length.
    pub fn padded(&self) -> u64 {
        self.padded
    }

    /// The ciphertext's length: what is stored, hashed and transferred.
    pub fn ciphertext(&self) -> u64 {
        self.ciphertext
    }

    /// Number of STREAM chunks.
    pub fn chunks(&self) -> u64 {
        chunk_count(self.padded)
    }

    /// Where plaintext bytes `plaintext` lie in the ciphertext: the index of the first sealed
    /// chunk holding them and the ciphertext bytes of all the sealed chunks that do. Fetch
    /// those bytes (for example the groups [`crate::GroupSet::covering_bytes`] gives) and
    /// decrypt them with [`DecryptReader::starting_at`]: what a range request or a player
    /// starting mid-file needs.
    ///
    /// ```
    /// let lengths = tern_blob::Lengths::for_plaintext(1_000_000).unwrap();
    /// let (chunk, bytes) = lengths.chunks_for(70_000..70_001);
    /// assert_eq!((chunk, bytes), (1, 65_552..131_104));
    /// ```
    pub fn chunks_for(&self, plaintext: std::ops::Range<u64>) -> (u64, std::ops::Range<u64>) {
        let start = plaintext.start.min(self.plaintext);
        let end = plaintext.end.clamp(start, self.plaintext);
        let first = start / CHUNK_LEN;
        let last = if end > start {
            end.div_ceil(CHUNK_LEN)
        } else {
            first
        };
        let bytes_start = (first * SEALED_CHUNK_LEN).min(self.ciphertext);
        let bytes_end = (last * SEALED_CHUNK_LEN).min(self.ciphertext);
        (first, bytes_start..bytes_end)
    }
}

/// A file key: 32 random bytes that encrypt exactly one file. Wiped when dropped; its `Debug`
/// prints nothing of it. Serialized as a 32-byte array (postcard: 32 raw bytes), inside the
/// end-to-end encrypted descriptor only.
#[derive(Zeroize, ZeroizeOnDrop, PartialEq, Eq)]
pub struct FileKey(Box<[u8; 32]>);

impl FileKey {
    /// Draws a fresh key. Never reuse a key for a second file: the nonces would repeat.
    pub fn generate<R: CryptoRng + ?Sized>(rng: &mut R) -> FileKey {
        let mut key = Box::new([0u8; 32]);
        rng.fill_bytes(key.as_mut_slice());
        FileKey(key)
    }

    /// The key received in a descriptor.
    pub fn from_bytes(bytes: [u8; 32]) -> FileKey {
        let mut bytes = Zeroizing::new(bytes);
        let mut key = Box::new([0u8; 32]);
        key.copy_from_slice(bytes.as_mut_slice());
        FileKey(key)
    }

    /// The key's bytes, to put in a descriptor.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    fn cipher(&self) -> ChaCha20Poly1305 {
        ChaCha20Poly1305::new((&*self.0).into())
    }
}

impl fmt::Debug for FileKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("FileKey(..)")
    }
}

impl Serialize for FileKey {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for FileKey {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let bytes = Zeroizing::new(<[u8; 32]>::deserialize(deserializer)?);
        Ok(FileKey::from_bytes(*bytes))
    }
}

/// Why encryption stopped.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum SealError {
    /// The input is longer than an attachment may be.
    #[error(transparent)]
    TooLarge(#[from] TooLarge),
    /// The input's length differs from the length declared for it.
    #[error("input has {actual} bytes, {declared} were declared")]
    LengthMismatch {
        /// The declared length.
        declared: u64,
        /// At least this many bytes were read.
        actual: u64,
    },
    /// Reading the input or writing the output failed.
    #[error("i/o error while encrypting")]
    Io(#[source] io::Error),
}

/// Why decryption stopped. Every variant but `Io` means the ciphertext is not what the sender
/// produced with this key: nothing after the failing chunk is returned.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum OpenError {
    /// The chunk does not authenticate: flipped bits, a chunk from another position or file, a
    /// wrong key, or a final flag where none belongs.
    #[error("chunk {index} does not authenticate")]
    Chunk {
        /// The chunk's index.
        index: u64,
    },
    /// The ciphertext ends before the length it should have.
    #[error("ciphertext ends inside chunk {index}")]
    Truncated {
        /// The chunk that is cut short or missing.
        index: u64,
    },
    /// Bytes follow the final chunk.
    #[error("data after the final chunk")]
    TrailingData,
    /// The padding is not zeros followed by the file's length.
    #[error("padding does not match the announced length")]
    Padding,
    /// The lengths given do not belong together.
    #[error("inconsistent lengths")]
    Lengths,
    /// Reading the ciphertext failed.
    #[error("i/o error while decrypting")]
    Io(#[source] io::Error),
}

impl From<OpenError> for io::Error {
    fn from(error: OpenError) -> io::Error {
        match error {
            OpenError::Io(error) => error,
            other => io::Error::new(io::ErrorKind::InvalidData, other),
        }
    }
}

fn nonce(index: u64) -> [u8; 12] {
    let mut nonce = [0u8; 12];
    nonce[4..].copy_from_slice(&index.to_be_bytes());
    nonce
}

fn associated_data(last: bool) -> [u8; 13] {
    let mut ad = [0u8; 13];
    ad[..12].copy_from_slice(AD_LABEL);
    ad[12] = if last { FLAG_FINAL } else { FLAG_MORE };
    ad
}

/// Seals `chunk` in place as chunk `index` and appends the tag.
fn seal_chunk(cipher: &ChaCha20Poly1305, index: u64, last: bool, chunk: &mut Vec<u8>) {
    let nonce = nonce(index);
    let len = chunk.len();
    // ChaCha20-Poly1305 refuses only inputs beyond 256 GiB; a chunk is 64 KiB.
    let tag = cipher
        .encrypt_inout_detached(
            (&nonce).into(),
            &associated_data(last),
            chunk[..len].as_mut().into(),
        )
        .unwrap_or_default();
    chunk.extend_from_slice(&tag);
}

/// Opens sealed chunk `index` in place, leaving the plaintext in `chunk`.
fn open_chunk(
    cipher: &ChaCha20Poly1305,
    index: u64,
    last: bool,
    chunk: &mut Vec<u8>,
) -> Result<(), OpenError> {
    let tag_at = chunk
        .len()
        .checked_sub(TAG_LEN as usize)
        .ok_or(OpenError::Truncated { index })?;
    let tag = Tag::try_from(&chunk[tag_at..]).map_err(|_| OpenError::Chunk { index })?;
    let nonce = nonce(index);
    cipher
        .decrypt_inout_detached(
            (&nonce).into(),
            &associated_data(last),
            chunk[..tag_at].as_mut().into(),
            &tag,
        )
        .map_err(|_| OpenError::Chunk { index })?;
    chunk.truncate(tag_at);
    Ok(())
}

/// Encrypts a whole file held in memory. For tests, vectors and small files; use
/// [`EncryptReader`] for anything large.
///
/// ```
/// use tern_blob::{FileKey, stream};
///
/// let mut rng = rand_core::UnwrapErr(getrandom::SysRng);
/// let key = FileKey::generate(&mut rng);
/// let (ciphertext, lengths) = stream::encrypt(&key, b"hello").unwrap();
/// assert_eq!(ciphertext.len() as u64, lengths.ciphertext());
/// assert_eq!(stream::decrypt(&key, &lengths, &ciphertext).unwrap(), b"hello");
/// ```
pub fn encrypt(key: &FileKey, plaintext: &[u8]) -> Result<(Vec<u8>, Lengths), SealError> {
    let lengths = Lengths::for_plaintext(plaintext.len() as u64)?;
    let mut reader = EncryptReader::new(key, plaintext);
    let mut out = Vec::with_capacity(usize::try_from(lengths.ciphertext()).unwrap_or(0));
    io::copy(&mut reader, &mut out).map_err(seal_error)?;
    Ok((out, lengths))
}

/// Decrypts a whole ciphertext held in memory, checking it against `lengths`.
pub fn decrypt(key: &FileKey, lengths: &Lengths, ciphertext: &[u8]) -> Result<Vec<u8>, OpenError> {
    if ciphertext.len() as u64 > lengths.ciphertext() {
        return Err(OpenError::TrailingData);
    }
    let mut reader = DecryptReader::new(key, *lengths, ciphertext);
    let mut out = Vec::with_capacity(usize::try_from(lengths.plaintext()).unwrap_or(0));
    io::copy(&mut reader, &mut out).map_err(open_error)?;
    Ok(out)
}

#[cfg(test)]
mod tests;
