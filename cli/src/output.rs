//! Command output: human-readable by default, one JSON document with `--json`.

use std::io::{self, Write};

use serde::Serialize;

use crate::{api::model::MessageView, error::CliError};

#[derive(Debug, Clone, Copy)]
pub(crate) struct Output {
    json: bool,
}

impl Output {
    pub(crate) fn new(json: bool) -> Self {
        Self { json }
    }

    pub(crate) fn is_json(self) -> bool {
        self.json
    }

    /// Prints `value` as JSON with `--json`, else whatever `human` writes.
    pub(crate) fn emit<T: Serialize>(
        self,
        value: &T,
        human: impl FnOnce(&mut dyn Write) -> io::Result<()>,
    ) -> Result<(), CliError> {
        let stdout = io::stdout();
        let mut out = stdout.lock();
        if self.json {
            serde_json::to_writer_pretty(&mut out, value).map_err(io::Error::from)?;
            writeln!(out)?;
        } else {
            human(&mut out)?;
        }
        out.flush()?;
        Ok(())
    }
}

/// A route or NAT state as the API names it (`direct`, `private`…), in words of the chosen
/// language. A value this version does not know is shown as it is.
pub(crate) fn term(value: &str) -> String {
    match value {
        "direct" => t!("term-direct"),
        "circuit" => t!("term-circuit"),
        "mailbox" => t!("term-mailbox"),
        "public" => t!("term-public"),
        "private" => t!("term-private"),
        "unknown" => t!("term-unknown"),
        other => other.to_owned(),
    }
}

/// `text` padded with spaces to `columns` display columns: CJK and emoji take two, so a
/// column of names lines up whatever script they are in.
pub(crate) fn pad(text: &str, columns: usize) -> String {
    let width = unicode_width::UnicodeWidthStr::width(text);
    format!("{text}{}", " ".repeat(columns.saturating_sub(width)))
}

/// A time for people, in the machine's time zone: `2026-11-22 14:05`.
pub(crate) fn time(ms: u64) -> String {
    let Ok(stamp) = jiff::Timestamp::from_millisecond(i64::try_from(ms).unwrap_or(i64::MAX)) else {
        return format!("@{ms}");
    };
    stamp
        .to_zoned(jiff::tz::TimeZone::system())
        .strftime("%Y-%m-%d %H:%M")
        .to_string()
}

/// What a message shows as its text: the text, marked when edited; a tombstone when deleted;
/// a notice for a kind this version cannot show.
pub(crate) fn body(m: &MessageView) -> String {
    match m.kind.as_str() {
        "deleted" => t!("message-deleted"),
        "unsupported" => t!("message-unsupported"),
        "identity_changed" if m.held == Some(true) => t!("message-identity-held"),
        "identity_changed" => t!("message-identity-changed"),
        "timer" => match m.timer_secs.unwrap_or(0) {
            0 => t!("message-timer-off"),
            secs => t!("message-timer", timer = crate::command::timer_words(secs)),
        },
        "attachment" => {
            let file = m.file.as_ref().map(attachment).unwrap_or_default();
            if m.text.is_empty() {
                file
            } else {
                format!("{file}  {}", m.text)
            }
        }
        _ => {
            let timer = if m.disappear_secs.is_some() {
                "⏱ "
            } else {
                ""
            };
            if m.edited_at_ms.is_some() {
                format!("{timer}{}", t!("message-edited", text = m.text.as_str()))
            } else {
                format!("{timer}{}", m.text)
            }
        }
    }
}

/// A file as a line shows it: `📎 report.pdf · 2.4 MB · offered`.
pub(crate) fn attachment(file: &crate::api::model::AttachmentView) -> String {
    let state = match file.state.as_str() {
        "ready" => t!("file-ready"),
        "offered" => t!("file-offered"),
        "fetching" => t!("file-fetching"),
        "failed" => t!("file-failed"),
        other => other.to_owned(),
    };
    format!("📎 {} · {} · {state}", file.name, size(file.size))
}

