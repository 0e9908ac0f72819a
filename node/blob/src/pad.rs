//! Padding: every file is stretched to one of a fixed sequence of sizes, so that the length of
//! its ciphertext tells an observer (a relay, a network peer) the file's size only to within
//! 5 %.
//!
//! # Buckets
//!
//! The bucket sizes are defined exactly, in integers, by
//!
//! ```text
//! B₀     = 1024                         (MIN_BUCKET)
//! Bₖ₊₁   = Bₖ + ⌈Bₖ / 20⌉               (so Bₖ ≈ 1024 · 1.05ᵏ, each at most 5 % + 1 byte above the last)
//! ```
//!
//! giving 1024, 1076, 1130, 1187, 1247, … The sequence is the same for every implementation;
//! no floating point is involved.
//!
//! # Padded plaintext
//!
//! A file of `L` bytes becomes the padded plaintext of `P` bytes, where `P` is the smallest
//! bucket with `P ≥ L + 8`:
//!
//! ```text
//! padded = file (L bytes) ‖ zeros (P − L − 8 bytes) ‖ L as u64 big-endian (8 bytes, the trailer)
//! ```
//!
//! The trailer makes the padded plaintext self-delimiting: an encryptor can start before it
//! knows the file's length (a streamed upload) and place the trailer once the input ends. A
//! decryptor accepts the padded plaintext only if it is canonical: the padding bytes are all
//! zero, the trailer's `L` satisfies `P == padded_len(L)`, and `L` is the length the descriptor
//! announced.

use thiserror::Error;

/// The smallest bucket: files up to `MIN_BUCKET − 8` bytes all pad to this size.
///
/// 1 KiB keeps tiny files (most are sent inline anyway, see the descriptor) indistinguishable
/// from one another at a cost of at most a kilobyte.
pub const MIN_BUCKET: u64 = 1024;
/// Length of the trailer that ends every padded plaintext: the file's length, u64 big-endian.
pub const TRAILER_LEN: u64 = 8;
/// The largest file the format carries: 100 MB, the product's limit for documents.
pub const MAX_PLAINTEXT_LEN: u64 = 100_000_000;
/// The largest padded plaintext: the bucket of [`MAX_PLAINTEXT_LEN`].
pub const MAX_PADDED_LEN: u64 = bucket_for(MAX_PLAINTEXT_LEN + TRAILER_LEN);

/// A file longer than the format allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
#[error("file of {len} bytes is larger than the {max} bytes an attachment may have")]
pub struct TooLarge {
    /// The file's length.
    pub len: u64,
    /// The limit.
    pub max: u64,
}

/// The bucket after `bucket`: `bucket + ⌈bucket / 20⌉`.
pub const fn next_bucket(bucket: u64) -> u64 {
    bucket + bucket.div_ceil(20)
}

/// The smallest bucket of at least `len` bytes.
const fn bucket_for(len: u64) -> u64 {
    let mut bucket = MIN_BUCKET;
    while bucket < len {
        bucket = next_bucket(bucket);
    }
    bucket
}

/// The padded length of a file of `plaintext_len` bytes: the smallest bucket holding the file
/// and its trailer.
///
/// ```
/// use tern_blob::pad::{padded_len, MIN_BUCKET};
///
/// assert_eq!(padded_len(0).unwrap(), MIN_BUCKET);
/// assert_eq!(padded_len(1016).unwrap(), 1024);
/// assert_eq!(padded_len(1017).unwrap(), 1076);
/// assert!(padded_len(100_000_001).is_err());
/// ```
pub fn padded_len(plaintext_len: u64) -> Result<u64, TooLarge> {
    if plaintext_len > MAX_PLAINTEXT_LEN {
        return Err(TooLarge {
            len: plaintext_len,
            max: MAX_PLAINTEXT_LEN,
        });
    }
    Ok(bucket_for(plaintext_len + TRAILER_LEN))
}

/// Whether `len` is one of the bucket sizes (up to [`MAX_PADDED_LEN`]).
pub fn is_bucket(len: u64) -> bool {
    len <= MAX_PADDED_LEN && bucket_for(len) == len
}

/// The trailer for a file of `plaintext_len` bytes.
pub(crate) fn trailer(plaintext_len: u64) -> [u8; TRAILER_LEN as usize] {
    plaintext_len.to_be_bytes()
}

/// The byte at offset `at` of the padding that follows a file of `plaintext_len` bytes padded
/// to `padded_len` (`plaintext_len ≤ at < padded_len`).
pub(crate) fn padding_byte(plaintext_len: u64, padded_len: u64, at: u64) -> u8 {
    let trailer_start = padded_len - TRAILER_LEN;
    if at < trailer_start {
        0
    } else {
        // `at − trailer_start` is below 8 by the caller's contract.
        let index = usize::try_from(at - trailer_start).unwrap_or(0);
        trailer(plaintext_len).get(index).copied().unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sequence_starts_as_documented() {
        let mut b = MIN_BUCKET;
        let mut seq = vec![b];
        for _ in 0..4 {
            b = next_bucket(b);
            seq.push(b);
        }
        assert_eq!(seq, [1024, 1076, 1130, 1187, 1247]);
    }

    #[test]
    fn overhead_is_at_most_five_percent_above_the_minimum() {
        for len in [
            0u64,
            1,
            1016,
            1017,
            65_536,
            1_000_000,
            16_000_000,
            MAX_PLAINTEXT_LEN,
        ] {
            let padded = padded_len(len).unwrap();
            assert!(padded >= len + TRAILER_LEN);
            assert!(is_bucket(padded));
            if len + TRAILER_LEN > MIN_BUCKET {
                // At most 5 % of the previous bucket plus the ceiling's byte.
                assert!(padded as f64 <= (len + TRAILER_LEN) as f64 * 1.05 + 1.0);
            }
        }
    }

    #[test]
    fn the_largest_bucket_is_pinned() {
        // Pinned so that a change to the sequence is a deliberate format change.
        assert_eq!(MAX_PADDED_LEN, padded_len(MAX_PLAINTEXT_LEN).unwrap());
        const { assert!(MAX_PADDED_LEN < MAX_PLAINTEXT_LEN + MAX_PLAINTEXT_LEN / 20 + 2) };
        assert_eq!(MAX_PADDED_LEN, 103_462_001);
    }

    #[test]
    fn padding_bytes_are_zeros_then_the_trailer() {
        let p = padded_len(3).unwrap();
        let bytes: Vec<u8> = (3..p).map(|at| padding_byte(3, p, at)).collect();
        assert!(bytes[..bytes.len() - 8].iter().all(|&b| b == 0));
        assert_eq!(&bytes[bytes.len() - 8..], &3u64.to_be_bytes());
    }
}
