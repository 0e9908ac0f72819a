//! Receiving: groups of envelopes, each staged against a savepoint so that one failure
//! commits nothing of it, deduplicated, decrypted and committed with the session state it
//! advanced.

mod prepare;

pub(super) use prepare::Prepared;

use super::{requests::Standing, *};
use crate::network::PeerStanding;

/// What a group of received envelopes has staged so far, so that later envelopes of the same
/// group see the effects of earlier ones before anything is committed.
#[derive(Default, Clone)]
pub(super) struct Group {
    pub(super) seen: std::collections::HashSet<[u8; 16]>,
    pub(super) ids: std::collections::HashSet<(Conv, [u8; 16])>,
    pub(super) replays: std::collections::HashSet<[u8; 32]>,
    pub(super) summaries: HashMap<Conv, ConversationRow>,
    pub(super) touched: Vec<UserId>,
    pub(super) prekeys_changed: bool,
    /// Whether the envelope being processed came from a relay.
    pub(super) via_relay: bool,
    /// Texts collected from relays, by sender: their senders get delivery receipts.
    pub(super) delivered: Vec<(UserId, MessageId)>,
    /// The send stamp of each `MessageReceived` event the group adds, in event order.
    pub(super) received_stamps: Vec<Stamp>,
    /// Message requests the group changed (over the committed area).
    pub(super) requests: HashMap<Conv, crate::tables::RequestRow>,
    /// Request messages the group dropped to stay within the caps.
    pub(super) dropped: u64,
    /// Where the sender of the envelope being processed stands, once it is known.
    pub(super) standing: Option<Standing>,
    /// The disk is short of space: strangers' messages wait (`Busy`).
    pub(super) short: bool,
    /// Messages the group stored or changed, for changes later in the group.
    pub(super) targets: changes::Targets,
    /// Identity keys the group pinned or saw change, for memory once it is committed.
    pub(super) identities: HashMap<UserId, crate::tables::IdentityRow>,
    /// The identity key of the session start the envelope being processed carried, when it
    /// started a new session.
    pub(super) started: Option<[u8; 32]>,
    /// Files to fetch once the group is durable.
    pub(super) fetches: Vec<crate::transfer::Fetch>,
    /// Changes the group holds for targets not yet arrived.
    pub(super) orphans: Vec<(
        <crate::tables::Orphans as crate::store::Table>::Key,
        crate::tables::OrphanRow,
    )>,
}

/// What a received message has beyond its text and meta row.
#[derive(Debug, Default)]
pub(super) struct Extras {
    /// What it shows when it is a notice (a timer change) rather than a text.
    pub(super) notice: Option<crate::tables::NoticeRow>,
    /// Its disappearing-message timer, in seconds.
    pub(super) expire_secs: Option<u32>,
    /// Its file, when it carries one.
    pub(super) file: Option<crate::tables::AttachmentRow>,
}

/// Everything one received envelope may change before its group commits, taken before it is
/// processed: if processing fails half-way, restoring it undoes the envelope's effects (in
/// memory and in the batch) and leaves those of the envelopes before it.
pub(super) struct Savepoint {
    pub(super) sender: Option<UserId>,
    /// The sender's sessions as they were (`None`: not cached).
    pub(super) sessions: Option<Vec<zeroize::Zeroizing<Vec<u8>>>>,
    pub(super) clock: Hlc,
    pub(super) staged: Group,
    pub(super) batch_len: usize,
    pub(super) events_len: usize,
}

/// Prekey secrets as they were before a received group, and before its current envelope,
/// consumed a one-time prekey; kept only while a group is processed.
#[derive(Default)]
pub(super) struct Undo {
    pub(super) group_prekeys: Option<zeroize::Zeroizing<Vec<u8>>>,
    pub(super) envelope_prekeys: Option<zeroize::Zeroizing<Vec<u8>>>,
}

impl Savepoint {
    pub(super) fn take(
        core: &mut Core,
        pending: &Pending,
        staged: &Group,
        prepared: &Prepared,
    ) -> Self {
        core.undo.envelope_prekeys = None;
        let opened = match &prepared.opened {
            Some(Ok(opened)) => Some(opened),
            _ => None,
        };
        let sender = opened.map(|o| o.sender);
        Self {
            sender,
            sessions: sender.and_then(|sender| {
                core.sessions
                    .get(&sender)
                    .map(|sessions| sessions.iter().map(Session::to_bytes).collect())
            }),
            clock: core.clock,
            staged: staged.clone(),
            batch_len: pending.batch.len(),
            events_len: pending.events.len(),
        }
    }

