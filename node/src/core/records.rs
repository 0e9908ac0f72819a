//! What the core knows of other accounts' DHT records, decided without I/O: records looked
//! up (until they expire), records whose addresses failed (kept for their relays and
//! mailbox until a fresh lookup replaces them), lookups under way, and one-time prekeys
//! taken for the next session start. Bounded, since strangers can make us look them up.

use std::collections::{HashMap, HashSet};

use libp2p::{Multiaddr, PeerId};
use tern_crypto::{MailboxId, MailboxPublicKey, OneTimePrekey, UserId};
use tern_proto::record::PeerRecord;

/// Where an envelope for a peer can be left when direct delivery fails.
pub(crate) type RelayTarget = (Vec<(PeerId, Vec<Multiaddr>)>, MailboxId);

#[derive(Debug, Default)]
pub(super) struct Records {
    fresh: HashMap<UserId, PeerRecord>,
    /// Records whose addresses failed: every message that failed to the same peer, not only
    /// the first one noticed, can still go to its relays at once.
    stale: HashMap<UserId, PeerRecord>,
    lookups: HashSet<UserId>,
    one_time: HashMap<UserId, OneTimePrekey>,
}

impl Records {
    /// The record of `peer` if we hold one that has not expired at `now` (Unix seconds). A
    /// record past its expiry may name stale addresses or prekeys: it is dropped, to be
    /// looked up again.
    pub(super) fn known(&mut self, peer: &UserId, now: u64) -> Option<PeerRecord> {
        if self.fresh.get(peer).is_some_and(|r| r.expires <= now) {
            self.fresh.remove(peer);
        }
        self.fresh.get(peer).cloned()
    }

    /// The device `peer`'s newest record we hold names, expired or stale ones included.
    pub(super) fn device_of(&self, peer: &UserId) -> Option<PeerId> {
        self.fresh
            .get(peer)
            .or_else(|| self.stale.get(peer))
            .map(|r| r.device)
    }

    /// Whether we hold a (not yet dropped) record of `peer`.
    pub(super) fn has(&self, peer: &UserId) -> bool {
        self.fresh.contains_key(peer)
    }

    /// Takes a looked-up record unless it is older than one already held: a peer that
    /// answers a lookup with a replayed record (still signed, not yet expired) must not roll
    /// back a contact's prekeys, relays or addresses. Returns whether it was taken.
    pub(super) fn learn(&mut self, peer: UserId, record: PeerRecord) -> bool {
        let newest_known = self
            .fresh
            .get(&peer)
            .into_iter()
            .chain(self.stale.get(&peer))
            .map(|r| r.seq)
            .max();
        if newest_known.is_some_and(|seq| record.seq < seq) {
            return false;
        }
        self.stale.remove(&peer);
        self.fresh.insert(peer, record);
        true
    }

    /// Direct delivery to `peer` failed: its addresses may be stale, so look it up again
    /// next time, keeping the record for its relays meanwhile.
    pub(super) fn addresses_failed(&mut self, peer: &UserId) {
        if let Some(record) = self.fresh.remove(peer) {
            self.stale.insert(*peer, record);
        }
    }

    /// The relays and mailbox of `peer`, from its record or its stale one.
    pub(super) fn relay_target(&self, peer: &UserId) -> Option<RelayTarget> {
        self.deposit_target(peer).map(|(target, _)| target)
    }

    /// Where to leave messages for `peer`, as [`Self::relay_target`], with the mailbox key to
    /// seal them to, from the same record.
    pub(super) fn deposit_target(&self, peer: &UserId) -> Option<(RelayTarget, MailboxPublicKey)> {
        self.fresh
            .get(peer)
            .or_else(|| self.stale.get(peer))
            .filter(|record| !record.relays.is_empty())
            .map(|record| {
                let mailbox = *record.bundle.mailbox();
                ((record.relays.clone(), mailbox.id()), mailbox)
            })
    }

    /// Whether we hold a record of `peer` (fresh or stale), and then its relays and mailbox,
    /// if it names any.
    pub(super) fn known_relays(&self, peer: &UserId) -> Option<Option<RelayTarget>> {
        (self.fresh.contains_key(peer) || self.stale.contains_key(peer))
            .then(|| self.relay_target(peer))
    }

    /// Starts a lookup of `peer` unless one is under way; returns whether to start one.
    pub(super) fn start_lookup(&mut self, peer: UserId) -> bool {
        self.lookups.insert(peer)
    }

    /// A lookup of `peer` ended; `one_time` is a prekey taken from its relays, if any.
    pub(super) fn lookup_done(&mut self, peer: UserId, one_time: Option<OneTimePrekey>) {
        self.lookups.remove(&peer);
        if let Some(prekey) = one_time {
            self.one_time.insert(peer, prekey);
        }
    }

