//! `/tern/blob/1` on the relay: one task accepts the streams, one task per stream answers a
//! `Get` or takes an `Upload`. Blocking store work runs on the blocking pool; the swarm's
//! event loop is not involved beyond handing over the streams.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
};

use futures::{AsyncWriteExt, StreamExt};
use libp2p::{PeerId, Stream, StreamProtocol};
use tern_blob::{
    GroupSet,
    pipe::{self, IDLE},
    store::ReceiveError,
    verify,
    wire::{self, GetStatus, MAX_RANGES, Request, UploadRefusal, UploadStatus},
};
use tokio::{
    sync::{OwnedSemaphorePermit, Semaphore},
    task::JoinSet,
};
use tokio_util::sync::CancellationToken;
use tracing::debug;

use super::{Admitted, Blobs, ReadRefusal};

const PROTOCOL: StreamProtocol = StreamProtocol::new(wire::PROTOCOL);
/// What a refused reader or uploader is told to wait.
const RETRY_AFTER_SECS: u16 = 5;
/// Transfers one connection identity may run at once, so that one peer cannot take every
/// place of [`crate::Limits::blob_transfers`].
const MAX_PER_PEER: usize = 8;

/// Serves `/tern/blob/1` until `cancel`, at most `transfers` streams at once (more hear
/// `Busy`).
pub(crate) async fn run(
    blobs: Blobs,
    control: tern_proto::accept::Behaviour,
    transfers: usize,
    cancel: CancellationToken,
) {
    let mut incoming = match control.accept(PROTOCOL) {
        Ok(incoming) => incoming,
        Err(e) => {
            tracing::error!("cannot serve blobs: {e}");
            return;
        }
    };
    let slots = Arc::new(Semaphore::new(transfers));
    let per_peer: Arc<Mutex<HashMap<PeerId, usize>>> = Arc::default();
    let mut tasks = JoinSet::new();
    loop {
        tokio::select! {
            () = cancel.cancelled() => break,
            Some((peer, stream)) = incoming.next() => {
                while tasks.try_join_next().is_some() {}
                let share = Share::take(&per_peer, peer, MAX_PER_PEER);
                let permit = share
                    .is_some()
                    .then(|| slots.clone().try_acquire_owned().ok())
                    .flatten()
                    .map(|permit| (permit, share));
                tasks.spawn(serve(blobs.clone(), stream, peer, permit));
            }
        }
    }
    tasks.abort_all();
    while tasks.join_next().await.is_some() {}
}

/// A stream's place among one peer's, given back when dropped.
pub(crate) struct Share {
    table: Arc<Mutex<HashMap<PeerId, usize>>>,
    peer: PeerId,
}

impl Share {
    /// One of `peer`'s `max` places, if it has one left.
    pub(crate) fn take(
        table: &Arc<Mutex<HashMap<PeerId, usize>>>,
        peer: PeerId,
        max: usize,
    ) -> Option<Share> {
        let mut counts = table.lock().unwrap_or_else(|e| e.into_inner());
        let count = counts.entry(peer).or_default();
        if *count >= max {
            return None;
        }
        *count += 1;
        Some(Share {
            table: table.clone(),
            peer,
        })
    }
}

impl Drop for Share {
    fn drop(&mut self) {
        let mut counts = self.table.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(count) = counts.get_mut(&self.peer) {
            *count -= 1;
            if *count == 0 {
                counts.remove(&self.peer);
            }
        }
    }
}

/// Serves one stream; `permit` is `None` when the relay or this peer has too many transfers
/// running (the reader or uploader hears `Busy`).
async fn serve(
    blobs: Blobs,
    mut stream: Stream,
    peer: PeerId,
    permit: Option<(OwnedSemaphorePermit, Option<Share>)>,
) {
    let request =
        match tokio::time::timeout(IDLE, wire::read_frame_async::<Request>(&mut stream)).await {
            Ok(Ok(request)) => request,
            Ok(Err(e)) => {
                debug!(%peer, "refused a blob request: {e}");
                blobs.refused("bad_request");
                let _ = write(&mut stream, &GetStatus::BadRequest).await;
                let _ = stream.close().await;
                return;
            }
            Err(_) => return,
        };
    match request {
        Request::Get {
            root,
            groups,
            capability,
        } => {
            if permit.is_none() {
                blobs.refused("busy");
                let busy = GetStatus::Busy {
                    retry_after_secs: RETRY_AFTER_SECS,
                };
                let _ = write(&mut stream, &busy).await;
            } else {
                get(&blobs, &mut stream, root, groups, capability).await;
            }
        }
        Request::Upload {
            root,
            ciphertext_len,
            capability,
            quota_token,
        } => {
            let claim = permit.as_ref().and_then(|_| blobs.claim(&root));
            if claim.is_none() {
                blobs.refused("busy");
                let busy = UploadStatus::Refused(UploadRefusal::Busy);
                let _ = write(&mut stream, &busy).await;
            } else {
                let status = upload(
                    &blobs,
                    &mut stream,
                    root,
                    ciphertext_len,
                    capability,
                    quota_token,
                )
                .await;
                drop(claim);
                if let Some(status) = status {
                    if let UploadStatus::Refused(refusal) = &status {
                        debug!(%peer, root = root.short(), "refused an upload: {refusal}");
                        blobs.refused(refusal_name(*refusal));
                    }
                    let _ = write(&mut stream, &status).await;
                }
            }
        }
    }
    let _ = stream.close().await;
    drop(permit);
}

