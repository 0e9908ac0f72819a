//! What the node tells its users: messages, their delivery states, and the durable event log.
//!
//! Every event is appended to the event log in the same database write as the change it
//! reports, and gets a [`Cursor`]: its position in the log. A subscriber that stops (or whose
//! process restarts) and comes back with the last cursor it saw receives exactly the events
//! after it, none twice and none missed. The log keeps [`EVENT_RETENTION`] events.

use std::fmt;

use serde::{Deserialize, Serialize};
use tern_crypto::UserId;

use crate::id::MessageId;

/// Events kept in the log for resuming subscribers. A subscriber further behind than this
/// resumes from the oldest retained event and can tell from the cursor that it skipped some.
pub const EVENT_RETENTION: u64 = 100_000;

/// A position in the event log. Cursors increase by one per event.
#[derive(
    Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, Serialize, Deserialize, Default,
)]
pub struct Cursor(pub u64);

impl fmt::Display for Cursor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl std::str::FromStr for Cursor {
    type Err = std::num::ParseIntError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        s.parse().map(Self)
    }
}

/// Where a subscription to the event log ([`crate::Node::events`]) starts. Write it qualified
/// (`tern_node::From::Now`): the name is the word a reader expects, but it is not the
/// `From` of the standard prelude.
///
/// A program that handles each event once, across restarts too, stores the cursor of every
/// event it has handled and subscribes with [`From::After`] that cursor; one that only cares
/// about what happens while it runs subscribes with [`From::Now`].
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum From {
    /// Only events that happen after the call.
    Now,
    /// The events after this cursor (the last one handled), then live ones.
    After(Cursor),
    /// Every event the log still holds (at most [`EVENT_RETENTION`]), then live ones.
    Oldest,
}

/// Who wrote a message, from this node's point of view.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub enum Direction {
    /// Sent by this account.
    Outgoing,
    /// Received from the peer.
    Incoming,
}

/// Where an outgoing message is on its way. States only move forward, in this order.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug, Serialize, Deserialize)]
pub enum DeliveryState {
    /// Accepted and durable in the outbox; not yet confirmed anywhere else.
    Queued,
    /// Held by `stored` of the recipient's `replicas` mailbox relays (custody receipts).
    StoredAtRelays {
        /// Relays that confirmed custody.
        stored: u8,
        /// Relays it was deposited at.
        replicas: u8,
    },
    /// Durable on the recipient's device.
    Delivered,
    /// The recipient marked it read.
    Read,
    /// Given up on: the recipient refused it for good (see the accompanying error event).
    Failed,
}

/// One message of a conversation.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct Message {
    /// Its id.
    pub id: MessageId,
    /// The other party of the conversation.
    pub peer: UserId,
    /// Whether we sent it or received it.
    pub direction: Direction,
    /// What it is; its text is in [`Message::text`].
    pub kind: MessageKind,
    /// The text: the newest edit's when it was edited, empty when it was deleted or its kind
    /// is unsupported.
    pub text: String,
    /// The message it replies to, in the same conversation.
    pub reply_to: Option<MessageId>,
    /// When it was last edited (the sender's clock, milliseconds since the Unix epoch).
    pub edited_at_ms: Option<u64>,
    /// The reactions to it, one per person.
    pub reactions: Vec<Reaction>,
    /// The sender's timestamp (hybrid logical clock, milliseconds since the Unix epoch).
    pub sent_at_ms: u64,
    /// Delivery state (outgoing messages); `Delivered` for incoming ones.
    pub state: DeliveryState,
    /// Whether we have read it (incoming messages).
    pub read: bool,
    /// A disappearing message: it is erased this many seconds after it is read (incoming)
    /// or sent (outgoing).
    pub disappear_secs: Option<u32>,
    /// When a disappearing message is erased (milliseconds since the Unix epoch), once its
    /// timer runs: `None` for an incoming one not yet read.
    pub expires_at_ms: Option<u64>,
    /// The file of an [`MessageKind::Attachment`] message; its caption is the text.
    pub attachment: Option<crate::Attachment>,
}

/// What kind of message a [`Message`] is.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[non_exhaustive]
pub enum MessageKind {
    /// A text message.
    Text,
    /// A file ([`Message::attachment`]), with its caption as the text.
    Attachment,
    /// Deleted for everyone by its author: a tombstone, its text erased.
    Deleted,
    /// A kind of message this version of Tern cannot show (sent by a newer version): shown
    /// as "unsupported message" rather than dropped.
    Unsupported {
        /// Its content type on the wire.
        content_type: u8,
    },
    /// A notice in the chat: the disappearing-message timer was set (by the message's
    /// author) to this many seconds; 0 turned it off.
    Timer {
        /// The new timer, in seconds.
        secs: u32,
    },
    /// A notice in the chat: the peer's identity key changed (see
    /// [`crate::IdentityPolicy`]).
    IdentityChanged {
        /// Sending waits until the user verifies the peer again.
        held: bool,
    },
}

/// One person's reaction to a message.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct Reaction {
    /// Who reacted.
    pub by: UserId,
    /// The emoji.
    pub emoji: String,
}

