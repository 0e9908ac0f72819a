//! The log task of one group: it reads the group's log at its sequencer relays with held
//! reads after the cursor the core committed, and appends what the core hands it
//! (`docs/protocol/groups.md` §9.7).
//!
//! The task decides nothing about the group. It hands each page of entries to the core and
//! waits: the core processes the page, commits the group's new state with the cursor in one
//! write, and answers with where to read on and under which access key (a commit in the
//! page moved the group to a new epoch). Reads go to the first sequencer in the group's list
//! that answers; another is tried when it fails. Appends go to every sequencer. A commit goes
//! to the first sequencer that gives a verdict, whose order decides; only a commit that won
//! there is copied to the others, so that every sequencer's order agrees with it.
//!
//! A sequencer that was unreachable while the group moved to a new epoch does not know the new
//! epoch's key and refuses it (`UnknownKey`); it would stay behind for good, and, first in the
//! list, refuse every later commit. The task keeps the group's last commits (the core hands
//! them over, [`Copies`]) and appends the ones such a sequencer missed, oldest first, each
//! under the key of its own epoch, before it tries again. A message a sequencer could not
//! take waits in that sequencer's backlog ([`backlog`]) and is given to it, in order, when it
//! answers again, so that a member reading only that sequencer later misses nothing we sent.
//!
//! Streams go out under the network task's anonymous identity: a relay sees a log's access
//! key, never a member's account or device.

use std::{
    collections::VecDeque,
    sync::{Arc, Mutex},
    time::Duration,
};

use libp2p::{Multiaddr, PeerId, Stream};
use tern_proto::grouplog::{self, Access, Answer, Entry, Kind, LogId, Op, Refusal};
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;
use tracing::{debug, warn};

use self::backlog::{Backlogs, Missed};
use super::GroupId;
use crate::network::{self, Lease};

mod backlog;

/// Entries asked for per read.
const PAGE: u32 = 64;
/// How long a read is held at the relay when there is nothing new.
const WAIT_SECS: u16 = 25;
/// Longest a request may take before the stream is given up, beyond a held read's wait.
const CALL_TIMEOUT: Duration = Duration::from_secs(15);
/// Pause after a failure before the next attempt, doubled up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_millis(250);
/// How far ahead of the oldest append still under way a log task may start one. Entries are
/// handed over in the order they were encrypted, so a sequencer's log holds a sender's
/// messages at most this far out of order, well inside what MLS keeps for decrypting them
/// (`tern_mls::OUT_OF_ORDER_TOLERANCE`). Without the bound, a backlog retried after an outage
/// landed in any order, and members could not decrypt its stragglers.
const IN_FLIGHT: usize = 64;
const _: () = assert!(IN_FLIGHT < tern_mls::OUT_OF_ORDER_TOLERANCE as usize);
const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// A commit the group's log holds, with the access key of the epoch it was made in.
#[derive(Debug, Clone)]
pub(crate) struct CommitCopy {
    pub(crate) epoch: u64,
    pub(crate) next_key: [u8; 32],
    pub(crate) body: Vec<u8>,
    pub(crate) access: Access,
}

/// A group's last commits, oldest first, at most `crate::group::tables::COMMIT_COPIES`:
/// shared by the core, which adds each one it processed, and the log task, which copies them
/// to a sequencer that missed them.
#[derive(Debug, Clone, Default)]
pub(crate) struct Copies(Arc<Mutex<VecDeque<CommitCopy>>>);

impl Copies {
    /// Adds `copy` in its epoch's place (replacing one of the same epoch), keeping the newest.
    pub(crate) fn remember(&self, copy: CommitCopy) {
        let mut copies = self.0.lock().unwrap_or_else(|e| e.into_inner());
        copies.retain(|c| c.epoch != copy.epoch);
        let at = copies.partition_point(|c| c.epoch < copy.epoch);
        copies.insert(at, copy);
        while copies.len() as u64 > crate::group::tables::COMMIT_COPIES {
            copies.pop_front();
        }
    }

