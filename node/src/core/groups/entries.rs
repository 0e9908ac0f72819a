//! What the log tasks report: pages of a group's log, processed in order and committed with
//! the cursor in one write; and the outcomes of appends.

use tern_mls::{Change, EpochSide, ProcessError, Processed};
use tern_proto::grouplog::{Entry, Refusal, entry_digest};

use super::*;
use crate::{
    body::ReceiptKind,
    core::changes::{Change as MessageChange, Targets},
    group::log::{CommitCopy, Gap, Outcome, Report, Resume},
    group::tables::{COMMIT_COPIES, CommitCopyRow, GroupCommits},
};

/// What one log entry did, decided on the blocking pool and written by the core.
enum Effect {
    /// A member's application message.
    Message { sender: UserId, plaintext: Vec<u8> },
    /// Another member's commit, merged.
    Commit {
        committer: UserId,
        changes: Vec<Change>,
        own_lost: bool,
    },
    /// Our own commit, read back: it won, and made these changes.
    OwnCommit(Vec<Change>),
    /// Our own message or proposal, read back (its entry digest).
    Own([u8; 32]),
    /// A member proposed to leave; an admin commits it.
    Proposal,
    /// Refused, with the reason's name.
    Refused(&'static str),
}

/// How long members' leaves wait for the members named to commit them before any member does.
pub(crate) const LEAVE_FALLBACK_MS: u64 = 30_000;
/// How much longer each further member in the order waits.
pub(crate) const LEAVE_FALLBACK_STAGGER_MS: u64 = 10_000;

/// What an application message from the log was, for its page.
enum Received {
    /// A message now in history, at this stamp: it is to be acknowledged.
    Message(MessageId, Stamp),
    /// A change whose notice history holds at this stamp (a timer set).
    Notice(Stamp),
    /// A member's receipt for these messages.
    Receipt(ReceiptKind, Vec<MessageId>),
    /// Nothing to act on (a message we had, or a body refused).
    Nothing,
}

impl Core {
    pub(in crate::core) async fn on_log_report(&mut self, report: Report) {
        match report {
            Report::Entries {
                group,
                relay,
                entries,
                gap,
                reply,
            } => {
                let resume = match self.on_entries(group, relay, entries, gap).await {
                    Ok(resume) => resume,
                    Err(e) => {
                        warn!(group = %group.short(), "cannot process the group's log: {e}");
                        None
                    }
                };
                let _ = reply.send(resume);
                if let Err(e) = self.after_entries(group).await {
                    warn!(group = %group.short(), "cannot act on the group's log: {e}");
                }
            }
            Report::Reach {
                group,
                log,
                reachable,
            } => {
                if let Err(e) = self.on_reach(group, log, reachable).await {
                    warn!(group = %group.short(), "cannot record whether the group's log answers: {e}");
                }
            }
            Report::Expired { group } => {
                if let Err(e) = self.fell_behind(group).await {
                    warn!(group = %group.short(), "cannot record falling behind: {e}");
                }
            }
            Report::Appended {
                group,
                seq,
                outcome,
            } => {
                if let Err(e) = self.on_appended(group, seq, outcome).await {
                    warn!(group = %group.short(), "cannot record an append: {e}");
                }
                // The task took that one off its queue: room for one of its group's waiting.
                if let Some(live) = self.groups.live.get_mut(&group) {
                    live.hand_waiting();
                }
            }
        }
    }

