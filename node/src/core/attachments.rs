//! Files in conversations: their rows beside the messages that carry them, fetches asked of
//! the transfer task once a message is durable, and the task's reports turned into rows and
//! events.

use tern_blob::{Root, descriptor::Body as FileBody};

use super::*;
use crate::{
    ChatId, MessageKind,
    attachment::{Attachment, AttachmentState},
    tables::{AttachmentRow, Attachments, BlobGrants, TransferV1},
    transfer::{Fetch, Report},
};

/// Most files listed by [`Core::attachments`].
pub(crate) const MAX_LISTED: usize = 1000;

/// A file to send, as the core stages it: its descriptor and, for a blob, the capability its
/// readers present.
#[derive(Clone)]
pub(crate) struct OutgoingFile {
    pub(crate) descriptor: Vec<u8>,
    /// Its file name, for the search index.
    pub(crate) name: String,
    pub(crate) grant: Option<(Root, [u8; 32])>,
    /// Where a copy goes if the recipient is offline.
    pub(crate) upload: Option<UploadPlan>,
}

impl std::fmt::Debug for OutgoingFile {
    // The descriptor holds the file key: never in logs.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OutgoingFile")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

/// A file on this device, for saving: the descriptor (with the key) and its state.
pub(crate) struct Held {
    pub(crate) descriptor: Vec<u8>,
    pub(crate) ready: bool,
}

/// `message` as an attachment message, when `row` is its file.
pub(super) fn with_file(mut message: Message, row: Option<&AttachmentRow>) -> Message {
    if let Some(row) = row
        && let Some(attachment) = Attachment::from_descriptor(&row.descriptor, &row.state)
    {
        if message.kind == MessageKind::Text {
            message.kind = MessageKind::Attachment;
        }
        message.attachment = Some(attachment);
    }
    message
}

/// The state a received file starts in: complete when it came inline, fetched at once when
/// the rules say so, else offered.
pub(super) fn arriving_state(descriptor: &[u8], accepted: bool, auto_download: u64) -> TransferV1 {
    match tern_blob::Descriptor::from_bytes(descriptor) {
        Ok(d) => match d.body {
            FileBody::Inline(_) => TransferV1::Complete,
            FileBody::Blob(blob) if accepted && blob.plaintext_len <= auto_download => {
                TransferV1::Fetching
            }
            FileBody::Blob(_) => TransferV1::Offered,
        },
        Err(e) => TransferV1::Failed(e.to_string()),
    }
}

impl Core {
    /// Stages the rows of a file we send: the file beside its message, and the grant that
    /// lets its recipient fetch it from us.
    pub(super) fn stage_outgoing_file(
        &mut self,
        batch: &mut Batch,
        (peer, key): (UserId, (Conv, u64, [u8; 16])),
        file: &OutgoingFile,
    ) -> Result<AttachmentRow, Error> {
        let row = AttachmentRow {
            descriptor: file.descriptor.clone(),
            state: TransferV1::Complete,
        };
        batch.put::<Attachments>(&key, &row)?;
        if let Some((root, capability)) = &file.grant {
            batch.put::<BlobGrants>(&self.store.index_id("blob", root.as_bytes()), capability)?;
            if let Some(plan) = &file.upload {
                let id = MessageId::from_bytes(key.2);
                self.stage_upload(batch, (peer, id), *root, plan)?;
            }
        }
        Ok(row)
    }

    /// The capability that may read blob `root`, when this device sent it.
    pub(super) async fn grant(&self, root: Root) -> crate::transfer::Grant {
        let key = self.store.index_id("blob", root.as_bytes());
        self.read(move |s| s.get::<BlobGrants>(&key))
            .await
            .unwrap_or_else(|e| {
                warn!("cannot read a file's grant: {e}");
                None
            })
    }

    /// Stores a received file's message and its row; a fetch is asked for once the group
    /// is durable, when the rules say so.
    pub(super) async fn receive_attachment(
        &mut self,
        pending: &mut Pending,
        staged: &mut receive::Group,
        (sender, standing): (UserId, requests::Standing),
        (id, stamp, digest): (MessageId, Stamp, [u8; 16]),
        attachment: crate::body::Attachment,
    ) -> Result<(), Error> {
        let meta = crate::tables::MetaRow {
            reply_to: attachment.reply_to.map(|m| *m.as_bytes()),
            ..Default::default()
        };
        let accepted = standing == requests::Standing::Accepted;
        let limit = self.auto_download(&self.conv(&sender));
        let state = arriving_state(&attachment.descriptor, accepted, limit);
        if state == TransferV1::Fetching {
            staged.fetches.push(Fetch {
                chat: ChatId::Peer(sender),
                sender,
                id,
                descriptor: attachment.descriptor.clone(),
                relays: Vec::new(),
            });
        }
        let extras = receive::Extras {
            notice: None,
            expire_secs: attachment.expire_secs,
            file: Some(AttachmentRow {
                descriptor: attachment.descriptor,
                state,
            }),
        };
        self.receive_message(
            pending,
            staged,
            (sender, standing),
            (id, stamp, digest),
            (attachment.caption, meta),
            extras,
        )
        .await
    }

