//! Finding mailbox relays in the DHT without letting Sybils take every slot.
//!
//! A search asks the DHT for the providers of `dht::RELAYS_KEY`, adds the relays this node
//! has seen before (so that a flood of providers cannot hide them), and probes a random
//! sample of at most [`PROBE_AT_MOST`]: a probe is a mailbox `Challenge` sent to the
//! provider's peer id, which only a peer holding that id's private key can answer (the
//! connection is Noise-authenticated to it). Only relays that answered count.
//!
//! Every answer is remembered ([`Sightings`], kept in the `relay_sightings` table): when the
//! relay was first seen and in how many separate hours it answered. A relay seen for
//! [`SEASONED_AFTER`] and in [`SEASONED_PROBES`] separate hours is *seasoned*. The choice
//! ([`choose`]) then:
//!
//! - prefers seasoned relays, and takes at most one fresh relay per search while any
//!   seasoned one answered, so one batch of new providers never fills every slot;
//! - picks at random among equals, never the first of a list a DHT peer ordered;
//! - spreads over network groups (`dht::NetGroup`: an IPv4 /16, an IPv6 /32): one search
//!   takes at most one relay per group, groups holding none of ours first and groups with
//!   fewer candidates first. Twenty Sybils on one host take at most one slot per search, and
//!   none while honest relays elsewhere answer for every slot. (Relays that all share a
//!   group, on one private network say, are still all used: one per search.)
//!
//! Sans-IO except [`discover`]: [`Sightings`] and [`choose`] take the time and the randomness
//! as inputs.

use std::collections::{HashMap, HashSet};

use libp2p::{Multiaddr, PeerId};
use tern_crypto::rand_core::Rng;
use tern_proto::{
    dht::{self, NetGroup},
    mailbox::{Request, Response},
};
use tracing::debug;

use crate::{network, tables::RelaySightingRow};

/// Providers probed in one search, at most (concurrently): half a full provider list
/// (`dht::MAX_PROVIDERS_PER_KEY`), so a crowd of Sybils rarely hides every honest relay from
/// a sample; a search happens only while we lack relays, so 32 short connections are cheap.
pub(crate) const PROBE_AT_MOST: usize = 32;
/// Of those, at most this many are relays seen before, so newcomers are always tried too.
const KNOWN_AT_MOST: usize = PROBE_AT_MOST / 2;
/// How long a probe may take: a relay that answers slower is no use as a mailbox.
const PROBE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);
/// A relay is seasoned once first seen this long ago (seconds): a day, longer than a batch of
/// throwaway peers is usually kept up, short enough that a new honest relay soon counts.
pub(crate) const SEASONED_AFTER: u64 = 24 * 3600;
/// …and answered in this many separate hours.
pub(crate) const SEASONED_PROBES: u32 = 3;
/// Answers closer together than this (seconds) count once: a burst of searches is not time.
pub(crate) const PROBE_SPACING: u64 = 3600;
/// Relays remembered, at most; beyond it the least established is forgotten. Each row is
/// about 100 bytes.
pub(crate) const MAX_SIGHTINGS: usize = 256;
/// A relay not seen for this long (seconds) is forgotten: 30 days.
pub(crate) const FORGET_AFTER: u64 = 30 * 24 * 3600;

/// What this node knows of one relay from probing it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Sighting {
    /// Where it was reached last.
    pub(crate) addresses: Vec<Multiaddr>,
    /// When it first answered (Unix seconds).
    pub(crate) first_seen: u64,
    /// When it last answered in a new hour, i.e. its last counted answer (Unix seconds).
    pub(crate) last_seen: u64,
    /// Separate hours in which it answered.
    pub(crate) probes: u32,
}

impl Sighting {
    /// Whether the relay has been seen long enough, often enough, to be preferred.
    pub(crate) fn seasoned(&self, now: u64) -> bool {
        self.probes >= SEASONED_PROBES && now.saturating_sub(self.first_seen) >= SEASONED_AFTER
    }

