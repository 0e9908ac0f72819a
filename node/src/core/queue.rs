//! The outbox as the core keeps it in memory, decided without I/O: what each entry needs for
//! dispatching (peer, message id, next attempt), which entries are being delivered, and the
//! envelopes of entries committed and not tried yet, so that their first attempt needs no
//! read. Loaded at start and kept in step with every commit, so dispatching and acknowledging
//! never scan the table. It also orders what is left at relays: a recipient's relays receive
//! its messages in the order they were sent (see [`Queue::hold_deposit`]).

use std::collections::{BTreeMap, HashMap, HashSet};

use tern_crypto::{MailboxPublicKey, UserId};

use super::records::RelayTarget;
use crate::{id::MessageId, tables::OutboxRow};

/// Delay before the first retry; doubled per attempt up to [`MAX_RETRY_DELAY_MS`].
const FIRST_RETRY_DELAY_MS: u64 = 1_000;
/// Longest wait between retries: an offline contact is tried at least this often.
const MAX_RETRY_DELAY_MS: u64 = 300_000;
/// Most bytes of envelopes kept for entries not tried yet. Under load, entries are committed
/// faster than deliveries end, and wait for a slot; up to this much they wait in memory, and
/// beyond it they are read back from the outbox when due.
const READY_BYTES: usize = 16 << 20;

/// What the core keeps in memory about one outbox entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Queued {
    pub(super) peer: UserId,
    pub(super) id: MessageId,
    /// A message whose delivery state the user sees (receipts are not).
    pub(super) visible: bool,
    pub(super) next_attempt_ms: u64,
    /// The base key of the session whose PQXDH header the entry's envelope carries, when it
    /// was encrypted since the node started: the recipient's `stored` answer confirms that
    /// session (`Core::confirm_sessions`).
    pub(super) header_of: Option<[u8; 32]>,
}

impl Queued {
    pub(super) fn of(row: &OutboxRow) -> Self {
        Self {
            peer: row.peer,
            id: row.id,
            visible: row.visible,
            next_attempt_ms: row.next_attempt_ms,
            header_of: None,
        }
    }
}

/// The due entries of one dispatch.
#[derive(Debug, Default, PartialEq, Eq)]
pub(super) struct Due {
    /// Entries to send now (their recipient's record is known).
    pub(super) send: Vec<u64>,
    /// Recipients to look up first.
    pub(super) look_up: Vec<UserId>,
}

/// An entry whose direct attempt failed, to be left at its recipient's relays.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Leave {
    pub(super) target: RelayTarget,
    /// The recipient's mailbox key, which a direct envelope is sealed to before it goes.
    pub(super) mailbox: MailboxPublicKey,
    /// The envelope the outbox keeps: direct, or already sealed.
    pub(super) envelope: Vec<u8>,
}

#[derive(Debug, Default)]
pub(super) struct Queue {
    entries: BTreeMap<u64, Queued>,
    /// Entries being tried, directly or at relays, or held in `leaving`.
    busy: HashSet<u64>,
    /// Deposits waiting for an older entry of the same recipient that is still being tried
    /// directly.
    leaving: BTreeMap<u64, Leave>,
    /// Entries released from `leaving` whose deposit has not ended.
    depositing: HashSet<u64>,
    /// Envelopes of entries committed with one and not tried since, by entry.
    ready: HashMap<u64, Vec<u8>>,
    /// Their bytes, at most [`READY_BYTES`].
    ready_bytes: usize,
}

impl Queue {
    /// The outbox as read at start.
    pub(super) fn load(rows: &[(u64, OutboxRow)]) -> Self {
        Self {
            entries: rows
                .iter()
                .map(|(seq, row)| (*seq, Queued::of(row)))
                .collect(),
            ..Self::default()
        }
    }

    /// An entry just committed; with its envelope when it was sealed, kept (within
    /// [`READY_BYTES`]) so that its first attempt needs no read.
    pub(super) fn committed(&mut self, seq: u64, entry: Queued, envelope: Option<Vec<u8>>) {
        self.entries.insert(seq, entry);
        if let Some(envelope) = envelope
            && self.ready_bytes + envelope.len() <= READY_BYTES
        {
            self.ready_bytes += envelope.len();
            if let Some(old) = self.ready.insert(seq, envelope) {
                self.ready_bytes -= old.len();
            }
        }
    }

    /// The envelope of an entry committed with it and not tried since: taken, so a retry
    /// reads it back from the outbox, as every entry after a restart.
    pub(super) fn take_envelope(&mut self, seq: u64) -> Option<Vec<u8>> {
        let envelope = self.ready.remove(&seq)?;
        self.ready_bytes -= envelope.len();
        Some(envelope)
    }

