//! Envelopes: the only form in which a message leaves a device.
//!
//! A relay or DHT peer handling an envelope sees its length (one of a few [`BUCKETS`]), the
//! mailbox it is addressed to and when it arrived — not the sender, not the content type, not
//! the session state, not the real size.
//!
//! Three layers, outermost first:
//!
//! 1. **Envelope** (visible): `version u8 = 1 ‖ enc [32] ‖ HPKE ciphertext`, its total length
//!    exactly one of [`BUCKETS`]. HPKE (RFC 9180) base mode with DHKEM(X25519, HKDF-SHA256),
//!    HKDF-SHA256 and ChaCha20-Poly1305, to the recipient's [`MailboxPublicKey`], with
//!    info = `"tern/envelope/v1"` and aad = the version byte.
//! 2. **Sealed contents** (HPKE plaintext): `sender [32] ‖ length u32 ‖ session message ‖
//!    zero padding`, where the session message is a [`SessionMessage`] encoding. The sender's
//!    account key is here, so only the recipient learns it; the session then proves it (a
//!    forged sender cannot produce a message that decrypts in the sender's session).
//! 3. **Payload** (the ratchet plaintext): `content type u8 ‖ body`, see [`Payload`]. Being
//!    inside the ratchet, the content type is authenticated end to end and hidden from relays,
//!    so receipts and edits look like any other message.
//!
//! Padding to buckets hides message length to within a factor of four. Base mode gives no
//! sender authentication at the HPKE layer by design: anyone may write to a mailbox (as anyone
//! may send mail), and authenticity comes from the session.
//!
//! **Direct envelopes.** Sealing hides the sender from everyone but the recipient. A message
//! delivered straight to the recipient's device travels in a channel that already encrypts
//! and authenticates both ends, where nobody else sees it anyway, so there it goes as a
//! *direct* envelope, [`direct`]: `version u8 = 2 ‖ sealed contents`, the contents exactly as layer 2
//! above and padded so that the direct envelope is its bucket less [`SEALING_LEN`] bytes.
//! [`seal_direct`] turns one into the sealed envelope of the same contents, for a relay;
//! [`open`] opens both forms, and [`Opened::digest`] is the same for both, so a message that
//! arrives once directly and once through a relay is recognised. A direct envelope must never
//! be given to anyone but the recipient's own device: it names its sender in the clear.

use std::fmt;

use rand_core::CryptoRng;
use thiserror::Error;
use zeroize::Zeroizing;

use crate::{
    codec::{DecodeError, Reader, Writer},
    identity::UserId,
    primitives::{self, HPKE_ENC_LEN, PrimitiveError, TAG_LEN},
    session::SessionMessage,
};

/// The envelope sizes, in bytes. Every envelope has exactly one of these lengths. Each is four
/// times the one before, from 1 KiB (where most text messages and receipts fall) to 256 KiB
/// (attachment chunks), so an envelope's length tells an observer its message's size only to
/// within a factor of four. The largest bounds any single message.
pub const BUCKETS: [usize; 5] = [1024, 4096, 16 * 1024, 64 * 1024, 256 * 1024];
/// The largest envelope.
pub const MAX_ENVELOPE_LEN: usize = BUCKETS[BUCKETS.len() - 1];

/// The first byte of a sealed envelope (the form relays hold, [`Form::Sealed`]).
pub const ENVELOPE_VERSION: u8 = 1;
const INFO: &[u8] = b"tern/envelope/v1";
const LABEL_MAILBOX_ID: &[u8] = b"tern/mailbox-id/v1";
/// Bytes of an envelope that are not sealed contents.
const OVERHEAD: usize = 1 + HPKE_ENC_LEN + TAG_LEN;
/// Bytes of sealed contents that are not the session message.
const CONTENTS_HEADER: usize = 32 + 4;
const DIRECT_VERSION: u8 = 2;
/// Bytes a sealed envelope has beyond the direct envelope of the same contents: the HPKE
/// encapsulated key and tag.
pub const SEALING_LEN: usize = HPKE_ENC_LEN + TAG_LEN;

