//! Prekeys: what a recipient publishes so that others can start a session while it is offline.
//!
//! Following Signal's PQXDH specification, a recipient (Bob) publishes:
//!
//! - a **signed prekey** `SPK_B` (X25519), rotated every [`ROTATION_INTERVAL_SECS`];
//! - a **signed last-resort post-quantum prekey** `PQSPK_B` (ML-KEM-768), rotated with it;
//! - batches of **one-time prekeys** `OPK_B` (X25519), each handed out at most once by Bob's
//!   mailbox relays. (PQXDH also allows one-time *KEM* prekeys; Tern uses only the last-resort
//!   KEM key, which the spec permits, and relies on the replay cache where no `OPK_B` is used.)
//!
//! Every key carries its own Ed25519 signature by the account, over a label naming its kind,
//! the account key, the key's id and the key; for signed and KEM prekeys it also covers their
//! validity period (`created`, `expires`). One-time prekeys have none: they live until used.
//! A [`PrekeyBundle`] groups the current signed keys with the account's identity and mailbox
//! key under one more signature that also covers the bundle's sequence number and expiry.
//!
//! Bob keeps the secrets in [`PrekeySecrets`]. Retired signed and KEM prekeys stay usable for
//! a grace period ([`RETIRED_GRACE_SECS`]) so that session starts still waiting at a relay
//! when the key rotates can be answered. At `expires + RETIRED_GRACE_SECS` a prekey retires:
//! session starts that use it are refused from then on, even before [`PrekeySecrets::rotate`]
//! forgets its secret, so that time is a firm bound for the replay cache.

use std::fmt;

mod secrets;

pub use self::secrets::PrekeySecrets;
use crate::{
    codec::{DecodeError, Reader, Writer},
    envelope::MailboxPublicKey,
    identity::{AccountKey, PublicIdentity, UserId, VerifyError, check_validity},
    primitives::{self, MLKEM768_PUBLIC_LEN, SecretBox},
};

/// How often the signed and KEM prekeys are replaced. A week bounds how long a compromised
/// prekey secret helps an attacker, without making publishers churn their DHT records.
pub const ROTATION_INTERVAL_SECS: u64 = 7 * 24 * 60 * 60;
/// How long a signed prekey is offered to senders. Twice the rotation interval, so a bundle
/// fetched just before a missed rotation (device offline) still works for a while.
pub const PREKEY_LIFETIME_SECS: u64 = 2 * ROTATION_INTERVAL_SECS;
/// How long a retired prekey's secret is kept after its public key expires: relays hold
/// envelopes for up to 21 days, so a session start deposited just before expiry must still be
/// answerable when it is fetched. 28 days covers that with a margin.
pub const RETIRED_GRACE_SECS: u64 = 28 * 24 * 60 * 60;
/// Upper bound on stored one-time prekey secrets. Relays ask for more when they run low; the
/// bound keeps a device that never comes online again from growing this state without end.
/// Once it is reached, no new one-time prekeys are made until some are used: held secrets are
/// never evicted, because relays may still hand out their public halves.
pub const MAX_ONE_TIME_PREKEYS: usize = 2000;

const LABEL_SIGNED_PREKEY: &[u8] = b"tern/signed-prekey/v1";
const LABEL_KEM_PREKEY: &[u8] = b"tern/kem-prekey/v1";
const LABEL_ONE_TIME_PREKEY: &[u8] = b"tern/one-time-prekey/v1";
const LABEL_MAILBOX_KEY: &[u8] = b"tern/mailbox-key/v1";
const LABEL_BUNDLE: &[u8] = b"tern/prekey-bundle/v1";

const BUNDLE_VERSION: u8 = 1;
const ONE_TIME_VERSION: u8 = 1;
const SECRETS_STATE_VERSION: u8 = 1;

/// Identifies one prekey of an account. Ids are never reused by the same account.
pub type PrekeyId = u32;

