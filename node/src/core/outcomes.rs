//! What the core's network tasks bring back, and what the core makes of it: delivery
//! states, looked-up records, deposits, publications and relays found.

use super::*;

/// What came back from a task the core started: a delivery, a lookup, a deposit, a
/// publication or a relay probe.
pub(super) enum Outcome {
    Delivered {
        seq: u64,
        status: Result<Status, network::NetError>,
    },
    Looked {
        peer: UserId,
        record: Result<Box<PeerRecord>, network::NetError>,
        /// A one-time prekey from one of the peer's relays, when a session must be started.
        one_time: Option<tern_crypto::OneTimePrekey>,
        /// A newer record, if the rest of the lookup's query finds one.
        newer: Option<oneshot::Receiver<PeerRecord>>,
    },
    /// The rest of a lookup's query found a newer record than the one it answered with.
    Refreshed {
        peer: UserId,
        record: Option<Box<PeerRecord>>,
    },
    /// Relays found in the DHT (or seen before) that answered a probe, to choose from.
    RelaysFound(Vec<(libp2p::PeerId, Vec<libp2p::Multiaddr>)>),
    /// Relays that answered a survey, only to remember.
    RelaysSurveyed(Vec<(libp2p::PeerId, Vec<libp2p::Multiaddr>)>),
    Published {
        seq: u64,
        result: Result<(), network::NetError>,
    },
    /// Deposits at a recipient's relays, by entry: how many signed custody of how many tried.
    Deposited(Vec<deliver::Left>),
}

impl Core {
    /// Handles outcomes that completed together; delivery results share one write.
    pub(super) async fn on_outcomes(&mut self, outcomes: Vec<Outcome>) {
        let mut deliveries = Vec::new();
        for outcome in outcomes {
            match outcome {
                Outcome::Looked {
                    peer,
                    record,
                    one_time,
                    newer,
                } => {
                    self.records.lookup_done(peer, one_time);
                    if let Some(newer) = newer {
                        self.in_flight.spawn(async move {
                            let record = newer.await.ok().map(Box::new);
                            Outcome::Refreshed { peer, record }
                        });
                    }
                    match record {
                        Ok(record) => {
                            let seq = record.seq;
                            let key = *record.bundle.identity().dh_key();
                            if self.records.learn(peer, *record) {
                                debug!(peer = %peer.short(), seq, "found record");
                                self.observe_record(peer, key).await;
                            } else {
                                debug!(peer = %peer.short(), seq, "ignored an older record");
                                self.postpone_peer(peer).await;
                            }
                        }
                        Err(e) => {
                            debug!(peer = %peer.short(), "lookup failed: {e}");
                            self.postpone_peer(peer).await;
                        }
                    }
                }
                Outcome::Refreshed {
                    peer,
                    record: Some(record),
                } => {
                    let seq = record.seq;
                    let key = *record.bundle.identity().dh_key();
                    if self.records.learn(peer, *record) {
                        debug!(peer = %peer.short(), seq, "a newer record replaced the one found");
                        self.observe_record(peer, key).await;
                    }
                }
                Outcome::Refreshed { record: None, .. } => {}
                Outcome::Published { seq, result } => self.published(seq, &result),
                Outcome::RelaysFound(found) => self.add_relays(found).await,
                Outcome::RelaysSurveyed(answered) => self.note_relays(answered).await,
                Outcome::Deposited(deposits) => {
                    if let Err(e) = self.on_deposits(deposits).await {
                        error!("cannot record relay deposits: {e}");
                    }
                }
                Outcome::Delivered { seq, status } => {
                    self.queue.end(seq);
                    deliveries.push((seq, status));
                }
            }
        }
        if !deliveries.is_empty()
            && let Err(e) = self.on_deliveries(deliveries).await
        {
            error!("cannot record delivery outcomes: {e}");
        }
        self.leave_at_relays();
        self.dispatch_due().await;
    }
}
