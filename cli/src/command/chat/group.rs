//! `tern chat '#name'`: a group's conversation, full screen.
//!
//! The parts of a 1:1 chat serve here too (the [`link`] to the daemon, the [`Input`] line,
//! the text [`layout`]), with what a group has in place of a peer: its members, beside the
//! conversation on wide terminals; joins, leaves, renames and role changes inline, in the
//! order of the group's log; `⇡k/R` on our messages as the group's relays take them; files
//! inline with their state (`/file PATH` sends one, `/save` saves one); and slash commands
//! for the changes an admin makes.

use std::collections::HashMap;

use ratatui::{
    Frame,
    crossterm::event::{Event as TermEvent, KeyCode, KeyEvent, KeyModifiers},
    layout::{Constraint, Layout, Position},
    style::{Color, Modifier, Style},
    text::{Line, Span},
    widgets::{Block, Borders, Paragraph},
};
use tokio::sync::mpsc;
use unicode_width::UnicodeWidthStr;

use super::{
    Keys, clock, daemon_span,
    input::{Edit, Input},
    layout,
    link::{self, Conversation, Report},
    network_span, problem_span, rank,
};
use crate::{
    api::{
        Client,
        model::{
            Delivery, EventView, GroupEventView, GroupMemberView, GroupMessageView,
            GroupReceiptsView, GroupText, GroupView, StatusView,
        },
    },
    command::chats::short,
    error::CliError,
    profile::Profile,
};

mod changes;
mod command;

use command::Command;

/// The member list's width, shown beside the conversation on terminals at least
/// [`MEMBERS_FROM`] columns wide.
const MEMBERS_WIDTH: u16 = 28;
const MEMBERS_FROM: u16 = 100;

/// Runs the screen for `group` until the user quits.
/// Runs the screen for `group` until the user quits (`None`) or switches to another chat
/// (its name, address or `#name`).
pub(super) async fn run(
    profile: Profile,
    client: Client,
    group: GroupView,
) -> Result<Option<String>, CliError> {
    // People are shown by the names we gave them, ourselves as "me".
    let names = client
        .contacts()
        .await?
        .into_iter()
        .map(|c| (c.address, c.name))
        .collect();
    let me = client.status().await?.address;
    let id = group.id.clone();
    let mut screen = Screen::new(group, me, names);

    let (reports_tx, mut reports) = mpsc::channel(256);
    let link = tokio::spawn(link::run(
        profile,
        Conversation::Group(id.clone()),
        reports_tx.clone(),
    ));
    let mut keys = Keys::start();

    let mut terminal = ratatui::init();
    let mut outcome = Ok(None);
    let mut sender = Some(client);
    loop {
        if let Err(e) = terminal.draw(|frame| screen.draw(frame)) {
            outcome = Err(CliError::from(e));
            break;
        }
        tokio::select! {
            input = keys.next() => {
                let Some(input) = input else { break };
                // A resize: the next draw fits the new size.
                let TermEvent::Key(key) = input else { continue };
                let action = screen.on_key(key);
                if let Action::Switch(step) = action {
                    let here = format!("#{}", screen.group.name);
                    match super::list::ChatList::next_from(sender.as_ref(), &here, step).await {
                        Some(next) => {
                            outcome = Ok(Some(next));
                            break;
                        }
                        None => screen.problem = Some(t!("chat-no-other-chat")),
                    }
                    continue;
                }
                if let Action::Save(message) = &action {
                    let Some(client) = sender.clone() else {
                        screen.problem = Some(t!("chat-no-daemon"));
                        continue;
                    };
                    let (id, message, reports) = (id.clone(), message.clone(), reports_tx.clone());
                    tokio::spawn(async move {
                        let notice = super::save_file(&client, &id, &message, |name| {
                            t!("chat-group-file-fetching", name = name)
                        })
                        .await;
                        let _ = reports.send(Report::Notice(notice)).await;
                    });
                    continue;
                }
                let (Action::Send(_) | Action::Command(_)) = &action else {
                    if matches!(action, Action::Quit) {
                        break;
                    }
                    continue;
                };
                let Some(client) = sender.clone() else {
                    if let Action::Send(text) = action {
                        screen.input.restore(text);
                    }
                    screen.problem = Some(t!("chat-no-daemon"));
                    continue;
                };
                // What was sent or changed shows up through its event; only a failure, or
                // that a change is on its way, is reported here.
                let (id, reports) = (id.clone(), reports_tx.clone());
                tokio::spawn(async move {
                    let report = match action {
                        Action::Send(text) => {
                            let sent = client
                                .send_to_group(&id, &GroupText { text: text.clone() })
                                .await;
                            match sent {
                                Ok(_) => return,
                                Err(e) => Report::SendFailed(text, e.to_string()),
                            }
                        }
                        Action::Command(Command::Search(words)) => {
                            super::search::run(&client, &id, words).await
                        }
                        Action::Command(command) => {
                            let typed = command.word();
                            match command.apply(&client, &id).await {
                                Ok(()) => Report::Notice(t!("chat-group-asked", command = typed)),
                                Err(e) => Report::Notice(e.to_string()),
                            }
                        }
                        Action::None | Action::Quit | Action::Switch(_) | Action::Save(_) => {
                            return;
                        }
                    };
                    let _ = reports.send(report).await;
                });
            }
            report = reports.recv() => {
                let Some(report) = report else { break };
                report.track(&mut sender);
                screen.on_report(report);
                // Whatever arrived is on screen now: the group's unread count goes to zero.
                if screen.take_unread()
                    && let Some(client) = sender.clone()
                {
                    let id = id.clone();
                    tokio::spawn(async move {
                        let _ = client.mark_group_read(&id).await;
                    });
                }
            }
        }
    }
    ratatui::restore();
    link.abort();
    drop(keys);
    outcome
}

