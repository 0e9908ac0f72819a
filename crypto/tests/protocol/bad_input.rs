//! Every decoder of untrusted bytes returns a typed error on truncated, oversized, altered or
//! random input, and never panics.

use proptest::prelude::*;
use rand_core::Rng;
use tern_crypto::{
    AccountKey, DecodeError, DeviceCertificate, InitialMessage, OneTimePrekey, Payload,
    PrekeyBundle, PrekeySecrets, PublicIdentity, RatchetMessage, Session, SessionMessage, UserId,
    at_rest::{KdfParams, KeyFile},
    envelope,
};

use super::support::{NOW, World, initial};

/// Runs every decoder on `bytes`; the point is that none panics.
fn decode_all(bytes: &[u8], bob: &AccountKey) {
    let _ = PrekeyBundle::from_bytes(bytes);
    let _ = OneTimePrekey::from_bytes(bytes);
    let _ = DeviceCertificate::from_bytes(bytes);
    let _ = PublicIdentity::from_bytes(bytes);
    let _ = InitialMessage::from_bytes(bytes);
    let _ = RatchetMessage::from_bytes(bytes);
    let _ = SessionMessage::from_bytes(bytes);
    let _ = Payload::from_bytes(bytes);
    let _ = envelope::open(bob.mailbox_secret(), bytes);
    let _ = AccountKey::from_bytes(bytes);
    let _ = PrekeySecrets::from_bytes(bytes);
    let _ = Session::from_bytes(bytes);
    let _ = KeyFile::from_bytes(bytes);
    let _ = String::from_utf8_lossy(bytes).parse::<UserId>();
}

