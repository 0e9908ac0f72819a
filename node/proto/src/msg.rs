//! The direct-delivery protocol `/tern/msg/2`: one envelope per request, one
//! acknowledgement per response, over libp2p request-response.
//!
//! The envelope is usually a direct one (`tern_crypto::envelope::direct`): the channel
//! reaches only the recipient's device, so the sealing that hides the sender from relays is
//! left out. Version 1 of the protocol carried only sealed envelopes; nodes that speak
//! version 2 do not serve it, so an older sender fails to negotiate and leaves its messages at
//! the recipient's relays instead.
//!
//! Request frame: `version u8 = 1 ‖ length u32 (big-endian) ‖ envelope`, with
//! `length ≤ MAX_ENVELOPE_LEN` (256 KiB). Response frame: `version u8 = 1 ‖ status u8`.
//! The recipient writes [`Status::Stored`] only once the message, and the session state it
//! advanced, are durable; [`Status::Duplicate`] means it was already stored earlier (so the
//! sender can stop retrying just the same). Any other status is a refusal the sender must
//! not retry unchanged, except [`Status::Busy`].
//!
//! Reading never allocates more than the declared, bounded length, and a peer that sends a
//! longer length, another version or a truncated frame gets its stream closed with an error.

use std::io;

use futures::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use libp2p::StreamProtocol;
use tern_crypto::envelope::MAX_ENVELOPE_LEN;

pub mod stream;

/// The protocol name.
pub const PROTOCOL: StreamProtocol = StreamProtocol::new("/tern/msg/2");

const FRAME_VERSION: u8 = 1;

/// A delivery: one envelope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    /// The envelope, direct or sealed, at most `MAX_ENVELOPE_LEN` bytes.
    pub envelope: Vec<u8>,
}

/// The recipient's answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// Stored durably, with the session state it advanced.
    Stored,
    /// Already stored before; nothing changed.
    Duplicate,
    /// The envelope does not decode or open (garbage, not for this node, altered).
    Rejected,
    /// The envelope opened but its message could not be decrypted (unknown session, replay).
    Undecryptable,
    /// The recipient is overloaded or rate-limiting this peer; retry later.
    Busy,
    /// The recipient cannot store anything (its database failed); retry elsewhere or later.
    Unavailable,
}

impl Status {
    fn to_byte(self) -> u8 {
        match self {
            Self::Stored => 0,
            Self::Duplicate => 1,
            Self::Rejected => 2,
            Self::Undecryptable => 3,
            Self::Busy => 4,
            Self::Unavailable => 5,
        }
    }

    fn from_byte(byte: u8) -> io::Result<Self> {
        Ok(match byte {
            0 => Self::Stored,
            1 => Self::Duplicate,
            2 => Self::Rejected,
            3 => Self::Undecryptable,
            4 => Self::Busy,
            5 => Self::Unavailable,
            other => return Err(invalid(format!("unknown status {other}"))),
        })
    }
}

/// The codec. Stateless.
#[derive(Debug, Clone, Copy, Default)]
pub struct Codec;

fn invalid(message: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, message.into())
}

async fn read_version<T: AsyncRead + Unpin + Send>(io: &mut T) -> io::Result<()> {
    let mut version = [0u8; 1];
    io.read_exact(&mut version).await?;
    if version[0] != FRAME_VERSION {
        return Err(invalid(format!("unsupported frame version {}", version[0])));
    }
    Ok(())
}

/// Reads a delivery's length and envelope (after its version byte), never allocating more
/// than the declared, bounded length.
async fn read_envelope<T: AsyncRead + Unpin + Send>(io: &mut T) -> io::Result<Vec<u8>> {
    let mut len = [0u8; 4];
    io.read_exact(&mut len).await?;
    let len = u32::from_be_bytes(len) as usize;
    if len > MAX_ENVELOPE_LEN {
        return Err(invalid(format!(
            "envelope of {len} bytes exceeds {MAX_ENVELOPE_LEN}"
        )));
    }
    let mut envelope = vec![0u8; len];
    io.read_exact(&mut envelope).await?;
    Ok(envelope)
}

