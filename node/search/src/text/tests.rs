use proptest::prelude::*;

use super::*;
use crate::Query;

fn query_terms(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    for_each_term(text, Mode::Query, |t| out.push(t.text.to_string()));
    out
}

#[test]
fn latin_words_fold_case_accents_and_apostrophes() {
    assert_eq!(
        terms("Hello, WORLD! Don’t panic: it's Straße in Zürich."),
        [
            "hello", "world", "dont", "panic", "its", "strasse", "in", "zurich"
        ]
    );
    assert_eq!(terms("CAFÉ café cafe\u{301}"), ["cafe", "cafe", "cafe"]);
    assert_eq!(terms("naïve Ørsted œuvre"), ["naive", "ørsted", "œuvre"]);
    // Numbers stay whole, with their separators.
    assert_eq!(terms("3.14 10,000 v2"), ["3.14", "10,000", "v2"]);
}

#[test]
fn compatibility_forms_meet_their_plain_forms() {
    // Full-width Latin, a ligature, a superscript, half-width katakana.
    assert_eq!(terms("ＨＥＬＬＯ"), ["hello"]);
    assert_eq!(terms("ﬁnd"), ["find"]);
    assert_eq!(terms("𝐇𝐞𝐥𝐥𝐨 Ⅻ"), ["hello", "xii"]);
    assert_eq!(terms("ｶﾀｶﾅ"), terms("カタカナ"));
}

#[test]
fn greek_cyrillic_and_turkish_fold() {
    assert_eq!(terms("ΣΊΣΥΦΟΣ σίσυφος"), ["σισυφοσ", "σισυφοσ"]);
    assert_eq!(terms("Ελλάδα"), ["ελλαδα"]);
    assert_eq!(terms("ПРИВЕТ Ёлка"), ["привет", "елка"]);
    assert_eq!(terms("İstanbul"), ["istanbul"]);
}

#[test]
fn right_to_left_scripts_drop_their_optional_marks() {
    // Arabic with harakat and a tatweel, and the same word bare.
    assert_eq!(terms("مَرْحَبًا"), terms("مرحبا"));
    assert_eq!(terms("كـــتاب"), ["كتاب"]);
    // Hamza forms of alef meet the bare alef.
    assert_eq!(terms("أحمد إلى آخر"), ["احمد", "الى", "اخر"]);
    // Hebrew with niqqud, and bare.
    assert_eq!(terms("שָׁלוֹם עוֹלָם"), ["שלום", "עולם"]);
    // Mixed with left-to-right text, in logical order.
    assert_eq!(terms("see שלום now"), ["see", "שלום", "now"]);
}

#[test]
fn marks_that_carry_meaning_stay() {
    // Devanagari vowel signs and virama are part of the word.
    assert_eq!(terms("नमस्ते"), ["नमस्ते"]);
    assert_ne!(terms("नमस्ते"), terms("नमसत"));
    // Thai has no spaces and no dictionary here: its clusters are cut like ideographs,
    // and keep their vowel marks.
    assert_eq!(
        terms("สวัสดี ครับ"),
        [
            "ส",
            "วั",
            "ส",
            "ดี",
            "สวั",
            "วัส",
            "สดี",
            "ค",
            "รั",
            "บ",
            "ครั",
            "รับ"
        ]
    );
    assert_eq!(query_terms("ครับ"), ["ครั", "รับ"]);
}

#[test]
fn ideographs_give_unigrams_and_bigrams() {
    assert_eq!(
        terms("我爱北京"),
        ["我", "爱", "北", "京", "我爱", "爱北", "北京"]
    );
    // Kana and kanji form one run; the prolonged sound mark stays inside it.
    assert_eq!(
        terms("東京タワー"),
        ["東", "京", "タ", "ワ", "ー", "東京", "京タ", "タワ", "ワー"]
    );
    // Hangul words are cut too, so a stem finds the word with its particle.
    assert_eq!(
        terms("서울에서"),
        ["서", "울", "에", "서", "서울", "울에", "에서"]
    );
    // Punctuation and other scripts end a run.
    assert_eq!(
        terms("東京、大阪"),
        ["東", "京", "東京", "大", "阪", "大阪"]
    );
    assert_eq!(terms("東京abc"), ["東", "京", "東京", "abc"]);
}

