//! Accepting sends: staging messages and receipts into the outbox, encrypting with the
//! newest session (or starting one), and sealing envelopes off the core task.

use super::*;

/// One `send` call waiting to be accepted.
pub(super) struct SendRequest {
    pub(super) peer: UserId,
    pub(super) compose: Compose,
    pub(super) reply: oneshot::Sender<Result<MessageId, Error>>,
}

impl Core {
    /// Makes up to `count` one-time prekeys (fewer near the cap on held secrets) and stores
    /// their secrets before the public halves leave for a relay.
    pub(super) async fn one_time_prekeys(
        &mut self,
        count: usize,
    ) -> Result<Vec<tern_crypto::OneTimePrekey>, Error> {
        let prekeys =
            self.prekeys
                .generate_one_time(&mut UnwrapErr(getrandom::SysRng), &self.account, count);
        if prekeys.is_empty() {
            return Ok(prekeys);
        }
        let mut pending = Pending::new(Batch::new(), Vec::new());
        pending
            .batch
            .put::<State>(&STATE_PREKEYS.to_owned(), &self.prekeys.to_bytes())?;
        self.commit(pending).await?;
        Ok(prekeys)
    }

    /// Accepts a group of sends in one durable write, so that under load many messages share
    /// one sync. Each caller gets its message id once the group is on disk.
    pub(super) async fn send_group(&mut self, sends: Vec<SendRequest>) {
        if self.room() == Room::Full {
            self.storage_full += sends.len() as u64;
            for send in sends {
                let _ = send.reply.send(Err(Error::StorageFull));
            }
            return;
        }
        let mut pending = Pending::new(Batch::new(), Vec::new());
        let mut summaries: HashMap<Conv, ConversationRow> = HashMap::new();
        let mut accepted = Vec::with_capacity(sends.len());
        // Requests that writing to their sender accepts.
        let mut requests_accepted = Vec::new();
        let mut staged = Ok(());
        // Messages this group changed, so that a later change in it sees the earlier ones.
        let mut targets = HashMap::new();
        for SendRequest {
            peer,
            compose,
            reply,
        } in sends
        {
            if let Compose::Text { text, .. } = &compose {
                if text.is_empty() {
                    let _ = reply.send(Err(Error::Empty));
                    continue;
                }
                if text.len() > crate::body::MAX_TEXT_LEN {
                    let _ = reply.send(Err(Error::TooLong {
                        len: text.len(),
                        max: crate::body::MAX_TEXT_LEN,
                    }));
                    continue;
                }
            }
            match self.standing(&peer).await {
                Ok(requests::Standing::Blocked) => {
                    let _ = reply.send(Err(Error::Blocked(peer)));
                    continue;
                }
                Ok(requests::Standing::Stranger) => {
                    // Writing to someone accepts them, and their request becomes the chat.
                    self.standing.remove(&peer);
                    if self
                        .stage_accept(&mut pending.batch, &mut summaries, peer)
                        .is_some()
                    {
                        requests_accepted.push(self.conv(&peer));
                    }
                }
                Ok(requests::Standing::Accepted) => {}
                Err(e) => {
                    let _ = reply.send(Err(e));
                    continue;
                }
            }
            if staged.is_ok() {
                let savepoint = (pending.batch.len(), pending.events.len(), self.clock);
                let result = match compose {
                    Compose::Text { text, reply_to } => {
                        self.stage_send(&mut pending, &mut summaries, peer, (text, None), reply_to)
                            .await
                    }
                    Compose::File {
                        file,
                        caption,
                        reply_to,
                    } => {
                        self.stage_send(
                            &mut pending,
                            &mut summaries,
                            peer,
                            (caption, Some(file)),
                            reply_to,
                        )
                        .await
                    }
                    Compose::Change { target, change } => {
                        self.stage_change_out(
                            &mut pending,
                            (&mut targets, &mut summaries),
                            peer,
                            target,
                            change,
                        )
                        .await
                    }
                    Compose::Timer { secs } => {
                        self.stage_timer(&mut pending, &mut summaries, peer, secs)
                            .await
                    }
                };
                match result {
                    Ok(id) => accepted.push((reply, id)),
                    // Refused by the rules before anything was staged: only this send fails.
                    Err(
                        e @ (Error::NoMessage(_)
                        | Error::NotAuthor
                        | Error::WindowClosed
                        | Error::Deleted
                        | Error::NotText
                        | Error::NotAnEmoji
                        | Error::BadTimer(_)
                        | Error::Empty
                        | Error::TooLong { .. }),
                    ) => {
                        pending.batch.truncate(savepoint.0);
                        pending.events.truncate(savepoint.1);
                        pending.happened.retain(|(event, _)| *event < savepoint.1);
                        self.clock = savepoint.2;
                        let _ = reply.send(Err(e));
                    }
                    Err(e) => {
                        let _ = reply.send(Err(e.clone()));
                        staged = Err(e);
                    }
                }
            } else {
                let _ = reply.send(Err(Error::Storage(StorageError::other(
                    "a write in the same group failed",
                ))));
            }
        }
        let result = staged.and_then(|()| {
            for (conv, summary) in &summaries {
                pending.batch.put::<Conversations>(conv, summary)?;
            }
            Ok(())
        });
        let result = match result {
            Ok(()) => self.commit(pending).await.map(|_| ()),
            Err(e) => Err(e),
        };
        if result.is_ok() {
            for conv in requests_accepted {
                self.area.remove(&conv);
            }
        }
        for (reply, id) in accepted {
            let _ = reply.send(result.clone().map(|()| id));
        }
    }

