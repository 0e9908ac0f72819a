//! Who may write to this account, and where their messages go.
//!
//! A sender is **accepted** when they are a contact or have a chat (the user wrote to them,
//! added them, or accepted their request), **blocked** when the user blocked them, and a
//! **stranger** otherwise. A stranger's messages land in a message request: stored like any
//! message, but listed apart from the chats, with no receipt sent back and no event a chat
//! screen shows as a message. Requests are bounded: at most
//! [`MAX_REQUEST_MESSAGES_PER_SENDER`] messages per sender and [`MAX_REQUEST_MESSAGES`] in
//! all; past either cap the oldest message goes (and is counted), and a request left with no
//! message goes with its sessions. So strangers, however many accounts they make, can fill
//! a bounded corner of the disk and nothing else.
//!
//! A blocked sender's envelopes are opened (the sender is only known inside them) and
//! refused, changing nothing; the network task is told to refuse that peer's direct
//! deliveries before opening them from then on. A stranger is delivered to at the stranger
//! rate; only an accepted sender's deliveries promote their peer to the trusted rate.

use std::collections::HashSet;

use super::*;
use crate::tables::{Blocked, BlockedRow, RequestRow, Requests};

/// Messages held per message request; a sender's oldest goes past it.
pub const MAX_REQUEST_MESSAGES_PER_SENDER: usize = 20;
/// Messages held in all message requests together; the oldest of all goes past it.
pub const MAX_REQUEST_MESSAGES: usize = 1000;

/// Where a sender stands with this account.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Standing {
    Accepted,
    Stranger,
    Blocked,
}

/// The message requests, as committed (every row of the `requests` table: at most
/// [`MAX_REQUEST_MESSAGES`], so they are kept in memory).
#[derive(Debug, Default)]
pub(super) struct Area {
    rows: HashMap<Conv, RequestRow>,
}

impl Area {
    pub(super) fn load(rows: Vec<(Conv, RequestRow)>) -> Self {
        Self {
            rows: rows.into_iter().collect(),
        }
    }

    /// Applies what a committed group staged: rows with no message left are gone.
    pub(super) fn apply(&mut self, staged: HashMap<Conv, RequestRow>) {
        for (conv, row) in staged {
            if row.messages.is_empty() {
                self.rows.remove(&conv);
            } else {
                self.rows.insert(conv, row);
            }
        }
    }

    pub(super) fn get(&self, conv: &Conv) -> Option<&RequestRow> {
        self.rows.get(conv)
    }

    pub(super) fn remove(&mut self, conv: &Conv) -> Option<RequestRow> {
        self.rows.remove(conv)
    }

    pub(super) fn list(&self) -> impl Iterator<Item = &RequestRow> {
        self.rows.values()
    }
}

/// Adds a stranger's message to its request in `staged` (over the committed `area`), dropping
/// the oldest messages past the caps. Returns how many messages were dropped. The caller has
/// put the message's own rows in `batch` already, so that dropping it (when it is the oldest)
/// deletes them after.
pub(super) fn stage_request_message(
    area: &Area,
    staged: &mut HashMap<Conv, RequestRow>,
    batch: &mut Batch,
    conv: Conv,
    peer: UserId,
    key: (Stamp, [u8; 16]),
    text: &str,
) -> u64 {
    let mut row = staged
        .get(&conv)
        .or_else(|| area.get(&conv))
        .cloned()
        .unwrap_or(RequestRow {
            peer,
            messages: Vec::new(),
            last_text: String::new(),
            dropped: 0,
        });
    let at = row.messages.partition_point(|m| *m < key);
    if at == row.messages.len() {
        row.last_text = text.chars().take(100).collect();
    }
    row.messages.insert(at, key);
    let mut dropped = 0;
    while row.messages.len() > MAX_REQUEST_MESSAGES_PER_SENDER {
        drop_oldest(batch, conv, &mut row);
        dropped += 1;
    }
    staged.insert(conv, row);
    // The total cap: the oldest message of all requests goes, whoever sent it.
    let mut total: usize = staged.values().map(|r| r.messages.len()).sum::<usize>()
        + area
            .rows
            .iter()
            .filter(|(conv, _)| !staged.contains_key(*conv))
            .map(|(_, r)| r.messages.len())
            .sum::<usize>();
    while total > MAX_REQUEST_MESSAGES {
        let oldest = staged
            .iter()
            .chain(area.rows.iter().filter(|(c, _)| !staged.contains_key(*c)))
            .filter_map(|(conv, row)| row.messages.first().map(|m| (*m, *conv)))
            .min();
        let Some((_, victim)) = oldest else { break };
        let mut row = match staged.remove(&victim) {
            Some(row) => row,
            None => match area.get(&victim) {
                Some(row) => row.clone(),
                None => break,
            },
        };
        drop_oldest(batch, victim, &mut row);
        staged.insert(victim, row);
        dropped += 1;
        total -= 1;
    }
    dropped
}

