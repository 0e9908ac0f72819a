//! Delivery and read receipts in groups (`docs/protocol/groups.md` §10.2): "delivered to n
//! of m members, read by k".
//!
//! A member's node acknowledges every message from another member once it holds it durably:
//! the message's id joins the group's due list (`group_receipts_due`) in the same write as
//! the message, and on the outbox tick, [`receipt_delay_ms`] after the first of them arrived,
//! the whole list goes to the log as one `RECEIPT` body (up to 256 ids each), in the same
//! write that empties it. A crash therefore neither loses nor repeats a receipt. Read
//! receipts go the same way when the user marks the group read, if this node sends them.
//!
//! The author counts them in `group_receipts`, one row per message it sent, made with the
//! message: the number of other members at that time, and which accounts acknowledged it
//! (by the first 8 bytes of their address, so that a member counts once however many devices
//! or receipts it has, and no count passes the number of members).

use std::collections::{BTreeMap, BTreeSet};

use super::*;
use crate::{
    body::{Body, MAX_RECEIPT_IDS, Receipt, ReceiptKind},
    group::{
        GroupDelivery,
        tables::{GroupReceiptRow, GroupReceipts, GroupReceiptsDue},
    },
};

/// How long a received message waits at least for later ones to share its receipt: a
/// burst of messages costs each member one receipt, not one per message.
pub(crate) const RECEIPT_DELAY_MS: u64 = 2_000;

/// How far apart, on average, the group's members' receipts come at most: each member
/// waits this long per member of the group, so that the whole group sends about 50 receipts
/// a second at most, whatever its size. Every member reads every receipt, so without it a
/// group of 1,000 would read 1,000 receipts per burst each: the work would grow with the
/// square of its size.
pub(crate) const RECEIPT_SPACING_MS: u64 = 20;

/// The longest a receipt waits: at 3,000 members and more.
pub(crate) const MAX_RECEIPT_DELAY_MS: u64 = 60_000;

/// How long a received message waits for later ones to share its receipt, in a group of
/// `members` (leaves): [`RECEIPT_DELAY_MS`], or [`RECEIPT_SPACING_MS`] per member if that
/// is longer, at most [`MAX_RECEIPT_DELAY_MS`].
pub(crate) fn receipt_delay_ms(members: usize) -> u64 {
    let spread = RECEIPT_SPACING_MS.saturating_mul(u64::try_from(members).unwrap_or(u64::MAX));
    spread.clamp(RECEIPT_DELAY_MS, MAX_RECEIPT_DELAY_MS)
}

/// Receipts read from one page of the log: who sent them, of what kind, for which ids.
pub(super) type PageReceipts = Vec<(UserId, ReceiptKind, Vec<MessageId>)>;

/// How a receipt row names an account.
fn short(user: &UserId) -> [u8; 8] {
    let mut out = [0; 8];
    out.copy_from_slice(&user.as_bytes()[..8]);
    out
}

impl GroupReceiptRow {
    pub(super) fn delivery(&self) -> GroupDelivery {
        let count = |list: &Vec<[u8; 8]>| u32::try_from(list.len()).unwrap_or(u32::MAX);
        GroupDelivery {
            delivered: count(&self.delivered),
            read: count(&self.read),
            members: self.members,
        }
    }

    /// Counts `who` under `kind` (a read counts as delivered too); whether anything changed.
    fn count(&mut self, who: [u8; 8], kind: ReceiptKind) -> bool {
        let room = self.members as usize;
        let mut changed = false;
        let mut add = |list: &mut Vec<[u8; 8]>| {
            if list.len() < room && !list.contains(&who) {
                list.push(who);
                changed = true;
            }
        };
        add(&mut self.delivered);
        if kind == ReceiptKind::Read {
            add(&mut self.read);
        }
        changed
    }
}

