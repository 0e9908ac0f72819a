//! Account identities, addresses, device certificates and safety numbers.
//!
//! An account is three key pairs made together:
//!
//! - an **Ed25519 signing key** — the root of the account. Its public key *is* the account: the
//!   [`UserId`], shown to people as a checksummed address;
//! - an **X25519 identity key** `IK`, used in PQXDH, bound to the signing key by
//!   `binding = Sign(signing key, "tern/identity-binding/v1" ‖ ed25519_pk ‖ IK)`;
//! - an **X25519 mailbox key**, to which senders seal envelopes (see [`crate::envelope`]); it is
//!   published, signed, in the prekey bundle.
//!
//! A **device** (a node, identified by its libp2p Ed25519 key) acts for an account when the
//! account has signed a [`DeviceCertificate`] for it, valid for a bounded time. One account can
//! so run several devices and stop renewing (or later revoke) one.
//!
//! A [`SafetyNumber`] lets two people compare, out of band, that each holds the other's real
//! account key. It is the iteration of Signal's numeric fingerprints
//! (`NumericFingerprintGenerator`, version 0): per party, with `key` the 32-byte Ed25519
//! account key and the address as the stable identifier,
//!
//! ```text
//! hash = 0x0000 ‖ key ‖ address              (version u16, big-endian)
//! repeat 5200 times: hash = SHA-512(hash ‖ key)
//! ```
//!
//! so the first SHA-512 runs over the raw input, and there are 5200 in all. The first 30 bytes
//! of the result become six 5-digit groups (each 5 bytes, big-endian, mod 100000); the two
//! halves are sorted and joined, so both sides see the same 60 digits. The numbers differ from
//! Signal's because the key carries no type byte and the identifier is the address.

mod statement;

pub use statement::SigningContext;
use statement::statement_message;

use std::{fmt, str::FromStr};

use bech32::{Bech32m, Hrp, primitives::decode::CheckedHrpstring};
use ed25519_dalek::SigningKey;
use rand_core::CryptoRng;
use sha2::{Digest, Sha512};
use thiserror::Error;
use zeroize::Zeroizing;

use crate::{
    codec::{DecodeError, Reader, Writer},
    envelope::{MailboxPublicKey, MailboxSecret},
    primitives::{self, PrimitiveError},
};

/// Human-readable part of an address.
const ADDRESS_HRP: &str = "tern";
/// Version byte inside an address, so the key type can change without confusing old readers.
const ADDRESS_VERSION: u8 = 1;

const LABEL_IDENTITY_BINDING: &[u8] = b"tern/identity-binding/v1";
const LABEL_DEVICE_CERTIFICATE: &[u8] = b"tern/device-certificate/v1";

/// How far in the future a certificate's creation time may lie before it is refused. Clocks of
/// consumer machines drift by minutes; an hour absorbs that and time-zone mistakes without
/// letting a pre-dated certificate outlive its intended life by much.
pub const MAX_CLOCK_SKEW_SECS: u64 = 60 * 60;

const ACCOUNT_STATE_VERSION: u8 = 1;
const DEVICE_CERTIFICATE_VERSION: u8 = 1;
/// Iterations of the safety-number hash, as in Signal's fingerprint construction: enough to
/// make grinding for a colliding key expensive, cheap enough to show instantly.
const SAFETY_NUMBER_ITERATIONS: usize = 5200;
const SAFETY_NUMBER_VERSION: u16 = 0;

