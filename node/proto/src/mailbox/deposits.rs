//! The deposit stream, `/tern/deposit/1`: many deposits on one long-lived stream, pipelined.
//!
//! `/tern/mailbox/2` spends a stream (a Yamux substream and a protocol negotiation) on every
//! deposit. A sender with more than one envelope for a relay opens one deposit stream instead
//! and writes [`DepositFrame`]s on it back to back, without waiting; the relay answers each
//! with a [`DepositAnswer`], **in the order the deposits were sent**, once it is durable (or
//! refused). Frames are those of the mailbox protocol (`version u8 = 1 ‖ length u32 ‖
//! postcard(body)`), one after another, neither side closing after one.
//!
//! ```text
//! sender                                relay
//!   │ DepositFrame 1, 2, 3 … ─────────▶ │ up to WINDOW unanswered; synced in groups
//!   │ ◀───────── Stored(receipt 1), Refused(…) 2, Stored(receipt 3) …
//!   │ close (write side) ─────────────▶ │ answers what it read, then closes
//! ```
//!
//! A sender keeps at most [`WINDOW`] deposits unanswered; a relay reads no further while
//! [`WINDOW`] of a stream's deposits are unanswered, so a sender that ignores the window only
//! stalls itself. A frame that does not decode, or declares more than
//! [`super::MAX_REQUEST_LEN`] bytes, ends the stream: the relay answers what it read before it
//! and closes. A deposit without an answer when a stream ends may or may not be stored; its
//! sender deposits it again (on a new stream or by `/tern/mailbox/2`), and the relay, which
//! finds the same envelope already held for that mailbox, answers with a receipt for the copy
//! it holds instead of storing a second.
//!
//! The client side for tokio and other executors is [`lane`]:
//!
//! ```no_run
//! # async fn example(stream: libp2p::Stream) {
//! use tern_proto::mailbox::deposits::{self, DepositAnswer};
//! let (lane, driver) = deposits::lane(stream);
//! std::thread::spawn(|| futures::executor::block_on(driver)); // or tokio::spawn
//! match lane.deposit([7; 32], vec![0; 1024]).await {
//!     Ok(DepositAnswer::Stored(receipt)) => { /* verify it, as for `/tern/mailbox/2` */ }
//!     Ok(DepositAnswer::Refused(refusal)) => { /* try another relay */ }
//!     Err(closed) => { /* no answer: deposit it again */ }
//! }
//! # }
//! ```

use futures::{AsyncRead, AsyncReadExt, AsyncWrite};
use libp2p::StreamProtocol;
use serde::{Deserialize, Serialize};

use crate::pipe::{self, Pipe};

use super::{CustodyReceipt, FRAME_VERSION, FrameError, MAX_REQUEST_LEN, Refusal, read_frame};

/// The protocol name.
pub const PROTOCOL: StreamProtocol = StreamProtocol::new("/tern/deposit/1");
/// Most deposits of one stream without an answer, on either side.
pub const WINDOW: usize = 256;
/// Largest answer body: a receipt with the longest inclusion path, with room to spare.
pub const MAX_ANSWER_LEN: usize = 4096;

/// One deposit: keep `envelope` for the owner of `mailbox`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DepositFrame {
    /// The recipient's mailbox id.
    pub mailbox: [u8; 32],
    /// A sealed, padded envelope.
    #[serde(with = "serde_bytes")]
    pub envelope: Vec<u8>,
}

/// The relay's answer to one [`DepositFrame`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum DepositAnswer {
    /// The deposit is durable.
    Stored(CustodyReceipt),
    /// The deposit was not stored.
    Refused(Refusal),
}

pub use crate::pipe::Closed;

/// Appends one frame of `body` to `out`, or refuses a body over `max` bytes.
pub fn put_frame<T: Serialize>(out: &mut Vec<u8>, body: &T, max: usize) -> Result<(), FrameError> {
    let start = out.len();
    out.extend_from_slice(&[FRAME_VERSION, 0, 0, 0, 0]);
    postcard::to_io(body, &mut *out).map_err(|e| FrameError::Malformed(e.to_string()))?;
    let len = out.len() - start - 5;
    if len > max {
        out.truncate(start);
        return Err(FrameError::TooLarge(len));
    }
    out[start + 1..start + 5].copy_from_slice(&(len as u32).to_be_bytes());
    Ok(())
}

