//! What the node's queries answer: contacts, the chat list, pages of history and their
//! cursors, and the node's status. Plain values, independent of how they are stored.

use tern_crypto::UserId;

use crate::{event::Message, id::MessageId};

/// A contact, as the API shows it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Contact {
    /// The contact's address.
    pub user: UserId,
    /// The name the user gave it.
    pub name: String,
    /// Whether the user compared safety numbers.
    pub verified: bool,
    /// The profile the contact shared, if any. The name the user gave comes first.
    pub profile: Option<Profile>,
    /// The contact's identity key: the policy for a change, and whether one happened.
    pub identity: IdentityState,
}

/// What happens when a peer's identity key changes (see [`crate::Node::set_identity_policy`]).
///
/// A Tern address is the account's signing key, so it never changes; what can change behind
/// it is the X25519 identity key the account binds with a signature (after the peer replaced
/// it, or if someone holds the peer's account key). Every policy shows the change in the chat
/// and emits [`crate::Event::IdentityChanged`]; none loses a message.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "kebab-case")]
pub enum IdentityPolicy {
    /// Sending continues after a notice in the chat; the contact is no longer verified.
    #[default]
    Warn,
    /// Sending stops (messages wait in the outbox) until the user verifies the contact again
    /// or changes the policy.
    Block,
    /// The new key is taken without marking the contact unverified: for bots and services.
    TrustNew,
}

/// A peer's identity key as the node sees it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct IdentityState {
    /// The policy for a change.
    pub policy: IdentityPolicy,
    /// Sending waits for the user to verify again (a change under [`IdentityPolicy::Block`]).
    pub held: bool,
    /// When the key last changed (milliseconds since the Unix epoch), if it ever did.
    pub changed_at_ms: Option<u64>,
}

/// A profile: the name and status an account shares with its contacts.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Profile {
    /// The display name.
    pub name: String,
    /// A short status line; may be empty.
    pub status: String,
}

/// Which conversation: the 1:1 chat with an account, or a group. The file methods
/// ([`crate::Node::fetch_attachment`], [`crate::Node::open_attachment`] and the others)
/// take either, so an account or a group id can be passed as it is.
///
/// ```
/// # fn f(bob: tern_node::UserId, family: tern_node::GroupId) {
/// use tern_node::ChatId;
/// assert_eq!(ChatId::from(bob), ChatId::Peer(bob));
/// assert_eq!(ChatId::from(family), ChatId::Group(family));
/// # }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ChatId {
    /// The 1:1 conversation with this account.
    Peer(UserId),
    /// A group chat.
    Group(crate::group::GroupId),
}

impl From<UserId> for ChatId {
    fn from(user: UserId) -> Self {
        Self::Peer(user)
    }
}

impl From<crate::group::GroupId> for ChatId {
    fn from(group: crate::group::GroupId) -> Self {
        Self::Group(group)
    }
}

/// A conversation in the chat list.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Chat {
    /// The other party.
    pub peer: UserId,
    /// The contact's name, if it is a contact.
    pub name: Option<String>,
    /// Time of the last message, milliseconds since the Unix epoch.
    pub last_ms: u64,
    /// The last message's text.
    pub last_text: String,
    /// Unread incoming messages.
    pub unread: u32,
    /// Muted until this time (milliseconds since the Unix epoch; `u64::MAX` until unmuted);
    /// `None` when not muted.
    pub muted_until_ms: Option<u64>,
    /// Archived: listed apart from the main chat list.
    pub archived: bool,
    /// Pinned to the top of the chat list.
    pub pinned: bool,
    /// The profile the peer shared, if any (shown when the user gave no name).
    pub profile: Option<Profile>,
    /// The disappearing-message timer, in seconds, when it is on.
    pub disappear_secs: Option<u32>,
    /// The chat's own rule for fetching files by themselves: files up to this many bytes
    /// (0: none). `None`: the node's default ([`crate::NodeBuilder::with_auto_download`]).
    pub auto_download: Option<u64>,
    /// Whether the peer is typing in this chat now (when both share typing).
    pub typing: bool,
    /// The peer's presence, when both share it and it was heard from since the node started.
    pub presence: Option<crate::Presence>,
    /// The peer's identity key: the policy for a change, and whether one happened.
    pub identity: IdentityState,
}