    /// How established the relay is, for eviction: seasoned first, then by answers, then by
    /// how recently it answered.
    fn standing(&self, now: u64) -> (bool, u32, u64) {
        (self.seasoned(now), self.probes, self.last_seen)
    }
}

/// The relays this node has seen answer probes, bounded by [`MAX_SIGHTINGS`].
#[derive(Debug, Default)]
pub(crate) struct Sightings {
    relays: HashMap<PeerId, Sighting>,
}

impl Sightings {
    /// The sightings stored earlier; rows that do not decode are skipped.
    pub(crate) fn from_rows(rows: impl IntoIterator<Item = RelaySightingRow>) -> Self {
        let relays = rows
            .into_iter()
            .filter_map(|row| {
                let peer = PeerId::from_bytes(&row.peer).ok()?;
                let addresses = row
                    .addresses
                    .into_iter()
                    .filter_map(|a| Multiaddr::try_from(a).ok())
                    .collect();
                let sighting = Sighting {
                    addresses,
                    first_seen: row.first_seen_secs,
                    last_seen: row.last_seen_secs,
                    probes: row.probes,
                };
                Some((peer, sighting))
            })
            .take(MAX_SIGHTINGS)
            .collect();
        Self { relays }
    }

    /// The row that stores `peer`'s sighting, if known.
    pub(crate) fn row(&self, peer: &PeerId) -> Option<RelaySightingRow> {
        self.relays.get(peer).map(|s| RelaySightingRow {
            peer: peer.to_bytes(),
            addresses: s.addresses.iter().map(|a| a.to_vec()).collect(),
            first_seen_secs: s.first_seen,
            last_seen_secs: s.last_seen,
            probes: s.probes,
        })
    }

    /// What we know of `peer`.
    pub(crate) fn get(&self, peer: &PeerId) -> Option<&Sighting> {
        self.relays.get(peer)
    }

    /// Relays known.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.relays.len()
    }

    /// Notes that `peer` answered a probe at `now`, reached at `addresses`; returns the
    /// relays forgotten to make room (or for being silent too long).
    pub(crate) fn seen(
        &mut self,
        peer: PeerId,
        addresses: Vec<Multiaddr>,
        now: u64,
    ) -> Vec<PeerId> {
        let mut forgotten: Vec<PeerId> = self
            .relays
            .iter()
            .filter(|(_, s)| now.saturating_sub(s.last_seen) >= FORGET_AFTER)
            .map(|(peer, _)| *peer)
            .collect();
        for gone in &forgotten {
            self.relays.remove(gone);
        }
        if let Some(known) = self.relays.get_mut(&peer) {
            if now.saturating_sub(known.last_seen) >= PROBE_SPACING {
                known.probes = known.probes.saturating_add(1);
                known.last_seen = now;
            }
            known.addresses = addresses;
            return forgotten;
        }
        if self.relays.len() >= MAX_SIGHTINGS
            && let Some(weakest) = self
                .relays
                .iter()
                .min_by_key(|(peer, s)| (s.standing(now), **peer))
                .map(|(peer, _)| *peer)
        {
            self.relays.remove(&weakest);
            forgotten.push(weakest);
        }
        self.relays.insert(
            peer,
            Sighting {
                addresses,
                first_seen: now,
                last_seen: now,
                probes: 1,
            },
        );
        forgotten
    }

    /// The relays to probe again in a search, with the addresses they were reached at:
    /// seasoned ones, at most [`KNOWN_AT_MOST`], picked at random.
    pub(crate) fn to_recheck(
        &self,
        now: u64,
        random: &mut impl Rng,
    ) -> Vec<(PeerId, Vec<Multiaddr>)> {
        let mut known: Vec<(PeerId, Vec<Multiaddr>)> = self
            .relays
            .iter()
            .filter(|(_, s)| s.seasoned(now))
            .map(|(peer, s)| (*peer, s.addresses.clone()))
            .collect();
        known.sort_by_key(|(peer, _)| *peer);
        shuffle(&mut known, random);
        known.truncate(KNOWN_AT_MOST);
        known
    }
}

