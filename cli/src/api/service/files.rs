//! Files: sending, listing, fetching, opening and saving them.

use std::io::Read;

use tern_node::{AttachmentKind, AttachmentReader, MessageId, Node, OutgoingFile};

use super::{Pick, message_id, resolve};
use crate::api::model::{
    ApiError, AttachmentView, Delivery, FetchStarted, FileView, FilesPage, Sent, UploadQuery,
    state_name,
};

impl From<tern_node::AttachmentError> for ApiError {
    fn from(e: tern_node::AttachmentError) -> Self {
        use tern_node::AttachmentError as E;
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
            E::Stopped => Self::stopped(message),
            _ => Self::internal(message),
        }
    }
}

/// Sends the file `reader` yields to `peer`, named and described by `query`.
pub(crate) async fn send_file(
    node: &Node,
    peer: &str,
    query: UploadQuery,
    reader: impl Read + Send + 'static,
) -> Result<Sent, ApiError> {
    let user = resolve(node, peer).await?;
    if query.name.trim().is_empty() {
        return Err(ApiError::bad_request("a file needs a name"));
    }
    let mut file = OutgoingFile::from_reader(query.name, reader);
    if let Some(mime) = query.mime {
        file = file.with_mime(mime);
    }
    match query.kind.as_deref() {
        None => {}
        Some("voice") => file = file.with_kind(AttachmentKind::Voice),
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "`kind` is `voice` or absent, not {other:?}"
            )));
        }
    }
    let id = node
        .send_attachment(user, file, query.caption.unwrap_or_default())
        .await?;
    Ok(Sent {
        id: id.to_string(),
        peer: user.to_string(),
        delivery: Delivery::Queued,
    })
}

/// The files of every conversation, or of `peer`'s.
pub(crate) async fn files(node: &Node, peer: Option<&str>) -> Result<FilesPage, ApiError> {
    let user = match peer {
        Some(peer) => Some(resolve(node, peer).await?),
        None => None,
    };
    Ok(FilesPage {
        files: node
            .attachments(user)
            .await?
            .into_iter()
            .map(Into::into)
            .collect(),
    })
}

/// The file of message `id` (a full id or a unique prefix) with `peer`.
pub(crate) async fn file(node: &Node, peer: &str, id: &str) -> Result<FileView, ApiError> {
    let user = resolve(node, peer).await?;
    let id = message_id(node, user, id, Pick::Any).await?;
    node.attachments(Some(user))
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
    let user = resolve(node, peer).await?;
    let id = message_id(node, user, id, Pick::Any).await?;
    let state = node.fetch_attachment(user, id).await?;
    Ok(FetchStarted {
        state: state_name(&state).0.into(),
    })
}

/// Opens the file of message `id` with `peer` for reading, with what the API shows of it.
pub(crate) async fn open_file(
    node: &Node,
    peer: &str,
    id: &str,
) -> Result<(AttachmentView, AttachmentReader), ApiError> {
    let view = file(node, peer, id).await?;
    let user = resolve(node, peer).await?;
    let id: MessageId = view
        .id
        .parse()
        .map_err(|_| ApiError::internal("a listed id does not parse".into()))?;
    let reader = node.open_attachment(user, id).await?;
    Ok((view.file, reader))
}
