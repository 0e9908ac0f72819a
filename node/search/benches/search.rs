//! Search benchmark: an in-memory index of 100,000 messages of generated chat history
//! (`tern_search::corpus`: seven languages, Zipf-distributed words, 5–30 words a message,
//! spread over a year and 50 conversations), and the two encrypted-at-rest designs it was
//! chosen over (`search/at_rest.rs`, prototypes measured here only).
//!
//! Reports, in one run:
//! - rebuild: indexing every message one conversation after another (the order of the
//!   node's history table) and compacting, from plaintext and from rows sealed as the node
//!   seals them (each opened first, as unlock would), for 100,000 and (with `--bench`)
//!   1,000,000 messages; the index's heap, counted by this program's allocator, and its ratio
//!   to the history's text;
//! - query latency, p50 / p99 / max of single searches (first page of 20), one-word queries
//!   that are common, medium, rare and prefixes, two-word AND queries, a common word in one
//!   conversation and a common word's first ten pages; at 100,000 messages and (with
//!   `--bench`) at 1,000,000;
//! - the cost of keeping the index current: one insert, one remove;
//! - the at-rest prototypes: a sealed snapshot (size, write time, load time against the
//!   rebuild) and sealed posting blocks in a key-value store (bytes written per insert and
//!   remove, size, query latency).
//!
//! Then criterion measures the same query classes and an insert + remove pair.
//!
//! Run: `cargo bench -p tern-search --bench search`. Without `--bench` (as `cargo test`
//! runs benches) it uses 2,000 messages and skips criterion.

#![allow(
    clippy::print_stdout,
    clippy::cast_precision_loss,
    clippy::cast_possible_truncation,
    reason = "a benchmark program reports on stdout, in floating-point units"
)]

#[path = "search/at_rest.rs"]
mod at_rest;

use std::{
    alloc::{GlobalAlloc, Layout, System},
    collections::HashMap,
    hint::black_box,
    sync::atomic::{AtomicUsize, Ordering},
    time::{Duration, Instant},
};

use criterion::Criterion;
use rand_chacha::ChaCha20Rng;
use tern_crypto::rand_core::SeedableRng;
use tern_search::{Cursor, DocKey, Index, Query, corpus::Corpus};

/// Counts the bytes allocated and not yet freed, so that the index's heap can be read.
struct Counting;

static HEAP: AtomicUsize = AtomicUsize::new(0);

// SAFETY: every call is forwarded to the system allocator unchanged; only a counter is
// updated beside it.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        HEAP.fetch_add(layout.size(), Ordering::Relaxed);
        // SAFETY: the caller's contract is passed on.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        HEAP.fetch_sub(layout.size(), Ordering::Relaxed);
        // SAFETY: the caller's contract is passed on.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        HEAP.fetch_add(new_size, Ordering::Relaxed);
        HEAP.fetch_sub(layout.size(), Ordering::Relaxed);
        // SAFETY: the caller's contract is passed on.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

const DAY_MS: u64 = 24 * 60 * 60 * 1000;
const START_MS: u64 = 1_700_000_000_000;
const CONVERSATIONS: u32 = 50;
/// Results per page, as a screen shows them.
const PAGE: usize = 20;
/// Timed searches per query class.
const SAMPLES: usize = 3000;

type History = Vec<(DocKey, String)>;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let full = args.iter().any(|a| a == "--bench");
    let messages = if full { 100_000 } else { 2_000 };
    let history = Corpus::new(42).history(messages, CONVERSATIONS, START_MS, 365 * DAY_MS);
    let text: usize = history.iter().map(|(_, t)| t.len()).sum();
    println!(
        "history: {messages} messages, {:.1} MiB of text ({:.0} bytes a message), \
         {CONVERSATIONS} conversations over 365 days",
        mib(text),
        text as f64 / messages as f64
    );

    let index = rebuild(&history, text, 3);
    rebuild_sealed(&history);
    let queries = Queries::pick(&history);
    latencies(&index, &queries);
    let index = updates(index);
    at_rest(&history, text, &queries);
    if full {
        let large = Corpus::new(43).history(1_000_000, CONVERSATIONS, START_MS, 365 * DAY_MS);
        let text: usize = large.iter().map(|(_, t)| t.len()).sum();
        let large_index = rebuild(&large, text, 1);
        latencies(&large_index, &Queries::pick(&large));
        drop(large_index);
        drop(large);

        let mut criterion = Criterion::default()
            .warm_up_time(Duration::from_secs(1))
            .measurement_time(Duration::from_secs(3))
            .sample_size(50)
            .configure_from_args();
        benches(&mut criterion, index, &queries);
        criterion.final_summary();
    }
}

