//! `tern chats`: the chat list.

use super::Context;
use crate::{
    api::model::{ChatSettingsRequest, GroupChange},
    backend::{self, Need},
    error::CliError,
    output,
};

/// List conversations, pinned first then most recent, with unread counts, and after them
/// the groups you are in (`tern group`); mute, archive, pin or delete one. Message requests
/// from people who are not contacts are listed by `tern requests`.
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  tern chats
  tern chats --archived
  tern chats --json | jq '.chats[] | select(.unread > 0)'
  tern chats mute bob --for 8h
  tern chats pin alice
  tern chats archive carol
  tern chats downloads mum always
  tern chats downloads work 2MB
  tern chats downloads '#family' never
  tern chats delete bob")]
pub(crate) struct Chats {
    #[command(subcommand)]
    action: Option<Action>,
    /// List the archived chats instead.
    #[arg(long)]
    archived: bool,
    /// Chats per page.
    #[arg(long, default_value_t = 50)]
    limit: usize,
    /// Continue from the `next` cursor of a previous page.
    #[arg(long)]
    cursor: Option<String>,
}

#[derive(Debug, clap::Subcommand)]
enum Action {
    /// Mute a chat: its messages arrive and count as unread, without notifications.
    Mute {
        /// A contact's name or an address.
        peer: String,
        /// For how long: a number with s, m, h, d or w (`8h`, `1w`); until unmuted if absent.
        #[arg(long = "for", value_parser = parse_duration)]
        duration: Option<u64>,
    },
    /// Unmute a chat.
    Unmute {
        /// A contact's name or an address.
        peer: String,
    },
    /// Move a chat to the archive (`tern chats --archived`); a message arriving while it is
    /// not muted brings it back.
    Archive {
        /// A contact's name or an address.
        peer: String,
    },
    /// Take a chat out of the archive.
    Unarchive {
        /// A contact's name or an address.
        peer: String,
    },
    /// Pin a chat to the top of the list.
    Pin {
        /// A contact's name or an address.
        peer: String,
    },
    /// Unpin a chat.
    Unpin {
        /// A contact's name or an address.
        peer: String,
    },
    /// Choose which files from a chat are fetched as soon as their message arrives; the
    /// others wait to be fetched (`tern attachments`, `tern save`).
    Downloads {
        /// A contact's name or an address, or a group as `#name`.
        peer: String,
        /// `never`, `always` (every file, up to 100 MB), a size such as `2MB` or `500kB`, or
        /// `default` (the node's rule: up to 16 MB, photos, voice notes and short videos).
        rule: String,
    },
    /// Delete a conversation and every message stored for it (erased from the database
    /// files); messages to the peer not yet delivered are not sent. The contact stays.
    Delete {
        /// A contact's name or an address.
        peer: String,
    },
}

