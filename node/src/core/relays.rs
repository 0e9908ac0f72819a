//! Our mailbox relays: [`Relays`] decides (without I/O) which relays hold our mailbox, which
//! have failed too long, and when to look for more; the core runs a collector per relay and
//! the DHT searches.
//!
//! Relays from the configuration are pinned: never dropped, but a failing one does not count
//! as working, so a picked relay is added beside it. Relays picked from the DHT are replaced
//! once they have failed for longer than the failover delay. While fewer than
//! [`REPLICAS`] work, the DHT is searched for more, backing off from
//! [`FIRST_DISCOVERY_BACKOFF`] to [`MAX_DISCOVERY_BACKOFF`] while it finds none; which of the
//! relays that answer are taken is `discovery::choose`'s decision. While enough work, the
//! DHT's relays are still probed every [`SURVEY_EVERY`], only to remember which answer.

use std::{
    collections::{HashMap, HashSet},
    time::Instant,
};

use libp2p::{Multiaddr, PeerId};

use tern_crypto::rand_core::UnwrapErr;
use tern_proto::dht::NetGroup;

use super::*;
use crate::{relay_path::REPLICAS, tables::RelaySightings};

/// A relay and the addresses to reach it at.
pub(super) type Relay = (PeerId, Vec<Multiaddr>);

/// What a check of our relays decided.
#[derive(Debug, Default, PartialEq, Eq)]
pub(super) struct Check {
    /// Picked relays dropped for failing too long: stop their collectors.
    pub(super) dropped: Vec<PeerId>,
    /// Search the DHT for this many more relays, none of these.
    pub(super) discover: Option<(usize, HashSet<PeerId>)>,
    /// Probe relays in the DHT, none of these, only to remember which answer (so that
    /// relays seen over days are known when a search comes).
    pub(super) survey: Option<HashSet<PeerId>>,
}

/// The relays that hold our mailbox, and their health.
#[derive(Debug)]
pub(super) struct Relays {
    list: Vec<Relay>,
    pinned: HashSet<PeerId>,
    /// Since when each relay has been failing (absent: working), from its collector's reports.
    failing: HashMap<PeerId, Instant>,
    discovery: bool,
    failover_after: Duration,
    searching: bool,
    next_search: Instant,
    backoff: Duration,
    next_survey: Instant,
}

impl Relays {
    /// Our relays at start: the `pinned` ones from the configuration; `discovery` says whether
    /// to pick more from the DHT.
    pub(super) fn new(
        pinned: Vec<Relay>,
        discovery: bool,
        failover_after: Duration,
        now: Instant,
    ) -> Self {
        Self {
            pinned: pinned.iter().map(|(peer, _)| *peer).collect(),
            list: pinned,
            failing: HashMap::new(),
            discovery,
            failover_after,
            searching: false,
            next_search: now,
            backoff: FIRST_DISCOVERY_BACKOFF,
            next_survey: now + SURVEY_EVERY,
        }
    }

    /// Takes back relays picked in an earlier run (senders were told about them).
    pub(super) fn restore(&mut self, picked: Vec<Relay>) {
        for (peer, addresses) in picked {
            if !self.contains(&peer) {
                self.list.push((peer, addresses));
            }
        }
    }

    fn contains(&self, peer: &PeerId) -> bool {
        self.list.iter().any(|(p, _)| p == peer)
    }

    /// Every relay of ours.
    pub(super) fn all(&self) -> &[Relay] {
        &self.list
    }

    /// The relays picked from the DHT (the configuration holds the pinned ones).
    pub(super) fn picked(&self) -> Vec<Relay> {
        self.list
            .iter()
            .filter(|(peer, _)| !self.pinned.contains(peer))
            .cloned()
            .collect()
    }

    /// Our relays that are not failing, as their collectors last reported.
    pub(super) fn working(&self) -> Vec<Relay> {
        self.list
            .iter()
            .filter(|(peer, _)| !self.failing.contains_key(peer))
            .cloned()
            .collect()
    }

    /// Our relays, working ones first: senders deposit at the first three listed.
    pub(super) fn in_order(&self) -> Vec<Relay> {
        let mut relays = self.list.clone();
        relays.sort_by_key(|(peer, _)| self.failing.contains_key(peer));
        relays
    }

