//! The stored form of the event log's rows: private mirrors (`*V1`, `*V2`) of the public
//! event types, so that changing a public type never changes the disk format. Variants and
//! fields are only ever appended.

use serde::{Deserialize, Serialize};
use tern_crypto::UserId;

use crate::{
    attachment::{Attachment, AttachmentKind},
    event::{ChatChange, DeliveryState, Direction, Event, Message, MessageKind, Reaction},
    id::MessageId,
};

use super::group_event_row::GroupEventV1;

/// An event as the log stores it (through [`EventV1`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct EventRow(pub(crate) Event);

impl Serialize for EventRow {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        EventV1::from(&self.0).serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for EventRow {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        EventV1::deserialize(deserializer).map(|row| Self(row.into()))
    }
}

/// The stored form of [`Direction`], version 1. Variant order is the encoding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
enum DirectionV1 {
    Outgoing,
    Incoming,
}

/// The stored form of [`DeliveryState`], version 1. Variant order is the encoding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
enum StateV1 {
    Queued,
    StoredAtRelays { stored: u8, replicas: u8 },
    Delivered,
    Read,
    Failed,
}

/// The stored form of [`Message`] inside an event, version 1. Field order is the encoding.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct MessageV1 {
    id: MessageId,
    peer: UserId,
    #[serde(with = "direction_v1")]
    direction: Direction,
    text: String,
    sent_at_ms: u64,
    #[serde(with = "state_v1")]
    state: DeliveryState,
    read: bool,
}

/// The stored form of [`Event`], version 1. Variant order is the encoding.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
enum EventV1 {
    MessageReceived(MessageV1),
    MessageSent(MessageV1),
    DeliveryStateChanged {
        peer: UserId,
        id: MessageId,
        #[serde(with = "state_v1")]
        state: DeliveryState,
    },
    ContactOnline(UserId),
    ContactOffline(UserId),
    Error {
        peer: Option<UserId>,
        message: String,
    },
    // Appended after version 1 shipped: the rows above keep their encoding, so no
    // migration is needed; a build older than these variants cannot read logs holding them.
    RequestReceived(MessageV1),
    ChatChanged {
        peer: UserId,
        change: ChatChangeV1,
    },
    // Appended with replies, edits, deletes and reactions: message events are written in
    // the `*2` forms from then on, and the version-1 forms still read.
    MessageReceived2(MessageV2),
    MessageSent2(MessageV2),
    RequestReceived2(MessageV2),
    MessageEdited {
        peer: UserId,
        id: MessageId,
        text: String,
        edited_at_ms: u64,
    },
    MessageDeleted {
        peer: UserId,
        id: MessageId,
        for_everyone: bool,
    },
    ReactionChanged {
        peer: UserId,
        id: MessageId,
        by: UserId,
        emoji: Option<String>,
    },
    ChangeRefused {
        peer: UserId,
        id: MessageId,
        reason: String,
    },
    // Appended with disappearing messages and profiles: message events are written in the
    // `*3` forms from then on.
    MessageReceived3(MessageV3),
    MessageSent3(MessageV3),
    RequestReceived3(MessageV3),
    MessageExpired {
        peer: UserId,
        id: MessageId,
    },
    ProfileChanged {
        peer: UserId,
        name: String,
        status: String,
    },
    // Appended with the identity-change policy.
    IdentityChanged {
        peer: UserId,
        policy: super::PolicyV1,
        held: bool,
    },
    // Appended with attachments: message events are written in the `*4` forms from then on.
    MessageReceived4(MessageV4),
    MessageSent4(MessageV4),
    RequestReceived4(MessageV4),
    AttachmentChanged {
        peer: UserId,
        id: MessageId,
        state: super::TransferV1,
    },
    // Appended with groups.
    Group {
        group: [u8; 32],
        event: GroupEventV1,
    },
}

