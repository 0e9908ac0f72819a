//! The record each node publishes in the DHT, and the rules every honest node applies to
//! records it stores (on PUT) and uses (on GET).
//!
//! Key: `/tern/user/<address>` (the libp2p record-key convention of namespaced paths), where
//! `<address>` is the account's bech32m address. Value: a `SignedRecord` — the postcard
//! encoding of [`RecordBody`] and an Ed25519 signature by the *account* key over it, as a
//! statement with context `"dht-record"` (see `tern_crypto::AccountKey::sign_statement`).
//!
//! A record is valid at time `now` when all of these hold (checked in this order, each failure
//! a distinct [`RecordError`] so rejections can be counted by reason):
//!
//! 1. the value is at most [`MAX_RECORD_LEN`] bytes and decodes, with a known version;
//! 2. the key is exactly `/tern/user/<address of body.user>`;
//! 3. the signature verifies under `body.user` (strict Ed25519);
//! 4. `now < body.expires ≤ now + MAX_RECORD_LIFETIME_SECS` (a record cannot live for ever);
//! 5. the device certificate is signed by `body.user` and valid at `now`;
//! 6. the prekey bundle belongs to `body.user`, verifies, and is valid at `now`;
//! 7. addresses and relays are within their count and size bounds and parse.
//!
//! Between valid records for one key, the highest `seq` wins; a PUT with a `seq` lower than
//! the stored one, or equal with different content, is refused as stale.

use libp2p::{Multiaddr, PeerId, kad::RecordKey};
use serde::{Deserialize, Serialize};
use tern_crypto::{
    AccountKey, DeviceCertificate, PrekeyBundle, SigningContext, UserId, VerifyError,
};

/// Largest record value accepted. A record holds a prekey bundle (about 1.7 KiB with its
/// ML-KEM key), a certificate and a few addresses; 8 KiB leaves room without letting a peer
/// use our DHT storage as a file store.
pub const MAX_RECORD_LEN: usize = 8 * 1024;
/// Longest validity a record may claim. Publishers republish well before this (see
/// [`REPUBLISH_INTERVAL_SECS`]); the bound ensures an abandoned record disappears.
pub const MAX_RECORD_LIFETIME_SECS: u64 = 48 * 60 * 60;
/// How long a freshly published record is valid.
pub const RECORD_LIFETIME_SECS: u64 = 24 * 60 * 60;
/// How often a node republishes its record even when nothing changed: half the lifetime,
/// so one missed republication does not make the node unreachable.
pub const REPUBLISH_INTERVAL_SECS: u64 = RECORD_LIFETIME_SECS / 2;
/// Most listen addresses a record may carry.
pub const MAX_ADDRESSES: usize = 16;
/// Most mailbox relays a record may name.
pub const MAX_RELAYS: usize = 8;
/// Longest encoded multiaddr accepted.
const MAX_ADDRESS_LEN: usize = 256;

const RECORD_VERSION: u8 = 1;
const SIGNING_CONTEXT: SigningContext = SigningContext::new("dht-record");
const KEY_PREFIX: &str = "/tern/user/";

/// Why a record was refused. Each variant is a counter label.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RecordError {
    /// Longer than [`MAX_RECORD_LEN`] (the length given).
    #[error("record of {0} bytes exceeds the maximum")]
    Oversized(usize),
    /// The value does not decode.
    #[error("record does not decode: {0}")]
    Malformed(String),
    /// A version this implementation does not know.
    #[error("unsupported record version {0}")]
    UnsupportedVersion(u8),
    /// The key is not `/tern/user/<address of the record's account>`.
    #[error("record stored under the wrong key")]
    WrongKey,
    /// The account's signature does not verify.
    #[error("record signature does not verify")]
    BadSignature,
    /// Past its expiry.
    #[error("record expired")]
    Expired,
    /// Expires later than [`MAX_RECORD_LIFETIME_SECS`] from now.
    #[error("record claims a lifetime beyond the maximum")]
    TooLongLived,
    /// The device certificate is not the account's or not valid now.
    #[error("invalid device certificate: {0}")]
    Certificate(VerifyError),
    /// The prekey bundle is not the account's or not valid now.
    #[error("invalid prekey bundle: {0}")]
    Bundle(VerifyError),
    /// Addresses or relays beyond their bounds, or that do not parse.
    #[error("too many or invalid addresses")]
    Addresses,
    /// Older than the record held for the key (or as old, with other content).
    #[error("record is older than the one held (seq {held} ≥ {offered})")]
    Stale {
        /// The sequence number held.
        held: u64,
        /// The sequence number offered.
        offered: u64,
    },
}