/// A signed X25519 prekey, `SPK` in PQXDH.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct SignedPrekey {
    id: PrekeyId,
    key: [u8; 32],
    created: u64,
    expires: u64,
    signature: [u8; 64],
}

impl SignedPrekey {
    /// Encoded length of the record: `id u32 ‖ key [32] ‖ created u64 ‖ expires u64 ‖
    /// signature [64]`.
    const RECORD_LEN: usize = 4 + 32 + 8 + 8 + 64;

    fn signed_message(
        account: &UserId,
        id: PrekeyId,
        key: &[u8; 32],
        created: u64,
        expires: u64,
    ) -> Vec<u8> {
        let mut w = Writer::with_capacity(128);
        w.bytes(LABEL_SIGNED_PREKEY)
            .bytes(account.as_bytes())
            .u32(id)
            .bytes(key)
            .u64(created)
            .u64(expires);
        w.into_vec()
    }

    /// The key's id.
    pub fn id(&self) -> PrekeyId {
        self.id
    }

    /// The X25519 public key.
    pub fn key(&self) -> &[u8; 32] {
        &self.key
    }

    /// End of the period in which senders may use it, Unix seconds.
    pub fn expires(&self) -> u64 {
        self.expires
    }

    fn write(&self, w: &mut Writer) {
        w.u32(self.id)
            .bytes(&self.key)
            .u64(self.created)
            .u64(self.expires)
            .bytes(&self.signature);
    }

    fn read(r: &mut Reader<'_>, account: &UserId) -> Result<Self, VerifyError> {
        let id = r.u32("signed prekey id")?;
        let key: [u8; 32] = r.array("signed prekey")?;
        let created = r.u64("signed prekey created")?;
        let expires = r.u64("signed prekey expires")?;
        let signature = r.array("signed prekey signature")?;
        if primitives::x25519_is_low_order(&key) {
            return Err(VerifyError::InvalidKey("signed prekey"));
        }
        account.verify(
            &Self::signed_message(account, id, &key, created, expires),
            &signature,
            "signed prekey",
        )?;
        Ok(Self {
            id,
            key,
            created,
            expires,
            signature,
        })
    }
}

/// A signed ML-KEM-768 prekey, `PQSPK` in PQXDH (the last-resort kind: reused until rotated).
#[derive(Clone, PartialEq, Eq)]
pub struct KemPrekey {
    id: PrekeyId,
    key: Box<[u8; MLKEM768_PUBLIC_LEN]>,
    created: u64,
    expires: u64,
    signature: [u8; 64],
}

impl KemPrekey {
    /// The type byte of `EncodeKEM` for ML-KEM-768 (see `docs/protocol/crypto.md`).
    pub(crate) const KEM_TYPE: u8 = 0x0a;
    /// Encoded length of the record: `id u32 ‖ type u8 ‖ key [1184] ‖ created u64 ‖
    /// expires u64 ‖ signature [64]`.
    const RECORD_LEN: usize = 4 + 1 + MLKEM768_PUBLIC_LEN + 8 + 8 + 64;

    fn signed_message(
        account: &UserId,
        id: PrekeyId,
        key: &[u8; MLKEM768_PUBLIC_LEN],
        created: u64,
        expires: u64,
    ) -> Vec<u8> {
        let mut w = Writer::with_capacity(1300);
        w.bytes(LABEL_KEM_PREKEY)
            .bytes(account.as_bytes())
            .u32(id)
            .u8(Self::KEM_TYPE)
            .bytes(key)
            .u64(created)
            .u64(expires);
        w.into_vec()
    }

    /// The key's id.
    pub fn id(&self) -> PrekeyId {
        self.id
    }

    /// The ML-KEM-768 encapsulation key.
    pub fn key(&self) -> &[u8; MLKEM768_PUBLIC_LEN] {
        &self.key
    }

