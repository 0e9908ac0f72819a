//! Thin wrappers over the primitive implementations, so that every protocol module and every
//! published-vector test goes through the same calls.
//!
//! Nothing here is a protocol: these functions fix the algorithm choices (X25519, Ed25519 with
//! strict verification, HKDF/HMAC-SHA256, XChaCha20-Poly1305, ML-KEM-768, HPKE base mode with
//! DHKEM(X25519, HKDF-SHA256) / HKDF-SHA256 / ChaCha20-Poly1305, Argon2id) and turn each
//! library's error into one this crate can reason about. The vector tests in
//! `primitives/vectors.rs` feed the RFC and Wycheproof vectors through exactly these functions.

use std::sync::{Arc, LazyLock, OnceLock};

use aws_lc_rs::agreement;
use chacha20poly1305::{
    KeyInit, XChaCha20Poly1305,
    aead::{Aead, Payload},
};
use curve25519_dalek::montgomery::MontgomeryPoint;
use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use hkdf::Hkdf;
use hmac::{Hmac, Mac};
use libcrux_ml_kem::mlkem768;
use rand_core::CryptoRng;
use sha2::{Digest, Sha256};
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

/// XChaCha20-Poly1305 nonce length: large enough to be drawn at random for every message.
pub(crate) const XNONCE_LEN: usize = 24;
/// Poly1305 tag length.
pub(crate) const TAG_LEN: usize = 16;
/// ML-KEM-768 public (encapsulation) key length (FIPS 203).
pub(crate) const MLKEM768_PUBLIC_LEN: usize = 1184;
/// ML-KEM-768 ciphertext length (FIPS 203).
pub(crate) const MLKEM768_CIPHERTEXT_LEN: usize = 1088;
/// ML-KEM-768 decapsulation key length (FIPS 203, expanded form).
pub(crate) const MLKEM768_SECRET_LEN: usize = 2400;
/// HPKE encapsulated key length for DHKEM(X25519).
pub(crate) const HPKE_ENC_LEN: usize = 32;

/// A primitive refused its input. Protocol modules map this to their own typed errors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PrimitiveError {
    /// An AEAD or HPKE open failed: wrong key, tampered data or wrong associated data.
    Authentication,
    /// An X25519 exchange produced the all-zero output: the peer's key has low order.
    NonContributory,
    /// An Ed25519 signature did not verify under strict rules.
    BadSignature,
    /// A key or ciphertext was not a valid encoding.
    InvalidKey,
    /// A KDF was asked for more output than it can give.
    OutputTooLong,
    /// Sealing failed for a reason other than the key: the AEAD refused the plaintext (beyond
    /// its length limit) or the context's message limit was reached.
    SealFailed,
}

// ---- X25519 (RFC 7748) ----

/// X25519(k, u) with the contributory check RFC 7748 §6.1 recommends: an all-zero result means
/// the peer sent a low-order point, and is refused.
///
/// The arithmetic is AWS-LC's, whose X25519 is s2n-bignum's formally verified code and picks
/// its MULX/ADX path at run time. x25519-dalek's ladder is portable 51-bit-limb code that
/// cannot use those instructions, and took 1.6× OpenSSL's time per operation on the benchmark
/// machine; AWS-LC takes about OpenSSL's (see `docs/benchmarks.md`).
pub(crate) fn x25519(
    secret: &[u8; 32],
    public: &[u8; 32],
) -> Result<Zeroizing<[u8; 32]>, PrimitiveError> {
    x25519_agree(&x25519_key(secret)?, public)
}

/// Loads an X25519 secret key into AWS-LC, which wipes it when it is dropped.
fn x25519_key(secret: &[u8; 32]) -> Result<agreement::PrivateKey, PrimitiveError> {
    // With a 32-byte key this fails only if AWS-LC cannot allocate.
    agreement::PrivateKey::from_private_key(&agreement::X25519, secret)
        .map_err(|_| PrimitiveError::InvalidKey)
}

