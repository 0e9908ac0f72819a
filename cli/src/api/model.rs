//! The JSON shapes of the local API, which are also what `--json` prints.
//!
//! Addresses are bech32m `tern1…` strings, message ids 32 hex digits, times milliseconds since
//! the Unix epoch, cursors opaque strings to hand back unchanged.

use axum::{
    Json,
    http::StatusCode,
    response::{IntoResponse, Response},
};
use serde::{Deserialize, Serialize};
use tern_node::{Chat, Contact, DeliveryState, Direction, Message, MessageKind, NodeStatus};
use utoipa::{IntoParams, ToSchema};

mod changes;
mod events;
mod files;
mod groups;

pub(crate) use changes::{
    Changed, ChatSettingsRequest, DeleteQuery, EditRequest, EditView, PresenceView, ProfileSet,
    ProfileView, ReactionRequest, ReactionView, SearchHitView, SearchQuery, SearchResults,
    SharingView, TypingRequest, TypingSent,
};
pub(crate) use events::{EventFrame, EventView};
pub(crate) use files::{
    AttachmentView, FetchStarted, FileView, FilesPage, FilesQuery, PreviewView, SavedView,
    UploadQuery, state_name,
};
pub(crate) use groups::{
    GroupChange, GroupEventView, GroupMemberView, GroupMessageView, GroupMessagesQuery,
    GroupReceiptsView, GroupSent, GroupText, GroupView, MembersRequest, NewGroup,
};

/// A failed request: `{"error": {"code": "...", "message": "..."}}`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, thiserror::Error)]
#[error("{message}")]
pub(crate) struct ApiError {
    /// Stable machine-readable reason: `bad_request`, `unauthorized`, `not_found`,
    /// `no_such_route`, `method_not_allowed`, `conflict`, `too_large`, `storage_full`,
    /// `unavailable`, `internal`.
    pub(crate) code: String,
    /// What went wrong, for people.
    pub(crate) message: String,
    #[serde(skip)]
    pub(crate) status: u16,
}

/// The body of every error response.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub(crate) struct ErrorBody {
    pub(crate) error: ApiError,
}

impl ApiError {
    pub(crate) fn new(status: StatusCode, code: &str, message: impl Into<String>) -> Self {
        Self {
            code: code.to_owned(),
            message: message.into(),
            status: status.as_u16(),
        }
    }

    pub(crate) fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "bad_request", message)
    }

    pub(crate) fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", message)
    }

    pub(crate) fn too_large(message: impl Into<String>) -> Self {
        Self::new(StatusCode::PAYLOAD_TOO_LARGE, "too_large", message)
    }
}

impl ApiError {
    pub(crate) fn stopped(message: String) -> Self {
        Self::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", message)
    }

    pub(crate) fn internal(message: String) -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", message)
    }
}

impl From<tern_node::SendError> for ApiError {
    fn from(e: tern_node::SendError) -> Self {
        use tern_node::SendError as E;
        let message = e.to_string();
        match e {
            E::Empty | E::Encryption(_) => Self::bad_request(message),
            E::TooLong { .. } => Self::too_large(message),
            E::Blocked(_) => Self::new(StatusCode::CONFLICT, "conflict", message),
            E::NoMessage(_) => Self::not_found(message),
            E::BadTimer(_) | E::BadProfile => Self::bad_request(message),
            E::StorageFull => Self::new(StatusCode::INSUFFICIENT_STORAGE, "storage_full", message),
            E::Stopped => Self::stopped(message),
            E::Group(e) => e.into(),
            _ => Self::internal(message),
        }
    }
}

impl From<tern_node::ContactError> for ApiError {
    fn from(e: tern_node::ContactError) -> Self {
        use tern_node::ContactError as E;
        let message = e.to_string();
        match e {
            E::InvalidName => Self::bad_request(message),
            E::Unknown(_) => Self::not_found(message),
            E::DuplicateName(_) => Self::new(StatusCode::CONFLICT, "conflict", message),
            E::Stopped => Self::stopped(message),
            _ => Self::internal(message),
        }
    }
}