/// Why a signed object (identity, certificate, prekey, bundle) was refused.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum VerifyError {
    /// The bytes do not decode.
    #[error("malformed: {0}")]
    Decode(#[from] DecodeError),
    /// A signature does not verify (strict Ed25519 rules).
    #[error("bad signature on {0}")]
    BadSignature(&'static str),
    /// A public key is not a valid point, or is a small-order point.
    #[error("invalid or low-order key in {0}")]
    InvalidKey(&'static str),
    /// The object's validity ended.
    #[error("{what} expired at {expires} (now {now})")]
    Expired {
        /// Which object.
        what: &'static str,
        /// Its expiry, Unix seconds.
        expires: u64,
        /// The time it was checked at.
        now: u64,
    },
    /// The object's validity starts in the future, beyond the allowed clock skew.
    #[error("{0} is not valid yet")]
    NotYetValid(&'static str),
    /// The object's validity period contradicts itself or what it contains: it ends before it
    /// starts, or a bundle claims to be valid longer than its prekeys. Whatever the time, such
    /// an object is never valid.
    #[error("{0} has an inconsistent validity period")]
    InconsistentValidity(&'static str),
    /// The object is signed by, or names, a different account than expected.
    #[error("{0} belongs to a different account")]
    WrongAccount(&'static str),
}

/// Why a text address was refused.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum AddressError {
    /// The checksum does not match: a typo, or a truncated or altered address.
    #[error("address checksum does not match (typo or truncated address)")]
    Checksum,
    /// Not a well-formed bech32m string.
    #[error("malformed address: {0}")]
    Malformed(String),
    /// The address is for something other than a Tern account.
    #[error("not a tern address (prefix {0:?})")]
    WrongPrefix(String),
    /// The address version is unknown to this build.
    #[error("unsupported address version {0}")]
    UnsupportedVersion(u8),
    /// The address carries the wrong number of bytes.
    #[error("address has {0} key bytes, expected 32")]
    Length(usize),
    /// The bytes are not a usable Ed25519 public key.
    #[error("address does not hold a valid account key")]
    InvalidKey,
    /// The string decodes to a valid key but is not that key's address: non-zero padding bits
    /// or extra data characters, with a checksum computed to match. Every key has exactly one
    /// address (in lower case, or all upper case).
    #[error("address is not in canonical form")]
    NonCanonical,
}

/// The address of an account: its Ed25519 public key.
///
/// Displays as a bech32m string with prefix `tern` (BIP 350), which detects any error in up
/// to four characters and refuses truncated or extended strings.
///
/// Parsing accepts exactly one text per key: the lower-case address, or the same address in
/// upper case (as QR codes carry it, BIP 350). Mixed case, surrounding whitespace and any
/// other string that happens to decode to the same key (non-zero padding bits, extra data
/// characters) are refused. Trim text typed or pasted by people before parsing it.
///
/// ```
/// # use tern_crypto::{AccountKey, UserId};
/// let account = AccountKey::generate(&mut rand_core::UnwrapErr(getrandom::SysRng));
/// let text = account.user_id().to_string();
/// assert!(text.starts_with("tern1"));
/// assert_eq!(text.parse::<UserId>().unwrap(), account.user_id());
/// // One changed character is caught.
/// let mut typo = text.clone().into_bytes();
/// typo[10] = if typo[10] == b'q' { b'p' } else { b'q' };
/// assert!(String::from_utf8(typo).unwrap().parse::<UserId>().is_err());
/// ```
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct UserId([u8; 32]);

impl UserId {
    /// The account's Ed25519 public key, checked to be a valid, not small-order point.
    pub fn from_bytes(bytes: [u8; 32]) -> Result<Self, VerifyError> {
        primitives::ed25519_parse_public(&bytes)
            .map_err(|_| VerifyError::InvalidKey("account key"))?;
        Ok(Self(bytes))
    }

    /// The raw Ed25519 public key.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// A short form for logs: 12 characters of the address, starting after `tern1q`. (The
    /// first data character is always `q`, from the high bits of the version byte, so it would
    /// tell addresses apart by nothing.)
    pub fn short(&self) -> String {
        let full = self.to_string();
        full.get(6..18).unwrap_or(&full).to_owned()
    }

    /// Verifies a statement signed with [`AccountKey::sign_statement`] under `context`.
    pub fn verify_statement(
        &self,
        context: SigningContext,
        message: &[u8],
        signature: &[u8; 64],
    ) -> Result<(), VerifyError> {
        self.verify(&statement_message(context, message), signature, "statement")
    }

    pub(crate) fn verify(
        &self,
        message: &[u8],
        signature: &[u8; 64],
        what: &'static str,
    ) -> Result<(), VerifyError> {
        primitives::ed25519_verify(&self.0, message, signature).map_err(|e| match e {
            PrimitiveError::InvalidKey => VerifyError::InvalidKey(what),
            _ => VerifyError::BadSignature(what),
        })
    }
}

impl fmt::Display for UserId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut data = [0u8; 33];
        data[0] = ADDRESS_VERSION;
        data[1..].copy_from_slice(&self.0);
        let hrp = Hrp::parse_unchecked(ADDRESS_HRP);
        bech32::encode_lower_to_fmt::<Bech32m, _>(f, hrp, &data).map_err(|_| fmt::Error)
    }
}

impl fmt::Debug for UserId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "UserId({})", self.short())
    }
}

