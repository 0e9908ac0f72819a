//! The group routes: create, list and change groups, their members and their messages.
//! `{group}` is `#name` (URL-encoded: `%23name`) or the group's id or a unique prefix of at
//! least 4 hex digits.

use axum::{
    Json,
    extract::{Path, Query, State, rejection::QueryRejection},
    http::StatusCode,
};

use super::{AppState, Body, parse_json, query};
use crate::api::{
    model::{
        ApiError, ErrorBody, GroupChange, GroupMessageView, GroupMessagesQuery, GroupSent,
        GroupText, GroupView, Marked, MembersRequest, NewGroup,
    },
    service,
};

/// The groups we are or were in.
#[utoipa::path(
    get, path = "/v1/groups", tag = "groups",
    responses(
        (status = 200, description = "Every group, by name", body = Vec<GroupView>),
        (status = 401, description = "No valid token", body = ErrorBody),
    )
)]
pub(super) async fn list_groups(
    State(state): State<AppState>,
) -> Result<Json<Vec<GroupView>>, ApiError> {
    Ok(Json(service::groups(&state.node).await?))
}

/// Create a group with us as its admin, and add contacts to it. Its log is kept by our
/// mailbox relays. Members whose key package we do not hold yet are added when they send
/// one (a `group` event of kind `add_waiting` says so).
#[utoipa::path(
    post, path = "/v1/groups", tag = "groups",
    request_body = NewGroup,
    responses(
        (status = 201, description = "Created", body = GroupView),
        (status = 400, description = "Malformed JSON or name", body = ErrorBody),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 404, description = "Unknown contact", body = ErrorBody),
        (status = 503, description = "No relay to keep the group's log yet", body = ErrorBody),
    )
)]
pub(super) async fn create_group(
    State(state): State<AppState>,
    body: Body,
) -> Result<(StatusCode, Json<GroupView>), ApiError> {
    let new: NewGroup = parse_json(body)?;
    Ok((
        StatusCode::CREATED,
        Json(service::create_group(&state.node, new).await?),
    ))
}

/// One group: name, epoch, members and admins.
#[utoipa::path(
    get, path = "/v1/groups/{group}", tag = "groups",
    params(("group" = String, Path, description = "`#name`, id, or id prefix")),
    responses(
        (status = 200, description = "The group", body = GroupView),
        (status = 400, description = "Ambiguous or malformed group", body = ErrorBody),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 404, description = "No such group", body = ErrorBody),
    )
)]
pub(super) async fn get_group(
    State(state): State<AppState>,
    Path(group): Path<String>,
) -> Result<Json<GroupView>, ApiError> {
    Ok(Json(service::group(&state.node, &group).await?))
}

/// Rename a group, promote or demote an admin, or move its log to other relays (admins
/// only), set its disappearing-message timer (any member), or set this node's rule for
/// fetching its files: exactly one of `name`, `promote`, `demote`, `relays`,
/// `disappear_secs`, `auto_download`.
#[utoipa::path(
    patch, path = "/v1/groups/{group}", tag = "groups",
    params(("group" = String, Path, description = "`#name`, id, or id prefix")),
    request_body = GroupChange,
    responses(
        (status = 200, description = "The change is durable and on its way to the log", body = GroupView),
        (status = 400, description = "Malformed JSON, name, relays or timer, or not exactly one change", body = ErrorBody),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 403, description = "Not an admin", body = ErrorBody),
        (status = 404, description = "No such group or member", body = ErrorBody),
        (status = 409, description = "Out of the group, or a change of ours is pending", body = ErrorBody),
    )
)]
pub(super) async fn change_group(
    State(state): State<AppState>,
    Path(group): Path<String>,
    body: Body,
) -> Result<Json<GroupView>, ApiError> {
    let change: GroupChange = parse_json(body)?;
    Ok(Json(
        service::change_group(&state.node, &group, change).await?,
    ))
}