/// Valid encodings of every format, to truncate and mutate.
fn samples() -> (AccountKey, Vec<(&'static str, Vec<u8>)>) {
    let mut w = World::new(40);
    let (mut alice, bob) = w.established();
    let mut fresh = Session::initiate(&mut w.rng, &w.alice, &w.bundle, None, NOW).unwrap();
    let start = fresh.encrypt(&mut w.rng, b"start").unwrap();
    let ratchet = alice.encrypt(&mut w.rng, b"ratchet").unwrap();
    let sealed =
        envelope::seal(&mut w.rng, w.bundle.mailbox(), &w.alice.user_id(), &ratchet).unwrap();
    let device = tern_crypto::DeviceId::from_bytes(*w.alice.user_id().as_bytes()).unwrap();
    let (key_file, _) =
        KeyFile::create(&mut w.rng, b"pass", KdfParams::new(64, 1, 1).unwrap()).unwrap();
    let samples = vec![
        ("bundle", w.bundle.to_bytes()),
        ("one-time prekey", w.one_time[1].to_bytes()),
        (
            "certificate",
            w.bob.certify_device(device, NOW, NOW + 10).to_bytes(),
        ),
        ("identity", w.alice.public().to_bytes().to_vec()),
        ("initial message", initial(start.clone()).to_bytes()),
        ("session message", ratchet.to_bytes()),
        ("envelope", sealed),
        ("account state", w.alice.to_bytes().to_vec()),
        ("prekey state", w.bob_prekeys.to_bytes().to_vec()),
        ("session state", bob.to_bytes().to_vec()),
        ("key file", key_file.to_bytes()),
    ];
    (w.bob, samples)
}

#[test]
fn every_truncation_of_every_format_is_refused() {
    let (bob, samples) = samples();
    for (name, bytes) in &samples {
        for len in 0..bytes.len() {
            let cut = &bytes[..len];
            decode_all(cut, &bob);
            let refused = match *name {
                "bundle" => PrekeyBundle::from_bytes(cut).is_err(),
                "one-time prekey" => OneTimePrekey::from_bytes(cut).is_err(),
                "certificate" => DeviceCertificate::from_bytes(cut).is_err(),
                "identity" => PublicIdentity::from_bytes(cut).is_err(),
                // A cut inside the ciphertext still decodes; decryption then refuses it (tested
                // in `properties`). A cut before the tag must be refused here.
                "initial message" => {
                    InitialMessage::from_bytes(cut).is_err() || len > bytes.len() - 16
                }
                "session message" => {
                    SessionMessage::from_bytes(cut).is_err() || len > bytes.len() - 16
                }
                "envelope" => envelope::open(bob.mailbox_secret(), cut).is_err(),
                "account state" => AccountKey::from_bytes(cut).is_err(),
                "prekey state" => PrekeySecrets::from_bytes(cut).is_err(),
                "session state" => Session::from_bytes(cut).is_err(),
                "key file" => KeyFile::from_bytes(cut).is_err(),
                _ => unreachable!(),
            };
            assert!(
                refused,
                "{name} truncated to {len} of {} bytes was accepted",
                bytes.len()
            );
        }
        // One byte too many is refused too (each format has one valid length).
        let mut long = bytes.clone();
        long.push(0);
        let refused = match *name {
            "bundle" => PrekeyBundle::from_bytes(&long).is_err(),
            "one-time prekey" => OneTimePrekey::from_bytes(&long).is_err(),
            "certificate" => DeviceCertificate::from_bytes(&long).is_err(),
            "identity" => PublicIdentity::from_bytes(&long).is_err(),
            "envelope" => envelope::open(bob.mailbox_secret(), &long).is_err(),
            "account state" => AccountKey::from_bytes(&long).is_err(),
            "prekey state" => PrekeySecrets::from_bytes(&long).is_err(),
            "session state" => Session::from_bytes(&long).is_err(),
            "key file" => KeyFile::from_bytes(&long).is_err(),
            // Messages extend to the end of their input; an extra byte is ciphertext and fails
            // authentication.
            _ => true,
        };
        assert!(refused, "{name} with a trailing byte was accepted");
    }
}

#[test]
fn states_from_a_newer_version_are_refused_with_a_typed_error() {
    let (_, samples) = samples();
    for (name, bytes) in samples
        .iter()
        .filter(|(n, _)| n.ends_with("state") || *n == "key file")
    {
        let mut newer = bytes.clone();
        newer[0] = newer[0].wrapping_add(1);
        let err = match *name {
            "account state" => AccountKey::from_bytes(&newer).err(),
            "prekey state" => PrekeySecrets::from_bytes(&newer).err(),
            "session state" => Session::from_bytes(&newer).err(),
            "key file" => KeyFile::from_bytes(&newer).err(),
            _ => unreachable!(),
        };
        assert!(
            matches!(
                err,
                Some(DecodeError::UnsupportedVersion { found, supported, .. })
                    if found == newer[0] && supported == bytes[0]
            ),
            "{name}: {err:?}"
        );
    }
}

#[test]
fn envelopes_of_wrong_sizes_are_refused_before_any_work() {
    let (bob, _) = samples();
    for len in [0, 1, 33, 1023, 1025, 4095, 300_000] {
        assert_eq!(
            envelope::open(bob.mailbox_secret(), &vec![1u8; len]).unwrap_err(),
            envelope::EnvelopeError::BadLength(len)
        );
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn random_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..2048)) {
        let bob = AccountKey::generate(&mut super::support::rng(41));
        decode_all(&bytes, &bob);
        // Also with each format's leading version/tag byte in place, to reach deeper fields.
        for lead in [1u8, 2] {
            let mut led = bytes.clone();
            led.insert(0, lead);
            decode_all(&led, &bob);
        }
    }

    #[test]
    fn random_envelopes_of_valid_sizes_are_refused(bucket in 0usize..3, fill in any::<u64>()) {
        let bob = AccountKey::generate(&mut super::support::rng(42));
        let mut rng = super::support::rng(fill);
        let mut bytes = vec![0u8; envelope::BUCKETS[bucket]];
        rng.fill_bytes(&mut bytes);
        bytes[0] = 1;
        prop_assert_eq!(envelope::open(bob.mailbox_secret(), &bytes).unwrap_err(), envelope::EnvelopeError::NotForUs);
    }

    #[test]
    fn mutated_valid_encodings_never_panic(index in any::<usize>(), byte in any::<usize>(), value in any::<u8>()) {
        let (bob, samples) = SAMPLES.with(|s| s.clone());
        let (_, bytes) = &samples[index % samples.len()];
        let mut mutated = bytes.clone();
        let at = byte % mutated.len();
        mutated[at] = value;
        decode_all(&mutated, &bob);
    }
}

thread_local! {
    static SAMPLES: (std::rc::Rc<AccountKey>, Vec<(&'static str, Vec<u8>)>) = {
        let (bob, samples) = samples();
        (std::rc::Rc::new(bob), samples)
    };
}
