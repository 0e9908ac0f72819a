//! The routes that change messages and conversations: edits, deletes, reactions, edit
//! history, search, chat settings and the profile.

use axum::{
    Json,
    extract::{Path, Query, State, rejection::QueryRejection},
};

use super::{AppState, Body, parse_json, query};
use crate::api::{
    model::{
        ApiError, Changed, ChatSettingsRequest, ChatView, DeleteQuery, EditRequest, EditView,
        ErrorBody, ProfileSet, ProfileView, ReactionRequest, SearchQuery, SearchResults,
        SharingView, TypingRequest, TypingSent,
    },
    service,
};

/// Edit one of our messages, within 24 hours of sending it. `{id}` is the message id, a
/// unique prefix of at least 4 hex digits, or `last` (our newest message).
#[utoipa::path(
    patch, path = "/v1/chats/{peer}/messages/{id}", tag = "messages",
    params(
        ("peer" = String, Path, description = "Contact name or address"),
        ("id" = String, Path, description = "Message id, unique prefix, or `last`"),
    ),
    request_body = EditRequest,
    responses(
        (status = 200, description = "The edit is durable and on its way", body = Changed),
        (status = 400, description = "Malformed JSON, empty text or id", body = ErrorBody),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 403, description = "Not our message", body = ErrorBody),
        (status = 404, description = "Unknown contact or message", body = ErrorBody),
        (status = 409, description = "Past the 24-hour window, or deleted", body = ErrorBody),
        (status = 413, description = "Text too large", body = ErrorBody),
    )
)]
pub(super) async fn edit_message(
    State(state): State<AppState>,
    Path((peer, id)): Path<(String, String)>,
    body: Body,
) -> Result<Json<Changed>, ApiError> {
    let edit: EditRequest = parse_json(body)?;
    Ok(Json(
        service::edit(&state.node, &peer, &id, edit.text).await?,
    ))
}

/// Delete a message: `?for=everyone` (the default; our own message within 24 hours becomes
/// a tombstone on every device) or `?for=me` (any message, from this device only). The text
/// is erased from the database files.
#[utoipa::path(
    delete, path = "/v1/chats/{peer}/messages/{id}", tag = "messages",
    params(
        ("peer" = String, Path, description = "Contact name or address"),
        ("id" = String, Path, description = "Message id, unique prefix, or `last`"),
        DeleteQuery,
    ),
    responses(
        (status = 200, description = "Deleted", body = Changed),
        (status = 400, description = "Malformed id or `for`", body = ErrorBody),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 403, description = "Not our message (for everyone)", body = ErrorBody),
        (status = 404, description = "Unknown contact or message", body = ErrorBody),
        (status = 409, description = "Past the 24-hour window, or deleted", body = ErrorBody),
    )
)]
pub(super) async fn delete_message(
    State(state): State<AppState>,
    Path((peer, id)): Path<(String, String)>,
    params: Result<Query<DeleteQuery>, QueryRejection>,
) -> Result<Json<Changed>, ApiError> {
    let for_everyone = match query(params)?.scope.as_deref() {
        None | Some("everyone") => true,
        Some("me") => false,
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "`for` is `everyone` or `me`, not {other:?}"
            )));
        }
    };
    Ok(Json(
        service::delete_message(&state.node, &peer, &id, for_everyone).await?,
    ))
}

/// React to a message with one emoji, replacing our earlier reaction.
#[utoipa::path(
    put, path = "/v1/chats/{peer}/messages/{id}/reaction", tag = "messages",
    params(
        ("peer" = String, Path, description = "Contact name or address"),
        ("id" = String, Path, description = "Message id, unique prefix, or `last`"),
    ),
    request_body = ReactionRequest,
    responses(
        (status = 200, description = "The reaction is durable and on its way", body = Changed),
        (status = 400, description = "Malformed JSON, or not one emoji", body = ErrorBody),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 404, description = "Unknown contact or message", body = ErrorBody),
        (status = 409, description = "The message was deleted", body = ErrorBody),
    )
)]
pub(super) async fn set_reaction(
    State(state): State<AppState>,
    Path((peer, id)): Path<(String, String)>,
    body: Body,
) -> Result<Json<Changed>, ApiError> {
    let reaction: ReactionRequest = parse_json(body)?;
    if reaction.emoji.is_empty() {
        return Err(ApiError::bad_request(
            "an empty emoji: DELETE the reaction to take it back",
        ));
    }
    Ok(Json(
        service::react(&state.node, &peer, &id, reaction.emoji).await?,
    ))
}

/// Take back our reaction to a message.
#[utoipa::path(
    delete, path = "/v1/chats/{peer}/messages/{id}/reaction", tag = "messages",
    params(
        ("peer" = String, Path, description = "Contact name or address"),
        ("id" = String, Path, description = "Message id, unique prefix, or `last`"),
    ),
    responses(
        (status = 200, description = "Taken back", body = Changed),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 404, description = "Unknown contact or message", body = ErrorBody),
    )
)]
pub(super) async fn remove_reaction(
    State(state): State<AppState>,
    Path((peer, id)): Path<(String, String)>,
) -> Result<Json<Changed>, ApiError> {
    Ok(Json(
        service::react(&state.node, &peer, &id, String::new()).await?,
    ))
}

