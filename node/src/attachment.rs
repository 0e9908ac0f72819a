//! Files in messages: what people see of them ([`Attachment`]), and what a sender hands the
//! node ([`OutgoingFile`]).
//!
//! A file travels as a message of its own whose body is a descriptor (`tern-blob`): small
//! files inside it, larger ones as an encrypted blob that the recipient fetches over
//! `/tern/blob/1` from the locations the descriptor names, verifying every 16 KiB group
//! against the blob's root before writing it. See `docs/protocol/attachments.md`.

use std::{
    fs::File,
    io::{self, Read},
    path::{Path, PathBuf},
};

use serde::{Deserialize, Serialize};
use tern_blob::descriptor::{self, Descriptor, Kind};
pub use tern_blob::descriptor::{Thumbnail, Waveform};

use crate::tables::TransferV1;

/// Files up to this size are fetched as soon as their message arrives from an accepted
/// contact; larger ones wait for [`crate::Node::fetch_attachment`]. Media go up to 16 MB, so
/// every photo, voice note and short video comes without a tap, as people expect.
pub const DEFAULT_AUTO_DOWNLOAD: u64 = descriptor::MAX_MEDIA_LEN;

/// The largest file Tern sends: a 100 MB document. A download rule of this size fetches
/// every file.
pub const MAX_FILE_LEN: u64 = descriptor::MAX_DOCUMENT_LEN;

/// A file in a message, as people see it.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct Attachment {
    /// What kind of file it is.
    pub kind: AttachmentKind,
    /// Its file name as the sender gave it (no directories; may be empty).
    pub name: String,
    /// Its MIME type, such as `image/jpeg`.
    pub mime: String,
    /// Its size in bytes.
    pub size: u64,
    /// Whether it is on this device.
    pub state: AttachmentState,
}

/// What kind of file an [`Attachment`] is: decides its size limit and how a client shows it.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[non_exhaustive]
pub enum AttachmentKind {
    /// A photo (at most 16 MB).
    Image,
    /// A video (at most 16 MB).
    Video,
    /// An audio file (at most 16 MB).
    Audio,
    /// A recorded voice note (at most 16 MB).
    Voice,
    /// Any other file (at most 100 MB).
    Document,
}

/// Where an [`Attachment`]'s file is.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[non_exhaustive]
pub enum AttachmentState {
    /// On this device and verified: [`crate::Node::save_attachment`] writes it out.
    Ready,
    /// Not fetched: larger than the auto-download limit, or from a message request.
    /// [`crate::Node::fetch_attachment`] fetches it.
    Offered,
    /// Being fetched, or waiting for a source to come online; fetching resumes after a
    /// restart from where it stopped. Progress comes as [`crate::Event::AttachmentProgress`].
    Fetching,
    /// Given up on; [`crate::Node::fetch_attachment`] tries again.
    Failed {
        /// Why, for people.
        reason: String,
    },
}

impl From<&TransferV1> for AttachmentState {
    fn from(state: &TransferV1) -> Self {
        match state {
            TransferV1::Complete => Self::Ready,
            TransferV1::Offered => Self::Offered,
            TransferV1::Fetching => Self::Fetching,
            TransferV1::Failed(reason) => Self::Failed {
                reason: reason.clone(),
            },
        }
    }
}

impl From<&AttachmentState> for TransferV1 {
    fn from(state: &AttachmentState) -> Self {
        match state {
            AttachmentState::Ready => Self::Complete,
            AttachmentState::Offered => Self::Offered,
            AttachmentState::Fetching => Self::Fetching,
            AttachmentState::Failed { reason } => Self::Failed(reason.clone()),
        }
    }
}

impl From<Kind> for AttachmentKind {
    fn from(kind: Kind) -> Self {
        match kind {
            Kind::Image => Self::Image,
            Kind::Video => Self::Video,
            Kind::Audio => Self::Audio,
            Kind::Voice => Self::Voice,
            _ => Self::Document,
        }
    }
}

