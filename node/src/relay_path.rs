//! The node's side of the relay path: leaving envelopes at a recipient's mailbox relays when
//! direct delivery fails, and collecting our own mail from our relays.
//!
//! Sending: the envelope already in the outbox is deposited at every relay the recipient's
//! record lists (at most [`REPLICAS`]), concurrently; each valid custody receipt counts, and
//! with [`CUSTODY_QUORUM`] of them (or all, if the recipient lists fewer) the message is
//! "stored at relays" and leaves the outbox. The recipient's delivery receipt completes it.
//!
//! Session starts: a sender takes one of the recipient's one-time prekeys from its relays
//! before its first message ([`take_prekey`]); each collector keeps its relay stocked with our
//! own ([`PREKEYS_STOCK`], topped up below [`PREKEYS_LOW`]).
//!
//! Receiving: one task per relay of ours keeps a collect stream (`/tern/collect/2`) open
//! ([`stream`]): ownership proven once, then pages asked for ahead of need, each carrying the
//! acknowledgements of pages before (the last one held open by the relay for up to
//! [`WAIT_SECS`], so new mail arrives at once). Each
//! envelope goes to the core's inbound pipeline exactly as a direct delivery, and only the
//! envelopes the core committed (or refused for good) are acknowledged. A copy that also came
//! directly is a duplicate there. A relay without collect streams is served by
//! `/tern/mailbox/2`: a challenge and a fetch, a challenge and an acknowledgement per page.

use std::{sync::Arc, time::Duration};

use libp2p::{Multiaddr, PeerId};
use tern_crypto::{AccountKey, MailboxId, OneTimePrekey, PrekeyBundle, UserId};
use tern_proto::{
    mailbox::{Operation, OwnerProof, Refusal, Request, Response},
    record::RelayEntry,
};
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use crate::{
    core,
    network::{self, NetError, Status},
};

mod stream;

use self::stream::{Session, StreamEnd};

/// Relays a message is deposited at, at most.
pub(crate) const REPLICAS: usize = 3;
/// Custody receipts that make a message "stored": two, so that one relay lost does not lose it.
pub(crate) const CUSTODY_QUORUM: u8 = 2;
/// How long a fetch asks the relay to wait for new mail before answering empty.
const WAIT_SECS: u16 = 25;
/// Envelopes per fetched page.
const PAGE: u32 = 256;
/// Backoff after a failed round with a relay: from this…
const FIRST_BACKOFF: Duration = Duration::from_millis(500);
/// …doubling up to this.
const MAX_BACKOFF: Duration = Duration::from_secs(60);
/// An empty fetch answered sooner than this was not held open by the relay: the next one
/// waits a backoff.
const HELD_AT_LEAST: Duration = Duration::from_secs(1);
/// One-time prekeys we keep at each relay: enough for a burst of new contacts while we are
/// offline, few enough that the secrets held (three relays' worth) stay small.
const PREKEYS_STOCK: u32 = 50;
/// Below this, a relay is topped up.
const PREKEYS_LOW: u32 = 20;
/// How often a collector checks its relay's stock (also at every start).
const RESTOCK_EVERY: Duration = Duration::from_secs(600);
/// Collect streams that fail before the relay takes our proof, in a row, before a collector
/// falls back to request-response until its next prekey check.
const STREAM_FAILURES: u32 = 3;
/// How long a collect stream waits for an answer: a held fetch, and then some.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(WAIT_SECS as u64 + 30);
/// How long a sender waits for one relay's prekey before trying the next (or going without):
/// a session start should not wait on a dead relay.
const PREKEY_TIMEOUT: Duration = Duration::from_secs(5);

/// How a deposit at a recipient's relays went.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Deposit {
    /// Valid custody receipts.
    pub(crate) stored: u8,
    /// Relays tried.
    pub(crate) replicas: u8,
    /// The refusals relays answered with (a full mailbox, a rate limit…).
    pub(crate) refused: Vec<Refusal>,
}

/// Batch roots of custody receipts already verified: the receipts of one relay write share
/// one signature, checked once for all of this process's deposits in it.
static VERIFIED: std::sync::LazyLock<tern_proto::mailbox::VerifiedRoots> =
    std::sync::LazyLock::new(Default::default);

/// A relay's answer to come: the network task's, or why the request never reached it.
type Answer = Result<oneshot::Receiver<Result<Response, NetError>>, NetError>;

/// A deposit whose requests the network task has queued, each relay's answer to come.
pub(crate) struct Queued {
    mailbox: MailboxId,
    envelope: Vec<u8>,
    answers: Vec<(PeerId, Answer)>,
}

