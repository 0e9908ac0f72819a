//! Tern's groups at the MLS level: RFC 9420 through `openmls` 0.9, with Tern's own crypto
//! provider and a storage overlay that the node commits in its own write batches.
//!
//! - [`Crypto`]: openmls's crypto and randomness provider for the one ciphersuite Tern uses
//!   ([`CIPHERSUITE`], X25519 / ChaCha20-Poly1305 / SHA-256 / Ed25519), on the libraries the
//!   rest of Tern uses.
//! - [`Overlay`] over a [`Backing`]: openmls's storage. Reads go through the operation's
//!   pending writes to the node's store; the writes come out as one [`Batch`] (row keys
//!   hashed with a per-profile [`StorageKey`], values for the node to seal).
//! - [`Provider`]: the two together, made for one operation.
//! - [`Group`]: create, join, add, remove, leave, self-update, rename, promote and demote,
//!   send, and process what the group's log delivers, with the admin policy every member
//!   checks ([`Roles`], [`PolicyError`]) and typed refusals ([`ProcessError`]).
//! - [`DeviceSigner`] and [`CredentialVerifier`]: leaves are devices; the credential is the
//!   device certificate, which the node verifies.
//!
//! The protocol is specified in `docs/protocol/groups.md`.
//!
//! # Quick start
//!
//! ```
//! use tern_mls::{
//!     Crypto, DeviceSigner, Group, InsecureTestVerifier as Verifier, MemoryBacking, Processed,
//!     Provider, StorageKey,
//! };
//!
//! let crypto = Crypto::new();
//! let key = StorageKey::new([7; 32]); // the node derives it from its at-rest keys
//! let (mut alice_db, mut bob_db) = (MemoryBacking::new(), MemoryBacking::new());
//! let alice = DeviceSigner::generate(&crypto).unwrap();
//! let bob = DeviceSigner::generate(&crypto).unwrap();
//!
//! // Every operation: a provider over the store, then its batch committed in one write.
//! let p = Provider::new(&crypto, &alice_db, &key);
//! let cert = Verifier::credential(b"alice", &alice);
//! let mut group = Group::create(&p, &alice, cert, &Verifier, "family").unwrap();
//! let batch = p.take_batch();
//! alice_db.commit(batch);
//!
//! let p = Provider::new(&crypto, &bob_db, &key);
//! let bob_kp = tern_mls::key_package(&p, &bob, Verifier::credential(b"bob", &bob)).unwrap();
//! let batch = p.take_batch();
//! bob_db.commit(batch);
//!
//! let p = Provider::new(&crypto, &alice_db, &key);
//! let out = group.add_members(&p, &alice, &Verifier, &[bob_kp]).unwrap();
//! // ... the commit goes to the group's log; once it has won its epoch:
//! group.merge_own_commit(&p, &Verifier).unwrap();
//! let hello = group.send(&p, &alice, &Verifier, b"hello").unwrap();
//! let batch = p.take_batch();
//! alice_db.commit(batch);
//!
//! let p = Provider::new(&crypto, &bob_db, &key);
//! let mut bobs = Group::join(&p, &out.welcome.unwrap(), &Verifier).unwrap();
//! let Processed::Application { plaintext, sender } = bobs.process(&p, &Verifier, &hello).unwrap()
//! else { unreachable!() };
//! assert_eq!((plaintext.as_slice(), sender.identity.0.as_slice()), (&b"hello"[..], &b"alice"[..]));
//! ```
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
    MAX_IDENTITY_LEN,
};
pub use group::{
    Change, EpochSide, Group, GroupError, MAX_MESSAGE_LEN, MAX_PAST_EPOCHS, Member,
    OUT_OF_ORDER_TOLERANCE, Outgoing, ProcessError, Processed, key_package, key_package_identity,
};
pub use policy::{
    EXTENSION_TYPE, LogRelay, MAX_LOG_ID_LEN, MAX_NAME_LEN, MAX_RELAY_ADDRESS_LEN,
    MAX_RELAY_ADDRESSES, MAX_RELAYS, PolicyError, Roles, RolesDecodeError,
};
pub use provider::{CIPHERSUITE, Crypto, Provider, RandError};
pub use storage::{Backing, Batch, MemoryBacking, Overlay, ROW_FORMAT, StorageError, StorageKey};
