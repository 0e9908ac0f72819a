//! Mailbox requests: deposits, challenges, fetches (held open until an envelope arrives or the
//! wait ends), acknowledgements and one-time prekeys. Each handler checks what it can on the
//! event loop and sends the database work to the blocking pool or the store's writer thread;
//! [`Service::on_done`] answers when that work comes back.

use std::time::{Duration, Instant};

use futures::FutureExt;
use libp2p::{PeerId, request_response::ResponseChannel};
use tern_crypto::OneTimePrekey;
use tern_proto::mailbox::{
    MAX_PREKEY_BATCH, MAX_PREKEYS_HELD, MAX_RESPONSE_LEN, MAX_WAIT_SECS, Operation, OwnerProof,
    Refusal, Request, Response, StoredEnvelope,
};
use tracing::{info, warn};

use super::{
    Service,
    deposits::{self, Note},
    now_secs,
};

/// Most envelopes in one fetched page.
const MAX_PAGE: u32 = 512;

/// A fetch held open: where to answer, and what it asked for.
pub(super) struct Parked {
    channel: ResponseChannel<Response>,
    after: u64,
    limit: u32,
}

/// What a piece of background work came back with.
pub(super) enum Done {
    Respond(ResponseChannel<Response>, Response),
    /// A refusal held back from an over-budget peer, already counted.
    HeldRefusal(ResponseChannel<Response>, Refusal),
    Deposited {
        channel: ResponseChannel<Response>,
        response: Response,
        started: Instant,
    },
    Fetched {
        channel: ResponseChannel<Response>,
        peer: PeerId,
        mailbox: [u8; 32],
        after: u64,
        limit: u32,
        wait: u16,
        items: Vec<StoredEnvelope>,
        more: bool,
        /// [`Service::deposits_committed`] when the read started.
        as_of: u64,
        started: Instant,
    },
    Acked(ResponseChannel<Response>, u32),
    /// Envelopes and log entries deleted at the end of their retention.
    Expired(u32, u32),
    /// A DHT record offered for storage was validated against the record then held.
    RecordChecked {
        source: PeerId,
        record: libp2p::kad::Record,
        held: Option<Vec<u8>>,
        result: Result<(), tern_proto::dht::InvalidRecord>,
    },
    /// A prekey request finished: its answer, and whether a prekey was uploaded (how many) or
    /// handed out.
    Prekeys {
        channel: ResponseChannel<Response>,
        response: Response,
        uploaded: u64,
    },
}

impl Service {
    /// Takes a nonce: true if it was issued to `peer` and is still fresh.
    fn take_nonce(&mut self, peer: PeerId, nonce: &[u8; 32]) -> bool {
        self.challenges.take(&peer, nonce, Instant::now())
    }

