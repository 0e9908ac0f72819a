//! Tern's crypto provider for openmls: the primitives RFC 9420 asks of a ciphersuite, for
//! the one suite Tern uses, `MLS_128_DHKEMX25519_CHACHA20POLY1305_SHA256_Ed25519` (0x0003),
//! on the libraries the rest of Tern already uses.
//!
//! | MLS primitive (RFC 9420 §5.1)        | computed by                                          |
//! |--------------------------------------|------------------------------------------------------|
//! | `Hash`, `MAC` (SHA-256, HMAC-SHA256) | `sha2`, `hmac`                                       |
//! | `KDF` (HKDF-SHA256 extract/expand)   | `hkdf`                                               |
//! | `AEAD` (ChaCha20-Poly1305, RFC 8439) | AWS-LC (`aws-lc-rs`), as Tern's envelopes            |
//! | `KEM` (HPKE, RFC 9180 base mode)     | `tern_crypto::hpke`: `hpke-rs` on AWS-LC's X25519    |
//! | `Sign` (Ed25519, RFC 8032)           | `ed25519-dalek`, strict verification                 |
//!
//! openmls builds everything else (labels, `ExpandWithLabel`, the key schedule, TreeKEM) from
//! these calls. Any other ciphersuite, hash, AEAD, KEM or signature scheme is refused with
//! openmls's typed "unsupported" error ([`CryptoError::UnsupportedCiphersuite`] and friends).
//!
//! Verification is strict: an Ed25519 public key must be a canonical encoding of a point of
//! large order, and signatures are checked with `verify_strict` (no small-order components,
//! canonical `S`), the rules `tern-crypto` applies to every other signature in Tern.
//!
//! Randomness: openmls draws it through [`OpenMlsRand`] and, inside HPKE encapsulation and
//! key generation, through this provider; both come from one RNG the caller chooses
//! ([`Crypto::new`] takes the operating system's, [`Crypto::from_rng`] any other, e.g. a seeded
//! one for reproducible tests).

use std::sync::Mutex;

use aws_lc_rs::aead::{Aad, CHACHA20_POLY1305, LessSafeKey, Nonce, UnboundKey};
use ed25519_dalek::{Signature, Signer as _, SigningKey, VerifyingKey};
use hkdf::Hkdf;
use hmac::{Hmac, KeyInit, Mac};
use openmls::prelude::tls_codec::SecretVLBytes;
use openmls_traits::{
    OpenMlsProvider,
    crypto::OpenMlsCrypto,
    random::OpenMlsRand,
    types::{
        AeadType, Ciphersuite, CryptoError, ExporterSecret, HashType, HpkeAeadType, HpkeCiphertext,
        HpkeConfig, HpkeKdfType, HpkeKemType, HpkeKeyPair, HpkePrivateKey, KemOutput,
        SignatureScheme,
    },
};
use rand_core::CryptoRng;
use sha2::{Digest, Sha256};
use tern_crypto::hpke;

use crate::storage::{Backing, Batch, Overlay, StorageKey};
use zeroize::Zeroizing;

/// The one ciphersuite Tern's groups use.
pub const CIPHERSUITE: Ciphersuite =
    Ciphersuite::MLS_128_DHKEMX25519_CHACHA20POLY1305_SHA256_Ed25519;

/// Length of the AEAD tag (Poly1305).
const TAG_LEN: usize = 16;

/// The randomness source [`Crypto`] draws from.
type BoxedRng = Box<dyn CryptoRng + Send>;

/// Tern's [`OpenMlsCrypto`] and [`OpenMlsRand`] for openmls.
///
/// One value serves every group of a profile; it is `Sync`, holding only its RNG (behind a
/// mutex, since openmls asks for randomness through `&self`).
///
/// ```
/// use openmls_traits::crypto::OpenMlsCrypto;
/// use tern_mls::{CIPHERSUITE, Crypto};
///
/// let crypto = Crypto::new();
/// assert!(crypto.supports(CIPHERSUITE).is_ok());
/// ```
pub struct Crypto {
    rng: Mutex<BoxedRng>,
}