/// Queues a deposit of `envelope` for `mailbox` at each of `relays` (at most [`REPLICAS`]),
/// without waiting for the answers: deposits queued one after the other reach each relay in
/// that order. [`Queued::answers`] waits for them.
pub(crate) async fn queue_deposit(
    net: &network::Handle,
    relays: &[(PeerId, Vec<Multiaddr>)],
    mailbox: MailboxId,
    envelope: Vec<u8>,
) -> Queued {
    let mut answers = Vec::with_capacity(relays.len().min(REPLICAS));
    for (relay, addresses) in &relays[..relays.len().min(REPLICAS)] {
        let request = Request::Deposit {
            mailbox: *mailbox.as_bytes(),
            envelope: envelope.clone(),
        };
        let answer = net.queue_mailbox(*relay, addresses.clone(), request).await;
        answers.push((*relay, answer));
    }
    Queued {
        mailbox,
        envelope,
        answers,
    }
}

impl Queued {
    /// How the deposit went, once every relay answered (or failed): each custody receipt is
    /// checked before it counts.
    pub(crate) async fn answers(self) -> Deposit {
        let Self {
            mailbox,
            envelope,
            answers,
        } = self;
        let replicas = answers.len() as u8;
        let (mailbox, envelope) = (&mailbox, &envelope);
        let results =
            futures::future::join_all(answers.into_iter().map(|(relay, answer)| async move {
                let answer = match answer {
                    Ok(answer) => answer.await.unwrap_or(Err(NetError::Stopped)),
                    Err(e) => Err(e),
                };
                match answer {
                    Ok(Response::Stored(receipt)) => {
                        match receipt.verify_with(&relay.to_bytes(), mailbox, envelope, &VERIFIED) {
                            Ok(()) => Ok(()),
                            Err(e) => {
                                warn!(%relay, "refused a custody receipt: {e}");
                                Err(None)
                            }
                        }
                    }
                    Ok(Response::Refused(refusal)) => {
                        info!(%relay, "the recipient's relay refused a deposit: {refusal}");
                        Err(Some(refusal))
                    }
                    Ok(other) => {
                        debug!(%relay, "unexpected answer to a deposit: {other:?}");
                        Err(None)
                    }
                    Err(e) => {
                        debug!(%relay, "deposit failed: {e}");
                        Err(None)
                    }
                }
            }))
            .await;
        Deposit {
            stored: results.iter().filter(|r| r.is_ok()).count() as u8,
            replicas,
            refused: results
                .into_iter()
                .filter_map(|r| r.err().flatten())
                .collect(),
        }
    }
}

/// What a collector needs to serve one of our relays.
pub(crate) struct Collector {
    pub(crate) net: network::Handle,
    pub(crate) account: Arc<AccountKey>,
    pub(crate) bundle: PrekeyBundle,
    pub(crate) relay: PeerId,
    pub(crate) addresses: Vec<Multiaddr>,
    /// The core's request queue, for new one-time prekeys.
    pub(crate) core: mpsc::Sender<core::Request>,
    /// Where the collector reports whether its relay works.
    pub(crate) health: mpsc::Sender<HealthReport>,
}

/// A collector's word on its relay: whether it now works, sent when that changes.
pub(crate) type HealthReport = (PeerId, bool);

/// What a collector last told the core about its relay, so it speaks only on a change.
struct Health {
    sender: mpsc::Sender<HealthReport>,
    relay: PeerId,
    reported: Option<bool>,
}

impl Health {
    async fn report(&mut self, working: bool) {
        if self.reported == Some(working) {
            return;
        }
        // A core that has stopped has no use for the report.
        if self.sender.send((self.relay, working)).await.is_ok() {
            self.reported = Some(working);
        }
    }
}

