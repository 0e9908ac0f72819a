//! The client the commands use to talk to a running daemon.

use std::time::Duration;

use futures::{StreamExt, stream::BoxStream};
use reqwest::{Method, StatusCode};
use serde::{Serialize, de::DeserializeOwned};
use tokio_tungstenite::tungstenite::{self, client::IntoClientRequest};

use super::{
    auth,
    model::{
        ApiError, BlockedView, Changed, ChatSettingsRequest, ChatView, ChatsPage, ContactView,
        Deleted, EditRequest, EditView, ErrorBody, EventFrame, HistoryPage, Identity, IdentityView,
        Marked, NewContact, NewMessage, PolicyChange, ProfileSet, ProfileView, ReactionRequest,
        RequestView, SearchQuery, SearchResults, Sent, SharingView, StatusView, TypingRequest,
        TypingSent, Verification,
    },
};
use crate::profile::Profile;

mod files;
mod groups;

/// How long one API call may take. Every call is a local database operation; this only
/// catches a daemon that hangs.
const CALL_TIMEOUT: Duration = Duration::from_secs(30);

/// A connection to a daemon's local API. It never sends the token: each request carries a
/// MAC bound to the daemon's address ([`super::auth`]), so whoever answers on a stale
/// `api.addr` learns nothing it can use.
#[derive(Debug, Clone)]
pub(crate) struct Client {
    http: reqwest::Client,
    address: String,
    base: String,
    token: String,
}

/// Why the daemon could not be reached at all (as opposed to answering with an error).
#[derive(Debug, thiserror::Error)]
#[error("the daemon at {address} is not answering: {reason}")]
pub(crate) struct Unreachable {
    pub(crate) address: String,
    pub(crate) reason: String,
}

impl Client {
    /// Connects to the daemon of `profile`, if one is running and answers.
    pub(crate) async fn connect(profile: &Profile) -> Result<Option<Self>, Unreachable> {
        let Some(address) = profile.api_addr() else {
            return Ok(None);
        };
        let token = profile.read_token().ok().flatten().unwrap_or_default();
        let client = Self::new(&address, token);
        match client.identity().await {
            Ok(_) => Ok(Some(client)),
            // A daemon that was killed leaves its address file behind: nobody listens there.
            Err(CallError::Unreachable(e)) if e.reason.contains("connect") => Ok(None),
            Err(CallError::Unreachable(e)) => Err(e),
            Err(CallError::Api(e)) => Err(Unreachable {
                address,
                reason: e.message,
            }),
        }
    }

    pub(crate) fn new(address: &str, token: String) -> Self {
        let http = reqwest::Client::builder()
            .timeout(CALL_TIMEOUT)
            .no_proxy()
            .build()
            .unwrap_or_default();
        Self {
            http,
            address: address.to_owned(),
            base: format!("http://{address}"),
            token,
        }
    }

    /// The `Authorization` value for `method` on `url`.
    fn authorization(&self, method: &str, url: &reqwest::Url) -> String {
        let mut path_and_query = url.path().to_owned();
        if let Some(query) = url.query() {
            path_and_query.push('?');
            path_and_query.push_str(query);
        }
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let request = auth::Request {
            address: &self.address,
            method,
            path_and_query: &path_and_query,
        };
        auth::authorization(&self.token, &request, now)
    }