/// X25519 of a loaded secret key with `public`, refusing an all-zero result.
fn x25519_agree(
    secret: &agreement::PrivateKey,
    public: &[u8; 32],
) -> Result<Zeroizing<[u8; 32]>, PrimitiveError> {
    // AWS-LC's X25519 fails on an all-zero result, and parsing a 32-byte public key cannot
    // fail, so every error here is the non-contributory one.
    let peer = agreement::UnparsedPublicKey::new(&agreement::X25519, public);
    agreement::agree(secret, peer, PrimitiveError::NonContributory, |shared| {
        let mut out = Zeroizing::new([0u8; 32]);
        if shared.len() != out.len() {
            return Err(PrimitiveError::NonContributory);
        }
        out.copy_from_slice(shared);
        Ok(out)
    })
}

/// An X25519 secret key used for many exchanges (the mailbox key), with AWS-LC's copy of it
/// made on first use and kept.
///
/// Loading a secret into AWS-LC computes its public key, a fixed-base multiplication (about a
/// quarter of a Diffie-Hellman); a key that opens every envelope the account receives pays it
/// once instead of once per envelope. AWS-LC wipes its copy when the last reference goes.
pub(crate) struct X25519StaticSecret {
    secret: Zeroizing<[u8; 32]>,
    loaded: OnceLock<Arc<agreement::PrivateKey>>,
}

impl X25519StaticSecret {
    pub(crate) fn new(secret: Zeroizing<[u8; 32]>) -> Self {
        Self {
            secret,
            loaded: OnceLock::new(),
        }
    }

    pub(crate) fn as_bytes(&self) -> &[u8; 32] {
        &self.secret
    }

    /// AWS-LC's copy of the key, made now if this is its first use. `None` only if AWS-LC
    /// cannot allocate, in which case the caller loads the key as it would any other.
    fn loaded(&self) -> Option<Arc<agreement::PrivateKey>> {
        if let Some(key) = self.loaded.get() {
            return Some(Arc::clone(key));
        }
        let key = Arc::new(x25519_key(&self.secret).ok()?);
        Some(Arc::clone(self.loaded.get_or_init(|| key)))
    }
}

/// The X25519 public key for a secret key.
///
/// This stays on x25519-dalek: its fixed-base multiplication (precomputed tables) cannot fail,
/// where AWS-LC's goes through an allocation that can.
pub(crate) fn x25519_public(secret: &[u8; 32]) -> [u8; 32] {
    x25519_dalek::PublicKey::from(&x25519_dalek::StaticSecret::from(*secret)).to_bytes()
}

/// A fresh X25519 secret key.
pub(crate) fn x25519_generate<R: CryptoRng + ?Sized>(rng: &mut R) -> Zeroizing<[u8; 32]> {
    let mut secret = Zeroizing::new([0u8; 32]);
    rng.fill_bytes(secret.as_mut());
    secret
}

/// True when `public` is a point of small order (on the curve or its twist, in any encoding).
/// Such a key makes every exchange with it predictable, so received keys are checked before
/// use, on top of the contributory check on each result.
pub(crate) fn x25519_is_low_order(public: &[u8; 32]) -> bool {
    // Multiplying by the cofactor 8 (unclamped) kills exactly the small-order component; the
    // identity comes back as u = 0.
    // A ladder over the four bits of 8 (1000) costs four ladder steps instead of the 255 of a
    // general scalar multiplication, and gives the same point.
    MontgomeryPoint(*public)
        .mul_bits_be([true, false, false, false].into_iter())
        .to_bytes()
        == [0u8; 32]
}

// ---- Ed25519 (RFC 8032) ----

pub(crate) fn ed25519_sign(key: &SigningKey, message: &[u8]) -> [u8; 64] {
    key.sign(message).to_bytes()
}

/// Verification under strict rules, of a key checked by [`ed25519_parse_public`].
///
/// `verify_strict` refuses a signature `R ‖ S` unless `S < ℓ` (otherwise `S + ℓ` would verify
/// too), `R` decodes to a point that is not of small order, and `R` equals, byte for byte, the
/// encoding of `[S]B − [k]A` (so only the canonical encoding of `R` verifies); the key `A` must
/// not be of small order either. With a cofactorless equation and canonical encodings
/// throughout, nobody but the signer can produce another valid signature for a message that
/// already has one (no malleability), and no signature can be made without the secret key
/// (a small-order key would let anyone sign for many messages).
///
/// What it does not refuse is a key whose encoding is not canonical: `verify_strict` hashes
/// the key bytes as given, and `VerifyingKey::from_bytes` follows ZIP-215 and decodes them
/// anyway. [`ed25519_parse_public`] refuses those.
///
/// A signature that verified is remembered (see [`memo`]) under the hash of the key, the
/// signature and the message, so the same identity binding, record or certificate seen again
/// is not verified again.
pub(crate) fn ed25519_verify(
    public: &[u8; 32],
    message: &[u8],
    signature: &[u8; 64],
) -> Result<(), PrimitiveError> {
    static VERIFIED: LazyLock<memo::Memo<()>> = LazyLock::new(memo::Memo::new);
    // Key and signature have fixed lengths, so the three parts cannot be confused.
    let digest = sha256(&[public, signature, message]);
    if VERIFIED.get(&digest).is_some() {
        return Ok(());
    }
    ed25519_parse_public(public)?
        .verify_strict(message, &Signature::from_bytes(signature))
        .map_err(|_| PrimitiveError::BadSignature)?;
    VERIFIED.insert(digest, ());
    Ok(())
}

