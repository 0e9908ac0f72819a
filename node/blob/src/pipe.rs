//! Between a stream (async: a libp2p substream) and the blob store's verifying reader and
//! encoding writer (blocking, on a blocking thread): bounded channels of chunks, so that
//! neither side holds more than a few chunks and a stalled peer is noticed on the async side
//! by its idle timeout. The node and the relay move `/tern/blob/1` streams through these.
//!
//! ```
//! # #[tokio::main(flavor = "multi_thread", worker_threads = 2)]
//! # async fn main() {
//! use std::io::Read;
//!
//! let (tx, mut reader) = tern_blob::pipe::reader();
//! let read = tokio::task::spawn_blocking(move || {
//!     let mut out = Vec::new();
//!     reader.read_to_end(&mut out).map(|_| out)
//! });
//! let stream = &b"verified stream bytes, and then some"[..];
//! assert_eq!(tern_blob::pipe::pump_in(stream, 21, tx).await.unwrap(), 21);
//! assert_eq!(read.await.unwrap().unwrap(), b"verified stream bytes");
//! # }
//! ```

use std::{
    io::{self, Read, Write},
    time::Duration,
};

use futures::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::mpsc;

use crate::{
    GroupSet,
    store::{Complete, Partial, ReceiveError, Received},
    verify,
};

/// How long a peer may send or take nothing before its stream is given up.
pub const IDLE: Duration = Duration::from_secs(20);

/// Chunks in flight between the two sides.
const DEPTH: usize = 8;
/// Bytes per chunk.
pub const CHUNK: usize = 64 * 1024;

/// The blocking side of a download: reads what [`pump_in`] forwards; the end of the stream
/// (or of the pump) is the end of input.
#[derive(Debug)]
pub struct ChannelReader {
    rx: mpsc::Receiver<Vec<u8>>,
    chunk: Vec<u8>,
    at: usize,
}

impl Read for ChannelReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.at == self.chunk.len() {
            match self.rx.blocking_recv() {
                Some(chunk) => {
                    self.chunk = chunk;
                    self.at = 0;
                }
                None => return Ok(0),
            }
        }
        let n = buf.len().min(self.chunk.len() - self.at);
        buf[..n].copy_from_slice(&self.chunk[self.at..self.at + n]);
        self.at += n;
        Ok(n)
    }
}

/// A reader for the blocking side and the sender [`pump_in`] fills.
pub fn reader() -> (mpsc::Sender<Vec<u8>>, ChannelReader) {
    let (tx, rx) = mpsc::channel(DEPTH);
    (
        tx,
        ChannelReader {
            rx,
            chunk: Vec::new(),
            at: 0,
        },
    )
}

/// Forwards up to `len` bytes of `stream` to the blocking reader. Stops early when the
/// stream ends, stalls for [`IDLE`], fails, or the reader stopped (it found a bad group).
/// Returns the bytes forwarded.
pub async fn pump_in(
    mut stream: impl AsyncRead + Unpin,
    len: u64,
    tx: mpsc::Sender<Vec<u8>>,
) -> io::Result<u64> {
    let mut forwarded = 0u64;
    while forwarded < len {
        let want = usize::try_from(len - forwarded)
            .unwrap_or(usize::MAX)
            .min(CHUNK);
        let mut chunk = vec![0u8; want];
        let n = tokio::time::timeout(IDLE, stream.read(&mut chunk))
            .await
            .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "the peer stalled"))??;
        if n == 0 {
            break;
        }
        chunk.truncate(n);
        forwarded += n as u64;
        if tx.send(chunk).await.is_err() {
            break;
        }
    }
    Ok(forwarded)
}

/// The blocking side of serving: what it writes goes to [`pump_out`] in chunks.
#[derive(Debug)]
pub struct ChannelWriter {
    tx: mpsc::Sender<Vec<u8>>,
    chunk: Vec<u8>,
}

