//! The group log, `/tern/grouplog/2`: how a group's sequencer relays keep its ordered log of
//! handshake and application messages, and how members append to it and read it.
//!
//! Each group names a few sequencer relays; each keeps a copy of the group's **log**, named by
//! a random [`LogId`]. A log is a sequence of opaque entries (MLS messages), each with the
//! relay's increasing sequence number and a signed [`LogReceipt`]. The relay knows nothing of
//! the group but what the protocol needs to order it:
//!
//! - Entries are [`Kind::Message`] (anything in the current epoch) or [`Kind::Commit`], a
//!   commit from epoch `e` to `e + 1`. **The first commit for an epoch wins**: the relay takes
//!   it, and answers any later commit for the same epoch with [`Answer::Lost`] and the winner's
//!   sequence number, so that its author rebuilds its change on the new epoch.
//! - Every request is signed by the log's **access key** for an epoch, an Ed25519 key that the
//!   members derive from the MLS exporter (`docs/protocol/groups.md` §9): the relay learns
//!   that a request comes from whoever holds the epoch's key, never which member. A winning
//!   commit carries the next epoch's public access key; from then on the relay takes appends
//!   only under the new key, and the old key reads nothing past the commit that retired it.
//!   A member removed by a commit therefore cannot read what follows its removal, and nobody
//!   appends to an epoch after its commit: on an honest relay, every entry after a commit is
//!   of the new epoch.
//!
//! Requests and answers are the mailbox protocol's frames (`version u8 = 1 ‖ length u32 BE ‖
//! postcard(body)`) on one long-lived stream: the client writes [`Request`]s, the relay
//! answers each with an [`Answer`], in order. A [`Op::Read`] may be held open until an entry
//! arrives (the same long-poll as mailbox fetches), holding up the answers behind it: a client
//! waits on one stream and appends on another.
//!
//! ```text
//! creator ── Open(epoch 0, key₀) ──────────────▶ relay ──▶ Opened { epoch 0, next 1 }
//! member  ── Append(Message, m) signed key₀ ───▶ relay ──▶ Appended(receipt, seq 1)
//! admin   ── Append(Commit{0, key₁}, c) key₀ ──▶ relay ──▶ Appended(receipt, seq 2)
//! other   ── Append(Commit{0, key₁'}, c') key₀ ▶ relay ──▶ Lost { winner 2 }
//! member  ── Read(after 0, wait 30) key₀ ──────▶ relay ──▶ Entries [1, 2] (key₀ stops at 2)
//! member  ── Read(after 2, wait 30) key₁ ──────▶ relay ──▶ … held until seq 3 arrives
//! ```
//!
//! ```
//! use tern_proto::grouplog::{Access, Kind, Op};
//! let relay = libp2p::identity::Keypair::generate_ed25519().public().to_peer_id().to_bytes();
//! let key = Access::from_seed([7; 32]); // members derive the seed from the MLS exporter
//! let log = [9; 32];
//! let append = key.request(&relay, log, Op::Append { kind: Kind::Message, body: vec![1; 64] });
//! assert!(append.verify(&relay).is_ok());
//! assert!(append.verify(b"another relay").is_err());
//! ```

use futures::{AsyncRead, AsyncWrite, AsyncWriteExt};
use libp2p::{
    StreamProtocol,
    identity::{Keypair, PublicKey, ed25519},
};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::mailbox::{
    FrameError,
    deposits::{next_frame, put_frame},
};

/// The protocol name.
pub const PROTOCOL: StreamProtocol = StreamProtocol::new("/tern/grouplog/2");
/// Largest entry body: a commit of a 1,000-member group, with room to spare.
pub const MAX_ENTRY_LEN: usize = 256 * 1024;
/// Largest request body.
pub const MAX_REQUEST_LEN: usize = MAX_ENTRY_LEN + 1024;
/// Largest answer body: a page of entries. Relays fill pages up to half of it.
pub const MAX_ANSWER_LEN: usize = 4 * 1024 * 1024;
/// Most entries in one page.
pub const MAX_PAGE: u32 = 256;
/// Longest a read may ask the relay to wait for an entry.
pub const MAX_WAIT_SECS: u16 = 30;

