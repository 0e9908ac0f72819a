//! Group chats: how the API shows groups and their messages, and what it takes to make and
//! change them.

use serde::{Deserialize, Serialize};
use tern_node::{Direction, GroupDelivery, GroupEvent, GroupInfo, GroupMessage};
use utoipa::ToSchema;

use super::{ApiError, Delivery};

/// A group we are or were in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub(crate) struct GroupView {
    /// Its id: 64 hex digits (commands take a unique prefix, or `#name`).
    pub(crate) id: String,
    /// Its name.
    pub(crate) name: String,
    /// Its MLS epoch: how many membership or settings changes it has been through.
    pub(crate) epoch: u64,
    /// Its members, ourselves included (empty once we are out).
    pub(crate) members: Vec<GroupMemberView>,
    /// Whether we are an admin.
    pub(crate) admin: bool,
    /// Whether we are still in it.
    pub(crate) active: bool,
    /// The relays that keep its log.
    pub(crate) sequencers: Vec<String>,
    /// When our node last renewed our keys in the group (Unix milliseconds): within a day
    /// of joining, then weekly. Absent: not since we joined.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) keys_renewed_ms: Option<u64>,
    /// Messages from other members since the group was last marked read
    /// (`POST /v1/groups/{group}/read`).
    #[serde(default)]
    pub(crate) unread: u32,
    /// The group's own rule for fetching files as soon as their message arrives: files up to
    /// this many bytes (0: none). Absent: the daemon's rule.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) auto_download: Option<u64>,
    /// Our messages waiting for members' leaves to be committed (MLS lets nobody send until
    /// a leave is); they go out once it is.
    #[serde(default)]
    pub(crate) held: u32,
    /// The group's disappearing-message timer in seconds; absent when off. Any member sets
    /// it for everyone (`PATCH /v1/groups/{group}` with `disappear_secs`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) disappear_secs: Option<u32>,
    /// Whether the group's log is being moved away from relays that nobody could reach for
    /// the failover delay: an admin's move waits for the settle time, so that moves made by
    /// admins at once meet and every member follows the same one.
    #[serde(default)]
    pub(crate) failing_over: bool,
    /// Since when no relay of the group's log answers this node (Unix ms); absent while one
    /// does. After the failover delay, an admin's node moves the log.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) unreachable_since_ms: Option<u64>,
}

/// A member of a group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub(crate) struct GroupMemberView {
    /// Its address.
    pub(crate) address: String,
    /// Whether it is an admin.
    pub(crate) admin: bool,
}

impl From<GroupInfo> for GroupView {
    fn from(g: GroupInfo) -> Self {
        Self {
            id: g.id.to_string(),
            name: g.name,
            epoch: g.epoch,
            members: g
                .members
                .into_iter()
                .map(|m| GroupMemberView {
                    address: m.user.to_string(),
                    admin: m.admin,
                })
                .collect(),
            admin: g.admin,
            active: g.active,
            sequencers: g.sequencers,
            keys_renewed_ms: g.keys_renewed_ms,
            unread: g.unread,
            auto_download: g.auto_download,
            held: g.held,
            disappear_secs: g.disappear_secs,
            failing_over: g.failing_over,
            unreachable_since_ms: g.unreachable_since_ms,
        }
    }
}

/// A message of a group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub(crate) struct GroupMessageView {
    /// Its id (32 hex digits).
    pub(crate) id: String,
    /// The group's id.
    pub(crate) group: String,
    /// Its author's address.
    pub(crate) sender: String,
    /// `in` or `out`.
    pub(crate) direction: String,
    /// Its text; for a file, its caption (possibly empty).
    pub(crate) text: String,
    /// The file, when the message carries one (`GET /v1/chats/%23name/messages/{id}/file`
    /// downloads it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) file: Option<Box<super::AttachmentView>>,
    /// The message of the group it replies to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) reply_to: Option<String>,
    /// When its author last edited it (Unix milliseconds, the author's clock).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) edited_at_ms: Option<u64>,
    /// The members' reactions, one per member.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(crate) reactions: Vec<super::ReactionView>,
    /// Deleted for everyone by its author: `text` is empty and there is no `file`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub(crate) deleted: bool,
    /// When the author wrote it (Unix milliseconds, the author's clock).
    pub(crate) sent_at_ms: u64,
    /// For ours: queued, then stored at the group's relays. Received: delivered.
    pub(crate) delivery: Delivery,
    /// For ours: how many of the other members have it and have read it. Absent for
    /// received messages.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) receipts: Option<GroupReceiptsView>,
    /// A disappearing message: erased this many seconds after it is sent (ours) or read
    /// (another member's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) disappear_secs: Option<u32>,
    /// When a disappearing message is erased (Unix milliseconds), once its timer runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) expires_at_ms: Option<u64>,
    /// A notice, not a message: a change to the group kept where it happened, in the form
    /// of the event that reported it (`joined`, `added`, `removed`, `added_back`, `renamed`,
    /// `admin_changed`, `timer_changed`, `log_moved`, `ended`, `missed`, `fell_behind`).
    /// `text` is empty, `sender` made the change (this account for `ended`, `missed` and
    /// `fell_behind`), and a notice is never unread; edits, deletes for everyone, reactions
    /// and replies to it are refused (404), deleting it for me is not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(no_recursion)]
    pub(crate) notice: Option<Box<GroupEventView>>,
}

