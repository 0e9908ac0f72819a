//! Typing indicators and presence: ephemeral signals between online devices.
//!
//! Both are opt-in ([`crate::Sharing`], off by default) and reciprocal: a user who does not
//! share typing (presence) sees no one's. A signal is a control body (content type `0x08`)
//! through the peer's session, like any message, but:
//!
//! - **only over an open direct connection**: never dialled for, never queued in the outbox,
//!   never deposited at a relay, never retried; a signal that arrives through a relay anyway
//!   is dropped;
//! - **never stored**: only the session state it advanced is committed (one write, on each
//!   side); it shows as an ephemeral [`Event::Typing`] or [`Event::Presence`], which
//!   subscribers get live and the event log never holds;
//! - **rate-limited** on both sides: a sender sends "typing" at most once per
//!   [`TYPING_REFRESH`] per chat however often its client reports a key press, and a receiver
//!   shows at most one change per contact per [`MIN_EVENT_GAP_MS`]; stale signals (older than
//!   [`SIGNAL_MAX_AGE_MS`] by the sender's clock) are dropped;
//! - **only to those who would see them**: typing to the chat the user has open (its client
//!   reports typing there only); presence every [`PRESENCE_EVERY`] to connected contacts who
//!   shared theirs with us lately, and once per [`PRESENCE_PROBE_EVERY`] to other connected
//!   contacts, as a probe that a contact who shares answers.
//!
//! A contact shown typing stops after [`TYPING_TIMEOUT`] without a repeat; one shown online
//! goes offline after [`PRESENCE_TIMEOUT`] without a signal, with its last-seen time. Presence
//! is kept in memory only: after a restart it is unknown until contacts are heard from again.

use super::*;
use crate::{
    body::{Control, Signal},
    tables::STATE_SHARING,
};

/// How often "typing" is repeated while the user types; reports in between are not sent.
pub const TYPING_REFRESH: Duration = Duration::from_secs(3);
/// How long a contact stays shown typing without a repeat.
pub const TYPING_TIMEOUT: Duration = Duration::from_secs(6);
/// How often presence goes to the contacts who share theirs.
const PRESENCE_EVERY: Duration = Duration::from_secs(60);
/// A contact not heard from for this long is shown offline.
const PRESENCE_TIMEOUT: Duration = Duration::from_secs(150);
/// How often a connected contact whose presence we do not know is probed.
const PRESENCE_PROBE_EVERY: Duration = Duration::from_secs(600);
/// Signals older than this when they arrive are dropped.
const SIGNAL_MAX_AGE_MS: u64 = 30_000;
/// Least time between two changes shown for one contact.
const MIN_EVENT_GAP_MS: u64 = 1000;

/// What this account shares with its contacts while online.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Sharing {
    /// Typing indicators (and, in return, seeing contacts type).
    pub typing: bool,
    /// Online status and last seen (and, in return, seeing contacts').
    pub presence: bool,
}

/// A contact's presence, as far as it shares it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Presence {
    /// Online now.
    pub online: bool,
    /// When it was last seen online (milliseconds since the Unix epoch).
    pub last_seen_ms: u64,
}

/// The signals' state, in memory.
#[derive(Debug, Default)]
pub(super) struct Signals {
    pub(super) sharing: Sharing,
    /// When "typing" last went to each peer, and whether the last signal said typing.
    typing_sent: HashMap<UserId, (u64, bool)>,
    /// Contacts shown typing, until when.
    typing_until: HashMap<UserId, u64>,
    /// Contacts who share presence with us.
    presence: HashMap<UserId, Presence>,
    /// When presence last went to each peer.
    presence_sent: HashMap<UserId, u64>,
    /// When a change was last shown for each peer.
    last_shown: HashMap<UserId, u64>,
    /// When the next presence round is due.
    next_round: u64,
    /// Contacts whose presence arrived before they had ours: answered at the next tick.
    answer: Vec<UserId>,
}

impl Signals {
    /// Whether `peer` is shown typing.
    pub(super) fn typing(&self, peer: &UserId) -> bool {
        self.typing_until.contains_key(peer)
    }

    /// `peer`'s presence, if it shares it with us.
    pub(super) fn presence(&self, peer: &UserId) -> Option<Presence> {
        self.presence.get(peer).copied()
    }
}

impl Core {
    /// Loads what the user shares.
    pub(super) async fn load_sharing(&mut self) -> Result<(), Error> {
        let bytes = self
            .read(|s| s.get::<State>(&STATE_SHARING.to_owned()))
            .await?;
        if let Some(sharing) = bytes.and_then(|b| postcard::from_bytes(&b).ok()) {
            self.signals.sharing = sharing;
        }
        Ok(())
    }