    /// End of the period in which senders may use it, Unix seconds.
    pub fn expires(&self) -> u64 {
        self.expires
    }

    fn write(&self, w: &mut Writer) {
        w.u32(self.id)
            .u8(Self::KEM_TYPE)
            .bytes(self.key.as_ref())
            .u64(self.created)
            .u64(self.expires)
            .bytes(&self.signature);
    }

    fn read(r: &mut Reader<'_>, account: &UserId) -> Result<Self, VerifyError> {
        let id = r.u32("kem prekey id")?;
        if r.u8("kem type")? != Self::KEM_TYPE {
            return Err(DecodeError::Invalid("kem type").into());
        }
        let key = Box::new(r.array::<MLKEM768_PUBLIC_LEN>("kem prekey")?);
        let created = r.u64("kem prekey created")?;
        let expires = r.u64("kem prekey expires")?;
        let signature = r.array("kem prekey signature")?;
        account.verify(
            &Self::signed_message(account, id, &key, created, expires),
            &signature,
            "kem prekey",
        )?;
        Ok(Self {
            id,
            key,
            created,
            expires,
            signature,
        })
    }
}

impl fmt::Debug for KemPrekey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KemPrekey")
            .field("id", &self.id)
            .field("expires", &self.expires)
            .finish_non_exhaustive()
    }
}

/// A signed one-time X25519 prekey, `OPK` in PQXDH. Uploaded in batches to the account's
/// mailbox relays, which hand each out at most once.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct OneTimePrekey {
    account: UserId,
    id: PrekeyId,
    key: [u8; 32],
    signature: [u8; 64],
}

impl OneTimePrekey {
    /// Encoded length: `version ‖ account [32] ‖ id u32 ‖ key [32] ‖ signature [64]`.
    pub const LEN: usize = 1 + 32 + 4 + 32 + 64;

    fn signed_message(account: &UserId, id: PrekeyId, key: &[u8; 32]) -> Vec<u8> {
        [
            LABEL_ONE_TIME_PREKEY,
            account.as_bytes(),
            &id.to_be_bytes(),
            key,
        ]
        .concat()
    }

    /// The account that signed it.
    pub fn account(&self) -> UserId {
        self.account
    }

    /// The key's id.
    pub fn id(&self) -> PrekeyId {
        self.id
    }

    /// The X25519 public key.
    pub fn key(&self) -> &[u8; 32] {
        &self.key
    }

    /// The encoding relays store and hand out.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut w = Writer::with_capacity(Self::LEN);
        w.u8(ONE_TIME_VERSION)
            .bytes(self.account.as_bytes())
            .u32(self.id)
            .bytes(&self.key)
            .bytes(&self.signature);
        w.into_vec()
    }

    /// Decodes and verifies the signature and key.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, VerifyError> {
        let mut r = Reader::new(bytes);
        r.version("one-time prekey", ONE_TIME_VERSION)?;
        let account = UserId::from_bytes(r.array("one-time prekey account")?)?;
        let id = r.u32("one-time prekey id")?;
        let key: [u8; 32] = r.array("one-time prekey")?;
        let signature = r.array("one-time prekey signature")?;
        r.finish()?;
        if primitives::x25519_is_low_order(&key) {
            return Err(VerifyError::InvalidKey("one-time prekey"));
        }
        account.verify(
            &Self::signed_message(&account, id, &key),
            &signature,
            "one-time prekey",
        )?;
        Ok(Self {
            account,
            id,
            key,
            signature,
        })
    }
}

/// Everything a sender needs, besides an optional one-time prekey, to start a session with an
/// account while it is offline. Published in the account's DHT record.
///
/// A bundle decoded from bytes has had every signature and key checked; its validity period
/// is checked separately by [`PrekeyBundle::verify_at`], since that depends on the time.
#[derive(Clone, PartialEq, Eq)]
pub struct PrekeyBundle {
    identity: PublicIdentity,
    seq: u64,
    expires: u64,
    mailbox: MailboxPublicKey,
    mailbox_signature: [u8; 64],
    signed_prekey: SignedPrekey,
    kem_prekey: KemPrekey,
    signature: [u8; 64],
}