/// A relay that answered a probe, as the choice sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Candidate {
    pub(crate) peer: PeerId,
    pub(crate) group: NetGroup,
    pub(crate) seasoned: bool,
}

/// Chooses up to `need` of `candidates`: seasoned ones first; at most one fresh one while any
/// candidate is seasoned; at most one per network group, groups in which we hold no relay
/// yet (`held` are the groups of ours) before the others, smaller groups first; at random
/// among equals. A search may so add fewer than `need`: the next one, with a new sample,
/// adds more.
pub(crate) fn choose(
    candidates: &[Candidate],
    held: &[NetGroup],
    need: usize,
    random: &mut impl Rng,
) -> Vec<PeerId> {
    let mut seasoned: Vec<&Candidate> = candidates.iter().filter(|c| c.seasoned).collect();
    let mut fresh: Vec<&Candidate> = candidates.iter().filter(|c| !c.seasoned).collect();
    shuffle(&mut seasoned, random);
    shuffle(&mut fresh, random);
    // A group with many candidates is what a batch of Sybils looks like: smaller groups
    // first (the sort is stable, so equals stay in random order).
    let mut sizes: HashMap<&NetGroup, usize> = HashMap::new();
    for candidate in candidates {
        *sizes.entry(&candidate.group).or_default() += 1;
    }
    seasoned.sort_by_key(|c| sizes.get(&c.group).copied().unwrap_or(0));
    fresh.sort_by_key(|c| sizes.get(&c.group).copied().unwrap_or(0));
    let mut fresh_left = if seasoned.is_empty() { need } else { 1 };
    let held: HashSet<&NetGroup> = held.iter().collect();
    let mut used: HashSet<&NetGroup> = HashSet::new();
    let mut picked: Vec<PeerId> = Vec::new();
    // Groups we hold no relay in first, then (if still short) groups we do; never two from
    // one group in one search.
    for new_groups_only in [true, false] {
        for candidate in seasoned.iter().chain(fresh.iter()) {
            if picked.len() >= need {
                return picked;
            }
            if used.contains(&candidate.group)
                || (new_groups_only && held.contains(&candidate.group))
                || (!candidate.seasoned && fresh_left == 0)
            {
                continue;
            }
            if !candidate.seasoned {
                fresh_left -= 1;
            }
            used.insert(&candidate.group);
            picked.push(candidate.peer);
        }
    }
    picked
}

/// Shuffles `items` in place (Fisher–Yates).
fn shuffle<T>(items: &mut [T], random: &mut impl Rng) {
    for i in (1..items.len()).rev() {
        let j = (random.next_u64() % (i as u64 + 1)) as usize;
        items.swap(i, j);
    }
}