    /// Adds one outgoing text to a group being accepted.
    pub(super) async fn stage_send(
        &mut self,
        pending: &mut Pending,
        summaries: &mut HashMap<Conv, ConversationRow>,
        peer: UserId,
        (text, file): (String, Option<OutgoingFile>),
        reply_to: Option<MessageId>,
    ) -> Result<MessageId, Error> {
        let conv = self.conv(&peer);
        if let Some(file) = &file {
            // The descriptor, the caption and the body's fields must fit one envelope.
            let len = file.descriptor.len() + text.len();
            let max = tern_crypto::ratchet_limits::MAX_PLAINTEXT_LEN - 1024;
            if text.len() > crate::body::MAX_TEXT_LEN || len > max {
                return Err(Error::TooLong { len, max });
            }
        }
        if let Some(quoted) = reply_to {
            let key = (conv, *quoted.as_bytes());
            if self
                .read(move |s| s.get::<MessageIndex>(&key))
                .await?
                .is_none()
            {
                return Err(Error::NoMessage(quoted));
            }
        }
        let id = MessageId::random(&mut UnwrapErr(getrandom::SysRng));
        let stamp = self.clock.tick(self.time.now_ms());
        let row = MessageRow {
            peer,
            direction: Direction::Outgoing,
            text,
            state: DeliveryState::Queued,
            read: true,
        };
        self.stage_message(&mut pending.batch, summaries, conv, stamp, id, &row)
            .await?;
        let searched = search::searched(&row.text, file.as_ref().map(|f| f.name.as_str()));
        pending
            .search
            .push(search::SearchOp::Put(conv, stamp, *id.as_bytes(), searched));
        let meta = crate::tables::MetaRow {
            reply_to: reply_to.map(|m| *m.as_bytes()),
            ..Default::default()
        };
        if reply_to.is_some() {
            pending
                .batch
                .put::<crate::tables::MessageMeta>(&(conv, stamp, *id.as_bytes()), &meta)?;
        }
        let expire_secs = self.timer(&conv);
        let expiry = match expire_secs {
            Some(secs) => Some(self.stage_expiry(
                &mut pending.batch,
                (conv, stamp, *id.as_bytes()),
                secs,
                true,
            )?),
            None => None,
        };
        let key = (conv, stamp, *id.as_bytes());
        let (body, file_row) = match file {
            None => (
                Body::Text(Text {
                    id,
                    stamp,
                    text: row.text.clone(),
                    reply_to,
                    expire_secs,
                }),
                None,
            ),
            Some(file) => {
                let file_row = self.stage_outgoing_file(&mut pending.batch, (peer, key), &file)?;
                let body = Body::Attachment(crate::body::Attachment {
                    id,
                    stamp,
                    descriptor: file.descriptor,
                    caption: row.text.clone(),
                    reply_to,
                    expire_secs,
                });
                (body, Some(file_row))
            }
        };
        self.enqueue(pending, peer, &body, true).await?;
        let message =
            attachments::with_file(to_message(id, stamp, &row, Some(&meta)), file_row.as_ref());
        pending
            .events
            .push(Event::MessageSent(disappear::with_extras(
                message,
                None,
                expiry.as_ref(),
            )));
        Ok(id)
    }

