//! Tokenization: how a message's text becomes the terms the index stores, and how a query's
//! text becomes the terms it looks up. Both go through the same steps, so that whatever a
//! message says, typing it again finds it.
//!
//! # Flow
//!
//! 1. **Segmentation.** The text is split at the word boundaries of Unicode Standard Annex
//!    #29 (`unicode-segmentation`). A segment holding a letter or digit is a *word*; a
//!    segment holding an emoji (an `Extended_Pictographic` or regional-indicator character)
//!    and no letter is an *emoji*; everything else (spaces, punctuation) is skipped.
//! 2. **Normalization** of each word, so that the ways of writing one word meet:
//!    - NFKC: full-width Latin and half-width katakana become the ordinary forms, ligatures
//!      and other compatibility characters their plain letters;
//!    - full Unicode case folding (`Straße` → `strasse`, `ΣΊΣΥΦΟΣ` → `σίσυφοσ`);
//!    - canonical decomposition (NFD), then the non-spacing marks (`Mn`) that follow a letter
//!      of the Latin, Greek, Cyrillic, Arabic or Hebrew script are dropped: accents
//!      (`café` = `cafe`, `ελλάδα` = `ελλαδα`), Arabic harakat and hamza forms of alef, Hebrew
//!      points. People type these words without the marks as often as with them. Marks of
//!      other scripts carry meaning (Devanagari's vowel signs and virama, Thai's vowels) and
//!      stay;
//!    - apostrophes (`'` and `’`), the Arabic tatweel and default-ignorable characters
//!      (zero-width joiners, variation selectors) are dropped (`don't` = `dont`);
//!    - NFC recomposition.
//!
//!    An ASCII word takes a short path with the same result: ASCII lower case, apostrophes
//!    dropped.
//! 3. **Terms.** A normalized word is cut into runs of *ideographic* characters (Han,
//!    Hiragana, Katakana, Hangul and the prolonged sound mark) and runs of anything else.
//!    - A run of anything else is one term: a word.
//!    - Ideographic runs continue across segments (UAX #29 makes each Han ideograph and each
//!      hiragana a word of its own) and become, when indexed, every character (unigram) and
//!      every pair of adjacent characters (bigram): `東京都` → `東`, `京`, `都`, `東京`, `京都`.
//!      Chinese and Japanese are written without spaces, and no dictionary is at hand to find
//!      their words; bigrams make a two-or-more-character query match only texts where its
//!      characters stand together in that order (the query `東京` looks up the bigram
//!      `東京`, so `京東` does not match), and unigrams let a single character be found.
//!      Korean words carry particles (`서울에서`, "in Seoul"), so Hangul is cut the same way
//!      and `서울` finds `서울에서`.
//! 4. An emoji is one term, without skin-tone modifiers and variation selectors, so that
//!    `👍🏽` finds `👍`. Sequences joined by ZWJ and flags stay whole.
//!
//! A term is at most [`MAX_TERM_BYTES`] bytes: longer words are cut at a character boundary
//! (in messages and queries alike, so they still match).
//!
//! # Queries
//!
//! A query's terms must all be present in a message (AND). An ideographic run of one
//! character looks up its unigram; a longer run its bigrams. The last word of the query is
//! a *prefix* when nothing follows it (the user is still typing it): `hel` finds `hello`,
//! `hel ` only `hel`.
//!
//! No stemming and no stop words: chat text is short and in many languages, and a word
//! typed in a query should find that word.

use std::{borrow::Cow, ops::Range};

use icu_casemap::{CaseMapper, CaseMapperBorrowed};
use icu_normalizer::{ComposingNormalizerBorrowed, DecomposingNormalizerBorrowed};
use icu_properties::{
    CodePointMapData, CodePointMapDataBorrowed, CodePointSetData, CodePointSetDataBorrowed,
    props::{
        DefaultIgnorableCodePoint, ExtendedPictographic, GeneralCategory, GeneralCategoryGroup,
        RegionalIndicator, Script,
    },
};
use unicode_segmentation::UnicodeSegmentation;
use zeroize::{Zeroize, Zeroizing};

/// The longest term kept, in bytes: no word in any language is longer, and a longer token
/// is a link or a key pasted into the chat, which is found by its first 64 bytes as well.
pub const MAX_TERM_BYTES: usize = 64;

/// What a term stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// A word of a script written with spaces.
    Word,
    /// One ideographic character.
    Unigram,
    /// Two adjacent ideographic characters.
    Bigram,
    /// An emoji.
    Emoji,
}

/// A term and the bytes of the original text it came from.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Term<'a> {
    pub(crate) text: &'a str,
    pub(crate) kind: Kind,
    pub(crate) span: (usize, usize),
}