/// The stored form of [`Message`] inside an event, version 4: version 3, then the file of an
/// attachment message. Field order is the encoding.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct MessageV4 {
    base: MessageV3,
    attachment: Option<AttachmentV1>,
}

/// The stored form of [`crate::Attachment`]. Field order is the encoding.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct AttachmentV1 {
    kind: AttachmentKindV1,
    name: String,
    mime: String,
    size: u64,
    state: super::TransferV1,
}

/// The stored form of [`AttachmentKind`]. Variant order is the encoding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
enum AttachmentKindV1 {
    Image,
    Video,
    Audio,
    Voice,
    Document,
}

impl From<&Message> for MessageV4 {
    fn from(m: &Message) -> Self {
        Self {
            base: m.into(),
            attachment: m.attachment.as_ref().map(AttachmentV1::from),
        }
    }
}

impl From<MessageV4> for Message {
    fn from(m: MessageV4) -> Self {
        Self {
            attachment: m.attachment.map(Attachment::from),
            ..m.base.into()
        }
    }
}

impl From<&Attachment> for AttachmentV1 {
    fn from(a: &Attachment) -> Self {
        Self {
            kind: match a.kind {
                AttachmentKind::Image => AttachmentKindV1::Image,
                AttachmentKind::Video => AttachmentKindV1::Video,
                AttachmentKind::Audio => AttachmentKindV1::Audio,
                AttachmentKind::Voice => AttachmentKindV1::Voice,
                AttachmentKind::Document => AttachmentKindV1::Document,
            },
            name: a.name.clone(),
            mime: a.mime.clone(),
            size: a.size,
            state: (&a.state).into(),
        }
    }
}

impl From<AttachmentV1> for Attachment {
    fn from(a: AttachmentV1) -> Self {
        Self {
            kind: match a.kind {
                AttachmentKindV1::Image => AttachmentKind::Image,
                AttachmentKindV1::Video => AttachmentKind::Video,
                AttachmentKindV1::Audio => AttachmentKind::Audio,
                AttachmentKindV1::Voice => AttachmentKind::Voice,
                AttachmentKindV1::Document => AttachmentKind::Document,
            },
            name: a.name,
            mime: a.mime,
            size: a.size,
            state: (&a.state).into(),
        }
    }
}

/// The stored form of [`Message`] inside an event, version 3: version 2, then the
/// disappearing-message fields. Field order is the encoding.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct MessageV3 {
    base: MessageV2,
    disappear_secs: Option<u32>,
    expires_at_ms: Option<u64>,
}

impl From<&Message> for MessageV3 {
    fn from(m: &Message) -> Self {
        Self {
            base: m.into(),
            disappear_secs: m.disappear_secs,
            expires_at_ms: m.expires_at_ms,
        }
    }
}

impl From<MessageV3> for Message {
    fn from(m: MessageV3) -> Self {
        Self {
            disappear_secs: m.disappear_secs,
            expires_at_ms: m.expires_at_ms,
            ..m.base.into()
        }
    }
}

/// The stored form of [`Message`] inside an event, version 2: version 1's fields, then the
/// ones replies, edits, deletes and reactions added. Field order is the encoding.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct MessageV2 {
    base: MessageV1,
    kind: KindV1,
    reply_to: Option<MessageId>,
    edited_at_ms: Option<u64>,
    reactions: Vec<(UserId, String)>,
}

/// The stored form of [`MessageKind`]. Variant order is the encoding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
enum KindV1 {
    Text,
    Deleted,
    Unsupported(u8),
    Timer(u32),
    IdentityChanged(bool),
    // Appended with attachments.
    Attachment,
}