    /// Puts a body into the outbox, encrypted at once if a session exists. The caller stages
    /// the sessions of `peer`, which encrypting may have advanced.
    pub(super) async fn enqueue(
        &mut self,
        pending: &mut Pending,
        peer: UserId,
        body: &Body,
        visible: bool,
    ) -> Result<(), Error> {
        self.load_sessions(&peer).await?;
        let payload = body.to_payload().to_bytes().to_vec();
        let encrypted = self.try_encrypt(&peer, &payload)?;
        let seq = self.next_outbox;
        self.next_outbox += 1;
        pending.batch.put::<State>(
            &STATE_OUTBOX_SEQ.to_owned(),
            &self.next_outbox.to_be_bytes().to_vec(),
        )?;
        let row = OutboxRow {
            id: body.id(),
            peer,
            payload,
            envelope: None,
            visible,
            attempts: 0,
            next_attempt_ms: 0,
        };
        match encrypted {
            // Sealed and written at commit, with the rest of the group and the session this
            // advanced (`seal_pending`).
            Some((message, mailbox)) => pending.to_seal.push(ToSeal {
                seq,
                row,
                message,
                mailbox,
            }),
            None => {
                pending.batch.put::<Outbox>(&seq, &row)?;
                pending.queued.push((seq, Queued::of(&row), None));
            }
        }
        Ok(())
    }

    /// Makes the ratchet messages of `pending` into the envelopes their outbox rows keep,
    /// then stages the rows. They are direct envelopes, a copy each: a relay gets the sealed
    /// envelope of the same contents only if direct delivery fails (`leave_at_relays`). With
    /// `seal_direct` (benchmarks) they are sealed here, off the core task and on two threads
    /// for large groups (sealing is stateless and costs two X25519 operations each).
    pub(super) async fn seal_pending(&self, pending: &mut Pending) -> Result<(), Error> {
        if pending.to_seal.is_empty() {
            return Ok(());
        }
        let mut to_seal = std::mem::take(&mut pending.to_seal);
        // Each message advanced its peer's session: the session is written with it, or a
        // restart would encrypt the next message under keys the peer has already used.
        let mut peers: Vec<UserId> = to_seal.iter().map(|item| item.row.peer).collect();
        peers.sort_unstable();
        peers.dedup();
        for peer in &peers {
            self.stage_sessions(&mut pending.batch, peer)?;
        }
        let (sender, sealed) = (self.account.user_id(), self.seal_direct);
        let make = move |items: &mut [ToSeal]| -> Result<(), Error> {
            for item in items {
                let envelope = outbox_envelope(sealed, &item.mailbox, &sender, &item.message)?;
                item.row.envelope = Some(envelope);
            }
            Ok(())
        };
        let made = if sealed {
            Self::seal_apart(to_seal, make).await?
        } else {
            make(&mut to_seal).map(|()| to_seal)?
        };
        for item in made {
            pending.batch.put::<Outbox>(&item.seq, &item.row)?;
            let entry = Queued {
                header_of: session_header(&item.message),
                ..Queued::of(&item.row)
            };
            pending.queued.push((item.seq, entry, item.row.envelope));
        }
        Ok(())
    }

