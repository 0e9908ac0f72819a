//! Leaving a blob this device sent at the recipient's relays, for a recipient who is
//! offline: one `Upload` stream per relay under the anonymous identity deposits use, the
//! groups the relay asks for, and a custody receipt checked against the relay's key.

use std::sync::Arc;

use futures::AsyncWriteExt;
use libp2p::{Multiaddr, PeerId, identity::PublicKey};
use tern_blob::{
    Capability, Root,
    pipe::{self, IDLE},
    wire::{self, CustodyReceipt, Request, UploadRefusal, UploadStatus},
};
use tokio::sync::Semaphore;
use tracing::debug;

use super::{Context, FIRST_RETRY, MAX_RETRY, Report};

/// The quota token's kind byte for "a blob for this mailbox".
const TOKEN_MAILBOX: u8 = 0;
/// Tries per relay before an upload is given up (about a day of back-off): past it the
/// relay would have dropped a half-finished upload anyway.
const MAX_TRIES: u32 = 60;

/// A blob to leave at relays.
#[derive(Debug, Clone)]
pub(crate) struct Upload {
    pub(crate) root: Root,
    pub(crate) ciphertext_len: u64,
    /// Whose quota at the relays the blob counts against.
    pub(crate) quota: Quota,
    /// The relays still to hold it.
    pub(crate) targets: Vec<Target>,
}

/// Whose quota an upload counts against at the relays.
#[derive(Debug, Clone)]
pub(crate) enum Quota {
    /// The recipient's mailbox (a file for one person).
    Mailbox([u8; 32]),
    /// The group's log (a file for a group, at its sequencers), with the access key of the
    /// group's current epoch, which signs the token.
    Log {
        log: [u8; 32],
        access: Box<tern_proto::grouplog::Access>,
    },
}

impl Quota {
    /// The token an upload of `root` to `relay` presents.
    fn token(&self, relay: PeerId, root: &Root, ciphertext_len: u64) -> Vec<u8> {
        match self {
            Self::Mailbox(mailbox) => {
                let mut token = vec![TOKEN_MAILBOX];
                token.extend_from_slice(mailbox);
                token
            }
            Self::Log { log, access } => {
                access.blob_token(&relay.to_bytes(), log, root.as_bytes(), ciphertext_len)
            }
        }
    }
}

/// One relay and the capability its location carries.
#[derive(Debug, Clone)]
pub(crate) struct Target {
    pub(crate) relay: PeerId,
    pub(crate) addresses: Vec<Multiaddr>,
    pub(crate) capability: Capability,
}

/// Why one attempt failed.
enum Failure {
    /// Unreachable, busy, cut off: try again later.
    Again(String),
    /// Refused for good, or the relay answered falsely.
    Refused(String),
}

/// Uploads to every target at once, each retried with back-off; reports each relay's end.
/// An attempt holds one of `slots` (files uploaded at once); waiting for a retry holds none.
pub(super) async fn upload(cx: &Context, upload: Upload, slots: Arc<Semaphore>) {
    let jobs = upload
        .targets
        .iter()
        .map(|target| to_relay(cx, &upload, target, &slots));
    futures::future::join_all(jobs).await;
}

async fn to_relay(cx: &Context, upload: &Upload, target: &Target, slots: &Semaphore) {
    let mut wait = FIRST_RETRY;
    let mut outcome = Err("gave up after many tries".to_owned());
    for _ in 0..MAX_TRIES {
        let attempted = match slots.acquire().await {
            Ok(_slot) => attempt(cx, upload, target).await,
            Err(_) => return,
        };
        match attempted {
            Ok(receipt) => {
                outcome = Ok(receipt.expires_at);
                break;
            }
            Err(Failure::Refused(why)) => {
                outcome = Err(why);
                break;
            }
            Err(Failure::Again(why)) => {
                debug!(relay = %target.relay, "upload will be tried again: {why}");
                tokio::time::sleep(wait).await;
                wait = (wait * 2).min(MAX_RETRY);
            }
        }
    }
    cx.report(Report::Uploaded {
        root: upload.root,
        relay: target.relay,
        outcome,
    })
    .await;
}

