//! Group logs (`/tern/grouplog/2`): the `logs` table, its writer thread, reads and expiry.
//!
//! Rows, all in the `logs` family, a tag byte first so that each kind is one key range:
//!
//! ```text
//! 0x00 ‖ log                → epoch u64 ‖ next seq u64 ‖ bytes u64 ‖ last append u64 ‖
//!                              first held seq u64
//! 0x01 ‖ log ‖ epoch u64    → access key [32] ‖ retired at seq u64 (0 while current) ‖
//!                              started after seq u64
//! 0x02 ‖ log ‖ access key   → epoch u64
//! 0x03 ‖ log ‖ entry digest → seq u64 ‖ stored_at u64   (digest of kind ‖ body)
//! 0x04 ‖ log ‖ seq u64      → stored_at u64 ‖ kind ‖ body
//! ```
//!
//! (integers big-endian; `kind` is `0x00` for a message, `0x01 ‖ epoch u64 ‖ next key [32]`
//! for a commit). One writer thread takes opens and appends in groups, checks each against
//! the log's state as the group so far leaves it (so the first commit of an epoch wins even
//! within one group), and writes each group with one synced write before anyone hears of it.
//! Each written log's watchers are then woken with its next sequence number. The writer holds
//! the logs' own lock while it works, which expiry takes too, so that the two never update a
//! state row at once; the usage ledger it takes only to read and to add.

use tern_proto::grouplog::{Entry, Kind, LogId, Refusal as LogRefusal, entry_digest};

use super::{watch::Watch, *};

pub(super) const LOGS: &str = "logs";
/// Most jobs written in one synced batch.
const GROUP: usize = 256;
/// Jobs waiting for the log writer; requesters beyond it wait.
pub(super) const QUEUE: usize = 1024;

const STATE: u8 = 0;
const EPOCH_KEY: u8 = 1;
const KEY_EPOCH: u8 = 2;
const DIGEST: u8 = 3;
const ENTRY: u8 = 4;

fn row(tag: u8, log: &LogId, rest: &[u8]) -> Vec<u8> {
    let mut key = Vec::with_capacity(33 + rest.len());
    key.push(tag);
    key.extend_from_slice(log);
    key.extend_from_slice(rest);
    key
}

/// A log's state row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct State {
    epoch: u64,
    next_seq: u64,
    bytes: u64,
    last: u64,
    /// The lowest sequence number still held (`next_seq` when none is).
    first: u64,
}

impl State {
    fn encode(&self) -> [u8; 40] {
        let mut out = [0u8; 40];
        for (i, v) in [self.epoch, self.next_seq, self.bytes, self.last, self.first]
            .into_iter()
            .enumerate()
        {
            out[i * 8..i * 8 + 8].copy_from_slice(&v.to_be_bytes());
        }
        out
    }

    fn decode(bytes: &[u8]) -> Option<Self> {
        Some(Self {
            epoch: be64(bytes)?,
            next_seq: be64(bytes.get(8..)?)?,
            bytes: be64(bytes.get(16..)?)?,
            last: be64(bytes.get(24..)?)?,
            first: be64(bytes.get(32..)?)?,
        })
    }
}

fn encode_entry(stored_at: u64, kind: &Kind, body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(8 + 41 + body.len());
    out.extend_from_slice(&stored_at.to_be_bytes());
    kind.put(&mut out);
    out.extend_from_slice(body);
    out
}

/// An entry row's kind and body.
fn split_entry(value: &[u8]) -> Option<(Kind, &[u8])> {
    Kind::take(value.get(8..)?)
}

/// What an entry of `len` body bytes counts against its log's quota and the disk budget: the
/// body, and its rows' keys and headers.
fn cost(len: usize) -> u64 {
    len as u64 + 128
}

fn decode_entry(seq: u64, value: &[u8]) -> Option<Entry> {
    let (kind, body) = split_entry(value)?;
    Some(Entry {
        seq,
        stored_at: be64(value)?,
        kind,
        body: body.to_vec(),
    })
}

/// What the log writer does for one request.
pub(crate) enum LogWork {
    /// Create the log at `epoch` under the key, or confirm it exists so.
    Open { epoch: u64 },
    /// Append an entry.
    Append {
        kind: Kind,
        body: Vec<u8>,
        digest: [u8; 32],
    },
}

