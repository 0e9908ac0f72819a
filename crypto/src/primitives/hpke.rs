//! HPKE (RFC 9180) in base mode, single shot, for the one suite Tern uses:
//! DHKEM(X25519, HKDF-SHA256) (KEM 0x0020), HKDF-SHA256 (KDF 0x0001), ChaCha20-Poly1305
//! (AEAD 0x0003), through the `hpke-rs` crate with a crypto provider over AWS-LC.
//!
//! What `hpke-rs` computes, with `Extract`/`Expand` being HKDF-SHA256's:
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
//! reproduced byte for byte. The property test below checks sealing and opening against the
//! `hpke` crate, an independent implementation of the same suite: same RNG, same bytes.
//!
//! Who does what: `hpke-rs` computes all of RFC 9180 above (DHKEM, the labels, the key
//! schedule, the nonce); it asks its crypto provider, through its `HpkeCrypto` trait, only for
//! the primitives `DH`, `pk(sk)`, `Extract`, `Expand`, `Seal` and `Open`. The provider in
//! `hpke/provider.rs` hands it the crate's usual libraries: AWS-LC's X25519 (as everywhere
//! else in the crate) and ChaCha20-Poly1305, and `hkdf`. The key schedule is not ours to
//! write, and none of it is written here.
//!
//! Why this crate and this provider, which took `envelope/seal_open_1k` from about 200 µs to
//! under 100 µs (figures in `docs/benchmarks.md`): the `hpke` crate runs its DHKEM on
//! x25519-dalek's portable ladder (1.6× AWS-LC's time), and the only way to give it another
//! X25519 is to implement its `Kem` trait, whose required methods are DHKEM's `Encap` and
//! `Decap` themselves, to be written from KDF functions and a shared-secret type it keeps
//! `#[doc(hidden)]`. `hpke-rs`'s provider trait is its documented extension point and leaves
//! all of RFC 9180 to the crate; its own libcrux provider (HACL*'s portable X25519) was slower
//! than the `hpke` crate. The price: `hpke-rs` does not wipe the intermediate secrets it keeps
//! in plain vectors (the DH output, the PRKs, the KEM shared secret); the context's key and
//! nonce, the private key, `ikmE` and the plaintext are wiped.
//!
//! `hpke-rs` seals and opens from one buffer into a new one. Sealing copies the ciphertext
//! back into the envelope, where the contents were laid out; opening decrypts straight into
//! the buffer returned, the only copy of the plaintext, wiped on drop.

mod provider;

use hkdf::Hkdf;
use hpke_rs::{
    Hpke, HpkePrivateKey, HpkePublicKey, Mode,
    hpke_types::{AeadAlgorithm, KdfAlgorithm, KemAlgorithm},
};
use rand_core::CryptoRng;
use sha2::Sha256;
use zeroize::Zeroizing;

use self::provider::{AwsLc, Ikm, KeyScope};
use super::{HPKE_ENC_LEN, PrimitiveError, TAG_LEN, X25519StaticSecret, x25519_is_low_order};

/// The suite, in base mode, with the given randomness.
fn suite(ikm: Ikm) -> Hpke<AwsLc> {
    Hpke::new_with_rng(
        Mode::Base,
        KemAlgorithm::DhKem25519,
        KdfAlgorithm::HkdfSha256,
        AeadAlgorithm::ChaCha20Poly1305,
        ikm,
    )
}