/// What the loop should do after a key.
#[derive(Debug, PartialEq, Eq)]
enum Action {
    None,
    Quit,
    /// Send a text to the group.
    Send(String),
    /// Change the group, or send a file.
    Command(Command),
    /// Save the file of this message.
    Save(String),
    /// Open the next (1) or previous (-1) chat of the chat list.
    Switch(isize),
}

/// A line of the conversation: a message, or a change to the group.
#[derive(Debug, Clone)]
enum Entry {
    Message(Box<GroupMessageView>),
    /// A change to the group. `echo` is the change of a notice from history that an event
    /// may still bring again (see `changes.rs`).
    Notice {
        at_ms: u64,
        text: String,
        echo: Option<Box<GroupEventView>>,
    },
}

struct Screen {
    group: GroupView,
    /// Our own address.
    me: String,
    /// Contacts' names by address.
    names: HashMap<String, String>,
    /// In the order the group's log gave them (the same for every member).
    entries: Vec<Entry>,
    input: Input,
    /// Lines scrolled up from the bottom.
    scroll: usize,
    connected: bool,
    problem: Option<String>,
    status: Option<StatusView>,
    /// Messages from others are on screen that the node still counts as unread.
    unread: bool,
    /// Files arriving, by message id: percent verified.
    progress: HashMap<String, u64>,
    /// What the last `/search` found, highlighted until Esc; and the conversation's width
    /// at the last draw, to bring the newest into view.
    found: Option<super::search::Matches>,
    body_width: std::cell::Cell<usize>,
    /// When history arrived (Unix ms): events a short while after it may echo its notices.
    history_at_ms: u64,
}

impl Screen {
    fn new(group: GroupView, me: String, names: HashMap<String, String>) -> Self {
        Self {
            group,
            me,
            names,
            entries: Vec::new(),
            input: Input::default(),
            scroll: 0,
            connected: true,
            problem: None,
            status: None,
            unread: false,
            progress: HashMap::new(),
            found: None,
            body_width: std::cell::Cell::new(80),
            history_at_ms: 0,
        }
    }

    /// Whether messages from others came on screen since the last call: the loop then marks
    /// the group read.
    fn take_unread(&mut self) -> bool {
        std::mem::take(&mut self.unread)
    }

    /// How a person is shown: "me", the contact's name, or a short address.
    fn name(&self, address: &str) -> String {
        if address == self.me {
            return t!("me");
        }
        self.names
            .get(address)
            .cloned()
            .unwrap_or_else(|| short(address))
    }

