//! Files: sending, listing, fetching, opening and saving them.

use std::{
    io::{self, Read},
    ops::Range,
    time::{Duration, Instant},
};

use futures::StreamExt;
use tern_node::{
    AttachmentError, AttachmentKind, AttachmentReader, AttachmentState, ChatId, Event, GroupEvent,
    MessageId, Node, OutgoingFile, Thumbnail, Waveform,
};
use tokio::sync::mpsc;

use super::{Pick, chat_of, message_id};
use crate::api::model::{
    ApiError, AttachmentView, Delivery, FetchStarted, FileView, FilesPage, PreviewView, Sent,
    UploadQuery, state_name,
};

impl From<AttachmentError> for ApiError {
    fn from(e: AttachmentError) -> Self {
        use AttachmentError as E;
        let message = e.to_string();
        match e {
            E::File(_) => Self::bad_request(message),
            E::TooLarge { .. } => Self::too_large(message),
            E::Send(e) => e.into(),
            E::NoAttachment(_) => Self::not_found(message),
            E::NotReady => Self::new(
                axum::http::StatusCode::CONFLICT,
                "not_ready",
                format!("{message}: fetch it first"),
            ),
            E::BadPreview(_) => Self::bad_request(message),
            E::BadRange { .. } => Self::new(
                axum::http::StatusCode::RANGE_NOT_SATISFIABLE,
                "bad_range",
                message,
            ),
            E::Stopped => Self::stopped(message),
            E::Group(e) => e.into(),
            _ => Self::internal(message),
        }
    }
}

/// Checks what an upload to `peer` names before a byte of it is read: the conversation, the
/// file's name, its preview and its kind. Returns the conversation.
pub(crate) async fn check_upload(
    node: &Node,
    peer: &str,
    query: &UploadQuery,
) -> Result<ChatId, ApiError> {
    let chat = chat_of(node, peer).await?;
    if query.name.trim().is_empty() {
        return Err(ApiError::bad_request("a file needs a name"));
    }
    preview(query)?;
    match query.kind.as_deref() {
        None | Some("voice") => Ok(chat),
        Some(other) => Err(ApiError::bad_request(format!(
            "`kind` is `voice` or absent, not {other:?}"
        ))),
    }
}

/// Sends the file `reader` yields to `peer` (a contact, or a group as `#name`), named and
/// described by `query`.
pub(crate) async fn send_file(
    node: &Node,
    peer: &str,
    query: UploadQuery,
    reader: impl Read + Send + 'static,
) -> Result<Sent, ApiError> {
    let chat = check_upload(node, peer, &query).await?;
    let (thumbnail, waveform) = preview(&query)?;
    let mut file = OutgoingFile::from_reader(query.name, reader);
    if let Some(thumbnail) = thumbnail {
        file = file.with_thumbnail(thumbnail);
    }
    if let Some(waveform) = waveform {
        file = file.with_waveform(waveform);
    }
    if let Some(mime) = query.mime {
        file = file.with_mime(mime);
    }
    if query.kind.as_deref() == Some("voice") {
        file = file.with_kind(AttachmentKind::Voice);
    }
    let caption = query.caption.unwrap_or_default();
    let id = node.send_attachment(chat, file, caption).await?;
    let peer = match chat {
        ChatId::Peer(user) => user.to_string(),
        ChatId::Group(group) => group.to_string(),
    };
    Ok(Sent {
        id: id.to_string(),
        peer,
        delivery: Delivery::Queued,
    })
}

/// The preview an upload asks to send: a thumbnail (an image, whose type and size are read
/// from its header, or a blurhash) and a waveform.
fn preview(query: &UploadQuery) -> Result<(Option<Thumbnail>, Option<Waveform>), ApiError> {
    use base64::Engine;
    let thumbnail = match (&query.thumbnail, &query.blurhash) {
        (Some(_), Some(_)) => {
            return Err(ApiError::bad_request("a thumbnail or a blurhash, not both"));
        }
        (Some(data), None) => {
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(data.trim())
                .map_err(|e| ApiError::bad_request(format!("thumbnail is not base64: {e}")))?;
            Some(thumbnail_image(bytes)?)
        }
        (None, Some(hash)) => Some(Thumbnail::Blurhash(hash.clone())),
        (None, None) => None,
    };
    let waveform = match (&query.waveform, query.duration_ms) {
        (Some(samples), Some(duration_ms)) => Some(Waveform {
            duration_ms,
            samples: samples
                .split(',')
                .map(|s| s.trim().parse::<u8>())
                .collect::<Result<_, _>>()
                .map_err(|_| {
                    ApiError::bad_request("waveform is samples from 0 to 255, comma-separated")
                })?,
        }),
        (None, None) => None,
        _ => {
            return Err(ApiError::bad_request(
                "waveform and duration_ms go together",
            ));
        }
    };
    Ok((thumbnail, waveform))
}