    /// Processes a page; returns where the reader goes on (`None`: stop, we are out).
    async fn on_entries(
        &mut self,
        id: GroupId,
        relay: usize,
        entries: Vec<Entry>,
        gap: Option<Gap>,
    ) -> Result<Option<Resume>, Error> {
        let live = self.live(id)?;
        let (conv, log) = (live.conv, live.row.log);
        let Some(last) = entries.last().map(|e| e.seq) else {
            if let Some(gap) = gap {
                // Nothing left to read past the gap: record it, and read on after it.
                let mut pending = Pending::new(Batch::new(), Vec::new());
                let newest = self.newest_stamp(conv).await?;
                self.stage_gap(&mut pending, id, relay, gap, newest);
                let live = self.live_mut(id)?;
                if let Some(cursor) = live.row.cursors.get_mut(relay) {
                    *cursor = (*cursor).max(gap.last);
                }
                pending.batch.put::<Groups>(&live.conv, &live.row)?;
                self.commit(pending).await?;
            }
            let live = self.live(id)?;
            return Ok(Some(Resume {
                cursor: live.row.cursors.get(relay).copied().unwrap_or(0),
                access: live.access.clone(),
                epoch: live.mls().epoch(),
            }));
        };
        let ((effects, access, copies), layer) = self
            .with_group(id, move |cx, g| {
                let mut effects = Vec::with_capacity(entries.len());
                // The commits that moved the group on, to give a sequencer that missed them.
                let mut copies = Vec::new();
                for entry in &entries {
                    let digest = entry_digest(&entry.kind, &entry.body);
                    let seed = match entry.kind {
                        Kind::Commit { .. } => {
                            cx.op(|p, _, _| glue::current_access_seed(g, p, &log)).ok()
                        }
                        Kind::Message => None,
                    };
                    let own = cx.store.get::<GroupOwn>(&(conv, digest));
                    let effect = match own {
                        Ok(Some(_)) => {
                            if matches!(entry.kind, Kind::Commit { .. }) && g.has_pending_commit() {
                                match cx.op(|p, _, _| g.merge_own_commit(p, &Certificates)) {
                                    Ok(changes) => Effect::OwnCommit(changes),
                                    Err(_) => Effect::Refused("own_commit"),
                                }
                            } else {
                                Effect::Own(digest)
                            }
                        }
                        Ok(None) => match cx
                            .op(|p, _, _| glue::open_entry(g, p, &log, &entry.body).ok_or(()))
                        {
                            Err(()) => Effect::Refused("sealed_entry"),
                            Ok(message) => {
                                match cx.op(|p, _, _| g.process(p, &Certificates, &message)) {
                                    Ok(processed) => effect_of(processed),
                                    Err(e) => Effect::Refused(refusal_code(&e)),
                                }
                            }
                        },
                        Err(_) => Effect::Refused("storage"),
                    };
                    let left = !g.is_active();
                    if let (
                        Effect::Commit { .. } | Effect::OwnCommit(_),
                        Kind::Commit { epoch, next_key },
                        Some(seed),
                    ) = (&effect, entry.kind, seed)
                    {
                        let row = CommitCopyRow {
                            next_key,
                            body: entry.body.clone(),
                            seed,
                        };
                        copies.push((epoch, row));
                    }
                    effects.push((entry.seq, entry.stored_at, effect));
                    if left {
                        break;
                    }
                }
                let access = if g.is_active() {
                    // Under the log's id now: a commit in the page may have moved it.
                    let log = moving::log_id(g).unwrap_or(log);
                    cx.op(|p, _, _| glue::current_access(g, p, &log)).ok()
                } else {
                    None
                };
                Ok((effects, access, copies))
            })
            .await?;
        let mut pending = Pending::new(Batch::new(), Vec::new());
        // The newest stamp in history as the page goes: a change it brings stands after
        // what came before it in the log. Read only for a page with one to place.
        let commit = |(_, _, e): &(u64, u64, Effect)| {
            matches!(e, Effect::Commit { .. } | Effect::OwnCommit(_))
        };
        let places = gap.is_some() || effects.iter().any(commit);
        let mut newest = if places {
            self.newest_stamp(conv).await?
        } else {
            0
        };
        if let Some(gap) = gap {
            // Shown before the page's messages, which came after it.
            self.stage_gap(&mut pending, id, relay, gap, newest);
            newest += 1;
        }
        glue::stage(&mut pending.batch, layer)?;
        for (epoch, row) in &copies {
            pending.batch.put::<GroupCommits>(&(conv, *epoch), row)?;
            if let Some(old) = epoch.checked_sub(COMMIT_COPIES) {
                pending.batch.delete::<GroupCommits>(&(conv, old));
            }
        }
        let mut decided = Vec::new();
        let (mut received, mut receipts, mut fetches) = (Vec::new(), Vec::new(), Vec::new());
        // The messages this page stored or changed, for changes later in the page.
        let mut targets = Targets::new();
        for (seq, stored_at, effect) in effects {
            debug!(group = %id.short(), seq, "log entry");
            let at = entry_time(stored_at, self.time.now_ms(), newest);
            match effect {
                Effect::Message { sender, plaintext } => {
                    match self
                        .receive_group_message(
                            &mut pending,
                            (id, conv),
                            sender,
                            &plaintext,
                            (&mut fetches, &mut targets),
                        )
                        .await?
                    {
                        Received::Message(message, stamp) => {
                            received.push(message);
                            newest = newest.max(stamp);
                        }
                        Received::Notice(stamp) => newest = newest.max(stamp),
                        Received::Receipt(kind, ids) => receipts.push((sender, kind, ids)),
                        Received::Nothing => {}
                    }
                }
                Effect::Commit {
                    committer,
                    changes,
                    own_lost,
                } => {
                    if own_lost {
                        decided.push((None, at));
                    }
                    let from = pending.events.len();
                    for event in commits::change_events(committer, changes) {
                        pending.events.push(Event::Group { group: id, event });
                    }
                    pending.happened_since(from, at);
                    newest = newest.max(at + (pending.events.len() - from) as u64);
                }
                Effect::OwnCommit(changes) => {
                    // Room for what it reports once decided: at most an event per change.
                    newest = newest.max(at + changes.len() as u64);
                    decided.push((Some(changes), at));
                }
                Effect::Own(digest) => {
                    // Our message, read back: the own-entry row has done its job. Its outbox
                    // row goes with the append's report, which may come after this.
                    pending.batch.delete::<GroupOwn>(&(conv, digest));
                }
                Effect::Proposal => {
                    // A leave: counted from now if nobody commits it (after a restart, from
                    // the first tick).
                    let now = self.time.now_ms();
                    self.live_mut(id)?.leaves_since_ms.get_or_insert(now);
                }
                Effect::Refused(code) => {
                    *self.groups.refused.entry(code).or_default() += 1;
                    debug!(group = %id.short(), seq, "refused a log entry: {code}");
                }
            }
        }
        for (won, at) in decided {
            let from = pending.events.len();
            self.decide_own_commit(&mut pending, id, won).await?;
            pending.happened_since(from, at);
        }
        self.stage_due(&mut pending, id, &received)?;
        let counts = self.count_receipts(&mut pending, conv, receipts).await?;
        let live = self.live_mut(id)?;
        if let Some(cursor) = live.row.cursors.get_mut(relay) {
            *cursor = last;
        }
        let active = live.mls().is_active();
        let ended = live.row.active && !active;
        let moved = active && live.follow_log_move();
        if moved {
            moving::stage_forget_copies(&mut pending.batch, live.conv, live.mls().epoch());
            // An outage of the old log is over for us.
            live.outage.since_ms = None;
            failover::stage_outage(&mut pending.batch, live.conv, &live.outage)?;
        }
        live.row.active = active;
        live.row.name = live.mls().name().to_owned();
        if let Some(access) = &access {
            live.access = access.clone();
        }
        pending.batch.put::<Groups>(&live.conv, &live.row)?;
        let epoch = live.mls().epoch();
        if ended {
            self.stage_ended(&mut pending, id).await?;
        }
        self.commit(pending).await?;
        let live = self.live(id)?;
        for (epoch, row) in copies {
            live.copies.remember(commit_copy(epoch, row));
        }
        self.publish_receipts(id, counts);
        for fetch in fetches {
            self.queue_fetch(fetch);
        }
        if ended {
            self.stop_group(id);
            return Ok(None);
        }
        if moved {
            // This reader stops: a new task reads the new relays.
            self.log_moved(id).await?;
            return Ok(None);
        }
        Ok(access.map(|access| Resume {
            cursor: last,
            access,
            epoch,
        }))
    }

