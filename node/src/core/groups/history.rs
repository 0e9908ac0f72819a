//! A group's history: its messages staged with their event as they are sent or read from
//! the log, and read back, with our receipts and files, for queries.

use super::*;

impl Core {
    /// Stages `state` for our message `message` in the history of the group whose key is
    /// `conv`; `false` when history does not hold it (deleted meanwhile). One read finds the
    /// row through the message index.
    pub(super) async fn stage_message_state(
        &self,
        batch: &mut Batch,
        conv: Conv,
        message: [u8; 16],
        state: DeliveryState,
    ) -> Result<bool, Error> {
        let found = self
            .read(move |s| crate::tables::message_row(s, conv, message))
            .await?;
        let Some((key, mut history)) = found else {
            return Ok(false);
        };
        history.state = state;
        batch.put::<Messages>(&key, &history)?;
        Ok(true)
    }

    /// The newest `limit` messages of group `id`, oldest first.
    pub(super) async fn group_history(
        &self,
        id: GroupId,
        limit: usize,
    ) -> Result<Vec<GroupMessage>, Error> {
        let conv = self.live(id)?.conv;
        // Each message with its file, meta and the receipts of ours, in one read off the
        // core task.
        self.read(move |s| {
            let rows = s.scan::<Messages>(
                (conv, 0, [0; 16])..=(conv, u64::MAX, [0xFF; 16]),
                ScanDirection::Reverse,
                limit,
            )?;
            rows.into_iter()
                .rev()
                .map(|(key, row)| read_message(s, id, key, row))
                .collect()
        })
        .await
    }
}

/// Group `group`'s message at `key` in history, whose `row` the caller read, as queries show
/// it: with its file, its meta (reply, edits, reactions) and, for ours, the receipts' counts.
pub(in crate::core) fn read_message(
    s: &Store,
    group: GroupId,
    key: (Conv, Stamp, [u8; 16]),
    row: MessageRow,
) -> Result<GroupMessage, StoreError> {
    let receipts = match row.direction {
        Direction::Outgoing => s.get::<GroupReceipts>(&(key.0, key.2))?,
        Direction::Incoming => None,
    };
    let file = s.get::<crate::tables::Attachments>(&key)?;
    let meta = s.get::<crate::tables::MessageMeta>(&key)?;
    let expiry = s.get::<crate::tables::Expiries>(&key)?;
    let mut message = to_group_message(
        group,
        (key.1, MessageId::from_bytes(key.2)),
        row,
        meta.as_ref(),
        file.as_ref(),
    );
    message.delivery = receipts.map(|r| r.delivery());
    Ok(match expiry {
        Some(expiry) => with_expiry(message, &expiry),
        None => message,
    })
}

/// `message` with its disappearing-message timer, and when it runs out once it runs.
pub(super) fn with_expiry(
    mut message: GroupMessage,
    expiry: &crate::tables::ExpiryRow,
) -> GroupMessage {
    message.disappear_secs = Some(expiry.secs);
    message.expires_at_ms = expiry.at_ms;
    message
}

/// A group message as queries show it, from its rows (`delivery` is for the caller).
fn to_group_message(
    group: GroupId,
    (stamp, id): (Stamp, MessageId),
    row: MessageRow,
    meta: Option<&crate::tables::MetaRow>,
    file: Option<&crate::tables::AttachmentRow>,
) -> GroupMessage {
    let empty = crate::tables::MetaRow::default();
    let meta = meta.unwrap_or(&empty);
    GroupMessage {
        id,
        group,
        sender: row.peer,
        direction: row.direction,
        text: row.text,
        attachment: file
            .filter(|_| !meta.deleted)
            .and_then(|file| crate::Attachment::from_descriptor(&file.descriptor, &file.state)),
        reply_to: meta.reply_to.map(MessageId::from_bytes),
        edited_at_ms: meta.edited.map(hlc::millis),
        reactions: meta.shown_reactions(),
        deleted: meta.deleted,
        sent_at_ms: hlc::millis(stamp),
        state: row.state,
        delivery: None,
        disappear_secs: None,
        expires_at_ms: None,
    }
}

/// Stages a group message in history (its row, the index by id, and the meta row of a
/// reply) with its event and its words for search; `stamp` orders it. Returns it as a change
/// would find it.
pub(super) fn stage_history(
    pending: &mut Pending,
    conv: Conv,
    stamp: Stamp,
    message: GroupMessage,
) -> Result<changes::Target, Error> {
    let key = *message.id.as_bytes();
    let row = MessageRow {
        peer: message.sender,
        direction: message.direction,
        text: message.text.clone(),
        state: message.state,
        read: message.direction == Direction::Outgoing,
    };
    pending.batch.put::<Messages>(&(conv, stamp, key), &row)?;
    pending.batch.put::<MessageIndex>(&(conv, key), &stamp)?;
    let searched = search::searched(
        &row.text,
        message.attachment.as_ref().map(|file| file.name.as_str()),
    );
    pending
        .search
        .push(search::SearchOp::Put(conv, stamp, key, searched));
    let meta = conversation::stage_reply(&mut pending.batch, (conv, stamp, key), message.reply_to)?;
    let target = changes::Target {
        conv,
        stamp,
        id: message.id,
        row,
        meta: meta.unwrap_or_default(),
    };
    pending.events.push(Event::Group {
        group: message.group,
        event: GroupEvent::Message(message),
    });
    Ok(target)
}
