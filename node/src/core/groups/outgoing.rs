//! What a member sends through the log: its messages, staged with their history rows, and
//! every outgoing entry handed to the group's log task once its write is durable. The task's
//! queue is bounded; entries that find it full wait in order, so none is ever left behind.

use super::*;

impl Live {
    /// Hands outgoing entry `seq` to the log task, after any that wait for room in its
    /// queue; a full queue keeps it for [`Core::offer_unhanded`]. Nothing is dropped: the
    /// entry is in the outbox.
    pub(super) fn offer(&mut self, seq: u64) {
        if !self.unhanded.is_empty() || !self.hand(seq) {
            self.unhanded.push_back(seq);
        }
    }

    /// Hands the log task the entries waiting for room, in order, while it has room.
    pub(super) fn hand_waiting(&mut self) {
        while let Some(seq) = self.unhanded.pop_front() {
            if !self.hand(seq) {
                self.unhanded.push_front(seq);
                break;
            }
        }
    }

    /// Tries to hand entry `seq` to the log task: `false` only when its queue is full (an
    /// entry no longer in the outbox, or a stopped task, needs nothing more).
    pub(super) fn hand(&self, seq: u64) -> bool {
        let (Some(control), Some(row)) = (&self.control, self.outbox.get(&seq)) else {
            return true;
        };
        if is_held(row) {
            return true;
        }
        !matches!(
            control.try_send(append_of(seq, row, &self.access)),
            Err(mpsc::error::TrySendError::Full(_))
        )
    }
}

impl Core {
    /// Hands the log tasks the entries that found their queue full (on the outbox tick).
    pub(crate) fn offer_unhanded(&mut self) {
        for live in self.groups.live.values_mut() {
            live.hand_waiting();
        }
    }

    /// Sends a text or a file to group `id` (see [`GroupRequest::Send`]).
    pub(super) async fn send_to_group(
        &mut self,
        id: GroupId,
        compose: Compose,
    ) -> Result<MessageId, Error> {
        let (text, file, reply_to) = match compose {
            Compose::Text { text, .. } if text.is_empty() => return Err(Error::Empty),
            Compose::Text { text, reply_to } => (text, None, reply_to),
            Compose::File {
                file,
                caption,
                reply_to,
            } => (caption, Some(file), reply_to),
            Compose::Change { target, change } => {
                return self.change_in_group(id, target, change).await;
            }
            Compose::Timer { secs } => return self.set_group_timer(id, secs).await,
        };
        if text.len() > crate::body::MAX_TEXT_LEN {
            return Err(Error::TooLong {
                len: text.len(),
                max: crate::body::MAX_TEXT_LEN,
            });
        }
        if self.room() == Room::Full {
            return Err(Error::StorageFull);
        }
        // A commit of ours may be waiting for the log: the message is made in the current
        // epoch all the same, and made again in the next if the commit wins first (Retired).
        self.active(id)?;
        if let Some(to) = reply_to {
            // Only a message of history: not a change, a timer set or a notice (whose id is
            // this device's own).
            let conv = self.live_conv(id)?;
            let to_bytes = *to.as_bytes();
            let found = self
                .read(move |s| {
                    let Some((key, _)) = crate::tables::message_row(s, conv, to_bytes)? else {
                        return Ok(false);
                    };
                    Ok(s.get::<crate::tables::Notices>(&key)?.is_none())
                })
                .await?;
            if !found {
                return Err(Error::NoMessage(to));
            }
        }
        let message_id = MessageId::random(&mut UnwrapErr(getrandom::SysRng));
        let stamp = self.clock.tick(self.time.now_ms());
        // Sent under the group's timer, which every member's copy then keeps.
        let expire_secs = self.timer(&self.live_conv(id)?);
        let body = match &file {
            None => Body::Text(Text {
                id: message_id,
                stamp,
                text: text.clone(),
                reply_to,
                expire_secs,
            }),
            Some(file) => Body::Attachment(crate::body::Attachment {
                id: message_id,
                stamp,
                descriptor: file.descriptor.clone(),
                caption: text.clone(),
                reply_to,
                expire_secs,
            }),
        };
        let payload = body.to_payload().to_bytes().to_vec();
        let me = self.account.user_id();
        let mut pending = Pending::new(Batch::new(), Vec::new());
        let seq = self
            .stage_or_hold(&mut pending, id, message_id, payload)
            .await?;
        let conv = self.live(id)?.conv;
        let delivery = self.stage_receipt_row(&mut pending, id, message_id)?;
        let key = (conv, stamp, *message_id.as_bytes());
        let (attachment, upload) = match &file {
            None => (None, None),
            Some(file) => {
                let row = crate::tables::AttachmentRow {
                    descriptor: file.descriptor.clone(),
                    state: crate::tables::TransferV1::Complete,
                };
                pending
                    .batch
                    .put::<crate::tables::Attachments>(&key, &row)?;
                let upload = match (&file.grant, &file.upload) {
                    (Some((root, _)), Some(plan)) => Some(self.stage_group_upload(
                        &mut pending.batch,
                        (id, message_id),
                        *root,
                        plan,
                    )?),
                    _ => None,
                };
                let attachment = crate::Attachment::from_descriptor(&row.descriptor, &row.state);
                (attachment, upload)
            }
        };
        let message = GroupMessage {
            id: message_id,
            group: id,
            sender: me,
            direction: Direction::Outgoing,
            text,
            attachment,
            reply_to,
            edited_at_ms: None,
            reactions: Vec::new(),
            deleted: false,
            sent_at_ms: hlc::millis(stamp),
            state: DeliveryState::Queued,
            delivery: Some(delivery),
            disappear_secs: None,
            expires_at_ms: None,
            notice: None,
        };
        // Our own copy's clock runs from now.
        let message = match expire_secs {
            Some(secs) => {
                let expiry = self.stage_expiry(&mut pending.batch, key, secs, true)?;
                with_expiry(message, &expiry)
            }
            None => message,
        };
        stage_history(&mut pending, conv, stamp, message)?;
        self.commit(pending).await?;
        self.after_group_write(id, &[seq]);
        if let Some(upload) = upload {
            self.hand_over_group(&upload);
        }
        Ok(message_id)
    }

