//! Invitations too large for one message, as files (`docs/protocol/groups.md` §10.1).
//!
//! A Welcome outgrows a 1:1 message at a few hundred members. The inviter encrypts the
//! invitation into its blob store once, uploads it to the group's sequencers under the log's
//! quota, like a group's file, and sends each new member a `GroupOp::InviteFile` naming it,
//! but only once a sequencer holds it: from then on joining needs nothing from the inviter.
//! If every sequencer refuses it, the invitation goes in parts instead.
//!
//! The invitee keeps the invitation (`invite_fetches`) in the write of the message that
//! carried it, fetches the blob from the sequencers through the transfer task, and joins in
//! the write that deletes the row: a crash at any point resumes the fetch, and the join
//! happens once.

use std::io::Read;

use libp2p::PeerId;
use tern_blob::{
    Capability, Root,
    descriptor::{BlobRef, Body as FileBody, Descriptor, Kind, Location, LocationKind},
};
use tern_crypto::rand_core::{Rng, UnwrapErr};

use super::*;
use crate::{
    ChatId,
    body::{GroupOp, MAX_INVITE_FILE_LEN},
    core::uploads::UploadPlan,
    group::tables::{
        InviteFetchRow, InviteFetches, InviteUploadRow, InviteUploads, MAX_OPEN_INVITES,
    },
    tables::{UploadStateV1, UploadTarget},
    transfer::{Fetch, Report},
};

/// The MIME type an invitation's blob is described with.
const INVITE_MIME: &str = "application/vnd.tern.invitation";

/// An invitation's blob as this device stored it.
struct Stored {
    descriptor: Vec<u8>,
    root: Root,
    plan: UploadPlan,
}

impl Core {
    /// Sends `encoded` (a `GroupOp::Invite`'s encoding) to `members` of group `id` as a file
    /// at `sequencers`: stored and staged for upload now, the invitations held until a
    /// sequencer holds it. Where no file can be made (no sequencer, a full disk), the
    /// invitation goes in parts at once.
    pub(super) async fn send_invite_file(
        &mut self,
        pending: &mut Pending,
        (id, members): (GroupId, &[UserId]),
        encoded: Vec<u8>,
        sequencers: Vec<SequencerRow>,
    ) -> Result<(), Error> {
        let log = self.live(id)?.row.log;
        let stored = match self.store_invite(&encoded, &sequencers, log).await {
            Ok(stored) => stored,
            Err(why) => {
                warn!("cannot store an invitation as a file, sending it in parts: {why}");
                return self.send_invite_parts(pending, members, &encoded).await;
            }
        };
        let upload = self.stage_group_upload(
            &mut pending.batch,
            (id, MessageId::random(&mut UnwrapErr(getrandom::SysRng))),
            stored.root,
            &stored.plan,
        )?;
        let row = InviteUploadRow {
            group: *id.as_bytes(),
            members: members.to_vec(),
            descriptor: stored.descriptor,
            sequencers,
            sent: false,
        };
        let key = self.store.index_id("upload", stored.root.as_bytes());
        pending.batch.put::<InviteUploads>(&key, &row)?;
        self.groups.followups.push(Followup::Upload(upload));
        Ok(())
    }

    /// Encrypts `encoded` into the blob store and describes it at `sequencers`, each with a
    /// fresh capability, planned for upload under `log`'s quota.
    async fn store_invite(
        &mut self,
        encoded: &[u8],
        sequencers: &[SequencerRow],
        log: [u8; 32],
    ) -> Result<Stored, String> {
        let relays = sequencer_places(sequencers);
        if relays.is_empty() {
            return Err("the group names no sequencer".into());
        }
        let blobs = self.blobs.clone();
        let bytes = encoded.to_vec();
        let imported = tokio::task::spawn_blocking(move || {
            blobs.import(
                &mut UnwrapErr(getrandom::SysRng),
                &bytes[..],
                bytes.len() as u64,
            )
        })
        .await
        .map_err(|e| e.to_string())?
        .map_err(|e| e.to_string())?;
        let root = imported.blob.root();
        let lengths = imported.lengths;
        let mut rng = UnwrapErr(getrandom::SysRng);
        let mut locations = Vec::new();
        let mut planned = Vec::new();
        for (relay, addresses) in relays {
            let capability = Capability::generate(&mut rng);
            locations.push(Location {
                kind: LocationKind::Relay,
                peer: relay.to_bytes(),
                capability: capability.clone(),
            });
            planned.push((relay, addresses, *capability.as_bytes()));
        }
        match describe_invite(root, lengths, imported.key, locations) {
            Ok(descriptor) => Ok(Stored {
                descriptor,
                root,
                plan: UploadPlan::new(lengths.ciphertext(), log, planned),
            }),
            Err(e) => {
                self.delete_blobs_later(vec![root]);
                Err(e.to_string())
            }
        }
    }

