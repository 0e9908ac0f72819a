//! The node's tables: one column family each, with the key and value types and the key
//! encoding documented once here.
//!
//! **Rows are private and versioned.** Every value type here is private to the crate, and
//! where a row holds one of the public types ([`Direction`], [`DeliveryState`], [`Event`]),
//! its encoding goes through a private mirror of that type (`*V1` below), so that changing a
//! public type (reordering its fields or variants) never changes the disk format. The rows
//! are the rows of schema version 1 (`store::SCHEMA_VERSION`); a change to any of them is a
//! new version with a migration step, and `node/tests/fixtures/node-v1/` holds a database
//! with a row in every table that each later build must read back.
//!
//! Row keys never contain a user id in clear: conversations and contacts are keyed by
//! `Conv`, a keyed hash of the peer's account key (see `Store::index_id`), so the database
//! files do not reveal who the user talks to. Stamps and sequence numbers are big-endian, so
//! range scans follow time order.

use serde::{Deserialize, Serialize};
use tern_crypto::UserId;

use crate::{
    event::{DeliveryState, Direction},
    hlc::Stamp,
    id::MessageId,
    store::{Store, StoreError, Table},
};

// The rows below are schema version 1. Raising the schema version means deciding, row by
// row, whether its encoding changes (then it gets a V2 and a migration): this stops the
// build until someone has.
const _: () = assert!(crate::store::SCHEMA_VERSION == 1);

/// A pseudonymous conversation key: `index_id("conversation", peer account key)`.
pub(crate) type Conv = [u8; 16];

/// A message's place in a conversation's history, `(conversation, stamp, message id)`: the
/// key of [`Messages`] and of the tables keyed like it.
pub(crate) type MessageKey = (Conv, u64, [u8; 16]);

/// Single-row state, by name: the account's secret keys, the device key, prekeys, the clock.
/// Values are opaque bytes (each a versioned format of its own).
pub(crate) struct State;
impl Table for State {
    const NAME: &'static str = "state";
    type Key = String;
    type Value = Vec<u8>;
}

pub(crate) const STATE_ACCOUNT: &str = "account";
pub(crate) const STATE_DEVICE_KEY: &str = "device_key";
pub(crate) const STATE_PREKEYS: &str = "prekeys";
pub(crate) const STATE_CLOCK: &str = "clock";
pub(crate) const STATE_RECORD_SEQ: &str = "record_seq";
pub(crate) const STATE_OUTBOX_SEQ: &str = "outbox_seq";
/// The mailbox relays picked from the DHT: postcard `Vec<RelayEntry>`.
pub(crate) const STATE_RELAYS: &str = "relays";
/// What this account shares while online: postcard `Sharing { typing: bool, presence: bool }`.
pub(crate) const STATE_SHARING: &str = "sharing";
/// Our own profile: a [`ProfileRow`].
pub(crate) const STATE_PROFILE: &str = "profile";
/// The account as it was before its identity key was last replaced, kept to accept session
/// starts made against the old key: `until (Unix seconds, u64 BE) ‖ AccountKey::to_bytes`.
pub(crate) const STATE_ACCOUNT_PREVIOUS: &str = "account_previous";

/// A contact the user added.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct ContactRow {
    pub(crate) user: UserId,
    pub(crate) name: String,
    pub(crate) verified: bool,
    pub(crate) added_ms: u64,
}

/// Contacts, keyed by `Conv`.
pub(crate) struct Contacts;
impl Table for Contacts {
    const NAME: &'static str = "contacts";
    type Key = Conv;
    type Value = ContactRow;
}

/// The sessions with one peer, newest first (`Session::to_bytes` each). More than one exists
/// briefly when both sides start a session at the same time.
pub(crate) struct Sessions;
impl Table for Sessions {
    const NAME: &'static str = "sessions";
    type Key = Conv;
    type Value = Vec<Vec<u8>>;
}

/// A stored message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct MessageRow {
    pub(crate) peer: UserId,
    #[serde(with = "event_row::direction_v1")]
    pub(crate) direction: Direction,
    pub(crate) text: String,
    #[serde(with = "event_row::state_v1")]
    pub(crate) state: DeliveryState,
    pub(crate) read: bool,
}

