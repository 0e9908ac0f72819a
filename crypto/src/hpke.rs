//! HPKE (RFC 9180) in base mode for the one suite Tern uses, DHKEM(X25519, HKDF-SHA256) /
//! HKDF-SHA256 / ChaCha20-Poly1305 (`0x0020` / `0x0001` / `0x0003`), for protocols outside this
//! crate that specify their own use of HPKE: MLS (RFC 9420) encrypts path secrets and group
//! secrets with `SealBase`/`OpenBase` and derives tree keys with `DeriveKeyPair`.
//!
//! These are the same computations the sealed envelope uses (see `docs/protocol/crypto.md`),
//! with X25519 and ChaCha20-Poly1305 on AWS-LC; this module only exposes them over plain
//! byte arrays:
//!
//! ```text
//! seal(pkR, info, aad, pt)          = SealBase(pkR, info, aad, pt)          -> (enc, ct ‖ tag)
//! open(skR, enc, info, aad, ct)     = OpenBase(enc, skR, info, aad, ct)
//! send_export(pkR, info, ctx, L)    = SendExport(pkR, info, ctx, L)          -> (enc, secret)
//! receive_export(skR, enc, info, …) = ReceiveExport(enc, skR, info, ctx, L)
//! derive_key_pair(ikm)              = DeriveKeyPair(ikm)                     -> (skR, pkR)
//! ```
//!
//! Every function takes its randomness from the caller (`rng`, 32 bytes per encapsulation)
//! and fails with a typed [`HpkeError`].
//!
//! ```
//! use tern_crypto::hpke;
//!
//! let mut rng = rand_core::UnwrapErr(getrandom::SysRng);
//! let (secret, public) = hpke::derive_key_pair(&[7; 32]).unwrap();
//! let (enc, sealed) = hpke::seal(&mut rng, &public, b"info", b"aad", b"hello").unwrap();
//! let opened = hpke::open(&secret, &enc, b"info", b"aad", &sealed).unwrap();
//! assert_eq!(opened.as_slice(), b"hello");
//! ```

use rand_core::CryptoRng;
use zeroize::Zeroizing;

use crate::primitives::{self, PrimitiveError, X25519StaticSecret};

/// Length of `enc`, the encapsulated key (an X25519 public key).
pub const ENC_LEN: usize = 32;
/// Length of an X25519 public or secret key.
pub const KEY_LEN: usize = 32;
/// Length of the ChaCha20-Poly1305 tag that follows every ciphertext.
pub const TAG_LEN: usize = 16;

/// Why an HPKE operation was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum HpkeError {
    /// The recipient's key (or `enc`) has small order: Diffie-Hellman gave all zeros.
    #[error("the public key has small order")]
    NonContributory,
    /// Opening failed: wrong key, tampered ciphertext, wrong `info` or `aad`.
    #[error("the ciphertext did not authenticate")]
    Authentication,
    /// More exporter output was asked for than HKDF-SHA256 gives (255 × 32 bytes).
    #[error("the requested output is too long")]
    OutputTooLong,
    /// The plaintext is beyond the AEAD's length limit.
    #[error("the plaintext could not be sealed")]
    SealFailed,
}

fn error(error: PrimitiveError) -> HpkeError {
    match error {
        PrimitiveError::NonContributory => HpkeError::NonContributory,
        PrimitiveError::OutputTooLong => HpkeError::OutputTooLong,
        PrimitiveError::SealFailed => HpkeError::SealFailed,
        PrimitiveError::Authentication
        | PrimitiveError::BadSignature
        | PrimitiveError::InvalidKey => HpkeError::Authentication,
    }
}

/// `SealBase`: encrypts `plaintext` to `recipient`. Returns `enc` and `ciphertext ‖ tag`.
///
/// Draws 32 bytes from `rng`, the ephemeral key's `ikm`.
pub fn seal<R: CryptoRng + ?Sized>(
    rng: &mut R,
    recipient: &[u8; KEY_LEN],
    info: &[u8],
    aad: &[u8],
    plaintext: &[u8],
) -> Result<([u8; ENC_LEN], Vec<u8>), HpkeError> {
    let mut sealed = Vec::with_capacity(plaintext.len() + TAG_LEN);
    sealed.extend_from_slice(plaintext);
    let (enc, tag) =
        primitives::hpke_seal_in_place(rng, recipient, info, aad, &mut sealed).map_err(error)?;
    sealed.extend_from_slice(&tag);
    Ok((enc, sealed))
}

