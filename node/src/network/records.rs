//! The DHT side of the network task: Kademlia events, records refused on PUT, and reading
//! back the records we look up.
//!
//! A lookup prefers the valid record with the highest sequence number, without waiting for
//! the whole query: one unresponsive peer among the closest would hold the answer until its
//! request times out. It answers [`Config::lookup_grace`] after the first valid record (or
//! when the query ends, if sooner) with the newest record seen by then, and the query goes
//! on in the background: a newer record it finds afterwards is handed on through
//! [`Found::newer`].

use super::*;

/// Pauses before reading a published record back again, after a read that found no copy at
/// another peer. A peer answers a PUT at once and stores the record only once it has
/// validated it, on its blocking pool (`check_record`): a busy peer is read before it stored
/// it. Then the publication fails, after these re-reads.
const REREAD_AFTER: [Duration; 3] = [
    Duration::from_millis(250),
    Duration::from_secs(1),
    Duration::from_secs(3),
];

impl EventLoop {
    pub(super) fn reject_record(&mut self, error: &RecordError) {
        *self
            .counters
            .records_rejected
            .entry(error.reason())
            .or_default() += 1;
    }

    pub(super) fn on_kad_event(&mut self, event: kad::Event) {
        let now = self.clock.now_secs();
        match event {
            kad::Event::InboundRequest {
                request:
                    InboundRequest::PutRecord {
                        source,
                        record: Some(record),
                        ..
                    },
            } => self.check_record(source, record, now),
            // Relays announce themselves under `dht::RELAYS_KEY`; a node serving the DHT keeps
            // that list too, making room fairly when it is full. Other keys are not stored.
            kad::Event::InboundRequest {
                request:
                    InboundRequest::AddProvider {
                        record: Some(record),
                    },
            } => {
                let local = *self.swarm.local_peer_id();
                let store = self.swarm.behaviour_mut().kad.store_mut();
                let mut random = tern_crypto::rand_core::UnwrapErr(getrandom::SysRng);
                let _ = dht::add_provider_fairly(store, local, record, &mut random);
            }
            kad::Event::OutboundQueryProgressed {
                id, result, step, ..
            } => match result {
                QueryResult::PutRecord(result) => {
                    if let Some(publish) = self.publishes.remove(&id) {
                        match result {
                            // Stored at one peer at least: now read it back.
                            Ok(_) => self.read_back(publish),
                            Err(e) => {
                                let _ = publish.reply.send(Err(NetError::Publish(e.to_string())));
                            }
                        }
                    }
                }
                QueryResult::GetRecord(result) => self.on_get_record(id, result, step.last, now),
                QueryResult::GetProviders(result) => {
                    let done = match result {
                        Ok(kad::GetProvidersOk::FoundProviders { providers, .. }) => {
                            if let Some((found, _)) = self.provider_queries.get_mut(&id) {
                                found.extend(providers);
                            }
                            step.last
                        }
                        Ok(_) => true,
                        Err(e) => {
                            debug!("provider lookup: {e}");
                            true
                        }
                    };
                    if done && let Some((found, reply)) = self.provider_queries.remove(&id) {
                        let _ = reply.send(found.into_iter().collect());
                    }
                }
                QueryResult::Bootstrap(Err(e)) => debug!("bootstrap: {e}"),
                _ => {}
            },
            _ => {}
        }
    }

    /// Reads a published record back from the DHT, to learn that others can find it.
    pub(super) fn read_back(&mut self, publish: Publish) {
        let get = self
            .swarm
            .behaviour_mut()
            .kad
            .get_record(publish.key.clone());
        self.verifications.insert(get, publish);
    }