/// Reads one answer frame.
async fn read_status<T: AsyncRead + Unpin + Send>(io: &mut T) -> io::Result<Status> {
    read_version(io).await?;
    let mut status = [0u8; 1];
    io.read_exact(&mut status).await?;
    Status::from_byte(status[0])
}

impl libp2p::request_response::Codec for Codec {
    type Protocol = StreamProtocol;
    type Request = Delivery;
    type Response = Status;

    async fn read_request<T>(&mut self, _: &StreamProtocol, io: &mut T) -> io::Result<Delivery>
    where
        T: AsyncRead + Unpin + Send,
    {
        read_version(io).await?;
        read_envelope(io)
            .await
            .map(|envelope| Delivery { envelope })
    }

    async fn read_response<T>(&mut self, _: &StreamProtocol, io: &mut T) -> io::Result<Status>
    where
        T: AsyncRead + Unpin + Send,
    {
        read_status(io).await
    }

    async fn write_request<T>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
        request: Delivery,
    ) -> io::Result<()>
    where
        T: AsyncWrite + Unpin + Send,
    {
        if request.envelope.len() > MAX_ENVELOPE_LEN {
            return Err(invalid("envelope too large"));
        }
        io.write_all(&[FRAME_VERSION]).await?;
        io.write_all(&(request.envelope.len() as u32).to_be_bytes())
            .await?;
        io.write_all(&request.envelope).await?;
        io.close().await
    }

    async fn write_response<T>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
        status: Status,
    ) -> io::Result<()>
    where
        T: AsyncWrite + Unpin + Send,
    {
        io.write_all(&[FRAME_VERSION, status.to_byte()]).await?;
        io.close().await
    }
}

#[cfg(test)]
mod tests {
    use futures::io::Cursor;
    use libp2p::request_response::Codec as _;

    use super::*;

    fn read_request(bytes: &[u8]) -> io::Result<Delivery> {
        futures::executor::block_on(Codec.read_request(&PROTOCOL, &mut Cursor::new(bytes.to_vec())))
    }

    #[test]
    fn frames_round_trip() {
        let mut buf = Cursor::new(Vec::new());
        let delivery = Delivery {
            envelope: vec![7u8; 1024],
        };
        futures::executor::block_on(Codec.write_request(&PROTOCOL, &mut buf, delivery.clone()))
            .unwrap();
        assert_eq!(read_request(buf.get_ref()).unwrap(), delivery);

        for status in [
            Status::Stored,
            Status::Duplicate,
            Status::Rejected,
            Status::Undecryptable,
            Status::Busy,
            Status::Unavailable,
        ] {
            let mut buf = Cursor::new(Vec::new());
            futures::executor::block_on(Codec.write_response(&PROTOCOL, &mut buf, status)).unwrap();
            let read = futures::executor::block_on(
                Codec.read_response(&PROTOCOL, &mut Cursor::new(buf.into_inner())),
            );
            assert_eq!(read.unwrap(), status);
        }
    }

    #[test]
    fn bad_frames_are_refused_without_large_allocations() {
        // A declared length beyond the maximum is refused before anything is allocated.
        let mut huge = vec![FRAME_VERSION];
        huge.extend_from_slice(&u32::MAX.to_be_bytes());
        assert_eq!(
            read_request(&huge).unwrap_err().kind(),
            io::ErrorKind::InvalidData
        );
        // Wrong version, truncated length, truncated body.
        assert_eq!(
            read_request(&[2, 0, 0, 0, 1, 0]).unwrap_err().kind(),
            io::ErrorKind::InvalidData
        );
        assert_eq!(
            read_request(&[1, 0, 0]).unwrap_err().kind(),
            io::ErrorKind::UnexpectedEof
        );
        assert_eq!(
            read_request(&[1, 0, 0, 0, 9, 1, 2]).unwrap_err().kind(),
            io::ErrorKind::UnexpectedEof
        );
        let unknown = futures::executor::block_on(
            Codec.read_response(&PROTOCOL, &mut Cursor::new(vec![1, 77])),
        );
        assert_eq!(unknown.unwrap_err().kind(), io::ErrorKind::InvalidData);
    }
}