    /// Hands a fetch to the transfer task (after the rows that ask for it are durable),
    /// with the relays it may reach at once: our mailbox relays, and a group's sequencers.
    pub(super) fn queue_fetch(&mut self, mut fetch: Fetch) {
        fetch.relays = self.relays.in_order();
        match fetch.chat {
            // Its sender's device coming online wakes it.
            ChatId::Peer(peer) => {
                self.fetching_from.insert(peer);
            }
            // Only the sequencers hold it.
            ChatId::Group(group) => fetch.relays.extend(self.sequencers_of(group)),
        }
        self.transfers.fetch(fetch);
    }

    /// The conversation key of `chat`.
    pub(super) fn chat_conv(&self, chat: ChatId) -> Result<Conv, Error> {
        match chat {
            ChatId::Peer(peer) => Ok(self.conv(&peer)),
            ChatId::Group(group) => self.live_conv(group),
        }
    }

    /// At start: fetches that were running when the node stopped go on where they were.
    pub(super) async fn resume_fetches(&mut self) -> Result<(), Error> {
        let rows = self
            .read(|s| s.scan::<Attachments>(.., ScanDirection::Forward, usize::MAX))
            .await?;
        for ((conv, stamp, id), row) in rows {
            if row.state != TransferV1::Fetching {
                continue;
            }
            let key = (conv, stamp, id);
            let Some(message) = self.read(move |s| s.get::<Messages>(&key)).await? else {
                continue;
            };
            let chat = match self.group_of_conv(&conv) {
                Some(group) => ChatId::Group(group),
                None => ChatId::Peer(message.peer),
            };
            self.queue_fetch(Fetch {
                chat,
                sender: message.peer,
                id: MessageId::from_bytes(id),
                descriptor: row.descriptor,
                relays: Vec::new(),
            });
        }
        Ok(())
    }

    /// A report of the transfer task: progress is published as it comes; the end of a fetch
    /// is written to the file's row with its event.
    pub(super) async fn on_transfer(&mut self, report: Report) {
        let Some(report) = self.on_invite_transfer(report).await else {
            return;
        };
        let (chat, id, state) = match report {
            Report::Progress {
                chat,
                id,
                received,
                total,
            } => {
                self.publish_ephemeral(match chat {
                    ChatId::Peer(peer) => Event::AttachmentProgress {
                        peer,
                        id,
                        received,
                        total,
                    },
                    ChatId::Group(group) => Event::Group {
                        group,
                        event: crate::GroupEvent::AttachmentProgress {
                            id,
                            received,
                            total,
                        },
                    },
                });
                return;
            }
            Report::Done { chat, id } => (chat, id, TransferV1::Complete),
            Report::Failed { chat, id, reason } => (chat, id, TransferV1::Failed(reason)),
            Report::Uploaded {
                root,
                relay,
                outcome,
            } => return self.on_uploaded(root, relay, outcome).await,
        };
        if let ChatId::Peer(peer) = chat {
            self.fetching_from.remove(&peer);
        }
        if let Err(e) = self.set_file_state(chat, id, state).await {
            warn!("cannot record the end of a fetch: {e}");
        }
    }

    /// Moves a file to `state`, with its event; nothing when the message is gone.
    async fn set_file_state(
        &mut self,
        chat: ChatId,
        id: MessageId,
        state: TransferV1,
    ) -> Result<Option<AttachmentRow>, Error> {
        let Some((key, mut row)) = self.file_row(chat, id).await? else {
            return Ok(None);
        };
        if row.state == state {
            return Ok(Some(row));
        }
        row.state = state;
        let mut pending = Pending::new(Batch::new(), Vec::new());
        pending.batch.put::<Attachments>(&key, &row)?;
        let state = AttachmentState::from(&row.state);
        pending.events.push(match chat {
            ChatId::Peer(peer) => Event::AttachmentChanged { peer, id, state },
            ChatId::Group(group) => Event::Group {
                group,
                event: crate::GroupEvent::AttachmentChanged { id, state },
            },
        });
        self.commit(pending).await?;
        Ok(Some(row))
    }

    /// The file of message `id` in `chat`, and its key.
    async fn file_row(
        &self,
        chat: ChatId,
        id: MessageId,
    ) -> Result<Option<((Conv, u64, [u8; 16]), AttachmentRow)>, Error> {
        let conv = self.chat_conv(chat)?;
        let id = *id.as_bytes();
        self.read(move |s| {
            let Some(key) = crate::tables::message_key(s, conv, id)? else {
                return Ok(None);
            };
            Ok(s.get::<Attachments>(&key)?.map(|row| (key, row)))
        })
        .await
    }

