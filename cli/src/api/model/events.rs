//! The frames of the event WebSocket.

use serde::{Deserialize, Serialize};
use tern_node::Event;
use utoipa::ToSchema;

use super::{ChatChangeView, Delivery, MessageView};

/// One frame of the event WebSocket.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub(crate) struct EventFrame {
    /// Its position in the log: reconnect with `?after=<cursor>` to resume after it.
    pub(crate) cursor: String,
    /// What happened.
    pub(crate) event: EventView,
}

/// Something that happened.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
pub(crate) enum EventView {
    /// A message arrived.
    MessageReceived {
        /// The message.
        message: MessageView,
    },
    /// A message was accepted into the outbox.
    MessageSent {
        /// The message.
        message: MessageView,
    },
    /// An outgoing message moved on.
    DeliveryChanged {
        /// The conversation.
        peer: String,
        /// The message.
        id: String,
        /// Its new state.
        delivery: Delivery,
    },
    /// A contact became reachable.
    ContactOnline {
        /// Its address.
        peer: String,
    },
    /// A contact stopped being reachable.
    ContactOffline {
        /// Its address.
        peer: String,
    },
    /// Something the user should know about.
    Error {
        /// The conversation, if any.
        peer: Option<String>,
        /// What happened.
        message: String,
    },
    /// A message arrived from someone who is neither a contact nor in the chat list: a
    /// message request (`GET /v1/requests`).
    RequestReceived {
        /// The message.
        message: MessageView,
    },
    /// The user accepted a request, deleted a chat, blocked or unblocked someone.
    ChatChanged {
        /// The conversation.
        peer: String,
        /// What changed.
        change: ChatChangeView,
    },
    /// A message's author gave it a new text.
    MessageEdited {
        /// The conversation.
        peer: String,
        /// The message.
        id: String,
        /// Its text now.
        text: String,
        /// When the edit was made (the author's clock).
        edited_at_ms: u64,
    },
    /// A message was deleted: for everyone by its author (a tombstone stays) or for us only.
    MessageDeleted {
        /// The conversation.
        peer: String,
        /// The message.
        id: String,
        /// Whether for everyone.
        for_everyone: bool,
    },
    /// Someone reacted to a message, changed their reaction or took it back.
    ReactionChanged {
        /// The conversation.
        peer: String,
        /// The message.
        id: String,
        /// Who (an address).
        by: String,
        /// The reaction now; absent when taken back.
        emoji: Option<String>,
    },
    /// A received edit, delete or reaction was refused: it named a message its sender did
    /// not write (`forged_change`), or came after the 24-hour window (`edit_window`).
    ChangeRefused {
        /// The conversation.
        peer: String,
        /// The message it named.
        id: String,
        /// Why.
        reason: String,
    },
    /// A disappearing message's time ran out: it is erased from this device.
    MessageExpired {
        /// The conversation.
        peer: String,
        /// The message.
        id: String,
    },
    /// Ephemeral (never replayed): a contact started or stopped typing in our chat.
    Typing {
        /// The contact's address.
        peer: String,
        /// Typing now, or stopped.
        active: bool,
    },
    /// Ephemeral (never replayed): a contact who shares presence came online or went
    /// offline.
    Presence {
        /// The contact's address.
        peer: String,
        /// Online now.
        online: bool,
        /// When it was last seen online.
        last_seen_ms: u64,
    },
    /// A contact shared a new profile.
    ProfileChanged {
        /// The contact's address.
        peer: String,
        /// Their display name now.
        name: String,
        /// Their status line now.
        status: String,
    },
    /// A peer's identity key changed; the chat holds an `identity_changed` notice.
    IdentityChanged {
        /// The peer's address.
        peer: String,
        /// The policy that applied: `warn`, `block` or `trust-new`.
        policy: String,
        /// Sending to the peer waits until it is verified again.
        held: bool,
    },
    /// A file moved on: fetched and verified (`ready`), `failed`, or `fetching` again.
    AttachmentChanged {
        /// The conversation.
        peer: String,
        /// The message that carries it.
        id: String,
        /// `ready`, `offered`, `fetching` or `failed`.
        state: String,
        /// Why it failed, for `failed`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        failure: Option<String>,
    },
    /// Ephemeral (never replayed): more of a file arrived and verified.
    AttachmentProgress {
        /// The conversation.
        peer: String,
        /// The message that carries it.
        id: String,
        /// Encrypted bytes verified and stored so far.
        received: u64,
        /// Encrypted bytes in all.
        total: u64,
    },
    /// Something happened in a group: a message, a member joining or leaving, a rename.
    Group {
        /// The group's id.
        group: String,
        /// What happened.
        event: super::GroupEventView,
    },
    /// An event this version does not describe yet.
    Other {
        /// A description.
        description: String,
    },
}