    pub(super) fn on_request(
        &mut self,
        peer: PeerId,
        request: Request,
        channel: ResponseChannel<Response>,
    ) {
        let relay = self.swarm.local_peer_id().to_bytes();
        match request {
            Request::Deposit { mailbox, envelope } => {
                match self.gate.admit(&peer, &mailbox, &envelope) {
                    Ok(()) => {}
                    Err(Refusal::RateLimited) => {
                        return self.refuse_late(channel, Refusal::RateLimited);
                    }
                    Err(refusal) => return self.refuse(channel, refusal),
                }
                let (store, signer) = (self.store.clone(), self.signer.clone());
                let started = Instant::now();
                self.pending.push(
                    async move {
                        let stored = deposits::store(&store, signer, mailbox, envelope).await;
                        let response = match stored.await {
                            Ok(receipt) => Response::Stored(receipt),
                            Err(refusal) => Response::Refused(refusal),
                        };
                        Done::Deposited {
                            channel,
                            response,
                            started,
                        }
                    }
                    .boxed(),
                );
            }
            Request::Challenge => {
                if !self.challenge_rates.try_take(&peer, Instant::now()) {
                    return self.refuse_late(channel, Refusal::RateLimited);
                }
                let mut nonce = [0u8; 32];
                if getrandom::fill(&mut nonce).is_err() {
                    return self.refuse(channel, Refusal::Unavailable);
                }
                self.challenges.issue(peer, nonce, Instant::now());
                let _ = self
                    .swarm
                    .behaviour_mut()
                    .mailbox
                    .send_response(channel, Response::Challenge { nonce });
            }
            Request::Fetch {
                proof,
                after,
                limit,
                wait_secs,
            } => {
                if !self.take_nonce(peer, &proof.nonce) {
                    return self.refuse(channel, Refusal::StaleChallenge);
                }
                self.metrics.fetches += 1;
                let store = self.store.clone();
                let limit = limit.clamp(1, MAX_PAGE);
                let wait = wait_secs.min(MAX_WAIT_SECS);
                let as_of = self.deposits_committed;
                let started = Instant::now();
                self.pending.push(
                    tokio::task::spawn_blocking(move || {
                        let Some(mailbox) = proven_mailbox(&proof, &relay, Operation::Fetch) else {
                            return Done::Respond(channel, Response::Refused(Refusal::BadProof));
                        };
                        match store.fetch(&mailbox, after, limit as usize, MAX_RESPONSE_LEN / 2) {
                            Ok((items, more)) => Done::Fetched {
                                channel,
                                peer,
                                mailbox,
                                after,
                                limit,
                                wait,
                                items,
                                more,
                                as_of,
                                started,
                            },
                            Err(_) => {
                                Done::Respond(channel, Response::Refused(Refusal::Unavailable))
                            }
                        }
                    })
                    .map(|r| r.unwrap_or_else(|_| Done::Expired(0, 0)))
                    .boxed(),
                );
            }
            Request::UploadPrekeys { proof, prekeys } => {
                if !self.take_nonce(peer, &proof.nonce) {
                    return self.refuse(channel, Refusal::StaleChallenge);
                }
                if prekeys.len() > MAX_PREKEY_BATCH {
                    return self.refuse(channel, Refusal::BadPrekey);
                }
                let store = self.store.clone();
                let allow = self.allow.clone();
                self.pending.push(
                    tokio::task::spawn_blocking(move || {
                        let outcome = (|| {
                            let (mailbox, owner) = proof
                                .owner(&relay, Operation::UploadPrekeys)
                                .map_err(|_| Refusal::BadProof)?;
                            let mailbox = *mailbox.as_bytes();
                            if allow.as_ref().is_some_and(|a| !a.contains(&mailbox)) {
                                return Err(Refusal::NotAllowed);
                            }
                            // Every key must be the owner's: a relay must never hand a sender
                            // a key that the recipient cannot use, or that someone else made.
                            let mut verified = Vec::with_capacity(prekeys.len());
                            for bytes in prekeys {
                                match OneTimePrekey::from_bytes(&bytes) {
                                    Ok(prekey) if prekey.account() == owner => {
                                        verified.push((prekey.id(), bytes));
                                    }
                                    _ => return Err(Refusal::BadPrekey),
                                }
                            }
                            let count = store.upload_prekeys(
                                &mailbox,
                                &verified,
                                MAX_PREKEYS_HELD,
                                now_secs(),
                            )?;
                            Ok((count, verified.len() as u64))
                        })();
                        match outcome {
                            Ok((count, uploaded)) => Done::Prekeys {
                                channel,
                                response: Response::PrekeysHeld { count },
                                uploaded,
                            },
                            Err(refusal) => Done::Respond(channel, Response::Refused(refusal)),
                        }
                    })
                    .map(|r| r.unwrap_or_else(|_| Done::Expired(0, 0)))
                    .boxed(),
                );
            }
            Request::TakePrekey { mailbox } => {
                if self.allow.as_ref().is_some_and(|a| !a.contains(&mailbox)) {
                    return self.refuse(channel, Refusal::NotAllowed);
                }
                // Taking a prekey costs a token like a deposit: a stranger draining an
                // account's prekeys is slowed to the deposit rate.
                if !self.gate.take_token(&peer) {
                    return self.refuse(channel, Refusal::RateLimited);
                }
                let store = self.store.clone();
                self.pending.push(
                    tokio::task::spawn_blocking(move || {
                        let response = match store.take_prekey(&mailbox) {
                            Ok(Some(prekey)) => Response::Prekey(prekey),
                            Ok(None) => Response::PrekeysExhausted,
                            Err(_) => Response::Refused(Refusal::Unavailable),
                        };
                        Done::Prekeys {
                            channel,
                            response,
                            uploaded: 0,
                        }
                    })
                    .map(|r| r.unwrap_or_else(|_| Done::Expired(0, 0)))
                    .boxed(),
                );
            }
            Request::Ack { proof, ids } => {
                if !self.take_nonce(peer, &proof.nonce) {
                    return self.refuse(channel, Refusal::StaleChallenge);
                }
                let store = self.store.clone();
                self.pending.push(
                    tokio::task::spawn_blocking(move || {
                        let Some(mailbox) = proven_mailbox(&proof, &relay, Operation::Ack) else {
                            return Done::Respond(channel, Response::Refused(Refusal::BadProof));
                        };
                        match store.ack(&mailbox, &ids) {
                            Ok(removed) => Done::Acked(channel, removed),
                            Err(_) => {
                                Done::Respond(channel, Response::Refused(Refusal::Unavailable))
                            }
                        }
                    })
                    .map(|r| r.unwrap_or_else(|_| Done::Expired(0, 0)))
                    .boxed(),
                );
            }
        }
    }

