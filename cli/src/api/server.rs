//! The HTTP server of the local API.
//!
//! Every `/v1` route requires an `Authorization` that proves knowledge of the token in the
//! profile's `api.token` (mode 0600, new at every start): a `Tern-Mac` (see [`super::auth`]),
//! which Tern's own clients send, or the bearer token itself. `/openapi.json` is public: it
//! holds nothing secret. The OpenAPI
//! document is generated from the very route table the server serves, so the two cannot
//! disagree. Request bodies are parsed by hand so that every malformed one gets a JSON 400
//! (or 413 when too large) instead of the framework's plain-text answers.

use std::net::SocketAddr;

use axum::{
    Json, Router,
    body::Bytes,
    extract::{
        DefaultBodyLimit, Path, Query, Request, State,
        rejection::{BytesRejection, QueryRejection},
        ws::{Message as WsMessage, WebSocket, WebSocketUpgrade},
    },
    http::{StatusCode, header},
    middleware::{self, Next},
    response::{IntoResponse, Response},
    routing::get,
};
use futures::StreamExt;
use serde::de::DeserializeOwned;
use tern_node::{Cursor, From as EventsFrom, MAX_TEXT_LEN, Node};
use tokio_util::sync::CancellationToken;
use utoipa::{
    Modify, OpenApi,
    openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme},
};
use utoipa_axum::{router::OpenApiRouter, routes};

mod changes;
mod files;
mod groups;

use changes::*;
use files::*;
use groups::*;

use super::{
    auth,
    model::{
        ApiError, BlockedView, ChatsPage, ChatsQuery, ContactView, Deleted, ErrorBody, EventFrame,
        EventView, EventsQuery, HistoryPage, HistoryQuery, Identity, IdentityView, Marked,
        NewContact, NewMessage, PolicyChange, RequestView, Sent, StatusView, Verification,
    },
    service,
};

/// The largest request body: a maximal text JSON-escaped at worst six bytes per byte, plus the
/// rest of the request. Larger bodies are refused with 413 before they are read whole.
const MAX_BODY: usize = MAX_TEXT_LEN * 6 + 4096;

#[derive(Clone)]
struct AppState {
    node: Node,
    token: std::sync::Arc<str>,
    /// The listening address, as written to `api.addr`: request MACs are bound to it.
    address: std::sync::Arc<str>,
    shutdown: CancellationToken,
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Tern local API",
        version = "1",
        description = "Drive a Tern node from UIs and bots: send messages, read history, \
                       manage contacts, follow events over a WebSocket. Served by `tern daemon` \
                       on 127.0.0.1 only."
    ),
    modifiers(&BearerAuth),
    security(("bearer" = [])),
    components(schemas(ErrorBody, EventFrame, EventView))
)]
struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "The token in the profile's api.token, new at every daemon start. \
                         Tern's own clients send `Tern-Mac <secs>.<hmac>` instead, which never \
                         reveals the token (docs/api.md).",
                    ))
                    .build(),
            ),
        );
    }
}

/// The router with its OpenAPI document, for a server listening on `address`. `shutdown`
/// ends open WebSockets.
pub(crate) fn router(
    node: Node,
    token: String,
    address: SocketAddr,
    shutdown: CancellationToken,
) -> Router {
    let state = AppState {
        node,
        token: token.into(),
        address: address.to_string().into(),
        shutdown,
    };
    let (v1, openapi) = OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(send_message))
        .routes(routes!(list_chats))
        .routes(routes!(chat_messages))
        .routes(routes!(delete_chat, set_chat))
        .routes(routes!(edit_message, delete_message))
        .routes(routes!(set_reaction, remove_reaction))
        .routes(routes!(edit_history))
        .routes(routes!(send_file))
        .routes(routes!(list_files))
        .routes(routes!(fetch_file))
        .routes(routes!(download_file))
        .routes(routes!(file_preview))
        .routes(routes!(list_groups, create_group))
        .routes(routes!(get_group, change_group, leave_group))
        .routes(routes!(add_members))
        .routes(routes!(remove_member))
        .routes(routes!(group_messages, send_to_group))
        .routes(routes!(mark_group_read))
        .routes(routes!(search))
        .routes(routes!(mark_read))
        .routes(routes!(list_requests))
        .routes(routes!(accept_request))
        .routes(routes!(list_blocked))
        .routes(routes!(block, unblock))
        .routes(routes!(list_contacts, add_contact))
        .routes(routes!(get_contact, remove_contact))
        .routes(routes!(verify_contact))
        .routes(routes!(set_identity_policy))
        .routes(routes!(identity))
        .routes(routes!(rotate_identity_key))
        .routes(routes!(get_profile, set_profile))
        .routes(routes!(get_sharing, set_sharing))
        .routes(routes!(typing))
        .routes(routes!(status))
        .routes(routes!(events))
        .route_layer(middleware::from_fn_with_state(state.clone(), require_token))
        .split_for_parts();
    let openapi = std::sync::Arc::new(openapi);
    v1.route(
        "/openapi.json",
        get(move || {
            let openapi = openapi.clone();
            async move { Json(openapi.as_ref().clone()) }
        }),
    )
    .fallback(no_such_route)
    .method_not_allowed_fallback(method_not_allowed)
    .layer(DefaultBodyLimit::max(MAX_BODY))
    .with_state(state)
}

