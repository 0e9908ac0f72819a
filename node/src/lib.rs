//! The Tern messenger node: the library every Tern user runs, and that developers link into
//! their own apps and bots.
//!
//! A [`Node`] finds contacts through a Kademlia DHT, delivers end-to-end encrypted messages
//! directly with acknowledgements written only once the message is durable on the recipient,
//! never loses a message it accepted (every send is in the database before any network I/O),
//! and keeps its history in an encrypted RocksDB database. Everything that happens is also an
//! [`Event`] in a durable log that subscribers can resume from a [`Cursor`].
//!
//! No libp2p or RocksDB type appears in this API: addresses are strings (multiaddrs), accounts
//! are [`UserId`]s.
//!
//! # Quick start
//!
//! ```no_run
//! use futures::StreamExt;
//! use tern_node::{Event, From, Node, UserId};
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let node = Node::builder("/var/lib/tern/alice")
//!     .with_passphrase("correct horse battery staple")
//!     .with_bootstrap("/dns4/relay.example.org/tcp/4001/p2p/12D3KooWDpJ7As7BWAwRMfu1VU2WCqNjvq387JEYKDBj4kx6nXTN")
//!     .create_account(true)
//!     .spawn()
//!     .await?;
//! println!("share this invite: {}", node.invite());
//!
//! let bob: UserId = "tern1q...".parse()?;
//! node.add_contact("bob", bob).await?;
//! node.send(bob, "hello").await?; // durable from here on, even across a crash
//!
//! let mut events = node.events(From::Now);
//! while let Some((cursor, event)) = events.next().await {
//!     if let Event::MessageReceived(message) = event {
//!         println!("{cursor}: {}: {}", message.peer.short(), message.text);
//!     }
//! }
//! # Ok(()) }
//! ```
#![deny(missing_docs)]
#![forbid(unsafe_code)]
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

mod attachment;
mod body;
mod core;
mod error;
mod event;
mod group;
mod hlc;
mod id;
mod network;
mod node;
mod relay_path;
mod store;
mod tables;
#[cfg(feature = "test-utils")]
pub mod test_utils;
#[cfg(test)]
mod tests;
mod time;
mod transfer;
mod upkeep;
mod view;

pub use crate::core::{
    EDIT_WINDOW, MAX_REQUEST_MESSAGES, MAX_REQUEST_MESSAGES_PER_SENDER, Presence, Sharing,
    TYPING_REFRESH, TYPING_TIMEOUT,
};
pub use attachment::{
    Attachment, AttachmentKind, AttachmentState, DEFAULT_AUTO_DOWNLOAD, MAX_FILE_LEN, OutgoingFile,
    Preview, Thumbnail, Waveform,
};
pub use body::{DISAPPEAR_CHOICES, MAX_NAME_LEN, MAX_REACTION_LEN, MAX_STATUS_LEN, MAX_TEXT_LEN};
pub use error::{
    AttachmentError, ChangeError, ChatError, ContactError, PassphraseError, QueryError,
    SearchError, SendError, StorageError,
};
pub use event::{
    ChatChange, Cursor, DeliveryState, Direction, EVENT_RETENTION, Event, From, Message,
    MessageKind, Reaction,
};
pub use group::{
    GroupDelivery, GroupError, GroupEvent, GroupFailover, GroupId, GroupInfo, GroupMember,
    GroupMessage,
};
pub use id::{MessageId, ParseIdError};
pub use node::{
    AttachmentReader, Builder, DEFAULT_LOOKUP_GRACE, DEFAULT_MIN_FREE_DISK, EventStream, Node,
    RELAY_FAILOVER_AFTER, StartError,
};
pub use tern_crypto::{SafetyNumber, UserId, at_rest::KdfParams};
pub use time::Clock;
pub use view::{
    Chat, ChatId, Contact, ContactPath, Edit, FileEntry, HistoryCursor, HolePunches,
    IdentityPolicy, IdentityState, MessageRequest, Nat, NodeStatus, Page, ParseCursorError, Path,
    Profile, RelayStatus, SearchHit, SearchPage,
};
