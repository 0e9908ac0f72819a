//! What the chat screen shows, and how it draws it.

use ratatui::{
    Frame,
    crossterm::event::{KeyCode, KeyEvent, KeyModifiers},
    layout::{Constraint, Layout, Position},
    style::{Color, Modifier, Style},
    text::{Line, Span},
    widgets::{Block, Borders, Paragraph},
};

use unicode_width::UnicodeWidthStr;

use super::{
    clock, daemon_span,
    input::{Edit, Input},
    layout,
    link::Report,
    list::{self, ChatList, FinderKey, Found},
    network_span, problem_span, rank,
};
use crate::{
    api::model::{
        ChatChangeView, ContactView, Delivery, EventView, MessageView, ReactionView, StatusView,
    },
    output,
};

mod command;
pub(crate) use command::Command;

/// What the loop should do after a key.
pub(crate) enum Action {
    None,
    Quit,
    /// Send a text, as a reply to the message with this id when given.
    Send(String, Option<String>),
    /// A slash command typed in the input line.
    Command(Command),
    /// Change the message with this id.
    Change(String, Change),
    /// The user typed in the input line (the node decides whether a signal goes out).
    Typing,
    /// Open the chat with this peer instead.
    Switch(String),
    /// Open the next (1) or previous (-1) chat of the daemon's list: the screen's own list
    /// has not arrived yet.
    SwitchBy(isize),
    /// Save the file of the message with this id (fetching it first when needed).
    Save(String),
}

/// A change to the selected message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Change {
    /// A new text for our own message.
    Edit(String),
    /// Delete it for everyone (`true`) or for me.
    Delete(bool),
    /// React with this emoji; empty takes the reaction back.
    React(String),
}

/// Quick reactions on Alt-1 … Alt-5.
const QUICK_REACTIONS: [&str; 5] = ["👍", "❤️", "😂", "🎉", "😮"];

/// What Enter does with the input line.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Compose {
    /// Send a new message.
    New,
    /// Send a reply to the message with this id.
    Reply(String),
    /// Replace the text of our message with this id.
    Edit(String),
}

pub(crate) struct Screen {
    contact: ContactView,
    messages: Vec<MessageView>,
    input: Input,
    /// Lines scrolled up from the bottom.
    scroll: usize,
    connected: bool,
    problem: Option<String>,
    status: Option<StatusView>,
    peer_online: Option<bool>,
    /// When the peer was last seen online, when it shares presence.
    peer_seen_ms: Option<u64>,
    /// The peer is typing (when both share typing).
    peer_typing: bool,
    /// Files being fetched: message id → percent verified.
    progress: std::collections::HashMap<String, u64>,
    /// Incoming messages shown but not yet marked read.
    unread: bool,
    /// The conversation is a message request: the peer is not a contact and not accepted.
    request: bool,
    blocked: bool,
    /// Message requests from others that arrived while the screen is open.
    new_requests: usize,
    /// The selected message (Alt-↑/↓), by index into `messages`.
    selected: Option<usize>,
    /// What Enter does.
    compose: Compose,
    /// The conversation list, kept when switching chats.
    list: ChatList,
    /// The terminal's width at the last draw (Ctrl-L decides by it), and the conversation's.
    width: std::cell::Cell<u16>,
    body_width: std::cell::Cell<usize>,
    /// What the last `/search` found, highlighted until Esc.
    found: Option<super::search::Matches>,
}

impl Screen {
    /// The screen for `contact`; `request` when the conversation is a message request.
    pub(crate) fn new(contact: ContactView, request: bool) -> Self {
        Self {
            request,
            blocked: false,
            new_requests: 0,
            contact,
            messages: Vec::new(),
            input: Input::default(),
            scroll: 0,
            connected: true,
            problem: None,
            status: None,
            peer_online: None,
            peer_seen_ms: None,
            peer_typing: false,
            progress: std::collections::HashMap::new(),
            unread: false,
            selected: None,
            compose: Compose::New,
            list: ChatList::default(),
            width: std::cell::Cell::new(0),
            body_width: std::cell::Cell::new(80),
            found: None,
        }
    }

