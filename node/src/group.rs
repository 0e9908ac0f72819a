//! Group chats: MLS groups (`tern-mls`) whose messages and commits are ordered by a log at
//! the group's sequencer relays (`docs/protocol/groups.md`).
//!
//! This module holds the public types ([`GroupId`], [`GroupInfo`], [`GroupMember`],
//! [`GroupMessage`], [`GroupEvent`], [`GroupError`]), the tables, the glue between
//! `tern-mls` and the node's store and certificates (`group/mls.rs`), and the log task of
//! each group (`group/log.rs`). The core drives them (`core/groups.rs`).

pub(crate) mod log;
pub(crate) mod mls;
pub(crate) mod tables;

use std::{fmt, str::FromStr, time::Duration};

use serde::{Deserialize, Serialize};
use tern_crypto::UserId;

use crate::{
    error::StorageError,
    event::{DeliveryState, Direction},
    id::{MessageId, ParseIdError},
};

/// A group's id: 32 random bytes the creator drew (the MLS group id). Shown as 64
/// lowercase hex digits.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct GroupId([u8; 32]);

impl GroupId {
    /// The id made of `bytes`.
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// The id's bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// The first 8 hex digits, for people and logs.
    pub fn short(&self) -> String {
        self.to_string()[..8].to_owned()
    }
}

impl fmt::Display for GroupId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for b in self.0 {
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for GroupId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "GroupId({})", self.short())
    }
}

impl FromStr for GroupId {
    type Err = ParseIdError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bytes = s.as_bytes();
        if bytes.len() != 64 || !s.is_ascii() {
            return Err(ParseIdError);
        }
        let mut out = [0u8; 32];
        for (i, pair) in bytes.chunks(2).enumerate() {
            let hex = std::str::from_utf8(pair).map_err(|_| ParseIdError)?;
            out[i] = u8::from_str_radix(hex, 16).map_err(|_| ParseIdError)?;
        }
        Ok(Self(out))
    }
}

/// A member of a group, by account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupMember {
    /// The member's account.
    pub user: UserId,
    /// Whether the account is an admin of the group.
    pub admin: bool,
}

/// A group as [`crate::Node::group_info`] and [`crate::Node::groups`] show it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupInfo {
    /// The group.
    pub id: GroupId,
    /// Its name.
    pub name: String,
    /// Its MLS epoch: how many commits it has been through.
    pub epoch: u64,
    /// Its members, by account, ourselves included; empty once we are out.
    pub members: Vec<GroupMember>,
    /// Whether we are an admin.
    pub admin: bool,
    /// Whether we are still in it (not removed, not left).
    pub active: bool,
    /// The relays that keep its log, as addresses.
    pub sequencers: Vec<String>,
    /// When a commit of ours last renewed our keys in it (Unix ms); `None`: not since we
    /// joined. The node renews them within a day of joining, then weekly, so that a key
    /// stolen from this device stops reading the group (post-compromise security).
    pub keys_renewed_ms: Option<u64>,
    /// Messages from other members since the group was last marked read
    /// ([`crate::Node::mark_group_read`]).
    pub unread: u32,
    /// The group's own rule for fetching files by themselves: those up to this many bytes
    /// ([`crate::Node::set_group_auto_download`]); `None`: the node's default.
    #[serde(default)]
    pub auto_download: Option<u64>,
    /// Our messages waiting for members' leaves to be committed: until a leave is, MLS lets
    /// no member send, so the node keeps what we send (shown as queued) and sends it once
    /// the leave is committed (`docs/protocol/groups.md` §9.7).
    #[serde(default)]
    pub held: u32,
    /// The group's disappearing-message timer in seconds; `None` when off. Any member sets
    /// it, and every member follows the change the log orders last.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disappear_secs: Option<u32>,
    /// Whether a failover of the group's log is waiting to be decided: its sequencers were
    /// unreachable, and an admin moved the log by a commit that every member follows once
    /// the settle time has passed (`docs/protocol/groups.md` §9.9).
    #[serde(default)]
    pub failing_over: bool,
    /// Since when no sequencer of the group's log answers this device (Unix ms); `None`
    /// while one does. Counted across restarts; after the failover delay an admin moves
    /// the log (`docs/protocol/groups.md` §9.9).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unreachable_since_ms: Option<u64>,
}