impl std::fmt::Debug for Crypto {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Crypto").finish_non_exhaustive()
    }
}

impl Default for Crypto {
    fn default() -> Self {
        Self::new()
    }
}

impl Crypto {
    /// A provider drawing its randomness from the operating system.
    pub fn new() -> Self {
        Self::from_rng(rand_core::UnwrapErr(getrandom::SysRng))
    }

    /// A provider drawing its randomness from `rng` (a seeded RNG makes group operations
    /// reproducible in tests).
    pub fn from_rng(rng: impl CryptoRng + Send + 'static) -> Self {
        Self {
            rng: Mutex::new(Box::new(rng)),
        }
    }

    /// Fills `out` from the RNG.
    fn fill(&self, out: &mut [u8]) -> Result<(), RandError> {
        let mut rng = self.rng.lock().map_err(|_| RandError)?;
        rng.fill_bytes(out);
        Ok(())
    }

    /// Runs `f` with the RNG.
    fn with_rng<T>(
        &self,
        f: impl FnOnce(&mut dyn CryptoRng) -> Result<T, CryptoError>,
    ) -> Result<T, CryptoError> {
        let mut rng = self
            .rng
            .lock()
            .map_err(|_| CryptoError::InsufficientRandomness)?;
        f(&mut **rng)
    }
}

/// The RNG could not be used: a thread panicked while holding it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the random number generator is unavailable")]
pub struct RandError;

impl OpenMlsRand for Crypto {
    type Error = RandError;

    fn random_array<const N: usize>(&self) -> Result<[u8; N], Self::Error> {
        let mut out = [0u8; N];
        self.fill(&mut out)?;
        Ok(out)
    }

    fn random_vec(&self, len: usize) -> Result<Vec<u8>, Self::Error> {
        let mut out = vec![0u8; len];
        self.fill(&mut out)?;
        Ok(out)
    }
}

fn sha256_only(hash: HashType) -> Result<(), CryptoError> {
    match hash {
        HashType::Sha2_256 => Ok(()),
        _ => Err(CryptoError::UnsupportedHashAlgorithm),
    }
}

fn chacha_key(alg: AeadType, key: &[u8]) -> Result<LessSafeKey, CryptoError> {
    match alg {
        AeadType::ChaCha20Poly1305 => UnboundKey::new(&CHACHA20_POLY1305, key)
            .map(LessSafeKey::new)
            .map_err(|_| CryptoError::InvalidLength),
        _ => Err(CryptoError::UnsupportedAeadAlgorithm),
    }
}

fn chacha_nonce(nonce: &[u8]) -> Result<Nonce, CryptoError> {
    Nonce::try_assume_unique_for_key(nonce).map_err(|_| CryptoError::InvalidLength)
}

/// Refuses every HPKE configuration but the suite's.
fn hpke_suite_only(config: &HpkeConfig) -> Result<(), CryptoError> {
    match config {
        HpkeConfig(
            HpkeKemType::DhKem25519,
            HpkeKdfType::HkdfSha256,
            HpkeAeadType::ChaCha20Poly1305,
        ) => Ok(()),
        HpkeConfig(HpkeKemType::DhKem25519, HpkeKdfType::HkdfSha256, _) => {
            Err(CryptoError::UnsupportedAeadAlgorithm)
        }
        HpkeConfig(HpkeKemType::DhKem25519, _, _) => Err(CryptoError::UnsupportedKdf),
        _ => Err(CryptoError::UnsupportedCiphersuite),
    }
}

fn key32(bytes: &[u8], error: CryptoError) -> Result<&[u8; 32], CryptoError> {
    bytes.try_into().map_err(|_| error)
}