    /// Changes what the user shares. Turning either off also hides what contacts share.
    pub(super) async fn set_sharing(&mut self, sharing: Sharing) -> Result<Sharing, Error> {
        let before = self.signals.sharing;
        let mut batch = Batch::new();
        let bytes = postcard::to_stdvec(&sharing)
            .map_err(|e| Error::Storage(StorageError::other(e.to_string())))?;
        batch.put::<State>(&STATE_SHARING.to_owned(), &bytes)?;
        self.commit(Pending::new(batch, Vec::new())).await?;
        self.signals.sharing = sharing;
        if !sharing.typing {
            for peer in std::mem::take(&mut self.signals.typing_until).into_keys() {
                self.publish_ephemeral(Event::Typing {
                    peer,
                    active: false,
                });
            }
        }
        if before.presence && !sharing.presence {
            // Those we told we are online learn that we are gone; we see no one's any more.
            let told: Vec<UserId> = self.signals.presence_sent.drain().map(|(p, _)| p).collect();
            self.send_signals(&told, Signal::Presence(false)).await?;
            // Clients stop showing anyone online, as they stop showing anyone typing.
            for (peer, p) in std::mem::take(&mut self.signals.presence) {
                if p.online {
                    self.publish_ephemeral(Event::Presence {
                        peer,
                        online: false,
                        last_seen_ms: p.last_seen_ms,
                    });
                }
            }
        }
        if !before.presence && sharing.presence {
            self.signals.next_round = 0;
            self.signals.presence_sent.clear();
        }
        Ok(sharing)
    }

    /// The user is typing in the chat with `peer` (or stopped). Returns whether a signal
    /// went out: none when typing is not shared, within [`TYPING_REFRESH`] of the last one,
    /// or when no session or open connection to the peer exists.
    pub(super) async fn typing(&mut self, peer: UserId, active: bool) -> Result<bool, Error> {
        if !self.signals.sharing.typing
            || self.standing(&peer).await? != requests::Standing::Accepted
        {
            return Ok(false);
        }
        let now = self.time.now_ms();
        let last = self.signals.typing_sent.get(&peer).copied();
        let due = match (active, last) {
            (true, Some((at, true))) => now >= at + TYPING_REFRESH.as_millis() as u64,
            (true, _) => true,
            // "Stopped" only after "typing".
            (false, last) => last.is_some_and(|(_, typing)| typing),
        };
        if !due {
            return Ok(false);
        }
        let sent = self.send_signals(&[peer], Signal::Typing(active)).await? == 1;
        if sent {
            self.signals.typing_sent.insert(peer, (now, active));
            bound(&mut self.signals.typing_sent, MAX_CACHED_PEERS);
        }
        Ok(sent)
    }

    /// Encrypts `signal` for each peer that has a session and an open direct connection, in
    /// one write, and sends them without waiting. Returns how many went out.
    async fn send_signals(&mut self, peers: &[UserId], signal: Signal) -> Result<usize, Error> {
        if peers.is_empty() {
            return Ok(0);
        }
        let Ok(snapshot) = self.net.status().await else {
            return Ok(0);
        };
        let mut pending = Pending::new(Batch::new(), Vec::new());
        let mut out = Vec::new();
        for peer in peers {
            let Some(record) = self.known_record(peer) else {
                continue;
            };
            if !snapshot.connected.contains(&record.device) {
                continue;
            }
            self.load_sessions(peer).await?;
            // A signal never starts a session.
            if self.sessions.get(peer).is_none_or(Vec::is_empty) {
                continue;
            }
            let body = Body::Control(Control {
                id: MessageId::random(&mut UnwrapErr(getrandom::SysRng)),
                stamp: self.clock.tick(self.time.now_ms()),
                signal,
            });
            let payload = body.to_payload().to_bytes().to_vec();
            let Some((envelope, _)) = self.try_seal(peer, &payload)? else {
                continue;
            };
            self.stage_sessions(&mut pending.batch, peer)?;
            out.push((record.device, envelope));
        }
        if out.is_empty() {
            return Ok(0);
        }
        // The advanced sessions are durable before anything leaves.
        self.commit(pending).await?;
        let sent = out.len();
        for (device, envelope) in out {
            let net = self.net.clone();
            tokio::spawn(async move {
                let _ = net.signal(device, envelope).await;
            });
        }
        Ok(sent)
    }