impl From<AttachmentKind> for Kind {
    fn from(kind: AttachmentKind) -> Self {
        match kind {
            AttachmentKind::Image => Self::Image,
            AttachmentKind::Video => Self::Video,
            AttachmentKind::Audio => Self::Audio,
            AttachmentKind::Voice => Self::Voice,
            AttachmentKind::Document => Self::Document,
        }
    }
}

impl Attachment {
    /// What people see of a stored descriptor in `state`; `None` if it does not decode
    /// (every stored one was validated on its way in).
    pub(crate) fn from_descriptor(bytes: &[u8], state: &TransferV1) -> Option<Self> {
        let descriptor = Descriptor::from_bytes(bytes).ok()?;
        Some(Self {
            kind: descriptor.kind.into(),
            size: descriptor.plaintext_len(),
            name: descriptor.name,
            mime: descriptor.mime,
            state: state.into(),
        })
    }
}

/// A file to send ([`crate::Node::send_attachment`]): a path, or any reader with its name.
///
/// ```
/// use tern_node::{AttachmentKind, OutgoingFile};
///
/// let note = OutgoingFile::from_bytes("note.txt", b"see you at six".to_vec());
/// assert_eq!(note.kind(), AttachmentKind::Document);
/// assert_eq!(note.mime(), "text/plain");
/// let voice = OutgoingFile::from_bytes("memo.ogg", vec![0; 1000]).with_kind(AttachmentKind::Voice);
/// assert_eq!(voice.kind(), AttachmentKind::Voice);
/// ```
pub struct OutgoingFile {
    name: String,
    mime: String,
    kind: AttachmentKind,
    preview: Preview,
    pub(crate) source: Source,
}

/// What a client shows of a file before it is fetched: a small thumbnail (a tiny image or a
/// blurhash) and a voice note's waveform. It travels, end-to-end encrypted, in the file's
/// message ([`crate::Node::attachment_preview`] reads it), so a photo shows blurred at once
/// even when it is too large to fetch by itself.
#[derive(Clone, Default, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Preview {
    /// A tiny image (at most 16 KiB) or a blurhash.
    pub thumbnail: Option<Thumbnail>,
    /// A voice note's loudness over time (at most 256 samples).
    pub waveform: Option<Waveform>,
}

/// Where an [`OutgoingFile`]'s bytes come from.
pub(crate) enum Source {
    Path(PathBuf),
    Bytes(Vec<u8>),
    Reader(Box<dyn Read + Send>),
}

impl std::fmt::Debug for OutgoingFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OutgoingFile")
            .field("name", &self.name)
            .field("mime", &self.mime)
            .field("kind", &self.kind)
            .finish_non_exhaustive()
    }
}

impl OutgoingFile {
    /// The file at `path`, named by its last component, its type guessed from its extension.
    pub fn from_path(path: impl AsRef<Path>) -> Self {
        let path = path.as_ref();
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        Self::named(name, Source::Path(path.to_owned()))
    }

    /// A file held in memory.
    pub fn from_bytes(name: impl Into<String>, bytes: Vec<u8>) -> Self {
        Self::named(name.into(), Source::Bytes(bytes))
    }

    /// A file read from `reader` to its end (an upload of unknown length): it is encrypted
    /// as it is read, so memory stays small whatever its size.
    pub fn from_reader(name: impl Into<String>, reader: impl Read + Send + 'static) -> Self {
        Self::named(name.into(), Source::Reader(Box::new(reader)))
    }

    fn named(name: String, source: Source) -> Self {
        let name = clean_name(&name);
        let mime = mime_guess::from_path(&name)
            .first_raw()
            .unwrap_or("application/octet-stream")
            .to_owned();
        let kind = kind_of(&mime);
        Self {
            name,
            mime,
            kind,
            preview: Preview::default(),
            source,
        }
    }