    /// Forgets them all (the group's log moved, `core/groups/moving.rs`).
    pub(crate) fn clear(&self) {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).clear();
    }

    fn all(&self) -> Vec<CommitCopy> {
        let copies = self.0.lock().unwrap_or_else(|e| e.into_inner());
        copies.iter().cloned().collect()
    }
}

/// One of a group's sequencer relays.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Sequencer {
    pub(crate) peer: PeerId,
    pub(crate) addresses: Vec<Multiaddr>,
}

/// Where and how a reader goes on after the core committed a page.
#[derive(Debug)]
pub(crate) struct Resume {
    /// The last sequence number the core committed, at the relay that was read.
    pub(crate) cursor: u64,
    /// The access key of the group's epoch now.
    pub(crate) access: Access,
    /// The group's epoch now (a sequencer that lost the log is opened at it).
    pub(crate) epoch: u64,
}

/// What the task reports to the core.
#[derive(Debug)]
pub(crate) enum Report {
    /// A page of the log at sequencer `relay`, oldest first. The core answers once it has
    /// committed them, or with `None` when the group is over for us (we left or were
    /// removed): the task then stops reading.
    Entries {
        group: GroupId,
        relay: usize,
        entries: Vec<Entry>,
        /// Entries of our epoch that expired at this sequencer before we read them.
        gap: Option<Gap>,
        reply: oneshot::Sender<Option<Resume>>,
    },
    /// Every sequencer said that the entries our epoch's key reads have expired: we were
    /// away longer than the log keeps them and cannot read on (`docs/protocol/groups.md`
    /// §10.7). The task has stopped.
    Expired { group: GroupId },
    /// Whether the reader reaches any sequencer: `false` once every one in a row failed to
    /// connect or to answer, `true` at an answer (any answer, a refusal too). Sent for the
    /// first state after the task starts (the core may hold an outage from before a restart),
    /// then only when it changes; an admin moves a log that stays unreachable
    /// (`docs/protocol/groups.md` §9.9). `log` tells a report of a log the group has since
    /// left.
    Reach {
        group: GroupId,
        log: LogId,
        reachable: bool,
    },
    /// What came of appending the core's outbox entry `seq`.
    Appended {
        group: GroupId,
        seq: u64,
        outcome: Outcome,
    },
}

/// Entries of our epoch that a sequencer no longer holds though our cursor had not passed
/// them: they expired (the log keeps entries 21 days) while this device was away, in a group
/// whose epoch did not end meanwhile (when it did, the reads are refused `Expired`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Gap {
    /// How many entries: messages, receipts, changes, leaves.
    pub(crate) count: u64,
    /// The last of them: where the cursor goes on from.
    pub(crate) last: u64,
}

impl Gap {
    /// The gap a page shows to a reader whose cursor is `cursor`: the relay holds nothing
    /// below `first`, and our epoch's entries come after `begin`.
    fn of(cursor: u64, first: u64, begin: u64) -> Option<Self> {
        let from = cursor.max(begin);
        (first > from.saturating_add(1)).then(|| Self {
            count: first - from - 1,
            last: first - 1,
        })
    }
}

/// What came of an append.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// On disk at this many sequencers, each receipt checked; no other will be tried.
    Stored(usize),
    /// On disk at this many sequencers so far (perhaps none); the others missed it and are
    /// given it when they can be reached ([`backlog`]). A final outcome follows.
    Storing(usize),
    /// A commit for an epoch that another commit won first.
    Lost,
    /// A sequencer refused it for good (a message of an epoch that has ended, an entry over
    /// the size limit, a log that is full).
    Refused(Refusal),
}

/// What the core asks of the task.
#[derive(Debug)]
pub(crate) enum Control {
    /// Append outbox entry `seq` under `access`, the key of `epoch`, the epoch it was made
    /// in.
    Append {
        seq: u64,
        kind: Kind,
        body: Vec<u8>,
        access: Access,
        epoch: u64,
    },
}

