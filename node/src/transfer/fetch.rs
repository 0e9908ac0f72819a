//! Fetching one file from the sources its descriptor names, window by window, each group
//! verified before it is written.

use futures::AsyncWriteExt;
use libp2p::Stream;
use tern_blob::{
    Capability, Descriptor, GroupSet, Root,
    descriptor::Body,
    pipe,
    store::{FinishError, Partial, ReceiveError},
    verify::GROUP_LEN,
    wire::{self, GetStatus, MAX_RANGES, Request},
};
use tracing::debug;

use crate::network::Lease;

use super::{Context, Fetch, IDLE, PROTOCOL, Report, Source, WINDOW_GROUPS, addresses_of, sources};

/// Verification failures a source may cause before it is dropped for this fetch.
const MAX_BAD_WINDOWS: u32 = 2;
/// How long opening a stream (dialling included) may take.
const OPEN_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// Why one source did not give the whole file.
enum SourceError {
    /// It could not be reached, stalled or was busy: try again later.
    Unreachable(String),
    /// It answered wrongly: do not ask it again for this file.
    Bad(String),
    /// The local store failed.
    Store(String),
}

/// Fetches one file. Returns it when it should be tried again later (no source could be
/// reached, or the local store failed); reports `Done` or `Failed` otherwise.
pub(super) async fn fetch(cx: &Context, fetch: Fetch) -> Option<Fetch> {
    let (peer, id) = (fetch.peer, fetch.id);
    let failed = |reason: String| Report::Failed { peer, id, reason };
    let blob = match Descriptor::from_bytes(&fetch.descriptor).map(|d| d.body) {
        Ok(Body::Blob(blob)) => blob,
        Ok(Body::Inline(_)) => {
            cx.report(Report::Done { peer, id }).await;
            return None;
        }
        Err(e) => {
            cx.report(failed(format!("the file's description is damaged: {e}")))
                .await;
            return None;
        }
    };
    let (root, len) = (blob.root, blob.ciphertext_len);
    let blobs = cx.blobs.clone();
    let opened = tokio::task::spawn_blocking(move || {
        if blobs.complete(&root)?.is_some() {
            return Ok(None);
        }
        match blobs.partial(&root)? {
            Some(partial) => Ok(Some(partial)),
            None => blobs.begin(&root, len).map(Some),
        }
    })
    .await;
    let mut partial = match opened {
        Ok(Ok(Some(partial))) => partial,
        Ok(Ok(None)) => {
            cx.report(Report::Done { peer, id }).await;
            return None;
        }
        Ok(Err(e)) => {
            debug!("cannot open the download of {root}: {e}");
            return Some(fetch);
        }
        Err(_) => return Some(fetch),
    };
    if partial.ciphertext_len() != len {
        cx.report(failed("the file's description contradicts itself".into()))
            .await;
        return None;
    }
    let sources = sources(&blob);
    if sources.is_empty() {
        cx.report(failed(
            "the file is held only where this version cannot fetch from".into(),
        ))
        .await;
        return None;
    }
    let mut retry = false;
    let mut reason = String::new();
    for source in sources {
        let device = source.peer;
        let (back, result) = from_source(cx, &fetch, partial, &source).await;
        let Some(back) = back else {
            return Some(fetch);
        };
        partial = back;
        match result {
            Ok(()) => break,
            Err(SourceError::Unreachable(why)) => {
                debug!(%device, "source unreachable: {why}");
                retry = true;
            }
            Err(SourceError::Bad(why)) => {
                debug!(%device, "source dropped: {why}");
                reason = why;
            }
            Err(SourceError::Store(why)) => {
                debug!("the blob store failed: {why}");
                return Some(fetch);
            }
        }
    }
    if !partial.is_complete() {
        if retry {
            return Some(fetch);
        }
        cx.report(failed(reason)).await;
        return None;
    }
    match tokio::task::spawn_blocking(move || partial.finish()).await {
        Ok(Ok(_)) => {
            cx.report(Report::Done { peer, id }).await;
            None
        }
        // The disk lost data between verification and now: the record was reset.
        Ok(Err(FinishError::RootMismatch)) => Some(fetch),
        Ok(Err(e)) => {
            debug!("cannot finish {root}: {e}");
            Some(fetch)
        }
        Err(_) => Some(fetch),
    }
}