/// `OpenBase`: decrypts `ciphertext ‖ tag` sealed to the public key of `secret`. The
/// plaintext is wiped when the returned buffer is dropped.
pub fn open(
    secret: &[u8; KEY_LEN],
    enc: &[u8; ENC_LEN],
    info: &[u8],
    aad: &[u8],
    ciphertext: &[u8],
) -> Result<Zeroizing<Vec<u8>>, HpkeError> {
    let secret = X25519StaticSecret::new(Zeroizing::new(*secret));
    primitives::hpke_open_wiped(&secret, enc, info, aad, ciphertext)
        .map_err(|_| HpkeError::Authentication)
}

/// `SendExport`: sets up a sender context to `recipient` and exports `length` bytes under
/// `exporter_context`. Returns `enc` and the secret.
///
/// Draws 32 bytes from `rng`, the ephemeral key's `ikm`.
pub fn send_export<R: CryptoRng + ?Sized>(
    rng: &mut R,
    recipient: &[u8; KEY_LEN],
    info: &[u8],
    exporter_context: &[u8],
    length: usize,
) -> Result<([u8; ENC_LEN], Zeroizing<Vec<u8>>), HpkeError> {
    primitives::hpke_send_export(rng, recipient, info, exporter_context, length).map_err(error)
}

/// `ReceiveExport`: the recipient's side of [`send_export`].
pub fn receive_export(
    secret: &[u8; KEY_LEN],
    enc: &[u8; ENC_LEN],
    info: &[u8],
    exporter_context: &[u8],
    length: usize,
) -> Result<Zeroizing<Vec<u8>>, HpkeError> {
    primitives::hpke_receiver_export(secret, enc, info, exporter_context, length).map_err(error)
}

/// `DeriveKeyPair(ikm)`: `(secret, public)`, the secret as the KDF outputs it (X25519 clamps it
/// when it is used).
pub fn derive_key_pair(ikm: &[u8]) -> Result<(Zeroizing<[u8; KEY_LEN]>, [u8; KEY_LEN]), HpkeError> {
    primitives::hpke_derive_key_pair(ikm).map_err(error)
}

#[cfg(test)]
mod tests {
    use rand_chacha::ChaCha20Rng;
    use rand_core::SeedableRng;

    use super::*;

    /// RFC 9180 §A.2.1 (DHKEM(X25519, HKDF-SHA256), HKDF-SHA256, ChaCha20-Poly1305, base
    /// mode): `DeriveKeyPair(ikmR)` gives the appendix's `skRm` (unclamped) and `pkRm`.
    #[test]
    fn rfc9180_a_2_1_derive_key_pair() {
        let hex = |s: &str| hex::decode(s).unwrap();
        let (secret, public) = derive_key_pair(&hex(
            "1ac01f181fdf9f352797655161c58b75c656a6cc2716dcb66372da835542e1df",
        ))
        .unwrap();
        assert_eq!(
            secret.as_slice(),
            hex("8057991eef8f1f1af18f4a9491d16a1ce333f695d4db8e38da75975c4478e0fb")
        );
        assert_eq!(
            public.as_slice(),
            hex("4310ee97d88cc1f088a5576c77ab0cf5c3ac797f3d95139c6c84b5429c59662a")
        );
    }

    #[test]
    fn exports_agree_and_seal_opens() {
        let mut rng = ChaCha20Rng::from_seed([9; 32]);
        let (secret, public) = derive_key_pair(&[1; 32]).unwrap();
        let (enc, sent) = send_export(&mut rng, &public, b"info", b"ctx", 42).unwrap();
        let received = receive_export(&secret, &enc, b"info", b"ctx", 42).unwrap();
        assert_eq!(sent.len(), 42);
        assert_eq!(sent, received);
        assert_ne!(
            receive_export(&secret, &enc, b"infO", b"ctx", 42).unwrap(),
            sent
        );
        assert_eq!(
            send_export(&mut rng, &[0; 32], b"info", b"ctx", 32).err(),
            Some(HpkeError::NonContributory)
        );
        assert_eq!(
            send_export(&mut rng, &public, b"info", b"ctx", 255 * 32 + 1).err(),
            Some(HpkeError::OutputTooLong)
        );

        let (enc, sealed) = seal(&mut rng, &public, b"i", b"a", b"text").unwrap();
        assert_eq!(
            open(&secret, &enc, b"i", b"a", &sealed).unwrap().as_slice(),
            b"text"
        );
        assert_eq!(
            open(&secret, &enc, b"i", b"b", &sealed).err(),
            Some(HpkeError::Authentication)
        );
    }
}
