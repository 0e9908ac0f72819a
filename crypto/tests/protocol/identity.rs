//! Addresses, device certificates and safety numbers.

use tern_crypto::{
    AccountKey, AddressError, DecodeError, DeviceCertificate, DeviceId, MAX_CLOCK_SKEW_SECS,
    SafetyNumber, SigningContext, UserId, VerifyError,
};

use super::support::{NOW, rng};

#[test]
fn addresses_round_trip_and_catch_typos() {
    let mut rng = rng(20);
    for _ in 0..20 {
        let user = AccountKey::generate(&mut rng).user_id();
        let text = user.to_string();
        assert!(text.starts_with("tern1") && text.len() == 64, "{text}");
        assert_eq!(text.parse::<UserId>().unwrap(), user);
        assert_eq!(
            text.to_uppercase().parse::<UserId>().unwrap(),
            user,
            "QR codes use upper case"
        );
        assert_eq!(user.short(), text[6..18], "the short form skips `tern1q`");

        // Every single-character substitution after the prefix is caught.
        let alphabet = "qpzry9x8gf2tvdw0s3jn54khce6mua7l";
        for i in 5..text.len() {
            let original = text.as_bytes()[i] as char;
            let replacement = alphabet.chars().find(|&c| c != original).unwrap();
            let mut typo = text.clone();
            typo.replace_range(i..=i, &replacement.to_string());
            assert!(typo.parse::<UserId>().is_err(), "typo at {i} accepted");
        }
        // Truncation, extension and swapped neighbours are caught.
        assert!(text[..63].parse::<UserId>().is_err());
        assert!(format!("{text}q").parse::<UserId>().is_err());
        let mut swapped = text.clone().into_bytes();
        swapped.swap(20, 21);
        if swapped[20] != swapped[21] {
            assert!(
                String::from_utf8(swapped)
                    .unwrap()
                    .parse::<UserId>()
                    .is_err()
            );
        }
    }
}

#[test]
fn address_errors_are_specific() {
    let user = AccountKey::generate(&mut rng(21)).user_id().to_string();
    let mut typo = user.clone();
    let c = if &user[30..31] == "q" { "p" } else { "q" };
    typo.replace_range(30..31, c);
    assert_eq!(typo.parse::<UserId>(), Err(AddressError::Checksum));
    assert!(matches!(
        "".parse::<UserId>(),
        Err(AddressError::Malformed(_))
    ));
    assert!(matches!(
        "hello world".parse::<UserId>(),
        Err(AddressError::Malformed(_))
    ));
    // A valid bech32m string with another prefix.
    let other = bech32_with_prefix("bc", &[1u8; 33]);
    assert!(matches!(other.parse::<UserId>(), Err(AddressError::WrongPrefix(p)) if p == "bc"));
    // Right prefix, wrong version or length.
    let mut v2 = [7u8; 33];
    v2[0] = 2;
    assert_eq!(
        bech32_with_prefix("tern", &v2).parse::<UserId>(),
        Err(AddressError::UnsupportedVersion(2))
    );
    assert_eq!(
        bech32_with_prefix("tern", &[1u8; 20]).parse::<UserId>(),
        Err(AddressError::Length(19))
    );
    // Right shape, but the all-zero key is a small-order point.
    let mut weak = [0u8; 33];
    weak[0] = 1;
    weak[1] = 1;
    assert_eq!(
        bech32_with_prefix("tern", &weak).parse::<UserId>(),
        Err(AddressError::InvalidKey)
    );
}

/// A bech32m string built independently of the crate, from BIP 350's definition.
fn bech32_with_prefix(hrp: &str, data: &[u8]) -> String {
    bech32_from_values(hrp, to_five_bit(data))
}

/// `data` as 5-bit values, the last one padded with zero bits.
fn to_five_bit(data: &[u8]) -> Vec<u8> {
    let mut values = Vec::new();
    let (mut acc, mut bits) = (0u32, 0u32);
    for &b in data {
        acc = (acc << 8) | u32::from(b);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            values.push(((acc >> bits) & 31) as u8);
        }
    }
    if bits > 0 {
        values.push(((acc << (5 - bits)) & 31) as u8);
    }
    values
}

