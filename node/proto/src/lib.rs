//! The vocabulary Tern's node and relay share: what both sides of a wire must agree on.
//!
//! - [`msg`]: `/tern/msg/2`, direct delivery of one sealed envelope with a durable
//!   acknowledgement.
//! - [`mailbox`]: `/tern/mailbox/2`, deposits at relays, custody receipts, ownership proofs,
//!   fetches, acknowledgements and one-time prekeys.
//! - [`grouplog`]: `/tern/grouplog/2`, a group's ordered log at its sequencer relays:
//!   appends with signed receipts, the first commit of an epoch winning, held reads, and
//!   access keys that rotate with the group's epochs.
//! - [`record`] and [`dht`]: the signed, sequence-numbered DHT record every account
//!   publishes, the rules every peer applies to records on PUT and GET, and the Kademlia
//!   settings (protocol name, sized record store) every peer runs.
//! - [`swarm`]: the libp2p stack (transports, `identify`, limits).
//! - [`rate`]: the bounded per-peer token buckets both sides meter requests with.
//! - [`pipe`]: the client side of the pipelined stream protocols (`/tern/deposit/1`,
//!   `/tern/deliver/2`).
//! - [`accept`]: accepting inbound streams with a queue that absorbs bursts.
//!
//! Nothing here does I/O of its own or keeps state beyond a value's lifetime: codecs read and
//! write the streams they are given, and rules take `now` as an argument. The byte-level
//! specification is in `docs/protocol/`.
#![deny(missing_docs)]
#![forbid(unsafe_code)]
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

pub mod accept;
pub mod dht;
pub mod grouplog;
pub mod mailbox;
pub mod msg;
pub mod pipe;
pub mod rate;
pub mod record;
pub mod swarm;

pub use tern_crypto::{MailboxId, UserId};
