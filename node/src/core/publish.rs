//! Publishing our DHT record: [`Publication`] decides when (without I/O), [`Core::publish`]
//! signs and sends.
//!
//! The record is published when it no longer says what it should (addresses, relays, prekeys
//! or certificate changed), halfway through the lifetime of the one last signed, and again
//! [`PUBLISH_RETRY`] after a failure. Dates are wall-clock, from the node's clock: a machine
//! that slept or a clock that jumped would otherwise let the record expire in the DHT while
//! the node runs.

use super::*;

/// How far in the future a record may have been signed before it is signed again: within
/// the clock skew peers tolerate (an hour), a step back of the clock is no reason.
const CLOCK_SLACK_MS: u64 = 30 * 60 * 1000;
/// Delay before retrying a failed publication of our record.
const PUBLISH_RETRY_MS: u64 = 5_000;

/// When our record must be published.
#[derive(Debug, Default)]
pub(super) struct Publication {
    /// A publication is under way.
    publishing: bool,
    /// The record no longer says what it should.
    stale: bool,
    /// Republish from this time on (Unix milliseconds).
    republish_at_ms: u64,
    /// After a failure: retry from this time on.
    retry_at_ms: Option<u64>,
    /// The sequence number of the record last published with success.
    published: Option<u64>,
    /// Failed publications in a row, so that an offline node warns once, not every retry.
    failures: u32,
}

/// How a publication ended, for the log.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Ended {
    Published,
    /// The first failure after a success (or since start): worth a warning.
    FirstFailure,
    /// Another failure in a row.
    FailedAgain,
}

impl Publication {
    /// The record must change: publish as soon as the current publication (if any) ends.
    pub(super) fn invalidate(&mut self) {
        self.stale = true;
    }

    /// Whether a publication should start at `now_ms`. A record signed in what is now the
    /// future (the clock went back) is republished at once: peers refuse a record whose
    /// expiry lies further ahead than a record may live.
    pub(super) fn due(&self, now_ms: u64) -> bool {
        let signed_in_the_future = self.republish_at_ms
            > now_ms.saturating_add(record::REPUBLISH_INTERVAL_SECS * 1000 + CLOCK_SLACK_MS);
        !self.publishing
            && (self.stale
                || now_ms >= self.republish_at_ms
                || signed_in_the_future
                || self.retry_at_ms.is_some_and(|at| now_ms >= at))
    }

    /// A publication started at `now_ms`.
    pub(super) fn started(&mut self, now_ms: u64) {
        self.publishing = true;
        self.stale = false;
        self.retry_at_ms = None;
        self.republish_at_ms = now_ms + record::REPUBLISH_INTERVAL_SECS * 1000;
    }

    /// Nothing to publish yet (no address to announce): wait until the record changes.
    pub(super) fn postponed(&mut self, now_ms: u64) {
        self.stale = false;
        self.republish_at_ms = now_ms + record::REPUBLISH_INTERVAL_SECS * 1000;
    }

    /// The publication of `seq` ended at `now_ms`.
    pub(super) fn finished(&mut self, seq: u64, ok: bool, now_ms: u64) -> Ended {
        self.publishing = false;
        if ok {
            self.failures = 0;
            self.published = Some(seq);
            return Ended::Published;
        }
        self.failures += 1;
        self.retry_at_ms = Some(now_ms + PUBLISH_RETRY_MS);
        if self.failures == 1 {
            Ended::FirstFailure
        } else {
            Ended::FailedAgain
        }
    }

    /// Whether the record last published with success still says what it should: nothing
    /// changed since, and no publication is under way or waiting for a retry.
    pub(super) fn current(&self) -> bool {
        self.published.is_some() && !self.stale && !self.publishing && self.retry_at_ms.is_none()
    }

    /// The sequence number of the record last published with success.
    pub(super) fn published(&self) -> Option<u64> {
        self.published
    }
}

impl Core {
    /// Signs and publishes our DHT record with the current addresses, bundle and relays.
    pub(super) async fn publish(&mut self) {
        let now_ms = self.time.now_ms();
        let addresses = self.net.addresses().borrow().clone();
        if addresses.is_empty() {
            self.publication.postponed(now_ms);
            return;
        }
        // Relay-only: our addresses stay out of the record, so contacts cannot learn them.
        let addresses = if self.direct { addresses } else { Vec::new() };
        let seq = self.record_seq + 1;
        let now = now_ms / 1000;
        let bundle = self.prekeys.bundle(&self.account, seq);
        let in_order = self.relays.in_order();
        let relays: Vec<record::RelayEntry> = in_order
            .iter()
            .map(|(peer, addresses)| record::RelayEntry {
                peer: peer.to_bytes(),
                addresses: addresses.iter().map(|a| a.to_vec()).collect(),
            })
            .collect();
        // Where the network reserves circuits while we are private.
        self.net.set_relays(in_order);
        let value = record::sign(
            &self.account,
            &self.certificate,
            &addresses,
            &bundle,
            &relays,
            seq,
            now + record::RECORD_LIFETIME_SECS,
        );
        // The sequence number must never repeat, even across a crash: persist it first. A
        // failure here only delays the publication.
        let mut batch = Batch::new();
        if batch
            .put::<State>(&STATE_RECORD_SEQ.to_owned(), &seq.to_be_bytes().to_vec())
            .is_err()
            || self.commit(Pending::new(batch, Vec::new())).await.is_err()
        {
            return;
        }
        self.record_seq = seq;
        self.publication.started(now_ms);
        let net = self.net.clone();
        let key = record::key_for(&self.account.user_id());
        self.in_flight
            .spawn_holding(in_flight::Held::Publication(seq), async move {
                Outcome::Published {
                    seq,
                    result: net.publish(key, value).await,
                }
            });
    }

