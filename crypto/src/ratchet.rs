//! The Double Ratchet, as specified in Signal's "The Double Ratchet Algorithm" (Perrin and
//! Marlinspike, revision 1, 2016-11-20), with the recommended cryptographic functions.
//!
//! State per party: `DHs` (our ratchet key pair), `DHr` (their ratchet public key), `RK` (root
//! key), `CKs`/`CKr` (sending/receiving chain keys), `Ns`/`Nr` (message numbers), `PN` (length
//! of our previous sending chain) and `MKSKIPPED` (keys of messages not yet received).
//!
//! - `KDF_RK(rk, dh_out)` = HKDF-SHA256(salt = `rk`, IKM = `dh_out`, info =
//!   `"tern/ratchet/root/v1"`, L = 64) split into the new root key (first 32 bytes) and a new
//!   chain key (last 32).
//! - `KDF_CK(ck)`: message key `mk = HMAC-SHA256(ck, 0x01)`, next chain key
//!   `ck' = HMAC-SHA256(ck, 0x02)`.
//! - `ENCRYPT(mk, plaintext, AD ‖ header)`: key = HKDF-SHA256(salt = 32 zero bytes, IKM = `mk`,
//!   info = `"tern/ratchet/message/v1"`, L = 32); XChaCha20-Poly1305 under that key with a fresh
//!   random 24-byte nonce carried in the message; associated data = session AD ‖ encoded header.
//!
//! **Why a random nonce.** Each message key encrypts one message, so a constant nonce would
//! suffice in an ideal run. But a node that crashes after encrypting and before persisting the
//! advanced chain restarts from the older state and derives the *same* message key again for a
//! different plaintext. With a fixed or counter nonce that would reuse (key, nonce) and leak
//! the XOR of two plaintexts; with a 192-bit random nonce the two encryptions are independent.
//! (The receiver accepts at most one of them: the key is consumed on first use.)
//!
//! **Transactional decryption.** The spec says that if decryption fails, all state changes are
//! discarded. Here decryption first computes every change into a [`Staged`] value — skipped
//! keys, a DH ratchet step, the next chain key — opens the ciphertext, and only then commits.
//! A forged header therefore cannot advance chains or fill the skipped-key store.
//!
//! **Bounded skipped keys.** At most [`MAX_SKIP`] keys are skipped in one chain per message,
//! at most [`MAX_SKIPPED_KEYS`] are stored (the oldest go first), and each is forgotten after
//! [`SKIPPED_KEY_LIFETIME_SECS`]: from then on decryption treats it as absent, whether or not
//! [`Ratchet::prune`] has removed it yet. A used key is deleted at once.

use std::{collections::BTreeMap, fmt};

use rand_core::CryptoRng;
use thiserror::Error;
use zeroize::Zeroizing;

use crate::{
    Plaintext,
    codec::{DecodeError, Reader, Writer},
    primitives::{self, PrimitiveError, SecretBox, TAG_LEN, XNONCE_LEN},
};

/// Most message keys skipped in one chain by one incoming message. Messages lost or delayed
/// beyond this cannot be decrypted; the bound stops a peer from making us derive millions of
/// keys. Signal's implementations use a value of the same order.
pub const MAX_SKIP: u32 = 1000;
/// Most skipped message keys stored at once, across all chains of a session.
pub const MAX_SKIPPED_KEYS: usize = 2000;
/// How long a skipped message key is kept. Relays hold envelopes for up to 21 days, so a
/// message delayed that long can still be read; a little more covers clock skew and retries.
pub const SKIPPED_KEY_LIFETIME_SECS: u64 = 30 * 24 * 60 * 60;
/// Largest plaintext one ratchet message carries (256 KiB, the largest envelope, less the
/// session and envelope overheads rounded generously).
pub const MAX_PLAINTEXT_LEN: usize = 256 * 1024 - 4096;

const INFO_ROOT: &[u8] = b"tern/ratchet/root/v1";
const INFO_MESSAGE: &[u8] = b"tern/ratchet/message/v1";
const MESSAGE_VERSION: u8 = 1;
const STATE_VERSION: u8 = 1;

/// Encoded header length: `version u8 ‖ dh [32] ‖ pn u32 ‖ n u32`.
pub(crate) const HEADER_LEN: usize = 1 + 32 + 4 + 4;

/// Why an incoming message was refused. The session state is unchanged whenever this is
/// returned.
///
/// Only [`DecryptError::Authentication`] is decided by the AEAD. `Duplicate`,
/// `TooManySkipped` and `InvalidKey` are decided from the header before anything is
/// authenticated, so anyone can provoke them with a forged header: they are reasons to drop
/// the message, not evidence of what the peer did.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum DecryptError {
    /// The message does not decode.
    #[error("malformed message: {0}")]
    Decode(#[from] DecodeError),
    /// Authentication failed: tampered header, ciphertext or associated data, a message for
    /// another session, or a message whose key was already used and deleted.
    #[error("message failed authentication")]
    Authentication,
    /// The message's number is behind the current receiving chain and no skipped key remains
    /// for it: a duplicate, or a message whose skipped key expired or was evicted. Decided
    /// from the unauthenticated header. Only detected for the current receiving chain: a
    /// replayed message of an older chain looks like a new ratchet key and fails as
    /// [`DecryptError::Authentication`].
    #[error("message {n} of this chain was already received")]
    Duplicate {
        /// Its number in the chain.
        n: u32,
    },
    /// Decrypting would skip more than [`MAX_SKIP`] message keys. Decided from the
    /// unauthenticated header.
    #[error("message would skip {skip} keys, more than the maximum of {MAX_SKIP}")]
    TooManySkipped {
        /// How many keys it would skip.
        skip: u64,
    },
    /// The header's ratchet key is a low-order point or gives a non-contributory result.
    /// Decided from the unauthenticated header.
    #[error("invalid ratchet public key")]
    InvalidKey,
    /// A session-start message for a different session than this one.
    #[error("message belongs to a different session")]
    OtherSession,
}

