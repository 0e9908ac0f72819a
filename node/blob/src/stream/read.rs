//! The streaming encryptor and decryptor, as `std::io::Read` adapters that hold one chunk.

use std::io::{self, Read, Seek, SeekFrom};

use chacha20poly1305::ChaCha20Poly1305;
use zeroize::Zeroizing;

use super::{
    CHUNK_LEN, FileKey, Lengths, OpenError, SEALED_CHUNK_LEN, SealError, TAG_LEN, open_chunk,
    seal_chunk,
};
use crate::pad::{self, MAX_PLAINTEXT_LEN, TRAILER_LEN, TooLarge};

const CHUNK: usize = CHUNK_LEN as usize;
const SEALED: usize = SEALED_CHUNK_LEN as usize;

/// Turns a plaintext reader into the ciphertext of the padded file, one 64 KiB chunk at a time.
///
/// The file's length need not be known in advance: the padding and trailer are placed when
/// the input ends. [`EncryptReader::with_declared_len`] also checks the input against a length
/// announced beforehand. Errors reach the caller as `io::Error`s whose inner error is a
/// [`SealError`].
///
/// ```
/// use std::io::Read;
/// use tern_blob::{FileKey, stream::EncryptReader};
///
/// let key = FileKey::generate(&mut rand_core::UnwrapErr(getrandom::SysRng));
/// let mut ciphertext = Vec::new();
/// EncryptReader::new(&key, &b"a photo"[..]).read_to_end(&mut ciphertext).unwrap();
/// assert_eq!(ciphertext.len(), 1024 + 16);
/// ```
pub struct EncryptReader<R> {
    input: R,
    cipher: ChaCha20Poly1305,
    declared: Option<u64>,
    /// Content bytes read so far.
    content: u64,
    /// Once the input has ended: the file's length and its padded length.
    end: Option<(u64, u64)>,
    /// The next chunk to seal.
    index: u64,
    /// The current sealed chunk (plaintext while it is being filled).
    buf: Zeroizing<Vec<u8>>,
    /// Bytes of `buf` already returned.
    pos: usize,
}

impl<R> std::fmt::Debug for EncryptReader<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EncryptReader")
            .field("content", &self.content)
            .field("index", &self.index)
            .finish_non_exhaustive()
    }
}

impl<R: Read> EncryptReader<R> {
    /// Encrypts whatever `input` yields, up to [`MAX_PLAINTEXT_LEN`] bytes.
    pub fn new(key: &FileKey, input: R) -> EncryptReader<R> {
        let mut buf = Zeroizing::new(Vec::new());
        buf.reserve_exact(SEALED);
        EncryptReader {
            input,
            cipher: key.cipher(),
            declared: None,
            content: 0,
            end: None,
            index: 0,
            buf,
            pos: 0,
        }
    }

    /// Encrypts `input`, which must yield exactly `len` bytes.
    pub fn with_declared_len(key: &FileKey, input: R, len: u64) -> EncryptReader<R> {
        let mut reader = Self::new(key, input);
        reader.declared = Some(len);
        reader
    }

    /// The lengths, once the input has ended.
    pub fn lengths(&self) -> Option<Lengths> {
        self.end
            .and_then(|(len, _)| Lengths::for_plaintext(len).ok())
    }

    fn limit(&self) -> u64 {
        self.declared.unwrap_or(MAX_PLAINTEXT_LEN)
    }

    /// Seals the next chunk into `buf`; false once the last chunk has been sealed.
    fn next_chunk(&mut self) -> Result<bool, SealError> {
        let start = self.index * CHUNK_LEN;
        if let Some((_, padded)) = self.end
            && start >= padded
        {
            return Ok(false);
        }
        self.buf.clear();
        self.buf.resize(CHUNK, 0);
        let mut filled = 0;
        if self.end.is_none() {
            while filled < CHUNK {
                let read = match self.input.read(&mut self.buf[filled..CHUNK]) {
                    Ok(read) => read,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(e) => return Err(SealError::Io(e)),
                };
                if read == 0 {
                    self.end = Some(self.finish_input()?);
                    break;
                }
                filled += read;
                self.content += read as u64;
                if self.content > self.limit() {
                    return Err(self.over_limit());
                }
            }
        }
        self.buf.truncate(filled);
        let mut last = false;
        if let Some((len, padded)) = self.end {
            let chunk_end = padded.min(start + CHUNK_LEN);
            let zeros_end = (padded - TRAILER_LEN).clamp(start + filled as u64, chunk_end);
            self.buf.resize((zeros_end - start) as usize, 0);
            for at in zeros_end..chunk_end {
                self.buf.push(pad::padding_byte(len, padded, at));
            }
            last = chunk_end == padded;
        }
        seal_chunk(&self.cipher, self.index, last, &mut self.buf);
        self.index += 1;
        self.pos = 0;
        Ok(true)
    }