    /// The PUT rule: valid, and not older than what we hold.
    /// Validates a record offered for storage on the blocking pool (a signature check and a
    /// bundle parse: too much for this loop under a flood), at most [`MAX_CHECKING`] at once;
    /// beyond that the offer is refused (counted as `busy`).
    fn check_record(&mut self, source: PeerId, record: kad::Record, now: u64) {
        if self.checking.len() >= MAX_CHECKING {
            *self.counters.records_rejected.entry("busy").or_default() += 1;
            return;
        }
        let held = self
            .swarm
            .behaviour_mut()
            .kad
            .store_mut()
            .get(&record.key)
            .map(|r| r.value.clone());
        #[cfg(test)]
        let local = *self.swarm.local_peer_id();
        self.checking.push(
            tokio::task::spawn_blocking(move || {
                #[cfg(test)]
                failpoints::delay_check_at(&local);
                let result = check_put(&record, held.as_deref(), now);
                Checked {
                    source,
                    record,
                    held,
                    now,
                    result,
                }
            })
            .map(|done| done.ok())
            .boxed(),
        );
    }

    /// Stores a record that passed validation, unless the record it was checked against
    /// changed meanwhile (then it is checked again).
    pub(super) fn on_checked(&mut self, checked: Checked) {
        let Checked {
            source,
            record,
            held,
            now,
            result,
        } = checked;
        if let Err(error) = result {
            debug!(peer = %source, reason = error.reason(), "refused a DHT record");
            return self.reject_record(&error);
        }
        let store = self.swarm.behaviour_mut().kad.store_mut();
        if store.get(&record.key).map(|r| r.value.clone()) != held {
            return self.check_record(source, record, now);
        }
        let _ = dht::store_fairly(store, &mut self.ledger, source, record);
        self.counters.records_evicted = self.ledger.evicted();
    }

    pub(super) fn on_get_record(
        &mut self,
        id: QueryId,
        result: Result<GetRecordOk, kad::GetRecordError>,
        last: bool,
        now: u64,
    ) {
        let (found, from_peer) = match &result {
            Ok(GetRecordOk::FoundRecord(found)) => {
                (Some(found.record.clone()), found.peer.is_some())
            }
            _ => (None, false),
        };
        if let Some(publish) = self.verifications.get(&id) {
            // Our own copy answers first, from the local store; only a copy returned by
            // another peer shows the record can be found by others.
            let matches = from_peer && found.as_ref().is_some_and(|r| r.value == publish.value);
            if matches || last {
                if let Some(mut publish) = self.verifications.remove(&id) {
                    if matches {
                        let _ = publish.reply.send(Ok(()));
                    } else if let Some(pause) = REREAD_AFTER.get(publish.rereads as usize) {
                        // Our PUT's answer may have come before the peers stored the record.
                        publish.rereads += 1;
                        let pause = *pause;
                        self.rereads
                            .push(tokio::time::sleep(pause).map(move |()| publish).boxed());
                    } else {
                        let _ = publish.reply.send(Err(NetError::Publish(
                            "record not readable after PUT".into(),
                        )));
                    }
                }
                if let Some(mut query) = self.swarm.behaviour_mut().kad.query_mut(&id) {
                    query.finish();
                }
            }
            return;
        }
        if let Some(found) = found
            && let Some(lookup) = self.lookups.get_mut(&id)
        {
            match record::validate(&found.key, &found.value, now) {
                Ok(parsed) => {
                    if parsed.user == lookup.user
                        && lookup
                            .best
                            .as_ref()
                            .is_none_or(|best| parsed.seq > best.seq)
                    {
                        let first = lookup.best.is_none();
                        lookup.best = Some(parsed);
                        if first && lookup.reply.is_some() && self.lookup_grace < dht::QUERY_TIMEOUT
                        {
                            let grace = self.lookup_grace;
                            self.graces
                                .push(tokio::time::sleep(grace).map(move |()| id).boxed());
                        }
                    }
                }
                Err(error) => {
                    debug!(reason = error.reason(), "ignored an invalid DHT record");
                    self.reject_record(&error);
                }
            }
        }
        if last {
            self.answer_lookup(id);
            if let Some(lookup) = self.lookups.remove(&id)
                && let (Some(best), Some((answered, newer))) = (lookup.best, lookup.answered)
                && best.seq > answered
            {
                debug!(user = %lookup.user.short(), seq = best.seq, "found a newer record after answering");
                let _ = newer.send(best);
            }
        }
    }

