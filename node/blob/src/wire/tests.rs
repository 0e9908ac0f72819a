use proptest::prelude::*;

use super::*;

fn get() -> Request {
    Request::Get {
        root: Root::from_bytes([0x11; 32]),
        groups: GroupSet::from_ranges([0..2, 5..6]),
        capability: Capability::from_bytes([0x22; 32]),
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[test]
fn a_get_request_is_pinned() {
    let frame = encode_frame(&get()).unwrap();
    let want = [
        "01".to_string(),         // frame version
        "00000046".to_string(),   // body length 70
        "00".to_string(),         // Request::Get
        "11".repeat(32),          // root
        "0200020506".to_string(), // two ranges: (0, 2), (5, 6)
        "22".repeat(32),          // capability
    ]
    .concat();
    assert_eq!(hex(&frame), want);
}

#[test]
fn the_custody_statement_is_pinned() {
    let statement = custody_statement(&[0xaa, 0xbb], &Root::from_bytes([1; 32]), 1040, 7, 9);
    let want = [
        hex(b"tern/blob-custody/v1"),
        "0002aabb".to_string(),
        "01".repeat(32),
        "0000000000000410".to_string(),
        "0000000000000007".to_string(),
        "0000000000000009".to_string(),
    ]
    .concat();
    assert_eq!(hex(&statement), want);
    let receipt = CustodyReceipt {
        relay_key: vec![0xaa, 0xbb],
        root: Root::from_bytes([1; 32]),
        ciphertext_len: 1040,
        stored_at: 7,
        expires_at: 9,
        signature: vec![0; 64],
    };
    assert_eq!(receipt.statement(), statement);
    assert!(receipt.covers(&Root::from_bytes([1; 32]), 1040));
    assert!(!receipt.covers(&Root::from_bytes([1; 32]), 1041));
}

#[test]
fn bad_frames_get_typed_errors() {
    let frame = encode_frame(&get()).unwrap();
    let mut version = frame.clone();
    version[0] = 9;
    assert!(matches!(
        decode_frame::<Request>(&version),
        Err(FrameError::Version(9))
    ));
    let mut huge = frame.clone();
    huge[1..5].copy_from_slice(&u32::MAX.to_be_bytes());
    assert!(matches!(
        read_frame::<Request>(&huge[..]),
        Err(FrameError::TooLarge { .. })
    ));
    let mut trailing = frame.clone();
    trailing.push(0);
    trailing[4] += 1;
    assert!(matches!(
        decode_frame::<Request>(&trailing),
        Err(FrameError::Malformed)
    ));
    assert!(matches!(
        read_frame::<Request>(&frame[..frame.len() - 1]),
        Err(FrameError::Io(_))
    ));
    // Overlapping ranges are not canonical.
    let mut overlapping = frame.clone();
    overlapping[5 + 1 + 32 + 3] = 1; // second range starts at 1, inside the first
    assert!(matches!(
        decode_frame::<Request>(&overlapping),
        Err(FrameError::Malformed)
    ));
}

#[test]
fn bounds_are_enforced_both_ways() {
    let many = Request::Get {
        root: Root::from_bytes([0; 32]),
        groups: GroupSet::from_ranges((0..=MAX_RANGES as u64).map(|i| 2 * i..2 * i + 1)),
        capability: Capability::from_bytes([0; 32]),
    };
    assert!(matches!(encode_frame(&many), Err(FrameError::Malformed)));
    let token = Request::Upload {
        root: Root::from_bytes([0; 32]),
        ciphertext_len: 1040,
        capability: Capability::from_bytes([0; 32]),
        quota_token: vec![0; MAX_QUOTA_TOKEN_LEN + 1],
    };
    assert!(matches!(encode_frame(&token), Err(FrameError::Malformed)));
    // Hand-built frames past the bound are refused on reading too.
    let mut body = postcard::to_stdvec(&many).unwrap();
    let mut frame = vec![1];
    frame.extend_from_slice(&(body.len() as u32).to_be_bytes());
    frame.append(&mut body);
    assert!(matches!(
        decode_frame::<Request>(&frame),
        Err(FrameError::Malformed)
    ));
}

#[test]
fn async_frames_match_sync_ones() {
    let status = UploadStatus::Send {
        groups: GroupSet::from(3..9),
    };
    let frame = encode_frame(&status).unwrap();
    let mut out = futures::io::Cursor::new(Vec::new());
    futures::executor::block_on(write_frame_async(&mut out, &status)).unwrap();
    assert_eq!(out.get_ref(), &frame);
    let read: UploadStatus =
        futures::executor::block_on(read_frame_async(futures::io::Cursor::new(frame))).unwrap();
    assert_eq!(read, status);
}

fn group_set() -> impl Strategy<Value = GroupSet> {
    prop::collection::vec((0u64..10_000, 1u64..100), 0..8)
        .prop_map(|r| GroupSet::from_ranges(r.into_iter().map(|(s, n)| s..s + n)))
}

proptest! {
    #[test]
    fn messages_round_trip(
        root: [u8; 32],
        cap: [u8; 32],
        groups in group_set(),
        len: u64,
        token in prop::collection::vec(any::<u8>(), 0..MAX_QUOTA_TOKEN_LEN),
        secs: u16,
    ) {
        let root = Root::from_bytes(root);
        let requests = [
            Request::Get { root, groups: groups.clone(), capability: Capability::from_bytes(cap) },
            Request::Upload { root, ciphertext_len: len, capability: Capability::from_bytes(cap), quota_token: token },
        ];
        for request in requests {
            prop_assert_eq!(decode_frame::<Request>(&encode_frame(&request).unwrap()).unwrap(), request);
        }
        for status in [
            GetStatus::Ok { ciphertext_len: len },
            GetStatus::NotFound,
            GetStatus::BadCapability,
            GetStatus::RangePastEnd { groups: len },
            GetStatus::Busy { retry_after_secs: secs },
            GetStatus::BadRequest,
        ] {
            prop_assert_eq!(decode_frame::<GetStatus>(&encode_frame(&status).unwrap()).unwrap(), status);
        }
        for status in [
            UploadStatus::Send { groups },
            UploadStatus::Refused(UploadRefusal::OverQuota),
            UploadStatus::Stored(CustodyReceipt {
                relay_key: vec![1; 36],
                root,
                ciphertext_len: len,
                stored_at: u64::from(secs),
                expires_at: len,
                signature: vec![2; 64],
            }),
        ] {
            prop_assert_eq!(decode_frame::<UploadStatus>(&encode_frame(&status).unwrap()).unwrap(), status);
        }
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..300)) {
        let _ = decode_frame::<Request>(&bytes);
        let _ = read_frame::<GetStatus>(&bytes[..]);
        let _ = decode_frame::<UploadStatus>(&bytes);
    }
}
