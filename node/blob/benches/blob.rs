//! Attachment throughput and overhead, with baselines in the same run.
//!
//! - `seal/*`: pad + STREAM-encrypt + BLAKE3 outboard in one pass (`tern_blob::seal`) against
//!   raw ChaCha20-Poly1305 over the same bytes (one in-place call) and plain BLAKE3 hashing.
//! - `decode/*`: verifying a stream of all groups, or of a 1 MiB range, against the root;
//!   decrypting the whole ciphertext with the streaming reader.
//! - `store/import`: `Store::import` to a temporary directory, fsyncs included.
//!
//! Before the timed runs it prints the wire overhead (padding + tags + outboard) and the peak
//! heap of sealing and of decoding + decrypting a 100 MB file streamed from a generator (so
//! the input itself is never in memory), measured with a counting global allocator.
#![allow(clippy::print_stdout)]

use std::{
    alloc::{GlobalAlloc, Layout, System},
    hint::black_box,
    io::{self, Read},
    sync::atomic::{AtomicUsize, Ordering},
};

use chacha20poly1305::{AeadInOut, ChaCha20Poly1305, KeyInit};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;
use tern_blob::{
    FileKey, GroupSet, Lengths,
    store::Store,
    stream::DecryptReader,
    verify::{self, GROUP_LEN},
};

/// Counts live heap bytes and their peak.
struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

// SAFETY: forwards every call to the system allocator unchanged; only counts sizes.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: same contract as the caller's.
        let ptr = unsafe { System.alloc(layout) };
        if !ptr.is_null() {
            let live = LIVE.fetch_add(layout.size(), Ordering::Relaxed) + layout.size();
            PEAK.fetch_max(live, Ordering::Relaxed);
        }
        ptr
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(ptr, layout) };
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// Heap growth above the live bytes at the start of `f`, at its peak.
fn peak_heap<T>(f: impl FnOnce() -> T) -> (T, usize) {
    let base = LIVE.load(Ordering::Relaxed);
    PEAK.store(base, Ordering::Relaxed);
    let out = f();
    (out, PEAK.load(Ordering::Relaxed) - base)
}

const MB: u64 = 1_000_000;
const SIZES: [(&str, u64); 2] = [("16MB", 16 * MB), ("100MB", 100 * MB)];

/// Pseudo-random bytes, generated as they are read.
struct Generator {
    left: u64,
    state: u64,
}

impl Read for Generator {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = buf
            .len()
            .min(usize::try_from(self.left).unwrap_or(usize::MAX));
        for b in &mut buf[..n] {
            self.state = self
                .state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1);
            *b = (self.state >> 56) as u8;
        }
        self.left -= n as u64;
        Ok(n)
    }
}

fn generated(len: u64) -> Vec<u8> {
    let mut out = Vec::with_capacity(len as usize);
    Generator {
        left: len,
        state: 7,
    }
    .read_to_end(&mut out)
    .unwrap();
    out
}

fn key() -> FileKey {
    FileKey::generate(&mut ChaCha20Rng::seed_from_u64(1))
}

fn report() {
    println!("wire overhead (ciphertext + outboard over plaintext):");
    for len in [1_000, 200_000, 16 * MB, 100 * MB, 1_017, 16 * MB + 1] {
        let lengths = Lengths::for_plaintext(len).unwrap();
        let padding = lengths.padded() - len;
        let tags = lengths.ciphertext() - lengths.padded();
        let outboard = verify::outboard_len(lengths.ciphertext());
        let pct = |x: u64| 100.0 * x as f64 / len as f64;
        println!(
            "  {len:>11} B: padding {:.3} %, tags {:.3} %, outboard {:.3} %, total {:.3} %",
            pct(padding),
            pct(tags),
            pct(outboard),
            pct(padding + tags + outboard)
        );
    }
    let key = key();
    let len = 100 * MB;
    let ((outboard, lengths), seal_peak) = peak_heap(|| {
        tern_blob::seal(
            &key,
            Generator {
                left: len,
                state: 7,
            },
            len,
            io::sink(),
        )
        .unwrap()
    });
    println!(
        "peak heap, seal 100 MB streamed to a sink: {:.2} MiB (outboard alone {:.2} MiB)",
        seal_peak as f64 / 1048576.0,
        outboard.as_bytes().len() as f64 / 1048576.0
    );
    // Decode + decrypt: keep the ciphertext on disk, as a receiver does.
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let mut rng = ChaCha20Rng::seed_from_u64(2);
    let sent = store
        .import(
            &mut rng,
            Generator {
                left: len,
                state: 7,
            },
            len,
        )
        .unwrap();
    let receiver_dir = tempfile::tempdir().unwrap();
    let receiver = Store::open(receiver_dir.path()).unwrap();
    let ((), receive_peak) = peak_heap(|| {
        let mut partial = receiver
            .begin(&sent.blob.root(), lengths.ciphertext())
            .unwrap();
        let all = partial.missing();
        let (reader, mut writer) = io::pipe().unwrap();
        let blob = sent.blob.clone();
        let server = std::thread::spawn(move || {
            let _ = blob.encode_ranges(&all, &mut writer);
        });
        let all = partial.missing();
        partial.receive(&all, reader).unwrap();
        server.join().unwrap();
        let blob = partial.finish().unwrap();
        let mut plaintext = blob.plaintext(&sent.key, len).unwrap();
        io::copy(&mut plaintext, &mut io::sink()).unwrap();
    });
    println!(
        "peak heap, receive 100 MB over a pipe + verify + store + decrypt: {:.2} MiB",
        receive_peak as f64 / 1048576.0
    );
}

