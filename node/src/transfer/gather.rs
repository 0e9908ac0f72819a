//! Fetching one file's missing groups from every source at once: each source works on its
//! own window (the first missing groups nobody else is fetching), its answer is read into
//! memory, and one writer verifies and writes the windows in turn while the sources fetch
//! the next ones (only while at most [`MAX_WAITING`] answers wait for the writer, so memory
//! stays at a few windows however fast the network is). A source that cannot be reached stops taking windows (its window goes back
//! to the others); one whose data fails verification twice is dropped.

use futures::{AsyncReadExt, AsyncWriteExt};
use libp2p::{Multiaddr, PeerId};
use tern_blob::{
    GroupSet,
    pipe::IDLE,
    store::{Partial, ReceiveError, Received},
    verify::{self, GROUP_LEN},
};
use tokio::task::JoinSet;
use tracing::debug;

use super::{
    Context, Fetch, Report, Source, addresses_of,
    fetch::{SourceError, ask, open, window},
};

/// Verification failures a source may cause before it is dropped for this fetch.
const MAX_BAD_WINDOWS: u32 = 2;
/// Windows read and waiting for the writer before no source is given another: two keep one
/// source's stream busy while the writer works (219 MB/s against 159 with one, in
/// `node/benches/transfer.rs`), for 4 MiB more memory.
const MAX_WAITING: usize = 2;