/// What a chat says of a change to a group, each person shown as `who` shows them; `None`
/// for an event that is none. The chat screen, `tern group history` and `tern chats` share
/// these words.
pub(crate) fn group_change(
    event: &crate::api::model::GroupEventView,
    who: &dyn Fn(&str) -> String,
) -> Option<String> {
    use crate::api::model::GroupEventView;
    let names_of = |addresses: &[String]| {
        let names: Vec<_> = addresses.iter().map(|a| who(a)).collect();
        names.join(", ")
    };
    Some(match event {
        GroupEventView::Joined { name, by } => match by {
            Some(by) => t!("chat-group-joined", by = who(by), name = name),
            None => t!("chat-group-created", name = name),
        },
        GroupEventView::Added { by, members } => t!(
            "chat-group-added",
            by = who(by),
            members = names_of(members)
        ),
        GroupEventView::Removed { by, members } => {
            if *members == [by.clone()] {
                t!("chat-group-left", member = who(by))
            } else {
                t!(
                    "chat-group-removed",
                    by = who(by),
                    members = names_of(members)
                )
            }
        }
        GroupEventView::Renamed { by, name } => {
            t!("chat-group-renamed", by = who(by), name = name.as_str())
        }
        GroupEventView::TimerChanged { by, timer_secs } => {
            let by = who(by);
            match timer_secs {
                0 => t!("chat-group-timer-off", by = by),
                secs => t!(
                    "chat-group-timer",
                    by = by,
                    timer = crate::command::timer_words(*secs)
                ),
            }
        }
        GroupEventView::AdminChanged { by, member, admin } => {
            let (by, member) = (who(by), who(member));
            if *admin {
                t!("chat-group-promoted", by = by, member = member)
            } else {
                t!("chat-group-demoted", by = by, member = member)
            }
        }
        GroupEventView::Ended => t!("chat-group-ended"),
        GroupEventView::AddWaiting { member } => {
            t!("chat-group-waiting", member = who(member))
        }
        GroupEventView::FellBehind { asked } => {
            if asked.is_empty() {
                t!("chat-group-behind-alone")
            } else {
                t!("chat-group-behind", admins = names_of(asked))
            }
        }
        GroupEventView::Missed { count } => t!("chat-group-missed", count = count),
        GroupEventView::AddedBack { by, members } => t!(
            "chat-group-added-back",
            by = who(by),
            members = names_of(members)
        ),
        GroupEventView::LogMoved { by, relays } => {
            let list = relays.join(", ");
            t!("chat-group-log-moved", by = who(by), relays = list)
        }
        _ => return None,
    })
}

/// A group message as a line shows it: its text, or its file (with `percent` verified while
/// it arrives), the caption, and the id `tern save` takes: `📎 plans.pdf · 2.0 MB · ready
/// the plans  ·f1a2b3c4`.
pub(crate) fn group_body(m: &crate::api::model::GroupMessageView, percent: Option<u64>) -> String {
    if let Some(change) = &m.notice {
        let short = crate::command::short_address;
        return group_change(change, &|address| short(address)).unwrap_or_default();
    }
    if m.deleted {
        return t!("message-deleted");
    }
    let reply = m
        .reply_to
        .as_deref()
        .map(|id| format!("↪ {} ", id.get(..8).unwrap_or(id)))
        .unwrap_or_default();
    let edited = if m.edited_at_ms.is_some() {
        format!(" {}", t!("message-edited-mark"))
    } else {
        String::new()
    };
    // A disappearing message wears a timer before its text, as in a 1:1 chat.
    let timer = if m.disappear_secs.is_some() {
        "⏱ "
    } else {
        ""
    };
    let Some(file) = &m.file else {
        return format!("{reply}{timer}{}{edited}", m.text);
    };
    let mut shown = attachment(file);
    if let Some(percent) = percent {
        shown = format!("{shown} {percent}%");
    }
    if !m.text.is_empty() {
        shown = format!("{shown}  {}", m.text);
    }
    format!(
        "{reply}{timer}{shown}{edited}  ·{}",
        m.id.get(..8).unwrap_or(&m.id)
    )
}

/// A size for people: `980 B`, `14.2 kB`, `2.4 MB` (powers of 1,000, as file managers show).
pub(crate) fn size(bytes: u64) -> String {
    match bytes {
        0..1_000 => format!("{bytes} B"),
        1_000..1_000_000 => format!("{:.1} kB", bytes as f64 / 1e3),
        1_000_000..1_000_000_000 => format!("{:.1} MB", bytes as f64 / 1e6),
        _ => format!("{:.1} GB", bytes as f64 / 1e9),
    }
}

/// A progress bar on standard error for a transfer of `total` bytes, with its rate and the
/// time left; hidden when standard error is not a terminal or output is JSON.
pub(crate) fn progress(out: Output, total: u64, label: String) -> indicatif::ProgressBar {
    if out.is_json() || !io::IsTerminal::is_terminal(&io::stderr()) {
        return indicatif::ProgressBar::hidden();
    }
    let bar = indicatif::ProgressBar::with_draw_target(
        Some(total),
        indicatif::ProgressDrawTarget::stderr(),
    );
    if let Ok(style) = indicatif::ProgressStyle::with_template(
        "{msg} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} {eta}",
    ) {
        bar.set_style(style.progress_chars("=> "));
    }
    bar.set_message(label);
    bar
}

/// `↪ 1a2b3c4d ` before a reply: the short id of the message it answers.
pub(crate) fn reply_mark(m: &MessageView) -> String {
    m.reply_to
        .as_deref()
        .map(|id| format!("↪ {} ", id.get(..8).unwrap_or(id)))
        .unwrap_or_default()
}

/// The reactions to a message, counted by emoji (`👍 2  🎉 1`), if any.
pub(crate) fn reactions(list: &[crate::api::model::ReactionView]) -> Option<String> {
    if list.is_empty() {
        return None;
    }
    let mut counted: Vec<(&str, usize)> = Vec::new();
    for reaction in list {
        match counted
            .iter_mut()
            .find(|(emoji, _)| *emoji == reaction.emoji)
        {
            Some((_, n)) => *n += 1,
            None => counted.push((&reaction.emoji, 1)),
        }
    }
    Some(
        counted
            .iter()
            .map(|(emoji, n)| format!("{emoji} {n}"))
            .collect::<Vec<_>>()
            .join("  "),
    )
}