impl Write for ChannelWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = buf.len().min(CHUNK - self.chunk.len());
        self.chunk.extend_from_slice(&buf[..n]);
        if self.chunk.len() == CHUNK {
            self.flush()?;
        }
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        if self.chunk.is_empty() {
            return Ok(());
        }
        let chunk = std::mem::replace(&mut self.chunk, Vec::with_capacity(CHUNK));
        self.tx
            .blocking_send(chunk)
            .map_err(|_| io::Error::new(io::ErrorKind::BrokenPipe, "the reader went away"))
    }
}

/// A writer for the blocking side and the receiver [`pump_out`] drains.
pub fn writer() -> (ChannelWriter, mpsc::Receiver<Vec<u8>>) {
    let (tx, rx) = mpsc::channel(DEPTH);
    (
        ChannelWriter {
            tx,
            chunk: Vec::with_capacity(CHUNK),
        },
        rx,
    )
}

/// Writes what the blocking writer produces to `stream`, each chunk within [`IDLE`].
pub async fn pump_out(
    mut stream: impl AsyncWrite + Unpin,
    mut rx: mpsc::Receiver<Vec<u8>>,
) -> io::Result<()> {
    while let Some(chunk) = rx.recv().await {
        tokio::time::timeout(IDLE, stream.write_all(&chunk))
            .await
            .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "the peer stalled"))??;
    }
    stream.flush().await
}

/// Streams the verified encoding of `groups` of `blob` (encoded on a blocking thread) to
/// `stream`: what a holder writes after `GetStatus::Ok` and an uploader after
/// `UploadStatus::Send`.
pub async fn send_groups(
    stream: impl AsyncWrite + Unpin,
    blob: Complete,
    groups: GroupSet,
) -> io::Result<()> {
    let (mut writer, rx) = writer();
    let encode = tokio::task::spawn_blocking(move || {
        blob.encode_ranges(&groups, &mut writer)
            .map_err(io::Error::other)?;
        writer.flush()
    });
    let sent = pump_out(stream, rx).await;
    let encoded = encode.await.map_err(io::Error::other)?;
    sent.and(encoded)
}

/// How one [`receive_groups`] went.
#[derive(Debug)]
pub struct Receipt {
    /// What the download made of the stream: the groups it verified and wrote (committed
    /// also when it failed half way), or the first group that failed.
    pub received: Result<Received, ReceiveError>,
    /// How the stream went: the bytes it carried, or why it stopped.
    pub pumped: io::Result<u64>,
    /// The bytes a complete answer has.
    pub expected: u64,
}

impl Receipt {
    /// When verification failed: whether the link rather than the data is to blame (the
    /// stream failed, stalled or ended early). `None` when verification did not fail.
    pub fn cut_short(&self) -> Option<String> {
        if !matches!(self.received, Err(ReceiveError::Verify(_))) {
            return None;
        }
        match &self.pumped {
            Err(e) => Some(e.to_string()),
            Ok(n) if *n < self.expected => Some("the stream ended early".into()),
            Ok(_) => None,
        }
    }
}

/// Reads the verified stream of `groups` from `stream` into `partial` (verified and written
/// on a blocking thread, every group checked before it is written). Hands the download back,
/// unless the blocking thread died with it (the next attempt reopens it from its journal).
pub async fn receive_groups(
    stream: impl AsyncRead + Unpin,
    mut partial: Partial,
    groups: GroupSet,
) -> Option<(Partial, Receipt)> {
    let expected = verify::encoded_len(partial.ciphertext_len(), &groups);
    let (tx, reader) = reader();
    let receive = tokio::task::spawn_blocking(move || {
        let received = partial.receive(&groups, reader);
        (partial, received)
    });
    let pumped = pump_in(stream, expected, tx).await;
    let (partial, received) = receive.await.ok()?;
    Some((
        partial,
        Receipt {
            received,
            pumped,
            expected,
        },
    ))
}

#[cfg(test)]
mod tests;