impl FromStr for UserId {
    type Err = AddressError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        use bech32::primitives::decode::CheckedHrpstringError;
        let checked = CheckedHrpstring::new::<Bech32m>(s).map_err(|e| match e {
            CheckedHrpstringError::Checksum(_) => AddressError::Checksum,
            other => AddressError::Malformed(other.to_string()),
        })?;
        if checked.hrp().to_lowercase() != ADDRESS_HRP {
            return Err(AddressError::WrongPrefix(checked.hrp().to_string()));
        }
        let data: Vec<u8> = checked.byte_iter().collect();
        let (&version, key) = data.split_first().ok_or(AddressError::Length(0))?;
        if version != ADDRESS_VERSION {
            return Err(AddressError::UnsupportedVersion(version));
        }
        let key: [u8; 32] = key
            .try_into()
            .map_err(|_| AddressError::Length(key.len()))?;
        let user = Self::from_bytes(key).map_err(|_| AddressError::InvalidKey)?;
        // The decoder ignores padding bits and a partial trailing byte, so several checksummed
        // strings can decode to one key. Only the one the key displays as is its address.
        // (Mixed case was refused above, so lowering the case only admits all-upper input.)
        if user.to_string() != s.to_ascii_lowercase() {
            return Err(AddressError::NonCanonical);
        }
        Ok(user)
    }
}

#[cfg(feature = "serde")]
impl serde::Serialize for UserId {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        if serializer.is_human_readable() {
            serializer.collect_str(self)
        } else {
            serializer.serialize_bytes(&self.0)
        }
    }
}

#[cfg(feature = "serde")]
impl<'de> serde::Deserialize<'de> for UserId {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        if deserializer.is_human_readable() {
            let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
            text.parse().map_err(D::Error::custom)
        } else {
            let bytes = <std::borrow::Cow<'de, [u8]>>::deserialize(deserializer)?;
            let bytes: [u8; 32] = bytes
                .as_ref()
                .try_into()
                .map_err(|_| D::Error::invalid_length(bytes.len(), &"32 bytes"))?;
            Self::from_bytes(bytes).map_err(D::Error::custom)
        }
    }
}

/// The identity key of a device: the Ed25519 public key behind its libp2p `PeerId`.
///
/// Displays as 64 lowercase hex digits, and parses from exactly that form: no upper case, no
/// sign or whitespace, so each device has one text form.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct DeviceId([u8; 32]);

impl DeviceId {
    /// Wraps a device's Ed25519 public key, checked to be a valid, not small-order point.
    pub fn from_bytes(bytes: [u8; 32]) -> Result<Self, VerifyError> {
        primitives::ed25519_parse_public(&bytes)
            .map_err(|_| VerifyError::InvalidKey("device key"))?;
        Ok(Self(bytes))
    }

    /// The raw Ed25519 public key.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// A short form for logs.
    pub fn short(&self) -> String {
        self.to_string()[..12].to_owned()
    }
}

impl fmt::Display for DeviceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.iter().try_for_each(|b| write!(f, "{b:02x}"))
    }
}

impl fmt::Debug for DeviceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DeviceId({})", self.short())
    }
}

