//! The local blob store: a directory of encrypted, content-addressed blobs, complete or being
//! downloaded. The node keeps one in its profile; a relay keeps one for the blobs it holds.
//!
//! # Layout
//!
//! ```text
//! <dir>/complete/<root>       a verified blob:   header ‖ ciphertext ‖ outboard
//! <dir>/partial/<root>        a download:        header ‖ ciphertext so far (sparse) ‖ outboard so far
//! <dir>/partial/<root>.log    its journal of durable groups (see `Partial`)
//! <dir>/tmp/                  imports being written; emptied on open
//! ```
//!
//! `<root>` is the root in 64 lowercase hex digits. The header is 64 bytes:
//! `"TERNBLOB" ‖ version u8 = 1 ‖ 7 zero bytes ‖ ciphertext length u64 BE ‖ root (32) ‖ 8 zero
//! bytes`; the ciphertext starts at byte 64 and the post-order outboard follows it. Nothing in
//! the store is plaintext: file names and contents are ciphertext, hashes and lengths.
//!
//! # Crash safety
//!
//! Every state change ends in one `rename` or one journal append, each made durable before
//! the change counts:
//!
//! - **Import** (a file this device sends): encrypt into `tmp/`, append the outboard and header,
//!   `fsync` the file, rename it to `complete/<root>`, `fsync` `complete/`. A crash leaves
//!   either no blob or the whole blob; leftovers in `tmp/` are removed on open.
//! - **Download**: the blob file is created at its full (sparse) length and `fsync`ed, then the
//!   journal appears by an `fsync`ed rename; verified groups are written in place and recorded
//!   by the journal after an `fdatasync` of the blob file (see `Partial`). Finishing rehashes
//!   the whole ciphertext against the root, `fsync`s, renames the file to `complete/<root>`,
//!   `fsync`s both directories and removes the journal.
//! - **Delete**: unlink, then `fsync` the directory.
//!
//! On open, a partial blob without its journal, or a journal without its blob, is removed
//! (the half-created or half-finished download it belonged to is either not started or
//! already complete).

use std::{
    collections::HashSet,
    fs::{self, File, OpenOptions},
    io::{self, BufWriter, Read, Seek, SeekFrom, Write},
    path::{Path, PathBuf},
    sync::{Arc, Mutex},
};

use bao_tree::io::sync::WriteAt;
use rand_core::CryptoRng;
use thiserror::Error;

use crate::{
    stream::{self, EncryptReader, FileKey, Lengths, SealError},
    verify::{Outboard, Root},
};

mod file;
mod partial;

pub use file::{CiphertextReader, Complete, PlaintextError};
pub use partial::{COMMIT_BYTES, FinishError, Partial, ReceiveError, Received};

use file::{HEADER_LEN, Window};
use partial::{Paths, exists};

/// Why a store operation failed.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The file system failed. The operation left the old state in place.
    #[error("blob store i/o error")]
    Io(#[source] io::Error),
    /// A blob's files do not have the expected form.
    #[error("blob {root:?} is damaged")]
    Corrupt {
        /// The blob.
        root: Root,
    },
    /// Another handle is downloading this blob.
    #[error("blob {root:?} is in use")]
    Busy {
        /// The blob.
        root: Root,
    },
    /// The blob is already complete.
    #[error("blob {root:?} is already complete")]
    Exists {
        /// The blob.
        root: Root,
    },
    /// No attachment has a ciphertext of this length.
    #[error("no attachment has a ciphertext of {len} bytes")]
    BadLength {
        /// The length.
        len: u64,
    },
    /// A download of this root with another length is in progress.
    #[error("blob {root:?} is being downloaded with another length")]
    LengthMismatch {
        /// The blob.
        root: Root,
    },
}

