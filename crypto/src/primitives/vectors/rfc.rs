//! The worked examples printed in the specifications, typed in as hex.
//!
//! Each test names the section its values come from. Where a specification gives only one
//! direction (for example a ciphertext to decrypt), the test runs both: sealing must reproduce
//! the published bytes and opening must give back the published plaintext, because the crate
//! relies on both halves.

use ed25519_dalek::SigningKey;

use super::{FixedRng, a, h};
use crate::primitives::{
    PrimitiveError, argon2id_keyed, chacha_open, chacha_seal, ed25519_parse_public, ed25519_sign,
    ed25519_verify, hkdf_sha256, hmac_sha256, hpke_derive_keypair, hpke_open, hpke_seal, sha256,
    x25519, x25519_is_low_order, x25519_public, xchacha_open, xchacha_seal,
};

// ---- X25519 (RFC 7748) ----

/// RFC 7748 §5.2, the two single X25519 evaluations.
#[test]
fn x25519_rfc7748_5_2_single_evaluations() {
    let cases = [
        (
            "a546e36bf0527c9d3b16154b82465edd62144c0ac1fc5a18506a2244ba449ac4",
            "e6db6867583030db3594c1a424b15f7c726624ec26b3353b10a903a6d0ab1c4c",
            "c3da55379de9c6908e94ea4df28d084f32eccf03491c71f754b4075577a28552",
        ),
        (
            "4b66e9d4d1b4673c5ad22691957d6af5c11b6421e0ea01d42ca4169e7918ba0d",
            "e5210f12786811d3f4b7959d0538ae2c31dbe7106fc03c3efc4cd549c715a493",
            "95cbde9476e8907d7aade45cb4b873f88b595a68799fa152e6f8f7647aac7957",
        ),
    ];
    for (scalar, u, expected) in cases {
        let out = x25519(&a(scalar), &a(u)).unwrap();
        assert_eq!(*out, a::<32>(expected), "X25519({scalar}, {u})");
    }
}

/// RFC 7748 §5.2, the iterated test: start with k = u = 9, then repeatedly set
/// `(k, u) = (X25519(k, u), k)`. The RFC gives k after 1, 1,000 and 1,000,000 iterations; the
/// last would take minutes in a debug build and adds nothing the first two do not check.
#[test]
fn x25519_rfc7748_5_2_iterated() {
    let mut k = [0u8; 32];
    k[0] = 9;
    let mut u = k;
    fn step(k: &mut [u8; 32], u: &mut [u8; 32]) {
        let next = *x25519(k, u).unwrap();
        *u = *k;
        *k = next;
    }

    step(&mut k, &mut u);
    assert_eq!(
        k,
        a::<32>("422c8e7a6227d7bca1350b3e2bb7279f7897b87bb6854b783c60e80311ae3079"),
        "after 1 iteration"
    );
    for _ in 1..1000 {
        step(&mut k, &mut u);
    }
    assert_eq!(
        k,
        a::<32>("684cf59ba83309552800ef566f2f4d3c1c3887c49360e3875f2eb94d99532c51"),
        "after 1,000 iterations"
    );
}

/// RFC 7748 §6.1, the Diffie-Hellman example: both public keys from the private keys, and the
/// same shared secret computed from either side.
#[test]
fn x25519_rfc7748_6_1_diffie_hellman() {
    let alice_private = a::<32>("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a");
    let alice_public = a::<32>("8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a");
    let bob_private = a::<32>("5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb");
    let bob_public = a::<32>("de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f");
    let shared = a::<32>("4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742");

    assert_eq!(x25519_public(&alice_private), alice_public);
    assert_eq!(x25519_public(&bob_private), bob_public);
    // Honest keys must pass the low-order screen that received keys go through.
    assert!(!x25519_is_low_order(&alice_public));
    assert!(!x25519_is_low_order(&bob_public));
    assert_eq!(*x25519(&alice_private, &bob_public).unwrap(), shared);
    assert_eq!(*x25519(&bob_private, &alice_public).unwrap(), shared);
}