    /// Stages a member's application message: a text or a file goes to the group's history
    /// (a file's fetch, when the auto-download rule takes it, is added to `fetches` for
    /// after the write); a receipt is handed back for the page to count.
    async fn receive_group_message(
        &mut self,
        pending: &mut Pending,
        (id, conv): (GroupId, Conv),
        sender: UserId,
        plaintext: &[u8],
        (fetches, targets): (&mut Vec<crate::transfer::Fetch>, &mut Targets),
    ) -> Result<Received, Error> {
        let body = Payload::from_bytes(plaintext)
            .ok()
            .and_then(|payload| Body::from_payload(&payload).ok());
        let change = match &body {
            Some(Body::Edit(edit)) => Some((edit.target, MessageChange::Edit(edit.text.clone()))),
            Some(Body::Delete(delete)) => Some((delete.target, MessageChange::Delete)),
            Some(Body::Reaction(reaction)) => Some((
                reaction.target,
                MessageChange::React(reaction.emoji.clone()),
            )),
            _ => None,
        };
        let timer = match &body {
            Some(Body::Timer(timer)) => Some(timer.secs),
            _ => None,
        };
        let (message_id, sent, text, descriptor, reply_to, expire_secs) = match body {
            Some(Body::Text(text)) => (
                text.id,
                text.stamp,
                text.text,
                None,
                text.reply_to,
                text.expire_secs,
            ),
            Some(Body::Attachment(file)) => (
                file.id,
                file.stamp,
                file.caption,
                Some(file.descriptor),
                file.reply_to,
                file.expire_secs,
            ),
            Some(
                Body::Edit(crate::body::Edit { id, stamp, .. })
                | Body::Delete(crate::body::Delete { id, stamp, .. })
                | Body::Reaction(crate::body::Reaction { id, stamp, .. })
                | Body::Timer(crate::body::Timer { id, stamp, .. }),
            ) => (id, stamp, String::new(), None, None, None),
            Some(Body::Receipt(receipt)) => {
                return Ok(Received::Receipt(receipt.kind, receipt.messages));
            }
            _ => {
                *self.groups.refused.entry("unsupported_body").or_default() += 1;
                return Ok(Received::Nothing);
            }
        };
        let known = self
            .read(move |s| s.get::<MessageIndex>(&(conv, *message_id.as_bytes())))
            .await?;
        if known.is_some() || targets.contains_key(&(conv, *message_id.as_bytes())) {
            return Ok(Received::Nothing);
        }
        let now = self.time.now_ms();
        let stamp = Hlc::clamp(sent, now);
        self.clock.observe(sent, now);
        if let Some((target, change)) = change {
            // Indexed like a message, so that a second copy is a duplicate.
            pending
                .batch
                .put::<MessageIndex>(&(conv, *message_id.as_bytes()), &stamp)?;
            self.receive_group_change(
                pending,
                (id, conv),
                targets,
                (sender, stamp),
                (target, change),
            )
            .await?;
            return Ok(Received::Nothing);
        }
        if let Some(secs) = timer {
            self.stage_timer_change(pending, (id, conv), (message_id, stamp), sender, secs)?;
            return Ok(Received::Notice(stamp));
        }
        let attachment = match descriptor {
            None => None,
            Some(descriptor) => {
                let state =
                    attachments::arriving_state(&descriptor, true, self.auto_download(&conv));
                if state == crate::tables::TransferV1::Fetching {
                    fetches.push(crate::transfer::Fetch {
                        chat: crate::ChatId::Group(id),
                        sender,
                        id: message_id,
                        descriptor: descriptor.clone(),
                        relays: Vec::new(),
                    });
                }
                let row = crate::tables::AttachmentRow { descriptor, state };
                let key = (conv, stamp, *message_id.as_bytes());
                pending
                    .batch
                    .put::<crate::tables::Attachments>(&key, &row)?;
                crate::Attachment::from_descriptor(&row.descriptor, &row.state)
            }
        };
        let message = GroupMessage {
            id: message_id,
            group: id,
            sender,
            direction: Direction::Incoming,
            text,
            attachment,
            reply_to,
            edited_at_ms: None,
            reactions: Vec::new(),
            deleted: false,
            sent_at_ms: hlc::millis(sent),
            state: DeliveryState::Delivered,
            delivery: None,
            disappear_secs: None,
            expires_at_ms: None,
            notice: None,
        };
        // The message keeps the timer it was sent under; its clock starts when it is read.
        let message = match expire_secs {
            Some(secs) => {
                let key = (conv, stamp, *message_id.as_bytes());
                let expiry = self.stage_expiry(&mut pending.batch, key, secs, false)?;
                with_expiry(message, &expiry)
            }
            None => message,
        };
        let target = stage_history(pending, conv, stamp, message)?;
        targets.insert((conv, *message_id.as_bytes()), std::sync::Arc::new(target));
        self.count_unread(pending, id)?;
        Ok(Received::Message(message_id, stamp))
    }