/// A thumbnail of `bytes`, a small JPEG, PNG, WebP or GIF: its type and size from its header.
fn thumbnail_image(bytes: Vec<u8>) -> Result<Thumbnail, ApiError> {
    let not_image = || ApiError::bad_request("the thumbnail is not a JPEG, PNG, WebP or GIF image");
    let mime = match imagesize::image_type(&bytes).map_err(|_| not_image())? {
        imagesize::ImageType::Jpeg => "image/jpeg",
        imagesize::ImageType::Png => "image/png",
        imagesize::ImageType::Webp => "image/webp",
        imagesize::ImageType::Gif => "image/gif",
        _ => return Err(not_image()),
    };
    let size = imagesize::blob_size(&bytes).map_err(|_| not_image())?;
    let (Ok(width), Ok(height)) = (u16::try_from(size.width), u16::try_from(size.height)) else {
        return Err(ApiError::bad_request("the thumbnail is too large"));
    };
    Ok(Thumbnail::Image {
        mime: mime.into(),
        width,
        height,
        bytes,
    })
}

/// The preview of the file of message `id` with `peer`.
pub(crate) async fn file_preview(
    node: &Node,
    peer: &str,
    id: &str,
) -> Result<PreviewView, ApiError> {
    let chat = chat_of(node, peer).await?;
    let id = message_id(node, chat, id, Pick::Any).await?;
    Ok(node.attachment_preview(chat, id).await?.into())
}

/// The files of every conversation, or of `peer`'s.
pub(crate) async fn files(node: &Node, peer: Option<&str>) -> Result<FilesPage, ApiError> {
    let chat = match peer {
        Some(peer) => Some(chat_of(node, peer).await?),
        None => None,
    };
    Ok(FilesPage {
        files: node
            .attachments(chat)
            .await?
            .into_iter()
            .map(Into::into)
            .collect(),
    })
}

/// The file of message `id` (a full id or a unique prefix) with `peer`.
pub(crate) async fn file(node: &Node, peer: &str, id: &str) -> Result<FileView, ApiError> {
    let chat = chat_of(node, peer).await?;
    let id = message_id(node, chat, id, Pick::Any).await?;
    node.attachments(Some(chat))
        .await?
        .into_iter()
        .find(|f| f.id == id)
        .map(Into::into)
        .ok_or_else(|| ApiError::not_found(format!("message {id} carries no file")))
}

/// Starts fetching the file of message `id` with `peer`.
pub(crate) async fn fetch_file(
    node: &Node,
    peer: &str,
    id: &str,
) -> Result<FetchStarted, ApiError> {
    let chat = chat_of(node, peer).await?;
    let id = message_id(node, chat, id, Pick::Any).await?;
    let state = node.fetch_attachment(chat, id).await?;
    Ok(FetchStarted {
        state: state_name(&state).0.into(),
    })
}

/// A chat's download rule as the API and `tern chats downloads` take it: `default` (`None`),
/// `never` (0), `always` (every file), or a size in bytes, kB, MB or GB (powers of 1,000).
pub(crate) fn download_rule(text: &str) -> Result<Option<u64>, ApiError> {
    let bad = || {
        ApiError::bad_request(format!(
            "auto_download is default, never, always or a size such as 50MB, not {text:?}"
        ))
    };
    let text = text.trim();
    let bytes = match text.to_ascii_lowercase().as_str() {
        "default" => return Ok(None),
        "never" => 0,
        "always" => tern_node::MAX_FILE_LEN,
        lower => {
            let split = lower
                .find(|c: char| !c.is_ascii_digit())
                .unwrap_or(lower.len());
            let (number, unit) = lower.split_at(split);
            let number: u64 = number.parse().map_err(|_| bad())?;
            let unit = match unit.trim() {
                "" | "b" => 1,
                "kb" => 1_000,
                "mb" => 1_000_000,
                "gb" => 1_000_000_000,
                _ => return Err(bad()),
            };
            number.saturating_mul(unit).min(tern_node::MAX_FILE_LEN)
        }
    };
    Ok(Some(bytes))
}

/// Bytes per piece of a download sent on.
const CHUNK: usize = 64 * 1024;

