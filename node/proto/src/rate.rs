//! Per-peer token buckets, bounded: how nodes meter deliveries and relays meter deposits.
//!
//! A bucket holds up to `burst` tokens and refills at `per_sec`; each request takes one. A
//! caller that waits before its request may be lent tokens ahead of the refill
//! ([`RateLimiter::take_or_wait`]), leaving the bucket below zero until the refill repays them. The
//! table remembers at most `max_entries` peers. When it is full, the half that was idle the
//! longest is forgotten at once (they start again with a full bucket, which costs nothing an
//! honest peer would notice), so admitting a new peer never fails and costs amortised
//! `O(log n)`.

use std::{
    collections::HashMap,
    hash::Hash,
    time::{Duration, Instant},
};

/// A rate: a burst of `burst` requests, refilled at `per_sec` a second.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rate {
    /// Requests allowed at once from a full bucket.
    pub burst: f64,
    /// Tokens added per second.
    pub per_sec: f64,
}

#[derive(Debug)]
struct Bucket {
    tokens: f64,
    updated: Instant,
    promoted: bool,
}

/// Token buckets keyed by peer, with two rates: the base rate every peer starts at, and a
/// promoted rate for peers that earned it (a node promotes a peer whose delivery it stored).
#[derive(Debug)]
pub struct RateLimiter<K> {
    buckets: HashMap<K, Bucket>,
    max_entries: usize,
    base: Rate,
    promoted: Rate,
}

impl<K: Hash + Eq + Clone> RateLimiter<K> {
    /// A limiter remembering at most `max_entries` peers (at least two), all at `base`.
    pub fn new(max_entries: usize, base: Rate) -> Self {
        Self::with_promoted(max_entries, base, base)
    }

    /// A limiter whose promoted peers get `promoted` instead of `base`.
    pub fn with_promoted(max_entries: usize, base: Rate, promoted: Rate) -> Self {
        Self {
            buckets: HashMap::new(),
            max_entries: max_entries.max(2),
            base,
            promoted,
        }
    }

    /// Takes a token for `key` at `now`: whether the request may go ahead.
    pub fn try_take(&mut self, key: &K, now: Instant) -> bool {
        self.try_take_n(key, now, 1.0)
    }

    /// Takes `cost` tokens for `key` at `now` (a meter of bytes takes one per byte): whether
    /// the request may go ahead. A cost above the burst never goes ahead.
    pub fn try_take_n(&mut self, key: &K, now: Instant, cost: f64) -> bool {
        let (bucket, _) = self.refilled(key, now);
        if bucket.tokens >= cost {
            bucket.tokens -= cost;
            true
        } else {
            false
        }
    }

