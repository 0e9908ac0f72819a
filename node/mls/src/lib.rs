//! Tern's groups at the MLS level (RFC 9420, through `openmls`).
#![deny(missing_docs)]
#![forbid(unsafe_code)]
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

mod credential;
mod group;
mod policy;
mod provider;
mod storage;
#[cfg(test)]
mod vectors;

pub use credential::{
    CredentialError, CredentialVerifier, DeviceSigner, Identity, InsecureTestVerifier,
};
pub use group::{
    Change, EpochSide, Group, GroupError, MAX_MESSAGE_LEN, MAX_PAST_EPOCHS, Member, Outgoing,
    ProcessError, Processed, key_package,
};
pub use policy::{EXTENSION_TYPE, MAX_NAME_LEN, PolicyError, Roles, RolesDecodeError};
pub use provider::{CIPHERSUITE, Crypto, Provider, RandError};
pub use storage::{Backing, Batch, MemoryBacking, Overlay, ROW_FORMAT, StorageError, StorageKey};