impl PrekeyBundle {
    /// Largest valid encoding; decoders refuse anything longer before parsing.
    pub const MAX_LEN: usize = 1
        + PublicIdentity::LEN
        + 8
        + 8
        + 32
        + 64
        + SignedPrekey::RECORD_LEN
        + KemPrekey::RECORD_LEN
        + 64;

    /// The account this bundle belongs to.
    pub fn identity(&self) -> &PublicIdentity {
        &self.identity
    }

    /// The publisher's sequence number: a higher one replaces a lower one.
    pub fn seq(&self) -> u64 {
        self.seq
    }

    /// End of the bundle's validity, Unix seconds.
    pub fn expires(&self) -> u64 {
        self.expires
    }

    /// The key envelopes to this account are sealed to.
    pub fn mailbox(&self) -> &MailboxPublicKey {
        &self.mailbox
    }

    /// The signed X25519 prekey.
    pub fn signed_prekey(&self) -> &SignedPrekey {
        &self.signed_prekey
    }

    /// The signed ML-KEM-768 prekey.
    pub fn kem_prekey(&self) -> &KemPrekey {
        &self.kem_prekey
    }

    fn write_unsigned(&self, w: &mut Writer) {
        w.u8(BUNDLE_VERSION);
        self.identity.write(w);
        w.u64(self.seq)
            .u64(self.expires)
            .bytes(self.mailbox.as_bytes())
            .bytes(&self.mailbox_signature);
        self.signed_prekey.write(w);
        self.kem_prekey.write(w);
    }

    fn signed_message(&self) -> Vec<u8> {
        let mut w = Writer::with_capacity(Self::MAX_LEN + LABEL_BUNDLE.len());
        w.bytes(LABEL_BUNDLE);
        self.write_unsigned(&mut w);
        w.into_vec()
    }

    /// The encoding published in the DHT.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut w = Writer::with_capacity(Self::MAX_LEN);
        self.write_unsigned(&mut w);
        w.bytes(&self.signature);
        w.into_vec()
    }

    /// Decodes and checks every signature and key, and that the bundle expires no later than
    /// either of its prekeys.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, VerifyError> {
        if bytes.len() > Self::MAX_LEN {
            return Err(DecodeError::TooLong {
                what: "prekey bundle",
                len: bytes.len(),
                max: Self::MAX_LEN,
            }
            .into());
        }
        let mut r = Reader::new(bytes);
        r.version("prekey bundle", BUNDLE_VERSION)?;
        let identity = PublicIdentity::read(&mut r)?;
        let account = identity.user_id();
        let seq = r.u64("bundle seq")?;
        let expires = r.u64("bundle expires")?;
        let mailbox = MailboxPublicKey::from_bytes(r.array("mailbox key")?)
            .map_err(|_| VerifyError::InvalidKey("mailbox key"))?;
        let mailbox_signature = r.array("mailbox key signature")?;
        account.verify(
            &mailbox_message(&account, &mailbox),
            &mailbox_signature,
            "mailbox key",
        )?;
        let signed_prekey = SignedPrekey::read(&mut r, &account)?;
        let kem_prekey = KemPrekey::read(&mut r, &account)?;
        let signature = r.array("bundle signature")?;
        r.finish()?;
        // A bundle is valid no longer than the prekeys it offers.
        if expires > signed_prekey.expires.min(kem_prekey.expires) {
            return Err(VerifyError::InconsistentValidity("prekey bundle"));
        }
        let bundle = Self {
            identity,
            seq,
            expires,
            mailbox,
            mailbox_signature,
            signed_prekey,
            kem_prekey,
            signature,
        };
        account.verify(&bundle.signed_message(), &bundle.signature, "prekey bundle")?;
        Ok(bundle)
    }

    /// Checks that the bundle and both prekeys are valid at `now` (Unix seconds).
    pub fn verify_at(&self, now: u64) -> Result<(), VerifyError> {
        check_validity("prekey bundle", 0, self.expires, now)?;
        check_validity(
            "signed prekey",
            self.signed_prekey.created,
            self.signed_prekey.expires,
            now,
        )?;
        check_validity(
            "kem prekey",
            self.kem_prekey.created,
            self.kem_prekey.expires,
            now,
        )
    }
}