/// A group's log task: its reader and its appender, until `cancel`.
pub(crate) struct LogTask {
    pub(crate) group: GroupId,
    pub(crate) log: LogId,
    pub(crate) sequencers: Vec<Sequencer>,
    /// The committed cursor at each sequencer.
    pub(crate) cursors: Vec<u64>,
    /// The access key of the group's epoch.
    pub(crate) access: Access,
    /// The epoch the log is opened at if a sequencer does not hold it.
    pub(crate) epoch: u64,
    /// The group's last commits, for a sequencer that missed them.
    pub(crate) copies: Copies,
    pub(crate) net: network::Handle,
    pub(crate) reports: mpsc::Sender<Report>,
    pub(crate) control: mpsc::Receiver<Control>,
    pub(crate) cancel: CancellationToken,
}

impl LogTask {
    pub(crate) async fn run(self) {
        let LogTask {
            group,
            log,
            sequencers,
            cursors,
            access,
            epoch,
            copies,
            net,
            reports,
            mut control,
            cancel,
        } = self;
        let client = Client {
            log,
            behind: Mutex::new(vec![None; sequencers.len()]),
            backlogs: Backlogs::new(sequencers.len()),
            sequencers,
            net,
            copies,
        };
        let reader = read(&client, group, cursors, access, epoch, &reports);
        let appender = async {
            let mut appends = futures::stream::FuturesUnordered::new();
            // Entries by the order they were taken: the next one's place, and the places
            // still under way. A new one starts only within IN_FLIGHT of the oldest.
            let mut next = 0_usize;
            let mut unfinished = std::collections::BTreeSet::new();
            loop {
                let room = unfinished
                    .first()
                    .is_none_or(|oldest| next - oldest < IN_FLIGHT);
                tokio::select! {
                    Some(control) = control.recv(), if room => match control {
                        Control::Append { seq, kind, body, access, epoch } => {
                            let place = next;
                            next += 1;
                            unfinished.insert(place);
                            let client = &client;
                            appends.push(async move {
                                (place, append(client, seq, kind, body, access, epoch).await)
                            });
                        }
                    },
                    Some((place, (seq, outcome))) = futures::StreamExt::next(&mut appends), if !appends.is_empty() => {
                        unfinished.remove(&place);
                        let report = Report::Appended { group, seq, outcome };
                        if reports.send(report).await.is_err() {
                            return;
                        }
                    }
                    else => return,
                }
            }
        };
        tokio::select! {
            () = cancel.cancelled() => {}
            () = reader => {}
            () = appender => {}
            () = backlog::drain(&client, group, &reports) => {}
        }
        debug!(%group, "group log task stopped");
    }
}

/// What the reader and appender share: the log and where it is kept.
struct Client {
    log: LogId,
    sequencers: Vec<Sequencer>,
    net: network::Handle,
    copies: Copies,
    /// By sequencer, the newest commit we held when it could not be caught up.
    behind: Mutex<Vec<Option<u64>>>,
    /// By sequencer, the messages it missed.
    backlogs: Backlogs,
}

/// A stream to one sequencer, with the lease that keeps its connection.
struct Open {
    stream: Stream,
    _lease: Lease,
}

impl Client {
    fn behind(&self, relay: usize) -> Option<u64> {
        let behind = self.behind.lock().unwrap_or_else(|e| e.into_inner());
        behind.get(relay).copied().flatten()
    }

    fn set_behind(&self, relay: usize, newest: Option<u64>) {
        let mut behind = self.behind.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(at) = behind.get_mut(relay) {
            *at = newest;
        }
    }

    async fn connect(&self, relay: usize) -> Option<Open> {
        let sequencer = &self.sequencers[relay];
        let opened = tokio::time::timeout(
            CALL_TIMEOUT,
            self.net.anonymous_stream(
                sequencer.peer,
                sequencer.addresses.clone(),
                grouplog::PROTOCOL,
            ),
        )
        .await;
        match opened {
            Ok(Ok((stream, lease))) => Some(Open {
                stream,
                _lease: lease,
            }),
            Ok(Err(e)) => {
                debug!(relay = %sequencer.peer, "cannot open a group log stream: {e}");
                None
            }
            Err(_) => None,
        }
    }