    fn on_key(&mut self, key: KeyEvent) -> Action {
        match self.input.on_key(key) {
            Edit::Typed | Edit::Changed => return Action::None,
            Edit::Ignored => {}
        }
        let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
        match key.code {
            KeyCode::Esc if self.found.is_some() => self.found = None,
            KeyCode::Esc => return Action::Quit,
            KeyCode::Char('c' | 'd') if ctrl => return Action::Quit,
            KeyCode::Char('n') if ctrl => return Action::Switch(1),
            KeyCode::Char('p') if ctrl => return Action::Switch(-1),
            KeyCode::Up => self.scroll += 1,
            KeyCode::Down => self.scroll = self.scroll.saturating_sub(1),
            KeyCode::PageUp => self.scroll += 10,
            KeyCode::PageDown => self.scroll = self.scroll.saturating_sub(10),
            KeyCode::Enter if !self.input.text().trim().is_empty() => {
                self.scroll = 0;
                let line = self.input.take();
                return match Command::parse(&line) {
                    Some(Ok(Command::Members)) => {
                        let members: Vec<_> =
                            self.group.members.iter().map(|m| self.member(m)).collect();
                        let text = t!("chat-group-member-list", members = members.join(", "));
                        self.notice(text);
                        Action::None
                    }
                    Some(Ok(Command::Save(prefix))) => match self.file_to_save(prefix.as_deref()) {
                        Some(id) => Action::Save(id),
                        None => {
                            self.problem = Some(t!("chat-group-no-file"));
                            Action::None
                        }
                    },
                    Some(Ok(command)) => match self.aim(command) {
                        Ok(command) => Action::Command(command),
                        Err(problem) => {
                            self.problem = Some(problem);
                            Action::None
                        }
                    },
                    Some(Err(problem)) => {
                        self.problem = Some(problem);
                        Action::None
                    }
                    None if !self.group.active => {
                        self.input.restore(line);
                        self.problem = Some(t!("chat-group-not-member"));
                        Action::None
                    }
                    None => Action::Send(line),
                };
            }
            _ => {}
        }
        Action::None
    }

    fn on_report(&mut self, report: Report) {
        match report {
            Report::Connected(_) => {
                self.connected = true;
                self.problem = None;
            }
            Report::Disconnected(reason) => {
                self.connected = false;
                self.problem = Some(reason);
            }
            Report::GroupHistory(messages) => {
                self.history_at_ms = now_ms();
                for mut message in messages {
                    match message.notice.take() {
                        Some(change) => self.history_notice(message.sent_at_ms, *change),
                        None => self.upsert(message),
                    }
                }
            }
            Report::Group(group) => self.group = group,
            Report::Event(EventView::Group { group, event }) if group == self.group.id => {
                self.on_event(event);
            }
            Report::Status(status) => self.status = Some(status),
            Report::SendFailed(text, reason) => {
                self.input.restore(text);
                self.problem = Some(t!("chat-not-sent", reason = reason));
            }
            Report::Notice(notice) => self.problem = Some(notice),
            Report::Found(found) => {
                // The newest found on screen is brought into view.
                let newest = self
                    .entries
                    .iter()
                    .rposition(|entry| matches!(entry, Entry::Message(m) if found.holds(&m.id)));
                if let Some(index) = newest {
                    let after = &self.entries[index + 1..];
                    self.scroll = self.entry_lines(after, self.body_width.get()).len();
                }
                self.problem = Some(found.notice(newest.is_some()));
                self.found = Some(found);
            }
            Report::Event(_) | Report::History(_) | Report::Chats(_) => {}
        }
    }

