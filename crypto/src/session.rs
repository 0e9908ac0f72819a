//! A pairwise session: PQXDH to start it, the Double Ratchet for every message after.
//!
//! ```
//! use tern_crypto::{AccountKey, PrekeySecrets, Session, SessionMessage};
//!
//! let mut rng = rand_core::UnwrapErr(getrandom::SysRng);
//! let now = 1_800_000_000;
//! let (alice, bob) = (AccountKey::generate(&mut rng), AccountKey::generate(&mut rng));
//! let mut bob_prekeys = PrekeySecrets::generate(&mut rng, &bob, now);
//! let bundle = bob_prekeys.bundle(&bob, 1);
//! let one_time = bob_prekeys.generate_one_time(&mut rng, &bob, 1).pop();
//!
//! // Alice starts a session from Bob's published bundle and sends.
//! let mut a = Session::initiate(&mut rng, &alice, &bundle, one_time.as_ref(), now).unwrap();
//! let first = a.encrypt(&mut rng, b"hi Bob").unwrap();
//! let SessionMessage::Initial(start) = &first else { unreachable!() };
//!
//! // Bob accepts it and replies.
//! let (mut b, plaintext) = Session::respond(&mut rng, &bob, &mut bob_prekeys, start, now).unwrap();
//! assert_eq!(plaintext, b"hi Bob");
//! let reply = b.encrypt(&mut rng, b"hi Alice").unwrap();
//! assert_eq!(a.decrypt(&mut rng, &reply, now).unwrap(), b"hi Alice");
//! ```
//!
//! Until Alice has decrypted a reply, each of her messages is an [`InitialMessage`] (carrying
//! the PQXDH header), as Signal does: if her first message is lost, a later one still starts
//! the session. Bob routes such a message to the existing session when its
//! [`InitialMessage::base_key`] matches [`Session::base_key`].

use std::fmt;

use rand_core::CryptoRng;
use thiserror::Error;

use crate::{
    Plaintext,
    codec::{DecodeError, Reader, Writer},
    identity::{AccountKey, PublicIdentity, VerifyError},
    pqxdh::{self, InitialHeader, InitialMessage},
    prekey::{OneTimePrekey, PrekeyBundle, PrekeyId, PrekeySecrets},
    primitives,
    ratchet::{DecryptError, EncryptError, Ratchet, RatchetMessage},
};

/// Version 2 added the responder's start digest; version 1 states still load (without it).
const STATE_VERSION: u8 = 2;
const STATE_VERSION_1: u8 = 1;
const LABEL_START: &[u8] = b"tern/session/start/v1";
/// Largest associated-data value a stored session may declare.
const MAX_AD_LEN: usize = 1024;

/// Why a session could not be started or accepted. Nothing changes when this is returned.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum SessionError {
    /// The recipient's bundle or one-time prekey failed verification or has expired.
    #[error("invalid prekey material: {0}")]
    Prekey(#[from] VerifyError),
    /// A Diffie-Hellman result was all zeros: some key has low order.
    #[error("key agreement was not contributory (low-order key)")]
    NonContributory,
    /// The recipient's ML-KEM key fails the FIPS 203 input check.
    #[error("invalid ML-KEM public key")]
    InvalidKemKey,
    /// The session start names a prekey this account does not hold or no longer honours
    /// (retired, already used, or never ours).
    #[error("unknown {kind} prekey {id}")]
    UnknownPrekey {
        /// Which kind.
        kind: &'static str,
        /// Its id.
        id: PrekeyId,
    },
    /// The first message did not decrypt.
    #[error("first message: {0}")]
    Decrypt(#[from] DecryptError),
    /// The first message could not be encrypted.
    #[error("first message: {0}")]
    Encrypt(#[from] EncryptError),
}

/// Any message of a session, as it travels inside a sealed envelope.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum SessionMessage {
    /// A message carrying the PQXDH header (sent until the peer has replied).
    Initial(InitialMessage),
    /// A message of an established session.
    Ratchet(RatchetMessage),
}

impl SessionMessage {
    const TAG_INITIAL: u8 = 1;
    const TAG_RATCHET: u8 = 2;

    /// `tag u8 (1 = initial, 2 = ratchet) ‖ message`.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut w = Writer::with_capacity(self.encoded_len());
        self.write(&mut w);
        w.into_vec()
    }

    /// The exact length of [`SessionMessage::to_bytes`].
    pub(crate) fn encoded_len(&self) -> usize {
        1 + match self {
            Self::Initial(m) => m.encoded_len(),
            Self::Ratchet(m) => m.encoded_len(),
        }
    }

    pub(crate) fn write(&self, w: &mut Writer) {
        match self {
            Self::Initial(m) => {
                w.u8(Self::TAG_INITIAL);
                m.write(w);
            }
            Self::Ratchet(m) => {
                w.u8(Self::TAG_RATCHET);
                m.write(w);
            }
        }
    }

    /// Decodes (verifying an initial message's sender identity, not decrypting).
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new(bytes);
        match r.u8("session message tag")? {
            Self::TAG_INITIAL => InitialMessage::read(&mut r).map(Self::Initial),
            Self::TAG_RATCHET => RatchetMessage::read(&mut r).map(Self::Ratchet),
            _ => Err(DecodeError::Invalid("session message tag")),
        }
    }
}

