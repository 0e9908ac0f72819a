use std::io::Read;

use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;

use super::*;
use crate::verify::{self, GROUP_LEN, GroupSet, Verified, VerifyError};

fn rng() -> ChaCha20Rng {
    ChaCha20Rng::seed_from_u64(11)
}

fn data(len: usize) -> Vec<u8> {
    (0..len as u64)
        .map(|i| (i.wrapping_mul(0x9e37_79b9) >> 7) as u8)
        .collect()
}

fn stream(blob: &Complete, groups: &GroupSet) -> Vec<u8> {
    let mut out = Vec::new();
    blob.encode_ranges(groups, &mut out).unwrap();
    out
}

fn plaintext(blob: &Complete, key: &FileKey, len: u64) -> Vec<u8> {
    let mut out = Vec::new();
    blob.plaintext(key, len)
        .unwrap()
        .read_to_end(&mut out)
        .unwrap();
    out
}

struct Sent {
    _dir: tempfile::TempDir,
    imported: Imported,
    file: Vec<u8>,
}

fn send(len: usize) -> Sent {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let file = data(len);
    let imported = store.import(&mut rng(), &file[..], len as u64).unwrap();
    Sent {
        _dir: dir,
        imported,
        file,
    }
}

#[test]
fn imports_round_trip_and_are_named_by_their_ciphertext() {
    for len in [0usize, 1, 100_000, 1_000_000] {
        let sent = send(len);
        let blob = &sent.imported.blob;
        let mut ciphertext = Vec::new();
        blob.ciphertext().read_to_end(&mut ciphertext).unwrap();
        assert_eq!(ciphertext.len() as u64, sent.imported.lengths.ciphertext());
        assert_eq!(blob.root(), Root::of(&ciphertext));
        assert_eq!(
            plaintext(blob, &sent.imported.key, len as u64),
            sent.file,
            "len {len}"
        );
    }
}

#[test]
fn a_streamed_import_matches_a_sized_one() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let file = data(300_000);
    let (imported, len) = store.import_stream(&mut rng(), &file[..]).unwrap();
    assert_eq!(len, 300_000);
    assert_eq!(imported.lengths, Lengths::for_plaintext(300_000).unwrap());
    let blob = store.complete(&imported.blob.root()).unwrap().unwrap();
    assert_eq!(plaintext(&blob, &imported.key, len), file);
    let outboard = blob.outboard().unwrap();
    let mut ciphertext = Vec::new();
    blob.ciphertext().read_to_end(&mut ciphertext).unwrap();
    assert_eq!(
        outboard,
        Outboard::compute(&ciphertext[..], ciphertext.len() as u64).unwrap()
    );
}

#[test]
fn a_failed_import_leaves_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let err = store.import(&mut rng(), &b"short"[..], 10).unwrap_err();
    assert!(matches!(
        err,
        ImportError::Seal(SealError::LengthMismatch { declared: 10, .. })
    ));
    assert!(store.complete_roots().unwrap().is_empty());
    assert_eq!(fs::read_dir(dir.path().join("tmp")).unwrap().count(), 0);
}

#[test]
fn a_download_from_two_sources_completes_and_decrypts() {
    let sent = send(700_000);
    let root = sent.imported.blob.root();
    let len = sent.imported.lengths.ciphertext();
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let mut partial = store.begin(&root, len).unwrap();
    let count = verify::group_count(len);
    let (a, b) = (
        GroupSet::from(count / 2..count),
        GroupSet::from(0..count / 2 + 3),
    );
    let got_a = partial
        .receive(&a, &stream(&sent.imported.blob, &a)[..])
        .unwrap();
    let got_b = partial
        .receive(&b, &stream(&sent.imported.blob, &b)[..])
        .unwrap();
    assert_eq!(got_a.new_groups + got_b.new_groups, count);
    assert!(partial.is_complete());
    let blob = partial.finish().unwrap();
    assert_eq!(plaintext(&blob, &sent.imported.key, 700_000), sent.file);
    assert_eq!(store.complete_roots().unwrap(), [root]);
    assert!(store.partial_roots().unwrap().is_empty());
    // The downloaded copy serves exactly what the original does.
    let all = GroupSet::all(count);
    assert_eq!(stream(&blob, &all), stream(&sent.imported.blob, &all));
}