    pub(super) fn restore(self, core: &mut Core, pending: &mut Pending, staged: &mut Group) {
        if let Some(sender) = self.sender {
            match self.sessions {
                Some(saved) => {
                    let sessions = saved
                        .iter()
                        .filter_map(|bytes| Session::from_bytes(bytes).ok())
                        .collect();
                    core.sessions.insert(sender, sessions);
                }
                // Reloaded from the store, which holds no effect of this group yet.
                None => {
                    core.sessions.remove(&sender);
                }
            }
        }
        if let Some(bytes) = core.undo.envelope_prekeys.take() {
            core.restore_prekeys(&bytes);
        }
        core.clock = self.clock;
        *staged = self.staged;
        pending.batch.truncate(self.batch_len);
        pending.events.truncate(self.events_len);
        pending
            .happened
            .retain(|(event, _)| *event < self.events_len);
    }
}

impl Core {
    pub(super) async fn on_inbound(&mut self, group: Vec<Inbound>) {
        if self.failed {
            for item in group {
                let _ = item.reply.send(Status::Unavailable);
            }
            return;
        }
        let room = self.room();
        if room == Room::Full {
            // Senders retry, and relays keep the mail: nothing is lost while space is freed.
            self.storage_full += group.len() as u64;
            for item in group {
                let _ = item.reply.send(Status::Busy);
            }
            return;
        }
        let mut pending = Pending::new(Batch::new(), Vec::new());
        let mut answers = Vec::with_capacity(group.len());
        let mut staged = Group {
            short: room == Room::Short,
            ..Group::default()
        };
        let (group, prepared) = match self.prepare(group).await {
            Ok(prepared) => prepared,
            Err((group, e)) => {
                error!("cannot prepare received envelopes: {e}");
                for item in group {
                    let _ = item.reply.send(Status::Unavailable);
                }
                return;
            }
        };
        self.undo = Undo::default();
        // What to tell the network task about the peers that delivered directly.
        let mut standings: HashMap<libp2p::PeerId, PeerStanding> = HashMap::new();
        for (item, prepared) in group.into_iter().zip(prepared) {
            staged.via_relay = item.via_relay;
            staged.standing = None;
            let from_device = !item.via_relay && self.is_senders_device(&item.peer, &prepared);
            let savepoint = Savepoint::take(self, &pending, &staged, &prepared);
            let status = match self.receive(&mut pending, &mut staged, prepared).await {
                Ok(status) => status,
                Err(e) => {
                    // Nothing of this envelope is committed: the sender's retry is processed
                    // afresh, so the message is not lost.
                    error!(peer = %item.peer, "receiving failed: {e}");
                    savepoint.restore(self, &mut pending, &mut staged);
                    Status::Unavailable
                }
            };
            if !item.via_relay {
                match (staged.standing, status) {
                    (Some(Standing::Blocked), _) => {
                        standings.insert(item.peer, PeerStanding::Refused);
                    }
                    (Some(Standing::Accepted), Status::Stored) if from_device => {
                        standings.insert(item.peer, PeerStanding::Trusted);
                    }
                    _ => {}
                }
            }
            answers.push((item.reply, status));
        }
        // Identity changes the group saw apply before its receipts are sealed, so that a
        // peer held by one gets none; undone below if the group is not committed.
        let identities_before: Vec<_> = staged
            .identities
            .keys()
            .map(|peer| (*peer, self.identities.get(peer).cloned()))
            .collect();
        self.identities
            .extend(std::mem::take(&mut staged.identities));
        // A sender whose message went through a relay learns it arrived from a receipt, in
        // the same write as the messages.
        let mut receipts = Ok(());
        let mut by_sender: HashMap<UserId, Vec<MessageId>> = HashMap::new();
        for (sender, id) in std::mem::take(&mut staged.delivered) {
            by_sender.entry(sender).or_default().push(id);
        }
        for (sender, ids) in by_sender {
            if receipts.is_ok() {
                receipts = self
                    .enqueue_receipts(&mut pending, sender, ReceiptKind::Delivered, &ids)
                    .await;
            }
            if !staged.touched.contains(&sender) {
                staged.touched.push(sender);
            }
        }
        in_sent_order(&mut pending.events, &staged.received_stamps);
        let committed = match receipts.and_then(|()| self.stage_group(&mut pending, &staged)) {
            Ok(()) => self.commit(pending).await.is_ok(),
            Err(e) => {
                error!("cannot stage received messages: {e}");
                false
            }
        };
        if !committed {
            // The sessions the group advanced are read again from the store, which holds
            // none of its effects.
            for peer in &staged.touched {
                self.sessions.remove(peer);
            }
            if let Some(bytes) = self.undo.group_prekeys.take() {
                self.restore_prekeys(&bytes);
            }
            for (peer, row) in identities_before {
                match row {
                    Some(row) => self.identities.insert(peer, row),
                    None => self.identities.remove(&peer),
                };
            }
        }
        self.undo = Undo::default();
        if committed {
            for fetch in std::mem::take(&mut staged.fetches) {
                self.queue_fetch(fetch);
            }
            for (conv, row) in &staged.requests {
                if row.messages.is_empty() {
                    self.sessions.remove(&row.peer);
                    debug!(conv = ?&conv[..4], "a message request lost its last message");
                }
            }
            self.area.apply(std::mem::take(&mut staged.requests));
            self.requests_dropped += staged.dropped;
            for (peer, standing) in standings {
                self.net.set_standing(peer, standing);
            }
        }
        for (reply, status) in answers {
            let _ = reply.send(if committed {
                status
            } else {
                Status::Unavailable
            });
        }
        if committed {
            self.dispatch_due().await;
        }
    }