impl fmt::Debug for PrekeyBundle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PrekeyBundle")
            .field("user", &self.identity.user_id())
            .field("seq", &self.seq)
            .field("expires", &self.expires)
            .field("signed_prekey", &self.signed_prekey.id)
            .field("kem_prekey", &self.kem_prekey.id)
            .finish()
    }
}

/// When a signed or KEM prekey that stops being offered at `expires` stops being honoured.
fn retires_at(expires: u64) -> u64 {
    expires.saturating_add(RETIRED_GRACE_SECS)
}

fn mailbox_message(account: &UserId, mailbox: &MailboxPublicKey) -> Vec<u8> {
    [LABEL_MAILBOX_KEY, account.as_bytes(), mailbox.as_bytes()].concat()
}

/// A prekey's secret with its public half.
struct Held<P, S> {
    public: P,
    secret: S,
}

#[cfg(test)]
mod tests {
    use rand_chacha::ChaCha20Rng;
    use rand_core::SeedableRng;

    use super::*;

    const NOW: u64 = 1_800_000_000;

    fn setup(seed: u8) -> (ChaCha20Rng, AccountKey, PrekeySecrets) {
        let mut rng = ChaCha20Rng::from_seed([seed; 32]);
        let account = AccountKey::generate(&mut rng);
        let secrets = PrekeySecrets::generate(&mut rng, &account, NOW);
        (rng, account, secrets)
    }

    #[test]
    fn prekeys_made_while_the_clock_was_ahead_are_replaced_once_it_is_corrected() {
        let (mut rng, account, mut secrets) = setup(9);
        // Made at NOW while the clock ran a month ahead; the real time is a month earlier.
        let corrected = NOW - 30 * 24 * 3600;
        assert!(
            secrets
                .bundle(&account, 1)
                .verify_at(corrected)
                .is_err_and(|e| matches!(e, VerifyError::NotYetValid(_)))
        );
        assert!(secrets.rotate(&mut rng, &account, corrected));
        secrets.bundle(&account, 2).verify_at(corrected).unwrap();
        // A clock a little behind the prekey's date (within the skew peers allow) is no reason.
        let (mut rng, account, mut secrets) = setup(10);
        assert!(!secrets.rotate(&mut rng, &account, NOW - 60));
    }

    #[test]
    fn signed_and_kem_secrets_retire_at_the_end_of_the_grace_period() {
        let (_, _, secrets) = setup(1);
        let (signed, kem) = (&secrets.signed[0].public, &secrets.kem[0].public);
        let retires = signed.expires + RETIRED_GRACE_SECS;
        assert_eq!(secrets.signed_prekey_retires_at(signed.id), Some(retires));
        assert_eq!(kem.expires + RETIRED_GRACE_SECS, retires);
        assert!(secrets.signed_secret(signed.id, retires - 1).is_some());
        assert!(secrets.kem_secret(kem.id, retires - 1).is_some());
        assert!(secrets.signed_secret(signed.id, retires).is_none());
        assert!(secrets.kem_secret(kem.id, retires).is_none());
    }

    fn held_copy<P: Clone, S: Clone>(held: &Held<P, S>) -> Held<P, S> {
        Held {
            public: held.public.clone(),
            secret: held.secret.clone(),
        }
    }

