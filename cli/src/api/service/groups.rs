//! Groups, on the node: what the routes, and commands without a daemon, call.

use tern_node::{GroupId, Node};

use super::{page_size, resolve};
use crate::api::model::{
    ApiError, GroupChange, GroupMessageView, GroupSent, GroupText, GroupView, Marked,
    MembersRequest, NewGroup,
};

/// The group `text` names: `#name` (a group we are in, by its exact name), or its id or a
/// unique prefix of at least 4 hex digits.
pub(crate) async fn find_group(node: &Node, text: &str) -> Result<GroupId, ApiError> {
    let groups = node.groups().await?;
    let found: Vec<GroupId> = match text.strip_prefix('#') {
        Some(name) => {
            let named: Vec<_> = groups.iter().filter(|g| g.name == name).collect();
            // A name we left and one we are in: the one we are in.
            let active: Vec<_> = named.iter().filter(|g| g.active).collect();
            if active.is_empty() {
                named.iter().map(|g| g.id).collect()
            } else {
                active.iter().map(|g| g.id).collect()
            }
        }
        None => {
            let prefix = text.to_ascii_lowercase();
            if prefix.len() < 4 || !prefix.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(ApiError::bad_request(format!(
                    "{text:?} is neither #name nor at least 4 hex digits of a group id"
                )));
            }
            groups
                .iter()
                .filter(|g| g.id.to_string().starts_with(&prefix))
                .map(|g| g.id)
                .collect()
        }
    };
    match found.as_slice() {
        [one] => Ok(*one),
        [] => Err(ApiError::not_found(format!("no group {text}"))),
        _ => Err(ApiError::bad_request(format!(
            "{text} names more than one group: use more of its id"
        ))),
    }
}

pub(crate) async fn groups(node: &Node) -> Result<Vec<GroupView>, ApiError> {
    Ok(node.groups().await?.into_iter().map(Into::into).collect())
}

pub(crate) async fn mark_group_read(node: &Node, group: &str) -> Result<Marked, ApiError> {
    let id = find_group(node, group).await?;
    Ok(Marked {
        marked: node.mark_group_read(id).await?,
    })
}

pub(crate) async fn group(node: &Node, group: &str) -> Result<GroupView, ApiError> {
    let id = find_group(node, group).await?;
    Ok(node.group_info(id).await?.into())
}

async fn accounts(node: &Node, names: &[String]) -> Result<Vec<tern_node::UserId>, ApiError> {
    let mut users = Vec::with_capacity(names.len());
    for name in names {
        users.push(resolve(node, name).await?);
    }
    Ok(users)
}

pub(crate) async fn create_group(node: &Node, new: NewGroup) -> Result<GroupView, ApiError> {
    let members = accounts(node, &new.members).await?;
    let id = node.create_group(new.name).await?;
    if !members.is_empty() {
        node.add_members(id, members).await?;
    }
    Ok(node.group_info(id).await?.into())
}

pub(crate) async fn add_members(
    node: &Node,
    group: &str,
    request: MembersRequest,
) -> Result<GroupView, ApiError> {
    let id = find_group(node, group).await?;
    let members = accounts(node, &request.members).await?;
    if members.is_empty() {
        return Err(ApiError::bad_request("no members to add"));
    }
    node.add_members(id, members).await?;
    Ok(node.group_info(id).await?.into())
}

pub(crate) async fn remove_member(
    node: &Node,
    group: &str,
    member: &str,
) -> Result<GroupView, ApiError> {
    let id = find_group(node, group).await?;
    let member = resolve(node, member).await?;
    node.remove_members(id, vec![member]).await?;
    Ok(node.group_info(id).await?.into())
}

pub(crate) async fn change_group(
    node: &Node,
    group: &str,
    change: GroupChange,
) -> Result<GroupView, ApiError> {
    let id = find_group(node, group).await?;
    let changes = [
        change.name.is_some(),
        change.promote.is_some(),
        change.demote.is_some(),
        change.relays.is_some(),
        change.auto_download.is_some(),
        change.disappear_secs.is_some(),
    ];
    if changes.iter().filter(|c| **c).count() != 1 {
        return Err(ApiError::bad_request(
            "give exactly one of `name`, `promote`, `demote`, `relays`, `auto_download` and \
             `disappear_secs`",
        ));
    }
    if let Some(relays) = change.relays {
        let relays = relays
            .iter()
            .map(|r| {
                r.parse()
                    .map_err(|_| ApiError::bad_request(format!("{r:?} is not a multiaddress")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        node.move_group_log(id, relays).await?;
    } else if let Some(secs) = change.disappear_secs {
        node.set_disappearing(id, super::timer_after(secs)).await?;
    } else if let Some(rule) = change.auto_download {
        let rule = super::files::download_rule(&rule)?;
        node.set_group_auto_download(id, rule).await?;
    } else if let Some(name) = change.name {
        node.rename_group(id, name).await?;
    } else if let Some(member) = change.promote {
        let member = resolve(node, &member).await?;
        node.set_admin(id, member, true).await?;
    } else if let Some(member) = change.demote {
        let member = resolve(node, &member).await?;
        node.set_admin(id, member, false).await?;
    }
    Ok(node.group_info(id).await?.into())
}

pub(crate) async fn leave_group(node: &Node, group: &str) -> Result<(), ApiError> {
    let id = find_group(node, group).await?;
    Ok(node.leave_group(id).await?)
}

pub(crate) async fn send_to_group(
    node: &Node,
    group: &str,
    text: GroupText,
) -> Result<GroupSent, ApiError> {
    let id = find_group(node, group).await?;
    let message = node.send_to_group(id, text.text).await?;
    Ok(GroupSent {
        group: id.to_string(),
        id: message.to_string(),
    })
}

pub(crate) async fn group_messages(
    node: &Node,
    group: &str,
    limit: Option<usize>,
) -> Result<Vec<GroupMessageView>, ApiError> {
    let limit = page_size(limit)?;
    let id = find_group(node, group).await?;
    Ok(node
        .group_history(id, limit)
        .await?
        .into_iter()
        .map(Into::into)
        .collect())
}