    /// Whether `peer`, which delivered `prepared` directly, is its sender's device: it brought
    /// a direct envelope, which only that device makes, or it is the device the sender's
    /// record names. A peer that brings a sealed envelope could be a relay holding the
    /// sender's mail, and earns nothing by it (the rate of an accepted sender's device).
    fn is_senders_device(&self, peer: &libp2p::PeerId, prepared: &Prepared) -> bool {
        prepared.direct
            || matches!(&prepared.opened, Some(Ok(opened))
                if self.records.device_of(&opened.sender) == Some(*peer))
    }

    pub(super) fn restore_prekeys(&mut self, bytes: &[u8]) {
        match PrekeySecrets::from_bytes(bytes) {
            Ok(prekeys) => self.prekeys = prekeys,
            Err(e) => error!("cannot restore prekey secrets: {e}"),
        }
    }

    /// Adds what a group of received envelopes changed in memory to its batch.
    pub(super) fn stage_group(&self, pending: &mut Pending, staged: &Group) -> Result<(), Error> {
        for peer in &staged.touched {
            self.stage_sessions(&mut pending.batch, peer)?;
        }
        for (conv, summary) in &staged.summaries {
            pending.batch.put::<Conversations>(conv, summary)?;
        }
        self.stage_emptied_requests(&mut pending.batch, &staged.requests)?;
        if staged.prekeys_changed {
            pending
                .batch
                .put::<State>(&STATE_PREKEYS.to_owned(), &self.prekeys.to_bytes())?;
        }
        Ok(())
    }