/// When an admin moves a group's log away from sequencers nobody can reach
/// (`docs/protocol/groups.md` §9.9), set with [`crate::Builder::with_group_failover`].
///
/// ```
/// use std::time::Duration;
/// let failover = tern_node::GroupFailover {
///     after: Duration::from_secs(600),
///     ..tern_node::GroupFailover::default()
/// };
/// assert_eq!(failover.settle, Duration::from_secs(300));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GroupFailover {
    /// How long every sequencer of a group must stay unreachable before its first admin
    /// moves the log (default one hour).
    pub after: Duration,
    /// How much longer each further admin waits, in the order of seniority, so that one
    /// admin usually moves it alone (default five minutes).
    pub stagger: Duration,
    /// How long a member holds the first failover it receives before it follows one, so
    /// that failovers made at once meet and every member picks the same (default five
    /// minutes).
    pub settle: Duration,
}

impl Default for GroupFailover {
    fn default() -> Self {
        Self {
            after: Duration::from_secs(3600),
            stagger: Duration::from_secs(300),
            settle: Duration::from_secs(300),
        }
    }
}

/// A message of a group chat.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupMessage {
    /// Its id.
    pub id: MessageId,
    /// The group.
    pub group: GroupId,
    /// Who wrote it.
    pub sender: UserId,
    /// Whether we sent or received it.
    pub direction: Direction,
    /// Its text; for a file, its caption (perhaps empty).
    pub text: String,
    /// The file, when the message is one. Fetched from the group's sequencer relays
    /// ([`crate::Node::fetch_attachment`] and the other file methods take the group's id).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attachment: Option<crate::Attachment>,
    /// The message of the group it replies to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reply_to: Option<MessageId>,
    /// When its author last edited it (the author's clock, Unix milliseconds).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub edited_at_ms: Option<u64>,
    /// The members' reactions to it, one per member.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reactions: Vec<crate::Reaction>,
    /// Deleted for everyone by its author: a tombstone, its text and file erased.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub deleted: bool,
    /// When the sender wrote it, by the sender's clock (Unix milliseconds).
    pub sent_at_ms: u64,
    /// For a message we sent: `Queued` until a sequencer relay holds it, then
    /// `StoredAtRelays`. A received message is `Delivered`.
    pub state: DeliveryState,
    /// For a message we sent: how many of the other members have it, and have read it.
    /// `None` for a received message, and in the event log (counts move after the
    /// message; read them from [`crate::Node::group_history`] or
    /// [`GroupEvent::Receipts`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delivery: Option<GroupDelivery>,
    /// A disappearing message: erased this many seconds after it is sent (ours) or read
    /// (another member's), by the timer it was sent under.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disappear_secs: Option<u32>,
    /// When a disappearing message is erased (Unix milliseconds), once its timer runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at_ms: Option<u64>,
    /// A notice, not a message: a change to the group, kept in history where it happened,
    /// as the event that reported it then ([`GroupEvent::is_notice`] says which are kept).
    /// A notice has no text and is never unread, `sender` is who made the change (this
    /// account for what happened here alone: `Ended`, `Missed`, `FellBehind`), and nothing
    /// can be done to it: edits, deletes for everyone, reactions and replies are refused
    /// as for a message that does not exist.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notice: Option<Box<GroupEvent>>,
}

/// How far one of our group messages got: "delivered to `delivered` of `members`". Each
/// member's node acknowledges what it holds durably in batched receipts through the group's
/// log, and what its user read when it sends read receipts (`docs/protocol/groups.md`
/// §10.2). Each account counts once, however many devices it has.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupDelivery {
    /// Other members whose devices hold the message.
    pub delivered: u32,
    /// Other members that read it.
    pub read: u32,
    /// The other members of the group when it was sent.
    pub members: u32,
}