    /// The screen for another chat, keeping the list and what is known of the daemon.
    pub(crate) fn switched(self, contact: ContactView, request: bool) -> Self {
        let mut next = Self::new(contact, request);
        next.list = self.list;
        next.width = self.width;
        next.connected = self.connected;
        next.status = self.status;
        next
    }

    /// Keys for the chat list: Ctrl-N/P switch, Ctrl-K finds, Ctrl-L shows or hides it.
    fn on_list_key(&mut self, key: KeyEvent, ctrl: bool) -> Option<Action> {
        if self.list.finding() {
            let key = match key.code {
                KeyCode::Char(c) if !ctrl => FinderKey::Char(c),
                KeyCode::Backspace => FinderKey::Backspace,
                KeyCode::Enter => FinderKey::Enter,
                KeyCode::Esc => FinderKey::Cancel,
                _ => return Some(Action::None),
            };
            return Some(match self.list.on_finder(key) {
                Found::Switch(peer) => Action::Switch(peer),
                Found::Typing | Found::Cancelled => Action::None,
            });
        }
        if !ctrl {
            return None;
        }
        let step = match key.code {
            KeyCode::Char('n') => 1,
            KeyCode::Char('p') => -1,
            KeyCode::Char('k') => {
                self.list.open_finder();
                return Some(Action::None);
            }
            KeyCode::Char('l') => {
                self.list.toggle(self.width.get());
                return Some(Action::None);
            }
            _ => return None,
        };
        if !self.list.loaded() {
            return Some(Action::SwitchBy(step));
        }
        Some(
            self.list
                .next(&self.contact.address, step)
                .map_or(Action::None, Action::Switch),
        )
    }

    /// Keys that act on the selected message (with Alt).
    fn on_alt_key(&mut self, code: KeyCode) -> Action {
        match code {
            KeyCode::Up => {
                let last = self.messages.len().checked_sub(1);
                self.selected = match self.selected {
                    Some(i) => Some(i.saturating_sub(1)),
                    None => last,
                };
                return Action::None;
            }
            KeyCode::Down => {
                self.selected = match self.selected {
                    Some(i) if i + 1 < self.messages.len() => Some(i + 1),
                    _ => None,
                };
                return Action::None;
            }
            _ => {}
        }
        let Some(index) = self.selected else {
            self.problem = Some(t!("chat-select-first"));
            return Action::None;
        };
        let Some(message) = self.messages.get(index) else {
            return Action::None;
        };
        let (id, mine, text) = (message.id.clone(), message.outgoing(), message.text.clone());
        match code {
            KeyCode::Char('r') => self.compose = Compose::Reply(id),
            KeyCode::Char('e') if mine => {
                self.input.restore(text);
                self.compose = Compose::Edit(id);
            }
            KeyCode::Char('d') if mine => return Action::Change(id, Change::Delete(true)),
            KeyCode::Char('e' | 'd') => {
                self.problem = Some(t!("chat-only-own"));
            }
            KeyCode::Char('x') => return Action::Change(id, Change::Delete(false)),
            KeyCode::Char('s') if message.file.is_some() => return Action::Save(id),
            KeyCode::Char('0') => return Action::Change(id, Change::React(String::new())),
            KeyCode::Char(c @ '1'..='5') => {
                let emoji = QUICK_REACTIONS[usize::from(c as u8 - b'1')];
                return Action::Change(id, Change::React(emoji.into()));
            }
            _ => {}
        }
        Action::None
    }

    /// Whether messages arrived that the user has now seen: the loop marks them read.
    pub(crate) fn take_unread(&mut self) -> bool {
        std::mem::take(&mut self.unread)
    }

