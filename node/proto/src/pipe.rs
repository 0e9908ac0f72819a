//! The client side of Tern's pipelined stream protocols (`/tern/deposit/1`,
//! `/tern/deliver/2`): requests written back to back on one long-lived stream without
//! waiting, each answered by the other side **in the order it was sent**.
//!
//! A [`Pipe`] queues encoded request frames; its driver, a future the caller spawns on any
//! executor, writes whatever is queued in one write while fewer than `window` requests are
//! unanswered, and reads the answers back in order, handing each to its caller. The
//! protocols differ only in their frames, so each supplies how a request is encoded and how
//! an answer is read ([`Answer`]).
//!
//! ```no_run
//! # async fn example(stream: libp2p::Stream) {
//! use tern_proto::msg::{Status, stream};
//! let (pipe, driver) = tern_proto::pipe::pipe::<_, Status>(stream, stream::WINDOW);
//! std::thread::spawn(|| futures::executor::block_on(driver)); // or tokio::spawn
//! let mut frame = Vec::new();
//! stream::put_delivery(&mut frame, &[0; 1024]).expect("small enough");
//! match pipe.call(frame).await {
//!     Ok(status) => { /* the recipient's answer */ }
//!     Err(closed) => { /* no answer: send it again */ }
//! }
//! # }
//! ```

use futures::{
    AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, FutureExt, SinkExt, StreamExt,
    channel::{mpsc, oneshot},
};

use crate::mailbox::FrameError;

/// The answer frame of a pipelined protocol.
pub trait Answer: Sized + Send + 'static {
    /// Reads one answer frame from `io`.
    fn read<R>(io: &mut R) -> impl Future<Output = Result<Self, FrameError>> + Send
    where
        R: AsyncRead + Unpin + Send;
}

/// A pipelined stream ended before it answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the stream closed before answering")]
pub struct Closed;

type Reply<A> = oneshot::Sender<A>;

/// The sending side of a pipelined stream; cheap to clone. The stream closes once every
/// clone is dropped and every request is answered.
#[derive(Debug)]
pub struct Pipe<A> {
    queue: mpsc::Sender<(Vec<u8>, Reply<A>)>,
}

impl<A> Clone for Pipe<A> {
    fn clone(&self) -> Self {
        Self {
            queue: self.queue.clone(),
        }
    }
}

impl<A: Answer> Pipe<A> {
    /// Sends one encoded request `frame` and waits for its answer. [`Closed`] means the
    /// stream ended first: the request may or may not have taken effect.
    pub async fn call(&self, frame: Vec<u8>) -> Result<A, Closed> {
        let (reply, answer) = oneshot::channel();
        self.queue
            .clone()
            .send((frame, reply))
            .await
            .map_err(|_| Closed)?;
        answer.await.map_err(|_| Closed)
    }

    /// Whether the stream has ended (a new request would fail at once).
    pub fn is_closed(&self) -> bool {
        self.queue.is_closed()
    }
}

/// The client side of a pipelined stream: a [`Pipe`] to send through, and the future that
/// drives the stream, which the caller spawns. At most `window` requests are unanswered at
/// once. The driver ends when the stream fails, or when every [`Pipe`] is gone and every
/// request is answered; requests then unanswered get [`Closed`].
pub fn pipe<S, A>(
    stream: S,
    window: usize,
) -> (Pipe<A>, impl Future<Output = Result<(), FrameError>> + Send)
where
    S: AsyncRead + AsyncWrite + Unpin + Send,
    A: Answer,
{
    let (queue, mut queued) = mpsc::channel::<(Vec<u8>, Reply<A>)>(window);
    let driver = async move {
        let (mut reader, mut writer) = stream.split();
        // Replies wait here in the order their frames went out; the channel's bound is the
        // window.
        let (mut sent, mut waiting) = mpsc::channel::<Reply<A>>(window);
        let send = async move {
            let mut batch = Vec::new();
            while let Some((frame, reply)) = queued.next().await {
                // A frame goes out only once its reply holds a place in the window.
                sent.send(reply).await.map_err(|_| closed_io())?;
                batch.clear();
                batch.extend_from_slice(&frame);
                // Whatever else is queued goes in the same write, while the window has room.
                while let Some(Some((frame, reply))) = queued.next().now_or_never() {
                    if let Err(full) = sent.try_send(reply) {
                        writer.write_all(&batch).await?;
                        writer.flush().await?;
                        batch.clear();
                        sent.send(full.into_inner())
                            .await
                            .map_err(|_| closed_io())?;
                    }
                    batch.extend_from_slice(&frame);
                }
                writer.write_all(&batch).await?;
                writer.flush().await?;
            }
            writer.close().await?;
            Ok::<(), FrameError>(())
        };
        let receive = async move {
            while let Some(reply) = waiting.next().await {
                let answer = A::read(&mut reader).await?;
                let _ = reply.send(answer);
            }
            Ok::<(), FrameError>(())
        };
        // The first to fail ends both: a dead stream answers nothing more.
        futures::future::try_join(send, receive).await.map(|_| ())
    };
    (Pipe { queue }, driver)
}

fn closed_io() -> FrameError {
    FrameError::Io(std::io::ErrorKind::BrokenPipe.into())
}