    /// One request on `open`, answered within the call timeout plus `wait`.
    async fn call(
        &self,
        open: &mut Open,
        relay: usize,
        access: &Access,
        op: Op,
        wait: Duration,
    ) -> Option<Answer> {
        let peer = self.sequencers[relay].peer.to_bytes();
        let request = access.request(&peer, self.log, op);
        match tokio::time::timeout(
            CALL_TIMEOUT + wait,
            grouplog::call(&mut open.stream, &request),
        )
        .await
        {
            Ok(Ok(answer)) => Some(answer),
            Ok(Err(e)) => {
                debug!("group log call failed: {e}");
                None
            }
            Err(_) => None,
        }
    }

    /// Opens the log at `relay` at `epoch` under `access`: a sequencer that lost it (it
    /// expired, or was never reached at the group's creation) takes it up again.
    async fn open_log(&self, open: &mut Open, relay: usize, access: &Access, epoch: u64) -> bool {
        matches!(
            self.call(open, relay, access, Op::Open { epoch }, Duration::ZERO)
                .await,
            Some(Answer::Opened { .. })
        )
    }
}

/// Whether the sequencers are reached, from each attempt's outcome.
#[derive(Debug, Default)]
struct Reach {
    /// Attempts in a row that got no answer.
    failures: usize,
    /// What the core was last told; `None`: nothing yet since the task started.
    told: Option<bool>,
}

impl Reach {
    /// An attempt at one of `sequencers` got no answer: `Some(false)` when that makes every
    /// one in a row, and the core was not told so already.
    fn failed(&mut self, sequencers: usize) -> Option<bool> {
        self.failures += 1;
        (self.failures >= sequencers)
            .then(|| self.tell(false))
            .flatten()
    }

    /// A sequencer answered: `Some(true)` if the core was not told so already.
    fn answered(&mut self) -> Option<bool> {
        self.failures = 0;
        self.tell(true)
    }

    fn tell(&mut self, reachable: bool) -> Option<bool> {
        (self.told.replace(reachable) != Some(reachable)).then_some(reachable)
    }
}

