use proptest::prelude::*;

use super::*;

fn location(kind: LocationKind, byte: u8) -> Location {
    Location {
        kind,
        peer: vec![byte; 38],
        capability: Capability::from_bytes([byte; 32]),
    }
}

fn blob_descriptor(plaintext_len: u64) -> Descriptor {
    let lengths = Lengths::for_plaintext(plaintext_len).unwrap();
    Descriptor {
        kind: Kind::Video,
        mime: "video/mp4".into(),
        name: "holiday.mp4".into(),
        thumbnail: Some(Thumbnail::Image {
            mime: "image/jpeg".into(),
            width: 96,
            height: 54,
            bytes: vec![0xd8; 2000],
        }),
        waveform: None,
        body: Body::Blob(BlobRef {
            root: Root::from_bytes([3; 32]),
            plaintext_len,
            padded_len: lengths.padded(),
            ciphertext_len: lengths.ciphertext(),
            key: FileKey::from_bytes([9; 32]),
            locations: vec![
                location(LocationKind::Device, 1),
                location(LocationKind::Relay, 2),
            ],
        }),
    }
}

fn blob(descriptor: &mut Descriptor) -> &mut BlobRef {
    match &mut descriptor.body {
        Body::Blob(blob) => blob,
        Body::Inline(_) => unreachable!(),
    }
}

#[test]
fn round_trips() {
    let descriptor = blob_descriptor(12_345_678);
    let bytes = descriptor.to_bytes().unwrap();
    assert_eq!(Descriptor::from_bytes(&bytes).unwrap(), descriptor);
}

#[test]
fn the_encoding_is_pinned() {
    // A change to this fixture is a change of the wire format: bump the version.
    let descriptor = Descriptor {
        kind: Kind::Voice,
        mime: "audio/ogg".into(),
        name: String::new(),
        thumbnail: None,
        waveform: Some(Waveform {
            duration_ms: 1500,
            samples: vec![0, 128, 255],
        }),
        body: Body::Inline(vec![0xaa, 0xbb]),
    };
    let bytes = descriptor.to_bytes().unwrap();
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    assert_eq!(
        hex,
        [
            "01",                   // version
            "03",                   // kind: Voice
            "09617564696f2f6f6767", // mime: "audio/ogg"
            "00",                   // name: ""
            "00",                   // thumbnail: None
            "01dc0b030080ff",       // waveform: Some(1500 ms, [0, 128, 255])
            "0002aabb",             // body: Inline([aa, bb])
        ]
        .concat()
    );
}

#[test]
fn the_largest_descriptor_fits() {
    let descriptor = Descriptor {
        kind: Kind::Document,
        mime: format!("application/{}", "x".repeat(MAX_MIME_LEN - 12)),
        name: "n".repeat(MAX_NAME_LEN),
        thumbnail: Some(Thumbnail::Image {
            mime: format!("image/{}", "y".repeat(MAX_MIME_LEN - 6)),
            width: u16::MAX,
            height: u16::MAX,
            bytes: vec![0xff; MAX_THUMBNAIL_LEN],
        }),
        waveform: Some(Waveform {
            duration_ms: u32::MAX,
            samples: vec![0xff; MAX_WAVEFORM_SAMPLES],
        }),
        body: Body::Inline(vec![0xff; MAX_INLINE_LEN as usize]),
    };
    let bytes = descriptor.to_bytes().unwrap();
    assert!(bytes.len() <= MAX_ENCODED_LEN);
    let mut many = blob_descriptor(MAX_DOCUMENT_LEN);
    many.kind = Kind::Document;
    blob(&mut many).locations = (0..MAX_LOCATIONS as u8)
        .map(|i| Location {
            peer: vec![i; MAX_PEER_LEN],
            ..location(LocationKind::Relay, i)
        })
        .collect();
    assert!(many.to_bytes().unwrap().len() <= MAX_ENCODED_LEN);
}

