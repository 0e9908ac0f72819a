//! Tern's attachments: the format and the local storage of encrypted, content-addressed blobs,
//! shared by the node (which sends, fetches and stores them) and the relay (which holds them
//! for offline recipients). No networking and no database: the transports live in the node
//! and the relay, which run these blocking calls on blocking threads.
//!
//! # Pipeline
//!
//! ```text
//! file ─▶ pad to a 1.05ᵏ bucket + length trailer          (pad)
//!      ─▶ ChaCha20-Poly1305 STREAM, 64 KiB chunks, fresh key (stream)
//!      ─▶ BLAKE3 root + outboard over 16 KiB groups          (verify)
//!      ─▶ complete/<root> in the blob store                  (store)
//! descriptor {root, lengths, key, locations, …}             (descriptor) ─▶ end-to-end session
//! /tern/blob/1: Get{root, groups, capability} ─▶ status + verified stream  (wire, verify)
//!      ─▶ every group checked, then written and journaled    (store::Partial)
//!      ─▶ whole root rechecked ─▶ plaintext reader             (store::Complete)
//! ```
//!
//! The byte-level specification is `docs/protocol/attachments.md`.
//!
//! # Quick start
//!
//! ```
//! use std::io::Read;
//! use tern_blob::{GroupSet, store::Store, verify};
//!
//! let mut rng = rand_core::UnwrapErr(getrandom::SysRng);
//! let (sender_dir, receiver_dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
//! let sender = Store::open(sender_dir.path()).unwrap();
//! let receiver = Store::open(receiver_dir.path()).unwrap();
//!
//! // Sender: encrypt and file the attachment; its root, lengths and key go in the descriptor.
//! let file = vec![42u8; 300_000];
//! let sent = sender.import(&mut rng, &file[..], file.len() as u64).unwrap();
//! let (root, lengths) = (sent.blob.root(), sent.lengths);
//!
//! // Receiver: ask for the groups it lacks; the holder answers with a verified stream.
//! let mut download = receiver.begin(&root, lengths.ciphertext()).unwrap();
//! let wanted = download.missing();
//! let mut stream = Vec::new();
//! sent.blob.encode_ranges(&wanted, &mut stream).unwrap();
//! download.receive(&wanted, &stream[..]).unwrap();
//!
//! // Once every group is in, the whole root is checked and the file can be read.
//! let blob = download.finish().unwrap();
//! let mut plaintext = Vec::new();
//! blob.plaintext(&sent.key, lengths.plaintext()).unwrap().read_to_end(&mut plaintext).unwrap();
//! assert_eq!(plaintext, file);
//! ```
#![deny(missing_docs)]
#![forbid(unsafe_code)]
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

use std::io::{Read, Write};

pub mod descriptor;
pub mod pad;
pub mod pipe;
pub mod store;
pub mod stream;
pub mod verify;
pub mod wire;

pub use descriptor::{Capability, Descriptor};
pub use stream::{FileKey, Lengths, SealError};
pub use verify::{GroupSet, Outboard, Root};

/// Encrypts a file of `plaintext_len` bytes under `key`, writing the ciphertext to
/// `ciphertext` and hashing it in the same pass; returns the outboard (with the root) and the
/// lengths. Memory stays at a few chunks plus the outboard (0.39 % of the ciphertext).
///
/// [`store::Store::import`] does this into the store; this is the same pipeline for other
/// destinations.
///
/// ```
/// let mut rng = rand_core::UnwrapErr(getrandom::SysRng);
/// let key = tern_blob::FileKey::generate(&mut rng);
/// let mut ciphertext = Vec::new();
/// let (outboard, lengths) = tern_blob::seal(&key, &b"hi"[..], 2, &mut ciphertext).unwrap();
/// assert_eq!(outboard.root(), tern_blob::Root::of(&ciphertext));
/// assert_eq!(ciphertext.len() as u64, lengths.ciphertext());
/// ```
pub fn seal(
    key: &FileKey,
    plaintext: impl Read,
    plaintext_len: u64,
    ciphertext: impl Write,
) -> Result<(Outboard, Lengths), SealError> {
    let lengths = Lengths::for_plaintext(plaintext_len)?;
    let encrypt = stream::EncryptReader::with_declared_len(key, plaintext, plaintext_len);
    let outboard = Outboard::compute(
        Tee {
            inner: encrypt,
            out: ciphertext,
        },
        lengths.ciphertext(),
    )
    .map_err(stream::seal_error)?;
    Ok((outboard, lengths))
}

/// Reads from `inner` and copies everything read to `out`.
pub(crate) struct Tee<R, W> {
    pub(crate) inner: R,
    pub(crate) out: W,
}

impl<R: Read, W: Write> Read for Tee<R, W> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.out.write_all(&buf[..n])?;
        Ok(n)
    }
}