    pub(super) fn get(&self, seq: u64) -> Option<&Queued> {
        self.entries.get(&seq)
    }

    /// Notes that entry `seq`, encrypted just now, carries the header of the session
    /// `base_key` starts.
    pub(super) fn set_header_of(&mut self, seq: u64, base_key: Option<[u8; 32]>) {
        if let Some(entry) = self.entries.get_mut(&seq) {
            entry.header_of = base_key;
        }
    }

    /// Removes an entry that left the outbox.
    pub(super) fn remove(&mut self, seq: u64) -> Option<Queued> {
        self.take_envelope(seq);
        if self.leaving.remove(&seq).is_some() {
            // No task holds it: nothing else would end it.
            self.busy.remove(&seq);
        }
        self.depositing.remove(&seq);
        self.entries.remove(&seq)
    }

    /// Holds the deposit of entry `seq`, whose direct attempt failed, until every older entry
    /// for the same recipient that is being tried directly has ended; the entry counts as
    /// busy meanwhile. Direct attempts end in any order, and a relay keeps a mailbox in the
    /// order deposits reach it: held this way, and queued after the recipient's earlier
    /// deposits (`Core::leave_at_relays`), a recipient coming back collects its messages in
    /// the order they were sent.
    pub(super) fn hold_deposit(&mut self, seq: u64, leave: Leave) {
        self.busy.insert(seq);
        self.leaving.insert(seq, leave);
    }

    /// The held deposits that may go now, by recipient, oldest first: for each recipient,
    /// those older than every entry of it still being tried directly. They stay busy until
    /// their deposit ends.
    pub(super) fn deposits_due(&mut self) -> Vec<(UserId, Vec<(u64, Leave)>)> {
        if self.leaving.is_empty() {
            return Vec::new();
        }
        let mut oldest_tried: HashMap<UserId, u64> = HashMap::new();
        for seq in &self.busy {
            if self.leaving.contains_key(seq) || self.depositing.contains(seq) {
                continue;
            }
            if let Some(entry) = self.entries.get(seq) {
                let oldest = oldest_tried.entry(entry.peer).or_insert(*seq);
                *oldest = (*oldest).min(*seq);
            }
        }
        let mut due: Vec<(UserId, Vec<(u64, Leave)>)> = Vec::new();
        for (seq, leave) in std::mem::take(&mut self.leaving) {
            let Some(peer) = self.entries.get(&seq).map(|entry| entry.peer) else {
                self.busy.remove(&seq);
                continue;
            };
            if oldest_tried.get(&peer).is_some_and(|oldest| *oldest < seq) {
                self.leaving.insert(seq, leave);
                continue;
            }
            self.depositing.insert(seq);
            match due.iter_mut().find(|(p, _)| *p == peer) {
                Some((_, leaves)) => leaves.push((seq, leave)),
                None => due.push((peer, vec![(seq, leave)])),
            }
        }
        due
    }

    pub(super) fn len(&self) -> usize {
        self.entries.len()
    }

    /// What is due at `now_ms`, oldest first, at most `room` entries to send; `known` says
    /// whether a recipient's record is held. An attempt scheduled further ahead than the
    /// longest backoff was scheduled before the clock went back: it is due now.
    /// Entries for a `held` recipient wait (see `core::identity`).
    pub(super) fn due(
        &self,
        now_ms: u64,
        room: usize,
        known: impl Fn(&UserId) -> bool,
        held: impl Fn(&UserId) -> bool,
    ) -> Due {
        let mut due = Due::default();
        for (&seq, entry) in &self.entries {
            if due.send.len() >= room {
                break;
            }
            let waiting = entry.next_attempt_ms > now_ms
                && entry.next_attempt_ms <= now_ms.saturating_add(MAX_RETRY_DELAY_MS);
            if waiting || self.busy.contains(&seq) || held(&entry.peer) {
                continue;
            }
            if known(&entry.peer) {
                due.send.push(seq);
            } else if !due.look_up.contains(&entry.peer) {
                due.look_up.push(entry.peer);
            }
        }
        due
    }

    /// Every entry for `peer`, being delivered or not.
    pub(super) fn entries_for(&self, peer: &UserId) -> Vec<u64> {
        self.entries
            .iter()
            .filter(|(_, entry)| entry.peer == *peer)
            .map(|(seq, _)| *seq)
            .collect()
    }

    /// Entries for `peer` not being delivered.
    pub(super) fn waiting_for(&self, peer: &UserId) -> Vec<u64> {
        self.entries
            .iter()
            .filter(|(seq, entry)| entry.peer == *peer && !self.busy.contains(seq))
            .map(|(seq, _)| *seq)
            .collect()
    }