fn ed25519_only(alg: SignatureScheme) -> Result<(), CryptoError> {
    match alg {
        SignatureScheme::ED25519 => Ok(()),
        _ => Err(CryptoError::UnsupportedSignatureScheme),
    }
}

/// Parses an Ed25519 public key, refusing non-points, small-order points and non-canonical
/// encodings (as `tern-crypto` does for account and device keys).
pub(crate) fn ed25519_public(bytes: &[u8]) -> Result<VerifyingKey, CryptoError> {
    let bytes = key32(bytes, CryptoError::InvalidPublicKey)?;
    let key = VerifyingKey::from_bytes(bytes).map_err(|_| CryptoError::InvalidPublicKey)?;
    if key.is_weak() || key.to_edwards().compress().as_bytes() != bytes {
        return Err(CryptoError::InvalidPublicKey);
    }
    Ok(key)
}

/// Strict Ed25519 verification of `signature` on `data` under `public`.
pub(crate) fn ed25519_verify(
    public: &[u8],
    data: &[u8],
    signature: &[u8],
) -> Result<(), CryptoError> {
    let key = ed25519_public(public)?;
    let signature = Signature::from_slice(signature).map_err(|_| CryptoError::InvalidSignature)?;
    key.verify_strict(data, &signature)
        .map_err(|_| CryptoError::InvalidSignature)
}

impl OpenMlsCrypto for Crypto {
    fn supports(&self, ciphersuite: Ciphersuite) -> Result<(), CryptoError> {
        if ciphersuite == CIPHERSUITE {
            Ok(())
        } else {
            Err(CryptoError::UnsupportedCiphersuite)
        }
    }

    fn supported_ciphersuites(&self) -> Vec<Ciphersuite> {
        vec![CIPHERSUITE]
    }

    fn hkdf_extract(
        &self,
        hash_type: HashType,
        salt: &[u8],
        ikm: &[u8],
    ) -> Result<SecretVLBytes, CryptoError> {
        sha256_only(hash_type)?;
        let (prk, _) = Hkdf::<Sha256>::extract(Some(salt), ikm);
        Ok(prk.to_vec().into())
    }

    fn hmac(
        &self,
        hash_type: HashType,
        key: &[u8],
        message: &[u8],
    ) -> Result<SecretVLBytes, CryptoError> {
        sha256_only(hash_type)?;
        let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(key)
            .map_err(|_| CryptoError::CryptoLibraryError)?;
        mac.update(message);
        Ok(mac.finalize().into_bytes().to_vec().into())
    }

    fn hkdf_expand(
        &self,
        hash_type: HashType,
        prk: &[u8],
        info: &[u8],
        okm_len: usize,
    ) -> Result<SecretVLBytes, CryptoError> {
        sha256_only(hash_type)?;
        let hkdf = Hkdf::<Sha256>::from_prk(prk).map_err(|_| CryptoError::InvalidLength)?;
        let mut okm = vec![0u8; okm_len];
        hkdf.expand(info, &mut okm)
            .map_err(|_| CryptoError::HkdfOutputLengthInvalid)?;
        Ok(okm.into())
    }

    fn hash(&self, hash_type: HashType, data: &[u8]) -> Result<Vec<u8>, CryptoError> {
        sha256_only(hash_type)?;
        Ok(Sha256::digest(data).to_vec())
    }

    fn aead_encrypt(
        &self,
        alg: AeadType,
        key: &[u8],
        data: &[u8],
        nonce: &[u8],
        aad: &[u8],
    ) -> Result<Vec<u8>, CryptoError> {
        let key = chacha_key(alg, key)?;
        let mut sealed = vec![0u8; data.len() + TAG_LEN];
        let (ciphertext, tag) = sealed.split_at_mut(data.len());
        key.seal_out_of_place_scatter(
            chacha_nonce(nonce)?,
            Aad::from(aad),
            data,
            ciphertext,
            &[],
            tag,
        )
        .map_err(|_| CryptoError::TooMuchData)?;
        Ok(sealed)
    }

