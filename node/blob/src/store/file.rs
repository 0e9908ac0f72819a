//! The blob file: `header ‖ ciphertext ‖ outboard`, the same layout for complete and partial
//! blobs, and the readers over it.

use std::{
    fs::File,
    io::{self, Read, Seek, SeekFrom},
    sync::Arc,
};

use bao_tree::io::sync::ReadAt;

use super::StoreError;
use crate::{
    stream::{DecryptReader, FileKey, Lengths},
    verify::{self, EncodeRangeError, GroupSet, Outboard, Root},
};

/// Length of the header that opens every blob file.
pub(crate) const HEADER_LEN: u64 = 64;
const MAGIC: &[u8; 8] = b"TERNBLOB";
const VERSION: u8 = 1;

/// `"TERNBLOB" ‖ version u8 = 1 ‖ 7 zero bytes ‖ ciphertext length u64 BE ‖ root (32) ‖ 8 zero
/// bytes`.
pub(crate) fn header(root: &Root, ciphertext_len: u64) -> [u8; HEADER_LEN as usize] {
    let mut out = [0u8; HEADER_LEN as usize];
    out[..8].copy_from_slice(MAGIC);
    out[8] = VERSION;
    out[16..24].copy_from_slice(&ciphertext_len.to_be_bytes());
    out[24..56].copy_from_slice(root.as_bytes());
    out
}

/// Reads and checks the header of an open blob file: the root it names and its length.
pub(crate) fn read_header(file: &File, expected_root: &Root) -> Result<u64, StoreError> {
    let mut bytes = [0u8; HEADER_LEN as usize];
    file.read_exact_at(0, &mut bytes)
        .map_err(|_| StoreError::Corrupt {
            root: *expected_root,
        })?;
    let len = u64::from_be_bytes(bytes[16..24].try_into().unwrap_or_default());
    if bytes != header(expected_root, len) || len > crate::stream::MAX_CIPHERTEXT_LEN {
        return Err(StoreError::Corrupt {
            root: *expected_root,
        });
    }
    let size = file.metadata().map_err(StoreError::Io)?.len();
    if size != file_len(len) {
        return Err(StoreError::Corrupt {
            root: *expected_root,
        });
    }
    Ok(len)
}

/// Total length of a blob file for a ciphertext of `ciphertext_len` bytes.
pub(crate) fn file_len(ciphertext_len: u64) -> u64 {
    HEADER_LEN + ciphertext_len + verify::outboard_len(ciphertext_len)
}

/// A window `[start, start + len)` of a file, read with positioned reads.
#[derive(Debug, Clone)]
pub(crate) struct Window {
    pub(crate) file: Arc<File>,
    pub(crate) start: u64,
    pub(crate) len: u64,
}

impl ReadAt for Window {
    fn read_at(&self, pos: u64, buf: &mut [u8]) -> io::Result<usize> {
        if pos >= self.len {
            return Ok(0);
        }
        let n = buf
            .len()
            .min(usize::try_from(self.len - pos).unwrap_or(usize::MAX));
        self.file.read_at(self.start + pos, &mut buf[..n])
    }
}

/// A reader over a blob's ciphertext: `Read + Seek`, independent of any other reader of the
/// same blob.
#[derive(Debug)]
pub struct CiphertextReader {
    window: Window,
    pos: u64,
}

impl CiphertextReader {
    pub(crate) fn new(window: Window) -> CiphertextReader {
        CiphertextReader { window, pos: 0 }
    }
}

impl Read for CiphertextReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.window.read_at(self.pos, buf)?;
        self.pos += n as u64;
        Ok(n)
    }
}

impl Seek for CiphertextReader {
    fn seek(&mut self, to: SeekFrom) -> io::Result<u64> {
        let target = match to {
            SeekFrom::Start(at) => Some(at),
            SeekFrom::End(delta) => self.window.len.checked_add_signed(delta),
            SeekFrom::Current(delta) => self.pos.checked_add_signed(delta),
        }
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "seek before the start"))?;
        self.pos = target;
        Ok(target)
    }
}

/// A complete, verified blob in the store: its ciphertext hashed to its root before it was
/// filed, so it can be served to others and decrypted.
#[derive(Debug, Clone)]
pub struct Complete {
    root: Root,
    ciphertext_len: u64,
    file: Arc<File>,
}

/// Why a plaintext reader was not handed out.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PlaintextError {
    /// The lengths announced for the file do not match the stored ciphertext.
    #[error("the announced length does not match the stored blob")]
    Lengths,
}

impl Complete {
    pub(crate) fn new(root: Root, ciphertext_len: u64, file: File) -> Complete {
        Complete {
            root,
            ciphertext_len,
            file: Arc::new(file),
        }
    }

    /// The blob's root.
    pub fn root(&self) -> Root {
        self.root
    }

    /// The ciphertext's length.
    pub fn ciphertext_len(&self) -> u64 {
        self.ciphertext_len
    }

    fn data(&self) -> Window {
        Window {
            file: Arc::clone(&self.file),
            start: HEADER_LEN,
            len: self.ciphertext_len,
        }
    }

    fn outboard_window(&self) -> Window {
        Window {
            file: Arc::clone(&self.file),
            start: HEADER_LEN + self.ciphertext_len,
            len: verify::outboard_len(self.ciphertext_len),
        }
    }

    /// Writes the verified stream answering a request for `groups` (see [`crate::verify`]),
    /// checking the local copy as it goes. This is what a sender's device or a relay serves.
    pub fn encode_ranges(
        &self,
        groups: &GroupSet,
        out: impl io::Write,
    ) -> Result<(), EncodeRangeError> {
        verify::encode(
            self.root,
            self.ciphertext_len,
            self.outboard_window(),
            self.data(),
            groups,
            out,
        )
    }

    /// The ciphertext (to upload it to a relay, for instance).
    pub fn ciphertext(&self) -> CiphertextReader {
        CiphertextReader {
            window: self.data(),
            pos: 0,
        }
    }

    /// Ciphertext bytes `bytes` (clamped to the blob).
    pub fn ciphertext_range(&self, bytes: std::ops::Range<u64>) -> CiphertextReader {
        let end = bytes.end.min(self.ciphertext_len);
        let start = bytes.start.min(end);
        CiphertextReader {
            window: Window {
                file: Arc::clone(&self.file),
                start: HEADER_LEN + start,
                len: end - start,
            },
            pos: 0,
        }
    }

    /// The outboard, read into memory.
    pub fn outboard(&self) -> io::Result<Outboard> {
        let window = self.outboard_window();
        let mut data = vec![0u8; usize::try_from(window.len).unwrap_or(0)];
        window.read_exact_at(0, &mut data)?;
        Outboard::from_parts(self.root, self.ciphertext_len, data)
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "outboard length"))
    }

    /// The decrypted file, as a `Read + Seek` that checks every chunk, for a file announced as
    /// `plaintext_len` bytes.
    pub fn plaintext(
        &self,
        key: &FileKey,
        plaintext_len: u64,
    ) -> Result<DecryptReader<CiphertextReader>, PlaintextError> {
        let lengths = Lengths::for_plaintext(plaintext_len).map_err(|_| PlaintextError::Lengths)?;
        if lengths.ciphertext() != self.ciphertext_len {
            return Err(PlaintextError::Lengths);
        }
        Ok(DecryptReader::new(key, lengths, self.ciphertext()))
    }
}
