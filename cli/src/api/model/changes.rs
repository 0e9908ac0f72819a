//! The JSON shapes of replies, edits, deletes, reactions, chat settings and profiles.

use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::ApiError;

/// `PATCH /v1/chats/{peer}/messages/{id}`: a new text for one of our messages.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub(crate) struct EditRequest {
    /// The new text (at most 65,536 bytes of UTF-8).
    pub(crate) text: String,
}

/// `PUT /v1/chats/{peer}/messages/{id}/reaction`: our reaction, replacing the earlier one.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub(crate) struct ReactionRequest {
    /// One emoji.
    pub(crate) emoji: String,
}

/// `DELETE /v1/chats/{peer}/messages/{id}` parameters.
#[derive(Debug, Clone, Default, Serialize, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct DeleteQuery {
    /// `everyone` (the default: our own message, within 24 hours of sending it, becomes a
    /// tombstone everywhere) or `me` (any message, from this device only).
    #[serde(rename = "for")]
    pub(crate) scope: Option<String>,
}

/// `PATCH /v1/chats/{peer}`: change a conversation's settings; absent fields stay.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
pub(crate) struct ChatSettingsRequest {
    /// Mute (`true`) or unmute (`false`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) muted: Option<bool>,
    /// With `muted: true`: for how long, in seconds; absent: until unmuted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) muted_for_secs: Option<u64>,
    /// Archive or unarchive.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) archived: Option<bool>,
    /// Pin or unpin.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) pinned: Option<bool>,
    /// The disappearing-message timer in seconds: 300, 3600, 86400 or 604800, or 0 to turn
    /// it off. Both sides see the change as a `timer` message in the chat.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) disappear_secs: Option<u32>,
    /// Which files from this chat are fetched as soon as their message arrives: `default`
    /// (the node's rule: up to 16 MB), `never`, `always` (every file, up to 100 MB), or up to
    /// a size (`5000000`, `500kB`, `50MB`). Files already offered stay offered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) auto_download: Option<String>,
}

/// `PUT /v1/profile`: the profile this account shares with its contacts.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub(crate) struct ProfileView {
    /// The display name (1 to 128 bytes).
    pub(crate) name: String,
    /// A short status line (at most 512 bytes; may be empty).
    #[serde(default)]
    pub(crate) status: String,
}

impl From<tern_node::Profile> for ProfileView {
    fn from(p: tern_node::Profile) -> Self {
        Self {
            name: p.name,
            status: p.status,
        }
    }
}

/// `PUT /v1/profile`'s answer.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub(crate) struct ProfileSet {
    /// The profile now.
    pub(crate) profile: ProfileView,
    /// How many contacts and chats it was sent to (end to end encrypted).
    pub(crate) sent_to: usize,
}

/// `GET /v1/search` parameters.
#[derive(Debug, Clone, Default, Serialize, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct SearchQuery {
    /// The words to find (all of them; the last may be the start of a word).
    pub(crate) q: String,
    /// Only this chat: a contact name or an address, or a group (`#name` or its id).
    pub(crate) peer: Option<String>,
    /// Results per page (1 to 500, default 50).
    pub(crate) limit: Option<usize>,
    /// The `next` cursor of the previous page.
    pub(crate) after: Option<String>,
}

/// A page of search results, newest first.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub(crate) struct SearchResults {
    /// The messages found, newest first, from 1:1 chats and groups alike.
    pub(crate) hits: Vec<SearchHitView>,
    /// Pass as `after` for older results; absent on the last page.
    pub(crate) next: Option<String>,
}

/// A message a search found, in the form its chat's history has: `{"chat": "peer",
/// "message": Message}` for a 1:1 chat, `{"chat": "group", "message": GroupMessage}` for a
/// group (its `group` field names the group).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(tag = "chat", rename_all = "snake_case")]
pub(crate) enum SearchHitView {
    /// In a 1:1 chat (or a message request).
    Peer {
        /// The message, as `GET /v1/chats/{peer}/messages` shows it.
        message: super::MessageView,
    },
    /// In a group.
    Group {
        /// The message, as the group's history shows it.
        message: super::GroupMessageView,
    },
}