/// Something that happened, in log order.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[non_exhaustive]
pub enum Event {
    /// A message arrived.
    MessageReceived(Message),
    /// A message we sent was accepted into the outbox.
    MessageSent(Message),
    /// An outgoing message moved to a new delivery state.
    DeliveryStateChanged {
        /// The conversation.
        peer: UserId,
        /// The message.
        id: MessageId,
        /// Its new state.
        state: DeliveryState,
    },
    /// A contact's device became reachable.
    ContactOnline(UserId),
    /// A contact's device stopped being reachable.
    ContactOffline(UserId),
    /// Something went wrong that the user should know about (a message given up on, a
    /// contact's identity key changed).
    Error {
        /// The conversation, when the error concerns one.
        peer: Option<UserId>,
        /// What happened, for people.
        message: String,
    },
    /// A message arrived from someone who is neither a contact nor in the chat list: it is
    /// held as a message request ([`crate::Node::requests`]) until the user accepts it
    /// ([`crate::Node::accept_request`]), deletes it or blocks the sender.
    RequestReceived(Message),
    /// The user changed a conversation: accepted its request, deleted it, blocked or
    /// unblocked its peer (from any client of the node).
    ChatChanged {
        /// The conversation.
        peer: UserId,
        /// What changed.
        change: ChatChange,
    },
    /// A message's author gave it a new text (we did, or the peer did).
    MessageEdited {
        /// The conversation.
        peer: UserId,
        /// The message.
        id: MessageId,
        /// Its text now.
        text: String,
        /// When the edit was made (the author's clock).
        edited_at_ms: u64,
    },
    /// A message was deleted: for everyone by its author (it stays as a tombstone), or for
    /// us only (it is gone from this device's history).
    MessageDeleted {
        /// The conversation.
        peer: UserId,
        /// The message.
        id: MessageId,
        /// Whether it was deleted for everyone (a tombstone remains) or only here.
        for_everyone: bool,
    },
    /// Someone reacted to a message, changed their reaction or took it back.
    ReactionChanged {
        /// The conversation.
        peer: UserId,
        /// The message.
        id: MessageId,
        /// Who reacted.
        by: UserId,
        /// The reaction now; `None` when it was taken back.
        emoji: Option<String>,
    },
    /// A message arrived that changes another one (an edit, delete or reaction) but does not
    /// agree with it: it names a message its sender did not write, or comes after the
    /// window for edits. It changed nothing, and is counted in the status's rejections.
    ChangeRefused {
        /// The conversation.
        peer: UserId,
        /// The message it named.
        id: MessageId,
        /// Why it was refused.
        reason: String,
    },
    /// A disappearing message's time ran out: it is erased from this device.
    MessageExpired {
        /// The conversation.
        peer: UserId,
        /// The message.
        id: MessageId,
    },
    /// Ephemeral, never in the log: a contact started or stopped typing in our chat. A
    /// typing contact repeats it every few seconds; without a repeat for
    /// [`crate::TYPING_TIMEOUT`] the node reports that it stopped.
    Typing {
        /// The contact.
        peer: UserId,
        /// Typing now, or stopped.
        active: bool,
    },
    /// Ephemeral, never in the log: a contact who shares presence came online or went
    /// offline.
    Presence {
        /// The contact.
        peer: UserId,
        /// Online now.
        online: bool,
        /// When it was last seen online (milliseconds since the Unix epoch).
        last_seen_ms: u64,
    },
    /// A peer's identity key changed. The chat holds a notice
    /// ([`MessageKind::IdentityChanged`]); what else happened follows `policy`.
    IdentityChanged {
        /// The peer.
        peer: UserId,
        /// The policy that applied.
        policy: crate::IdentityPolicy,
        /// Sending to the peer waits until the user verifies it again
        /// ([`crate::Node::verify_contact`]) or changes the policy.
        held: bool,
    },
    /// A file moved to a new state: fetched and verified, failed, or fetching again.
    AttachmentChanged {
        /// The conversation.
        peer: UserId,
        /// The message that carries the file.
        id: MessageId,
        /// Where the file is now.
        state: crate::AttachmentState,
    },
    /// Ephemeral, never in the log: more of a file arrived and verified (at most a few
    /// reports a second per file).
    AttachmentProgress {
        /// The conversation.
        peer: UserId,
        /// The message that carries the file.
        id: MessageId,
        /// Bytes of the encrypted file verified and stored so far.
        received: u64,
        /// Bytes of the encrypted file in all.
        total: u64,
    },
    /// A contact shared a new profile.
    ProfileChanged {
        /// The contact.
        peer: UserId,
        /// Their display name now.
        name: String,
        /// Their status line now.
        status: String,
    },
    /// Something happened in a group: a message, a member joining or leaving, a rename.
    Group {
        /// The group.
        group: crate::group::GroupId,
        /// What happened.
        event: crate::group::GroupEvent,
    },
}

impl Event {
    /// Whether the event is ephemeral: published live to subscribers only, never written to
    /// the log. It carries the cursor of the last event in the log, which it does not advance:
    /// resuming after it misses nothing.
    pub fn is_ephemeral(&self) -> bool {
        matches!(
            self,
            Self::Typing { .. }
                | Self::Presence { .. }
                | Self::AttachmentProgress { .. }
                | Self::Group {
                    event: crate::group::GroupEvent::Receipts { .. },
                    ..
                }
        )
    }
}

/// How the user changed a conversation, in [`Event::ChatChanged`].
#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[non_exhaustive]
pub enum ChatChange {
    /// Its message request was accepted: it is a chat now, and its sender is trusted.
    Accepted,
    /// It was deleted, with every message stored for it.
    Deleted,
    /// Its peer was blocked.
    Blocked,
    /// Its peer was unblocked.
    Unblocked,
    /// It was muted: its messages still arrive and count as unread, but a client does not
    /// notify about them, and they do not count in the total of unread chats.
    Muted,
    /// It was unmuted, or its mute ran out.
    Unmuted,
    /// It was archived: out of the main chat list until unarchived, or until a message
    /// arrives while it is not muted.
    Archived,
    /// It left the archive.
    Unarchived,
    /// It was pinned to the top of the chat list.
    Pinned,
    /// It was unpinned.
    Unpinned,
    /// Its rule for fetching files by themselves changed ([`crate::Node::set_auto_download`]).
    AutoDownload,
}