async fn read(
    client: &Client,
    group: GroupId,
    mut cursors: Vec<u64>,
    mut access: Access,
    mut epoch: u64,
    reports: &mpsc::Sender<Report>,
) {
    let mut reach = Reach::default();
    let tell = |reachable: Option<bool>| async move {
        if let Some(reachable) = reachable {
            let log = client.log;
            let report = Report::Reach {
                group,
                log,
                reachable,
            };
            let _ = reports.send(report).await;
        }
    };
    let mut relay = 0;
    let mut backoff = FIRST_BACKOFF;
    // Sequencers in a row that said our epoch's entries expired, or do not know its key.
    let mut expired = 0;
    // Sequencers given our commits after they did not know our key, since we last read.
    let mut caught_up = Vec::new();
    'relays: loop {
        let Some(mut open) = client.connect(relay).await else {
            tell(reach.failed(client.sequencers.len())).await;
            relay = (relay + 1) % client.sequencers.len();
            pause(&mut backoff).await;
            continue;
        };
        loop {
            let op = Op::Read {
                after: cursors[relay],
                limit: PAGE,
                wait_secs: WAIT_SECS,
            };
            let wait = Duration::from_secs(WAIT_SECS.into());
            let answer = client.call(&mut open, relay, &access, op, wait).await;
            tell(match answer {
                Some(_) => reach.answered(),
                None => reach.failed(client.sequencers.len()),
            })
            .await;
            let mut gap = None;
            let (entries, served) = match answer {
                Some(Answer::Entries {
                    items,
                    first,
                    begin,
                    ..
                }) => {
                    expired = 0;
                    caught_up.clear();
                    gap = Gap::of(cursors[relay], first, begin);
                    (items, true)
                }
                Some(Answer::Refused(Refusal::NoSuchLog)) => {
                    if client.open_log(&mut open, relay, &access, epoch).await {
                        continue;
                    }
                    (Vec::new(), false)
                }
                Some(Answer::Refused(Refusal::Expired)) => {
                    expired += 1;
                    if expired >= client.sequencers.len() {
                        let _ = reports.send(Report::Expired { group }).await;
                        return;
                    }
                    (Vec::new(), false)
                }
                // The sequencer does not know our epoch's key: it missed the commit that
                // made it (give it the commits we hold, and read again), or it lost the log
                // and took it up again at a later epoch, so the commits that would bring us
                // there are gone. When no sequencer knows our key we cannot read on: the
                // same as every one saying our entries expired.
                Some(Answer::Refused(Refusal::UnknownKey)) => {
                    if !caught_up.contains(&relay) && catch_up(client, relay).await {
                        caught_up.push(relay);
                        continue;
                    }
                    expired += 1;
                    if expired >= client.sequencers.len() {
                        let _ = reports.send(Report::Expired { group }).await;
                        return;
                    }
                    (Vec::new(), false)
                }
                // Our key's epoch has ended here and the commit that ended it is behind
                // our cursor: the core has not moved on yet, or this relay is ahead of
                // the order we follow. Try the next sequencer.
                Some(Answer::Refused(refusal)) => {
                    debug!(%group, relay, "group log read refused: {refusal}");
                    (Vec::new(), false)
                }
                Some(_) | None => (Vec::new(), false),
            };
            if entries.is_empty() && gap.is_none() {
                if !served {
                    relay = (relay + 1) % client.sequencers.len();
                    pause(&mut backoff).await;
                    continue 'relays;
                }
                continue;
            }
            backoff = FIRST_BACKOFF;
            let (reply, answer) = oneshot::channel();
            let report = Report::Entries {
                group,
                relay,
                entries,
                gap,
                reply,
            };
            if reports.send(report).await.is_err() {
                return;
            }
            match answer.await {
                Ok(Some(resume)) => {
                    cursors[relay] = resume.cursor;
                    access = resume.access;
                    epoch = resume.epoch;
                }
                // Over for us, or the core stopped.
                Ok(None) | Err(_) => return,
            }
        }
    }
}

/// Appends one entry; returns the outbox entry's sequence number and the outcome, retrying
/// with back-off while no sequencer can be reached.
async fn append(
    client: &Client,
    seq: u64,
    kind: Kind,
    body: Vec<u8>,
    access: Access,
    epoch: u64,
) -> (u64, Outcome) {
    let outcome = match kind {
        Kind::Commit { .. } => retry(|| append_commit(client, &kind, &body, &access, epoch)).await,
        Kind::Message => {
            let missed = Missed::new(seq, kind, body, access, epoch);
            retry(|| append_message(client, &missed)).await
        }
    };
    (seq, outcome)
}

/// Makes `attempt` until it has an outcome, pausing with back-off after each without one.
async fn retry<F: Future<Output = Option<Outcome>>>(mut attempt: impl FnMut() -> F) -> Outcome {
    let mut backoff = FIRST_BACKOFF;
    loop {
        if let Some(outcome) = attempt().await {
            return outcome;
        }
        pause(&mut backoff).await;
    }
}

/// A commit: the first sequencer with a verdict decides; a winner is copied to the others.
async fn append_commit(
    client: &Client,
    kind: &Kind,
    body: &[u8],
    access: &Access,
    epoch: u64,
) -> Option<Outcome> {
    for relay in 0..client.sequencers.len() {
        match append_caught_up(client, relay, kind, body, access, epoch).await {
            // Behind even after the copies we hold: no verdict here.
            Some(Outcome::Refused(Refusal::UnknownKey)) => {}
            Some(Outcome::Stored(_)) => {
                let copies =
                    append_everywhere(client, kind, body, access, epoch, relay + 1..).await;
                let more = match copies {
                    Some(Outcome::Stored(n)) => n,
                    _ => 0,
                };
                return Some(Outcome::Stored(1 + more));
            }
            Some(verdict) => return Some(verdict),
            None => {}
        }
    }
    None
}

