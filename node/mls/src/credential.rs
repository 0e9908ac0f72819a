//! Leaves are devices: a leaf's credential is the device certificate, and its signature key
//! is the device's Ed25519 key.
//!
//! ```text
//! LeafNode.credential    = Credential { credential_type = basic (0x0001),
//!                                       identity = device certificate bytes (opaque here) }
//! LeafNode.signature_key = the device's Ed25519 public key (32 bytes)
//! ```
//!
//! This crate never parses the certificate. The node supplies a [`CredentialVerifier`]:
//! `verify` runs whenever a credential enters the tree (an Add's key package, a member's
//! update, every leaf of a tree received with a Welcome) and must check that the certificate
//! is valid, signed by its account, and certifies exactly this signature key; it returns the
//! [`Identity`] the member is shown and authorized as (the account). `identity` re-reads the
//! identity of a credential that was verified when it entered, and must be cheap.
//!
//! A member's authority (admin or not) belongs to its identity, so every device of an
//! account has the same role, and a device cannot change its account by an update: an
//! update whose credential maps to another identity is refused.

use ed25519_dalek::{Signer as _, SigningKey};
use openmls::prelude::{BasicCredential, CredentialWithKey, OpenMlsSignaturePublicKey};
use openmls_traits::{
    signatures::{Signer, SignerError},
    types::SignatureScheme,
};
use zeroize::Zeroizing;

/// Who a member is, as the node's [`CredentialVerifier`] names it (the account's id bytes).
/// The admin list holds these.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Identity(pub Vec<u8>);

impl std::fmt::Debug for Identity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Identity(")?;
        for byte in self.0.iter().take(8) {
            write!(f, "{byte:02x}")?;
        }
        write!(f, ")")
    }
}

/// A credential was refused by the node's verifier.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("credential refused: {reason}")]
pub struct CredentialError {
    /// Why, in the verifier's words.
    pub reason: String,
}

impl CredentialError {
    /// A refusal with a reason.
    pub fn new(reason: impl Into<String>) -> Self {
        Self {
            reason: reason.into(),
        }
    }
}

/// The node's check of device certificates (see the module documentation).
pub trait CredentialVerifier {
    /// Verifies `credential` (the device certificate) for the leaf signature key
    /// `signature_key`, and returns the member's identity (at most [`MAX_IDENTITY_LEN`]
    /// bytes; a longer one is refused).
    fn verify(&self, credential: &[u8], signature_key: &[u8]) -> Result<Identity, CredentialError>;

    /// The identity of a credential already verified by [`CredentialVerifier::verify`]. Must
    /// return what `verify` returned for it.
    fn identity(&self, credential: &[u8]) -> Result<Identity, CredentialError>;
}

/// Longest identity the roles extension can hold (its length is one byte).
pub const MAX_IDENTITY_LEN: usize = 255;

/// `verifier.verify`, refusing identities longer than [`MAX_IDENTITY_LEN`].
pub(crate) fn verify(
    verifier: &dyn CredentialVerifier,
    credential: &[u8],
    signature_key: &[u8],
) -> Result<Identity, CredentialError> {
    let identity = verifier.verify(credential, signature_key)?;
    if identity.0.len() > MAX_IDENTITY_LEN {
        return Err(CredentialError::new("identity longer than 255 bytes"));
    }
    Ok(identity)
}

/// The device's signing key, as openmls's [`Signer`]. Wiped on drop; `Debug` shows only the
/// public key.
pub struct DeviceSigner {
    key: SigningKey,
}

impl DeviceSigner {
    /// The signer for the Ed25519 secret key (seed) `secret`.
    pub fn from_secret(secret: &[u8; 32]) -> Self {
        Self {
            key: SigningKey::from_bytes(secret),
        }
    }

    /// A fresh random device key (tests and tools; the node uses its device key).
    pub fn generate(crypto: &crate::Crypto) -> Result<Self, crate::RandError> {
        use openmls_traits::random::OpenMlsRand;
        let secret = Zeroizing::new(crypto.random_array::<32>()?);
        Ok(Self::from_secret(&secret))
    }

    /// The Ed25519 public key: the leaf's signature key.
    pub fn public(&self) -> [u8; 32] {
        self.key.verifying_key().to_bytes()
    }

    /// The credential and key a leaf of this device carries, with `certificate` as the
    /// credential's bytes.
    pub fn credential(&self, certificate: Vec<u8>) -> CredentialWithKey {
        CredentialWithKey {
            credential: BasicCredential::new(certificate).into(),
            signature_key: OpenMlsSignaturePublicKey::new(
                self.public().to_vec().into(),
                SignatureScheme::ED25519,
            )
            .map(Into::into)
            // A 32-byte key for Ed25519 is always accepted.
            .unwrap_or_else(|_| self.public().to_vec().into()),
        }
    }
}

impl std::fmt::Debug for DeviceSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeviceSigner")
            .field("public", &Identity(self.public().to_vec()))
            .finish()
    }
}

impl Signer for DeviceSigner {
    fn sign(&self, payload: &[u8]) -> Result<Vec<u8>, SignerError> {
        Ok(self.key.sign(payload).to_bytes().to_vec())
    }

    fn signature_scheme(&self) -> SignatureScheme {
        SignatureScheme::ED25519
    }
}

/// A verifier for tests, tools and benchmarks: the credential is `identity ‖ signature key`
/// and the identity is the bytes before the last 32. The node verifies real certificates.
#[derive(Debug, Default, Clone, Copy)]
pub struct InsecureTestVerifier;

impl InsecureTestVerifier {
    /// The credential bytes this verifier accepts for `identity` and `signer`.
    pub fn credential(identity: &[u8], signer: &DeviceSigner) -> Vec<u8> {
        [identity, &signer.public()].concat()
    }
}

impl CredentialVerifier for InsecureTestVerifier {
    fn verify(&self, credential: &[u8], signature_key: &[u8]) -> Result<Identity, CredentialError> {
        let split = credential
            .len()
            .checked_sub(32)
            .ok_or_else(|| CredentialError::new("too short"))?;
        if &credential[split..] != signature_key {
            return Err(CredentialError::new("not this device's key"));
        }
        self.identity(credential)
    }

    fn identity(&self, credential: &[u8]) -> Result<Identity, CredentialError> {
        let split = credential
            .len()
            .checked_sub(32)
            .ok_or_else(|| CredentialError::new("too short"))?;
        Ok(Identity(credential[..split].to_vec()))
    }
}
