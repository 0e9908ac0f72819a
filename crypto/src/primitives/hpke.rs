//! HPKE (RFC 9180) in base mode, single shot, for the one suite Tern uses:
//! DHKEM(X25519, HKDF-SHA256) (KEM 0x0020), HKDF-SHA256 (KDF 0x0001), ChaCha20-Poly1305
//! (AEAD 0x0003), through the `hpke` crate.
//!
//! What the crate computes, with `Extract`/`Expand` being HKDF-SHA256's:
//!
//! ```text
//! LabeledExtract(salt, label, ikm)     = Extract(salt, "HPKE-v1" ‖ suite ‖ label ‖ ikm)
//! LabeledExpand(prk, label, info, L)   = Expand(prk, I2OSP(L, 2) ‖ "HPKE-v1" ‖ suite ‖ label ‖ info, L)
//!
//! DHKEM, suite = "KEM" ‖ 0x0020 (§4.1, §7.1.3):
//!   DeriveKeyPair(ikm): skE = LabeledExpand(LabeledExtract("", "dkp_prk", ikm), "sk", "", 32)
//!   Encap(pkR):  ikm ← 32 random bytes; skE = DeriveKeyPair(ikm); enc = pkE = X25519(skE, 9)
//!                dh = X25519(skE, pkR)
//!   Decap(enc):  dh = X25519(skR, enc); pkR = X25519(skR, 9)
//!   shared_secret = LabeledExpand(LabeledExtract("", "eae_prk", dh), "shared_secret", enc ‖ pkR, 32)
//!
//! Key schedule, suite = "HPKE" ‖ 0x0020 ‖ 0x0001 ‖ 0x0003, mode base = 0x00, no PSK (§5.1):
//!   context = 0x00 ‖ LabeledExtract("", "psk_id_hash", "") ‖ LabeledExtract("", "info_hash", info)
//!   secret  = LabeledExtract(shared_secret, "secret", "")
//!   key     = LabeledExpand(secret, "key", context, 32)
//!   nonce   = LabeledExpand(secret, "base_nonce", context, 12)   (sequence number 0)
//!
//! Seal: ChaCha20-Poly1305(key, nonce, aad, plaintext); Open: the inverse.
//! ```
//!
//! The ephemeral key is `DeriveKeyPair(32 random bytes)`, so a seeded RNG gives the same
//! envelope bytes every time (the golden transcript pins them) and the RFC's §A.2.1 vector is
//! reproduced byte for byte. The crate seals in place with a detached tag and opens from one
//! buffer into another, so the envelope is sealed where it is laid out and opened straight into
//! a buffer wiped on drop; the property test below checks these in-place paths against the
//! crate's allocating single-shot API.
//!
//! Why this crate: the key schedule is not ours to write, and of the maintained HPKE crates
//! this one was the fastest for this suite in the benchmark's `envelope/seal_open_1k`, which
//! it passes with the wire format unchanged. `hpke-rs` with its libcrux provider was slower
//! (HACL*'s portable X25519 ladder, four of them per seal + open, and a new vector per
//! operation), and its RustCrypto provider draws from an RNG it seeds itself, so a seeded
//! envelope cannot be reproduced. The figures are in `docs/benchmarks.md`.

use hpke::{
    Deserializable, HpkeError, OpModeR, OpModeS, Serializable,
    aead::{AeadTag, ChaCha20Poly1305},
    inout::InOutBuf,
    kdf::HkdfSha256,
    kem::X25519HkdfSha256,
};
use rand_core::CryptoRng;
use zeroize::Zeroizing;

use super::{HPKE_ENC_LEN, PrimitiveError, TAG_LEN};

type Kem = X25519HkdfSha256;
type Kdf = HkdfSha256;
type Aead = ChaCha20Poly1305;

/// Seals `buffer` in place to `recipient`. Returns `enc` and the AEAD tag; the HPKE
/// ciphertext is `buffer` followed by the tag.
///
/// Draws exactly 32 bytes from `rng`, the ephemeral key's `ikm`.
pub(crate) fn hpke_seal_in_place<R: CryptoRng + ?Sized>(
    mut rng: &mut R,
    recipient: &[u8; 32],
    info: &[u8],
    aad: &[u8],
    buffer: &mut [u8],
) -> Result<([u8; HPKE_ENC_LEN], [u8; TAG_LEN]), PrimitiveError> {
    let recipient = <Kem as hpke::Kem>::PublicKey::from_bytes(recipient)
        .map_err(|_| PrimitiveError::InvalidKey)?;
    let (enc, tag) = hpke::single_shot_seal_inout_detached_with_rng::<Aead, Kdf, Kem>(
        &OpModeS::Base,
        &recipient,
        info,
        buffer.into(),
        aad,
        &mut rng,
    )
    .map_err(seal_error)?;
    Ok((enc.to_bytes().into(), tag.to_bytes().into()))
}