    /// Marks an entry as being delivered; false if it already is.
    pub(super) fn begin(&mut self, seq: u64) -> bool {
        self.busy.insert(seq)
    }

    /// A delivery attempt of an entry ended.
    pub(super) fn end(&mut self, seq: u64) {
        self.busy.remove(&seq);
        self.depositing.remove(&seq);
    }

    pub(super) fn is_busy(&self, seq: u64) -> bool {
        self.busy.contains(&seq)
    }

    /// Schedules the next attempt of `row` (which failed at `now_ms`) with exponential
    /// backoff, in the row and in memory.
    pub(super) fn reschedule(&mut self, seq: u64, row: &mut OutboxRow, now_ms: u64) {
        row.attempts = row.attempts.saturating_add(1);
        row.next_attempt_ms = now_ms + backoff_ms(row.attempts);
        if let Some(entry) = self.entries.get_mut(&seq) {
            entry.next_attempt_ms = row.next_attempt_ms;
        }
    }
}

/// The wait after `attempts` failed attempts.
pub(super) fn backoff_ms(attempts: u32) -> u64 {
    FIRST_RETRY_DELAY_MS
        .saturating_mul(1 << attempts.min(16))
        .min(MAX_RETRY_DELAY_MS)
}

#[cfg(test)]
mod tests {
    use rand_chacha::{ChaCha20Rng, rand_core::SeedableRng};
    use tern_crypto::AccountKey;

    use super::*;

    fn user(seed: u8) -> UserId {
        AccountKey::generate(&mut ChaCha20Rng::from_seed([seed; 32])).user_id()
    }

    fn row(peer: UserId, next_attempt_ms: u64) -> OutboxRow {
        OutboxRow {
            id: MessageId::from_bytes([next_attempt_ms as u8; 16]),
            peer,
            payload: Vec::new(),
            envelope: None,
            visible: true,
            attempts: 0,
            next_attempt_ms,
        }
    }

    #[test]
    fn due_entries_oldest_first_with_lookups_for_unknown_recipients() {
        let (known, unknown) = (user(1), user(2));
        let rows = vec![
            (1, row(known, 0)),
            (2, row(unknown, 0)),
            (3, row(unknown, 0)),
            (4, row(known, 5_000)),
            (5, row(known, 0)),
        ];
        let mut queue = Queue::load(&rows);
        let due = queue.due(1_000, 10, |peer| *peer == known, |_| false);
        assert_eq!(due.send, vec![1, 5]);
        assert_eq!(due.look_up, vec![unknown], "one lookup per recipient");
        assert!(queue.begin(1));
        assert!(!queue.begin(1), "not sent twice");
        assert_eq!(
            queue.due(6_000, 10, |_| true, |_| false).send,
            vec![2, 3, 4, 5]
        );
        assert_eq!(
            queue.due(6_000, 10, |_| true, |peer| *peer == unknown).send,
            vec![4, 5],
            "a held recipient's entries wait"
        );
        assert_eq!(
            queue.due(6_000, 2, |_| true, |_| false).send,
            vec![2, 3],
            "bounded"
        );
        queue.end(1);
        assert_eq!(queue.waiting_for(&known), vec![1, 4, 5]);
    }

    #[test]
    fn a_retry_scheduled_before_the_clock_went_back_is_not_delayed_by_the_jump() {
        let peer = user(5);
        let queue = Queue::load(&[
            (1, row(peer, 10 * 24 * 3600 * 1000)),
            (2, row(peer, 60_000)),
        ]);
        assert_eq!(queue.due(0, 10, |_| true, |_| false).send, vec![1]);
    }

    #[test]
    fn envelopes_committed_are_kept_for_the_first_attempt_within_a_bound() {
        let peer = user(3);
        let mut queue = Queue::default();
        queue.committed(7, Queued::of(&row(peer, 0)), Some(vec![1, 2]));
        queue.committed(8, Queued::of(&row(peer, 0)), None);
        assert_eq!(queue.take_envelope(7), Some(vec![1, 2]));
        assert_eq!(queue.take_envelope(7), None, "a retry reads it back");
        assert_eq!(queue.take_envelope(8), None);
        assert_eq!(queue.len(), 2);

        // Beyond the bound an entry is kept without its envelope; leaving frees the room.
        let big = vec![0; READY_BYTES / 2];
        queue.committed(9, Queued::of(&row(peer, 0)), Some(big.clone()));
        queue.committed(10, Queued::of(&row(peer, 0)), Some(big.clone()));
        queue.committed(11, Queued::of(&row(peer, 0)), Some(vec![3]));
        assert_eq!(queue.take_envelope(11), None, "over the bound");
        assert!(queue.remove(9).is_some());
        assert!(queue.get(9).is_none());
        queue.committed(12, Queued::of(&row(peer, 0)), Some(big));
        assert!(queue.take_envelope(12).is_some());
        assert!(queue.take_envelope(10).is_some());
        assert_eq!(queue.ready_bytes, 0);
        assert_eq!(queue.len(), 5);
    }

