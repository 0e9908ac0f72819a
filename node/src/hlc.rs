//! A hybrid logical clock: message timestamps that order a conversation consistently even
//! when the participants' clocks disagree.
//!
//! A timestamp is a `u64`: the upper 48 bits are milliseconds since the Unix epoch, the lower
//! 16 a counter. On every local event (sending) the clock takes
//! `max(physical now, last + 1)`; on receiving a message stamped `remote` it advances to
//! `max(physical now, last + 1, remote + 1)`. So a reply is always ordered after the message
//! it answers, however far behind the replier's clock is, and two messages are never stamped
//! equal by one node.
//!
//! **The ordering rule** for a conversation: by timestamp, then by sender account key, then by
//! message id. Every device computes the same order from the same messages. A remote stamp far
//! in the future (more than [`MAX_DRIFT_MS`] ahead of our clock) is clamped before it is merged,
//! so one peer with a broken clock cannot drag ours forward without limit; its message is still
//! ordered by its own (clamped) stamp.

/// How far ahead of our own clock a remote timestamp may pull it: a day absorbs wrong time
/// zones and unsynchronised clocks, while bounding the damage of a malicious stamp.
pub(crate) const MAX_DRIFT_MS: u64 = 24 * 60 * 60 * 1000;

const COUNTER_BITS: u32 = 16;

/// A timestamp of the clock.
pub(crate) type Stamp = u64;

/// Milliseconds since the Unix epoch of a stamp.
pub(crate) fn millis(stamp: Stamp) -> u64 {
    stamp >> COUNTER_BITS
}

/// The first stamp of millisecond `ms`: for something that happened then, by another clock
/// than ours (a relay's).
pub(crate) fn at_millis(ms: u64) -> Stamp {
    ms << COUNTER_BITS
}

/// The clock. Its state is the last stamp it issued; the node persists that with each message
/// so the clock never goes backwards across restarts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Hlc {
    last: Stamp,
}

impl Hlc {
    pub(crate) fn new(last: Stamp) -> Self {
        Self { last }
    }

    pub(crate) fn last(&self) -> Stamp {
        self.last
    }

    /// A stamp for a local event at physical time `now_ms`.
    pub(crate) fn tick(&mut self, now_ms: u64) -> Stamp {
        self.last = (now_ms << COUNTER_BITS).max(self.last.saturating_add(1));
        self.last
    }

    /// Merges a received stamp, returning the stamp to record the receipt at.
    pub(crate) fn observe(&mut self, remote: Stamp, now_ms: u64) -> Stamp {
        let ceiling = now_ms.saturating_add(MAX_DRIFT_MS) << COUNTER_BITS;
        let remote = remote.min(ceiling);
        self.last = (now_ms << COUNTER_BITS)
            .max(self.last.saturating_add(1))
            .max(remote.saturating_add(1));
        self.last
    }

    /// Clamps a remote stamp the way [`Hlc::observe`] does, for ordering the message itself.
    pub(crate) fn clamp(remote: Stamp, now_ms: u64) -> Stamp {
        remote.min(now_ms.saturating_add(MAX_DRIFT_MS) << COUNTER_BITS)
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn a_reply_orders_after_the_message_despite_a_slow_clock() {
        let mut fast = Hlc::new(0);
        let mut slow = Hlc::new(0);
        let sent = fast.tick(1_000_000);
        // The replier's clock is 10 minutes behind.
        let received = slow.observe(sent, 1_000_000 - 600_000);
        let reply = slow.tick(1_000_000 - 600_000);
        assert!(received > sent && reply > received);
        assert_eq!(millis(reply), 1_000_000);
    }

    #[test]
    fn far_future_stamps_are_clamped() {
        let mut clock = Hlc::new(0);
        let now = 5_000_000;
        let evil = u64::MAX - 1;
        let merged = clock.observe(evil, now);
        assert!(millis(merged) <= now + MAX_DRIFT_MS);
        assert_eq!(Hlc::clamp(evil, now), (now + MAX_DRIFT_MS) << COUNTER_BITS);
    }

    proptest! {
        #[test]
        fn stamps_strictly_increase(events in prop::collection::vec((any::<bool>(), 0u64..1 << 40, any::<u64>()), 1..100)) {
            let mut clock = Hlc::new(0);
            let mut last = 0;
            for (local, now, remote) in events {
                let stamp = if local { clock.tick(now) } else { clock.observe(remote, now) };
                prop_assert!(stamp > last);
                last = stamp;
            }
        }
    }
}