/// Collects our mail from the relay until `cancel`, and keeps it stocked with one-time
/// prekeys for senders.
pub(crate) async fn collect(collector: Collector, cancel: CancellationToken) {
    let Collector {
        net,
        account,
        bundle,
        relay,
        addresses,
        core,
        health,
    } = collector;
    let mut health = Health {
        sender: health,
        relay,
        reported: None,
    };
    let mut backoff = FIRST_BACKOFF;
    let mut stocked: Option<tokio::time::Instant> = None;
    // Everything up to this id has been taken and acknowledged: the next fetch starts after
    // it, so the relay seeks past the tombstones of acknowledged envelopes instead of walking
    // them on every fetch.
    let mut cursor = 0;
    // Whether to collect on a `/tern/collect/2` stream: until the relay says it does not
    // speak it, or its streams fail `STREAM_FAILURES` times in a row before they are
    // proven (a relay whose places are all taken, say); then by request-response, trying
    // streams again at the next prekey check.
    let mut streams = true;
    let mut stream_failures = 0;
    let mut retry_streams: Option<tokio::time::Instant> = None;
    loop {
        if stocked.is_none_or(|at| at.elapsed() >= RESTOCK_EVERY) {
            let restock = replenish(&net, &account, &bundle, relay, &addresses, &core);
            let outcome = tokio::select! {
                () = cancel.cancelled() => return,
                outcome = restock => outcome,
            };
            match outcome {
                Ok(()) => {
                    stocked = Some(tokio::time::Instant::now());
                    health.report(true).await;
                }
                Err(e) => debug!(%relay, "stocking one-time prekeys failed: {e}"),
            }
        }
        let started = tokio::time::Instant::now();
        if retry_streams.is_some_and(|at| started >= at) {
            (streams, retry_streams) = (true, None);
        }
        if streams {
            // Collect on one stream until it fails or the prekeys are due for a check; a
            // relay without collect streams is served by request-response from now on.
            let session = Session {
                net: &net,
                account: &account,
                bundle: &bundle,
                relay,
                addresses: &addresses,
            };
            let until = started + RESTOCK_EVERY;
            let ended = tokio::select! {
                () = cancel.cancelled() => return,
                ended = session.on_stream(&mut health, &mut cursor, &mut backoff, until) => ended,
            };
            match ended {
                Ok(()) => {
                    stream_failures = 0;
                    continue;
                }
                Err(StreamEnd::Unsupported) => streams = false,
                Err(StreamEnd::Failed { reason, proven }) => {
                    debug!(%relay, "collecting on a stream failed: {reason}");
                    stream_failures = if proven { 0 } else { stream_failures + 1 };
                    if stream_failures >= STREAM_FAILURES {
                        stream_failures = 0;
                        streams = false;
                        retry_streams = Some(tokio::time::Instant::now() + RESTOCK_EVERY);
                    }
                    cursor = 0;
                    health.report(false).await;
                    let pause = pause_after(Round::Failed, &mut backoff);
                    tokio::select! {
                        () = cancel.cancelled() => return,
                        () = tokio::time::sleep(pause.unwrap_or(FIRST_BACKOFF)) => {}
                    }
                    continue;
                }
            }
        }
        let round = tokio::select! {
            () = cancel.cancelled() => return,
            round = collect_once(&net, &account, &bundle, relay, &addresses, &mut health, cursor) => round,
        };
        let elapsed = started.elapsed();
        // After an idle wait or a failure, start over from the beginning once: nothing is
        // skipped even if the relay lost its database and numbers envelopes from 1 again.
        cursor = match &round {
            Ok(Some(next)) => *next,
            Ok(None) | Err(_) => 0,
        };
        health.report(round.is_ok()).await;
        let outcome = match round {
            Ok(Some(_)) => Round::Mail,
            Ok(None) => Round::Empty(elapsed),
            Err(e) => {
                debug!(%relay, "collecting mail failed: {e}");
                Round::Failed
            }
        };
        let Some(pause) = pause_after(outcome, &mut backoff) else {
            continue;
        };
        tokio::select! {
            () = cancel.cancelled() => return,
            () = tokio::time::sleep(pause) => {}
        }
    }
}

/// How a collection round ended.
#[derive(Debug, Clone, Copy)]
enum Round {
    /// Mail came and was acknowledged.
    Mail,
    /// The fetch came back empty after this long.
    Empty(Duration),
    /// Something failed; the mail stays at the relay.
    Failed,
}

/// How long to wait before the next round, if at all; doubles `backoff` on each pause and
/// resets it after a good round. An empty answer that came back sooner than
/// [`HELD_AT_LEAST`] was not held open by the relay (it was full, evicted ours, or
/// restarted): asking again at once would spin.
fn pause_after(round: Round, backoff: &mut Duration) -> Option<Duration> {
    match round {
        Round::Mail => {
            *backoff = FIRST_BACKOFF;
            None
        }
        Round::Empty(waited) if waited >= HELD_AT_LEAST => {
            *backoff = FIRST_BACKOFF;
            None
        }
        Round::Empty(_) | Round::Failed => {
            let pause = *backoff;
            *backoff = (*backoff * 2).min(MAX_BACKOFF);
            Some(pause)
        }
    }
}