/// The cursors of the logged events that carry a message of the conversation with `peer` or
/// its delivery states: deleting the conversation deletes them too, so that its texts leave
/// the event log (subscribers resuming past them see a gap in the cursors).
fn events_about(store: &Store, peer: &UserId) -> Result<Vec<u64>, StoreError> {
    const PAGE: usize = 4096;
    let mut found = Vec::new();
    let mut from = 0;
    loop {
        let page = store.scan::<Events>(from.., ScanDirection::Forward, PAGE)?;
        for (seq, EventRow(event)) in &page {
            let about = match event {
                Event::MessageReceived(m) | Event::MessageSent(m) | Event::RequestReceived(m) => {
                    m.peer == *peer
                }
                Event::DeliveryStateChanged { peer: p, .. } => p == peer,
                _ => false,
            };
            if about {
                found.push(*seq);
            }
        }
        match page.last() {
            Some((last, _)) if page.len() == PAGE => from = last + 1,
            _ => return Ok(found),
        }
    }
}

/// Drops the oldest message of a request.
fn drop_oldest(batch: &mut Batch, conv: Conv, row: &mut RequestRow) {
    if row.messages.is_empty() {
        return;
    }
    let (stamp, id) = row.messages.remove(0);
    batch.delete::<Messages>(&(conv, stamp, id));
    batch.delete::<MessageIndex>(&(conv, id));
    row.dropped = row.dropped.saturating_add(1);
}

impl Core {
    /// Where `peer` stands, from the cache or the store.
    pub(super) async fn standing(&mut self, peer: &UserId) -> Result<Standing, Error> {
        if let Some(standing) = self.standing.get(peer) {
            return Ok(*standing);
        }
        let conv = self.conv(peer);
        let standing = self
            .read(move |s| {
                Ok(if s.get::<Blocked>(&conv)?.is_some() {
                    Standing::Blocked
                } else if s.get::<Contacts>(&conv)?.is_some()
                    || s.get::<Conversations>(&conv)?.is_some()
                {
                    Standing::Accepted
                } else {
                    Standing::Stranger
                })
            })
            .await?;
        if self.standing.len() >= MAX_CACHED_PEERS {
            self.standing.clear();
        }
        self.standing.insert(*peer, standing);
        Ok(standing)
    }

    /// Stages turning `peer`'s request, if there is one, into a chat: its summary goes into
    /// `summaries` (for the caller to put) and the request row is deleted. Returns the
    /// request, which the caller removes from the area once committed.
    pub(super) fn stage_accept(
        &self,
        batch: &mut Batch,
        summaries: &mut HashMap<Conv, ConversationRow>,
        peer: UserId,
    ) -> Option<RequestRow> {
        let conv = self.conv(&peer);
        let request = self.area.get(&conv)?.clone();
        let summary = summaries.entry(conv).or_insert(ConversationRow {
            peer,
            last_stamp: 0,
            last_text: String::new(),
            unread: 0,
        });
        if let Some((stamp, _)) = request.messages.last()
            && *stamp >= summary.last_stamp
        {
            summary.last_stamp = *stamp;
            summary.last_text.clone_from(&request.last_text);
        }
        summary.unread = summary
            .unread
            .saturating_add(u32::try_from(request.messages.len()).unwrap_or(u32::MAX));
        batch.delete::<Requests>(&conv);
        Some(request)
    }