    /// Stages the end of group `id` for us (a commit removed us, or took our leave): the
    /// messages held for a leave fail, and the event says so.
    pub(super) async fn stage_ended(
        &mut self,
        pending: &mut Pending,
        id: GroupId,
    ) -> Result<(), Error> {
        self.stage_held_failed(pending, id).await?;
        pending.events.push(Event::Group {
            group: id,
            event: GroupEvent::Ended,
        });
        Ok(())
    }

    /// Our pending commit was decided: it won with these changes (send its Welcome, report
    /// them) or lost, `None`: set aside in this write, and made again on the new epoch by the
    /// next outbox tick ([`Core::remake_set_aside_commits`]).
    pub(super) async fn decide_own_commit(
        &mut self,
        pending: &mut Pending,
        id: GroupId,
        won: Option<Vec<Change>>,
    ) -> Result<(), Error> {
        let live = self.live(id)?;
        let Some((seq, row)) = live.pending_commit() else {
            return Ok(());
        };
        let OutgoingRow::Commit {
            welcome, intent, ..
        } = row.what.clone()
        else {
            return Ok(());
        };
        let (log, sequencers) = (live.row.log, live.row.sequencers.clone());
        self.forget_own(pending, id, seq)?;
        let me = self.account.user_id();
        self.groups.followups.push(Followup::Adds);
        let Some(changes) = won else {
            info!(group = %id.short(), "our commit lost its epoch; making it again");
            let live = self.live_mut(id)?;
            live.outage.set_aside = Some(intent);
            failover::stage_outage(&mut pending.batch, live.conv, &live.outage)?;
            return Ok(());
        };
        match &intent {
            IntentRow::Add(adds) => {
                let members: Vec<UserId> = adds.iter().map(|(user, _)| *user).collect();
                if let Some(welcome) = welcome {
                    self.send_invites(pending, (id, &members), welcome, log, sequencers)
                        .await?;
                }
            }
            IntentRow::Readd(member, _) => {
                if let Some(welcome) = welcome {
                    self.send_invites(pending, (id, &[*member]), welcome, log, sequencers)
                        .await?;
                }
            }
            IntentRow::Update => self.renewed(pending, id)?,
            IntentRow::Remove(_)
            | IntentRow::Rename(_)
            | IntentRow::Admin(..)
            | IntentRow::Pending
            | IntentRow::Move(_) => {}
        }
        // Reported from what the commit did, as the other members see it: with the leaves
        // it took along and an admin it promoted, which the intent does not name.
        for event in commits::change_events(me, changes) {
            pending.events.push(Event::Group { group: id, event });
        }
        Ok(())
    }