/// A request for the log writer; the caller has checked its signature.
pub(crate) struct LogJob {
    pub(crate) log: LogId,
    pub(crate) key: [u8; 32],
    pub(crate) work: LogWork,
    pub(crate) now: u64,
    pub(crate) reply: oneshot::Sender<LogOutcome>,
}

/// What came of a [`LogJob`], once durable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum LogOutcome {
    Opened { epoch: u64, next_seq: u64 },
    Appended { seq: u64, stored_at: u64 },
    Lost { epoch: u64, winner: u64 },
    Refused(LogRefusal),
}

/// A page read from a log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct LogPage {
    pub(crate) items: Vec<Entry>,
    pub(crate) more: bool,
    pub(crate) first: u64,
    /// The commit that began the reading key's epoch (0: the opening epoch).
    pub(crate) begin: u64,
}

/// What one group of jobs knows of a log: its state as the group's jobs leave it.
struct Working {
    state: State,
    /// The current epoch's key.
    current: [u8; 32],
    /// The sequence number of the commit that began the current epoch (0 for the epoch the
    /// log was opened at).
    start: u64,
    /// Whether the group changed it (its state row is then written).
    dirty: bool,
}

/// The log writer thread: takes jobs in groups, writes each group with one synced write and
/// only then answers.
pub(super) fn write_logs(shared: &Shared, queue: &mut mpsc::Receiver<LogJob>) {
    while let Some(group) = next_group(queue, GROUP) {
        let Some(cf) = shared.db.cf_handle(LOGS) else {
            return;
        };
        let mut group_state = Group::default();
        let free = shared.free_space();
        let _logs = shared.logs_lock.lock().unwrap_or_else(|e| e.into_inner());
        // What the disk budget has left is read once: deposits written meanwhile may take a
        // group's worth more than the budget, never more.
        let held = shared.usage.lock().unwrap_or_else(|e| e.into_inner()).total;
        let mut answers = Vec::with_capacity(group.len());
        for job in group {
            let outcome = group_state
                .apply(shared, cf, &job, held, free)
                .unwrap_or_else(LogOutcome::Refused);
            answers.push((job.reply, job.log, outcome));
        }
        let Group {
            logs,
            mut batch,
            added,
            retired,
            ..
        } = group_state;
        let mut written = Vec::new();
        for (log, working) in &logs {
            if let Some(working) = working.as_ref().filter(|w| w.dirty) {
                batch.put_cf(cf, row(STATE, log, &[]), working.state.encode());
                written.push((*log, working.state.next_seq));
            }
        }
        let failure = if written.is_empty() {
            None
        } else {
            shared.write_group(batch).err().map(Into::into)
        };
        if failure.is_none() {
            shared.usage.lock().unwrap_or_else(|e| e.into_inner()).total += added;
            for (log, next) in written {
                shared.log_watchers.notify(&log, next);
            }
        }
        for (reply, log, outcome) in answers {
            let _ = reply.send(match (failure, outcome) {
                (Some(refusal), LogOutcome::Appended { .. } | LogOutcome::Opened { .. }) => {
                    LogOutcome::Refused(refusal)
                }
                // A loss to a winner of this very write, which did not happen after all.
                (Some(refusal), LogOutcome::Lost { epoch, .. })
                    if retired.contains_key(&(log, epoch)) =>
                {
                    LogOutcome::Refused(refusal)
                }
                (_, outcome) => outcome,
            });
        }
    }
}

/// One write group: the logs it touched, the rows it has written so far, and the bytes it
/// adds.
#[derive(Default)]
struct Group {
    /// `None`: the log does not exist.
    logs: HashMap<LogId, Option<Working>>,
    digests: HashMap<(LogId, [u8; 32]), (u64, u64)>,
    /// Keys the group gave to epochs.
    keys: HashMap<(LogId, [u8; 32]), u64>,
    /// Epochs the group ended, with the sequence number of the commit that won each.
    retired: HashMap<(LogId, u64), u64>,
    batch: WriteBatch,
    added: u64,
}