    /// Starts a lookup of `user`'s record.
    pub(super) fn start_lookup(
        &mut self,
        user: UserId,
        reply: oneshot::Sender<Result<Found, NetError>>,
    ) {
        let id = self
            .swarm
            .behaviour_mut()
            .kad
            .get_record(record::key_for(&user));
        self.lookups.insert(
            id,
            Lookup {
                user,
                best: None,
                reply: Some(reply),
                answered: None,
            },
        );
    }

    /// Answers lookup `id`, if it still waits, with the newest record found so far (or not
    /// found); its query goes on.
    pub(super) fn answer_lookup(&mut self, id: QueryId) {
        let Some(lookup) = self.lookups.get_mut(&id) else {
            return;
        };
        let Some(reply) = lookup.reply.take() else {
            return;
        };
        let answer = match &lookup.best {
            Some(record) => {
                let (newer, later) = oneshot::channel();
                lookup.answered = Some((record.seq, newer));
                Ok(Found {
                    record: record.clone(),
                    newer: later,
                })
            }
            None => Err(NetError::NotFound(lookup.user.short())),
        };
        let _ = reply.send(answer);
    }
}

/// A record lookup under way.
pub(super) struct Lookup {
    user: UserId,
    /// The valid record with the highest sequence number found so far.
    best: Option<PeerRecord>,
    /// Where the answer goes, until it is given.
    reply: Option<oneshot::Sender<Result<Found, NetError>>>,
    /// Once answered: the sequence number given, and where a newer record goes.
    answered: Option<(u64, oneshot::Sender<PeerRecord>)>,
}

/// The answer to a record lookup.
#[derive(Debug)]
pub(crate) struct Found {
    /// The newest valid record found within the grace period.
    pub(crate) record: PeerRecord,
    /// A newer record, if the rest of the query finds one; closed when it ends without.
    pub(crate) newer: oneshot::Receiver<PeerRecord>,
}

/// Records validated at once, off the event loop; offers beyond it are refused.
pub(super) const MAX_CHECKING: usize = 64;

/// A record offered for storage, with the verdict of its validation against `held`.
pub(super) struct Checked {
    source: PeerId,
    record: kad::Record,
    held: Option<Vec<u8>>,
    now: u64,
    result: Result<(), RecordError>,
}

/// Whether `offered` may be stored at `now` over `held` (the value stored under its key, if
/// any): valid, and not older than a valid held record.
fn check_put(offered: &kad::Record, held: Option<&[u8]>, now: u64) -> Result<(), RecordError> {
    let parsed = record::validate(&offered.key, &offered.value, now)?;
    if let Some(held) = held
        && let Ok(held_parsed) = record::validate(&offered.key, held, now)
    {
        record::check_newer(&held_parsed, held, &parsed, &offered.value)?;
    }
    Ok(())
}

/// Test-only faults, keyed by node so that tests running in parallel do not see them.
#[cfg(test)]
pub(crate) mod failpoints {
    use std::{sync::Mutex, time::Duration};

    use libp2p::PeerId;

    /// Nodes that delay validating the records offered to them, and by how long.
    static DELAY_CHECKS: Mutex<Vec<(PeerId, Duration)>> = Mutex::new(Vec::new());

    /// Makes the node `peer` wait `by` before validating each record offered to it, as a
    /// busy node's blocking pool does.
    pub(crate) fn delay_checks_at(peer: PeerId, by: Duration) {
        DELAY_CHECKS.lock().unwrap().push((peer, by));
    }

    pub(super) fn delay_check_at(peer: &PeerId) {
        let delay = DELAY_CHECKS
            .lock()
            .unwrap()
            .iter()
            .find(|(p, _)| p == peer)
            .map(|(_, by)| *by);
        if let Some(by) = delay {
            std::thread::sleep(by);
        }
    }
}