    /// Sends `encoded` (a `GroupOp::Invite`'s encoding) to `members` in parts.
    async fn send_invite_parts(
        &mut self,
        pending: &mut Pending,
        members: &[UserId],
        encoded: &[u8],
    ) -> Result<(), Error> {
        for member in members {
            let mut id = [0; 16];
            UnwrapErr(getrandom::SysRng).fill_bytes(&mut id);
            let Some(ops) = crate::body::invite_parts(encoded, self.invite_part_len, id) else {
                warn!("an invitation too large to send, even in parts");
                continue;
            };
            for op in ops {
                let body = self.group_body(op);
                self.enqueue(pending, *member, &body, false).await?;
            }
        }
        Ok(())
    }

    /// A sequencer answered the upload at `key` (its `targets` as now staged): the first one
    /// that holds the blob sends the invitations it carries; once every one has answered,
    /// the row and the blob go, and if none took it the invitations go in parts.
    pub(in crate::core) async fn invite_uploaded(
        &mut self,
        pending: &mut Pending,
        key: [u8; 16],
        targets: &[UploadTarget],
    ) -> Result<(), Error> {
        let Some(mut row) = self.read(move |s| s.get::<InviteUploads>(&key)).await? else {
            return Ok(());
        };
        let held = targets
            .iter()
            .any(|t| matches!(t.state, UploadStateV1::Stored(_)));
        let answered = targets.iter().all(|t| t.state != UploadStateV1::Pending);
        if held && !row.sent {
            let op = GroupOp::InviteFile {
                descriptor: row.descriptor.clone(),
                sequencers: row.sequencers.clone(),
            };
            for member in &row.members {
                let body = self.group_body(op.clone());
                self.enqueue(pending, *member, &body, false).await?;
            }
            row.sent = true;
        }
        if !answered {
            pending.batch.put::<InviteUploads>(&key, &row)?;
            return Ok(());
        }
        self.end_invite_upload(pending, key, row).await
    }

    /// Stages the end of the invitation upload at `key` (`row`): the row and the blob go, and
    /// invitations not sent yet go in parts.
    async fn end_invite_upload(
        &mut self,
        pending: &mut Pending,
        key: [u8; 16],
        row: InviteUploadRow,
    ) -> Result<(), Error> {
        pending.batch.delete::<InviteUploads>(&key);
        let Some((root, file_key, len)) = blob_of(&row.descriptor) else {
            return Ok(());
        };
        pending.unfile.push(root);
        if row.sent {
            return Ok(());
        }
        warn!("an invitation's file reached no sequencer; sending it in parts");
        let blobs = self.blobs.clone();
        let read = tokio::task::spawn_blocking(move || read_blob(&blobs, root, &file_key, len))
            .await
            .map_err(|e| e.to_string())
            .and_then(|r| r);
        match read {
            Ok(encoded) => {
                self.send_invite_parts(pending, &row.members, &encoded)
                    .await
            }
            Err(e) => {
                warn!("cannot read an invitation back: {e}");
                Ok(())
            }
        }
    }