/// Leave a group: our removal is proposed, and an admin's node commits it.
#[utoipa::path(
    delete, path = "/v1/groups/{group}", tag = "groups",
    params(("group" = String, Path, description = "`#name`, id, or id prefix")),
    responses(
        (status = 204, description = "The leave is on its way to the log"),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 404, description = "No such group", body = ErrorBody),
        (status = 409, description = "Out of the group already, or a change is pending", body = ErrorBody),
    )
)]
pub(super) async fn leave_group(
    State(state): State<AppState>,
    Path(group): Path<String>,
) -> Result<StatusCode, ApiError> {
    service::leave_group(&state.node, &group).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Add contacts to a group (admins only).
#[utoipa::path(
    post, path = "/v1/groups/{group}/members", tag = "groups",
    params(("group" = String, Path, description = "`#name`, id, or id prefix")),
    request_body = MembersRequest,
    responses(
        (status = 200, description = "Added, or waiting for their key packages", body = GroupView),
        (status = 400, description = "Malformed JSON, or no members", body = ErrorBody),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 403, description = "Not an admin", body = ErrorBody),
        (status = 404, description = "No such group or contact", body = ErrorBody),
        (status = 409, description = "Out of the group, or a change is pending", body = ErrorBody),
    )
)]
pub(super) async fn add_members(
    State(state): State<AppState>,
    Path(group): Path<String>,
    body: Body,
) -> Result<Json<GroupView>, ApiError> {
    let request: MembersRequest = parse_json(body)?;
    Ok(Json(
        service::add_members(&state.node, &group, request).await?,
    ))
}

/// Remove a member (every device of the account) from a group (admins only).
#[utoipa::path(
    delete, path = "/v1/groups/{group}/members/{member}", tag = "groups",
    params(
        ("group" = String, Path, description = "`#name`, id, or id prefix"),
        ("member" = String, Path, description = "Contact name or address"),
    ),
    responses(
        (status = 200, description = "The removal is on its way to the log", body = GroupView),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 403, description = "Not an admin, or ourselves (leave instead)", body = ErrorBody),
        (status = 404, description = "No such group or member", body = ErrorBody),
        (status = 409, description = "Out of the group, or a change is pending", body = ErrorBody),
    )
)]
pub(super) async fn remove_member(
    State(state): State<AppState>,
    Path((group, member)): Path<(String, String)>,
) -> Result<Json<GroupView>, ApiError> {
    Ok(Json(
        service::remove_member(&state.node, &group, &member).await?,
    ))
}

/// The newest messages of a group, oldest first.
#[utoipa::path(
    get, path = "/v1/groups/{group}/messages", tag = "groups",
    params(
        ("group" = String, Path, description = "`#name`, id, or id prefix"),
        GroupMessagesQuery,
    ),
    responses(
        (status = 200, description = "The messages", body = Vec<GroupMessageView>),
        (status = 400, description = "Malformed parameters", body = ErrorBody),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 404, description = "No such group", body = ErrorBody),
    )
)]
pub(super) async fn group_messages(
    State(state): State<AppState>,
    Path(group): Path<String>,
    params: Result<Query<GroupMessagesQuery>, QueryRejection>,
) -> Result<Json<Vec<GroupMessageView>>, ApiError> {
    let params = query(params)?;
    Ok(Json(
        service::group_messages(&state.node, &group, params.limit).await?,
    ))
}

/// Mark every message of a group read: its unread count goes back to zero. Members are not
/// told (groups send no read receipts).
#[utoipa::path(
    post, path = "/v1/groups/{group}/read", tag = "groups",
    params(("group" = String, Path, description = "`#name`, id, or id prefix")),
    responses(
        (status = 200, description = "How many messages were newly marked", body = Marked),
        (status = 400, description = "A malformed group name or id", body = ErrorBody),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 404, description = "No such group", body = ErrorBody),
    )
)]
pub(super) async fn mark_group_read(
    State(state): State<AppState>,
    Path(group): Path<String>,
) -> Result<Json<Marked>, ApiError> {
    Ok(Json(service::mark_group_read(&state.node, &group).await?))
}

/// Send a text to a group: one upload to its log, read by every member.
#[utoipa::path(
    post, path = "/v1/groups/{group}/messages", tag = "groups",
    params(("group" = String, Path, description = "`#name`, id, or id prefix")),
    request_body = GroupText,
    responses(
        (status = 201, description = "Durable in the group's outbox", body = GroupSent),
        (status = 400, description = "Malformed JSON or empty text", body = ErrorBody),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 404, description = "No such group", body = ErrorBody),
        (status = 409, description = "Out of the group, or a change is pending", body = ErrorBody),
        (status = 413, description = "Text too large", body = ErrorBody),
    )
)]
pub(super) async fn send_to_group(
    State(state): State<AppState>,
    Path(group): Path<String>,
    body: Body,
) -> Result<(StatusCode, Json<GroupSent>), ApiError> {
    let text: GroupText = parse_json(body)?;
    Ok((
        StatusCode::CREATED,
        Json(service::send_to_group(&state.node, &group, text).await?),
    ))
}
