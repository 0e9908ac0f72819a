//! Changes to earlier messages: edits, deletes (for everyone and for me) and reactions, sent
//! and received through the same pipeline as texts.
//!
//! A change names its target by message id within the conversation. It is applied to the
//! target's [`Messages`] row and its [`MessageMeta`] row in the same write as the change's own
//! bookkeeping, and announced by an event. The rules every client applies alike:
//!
//! - only a message's author may edit it or delete it for everyone, and only within
//!   [`EDIT_WINDOW`] of its send stamp, measured on the author's own stamps; a change that
//!   breaks either rule is refused, counted (`forged_change`, `edit_window`) and announced as
//!   [`Event::ChangeRefused`];
//! - of two edits, the one with the higher stamp is shown, whatever order they arrive in; every
//!   version is kept in [`EditHistory`];
//! - one reaction per person: the one with the higher stamp wins; an empty emoji takes it back;
//! - a deleted message keeps only a tombstone: its text, edit history and reactions are
//!   removed, the events that carried its text are rewritten without it, and the files are
//!   compacted so that the old values leave the disk;
//! - a change that arrives before its target (relays deliver out of order) waits in
//!   [`Orphans`] and is applied when the target arrives, before the target is stored: a
//!   message deleted before it arrived never appears.

mod erase;

pub(super) use erase::carried;

use super::*;
use crate::{
    event::MessageKind,
    tables::{
        EditHistory, EventIndex, MessageMeta, MetaRow, OrphanChange, OrphanRow, Orphans,
        ReactionRow,
    },
};

/// How long after sending a message its author may edit it or delete it for everyone: the
/// same rule for every client, measured between the two send stamps of the author's clock.
pub const EDIT_WINDOW: Duration = Duration::from_secs(24 * 3600);
/// Most changes held per conversation while their targets have not arrived; the oldest goes
/// first. A contact sends far fewer changes than this ahead of their messages.
const MAX_ORPHANS_PER_CONV: usize = 256;
/// How long an orphaned change waits for its target: relays keep mail 21 days.
const ORPHAN_RETENTION_MS: u64 = 28 * 24 * 3600 * 1000;

/// A change to an earlier message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Change {
    Edit(String),
    Delete,
    React(String),
}

impl Change {
    /// Whether the change is well formed: an edit's text within bounds, one emoji.
    pub(super) fn check(&self) -> Result<(), Error> {
        match self {
            Self::Edit(text) if text.is_empty() => Err(Error::Empty),
            Self::Edit(text) if text.len() > crate::body::MAX_TEXT_LEN => Err(Error::TooLong {
                len: text.len(),
                max: crate::body::MAX_TEXT_LEN,
            }),
            Self::React(emoji) if crate::body::check_reaction(emoji).is_err() => {
                Err(Error::NotAnEmoji)
            }
            _ => Ok(()),
        }
    }

    /// The body that carries the change (`id` and `stamp` its own) to message `target`.
    pub(super) fn body(self, id: MessageId, stamp: Stamp, target: MessageId) -> Body {
        match self {
            Self::Edit(text) => Body::Edit(crate::body::Edit {
                id,
                stamp,
                target,
                text,
            }),
            Self::Delete => Body::Delete(crate::body::Delete { id, stamp, target }),
            Self::React(emoji) => Body::Reaction(crate::body::Reaction {
                id,
                stamp,
                target,
                emoji,
            }),
        }
    }
}

impl From<OrphanChange> for Change {
    fn from(change: OrphanChange) -> Self {
        match change {
            OrphanChange::Edit(text) => Self::Edit(text),
            OrphanChange::Delete => Self::Delete,
            OrphanChange::React(emoji) => Self::React(emoji),
        }
    }
}

impl From<&Change> for OrphanChange {
    fn from(change: &Change) -> Self {
        match change {
            Change::Edit(text) => Self::Edit(text.clone()),
            Change::Delete => Self::Delete,
            Change::React(emoji) => Self::React(emoji.clone()),
        }
    }
}

/// Why a change was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Refusal {
    /// An edit or delete by someone other than the author.
    NotAuthor,
    /// An edit or delete after [`EDIT_WINDOW`].
    WindowClosed,
}

impl Refusal {
    /// The name it is counted under in the status's rejections.
    pub(super) fn reason(self) -> &'static str {
        match self {
            Self::NotAuthor => "forged_change",
            Self::WindowClosed => "edit_window",
        }
    }
}