const REQUEST_LABEL: &[u8] = b"tern/grouplog/request/1";
const RECEIPT_LABEL: &[u8] = b"tern/grouplog/receipt/1";
const BLOB_LABEL: &[u8] = b"tern/grouplog/blob/1";

/// The kind byte of a blob upload's quota token that names a group's log (`0x00` names a
/// mailbox; see `tern_blob::wire`).
pub const TOKEN_LOG: u8 = 1;
/// The length of a log's quota token: kind, log, key, signature.
pub const LOG_TOKEN_LEN: usize = 1 + 32 + 32 + 64;

/// A log's name at its relays: 32 random bytes the group's creator chose.
pub type LogId = [u8; 32];

/// What an entry is, as far as the relay needs to know to order the log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Kind {
    /// Anything of the current epoch: an application message, a proposal, a receipt.
    Message,
    /// A commit from `epoch` to `epoch + 1`. If it is the first for its epoch, the log moves
    /// to `epoch + 1` and takes requests only under `next_key`.
    Commit {
        /// The epoch the commit starts from.
        epoch: u64,
        /// The public access key of `epoch + 1`.
        next_key: [u8; 32],
    },
}

impl Kind {
    /// Appends the kind's encoding in signatures and at rest: `0x00` for a message, `0x01 ‖
    /// epoch u64 BE ‖ next key` for a commit.
    pub fn put(&self, out: &mut Vec<u8>) {
        match self {
            Self::Message => out.push(0),
            Self::Commit { epoch, next_key } => {
                out.push(1);
                out.extend_from_slice(&epoch.to_be_bytes());
                out.extend_from_slice(next_key);
            }
        }
    }

    /// Reads a kind encoded by [`Kind::put`] off the front of `bytes`: the kind and what
    /// follows it.
    pub fn take(bytes: &[u8]) -> Option<(Self, &[u8])> {
        match bytes.first()? {
            0 => Some((Self::Message, &bytes[1..])),
            1 => {
                let epoch = u64::from_be_bytes(bytes.get(1..9)?.try_into().ok()?);
                let next_key = bytes.get(9..41)?.try_into().ok()?;
                Some((Self::Commit { epoch, next_key }, &bytes[41..]))
            }
            _ => None,
        }
    }
}

/// What a request asks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Op {
    /// Create the log at `epoch` under the signing key (or, if the log already exists under
    /// that key at that epoch, learn its state: opening is idempotent).
    Open {
        /// The group's epoch when the log starts (0 for a new group; later when a group
        /// moves its log to new relays).
        epoch: u64,
    },
    /// Add an entry at the end of the log.
    Append {
        /// What it is.
        kind: Kind,
        /// The MLS message, opaque to the relay; at most [`MAX_ENTRY_LEN`] bytes.
        #[serde(with = "serde_bytes")]
        body: Vec<u8>,
    },
    /// Entries after `after`, at most `limit`, waiting up to `wait_secs` for one if there are
    /// none. A retired key reads only up to the commit that retired it.
    Read {
        /// Only entries with a larger sequence number (0 for the start).
        after: u64,
        /// Most entries in the answer.
        limit: u32,
        /// Seconds to hold an empty answer open (at most [`MAX_WAIT_SECS`]).
        wait_secs: u16,
    },
}

/// A request, signed by an access key of the log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Request {
    /// The log.
    pub log: LogId,
    /// The public access key that signed.
    pub key: [u8; 32],
    /// What it asks.
    pub op: Op,
    /// Ed25519 by `key` over [`Request::statement`].
    #[serde(with = "serde_bytes")]
    pub signature: Vec<u8>,
}

/// One entry of a log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    /// The relay's sequence number: 1, 2, 3 … in the order the relay took them.
    pub seq: u64,
    /// When the relay stored it, Unix seconds.
    pub stored_at: u64,
    /// What it is.
    pub kind: Kind,
    /// The MLS message.
    #[serde(with = "serde_bytes")]
    pub body: Vec<u8>,
}