/// Seals `buffer` in place to `recipient`. Returns `enc` and the AEAD tag; the HPKE
/// ciphertext is `buffer` followed by the tag.
///
/// Draws exactly 32 bytes from `rng`, the ephemeral key's `ikm`.
pub(crate) fn hpke_seal_in_place<R: CryptoRng + ?Sized>(
    rng: &mut R,
    recipient: &[u8; 32],
    info: &[u8],
    aad: &[u8],
    buffer: &mut [u8],
) -> Result<([u8; HPKE_ENC_LEN], [u8; TAG_LEN]), PrimitiveError> {
    let mut ikm = Zeroizing::new([0u8; 32]);
    rng.fill_bytes(ikm.as_mut());
    let _scope = KeyScope::enter();
    let (enc, sealed) = suite(Ikm::new(ikm))
        .seal(
            &HpkePublicKey::new(recipient.to_vec()),
            info,
            aad,
            buffer,
            None,
            None,
            None,
        )
        .map_err(|_| {
            // DHKEM's encapsulation fails when DH with the recipient's key gives all zeros,
            // which happens exactly when that key has small order (the ephemeral scalar is
            // a multiple of the cofactor). `hpke-rs` reports it as a generic crypto error,
            // so the key is checked here, on the failure path only.
            if x25519_is_low_order(recipient) {
                PrimitiveError::NonContributory
            } else {
                PrimitiveError::SealFailed
            }
        })?;
    let enc =
        <[u8; HPKE_ENC_LEN]>::try_from(enc.as_slice()).map_err(|_| PrimitiveError::SealFailed)?;
    // `sealed` is the ciphertext, as long as `buffer`, then the tag; the tag's length check
    // also makes sure the ciphertext fits the buffer before it is copied back.
    let (ciphertext, tag) = sealed.split_at(buffer.len().min(sealed.len()));
    let tag = <[u8; TAG_LEN]>::try_from(tag).map_err(|_| PrimitiveError::SealFailed)?;
    buffer.copy_from_slice(ciphertext);
    Ok((enc, tag))
}

/// Opens `ciphertext ‖ tag`, sealed by [`hpke_seal_in_place`] to the public key of `secret`.
/// The AEAD decrypts straight into the returned buffer, which is wiped on drop and is the only
/// copy of the plaintext. Every failure is reported as [`PrimitiveError::Authentication`].
///
/// `secret` is the recipient's long-lived key: AWS-LC's copy of it is made on the first open
/// and reused, so opening does no fixed-base multiplication (`pk(skR)` reads the public key
/// AWS-LC computed then).
pub(crate) fn hpke_open_wiped(
    secret: &X25519StaticSecret,
    enc: &[u8; HPKE_ENC_LEN],
    info: &[u8],
    aad: &[u8],
    ciphertext: &[u8],
) -> Result<Zeroizing<Vec<u8>>, PrimitiveError> {
    let _scope = match secret.loaded() {
        Some(key) => KeyScope::enter_with(secret.as_bytes(), key),
        None => KeyScope::enter(),
    };
    let secret = HpkePrivateKey::new(secret.as_bytes().to_vec());
    suite(Ikm::none())
        .open(enc, &secret, info, aad, ciphertext, None, None, None)
        .map(Zeroizing::new)
        .map_err(|_| PrimitiveError::Authentication)
}

/// RFC 9180 §6.2 `SendExport`: sets up a sender context to `recipient` and exports
/// `length` bytes under `exporter_context`. Returns `enc` and the exported secret.
///
/// Draws exactly 32 bytes from `rng`, the ephemeral key's `ikm`.
pub(crate) fn hpke_send_export<R: CryptoRng + ?Sized>(
    rng: &mut R,
    recipient: &[u8; 32],
    info: &[u8],
    exporter_context: &[u8],
    length: usize,
) -> Result<([u8; HPKE_ENC_LEN], Zeroizing<Vec<u8>>), PrimitiveError> {
    let mut ikm = Zeroizing::new([0u8; 32]);
    rng.fill_bytes(ikm.as_mut());
    let _scope = KeyScope::enter();
    let (enc, secret) = suite(Ikm::new(ikm))
        .send_export(
            &HpkePublicKey::new(recipient.to_vec()),
            info,
            None,
            None,
            None,
            exporter_context,
            length,
        )
        .map_err(|_| {
            if x25519_is_low_order(recipient) {
                PrimitiveError::NonContributory
            } else {
                PrimitiveError::OutputTooLong
            }
        })?;
    let enc =
        <[u8; HPKE_ENC_LEN]>::try_from(enc.as_slice()).map_err(|_| PrimitiveError::SealFailed)?;
    Ok((enc, Zeroizing::new(secret)))
}

