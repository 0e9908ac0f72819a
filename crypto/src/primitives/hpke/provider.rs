//! The primitives `hpke-rs` asks of a crypto provider, for the one suite Tern uses, from the
//! libraries the rest of the crate already uses: X25519 and ChaCha20-Poly1305 on AWS-LC,
//! HKDF-SHA256 from `hkdf`.
//!
//! Nothing of RFC 9180 is computed here. `hpke-rs` builds DHKEM (§4.1: `DeriveKeyPair`,
//! `Encap`, `Decap`, the labels, `kem_context`) and the key schedule (§5.1) itself and calls
//! this provider only for `DH`, `pk(sk)`, `Extract`, `Expand`, `Seal` and `Open`, which is what
//! its `HpkeCrypto` trait is for. Every other algorithm is refused.

use std::{cell::RefCell, sync::Arc};

use aws_lc_rs::{
    aead::{Aad, CHACHA20_POLY1305, LessSafeKey, Nonce, UnboundKey},
    agreement,
};
use hkdf::Hkdf;
use hpke_rs_crypto::{
    HpkeCrypto, TryCryptoRng, TryRng,
    error::Error,
    types::{
        AeadAlgorithm, KdfAlgorithm, KemAlgorithm, SingleStageKdfAlgorithm, TwoStageKdfAlgorithm,
    },
};
use sha2::Sha256;
use subtle::ConstantTimeEq;
use zeroize::{Zeroize, Zeroizing};

use super::super::{PrimitiveError, TAG_LEN, x25519_agree, x25519_key};

/// `hpke-rs`'s crypto provider over AWS-LC.
#[derive(Debug)]
pub(super) struct AwsLc;

/// The randomness of one seal: the 32 bytes of `ikmE`, drawn from the caller's RNG before
/// `hpke-rs` runs, handed out once and wiped on drop.
///
/// `hpke-rs` owns its RNG (as a value of the provider's `HpkePrng` type), where the crate's
/// callers lend theirs; so the caller's RNG is read here, and `hpke-rs` draws exactly this
/// once, for `DeriveKeyPair(ikmE)`. A second draw, or one of another length, is refused.
pub(super) struct Ikm(Option<Zeroizing<[u8; 32]>>);

impl Ikm {
    pub(super) fn new(ikm: Zeroizing<[u8; 32]>) -> Self {
        Self(Some(ikm))
    }

    /// No randomness: opening draws none.
    pub(super) fn none() -> Self {
        Self(None)
    }
}

impl TryRng for Ikm {
    type Error = Error;

    fn try_next_u32(&mut self) -> Result<u32, Error> {
        Err(Error::InsufficientRandomness)
    }

    fn try_next_u64(&mut self) -> Result<u64, Error> {
        Err(Error::InsufficientRandomness)
    }

    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Error> {
        match self.0.take() {
            Some(ikm) if dst.len() == ikm.len() => {
                dst.copy_from_slice(ikm.as_ref());
                Ok(())
            }
            _ => Err(Error::InsufficientRandomness),
        }
    }
}

impl TryCryptoRng for Ikm {}

thread_local! {
    /// The X25519 secret key this thread last loaded into AWS-LC, while a [`KeyScope`] is
    /// open (`Some`); no key is kept outside one (`None`).
    static LOADED: RefCell<Option<Option<Loaded>>> = const { RefCell::new(None) };
}

/// A secret key loaded into AWS-LC, with the bytes it was loaded from.
struct Loaded {
    secret: Zeroizing<[u8; 32]>,
    key: Arc<agreement::PrivateKey>,
}

/// While one of these lives, the provider keeps the last X25519 secret key it loaded, and
/// drops it (AWS-LC wipes it) when the scope ends.
///
/// `hpke-rs` asks for `pk(sk)` and `DH(sk, ·)` with the same secret in two calls: the
/// ephemeral key when sealing, the recipient's key when opening. Loading a secret into AWS-LC
/// computes its public key (a fixed-base multiplication, about a quarter of a DH), so loading
/// it for each call would do that twice. A seal or an open opens a scope for its duration, and
/// the second call finds the key the first one loaded.
pub(super) struct KeyScope(());

impl KeyScope {
    pub(super) fn enter() -> Self {
        LOADED.with_borrow_mut(|slot| *slot = Some(None));
        Self(())
    }

    /// A scope that starts with `key`, already loaded from `secret` (a long-lived key, loaded
    /// once: see [`super::super::X25519StaticSecret`]).
    pub(super) fn enter_with(secret: &[u8; 32], key: Arc<agreement::PrivateKey>) -> Self {
        let loaded = Loaded {
            secret: Zeroizing::new(*secret),
            key,
        };
        LOADED.with_borrow_mut(|slot| *slot = Some(Some(loaded)));
        Self(())
    }
}

impl Drop for KeyScope {
    fn drop(&mut self) {
        LOADED.with_borrow_mut(|slot| *slot = None);
    }
}