/// Answers a `Get`: the status, then the verified stream.
async fn get(
    blobs: &Blobs,
    stream: &mut Stream,
    root: tern_blob::Root,
    groups: GroupSet,
    capability: tern_blob::Capability,
) {
    let reader = blobs.clone();
    let opened = tokio::task::spawn_blocking(move || reader.open_for_reading(&root, &capability))
        .await
        .unwrap_or(Err(ReadRefusal::Busy));
    let blob = match opened {
        Ok(blob) => blob,
        Err(refusal) => {
            let (status, name) = match refusal {
                ReadRefusal::NotFound => (GetStatus::NotFound, "not_found"),
                ReadRefusal::BadCapability => (GetStatus::BadCapability, "bad_capability"),
                ReadRefusal::Busy => (
                    GetStatus::Busy {
                        retry_after_secs: RETRY_AFTER_SECS,
                    },
                    "busy",
                ),
            };
            blobs.refused(name);
            let _ = write(stream, &status).await;
            return;
        }
    };
    let len = blob.ciphertext_len();
    let count = verify::group_count(len);
    if groups.end().is_some_and(|end| end > count) {
        blobs.refused("range_past_end");
        let _ = write(stream, &GetStatus::RangePastEnd { groups: count }).await;
        return;
    }
    let ok = GetStatus::Ok {
        ciphertext_len: len,
    };
    if write(stream, &ok).await.is_err() {
        return;
    }
    let bytes = verify::encoded_len(len, &groups);
    match pipe::send_groups(&mut *stream, blob, groups).await {
        Ok(()) => blobs.count(|m| {
            m.gets += 1;
            m.bytes_served += bytes;
        }),
        Err(e) => debug!("serving a blob stopped: {e}"),
    }
}

/// Takes an upload. Returns the final status to send, or `None` when the uploader went away
/// (what arrived is kept for it to resume).
async fn upload(
    blobs: &Blobs,
    stream: &mut Stream,
    root: tern_blob::Root,
    ciphertext_len: u64,
    capability: tern_blob::Capability,
    quota_token: Vec<u8>,
) -> Option<UploadStatus> {
    let admitting = blobs.clone();
    let admitted = tokio::task::spawn_blocking(move || {
        admitting.admit(&root, ciphertext_len, &capability, &quota_token)
    })
    .await
    .unwrap_or(Err(UploadRefusal::Busy));
    let mut partial = match admitted {
        Ok(Admitted::Held(receipt)) => return Some(UploadStatus::Stored(receipt)),
        Ok(Admitted::Receive(partial)) => partial,
        Err(refusal) => return Some(UploadStatus::Refused(refusal)),
    };
    loop {
        let missing = partial.missing();
        if missing.is_empty() {
            let finishing = blobs.clone();
            let finished = tokio::task::spawn_blocking(move || finishing.finish(partial))
                .await
                .unwrap_or(Err(UploadRefusal::StorageFull));
            return Some(match finished {
                Ok(receipt) => UploadStatus::Stored(receipt),
                Err(refusal) => UploadStatus::Refused(refusal),
            });
        }
        let window = GroupSet::from_ranges(missing.ranges().iter().take(MAX_RANGES).cloned());
        let send = UploadStatus::Send {
            groups: window.clone(),
        };
        write(stream, &send).await.ok()?;
        let (back, receipt) = pipe::receive_groups(&mut *stream, partial, window).await?;
        partial = back;
        match receipt.received {
            Ok(_) => {}
            Err(ReceiveError::Verify(_)) if receipt.cut_short().is_some() => {
                // The link, not the data: keep what verified for the uploader to resume.
                let touching = blobs.clone();
                let _ = tokio::task::spawn_blocking(move || touching.touch(&root)).await;
                return None;
            }
            Err(ReceiveError::Verify(e)) => {
                debug!(root = root.short(), "upload failed verification: {e}");
                return Some(UploadStatus::Refused(UploadRefusal::Corrupt));
            }
            Err(ReceiveError::Store(e)) => {
                debug!(root = root.short(), "blob store failed: {e}");
                return Some(UploadStatus::Refused(UploadRefusal::StorageFull));
            }
            Err(_) => return Some(UploadStatus::Refused(UploadRefusal::StorageFull)),
        }
    }
}

fn refusal_name(refusal: UploadRefusal) -> &'static str {
    match refusal {
        UploadRefusal::TooLarge => "too_large",
        UploadRefusal::OverQuota => "over_quota",
        UploadRefusal::BadToken => "bad_token",
        UploadRefusal::BadLength => "bad_length",
        UploadRefusal::StorageFull => "storage_full",
        UploadRefusal::Corrupt => "corrupt",
        UploadRefusal::Busy => "busy",
        UploadRefusal::Conflict => "conflict",
        _ => "other",
    }
}

async fn write<T: serde::Serialize + wire::Bounded>(
    stream: &mut Stream,
    message: &T,
) -> Result<(), wire::FrameError> {
    tokio::time::timeout(IDLE, async {
        wire::write_frame_async(&mut *stream, message).await?;
        stream.flush().await?;
        Ok(())
    })
    .await
    .map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, "the peer stalled"))?
}