fn mib(bytes: usize) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn us(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

fn report(what: &str, mut times: Vec<Duration>, extra: &str) {
    times.sort_unstable();
    println!(
        "  {what:<28} p50 {:>8.1} µs  p99 {:>8.1} µs  max {:>8.1} µs  {extra}",
        us(percentile(&times, 0.5)),
        us(percentile(&times, 0.99)),
        us(*times.last().unwrap_or(&Duration::ZERO)),
    );
}

/// Builds the index from plaintext, reading history as the node's table holds it (one
/// conversation after another); reports time (fastest and median of `runs`, since the
/// machine is shared) against tokenizing alone, and heap.
fn rebuild(history: &History, text: usize, runs: usize) -> Index {
    let mut order: Vec<&(DocKey, String)> = history.iter().collect();
    order.sort_unstable_by_key(|(key, _)| (key.conversation, key.stamp, key.id));
    let started = Instant::now();
    let mut terms = 0;
    for (_, text) in &order {
        terms += tern_search::terms(text).len();
    }
    let tokenizing = started.elapsed();
    black_box(terms);
    let mut times = Vec::new();
    let mut built = None;
    let mut heap = 0;
    for _ in 0..runs.max(1) {
        drop(built.take());
        let heap_before = HEAP.load(Ordering::Relaxed);
        let started = Instant::now();
        let index =
            Index::build(order.iter().map(|(k, t)| (*k, t.as_str()))).expect("index has room");
        times.push(started.elapsed());
        heap = HEAP.load(Ordering::Relaxed).saturating_sub(heap_before);
        built = Some(index);
    }
    let index = built.expect("built at least once");
    times.sort_unstable();
    let (fastest, median) = (times[0], times[times.len() / 2]);
    let stats = index.stats();
    println!(
        "in-memory rebuild (Index::build), {} messages by conversation: {:.2} s fastest, \
         {:.2} s median of {} ({:.1} µs a message; tokenizing alone {:.2} s); heap {:.1} MiB = \
         {:.2}× the text; {} terms, {} postings ({:.1} bytes a message of heap)",
        history.len(),
        fastest.as_secs_f64(),
        median.as_secs_f64(),
        times.len(),
        us(fastest) / history.len() as f64,
        tokenizing.as_secs_f64(),
        mib(heap),
        heap as f64 / text as f64,
        stats.terms,
        stats.postings,
        heap as f64 / history.len() as f64,
    );
    index
}

/// Rebuilds from rows sealed as the node seals history, opening each first.
fn rebuild_sealed(history: &History) {
    let key = at_rest::storage_key();
    let mut rng = ChaCha20Rng::seed_from_u64(9);
    let mut order: Vec<&(DocKey, String)> = history.iter().collect();
    order.sort_unstable_by_key(|(key, _)| (key.conversation, key.stamp, key.id));
    let rows: Vec<([u8; 40], Vec<u8>)> = order
        .into_iter()
        .map(|(k, t)| {
            let row = k.to_bytes();
            (
                row,
                key.seal(&mut rng, "messages", &row, t.as_bytes())
                    .expect("seal"),
            )
        })
        .collect();
    let started = Instant::now();
    let mut opened = 0;
    for (row, sealed) in &rows {
        opened += key.open("messages", row, sealed).expect("open").len();
    }
    let open = started.elapsed();
    let texts = rows.iter().map(|(row, sealed)| {
        let text = key.open("messages", row, sealed).expect("open");
        let text = String::from_utf8(text.to_vec()).expect("utf-8");
        (DocKey::from_bytes(row), text)
    });
    black_box(Index::build(texts).expect("index has room"));
    let took = started.elapsed() - open;
    black_box(opened);
    println!(
        "in-memory rebuild from sealed rows, {} messages: {:.2} s (opening the rows alone: \
         {:.2} s)",
        rows.len(),
        took.as_secs_f64(),
        open.as_secs_f64(),
    );
}

/// The query texts of each class, picked from the history's term frequencies.
struct Queries {
    classes: Vec<(&'static str, Vec<String>)>,
}

impl Queries {
    fn pick(history: &History) -> Queries {
        let mut df: HashMap<String, usize> = HashMap::new();
        for (_, text) in history {
            let mut terms = tern_search::terms(text);
            terms.sort_unstable();
            terms.dedup();
            for term in terms {
                *df.entry(term).or_default() += 1;
            }
        }
        let mut by_df: Vec<(usize, String)> = df.into_iter().map(|(t, n)| (n, t)).collect();
        by_df.sort_unstable_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
        let n = history.len();
        let band = |lo: usize, hi: usize, take: usize| -> Vec<String> {
            let all: Vec<&String> = by_df
                .iter()
                .filter(|(d, _)| (lo..=hi).contains(d))
                .map(|(_, t)| t)
                .collect();
            let step = (all.len() / take).max(1);
            all.into_iter().step_by(step).take(take).cloned().collect()
        };
        // Exact words: a trailing space closes the word.
        let exact = |words: Vec<String>| words.into_iter().map(|w| w + " ").collect();
        let common = band(n / 50, n, 20);
        let medium = band(n / 2000, n / 200, 100);
        let rare = band(1, 3, 300);
        let words: Vec<&String> = by_df
            .iter()
            .map(|(_, t)| t)
            .filter(|t| t.chars().count() >= 4 && t.chars().all(char::is_alphabetic))
            .take(400)
            .collect();
        let prefix2: Vec<String> = words.iter().map(|w| w.chars().take(2).collect()).collect();
        let prefix3: Vec<String> = words.iter().map(|w| w.chars().take(3).collect()).collect();
        let prefix1: Vec<String> = ('a'..='z').map(String::from).collect();
        let and: Vec<String> = common
            .iter()
            .zip(medium.iter().cycle())
            .chain(medium.iter().zip(medium.iter().skip(1)))
            .map(|(a, b)| format!("{a} {b} "))
            .collect();
        Queries {
            classes: vec![
                ("common word", exact(common)),
                ("medium word", exact(medium)),
                ("rare word", exact(rare)),
                ("prefix, 3 letters", prefix3),
                ("prefix, 2 letters", prefix2),
                ("prefix, 1 letter", prefix1),
                ("two words (AND)", and),
            ],
        }
    }

    fn class(&self, name: &str) -> Vec<Query> {
        self.classes
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, q)| q.iter().map(|t| Query::parse(t)).collect())
            .unwrap_or_default()
    }
}

