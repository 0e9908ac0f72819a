//! Delivering the outbox: looking recipients up, direct delivery, deposits at the
//! recipient's relays, retries with backoff, and delivery states.

use super::{in_flight::Held, *};

/// How leaving one outbox entry at its recipient's relays went.
pub(super) struct Left {
    pub(super) seq: u64,
    pub(super) deposit: crate::relay_path::Deposit,
    /// The envelope sealed for this attempt from the direct one the outbox kept, if it was:
    /// an entry that has to try again keeps it, so that relays that stored it already
    /// recognise the repeat instead of storing a second copy.
    pub(super) sealed: Option<Vec<u8>>,
}

impl Core {
    /// The record of `peer` if we hold one that has not expired.
    pub(super) fn known_record(&mut self, peer: &UserId) -> Option<PeerRecord> {
        let now = self.time.now_secs();
        self.records.known(peer, now)
    }

    pub(super) fn start_delivery(&mut self, seq: u64, record: PeerRecord, envelope: Vec<u8>) {
        self.queue.begin(seq);
        let net = self.net.clone();
        let direct = self.direct;
        #[cfg(test)]
        let fail = self
            .queue
            .get(seq)
            .is_some_and(|e| failpoints::take(&e.peer));
        self.in_flight
            .spawn_holding(Held::Delivery(seq), async move {
                #[cfg(test)]
                if fail {
                    panic!("failpoint: a delivery task panics");
                }
                let status = if direct {
                    net.deliver(record.device, record.addresses, envelope).await
                } else {
                    // Relay-only: never connect to the recipient; the failure sends it to relays.
                    Err(network::NetError::Delivery(
                        "direct delivery is turned off".into(),
                    ))
                };
                Outcome::Delivered { seq, status }
            });
    }

    /// Starts deliveries for due outbox entries (oldest first, up to [`MAX_IN_FLIGHT`]), and
    /// lookups for recipients whose record we do not hold. An entry's first attempt takes the
    /// envelope the queue kept when it was committed; others are read back.
    pub(super) async fn dispatch_due(&mut self) {
        if self.failed {
            return;
        }
        let room = MAX_IN_FLIGHT.saturating_sub(self.in_flight.len());
        let due = self.queue.due(
            self.time.now_ms(),
            room,
            |peer| self.records.has(peer),
            |peer| self.held(peer),
        );
        for peer in due.look_up {
            self.lookup(peer);
        }
        let mut wanted = Vec::with_capacity(due.send.len());
        for seq in due.send {
            let peer = self.queue.get(seq).map(|e| e.peer);
            let record = peer.and_then(|peer| self.known_record(&peer));
            match record.and_then(|record| Some((record, self.queue.take_envelope(seq)?))) {
                Some((record, envelope)) => self.start_delivery(seq, record, envelope),
                None => wanted.push(seq),
            }
        }
        if wanted.is_empty() {
            return;
        }
        let rows = match self
            .read(move |s| {
                wanted
                    .into_iter()
                    .map(|seq| Ok((seq, s.get::<Outbox>(&seq)?)))
                    .collect::<Result<Vec<_>, StoreError>>()
            })
            .await
        {
            Ok(rows) => rows,
            Err(e) => {
                error!("cannot read the outbox: {e}");
                return;
            }
        };
        // Entries queued before we could encrypt (no session and no record yet) are sealed
        // now, and persisted before they are sent, so that a retry resends the same bytes.
        let mut sealed = Pending::new(Batch::new(), Vec::new());
        let mut touched = Vec::new();
        let mut deliveries = Vec::new();
        for (seq, row) in rows {
            let Some(mut row) = row else {
                self.queue.remove(seq);
                continue;
            };
            let Some(record) = self.known_record(&row.peer) else {
                self.lookup(row.peer);
                continue;
            };
            if row.envelope.is_none() {
                if let Err(e) = self.load_sessions(&row.peer).await {
                    error!("cannot load sessions: {e}");
                    return;
                }
                match self.try_seal(&row.peer, &row.payload) {
                    Ok(Some((envelope, header_of))) => {
                        row.envelope = Some(envelope);
                        self.queue.set_header_of(seq, header_of);
                        if sealed.batch.put::<Outbox>(&seq, &row).is_err() {
                            continue;
                        }
                        if !touched.contains(&row.peer) {
                            touched.push(row.peer);
                        }
                    }
                    Ok(None) => continue,
                    Err(e) => {
                        warn!("cannot encrypt outbox entry: {e}");
                        continue;
                    }
                }
            }
            if let Some(envelope) = row.envelope {
                deliveries.push((seq, record, envelope));
            }
        }
        if !touched.is_empty() {
            for peer in &touched {
                if let Err(e) = self.stage_sessions(&mut sealed.batch, peer) {
                    error!("cannot stage sessions: {e}");
                    return;
                }
            }
            if let Err(e) = self.commit(sealed).await {
                error!("cannot persist encrypted outbox entries: {e}");
                return;
            }
        }
        for (seq, record, envelope) in deliveries {
            self.start_delivery(seq, record, envelope);
        }
    }