impl From<&Message> for MessageV2 {
    fn from(m: &Message) -> Self {
        Self {
            base: m.into(),
            kind: match m.kind {
                MessageKind::Text => KindV1::Text,
                MessageKind::Deleted => KindV1::Deleted,
                MessageKind::Unsupported { content_type } => KindV1::Unsupported(content_type),
                MessageKind::Timer { secs } => KindV1::Timer(secs),
                MessageKind::IdentityChanged { held } => KindV1::IdentityChanged(held),
                MessageKind::Attachment => KindV1::Attachment,
            },
            reply_to: m.reply_to,
            edited_at_ms: m.edited_at_ms,
            reactions: m
                .reactions
                .iter()
                .map(|r| (r.by, r.emoji.clone()))
                .collect(),
        }
    }
}

impl From<MessageV2> for Message {
    fn from(m: MessageV2) -> Self {
        Self {
            kind: match m.kind {
                KindV1::Text => MessageKind::Text,
                KindV1::Deleted => MessageKind::Deleted,
                KindV1::Unsupported(content_type) => MessageKind::Unsupported { content_type },
                KindV1::Timer(secs) => MessageKind::Timer { secs },
                KindV1::IdentityChanged(held) => MessageKind::IdentityChanged { held },
                KindV1::Attachment => MessageKind::Attachment,
            },
            reply_to: m.reply_to,
            edited_at_ms: m.edited_at_ms,
            reactions: m
                .reactions
                .into_iter()
                .map(|(by, emoji)| Reaction { by, emoji })
                .collect(),
            ..m.base.into()
        }
    }
}

/// The stored form of [`ChatChange`]. Variant order is the encoding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
enum ChatChangeV1 {
    Accepted,
    Deleted,
    Blocked,
    Unblocked,
    // Appended with chat settings.
    Muted,
    Unmuted,
    Archived,
    Unarchived,
    Pinned,
    Unpinned,
    // Appended with per-chat download rules.
    AutoDownload,
}

impl From<ChatChange> for ChatChangeV1 {
    fn from(change: ChatChange) -> Self {
        match change {
            ChatChange::Accepted => Self::Accepted,
            ChatChange::Deleted => Self::Deleted,
            ChatChange::Blocked => Self::Blocked,
            ChatChange::Unblocked => Self::Unblocked,
            ChatChange::Muted => Self::Muted,
            ChatChange::Unmuted => Self::Unmuted,
            ChatChange::Archived => Self::Archived,
            ChatChange::Unarchived => Self::Unarchived,
            ChatChange::Pinned => Self::Pinned,
            ChatChange::Unpinned => Self::Unpinned,
            ChatChange::AutoDownload => Self::AutoDownload,
        }
    }
}

impl From<ChatChangeV1> for ChatChange {
    fn from(change: ChatChangeV1) -> Self {
        match change {
            ChatChangeV1::Accepted => Self::Accepted,
            ChatChangeV1::Deleted => Self::Deleted,
            ChatChangeV1::Blocked => Self::Blocked,
            ChatChangeV1::Unblocked => Self::Unblocked,
            ChatChangeV1::Muted => Self::Muted,
            ChatChangeV1::Unmuted => Self::Unmuted,
            ChatChangeV1::Archived => Self::Archived,
            ChatChangeV1::Unarchived => Self::Unarchived,
            ChatChangeV1::Pinned => Self::Pinned,
            ChatChangeV1::Unpinned => Self::Unpinned,
            ChatChangeV1::AutoDownload => Self::AutoDownload,
        }
    }
}

impl From<&Message> for MessageV1 {
    fn from(m: &Message) -> Self {
        Self {
            id: m.id,
            peer: m.peer,
            direction: m.direction,
            text: m.text.clone(),
            sent_at_ms: m.sent_at_ms,
            state: m.state,
            read: m.read,
        }
    }
}

impl From<MessageV1> for Message {
    fn from(m: MessageV1) -> Self {
        Self {
            id: m.id,
            peer: m.peer,
            direction: m.direction,
            kind: MessageKind::Text,
            text: m.text,
            reply_to: None,
            edited_at_ms: None,
            reactions: Vec::new(),
            sent_at_ms: m.sent_at_ms,
            state: m.state,
            read: m.read,
            disappear_secs: None,
            expires_at_ms: None,
            attachment: None,
        }
    }
}

