//! Upkeep: the chores a node that runs for months must repeat on its own, decided without
//! I/O.
//!
//! Every [`UPKEEP_EVERY_MS`] (and at once after the clock jumps back past the schedule) the
//! core asks [`Upkeep::due`]; when it is, the core
//!
//! 1. rotates the prekeys (`PrekeySecrets::rotate`: a new signed and KEM prekey every week,
//!    or at once when the newest is dated in the future because the clock went back),
//! 2. re-issues the device certificate when [`certificate_due`] says so,
//! 3. republishes the record and hands its relays' collectors the new bundle if either
//!    changed, and
//! 4. starts a pass over the tables whose rows expire (the deduplication tables `seen` and
//!    `replays`, then `orphans`: changes still waiting for a message that never came) that
//!    deletes rows past their expiry, one page of at most [`PRUNE_PAGE`] rows per outbox tick
//!    ([`Upkeep::next_page`], [`Upkeep::page_done`]), so a large table never stalls the
//!    pipeline.
//!
//! The decisions live here, the effects in the core, so the schedule can be tested with a
//! fake clock.

/// How often upkeep runs: often enough that a weekly rotation or a certificate renewal is
/// never late by more than an hour, rarely enough to cost nothing.
pub(crate) const UPKEEP_EVERY_MS: u64 = 60 * 60 * 1000;
/// Rows of a table examined per outbox tick while pruning: at two ticks a second this keeps up
/// with 8,000 new rows a second, more than the node can receive.
pub(crate) const PRUNE_PAGE: usize = 4096;
/// Lifetime of the device certificate a node issues itself. It is re-issued at half its
/// lifetime while the node runs, so a device that stops running stops being certified within
/// this time.
pub(crate) const CERTIFICATE_LIFETIME_SECS: u64 = 30 * 24 * 60 * 60;

/// A table whose rows expire, in the order a pruning pass walks them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Table {
    Seen,
    Replays,
    Orphans,
}

/// One page of a pruning pass: the rows of `table` after `after` (from the start if `None`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Page {
    pub(crate) table: Table,
    pub(crate) after: Option<Vec<u8>>,
}

/// The upkeep schedule and the pruning pass in progress.
#[derive(Debug)]
pub(crate) struct Upkeep {
    next_ms: u64,
    pruning: Option<Page>,
}

impl Upkeep {
    /// A schedule whose first upkeep is at `now_ms` plus one interval (the node did it when it
    /// opened).
    pub(crate) fn new(now_ms: u64) -> Self {
        Self {
            next_ms: now_ms.saturating_add(UPKEEP_EVERY_MS),
            pruning: None,
        }
    }

    /// Whether upkeep is due at `now_ms`. If it is, the next one is scheduled and a pruning
    /// pass starts (unless one is still running). A clock that went back by more than an
    /// interval before the last upkeep makes upkeep due at once, so that keys dated in the
    /// future are replaced without waiting for the clock to catch up.
    pub(crate) fn due(&mut self, now_ms: u64) -> bool {
        let jumped_back = now_ms.saturating_add(2 * UPKEEP_EVERY_MS) < self.next_ms;
        if now_ms < self.next_ms && !jumped_back {
            return false;
        }
        self.next_ms = now_ms.saturating_add(UPKEEP_EVERY_MS);
        if self.pruning.is_none() {
            self.pruning = Some(Page {
                table: Table::Seen,
                after: None,
            });
        }
        true
    }

    /// The next page to prune, while a pass is running.
    pub(crate) fn next_page(&self) -> Option<Page> {
        self.pruning.clone()
    }

    /// Records that a page was pruned: `last` is the key of the last row it examined, `None`
    /// when the table had no more rows (the pass moves to the next table, or ends).
    pub(crate) fn page_done(&mut self, last: Option<Vec<u8>>) {
        let Some(page) = &mut self.pruning else {
            return;
        };
        match (last, page.table) {
            (Some(last), _) => page.after = Some(last),
            (None, Table::Seen) => {
                *page = Page {
                    table: Table::Replays,
                    after: None,
                }
            }
            (None, Table::Replays) => {
                *page = Page {
                    table: Table::Orphans,
                    after: None,
                }
            }
            (None, Table::Orphans) => self.pruning = None,
        }
    }
}