    /// Uploads an invitation's blob (`row`, its `group_uploads` row) to the sequencers; when
    /// that cannot be (we are no longer in the group, so the sequencers would refuse our
    /// key), ends it at once: its invitations go in parts.
    pub(in crate::core) async fn upload_invite(&mut self, row: &crate::tables::GroupUploadRow) {
        if self.hand_over_group(row) {
            return;
        }
        let key = self.store.index_id("upload", &row.root);
        let result = async {
            let Some(invite) = self.read(move |s| s.get::<InviteUploads>(&key)).await? else {
                return Ok(());
            };
            let mut pending = Pending::new(Batch::new(), Vec::new());
            pending.batch.delete::<crate::tables::GroupUploads>(&key);
            self.end_invite_upload(&mut pending, key, invite).await?;
            self.commit(pending).await.map(|_| ())
        }
        .await;
        if let Err(e) = result {
            warn!("cannot end an invitation's upload: {e}");
        }
    }

    /// An invitation as a file from `sender`, an accepted peer: kept, and its blob fetched
    /// once this write is durable. Refused if its descriptor is not a blob of at most
    /// [`MAX_INVITE_FILE_LEN`] held only at relays, if its blob is one this device holds or
    /// another invitation names already (a real invitation's blob is always new here), or
    /// if the sender has [`MAX_OPEN_INVITES`] invitations open already.
    pub(super) async fn receive_invite_file(
        &mut self,
        pending: &mut Pending,
        (sender, id, stamp): (UserId, MessageId, Stamp),
        descriptor: Vec<u8>,
        sequencers: Vec<SequencerRow>,
    ) -> Result<(), Error> {
        let conv = self.conv(&sender);
        let key = (conv, *id.as_bytes());
        if self
            .read_staged::<InviteFetches>(&pending.batch, key)
            .await?
            .is_some()
        {
            return Ok(());
        }
        let open = self
            .read(|s| s.scan::<InviteFetches>(.., ScanDirection::Forward, usize::MAX))
            .await?;
        let from_sender = open.iter().filter(|((c, _), _)| *c == conv).count();
        let root = valid_invite_file(&descriptor).then(|| blob_of(&descriptor).map(|b| b.0));
        let fresh = match root.flatten() {
            Some(root) => {
                let named = open
                    .iter()
                    .any(|(_, row)| blob_of(&row.descriptor).is_some_and(|b| b.0 == root));
                !named && !self.holds_blob(root).await
            }
            None => false,
        };
        if !fresh || from_sender >= MAX_OPEN_INVITES {
            *self.groups.refused.entry("invite_file").or_default() += 1;
            return Ok(());
        }
        let row = InviteFetchRow {
            sender,
            stamp,
            descriptor,
            sequencers,
        };
        pending.batch.put::<InviteFetches>(&key, &row)?;
        self.groups.followups.push(Followup::FetchInvite(key));
        Ok(())
    }

    /// Whether the blob store has `root`, complete or in part (or cannot tell).
    async fn holds_blob(&self, root: Root) -> bool {
        let blobs = self.blobs.clone();
        tokio::task::spawn_blocking(move || {
            Ok::<_, tern_blob::store::StoreError>(
                blobs.complete(&root)?.is_some() || blobs.partial_roots()?.contains(&root),
            )
        })
        .await
        .map_or(true, |held| held.unwrap_or(true))
    }

    /// Once the write that kept it is durable: fetches the blob of the invitation at `key`,
    /// if the store has it.
    pub(super) async fn fetch_invite(&mut self, key: (Conv, [u8; 16])) -> Result<(), Error> {
        if let Some(row) = self.read(move |s| s.get::<InviteFetches>(&key)).await? {
            self.queue_invite_fetch(MessageId::from_bytes(key.1), row);
        }
        Ok(())
    }

    /// At start: invitations whose blob was not fetched yet are fetched.
    pub(in crate::core) async fn resume_invite_fetches(&mut self) -> Result<(), Error> {
        let rows = self
            .read(|s| s.scan::<InviteFetches>(.., ScanDirection::Forward, usize::MAX))
            .await?;
        for ((_, id), row) in rows {
            self.queue_invite_fetch(MessageId::from_bytes(id), row);
        }
        Ok(())
    }

    /// Hands the fetch of invitation `id`'s blob to the transfer task, from the sequencers
    /// it names (and our own relays, should one of them be among them). Not through
    /// [`Core::queue_fetch`]: no device of the sender is a source to wake it.
    fn queue_invite_fetch(&mut self, id: MessageId, row: InviteFetchRow) {
        self.groups.invite_fetches.insert(id);
        let mut fetch = invite_fetch(id, row);
        fetch.relays.extend(self.relays.in_order());
        self.transfers.fetch(fetch);
    }