    fn leave(byte: u8) -> Leave {
        Leave {
            target: (Vec::new(), tern_crypto::MailboxId::from_bytes([byte; 32])),
            mailbox: MailboxPublicKey::from_bytes([9; 32]).unwrap(),
            envelope: vec![byte],
        }
    }

    fn due_seqs(queue: &mut Queue) -> Vec<(UserId, Vec<u64>)> {
        queue
            .deposits_due()
            .into_iter()
            .map(|(peer, leaves)| (peer, leaves.into_iter().map(|(seq, _)| seq).collect()))
            .collect()
    }

    #[test]
    fn deposits_wait_for_older_entries_of_their_recipient_and_go_in_order() {
        let (bob, carol) = (user(5), user(6));
        let mut queue = Queue::load(&[
            (1, row(bob, 0)),
            (2, row(bob, 0)),
            (3, row(carol, 0)),
            (4, row(bob, 0)),
        ]);
        for seq in 1..=4 {
            assert!(queue.begin(seq), "every entry is tried directly");
        }
        // Bob's newer entries fail first; Carol's does not wait for Bob's.
        queue.end(4);
        queue.hold_deposit(4, leave(4));
        queue.end(2);
        queue.hold_deposit(2, leave(2));
        queue.end(3);
        queue.hold_deposit(3, leave(3));
        assert_eq!(due_seqs(&mut queue), vec![(carol, vec![3])]);
        assert!(
            queue.is_busy(2) && queue.is_busy(4),
            "held entries are busy"
        );
        assert!(queue.due(0, 10, |_| true, |_| false).send.is_empty());

        // Bob's oldest fails too: all three go, oldest first, each with its own deposit.
        queue.end(1);
        queue.hold_deposit(1, leave(1));
        let due = queue.deposits_due();
        assert_eq!(due.len(), 1);
        let (peer, leaves) = &due[0];
        assert_eq!(*peer, bob);
        assert_eq!(leaves, &vec![(1, leave(1)), (2, leave(2)), (4, leave(4))]);
        assert!(queue.deposits_due().is_empty());

        // A newer failure goes while they are at relays (the core queues it after them), but
        // not while an older entry is tried directly.
        queue.committed(5, Queued::of(&row(bob, 0)), None);
        queue.begin(5);
        queue.end(5);
        queue.hold_deposit(5, leave(5));
        assert_eq!(
            due_seqs(&mut queue),
            vec![(bob, vec![5])],
            "1, 2, 4 at relays"
        );
        queue.committed(8, Queued::of(&row(bob, 0)), None);
        queue.committed(9, Queued::of(&row(bob, 0)), None);
        queue.begin(8);
        queue.begin(9);
        queue.end(9);
        queue.hold_deposit(9, leave(9));
        assert!(due_seqs(&mut queue).is_empty(), "8 is still tried directly");
        queue.end(8);
        queue.remove(8);
        assert_eq!(due_seqs(&mut queue), vec![(bob, vec![9])]);
        for seq in [1, 2, 3, 4, 5, 9] {
            queue.end(seq);
            queue.remove(seq);
        }
        assert!(queue.depositing.is_empty() && queue.busy.is_empty());

        // An entry that leaves the outbox while held is no longer busy nor deposited.
        queue.committed(6, Queued::of(&row(carol, 0)), None);
        queue.begin(6);
        queue.committed(7, Queued::of(&row(carol, 0)), None);
        queue.begin(7);
        queue.end(7);
        queue.hold_deposit(7, leave(7));
        assert!(due_seqs(&mut queue).iter().all(|(peer, _)| *peer != carol));
        assert!(queue.remove(7).is_some());
        assert!(!queue.is_busy(7));
        queue.end(6);
        assert!(due_seqs(&mut queue).is_empty());
    }

    #[test]
    fn retries_back_off_exponentially_up_to_five_minutes() {
        let peer = user(4);
        let mut queue = Queue::load(&[(1, row(peer, 0))]);
        let mut stored = row(peer, 0);
        let mut waits = Vec::new();
        for _ in 0..12 {
            queue.reschedule(1, &mut stored, 0);
            waits.push(stored.next_attempt_ms);
            assert_eq!(
                queue.get(1).unwrap().next_attempt_ms,
                stored.next_attempt_ms
            );
        }
        assert_eq!(&waits[..4], &[2_000, 4_000, 8_000, 16_000]);
        assert!(waits.iter().all(|w| *w <= 300_000));
        assert_eq!(waits[11], 300_000);
    }
}