/// Serves the API on `listener` until `shutdown` is cancelled.
pub(crate) async fn serve(
    listener: tokio::net::TcpListener,
    node: Node,
    token: String,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    let app = router(node, token, listener.local_addr()?, shutdown.clone());
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(async move { shutdown.cancelled().await })
    .await
}

async fn require_token(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let presented = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let path_and_query = request
        .uri()
        .path_and_query()
        .map(|p| p.as_str())
        .unwrap_or_default();
    let what = auth::Request {
        address: &state.address,
        method: request.method().as_str(),
        path_and_query,
    };
    if auth::verify(&state.token, presented, &what, unix_now()) {
        next.run(request).await
    } else {
        ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "missing or wrong credentials (a Tern-Mac or the bearer token from the profile's \
             api.token, which changes at every daemon start)",
        )
        .into_response()
    }
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

async fn no_such_route() -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "no_such_route",
        "no such route; see /openapi.json",
    )
}

async fn method_not_allowed() -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "method not allowed on this route; see /openapi.json",
    )
}

/// A request body as `T`, or the JSON error to answer with.
pub(super) type Body = Result<Bytes, BytesRejection>;

fn parse_json<T: DeserializeOwned>(body: Body) -> Result<T, ApiError> {
    let bytes = body.map_err(|e| {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::too_large(format!("the request body is larger than {MAX_BODY} bytes"))
        } else {
            ApiError::bad_request(e.body_text())
        }
    })?;
    serde_json::from_slice(&bytes)
        .map_err(|e| ApiError::bad_request(format!("malformed JSON: {e}")))
}

fn query<T>(query: Result<Query<T>, QueryRejection>) -> Result<T, ApiError> {
    query
        .map(|Query(q)| q)
        .map_err(|e| ApiError::bad_request(e.body_text()))
}

/// Send a message. It is durable once this returns; delivery continues in the background.
#[utoipa::path(
    post, path = "/v1/messages", tag = "messages",
    request_body = NewMessage,
    responses(
        (status = 201, description = "Accepted into the outbox", body = Sent),
        (status = 400, description = "Malformed JSON or fields", body = ErrorBody),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 404, description = "Unknown contact", body = ErrorBody),
        (status = 413, description = "Text or body too large", body = ErrorBody),
    )
)]
async fn send_message(
    State(state): State<AppState>,
    body: Body,
) -> Result<(StatusCode, Json<Sent>), ApiError> {
    let message: NewMessage = parse_json(body)?;
    let sent = service::send(&state.node, message).await?;
    Ok((StatusCode::CREATED, Json(sent)))
}

/// The chat list, most recent first.
#[utoipa::path(
    get, path = "/v1/chats", tag = "chats",
    params(ChatsQuery),
    responses(
        (status = 200, description = "A page of chats", body = ChatsPage),
        (status = 400, description = "Malformed parameters", body = ErrorBody),
        (status = 401, description = "No valid token", body = ErrorBody),
    )
)]
async fn list_chats(
    State(state): State<AppState>,
    params: Result<Query<ChatsQuery>, QueryRejection>,
) -> Result<Json<ChatsPage>, ApiError> {
    let params = query(params)?;
    let archived = params.archived.unwrap_or(false);
    let page = service::chats(
        &state.node,
        params.limit,
        params.cursor.as_deref(),
        archived,
    )
    .await?;
    Ok(Json(page))
}

