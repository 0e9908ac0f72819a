//! PQXDH key agreement, as specified in Signal's "The PQXDH Key Agreement Protocol"
//! (revision 3, 2024-01-23), with curve X25519, hash SHA-256 and PQKEM ML-KEM-768.
//!
//! Alice (initiator) has Bob's verified [`PrekeyBundle`] and perhaps one of his one-time
//! prekeys. She generates an ephemeral key `EK_A` and computes
//!
//! ```text
//! DH1 = DH(IK_A, SPK_B)     DH2 = DH(EK_A, IK_B)     DH3 = DH(EK_A, SPK_B)
//! DH4 = DH(EK_A, OPK_B)     (only if a one-time prekey was used)
//! (CT, SS) = PQKEM-ENC(PQSPK_B)
//! SK = HKDF-SHA256(salt = 32 zero bytes,
//!                  IKM  = 32 × 0xFF ‖ DH1 ‖ DH2 ‖ DH3 [‖ DH4] ‖ SS,
//!                  info = "Tern_CURVE25519_SHA-256_ML-KEM-768", L = 32)
//! AD = Encode(IK_A) ‖ Encode(IK_B) ‖ A's account key ‖ B's account key
//! ```
//!
//! where `Encode(X25519 key)` is the byte `0x05` followed by the 32-byte u-coordinate. The
//! spec allows AD to carry more identifying information; Tern appends both Ed25519 account keys
//! so the session is bound to the accounts, not only to their DH keys.
//!
//! Every DH output is checked to be contributory and every received X25519 key to be of large
//! order. Alice sends an [`InitialMessage`]: her identity, `EK_A`, `CT`, the ids of the prekeys
//! she used, and a first ratchet message encrypted under a Double Ratchet started from `SK`
//! with Bob's signed prekey as his initial ratchet key (the spec's recommended integration).
//! Bob repeats the computation from his secrets; if the ratchet message authenticates, the
//! session is established and the one-time prekey (if any) is deleted.
//!
//! **Replays.** A start that used a one-time prekey cannot be accepted twice, because the
//! prekey is gone after the first time. One without it can; the spec asks the responder to
//! keep a replay cache. [`InitialMessage::replay_tag`] is the cache key, and
//! [`crate::PrekeySecrets::signed_prekey_retires_at`] says when an entry can be dropped: from
//! that time on the responder refuses any start against that signed prekey.

use std::fmt;

use rand_core::CryptoRng;
use zeroize::Zeroizing;

use crate::{
    codec::{DecodeError, Reader, Writer},
    identity::{AccountKey, PublicIdentity, VerifyError},
    prekey::{OneTimePrekey, PrekeyBundle, PrekeyId, PrekeySecrets},
    primitives::{self, MLKEM768_CIPHERTEXT_LEN, PrimitiveError},
    ratchet::RatchetMessage,
    session::SessionError,
};

/// The HKDF info string: application, curve, hash and KEM, as the spec's examples name them.
const INFO: &[u8] = b"Tern_CURVE25519_SHA-256_ML-KEM-768";
/// Type byte of `Encode(PK)` for X25519 keys.
pub(crate) const X25519_TYPE: u8 = 0x05;
const INITIAL_VERSION: u8 = 1;
const LABEL_REPLAY: &[u8] = b"tern/pqxdh/replay/v1";

/// What Alice sends so that Bob can derive the session key, without the first ratchet message.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct InitialHeader {
    pub(crate) identity: PublicIdentity,
    pub(crate) ephemeral: [u8; 32],
    pub(crate) kem_ciphertext: Box<[u8; MLKEM768_CIPHERTEXT_LEN]>,
    pub(crate) signed_prekey_id: PrekeyId,
    pub(crate) kem_prekey_id: PrekeyId,
    pub(crate) one_time_prekey_id: Option<PrekeyId>,
}

impl InitialHeader {
    /// The exact length of what [`InitialHeader::write`] writes: 1258 bytes, or 1262 with a
    /// one-time prekey id.
    pub(crate) fn encoded_len(&self) -> usize {
        let one_time = if self.one_time_prekey_id.is_some() {
            1 + 4
        } else {
            1
        };
        1 + PublicIdentity::LEN + 32 + MLKEM768_CIPHERTEXT_LEN + 4 + 4 + one_time
    }

    pub(crate) fn write(&self, w: &mut Writer) {
        w.u8(INITIAL_VERSION);
        self.identity.write(w);
        w.bytes(&self.ephemeral)
            .bytes(self.kem_ciphertext.as_ref())
            .u32(self.signed_prekey_id)
            .u32(self.kem_prekey_id)
            .option(self.one_time_prekey_id, |w, id| {
                w.u32(id);
            });
    }