    pub(super) fn lookup(&mut self, peer: UserId) {
        if !self.records.start_lookup(peer) {
            return;
        }
        // Starting a session: take one of the peer's one-time prekeys from its relays too.
        let needs_prekey =
            self.sessions.get(&peer).is_none_or(Vec::is_empty) && !self.records.has_one_time(&peer);
        let net = self.net.clone();
        self.in_flight
            .spawn_holding(Held::Lookup(peer), async move {
                let (record, newer) = match net.lookup(peer).await {
                    Ok(found) => (Ok(Box::new(found.record)), Some(found.newer)),
                    Err(e) => (Err(e), None),
                };
                let one_time = match &record {
                    Ok(record) if needs_prekey && !record.relays.is_empty() => {
                        crate::relay_path::take_prekey(
                            &net,
                            &record.relays,
                            peer,
                            record.bundle.mailbox().id(),
                        )
                        .await
                    }
                    _ => None,
                };
                Outcome::Looked {
                    peer,
                    record,
                    one_time,
                    newer,
                }
            });
    }

    pub(super) async fn on_deliveries(
        &mut self,
        results: Vec<(u64, Result<Status, network::NetError>)>,
    ) -> Result<(), Error> {
        let mut pending = Pending::new(Batch::new(), Vec::new());
        let mut retry = Vec::new();
        // Where each failed entry could be left instead: the recipient's relays and mailbox,
        // taken before a failed record is dropped.
        let mut relay_targets = HashMap::new();
        let mut stale = Vec::new();
        let mut moves = Vec::new();
        let mut confirmed = Vec::new();
        for (seq, status) in results {
            let Some(entry) = self.queue.get(seq).cloned() else {
                continue;
            };
            let state = match status {
                Ok(Status::Stored | Status::Duplicate) => {
                    self.drop_unstarted_upload(&mut pending.batch, entry.id);
                    if let Some(base_key) = entry.header_of {
                        confirmed.push((entry.peer, base_key));
                    }
                    DeliveryState::Delivered
                }
                Ok(Status::Rejected | Status::Undecryptable) => {
                    pending.events.push(Event::Error {
                        peer: Some(entry.peer),
                        message: format!("message {} was refused by the recipient", entry.id),
                    });
                    DeliveryState::Failed
                }
                Ok(Status::Busy | Status::Unavailable) | Err(_) => {
                    if let Some(target) = self.records.deposit_target(&entry.peer) {
                        relay_targets.insert(seq, target);
                    }
                    if let Err(e) = &status
                        && self.direct
                    {
                        debug!(peer = %entry.peer.short(), "delivery failed: {e}");
                        // The addresses may be stale: look the peer up again next time.
                        stale.push(entry.peer);
                    }
                    retry.push(seq);
                    continue;
                }
            };
            pending.batch.delete::<Outbox>(&seq);
            self.queue.remove(seq);
            if entry.visible {
                moves.push((entry.peer, entry.id, state));
            }
        }
        let events = self.advance_states(&mut pending.batch, moves).await?;
        pending.events.extend(events);
        self.confirm_sessions(&mut pending.batch, confirmed).await;
        for peer in stale {
            self.records.addresses_failed(&peer);
        }
        let rows = self.reschedule(&mut pending, retry).await?;
        self.commit(pending).await?;
        // Direct delivery failed: leave the envelope at the recipient's relays, if it has any,
        // after the older entries for the same recipient (`leave_at_relays`).
        for (seq, row) in rows {
            let Some((target, mailbox)) = relay_targets.remove(&seq) else {
                continue;
            };
            if self.queue.is_busy(seq) {
                continue;
            }
            let Some(envelope) = row.envelope else {
                continue;
            };
            self.queue.hold_deposit(
                seq,
                queue::Leave {
                    target,
                    mailbox,
                    envelope,
                },
            );
        }
        Ok(())
    }