/// Why an envelope could not be sealed or opened.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum EnvelopeError {
    /// The message does not fit the largest bucket.
    #[error("message of {len} bytes does not fit the largest envelope ({max} bytes)")]
    TooLarge {
        /// Bytes needed.
        len: usize,
        /// The largest envelope.
        max: usize,
    },
    /// The envelope's length is not one of [`BUCKETS`].
    #[error("envelope length {0} is not a valid size")]
    BadLength(usize),
    /// The envelope or its contents do not decode.
    #[error("malformed envelope: {0}")]
    Decode(#[from] DecodeError),
    /// HPKE refused it: not sealed to our mailbox key, or altered.
    #[error("envelope is not for this mailbox or was altered")]
    NotForUs,
    /// The recipient's mailbox key cannot be sealed to (low-order point).
    #[error("invalid mailbox key")]
    InvalidKey,
    /// HPKE refused to seal for a reason other than the key. Not expected: the contents are
    /// far below every HPKE limit.
    #[error("envelope could not be sealed")]
    SealFailed,
}

/// The public key envelopes are sealed to.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct MailboxPublicKey([u8; 32]);

impl MailboxPublicKey {
    /// Wraps an X25519 public key, refusing low-order points.
    pub fn from_bytes(bytes: [u8; 32]) -> Result<Self, EnvelopeError> {
        if primitives::x25519_is_low_order(&bytes) {
            return Err(EnvelopeError::InvalidKey);
        }
        Ok(Self(bytes))
    }

    /// The raw key.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// The mailbox id relays file envelopes under: `SHA-256("tern/mailbox-id/v1" ‖ key)`.
    pub fn id(&self) -> MailboxId {
        MailboxId(primitives::sha256(&[LABEL_MAILBOX_ID, &self.0]))
    }
}

impl fmt::Debug for MailboxPublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "MailboxPublicKey({})", self.id().short())
    }
}

/// The secret half of a mailbox key. Held by [`crate::AccountKey`].
///
/// It opens every envelope the account receives, so AWS-LC's copy of it is made once, on the
/// first open, and kept (see `primitives::X25519StaticSecret`).
pub struct MailboxSecret(primitives::X25519StaticSecret);

impl MailboxSecret {
    pub(crate) fn generate<R: CryptoRng + ?Sized>(rng: &mut R) -> Self {
        Self(primitives::X25519StaticSecret::new(
            primitives::x25519_generate(rng),
        ))
    }

    pub(crate) fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(primitives::X25519StaticSecret::new(Zeroizing::new(bytes)))
    }

    pub(crate) fn as_bytes(&self) -> &[u8; 32] {
        self.0.as_bytes()
    }

    /// The public key.
    pub fn public(&self) -> MailboxPublicKey {
        MailboxPublicKey(primitives::x25519_public(self.0.as_bytes()))
    }
}

impl fmt::Debug for MailboxSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "MailboxSecret({})", self.public().id().short())
    }
}

/// Names a mailbox at a relay: `SHA-256("tern/mailbox-id/v1" ‖ mailbox key)`. Displays as 64
/// hex digits.
///
/// It does not hide whose mailbox it is. The mailbox key is published, signed, in the
/// account's prekey bundle and never changes, so anyone who knows or guesses an account can
/// fetch its bundle and compute its mailbox id; a relay that does so learns which account a
/// mailbox belongs to, and can link every deposit to it over the account's life. What the id
/// does not reveal is who writes to the mailbox: the sender is inside the sealed envelope.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct MailboxId([u8; 32]);

impl MailboxId {
    /// Wraps raw bytes (as received in a relay request).
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// The raw id.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// A short form for logs.
    pub fn short(&self) -> String {
        self.to_string()[..12].to_owned()
    }
}

