//! The whole pipeline, as a sender and a receiver run it: seal, serve ranges, verify, store,
//! decrypt, for file sizes on every chunk, group and bucket boundary and random ranges.

use std::io::Read;

use proptest::prelude::*;
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;
use tern_blob::{
    FileKey, GroupSet, Lengths,
    store::Store,
    stream::{CHUNK_LEN, DecryptReader},
    verify::{self, GROUP_LEN, Verified},
};

fn data(len: usize, seed: u8) -> Vec<u8> {
    (0..len as u64)
        .map(|i| ((i.wrapping_mul(0x2545_f491) >> 9) as u8) ^ seed)
        .collect()
}

fn boundary_len() -> impl Strategy<Value = u64> {
    let c = CHUNK_LEN;
    let g = GROUP_LEN;
    prop_oneof![
        prop::sample::select(vec![
            0,
            1,
            1015,
            1016,
            1017,
            g - 1,
            g,
            g + 1,
            c - 9,
            c - 8,
            c - 7,
            c,
            c + 1,
            2 * c,
            4 * g * 5,
        ]),
        0u64..600_000,
    ]
}

/// Sends a file through two stores: the receiver fetches all groups in two halves, as if
/// from two sources, and reads the file back.
fn transfer(len: u64, seed: u8) {
    let file = data(len as usize, seed);
    let mut rng = ChaCha20Rng::seed_from_u64(u64::from(seed));
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let sender = Store::open(a.path()).unwrap();
    let receiver = Store::open(b.path()).unwrap();
    let sent = sender.import(&mut rng, &file[..], len).unwrap();
    let ciphertext_len = sent.lengths.ciphertext();
    let mut download = receiver.begin(&sent.blob.root(), ciphertext_len).unwrap();
    let groups = verify::group_count(ciphertext_len);
    for part in [
        GroupSet::from(groups / 2..groups),
        GroupSet::from(0..groups / 2),
    ] {
        if part.is_empty() {
            continue;
        }
        let mut stream = Vec::new();
        sent.blob.encode_ranges(&part, &mut stream).unwrap();
        assert_eq!(
            stream.len() as u64,
            verify::encoded_len(ciphertext_len, &part)
        );
        download.receive(&part, &stream[..]).unwrap();
    }
    let blob = download.finish().unwrap();
    let mut out = Vec::new();
    blob.plaintext(&sent.key, len)
        .unwrap()
        .read_to_end(&mut out)
        .unwrap();
    assert_eq!(out, file, "len {len}");
}

#[test]
fn boundary_sizes_transfer_intact() {
    for len in [0u64, 1, 1016, 1017, GROUP_LEN, CHUNK_LEN, CHUNK_LEN + 1] {
        transfer(len, 1);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    #[test]
    fn any_size_transfers_intact(len in boundary_len(), seed: u8) {
        transfer(len, seed);
    }

    /// A range read (or a player starting mid-file): fetch only the groups under the wanted
    /// plaintext, verify them, and decrypt from the first chunk they hold.
    #[test]
    fn a_plaintext_range_decrypts_from_verified_groups(
        len in 1u64..700_000,
        start: u64,
        want in 0u64..200_000,
    ) {
        let file = data(len as usize, 3);
        let key = FileKey::generate(&mut ChaCha20Rng::seed_from_u64(len));
        let mut ciphertext = Vec::new();
        let (outboard, lengths) = tern_blob::seal(&key, &file[..], len, &mut ciphertext).unwrap();
        prop_assert_eq!(lengths, Lengths::for_plaintext(len).unwrap());
        let start = start % len;
        let end = (start + want).min(len);
        let (chunk, bytes) = lengths.chunks_for(start..end);
        let groups = GroupSet::covering_bytes(bytes.clone());
        let mut stream = Vec::new();
        outboard.encode_ranges(&ciphertext, &groups, &mut stream).unwrap();

        // The receiver keeps only verified groups, at their offsets.
        let mut assembled = vec![0u8; lengths.ciphertext() as usize];
        verify::decode_ranges(&outboard.root(), lengths.ciphertext(), &groups, &stream[..], |item| {
            if let Verified::Group { index, data } = item {
                let at = (index * GROUP_LEN) as usize;
                assembled[at..at + data.len()].copy_from_slice(data);
            }
            Ok(())
        })
        .unwrap();
        let mut reader = DecryptReader::starting_at(
            &key,
            lengths,
            &assembled[bytes.start as usize..bytes.end as usize],
            chunk,
        );
        let skip = (start - chunk * CHUNK_LEN) as usize;
        let mut out = vec![0u8; skip + (end - start) as usize];
        reader.read_exact(&mut out).unwrap();
        prop_assert_eq!(&out[skip..], &file[start as usize..end as usize]);
    }
}