// ---- Ed25519 (RFC 8032) ----

/// RFC 8032 §7.1, TEST 1, TEST 2, TEST 3 and TEST SHA(abc). Ed25519 signatures are
/// deterministic, so signing must reproduce the published signature byte for byte, and the
/// strict verifier must accept it. TEST 1024 is left out: its 1,023-byte message adds length but
/// no code path the others miss.
#[test]
fn ed25519_rfc8032_7_1() {
    // (name, secret key, public key, message, signature)
    let cases = [
        (
            "TEST 1",
            "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
            "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a",
            "",
            "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b",
        ),
        (
            "TEST 2",
            "4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb",
            "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c",
            "72",
            "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00",
        ),
        (
            "TEST 3",
            "c5aa8df43f9f837bedb7442f31dcb7b166d38535076f094b85ce3a2e0b4458f7",
            "fc51cd8e6218a1a38da47ed00230f0580816ed13ba3303ac5deb911548908025",
            "af82",
            "6291d657deec24024827e69c3abe01a30ce548a284743a445e3680d7db5ac3ac18ff9b538d16f290ae67f760984dc6594a7c15e9716ed28dc027beceea1ec40a",
        ),
        (
            // The message is SHA-512("abc"), as printed in the RFC.
            "TEST SHA(abc)",
            "833fe62409237b9d62ec77587520911e9a759cec1d19755b7da901b96dca3d42",
            "ec172b93ad5e563bf4932c70e1245034c35467ef2efd4d64ebf819683467e2bf",
            "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a\
             2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f",
            "dc2a4459e7369633a52b1bf277839a00201009a3efbf3ecb69bea2186c26b58909351fc9ac90b3ecfdfbc7c66431e0303dca179c138ac17ad9bef1177331a704",
        ),
    ];
    for (name, secret, public, message, signature) in cases {
        let key = SigningKey::from_bytes(&a(secret));
        let public = a::<32>(public);
        let message = h(message);
        let signature = a::<64>(signature);

        assert_eq!(key.verifying_key().to_bytes(), public, "{name}: public key");
        assert!(
            ed25519_parse_public(&public).is_ok(),
            "{name}: public key parses"
        );
        assert_eq!(ed25519_sign(&key, &message), signature, "{name}: signature");
        assert_eq!(
            ed25519_verify(&public, &message, &signature),
            Ok(()),
            "{name}: verifies"
        );

        // A changed message must break the signature; this guards against a verifier that
        // accepts everything, which the positive checks alone would not catch.
        let mut altered = message.clone();
        altered.push(0);
        assert_eq!(
            ed25519_verify(&public, &altered, &signature),
            Err(PrimitiveError::BadSignature),
            "{name}"
        );
    }
}

// ---- SHA-256 (FIPS 180) ----

/// The SHA-256 examples of FIPS 180-2 appendix B (B.1 "abc", B.2 the 448-bit two-block
/// message) and the digest of the empty string. The wrapper hashes a list of parts, so each
/// message is also fed in pieces, which must not change the digest.
#[test]
fn sha256_fips180_examples() {
    let cases: [(&[u8], &str); 3] = [
        (
            b"",
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        ),
        (
            b"abc",
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
        ),
        (
            b"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1",
        ),
    ];
    for (message, digest) in cases {
        let digest = a::<32>(digest);
        assert_eq!(sha256(&[message]), digest);
        let (head, tail) = message.split_at(message.len() / 2);
        assert_eq!(sha256(&[head, &[], tail]), digest);
    }
}

// ---- HMAC-SHA256 (RFC 4231) ----