impl From<tern_node::ChatError> for ApiError {
    fn from(e: tern_node::ChatError) -> Self {
        use tern_node::ChatError as E;
        let message = e.to_string();
        match e {
            E::NoRequest(_) | E::NoChat(_) => Self::not_found(message),
            E::Stopped => Self::stopped(message),
            _ => Self::internal(message),
        }
    }
}

impl From<tern_node::QueryError> for ApiError {
    fn from(e: tern_node::QueryError) -> Self {
        let message = e.to_string();
        match e {
            tern_node::QueryError::Stopped => Self::stopped(message),
            _ => Self::internal(message),
        }
    }
}

impl From<tern_node::PassphraseError> for ApiError {
    fn from(e: tern_node::PassphraseError) -> Self {
        use tern_node::PassphraseError as E;
        let message = e.to_string();
        match e {
            E::Wrong => Self::bad_request(message),
            E::Stopped => Self::stopped(message),
            _ => Self::internal(message),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut response = (status, Json(ErrorBody { error: self })).into_response();
        if status == StatusCode::PAYLOAD_TOO_LARGE {
            // The rest of an oversized body is never read, so the server closes the connection
            // after answering; saying so keeps keep-alive clients from sending their next
            // request down a connection that is about to close.
            response.headers_mut().insert(
                axum::http::header::CONNECTION,
                axum::http::HeaderValue::from_static("close"),
            );
        }
        response
    }
}

/// This account.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub(crate) struct Identity {
    /// The account's address.
    pub(crate) address: String,
    /// The invite to share: `tern:<address>`.
    pub(crate) invite: String,
    /// This account's half of every safety number (30 digits in groups of five).
    pub(crate) fingerprint: String,
}

/// A contact.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub(crate) struct ContactView {
    /// The name given to it.
    pub(crate) name: String,
    /// Its address.
    pub(crate) address: String,
    /// Whether safety numbers were compared.
    pub(crate) verified: bool,
    /// The safety number to compare out of band (60 digits in groups of five).
    pub(crate) safety_number: String,
    /// The profile the contact shared; absent until they share one.
    #[serde(default)]
    pub(crate) profile: Option<ProfileView>,
    /// The contact's identity key: the policy for a change, and whether one happened.
    #[serde(default)]
    pub(crate) identity: IdentityView,
}

/// A peer's identity key as the node sees it. A Tern address never changes; the X25519
/// identity key its account binds can (the peer replaced it, or someone holds the peer's
/// account key).
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
pub(crate) struct IdentityView {
    /// What a change does: `warn` (a notice, the contact is unverified, sending goes on),
    /// `block` (also holds sending until the contact is verified again) or `trust-new` (a
    /// notice only; for bots).
    #[serde(default = "warn")]
    pub(crate) policy: String,
    /// Sending to the peer waits until it is verified again (a change under `block`).
    #[serde(default)]
    pub(crate) held: bool,
    /// When the key last changed; absent if it never did.
    #[serde(default)]
    pub(crate) changed_at_ms: Option<u64>,
}

fn warn() -> String {
    "warn".into()
}

impl From<tern_node::IdentityState> for IdentityView {
    fn from(state: tern_node::IdentityState) -> Self {
        Self {
            policy: policy_name(state.policy).into(),
            held: state.held,
            changed_at_ms: state.changed_at_ms,
        }
    }
}

/// The API's name of a policy.
pub(crate) fn policy_name(policy: tern_node::IdentityPolicy) -> &'static str {
    match policy {
        tern_node::IdentityPolicy::Block => "block",
        tern_node::IdentityPolicy::TrustNew => "trust-new",
        _ => "warn",
    }
}

/// A policy from its API name.
pub(crate) fn parse_policy(name: &str) -> Option<tern_node::IdentityPolicy> {
    match name {
        "warn" => Some(tern_node::IdentityPolicy::Warn),
        "block" => Some(tern_node::IdentityPolicy::Block),
        "trust-new" => Some(tern_node::IdentityPolicy::TrustNew),
        _ => None,
    }
}