impl RecordError {
    /// A short, stable label for counters and logs.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::Oversized(_) => "oversized",
            Self::Malformed(_) => "malformed",
            Self::UnsupportedVersion(_) => "version",
            Self::WrongKey => "wrong_key",
            Self::BadSignature => "bad_signature",
            Self::Expired => "expired",
            Self::TooLongLived => "too_long_lived",
            Self::Certificate(_) => "certificate",
            Self::Bundle(_) => "bundle",
            Self::Addresses => "addresses",
            Self::Stale { .. } => "stale",
        }
    }
}

/// A relay that holds the publisher's mailbox.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RelayEntry {
    /// The relay's libp2p peer id, as bytes.
    pub peer: Vec<u8>,
    /// Addresses to reach it, as multiaddr bytes.
    pub addresses: Vec<Vec<u8>>,
}

/// What a record says. Field order is the encoding order (postcard).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordBody {
    /// The record format's version (1).
    pub version: u8,
    /// The account's Ed25519 key.
    pub user: [u8; 32],
    /// `DeviceCertificate::to_bytes` for the publishing device.
    #[serde(with = "serde_bytes")]
    pub device_certificate: Vec<u8>,
    /// The device's listen addresses (multiaddr bytes, without the `/p2p` suffix).
    pub addresses: Vec<Vec<u8>>,
    /// `PrekeyBundle::to_bytes`.
    #[serde(with = "serde_bytes")]
    pub bundle: Vec<u8>,
    /// The relays that hold the mailbox (empty until relays exist).
    pub relays: Vec<RelayEntry>,
    /// The publisher's sequence number: the highest valid one wins.
    pub seq: u64,
    /// Unix seconds.
    pub expires: u64,
}

#[derive(Serialize, Deserialize)]
struct SignedRecord {
    #[serde(with = "serde_bytes")]
    body: Vec<u8>,
    #[serde(with = "serde_bytes")]
    signature: Vec<u8>,
}

/// A record that passed every check, with its parts decoded.
#[derive(Debug, Clone)]
pub struct PeerRecord {
    /// The account that published it.
    pub user: UserId,
    /// The publishing device's libp2p peer id (from its certificate).
    pub device: PeerId,
    /// The device certificate, checked.
    pub certificate: DeviceCertificate,
    /// Where the device listens (empty for a relay-only node).
    pub addresses: Vec<Multiaddr>,
    /// The prekey bundle to start sessions with, checked.
    pub bundle: PrekeyBundle,
    /// The relays holding the account's mailbox, with their addresses.
    pub relays: Vec<(PeerId, Vec<Multiaddr>)>,
    /// The publisher's sequence number.
    pub seq: u64,
    /// Unix seconds.
    pub expires: u64,
}

/// The DHT key of an account's record.
pub fn key_for(user: &UserId) -> RecordKey {
    RecordKey::new(&format!("{KEY_PREFIX}{user}"))
}

/// Builds and signs the record a node publishes.
pub fn sign(
    account: &AccountKey,
    certificate: &DeviceCertificate,
    addresses: &[Multiaddr],
    bundle: &PrekeyBundle,
    relays: &[RelayEntry],
    seq: u64,
    expires: u64,
) -> Vec<u8> {
    let body = RecordBody {
        version: RECORD_VERSION,
        user: *account.user_id().as_bytes(),
        device_certificate: certificate.to_bytes(),
        addresses: addresses
            .iter()
            .take(MAX_ADDRESSES)
            .map(|a| a.to_vec())
            .collect(),
        bundle: bundle.to_bytes(),
        relays: relays.iter().take(MAX_RELAYS).cloned().collect(),
        seq,
        expires,
    };
    // Encoding a struct of byte vectors and integers into a Vec cannot fail.
    let body = postcard::to_stdvec(&body).unwrap_or_default();
    let signature = account.sign_statement(SIGNING_CONTEXT, &body).to_vec();
    postcard::to_stdvec(&SignedRecord { body, signature }).unwrap_or_default()
}