/// What an `hpke` sealing error means here. Only `EncapError` is a non-contributory DH; the
/// other variants keep their own meaning rather than being reported as a bad key.
fn seal_error(error: HpkeError) -> PrimitiveError {
    match error {
        // DHKEM's encapsulation fails only when DH with the recipient's key gives all zeros.
        HpkeError::EncapError => PrimitiveError::NonContributory,
        HpkeError::ValidationError | HpkeError::IncorrectInputLength(..) => {
            PrimitiveError::InvalidKey
        }
        HpkeError::KdfOutputTooLong => PrimitiveError::OutputTooLong,
        // `SealError` (the AEAD refused the plaintext) and `MessageLimitReached`; the rest
        // (`OpenError`, `DecapError`, `InvalidPskBundle`) belong to opening or PSK modes and
        // are not expected from a base-mode seal, but are not a key problem either.
        HpkeError::SealError
        | HpkeError::MessageLimitReached
        | HpkeError::OpenError
        | HpkeError::DecapError
        | HpkeError::InvalidPskBundle => PrimitiveError::SealFailed,
    }
}

/// Opens `ciphertext ‖ tag`, sealed by [`hpke_seal_in_place`] to the public key of `secret`.
/// The AEAD decrypts straight into the returned buffer, which is wiped on drop and is the only
/// copy of the plaintext. Every failure is reported as [`PrimitiveError::Authentication`].
pub(crate) fn hpke_open_wiped(
    secret: &[u8; 32],
    enc: &[u8; HPKE_ENC_LEN],
    info: &[u8],
    aad: &[u8],
    ciphertext: &[u8],
) -> Result<Zeroizing<Vec<u8>>, PrimitiveError> {
    let refused = |_| PrimitiveError::Authentication;
    let split = ciphertext
        .len()
        .checked_sub(TAG_LEN)
        .ok_or(PrimitiveError::Authentication)?;
    let (sealed, tag) = ciphertext.split_at(split);
    let tag = AeadTag::<Aead>::from_bytes(tag).map_err(refused)?;
    let secret = <Kem as hpke::Kem>::PrivateKey::from_bytes(secret).map_err(refused)?;
    let enc = <Kem as hpke::Kem>::EncappedKey::from_bytes(enc).map_err(refused)?;
    let mut opened = Zeroizing::new(vec![0u8; sealed.len()]);
    let buffer = InOutBuf::new(sealed, &mut opened).map_err(|_| PrimitiveError::Authentication)?;
    hpke::single_shot_open_inout_detached::<Aead, Kdf, Kem>(
        &OpModeR::Base,
        &secret,
        &enc,
        info,
        buffer,
        aad,
        &tag,
    )
    .map_err(refused)?;
    Ok(opened)
}

/// [`hpke_seal_in_place`] into a new `ciphertext ‖ tag` vector.
#[cfg(test)]
pub(crate) fn hpke_seal<R: CryptoRng + ?Sized>(
    rng: &mut R,
    recipient: &[u8; 32],
    info: &[u8],
    aad: &[u8],
    plaintext: &[u8],
) -> Result<([u8; HPKE_ENC_LEN], Vec<u8>), PrimitiveError> {
    let mut sealed = plaintext.to_vec();
    let (enc, tag) = hpke_seal_in_place(rng, recipient, info, aad, &mut sealed)?;
    sealed.extend_from_slice(&tag);
    Ok((enc, sealed))
}

/// [`hpke_open_wiped`] into a plain vector.
#[cfg(test)]
pub(crate) fn hpke_open(
    secret: &[u8; 32],
    enc: &[u8; HPKE_ENC_LEN],
    info: &[u8],
    aad: &[u8],
    ciphertext: &[u8],
) -> Result<Vec<u8>, PrimitiveError> {
    hpke_open_wiped(secret, enc, info, aad, ciphertext).map(|opened| opened.to_vec())
}