/// What happened in a group, as [`crate::Event::Group`] reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
#[expect(
    clippy::large_enum_variant,
    reason = "events are as large as a 1:1 message's in `Event` anyway; boxing the group's \
              would cost an allocation per event and change every match on it"
)]
pub enum GroupEvent {
    /// We are in the group: we created it (`by` is `None`) or `by` added us.
    Joined {
        /// The group's name.
        name: String,
        /// Who added us.
        by: Option<UserId>,
    },
    /// A message arrived, or one we wrote was accepted.
    Message(GroupMessage),
    /// A message we sent is held by this many of the group's sequencer relays.
    Stored {
        /// The message.
        id: MessageId,
        /// How many relays signed for it.
        relays: u32,
    },
    /// Receipts from other members moved a message we sent: its new counts. Ephemeral
    /// (never in the event log): a client that reconnects reads the counts from history.
    Receipts {
        /// The message.
        id: MessageId,
        /// Its counts now.
        delivery: GroupDelivery,
    },
    /// Its author edited a message ([`crate::Node::edit`] with the group's id).
    MessageEdited {
        /// The message.
        id: MessageId,
        /// Its author.
        by: UserId,
        /// The new text.
        text: String,
        /// When, by the author's clock (Unix milliseconds).
        edited_at_ms: u64,
    },
    /// Its author deleted a message for everyone: it is a tombstone now.
    MessageDeleted {
        /// The message.
        id: MessageId,
        /// Its author.
        by: UserId,
    },
    /// A message was deleted from this device alone ([`crate::Node::delete_for_me`]): it
    /// left history here, and the other members keep theirs.
    DeletedForMe {
        /// The message.
        id: MessageId,
    },
    /// A member reacted to a message, or took the reaction back (`emoji` is `None`).
    ReactionChanged {
        /// The message.
        id: MessageId,
        /// The member.
        by: UserId,
        /// The reaction, one emoji.
        emoji: Option<String>,
    },
    /// The file of a message moved: fetched, failed, or ready ([`GroupMessage::attachment`]).
    AttachmentChanged {
        /// The message.
        id: MessageId,
        /// Where its file stands now.
        state: crate::AttachmentState,
    },
    /// More of a file arrived, verified. Ephemeral (never in the event log).
    AttachmentProgress {
        /// The message.
        id: MessageId,
        /// Bytes verified and on disk.
        received: u64,
        /// The whole file's bytes (ciphertext).
        total: u64,
    },
    /// Accounts joined the group.
    Added {
        /// Who added them.
        by: UserId,
        /// The accounts.
        members: Vec<UserId>,
    },
    /// Accounts were removed from the group, or left it.
    Removed {
        /// Who committed the removal.
        by: UserId,
        /// The accounts.
        members: Vec<UserId>,
    },
    /// The group was renamed.
    Renamed {
        /// Who renamed it.
        by: UserId,
        /// The new name.
        name: String,
    },
    /// An account became an admin, or stopped being one.
    AdminChanged {
        /// Who committed the change.
        by: UserId,
        /// The account.
        member: UserId,
        /// Whether it is an admin now.
        admin: bool,
    },
    /// We are no longer in the group (removed, or we left).
    Ended,
    /// This device was away longer than the group's relays keep its log: what was sent
    /// meanwhile is lost to it, and it cannot follow the group until an admin adds it back.
    /// It asked the admins in `asked` to (those among our contacts); the group's `Joined`
    /// event follows when one did. With nobody to ask, an admin must remove and add us.
    FellBehind {
        /// The admins asked to add us back.
        asked: Vec<UserId>,
    },
    /// Entries of the group's log expired at its relays before this device read them: it was
    /// away longer than they keep them (21 days by default) while the group went on in the
    /// same epoch. Up to `count` messages, receipts and changes sent meanwhile are lost to
    /// this device; it reads on after them. (When the group moved to a new epoch meanwhile,
    /// the device cannot read on at all: [`GroupEvent::FellBehind`].)
    Missed {
        /// How many log entries expired unread.
        count: u64,
    },
    /// Members that had fallen behind the group's log were added back by `by`.
    AddedBack {
        /// Who added them back.
        by: UserId,
        /// The accounts added back.
        members: Vec<UserId>,
    },
    /// Adding a member waits for that member's key package, which was asked for over the
    /// 1:1 path; the add is made when it arrives.
    AddWaiting {
        /// The account.
        member: UserId,
    },
    /// An admin moved the group's log: from this commit on, its messages are kept at these
    /// relays (`/p2p/` multiaddresses, in the order that decides,
    /// [`crate::Node::move_group_log`]).
    LogMoved {
        /// The admin.
        by: UserId,
        /// The relays now.
        relays: Vec<String>,
    },
    /// A member set the group's disappearing-message timer ([`crate::Node::set_disappearing`]
    /// with the group's id): from then on, each message sent to the group is erased that
    /// long after it is sent (on its sender's devices) or read (on every other member's).
    TimerChanged {
        /// The member.
        by: UserId,
        /// The timer in seconds, one of [`crate::DISAPPEAR_CHOICES`]; 0: off.
        secs: u32,
    },
    /// A disappearing message's time ran out: it is erased from this device (history,
    /// search, the event log and the database files).
    MessageExpired {
        /// The message.
        id: MessageId,
    },
}