impl From<&Event> for EventV1 {
    fn from(event: &Event) -> Self {
        match event {
            Event::MessageReceived(m) => Self::MessageReceived4(m.into()),
            Event::MessageSent(m) => Self::MessageSent4(m.into()),
            Event::DeliveryStateChanged { peer, id, state } => Self::DeliveryStateChanged {
                peer: *peer,
                id: *id,
                state: *state,
            },
            Event::ContactOnline(user) => Self::ContactOnline(*user),
            Event::ContactOffline(user) => Self::ContactOffline(*user),
            Event::Error { peer, message } => Self::Error {
                peer: *peer,
                message: message.clone(),
            },
            Event::RequestReceived(m) => Self::RequestReceived4(m.into()),
            Event::ChatChanged { peer, change } => Self::ChatChanged {
                peer: *peer,
                change: (*change).into(),
            },
            Event::MessageEdited {
                peer,
                id,
                text,
                edited_at_ms,
            } => Self::MessageEdited {
                peer: *peer,
                id: *id,
                text: text.clone(),
                edited_at_ms: *edited_at_ms,
            },
            Event::MessageDeleted {
                peer,
                id,
                for_everyone,
            } => Self::MessageDeleted {
                peer: *peer,
                id: *id,
                for_everyone: *for_everyone,
            },
            Event::ReactionChanged {
                peer,
                id,
                by,
                emoji,
            } => Self::ReactionChanged {
                peer: *peer,
                id: *id,
                by: *by,
                emoji: emoji.clone(),
            },
            Event::ChangeRefused { peer, id, reason } => Self::ChangeRefused {
                peer: *peer,
                id: *id,
                reason: reason.clone(),
            },
            Event::MessageExpired { peer, id } => Self::MessageExpired {
                peer: *peer,
                id: *id,
            },
            Event::ProfileChanged { peer, name, status } => Self::ProfileChanged {
                peer: *peer,
                name: name.clone(),
                status: status.clone(),
            },
            Event::IdentityChanged { peer, policy, held } => Self::IdentityChanged {
                peer: *peer,
                policy: (*policy).into(),
                held: *held,
            },
            Event::AttachmentChanged { peer, id, state } => Self::AttachmentChanged {
                peer: *peer,
                id: *id,
                state: state.into(),
            },
            Event::Group { group, event } => match GroupEventV1::stored(event) {
                Some(stored) => Self::Group {
                    group: *group.as_bytes(),
                    event: stored,
                },
                None => Self::Error {
                    peer: None,
                    message: format!("ephemeral event logged: {event:?}"),
                },
            },
            // Ephemeral events are published live and never committed; should one reach the
            // log, it reads back as a described error rather than failing the whole write.
            Event::Typing { peer, .. }
            | Event::Presence { peer, .. }
            | Event::AttachmentProgress { peer, .. } => Self::Error {
                peer: Some(*peer),
                message: format!("ephemeral event logged: {event:?}"),
            },
        }
    }
}

