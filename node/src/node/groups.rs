//! Group chats (`docs/protocol/groups.md`): creating groups, adding and removing members,
//! sending, and reading them back.
//!
//! A group's messages and commits go through its log at the group's sequencer relays (its
//! creator's mailbox relays, up to three): one upload per message, whoever is online. What
//! happens in a group is reported by [`Event::Group`](crate::Event::Group).

use super::*;
use crate::{
    core::GroupRequest,
    group::{GroupError, GroupId, GroupInfo, GroupMessage},
};

impl Node {
    async fn group_call<T>(
        &self,
        make: impl FnOnce(oneshot::Sender<Result<T, Error>>) -> GroupRequest,
    ) -> Result<T, GroupError> {
        self.call(|reply| Request::Group(make(reply))).await
    }

    /// Creates a group named `name` with us as its only member and admin. Its log is kept
    /// by our mailbox relays (up to three), so a node needs a relay first
    /// ([`GroupError::NoRelays`]).
    ///
    /// ```no_run
    /// # async fn example(node: tern_node::Node, bob: tern_node::UserId) -> Result<(), tern_node::GroupError> {
    /// let family = node.create_group("family").await?;
    /// node.add_members(family, vec![bob]).await?;
    /// node.send_to_group(family, "hello, everyone").await?;
    /// # Ok(()) }
    /// ```
    pub async fn create_group(&self, name: impl Into<String>) -> Result<GroupId, GroupError> {
        let name = name.into();
        self.group_call(|reply| GroupRequest::Create { name, reply })
            .await
    }

    /// Adds accounts to a group (admins only). An account whose key package we hold is
    /// added at once; for the others one is asked for over the 1:1 path, and the add is made
    /// when it arrives ([`crate::GroupEvent::AddWaiting`]). Each new member gets the group's
    /// Welcome over the 1:1 path once the commit has won its epoch in the log, and joins
    /// without anything more from us.
    pub async fn add_members(
        &self,
        group: GroupId,
        members: Vec<UserId>,
    ) -> Result<(), GroupError> {
        self.group_call(|reply| GroupRequest::Add {
            group,
            members,
            reply,
        })
        .await
    }

    /// Removes accounts (every device of each) from a group (admins only). The removal is a
    /// commit: from the next epoch on, the removed cannot read what the group says.
    pub async fn remove_members(
        &self,
        group: GroupId,
        members: Vec<UserId>,
    ) -> Result<(), GroupError> {
        self.group_call(|reply| GroupRequest::Remove {
            group,
            members,
            reply,
        })
        .await
    }

    /// Leaves a group: proposes our removal, which an admin's node commits.
    pub async fn leave_group(&self, group: GroupId) -> Result<(), GroupError> {
        self.group_call(|reply| GroupRequest::Leave { group, reply })
            .await
    }

    /// Renames a group (admins only).
    pub async fn rename_group(
        &self,
        group: GroupId,
        name: impl Into<String>,
    ) -> Result<(), GroupError> {
        let name = name.into();
        self.group_call(|reply| GroupRequest::Rename { group, name, reply })
            .await
    }

    /// Moves a group's log to other relays (admins only): 1 to 3 multiaddresses, each ending
    /// in `/p2p/<peer id>`, in the order that decides. It is a commit, ordered by the relays
    /// that keep the log until then; from the epoch it begins, every member reads and
    /// appends at the new relays, in a log under a fresh id (also when the relays are the
    /// same: relays cannot link the two logs by id, and a log id someone took at a relay is
    /// left behind), and a member away meanwhile follows when it reads the commit. Every member reports [`crate::GroupEvent::LogMoved`], and [`GroupInfo::sequencers`]
    /// shows the new list.
    ///
    /// ```no_run
    /// # async fn f(node: tern_node::Node, group: tern_node::GroupId) -> Result<(), tern_node::GroupError> {
    /// let relay = "/ip4/198.51.100.7/tcp/4001/p2p/12D3KooWDpJ7As7BWAwRMfu1VU2WCqNjvq387JEYKDBj4kx6nXTN";
    /// node.move_group_log(group, vec![relay.parse().unwrap()]).await?;
    /// # Ok(()) }
    /// ```
    pub async fn move_group_log(
        &self,
        group: GroupId,
        relays: Vec<Multiaddr>,
    ) -> Result<(), GroupError> {
        self.group_call(|reply| GroupRequest::MoveLog {
            group,
            relays,
            reply,
        })
        .await
    }

    /// Makes an account an admin of a group, or no longer one (admins only). A group always
    /// keeps an admin.
    pub async fn set_admin(
        &self,
        group: GroupId,
        member: UserId,
        admin: bool,
    ) -> Result<(), GroupError> {
        self.group_call(|reply| GroupRequest::SetAdmin {
            group,
            member,
            admin,
            reply,
        })
        .await
    }

    /// Sends `text` to a group. Returns once it is durable in the group's outbox; the
    /// sequencers' receipts follow as [`crate::GroupEvent::Stored`].
    pub async fn send_to_group(
        &self,
        group: GroupId,
        text: impl Into<String>,
    ) -> Result<MessageId, GroupError> {
        let compose = Compose::Text {
            text: text.into(),
            reply_to: None,
        };
        self.group_call(|reply| GroupRequest::Send {
            group,
            compose,
            reply,
        })
        .await
    }

    /// The newest `limit` messages of a group, oldest first.
    pub async fn group_history(
        &self,
        group: GroupId,
        limit: usize,
    ) -> Result<Vec<GroupMessage>, GroupError> {
        self.group_call(|reply| GroupRequest::History {
            group,
            limit,
            reply,
        })
        .await
    }

    /// Sets which files sent to a group are fetched as soon as their message arrives: those
    /// up to `max_bytes` (0: none, [`crate::MAX_FILE_LEN`]: every file), or the node's
    /// default for `None` (as [`Node::set_auto_download`] does for a contact). Files already
    /// offered stay offered; [`Node::fetch_attachment`] fetches them.
    ///
    /// ```no_run
    /// # async fn f(node: tern_node::Node, work: tern_node::GroupId) -> Result<(), tern_node::GroupError> {
    /// // A busy group: nothing is fetched until asked for.
    /// node.set_group_auto_download(work, Some(0)).await?;
    /// # Ok(()) }
    /// ```
    pub async fn set_group_auto_download(
        &self,
        group: GroupId,
        max_bytes: Option<u64>,
    ) -> Result<(), GroupError> {
        self.group_call(|reply| GroupRequest::AutoDownload {
            group,
            rule: max_bytes,
            reply,
        })
        .await
    }

    /// The groups we are or were in, by name.
    pub async fn groups(&self) -> Result<Vec<GroupInfo>, GroupError> {
        self.group_call(|reply| GroupRequest::List { reply }).await
    }

    /// Marks every message of a group read, and returns how many were unread: the count in
    /// [`GroupInfo::unread`] goes back to zero. Only our own view changes; members are not
    /// told (group read receipts are not sent).
    pub async fn mark_group_read(&self, group: GroupId) -> Result<usize, GroupError> {
        self.group_call(|reply| GroupRequest::MarkRead { group, reply })
            .await
    }

    /// One group: its name, epoch, members and admins.
    pub async fn group_info(&self, group: GroupId) -> Result<GroupInfo, GroupError> {
        self.group_call(|reply| GroupRequest::Info { group, reply })
            .await
    }
}
