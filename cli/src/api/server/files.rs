//! The routes for files: upload (the request body is the file, streamed), list, fetch, and
//! download with HTTP range requests.

use std::io::{Read, Seek, SeekFrom};

use axum::{
    Json,
    body::Body as HttpBody,
    extract::{Path, Query, State, rejection::QueryRejection},
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use futures::StreamExt;
use tokio_util::io::{StreamReader, SyncIoBridge};

use super::{AppState, query};
use crate::api::{
    model::{
        ApiError, ErrorBody, FetchStarted, FilesPage, FilesQuery, PreviewView, Sent, UploadQuery,
    },
    service,
};

/// The largest upload: a 100 MB document (the largest file Tern sends).
const MAX_UPLOAD: u64 = 100_000_000;
/// Bytes per chunk of a download.
const CHUNK: usize = 64 * 1024;

/// Send a file: the request body is the file itself (`application/octet-stream`, streamed,
/// at most 100 MB). Files up to 200 KiB travel inside the message; larger ones are
/// encrypted into this device's store and fetched by the recipient, or, for a group,
/// uploaded once to the group's relays, which every member reads. Returns once the message
/// is durable.
#[utoipa::path(
    post, path = "/v1/chats/{peer}/files", tag = "files",
    params(("peer" = String, Path, description = "Contact name or address, or a group: `#name` (as %23name) or its id"), UploadQuery),
    request_body(content = Vec<u8>, content_type = "application/octet-stream"),
    responses(
        (status = 200, description = "The message is durable and on its way", body = Sent),
        (status = 400, description = "No name, a bad kind, or an unreadable body", body = ErrorBody),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 404, description = "Unknown contact or group", body = ErrorBody),
        (status = 409, description = "The recipient is blocked, or we are not in the group", body = ErrorBody),
        (status = 413, description = "Over 100 MB (16 MB for media is sent as a document)", body = ErrorBody),
    )
)]
pub(super) async fn send_file(
    State(state): State<AppState>,
    Path(peer): Path<String>,
    params: Result<Query<UploadQuery>, QueryRejection>,
    body: HttpBody,
) -> Result<Json<Sent>, ApiError> {
    // A request refused for what it names (an unknown contact or group, a bad name or
    // preview) is refused before the file is read, and the file is read to its end first
    // (up to the limit): a client still sending would otherwise see the connection reset
    // instead of the answer.
    let checked = match query(params) {
        Ok(upload) => service::check_upload(&state.node, &peer, &upload)
            .await
            .map(|_| upload),
        Err(e) => Err(e),
    };
    let upload = match checked {
        Ok(upload) => upload,
        Err(e) => {
            let mut stream = body.into_data_stream();
            let mut read = 0u64;
            while read <= MAX_UPLOAD
                && let Some(Ok(chunk)) = stream.next().await
            {
                read += chunk.len() as u64;
            }
            return Err(e);
        }
    };
    // One chunk past the limit is enough to refuse it; the rest is never read.
    let over = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let flag = over.clone();
    let mut seen = 0u64;
    let stream = body.into_data_stream().map(move |chunk| {
        let chunk = chunk.map_err(std::io::Error::other)?;
        seen += chunk.len() as u64;
        if seen > MAX_UPLOAD {
            flag.store(true, std::sync::atomic::Ordering::Relaxed);
            return Err(std::io::Error::other("the file is larger than 100 MB"));
        }
        Ok(chunk)
    });
    let reader = SyncIoBridge::new(StreamReader::new(Box::pin(stream)));
    match service::send_file(&state.node, &peer, upload, reader).await {
        Ok(sent) => Ok(Json(sent)),
        Err(_) if over.load(std::sync::atomic::Ordering::Relaxed) => Err(ApiError::too_large(
            format!("the file is larger than {MAX_UPLOAD} bytes, the most Tern sends"),
        )),
        Err(e) => Err(e),
    }
}