    /// Sets group `id`'s disappearing-message timer (`secs`, 0: off) and sends the change
    /// through the log, where every member takes it (`docs/protocol/groups.md` §10.2).
    /// Returns the change's id.
    async fn set_group_timer(&mut self, id: GroupId, secs: u32) -> Result<MessageId, Error> {
        disappear::check_timer(secs)?;
        if self.room() == Room::Full {
            return Err(Error::StorageFull);
        }
        self.active(id)?;
        let message_id = MessageId::random(&mut UnwrapErr(getrandom::SysRng));
        let stamp = self.clock.tick(self.time.now_ms());
        let body = Body::Timer(crate::body::Timer {
            id: message_id,
            stamp,
            secs,
        });
        let payload = body.to_payload().to_bytes().to_vec();
        let mut pending = Pending::new(Batch::new(), Vec::new());
        let seq = self
            .stage_or_hold(&mut pending, id, message_id, payload)
            .await?;
        let conv = self.live(id)?.conv;
        let me = self.account.user_id();
        self.stage_timer_change(&mut pending, (id, conv), (message_id, stamp), me, secs)?;
        self.commit(pending).await?;
        self.after_group_write(id, &[seq]);
        Ok(message_id)
    }

    /// Stages `by`'s change of group `id`'s timer to `secs`: the group's timer unless a newer
    /// change is in place (the newest stamp wins, whatever order copies arrive in), its event,
    /// and the change indexed like a message, so that a second copy (ours too, read back from
    /// the log) is a duplicate.
    pub(super) fn stage_timer_change(
        &mut self,
        pending: &mut Pending,
        (id, conv): (GroupId, Conv),
        (message_id, stamp): (MessageId, Stamp),
        by: UserId,
        secs: u32,
    ) -> Result<(), Error> {
        pending
            .batch
            .put::<MessageIndex>(&(conv, *message_id.as_bytes()), &stamp)?;
        self.receive_timer(&mut pending.batch, conv, stamp, secs)?;
        let from = pending.events.len();
        pending.events.push(Event::Group {
            group: id,
            event: GroupEvent::TimerChanged { by, secs },
        });
        // Its notice stands where the change was made, among the messages.
        pending.happened_since(from, stamp);
        Ok(())
    }

    /// [`Core::stage_group_message`], or, while members' leaves wait for a commit (MLS lets
    /// no member send until one is made), stages the message *held*: in the outbox with no
    /// body, encrypted by [`Core::release_held`] once the leaves are committed. The sender
    /// gets its message id either way; a device that is leaving itself is refused.
    pub(super) async fn stage_or_hold(
        &mut self,
        pending: &mut Pending,
        id: GroupId,
        message_id: MessageId,
        payload: Vec<u8>,
    ) -> Result<u64, Error> {
        let live = self.live(id)?;
        if live.mls().is_leaving() {
            return Err(Error::Group(GroupError::Busy));
        }
        if !live.mls().proposals_pending() {
            return self
                .stage_group_message(pending, id, message_id, payload)
                .await;
        }
        let row = GroupOutboxRow {
            body: Vec::new(),
            epoch: live.mls().epoch(),
            what: OutgoingRow::Message {
                id: *message_id.as_bytes(),
                payload,
            },
        };
        self.stage_outgoing(pending, id, row)
    }

    /// Encrypts the messages of group `id` held while members' leaves waited for a commit,
    /// in the order they were sent, once no leave waits any more (after a page of the log,
    /// and on the outbox tick). Once we are out of the group they fail instead
    /// ([`Core::stage_held_failed`]).
    pub(super) async fn release_held(&mut self, id: GroupId) -> Result<(), Error> {
        let Some(live) = self.groups.live.get(&id) else {
            return Ok(());
        };
        if !live.row.active || live.behind.is_some() || live.mls().proposals_pending() {
            return Ok(());
        }
        let held: Vec<(u64, OutgoingRow)> = live
            .outbox
            .iter()
            .filter(|(_, row)| is_held(row))
            .map(|(seq, row)| (*seq, row.what.clone()))
            .collect();
        if held.is_empty() {
            return Ok(());
        }
        self.remake(id, held).await
    }