    /// Notes how a publication ended.
    pub(super) fn published(&mut self, seq: u64, result: &Result<(), network::NetError>) {
        let now_ms = self.time.now_ms();
        match self.publication.finished(seq, result.is_ok(), now_ms) {
            Ended::Published => info!(seq, "published our record"),
            // A node without peers (offline, or before its first bootstrap) fails every few
            // seconds: say it once.
            Ended::FirstFailure => warn!(
                "publishing our record failed, retrying every {} s: {}",
                PUBLISH_RETRY_MS / 1000,
                result
                    .as_ref()
                    .err()
                    .map(ToString::to_string)
                    .unwrap_or_default()
            ),
            Ended::FailedAgain => debug!("publishing our record failed again"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: u64 = 1_800_000_000_000;
    const HALF_LIFE_MS: u64 = record::REPUBLISH_INTERVAL_SECS * 1000;

    #[test]
    fn a_new_node_publishes_at_once() {
        assert!(Publication::default().due(T0));
    }

    #[test]
    fn republished_halfway_through_the_lifetime_by_the_date() {
        let mut publication = Publication::default();
        publication.started(T0);
        assert!(!publication.due(T0), "one at a time");
        assert_eq!(publication.finished(1, true, T0 + 10), Ended::Published);
        assert_eq!(publication.published(), Some(1));
        assert!(!publication.due(T0 + HALF_LIFE_MS - 1));
        assert!(publication.due(T0 + HALF_LIFE_MS));
        // A machine that slept for days: due at once when it wakes.
        assert!(publication.due(T0 + 5 * 24 * 3600 * 1000));
    }

    #[test]
    fn a_change_publishes_again_after_the_current_publication() {
        let mut publication = Publication::default();
        publication.started(T0);
        publication.invalidate();
        assert!(!publication.due(T0 + 1), "not while one is under way");
        publication.finished(1, true, T0 + 2);
        assert!(publication.due(T0 + 3));
    }

    #[test]
    fn the_record_is_current_only_once_published_with_nothing_changed_since() {
        let mut publication = Publication::default();
        assert!(!publication.current(), "nothing published yet");
        publication.started(T0);
        assert!(!publication.current(), "under way");
        publication.finished(1, true, T0 + 1);
        assert!(publication.current());
        publication.invalidate();
        assert!(!publication.current(), "the addresses changed");
        publication.started(T0 + 2);
        publication.finished(2, false, T0 + 3);
        assert!(!publication.current(), "the newer one failed");
        publication.started(T0 + 3 + PUBLISH_RETRY_MS);
        publication.finished(3, true, T0 + 4 + PUBLISH_RETRY_MS);
        assert!(publication.current());
    }

    #[test]
    fn failures_are_retried_after_a_delay_and_warned_about_once() {
        let mut publication = Publication::default();
        publication.started(T0);
        assert_eq!(publication.finished(1, false, T0), Ended::FirstFailure);
        assert!(!publication.due(T0 + PUBLISH_RETRY_MS - 1));
        assert!(publication.due(T0 + PUBLISH_RETRY_MS));
        publication.started(T0 + PUBLISH_RETRY_MS);
        assert_eq!(
            publication.finished(2, false, T0 + PUBLISH_RETRY_MS),
            Ended::FailedAgain
        );
        assert_eq!(publication.published(), None);
        publication.started(T0 + 2 * PUBLISH_RETRY_MS);
        assert_eq!(
            publication.finished(3, true, T0 + 2 * PUBLISH_RETRY_MS),
            Ended::Published
        );
        assert_eq!(publication.published(), Some(3));
    }

    #[test]
    fn a_clock_that_went_back_republishes_at_once() {
        let mut publication = Publication::default();
        publication.started(T0);
        publication.finished(1, true, T0);
        assert!(!publication.due(T0 - 60_000), "a minute back is no reason");
        assert!(publication.due(T0 - 2 * 24 * 3600 * 1000));
    }

    #[test]
    fn without_an_address_it_waits_for_a_change() {
        let mut publication = Publication::default();
        publication.postponed(T0);
        assert!(!publication.due(T0 + 1000));
        publication.invalidate();
        assert!(publication.due(T0 + 1000));
    }
}