/// Parses an Ed25519 public key, refusing encodings that are not points, small-order keys and
/// non-canonical encodings.
///
/// `VerifyingKey::from_bytes` (ZIP-215 rules) accepts a y-coordinate `≥ p`, reducing it, and a
/// set sign bit on `x = 0`, so several byte strings can name one point; neither `is_weak` nor
/// `verify_strict` refuses them. The account *is* its key bytes ([`crate::UserId`]), so each
/// key must have exactly one encoding: the point is re-encoded and must match the input.
///
/// Keys that parsed are remembered (see [`memo`]): the decoding and the re-encoding each take a
/// field inversion, and the same accounts' keys are parsed over and over.
pub(crate) fn ed25519_parse_public(public: &[u8; 32]) -> Result<VerifyingKey, PrimitiveError> {
    static PARSED: LazyLock<memo::Memo<VerifyingKey>> = LazyLock::new(memo::Memo::new);
    if let Some(key) = PARSED.get(public) {
        return Ok(key);
    }
    let key = VerifyingKey::from_bytes(public).map_err(|_| PrimitiveError::InvalidKey)?;
    if key.is_weak() || key.to_edwards().compress().as_bytes() != public {
        return Err(PrimitiveError::InvalidKey);
    }
    PARSED.insert(*public, key);
    Ok(key)
}

// ---- SHA-256, HMAC-SHA256 (RFC 4231), HKDF-SHA256 (RFC 5869) ----

pub(crate) fn sha256(parts: &[&[u8]]) -> [u8; 32] {
    let mut hash = Sha256::new();
    for part in parts {
        hash.update(part);
    }
    hash.finalize().into()
}

pub(crate) fn hmac_sha256(key: &[u8], data: &[u8]) -> [u8; 32] {
    // HMAC accepts keys of any length, so this cannot fail.
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(key).unwrap_or_else(|_| unreachable!());
    mac.update(data);
    mac.finalize().into_bytes().into()
}

/// HKDF-SHA256 extract-then-expand into `out`. `salt = None` is the RFC's default (a string of
/// zero bytes as long as the hash output).
pub(crate) fn hkdf_sha256(
    salt: Option<&[u8]>,
    ikm: &[u8],
    info: &[u8],
    out: &mut [u8],
) -> Result<(), PrimitiveError> {
    Hkdf::<Sha256>::new(salt, ikm)
        .expand(info, out)
        .map_err(|_| PrimitiveError::OutputTooLong)
}

// ---- AEAD: XChaCha20-Poly1305 (draft-irtf-cfrg-xchacha) and ChaCha20-Poly1305 (RFC 8439) ----

pub(crate) fn xchacha_seal(
    key: &[u8; 32],
    nonce: &[u8; XNONCE_LEN],
    aad: &[u8],
    plaintext: &[u8],
) -> Vec<u8> {
    let cipher = XChaCha20Poly1305::new(key.into());
    // Encryption only fails for inputs longer than the cipher's 256 GiB limit, which no caller
    // can reach: every plaintext here is bounded by an envelope or stored-value limit.
    cipher
        .encrypt(
            nonce.into(),
            Payload {
                msg: plaintext,
                aad,
            },
        )
        .unwrap_or_default()
}