/// Why a message could not be encrypted.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum EncryptError {
    /// The plaintext exceeds [`MAX_PLAINTEXT_LEN`].
    #[error("plaintext is {len} bytes, more than the maximum of {max}")]
    TooLong {
        /// Its length.
        len: usize,
        /// The maximum.
        max: usize,
    },
    /// The sending chain has used every message number (2^32 messages without a reply).
    #[error("sending chain exhausted")]
    ChainExhausted,
    /// There is no sending chain yet: the responder can send only after its first successful
    /// decryption. A [`crate::Session`] returned by `initiate` or `respond` always has one.
    #[error("no sending chain yet")]
    NoSendingChain,
}

/// A ratchet message header.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) struct Header {
    pub(crate) dh: [u8; 32],
    pub(crate) pn: u32,
    pub(crate) n: u32,
}

impl Header {
    fn encode(&self) -> [u8; HEADER_LEN] {
        let mut out = [0u8; HEADER_LEN];
        out[0] = MESSAGE_VERSION;
        out[1..33].copy_from_slice(&self.dh);
        out[33..37].copy_from_slice(&self.pn.to_be_bytes());
        out[37..41].copy_from_slice(&self.n.to_be_bytes());
        out
    }
}

/// One encrypted message of an established session.
///
/// Encoding: `version u8 = 1 ‖ dh [32] ‖ pn u32 ‖ n u32 ‖ nonce [24] ‖ ciphertext ‖ tag [16]`.
#[derive(Clone, PartialEq, Eq)]
pub struct RatchetMessage {
    pub(crate) header: Header,
    nonce: [u8; XNONCE_LEN],
    ciphertext: Vec<u8>,
}

impl RatchetMessage {
    /// Largest valid encoding.
    pub const MAX_LEN: usize = HEADER_LEN + XNONCE_LEN + MAX_PLAINTEXT_LEN + TAG_LEN;

    /// The encoding.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut w = Writer::with_capacity(self.encoded_len());
        self.write(&mut w);
        w.into_vec()
    }

    /// The exact length of [`RatchetMessage::to_bytes`].
    pub(crate) fn encoded_len(&self) -> usize {
        HEADER_LEN + XNONCE_LEN + self.ciphertext.len()
    }

    pub(crate) fn write(&self, w: &mut Writer) {
        w.bytes(&self.header.encode())
            .bytes(&self.nonce)
            .bytes(&self.ciphertext);
    }

    /// Decodes (without decrypting).
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new(bytes);
        let message = Self::read(&mut r)?;
        r.finish()?;
        Ok(message)
    }

    /// Reads a message that extends to the end of the input.
    pub(crate) fn read(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        if r.remaining() > Self::MAX_LEN {
            return Err(DecodeError::TooLong {
                what: "ratchet message",
                len: r.remaining(),
                max: Self::MAX_LEN,
            });
        }
        r.version("ratchet message", MESSAGE_VERSION)?;
        let header = Header {
            dh: r.array("ratchet key")?,
            pn: r.u32("previous chain length")?,
            n: r.u32("message number")?,
        };
        let nonce = r.array("nonce")?;
        let ciphertext = r.rest().to_vec();
        if ciphertext.len() < TAG_LEN {
            return Err(DecodeError::Truncated("ciphertext"));
        }
        Ok(Self {
            header,
            nonce,
            ciphertext,
        })
    }
}

impl fmt::Debug for RatchetMessage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RatchetMessage")
            .field("pn", &self.header.pn)
            .field("n", &self.header.n)
            .field("len", &self.ciphertext.len())
            .finish_non_exhaustive()
    }
}

type Key = Zeroizing<[u8; 32]>;

fn kdf_rk(rk: &[u8; 32], dh_out: &[u8; 32]) -> (Key, Key) {
    let mut out = Zeroizing::new([0u8; 64]);
    // 64 bytes is far below HKDF-SHA256's 8160-byte limit.
    let _ = primitives::hkdf_sha256(Some(rk), dh_out, INFO_ROOT, out.as_mut());
    let (mut root, mut chain) = (Zeroizing::new([0u8; 32]), Zeroizing::new([0u8; 32]));
    root.copy_from_slice(&out[..32]);
    chain.copy_from_slice(&out[32..]);
    (root, chain)
}

/// Returns `(next chain key, message key)`.
fn kdf_ck(ck: &[u8; 32]) -> (Key, Key) {
    let mk = Zeroizing::new(primitives::hmac_sha256(ck, &[0x01]));
    let next = Zeroizing::new(primitives::hmac_sha256(ck, &[0x02]));
    (next, mk)
}