/// A page of a conversation, oldest first; follow `before` for older pages.
#[utoipa::path(
    get, path = "/v1/chats/{peer}/messages", tag = "chats",
    params(
        ("peer" = String, Path, description = "Contact name or address"),
        HistoryQuery,
    ),
    responses(
        (status = 200, description = "A page of messages", body = HistoryPage),
        (status = 400, description = "Malformed parameters", body = ErrorBody),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 404, description = "Unknown contact", body = ErrorBody),
    )
)]
async fn chat_messages(
    State(state): State<AppState>,
    Path(peer): Path<String>,
    params: Result<Query<HistoryQuery>, QueryRejection>,
) -> Result<Json<HistoryPage>, ApiError> {
    let params = query(params)?;
    let page = service::history(&state.node, &peer, params.limit, params.before).await?;
    Ok(Json(page))
}

/// Mark a conversation read; read receipts go to the peer.
#[utoipa::path(
    post, path = "/v1/chats/{peer}/read", tag = "chats",
    params(("peer" = String, Path, description = "Contact name or address")),
    responses(
        (status = 200, description = "How many messages were newly marked", body = Marked),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 404, description = "Unknown contact", body = ErrorBody),
    )
)]
async fn mark_read(
    State(state): State<AppState>,
    Path(peer): Path<String>,
) -> Result<Json<Marked>, ApiError> {
    Ok(Json(service::mark_read(&state.node, &peer).await?))
}

/// Delete a conversation (chat or message request) and every message stored for it; messages
/// to the peer still waiting to go out are not sent. The rows are erased from the database
/// files before the answer. The contact, if any, stays.
#[utoipa::path(
    delete, path = "/v1/chats/{peer}", tag = "chats",
    params(("peer" = String, Path, description = "Contact name or address")),
    responses(
        (status = 200, description = "How many messages were deleted", body = Deleted),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 404, description = "Unknown contact, or no conversation", body = ErrorBody),
    )
)]
async fn delete_chat(
    State(state): State<AppState>,
    Path(peer): Path<String>,
) -> Result<Json<Deleted>, ApiError> {
    Ok(Json(service::delete_chat(&state.node, &peer).await?))
}

/// Message requests, newest first: messages from accounts that are neither contacts nor in
/// the chat list. Read one with `GET /v1/chats/{peer}/messages`; its sender gets no receipt
/// until it is accepted.
#[utoipa::path(
    get, path = "/v1/requests", tag = "requests",
    responses(
        (status = 200, description = "The message requests", body = Vec<RequestView>),
        (status = 401, description = "No valid token", body = ErrorBody),
    )
)]
async fn list_requests(State(state): State<AppState>) -> Result<Json<Vec<RequestView>>, ApiError> {
    Ok(Json(service::requests(&state.node).await?))
}

/// Accept a message request: it becomes a chat, and its sender is trusted.
#[utoipa::path(
    post, path = "/v1/requests/{peer}/accept", tag = "requests",
    params(("peer" = String, Path, description = "The sender's address")),
    responses(
        (status = 204, description = "Accepted"),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 404, description = "No request from this account", body = ErrorBody),
    )
)]
async fn accept_request(
    State(state): State<AppState>,
    Path(peer): Path<String>,
) -> Result<StatusCode, ApiError> {
    service::accept_request(&state.node, &peer).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The blocked accounts, in the order they were blocked.
#[utoipa::path(
    get, path = "/v1/blocked", tag = "requests",
    responses(
        (status = 200, description = "The blocked accounts", body = Vec<BlockedView>),
        (status = 401, description = "No valid token", body = ErrorBody),
    )
)]
async fn list_blocked(State(state): State<AppState>) -> Result<Json<Vec<BlockedView>>, ApiError> {
    Ok(Json(service::blocked(&state.node).await?))
}