/// Probes a random sample of the relays the DHT lists, and `known` (relays seen before, with
/// the addresses they were reached at), other than `exclude`; returns those that answered,
/// with the addresses to list for them, the one we dialled first (the rest as announced).
/// Network groups are taken from that first address: what a relay announces (identify, its
/// provider record) it can make up; where a dial of ours reached it, it cannot.
pub(crate) async fn discover(
    net: &network::Handle,
    exclude: &HashSet<PeerId>,
    known: Vec<(PeerId, Vec<Multiaddr>)>,
    random: &mut (impl Rng + Send),
) -> Vec<(PeerId, Vec<Multiaddr>)> {
    let mut providers = match net.providers(dht::RELAYS_KEY).await {
        Ok(providers) => providers,
        Err(e) => {
            debug!("looking for relays failed: {e}");
            Vec::new()
        }
    };
    // Sorted first, so the sample depends only on the set and the randomness.
    providers.sort();
    shuffle(&mut providers, random);
    let me = net.peer_id();
    let mut sample: Vec<(PeerId, Vec<Multiaddr>)> = Vec::new();
    let fresh = providers.into_iter().map(|peer| (peer, Vec::new()));
    for (peer, addresses) in known.into_iter().chain(fresh) {
        if sample.len() >= PROBE_AT_MOST {
            break;
        }
        if peer == me || exclude.contains(&peer) || sample.iter().any(|(p, _)| *p == peer) {
            continue;
        }
        sample.push((peer, addresses));
    }
    let probes = sample.into_iter().map(|(relay, addresses)| async move {
        let probe = tokio::time::timeout(
            PROBE_TIMEOUT,
            net.mailbox(relay, addresses.clone(), Request::Challenge),
        )
        .await;
        // The answer came over a connection authenticated as `relay`: only the holder of its
        // key could give it.
        if !matches!(probe, Ok(Ok(Response::Challenge { .. }))) {
            debug!(%relay, "a relay in the DHT did not answer");
            return None;
        }
        let mut listed = match net.peer_addresses(relay).await {
            Ok(announced) if !announced.is_empty() => announced,
            _ => addresses,
        };
        // The address the probe's connection was made to goes first: the relay's network
        // group is taken from the first address, and this one it cannot make up.
        if let Ok(Some(dialled)) = net.dialled_at(relay).await {
            listed.retain(|a| *a != dialled);
            listed.insert(0, dialled);
        }
        if listed.is_empty() {
            debug!(%relay, "no address to list for a relay");
            return None;
        }
        Some((relay, listed))
    });
    futures::future::join_all(probes)
        .await
        .into_iter()
        .flatten()
        .collect()
}

#[cfg(test)]
mod tests {
    use rand_chacha::{ChaCha20Rng, rand_core::SeedableRng};

    use super::*;

    const T0: u64 = 1_800_000_000;

    fn group(n: u8) -> NetGroup {
        NetGroup::of(&[format!("/ip4/10.{n}.0.1/tcp/1").parse().unwrap()])
    }

    fn candidates(count: usize, group: &NetGroup, seasoned: bool) -> Vec<Candidate> {
        (0..count)
            .map(|_| Candidate {
                peer: PeerId::random(),
                group: group.clone(),
                seasoned,
            })
            .collect()
    }

    #[test]
    fn twenty_sybils_on_one_host_fill_at_most_one_slot_while_others_answer() {
        for seed in 0..200u8 {
            let mut random = ChaCha20Rng::from_seed([seed; 32]);
            let sybils = candidates(20, &group(1), false);
            let honest = candidates(2, &group(2), false);
            let mut all = sybils.clone();
            all.extend(honest.iter().cloned());
            let picked = choose(&all, &[], 3, &mut random);
            assert_eq!(picked.len(), 2, "one per group");
            let from_sybils = picked
                .iter()
                .filter(|p| sybils.iter().any(|s| s.peer == **p))
                .count();
            assert!(from_sybils <= 1, "seed {seed}: {from_sybils} Sybils picked");
        }
    }

    #[test]
    fn a_group_we_already_use_is_passed_over_while_another_answered() {
        let mut random = ChaCha20Rng::from_seed([1; 32]);
        let same = candidates(5, &group(1), false);
        let other = candidates(1, &group(2), false);
        let mut all = same.clone();
        all.extend(other.iter().cloned());
        assert_eq!(
            choose(&all, &[group(1)], 1, &mut random),
            vec![other[0].peer]
        );
        // With no other group left, the same group is used rather than nothing, once.
        assert_eq!(choose(&same, &[group(1)], 2, &mut random).len(), 1);
        // Honest relays in groups of their own go before a crowd.
        let lone: Vec<Candidate> = (2..5)
            .flat_map(|n| candidates(1, &group(n), false))
            .collect();
        let mut all = candidates(20, &group(1), false);
        all.extend(lone.iter().cloned());
        let picked = choose(&all, &[], 3, &mut random);
        assert!(lone.iter().all(|c| picked.contains(&c.peer)), "{picked:?}");
    }