/// The files of every conversation (or of `peer`'s), newest first, at most 1,000.
#[utoipa::path(
    get, path = "/v1/files", tag = "files",
    params(FilesQuery),
    responses(
        (status = 200, description = "The files", body = FilesPage),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 404, description = "Unknown contact or group", body = ErrorBody),
    )
)]
pub(super) async fn list_files(
    State(state): State<AppState>,
    params: Result<Query<FilesQuery>, QueryRejection>,
) -> Result<Json<FilesPage>, ApiError> {
    let filter = query(params)?;
    Ok(Json(
        service::files(&state.node, filter.peer.as_deref()).await?,
    ))
}

/// Fetch a file that was not fetched by itself (larger than the auto-download limit, from a
/// message request) or whose fetch failed. Progress and the end come as events.
#[utoipa::path(
    post, path = "/v1/chats/{peer}/messages/{id}/file/fetch", tag = "files",
    params(
        ("peer" = String, Path, description = "Contact name or address, or a group: `#name` (as %23name) or its id"),
        ("id" = String, Path, description = "Message id or unique prefix"),
    ),
    responses(
        (status = 200, description = "Fetching, or already here", body = FetchStarted),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 404, description = "Unknown contact, group or message, or no file", body = ErrorBody),
    )
)]
pub(super) async fn fetch_file(
    State(state): State<AppState>,
    Path((peer, id)): Path<(String, String)>,
) -> Result<Json<FetchStarted>, ApiError> {
    Ok(Json(service::fetch_file(&state.node, &peer, &id).await?))
}

/// The preview the sender put in the message of a file: a thumbnail or blurhash and a
/// voice note's waveform, here as soon as the message is (the file may not be).
#[utoipa::path(
    get, path = "/v1/chats/{peer}/messages/{id}/file/preview", tag = "files",
    params(
        ("peer" = String, Path, description = "Contact name or address, or a group: `#name` (as %23name) or its id"),
        ("id" = String, Path, description = "Message id or unique prefix"),
    ),
    responses(
        (status = 200, description = "The preview; empty when the sender sent none", body = PreviewView),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 404, description = "Unknown contact, group or message, or no file", body = ErrorBody),
    )
)]
pub(super) async fn file_preview(
    State(state): State<AppState>,
    Path((peer, id)): Path<(String, String)>,
) -> Result<Json<PreviewView>, ApiError> {
    Ok(Json(service::file_preview(&state.node, &peer, &id).await?))
}

