//! Custody receipts: a relay's signed statement that it holds deposited envelopes durably.
//!
//! A relay writes deposits in groups, one synced write per group, and signs each group once.
//! The signature covers the root of a Merkle tree over the group's deposits, built as in
//! RFC 9162 §2.1 (leaves `SHA-256(0x00 ‖ data)`, inner nodes `SHA-256(0x01 ‖ left ‖ right)`,
//! split at the largest power of two below the size). Each deposit's receipt carries the
//! deposit's place in the group and its inclusion path; a sender recomputes the root from what
//! it deposited and checks the one signature, once per group ([`VerifiedRoots`]).
//!
//! ```
//! # use tern_proto::mailbox::{Custody, CustodyBatch, VerifiedRoots};
//! # use tern_crypto::MailboxId;
//! let keypair = libp2p::identity::Keypair::generate_ed25519();
//! let relay = keypair.public().to_peer_id().to_bytes();
//! let envelopes: Vec<Vec<u8>> = (0..5u8).map(|i| vec![i; 100]).collect();
//! let batch = CustodyBatch::new(
//!     envelopes
//!         .iter()
//!         .enumerate()
//!         .map(|(i, e)| Custody::of([7; 32], e, i as u64, 1_800_000_000))
//!         .collect(),
//! );
//! let roots = VerifiedRoots::default();
//! for (i, envelope) in envelopes.iter().enumerate() {
//!     let receipt = batch.receipt(i, &keypair.public().encode_protobuf(), &relay, |m| {
//!         keypair.sign(m).unwrap()
//!     });
//!     receipt
//!         .verify_with(&relay, &MailboxId::from_bytes([7; 32]), envelope, &roots)
//!         .unwrap();
//! }
//! ```

use std::{collections::VecDeque, sync::Mutex};

use libp2p::{PeerId, identity::PublicKey};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tern_crypto::MailboxId;

const CUSTODY_LABEL: &[u8] = b"tern/custody/v2";
/// Most deposits in one signed batch (a relay's writer groups at most this many).
pub const MAX_BATCH: u32 = 4096;
/// Roots a [`VerifiedRoots`] remembers.
const REMEMBERED_ROOTS: usize = 256;

/// A relay's signed statement that it holds one envelope durably, as one deposit of a signed
/// batch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CustodyReceipt {
    /// The relay's public key, in libp2p's protobuf encoding (Ed25519).
    #[serde(with = "serde_bytes")]
    pub relay_key: Vec<u8>,
    /// The mailbox it was deposited for.
    pub mailbox: [u8; 32],
    /// SHA-256 of the envelope.
    pub digest: [u8; 32],
    /// The relay's id for the envelope.
    pub id: u64,
    /// When it was stored, Unix seconds.
    pub stored_at: u64,
    /// How many deposits the signed batch holds.
    pub batch_size: u32,
    /// This deposit's place in the batch.
    pub index: u32,
    /// The inclusion path of this deposit's leaf, from its sibling up to the root's children.
    pub path: Vec<[u8; 32]>,
    /// The relay's signature over `"tern/custody/v2" ‖ relay peer id ‖ batch_size u32 BE ‖
    /// root [32]`.
    #[serde(with = "serde_bytes")]
    pub signature: Vec<u8>,
}

/// Why a custody receipt was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ReceiptError {
    /// The key does not decode, or is not the key of the relay we deposited at.
    #[error("receipt from another relay")]
    WrongRelay,
    /// The receipt is for another mailbox or envelope.
    #[error("receipt for another envelope")]
    WrongEnvelope,
    /// The inclusion path does not lead to a root: its place is outside the batch, or it has
    /// the wrong length.
    #[error("receipt with a malformed inclusion path")]
    BadPath,
    /// The signature does not verify over the root the path leads to.
    #[error("bad receipt signature")]
    BadSignature,
}

/// What a receipt's leaf commits to: one durable deposit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Custody {
    /// The mailbox id.
    pub mailbox: [u8; 32],
    /// SHA-256 of the envelope.
    pub digest: [u8; 32],
    /// The relay's id for it.
    pub id: u64,
    /// When it was stored, Unix seconds.
    pub stored_at: u64,
}