pub(crate) fn xchacha_open(
    key: &[u8; 32],
    nonce: &[u8; XNONCE_LEN],
    aad: &[u8],
    ciphertext: &[u8],
) -> Result<Zeroizing<Vec<u8>>, PrimitiveError> {
    let cipher = XChaCha20Poly1305::new(key.into());
    // The AEAD decrypts in a buffer allocated once at the ciphertext's length and truncated,
    // never grown, so this buffer is the only copy of the plaintext.
    cipher
        .decrypt(
            nonce.into(),
            Payload {
                msg: ciphertext,
                aad,
            },
        )
        .map(Zeroizing::new)
        .map_err(|_| PrimitiveError::Authentication)
}

/// The IETF ChaCha20-Poly1305 of RFC 8439, as HPKE uses it. Also the floor the benchmarks
/// compare the ratchet against.
#[cfg(test)]
pub(crate) fn chacha_seal(
    key: &[u8; 32],
    nonce: &[u8; 12],
    aad: &[u8],
    plaintext: &[u8],
) -> Vec<u8> {
    let cipher = chacha20poly1305::ChaCha20Poly1305::new(key.into());
    cipher
        .encrypt(
            nonce.into(),
            Payload {
                msg: plaintext,
                aad,
            },
        )
        .unwrap_or_default()
}

#[cfg(test)]
pub(crate) fn chacha_open(
    key: &[u8; 32],
    nonce: &[u8; 12],
    aad: &[u8],
    ciphertext: &[u8],
) -> Result<Vec<u8>, PrimitiveError> {
    let cipher = chacha20poly1305::ChaCha20Poly1305::new(key.into());
    cipher
        .decrypt(
            nonce.into(),
            Payload {
                msg: ciphertext,
                aad,
            },
        )
        .map_err(|_| PrimitiveError::Authentication)
}

// ---- ML-KEM-768 (FIPS 203), via libcrux's formally verified implementation ----

/// An ML-KEM-768 decapsulation key (2,400 bytes, FIPS 203 expanded form), on the heap and
/// wiped when dropped.
///
/// libcrux's key type neither zeroizes itself nor lends out its array mutably, except by index
/// range, which is enough to wipe it. Keeping it boxed means moving the key moves a pointer, so
/// the only copy of the secret is the one this type wipes. (What libcrux copies onto its own
/// stack while generating or decapsulating is out of reach.)
pub(crate) struct MlKemSecret(Box<mlkem768::MlKem768PrivateKey>);

impl MlKemSecret {
    /// Copies `bytes` into a fresh heap key.
    pub(crate) fn from_bytes(bytes: &[u8; MLKEM768_SECRET_LEN]) -> Self {
        let mut key = Self(Box::default());
        key.0[..MLKEM768_SECRET_LEN].copy_from_slice(bytes);
        key
    }

    /// The encoded decapsulation key.
    #[cfg(test)]
    pub(crate) fn as_bytes(&self) -> &[u8; MLKEM768_SECRET_LEN] {
        self.0.as_slice()
    }
}

impl Zeroize for MlKemSecret {
    fn zeroize(&mut self) {
        self.0[..MLKEM768_SECRET_LEN].zeroize();
    }
}

impl Drop for MlKemSecret {
    fn drop(&mut self) {
        self.zeroize();
    }
}

impl ZeroizeOnDrop for MlKemSecret {}

/// A key pair from the 64-byte seed `d ‖ z` of FIPS 203 `ML-KEM.KeyGen_internal`.
pub(crate) fn mlkem768_generate(seed: &[u8; 64]) -> (MlKemSecret, [u8; MLKEM768_PUBLIC_LEN]) {
    // libcrux returns the pair by value: copy the secret into the heap key, then wipe the
    // returned one.
    let (mut private, public_key) = mlkem768::generate_key_pair(*seed).into_parts();
    let secret = MlKemSecret::from_bytes(private.as_slice());
    private[..MLKEM768_SECRET_LEN].zeroize();
    let mut public = [0u8; MLKEM768_PUBLIC_LEN];
    public.copy_from_slice(public_key.as_slice());
    (secret, public)
}