    pub(crate) fn on_key(&mut self, key: KeyEvent) -> Action {
        let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
        if let Some(action) = self.on_list_key(key, ctrl) {
            return action;
        }
        if key.modifiers.contains(KeyModifiers::ALT) {
            return self.on_alt_key(key.code);
        }
        match self.input.on_key(key) {
            Edit::Typed => return Action::Typing,
            Edit::Changed => return Action::None,
            Edit::Ignored => {}
        }
        match key.code {
            KeyCode::Esc
                if self.selected.is_some()
                    || self.compose != Compose::New
                    || self.found.is_some() =>
            {
                self.selected = None;
                self.found = None;
                if self.compose != Compose::New {
                    self.compose = Compose::New;
                    self.input.take();
                }
            }
            KeyCode::Esc => return Action::Quit,
            KeyCode::Char('c' | 'd') if ctrl => return Action::Quit,
            KeyCode::Up => self.scroll += 1,
            KeyCode::Down => self.scroll = self.scroll.saturating_sub(1),
            KeyCode::PageUp => self.scroll += 10,
            KeyCode::PageDown => self.scroll = self.scroll.saturating_sub(10),
            KeyCode::Enter => {
                if self.input.text().trim().is_empty() {
                    return Action::None;
                }
                self.scroll = 0;
                let line = self.input.take();
                self.selected = None;
                return match (
                    std::mem::replace(&mut self.compose, Compose::New),
                    Command::parse(&line),
                ) {
                    (Compose::Edit(id), _) => Action::Change(id, Change::Edit(line)),
                    (Compose::Reply(id), _) => Action::Send(line, Some(id)),
                    (Compose::New, Some(Ok(command))) => Action::Command(command),
                    (Compose::New, Some(Err(problem))) => {
                        self.problem = Some(problem);
                        Action::None
                    }
                    (Compose::New, None) => Action::Send(line, None),
                };
            }
            _ => {}
        }
        Action::None
    }

    pub(crate) fn on_report(&mut self, report: Report) {
        match report {
            Report::Connected(_) => {
                self.connected = true;
                self.problem = None;
            }
            Report::Disconnected(reason) => {
                self.connected = false;
                self.problem = Some(reason);
            }
            Report::History(page) => {
                for message in page.messages {
                    self.upsert(message);
                }
                self.unread = true;
            }
            Report::Event(event) => self.on_event(event),
            Report::Status(status) => self.status = Some(status),
            Report::Chats(chats) => self.list.set(chats),
            Report::GroupHistory(_) | Report::Group(_) => {}
            Report::SendFailed(text, reason) => {
                self.input.restore(text);
                self.problem = Some(t!("chat-not-sent", reason = reason));
            }
            Report::Notice(notice) => self.problem = Some(notice),
            Report::Found(found) => {
                // The newest found on screen is selected and brought into view.
                self.selected = self.messages.iter().rposition(|m| found.holds(&m.id));
                if let Some(index) = self.selected {
                    let after = index + 1..self.messages.len();
                    self.scroll = self.message_lines(after, self.body_width.get()).len();
                }
                self.problem = Some(found.notice(self.selected.is_some()));
                self.found = Some(found);
            }
        }
    }