impl SearchHitView {
    /// The view of `hit`; `None` for a kind of hit this version does not know.
    pub(crate) fn of(hit: tern_node::SearchHit) -> Option<Self> {
        match hit {
            tern_node::SearchHit::Group(m) => Some(Self::Group { message: m.into() }),
            tern_node::SearchHit::Message(m) => Some(Self::Peer { message: m.into() }),
            _ => None,
        }
    }
}

impl From<tern_node::SearchError> for ApiError {
    fn from(e: tern_node::SearchError) -> Self {
        let message = e.to_string();
        match e {
            tern_node::SearchError::BadCursor(_) => Self::bad_request(message),
            tern_node::SearchError::NoSuchGroup(_) => Self::not_found(message),
            tern_node::SearchError::Stopped => {
                Self::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", message)
            }
            _ => Self::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", message),
        }
    }
}

/// A change accepted: durable here, on its way to the peer.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub(crate) struct Changed {
    /// The message changed.
    pub(crate) target: String,
    /// The change's own message id (absent for a delete for me, which sends nothing).
    pub(crate) id: Option<String>,
}

/// One version of an edited message.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub(crate) struct EditView {
    /// Its text.
    pub(crate) text: String,
    /// When it was written (the author's clock).
    pub(crate) at_ms: u64,
}

/// One person's reaction.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub(crate) struct ReactionView {
    /// Who reacted (an address).
    pub(crate) by: String,
    /// The emoji.
    pub(crate) emoji: String,
}

impl From<tern_node::ChangeError> for ApiError {
    fn from(e: tern_node::ChangeError) -> Self {
        use tern_node::ChangeError as E;
        let message = e.to_string();
        match e {
            E::NoMessage(_) => Self::not_found(message),
            E::NotAuthor => Self::new(StatusCode::FORBIDDEN, "forbidden", message),
            E::WindowClosed | E::Deleted | E::Blocked(_) => {
                Self::new(StatusCode::CONFLICT, "conflict", message)
            }
            E::NotText | E::NotAnEmoji | E::Empty => Self::bad_request(message),
            E::TooLong { .. } => Self::too_large(message),
            E::StorageFull => Self::new(StatusCode::INSUFFICIENT_STORAGE, "storage_full", message),
            E::Stopped => Self::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", message),
            E::Group(e) => e.into(),
            _ => Self::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", message),
        }
    }
}

/// `GET`/`PUT /v1/sharing`: what this account shares with its contacts while online. Both
/// are off until turned on, and reciprocal: off also hides the contacts'.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema)]
pub(crate) struct SharingView {
    /// Typing indicators.
    pub(crate) typing: bool,
    /// Online status and last seen.
    pub(crate) presence: bool,
}

impl From<tern_node::Sharing> for SharingView {
    fn from(s: tern_node::Sharing) -> Self {
        Self {
            typing: s.typing,
            presence: s.presence,
        }
    }
}

impl From<SharingView> for tern_node::Sharing {
    fn from(s: SharingView) -> Self {
        Self {
            typing: s.typing,
            presence: s.presence,
        }
    }
}

/// `POST /v1/chats/{peer}/typing`: the user is typing in the open chat, or stopped.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema)]
pub(crate) struct TypingRequest {
    /// Typing now (`true`), or stopped.
    pub(crate) active: bool,
}

/// `POST /v1/chats/{peer}/typing`'s answer.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema)]
pub(crate) struct TypingSent {
    /// Whether a signal went out: not when typing is not shared, within 3 s of the last
    /// one, or without an open direct connection to the peer.
    pub(crate) sent: bool,
}

/// A contact's presence, when both share it.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema)]
pub(crate) struct PresenceView {
    /// Online now.
    pub(crate) online: bool,
    /// When it was last seen online.
    pub(crate) last_seen_ms: u64,
}

impl From<tern_node::Presence> for PresenceView {
    fn from(p: tern_node::Presence) -> Self {
        Self {
            online: p.online,
            last_seen_ms: p.last_seen_ms,
        }
    }
}