impl From<Refusal> for Error {
    fn from(refusal: Refusal) -> Self {
        match refusal {
            Refusal::NotAuthor => Self::NotAuthor,
            Refusal::WindowClosed => Self::WindowClosed,
        }
    }
}

/// Messages a write has loaded or changed so far, by conversation and id.
///
/// Shared, so that the savepoint taken before each received envelope copies pointers rather
/// than every message the group stored so far (which made a group's cost grow with its square).
pub(super) type Targets = HashMap<(Conv, [u8; 16]), std::sync::Arc<Target>>;

/// A stored message loaded for a change: its keys, row and meta row.
#[derive(Debug, Clone)]
pub(super) struct Target {
    pub(super) conv: Conv,
    pub(super) stamp: Stamp,
    pub(super) id: MessageId,
    pub(super) row: MessageRow,
    pub(super) meta: MetaRow,
    /// A notice (a timer change, a changed key, a change to a group): no change applies.
    pub(super) notice: bool,
}

impl Target {
    /// Whether `by` wrote the message (`me` is this account).
    fn authored_by(&self, by: &UserId, me: &UserId) -> bool {
        match self.row.direction {
            Direction::Incoming => by == &self.row.peer,
            Direction::Outgoing => by == me,
        }
    }

    /// Applies `change`, made by `by` at `stamp`, to the message in memory, with the edit
    /// history rows it adds. Returns the event to announce, `None` when the change shows
    /// nothing new (an older edit or reaction arriving after a newer one, a change to a
    /// deleted message).
    pub(super) fn apply(
        &mut self,
        batch: &mut Batch,
        me: &UserId,
        by: UserId,
        stamp: Stamp,
        change: &Change,
    ) -> Result<Option<Event>, Error> {
        if self.notice {
            return Err(Error::NoMessage(self.id));
        }
        if self.meta.deleted || self.meta.unsupported.is_some() {
            return Ok(None);
        }
        let peer = self.row.peer;
        let id = self.id;
        match change {
            Change::Edit(_) | Change::Delete => {
                if !self.authored_by(&by, me) {
                    return Err(Refusal::NotAuthor.into());
                }
                let age = hlc::millis(stamp).saturating_sub(hlc::millis(self.stamp));
                if u128::from(age) > EDIT_WINDOW.as_millis() {
                    return Err(Refusal::WindowClosed.into());
                }
            }
            Change::React(_) => {}
        }
        match change {
            Change::Edit(text) => {
                let history = |at: Stamp| (self.conv, *id.as_bytes(), at);
                if self.meta.edited.is_none() {
                    batch.put::<EditHistory>(&history(self.stamp), &self.row.text)?;
                }
                batch.put::<EditHistory>(&history(stamp), text)?;
                if self.meta.edited.is_some_and(|shown| shown >= stamp) {
                    return Ok(None);
                }
                self.meta.edited = Some(stamp);
                self.row.text.clone_from(text);
                Ok(Some(Event::MessageEdited {
                    peer,
                    id,
                    text: text.clone(),
                    edited_at_ms: hlc::millis(stamp),
                }))
            }
            Change::Delete => {
                self.tombstone(batch);
                Ok(Some(Event::MessageDeleted {
                    peer,
                    id,
                    for_everyone: true,
                }))
            }
            Change::React(emoji) => {
                let slot = self.meta.reactions.iter_mut().find(|r| r.by == by);
                match slot {
                    Some(old) if old.stamp >= stamp => return Ok(None),
                    Some(old) => {
                        old.emoji.clone_from(emoji);
                        old.stamp = stamp;
                    }
                    None => self.meta.reactions.push(ReactionRow {
                        by,
                        emoji: emoji.clone(),
                        stamp,
                    }),
                }
                Ok(Some(Event::ReactionChanged {
                    peer,
                    id,
                    by,
                    emoji: (!emoji.is_empty()).then(|| emoji.clone()),
                }))
            }
        }
    }

    /// Turns the message into a tombstone: no text, no edit history, no reactions.
    pub(super) fn tombstone(&mut self, batch: &mut Batch) {
        self.meta.deleted = true;
        self.meta.edited = None;
        self.meta.reactions.clear();
        self.row.text.clear();
        let id = *self.id.as_bytes();
        batch.delete_range::<EditHistory>(&(self.conv, id, 0), &(self.conv, id, u64::MAX));
    }