/// History: `(conversation, stamp, message id)`, so one conversation is one contiguous,
/// time-ordered range.
pub(crate) struct Messages;
impl Table for Messages {
    const NAME: &'static str = "messages";
    type Key = (Conv, u64, [u8; 16]);
    type Value = MessageRow;
}

/// Finds a message by id: `(conversation, message id)` → its stamp. Also the deduplication
/// index for received messages.
pub(crate) struct MessageIndex;
impl Table for MessageIndex {
    const NAME: &'static str = "message_index";
    type Key = (Conv, [u8; 16]);
    type Value = Stamp;
}

/// The key of message `id` in the history of `conv` (and in the tables keyed like it), found
/// through [`MessageIndex`].
pub(crate) fn message_key(
    s: &Store,
    conv: Conv,
    id: [u8; 16],
) -> Result<Option<MessageKey>, StoreError> {
    Ok(s.get::<MessageIndex>(&(conv, id))?
        .map(|stamp| (conv, stamp, id)))
}

/// Message `id`'s history row in `conv`, with its key.
pub(crate) fn message_row(
    s: &Store,
    conv: Conv,
    id: [u8; 16],
) -> Result<Option<(MessageKey, MessageRow)>, StoreError> {
    let Some(key) = message_key(s, conv, id)? else {
        return Ok(None);
    };
    Ok(s.get::<Messages>(&key)?.map(|row| (key, row)))
}

/// What a message has beyond its [`Messages`] row: the message it replies to, edits,
/// deletion, reactions, an unsupported kind. Keyed exactly like [`Messages`], so a page of
/// history reads its meta rows with one scan of the same range; most messages have none.
/// Added after schema version 1 shipped, as a new table (no migration).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct MetaRow {
    pub(crate) reply_to: Option<[u8; 16]>,
    /// The stamp of the edit whose text the message row holds.
    pub(crate) edited: Option<Stamp>,
    /// Deleted for everyone: the message row's text is erased.
    pub(crate) deleted: bool,
    /// The content type of a message this version cannot show.
    pub(crate) unsupported: Option<u8>,
    /// One per person: the newest reaction by stamp (an empty emoji is a reaction taken
    /// back, kept so that an older reaction arriving late does not come back).
    pub(crate) reactions: Vec<ReactionRow>,
}

impl MetaRow {
    /// The reactions people see: one per person, those taken back left out.
    pub(crate) fn shown_reactions(&self) -> Vec<crate::Reaction> {
        self.reactions
            .iter()
            .filter(|r| !r.emoji.is_empty())
            .map(|r| crate::Reaction {
                by: r.by,
                emoji: r.emoji.clone(),
            })
            .collect()
    }
}

/// A reaction in a [`MetaRow`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct ReactionRow {
    pub(crate) by: UserId,
    pub(crate) emoji: String,
    pub(crate) stamp: Stamp,
}

pub(crate) struct MessageMeta;
impl Table for MessageMeta {
    const NAME: &'static str = "message_meta";
    type Key = (Conv, u64, [u8; 16]);
    type Value = MetaRow;
}

/// Every text an edited message has had, the original included:
/// `(conversation, message id, stamp of the version)` → its text. Erased when the message is
/// deleted.
pub(crate) struct EditHistory;
impl Table for EditHistory {
    const NAME: &'static str = "edit_history";
    type Key = (Conv, [u8; 16], u64);
    type Value = String;
}

/// A change (edit, delete, reaction) that arrived before the message it names, held until
/// that message arrives: `(conversation, target id, (stamp, id of the change))`.
pub(crate) struct Orphans;
impl Table for Orphans {
    const NAME: &'static str = "orphans";
    type Key = (Conv, [u8; 16], (u64, [u8; 16]));
    type Value = OrphanRow;
}

/// A row of [`Orphans`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct OrphanRow {
    pub(crate) by: UserId,
    pub(crate) change: OrphanChange,
    /// When the row may go (Unix milliseconds): the target will not come after that.
    pub(crate) expires_ms: u64,
}

/// What an orphaned change does. Variant order is the encoding.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum OrphanChange {
    Edit(String),
    Delete,
    React(String),
}

/// The events that carry a message's text (its arrival or sending, its edits):
/// `(conversation, message id, event sequence number)` → nothing, so that deleting the
/// message rewrites them without walking the log, and indexing an event is a blind write.
pub(crate) struct EventIndex;
impl Table for EventIndex {
    const NAME: &'static str = "event_index";
    type Key = (Conv, [u8; 16], u64);
    type Value = ();
}

