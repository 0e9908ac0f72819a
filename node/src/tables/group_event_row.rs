//! The stored form of [`GroupEvent`] inside the event log: private mirrors, so that changing
//! the public types never changes the disk format. Variants and fields are only appended.

use serde::{Deserialize, Serialize};
use tern_crypto::UserId;

use super::event_row::{AttachmentV1, direction_v1, state_v1};
use crate::{
    event::{DeliveryState, Direction},
    group::{GroupEvent, GroupId, GroupMessage},
    id::MessageId,
};

/// The stored form of [`GroupMessage`], version 1. Field order is the encoding.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct GroupMessageV1 {
    id: MessageId,
    group: [u8; 32],
    sender: UserId,
    #[serde(with = "direction_v1")]
    direction: Direction,
    text: String,
    sent_at_ms: u64,
    #[serde(with = "state_v1")]
    state: DeliveryState,
}

impl GroupMessageV1 {
    fn into_message(self) -> GroupMessage {
        GroupMessage {
            id: self.id,
            group: GroupId::from_bytes(self.group),
            sender: self.sender,
            direction: self.direction,
            text: self.text,
            attachment: None,
            reply_to: None,
            edited_at_ms: None,
            reactions: Vec::new(),
            deleted: false,
            sent_at_ms: self.sent_at_ms,
            state: self.state,
            delivery: None,
            disappear_secs: None,
            expires_at_ms: None,
            notice: None,
        }
    }
}

/// The stored form of [`GroupEvent`], version 1. Variant order is the encoding.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum GroupEventV1 {
    Joined {
        name: String,
        by: Option<UserId>,
    },
    Message(GroupMessageV1),
    Stored {
        id: MessageId,
        relays: u32,
    },
    Added {
        by: UserId,
        members: Vec<UserId>,
    },
    Removed {
        by: UserId,
        members: Vec<UserId>,
    },
    Renamed {
        by: UserId,
        name: String,
    },
    AdminChanged {
        by: UserId,
        member: UserId,
        admin: bool,
    },
    Ended,
    AddWaiting {
        member: UserId,
    },
    // Appended with files, replies and changes in groups: messages are written in the
    // `Message2` form from then on.
    Message2(GroupMessageV2),
    AttachmentChanged {
        id: MessageId,
        state: super::TransferV1,
    },
    MessageEdited {
        id: MessageId,
        by: UserId,
        text: String,
        edited_at_ms: u64,
    },
    MessageDeleted {
        id: MessageId,
        by: UserId,
    },
    ReactionChanged {
        id: MessageId,
        by: UserId,
        emoji: Option<String>,
    },
    // Appended with rejoining after the log's retention.
    FellBehind {
        asked: Vec<UserId>,
    },
    AddedBack {
        by: UserId,
        members: Vec<UserId>,
    },
    // Appended with delete-for-me in groups.
    DeletedForMe {
        id: MessageId,
    },
    // Appended with gaps in a group's log.
    Missed {
        count: u64,
    },
    // Appended with moving a group's log.
    LogMoved {
        by: UserId,
        relays: Vec<String>,
    },
    // Appended with disappearing messages in groups: messages are written in the
    // `Message3` form from then on.
    Message3(GroupMessageV3),
    TimerChanged {
        by: UserId,
        secs: u32,
    },
    MessageExpired {
        id: MessageId,
    },
}

/// The stored form of [`GroupMessage`], version 2: version 1, then its file, the message it
/// replies to, and whether it was deleted (an event scrubbed by a delete). Edits and
/// reactions come as events of their own. Field order is the encoding.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct GroupMessageV2 {
    base: GroupMessageV1,
    attachment: Option<AttachmentV1>,
    reply_to: Option<MessageId>,
    deleted: bool,
}

/// The stored form of [`GroupMessage`], version 3: version 2, then its disappearing-message
/// timer and when it runs out. Field order is the encoding.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct GroupMessageV3 {
    base: GroupMessageV2,
    disappear_secs: Option<u32>,
    expires_at_ms: Option<u64>,
}

impl GroupMessageV2 {
    fn into_message(self) -> GroupMessage {
        GroupMessage {
            attachment: self.attachment.map(Into::into),
            reply_to: self.reply_to,
            deleted: self.deleted,
            ..self.base.into_message()
        }
    }
}

