//! The golden transcript: a whole conversation from fixed seeds, every encoding written out in
//! `crypto/tests/golden/transcript.txt`. Any change to a key encoding, label, KDF, header or
//! envelope layout changes a line and fails this test, so such a change is always deliberate.
//!
//! To accept an intended change, regenerate with
//! `TERN_UPDATE_GOLDEN=1 cargo test -p tern-crypto --test protocol golden` and commit the file.
//! The test also reads the pinned bytes back — restoring Bob's keys from the file and opening
//! Alice's envelopes from the file — so the receive side is checked against the fixed format,
//! not only against what this build happens to write.

use std::{collections::BTreeMap, fmt::Write as _, path::PathBuf};

use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;
use tern_crypto::{
    AccountKey, ContentType, DeviceId, Payload, PrekeySecrets, SafetyNumber, Session,
    SessionMessage, envelope,
};

use super::support::initial;

/// 2027-01-15T08:00:00Z.
const T0: u64 = 1_800_000_000;

fn path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/golden/transcript.txt")
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(text: &str) -> Vec<u8> {
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap())
        .collect()
}

/// Plays the conversation and returns `(label, value)` lines in order.
fn transcript() -> Vec<(String, String)> {
    let mut rng = ChaCha20Rng::from_seed(*b"tern golden transcript, seed v1.");
    let mut out = Vec::new();
    let mut put = |label: &str, value: String| out.push((label.to_owned(), value));

    let alice = AccountKey::generate(&mut rng);
    let bob = AccountKey::generate(&mut rng);
    put("alice.address", alice.user_id().to_string());
    put("bob.address", bob.user_id().to_string());
    put("alice.account_state", hex(&alice.to_bytes()));
    put("bob.account_state", hex(&bob.to_bytes()));
    put("alice.public_identity", hex(&alice.public().to_bytes()));
    put("bob.mailbox_id", bob.mailbox_public().id().to_string());
    put(
        "safety_number",
        SafetyNumber::new(&alice.user_id(), &bob.user_id()).to_string(),
    );

    let device =
        DeviceId::from_bytes(*AccountKey::generate(&mut rng).user_id().as_bytes()).unwrap();
    put(
        "alice.device_certificate",
        hex(&alice
            .certify_device(device, T0, T0 + 90 * 86_400)
            .to_bytes()),
    );

    let mut bob_prekeys = PrekeySecrets::generate(&mut rng, &bob, T0);
    let one_time = bob_prekeys.generate_one_time(&mut rng, &bob, 2);
    let bundle = bob_prekeys.bundle(&bob, 7);
    put("bob.one_time_prekey.0", hex(&one_time[0].to_bytes()));
    put("bob.prekey_bundle", hex(&bundle.to_bytes()));
    put("bob.prekey_state", hex(&bob_prekeys.to_bytes()));

    // Alice starts with a one-time prekey and sends two messages before any reply.
    let mut a = Session::initiate(&mut rng, &alice, &bundle, Some(&one_time[0]), T0).unwrap();
    let text = |s: &str| Payload::new(ContentType::TEXT, s).to_bytes();
    let m1 = a
        .encrypt(&mut rng, &text("Hello Bob, this is Alice."))
        .unwrap();
    let m2 = a
        .encrypt(&mut rng, &text("Second message, still unconfirmed."))
        .unwrap();
    put("m1.session_message", hex(&m1.to_bytes()));
    put("m1.replay_tag", hex(&initial(m1.clone()).replay_tag()));
    put(
        "m1.envelope",
        hex(&envelope::seal(&mut rng, bundle.mailbox(), &alice.user_id(), &m1).unwrap()),
    );
    put(
        "m2.envelope",
        hex(&envelope::seal(&mut rng, bundle.mailbox(), &alice.user_id(), &m2).unwrap()),
    );

    // Bob accepts, replies (a DH ratchet step), Alice answers (another), Bob sends a receipt.
    let (mut b, _) = Session::respond(&mut rng, &bob, &mut bob_prekeys, &initial(m1), T0).unwrap();
    b.decrypt(&mut rng, &m2, T0).unwrap();
    let r1 = b.encrypt(&mut rng, &text("Hi Alice!")).unwrap();
    put("r1.session_message", hex(&r1.to_bytes()));
    a.decrypt(&mut rng, &r1, T0 + 1).unwrap();
    let m3 = a
        .encrypt(&mut rng, &text("Now we are ratcheting."))
        .unwrap();
    let m4 = a.encrypt(&mut rng, &text("Same chain, next key.")).unwrap();
    put("m3.session_message", hex(&m3.to_bytes()));
    put(
        "m3.direct_envelope",
        hex(&envelope::direct(&alice.user_id(), &m3).unwrap()),
    );
    put(
        "m4.envelope",
        hex(&envelope::seal(&mut rng, bundle.mailbox(), &alice.user_id(), &m4).unwrap()),
    );
    b.decrypt(&mut rng, &m4, T0 + 2).unwrap();
    b.decrypt(&mut rng, &m3, T0 + 2).unwrap();
    let receipt = b
        .encrypt(
            &mut rng,
            &Payload::new(ContentType::RECEIPT, [0u8; 16]).to_bytes(),
        )
        .unwrap();
    put(
        "receipt.envelope",
        hex(&envelope::seal(&mut rng, &alice.mailbox_public(), &bob.user_id(), &receipt).unwrap()),
    );

    put("alice.session_state", hex(&a.to_bytes()));
    put("bob.session_state", hex(&b.to_bytes()));
    put("bob.prekey_state_after", hex(&bob_prekeys.to_bytes()));
    out
}

