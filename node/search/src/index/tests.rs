use std::collections::{BTreeMap, BTreeSet};

use proptest::prelude::*;

use super::*;
use crate::{corpus::Corpus, terms};

/// The obvious implementation: scan every message's terms.
#[derive(Default, Debug)]
struct Oracle {
    docs: BTreeMap<DocKey, BTreeSet<String>>,
}

impl Oracle {
    fn insert(&mut self, key: DocKey, text: &str) {
        self.docs.insert(key, terms(text).into_iter().collect());
    }

    fn search(
        &self,
        query: &Query,
        conversation: Option<&[u8; 16]>,
        limit: usize,
        after: Option<&Cursor>,
    ) -> Page {
        let limit = limit.clamp(1, MAX_PAGE);
        if query.is_empty() {
            return Page::default();
        }
        let mut hits: Vec<DocKey> = self
            .docs
            .iter()
            .rev()
            .filter(|(key, _)| conversation.is_none_or(|c| key.conversation == *c))
            .filter(|(key, _)| after.is_none_or(|cursor| **key < cursor.key()))
            .filter(|(_, terms)| {
                query.terms().iter().all(|q| {
                    terms.iter().any(|t| {
                        if q.prefix {
                            t.starts_with(q.text.as_str())
                        } else {
                            *t == q.text
                        }
                    })
                })
            })
            .map(|(key, _)| *key)
            .take(limit + 1)
            .collect();
        let more = hits.len() > limit;
        hits.truncate(limit);
        let next = more.then(|| Cursor::after(*hits.last().unwrap()));
        Page { hits, next }
    }
}

/// Every page of `query`, from the index and the oracle, must agree.
fn assert_same_pages(
    index: &Index,
    oracle: &Oracle,
    query: &Query,
    conversation: Option<&[u8; 16]>,
    limit: usize,
) {
    let mut after = None;
    let mut pages = 0;
    loop {
        let got = index.search(query, conversation, limit, after.as_ref());
        let want = oracle.search(query, conversation, limit, after.as_ref());
        assert_eq!(got, want, "query {query:?}, page {pages}");
        pages += 1;
        match got.next {
            Some(next) => after = Some(next),
            None => break,
        }
    }
}

/// Whether the index's dictionary holds `term` (both of its maps must agree).
fn holds(index: &Index, term: &str) -> bool {
    let ordered = index.ordered.contains_key(term);
    assert_eq!(index.find_term(term).is_some(), ordered, "{term}");
    ordered
}

fn key(conversation: u8, stamp: u64, id: u8) -> DocKey {
    DocKey::new([conversation; 16], stamp, [id; 16])
}

#[test]
fn the_index_can_move_between_threads() {
    fn send_sync<T: Send + Sync>() {}
    send_sync::<Index>();
}

#[test]
fn finds_newest_first_and_pages() {
    let mut index = Index::new();
    for i in 0..10u8 {
        index
            .insert(key(i % 3, u64::from(i), i), &format!("hello number {i}"))
            .unwrap();
    }
    let query = Query::parse("hello");
    let first = index.search(&query, None, 4, None);
    assert_eq!(
        first.hits,
        [key(0, 9, 9), key(2, 8, 8), key(1, 7, 7), key(0, 6, 6)]
    );
    let second = index.search(&query, None, 4, first.next.as_ref());
    assert_eq!(
        second.hits,
        [key(2, 5, 5), key(1, 4, 4), key(0, 3, 3), key(2, 2, 2)]
    );
    let third = index.search(&query, None, 4, second.next.as_ref());
    assert_eq!(third.hits, [key(1, 1, 1), key(0, 0, 0)]);
    assert_eq!(third.next, None);
    // A page that ends exactly at the last hit has no next page.
    assert_eq!(index.search(&query, None, 10, None).next, None);
    let in_one = index.search(&query, Some(&[1; 16]), 10, None);
    assert_eq!(in_one.hits, [key(1, 7, 7), key(1, 4, 4), key(1, 1, 1)]);
}

#[test]
fn all_terms_must_match_and_the_last_may_be_a_prefix() {
    let mut index = Index::new();
    index.insert(key(1, 1, 1), "lunch at noon").unwrap();
    index.insert(key(1, 2, 2), "lunch tomorrow").unwrap();
    index.insert(key(1, 3, 3), "no lunchbox").unwrap();
    let hits = |q: &str| index.search(&Query::parse(q), None, 10, None).hits;
    assert_eq!(hits("lunch"), [key(1, 3, 3), key(1, 2, 2), key(1, 1, 1)]);
    assert_eq!(hits("lunch "), [key(1, 2, 2), key(1, 1, 1)]);
    assert_eq!(hits("lunch no"), [key(1, 1, 1)]);
    assert_eq!(hits("no lunch"), [key(1, 3, 3)]);
    assert_eq!(hits("LUNCH TOM"), [key(1, 2, 2)]);
    assert_eq!(hits("dinner"), []);
    assert_eq!(hits("..."), []);
}

