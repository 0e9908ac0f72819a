//! What each API operation does on a node. The HTTP handlers and the commands that open the
//! account themselves (no daemon running) both call these, so the two paths cannot drift.

use tern_node::{MAX_TEXT_LEN, MessageId, Node, SafetyNumber, UserId};

use super::model::{
    ApiError, BlockedView, Changed, ChatSettingsRequest, ChatView, ChatsPage, ContactView, Deleted,
    Delivery, EditView, HistoryPage, Identity, IdentityView, Marked, NewContact, NewMessage,
    ProfileSet, ProfileView, RequestView, SearchHitView, SearchQuery, SearchResults, Sent,
    StatusView, contact_view,
};

mod files;
mod groups;

pub(crate) use files::{
    Opened, check_upload, fetch_file, file_preview, files, open_file, send_file, stream_arriving,
};
pub(crate) use groups::{
    add_members, change_group, create_group, group, group_messages, groups, leave_group,
    mark_group_read, remove_member, send_to_group,
};

/// Default and largest page sizes: a screenful, and enough for scripts without letting one
/// request hold the node's core for long.
pub(crate) const DEFAULT_PAGE: usize = 50;
pub(crate) const MAX_PAGE: usize = 500;

pub(crate) fn identity(node: &Node) -> Identity {
    let user = node.user_id();
    Identity {
        address: user.to_string(),
        invite: node.invite(),
        fingerprint: group_digits(&SafetyNumber::fingerprint(&user)),
    }
}

fn group_digits(digits: &str) -> String {
    digits
        .as_bytes()
        .chunks(5)
        .map(|c| String::from_utf8_lossy(c).into_owned())
        .collect::<Vec<_>>()
        .join(" ")
}

/// Parses an address or an invite (`tern:<address>`).
pub(crate) fn parse_address(text: &str) -> Option<UserId> {
    let text = text.trim();
    text.strip_prefix("tern:").unwrap_or(text).parse().ok()
}

/// A contact name, an address or an invite, to the account it names.
pub(crate) async fn resolve(node: &Node, peer: &str) -> Result<UserId, ApiError> {
    if let Some(user) = parse_address(peer) {
        return Ok(user);
    }
    node.contacts()
        .await?
        .into_iter()
        .find(|c| c.name == peer)
        .map(|c| c.user)
        .ok_or_else(|| ApiError::not_found(format!("unknown contact {peer:?}")))
}

pub(crate) async fn contacts(node: &Node) -> Result<Vec<ContactView>, ApiError> {
    let me = node.user_id();
    Ok(node
        .contacts()
        .await?
        .into_iter()
        .map(|c| contact_view(&me, c))
        .collect())
}

pub(crate) async fn contact(node: &Node, peer: &str) -> Result<ContactView, ApiError> {
    let user = resolve(node, peer).await?;
    let me = node.user_id();
    node.contacts()
        .await?
        .into_iter()
        .find(|c| c.user == user)
        .map(|c| contact_view(&me, c))
        .ok_or_else(|| ApiError::not_found(format!("{peer:?} is not a contact")))
}

pub(crate) async fn add_contact(node: &Node, new: NewContact) -> Result<ContactView, ApiError> {
    let user = parse_address(&new.address).ok_or_else(|| {
        ApiError::bad_request(format!(
            "{:?} is neither an address (tern1…) nor an invite (tern:tern1…)",
            new.address
        ))
    })?;
    if user == node.user_id() {
        return Err(ApiError::bad_request("that is this account's own address"));
    }
    if parse_address(&new.name).is_some() {
        return Err(ApiError::bad_request(
            "a contact name cannot itself be an address",
        ));
    }
    node.add_contact(new.name.clone(), user).await?;
    contact(node, &user.to_string()).await
}

pub(crate) async fn remove_contact(node: &Node, peer: &str) -> Result<(), ApiError> {
    let contact = contact(node, peer).await?;
    let user = parse_address(&contact.address)
        .ok_or_else(|| ApiError::bad_request("stored contact address is malformed"))?;
    Ok(node.remove_contact(user).await?)
}

pub(crate) async fn verify_contact(
    node: &Node,
    peer: &str,
    verified: bool,
) -> Result<ContactView, ApiError> {
    let user = resolve(node, peer).await?;
    node.verify_contact(user, verified).await?;
    contact(node, &user.to_string()).await
}

/// Sets what a change of `peer`'s identity key does; `peer` is a contact's name or any
/// address.
pub(crate) async fn set_identity_policy(
    node: &Node,
    peer: &str,
    policy: &str,
) -> Result<IdentityView, ApiError> {
    let policy = crate::api::model::parse_policy(policy).ok_or_else(|| {
        ApiError::bad_request(format!(
            "{policy:?} is not a policy: use warn, block or trust-new"
        ))
    })?;
    let user = resolve(node, peer).await?;
    node.set_identity_policy(user, policy).await?;
    Ok(node.identity_state(user).await?.into())
}