fn aead_key(mk: &[u8; 32]) -> Key {
    let mut key = Zeroizing::new([0u8; 32]);
    let _ = primitives::hkdf_sha256(Some(&[0u8; 32]), mk, INFO_MESSAGE, key.as_mut());
    key
}

fn associated_data(ad: &[u8], header: &Header) -> Vec<u8> {
    [ad, &header.encode()].concat()
}

fn dh(secret: &[u8; 32], public: &[u8; 32]) -> Result<Key, DecryptError> {
    primitives::x25519(secret, public).map_err(|_| DecryptError::InvalidKey)
}

/// A skipped message key. The key is boxed so that the map's node shifts and splits move a
/// pointer, never the key (see [`primitives::SecretBox`]).
struct SkippedKey {
    mk: SecretBox<32>,
    stored_at: u64,
}

impl SkippedKey {
    /// Whether the key is still within [`SKIPPED_KEY_LIFETIME_SECS`] at `now`.
    fn is_live(&self, now: u64) -> bool {
        now < self.stored_at.saturating_add(SKIPPED_KEY_LIFETIME_SECS)
    }
}

/// Double Ratchet state of one party.
pub(crate) struct Ratchet {
    dhs_secret: Key,
    dhs_public: [u8; 32],
    dhr: Option<[u8; 32]>,
    rk: Key,
    cks: Option<Key>,
    ckr: Option<Key>,
    ns: u32,
    nr: u32,
    pn: u32,
    skipped: BTreeMap<([u8; 32], u32), SkippedKey>,
}

/// Every change one decryption would make, held until the ciphertext authenticates.
struct Staged {
    ratchet: Option<DhStep>,
    ckr: Key,
    nr: u32,
    /// Boxed, so that the vector's growth copies pointers, not keys.
    new_skipped: Vec<([u8; 32], u32, SecretBox<32>)>,
}

struct DhStep {
    dhr: [u8; 32],
    rk: Key,
    dhs_secret: Key,
    dhs_public: [u8; 32],
    cks: Key,
    pn: u32,
}

impl Ratchet {
    /// `RatchetInitAlice(SK, bob_dh_public_key)`.
    pub(crate) fn init_alice<R: CryptoRng + ?Sized>(
        rng: &mut R,
        sk: &[u8; 32],
        bob_public: &[u8; 32],
    ) -> Result<Self, PrimitiveError> {
        let dhs_secret = primitives::x25519_generate(rng);
        let dhs_public = primitives::x25519_public(&dhs_secret);
        let shared = primitives::x25519(&dhs_secret, bob_public)?;
        let (rk, cks) = kdf_rk(sk, &shared);
        Ok(Self {
            dhs_secret,
            dhs_public,
            dhr: Some(*bob_public),
            rk,
            cks: Some(cks),
            ckr: None,
            ns: 0,
            nr: 0,
            pn: 0,
            skipped: BTreeMap::new(),
        })
    }

    /// `RatchetInitBob(SK, bob_dh_key_pair)`: Bob's first ratchet key pair is his signed prekey.
    pub(crate) fn init_bob(sk: &[u8; 32], spk_secret: &[u8; 32]) -> Self {
        Self {
            dhs_secret: Zeroizing::new(*spk_secret),
            dhs_public: primitives::x25519_public(spk_secret),
            dhr: None,
            rk: Zeroizing::new(*sk),
            cks: None,
            ckr: None,
            ns: 0,
            nr: 0,
            pn: 0,
            skipped: BTreeMap::new(),
        }
    }

    /// `RatchetEncrypt(state, plaintext, AD)`.
    pub(crate) fn encrypt<R: CryptoRng + ?Sized>(
        &mut self,
        rng: &mut R,
        plaintext: &[u8],
        ad: &[u8],
    ) -> Result<RatchetMessage, EncryptError> {
        if plaintext.len() > MAX_PLAINTEXT_LEN {
            return Err(EncryptError::TooLong {
                len: plaintext.len(),
                max: MAX_PLAINTEXT_LEN,
            });
        }
        // A session only reaches callers once it can send: Alice's from initialisation, Bob's
        // after his first successful decryption. Until then there is no chain to send on,
        // which is not the same as having used one up.
        let cks = self.cks.as_ref().ok_or(EncryptError::NoSendingChain)?;
        let next_ns = self.ns.checked_add(1).ok_or(EncryptError::ChainExhausted)?;
        let (next, mk) = kdf_ck(cks);
        let header = Header {
            dh: self.dhs_public,
            pn: self.pn,
            n: self.ns,
        };
        let nonce = primitives::random::<XNONCE_LEN, _>(rng);
        let ciphertext = primitives::xchacha_seal(
            &aead_key(&mk),
            &nonce,
            &associated_data(ad, &header),
            plaintext,
        );
        self.cks = Some(next);
        self.ns = next_ns;
        Ok(RatchetMessage {
            header,
            nonce,
            ciphertext,
        })
    }