impl fmt::Display for MailboxId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.iter().try_for_each(|b| write!(f, "{b:02x}"))
    }
}

impl fmt::Debug for MailboxId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "MailboxId({})", self.short())
    }
}

/// What a message is. Bodies are defined by `tern-node`; the type travels inside the ratchet,
/// so relays never see it. Unknown types are carried unchanged, so an older node can store
/// and acknowledge a message kind it cannot display.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub struct ContentType(pub u8);

impl ContentType {
    /// A text message.
    pub const TEXT: Self = Self(0x01);
    /// A delivery or read receipt.
    pub const RECEIPT: Self = Self(0x02);
    /// An edit of an earlier message.
    pub const EDIT: Self = Self(0x03);
    /// A delete-for-everyone of an earlier message.
    pub const DELETE: Self = Self(0x04);
    /// A reaction to an earlier message.
    pub const REACTION: Self = Self(0x05);
    /// An attachment descriptor or chunk.
    pub const ATTACHMENT: Self = Self(0x06);
    /// A group message or group-management operation.
    pub const GROUP: Self = Self(0x07);
    /// Ephemeral signals between online devices (typing, presence) and session control.
    pub const CONTROL: Self = Self(0x08);
    /// A change of a conversation's disappearing-message timer.
    pub const TIMER: Self = Self(0x09);
    /// The sender's profile (display name and status); carries nothing to show in a chat.
    pub const PROFILE: Self = Self(0x80);
}

/// The plaintext a session encrypts: `content type u8 ‖ body`.
#[derive(Clone, PartialEq, Eq)]
pub struct Payload {
    /// What the body is.
    pub content_type: ContentType,
    /// The body, in the format of its content type.
    pub body: Vec<u8>,
}

impl Payload {
    /// A payload of the given type.
    pub fn new(content_type: ContentType, body: impl Into<Vec<u8>>) -> Self {
        Self {
            content_type,
            body: body.into(),
        }
    }

    /// The encoding the session encrypts.
    pub fn to_bytes(&self) -> Zeroizing<Vec<u8>> {
        let mut out = Zeroizing::new(Vec::with_capacity(1 + self.body.len()));
        out.push(self.content_type.0);
        out.extend_from_slice(&self.body);
        out
    }

    /// Decodes a decrypted plaintext.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, DecodeError> {
        let (&content_type, body) = bytes
            .split_first()
            .ok_or(DecodeError::Truncated("content type"))?;
        Ok(Self {
            content_type: ContentType(content_type),
            body: body.to_vec(),
        })
    }
}

impl fmt::Debug for Payload {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Payload")
            .field("content_type", &self.content_type)
            .field("len", &self.body.len())
            .finish()
    }
}

/// Which form an envelope has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Form {
    /// Sealed to the recipient's mailbox key (version 1): for relays.
    Sealed,
    /// Not sealed (version 2): only for a channel that reaches the recipient's device.
    Direct,
}

impl Form {
    /// The form of `envelope`, judged by its version byte and length alone.
    pub fn of(envelope: &[u8]) -> Option<Self> {
        match envelope.first() {
            Some(&ENVELOPE_VERSION) if BUCKETS.contains(&envelope.len()) => Some(Self::Sealed),
            Some(&DIRECT_VERSION) if is_direct_len(envelope.len()) => Some(Self::Direct),
            _ => None,
        }
    }
}

/// An opened envelope.
#[derive(Debug)]
pub struct Opened {
    /// The claimed sender. Trust it only once `message` has decrypted in that sender's session.
    pub sender: UserId,
    /// The session message inside.
    pub message: SessionMessage,
    /// The form it came in.
    pub form: Form,
    /// SHA-256 of the sealed contents (layer 2), the same whichever form carried them: what
    /// a recipient remembers to recognise the message when it comes again.
    pub digest: [u8; 32],
}

fn is_direct_len(len: usize) -> bool {
    BUCKETS.iter().any(|&b| b - SEALING_LEN == len)
}

