//! The byte layout every Tern wire format and stored state is built from.
//!
//! Integers are unsigned and big-endian; fixed-size fields are written as they are; variable
//! fields carry a big-endian length prefix whose width the format names (`u16` or `u32`).
//! There is no self-description: each format in `docs/protocol/crypto.md` lists its fields in
//! order, which is what lets an independent implementation produce the same bytes.
//!
//! Decoding is strict. A reader never reads past its input, never allocates more than the
//! declared maximum of a field, and a format that has been fully read must end exactly there
//! ([`Reader::finish`]), so one message has exactly one encoding.

use std::fmt;

use thiserror::Error;
use zeroize::Zeroize;

/// Why untrusted bytes could not be decoded.
///
/// Every decoder in this crate (addresses, bundles, session messages, envelopes, stored states)
/// returns this error, or an error that wraps it, and never panics.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// The input ended before the format did.
    #[error("input truncated while reading {0}")]
    Truncated(&'static str),
    /// Bytes were left over after the last field.
    #[error("{0} unexpected bytes after the end of the format")]
    TrailingBytes(usize),
    /// The version byte names a format this build does not understand (for example one
    /// written by a newer release).
    #[error("unsupported {what} version {found} (this build understands {supported})")]
    UnsupportedVersion {
        /// Which format carried the version.
        what: &'static str,
        /// The version found.
        found: u8,
        /// The newest version this build reads.
        supported: u8,
    },
    /// A length field exceeds the maximum the format allows.
    #[error("{what} is {len} bytes, more than the maximum of {max}")]
    TooLong {
        /// Which field.
        what: &'static str,
        /// The declared length.
        len: usize,
        /// The maximum allowed.
        max: usize,
    },
    /// A field holds a value the format does not allow (an unknown tag, a point that is not a
    /// valid key, non-zero padding).
    #[error("invalid {0}")]
    Invalid(&'static str),
    /// An entry that must be unique appears twice (a prekey id, a skipped message key).
    #[error("duplicate {0}")]
    Duplicate(&'static str),
    /// Fields that are valid one by one contradict each other: a secret key that does not match
    /// its public key, a chain that cannot exist without another field. Only stored states are
    /// checked for this; such a state is corrupt.
    #[error("inconsistent {0}")]
    Inconsistent(&'static str),
}

/// Appends fields to a byte vector, leaving no copy of them behind in freed memory.
///
/// Secret state (account keys, prekey secrets, ratchet keys) is encoded through this type.
/// `Vec`'s own growth would copy the contents to a larger allocation and free the old one as
/// it is, leaving the secret bytes in the heap. So a writer never lets its vector grow by
/// itself: when a field does not fit, [`Writer::reserve`] allocates the larger buffer
/// explicitly, copies the contents, and zeroizes the old buffer before freeing it. A writer
/// dropped without [`Writer::into_vec`] zeroizes its buffer too. The capacity passed to
/// [`Writer::with_capacity`] is therefore only a hint that saves copies, not a safety condition.
#[derive(Default)]
pub(crate) struct Writer {
    buf: Vec<u8>,
    /// How many times the buffer was replaced by a larger one.
    #[cfg(test)]
    grown: usize,
}

impl Writer {
    pub(crate) fn with_capacity(capacity: usize) -> Self {
        Self {
            buf: Vec::with_capacity(capacity),
            #[cfg(test)]
            grown: 0,
        }
    }

    /// Makes room for `additional` more bytes. If the buffer must grow, the contents move to a
    /// new allocation of at least twice the capacity and the old one is zeroized.
    fn reserve(&mut self, additional: usize) {
        let needed = self.buf.len().saturating_add(additional);
        if needed <= self.buf.capacity() {
            return;
        }
        let mut grown = Vec::with_capacity(needed.max(self.buf.capacity().saturating_mul(2)));
        // Within the capacity just allocated, so this copy does not reallocate.
        grown.extend_from_slice(&self.buf);
        let mut old = std::mem::replace(&mut self.buf, grown);
        old.zeroize();
        #[cfg(test)]
        {
            self.grown += 1;
        }
    }

    pub(crate) fn u8(&mut self, value: u8) -> &mut Self {
        self.bytes(&[value])
    }

    pub(crate) fn u16(&mut self, value: u16) -> &mut Self {
        self.bytes(&value.to_be_bytes())
    }

    pub(crate) fn u32(&mut self, value: u32) -> &mut Self {
        self.bytes(&value.to_be_bytes())
    }

    pub(crate) fn u64(&mut self, value: u64) -> &mut Self {
        self.bytes(&value.to_be_bytes())
    }

    /// Every write goes through here, so every write is preceded by [`Writer::reserve`] and the
    /// vector itself never reallocates.
    pub(crate) fn bytes(&mut self, value: &[u8]) -> &mut Self {
        self.reserve(value.len());
        self.buf.extend_from_slice(value);
        self
    }

    /// `len` zero bytes (padding).
    pub(crate) fn zeros(&mut self, len: usize) -> &mut Self {
        self.reserve(len);
        self.buf.resize(self.buf.len() + len, 0);
        self
    }

    /// A field with a `u16` length prefix. A longer value is refused, never truncated: a
    /// truncated field would let two different values encode (and authenticate) alike.
    pub(crate) fn bytes_u16(
        &mut self,
        what: &'static str,
        value: &[u8],
    ) -> Result<&mut Self, DecodeError> {
        let len = u16::try_from(value.len()).map_err(|_| DecodeError::TooLong {
            what,
            len: value.len(),
            max: usize::from(u16::MAX),
        })?;
        Ok(self.u16(len).bytes(value))
    }

    /// An optional fixed-size field: a presence byte (0 or 1), then the value if present.
    pub(crate) fn option<T>(
        &mut self,
        value: Option<T>,
        write: impl FnOnce(&mut Self, T),
    ) -> &mut Self {
        match value {
            None => {
                self.u8(0);
            }
            Some(value) => {
                self.u8(1);
                write(self, value);
            }
        }
        self
    }

    pub(crate) fn len(&self) -> usize {
        self.buf.len()
    }

    /// The encoding. The caller owns it from here, and wraps it in `Zeroizing` if it is secret.
    pub(crate) fn into_vec(mut self) -> Vec<u8> {
        std::mem::take(&mut self.buf)
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        self.buf.zeroize();
    }
}

impl fmt::Debug for Writer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The contents may be secret.
        f.debug_struct("Writer")
            .field("len", &self.buf.len())
            .finish_non_exhaustive()
    }
}

/// Reads fields from untrusted bytes, strictly.
#[derive(Debug)]
pub(crate) struct Reader<'a> {
    buf: &'a [u8],
}