    fn on_event(&mut self, event: EventView) {
        match event {
            EventView::MessageReceived { message } if message.peer == self.contact.address => {
                // What the peer was typing has arrived.
                self.peer_typing = false;
                self.upsert(message);
                self.unread = true;
            }
            EventView::MessageReceived { message } => {
                self.list.arrived(&message.peer, &message.text);
            }
            EventView::MessageSent { message } if message.peer == self.contact.address => {
                self.problem = None;
                self.upsert(message);
            }
            EventView::MessageEdited {
                peer,
                id,
                text,
                edited_at_ms,
            } if peer == self.contact.address => {
                if let Some(m) = self.messages.iter_mut().find(|m| m.id == id) {
                    m.text = text;
                    m.edited_at_ms = Some(edited_at_ms);
                }
            }
            EventView::MessageDeleted {
                peer,
                id,
                for_everyone,
            } if peer == self.contact.address => {
                if for_everyone {
                    if let Some(m) = self.messages.iter_mut().find(|m| m.id == id) {
                        m.kind = "deleted".into();
                        m.text.clear();
                        m.reactions.clear();
                    }
                } else {
                    self.messages.retain(|m| m.id != id);
                    self.selected = None;
                }
            }
            EventView::ReactionChanged {
                peer,
                id,
                by,
                emoji,
            } if peer == self.contact.address => {
                if let Some(m) = self.messages.iter_mut().find(|m| m.id == id) {
                    m.reactions.retain(|r| r.by != by);
                    if let Some(emoji) = emoji {
                        m.reactions.push(ReactionView { by, emoji });
                    }
                }
            }
            EventView::AttachmentProgress {
                peer,
                id,
                received,
                total,
            } if peer == self.contact.address => {
                self.progress.insert(id, received * 100 / total.max(1));
            }
            EventView::AttachmentChanged {
                peer,
                id,
                state,
                failure,
            } if peer == self.contact.address => {
                self.progress.remove(&id);
                if let Some(file) = self
                    .messages
                    .iter_mut()
                    .find(|m| m.id == id)
                    .and_then(|m| m.file.as_mut())
                {
                    file.state = state;
                    file.failure = failure;
                }
            }
            EventView::DeliveryChanged { peer, id, delivery } if peer == self.contact.address => {
                if let Some(m) = self.messages.iter_mut().find(|m| m.id == id) {
                    m.delivery = delivery;
                }
                // Something left the outbox: a hold by an identity change is over.
                self.contact.identity.held = false;
            }
            EventView::IdentityChanged { peer, policy, held } if peer == self.contact.address => {
                if policy != "trust-new" {
                    self.contact.verified = false;
                }
                self.contact.identity.held = held;
            }
            EventView::ContactOnline { peer } if peer == self.contact.address => {
                self.peer_online = Some(true);
            }
            EventView::Typing { peer, active } if peer == self.contact.address => {
                self.peer_typing = active;
            }
            EventView::Presence {
                peer,
                online,
                last_seen_ms,
            } if peer == self.contact.address => {
                self.peer_online = Some(online);
                self.peer_seen_ms = Some(last_seen_ms);
            }
            EventView::ContactOffline { peer } if peer == self.contact.address => {
                self.peer_online = Some(false);
            }
            EventView::Error {
                peer: Some(peer),
                message,
            } if peer == self.contact.address => self.problem = Some(message),
            EventView::RequestReceived { message } => {
                if message.peer == self.contact.address {
                    self.request = true;
                    self.upsert(message);
                } else {
                    self.new_requests += 1;
                }
            }
            EventView::ChatChanged { peer, change } if peer == self.contact.address => match change
            {
                ChatChangeView::Accepted => self.request = false,
                ChatChangeView::Blocked => {
                    self.blocked = true;
                    self.request = false;
                }
                ChatChangeView::Unblocked => self.blocked = false,
                ChatChangeView::Deleted => {
                    self.messages.clear();
                    self.request = false;
                }
                _ => {}
            },
            _ => {}
        }
    }

    /// Adds a message, or updates the copy already shown (history and events overlap).
    fn upsert(&mut self, message: MessageView) {
        if let Some(existing) = self.messages.iter_mut().find(|m| m.id == message.id) {
            // States only move forward; an older snapshot must not undo a newer event.
            if rank(message.delivery) >= rank(existing.delivery) {
                *existing = message;
            }
            return;
        }
        let at = self
            .messages
            .partition_point(|m| m.sent_at_ms <= message.sent_at_ms);
        self.messages.insert(at, message);
    }

