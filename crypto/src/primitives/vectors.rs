//! Published test vectors, run through the wrappers in [`crate::primitives`].
//!
//! The point of these tests is that the calls every protocol module makes produce the bytes the
//! specifications publish, so the operation under test always goes through the wrapper. The
//! underlying crates are used only to build inputs: an Ed25519 `SigningKey` from its 32-byte
//! seed (the type `ed25519_sign` takes), and its public key, for which `primitives` has no
//! wrapper.
//!
//! Two kinds of vectors are covered:
//!
//! - [`rfc`]: the worked examples printed in the specifications, typed in as hex constants and
//!   each citing its section. RFC 7748 (X25519, §5.2 and §6.1), RFC 8032 §7.1 (Ed25519),
//!   FIPS 180-2 appendix B (SHA-256), RFC 4231 (HMAC-SHA256), RFC 5869 appendix A (HKDF-SHA256),
//!   RFC 8439 §2.8.2 and §A.5 (ChaCha20-Poly1305), draft-irtf-cfrg-xchacha §A.3.1
//!   (XChaCha20-Poly1305), RFC 9180 §A.2.1 (HPKE base mode with this crate's suite) and
//!   RFC 9106 §5.3 (Argon2id). The values were copied from the specifications as reproduced in
//!   the test suites of the implementing crates and of other public projects, and compared
//!   between independent copies; a mistyped byte would make its test fail.
//! - [`wycheproof_sets`]: Project Wycheproof's edge-case suites for X25519, Ed25519,
//!   ChaCha20-Poly1305, XChaCha20-Poly1305, HKDF-SHA256, HMAC-SHA256 and ML-KEM-768, read from
//!   the JSON files the `wycheproof` crate ships. Each test asserts that it ran a non-zero number
//!   of cases, so an empty or renamed set cannot pass silently, and the rules for Wycheproof's
//!   "acceptable" results are spelled out where they apply.

mod rfc;
mod wycheproof_sets;

use core::convert::Infallible;

use rand_core::{TryCryptoRng, TryRng};

/// Decodes a hex constant, ignoring whitespace so long values can be split across lines.
/// A malformed constant panics, which fails the test that uses it.
fn h(hex: &str) -> Vec<u8> {
    let compact: String = hex.split_whitespace().collect();
    hex::decode(compact).unwrap()
}

/// Decodes a hex constant of a fixed length.
fn a<const N: usize>(hex: &str) -> [u8; N] {
    let bytes = h(hex);
    let len = bytes.len();
    bytes
        .try_into()
        .unwrap_or_else(|_| panic!("constant is {len} bytes, expected {N}"))
}

/// Copies a slice into a fixed-size array, or `None` when the length differs. Wycheproof uses
/// wrong-length inputs as invalid cases, and the wrappers take fixed-size arrays, so for them
/// "refused" means exactly that this conversion fails.
fn fixed<const N: usize>(bytes: &[u8]) -> Option<[u8; N]> {
    bytes.try_into().ok()
}

/// An RNG that hands out exactly the bytes it was given and panics if asked for more.
///
/// Reproducing a published ciphertext needs the "random" input to be the one the vector used,
/// and the test must notice if the code under test draws more than the vector assumes; the
/// caller checks [`FixedRng::exhausted`] afterwards to notice if it drew less.
#[derive(Debug)]
struct FixedRng {
    bytes: Vec<u8>,
    position: usize,
}

impl FixedRng {
    fn new(bytes: Vec<u8>) -> Self {
        Self { bytes, position: 0 }
    }

    fn exhausted(&self) -> bool {
        self.position == self.bytes.len()
    }
}

impl TryRng for FixedRng {
    type Error = Infallible;

    fn try_next_u32(&mut self) -> Result<u32, Self::Error> {
        let mut word = [0u8; 4];
        self.try_fill_bytes(&mut word)?;
        Ok(u32::from_le_bytes(word))
    }

    fn try_next_u64(&mut self) -> Result<u64, Self::Error> {
        let mut word = [0u8; 8];
        self.try_fill_bytes(&mut word)?;
        Ok(u64::from_le_bytes(word))
    }

    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Self::Error> {
        let end = self.position + dst.len();
        assert!(
            end <= self.bytes.len(),
            "the code under test drew {end} random bytes, but the vector supplies only {}",
            self.bytes.len()
        );
        dst.copy_from_slice(&self.bytes[self.position..end]);
        self.position = end;
        Ok(())
    }
}

impl TryCryptoRng for FixedRng {}