    /// Sends a small preview with the file: a tiny image (at most
    /// [`tern_blob::descriptor::MAX_THUMBNAIL_LEN`] bytes) or a blurhash. Checked when the
    /// file is sent.
    ///
    /// ```
    /// use tern_node::{OutgoingFile, Thumbnail};
    ///
    /// let photo = OutgoingFile::from_path("beach.jpg")
    ///     .with_thumbnail(Thumbnail::Blurhash("LEHV6nWB2yk8pyo0adR*.7kCMdnj".into()));
    /// ```
    pub fn with_thumbnail(mut self, thumbnail: Thumbnail) -> Self {
        self.preview.thumbnail = Some(thumbnail);
        self
    }

    /// Sends a voice note's waveform with it (at most
    /// [`tern_blob::descriptor::MAX_WAVEFORM_SAMPLES`] samples). Checked when it is sent.
    pub fn with_waveform(mut self, waveform: Waveform) -> Self {
        self.preview.waveform = Some(waveform);
        self
    }

    /// Sets the MIME type (instead of the guess from the name).
    pub fn with_mime(mut self, mime: impl Into<String>) -> Self {
        self.mime = mime.into();
        self
    }

    /// Sets the kind (instead of the guess from the MIME type), for example
    /// [`AttachmentKind::Voice`] for a recorded note.
    pub fn with_kind(mut self, kind: AttachmentKind) -> Self {
        self.kind = kind;
        self
    }

    /// The file name that travels.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The MIME type that travels.
    pub fn mime(&self) -> &str {
        &self.mime
    }

    /// The kind that travels.
    pub fn kind(&self) -> AttachmentKind {
        self.kind
    }

    /// Opens the source: a reader and its length, when known in advance.
    pub(crate) fn open(source: Source) -> io::Result<(Box<dyn Read + Send>, Option<u64>)> {
        Ok(match source {
            Source::Path(path) => {
                let file = File::open(&path)?;
                let len = file.metadata()?.len();
                (Box::new(file), Some(len))
            }
            Source::Bytes(bytes) => {
                let len = bytes.len() as u64;
                (Box::new(io::Cursor::new(bytes)), Some(len))
            }
            Source::Reader(reader) => (reader, None),
        })
    }

    pub(crate) fn into_parts(self) -> (String, String, AttachmentKind, Preview, Source) {
        (self.name, self.mime, self.kind, self.preview, self.source)
    }
}

/// The kind a MIME type suggests. Everything not media is a document.
fn kind_of(mime: &str) -> AttachmentKind {
    match mime.split('/').next() {
        Some("image") => AttachmentKind::Image,
        Some("video") => AttachmentKind::Video,
        Some("audio") => AttachmentKind::Audio,
        _ => AttachmentKind::Document,
    }
}

/// A file name as it may travel: its last component, without control characters, within
/// the descriptor's bound (cut at a character boundary).
fn clean_name(name: &str) -> String {
    let last = name.rsplit(['/', '\\']).next().unwrap_or_default();
    let mut clean: String = last.chars().filter(|c| !c.is_control()).collect();
    while clean.len() > descriptor::MAX_NAME_LEN {
        clean.pop();
    }
    clean
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_lose_directories_and_control_characters() {
        assert_eq!(clean_name("../../etc/passwd"), "passwd");
        assert_eq!(clean_name("C:\\Users\\a\\photo.jpg"), "photo.jpg");
        assert_eq!(clean_name("bad\u{7}\nname.txt"), "badname.txt");
        let long = "é".repeat(200);
        let cut = clean_name(&long);
        assert!(cut.len() <= descriptor::MAX_NAME_LEN && cut.chars().all(|c| c == 'é'));
    }

    #[test]
    fn kinds_follow_the_mime_type() {
        assert_eq!(
            OutgoingFile::from_bytes("a.jpg", vec![]).kind(),
            AttachmentKind::Image
        );
        assert_eq!(
            OutgoingFile::from_bytes("a.mp4", vec![]).kind(),
            AttachmentKind::Video
        );
        assert_eq!(
            OutgoingFile::from_bytes("a.pdf", vec![]).mime(),
            "application/pdf"
        );
        assert_eq!(
            OutgoingFile::from_bytes("noext", vec![]).mime(),
            "application/octet-stream"
        );
    }
}
