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

    /// Stages, for each event of `events` that history keeps as a notice
    /// ([`GroupEvent::is_notice`]), the notice in its group's history where it happened (at
    /// its stamp in `happened`, by event index; else now): under an id of its own, with no
    /// text, never unread, and written by whoever made the change. Every write passes here
    /// ([`Core::commit`]), so no change reported is missing from history, whichever path
    /// reported it.
    pub(in crate::core) fn stage_notices(
        &mut self,
        batch: &mut Batch,
        events: &[Event],
        happened: &[(usize, Stamp)],
    ) -> Result<(), Error> {
        let me = self.account.user_id();
        for (index, event) in events.iter().enumerate() {
            let Event::Group { group, event } = event else {
                continue;
            };
            let Some(notice) = crate::tables::NoticeRow::group(event) else {
                continue;
            };
            let by = notice_author(event).unwrap_or(me);
            let conv = self.group_key(group);
            let now = self.time.now_ms();
            let stamp = match happened.iter().find(|(i, _)| *i == index) {
                Some(&(_, at)) => {
                    // What happens now comes after it (the end of a group after the commit
                    // that removed us, in the same millisecond).
                    self.clock.observe(at, now);
                    at
                }
                None => self.clock.tick(now),
            };
            let id = *MessageId::random(&mut UnwrapErr(getrandom::SysRng)).as_bytes();
            let row = MessageRow {
                peer: by,
                direction: if by == me {
                    Direction::Outgoing
                } else {
                    Direction::Incoming
                },
                text: String::new(),
                state: DeliveryState::Delivered,
                read: true,
            };
            batch.put::<Messages>(&(conv, stamp, id), &row)?;
            batch.put::<MessageIndex>(&(conv, id), &stamp)?;
            batch.put::<crate::tables::Notices>(&(conv, stamp, id), &notice)?;
        }
        Ok(())
    }

    /// Stages the event of the gap a read of group `id`'s log found, its notice right after
    /// `newest`, what history held before it. The page that follows the gap moves the cursor
    /// past it; an empty page moves it to the gap's end.
    pub(super) fn stage_gap(
        &self,
        pending: &mut Pending,
        id: GroupId,
        relay: usize,
        gap: log::Gap,
        newest: Stamp,
    ) {
        warn!(group = %id.short(), relay, count = gap.count, "log entries expired unread");
        let from = pending.events.len();
        pending.events.push(Event::Group {
            group: id,
            event: GroupEvent::Missed { count: gap.count },
        });
        // With nothing in history before it (a group from before notices), now.
        let at = match newest {
            0 => hlc::at_millis(self.time.now_ms()),
            newest => newest + 1,
        };
        pending.happened_since(from, at);
    }

    /// The stamp of the newest row in the history of the group whose key is `conv` (0: none).
    pub(super) async fn newest_stamp(&self, conv: Conv) -> Result<Stamp, Error> {
        let newest = self
            .read(move |s| {
                let range = (conv, 0, [0; 16])..=(conv, u64::MAX, [0xFF; 16]);
                s.scan::<Messages>(range, ScanDirection::Reverse, 1)
            })
            .await?;
        Ok(newest.first().map_or(0, |((_, stamp, _), _)| *stamp))
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
    let notice = s.get::<crate::tables::Notices>(&key)?;
    let mut message = to_group_message(
        group,
        (key.1, MessageId::from_bytes(key.2)),
        row,
        meta.as_ref(),
        file.as_ref(),
    );
    message.delivery = receipts.map(|r| r.delivery());
    message.notice = notice.and_then(|notice| notice.group_event()).map(Box::new);
    Ok(match expiry {
        Some(expiry) => with_expiry(message, &expiry),
        None => message,
    })
}

/// Who made the change a notice keeps; `None` for what happened on this device alone.
fn notice_author(event: &GroupEvent) -> Option<UserId> {
    match event {
        GroupEvent::Joined { by, .. } => *by,
        GroupEvent::Added { by, .. }
        | GroupEvent::Removed { by, .. }
        | GroupEvent::AddedBack { by, .. }
        | GroupEvent::Renamed { by, .. }
        | GroupEvent::AdminChanged { by, .. }
        | GroupEvent::TimerChanged { by, .. }
        | GroupEvent::LogMoved { by, .. } => Some(*by),
        _ => None,
    }
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
        notice: None,
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
        notice: false,
    };
    pending.events.push(Event::Group {
        group: message.group,
        event: GroupEvent::Message(message),
    });
    Ok(target)
}

/// When a log entry happened, as a stamp for the changes it brings: after `newest`, what
/// came before it in the log, and no earlier than the second the relay took it in
/// (`stored_at`, Unix seconds; the relay's clock, so not after now). Messages carry their
/// senders' stamps; a change has only its place in the log, and this keeps it there.
pub(super) fn entry_time(stored_at: u64, now_ms: u64, newest: Stamp) -> Stamp {
    let taken = hlc::at_millis(now_ms.min(stored_at.saturating_mul(1000)));
    taken.max(newest + 1)
}