    /// Starts the deposits the queue holds that may go now: one task per recipient, which
    /// queues them at the network task oldest first, after the recipient's deposits started
    /// before, and then waits for the answers. Each relay's lane (one stream, answered in
    /// order) stores them in that order, and a slow relay delays no later deposit's start.
    pub(super) fn leave_at_relays(&mut self) {
        for (peer, leaves) in self.queue.deposits_due() {
            debug!(
                peer = %peer.short(),
                entries = leaves.len(),
                "leaving messages at the recipient's relays"
            );
            let (queued, next) = oneshot::channel();
            let earlier = self.deposits_queued.insert(peer, next);
            let net = self.net.clone();
            let held = Held::Deposits(leaves.iter().map(|(seq, _)| *seq).collect());
            self.in_flight.spawn_holding(held, async move {
                // Relays get only sealed envelopes: a direct one names its sender.
                let sealed = seal_for_relays(leaves).await;
                if let Some(earlier) = earlier {
                    // Its sender is dropped once those deposits were queued, or their task
                    // ended.
                    let _ = earlier.await;
                }
                let mut waiting = Vec::with_capacity(sealed.len());
                for (seq, target, envelope) in sealed {
                    use futures::future::{Either, ready};
                    let Some((envelope, resealed)) = envelope else {
                        // Not stored anywhere: the entry tries again later.
                        let deposit = crate::relay_path::Deposit::default();
                        let sealed = None;
                        waiting.push(Either::Left(ready(Left {
                            seq,
                            deposit,
                            sealed,
                        })));
                        continue;
                    };
                    let sealed = resealed.then(|| envelope.clone());
                    let (relays, mailbox) = target;
                    let sent =
                        crate::relay_path::queue_deposit(&net, &relays, mailbox, envelope).await;
                    waiting.push(Either::Right(async move {
                        Left {
                            seq,
                            deposit: sent.answers().await,
                            sealed,
                        }
                    }));
                }
                drop(queued);
                Outcome::Deposited(futures::future::join_all(waiting).await)
            });
        }
        // Chains whose deposits were all queued are done with.
        self.deposits_queued.retain(|_, next| {
            !matches!(
                next.try_recv(),
                Err(oneshot::error::TryRecvError::Closed) | Ok(())
            )
        });
    }

    /// Records deposits that ended together, in one write: a message that enough relays
    /// signed custody of is held by them and leaves the outbox (the recipient's delivery
    /// receipt completes it later); one with too few receipts stays for its retry.
    pub(super) async fn on_deposits(&mut self, deposits: Vec<Left>) -> Result<(), Error> {
        let mut pending = Pending::new(Batch::new(), Vec::new());
        let mut moves = Vec::new();
        let mut left = Vec::new();
        let mut keep_sealed = Vec::new();
        for Left {
            seq,
            deposit,
            sealed,
        } in deposits
        {
            self.queue.end(seq);
            for refusal in &deposit.refused {
                *self.deposits_refused.entry(refusal.code()).or_default() += 1;
            }
            let (stored, replicas) = (deposit.stored, deposit.replicas);
            debug!(seq, stored, replicas, "deposit at relays finished");
            let needed = crate::relay_path::CUSTODY_QUORUM.min(replicas).max(1);
            if stored < needed {
                debug!(
                    seq,
                    stored, replicas, "not enough custody receipts; will retry"
                );
                if let Some(sealed) = sealed {
                    keep_sealed.push((seq, sealed));
                }
                continue;
            }
            let Some(entry) = self.queue.remove(seq) else {
                continue;
            };
            pending.batch.delete::<Outbox>(&seq);
            if entry.visible {
                let state = DeliveryState::StoredAtRelays { stored, replicas };
                moves.push((entry.peer, entry.id, state));
            }
            left.push(entry.id);
        }
        self.keep_sealed(&mut pending.batch, keep_sealed).await?;
        if left.is_empty() && pending.batch.is_empty() {
            return Ok(());
        }
        let events = self.advance_states(&mut pending.batch, moves).await?;
        pending.events.extend(events);
        self.commit(pending).await?;
        // The recipient is offline: a file a message names goes to the same relays.
        for id in left {
            self.start_upload(id).await;
        }
        Ok(())
    }