#[test]
fn a_crash_mid_download_refetches_less_than_a_mebibyte() {
    let sent = send(3_000_000);
    let root = sent.imported.blob.root();
    let len = sent.imported.lengths.ciphertext();
    let all = GroupSet::all(verify::group_count(len));
    let full = stream(&sent.imported.blob, &all);
    for cut in [
        0usize,
        100,
        full.len() / 3,
        full.len() / 2 + 12_345,
        full.len() - 1,
    ] {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let mut partial = store.begin(&root, len).unwrap();
        // Feed groups straight to `write` and stop at `cut` stream bytes without a final
        // commit: what a kill -9 at that moment leaves.
        let mut received = GroupSet::new();
        let _ = verify::decode_ranges(&root, len, &all, &full[..cut], |item| {
            if let Verified::Group { index, .. } = item {
                received.insert(index);
            }
            partial.write(item).map(|_| ()).map_err(io::Error::other)
        });
        drop(partial);

        let store = Store::open(dir.path()).unwrap();
        let mut partial = store.partial(&root).unwrap().unwrap();
        let refetched = partial.missing().difference(&all.difference(&received));
        assert!(
            refetched.count() * GROUP_LEN < 1024 * 1024,
            "cut {cut}: {} groups again",
            refetched.count()
        );
        let missing = partial.missing();
        partial
            .receive(&missing, &stream(&sent.imported.blob, &missing)[..])
            .unwrap();
        let blob = partial.finish().unwrap();
        assert_eq!(plaintext(&blob, &sent.imported.key, 3_000_000), sent.file);
    }
}

#[test]
fn a_torn_journal_tail_is_cut_off() {
    let sent = send(200_000);
    let root = sent.imported.blob.root();
    let len = sent.imported.lengths.ciphertext();
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let mut partial = store.begin(&root, len).unwrap();
    let first = GroupSet::from(0..3);
    partial
        .receive(&first, &stream(&sent.imported.blob, &first)[..])
        .unwrap();
    let journal = partial.paths().journal.clone();
    drop(partial);
    let mut expected = first;
    for (round, tail) in [&[0u8; 24][..], &[1, 2, 3][..], &[0xff; 40][..]]
        .into_iter()
        .enumerate()
    {
        let mut bytes = fs::read(&journal).unwrap();
        let before = bytes.len();
        bytes.extend_from_slice(tail);
        fs::write(&journal, &bytes).unwrap();
        let mut partial = store.partial(&root).unwrap().unwrap();
        assert_eq!(partial.verified(), expected);
        assert_eq!(fs::metadata(&journal).unwrap().len() as usize, before);
        // Appending after the cut works.
        let next = GroupSet::from(5 + 2 * round as u64..6 + 2 * round as u64);
        partial
            .receive(&next, &stream(&sent.imported.blob, &next)[..])
            .unwrap();
        drop(partial);
        let partial = store.partial(&root).unwrap().unwrap();
        expected = expected.union(&next);
        assert_eq!(partial.verified(), expected);
    }
}

#[test]
fn leftovers_of_interrupted_operations_are_removed_on_open() {
    let sent = send(50_000);
    let root = sent.imported.blob.root();
    let len = sent.imported.lengths.ciphertext();
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let partial = store.begin(&root, len).unwrap();
    let paths = partial.paths().clone();
    drop(partial);
    // A begin cut before its journal was renamed into place.
    fs::rename(&paths.journal, paths.journal.with_extension("log.tmp")).unwrap();
    fs::write(dir.path().join("tmp").join("abc"), b"half an import").unwrap();
    let store = Store::open(dir.path()).unwrap();
    assert!(!paths.data.exists());
    assert!(!paths.journal.with_extension("log.tmp").exists());
    assert_eq!(fs::read_dir(dir.path().join("tmp")).unwrap().count(), 0);
    assert!(store.partial(&root).unwrap().is_none());

    // A finish cut after the rename, before the journal was removed.
    let mut partial = store.begin(&root, len).unwrap();
    let all = GroupSet::all(verify::group_count(len));
    partial
        .receive(&all, &stream(&sent.imported.blob, &all)[..])
        .unwrap();
    let journal = fs::read(&paths.journal).unwrap();
    partial.finish().unwrap();
    fs::write(&paths.journal, journal).unwrap();
    let store = Store::open(dir.path()).unwrap();
    assert!(!paths.journal.exists());
    assert!(store.complete(&root).unwrap().is_some());
    assert!(store.partial(&root).unwrap().is_none());
}

