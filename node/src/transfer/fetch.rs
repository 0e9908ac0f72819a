//! Fetching one file from the sources its descriptor names, window by window, each group
//! verified before it is written.

use futures::AsyncWriteExt;
use libp2p::{Multiaddr, PeerId, Stream};
use tern_blob::{
    Capability, Descriptor, GroupSet, Root,
    descriptor::Body,
    store::FinishError,
    wire::{self, GetStatus, MAX_RANGES, Request},
};
use tracing::debug;

use crate::network::Lease;

use super::{
    Context, FIRST_WINDOW_GROUPS, Fetch, IDLE, PROTOCOL, Report, Source, WINDOW_GROUPS, sources,
};

/// How long opening a stream (dialling included) may take.
const OPEN_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// Why one source did not give the whole file.
pub(super) enum SourceError {
    /// It could not be reached, stalled or was busy: try again later.
    Unreachable(String),
    /// It answered wrongly: do not ask it again for this file.
    Bad(String),
}

/// Fetches one file. Returns it when it should be tried again later (no source could be
/// reached, or the local store failed); reports `Done` or `Failed` otherwise.
pub(super) async fn fetch(cx: &Context, fetch: Fetch) -> Option<Fetch> {
    let (chat, id) = (fetch.chat, fetch.id);
    let failed = |reason: String| Report::Failed { chat, id, reason };
    let blob = match Descriptor::from_bytes(&fetch.descriptor).map(|d| d.body) {
        Ok(Body::Blob(blob)) => blob,
        Ok(Body::Inline(_)) => {
            cx.report(Report::Done { chat, id }).await;
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
    let partial = match opened {
        Ok(Ok(Some(partial))) => partial,
        Ok(Ok(None)) => {
            cx.report(Report::Done { chat, id }).await;
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
    let gathered = super::gather::gather(cx, &fetch, partial, &sources).await;
    if gathered.store_failed {
        return Some(fetch);
    }
    let Some(partial) = gathered.partial else {
        return Some(fetch);
    };
    let (retry, reason) = (gathered.retry, gathered.reason);
    if !partial.is_complete() {
        if retry {
            return Some(fetch);
        }
        cx.report(failed(reason)).await;
        return None;
    }
    match tokio::task::spawn_blocking(move || partial.finish()).await {
        Ok(Ok(_)) => {
            cx.report(Report::Done { chat, id }).await;
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

/// The next groups to ask for: the first [`WINDOW_GROUPS`] missing ones (only
/// [`FIRST_WINDOW_GROUPS`] when they start the file), in at most [`MAX_RANGES`] ranges.
pub(super) fn window(missing: &GroupSet) -> GroupSet {
    let starts_the_file = missing.ranges().first().is_some_and(|r| r.start == 0);
    let mut left = if starts_the_file {
        FIRST_WINDOW_GROUPS
    } else {
        WINDOW_GROUPS
    };
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

/// Opens a stream to `source`: a device on the main swarm, dialled first when `dial` is
/// given (with the addresses its record gave, if any; a later window of the same round finds
/// the connection), or a relay under the anonymous identity (which the relay may not link to
/// this device's record) at the addresses `relays` gives.
pub(super) async fn open(
    cx: &Context,
    source: &Source,
    relays: &[(PeerId, Vec<Multiaddr>)],
    dial: Option<Vec<Multiaddr>>,
) -> Result<(Stream, Option<Lease>), String> {
    if source.relay {
        let addresses = relays
            .iter()
            .find(|(peer, _)| *peer == source.peer)
            .map(|(_, addresses)| addresses.clone())
            .unwrap_or_default();
        debug!(relay = %source.peer, known = addresses.len(), "opening a relay stream");
        let opened =
            tokio::time::timeout(OPEN_TIMEOUT, cx.net.relay_stream(source.peer, addresses));
        return match opened.await {
            Ok(Ok((stream, lease))) => Ok((stream, Some(lease))),
            Ok(Err(e)) => Err(e.to_string()),
            Err(_) => Err("timed out".into()),
        };
    }
    let opened = async {
        match dial {
            Some(addresses) => cx.net.open_stream(source.peer, addresses, PROTOCOL).await,
            None => cx
                .net
                .streams()
                .open_stream(source.peer, PROTOCOL)
                .await
                .map_err(|e| crate::network::NetError::Transport(e.to_string())),
        }
    };
    match tokio::time::timeout(OPEN_TIMEOUT, opened).await {
        Ok(Ok(stream)) => Ok((stream, None)),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err("timed out".into()),
    }
}

/// Sends the `Get` and reads the answer; `Ok` when the verified stream follows.
pub(super) async fn ask(
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
