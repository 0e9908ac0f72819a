//! Chat settings: mute, archive and pin, kept per conversation in [`ChatSettings`] and in
//! memory (one small row per conversation that has any), so that the chat list and every
//! received message can consult them without a read.
//!
//! A muted chat's messages arrive and count as unread as usual; clients do not notify about
//! them. An archived chat leaves the main chat list; a message arriving in it while it is not
//! muted brings it back (the way people know from other messengers). Pinned chats come first.

use super::*;
use crate::tables::{ChatSettings, ChatSettingsRow, DownloadRules};

/// A change of a conversation's settings ([`crate::Node::mute_chat`] and the others).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Setting {
    /// Muted until this time (Unix milliseconds; `u64::MAX`: until unmuted), or unmuted.
    Mute(Option<u64>),
    Archive(bool),
    Pin(bool),
    /// Files up to this many bytes fetched by themselves (0: none), or the node's default.
    AutoDownload(Option<u64>),
}

impl Core {
    /// Loads every conversation's settings.
    pub(super) async fn load_settings(&mut self) -> Result<(), Error> {
        let rows = self
            .read(|s| s.scan::<ChatSettings>(.., ScanDirection::Forward, usize::MAX))
            .await?;
        self.settings = rows.into_iter().collect();
        let rules = self
            .read(|s| s.scan::<DownloadRules>(.., ScanDirection::Forward, usize::MAX))
            .await?;
        self.download_rules = rules.into_iter().collect();
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
            // Not a field of the settings row: a table of its own.
            Setting::AutoDownload(rule) => return self.set_download_rule(peer, conv, rule).await,
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

    /// Sets (or, for `None`, removes) the download rule of `conv`, the conversation with
    /// `peer`.
    async fn set_download_rule(
        &mut self,
        peer: UserId,
        conv: Conv,
        rule: Option<u64>,
    ) -> Result<(), Error> {
        let event = Event::ChatChanged {
            peer,
            change: ChatChange::AutoDownload,
        };
        self.write_download_rule(conv, rule, Some(event)).await
    }

    /// Sets (or, for `None`, removes) the download rule of group `group`. No event: the
    /// rule is in [`crate::GroupInfo::auto_download`].
    pub(super) async fn set_group_download_rule(
        &mut self,
        group: crate::GroupId,
        rule: Option<u64>,
    ) -> Result<(), Error> {
        let conv = self.live_conv(group)?;
        self.write_download_rule(conv, rule, None).await
    }

    async fn write_download_rule(
        &mut self,
        conv: Conv,
        rule: Option<u64>,
        event: Option<Event>,
    ) -> Result<(), Error> {
        let mut pending = Pending::new(Batch::new(), Vec::new());
        match rule {
            Some(max) => pending.batch.put::<DownloadRules>(&conv, &max)?,
            None => pending.batch.delete::<DownloadRules>(&conv),
        }
        pending.events.extend(event);
        self.commit(pending).await?;
        match rule {
            Some(max) => self.download_rules.insert(conv, max),
            None => self.download_rules.remove(&conv),
        };
        Ok(())
    }

    /// Files up to this many bytes from `conv` are fetched as soon as their message arrives:
    /// the conversation's own rule, else the node's default.
    pub(super) fn auto_download(&self, conv: &Conv) -> u64 {
        self.download_rules
            .get(conv)
            .copied()
            .unwrap_or(self.auto_download)
    }

    /// The conversation's own download rule, if it has one.
    pub(super) fn download_rule(&self, conv: &Conv) -> Option<u64> {
        self.download_rules.get(conv).copied()
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