/// Why an import failed. Nothing was added to the store.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum ImportError {
    /// Encryption failed: the input is too large, shorter or longer than declared, or could
    /// not be read.
    #[error(transparent)]
    Seal(#[from] SealError),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A file just encrypted into the store: what its descriptor needs.
#[derive(Debug)]
pub struct Imported {
    /// The blob, ready to serve.
    pub blob: Complete,
    /// Its lengths.
    pub lengths: Lengths,
    /// The fresh key it is encrypted under.
    pub key: FileKey,
}

/// A blob store in a directory. A cheap handle: clones share the directory and the record of
/// downloads in progress. All calls block on the file system; call them from a blocking
/// thread.
#[derive(Debug, Clone)]
pub struct Store {
    dir: PathBuf,
    open: Arc<Mutex<HashSet<Root>>>,
}

impl Store {
    /// Opens (creating if needed) the store in `dir`, removing what interrupted operations
    /// left behind.
    ///
    /// ```
    /// use tern_blob::store::Store;
    ///
    /// let dir = tempfile::tempdir().unwrap();
    /// let store = Store::open(dir.path()).unwrap();
    /// let mut rng = rand_core::UnwrapErr(getrandom::SysRng);
    /// let file = b"the report".to_vec();
    /// let imported = store.import(&mut rng, &file[..], file.len() as u64).unwrap();
    ///
    /// let blob = store.complete(&imported.blob.root()).unwrap().unwrap();
    /// let mut plaintext = Vec::new();
    /// std::io::Read::read_to_end(
    ///     &mut blob.plaintext(&imported.key, imported.lengths.plaintext()).unwrap(),
    ///     &mut plaintext,
    /// )
    /// .unwrap();
    /// assert_eq!(plaintext, file);
    /// ```
    pub fn open(dir: impl AsRef<Path>) -> Result<Store, StoreError> {
        let dir = dir.as_ref().to_path_buf();
        for sub in ["complete", "partial", "tmp"] {
            fs::create_dir_all(dir.join(sub)).map_err(StoreError::Io)?;
        }
        let store = Store {
            dir,
            open: Arc::new(Mutex::new(HashSet::new())),
        };
        store.clean()?;
        Ok(store)
    }

    fn clean(&self) -> Result<(), StoreError> {
        for entry in fs::read_dir(self.dir.join("tmp")).map_err(StoreError::Io)? {
            let path = entry.map_err(StoreError::Io)?.path();
            fs::remove_file(&path).map_err(StoreError::Io)?;
        }
        let partial_dir = self.dir.join("partial");
        for entry in fs::read_dir(&partial_dir).map_err(StoreError::Io)? {
            let path = entry.map_err(StoreError::Io)?.path();
            let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
                continue;
            };
            let orphan = if let Some(root) = name.strip_suffix(".log.tmp") {
                root.parse::<Root>().is_ok()
            } else if let Some(root) = name.strip_suffix(".log") {
                root.parse::<Root>().is_ok() && !exists(&partial_dir.join(root))
            } else {
                name.parse::<Root>().is_ok() && !exists(&partial_dir.join(format!("{name}.log")))
            };
            if orphan {
                fs::remove_file(&path).map_err(StoreError::Io)?;
            }
        }
        sync_dir(&partial_dir)
    }

    fn paths(&self, root: &Root) -> Paths {
        let partial_dir = self.dir.join("partial");
        let complete_dir = self.dir.join("complete");
        Paths {
            data: partial_dir.join(root.to_string()),
            journal: partial_dir.join(format!("{root}.log")),
            complete: complete_dir.join(root.to_string()),
            partial_dir,
            complete_dir,
        }
    }

    /// Encrypts a file of `plaintext_len` bytes under a fresh key into the store, hashing it
    /// in the same pass. Memory stays at a few chunks plus the outboard (0.39 %).
    pub fn import<R: CryptoRng + ?Sized>(
        &self,
        rng: &mut R,
        plaintext: impl Read,
        plaintext_len: u64,
    ) -> Result<Imported, ImportError> {
        let key = FileKey::generate(rng);
        let lengths = Lengths::for_plaintext(plaintext_len).map_err(SealError::TooLarge)?;
        let (tmp, file) = self.tmp_file(rng)?;
        let result = (|| {
            let mut out = BufWriter::with_capacity(WRITE_BUFFER, &file);
            out.seek(SeekFrom::Start(HEADER_LEN))
                .map_err(SealError::Io)?;
            let (outboard, _) = crate::seal(&key, plaintext, plaintext_len, &mut out)?;
            out.flush().map_err(SealError::Io)?;
            Ok::<_, ImportError>(outboard)
        })();
        self.file_import(tmp, file, result, key, lengths)
    }

    /// Like [`Store::import`], for input whose length is not known in advance (a streamed
    /// upload): encrypts in one pass, then reads the ciphertext back to hash it.
    pub fn import_stream<R: CryptoRng + ?Sized>(
        &self,
        rng: &mut R,
        plaintext: impl Read,
    ) -> Result<(Imported, u64), ImportError> {
        let key = FileKey::generate(rng);
        let (tmp, file) = self.tmp_file(rng)?;
        let file = Arc::new(file);
        let mut lengths = None;
        let result = (|| {
            let mut out = BufWriter::with_capacity(WRITE_BUFFER, &*file);
            out.seek(SeekFrom::Start(HEADER_LEN))
                .map_err(SealError::Io)?;
            let mut encrypt = EncryptReader::new(&key, plaintext);
            io::copy(&mut encrypt, &mut out).map_err(stream::seal_error)?;
            out.flush().map_err(SealError::Io)?;
            let found = encrypt
                .lengths()
                .ok_or(SealError::Io(io::ErrorKind::UnexpectedEof.into()))?;
            lengths = Some(found);
            let window = Window {
                file: Arc::clone(&file),
                start: HEADER_LEN,
                len: found.ciphertext(),
            };
            Outboard::compute(CiphertextReader::new(window), found.ciphertext())
                .map_err(|e| ImportError::Seal(SealError::Io(e)))
        })();
        let file = Arc::try_unwrap(file)
            .map_err(|_| StoreError::Io(io::Error::other("import file still shared")))?;
        let lengths = match lengths {
            Some(lengths) => lengths,
            None => {
                let _ = fs::remove_file(&tmp);
                return Err(result.err().unwrap_or(ImportError::Seal(SealError::Io(
                    io::ErrorKind::UnexpectedEof.into(),
                ))));
            }
        };
        let imported = self.file_import(tmp, file, result, key, lengths)?;
        Ok((imported, lengths.plaintext()))
    }

    fn tmp_file<R: CryptoRng + ?Sized>(&self, rng: &mut R) -> Result<(PathBuf, File), StoreError> {
        let mut name = [0u8; 16];
        rng.fill_bytes(&mut name);
        let name: String = name.iter().map(|b| format!("{b:02x}")).collect();
        let path = self.dir.join("tmp").join(name);
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(&path)
            .map_err(StoreError::Io)?;
        Ok((path, file))
    }

    /// Appends outboard and header to a written import, makes it durable and files it.
    fn file_import(
        &self,
        tmp: PathBuf,
        mut file: File,
        outboard: Result<Outboard, ImportError>,
        key: FileKey,
        lengths: Lengths,
    ) -> Result<Imported, ImportError> {
        let result = (|| {
            let outboard = outboard?;
            let root = outboard.root();
            let len = lengths.ciphertext();
            let io = |e| ImportError::Store(StoreError::Io(e));
            file.write_all_at(HEADER_LEN + len, outboard.as_bytes())
                .map_err(io)?;
            file.write_all_at(0, &file::header(&root, len))
                .map_err(io)?;
            file.sync_all().map_err(io)?;
            let paths = self.paths(&root);
            fs::rename(&tmp, &paths.complete).map_err(io)?;
            sync_dir(&paths.complete_dir)?;
            Ok(Imported {
                blob: Complete::new(root, len, file),
                lengths,
                key,
            })
        })();
        if result.is_err() {
            let _ = fs::remove_file(&tmp);
        }
        result
    }

    /// The complete blob named `root`, if the store has it.
    pub fn complete(&self, root: &Root) -> Result<Option<Complete>, StoreError> {
        let path = self.paths(root).complete;
        let file = match File::open(&path) {
            Ok(file) => file,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(StoreError::Io(e)),
        };
        let len = file::read_header(&file, root)?;
        Ok(Some(Complete::new(*root, len, file)))
    }

    /// A reader over ciphertext bytes `bytes` of `root`, from the complete blob or, while it
    /// downloads, once every group under the range has verified and is durable: what a
    /// player or a range request reads before the rest arrives. Pair it with
    /// [`crate::Lengths::chunks_for`] and [`crate::stream::DecryptReader::starting_at`],
    /// which checks every chunk's tag again. `None` while part of the range is missing.
    /// Works beside the fetch that holds the download's [`Partial`].
    pub fn verified_ciphertext(
        &self,
        root: &Root,
        bytes: std::ops::Range<u64>,
    ) -> Result<Option<CiphertextReader>, StoreError> {
        if let Some(complete) = self.complete(root)? {
            return Ok(Some(complete.ciphertext_range(bytes)));
        }
        match Partial::peek(*root, &self.paths(root), bytes.clone())? {
            Some(reader) => Ok(Some(reader)),
            // Finished between the two looks.
            None => Ok(self
                .complete(root)?
                .map(|complete| complete.ciphertext_range(bytes))),
        }
    }

    /// Starts or resumes the download of `root`, a ciphertext of `ciphertext_len` bytes (from
    /// its descriptor). Refused while another handle has it open or once it is complete.
    pub fn begin(&self, root: &Root, ciphertext_len: u64) -> Result<Partial, StoreError> {
        if !stream::is_ciphertext_len(ciphertext_len) {
            return Err(StoreError::BadLength {
                len: ciphertext_len,
            });
        }
        let paths = self.paths(root);
        let claim = self.claim(root)?;
        if exists(&paths.complete) {
            return Err(StoreError::Exists { root: *root });
        }
        let partial = if exists(&paths.journal) {
            let partial = Partial::reopen(*root, paths, Arc::clone(&self.open))?;
            if partial.ciphertext_len() != ciphertext_len {
                return Err(StoreError::LengthMismatch { root: *root });
            }
            partial
        } else {
            Partial::create(*root, ciphertext_len, paths, Arc::clone(&self.open))?
        };
        claim.keep();
        Ok(partial)
    }

    /// Resumes the download of `root`, if one is in progress.
    pub fn partial(&self, root: &Root) -> Result<Option<Partial>, StoreError> {
        let paths = self.paths(root);
        let claim = self.claim(root)?;
        if !exists(&paths.journal) {
            return Ok(None);
        }
        let partial = Partial::reopen(*root, paths, Arc::clone(&self.open))?;
        claim.keep();
        Ok(Some(partial))
    }

    /// Deletes everything the store holds for `root`; whether there was anything. Refused
    /// while a download of it is open.
    pub fn delete(&self, root: &Root) -> Result<bool, StoreError> {
        let paths = self.paths(root);
        let _claim = self.claim(root)?;
        let mut found = false;
        for path in [&paths.complete, &paths.journal, &paths.data] {
            match fs::remove_file(path) {
                Ok(()) => found = true,
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(StoreError::Io(e)),
            }
        }
        sync_dir(&paths.complete_dir)?;
        sync_dir(&paths.partial_dir)?;
        Ok(found)
    }

    /// Roots of the complete blobs.
    pub fn complete_roots(&self) -> Result<Vec<Root>, StoreError> {
        self.list("complete", "")
    }

    /// Roots of the downloads in progress.
    pub fn partial_roots(&self) -> Result<Vec<Root>, StoreError> {
        self.list("partial", ".log")
    }

    fn list(&self, sub: &str, suffix: &str) -> Result<Vec<Root>, StoreError> {
        let mut roots = Vec::new();
        for entry in fs::read_dir(self.dir.join(sub)).map_err(StoreError::Io)? {
            let name = entry.map_err(StoreError::Io)?.file_name();
            if let Some(root) = name
                .to_str()
                .and_then(|n| n.strip_suffix(suffix))
                .and_then(|n| n.parse().ok())
            {
                roots.push(root);
            }
        }
        roots.sort();
        Ok(roots)
    }

    /// Marks `root` as in use until the claim is dropped (or kept by a `Partial`).
    fn claim(&self, root: &Root) -> Result<Claim<'_>, StoreError> {
        let mut open = self
            .open
            .lock()
            .map_err(|_| StoreError::Io(io::Error::other("store lock poisoned")))?;
        if !open.insert(*root) {
            return Err(StoreError::Busy { root: *root });
        }
        Ok(Claim {
            store: self,
            root: *root,
            keep: false,
        })
    }
}

/// Write buffer for imports: large sequential writes, a bounded amount of memory.
const WRITE_BUFFER: usize = 256 * 1024;

struct Claim<'a> {
    store: &'a Store,
    root: Root,
    keep: bool,
}

impl Claim<'_> {
    /// Hands the claim to a `Partial`, which releases it when dropped.
    fn keep(mut self) {
        self.keep = true;
    }
}

impl Drop for Claim<'_> {
    fn drop(&mut self) {
        if !self.keep
            && let Ok(mut open) = self.store.open.lock()
        {
            open.remove(&self.root);
        }
    }
}

/// Makes a directory's entries (a rename, a new or removed file) durable.
pub(crate) fn sync_dir(dir: &Path) -> Result<(), StoreError> {
    #[cfg(unix)]
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(StoreError::Io)?;
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
}

#[cfg(test)]
mod tests;
