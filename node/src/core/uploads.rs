//! Copies of the blobs we send, left at the recipient's relays when the recipient is offline.
//!
//! A file's descriptor names the recipient's mailbox relays beside this device, each with its
//! own read capability, and its upload row is written with the message, not started. The row
//! starts when the message itself is deposited at those relays (the recipient was not
//! reachable directly); it is dropped unstarted when the message reached the recipient
//! directly first, which then fetches from this device. A started row is handed to the
//! transfer task at once and after every restart, until each relay has signed custody or
//! refused for good.

use libp2p::{Multiaddr, PeerId};
use tern_blob::Root;

use super::*;
use crate::{
    tables::{BlobUploads, GroupUploads, UploadRow, UploadStateV1, UploadTarget},
    transfer::{self, Upload},
};

/// What the sender knows, when a file is sent, of the recipient's relays: where to leave the
/// blob and whose quota it counts against.
#[derive(Debug, Clone)]
pub(crate) struct UploadPlan {
    pub(crate) ciphertext_len: u64,
    /// The recipient's mailbox; for a group's file, the group's log (not stored: the row
    /// names the group, whose log it is).
    pub(crate) mailbox: [u8; 32],
    pub(crate) targets: Vec<UploadTarget>,
}

impl UploadPlan {
    /// A plan for `relays`, each with the capability its location in the descriptor carries.
    pub(crate) fn new(
        ciphertext_len: u64,
        mailbox: [u8; 32],
        relays: Vec<(PeerId, Vec<Multiaddr>, [u8; 32])>,
    ) -> Self {
        let targets = relays
            .into_iter()
            .map(|(relay, addresses, capability)| UploadTarget {
                relay: relay.to_bytes(),
                addresses: addresses
                    .iter()
                    .map(|a| serde_bytes::ByteBuf::from(a.to_vec()))
                    .collect(),
                capability,
                state: UploadStateV1::Pending,
            })
            .collect();
        Self {
            ciphertext_len,
            mailbox,
            targets,
        }
    }
}

impl Core {
    fn upload_key(&self, root: &Root) -> [u8; 16] {
        self.store.index_id("upload", root.as_bytes())
    }

    /// Stages the upload row of a file we send, with its message.
    pub(super) fn stage_upload(
        &mut self,
        batch: &mut Batch,
        (peer, id): (UserId, MessageId),
        root: Root,
        plan: &UploadPlan,
    ) -> Result<(), Error> {
        let row = UploadRow {
            root: *root.as_bytes(),
            ciphertext_len: plan.ciphertext_len,
            peer,
            id,
            mailbox: plan.mailbox,
            targets: plan.targets.clone(),
            started: false,
        };
        batch.put::<BlobUploads>(&self.upload_key(&root), &row)?;
        self.unstarted_uploads.insert(id, root);
        Ok(())
    }

    /// Message `id` was deposited at the recipient's relays: its file goes there too.
    pub(super) async fn start_upload(&mut self, id: MessageId) {
        let Some(root) = self.unstarted_uploads.remove(&id) else {
            return;
        };
        let key = self.upload_key(&root);
        let row = match self.read(move |s| s.get::<BlobUploads>(&key)).await {
            Ok(Some(row)) => row,
            Ok(None) => return,
            Err(e) => {
                warn!("cannot read a file's upload: {e}");
                return;
            }
        };
        let row = UploadRow {
            started: true,
            ..row
        };
        let mut pending = Pending::new(Batch::new(), Vec::new());
        if let Err(e) = pending.batch.put::<BlobUploads>(&key, &row) {
            warn!("cannot start a file's upload: {e}");
            return;
        }
        if let Err(e) = self.commit(pending).await {
            warn!("cannot start a file's upload: {e}");
            return;
        }
        self.hand_over(&row);
    }

    /// Message `id` reached its recipient directly before it went to relays: the recipient
    /// fetches the file from this device, and no upload is needed.
    pub(super) fn drop_unstarted_upload(&mut self, batch: &mut Batch, id: MessageId) {
        if let Some(root) = self.unstarted_uploads.remove(&id) {
            batch.delete::<BlobUploads>(&self.upload_key(&root));
        }
    }