/// RFC 4231 §4.2–§4.8, test cases 1 to 7 for HMAC-SHA-256. Test case 5 publishes only the
/// first 128 bits of the tag, so only that prefix is compared.
#[test]
fn hmac_sha256_rfc4231() {
    let aa131 = "aa".repeat(131);
    // (test case, key, data, tag or tag prefix)
    let cases = [
        (
            1,
            "0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b".to_owned(),
            "4869205468657265",
            "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7",
        ),
        (
            2,
            "4a656665".to_owned(),
            "7768617420646f2079612077616e7420666f72206e6f7468696e673f",
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843",
        ),
        (
            3,
            "aa".repeat(20),
            "dddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddd",
            "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe",
        ),
        (
            4,
            "0102030405060708090a0b0c0d0e0f10111213141516171819".to_owned(),
            "cdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcd",
            "82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b",
        ),
        (
            5,
            "0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c".to_owned(),
            "546573742057697468205472756e636174696f6e",
            "a3b6167473100ee06e0c796c2955552b",
        ),
        (
            6,
            aa131.clone(),
            "54657374205573696e67204c6172676572205468616e20426c6f636b2d53697a65204b6579202d2048617368204b6579204669727374",
            "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54",
        ),
        (
            7,
            aa131,
            "5468697320697320612074657374207573696e672061206c6172676572207468616e20626c6f636b2d73697a65206b\
             657920616e642061206c6172676572207468616e20626c6f636b2d73697a6520646174612e20546865206b6579206e\
             6565647320746f20626520686173686564206265666f7265206265696e6720757365642062792074686520484d4143\
             20616c676f726974686d2e",
            "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2",
        ),
    ];
    for (case, key, data, tag) in cases {
        let tag = h(tag);
        let mac = hmac_sha256(&h(&key), &h(data));
        assert_eq!(mac[..tag.len()], tag[..], "RFC 4231 test case {case}");
    }
}

// ---- HKDF-SHA256 (RFC 5869) ----

/// RFC 5869 appendix A.1–A.3, the SHA-256 cases. The wrapper does extract-then-expand in one
/// call, so the OKM is compared through it, and the PRK is checked separately as
/// `HMAC(salt, IKM)`, which is how §2.2 defines the extract step.
#[test]
fn hkdf_sha256_rfc5869() {
    // (appendix, IKM, salt, info, PRK, OKM)
    let cases = [
        (
            "A.1",
            "0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b",
            "000102030405060708090a0b0c",
            "f0f1f2f3f4f5f6f7f8f9",
            "077709362c2e32df0ddc3f0dc47bba6390b6c73bb50f9c3122ec844ad7c2b3e5",
            "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865",
        ),
        (
            "A.2",
            "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f\
             202122232425262728292a2b2c2d2e2f303132333435363738393a3b3c3d3e3f\
             404142434445464748494a4b4c4d4e4f",
            "606162636465666768696a6b6c6d6e6f707172737475767778797a7b7c7d7e7f\
             808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f\
             a0a1a2a3a4a5a6a7a8a9aaabacadaeaf",
            "b0b1b2b3b4b5b6b7b8b9babbbcbdbebfc0c1c2c3c4c5c6c7c8c9cacbcccdcecf\
             d0d1d2d3d4d5d6d7d8d9dadbdcdddedfe0e1e2e3e4e5e6e7e8e9eaebecedeeef\
             f0f1f2f3f4f5f6f7f8f9fafbfcfdfeff",
            "06a6b88c5853361a06104c9ceb35b45cef760014904671014a193f40c15fc244",
            "b11e398dc80327a1c8e7f78c596a49344f012eda2d4efad8a050cc4c19afa97c\
             59045a99cac7827271cb41c65e590e09da3275600c2f09b8367793a9aca3db71\
             cc30c58179ec3e87c14c01d5c1f3434f1d87",
        ),
        (
            // Zero-length salt and info.
            "A.3",
            "0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b",
            "",
            "",
            "19ef24a32c717b167f33a91d6f648bdf96596776afdb6377ac434c1c293ccb04",
            "8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d9d201395faa4b61a96c8",
        ),
    ];
    for (appendix, ikm, salt, info, prk, okm) in cases {
        let (ikm, salt, info, okm) = (h(ikm), h(salt), h(info), h(okm));
        assert_eq!(hmac_sha256(&salt, &ikm), a::<32>(prk), "{appendix}: PRK");

        let mut out = vec![0u8; okm.len()];
        hkdf_sha256(Some(&salt), &ikm, &info, &mut out).unwrap();
        assert_eq!(out, okm, "{appendix}: OKM");
    }

    // A.3 is also the case where "salt not provided" applies: §2.2 says the default is a string
    // of HashLen zeros, which HMAC treats exactly like the empty key, so `None` must agree.
    let mut out = [0u8; 42];
    hkdf_sha256(
        None,
        &h("0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b"),
        &[],
        &mut out,
    )
    .unwrap();
    assert_eq!(
        out[..],
        h("8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d9d201395faa4b61a96c8")[..]
    );
}

