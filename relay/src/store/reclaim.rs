//! Giving deleted bytes back to a filesystem short of space: a flush, dropping whole table
//! files that hold nothing live, then a compaction if there is room for one.

use super::*;

impl Shared {
    /// After deletes on a filesystem short of space: flushes and compacts so the deleted
    /// bytes really go back to the filesystem, at most every [`RECLAIM_EVERY`].
    pub(super) fn reclaim_if_short(&self) {
        if !self.deleted.load(Ordering::Relaxed)
            || self.room_for(self.free_space(), self.quota.min_free)
        {
            return;
        }
        {
            let mut last = self.reclaimed.lock().unwrap_or_else(|e| e.into_inner());
            if last.is_some_and(|at| at.elapsed() < RECLAIM_EVERY) {
                return;
            }
            *last = Some(Instant::now());
        }
        self.deleted.store(false, Ordering::Relaxed);
        for name in [ENVELOPES, PREKEYS] {
            if let Some(cf) = self.db.cf_handle(name) {
                let _ = self.db.flush_cf(cf);
            }
        }
        let dropped = self.drop_dead_files().unwrap_or_else(|e| {
            tracing::warn!("dropping dead table files failed: {e}");
            0
        });
        // What is left of the deletes goes by compaction, if there is room for it (RocksDB
        // skips a compaction that would not fit, and never stops writes for it).
        for name in [ENVELOPES, PREKEYS] {
            if let Some(cf) = self.db.cf_handle(name) {
                self.db.compact_range_cf(cf, None::<&[u8]>, None::<&[u8]>);
            }
        }
        tracing::info!(dropped, free = ?self.free_space(), "gave deleted bytes back");
    }

    /// Deletes whole envelope table files that hold nothing live, without rewriting
    /// anything: a compaction needs room for its output, which a full filesystem does not
    /// have, while dropping a file needs none. Returns how many files went.
    ///
    /// A file qualifies if it sits in the bottommost level (so no older version of its keys
    /// exists anywhere), no file of a level between overlaps its key range (so no put there
    /// relies on a tombstone that goes with it), and no live key lies in its range. The check
    /// and the drop happen under the usage lock, which every deposit holds while it writes,
    /// so nothing new appears in the range between them.
    fn drop_dead_files(&self) -> Result<usize, rocksdb::Error> {
        let Some(cf) = self.db.cf_handle(ENVELOPES) else {
            return Ok(0);
        };
        let files: Vec<_> = self
            .db
            .live_files()?
            .into_iter()
            .filter(|f| f.column_family_name == ENVELOPES && f.level > 0)
            .filter_map(|f| Some((f.level, f.start_key?, f.end_key?)))
            .collect();
        let Some(bottom) = files.iter().map(|(level, ..)| *level).max() else {
            return Ok(0);
        };
        let _usage = self.usage.lock().unwrap_or_else(|e| e.into_inner());
        let mut dropped = 0;
        for (_, start, end) in files.iter().filter(|(level, ..)| *level == bottom) {
            let overlapped = files.iter().any(|(level, s, e)| {
                *level < bottom
                    && s.as_slice() <= end.as_slice()
                    && e.as_slice() >= start.as_slice()
            });
            if overlapped {
                continue;
            }
            let mut bounded = rocksdb::ReadOptions::default();
            let mut upper = end.clone();
            upper.push(0);
            bounded.set_iterate_upper_bound(upper);
            let live = self
                .db
                .iterator_cf_opt(cf, bounded, IteratorMode::From(start, Direction::Forward))
                .next()
                .transpose()?
                .is_some();
            if !live {
                self.db.delete_file_in_range_cf(cf, start, end)?;
                dropped += 1;
            }
        }
        Ok(dropped)
    }
}