    /// A collector's report that `relay` works, or fails, as of `now`.
    pub(super) fn report(&mut self, relay: PeerId, working: bool, now: Instant) {
        if working {
            self.failing.remove(&relay);
        } else if self.contains(&relay) {
            self.failing.entry(relay).or_insert(now);
        }
    }

    fn down(&self, peer: &PeerId, now: Instant) -> bool {
        self.failing
            .get(peer)
            .is_some_and(|since| now.saturating_duration_since(*since) >= self.failover_after)
    }

    /// Drops picked relays that failed too long and decides whether to search for more.
    pub(super) fn check(&mut self, now: Instant) -> Check {
        let mut check = Check::default();
        if !self.discovery {
            return check;
        }
        check.dropped = self
            .list
            .iter()
            .map(|(peer, _)| *peer)
            .filter(|peer| !self.pinned.contains(peer) && self.down(peer, now))
            .collect();
        if !check.dropped.is_empty() {
            self.list.retain(|(peer, _)| !check.dropped.contains(peer));
            self.failing.retain(|peer, _| !check.dropped.contains(peer));
            self.next_search = now;
        }
        let wanted = self.wanted(now);
        if !self.searching && now >= self.next_search && wanted > 0 {
            self.searching = true;
            let exclude = self.list.iter().map(|(peer, _)| *peer).collect();
            check.discover = Some((wanted, exclude));
        } else if !self.searching && now >= self.next_survey {
            check.survey = Some(self.list.iter().map(|(peer, _)| *peer).collect());
        }
        if check.discover.is_some() || check.survey.is_some() {
            // A search probes too: either resets the survey clock.
            self.next_survey = now + SURVEY_EVERY;
        }
        check
    }

    /// How many more relays we need: [`REPLICAS`] less those not down.
    pub(super) fn wanted(&self, now: Instant) -> usize {
        let working = self
            .list
            .iter()
            .filter(|(peer, _)| !self.down(peer, now))
            .count();
        REPLICAS.saturating_sub(working)
    }

    /// Takes relays a DHT search found; returns those that are new to us.
    pub(super) fn found(&mut self, found: Vec<Relay>, now: Instant) -> Vec<Relay> {
        self.searching = false;
        if found.is_empty() {
            // None (more) in the DHT yet, or the DHT not joined: ask again later, less often.
            self.backoff = (self.backoff * 2).min(MAX_DISCOVERY_BACKOFF);
            self.next_search = now + self.backoff;
            return Vec::new();
        }
        self.backoff = FIRST_DISCOVERY_BACKOFF;
        self.next_search = now;
        let mut added = Vec::new();
        for relay in found {
            if !self.contains(&relay.0) {
                self.list.push(relay.clone());
                added.push(relay);
            }
        }
        added
    }
}

impl Core {
    /// Starts collecting mail from `relay` (and stocking it with one-time prekeys).
    pub(super) fn start_collector(&mut self, relay: PeerId, addresses: Vec<Multiaddr>) {
        let cancel = self.cancel.child_token();
        if let Some(old) = self.collectors.insert(relay, cancel.clone()) {
            old.cancel();
        }
        let bundle = self.prekeys.bundle(&self.account, self.record_seq);
        self.fetchers.spawn(crate::relay_path::collect(
            crate::relay_path::Collector {
                net: self.net.clone(),
                account: self.account.clone(),
                bundle,
                relay,
                addresses,
                core: self.requests_tx.clone(),
                health: self.health_tx.clone(),
            },
            cancel,
        ));
    }

    /// Carries out a check of our relays: stops the collectors of dropped relays and starts
    /// a DHT search when more are needed.
    pub(super) async fn check_relays(&mut self) {
        let check = self.relays.check(Instant::now());
        if !check.dropped.is_empty() {
            for peer in &check.dropped {
                info!(%peer, "a relay of ours has been unreachable too long; replacing it");
                if let Some(token) = self.collectors.remove(peer) {
                    token.cancel();
                }
            }
            self.save_relays().await;
            self.publication.invalidate();
        }
        let survey = check.survey.is_some();
        if let Some(exclude) = check.discover.map(|(_, e)| e).or(check.survey) {
            let net = self.net.clone();
            let mut random = UnwrapErr(getrandom::SysRng);
            let known = self.sightings.to_recheck(self.time.now_secs(), &mut random);
            self.in_flight.spawn(async move {
                let answered = discovery::discover(&net, &exclude, known, &mut random).await;
                if survey {
                    Outcome::RelaysSurveyed(answered)
                } else {
                    Outcome::RelaysFound(answered)
                }
            });
        }
    }

