//! Commit size and cost at n = 100, 300 and 1,000 members, and join time at n = 1,000.
//!
//! For each n: device 0 (an admin) makes a commit (remove one member, add one member, or
//! update itself), and a receiving member processes it. What is timed for "process" is
//! `Group::process` on the receiver, including the storage writes into its overlay and
//! taking the batch out; each sample starts from a fresh copy of the receiver's committed
//! store (loaded outside the timing). "commit" times making the commit on device 0. The
//! commit's size is the bytes to upload. `join` times `Group::join` from the Welcome of the
//! mass add (ratchet tree included) at n = 1,000.
//!
//! Two tree states:
//! - `fresh`: device 0 added everyone in one commit and nobody has committed since, so most
//!   parent nodes are blank and a commit encrypts a path secret to almost every member (the
//!   worst case, right after a mass add).
//! - `warm` (n ≤ 300): every odd leaf has committed a self-update once (as members do within
//!   a day of joining), so every parent node has a key and a commit encrypts to about
//!   log2(n) nodes (the steady state).
//!
//! `message/{n}` (n = 50, 300, 1000) times processing one application message on a member of a
//! group that has had four commits since everyone joined (self-updates), and that has read
//! three messages from every member before: the decryption, and the storage write of the
//! message secrets that every decryption makes (openmls rewrites its whole store on each
//! one: the epoch's sender ratchets and the past epochs it keeps, each with its member
//! list). Its `bytes` are the values the write holds.
//!
//! Run: `cargo bench -p tern-mls --bench commit` (`TERN_MLS_BENCH_N=300` for one size). p50/p99 are printed per case as
//! `RESULT case n bytes p50 p99`.

#![allow(clippy::print_stderr, missing_docs)]

#[path = "../tests/support/sim.rs"]
mod sim;

use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use sim::{Dev, V};
use tern_mls::{Crypto, Group, MemoryBacking, Processed, Provider};

/// A group seen from device 0 (the committer) and device 1 (the receiver).
struct Setup {
    creator: Dev,
    receiver: Dev,
    /// A key package of a device not yet in the group.
    outsider_kp: Vec<u8>,
    /// The Welcome of the mass add, and a device of that add that has not processed it.
    welcome: Vec<u8>,
    joiner: Dev,
}

fn setup(crypto: &Crypto, n: usize, warm: bool) -> Setup {
    let mut devs: Vec<Dev> = (0..n)
        .map(|i| Dev::new(crypto, format!("dev{i}")))
        .collect();
    devs[0].create(crypto);
    let kps: Vec<Vec<u8>> = devs[1..]
        .iter_mut()
        .map(|d| d.key_package(crypto))
        .collect();
    let out = devs[0].add(crypto, &kps);
    devs[0].process(crypto, &out.commit).unwrap();
    let welcome = out.welcome.unwrap();
    // The receiver joins; the joiner's store keeps its key package for the join benchmark.
    let joiner = devs.pop().unwrap();
    devs[1].join(crypto, &welcome);
    if warm {
        // Everyone joins, then every odd leaf commits an update; each commit is processed by
        // the devices that still have to commit, and by devices 0 and 1.
        for d in &mut devs[2..] {
            d.join(crypto, &welcome);
        }
        let committers: Vec<usize> = (1..devs.len()).step_by(2).collect();
        for (k, &c) in committers.iter().enumerate() {
            let out = devs[c].update(crypto);
            devs[c].process(crypto, &out.commit).unwrap();
            let mut readers: Vec<usize> = committers[k + 1..].to_vec();
            readers.extend([0, 1]);
            for r in readers.into_iter().filter(|&r| r != c) {
                devs[r].process(crypto, &out.commit).unwrap();
            }
        }
        // The joiner benchmark uses the fresh tree only.
    }
    let mut outsider = Dev::new(crypto, "outsider".into());
    let outsider_kp = outsider.key_package(crypto);
    let mut it = devs.into_iter();
    let creator = it.next().unwrap();
    let receiver = it.next().unwrap();
    Setup {
        creator,
        receiver,
        outsider_kp,
        welcome,
        joiner,
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i]
}

/// Times `routine` on a fresh load of `store`'s group, `samples` times, through criterion,
/// and prints the size and p50/p99.
fn timed(
    c: &mut Criterion,
    crypto: &Crypto,
    name: &str,
    dev: &Dev,
    bytes: usize,
    routine: &dyn Fn(&Provider<'_, &MemoryBacking>, &mut Group),
) {
    let id = dev.g().id().to_vec();
    let mut durations = Vec::new();
    c.bench_function(name, |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let store = dev.store.clone();
                let provider = Provider::new(crypto, &store, &dev.key);
                let mut group = Group::load(&provider, &id, &V).unwrap().unwrap();
                let start = Instant::now();
                routine(&provider, &mut group);
                let elapsed = start.elapsed();
                total += elapsed;
                durations.push(elapsed);
            }
            total
        })
    });
    durations.sort();
    eprintln!(
        "RESULT {name} bytes={bytes} p50={:.2?} p99={:.2?} samples={}",
        percentile(&durations, 0.5),
        percentile(&durations, 0.99),
        durations.len()
    );
}

