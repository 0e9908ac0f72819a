//! Row keys: how each key type is laid out in bytes, so that RocksDB's byte order is the
//! key type's own order.
//!
//! RocksDB sorts the rows of a column family by comparing their keys as byte strings. Every
//! [`Key`] encoding is therefore *order-preserving* (`a < b` exactly when
//! `a.encode() < b.encode()` byte-wise) and *injective*, so that a range of typed keys is a
//! range of bytes and a scan returns rows in the order of the Rust values.
//!
//! | type | encoding | width |
//! |---|---|---|
//! | `u32`, `u64` | big-endian | 4, 8 |
//! | `[u8; N]` | the bytes | N |
//! | `String` | its UTF-8 bytes, no length and no terminator | variable |
//! | `(A, B)` | `A ‖ B`, `A` fixed-width | `A` + `B` |
//! | `(A, B, C)` | `A ‖ B ‖ C`, `A` and `B` fixed-width | `A` + `B` + `C` |
//!
//! A tuple's parts before the last must have a fixed width ([`FixedKey`]): without a length
//! prefix or terminator the boundary between two variable-width parts would be lost, and with
//! one the byte order would no longer be the tuple's order. The last part may be of any width
//! because it simply runs to the end of the key.

use std::fmt;

/// A row key type and its byte encoding.
///
/// Implementations must keep two promises, which scans rely on: the encoding is injective,
/// and it preserves order (`a < b` exactly when `a.encode() < b.encode()`, comparing bytes
/// lexicographically). Decoding must accept exactly the encodings and refuse anything else.
pub(crate) trait Key: Sized {
    /// The bytes stored as the RocksDB key.
    fn encode(&self) -> Vec<u8>;
    /// The key stored as `bytes`.
    fn decode(bytes: &[u8]) -> Result<Self, KeyError>;

    /// The first byte string after this key's encoding (`encode() ‖ 0x00`): the exclusive
    /// bound that ends a range including this key, or begins one excluding it.
    fn successor(&self) -> Vec<u8> {
        let mut bytes = self.encode();
        bytes.push(0);
        bytes
    }
}

/// A key whose encoding always has the same length, so that it can precede other parts of a
/// tuple key without a separator.
pub(crate) trait FixedKey: Key {
    /// The length of every encoding.
    const WIDTH: usize;
}

/// Bytes that are not the encoding of any key of the expected type. Row keys read back from
/// the database should never be this; the store reports it as corruption of the table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct KeyError {
    /// What was expected, for the error message: "8-byte u64", "UTF-8 string", ...
    pub(crate) expected: &'static str,
    /// The length of the bytes that were offered.
    pub(crate) len: usize,
}

impl fmt::Display for KeyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "row key of {} bytes is not a {}",
            self.len, self.expected
        )
    }
}

impl std::error::Error for KeyError {}

fn exact<const N: usize>(bytes: &[u8], expected: &'static str) -> Result<[u8; N], KeyError> {
    bytes.try_into().map_err(|_| KeyError {
        expected,
        len: bytes.len(),
    })
}

impl Key for u64 {
    /// Big-endian, so that byte order is numeric order.
    fn encode(&self) -> Vec<u8> {
        self.to_be_bytes().to_vec()
    }

    fn decode(bytes: &[u8]) -> Result<Self, KeyError> {
        exact::<8>(bytes, "8-byte u64").map(u64::from_be_bytes)
    }
}

impl FixedKey for u64 {
    const WIDTH: usize = 8;
}

impl Key for u32 {
    /// Big-endian, so that byte order is numeric order.
    fn encode(&self) -> Vec<u8> {
        self.to_be_bytes().to_vec()
    }

    fn decode(bytes: &[u8]) -> Result<Self, KeyError> {
        exact::<4>(bytes, "4-byte u32").map(u32::from_be_bytes)
    }
}

impl FixedKey for u32 {
    const WIDTH: usize = 4;
}

impl<const N: usize> Key for [u8; N] {
    fn encode(&self) -> Vec<u8> {
        self.to_vec()
    }

    fn decode(bytes: &[u8]) -> Result<Self, KeyError> {
        exact::<N>(bytes, "fixed-width byte array")
    }
}

impl<const N: usize> FixedKey for [u8; N] {
    const WIDTH: usize = N;
}

impl Key for String {
    /// The UTF-8 bytes as they are: `str`'s order is the byte order of its UTF-8 encoding.
    fn encode(&self) -> Vec<u8> {
        self.as_bytes().to_vec()
    }

    fn decode(bytes: &[u8]) -> Result<Self, KeyError> {
        String::from_utf8(bytes.to_vec()).map_err(|_| KeyError {
            expected: "UTF-8 string",
            len: bytes.len(),
        })
    }
}

/// Splits off the first `A::WIDTH` bytes.
fn split<A: FixedKey>(bytes: &[u8]) -> Result<(A, &[u8]), KeyError> {
    let Some((head, rest)) = bytes.split_at_checked(A::WIDTH) else {
        return Err(KeyError {
            expected: "tuple key (too short)",
            len: bytes.len(),
        });
    };
    Ok((A::decode(head)?, rest))
}

