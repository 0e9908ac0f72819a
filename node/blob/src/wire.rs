//! The `/tern/blob/1` stream protocol's messages and framing, without the transport: the node
//! and the relay run it over libp2p streams.
//!
//! # Protocol flow
//!
//! One request per stream. Every message is a frame
//! `version u8 = 1 ‖ length u32 big-endian ‖ postcard(body)`, the body at most
//! [`MAX_FRAME_LEN`] bytes; the verified stream (see [`crate::verify`]) follows its frame raw,
//! its length known to both sides from the ciphertext length and the groups.
//!
//! ```text
//! reader                           holder (sender's device or relay)
//!   │ Request::Get{root, groups, capability} ──▶
//!   │ ◀── GetStatus::Ok{ciphertext_len}            then encoded_len(ciphertext_len, groups) bytes:
//!   │ ◀── verified stream of the groups             parents and groups, checked as they arrive
//!   │     (or NotFound / BadCapability / RangePastEnd / Busy / BadRequest, and the stream ends)
//!
//! uploader                         relay
//!   │ Request::Upload{root, ciphertext_len, capability, quota_token} ──▶
//!   │ ◀── UploadStatus::Send{groups}              the groups the relay still lacks (all of them
//!   │ ──▶ verified stream of those groups          for a new blob; fewer when resuming)
//!   │     relay verifies every group before writing it, finishes the blob and syncs it
//!   │ ◀── UploadStatus::Stored(receipt)           signed only after the synced write
//!   │     (or Refused(reason) at any point; Stored at once if it already holds the blob)
//! ```
//!
//! # Custody receipt
//!
//! The relay signs, with its libp2p Ed25519 key, the bytes of [`custody_statement`]:
//!
//! ```text
//! "tern/blob-custody/v1" ‖ len(relay_key) u16 BE ‖ relay_key ‖ root (32)
//!   ‖ ciphertext_len u64 BE ‖ stored_at u64 BE ‖ expires_at u64 BE
//! ```
//!
//! where `relay_key` is the relay's public key in libp2p's protobuf encoding and the times are
//! Unix seconds. Signing and verifying are the caller's (this crate knows no libp2p).

use std::io::{self, Read, Write};

use futures::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use serde::{Deserialize, Serialize, de::DeserializeOwned};
use thiserror::Error;

use crate::{
    descriptor::Capability,
    verify::{GroupSet, Root},
};

/// The protocol name.
pub const PROTOCOL: &str = "/tern/blob/1";
/// Largest frame body. Requests and statuses are small; the bound keeps a peer from making
/// the other side buffer anything large before it has been checked.
pub const MAX_FRAME_LEN: usize = 4096;
/// Most ranges in one request: a resuming download or a seek needs a handful.
pub const MAX_RANGES: usize = 64;
/// Longest quota token an uploader may present.
pub const MAX_QUOTA_TOKEN_LEN: usize = 512;

const FRAME_VERSION: u8 = 1;
const HEADER_LEN: usize = 5;
const CUSTODY_LABEL: &[u8] = b"tern/blob-custody/v1";

/// What a stream opens with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Request {
    /// Read groups of a blob.
    Get {
        /// The blob.
        root: Root,
        /// The groups wanted, at most [`MAX_RANGES`] ranges.
        groups: GroupSet,
        /// The read capability from the descriptor's location.
        capability: Capability,
    },
    /// Leave a blob at a relay.
    Upload {
        /// The blob.
        root: Root,
        /// Its ciphertext length (a length the format can produce).
        ciphertext_len: u64,
        /// The capability readers will present; the relay stores it with the blob.
        capability: Capability,
        /// Proof that the uploader may use the relay's quota (defined with the relay's abuse
        /// rules), at most [`MAX_QUOTA_TOKEN_LEN`] bytes.
        #[serde(with = "serde_bytes")]
        quota_token: Vec<u8>,
    },
}

/// The answer to [`Request::Get`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum GetStatus {
    /// The verified stream of the requested groups follows.
    Ok {
        /// The ciphertext's length, which must match the descriptor's.
        ciphertext_len: u64,
    },
    /// The holder does not have the blob (any more).
    NotFound,
    /// The capability is not the one stored with the blob.
    BadCapability,
    /// A requested group lies past the end.
    RangePastEnd {
        /// How many groups the blob has.
        groups: u64,
    },
    /// Too many transfers right now; ask again later or elsewhere.
    Busy {
        /// Suggested wait.
        retry_after_secs: u16,
    },
    /// The request was malformed.
    BadRequest,
}