impl<'a> Reader<'a> {
    pub(crate) fn new(buf: &'a [u8]) -> Self {
        Self { buf }
    }

    pub(crate) fn take(&mut self, len: usize, what: &'static str) -> Result<&'a [u8], DecodeError> {
        if self.buf.len() < len {
            return Err(DecodeError::Truncated(what));
        }
        let (head, tail) = self.buf.split_at(len);
        self.buf = tail;
        Ok(head)
    }

    pub(crate) fn array<const N: usize>(
        &mut self,
        what: &'static str,
    ) -> Result<[u8; N], DecodeError> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N, what)?);
        Ok(out)
    }

    pub(crate) fn u8(&mut self, what: &'static str) -> Result<u8, DecodeError> {
        Ok(self.array::<1>(what)?[0])
    }

    pub(crate) fn u16(&mut self, what: &'static str) -> Result<u16, DecodeError> {
        Ok(u16::from_be_bytes(self.array(what)?))
    }

    pub(crate) fn u32(&mut self, what: &'static str) -> Result<u32, DecodeError> {
        Ok(u32::from_be_bytes(self.array(what)?))
    }

    pub(crate) fn u64(&mut self, what: &'static str) -> Result<u64, DecodeError> {
        Ok(u64::from_be_bytes(self.array(what)?))
    }

    /// Reads a version byte and rejects any version other than `supported`.
    pub(crate) fn version(&mut self, what: &'static str, supported: u8) -> Result<u8, DecodeError> {
        let found = self.u8(what)?;
        if found != supported {
            return Err(DecodeError::UnsupportedVersion {
                what,
                found,
                supported,
            });
        }
        Ok(found)
    }

    pub(crate) fn bytes_u16(
        &mut self,
        what: &'static str,
        max: usize,
    ) -> Result<&'a [u8], DecodeError> {
        let len = usize::from(self.u16(what)?);
        if len > max {
            return Err(DecodeError::TooLong { what, len, max });
        }
        self.take(len, what)
    }

    /// Reads a presence byte (0 or 1) and, if present, the value.
    pub(crate) fn option<T>(
        &mut self,
        what: &'static str,
        read: impl FnOnce(&mut Self) -> Result<T, DecodeError>,
    ) -> Result<Option<T>, DecodeError> {
        match self.u8(what)? {
            0 => Ok(None),
            1 => read(self).map(Some),
            _ => Err(DecodeError::Invalid(what)),
        }
    }

    /// Everything not yet read.
    pub(crate) fn rest(&mut self) -> &'a [u8] {
        std::mem::take(&mut self.buf)
    }

    pub(crate) fn remaining(&self) -> usize {
        self.buf.len()
    }

    /// Ends decoding: the format is complete, so any byte left over is an error.
    pub(crate) fn finish(self) -> Result<(), DecodeError> {
        match self.buf.len() {
            0 => Ok(()),
            n => Err(DecodeError::TrailingBytes(n)),
        }
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn fields_round_trip() {
        let mut w = Writer::default();
        w.u8(7)
            .u32(0xdead_beef)
            .u64(1 << 40)
            .bytes_u16("d", b"hello")
            .unwrap()
            .option(Some(5u32), |w, v| {
                w.u32(v);
            });
        let bytes = w.into_vec();
        let mut r = Reader::new(&bytes);
        assert_eq!(r.u8("a").unwrap(), 7);
        assert_eq!(r.u32("b").unwrap(), 0xdead_beef);
        assert_eq!(r.u64("c").unwrap(), 1 << 40);
        assert_eq!(r.bytes_u16("d", 5).unwrap(), b"hello");
        assert_eq!(r.option("f", |r| r.u32("f")).unwrap(), Some(5));
        r.finish().unwrap();
    }

    #[test]
    fn strictness() {
        assert_eq!(
            Reader::new(&[1, 2]).u32("x"),
            Err(DecodeError::Truncated("x"))
        );
        assert_eq!(
            Reader::new(&[0, 9, 1]).bytes_u16("x", 8),
            Err(DecodeError::TooLong {
                what: "x",
                len: 9,
                max: 8
            })
        );
        assert_eq!(
            Reader::new(&[2]).option("x", |r| r.u8("y")),
            Err(DecodeError::Invalid("x"))
        );
        assert_eq!(
            Reader::new(&[2]).version("v", 1).unwrap_err(),
            DecodeError::UnsupportedVersion {
                what: "v",
                found: 2,
                supported: 1
            }
        );
        assert_eq!(
            Reader::new(&[0]).finish(),
            Err(DecodeError::TrailingBytes(1))
        );
    }

    /// A length-prefixed field too long for its prefix is refused, and nothing is written:
    /// truncating it would give two different values the same encoding.
    #[test]
    fn a_field_too_long_for_its_length_prefix_is_refused() {
        let mut w = Writer::default();
        let longest = vec![1u8; usize::from(u16::MAX)];
        w.bytes_u16("field", &longest).unwrap();
        assert_eq!(w.len(), 2 + longest.len());
        let mut w = Writer::default();
        assert_eq!(
            w.bytes_u16("field", &[1u8; 65_536]).map(|_| ()),
            Err(DecodeError::TooLong {
                what: "field",
                len: 65_536,
                max: 65_535
            })
        );
        assert_eq!(w.len(), 0);
    }

    #[test]
    fn growing_moves_the_contents_to_a_new_buffer() {
        let mut w = Writer::with_capacity(4);
        w.u32(0x0102_0304);
        assert_eq!(w.grown, 0, "an exact estimate never grows");
        // One byte past the capacity, then far past it: each time a new, larger buffer.
        w.u8(5);
        assert_eq!(w.grown, 1);
        assert!(w.buf.capacity() >= 8, "capacity at least doubles");
        let long: Vec<u8> = (6..=200).collect();
        w.bytes(&long).u16(0xc9ca).bytes_u16("end", b"end").unwrap();
        assert!(w.grown >= 2);
        let mut expected: Vec<u8> = (1..=200).collect();
        expected.extend_from_slice(&[0xc9, 0xca, 0, 3, b'e', b'n', b'd']);
        assert_eq!(w.into_vec(), expected);
    }

    #[test]
    fn writes_within_the_capacity_never_grow() {
        let mut w = Writer::with_capacity(1 + 2 + 4 + 8 + 2 + 5 + 1 + 4);
        w.u8(1)
            .u16(2)
            .u32(3)
            .u64(4)
            .bytes_u16("d", b"hello")
            .unwrap()
            .option(Some(6u32), |w, v| {
                w.u32(v);
            });
        assert_eq!(w.len(), 27);
        assert_eq!(w.grown, 0);
    }

    #[test]
    fn debug_shows_no_contents() {
        let mut w = Writer::default();
        w.bytes(b"secret");
        assert!(!format!("{w:?}").contains("115"), "{w:?}");
    }

    proptest! {
        #[test]
        fn writer_keeps_every_byte_whatever_the_capacity(
            capacity in 0usize..64,
            chunks in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..40), 0..8),
        ) {
            let mut w = Writer::with_capacity(capacity);
            for chunk in &chunks {
                w.bytes(chunk);
            }
            prop_assert_eq!(w.into_vec(), chunks.concat());
        }

        #[test]
        fn reader_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            let mut r = Reader::new(&bytes);
            let _ = r.bytes_u16("a", 16).and_then(|_| r.bytes_u16("b", 16)).and_then(|_| r.u64("c"));
        }
    }
}