#[test]
fn a_tampered_source_is_refused_and_another_completes_the_blob() {
    let sent = send(400_000);
    let root = sent.imported.blob.root();
    let len = sent.imported.lengths.ciphertext();
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let mut partial = store.begin(&root, len).unwrap();
    let all = GroupSet::all(verify::group_count(len));
    let mut bad = stream(&sent.imported.blob, &all);
    let at = bad.len() / 2;
    bad[at] ^= 0x10;
    let err = partial.receive(&all, &bad[..]).unwrap_err();
    let ReceiveError::Verify(VerifyError::Group { group, .. }) = err else {
        panic!("{err:?}");
    };
    assert!(!partial.verified().contains(group));
    assert!(partial.verified().count() > 0, "groups before it are kept");
    let missing = partial.missing();
    partial
        .receive(&missing, &stream(&sent.imported.blob, &missing)[..])
        .unwrap();
    let blob = partial.finish().unwrap();
    assert_eq!(plaintext(&blob, &sent.imported.key, 400_000), sent.file);
}

#[test]
fn a_blob_damaged_on_disk_does_not_finish() {
    let sent = send(100_000);
    let root = sent.imported.blob.root();
    let len = sent.imported.lengths.ciphertext();
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let mut partial = store.begin(&root, len).unwrap();
    let all = GroupSet::all(verify::group_count(len));
    partial
        .receive(&all, &stream(&sent.imported.blob, &all)[..])
        .unwrap();
    let mut file = OpenOptions::new()
        .write(true)
        .open(&partial.paths().data)
        .unwrap();
    file.write_all_at(HEADER_LEN + 20_000, b"rot").unwrap();
    let err = partial.finish().unwrap_err();
    assert!(matches!(err, FinishError::RootMismatch));
    let partial = store.partial(&root).unwrap().unwrap();
    assert_eq!(
        partial.missing(),
        all,
        "nothing counts as verified any more"
    );
    assert!(store.complete(&root).unwrap().is_none());
}

#[test]
fn handles_are_exclusive_and_delete_removes_everything() {
    let sent = send(10_000);
    let root = sent.imported.blob.root();
    let len = sent.imported.lengths.ciphertext();
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    assert!(matches!(
        store.begin(&root, 1000),
        Err(StoreError::BadLength { len: 1000 })
    ));
    let partial = store.begin(&root, len).unwrap();
    assert!(matches!(
        store.begin(&root, len),
        Err(StoreError::Busy { .. })
    ));
    assert!(matches!(store.delete(&root), Err(StoreError::Busy { .. })));
    drop(partial);
    assert!(store.delete(&root).unwrap());
    assert!(store.partial(&root).unwrap().is_none());
    assert!(!store.delete(&root).unwrap());
}

#[test]
fn a_plaintext_reader_needs_the_right_length() {
    let sent = send(5_000);
    let blob = &sent.imported.blob;
    assert!(matches!(
        blob.plaintext(&sent.imported.key, 5_000_000),
        Err(PlaintextError::Lengths)
    ));
}

#[test]
fn a_player_can_start_on_verified_groups_before_the_rest_arrives() {
    let sent = send(1_000_000);
    let root = sent.imported.blob.root();
    let lengths = sent.imported.lengths;
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let mut partial = store.begin(&root, lengths.ciphertext()).unwrap();
    // The player wants plaintext 300,000..400,000 first.
    let (chunk, bytes) = lengths.chunks_for(300_000..400_000);
    assert!(
        partial
            .verified_ciphertext(bytes.clone())
            .unwrap()
            .is_none()
    );
    // Beside the fetch, which holds the download.
    let beside = |bytes: std::ops::Range<u64>| store.verified_ciphertext(&root, bytes).unwrap();
    assert!(beside(bytes.clone()).is_none());
    let groups = GroupSet::covering_bytes(bytes.clone());
    partial
        .receive(&groups, &stream(&sent.imported.blob, &groups)[..])
        .unwrap();
    assert!(!partial.is_complete());
    let read = |ciphertext| {
        let mut reader =
            stream::DecryptReader::starting_at(&sent.imported.key, lengths, ciphertext, chunk);
        let skip = 300_000 - chunk as usize * 65_536;
        let mut out = vec![0u8; skip + 100_000];
        reader.read_exact(&mut out).unwrap();
        assert_eq!(&out[skip..], &sent.file[300_000..400_000]);
    };
    read(partial.verified_ciphertext(bytes.clone()).unwrap().unwrap());
    read(beside(bytes.clone()).unwrap());
    // The rest is not there yet: neither its start nor its end.
    let end = lengths.ciphertext();
    assert!(beside(end - 1..end).is_none());
    assert!(beside(0..1).is_none());
    let rest = partial.missing();
    partial
        .receive(&rest, &stream(&sent.imported.blob, &rest)[..])
        .unwrap();
    partial.finish().unwrap();
    read(beside(bytes).unwrap());
    assert!(beside(0..lengths.ciphertext()).is_some());
}