/// A bech32m string of the given 5-bit data values, with a correct checksum.
fn bech32_from_values(hrp: &str, mut values: Vec<u8>) -> String {
    const CHARSET: &[u8] = b"qpzry9x8gf2tvdw0s3jn54khce6mua7l";
    let polymod = |values: &[u8]| {
        let generator = [
            0x3b6a57b2u32,
            0x26508e6d,
            0x1ea119fa,
            0x3d4233dd,
            0x2a1462b3,
        ];
        let mut chk = 1u32;
        for &v in values {
            let top = chk >> 25;
            chk = ((chk & 0x1ffffff) << 5) ^ u32::from(v);
            for (i, g) in generator.iter().enumerate() {
                if (top >> i) & 1 == 1 {
                    chk ^= g;
                }
            }
        }
        chk
    };
    let mut expanded: Vec<u8> = hrp.bytes().map(|b| b >> 5).collect();
    expanded.push(0);
    expanded.extend(hrp.bytes().map(|b| b & 31));
    expanded.extend(&values);
    expanded.extend([0u8; 6]);
    let checksum = polymod(&expanded) ^ 0x2bc830a3;
    values.extend((0..6).map(|i| ((checksum >> (5 * (5 - i))) & 31) as u8));
    format!(
        "{hrp}1{}",
        values
            .iter()
            .map(|&v| CHARSET[v as usize] as char)
            .collect::<String>()
    )
}

#[test]
fn each_account_has_exactly_one_address() {
    let user = AccountKey::generate(&mut rng(27)).user_id();
    let text = user.to_string();
    let mut data = vec![1u8];
    data.extend_from_slice(user.as_bytes());
    let values = to_five_bit(&data);
    assert_eq!(values.len(), 53);
    assert_eq!(bech32_from_values("tern", values.clone()), text);

    // The one padding bit set: a correct checksum, the same key, but not its address.
    let mut padded = values.clone();
    padded[52] |= 1;
    let other = bech32_from_values("tern", padded);
    assert_ne!(other, text);
    assert_eq!(other.parse::<UserId>(), Err(AddressError::NonCanonical));
    assert_eq!(
        other.to_uppercase().parse::<UserId>(),
        Err(AddressError::NonCanonical)
    );
    // An extra data character still yields 33 bytes (270 bits), so the same key.
    for extra in [0u8, 17] {
        let mut longer = values.clone();
        longer.push(extra);
        let other = bech32_from_values("tern", longer);
        assert_eq!(other.parse::<UserId>(), Err(AddressError::NonCanonical));
    }

    // Upper case is the same address (QR codes); whitespace and mixed case are not.
    assert_eq!(text.to_uppercase().parse::<UserId>(), Ok(user));
    for bad in [
        format!(" {text}"),
        format!("{text}\n"),
        format!("{}{}", &text[..10], text[10..].to_uppercase()),
    ] {
        assert!(
            matches!(bad.parse::<UserId>(), Err(AddressError::Malformed(_))),
            "{bad:?}"
        );
    }
    assert_eq!(text.trim().parse::<UserId>(), Ok(user));
}