// ---- ChaCha20-Poly1305 (RFC 8439) and XChaCha20-Poly1305 (draft-irtf-cfrg-xchacha) ----

/// The 114-byte "sunscreen" plaintext shared by RFC 8439 §2.8.2 and draft-irtf-cfrg-xchacha
/// §A.3.1.
const SUNSCREEN: &str = "4c616469657320616e642047656e746c656d656e206f662074686520636c617373206f66202739393a2049\
                         66204920636f756c64206f6666657220796f75206f6e6c79206f6e652074697020666f722074686520667574\
                         7572652c2073756e73637265656e20776f756c642062652069742e";
/// The key shared by RFC 8439 §2.8.2 and draft-irtf-cfrg-xchacha §A.3.1: bytes 0x80 to 0x9f.
const SUNSCREEN_KEY: &str = "808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f";
/// The associated data shared by RFC 8439 §2.8.2 and draft-irtf-cfrg-xchacha §A.3.1.
const SUNSCREEN_AAD: &str = "50515253c0c1c2c3c4c5c6c7";

/// RFC 8439 §2.8.2, the AEAD_CHACHA20_POLY1305 example: sealing gives the published ciphertext
/// and tag, opening gives the plaintext back, and a changed tag is refused.
#[test]
fn chacha20poly1305_rfc8439_2_8_2() {
    let key = a::<32>(SUNSCREEN_KEY);
    let nonce = a::<12>("070000004041424344454647");
    let aad = h(SUNSCREEN_AAD);
    let plaintext = h(SUNSCREEN);
    let sealed = h(
        "d31a8d34648e60db7b86afbc53ef7ec2a4aded51296e08fea9e2b5a736ee62d63dbea45e8ca9671282fafb69da92728b\
                    1a71de0a9e060b2905d6a5b67ecd3b3692ddbd7f2d778b8c9803aee328091b58fab324e4fad675945585808b4831d7bc\
                    3ff4def08e4b7a9de576d26586cec64b6116\
                    1ae10b594f09e26a7e902ecbd0600691",
    );

    assert_eq!(chacha_seal(&key, &nonce, &aad, &plaintext), sealed);
    assert_eq!(chacha_open(&key, &nonce, &aad, &sealed).unwrap(), plaintext);

    let mut tampered = sealed;
    *tampered.last_mut().unwrap() ^= 1;
    assert_eq!(
        chacha_open(&key, &nonce, &aad, &tampered),
        Err(PrimitiveError::Authentication)
    );
}

