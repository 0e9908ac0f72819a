//! Disappearing messages: a timer per conversation, set by either side, that erases messages
//! a while after they are read (incoming) or sent (outgoing).
//!
//! - **Setting it** sends a timer body (content type `0x09`); both sides store it as a notice
//!   in the chat ("timer set to 1 hour"), and the conversation's timer is the one with the
//!   newest stamp, so two changes that cross settle the same way on both sides. The timers are
//!   kept in [`Timers`] and in memory.
//! - **Every text** sent while the timer is on carries it (`expire_secs`), and the receiver
//!   follows the message's own timer, so a message keeps the timer it was sent under even if
//!   the setting changes while it travels.
//! - **The clock starts** at sending for our own messages, and when we read an incoming one
//!   ([`crate::Node::mark_read`]): [`Expiries`] keeps each message's timer, [`ExpiryQueue`]
//!   the running ones in the order they run out.
//! - **Erasing** takes the message out of history, the search index, the chat-list preview and
//!   the event log, then compacts the files the way a delete does (see `changes`). Each
//!   erasure is one write that also removes its queue entry, so a crash between the expiry
//!   and the erasure leaves the entry in place, and the erasure runs at the next start
//!   before anything is served.
//! - **Groups** use the same timers, expiries and erasure under the group's `Conv`; the
//!   change travels through the group's log (`core/groups/outgoing.rs`, `entries.rs`), and
//!   an erased group message is reported as [`crate::GroupEvent::MessageExpired`].
//! - **Relays** hold the envelope until it is collected or their retention runs out, never
//!   longer; it is sealed, and tells them nothing of the timer.

use super::*;
use crate::{
    body::{DISAPPEAR_CHOICES, Timer},
    event::MessageKind,
    tables::{Expiries, ExpiryQueue, ExpiryRow, MessageKey, NoticeRow, Notices, TimerRow, Timers},
};

/// Most expired messages erased in one write.
const EXPIRE_BATCH: usize = 256;

/// A timer a chat may be set to: off (0) or one of [`DISAPPEAR_CHOICES`].
pub(super) fn check_timer(secs: u32) -> Result<(), Error> {
    if secs != 0 && !DISAPPEAR_CHOICES.contains(&secs) {
        return Err(Error::BadTimer(secs));
    }
    Ok(())
}

/// `message` with what its notice and timer rows add.
pub(super) fn with_extras(
    mut message: Message,
    notice: Option<&NoticeRow>,
    expiry: Option<&ExpiryRow>,
) -> Message {
    match notice {
        Some(NoticeRow::Timer(secs)) => message.kind = MessageKind::Timer { secs: *secs },
        Some(NoticeRow::IdentityChanged(held)) => {
            message.kind = MessageKind::IdentityChanged { held: *held }
        }
        // A group's notice is never in a 1:1 chat.
        Some(NoticeRow::Group(_)) | None => {}
    }
    if let Some(expiry) = expiry {
        message.disappear_secs = Some(expiry.secs);
        message.expires_at_ms = expiry.at_ms;
    }
    message
}

impl Core {
    /// Loads every conversation's timer, and when the first timer runs out.
    pub(super) async fn load_timers(&mut self) -> Result<(), Error> {
        let rows = self
            .read(|s| s.scan::<Timers>(.., ScanDirection::Forward, usize::MAX))
            .await?;
        self.timers = rows.into_iter().collect();
        self.next_expiry = self.first_expiry().await?;
        Ok(())
    }

    async fn first_expiry(&self) -> Result<Option<u64>, Error> {
        let first = self
            .read(|s| s.scan::<ExpiryQueue>(.., ScanDirection::Forward, 1))
            .await?;
        Ok(first.first().map(|((at, _), ())| *at))
    }

    /// The timer of `conv` in seconds, `None` when off.
    pub(super) fn timer(&self, conv: &Conv) -> Option<u32> {
        self.timers
            .get(conv)
            .map(|row| row.secs)
            .filter(|secs| *secs != 0)
    }

    /// Stages a message's timer; it runs from `now` when `started`.
    pub(super) fn stage_expiry(
        &mut self,
        batch: &mut Batch,
        key: MessageKey,
        secs: u32,
        started: bool,
    ) -> Result<ExpiryRow, Error> {
        let at_ms = started.then(|| self.time.now_ms() + u64::from(secs) * 1000);
        let row = ExpiryRow { secs, at_ms };
        batch.put::<Expiries>(&key, &row)?;
        if let Some(at) = at_ms {
            batch.put::<ExpiryQueue>(&(at, key), &())?;
            self.next_expiry = Some(self.next_expiry.map_or(at, |next| next.min(at)));
        }
        Ok(row)
    }

