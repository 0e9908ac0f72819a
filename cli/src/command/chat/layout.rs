//! How a message's text fills the chat screen's rows: by display width, whole grapheme
//! clusters, and right-to-left text in visual order.
//!
//! Terminals lay text out cell by cell and, nearly all of them, left to right whatever the
//! script. So the screen does what a bidi-aware renderer would, for the message text only
//! (the stored text never changes):
//!
//! 1. Split the text into paragraphs at line breaks. Each paragraph takes its base direction
//!    from its first strong character (UAX #9, rules P2–P3): a Hebrew sentence is a
//!    right-to-left paragraph even when it quotes an English word.
//! 2. Wrap the paragraph in logical (typing) order into rows of at most `room` columns. A
//!    column count is the display width of each extended grapheme cluster (UAX #29, widths
//!    of UAX #11 as `unicode-width` gives them, which is also what ratatui draws with): CJK
//!    and emoji take two columns, combining marks none. A row breaks after a space when one
//!    is on it, else between two clusters, never inside one (no half of a flag or of an
//!    emoji family, no accent torn from its letter).
//! 3. Reorder each row for display with the paragraph's embedding levels (UAX #9, rules
//!    L1–L2, computed over the whole paragraph and applied per row, as the algorithm asks):
//!    runs at an odd level are reversed cluster by cluster, so combining marks stay after
//!    their base; paired brackets in them are mirrored (L4); directional formatting
//!    characters are dropped, their work being done (X9).

use std::{borrow::Cow, ops::Range};

use unicode_bidi::ParagraphBidiInfo;
use unicode_segmentation::UnicodeSegmentation;
use unicode_width::UnicodeWidthStr;

/// One screen row of a message: text in display order, and how many columns it takes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Row {
    pub(crate) text: String,
    pub(crate) width: usize,
}

/// `text` laid out in rows of at most `room` columns, the first of at most `first`, each in
/// visual order. An empty text is one empty row.
pub(crate) fn rows(text: &str, first: usize, room: usize) -> Vec<Row> {
    let mut rows = Vec::new();
    for paragraph in text.split('\n') {
        let paragraph = paragraph.strip_suffix('\r').unwrap_or(paragraph);
        let bidi = ParagraphBidiInfo::new(paragraph, None);
        let limit = |rows: &Vec<Row>, start: usize| {
            if rows.is_empty() && start == 0 {
                first
            } else {
                room
            }
        };
        let mut start = 0;
        loop {
            let end = row_end(paragraph, start, limit(&rows, start));
            // The space a row breaks after is not shown: at the row's end it would stand
            // on the wrong side of right-to-left text.
            let shown_end = if end < paragraph.len() {
                start + paragraph[start..end].trim_end().len()
            } else {
                end
            };
            let shown = if bidi.has_rtl() {
                visual(&bidi, paragraph, start..shown_end)
            } else {
                Cow::Borrowed(&paragraph[start..shown_end])
            };
            let text = shown.into_owned();
            rows.push(Row {
                width: text.width(),
                text,
            });
            if end >= paragraph.len() {
                break;
            }
            start = end;
        }
    }
    rows
}

/// Where the row that starts at byte `start` of `paragraph` ends: as many whole clusters as
/// fit in `room` columns (at least one), cut after the last space among them if the
/// paragraph goes on.
fn row_end(paragraph: &str, start: usize, room: usize) -> usize {
    let mut width = 0;
    let mut after_space = None;
    for (at, cluster) in paragraph[start..].grapheme_indices(true) {
        let at = start + at;
        let w = cluster.width();
        if width + w > room && at > start {
            return after_space.unwrap_or(at);
        }
        width += w;
        if cluster.chars().all(char::is_whitespace) {
            after_space = Some(at + cluster.len());
        }
    }
    paragraph.len()
}

/// The bytes `line` of a paragraph in display order.
fn visual<'a>(
    bidi: &ParagraphBidiInfo<'a>,
    paragraph: &'a str,
    line: Range<usize>,
) -> Cow<'a, str> {
    let (levels, runs) = bidi.visual_runs(line);
    let mut out = String::with_capacity(paragraph.len());
    for run in runs {
        let text = &paragraph[run.clone()];
        if levels[run.start].is_rtl() {
            for cluster in text.graphemes(true).rev() {
                push_shown(&mut out, cluster, true);
            }
        } else {
            push_shown(&mut out, text, false);
        }
    }
    Cow::Owned(out)
}