/// A message: appended at once at every sequencer without a backlog; those that cannot take
/// it now, and those with a backlog, get it in their backlog. `Storing(n)` when any backlog
/// has it, else `Stored(n)` if any sequencer stored it, a refusal if none did and one
/// refused, `None` if none could be reached. A sequencer whose epoch ended before it took
/// the message refuses it `Retired`, and the message is made again: members reading there
/// would not see it otherwise.
async fn append_message(client: &Client, missed: &Missed) -> Option<Outcome> {
    let count = client.sequencers.len();
    let (waiting, direct): (Vec<usize>, Vec<usize>) =
        (0..count).partition(|&relay| client.backlogs.waiting_at(relay));
    let tries = direct.iter().map(|&relay| missed.append_at(client, relay));
    let outcomes = futures::future::join_all(tries).await;
    if outcomes.contains(&Some(Outcome::Refused(Refusal::Retired))) {
        return Some(Outcome::Refused(Refusal::Retired));
    }
    let stored = outcomes
        .iter()
        .filter(|o| matches!(o, Some(Outcome::Stored(_))))
        .count();
    let unreached = direct
        .iter()
        .zip(&outcomes)
        .filter(|(_, outcome)| outcome.is_none())
        .map(|(relay, _)| *relay);
    let mut defer: Vec<usize> = waiting;
    if stored > 0 || !defer.is_empty() {
        defer.extend(unreached);
    }
    if !defer.is_empty() {
        client.backlogs.defer(&defer, stored, missed);
        return Some(Outcome::Storing(stored));
    }
    if stored > 0 {
        return Some(Outcome::Stored(stored));
    }
    outcomes.into_iter().flatten().next()
}

/// Appends at each sequencer in `range` at once: `Stored(n)` if any stored it, a refusal if
/// none did and one refused, `None` if none could be reached.
async fn append_everywhere(
    client: &Client,
    kind: &Kind,
    body: &[u8],
    access: &Access,
    epoch: u64,
    range: std::ops::RangeFrom<usize>,
) -> Option<Outcome> {
    let count = client.sequencers.len();
    let tries = (range.start..count)
        .map(|relay| append_caught_up(client, relay, kind, body, access, epoch));
    let outcomes = futures::future::join_all(tries).await;
    let stored = outcomes
        .iter()
        .filter(|o| matches!(o, Some(Outcome::Stored(_))))
        .count();
    if stored > 0 || range.start >= count {
        return Some(Outcome::Stored(stored));
    }
    outcomes.into_iter().flatten().next()
}

/// [`append_at`], and if the sequencer does not know the key (it missed a commit while it
/// was unreachable), the commits it missed first, then the entry again.
async fn append_caught_up(
    client: &Client,
    relay: usize,
    kind: &Kind,
    body: &[u8],
    access: &Access,
    epoch: u64,
) -> Option<Outcome> {
    let outcome = append_at(client, relay, kind, body, access, epoch).await;
    if outcome != Some(Outcome::Refused(Refusal::UnknownKey)) || !catch_up(client, relay).await {
        return outcome;
    }
    append_at(client, relay, kind, body, access, epoch).await
}

/// Appends the commits we hold at sequencer `relay`, oldest first, each under its own
/// epoch's key: those it holds are answered as held (or lost to the one it holds), those it
/// missed are taken. Returns whether it took or held the newest.
async fn catch_up(client: &Client, relay: usize) -> bool {
    let copies = client.copies.all();
    let newest = copies.last().map(|c| c.epoch);
    // A sequencer behind all we hold is not asked again until we hold a newer commit.
    let hopeless = |at: &Option<u64>| at.is_some() && *at == newest;
    if hopeless(&client.behind(relay)) {
        return false;
    }
    let mut holds_newest = false;
    for copy in &copies {
        let kind = Kind::Commit {
            epoch: copy.epoch,
            next_key: copy.next_key,
        };
        holds_newest = match append_at(client, relay, &kind, &copy.body, &copy.access, copy.epoch)
            .await
        {
            Some(Outcome::Stored(_) | Outcome::Lost | Outcome::Refused(Refusal::Retired)) => true,
            // Behind the oldest commit we hold (a newer one cannot be taken before it), or
            // refused for good: it stays behind.
            Some(Outcome::Refused(_)) => {
                client.set_behind(relay, newest);
                return false;
            }
            Some(Outcome::Storing(_)) | None => return false,
        };
    }
    if holds_newest {
        debug!(relay = %client.sequencers[relay].peer, commits = copies.len(), "gave a sequencer the commits it missed");
    }
    holds_newest
}