/// Opens the file of message `id` with `peer` for reading, with what the API shows of it:
/// the verified file, or one still arriving.
pub(crate) async fn open_file(
    node: &Node,
    peer: &str,
    id: &str,
) -> Result<(AttachmentView, Opened), ApiError> {
    let view = file(node, peer, id).await?;
    let chat = chat_of(node, peer).await?;
    let id: MessageId = view
        .id
        .parse()
        .map_err(|_| ApiError::internal("a listed id does not parse".into()))?;
    match node.open_attachment(chat, id).await {
        Ok(reader) => Ok((view.file, Opened::Ready(reader))),
        Err(AttachmentError::NotReady) if view.file.state == "fetching" => {
            Ok((view.file, Opened::Arriving { chat, id }))
        }
        Err(e) => Err(e.into()),
    }
}

/// A file opened for download.
pub(crate) enum Opened {
    /// Here and verified in full.
    Ready(AttachmentReader),
    /// Still arriving: [`stream_arriving`] hands it out as it verifies.
    Arriving { chat: ChatId, id: MessageId },
}

/// How long a download of a file that is still arriving waits for more of it to verify
/// before it gives up (the sender may have gone offline for hours).
const ARRIVAL_WAIT: Duration = Duration::from_secs(60);
/// Bytes of an arriving file handed out at a time: each piece as soon as all of it verified.
const PIECE: u64 = 1024 * 1024;

/// Sends plaintext bytes `range` of the file of message `id`, which is still arriving, to
/// `out` in the order of the file, each piece as soon as it verified against the file's
/// root: a player starts before the rest arrives. Ends with an error when the fetch fails
/// or nothing more verified for [`ARRIVAL_WAIT`].
pub(crate) async fn stream_arriving(
    node: Node,
    (chat, id): (ChatId, MessageId),
    range: Range<u64>,
    out: mpsc::Sender<io::Result<Vec<u8>>>,
) {
    let mut events = node.events(tern_node::From::Now);
    let mut pos = range.start;
    let mut waiting_since = Instant::now();
    while pos < range.end {
        let piece = pos..(pos + PIECE).min(range.end);
        let error = match node.open_attachment_range(chat, id, piece.clone()).await {
            Ok(mut reader) => {
                let read = tokio::task::spawn_blocking(move || {
                    let mut bytes = Vec::new();
                    reader.read_to_end(&mut bytes).map(|_| bytes)
                });
                match read.await.map_err(io::Error::other).and_then(|r| r) {
                    Ok(bytes) => {
                        for chunk in bytes.chunks(CHUNK) {
                            if out.send(Ok(chunk.to_vec())).await.is_err() {
                                return;
                            }
                        }
                        pos = piece.end;
                        waiting_since = Instant::now();
                        continue;
                    }
                    Err(e) => e,
                }
            }
            Err(AttachmentError::NotReady) if waiting_since.elapsed() < ARRIVAL_WAIT => {
                // Until more of this file verified (a second at most, should a report
                // have been missed).
                let more = async {
                    while let Some((_, event)) = events.next().await {
                        let changed = match event {
                            Event::AttachmentProgress { id: i, .. } if i == id => None,
                            Event::AttachmentChanged { id: i, state, .. } if i == id => Some(state),
                            Event::Group {
                                event: GroupEvent::AttachmentProgress { id: i, .. },
                                ..
                            } if i == id => None,
                            Event::Group {
                                event: GroupEvent::AttachmentChanged { id: i, state },
                                ..
                            } if i == id => Some(state),
                            _ => continue,
                        };
                        return match changed {
                            Some(AttachmentState::Failed { reason }) => Some(reason),
                            _ => None,
                        };
                    }
                    None
                };
                match tokio::time::timeout(Duration::from_secs(1), more).await {
                    Ok(Some(reason)) => io::Error::other(reason),
                    _ => continue,
                }
            }
            Err(AttachmentError::NotReady) => {
                io::Error::new(io::ErrorKind::TimedOut, "the file stopped arriving")
            }
            Err(e) => io::Error::other(e),
        };
        let _ = out.send(Err(error)).await;
        return;
    }
}

#[cfg(test)]
mod tests {
    use super::download_rule;

    #[test]
    fn download_rules_are_words_or_sizes() {
        let rule = |text| download_rule(text).ok();
        assert_eq!(rule("default"), Some(None));
        assert_eq!(rule("never"), Some(Some(0)));
        assert_eq!(rule("Always"), Some(Some(tern_node::MAX_FILE_LEN)));
        assert_eq!(rule("2MB"), Some(Some(2_000_000)));
        assert_eq!(rule("500 kB"), Some(Some(500_000)));
        assert_eq!(rule("1234"), Some(Some(1234)));
        assert_eq!(rule("5GB"), Some(Some(tern_node::MAX_FILE_LEN)));
        for bad in ["", "lots", "2XB", "-1", "MB"] {
            assert_eq!(rule(bad), None, "{bad:?}");
        }
    }
}
