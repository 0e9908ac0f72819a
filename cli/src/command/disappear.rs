//! `tern disappear`: a conversation's disappearing-message timer.

use super::Context;
use crate::{
    api::model::{ChatSettingsRequest, GroupChange},
    backend::{self, Need},
    command::chats::{parse_duration, short},
    error::CliError,
};

/// Turn disappearing messages on or off in a conversation or a group. Everyone in it sees
/// the change in the chat; from then on each message is erased that long after it is sent
/// (on the sender's device) or read (on the others'), from history, search and the database
/// files.
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  tern disappear bob 1h
  tern disappear bob 1w
  tern disappear '#family' 1d
  tern disappear bob off")]
pub(crate) struct Disappear {
    /// A contact's name or an address, or a group as `#name`.
    peer: String,
    /// `5m`, `1h`, `1d`, `1w`, or `off`.
    #[arg(value_parser = parse_timer)]
    after: u32,
}

impl Disappear {
    pub(crate) async fn run(self, context: &Context) -> Result<(), CliError> {
        if self.peer.starts_with('#') {
            return self.run_in_group(context).await;
        }
        let settings = ChatSettingsRequest {
            disappear_secs: Some(self.after),
            ..Default::default()
        };
        let peer = self.peer;
        let chat = backend::with(context, Need::Data, async |b| {
            b.set_chat(&peer, settings).await
        })
        .await?;
        context.out.emit(&chat, |out| {
            writeln!(out, "{}", timer_line(&short(&peer), chat.disappear_secs))
        })
    }

    /// `tern disappear '#group' …`: the group's timer, for every member.
    async fn run_in_group(self, context: &Context) -> Result<(), CliError> {
        let change = GroupChange {
            disappear_secs: Some(self.after),
            ..Default::default()
        };
        let group = self.peer;
        let view = backend::with(context, Need::Data, async |b| {
            b.change_group(&group, change).await
        })
        .await?;
        context.out.emit(&view, |out| {
            writeln!(out, "{}", timer_line(&group, view.disappear_secs))
        })
    }
}

/// What a chat's timer is now, for people: `chat` is the contact or the group as shown.
fn timer_line(chat: &str, secs: Option<u32>) -> String {
    match secs {
        Some(secs) => t!("disappear-on", peer = chat, timer = timer_words(secs)),
        None => t!("disappear-off", peer = chat),
    }
}

/// `off` or one of the durations a timer can have, in seconds (0: off).
pub(crate) fn parse_timer(text: &str) -> Result<u32, String> {
    if text == "off" {
        return Ok(0);
    }
    let secs = parse_duration(text)?;
    match u32::try_from(secs) {
        Ok(secs) if tern_node::DISAPPEAR_CHOICES.contains(&secs) => Ok(secs),
        _ => Err(t!("disappear-bad-timer", text = format!("{text:?}"))),
    }
}

/// A timer for people: `5 minutes`, `1 hour`, `1 day`, `1 week`.
pub(crate) fn timer_words(secs: u32) -> String {
    match secs {
        0 => t!("timer-off"),
        300 => t!("timer-minutes", count = 5),
        3600 => t!("timer-hours", count = 1),
        86_400 => t!("timer-days", count = 1),
        604_800 => t!("timer-weeks", count = 1),
        other => t!("timer-seconds", count = other),
    }
}
