//! HPKE (RFC 9180) in base mode, single shot, for the one suite Tern uses:
//! DHKEM(X25519, HKDF-SHA256) (KEM 0x0020), HKDF-SHA256 (KDF 0x0001), ChaCha20-Poly1305
//! (AEAD 0x0003).
//!
//! Only the key schedule is written here; the X25519 arithmetic is AWS-LC's (see
//! [`super::x25519`]) and the KDF and AEAD are the `hkdf` and `chacha20poly1305` crates. The
//! flow, with `Extract`/`Expand` being HKDF-SHA256's:
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
//! Why not the `hpke` crate, which this replaced: its DHKEM runs on x25519-dalek, and it
//! derives public keys it is not given, so an envelope cost three fixed-base and two
//! variable-base multiplications at dalek's speed. Here sealing costs one of each and opening
//! one Diffie-Hellman plus the public key AWS-LC computes when loading the secret. Ephemeral
//! keys are still made as `DeriveKeyPair(32 random bytes)`, as that crate made them, so a
//! seeded RNG gives the same envelope bytes as before (the golden transcript checks this),
//! and the RFC's §A.2.1 vector can be reproduced exactly. The tests below also check this
//! implementation against the `hpke` crate in both directions.

use chacha20poly1305::{AeadInOut, ChaCha20Poly1305, KeyInit};
use hkdf::{Hkdf, HkdfExtract};
use rand_core::CryptoRng;
use sha2::Sha256;
use zeroize::Zeroizing;

use super::{HPKE_ENC_LEN, PrimitiveError, TAG_LEN, x25519_agree, x25519_key, x25519_key_public};

const VERSION_LABEL: &[u8] = b"HPKE-v1";
/// `"KEM" ‖ I2OSP(kem_id, 2)` for DHKEM(X25519, HKDF-SHA256).
const KEM_SUITE: &[u8] = b"KEM\x00\x20";
/// `"HPKE" ‖ I2OSP(kem_id, 2) ‖ I2OSP(kdf_id, 2) ‖ I2OSP(aead_id, 2)`.
const HPKE_SUITE: &[u8] = b"HPKE\x00\x20\x00\x01\x00\x03";
/// The base mode (no PSK, no sender authentication).
const MODE_BASE: u8 = 0x00;
/// ChaCha20-Poly1305's nonce length, `Nn`.
const NONCE_LEN: usize = 12;

/// `LabeledExtract(salt, label, ikm)`, returned ready to expand.
fn labeled_extract(suite: &[u8], salt: &[u8], label: &[u8], ikm: &[u8]) -> Hkdf<Sha256> {
    extractor(suite, salt, label, ikm).finalize().1
}

/// `LabeledExtract("", label, ikm)` as bytes, the way the key schedule hashes its inputs.
fn labeled_hash(label: &[u8], ikm: &[u8]) -> [u8; 32] {
    extractor(HPKE_SUITE, b"", label, ikm).finalize().0.into()
}

fn extractor(suite: &[u8], salt: &[u8], label: &[u8], ikm: &[u8]) -> HkdfExtract<Sha256> {
    let mut extract = HkdfExtract::<Sha256>::new(Some(salt));
    for part in [VERSION_LABEL, suite, label, ikm] {
        extract.input_ikm(part);
    }
    extract
}

/// `LabeledExpand(prk, label, info, L)` with `L = out.len()`, which here is always 32 or 12.
fn labeled_expand(prk: &Hkdf<Sha256>, suite: &[u8], label: &[u8], info: &[u8], out: &mut [u8]) {
    let len = (out.len() as u16).to_be_bytes();
    // HKDF-Expand fails only for more than 255 blocks of output.
    prk.expand_multi_info(&[&len, VERSION_LABEL, suite, label, info], out)
        .unwrap_or_else(|_| unreachable!("HPKE asks for at most 32 bytes"));
}

/// `DeriveKeyPair(ikm)`'s secret key, unclamped (X25519 clamps it when used).
fn derive_secret(ikm: &[u8]) -> Zeroizing<[u8; 32]> {
    let prk = labeled_extract(KEM_SUITE, b"", b"dkp_prk", ikm);
    let mut secret = Zeroizing::new([0u8; 32]);
    labeled_expand(&prk, KEM_SUITE, b"sk", b"", secret.as_mut());
    secret
}