impl FromStr for DeviceId {
    type Err = VerifyError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let invalid = || VerifyError::Decode(DecodeError::Invalid("device id hex"));
        // Each digit by hand: `u8::from_str_radix` would also take upper case and a `+` sign.
        let digit = |c: u8| match c {
            b'0'..=b'9' => Ok(c - b'0'),
            b'a'..=b'f' => Ok(c - b'a' + 10),
            _ => Err(invalid()),
        };
        if s.len() != 64 {
            return Err(invalid());
        }
        let mut bytes = [0u8; 32];
        for (byte, pair) in bytes.iter_mut().zip(s.as_bytes().chunks_exact(2)) {
            *byte = (digit(pair[0])? << 4) | digit(pair[1])?;
        }
        Self::from_bytes(bytes)
    }
}

/// The public half of an account: what a peer needs to verify it and run PQXDH with it.
///
/// A `PublicIdentity` obtained from bytes has always had its binding signature verified.
#[derive(Clone, PartialEq, Eq)]
pub struct PublicIdentity {
    user: UserId,
    dh: [u8; 32],
    binding: [u8; 64],
}

impl PublicIdentity {
    /// Encoded length: `ed25519_pk [32] ‖ x25519_ik [32] ‖ binding [64]`.
    pub const LEN: usize = 128;

    /// The account address.
    pub fn user_id(&self) -> UserId {
        self.user
    }

    /// The X25519 identity key `IK` used in PQXDH.
    pub fn dh_key(&self) -> &[u8; 32] {
        &self.dh
    }

    /// The 128-byte encoding.
    pub fn to_bytes(&self) -> [u8; Self::LEN] {
        let mut out = [0u8; Self::LEN];
        out[..32].copy_from_slice(self.user.as_bytes());
        out[32..64].copy_from_slice(&self.dh);
        out[64..].copy_from_slice(&self.binding);
        out
    }

    /// Decodes and verifies (binding signature, key validity).
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, VerifyError> {
        let mut r = Reader::new(bytes);
        let identity = Self::read(&mut r)?;
        r.finish()?;
        Ok(identity)
    }

    pub(crate) fn read(r: &mut Reader<'_>) -> Result<Self, VerifyError> {
        let user = UserId::from_bytes(r.array("identity signing key")?)?;
        let dh: [u8; 32] = r.array("identity dh key")?;
        let binding = r.array("identity binding")?;
        if primitives::x25519_is_low_order(&dh) {
            return Err(VerifyError::InvalidKey("identity dh key"));
        }
        user.verify(&binding_message(&user, &dh), &binding, "identity binding")?;
        Ok(Self { user, dh, binding })
    }

    /// Reads an identity from this device's own stored state. Its signature was verified when
    /// it first arrived, and stored state is authenticated by the at-rest encryption, so the
    /// Ed25519 verification (the bulk of loading a session) is not repeated; the keys are still
    /// checked to be valid points.
    pub(crate) fn read_stored(r: &mut Reader<'_>) -> Result<Self, VerifyError> {
        let user = UserId::from_bytes(r.array("identity signing key")?)?;
        let dh: [u8; 32] = r.array("identity dh key")?;
        let binding = r.array("identity binding")?;
        if primitives::x25519_is_low_order(&dh) {
            return Err(VerifyError::InvalidKey("identity dh key"));
        }
        Ok(Self { user, dh, binding })
    }

    pub(crate) fn write(&self, w: &mut Writer) {
        w.bytes(&self.to_bytes());
    }
}

impl fmt::Debug for PublicIdentity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PublicIdentity")
            .field("user", &self.user)
            .finish_non_exhaustive()
    }
}

fn binding_message(user: &UserId, dh: &[u8; 32]) -> Vec<u8> {
    [LABEL_IDENTITY_BINDING, user.as_bytes(), dh].concat()
}