/// Encapsulates to `public` with the 32-byte message `m` of FIPS 203 `ML-KEM.Encaps_internal`.
/// Refuses a public key that fails the FIPS 203 §7.2 modulus check.
pub(crate) fn mlkem768_encapsulate(
    public: &[u8; MLKEM768_PUBLIC_LEN],
    randomness: &[u8; 32],
) -> Result<([u8; MLKEM768_CIPHERTEXT_LEN], Zeroizing<[u8; 32]>), PrimitiveError> {
    let public = mlkem768::MlKem768PublicKey::from(*public);
    if !mlkem768::validate_public_key(&public) {
        return Err(PrimitiveError::InvalidKey);
    }
    let (ciphertext, shared) = mlkem768::encapsulate(&public, *randomness);
    let mut out = [0u8; MLKEM768_CIPHERTEXT_LEN];
    out.copy_from_slice(ciphertext.as_slice());
    Ok((out, Zeroizing::new(shared)))
}

/// Decapsulates. ML-KEM decapsulation never fails: a tampered ciphertext yields an unrelated,
/// pseudorandom secret (implicit rejection), which the AEAD that follows then refuses.
pub(crate) fn mlkem768_decapsulate(
    secret: &MlKemSecret,
    ciphertext: &[u8; MLKEM768_CIPHERTEXT_LEN],
) -> Zeroizing<[u8; 32]> {
    let ciphertext = mlkem768::MlKem768Ciphertext::from(ciphertext);
    Zeroizing::new(mlkem768::decapsulate(&secret.0, &ciphertext))
}

// ---- HPKE (RFC 9180), base mode, DHKEM(X25519, HKDF-SHA256), HKDF-SHA256, ChaCha20Poly1305 ----

mod hpke;
mod memo;

pub(crate) use hpke::{
    hpke_derive_key_pair, hpke_open_wiped, hpke_receiver_export, hpke_seal_in_place,
    hpke_send_export,
};
#[cfg(test)]
pub(crate) use hpke::{hpke_derive_keypair, hpke_open, hpke_seal};

// ---- Argon2id (RFC 9106) ----

/// Argon2id version 0x13 with the given costs, into `out`.
pub(crate) fn argon2id(
    password: &[u8],
    salt: &[u8],
    memory_kib: u32,
    iterations: u32,
    lanes: u32,
    out: &mut [u8],
) -> Result<(), PrimitiveError> {
    argon2id_keyed(password, salt, &[], &[], memory_kib, iterations, lanes, out)
}

/// Argon2id with the optional secret `K` and associated data `X` of RFC 9106 §3.1; only the
/// published vectors use them.
#[allow(clippy::too_many_arguments)]
pub(crate) fn argon2id_keyed(
    password: &[u8],
    salt: &[u8],
    secret: &[u8],
    associated: &[u8],
    memory_kib: u32,
    iterations: u32,
    lanes: u32,
    out: &mut [u8],
) -> Result<(), PrimitiveError> {
    let mut params = argon2::ParamsBuilder::new();
    params
        .m_cost(memory_kib)
        .t_cost(iterations)
        .p_cost(lanes)
        .output_len(out.len());
    if !associated.is_empty() {
        params
            .data(argon2::AssociatedData::new(associated).map_err(|_| PrimitiveError::InvalidKey)?);
    }
    let params = params.build().map_err(|_| PrimitiveError::InvalidKey)?;
    let hasher = if secret.is_empty() {
        argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params)
    } else {
        argon2::Argon2::new_with_secret(
            secret,
            argon2::Algorithm::Argon2id,
            argon2::Version::V0x13,
            params,
        )
        .map_err(|_| PrimitiveError::InvalidKey)?
    };
    hasher
        .hash_password_into(password, salt, out)
        .map_err(|_| PrimitiveError::InvalidKey)
}

/// A secret on the heap, wiped when dropped. Collections of secrets hold these rather than
/// the arrays themselves: a growing `Vec`, a `Vec::retain` or a `BTreeMap` insertion, removal
/// or node split moves its elements with plain copies and frees or abandons the old slots
/// unwiped, but moving a box copies only its pointer, and the secret stays where it is.
pub(crate) type SecretBox<const N: usize> = Box<Zeroizing<[u8; N]>>;

/// Copies `secret` into a new [`SecretBox`]. The box is allocated zeroed and filled in place,
/// so no unwiped temporary holds the secret on the way.
pub(crate) fn secret_box<const N: usize>(secret: &[u8; N]) -> SecretBox<N> {
    let mut boxed: SecretBox<N> = Box::new(Zeroizing::new([0u8; N]));
    boxed.copy_from_slice(secret);
    boxed
}

