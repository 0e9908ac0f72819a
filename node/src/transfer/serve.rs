//! Answering one `/tern/blob/1` stream: a `Get` for a blob this device sent.

use futures::AsyncWriteExt;
use libp2p::{PeerId, Stream};
use tern_blob::{
    Capability, Root,
    store::Store as BlobStore,
    verify,
    wire::{self, GetStatus, Request},
};
use tokio::sync::{OwnedSemaphorePermit, mpsc, oneshot};
use tracing::debug;

use super::IDLE;
use crate::core::Request as CoreRequest;

/// Serves one stream. `permit` is `None` when too many streams are being served: the reader
/// hears `Busy`.
pub(super) async fn serve(
    mut stream: Stream,
    peer: PeerId,
    permit: Option<OwnedSemaphorePermit>,
    blobs: BlobStore,
    core: mpsc::Sender<CoreRequest>,
) {
    let request =
        match tokio::time::timeout(IDLE, wire::read_frame_async::<Request>(&mut stream)).await {
            Ok(Ok(request)) => request,
            Ok(Err(e)) => {
                debug!(%peer, "refused a blob request: {e}");
                let _ = answer(&mut stream, &GetStatus::BadRequest).await;
                return;
            }
            Err(_) => return,
        };
    let Request::Get {
        root,
        groups,
        capability,
    } = request
    else {
        // Devices hold only what they send; uploads are for relays.
        let _ = answer(&mut stream, &GetStatus::BadRequest).await;
        return;
    };
    if permit.is_none() {
        let _ = answer(
            &mut stream,
            &GetStatus::Busy {
                retry_after_secs: 5,
            },
        )
        .await;
        return;
    }
    let (reply, granted) = oneshot::channel();
    if core.send(CoreRequest::Grant { root, reply }).await.is_err() {
        return;
    }
    let granted = granted.await.ok().flatten();
    let looked_up = tokio::task::spawn_blocking(move || open(&blobs, granted, &root, &capability))
        .await
        .unwrap_or(Err(GetStatus::Busy {
            retry_after_secs: 5,
        }));
    let blob = match looked_up {
        Ok(blob) => blob,
        Err(status) => {
            debug!(%peer, ?status, "refused a blob request");
            let _ = answer(&mut stream, &status).await;
            return;
        }
    };
    let len = blob.ciphertext_len();
    let count = verify::group_count(len);
    if groups.end().is_some_and(|end| end > count) {
        let _ = answer(&mut stream, &GetStatus::RangePastEnd { groups: count }).await;
        return;
    }
    if answer(
        &mut stream,
        &GetStatus::Ok {
            ciphertext_len: len,
        },
    )
    .await
    .is_err()
    {
        return;
    }
    if let Err(e) = tern_blob::pipe::send_groups(&mut stream, blob, groups).await {
        debug!(%peer, "serving a blob stopped: {e}");
    }
    let _ = stream.close().await;
    drop(permit);
}

/// The blob, if the capability is the one granted with it and the store has it.
fn open(
    blobs: &BlobStore,
    granted: Option<[u8; 32]>,
    root: &Root,
    capability: &Capability,
) -> Result<tern_blob::store::Complete, GetStatus> {
    let busy = GetStatus::Busy {
        retry_after_secs: 5,
    };
    let granted = granted.ok_or(GetStatus::NotFound)?;
    if !Capability::from_bytes(granted).matches(capability) {
        return Err(GetStatus::BadCapability);
    }
    blobs
        .complete(root)
        .map_err(|_| busy)?
        .ok_or(GetStatus::NotFound)
}

async fn answer(stream: &mut Stream, status: &GetStatus) -> Result<(), wire::FrameError> {
    tokio::time::timeout(IDLE, wire::write_frame_async(&mut *stream, status))
        .await
        .map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, "the peer stalled"))??;
    if !matches!(status, GetStatus::Ok { .. }) {
        let _ = stream.close().await;
    }
    Ok(())
}