#[test]
fn impossible_descriptors_are_refused_with_their_reason() {
    let check = |change: &dyn Fn(&mut Descriptor), want: &dyn Fn(&DescriptorError) -> bool| {
        let mut descriptor = blob_descriptor(1_000_000);
        change(&mut descriptor);
        let err = descriptor.validate().unwrap_err();
        assert!(want(&err), "{err:?}");
        // The same descriptor arriving over the wire is refused the same way.
        let raw = postcard::to_extend(&descriptor, vec![1]).unwrap();
        assert_eq!(Descriptor::from_bytes(&raw).unwrap_err(), err);
    };
    check(&|d| blob(d).ciphertext_len += 16, &|e| {
        matches!(e, DescriptorError::Lengths { .. })
    });
    check(&|d| blob(d).padded_len -= 1, &|e| {
        matches!(e, DescriptorError::Lengths { .. })
    });
    check(
        &|d| {
            let lengths = Lengths::for_plaintext(20_000_000).unwrap();
            let b = blob(d);
            b.plaintext_len = 20_000_000;
            b.padded_len = lengths.padded();
            b.ciphertext_len = lengths.ciphertext();
        },
        &|e| {
            matches!(
                e,
                DescriptorError::TooLarge {
                    kind: Kind::Video,
                    max: MAX_MEDIA_LEN,
                    ..
                }
            )
        },
    );
    check(&|d| blob(d).plaintext_len = MAX_DOCUMENT_LEN + 1, &|e| {
        matches!(e, DescriptorError::TooLarge { .. })
    });
    check(&|d| blob(d).locations.clear(), &|e| {
        matches!(e, DescriptorError::Locations { count: 0, .. })
    });
    check(
        &|d| blob(d).locations = vec![location(LocationKind::Relay, 1); MAX_LOCATIONS + 1],
        &|e| matches!(e, DescriptorError::Locations { count: 9, .. }),
    );
    check(&|d| blob(d).locations[0].peer.clear(), &|e| {
        *e == DescriptorError::BadPeer
    });
    check(
        &|d| {
            d.thumbnail = Some(Thumbnail::Image {
                mime: "image/jpeg".into(),
                width: 1,
                height: 1,
                bytes: vec![0; MAX_THUMBNAIL_LEN + 1],
            })
        },
        &|e| *e == DescriptorError::Thumbnail,
    );
    check(
        &|d| d.thumbnail = Some(Thumbnail::Blurhash("L".repeat(MAX_BLURHASH_LEN + 1))),
        &|e| *e == DescriptorError::Thumbnail,
    );
    check(
        &|d| {
            d.waveform = Some(Waveform {
                duration_ms: 1,
                samples: vec![0; MAX_WAVEFORM_SAMPLES + 1],
            })
        },
        &|e| matches!(e, DescriptorError::Waveform { .. }),
    );
    check(&|d| d.name = "../../etc/passwd".into(), &|e| {
        *e == DescriptorError::BadName
    });
    check(&|d| d.name = "a\nb".into(), &|e| {
        *e == DescriptorError::BadName
    });
    check(&|d| d.mime = "video".into(), &|e| {
        *e == DescriptorError::BadMime
    });
    check(
        &|d| d.body = Body::Inline(vec![0; MAX_INLINE_LEN as usize + 1]),
        &|e| matches!(e, DescriptorError::InlineTooLarge { .. }),
    );
}

#[test]
fn framing_errors_are_typed() {
    let bytes = blob_descriptor(5_000).to_bytes().unwrap();
    let mut other_version = bytes.clone();
    other_version[0] = 2;
    assert_eq!(
        Descriptor::from_bytes(&other_version),
        Err(DescriptorError::Version(2))
    );
    let mut trailing = bytes.clone();
    trailing.push(0);
    assert_eq!(
        Descriptor::from_bytes(&trailing),
        Err(DescriptorError::Malformed)
    );
    assert_eq!(Descriptor::from_bytes(&[]), Err(DescriptorError::Malformed));
    assert!(matches!(
        Descriptor::from_bytes(&vec![1; MAX_ENCODED_LEN + 1]),
        Err(DescriptorError::Oversized { .. })
    ));
}

#[test]
fn debug_shows_no_key_capability_or_content() {
    let mut descriptor = blob_descriptor(5_000);
    let text = format!("{descriptor:?}");
    assert!(text.contains("FileKey(..)") && text.contains("Capability(..)"));
    assert!(!text.contains("9, 9, 9"));
    descriptor.body = Body::Inline(b"secret words".to_vec());
    assert!(!format!("{descriptor:?}").contains("115, 101"));
}

#[test]
fn capabilities_compare_by_value() {
    let a = Capability::from_bytes([1; 32]);
    assert!(a.matches(&Capability::from_bytes([1; 32])));
    let mut other = [1; 32];
    other[31] = 2;
    assert!(!a.matches(&Capability::from_bytes(other)));
}

proptest! {
    #[test]
    fn any_valid_blob_descriptor_round_trips(
        len in 0u64..=MAX_DOCUMENT_LEN,
        name in "[a-zA-Z0-9 ._-]{0,40}",
        relays in 0usize..4,
    ) {
        let mut descriptor = blob_descriptor(len);
        descriptor.kind = Kind::Document;
        descriptor.name = name;
        let lengths = Lengths::for_plaintext(len).unwrap();
        let b = blob(&mut descriptor);
        b.padded_len = lengths.padded();
        b.ciphertext_len = lengths.ciphertext();
        b.locations.truncate(1);
        for i in 0..relays {
            b.locations.push(location(LocationKind::Relay, i as u8));
        }
        let bytes = descriptor.to_bytes().unwrap();
        prop_assert_eq!(Descriptor::from_bytes(&bytes).unwrap(), descriptor);
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        let _ = Descriptor::from_bytes(&bytes);
    }
}

#[test]
fn a_blob_descriptor_encoding_is_pinned() {
    // Key and capability are 32 raw bytes, like the root; lengths are varints.
    let mut descriptor = blob_descriptor(1_000_000);
    descriptor.thumbnail = None;
    blob(&mut descriptor).locations.truncate(1);
    let bytes = descriptor.to_bytes().unwrap();
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    let want = [
        "01",                       // version
        "01",                       // kind: Video
        "09766964656f2f6d7034",     // mime: "video/mp4"
        "0b686f6c696461792e6d7034", // name: "holiday.mp4"
        "00",                       // thumbnail: None
        "00",                       // waveform: None
        "01",                       // body: Blob
        &"03".repeat(32),           // root
        "c0843d",                   // plaintext_len 1,000,000
        "eaa43d",                   // padded_len 1,004,138
        "eaa63d",                   // ciphertext_len 1,004,394
        &"09".repeat(32),           // key
        "01",                       // one location
        "00",                       // Device
        "26",                       // peer id: 38 bytes
        &"01".repeat(38),
        &"01".repeat(32), // capability
    ]
    .concat();
    assert_eq!(hex, want);
}