    /// Drops outgoing entry `seq` from the outbox and own entries.
    pub(super) fn forget_own(
        &mut self,
        pending: &mut Pending,
        id: GroupId,
        seq: u64,
    ) -> Result<(), Error> {
        let live = self.live_mut(id)?;
        if let Some(row) = live.outbox.remove(&seq) {
            let digest = entry_digest(&kind_of(&row), &row.body);
            pending.batch.delete::<GroupOutbox>(&(live.conv, seq));
            pending.batch.delete::<GroupOwn>(&(live.conv, digest));
        }
        Ok(())
    }

    /// What a page leaves to do once written: a member's leave is committed by an admin
    /// that stays, or, when the last admin left, by the member the commit promotes.
    async fn after_entries(&mut self, id: GroupId) -> Result<(), Error> {
        // Not while a commit of ours waits for the log or is set aside: that comes first.
        if self
            .ready(id)
            .is_ok_and(|live| live.mls().commits_pending())
        {
            self.commit_intent(id, IntentRow::Pending).await?;
        }
        self.redo_stale_leave(id).await?;
        self.release_held(id).await
    }

    /// On the outbox tick: commits members' leaves that the members named to commit them
    /// left waiting (they are offline). Until a leave is committed nobody in the group can
    /// send, so after [`LEAVE_FALLBACK_MS`] any member steps in, one
    /// [`LEAVE_FALLBACK_STAGGER_MS`] later per place in the order (longest-standing first),
    /// so that members seldom race for the epoch; the log decides a race all the same.
    pub(crate) async fn commit_waiting_leaves(&mut self) {
        let now = self.time.now_ms();
        let held = self.active_groups_where(|live| {
            !live.mls().proposals_pending() && live.outbox.values().any(outgoing::is_held)
        });
        for id in held {
            if let Err(e) = self.release_held(id).await {
                warn!(group = %id.short(), "cannot send the messages held for a leave: {e}");
            }
        }
        for live in self.groups.live.values_mut() {
            if !(live.row.active && live.mls().proposals_pending()) {
                live.leaves_since_ms = None;
            } else if live.leaves_since_ms.is_none() {
                live.leaves_since_ms = Some(now);
            }
        }
        let due = self.active_groups_where(|live| {
            let (Some(since), Some(rank)) = (live.leaves_since_ms, live.mls().fallback_rank())
            else {
                return false;
            };
            let wait = LEAVE_FALLBACK_MS
                .saturating_add(LEAVE_FALLBACK_STAGGER_MS.saturating_mul(rank as u64));
            live.pending_commit().is_none() && now >= since.saturating_add(wait)
        });
        for id in due {
            if let Some(live) = self.groups.live.get_mut(&id) {
                // Tried again a whole wait later, should this one fail or lose.
                live.leaves_since_ms = Some(now);
            }
            match self.commit_intent(id, IntentRow::Pending).await {
                Ok(()) => info!(group = %id.short(), "committing a leave nobody committed"),
                Err(e) => warn!(group = %id.short(), "cannot commit a waiting leave: {e}"),
            }
        }
    }