    /// `RatchetDecrypt(state, header, ciphertext, AD)`, transactional.
    pub(crate) fn decrypt<R: CryptoRng + ?Sized>(
        &mut self,
        rng: &mut R,
        message: &RatchetMessage,
        ad: &[u8],
        now: u64,
    ) -> Result<Plaintext, DecryptError> {
        let header = &message.header;
        let full_ad = associated_data(ad, header);

        // TrySkippedMessageKeys. A key past its lifetime counts as absent even before `prune`
        // has removed it, so the lifetime holds exactly whenever the caller prunes; it is not
        // removed here, since a refused message must leave the state unchanged.
        if let Some(skipped) = self
            .skipped
            .get(&(header.dh, header.n))
            .filter(|key| key.is_live(now))
        {
            let plaintext = open(&skipped.mk, message, &full_ad)?;
            self.skipped.remove(&(header.dh, header.n));
            return Ok(plaintext);
        }

        let staged = self.stage(rng, header)?;
        let (_, mk) = kdf_ck(&staged.ckr);
        let plaintext = open(&mk, message, &full_ad)?;
        self.commit(staged, now);
        Ok(plaintext)
    }

    /// Computes the changes `RatchetDecrypt` makes before `DECRYPT`, without applying them.
    fn stage<R: CryptoRng + ?Sized>(
        &self,
        rng: &mut R,
        header: &Header,
    ) -> Result<Staged, DecryptError> {
        let mut new_skipped = Vec::new();
        if self.dhr == Some(header.dh) {
            if header.n < self.nr {
                return Err(DecryptError::Duplicate { n: header.n });
            }
            let ckr = self.ckr.as_ref().ok_or(DecryptError::Authentication)?;
            let (ckr, nr) = skip(ckr, self.nr, header.n, &header.dh, &mut new_skipped)?;
            return Ok(Staged {
                ratchet: None,
                ckr,
                nr,
                new_skipped,
            });
        }
        if primitives::x25519_is_low_order(&header.dh) {
            return Err(DecryptError::InvalidKey);
        }
        // SkipMessageKeys(state, header.pn) in the current receiving chain, if there is one.
        if let (Some(ckr), Some(dhr)) = (self.ckr.as_ref(), self.dhr.as_ref()) {
            skip(ckr, self.nr, header.pn, dhr, &mut new_skipped)?;
        } else if u64::from(header.pn) > u64::from(MAX_SKIP) {
            return Err(DecryptError::TooManySkipped {
                skip: u64::from(header.pn),
            });
        }
        // DHRatchet(state, header).
        let (rk, ckr) = kdf_rk(&self.rk, &*dh(&self.dhs_secret, &header.dh)?);
        let dhs_secret = primitives::x25519_generate(rng);
        let dhs_public = primitives::x25519_public(&dhs_secret);
        let (rk, cks) = kdf_rk(&rk, &*dh(&dhs_secret, &header.dh)?);
        // SkipMessageKeys(state, header.n) in the new chain.
        let (ckr, nr) = skip(&ckr, 0, header.n, &header.dh, &mut new_skipped)?;
        Ok(Staged {
            ratchet: Some(DhStep {
                dhr: header.dh,
                rk,
                dhs_secret,
                dhs_public,
                cks,
                pn: self.ns,
            }),
            ckr,
            nr,
            new_skipped,
        })
    }

    fn commit(&mut self, staged: Staged, now: u64) {
        if let Some(step) = staged.ratchet {
            self.pn = step.pn;
            self.ns = 0;
            self.dhr = Some(step.dhr);
            self.rk = step.rk;
            self.dhs_secret = step.dhs_secret;
            self.dhs_public = step.dhs_public;
            self.cks = Some(step.cks);
        }
        // The key just used is consumed: the chain moves one past it.
        let (next, _) = kdf_ck(&staged.ckr);
        self.ckr = Some(next);
        self.nr = staged.nr.saturating_add(1);
        for (dh, n, mk) in staged.new_skipped {
            self.skipped
                .insert((dh, n), SkippedKey { mk, stored_at: now });
        }
        self.prune(now);
    }

    /// Forgets skipped keys older than [`SKIPPED_KEY_LIFETIME_SECS`], then the oldest ones
    /// beyond [`MAX_SKIPPED_KEYS`].
    pub(crate) fn prune(&mut self, now: u64) {
        self.skipped.retain(|_, key| key.is_live(now));
        let excess = self.skipped.len().saturating_sub(MAX_SKIPPED_KEYS);
        if excess == 0 {
            return;
        }
        // One pass: sort once, drop the first `excess`, rather than search for the minimum once
        // per evicted key (quadratic). Oldest first; within one arrival time, the lowest
        // message numbers of a chain, which are the likeliest to be lost for good; then the
        // lowest ratchet key, so the order is total.
        let mut order: Vec<(u64, u32, [u8; 32])> = self
            .skipped
            .iter()
            .map(|(&(dh, n), key)| (key.stored_at, n, dh))
            .collect();
        order.sort_unstable();
        for &(_, n, dh) in &order[..excess] {
            self.skipped.remove(&(dh, n));
        }
    }

    pub(crate) fn skipped_len(&self) -> usize {
        self.skipped.len()
    }

    /// The exact length of what [`Ratchet::write`] writes.
    pub(crate) fn encoded_len(&self) -> usize {
        let option = |present: bool| if present { 1 + 32 } else { 1 };
        1 + 32
            + 32
            + option(self.dhr.is_some())
            + 32
            + option(self.cks.is_some())
            + option(self.ckr.is_some())
            + 4 * 3
            + 4
            + self.skipped.len() * (32 + 4 + 32 + 8)
    }