    /// Runs `seal` over `to_seal` on the blocking pool, on two threads for large groups.
    async fn seal_apart(
        to_seal: Vec<ToSeal>,
        seal: impl Fn(&mut [ToSeal]) -> Result<(), Error> + Send + Sync + 'static,
    ) -> Result<Vec<ToSeal>, Error> {
        tokio::task::spawn_blocking(move || {
            let mut to_seal = to_seal;
            let result = if to_seal.len() >= PARALLEL_OPEN_MIN {
                let half = to_seal.len() / 2;
                let (first, second) = to_seal.split_at_mut(half);
                std::thread::scope(|scope| {
                    let other = scope.spawn(|| seal(first));
                    let here = seal(second);
                    match other.join() {
                        Ok(there) => there.and(here),
                        Err(_) => Err(Error::Encryption("a sealing thread failed".into())),
                    }
                })
            } else {
                seal(&mut to_seal)
            };
            result.map(|()| to_seal)
        })
        .await
        .map_err(|e| Error::Storage(StorageError::other(e.to_string())))?
    }

    /// Encrypts with the newest session, or starts one from the peer's record if known, into
    /// the envelope that goes to the peer's device: a direct one, or (with `seal_direct`) a
    /// sealed one. With it comes the base key of the session whose header it carries, if any.
    pub(super) fn try_seal(
        &mut self,
        peer: &UserId,
        payload: &[u8],
    ) -> Result<Option<Sealed>, Error> {
        let Some((message, mailbox)) = self.try_encrypt(peer, payload)? else {
            return Ok(None);
        };
        let sender = self.account.user_id();
        let envelope = outbox_envelope(self.seal_direct, &mailbox, &sender, &message)?;
        Ok(Some((envelope, session_header(&message))))
    }

    /// Confirms the sessions whose PQXDH header reached the recipient's device: it answered
    /// `stored` (or `duplicate`) for a message that carried it, which it does only once the
    /// session is durable there. The next messages go without the header (1,258 bytes each,
    /// `docs/protocol/crypto.md` section 8), as they would after a reply. Only an
    /// optimisation: a session it cannot read or write keeps its header, and the delivery
    /// states around it are written all the same.
    pub(super) async fn confirm_sessions(
        &mut self,
        batch: &mut Batch,
        mut started: Vec<(UserId, [u8; 32])>,
    ) {
        started.sort_unstable();
        started.dedup();
        let mut touched: Vec<UserId> = Vec::new();
        for (peer, base_key) in started {
            if let Err(e) = self.load_sessions(&peer).await {
                warn!(peer = %peer.short(), "cannot load sessions to confirm: {e}");
                continue;
            }
            let session = self.sessions.get_mut(&peer).and_then(|sessions| {
                sessions
                    .iter_mut()
                    .find(|s| s.is_unconfirmed() && *s.base_key() == base_key)
            });
            if let Some(session) = session {
                session.confirm();
                if !touched.contains(&peer) {
                    touched.push(peer);
                }
            }
        }
        for peer in &touched {
            if let Err(e) = self.stage_sessions(batch, peer) {
                warn!(peer = %peer.short(), "cannot stage a confirmed session: {e}");
            }
        }
    }

    /// Encrypts with the newest session, or starts one from the peer's record if known;
    /// returns the message and the mailbox key to seal it to.
    pub(super) fn try_encrypt(
        &mut self,
        peer: &UserId,
        payload: &[u8],
    ) -> Result<Option<(SessionMessage, MailboxPublicKey)>, Error> {
        if self.held(peer) {
            // Waits in the outbox until the user verifies the peer's new identity key.
            return Ok(None);
        }
        let mut rng = UnwrapErr(getrandom::SysRng);
        let record = self.records.known(peer, self.time.now_secs());
        let ours = *self.account.public().dh_key();
        let sessions = self.sessions.entry(*peer).or_default();
        // A session set up under our previous identity key still works, but the next message
        // starts one under the new key, so that the peer learns it.
        let stale = sessions
            .first()
            .is_none_or(|s| *s.local_identity().dh_key() != ours);
        if stale && let Some(record) = &record {
            let one_time = self.records.take_one_time(peer);
            match Session::initiate(
                &mut rng,
                &self.account,
                &record.bundle,
                one_time.as_ref(),
                self.time.now_secs(),
            ) {
                Ok(session) => {
                    let sessions = self.sessions.entry(*peer).or_default();
                    sessions.insert(0, session);
                    sessions.truncate(MAX_SESSIONS_PER_PEER);
                }
                Err(e) => warn!(peer = %peer.short(), "cannot start a session: {e}"),
            }
        }
        let sessions = self.sessions.entry(*peer).or_default();
        if sessions.is_empty() {
            return Ok(None);
        }
        let Some(record) = record else {
            // A session exists but the mailbox key comes from the record.
            return Ok(None);
        };
        let session = &mut sessions[0];
        let message = session
            .encrypt(&mut rng, payload)
            .map_err(|e| Error::Encryption(e.to_string()))?;
        Ok(Some((message, *record.bundle.mailbox())))
    }