/// `PUT /v1/contacts/{peer}/policy`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub(crate) struct PolicyChange {
    /// `warn`, `block` or `trust-new`.
    pub(crate) policy: String,
}

/// `POST /v1/contacts`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub(crate) struct NewContact {
    /// The name to give it (1 to 64 bytes).
    pub(crate) name: String,
    /// Its address or invite (`tern1…` or `tern:tern1…`).
    pub(crate) address: String,
}

/// `POST /v1/contacts/{peer}/verify`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub(crate) struct Verification {
    /// Mark verified (after comparing safety numbers) or not.
    pub(crate) verified: bool,
}

/// Where an outgoing message is. `stored` and `replicas` are set in state `stored`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(tag = "state", rename_all = "snake_case")]
pub(crate) enum Delivery {
    /// Durable in the sender's outbox.
    Queued,
    /// Held by `stored` of the recipient's `replicas` relays.
    Stored {
        /// Relays that confirmed custody.
        stored: u8,
        /// Relays it was deposited at.
        replicas: u8,
    },
    /// Durable on the recipient's device.
    Delivered,
    /// Read by the recipient.
    Read,
    /// Given up on.
    Failed,
}

impl From<DeliveryState> for Delivery {
    fn from(state: DeliveryState) -> Self {
        match state {
            DeliveryState::Queued => Self::Queued,
            DeliveryState::StoredAtRelays { stored, replicas } => Self::Stored { stored, replicas },
            DeliveryState::Delivered => Self::Delivered,
            DeliveryState::Read => Self::Read,
            DeliveryState::Failed => Self::Failed,
        }
    }
}

impl Delivery {
    /// A short mark for people: `…` queued, `⇡k/R` at relays, `✓` delivered, `✓✓` read.
    pub(crate) fn mark(self) -> String {
        match self {
            Self::Queued => "…".into(),
            Self::Stored { stored, replicas } => format!("⇡{stored}/{replicas}"),
            Self::Delivered => "✓".into(),
            Self::Read => "✓✓".into(),
            Self::Failed => "✗".into(),
        }
    }
}

/// One message.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub(crate) struct MessageView {
    /// Its id.
    pub(crate) id: String,
    /// The other party's address.
    pub(crate) peer: String,
    /// `outgoing` or `incoming`.
    pub(crate) direction: String,
    /// `text`; `deleted` (deleted for everyone by its author: a tombstone with an empty
    /// text); `unsupported` (a kind of message this version cannot show, sent by a newer one);
    /// `timer` (a notice: its author set the disappearing-message timer to `timer_secs`);
    /// `identity_changed` (a notice: the peer's identity key changed; `held` says whether
    /// sending waits for the user); `attachment` (a file, in `file`, with its caption as the
    /// text).
    #[serde(default = "text_kind")]
    pub(crate) kind: String,
    /// The text: the newest edit's when edited, empty when deleted or unsupported.
    pub(crate) text: String,
    /// The message it replies to.
    #[serde(default)]
    pub(crate) reply_to: Option<String>,
    /// When it was last edited; absent if never.
    #[serde(default)]
    pub(crate) edited_at_ms: Option<u64>,
    /// Reactions, one per person.
    #[serde(default)]
    pub(crate) reactions: Vec<ReactionView>,
    /// The sender's timestamp.
    pub(crate) sent_at_ms: u64,
    /// Delivery state (incoming messages are `delivered`).
    pub(crate) delivery: Delivery,
    /// Whether we read it (incoming messages).
    pub(crate) read: bool,
    /// For an `identity_changed` notice: sending to the peer waited for the user.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) held: Option<bool>,
    /// For a `timer` notice: the timer set, in seconds (0: off).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) timer_secs: Option<u32>,
    /// A disappearing message: erased this many seconds after it is read (incoming) or sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) disappear_secs: Option<u32>,
    /// When a disappearing message is erased, once its timer runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) expires_at_ms: Option<u64>,
    /// The file of an `attachment` message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) file: Option<AttachmentView>,
}