/// Checks a record found under `key` at time `now` (Unix seconds).
pub fn validate(key: &RecordKey, value: &[u8], now: u64) -> Result<PeerRecord, RecordError> {
    if value.len() > MAX_RECORD_LEN {
        return Err(RecordError::Oversized(value.len()));
    }
    let (signed, rest): (SignedRecord, _) =
        postcard::take_from_bytes(value).map_err(|e| RecordError::Malformed(e.to_string()))?;
    if !rest.is_empty() {
        return Err(RecordError::Malformed("trailing bytes".into()));
    }
    let (body, rest): (RecordBody, _) = postcard::take_from_bytes(&signed.body)
        .map_err(|e| RecordError::Malformed(e.to_string()))?;
    if !rest.is_empty() {
        return Err(RecordError::Malformed("trailing bytes in body".into()));
    }
    if body.version != RECORD_VERSION {
        return Err(RecordError::UnsupportedVersion(body.version));
    }
    let user =
        UserId::from_bytes(body.user).map_err(|_| RecordError::Malformed("account key".into()))?;
    if *key != key_for(&user) {
        return Err(RecordError::WrongKey);
    }
    let signature: [u8; 64] = signed
        .signature
        .as_slice()
        .try_into()
        .map_err(|_| RecordError::BadSignature)?;
    user.verify_statement(SIGNING_CONTEXT, &signed.body, &signature)
        .map_err(|_| RecordError::BadSignature)?;
    if now >= body.expires {
        return Err(RecordError::Expired);
    }
    if body.expires > now.saturating_add(MAX_RECORD_LIFETIME_SECS) {
        return Err(RecordError::TooLongLived);
    }

    let certificate = DeviceCertificate::from_bytes(&body.device_certificate)
        .map_err(RecordError::Certificate)?;
    if certificate.account() != user {
        return Err(RecordError::Certificate(VerifyError::WrongAccount(
            "device certificate",
        )));
    }
    certificate.verify(now).map_err(RecordError::Certificate)?;
    let device = device_peer_id(&certificate).ok_or(RecordError::Certificate(
        VerifyError::InvalidKey("device key"),
    ))?;

    let bundle = PrekeyBundle::from_bytes(&body.bundle).map_err(RecordError::Bundle)?;
    if bundle.identity().user_id() != user {
        return Err(RecordError::Bundle(VerifyError::WrongAccount(
            "prekey bundle",
        )));
    }
    bundle.verify_at(now).map_err(RecordError::Bundle)?;

    if body.addresses.len() > MAX_ADDRESSES || body.relays.len() > MAX_RELAYS {
        return Err(RecordError::Addresses);
    }
    let addresses = parse_addresses(&body.addresses)?;
    let relays = body
        .relays
        .iter()
        .map(|relay| {
            let peer = PeerId::from_bytes(&relay.peer).map_err(|_| RecordError::Addresses)?;
            if relay.addresses.len() > MAX_ADDRESSES {
                return Err(RecordError::Addresses);
            }
            Ok((peer, parse_addresses(&relay.addresses)?))
        })
        .collect::<Result<_, _>>()?;

    Ok(PeerRecord {
        user,
        device,
        certificate,
        addresses,
        bundle,
        relays,
        seq: body.seq,
        expires: body.expires,
    })
}

/// The rule for replacing a held record with an offered one for the same key.
pub fn check_newer(
    held: &PeerRecord,
    held_value: &[u8],
    offered: &PeerRecord,
    offered_value: &[u8],
) -> Result<(), RecordError> {
    if offered.seq < held.seq || (offered.seq == held.seq && offered_value != held_value) {
        return Err(RecordError::Stale {
            held: held.seq,
            offered: offered.seq,
        });
    }
    Ok(())
}

/// The libp2p peer id of a certified device key.
pub fn device_peer_id(certificate: &DeviceCertificate) -> Option<PeerId> {
    let key = libp2p::identity::ed25519::PublicKey::try_from_bytes(certificate.device().as_bytes())
        .ok()?;
    Some(PeerId::from_public_key(&libp2p::identity::PublicKey::from(
        key,
    )))
}

