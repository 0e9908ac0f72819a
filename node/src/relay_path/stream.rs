//! Collecting on a `/tern/collect/2` stream: one proof, then pages asked for ahead of need.
//!
//! While the relay says more is waiting, the node keeps [`QUEUED`] requests at the relay, so
//! the relay reads and sends the next page while this one is stored, and never waits for a
//! request between pages. Each request carries the acknowledgements of the pages stored
//! since the last one; only the request made when nothing is queued is held open for new
//! mail.

use std::time::Duration;

use futures::AsyncWriteExt;
use libp2p::{Multiaddr, PeerId};
use tern_crypto::{AccountKey, PrekeyBundle};
use tern_proto::mailbox::{
    MAX_RESPONSE_LEN, Operation, OwnerProof,
    collect::{self, CollectAnswer, CollectRequest},
    deposits::{next_frame, put_frame},
};

use super::{ANSWER_TIMEOUT, FIRST_BACKOFF, Health, PAGE, Round, WAIT_SECS, pause_after, submit};
use crate::network::{self, NetError};

/// Requests a collect stream keeps queued at the relay while pages keep coming.
const QUEUED: usize = 2;

/// Why collecting on a stream stopped.
pub(super) enum StreamEnd {
    /// The relay does not speak `/tern/collect/2`.
    Unsupported,
    /// The stream failed, or the pipeline could not take everything; the mail stays at the
    /// relay.
    Failed {
        reason: String,
        /// Whether the relay had taken our proof on it.
        proven: bool,
    },
}

impl StreamEnd {
    /// The same end, after the proof was taken.
    fn proven(self) -> Self {
        match self {
            Self::Failed { reason, .. } => Self::Failed {
                reason,
                proven: true,
            },
            other => other,
        }
    }
}

/// What opening a collect stream needs.
pub(super) struct Session<'a> {
    pub(super) net: &'a network::Handle,
    pub(super) account: &'a AccountKey,
    pub(super) bundle: &'a PrekeyBundle,
    pub(super) relay: PeerId,
    pub(super) addresses: &'a [Multiaddr],
}

impl Session<'_> {
    /// Collects on one `/tern/collect/2` stream: proves ownership once, then asks for pages
    /// ahead of need (the request made when none is queued held open by the relay while the
    /// mailbox is empty), until `until` (then it takes what it asked for, acknowledges what it
    /// holds and returns `Ok`) or a failure. `cursor` follows what is taken and acknowledged,
    /// as in [`super::collect_once`].
    pub(super) async fn on_stream(
        &self,
        health: &mut Health,
        cursor: &mut u64,
        backoff: &mut Duration,
        until: tokio::time::Instant,
    ) -> Result<(), StreamEnd> {
        let failed = |e: &dyn std::fmt::Display| StreamEnd::Failed {
            reason: e.to_string(),
            proven: false,
        };
        let (mut stream, _lease) = match self
            .net
            .own_stream(self.relay, self.addresses.to_vec(), collect::PROTOCOL)
            .await
        {
            Ok(opened) => opened,
            Err(NetError::Unsupported) => return Err(StreamEnd::Unsupported),
            Err(e) => return Err(failed(&e)),
        };
        let CollectAnswer::Challenge { nonce } = ask(&mut stream, &CollectRequest::Hello)
            .await
            .map_err(|e| failed(&e))?
        else {
            return Err(failed(&"no challenge"));
        };
        let proof = OwnerProof::new(
            self.account,
            self.bundle,
            &self.relay.to_bytes(),
            nonce,
            Operation::Collect,
        );
        let CollectAnswer::Proven = ask(&mut stream, &CollectRequest::Prove(proof))
            .await
            .map_err(|e| failed(&e))?
        else {
            return Err(failed(&"the proof was not taken"));
        };
        health.report(true).await;
        // Ids stored and not yet acknowledged: each request carries them.
        let mut ack = Vec::new();
        // Requests the relay has yet to answer. Only one sent with none queued is held, so
        // an answer is to a held request exactly when nothing was queued before it.
        let mut queued = 0usize;
        let pages = async {
            loop {
                let held = queued == 0;
                if held {
                    if tokio::time::Instant::now() >= until {
                        return acknowledge_all(&mut stream, &mut ack, *cursor).await;
                    }
                    let next = CollectRequest::Next {
                        ack: acknowledge(&mut ack),
                        after: *cursor,
                        limit: PAGE,
                        wait_secs: WAIT_SECS,
                    };
                    put(&mut stream, &next).await?;
                    queued += 1;
                }
                let started = tokio::time::Instant::now();
                let CollectAnswer::Page { items, more, .. } = answer(&mut stream).await? else {
                    return Err("unexpected answer to a fetch".to_owned());
                };
                queued -= 1;
                if items.is_empty() {
                    // An empty page the relay did not hold (it is shutting down, or restarted)
                    // must not make us spin.
                    if held
                        && let Some(pause) = pause_after(Round::Empty(started.elapsed()), backoff)
                    {
                        tokio::time::sleep(pause).await;
                    }
                    continue;
                }
                // More is waiting: ask for it before this page is stored, so the relay reads
                // and sends it meanwhile, and always has a request queued behind the one it
                // answers. These are not held: an empty answer ends the run of pages, and the
                // next request, carrying the last acknowledgements, is.
                if more && tokio::time::Instant::now() < until {
                    while queued < QUEUED {
                        let more = CollectRequest::More {
                            ack: acknowledge(&mut ack),
                            limit: PAGE,
                            wait_secs: 0,
                        };
                        put(&mut stream, &more).await?;
                        queued += 1;
                    }
                }
                let (done, retry_later) = submit(self.net, self.relay, &items).await;
                ack.extend(done);
                if retry_later {
                    // Take the answers already asked for (their envelopes stay at the relay,
                    // unacknowledged), acknowledge what was taken, and start over after a
                    // pause.
                    for _ in 0..queued {
                        answer(&mut stream).await?;
                    }
                    acknowledge_all(&mut stream, &mut ack, *cursor).await?;
                    return Err("the pipeline could not take every envelope".to_owned());
                }
                *backoff = FIRST_BACKOFF;
                *cursor = items.last().map_or(*cursor, |item| item.id);
            }
        };
        pages.await.map_err(|e| failed(&e).proven())
    }
}