/// The relay's answers during an upload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum UploadStatus {
    /// Send the verified stream of these groups.
    Send {
        /// The groups the relay still lacks.
        groups: GroupSet,
    },
    /// The blob is durable at the relay.
    Stored(CustodyReceipt),
    /// The upload was not accepted.
    Refused(UploadRefusal),
}

/// Why a relay refused an upload.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Error)]
#[non_exhaustive]
pub enum UploadRefusal {
    /// The blob is larger than the relay's per-blob limit.
    #[error("blob too large for this relay")]
    TooLarge,
    /// The uploader's quota is used up.
    #[error("upload quota exceeded")]
    OverQuota,
    /// The quota token is not valid.
    #[error("quota token refused")]
    BadToken,
    /// No attachment has that ciphertext length.
    #[error("impossible blob length")]
    BadLength,
    /// The relay's disk budget is used up.
    #[error("the relay is out of storage")]
    StorageFull,
    /// The uploaded data did not verify against the root.
    #[error("uploaded data does not match the root")]
    Corrupt,
    /// Too many transfers right now, or another upload of the same blob is running.
    #[error("the relay is busy")]
    Busy,
    /// The relay holds this root under another capability or length.
    #[error("the relay holds this blob under another capability")]
    Conflict,
}

/// A relay's signed statement that it holds a blob durably.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CustodyReceipt {
    /// The relay's public key, in libp2p's protobuf encoding (Ed25519).
    #[serde(with = "serde_bytes")]
    pub relay_key: Vec<u8>,
    /// The blob.
    pub root: Root,
    /// Its ciphertext length.
    pub ciphertext_len: u64,
    /// When it became durable, Unix seconds.
    pub stored_at: u64,
    /// When the relay will delete it, Unix seconds.
    pub expires_at: u64,
    /// The relay's signature over [`CustodyReceipt::statement`].
    #[serde(with = "serde_bytes")]
    pub signature: Vec<u8>,
}

impl CustodyReceipt {
    /// The signed bytes.
    pub fn statement(&self) -> Vec<u8> {
        custody_statement(
            &self.relay_key,
            &self.root,
            self.ciphertext_len,
            self.stored_at,
            self.expires_at,
        )
    }

    /// Whether the receipt is about this blob (the signature is the caller's to check).
    pub fn covers(&self, root: &Root, ciphertext_len: u64) -> bool {
        self.root == *root && self.ciphertext_len == ciphertext_len
    }
}

/// The bytes a relay signs for a custody receipt (see the module documentation).
///
/// ```
/// use tern_blob::{Root, wire::custody_statement};
///
/// let statement = custody_statement(&[0xaa; 36], &Root::from_bytes([1; 32]), 1040, 10, 20);
/// assert_eq!(statement.len(), 20 + 2 + 36 + 32 + 24);
/// assert!(statement.starts_with(b"tern/blob-custody/v1\x00\x24"));
/// ```
pub fn custody_statement(
    relay_key: &[u8],
    root: &Root,
    ciphertext_len: u64,
    stored_at: u64,
    expires_at: u64,
) -> Vec<u8> {
    let key_len = u16::try_from(relay_key.len()).unwrap_or(u16::MAX);
    let key = &relay_key[..usize::from(key_len)];
    let mut out = Vec::with_capacity(CUSTODY_LABEL.len() + 2 + key.len() + 56);
    out.extend_from_slice(CUSTODY_LABEL);
    out.extend_from_slice(&key_len.to_be_bytes());
    out.extend_from_slice(key);
    out.extend_from_slice(root.as_bytes());
    out.extend_from_slice(&ciphertext_len.to_be_bytes());
    out.extend_from_slice(&stored_at.to_be_bytes());
    out.extend_from_slice(&expires_at.to_be_bytes());
    out
}