/// What the user set for a conversation. Added after schema version 1 as a table of its own;
/// a conversation without a row has every setting off.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct ChatSettingsRow {
    /// Muted until this time (Unix milliseconds; `u64::MAX`: until unmuted); 0: not muted.
    pub(crate) muted_until_ms: u64,
    pub(crate) archived: bool,
    pub(crate) pinned: bool,
}

/// Chat settings, keyed by `Conv`.
pub(crate) struct ChatSettings;
impl Table for ChatSettings {
    const NAME: &'static str = "chat_settings";
    type Key = Conv;
    type Value = ChatSettingsRow;
}

/// A conversation's own rule for fetching files by themselves, keyed by `Conv`: files up to
/// this many bytes (0: none) are fetched as soon as their message arrives, whatever the
/// node's default. No row: the node's default. Added after schema version 1 as a table of
/// its own.
pub(crate) struct DownloadRules;
impl Table for DownloadRules {
    const NAME: &'static str = "download_rules";
    type Key = Conv;
    type Value = u64;
}

/// A conversation's disappearing-message timer, keyed by `Conv`: the newest change by stamp
/// (from either side). No row: off.
pub(crate) struct Timers;
impl Table for Timers {
    const NAME: &'static str = "timers";
    type Key = Conv;
    type Value = TimerRow;
}

/// A row of [`Timers`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct TimerRow {
    /// Seconds; 0: off.
    pub(crate) secs: u32,
    pub(crate) stamp: Stamp,
}

/// What a message that is not a text says (a timer change, a changed identity key, a change
/// to a group), keyed exactly like [`Messages`]; its [`Messages`] row holds no text.
pub(crate) struct Notices;
impl Table for Notices {
    const NAME: &'static str = "notices";
    type Key = (Conv, u64, [u8; 16]);
    type Value = NoticeRow;
}

/// A row of [`Notices`]. Variant order is the encoding; variants are only appended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum NoticeRow {
    /// The disappearing-message timer was set to this many seconds (0: off).
    Timer(u32),
    /// The peer's identity key changed; `true` when sending waits for the user (`block`).
    IdentityChanged(bool),
    /// A change to a group, in the stored form of the event that reported it (one for which
    /// [`crate::GroupEvent::is_notice`] holds).
    Group(Box<group_event_row::GroupEventV1>),
}

impl NoticeRow {
    /// The notice that keeps `event` in its group's history, if it is one.
    pub(crate) fn group(event: &crate::GroupEvent) -> Option<Self> {
        if !event.is_notice() {
            return None;
        }
        group_event_row::GroupEventV1::stored(event).map(|stored| Self::Group(Box::new(stored)))
    }

    /// The group event this notice keeps; `None` for a 1:1 notice.
    pub(crate) fn group_event(&self) -> Option<crate::GroupEvent> {
        match self {
            Self::Group(event) => Some((**event).clone().into()),
            Self::Timer(_) | Self::IdentityChanged(_) => None,
        }
    }
}

/// A disappearing message's timer, keyed exactly like [`Messages`]: its length, and when it
/// runs out once it has started (sent, or read by us).
pub(crate) struct Expiries;
impl Table for Expiries {
    const NAME: &'static str = "expiries";
    type Key = (Conv, u64, [u8; 16]);
    type Value = ExpiryRow;
}

/// A row of [`Expiries`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct ExpiryRow {
    pub(crate) secs: u32,
    /// When it is erased (Unix milliseconds); `None` until an incoming message is read.
    pub(crate) at_ms: Option<u64>,
}

/// The running timers in the order they run out: `(Unix milliseconds, the message's key in
/// [`Messages`])` → nothing. The core erases what is due from the front.
pub(crate) struct ExpiryQueue;
impl Table for ExpiryQueue {
    const NAME: &'static str = "expiry_queue";
    type Key = (u64, (Conv, u64, [u8; 16]));
    type Value = ();
}

/// The profiles contacts shared with us, keyed by `Conv`: the newest by the sender's stamp.
pub(crate) struct Profiles;
impl Table for Profiles {
    const NAME: &'static str = "profiles";
    type Key = Conv;
    type Value = ProfileRow;
}