/// One end of a pairwise end-to-end encrypted session.
///
/// A session is state: every `encrypt` and successful `decrypt` changes it, and the caller must
/// persist [`Session::to_bytes`] together with whatever the message did (the node commits both
/// in one database write) before acknowledging anything.
pub struct Session {
    local: PublicIdentity,
    remote: PublicIdentity,
    ad: Vec<u8>,
    base_key: [u8; 32],
    /// Alice's PQXDH header, attached to outgoing messages until Bob's first reply decrypts.
    pending: Option<InitialHeader>,
    /// On the responder's side, [`start_digest`] of the header that started the session: a
    /// late initial message belongs to this session only if it carries that very header.
    start: Option<[u8; 32]>,
    ratchet: Ratchet,
}

impl Session {
    /// Starts a session with the owner of `bundle` (checked for signatures and validity at
    /// `now`), using `one_time` if the recipient's relay handed one out.
    pub fn initiate<R: CryptoRng + ?Sized>(
        rng: &mut R,
        account: &AccountKey,
        bundle: &PrekeyBundle,
        one_time: Option<&OneTimePrekey>,
        now: u64,
    ) -> Result<Self, SessionError> {
        bundle.verify_at(now)?;
        if let Some(opk) = one_time
            && opk.account() != bundle.identity().user_id()
        {
            return Err(VerifyError::WrongAccount("one-time prekey").into());
        }
        let (agreement, header) = pqxdh::initiate(rng, account, bundle, one_time)?;
        let ratchet = Ratchet::init_alice(rng, &agreement.sk, bundle.signed_prekey().key())
            .map_err(|_| SessionError::NonContributory)?;
        Ok(Self {
            local: account.public().clone(),
            remote: bundle.identity().clone(),
            ad: agreement.ad,
            base_key: header.ephemeral,
            pending: Some(header),
            start: None,
            ratchet,
        })
    }

    /// Accepts a session start addressed to `account`, decrypting its message. `prekeys` must be
    /// `account`'s ([`VerifyError::WrongAccount`] otherwise). On success the
    /// one-time prekey it used is removed from `prekeys`; persist both the new session and
    /// `prekeys` before acknowledging. On error nothing changes.
    ///
    /// A start whose signed or KEM prekey has retired at `now` (see
    /// [`PrekeySecrets::signed_prekey_retires_at`]) is refused with
    /// [`SessionError::UnknownPrekey`], even if [`PrekeySecrets::rotate`] has not yet forgotten
    /// the secret.
    ///
    /// The caller is responsible for the replay cache (see [`InitialMessage::replay_tag`]) and
    /// for routing starts whose base key matches an existing session to that session instead.
    pub fn respond<R: CryptoRng + ?Sized>(
        rng: &mut R,
        account: &AccountKey,
        prekeys: &mut PrekeySecrets,
        start: &InitialMessage,
        now: u64,
    ) -> Result<(Self, Plaintext), SessionError> {
        let (agreement, spk) = pqxdh::respond(account, prekeys, &start.header, now)?;
        let mut ratchet = Ratchet::init_bob(&agreement.sk, &spk);
        let plaintext = ratchet.decrypt(rng, &start.message, &agreement.ad, now)?;
        if let Some(id) = start.header.one_time_prekey_id {
            prekeys.consume_one_time(id);
        }
        let session = Self {
            local: account.public().clone(),
            remote: start.header.identity.clone(),
            ad: agreement.ad,
            base_key: start.header.ephemeral,
            pending: None,
            start: Some(start_digest(&start.header)),
            ratchet,
        };
        Ok((session, plaintext))
    }

    /// Our identity in this session.
    pub fn local_identity(&self) -> &PublicIdentity {
        &self.local
    }

    /// The peer's identity in this session.
    pub fn remote_identity(&self) -> &PublicIdentity {
        &self.remote
    }

    /// The initiator's ephemeral key, which names this session.
    pub fn base_key(&self) -> &[u8; 32] {
        &self.base_key
    }

