//! The client's file calls: uploads and downloads stream, and report their progress.

use std::{path::Path, time::Duration};

use futures::StreamExt;
use reqwest::Method;
use tokio::io::AsyncWriteExt;
use tokio_util::io::ReaderStream;

use super::{CallError, Client, escape};
use crate::api::model::{FetchStarted, FilesPage, Sent, UploadQuery};

/// How long an upload or download may take in all: the largest file over loopback, with
/// room for a slow disk.
const TRANSFER_TIMEOUT: Duration = Duration::from_secs(30 * 60);

impl Client {
    /// Sends the file at `path` to `to`, named, captioned and previewed as `upload` says,
    /// reporting bytes uploaded.
    pub(crate) async fn send_file(
        &self,
        to: &str,
        path: &Path,
        upload: &UploadQuery,
        progress: impl Fn(u64) + Send + Sync + 'static,
    ) -> Result<Sent, CallError> {
        let file = tokio::fs::File::open(path)
            .await
            .map_err(|e| self.local(&e))?;
        let mut query = vec![("name", upload.name.clone())];
        for (key, value) in [
            ("caption", &upload.caption),
            ("thumbnail", &upload.thumbnail),
            ("blurhash", &upload.blurhash),
        ] {
            if let Some(value) = value.as_ref().filter(|v| !v.is_empty()) {
                query.push((key, value.clone()));
            }
        }
        let (url, authorization) = self.signed(
            &Method::POST,
            &format!("/v1/chats/{}/files", escape(to)),
            &query,
        )?;
        let mut sent = 0u64;
        let stream = ReaderStream::new(file).map(move |chunk| {
            if let Ok(chunk) = &chunk {
                sent += chunk.len() as u64;
                progress(sent);
            }
            chunk
        });
        let response = self
            .http
            .post(url)
            .header(reqwest::header::AUTHORIZATION, authorization)
            .header(reqwest::header::CONTENT_TYPE, "application/octet-stream")
            .timeout(TRANSFER_TIMEOUT)
            .body(reqwest::Body::wrap_stream(stream))
            .send()
            .await
            .map_err(|e| self.unreachable(&e))?;
        self.answer(response).await
    }

    /// The files of every conversation, or of `peer`'s.
    pub(crate) async fn files(&self, peer: Option<&str>) -> Result<FilesPage, CallError> {
        let query: Vec<_> = peer.map(|p| ("peer", p.to_owned())).into_iter().collect();
        self.call::<(), _>(Method::GET, "/v1/files", &query, None)
            .await
    }

    /// Starts fetching the file of message `id` with `peer`.
    pub(crate) async fn fetch_file(&self, peer: &str, id: &str) -> Result<FetchStarted, CallError> {
        self.call::<(), _>(
            Method::POST,
            &format!(
                "/v1/chats/{}/messages/{}/file/fetch",
                escape(peer),
                escape(id)
            ),
            &[],
            None,
        )
        .await
    }

    /// Downloads the file of message `id` with `peer` to `out`, reporting bytes written.
    pub(crate) async fn download_file(
        &self,
        peer: &str,
        id: &str,
        out: &mut tokio::fs::File,
        progress: impl Fn(u64),
    ) -> Result<u64, CallError> {
        let (url, authorization) = self.signed(
            &Method::GET,
            &format!("/v1/chats/{}/messages/{}/file", escape(peer), escape(id)),
            &[],
        )?;
        let response = self
            .http
            .get(url)
            .header(reqwest::header::AUTHORIZATION, authorization)
            .timeout(TRANSFER_TIMEOUT)
            .send()
            .await
            .map_err(|e| self.unreachable(&e))?;
        if !response.status().is_success() {
            return self.answer::<u64>(response).await;
        }
        let mut written = 0u64;
        let mut body = response.bytes_stream();
        while let Some(chunk) = body.next().await {
            let chunk = chunk.map_err(|e| self.unreachable(&e))?;
            out.write_all(&chunk).await.map_err(|e| self.local(&e))?;
            written += chunk.len() as u64;
            progress(written);
        }
        out.flush().await.map_err(|e| self.local(&e))?;
        Ok(written)
    }

    fn local(&self, e: &std::io::Error) -> CallError {
        CallError::Api(crate::api::model::ApiError::bad_request(e.to_string()))
    }
}
