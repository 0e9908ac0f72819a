//! The chat screen's conversation list: every chat with its unread count, pinned first, to
//! switch chats without leaving the screen (Ctrl-N / Ctrl-P, or Ctrl-K to find one by name).
//!
//! Shown at the left on terminals at least [`WIDE`] columns wide, and on any width after
//! Ctrl-L (which hides it again). The link refreshes it with the status; a message that
//! arrives in another chat counts as unread there at once.

use ratatui::{
    Frame,
    layout::Rect,
    style::{Color, Modifier, Style},
    text::{Line, Span},
    widgets::{Block, Borders, Paragraph},
};
use unicode_width::UnicodeWidthStr;

use crate::api::model::ChatView;

/// Terminals at least this wide show the list without asking.
pub(super) const WIDE: u16 = 140;
/// Columns the list takes.
pub(super) const LIST_WIDTH: u16 = 28;

/// The list, and the finder typed into it.
#[derive(Debug, Default)]
pub(super) struct ChatList {
    chats: Vec<ChatView>,
    /// Ctrl-L's choice; `None` follows the terminal's width.
    toggled: Option<bool>,
    /// What Ctrl-K's finder holds while it is open.
    finder: Option<String>,
    /// Whether the link delivered the list yet (a screen just opened has none).
    loaded: bool,
}

/// What a key does to the finder.
pub(super) enum Found {
    /// Still typing.
    Typing,
    /// Closed without a choice.
    Cancelled,
    /// Switch to this peer.
    Switch(String),
}

impl ChatList {
    pub(super) fn set(&mut self, chats: Vec<ChatView>) {
        self.chats = chats;
        self.loaded = true;
    }

    pub(super) fn loaded(&self) -> bool {
        self.loaded
    }

    /// Whether the list is shown on a terminal `width` columns wide.
    pub(super) fn shown(&self, width: u16) -> bool {
        self.finder.is_some() || self.toggled.unwrap_or(width >= WIDE)
    }

    pub(super) fn toggle(&mut self, width: u16) {
        self.toggled = Some(!self.shown(width));
    }

    /// A message arrived in `peer`'s chat while another is open.
    pub(super) fn arrived(&mut self, peer: &str, text: &str) {
        if let Some(chat) = self.chats.iter_mut().find(|c| c.peer == peer) {
            chat.unread += 1;
            text.clone_into(&mut chat.last_text);
        }
    }

    /// The chat after (`step` 1) or before (`step` -1) `current`, wrapping around.
    pub(super) fn next(&self, current: &str, step: isize) -> Option<String> {
        if self.chats.is_empty() {
            return None;
        }
        let len = self.chats.len() as isize;
        let at = self
            .chats
            .iter()
            .position(|c| c.peer == current)
            .map_or(if step > 0 { -1 } else { 0 }, |i| i as isize);
        let index = (at + step).rem_euclid(len) as usize;
        let peer = &self.chats[index].peer;
        (peer != current).then(|| peer.clone())
    }

    pub(super) fn finding(&self) -> bool {
        self.finder.is_some()
    }

    pub(super) fn open_finder(&mut self) {
        self.finder = Some(String::new());
    }

    /// The chats whose name (given or shared) or address holds the finder's text, any case.
    fn matches(&self) -> Vec<&ChatView> {
        let needle = self.finder.as_deref().unwrap_or_default().to_lowercase();
        self.chats
            .iter()
            .filter(|c| {
                name(c).to_lowercase().contains(&needle) || c.peer.to_lowercase().contains(&needle)
            })
            .collect()
    }

    /// A key while the finder is open.
    pub(super) fn on_finder(&mut self, key: FinderKey) -> Found {
        let Some(finder) = self.finder.as_mut() else {
            return Found::Cancelled;
        };
        match key {
            FinderKey::Char(c) => finder.push(c),
            FinderKey::Backspace => {
                finder.pop();
            }
            FinderKey::Cancel => {
                self.finder = None;
                return Found::Cancelled;
            }
            FinderKey::Enter => {
                let first = self.matches().first().map(|c| c.peer.clone());
                self.finder = None;
                return first.map_or(Found::Cancelled, Found::Switch);
            }
        }
        Found::Typing
    }

    /// The chat after (`step` 1) or before (`step` -1) `here` in the daemon's list as it is
    /// now: for a screen whose link has not delivered the list yet, and for the group screen,
    /// whose link does not follow it.
    pub(super) async fn next_from(
        client: Option<&crate::api::Client>,
        here: &str,
        step: isize,
    ) -> Option<String> {
        let mut list = Self::default();
        list.set(super::link::chat_list(client?).await.ok()?);
        list.next(here, step)
    }