/// How far one of our group messages got: delivered to `delivered` of `members`, read by
/// `read` (members who send read receipts).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub(crate) struct GroupReceiptsView {
    /// Other members whose devices hold it.
    pub(crate) delivered: u32,
    /// Other members that read it.
    pub(crate) read: u32,
    /// The other members of the group when it was sent.
    pub(crate) members: u32,
}

impl GroupReceiptsView {
    /// The later of two snapshots: counts only grow.
    pub(crate) fn latest(a: Option<Self>, b: Option<Self>) -> Option<Self> {
        match (a, b) {
            (Some(a), Some(b)) => Some(Self {
                delivered: a.delivered.max(b.delivered),
                read: a.read.max(b.read),
                members: a.members.max(b.members),
            }),
            (a, b) => a.or(b),
        }
    }
}

impl GroupMessageView {
    /// A short mark for people, on our messages: `…` queued, `⇡k/R` at the group's relays,
    /// then `✓n/m` delivered to n of the m other members, and `✓✓r/m` once r read it.
    pub(crate) fn mark(&self) -> String {
        match self.receipts {
            Some(r) if r.delivered > 0 && r.read > 0 => {
                format!("✓{}/{m} ✓✓{}/{m}", r.delivered, r.read, m = r.members)
            }
            Some(r) if r.delivered > 0 => format!("✓{}/{}", r.delivered, r.members),
            _ => self.delivery.mark(),
        }
    }
}

impl From<GroupDelivery> for GroupReceiptsView {
    fn from(d: GroupDelivery) -> Self {
        Self {
            delivered: d.delivered,
            read: d.read,
            members: d.members,
        }
    }
}

impl From<GroupMessage> for GroupMessageView {
    fn from(m: GroupMessage) -> Self {
        Self {
            id: m.id.to_string(),
            group: m.group.to_string(),
            sender: m.sender.to_string(),
            direction: match m.direction {
                Direction::Incoming => "in",
                _ => "out",
            }
            .into(),
            text: m.text,
            file: m.attachment.map(|a| Box::new(a.into())),
            reply_to: m.reply_to.map(|id| id.to_string()),
            edited_at_ms: m.edited_at_ms,
            reactions: m
                .reactions
                .into_iter()
                .map(|r| super::ReactionView {
                    by: r.by.to_string(),
                    emoji: r.emoji,
                })
                .collect(),
            deleted: m.deleted,
            sent_at_ms: m.sent_at_ms,
            delivery: m.state.into(),
            receipts: m.delivery.map(Into::into),
            disappear_secs: m.disappear_secs,
            expires_at_ms: m.expires_at_ms,
            notice: m.notice.map(|change| Box::new((*change).into())),
        }
    }
}

/// A group to create.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub(crate) struct NewGroup {
    /// Its name (1 to 255 bytes).
    pub(crate) name: String,
    /// Contacts (names or addresses) to add at once.
    #[serde(default)]
    pub(crate) members: Vec<String>,
}

/// Accounts to add to or remove from a group.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub(crate) struct MembersRequest {
    /// Contacts' names or addresses.
    pub(crate) members: Vec<String>,
}