/// Writes `sender ‖ length ‖ message ‖ padding` so that `out` ends `SEALING_LEN` bytes short
/// of `bucket` (the room a sealed envelope's tag and key take are the caller's concern).
fn write_contents(
    out: &mut Writer,
    sender: &UserId,
    message: &SessionMessage,
    message_len: usize,
    end: usize,
) {
    out.bytes(sender.as_bytes()).u32(message_len as u32);
    message.write(out);
    out.zeros(end - out.len());
}

/// Decodes sealed contents (layer 2).
fn read_contents(contents: &[u8]) -> Result<(UserId, SessionMessage), EnvelopeError> {
    let mut r = Reader::new(contents);
    let sender =
        UserId::from_bytes(r.array("sender")?).map_err(|_| DecodeError::Invalid("sender"))?;
    let len = r.u32("message length")? as usize;
    let max = contents.len() - CONTENTS_HEADER;
    if len > max {
        return Err(DecodeError::TooLong {
            what: "session message",
            len,
            max,
        }
        .into());
    }
    let message = SessionMessage::from_bytes(r.take(len, "session message")?)?;
    // Padding must be zeros, so each envelope's contents have a single valid form.
    if r.rest().iter().any(|&b| b != 0) {
        return Err(DecodeError::Invalid("padding").into());
    }
    Ok((sender, message))
}

/// The bucket an envelope carrying `message_len` bytes of session message falls into.
fn bucket_for(message_len: usize) -> Result<usize, EnvelopeError> {
    let needed = message_len.saturating_add(OVERHEAD + CONTENTS_HEADER);
    BUCKETS
        .iter()
        .copied()
        .find(|&b| b >= needed)
        .ok_or(EnvelopeError::TooLarge {
            len: needed,
            max: MAX_ENVELOPE_LEN,
        })
}

/// Seals `message` from `sender` to the mailbox `recipient`. The result is exactly one of
/// [`BUCKETS`] long.
pub fn seal<R: CryptoRng + ?Sized>(
    rng: &mut R,
    recipient: &MailboxPublicKey,
    sender: &UserId,
    message: &SessionMessage,
) -> Result<Vec<u8>, EnvelopeError> {
    let message_len = message.encoded_len();
    let bucket = bucket_for(message_len)?;
    // The envelope is laid out in one buffer and the contents sealed where they lie, so the
    // only copy of them is the one encrypted. `enc` and the tag are filled in afterwards.
    let mut envelope = Writer::with_capacity(bucket);
    envelope.u8(ENVELOPE_VERSION).zeros(HPKE_ENC_LEN);
    write_contents(
        &mut envelope,
        sender,
        message,
        message_len,
        bucket - TAG_LEN,
    );
    envelope.zeros(TAG_LEN);
    seal_laid_out(rng, recipient, Zeroizing::new(envelope.into_vec()))
}

/// Seals an envelope laid out in place: `version ‖ room for enc ‖ contents ‖ room for the tag`.
/// Until it is sealed the buffer holds the sender's identity, so it is wiped if sealing fails.
fn seal_laid_out<R: CryptoRng + ?Sized>(
    rng: &mut R,
    recipient: &MailboxPublicKey,
    mut envelope: Zeroizing<Vec<u8>>,
) -> Result<Vec<u8>, EnvelopeError> {
    let (header, rest) = envelope.split_at_mut(1 + HPKE_ENC_LEN);
    let (contents, tag) = rest.split_at_mut(rest.len() - TAG_LEN);
    let (enc, sealed_tag) = primitives::hpke_seal_in_place(
        rng,
        recipient.as_bytes(),
        INFO,
        &[ENVELOPE_VERSION],
        contents,
    )
    .map_err(|e| match e {
        PrimitiveError::NonContributory | PrimitiveError::InvalidKey => EnvelopeError::InvalidKey,
        _ => EnvelopeError::SealFailed,
    })?;
    header[1..].copy_from_slice(&enc);
    tag.copy_from_slice(&sealed_tag);
    Ok(std::mem::take(&mut *envelope))
}