    /// A report of the transfer task about an invitation's blob: taken here (`None`), or
    /// handed back when it is about a message's file.
    pub(in crate::core) async fn on_invite_transfer(&mut self, report: Report) -> Option<Report> {
        let (ChatId::Peer(sender), id) = (match &report {
            Report::Progress { chat, id, .. }
            | Report::Done { chat, id }
            | Report::Failed { chat, id, .. } => (*chat, *id),
            Report::Uploaded { .. } => return Some(report),
        }) else {
            return Some(report);
        };
        if !self.groups.invite_fetches.contains(&id) {
            return Some(report);
        }
        if matches!(report, Report::Progress { .. }) {
            return None;
        }
        let key = (self.conv(&sender), *id.as_bytes());
        let result = match self.read(move |s| s.get::<InviteFetches>(&key)).await {
            Ok(None) => {
                self.groups.invite_fetches.remove(&id);
                Ok(())
            }
            Ok(Some(row)) => match report {
                Report::Failed { reason, .. } => {
                    warn!("an invitation's file could not be fetched: {reason}");
                    *self.groups.refused.entry("invite_file").or_default() += 1;
                    let pending = Pending::new(Batch::new(), Vec::new());
                    self.end_invite_fetch(pending, key, &row).await
                }
                _ => self.join_fetched_invite(key, row).await,
            },
            Err(e) => Err(e),
        };
        if let Err(e) = result {
            warn!("cannot take an invitation's file: {e}");
        }
        None
    }

    /// The blob of the invitation at `key` (`row`) is here: join from it, in the write that
    /// forgets the invitation.
    async fn join_fetched_invite(
        &mut self,
        key: (Conv, [u8; 16]),
        row: InviteFetchRow,
    ) -> Result<(), Error> {
        let mut pending = Pending::new(Batch::new(), Vec::new());
        let invite = match blob_of(&row.descriptor) {
            Some((root, file_key, len)) => {
                let blobs = self.blobs.clone();
                tokio::task::spawn_blocking(move || read_blob(&blobs, root, &file_key, len))
                    .await
                    .ok()
                    .and_then(Result::ok)
                    .and_then(|encoded| crate::body::assemble_invite([&encoded[..]]))
            }
            None => None,
        };
        match invite {
            Some(GroupOp::Invite {
                welcome,
                log,
                sequencers,
            }) => {
                let sent = (row.sender, row.stamp);
                self.join_from_invite(&mut pending, sent, welcome, log, sequencers)
                    .await?;
            }
            _ => *self.groups.refused.entry("invitation").or_default() += 1,
        }
        self.end_invite_fetch(pending, key, &row).await
    }

    /// Commits `pending` with the invitation at `key` (`row`) forgotten, its blob deleted
    /// once that is durable.
    async fn end_invite_fetch(
        &mut self,
        mut pending: Pending,
        key: (Conv, [u8; 16]),
        row: &InviteFetchRow,
    ) -> Result<(), Error> {
        pending.unfile.extend(blob_of(&row.descriptor).map(|b| b.0));
        pending.batch.delete::<InviteFetches>(&key);
        self.commit(pending).await?;
        self.groups
            .invite_fetches
            .remove(&MessageId::from_bytes(key.1));
        Ok(())
    }
}

/// The fetch of invitation `id`'s blob, from the sequencers it names.
fn invite_fetch(id: MessageId, row: InviteFetchRow) -> Fetch {
    Fetch {
        chat: ChatId::Peer(row.sender),
        sender: row.sender,
        id,
        descriptor: row.descriptor,
        relays: sequencer_places(&row.sequencers),
    }
}