fn latencies(index: &Index, queries: &Queries) {
    println!(
        "query latency, first page of {PAGE}, {} messages:",
        index.len()
    );
    for (name, _) in &queries.classes {
        let list = queries.class(name);
        let mut hits = 0usize;
        let mut times = Vec::with_capacity(SAMPLES);
        for q in list.iter().cycle().take(SAMPLES) {
            let started = Instant::now();
            let page = index.search(q, None, PAGE, None);
            times.push(started.elapsed());
            hits += page.hits.len();
        }
        let hits = format!("({:.1} hits a page)", hits as f64 / SAMPLES as f64);
        report(name, times, &hits);
    }
    let common = queries.class("common word");
    let mut times = Vec::with_capacity(SAMPLES);
    for (i, q) in common.iter().cycle().take(SAMPLES).enumerate() {
        let conversation = (i as u32 % CONVERSATIONS).to_be_bytes();
        let mut filter = [0u8; 16];
        filter[..4].copy_from_slice(&conversation);
        let started = Instant::now();
        black_box(index.search(q, Some(&filter), PAGE, None));
        times.push(started.elapsed());
    }
    report("common word, one chat", times, "");
    let mut times = Vec::with_capacity(SAMPLES);
    for q in common.iter().cycle().take(SAMPLES / 10) {
        let mut after: Option<Cursor> = None;
        for _ in 0..10 {
            let started = Instant::now();
            let page = index.search(q, None, PAGE, after.as_ref());
            times.push(started.elapsed());
            after = page.next;
        }
    }
    report("common word, pages 1-10", times, "");
}