/// An account's secret keys. Never leaves the device except encrypted at rest.
///
/// ```
/// # use tern_crypto::AccountKey;
/// let mut rng = rand_core::UnwrapErr(getrandom::SysRng);
/// let account = AccountKey::generate(&mut rng);
/// let stored = account.to_bytes(); // encrypt this with an at-rest key before writing it
/// let restored = AccountKey::from_bytes(&stored).unwrap();
/// assert_eq!(restored.user_id(), account.user_id());
/// ```
pub struct AccountKey {
    signing: SigningKey,
    dh: Zeroizing<[u8; 32]>,
    mailbox: MailboxSecret,
    public: PublicIdentity,
}

impl AccountKey {
    /// Makes a new account.
    pub fn generate<R: CryptoRng + ?Sized>(rng: &mut R) -> Self {
        let signing = Zeroizing::new(primitives::random::<32, _>(rng));
        let dh = primitives::x25519_generate(rng);
        let mailbox = MailboxSecret::generate(rng);
        Self::from_parts(&signing, dh, mailbox)
    }

    fn from_parts(signing: &[u8; 32], dh: Zeroizing<[u8; 32]>, mailbox: MailboxSecret) -> Self {
        let signing = SigningKey::from_bytes(signing);
        let user = UserId(signing.verifying_key().to_bytes());
        let dh_public = primitives::x25519_public(&dh);
        let binding = primitives::ed25519_sign(&signing, &binding_message(&user, &dh_public));
        let public = PublicIdentity {
            user,
            dh: dh_public,
            binding,
        };
        Self {
            signing,
            dh,
            mailbox,
            public,
        }
    }

    /// The same account with a new X25519 identity key, bound to it by a fresh signature of
    /// the account key: the address, the mailbox key and every statement the account key
    /// signed stay valid. Peers see the new key in the next session start or prekey bundle,
    /// and sessions set up with the old key keep working (the ratchet does not use it).
    ///
    /// ```
    /// # use tern_crypto::AccountKey;
    /// let mut rng = rand_core::UnwrapErr(getrandom::SysRng);
    /// let account = AccountKey::generate(&mut rng);
    /// let rotated = account.with_new_identity_key(&mut rng);
    /// assert_eq!(rotated.user_id(), account.user_id());
    /// assert_ne!(rotated.public().dh_key(), account.public().dh_key());
    /// ```
    pub fn with_new_identity_key<R: CryptoRng + ?Sized>(&self, rng: &mut R) -> Self {
        let dh = primitives::x25519_generate(rng);
        let mailbox = MailboxSecret::from_bytes(*self.mailbox.as_bytes());
        Self::from_parts(self.signing.as_bytes(), dh, mailbox)
    }

    /// The account address.
    pub fn user_id(&self) -> UserId {
        self.public.user
    }

    /// The public identity to hand to peers.
    pub fn public(&self) -> &PublicIdentity {
        &self.public
    }

    /// The public mailbox key senders seal envelopes to.
    pub fn mailbox_public(&self) -> MailboxPublicKey {
        self.mailbox.public()
    }

    /// The mailbox secret, to open sealed envelopes.
    pub fn mailbox_secret(&self) -> &MailboxSecret {
        &self.mailbox
    }

    /// Certifies a device key (a node's libp2p Ed25519 key) to act for this account from
    /// `created` until `expires` (Unix seconds).
    pub fn certify_device(
        &self,
        device: DeviceId,
        created: u64,
        expires: u64,
    ) -> DeviceCertificate {
        let mut cert = DeviceCertificate {
            account: self.user_id(),
            device,
            created,
            expires,
            signature: [0; 64],
        };
        cert.signature = self.sign(&cert.signed_message());
        cert
    }

    /// Signs an application statement (a DHT record, a relay request) with the account key.
    ///
    /// The signature covers `"tern/statement/v1/" ‖ context ‖ 0x00 ‖ message`, so a statement
    /// signed for one context never verifies in another, nor as any of this crate's own signed
    /// objects (whose labels do not start with that prefix). Each protocol names its own
    /// context, e.g. `"dht-record"`; [`SigningContext`] keeps zero bytes out of it, which would
    /// make the boundary between context and message ambiguous.
    pub fn sign_statement(&self, context: SigningContext, message: &[u8]) -> [u8; 64] {
        self.sign(&statement_message(context, message))
    }