    async fn on_appended(&mut self, id: GroupId, seq: u64, outcome: Outcome) -> Result<(), Error> {
        let Some(live) = self.groups.live.get(&id) else {
            return Ok(());
        };
        let Some(row) = live.outbox.get(&seq).cloned() else {
            return Ok(());
        };
        let (conv, replicas) = (live.conv, live.row.sequencers.len());
        match (outcome, &row.what) {
            // Held by none yet, the sequencers that missed it still to try: still queued.
            (Outcome::Storing(0), _) => {}
            (
                outcome @ (Outcome::Stored(stored) | Outcome::Storing(stored)),
                OutgoingRow::Message { .. } | OutgoingRow::Leave,
            ) => {
                // Held by every sequencer that could take it: out of the outbox. One that
                // missed it keeps it there until it has it, so that a restart tries again.
                // The own-entry row stays until the reader meets the entry (perhaps it
                // already has), so that it is not taken for someone else's.
                let mut batch = Batch::new();
                if let Outcome::Stored(_) = outcome {
                    self.live_mut(id)?.outbox.remove(&seq);
                    batch.delete::<GroupOutbox>(&(conv, seq));
                }
                let mut events = Vec::new();
                if let OutgoingRow::Message { id: message, .. } = row.what {
                    let state = DeliveryState::StoredAtRelays {
                        stored: u8::try_from(stored).unwrap_or(u8::MAX),
                        replicas: u8::try_from(replicas).unwrap_or(u8::MAX),
                    };
                    if self
                        .stage_message_state(&mut batch, conv, message, state)
                        .await?
                    {
                        events.push(Event::Group {
                            group: id,
                            event: GroupEvent::Stored {
                                id: MessageId::from_bytes(message),
                                relays: u32::try_from(stored).unwrap_or(u32::MAX),
                            },
                        });
                    }
                }
                self.commit(Pending::new(batch, events)).await?;
            }
            // A commit waits in the outbox for the reader: the log's order decides it.
            (
                Outcome::Stored(_) | Outcome::Storing(_) | Outcome::Lost,
                OutgoingRow::Commit { .. },
            ) => {}
            (Outcome::Lost, _) => {}
            (Outcome::Refused(Refusal::Retired), what @ OutgoingRow::Message { .. }) => {
                // Its epoch ended before a sequencer took it: encrypt it again in this one.
                self.remake(id, vec![(seq, what.clone())]).await?;
            }
            // Our leave's epoch ended first: it stays until the reader has the commit that
            // ended it, then is made again (`Core::redo_stale_leave`).
            (Outcome::Refused(Refusal::Retired), OutgoingRow::Leave) => {}
            (Outcome::Refused(refusal), what) => {
                warn!(group = %id.short(), "a sequencer refused our entry: {refusal}");
                *self.groups.refused.entry(refusal.code()).or_default() += 1;
                let mut pending = Pending::new(Batch::new(), Vec::new());
                if let OutgoingRow::Commit { .. } = what {
                    // Drop the commit: the group goes on in its epoch.
                    let ((), layer) = self
                        .with_group(id, |cx, g| {
                            cx.op(|p, _, _| g.discard_own_commit(p))
                                .map_err(|e| Error::Group(e.into()))
                        })
                        .await?;
                    glue::stage(&mut pending.batch, layer)?;
                }
                if let OutgoingRow::Message { id: message, .. } = what {
                    // Refused for good: the chat shows it failed rather than queued for ever.
                    let state = DeliveryState::Failed;
                    self.stage_message_state(&mut pending.batch, conv, *message, state)
                        .await?;
                }
                self.forget_own(&mut pending, id, seq)?;
                self.commit(pending).await?;
            }
        }
        Ok(())
    }