    /// Accepts `peer`'s message request: it becomes a chat, its sender is trusted, and the
    /// messages that came through relays are confirmed to the sender at last.
    pub(super) async fn accept_request(&mut self, peer: UserId) -> Result<(), Error> {
        let mut pending = Pending::new(Batch::new(), Vec::new());
        let mut summaries = HashMap::new();
        let Some(request) = self.stage_accept(&mut pending.batch, &mut summaries, peer) else {
            return Err(Error::NoRequest(peer));
        };
        for (conv, summary) in &summaries {
            pending.batch.put::<Conversations>(conv, summary)?;
        }
        let ids: Vec<MessageId> = request
            .messages
            .iter()
            .map(|(_, id)| MessageId::from_bytes(*id))
            .collect();
        self.load_sessions(&peer).await?;
        self.enqueue_receipts(&mut pending, peer, ReceiptKind::Delivered, &ids)
            .await?;
        pending.events.push(Event::ChatChanged {
            peer,
            change: ChatChange::Accepted,
        });
        self.standing.remove(&peer);
        if let Err(e) = self.commit(pending).await {
            self.sessions.remove(&peer);
            return Err(e);
        }
        self.area.remove(&self.conv(&peer));
        self.dispatch_due().await;
        Ok(())
    }

    /// Deletes the conversation with `peer`, chat or request: every message, its summary,
    /// the events that carry its messages, and the messages still waiting to go to `peer`,
    /// then erases them from the files. The contact (if any), the sessions and the block
    /// list stay.
    pub(super) async fn delete_chat(&mut self, peer: UserId) -> Result<usize, Error> {
        let conv = self.conv(&peer);
        let (summary, count, events) = self
            .read(move |s| {
                let summary = s.get::<Conversations>(&conv)?;
                let count =
                    s.count::<Messages>(&(conv, 0, [0; 16]), &(conv, u64::MAX, [0xff; 16]))?;
                Ok((summary, count, events_about(s, &peer)?))
            })
            .await?;
        let request = self.area.get(&conv).cloned();
        if summary.is_none() && request.is_none() && count == 0 {
            return Err(Error::NoChat(peer));
        }
        let mut pending = Pending::new(Batch::new(), Vec::new());
        self.stage_drop_files(&mut pending, conv).await?;
        let batch = &mut pending.batch;
        batch.delete_range::<Messages>(&(conv, 0, [0; 16]), &(conv, u64::MAX, [0xff; 16]));
        batch.delete_range::<MessageIndex>(&(conv, [0; 16]), &(conv, [0xff; 16]));
        batch.delete_range::<crate::tables::MessageMeta>(
            &(conv, 0, [0; 16]),
            &(conv, u64::MAX, [0xff; 16]),
        );
        batch.delete_range::<crate::tables::EditHistory>(
            &(conv, [0; 16], 0),
            &(conv, [0xff; 16], u64::MAX),
        );
        batch.delete_range::<crate::tables::EventIndex>(
            &(conv, [0; 16], 0),
            &(conv, [0xff; 16], u64::MAX),
        );
        batch.delete_range::<crate::tables::Orphans>(
            &(conv, [0; 16], (0, [0; 16])),
            &(conv, [0xff; 16], (u64::MAX, [0xff; 16])),
        );
        batch.delete_range::<crate::tables::Notices>(
            &(conv, 0, [0; 16]),
            &(conv, u64::MAX, [0xff; 16]),
        );
        // Queue entries of its timers find no message when they come due, and go then.
        batch.delete_range::<crate::tables::Expiries>(
            &(conv, 0, [0; 16]),
            &(conv, u64::MAX, [0xff; 16]),
        );
        batch.delete::<crate::tables::Timers>(&conv);
        batch.delete::<Conversations>(&conv);
        batch.delete::<Requests>(&conv);
        for seq in &events {
            batch.delete::<Events>(seq);
        }
        let cancelled = self.queue.entries_for(&peer);
        for seq in &cancelled {
            batch.delete::<Outbox>(seq);
        }
        pending.events.push(Event::ChatChanged {
            peer,
            change: ChatChange::Deleted,
        });
        pending
            .search
            .push(search::SearchOp::RemoveConversation(conv));
        self.standing.remove(&peer);
        self.commit(pending).await?;
        self.timers.remove(&conv);
        for seq in cancelled {
            self.queue.remove(seq);
        }
        self.area.remove(&conv);
        let erased = self
            .read(move |s| {
                s.flush()?;
                s.erase::<Messages>(&(conv, 0, [0; 16]), &(conv, u64::MAX, [0xff; 16]))?;
                s.erase::<MessageIndex>(&(conv, [0; 16]), &(conv, [0xff; 16]))?;
                s.erase::<crate::tables::MessageMeta>(
                    &(conv, 0, [0; 16]),
                    &(conv, u64::MAX, [0xff; 16]),
                )?;
                s.erase::<crate::tables::EditHistory>(
                    &(conv, [0; 16], 0),
                    &(conv, [0xff; 16], u64::MAX),
                )?;
                s.erase::<crate::tables::EventIndex>(
                    &(conv, [0; 16], 0),
                    &(conv, [0xff; 16], u64::MAX),
                )?;
                s.erase::<Events>(&0, &u64::MAX)
            })
            .await;
        if let Err(e) = erased {
            // Deleted all the same: compaction erases the rows from the files later.
            warn!("cannot erase a deleted conversation from the files yet: {e}");
        }
        Ok(count)
    }

