//! `tern group …`: group chats.

use super::Context;
use crate::{
    api::model::{GroupChange, GroupView, MembersRequest, NewGroup},
    backend::{self, Need},
    command::chats::short,
    error::CliError,
};

/// Group chats: create a group, add and remove members, rename it, name admins, move its
/// messages to other relays, leave it, and see its members and messages. A group is named
/// `#name` or by its id (a prefix of 4 or more hex digits); `tern send '#name' TEXT` writes
/// to it.
#[derive(Debug, clap::Subcommand)]
#[command(after_help = "Examples:
  tern group create family bob carol
  tern send '#family' 'dinner at 8?'
  tern group history '#family'
  tern group remove '#family' carol
  tern group relays '#family' /ip4/198.51.100.7/tcp/4001/p2p/12D3KooW…
  tern group info '#family'")]
pub(crate) enum Group {
    Create(Create),
    Add(Add),
    Remove(Remove),
    Leave(Leave),
    Rename(Rename),
    Admin(Admin),
    Relays(Relays),
    Info(Info),
    List(List),
    History(History),
}

/// Create a group with you as its admin, and add contacts to it.
#[derive(Debug, clap::Args)]
pub(crate) struct Create {
    /// Its name.
    name: String,
    /// Contacts to add (names or addresses).
    members: Vec<String>,
}

/// Add contacts to a group (admins only). Each joins once it has sent its key package.
#[derive(Debug, clap::Args)]
pub(crate) struct Add {
    /// `#name` or id of the group.
    group: String,
    /// Contacts to add (names or addresses).
    #[arg(required = true)]
    members: Vec<String>,
}

/// Remove a member from a group (admins only): it reads nothing said after its removal.
#[derive(Debug, clap::Args)]
pub(crate) struct Remove {
    /// `#name` or id of the group.
    group: String,
    /// The member (name or address).
    member: String,
}

/// Leave a group.
#[derive(Debug, clap::Args)]
pub(crate) struct Leave {
    /// `#name` or id of the group.
    group: String,
}

/// Rename a group (admins only).
#[derive(Debug, clap::Args)]
pub(crate) struct Rename {
    /// `#name` or id of the group.
    group: String,
    /// The new name.
    name: String,
}

/// Make a member an admin of a group, or with --demote no longer one (admins only).
#[derive(Debug, clap::Args)]
pub(crate) struct Admin {
    /// `#name` or id of the group.
    group: String,
    /// The member (name or address).
    member: String,
    /// Take the admin role away instead.
    #[arg(long)]
    demote: bool,
}

/// Move a group's messages to other relays (admins only): the relays that keep its log, in
/// the order that decides. A commit, decided by the relays that keep it now; every member
/// follows, one that is away when it comes back, so keep the old relays until everyone has.
#[derive(Debug, clap::Args)]
pub(crate) struct Relays {
    /// `#name` or id of the group.
    group: String,
    /// 1 to 3 relay addresses, each ending in /p2p/PEER.
    #[arg(required = true)]
    relays: Vec<String>,
}

/// Show a group: its members, admins and relays.
#[derive(Debug, clap::Args)]
pub(crate) struct Info {
    /// `#name` or id of the group.
    group: String,
}

/// List your groups.
#[derive(Debug, clap::Args)]
pub(crate) struct List {}

/// Show a group's newest messages.
#[derive(Debug, clap::Args)]
pub(crate) struct History {
    /// `#name` or id of the group.
    group: String,
    /// How many messages (1 to 500).
    #[arg(long, short = 'n', default_value_t = 20)]
    limit: usize,
}