/// A row of [`Profiles`], and our own profile in [`State`] under `STATE_PROFILE`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct ProfileRow {
    pub(crate) name: String,
    pub(crate) status: String,
    pub(crate) stamp: Stamp,
}

/// The identity key each peer's sessions use, and the user's policy for a change of it,
/// keyed by `Conv`: pinned at the first session or record of an accepted peer.
pub(crate) struct Identities;
impl Table for Identities {
    const NAME: &'static str = "identities";
    type Key = Conv;
    type Value = IdentityRow;
}

/// A row of [`Identities`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct IdentityRow {
    pub(crate) peer: UserId,
    /// The X25519 identity key last seen; `None` while a policy is set but no key seen yet.
    pub(crate) key: Option<[u8; 32]>,
    pub(crate) policy: PolicyV1,
    /// Sending to the peer waits until the user verifies it again.
    pub(crate) held: bool,
    /// When the key last changed (Unix milliseconds).
    pub(crate) changed_ms: Option<u64>,
}

/// The stored form of [`crate::IdentityPolicy`]. Variant order is the encoding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum PolicyV1 {
    Warn,
    Block,
    TrustNew,
}

impl From<crate::IdentityPolicy> for PolicyV1 {
    fn from(policy: crate::IdentityPolicy) -> Self {
        match policy {
            crate::IdentityPolicy::Warn => Self::Warn,
            crate::IdentityPolicy::Block => Self::Block,
            crate::IdentityPolicy::TrustNew => Self::TrustNew,
        }
    }
}

impl From<PolicyV1> for crate::IdentityPolicy {
    fn from(policy: PolicyV1) -> Self {
        match policy {
            PolicyV1::Warn => Self::Warn,
            PolicyV1::Block => Self::Block,
            PolicyV1::TrustNew => Self::TrustNew,
        }
    }
}

/// The chat list entry of a conversation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct ConversationRow {
    pub(crate) peer: UserId,
    pub(crate) last_stamp: Stamp,
    pub(crate) last_text: String,
    pub(crate) unread: u32,
}

pub(crate) struct Conversations;
impl Table for Conversations {
    const NAME: &'static str = "conversations";
    type Key = Conv;
    type Value = ConversationRow;
}

/// A message request: the messages of a sender who is neither a contact nor in the chat
/// list, kept apart until the user accepts, deletes or blocks them. The messages themselves
/// are ordinary [`Messages`] rows of the conversation; this row lists their keys, oldest
/// first, so that the oldest can be dropped when a cap is reached without a scan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct RequestRow {
    pub(crate) peer: UserId,
    /// `(stamp, message id)` of each message held, oldest first.
    pub(crate) messages: Vec<(Stamp, [u8; 16])>,
    pub(crate) last_text: String,
    /// Messages of this sender dropped to stay within the caps.
    pub(crate) dropped: u32,
}

/// Message requests, keyed by `Conv`.
pub(crate) struct Requests;
impl Table for Requests {
    const NAME: &'static str = "requests";
    type Key = Conv;
    type Value = RequestRow;
}

/// A blocked account: its direct deliveries are refused and its relay mail dropped.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct BlockedRow {
    pub(crate) peer: UserId,
    pub(crate) since_ms: u64,
}

/// Blocked accounts, keyed by `Conv`.
pub(crate) struct Blocked;
impl Table for Blocked {
    const NAME: &'static str = "blocked";
    type Key = Conv;
    type Value = BlockedRow;
}

/// A message waiting for the recipient's acknowledgement.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct OutboxRow {
    pub(crate) id: MessageId,
    pub(crate) peer: UserId,
    /// The encoded payload, kept until it has been encrypted into `envelope`.
    pub(crate) payload: Vec<u8>,
    /// The envelope, once encrypted: the direct envelope, which only ever goes to the
    /// recipient's device, or the sealed one made from it for relays once a deposit got too
    /// few receipts (rows written before direct envelopes hold a sealed one). Retries resend
    /// the same contents, so the recipient recognises a retry as a duplicate whichever form
    /// brings it.
    pub(crate) envelope: Option<Vec<u8>>,
    /// Whether the entry is a text message whose state the user sees (receipts are not).
    pub(crate) visible: bool,
    pub(crate) attempts: u32,
    pub(crate) next_attempt_ms: u64,
}