    /// Blocks `peer`: its deliveries are refused from now on, and its message request, if
    /// any, is deleted. A chat with `peer` keeps its history.
    pub(super) async fn block(&mut self, peer: UserId) -> Result<(), Error> {
        let conv = self.conv(&peer);
        if self.area.get(&conv).is_some() {
            self.delete_chat(peer).await?;
        }
        let mut pending = Pending::new(Batch::new(), Vec::new());
        pending.batch.put::<Blocked>(
            &conv,
            &BlockedRow {
                peer,
                since_ms: self.time.now_ms(),
            },
        )?;
        pending.events.push(Event::ChatChanged {
            peer,
            change: ChatChange::Blocked,
        });
        self.standing.remove(&peer);
        self.commit(pending).await?;
        Ok(())
    }

    /// Unblocks `peer`: it is a stranger again (or a contact, if it is one).
    pub(super) async fn unblock(&mut self, peer: UserId) -> Result<(), Error> {
        let conv = self.conv(&peer);
        if self.read(move |s| s.get::<Blocked>(&conv)).await?.is_none() {
            return Ok(());
        }
        let mut pending = Pending::new(Batch::new(), Vec::new());
        pending.batch.delete::<Blocked>(&conv);
        pending.events.push(Event::ChatChanged {
            peer,
            change: ChatChange::Unblocked,
        });
        self.standing.remove(&peer);
        self.commit(pending).await?;
        Ok(())
    }

    pub(super) async fn blocked(&self) -> Result<Vec<UserId>, Error> {
        let rows = self
            .read(|s| s.scan::<Blocked>(.., ScanDirection::Forward, usize::MAX))
            .await?;
        let mut blocked: Vec<(u64, UserId)> = rows
            .into_iter()
            .map(|(_, r)| (r.since_ms, r.peer))
            .collect();
        blocked.sort();
        Ok(blocked.into_iter().map(|(_, peer)| peer).collect())
    }

    pub(super) fn requests(&self) -> Vec<MessageRequest> {
        let mut requests: Vec<MessageRequest> = self
            .area
            .list()
            .map(|row| MessageRequest {
                peer: row.peer,
                first_ms: row.messages.first().map_or(0, |(s, _)| hlc::millis(*s)),
                last_ms: row.messages.last().map_or(0, |(s, _)| hlc::millis(*s)),
                last_text: row.last_text.clone(),
                messages: u32::try_from(row.messages.len()).unwrap_or(u32::MAX),
                dropped: row.dropped,
            })
            .collect();
        requests.sort_by_key(|r| std::cmp::Reverse(r.last_ms));
        requests
    }

