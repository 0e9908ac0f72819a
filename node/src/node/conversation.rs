//! The conversation features of [`Node`]: replies, edits, deletes, reactions, search, chat
//! settings, disappearing messages, profiles, typing and presence.

use std::time::Duration;

use tern_crypto::UserId;

use super::Node;
use crate::{
    core::{Change, Compose, Request, Setting},
    error::{ChangeError, ChatError, QueryError, SearchError, SendError},
    id::MessageId,
    view::{ChatId, Edit, SearchPage},
};

impl Node {
    /// Sends `text` to `chat` (an account, or a group's id: [`crate::ChatId`]) as a reply
    /// to message `to` of the same conversation, which the recipients show quoted. Fails
    /// with [`SendError::NoMessage`] if `to` is not in it.
    pub async fn reply(
        &self,
        chat: impl Into<ChatId>,
        to: MessageId,
        text: impl Into<String>,
    ) -> Result<MessageId, SendError> {
        let compose = Compose::Text {
            text: text.into(),
            reply_to: Some(to),
        };
        self.compose(chat.into(), compose).await
    }

    /// Replaces the text of our message `id` for everyone, within [`crate::EDIT_WINDOW`] of
    /// sending it, in a 1:1 chat or a group ([`crate::ChatId`]). Every version stays in
    /// [`Node::edit_history`]. Returns the edit's own id.
    ///
    /// ```no_run
    /// # async fn f(
    /// #     node: tern_node::Node,
    /// #     bob: tern_node::UserId,
    /// #     family: tern_node::GroupId,
    /// # ) -> Result<(), Box<dyn std::error::Error>> {
    /// let id = node.send(bob, "see you at 5").await?;
    /// node.edit(bob, id, "see you at 6").await?;
    /// node.react(bob, id, "👍").await?;
    /// node.delete(bob, id).await?;
    /// // The same in a group.
    /// let id = node.send_to_group(family, "dinner at 7").await?;
    /// node.edit(family, id, "dinner at 8").await?;
    /// # Ok(()) }
    /// ```
    pub async fn edit(
        &self,
        chat: impl Into<ChatId>,
        id: MessageId,
        text: impl Into<String>,
    ) -> Result<MessageId, ChangeError> {
        self.change(chat.into(), id, Change::Edit(text.into()))
            .await
    }

    /// Deletes our message `id` for everyone, within [`crate::EDIT_WINDOW`] of sending it:
    /// every copy becomes a tombstone and its text is erased. Returns the delete's own id.
    pub async fn delete(
        &self,
        chat: impl Into<ChatId>,
        id: MessageId,
    ) -> Result<MessageId, ChangeError> {
        self.change(chat.into(), id, Change::Delete).await
    }

    /// Reacts to message `id` with one emoji, replacing our earlier reaction; an empty
    /// `emoji` takes our reaction back. Returns the reaction's own id.
    pub async fn react(
        &self,
        chat: impl Into<ChatId>,
        id: MessageId,
        emoji: impl Into<String>,
    ) -> Result<MessageId, ChangeError> {
        self.change(chat.into(), id, Change::React(emoji.into()))
            .await
    }

    async fn change(
        &self,
        chat: ChatId,
        target: MessageId,
        change: Change,
    ) -> Result<MessageId, ChangeError> {
        self.compose(chat, Compose::Change { target, change }).await
    }

    /// Sends what `compose` says to a contact or through a group's log.
    pub(super) async fn compose<E: From<crate::core::Error>>(
        &self,
        chat: ChatId,
        compose: Compose,
    ) -> Result<MessageId, E> {
        match chat {
            ChatId::Peer(peer) => {
                self.call(|reply| Request::Send {
                    peer,
                    compose,
                    reply,
                })
                .await
            }
            ChatId::Group(group) => {
                self.call(|reply| {
                    Request::Group(crate::core::GroupRequest::Send {
                        group,
                        compose,
                        reply,
                    })
                })
                .await
            }
        }
    }

