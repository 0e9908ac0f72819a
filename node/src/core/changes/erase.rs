//! Taking messages off this device: delete-for-me (1:1 and groups) and what every erasure
//! shares with expiry and delete-for-everyone: the events that carried the text rewritten
//! without it, and the old values compacted out of the database files once the write is
//! durable.

use super::*;

/// The message whose text an event carries, and its conversation.
pub(in crate::core) fn carried(event: &Event) -> Option<(crate::ChatId, MessageId)> {
    use crate::{ChatId, GroupEvent};
    match event {
        Event::MessageReceived(m) | Event::MessageSent(m) | Event::RequestReceived(m) => {
            Some((ChatId::Peer(m.peer), m.id))
        }
        Event::MessageEdited { peer, id, .. } => Some((ChatId::Peer(*peer), *id)),
        Event::Group {
            group,
            event: GroupEvent::Message(crate::GroupMessage { id, .. }),
        }
        | Event::Group {
            group,
            event: GroupEvent::MessageEdited { id, .. },
        } => Some((ChatId::Group(*group), *id)),
        _ => None,
    }
}

/// `event` with the text of message `id` taken out: what the log keeps once it is deleted.
fn scrubbed(event: &mut Event, id: MessageId) {
    match event {
        Event::MessageReceived(m) | Event::MessageSent(m) | Event::RequestReceived(m)
            if m.id == id =>
        {
            m.text.clear();
            m.kind = MessageKind::Deleted;
            m.reactions.clear();
            m.edited_at_ms = None;
            m.attachment = None;
        }
        Event::MessageEdited {
            id: edited, text, ..
        } if *edited == id => text.clear(),
        Event::Group {
            event: crate::GroupEvent::Message(m),
            ..
        } if m.id == id => {
            m.text.clear();
            m.attachment = None;
            m.deleted = true;
        }
        Event::Group {
            event:
                crate::GroupEvent::MessageEdited {
                    id: edited, text, ..
                },
            ..
        } if *edited == id => text.clear(),
        _ => {}
    }
}

impl Core {
    /// Deletes message `id` of the conversation with `peer` from this device only.
    pub(in crate::core) async fn delete_for_me(
        &mut self,
        chat: crate::ChatId,
        id: MessageId,
    ) -> Result<(), Error> {
        let conv = self.chat_conv(chat)?;
        let Some(target) = self.target(&HashMap::new(), conv, id).await? else {
            return Err(Error::NoMessage(id));
        };
        let mut pending = Pending::new(Batch::new(), Vec::new());
        let event = match chat {
            crate::ChatId::Peer(peer) => Event::MessageDeleted {
                peer,
                id,
                for_everyone: false,
            },
            crate::ChatId::Group(group) => {
                self.stage_group_erase(&mut pending, group, &target)?;
                Event::Group {
                    group,
                    event: crate::GroupEvent::DeletedForMe { id },
                }
            }
        };
        let mut summaries = HashMap::new();
        self.stage_erase(&mut pending, &mut summaries, target)
            .await?;
        for (conv, summary) in &summaries {
            pending.batch.put::<Conversations>(conv, summary)?;
        }
        pending.events.push(event);
        self.commit(pending).await?;
        Ok(())
    }

    /// Stages taking `target` off this device: its rows, its text in the event log and the
    /// search index, the chat-list preview and unread count (in `summaries`, which the caller
    /// stages); the files are compacted once the write is durable. Used by delete-for-me and
    /// by expiry.
    pub(in crate::core) async fn stage_erase(
        &self,
        pending: &mut Pending,
        summaries: &mut HashMap<Conv, ConversationRow>,
        mut target: Target,
    ) -> Result<(), Error> {
        target.tombstone(&mut pending.batch);
        self.stage_preview(summaries, &target).await?;
        // An unread message that goes no longer counts as unread.
        if target.row.direction == Direction::Incoming
            && !target.row.read
            && let Some(summary) = summaries.get_mut(&target.conv)
        {
            summary.unread = summary.unread.saturating_sub(1);
        }
        let key = (target.conv, target.stamp, *target.id.as_bytes());
        // The index by id stays (it holds only the stamp): a copy of the message still on
        // its way is recognised as a duplicate instead of coming back.
        pending.batch.delete::<Messages>(&key);
        pending.batch.delete::<MessageMeta>(&key);
        pending.batch.delete::<crate::tables::Notices>(&key);
        pending.batch.delete::<crate::tables::Expiries>(&key);
        self.stage_drop_file(pending, key).await?;
        pending
            .search
            .push(search::SearchOp::Remove(key.0, key.1, key.2));
        self.scrub_events(pending, target.conv, target.id).await?;
        pending.erase.push(key);
        Ok(())
    }

    /// Rewrites the events that carry the text of message `id` of `conv`, committed or in
    /// `pending`, without it.
    pub(in crate::core) async fn scrub_events(
        &self,
        pending: &mut Pending,
        conv: Conv,
        id: MessageId,
    ) -> Result<(), Error> {
        for event in &mut pending.events {
            scrubbed(event, id);
        }
        let key = *id.as_bytes();
        let rows = self
            .read(move |s| {
                let seqs = s.scan::<EventIndex>(
                    (conv, key, 0)..=(conv, key, u64::MAX),
                    ScanDirection::Forward,
                    usize::MAX,
                )?;
                let mut rows = Vec::with_capacity(seqs.len());
                for ((_, _, seq), ()) in seqs {
                    rows.push((seq, s.get::<Events>(&seq)?));
                }
                Ok(rows)
            })
            .await?;
        for (seq, row) in rows {
            if let Some(EventRow(mut event)) = row {
                scrubbed(&mut event, id);
                pending.batch.put::<Events>(&seq, &EventRow(event))?;
            }
            pending.batch.delete::<EventIndex>(&(conv, key, seq));
        }
        Ok(())
    }

    /// Makes deleted messages leave the database files, after the commit that deleted them:
    /// flushes, then compacts their rows' ranges, off the core task.
    pub(in crate::core) fn erase_later(&mut self, erased: Vec<(Conv, Stamp, [u8; 16])>) {
        if erased.is_empty() {
            return;
        }
        while self.erasing.try_join_next().is_some() {}
        let store = self.store.clone();
        // Tracked, so that the core waits for it before the database closes.
        self.erasing.spawn_blocking(move || {
            let result = (|| {
                store.flush()?;
                for (conv, stamp, id) in &erased {
                    let key = (*conv, *stamp, *id);
                    store.erase::<Messages>(&key, &key)?;
                    store.erase::<MessageMeta>(&key, &key)?;
                    store.erase::<crate::tables::Expiries>(&key, &key)?;
                    store.erase::<crate::tables::Attachments>(&key, &key)?;
                    store.erase::<EditHistory>(&(*conv, *id, 0), &(*conv, *id, u64::MAX))?;
                    store.erase::<EventIndex>(&(*conv, *id, 0), &(*conv, *id, u64::MAX))?;
                }
                store.erase::<Events>(&0, &u64::MAX)
            })();
            if let Err(e) = result {
                // Deleted all the same: compaction erases the rows from the files later.
                warn!("cannot erase deleted messages from the files yet: {e}");
            }
        });
    }
}