/// RFC 8439 §A.5, the ChaCha20-Poly1305 AEAD decryption example. The RFC presents it as a
/// decryption, so opening is the primary check; sealing the plaintext must also give the same
/// bytes back, since the construction is deterministic.
#[test]
fn chacha20poly1305_rfc8439_a_5() {
    let key = a::<32>("1c9240a5eb55d38af333888604f6b5f0473917c1402b80099dca5cbc207075c0");
    let nonce = a::<12>("000000000102030405060708");
    let aad = h("f33388860000000000004e91");
    let sealed = h(
        "64a0861575861af460f062c79be643bd5e805cfd345cf389f108670ac76c8cb24c6cfc18755d43eea09ee94e382d26b0\
                    bdb7b73c321b0100d4f03b7f355894cf332f830e710b97ce98c8a84abd0b948114ad176e008d33bd60f982b1ff37c855\
                    9797a06ef4f0ef61c186324e2b3506383606907b6a7c02b0f9f6157b53c867e4b9166c767b804d46a59b5216cde7a4e9\
                    9040c5a40433225ee282a1b0a06c523eaf4534d7f83fa1155b0047718cbc546a0d072b04b3564eea1b422273f548271a\
                    0bb2316053fa76991955ebd63159434ecebb4e466dae5a1073a6727627097a1049e617d91d361094fa68f0ff77987130\
                    305beaba2eda04df997b714d6c6f2c29a6ad5cb4022b02709b\
                    eead9d67890cbb22392336fea1851f38",
    );
    let plaintext = h(
        "496e7465726e65742d4472616674732061726520647261667420646f63756d656e74732076616c696420666f7220\
                       61206d6178696d756d206f6620736978206d6f6e74687320616e64206d617920626520757064617465642c207265\
                       706c616365642c206f72206f62736f6c65746564206279206f7468657220646f63756d656e747320617420616e79\
                       2074696d652e20497420697320696e617070726f70726961746520746f2075736520496e7465726e65742d447261\
                       667473206173207265666572656e6365206d6174657269616c206f7220746f2063697465207468656d206f746865\
                       72207468616e206173202fe2809c776f726b20696e2070726f67726573732e2fe2809d",
    );

    assert_eq!(chacha_open(&key, &nonce, &aad, &sealed).unwrap(), plaintext);
    assert_eq!(chacha_seal(&key, &nonce, &aad, &plaintext), sealed);
}

/// draft-irtf-cfrg-xchacha-03 §A.3.1, the AEAD_XCHACHA20_POLY1305 example: the same key,
/// associated data and plaintext as RFC 8439 §2.8.2, with the 24-byte nonce 0x40..0x57.
#[test]
fn xchacha20poly1305_draft_irtf_cfrg_xchacha_a_3_1() {
    let key = a::<32>(SUNSCREEN_KEY);
    let nonce = a::<24>("404142434445464748494a4b4c4d4e4f5051525354555657");
    let aad = h(SUNSCREEN_AAD);
    let plaintext = h(SUNSCREEN);
    let sealed = h(
        "bd6d179d3e83d43b9576579493c0e939572a1700252bfaccbed2902c21396cbb731c7f1b0b4aa6440bf3a82f4eda7e39\
                    ae64c6708c54c216cb96b72e1213b4522f8c9ba40db5d945b11b69b982c1bb9e3f3fac2bc369488f76b2383565d3fff9\
                    21f9664c97637da9768812f615c68b13b52e\
                    c0875924c1c7987947deafd8780acf49",
    );

    assert_eq!(xchacha_seal(&key, &nonce, &aad, &plaintext), sealed);
    assert_eq!(
        *xchacha_open(&key, &nonce, &aad, &sealed).unwrap(),
        plaintext
    );

    let mut tampered = sealed;
    tampered[0] ^= 1;
    assert_eq!(
        xchacha_open(&key, &nonce, &aad, &tampered),
        Err(PrimitiveError::Authentication)
    );
}

// ---- HPKE (RFC 9180) ----