    fn finish_input(&self) -> Result<(u64, u64), SealError> {
        if let Some(declared) = self.declared
            && declared != self.content
        {
            return Err(SealError::LengthMismatch {
                declared,
                actual: self.content,
            });
        }
        Ok((self.content, pad::padded_len(self.content)?))
    }

    fn over_limit(&self) -> SealError {
        match self.declared {
            Some(declared) => SealError::LengthMismatch {
                declared,
                actual: self.content,
            },
            None => SealError::TooLarge(TooLarge {
                len: self.content,
                max: MAX_PLAINTEXT_LEN,
            }),
        }
    }
}

impl<R: Read> Read for EncryptReader<R> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if out.is_empty() {
            return Ok(0);
        }
        if self.pos == self.buf.len() && !self.next_chunk().map_err(into_io)? {
            return Ok(0);
        }
        let n = out.len().min(self.buf.len() - self.pos);
        out[..n].copy_from_slice(&self.buf[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

fn into_io(error: SealError) -> io::Error {
    match error {
        SealError::Io(e) => e,
        other => io::Error::new(io::ErrorKind::InvalidInput, other),
    }
}

/// Recovers the typed error from an `io::Error` an [`EncryptReader`] returned.
pub(crate) fn seal_error(error: io::Error) -> SealError {
    if error.get_ref().is_some_and(|inner| inner.is::<SealError>()) {
        if let Some(inner) = error.into_inner()
            && let Ok(sealed) = inner.downcast::<SealError>()
        {
            return *sealed;
        }
        return SealError::Io(io::Error::other("encryption failed"));
    }
    SealError::Io(error)
}

/// Recovers the typed error from an `io::Error` a [`DecryptReader`] returned.
pub(crate) fn open_error(error: io::Error) -> OpenError {
    if error.get_ref().is_some_and(|inner| inner.is::<OpenError>()) {
        if let Some(inner) = error.into_inner()
            && let Ok(open) = inner.downcast::<OpenError>()
        {
            return *open;
        }
        return OpenError::Io(io::Error::other("decryption failed"));
    }
    OpenError::Io(error)
}

/// Turns ciphertext back into the file, one chunk at a time, checking every chunk's tag, the
/// final flag and the padding.
///
/// Reads exactly `lengths.ciphertext()` bytes (from its starting chunk on). After the file's
/// last byte it still opens the remaining chunks, so that end-of-file is returned only once
/// the final chunk and the trailer have verified. Over a seekable input whose offset 0 is the
/// ciphertext's first byte, [`Seek`] moves in the plaintext and decrypts from the chunk that
/// holds the new position. Errors reach the caller as `io::Error`s whose inner error is an
/// [`OpenError`].
pub struct DecryptReader<R> {
    input: R,
    cipher: ChaCha20Poly1305,
    lengths: Lengths,
    /// The next chunk to open.
    index: u64,
    /// Plaintext of the chunk opened last.
    buf: Zeroizing<Vec<u8>>,
    /// Padded-plaintext offset of `buf[0]`.
    buf_start: u64,
    /// Plaintext offset of the next byte to return.
    position: u64,
}

impl<R> std::fmt::Debug for DecryptReader<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DecryptReader")
            .field("lengths", &self.lengths)
            .field("position", &self.position)
            .finish_non_exhaustive()
    }
}

impl<R: Read> DecryptReader<R> {
    /// Decrypts `input`, positioned at the ciphertext's first byte.
    pub fn new(key: &FileKey, lengths: Lengths, input: R) -> DecryptReader<R> {
        Self::starting_at(key, lengths, input, 0)
    }