    /// Takes a signal from `sender`. Nothing is stored; what changes is shown as an
    /// ephemeral event.
    pub(super) fn receive_signal(
        &mut self,
        sender: UserId,
        accepted: bool,
        via_relay: bool,
        stamp: Stamp,
        signal: Signal,
    ) {
        let now = self.time.now_ms();
        if !accepted || via_relay || now.saturating_sub(hlc::millis(stamp)) > SIGNAL_MAX_AGE_MS {
            return;
        }
        let gap_ok = self
            .signals
            .last_shown
            .get(&sender)
            .is_none_or(|at| now >= at + MIN_EVENT_GAP_MS);
        match signal {
            Signal::Typing(active) if self.signals.sharing.typing => {
                let shown = self.signals.typing(&sender);
                let until = now + TYPING_TIMEOUT.as_millis() as u64;
                if active && shown {
                    self.signals.typing_until.insert(sender, until);
                } else if active && gap_ok {
                    // A start within the gap is neither shown nor remembered: the next
                    // repeat shows it.
                    self.signals.typing_until.insert(sender, until);
                    bound(&mut self.signals.typing_until, MAX_CACHED_PEERS);
                    self.show(
                        sender,
                        Event::Typing {
                            peer: sender,
                            active: true,
                        },
                    );
                } else if !active && shown {
                    // A stop is always shown: it never leaves a stale indicator.
                    self.signals.typing_until.remove(&sender);
                    self.show(
                        sender,
                        Event::Typing {
                            peer: sender,
                            active: false,
                        },
                    );
                }
            }
            Signal::Presence(online) if self.signals.sharing.presence => {
                let before = self.signals.presence(&sender);
                self.signals.presence.insert(
                    sender,
                    Presence {
                        online,
                        last_seen_ms: now,
                    },
                );
                bound(&mut self.signals.presence, MAX_CACHED_PEERS);
                if before.is_none_or(|p| p.online != online) && (gap_ok || !online) {
                    self.show(
                        sender,
                        Event::Presence {
                            peer: sender,
                            online,
                            last_seen_ms: now,
                        },
                    );
                }
                // Answered when it just came online here (our earlier presence may have
                // reached it before it shared), else at most every half round.
                let told = self.signals.presence_sent.get(&sender);
                let new = before.is_none_or(|p| !p.online);
                let stale = told.is_none_or(|at| now >= at + PRESENCE_EVERY.as_millis() as u64 / 2);
                if online && ((new && gap_ok) || stale) && !self.signals.answer.contains(&sender) {
                    self.signals.answer.push(sender);
                }
            }
            _ => {}
        }
    }

    fn show(&mut self, peer: UserId, event: Event) {
        self.signals.last_shown.insert(peer, self.time.now_ms());
        bound(&mut self.signals.last_shown, MAX_CACHED_PEERS);
        self.publish_ephemeral(event);
    }

    /// Publishes an ephemeral event to live subscribers, with the cursor of the last event in
    /// the log (none while the log is empty).
    pub(super) fn publish_ephemeral(&self, event: Event) {
        // With an empty log there is no cursor to carry that a resuming client could not
        // mistake for the first real event's: such a node has no chat to signal in anyway.
        let Some(last) = self.next_event.checked_sub(1) else {
            return;
        };
        let _ = self.events.send((Cursor(last), event));
    }

    /// Runs out typing indicators and presence, and sends presence when it is due.
    pub(super) async fn signals_tick(&mut self) {
        let now = self.time.now_ms();
        let stopped: Vec<UserId> = self
            .signals
            .typing_until
            .iter()
            .filter(|(_, until)| **until <= now)
            .map(|(peer, _)| *peer)
            .collect();
        for peer in stopped {
            self.signals.typing_until.remove(&peer);
            self.publish_ephemeral(Event::Typing {
                peer,
                active: false,
            });
        }
        let timeout = PRESENCE_TIMEOUT.as_millis() as u64;
        let gone: Vec<(UserId, u64)> = self
            .signals
            .presence
            .iter()
            .filter(|(_, p)| p.online && now >= p.last_seen_ms + timeout)
            .map(|(peer, p)| (*peer, p.last_seen_ms))
            .collect();
        for (peer, last_seen_ms) in gone {
            self.signals.presence.insert(
                peer,
                Presence {
                    online: false,
                    last_seen_ms,
                },
            );
            self.publish_ephemeral(Event::Presence {
                peer,
                online: false,
                last_seen_ms,
            });
        }
        if !self.signals.sharing.presence || self.failed {
            return;
        }
        let mut targets = std::mem::take(&mut self.signals.answer);
        if now >= self.signals.next_round {
            self.signals.next_round = now + PRESENCE_EVERY.as_millis() as u64;
            let probe = PRESENCE_PROBE_EVERY.as_millis() as u64;
            // Contacts who shared lately, and contacts not probed for a while.
            let candidates = match self.accepted_peers().await {
                Ok(candidates) => candidates,
                Err(e) => {
                    warn!("cannot list contacts for presence: {e}");
                    return;
                }
            };
            for peer in candidates {
                let shares = self
                    .signals
                    .presence(&peer)
                    .is_some_and(|p| now < p.last_seen_ms + timeout);
                let probed = self
                    .signals
                    .presence_sent
                    .get(&peer)
                    .is_some_and(|at| now < at + probe);
                if (shares || !probed) && !targets.contains(&peer) {
                    targets.push(peer);
                }
            }
        }
        if targets.is_empty() {
            return;
        }
        match self.send_signals(&targets, Signal::Presence(true)).await {
            Ok(_) => {
                for peer in targets {
                    self.signals.presence_sent.insert(peer, now);
                }
                bound(&mut self.signals.presence_sent, MAX_CACHED_PEERS);
            }
            Err(e) => warn!("cannot send presence: {e}"),
        }
    }
}