    /// Whether a one-time prekey of `peer` is held for the next session start.
    pub(super) fn has_one_time(&self, peer: &UserId) -> bool {
        self.one_time.contains_key(peer)
    }

    /// Takes the one-time prekey held for `peer`, if any: each is used once.
    pub(super) fn take_one_time(&mut self, peer: &UserId) -> Option<OneTimePrekey> {
        self.one_time.remove(peer)
    }

    /// Forgets records past their expiry at `now`.
    pub(super) fn forget_expired(&mut self, now: u64) {
        self.fresh.retain(|_, record| record.expires > now);
        self.stale.retain(|_, record| record.expires > now);
    }

    /// Keeps each map within `max` peers (evicted entries are looked up again when needed).
    pub(super) fn bound(&mut self, max: usize) {
        super::bound(&mut self.fresh, max);
        super::bound(&mut self.stale, max);
        super::bound(&mut self.one_time, max);
    }
}

#[cfg(test)]
mod tests {
    use rand_chacha::{ChaCha20Rng, rand_core::SeedableRng};
    use tern_crypto::{AccountKey, DeviceId, PrekeySecrets};
    use tern_proto::record;

    use super::*;

    const NOW: u64 = 1_800_000_000;

    /// A real, validated record of `account` with sequence number `seq`.
    fn record_of(account: &AccountKey, seq: u64, relays: usize) -> PeerRecord {
        let mut rng = ChaCha20Rng::from_seed([seq as u8; 32]);
        let device = libp2p::identity::Keypair::generate_ed25519();
        let device_key: [u8; 32] = device.public().try_into_ed25519().unwrap().to_bytes();
        let certificate =
            account.certify_device(DeviceId::from_bytes(device_key).unwrap(), NOW, NOW + 86_400);
        let bundle = PrekeySecrets::generate(&mut rng, account, NOW).bundle(account, seq);
        let relays: Vec<record::RelayEntry> = (0..relays)
            .map(|_| record::RelayEntry {
                peer: PeerId::random().to_bytes(),
                addresses: Vec::new(),
            })
            .collect();
        let value = record::sign(
            account,
            &certificate,
            &[],
            &bundle,
            &relays,
            seq,
            NOW + 3600,
        );
        record::validate(&record::key_for(&account.user_id()), &value, NOW).unwrap()
    }

    #[test]
    fn an_older_record_never_replaces_a_newer_one() {
        let account = AccountKey::generate(&mut ChaCha20Rng::from_seed([1; 32]));
        let peer = account.user_id();
        let mut records = Records::default();
        assert!(records.learn(peer, record_of(&account, 5, 0)));
        assert!(
            !records.learn(peer, record_of(&account, 4, 0)),
            "a replayed record"
        );
        assert_eq!(records.known(&peer, NOW).unwrap().seq, 5);
        // Also when the newer one is only held as stale.
        records.addresses_failed(&peer);
        assert!(!records.has(&peer));
        assert!(!records.learn(peer, record_of(&account, 3, 0)));
        assert!(records.learn(peer, record_of(&account, 6, 0)));
        assert_eq!(records.known(&peer, NOW).unwrap().seq, 6);
    }

    #[test]
    fn expired_records_are_dropped_and_stale_ones_still_name_relays() {
        let account = AccountKey::generate(&mut ChaCha20Rng::from_seed([2; 32]));
        let peer = account.user_id();
        let mut records = Records::default();
        records.learn(peer, record_of(&account, 1, 2));
        records.addresses_failed(&peer);
        assert!(records.known(&peer, NOW).is_none());
        let (relays, _) = records.relay_target(&peer).unwrap();
        assert_eq!(relays.len(), 2);
        records.forget_expired(NOW + 3600);
        assert!(records.relay_target(&peer).is_none());
        records.learn(peer, record_of(&account, 2, 0));
        assert!(
            records.known(&peer, NOW + 3600).is_none(),
            "expired at lookup time"
        );
    }

    #[test]
    fn one_lookup_at_a_time_and_one_time_prekeys_are_used_once() {
        let peer = AccountKey::generate(&mut ChaCha20Rng::from_seed([3; 32])).user_id();
        let mut records = Records::default();
        assert!(records.start_lookup(peer));
        assert!(!records.start_lookup(peer));
        records.lookup_done(peer, None);
        assert!(records.start_lookup(peer));
        assert!(!records.has_one_time(&peer));
        assert!(records.take_one_time(&peer).is_none());
    }
}