    /// Stages the envelopes sealed for the relays into the rows of entries that will try again,
    /// in place of their direct envelopes.
    async fn keep_sealed(
        &mut self,
        batch: &mut Batch,
        sealed: Vec<(u64, Vec<u8>)>,
    ) -> Result<(), Error> {
        if sealed.is_empty() {
            return Ok(());
        }
        let seqs: Vec<u64> = sealed.iter().map(|(seq, _)| *seq).collect();
        let rows = self
            .read(move |s| {
                seqs.into_iter()
                    .map(|seq| s.get::<Outbox>(&seq))
                    .collect::<Result<Vec<_>, StoreError>>()
            })
            .await?;
        for ((seq, envelope), row) in sealed.into_iter().zip(rows) {
            let Some(mut row) = row else { continue };
            row.envelope = Some(envelope);
            batch.put::<Outbox>(&seq, &row)?;
        }
        Ok(())
    }

    /// Stages a later attempt, with exponential backoff, for each of the entries `seqs`;
    /// returns the rows as rescheduled.
    pub(super) async fn reschedule(
        &mut self,
        pending: &mut Pending,
        seqs: Vec<u64>,
    ) -> Result<Vec<(u64, OutboxRow)>, Error> {
        if seqs.is_empty() {
            return Ok(Vec::new());
        }
        let rows = self
            .read(move |s| {
                seqs.into_iter()
                    .map(|seq| Ok((seq, s.get::<Outbox>(&seq)?)))
                    .collect::<Result<Vec<_>, StoreError>>()
            })
            .await?;
        let now = self.time.now_ms();
        let mut rescheduled = Vec::with_capacity(rows.len());
        for (seq, row) in rows {
            let Some(mut row) = row else { continue };
            self.queue.reschedule(seq, &mut row, now);
            pending.batch.put::<Outbox>(&seq, &row)?;
            rescheduled.push((seq, row));
        }
        Ok(rescheduled)
    }

    /// Backs off every waiting entry for `peer`, whose record could not be found.
    pub(super) async fn postpone_peer(&mut self, peer: UserId) {
        let seqs = self.queue.waiting_for(&peer);
        let mut pending = Pending::new(Batch::new(), Vec::new());
        let result = match self.reschedule(&mut pending, seqs).await {
            Ok(_) => self.commit(pending).await.map(|_| ()),
            Err(e) => Err(e),
        };
        if let Err(e) = result {
            error!("cannot reschedule outbox entries: {e}");
        }
    }

    /// Moves outgoing messages forward to their states (never backwards), with one read of
    /// the store for all of them: the core waits for no read per message. A message named
    /// twice moves to the furthest of its states.
    pub(super) async fn advance_states(
        &mut self,
        batch: &mut Batch,
        moves: Vec<(UserId, MessageId, DeliveryState)>,
    ) -> Result<Vec<Event>, Error> {
        if moves.is_empty() {
            return Ok(Vec::new());
        }
        let ids: Vec<(Conv, [u8; 16])> = moves
            .iter()
            .map(|(peer, id, _)| (self.conv(peer), *id.as_bytes()))
            .collect();
        let found = self
            .read(move |s| {
                ids.into_iter()
                    .map(|(conv, id)| crate::tables::message_row(s, conv, id))
                    .collect::<Result<Vec<_>, StoreError>>()
            })
            .await?;
        // Rows as this batch leaves them, so a second move of one message builds on the first.
        let mut advanced: HashMap<(Conv, u64, [u8; 16]), MessageRow> = HashMap::new();
        let mut events = Vec::new();
        for ((peer, id, state), found) in moves.into_iter().zip(found) {
            let Some((key, row)) = found else { continue };
            let row = advanced.entry(key).or_insert(row);
            if row.direction != Direction::Outgoing || row.state >= state {
                continue;
            }
            row.state = state;
            batch.put::<Messages>(&key, row)?;
            events.push(Event::DeliveryStateChanged { peer, id, state });
        }
        Ok(events)
    }
}