impl Group {
    fn apply(
        &mut self,
        shared: &Shared,
        cf: &rocksdb::ColumnFamily,
        job: &LogJob,
        held: u64,
        free: Option<u64>,
    ) -> Result<LogOutcome, LogRefusal> {
        let log = job.log;
        if let std::collections::hash_map::Entry::Vacant(slot) = self.logs.entry(log) {
            slot.insert(load(shared, cf, &log)?);
        }
        let known_key = |group: &Self, key: &[u8; 32]| -> Result<Option<u64>, LogRefusal> {
            if let Some(epoch) = group.keys.get(&(log, *key)) {
                return Ok(Some(*epoch));
            }
            Ok(get(shared, cf, &row(KEY_EPOCH, &log, key))?
                .as_deref()
                .and_then(be64))
        };
        match &job.work {
            LogWork::Open { epoch } => match self.logs.get(&log).and_then(Option::as_ref) {
                // Idempotent for the current key at its epoch (a creator whose answer was
                // lost, a member that asks where the log stands); a retired key learns
                // nothing of what came after it.
                Some(working) if working.current == job.key && working.state.epoch == *epoch => {
                    Ok(LogOutcome::Opened {
                        epoch: working.state.epoch,
                        next_seq: working.state.next_seq,
                    })
                }
                Some(working)
                    if working.current != job.key && known_key(self, &job.key)?.is_some() =>
                {
                    Err(LogRefusal::Retired)
                }
                Some(_) => Err(LogRefusal::Exists),
                None => {
                    let state = State {
                        epoch: *epoch,
                        next_seq: 1,
                        bytes: 0,
                        last: job.now,
                        first: 1,
                    };
                    self.set_key(cf, &log, *epoch, &job.key, 0);
                    self.logs.insert(
                        log,
                        Some(Working {
                            state,
                            current: job.key,
                            start: 0,
                            dirty: true,
                        }),
                    );
                    Ok(LogOutcome::Opened {
                        epoch: *epoch,
                        next_seq: 1,
                    })
                }
            },
            LogWork::Append { kind, body, digest } => {
                let Some(working) = self.logs.get(&log).and_then(Option::as_ref) else {
                    return Err(LogRefusal::NoSuchLog);
                };
                let (state, current, start) = (working.state, working.current, working.start);
                let signer = if job.key == current {
                    Some(state.epoch)
                } else {
                    known_key(self, &job.key)?
                };
                if signer.is_none() {
                    return Err(LogRefusal::UnknownKey);
                }
                // A repeat from a key of the log (its answer lost to a broken stream, maybe
                // an epoch ago) gets the first copy's receipt, whatever happened since.
                if let Some(&(seq, stored_at)) = self.digests.get(&(log, *digest)) {
                    return Ok(LogOutcome::Appended { seq, stored_at });
                }
                if let Some(value) = get(shared, cf, &row(DIGEST, &log, digest))? {
                    let seq = be64(&value).ok_or(LogRefusal::Unavailable)?;
                    let stored_at = value.get(8..).and_then(be64).unwrap_or(0);
                    return Ok(LogOutcome::Appended { seq, stored_at });
                }
                // The winner may be of this very write: the group knows it before the database.
                let lost = |group: &Self, epoch: u64| -> Result<LogOutcome, LogRefusal> {
                    let winner = match group.retired.get(&(log, epoch)) {
                        Some(&seq) => seq,
                        None => get(shared, cf, &row(EPOCH_KEY, &log, &epoch.to_be_bytes()))?
                            .as_deref()
                            .and_then(parse_key_row)
                            .map_or(0, |(_, retired, _)| retired),
                    };
                    Ok(LogOutcome::Lost { epoch, winner })
                };
                if job.key != current {
                    return match (signer, kind) {
                        // A rival commit from a member still in its epoch: it lost.
                        (Some(of), Kind::Commit { epoch, .. }) if of == *epoch => lost(self, of),
                        _ => Err(LogRefusal::Retired),
                    };
                }
                if let Kind::Commit { epoch, next_key } = kind {
                    // The last epoch has no successor: a commit from it is refused like one
                    // from the future.
                    if *epoch > state.epoch || epoch.checked_add(1).is_none() {
                        return Err(LogRefusal::FutureEpoch);
                    }
                    if *epoch < state.epoch {
                        return lost(self, *epoch);
                    }
                    if known_key(self, next_key)?.is_some() {
                        return Err(LogRefusal::Exists);
                    }
                }
                let size = cost(body.len());
                if state.bytes + size > shared.quota.log_bytes {
                    return Err(LogRefusal::QuotaExceeded);
                }
                if held + self.added + size > shared.quota.disk_budget
                    || !shared.room_for(free, self.added + size)
                {
                    return Err(LogRefusal::StorageFull);
                }
                let seq = state.next_seq;
                let stored_at = job.now;
                self.batch.put_cf(
                    cf,
                    row(ENTRY, &log, &seq.to_be_bytes()),
                    encode_entry(stored_at, kind, body),
                );
                let mut value = [0u8; 16];
                value[..8].copy_from_slice(&seq.to_be_bytes());
                value[8..].copy_from_slice(&stored_at.to_be_bytes());
                self.batch.put_cf(cf, row(DIGEST, &log, digest), value);
                self.digests.insert((log, *digest), (seq, stored_at));
                let mut next = State {
                    next_seq: seq + 1,
                    bytes: state.bytes + size,
                    last: stored_at,
                    ..state
                };
                let (mut current, mut start) = (current, start);
                if let Kind::Commit { epoch, next_key } = kind {
                    // The first commit of its epoch: it retires the epoch's key at its own
                    // sequence number, and the next key takes over after it.
                    self.batch.put_cf(
                        cf,
                        row(EPOCH_KEY, &log, &epoch.to_be_bytes()),
                        key_row(&current, seq, start),
                    );
                    next.epoch = epoch + 1;
                    self.set_key(cf, &log, epoch + 1, next_key, seq);
                    self.retired.insert((log, *epoch), seq);
                    (current, start) = (*next_key, seq);
                }
                self.added += size;
                self.logs.insert(
                    log,
                    Some(Working {
                        state: next,
                        current,
                        start,
                        dirty: true,
                    }),
                );
                Ok(LogOutcome::Appended { seq, stored_at })
            }
        }
    }