/// Device 0's `what` commit on a copy of its state (its store is left as it was).
fn make(crypto: &Crypto, creator: &Dev, what: &str, victim: u32, kp: &[u8]) -> Vec<u8> {
    let store = creator.store.clone();
    let provider = Provider::new(crypto, &store, &creator.key);
    let mut g = Group::load(&provider, creator.g().id(), &V)
        .unwrap()
        .unwrap();
    make_commit(&provider, &mut g, &creator.signer, what, victim, kp)
}

fn make_commit(
    p: &Provider<'_, &MemoryBacking>,
    g: &mut Group,
    signer: &tern_mls::DeviceSigner,
    what: &str,
    victim: u32,
    kp: &[u8],
) -> Vec<u8> {
    let out = match what {
        "remove" => g.remove_members(p, signer, &V, &[victim]).unwrap(),
        "add" => g.add_members(p, signer, &V, &[kp.to_vec()]).unwrap(),
        _ => g.self_update(p, signer, &V).unwrap(),
    };
    let _ = p.take_batch();
    out.commit
}

fn case(c: &mut Criterion, crypto: &Crypto, n: usize, warm: bool) {
    let s = setup(crypto, n, warm);
    let tag = format!("{}/{n}", if warm { "warm" } else { "fresh" });
    let victim = s.creator.g().members().last().unwrap().leaf;
    for what in ["remove", "add", "update"] {
        let bytes = make(crypto, &s.creator, what, victim, &s.outsider_kp);
        timed(
            c,
            crypto,
            &format!("process/{what}/{tag}"),
            &s.receiver,
            bytes.len(),
            &|p, g| {
                let processed = g.process(p, &V, &bytes).unwrap();
                assert!(matches!(processed, Processed::Commit { .. }));
                let _ = p.take_batch();
            },
        );
        timed(
            c,
            crypto,
            &format!("commit/{what}/{tag}"),
            &s.creator,
            bytes.len(),
            &|p, g| {
                make_commit(p, g, &s.creator.signer, what, victim, &s.outsider_kp);
            },
        );
    }
    if n >= 1000 {
        let joiner = &s.joiner;
        let welcome = s.welcome.clone();
        let mut durations = Vec::new();
        c.bench_function(&format!("join/{tag}"), |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let store = joiner.store.clone();
                    let provider = Provider::new(crypto, &store, &joiner.key);
                    let start = Instant::now();
                    let group = Group::join(&provider, &welcome, &V).unwrap();
                    let elapsed = start.elapsed();
                    assert_eq!(group.members().len(), n);
                    total += elapsed;
                    durations.push(elapsed);
                }
                total
            })
        });
        durations.sort();
        eprintln!(
            "RESULT join/{tag} bytes={} p50={:.2?} p99={:.2?} samples={}",
            welcome.len(),
            percentile(&durations, 0.5),
            percentile(&durations, 0.99),
            durations.len()
        );
    }
}

/// Processing one application message in a group of `n` whose members each sent three.
fn message_case(c: &mut Criterion, crypto: &Crypto, n: usize) {
    let mut devs = sim::group(crypto, n);
    for committer in 2..6 {
        let out = devs[committer].update(crypto);
        for (i, dev) in devs.iter_mut().enumerate() {
            if i != committer {
                dev.process(crypto, &out.commit).unwrap();
            }
        }
        devs[committer].process(crypto, &out.commit).unwrap();
    }
    for _ in 0..3 {
        for sender in 0..n {
            let bytes = devs[sender].send(crypto, b"an earlier message");
            if sender != 1 {
                devs[1].process(crypto, &bytes).unwrap();
            }
        }
    }
    let bytes = devs[2].send(crypto, &[b'x'; 1024]);
    let receiver = &devs[1];
    // What one decryption writes, measured once outside the timing.
    let written: usize = {
        let store = receiver.store.clone();
        let provider = Provider::new(crypto, &store, &receiver.key);
        let mut group = Group::load(&provider, receiver.g().id(), &V)
            .unwrap()
            .unwrap();
        group.process(&provider, &V, &bytes).unwrap();
        provider
            .take_batch()
            .into_iter()
            .map(|(_, value)| value.map_or(0, |v| v.len()))
            .sum()
    };
    timed(
        c,
        crypto,
        &format!("message/{n}"),
        receiver,
        written,
        &|p, g| {
            let processed = g.process(p, &V, &bytes).unwrap();
            assert!(matches!(processed, Processed::Application { .. }));
            let _ = p.take_batch();
        },
    );
}

fn benches(c: &mut Criterion) {
    let crypto = Crypto::new();
    // `TERN_MLS_BENCH_N=300` runs only the cases of that size.
    let only: Option<usize> = std::env::var("TERN_MLS_BENCH_N")
        .ok()
        .and_then(|n| n.parse().ok());
    for (n, warm) in [
        (100, true),
        (300, true),
        (100, false),
        (300, false),
        (1000, false),
    ] {
        if only.is_none_or(|only| only == n) {
            case(c, &crypto, n, warm);
        }
    }
    for n in [50, 300, 1000] {
        if only.is_none_or(|only| only == n) {
            message_case(c, &crypto, n);
        }
    }
}

criterion_group! {
    name = commit;
    config = Criterion::default().sample_size(30).warm_up_time(Duration::from_millis(200)).measurement_time(Duration::from_secs(3));
    targets = benches
}
criterion_main!(commit);