/// Times inserting new messages into the index and removing them again.
fn updates(mut index: Index) -> Index {
    let fresh = Corpus::new(44).history(2000, CONVERSATIONS, START_MS + 366 * DAY_MS, DAY_MS);
    let mut inserts = Vec::with_capacity(fresh.len());
    for (key, text) in &fresh {
        let started = Instant::now();
        index.insert(*key, text).expect("index has room");
        inserts.push(started.elapsed());
    }
    let mut removes = Vec::with_capacity(fresh.len());
    for (key, _) in &fresh {
        let started = Instant::now();
        index.remove(key);
        removes.push(started.elapsed());
    }
    println!("keeping the index current, {} messages:", index.len());
    report("insert one message", inserts, "");
    report("remove one message", removes, "");
    index
}

fn at_rest(history: &History, text: usize, queries: &Queries) {
    let key = at_rest::storage_key();
    println!(
        "at-rest prototypes (bench only), {} messages:",
        history.len()
    );

    let started = Instant::now();
    let snapshot = at_rest::Snapshot::write(&key, history);
    let write = started.elapsed();
    let mut loads = Vec::new();
    for _ in 0..3 {
        let started = Instant::now();
        black_box(snapshot.load(&key));
        loads.push(started.elapsed());
    }
    loads.sort_unstable();
    println!(
        "  sealed snapshot: {:.1} MiB = {:.2}× the text; written in {:.2} s; loaded in \
         {:.2} s (median of 3); every erasure rewrites it ({:.1} MiB)",
        mib(snapshot.bytes()),
        snapshot.bytes() as f64 / text as f64,
        write.as_secs_f64(),
        loads[1].as_secs_f64(),
        mib(snapshot.bytes()),
    );
    drop(snapshot);

    let mut blocks = at_rest::Blocks::new(key);
    let mut inserts = Vec::with_capacity(history.len());
    for (doc, text) in history {
        let started = Instant::now();
        blocks.insert(*doc, text);
        inserts.push(started.elapsed());
    }
    let written = blocks.written;
    println!(
        "  sealed posting blocks ({} slots a block): {:.1} MiB stored = {:.2}× the text; \
         {:.1} MiB written to index it = {:.0} bytes a message = {:.1}× its text",
        at_rest::BLOCK,
        mib(blocks.bytes()),
        blocks.bytes() as f64 / text as f64,
        mib(written as usize),
        written as f64 / history.len() as f64,
        written as f64 / text as f64,
    );
    report("blocks: insert", inserts, "");
    for name in ["common word", "medium word", "rare word"] {
        let words: Vec<String> = queries
            .classes
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, q)| q.iter().map(|t| t.trim().to_string()).collect())
            .unwrap_or_default();
        let mut times = Vec::with_capacity(SAMPLES);
        for word in words.iter().cycle().take(SAMPLES) {
            let started = Instant::now();
            black_box(blocks.search(word, PAGE));
            times.push(started.elapsed());
        }
        report(&format!("blocks: {name}"), times, "");
    }
    let before = blocks.written;
    let mut removes = Vec::new();
    let victims: Vec<&DocKey> = history.iter().step_by(50).map(|(k, _)| k).collect();
    for doc in &victims {
        let started = Instant::now();
        blocks.remove(doc);
        removes.push(started.elapsed());
    }
    report(
        "blocks: remove",
        removes,
        &format!(
            "({:.0} bytes written a removal)",
            (blocks.written - before) as f64 / victims.len() as f64
        ),
    );
}

fn benches(c: &mut Criterion, mut index: Index, queries: &Queries) {
    let mut group = c.benchmark_group("search");
    for name in [
        "common word",
        "rare word",
        "prefix, 2 letters",
        "two words (AND)",
    ] {
        let list = queries.class(name);
        let mut next = list.iter().cycle();
        group.bench_function(name.replace([' ', ','], "_").replace("__", "_"), |b| {
            b.iter(|| {
                let q = next.next().expect("cycle");
                black_box(index.search(q, None, PAGE, None))
            });
        });
    }
    let mut fresh = Corpus::new(45)
        .history(10_000, CONVERSATIONS, START_MS + 400 * DAY_MS, DAY_MS)
        .into_iter()
        .cycle();
    group.bench_function("insert_and_remove", |b| {
        b.iter(|| {
            let (key, text) = fresh.next().expect("cycle");
            index.insert(key, &text).expect("index has room");
            index.remove(&key)
        });
    });
    group.finish();
}
