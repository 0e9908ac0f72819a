//! The chat screen's input line: a small line editor over a `String`, with the cursor kept as
//! a char index so multi-byte text edits correctly.

use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

/// What a key did to the line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Edit {
    /// A character went in.
    Typed,
    /// The text or the cursor changed otherwise.
    Changed,
    /// Not an editing key: the screen decides.
    Ignored,
}

#[derive(Debug, Default)]
pub(crate) struct Input {
    text: String,
    /// Cursor position in chars.
    cursor: usize,
}

impl Input {
    /// Applies an editing key: characters, ←/→, Home/End (Ctrl-A/E), Backspace/Delete,
    /// Ctrl-U (to the start) and Ctrl-W (a word).
    pub(crate) fn on_key(&mut self, key: KeyEvent) -> Edit {
        let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
        match key.code {
            KeyCode::Char(c) if !ctrl => {
                self.insert(c);
                return Edit::Typed;
            }
            KeyCode::Char('a') if ctrl => self.home(),
            KeyCode::Char('e') if ctrl => self.end(),
            KeyCode::Char('u') if ctrl => self.kill_to_start(),
            KeyCode::Char('w') if ctrl => self.kill_word(),
            KeyCode::Backspace => self.backspace(),
            KeyCode::Delete => self.delete(),
            KeyCode::Left => self.left(),
            KeyCode::Right => self.right(),
            KeyCode::Home => self.home(),
            KeyCode::End => self.end(),
            _ => return Edit::Ignored,
        }
        Edit::Changed
    }

    pub(crate) fn text(&self) -> &str {
        &self.text
    }

    /// The cursor position in chars; the screen draws it at [`Self::column`].
    #[cfg(test)]
    pub(crate) fn cursor(&self) -> usize {
        self.cursor
    }

    /// The cursor's column: the display width of the text before it (CJK and emoji take
    /// two columns).
    pub(crate) fn column(&self) -> usize {
        unicode_width::UnicodeWidthStr::width(&self.text[..self.byte(self.cursor)])
    }

    fn byte(&self, chars: usize) -> usize {
        self.text
            .char_indices()
            .nth(chars)
            .map_or(self.text.len(), |(i, _)| i)
    }

    fn len(&self) -> usize {
        self.text.chars().count()
    }

    pub(crate) fn insert(&mut self, c: char) {
        let at = self.byte(self.cursor);
        self.text.insert(at, c);
        self.cursor += 1;
    }

    pub(crate) fn backspace(&mut self) {
        if self.cursor > 0 {
            self.cursor -= 1;
            let at = self.byte(self.cursor);
            self.text.remove(at);
        }
    }

    pub(crate) fn delete(&mut self) {
        if self.cursor < self.len() {
            let at = self.byte(self.cursor);
            self.text.remove(at);
        }
    }

    pub(crate) fn left(&mut self) {
        self.cursor = self.cursor.saturating_sub(1);
    }

    pub(crate) fn right(&mut self) {
        self.cursor = (self.cursor + 1).min(self.len());
    }

    pub(crate) fn home(&mut self) {
        self.cursor = 0;
    }

    pub(crate) fn end(&mut self) {
        self.cursor = self.len();
    }

    /// Ctrl-U: deletes everything before the cursor.
    pub(crate) fn kill_to_start(&mut self) {
        let at = self.byte(self.cursor);
        self.text.drain(..at);
        self.cursor = 0;
    }

    /// Ctrl-W: deletes the word before the cursor (and the spaces after it).
    pub(crate) fn kill_word(&mut self) {
        let chars: Vec<char> = self.text.chars().collect();
        let mut start = self.cursor;
        while start > 0 && chars[start - 1].is_whitespace() {
            start -= 1;
        }
        while start > 0 && !chars[start - 1].is_whitespace() {
            start -= 1;
        }
        let (from, to) = (self.byte(start), self.byte(self.cursor));
        self.text.drain(from..to);
        self.cursor = start;
    }

    /// Empties the line and returns what it held.
    pub(crate) fn take(&mut self) -> String {
        self.cursor = 0;
        std::mem::take(&mut self.text)
    }

    /// Puts text back (after a failed send).
    pub(crate) fn restore(&mut self, text: String) {
        if self.text.is_empty() {
            self.cursor = text.chars().count();
            self.text = text;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Input;

    fn typed(s: &str) -> Input {
        let mut input = Input::default();
        s.chars().for_each(|c| input.insert(c));
        input
    }

    #[test]
    fn edits_multibyte_text_at_the_cursor() {
        let mut input = typed("héllo wörld");
        input.left();
        input.left();
        input.backspace();
        assert_eq!(input.text(), "héllo wöld");
        input.home();
        input.delete();
        input.insert('H');
        assert_eq!(input.text(), "Héllo wöld");
        input.end();
        input.kill_word();
        assert_eq!(input.text(), "Héllo ");
        input.left();
        input.kill_to_start();
        assert_eq!((input.text(), input.cursor()), (" ", 0));
        let wide = typed("日本x");
        assert_eq!((wide.cursor(), wide.column()), (3, 5));
        assert_eq!(input.take(), " ");
        assert_eq!(input.text(), "");
    }

    #[test]
    fn keys_edit_the_line_and_say_what_they_did() {
        use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
        let key = |code| KeyEvent::new(code, KeyModifiers::NONE);
        let ctrl = |c| KeyEvent::new(KeyCode::Char(c), KeyModifiers::CONTROL);
        let mut input = Input::default();
        assert_eq!(input.on_key(key(KeyCode::Char('h'))), super::Edit::Typed);
        assert_eq!(input.on_key(key(KeyCode::Char('i'))), super::Edit::Typed);
        assert_eq!(input.on_key(key(KeyCode::Left)), super::Edit::Changed);
        assert_eq!(input.on_key(key(KeyCode::Backspace)), super::Edit::Changed);
        assert_eq!(input.text(), "i");
        assert_eq!(input.on_key(ctrl('e')), super::Edit::Changed);
        assert_eq!(input.on_key(ctrl('w')), super::Edit::Changed);
        assert_eq!(input.text(), "");
        assert_eq!(input.on_key(key(KeyCode::Enter)), super::Edit::Ignored);
        assert_eq!(input.on_key(ctrl('c')), super::Edit::Ignored);
    }

    #[test]
    fn restore_never_overwrites_new_typing() {
        let mut input = typed("new");
        input.restore("old".into());
        assert_eq!(input.text(), "new");
        let mut empty = Input::default();
        empty.restore("old".into());
        assert_eq!((empty.text(), empty.cursor()), ("old", 3));
    }
}