/// How a round of fetching ended.
pub(super) struct Gathered {
    /// The download, unless a blocking thread died with it (the next round reopens it).
    pub(super) partial: Option<Partial>,
    /// Some source could not be reached: try again later.
    pub(super) retry: bool,
    /// Why the last dropped source was dropped, for people.
    pub(super) reason: String,
    /// The local store failed.
    pub(super) store_failed: bool,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Standing {
    Idle,
    Busy,
    Unreachable,
    Dropped,
}

/// One window's answer from one source, read into memory.
struct Answer {
    source: usize,
    window: GroupSet,
    bytes: Vec<u8>,
    /// Why the stream stopped before `bytes` was whole, if it did.
    cut: Option<String>,
}

/// Fetches what `partial` lacks from `sources`, all at once, until it is complete or no
/// source is left for this round.
pub(super) async fn gather(
    cx: &Context,
    fetch: &Fetch,
    partial: Partial,
    sources: &[Source],
) -> Gathered {
    let (len, root) = (partial.ciphertext_len(), partial.root());
    let all = GroupSet::all(verify::group_count(len));
    let mut verified = partial.verified();
    let mut partial = Some(partial);
    let mut standing = vec![Standing::Idle; sources.len()];
    let mut bad = vec![0u32; sources.len()];
    let mut looked_up = vec![false; sources.len()];
    let mut taken = GroupSet::new();
    let mut fetching: JoinSet<Result<Answer, (usize, GroupSet, SourceError)>> = JoinSet::new();
    let mut answers: Vec<Answer> = Vec::new();
    let mut writing: JoinSet<(Partial, Answer, Result<Received, ReceiveError>)> = JoinSet::new();
    let mut gathered = Gathered {
        partial: None,
        retry: false,
        reason: String::new(),
        store_failed: false,
    };
    loop {
        for (i, source) in sources.iter().enumerate() {
            // The network outruns the writer: fetch more only once it has caught up, so
            // memory holds at most one window per source, two waiting and one being written.
            if answers.len() >= MAX_WAITING {
                break;
            }
            if standing[i] != Standing::Idle {
                continue;
            }
            let free = all.difference(&verified).difference(&taken);
            if free.is_empty() {
                break;
            }
            let asked = window(&free);
            taken = taken.union(&asked);
            standing[i] = Standing::Busy;
            let (cx, source, look_up) = (cx.clone(), source.clone(), !looked_up[i]);
            looked_up[i] = true;
            let who = (fetch.sender, root, fetch.relays.clone());
            fetching.spawn(async move {
                from_source(&cx, who, (i, &source, look_up), asked.clone(), len)
                    .await
                    .map_err(|e| (i, asked, e))
            });
        }
        if writing.is_empty()
            && !answers.is_empty()
            && let Some(mut held) = partial.take()
        {
            let answer = answers.remove(0);
            writing.spawn_blocking(move || {
                let received = held.receive(&answer.window, &answer.bytes[..]);
                (held, answer, received)
            });
        }
        let complete = writing.is_empty() && all.difference(&verified).is_empty();
        if complete || (fetching.is_empty() && writing.is_empty() && answers.is_empty()) {
            // Whole (a source still dialling is not waited for), or no source left.
            break;
        }
        tokio::select! {
            Some(done) = fetching.join_next() => match done {
                Ok(Ok(answer)) => {
                    let source = answer.source;
                    standing[source] = if answer.cut.is_some() {
                        Standing::Unreachable
                    } else {
                        Standing::Idle
                    };
                    answers.push(answer);
                }
                Ok(Err((source, asked, error))) => {
                    taken = taken.difference(&asked);
                    let device = sources[source].peer;
                    match error {
                        SourceError::Unreachable(why) => {
                            debug!(%device, "source unreachable: {why}");
                            standing[source] = Standing::Unreachable;
                            gathered.retry = true;
                        }
                        SourceError::Bad(why) => {
                            debug!(%device, "source dropped: {why}");
                            standing[source] = Standing::Dropped;
                            gathered.reason = why;
                        }
                    }
                }
                Err(e) => debug!("a fetch stream task failed: {e}"),
            },
            Some(done) = writing.join_next() => {
                let Ok((held, answer, received)) = done else {
                    // The download's handle went with the thread.
                    gathered.store_failed = true;
                    break;
                };
                verified = held.verified();
                taken = taken.difference(&answer.window);
                let source = answer.source;
                let expected = verify::encoded_len(len, &answer.window);
                match received {
                    Ok(_) => {
                        cx.report(Report::Progress {
                            chat: fetch.chat,
                            id: fetch.id,
                            received: (verified.count() * GROUP_LEN).min(len),
                            total: len,
                        })
                        .await;
                    }
                    Err(ReceiveError::Verify(e)) => {
                        if let Some(why) = &answer.cut {
                            // The link, not the data: what verified is kept.
                            debug!(device = %sources[source].peer, "stream cut short: {why}");
                            gathered.retry = true;
                        } else if (answer.bytes.len() as u64) == expected {
                            bad[source] += 1;
                            debug!(device = %sources[source].peer, "a window failed verification: {e}");
                            if bad[source] >= MAX_BAD_WINDOWS {
                                standing[source] = Standing::Dropped;
                                gathered.reason = "the source sent corrupt data".into();
                            }
                        }
                    }
                    Err(e) => {
                        debug!("the blob store failed: {e}");
                        gathered.store_failed = true;
                    }
                }
                partial = Some(held);
                if gathered.store_failed {
                    break;
                }
            }
        }
        if gathered.store_failed && writing.is_empty() {
            break;
        }
    }
    fetching.abort_all();
    gathered.retry |= standing.contains(&Standing::Unreachable);
    gathered.partial = partial;
    gathered
}

/// Asks `source` for `asked` and reads the whole answer (or as much as arrives).
async fn from_source(
    cx: &Context,
    (user, root, relays): (
        tern_crypto::UserId,
        tern_blob::Root,
        Vec<(PeerId, Vec<Multiaddr>)>,
    ),
    (index, source, look_up): (usize, &Source, bool),
    asked: GroupSet,
    len: u64,
) -> Result<Answer, SourceError> {
    // The first window of a round dials the device; the next ones use that connection.
    let dial = look_up.then(Vec::new);
    let (mut stream, _lease) = match open(cx, source, &relays, dial).await {
        Ok(opened) => opened,
        Err(_) if look_up && !source.relay => {
            // Learn where the device is now, once per source and round.
            let addresses = addresses_of(&cx.net, user, source.peer).await;
            open(cx, source, &relays, Some(addresses))
                .await
                .map_err(SourceError::Unreachable)?
        }
        Err(why) => return Err(SourceError::Unreachable(why)),
    };
    ask(
        &mut stream,
        root,
        &asked,
        &source.capability,
        len,
        source.relay,
    )
    .await?;
    let expected = verify::encoded_len(len, &asked);
    let mut bytes = vec![0u8; usize::try_from(expected).unwrap_or(usize::MAX)];
    let mut filled = 0;
    let mut cut = None;
    while filled < bytes.len() {
        match tokio::time::timeout(IDLE, stream.read(&mut bytes[filled..])).await {
            Ok(Ok(0)) => {
                cut = Some("the stream ended early".to_owned());
                break;
            }
            Ok(Ok(n)) => filled += n,
            Ok(Err(e)) => {
                cut = Some(e.to_string());
                break;
            }
            Err(_) => {
                cut = Some("the peer stalled".to_owned());
                break;
            }
        }
    }
    bytes.truncate(filled);
    let _ = stream.close().await;
    Ok(Answer {
        source: index,
        window: asked,
        bytes,
        cut,
    })
}