    /// Processes one envelope into `pending`. Returns the status to answer once committed.
    pub(super) async fn receive(
        &mut self,
        pending: &mut Pending,
        staged: &mut Group,
        prepared: Prepared,
    ) -> Result<Status, Error> {
        let digest = prepared.digest;
        if staged.via_relay && prepared.direct {
            // Only the sender's device may bring a direct envelope, which names its sender in
            // the clear; one that a relay held was never meant for it.
            debug!("refused a direct envelope collected from a relay");
            return Ok(Status::Rejected);
        }
        if staged.seen.contains(&digest) {
            return Ok(Status::Duplicate);
        }
        let opened = match prepared.opened {
            None => {
                // Collected from a relay although it came directly before: the sender did not
                // get our answer, and still waits for a receipt.
                if staged.via_relay
                    && let Some(ack) = self.read(move |s| s.get::<Acks>(&digest)).await?
                {
                    staged
                        .delivered
                        .push((ack.sender, MessageId::from_bytes(ack.id)));
                }
                return Ok(Status::Duplicate);
            }
            Some(Ok(opened)) => opened,
            Some(Err(e)) => {
                debug!("refused an envelope: {e}");
                return Ok(Status::Rejected);
            }
        };
        let sender = opened.sender;
        if !staged.via_relay && self.fetching_from.contains(&sender) {
            // Its device is online: files waiting for it are fetched now.
            self.transfers.online(sender);
        }
        let standing = self.standing(&sender).await?;
        staged.standing = Some(standing);
        if standing == Standing::Blocked {
            debug!(sender = %sender.short(), "refused an envelope from a blocked account");
            return Ok(Status::Rejected);
        }
        if standing == Standing::Stranger && staged.short {
            // The disk's last room is kept for contacts: a stranger's message waits.
            self.storage_full += 1;
            return Ok(Status::Busy);
        }
        self.load_sessions(&sender).await?;
        staged.started = None;
        let Some(plaintext) = self
            .decrypt(pending, staged, sender, &opened.message)
            .await?
        else {
            return Ok(Status::Undecryptable);
        };
        if let Some(key) = staged.started.take()
            && standing == Standing::Accepted
        {
            self.observe_start(pending, staged, sender, key).await?;
        }
        if !staged.touched.contains(&sender) {
            staged.touched.push(sender);
        }
        staged.seen.insert(digest);
        pending
            .batch
            .put::<Seen>(&digest, &(self.time.now_ms() + SEEN_RETENTION_MS))?;

        let body = match Payload::from_bytes(&plaintext)
            .map_err(|e| e.to_string())
            .and_then(|p| Body::from_payload(&p).map_err(|e| e.to_string()))
        {
            Ok(body) => body,
            Err(e) => {
                // The session advanced (the sender's key is used), so the state is committed,
                // but there is nothing to show.
                debug!(sender = %sender.short(), "undecodable body: {e}");
                return Ok(Status::Stored);
            }
        };
        let conv = self.conv(&sender);
        let id = body.id();
        if staged.ids.contains(&(conv, *id.as_bytes()))
            || self
                .read(move |s| s.get::<MessageIndex>(&(conv, *id.as_bytes())))
                .await?
                .is_some()
        {
            return Ok(Status::Duplicate);
        }
        staged.ids.insert((conv, *id.as_bytes()));
        let now = self.time.now_ms();
        self.clock.observe(body.stamp(), now);
        let stamp = Hlc::clamp(body.stamp(), now);
        let change = match body {
            // Receipts only concern messages we sent, which made their sender accepted.
            Body::Receipt(_) if standing != Standing::Accepted => None,
            Body::Silent { .. } => None,
            Body::Text(text) => {
                let meta = crate::tables::MetaRow {
                    reply_to: text.reply_to.map(|m| *m.as_bytes()),
                    ..Default::default()
                };
                self.receive_message(
                    pending,
                    staged,
                    (sender, standing),
                    (id, stamp, digest),
                    (text.text, meta),
                    Extras {
                        notice: None,
                        expire_secs: text.expire_secs,
                        file: None,
                    },
                )
                .await?;
                None
            }
            Body::Attachment(attachment) => {
                let who = (sender, standing);
                self.receive_attachment(pending, staged, who, (id, stamp, digest), attachment)
                    .await?;
                None
            }
            Body::Timer(timer) => {
                self.receive_message(
                    pending,
                    staged,
                    (sender, standing),
                    (id, stamp, digest),
                    (String::new(), crate::tables::MetaRow::default()),
                    Extras {
                        notice: Some(crate::tables::NoticeRow::Timer(timer.secs)),
                        expire_secs: None,
                        file: None,
                    },
                )
                .await?;
                // A stranger does not set our timers.
                if standing == Standing::Accepted {
                    self.receive_timer(&mut pending.batch, conv, stamp, timer.secs)?;
                }
                None
            }
            Body::Control(control) => {
                let accepted = standing == Standing::Accepted;
                self.receive_signal(sender, accepted, staged.via_relay, stamp, control.signal);
                None
            }
            Body::Group(control) => {
                if standing == Standing::Accepted {
                    pending
                        .batch
                        .put::<MessageIndex>(&(conv, *id.as_bytes()), &stamp)?;
                    self.receive_group_control(pending, sender, control).await?;
                }
                None
            }
            Body::Profile(profile) => {
                if standing == Standing::Accepted {
                    pending
                        .batch
                        .put::<MessageIndex>(&(conv, *id.as_bytes()), &stamp)?;
                    self.receive_profile(pending, sender, conv, stamp, profile)
                        .await?;
                }
                None
            }
            Body::Unsupported { content_type, .. } => {
                let meta = crate::tables::MetaRow {
                    unsupported: Some(content_type),
                    ..Default::default()
                };
                self.receive_message(
                    pending,
                    staged,
                    (sender, standing),
                    (id, stamp, digest),
                    (String::new(), meta),
                    Extras::default(),
                )
                .await?;
                None
            }
            Body::Edit(edit) => Some((edit.target, Change::Edit(edit.text))),
            Body::Delete(delete) => Some((delete.target, Change::Delete)),
            Body::Reaction(reaction) if standing == Standing::Accepted => {
                Some((reaction.target, Change::React(reaction.emoji)))
            }
            Body::Reaction(_) => None,
            Body::Receipt(receipt) => {
                pending
                    .batch
                    .put::<MessageIndex>(&(conv, *id.as_bytes()), &stamp)?;
                let state = match receipt.kind {
                    ReceiptKind::Delivered => DeliveryState::Delivered,
                    ReceiptKind::Read => DeliveryState::Read,
                };
                let moves = receipt
                    .messages
                    .into_iter()
                    .map(|message| (sender, message, state))
                    .collect();
                let events = self.advance_states(&mut pending.batch, moves).await?;
                pending.events.extend(events);
                None
            }
        };
        if let Some((target, change)) = change {
            // Indexed like a message, so that a re-encrypted copy is a duplicate.
            pending
                .batch
                .put::<MessageIndex>(&(conv, *id.as_bytes()), &stamp)?;
            let accepted = standing == Standing::Accepted;
            self.receive_change(pending, staged, sender, accepted, (target, stamp, change))
                .await?;
        }
        Ok(Status::Stored)
    }