/// Replaces this account's identity key; the address stays.
pub(crate) async fn rotate_identity_key(node: &Node) -> Result<Identity, ApiError> {
    node.rotate_identity_key().await?;
    Ok(identity(node))
}

/// Searches history: a page of the messages holding every word of `query`, newest first.
pub(crate) async fn search(node: &Node, query: SearchQuery) -> Result<SearchResults, ApiError> {
    let limit = page_size(query.limit)?;
    if query.q.trim().is_empty() {
        return Err(ApiError::bad_request(
            "give at least one word to search for",
        ));
    }
    let chat = match &query.peer {
        Some(chat) => Some(chat_of(node, chat).await?),
        None => None,
    };
    let page = node
        .search(&query.q, chat, limit, query.after.as_deref())
        .await?;
    Ok(SearchResults {
        hits: page
            .hits
            .into_iter()
            .filter_map(SearchHitView::of)
            .collect(),
        next: page.next,
    })
}

/// Changes the settings of the conversation with `peer` and returns it.
pub(crate) async fn set_chat(
    node: &Node,
    peer: &str,
    settings: ChatSettingsRequest,
) -> Result<ChatView, ApiError> {
    let user = resolve(node, peer).await?;
    if settings.muted_for_secs.is_some() && settings.muted != Some(true) {
        return Err(ApiError::bad_request("muted_for_secs needs muted: true"));
    }
    let download_rule = settings
        .auto_download
        .as_deref()
        .map(files::download_rule)
        .transpose()?;
    match settings.muted {
        Some(true) => {
            let until = match settings.muted_for_secs {
                Some(secs) => now_ms().saturating_add(secs.saturating_mul(1000)),
                None => u64::MAX,
            };
            node.mute_chat(user, Some(until)).await?;
        }
        Some(false) => node.mute_chat(user, None).await?,
        None => {}
    }
    if let Some(archived) = settings.archived {
        node.archive_chat(user, archived).await?;
    }
    if let Some(pinned) = settings.pinned {
        node.pin_chat(user, pinned).await?;
    }
    if let Some(secs) = settings.disappear_secs {
        node.set_disappearing(user, timer_after(secs)).await?;
    }
    if let Some(rule) = download_rule {
        node.set_auto_download(user, rule).await?;
    }
    node.chats()
        .await?
        .into_iter()
        .find(|c| c.peer == user)
        .map(Into::into)
        .ok_or_else(|| ApiError::not_found(format!("no conversation with {peer:?}")))
}

/// Our profile, or 404 when none is set.
pub(crate) async fn profile(node: &Node) -> Result<ProfileView, ApiError> {
    node.profile()
        .await?
        .map(Into::into)
        .ok_or_else(|| ApiError::not_found("no profile set yet"))
}