    /// Gives `epoch` to `key`, beginning after the entry `start`.
    fn set_key(
        &mut self,
        cf: &rocksdb::ColumnFamily,
        log: &LogId,
        epoch: u64,
        key: &[u8; 32],
        start: u64,
    ) {
        self.batch.put_cf(
            cf,
            row(EPOCH_KEY, log, &epoch.to_be_bytes()),
            key_row(key, 0, start),
        );
        self.batch
            .put_cf(cf, row(KEY_EPOCH, log, key), epoch.to_be_bytes());
        self.keys.insert((*log, *key), epoch);
    }
}

/// An epoch's key row: the key, the commit that retired it (0 while current), and the commit
/// that began its epoch.
fn key_row(key: &[u8; 32], retired: u64, start: u64) -> Vec<u8> {
    let mut value = Vec::with_capacity(48);
    value.extend_from_slice(key);
    value.extend_from_slice(&retired.to_be_bytes());
    value.extend_from_slice(&start.to_be_bytes());
    value
}

fn parse_key_row(value: &[u8]) -> Option<([u8; 32], u64, u64)> {
    Some((
        value.get(..32)?.try_into().ok()?,
        be64(value.get(32..)?)?,
        be64(value.get(40..)?)?,
    ))
}

fn get(
    shared: &Shared,
    cf: &rocksdb::ColumnFamily,
    key: &[u8],
) -> Result<Option<Vec<u8>>, LogRefusal> {
    shared
        .db
        .get_cf(cf, key)
        .map_err(|_| LogRefusal::Unavailable)
}

/// A log's state and current key, if it exists.
fn load(
    shared: &Shared,
    cf: &rocksdb::ColumnFamily,
    log: &LogId,
) -> Result<Option<Working>, LogRefusal> {
    let Some(state) = get(shared, cf, &row(STATE, log, &[]))? else {
        return Ok(None);
    };
    let state = State::decode(&state).ok_or(LogRefusal::Unavailable)?;
    let (current, _, start) = get(shared, cf, &row(EPOCH_KEY, log, &state.epoch.to_be_bytes()))?
        .as_deref()
        .and_then(parse_key_row)
        .ok_or(LogRefusal::Unavailable)?;
    Ok(Some(Working {
        state,
        current,
        start,
        dirty: false,
    }))
}

impl Store {
    /// Queues a log job for the writer, waiting while its queue is full.
    pub(crate) async fn log_job(&self, job: LogJob) {
        let Some(queue) = &self.writer.logs else {
            let _ = job.reply.send(LogOutcome::Refused(LogRefusal::Unavailable));
            return;
        };
        if let Err(mpsc::error::SendError(job)) = queue.send(job).await {
            let _ = job.reply.send(LogOutcome::Refused(LogRefusal::Unavailable));
        }
    }