    /// Stores a received message (a text, or a kind this version cannot show) with the
    /// changes that arrived before it.
    pub(super) async fn receive_message(
        &mut self,
        pending: &mut Pending,
        staged: &mut Group,
        (sender, standing): (UserId, Standing),
        (id, stamp, digest): (MessageId, Stamp, [u8; 16]),
        (text, meta): (String, crate::tables::MetaRow),
        extras: Extras,
    ) -> Result<(), Error> {
        let conv = self.conv(&sender);
        let mut target = changes::Target {
            conv,
            stamp,
            id,
            row: MessageRow {
                peer: sender,
                direction: Direction::Incoming,
                text,
                state: DeliveryState::Delivered,
                read: false,
            },
            meta,
            notice: extras.notice.is_some(),
        };
        self.adopt_orphans(pending, staged, &mut target).await?;
        let key = (conv, stamp, *id.as_bytes());
        if let Some(notice) = &extras.notice {
            pending.batch.put::<crate::tables::Notices>(&key, notice)?;
        }
        let expiry = match extras.expire_secs {
            // The clock starts when we read it.
            Some(secs) if !target.meta.deleted => {
                Some(self.stage_expiry(&mut pending.batch, key, secs, false)?)
            }
            _ => None,
        };
        if let Some(file) = &extras.file {
            pending
                .batch
                .put::<crate::tables::Attachments>(&key, file)?;
        }
        let message = attachments::with_file(
            disappear::with_extras(target.message(), extras.notice.as_ref(), expiry.as_ref()),
            extras.file.as_ref(),
        );
        if target.meta != crate::tables::MetaRow::default() {
            pending
                .batch
                .put::<crate::tables::MessageMeta>(&(conv, stamp, *id.as_bytes()), &target.meta)?;
        }
        let row = target.row.clone();
        staged
            .targets
            .insert((conv, *id.as_bytes()), std::sync::Arc::new(target));
        let searched = search::searched(
            &row.text,
            message.attachment.as_ref().map(|file| file.name.as_str()),
        );
        pending
            .search
            .push(search::SearchOp::Put(conv, stamp, *id.as_bytes(), searched));
        if standing == Standing::Stranger {
            // A message request: stored, but not a chat message, and no receipt goes
            // back until the user accepts.
            let key = (conv, stamp, *id.as_bytes());
            pending.batch.put::<Messages>(&key, &row)?;
            pending
                .batch
                .put::<MessageIndex>(&(conv, *id.as_bytes()), &stamp)?;
            staged.dropped += requests::stage_request_message(
                &self.area,
                &mut staged.requests,
                &mut pending.batch,
                conv,
                sender,
                (stamp, *id.as_bytes()),
                &row.text,
            );
            pending.events.push(Event::RequestReceived(message));
        } else {
            if staged.via_relay {
                staged.delivered.push((sender, id));
            } else {
                let ack = AckRow {
                    sender,
                    id: *id.as_bytes(),
                };
                pending.batch.put::<Acks>(&digest, &ack)?;
            }
            self.stage_message(
                &mut pending.batch,
                &mut staged.summaries,
                conv,
                stamp,
                id,
                &row,
            )
            .await?;
            staged.received_stamps.push(stamp);
            pending.events.push(Event::MessageReceived(message));
            self.on_message_arrived(pending, sender)?;
        }
        Ok(())
    }