impl Group {
    pub(crate) async fn run(self, context: &Context) -> Result<(), CliError> {
        match self {
            Self::Create(c) => {
                let new = NewGroup {
                    name: c.name,
                    members: c.members,
                };
                let group =
                    backend::with(context, Need::Network, async |b| b.create_group(new).await)
                        .await?;
                show(
                    context,
                    &group,
                    t!("group-created", name = group.name.as_str()),
                )
            }
            Self::Add(c) => {
                let request = MembersRequest { members: c.members };
                let group = backend::with(context, Need::Network, async |b| {
                    b.add_members(&c.group, request).await
                })
                .await?;
                show(
                    context,
                    &group,
                    t!("group-adding", name = group.name.as_str()),
                )
            }
            Self::Remove(c) => {
                let group = backend::with(context, Need::Network, async |b| {
                    b.remove_member(&c.group, &c.member).await
                })
                .await?;
                let line = t!(
                    "group-removing",
                    member = c.member.as_str(),
                    name = group.name.as_str()
                );
                show(context, &group, line)
            }
            Self::Leave(c) => {
                backend::with(context, Need::Network, async |b| {
                    b.leave_group(&c.group).await
                })
                .await?;
                context
                    .out
                    .emit(&serde_json::json!({ "left": c.group }), |out| {
                        writeln!(out, "{}", t!("group-leaving", group = c.group.as_str()))
                    })
            }
            Self::Rename(c) => {
                let change = GroupChange {
                    name: Some(c.name),
                    ..GroupChange::default()
                };
                let group = backend::with(context, Need::Network, async |b| {
                    b.change_group(&c.group, change).await
                })
                .await?;
                show(context, &group, t!("group-renaming"))
            }
            Self::Admin(c) => {
                let change = if c.demote {
                    GroupChange {
                        demote: Some(c.member.clone()),
                        ..GroupChange::default()
                    }
                } else {
                    GroupChange {
                        promote: Some(c.member.clone()),
                        ..GroupChange::default()
                    }
                };
                let group = backend::with(context, Need::Network, async |b| {
                    b.change_group(&c.group, change).await
                })
                .await?;
                show(
                    context,
                    &group,
                    t!("group-admin-changing", member = c.member.as_str()),
                )
            }
            Self::Relays(c) => {
                let count = c.relays.len();
                let change = GroupChange {
                    relays: Some(c.relays),
                    ..GroupChange::default()
                };
                let group = backend::with(context, Need::Network, async |b| {
                    b.change_group(&c.group, change).await
                })
                .await?;
                show(context, &group, t!("group-moving-log", count = count))
            }
            Self::Info(c) => {
                let group =
                    backend::with(context, Need::Data, async |b| b.group(&c.group).await).await?;
                show(context, &group, String::new())
            }
            Self::List(_) => {
                let groups = backend::with(context, Need::Data, async |b| b.groups().await).await?;
                context.out.emit(&groups, |out| {
                    if groups.is_empty() {
                        return writeln!(out, "{}", t!("group-none"));
                    }
                    for g in &groups {
                        let mut state = String::new();
                        if !g.active {
                            state = format!(" {}", t!("group-left-mark"));
                        } else if g.unread > 0 {
                            state = format!(" {}", t!("chats-unread", count = g.unread));
                        }
                        writeln!(
                            out,
                            "#{}  {}  {}{state}",
                            g.name,
                            &g.id[..8],
                            t!("group-member-count", count = g.members.len())
                        )?;
                    }
                    Ok(())
                })
            }
            Self::History(c) => {
                let limit = Some(c.limit);
                let messages = backend::with(context, Need::Data, async |b| {
                    b.group_messages(&c.group, limit).await
                })
                .await?;
                context.out.emit(&messages, |out| {
                    for m in &messages {
                        let body = crate::output::group_body(m, None);
                        if m.notice.is_some() {
                            // A change to the group: its words name who made it.
                            writeln!(out, "  {body}")?;
                        } else if m.direction == "out" {
                            writeln!(out, "{}: {body}  {}", t!("group-you"), m.mark())?;
                        } else {
                            writeln!(out, "{}: {body}", short(&m.sender))?;
                        }
                    }
                    Ok(())
                })
            }
        }
    }
}

/// Prints a group after a change (`line` first, if any), or its JSON.
fn show(context: &Context, group: &GroupView, line: String) -> Result<(), CliError> {
    context.out.emit(group, |out| {
        if !line.is_empty() {
            writeln!(out, "{line}")?;
        }
        writeln!(out, "#{}  {}", group.name, group.id)?;
        for m in &group.members {
            let role = if m.admin {
                t!("group-admin")
            } else {
                String::new()
            };
            writeln!(out, "  {} {role}", short(&m.address))?;
        }
        if !group.active {
            writeln!(out, "{}", t!("group-inactive"))?;
        } else if line.is_empty() {
            let relays = group.sequencers.join(", ");
            writeln!(out, "{}", t!("group-relays", relays = relays))?;
            if group.failing_over {
                writeln!(out, "{}", t!("group-failing-over"))?;
            } else if let Some(since) = group.unreachable_since_ms {
                let since = crate::output::time(since);
                writeln!(out, "{}", t!("group-unreachable", since = since))?;
            }
            // `info`: how old our keys in it are.
            let renewed = match group.keys_renewed_ms {
                Some(ms) => t!("group-keys-renewed", time = crate::output::time(ms)),
                None => t!("group-keys-not-renewed"),
            };
            writeln!(out, "{renewed}")?;
            if let Some(secs) = group.disappear_secs {
                let timer = crate::command::timer_words(secs);
                writeln!(out, "{}", t!("group-timer", timer = timer))?;
            }
        }
        if group.active && group.held > 0 {
            writeln!(out, "{}", t!("group-held", count = group.held))?;
        }
        Ok(())
    })
}
