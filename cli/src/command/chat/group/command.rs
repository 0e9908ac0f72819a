//! The slash commands of a group's chat screen: what the input line says, how it reads back
//! in a notice, and the call to the daemon that carries it out.

use crate::api::{
    Client,
    model::{GroupChange, MembersRequest, UploadQuery},
};

/// The slash commands of a group's input line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Command {
    /// `/add NAME…`: add contacts.
    Add(Vec<String>),
    /// `/remove NAME`.
    Remove(String),
    /// `/rename NAME`.
    Rename(String),
    /// `/relays ADDRESS…`: move the group's log to these relays.
    Relays(Vec<String>),
    /// `/admin NAME` (`true`) or `/demote NAME`.
    Admin(String, bool),
    /// `/leave`.
    Leave,
    /// `/members`: list the members inline (on narrow terminals the list is not beside).
    Members,
    /// `/file PATH [CAPTION]`: send a file.
    File(std::path::PathBuf, String),
    /// `/save [ID]`: save the newest file, or the one whose message id starts with ID, to
    /// the current directory (fetching it first when it is not here yet).
    Save(Option<String>),
    /// `/reply TEXT`: reply to the newest message from another member (its id, once the
    /// screen found it).
    Reply(Option<String>, String),
    /// `/react EMOJI`: react to the newest message from another member; `/react` alone
    /// takes the reaction back.
    React(Option<String>, String),
    /// `/edit TEXT`: edit our newest message.
    Edit(Option<String>, String),
    /// `/delete`: delete our newest message for everyone.
    Delete(Option<String>),
    /// `/delete-for-me [ID]`: delete the newest message (anyone's), or the one whose id
    /// starts with ID, from this device alone.
    DeleteForMe(Option<String>, Option<String>),
    /// `/disappear 1h` (`5m`, `1h`, `1d`, `1w` or `off`): the group's disappearing-message
    /// timer for every member, in seconds (0: off).
    Disappear(u32),
    /// `/search WORDS`: the group's messages that hold them.
    Search(String),
}

impl Command {
    /// The command `line` holds, a problem with it, or `None` when it is a message.
    pub(super) fn parse(line: &str) -> Option<Result<Self, String>> {
        let rest = line.trim().strip_prefix('/')?;
        let (word, argument) = rest.split_once(char::is_whitespace).unwrap_or((rest, ""));
        let argument = argument.trim();
        let needs_name = || Err(t!("chat-group-needs-name", command = format!("/{word}")));
        let named = |make: fn(String) -> Self| {
            if argument.is_empty() {
                needs_name()
            } else {
                Ok(make(argument.to_owned()))
            }
        };
        Some(match word {
            "add" if argument.is_empty() => needs_name(),
            "add" => Ok(Self::Add(
                argument.split_whitespace().map(str::to_owned).collect(),
            )),
            "remove" => named(Self::Remove),
            "rename" => named(Self::Rename),
            "relays" if argument.is_empty() => {
                Err(t!("chat-group-needs-relay", command = "/relays".to_owned()))
            }
            "relays" => Ok(Self::Relays(
                argument.split_whitespace().map(str::to_owned).collect(),
            )),
            "admin" => named(|name| Self::Admin(name, true)),
            "demote" => named(|name| Self::Admin(name, false)),
            "leave" => Ok(Self::Leave),
            "members" => Ok(Self::Members),
            "file" if argument.is_empty() => {
                Err(t!("chat-group-needs-path", command = "/file".to_owned()))
            }
            "file" => {
                // A path with spaces is quoted: `/file "my report.pdf" the numbers`.
                let (path, caption) = match argument.strip_prefix('"') {
                    Some(quoted) => quoted.split_once('"').unwrap_or((quoted, "")),
                    None => argument
                        .split_once(char::is_whitespace)
                        .unwrap_or((argument, "")),
                };
                Ok(Self::File(path.into(), caption.trim().to_owned()))
            }
            "save" => Ok(Self::Save(
                (!argument.is_empty()).then(|| argument.to_ascii_lowercase()),
            )),
            "reply" | "edit" if argument.is_empty() => {
                Err(t!("chat-group-needs-text", command = format!("/{word}")))
            }
            "reply" => Ok(Self::Reply(None, argument.to_owned())),
            "edit" => Ok(Self::Edit(None, argument.to_owned())),
            "react" => Ok(Self::React(None, argument.to_owned())),
            "delete" => Ok(Self::Delete(None)),
            "disappear" => crate::command::disappear::parse_timer(argument).map(Self::Disappear),
            "search" => super::super::search::words(argument).map(Self::Search),
            "delete-for-me" => Ok(Self::DeleteForMe(
                (!argument.is_empty()).then(|| argument.to_ascii_lowercase()),
                None,
            )),
            other => Err(t!(
                "chat-group-unknown-command",
                command = format!("/{other}")
            )),
        })
    }