    fn aead_decrypt(
        &self,
        alg: AeadType,
        key: &[u8],
        ct_tag: &[u8],
        nonce: &[u8],
        aad: &[u8],
    ) -> Result<Vec<u8>, CryptoError> {
        let key = chacha_key(alg, key)?;
        let split = ct_tag
            .len()
            .checked_sub(TAG_LEN)
            .ok_or(CryptoError::AeadDecryptionError)?;
        let (ciphertext, tag) = ct_tag.split_at(split);
        let mut opened = Zeroizing::new(vec![0u8; ciphertext.len()]);
        key.open_separate_gather(
            chacha_nonce(nonce)?,
            Aad::from(aad),
            ciphertext,
            tag,
            &mut opened,
        )
        .map_err(|_| CryptoError::AeadDecryptionError)?;
        // openmls takes ownership of the plaintext as a plain vector.
        Ok(std::mem::take(&mut *opened))
    }

    fn signature_key_gen(&self, alg: SignatureScheme) -> Result<(Vec<u8>, Vec<u8>), CryptoError> {
        ed25519_only(alg)?;
        let mut seed = Zeroizing::new([0u8; 32]);
        self.with_rng(|rng| {
            rng.fill_bytes(seed.as_mut());
            Ok(())
        })?;
        let key = SigningKey::from_bytes(&seed);
        Ok((seed.to_vec(), key.verifying_key().to_bytes().to_vec()))
    }

    fn verify_signature(
        &self,
        alg: SignatureScheme,
        data: &[u8],
        pk: &[u8],
        signature: &[u8],
    ) -> Result<(), CryptoError> {
        ed25519_only(alg)?;
        ed25519_verify(pk, data, signature)
    }

    fn sign(&self, alg: SignatureScheme, data: &[u8], key: &[u8]) -> Result<Vec<u8>, CryptoError> {
        ed25519_only(alg)?;
        let seed = key32(key, CryptoError::SigningError)?;
        Ok(SigningKey::from_bytes(seed).sign(data).to_bytes().to_vec())
    }

    fn hpke_seal(
        &self,
        config: HpkeConfig,
        pk_r: &[u8],
        info: &[u8],
        aad: &[u8],
        ptxt: &[u8],
    ) -> Result<HpkeCiphertext, CryptoError> {
        hpke_suite_only(&config)?;
        let pk_r = key32(pk_r, CryptoError::InvalidPublicKey)?;
        let (enc, ciphertext) = self.with_rng(|rng| {
            hpke::seal(rng, pk_r, info, aad, ptxt).map_err(|_| CryptoError::HpkeEncryptionError)
        })?;
        Ok(HpkeCiphertext {
            kem_output: enc.to_vec().into(),
            ciphertext: ciphertext.into(),
        })
    }

    fn hpke_open(
        &self,
        config: HpkeConfig,
        input: &HpkeCiphertext,
        sk_r: &[u8],
        info: &[u8],
        aad: &[u8],
    ) -> Result<Vec<u8>, CryptoError> {
        hpke_suite_only(&config)?;
        let sk_r = key32(sk_r, CryptoError::HpkeDecryptionError)?;
        let enc = key32(
            input.kem_output.as_slice(),
            CryptoError::HpkeDecryptionError,
        )?;
        let mut opened = hpke::open(sk_r, enc, info, aad, input.ciphertext.as_slice())
            .map_err(|_| CryptoError::HpkeDecryptionError)?;
        Ok(std::mem::take(&mut *opened))
    }

    fn hpke_setup_sender_and_export(
        &self,
        config: HpkeConfig,
        pk_r: &[u8],
        info: &[u8],
        exporter_context: &[u8],
        exporter_length: usize,
    ) -> Result<(KemOutput, ExporterSecret), CryptoError> {
        hpke_suite_only(&config)?;
        let pk_r = key32(pk_r, CryptoError::InvalidPublicKey)?;
        let (enc, mut secret) = self.with_rng(|rng| {
            hpke::send_export(rng, pk_r, info, exporter_context, exporter_length)
                .map_err(|_| CryptoError::SenderSetupError)
        })?;
        Ok((enc.to_vec(), std::mem::take(&mut *secret).into()))
    }