/// Download a file, decrypted. Supports one byte range (`Range: bytes=a-b`, `bytes=a-`,
/// `bytes=-n`), answered with 206. A file still being fetched streams as it arrives: each
/// piece is sent once it verified against the file's root, so a player can start at once;
/// the response breaks off if the fetch fails or nothing more arrives for 60 s.
#[utoipa::path(
    get, path = "/v1/chats/{peer}/messages/{id}/file", tag = "files",
    params(
        ("peer" = String, Path, description = "Contact name or address, or a group: `#name` (as %23name) or its id"),
        ("id" = String, Path, description = "Message id or unique prefix"),
        ("Range" = Option<String>, Header, description = "One byte range"),
    ),
    responses(
        (status = 200, description = "The whole file", content_type = "application/octet-stream"),
        (status = 206, description = "The range asked for", content_type = "application/octet-stream"),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 404, description = "Unknown contact, group or message, or no file", body = ErrorBody),
        (status = 409, description = "The file is not here and not being fetched: fetch it first", body = ErrorBody),
        (status = 416, description = "The range lies outside the file", body = ErrorBody),
    )
)]
pub(super) async fn download_file(
    State(state): State<AppState>,
    Path((peer, id)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let (view, opened) = service::open_file(&state.node, &peer, &id).await?;
    let len = view.size;
    let range = match headers.get(header::RANGE).and_then(|v| v.to_str().ok()) {
        None => None,
        Some(text) => Some(parse_range(text, len).ok_or_else(|| {
            ApiError::new(
                StatusCode::RANGE_NOT_SATISFIABLE,
                "bad_range",
                format!("{text:?} is not one satisfiable byte range of a {len}-byte file"),
            )
        })?),
    };
    let (start, end) = range.unwrap_or((0, len));
    let (tx, rx) = tokio::sync::mpsc::channel::<std::io::Result<Vec<u8>>>(4);
    let mut reader = match opened {
        service::Opened::Ready(reader) => reader,
        service::Opened::Arriving { chat, id } => {
            let node = state.node.clone();
            tokio::spawn(service::stream_arriving(node, (chat, id), start..end, tx));
            return Ok(download_response(
                rx,
                &view,
                (start, end, len),
                range.is_some(),
            ));
        }
    };
    tokio::task::spawn_blocking(move || {
        if let Err(e) = reader.seek(SeekFrom::Start(start)) {
            let _ = tx.blocking_send(Err(e));
            return;
        }
        let mut left = end - start;
        while left > 0 {
            let mut chunk = vec![0u8; CHUNK.min(usize::try_from(left).unwrap_or(CHUNK))];
            match reader.read(&mut chunk) {
                Ok(0) => break,
                Ok(n) => {
                    chunk.truncate(n);
                    left -= n as u64;
                    if tx.blocking_send(Ok(chunk)).is_err() {
                        break;
                    }
                }
                Err(e) => {
                    let _ = tx.blocking_send(Err(e));
                    break;
                }
            }
        }
    });
    Ok(download_response(
        rx,
        &view,
        (start, end, len),
        range.is_some(),
    ))
}

/// The response carrying bytes `start..end` of a `len`-byte file as `rx` yields them.
fn download_response(
    rx: tokio::sync::mpsc::Receiver<std::io::Result<Vec<u8>>>,
    view: &crate::api::model::AttachmentView,
    (start, end, len): (u64, u64, u64),
    ranged: bool,
) -> Response {
    let stream = futures::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|item| (item, rx))
    });
    let mut response = HttpBody::from_stream(stream).into_response();
    let headers = response.headers_mut();
    let content_type = HeaderValue::from_str(&view.mime)
        .unwrap_or(HeaderValue::from_static("application/octet-stream"));
    headers.insert(header::CONTENT_TYPE, content_type);
    headers.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    headers.insert(header::CONTENT_LENGTH, HeaderValue::from(end - start));
    if let Ok(disposition) = HeaderValue::from_str(&format!(
        "attachment; filename=\"{}\"",
        view.name.replace(['"', '\\'], "_")
    )) {
        headers.insert(header::CONTENT_DISPOSITION, disposition);
    }
    if ranged {
        *response.status_mut() = StatusCode::PARTIAL_CONTENT;
        if let Ok(value) = HeaderValue::from_str(&format!("bytes {start}-{}/{len}", end - 1)) {
            response.headers_mut().insert(header::CONTENT_RANGE, value);
        }
    }
    response
}

/// One byte range of a `len`-byte file as `start..end`, or `None` when it is malformed,
/// names several ranges or lies outside the file.
fn parse_range(text: &str, len: u64) -> Option<(u64, u64)> {
    let spec = text.trim().strip_prefix("bytes=")?;
    if spec.contains(',') {
        return None;
    }
    let (first, last) = spec.split_once('-')?;
    let (start, end) = match (first.trim(), last.trim()) {
        ("", suffix) => {
            let n: u64 = suffix.parse().ok()?;
            (len.saturating_sub(n), len)
        }
        (first, "") => (first.parse().ok()?, len),
        (first, last) => {
            let last: u64 = last.parse().ok()?;
            (first.parse().ok()?, last.saturating_add(1).min(len))
        }
    };
    (start < end && end <= len).then_some((start, end))
}

#[cfg(test)]
mod tests {
    use super::parse_range;

    #[test]
    fn ranges_are_one_satisfiable_byte_range() {
        assert_eq!(parse_range("bytes=0-99", 1000), Some((0, 100)));
        assert_eq!(parse_range("bytes=900-", 1000), Some((900, 1000)));
        assert_eq!(parse_range("bytes=-10", 1000), Some((990, 1000)));
        assert_eq!(parse_range("bytes=990-5000", 1000), Some((990, 1000)));
        assert_eq!(parse_range("bytes=1000-", 1000), None);
        assert_eq!(parse_range("bytes=5-4", 1000), None);
        assert_eq!(parse_range("bytes=0-1,5-6", 1000), None);
        assert_eq!(parse_range("items=0-1", 1000), None);
        assert_eq!(parse_range("bytes=x-1", 1000), None);
    }
}