    pub(super) fn on_done(&mut self, done: Done) {
        match done {
            Done::Prekeys {
                channel,
                response,
                uploaded,
            } => {
                match &response {
                    Response::Refused(refusal) => return self.refuse(channel, *refusal),
                    Response::Prekey(_) => self.metrics.prekeys_taken += 1,
                    Response::PrekeysExhausted => self.metrics.prekeys_exhausted += 1,
                    _ => self.metrics.prekeys_uploaded += uploaded,
                }
                let _ = self
                    .swarm
                    .behaviour_mut()
                    .mailbox
                    .send_response(channel, response);
            }
            Done::HeldRefusal(channel, refusal) => {
                self.held_refusals -= 1;
                let _ = self
                    .swarm
                    .behaviour_mut()
                    .mailbox
                    .send_response(channel, Response::Refused(refusal));
            }
            Done::Respond(channel, response) => {
                if let Response::Refused(refusal) = response {
                    return self.refuse(channel, refusal);
                }
                let _ = self
                    .swarm
                    .behaviour_mut()
                    .mailbox
                    .send_response(channel, response);
            }
            Done::Deposited {
                channel,
                response,
                started,
            } => match response {
                Response::Refused(refusal) => self.refuse(channel, refusal),
                response => {
                    self.timings
                        .deposit
                        .observe(started.elapsed().as_secs_f64());
                    let _ = self
                        .swarm
                        .behaviour_mut()
                        .mailbox
                        .send_response(channel, response);
                }
            },
            Done::Fetched {
                channel,
                peer,
                mailbox,
                after,
                limit,
                wait,
                items,
                more,
                as_of,
                started,
            } => {
                if items.is_empty() && wait > 0 && as_of != self.deposits_committed {
                    // A deposit committed while we read: read again rather than risk waiting
                    // for a wake-up that already happened.
                    return self.refetch(
                        mailbox,
                        Parked {
                            channel,
                            after,
                            limit,
                        },
                    );
                }
                if items.is_empty() && wait > 0 {
                    let deadline = Instant::now() + Duration::from_secs(u64::from(wait));
                    let parked = Parked {
                        channel,
                        after,
                        limit,
                    };
                    for evicted in self.held.hold(mailbox, peer, deadline, parked) {
                        self.answer_empty(evicted);
                    }
                    return;
                }
                self.timings.fetch.observe(started.elapsed().as_secs_f64());
                let _ = self
                    .swarm
                    .behaviour_mut()
                    .mailbox
                    .send_response(channel, Response::Envelopes { items, more });
            }
            Done::Acked(channel, removed) => {
                self.metrics.acked += u64::from(removed);
                let _ = self
                    .swarm
                    .behaviour_mut()
                    .mailbox
                    .send_response(channel, Response::Acked { removed });
            }
            Done::RecordChecked {
                source,
                record,
                held,
                result,
            } => self.on_record_checked(source, record, held, result),
            Done::Expired(removed, log_entries) => {
                if removed > 0 || log_entries > 0 {
                    info!(removed, log_entries, "deleted what was past its retention");
                }
                self.metrics.expired += u64::from(removed);
                self.metrics.log_entries_expired += u64::from(log_entries);
            }
        }
    }

