//! The group calls of a [`Backend`]: through the daemon's API, or on a node opened here.

use super::Backend;
use crate::{
    api::{
        model::{GroupChange, GroupMessageView, GroupView, Marked, MembersRequest, NewGroup},
        service,
    },
    error::CliError,
};

impl Backend {
    pub(crate) async fn groups(&self) -> Result<Vec<GroupView>, CliError> {
        match self {
            Self::Daemon(c) => Ok(c.groups().await?),
            Self::Local(n) => Ok(service::groups(n).await?),
        }
    }

    pub(crate) async fn group(&self, group: &str) -> Result<GroupView, CliError> {
        match self {
            Self::Daemon(c) => Ok(c.group(group).await?),
            Self::Local(n) => Ok(service::group(n, group).await?),
        }
    }

    pub(crate) async fn mark_group_read(&self, group: &str) -> Result<Marked, CliError> {
        match self {
            Self::Daemon(c) => Ok(c.mark_group_read(group).await?),
            Self::Local(n) => Ok(service::mark_group_read(n, group).await?),
        }
    }

    pub(crate) async fn create_group(&self, new: NewGroup) -> Result<GroupView, CliError> {
        match self {
            Self::Daemon(c) => Ok(c.create_group(&new).await?),
            Self::Local(n) => Ok(service::create_group(n, new).await?),
        }
    }

    pub(crate) async fn change_group(
        &self,
        group: &str,
        change: GroupChange,
    ) -> Result<GroupView, CliError> {
        match self {
            Self::Daemon(c) => Ok(c.change_group(group, &change).await?),
            Self::Local(n) => Ok(service::change_group(n, group, change).await?),
        }
    }

    pub(crate) async fn leave_group(&self, group: &str) -> Result<(), CliError> {
        match self {
            Self::Daemon(c) => Ok(c.leave_group(group).await?),
            Self::Local(n) => Ok(service::leave_group(n, group).await?),
        }
    }

    pub(crate) async fn add_members(
        &self,
        group: &str,
        members: MembersRequest,
    ) -> Result<GroupView, CliError> {
        match self {
            Self::Daemon(c) => Ok(c.add_members(group, &members).await?),
            Self::Local(n) => Ok(service::add_members(n, group, members).await?),
        }
    }

    pub(crate) async fn remove_member(
        &self,
        group: &str,
        member: &str,
    ) -> Result<GroupView, CliError> {
        match self {
            Self::Daemon(c) => Ok(c.remove_member(group, member).await?),
            Self::Local(n) => Ok(service::remove_member(n, group, member).await?),
        }
    }

    pub(crate) async fn group_messages(
        &self,
        group: &str,
        limit: Option<usize>,
    ) -> Result<Vec<GroupMessageView>, CliError> {
        match self {
            Self::Daemon(c) => Ok(c.group_messages(group, limit).await?),
            Self::Local(n) => Ok(service::group_messages(n, group, limit).await?),
        }
    }
}
