//! Where a node reads the time of day.
//!
//! Everything in the node that depends on the date (prekey rotation, the device certificate,
//! record expiry, retention of the deduplication tables, message stamps) asks a [`Clock`]
//! instead of the operating system, so that a simulation can run a node through months in
//! minutes and move its clock in either direction.

use std::{
    fmt,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, SystemTime, UNIX_EPOCH},
};

/// The time of day a node goes by: the system's (the default) or one a program sets.
///
/// Cheap to clone; clones of a manual clock share its time, so several nodes in one process
/// can live in the same simulated time.
///
/// ```
/// use std::time::Duration;
/// use tern_node::Clock;
///
/// let clock = Clock::manual(1_800_000_000_000);
/// clock.advance(Duration::from_secs(90 * 24 * 3600));
/// assert_eq!(clock.now_secs(), 1_800_000_000 + 90 * 24 * 3600);
/// ```
#[derive(Clone, Default)]
pub struct Clock {
    /// `None`: the system clock. Otherwise milliseconds since the Unix epoch.
    manual: Option<Arc<AtomicU64>>,
}

impl Clock {
    /// The operating system's clock.
    pub fn system() -> Self {
        Self { manual: None }
    }

    /// A clock that stands still at `start_ms` (milliseconds since the Unix epoch) until it is
    /// moved with [`Clock::advance`] or [`Clock::set_ms`].
    pub fn manual(start_ms: u64) -> Self {
        Self {
            manual: Some(Arc::new(AtomicU64::new(start_ms))),
        }
    }

    /// Milliseconds since the Unix epoch.
    pub fn now_ms(&self) -> u64 {
        match &self.manual {
            Some(ms) => ms.load(Ordering::SeqCst),
            None => SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_millis() as u64),
        }
    }

    /// Seconds since the Unix epoch.
    pub fn now_secs(&self) -> u64 {
        self.now_ms() / 1000
    }

    /// Moves a manual clock forward by `by`; the system clock is not ours to move.
    pub fn advance(&self, by: Duration) {
        if let Some(ms) = &self.manual {
            ms.fetch_add(by.as_millis() as u64, Ordering::SeqCst);
        }
    }

    /// Sets a manual clock to `ms`, forwards or backwards, as a corrected or broken system
    /// clock would jump.
    pub fn set_ms(&self, ms: u64) {
        if let Some(now) = &self.manual {
            now.store(ms, Ordering::SeqCst);
        }
    }
}

impl fmt::Debug for Clock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.manual {
            Some(ms) => write!(f, "Clock::manual({})", ms.load(Ordering::SeqCst)),
            None => f.write_str("Clock::system()"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_manual_clock_moves_only_when_told_and_clones_share_it() {
        let clock = Clock::manual(5_000);
        let other = clock.clone();
        assert_eq!(clock.now_ms(), 5_000);
        other.advance(Duration::from_secs(2));
        assert_eq!(clock.now_ms(), 7_000);
        clock.set_ms(1_000);
        assert_eq!((other.now_ms(), other.now_secs()), (1_000, 1));
    }

    #[test]
    fn the_system_clock_is_the_default_and_cannot_be_moved() {
        let clock = Clock::default();
        let before = clock.now_ms();
        clock.set_ms(0);
        assert!(clock.now_ms() >= before);
    }
}