    /// Stages the message's row and meta row.
    pub(super) fn stage(&self, batch: &mut Batch) -> Result<(), Error> {
        let key = (self.conv, self.stamp, *self.id.as_bytes());
        batch.put::<Messages>(&key, &self.row)?;
        if self.meta == MetaRow::default() {
            batch.delete::<MessageMeta>(&key);
        } else {
            batch.put::<MessageMeta>(&key, &self.meta)?;
        }
        Ok(())
    }

    pub(super) fn message(&self) -> Message {
        to_message(self.id, self.stamp, &self.row, Some(&self.meta))
    }
}

/// The message as the API shows it, from its rows.
pub(super) fn to_message(
    id: MessageId,
    stamp: Stamp,
    row: &MessageRow,
    meta: Option<&MetaRow>,
) -> Message {
    let empty = MetaRow::default();
    let meta = meta.unwrap_or(&empty);
    let kind = if meta.deleted {
        MessageKind::Deleted
    } else if let Some(content_type) = meta.unsupported {
        MessageKind::Unsupported { content_type }
    } else {
        MessageKind::Text
    };
    Message {
        id,
        peer: row.peer,
        direction: row.direction,
        kind,
        text: row.text.clone(),
        reply_to: meta.reply_to.map(MessageId::from_bytes),
        edited_at_ms: meta.edited.map(hlc::millis),
        reactions: meta.shown_reactions(),
        sent_at_ms: hlc::millis(stamp),
        state: row.state,
        read: row.read,
        disappear_secs: None,
        expires_at_ms: None,
        attachment: None,
    }
}

impl Core {
    /// The message `id` of `conv`: from `cache` (what the current write already changed),
    /// else from the store. `None` if there is no such message (or it was deleted for me).
    pub(super) async fn target(
        &self,
        cache: &Targets,
        conv: Conv,
        id: MessageId,
    ) -> Result<Option<Target>, Error> {
        if let Some(target) = cache.get(&(conv, *id.as_bytes())) {
            return Ok(Some(Target::clone(target)));
        }
        let key = *id.as_bytes();
        let found = self
            .read(move |s| {
                let Some((key, row)) = crate::tables::message_row(s, conv, key)? else {
                    return Ok(None);
                };
                let meta = s.get::<MessageMeta>(&key)?.unwrap_or_default();
                let notice = s.get::<crate::tables::Notices>(&key)?.is_some();
                Ok(Some((key.1, row, meta, notice)))
            })
            .await?;
        Ok(found.map(|(stamp, row, meta, notice)| Target {
            conv,
            stamp,
            id,
            row,
            meta,
            notice,
        }))
    }

    /// What a change of `target` does beyond its rows, in 1:1 chats and groups alike: the
    /// search index follows its text, and a deletion also rewrites the events that carried
    /// its text and schedules the erasure of its file and of its text in the database files.
    pub(super) async fn stage_change_effects(
        &self,
        pending: &mut Pending,
        target: &Target,
    ) -> Result<(), Error> {
        let key = (target.conv, target.stamp, *target.id.as_bytes());
        pending.search.push(if target.meta.deleted {
            search::SearchOp::Remove(key.0, key.1, key.2)
        } else {
            // A file stays found by its name after its caption changes, also when the file
            // arrived in this same write.
            let file = self
                .read_staged::<crate::tables::Attachments>(&pending.batch, key)
                .await?;
            let name = file.as_ref().and_then(search::file_name);
            let text = search::searched(&target.row.text, name.as_deref());
            search::SearchOp::Put(key.0, key.1, key.2, text)
        });
        if target.meta.deleted {
            self.scrub_events(pending, target.conv, target.id).await?;
            self.stage_drop_file(pending, key).await?;
            pending.erase.push(key);
        }
        Ok(())
    }

    /// Stages `target` after a change and keeps it in `cache`, with the change's effects
    /// ([`Core::stage_change_effects`]).
    pub(super) async fn stage_changed(
        &self,
        pending: &mut Pending,
        cache: &mut Targets,
        summaries: &mut HashMap<Conv, ConversationRow>,
        target: Target,
    ) -> Result<(), Error> {
        target.stage(&mut pending.batch)?;
        self.stage_preview(summaries, &target).await?;
        self.stage_change_effects(pending, &target).await?;
        cache.insert(
            (target.conv, *target.id.as_bytes()),
            std::sync::Arc::new(target),
        );
        Ok(())
    }