/// The outbox, in the order messages were accepted.
pub(crate) struct Outbox;
impl Table for Outbox {
    const NAME: &'static str = "outbox";
    type Key = u64;
    type Value = OutboxRow;
}

/// Messages already processed, by the first 16 bytes of the SHA-256 of their contents
/// (`Opened::digest`, the same for a direct and a sealed envelope; rows written before direct
/// envelopes hold the SHA-256 of the sealed envelope itself) → when the entry may go. A retried
/// message is recognised here before any decryption, which would fail anyway because its
/// message key was used.
pub(crate) struct Seen;
impl Table for Seen {
    const NAME: &'static str = "seen";
    type Key = [u8; 16];
    type Value = u64;
}

/// Messages that arrived directly, by the [`Seen`] key → who sent which message.
/// A direct answer can be lost on its way back (the link drops just after we stored the
/// message); the sender then leaves the same message, sealed, at our relays, and when we collect it
/// there this row lets us answer the duplicate with the delivery receipt the sender still
/// lacks. Pruned with the `seen` row of the same key.
pub(crate) struct Acks;
impl Table for Acks {
    const NAME: &'static str = "acks";
    type Key = [u8; 16];
    type Value = AckRow;
}

/// A row of [`Acks`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub(crate) struct AckRow {
    pub(crate) sender: UserId,
    pub(crate) id: [u8; 16],
}

/// Session starts accepted without a one-time prekey (replay tags) → when the entry may go.
pub(crate) struct Replays;
impl Table for Replays {
    const NAME: &'static str = "replays";
    type Key = [u8; 32];
    type Value = u64;
}

/// The event log.
pub(crate) struct Events;
impl Table for Events {
    const NAME: &'static str = "events";
    type Key = u64;
    type Value = EventRow;
}

/// A relay this node has seen answer a discovery probe: its peer id (`PeerId::to_bytes`),
/// where it was reached last (multiaddr bytes), when it first and last answered (Unix
/// seconds), and in how many separate hours it answered (see `core::discovery`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct RelaySightingRow {
    pub(crate) peer: Vec<u8>,
    pub(crate) addresses: Vec<Vec<u8>>,
    pub(crate) first_seen_secs: u64,
    pub(crate) last_seen_secs: u64,
    pub(crate) probes: u32,
}

/// Relays seen answering discovery probes, keyed by `index_id("relay", peer id bytes)` so the
/// keys do not show which relays; at most `core::discovery::MAX_SIGHTINGS` rows.
pub(crate) struct RelaySightings;
impl Table for RelaySightings {
    const NAME: &'static str = "relay_sightings";
    type Key = [u8; 16];
    type Value = RelaySightingRow;
}

/// A message's file, keyed exactly like [`Messages`] (so a page of history reads its rows
/// with one scan of the same range). Added after schema version 1, as a new table.
pub(crate) struct Attachments;
impl Table for Attachments {
    const NAME: &'static str = "attachments";
    type Key = (Conv, u64, [u8; 16]);
    type Value = AttachmentRow;
}

/// A row of [`Attachments`]. Field order is the encoding; fields are only appended.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct AttachmentRow {
    /// The descriptor as it travelled (`version ‖ postcard(Descriptor)`): kind, name, size,
    /// the file key and where to fetch it. Sealed at rest like every value.
    #[serde(with = "serde_bytes")]
    pub(crate) descriptor: Vec<u8>,
    pub(crate) state: TransferV1,
}

impl std::fmt::Debug for AttachmentRow {
    // The descriptor holds the file key: never in logs.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AttachmentRow")
            .field("state", &self.state)
            .finish_non_exhaustive()
    }
}

/// Where a file is on this device, version 1. Variant order is the encoding.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum TransferV1 {
    /// Verified and in the blob store (or inline in the descriptor): it can be saved.
    Complete,
    /// Not fetched, by the auto-download rules; [`crate::Node::fetch_attachment`] starts it.
    Offered,
    /// Being fetched, or waiting for a source to come back; resumed after a restart.
    Fetching,
    /// Given up on, with the reason; a fetch may be asked for again.
    Failed(String),
}

/// Blobs this device serves to the peers it sent them to: `index_id("blob", root)` → the
/// read capability a `Get` must present. Written with the message that carries the
/// descriptor, deleted with it.
pub(crate) struct BlobGrants;
impl Table for BlobGrants {
    const NAME: &'static str = "blob_grants";
    type Key = [u8; 16];
    type Value = [u8; 32];
}