fn seal(c: &mut Criterion) {
    report();
    let mut group = c.benchmark_group("seal");
    group.sample_size(10);
    for (name, len) in SIZES {
        let file = generated(len);
        let key = key();
        group.throughput(Throughput::Bytes(len));
        group.bench_function(format!("tern_seal/{name}"), |b| {
            b.iter(|| tern_blob::seal(&key, &file[..], len, io::sink()).unwrap())
        });
        let mut buf = file.clone();
        let cipher = ChaCha20Poly1305::new(&[7u8; 32].into());
        group.bench_function(format!("raw_chacha20poly1305/{name}"), |b| {
            b.iter(|| {
                cipher
                    .encrypt_inout_detached(&[0u8; 12].into(), b"", buf.as_mut_slice().into())
                    .unwrap()
            })
        });
        group.bench_function(format!("raw_blake3/{name}"), |b| {
            b.iter(|| bao_tree::blake3::hash(black_box(&file)))
        });
    }
    group.finish();
}

fn decode(c: &mut Criterion) {
    let mut group = c.benchmark_group("decode");
    group.sample_size(10);
    let len = 16 * MB;
    let file = generated(len);
    let key = key();
    let mut ciphertext = Vec::new();
    let (outboard, lengths) = tern_blob::seal(&key, &file[..], len, &mut ciphertext).unwrap();
    let all = GroupSet::all(verify::group_count(lengths.ciphertext()));
    let mut stream = Vec::new();
    outboard
        .encode_ranges(&ciphertext, &all, &mut stream)
        .unwrap();
    group.throughput(Throughput::Bytes(lengths.ciphertext()));
    group.bench_function("verify_all/16MB", |b| {
        b.iter(|| {
            verify::decode_ranges(
                &outboard.root(),
                lengths.ciphertext(),
                &all,
                &stream[..],
                |_| Ok(()),
            )
            .unwrap()
        })
    });
    group.bench_function("raw_blake3/16MB", |b| {
        b.iter(|| bao_tree::blake3::hash(black_box(&ciphertext)))
    });
    let middle = verify::group_count(lengths.ciphertext()) / 2;
    let range = GroupSet::from(middle..middle + 1024 * 1024 / GROUP_LEN);
    let mut range_stream = Vec::new();
    outboard
        .encode_ranges(&ciphertext, &range, &mut range_stream)
        .unwrap();
    group.throughput(Throughput::Bytes(1024 * 1024));
    group.bench_function("verify_range/1MiB_of_16MB", |b| {
        b.iter(|| {
            verify::decode_ranges(
                &outboard.root(),
                lengths.ciphertext(),
                &range,
                &range_stream[..],
                |_| Ok(()),
            )
            .unwrap()
        })
    });
    group.throughput(Throughput::Bytes(len));
    group.bench_function("decrypt/16MB", |b| {
        b.iter(|| {
            let mut reader = DecryptReader::new(&key, lengths, &ciphertext[..]);
            io::copy(&mut reader, &mut io::sink()).unwrap()
        })
    });
    group.finish();
}

fn store(c: &mut Criterion) {
    let mut group = c.benchmark_group("store");
    group.sample_size(10);
    let len = 16 * MB;
    let file = generated(len);
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let mut rng = ChaCha20Rng::seed_from_u64(3);
    group.throughput(Throughput::Bytes(len));
    group.bench_function("import/16MB", |b| {
        b.iter(|| {
            let imported = store.import(&mut rng, &file[..], len).unwrap();
            store.delete(&imported.blob.root()).unwrap();
        })
    });
    group.finish();
}

criterion_group!(benches, seal, decode, store);
criterion_main!(benches);