    /// Up to `limit` entries of `log` after `after` (at most about `max_bytes` of them), for
    /// the holder of `key`: a retired key reads up to the commit that retired it.
    pub(crate) fn read_log(
        &self,
        log: &LogId,
        key: &[u8; 32],
        after: u64,
        limit: usize,
        max_bytes: usize,
    ) -> Result<LogPage, LogRefusal> {
        let shared = &self.shared;
        let cf = shared.db.cf_handle(LOGS).ok_or(LogRefusal::Unavailable)?;
        let Some(state) = get(shared, cf, &row(STATE, log, &[]))? else {
            return Err(LogRefusal::NoSuchLog);
        };
        let state = State::decode(&state).ok_or(LogRefusal::Unavailable)?;
        let epoch = get(shared, cf, &row(KEY_EPOCH, log, key))?
            .as_deref()
            .and_then(be64)
            .ok_or(LogRefusal::UnknownKey)?;
        let (_, retired_at, start) = get(shared, cf, &row(EPOCH_KEY, log, &epoch.to_be_bytes()))?
            .as_deref()
            .and_then(parse_key_row)
            .ok_or(LogRefusal::Unavailable)?;
        // A cursor at or past everything this log has stored comes from before the relay
        // dropped it (lost, or deleted when idle) and someone opened it again, its numbers
        // starting at 1 again: such a reader reads the key's epoch from its start.
        let after = if after >= state.next_seq { 0 } else { after };
        // A key reads its own epoch: from the commit that began it to the one that ended it.
        let retired_at = (retired_at != 0).then_some(retired_at);
        if retired_at.is_some_and(|seq| after >= seq) {
            return Err(LogRefusal::Retired);
        }
        // Entries expire in the order they were stored: once the commit that ended this
        // epoch is gone, so is all of the epoch, and its reader cannot move on.
        if retired_at.is_some_and(|seq| seq < state.first) {
            return Err(LogRefusal::Expired);
        }
        let begin = start;
        let after = after.max(start);
        // The state was read before the key row: capping at its last entry keeps out a
        // write that retired this key between the two reads.
        let last = retired_at
            .unwrap_or(u64::MAX)
            .min(state.next_seq.saturating_sub(1));
        let mut bounded = rocksdb::ReadOptions::default();
        bounded.set_iterate_upper_bound(row(ENTRY, log, &(last + 1).to_be_bytes()));
        let start = row(ENTRY, log, &after.saturating_add(1).to_be_bytes());
        let mut items = Vec::new();
        let mut bytes = 0usize;
        let mut more = false;
        for item in
            shared
                .db
                .iterator_cf_opt(cf, bounded, IteratorMode::From(&start, Direction::Forward))
        {
            let (k, v) = item.map_err(|_| LogRefusal::Unavailable)?;
            if items.len() >= limit || (bytes + v.len() > max_bytes && !items.is_empty()) {
                more = true;
                break;
            }
            let seq = be64(&k[33..]).ok_or(LogRefusal::Unavailable)?;
            bytes += v.len();
            items.push(decode_entry(seq, &v).ok_or(LogRefusal::Unavailable)?);
        }
        Ok(LogPage {
            items,
            more,
            first: state.first,
            begin,
        })
    }

    /// Whether `key` is one of `log`'s access keys, current or retired: what a log's blob
    /// quota token must be signed with.
    pub(crate) fn log_has_key(&self, log: &LogId, key: &[u8; 32]) -> Result<bool, LogRefusal> {
        let shared = &self.shared;
        let cf = shared.db.cf_handle(LOGS).ok_or(LogRefusal::Unavailable)?;
        Ok(get(shared, cf, &row(KEY_EPOCH, log, key))?.is_some())
    }

    /// A watch on `log`, changed after each synced write that appends to it. Made before a
    /// read, so that no append between the two is missed.
    pub(crate) fn watch_log(&self, log: &LogId) -> Watch {
        self.shared.log_watchers.watch(log)
    }