    /// Counts the envelopes a synced write stored, and wakes the owners waiting on their
    /// mailboxes, whichever protocol brought them.
    pub(super) fn on_committed(&mut self, mut mailboxes: Vec<[u8; 32]>) {
        self.metrics.deposits += mailboxes.len() as u64;
        self.deposits_committed += mailboxes.len() as u64;
        mailboxes.sort_unstable();
        mailboxes.dedup();
        for mailbox in mailboxes {
            self.wake(mailbox);
        }
    }

    /// Counts what a deposit stream tells.
    pub(super) fn on_deposit_note(&mut self, note: Note) {
        match note {
            Note::Refused(refusal) => self.count_refusal(refusal.code()),
            Note::Opened => self.metrics.deposit_streams += 1,
        }
    }

    /// Owners waiting on `mailbox` get its new envelope at once.
    fn wake(&mut self, mailbox: [u8; 32]) {
        for parked in self.held.wake(&mailbox) {
            self.refetch(mailbox, parked);
        }
    }

    fn refetch(&mut self, mailbox: [u8; 32], parked: Parked) {
        let store = self.store.clone();
        self.pending.push(
            tokio::task::spawn_blocking(move || {
                match store.fetch(
                    &mailbox,
                    parked.after,
                    parked.limit as usize,
                    MAX_RESPONSE_LEN / 2,
                ) {
                    Ok((items, more)) => {
                        Done::Respond(parked.channel, Response::Envelopes { items, more })
                    }
                    Err(_) => {
                        Done::Respond(parked.channel, Response::Refused(Refusal::Unavailable))
                    }
                }
            })
            .map(|r| r.unwrap_or_else(|_| Done::Expired(0, 0)))
            .boxed(),
        );
    }

    /// Answers a held fetch with an empty page.
    fn answer_empty(&mut self, parked: Parked) {
        let _ = self.swarm.behaviour_mut().mailbox.send_response(
            parked.channel,
            Response::Envelopes {
                items: Vec::new(),
                more: false,
            },
        );
    }

    /// Answers held fetches whose wait is over (and forgets those whose connection closed),
    /// and forgets expired nonces.
    pub(super) fn sweep(&mut self) {
        let now = Instant::now();
        for parked in self.held.release(now, |p| p.channel.is_open()) {
            self.answer_empty(parked);
        }
        self.challenges.expire(now);
        if self.store.deleted_since_reclaim() {
            let store = self.store.clone();
            self.pending.push(
                tokio::task::spawn_blocking(move || {
                    store.reclaim();
                    Done::Expired(0, 0)
                })
                .map(|r| r.unwrap_or_else(|_| Done::Expired(0, 0)))
                .boxed(),
            );
        }
        if self.store.failing() {
            warn!("the last write failed; the relay keeps trying");
        }
    }
}

/// The mailbox a proof is valid for, if it is.
fn proven_mailbox(proof: &OwnerProof, relay: &[u8], op: Operation) -> Option<[u8; 32]> {
    proof.mailbox(relay, op).ok().map(|m| *m.as_bytes())
}