    #[test]
    fn stored_state_with_a_duplicate_id_is_refused() {
        let (mut rng, account, secrets) = setup(3);
        let load = |s: &PrekeySecrets| PrekeySecrets::from_bytes(&s.to_bytes()).map(|_| ());
        let duplicate = Err(DecodeError::Duplicate("prekey id"));

        // The same signed (or KEM) entry twice: every signature verifies, the id repeats.
        let mut twice = PrekeySecrets::from_bytes(&secrets.to_bytes()).unwrap();
        twice.signed.push(held_copy(&twice.signed[0]));
        assert_eq!(load(&twice), duplicate);
        let mut twice = PrekeySecrets::from_bytes(&secrets.to_bytes()).unwrap();
        twice.kem.push(held_copy(&twice.kem[0]));
        assert_eq!(load(&twice), duplicate);

        // A one-time id equal to the signed prekey's (ids come from one counter).
        let mut clash = PrekeySecrets::from_bytes(&secrets.to_bytes()).unwrap();
        let id = clash.signed[0].public.id;
        clash.one_time.insert(id, primitives::secret_box(&[9; 32]));
        assert_eq!(load(&clash), duplicate);

        // Two one-time entries with one id: only possible in bytes. Entries are 36 bytes at
        // the end, in id order; give the second the first one's id.
        let mut two = PrekeySecrets::from_bytes(&secrets.to_bytes()).unwrap();
        two.generate_one_time(&mut rng, &account, 2);
        let mut bytes = two.to_bytes().to_vec();
        let len = bytes.len();
        let first_id: [u8; 4] = bytes[len - 72..len - 68].try_into().unwrap();
        bytes[len - 36..len - 32].copy_from_slice(&first_id);
        assert_eq!(PrekeySecrets::from_bytes(&bytes).map(|_| ()), duplicate);
        assert!(PrekeySecrets::from_bytes(&two.to_bytes()).is_ok());
    }

    #[test]
    fn stored_state_with_a_mismatched_secret_is_refused() {
        let (_, _, secrets) = setup(4);
        let load = |s: &PrekeySecrets| PrekeySecrets::from_bytes(&s.to_bytes()).map(|_| ());

        let mut wrong = PrekeySecrets::from_bytes(&secrets.to_bytes()).unwrap();
        wrong.signed[0].secret = primitives::secret_box(&[7; 32]);
        assert_eq!(
            load(&wrong),
            Err(DecodeError::Inconsistent("signed prekey secret"))
        );

        let mut wrong = PrekeySecrets::from_bytes(&secrets.to_bytes()).unwrap();
        wrong.kem[0].secret[0] ^= 1;
        assert_eq!(
            load(&wrong),
            Err(DecodeError::Inconsistent("kem prekey seed"))
        );
        // The `z` half of the seed (bytes 32..64) does not enter the encapsulation key, only
        // the implicit-rejection secret, so this check cannot see it altered.
        let mut z = PrekeySecrets::from_bytes(&secrets.to_bytes()).unwrap();
        z.kem[0].secret[40] ^= 1;
        assert!(load(&z).is_ok());
    }

    /// Prekey secrets must not leave copies behind as the state changes: making and
    /// consuming one-time prekeys (map insertions, removals, node splits and merges) and
    /// rotating (vector growth and `retain`) leave every held secret where it was.
    #[test]
    fn prekey_secrets_never_move_in_memory() {
        let (mut rng, account, mut secrets) = setup(6);
        let at = |secret: &[u8; 32]| secret.as_ptr() as usize;
        secrets.generate_one_time(&mut rng, &account, 20);
        let one_time: Vec<_> = secrets
            .one_time
            .iter()
            .map(|(&id, secret)| (id, at(secret)))
            .collect();
        let signed = at(&secrets.signed[0].secret);
        let kem = secrets.kem[0].secret.as_ptr() as usize;

        secrets.generate_one_time(&mut rng, &account, 500);
        for &(id, _) in one_time.iter().step_by(2) {
            secrets.consume_one_time(id);
        }
        // Five more pairs: the vectors outgrow their first allocation.
        for week in 1..=5 {
            secrets.rotate(&mut rng, &account, NOW + week * ROTATION_INTERVAL_SECS);
        }
        assert_eq!(secrets.signed.len(), 6);
        for &(id, address) in one_time.iter().skip(1).step_by(2) {
            assert_eq!(at(&secrets.one_time[&id]), address);
        }
        assert_eq!(at(&secrets.signed[0].secret), signed);
        assert_eq!(secrets.kem[0].secret.as_ptr() as usize, kem);
    }