/// Runs `f` with `secret` loaded into AWS-LC: the key already loaded in this scope if it is
/// the same one, otherwise a new one (kept for the rest of the scope, if there is one).
fn with_key<T>(
    secret: &[u8; 32],
    f: impl FnOnce(&agreement::PrivateKey) -> Result<T, PrimitiveError>,
) -> Result<T, PrimitiveError> {
    LOADED.with_borrow_mut(|slot| match slot {
        Some(Some(loaded)) if bool::from(loaded.secret.ct_eq(secret)) => f(&loaded.key),
        Some(kept) => {
            let key = Arc::new(x25519_key(secret)?);
            let result = f(&key);
            *kept = Some(Loaded {
                secret: Zeroizing::new(*secret),
                key,
            });
            result
        }
        None => f(&x25519_key(secret)?),
    })
}

fn x25519_only(alg: KemAlgorithm) -> Result<(), Error> {
    match alg {
        KemAlgorithm::DhKem25519 => Ok(()),
        _ => Err(Error::UnknownKemAlgorithm),
    }
}

fn hkdf_sha256_only(alg: TwoStageKdfAlgorithm) -> Result<(), Error> {
    match alg {
        TwoStageKdfAlgorithm::HkdfSha256 => Ok(()),
        _ => Err(Error::UnknownKdfAlgorithm),
    }
}

fn chacha20poly1305_key(alg: AeadAlgorithm, key: &[u8]) -> Result<LessSafeKey, Error> {
    match alg {
        AeadAlgorithm::ChaCha20Poly1305 => UnboundKey::new(&CHACHA20_POLY1305, key)
            .map(LessSafeKey::new)
            .map_err(|_| Error::CryptoLibraryError("invalid ChaCha20-Poly1305 key".into())),
        _ => Err(Error::UnknownAeadAlgorithm),
    }
}

fn chacha20poly1305_nonce(nonce: &[u8]) -> Result<Nonce, Error> {
    Nonce::try_assume_unique_for_key(nonce).map_err(|_| Error::AeadInvalidNonce)
}

fn x25519_array<const N: usize>(bytes: &[u8], error: Error) -> Result<&[u8; N], Error> {
    bytes.try_into().map_err(|_| error)
}

impl HpkeCrypto for AwsLc {
    type HpkePrng = Ikm;

    fn name() -> String {
        "AWS-LC".into()
    }

    fn supports_kdf(alg: KdfAlgorithm) -> Result<(), Error> {
        match alg {
            KdfAlgorithm::HkdfSha256 => Ok(()),
            _ => Err(Error::UnknownKdfAlgorithm),
        }
    }

    fn supports_kem(alg: KemAlgorithm) -> Result<(), Error> {
        x25519_only(alg)
    }

    fn supports_aead(alg: AeadAlgorithm) -> Result<(), Error> {
        match alg {
            AeadAlgorithm::ChaCha20Poly1305 => Ok(()),
            _ => Err(Error::UnknownAeadAlgorithm),
        }
    }

    fn kdf_extract(alg: TwoStageKdfAlgorithm, salt: &[u8], ikm: &[u8]) -> Result<Vec<u8>, Error> {
        hkdf_sha256_only(alg)?;
        Ok(Hkdf::<Sha256>::extract(Some(salt), ikm).0.to_vec())
    }

    fn kdf_expand(
        alg: TwoStageKdfAlgorithm,
        prk: &[u8],
        info: &[u8],
        output_size: usize,
    ) -> Result<Vec<u8>, Error> {
        hkdf_sha256_only(alg)?;
        let hkdf = Hkdf::<Sha256>::from_prk(prk)
            .map_err(|_| Error::CryptoLibraryError("invalid HKDF PRK length".into()))?;
        let mut out = vec![0; output_size];
        hkdf.expand(info, &mut out)
            .map_err(|_| Error::HpkeInvalidOutputLength)?;
        Ok(out)
    }

    fn kdf_derive(_: SingleStageKdfAlgorithm, _: &[u8], _: usize) -> Result<Vec<u8>, Error> {
        Err(Error::UnknownKdfAlgorithm)
    }

    fn dh(alg: KemAlgorithm, pk: &[u8], sk: &[u8]) -> Result<Vec<u8>, Error> {
        x25519_only(alg)?;
        let pk = x25519_array(pk, Error::KemInvalidPublicKey)?;
        let sk = x25519_array(sk, Error::KemInvalidSecretKey)?;
        // An all-zero result is refused, as RFC 9180 §7.1.4 requires of DH.
        with_key(sk, |key| x25519_agree(key, pk))
            .map(|shared| shared.to_vec())
            .map_err(|_| Error::KemInvalidPublicKey)
    }

    fn secret_to_public(alg: KemAlgorithm, sk: &[u8]) -> Result<Vec<u8>, Error> {
        x25519_only(alg)?;
        let sk = x25519_array(sk, Error::KemInvalidSecretKey)?;
        // AWS-LC computed the public key when it loaded the secret; this reads it.
        with_key(sk, |key| {
            key.compute_public_key()
                .map(|public| public.as_ref().to_vec())
                .map_err(|_| PrimitiveError::InvalidKey)
        })
        .map_err(|_| Error::KemInvalidSecretKey)
    }