    /// Takes relays that answered a survey: remembers them, picks none.
    pub(super) async fn note_relays(&mut self, answered: Vec<Relay>) {
        let now = self.time.now_secs();
        self.remember(&answered, now).await;
    }

    /// Takes relays that answered a discovery probe: remembers them, and chooses among them
    /// (see [`discovery::choose`]) the ones to add to our set, record and collectors.
    pub(super) async fn add_relays(&mut self, answered: Vec<Relay>) {
        let now = self.time.now_secs();
        self.remember(&answered, now).await;
        let candidates: Vec<discovery::Candidate> = answered
            .iter()
            .filter(|(peer, _)| !self.relays.all().iter().any(|(p, _)| p == peer))
            .map(|(peer, addresses)| discovery::Candidate {
                peer: *peer,
                group: NetGroup::of(addresses),
                seasoned: self.sightings.get(peer).is_some_and(|s| s.seasoned(now)),
            })
            .collect();
        let held: Vec<NetGroup> = self
            .relays
            .all()
            .iter()
            .map(|(_, addresses)| NetGroup::of(addresses))
            .collect();
        let need = self.relays.wanted(Instant::now());
        let picked = discovery::choose(&candidates, &held, need, &mut UnwrapErr(getrandom::SysRng));
        let found: Vec<Relay> = picked
            .iter()
            .filter_map(|peer| answered.iter().find(|(p, _)| p == peer).cloned())
            .collect();
        let added = self.relays.found(found, Instant::now());
        if added.is_empty() {
            return;
        }
        for (peer, addresses) in added {
            info!(%peer, "picked a mailbox relay from the DHT");
            self.start_collector(peer, addresses);
        }
        self.save_relays().await;
        self.publication.invalidate();
    }

    /// Reads the relays seen in earlier runs.
    pub(super) async fn load_sightings(&mut self) {
        let rows = self
            .read(|s| {
                s.scan::<RelaySightings>(.., ScanDirection::Forward, discovery::MAX_SIGHTINGS)
            })
            .await;
        match rows {
            Ok(rows) => {
                self.sightings =
                    discovery::Sightings::from_rows(rows.into_iter().map(|(_, row)| row));
            }
            Err(e) => warn!("cannot read the relays seen earlier: {e}"),
        }
    }

    /// Notes that `answered` answered a probe at `now`, in memory and in the database.
    async fn remember(&mut self, answered: &[Relay], now: u64) {
        if answered.is_empty() {
            return;
        }
        let mut batch = Batch::new();
        let mut result = Ok(());
        for (peer, addresses) in answered {
            for gone in self.sightings.seen(*peer, addresses.clone(), now) {
                batch.delete::<RelaySightings>(&self.store.index_id("relay", &gone.to_bytes()));
            }
            if let Some(row) = self.sightings.row(peer) {
                let key = self.store.index_id("relay", &peer.to_bytes());
                result = result.and(batch.put::<RelaySightings>(&key, &row));
            }
        }
        let saved = match result {
            Ok(()) => self
                .commit(Pending::new(batch, Vec::new()))
                .await
                .map(|_| ()),
            Err(e) => Err(e.into()),
        };
        if let Err(e) = saved {
            warn!("cannot store the relays seen answering: {e}");
        }
    }