impl From<Message> for MessageView {
    fn from(m: Message) -> Self {
        Self {
            id: m.id.to_string(),
            peer: m.peer.to_string(),
            direction: match m.direction {
                Direction::Outgoing => "outgoing",
                Direction::Incoming => "incoming",
            }
            .into(),
            kind: match m.kind {
                MessageKind::Deleted => "deleted",
                MessageKind::Unsupported { .. } => "unsupported",
                MessageKind::Timer { .. } => "timer",
                MessageKind::IdentityChanged { .. } => "identity_changed",
                MessageKind::Attachment => "attachment",
                _ => "text",
            }
            .into(),
            held: match m.kind {
                MessageKind::IdentityChanged { held } => Some(held),
                _ => None,
            },
            timer_secs: match m.kind {
                MessageKind::Timer { secs } => Some(secs),
                _ => None,
            },
            disappear_secs: m.disappear_secs,
            expires_at_ms: m.expires_at_ms,
            file: m.attachment.map(Into::into),
            text: m.text,
            reply_to: m.reply_to.map(|id| id.to_string()),
            edited_at_ms: m.edited_at_ms,
            reactions: m
                .reactions
                .into_iter()
                .map(|r| ReactionView {
                    by: r.by.to_string(),
                    emoji: r.emoji,
                })
                .collect(),
            sent_at_ms: m.sent_at_ms,
            delivery: m.state.into(),
            read: m.read,
        }
    }
}

fn text_kind() -> String {
    "text".into()
}

impl MessageView {
    pub(crate) fn outgoing(&self) -> bool {
        self.direction == "outgoing"
    }
}

/// `POST /v1/messages`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub(crate) struct NewMessage {
    /// Contact name, address or invite.
    pub(crate) to: String,
    /// The text (at most 65,536 bytes of UTF-8).
    pub(crate) text: String,
    /// The id of the message this one replies to, in the same conversation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) reply_to: Option<String>,
}

/// A message accepted into the outbox: durable from now on, delivered in the background.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub(crate) struct Sent {
    /// The message id, as later events name it.
    pub(crate) id: String,
    /// The recipient's address.
    pub(crate) peer: String,
    /// Always `queued` here; follow the events for the rest.
    pub(crate) delivery: Delivery,
}

/// One page of a conversation, oldest first.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub(crate) struct HistoryPage {
    /// The messages, oldest first.
    pub(crate) messages: Vec<MessageView>,
    /// Pass as `before` for the older page; absent at the beginning of the conversation.
    pub(crate) before: Option<String>,
}

/// `GET /v1/chats/{peer}/messages` parameters.
#[derive(Debug, Clone, Default, Serialize, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct HistoryQuery {
    /// Messages per page (1 to 500, default 50).
    pub(crate) limit: Option<usize>,
    /// The `before` cursor of the previous page.
    pub(crate) before: Option<String>,
}

/// A conversation in the chat list.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub(crate) struct ChatView {
    /// The other party's address.
    pub(crate) peer: String,
    /// The contact's name, when it is a contact.
    pub(crate) name: Option<String>,
    /// Time of the last message.
    pub(crate) last_ms: u64,
    /// The last message's text.
    pub(crate) last_text: String,
    /// Unread incoming messages.
    pub(crate) unread: u32,
    /// Muted until this time (milliseconds; 18446744073709551615: until unmuted); absent when
    /// not muted. Clients do not notify about a muted chat's messages.
    #[serde(default)]
    pub(crate) muted_until_ms: Option<u64>,
    /// Archived (listed with `?archived=true`).
    #[serde(default)]
    pub(crate) archived: bool,
    /// Pinned to the top of the list.
    #[serde(default)]
    pub(crate) pinned: bool,
    /// The disappearing-message timer in seconds; absent when off.
    #[serde(default)]
    pub(crate) disappear_secs: Option<u32>,
    /// The chat's own rule for files: those up to this many bytes are fetched as soon as
    /// their message arrives (0: none); absent: the node's default.
    #[serde(default)]
    pub(crate) auto_download: Option<u64>,
    /// The profile the peer shared; absent until they share one.
    #[serde(default)]
    pub(crate) profile: Option<ProfileView>,
    /// Whether the peer is typing in this chat now (when both share typing).
    #[serde(default)]
    pub(crate) typing: bool,
    /// The peer's presence, when both share it; absent until heard from.
    #[serde(default)]
    pub(crate) presence: Option<PresenceView>,
    /// The peer's identity key: the policy for a change, and whether one happened.
    #[serde(default)]
    pub(crate) identity: IdentityView,
}