/// RFC 9180 §A.2.1: DHKEM(X25519, HKDF-SHA256), HKDF-SHA256, ChaCha20Poly1305, base mode, the
/// exact suite the crate uses.
///
/// Three checks: `DeriveKeyPair` on both published IKMs gives the published key pairs; the
/// recipient opens the sequence-number-0 ciphertext; and sealing with an RNG that supplies
/// exactly `ikmE` reproduces `enc` and the ciphertext byte for byte. The last one works because
/// `hpke-rs` makes its ephemeral key as `DeriveKeyPair(32 random bytes)`, the same
/// derivation the RFC used to produce the vector from `ikmE`.
#[test]
fn hpke_rfc9180_a_2_1_base() {
    let info = h("4f6465206f6e2061204772656369616e2055726e");
    let ikm_e = h("909a9b35d3dc4713a5e72a4da274b55d3d3821a37e5d099e74a647db583a904b");
    let pk_em = a::<32>("1afa08d3dec047a643885163f1180476fa7ddb54c6a8029ea33f95796bf2ac4a");
    let sk_em = a::<32>("f4ec9b33b792c372c1d2c2063507b684ef925b8c75a42dbcbf57d63ccd381600");
    let ikm_r = h("1ac01f181fdf9f352797655161c58b75c656a6cc2716dcb66372da835542e1df");
    let pk_rm = a::<32>("4310ee97d88cc1f088a5576c77ab0cf5c3ac797f3d95139c6c84b5429c59662a");
    let sk_rm = a::<32>("8057991eef8f1f1af18f4a9491d16a1ce333f695d4db8e38da75975c4478e0fb");
    // In base mode with DHKEM, enc is the serialized ephemeral public key.
    let enc = pk_em;
    // Sequence number 0 of §A.2.1.1.
    let plaintext = h("4265617574792069732074727574682c20747275746820626561757479");
    let aad = h("436f756e742d30");
    let ciphertext = h(
        "1c5250d8034ec2b784ba2cfd69dbdb8af406cfe3ff938e131f0def8c8b60b4db21993c62ce81883d2dd1b51a28",
    );

    // The appendix prints the private keys as LabeledExpand produced them, unclamped, but
    // §7.1.2 requires SerializePrivateKey for X25519 to clamp its output, and the `hpke` crate
    // does. So the derived secret must equal the clamped published key, and the published
    // unclamped key must still be the same X25519 key (same public key); `hpke_open` below
    // also takes the unclamped form, since DeserializePrivateKey clamps its input.
    let (secret, public) = hpke_derive_keypair(&ikm_r);
    assert_eq!(
        (*secret, public),
        (clamp(sk_rm), pk_rm),
        "DeriveKeyPair(ikmR)"
    );
    assert_eq!(x25519_public(&sk_rm), pk_rm);
    let (secret, public) = hpke_derive_keypair(&ikm_e);
    assert_eq!(
        (*secret, public),
        (clamp(sk_em), pk_em),
        "DeriveKeyPair(ikmE)"
    );
    assert_eq!(x25519_public(&sk_em), pk_em);

    assert_eq!(
        hpke_open(&sk_rm, &enc, &info, &aad, &ciphertext).unwrap(),
        plaintext
    );

    let mut rng = FixedRng::new(ikm_e);
    let (sealed_enc, sealed) = hpke_seal(&mut rng, &pk_rm, &info, &aad, &plaintext).unwrap();
    assert!(
        rng.exhausted(),
        "hpke_seal must draw exactly the 32-byte ikmE"
    );
    assert_eq!(sealed_enc, enc);
    assert_eq!(sealed, ciphertext);

    // The same ciphertext under other associated data must not open.
    assert_eq!(
        hpke_open(&sk_rm, &enc, &info, b"Count-1", &ciphertext),
        Err(PrimitiveError::Authentication)
    );
}

/// The bit operations of `decodeScalar25519` in RFC 7748 §5, which RFC 9180 §7.1.2 calls
/// clamping.
fn clamp(mut scalar: [u8; 32]) -> [u8; 32] {
    scalar[0] &= 248;
    scalar[31] &= 127;
    scalar[31] |= 64;
    scalar
}

// ---- Argon2id (RFC 9106) ----

/// RFC 9106 §5.3, the Argon2id test vector: version 0x13, 32 KiB, 3 passes, 4 lanes, with the
/// optional secret and associated data, 32-byte tag. This is the only published vector that
/// exercises `argon2id_keyed`'s secret and associated-data inputs.
#[test]
fn argon2id_rfc9106_5_3() {
    let password = [0x01u8; 32];
    let salt = [0x02u8; 16];
    let secret = [0x03u8; 8];
    let associated = [0x04u8; 12];
    let mut tag = [0u8; 32];
    argon2id_keyed(&password, &salt, &secret, &associated, 32, 3, 4, &mut tag).unwrap();
    assert_eq!(
        tag,
        a::<32>("0d640df58d78766c08c037a34a8b53c9d01ef0452d75b65eb52520e96b01e659")
    );
}
