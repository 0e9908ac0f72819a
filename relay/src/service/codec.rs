//! The mailbox codec as the relay serves it: Tern's own, counting the requests it could not
//! read. libp2p's request-response drops a stream whose request fails to decode and tells the
//! behaviour nothing (it only logs it), so without this count a flood of malformed or
//! oversized requests would show on no dashboard.

use std::{
    io,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
};

use futures::{AsyncRead, AsyncWrite};
use libp2p::{StreamProtocol, request_response};
use tern_proto::mailbox::{self, FrameError, MAX_REQUEST_LEN, Request, Response};

/// Requests no handler saw because they could not be read, by kind. Every connection's codec
/// shares one; the event loop reads it for the metrics snapshot.
#[derive(Debug, Default)]
pub(crate) struct Unreadable {
    /// An unknown frame version, a body that does not decode.
    malformed: AtomicU64,
    /// A frame declaring more than [`MAX_REQUEST_LEN`] bytes.
    too_large: AtomicU64,
    /// The stream failed or ended before the frame did.
    io: AtomicU64,
}

impl Unreadable {
    pub(crate) fn count(&self, error: &FrameError) {
        let counter = match error {
            FrameError::Io(_) => &self.io,
            FrameError::TooLarge(_) => &self.too_large,
            // An unknown version, a body that does not decode, and whatever the frame rules
            // add later: the request broke them.
            _ => &self.malformed,
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// The counts so far, under the kinds of `stream_failures`.
    pub(crate) fn counts(&self) -> [(&'static str, u64); 3] {
        [
            ("malformed", self.malformed.load(Ordering::Relaxed)),
            ("too_large", self.too_large.load(Ordering::Relaxed)),
            ("io", self.io.load(Ordering::Relaxed)),
        ]
    }
}

/// `/tern/mailbox/2` for the relay's side: reads requests and writes responses as
/// [`mailbox::Codec`] does, and counts the requests it could not read in [`Unreadable`].
#[derive(Debug, Clone, Default)]
pub(crate) struct Counting {
    unreadable: Arc<Unreadable>,
}

impl Counting {
    pub(crate) fn new(unreadable: Arc<Unreadable>) -> Self {
        Self { unreadable }
    }
}

impl request_response::Codec for Counting {
    type Protocol = StreamProtocol;
    type Request = Request;
    type Response = Response;

    async fn read_request<T>(&mut self, _: &StreamProtocol, io: &mut T) -> io::Result<Request>
    where
        T: AsyncRead + Unpin + Send,
    {
        mailbox::read_frame(io, MAX_REQUEST_LEN)
            .await
            .map_err(|error| {
                self.unreadable.count(&error);
                error.into()
            })
    }

    async fn read_response<T>(
        &mut self,
        protocol: &StreamProtocol,
        io: &mut T,
    ) -> io::Result<Response>
    where
        T: AsyncRead + Unpin + Send,
    {
        mailbox::Codec.read_response(protocol, io).await
    }

    async fn write_request<T>(
        &mut self,
        protocol: &StreamProtocol,
        io: &mut T,
        request: Request,
    ) -> io::Result<()>
    where
        T: AsyncWrite + Unpin + Send,
    {
        mailbox::Codec.write_request(protocol, io, request).await
    }

    async fn write_response<T>(
        &mut self,
        protocol: &StreamProtocol,
        io: &mut T,
        response: Response,
    ) -> io::Result<()>
    where
        T: AsyncWrite + Unpin + Send,
    {
        mailbox::Codec.write_response(protocol, io, response).await
    }
}

#[cfg(test)]
mod tests {
    use futures::{executor::block_on, io::Cursor};
    use request_response::Codec as _;

    use super::*;

    fn read(codec: &mut Counting, bytes: Vec<u8>) -> io::Result<Request> {
        block_on(codec.read_request(&mailbox::PROTOCOL, &mut Cursor::new(bytes)))
    }

    #[test]
    fn requests_that_cannot_be_read_are_counted_by_kind() {
        let unreadable = Arc::new(Unreadable::default());
        let mut codec = Counting::new(unreadable.clone());
        let mut good = Vec::new();
        block_on(mailbox::write_frame(
            &mut good,
            &Request::Challenge,
            MAX_REQUEST_LEN,
        ))
        .unwrap();

        assert_eq!(read(&mut codec, good.clone()).unwrap(), Request::Challenge);
        let mut other_version = good.clone();
        other_version[0] ^= 0xff;
        assert!(read(&mut codec, other_version).is_err());
        let mut huge = good.clone();
        huge[1..5].copy_from_slice(&u32::MAX.to_be_bytes());
        assert!(read(&mut codec, huge).is_err());
        assert!(read(&mut codec, good[..good.len() - 1].to_vec()).is_err());

        assert_eq!(
            unreadable.counts(),
            [("malformed", 1), ("too_large", 1), ("io", 1)]
        );
    }
}