/// Tops the relay's stock of our one-time prekeys up to [`PREKEYS_STOCK`] when it has fallen
/// below [`PREKEYS_LOW`]. Each relay gets keys of its own, so no two senders can be handed
/// the same one.
async fn replenish(
    net: &network::Handle,
    account: &AccountKey,
    bundle: &PrekeyBundle,
    relay: PeerId,
    addresses: &[Multiaddr],
    core: &mpsc::Sender<core::Request>,
) -> Result<(), String> {
    let held = upload(net, account, bundle, relay, addresses, Vec::new()).await?;
    if held >= PREKEYS_LOW {
        return Ok(());
    }
    let (reply, answer) = oneshot::channel();
    core.send(core::Request::OneTimePrekeys {
        count: (PREKEYS_STOCK - held) as usize,
        reply,
    })
    .await
    .map_err(|_| "the node stopped".to_owned())?;
    let prekeys = answer
        .await
        .map_err(|_| "the node stopped".to_owned())?
        .map_err(|e| e.to_string())?;
    if prekeys.is_empty() {
        // Every secret we may hold is out at a relay already.
        return Ok(());
    }
    let count = prekeys.len();
    let held = upload(
        net,
        account,
        bundle,
        relay,
        addresses,
        prekeys.iter().map(OneTimePrekey::to_bytes).collect(),
    )
    .await?;
    debug!(%relay, uploaded = count, held, "stocked one-time prekeys");
    Ok(())
}

/// Uploads `prekeys` (possibly none) to the relay; returns how many it holds.
async fn upload(
    net: &network::Handle,
    account: &AccountKey,
    bundle: &PrekeyBundle,
    relay: PeerId,
    addresses: &[Multiaddr],
    prekeys: Vec<Vec<u8>>,
) -> Result<u32, String> {
    let request = Request::UploadPrekeys {
        proof: proof(
            net,
            account,
            bundle,
            relay,
            addresses,
            Operation::UploadPrekeys,
        )
        .await?,
        prekeys,
    };
    match net
        .own_mailbox(relay, addresses.to_vec(), request)
        .await
        .map_err(|e| e.to_string())?
    {
        Response::PrekeysHeld { count } => Ok(count),
        Response::Refused(refusal) => Err(refusal.to_string()),
        other => Err(format!("unexpected answer to a prekey upload: {other:?}")),
    }
}

/// Relays as stored in the database: postcard `Vec<RelayEntry>`, as in the DHT record.
pub(crate) fn encode_relays(relays: &[(PeerId, Vec<Multiaddr>)]) -> Vec<u8> {
    let entries: Vec<RelayEntry> = relays
        .iter()
        .map(|(peer, addresses)| RelayEntry {
            peer: peer.to_bytes(),
            addresses: addresses.iter().map(|a| a.to_vec()).collect(),
        })
        .collect();
    postcard::to_allocvec(&entries).unwrap_or_default()
}

/// The inverse of [`encode_relays`]; entries that do not decode are skipped.
pub(crate) fn decode_relays(bytes: &[u8]) -> Vec<(PeerId, Vec<Multiaddr>)> {
    let entries: Vec<RelayEntry> = postcard::from_bytes(bytes).unwrap_or_default();
    entries
        .into_iter()
        .filter_map(|entry| {
            let peer = PeerId::from_bytes(&entry.peer).ok()?;
            let addresses = entry
                .addresses
                .into_iter()
                .filter_map(|a| Multiaddr::try_from(a).ok())
                .collect();
            Some((peer, addresses))
        })
        .collect()
}

/// Takes one of `owner`'s one-time prekeys from its relays, trying them in order; `None`
/// when all are out (or unreachable): the session then starts with the signed prekey.
pub(crate) async fn take_prekey(
    net: &network::Handle,
    relays: &[(PeerId, Vec<Multiaddr>)],
    owner: UserId,
    mailbox: MailboxId,
) -> Option<OneTimePrekey> {
    for (relay, addresses) in relays.iter().take(REPLICAS) {
        let request = Request::TakePrekey {
            mailbox: *mailbox.as_bytes(),
        };
        let answer = tokio::time::timeout(
            PREKEY_TIMEOUT,
            net.mailbox(*relay, addresses.clone(), request),
        )
        .await;
        match answer {
            Ok(Ok(Response::Prekey(bytes))) => match OneTimePrekey::from_bytes(&bytes) {
                Ok(prekey) if prekey.account() == owner => return Some(prekey),
                _ => warn!(%relay, "a relay handed out a one-time prekey that is not the owner's"),
            },
            Ok(Ok(Response::PrekeysExhausted)) => {
                debug!(%relay, "the relay has no one-time prekey left");
            }
            Ok(Ok(other)) => debug!(%relay, "unexpected answer to a prekey request: {other:?}"),
            Ok(Err(e)) => debug!(%relay, "prekey request failed: {e}"),
            Err(_) => debug!(%relay, "prekey request timed out"),
        }
    }
    None
}