    /// Decrypts `input`, positioned at sealed chunk `chunk` (ciphertext byte
    /// `chunk · 65,552`): the first byte returned is plaintext byte `chunk · 65,536`. For range
    /// reads from a source that cannot seek, such as a download of the later part of a file.
    pub fn starting_at(key: &FileKey, lengths: Lengths, input: R, chunk: u64) -> DecryptReader<R> {
        let mut buf = Zeroizing::new(Vec::new());
        buf.reserve_exact(SEALED);
        let chunk = chunk.min(lengths.chunks());
        DecryptReader {
            input,
            cipher: key.cipher(),
            lengths,
            index: chunk,
            buf,
            buf_start: chunk * CHUNK_LEN,
            position: (chunk * CHUNK_LEN).min(lengths.plaintext()),
        }
    }

    /// The lengths this reader checks against.
    pub fn lengths(&self) -> &Lengths {
        &self.lengths
    }

    /// Opens the next chunk into `buf`.
    fn next_chunk(&mut self) -> Result<(), OpenError> {
        let index = self.index;
        let start = index * SEALED_CHUNK_LEN;
        let sealed_len = SEALED_CHUNK_LEN.min(self.lengths.ciphertext().saturating_sub(start));
        if sealed_len <= TAG_LEN {
            return Err(OpenError::Lengths);
        }
        self.buf.clear();
        self.buf.resize(sealed_len as usize, 0);
        if let Err(e) = self.input.read_exact(&mut self.buf) {
            self.buf.clear();
            return Err(match e.kind() {
                io::ErrorKind::UnexpectedEof => OpenError::Truncated { index },
                _ => OpenError::Io(e),
            });
        }
        let last = index + 1 == self.lengths.chunks();
        if let Err(e) = open_chunk(&self.cipher, index, last, &mut self.buf) {
            self.buf.clear();
            return Err(e);
        }
        self.buf_start = index * CHUNK_LEN;
        self.index += 1;
        self.check_padding()
    }

    /// Checks the part of the padding (zeros, then the trailer) that lies in `buf`.
    fn check_padding(&self) -> Result<(), OpenError> {
        let (len, padded) = (self.lengths.plaintext(), self.lengths.padded());
        let chunk_end = self.buf_start + self.buf.len() as u64;
        let from = len.max(self.buf_start);
        if from >= chunk_end {
            return Ok(());
        }
        let zeros_end = (padded - TRAILER_LEN).clamp(from, chunk_end);
        let local = |at: u64| (at - self.buf_start) as usize;
        if self.buf[local(from)..local(zeros_end)]
            .iter()
            .any(|&b| b != 0)
        {
            return Err(OpenError::Padding);
        }
        for at in zeros_end..chunk_end {
            if self.buf[local(at)] != pad::padding_byte(len, padded, at) {
                return Err(OpenError::Padding);
            }
        }
        Ok(())
    }

    fn read_inner(&mut self, out: &mut [u8]) -> Result<usize, OpenError> {
        if out.is_empty() {
            return Ok(0);
        }
        let len = self.lengths.plaintext();
        if self.position >= len {
            // Open what remains, so that the end is reported only once the final chunk and
            // the trailer have verified.
            while self.index < self.lengths.chunks() {
                self.next_chunk()?;
            }
            return Ok(0);
        }
        while !(self.buf_start..self.buf_start + self.buf.len() as u64).contains(&self.position) {
            self.next_chunk()?;
        }
        let at = (self.position - self.buf_start) as usize;
        let available = (self.buf.len() - at).min((len - self.position) as usize);
        let n = out.len().min(available);
        out[..n].copy_from_slice(&self.buf[at..at + n]);
        self.position += n as u64;
        Ok(n)
    }
}

impl<R: Read> Read for DecryptReader<R> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        self.read_inner(out).map_err(io::Error::from)
    }
}

impl<R: Read + Seek> Seek for DecryptReader<R> {
    fn seek(&mut self, to: SeekFrom) -> io::Result<u64> {
        let len = self.lengths.plaintext();
        let target = match to {
            SeekFrom::Start(at) => Some(at),
            SeekFrom::End(delta) => len.checked_add_signed(delta),
            SeekFrom::Current(delta) => self.position.checked_add_signed(delta),
        };
        let target = target
            .filter(|&t| t <= len)
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "seek outside the file"))?;
        let held = self.buf_start..self.buf_start + self.buf.len() as u64;
        if !held.contains(&target) {
            let chunk = target / CHUNK_LEN;
            self.input.seek(SeekFrom::Start(chunk * SEALED_CHUNK_LEN))?;
            self.index = chunk;
            self.buf.clear();
            self.buf_start = chunk * CHUNK_LEN;
        }
        self.position = target;
        Ok(target)
    }
}