/// Which terms an ideographic run gives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    /// Every unigram and every bigram, for a message.
    Index,
    /// The bigrams, or the unigram of a one-character run, for a query.
    Query,
}

/// The Unicode data the tokenizer uses: all compiled into the binary, nothing loaded.
struct Tables {
    nfkc: ComposingNormalizerBorrowed<'static>,
    nfc: ComposingNormalizerBorrowed<'static>,
    nfd: DecomposingNormalizerBorrowed<'static>,
    case: CaseMapperBorrowed<'static>,
    script: CodePointMapDataBorrowed<'static, Script>,
    category: CodePointMapDataBorrowed<'static, GeneralCategory>,
    pictographic: CodePointSetDataBorrowed<'static>,
    regional: CodePointSetDataBorrowed<'static>,
    ignorable: CodePointSetDataBorrowed<'static>,
}

const TABLES: Tables = Tables {
    nfkc: ComposingNormalizerBorrowed::new_nfkc(),
    nfc: ComposingNormalizerBorrowed::new_nfc(),
    nfd: DecomposingNormalizerBorrowed::new_nfd(),
    case: CaseMapper::new(),
    script: CodePointMapData::<Script>::new(),
    category: CodePointMapData::<GeneralCategory>::new(),
    pictographic: CodePointSetData::new::<ExtendedPictographic>(),
    regional: CodePointSetData::new::<RegionalIndicator>(),
    ignorable: CodePointSetData::new::<DefaultIgnorableCodePoint>(),
};

/// The terms the index stores for `text`, in order of appearance, repeats included.
///
/// ```
/// assert_eq!(
///     tern_search::terms("Café au LAIT, s'il vous plaît! 🎉"),
///     ["cafe", "au", "lait", "sil", "vous", "plait", "🎉"],
/// );
/// assert_eq!(tern_search::terms("東京"), ["東", "京", "東京"]);
/// ```
pub fn terms(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    for_each_term(text, Mode::Index, |term| out.push(term.text.to_string()));
    out
}

/// Byte ranges of `text` holding a term that `query` looks for, in order and without
/// overlaps: what a UI highlights in a search result. The node has the text; the index
/// does not keep it.
///
/// ```
/// let query = tern_search::Query::parse("cafe ber");
/// let text = "Meet at the Café in Berlin";
/// let ranges = tern_search::highlight(text, &query);
/// let words: Vec<&str> = ranges.into_iter().map(|r| &text[r]).collect();
/// assert_eq!(words, ["Café", "Berlin"]);
/// ```
pub fn highlight(text: &str, query: &crate::Query) -> Vec<Range<usize>> {
    let mut ranges: Vec<Range<usize>> = Vec::new();
    for_each_term(text, Mode::Index, |term| {
        if query.matches_term(term.text) {
            let (start, end) = term.span;
            match ranges.last_mut() {
                Some(last) if start <= last.end => last.end = last.end.max(end),
                _ => ranges.push(start..end),
            }
        }
    });
    ranges
}