impl Custody {
    /// The custody of `envelope` for `mailbox`.
    pub fn of(mailbox: [u8; 32], envelope: &[u8], id: u64, stored_at: u64) -> Self {
        Self {
            mailbox,
            digest: envelope_digest(envelope),
            id,
            stored_at,
        }
    }

    /// The leaf hash: `SHA-256(0x00 ‖ mailbox ‖ digest ‖ id u64 BE ‖ stored_at u64 BE)`.
    fn leaf(&self) -> [u8; 32] {
        Sha256::new()
            .chain_update([0x00])
            .chain_update(self.mailbox)
            .chain_update(self.digest)
            .chain_update(self.id.to_be_bytes())
            .chain_update(self.stored_at.to_be_bytes())
            .finalize()
            .into()
    }
}

/// SHA-256 of an envelope, as receipts name it.
pub fn envelope_digest(envelope: &[u8]) -> [u8; 32] {
    Sha256::digest(envelope).into()
}

fn node(left: &[u8; 32], right: &[u8; 32]) -> [u8; 32] {
    Sha256::new()
        .chain_update([0x01])
        .chain_update(left)
        .chain_update(right)
        .finalize()
        .into()
}

fn statement(relay: &[u8], size: u32, root: &[u8; 32]) -> Vec<u8> {
    let mut message = Vec::with_capacity(CUSTODY_LABEL.len() + relay.len() + 36);
    message.extend_from_slice(CUSTODY_LABEL);
    message.extend_from_slice(relay);
    message.extend_from_slice(&size.to_be_bytes());
    message.extend_from_slice(root);
    message
}

/// The root over `leaves` (at least one), appending each leaf's inclusion path to `paths`
/// (RFC 9162 §2.1.1 and §2.1.3.1: the sibling nearest the leaf first).
fn build(leaves: &[[u8; 32]], paths: &mut [Vec<[u8; 32]>]) -> [u8; 32] {
    if leaves.len() == 1 {
        return leaves[0];
    }
    // The largest power of two below the size.
    let split = 1 << (usize::BITS - 1 - (leaves.len() - 1).leading_zeros());
    let (left_paths, right_paths) = paths.split_at_mut(split);
    let left = build(&leaves[..split], left_paths);
    let right = build(&leaves[split..], right_paths);
    for path in left_paths {
        path.push(right);
    }
    for path in right_paths {
        path.push(left);
    }
    node(&left, &right)
}

/// The root that `path` leads to from `leaf` at `index` of a tree of `size` leaves
/// (RFC 9162 §2.1.3.2), or `None` if the path cannot belong to such a tree.
fn root_from_path(index: u32, size: u32, leaf: [u8; 32], path: &[[u8; 32]]) -> Option<[u8; 32]> {
    if index >= size {
        return None;
    }
    let (mut f, mut s) = (index, size - 1);
    let mut r = leaf;
    for p in path {
        if s == 0 {
            return None;
        }
        if f & 1 == 1 || f == s {
            r = node(p, &r);
            if f & 1 == 0 {
                while f & 1 == 0 && f != 0 {
                    f >>= 1;
                    s >>= 1;
                }
            }
        } else {
            r = node(&r, p);
        }
        f >>= 1;
        s >>= 1;
    }
    (s == 0).then_some(r)
}

/// The deposits of one synced write, signed once: the relay builds it from the write's
/// custodies, in order, and hands each depositor [`CustodyBatch::receipt`]. The tree is built
/// and signed by the first receipt asked for.
#[derive(Debug)]
pub struct CustodyBatch {
    custodies: Vec<Custody>,
    signed: std::sync::OnceLock<Signed>,
}

#[derive(Debug)]
struct Signed {
    paths: Vec<Vec<[u8; 32]>>,
    signature: Vec<u8>,
}

impl CustodyBatch {
    /// A batch of `custodies` (at least one, at most [`MAX_BATCH`]).
    pub fn new(custodies: Vec<Custody>) -> Self {
        Self {
            custodies,
            signed: std::sync::OnceLock::new(),
        }
    }