    /// Stages giving up on the messages of group `id` held for a leave, once we are out of
    /// the group (removed, or our own leave committed): out of the outbox, `Failed` in
    /// history.
    pub(super) async fn stage_held_failed(
        &mut self,
        pending: &mut Pending,
        id: GroupId,
    ) -> Result<(), Error> {
        let live = self.live(id)?;
        let conv = live.conv;
        let held: Vec<(u64, [u8; 16])> = live
            .outbox
            .iter()
            .filter_map(|(seq, row)| match &row.what {
                OutgoingRow::Message { id, .. } if is_held(row) => Some((*seq, *id)),
                _ => None,
            })
            .collect();
        for (seq, message) in held {
            self.live_mut(id)?.outbox.remove(&seq);
            pending.batch.delete::<GroupOutbox>(&(conv, seq));
            self.stage_message_state(&mut pending.batch, conv, message, DeliveryState::Failed)
                .await?;
        }
        Ok(())
    }

    /// Takes outbox entries `rows` of group `id` out and encrypts their messages again, in
    /// order, in the group's epoch now (commits and leaves among them are dropped); commits,
    /// then hands the new entries to the log task.
    pub(super) async fn remake(
        &mut self,
        id: GroupId,
        rows: Vec<(u64, OutgoingRow)>,
    ) -> Result<(), Error> {
        let mut pending = Pending::new(Batch::new(), Vec::new());
        let mut new = Vec::with_capacity(rows.len());
        for (seq, what) in rows {
            self.forget_own(&mut pending, id, seq)?;
            if let OutgoingRow::Message {
                id: message,
                payload,
            } = what
            {
                let message = MessageId::from_bytes(message);
                new.push(
                    self.stage_group_message(&mut pending, id, message, payload)
                        .await?,
                );
            }
        }
        self.commit(pending).await?;
        self.after_group_write(id, &new);
        Ok(())
    }

    /// Encrypts `payload` for group `id` and stages it in the group's outbox and own
    /// entries; returns its outbox sequence number. The entry is in memory from here on:
    /// the caller commits, then [`Core::after_group_write`] hands it to the log task.
    pub(super) async fn stage_group_message(
        &mut self,
        pending: &mut Pending,
        id: GroupId,
        message_id: MessageId,
        payload: Vec<u8>,
    ) -> Result<u64, Error> {
        let sealed = payload.clone();
        let log = self.live(id)?.row.log;
        let ((body, epoch), layer) = self
            .with_group(id, move |cx, g| {
                cx.op(|p, signer, _| {
                    let bytes = g
                        .send(p, signer, &Certificates, &sealed)
                        .and_then(|message| glue::seal_entry(g, p, &log, &message))
                        .map_err(|e| Error::Group(e.into()))?;
                    Ok((bytes, g.epoch()))
                })
            })
            .await?;
        glue::stage(&mut pending.batch, layer)?;
        let row = GroupOutboxRow {
            body,
            epoch,
            what: OutgoingRow::Message {
                id: *message_id.as_bytes(),
                payload,
            },
        };
        self.stage_outgoing(pending, id, row)
    }

    /// Stages an outgoing entry (outbox row and own-entry row); returns its sequence number.
    pub(super) fn stage_outgoing(
        &mut self,
        pending: &mut Pending,
        id: GroupId,
        row: GroupOutboxRow,
    ) -> Result<u64, Error> {
        let seq = self.groups.next_seq;
        self.groups.next_seq += 1;
        let live = self.live_mut(id)?;
        pending.batch.put::<GroupOutbox>(&(live.conv, seq), &row)?;
        if !is_held(&row) {
            let digest = tern_proto::grouplog::entry_digest(&kind_of(&row), &row.body);
            pending.batch.put::<GroupOwn>(&(live.conv, digest), &seq)?;
        }
        live.outbox.insert(seq, row);
        Ok(seq)
    }

    /// After a write with new outgoing entries `seqs` is durable: hands them to the log task.
    pub(super) fn after_group_write(&mut self, id: GroupId, seqs: &[u64]) {
        let Some(live) = self.groups.live.get_mut(&id) else {
            return;
        };
        for seq in seqs {
            live.offer(*seq);
        }
    }
}

/// A message of ours made in an epoch before `epoch` (not held): no relay takes it any
/// more, so it is made again in this one ([`Core::remake_stale`]).
pub(super) fn is_stale(row: &GroupOutboxRow, epoch: u64) -> bool {
    row.epoch < epoch && !is_held(row) && matches!(row.what, OutgoingRow::Message { .. })
}

/// A message held while members' leaves wait for a commit: not encrypted yet.
pub(super) fn is_held(row: &GroupOutboxRow) -> bool {
    row.body.is_empty() && matches!(row.what, OutgoingRow::Message { .. })
}

fn append_of(seq: u64, row: &GroupOutboxRow, access: &Access) -> Control {
    Control::Append {
        seq,
        kind: kind_of(row),
        body: row.body.clone(),
        access: access.clone(),
        epoch: row.epoch,
    }
}