    #[test]
    fn seasoned_relays_come_first_and_only_one_fresh_joins_them() {
        let mut random = ChaCha20Rng::from_seed([2; 32]);
        let seasoned = candidates(1, &group(1), true);
        let fresh: Vec<Candidate> = (10..30)
            .flat_map(|n| candidates(1, &group(n), false))
            .collect();
        let mut all = fresh.clone();
        all.extend(seasoned.iter().cloned());
        let picked = choose(&all, &[], 3, &mut random);
        assert_eq!(picked.len(), 2, "one seasoned and one fresh: {picked:?}");
        assert!(picked.contains(&seasoned[0].peer));
        // Without any seasoned relay, a new node takes what answered, spread over groups.
        let picked = choose(&fresh, &[], 3, &mut random);
        assert_eq!(picked.len(), 3);
    }

    #[test]
    fn the_choice_is_random_not_the_first_listed() {
        let all: Vec<Candidate> = (0..20)
            .flat_map(|n| candidates(1, &group(n), false))
            .collect();
        let firsts: HashSet<PeerId> = (0..50u8)
            .map(|seed| choose(&all, &[], 1, &mut ChaCha20Rng::from_seed([seed; 32]))[0])
            .collect();
        assert!(firsts.len() > 5, "{}", firsts.len());
    }

    #[test]
    fn a_relay_is_seasoned_only_after_answers_spread_over_time() {
        let mut sightings = Sightings::default();
        let relay = PeerId::random();
        // A burst of answers within the hour counts once.
        for minute in 0..60 {
            sightings.seen(relay, Vec::new(), T0 + minute * 60);
        }
        assert_eq!(sightings.get(&relay).unwrap().probes, 1);
        sightings.seen(relay, Vec::new(), T0 + PROBE_SPACING);
        sightings.seen(relay, Vec::new(), T0 + 2 * PROBE_SPACING);
        let seen = sightings.get(&relay).unwrap();
        assert_eq!(seen.probes, 3);
        assert!(!seen.seasoned(T0 + 2 * PROBE_SPACING), "not a day old yet");
        assert!(seen.seasoned(T0 + SEASONED_AFTER));
        let mut random = ChaCha20Rng::from_seed([3; 32]);
        assert_eq!(
            sightings.to_recheck(T0 + SEASONED_AFTER, &mut random).len(),
            1
        );
        // Rows round-trip.
        let row = sightings.row(&relay).unwrap();
        let back = Sightings::from_rows([row]);
        assert_eq!(back.get(&relay), sightings.get(&relay));
    }

    #[test]
    fn the_sighting_row_encoding_is_pinned() {
        // Part of schema version 1 (a table added after the v1 fixture was written): a change
        // here is a new row version with a migration.
        let row = RelaySightingRow {
            peer: vec![1, 2, 3],
            addresses: vec![vec![4, 5]],
            first_seen_secs: 300,
            last_seen_secs: 301,
            probes: 2,
        };
        let bytes = postcard::to_allocvec(&row).unwrap();
        assert_eq!(
            bytes,
            [3, 1, 2, 3, 1, 2, 4, 5, 0xac, 0x02, 0xad, 0x02, 2],
            "{bytes:02x?}"
        );
        assert_eq!(
            postcard::from_bytes::<RelaySightingRow>(&bytes).unwrap(),
            row
        );
    }

    #[test]
    fn a_flood_of_new_relays_evicts_its_own_not_the_seasoned() {
        let mut sightings = Sightings::default();
        let old = PeerId::random();
        for hour in 0..3 {
            sightings.seen(old, Vec::new(), T0 + hour * PROBE_SPACING);
        }
        let now = T0 + SEASONED_AFTER;
        for n in 0..(3 * MAX_SIGHTINGS) as u64 {
            sightings.seen(PeerId::random(), Vec::new(), now + n);
        }
        assert_eq!(sightings.len(), MAX_SIGHTINGS);
        assert!(sightings.get(&old).is_some());
        // Silence for a month forgets even a seasoned relay.
        let forgotten = sightings.seen(
            PeerId::random(),
            Vec::new(),
            now + 4 * MAX_SIGHTINGS as u64 + FORGET_AFTER,
        );
        assert!(forgotten.contains(&old));
    }
}