    /// Whether the peer has yet to confirm the session (we initiated and have not decrypted a
    /// reply).
    pub fn is_unconfirmed(&self) -> bool {
        self.pending.is_some()
    }

    /// Records that the peer holds this session although no reply has come: its device, over
    /// a channel only that device can answer, said it stored a message that carried the
    /// PQXDH header. Later messages go without the header, as after a reply. Nothing changes
    /// for a responder's session, or one already confirmed.
    ///
    /// ```
    /// # use rand_core::SeedableRng;
    /// # use tern_crypto::{AccountKey, PrekeySecrets, Session, SessionMessage};
    /// # let mut rng = rand_chacha::ChaCha20Rng::from_seed([7; 32]);
    /// # let (alice, bob) = (AccountKey::generate(&mut rng), AccountKey::generate(&mut rng));
    /// # let now = 1_800_000_000;
    /// # let prekeys = PrekeySecrets::generate(&mut rng, &bob, now);
    /// let mut session = Session::initiate(&mut rng, &alice, &prekeys.bundle(&bob, 1), None, now)?;
    /// assert!(matches!(session.encrypt(&mut rng, b"hi")?, SessionMessage::Initial(_)));
    /// // Bob's device answered `stored` for that message:
    /// session.confirm();
    /// assert!(matches!(session.encrypt(&mut rng, b"again")?, SessionMessage::Ratchet(_)));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn confirm(&mut self) {
        self.pending = None;
    }

    /// Number of skipped message keys held for delayed messages.
    pub fn skipped_keys(&self) -> usize {
        self.ratchet.skipped_len()
    }

    /// Encrypts `plaintext` (normally an encoded [`crate::Payload`]).
    pub fn encrypt<R: CryptoRng + ?Sized>(
        &mut self,
        rng: &mut R,
        plaintext: &[u8],
    ) -> Result<SessionMessage, EncryptError> {
        let message = self.ratchet.encrypt(rng, plaintext, &self.ad)?;
        Ok(match &self.pending {
            Some(header) => SessionMessage::Initial(InitialMessage {
                header: header.clone(),
                message,
            }),
            None => SessionMessage::Ratchet(message),
        })
    }

    /// Decrypts a message of this session. On error the session is unchanged.
    ///
    /// An [`InitialMessage`] is accepted only by the responder, and only if it carries the very
    /// header that started *this* session (same sender, base key, KEM ciphertext and prekey
    /// ids); otherwise [`DecryptError::OtherSession`] tells the caller to treat it as a new
    /// session start ([`Session::respond`]). A responder's session stored by an older version
    /// (state version 1) did not keep that header, and refuses every initial message.
    pub fn decrypt<R: CryptoRng + ?Sized>(
        &mut self,
        rng: &mut R,
        message: &SessionMessage,
        now: u64,
    ) -> Result<Plaintext, DecryptError> {
        let inner = match message {
            SessionMessage::Initial(start) => {
                if start.header.ephemeral != self.base_key
                    || start.header.identity != self.remote
                    || self.start != Some(start_digest(&start.header))
                {
                    return Err(DecryptError::OtherSession);
                }
                &start.message
            }
            SessionMessage::Ratchet(message) => message,
        };
        let plaintext = self.ratchet.decrypt(rng, inner, &self.ad, now)?;
        // The peer has the session: stop sending the PQXDH header.
        self.pending = None;
        Ok(plaintext)
    }

    /// Forgets skipped message keys that have outlived their lifetime at `now`. Decryption
    /// already ignores such keys; pruning removes them from memory and from the stored state.
    pub fn prune(&mut self, now: u64) {
        self.ratchet.prune(now);
    }

    /// Versioned secret state; store it only encrypted.
    ///
    /// `version u8 = 2 ‖ local identity [128] ‖ remote identity [128] ‖ AD (u16 length) ‖
    /// base key [32] ‖ pending flag [‖ initial header] ‖ start flag [‖ start digest [32]] ‖
    /// ratchet state`. (Version 1 lacks the start digest.)
    pub fn to_bytes(&self) -> zeroize::Zeroizing<Vec<u8>> {
        let mut w = Writer::with_capacity(self.encoded_len());
        w.u8(STATE_VERSION);
        self.local.write(&mut w);
        self.remote.write(&mut w);
        // The AD is 130 bytes when made and at most `MAX_AD_LEN` when loaded: it always fits.
        w.bytes_u16("session ad", &self.ad)
            .unwrap_or_else(|_| unreachable!("session ad over {MAX_AD_LEN} bytes"))
            .bytes(&self.base_key)
            .option(self.pending.as_ref(), |w, header| header.write(w))
            .option(self.start.as_ref(), |w, digest| {
                w.bytes(digest);
            });
        self.ratchet.write(&mut w);
        zeroize::Zeroizing::new(w.into_vec())
    }

    /// The exact length of [`Session::to_bytes`]: 635 bytes plus 76 per skipped key for an
    /// initiator's established session, 32 more for a responder's, 1258 or 1262 more while a
    /// PQXDH header is pending.
    fn encoded_len(&self) -> usize {
        1 + 2 * PublicIdentity::LEN
            + 2
            + self.ad.len()
            + 32
            + 1
            + self.pending.as_ref().map_or(0, InitialHeader::encoded_len)
            + 1
            + self.start.map_or(0, |digest| digest.len())
            + self.ratchet.encoded_len()
    }

    /// Restores a session written by [`Session::to_bytes`].
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new(bytes);
        let version = r.u8("session state")?;
        if version != STATE_VERSION && version != STATE_VERSION_1 {
            return Err(DecodeError::UnsupportedVersion {
                what: "session state",
                found: version,
                supported: STATE_VERSION,
            });
        }
        let local = PublicIdentity::read_stored(&mut r)
            .map_err(|_| DecodeError::Invalid("stored local identity"))?;
        let remote = PublicIdentity::read_stored(&mut r)
            .map_err(|_| DecodeError::Invalid("stored remote identity"))?;
        let ad = r.bytes_u16("session ad", MAX_AD_LEN)?.to_vec();
        let base_key = r.array("base key")?;
        let pending = r.option("pending header", InitialHeader::read)?;
        let start = if version == STATE_VERSION {
            r.option("start digest", |r| r.array("start digest"))?
        } else {
            None
        };
        if pending.is_some() && start.is_some() {
            return Err(DecodeError::Inconsistent("session role"));
        }
        let ratchet = Ratchet::read(&mut r)?;
        r.finish()?;
        Ok(Self {
            local,
            remote,
            ad,
            base_key,
            pending,
            start,
            ratchet,
        })
    }
}

