//! A download in progress: a sparse blob file filled in as verified groups arrive, and a
//! journal of the groups that are durable.
//!
//! # Journal
//!
//! `partial/<root>.log` is `"TERNJRNL" ‖ version u8 = 1 ‖ 7 zero bytes ‖ root (32) ‖ ciphertext
//! length u64 BE` (56 bytes), then records of 24 bytes, each a range of groups that is durable:
//!
//! ```text
//! start u64 BE ‖ end u64 BE ‖ check = BLAKE3-derive-key("tern blob journal v1", root ‖ start ‖ end)[..8]
//! ```
//!
//! # Durability
//!
//! A commit first `fdatasync`s the blob file (so the groups and hash pairs written since the
//! last commit are on disk), then appends one record per new range and `fdatasync`s the
//! journal. A record is therefore never on disk before its data. A crash during the append
//! leaves a torn or zero-filled tail: its check fails, and reopening truncates the journal to
//! the last whole, valid record. Groups written but not yet committed are fetched again.
//!
//! [`Partial::write`] commits on its own whenever [`COMMIT_BYTES`] of new groups are pending,
//! and [`Partial::receive`] commits when its stream ends, so a crash loses less than 512 KiB of
//! verified data plus whatever was in flight.

use std::{
    collections::HashSet,
    fs::{self, File, OpenOptions},
    io::{self, Read, Seek, SeekFrom, Write},
    path::{Path, PathBuf},
    sync::{Arc, Mutex},
};

use bao_tree::{blake3, io::sync::WriteAt};

use super::{
    StoreError,
    file::{self, CiphertextReader, Complete, HEADER_LEN, Window},
    sync_dir,
};
use crate::verify::{self, GroupSet, Outboard, PARENT_LEN, Root, Verified, VerifyError};

/// Verified bytes that may be pending before [`Partial::write`] commits on its own.
///
/// Half a mebibyte bounds what a crash makes the receiver fetch again below the 1 MiB the
/// design allows, at one pair of `fdatasync`s per 32 groups.
pub const COMMIT_BYTES: u64 = 512 * 1024;

const MAGIC: &[u8; 8] = b"TERNJRNL";
const VERSION: u8 = 1;
const JOURNAL_HEADER_LEN: u64 = 56;
const RECORD_LEN: usize = 24;
const CHECK_CONTEXT: &str = "tern blob journal v1";

fn journal_header(root: &Root, ciphertext_len: u64) -> [u8; JOURNAL_HEADER_LEN as usize] {
    let mut out = [0u8; JOURNAL_HEADER_LEN as usize];
    out[..8].copy_from_slice(MAGIC);
    out[8] = VERSION;
    out[16..48].copy_from_slice(root.as_bytes());
    out[48..56].copy_from_slice(&ciphertext_len.to_be_bytes());
    out
}

fn record(root: &Root, start: u64, end: u64) -> [u8; RECORD_LEN] {
    let mut out = [0u8; RECORD_LEN];
    out[..8].copy_from_slice(&start.to_be_bytes());
    out[8..16].copy_from_slice(&end.to_be_bytes());
    let mut hasher = blake3::Hasher::new_derive_key(CHECK_CONTEXT);
    hasher.update(root.as_bytes());
    hasher.update(&out[..16]);
    out[16..].copy_from_slice(&hasher.finalize().as_bytes()[..8]);
    out
}

/// The groups a journal records as durable, and the length of its valid part (a torn or
/// damaged tail ends it).
fn replay(root: &Root, ciphertext_len: u64, bytes: &[u8]) -> Result<(GroupSet, usize), StoreError> {
    let header_len = JOURNAL_HEADER_LEN as usize;
    if bytes.len() < header_len || bytes[..header_len] != journal_header(root, ciphertext_len) {
        return Err(StoreError::Corrupt { root: *root });
    }
    let groups = verify::group_count(ciphertext_len);
    let mut ranges = Vec::new();
    let mut valid_len = header_len;
    for rec in bytes[header_len..].chunks_exact(RECORD_LEN) {
        let start = u64::from_be_bytes(rec[..8].try_into().unwrap_or_default());
        let end = u64::from_be_bytes(rec[8..16].try_into().unwrap_or_default());
        if rec != record(root, start, end) || start >= end || end > groups {
            break;
        }
        ranges.push(start..end);
        valid_len += RECORD_LEN;
    }
    Ok((GroupSet::from_ranges(ranges), valid_len))
}