/// Block an account: its deliveries are refused, its relay mail dropped, its message request
/// deleted; sending to it fails until it is unblocked. Blocking twice is not an error.
#[utoipa::path(
    put, path = "/v1/blocked/{peer}", tag = "requests",
    params(("peer" = String, Path, description = "Contact name or address")),
    responses(
        (status = 204, description = "Blocked"),
        (status = 400, description = "This account's own address", body = ErrorBody),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 404, description = "Unknown contact", body = ErrorBody),
    )
)]
async fn block(
    State(state): State<AppState>,
    Path(peer): Path<String>,
) -> Result<StatusCode, ApiError> {
    service::block(&state.node, &peer, true).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Unblock an account. Unblocking one that is not blocked is not an error.
#[utoipa::path(
    delete, path = "/v1/blocked/{peer}", tag = "requests",
    params(("peer" = String, Path, description = "Contact name or address")),
    responses(
        (status = 204, description = "Unblocked"),
        (status = 400, description = "This account's own address", body = ErrorBody),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 404, description = "Unknown contact", body = ErrorBody),
    )
)]
async fn unblock(
    State(state): State<AppState>,
    Path(peer): Path<String>,
) -> Result<StatusCode, ApiError> {
    service::block(&state.node, &peer, false).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// All contacts.
#[utoipa::path(
    get, path = "/v1/contacts", tag = "contacts",
    responses(
        (status = 200, description = "The contacts", body = Vec<ContactView>),
        (status = 401, description = "No valid token", body = ErrorBody),
    )
)]
async fn list_contacts(State(state): State<AppState>) -> Result<Json<Vec<ContactView>>, ApiError> {
    Ok(Json(service::contacts(&state.node).await?))
}

/// Add (or rename) a contact.
#[utoipa::path(
    post, path = "/v1/contacts", tag = "contacts",
    request_body = NewContact,
    responses(
        (status = 201, description = "The contact", body = ContactView),
        (status = 400, description = "Malformed JSON, name or address", body = ErrorBody),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 409, description = "Another contact has that name", body = ErrorBody),
    )
)]
async fn add_contact(
    State(state): State<AppState>,
    body: Body,
) -> Result<(StatusCode, Json<ContactView>), ApiError> {
    let new: NewContact = parse_json(body)?;
    let contact = service::add_contact(&state.node, new).await?;
    Ok((StatusCode::CREATED, Json(contact)))
}

/// One contact, with the safety number to compare.
#[utoipa::path(
    get, path = "/v1/contacts/{peer}", tag = "contacts",
    params(("peer" = String, Path, description = "Contact name or address")),
    responses(
        (status = 200, description = "The contact", body = ContactView),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 404, description = "Unknown contact", body = ErrorBody),
    )
)]
async fn get_contact(
    State(state): State<AppState>,
    Path(peer): Path<String>,
) -> Result<Json<ContactView>, ApiError> {
    Ok(Json(service::contact(&state.node, &peer).await?))
}

/// Remove a contact; the conversation stays.
#[utoipa::path(
    delete, path = "/v1/contacts/{peer}", tag = "contacts",
    params(("peer" = String, Path, description = "Contact name or address")),
    responses(
        (status = 204, description = "Removed"),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 404, description = "Unknown contact", body = ErrorBody),
    )
)]
async fn remove_contact(
    State(state): State<AppState>,
    Path(peer): Path<String>,
) -> Result<StatusCode, ApiError> {
    service::remove_contact(&state.node, &peer).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Mark a contact verified (after comparing safety numbers out of band) or not.
#[utoipa::path(
    post, path = "/v1/contacts/{peer}/verify", tag = "contacts",
    params(("peer" = String, Path, description = "Contact name or address")),
    request_body = Verification,
    responses(
        (status = 200, description = "The contact", body = ContactView),
        (status = 400, description = "Malformed JSON", body = ErrorBody),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 404, description = "Unknown contact", body = ErrorBody),
    )
)]
async fn verify_contact(
    State(state): State<AppState>,
    Path(peer): Path<String>,
    body: Body,
) -> Result<Json<ContactView>, ApiError> {
    let verification: Verification = parse_json(body)?;
    let contact = service::verify_contact(&state.node, &peer, verification.verified).await?;
    Ok(Json(contact))
}