/// The direct envelope of `message` from `sender`: `version u8 = 2 ‖ sealed contents`, one of
/// [`BUCKETS`] less [`SEALING_LEN`] bytes long. It names the sender in the clear, so it may
/// only travel in a channel that encrypts it to the recipient's own device; [`seal_direct`]
/// makes the sealed envelope of the same contents for anyone else.
pub fn direct(sender: &UserId, message: &SessionMessage) -> Result<Vec<u8>, EnvelopeError> {
    let message_len = message.encoded_len();
    let end = bucket_for(message_len)? - SEALING_LEN;
    let mut envelope = Writer::with_capacity(end);
    envelope.u8(DIRECT_VERSION);
    write_contents(&mut envelope, sender, message, message_len, end);
    Ok(envelope.into_vec())
}

/// Seals the contents of a direct envelope to the mailbox `recipient`: the sealed envelope
/// [`seal`] would have made of the same message. A sealed envelope comes back unchanged, so
/// whatever form an outbox kept, the result is fit for a relay.
pub fn seal_direct<R: CryptoRng + ?Sized>(
    rng: &mut R,
    recipient: &MailboxPublicKey,
    envelope: &[u8],
) -> Result<Vec<u8>, EnvelopeError> {
    match Form::of(envelope) {
        Some(Form::Sealed) => return Ok(envelope.to_vec()),
        Some(Form::Direct) => {}
        None => return Err(malformed(envelope)),
    }
    let contents = &envelope[1..];
    let mut sealed = Zeroizing::new(Vec::with_capacity(envelope.len() + SEALING_LEN));
    sealed.push(ENVELOPE_VERSION);
    sealed.extend_from_slice(&[0; HPKE_ENC_LEN]);
    sealed.extend_from_slice(contents);
    sealed.extend_from_slice(&[0; TAG_LEN]);
    seal_laid_out(rng, recipient, sealed)
}

/// Why `envelope` has neither form: a length no envelope has (or not that of its version),
/// else an unknown version.
fn malformed(envelope: &[u8]) -> EnvelopeError {
    let len = envelope.len();
    match envelope.first() {
        Some(&version)
            if version != ENVELOPE_VERSION
                && version != DIRECT_VERSION
                && (BUCKETS.contains(&len) || is_direct_len(len)) =>
        {
            DecodeError::UnsupportedVersion {
                what: "envelope",
                found: version,
                supported: DIRECT_VERSION,
            }
            .into()
        }
        _ => EnvelopeError::BadLength(len),
    }
}

/// Opens an envelope of either form: a sealed one with `mailbox`, a direct one as it is.
/// Whoever passes a direct envelope here must know that it came from a channel that reaches
/// only this device; one from anywhere else (a relay) should be refused by its [`Form`].
pub fn open(mailbox: &MailboxSecret, envelope: &[u8]) -> Result<Opened, EnvelopeError> {
    let form = Form::of(envelope).ok_or_else(|| malformed(envelope))?;
    // A direct envelope's contents are read where they lie; a sealed one's are decrypted into
    // a buffer that is wiped when dropped.
    let decrypted;
    let contents: &[u8] = match form {
        Form::Direct => &envelope[1..],
        Form::Sealed => {
            let enc: [u8; HPKE_ENC_LEN] = Reader::new(&envelope[1..]).array("envelope key")?;
            decrypted = primitives::hpke_open_wiped(
                &mailbox.0,
                &enc,
                INFO,
                &[ENVELOPE_VERSION],
                &envelope[1 + HPKE_ENC_LEN..],
            )
            .map_err(|_| EnvelopeError::NotForUs)?;
            &decrypted
        }
    };
    let (sender, message) = read_contents(contents)?;
    Ok(Opened {
        sender,
        message,
        form,
        digest: primitives::sha256(&[contents]),
    })
}
