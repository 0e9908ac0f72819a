//! What the chat screen shows, and how it draws it.

use ratatui::{
    Frame,
    crossterm::event::{KeyCode, KeyEvent, KeyModifiers},
    layout::{Constraint, Layout, Position},
    style::{Color, Modifier, Style},
    text::{Line, Span},
    widgets::{Block, Borders, Paragraph},
};

use super::{input::Input, link::Report};
use crate::{
    api::model::{ChatChangeView, ContactView, Delivery, EventView, MessageView, StatusView},
    output,
};

/// What the loop should do after a key.
pub(crate) enum Action {
    None,
    Quit,
    Send(String),
    /// A slash command typed in the input line.
    Command(Command),
}

/// The slash commands of the input line, which act on the open conversation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Command {
    /// `/accept`: accept its message request.
    Accept,
    /// `/block`.
    Block,
    /// `/unblock`.
    Unblock,
    /// `/delete`: delete the conversation and its messages, then quit.
    Delete,
}

impl Command {
    fn parse(line: &str) -> Option<Result<Self, String>> {
        let word = line.trim().strip_prefix('/')?;
        Some(match word {
            "accept" => Ok(Self::Accept),
            "block" => Ok(Self::Block),
            "unblock" => Ok(Self::Unblock),
            "delete" => Ok(Self::Delete),
            other => Err(format!(
                "unknown command /{other}; try /accept, /block, /unblock or /delete"
            )),
        })
    }
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
    /// Incoming messages shown but not yet marked read.
    unread: bool,
    /// The conversation is a message request: the peer is not a contact and not accepted.
    request: bool,
    blocked: bool,
    /// Message requests from others that arrived while the screen is open.
    new_requests: usize,
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
            unread: false,
        }
    }

    /// Whether messages arrived that the user has now seen: the loop marks them read.
    pub(crate) fn take_unread(&mut self) -> bool {
        std::mem::take(&mut self.unread)
    }

    pub(crate) fn on_key(&mut self, key: KeyEvent) -> Action {
        let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
        match key.code {
            KeyCode::Esc => return Action::Quit,
            KeyCode::Char('c' | 'd') if ctrl => return Action::Quit,
            KeyCode::Char('a') if ctrl => self.input.home(),
            KeyCode::Char('e') if ctrl => self.input.end(),
            KeyCode::Char('u') if ctrl => self.input.kill_to_start(),
            KeyCode::Char('w') if ctrl => self.input.kill_word(),
            KeyCode::Char(c) if !ctrl => self.input.insert(c),
            KeyCode::Backspace => self.input.backspace(),
            KeyCode::Delete => self.input.delete(),
            KeyCode::Left => self.input.left(),
            KeyCode::Right => self.input.right(),
            KeyCode::Home => self.input.home(),
            KeyCode::End => self.input.end(),
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
                return match Command::parse(&line) {
                    Some(Ok(command)) => Action::Command(command),
                    Some(Err(problem)) => {
                        self.problem = Some(problem);
                        Action::None
                    }
                    None => Action::Send(line),
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
            Report::SendFailed(text, reason) => {
                self.input.restore(text);
                self.problem = Some(format!("not sent: {reason}"));
            }
            Report::Notice(notice) => self.problem = Some(notice),
        }
    }

    fn on_event(&mut self, event: EventView) {
        match event {
            EventView::MessageReceived { message } if message.peer == self.contact.address => {
                self.upsert(message);
                self.unread = true;
            }
            EventView::MessageSent { message } if message.peer == self.contact.address => {
                self.problem = None;
                self.upsert(message);
            }
            EventView::DeliveryChanged { peer, id, delivery } if peer == self.contact.address => {
                if let Some(m) = self.messages.iter_mut().find(|m| m.id == id) {
                    m.delivery = delivery;
                }
            }
            EventView::ContactOnline { peer } if peer == self.contact.address => {
                self.peer_online = Some(true);
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
                ChatChangeView::Other => {}
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
        let [body, status, input] = Layout::vertical([
            Constraint::Min(3),
            Constraint::Length(1),
            Constraint::Length(3),
        ])
        .areas(frame.area());

        let verified = if self.blocked {
            Span::styled(" blocked ", Style::new().fg(Color::Red))
        } else if self.request {
            Span::styled(
                " message request: /accept /block /delete ",
                Style::new().fg(Color::Yellow),
            )
        } else if self.contact.verified {
            Span::styled(" ✓ verified ", Style::new().fg(Color::Green))
        } else {
            Span::styled(" not verified ", Style::new().fg(Color::Yellow))
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

        let editor = Paragraph::new(self.input.text()).block(
            Block::new()
                .borders(Borders::ALL)
                .title(" message · Enter send · /block /delete · Esc quit · PgUp/PgDn scroll "),
        );
        frame.render_widget(editor, input);
        let column = u16::try_from(self.input.cursor()).unwrap_or(u16::MAX);
        frame.set_cursor_position(Position::new(
            (input.x + 1 + column).min(input.right().saturating_sub(2)),
            input.y + 1,
        ));
    }

    fn lines(&self, width: usize) -> Vec<Line<'static>> {
        let mut lines = Vec::new();
        if self.messages.is_empty() {
            lines.push(Line::styled(
                "No messages yet. Say hello.",
                Style::new().fg(Color::DarkGray),
            ));
        }
        for m in &self.messages {
            let (who, color) = if m.outgoing() {
                ("me".to_owned(), Color::Cyan)
            } else {
                (self.contact.name.clone(), Color::Magenta)
            };
            let time = output::time(m.sent_at_ms);
            let clock = time.get(11..).unwrap_or(&time).to_owned();
            let head = format!("{clock} {who}: ");
            let mark = if m.outgoing() {
                format!(" {}", m.delivery.mark())
            } else {
                String::new()
            };
            let indent = head.chars().count();
            let room = width.saturating_sub(indent).max(8);
            let text: Vec<char> = m.text.chars().collect();
            let mut chunks: Vec<String> = Vec::new();
            for line in m.text.lines() {
                let chars: Vec<char> = line.chars().collect();
                if chars.is_empty() {
                    chunks.push(String::new());
                }
                for chunk in chars.chunks(room) {
                    chunks.push(chunk.iter().collect());
                }
            }
            if text.is_empty() {
                chunks.push(String::new());
            }
            let last = chunks.len() - 1;
            for (i, chunk) in chunks.into_iter().enumerate() {
                let mut spans = if i == 0 {
                    vec![
                        Span::styled(clock.clone(), Style::new().fg(Color::DarkGray)),
                        Span::styled(format!(" {who}: "), Style::new().fg(color)),
                    ]
                } else {
                    vec![Span::raw(" ".repeat(indent))]
                };
                spans.push(Span::raw(chunk));
                if i == last && !mark.is_empty() {
                    let style = match m.delivery {
                        Delivery::Read => Style::new().fg(Color::Green),
                        Delivery::Failed => Style::new().fg(Color::Red),
                        _ => Style::new().fg(Color::DarkGray),
                    };
                    spans.push(Span::styled(mark.clone(), style));
                }
                lines.push(Line::from(spans));
            }
        }
        lines
    }

    fn status_line(&self) -> Line<'static> {
        let mut spans = Vec::new();
        if self.connected {
            spans.push(Span::styled("● daemon", Style::new().fg(Color::Green)));
        } else {
            spans.push(Span::styled(
                "○ daemon offline, reconnecting",
                Style::new().fg(Color::Red),
            ));
        }
        match self.peer_online {
            Some(true) => spans.push(Span::raw(format!(" · {} online", self.contact.name))),
            Some(false) => spans.push(Span::raw(format!(" · {} offline", self.contact.name))),
            None => {}
        }
        if let Some(status) = &self.status {
            // Which way messages reach this contact now: a direct connection, a relay's
            // circuit, or (no connection open) its mailbox.
            if let Some(contact) = status
                .contacts
                .iter()
                .find(|c| c.address == self.contact.address)
            {
                spans.push(Span::raw(format!(" · via {}", contact.path)));
            }
            let up = status.relays.iter().filter(|r| r.connected).count();
            spans.push(Span::raw(format!(
                " · relays {up}/{} · peers {} · outbox {}",
                status.relays.len(),
                status.connected_peers,
                status.outbox
            )));
        }
        if self.new_requests > 0 {
            spans.push(Span::styled(
                format!(
                    " · {} new message request(s): tern requests",
                    self.new_requests
                ),
                Style::new().fg(Color::Yellow),
            ));
        }
        if let Some(problem) = &self.problem {
            spans.push(Span::styled(
                format!(" · {problem}"),
                Style::new().fg(Color::Yellow),
            ));
        }
        Line::from(spans)
    }
}

fn rank(delivery: Delivery) -> u8 {
    match delivery {
        Delivery::Queued => 0,
        Delivery::Stored { stored, .. } => 1 + stored.min(100),
        Delivery::Delivered => 110,
        Delivery::Read => 120,
        Delivery::Failed => 130,
    }
}

fn short(address: &str) -> String {
    if address.len() > 20 {
        format!("{}…{}", &address[..12], &address[address.len() - 6..])
    } else {
        address.to_owned()
    }
}