/// Whether the device certificate (valid from `created` to `expires`) should be re-issued at
/// `now` (all Unix seconds): past half its lifetime, dated in the future (the clock went
/// back; peers would refuse it as not yet valid), or expired.
pub(crate) fn certificate_due(created: u64, expires: u64, now: u64) -> bool {
    let half = created.saturating_add(expires.saturating_sub(created) / 2);
    now >= half || created > now.saturating_add(tern_crypto::MAX_CLOCK_SKEW_SECS / 2)
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: u64 = 1_800_000_000_000;

    #[test]
    fn upkeep_runs_once_per_interval() {
        let mut upkeep = Upkeep::new(T0);
        assert!(!upkeep.due(T0));
        assert!(!upkeep.due(T0 + UPKEEP_EVERY_MS - 1));
        assert!(upkeep.due(T0 + UPKEEP_EVERY_MS));
        assert!(!upkeep.due(T0 + UPKEEP_EVERY_MS + 1));
        // A long sleep (or a forward jump) runs it once, not once per missed interval.
        assert!(upkeep.due(T0 + 100 * UPKEEP_EVERY_MS));
        assert!(!upkeep.due(T0 + 100 * UPKEEP_EVERY_MS + 1));
    }

    #[test]
    fn a_clock_that_jumps_back_runs_upkeep_at_once_and_reschedules() {
        let mut upkeep = Upkeep::new(T0);
        let back = T0 - 30 * 24 * 3600 * 1000;
        assert!(upkeep.due(back));
        assert!(!upkeep.due(back + 1));
        assert!(upkeep.due(back + UPKEEP_EVERY_MS));
        // A small step back (less than an interval) waits for the schedule.
        assert!(!upkeep.due(back + UPKEEP_EVERY_MS - 1000));
    }

    #[test]
    fn a_pruning_pass_walks_seen_then_replays_then_orphans_then_ends() {
        let mut upkeep = Upkeep::new(T0);
        assert_eq!(upkeep.next_page(), None);
        assert!(upkeep.due(T0 + UPKEEP_EVERY_MS));
        let first = upkeep.next_page().unwrap();
        assert_eq!((first.table, first.after), (Table::Seen, None));
        upkeep.page_done(Some(vec![7]));
        assert_eq!(upkeep.next_page().unwrap().after, Some(vec![7]));
        // Upkeep falling due again does not restart a pass that is still running.
        assert!(upkeep.due(T0 + 2 * UPKEEP_EVERY_MS));
        assert_eq!(upkeep.next_page().unwrap().after, Some(vec![7]));
        upkeep.page_done(None);
        assert_eq!(
            upkeep.next_page(),
            Some(Page {
                table: Table::Replays,
                after: None
            })
        );
        upkeep.page_done(None);
        assert_eq!(
            upkeep.next_page(),
            Some(Page {
                table: Table::Orphans,
                after: None
            })
        );
        upkeep.page_done(None);
        assert_eq!(upkeep.next_page(), None);
    }

    #[test]
    fn the_certificate_is_renewed_at_half_life_or_when_dated_in_the_future() {
        let now = T0 / 1000;
        let expires = now + CERTIFICATE_LIFETIME_SECS;
        assert!(!certificate_due(now, expires, now));
        assert!(!certificate_due(
            now,
            expires,
            now + CERTIFICATE_LIFETIME_SECS / 2 - 1
        ));
        assert!(certificate_due(
            now,
            expires,
            now + CERTIFICATE_LIFETIME_SECS / 2
        ));
        assert!(certificate_due(now, expires, expires + 1));
        // Issued while the clock was a day ahead, then the clock was corrected.
        assert!(certificate_due(now + 86_400, expires + 86_400, now));
        // Peers tolerate some skew: a few minutes ahead is fine.
        assert!(!certificate_due(now + 300, expires + 300, now));
    }
}
