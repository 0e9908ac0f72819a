//! The attachment descriptor: the message (of the reserved `ATTACHMENT` content type) that
//! tells a recipient what a file is, how to fetch it and how to decrypt it. It travels through
//! the normal end-to-end session, so everything in it, the file key included, is as private
//! as a text message.
//!
//! # Encoding
//!
//! `version u8 = 1 ‖ postcard(Descriptor)`, at most [`MAX_ENCODED_LEN`] bytes so that it fits
//! the largest envelope with room for the session's headers. Postcard encodes the fields in
//! declaration order: integers as varints, byte strings and strings with a varint length,
//! `Option` as a 0/1 tag, enums as a varint variant index (see the protocol document for the
//! field-by-field layout).
//!
//! # Validation
//!
//! [`Descriptor::from_bytes`] and [`Descriptor::to_bytes`] both run [`Descriptor::validate`]:
//! lengths must be exactly the ones the format gives (`padded = padded_len(plaintext)`,
//! `ciphertext = padded + 16·⌈padded / 65,536⌉`), the file must fit its kind's limit, and every
//! variable-length field has a bound. A descriptor that fails is refused whole, with a typed
//! error.

use std::fmt;

use serde::{Deserialize, Serialize};
use thiserror::Error;
use zeroize::{Zeroize, ZeroizeOnDrop};

use crate::{
    pad::MAX_PLAINTEXT_LEN,
    stream::{FileKey, Lengths},
    verify::Root,
};

/// Largest encoded descriptor. The largest envelope is 256 KiB; this leaves 32 KiB for the
/// session message's headers (a first message carries a PQXDH header).
pub const MAX_ENCODED_LEN: usize = 224 * 1024;
/// Files up to this size travel inside the descriptor rather than as a blob.
pub const MAX_INLINE_LEN: u64 = 200 * 1024;
/// Largest photo, video or audio file: 16 MB, as in the product brief.
pub const MAX_MEDIA_LEN: u64 = 16_000_000;
/// Largest document: 100 MB.
pub const MAX_DOCUMENT_LEN: u64 = MAX_PLAINTEXT_LEN;
/// Most places a blob can be fetched from: the sender's device, three relays, and room for
/// more devices or relays later.
pub const MAX_LOCATIONS: usize = 8;
/// Longest peer id (libp2p's multihash encoding of an Ed25519 key is 38 bytes).
pub const MAX_PEER_LEN: usize = 64;
/// Largest thumbnail image: enough for a blurry 96 × 96 JPEG or WebP preview.
pub const MAX_THUMBNAIL_LEN: usize = 16 * 1024;
/// Longest blurhash string (9 × 9 components need 166 characters).
pub const MAX_BLURHASH_LEN: usize = 200;
/// Most waveform samples of a voice note.
pub const MAX_WAVEFORM_SAMPLES: usize = 256;
/// Longest file name, in bytes of UTF-8.
pub const MAX_NAME_LEN: usize = 255;
/// Longest MIME type, in bytes.
pub const MAX_MIME_LEN: usize = 255;

const VERSION: u8 = 1;

/// What kind of file this is: decides the size limit and how a client shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[non_exhaustive]
pub enum Kind {
    /// A photo.
    Image,
    /// A video.
    Video,
    /// An audio file.
    Audio,
    /// A recorded voice note.
    Voice,
    /// Any other file.
    Document,
}

impl Kind {
    /// The largest file of this kind.
    pub fn max_len(self) -> u64 {
        match self {
            Kind::Document => MAX_DOCUMENT_LEN,
            Kind::Image | Kind::Video | Kind::Audio | Kind::Voice => MAX_MEDIA_LEN,
        }
    }
}

