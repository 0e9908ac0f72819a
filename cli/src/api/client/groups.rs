//! The client's group calls.

use reqwest::Method;

use super::{CallError, Client, escape};
use crate::api::model::{
    GroupChange, GroupMessageView, GroupSent, GroupText, GroupView, Marked, MembersRequest,
    NewGroup,
};

impl Client {
    pub(crate) async fn groups(&self) -> Result<Vec<GroupView>, CallError> {
        self.call::<(), _>(Method::GET, "/v1/groups", &[], None)
            .await
    }

    pub(crate) async fn group(&self, group: &str) -> Result<GroupView, CallError> {
        let path = format!("/v1/groups/{}", escape(group));
        self.call::<(), _>(Method::GET, &path, &[], None).await
    }

    pub(crate) async fn mark_group_read(&self, group: &str) -> Result<Marked, CallError> {
        let path = format!("/v1/groups/{}/read", escape(group));
        self.call::<(), _>(Method::POST, &path, &[], None).await
    }

    pub(crate) async fn create_group(&self, new: &NewGroup) -> Result<GroupView, CallError> {
        self.call(Method::POST, "/v1/groups", &[], Some(new)).await
    }

    pub(crate) async fn change_group(
        &self,
        group: &str,
        change: &GroupChange,
    ) -> Result<GroupView, CallError> {
        let path = format!("/v1/groups/{}", escape(group));
        self.call(Method::PATCH, &path, &[], Some(change)).await
    }

    pub(crate) async fn leave_group(&self, group: &str) -> Result<(), CallError> {
        let path = format!("/v1/groups/{}", escape(group));
        self.call::<(), ()>(Method::DELETE, &path, &[], None).await
    }

    pub(crate) async fn add_members(
        &self,
        group: &str,
        members: &MembersRequest,
    ) -> Result<GroupView, CallError> {
        let path = format!("/v1/groups/{}/members", escape(group));
        self.call(Method::POST, &path, &[], Some(members)).await
    }

    pub(crate) async fn remove_member(
        &self,
        group: &str,
        member: &str,
    ) -> Result<GroupView, CallError> {
        let path = format!("/v1/groups/{}/members/{}", escape(group), escape(member));
        self.call::<(), _>(Method::DELETE, &path, &[], None).await
    }

    pub(crate) async fn group_messages(
        &self,
        group: &str,
        limit: Option<usize>,
    ) -> Result<Vec<GroupMessageView>, CallError> {
        let path = format!("/v1/groups/{}/messages", escape(group));
        let query: Vec<(&str, String)> = limit
            .map(|l| ("limit", l.to_string()))
            .into_iter()
            .collect();
        self.call::<(), _>(Method::GET, &path, &query, None).await
    }

    pub(crate) async fn send_to_group(
        &self,
        group: &str,
        text: &GroupText,
    ) -> Result<GroupSent, CallError> {
        let path = format!("/v1/groups/{}/messages", escape(group));
        self.call(Method::POST, &path, &[], Some(text)).await
    }
}