    /// Persists the relays picked from the DHT (pinned ones come from the configuration).
    pub(super) async fn save_relays(&mut self) {
        let picked = self.relays.picked();
        let mut batch = Batch::new();
        let saved = match batch.put::<State>(
            &STATE_RELAYS.to_owned(),
            &crate::relay_path::encode_relays(&picked),
        ) {
            Ok(()) => self
                .commit(Pending::new(batch, Vec::new()))
                .await
                .map(|_| ()),
            Err(e) => Err(e.into()),
        };
        if let Err(e) = saved {
            warn!("cannot store the relays picked from the DHT: {e}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FAILOVER: Duration = Duration::from_secs(3600);

    fn relay() -> Relay {
        (PeerId::random(), Vec::new())
    }

    #[test]
    fn searches_until_three_work_backing_off_while_it_finds_none() {
        let t0 = Instant::now();
        let mut relays = Relays::new(vec![relay()], true, FAILOVER, t0);
        let check = relays.check(t0);
        assert_eq!(check.discover.as_ref().map(|(need, _)| *need), Some(2));
        assert!(relays.check(t0).discover.is_none(), "one search at a time");
        assert!(relays.found(Vec::new(), t0).is_empty());
        assert!(
            relays
                .check(t0 + FIRST_DISCOVERY_BACKOFF)
                .discover
                .is_none()
        );
        assert!(
            relays
                .check(t0 + 2 * FIRST_DISCOVERY_BACKOFF)
                .discover
                .is_some()
        );
        let added = relays.found(vec![relay(), relay()], t0 + 2 * FIRST_DISCOVERY_BACKOFF);
        assert_eq!(added.len(), 2);
        assert_eq!(relays.all().len(), 3);
        assert_eq!(
            relays.check(t0 + 3 * FIRST_DISCOVERY_BACKOFF),
            Check::default()
        );
    }

    #[test]
    fn a_picked_relay_failing_past_the_failover_delay_is_replaced_a_pinned_one_is_kept() {
        let t0 = Instant::now();
        let pinned = relay();
        let mut relays = Relays::new(vec![pinned.clone()], true, FAILOVER, t0);
        relays.check(t0);
        let (picked, other) = (relay(), relay());
        relays.found(vec![picked.clone(), other.clone()], t0);
        relays.report(pinned.0, false, t0);
        relays.report(picked.0, false, t0);
        assert_eq!(
            relays.in_order()[0].0,
            other.0,
            "working relays are listed first"
        );
        assert!(relays.check(t0 + FAILOVER / 2).dropped.is_empty());
        let check = relays.check(t0 + FAILOVER);
        assert_eq!(check.dropped, vec![picked.0]);
        assert_eq!(
            check.discover.map(|(need, _)| need),
            Some(2),
            "the pinned one counts as down"
        );
        assert!(relays.all().iter().any(|(peer, _)| *peer == pinned.0));
        assert_eq!(relays.picked(), vec![other]);
    }

    #[test]
    fn with_enough_relays_the_dht_is_surveyed_now_and_then() {
        let t0 = Instant::now();
        let mut relays = Relays::new(vec![relay(), relay(), relay()], true, FAILOVER, t0);
        assert_eq!(relays.check(t0), Check::default());
        let check = relays.check(t0 + SURVEY_EVERY);
        assert_eq!(check.survey.map(|exclude| exclude.len()), Some(3));
        assert!(check.discover.is_none());
        assert_eq!(relays.check(t0 + SURVEY_EVERY), Check::default());
        assert!(relays.check(t0 + 2 * SURVEY_EVERY).survey.is_some());
        let mut off = Relays::new(Vec::new(), false, FAILOVER, t0);
        assert_eq!(off.check(t0 + 2 * SURVEY_EVERY), Check::default());
    }

    #[test]
    fn a_relay_that_recovers_is_not_replaced() {
        let t0 = Instant::now();
        let mut relays = Relays::new(Vec::new(), true, FAILOVER, t0);
        relays.check(t0);
        let picked = relay();
        relays.found(vec![picked.clone()], t0);
        relays.report(picked.0, false, t0);
        relays.report(picked.0, true, t0 + FAILOVER / 2);
        assert!(relays.check(t0 + 2 * FAILOVER).dropped.is_empty());
    }

    #[test]
    fn without_discovery_nothing_is_dropped_or_searched() {
        let t0 = Instant::now();
        let pinned = relay();
        let mut relays = Relays::new(vec![pinned.clone()], false, FAILOVER, t0);
        relays.report(pinned.0, false, t0);
        assert_eq!(relays.check(t0 + 10 * FAILOVER), Check::default());
        // Reports about a relay that is not ours are ignored.
        relays.report(PeerId::random(), false, t0);
        assert_eq!(relays.in_order(), vec![pinned]);
    }
}