#[test]
fn multilingual_messages_are_found_the_ways_people_type() {
    let messages = [
        (1, "مَرْحَبًا يا أحمد، كيف حالك؟"),
        (2, "שָׁלוֹם, נתראה מחר"),
        (3, "我们明天在北京见面"),
        (4, "東京タワーに行きましょう"),
        (5, "서울에서 만나요"),
        (6, "Встретимся ЗАВТРА в кафе"),
        (7, "Das Café an der Straße 🎉👍🏽"),
        (8, "नमस्ते दुनिया"),
        (9, "พรุ่งนี้เจอกันนะ"),
    ];
    let mut index = Index::new();
    for (i, text) in messages {
        index.insert(key(1, i, i as u8), text).unwrap();
    }
    let found = |q: &str| -> Vec<u64> {
        index
            .search(&Query::parse(q), None, 20, None)
            .hits
            .iter()
            .map(|k| k.stamp)
            .collect()
    };
    // Arabic without harakat, hamza folded; Hebrew without niqqud.
    assert_eq!(found("مرحبا"), [1]);
    assert_eq!(found("احمد"), [1]);
    assert_eq!(found("שלום"), [2]);
    // Chinese and Japanese by adjacent characters; a single character; Korean stems.
    assert_eq!(found("北京"), [3]);
    assert_eq!(found("京北"), Vec::<u64>::new());
    assert_eq!(found("明天 见面"), [3]);
    assert_eq!(found("東京タワー"), [4]);
    assert_eq!(found("京"), [4, 3]);
    assert_eq!(found("서울"), [5]);
    // Case and accents, as typed, and emoji without their skin tone.
    assert_eq!(found("завтра"), [6]);
    assert_eq!(found("cafe strasse"), [7]);
    assert_eq!(found("caf"), [7]);
    assert_eq!(found("👍"), [7]);
    assert_eq!(found("🎉 café"), [7]);
    // Devanagari keeps its marks; Thai by clusters.
    assert_eq!(found("नमस्ते"), [8]);
    assert_eq!(found("เจอกัน"), [9]);
}

#[test]
fn edits_replace_and_deletes_erase() {
    let mut index = Index::new();
    index
        .insert(key(1, 1, 1), "the secret word is zanzibar")
        .unwrap();
    index.insert(key(1, 2, 2), "the weather is fine").unwrap();
    let before = index.stats();
    assert_eq!(before.documents, 2);

    index.insert(key(1, 1, 1), "the word is gone").unwrap();
    assert_eq!(index.len(), 2);
    assert!(
        index
            .search(&Query::parse("zanzibar"), None, 10, None)
            .hits
            .is_empty()
    );
    assert!(!holds(&index, "zanzibar"));
    assert!(!holds(&index, "secret"));
    assert_eq!(
        index.search(&Query::parse("gone"), None, 10, None).hits,
        [key(1, 1, 1)]
    );

    assert!(index.remove(&key(1, 1, 1)));
    assert!(!index.remove(&key(1, 1, 1)));
    assert!(!index.contains(&key(1, 1, 1)));
    assert!(!holds(&index, "gone"));
    assert!(!holds(&index, "word"));
    // Terms still used by the other message stay.
    assert!(holds(&index, "weather"));
    assert_eq!(
        index.search(&Query::parse("is"), None, 10, None).hits,
        [key(1, 2, 2)]
    );
    // Nothing of the removed text is left anywhere in the index: its terms' entries are
    // wiped and the message's slot is empty.
    for entry in &index.terms {
        assert!(!["zanzibar", "secret", "gone", "word"].contains(&&*entry.term));
    }
    assert!(index.docs[0].is_none());
    assert_eq!(index.stats().postings, 4);
}

#[test]
fn removing_a_conversation_or_a_batch() {
    let mut index = Index::new();
    for i in 0..30u8 {
        index
            .insert(key(i % 3, u64::from(i), i), &format!("note {i}"))
            .unwrap();
    }
    assert_eq!(index.remove_conversation(&[1; 16]), 10);
    assert_eq!(index.remove_conversation(&[1; 16]), 0);
    let hits = index.search(&Query::parse("note"), None, 100, None).hits;
    assert_eq!(hits.len(), 20);
    assert!(hits.iter().all(|k| k.conversation != [1; 16]));
    let expired = [key(0, 0, 0), key(2, 2, 2), key(1, 1, 1), key(0, 0, 0)];
    assert_eq!(index.remove_many(&expired), 2);
    assert_eq!(index.len(), 18);
    assert!(
        index
            .search(&Query::parse("0"), None, 10, None)
            .hits
            .is_empty()
    );
}