/// `SHA-256("tern/session/start/v1" ‖ initial header)`: names the exact header (sender,
/// `EK_A`, `CT` and prekey ids) a responder's session was started with.
fn start_digest(header: &InitialHeader) -> [u8; 32] {
    let mut w = Writer::with_capacity(header.encoded_len());
    header.write(&mut w);
    primitives::sha256(&[LABEL_START, &w.into_vec()])
}

impl fmt::Debug for Session {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Session")
            .field("local", &self.local.user_id())
            .field("remote", &self.remote.user_id())
            .field("unconfirmed", &self.pending.is_some())
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use rand_chacha::ChaCha20Rng;
    use rand_core::SeedableRng;

    use super::*;

    const NOW: u64 = 1_800_000_000;

    /// Every encoder sizes its buffer exactly, so no encoding of session state ever has to
    /// grow (and copy) its buffer.
    #[test]
    fn encodings_are_sized_exactly() {
        let mut rng = ChaCha20Rng::from_seed([3; 32]);
        let (alice, bob) = (
            AccountKey::generate(&mut rng),
            AccountKey::generate(&mut rng),
        );
        let mut prekeys = PrekeySecrets::generate(&mut rng, &bob, NOW);
        let one_time = prekeys.generate_one_time(&mut rng, &bob, 1).pop();
        let bundle = prekeys.bundle(&bob, 1);
        for opk in [None, one_time.as_ref()] {
            let mut a = Session::initiate(&mut rng, &alice, &bundle, opk, NOW).unwrap();
            let check = |session: &Session| {
                assert_eq!(session.to_bytes().len(), session.encoded_len());
            };
            check(&a);
            let lost = a.encrypt(&mut rng, b"lost").unwrap();
            let first = a.encrypt(&mut rng, b"first").unwrap();
            for message in [&lost, &first] {
                assert_eq!(message.to_bytes().len(), message.encoded_len());
            }
            let SessionMessage::Initial(start) = &first else {
                panic!("expected an initial message")
            };
            assert_eq!(start.to_bytes().len(), start.encoded_len());
            let (mut b, _) = Session::respond(&mut rng, &bob, &mut prekeys, start, NOW).unwrap();
            assert_eq!(b.skipped_keys(), 1);
            check(&b);
            let reply = b.encrypt(&mut rng, b"reply").unwrap();
            assert_eq!(reply.to_bytes().len(), reply.encoded_len());
            a.decrypt(&mut rng, &reply, NOW).unwrap();
            check(&a);
            assert_eq!(b.to_bytes().len(), 635 + 32 + 76);
        }
    }
}