    /// Requests whose every message was dropped lose their sessions too, so that strangers
    /// leave nothing behind once their messages are gone.
    pub(super) fn stage_emptied_requests(
        &self,
        batch: &mut Batch,
        staged: &HashMap<Conv, RequestRow>,
    ) -> Result<HashSet<UserId>, Error> {
        let mut emptied = HashSet::new();
        for (conv, row) in staged {
            if row.messages.is_empty() {
                batch.delete::<Requests>(conv);
                batch.delete::<Sessions>(conv);
                emptied.insert(row.peer);
            } else {
                batch.put::<Requests>(conv, row)?;
            }
        }
        Ok(emptied)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(seed: u8) -> UserId {
        use rand_chacha::{ChaCha20Rng, rand_core::SeedableRng};
        AccountKey::generate(&mut ChaCha20Rng::from_seed([seed; 32])).user_id()
    }

    fn key(stamp: u64) -> (Stamp, [u8; 16]) {
        let mut id = [0u8; 16];
        id[..8].copy_from_slice(&stamp.to_be_bytes());
        (stamp, id)
    }

    #[test]
    fn a_sender_past_its_cap_loses_its_oldest_message() {
        let area = Area::default();
        let mut staged = HashMap::new();
        let mut batch = Batch::new();
        let conv = [1; 16];
        let mut dropped = 0;
        for stamp in 0..(MAX_REQUEST_MESSAGES_PER_SENDER as u64 + 5) {
            dropped += stage_request_message(
                &area,
                &mut staged,
                &mut batch,
                conv,
                user(1),
                key(100 + stamp),
                "hi",
            );
        }
        let row = &staged[&conv];
        assert_eq!(dropped, 5);
        assert_eq!(row.dropped, 5);
        assert_eq!(row.messages.len(), MAX_REQUEST_MESSAGES_PER_SENDER);
        assert_eq!(row.messages[0], key(105), "the oldest went first");
    }

    #[test]
    fn past_the_total_cap_the_oldest_message_of_all_goes() {
        // Committed: many strangers, the area full.
        let mut rows = Vec::new();
        let per = MAX_REQUEST_MESSAGES_PER_SENDER as u64;
        let senders = MAX_REQUEST_MESSAGES as u64 / per;
        for s in 0..senders {
            let messages = (0..per).map(|m| key(1_000 + s * per + m)).collect();
            let row = RequestRow {
                peer: user(1),
                messages,
                last_text: String::new(),
                dropped: 0,
            };
            rows.push(([s as u8 + 1; 16], row));
        }
        let area = Area::load(rows);
        let mut staged = HashMap::new();
        let mut batch = Batch::new();
        let newcomer = [0xee; 16];
        let dropped = stage_request_message(
            &area,
            &mut staged,
            &mut batch,
            newcomer,
            user(2),
            key(99_999),
            "hello",
        );
        assert_eq!(dropped, 1);
        assert_eq!(staged[&newcomer].messages, vec![key(99_999)]);
        let first = &staged[&[1; 16]];
        assert_eq!(first.messages.len(), MAX_REQUEST_MESSAGES_PER_SENDER - 1);
        assert_eq!(first.dropped, 1);
        assert!(!first.messages.contains(&key(1_000)));
    }

    #[test]
    fn a_request_that_loses_every_message_is_emptied_for_its_sessions_to_go() {
        let per = MAX_REQUEST_MESSAGES_PER_SENDER as u64;
        let mut rows = vec![(
            [1; 16],
            RequestRow {
                peer: user(1),
                messages: vec![key(1)],
                last_text: String::new(),
                dropped: 0,
            },
        )];
        for s in 1..(MAX_REQUEST_MESSAGES as u64 / per) {
            let messages = (0..per).map(|m| key(1_000 + s * per + m)).collect();
            rows.push((
                [s as u8 + 1; 16],
                RequestRow {
                    peer: user(1),
                    messages,
                    last_text: String::new(),
                    dropped: 0,
                },
            ));
        }
        let area = Area::load(rows);
        let mut staged = HashMap::new();
        let mut batch = Batch::new();
        for m in 0..per {
            stage_request_message(
                &area,
                &mut staged,
                &mut batch,
                [0xee; 16],
                user(2),
                key(50_000 + m),
                "x",
            );
        }
        assert!(staged[&[1; 16]].messages.is_empty());
        let mut applied = Area::load(Vec::new());
        applied.apply(staged);
        assert!(applied.get(&[1; 16]).is_none());
    }
}