/// A message request: messages from someone who is neither a contact nor in the chat list,
/// held apart until the user accepts them ([`crate::Node::accept_request`]), deletes them
/// ([`crate::Node::delete_chat`]) or blocks the sender ([`crate::Node::block`]). Its
/// messages are read with [`crate::Node::history`], like a chat's.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct MessageRequest {
    /// The sender.
    pub peer: UserId,
    /// Time of the first message held, milliseconds since the Unix epoch.
    pub first_ms: u64,
    /// Time of the last message held.
    pub last_ms: u64,
    /// The last message's text, cut to 100 characters.
    pub last_text: String,
    /// Messages held (at most [`crate::MAX_REQUEST_MESSAGES_PER_SENDER`]).
    pub messages: u32,
    /// Messages of this sender dropped, oldest first, to stay within the caps.
    pub dropped: u32,
}

/// One page of history, oldest first, with the cursor for the page before it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Page {
    /// The messages, oldest first.
    pub messages: Vec<Message>,
    /// Pass as `before` to get the previous (older) page; `None` at the beginning.
    pub before: Option<HistoryCursor>,
}

/// A position in a conversation's history: the exact key of the oldest message on a page.
/// Its text form, `<stamp as 16 hex digits>-<message id>`, round-trips through
/// [`std::str::FromStr`], so a UI can hand it back and forth as a string.
///
/// ```
/// let cursor: tern_node::HistoryCursor =
///     "0000018c3f2a0000-00112233445566778899aabbccddeeff".parse().unwrap();
/// assert_eq!(cursor.to_string().parse::<tern_node::HistoryCursor>().unwrap(), cursor);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct HistoryCursor {
    pub(crate) stamp: u64,
    pub(crate) id: [u8; 16],
}

impl std::fmt::Display for HistoryCursor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:016x}-{}", self.stamp, MessageId::from_bytes(self.id))
    }
}

/// A history cursor that is not of the form `<16 hex digits>-<message id>`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("bad history cursor {0:?}")]
pub struct ParseCursorError(String);

impl std::str::FromStr for HistoryCursor {
    type Err = ParseCursorError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let invalid = || ParseCursorError(s.chars().take(64).collect());
        let (stamp, id) = s.split_once('-').ok_or_else(invalid)?;
        if stamp.len() != 16 {
            return Err(invalid());
        }
        let stamp = u64::from_str_radix(stamp, 16).map_err(|_| invalid())?;
        let id: MessageId = id.parse().map_err(|_| invalid())?;
        Ok(Self {
            stamp,
            id: *id.as_bytes(),
        })
    }
}

/// One page of search results ([`crate::Node::search`]), newest first.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SearchPage {
    /// The messages found, newest first, from every chat searched: 1:1 chats and groups.
    pub hits: Vec<SearchHit>,
    /// Pass as `after` for the next (older) page; `None` on the last page.
    pub next: Option<String>,
}

/// A message a search found, as its chat's history shows it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[non_exhaustive]
pub enum SearchHit {
    /// A message of a 1:1 chat (or of a message request).
    Message(Message),
    /// A message of a group chat; [`GroupMessage::group`] names the group.
    Group(crate::GroupMessage),
}

impl SearchHit {
    /// The message's id.
    pub fn id(&self) -> MessageId {
        match self {
            Self::Message(m) => m.id,
            Self::Group(m) => m.id,
        }
    }

    /// The chat it is in.
    pub fn chat(&self) -> ChatId {
        match self {
            Self::Message(m) => ChatId::Peer(m.peer),
            Self::Group(m) => ChatId::Group(m.group),
        }
    }

    /// Its text (a file's caption).
    pub fn text(&self) -> &str {
        match self {
            Self::Message(m) => &m.text,
            Self::Group(m) => &m.text,
        }
    }

    /// When its author wrote it (the author's clock, milliseconds since the Unix epoch).
    pub fn sent_at_ms(&self) -> u64 {
        match self {
            Self::Message(m) => m.sent_at_ms,
            Self::Group(m) => m.sent_at_ms,
        }
    }
}

/// One version of an edited message ([`crate::Node::edit_history`]).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Edit {
    /// The text of this version.
    pub text: String,
    /// When it was written (the author's clock, milliseconds since the Unix epoch).
    pub at_ms: u64,
}