impl From<Chat> for ChatView {
    fn from(c: Chat) -> Self {
        Self {
            peer: c.peer.to_string(),
            name: c.name,
            last_ms: c.last_ms,
            last_text: c.last_text,
            unread: c.unread,
            muted_until_ms: c.muted_until_ms,
            archived: c.archived,
            pinned: c.pinned,
            disappear_secs: c.disappear_secs,
            auto_download: c.auto_download,
            profile: c.profile.map(Into::into),
            typing: c.typing,
            presence: c.presence.map(Into::into),
            identity: c.identity.into(),
        }
    }
}

/// A page of the chat list, most recent first.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub(crate) struct ChatsPage {
    /// The chats.
    pub(crate) chats: Vec<ChatView>,
    /// Pass as `cursor` for the next page; absent on the last page.
    pub(crate) next: Option<String>,
    /// On the first page of the main list (not archived), the groups we are in, the most
    /// recent first, each with its last message.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(crate) groups: Vec<GroupChatView>,
}

/// A group in the chat list: the group, and its last message.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub(crate) struct GroupChatView {
    /// The group.
    #[serde(flatten)]
    pub(crate) group: GroupView,
    /// Its newest message, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) last: Option<GroupMessageView>,
}

/// `GET /v1/chats` parameters.
#[derive(Debug, Clone, Default, Serialize, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct ChatsQuery {
    /// Chats per page (1 to 500, default 50).
    pub(crate) limit: Option<usize>,
    /// The `next` cursor of the previous page.
    pub(crate) cursor: Option<String>,
    /// `true`: only archived chats; absent or `false`: the main list, without them.
    pub(crate) archived: Option<bool>,
}

/// A message request: messages from someone who is neither a contact nor in the chat list,
/// held apart until accepted, deleted or blocked.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub(crate) struct RequestView {
    /// The sender's address.
    pub(crate) peer: String,
    /// Time of the first message held.
    pub(crate) first_ms: u64,
    /// Time of the last message held.
    pub(crate) last_ms: u64,
    /// The last message's text (at most 100 characters).
    pub(crate) last_text: String,
    /// Messages held (at most 20 per sender, 1,000 in all requests).
    pub(crate) messages: u32,
    /// Messages of this sender dropped, oldest first, to stay within those caps.
    pub(crate) dropped: u32,
}

impl From<tern_node::MessageRequest> for RequestView {
    fn from(r: tern_node::MessageRequest) -> Self {
        Self {
            peer: r.peer.to_string(),
            first_ms: r.first_ms,
            last_ms: r.last_ms,
            last_text: r.last_text,
            messages: r.messages,
            dropped: r.dropped,
        }
    }
}

/// `DELETE /v1/chats/{peer}`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub(crate) struct Deleted {
    /// Messages deleted (and erased from the database files).
    pub(crate) deleted: usize,
}

/// A blocked account.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub(crate) struct BlockedView {
    /// Its address.
    pub(crate) address: String,
}

/// How the user changed a conversation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub(crate) enum ChatChangeView {
    /// Its message request was accepted.
    Accepted,
    /// It was deleted.
    Deleted,
    /// Its peer was blocked.
    Blocked,
    /// Its peer was unblocked.
    Unblocked,
    /// It was muted.
    Muted,
    /// It was unmuted.
    Unmuted,
    /// It was archived.
    Archived,
    /// It left the archive (by hand, or because a message arrived while not muted).
    Unarchived,
    /// It was pinned.
    Pinned,
    /// It was unpinned.
    Unpinned,
    /// Its rule for fetching files by themselves changed.
    AutoDownload,
    /// A change this version does not describe.
    Other,
}

