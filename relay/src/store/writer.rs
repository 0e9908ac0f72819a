//! The writer thread: the only writer of deposits (group logs have their own, `logs.rs`). It takes them in groups, checks quotas
//! and free space, writes each group with one synced write, and only then answers, with one
//! signed batch of custody receipts per write.

use super::*;

/// The writer thread and its queue. When the last handle goes, the queue closes and the
/// thread is joined, so the database is closed when the store is gone: a process that exits
/// right after (a test, `tern demo`) never races RocksDB's shutdown, and the data directory
/// can be reopened or removed at once.
pub(super) struct Writer {
    pub(super) deposits: Option<mpsc::Sender<Deposit>>,
    /// The log writer's queue (`store/logs.rs`).
    pub(super) logs: Option<mpsc::Sender<LogJob>>,
    pub(super) threads: Vec<std::thread::JoinHandle<()>>,
}

impl Drop for Writer {
    fn drop(&mut self) {
        drop(self.deposits.take());
        drop(self.logs.take());
        for thread in self.threads.drain(..) {
            let _ = thread.join();
        }
    }
}

/// Why a writer's synced write failed.
#[derive(Debug, Clone, Copy)]
pub(super) enum WriteFailure {
    /// The filesystem is full.
    NoSpace,
    /// Anything else.
    Failed,
}

impl From<WriteFailure> for Refusal {
    fn from(failure: WriteFailure) -> Self {
        match failure {
            WriteFailure::NoSpace => Self::StorageFull,
            WriteFailure::Failed => Self::Unavailable,
        }
    }
}

impl From<WriteFailure> for tern_proto::grouplog::Refusal {
    fn from(failure: WriteFailure) -> Self {
        match failure {
            WriteFailure::NoSpace => Self::StorageFull,
            WriteFailure::Failed => Self::Unavailable,
        }
    }
}

/// The next group for a writer thread: the first job to come (waiting for it), and up to
/// `max - 1` more already queued. `None` once the queue is closed and empty.
pub(super) fn next_group<T>(queue: &mut mpsc::Receiver<T>, max: usize) -> Option<Vec<T>> {
    let mut group = vec![queue.blocking_recv()?];
    while group.len() < max {
        match queue.try_recv() {
            Ok(next) => group.push(next),
            Err(_) => break,
        }
    }
    Some(group)
}

/// The writer thread: takes deposits in groups, checks quotas and free space, writes each
/// group with one synced write and only then answers.
pub(super) fn write_deposits(
    shared: &Shared,
    queue: &mut mpsc::Receiver<Deposit>,
    mut next_id: u64,
    timings: &Timings,
) {
    let quota = shared.quota;
    while let Some(group) = next_group(queue, GROUP) {
        let (Some(envelopes), Some(meta), Some(digests)) = (
            shared.db.cf_handle(ENVELOPES),
            shared.db.cf_handle(META),
            shared.db.cf_handle(DIGESTS),
        ) else {
            return;
        };
        // Whether the group's envelopes were deposited within the dedup window already: again
        // after a receipt was lost, or twice in this group. Acknowledged or not, the answer is
        // the same (the first deposit's id and time), so a repeat tells nothing of collection.
        let keys: Vec<[u8; 64]> = group
            .iter()
            .map(|d| digest_key(&d.mailbox, &d.digest))
            .collect();
        let found = shared.db.batched_multi_get_cf(digests, keys.iter(), false);
        let mut in_group: HashMap<[u8; 64], (u64, u64)> = HashMap::new();
        let free = shared.free_space();
        let mut usage = shared.usage.lock().unwrap_or_else(|e| e.into_inner());
        let mut batch = WriteBatch::default();
        let mut answers = Vec::with_capacity(group.len());
        let mut added: Vec<([u8; 32], u64)> = Vec::new();
        let mut custodies = Vec::with_capacity(group.len());
        let mut pending_total = 0u64;
        let mut pending = Ledger::default();
        for ((deposit, digest_key), found) in group.into_iter().zip(keys).zip(found) {
            let held = match found {
                Ok(found) => in_group.get(&digest_key).copied().or_else(|| {
                    let value = found?;
                    let first = be64(&value).zip(value.get(8..).and_then(be64))?;
                    (first.1 + DEDUP_WINDOW_SECS >= deposit.stored_at).then_some(first)
                }),
                Err(_) => {
                    answers.push((deposit.reply, Err(Refusal::Unavailable)));
                    continue;
                }
            };
            if let Some((id, stored_at)) = held {
                answers.push((deposit.reply, Ok(custodies.len())));
                custodies.push(Custody {
                    mailbox: deposit.mailbox,
                    digest: deposit.digest,
                    id,
                    stored_at,
                });
                continue;
            }
            let size = 8 + deposit.envelope.len() as u64;
            let held = usage.of(&deposit.mailbox);
            let extra = pending.of(&deposit.mailbox);
            let with_pending = Usage {
                messages: held.messages + extra.messages,
                bytes: held.bytes + extra.bytes,
            };
            let refusal = if usage.total + pending_total + size > quota.disk_budget
                || !shared.room_for(free, pending_total + size)
            {
                Some(Refusal::StorageFull)
            } else if !with_pending.admits(&quota, size, true) {
                Some(Refusal::QuotaExceeded)
            } else {
                None
            };
            if let Some(refusal) = refusal {
                answers.push((deposit.reply, Err(refusal)));
                continue;
            }
            let id = next_id;
            next_id += 1;
            let mut value = Vec::with_capacity(size as usize);
            value.extend_from_slice(&deposit.stored_at.to_be_bytes());
            value.extend_from_slice(&deposit.envelope);
            batch.put_cf(envelopes, key(&deposit.mailbox, id), value);
            batch.put_cf(digests, digest_key, digest_value(id, deposit.stored_at));
            in_group.insert(digest_key, (id, deposit.stored_at));
            pending.add(deposit.mailbox, 1, size);
            pending_total += size;
            added.push((deposit.mailbox, size));
            answers.push((deposit.reply, Ok(custodies.len())));
            custodies.push(Custody {
                mailbox: deposit.mailbox,
                digest: deposit.digest,
                id,
                stored_at: deposit.stored_at,
            });
        }
        batch.put_cf(meta, b"next_id", next_id.to_be_bytes());
        let started = Instant::now();
        let failure = if added.is_empty() {
            None
        } else {
            shared.write_group(batch).err().map(Into::into)
        };
        if !added.is_empty() {
            timings.sync.observe(started.elapsed().as_secs_f64());
            timings.batch.observe(added.len() as f64);
        }
        let mut committed = Vec::new();
        if failure.is_none() {
            for (mailbox, size) in added {
                usage.add(mailbox, 1, size);
                committed.push(mailbox);
            }
        }
        drop(usage);
        // Collect streams waiting on a mailbox read again (their watch is keyed by mailbox;
        // the value only has to change).
        for mailbox in &committed {
            shared.mailbox_watchers.notify(mailbox, next_id);
        }
        if !committed.is_empty() {
            let commits = shared
                .commits
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .clone();
            if let Some(commits) = commits {
                let _ = commits.blocking_send(committed);
            }
        }
        // One batch per synced write: its receipts share one signature.
        let signed = Arc::new(CustodyBatch::new(custodies));
        for (reply, answer) in answers {
            let _ = reply.send(match failure {
                Some(refusal) => Err(refusal),
                None => answer.map(|index| Stored {
                    batch: signed.clone(),
                    index,
                }),
            });
        }
    }
}