/// The descriptor of an invitation's blob `root` (of `lengths`, under `key`) held at
/// `locations`.
pub(crate) fn describe_invite(
    root: Root,
    lengths: tern_blob::Lengths,
    key: tern_blob::FileKey,
    locations: Vec<Location>,
) -> Result<Vec<u8>, tern_blob::descriptor::DescriptorError> {
    Descriptor {
        kind: Kind::Document,
        mime: INVITE_MIME.into(),
        name: String::new(),
        thumbnail: None,
        waveform: None,
        body: FileBody::Blob(BlobRef {
            root,
            plaintext_len: lengths.plaintext(),
            padded_len: lengths.padded(),
            ciphertext_len: lengths.ciphertext(),
            key,
            locations,
        }),
    }
    .to_bytes()
}

/// Whether `descriptor` is one an invitation may carry: a blob of at most
/// [`MAX_INVITE_FILE_LEN`], held at relays only (the inviter's device is no source: joining
/// must not need it).
fn valid_invite_file(descriptor: &[u8]) -> bool {
    match Descriptor::from_bytes(descriptor).map(|d| d.body) {
        Ok(FileBody::Blob(blob)) => {
            blob.plaintext_len <= MAX_INVITE_FILE_LEN
                && !blob.locations.is_empty()
                && blob
                    .locations
                    .iter()
                    .all(|l| l.kind == LocationKind::Relay && PeerId::from_bytes(&l.peer).is_ok())
        }
        _ => false,
    }
}

/// The root, key and plaintext length of a descriptor's blob.
fn blob_of(descriptor: &[u8]) -> Option<(Root, tern_blob::FileKey, u64)> {
    match Descriptor::from_bytes(descriptor).ok()?.body {
        FileBody::Blob(blob) => Some((blob.root, blob.key, blob.plaintext_len)),
        FileBody::Inline(_) => None,
    }
}

/// The plaintext of complete blob `root` (blocking).
fn read_blob(
    blobs: &tern_blob::store::Store,
    root: Root,
    key: &tern_blob::FileKey,
    len: u64,
) -> Result<Vec<u8>, String> {
    let complete = blobs
        .complete(&root)
        .map_err(|e| e.to_string())?
        .ok_or("the blob is not here")?;
    let mut encoded = Vec::new();
    complete
        .plaintext(key, len)
        .map_err(|e| e.to_string())?
        .read_to_end(&mut encoded)
        .map_err(|e| e.to_string())?;
    Ok(encoded)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn described(plaintext_len: u64, locations: Vec<Location>) -> Vec<u8> {
        describe_invite(
            Root::from_bytes([7; 32]),
            tern_blob::Lengths::for_plaintext(plaintext_len).unwrap(),
            tern_blob::FileKey::generate(&mut UnwrapErr(getrandom::SysRng)),
            locations,
        )
        .unwrap()
    }

    fn at(kind: LocationKind) -> Location {
        Location {
            kind,
            peer: PeerId::random().to_bytes(),
            capability: Capability::from_bytes([9; 32]),
        }
    }

    #[test]
    fn an_invitation_file_is_a_bounded_blob_held_at_relays_only() {
        let relay = || at(LocationKind::Relay);
        assert!(valid_invite_file(&described(
            400_000,
            vec![relay(), relay()]
        )));
        assert!(valid_invite_file(&described(
            MAX_INVITE_FILE_LEN,
            vec![relay()]
        )));
        // Too large, or held by the inviter's device, which may be gone. (A blob held
        // nowhere is no descriptor at all.)
        assert!(!valid_invite_file(&described(
            MAX_INVITE_FILE_LEN + 1,
            vec![relay()]
        )));
        assert!(!valid_invite_file(&described(
            400_000,
            vec![relay(), at(LocationKind::Device)]
        )));
        let mut bad_peer = relay();
        bad_peer.peer = vec![1, 2, 3];
        assert!(!valid_invite_file(&described(400_000, vec![bad_peer])));
        // Not a blob, or not a descriptor at all.
        let inline = Descriptor {
            kind: Kind::Document,
            mime: INVITE_MIME.into(),
            name: String::new(),
            thumbnail: None,
            waveform: None,
            body: FileBody::Inline(vec![1; 10]),
        };
        assert!(!valid_invite_file(&inline.to_bytes().unwrap()));
        assert!(!valid_invite_file(b"\x01garbage"));
        assert!(!valid_invite_file(&[]));
    }
}
