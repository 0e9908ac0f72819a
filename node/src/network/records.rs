//! The DHT side of the network task: Kademlia events, records refused on PUT, and reading
//! back the records we look up (the valid one with the highest sequence number wins).

use super::*;

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
                            Ok(_) => {
                                let get = self
                                    .swarm
                                    .behaviour_mut()
                                    .kad
                                    .get_record(publish.key.clone());
                                self.verifications.insert(get, publish);
                            }
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
        self.checking.push(
            tokio::task::spawn_blocking(move || {
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
                if let Some(publish) = self.verifications.remove(&id) {
                    let answer = if matches {
                        Ok(())
                    } else {
                        Err(NetError::Publish("record not readable after PUT".into()))
                    };
                    let _ = publish.reply.send(answer);
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
                            .is_none_or(|(best, _)| parsed.seq > best.seq)
                    {
                        lookup.best = Some((parsed, found.value));
                    }
                }
                Err(error) => {
                    debug!(reason = error.reason(), "ignored an invalid DHT record");
                    self.reject_record(&error);
                }
            }
        }
        if last && let Some(lookup) = self.lookups.remove(&id) {
            let answer = lookup
                .best
                .map(|(record, _)| record)
                .ok_or_else(|| NetError::NotFound(lookup.user.short()));
            let _ = lookup.reply.send(answer);
        }
    }
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