impl Core {
    /// Reads the receipts each group still owes (once the groups are live); they go out
    /// after the usual delay.
    pub(super) async fn load_receipts_due(&mut self) -> Result<(), Error> {
        let rows = self
            .read(|s| s.scan::<GroupReceiptsDue>(.., ScanDirection::Forward, usize::MAX))
            .await?;
        let now = self.time.now_ms();
        for (conv, ids) in rows {
            if let Some(live) = self.groups.live.values_mut().find(|l| l.conv == conv) {
                live.due = ids;
                live.due_since_ms = now;
            }
        }
        Ok(())
    }

    /// Stages the receipt row of a message we send to group `id`: nobody has it yet.
    pub(super) fn stage_receipt_row(
        &self,
        pending: &mut Pending,
        id: GroupId,
        message: MessageId,
    ) -> Result<GroupDelivery, Error> {
        let live = self.live(id)?;
        let me = self.account.user_id();
        // Accounts, not devices (an account with several leaves counts once), without the
        // whole `GroupInfo`: this runs on every send.
        let others: BTreeSet<UserId> = live
            .mls()
            .members()
            .iter()
            .filter_map(|m| glue::account(&m.identity))
            .filter(|user| *user != me)
            .collect();
        let row = GroupReceiptRow {
            members: u32::try_from(others.len()).unwrap_or(u32::MAX),
            ..GroupReceiptRow::default()
        };
        pending
            .batch
            .put::<GroupReceipts>(&(live.conv, *message.as_bytes()), &row)?;
        Ok(row.delivery())
    }

    /// Adds messages we now hold durably to the group's due list, in `pending`.
    pub(super) fn stage_due(
        &mut self,
        pending: &mut Pending,
        id: GroupId,
        received: &[MessageId],
    ) -> Result<(), Error> {
        if received.is_empty() {
            return Ok(());
        }
        let now = self.time.now_ms();
        let live = self.live_mut(id)?;
        if live.due.is_empty() {
            live.due_since_ms = now;
        }
        live.due.extend(received.iter().map(|m| *m.as_bytes()));
        pending
            .batch
            .put::<GroupReceiptsDue>(&live.conv, &live.due)?;
        Ok(())
    }

    /// Counts the receipts of a page for the messages they name that we sent, in `pending`;
    /// returns the new counts, to publish once the page is durable.
    pub(super) async fn count_receipts(
        &self,
        pending: &mut Pending,
        conv: Conv,
        receipts: PageReceipts,
    ) -> Result<Vec<(MessageId, GroupDelivery)>, Error> {
        let me = self.account.user_id();
        let named: BTreeSet<[u8; 16]> = receipts
            .iter()
            .filter(|(sender, ..)| *sender != me)
            .flat_map(|(_, _, ids)| ids.iter().map(|m| *m.as_bytes()))
            .collect();
        if named.is_empty() {
            return Ok(Vec::new());
        }
        // Only our own messages have a row: the others' ids find nothing.
        let mut rows: BTreeMap<[u8; 16], GroupReceiptRow> = self
            .read(move |s| {
                let mut rows = BTreeMap::new();
                for id in named {
                    if let Some(row) = s.get::<GroupReceipts>(&(conv, id))? {
                        rows.insert(id, row);
                    }
                }
                Ok(rows)
            })
            .await?;
        let mut changed = BTreeSet::new();
        for (sender, kind, ids) in receipts {
            if sender == me {
                continue;
            }
            let who = short(&sender);
            for message in ids {
                if let Some(row) = rows.get_mut(message.as_bytes())
                    && row.count(who, kind)
                {
                    changed.insert(*message.as_bytes());
                }
            }
        }
        let mut counts = Vec::with_capacity(changed.len());
        for id in changed {
            let row = &rows[&id];
            pending.batch.put::<GroupReceipts>(&(conv, id), row)?;
            counts.push((MessageId::from_bytes(id), row.delivery()));
        }
        Ok(counts)
    }

