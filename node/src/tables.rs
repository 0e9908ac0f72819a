//! The node's tables: one column family each, with the key and value types and the key
//! encoding documented once here.
//!
//! Row keys never contain a user id in clear: conversations and contacts are keyed by
//! `Conv`, a keyed hash of the peer's account key (see `Store::index_id`), so the database
//! files do not reveal who the user talks to. Stamps and sequence numbers are big-endian, so
//! range scans follow time order.

use serde::{Deserialize, Serialize};
use tern_crypto::UserId;

use crate::{
    event::{DeliveryState, Direction, Event},
    hlc::Stamp,
    id::MessageId,
    store::Table,
};

/// A pseudonymous conversation key: `index_id("conversation", peer account key)`.
pub(crate) type Conv = [u8; 16];

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
    pub(crate) direction: Direction,
    pub(crate) text: String,
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

/// A message waiting for the recipient's acknowledgement.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct OutboxRow {
    pub(crate) id: MessageId,
    pub(crate) peer: UserId,
    /// The encoded payload, kept until it has been encrypted into `envelope`.
    pub(crate) payload: Vec<u8>,
    /// The sealed envelope, once encrypted. Retries resend exactly these bytes, so the
    /// recipient recognises a retry as a duplicate.
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

/// Envelopes already processed (first 16 bytes of their SHA-256) → when the entry may go.
/// A retried envelope is recognised here before any decryption, which would fail anyway
/// because its message key was used.
pub(crate) struct Seen;
impl Table for Seen {
    const NAME: &'static str = "seen";
    type Key = [u8; 16];
    type Value = u64;
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
    type Value = Event;
}