/// Set what a change of the peer's identity key does: `warn` (the default: a notice in the
/// chat, the contact is unverified, sending goes on), `block` (sending also waits, in the
/// outbox, until the contact is verified again or the policy changes) or `trust-new` (a notice
/// only, for bots). Every change also emits an `identity_changed` event.
#[utoipa::path(
    put, path = "/v1/contacts/{peer}/policy", tag = "contacts",
    params(("peer" = String, Path, description = "Contact name or any address")),
    request_body = PolicyChange,
    responses(
        (status = 200, description = "The peer's identity key now", body = IdentityView),
        (status = 400, description = "Malformed JSON or unknown policy", body = ErrorBody),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 404, description = "Neither a contact's name nor an address", body = ErrorBody),
    )
)]
async fn set_identity_policy(
    State(state): State<AppState>,
    Path(peer): Path<String>,
    body: Body,
) -> Result<Json<IdentityView>, ApiError> {
    let change: PolicyChange = parse_json(body)?;
    let identity = service::set_identity_policy(&state.node, &peer, &change.policy).await?;
    Ok(Json(identity))
}

/// Replace this account's identity key (the X25519 key sessions start with). The address,
/// contacts and history stay; peers see an identity change with the next message.
#[utoipa::path(
    post, path = "/v1/identity/rotate", tag = "node",
    responses(
        (status = 200, description = "This account", body = Identity),
        (status = 401, description = "No valid token", body = ErrorBody),
    )
)]
async fn rotate_identity_key(State(state): State<AppState>) -> Result<Json<Identity>, ApiError> {
    Ok(Json(service::rotate_identity_key(&state.node).await?))
}

/// This account: address, invite, fingerprint.
#[utoipa::path(
    get, path = "/v1/identity", tag = "node",
    responses(
        (status = 200, description = "This account", body = Identity),
        (status = 401, description = "No valid token", body = ErrorBody),
    )
)]
async fn identity(State(state): State<AppState>) -> Json<Identity> {
    Json(service::identity(&state.node))
}

/// Peers, addresses, NAT status, relays, outbox depth, refusal counters.
#[utoipa::path(
    get, path = "/v1/status", tag = "node",
    responses(
        (status = 200, description = "The node's state", body = StatusView),
        (status = 401, description = "No valid token", body = ErrorBody),
    )
)]
async fn status(State(state): State<AppState>) -> Result<Json<StatusView>, ApiError> {
    Ok(Json(service::status(&state.node).await?))
}

/// Upgrade to a WebSocket of events: one JSON `EventFrame` per text message, first those after
/// `after` from the durable log, then live ones. Reconnect with the last cursor seen to get
/// exactly what was missed.
#[utoipa::path(
    get, path = "/v1/events", tag = "events",
    params(EventsQuery),
    responses(
        (status = 101, description = "Switching to the WebSocket protocol; frames are EventFrame"),
        (status = 400, description = "Malformed cursor, or not a WebSocket request", body = ErrorBody),
        (status = 401, description = "No valid token", body = ErrorBody),
    )
)]
async fn events(
    State(state): State<AppState>,
    params: Result<Query<EventsQuery>, QueryRejection>,
    upgrade: Result<WebSocketUpgrade, axum::extract::ws::rejection::WebSocketUpgradeRejection>,
) -> Result<Response, ApiError> {
    let params = query(params)?;
    let from = match params.after.as_deref() {
        None => EventsFrom::Oldest,
        Some("latest") => EventsFrom::Now,
        Some(text) => EventsFrom::After(
            text.parse::<Cursor>()
                .map_err(|_| ApiError::bad_request(format!("malformed cursor {text:?}")))?,
        ),
    };
    let upgrade = upgrade.map_err(|e| ApiError::bad_request(e.body_text()))?;
    Ok(upgrade.on_upgrade(move |socket| stream_events(socket, state, from)))
}

async fn stream_events(mut socket: WebSocket, state: AppState, from: EventsFrom) {
    let mut events = state.node.events(from);
    loop {
        tokio::select! {
            () = state.shutdown.cancelled() => {
                let _ = socket.send(WsMessage::Close(None)).await;
                return;
            }
            next = events.next() => {
                let Some((cursor, event)) = next else {
                    let _ = socket.send(WsMessage::Close(None)).await;
                    return;
                };
                let frame = EventFrame { cursor: cursor.to_string(), event: EventView::from(event) };
                let Ok(text) = serde_json::to_string(&frame) else { continue };
                if socket.send(WsMessage::Text(text.into())).await.is_err() {
                    return;
                }
            }
            incoming = socket.recv() => match incoming {
                // Clients send nothing but pings and closes; axum answers pings itself.
                Some(Ok(WsMessage::Close(_))) | None | Some(Err(_)) => return,
                Some(Ok(_)) => {}
            },
        }
    }
}