impl Chats {
    pub(crate) async fn run(self, context: &Context) -> Result<(), CliError> {
        let setting = match &self.action {
            Some(Action::Mute { peer, duration }) => Some((
                peer,
                ChatSettingsRequest {
                    muted: Some(true),
                    muted_for_secs: *duration,
                    ..Default::default()
                },
                t!("chats-muted"),
            )),
            Some(Action::Unmute { peer }) => Some((
                peer,
                ChatSettingsRequest {
                    muted: Some(false),
                    ..Default::default()
                },
                t!("chats-unmuted"),
            )),
            Some(Action::Archive { peer }) => Some((
                peer,
                ChatSettingsRequest {
                    archived: Some(true),
                    ..Default::default()
                },
                t!("chats-archived"),
            )),
            Some(Action::Unarchive { peer }) => Some((
                peer,
                ChatSettingsRequest {
                    archived: Some(false),
                    ..Default::default()
                },
                t!("chats-unarchived"),
            )),
            Some(Action::Pin { peer }) => Some((
                peer,
                ChatSettingsRequest {
                    pinned: Some(true),
                    ..Default::default()
                },
                t!("chats-pinned"),
            )),
            Some(Action::Unpin { peer }) => Some((
                peer,
                ChatSettingsRequest {
                    pinned: Some(false),
                    ..Default::default()
                },
                t!("chats-unpinned"),
            )),
            Some(Action::Downloads { peer, rule }) => Some((
                peer,
                ChatSettingsRequest {
                    auto_download: Some(rule.clone()),
                    ..Default::default()
                },
                t!("chats-downloads", rule = rule.clone()),
            )),
            _ => None,
        };
        if let Some(Action::Downloads { peer, rule }) = &self.action
            && peer.starts_with('#')
        {
            // A group's rule is one of the group's settings.
            let change = GroupChange {
                auto_download: Some(rule.clone()),
                ..GroupChange::default()
            };
            let group = backend::with(context, Need::Data, async |b| {
                b.change_group(peer, change).await
            })
            .await?;
            let done = t!("chats-downloads", rule = rule.clone());
            return context
                .out
                .emit(&group, |out| writeln!(out, "{done} {peer}"));
        }
        if let Some((peer, settings, done)) = setting {
            let chat = backend::with(context, Need::Data, async |b| {
                b.set_chat(peer, settings).await
            })
            .await?;
            return context
                .out
                .emit(&chat, |out| writeln!(out, "{done} {}", short(peer)));
        }
        if let Some(Action::Delete { peer }) = self.action {
            let deleted =
                backend::with(context, Need::Data, async |b| b.delete_chat(&peer).await).await?;
            return context.out.emit(&deleted, |out| {
                let line = t!(
                    "chats-deleted",
                    peer = short(&peer),
                    count = deleted.deleted
                );
                writeln!(out, "{line}")
            });
        }
        let (limit, cursor, archived) = (self.limit, self.cursor, self.archived);
        // The daemon puts the groups under the first page of the main list.
        let page = backend::with(context, Need::Data, async |b| {
            b.chats(Some(limit), cursor.as_deref(), archived).await
        })
        .await?;
        let groups: Vec<_> = page.groups.iter().map(|g| (&g.group, &g.last)).collect();
        context.out.emit(&page, |out| {
            if page.chats.is_empty() && groups.is_empty() {
                return writeln!(out, "{}", t!("chats-none"));
            }
            for chat in &page.chats {
                let name = chat
                    .name
                    .clone()
                    .or_else(|| chat.profile.as_ref().map(|p| p.name.clone()))
                    .unwrap_or_else(|| short(&chat.peer));
                let unread = if chat.unread > 0 {
                    t!("chats-unread", count = chat.unread)
                } else {
                    String::new()
                };
                let marks = format!(
                    "{}{}{}",
                    if chat.pinned { "📌" } else { "" },
                    if chat.disappear_secs.is_some() {
                        "⏱"
                    } else {
                        ""
                    },
                    if chat.muted_until_ms.is_some() {
                        "🔇"
                    } else {
                        ""
                    }
                );
                writeln!(
                    out,
                    "{} {} {} {}  {}",
                    output::pad(&name, 16),
                    output::pad(&marks, 4),
                    output::pad(&unread, 11),
                    output::time(chat.last_ms),
                    preview(&chat.last_text)
                )?;
            }
            for (group, last) in &groups {
                let members = t!("group-member-count", count = group.members.len());
                let unread = if group.unread > 0 {
                    t!("chats-unread", count = group.unread)
                } else {
                    String::new()
                };
                let (time, text) = match last {
                    Some(m) => (
                        output::time(m.sent_at_ms),
                        preview(&output::group_body(m, None)),
                    ),
                    None => (String::new(), String::new()),
                };
                writeln!(
                    out,
                    "{} {} {} {}  {} · {}",
                    output::pad(&format!("#{}", group.name), 16),
                    output::pad(
                        if group.disappear_secs.is_some() {
                            "⏱"
                        } else {
                            ""
                        },
                        4
                    ),
                    output::pad(&unread, 11),
                    output::pad(&time, 16),
                    members,
                    text
                )?;
            }
            if let Some(next) = &page.next {
                let command = format!("tern chats --cursor {next}");
                writeln!(out, "{}", t!("page-more", command = command))?;
            }
            Ok(())
        })
    }
}

/// An address shortened for a list.
pub(crate) fn short(address: &str) -> String {
    if address.len() > 16 {
        format!("{}…", &address[..14])
    } else {
        address.to_owned()
    }
}

/// One line of a message, cut to fit a list.
fn preview(text: &str) -> String {
    let line = text.lines().next().unwrap_or_default();
    if line.chars().count() > 48 || text.lines().nth(1).is_some() {
        format!("{}…", line.chars().take(47).collect::<String>())
    } else {
        line.to_owned()
    }
}

/// A duration such as `90s`, `30m`, `8h`, `2d` or `1w`, in seconds.
pub(crate) fn parse_duration(text: &str) -> Result<u64, String> {
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: u64 = number
        .parse()
        .map_err(|_| t!("duration-bad", text = format!("{text:?}")))?;
    let unit = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        "w" => 604_800,
        _ => return Err(t!("duration-unit", text = format!("{text:?}"))),
    };
    Ok(number.saturating_mul(unit))
}