impl GroupEventV1 {
    /// The stored form of `event`; `None` for an ephemeral one, which is never logged.
    pub(crate) fn stored(event: &GroupEvent) -> Option<Self> {
        Some(match event.clone() {
            GroupEvent::Joined { name, by } => Self::Joined { name, by },
            GroupEvent::Message(m) => Self::Message3(GroupMessageV3 {
                disappear_secs: m.disappear_secs,
                expires_at_ms: m.expires_at_ms,
                base: GroupMessageV2 {
                    attachment: m.attachment.as_ref().map(Into::into),
                    reply_to: m.reply_to,
                    deleted: m.deleted,
                    base: GroupMessageV1 {
                        id: m.id,
                        group: *m.group.as_bytes(),
                        sender: m.sender,
                        direction: m.direction,
                        text: m.text,
                        sent_at_ms: m.sent_at_ms,
                        state: m.state,
                    },
                },
            }),
            GroupEvent::MessageEdited {
                id,
                by,
                text,
                edited_at_ms,
            } => Self::MessageEdited {
                id,
                by,
                text,
                edited_at_ms,
            },
            GroupEvent::MessageDeleted { id, by } => Self::MessageDeleted { id, by },
            GroupEvent::DeletedForMe { id } => Self::DeletedForMe { id },
            GroupEvent::Missed { count } => Self::Missed { count },
            GroupEvent::ReactionChanged { id, by, emoji } => {
                Self::ReactionChanged { id, by, emoji }
            }
            GroupEvent::AttachmentChanged { id, state } => Self::AttachmentChanged {
                id,
                state: (&state).into(),
            },
            GroupEvent::AttachmentProgress { .. } => return None,
            GroupEvent::Stored { id, relays } => Self::Stored { id, relays },
            GroupEvent::Added { by, members } => Self::Added { by, members },
            GroupEvent::Removed { by, members } => Self::Removed { by, members },
            GroupEvent::Renamed { by, name } => Self::Renamed { by, name },
            GroupEvent::AdminChanged { by, member, admin } => {
                Self::AdminChanged { by, member, admin }
            }
            GroupEvent::Ended => Self::Ended,
            GroupEvent::AddWaiting { member } => Self::AddWaiting { member },
            GroupEvent::FellBehind { asked } => Self::FellBehind { asked },
            GroupEvent::AddedBack { by, members } => Self::AddedBack { by, members },
            GroupEvent::LogMoved { by, relays } => Self::LogMoved { by, relays },
            GroupEvent::TimerChanged { by, secs } => Self::TimerChanged { by, secs },
            GroupEvent::MessageExpired { id } => Self::MessageExpired { id },
            GroupEvent::Receipts { .. } => return None,
        })
    }
}

impl From<GroupEventV1> for GroupEvent {
    fn from(row: GroupEventV1) -> Self {
        match row {
            GroupEventV1::Joined { name, by } => Self::Joined { name, by },
            GroupEventV1::Message(m) => Self::Message(m.into_message()),
            GroupEventV1::Message2(m) => Self::Message(m.into_message()),
            GroupEventV1::Message3(m) => Self::Message(GroupMessage {
                disappear_secs: m.disappear_secs,
                expires_at_ms: m.expires_at_ms,
                ..m.base.into_message()
            }),
            GroupEventV1::MessageEdited {
                id,
                by,
                text,
                edited_at_ms,
            } => Self::MessageEdited {
                id,
                by,
                text,
                edited_at_ms,
            },
            GroupEventV1::MessageDeleted { id, by } => Self::MessageDeleted { id, by },
            GroupEventV1::DeletedForMe { id } => Self::DeletedForMe { id },
            GroupEventV1::Missed { count } => Self::Missed { count },
            GroupEventV1::ReactionChanged { id, by, emoji } => {
                Self::ReactionChanged { id, by, emoji }
            }
            GroupEventV1::AttachmentChanged { id, state } => Self::AttachmentChanged {
                id,
                state: (&state).into(),
            },
            GroupEventV1::Stored { id, relays } => Self::Stored { id, relays },
            GroupEventV1::Added { by, members } => Self::Added { by, members },
            GroupEventV1::Removed { by, members } => Self::Removed { by, members },
            GroupEventV1::Renamed { by, name } => Self::Renamed { by, name },
            GroupEventV1::AdminChanged { by, member, admin } => {
                Self::AdminChanged { by, member, admin }
            }
            GroupEventV1::Ended => Self::Ended,
            GroupEventV1::AddWaiting { member } => Self::AddWaiting { member },
            GroupEventV1::FellBehind { asked } => Self::FellBehind { asked },
            GroupEventV1::AddedBack { by, members } => Self::AddedBack { by, members },
            GroupEventV1::LogMoved { by, relays } => Self::LogMoved { by, relays },
            GroupEventV1::TimerChanged { by, secs } => Self::TimerChanged { by, secs },
            GroupEventV1::MessageExpired { id } => Self::MessageExpired { id },
        }
    }
}