impl From<EventV1> for Event {
    fn from(row: EventV1) -> Self {
        match row {
            EventV1::MessageReceived(m) => Self::MessageReceived(m.into()),
            EventV1::MessageSent(m) => Self::MessageSent(m.into()),
            EventV1::DeliveryStateChanged { peer, id, state } => {
                Self::DeliveryStateChanged { peer, id, state }
            }
            EventV1::ContactOnline(user) => Self::ContactOnline(user),
            EventV1::ContactOffline(user) => Self::ContactOffline(user),
            EventV1::Error { peer, message } => Self::Error { peer, message },
            EventV1::RequestReceived(m) => Self::RequestReceived(m.into()),
            EventV1::ChatChanged { peer, change } => Self::ChatChanged {
                peer,
                change: change.into(),
            },
            EventV1::MessageReceived2(m) => Self::MessageReceived(m.into()),
            EventV1::MessageSent2(m) => Self::MessageSent(m.into()),
            EventV1::RequestReceived2(m) => Self::RequestReceived(m.into()),
            EventV1::MessageEdited {
                peer,
                id,
                text,
                edited_at_ms,
            } => Self::MessageEdited {
                peer,
                id,
                text,
                edited_at_ms,
            },
            EventV1::MessageDeleted {
                peer,
                id,
                for_everyone,
            } => Self::MessageDeleted {
                peer,
                id,
                for_everyone,
            },
            EventV1::ReactionChanged {
                peer,
                id,
                by,
                emoji,
            } => Self::ReactionChanged {
                peer,
                id,
                by,
                emoji,
            },
            EventV1::ChangeRefused { peer, id, reason } => Self::ChangeRefused { peer, id, reason },
            EventV1::MessageReceived3(m) => Self::MessageReceived(m.into()),
            EventV1::MessageSent3(m) => Self::MessageSent(m.into()),
            EventV1::RequestReceived3(m) => Self::RequestReceived(m.into()),
            EventV1::MessageExpired { peer, id } => Self::MessageExpired { peer, id },
            EventV1::ProfileChanged { peer, name, status } => {
                Self::ProfileChanged { peer, name, status }
            }
            EventV1::IdentityChanged { peer, policy, held } => Self::IdentityChanged {
                peer,
                policy: policy.into(),
                held,
            },
            EventV1::MessageReceived4(m) => Self::MessageReceived(m.into()),
            EventV1::MessageSent4(m) => Self::MessageSent(m.into()),
            EventV1::RequestReceived4(m) => Self::RequestReceived(m.into()),
            EventV1::AttachmentChanged { peer, id, state } => Self::AttachmentChanged {
                peer,
                id,
                state: (&state).into(),
            },
            EventV1::Group { group, event } => Self::Group {
                group: crate::group::GroupId::from_bytes(group),
                event: event.into(),
            },
        }
    }
}

/// `#[serde(with)]` for a [`Direction`] stored as [`DirectionV1`].
pub(in crate::tables) mod direction_v1 {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    use super::DirectionV1;
    use crate::event::Direction;

    pub(in crate::tables) fn serialize<S: Serializer>(
        d: &Direction,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        match d {
            Direction::Outgoing => DirectionV1::Outgoing,
            Direction::Incoming => DirectionV1::Incoming,
        }
        .serialize(s)
    }

    pub(in crate::tables) fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Direction, D::Error> {
        Ok(match DirectionV1::deserialize(d)? {
            DirectionV1::Outgoing => Direction::Outgoing,
            DirectionV1::Incoming => Direction::Incoming,
        })
    }
}

/// `#[serde(with)]` for a [`DeliveryState`] stored as [`StateV1`].
pub(in crate::tables) mod state_v1 {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    use super::StateV1;
    use crate::event::DeliveryState;

    pub(in crate::tables) fn serialize<S: Serializer>(
        state: &DeliveryState,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        match *state {
            DeliveryState::Queued => StateV1::Queued,
            DeliveryState::StoredAtRelays { stored, replicas } => {
                StateV1::StoredAtRelays { stored, replicas }
            }
            DeliveryState::Delivered => StateV1::Delivered,
            DeliveryState::Read => StateV1::Read,
            DeliveryState::Failed => StateV1::Failed,
        }
        .serialize(s)
    }

    pub(in crate::tables) fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<DeliveryState, D::Error> {
        Ok(match StateV1::deserialize(d)? {
            StateV1::Queued => DeliveryState::Queued,
            StateV1::StoredAtRelays { stored, replicas } => {
                DeliveryState::StoredAtRelays { stored, replicas }
            }
            StateV1::Delivered => DeliveryState::Delivered,
            StateV1::Read => DeliveryState::Read,
            StateV1::Failed => DeliveryState::Failed,
        })
    }
}