/// Appends `text` without directional formatting characters, mirroring paired brackets in
/// a right-to-left run.
fn push_shown(out: &mut String, text: &str, mirror: bool) {
    for c in text.chars() {
        if is_bidi_control(c) {
            continue;
        }
        out.push(if mirror { mirrored(c) } else { c });
    }
}

fn is_bidi_control(c: char) -> bool {
    matches!(
        c,
        '\u{061C}' | '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}'
    )
}

/// The mirror image of a bracket (Unicode's Bidi_Mirroring_Glyph for the common pairs).
fn mirrored(c: char) -> char {
    match c {
        '(' => ')',
        ')' => '(',
        '[' => ']',
        ']' => '[',
        '{' => '}',
        '}' => '{',
        '<' => '>',
        '>' => '<',
        '«' => '»',
        '»' => '«',
        '‹' => '›',
        '›' => '‹',
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use unicode_width::UnicodeWidthStr;

    use super::{Row, rows};

    fn texts(rows: &[Row]) -> Vec<&str> {
        rows.iter().map(|r| r.text.as_str()).collect()
    }

    #[test]
    fn wide_characters_wrap_by_display_width() {
        // Ten CJK characters are twenty columns: four rows of at most six.
        let laid = rows("日本語のテキスト表示", 6, 6);
        assert_eq!(texts(&laid), ["日本語", "のテキ", "スト表", "示"]);
        assert!(
            laid.iter()
                .all(|r| r.width <= 6 && r.width == r.text.width())
        );
    }

    #[test]
    fn clusters_are_never_cut() {
        // A family (four people joined by ZWJ), a flag (two regional indicators), an e with
        // a combining acute: each is one cluster, however many code points.
        let text = "ab👨‍👩‍👧‍👦🇩🇪e\u{301}";
        let laid = rows(text, 2, 2);
        assert_eq!(texts(&laid), ["ab", "👨‍👩‍👧‍👦", "🇩🇪", "e\u{301}"]);
        assert_eq!(
            laid.iter().map(|r| r.width).collect::<Vec<_>>(),
            [2, 2, 2, 1]
        );
    }

    #[test]
    fn rows_break_after_spaces_and_the_first_row_may_be_shorter() {
        let laid = rows("one two three", 5, 8);
        assert_eq!(texts(&laid), ["one", "two", "three"]);
        assert_eq!(texts(&rows("a\n\nb", 9, 9)), ["a", "", "b"]);
        assert_eq!(texts(&rows("", 9, 9)), [""]);
    }

    #[test]
    fn right_to_left_text_is_shown_in_visual_order() {
        // Hebrew "shalom olam": both words reversed, and their order too.
        assert_eq!(texts(&rows("שלום עולם", 40, 40)), ["םלוע םולש"]);
        // In a left-to-right paragraph only the Hebrew run turns around.
        assert_eq!(
            texts(&rows("hello שלום עולם ok", 40, 40)),
            ["hello םלוע םולש ok"]
        );
        // In a right-to-left paragraph the English word keeps its spelling and the
        // parentheses point the way they should on screen.
        assert_eq!(texts(&rows("שלום (Tern)", 40, 40)), ["(Tern) םולש"]);
        // Arabic "marhaban bil-alam", with a combining mark (shadda) kept after its letter.
        assert_eq!(texts(&rows("مرحبا بالعالم", 40, 40)), ["ملاعلاب ابحرم"]);
        assert_eq!(texts(&rows("رّب", 40, 40)), ["بر\u{651}"]);
    }

    #[test]
    fn each_row_is_reordered_on_its_own() {
        // Wrapped in logical order first: the first row holds the first word.
        let laid = rows("שלום עולם", 5, 5);
        assert_eq!(texts(&laid), ["םולש", "םלוע"]);
        // Directional marks do their work and are not printed.
        assert_eq!(texts(&rows("a\u{200F}b", 9, 9)), ["ab"]);
    }
}