/// Seals, off the core task, the direct envelopes of `leaves` to their recipient's mailbox
/// key; a sealed one goes as it is. Each comes back with where it goes and its sealed
/// envelope with whether it was sealed now, or `None` if it could not be.
async fn seal_for_relays(
    leaves: Vec<(u64, queue::Leave)>,
) -> Vec<(u64, RelayTarget, Option<(Vec<u8>, bool)>)> {
    let seal = |leaves: Vec<(u64, queue::Leave)>| {
        #[cfg(test)]
        if leaves
            .iter()
            .any(|(_, leave)| failpoints::take_sealing(leave.mailbox.as_bytes()))
        {
            panic!("failpoint: sealing for relays panics");
        }
        let mut rng = UnwrapErr(getrandom::SysRng);
        leaves
            .into_iter()
            .map(|(seq, leave)| {
                let sealed = match envelope::Form::of(&leave.envelope) {
                    Some(envelope::Form::Sealed) => Some((leave.envelope, false)),
                    _ => match envelope::seal_direct(&mut rng, &leave.mailbox, &leave.envelope) {
                        Ok(sealed) => Some((sealed, true)),
                        Err(e) => {
                            warn!(seq, "cannot seal an outbox entry for relays: {e}");
                            None
                        }
                    },
                };
                (seq, leave.target, sealed)
            })
            .collect::<Vec<_>>()
    };
    match tokio::task::spawn_blocking(move || seal(leaves)).await {
        Ok(sealed) => sealed,
        // The deposit task fails with it: it holds these entries (`Held::Deposits`), so each
        // is tried again, none left out.
        Err(e) => match e.try_into_panic() {
            Ok(panic) => std::panic::resume_unwind(panic),
            // Cancelled: the runtime is shutting down.
            Err(_) => Vec::new(),
        },
    }
}

/// Faults a test can make happen where no input could.
#[cfg(test)]
pub(crate) mod failpoints {
    use std::sync::Mutex;

    use tern_crypto::UserId;

    /// Recipients whose next direct delivery task panics, once each.
    static PANIC_DELIVERY_TO: Mutex<Vec<UserId>> = Mutex::new(Vec::new());

    /// Makes the next direct delivery task to `peer` panic.
    pub(crate) fn panic_next_delivery_to(peer: UserId) {
        PANIC_DELIVERY_TO.lock().unwrap().push(peer);
    }

    pub(super) fn take(peer: &UserId) -> bool {
        let mut peers = PANIC_DELIVERY_TO.lock().unwrap();
        let at = peers.iter().position(|p| p == peer);
        at.map(|at| peers.remove(at)).is_some()
    }

    /// Mailbox keys whose next sealing for relays panics, once each.
    static PANIC_SEALING_FOR: Mutex<Vec<[u8; 32]>> = Mutex::new(Vec::new());

    /// Makes the next sealing for relays of an envelope to `mailbox` panic.
    pub(crate) fn panic_next_sealing_for(mailbox: [u8; 32]) {
        PANIC_SEALING_FOR.lock().unwrap().push(mailbox);
    }

    pub(super) fn take_sealing(mailbox: &[u8; 32]) -> bool {
        let mut keys = PANIC_SEALING_FOR.lock().unwrap();
        let at = keys.iter().position(|k| k == mailbox);
        at.map(|at| keys.remove(at)).is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Regression: entries whose sealing panicked were left out of the deposit's outcome,
    /// so they stayed marked as being deposited, and were never tried again. The deposit
    /// task, holding them as `leave_at_relays` spawns it, now ends in their failure.
    #[tokio::test]
    async fn entries_whose_sealing_failed_come_back_to_be_tried_again() {
        let mailbox = MailboxPublicKey::from_bytes([9; 32]).unwrap();
        let leave = move |n: u8| queue::Leave {
            target: (Vec::new(), mailbox.id()),
            mailbox,
            envelope: vec![n; 100],
        };
        failpoints::panic_next_sealing_for(*mailbox.as_bytes());
        let mut tasks = in_flight::InFlight::new();
        tasks.spawn_holding(Held::Deposits(vec![3, 4]), async move {
            let _ = seal_for_relays(vec![(3, leave(1)), (4, leave(2))]).await;
            Outcome::Deposited(Vec::new())
        });
        let outcomes = tasks.next().await.unwrap();
        let [Outcome::Deposited(left)] = outcomes.as_slice() else {
            panic!("not the deposits' outcome");
        };
        let seqs: Vec<(u64, bool)> = left.iter().map(|l| (l.seq, l.sealed.is_some())).collect();
        assert_eq!(seqs, [(3, false), (4, false)]);
    }
}
