//! Files in messages: how the API shows them, lists them and takes them.

use serde::{Deserialize, Serialize};
use tern_node::{Attachment, AttachmentKind, AttachmentState, Direction, FileEntry};
use utoipa::{IntoParams, ToSchema};

/// A file in a message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub(crate) struct AttachmentView {
    /// `image`, `video`, `audio`, `voice` or `document`.
    pub(crate) kind: String,
    /// The file name the sender gave (no directories; may be empty).
    pub(crate) name: String,
    /// Its MIME type.
    pub(crate) mime: String,
    /// Its size in bytes.
    pub(crate) size: u64,
    /// `ready` (on this device, verified: download it), `offered` (not fetched: larger than
    /// the auto-download limit, or from a request), `fetching`, or `failed`.
    pub(crate) state: String,
    /// Why it failed, for a `failed` file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) failure: Option<String>,
}

impl From<Attachment> for AttachmentView {
    fn from(a: Attachment) -> Self {
        let (state, failure) = state_name(&a.state);
        Self {
            kind: match a.kind {
                AttachmentKind::Image => "image",
                AttachmentKind::Video => "video",
                AttachmentKind::Audio => "audio",
                AttachmentKind::Voice => "voice",
                _ => "document",
            }
            .into(),
            name: a.name,
            mime: a.mime,
            size: a.size,
            state: state.into(),
            failure,
        }
    }
}

/// A file state's name in the API, and the failure's reason.
pub(crate) fn state_name(state: &AttachmentState) -> (&'static str, Option<String>) {
    match state {
        AttachmentState::Ready => ("ready", None),
        AttachmentState::Offered => ("offered", None),
        AttachmentState::Fetching => ("fetching", None),
        AttachmentState::Failed { reason } => ("failed", Some(reason.clone())),
        _ => ("unknown", None),
    }
}

/// One file of `GET /v1/files`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub(crate) struct FileView {
    /// The conversation (an address); in a group, who sent the file.
    pub(crate) peer: String,
    /// The group (its id), when the file was sent in one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) group: Option<String>,
    /// The message that carries it.
    pub(crate) id: String,
    /// `outgoing` or `incoming`.
    pub(crate) direction: String,
    /// When it was sent.
    pub(crate) sent_at_ms: u64,
    /// The message's caption (possibly empty).
    pub(crate) caption: String,
    /// The file.
    pub(crate) file: AttachmentView,
}

impl FileView {
    /// Its conversation as the file routes take it: the group's id, or the peer's address.
    pub(crate) fn chat(&self) -> &str {
        self.group.as_deref().unwrap_or(&self.peer)
    }
}

impl From<FileEntry> for FileView {
    fn from(e: FileEntry) -> Self {
        Self {
            peer: e.peer.to_string(),
            group: e.group.map(|g| g.to_string()),
            id: e.id.to_string(),
            direction: match e.direction {
                Direction::Outgoing => "outgoing",
                Direction::Incoming => "incoming",
            }
            .into(),
            sent_at_ms: e.sent_at_ms,
            caption: e.caption,
            file: e.attachment.into(),
        }
    }
}

/// `GET /v1/files`: the files of every conversation, newest first.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub(crate) struct FilesPage {
    /// At most 1,000.
    pub(crate) files: Vec<FileView>,
}

/// `GET /v1/files` query.
#[derive(Debug, Clone, Default, Serialize, Deserialize, IntoParams)]
pub(crate) struct FilesQuery {
    /// Only this conversation's files (a contact name or address, or a group as `#name` or its id).
    pub(crate) peer: Option<String>,
}

/// `POST /v1/chats/{peer}/files` query: the file itself is the request body, sent as is
/// (`application/octet-stream`), at most 100 MB.
#[derive(Debug, Clone, Default, Serialize, Deserialize, IntoParams)]
pub(crate) struct UploadQuery {
    /// The file name to show (no directories).
    pub(crate) name: String,
    /// A caption.
    #[serde(default)]
    pub(crate) caption: Option<String>,
    /// The MIME type; guessed from the name when absent.
    #[serde(default)]
    pub(crate) mime: Option<String>,
    /// `voice` for a recorded note; otherwise guessed from the MIME type.
    #[serde(default)]
    pub(crate) kind: Option<String>,
    /// A thumbnail to show before the file is fetched: a small JPEG, PNG, WebP or GIF of at
    /// most 16 KiB, base64 (standard alphabet, padded); its type and size are read from it.
    #[serde(default)]
    pub(crate) thumbnail: Option<String>,
    /// A blurhash to show before the file is fetched (instead of `thumbnail`).
    #[serde(default)]
    pub(crate) blurhash: Option<String>,
    /// A voice note's loudness over time: up to 256 samples from 0 to 255, comma-separated.
    #[serde(default)]
    pub(crate) waveform: Option<String>,
    /// With `waveform`: the note's duration in milliseconds.
    #[serde(default)]
    pub(crate) duration_ms: Option<u32>,
}

/// `GET /v1/chats/{peer}/messages/{id}/file/preview`: what the sender put in the message to
/// show before the file is here.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub(crate) struct PreviewView {
    /// A small image; absent when there is none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) thumbnail: Option<ThumbnailView>,
    /// A blurhash; absent when there is none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) blurhash: Option<String>,
    /// A voice note's waveform; absent when there is none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) waveform: Option<WaveformView>,
}

/// A thumbnail image.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub(crate) struct ThumbnailView {
    /// Its MIME type, such as `image/jpeg`.
    pub(crate) mime: String,
    /// Its width in pixels.
    pub(crate) width: u16,
    /// Its height in pixels.
    pub(crate) height: u16,
    /// The image, base64 (standard alphabet, padded).
    pub(crate) data: String,
}

/// A voice note's loudness over time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub(crate) struct WaveformView {
    /// The note's duration in milliseconds.
    pub(crate) duration_ms: u32,
    /// Up to 256 samples from 0 to 255, evenly spread over the duration.
    pub(crate) samples: Vec<u8>,
}

impl From<tern_node::Preview> for PreviewView {
    fn from(p: tern_node::Preview) -> Self {
        use base64::Engine;
        let mut view = Self {
            waveform: p.waveform.map(|w| WaveformView {
                duration_ms: w.duration_ms,
                samples: w.samples,
            }),
            ..Self::default()
        };
        match p.thumbnail {
            Some(tern_node::Thumbnail::Image {
                mime,
                width,
                height,
                bytes,
            }) => {
                view.thumbnail = Some(ThumbnailView {
                    mime,
                    width,
                    height,
                    data: base64::engine::general_purpose::STANDARD.encode(bytes),
                });
            }
            Some(tern_node::Thumbnail::Blurhash(hash)) => view.blurhash = Some(hash),
            _ => {}
        }
        view
    }
}

/// The answer to `POST /v1/chats/{peer}/messages/{id}/file/fetch`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub(crate) struct FetchStarted {
    /// `ready` when the file is already here, else `fetching`; an `attachment_changed`
    /// event tells the end.
    pub(crate) state: String,
}

/// What `tern save` wrote.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct SavedView {
    /// Where.
    pub(crate) path: String,
    /// Its size in bytes.
    pub(crate) size: u64,
}