    /// Decrypts with an existing session, or accepts a new session start.
    pub(super) async fn decrypt(
        &mut self,
        pending: &mut Pending,
        staged: &mut Group,
        sender: UserId,
        message: &SessionMessage,
    ) -> Result<Option<Plaintext>, Error> {
        let mut rng = UnwrapErr(getrandom::SysRng);
        let now = self.time.now_secs();
        let sessions = self.sessions.entry(sender).or_default();
        for (index, session) in sessions.iter_mut().enumerate() {
            if let Ok(plaintext) = session.decrypt(&mut rng, message, now) {
                // The session that works is the one to reply with.
                let session = sessions.remove(index);
                sessions.insert(0, session);
                return Ok(Some(plaintext));
            }
        }
        let SessionMessage::Initial(start) = message else {
            return Ok(None);
        };
        if start.identity().user_id() != sender {
            return Ok(None);
        }
        let tag = start.replay_tag();
        if staged.replays.contains(&tag)
            || self.read(move |s| s.get::<Replays>(&tag)).await?.is_some()
        {
            debug!(sender = %sender.short(), "refused a replayed session start");
            return Ok(None);
        }
        if start.one_time_prekey_id().is_some() {
            // Accepting consumes a one-time prekey: keep what to restore if the envelope or
            // its group is not committed after all.
            let before = self.prekeys.to_bytes();
            if self.undo.group_prekeys.is_none() {
                self.undo.group_prekeys = Some(before.clone());
            }
            self.undo.envelope_prekeys = Some(before);
        }
        let mut accepted = Session::respond(&mut rng, &self.account, &mut self.prekeys, start, now);
        if accepted.is_err()
            && let Some(previous) = self.previous_account()
        {
            // Made against our identity key before it was replaced.
            accepted = Session::respond(&mut rng, &previous, &mut self.prekeys, start, now);
        }
        match accepted {
            Ok((session, plaintext)) => {
                staged.started = Some(*start.identity().dh_key());
                // Remember the start until its signed prekey is retired: after that it cannot
                // be accepted anyway.
                let retire = self
                    .prekeys
                    .signed_prekey_retires_at(start.signed_prekey_id())
                    .unwrap_or(now);
                staged.replays.insert(tag);
                pending.batch.put::<Replays>(&tag, &(retire * 1000))?;
                staged.prekeys_changed |= start.one_time_prekey_id().is_some();
                let sessions = self.sessions.entry(sender).or_default();
                sessions.insert(0, session);
                sessions.truncate(MAX_SESSIONS_PER_PEER);
                Ok(Some(plaintext))
            }
            Err(e) => {
                debug!(sender = %sender.short(), "refused a session start: {e}");
                Ok(None)
            }
        }
    }
}

/// Puts the messages received in one group in the order they were sent. Relays return a
/// mailbox in arrival order, and a sender's deposits travel concurrently, so a page fetched
/// from a relay can hold a conversation out of order; history is keyed by send time anyway,
/// and this makes the event log agree with it. Other events keep their places.
pub(super) fn in_sent_order(events: &mut [Event], stamps: &[Stamp]) {
    let slots: Vec<usize> = events
        .iter()
        .enumerate()
        .filter(|(_, e)| matches!(e, Event::MessageReceived(_)))
        .map(|(i, _)| i)
        .collect();
    if slots.len() != stamps.len() || stamps.is_sorted() {
        return;
    }
    let mut received: Vec<(Stamp, Event)> = stamps
        .iter()
        .zip(&slots)
        .map(|(&stamp, &i)| (stamp, events[i].clone()))
        .collect();
    received.sort_by_key(|(stamp, _)| *stamp);
    for (slot, (_, event)) in slots.into_iter().zip(received) {
        events[slot] = event;
    }
}