    pub(crate) fn write(&self, w: &mut Writer) {
        w.u8(STATE_VERSION)
            .bytes(self.dhs_secret.as_ref())
            .bytes(&self.dhs_public)
            .option(self.dhr.as_ref(), |w, dhr| {
                w.bytes(dhr);
            })
            .bytes(self.rk.as_ref())
            .option(self.cks.as_ref(), |w, ck| {
                w.bytes(ck.as_ref());
            })
            .option(self.ckr.as_ref(), |w, ck| {
                w.bytes(ck.as_ref());
            })
            .u32(self.ns)
            .u32(self.nr)
            .u32(self.pn)
            .u32(self.skipped.len() as u32);
        for ((dh, n), key) in &self.skipped {
            w.bytes(dh).u32(*n).bytes(&key.mk[..]).u64(key.stored_at);
        }
    }

    /// Reads a state written by [`Ratchet::write`], refusing one that no run of the protocol
    /// produces: a key pair that does not match, chain fields that contradict each other, or
    /// a skipped key listed twice.
    ///
    /// The chain fields obey, in every reachable state: `DHr` and `CKs` are both present or
    /// both absent (Alice gets both at initialisation, Bob both at his first DH step, and
    /// neither is ever removed); `CKr` exists only with `DHr`; `Ns` and `PN` are zero without
    /// `CKs`; and `Nr` is zero and no key is skipped without `CKr`.
    pub(crate) fn read(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        r.version("ratchet state", STATE_VERSION)?;
        let dhs_secret = Zeroizing::new(r.array("ratchet secret")?);
        let dhs_public = r.array("ratchet public")?;
        if primitives::x25519_public(&dhs_secret) != dhs_public {
            return Err(DecodeError::Inconsistent("ratchet key pair"));
        }
        let dhr = r.option("remote ratchet key", |r| r.array("remote ratchet key"))?;
        let rk = Zeroizing::new(r.array("root key")?);
        let cks = r.option("sending chain", |r| {
            r.array("sending chain").map(Zeroizing::new)
        })?;
        let ckr = r.option("receiving chain", |r| {
            r.array("receiving chain").map(Zeroizing::new)
        })?;
        let ns = r.u32("ns")?;
        let nr = r.u32("nr")?;
        let pn = r.u32("pn")?;
        let count = r.u32("skipped key count")? as usize;
        if count > MAX_SKIPPED_KEYS {
            return Err(DecodeError::TooLong {
                what: "skipped keys",
                len: count,
                max: MAX_SKIPPED_KEYS,
            });
        }
        if dhr.is_some() != cks.is_some() {
            return Err(DecodeError::Inconsistent("sending chain"));
        }
        if ckr.is_some() && dhr.is_none() {
            return Err(DecodeError::Inconsistent("receiving chain"));
        }
        if cks.is_none() && (ns != 0 || pn != 0) {
            return Err(DecodeError::Inconsistent("sending message numbers"));
        }
        if ckr.is_none() && (nr != 0 || count != 0) {
            return Err(DecodeError::Inconsistent("receiving message numbers"));
        }
        let mut skipped = BTreeMap::new();
        for _ in 0..count {
            let dh = r.array("skipped key ratchet key")?;
            let n = r.u32("skipped key number")?;
            let mk = primitives::secret_box(&Zeroizing::new(r.array("skipped key")?));
            let stored_at = r.u64("skipped key time")?;
            if skipped
                .insert((dh, n), SkippedKey { mk, stored_at })
                .is_some()
            {
                return Err(DecodeError::Duplicate("skipped key"));
            }
        }
        Ok(Self {
            dhs_secret,
            dhs_public,
            dhr,
            rk,
            cks,
            ckr,
            ns,
            nr,
            pn,
            skipped,
        })
    }
}

/// `SkipMessageKeys`: advances a chain from `nr` to `until`, collecting the skipped keys.
/// Returns the chain key at `until` and `until`.
fn skip(
    ck: &[u8; 32],
    nr: u32,
    until: u32,
    dh: &[u8; 32],
    out: &mut Vec<([u8; 32], u32, SecretBox<32>)>,
) -> Result<(Key, u32), DecryptError> {
    let count = u64::from(until).saturating_sub(u64::from(nr));
    if count > u64::from(MAX_SKIP) {
        return Err(DecryptError::TooManySkipped { skip: count });
    }
    let mut ck = Zeroizing::new(*ck);
    for n in nr..until {
        let (next, mk) = kdf_ck(&ck);
        out.push((*dh, n, primitives::secret_box(&mk)));
        ck = next;
    }
    Ok((ck, until.max(nr)))
}

fn open(mk: &[u8; 32], message: &RatchetMessage, ad: &[u8]) -> Result<Plaintext, DecryptError> {
    primitives::xchacha_open(&aead_key(mk), &message.nonce, ad, &message.ciphertext)
        .map(Plaintext::new)
        .map_err(|_| DecryptError::Authentication)
}

#[cfg(test)]
mod tests {
    use rand_chacha::ChaCha20Rng;
    use rand_core::SeedableRng;

    use super::*;