/// Appends at one sequencer, opening the log there first if it does not hold it. `None`
/// when the sequencer could not be reached or gave no usable answer.
async fn append_at(
    client: &Client,
    relay: usize,
    kind: &Kind,
    body: &[u8],
    access: &Access,
    epoch: u64,
) -> Option<Outcome> {
    let mut open = client.connect(relay).await?;
    let peer = client.sequencers[relay].peer.to_bytes();
    for _ in 0..2 {
        let op = Op::Append {
            kind: *kind,
            body: body.to_vec(),
        };
        match client
            .call(&mut open, relay, access, op, Duration::ZERO)
            .await?
        {
            Answer::Appended(receipt) => {
                return match receipt.verify(&peer, &client.log, kind, body) {
                    Ok(()) => Some(Outcome::Stored(1)),
                    Err(e) => {
                        warn!(relay = %client.sequencers[relay].peer, "bad group log receipt: {e}");
                        None
                    }
                };
            }
            Answer::Lost { .. } => return Some(Outcome::Lost),
            Answer::Refused(Refusal::NoSuchLog) => {
                if !client.open_log(&mut open, relay, access, epoch).await {
                    return None;
                }
            }
            Answer::Refused(
                refusal @ (Refusal::RateLimited | Refusal::Unavailable | Refusal::StorageFull),
            ) => {
                debug!("group log append refused for now: {refusal}");
                return None;
            }
            Answer::Refused(refusal) => return Some(Outcome::Refused(refusal)),
            _ => return None,
        }
    }
    None
}

async fn pause(backoff: &mut Duration) {
    tokio::time::sleep(*backoff).await;
    *backoff = (*backoff * 2).min(MAX_BACKOFF);
}

#[cfg(test)]
mod tests {
    use super::{Gap, Reach};

    #[test]
    fn the_core_hears_the_first_state_and_then_each_change() {
        let mut reach = Reach::default();
        // Two of three fail: one may still answer. The first answer is told (the core may
        // hold an outage from before a restart); the next is not.
        assert_eq!(reach.failed(3), None);
        assert_eq!(reach.failed(3), None);
        assert_eq!(reach.answered(), Some(true));
        assert_eq!(reach.answered(), None);
        for _ in 0..2 {
            assert_eq!(reach.failed(3), None);
        }
        assert_eq!(reach.failed(3), Some(false));
        assert_eq!(reach.failed(3), None);
        assert_eq!(reach.answered(), Some(true));
        assert_eq!(reach.answered(), None);
    }

    #[test]
    fn a_gap_is_what_expired_of_our_epoch_past_our_cursor() {
        // Read up to 10; the relay holds from 15: 11..=14 expired unread.
        assert_eq!(Gap::of(10, 15, 3), Some(Gap { count: 4, last: 14 }));
        // Nothing expired past the cursor, or only what came before our epoch.
        assert_eq!(Gap::of(10, 11, 3), None);
        assert_eq!(Gap::of(10, 5, 3), None);
        assert_eq!(Gap::of(0, 21, 20), None);
        // A cursor from an older epoch, or none yet: our epoch begins at `begin`.
        assert_eq!(Gap::of(2, 9, 6), Some(Gap { count: 2, last: 8 }));
        assert_eq!(Gap::of(0, 9, 0), Some(Gap { count: 8, last: 8 }));
        assert_eq!(Gap::of(u64::MAX, 1, 0), None);
    }
}