    /// How it was typed, for the notice that it is on its way.
    pub(super) fn word(&self) -> &'static str {
        match self {
            Self::Add(_) => "/add",
            Self::Remove(_) => "/remove",
            Self::Rename(_) => "/rename",
            Self::Relays(_) => "/relays",
            Self::Admin(_, true) => "/admin",
            Self::Admin(_, false) => "/demote",
            Self::Leave => "/leave",
            Self::Members => "/members",
            Self::File(..) => "/file",
            Self::Save(_) => "/save",
            Self::Reply(..) => "/reply",
            Self::React(..) => "/react",
            Self::Edit(..) => "/edit",
            Self::Delete(_) => "/delete",
            Self::DeleteForMe(..) => "/delete-for-me",
            Self::Disappear(_) => "/disappear",
            Self::Search(_) => "/search",
        }
    }

    /// Asks the daemon for the change.
    pub(super) async fn apply(
        self,
        client: &Client,
        group: &str,
    ) -> Result<(), crate::api::client::CallError> {
        match self {
            Self::Add(members) => client
                .add_members(group, &MembersRequest { members })
                .await
                .map(drop),
            Self::Remove(member) => client.remove_member(group, &member).await.map(drop),
            Self::Rename(name) => {
                let change = GroupChange {
                    name: Some(name),
                    ..GroupChange::default()
                };
                client.change_group(group, &change).await.map(drop)
            }
            Self::Relays(relays) => {
                let change = GroupChange {
                    relays: Some(relays),
                    ..GroupChange::default()
                };
                client.change_group(group, &change).await.map(drop)
            }
            Self::Admin(member, promote) => {
                let change = if promote {
                    GroupChange {
                        promote: Some(member),
                        ..GroupChange::default()
                    }
                } else {
                    GroupChange {
                        demote: Some(member),
                        ..GroupChange::default()
                    }
                };
                client.change_group(group, &change).await.map(drop)
            }
            Self::Disappear(secs) => {
                let change = GroupChange {
                    disappear_secs: Some(secs),
                    ..GroupChange::default()
                };
                client.change_group(group, &change).await.map(drop)
            }
            Self::Leave => client.leave_group(group).await,
            Self::File(path, caption) => {
                let query = UploadQuery {
                    name: path
                        .file_name()
                        .map(|n| n.to_string_lossy().into_owned())
                        .unwrap_or_default(),
                    caption: (!caption.is_empty()).then_some(caption),
                    ..UploadQuery::default()
                };
                client
                    .send_file(group, &path, &query, |_| {})
                    .await
                    .map(drop)
            }
            Self::Reply(Some(to), text) => client.reply(group, Some(&to), &text).await.map(drop),
            Self::React(Some(id), emoji) => client.react(group, &id, &emoji).await.map(drop),
            Self::Edit(Some(id), text) => client.edit(group, &id, &text).await.map(drop),
            Self::Delete(Some(id)) => client.delete_message(group, &id, true).await.map(drop),
            Self::DeleteForMe(_, Some(id)) => {
                client.delete_message(group, &id, false).await.map(drop)
            }
            // Answered by the screen, and by the loop; a change whose target the screen did
            // not find never leaves it.
            Self::Members
            | Self::Search(_)
            | Self::Save(_)
            | Self::Reply(None, _)
            | Self::React(None, _)
            | Self::Edit(None, _)
            | Self::Delete(None)
            | Self::DeleteForMe(_, None) => Ok(()),
        }
    }
}
