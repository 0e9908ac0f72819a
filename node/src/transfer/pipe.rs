//! Between a libp2p stream (async) and the blob store's verifying reader and encoding writer
//! (blocking, on a blocking thread): bounded channels of chunks, so that neither side holds
//! more than a few chunks and a stalled peer is noticed on the async side by its idle
//! timeout.

use std::io::{self, Read, Write};

use futures::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::mpsc;

use super::IDLE;

/// Chunks in flight between the two sides.
const DEPTH: usize = 8;
/// Bytes per chunk.
pub(super) const CHUNK: usize = 64 * 1024;

/// The blocking side of a download: reads what [`pump_in`] forwards; the end of the stream
/// (or of the pump) is the end of input.
pub(super) struct ChannelReader {
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
pub(super) fn reader() -> (mpsc::Sender<Vec<u8>>, ChannelReader) {
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
pub(super) async fn pump_in(
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
pub(super) struct ChannelWriter {
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
pub(super) fn writer() -> (ChannelWriter, mpsc::Receiver<Vec<u8>>) {
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
pub(super) async fn pump_out(
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