    pub(crate) fn sign(&self, message: &[u8]) -> [u8; 64] {
        primitives::ed25519_sign(&self.signing, message)
    }

    /// X25519 with the identity key.
    pub(crate) fn dh(&self, public: &[u8; 32]) -> Result<Zeroizing<[u8; 32]>, PrimitiveError> {
        primitives::x25519(&self.dh, public)
    }

    /// Versioned secret state: `version u8 = 1 ‖ ed25519 seed [32] ‖ x25519 ik [32] ‖ x25519 mailbox [32]`.
    /// Store it only encrypted (see [`crate::at_rest`]).
    pub fn to_bytes(&self) -> Zeroizing<Vec<u8>> {
        let mut w = Writer::with_capacity(97);
        w.u8(ACCOUNT_STATE_VERSION)
            .bytes(self.signing.as_bytes())
            .bytes(self.dh.as_ref())
            .bytes(self.mailbox.as_bytes());
        Zeroizing::new(w.into_vec())
    }

    /// Restores the state written by [`AccountKey::to_bytes`].
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new(bytes);
        r.version("account state", ACCOUNT_STATE_VERSION)?;
        let signing = Zeroizing::new(r.array::<32>("account signing key")?);
        let dh = Zeroizing::new(r.array::<32>("account identity key")?);
        let mailbox = MailboxSecret::from_bytes(r.array::<32>("account mailbox key")?);
        r.finish()?;
        Ok(Self::from_parts(&signing, dh, mailbox))
    }
}

impl fmt::Debug for AccountKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AccountKey")
            .field("user", &self.public.user)
            .finish_non_exhaustive()
    }
}

/// An account's statement that a device may act for it, for a bounded time.
#[derive(Clone, PartialEq, Eq)]
pub struct DeviceCertificate {
    account: UserId,
    device: DeviceId,
    created: u64,
    expires: u64,
    signature: [u8; 64],
}

impl DeviceCertificate {
    /// Encoded length.
    pub const LEN: usize = 1 + 32 + 32 + 8 + 8 + 64;

    /// The certifying account.
    pub fn account(&self) -> UserId {
        self.account
    }

    /// The certified device.
    pub fn device(&self) -> DeviceId {
        self.device
    }

    /// When the certificate was made, Unix seconds.
    pub fn created(&self) -> u64 {
        self.created
    }

    /// When it stops being valid, Unix seconds.
    pub fn expires(&self) -> u64 {
        self.expires
    }

    fn signed_message(&self) -> Vec<u8> {
        let mut w = Writer::with_capacity(128);
        w.bytes(LABEL_DEVICE_CERTIFICATE)
            .bytes(self.account.as_bytes())
            .bytes(self.device.as_bytes())
            .u64(self.created)
            .u64(self.expires);
        w.into_vec()
    }

    /// Checks the signature and that `now` lies within the validity period (allowing
    /// [`MAX_CLOCK_SKEW_SECS`] for a creation time slightly in the future).
    pub fn verify(&self, now: u64) -> Result<(), VerifyError> {
        self.account.verify(
            &self.signed_message(),
            &self.signature,
            "device certificate",
        )?;
        check_validity("device certificate", self.created, self.expires, now)
    }

    /// `version u8 = 1 ‖ account [32] ‖ device [32] ‖ created u64 ‖ expires u64 ‖ signature [64]`.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut w = Writer::with_capacity(Self::LEN);
        w.u8(DEVICE_CERTIFICATE_VERSION)
            .bytes(&self.signed_message()[LABEL_DEVICE_CERTIFICATE.len()..])
            .bytes(&self.signature);
        w.into_vec()
    }

    /// Decodes and checks the signature (not the time: call [`DeviceCertificate::verify`]).
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, VerifyError> {
        let mut r = Reader::new(bytes);
        r.version("device certificate", DEVICE_CERTIFICATE_VERSION)?;
        let account = UserId::from_bytes(r.array("certificate account")?)?;
        let device = DeviceId::from_bytes(r.array("certificate device")?)?;
        let created = r.u64("certificate created")?;
        let expires = r.u64("certificate expires")?;
        let signature = r.array("certificate signature")?;
        r.finish()?;
        let cert = Self {
            account,
            device,
            created,
            expires,
            signature,
        };
        cert.account.verify(
            &cert.signed_message(),
            &cert.signature,
            "device certificate",
        )?;
        Ok(cert)
    }
}