#[test]
fn many_removals_renumber_and_keep_every_answer() {
    let mut corpus = Corpus::new(7);
    let history = corpus.history(3 * MIN_RENUMBER_SLOTS, 5, 0, 1_000_000);
    let mut index = Index::new();
    let mut oracle = Oracle::default();
    for (key, text) in &history {
        index.insert(*key, text).unwrap();
        oracle.insert(*key, text);
    }
    // Remove two in three, in batches, so that empty slots outnumber live ones.
    let doomed: Vec<DocKey> = history
        .iter()
        .enumerate()
        .filter(|(i, _)| i % 3 != 0)
        .map(|(_, (key, _))| *key)
        .collect();
    for batch in doomed.chunks(500) {
        index.remove_many(batch);
        for key in batch {
            oracle.docs.remove(key);
        }
    }
    // Renumbered: fewer slots than messages ever indexed.
    assert!(index.docs.len() < history.len());
    assert_eq!(index.len(), oracle.docs.len());
    let terms_in_oracle: BTreeSet<&String> = oracle.docs.values().flatten().collect();
    assert_eq!(index.stats().terms, terms_in_oracle.len());
    for q in ["the", "de", "я", "北京", "th", "😂", "明日 東京"] {
        assert_same_pages(&index, &oracle, &Query::parse(q), None, 97);
        assert_same_pages(
            &index,
            &oracle,
            &Query::parse(q),
            Some(&history[0].0.conversation),
            50,
        );
    }
    // New messages still go in after renumbering.
    index.insert(key(9, u64::MAX, 9), "the last word").unwrap();
    assert_eq!(
        index.search(&Query::parse("last"), None, 1, None).hits,
        [key(9, u64::MAX, 9)]
    );
}

#[test]
fn history_loaded_one_conversation_at_a_time_answers_the_same() {
    let mut history = Corpus::new(11).history(20_000, 8, 0, 10_000_000);
    // As the node reads its table: by conversation, then time.
    history.sort_by_key(|(key, _)| (key.conversation, key.stamp));
    let mut index = Index::new();
    let mut oracle = Oracle::default();
    for (key, text) in &history {
        index.insert(*key, text).unwrap();
        oracle.insert(*key, text);
    }
    // Inserted one by one, the index renumbered itself on the way; built, it renumbers once,
    // at the end.
    assert!(index.renumbered > 1);
    let built = Index::build(history.iter().map(|(k, t)| (*k, t.as_str()))).unwrap();
    assert_eq!(built.renumbered, 1);
    assert!(built.stragglers.is_empty());
    assert_eq!(built.docs.len(), history.len());
    let queries = ["the", "i yo", "de", "я", "的", "🎉"];
    for q in queries {
        assert_same_pages(&built, &oracle, &Query::parse(q), None, 50);
    }
    for q in queries {
        assert_same_pages(&index, &oracle, &Query::parse(q), None, 50);
    }
    index.compact();
    assert!(index.stragglers.is_empty());
    for q in queries {
        assert_same_pages(&index, &oracle, &Query::parse(q), None, 50);
        assert_same_pages(
            &index,
            &oracle,
            &Query::parse(q),
            Some(&history[0].0.conversation),
            50,
        );
    }
    // A late message, older than the rest, is found in its place.
    let late = DocKey::new([3; 16], 5, [3; 16]);
    index.insert(late, "the late one").unwrap();
    oracle.insert(late, "the late one");
    assert_eq!(index.stragglers.len(), 1);
    assert_same_pages(&index, &oracle, &Query::parse("the"), None, 500);
}