    async fn call<B: Serialize, T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<&B>,
    ) -> Result<T, CallError> {
        let mut url =
            reqwest::Url::parse(&format!("{}{path}", self.base)).map_err(|e| self.bad_url(&e))?;
        if !query.is_empty() {
            url.query_pairs_mut().extend_pairs(query);
        }
        let authorization = self.authorization(method.as_str(), &url);
        let mut request = self
            .http
            .request(method, url)
            .header(reqwest::header::AUTHORIZATION, authorization);
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = request.send().await.map_err(|e| self.unreachable(&e))?;
        self.answer(response).await
    }

    /// A URL under the daemon's base with `query`, and its `Authorization` for `method`.
    fn signed(
        &self,
        method: &Method,
        path: &str,
        query: &[(&str, String)],
    ) -> Result<(reqwest::Url, String), CallError> {
        let mut url =
            reqwest::Url::parse(&format!("{}{path}", self.base)).map_err(|e| self.bad_url(&e))?;
        if !query.is_empty() {
            url.query_pairs_mut().extend_pairs(query);
        }
        let authorization = self.authorization(method.as_str(), &url);
        Ok((url, authorization))
    }

    /// The JSON answer of `response`, or the API error it carries.
    async fn answer<T: DeserializeOwned>(
        &self,
        response: reqwest::Response,
    ) -> Result<T, CallError> {
        let status = response.status();
        if status == StatusCode::NO_CONTENT {
            return serde_json::from_value(serde_json::Value::Null).map_err(|e| self.bad(e));
        }
        let bytes = response.bytes().await.map_err(|e| self.unreachable(&e))?;
        if status.is_success() {
            serde_json::from_slice(&bytes).map_err(|e| self.bad(e))
        } else {
            let mut error = serde_json::from_slice::<ErrorBody>(&bytes)
                .map(|b| b.error)
                .unwrap_or_else(|_| ApiError {
                    code: "internal".into(),
                    message: format!("the daemon answered {status}"),
                    status: 0,
                });
            error.status = status.as_u16();
            Err(CallError::Api(error))
        }
    }

    fn unreachable(&self, e: &reqwest::Error) -> CallError {
        let reason = if e.is_connect() {
            format!("cannot connect: {e}")
        } else {
            e.to_string()
        };
        CallError::Unreachable(Unreachable {
            address: self.base.clone(),
            reason,
        })
    }

    fn bad(&self, e: serde_json::Error) -> CallError {
        CallError::Unreachable(Unreachable {
            address: self.base.clone(),
            reason: format!("unexpected answer: {e}"),
        })
    }

    pub(crate) async fn identity(&self) -> Result<Identity, CallError> {
        self.call::<(), _>(Method::GET, "/v1/identity", &[], None)
            .await
    }

    pub(crate) async fn profile(&self) -> Result<ProfileView, CallError> {
        self.call::<(), _>(Method::GET, "/v1/profile", &[], None)
            .await
    }

    pub(crate) async fn set_profile(&self, profile: &ProfileView) -> Result<ProfileSet, CallError> {
        self.call(Method::PUT, "/v1/profile", &[], Some(profile))
            .await
    }

    pub(crate) async fn sharing(&self) -> Result<SharingView, CallError> {
        self.call::<(), _>(Method::GET, "/v1/sharing", &[], None)
            .await
    }

    pub(crate) async fn set_sharing(
        &self,
        sharing: &SharingView,
    ) -> Result<SharingView, CallError> {
        self.call(Method::PUT, "/v1/sharing", &[], Some(sharing))
            .await
    }

    pub(crate) async fn typing(&self, peer: &str, active: bool) -> Result<TypingSent, CallError> {
        self.call(
            Method::POST,
            &format!("/v1/chats/{}/typing", escape(peer)),
            &[],
            Some(&TypingRequest { active }),
        )
        .await
    }

    pub(crate) async fn status(&self) -> Result<StatusView, CallError> {
        self.call::<(), _>(Method::GET, "/v1/status", &[], None)
            .await
    }

    /// Sends `text` to `to`, as a reply to message `reply_to` when given.
    pub(crate) async fn reply(
        &self,
        to: &str,
        reply_to: Option<&str>,
        text: &str,
    ) -> Result<Sent, CallError> {
        let body = NewMessage {
            to: to.into(),
            text: text.into(),
            reply_to: reply_to.map(str::to_owned),
        };
        self.call(Method::POST, "/v1/messages", &[], Some(&body))
            .await
    }

    fn message_path(peer: &str, id: &str) -> String {
        format!("/v1/chats/{}/messages/{}", escape(peer), escape(id))
    }

    pub(crate) async fn edit(
        &self,
        peer: &str,
        id: &str,
        text: &str,
    ) -> Result<Changed, CallError> {
        let body = EditRequest { text: text.into() };
        self.call(
            Method::PATCH,
            &Self::message_path(peer, id),
            &[],
            Some(&body),
        )
        .await
    }

    pub(crate) async fn delete_message(
        &self,
        peer: &str,
        id: &str,
        for_everyone: bool,
    ) -> Result<Changed, CallError> {
        let scope = if for_everyone { "everyone" } else { "me" };
        self.call::<(), _>(
            Method::DELETE,
            &Self::message_path(peer, id),
            &[("for", scope.to_owned())],
            None,
        )
        .await
    }

    /// Sets our reaction to message `id`; an empty `emoji` takes it back.
    pub(crate) async fn react(
        &self,
        peer: &str,
        id: &str,
        emoji: &str,
    ) -> Result<Changed, CallError> {
        let path = format!("{}/reaction", Self::message_path(peer, id));
        if emoji.is_empty() {
            return self.call::<(), _>(Method::DELETE, &path, &[], None).await;
        }
        let body = ReactionRequest {
            emoji: emoji.into(),
        };
        self.call(Method::PUT, &path, &[], Some(&body)).await
    }

    pub(crate) async fn edit_history(
        &self,
        peer: &str,
        id: &str,
    ) -> Result<Vec<EditView>, CallError> {
        let path = format!("{}/edits", Self::message_path(peer, id));
        self.call::<(), _>(Method::GET, &path, &[], None).await
    }

    pub(crate) async fn contacts(&self) -> Result<Vec<ContactView>, CallError> {
        self.call::<(), _>(Method::GET, "/v1/contacts", &[], None)
            .await
    }

    pub(crate) async fn contact(&self, peer: &str) -> Result<ContactView, CallError> {
        self.call::<(), _>(
            Method::GET,
            &format!("/v1/contacts/{}", escape(peer)),
            &[],
            None,
        )
        .await
    }

    pub(crate) async fn add_contact(&self, new: &NewContact) -> Result<ContactView, CallError> {
        self.call(Method::POST, "/v1/contacts", &[], Some(new))
            .await
    }

    pub(crate) async fn remove_contact(&self, peer: &str) -> Result<(), CallError> {
        self.call::<(), ()>(
            Method::DELETE,
            &format!("/v1/contacts/{}", escape(peer)),
            &[],
            None,
        )
        .await
    }

    pub(crate) async fn verify_contact(
        &self,
        peer: &str,
        verified: bool,
    ) -> Result<ContactView, CallError> {
        self.call(
            Method::POST,
            &format!("/v1/contacts/{}/verify", escape(peer)),
            &[],
            Some(&Verification { verified }),
        )
        .await
    }

    pub(crate) async fn set_identity_policy(
        &self,
        peer: &str,
        policy: &str,
    ) -> Result<IdentityView, CallError> {
        self.call(
            Method::PUT,
            &format!("/v1/contacts/{}/policy", escape(peer)),
            &[],
            Some(&PolicyChange {
                policy: policy.to_owned(),
            }),
        )
        .await
    }

    pub(crate) async fn rotate_identity_key(&self) -> Result<Identity, CallError> {
        self.call::<(), _>(Method::POST, "/v1/identity/rotate", &[], None)
            .await
    }

    pub(crate) async fn chats(
        &self,
        limit: Option<usize>,
        cursor: Option<&str>,
        archived: bool,
    ) -> Result<ChatsPage, CallError> {
        let mut query = Vec::new();
        if archived {
            query.push(("archived", "true".to_owned()));
        }
        if let Some(limit) = limit {
            query.push(("limit", limit.to_string()));
        }
        if let Some(cursor) = cursor {
            query.push(("cursor", cursor.to_owned()));
        }
        self.call::<(), _>(Method::GET, "/v1/chats", &query, None)
            .await
    }

    pub(crate) async fn search(&self, query: &SearchQuery) -> Result<SearchResults, CallError> {
        let mut params = vec![("q", query.q.clone())];
        for (name, value) in [("peer", &query.peer), ("after", &query.after)] {
            if let Some(value) = value {
                params.push((name, value.clone()));
            }
        }
        if let Some(limit) = query.limit {
            params.push(("limit", limit.to_string()));
        }
        self.call::<(), _>(Method::GET, "/v1/search", &params, None)
            .await
    }

    pub(crate) async fn set_chat(
        &self,
        peer: &str,
        settings: &ChatSettingsRequest,
    ) -> Result<ChatView, CallError> {
        self.call(
            Method::PATCH,
            &format!("/v1/chats/{}", escape(peer)),
            &[],
            Some(settings),
        )
        .await
    }

    pub(crate) async fn history(
        &self,
        peer: &str,
        limit: Option<usize>,
        before: Option<&str>,
    ) -> Result<HistoryPage, CallError> {
        let mut query = Vec::new();
        if let Some(limit) = limit {
            query.push(("limit", limit.to_string()));
        }
        if let Some(before) = before {
            query.push(("before", before.to_owned()));
        }
        self.call::<(), _>(
            Method::GET,
            &format!("/v1/chats/{}/messages", escape(peer)),
            &query,
            None,
        )
        .await
    }

    pub(crate) async fn delete_chat(&self, peer: &str) -> Result<Deleted, CallError> {
        let path = format!("/v1/chats/{}", escape(peer));
        self.call::<(), _>(Method::DELETE, &path, &[], None).await
    }

    pub(crate) async fn requests(&self) -> Result<Vec<RequestView>, CallError> {
        self.call::<(), _>(Method::GET, "/v1/requests", &[], None)
            .await
    }

    pub(crate) async fn accept_request(&self, peer: &str) -> Result<(), CallError> {
        let path = format!("/v1/requests/{}/accept", escape(peer));
        self.call::<(), ()>(Method::POST, &path, &[], None).await
    }

    pub(crate) async fn blocked(&self) -> Result<Vec<BlockedView>, CallError> {
        self.call::<(), _>(Method::GET, "/v1/blocked", &[], None)
            .await
    }

    /// Blocks (`blocked`) or unblocks `peer`.
    pub(crate) async fn block(&self, peer: &str, blocked: bool) -> Result<(), CallError> {
        let method = if blocked { Method::PUT } else { Method::DELETE };
        let path = format!("/v1/blocked/{}", escape(peer));
        self.call::<(), ()>(method, &path, &[], None).await
    }

    pub(crate) async fn mark_read(&self, peer: &str) -> Result<Marked, CallError> {
        self.call::<(), _>(
            Method::POST,
            &format!("/v1/chats/{}/read", escape(peer)),
            &[],
            None,
        )
        .await
    }

    /// The event WebSocket, resuming after `after`.
    pub(crate) async fn events(
        &self,
        after: Option<&str>,
    ) -> Result<BoxStream<'static, Result<EventFrame, CallError>>, CallError> {
        let mut url = format!("{}/v1/events", self.base.replacen("http", "ws", 1));
        if let Some(after) = after {
            url.push_str("?after=");
            url.push_str(after);
        }
        let parsed = reqwest::Url::parse(&url).map_err(|e| self.bad_url(&e))?;
        let value = self
            .authorization("GET", &parsed)
            .parse()
            .map_err(|_| self.bad_token())?;
        let mut request = url.into_client_request().map_err(|e| self.ws_error(&e))?;
        request.headers_mut().insert("authorization", value);
        let (socket, _) = tokio_tungstenite::connect_async(request)
            .await
            .map_err(|e| self.ws_error(&e))?;
        let base = self.base.clone();
        Ok(socket
            .filter_map(move |message| {
                let base = base.clone();
                async move {
                    match message {
                        Ok(tungstenite::Message::Text(text)) => {
                            Some(serde_json::from_str::<EventFrame>(&text).map_err(|e| {
                                CallError::Unreachable(Unreachable {
                                    address: base,
                                    reason: format!("unexpected event: {e}"),
                                })
                            }))
                        }
                        Ok(_) => None,
                        Err(e) => Some(Err(CallError::Unreachable(Unreachable {
                            address: base,
                            reason: e.to_string(),
                        }))),
                    }
                }
            })
            .boxed())
    }

    fn bad_url(&self, e: &dyn std::fmt::Display) -> CallError {
        CallError::Unreachable(Unreachable {
            address: self.base.clone(),
            reason: format!("not a usable address: {e}"),
        })
    }

    fn ws_error(&self, e: &tungstenite::Error) -> CallError {
        CallError::Unreachable(Unreachable {
            address: self.base.clone(),
            reason: format!("cannot connect: {e}"),
        })
    }

    fn bad_token(&self) -> CallError {
        CallError::Api(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "the API token is malformed",
        ))
    }
}

/// A failed call.
#[derive(Debug, thiserror::Error)]
pub(crate) enum CallError {
    /// The daemon answered with an error.
    #[error(transparent)]
    Api(#[from] ApiError),
    /// The daemon did not answer.
    #[error(transparent)]
    Unreachable(#[from] Unreachable),
}

impl CallError {
    /// Whether the daemon answered 404 (an unknown contact, say).
    pub(crate) fn is_not_found(&self) -> bool {
        matches!(self, Self::Api(e) if e.status == 404)
    }
}

impl From<CallError> for crate::error::CliError {
    fn from(e: CallError) -> Self {
        match e {
            CallError::Api(e) => e.into(),
            CallError::Unreachable(e) => Self::Network(e.to_string()),
        }
    }
}

/// Percent-encodes a path segment (contact names may hold spaces or slashes).
fn escape(segment: &str) -> String {
    let mut out = String::with_capacity(segment.len());
    for byte in segment.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}