impl fmt::Debug for DeviceCertificate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DeviceCertificate")
            .field("account", &self.account)
            .field("device", &self.device)
            .field("created", &self.created)
            .field("expires", &self.expires)
            .finish_non_exhaustive()
    }
}

/// Shared rule for anything with a validity period: `created ≤ expires` (else
/// [`VerifyError::InconsistentValidity`], whatever `now` is), `created ≤ now + skew` and
/// `now < expires`.
pub(crate) fn check_validity(
    what: &'static str,
    created: u64,
    expires: u64,
    now: u64,
) -> Result<(), VerifyError> {
    if created > expires {
        return Err(VerifyError::InconsistentValidity(what));
    }
    if created > now.saturating_add(MAX_CLOCK_SKEW_SECS) {
        return Err(VerifyError::NotYetValid(what));
    }
    if now >= expires {
        return Err(VerifyError::Expired { what, expires, now });
    }
    Ok(())
}

/// 60 digits that two people compare to be sure each has the other's real account key.
///
/// The same for both sides of a conversation, whatever the order of the arguments.
///
/// ```
/// # use tern_crypto::{AccountKey, SafetyNumber};
/// let mut rng = rand_core::UnwrapErr(getrandom::SysRng);
/// let (alice, bob) = (AccountKey::generate(&mut rng), AccountKey::generate(&mut rng));
/// let a = SafetyNumber::new(&alice.user_id(), &bob.user_id());
/// assert_eq!(a, SafetyNumber::new(&bob.user_id(), &alice.user_id()));
/// assert_eq!(a.to_string().split(' ').count(), 12); // twelve groups of five digits
/// ```
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct SafetyNumber(String);

impl SafetyNumber {
    /// The safety number of the conversation between `a` and `b`.
    pub fn new(a: &UserId, b: &UserId) -> Self {
        let (fa, fb) = (Self::fingerprint(a), Self::fingerprint(b));
        let (first, second) = if fa <= fb { (fa, fb) } else { (fb, fa) };
        Self(first + &second)
    }

    /// The 30-digit half belonging to one account: the part of every one of its safety
    /// numbers that it contributes, which an account can show on its own (`tern id`).
    pub fn fingerprint(user: &UserId) -> String {
        let key = user.as_bytes();
        // Iteration 1 hashes the raw input `version ‖ key ‖ address`, followed by the key.
        let mut hash = Sha512::new()
            .chain_update(SAFETY_NUMBER_VERSION.to_be_bytes())
            .chain_update(key)
            .chain_update(user.to_string().as_bytes())
            .chain_update(key)
            .finalize();
        for _ in 1..SAFETY_NUMBER_ITERATIONS {
            hash = Sha512::new()
                .chain_update(hash)
                .chain_update(key)
                .finalize();
        }
        hash[..30]
            .chunks_exact(5)
            .map(|chunk| {
                let value = chunk.iter().fold(0u64, |acc, &b| (acc << 8) | u64::from(b));
                format!("{:05}", value % 100_000)
            })
            .collect()
    }

    /// The 60 digits without spaces.
    pub fn digits(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for SafetyNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, group) in self.0.as_bytes().chunks(5).enumerate() {
            if i > 0 {
                f.write_str(" ")?;
            }
            f.write_str(std::str::from_utf8(group).map_err(|_| fmt::Error)?)?;
        }
        Ok(())
    }
}

impl fmt::Debug for SafetyNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SafetyNumber({self})")
    }
}