#[test]
fn device_certificates_bind_a_device_for_a_period() {
    let mut rng = rng(22);
    let account = AccountKey::generate(&mut rng);
    let device =
        DeviceId::from_bytes(*AccountKey::generate(&mut rng).user_id().as_bytes()).unwrap();
    let cert = account.certify_device(device, NOW, NOW + 3600);
    cert.verify(NOW).unwrap();
    let decoded = DeviceCertificate::from_bytes(&cert.to_bytes()).unwrap();
    assert_eq!(decoded, cert);
    assert_eq!(
        (decoded.account(), decoded.device()),
        (account.user_id(), device)
    );
    assert_eq!(cert.to_bytes().len(), DeviceCertificate::LEN);

    assert!(matches!(
        cert.verify(NOW + 3600),
        Err(VerifyError::Expired { .. })
    ));
    assert!(
        cert.verify(NOW - MAX_CLOCK_SKEW_SECS).is_ok(),
        "small clock skew is tolerated"
    );
    assert_eq!(
        cert.verify(NOW - MAX_CLOCK_SKEW_SECS - 1),
        Err(VerifyError::NotYetValid("device certificate"))
    );

    // A period that ends before it starts is never valid, even at a time inside both bounds'
    // tolerances.
    let inverted = account.certify_device(device, NOW + 100, NOW + 50);
    assert_eq!(
        inverted.verify(NOW),
        Err(VerifyError::InconsistentValidity("device certificate"))
    );

    // Any altered byte (another device, a longer life, a signature by someone else) fails.
    let bytes = cert.to_bytes();
    for i in 0..bytes.len() {
        let mut tampered = bytes.clone();
        tampered[i] ^= 0x80;
        assert!(
            DeviceCertificate::from_bytes(&tampered).is_err(),
            "byte {i} not covered"
        );
    }
    assert_eq!(device.to_string().parse::<DeviceId>().unwrap(), device);
}

#[test]
fn device_ids_parse_only_from_lowercase_hex() {
    let device =
        DeviceId::from_bytes(*AccountKey::generate(&mut rng(28)).user_id().as_bytes()).unwrap();
    let text = device.to_string();
    assert_eq!(text.parse::<DeviceId>(), Ok(device));
    assert_eq!(device.short(), text[..12]);
    let refused = |s: &str| {
        assert_eq!(
            s.parse::<DeviceId>(),
            Err(VerifyError::Decode(DecodeError::Invalid("device id hex"))),
            "{s:?}"
        )
    };
    refused(&text.to_uppercase());
    // `+f` is what `u8::from_str_radix` would read as 0x0f.
    refused(&format!("+f{}", &text[2..]));
    refused(&format!(" {}", &text[1..]));
    refused(&format!("{}g", &text[..63]));
    refused(&text[..62]);
    refused(&format!("{text}00"));
    // A multi-byte character where a digit should be.
    refused(&format!("é{}", &text[2..]));
}

/// Signal's numeric-fingerprint iteration, written as Signal writes it: the hash starts as the
/// raw `version ‖ key ‖ stable id`, and each of the 5200 iterations is `SHA-512(hash ‖ key)`.
fn reference_half(user: &UserId) -> String {
    use sha2::{Digest, Sha512};
    let key = user.as_bytes();
    let mut hash = [&[0u8, 0][..], key, user.to_string().as_bytes()].concat();
    for _ in 0..5200 {
        let mut digest = Sha512::new();
        digest.update(&hash);
        digest.update(key);
        hash = digest.finalize().to_vec();
    }
    hash[..30]
        .chunks(5)
        .map(|c| {
            let v = c.iter().fold(0u64, |acc, &b| acc << 8 | u64::from(b));
            format!("{:05}", v % 100_000)
        })
        .collect()
}

#[test]
fn safety_numbers_follow_signals_iteration() {
    let mut rng = rng(26);
    let (a, b) = (
        AccountKey::generate(&mut rng).user_id(),
        AccountKey::generate(&mut rng).user_id(),
    );
    let mut halves = [reference_half(&a), reference_half(&b)];
    halves.sort();
    assert_eq!(
        SafetyNumber::new(&a, &b).digits(),
        halves.concat(),
        "safety number differs from the reference construction"
    );
}