/// Acknowledges every id in `ack`, in requests that read nothing.
async fn acknowledge_all(
    stream: &mut libp2p::Stream,
    ack: &mut Vec<u64>,
    after: u64,
) -> Result<(), String> {
    while !ack.is_empty() {
        let next = CollectRequest::Next {
            ack: acknowledge(ack),
            after,
            limit: 0,
            wait_secs: 0,
        };
        ask(stream, &next).await?;
    }
    Ok(())
}

/// Writes one request and reads its answer.
async fn ask(
    stream: &mut libp2p::Stream,
    request: &CollectRequest,
) -> Result<CollectAnswer, String> {
    put(stream, request).await?;
    answer(stream).await
}

/// Takes up to [`collect::MAX_ACK`] ids out of `ack`, for one request.
fn acknowledge(ack: &mut Vec<u64>) -> Vec<u64> {
    let rest = ack.split_off(ack.len().min(collect::MAX_ACK));
    std::mem::replace(ack, rest)
}

/// Writes one request on a collect stream.
async fn put(stream: &mut libp2p::Stream, request: &CollectRequest) -> Result<(), String> {
    let mut frame = Vec::new();
    put_frame(&mut frame, request, collect::MAX_REQUEST_LEN).map_err(|e| e.to_string())?;
    stream.write_all(&frame).await.map_err(|e| e.to_string())?;
    stream.flush().await.map_err(|e| e.to_string())
}

/// Reads the relay's next answer on a collect stream; a refusal is an error.
async fn answer(stream: &mut libp2p::Stream) -> Result<CollectAnswer, String> {
    let answer = tokio::time::timeout(
        ANSWER_TIMEOUT,
        next_frame::<CollectAnswer, _>(stream, MAX_RESPONSE_LEN),
    );
    match answer.await {
        Ok(Ok(Some(CollectAnswer::Refused(refusal)))) => Err(refusal.to_string()),
        Ok(Ok(Some(answer))) => Ok(answer),
        Ok(Ok(None)) => Err("the relay closed the stream".to_owned()),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err("the relay did not answer".to_owned()),
    }
}