/// A file in a conversation ([`crate::Node::attachments`]).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct FileEntry {
    /// The 1:1 conversation's peer; in a group, who sent it.
    pub peer: UserId,
    /// The group, when the file was sent in one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<crate::group::GroupId>,
    /// The message that carries it.
    pub id: MessageId,
    /// Whether we sent it or received it.
    pub direction: crate::Direction,
    /// When it was sent (the sender's clock, milliseconds since the Unix epoch).
    pub sent_at_ms: u64,
    /// The message's caption (possibly empty).
    pub caption: String,
    /// The file.
    pub attachment: crate::Attachment,
}

/// The node's status.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct NodeStatus {
    /// The account address.
    pub user: UserId,
    /// The device's libp2p peer id, as text.
    pub peer_id: String,
    /// Addresses the node listens on.
    pub listen_addresses: Vec<String>,
    /// Peers with an open connection.
    pub connected_peers: usize,
    /// NAT reachability as last determined.
    pub nat: Nat,
    /// Messages waiting in the outbox.
    pub outbox: usize,
    /// Refused inputs by reason.
    pub rejections: std::collections::BTreeMap<String, u64>,
    /// The relays holding this account's mailbox.
    pub relays: Vec<RelayStatus>,
    /// The sequence number of our DHT record as last confirmed readable by another peer;
    /// `None` until a publish succeeds (until then, contacts cannot find this node).
    pub record_published: Option<u64>,
    /// Whether that record still says what it should (addresses, circuits, relays, prekeys):
    /// `false` while a changed one waits to be published.
    pub record_current: bool,
    /// The relays we hold a circuit reservation at (only while [`Nat::Private`]): contacts
    /// reach this node through them until a hole punch connects them directly.
    pub circuits: Vec<String>,
    /// Hole punches (DCUtR) since the start.
    pub hole_punches: HolePunches,
    /// Which path each contact is on.
    pub contacts: Vec<ContactPath>,
}

/// Hole punches since the node started.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct HolePunches {
    /// Relayed connections upgraded to direct ones.
    pub succeeded: u64,
    /// Attempts that failed (behind a symmetric NAT, say): those contacts stay on the
    /// circuit.
    pub failed: u64,
}

/// The path a contact is on.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ContactPath {
    /// The contact's address.
    pub user: UserId,
    /// The name the user gave it.
    pub name: String,
    /// How messages reach it now.
    pub path: Path,
}

/// How messages reach a contact.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum Path {
    /// A connection straight to its device is open (hole-punched, if both are behind NATs).
    Direct,
    /// Only a connection through a relay's circuit is open.
    Circuit,
    /// No connection is open: the next message dials the addresses in its record (circuits
    /// included) and, if none answers, is left at its mailbox relays.
    Mailbox,
}

impl std::fmt::Display for Path {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Direct => "direct",
            Self::Circuit => "circuit",
            Self::Mailbox => "mailbox",
        })
    }
}

/// Whether this node can be reached from the internet, as AutoNAT v2 probes by other peers
/// last found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum Nat {
    /// Not determined yet (no peer has probed an address of ours).
    Unknown,
    /// A peer confirmed that one of our addresses is reachable.
    Public,
    /// Probes of our addresses only failed: we are behind a NAT or firewall, and contacts
    /// reach us through relays.
    Private,
}

impl std::fmt::Display for Nat {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Unknown => "unknown",
            Self::Public => "public",
            Self::Private => "private",
        })
    }
}

/// One of the relays holding this account's mailbox, in [`NodeStatus`].
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct RelayStatus {
    /// The relay's libp2p peer id, as text.
    pub peer_id: String,
    /// Whether a connection to it is open (a live mailbox subscription needs one).
    pub connected: bool,
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    proptest! {
        #[test]
        fn history_cursors_round_trip(stamp in any::<u64>(), id in any::<[u8; 16]>()) {
            let cursor = HistoryCursor { stamp, id };
            prop_assert_eq!(cursor.to_string().parse::<HistoryCursor>().unwrap(), cursor);
        }

        #[test]
        fn garbage_cursors_are_refused_not_panicked_on(text in ".{0,80}") {
            let _ = text.parse::<HistoryCursor>();
        }
    }

    #[test]
    fn malformed_cursors_are_refused() {
        for bad in [
            "",
            "-",
            "zz-00",
            "0000018c3f2a0000",
            "0000018c3f2a0000-xyz",
            "18c3f2a0000-00112233445566778899aabbccddeeff",
        ] {
            assert!(bad.parse::<HistoryCursor>().is_err(), "{bad:?}");
        }
    }
}