/// Sets our profile and sends it to our contacts.
pub(crate) async fn set_profile(node: &Node, profile: ProfileView) -> Result<ProfileSet, ApiError> {
    let sent_to = node.set_profile(profile.name, profile.status).await?;
    Ok(ProfileSet {
        profile: self::profile(node).await?,
        sent_to,
    })
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// A page of the chat list: the main list, or with `archived` only the archived chats.
pub(crate) async fn chats(
    node: &Node,
    limit: Option<usize>,
    cursor: Option<&str>,
    archived: bool,
) -> Result<ChatsPage, ApiError> {
    let limit = page_size(limit)?;
    let start = match cursor {
        None => 0,
        Some(c) => c
            .parse::<usize>()
            .map_err(|_| ApiError::bad_request(format!("malformed cursor {c:?}")))?,
    };
    let all: Vec<_> = node
        .chats()
        .await?
        .into_iter()
        .filter(|c| c.archived == archived)
        .collect();
    let end = (start + limit).min(all.len());
    let next = (end < all.len()).then(|| end.to_string());
    let chats = all
        .into_iter()
        .skip(start)
        .take(limit)
        .map(Into::into)
        .collect();
    // The groups go under the first page of the main list, newest message first.
    let mut groups = Vec::new();
    if start == 0 && !archived {
        for group in node.groups().await?.into_iter().filter(|g| g.active) {
            let last = node.group_history(group.id, 1).await?.pop();
            groups.push(super::model::GroupChatView {
                group: group.into(),
                last: last.map(Into::into),
            });
        }
        groups.sort_by_key(|g| std::cmp::Reverse(g.last.as_ref().map(|m| m.sent_at_ms)));
    }
    Ok(ChatsPage {
        chats,
        next,
        groups,
    })
}

pub(crate) async fn history(
    node: &Node,
    peer: &str,
    limit: Option<usize>,
    before: Option<String>,
) -> Result<HistoryPage, ApiError> {
    let limit = page_size(limit)?;
    let user = resolve(node, peer).await?;
    let before = before
        .map(|text| text.parse::<tern_node::HistoryCursor>())
        .transpose()
        .map_err(|e| ApiError::bad_request(e.to_string()))?;
    let page = node.history(user, limit, before).await?;
    Ok(HistoryPage {
        messages: page.messages.into_iter().map(Into::into).collect(),
        before: page.before.map(|cursor| cursor.to_string()),
    })
}

pub(crate) async fn mark_read(node: &Node, peer: &str) -> Result<Marked, ApiError> {
    let user = resolve(node, peer).await?;
    Ok(Marked {
        marked: node.mark_read(user).await?,
    })
}

pub(crate) async fn send(node: &Node, message: NewMessage) -> Result<Sent, ApiError> {
    if message.text.len() > MAX_TEXT_LEN {
        return Err(ApiError::too_large(format!(
            "the text is {} bytes; the most a message holds is {MAX_TEXT_LEN}",
            message.text.len()
        )));
    }
    if let tern_node::ChatId::Group(group) = chat_of(node, &message.to).await? {
        let id = match message.reply_to {
            Some(quoted) => {
                let quoted = message_id(node, group, &quoted, Pick::Any).await?;
                node.reply(group, quoted, message.text).await?
            }
            None => node.send_to_group(group, message.text).await?,
        };
        return Ok(Sent {
            id: id.to_string(),
            peer: group.to_string(),
            delivery: Delivery::Queued,
        });
    }
    let user = resolve(node, &message.to).await?;
    let id = match message.reply_to {
        Some(quoted) => {
            let quoted = message_id(node, user, &quoted, Pick::Any).await?;
            node.reply(user, quoted, message.text).await?
        }
        None => node.send(user, message.text).await?,
    };
    Ok(Sent {
        id: id.to_string(),
        peer: user.to_string(),
        delivery: Delivery::Queued,
    })
}

pub(crate) async fn requests(node: &Node) -> Result<Vec<RequestView>, ApiError> {
    Ok(node.requests().await?.into_iter().map(Into::into).collect())
}

pub(crate) async fn accept_request(node: &Node, peer: &str) -> Result<(), ApiError> {
    let user = resolve(node, peer).await?;
    Ok(node.accept_request(user).await?)
}

pub(crate) async fn delete_chat(node: &Node, peer: &str) -> Result<Deleted, ApiError> {
    let user = resolve(node, peer).await?;
    Ok(Deleted {
        deleted: node.delete_chat(user).await?,
    })
}

pub(crate) async fn blocked(node: &Node) -> Result<Vec<BlockedView>, ApiError> {
    Ok(node
        .blocked()
        .await?
        .into_iter()
        .map(|user| BlockedView {
            address: user.to_string(),
        })
        .collect())
}

/// Blocks (`blocked`) or unblocks the account `peer` names.
pub(crate) async fn block(node: &Node, peer: &str, blocked: bool) -> Result<(), ApiError> {
    let user = resolve(node, peer).await?;
    if user == node.user_id() {
        return Err(ApiError::bad_request("that is this account's own address"));
    }
    if blocked {
        Ok(node.block(user).await?)
    } else {
        Ok(node.unblock(user).await?)
    }
}

pub(crate) async fn status(node: &Node) -> Result<StatusView, ApiError> {
    Ok(node.status().await?.into())
}

/// Which message `last` stands for in [`message_id`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Pick {
    /// The newest message of the conversation (to reply or react to).
    Any,
    /// Our newest message (to edit or delete).
    Mine,
}

/// How far back a short id or `last` is looked up.
const LOOKUP_DEPTH: usize = 500;

/// A disappearing-message timer as the API gives it (seconds, 0: off) as the node takes it.
pub(crate) fn timer_after(secs: u32) -> Option<std::time::Duration> {
    (secs != 0).then(|| std::time::Duration::from_secs(u64::from(secs)))
}

/// The conversation `text` names: a group as `#name` or by its whole id (64 hex digits),
/// else a contact by name or address.
pub(crate) async fn chat_of(node: &Node, text: &str) -> Result<tern_node::ChatId, ApiError> {
    if let Ok(group) = text.parse::<tern_node::GroupId>() {
        return Ok(tern_node::ChatId::Group(group));
    }
    if text.starts_with('#') {
        return Ok(tern_node::ChatId::Group(
            groups::find_group(node, text).await?,
        ));
    }
    Ok(tern_node::ChatId::Peer(resolve(node, text).await?))
}