    /// Takes a token for `key` at `now`, lent by an empty bucket if it refills within
    /// `max_wait` (counting the tokens lent before): the request goes ahead after the
    /// returned wait, which is zero while the bucket holds a token. `None`: refused, taking
    /// nothing. With `max_wait` zero this is [`RateLimiter::try_take`]; with more, a caller
    /// that waits before each request is slowed to the rate instead of refused.
    pub fn take_or_wait(&mut self, key: &K, now: Instant, max_wait: Duration) -> Option<Duration> {
        let (bucket, rate) = self.refilled(key, now);
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            return Some(Duration::ZERO);
        }
        let wait = (1.0 - bucket.tokens) / rate.per_sec;
        if rate.per_sec > 0.0 && wait <= max_wait.as_secs_f64() {
            bucket.tokens -= 1.0;
            Some(Duration::from_secs_f64(wait))
        } else {
            None
        }
    }

    /// Moves `key` to the promoted rate (if it is remembered).
    pub fn promote(&mut self, key: &K) {
        if let Some(bucket) = self.buckets.get_mut(key) {
            bucket.promoted = true;
        }
    }

    /// Whether `key` is remembered at the promoted rate.
    pub fn is_promoted(&self, key: &K) -> bool {
        self.buckets.get(key).is_some_and(|bucket| bucket.promoted)
    }

    /// `key`'s bucket (a full one for a newcomer, after forgetting the idle half of a full
    /// table), refilled up to `now`, with its rate.
    fn refilled(&mut self, key: &K, now: Instant) -> (&mut Bucket, Rate) {
        if !self.buckets.contains_key(key) && self.buckets.len() >= self.max_entries {
            self.forget_idle_half();
        }
        let (base, promoted) = (self.base, self.promoted);
        let bucket = self.buckets.entry(key.clone()).or_insert(Bucket {
            tokens: base.burst,
            updated: now,
            promoted: false,
        });
        let rate = if bucket.promoted { promoted } else { base };
        let elapsed = now.saturating_duration_since(bucket.updated).as_secs_f64();
        bucket.tokens = (bucket.tokens + elapsed * rate.per_sec).min(rate.burst);
        bucket.updated = now;
        (bucket, rate)
    }

    /// Peers remembered.
    pub fn len(&self) -> usize {
        self.buckets.len()
    }

    /// Whether no peer is remembered.
    pub fn is_empty(&self) -> bool {
        self.buckets.is_empty()
    }

    fn forget_idle_half(&mut self) {
        let mut updated: Vec<Instant> = self.buckets.values().map(|b| b.updated).collect();
        let middle = updated.len() / 2;
        let (_, cut, _) = updated.select_nth_unstable(middle);
        let cut = *cut;
        self.buckets.retain(|_, bucket| bucket.updated > cut);
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    const BASE: Rate = Rate {
        burst: 3.0,
        per_sec: 1.0,
    };

    #[test]
    fn a_burst_then_the_refill_rate() {
        let mut limiter = RateLimiter::new(16, BASE);
        let t0 = Instant::now();
        assert!((0..3).all(|_| limiter.try_take(&1, t0)));
        assert!(!limiter.try_take(&1, t0));
        assert!(limiter.try_take(&1, t0 + Duration::from_secs(1)));
        assert!(!limiter.try_take(&1, t0 + Duration::from_secs(1)));
        // Another peer has its own bucket.
        assert!(limiter.try_take(&2, t0));
    }

    #[test]
    fn a_byte_meter_takes_the_cost_of_each_request() {
        let bytes = Rate {
            burst: 1000.0,
            per_sec: 100.0,
        };
        let mut limiter = RateLimiter::new(16, bytes);
        let t0 = Instant::now();
        assert!(limiter.try_take_n(&1, t0, 600.0));
        assert!(!limiter.try_take_n(&1, t0, 600.0), "only 400 left");
        assert!(limiter.try_take_n(&1, t0, 400.0));
        assert!(limiter.try_take_n(&1, t0 + Duration::from_secs(2), 200.0));
        assert!(!limiter.try_take_n(&2, t0, 1001.0), "above the burst");
    }

    #[test]
    fn promoted_peers_get_the_promoted_rate() {
        let promoted = Rate {
            burst: 10.0,
            per_sec: 10.0,
        };
        let mut limiter = RateLimiter::with_promoted(16, BASE, promoted);
        let t0 = Instant::now();
        assert!(limiter.try_take(&1, t0));
        assert!(!limiter.is_promoted(&1));
        limiter.promote(&1);
        assert!(limiter.is_promoted(&1) && !limiter.is_promoted(&2));
        assert!((0..9).all(|_| limiter.try_take(&1, t0 + Duration::from_secs(1))));
    }

    /// An empty bucket lends tokens as long as each refills within the wait allowed; the
    /// waits grow with what was lent, and a refused request takes nothing.
    #[test]
    fn a_paced_taker_waits_for_its_tokens_within_the_wait_allowed() {
        let mut limiter = RateLimiter::new(16, BASE);
        let t0 = Instant::now();
        let max = Duration::from_millis(2500);
        let takes: Vec<_> = (0..6).map(|_| limiter.take_or_wait(&1, t0, max)).collect();
        let secs = |s: u64| Some(Duration::from_secs(s));
        assert_eq!(
            takes,
            [secs(0), secs(0), secs(0), secs(1), secs(2), None],
            "three from the burst, two lent, the third would wait 3 s"
        );
        assert!(
            !limiter.try_take(&1, t0 + Duration::from_secs(2)),
            "still owed"
        );
        assert_eq!(
            limiter.take_or_wait(&1, t0 + Duration::from_secs(3), Duration::ZERO),
            secs(0),
            "repaid: two lent tokens refilled, then one more"
        );
        assert_eq!(limiter.take_or_wait(&2, t0, Duration::ZERO), secs(0));
        assert!(limiter.try_take(&2, t0) && limiter.try_take(&2, t0));
        assert_eq!(limiter.take_or_wait(&2, t0, Duration::ZERO), None);
    }

    #[test]
    fn a_full_table_forgets_the_idle_half_and_admits_newcomers() {
        let mut limiter = RateLimiter::new(100, BASE);
        let t0 = Instant::now();
        for peer in 0..100u32 {
            assert!(limiter.try_take(&peer, t0 + Duration::from_millis(u64::from(peer))));
        }
        // Peer 99 is recent: it keeps its (emptied) state; a newcomer is admitted.
        let later = t0 + Duration::from_millis(100);
        assert!(limiter.try_take(&1000, later));
        assert!(limiter.len() <= 51);
        assert!(limiter.try_take(&99, later));
        assert!(limiter.try_take(&99, later));
        assert!(
            !limiter.try_take(&99, later),
            "its bucket was kept, not reset"
        );
    }
}