    const AD: &[u8] = b"session associated data";
    const NOW: u64 = 1_800_000_000;

    fn state_bytes(r: &Ratchet) -> Vec<u8> {
        let mut w = Writer::default();
        r.write(&mut w);
        let bytes = w.into_vec();
        assert_eq!(bytes.len(), r.encoded_len());
        bytes
    }

    /// An Alice/Bob pair as PQXDH would leave it, with Bob's first message received.
    fn pair(seed: u8) -> (Ratchet, Ratchet, ChaCha20Rng) {
        let mut rng = ChaCha20Rng::from_seed([seed; 32]);
        let sk = [7u8; 32];
        let spk = primitives::x25519_generate(&mut rng);
        let mut alice =
            Ratchet::init_alice(&mut rng, &sk, &primitives::x25519_public(&spk)).unwrap();
        let mut bob = Ratchet::init_bob(&sk, &spk);
        let first = alice.encrypt(&mut rng, b"first", AD).unwrap();
        assert_eq!(bob.decrypt(&mut rng, &first, AD, NOW).unwrap(), b"first");
        (alice, bob, rng)
    }

    #[test]
    fn kdf_ck_uses_the_spec_constants() {
        let ck = [0x42u8; 32];
        let (next, mk) = kdf_ck(&ck);
        assert_eq!(*mk, primitives::hmac_sha256(&ck, &[1]));
        assert_eq!(*next, primitives::hmac_sha256(&ck, &[2]));
    }

    #[test]
    fn kdf_rk_is_hkdf_with_the_root_key_as_salt() {
        let (rk, dh_out) = ([1u8; 32], [2u8; 32]);
        let mut expected = [0u8; 64];
        primitives::hkdf_sha256(Some(&rk), &dh_out, INFO_ROOT, &mut expected).unwrap();
        let (root, chain) = kdf_rk(&rk, &dh_out);
        assert_eq!(&root[..], &expected[..32]);
        assert_eq!(&chain[..], &expected[32..]);
    }

    #[test]
    fn forged_header_changes_nothing() {
        let (mut alice, mut bob, mut rng) = pair(1);
        let before = state_bytes(&bob);
        let mut message = alice.encrypt(&mut rng, b"hello", AD).unwrap();
        // Far ahead in the same chain, then a new ratchet key: both must fail authentication
        // after staging hundreds of keys, and leave no skipped key behind.
        message.header.n += 500;
        assert_eq!(
            bob.decrypt(&mut rng, &message, AD, NOW),
            Err(DecryptError::Authentication)
        );
        message.header.n -= 500;
        message.header.dh = primitives::x25519_public(&[9u8; 32]);
        message.header.pn = 300;
        assert_eq!(
            bob.decrypt(&mut rng, &message, AD, NOW),
            Err(DecryptError::Authentication)
        );
        assert_eq!(state_bytes(&bob), before);
        assert_eq!(bob.skipped_len(), 0);
    }

    #[test]
    fn wrong_associated_data_is_rejected_without_change() {
        let (mut alice, mut bob, mut rng) = pair(2);
        let before = state_bytes(&bob);
        let message = alice.encrypt(&mut rng, b"hello", AD).unwrap();
        assert_eq!(
            bob.decrypt(&mut rng, &message, b"other session", NOW),
            Err(DecryptError::Authentication)
        );
        assert_eq!(state_bytes(&bob), before);
        assert_eq!(bob.decrypt(&mut rng, &message, AD, NOW).unwrap(), b"hello");
    }

    #[test]
    fn low_order_ratchet_key_is_rejected() {
        let (mut alice, mut bob, mut rng) = pair(3);
        let mut message = alice.encrypt(&mut rng, b"hello", AD).unwrap();
        message.header.dh = [0u8; 32];
        assert_eq!(
            bob.decrypt(&mut rng, &message, AD, NOW),
            Err(DecryptError::InvalidKey)
        );
        let mut one = [0u8; 32];
        one[0] = 1;
        message.header.dh = one;
        assert_eq!(
            bob.decrypt(&mut rng, &message, AD, NOW),
            Err(DecryptError::InvalidKey)
        );
    }

    #[test]
    fn used_message_keys_are_erased() {
        let (mut alice, mut bob, mut rng) = pair(4);
        let messages: Vec<_> = (0..3)
            .map(|i| alice.encrypt(&mut rng, &[i], AD).unwrap())
            .collect();
        // Receive the last first: the two before it become skipped keys.
        assert_eq!(bob.decrypt(&mut rng, &messages[2], AD, NOW).unwrap(), [2]);
        let skipped: Vec<[u8; 32]> = bob.skipped.values().map(|k| **k.mk).collect();
        assert_eq!(skipped.len(), 2);
        for key in &skipped {
            assert!(
                contains(&state_bytes(&bob), key),
                "skipped key must be stored until used"
            );
        }
        assert_eq!(bob.decrypt(&mut rng, &messages[0], AD, NOW).unwrap(), [0]);
        assert_eq!(bob.decrypt(&mut rng, &messages[1], AD, NOW).unwrap(), [1]);
        let state = state_bytes(&bob);
        for key in &skipped {
            assert!(
                !contains(&state, key),
                "a used message key stayed in the state"
            );
        }
        // The chain key that produced the last key is gone too: only its successor remains.
        assert_eq!(bob.skipped_len(), 0);
        // Replays of all three are refused.
        for message in &messages {
            assert!(bob.decrypt(&mut rng, message, AD, NOW).is_err());
        }
    }

