//! Messages a sequencer missed, given to it in order when it can be reached again.
//!
//! A message is *stored* once one sequencer holds it, but a member that later reads only a
//! sequencer that was down when it was sent would never see it (`docs/protocol/groups.md`
//! §9.7). So each message a sequencer could not take waits in that sequencer's backlog, and
//! the task's backlog worker appends the backlog there, oldest first, once it answers again.
//! While a sequencer's backlog is not empty, new messages join it instead of going to it
//! directly, so its log holds our messages in the order we sent them, as MLS needs to decrypt
//! them (a member keeps only so many past generations of a sender's keys).
//!
//! An entry leaves a backlog when the sequencer takes it, refuses it for good, or after
//! [`KEEP_FOR`]. Once no sequencer is left to try, the core gets the entry's final count;
//! until then the outbox keeps the entry, so that a restart tries again (sequencers answer
//! an entry they hold with a receipt for their copy).

use std::{
    collections::{HashMap, VecDeque},
    sync::Mutex,
    time::Duration,
};

use tern_proto::grouplog::{Access, Kind, Refusal};
use tokio::{
    sync::{Notify, mpsc},
    time::Instant,
};

use super::{Client, FIRST_BACKOFF, GroupId, Outcome, Report, append_caught_up, pause};

/// How long a sequencer that cannot be reached keeps an entry waiting for it, beyond which
/// it is given up (the outbox still holds the entry for the next start).
const KEEP_FOR: Duration = Duration::from_secs(24 * 3600);

/// One message waiting for a sequencer.
#[derive(Debug, Clone)]
pub(super) struct Missed {
    pub(super) seq: u64,
    pub(super) kind: Kind,
    pub(super) body: Vec<u8>,
    pub(super) access: Access,
    pub(super) epoch: u64,
    since: Instant,
}

/// An entry's count: the sequencers that hold it and those still to try.
#[derive(Debug, Clone, Copy)]
struct Tally {
    stored: usize,
    waiting: usize,
}

/// The backlogs of a log task's sequencers.
#[derive(Debug)]
pub(super) struct Backlogs {
    inner: Mutex<Inner>,
    /// Woken when an entry joins a backlog.
    joined: Notify,
}

#[derive(Debug)]
struct Inner {
    /// By sequencer, the entries it missed, oldest first.
    queues: Vec<VecDeque<Missed>>,
    /// By outbox entry, its count while any sequencer is still to try.
    tallies: HashMap<u64, Tally>,
}

impl Backlogs {
    pub(super) fn new(sequencers: usize) -> Self {
        Self {
            inner: Mutex::new(Inner {
                queues: vec![VecDeque::new(); sequencers],
                tallies: HashMap::new(),
            }),
            joined: Notify::new(),
        }
    }

    fn inner(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Whether `relay` has entries waiting (new messages then wait behind them).
    pub(super) fn waiting_at(&self, relay: usize) -> bool {
        !self.inner().queues[relay].is_empty()
    }

    /// Puts entry `missed.seq`, held by `stored` sequencers, in the backlogs of `relays`.
    pub(super) fn defer(&self, relays: &[usize], stored: usize, missed: &Missed) {
        if relays.is_empty() {
            return;
        }
        let mut inner = self.inner();
        inner.tallies.insert(
            missed.seq,
            Tally {
                stored,
                waiting: relays.len(),
            },
        );
        for &relay in relays {
            inner.queues[relay].push_back(missed.clone());
        }
        drop(inner);
        self.joined.notify_one();
    }

    /// The oldest entry waiting for `relay`.
    fn front(&self, relay: usize) -> Option<Missed> {
        self.inner().queues[relay].front().cloned()
    }

    /// Takes the oldest entry of `relay`'s backlog off it, `stored` there or not. Returns the
    /// entry's outcome once no sequencer is left to try.
    fn settle(&self, relay: usize, stored: bool) -> Option<(u64, Outcome)> {
        let mut inner = self.inner();
        let missed = inner.queues[relay].pop_front()?;
        let tally = inner.tallies.get_mut(&missed.seq)?;
        tally.stored += usize::from(stored);
        tally.waiting -= 1;
        if tally.waiting > 0 {
            return None;
        }
        let stored = tally.stored;
        inner.tallies.remove(&missed.seq);
        // Held nowhere, and no sequencer left to try: refused for good.
        let outcome = match stored {
            0 => Outcome::Refused(Refusal::Unavailable),
            stored => Outcome::Stored(stored),
        };
        Some((missed.seq, outcome))
    }

    /// Entry `seq` is to be made again (its epoch ended at a sequencer before it took it):
    /// it leaves every backlog.
    fn drop_entry(&self, seq: u64) {
        let mut inner = self.inner();
        inner.tallies.remove(&seq);
        for queue in &mut inner.queues {
            queue.retain(|m| m.seq != seq);
        }
    }
}

impl Missed {
    pub(super) fn new(seq: u64, kind: Kind, body: Vec<u8>, access: Access, epoch: u64) -> Self {
        Self {
            seq,
            kind,
            body,
            access,
            epoch,
            since: Instant::now(),
        }
    }

    /// Appends it at sequencer `relay`, giving it the commits it missed first if need be.
    pub(super) async fn append_at(&self, client: &Client, relay: usize) -> Option<Outcome> {
        let Self {
            kind,
            body,
            access,
            epoch,
            ..
        } = self;
        append_caught_up(client, relay, kind, body, access, *epoch).await
    }
}

/// Works through the backlogs for as long as the task runs, reporting each entry's outcome
/// to the core once it is final.
pub(super) async fn drain(client: &Client, group: GroupId, reports: &mpsc::Sender<Report>) {
    let backlogs = &client.backlogs;
    let mut backoff = FIRST_BACKOFF;
    loop {
        let mut left = false;
        let mut moved = false;
        for relay in 0..client.sequencers.len() {
            while let Some(missed) = backlogs.front(relay) {
                let outcome = if missed.since.elapsed() > KEEP_FOR {
                    Some(Outcome::Refused(Refusal::Unavailable))
                } else {
                    missed.append_at(client, relay).await
                };
                let settled = match outcome {
                    // Not reachable yet: the rest of its backlog waits behind this one.
                    None => {
                        left = true;
                        break;
                    }
                    Some(Outcome::Refused(Refusal::Retired)) => {
                        // Its epoch ended there before it took it: the core makes it again
                        // in the group's epoch now, and the new entry goes everywhere.
                        backlogs.drop_entry(missed.seq);
                        Some((missed.seq, Outcome::Refused(Refusal::Retired)))
                    }
                    Some(outcome) => backlogs.settle(relay, matches!(outcome, Outcome::Stored(_))),
                };
                moved = true;
                if let Some((seq, outcome)) = settled {
                    let report = Report::Appended {
                        group,
                        seq,
                        outcome,
                    };
                    if reports.send(report).await.is_err() {
                        return;
                    }
                }
            }
        }
        if moved {
            backoff = FIRST_BACKOFF;
        }
        if left {
            pause(&mut backoff).await;
        } else {
            backlogs.joined.notified().await;
        }
    }
}