/// RFC 9180 §6.2 `ReceiveExport`: the receiver's side of [`hpke_send_export`].
pub(crate) fn hpke_receiver_export(
    secret: &[u8; 32],
    enc: &[u8; HPKE_ENC_LEN],
    info: &[u8],
    exporter_context: &[u8],
    length: usize,
) -> Result<Zeroizing<Vec<u8>>, PrimitiveError> {
    let _scope = KeyScope::enter();
    let secret = HpkePrivateKey::new(secret.to_vec());
    suite(Ikm::none())
        .receiver_export(
            enc,
            &secret,
            info,
            None,
            None,
            None,
            exporter_context,
            length,
        )
        .map(Zeroizing::new)
        .map_err(|_| {
            if x25519_is_low_order(enc) {
                PrimitiveError::NonContributory
            } else {
                PrimitiveError::OutputTooLong
            }
        })
}

/// RFC 9180 §7.1.3 `DeriveKeyPair(ikm)` for DHKEM(X25519, HKDF-SHA256): `(secret, public)`,
/// the secret as the KDF outputs it (X25519 clamps it when it is used), which is what MLS
/// derives its tree keys from:
///
/// ```text
/// suite   = "KEM" ‖ I2OSP(0x0020, 2)
/// dkp_prk = Extract("", "HPKE-v1" ‖ suite ‖ "dkp_prk" ‖ ikm)
/// sk      = Expand(dkp_prk, I2OSP(32, 2) ‖ "HPKE-v1" ‖ suite ‖ "sk", 32)
/// pk      = X25519(sk, 9)
/// ```
///
/// Written here rather than asked of `hpke-rs`, whose key-pair type hands its secret out only
/// under a feature that also makes its `Debug` print the secret.
pub(crate) fn hpke_derive_key_pair(
    ikm: &[u8],
) -> Result<(Zeroizing<[u8; 32]>, [u8; 32]), PrimitiveError> {
    const SUITE: &[u8] = b"KEM\x00\x20";
    let mut labeled_ikm = Zeroizing::new(Vec::with_capacity(7 + SUITE.len() + 7 + ikm.len()));
    labeled_ikm.extend_from_slice(b"HPKE-v1");
    labeled_ikm.extend_from_slice(SUITE);
    labeled_ikm.extend_from_slice(b"dkp_prk");
    labeled_ikm.extend_from_slice(ikm);
    let (_, prk) = Hkdf::<Sha256>::extract(Some(&[]), &labeled_ikm);
    let mut info = Vec::with_capacity(2 + 7 + SUITE.len() + 2);
    info.extend_from_slice(&32u16.to_be_bytes());
    info.extend_from_slice(b"HPKE-v1");
    info.extend_from_slice(SUITE);
    info.extend_from_slice(b"sk");
    let mut secret = Zeroizing::new([0u8; 32]);
    prk.expand(&info, secret.as_mut())
        .map_err(|_| PrimitiveError::OutputTooLong)?;
    let public = super::x25519_public(&secret);
    Ok((secret, public))
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
    let secret = X25519StaticSecret::new(Zeroizing::new(*secret));
    hpke_open_wiped(&secret, enc, info, aad, ciphertext).map(|opened| opened.to_vec())
}

/// RFC 9180 `DeriveKeyPair(ikm)` for DHKEM(X25519, HKDF-SHA256): `(secret, public)`, the
/// secret clamped as `SerializePrivateKey` requires (§7.1.2), as the `hpke` crate returns it.
#[cfg(test)]
pub(crate) fn hpke_derive_keypair(ikm: &[u8]) -> (Zeroizing<[u8; 32]>, [u8; 32]) {
    use ::hpke::{Kem as _, Serializable as _};
    let (secret, public) = ::hpke::kem::X25519HkdfSha256::derive_keypair(ikm);
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
    fn a_static_secret_is_loaded_once_and_opens_every_time() {
        let mut rng = ChaCha20Rng::from_seed([4; 32]);
        let (secret, public) = hpke_derive_keypair(&[5; 32]);
        let secret = X25519StaticSecret::new(secret);
        for text in [&b"one"[..], b"two"] {
            let (enc, sealed) = hpke_seal(&mut rng, &public, b"info", b"aad", text).unwrap();
            let opened = hpke_open_wiped(&secret, &enc, b"info", b"aad", &sealed).unwrap();
            assert_eq!(opened.as_slice(), text);
        }
        let (first, second) = (secret.loaded().unwrap(), secret.loaded().unwrap());
        assert!(std::sync::Arc::ptr_eq(&first, &second));
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