/// Calls `emit` with every term of `text`, in order, repeats included.
pub(crate) fn for_each_term(text: &str, mode: Mode, emit: impl FnMut(Term<'_>)) {
    if text.is_ascii() {
        for_each_ascii_term(text, emit);
    } else {
        for_each_unicode_term(text, mode, emit);
    }
}

/// [`for_each_term`] for a text of ASCII characters only, the most common chat text: it
/// has no ideographs, emoji or marks, so its terms are its words, found by the rules of
/// UAX #29 that apply to ASCII ([`ascii_joined`]) and normalized by lower-casing and
/// dropping apostrophes. The same terms, spans included, as the general path (a property
/// test compares the two), without the segmenter's and the script tables' lookups per
/// character, which were most of the indexer's time.
fn for_each_ascii_term(text: &str, mut emit: impl FnMut(Term<'_>)) {
    let bytes = text.as_bytes();
    let mut normalized = Zeroizing::new(String::new());
    let mut start = 0;
    while start < bytes.len() {
        let mut end = start + 1;
        while end < bytes.len()
            && ((bytes[end - 1].is_ascii_alphanumeric() && bytes[end].is_ascii_alphanumeric())
                || ascii_joined(bytes, end))
        {
            end += 1;
        }
        let segment = &text[start..end];
        if segment.bytes().any(|b| b.is_ascii_alphanumeric()) {
            normalized.clear();
            // Only the first MAX_TERM_BYTES of a term are kept.
            normalized.extend(
                segment
                    .chars()
                    .filter(|&c| c != '\'')
                    .take(MAX_TERM_BYTES)
                    .map(|c| c.to_ascii_lowercase()),
            );
            emit_capped(&normalized, Kind::Word, (start, end), &mut emit);
        }
        start = end;
    }
}

/// Whether UAX #29 keeps `bytes[at - 1]` and `bytes[at]` in one segment, for ASCII text
/// (rules WB3, WB3d, WB5 to WB13b; the others concern characters outside ASCII).
fn ascii_joined(bytes: &[u8], at: usize) -> bool {
    #[derive(Clone, Copy, PartialEq, Eq)]
    enum Class {
        Letter,
        Numeric,
        /// `_`
        ExtendNumLet,
        /// `:`
        MidLetter,
        /// `,` and `;`
        MidNum,
        /// `.` (MidNumLet) and `'` (Single_Quote), which the rules treat alike
        MidNumLetQ,
        Cr,
        Lf,
        Space,
        Other,
    }
    use Class::*;
    let class = |b: u8| match b {
        b'a'..=b'z' | b'A'..=b'Z' => Letter,
        b'0'..=b'9' => Numeric,
        b'_' => ExtendNumLet,
        b':' => MidLetter,
        b',' | b';' => MidNum,
        b'.' | b'\'' => MidNumLetQ,
        b'\r' => Cr,
        b'\n' => Lf,
        b' ' => Space,
        _ => Other,
    };
    let after = |offset: usize| bytes.get(at + offset).map(|&b| class(b));
    let before = |offset: usize| at.checked_sub(offset).map(|i| class(bytes[i]));
    let (left, right) = (class(bytes[at - 1]), class(bytes[at]));
    match (left, right) {
        (Cr, Lf)
        | (Space, Space)
        | (Letter | Numeric, Letter | Numeric)
        | (Letter | Numeric | ExtendNumLet, ExtendNumLet)
        | (ExtendNumLet, Letter | Numeric) => true,
        (Letter, MidLetter | MidNumLetQ) => after(1) == Some(Letter),
        (MidLetter | MidNumLetQ, Letter) => before(2) == Some(Letter),
        (Numeric, MidNum | MidNumLetQ) => after(1) == Some(Numeric),
        (MidNum | MidNumLetQ, Numeric) => before(2) == Some(Numeric),
        _ => false,
    }
}

/// [`for_each_term`] for any text.
fn for_each_unicode_term(text: &str, mode: Mode, mut emit: impl FnMut(Term<'_>)) {
    // The buffers hold the words of a message: wiped when dropped, like the index's terms.
    let mut run = Run::default();
    let mut normalized = Zeroizing::new(String::new());
    let mut scratch = Zeroizing::new(String::new());
    for (start, segment) in text.split_word_bound_indices() {
        let span = (start, start + segment.len());
        if segment.chars().any(char::is_alphanumeric) {
            normalize_word(segment, &mut normalized, &mut scratch);
            if normalized.chars().next().is_some_and(is_unspaced) {
                // The segmenter gives these scripts a cluster at a time: one unit.
                run.push(&normalized, span);
                continue;
            }
            let mut rest = normalized.as_str();
            while let Some(first) = rest.chars().next() {
                let ideographic = is_ideographic(first);
                let len = rest
                    .char_indices()
                    .find(|&(_, c)| is_ideographic(c) != ideographic)
                    .map_or(rest.len(), |(i, _)| i);
                let (part, tail) = rest.split_at(len);
                if ideographic {
                    for c in part.chars() {
                        run.push(c.encode_utf8(&mut [0; 4]), span);
                    }
                } else {
                    run.flush(mode, &mut emit);
                    emit_capped(part, Kind::Word, span, &mut emit);
                }
                rest = tail;
            }
        } else {
            run.flush(mode, &mut emit);
            // Every emoji is outside ASCII; most segments here are a space.
            if !segment.is_ascii()
                && segment
                    .chars()
                    .any(|c| TABLES.pictographic.contains(c) || TABLES.regional.contains(c))
            {
                normalized.clear();
                normalized.extend(segment.chars().filter(|&c| !is_emoji_modifier(c)));
                emit_capped(&normalized, Kind::Emoji, span, &mut emit);
            }
        }
    }
    run.flush(mode, &mut emit);
}

/// Consecutive units of text written without spaces (an ideograph, a syllable, a Thai
/// cluster), each with the span of the segment it came from. The units are stored one
/// after the other in `text`, so that two adjacent units are one slice of it.
#[derive(Default)]
struct Run {
    text: Zeroizing<String>,
    /// `(start, end)` of each unit in `text`, and its span in the original text.
    units: Vec<(usize, usize, (usize, usize))>,
}

impl Run {
    fn push(&mut self, unit: &str, span: (usize, usize)) {
        let start = self.text.len();
        self.text.push_str(unit);
        self.units.push((start, self.text.len(), span));
    }

    fn flush(&mut self, mode: Mode, emit: &mut impl FnMut(Term<'_>)) {
        let units = &self.units;
        if mode == Mode::Index || units.len() == 1 {
            for &(start, end, span) in units {
                emit_capped(&self.text[start..end], Kind::Unigram, span, emit);
            }
        }
        for pair in units.windows(2) {
            let [(start, _, (from, _)), (_, end, (_, to))] = pair else {
                continue;
            };
            emit_capped(&self.text[*start..*end], Kind::Bigram, (*from, *to), emit);
        }
        self.units.clear();
        self.text.clear();
    }
}

fn emit_capped(text: &str, kind: Kind, span: (usize, usize), emit: &mut impl FnMut(Term<'_>)) {
    if text.is_empty() {
        return;
    }
    let mut end = text.len().min(MAX_TERM_BYTES);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    emit(Term {
        text: &text[..end],
        kind,
        span,
    });
}

/// Writes the normalized form of one word segment to `out` (see the module documentation).
fn normalize_word(word: &str, out: &mut String, scratch: &mut String) {
    out.clear();
    if word.is_ascii() {
        out.extend(
            word.chars()
                .filter(|&c| c != '\'')
                .map(|c| c.to_ascii_lowercase()),
        );
        return;
    }
    let compatible = wiped(TABLES.nfkc.normalize(word));
    let folded = wiped(TABLES.case.fold_string(&compatible));
    let decomposed = wiped(TABLES.nfd.normalize(&folded));
    scratch.clear();
    let mut folds_marks = false;
    for c in decomposed.chars() {
        if is_dropped(c) {
            continue;
        }
        let category = TABLES.category.get(c);
        if GeneralCategoryGroup::Mark.contains(category) {
            // A mark belongs to the letter before it, whatever marks stand between them.
            if category == GeneralCategory::NonspacingMark && folds_marks {
                continue;
            }
        } else {
            folds_marks = folds_marks_of(TABLES.script.get(c));
        }
        scratch.push(c);
    }
    out.push_str(&wiped(TABLES.nfc.normalize(scratch)));
}

/// A normalizer's output, wiped when dropped if it is a new string.
fn wiped(text: Cow<'_, str>) -> Wiped<'_> {
    Wiped(text)
}

struct Wiped<'a>(Cow<'a, str>);

impl Drop for Wiped<'_> {
    fn drop(&mut self) {
        if let Cow::Owned(text) = &mut self.0 {
            text.zeroize();
        }
    }
}

impl std::ops::Deref for Wiped<'_> {
    type Target = str;

    fn deref(&self) -> &str {
        &self.0
    }
}

/// Whether marks on letters of `script` are dropped.
fn folds_marks_of(script: Script) -> bool {
    [
        Script::Latin,
        Script::Greek,
        Script::Cyrillic,
        Script::Arabic,
        Script::Hebrew,
    ]
    .contains(&script)
}

/// Characters removed from every word.
fn is_dropped(c: char) -> bool {
    // U+0027 is gone after NFKC from its full-width form; U+2019 is the typographic
    // apostrophe; U+0640 is the Arabic tatweel, which only stretches a word.
    matches!(c, '\'' | '\u{2019}' | '\u{0640}') || TABLES.ignorable.contains(c)
}

/// Characters of the scripts written without spaces between words (and Hangul, whose words
/// carry particles), whose text is indexed as unigrams and bigrams.
fn is_ideographic(c: char) -> bool {
    // The prolonged sound mark (U+30FC, and U+FF70 before NFKC) belongs to katakana words
    // but has the Common script.
    c == '\u{30FC}'
        || [
            Script::Han,
            Script::Hiragana,
            Script::Katakana,
            Script::Hangul,
        ]
        .contains(&TABLES.script.get(c))
}

/// Characters of the scripts that UAX #29 leaves to a dictionary (Thai, Lao, Khmer,
/// Myanmar), which `unicode-segmentation` gives a grapheme cluster at a time: indexed as
/// unigrams and bigrams of clusters, as ideographs are of characters.
fn is_unspaced(c: char) -> bool {
    [Script::Thai, Script::Lao, Script::Khmer, Script::Myanmar].contains(&TABLES.script.get(c))
}

/// Skin-tone modifiers and variation selectors, which do not change which emoji it is.
fn is_emoji_modifier(c: char) -> bool {
    matches!(c, '\u{1F3FB}'..='\u{1F3FF}' | '\u{FE0E}' | '\u{FE0F}')
}

#[cfg(test)]
mod tests;