    pub(crate) fn read(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        r.version("initial message", INITIAL_VERSION)?;
        let identity =
            PublicIdentity::read(r).map_err(|_| DecodeError::Invalid("sender identity"))?;
        let ephemeral: [u8; 32] = r.array("ephemeral key")?;
        if primitives::x25519_is_low_order(&ephemeral) {
            return Err(DecodeError::Invalid("ephemeral key"));
        }
        let kem_ciphertext = Box::new(r.array("kem ciphertext")?);
        let signed_prekey_id = r.u32("signed prekey id")?;
        let kem_prekey_id = r.u32("kem prekey id")?;
        let one_time_prekey_id = r.option("one-time prekey id", |r| r.u32("one-time prekey id"))?;
        Ok(Self {
            identity,
            ephemeral,
            kem_ciphertext,
            signed_prekey_id,
            kem_prekey_id,
            one_time_prekey_id,
        })
    }
}

/// The first message(s) of a session: everything the responder needs to derive the session
/// key, plus a ratchet message.
///
/// Encoding: `version u8 = 1 ‖ identity [128] ‖ EK_A [32] ‖ CT [1088] ‖ spk_id u32 ‖
/// kem_id u32 ‖ opk flag u8 [‖ opk_id u32] ‖ ratchet message`.
#[derive(Clone, PartialEq, Eq)]
pub struct InitialMessage {
    pub(crate) header: InitialHeader,
    pub(crate) message: RatchetMessage,
}

impl InitialMessage {
    /// The sender's identity (its binding signature has been verified).
    pub fn identity(&self) -> &PublicIdentity {
        &self.header.identity
    }

    /// The one-time prekey the sender used, if any.
    pub fn one_time_prekey_id(&self) -> Option<PrekeyId> {
        self.header.one_time_prekey_id
    }

    /// The signed prekey the sender used.
    pub fn signed_prekey_id(&self) -> PrekeyId {
        self.header.signed_prekey_id
    }

    /// Identifies the session this message starts: the sender's ephemeral key `EK_A`.
    pub fn base_key(&self) -> &[u8; 32] {
        &self.header.ephemeral
    }

    /// The key under which a replay cache remembers that this session start was accepted:
    /// `SHA-256("tern/pqxdh/replay/v1" ‖ EK_A ‖ CT)`. Any change to either input changes the
    /// derived session key, so two starts with the same tag are the same start.
    pub fn replay_tag(&self) -> [u8; 32] {
        primitives::sha256(&[
            LABEL_REPLAY,
            &self.header.ephemeral,
            self.header.kem_ciphertext.as_ref(),
        ])
    }

    /// The encoding.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut w = Writer::with_capacity(self.encoded_len());
        self.write(&mut w);
        w.into_vec()
    }

    /// The exact length of [`InitialMessage::to_bytes`].
    pub(crate) fn encoded_len(&self) -> usize {
        self.header.encoded_len() + self.message.encoded_len()
    }

    pub(crate) fn write(&self, w: &mut Writer) {
        self.header.write(w);
        self.message.write(w);
    }

    /// Decodes (verifying the sender's identity binding, not decrypting).
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new(bytes);
        Self::read(&mut r)
    }

    /// Reads a message that extends to the end of the input.
    pub(crate) fn read(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let header = InitialHeader::read(r)?;
        let message = RatchetMessage::read(r)?;
        Ok(Self { header, message })
    }
}

impl fmt::Debug for InitialMessage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("InitialMessage")
            .field("from", &self.header.identity.user_id())
            .field("signed_prekey_id", &self.header.signed_prekey_id)
            .field("kem_prekey_id", &self.header.kem_prekey_id)
            .field("one_time_prekey_id", &self.header.one_time_prekey_id)
            .field("message", &self.message)
            .finish()
    }
}

/// The outcome of the key agreement: the session key `SK` and the associated data `AD`.
/// (Bob's signed prekey secret, his first ratchet key, is returned beside it by [`respond`].)
pub(crate) struct Agreement {
    pub(crate) sk: Zeroizing<[u8; 32]>,
    pub(crate) ad: Vec<u8>,
}

/// `AD = Encode(IK_A) ‖ Encode(IK_B) ‖ A's account key ‖ B's account key`.
pub(crate) fn associated_data(alice: &PublicIdentity, bob: &PublicIdentity) -> Vec<u8> {
    let mut w = Writer::with_capacity(2 * 33 + 64);
    w.u8(X25519_TYPE)
        .bytes(alice.dh_key())
        .u8(X25519_TYPE)
        .bytes(bob.dh_key())
        .bytes(alice.user_id().as_bytes())
        .bytes(bob.user_id().as_bytes());
    w.into_vec()
}