    /// Draws the list into `area`, `current` highlighted.
    pub(super) fn draw(&self, frame: &mut Frame<'_>, area: Rect, current: &str) {
        let title = match &self.finder {
            Some(text) => format!(" {} {text}▏", t!("chat-list-find")),
            None => format!(" {} ", t!("chat-list")),
        };
        let block = Block::new().borders(Borders::ALL).title(title);
        let width = usize::from(block.inner(area).width);
        let shown = if self.finder.is_some() {
            self.matches()
        } else {
            self.chats.iter().collect()
        };
        let lines: Vec<Line<'static>> = shown
            .into_iter()
            .map(|chat| {
                let unread = if chat.unread > 0 {
                    format!(" {}", chat.unread)
                } else {
                    String::new()
                };
                let marks = format!(
                    "{}{}{}",
                    if chat.pinned { "📌" } else { "" },
                    if chat.muted_until_ms.is_some() {
                        "🔇"
                    } else {
                        ""
                    },
                    if chat.typing { "✎" } else { "" }
                );
                let room = width.saturating_sub(unread.width() + marks.width() + 1);
                let label = fit(&name(chat), room);
                let pad = " ".repeat(room.saturating_sub(label.width()));
                let mut style = Style::new();
                if chat.peer == current {
                    style = style.add_modifier(Modifier::REVERSED);
                }
                if chat.unread > 0 {
                    style = style.add_modifier(Modifier::BOLD);
                }
                Line::from(vec![
                    Span::styled(format!("{label}{pad} {marks}"), style),
                    Span::styled(unread, style.fg(Color::Cyan)),
                ])
            })
            .collect();
        frame.render_widget(Paragraph::new(lines).block(block), area);
    }
}

/// The keys the finder takes.
pub(super) enum FinderKey {
    Char(char),
    Backspace,
    Enter,
    Cancel,
}

/// A chat's name for the list: the one the user gave, else the one its peer shares, else
/// the start of its address.
fn name(chat: &ChatView) -> String {
    chat.name
        .clone()
        .or_else(|| chat.profile.as_ref().map(|p| p.name.clone()))
        .unwrap_or_else(|| crate::command::chats::short(&chat.peer))
}

/// `text` cut to `width` display columns, with an ellipsis when cut.
fn fit(text: &str, width: usize) -> String {
    if text.width() <= width {
        return text.to_owned();
    }
    let mut out = String::new();
    for c in text.chars() {
        if out.width() + unicode_width::UnicodeWidthChar::width(c).unwrap_or(0) + 1 > width {
            break;
        }
        out.push(c);
    }
    out.push('…');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chat(peer: &str, name: &str, unread: u32) -> ChatView {
        serde_json::from_value(serde_json::json!({
            "peer": peer, "name": name, "last_ms": 0, "last_text": "", "unread": unread,
        }))
        .unwrap()
    }

    #[test]
    fn next_and_previous_wrap_around() {
        let mut list = ChatList::default();
        list.set(vec![
            chat("a", "ann", 0),
            chat("b", "bob", 2),
            chat("c", "cy", 0),
        ]);
        assert_eq!(list.next("a", 1).as_deref(), Some("b"));
        assert_eq!(list.next("c", 1).as_deref(), Some("a"));
        assert_eq!(list.next("a", -1).as_deref(), Some("c"));
        assert_eq!(
            list.next("zed", 1).as_deref(),
            Some("a"),
            "from outside the list"
        );
        list.set(vec![chat("a", "ann", 0)]);
        assert_eq!(list.next("a", 1), None, "the only chat is open already");
    }

    #[test]
    fn the_finder_switches_to_the_first_match() {
        let mut list = ChatList::default();
        list.set(vec![chat("a1", "Ann", 0), chat("b1", "Bob", 0)]);
        list.open_finder();
        assert!(list.shown(80), "the finder shows the list on any width");
        for c in "BO".chars() {
            assert!(matches!(list.on_finder(FinderKey::Char(c)), Found::Typing));
        }
        assert!(matches!(list.on_finder(FinderKey::Enter), Found::Switch(p) if p == "b1"));
        assert!(!list.finding());
        list.open_finder();
        list.on_finder(FinderKey::Char('z'));
        assert!(matches!(list.on_finder(FinderKey::Enter), Found::Cancelled));
    }

    #[test]
    fn wide_terminals_show_it_and_ctrl_l_toggles() {
        let mut list = ChatList::default();
        assert!(list.shown(WIDE) && !list.shown(WIDE - 1));
        list.toggle(80);
        assert!(list.shown(80));
        list.toggle(200);
        assert!(!list.shown(200));
    }

    #[test]
    fn long_names_are_cut_by_display_width() {
        assert_eq!(fit("小鸟小鸟小鸟", 7), "小鸟小…");
        assert_eq!(fit("bob", 7), "bob");
    }
}