/// What one [`Partial::receive`] achieved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Received {
    /// Stream bytes read.
    pub stream_bytes: u64,
    /// Groups verified and written that the blob did not have yet.
    pub new_groups: u64,
}

/// Why [`Partial::finish`] did not produce a complete blob.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FinishError {
    /// Groups are still missing.
    #[error("{missing} groups are still missing")]
    Incomplete {
        /// How many.
        missing: u64,
    },
    /// The assembled ciphertext does not hash to the root (the disk lost or changed data).
    /// The download's record was reset: every group is fetched again.
    #[error("the assembled blob does not match its root")]
    RootMismatch,
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A download in progress, resumable after a crash. One handle per root at a time (the store
/// refuses a second). Dropping it without [`Partial::commit`] loses the pending groups, as a
/// crash would.
#[derive(Debug)]
pub struct Partial {
    root: Root,
    ciphertext_len: u64,
    file: File,
    journal: File,
    /// Groups whose records are durable.
    recorded: GroupSet,
    /// Groups written since the last commit.
    pending: GroupSet,
    pending_bytes: u64,
    paths: Paths,
    open: Arc<Mutex<HashSet<Root>>>,
}

#[derive(Debug, Clone)]
pub(crate) struct Paths {
    pub(crate) data: PathBuf,
    pub(crate) journal: PathBuf,
    pub(crate) complete: PathBuf,
    pub(crate) partial_dir: PathBuf,
    pub(crate) complete_dir: PathBuf,
}

impl Partial {
    /// Creates the files of a new download.
    pub(crate) fn create(
        root: Root,
        ciphertext_len: u64,
        paths: Paths,
        open: Arc<Mutex<HashSet<Root>>>,
    ) -> Result<Partial, StoreError> {
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(&paths.data)
            .map_err(StoreError::Io)?;
        file.write_all(&file::header(&root, ciphertext_len))
            .map_err(StoreError::Io)?;
        file.set_len(file::file_len(ciphertext_len))
            .map_err(StoreError::Io)?;
        file.sync_all().map_err(StoreError::Io)?;
        // The journal appears under its name only once its header is durable: its presence
        // is what marks the download as existing.
        let tmp = paths.journal.with_extension("log.tmp");
        let mut journal = File::create(&tmp).map_err(StoreError::Io)?;
        journal
            .write_all(&journal_header(&root, ciphertext_len))
            .map_err(StoreError::Io)?;
        journal.sync_all().map_err(StoreError::Io)?;
        fs::rename(&tmp, &paths.journal).map_err(StoreError::Io)?;
        sync_dir(&paths.partial_dir)?;
        let journal = OpenOptions::new()
            .append(true)
            .read(true)
            .open(&paths.journal)
            .map_err(StoreError::Io)?;
        Ok(Partial {
            root,
            ciphertext_len,
            file,
            journal,
            recorded: GroupSet::new(),
            pending: GroupSet::new(),
            pending_bytes: 0,
            paths,
            open,
        })
    }

    /// Reopens a download, replaying its journal; a torn tail is cut off.
    pub(crate) fn reopen(
        root: Root,
        paths: Paths,
        open: Arc<Mutex<HashSet<Root>>>,
    ) -> Result<Partial, StoreError> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .open(&paths.data)
            .map_err(StoreError::Io)?;
        let ciphertext_len = file::read_header(&file, &root)?;
        let mut journal = OpenOptions::new()
            .read(true)
            .write(true)
            .open(&paths.journal)
            .map_err(StoreError::Io)?;
        let mut bytes = Vec::new();
        journal.read_to_end(&mut bytes).map_err(StoreError::Io)?;
        let (recorded, valid_len) = replay(&root, ciphertext_len, &bytes)?;
        if valid_len < bytes.len() {
            journal.set_len(valid_len as u64).map_err(StoreError::Io)?;
            journal.sync_all().map_err(StoreError::Io)?;
        }
        journal.seek(SeekFrom::End(0)).map_err(StoreError::Io)?;
        Ok(Partial {
            root,
            ciphertext_len,
            file,
            journal,
            recorded,
            pending: GroupSet::new(),
            pending_bytes: 0,
            paths,
            open,
        })
    }

    /// A reader over ciphertext bytes `bytes` of the download at `paths`, read without taking
    /// it over (the fetch keeps writing), once every group holding them is durable (its
    /// journal record written, which follows the data's `fdatasync`). `None` while one is
    /// not, or when there is no such download.
    pub(crate) fn peek(
        root: Root,
        paths: &Paths,
        bytes: std::ops::Range<u64>,
    ) -> Result<Option<CiphertextReader>, StoreError> {
        let not_found = |e: &io::Error| e.kind() == io::ErrorKind::NotFound;
        let journal = match fs::read(&paths.journal) {
            Ok(journal) => journal,
            Err(e) if not_found(&e) => return Ok(None),
            Err(e) => return Err(StoreError::Io(e)),
        };
        let file = match File::open(&paths.data) {
            Ok(file) => file,
            // Finished (and renamed) between the two reads.
            Err(e) if not_found(&e) => return Ok(None),
            Err(e) => return Err(StoreError::Io(e)),
        };
        let ciphertext_len = file::read_header(&file, &root)?;
        let (recorded, _) = replay(&root, ciphertext_len, &journal)?;
        let end = bytes.end.min(ciphertext_len);
        let start = bytes.start.min(end);
        if !recorded.contains_all(&GroupSet::covering_bytes(start..end)) {
            return Ok(None);
        }
        Ok(Some(CiphertextReader::new(Window {
            file: Arc::new(file),
            start: HEADER_LEN + start,
            len: end - start,
        })))
    }

    /// The blob's root.
    pub fn root(&self) -> Root {
        self.root
    }

    /// The ciphertext's length.
    pub fn ciphertext_len(&self) -> u64 {
        self.ciphertext_len
    }

    /// Groups verified and written, committed or not.
    pub fn verified(&self) -> GroupSet {
        self.recorded.union(&self.pending)
    }

    /// Groups that still have to be fetched: what to request on resuming.
    pub fn missing(&self) -> GroupSet {
        GroupSet::all(verify::group_count(self.ciphertext_len)).difference(&self.verified())
    }

    /// Whether every group is verified.
    pub fn is_complete(&self) -> bool {
        self.missing().is_empty()
    }

    /// A reader over ciphertext bytes `bytes` of this download, once every group holding
    /// them has verified: for a player or a range request to start before the rest arrives
    /// (pair it with [`crate::Lengths::chunks_for`] and
    /// [`crate::stream::DecryptReader::starting_at`], which checks every chunk's tag again).
    /// `None` while a group under the range is missing.
    pub fn verified_ciphertext(
        &self,
        bytes: std::ops::Range<u64>,
    ) -> Result<Option<CiphertextReader>, StoreError> {
        let end = bytes.end.min(self.ciphertext_len);
        let start = bytes.start.min(end);
        if !self
            .verified()
            .contains_all(&GroupSet::covering_bytes(start..end))
        {
            return Ok(None);
        }
        let file = Arc::new(self.file.try_clone().map_err(StoreError::Io)?);
        Ok(Some(CiphertextReader::new(Window {
            file,
            start: HEADER_LEN + start,
            len: end - start,
        })))
    }

    /// Writes one verified item (from [`verify::decode_ranges`], possibly run elsewhere for
    /// another source). Groups already held are skipped. Commits once [`COMMIT_BYTES`] are
    /// pending.
    pub fn write(&mut self, item: Verified<'_>) -> Result<bool, StoreError> {
        match item {
            Verified::Parent(parent) => {
                if let Some(offset) = parent.outboard_offset(self.ciphertext_len) {
                    let at = HEADER_LEN + self.ciphertext_len + offset;
                    if offset + PARENT_LEN <= verify::outboard_len(self.ciphertext_len) {
                        self.file
                            .write_all_at(at, &parent.pair)
                            .map_err(StoreError::Io)?;
                    }
                }
                Ok(false)
            }
            Verified::Group { index, data } => {
                if self.recorded.contains(index) || self.pending.contains(index) {
                    return Ok(false);
                }
                let bytes = verify::group_bytes(self.ciphertext_len, index);
                if data.len() as u64 != bytes.end - bytes.start {
                    return Err(StoreError::Corrupt { root: self.root });
                }
                self.file
                    .write_all_at(HEADER_LEN + bytes.start, data)
                    .map_err(StoreError::Io)?;
                self.pending.insert(index);
                self.pending_bytes += data.len() as u64;
                if self.pending_bytes >= COMMIT_BYTES {
                    self.commit()?;
                }
                Ok(true)
            }
        }
    }

    /// Makes every group written so far durable and records it.
    pub fn commit(&mut self) -> Result<(), StoreError> {
        if self.pending.is_empty() {
            return Ok(());
        }
        self.file.sync_data().map_err(StoreError::Io)?;
        let mut records = Vec::with_capacity(self.pending.ranges().len() * RECORD_LEN);
        for range in self.pending.ranges() {
            records.extend_from_slice(&record(&self.root, range.start, range.end));
        }
        self.journal.write_all(&records).map_err(StoreError::Io)?;
        self.journal.sync_data().map_err(StoreError::Io)?;
        self.recorded = self.recorded.union(&self.pending);
        self.pending = GroupSet::new();
        self.pending_bytes = 0;
        Ok(())
    }

    /// Reads the verified stream answering a request for `groups` from one source, writing
    /// each group once it has verified, and commits what arrived, also when the stream fails
    /// half way (the error then names the group or range that failed).
    pub fn receive(
        &mut self,
        groups: &GroupSet,
        encoded: impl Read,
    ) -> Result<Received, ReceiveError> {
        let root = self.root;
        let len = self.ciphertext_len;
        let mut new_groups = 0;
        let mut store_error = None;
        let result =
            verify::decode_ranges(&root, len, groups, encoded, |item| match self.write(item) {
                Ok(new) => {
                    new_groups += u64::from(new);
                    Ok(())
                }
                Err(e) => {
                    store_error = Some(e);
                    Err(io::Error::other("store failed"))
                }
            });
        if let Some(e) = store_error {
            return Err(ReceiveError::Store(e));
        }
        self.commit().map_err(ReceiveError::Store)?;
        let stream_bytes = result.map_err(ReceiveError::Verify)?;
        Ok(Received {
            stream_bytes,
            new_groups,
        })
    }

    /// Once every group is verified: checks the whole ciphertext against the root once more,
    /// rewrites the outboard from it, makes the file durable and files it as complete.
    pub fn finish(mut self) -> Result<Complete, FinishError> {
        let missing = self.missing().count();
        if missing > 0 {
            return Err(FinishError::Incomplete { missing });
        }
        self.commit()?;
        let file = Arc::new(self.file.try_clone().map_err(StoreError::Io)?);
        let data = Window {
            file,
            start: HEADER_LEN,
            len: self.ciphertext_len,
        };
        let outboard = Outboard::compute(CiphertextReader::new(data), self.ciphertext_len)
            .map_err(StoreError::Io)?;
        if outboard.root() != self.root {
            self.reset()?;
            return Err(FinishError::RootMismatch);
        }
        self.file
            .write_all_at(HEADER_LEN + self.ciphertext_len, outboard.as_bytes())
            .map_err(StoreError::Io)?;
        self.file.sync_all().map_err(StoreError::Io)?;
        fs::rename(&self.paths.data, &self.paths.complete).map_err(StoreError::Io)?;
        sync_dir(&self.paths.complete_dir)?;
        sync_dir(&self.paths.partial_dir)?;
        fs::remove_file(&self.paths.journal).map_err(StoreError::Io)?;
        sync_dir(&self.paths.partial_dir)?;
        let file = self.file.try_clone().map_err(StoreError::Io)?;
        Ok(Complete::new(self.root, self.ciphertext_len, file))
    }

    /// Forgets every recorded group (the data no longer matches the root).
    fn reset(&mut self) -> Result<(), StoreError> {
        self.journal
            .set_len(JOURNAL_HEADER_LEN)
            .map_err(StoreError::Io)?;
        self.journal.sync_all().map_err(StoreError::Io)?;
        self.recorded = GroupSet::new();
        self.pending = GroupSet::new();
        self.pending_bytes = 0;
        Ok(())
    }

    #[cfg(test)]
    pub(crate) fn paths(&self) -> &Paths {
        &self.paths
    }
}

impl Drop for Partial {
    fn drop(&mut self) {
        if let Ok(mut open) = self.open.lock() {
            open.remove(&self.root);
        }
    }
}

/// Why [`Partial::receive`] stopped.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReceiveError {
    /// The stream failed verification or ended early; what verified before is kept.
    #[error(transparent)]
    Verify(VerifyError),
    /// Writing to the store failed.
    #[error(transparent)]
    Store(StoreError),
}

/// Whether `path` exists (an error reading the directory counts as present, to be safe).
pub(crate) fn exists(path: &Path) -> bool {
    path.try_exists().unwrap_or(true)
}