    /// Reads each group's last commits for its log task (once the groups are live).
    pub(super) async fn load_commit_copies(&mut self) -> Result<(), Error> {
        let rows = self
            .read(|s| s.scan::<GroupCommits>(.., ScanDirection::Forward, usize::MAX))
            .await?;
        for ((conv, epoch), row) in rows {
            if let Some(live) = self.groups.live.values().find(|l| l.conv == conv) {
                live.copies.remember(commit_copy(epoch, row));
            }
        }
        Ok(())
    }

    /// Stops a group's log task (we are out of it).
    pub(super) fn stop_group(&mut self, id: GroupId) {
        if let Some(live) = self.groups.live.get_mut(&id) {
            live.cancel.cancel();
            live.control = None;
        }
    }
}

fn commit_copy(epoch: u64, row: CommitCopyRow) -> CommitCopy {
    CommitCopy {
        epoch,
        next_key: row.next_key,
        body: row.body,
        access: glue::access(&row.seed),
    }
}

fn effect_of(processed: Processed) -> Effect {
    let account = |m: &tern_mls::Member| glue::account(&m.identity);
    match processed {
        Processed::Application { sender, plaintext } => match account(&sender) {
            Some(sender) => Effect::Message { sender, plaintext },
            None => Effect::Refused("bad_identity"),
        },
        Processed::Proposal { .. } => Effect::Proposal,
        Processed::Commit {
            committer,
            changes,
            own_commit_lost,
        } => match account(&committer) {
            Some(committer) => Effect::Commit {
                committer,
                changes,
                own_lost: own_commit_lost,
            },
            None => Effect::Refused("bad_identity"),
        },
        Processed::OwnCommit { changes } => Effect::OwnCommit(changes),
        _ => Effect::Refused("unexpected"),
    }
}

/// A stable name for each refusal, for counters.
pub(super) fn refusal_code(error: &ProcessError) -> &'static str {
    match error {
        ProcessError::TooLarge(_) => "too_large",
        ProcessError::Malformed => "malformed",
        ProcessError::WrongGroup => "wrong_group",
        ProcessError::WrongEpoch {
            side: EpochSide::Past,
            ..
        } => "past_epoch",
        ProcessError::WrongEpoch { .. } => "future_epoch",
        ProcessError::NonMember => "non_member",
        ProcessError::Forged(_) => "forged",
        ProcessError::Policy(_) => "policy",
        ProcessError::Credential(_) => "credential",
        ProcessError::Storage(_) => "storage",
        _ => "invalid",
    }
}