    /// Searches this device's history: the messages whose text (or file name) holds every
    /// word of `query` (the last word may be the start of one), newest first, in every chat,
    /// 1:1 and group, or only in `chat`; `after` is the `next` of the previous page. Words are
    /// matched without regard to case and accents, in any language. A hit in a group is a
    /// [`crate::SearchHit::Group`], shown as the group's history shows it.
    ///
    /// The index lives in memory and is built from history when the node starts; a search
    /// made before it is ready waits for it. A `chat` that is a group this node has never
    /// been in is [`SearchError::NoSuchGroup`].
    ///
    /// ```no_run
    /// # async fn f(node: tern_node::Node) -> Result<(), Box<dyn std::error::Error>> {
    /// use tern_node::{ChatId, SearchHit};
    ///
    /// let page = node.search("dinner fri", None, 20, None).await?;
    /// for hit in &page.hits {
    ///     match hit {
    ///         SearchHit::Message(m) => println!("{}: {}", m.peer.short(), m.text),
    ///         SearchHit::Group(m) => println!("#{} {}: {}", m.group, m.sender.short(), m.text),
    ///         _ => {}
    ///     }
    /// }
    /// // Only one group's messages.
    /// # let family: tern_node::GroupId = todo!();
    /// let page = node.search("dinner", Some(ChatId::Group(family)), 20, None).await?;
    /// # Ok(()) }
    /// ```
    pub async fn search(
        &self,
        query: &str,
        chat: Option<ChatId>,
        limit: usize,
        after: Option<&str>,
    ) -> Result<SearchPage, SearchError> {
        let after = after
            .map(|text| {
                text.parse::<tern_search::Cursor>()
                    .map_err(|_| SearchError::BadCursor(text.chars().take(96).collect()))
            })
            .transpose()?;
        let query = query.to_owned();
        self.call(|reply| Request::Search {
            query,
            chat,
            limit,
            after,
            reply,
        })
        .await
    }

    /// Mutes the conversation with `peer` until `until_ms` (milliseconds since the Unix
    /// epoch; `u64::MAX` until unmuted), or unmutes it (`None`). Its messages still arrive
    /// and count as unread; [`Chat::muted_until_ms`] tells clients not to notify.
    pub async fn mute_chat(&self, peer: UserId, until_ms: Option<u64>) -> Result<(), ChatError> {
        self.set_chat(peer, Setting::Mute(until_ms)).await
    }

    /// Archives the conversation with `peer` (or takes it out of the archive). A message
    /// arriving in an archived chat that is not muted brings it back.
    pub async fn archive_chat(&self, peer: UserId, archived: bool) -> Result<(), ChatError> {
        self.set_chat(peer, Setting::Archive(archived)).await
    }

    /// Pins the conversation with `peer` to the top of [`Node::chats`] (or unpins it).
    pub async fn pin_chat(&self, peer: UserId, pinned: bool) -> Result<(), ChatError> {
        self.set_chat(peer, Setting::Pin(pinned)).await
    }

    /// Sets which files from `peer` are fetched as soon as their message arrives: those up
    /// to `max_bytes` (0: none, [`crate::MAX_FILE_LEN`]: every file), or
    /// the node's default ([`crate::NodeBuilder::with_auto_download`]) for `None`. Files
    /// already offered stay offered; [`Node::fetch_attachment`] fetches them.
    ///
    /// ```no_run
    /// # async fn f(node: tern_node::Node, mum: tern_node::UserId) -> Result<(), tern_node::ChatError> {
    /// // Every file Mum sends, videos and documents included, without a tap.
    /// node.set_auto_download(mum, Some(100_000_000)).await?;
    /// # Ok(()) }
    /// ```
    pub async fn set_auto_download(
        &self,
        peer: UserId,
        max_bytes: Option<u64>,
    ) -> Result<(), ChatError> {
        self.set_chat(peer, Setting::AutoDownload(max_bytes)).await
    }

    /// Turns disappearing messages on in a chat (`after` one of [`crate::DISAPPEAR_CHOICES`],
    /// in seconds: 5 minutes, an hour, a day or a week), or off (`None`). Both sides of a
    /// 1:1 chat see the change as a notice in the chat; in a group (its [`crate::GroupId`]),
    /// every member sees [`crate::GroupEvent::TimerChanged`]. The newest change wins. From
    /// then on, each message sent is erased that long after it is sent (on its sender's
    /// device) or read (on the others'). Returns the change's message id.
    ///
    /// ```no_run
    /// # async fn f(
    /// #     node: tern_node::Node,
    /// #     bob: tern_node::UserId,
    /// # ) -> Result<(), Box<dyn std::error::Error>> {
    /// use std::time::Duration;
    /// node.set_disappearing(bob, Some(Duration::from_secs(3600))).await?;
    /// node.send(bob, "gone an hour after Bob reads it").await?;
    /// node.set_disappearing(bob, None).await?;
    /// # Ok(()) }
    /// ```
    ///
    /// In a group, any member sets it for everyone:
    ///
    /// ```no_run
    /// # async fn f(
    /// #     node: tern_node::Node,
    /// #     family: tern_node::GroupId,
    /// # ) -> Result<(), Box<dyn std::error::Error>> {
    /// use std::time::Duration;
    /// node.set_disappearing(family, Some(Duration::from_secs(86_400))).await?;
    /// node.send_to_group(family, "gone a day after each member reads it").await?;
    /// # Ok(()) }
    /// ```
    pub async fn set_disappearing(
        &self,
        chat: impl Into<ChatId>,
        after: Option<Duration>,
    ) -> Result<MessageId, SendError> {
        let secs = match after {
            None => 0,
            // Whole seconds only; the core checks the value against the choices.
            Some(after) if after.subsec_nanos() == 0 && after.as_secs() != 0 => {
                u32::try_from(after.as_secs()).unwrap_or(u32::MAX)
            }
            Some(after) => {
                return Err(SendError::BadTimer(
                    u32::try_from(after.as_secs()).unwrap_or(u32::MAX),
                ));
            }
        };
        self.compose(chat.into(), Compose::Timer { secs }).await
    }