/// A message of the conversation (an account or a group) from its full id, a unique prefix of it (as
/// `tern history` prints, at least 4 hex digits) among the last 500 messages, or `last`.
pub(crate) async fn message_id(
    node: &Node,
    chat: impl Into<tern_node::ChatId>,
    text: &str,
    pick: Pick,
) -> Result<MessageId, ApiError> {
    if let Ok(id) = text.parse::<MessageId>() {
        return Ok(id);
    }
    let is_last = text == "last";
    if !is_last && (text.len() < 4 || !text.bytes().all(|b| b.is_ascii_hexdigit())) {
        return Err(ApiError::bad_request(format!(
            "{text:?} is not a message id (32 hex digits, a prefix of at least 4, or `last`)"
        )));
    }
    let messages: Vec<(MessageId, tern_node::Direction)> = match chat.into() {
        tern_node::ChatId::Peer(user) => node
            .history(user, LOOKUP_DEPTH, None)
            .await?
            .messages
            .iter()
            .map(|m| (m.id, m.direction))
            .collect(),
        tern_node::ChatId::Group(group) => node
            .group_history(group, LOOKUP_DEPTH)
            .await?
            .iter()
            .filter(|m| m.notice.is_none())
            .map(|m| (m.id, m.direction))
            .collect(),
    };
    let prefix = text.to_ascii_lowercase();
    let mut found: Vec<MessageId> = messages
        .iter()
        .rev()
        .filter(|(id, direction)| {
            if is_last {
                pick == Pick::Any || *direction == tern_node::Direction::Outgoing
            } else {
                id.to_string().starts_with(&prefix)
            }
        })
        .map(|(id, _)| *id)
        .collect();
    if is_last {
        found.truncate(1);
    }
    match found.as_slice() {
        [id] => Ok(*id),
        [] => Err(ApiError::not_found(format!(
            "no message {text:?} in this conversation"
        ))),
        _ => Err(ApiError::bad_request(format!(
            "{text:?} matches several messages; give more digits"
        ))),
    }
}

/// Edits our message `id` of the conversation with `peer`.
pub(crate) async fn edit(
    node: &Node,
    peer: &str,
    id: &str,
    text: String,
) -> Result<Changed, ApiError> {
    let chat = chat_of(node, peer).await?;
    let target = message_id(node, chat, id, Pick::Mine).await?;
    let change = node.edit(chat, target, text).await?;
    Ok(changed(target, Some(change)))
}

/// Deletes message `id` for everyone (`for_everyone`, our own within the window) or for us.
pub(crate) async fn delete_message(
    node: &Node,
    peer: &str,
    id: &str,
    for_everyone: bool,
) -> Result<Changed, ApiError> {
    let chat = chat_of(node, peer).await?;
    if for_everyone {
        let target = message_id(node, chat, id, Pick::Mine).await?;
        let change = node.delete(chat, target).await?;
        Ok(changed(target, Some(change)))
    } else {
        let target = message_id(node, chat, id, Pick::Any).await?;
        node.delete_for_me(chat, target).await?;
        Ok(changed(target, None))
    }
}

/// Sets (or, with an empty `emoji`, takes back) our reaction to message `id`.
pub(crate) async fn react(
    node: &Node,
    peer: &str,
    id: &str,
    emoji: String,
) -> Result<Changed, ApiError> {
    let chat = chat_of(node, peer).await?;
    let target = message_id(node, chat, id, Pick::Any).await?;
    let change = node.react(chat, target, emoji).await?;
    Ok(changed(target, Some(change)))
}

/// Every version of message `id`, oldest first.
pub(crate) async fn edit_history(
    node: &Node,
    peer: &str,
    id: &str,
) -> Result<Vec<EditView>, ApiError> {
    let chat = chat_of(node, peer).await?;
    let target = message_id(node, chat, id, Pick::Any).await?;
    Ok(node
        .edit_history(chat, target)
        .await?
        .into_iter()
        .map(|e| EditView {
            text: e.text,
            at_ms: e.at_ms,
        })
        .collect())
}

fn changed(target: MessageId, id: Option<MessageId>) -> Changed {
    Changed {
        target: target.to_string(),
        id: id.map(|id| id.to_string()),
    }
}

fn page_size(limit: Option<usize>) -> Result<usize, ApiError> {
    match limit.unwrap_or(DEFAULT_PAGE) {
        0 => Err(ApiError::bad_request("limit must be at least 1")),
        n if n > MAX_PAGE => Err(ApiError::bad_request(format!(
            "limit must be at most {MAX_PAGE}"
        ))),
        n => Ok(n),
    }
}
