use proptest::prelude::*;

use super::*;

fn data(len: usize) -> Vec<u8> {
    (0..len as u64)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect()
}

fn decode_all(
    root: &Root,
    len: u64,
    groups: &GroupSet,
    stream: &[u8],
) -> Result<(Vec<u64>, Vec<u8>, u64), VerifyError> {
    let mut indices = Vec::new();
    let mut bytes = Vec::new();
    let read = decode_ranges(root, len, groups, stream, |item| {
        if let Verified::Group { index, data } = item {
            indices.push(index);
            bytes.extend_from_slice(data);
        }
        Ok(())
    })?;
    Ok((indices, bytes, read))
}

fn expected(ciphertext: &[u8], groups: &GroupSet) -> (Vec<u64>, Vec<u8>) {
    let len = ciphertext.len() as u64;
    let mut indices = Vec::new();
    let mut bytes = Vec::new();
    for range in groups.ranges() {
        for g in range.clone() {
            indices.push(g);
            let b = group_bytes(len, g);
            bytes.extend_from_slice(&ciphertext[b.start as usize..b.end as usize]);
        }
    }
    (indices, bytes)
}

#[test]
fn root_is_the_plain_blake3_hash() {
    for len in [0usize, 1, 1024, 16_384, 16_385, 200_000] {
        let ciphertext = data(len);
        let outboard = Outboard::compute(&ciphertext[..], len as u64).unwrap();
        assert_eq!(outboard.root(), Root::of(&ciphertext));
        assert_eq!(outboard.as_bytes().len() as u64, outboard_len(len as u64));
    }
}

#[test]
fn outboard_is_0_39_percent() {
    let len = crate::Lengths::for_plaintext(100_000_000)
        .unwrap()
        .ciphertext();
    let ratio = outboard_len(len) as f64 / len as f64;
    assert!((0.0038..0.0040).contains(&ratio), "{ratio}");
}

#[test]
fn root_text_round_trips() {
    let root = Root::of(b"x");
    let text = root.to_string();
    assert_eq!(text.len(), 64);
    assert_eq!(text.parse::<Root>().unwrap(), root);
    assert_eq!(root.short(), text[..8]);
    assert!("zz".parse::<Root>().is_err());
    assert!(text[..63].parse::<Root>().is_err());
}

#[test]
fn a_flipped_byte_names_its_group() {
    let len = 10 * GROUP_LEN as usize + 100;
    let ciphertext = data(len);
    let outboard = Outboard::compute(&ciphertext[..], len as u64).unwrap();
    let groups = GroupSet::from(3..6);
    let mut stream = Vec::new();
    outboard
        .encode_ranges(&ciphertext, &groups, &mut stream)
        .unwrap();
    // The stream ends with group 5's bytes.
    let at = stream.len() - 10;
    stream[at] ^= 1;
    let mut seen = Vec::new();
    let err = decode_ranges(&outboard.root(), len as u64, &groups, &stream[..], |item| {
        if let Verified::Group { index, .. } = item {
            seen.push(index);
        }
        Ok(())
    })
    .unwrap_err();
    assert!(
        matches!(err, VerifyError::Group { group: 5, ref bytes } if *bytes == (5 * GROUP_LEN..6 * GROUP_LEN)),
        "{err:?}"
    );
    assert_eq!(seen, [3, 4], "nothing unverified reaches the sink");
}

#[test]
fn a_flipped_hash_names_the_bytes_under_it() {
    let len = 10 * GROUP_LEN as usize;
    let ciphertext = data(len);
    let outboard = Outboard::compute(&ciphertext[..], len as u64).unwrap();
    let groups = GroupSet::all(10);
    let mut stream = Vec::new();
    outboard
        .encode_ranges(&ciphertext, &groups, &mut stream)
        .unwrap();
    stream[0] ^= 1; // the root's left child hash
    let err = decode_all(&outboard.root(), len as u64, &groups, &stream).unwrap_err();
    assert!(matches!(err, VerifyError::Parent { .. }), "{err:?}");
}

#[test]
fn a_short_stream_is_truncated_and_past_end_is_refused() {
    let len = 5 * GROUP_LEN as usize;
    let ciphertext = data(len);
    let outboard = Outboard::compute(&ciphertext[..], len as u64).unwrap();
    let groups = GroupSet::all(5);
    let mut stream = Vec::new();
    outboard
        .encode_ranges(&ciphertext, &groups, &mut stream)
        .unwrap();
    let err = decode_all(
        &outboard.root(),
        len as u64,
        &groups,
        &stream[..stream.len() - 1],
    )
    .unwrap_err();
    assert!(matches!(err, VerifyError::Truncated { ref bytes } if bytes.start == 4 * GROUP_LEN));
    let past = GroupSet::from(4..6);
    assert!(matches!(
        decode_all(&outboard.root(), len as u64, &past, &stream),
        Err(VerifyError::PastEnd {
            group: 5,
            groups: 5
        })
    ));
    assert!(matches!(
        outboard.encode_ranges(&ciphertext, &past, Vec::new()),
        Err(EncodeRangeError::PastEnd { .. })
    ));
}

#[test]
fn a_damaged_local_copy_is_not_served() {
    let len = 4 * GROUP_LEN as usize;
    let mut ciphertext = data(len);
    let outboard = Outboard::compute(&ciphertext[..], len as u64).unwrap();
    ciphertext[2 * GROUP_LEN as usize + 7] ^= 4;
    let err = outboard
        .encode_ranges(&ciphertext, &GroupSet::all(4), Vec::new())
        .unwrap_err();
    assert!(
        matches!(err, EncodeRangeError::Damaged { ref bytes } if *bytes == (2 * GROUP_LEN..3 * GROUP_LEN))
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn any_ranges_round_trip(
        len in prop_oneof![1u64..40_000, 40_000u64..600_000],
        picks in prop::collection::vec((any::<u64>(), 1u64..8), 1..5),
    ) {
        let ciphertext = data(len as usize);
        let outboard = Outboard::compute(&ciphertext[..], len).unwrap();
        let count = group_count(len);
        let groups = GroupSet::from_ranges(picks.into_iter().map(|(start, n)| {
            let start = start % count;
            start..(start + n).min(count)
        }));
        let mut stream = Vec::new();
        outboard.encode_ranges(&ciphertext, &groups, &mut stream).unwrap();
        prop_assert_eq!(stream.len() as u64, encoded_len(len, &groups));
        let (indices, bytes, read) = decode_all(&outboard.root(), len, &groups, &stream).unwrap();
        let (want_indices, want_bytes) = expected(&ciphertext, &groups);
        prop_assert_eq!(indices, want_indices);
        prop_assert_eq!(bytes, want_bytes);
        prop_assert_eq!(read, stream.len() as u64);
    }

    #[test]
    fn any_flip_in_the_stream_is_caught(len in 1u64..300_000, at: usize, bit in 0u8..8) {
        let ciphertext = data(len as usize);
        let outboard = Outboard::compute(&ciphertext[..], len).unwrap();
        let groups = GroupSet::all(group_count(len));
        let mut stream = Vec::new();
        outboard.encode_ranges(&ciphertext, &groups, &mut stream).unwrap();
        let at = at % stream.len();
        stream[at] ^= 1 << bit;
        prop_assert!(decode_all(&outboard.root(), len, &groups, &stream).is_err());
    }
}