    fn dh_validate_sk(alg: KemAlgorithm, _: &[u8]) -> Result<Vec<u8>, Error> {
        // Only the NIST curves' `DeriveKeyPair` validates candidate keys.
        x25519_only(alg)?;
        Err(Error::UnsupportedKemOperation)
    }

    fn kem_key_gen(_: KemAlgorithm, _: &mut Ikm) -> Result<(Vec<u8>, Vec<u8>), Error> {
        Err(Error::UnsupportedKemOperation)
    }

    fn kem_key_gen_derand(_: KemAlgorithm, _: &[u8]) -> Result<(Vec<u8>, Vec<u8>), Error> {
        Err(Error::UnsupportedKemOperation)
    }

    fn kem_encaps(_: KemAlgorithm, _: &[u8], _: &mut Ikm) -> Result<(Vec<u8>, Vec<u8>), Error> {
        Err(Error::UnsupportedKemOperation)
    }

    fn kem_encaps_derand(_: KemAlgorithm, _: &[u8], _: &[u8]) -> Result<(Vec<u8>, Vec<u8>), Error> {
        Err(Error::UnsupportedKemOperation)
    }

    fn kem_decaps(_: KemAlgorithm, _: &[u8], _: &[u8]) -> Result<Vec<u8>, Error> {
        Err(Error::UnsupportedKemOperation)
    }

    fn aead_seal(
        alg: AeadAlgorithm,
        key: &[u8],
        nonce: &[u8],
        aad: &[u8],
        msg: &[u8],
    ) -> Result<Vec<u8>, Error> {
        let key = chacha20poly1305_key(alg, key)?;
        let mut sealed = vec![0; msg.len() + TAG_LEN];
        let (ciphertext, tag) = sealed.split_at_mut(msg.len());
        key.seal_out_of_place_scatter(
            chacha20poly1305_nonce(nonce)?,
            Aad::from(aad),
            msg,
            ciphertext,
            &[],
            tag,
        )
        .map_err(|_| Error::CryptoLibraryError("ChaCha20-Poly1305 refused to seal".into()))?;
        Ok(sealed)
    }

    fn aead_open(
        alg: AeadAlgorithm,
        key: &[u8],
        nonce: &[u8],
        aad: &[u8],
        msg: &[u8],
    ) -> Result<Vec<u8>, Error> {
        let key = chacha20poly1305_key(alg, key)?;
        let split = msg
            .len()
            .checked_sub(TAG_LEN)
            .ok_or(Error::AeadInvalidCiphertext)?;
        let (ciphertext, tag) = msg.split_at(split);
        // The plaintext is written straight into the buffer returned, the only copy of it;
        // AWS-LC may have written to it before finding the tag wrong, so it is wiped then.
        let mut opened = vec![0; ciphertext.len()];
        match key.open_separate_gather(
            chacha20poly1305_nonce(nonce)?,
            Aad::from(aad),
            ciphertext,
            tag,
            &mut opened,
        ) {
            Ok(()) => Ok(opened),
            Err(_) => {
                opened.zeroize();
                Err(Error::AeadOpenError)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ikm_is_handed_out_once_and_whole() {
        let mut ikm = Ikm::new(Zeroizing::new([7; 32]));
        assert!(ikm.try_fill_bytes(&mut [0; 16]).is_err());
        let mut ikm = Ikm::new(Zeroizing::new([7; 32]));
        let mut out = [0; 32];
        ikm.try_fill_bytes(&mut out).unwrap();
        assert_eq!(out, [7; 32]);
        assert!(ikm.try_fill_bytes(&mut out).is_err());
        assert!(ikm.try_next_u64().is_err());
        assert!(Ikm::none().try_fill_bytes(&mut out).is_err());
    }

    #[test]
    fn a_scope_keeps_one_key_and_drops_it_at_its_end() {
        let kept = || LOADED.with_borrow(|slot| slot.as_ref().map(|kept| kept.is_some()));
        let (a, b) = ([1; 32], [2; 32]);
        let public = |secret| AwsLc::secret_to_public(KemAlgorithm::DhKem25519, secret).unwrap();
        let dh = |secret, public| AwsLc::dh(KemAlgorithm::DhKem25519, public, secret).unwrap();
        // Outside a scope, nothing is kept.
        let (public_a, public_b) = (public(&a), public(&b));
        assert_eq!(kept(), None);
        {
            let _scope = KeyScope::enter();
            assert_eq!(kept(), Some(false));
            // The kept key gives the same answers as a fresh one, and a different secret
            // replaces it rather than being answered for it.
            assert_eq!(public(&a), public_a);
            assert_eq!(kept(), Some(true));
            assert_eq!(dh(&a, &public_b), dh(&b, &public_a));
            assert_eq!(public(&a), public_a);
            assert_eq!(public(&b), public_b);
        }
        assert_eq!(kept(), None);
    }
}