/// Copies of blobs this device sent, to leave at the recipient's relays when the recipient is
/// offline: `index_id("upload", root)` → [`UploadRow`]. Written with the message (not
/// started), started when the message is deposited at relays, deleted once every relay holds
/// the blob or refused it for good, when the message reached the recipient directly first,
/// or with the message.
pub(crate) struct BlobUploads;
impl Table for BlobUploads {
    const NAME: &'static str = "blob_uploads";
    type Key = [u8; 16];
    type Value = UploadRow;
}

/// A row of [`BlobUploads`]. Field order is the encoding; fields are only appended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct UploadRow {
    /// The blob.
    pub(crate) root: [u8; 32],
    pub(crate) ciphertext_len: u64,
    /// The message that names it.
    pub(crate) peer: UserId,
    pub(crate) id: MessageId,
    /// The recipient's mailbox, named in the quota token.
    pub(crate) mailbox: [u8; 32],
    /// The relays the descriptor names, one per relay location.
    pub(crate) targets: Vec<UploadTarget>,
    /// Whether the message went to the relays (the recipient was offline).
    pub(crate) started: bool,
}

/// Copies of blobs this device sent to a group, left at the group's sequencer relays for
/// every member to read: `index_id("upload", root)` → [`GroupUploadRow`]. Written with the
/// message and started as soon as it is durable (a group's file is always uploaded, once per
/// sequencer, never once per member); deleted once every sequencer holds the blob or refused
/// it for good, or with the message.
pub(crate) struct GroupUploads;
impl Table for GroupUploads {
    const NAME: &'static str = "group_uploads";
    type Key = [u8; 16];
    type Value = GroupUploadRow;
}

/// A row of [`GroupUploads`]. Field order is the encoding; fields are only appended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct GroupUploadRow {
    /// The blob.
    pub(crate) root: [u8; 32],
    pub(crate) ciphertext_len: u64,
    /// The group (its id), whose log's quota the blob counts against.
    pub(crate) group: [u8; 32],
    /// The message that names it.
    pub(crate) id: MessageId,
    /// The sequencers the descriptor names, one per relay location.
    pub(crate) targets: Vec<UploadTarget>,
}

/// One relay an [`UploadRow`] or a [`GroupUploadRow`] goes to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct UploadTarget {
    /// `PeerId::to_bytes`.
    #[serde(with = "serde_bytes")]
    pub(crate) relay: Vec<u8>,
    /// Its addresses from the recipient's record (`Multiaddr::to_vec` each).
    pub(crate) addresses: Vec<serde_bytes::ByteBuf>,
    /// The capability its location in the descriptor carries.
    pub(crate) capability: [u8; 32],
    pub(crate) state: UploadStateV1,
}

/// How an upload to one relay stands, version 1. Variant order is the encoding.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum UploadStateV1 {
    /// Not yet held there.
    Pending,
    /// The relay signed custody until this Unix second.
    Stored(u64),
    /// The relay refused it for good, with the reason.
    Refused(String),
}

mod event_row;
mod group_event_row;
pub(crate) use event_row::EventRow;

#[cfg(test)]
mod fixture_added;
#[cfg(test)]
mod fixture_attachments;
#[cfg(test)]
mod fixture_downloads;
#[cfg(test)]
mod fixture_group_commits;
#[cfg(test)]
mod fixture_group_failovers;
#[cfg(test)]
mod fixture_group_files;
#[cfg(test)]
mod fixture_group_history;
#[cfg(test)]
mod fixture_group_moves;
#[cfg(test)]
mod fixture_group_notices;
#[cfg(test)]
mod fixture_group_outages;
#[cfg(test)]
mod fixture_group_pipeline;
#[cfg(test)]
mod fixture_group_receipts;
#[cfg(test)]
mod fixture_group_rejoin;
#[cfg(test)]
mod fixture_group_renewal;
#[cfg(test)]
mod fixture_group_timers;
#[cfg(test)]
mod fixture_group_unread;
#[cfg(test)]
mod fixture_groups;
#[cfg(test)]
mod fixture_identities;
#[cfg(test)]
mod fixture_invite_files;
#[cfg(test)]
mod fixture_invite_parts;
#[cfg(test)]
mod fixture_uploads;
#[cfg(test)]
mod tests;
