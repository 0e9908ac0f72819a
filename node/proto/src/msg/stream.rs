//! The delivery stream, `/tern/deliver/2`: many direct deliveries on one long-lived stream,
//! pipelined.
//!
//! `/tern/msg/2` spends a stream (a Yamux substream, a protocol negotiation and a flush of
//! its own) on every envelope. A sender already connected to its peer opens one delivery
//! stream instead and writes the requests of `/tern/msg/2` on it back to back, without
//! waiting; the recipient answers each with the answer frame of `/tern/msg/2`, **in the
//! order the deliveries were sent**, once it is durable (or refused). Neither side closes
//! after one.
//!
//! ```text
//! sender                                recipient
//!   │ 01 ‖ len ‖ envelope, … ─────────▶ │ up to WINDOW unanswered
//!   │ ◀───────── 01 ‖ Stored, 01 ‖ Busy, 01 ‖ Duplicate …
//!   │ close (write side) ─────────────▶ │ answers what it read, then closes
//! ```
//!
//! A sender keeps at most [`WINDOW`] deliveries unanswered; a recipient reads no further
//! while [`WINDOW`] of a stream's deliveries are unanswered, so a sender that ignores the
//! window only stalls itself. A frame of another version, or declaring more than
//! `MAX_ENVELOPE_LEN` bytes, ends the stream: the recipient answers what it read before it
//! and closes. A delivery without an answer when a stream ends may or may not be stored; its
//! sender delivers it again, and the recipient, which finds the message already stored,
//! answers [`Status::Duplicate`].
//!
//! The sender's side is a [`pipe::Pipe`] of [`Status`] answers, with frames from
//! [`put_delivery`].

use std::io;

use futures::{AsyncRead, AsyncReadExt};
use libp2p::StreamProtocol;
use tern_crypto::envelope::MAX_ENVELOPE_LEN;

use super::{FRAME_VERSION, Status, invalid, read_envelope, read_status};
use crate::{mailbox::FrameError, pipe};

/// The protocol name.
pub const PROTOCOL: StreamProtocol = StreamProtocol::new("/tern/deliver/2");
/// Most deliveries of one stream without an answer, on either side.
pub const WINDOW: usize = 256;

/// Appends the request frame of `envelope` to `out`, or refuses one over the maximum.
pub fn put_delivery(out: &mut Vec<u8>, envelope: &[u8]) -> io::Result<()> {
    if envelope.len() > MAX_ENVELOPE_LEN {
        return Err(invalid("envelope too large"));
    }
    out.push(FRAME_VERSION);
    out.extend_from_slice(&(envelope.len() as u32).to_be_bytes());
    out.extend_from_slice(envelope);
    Ok(())
}

/// Appends the answer frame of `status` to `out`.
pub fn put_status(out: &mut Vec<u8>, status: Status) {
    out.extend_from_slice(&[FRAME_VERSION, status.to_byte()]);
}

/// Reads the next delivery's envelope: `Ok(None)` at a clean end between frames.
pub async fn next_delivery<R>(io: &mut R) -> io::Result<Option<Vec<u8>>>
where
    R: AsyncRead + Unpin + Send,
{
    let mut version = [0u8; 1];
    if io.read(&mut version).await? == 0 {
        return Ok(None);
    }
    if version[0] != FRAME_VERSION {
        return Err(invalid(format!("unsupported frame version {}", version[0])));
    }
    read_envelope(io).await.map(Some)
}

impl pipe::Answer for Status {
    async fn read<R>(io: &mut R) -> Result<Self, FrameError>
    where
        R: AsyncRead + Unpin + Send,
    {
        Ok(read_status(io).await?)
    }
}

#[cfg(test)]
mod tests {
    use futures::{AsyncWrite, AsyncWriteExt, StreamExt, io::Cursor};
    use tokio_util::compat::TokioAsyncReadCompatExt;

    use super::*;
    use crate::pipe::{Closed, Pipe};

    async fn deliver(pipe: &Pipe<Status>, envelope: &[u8]) -> Result<Status, Closed> {
        let mut frame = Vec::new();
        put_delivery(&mut frame, envelope).map_err(|_| Closed)?;
        pipe.call(frame).await
    }

    #[test]
    fn deliveries_put_back_to_back_read_back_and_end_cleanly() {
        let mut buf = Vec::new();
        put_delivery(&mut buf, &[7; 700]).unwrap();
        put_delivery(&mut buf, &[]).unwrap();
        let mut io = Cursor::new(buf);
        futures::executor::block_on(async {
            assert_eq!(next_delivery(&mut io).await.unwrap(), Some(vec![7; 700]));
            assert_eq!(next_delivery(&mut io).await.unwrap(), Some(vec![]));
            assert_eq!(next_delivery(&mut io).await.unwrap(), None);
        });
    }

    #[test]
    fn bad_frames_end_the_stream_with_an_error() {
        let too_large = vec![0; MAX_ENVELOPE_LEN + 1];
        assert!(put_delivery(&mut Vec::new(), &too_large).is_err());
        let mut huge = vec![FRAME_VERSION];
        huge.extend_from_slice(&u32::MAX.to_be_bytes());
        let mut cut = Vec::new();
        put_delivery(&mut cut, &[1; 100]).unwrap();
        cut.truncate(50);
        for (bytes, kind) in [
            (huge, io::ErrorKind::InvalidData),
            (vec![2, 0, 0, 0, 0], io::ErrorKind::InvalidData),
            (cut, io::ErrorKind::UnexpectedEof),
        ] {
            let read = futures::executor::block_on(next_delivery(&mut Cursor::new(bytes)));
            assert_eq!(read.unwrap_err().kind(), kind);
        }
    }

    /// A recipient that answers each delivery with a status named by its first byte, in order.
    async fn answer_in_order(stream: impl AsyncRead + AsyncWrite + Unpin + Send) {
        let (mut reader, mut writer) = stream.split();
        while let Ok(Some(envelope)) = next_delivery(&mut reader).await {
            let status = if envelope[0] == 0 {
                Status::Stored
            } else {
                Status::Busy
            };
            let mut out = Vec::new();
            put_status(&mut out, status);
            writer.write_all(&out).await.unwrap();
        }
        writer.close().await.unwrap();
    }

    #[tokio::test]
    async fn pipelined_deliveries_each_get_their_own_answer() {
        let (client, server) = tokio::io::duplex(1 << 16);
        tokio::spawn(answer_in_order(server.compat()));
        let (lane, driver) = pipe::pipe(client.compat(), WINDOW);
        let driver = tokio::spawn(driver);
        let calls: futures::stream::FuturesOrdered<_> = (0..2 * WINDOW)
            .map(|i| {
                let lane = lane.clone();
                async move { deliver(&lane, &[(i % 3) as u8; 64]).await }
            })
            .collect();
        let answers: Vec<_> = calls.collect().await;
        for (i, answer) in answers.into_iter().enumerate() {
            let expected = if i % 3 == 0 {
                Status::Stored
            } else {
                Status::Busy
            };
            assert_eq!(answer, Ok(expected), "delivery {i}");
        }
        drop(lane);
        driver.await.unwrap().unwrap();
    }

    #[tokio::test]
    async fn a_stream_that_ends_leaves_its_deliveries_closed_not_answered() {
        let (client, server) = tokio::io::duplex(1 << 16);
        drop(server);
        let (lane, driver) = pipe::pipe(client.compat(), WINDOW);
        tokio::spawn(driver);
        assert_eq!(deliver(&lane, &[0; 10]).await, Err(Closed));
    }
}