/// RFC 9180 `DeriveKeyPair(ikm)` for DHKEM(X25519, HKDF-SHA256): `(secret, public)`, the
/// secret clamped as `SerializePrivateKey` requires (§7.1.2), as the `hpke` crate returns it.
#[cfg(test)]
pub(crate) fn hpke_derive_keypair(ikm: &[u8]) -> (Zeroizing<[u8; 32]>, [u8; 32]) {
    let (secret, public) = <Kem as hpke::Kem>::derive_keypair(ikm);
    (
        Zeroizing::new(secret.to_bytes().into()),
        public.to_bytes().into(),
    )
}

#[cfg(test)]
mod tests {
    use ::hpke::{Deserializable, Kem as _, OpModeR, OpModeS, Serializable};
    use proptest::prelude::*;
    use rand_chacha::ChaCha20Rng;
    use rand_core::SeedableRng;

    use super::*;

    type Kem = ::hpke::kem::X25519HkdfSha256;
    type Kdf = ::hpke::kdf::HkdfSha256;
    type Aead = ::hpke::aead::ChaCha20Poly1305;

    proptest! {
        /// What this module seals, the `hpke` crate opens, and the other way round; and with
        /// the same RNG both seal to the same bytes.
        #[test]
        fn interoperates_with_the_hpke_crate(
            seed: [u8; 32],
            ikm: [u8; 32],
            info in proptest::collection::vec(any::<u8>(), 0..40),
            aad in proptest::collection::vec(any::<u8>(), 0..40),
            plaintext in proptest::collection::vec(any::<u8>(), 0..300),
        ) {
            let (secret, public) = Kem::derive_keypair(&ikm);
            let secret_bytes: [u8; 32] = secret.to_bytes().into();
            let public_bytes: [u8; 32] = public.to_bytes().into();

            let (enc, ours) = hpke_seal(
                &mut ChaCha20Rng::from_seed(seed), &public_bytes, &info, &aad, &plaintext,
            ).unwrap();
            let (their_enc, theirs) = ::hpke::single_shot_seal_with_rng::<Aead, Kdf, Kem>(
                &OpModeS::Base, &public, &info, &plaintext, &aad,
                &mut ChaCha20Rng::from_seed(seed),
            ).unwrap();
            prop_assert_eq!(&enc[..], &their_enc.to_bytes()[..]);
            prop_assert_eq!(&ours, &theirs);

            let enc_key = <Kem as ::hpke::Kem>::EncappedKey::from_bytes(&enc).unwrap();
            let opened = ::hpke::single_shot_open::<Aead, Kdf, Kem>(
                &OpModeR::Base, &secret, &enc_key, &info, &ours, &aad,
            ).unwrap();
            prop_assert_eq!(&opened, &plaintext);
            prop_assert_eq!(hpke_open(&secret_bytes, &enc, &info, &aad, &theirs).unwrap(), plaintext);
        }
    }

    #[test]
    fn sealing_to_a_low_order_key_is_non_contributory() {
        let mut rng = ChaCha20Rng::from_seed([1; 32]);
        assert_eq!(
            hpke_seal(&mut rng, &[0; 32], b"info", b"aad", b"text").err(),
            Some(PrimitiveError::NonContributory)
        );
    }

    #[test]
    fn tampering_is_refused() {
        let mut rng = ChaCha20Rng::from_seed([2; 32]);
        let (secret, public) = hpke_derive_keypair(&[3; 32]);
        let (enc, sealed) = hpke_seal(&mut rng, &public, b"info", b"aad", b"text").unwrap();
        assert_eq!(
            hpke_open(&secret, &enc, b"info", b"aad", &sealed).unwrap(),
            b"text"
        );
        for (enc, info, aad, sealed) in [
            ([0; 32], &b"info"[..], &b"aad"[..], sealed.clone()),
            (enc, b"infO", b"aad", sealed.clone()),
            (enc, b"info", b"aaD", sealed.clone()),
            (enc, b"info", b"aad", sealed[1..].to_vec()),
            (enc, b"info", b"aad", sealed[..TAG_LEN - 1].to_vec()),
        ] {
            assert_eq!(
                hpke_open(&secret, &enc, info, aad, &sealed),
                Err(PrimitiveError::Authentication)
            );
        }
    }
}