/// Reads the next frame of a stream whose frames may end it: `Ok(None)` at a clean end
/// between frames.
pub async fn next_frame<T, R>(io: &mut R, max: usize) -> Result<Option<T>, FrameError>
where
    T: for<'de> Deserialize<'de>,
    R: AsyncRead + Unpin + Send,
{
    let mut first = [0u8; 1];
    if io.read(&mut first).await? == 0 {
        return Ok(None);
    }
    read_frame(&mut (&first[..]).chain(io), max).await.map(Some)
}

impl pipe::Answer for DepositAnswer {
    async fn read<R>(io: &mut R) -> Result<Self, FrameError>
    where
        R: AsyncRead + Unpin + Send,
    {
        read_frame(io, MAX_ANSWER_LEN).await
    }
}

/// The sending side of a deposit stream; cheap to clone. The stream closes once every clone
/// is dropped and every deposit is answered.
#[derive(Debug, Clone)]
pub struct Lane(Pipe<DepositAnswer>);

impl Lane {
    /// Deposits `envelope` for `mailbox` and waits for the relay's answer. [`Closed`] means
    /// the stream ended first: the deposit may or may not be stored, and should be made again.
    pub async fn deposit(
        &self,
        mailbox: [u8; 32],
        envelope: Vec<u8>,
    ) -> Result<DepositAnswer, Closed> {
        let mut frame = Vec::with_capacity(envelope.len() + 48);
        put_frame(
            &mut frame,
            &DepositFrame { mailbox, envelope },
            MAX_REQUEST_LEN,
        )
        .map_err(|_| Closed)?;
        self.0.call(frame).await
    }

    /// Whether the stream has ended (a new deposit would fail at once).
    pub fn is_closed(&self) -> bool {
        self.0.is_closed()
    }
}

/// The client side of a deposit stream: a [`Lane`] to deposit through, and the future that
/// drives the stream, which the caller spawns. The driver ends when the stream fails, or
/// when every [`Lane`] is gone and every deposit is answered; deposits then unanswered get
/// [`Closed`].
pub fn lane<S>(stream: S) -> (Lane, impl Future<Output = Result<(), FrameError>> + Send)
where
    S: AsyncRead + AsyncWrite + Unpin + Send,
{
    let (pipe, driver) = pipe::pipe(stream, WINDOW);
    (Lane(pipe), driver)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_frame_put_in_a_buffer_reads_back() {
        let frame = DepositFrame {
            mailbox: [3; 32],
            envelope: vec![9; 700],
        };
        let mut buf = vec![0xAA];
        put_frame(&mut buf, &frame, MAX_REQUEST_LEN).unwrap();
        put_frame(&mut buf, &frame, MAX_REQUEST_LEN).unwrap();
        let mut io = &buf[1..];
        futures::executor::block_on(async {
            for _ in 0..2 {
                let back: Option<DepositFrame> =
                    next_frame(&mut io, MAX_REQUEST_LEN).await.unwrap();
                assert_eq!(back.as_ref(), Some(&frame));
            }
            let end: Option<DepositFrame> = next_frame(&mut io, MAX_REQUEST_LEN).await.unwrap();
            assert_eq!(end, None);
        });
    }

    #[test]
    fn an_oversized_body_is_refused_and_leaves_the_buffer_as_it_was() {
        let mut buf = vec![1, 2, 3];
        let frame = DepositFrame {
            mailbox: [0; 32],
            envelope: vec![0; 100],
        };
        assert!(matches!(
            put_frame(&mut buf, &frame, 50),
            Err(FrameError::TooLarge(_))
        ));
        assert_eq!(buf, [1, 2, 3]);
    }

    #[test]
    fn a_frame_cut_short_is_an_error_not_an_end() {
        let mut buf = Vec::new();
        let frame = DepositFrame {
            mailbox: [0; 32],
            envelope: vec![0; 100],
        };
        put_frame(&mut buf, &frame, MAX_REQUEST_LEN).unwrap();
        let mut io = &buf[..buf.len() - 10];
        let read =
            futures::executor::block_on(next_frame::<DepositFrame, _>(&mut io, MAX_REQUEST_LEN));
        assert!(matches!(read, Err(FrameError::Io(_))));
    }
}