/// `POST /v1/chats/{peer}/read`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub(crate) struct Marked {
    /// Messages newly marked read (read receipts were queued for them).
    pub(crate) marked: usize,
}

/// The node's state.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub(crate) struct StatusView {
    /// The account's address.
    pub(crate) address: String,
    /// This device's libp2p peer id.
    pub(crate) peer_id: String,
    /// Addresses the node listens on.
    pub(crate) listen_addresses: Vec<String>,
    /// Peers with an open connection.
    pub(crate) connected_peers: usize,
    /// NAT reachability: `public`, `private` or `unknown`.
    pub(crate) nat: String,
    /// Messages waiting in the outbox.
    pub(crate) outbox: usize,
    /// The mailbox relays and whether each is connected.
    pub(crate) relays: Vec<RelayView>,
    /// Refused inputs by reason.
    pub(crate) rejections: std::collections::BTreeMap<String, u64>,
    /// The sequence number of this node's DHT record as last confirmed readable by another
    /// peer; `null` until a publish succeeds (until then, contacts cannot find this node).
    pub(crate) record_published: Option<u64>,
    /// Whether that record still says what it should (addresses, circuits, relays, prekeys):
    /// `false` while a changed one waits to be published.
    pub(crate) record_current: bool,
    /// The relays this node holds a circuit reservation at (while `nat` is `private`):
    /// contacts reach it through them until a hole punch connects them directly.
    pub(crate) circuits: Vec<String>,
    /// Relayed connections upgraded to direct ones by hole punching since the start.
    pub(crate) hole_punches_succeeded: u64,
    /// Hole punches that failed (behind a symmetric NAT, say) since the start.
    pub(crate) hole_punches_failed: u64,
    /// The path each contact is on.
    pub(crate) contacts: Vec<ContactPathView>,
}

/// The path a contact is on.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub(crate) struct ContactPathView {
    /// The contact's address.
    pub(crate) address: String,
    /// Its name.
    pub(crate) name: String,
    /// `direct` (a connection straight to its device is open, hole-punched or not),
    /// `circuit` (only a connection through a relay's circuit is open) or `mailbox` (no
    /// connection is open: the next message dials it and otherwise goes to its relays).
    pub(crate) path: String,
}

/// One of this account's mailbox relays.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub(crate) struct RelayView {
    /// Its peer id.
    pub(crate) peer_id: String,
    /// Whether a connection to it is open.
    pub(crate) connected: bool,
}

impl From<NodeStatus> for StatusView {
    fn from(s: NodeStatus) -> Self {
        Self {
            address: s.user.to_string(),
            peer_id: s.peer_id,
            listen_addresses: s.listen_addresses,
            connected_peers: s.connected_peers,
            nat: s.nat.to_string(),
            outbox: s.outbox,
            relays: s
                .relays
                .into_iter()
                .map(|r| RelayView {
                    peer_id: r.peer_id,
                    connected: r.connected,
                })
                .collect(),
            rejections: s.rejections,
            record_published: s.record_published,
            record_current: s.record_current,
            circuits: s.circuits,
            hole_punches_succeeded: s.hole_punches.succeeded,
            hole_punches_failed: s.hole_punches.failed,
            contacts: s
                .contacts
                .into_iter()
                .map(|c| ContactPathView {
                    address: c.user.to_string(),
                    name: c.name,
                    path: c.path.to_string(),
                })
                .collect(),
        }
    }
}

/// `GET /v1/events` parameters.
#[derive(Debug, Clone, Default, Serialize, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct EventsQuery {
    /// Resume after this cursor (the last one received); `latest`: only events from now on;
    /// absent: from the oldest retained event.
    pub(crate) after: Option<String>,
}

/// Converts a contact for the API.
pub(crate) fn contact_view(me: &tern_node::UserId, contact: Contact) -> ContactView {
    ContactView {
        safety_number: tern_node::SafetyNumber::new(me, &contact.user).to_string(),
        name: contact.name,
        address: contact.user.to_string(),
        verified: contact.verified,
        profile: contact.profile.map(Into::into),
        identity: contact.identity.into(),
    }
}