impl<A: FixedKey, B: Key> Key for (A, B) {
    fn encode(&self) -> Vec<u8> {
        let mut out = self.0.encode();
        out.extend_from_slice(&self.1.encode());
        out
    }

    fn decode(bytes: &[u8]) -> Result<Self, KeyError> {
        let (a, rest) = split::<A>(bytes)?;
        Ok((a, B::decode(rest)?))
    }
}

impl<A: FixedKey, B: FixedKey> FixedKey for (A, B) {
    const WIDTH: usize = A::WIDTH + B::WIDTH;
}

impl<A: FixedKey, B: FixedKey, C: Key> Key for (A, B, C) {
    fn encode(&self) -> Vec<u8> {
        let mut out = self.0.encode();
        out.extend_from_slice(&self.1.encode());
        out.extend_from_slice(&self.2.encode());
        out
    }

    fn decode(bytes: &[u8]) -> Result<Self, KeyError> {
        let (a, rest) = split::<A>(bytes)?;
        let (b, rest) = split::<B>(rest)?;
        Ok((a, b, C::decode(rest)?))
    }
}

impl<A: FixedKey, B: FixedKey, C: FixedKey> FixedKey for (A, B, C) {
    const WIDTH: usize = A::WIDTH + B::WIDTH + C::WIDTH;
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn round_trip<K: Key + PartialEq + fmt::Debug>(key: K) {
        assert_eq!(K::decode(&key.encode()).unwrap(), key);
    }

    #[test]
    fn encodings_are_the_documented_bytes() {
        assert_eq!(0x0102_0304_0506_0708u64.encode(), [1, 2, 3, 4, 5, 6, 7, 8]);
        assert_eq!(0x0102_0304u32.encode(), [1, 2, 3, 4]);
        assert_eq!([9u8, 8, 7].encode(), [9, 8, 7]);
        assert_eq!("hé".to_string().encode(), "hé".as_bytes());
        assert_eq!(
            ([0xaa_u8; 2], 1u64).encode(),
            [0xaa, 0xaa, 0, 0, 0, 0, 0, 0, 0, 1]
        );
        assert_eq!(
            ([0xaa_u8; 2], 2u32, "x".to_string()).encode(),
            [0xaa, 0xaa, 0, 0, 0, 2, b'x']
        );
        round_trip(u64::MAX);
        round_trip(([1u8; 16], 5u64, [2u8; 16]));
        round_trip(([1u8; 16], String::new()));
    }

    #[test]
    fn malformed_keys_are_refused() {
        assert_eq!(
            u64::decode(&[0; 7]),
            Err(KeyError {
                expected: "8-byte u64",
                len: 7
            })
        );
        assert!(u64::decode(&[0; 9]).is_err());
        assert!(u32::decode(&[]).is_err());
        assert!(<[u8; 16]>::decode(&[0; 15]).is_err());
        assert!(String::decode(&[0xff]).is_err());
        assert!(<([u8; 16], u64)>::decode(&[0; 23]).is_err());
        assert!(<([u8; 16], u64)>::decode(&[0; 25]).is_err());
        assert!(<([u8; 16], u64, [u8; 16])>::decode(&[0; 39]).is_err());
        assert!(<([u8; 2], String)>::decode(&[0]).is_err());
        assert_eq!(
            <([u8; 2], String)>::decode(&[0, 0]).unwrap(),
            ([0, 0], String::new())
        );
        assert_eq!(
            KeyError {
                expected: "8-byte u64",
                len: 7
            }
            .to_string(),
            "row key of 7 bytes is not a 8-byte u64"
        );
    }

    #[test]
    fn widths_add_up() {
        assert_eq!(<([u8; 16], u64, [u8; 16])>::WIDTH, 40);
        assert_eq!(<(u32, u64)>::WIDTH, 12);
    }

    proptest! {
        #[test]
        fn u64_order_is_byte_order(a: u64, b: u64) {
            prop_assert_eq!(a.cmp(&b), a.encode().cmp(&b.encode()));
            round_trip(a);
        }

        #[test]
        fn string_order_is_byte_order(a: String, b: String) {
            prop_assert_eq!(a.cmp(&b), a.encode().cmp(&b.encode()));
            round_trip(a);
        }

        #[test]
        fn tuple_order_is_byte_order(
            a: ([u8; 2], u64, [u8; 3]),
            b: ([u8; 2], u64, [u8; 3]),
            s: String,
            t: String,
        ) {
            prop_assert_eq!(a.cmp(&b), a.encode().cmp(&b.encode()));
            let (x, y) = ((a.1, s), (b.1, t));
            prop_assert_eq!(x.cmp(&y), x.encode().cmp(&y.encode()));
            round_trip(a);
            round_trip(x);
        }

        #[test]
        fn decoding_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..48)) {
            let _ = <([u8; 16], u64, [u8; 16])>::decode(&bytes);
            let _ = <(u32, String)>::decode(&bytes);
            let _ = String::decode(&bytes);
        }
    }
}