impl From<Event> for EventView {
    fn from(event: Event) -> Self {
        match event {
            Event::MessageReceived(m) => Self::MessageReceived { message: m.into() },
            Event::MessageSent(m) => Self::MessageSent { message: m.into() },
            Event::DeliveryStateChanged { peer, id, state } => Self::DeliveryChanged {
                peer: peer.to_string(),
                id: id.to_string(),
                delivery: state.into(),
            },
            Event::ContactOnline(peer) => Self::ContactOnline {
                peer: peer.to_string(),
            },
            Event::ContactOffline(peer) => Self::ContactOffline {
                peer: peer.to_string(),
            },
            Event::Error { peer, message } => Self::Error {
                peer: peer.map(|p| p.to_string()),
                message,
            },
            Event::RequestReceived(m) => Self::RequestReceived { message: m.into() },
            Event::ChatChanged { peer, change } => Self::ChatChanged {
                peer: peer.to_string(),
                change: match change {
                    tern_node::ChatChange::Accepted => ChatChangeView::Accepted,
                    tern_node::ChatChange::Deleted => ChatChangeView::Deleted,
                    tern_node::ChatChange::Blocked => ChatChangeView::Blocked,
                    tern_node::ChatChange::Unblocked => ChatChangeView::Unblocked,
                    tern_node::ChatChange::Muted => ChatChangeView::Muted,
                    tern_node::ChatChange::Unmuted => ChatChangeView::Unmuted,
                    tern_node::ChatChange::Archived => ChatChangeView::Archived,
                    tern_node::ChatChange::Unarchived => ChatChangeView::Unarchived,
                    tern_node::ChatChange::Pinned => ChatChangeView::Pinned,
                    tern_node::ChatChange::Unpinned => ChatChangeView::Unpinned,
                    tern_node::ChatChange::AutoDownload => ChatChangeView::AutoDownload,
                    _ => ChatChangeView::Other,
                },
            },
            Event::MessageEdited {
                peer,
                id,
                text,
                edited_at_ms,
            } => Self::MessageEdited {
                peer: peer.to_string(),
                id: id.to_string(),
                text,
                edited_at_ms,
            },
            Event::MessageDeleted {
                peer,
                id,
                for_everyone,
            } => Self::MessageDeleted {
                peer: peer.to_string(),
                id: id.to_string(),
                for_everyone,
            },
            Event::ReactionChanged {
                peer,
                id,
                by,
                emoji,
            } => Self::ReactionChanged {
                peer: peer.to_string(),
                id: id.to_string(),
                by: by.to_string(),
                emoji,
            },
            Event::ChangeRefused { peer, id, reason } => Self::ChangeRefused {
                peer: peer.to_string(),
                id: id.to_string(),
                reason,
            },
            Event::MessageExpired { peer, id } => Self::MessageExpired {
                peer: peer.to_string(),
                id: id.to_string(),
            },
            Event::Typing { peer, active } => Self::Typing {
                peer: peer.to_string(),
                active,
            },
            Event::Presence {
                peer,
                online,
                last_seen_ms,
            } => Self::Presence {
                peer: peer.to_string(),
                online,
                last_seen_ms,
            },
            Event::ProfileChanged { peer, name, status } => Self::ProfileChanged {
                peer: peer.to_string(),
                name,
                status,
            },
            Event::IdentityChanged { peer, policy, held } => Self::IdentityChanged {
                peer: peer.to_string(),
                policy: super::policy_name(policy).into(),
                held,
            },
            Event::AttachmentChanged { peer, id, state } => {
                let (state, failure) = super::state_name(&state);
                Self::AttachmentChanged {
                    peer: peer.to_string(),
                    id: id.to_string(),
                    state: state.into(),
                    failure,
                }
            }
            Event::AttachmentProgress {
                peer,
                id,
                received,
                total,
            } => Self::AttachmentProgress {
                peer: peer.to_string(),
                id: id.to_string(),
                received,
                total,
            },
            Event::Group { group, event } => Self::Group {
                group: group.to_string(),
                event: event.into(),
            },
            other => Self::Other {
                description: format!("{other:?}"),
            },
        }
    }
}