    fn hpke_setup_receiver_and_export(
        &self,
        config: HpkeConfig,
        enc: &[u8],
        sk_r: &[u8],
        info: &[u8],
        exporter_context: &[u8],
        exporter_length: usize,
    ) -> Result<ExporterSecret, CryptoError> {
        hpke_suite_only(&config)?;
        let sk_r = key32(sk_r, CryptoError::ReceiverSetupError)?;
        let enc = key32(enc, CryptoError::ReceiverSetupError)?;
        let mut secret = hpke::receive_export(sk_r, enc, info, exporter_context, exporter_length)
            .map_err(|_| CryptoError::ReceiverSetupError)?;
        Ok(std::mem::take(&mut *secret).into())
    }

    fn derive_hpke_keypair(
        &self,
        config: HpkeConfig,
        ikm: &[u8],
    ) -> Result<HpkeKeyPair, CryptoError> {
        hpke_suite_only(&config)?;
        let (secret, public) =
            hpke::derive_key_pair(ikm).map_err(|_| CryptoError::CryptoLibraryError)?;
        Ok(HpkeKeyPair {
            private: HpkePrivateKey::from(secret.as_slice()),
            public: public.to_vec(),
        })
    }
}

/// What openmls is handed for one operation: the profile's [`Crypto`] and a fresh storage
/// [`Overlay`] over the node's store.
///
/// Create one per operation (processing one message, creating one commit), take the writes
/// out with [`Provider::take_batch`] and commit them with the message in one write batch;
/// dropping it instead rolls the operation's storage writes back.
#[derive(Debug)]
pub struct Provider<'c, B> {
    crypto: &'c Crypto,
    storage: Overlay<B>,
}

impl<'c, B: Backing> Provider<'c, B> {
    /// A provider over `backing`, hiding row keys with `key`.
    pub fn new(crypto: &'c Crypto, backing: B, key: &StorageKey) -> Self {
        Self {
            crypto,
            storage: Overlay::new(backing, key),
        }
    }

    /// The storage writes of the operation so far (see [`Overlay::take_batch`]).
    pub fn take_batch(&self) -> Batch {
        self.storage.take_batch()
    }

    /// Forgets the storage writes of the operation so far.
    pub fn discard(&self) {
        self.storage.discard();
    }

    /// The storage overlay.
    pub fn overlay(&self) -> &Overlay<B> {
        &self.storage
    }
}

impl<B: Backing> OpenMlsProvider for Provider<'_, B> {
    type CryptoProvider = Crypto;
    type RandProvider = Crypto;
    type StorageProvider = Overlay<B>;

    fn storage(&self) -> &Self::StorageProvider {
        &self.storage
    }

    fn crypto(&self) -> &Self::CryptoProvider {
        self.crypto
    }

    fn rand(&self) -> &Self::RandProvider {
        self.crypto
    }
}

#[cfg(test)]
mod tests {
    use openmls_traits::types::HpkeAeadType;

    use super::*;