    /// The receipt of the deposit at `index`. `relay_key` is the relay's protobuf-encoded
    /// public key, `relay` its peer id bytes and `sign` signs with the matching private key;
    /// it is called once per batch.
    ///
    /// # Panics
    ///
    /// If `index` is outside the batch: the relay only asks for its own deposits.
    pub fn receipt(
        &self,
        index: usize,
        relay_key: &[u8],
        relay: &[u8],
        sign: impl FnOnce(&[u8]) -> Vec<u8>,
    ) -> CustodyReceipt {
        let size = self.custodies.len() as u32;
        let signed = self.signed.get_or_init(|| {
            let leaves: Vec<[u8; 32]> = self.custodies.iter().map(Custody::leaf).collect();
            let mut paths = vec![Vec::new(); leaves.len()];
            let root = build(&leaves, &mut paths);
            Signed {
                paths,
                signature: sign(&statement(relay, size, &root)),
            }
        });
        let custody = &self.custodies[index];
        CustodyReceipt {
            relay_key: relay_key.to_vec(),
            mailbox: custody.mailbox,
            digest: custody.digest,
            id: custody.id,
            stored_at: custody.stored_at,
            batch_size: size,
            index: index as u32,
            path: signed.paths[index].clone(),
            signature: signed.signature.clone(),
        }
    }
}

/// Batch roots whose signatures were checked, per relay: receipts of a batch already seen
/// cost hashing only. Bounded; the oldest are forgotten first.
#[derive(Debug, Default)]
pub struct VerifiedRoots {
    recent: Mutex<VecDeque<(PeerId, u32, [u8; 32])>>,
}

impl VerifiedRoots {
    fn contains(&self, relay: &PeerId, size: u32, root: &[u8; 32]) -> bool {
        let recent = self.recent.lock().unwrap_or_else(|e| e.into_inner());
        recent
            .iter()
            .any(|(r, s, h)| r == relay && *s == size && h == root)
    }

    fn insert(&self, relay: PeerId, size: u32, root: [u8; 32]) {
        let mut recent = self.recent.lock().unwrap_or_else(|e| e.into_inner());
        if recent.len() >= REMEMBERED_ROOTS {
            recent.pop_front();
        }
        recent.push_back((relay, size, root));
    }
}

impl CustodyReceipt {
    /// Checks that the relay with peer id bytes `relay` signed custody of `envelope` for
    /// `mailbox`.
    pub fn verify(
        &self,
        relay: &[u8],
        mailbox: &MailboxId,
        envelope: &[u8],
    ) -> Result<(), ReceiptError> {
        self.verify_with(relay, mailbox, envelope, &VerifiedRoots::default())
    }

    /// [`CustodyReceipt::verify`], checking the signature only for a root not yet in `roots`,
    /// and remembering it there once it verifies.
    pub fn verify_with(
        &self,
        relay: &[u8],
        mailbox: &MailboxId,
        envelope: &[u8],
        roots: &VerifiedRoots,
    ) -> Result<(), ReceiptError> {
        let expected = PeerId::from_bytes(relay).map_err(|_| ReceiptError::WrongRelay)?;
        if self.mailbox != *mailbox.as_bytes() || self.digest != envelope_digest(envelope) {
            return Err(ReceiptError::WrongEnvelope);
        }
        if self.batch_size > MAX_BATCH || self.path.len() > 32 {
            return Err(ReceiptError::BadPath);
        }
        let custody = Custody {
            mailbox: self.mailbox,
            digest: self.digest,
            id: self.id,
            stored_at: self.stored_at,
        };
        let root = root_from_path(self.index, self.batch_size, custody.leaf(), &self.path)
            .ok_or(ReceiptError::BadPath)?;
        if roots.contains(&expected, self.batch_size, &root) {
            return Ok(());
        }
        let key = PublicKey::try_decode_protobuf(&self.relay_key)
            .map_err(|_| ReceiptError::WrongRelay)?;
        if key.to_peer_id() != expected {
            return Err(ReceiptError::WrongRelay);
        }
        if !key.verify(&statement(relay, self.batch_size, &root), &self.signature) {
            return Err(ReceiptError::BadSignature);
        }
        roots.insert(expected, self.batch_size, root);
        Ok(())
    }
}

#[cfg(test)]
mod tests;