    /// Keeps the chat list's preview in step when the message it shows was edited or
    /// deleted: a deleted text must not live on there.
    async fn stage_preview(
        &self,
        summaries: &mut HashMap<Conv, ConversationRow>,
        target: &Target,
    ) -> Result<(), Error> {
        let conv = target.conv;
        let summary = match summaries.remove(&conv) {
            Some(summary) => Some(summary),
            None => self.read(move |s| s.get::<Conversations>(&conv)).await?,
        };
        if let Some(mut summary) = summary {
            if summary.last_stamp == target.stamp {
                summary.last_text = target.row.text.chars().take(100).collect();
            }
            summaries.insert(conv, summary);
        }
        Ok(())
    }

    /// Applies a change received from `sender`, or keeps it until its target arrives.
    pub(super) async fn receive_change(
        &mut self,
        pending: &mut Pending,
        staged: &mut receive::Group,
        sender: UserId,
        accepted: bool,
        (target_id, stamp, change): (MessageId, Stamp, Change),
    ) -> Result<(), Error> {
        let conv = self.conv(&sender);
        let me = self.account.user_id();
        let Some(mut target) = self.target(&staged.targets, conv, target_id).await? else {
            if accepted {
                self.stage_orphan(pending, staged, conv, target_id, sender, stamp, &change)
                    .await?;
            }
            return Ok(());
        };
        match target.apply(&mut pending.batch, &me, sender, stamp, &change) {
            Ok(Some(event)) => {
                pending.events.push(event);
                self.stage_changed(pending, &mut staged.targets, &mut staged.summaries, target)
                    .await?;
            }
            Ok(None) => {}
            Err(e) => self.refuse_change(pending, sender, target_id, &e),
        }
        Ok(())
    }

    /// Counts and announces a refused change.
    fn refuse_change(&mut self, pending: &mut Pending, peer: UserId, id: MessageId, e: &Error) {
        let reason = match e {
            Error::NotAuthor => Refusal::NotAuthor.reason(),
            Error::NoMessage(_) => "change_to_notice",
            _ => Refusal::WindowClosed.reason(),
        };
        *self.changes_refused.entry(reason).or_default() += 1;
        debug!(peer = %peer.short(), "refused a change: {reason}");
        pending.events.push(Event::ChangeRefused {
            peer,
            id,
            reason: reason.to_owned(),
        });
    }

    /// Keeps a change whose target has not arrived, within the per-conversation cap.
    #[allow(clippy::too_many_arguments)]
    async fn stage_orphan(
        &mut self,
        pending: &mut Pending,
        staged: &mut receive::Group,
        conv: Conv,
        target: MessageId,
        by: UserId,
        stamp: Stamp,
        change: &Change,
    ) -> Result<(), Error> {
        let held = self
            .read(move |s| {
                s.scan::<Orphans>(
                    (conv, [0; 16], (0, [0; 16]))..=(conv, [0xff; 16], (u64::MAX, [0xff; 16])),
                    ScanDirection::Forward,
                    usize::MAX,
                )
            })
            .await?;
        if held.len() >= MAX_ORPHANS_PER_CONV {
            // The oldest by the change's stamp goes.
            if let Some((key, _)) = held.iter().min_by_key(|((_, _, (stamp, _)), _)| *stamp) {
                pending.batch.delete::<Orphans>(key);
            }
        }
        let key = (conv, *target.as_bytes(), (stamp, rand_id()));
        let row = OrphanRow {
            by,
            change: change.into(),
            expires_ms: self.time.now_ms() + ORPHAN_RETENTION_MS,
        };
        pending.batch.put::<Orphans>(&key, &row)?;
        staged.orphans.push((key, row));
        self.orphan_convs.insert(conv);
        Ok(())
    }