    fn on_event(&mut self, event: GroupEventView) {
        match event {
            GroupEventView::Message { message } => self.upsert(message),
            GroupEventView::Stored { id, relays } => {
                let replicas = u8::try_from(self.group.sequencers.len()).unwrap_or(u8::MAX);
                let stored = Delivery::Stored {
                    stored: u8::try_from(relays).unwrap_or(u8::MAX),
                    replicas,
                };
                for entry in &mut self.entries {
                    if let Entry::Message(m) = entry
                        && m.id == id
                        && rank(stored) > rank(m.delivery)
                    {
                        m.delivery = stored;
                    }
                }
            }
            GroupEventView::MessageEdited {
                id,
                text,
                edited_at_ms,
                ..
            } => {
                if let Some(m) = self.message_mut(&id) {
                    m.text = text;
                    m.edited_at_ms = Some(edited_at_ms);
                }
            }
            GroupEventView::DeletedForMe { id } | GroupEventView::MessageExpired { id } => {
                self.entries
                    .retain(|entry| !matches!(entry, Entry::Message(m) if m.id == id));
            }
            GroupEventView::MessageDeleted { id, .. } => {
                if let Some(m) = self.message_mut(&id) {
                    m.deleted = true;
                    m.text.clear();
                    m.file = None;
                    m.reactions.clear();
                }
            }
            GroupEventView::ReactionChanged { id, by, emoji } => {
                if let Some(m) = self.message_mut(&id) {
                    m.reactions.retain(|r| r.by != by);
                    if let Some(emoji) = emoji {
                        m.reactions
                            .push(crate::api::model::ReactionView { by, emoji });
                    }
                }
            }
            GroupEventView::AttachmentProgress {
                id,
                received,
                total,
            } => {
                self.progress
                    .insert(id, received.saturating_mul(100) / total.max(1));
            }
            GroupEventView::AttachmentChanged { id, state, failure } => {
                self.progress.remove(&id);
                for entry in &mut self.entries {
                    if let Entry::Message(m) = entry
                        && m.id == id
                        && let Some(file) = m.file.as_mut()
                    {
                        file.state = state.clone();
                        file.failure = failure.clone();
                    }
                }
            }
            GroupEventView::Receipts { id, receipts } => {
                for entry in &mut self.entries {
                    if let Entry::Message(m) = entry
                        && m.id == id
                    {
                        m.receipts = GroupReceiptsView::latest(m.receipts, Some(receipts));
                    }
                }
            }
            other => self.on_change(other),
        }
    }

    fn notice(&mut self, text: String) {
        self.entries.push(Entry::Notice {
            at_ms: now_ms(),
            text,
            echo: None,
        });
    }

    /// Adds a message, or updates the copy already shown (history and events overlap).
    fn upsert(&mut self, message: GroupMessageView) {
        if message.direction == "in" {
            self.unread = true;
        }
        for entry in &mut self.entries {
            if let Entry::Message(m) = entry
                && m.id == message.id
            {
                // States and counts only move forward; an older snapshot must not undo a
                // newer event.
                let receipts = GroupReceiptsView::latest(m.receipts, message.receipts);
                if rank(message.delivery) >= rank(m.delivery) {
                    **m = message;
                }
                m.receipts = receipts;
                return;
            }
        }
        self.entries.push(Entry::Message(Box::new(message)));
    }

    /// A change command with its target: the newest message from another member for
    /// `/reply` and `/react`, our newest for `/edit` and `/delete` (never a deleted one), the
    /// newest of anyone's (or the one whose id starts with what was typed) for
    /// `/delete-for-me`.
    fn aim(&self, command: Command) -> Result<Command, String> {
        let newest = |ours: bool| {
            self.entries.iter().rev().find_map(|entry| match entry {
                Entry::Message(m) if (m.direction == "out") == ours && !m.deleted => {
                    Some(m.id.clone())
                }
                _ => None,
            })
        };
        let none = || t!("chat-group-no-target");
        Ok(match command {
            Command::Reply(None, text) => {
                Command::Reply(Some(newest(false).ok_or_else(none)?), text)
            }
            Command::React(None, emoji) => {
                Command::React(Some(newest(false).ok_or_else(none)?), emoji)
            }
            Command::Edit(None, text) => Command::Edit(Some(newest(true).ok_or_else(none)?), text),
            Command::Delete(None) => Command::Delete(Some(newest(true).ok_or_else(none)?)),
            Command::DeleteForMe(prefix, None) => {
                let found = self.entries.iter().rev().find_map(|entry| match entry {
                    Entry::Message(m) if prefix.as_deref().is_none_or(|p| m.id.starts_with(p)) => {
                        Some(m.id.clone())
                    }
                    _ => None,
                });
                Command::DeleteForMe(prefix, Some(found.ok_or_else(none)?))
            }
            other => other,
        })
    }