    /// Deletes the entries of every log stored before `cutoff`, and logs left with no entry
    /// and no append since `cutoff`, or that never had an entry and were opened before
    /// `unused_cutoff`; returns how many entries went.
    pub(crate) fn expire_logs(&self, cutoff: u64, unused_cutoff: u64) -> Result<u32, StoreError> {
        let shared = &self.shared;
        let cf = shared
            .db
            .cf_handle(LOGS)
            .ok_or(StoreError::Corrupt("logs"))?;
        let corrupt = || StoreError::Corrupt("log key");
        let mut batch = WriteBatch::default();
        // By log: bytes freed, and the first entry left (if one is).
        let mut freed: HashMap<LogId, (u64, Option<u64>)> = HashMap::new();
        let mut removed = 0u32;
        // A log's entries are in the order they were stored: the walk stops at each log's
        // first entry still within its retention and seeks to the next log.
        let mut entries = shared.db.raw_iterator_cf(cf);
        entries.seek([ENTRY]);
        while entries.valid() {
            let (Some(k), Some(v)) = (entries.key(), entries.value()) else {
                break;
            };
            if k.first() != Some(&ENTRY) {
                break;
            }
            let log: LogId = k
                .get(1..33)
                .and_then(|l| l.try_into().ok())
                .ok_or_else(corrupt)?;
            if be64(v).is_some_and(|at| at < cutoff) {
                let (kind, body) = split_entry(v).ok_or_else(corrupt)?;
                batch.delete_cf(cf, k);
                batch.delete_cf(cf, row(DIGEST, &log, &entry_digest(&kind, body)));
                freed.entry(log).or_default().0 += cost(body.len());
                removed += 1;
                entries.next();
                continue;
            }
            if let Some(freed) = freed.get_mut(&log) {
                freed.1 = k.get(33..).and_then(be64);
            }
            match next_log(&log) {
                Some(next) => entries.seek(row(ENTRY, &next, &[])),
                None => break,
            }
        }
        entries.status()?;
        drop(entries);
        // The writer keeps out while states change.
        let _logs = shared.logs_lock.lock().unwrap_or_else(|e| e.into_inner());
        let mut total_freed = 0;
        for (log, (bytes, first)) in &freed {
            if let Some(raw) = shared.db.get_cf(cf, row(STATE, log, &[]))?
                && let Some(mut state) = State::decode(&raw)
            {
                state.bytes = state.bytes.saturating_sub(*bytes);
                state.first = first.unwrap_or(state.next_seq);
                batch.put_cf(cf, row(STATE, log, &[]), state.encode());
                total_freed += bytes;
            }
        }
        // Logs with nothing left and no append since the cutoff go, keys and all.
        let mut states = rocksdb::ReadOptions::default();
        states.set_iterate_upper_bound(vec![STATE + 1]);
        for item in
            shared
                .db
                .iterator_cf_opt(cf, states, IteratorMode::From(&[STATE], Direction::Forward))
        {
            let (k, v) = item?;
            let Some(state) = State::decode(&v) else {
                continue;
            };
            let log: LogId = k
                .get(1..33)
                .and_then(|l| l.try_into().ok())
                .ok_or_else(corrupt)?;
            let emptied = freed.get(&log).is_some_and(|&(b, _)| b >= state.bytes);
            let unused = state.next_seq == 1 && state.last < unused_cutoff;
            if unused || (state.last < cutoff && (state.bytes == 0 || emptied)) {
                for tag in [STATE, EPOCH_KEY, KEY_EPOCH] {
                    let mut end = row(tag, &log, &[]);
                    end.push(0xff);
                    end.extend_from_slice(&[0xff; 40]);
                    batch.delete_range_cf(cf, row(tag, &log, &[]), end);
                }
            }
        }
        shared.write_synced(batch)?;
        let mut usage = shared.usage.lock().unwrap_or_else(|e| e.into_inner());
        usage.total = usage.total.saturating_sub(total_freed);
        Ok(removed)
    }
}

/// The log id after `log` in key order, if there is one.
fn next_log(log: &LogId) -> Option<LogId> {
    let mut next = *log;
    for byte in next.iter_mut().rev() {
        if *byte == 0xff {
            *byte = 0;
        } else {
            *byte += 1;
            return Some(next);
        }
    }
    None
}

/// Bytes the logs hold in all, for the disk budget at start.
pub(super) fn held_bytes(db: &DB) -> Result<u64, StoreError> {
    let cf = db.cf_handle(LOGS).ok_or(StoreError::Corrupt("logs"))?;
    let mut states = rocksdb::ReadOptions::default();
    states.set_iterate_upper_bound(vec![STATE + 1]);
    let mut total = 0;
    for item in db.iterator_cf_opt(cf, states, IteratorMode::From(&[STATE], Direction::Forward)) {
        let (_, v) = item?;
        total += State::decode(&v).map_or(0, |s| s.bytes);
    }
    Ok(total)
}

#[cfg(test)]
mod tests;