    /// Applies the changes that arrived before message `target` (held in [`Orphans`]) to it,
    /// before it is stored, and removes them.
    pub(super) async fn adopt_orphans(
        &mut self,
        pending: &mut Pending,
        staged: &mut receive::Group,
        target: &mut Target,
    ) -> Result<(), Error> {
        if !self.orphan_convs.contains(&target.conv) {
            return Ok(());
        }
        let (conv, id) = (target.conv, *target.id.as_bytes());
        let mut orphans = self
            .read(move |s| {
                s.scan::<Orphans>(
                    (conv, id, (0, [0; 16]))..=(conv, id, (u64::MAX, [0xff; 16])),
                    ScanDirection::Forward,
                    usize::MAX,
                )
            })
            .await?;
        orphans.extend(
            staged
                .orphans
                .iter()
                .filter(|((c, t, _), _)| *c == conv && *t == id)
                .cloned(),
        );
        orphans.sort_by_key(|((_, _, order), _)| *order);
        orphans.dedup_by_key(|(key, _)| *key);
        let me = self.account.user_id();
        for (key, row) in orphans {
            pending.batch.delete::<Orphans>(&key);
            let stamp = key.2.0;
            match target.apply(&mut pending.batch, &me, row.by, stamp, &row.change.into()) {
                // The target's own event shows the result.
                Ok(_) => {}
                Err(e) => self.refuse_change(pending, row.by, target.id, &e),
            }
        }
        Ok(())
    }

    /// Makes an outgoing change: checks it against the rules, applies it here and queues it
    /// for the peer, in `pending`. Returns the change's message id.
    pub(super) async fn stage_change_out(
        &mut self,
        pending: &mut Pending,
        (cache, summaries): (&mut Targets, &mut HashMap<Conv, ConversationRow>),
        peer: UserId,
        target_id: MessageId,
        change: Change,
    ) -> Result<MessageId, Error> {
        change.check()?;
        let conv = self.conv(&peer);
        let Some(mut target) = self.target(cache, conv, target_id).await? else {
            return Err(Error::NoMessage(target_id));
        };
        if target.meta.deleted {
            return Err(Error::Deleted);
        }
        if target.meta.unsupported.is_some() {
            return Err(Error::NotText);
        }
        let id = MessageId::random(&mut UnwrapErr(getrandom::SysRng));
        let stamp = self.clock.tick(self.time.now_ms());
        let me = self.account.user_id();
        if let Some(event) = target.apply(&mut pending.batch, &me, me, stamp, &change)? {
            pending.events.push(event);
        }
        pending
            .batch
            .put::<MessageIndex>(&(conv, *id.as_bytes()), &stamp)?;
        let body = change.body(id, stamp, target_id);
        self.stage_changed(pending, cache, summaries, target)
            .await?;
        self.enqueue(pending, peer, &body, false).await?;
        Ok(id)
    }

    /// Every text message `id` has had, oldest first, with the time of each version.
    pub(super) async fn edit_history(
        &self,
        chat: crate::ChatId,
        id: MessageId,
    ) -> Result<Vec<crate::view::Edit>, Error> {
        let conv = self.chat_conv(chat)?;
        let Some(target) = self.target(&HashMap::new(), conv, id).await? else {
            return Err(Error::NoMessage(id));
        };
        if target.meta.edited.is_none() {
            return Ok(vec![crate::view::Edit {
                text: target.row.text,
                at_ms: hlc::millis(target.stamp),
            }]);
        }
        let key = *id.as_bytes();
        let rows = self
            .read(move |s| {
                s.scan::<EditHistory>(
                    (conv, key, 0)..=(conv, key, u64::MAX),
                    ScanDirection::Forward,
                    usize::MAX,
                )
            })
            .await?;
        Ok(rows
            .into_iter()
            .map(|((_, _, stamp), text)| crate::view::Edit {
                text,
                at_ms: hlc::millis(stamp),
            })
            .collect())
    }

    /// Loads which conversations hold orphaned changes, and drops those past their time.
    pub(super) async fn load_orphans(&mut self) -> Result<(), Error> {
        let now = self.time.now_ms();
        let rows = self
            .read(|s| s.scan::<Orphans>(.., ScanDirection::Forward, usize::MAX))
            .await?;
        let mut pending = Pending::new(Batch::new(), Vec::new());
        for (key, row) in rows {
            if row.expires_ms <= now {
                pending.batch.delete::<Orphans>(&key);
            } else {
                self.orphan_convs.insert(key.0);
            }
        }
        if !pending.batch.is_empty() {
            self.commit(pending).await?;
        }
        Ok(())
    }
}

fn rand_id() -> [u8; 16] {
    *MessageId::random(&mut UnwrapErr(getrandom::SysRng)).as_bytes()
}