/// The relay's answer to one [`Request`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Answer {
    /// The log exists at `epoch` with the signing key as its current key; the next entry
    /// will have `next_seq`.
    Opened {
        /// The log's epoch.
        epoch: u64,
        /// The next sequence number.
        next_seq: u64,
    },
    /// The entry is durable (or was already: the same entry appended again is answered with
    /// the first copy's receipt).
    Appended(LogReceipt),
    /// A commit for an epoch that already has one: the winner is at `winner`.
    Lost {
        /// The epoch of the refused commit.
        epoch: u64,
        /// The sequence number of the commit that won it.
        winner: u64,
    },
    /// A page of the log, oldest first.
    Entries {
        /// The entries.
        items: Vec<Entry>,
        /// Whether more follow the last one (for this key).
        more: bool,
        /// The oldest sequence number the relay still holds (entries expire).
        first: u64,
        /// The sequence number of the commit that began the reading key's epoch (0 for the
        /// epoch the log was opened at): the key reads the entries after it. A reader whose
        /// cursor `c` leaves `first > max(c, begin) + 1` has missed the entries of its epoch
        /// in between: they expired before it read them.
        begin: u64,
    },
    /// The request was not carried out.
    Refused(Refusal),
}

/// Why a relay refused a log request. Nothing changed at the relay.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[non_exhaustive]
pub enum Refusal {
    /// The entry is larger than [`MAX_ENTRY_LEN`].
    #[error("entry too large")]
    TooLarge,
    /// The signature does not verify.
    #[error("bad signature")]
    BadSignature,
    /// The relay holds no such log.
    #[error("no such log")]
    NoSuchLog,
    /// The log exists under another key or epoch.
    #[error("the log exists")]
    Exists,
    /// The key is not one of the log's.
    #[error("unknown key")]
    UnknownKey,
    /// The key's epoch has ended: it appends nothing, and reads nothing past the commit that
    /// ended it.
    #[error("the key's epoch is over")]
    Retired,
    /// A commit for an epoch the log has not reached.
    #[error("commit for a future epoch")]
    FutureEpoch,
    /// The log holds as many bytes as the relay allows.
    #[error("the log is full")]
    QuotaExceeded,
    /// The relay's disk budget is used up.
    #[error("the relay is out of storage")]
    StorageFull,
    /// Too many requests from this peer; try again later.
    #[error("rate limited")]
    RateLimited,
    /// The relay serves no group logs.
    #[error("this relay keeps no group logs")]
    NotAllowed,
    /// The relay cannot store or read right now.
    #[error("the relay is unavailable")]
    Unavailable,
    /// The key's epoch has ended and the commit that ended it has expired (§9.6): the
    /// reader can never read on from here. Its member was away for longer than the log keeps
    /// entries and must be added back to the group (§10.7).
    #[error("the key's epoch is over and its entries have expired")]
    Expired,
}

impl Refusal {
    /// A stable snake_case name, for counters and logs.
    pub fn code(&self) -> &'static str {
        match self {
            Self::TooLarge => "log_too_large",
            Self::BadSignature => "log_bad_signature",
            Self::NoSuchLog => "log_unknown",
            Self::Exists => "log_exists",
            Self::UnknownKey => "log_unknown_key",
            Self::Retired => "log_retired_key",
            Self::FutureEpoch => "log_future_epoch",
            Self::QuotaExceeded => "log_quota_exceeded",
            Self::StorageFull => "storage_full",
            Self::RateLimited => "rate_limited",
            Self::NotAllowed => "log_not_allowed",
            Self::Unavailable => "unavailable",
            Self::Expired => "log_expired",
        }
    }
}

/// A log's access key for one epoch: the member side.
#[derive(Clone)]
pub struct Access {
    keypair: ed25519::Keypair,
}

impl std::fmt::Debug for Access {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Access({})", hex_prefix(&self.public()))
    }
}

fn hex_prefix(bytes: &[u8]) -> String {
    bytes.iter().take(4).map(|b| format!("{b:02x}")).collect()
}

impl Access {
    /// The key whose Ed25519 seed is `seed` (members derive it from the MLS exporter).
    pub fn from_seed(mut seed: [u8; 32]) -> Self {
        let secret = ed25519::SecretKey::try_from_bytes(&mut seed)
            .unwrap_or_else(|_| unreachable!("any 32 bytes are an Ed25519 seed"));
        Self {
            keypair: secret.into(),
        }
    }

    /// The public key, as requests and commits name it.
    pub fn public(&self) -> [u8; 32] {
        self.keypair.public().to_bytes()
    }