    pub(crate) fn draw(&self, frame: &mut Frame<'_>) {
        let area = frame.area();
        self.width.set(area.width);
        let main = if self.list.shown(area.width) {
            let [list, main] =
                Layout::horizontal([Constraint::Length(list::LIST_WIDTH), Constraint::Min(20)])
                    .areas(area);
            self.list.draw(frame, list, &self.contact.address);
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

        let verified = if self.blocked {
            Span::styled(
                format!(" {} ", t!("chat-blocked")),
                Style::new().fg(Color::Red),
            )
        } else if self.request {
            Span::styled(
                format!(" {} ", t!("chat-request")),
                Style::new().fg(Color::Yellow),
            )
        } else if self.contact.identity.held {
            Span::styled(
                format!(" ⚠ {} ", t!("chat-held", name = self.contact.name.as_str())),
                Style::new().fg(Color::Red),
            )
        } else if self.contact.verified {
            Span::styled(
                format!(" ✓ {} ", t!("chat-verified")),
                Style::new().fg(Color::Green),
            )
        } else {
            Span::styled(
                format!(" {} ", t!("chat-not-verified")),
                Style::new().fg(Color::Yellow),
            )
        };
        let title = Line::from(vec![
            Span::styled(
                format!(" {} ", self.contact.name),
                Style::new().add_modifier(Modifier::BOLD),
            ),
            Span::raw(format!("{} ", short(&self.contact.address))),
            verified,
        ]);
        let block = Block::new().borders(Borders::ALL).title(title);
        let inner = block.inner(body);
        let width = usize::from(inner.width.max(1));
        self.body_width.set(width);
        let lines = self.lines(width);
        let height = usize::from(inner.height);
        let scroll = self.scroll.min(lines.len().saturating_sub(height));
        let end = lines.len() - scroll;
        let start = end.saturating_sub(height);
        frame.render_widget(
            Paragraph::new(lines[start..end].to_vec()).block(block),
            body,
        );

        frame.render_widget(Paragraph::new(self.status_line()), status);

        let editor = Paragraph::new(self.input.text())
            .block(Block::new().borders(Borders::ALL).title(self.input_title()));
        frame.render_widget(editor, input);
        let column = u16::try_from(self.input.column()).unwrap_or(u16::MAX);
        frame.set_cursor_position(Position::new(
            (input.x + 1 + column).min(input.right().saturating_sub(2)),
            input.y + 1,
        ));
    }

    fn lines(&self, width: usize) -> Vec<Line<'static>> {
        if self.messages.is_empty() {
            return vec![Line::styled(
                t!("chat-empty"),
                Style::new().fg(Color::DarkGray),
            )];
        }
        self.message_lines(0..self.messages.len(), width)
    }