/// An attachment descriptor. Build one, then [`Descriptor::to_bytes`]; receive with
/// [`Descriptor::from_bytes`].
#[derive(Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Descriptor {
    /// The kind of file.
    pub kind: Kind,
    /// Its MIME type, such as `image/jpeg`.
    pub mime: String,
    /// Its file name (no directories), possibly empty.
    pub name: String,
    /// A small preview.
    pub thumbnail: Option<Thumbnail>,
    /// A voice note's loudness over time.
    pub waveform: Option<Waveform>,
    /// The file itself, or where to fetch it.
    pub body: Body,
}

/// The file, inline or as a blob.
#[derive(PartialEq, Eq, Serialize, Deserialize)]
pub enum Body {
    /// The whole file, at most [`MAX_INLINE_LEN`] bytes.
    Inline(#[serde(with = "serde_bytes")] Vec<u8>),
    /// An encrypted blob to fetch.
    Blob(BlobRef),
}

impl fmt::Debug for Body {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Body::Inline(bytes) => write!(f, "Inline({} bytes)", bytes.len()),
            Body::Blob(blob) => f.debug_tuple("Blob").field(blob).finish(),
        }
    }
}

/// Everything needed to fetch, verify and decrypt a blob.
#[derive(Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlobRef {
    /// The ciphertext's root.
    pub root: Root,
    /// The file's length.
    pub plaintext_len: u64,
    /// The padded plaintext's length.
    pub padded_len: u64,
    /// The ciphertext's length.
    pub ciphertext_len: u64,
    /// The file key.
    pub key: FileKey,
    /// Where to fetch it.
    pub locations: Vec<Location>,
}

impl BlobRef {
    /// The lengths, checked (a validated descriptor always has consistent ones).
    pub fn lengths(&self) -> Option<Lengths> {
        Lengths::check(self.plaintext_len, self.padded_len, self.ciphertext_len)
    }
}

/// A place that holds the blob and serves it to whoever presents the capability.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Location {
    /// What kind of place.
    pub kind: LocationKind,
    /// The peer id of the device or relay, in libp2p's byte encoding.
    #[serde(with = "serde_bytes")]
    pub peer: Vec<u8>,
    /// The random read capability that place requires.
    pub capability: Capability,
}

/// Who holds a copy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[non_exhaustive]
pub enum LocationKind {
    /// The sending device itself (while it is online).
    Device,
    /// A relay's blob store; the blob's id there is its root.
    Relay,
}

/// A read capability: 32 random bytes the holder of a copy asks for before serving it.
/// `Debug` prints none of it; compare with [`Capability::matches`], in constant time.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize, Zeroize, ZeroizeOnDrop)]
pub struct Capability([u8; 32]);

impl Capability {
    /// Draws a fresh capability.
    pub fn generate<R: rand_core::CryptoRng + ?Sized>(rng: &mut R) -> Capability {
        let mut bytes = [0u8; 32];
        rng.fill_bytes(&mut bytes);
        Capability(bytes)
    }

    /// The capability with these bytes.
    pub fn from_bytes(bytes: [u8; 32]) -> Capability {
        Capability(bytes)
    }

    /// Its bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// Whether `presented` is this capability, compared in constant time.
    pub fn matches(&self, presented: &Capability) -> bool {
        self.0
            .iter()
            .zip(presented.0.iter())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0
    }
}

impl fmt::Debug for Capability {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Capability(..)")
    }
}

/// A small preview shown before the file is fetched.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Thumbnail {
    /// A tiny encoded image.
    Image {
        /// Its MIME type.
        mime: String,
        /// Its pixel width.
        width: u16,
        /// Its pixel height.
        height: u16,
        /// The encoded image, at most [`MAX_THUMBNAIL_LEN`] bytes.
        #[serde(with = "serde_bytes")]
        bytes: Vec<u8>,
    },
    /// A blurhash string.
    Blurhash(String),
}

impl fmt::Debug for Thumbnail {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Thumbnail::Image {
                mime,
                width,
                height,
                bytes,
            } => write!(
                f,
                "Thumbnail({mime}, {width}x{height}, {} bytes)",
                bytes.len()
            ),
            Thumbnail::Blurhash(_) => f.write_str("Blurhash(..)"),
        }
    }
}