fn parse_addresses(raw: &[Vec<u8>]) -> Result<Vec<Multiaddr>, RecordError> {
    raw.iter()
        .map(|bytes| {
            if bytes.len() > MAX_ADDRESS_LEN {
                return Err(RecordError::Addresses);
            }
            Multiaddr::try_from(bytes.clone()).map_err(|_| RecordError::Addresses)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use libp2p::identity::Keypair;
    use rand_chacha::ChaCha20Rng;
    use tern_crypto::{DeviceId, PrekeySecrets, rand_core::SeedableRng};

    use super::*;

    const NOW: u64 = 1_800_000_000;

    struct Publisher {
        account: AccountKey,
        certificate: DeviceCertificate,
        bundle: PrekeyBundle,
        device: PeerId,
    }

    fn publisher(seed: u64) -> Publisher {
        let mut rng = ChaCha20Rng::seed_from_u64(seed);
        let account = AccountKey::generate(&mut rng);
        let keypair = Keypair::generate_ed25519();
        let device_key: [u8; 32] = keypair.public().try_into_ed25519().unwrap().to_bytes();
        let certificate = account.certify_device(
            DeviceId::from_bytes(device_key).unwrap(),
            NOW,
            NOW + 86_400 * 30,
        );
        let bundle = PrekeySecrets::generate(&mut rng, &account, NOW).bundle(&account, 1);
        Publisher {
            account,
            certificate,
            bundle,
            device: keypair.public().to_peer_id(),
        }
    }

    fn record(p: &Publisher, seq: u64, expires: u64) -> Vec<u8> {
        let address: Multiaddr = "/ip4/127.0.0.1/tcp/4001".parse().unwrap();
        sign(
            &p.account,
            &p.certificate,
            &[address],
            &p.bundle,
            &[],
            seq,
            expires,
        )
    }

    #[test]
    fn a_published_record_validates() {
        let p = publisher(1);
        let key = key_for(&p.account.user_id());
        let value = record(&p, 3, NOW + RECORD_LIFETIME_SECS);
        let parsed = validate(&key, &value, NOW).unwrap();
        assert_eq!(parsed.user, p.account.user_id());
        assert_eq!(parsed.device, p.device);
        assert_eq!(parsed.seq, 3);
        assert_eq!(parsed.addresses.len(), 1);
        assert!(
            std::str::from_utf8(key.as_ref())
                .unwrap()
                .starts_with("/tern/user/tern1")
        );
    }

    #[test]
    fn forged_and_stale_records_are_refused() {
        let (p, mallory) = (publisher(2), publisher(3));
        let key = key_for(&p.account.user_id());
        let good = record(&p, 5, NOW + RECORD_LIFETIME_SECS);

        // Someone else's valid record under this key.
        let theirs = record(&mallory, 9, NOW + RECORD_LIFETIME_SECS);
        assert_eq!(
            validate(&key, &theirs, NOW).unwrap_err(),
            RecordError::WrongKey
        );

        // Any altered byte of the body breaks the signature (or the structure).
        let mut signed: SignedRecord = postcard::from_bytes(&good).unwrap();
        let last = signed.body.len() - 1;
        signed.body[last] ^= 1;
        let tampered = postcard::to_stdvec(&signed).unwrap();
        assert!(validate(&key, &tampered, NOW).is_err());

        // Mallory's certificate and bundle inside a record signed by the victim's key can't be
        // made without that key; a record signed by Mallory naming the victim fails the
        // signature check.
        let body = RecordBody {
            version: RECORD_VERSION,
            user: *p.account.user_id().as_bytes(),
            device_certificate: mallory.certificate.to_bytes(),
            addresses: vec![],
            bundle: mallory.bundle.to_bytes(),
            relays: vec![],
            seq: 99,
            expires: NOW + 100,
        };
        let body = postcard::to_stdvec(&body).unwrap();
        let signature = mallory
            .account
            .sign_statement(SIGNING_CONTEXT, &body)
            .to_vec();
        let forged = postcard::to_stdvec(&SignedRecord { body, signature }).unwrap();
        assert_eq!(
            validate(&key, &forged, NOW).unwrap_err(),
            RecordError::BadSignature
        );

        // Expired, or claiming too long a life.
        let old = record(&p, 6, NOW);
        assert_eq!(validate(&key, &old, NOW).unwrap_err(), RecordError::Expired);
        let forever = record(&p, 6, NOW + MAX_RECORD_LIFETIME_SECS + 1);
        assert_eq!(
            validate(&key, &forever, NOW).unwrap_err(),
            RecordError::TooLongLived
        );

        // Lower sequence number than held.
        let held = validate(&key, &good, NOW).unwrap();
        let older_value = record(&p, 4, NOW + RECORD_LIFETIME_SECS);
        let older = validate(&key, &older_value, NOW).unwrap();
        assert_eq!(
            check_newer(&held, &good, &older, &older_value),
            Err(RecordError::Stale {
                held: 5,
                offered: 4
            })
        );
        let newer_value = record(&p, 6, NOW + RECORD_LIFETIME_SECS);
        let newer = validate(&key, &newer_value, NOW).unwrap();
        assert_eq!(check_newer(&held, &good, &newer, &newer_value), Ok(()));
        assert_eq!(
            check_newer(&held, &good, &held, &good),
            Ok(()),
            "the same record again is fine"
        );
    }

    #[test]
    fn oversized_and_garbage_values_are_refused() {
        let p = publisher(4);
        let key = key_for(&p.account.user_id());
        assert_eq!(
            validate(&key, &vec![0u8; MAX_RECORD_LEN + 1], NOW).unwrap_err(),
            RecordError::Oversized(MAX_RECORD_LEN + 1)
        );
        for garbage in [&b""[..], b"\x00", b"\xff\xff\xff\xff\xff", b"hello world"] {
            assert!(matches!(
                validate(&key, garbage, NOW),
                Err(RecordError::Malformed(_))
            ));
        }
    }

    proptest::proptest! {
        #[test]
        fn random_values_never_panic(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..4096)) {
            let key = RecordKey::new(&"/tern/user/x");
            let _ = validate(&key, &bytes, NOW);
        }
    }
}