    /// Publishes the counts a durable page moved.
    pub(super) fn publish_receipts(&self, id: GroupId, counts: Vec<(MessageId, GroupDelivery)>) {
        for (message, delivery) in counts {
            self.publish_ephemeral(Event::Group {
                group: id,
                event: GroupEvent::Receipts {
                    id: message,
                    delivery,
                },
            });
        }
    }

    /// On the outbox tick: sends the delivery receipts that waited long enough (or fill a
    /// receipt), in every group we are in.
    pub(crate) async fn send_group_receipts(&mut self) {
        let now = self.time.now_ms();
        let due = self.active_groups_where(|live| {
            !live.due.is_empty()
                && (live.due.len() >= MAX_RECEIPT_IDS
                    || now
                        >= live
                            .due_since_ms
                            .saturating_add(receipt_delay_ms(live.mls().member_count())))
        });
        for id in due {
            if let Err(e) = self.flush_due(id).await {
                if matches!(e, Error::Group(GroupError::Busy)) {
                    // A member's leave waits for a commit: nobody sends until it is made.
                    debug!(group = %id.short(), "receipts wait for a commit");
                } else {
                    warn!(group = %id.short(), "cannot send the group's receipts: {e}");
                }
                if let Some(live) = self.groups.live.get_mut(&id) {
                    // Not every tick: the next try after another delay.
                    live.due_since_ms = now;
                }
            }
        }
    }

    /// Sends group `id`'s due list as delivery receipts, in the write that empties it.
    async fn flush_due(&mut self, id: GroupId) -> Result<(), Error> {
        let live = self.live(id)?;
        let (conv, due) = (live.conv, live.due.clone());
        let ids: Vec<MessageId> = due.iter().copied().map(MessageId::from_bytes).collect();
        let mut pending = Pending::new(Batch::new(), Vec::new());
        let seqs = self
            .stage_receipts(&mut pending, id, ReceiptKind::Delivered, &ids)
            .await?;
        pending.batch.delete::<GroupReceiptsDue>(&conv);
        self.commit(pending).await?;
        self.live_mut(id)?.due.clear();
        self.after_group_write(id, &seqs);
        Ok(())
    }

    /// Stages receipts of `kind` for `ids` as group messages (up to [`MAX_RECEIPT_IDS`]
    /// each); returns their outbox sequence numbers, for [`Core::after_group_write`].
    pub(super) async fn stage_receipts(
        &mut self,
        pending: &mut Pending,
        id: GroupId,
        kind: ReceiptKind,
        ids: &[MessageId],
    ) -> Result<Vec<u64>, Error> {
        let mut seqs = Vec::new();
        for chunk in ids.chunks(MAX_RECEIPT_IDS) {
            let receipt_id = MessageId::random(&mut UnwrapErr(getrandom::SysRng));
            let body = Body::Receipt(Receipt {
                id: receipt_id,
                stamp: self.clock.tick(self.time.now_ms()),
                kind,
                messages: chunk.to_vec(),
            });
            let payload = body.to_payload().to_bytes().to_vec();
            seqs.push(
                self.stage_group_message(pending, id, receipt_id, payload)
                    .await?,
            );
        }
        Ok(seqs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn receipts_wait_longer_in_larger_groups_so_the_group_sends_about_50_a_second() {
        assert_eq!(receipt_delay_ms(3), RECEIPT_DELAY_MS);
        assert_eq!(receipt_delay_ms(100), RECEIPT_DELAY_MS);
        assert_eq!(receipt_delay_ms(300), 6_000);
        assert_eq!(receipt_delay_ms(1_000), 20_000);
        assert_eq!(receipt_delay_ms(10_000), MAX_RECEIPT_DELAY_MS);
        // The group's rate of receipts: at most 50 a second from 100 members up.
        for members in [100_u64, 300, 1_000, 3_000] {
            let per_second = members as f64 * 1_000.0 / receipt_delay_ms(members as usize) as f64;
            assert!(per_second <= 50.0, "{members}: {per_second}");
        }
    }
}