/// A change to a group's settings: a new name, an admin promoted or demoted, the relays that
/// keep its log, its disappearing-message timer, or the group's rule for fetching files by
/// themselves.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
pub(crate) struct GroupChange {
    /// The new name.
    #[serde(default)]
    pub(crate) name: Option<String>,
    /// A member to promote to admin (name or address).
    #[serde(default)]
    pub(crate) promote: Option<String>,
    /// An admin to demote (name or address).
    #[serde(default)]
    pub(crate) demote: Option<String>,
    /// Move the group's log to these relays (admins only): 1 to 3 multiaddresses, each
    /// ending in `/p2p/<peer id>`, in the order that decides. Members follow from the
    /// commit on; one away meanwhile reads the commit at the relays the log leaves, so
    /// those are needed until every member has.
    #[serde(default)]
    pub(crate) relays: Option<Vec<String>>,
    /// Which of the group's files this node fetches as soon as their message arrives:
    /// `never`, `always`, a size (`2MB`, `500kB`, `5000000`) or `default` (the daemon's
    /// rule). Ours alone: the other members do not see it.
    #[serde(default)]
    pub(crate) auto_download: Option<String>,
    /// The group's disappearing-message timer in seconds: 300, 3600, 86400 or 604800, or 0
    /// to turn it off. Any member may set it; every member sees a `timer_changed` event,
    /// and each message sent from then on is erased that long after it is sent (on its
    /// sender's devices) or read (on the others').
    #[serde(default)]
    pub(crate) disappear_secs: Option<u32>,
}

/// A text for a group.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub(crate) struct GroupText {
    /// The text.
    pub(crate) text: String,
}

/// A message accepted for a group.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub(crate) struct GroupSent {
    /// The group's id.
    pub(crate) group: String,
    /// The message's id.
    pub(crate) id: String,
}

/// What happened in a group, in the event WebSocket.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub(crate) enum GroupEventView {
    /// We are in the group: we made it, or `by` added us.
    Joined {
        /// Its name.
        name: String,
        /// Who added us (absent: we created it).
        by: Option<String>,
    },
    /// A message arrived, or ours was accepted.
    Message {
        /// The message.
        message: GroupMessageView,
    },
    /// Receipts from other members moved a message of ours. Ephemeral: after a reconnect,
    /// read the counts from the group's messages.
    Receipts {
        /// The message.
        id: String,
        /// Its counts now.
        receipts: GroupReceiptsView,
    },
    /// A message of ours is held by `relays` of the group's relays.
    Stored {
        /// The message.
        id: String,
        /// How many relays signed for it.
        relays: u32,
    },
    /// Its author edited a message.
    MessageEdited {
        /// The message.
        id: String,
        /// Its author.
        by: String,
        /// The new text.
        text: String,
        /// When, by the author's clock.
        edited_at_ms: u64,
    },
    /// Its author deleted a message for everyone.
    MessageDeleted {
        /// The message.
        id: String,
        /// Its author.
        by: String,
    },
    /// A message was deleted from this device alone; the other members keep it.
    DeletedForMe {
        /// The message.
        id: String,
    },
    /// A member reacted to a message, or took the reaction back (`emoji` absent).
    ReactionChanged {
        /// The message.
        id: String,
        /// The member.
        by: String,
        /// The emoji.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        emoji: Option<String>,
    },
    /// The file of a message moved: fetched, failed, or ready.
    AttachmentChanged {
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
        /// The message that carries it.
        id: String,
        /// Encrypted bytes verified and stored so far.
        received: u64,
        /// Encrypted bytes in all.
        total: u64,
    },
    /// Accounts joined.
    Added {
        /// Who added them.
        by: String,
        /// Their addresses.
        members: Vec<String>,
    },
    /// Accounts were removed, or left.
    Removed {
        /// Who committed it.
        by: String,
        /// Their addresses.
        members: Vec<String>,
    },
    /// The group was renamed.
    Renamed {
        /// By whom.
        by: String,
        /// The new name.
        name: String,
    },
    /// An account became an admin, or stopped being one.
    AdminChanged {
        /// By whom.
        by: String,
        /// The account.
        member: String,
        /// Whether it is an admin now.
        admin: bool,
    },
    /// We are out of the group.
    Ended,
    /// Adding this account waits for its key package, asked for over the 1:1 path.
    AddWaiting {
        /// The account.
        member: String,
    },
    /// This device was away longer than the group's relays keep its log: what was sent
    /// meanwhile is lost to it, and it waits for an admin to add it back.
    FellBehind {
        /// The admins it asked (its contacts); empty: an admin must remove and add it.
        asked: Vec<String>,
    },
    /// Entries of the group's log expired at its relays before this device read them (it
    /// was away longer than they keep them): up to `count` messages, receipts and changes
    /// sent meanwhile are lost to it. It reads on after them.
    Missed {
        /// How many log entries expired unread.
        count: u64,
    },
    /// Members that had fallen behind the group's log were added back.
    AddedBack {
        /// Who added them back.
        by: String,
        /// Their addresses.
        members: Vec<String>,
    },
    /// An admin moved the group's log: its messages are kept at these relays from this
    /// commit on.
    LogMoved {
        /// The admin.
        by: String,
        /// The relays, in the order that decides.
        relays: Vec<String>,
    },
    /// A member set the group's disappearing-message timer.
    TimerChanged {
        /// The member.
        by: String,
        /// The timer in seconds; 0: off.
        timer_secs: u32,
    },
    /// A disappearing message's time ran out: it is erased from this device.
    MessageExpired {
        /// The message.
        id: String,
    },
    /// Something this version does not describe.
    Other,
}