#[test]
fn a_year_of_history_finds_an_old_word_until_it_is_deleted() {
    const DAY_MS: u64 = 24 * 60 * 60 * 1000;
    let start_ms = 1_700_000_000_000;
    let mut history = Corpus::new(2024).history(50_000, 40, start_ms, 365 * DAY_MS);
    // The oldest message, a year back, says a word nothing else says.
    history[0].1.push_str(" Quetzalcoatl");
    let old = history[0].0;
    let mut index = Index::new();
    for (key, text) in &history {
        index.insert(*key, text).unwrap();
    }
    let query = Query::parse("quetzalcoatl");
    assert_eq!(index.search(&query, None, 20, None).hits, [old]);
    assert_eq!(
        index.search(&query, Some(&old.conversation), 20, None).hits,
        [old]
    );
    // As typed, and with another word of the message.
    let other = terms(&history[0].1)[0].clone();
    assert_eq!(
        index
            .search(&Query::parse(&format!("{other} quetz")), None, 20, None)
            .hits,
        [old]
    );
    // Paging through a common word reaches it too, a year back.
    let common = Query::parse(&other);
    let mut after = None;
    let mut found = false;
    while let Some(next) = {
        let page = index.search(&common, Some(&old.conversation), MAX_PAGE, after.as_ref());
        found |= page.hits.contains(&old);
        page.next
    } {
        after = Some(next);
    }
    assert!(found);

    assert!(index.remove(&old));
    assert!(index.search(&query, None, 20, None).hits.is_empty());
    assert!(
        index
            .search(&Query::parse("quetz"), None, 20, None)
            .hits
            .is_empty()
    );
    assert!(!holds(&index, "quetzalcoatl"));
}

/// Operations on an index, drawn at random.
#[derive(Debug, Clone)]
enum Op {
    Insert(DocKey, String),
    Remove(DocKey),
    RemoveConversation(u8),
    Search(String, Option<u8>, usize),
    Compact,
}

const WORDS: &[&str] = &[
    "apple",
    "apricot",
    "banana",
    "band",
    "café",
    "cafe",
    "Über",
    "über",
    "東京",
    "京都",
    "北",
    "서울에서",
    "🎉",
    "👍🏽",
    "naïve",
    "x",
];

fn text() -> impl Strategy<Value = String> {
    proptest::collection::vec(proptest::sample::select(WORDS), 0..6).prop_map(|w| w.join(" "))
}

fn doc_key() -> impl Strategy<Value = DocKey> {
    (0u8..3, 0u64..20, 0u8..3).prop_map(|(c, s, i)| key(c, s, i))
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (doc_key(), text()).prop_map(|(k, t)| Op::Insert(k, t)),
        2 => doc_key().prop_map(Op::Remove),
        1 => (0u8..3).prop_map(Op::RemoveConversation),
        1 => Just(Op::Compact),
        3 => (
            proptest::collection::vec(
                (proptest::sample::select(WORDS), 1usize..4, any::<bool>()),
                1..3
            ),
            proptest::option::of(0u8..3),
            1usize..5,
        )
            .prop_map(|(words, conversation, limit)| {
                let text = words
                    .into_iter()
                    .map(|(w, cut, whole)| {
                        if whole { w.to_string() } else { w.chars().take(cut).collect() }
                    })
                    .collect::<Vec<_>>()
                    .join(" ");
                Op::Search(text, conversation, limit)
            }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn the_index_answers_as_a_scan_does(ops in proptest::collection::vec(op(), 1..80)) {
        let mut index = Index::new();
        let mut oracle = Oracle::default();
        for op in ops {
            match op {
                Op::Insert(key, text) => {
                    index.insert(key, &text).unwrap();
                    oracle.insert(key, &text);
                }
                Op::Remove(key) => {
                    prop_assert_eq!(index.remove(&key), oracle.docs.remove(&key).is_some());
                }
                Op::RemoveConversation(c) => {
                    let before = oracle.docs.len();
                    oracle.docs.retain(|k, _| k.conversation != [c; 16]);
                    prop_assert_eq!(index.remove_conversation(&[c; 16]), before - oracle.docs.len());
                }
                Op::Compact => {
                    index.compact();
                    prop_assert!(index.stragglers.is_empty());
                    prop_assert_eq!(index.docs.len(), index.len());
                }
                Op::Search(text, conversation, limit) => {
                    let conversation = conversation.map(|c| [c; 16]);
                    for query in [Query::parse(&text), Query::exact(&text)] {
                        assert_same_pages(&index, &oracle, &query, conversation.as_ref(), limit);
                    }
                }
            }
            prop_assert_eq!(index.len(), oracle.docs.len());
        }
        // Only the terms of live messages are left.
        let live: BTreeSet<&str> = oracle.docs.values().flatten().map(String::as_str).collect();
        let held: BTreeSet<&str> = index.ordered.keys().map(|t| &**t).collect();
        prop_assert_eq!(index.by_term.len(), held.len());
        for term in &held {
            prop_assert!(holds(&index, term));
        }
        prop_assert_eq!(held, live);
        let postings: usize = oracle.docs.values().map(BTreeSet::len).sum();
        prop_assert_eq!(index.stats().postings, postings);
    }
}