    /// Starts the timers of incoming messages just read.
    pub(super) async fn start_timers(
        &mut self,
        batch: &mut Batch,
        read: Vec<MessageKey>,
    ) -> Result<(), Error> {
        if read.is_empty() {
            return Ok(());
        }
        let rows = self
            .read(move |s| {
                let mut found = Vec::new();
                for key in read {
                    if let Some(row) = s.get::<Expiries>(&key)? {
                        found.push((key, row));
                    }
                }
                Ok(found)
            })
            .await?;
        for (key, row) in rows {
            if row.at_ms.is_none() {
                self.stage_expiry(batch, key, row.secs, true)?;
            }
        }
        Ok(())
    }

    /// Sets the timer of the conversation with `peer` (0: off) and tells the peer, as a
    /// notice in the chat. Part of a group of sends.
    pub(super) async fn stage_timer(
        &mut self,
        pending: &mut Pending,
        summaries: &mut HashMap<Conv, ConversationRow>,
        peer: UserId,
        secs: u32,
    ) -> Result<MessageId, Error> {
        check_timer(secs)?;
        let conv = self.conv(&peer);
        let id = MessageId::random(&mut UnwrapErr(getrandom::SysRng));
        let stamp = self.clock.tick(self.time.now_ms());
        let row = MessageRow {
            peer,
            direction: Direction::Outgoing,
            text: String::new(),
            state: DeliveryState::Queued,
            read: true,
        };
        self.stage_message(&mut pending.batch, summaries, conv, stamp, id, &row)
            .await?;
        let notice = NoticeRow::Timer(secs);
        pending
            .batch
            .put::<Notices>(&(conv, stamp, *id.as_bytes()), &notice)?;
        let timer = TimerRow { secs, stamp };
        pending.batch.put::<Timers>(&conv, &timer)?;
        self.timers.insert(conv, timer);
        self.enqueue(pending, peer, &Body::Timer(Timer { id, stamp, secs }), true)
            .await?;
        let message = to_message(id, stamp, &row, None);
        pending.events.push(Event::MessageSent(with_extras(
            message,
            Some(&notice),
            None,
        )));
        Ok(id)
    }

    /// Takes a timer change the peer (or a group's member) made: the conversation's timer
    /// follows it unless a newer change (ours, crossing it) is already in place. Equal stamps
    /// go to the longer timer, so every side settles the same way whatever order changes
    /// arrive in.
    pub(super) fn receive_timer(
        &mut self,
        batch: &mut Batch,
        conv: Conv,
        stamp: Stamp,
        secs: u32,
    ) -> Result<(), Error> {
        if self
            .timers
            .get(&conv)
            .is_some_and(|t| (t.stamp, t.secs) >= (stamp, secs))
        {
            return Ok(());
        }
        let timer = TimerRow { secs, stamp };
        batch.put::<Timers>(&conv, &timer)?;
        self.timers.insert(conv, timer);
        Ok(())
    }

    /// Erases the messages whose time has run out, a bounded number per write, until none is
    /// due.
    pub(super) async fn expire_due(&mut self) {
        let now = self.time.now_ms();
        while !self.failed && self.next_expiry.is_some_and(|at| at <= now) {
            match self.expire_some(now).await {
                Ok(()) => {}
                Err(e) => {
                    error!("cannot erase expired messages: {e}");
                    return;
                }
            }
        }
    }

    /// One write of [`Self::expire_due`].
    async fn expire_some(&mut self, now: u64) -> Result<(), Error> {
        let due = self
            .read(move |s| {
                let keys = s.scan::<ExpiryQueue>(
                    ..=(now, ([0xff; 16], u64::MAX, [0xff; 16])),
                    ScanDirection::Forward,
                    EXPIRE_BATCH,
                )?;
                let mut due = Vec::with_capacity(keys.len());
                for ((at, key), ()) in keys {
                    due.push((at, key, s.get::<Messages>(&key)?));
                }
                Ok(due)
            })
            .await?;
        let mut pending = Pending::new(Batch::new(), Vec::new());
        let mut summaries = HashMap::new();
        let groups = self.group_convs();
        for (at, key, row) in due {
            pending.batch.delete::<ExpiryQueue>(&(at, key));
            pending.batch.delete::<Expiries>(&key);
            // Gone already (deleted for me, or its chat deleted): only the timer goes.
            let Some(row) = row else { continue };
            let (conv, stamp, id) = key;
            let target = changes::Target {
                conv,
                stamp,
                id: MessageId::from_bytes(id),
                row,
                meta: Default::default(),
                notice: false,
            };
            let peer = target.row.peer;
            let id = target.id;
            let event = match groups.get(&conv) {
                Some(&group) => {
                    self.stage_group_erase(&mut pending, group, &target)?;
                    Event::Group {
                        group,
                        event: crate::GroupEvent::MessageExpired { id },
                    }
                }
                None => Event::MessageExpired { peer, id },
            };
            self.stage_erase(&mut pending, &mut summaries, target)
                .await?;
            pending.events.push(event);
        }
        for (conv, summary) in &summaries {
            pending.batch.put::<Conversations>(conv, summary)?;
        }
        self.commit(pending).await?;
        self.next_expiry = self.first_expiry().await?;
        Ok(())
    }
}