/// Why a frame could not be read or written.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum FrameError {
    /// The stream failed or ended early.
    #[error("stream i/o error")]
    Io(#[from] io::Error),
    /// The announced body is larger than [`MAX_FRAME_LEN`].
    #[error("frame of {len} bytes is larger than {max}")]
    TooLarge {
        /// Announced length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// The frame's version is not one this build speaks.
    #[error("unknown frame version {0}")]
    Version(u8),
    /// The body does not decode, has trailing bytes, or breaks a bound (ranges, token).
    #[error("malformed frame")]
    Malformed,
}

/// Bounds a decoded message must respect beyond its type.
pub trait Bounded {
    /// Whether the message is within its bounds.
    fn within_bounds(&self) -> bool;
}

impl Bounded for Request {
    fn within_bounds(&self) -> bool {
        match self {
            Request::Get { groups, .. } => groups.ranges().len() <= MAX_RANGES,
            Request::Upload { quota_token, .. } => quota_token.len() <= MAX_QUOTA_TOKEN_LEN,
        }
    }
}

impl Bounded for GetStatus {
    fn within_bounds(&self) -> bool {
        true
    }
}

impl Bounded for UploadStatus {
    fn within_bounds(&self) -> bool {
        match self {
            UploadStatus::Send { groups } => groups.ranges().len() <= MAX_RANGES,
            UploadStatus::Stored(receipt) => {
                receipt.relay_key.len() <= 256 && receipt.signature.len() <= 256
            }
            UploadStatus::Refused(_) => true,
        }
    }
}

/// Encodes `message` as one frame.
pub fn encode_frame<T: Serialize + Bounded>(message: &T) -> Result<Vec<u8>, FrameError> {
    if !message.within_bounds() {
        return Err(FrameError::Malformed);
    }
    let mut out = postcard::to_extend(message, vec![FRAME_VERSION, 0, 0, 0, 0])
        .map_err(|_| FrameError::Malformed)?;
    let len = out.len() - HEADER_LEN;
    if len > MAX_FRAME_LEN {
        return Err(FrameError::TooLarge {
            len,
            max: MAX_FRAME_LEN,
        });
    }
    out[1..HEADER_LEN].copy_from_slice(&(len as u32).to_be_bytes());
    Ok(out)
}

/// Checks a frame header and returns the body's length.
fn body_len(header: &[u8; HEADER_LEN]) -> Result<usize, FrameError> {
    if header[0] != FRAME_VERSION {
        return Err(FrameError::Version(header[0]));
    }
    let len = u32::from_be_bytes([header[1], header[2], header[3], header[4]]) as usize;
    if len > MAX_FRAME_LEN {
        return Err(FrameError::TooLarge {
            len,
            max: MAX_FRAME_LEN,
        });
    }
    Ok(len)
}

fn decode_body<T: DeserializeOwned + Bounded>(body: &[u8]) -> Result<T, FrameError> {
    let (message, rest): (T, _) =
        postcard::take_from_bytes(body).map_err(|_| FrameError::Malformed)?;
    if !rest.is_empty() || !message.within_bounds() {
        return Err(FrameError::Malformed);
    }
    Ok(message)
}

/// Decodes one whole frame held in memory.
///
/// ```
/// use tern_blob::{GroupSet, Root, descriptor::Capability, wire};
///
/// let request = wire::Request::Get {
///     root: Root::from_bytes([1; 32]),
///     groups: GroupSet::from(0..10),
///     capability: Capability::from_bytes([2; 32]),
/// };
/// let frame = wire::encode_frame(&request).unwrap();
/// assert_eq!(wire::decode_frame::<wire::Request>(&frame).unwrap(), request);
/// ```
pub fn decode_frame<T: DeserializeOwned + Bounded>(frame: &[u8]) -> Result<T, FrameError> {
    let header: &[u8; HEADER_LEN] = frame
        .get(..HEADER_LEN)
        .and_then(|h| h.try_into().ok())
        .ok_or(FrameError::Malformed)?;
    let len = body_len(header)?;
    if frame.len() != HEADER_LEN + len {
        return Err(FrameError::Malformed);
    }
    decode_body(&frame[HEADER_LEN..])
}

/// Writes one frame.
pub fn write_frame<T: Serialize + Bounded>(
    mut out: impl Write,
    message: &T,
) -> Result<(), FrameError> {
    out.write_all(&encode_frame(message)?)?;
    Ok(())
}

/// Reads one frame, never buffering more than [`MAX_FRAME_LEN`] bytes.
pub fn read_frame<T: DeserializeOwned + Bounded>(mut input: impl Read) -> Result<T, FrameError> {
    let mut header = [0u8; HEADER_LEN];
    input.read_exact(&mut header)?;
    let mut body = vec![0u8; body_len(&header)?];
    input.read_exact(&mut body)?;
    decode_body(&body)
}

/// Writes one frame to an async stream (a libp2p substream).
pub async fn write_frame_async<T: Serialize + Bounded>(
    mut out: impl AsyncWrite + Unpin,
    message: &T,
) -> Result<(), FrameError> {
    out.write_all(&encode_frame(message)?).await?;
    Ok(())
}

/// Reads one frame from an async stream, never buffering more than [`MAX_FRAME_LEN`] bytes.
pub async fn read_frame_async<T: DeserializeOwned + Bounded>(
    mut input: impl AsyncRead + Unpin,
) -> Result<T, FrameError> {
    let mut header = [0u8; HEADER_LEN];
    input.read_exact(&mut header).await?;
    let mut body = vec![0u8; body_len(&header)?];
    input.read_exact(&mut body).await?;
    decode_body(&body)
}

#[cfg(test)]
mod tests;