/// A voice note's loudness: samples from 0 to 255, evenly spread over its duration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Waveform {
    /// The note's duration in milliseconds.
    pub duration_ms: u32,
    /// At most [`MAX_WAVEFORM_SAMPLES`] samples.
    #[serde(with = "serde_bytes")]
    pub samples: Vec<u8>,
}

/// Why a descriptor was refused.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum DescriptorError {
    /// The bytes do not decode as a descriptor.
    #[error("malformed descriptor")]
    Malformed,
    /// The encoding's version is not one this build reads.
    #[error("unknown descriptor version {0}")]
    Version(u8),
    /// The encoded descriptor is larger than [`MAX_ENCODED_LEN`].
    #[error("descriptor of {len} bytes is larger than {max}")]
    Oversized {
        /// Its length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// The file is larger than its kind allows.
    #[error("{kind:?} of {len} bytes is larger than the {max} allowed")]
    TooLarge {
        /// The kind.
        kind: Kind,
        /// The file's length.
        len: u64,
        /// The limit.
        max: u64,
    },
    /// The padded or ciphertext length is not the one the plaintext length gives.
    #[error("impossible lengths: plaintext {plaintext}, padded {padded}, ciphertext {ciphertext}")]
    Lengths {
        /// Announced plaintext length.
        plaintext: u64,
        /// Announced padded length.
        padded: u64,
        /// Announced ciphertext length.
        ciphertext: u64,
    },
    /// An inline file larger than [`MAX_INLINE_LEN`].
    #[error("inline file of {len} bytes is larger than {max}")]
    InlineTooLarge {
        /// Its length.
        len: u64,
        /// The limit.
        max: u64,
    },
    /// A blob with no location, or more than [`MAX_LOCATIONS`].
    #[error("{count} locations (between 1 and {max} allowed)")]
    Locations {
        /// How many there are.
        count: usize,
        /// The limit.
        max: usize,
    },
    /// A location's peer id is empty or longer than [`MAX_PEER_LEN`].
    #[error("bad peer id in a location")]
    BadPeer,
    /// The thumbnail is too large or malformed.
    #[error("thumbnail too large or malformed")]
    Thumbnail,
    /// The waveform has more than [`MAX_WAVEFORM_SAMPLES`] samples.
    #[error("waveform has {count} samples, at most {max} allowed")]
    Waveform {
        /// How many.
        count: usize,
        /// The limit.
        max: usize,
    },
    /// The file name is too long or holds a path separator or control character.
    #[error("bad file name")]
    BadName,
    /// The MIME type is too long or not of the form `type/subtype`.
    #[error("bad mime type")]
    BadMime,
}

impl Descriptor {
    /// Checks every bound and the lengths.
    pub fn validate(&self) -> Result<(), DescriptorError> {
        check_mime(&self.mime)?;
        if self.name.len() > MAX_NAME_LEN
            || self
                .name
                .chars()
                .any(|c| c == '/' || c == '\\' || c.is_control())
        {
            return Err(DescriptorError::BadName);
        }
        match &self.thumbnail {
            Some(Thumbnail::Image { mime, bytes, .. }) => {
                check_mime(mime).map_err(|_| DescriptorError::Thumbnail)?;
                if bytes.len() > MAX_THUMBNAIL_LEN {
                    return Err(DescriptorError::Thumbnail);
                }
            }
            Some(Thumbnail::Blurhash(hash))
                if hash.len() > MAX_BLURHASH_LEN || !hash.is_ascii() =>
            {
                return Err(DescriptorError::Thumbnail);
            }
            Some(Thumbnail::Blurhash(_)) | None => {}
        }
        if let Some(waveform) = &self.waveform
            && waveform.samples.len() > MAX_WAVEFORM_SAMPLES
        {
            return Err(DescriptorError::Waveform {
                count: waveform.samples.len(),
                max: MAX_WAVEFORM_SAMPLES,
            });
        }
        let len = self.plaintext_len();
        if len > self.kind.max_len() {
            return Err(DescriptorError::TooLarge {
                kind: self.kind,
                len,
                max: self.kind.max_len(),
            });
        }
        match &self.body {
            Body::Inline(bytes) => {
                if bytes.len() as u64 > MAX_INLINE_LEN {
                    return Err(DescriptorError::InlineTooLarge {
                        len: bytes.len() as u64,
                        max: MAX_INLINE_LEN,
                    });
                }
            }
            Body::Blob(blob) => {
                if blob.lengths().is_none() {
                    return Err(DescriptorError::Lengths {
                        plaintext: blob.plaintext_len,
                        padded: blob.padded_len,
                        ciphertext: blob.ciphertext_len,
                    });
                }
                let count = blob.locations.len();
                if count == 0 || count > MAX_LOCATIONS {
                    return Err(DescriptorError::Locations {
                        count,
                        max: MAX_LOCATIONS,
                    });
                }
                if blob
                    .locations
                    .iter()
                    .any(|l| l.peer.is_empty() || l.peer.len() > MAX_PEER_LEN)
                {
                    return Err(DescriptorError::BadPeer);
                }
            }
        }
        Ok(())
    }