    /// The message whose file `/save` means: the newest with a file, or the one whose id
    /// starts with `prefix`.
    fn file_to_save(&self, prefix: Option<&str>) -> Option<String> {
        self.entries.iter().rev().find_map(|entry| match entry {
            Entry::Message(m) if m.file.is_some() && prefix.is_none_or(|p| m.id.starts_with(p)) => {
                Some(m.id.clone())
            }
            _ => None,
        })
    }

    /// The message `id` on screen, to change.
    fn message_mut(&mut self, id: &str) -> Option<&mut GroupMessageView> {
        self.entries.iter_mut().find_map(|entry| match entry {
            Entry::Message(m) if m.id == id => Some(&mut **m),
            _ => None,
        })
    }

    /// A member as the list shows them: name, and the role when admin.
    fn member(&self, member: &GroupMemberView) -> String {
        let name = self.name(&member.address);
        if member.admin {
            format!("{name} ({})", t!("chat-group-admin"))
        } else {
            name
        }
    }

    fn draw(&self, frame: &mut Frame<'_>) {
        let area = frame.area();
        let main = if area.width >= MEMBERS_FROM {
            let [main, members] =
                Layout::horizontal([Constraint::Min(20), Constraint::Length(MEMBERS_WIDTH)])
                    .areas(area);
            self.draw_members(frame, members);
            main
        } else {
            area
        };
        let [body, status, input] = Layout::vertical([
            Constraint::Min(3),
            Constraint::Length(1),
            Constraint::Length(3),
        ])
        .areas(main);

        let title = self.title();
        let block = Block::new().borders(Borders::ALL).title(Line::from(title));
        let inner = block.inner(body);
        self.body_width.set(usize::from(inner.width.max(1)));
        let lines = self.lines(usize::from(inner.width.max(1)));
        let height = usize::from(inner.height);
        let scroll = self.scroll.min(lines.len().saturating_sub(height));
        let end = lines.len() - scroll;
        let start = end.saturating_sub(height);
        frame.render_widget(
            Paragraph::new(lines[start..end].to_vec()).block(block),
            body,
        );

        frame.render_widget(Paragraph::new(self.status_line()), status);

        let keys = if self.group.active {
            t!("chat-group-keys")
        } else {
            t!("chat-group-not-member")
        };
        let editor = Paragraph::new(self.input.text()).block(
            Block::new()
                .borders(Borders::ALL)
                .title(format!(" {keys} ")),
        );
        frame.render_widget(editor, input);
        let column = u16::try_from(self.input.column()).unwrap_or(u16::MAX);
        frame.set_cursor_position(Position::new(
            (input.x + 1 + column).min(input.right().saturating_sub(2)),
            input.y + 1,
        ));
    }

    fn draw_members(&self, frame: &mut Frame<'_>, area: ratatui::layout::Rect) {
        let mut members: Vec<_> = self.group.members.iter().collect();
        // Admins first, then by name.
        members.sort_by_cached_key(|m| (!m.admin, self.name(&m.address)));
        let lines: Vec<Line<'static>> = members
            .into_iter()
            .map(|m| {
                let style = if m.admin {
                    Style::new().fg(Color::Green)
                } else {
                    Style::new()
                };
                Line::styled(self.member(m), style)
            })
            .collect();
        let title = format!(
            " {} ({}) ",
            t!("chat-group-members"),
            self.group.members.len()
        );
        let block = Block::new().borders(Borders::ALL).title(title);
        frame.render_widget(Paragraph::new(lines).block(block), area);
    }