async fn proof(
    net: &network::Handle,
    account: &AccountKey,
    bundle: &PrekeyBundle,
    relay: PeerId,
    addresses: &[Multiaddr],
    op: Operation,
) -> Result<OwnerProof, String> {
    match net
        .own_mailbox(relay, addresses.to_vec(), Request::Challenge)
        .await
        .map_err(|e| e.to_string())?
    {
        Response::Challenge { nonce } => Ok(OwnerProof::new(
            account,
            bundle,
            &relay.to_bytes(),
            nonce,
            op,
        )),
        other => Err(format!("unexpected answer to a challenge: {other:?}")),
    }
}

/// Hands fetched envelopes to the core's inbound pipeline: the ids it committed (or refused
/// for good), which the relay may forget, and whether any must be fetched again.
async fn submit(
    net: &network::Handle,
    relay: PeerId,
    items: &[tern_proto::mailbox::StoredEnvelope],
) -> (Vec<u64>, bool) {
    let outcomes = futures::future::join_all(
        items
            .iter()
            .map(|item| net.submit(relay, item.envelope.clone())),
    )
    .await;
    let mut done = Vec::new();
    let mut retry_later = false;
    for (item, outcome) in items.iter().zip(outcomes) {
        match outcome {
            // Committed, seen before, or refused for good: the relay may forget it.
            Ok(Status::Stored | Status::Duplicate | Status::Rejected | Status::Undecryptable) => {
                done.push(item.id);
            }
            Ok(Status::Busy | Status::Unavailable) | Err(_) => retry_later = true,
        }
    }
    (done, retry_later)
}

/// One fetch after `after` (held open by the relay when empty), processing and
/// acknowledgement. Returns the id up to which everything is now acknowledged, or `None`
/// when the fetch came back empty; an error when any envelope must be fetched again.
async fn collect_once(
    net: &network::Handle,
    account: &AccountKey,
    bundle: &PrekeyBundle,
    relay: PeerId,
    addresses: &[Multiaddr],
    health: &mut Health,
    after: u64,
) -> Result<Option<u64>, String> {
    let fetch_proof = proof(net, account, bundle, relay, addresses, Operation::Fetch).await?;
    // It answered: working, though the fetch may now be held open for a while.
    health.report(true).await;
    let fetch = Request::Fetch {
        proof: fetch_proof,
        after,
        limit: PAGE,
        wait_secs: WAIT_SECS,
    };
    let items = match net
        .own_mailbox(relay, addresses.to_vec(), fetch)
        .await
        .map_err(|e| e.to_string())?
    {
        Response::Envelopes { items, .. } => items,
        Response::Refused(refusal) => return Err(refusal.to_string()),
        other => return Err(format!("unexpected answer to a fetch: {other:?}")),
    };
    if items.is_empty() {
        return Ok(None);
    }
    let (done, retry_later) = submit(net, relay, &items).await;
    if !done.is_empty() {
        let ack = Request::Ack {
            proof: proof(net, account, bundle, relay, addresses, Operation::Ack).await?,
            ids: done,
        };
        match net
            .own_mailbox(relay, addresses.to_vec(), ack)
            .await
            .map_err(|e| e.to_string())?
        {
            Response::Acked { .. } => {}
            other => return Err(format!("unexpected answer to an ack: {other:?}")),
        }
    }
    if retry_later {
        return Err("the pipeline could not take every envelope".into());
    }
    // Every item is acknowledged, and they come in id order: the next fetch starts after the
    // last.
    Ok(items.last().map(|item| item.id))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_collector_pauses_after_an_empty_answer_the_relay_did_not_hold() {
        // Before the fix an empty answer looped straight back: a relay that could not hold
        // the fetch (full, or evicting) made every honest collector spin.
        let mut backoff = FIRST_BACKOFF;
        let early = Round::Empty(Duration::from_millis(3));
        assert_eq!(pause_after(early, &mut backoff), Some(FIRST_BACKOFF));
        assert_eq!(pause_after(early, &mut backoff), Some(FIRST_BACKOFF * 2));
        let held = Round::Empty(Duration::from_secs(WAIT_SECS.into()));
        assert_eq!(
            pause_after(held, &mut backoff),
            None,
            "a held fetch: ask again"
        );
        assert_eq!(backoff, FIRST_BACKOFF);
        for _ in 0..20 {
            pause_after(Round::Failed, &mut backoff);
        }
        assert_eq!(backoff, MAX_BACKOFF);
        assert_eq!(pause_after(Round::Mail, &mut backoff), None);
        assert_eq!(backoff, FIRST_BACKOFF);
    }
}