    /// The lines of the messages at `range`.
    fn message_lines(&self, range: std::ops::Range<usize>, width: usize) -> Vec<Line<'static>> {
        let mut lines = Vec::new();
        let found = |id: &str| self.found.as_ref().is_some_and(|f| f.holds(id));
        for (index, m) in self
            .messages
            .iter()
            .enumerate()
            .skip(range.start)
            .take(range.len())
        {
            let selected = self.selected == Some(index);
            let (who, color) = if m.outgoing() {
                (t!("me"), Color::Cyan)
            } else {
                (self.contact.name.clone(), Color::Magenta)
            };
            let clock = clock(m.sent_at_ms);
            let head = format!("{clock} {who}: ");
            let indent = head.width();
            let room = width.saturating_sub(indent).max(8);
            let notice = matches!(
                m.kind.as_str(),
                "deleted" | "unsupported" | "timer" | "identity_changed"
            );
            // A disappearing message wears a timer before its text, as in `tern history`.
            let timer = if !notice && m.disappear_secs.is_some() {
                "⏱ "
            } else {
                ""
            };
            let reply = format!("{}{timer}", output::reply_mark(m));
            let (text, edited) = if notice {
                (output::body(m), None)
            } else if m.kind == "attachment" {
                let text = match self.progress.get(&m.id) {
                    Some(percent) => format!("{} {percent}%", output::body(m)),
                    None => output::body(m),
                };
                (text, m.edited_at_ms.map(|_| t!("message-edited-mark")))
            } else {
                (
                    m.text.clone(),
                    m.edited_at_ms.map(|_| t!("message-edited-mark")),
                )
            };
            // The text alone is laid out (and reordered, if right to left); the reply mark
            // before it and the marks after it keep their places.
            let rows = layout::rows(&text, room.saturating_sub(reply.width()).max(1), room);
            let mut marks = Vec::new();
            if let Some(edited) = edited {
                marks.push(Span::styled(
                    format!(" {edited}"),
                    Style::new().fg(Color::DarkGray),
                ));
            }
            if m.outgoing() {
                let style = match m.delivery {
                    Delivery::Read => Style::new().fg(Color::Green),
                    Delivery::Failed => Style::new().fg(Color::Red),
                    _ => Style::new().fg(Color::DarkGray),
                };
                marks.push(Span::styled(format!(" {}", m.delivery.mark()), style));
            }
            let marks_width: usize = marks.iter().map(Span::width).sum();
            let last = rows.len() - 1;
            let last_width = rows[last].width + if last == 0 { reply.width() } else { 0 };
            // Marks that do not fit after the last row get a row of their own.
            let own_row = marks_width > 0 && last_width + marks_width > room;
            for (i, row) in rows.into_iter().enumerate() {
                let mut spans = if i == 0 {
                    let clock_style = if selected {
                        Style::new().add_modifier(Modifier::REVERSED)
                    } else {
                        Style::new().fg(Color::DarkGray)
                    };
                    vec![
                        Span::styled(clock.clone(), clock_style),
                        Span::styled(format!(" {who}: "), Style::new().fg(color)),
                        Span::raw(reply.clone()),
                    ]
                } else {
                    vec![Span::raw(" ".repeat(indent))]
                };
                spans.push(if found(&m.id) {
                    Span::styled(row.text, super::search::HIT)
                } else {
                    Span::raw(row.text)
                });
                if i == last && !own_row {
                    spans.extend(marks.iter().cloned());
                }
                lines.push(Line::from(spans));
            }
            if own_row {
                let mut spans = vec![Span::raw(" ".repeat(indent))];
                spans.extend(marks);
                lines.push(Line::from(spans));
            }
            if let Some(reactions) = output::reactions(&m.reactions) {
                lines.push(Line::from(vec![
                    Span::raw(" ".repeat(indent)),
                    Span::styled(reactions, Style::new().fg(Color::Yellow)),
                ]));
            }
        }
        lines
    }

    fn input_title(&self) -> String {
        match (&self.compose, self.selected) {
            (Compose::Reply(id), _) => {
                format!(" {} ", t!("chat-keys-reply", id = &id[..8.min(id.len())]))
            }
            (Compose::Edit(id), _) => {
                format!(" {} ", t!("chat-keys-edit", id = &id[..8.min(id.len())]))
            }
            (Compose::New, Some(_)) => format!(" {} ", t!("chat-keys-selected")),
            (Compose::New, None) => format!(" {} ", t!("chat-keys")),
        }
    }

    fn status_line(&self) -> Line<'static> {
        let mut spans = vec![daemon_span(self.connected)];
        match self.peer_online {
            Some(true) => spans.push(Span::raw(format!(
                " · {}",
                t!("chat-peer-online", name = self.contact.name.as_str())
            ))),
            Some(false) => spans.push(Span::raw(format!(
                " · {}",
                match self.peer_seen_ms {
                    Some(ms) => t!(
                        "chat-peer-last-seen",
                        name = self.contact.name.as_str(),
                        time = output::time(ms)
                    ),
                    None => t!("chat-peer-offline", name = self.contact.name.as_str()),
                }
            ))),
            None => {}
        }
        if self.peer_typing {
            spans.push(Span::styled(
                format!(
                    " · {}",
                    t!("chat-peer-typing", name = self.contact.name.as_str())
                ),
                Style::new().fg(Color::Cyan),
            ));
        }
        if let Some(status) = &self.status {
            // Which way messages reach this contact now: a direct connection, a relay's
            // circuit, or (no connection open) its mailbox.
            if let Some(contact) = status
                .contacts
                .iter()
                .find(|c| c.address == self.contact.address)
            {
                spans.push(Span::raw(format!(
                    " · {}",
                    t!("chat-via", path = output::term(&contact.path))
                )));
            }
            spans.push(network_span(status));
        }
        if self.new_requests > 0 {
            spans.push(Span::styled(
                format!(" · {}", t!("chat-new-requests", count = self.new_requests)),
                Style::new().fg(Color::Yellow),
            ));
        }
        spans.extend(self.problem.as_deref().map(problem_span));
        Line::from(spans)
    }
}

fn short(address: &str) -> String {
    if address.len() > 20 {
        format!("{}…{}", &address[..12], &address[address.len() - 6..])
    } else {
        address.to_owned()
    }
}

#[cfg(test)]
mod tests;