    /// A quota token for uploading blob `root` of `ciphertext_len` bytes to the relay whose
    /// peer id bytes are `relay`, counted against `log`'s quota there: `0x01 ‖ log ‖ key ‖
    /// signature` over [`blob_statement`]. Only a holder of one of the log's access keys
    /// (a member, in the epoch of that key) can make one.
    pub fn blob_token(
        &self,
        relay: &[u8],
        log: &LogId,
        root: &[u8; 32],
        ciphertext_len: u64,
    ) -> Vec<u8> {
        let key = self.public();
        let signature = self
            .keypair
            .sign(&blob_statement(relay, log, &key, root, ciphertext_len));
        let mut token = Vec::with_capacity(LOG_TOKEN_LEN);
        token.push(TOKEN_LOG);
        token.extend_from_slice(log);
        token.extend_from_slice(&key);
        token.extend_from_slice(&signature);
        token
    }

    /// A request for `op` on `log` at the relay whose peer id bytes are `relay`.
    pub fn request(&self, relay: &[u8], log: LogId, op: Op) -> Request {
        let key = self.public();
        let signature = self.keypair.sign(&statement(relay, &log, &key, &op));
        Request {
            log,
            key,
            op,
            signature,
        }
    }
}

/// What a request's signature covers: `"tern/grouplog/request/1" ‖ len u8 ‖ relay peer id ‖
/// log ‖ key ‖ op`, where `op` is `0x01 ‖ epoch u64` (open), `0x02 ‖ entry digest` (append,
/// [`entry_digest`]), or `0x03 ‖ after u64 ‖ limit u32 ‖ wait u16` (read); integers
/// big-endian.
fn statement(relay: &[u8], log: &LogId, key: &[u8; 32], op: &Op) -> Vec<u8> {
    let mut out = Vec::with_capacity(REQUEST_LABEL.len() + relay.len() + 128);
    out.extend_from_slice(REQUEST_LABEL);
    out.push(relay.len().min(255) as u8);
    out.extend_from_slice(&relay[..relay.len().min(255)]);
    out.extend_from_slice(log);
    out.extend_from_slice(key);
    match op {
        Op::Open { epoch } => {
            out.push(1);
            out.extend_from_slice(&epoch.to_be_bytes());
        }
        Op::Append { kind, body } => {
            out.push(2);
            out.extend_from_slice(&entry_digest(kind, body));
        }
        Op::Read {
            after,
            limit,
            wait_secs,
        } => {
            out.push(3);
            out.extend_from_slice(&after.to_be_bytes());
            out.extend_from_slice(&limit.to_be_bytes());
            out.extend_from_slice(&wait_secs.to_be_bytes());
        }
    }
    out
}

/// What a log's blob quota token signs: `"tern/grouplog/blob/1" ‖ len u8 ‖ relay peer id ‖
/// log ‖ key ‖ root ‖ ciphertext_len u64 BE`.
fn blob_statement(
    relay: &[u8],
    log: &LogId,
    key: &[u8; 32],
    root: &[u8; 32],
    ciphertext_len: u64,
) -> Vec<u8> {
    let mut out = Vec::with_capacity(BLOB_LABEL.len() + relay.len() + 105);
    out.extend_from_slice(BLOB_LABEL);
    out.push(relay.len().min(255) as u8);
    out.extend_from_slice(&relay[..relay.len().min(255)]);
    out.extend_from_slice(log);
    out.extend_from_slice(key);
    out.extend_from_slice(root);
    out.extend_from_slice(&ciphertext_len.to_be_bytes());
    out
}

/// Reads a log's quota token ([`Access::blob_token`]) for an upload of `root`
/// (`ciphertext_len` bytes) to the relay whose peer id bytes are `relay`: the log and the
/// access key that signed it, when the signature verifies. Whether that key belongs to the
/// log is for the relay to check.
pub fn verify_blob_token(
    token: &[u8],
    relay: &[u8],
    root: &[u8; 32],
    ciphertext_len: u64,
) -> Result<(LogId, [u8; 32]), Refusal> {
    if token.len() != LOG_TOKEN_LEN || token[0] != TOKEN_LOG {
        return Err(Refusal::BadSignature);
    }
    let log: LogId = token[1..33].try_into().map_err(|_| Refusal::BadSignature)?;
    let key: [u8; 32] = token[33..65]
        .try_into()
        .map_err(|_| Refusal::BadSignature)?;
    let public = ed25519::PublicKey::try_from_bytes(&key).map_err(|_| Refusal::BadSignature)?;
    if public.verify(
        &blob_statement(relay, &log, &key, root, ciphertext_len),
        &token[65..],
    ) {
        Ok((log, key))
    } else {
        Err(Refusal::BadSignature)
    }
}