    #[test]
    fn other_suites_are_refused_with_typed_errors() {
        let crypto = Crypto::new();
        assert_eq!(
            crypto.supports(Ciphersuite::MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519),
            Err(CryptoError::UnsupportedCiphersuite)
        );
        assert_eq!(crypto.supported_ciphersuites(), vec![CIPHERSUITE]);
        assert_eq!(
            crypto.hash(HashType::Sha2_384, b"x"),
            Err(CryptoError::UnsupportedHashAlgorithm)
        );
        assert_eq!(
            crypto.aead_encrypt(AeadType::Aes128Gcm, &[0; 16], b"x", &[0; 12], b""),
            Err(CryptoError::UnsupportedAeadAlgorithm)
        );
        assert_eq!(
            crypto
                .signature_key_gen(SignatureScheme::ECDSA_SECP256R1_SHA256)
                .err(),
            Some(CryptoError::UnsupportedSignatureScheme)
        );
        let aes = HpkeConfig(
            HpkeKemType::DhKem25519,
            HpkeKdfType::HkdfSha256,
            HpkeAeadType::AesGcm128,
        );
        assert_eq!(
            crypto
                .derive_hpke_keypair(aes, &[0; 32])
                .err()
                .map(|e| e.to_string()),
            Some(CryptoError::UnsupportedAeadAlgorithm.to_string())
        );
        let p256 = Ciphersuite::MLS_128_DHKEMP256_AES128GCM_SHA256_P256.hpke_config();
        assert_eq!(
            crypto.hpke_seal(p256, &[0; 65], b"", b"", b"").err(),
            Some(CryptoError::UnsupportedCiphersuite)
        );
    }

    #[test]
    fn aead_and_signatures_round_trip_and_refuse_tampering() {
        let crypto = Crypto::new();
        let alg = AeadType::ChaCha20Poly1305;
        let sealed = crypto
            .aead_encrypt(alg, &[1; 32], b"text", &[2; 12], b"aad")
            .unwrap();
        assert_eq!(
            crypto
                .aead_decrypt(alg, &[1; 32], &sealed, &[2; 12], b"aad")
                .unwrap(),
            b"text"
        );
        assert_eq!(
            crypto.aead_decrypt(alg, &[1; 32], &sealed, &[2; 12], b"aaD"),
            Err(CryptoError::AeadDecryptionError)
        );
        assert_eq!(
            crypto.aead_decrypt(alg, &[1; 32], &sealed[..15], &[2; 12], b"aad"),
            Err(CryptoError::AeadDecryptionError)
        );
        assert_eq!(
            crypto.aead_encrypt(alg, &[1; 32], b"t", &[2; 11], b""),
            Err(CryptoError::InvalidLength)
        );

        let scheme = SignatureScheme::ED25519;
        let (secret, public) = crypto.signature_key_gen(scheme).unwrap();
        let signature = crypto.sign(scheme, b"data", &secret).unwrap();
        assert!(
            crypto
                .verify_signature(scheme, b"data", &public, &signature)
                .is_ok()
        );
        assert_eq!(
            crypto.verify_signature(scheme, b"datA", &public, &signature),
            Err(CryptoError::InvalidSignature)
        );
        // The identity point: small order, refused whatever the signature.
        let mut identity = [0u8; 32];
        identity[0] = 1;
        assert_eq!(
            crypto.verify_signature(scheme, b"data", &identity, &signature),
            Err(CryptoError::InvalidPublicKey)
        );
    }

    #[test]
    fn hpke_round_trips_through_the_provider() {
        let crypto = Crypto::new();
        let config = CIPHERSUITE.hpke_config();
        let pair = crypto
            .derive_hpke_keypair(CIPHERSUITE.hpke_config(), &[3; 32])
            .unwrap();
        let sealed = crypto
            .hpke_seal(config, &pair.public, b"info", b"aad", b"secret")
            .unwrap();
        let opened = crypto
            .hpke_open(
                CIPHERSUITE.hpke_config(),
                &sealed,
                &pair.private,
                b"info",
                b"aad",
            )
            .unwrap();
        assert_eq!(opened, b"secret");
        let (enc, sent) = crypto
            .hpke_setup_sender_and_export(CIPHERSUITE.hpke_config(), &pair.public, b"i", b"c", 32)
            .unwrap();
        let received = crypto
            .hpke_setup_receiver_and_export(
                CIPHERSUITE.hpke_config(),
                &enc,
                &pair.private,
                b"i",
                b"c",
                32,
            )
            .unwrap();
        assert_eq!(&*sent, &*received);
    }
}