    /// The file's length.
    pub fn plaintext_len(&self) -> u64 {
        match &self.body {
            Body::Inline(bytes) => bytes.len() as u64,
            Body::Blob(blob) => blob.plaintext_len,
        }
    }

    /// Validates and encodes: `version ‖ postcard(self)`.
    pub fn to_bytes(&self) -> Result<Vec<u8>, DescriptorError> {
        self.validate()?;
        let mut out = vec![VERSION];
        out = postcard::to_extend(self, out).map_err(|_| DescriptorError::Malformed)?;
        if out.len() > MAX_ENCODED_LEN {
            return Err(DescriptorError::Oversized {
                len: out.len(),
                max: MAX_ENCODED_LEN,
            });
        }
        Ok(out)
    }

    /// Decodes and validates a received descriptor. Trailing bytes are refused.
    ///
    /// ```
    /// use tern_blob::descriptor::{Body, Descriptor, DescriptorError, Kind};
    ///
    /// let note = Descriptor {
    ///     kind: Kind::Document,
    ///     mime: "text/plain".into(),
    ///     name: "note.txt".into(),
    ///     thumbnail: None,
    ///     waveform: None,
    ///     body: Body::Inline(b"hello".to_vec()),
    /// };
    /// let bytes = note.to_bytes().unwrap();
    /// assert_eq!(Descriptor::from_bytes(&bytes).unwrap(), note);
    /// assert_eq!(Descriptor::from_bytes(&bytes[..4]), Err(DescriptorError::Malformed));
    /// ```
    pub fn from_bytes(bytes: &[u8]) -> Result<Descriptor, DescriptorError> {
        if bytes.len() > MAX_ENCODED_LEN {
            return Err(DescriptorError::Oversized {
                len: bytes.len(),
                max: MAX_ENCODED_LEN,
            });
        }
        let (&version, body) = bytes.split_first().ok_or(DescriptorError::Malformed)?;
        if version != VERSION {
            return Err(DescriptorError::Version(version));
        }
        let (descriptor, rest): (Descriptor, _) =
            postcard::take_from_bytes(body).map_err(|_| DescriptorError::Malformed)?;
        if !rest.is_empty() {
            return Err(DescriptorError::Malformed);
        }
        descriptor.validate()?;
        Ok(descriptor)
    }
}

fn check_mime(mime: &str) -> Result<(), DescriptorError> {
    let well_formed = mime.len() <= MAX_MIME_LEN
        && mime.bytes().all(|b| b.is_ascii_graphic())
        && mime
            .split_once('/')
            .is_some_and(|(t, s)| !t.is_empty() && !s.is_empty());
    well_formed.then_some(()).ok_or(DescriptorError::BadMime)
}

#[cfg(test)]
mod tests;