impl From<GroupEvent> for GroupEventView {
    fn from(event: GroupEvent) -> Self {
        let all = |users: Vec<tern_node::UserId>| users.iter().map(ToString::to_string).collect();
        match event {
            GroupEvent::Joined { name, by } => Self::Joined {
                name,
                by: by.map(|b| b.to_string()),
            },
            GroupEvent::Message(m) => Self::Message { message: m.into() },
            GroupEvent::Receipts { id, delivery } => Self::Receipts {
                id: id.to_string(),
                receipts: delivery.into(),
            },
            GroupEvent::Stored { id, relays } => Self::Stored {
                id: id.to_string(),
                relays,
            },
            GroupEvent::MessageEdited {
                id,
                by,
                text,
                edited_at_ms,
            } => Self::MessageEdited {
                id: id.to_string(),
                by: by.to_string(),
                text,
                edited_at_ms,
            },
            GroupEvent::MessageDeleted { id, by } => Self::MessageDeleted {
                id: id.to_string(),
                by: by.to_string(),
            },
            GroupEvent::DeletedForMe { id } => Self::DeletedForMe { id: id.to_string() },
            GroupEvent::ReactionChanged { id, by, emoji } => Self::ReactionChanged {
                id: id.to_string(),
                by: by.to_string(),
                emoji,
            },
            GroupEvent::AttachmentChanged { id, state } => {
                let (state, failure) = super::state_name(&state);
                Self::AttachmentChanged {
                    id: id.to_string(),
                    state: state.into(),
                    failure,
                }
            }
            GroupEvent::AttachmentProgress {
                id,
                received,
                total,
            } => Self::AttachmentProgress {
                id: id.to_string(),
                received,
                total,
            },
            GroupEvent::Added { by, members } => Self::Added {
                by: by.to_string(),
                members: all(members),
            },
            GroupEvent::Removed { by, members } => Self::Removed {
                by: by.to_string(),
                members: all(members),
            },
            GroupEvent::Renamed { by, name } => Self::Renamed {
                by: by.to_string(),
                name,
            },
            GroupEvent::AdminChanged { by, member, admin } => Self::AdminChanged {
                by: by.to_string(),
                member: member.to_string(),
                admin,
            },
            GroupEvent::Ended => Self::Ended,
            GroupEvent::AddWaiting { member } => Self::AddWaiting {
                member: member.to_string(),
            },
            GroupEvent::FellBehind { asked } => Self::FellBehind { asked: all(asked) },
            GroupEvent::Missed { count } => Self::Missed { count },
            GroupEvent::AddedBack { by, members } => Self::AddedBack {
                by: by.to_string(),
                members: all(members),
            },
            GroupEvent::LogMoved { by, relays } => Self::LogMoved {
                by: by.to_string(),
                relays,
            },
            GroupEvent::TimerChanged { by, secs } => Self::TimerChanged {
                by: by.to_string(),
                timer_secs: secs,
            },
            GroupEvent::MessageExpired { id } => Self::MessageExpired { id: id.to_string() },
            _ => Self::Other,
        }
    }
}

impl From<tern_node::GroupError> for ApiError {
    fn from(e: tern_node::GroupError) -> Self {
        use axum::http::StatusCode;
        use tern_node::GroupError as E;
        let message = e.to_string();
        match e {
            E::NoSuchGroup(_) | E::NoMember(_) => Self::not_found(message),
            E::NotMember(_) | E::Busy | E::FellBehind(_) => {
                Self::new(StatusCode::CONFLICT, "conflict", message)
            }
            E::NotAllowed(_) => Self::new(StatusCode::FORBIDDEN, "forbidden", message),
            E::NoRelays => Self::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", message),
            E::BadName | E::BadRelays(_) | E::Empty => Self::bad_request(message),
            E::TooLong { .. } => Self::too_large(message),
            E::StorageFull => Self::new(StatusCode::INSUFFICIENT_STORAGE, "storage_full", message),
            E::Stopped => Self::stopped(message),
            _ => Self::internal(message),
        }
    }
}

/// `GET /v1/groups/{group}/messages` parameters.
#[derive(Debug, Clone, Default, Serialize, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct GroupMessagesQuery {
    /// The newest messages, at most this many (1 to 500, default 50), oldest first.
    pub(crate) limit: Option<usize>,
}