/// Every version of a message, oldest first (one for a message never edited).
#[utoipa::path(
    get, path = "/v1/chats/{peer}/messages/{id}/edits", tag = "messages",
    params(
        ("peer" = String, Path, description = "Contact name or address"),
        ("id" = String, Path, description = "Message id, unique prefix, or `last`"),
    ),
    responses(
        (status = 200, description = "The versions", body = Vec<EditView>),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 404, description = "Unknown contact or message", body = ErrorBody),
    )
)]
pub(super) async fn edit_history(
    State(state): State<AppState>,
    Path((peer, id)): Path<(String, String)>,
) -> Result<Json<Vec<EditView>>, ApiError> {
    Ok(Json(service::edit_history(&state.node, &peer, &id).await?))
}

/// Search this device's history, 1:1 chats and groups: messages holding every word of `q` in
/// their text or a file's name (the last may be the start of a word; case and accents do not
/// matter), newest first, paged with `after`; `peer` limits it to one chat.
#[utoipa::path(
    get, path = "/v1/search", tag = "messages",
    params(SearchQuery),
    responses(
        (status = 200, description = "A page of results", body = SearchResults),
        (status = 400, description = "Malformed parameters or cursor", body = ErrorBody),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 404, description = "Unknown contact or group", body = ErrorBody),
    )
)]
pub(super) async fn search(
    State(state): State<AppState>,
    params: Result<Query<SearchQuery>, QueryRejection>,
) -> Result<Json<SearchResults>, ApiError> {
    Ok(Json(service::search(&state.node, query(params)?).await?))
}

/// Mute, archive or pin a conversation (or undo it); absent fields stay as they are.
#[utoipa::path(
    patch, path = "/v1/chats/{peer}", tag = "chats",
    params(("peer" = String, Path, description = "Contact name or address")),
    request_body = ChatSettingsRequest,
    responses(
        (status = 200, description = "The chat with its settings", body = ChatView),
        (status = 400, description = "Malformed JSON or fields", body = ErrorBody),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 404, description = "Unknown contact, or no conversation", body = ErrorBody),
    )
)]
pub(super) async fn set_chat(
    State(state): State<AppState>,
    Path(peer): Path<String>,
    body: Body,
) -> Result<Json<ChatView>, ApiError> {
    let settings: ChatSettingsRequest = parse_json(body)?;
    Ok(Json(service::set_chat(&state.node, &peer, settings).await?))
}

/// The profile this account shares with its contacts; 404 until one is set.
#[utoipa::path(
    get, path = "/v1/profile", tag = "node",
    responses(
        (status = 200, description = "Our profile", body = ProfileView),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 404, description = "No profile set yet", body = ErrorBody),
    )
)]
pub(super) async fn get_profile(
    State(state): State<AppState>,
) -> Result<Json<ProfileView>, ApiError> {
    Ok(Json(service::profile(&state.node).await?))
}

/// Set the profile this account shares: it goes, end to end encrypted, to every contact and
/// accepted chat (through relays to those offline), to new contacts, and to no one else.
#[utoipa::path(
    put, path = "/v1/profile", tag = "node",
    request_body = ProfileView,
    responses(
        (status = 200, description = "The profile, and how many it went to", body = ProfileSet),
        (status = 400, description = "Empty or oversized name, or control characters", body = ErrorBody),
        (status = 401, description = "No valid token", body = ErrorBody),
    )
)]
pub(super) async fn set_profile(
    State(state): State<AppState>,
    body: Body,
) -> Result<Json<ProfileSet>, ApiError> {
    let profile: ProfileView = parse_json(body)?;
    Ok(Json(service::set_profile(&state.node, profile).await?))
}

/// What this account shares with its contacts while online: typing and presence.
#[utoipa::path(
    get, path = "/v1/sharing", tag = "node",
    responses(
        (status = 200, description = "What is shared", body = SharingView),
        (status = 401, description = "No valid token", body = ErrorBody),
    )
)]
pub(super) async fn get_sharing(
    State(state): State<AppState>,
) -> Result<Json<SharingView>, ApiError> {
    Ok(Json(state.node.sharing().await?.into()))
}

/// Choose what this account shares while online. Both are off until turned on, and
/// reciprocal: turning one off also hides the contacts'.
#[utoipa::path(
    put, path = "/v1/sharing", tag = "node",
    request_body = SharingView,
    responses(
        (status = 200, description = "What is shared now", body = SharingView),
        (status = 400, description = "Malformed JSON", body = ErrorBody),
        (status = 401, description = "No valid token", body = ErrorBody),
    )
)]
pub(super) async fn set_sharing(
    State(state): State<AppState>,
    body: Body,
) -> Result<Json<SharingView>, ApiError> {
    let sharing: SharingView = parse_json(body)?;
    Ok(Json(state.node.set_sharing(sharing.into()).await?.into()))
}

/// The user is typing in the open chat with `peer`, or stopped: call it on every key press.
/// At most one signal per 3 s goes out, only when typing is shared, and only over an open
/// direct connection (never through relays, never stored).
#[utoipa::path(
    post, path = "/v1/chats/{peer}/typing", tag = "chats",
    params(("peer" = String, Path, description = "Contact name or address")),
    request_body = TypingRequest,
    responses(
        (status = 200, description = "Whether a signal went out", body = TypingSent),
        (status = 400, description = "Malformed JSON", body = ErrorBody),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 404, description = "Unknown contact", body = ErrorBody),
    )
)]
pub(super) async fn typing(
    State(state): State<AppState>,
    Path(peer): Path<String>,
    body: Body,
) -> Result<Json<TypingSent>, ApiError> {
    let request: TypingRequest = parse_json(body)?;
    let user = service::resolve(&state.node, &peer).await?;
    let sent = state.node.typing(user, request.active).await?;
    Ok(Json(TypingSent { sent }))
}