#[test]
fn safety_numbers_are_symmetric_and_distinct() {
    let mut rng = rng(23);
    let (a, b, c) = (
        AccountKey::generate(&mut rng),
        AccountKey::generate(&mut rng),
        AccountKey::generate(&mut rng),
    );
    let ab = SafetyNumber::new(&a.user_id(), &b.user_id());
    assert_eq!(ab, SafetyNumber::new(&b.user_id(), &a.user_id()));
    assert_ne!(ab, SafetyNumber::new(&a.user_id(), &c.user_id()));
    assert_eq!(ab.digits().len(), 60);
    assert!(ab.digits().bytes().all(|d| d.is_ascii_digit()));
    let text = ab.to_string();
    let groups: Vec<&str> = text.split(' ').collect();
    assert_eq!(groups.len(), 12);
    assert!(groups.iter().all(|g| g.len() == 5));
}

#[test]
fn secrets_never_show_in_debug_output() {
    let account = AccountKey::generate(&mut rng(24));
    let state = account.to_bytes();
    let debug = format!("{account:?} {:?}", account.mailbox_secret());
    for secret in state[1..].chunks(32) {
        let hex: String = secret.iter().map(|b| format!("{b:02x}")).collect();
        assert!(!debug.contains(&hex));
        assert!(!debug.contains(&format!("{secret:?}")[1..20]));
    }
}

#[test]
fn statements_are_bound_to_their_context() {
    let mut rng = rng(25);
    let (alice, mallory) = (
        AccountKey::generate(&mut rng),
        AccountKey::generate(&mut rng),
    );
    const DHT_RECORD: SigningContext = SigningContext::new("dht-record");
    let signature = alice.sign_statement(DHT_RECORD, b"record bytes");
    let user = alice.user_id();
    user.verify_statement(DHT_RECORD, b"record bytes", &signature)
        .unwrap();
    assert_eq!(
        user.verify_statement(
            SigningContext::new("dht-recorD"),
            b"record bytes",
            &signature
        ),
        Err(VerifyError::BadSignature("statement"))
    );
    // The context/message boundary is unambiguous.
    assert!(
        user.verify_statement(
            SigningContext::new("dht-"),
            b"record\0record bytes",
            &signature
        )
        .is_err()
    );
    assert!(
        user.verify_statement(DHT_RECORD, b"record byte", &signature)
            .is_err()
    );
    assert!(
        mallory
            .user_id()
            .verify_statement(DHT_RECORD, b"record bytes", &signature)
            .is_err()
    );
}

/// A zero byte would move the context/message boundary (`"a\0b"` with `m` signs what `"a"`
/// with `"b\0" ‖ m` signs), so no context may contain one. As a constant, such a context does
/// not compile (the `compile_fail` example on `SigningContext`).
#[test]
fn signing_contexts_with_a_zero_byte_are_refused() {
    assert_eq!(SigningContext::try_new("dht\0record"), None);
    assert_eq!(SigningContext::try_new("\0"), None);
    assert_eq!(
        SigningContext::try_new("dht-record").map(|c| c.as_str()),
        Some("dht-record")
    );
    assert!(std::panic::catch_unwind(|| SigningContext::new("dht\0record")).is_err());
}

/// The worked examples of `docs/protocol/crypto.md` sections 3 and 10, from the public keys of
/// RFC 8032 tests 1 and 2.
#[test]
fn spec_examples_are_reproduced() {
    let key = |text: &str| {
        let bytes: [u8; 32] = hex::decode(text).unwrap().try_into().unwrap();
        UserId::from_bytes(bytes).unwrap()
    };
    let one = key("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a");
    let two = key("3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c");
    assert_eq!(
        one.to_string(),
        "tern1q8t44xqps2cs4d74f0ld8jtyquaqactj70d2vge94upp568hqag35zwd443"
    );
    assert_eq!(
        two.to_string(),
        "tern1qy75q97rappcjk5jku92wngm067fexpveuhvf95vcrx4tuf273nqch5jcun"
    );
    assert_eq!(reference_half(&one), "742313771810770206026789279067");
    assert_eq!(reference_half(&two), "126444413329601110621027074684");
    assert_eq!(
        SafetyNumber::new(&one, &two).to_string(),
        "12644 44133 29601 11062 10270 74684 74231 37718 10770 20602 67892 79067"
    );
}