fn kdf(dhs: &[&Zeroizing<[u8; 32]>], ss: &[u8; 32]) -> Zeroizing<[u8; 32]> {
    let mut ikm = Zeroizing::new(Vec::with_capacity(32 * (dhs.len() + 2)));
    ikm.extend_from_slice(&[0xff; 32]);
    for dh in dhs {
        ikm.extend_from_slice(dh.as_ref());
    }
    ikm.extend_from_slice(ss);
    let mut sk = Zeroizing::new([0u8; 32]);
    // 32 bytes is far below HKDF-SHA256's limit.
    let _ = primitives::hkdf_sha256(Some(&[0u8; 32]), &ikm, INFO, sk.as_mut());
    sk
}

fn contributory(
    result: Result<Zeroizing<[u8; 32]>, PrimitiveError>,
) -> Result<Zeroizing<[u8; 32]>, SessionError> {
    result.map_err(|_| SessionError::NonContributory)
}

/// Alice's side. The bundle and one-time prekey must already be verified.
pub(crate) fn initiate<R: CryptoRng + ?Sized>(
    rng: &mut R,
    alice: &AccountKey,
    bundle: &PrekeyBundle,
    one_time: Option<&OneTimePrekey>,
) -> Result<(Agreement, InitialHeader), SessionError> {
    let bob = bundle.identity();
    let spk = bundle.signed_prekey().key();
    let ek = primitives::x25519_generate(rng);

    let dh1 = contributory(alice.dh(spk))?;
    let dh2 = contributory(primitives::x25519(&ek, bob.dh_key()))?;
    let dh3 = contributory(primitives::x25519(&ek, spk))?;
    let dh4 = one_time
        .map(|opk| contributory(primitives::x25519(&ek, opk.key())))
        .transpose()?;
    let kem_randomness = Zeroizing::new(primitives::random::<32, _>(rng));
    let (ciphertext, ss) =
        primitives::mlkem768_encapsulate(bundle.kem_prekey().key(), &kem_randomness)
            .map_err(|_| SessionError::InvalidKemKey)?;

    let mut dhs = vec![&dh1, &dh2, &dh3];
    dhs.extend(dh4.as_ref());
    let sk = kdf(&dhs, &ss);
    let header = InitialHeader {
        identity: alice.public().clone(),
        ephemeral: primitives::x25519_public(&ek),
        kem_ciphertext: Box::new(ciphertext),
        signed_prekey_id: bundle.signed_prekey().id(),
        kem_prekey_id: bundle.kem_prekey().id(),
        one_time_prekey_id: one_time.map(OneTimePrekey::id),
    };
    Ok((
        Agreement {
            sk,
            ad: associated_data(alice.public(), bob),
        },
        header,
    ))
}

/// Bob's side at `now`. Returns the agreement and the signed prekey secret (his first ratchet
/// key). A signed or KEM prekey that has retired at `now` counts as unknown, whether or not
/// its secret has been forgotten yet.
pub(crate) fn respond(
    bob: &AccountKey,
    prekeys: &PrekeySecrets,
    header: &InitialHeader,
    now: u64,
) -> Result<(Agreement, Zeroizing<[u8; 32]>), SessionError> {
    if *prekeys.account() != bob.user_id() {
        return Err(VerifyError::WrongAccount("prekey secrets").into());
    }
    let unknown = |kind, id| SessionError::UnknownPrekey { kind, id };
    let spk = prekeys
        .signed_secret(header.signed_prekey_id, now)
        .ok_or(unknown("signed", header.signed_prekey_id))?;
    let kem = prekeys
        .kem_secret(header.kem_prekey_id, now)
        .ok_or(unknown("kem", header.kem_prekey_id))?;
    let opk = header
        .one_time_prekey_id
        .map(|id| prekeys.one_time_secret(id).ok_or(unknown("one-time", id)))
        .transpose()?;

    let alice = &header.identity;
    let dh1 = contributory(primitives::x25519(spk, alice.dh_key()))?;
    let dh2 = contributory(bob.dh(&header.ephemeral))?;
    let dh3 = contributory(primitives::x25519(spk, &header.ephemeral))?;
    let dh4 = opk
        .map(|opk| contributory(primitives::x25519(opk, &header.ephemeral)))
        .transpose()?;
    let ss = primitives::mlkem768_decapsulate(&kem, &header.kem_ciphertext);

    let mut dhs = vec![&dh1, &dh2, &dh3];
    dhs.extend(dh4.as_ref());
    let sk = kdf(&dhs, &ss);
    Ok((
        Agreement {
            sk,
            ad: associated_data(alice, bob.public()),
        },
        Zeroizing::new(**spk),
    ))
}