    /// Starts (or restarts) fetching a file the user asked for.
    pub(super) async fn fetch_attachment(
        &mut self,
        chat: ChatId,
        id: MessageId,
    ) -> Result<AttachmentState, Error> {
        let Some((key, row)) = self.file_row(chat, id).await? else {
            return Err(Error::NoAttachment(id));
        };
        if row.state == TransferV1::Complete {
            return Ok(AttachmentState::Ready);
        }
        let sender = match chat {
            ChatId::Peer(peer) => peer,
            ChatId::Group(_) => match self.read(move |s| s.get::<Messages>(&key)).await? {
                Some(message) => message.peer,
                None => return Err(Error::NoAttachment(id)),
            },
        };
        let row = self
            .set_file_state(chat, id, TransferV1::Fetching)
            .await?
            .unwrap_or(row);
        self.queue_fetch(Fetch {
            chat,
            sender,
            id,
            descriptor: row.descriptor,
            relays: Vec::new(),
        });
        Ok(AttachmentState::Fetching)
    }

    /// The file of message `id`, for saving.
    pub(super) async fn held_file(&self, chat: ChatId, id: MessageId) -> Result<Held, Error> {
        let Some((_, row)) = self.file_row(chat, id).await? else {
            return Err(Error::NoAttachment(id));
        };
        Ok(Held {
            ready: row.state == TransferV1::Complete,
            descriptor: row.descriptor,
        })
    }

    /// The files of every conversation (or of one), newest first, at most [`MAX_LISTED`].
    pub(super) async fn attachments(
        &self,
        chat: Option<ChatId>,
    ) -> Result<Vec<crate::view::FileEntry>, Error> {
        let conv = chat.map(|chat| self.chat_conv(chat)).transpose()?;
        // Each file with its message, in one read off the core task.
        let rows = self
            .read(move |s| {
                let files = match conv {
                    Some(conv) => s.scan::<Attachments>(
                        (conv, 0, [0; 16])..=(conv, u64::MAX, [0xff; 16]),
                        ScanDirection::Forward,
                        usize::MAX,
                    )?,
                    None => s.scan::<Attachments>(.., ScanDirection::Forward, usize::MAX)?,
                };
                let mut rows = Vec::with_capacity(files.len());
                for (key, file) in files {
                    if let Some(message) = s.get::<Messages>(&key)? {
                        rows.push((key, file, message));
                    }
                }
                Ok(rows)
            })
            .await?;
        let mut entries: Vec<_> = rows
            .into_iter()
            .filter_map(|((conv, stamp, id), row, message)| {
                Some(crate::view::FileEntry {
                    attachment: Attachment::from_descriptor(&row.descriptor, &row.state)?,
                    peer: message.peer,
                    group: self.group_of_conv(&conv),
                    id: MessageId::from_bytes(id),
                    direction: message.direction,
                    sent_at_ms: hlc::millis(stamp),
                    caption: message.text,
                })
            })
            .collect();
        entries.sort_by_key(|e| std::cmp::Reverse(e.sent_at_ms));
        entries.truncate(MAX_LISTED);
        Ok(entries)
    }

    /// Stages forgetting the file of the message at `key`, if it has one: its row and grant
    /// go in the batch; its blob is deleted once the batch is durable.
    pub(super) async fn stage_drop_file(
        &self,
        pending: &mut Pending,
        key: (Conv, u64, [u8; 16]),
    ) -> Result<(), Error> {
        let Some(row) = self.read(move |s| s.get::<Attachments>(&key)).await? else {
            return Ok(());
        };
        pending.batch.delete::<Attachments>(&key);
        if let Some(root) = crate::transfer::root_of(&row.descriptor) {
            pending
                .batch
                .delete::<BlobGrants>(&self.store.index_id("blob", root.as_bytes()));
            // A copy on its way to relays stops with the next start; the relays drop theirs
            // at the end of its retention.
            let upload = self.store.index_id("upload", root.as_bytes());
            pending.batch.delete::<crate::tables::BlobUploads>(&upload);
            pending.batch.delete::<crate::tables::GroupUploads>(&upload);
            pending.unfile.push(root);
        }
        Ok(())
    }

    /// Stages forgetting every file of a conversation (it is being deleted).
    pub(super) async fn stage_drop_files(
        &self,
        pending: &mut Pending,
        conv: Conv,
    ) -> Result<(), Error> {
        let rows = self
            .read(move |s| {
                s.scan::<Attachments>(
                    (conv, 0, [0; 16])..=(conv, u64::MAX, [0xff; 16]),
                    ScanDirection::Forward,
                    usize::MAX,
                )
            })
            .await?;
        for (key, _) in rows {
            self.stage_drop_file(pending, key).await?;
        }
        Ok(())
    }

    /// Deletes blobs whose rows a durable write removed, off the core task.
    pub(super) fn delete_blobs_later(&mut self, roots: Vec<Root>) {
        if roots.is_empty() {
            return;
        }
        let blobs = self.blobs.clone();
        self.erasing.spawn_blocking(move || {
            for root in roots {
                // Refused while a download of it runs: the sweep at the next start takes it.
                if let Err(e) = blobs.delete(&root) {
                    debug!("cannot delete the file {root} yet: {e}");
                }
            }
        });
    }
}