    /// Sets the profile this account shares with its contacts (a display name and a short
    /// status, which may be empty), and sends it to every contact and accepted chat,
    /// end to end encrypted, through relays to those offline. Returns how many it went to.
    pub async fn set_profile(
        &self,
        name: impl Into<String>,
        status: impl Into<String>,
    ) -> Result<usize, SendError> {
        let (name, status) = (name.into(), status.into());
        self.call(|reply| Request::SetProfile {
            name,
            status,
            reply,
        })
        .await
    }

    /// Reports that the user is typing in the chat with `peer` (`active`), or stopped. Call it
    /// on every key press in the open chat; the node sends at most one signal per
    /// [`crate::TYPING_REFRESH`], only when typing is shared ([`Node::set_sharing`]), and only
    /// over an open direct connection: never through relays, never stored. Returns whether a
    /// signal went out.
    pub async fn typing(&self, peer: UserId, active: bool) -> Result<bool, SendError> {
        self.call(|reply| Request::Typing {
            peer,
            active,
            reply,
        })
        .await
    }

    /// Chooses what this account shares with its contacts while online: typing indicators and
    /// presence (online, last seen). Both are off until turned on, and reciprocal: turning one
    /// off also hides the contacts'. Returns the setting now.
    ///
    /// ```no_run
    /// # async fn f(node: tern_node::Node, bob: tern_node::UserId) -> Result<(), Box<dyn std::error::Error>> {
    /// node.set_sharing(tern_node::Sharing { typing: true, presence: true }).await?;
    /// node.typing(bob, true).await?;
    /// # Ok(()) }
    /// ```
    pub async fn set_sharing(&self, sharing: crate::Sharing) -> Result<crate::Sharing, QueryError> {
        self.call(|reply| Request::SetSharing { sharing, reply })
            .await
    }

    /// What this account shares with its contacts while online.
    pub async fn sharing(&self) -> Result<crate::Sharing, QueryError> {
        self.call(|reply| Request::GetSharing { reply }).await
    }

    /// The profile this account shares, if one was set.
    pub async fn profile(&self) -> Result<Option<crate::view::Profile>, QueryError> {
        self.call(|reply| Request::OwnProfile { reply }).await
    }

    async fn set_chat(&self, peer: UserId, setting: Setting) -> Result<(), ChatError> {
        self.call(|reply| Request::SetChat {
            peer,
            setting,
            reply,
        })
        .await
    }

    /// Deletes message `id` (anyone's, at any time) of `chat` (an account, or a group's id:
    /// [`crate::ChatId`]) from this device only: it leaves the history, the search index, the
    /// event log and the database files; the peer, or the group's other members, keep their
    /// copies. Reported as [`crate::Event::MessageDeleted`] with `for_everyone: false`, or in
    /// a group as [`crate::GroupEvent::DeletedForMe`].
    pub async fn delete_for_me(
        &self,
        chat: impl Into<ChatId>,
        id: MessageId,
    ) -> Result<(), ChangeError> {
        self.call(|reply| Request::DeleteForMe {
            chat: chat.into(),
            id,
            reply,
        })
        .await
    }

    /// Every text message `id` has had, oldest first (just one for a message never edited).
    pub async fn edit_history(
        &self,
        chat: impl Into<ChatId>,
        id: MessageId,
    ) -> Result<Vec<Edit>, ChangeError> {
        self.call(|reply| Request::EditHistory {
            chat: chat.into(),
            id,
            reply,
        })
        .await
    }
}