    /// Ids come from one counter and must never be handed out twice: a stored state whose
    /// counter is at or below an id it holds (tampered, or restored inconsistently) is refused,
    /// and a counter that reaches held ids (as after wrapping) skips them instead of reusing
    /// one, which would overwrite a held one-time secret.
    #[test]
    fn prekey_ids_are_never_handed_out_twice() {
        let (mut rng, account, mut secrets) = setup(7);
        let first = secrets.generate_one_time(&mut rng, &account, 3);
        let load = |s: &PrekeySecrets| PrekeySecrets::from_bytes(&s.to_bytes()).map(|_| ());
        let inconsistent = Err(DecodeError::Inconsistent("next prekey id"));
        let mut behind = PrekeySecrets::from_bytes(&secrets.to_bytes()).unwrap();
        for next_id in [0, 1, first[0].id(), first[2].id()] {
            behind.next_id = next_id;
            assert_eq!(load(&behind), inconsistent, "next id {next_id}");
        }
        behind.next_id = first[2].id() + 1;
        assert_eq!(load(&behind), Ok(()));

        let mut held: Vec<PrekeyId> = first.iter().map(OneTimePrekey::id).collect();
        held.push(secrets.signed[0].public.id);
        held.push(secrets.kem[0].public.id);
        let secret = |s: &PrekeySecrets, id| **s.one_time_secret(id).unwrap();
        let kept = secret(&secrets, first[0].id());
        secrets.next_id = 1;
        let more = secrets.generate_one_time(&mut rng, &account, 3);
        for opk in &more {
            assert!(!held.contains(&opk.id()), "id {} reused", opk.id());
        }
        assert_eq!(secrets.one_time_count(), 6);
        assert_eq!(secret(&secrets, first[0].id()), kept);
    }

    #[test]
    fn a_bundle_outliving_its_prekeys_is_refused() {
        let (_, account, secrets) = setup(5);
        let honest = secrets.bundle(&account, 1);
        let resigned = |expires: u64| {
            let mut bundle = honest.clone();
            bundle.expires = expires;
            bundle.signature = account.sign(&bundle.signed_message());
            PrekeyBundle::from_bytes(&bundle.to_bytes())
        };
        let limit = honest.signed_prekey.expires.min(honest.kem_prekey.expires);
        assert_eq!(honest.expires, limit);
        assert_eq!(resigned(limit).unwrap(), honest);
        assert!(
            resigned(limit - 1).is_ok(),
            "a shorter life is the publisher's choice"
        );
        assert_eq!(
            resigned(limit + 1),
            Err(VerifyError::InconsistentValidity("prekey bundle"))
        );
    }

    #[test]
    fn state_length_is_known_in_advance() {
        let (mut rng, account, mut secrets) = setup(2);
        assert_eq!(secrets.to_bytes().len(), secrets.encoded_len());
        for week in 1..=6 {
            secrets.rotate(&mut rng, &account, NOW + week * ROTATION_INTERVAL_SECS);
        }
        secrets.generate_one_time(&mut rng, &account, 30);
        assert_eq!(secrets.signed.len(), 6);
        assert_eq!(secrets.to_bytes().len(), secrets.encoded_len());
    }
}