    /// The title line: the group's name, size, our role, its timer, and what is wrong.
    fn title(&self) -> Vec<Span<'static>> {
        let mut title = vec![
            Span::styled(
                format!(" #{} ", self.group.name),
                Style::new().add_modifier(Modifier::BOLD),
            ),
            Span::raw(format!(
                "{} ",
                t!("group-member-count", count = self.group.members.len())
            )),
        ];
        if self.group.admin {
            title.push(Span::styled(
                format!("· {} ", t!("chat-group-admin")),
                Style::new().fg(Color::Green),
            ));
        }
        if let Some(secs) = self.group.disappear_secs {
            title.push(Span::raw(format!(
                "· ⏱ {} ",
                crate::command::timer_words(secs)
            )));
        }
        let outage = if self.group.failing_over {
            Some(t!("chat-group-failing-over"))
        } else {
            self.group
                .unreachable_since_ms
                .map(|_| t!("chat-group-unreachable"))
        };
        if let Some(outage) = outage {
            title.push(Span::styled(
                format!("· {outage} "),
                Style::new().fg(Color::Yellow),
            ));
        }
        if !self.group.active {
            title.push(Span::styled(
                format!("· {} ", t!("chat-group-ended")),
                Style::new().fg(Color::Red),
            ));
        }
        title
    }

    fn lines(&self, width: usize) -> Vec<Line<'static>> {
        let mut lines = Vec::new();
        if self.entries.is_empty() {
            lines.push(Line::styled(
                t!("chat-group-empty"),
                Style::new().fg(Color::DarkGray),
            ));
        }
        lines.extend(self.entry_lines(&self.entries, width));
        lines
    }

    /// The lines of `entries`.
    fn entry_lines(&self, entries: &[Entry], width: usize) -> Vec<Line<'static>> {
        let mut lines = Vec::new();
        for entry in entries {
            match entry {
                Entry::Notice { at_ms, text, .. } => lines.push(Line::styled(
                    format!("{} · {text}", clock(*at_ms)),
                    Style::new()
                        .fg(Color::DarkGray)
                        .add_modifier(Modifier::ITALIC),
                )),
                Entry::Message(m) => self.message_lines(m, width, &mut lines),
            }
        }
        lines
    }

    /// A message's rows: time and author, the text wrapped (and reordered if right to
    /// left), and on ours its delivery mark.
    fn message_lines(&self, m: &GroupMessageView, width: usize, lines: &mut Vec<Line<'static>>) {
        let outgoing = m.direction == "out";
        let (who, color) = if outgoing {
            (t!("me"), Color::Cyan)
        } else {
            (self.name(&m.sender), Color::Magenta)
        };
        let clock = clock(m.sent_at_ms);
        let indent = format!("{clock} {who}: ").width();
        let room = width.saturating_sub(indent).max(8);
        let text = crate::output::group_body(m, self.progress.get(&m.id).copied());
        let rows = layout::rows(&text, room, room);
        let mark = outgoing
            .then(|| Span::styled(format!(" {}", m.mark()), Style::new().fg(Color::DarkGray)));
        let last = rows.len() - 1;
        // A mark that does not fit after the last row gets a row of its own.
        let own_row = mark
            .as_ref()
            .is_some_and(|mark| rows[last].width + mark.width() > room);
        for (i, row) in rows.into_iter().enumerate() {
            let mut spans = if i == 0 {
                vec![
                    Span::styled(clock.clone(), Style::new().fg(Color::DarkGray)),
                    Span::styled(format!(" {who}: "), Style::new().fg(color)),
                ]
            } else {
                vec![Span::raw(" ".repeat(indent))]
            };
            spans.push(if self.found.as_ref().is_some_and(|f| f.holds(&m.id)) {
                Span::styled(row.text, super::search::HIT)
            } else {
                Span::raw(row.text)
            });
            if i == last && !own_row {
                spans.extend(mark.clone());
            }
            lines.push(Line::from(spans));
        }
        if own_row {
            lines.push(Line::from(vec![Span::raw(" ".repeat(indent))]));
            if let (Some(line), Some(mark)) = (lines.last_mut(), mark) {
                line.spans.push(mark);
            }
        }
        if let Some(reactions) = crate::output::reactions(&m.reactions) {
            lines.push(Line::from(vec![
                Span::raw(" ".repeat(indent)),
                Span::styled(reactions, Style::new().fg(Color::Yellow)),
            ]));
        }
    }

    fn status_line(&self) -> Line<'static> {
        let mut spans = vec![daemon_span(self.connected)];
        spans.extend(self.status.as_ref().map(network_span));
        spans.extend(self.problem.as_deref().map(problem_span));
        Line::from(spans)
    }
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

#[cfg(test)]
mod tests;