    /// At start: uploads that were running go on; the others wait for their deposit.
    pub(super) async fn resume_uploads(&mut self) -> Result<(), Error> {
        let (rows, group_rows) = self
            .read(|s| {
                Ok((
                    s.scan::<BlobUploads>(.., ScanDirection::Forward, usize::MAX)?,
                    s.scan::<GroupUploads>(.., ScanDirection::Forward, usize::MAX)?,
                ))
            })
            .await?;
        for (_, row) in group_rows {
            // An invitation's blob that cannot go any more sends its invitations in parts.
            self.upload_invite(&row).await;
        }
        for (_, row) in rows {
            if row.started {
                self.hand_over(&row);
                continue;
            }
            self.unstarted_uploads
                .insert(row.id, Root::from_bytes(row.root));
            // Deposited just before a crash, before the row could be started.
            let conv = self.conv(&row.peer);
            let id = *row.id.as_bytes();
            let state = self
                .read(move |s| Ok(crate::tables::message_row(s, conv, id)?.map(|(_, m)| m.state)))
                .await?;
            if matches!(state, Some(DeliveryState::StoredAtRelays { .. })) {
                self.start_upload(row.id).await;
            }
        }
        Ok(())
    }

    /// Asks the transfer task to upload to the relays that do not hold the blob yet.
    fn hand_over(&self, row: &UploadRow) {
        let targets = groups::pending_targets(&row.targets);
        if targets.is_empty() {
            return;
        }
        self.transfers.upload(Upload {
            root: Root::from_bytes(row.root),
            ciphertext_len: row.ciphertext_len,
            quota: transfer::Quota::Mailbox(row.mailbox),
            targets,
        });
    }

    /// A relay's end of an upload: recorded; the row goes once no relay is left to try.
    pub(super) async fn on_uploaded(
        &mut self,
        root: Root,
        relay: PeerId,
        outcome: Result<u64, String>,
    ) {
        match &outcome {
            Ok(_) => debug!(%relay, root = root.short(), "a relay holds the file"),
            Err(why) => warn!(%relay, root = root.short(), "a relay did not take the file: {why}"),
        }
        let key = self.upload_key(&root);
        let rows = self
            .read(move |s| Ok((s.get::<BlobUploads>(&key)?, s.get::<GroupUploads>(&key)?)))
            .await;
        let mut pending = Pending::new(Batch::new(), Vec::new());
        let staged = match rows {
            Ok((Some(mut row), _)) => {
                record_outcome(&mut row.targets, &relay, &outcome);
                stage_row::<BlobUploads>(&mut pending.batch, &key, &row, &row.targets)
            }
            Ok((None, Some(mut row))) => {
                record_outcome(&mut row.targets, &relay, &outcome);
                match stage_row::<GroupUploads>(&mut pending.batch, &key, &row, &row.targets) {
                    // An invitation's blob: its invitations go with the first copy.
                    Ok(()) => self.invite_uploaded(&mut pending, key, &row.targets).await,
                    Err(e) => Err(e),
                }
            }
            Ok((None, None)) => return,
            Err(e) => Err(e),
        };
        let committed = match staged {
            Ok(()) => self.commit(pending).await.map(|_| ()),
            Err(e) => Err(e),
        };
        if let Err(e) = committed {
            warn!("cannot record a file's upload: {e}");
        }
    }
}

/// Records one relay's end of an upload in its targets.
fn record_outcome(targets: &mut [UploadTarget], relay: &PeerId, outcome: &Result<u64, String>) {
    let relay = relay.to_bytes();
    for target in targets.iter_mut().filter(|t| t.relay == relay) {
        target.state = match outcome {
            Ok(expires_at) => UploadStateV1::Stored(*expires_at),
            Err(why) => UploadStateV1::Refused(why.clone()),
        };
    }
}

/// Stages an upload row after a relay's answer: rewritten, or deleted once no relay is left
/// to try.
fn stage_row<T: crate::store::Table<Key = [u8; 16]>>(
    batch: &mut Batch,
    key: &[u8; 16],
    row: &T::Value,
    targets: &[UploadTarget],
) -> Result<(), Error> {
    if targets.iter().all(|t| t.state != UploadStateV1::Pending) {
        batch.delete::<T>(key);
        Ok(())
    } else {
        Ok(batch.put::<T>(key, row)?)
    }
}