/// Fetches every missing group from one source. Hands the download back unless a blocking
/// thread failed with it.
async fn from_source(
    cx: &Context,
    fetch: &Fetch,
    mut partial: Partial,
    source: &Source,
) -> (Option<Partial>, Result<(), SourceError>) {
    let (device, capability) = (source.peer, &source.capability);
    let root = partial.root();
    let len = partial.ciphertext_len();
    let mut bad = 0;
    let mut looked_up = false;
    loop {
        let missing = partial.missing();
        if missing.is_empty() {
            return (Some(partial), Ok(()));
        }
        let window = window(&missing);
        let (mut stream, _lease) = match open(cx, source).await {
            Ok(opened) => opened,
            Err(why) if looked_up || source.relay => {
                return (Some(partial), Err(SourceError::Unreachable(why)));
            }
            Err(_) => {
                // Learn where the device is now, once per source.
                looked_up = true;
                let addresses = addresses_of(&cx.net, fetch.peer, device).await;
                cx.net.add_addresses(device, addresses);
                continue;
            }
        };
        if let Err(e) = ask(&mut stream, root, &window, capability, len, source.relay).await {
            return (Some(partial), Err(e));
        }
        let received = pipe::receive_groups(&mut stream, partial, window).await;
        let _ = stream.close().await;
        let receipt;
        (partial, receipt) = match received {
            Some(received) => received,
            // The download's handle went with the thread: the next attempt reopens it.
            None => {
                return (
                    None,
                    Err(SourceError::Store("a blocking thread failed".into())),
                );
            }
        };
        let cut_short = receipt.cut_short();
        match receipt.received {
            Ok(_) => {
                let verified = partial.verified().count();
                cx.report(Report::Progress {
                    peer: fetch.peer,
                    id: fetch.id,
                    received: (verified * GROUP_LEN).min(len),
                    total: len,
                })
                .await;
            }
            Err(ReceiveError::Verify(_)) => {
                // The stream stopped short: the link, not the data.
                if let Some(why) = cut_short {
                    return (Some(partial), Err(SourceError::Unreachable(why)));
                }
                bad += 1;
                if bad >= MAX_BAD_WINDOWS {
                    return (
                        Some(partial),
                        Err(SourceError::Bad("the source sent corrupt data".into())),
                    );
                }
            }
            Err(e) => return (Some(partial), Err(SourceError::Store(e.to_string()))),
        }
    }
}

/// The next groups to ask for: the first [`WINDOW_GROUPS`] missing ones, in at most
/// [`MAX_RANGES`] ranges.
pub(super) fn window(missing: &GroupSet) -> GroupSet {
    let mut left = WINDOW_GROUPS;
    let mut ranges = Vec::new();
    for range in missing.ranges().iter().take(MAX_RANGES) {
        if left == 0 {
            break;
        }
        let end = range.end.min(range.start + left);
        left -= end - range.start;
        ranges.push(range.start..end);
    }
    GroupSet::from_ranges(ranges)
}

/// Opens a stream to `source` (dialling it if needed): a device on the main swarm, a relay
/// under the anonymous identity (which the relay may not link to this device's record).
async fn open(cx: &Context, source: &Source) -> Result<(Stream, Option<Lease>), String> {
    if source.relay {
        let opened =
            tokio::time::timeout(OPEN_TIMEOUT, cx.net.relay_stream(source.peer, Vec::new()));
        return match opened.await {
            Ok(Ok((stream, lease))) => Ok((stream, Some(lease))),
            Ok(Err(e)) => Err(e.to_string()),
            Err(_) => Err("timed out".into()),
        };
    }
    let mut control = cx.net.streams();
    match tokio::time::timeout(OPEN_TIMEOUT, control.open_stream(source.peer, PROTOCOL)).await {
        Ok(Ok(stream)) => Ok((stream, None)),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err("timed out".into()),
    }
}

/// Sends the `Get` and reads the answer; `Ok` when the verified stream follows.
async fn ask(
    stream: &mut Stream,
    root: Root,
    groups: &GroupSet,
    capability: &Capability,
    len: u64,
    relay: bool,
) -> Result<(), SourceError> {
    let request = Request::Get {
        root,
        groups: groups.clone(),
        capability: capability.clone(),
    };
    let exchange = async {
        wire::write_frame_async(&mut *stream, &request).await?;
        stream.flush().await?;
        wire::read_frame_async::<GetStatus>(&mut *stream).await
    };
    let status = match tokio::time::timeout(IDLE, exchange).await {
        Ok(Ok(status)) => status,
        Ok(Err(e)) => return Err(SourceError::Unreachable(e.to_string())),
        Err(_) => return Err(SourceError::Unreachable("the peer stalled".into())),
    };
    match status {
        GetStatus::Ok { ciphertext_len } if ciphertext_len == len => Ok(()),
        GetStatus::Ok { .. } => Err(SourceError::Bad(
            "the source's copy has another length".into(),
        )),
        GetStatus::Busy { .. } => Err(SourceError::Unreachable("the source is busy".into())),
        // The sender's upload may still be on its way to the relay.
        GetStatus::NotFound if relay => Err(SourceError::Unreachable(
            "the relay does not hold the file yet".into(),
        )),
        GetStatus::NotFound => Err(SourceError::Bad("the sender no longer has the file".into())),
        GetStatus::BadCapability => Err(SourceError::Bad(
            "the sender refused access to the file".into(),
        )),
        GetStatus::RangePastEnd { .. } | GetStatus::BadRequest => Err(SourceError::Bad(
            "the source does not understand the request".into(),
        )),
        _ => Err(SourceError::Bad("unknown answer".into())),
    }
}