impl Request {
    /// Checks the signature for the relay whose peer id bytes are `relay`. Whether the key
    /// belongs to the log is for the relay to check.
    pub fn verify(&self, relay: &[u8]) -> Result<(), Refusal> {
        let key =
            ed25519::PublicKey::try_from_bytes(&self.key).map_err(|_| Refusal::BadSignature)?;
        if key.verify(
            &statement(relay, &self.log, &self.key, &self.op),
            &self.signature,
        ) {
            Ok(())
        } else {
            Err(Refusal::BadSignature)
        }
    }
}

/// An entry's digest, as signatures, receipts and the relay's duplicate index name it:
/// `SHA-256(kind ‖ body)`, with `kind` as [`Kind::put`] encodes it. The same body as a message
/// and as a commit are two entries.
pub fn entry_digest(kind: &Kind, body: &[u8]) -> [u8; 32] {
    let mut kind_bytes = Vec::with_capacity(41);
    kind.put(&mut kind_bytes);
    Sha256::new()
        .chain_update(&kind_bytes)
        .chain_update(body)
        .finalize()
        .into()
}

/// A relay's signed statement that it holds an entry of a log durably, at `seq`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogReceipt {
    /// The relay's public key, in libp2p's protobuf encoding (Ed25519).
    #[serde(with = "serde_bytes")]
    pub relay_key: Vec<u8>,
    /// The log.
    pub log: LogId,
    /// The entry's sequence number.
    pub seq: u64,
    /// The entry's digest ([`entry_digest`]: its kind and body).
    pub digest: [u8; 32],
    /// When it was stored, Unix seconds.
    pub stored_at: u64,
    /// The relay's signature over `"tern/grouplog/receipt/1" ‖ relay peer id ‖ log ‖ seq u64
    /// BE ‖ digest ‖ stored_at u64 BE`.
    #[serde(with = "serde_bytes")]
    pub signature: Vec<u8>,
}

/// Why a log receipt was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ReceiptError {
    /// The key does not decode, or is not the key of the relay we appended at.
    #[error("receipt from another relay")]
    WrongRelay,
    /// The receipt is for another log or entry.
    #[error("receipt for another entry")]
    WrongEntry,
    /// The signature does not verify.
    #[error("bad receipt signature")]
    BadSignature,
}

fn receipt_statement(relay: &[u8], log: &LogId, seq: u64, digest: &[u8; 32], at: u64) -> Vec<u8> {
    let mut out = Vec::with_capacity(RECEIPT_LABEL.len() + relay.len() + 80);
    out.extend_from_slice(RECEIPT_LABEL);
    out.extend_from_slice(relay);
    out.extend_from_slice(log);
    out.extend_from_slice(&seq.to_be_bytes());
    out.extend_from_slice(digest);
    out.extend_from_slice(&at.to_be_bytes());
    out
}

impl LogReceipt {
    /// The relay `keypair`'s receipt for the entry `digest` of `log` at `seq`.
    pub fn sign(keypair: &Keypair, log: LogId, seq: u64, digest: [u8; 32], stored_at: u64) -> Self {
        let relay = keypair.public().to_peer_id().to_bytes();
        let statement = receipt_statement(&relay, &log, seq, &digest, stored_at);
        Self {
            relay_key: keypair.public().encode_protobuf(),
            log,
            seq,
            digest,
            stored_at,
            signature: keypair.sign(&statement).unwrap_or_default(),
        }
    }

    /// Checks that the relay `relay` (its peer id bytes) signed this receipt for the entry
    /// `kind`, `body` in `log`.
    pub fn verify(
        &self,
        relay: &[u8],
        log: &LogId,
        kind: &Kind,
        body: &[u8],
    ) -> Result<(), ReceiptError> {
        let key = PublicKey::try_decode_protobuf(&self.relay_key)
            .map_err(|_| ReceiptError::WrongRelay)?;
        if key.to_peer_id().to_bytes() != relay {
            return Err(ReceiptError::WrongRelay);
        }
        if self.log != *log || self.digest != entry_digest(kind, body) {
            return Err(ReceiptError::WrongEntry);
        }
        let statement = receipt_statement(relay, log, self.seq, &self.digest, self.stored_at);
        if key.verify(&statement, &self.signature) {
            Ok(())
        } else {
            Err(ReceiptError::BadSignature)
        }
    }
}

