//! A real `kill -9` of a process that is downloading into, or importing into, a blob store:
//! reopening finds either the old or a consistent new state, and the download resumes.
//!
//! The test binary runs itself as the child (the `child` test, which does nothing unless
//! `TERN_BLOB_CHILD` is set). The parent waits for the child to report progress on its stdout
//! and kills it while it is busy with the next step; wherever the kill lands, the checks hold.
#![cfg(unix)]

use std::{
    io::{BufRead, BufReader, Read, Write},
    path::Path,
    process::{Command, Stdio},
};

use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;
use tern_blob::{GroupSet, Outboard, Root, store::Store, verify};

const FILE_LEN: u64 = 6_000_000;

fn data(len: u64) -> Vec<u8> {
    (0..len)
        .map(|i| (i.wrapping_mul(0x5851_f42d) >> 11) as u8)
        .collect()
}

/// Runs this test binary as a child in `mode`, waits for `lines` lines of progress, then kills
/// it with SIGKILL. Returns the last line read.
fn run_and_kill(mode: &str, dirs: &[&Path], root: Option<Root>, lines: usize) -> String {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "child", "--nocapture", "--test-threads=1"])
        .env("TERN_BLOB_CHILD", mode)
        .env("TERN_BLOB_DIR_A", dirs[0])
        .env("TERN_BLOB_DIR_B", dirs.get(1).unwrap_or(&dirs[0]))
        .env(
            "TERN_BLOB_ROOT",
            root.map(|r| r.to_string()).unwrap_or_default(),
        )
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut last = String::new();
    let mut seen = 0;
    while seen < lines {
        let mut line = String::new();
        assert!(out.read_line(&mut line).unwrap() > 0, "child ended early");
        if let Some(progress) = line.strip_prefix("progress ") {
            last = progress.trim().to_string();
            seen += 1;
        }
    }
    child.kill().unwrap();
    child.wait().unwrap();
    last
}

#[test]
fn child() {
    let Ok(mode) = std::env::var("TERN_BLOB_CHILD") else {
        return;
    };
    let a = std::env::var("TERN_BLOB_DIR_A").unwrap();
    let b = std::env::var("TERN_BLOB_DIR_B").unwrap();
    let mut stdout = std::io::stdout();
    match mode.as_str() {
        "download" => {
            let root: Root = std::env::var("TERN_BLOB_ROOT").unwrap().parse().unwrap();
            let sender = Store::open(&a).unwrap().complete(&root).unwrap().unwrap();
            let receiver = Store::open(&b).unwrap();
            let mut partial = receiver.begin(&root, sender.ciphertext_len()).unwrap();
            loop {
                let missing = partial.missing();
                let Some(next) = missing.ranges().first() else {
                    break;
                };
                let part = GroupSet::from(next.start..next.end.min(next.start + 8));
                let mut stream = Vec::new();
                sender.encode_ranges(&part, &mut stream).unwrap();
                partial.receive(&part, &stream[..]).unwrap();
                writeln!(stdout, "progress {}", partial.verified().count()).unwrap();
                stdout.flush().unwrap();
            }
            // Keep the parent's count of progress lines reachable: never finish.
            loop {
                std::thread::park();
            }
        }
        "import" => {
            let store = Store::open(&a).unwrap();
            let mut rng = ChaCha20Rng::seed_from_u64(5);
            let file = data(FILE_LEN);
            loop {
                let imported = store.import(&mut rng, &file[..], FILE_LEN).unwrap();
                writeln!(stdout, "progress {}", imported.blob.root()).unwrap();
                stdout.flush().unwrap();
            }
        }
        other => panic!("unknown mode {other}"),
    }
}

#[test]
fn a_download_killed_mid_write_resumes_from_its_journal() {
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let file = data(FILE_LEN);
    let sent = Store::open(a.path())
        .unwrap()
        .import(&mut ChaCha20Rng::seed_from_u64(1), &file[..], FILE_LEN)
        .unwrap();
    let root = sent.blob.root();
    let groups = verify::group_count(sent.lengths.ciphertext());
    for kill_after in [1, 7, 20] {
        let reported: u64 = run_and_kill("download", &[a.path(), b.path()], Some(root), kill_after)
            .parse()
            .unwrap();
        let receiver = Store::open(b.path()).unwrap();
        let partial = receiver.partial(&root).unwrap().unwrap();
        let durable = partial.verified().count();
        assert!(
            durable >= reported,
            "every group reported before the kill is durable: {durable} < {reported}"
        );
        assert!(durable < groups);
    }
    // Finish the download in this process: the root verifies over what the killed children
    // wrote, so every recorded group was really on disk.
    let receiver = Store::open(b.path()).unwrap();
    let mut partial = receiver.partial(&root).unwrap().unwrap();
    let missing = partial.missing();
    let mut stream = Vec::new();
    sent.blob.encode_ranges(&missing, &mut stream).unwrap();
    partial.receive(&missing, &stream[..]).unwrap();
    let blob = partial.finish().unwrap();
    let mut plaintext = Vec::new();
    blob.plaintext(&sent.key, FILE_LEN)
        .unwrap()
        .read_to_end(&mut plaintext)
        .unwrap();
    assert!(plaintext == file);
}

#[test]
fn an_import_killed_mid_write_leaves_only_whole_blobs() {
    let dir = tempfile::tempdir().unwrap();
    let last: Root = run_and_kill("import", &[dir.path()], None, 3)
        .parse()
        .unwrap();
    let store = Store::open(dir.path()).unwrap();
    assert_eq!(
        std::fs::read_dir(dir.path().join("tmp")).unwrap().count(),
        0
    );
    let roots = store.complete_roots().unwrap();
    assert!(roots.len() >= 3 && roots.contains(&last), "{roots:?}");
    for root in roots {
        let blob = store.complete(&root).unwrap().unwrap();
        let mut ciphertext = Vec::new();
        blob.ciphertext().read_to_end(&mut ciphertext).unwrap();
        let outboard = Outboard::compute(&ciphertext[..], blob.ciphertext_len()).unwrap();
        assert_eq!(outboard.root(), root);
        assert_eq!(blob.outboard().unwrap(), outboard);
    }
}