    /// Stages a message of conversation `conv` in history (its row and the index by id) and
    /// in the conversation's chat-list summary, which a group keeps in `summaries` so that it
    /// is read from the store once.
    pub(super) async fn stage_message(
        &self,
        batch: &mut Batch,
        summaries: &mut HashMap<Conv, ConversationRow>,
        conv: Conv,
        stamp: Stamp,
        id: MessageId,
        row: &MessageRow,
    ) -> Result<(), Error> {
        batch.put::<Messages>(&(conv, stamp, *id.as_bytes()), row)?;
        batch.put::<MessageIndex>(&(conv, *id.as_bytes()), &stamp)?;
        let mut summary = match summaries.remove(&conv) {
            Some(summary) => summary,
            None => self
                .read(move |s| s.get::<Conversations>(&conv))
                .await?
                .unwrap_or(ConversationRow {
                    peer: row.peer,
                    last_stamp: 0,
                    last_text: String::new(),
                    unread: 0,
                }),
        };
        if stamp >= summary.last_stamp {
            summary.last_stamp = stamp;
            summary.last_text = row.text.chars().take(100).collect();
        }
        if row.direction == Direction::Incoming && !row.read {
            summary.unread += 1;
        }
        summaries.insert(conv, summary);
        Ok(())
    }

    /// Queues receipts of `kind` for `ids` to `peer`, as many as the body's limit needs. The
    /// caller stages `peer`'s sessions, which encrypting may have advanced.
    pub(super) async fn enqueue_receipts(
        &mut self,
        pending: &mut Pending,
        peer: UserId,
        kind: ReceiptKind,
        ids: &[MessageId],
    ) -> Result<(), Error> {
        for chunk in ids.chunks(crate::body::MAX_RECEIPT_IDS) {
            let receipt = Body::Receipt(Receipt {
                id: MessageId::random(&mut UnwrapErr(getrandom::SysRng)),
                stamp: self.clock.tick(self.time.now_ms()),
                kind,
                messages: chunk.to_vec(),
            });
            self.enqueue(pending, peer, &receipt, false).await?;
        }
        Ok(())
    }
}

/// An envelope made for the peer's device, with the base key of the session whose PQXDH
/// header it carries, if any.
type Sealed = (Vec<u8>, Option<[u8; 32]>);

/// The base key of the session whose PQXDH header `message` carries, if it carries one.
fn session_header(message: &SessionMessage) -> Option<[u8; 32]> {
    match message {
        SessionMessage::Initial(start) => Some(*start.base_key()),
        SessionMessage::Ratchet(_) => None,
    }
}

/// The envelope the outbox keeps for `message` and sends to the recipient's device: a direct
/// one, or (`sealed`, for benchmarks) one sealed to `mailbox`.
fn outbox_envelope(
    sealed: bool,
    mailbox: &MailboxPublicKey,
    sender: &UserId,
    message: &SessionMessage,
) -> Result<Vec<u8>, Error> {
    let envelope = if sealed {
        envelope::seal(&mut UnwrapErr(getrandom::SysRng), mailbox, sender, message)
    } else {
        envelope::direct(sender, message)
    };
    envelope.map_err(|e| Error::Encryption(e.to_string()))
}