async fn attempt(
    cx: &Context,
    upload: &Upload,
    target: &Target,
) -> Result<CustodyReceipt, Failure> {
    let blobs = cx.blobs.clone();
    let root = upload.root;
    let blob = match tokio::task::spawn_blocking(move || blobs.complete(&root)).await {
        Ok(Ok(Some(blob))) => blob,
        Ok(Ok(None)) => return Err(Failure::Refused("the file is no longer here".into())),
        Ok(Err(e)) => return Err(Failure::Again(e.to_string())),
        Err(e) => return Err(Failure::Again(e.to_string())),
    };
    let (mut stream, _lease) = cx
        .net
        .relay_stream(target.relay, target.addresses.clone())
        .await
        .map_err(|e| Failure::Again(e.to_string()))?;
    let quota_token = upload
        .quota
        .token(target.relay, &root, upload.ciphertext_len);
    let request = Request::Upload {
        root,
        ciphertext_len: upload.ciphertext_len,
        capability: target.capability.clone(),
        quota_token,
    };
    let again = |e: &dyn std::fmt::Display| Failure::Again(e.to_string());
    within_idle(async {
        wire::write_frame_async(&mut stream, &request).await?;
        stream.flush().await?;
        Ok(())
    })
    .await
    .map_err(|e| again(&e))?;
    loop {
        let status = within_idle(wire::read_frame_async::<UploadStatus>(&mut stream))
            .await
            .map_err(|e| again(&e))?;
        match status {
            UploadStatus::Send { groups } => pipe::send_groups(&mut stream, blob.clone(), groups)
                .await
                .map_err(|e| again(&e))?,
            UploadStatus::Stored(receipt) => {
                let _ = stream.close().await;
                return check(&receipt, target.relay, &root, upload.ciphertext_len)
                    .map(|()| receipt)
                    .map_err(|why| Failure::Refused(why.into()));
            }
            UploadStatus::Refused(
                refusal @ (UploadRefusal::Busy
                | UploadRefusal::StorageFull
                | UploadRefusal::Corrupt),
            ) => return Err(Failure::Again(refusal.to_string())),
            UploadStatus::Refused(refusal) => return Err(Failure::Refused(refusal.to_string())),
            _ => return Err(Failure::Refused("unknown answer".into())),
        }
    }
}

/// Whether `receipt` is the relay's signature over this blob.
fn check(
    receipt: &CustodyReceipt,
    relay: PeerId,
    root: &Root,
    len: u64,
) -> Result<(), &'static str> {
    let key = PublicKey::try_decode_protobuf(&receipt.relay_key)
        .map_err(|_| "the custody receipt's key does not decode")?;
    if key.to_peer_id() != relay {
        return Err("the custody receipt is signed by another relay");
    }
    if !receipt.covers(root, len) {
        return Err("the custody receipt is for another blob");
    }
    if !key.verify(&receipt.statement(), &receipt.signature) {
        return Err("the custody receipt's signature is false");
    }
    Ok(())
}

async fn within_idle<T>(
    future: impl Future<Output = Result<T, wire::FrameError>>,
) -> Result<T, wire::FrameError> {
    tokio::time::timeout(IDLE, future)
        .await
        .map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, "the relay stalled"))?
}

#[cfg(test)]
mod tests {
    use libp2p::identity::Keypair;

    use super::*;

    #[test]
    fn a_receipt_must_be_the_relays_signature_over_this_blob() {
        let relay = Keypair::generate_ed25519();
        let root = Root::from_bytes([1; 32]);
        let mut receipt = CustodyReceipt {
            relay_key: relay.public().encode_protobuf(),
            root,
            ciphertext_len: 1040,
            stored_at: 10,
            expires_at: 20,
            signature: Vec::new(),
        };
        receipt.signature = relay.sign(&receipt.statement()).unwrap();
        let peer = relay.public().to_peer_id();
        assert_eq!(check(&receipt, peer, &root, 1040), Ok(()));
        assert!(check(&receipt, PeerId::random(), &root, 1040).is_err());
        assert!(check(&receipt, peer, &Root::from_bytes([2; 32]), 1040).is_err());
        assert!(check(&receipt, peer, &root, 2080).is_err());
        let mut forged = receipt.clone();
        forged.expires_at = 30;
        assert!(
            check(&forged, peer, &root, 1040).is_err(),
            "times are signed"
        );
        let other = Keypair::generate_ed25519();
        let mut stolen = receipt;
        stolen.signature = other.sign(&stolen.statement()).unwrap();
        assert!(check(&stolen, peer, &root, 1040).is_err());
    }
}