/// Fills a fixed array from the RNG.
pub(crate) fn random<const N: usize, R: CryptoRng + ?Sized>(rng: &mut R) -> [u8; N] {
    let mut out = [0u8; N];
    rng.fill_bytes(&mut out);
    out
}

#[cfg(test)]
mod vectors;

#[cfg(test)]
mod tests {
    use curve25519_dalek::edwards::CompressedEdwardsY;

    use super::*;

    /// A memoised verification answers only for the exact key, message and signature.
    #[test]
    fn a_remembered_signature_vouches_for_nothing_else() {
        let key = SigningKey::from_bytes(&[9; 32]);
        let public = key.verifying_key().to_bytes();
        let signature = ed25519_sign(&key, b"message");
        for _ in 0..2 {
            assert_eq!(ed25519_verify(&public, b"message", &signature), Ok(()));
            assert_eq!(
                ed25519_verify(&public, b"messagf", &signature),
                Err(PrimitiveError::BadSignature)
            );
            let mut forged = signature;
            forged[0] ^= 1;
            assert_eq!(
                ed25519_verify(&public, b"message", &forged),
                Err(PrimitiveError::BadSignature)
            );
            let other = SigningKey::from_bytes(&[10; 32]).verifying_key().to_bytes();
            assert_eq!(
                ed25519_verify(&other, b"message", &signature),
                Err(PrimitiveError::BadSignature)
            );
        }
    }

    /// The encodings `p + y` for `y` in 0..=18 (with either sign bit) still fit in 255 bits,
    /// and `VerifyingKey::from_bytes` decodes them as `y`. Those that are points of large order
    /// pass `is_weak`; they must be refused, while the canonical encoding of the same point is
    /// accepted.
    #[test]
    fn non_canonical_key_encodings_are_refused() {
        let mut refused = 0;
        for y in 0u8..=18 {
            for sign in [0u8, 0x80] {
                let mut non_canonical = [0xffu8; 32];
                non_canonical[0] = 0xed + y;
                non_canonical[31] = 0x7f | sign;
                let mut canonical = [0u8; 32];
                canonical[0] = y;
                canonical[31] = sign;
                let Some(point) = CompressedEdwardsY(non_canonical).decompress() else {
                    continue;
                };
                if point.is_small_order() {
                    continue;
                }
                // The library alone would take it, as the same point as the canonical bytes.
                let key = VerifyingKey::from_bytes(&non_canonical).unwrap();
                assert!(!key.is_weak());
                assert_eq!(point.compress().to_bytes(), canonical);
                assert_eq!(
                    ed25519_parse_public(&non_canonical).err(),
                    Some(PrimitiveError::InvalidKey)
                );
                assert_eq!(
                    ed25519_verify(&non_canonical, b"m", &[0; 64]),
                    Err(PrimitiveError::InvalidKey)
                );
                assert!(ed25519_parse_public(&canonical).is_ok());
                // Remembering the canonical key does not make its other encoding acceptable.
                assert_eq!(
                    ed25519_parse_public(&non_canonical).err(),
                    Some(PrimitiveError::InvalidKey)
                );
                refused += 1;
            }
        }
        assert!(
            refused > 0,
            "no non-canonical encoding of a large-order point found"
        );
    }

    fn wiped_on_drop<T: ZeroizeOnDrop>() {}

    /// HMAC's state is two SHA-256 states that have absorbed `key ⊕ ipad` and `key ⊕ opad`,
    /// as good as the key itself, and HKDF keeps such an HMAC for its pseudorandom key. They
    /// are wiped on drop only with sha2's `zeroize` feature (hkdf has none of its own); the
    /// MAC output type with hmac's. This only compiles when both are on.
    #[test]
    fn hash_and_mac_state_is_wiped_on_drop() {
        wiped_on_drop::<Sha256>();
        wiped_on_drop::<sha2::block_api::Sha256VarCore>();
        wiped_on_drop::<hmac::digest::CtOutput<Hmac<Sha256>>>();
    }

    #[test]
    fn mlkem_decapsulation_key_is_wiped() {
        wiped_on_drop::<MlKemSecret>();
        let (mut secret, _) = mlkem768_generate(&[5; 64]);
        assert!(secret.as_bytes().iter().any(|&b| b != 0));
        // What `Drop` runs.
        secret.zeroize();
        assert!(secret.as_bytes().iter().all(|&b| b == 0));
    }
}