/// DHKEM's `ExtractAndExpand(dh, enc ‖ pkR)`.
fn shared_secret(dh: &[u8; 32], enc: &[u8; 32], recipient: &[u8; 32]) -> Zeroizing<[u8; 32]> {
    let prk = labeled_extract(KEM_SUITE, b"", b"eae_prk", dh);
    let mut context = [0u8; 2 * HPKE_ENC_LEN];
    context[..HPKE_ENC_LEN].copy_from_slice(enc);
    context[HPKE_ENC_LEN..].copy_from_slice(recipient);
    let mut shared = Zeroizing::new([0u8; 32]);
    labeled_expand(&prk, KEM_SUITE, b"shared_secret", &context, shared.as_mut());
    shared
}

/// The base-mode key schedule: the AEAD key and the nonce of sequence number 0.
fn key_schedule(shared: &[u8; 32], info: &[u8]) -> (ChaCha20Poly1305, [u8; NONCE_LEN]) {
    let mut context = [0u8; 1 + 32 + 32];
    context[0] = MODE_BASE;
    // The empty PSK id's hash is a constant; hashing it costs one HMAC and keeps to the RFC.
    context[1..33].copy_from_slice(&labeled_hash(b"psk_id_hash", b""));
    context[33..].copy_from_slice(&labeled_hash(b"info_hash", info));
    let secret = labeled_extract(HPKE_SUITE, shared, b"secret", b"");
    let mut key = Zeroizing::new([0u8; 32]);
    labeled_expand(&secret, HPKE_SUITE, b"key", &context, key.as_mut());
    let mut nonce = [0u8; NONCE_LEN];
    labeled_expand(&secret, HPKE_SUITE, b"base_nonce", &context, &mut nonce);
    (ChaCha20Poly1305::new((&*key).into()), nonce)
}

/// Seals `buffer` in place to `recipient`. Returns `enc` and the AEAD tag; the ciphertext is
/// `buffer` followed by the tag.
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
    let ephemeral = x25519_key(&derive_secret(ikm.as_ref()))?;
    let enc = x25519_key_public(&ephemeral)?;
    let dh = x25519_agree(&ephemeral, recipient)?;
    let (cipher, nonce) = key_schedule(&shared_secret(&dh, &enc, recipient), info);
    let tag = cipher
        .encrypt_inout_detached(&nonce.into(), aad, buffer.into())
        .map_err(|_| PrimitiveError::SealFailed)?;
    Ok((enc, tag.into()))
}

/// Opens in place what [`hpke_seal_in_place`] sealed to the public key of `secret`. Every
/// failure is reported as [`PrimitiveError::Authentication`]; `buffer` is then garbage.
pub(crate) fn hpke_open_in_place(
    secret: &[u8; 32],
    enc: &[u8; HPKE_ENC_LEN],
    info: &[u8],
    aad: &[u8],
    buffer: &mut [u8],
    tag: &[u8; TAG_LEN],
) -> Result<(), PrimitiveError> {
    let refused = |_| PrimitiveError::Authentication;
    let secret = x25519_key(secret).map_err(refused)?;
    let recipient = x25519_key_public(&secret).map_err(refused)?;
    let dh = x25519_agree(&secret, enc).map_err(refused)?;
    let (cipher, nonce) = key_schedule(&shared_secret(&dh, enc, &recipient), info);
    cipher
        .decrypt_inout_detached(&nonce.into(), aad, buffer.into(), tag.into())
        .map_err(|_| PrimitiveError::Authentication)
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

/// [`hpke_open_in_place`] of a `ciphertext ‖ tag` vector.
#[cfg(test)]
pub(crate) fn hpke_open(
    secret: &[u8; 32],
    enc: &[u8; HPKE_ENC_LEN],
    info: &[u8],
    aad: &[u8],
    ciphertext: &[u8],
) -> Result<Vec<u8>, PrimitiveError> {
    let split = ciphertext
        .len()
        .checked_sub(TAG_LEN)
        .ok_or(PrimitiveError::Authentication)?;
    let (body, tag) = ciphertext.split_at(split);
    let mut opened = body.to_vec();
    let tag: [u8; TAG_LEN] = tag.try_into().map_err(|_| PrimitiveError::Authentication)?;
    hpke_open_in_place(secret, enc, info, aad, &mut opened, &tag)?;
    Ok(opened)
}

/// RFC 9180 `DeriveKeyPair(ikm)` for DHKEM(X25519, HKDF-SHA256): `(secret, public)`, the
/// secret clamped as `SerializePrivateKey` requires (§7.1.2).
#[cfg(test)]
pub(crate) fn hpke_derive_keypair(ikm: &[u8]) -> (Zeroizing<[u8; 32]>, [u8; 32]) {
    let mut secret = derive_secret(ikm);
    let public = super::x25519_public(&secret);
    secret[0] &= 248;
    secret[31] &= 127;
    secret[31] |= 64;
    (secret, public)
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