#[test]
fn ideographic_queries_need_adjacent_characters() {
    assert_eq!(query_terms("北京"), ["北京"]);
    assert_eq!(query_terms("京"), ["京"]);
    assert_eq!(query_terms("我爱北京"), ["我爱", "爱北", "北京"]);
    let indexed = terms("京北");
    assert!(!indexed.contains(&"北京".to_string()));
}

#[test]
fn emoji_are_terms_without_their_modifiers() {
    assert_eq!(terms("great 👍🏽!"), ["great", "👍"]);
    assert_eq!(terms("👍 ❤️ ❤"), ["👍", "❤", "❤"]);
    // A ZWJ family and a flag stay whole; two emoji in a row are two terms.
    assert_eq!(
        terms("👨‍👩‍👧🇩🇪🎉🎉"),
        ["👨\u{200d}👩\u{200d}👧", "🇩🇪", "🎉", "🎉"]
    );
    // Punctuation alone is nothing.
    assert!(terms("... -- !? () «»").is_empty());
}

#[test]
fn long_tokens_are_cut_at_a_character_boundary() {
    let long = "é".repeat(100);
    let got = terms(&long);
    assert_eq!(got.len(), 1);
    assert!(got[0].len() <= MAX_TERM_BYTES);
    assert!(got[0].len() >= MAX_TERM_BYTES - 3);
    assert_eq!(terms(&"a".repeat(200))[0].len(), MAX_TERM_BYTES);
}

#[test]
fn highlights_cover_the_original_text() {
    let text = "Grüße aus BERLIN, 東京 und Berlin-Mitte 👍🏽";
    let query = Query::parse("grusse berlin 東京 👍");
    let shown: Vec<&str> = highlight(text, &query)
        .into_iter()
        .map(|r| &text[r])
        .collect();
    assert_eq!(shown, ["Grüße", "BERLIN", "東京", "Berlin", "👍🏽"]);
}

/// A term as a test compares it: its text, kind and span.
type Seen = (String, Kind, (usize, usize));

/// Every term of an ASCII text, by the short path and by the general one.
fn both_paths(text: &str) -> [Vec<Seen>; 2] {
    let mut short = Vec::new();
    for_each_ascii_term(text, |t| short.push((t.text.to_string(), t.kind, t.span)));
    let mut general = Vec::new();
    for_each_unicode_term(text, Mode::Index, |t| {
        general.push((t.text.to_string(), t.kind, t.span));
    });
    [short, general]
}

#[test]
fn ascii_text_takes_the_short_path_to_the_same_terms() {
    for text in [
        "Hello, WORLD! don't panic: it's 3.14, 10,000 or 1;2 e.g. a.b.c a..b",
        "foo_bar _x y_ __ a:b a:1 1:a 1.a a.1 'quoted' a' 'a 1'2 x,y 1,",
        "tab\tand\r\nlines\n\r  spaces  end.",
        "",
        "...",
        &"x".repeat(1024),
        &"a'".repeat(100),
        &format!("{} {}", "1,".repeat(50), "Ab_".repeat(30)),
    ] {
        let [short, general] = both_paths(text);
        assert_eq!(short, general, "{text:?}");
    }
}

proptest! {
    #[test]
    fn the_ascii_path_agrees_with_the_segmenter(
        text in "[aZ09_:.,;'\" \t\r\n-]{0,40}"
    ) {
        let [short, general] = both_paths(&text);
        prop_assert_eq!(short, general);
    }

    #[test]
    fn terms_are_normalized_and_stable(text in "\\PC{0,80}") {
        for term in terms(&text) {
            prop_assert!(!term.is_empty());
            prop_assert!(term.len() <= MAX_TERM_BYTES);
            // Tokenizing a term again gives the term back (for words): normalization is
            // idempotent, so a query typed from a result finds that result.
            // (Only for a term that is one segment on its own: a word cut from a longer
            // segment may segment differently alone.)
            let alone = term.split_word_bounds().count() == 1;
            if alone && !term.chars().any(|c| is_ideographic(c) || is_unspaced(c))
                && term.chars().any(char::is_alphanumeric)
            {
                let again = terms(&term);
                prop_assert!(again.contains(&term), "{term:?} → {again:?}");
            }
        }
    }

    #[test]
    fn every_query_term_of_a_text_is_among_its_terms(text in "\\PC{0,80}") {
        let indexed = terms(&text);
        for term in query_terms(&text) {
            prop_assert!(indexed.contains(&term), "{term:?} not in {indexed:?}");
        }
    }
}
