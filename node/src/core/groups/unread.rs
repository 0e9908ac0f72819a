//! Unread counts of groups: how many messages from other members arrived since the user last
//! read the group, kept in the `group_unread` table in the same write as the messages, so
//! that the chat list shows them at once and after a restart.

use std::ops::Bound;

use super::*;
use crate::{body::ReceiptKind, group::tables::GroupUnread};

impl Core {
    /// Reads each group's unread count (once the groups are live).
    pub(super) async fn load_unread(&mut self) -> Result<(), Error> {
        let rows = self
            .read(|s| s.scan::<GroupUnread>(.., ScanDirection::Forward, usize::MAX))
            .await?;
        for (conv, unread) in rows {
            if let Some(live) = self.groups.live.values_mut().find(|l| l.conv == conv) {
                live.unread = unread;
            }
        }
        Ok(())
    }

    /// Counts a message from another member in `id`'s unread count, in `pending`.
    pub(super) fn count_unread(&mut self, pending: &mut Pending, id: GroupId) -> Result<(), Error> {
        let live = self.live_mut(id)?;
        live.unread = live.unread.saturating_add(1);
        pending.batch.put::<GroupUnread>(&live.conv, &live.unread)?;
        Ok(())
    }

    /// Marks every message of group `id` read. Returns how many were unread. Unless this
    /// node keeps reads to itself ([`crate::Builder::with_group_read_receipts`]), their read
    /// receipts go to the group in the same write (`docs/protocol/groups.md` §10.2).
    ///
    /// The count is exact (kept in the writes that add the messages), so only the newest
    /// messages are read back, a page at a time, until that many unread ones are found: the
    /// chat screen marks a group read on every message it shows, and a long history must not
    /// be read each time.
    pub(super) async fn mark_group_read(&mut self, id: GroupId) -> Result<usize, Error> {
        const PAGE: usize = 256;
        let live = self.live(id)?;
        let (conv, unread) = (live.conv, live.unread as usize);
        if unread == 0 {
            return Ok(0);
        }
        let mut pending = Pending::new(Batch::new(), Vec::new());
        let (mut read, mut keys) = (Vec::new(), Vec::new());
        let mut before = Bound::Included((conv, u64::MAX, [0xFF; 16]));
        loop {
            let upper = before;
            let rows = self
                .read(move |s| {
                    s.scan::<Messages>(
                        (Bound::Included((conv, 0, [0; 16])), upper),
                        ScanDirection::Reverse,
                        PAGE,
                    )
                })
                .await?;
            let full = rows.len() == PAGE;
            for (key, mut row) in rows {
                before = Bound::Excluded(key);
                if row.direction == Direction::Incoming && !row.read {
                    row.read = true;
                    pending.batch.put::<Messages>(&key, &row)?;
                    read.push(MessageId::from_bytes(key.2));
                    keys.push(key);
                }
            }
            if read.len() >= unread || !full {
                break;
            }
        }
        pending.batch.delete::<GroupUnread>(&conv);
        // The clocks of disappearing messages start now that they are read.
        self.start_timers(&mut pending.batch, keys).await?;
        // Oldest first, as the member read them.
        read.reverse();
        let seqs = if self.group_read_receipts && self.live(id)?.row.active {
            self.stage_receipts(&mut pending, id, ReceiptKind::Read, &read)
                .await?
        } else {
            Vec::new()
        };
        self.commit(pending).await?;
        self.live_mut(id)?.unread = 0;
        self.after_group_write(id, &seqs);
        Ok(read.len())
    }
}