    #[test]
    fn skipped_keys_expire_and_are_bounded() {
        let (mut alice, mut bob, mut rng) = pair(5);
        let late = alice.encrypt(&mut rng, b"late", AD).unwrap();
        let on_time = alice.encrypt(&mut rng, b"on time", AD).unwrap();
        bob.decrypt(&mut rng, &on_time, AD, NOW).unwrap();
        assert_eq!(bob.skipped_len(), 1);
        bob.prune(NOW + SKIPPED_KEY_LIFETIME_SECS);
        assert_eq!(bob.skipped_len(), 0);
        assert_eq!(
            bob.decrypt(&mut rng, &late, AD, NOW),
            Err(DecryptError::Duplicate { n: 1 })
        );

        // Fill beyond the global bound with several gaps of MAX_SKIP: the oldest are evicted.
        for round in 0..3u64 {
            for _ in 0..MAX_SKIP {
                alice.encrypt(&mut rng, b"lost", AD).unwrap();
            }
            let arrives = alice.encrypt(&mut rng, b"arrives", AD).unwrap();
            bob.decrypt(&mut rng, &arrives, AD, NOW + round).unwrap();
        }
        assert_eq!(bob.skipped_len(), MAX_SKIPPED_KEYS);
        assert!(bob.skipped.values().all(|k| k.stored_at > NOW));
    }

    #[test]
    fn encrypting_before_a_sending_chain_exists_is_refused() {
        let mut rng = ChaCha20Rng::from_seed([12; 32]);
        let spk = primitives::x25519_generate(&mut rng);
        let mut bob = Ratchet::init_bob(&[7; 32], &spk);
        let before = state_bytes(&bob);
        assert_eq!(
            bob.encrypt(&mut rng, b"too early", AD).map(|_| ()),
            Err(EncryptError::NoSendingChain)
        );
        assert_eq!(state_bytes(&bob), before);
    }

    #[test]
    fn expired_skipped_key_is_absent_before_pruning() {
        let (mut alice, mut bob, mut rng) = pair(7);
        let late = alice.encrypt(&mut rng, b"late", AD).unwrap();
        let on_time = alice.encrypt(&mut rng, b"on time", AD).unwrap();
        bob.decrypt(&mut rng, &on_time, AD, NOW).unwrap();
        assert_eq!(bob.skipped_len(), 1);
        // No prune in between: the key is still stored, but past its lifetime it opens nothing,
        // and the refusal changes nothing.
        let before = state_bytes(&bob);
        let expired = NOW + SKIPPED_KEY_LIFETIME_SECS;
        assert_eq!(
            bob.decrypt(&mut rng, &late, AD, expired),
            Err(DecryptError::Duplicate { n: 1 })
        );
        assert_eq!(state_bytes(&bob), before);
        // One second earlier it is still live.
        assert_eq!(
            bob.decrypt(&mut rng, &late, AD, expired - 1).unwrap(),
            b"late"
        );
        assert_eq!(bob.skipped_len(), 0);
    }

    #[test]
    fn state_round_trips() {
        let (mut alice, mut bob, mut rng) = pair(6);
        let skipped = alice.encrypt(&mut rng, b"skipped", AD).unwrap();
        let m = alice.encrypt(&mut rng, b"m", AD).unwrap();
        bob.decrypt(&mut rng, &m, AD, NOW).unwrap();
        let bytes = state_bytes(&bob);
        let mut restored = Ratchet::read(&mut Reader::new(&bytes)).unwrap();
        assert_eq!(state_bytes(&restored), bytes);
        assert_eq!(
            restored.decrypt(&mut rng, &skipped, AD, NOW).unwrap(),
            b"skipped"
        );
        let reply = restored.encrypt(&mut rng, b"reply", AD).unwrap();
        assert_eq!(alice.decrypt(&mut rng, &reply, AD, NOW).unwrap(), b"reply");
    }

    fn address(key: &SecretBox<32>) -> usize {
        key.as_ptr() as usize
    }

    /// Skipped keys must not leave copies behind as the store changes. A key staged in the
    /// vector is committed to the map without moving, and later insertions before and after
    /// it (which shift it within its map node and split nodes) leave it where it is. With the
    /// keys held inline, each of these moves would copy the key and abandon the old bytes.
    #[test]
    fn skipped_keys_never_move_in_memory() {
        let (mut alice, mut bob, mut rng) = pair(13);
        let lost: Vec<_> = (0..3)
            .map(|_| alice.encrypt(&mut rng, b"lost", AD).unwrap())
            .collect();
        let last = alice.encrypt(&mut rng, b"last", AD).unwrap();
        let staged = bob.stage(&mut rng, &last.header).unwrap();
        let mut staged_at: Vec<usize> = staged
            .new_skipped
            .iter()
            .map(|(_, _, mk)| address(mk))
            .collect();
        bob.commit(staged, NOW);
        let mut committed: Vec<usize> = bob.skipped.values().map(|k| address(&k.mk)).collect();
        staged_at.sort_unstable();
        committed.sort_unstable();
        assert_eq!(staged_at.len(), 3);
        assert_eq!(staged_at, committed);

        let tracked: Vec<_> = bob
            .skipped
            .iter()
            .map(|(&at, key)| (at, address(&key.mk)))
            .collect();
        for n in 0..500 {
            for dh in [[0x00; 32], [0xff; 32]] {
                let mk = primitives::secret_box(&[1; 32]);
                bob.skipped
                    .insert((dh, n), SkippedKey { mk, stored_at: NOW });
            }
        }
        for n in 0..250 {
            bob.skipped.remove(&([0x00; 32], n));
        }
        for (at, address_before) in &tracked {
            assert_eq!(address(&bob.skipped[at].mk), *address_before);
        }
        for message in &lost {
            assert_eq!(bob.decrypt(&mut rng, message, AD, NOW).unwrap(), b"lost");
        }
    }