/// Writes `request` on a log stream, without closing it.
pub async fn send<W: AsyncWrite + Unpin + Send>(
    io: &mut W,
    request: &Request,
) -> Result<(), FrameError> {
    let mut frame = Vec::new();
    put_frame(&mut frame, request, MAX_REQUEST_LEN)?;
    io.write_all(&frame).await?;
    io.flush().await?;
    Ok(())
}

/// Reads the next answer of a log stream; an end of stream is an error.
pub async fn receive<R: AsyncRead + Unpin + Send>(io: &mut R) -> Result<Answer, FrameError> {
    next_frame(io, MAX_ANSWER_LEN)
        .await?
        .ok_or_else(|| FrameError::Io(std::io::ErrorKind::UnexpectedEof.into()))
}

/// Sends `request` and waits for its answer: the simple client, one request at a time.
pub async fn call<S: AsyncRead + AsyncWrite + Unpin + Send>(
    stream: &mut S,
    request: &Request,
) -> Result<Answer, FrameError> {
    send(stream, request).await?;
    receive(stream).await
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn relay() -> Keypair {
        Keypair::ed25519_from_bytes([5u8; 32]).unwrap()
    }

    #[test]
    fn a_blob_token_binds_relay_log_root_and_length() {
        let relay = relay().public().to_peer_id().to_bytes();
        let access = Access::from_seed([1; 32]);
        let (log, root) = ([2; 32], [3; 32]);
        let token = access.blob_token(&relay, &log, &root, 4096);
        assert_eq!(token.len(), LOG_TOKEN_LEN);
        assert_eq!(
            verify_blob_token(&token, &relay, &root, 4096),
            Ok((log, access.public()))
        );
        let other = Keypair::ed25519_from_bytes([6u8; 32]).unwrap();
        let other = other.public().to_peer_id().to_bytes();
        assert!(verify_blob_token(&token, &other, &root, 4096).is_err());
        assert!(verify_blob_token(&token, &relay, &[4; 32], 4096).is_err());
        assert!(verify_blob_token(&token, &relay, &root, 4097).is_err());
        for i in 0..token.len() {
            let mut bent = token.clone();
            bent[i] ^= 1;
            assert!(
                verify_blob_token(&bent, &relay, &root, 4096).is_err(),
                "byte {i}"
            );
        }
        assert!(verify_blob_token(&token[..100], &relay, &root, 4096).is_err());
        assert!(verify_blob_token(&[], &relay, &root, 4096).is_err());
    }

    #[test]
    fn signatures_bind_relay_log_key_and_every_field() {
        let relay = relay().public().to_peer_id().to_bytes();
        let access = Access::from_seed([1; 32]);
        let ops = [
            Op::Open { epoch: 3 },
            Op::Append {
                kind: Kind::Message,
                body: vec![1; 10],
            },
            Op::Append {
                kind: Kind::Commit {
                    epoch: 3,
                    next_key: [2; 32],
                },
                body: vec![1; 10],
            },
            Op::Read {
                after: 1,
                limit: 2,
                wait_secs: 3,
            },
        ];
        for op in ops {
            let request = access.request(&relay, [4; 32], op);
            assert_eq!(request.verify(&relay), Ok(()));
            assert_eq!(request.verify(b"elsewhere"), Err(Refusal::BadSignature));
            let mut other_log = request.clone();
            other_log.log = [5; 32];
            assert_eq!(other_log.verify(&relay), Err(Refusal::BadSignature));
            let mut other_key = request.clone();
            other_key.key = Access::from_seed([2; 32]).public();
            assert_eq!(other_key.verify(&relay), Err(Refusal::BadSignature));
            let mut changed = request.clone();
            changed.op = match request.op {
                Op::Open { epoch } => Op::Open { epoch: epoch + 1 },
                Op::Append { kind, mut body } => {
                    body[0] ^= 1;
                    Op::Append { kind, body }
                }
                Op::Read { after, limit, .. } => Op::Read {
                    after,
                    limit,
                    wait_secs: 4,
                },
            };
            assert_eq!(changed.verify(&relay), Err(Refusal::BadSignature));
        }
        // A message and a commit with the same body are different statements.
        let message = access.request(
            &relay,
            [4; 32],
            Op::Append {
                kind: Kind::Message,
                body: vec![1],
            },
        );
        let mut as_commit = message.clone();
        as_commit.op = Op::Append {
            kind: Kind::Commit {
                epoch: 0,
                next_key: [0; 32],
            },
            body: vec![1],
        };
        assert_eq!(as_commit.verify(&relay), Err(Refusal::BadSignature));
    }

    #[test]
    fn receipts_verify_for_their_relay_log_and_body_only() {
        let keypair = relay();
        let relay = keypair.public().to_peer_id().to_bytes();
        let body = b"an MLS message".to_vec();
        let kind = Kind::Message;
        let receipt = LogReceipt::sign(
            &keypair,
            [3; 32],
            7,
            entry_digest(&kind, &body),
            1_800_000_000,
        );
        assert_eq!(receipt.verify(&relay, &[3; 32], &kind, &body), Ok(()));
        assert_eq!(
            receipt.verify(&relay, &[4; 32], &kind, &body),
            Err(ReceiptError::WrongEntry)
        );
        assert_eq!(
            receipt.verify(&relay, &[3; 32], &kind, b"another"),
            Err(ReceiptError::WrongEntry)
        );
        let commit = Kind::Commit {
            epoch: 0,
            next_key: [1; 32],
        };
        assert_eq!(
            receipt.verify(&relay, &[3; 32], &commit, &body),
            Err(ReceiptError::WrongEntry),
            "the same body as a commit is another entry"
        );
        let other = Keypair::ed25519_from_bytes([6u8; 32]).unwrap();
        let other_relay = other.public().to_peer_id().to_bytes();
        assert_eq!(
            receipt.verify(&other_relay, &[3; 32], &kind, &body),
            Err(ReceiptError::WrongRelay)
        );
        let mut moved = receipt.clone();
        moved.seq = 8;
        assert_eq!(
            moved.verify(&relay, &[3; 32], &kind, &body),
            Err(ReceiptError::BadSignature)
        );
    }

    #[test]
    fn known_answer_request() {
        // Pinned so that an independent implementation can check its encoding.
        let relay = relay().public().to_peer_id().to_bytes();
        let request = Access::from_seed([1; 32]).request(
            &relay,
            [2; 32],
            Op::Read {
                after: 1,
                limit: 2,
                wait_secs: 3,
            },
        );
        let body = crate::mailbox::encode(&request);
        // log [32] ‖ key [32] ‖ variant 2 (Read) ‖ varints 1, 2, 3 ‖ signature (len 64, …).
        assert_eq!(&body[..32], &[2; 32]);
        assert_eq!(&body[64..69], &[2, 1, 2, 3, 64]);
        assert_eq!(body.len(), 64 + 5 + 64);
    }

    proptest! {
        #[test]
        fn requests_and_answers_round_trip(
            log in any::<[u8; 32]>(),
            body in proptest::collection::vec(any::<u8>(), 0..2048),
            seq in any::<u64>(),
        ) {
            let access = Access::from_seed(log);
            let request = access.request(b"relay", log, Op::Append { kind: Kind::Message, body: body.clone() });
            let mut frame = Vec::new();
            put_frame(&mut frame, &request, MAX_REQUEST_LEN).unwrap();
            let back: Request = futures::executor::block_on(next_frame(&mut &frame[..], MAX_REQUEST_LEN)).unwrap().unwrap();
            prop_assert_eq!(back, request);
            let answer = Answer::Entries {
                items: vec![Entry { seq, stored_at: seq, kind: Kind::Commit { epoch: seq, next_key: log }, body }],
                more: true,
                first: seq,
                begin: seq / 2,
            };
            let mut frame = Vec::new();
            put_frame(&mut frame, &answer, MAX_ANSWER_LEN).unwrap();
            prop_assert_eq!(futures::executor::block_on(receive(&mut &frame[..])).unwrap(), answer);
        }

        #[test]
        fn garbage_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            let _ = crate::mailbox::decode::<Request>(&bytes);
            let _ = crate::mailbox::decode::<Answer>(&bytes);
        }
    }
}
