//! Replies, edits, deletes and reactions in groups: the bodies and rules of 1:1 chats
//! (`core/changes.rs`), through the group's log. The log orders every member's view, so a
//! change always comes after its target for members who had the target; one whose target
//! this node never held (it joined later, or deleted it for itself) is dropped and counted.
//! Only a message's author edits or deletes it, within [`crate::EDIT_WINDOW`]; anyone in the
//! group reacts, one reaction per member.

use super::*;
use crate::{
    core::changes::{Change, Target, Targets},
    tables::{MessageMeta, MetaRow},
};

impl Core {
    /// Sends a change of message `target` to group `id` (see the module).
    pub(super) async fn change_in_group(
        &mut self,
        id: GroupId,
        target_id: MessageId,
        change: Change,
    ) -> Result<MessageId, Error> {
        change.check()?;
        if self.room() == Room::Full {
            return Err(Error::StorageFull);
        }
        self.active(id)?;
        let conv = self.live_conv(id)?;
        let Some(mut target) = self.target(&Targets::new(), conv, target_id).await? else {
            return Err(Error::NoMessage(target_id));
        };
        if target.meta.deleted {
            return Err(Error::Deleted);
        }
        let message_id = MessageId::random(&mut UnwrapErr(getrandom::SysRng));
        let stamp = self.clock.tick(self.time.now_ms());
        let me = self.account.user_id();
        let mut pending = Pending::new(Batch::new(), Vec::new());
        let shown = target.apply(&mut pending.batch, &me, me, stamp, &change)?;
        let payload = change
            .body(message_id, stamp, target_id)
            .to_payload()
            .to_bytes()
            .to_vec();
        // Held, like a text, while a member's leave waits for a commit.
        let seq = self
            .stage_or_hold(&mut pending, id, message_id, payload)
            .await?;
        pending
            .batch
            .put::<MessageIndex>(&(conv, *message_id.as_bytes()), &stamp)?;
        self.stage_group_changed(&mut pending, id, target, shown)
            .await?;
        self.commit(pending).await?;
        self.after_group_write(id, &[seq]);
        Ok(message_id)
    }

    /// Applies a change a member sent (`sender`, at `stamp`) to message `target_id` of group
    /// `id`, with the changes and messages the page staged before it in `targets`.
    pub(super) async fn receive_group_change(
        &mut self,
        pending: &mut Pending,
        (id, conv): (GroupId, Conv),
        targets: &mut Targets,
        (sender, stamp): (UserId, Stamp),
        (target_id, change): (MessageId, Change),
    ) -> Result<(), Error> {
        let Some(mut target) = self.target(targets, conv, target_id).await? else {
            *self
                .groups
                .refused
                .entry("change_without_target")
                .or_default() += 1;
            return Ok(());
        };
        let me = self.account.user_id();
        match target.apply(&mut pending.batch, &me, sender, stamp, &change) {
            Ok(shown) => {
                let key = (target.conv, *target.id.as_bytes());
                let target = self.stage_group_changed(pending, id, target, shown).await?;
                targets.insert(key, std::sync::Arc::new(target));
            }
            Err(e) => {
                let code = match e {
                    Error::NotAuthor => "change_not_author",
                    Error::NoMessage(_) => "change_to_notice",
                    _ => "change_window_closed",
                };
                *self.groups.refused.entry(code).or_default() += 1;
            }
        }
        Ok(())
    }

    /// Stages `target` after a change, with the group event for what `shown` (the 1:1 form
    /// of the change's event) says; a deletion also drops its file and scrubs its text from
    /// the event log and the database files.
    async fn stage_group_changed(
        &self,
        pending: &mut Pending,
        id: GroupId,
        target: Target,
        shown: Option<Event>,
    ) -> Result<Target, Error> {
        target.stage(&mut pending.batch)?;
        let by = match target.row.direction {
            Direction::Outgoing => self.account.user_id(),
            Direction::Incoming => target.row.peer,
        };
        let event = match shown {
            Some(Event::MessageEdited {
                id: message,
                text,
                edited_at_ms,
                ..
            }) => Some(GroupEvent::MessageEdited {
                id: message,
                by,
                text,
                edited_at_ms,
            }),
            Some(Event::MessageDeleted { id: message, .. }) => {
                Some(GroupEvent::MessageDeleted { id: message, by })
            }
            Some(Event::ReactionChanged {
                id: message,
                by,
                emoji,
                ..
            }) => Some(GroupEvent::ReactionChanged {
                id: message,
                by,
                emoji,
            }),
            _ => None,
        };
        self.stage_change_effects(pending, &target).await?;
        pending
            .events
            .extend(event.map(|event| Event::Group { group: id, event }));
        Ok(target)
    }

    /// What deleting `target` from this device alone ([`Core::delete_for_me`]) takes in group
    /// `id` beyond what it takes in a 1:1 chat: the receipts' counts of a message of ours, and
    /// its place in the unread count if it was unread. Its id stays in the group's due list:
    /// the author still learns that it arrived.
    pub(in crate::core) fn stage_group_erase(
        &mut self,
        pending: &mut Pending,
        id: GroupId,
        target: &Target,
    ) -> Result<(), Error> {
        pending
            .batch
            .delete::<GroupReceipts>(&(target.conv, *target.id.as_bytes()));
        if target.row.direction == Direction::Incoming && !target.row.read {
            let live = self.live_mut(id)?;
            live.unread = live.unread.saturating_sub(1);
            pending
                .batch
                .put::<crate::group::tables::GroupUnread>(&live.conv, &live.unread)?;
        }
        Ok(())
    }
}

/// Stages the meta row of a new group message that replies to another.
pub(super) fn stage_reply(
    batch: &mut Batch,
    key: (Conv, Stamp, [u8; 16]),
    reply_to: Option<MessageId>,
) -> Result<Option<MetaRow>, Error> {
    let Some(to) = reply_to else {
        return Ok(None);
    };
    let meta = MetaRow {
        reply_to: Some(*to.as_bytes()),
        ..MetaRow::default()
    };
    batch.put::<MessageMeta>(&key, &meta)?;
    Ok(Some(meta))
}