    #[test]
    fn pruning_evicts_in_the_specified_order() {
        let (_, mut bob, _) = pair(11);
        // Keys over a few arrival times, message numbers and chains, with every kind of tie,
        // well beyond the bound.
        let excess = 700;
        for i in 0..MAX_SKIPPED_KEYS + excess {
            let i = i as u32;
            // Three chains share each message number and arrival time.
            let dh = [(i % 3) as u8; 32];
            let n = i / 3;
            let stored_at = NOW + u64::from(n % 4);
            let mk = primitives::secret_box(&[0; 32]);
            bob.skipped.insert((dh, n), SkippedKey { mk, stored_at });
        }
        let total = bob.skipped.len();
        assert_eq!(total, MAX_SKIPPED_KEYS + excess);
        // The order of the spec, applied one key at a time: the smallest
        // (stored_at, N, ratchet key) goes first.
        let mut expected: Vec<_> = bob
            .skipped
            .iter()
            .map(|(&(dh, n), key)| (key.stored_at, n, dh))
            .collect();
        expected.sort();
        let expected: Vec<_> = expected[total - MAX_SKIPPED_KEYS..]
            .iter()
            .map(|&(_, n, dh)| (dh, n))
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect();
        bob.prune(NOW + 10);
        assert_eq!(bob.skipped.keys().copied().collect::<Vec<_>>(), expected);
    }

    fn reload(r: &Ratchet) -> Result<(), DecodeError> {
        Ratchet::read(&mut Reader::new(&state_bytes(r))).map(|_| ())
    }

    #[test]
    fn every_state_the_protocol_reaches_loads() {
        let mut rng = ChaCha20Rng::from_seed([8; 32]);
        let spk = primitives::x25519_generate(&mut rng);
        let alice = Ratchet::init_alice(&mut rng, &[7; 32], &primitives::x25519_public(&spk));
        reload(&alice.unwrap()).unwrap();
        reload(&Ratchet::init_bob(&[7; 32], &spk)).unwrap();
        let (alice, bob, _) = pair(8);
        reload(&alice).unwrap();
        reload(&bob).unwrap();
    }

    #[test]
    fn stored_state_with_inconsistent_chains_is_refused() {
        let (alice, mut bob, mut rng) = pair(9);
        let inconsistent = |what| Err(DecodeError::Inconsistent(what));

        bob.dhs_public = primitives::x25519_public(&[5; 32]);
        assert_eq!(reload(&bob), inconsistent("ratchet key pair"));

        let (_, mut bob, _) = pair(9);
        bob.dhr = None;
        assert_eq!(reload(&bob), inconsistent("sending chain"));
        bob.cks = None;
        assert_eq!(reload(&bob), inconsistent("receiving chain"));

        // Alice before any reply: no receiving chain, so nothing received or skipped.
        let mut fresh = Ratchet::init_alice(&mut rng, &[7; 32], &alice.dhs_public).unwrap();
        fresh.nr = 1;
        assert_eq!(reload(&fresh), inconsistent("receiving message numbers"));
        // Bob before his first message: no sending chain, so nothing sent.
        let mut bob = Ratchet::init_bob(&[7; 32], &[6; 32]);
        bob.ns = 1;
        assert_eq!(reload(&bob), inconsistent("sending message numbers"));
    }

    #[test]
    fn stored_state_with_a_duplicate_skipped_key_is_refused() {
        let (mut alice, mut bob, mut rng) = pair(10);
        let _lost = alice.encrypt(&mut rng, b"lost", AD).unwrap();
        let arrives = alice.encrypt(&mut rng, b"arrives", AD).unwrap();
        bob.decrypt(&mut rng, &arrives, AD, NOW).unwrap();
        assert_eq!(bob.skipped_len(), 1);
        // The one entry (76 bytes) is last, after its count; list it twice.
        let mut bytes = state_bytes(&bob);
        let entry = bytes[bytes.len() - 76..].to_vec();
        let count_at = bytes.len() - 76 - 4;
        bytes[count_at..count_at + 4].copy_from_slice(&2u32.to_be_bytes());
        bytes.extend_from_slice(&entry);
        assert_eq!(
            Ratchet::read(&mut Reader::new(&bytes)).map(|_| ()),
            Err(DecodeError::Duplicate("skipped key"))
        );
    }

    fn contains(haystack: &[u8], needle: &[u8]) -> bool {
        haystack.windows(needle.len()).any(|w| w == needle)
    }
}