#[test]
fn golden_transcript_is_unchanged() {
    let lines = transcript();
    let mut text = String::from(
        "# Tern crypto golden transcript, format v1. Generated from fixed seeds by\n\
         # crypto/tests/protocol/golden.rs; regenerate with TERN_UPDATE_GOLDEN=1 (see that file).\n",
    );
    for (label, value) in &lines {
        writeln!(text, "{label} = {value}").unwrap();
    }
    if std::env::var_os("TERN_UPDATE_GOLDEN").is_some() {
        std::fs::write(path(), &text).unwrap();
    }
    let pinned = std::fs::read_to_string(path())
        .expect("golden transcript missing; run with TERN_UPDATE_GOLDEN=1");
    for (i, (want, got)) in pinned.lines().zip(text.lines()).enumerate() {
        assert_eq!(want, got, "golden transcript differs at line {}", i + 1);
    }
    assert_eq!(
        pinned.lines().count(),
        text.lines().count(),
        "golden transcript has a different number of lines"
    );
}

#[test]
fn pinned_bytes_are_read_back() {
    let pinned = std::fs::read_to_string(path()).unwrap();
    let values: BTreeMap<&str, &str> = pinned
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.split_once(" = "))
        .collect();
    let bytes = |label: &str| unhex(values[label]);

    let bob = AccountKey::from_bytes(&bytes("bob.account_state")).unwrap();
    assert_eq!(bob.user_id().to_string(), values["bob.address"]);
    let mut prekeys = PrekeySecrets::from_bytes(&bytes("bob.prekey_state")).unwrap();
    let bundle = tern_crypto::PrekeyBundle::from_bytes(&bytes("bob.prekey_bundle")).unwrap();
    bundle.verify_at(T0).unwrap();
    let certificate =
        tern_crypto::DeviceCertificate::from_bytes(&bytes("alice.device_certificate")).unwrap();
    certificate.verify(T0).unwrap();

    let mut rng = ChaCha20Rng::from_seed([1; 32]);
    let open = |label: &str| envelope::open(bob.mailbox_secret(), &bytes(label)).unwrap();
    let m3 = open("m3.direct_envelope");
    assert_eq!(m3.form, envelope::Form::Direct);
    assert_eq!(m3.sender.to_string(), values["alice.address"]);
    assert_eq!(m3.message.to_bytes(), bytes("m3.session_message"));
    let m1 = open("m1.envelope");
    assert_eq!(m1.sender.to_string(), values["alice.address"]);
    let SessionMessage::Initial(start) = m1.message else {
        panic!("m1 is a session start")
    };
    let (mut session, first) = Session::respond(&mut rng, &bob, &mut prekeys, &start, T0).unwrap();
    assert_eq!(
        Payload::from_bytes(&first).unwrap(),
        Payload::new(ContentType::TEXT, "Hello Bob, this is Alice.")
    );
    let second = session
        .decrypt(&mut rng, &open("m2.envelope").message, T0)
        .unwrap();
    assert_eq!(
        Payload::from_bytes(&second).unwrap().body,
        b"Second message, still unconfirmed."
    );

    // Bob's restored session (after the whole conversation) can still read nothing twice, and
    // Alice's restored session can read Bob's receipt.
    let alice_session = Session::from_bytes(&bytes("alice.session_state")).unwrap();
    let alice_account = AccountKey::from_bytes(&bytes("alice.account_state")).unwrap();
    let receipt =
        envelope::open(alice_account.mailbox_secret(), &bytes("receipt.envelope")).unwrap();
    assert_eq!(receipt.sender, bob.user_id());
    // The pinned Alice state is after the receipt was sent but before she received it.
    let mut alice_session = alice_session;
    let plaintext = alice_session
        .decrypt(&mut rng, &receipt.message, T0 + 3)
        .unwrap();
    assert_eq!(
        Payload::from_bytes(&plaintext).unwrap().content_type,
        ContentType::RECEIPT
    );
}

/// Session states stored in format version 1 still load. A responder's such state holds no
/// start digest, so it refuses initial messages (see `Session::decrypt`); an initiator's
/// still carries its pending header.
#[test]
fn version_1_session_states_still_load() {
    let text = std::fs::read_to_string(
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/golden/session_state_v1.txt"),
    )
    .unwrap();
    let mut loaded = 0;
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        let (name, hex) = line.split_once(" = ").unwrap();
        let bytes = hex::decode(hex).unwrap();
        assert_eq!(bytes[0], 1, "{name}");
        let session = Session::from_bytes(&bytes).unwrap();
        assert_eq!(
            session.to_bytes()[0],
            2,
            "{name} is stored as version 2 again"
        );
        loaded += 1;
    }
    assert_eq!(loaded, 2);
}
