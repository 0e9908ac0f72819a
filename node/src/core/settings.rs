//! Chat settings: mute, archive and pin, kept per conversation in [`ChatSettings`] and in
//! memory (one small row per conversation that has any), so that the chat list and every
//! received message can consult them without a read.
//!
//! A muted chat's messages arrive and count as unread as usual; clients do not notify about
//! them. An archived chat leaves the main chat list; a message arriving in it while it is not
//! muted brings it back (the way people know from other messengers). Pinned chats come first.

use super::*;
use crate::tables::{ChatSettings, ChatSettingsRow};

/// A change of a conversation's settings ([`crate::Node::mute_chat`] and the others).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Setting {
    /// Muted until this time (Unix milliseconds; `u64::MAX`: until unmuted), or unmuted.
    Mute(Option<u64>),
    Archive(bool),
    Pin(bool),
}

impl Core {
    /// Loads every conversation's settings.
    pub(super) async fn load_settings(&mut self) -> Result<(), Error> {
        let rows = self
            .read(|s| s.scan::<ChatSettings>(.., ScanDirection::Forward, usize::MAX))
            .await?;
        self.settings = rows.into_iter().collect();
        Ok(())
    }

    /// Changes a setting of the conversation with `peer`, which must exist.
    pub(super) async fn set_chat(&mut self, peer: UserId, setting: Setting) -> Result<(), Error> {
        let conv = self.conv(&peer);
        if self
            .read(move |s| s.get::<Conversations>(&conv))
            .await?
            .is_none()
        {
            return Err(Error::NoChat(peer));
        }
        let mut row = self.settings.get(&conv).copied().unwrap_or_default();
        let change = match setting {
            Setting::Mute(Some(until)) => {
                row.muted_until_ms = until;
                ChatChange::Muted
            }
            Setting::Mute(None) => {
                row.muted_until_ms = 0;
                ChatChange::Unmuted
            }
            Setting::Archive(archived) => {
                row.archived = archived;
                if archived {
                    ChatChange::Archived
                } else {
                    ChatChange::Unarchived
                }
            }
            Setting::Pin(pinned) => {
                row.pinned = pinned;
                if pinned {
                    ChatChange::Pinned
                } else {
                    ChatChange::Unpinned
                }
            }
        };
        let mut pending = Pending::new(Batch::new(), Vec::new());
        stage_settings(&mut pending.batch, conv, row)?;
        pending.events.push(Event::ChatChanged { peer, change });
        self.commit(pending).await?;
        self.settings.insert(conv, row);
        if row == ChatSettingsRow::default() {
            self.settings.remove(&conv);
        }
        Ok(())
    }

    /// A message arrived in the conversation with `peer`: an archived chat that is not muted
    /// comes back to the chat list, in the same write.
    pub(super) fn on_message_arrived(
        &mut self,
        pending: &mut Pending,
        peer: UserId,
    ) -> Result<(), Error> {
        let conv = self.conv(&peer);
        let Some(mut row) = self.settings.get(&conv).copied() else {
            return Ok(());
        };
        if !row.archived || row.muted_until_ms > self.time.now_ms() {
            return Ok(());
        }
        row.archived = false;
        stage_settings(&mut pending.batch, conv, row)?;
        pending.events.push(Event::ChatChanged {
            peer,
            change: ChatChange::Unarchived,
        });
        // Applied in memory now: a failed commit only leaves the chat listed early.
        self.settings.insert(conv, row);
        Ok(())
    }
}

fn stage_settings(batch: &mut Batch, conv: Conv, row: ChatSettingsRow) -> Result<(), Error> {
    if row == ChatSettingsRow::default() {
        batch.delete::<ChatSettings>(&conv);
    } else {
        batch.put::<ChatSettings>(&conv, &row)?;
    }
    Ok(())
}