impl GroupEvent {
    /// Whether history keeps this event as a notice where it happened
    /// ([`GroupMessage::notice`]): a change to the group itself (joins and leaves, names,
    /// admins, the timer, the log moving, its end) or to what this device holds of it (a
    /// gap, falling behind). Messages and what happens to them are history already.
    ///
    /// ```
    /// use tern_node::GroupEvent;
    ///
    /// assert!(GroupEvent::Ended.is_notice());
    /// assert!(GroupEvent::Missed { count: 3 }.is_notice());
    /// ```
    pub fn is_notice(&self) -> bool {
        match self {
            Self::Joined { .. }
            | Self::Added { .. }
            | Self::Removed { .. }
            | Self::AddedBack { .. }
            | Self::Renamed { .. }
            | Self::AdminChanged { .. }
            | Self::TimerChanged { .. }
            | Self::LogMoved { .. }
            | Self::Ended
            | Self::Missed { .. }
            | Self::FellBehind { .. } => true,
            Self::Message(_)
            | Self::Stored { .. }
            | Self::Receipts { .. }
            | Self::AddWaiting { .. }
            | Self::AttachmentChanged { .. }
            | Self::AttachmentProgress { .. }
            | Self::MessageEdited { .. }
            | Self::MessageDeleted { .. }
            | Self::DeletedForMe { .. }
            | Self::ReactionChanged { .. }
            | Self::MessageExpired { .. } => false,
        }
    }
}

/// Why a group operation failed. Nothing changed.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum GroupError {
    /// No such group on this node.
    #[error("no group {}", .0.short())]
    NoSuchGroup(GroupId),
    /// We are no longer in the group.
    #[error("no longer a member of group {}", .0.short())]
    NotMember(GroupId),
    /// The group's policy does not allow it (only admins add, remove, rename and promote).
    #[error("not allowed: {0}")]
    NotAllowed(String),
    /// The account is not a member of the group.
    #[error("{} is not in the group", .0.short())]
    NoMember(UserId),
    /// A commit of ours waits for the log's verdict, or a member's leave waits for a commit
    /// (until then MLS lets nobody send); try again in a moment.
    #[error("the group is busy with a change; try again")]
    Busy,
    /// This device fell behind the group's log and waits for an admin to add it back
    /// ([`GroupEvent::FellBehind`]).
    #[error("this device fell behind group {} and waits to be added back", .0.short())]
    FellBehind(GroupId),
    /// A group needs at least one relay to keep its log; this node has none yet.
    #[error("no relay to keep the group's log; add one with --relay")]
    NoRelays,
    /// Relays to move a group's log to: 1 to 3, distinct, each a multiaddress ending in
    /// `/p2p/<peer id>`.
    #[error(
        "a group's log is kept at 1 to 3 distinct relays, each an address ending in /p2p/<peer id>: {0}"
    )]
    BadRelays(String),
    /// The name is empty, too long, or holds control characters.
    #[error(
        "a group name is 1 to {} bytes without control characters",
        tern_mls::MAX_NAME_LEN
    )]
    BadName,
    /// The text is empty.
    #[error("the message is empty")]
    Empty,
    /// The text is too long.
    #[error("the message is {len} bytes; at most {max} fit")]
    TooLong {
        /// Its length in bytes.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// The disk is nearly full.
    #[error("the disk is full")]
    StorageFull,
    /// The group's state refused the operation (a bug, or damaged state).
    #[error("the group refused: {0}")]
    Refused(String),
    /// The database failed.
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// The node has stopped.
    #[error("the node has stopped")]
    Stopped,
}

impl From<crate::error::Error> for GroupError {
    fn from(e: crate::error::Error) -> Self {
        use crate::error::Error;
        match e {
            Error::Group(e) => e,
            Error::Empty => Self::Empty,
            Error::TooLong { len, max } => Self::TooLong { len, max },
            Error::StorageFull => Self::StorageFull,
            Error::Storage(e) => Self::Storage(e),
            Error::Stopped => Self::Stopped,
            other => Self::Refused(other.to_string()),
        }
    }
}

impl From<tern_mls::GroupError> for GroupError {
    fn from(e: tern_mls::GroupError) -> Self {
        match e {
            tern_mls::GroupError::Policy(p) => Self::NotAllowed(p.to_string()),
            tern_mls::GroupError::ProposalsPending => Self::Busy,
            other => Self::Refused(other.to_string()),
        }
    }
}
