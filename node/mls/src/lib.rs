//! Tern's groups at the MLS level (RFC 9420, through `openmls`).
#![deny(missing_docs)]
#![forbid(unsafe_code)]
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

mod provider;
mod storage;
#[cfg(test)]
mod vectors;

pub use provider::{CIPHERSUITE, Crypto, Provider, RandError};
pub use storage::{Backing, Batch, MemoryBacking, Overlay, ROW_FORMAT, StorageError, StorageKey};
