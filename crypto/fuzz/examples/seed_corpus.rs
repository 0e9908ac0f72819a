//! Writes a seed corpus for every fuzz target into `corpus/<target>/`.
//!
//! Most formats carry Ed25519 signatures or sit behind an AEAD, which a fuzzer cannot forge:
//! from random bytes alone it only ever explores the rejection paths. Valid seeds let it mutate
//! the fields that are not signed (the ratchet state after the identities, the header and
//! ciphertext of a message, the contents of an envelope) and reach the code behind the
//! checks. The seeds for `session_decrypt` and `envelope_open` are built from the same
//! deterministic fixture the targets hold, so they decrypt there.
//!
//! Run from `fuzz/`: `cargo run --example seed_corpus`.

use std::{fs, io, path::Path};

use tern_crypto::{
    AccountKey, DeviceId, Payload, PrekeySecrets, Session, SessionMessage, envelope,
};
use tern_crypto_fuzz::{NOW, fixture, rng};

fn main() -> io::Result<()> {
    let fixture = fixture();
    let mut rng = rng(0x5eed);
    let mut seeds: Vec<(&str, Vec<u8>)> = Vec::new();

    seeds.push(("address", fixture.alice.user_id().to_string().into_bytes()));
    seeds.push((
        "public_identity",
        fixture.alice.public().to_bytes().to_vec(),
    ));
    seeds.push(("prekey_bundle", fixture.bundle.to_bytes()));
    let mut prekeys = PrekeySecrets::generate(&mut rng, &fixture.bob, NOW);
    for one_time in prekeys.generate_one_time(&mut rng, &fixture.bob, 3) {
        seeds.push(("one_time_prekey", one_time.to_bytes()));
    }
    let device = DeviceId::from_bytes(*AccountKey::generate(&mut rng).user_id().as_bytes())
        .expect("an account key is a valid device key");
    let certificate = fixture.bob.certify_device(device, NOW, NOW + 86_400);
    seeds.push(("device_certificate", certificate.to_bytes()));
    seeds.push(("account_key", fixture.alice.to_bytes().to_vec()));
    seeds.push(("prekey_secrets", prekeys.to_bytes().to_vec()));
    seeds.push(("prekey_secrets", fixture.bob_prekeys.to_bytes().to_vec()));
    seeds.push(("session_state", fixture.alice_session.clone()));
    seeds.push(("session_state", fixture.bob_session.clone()));
    let unconfirmed = Session::initiate(&mut rng, &fixture.alice, &fixture.bundle, None, NOW)
        .expect("the fixture bundle is valid");
    seeds.push(("session_state", unconfirmed.to_bytes().to_vec()));
    seeds.push((
        "payload",
        Payload::new(tern_crypto::ContentType::TEXT, "hi")
            .to_bytes()
            .to_vec(),
    ));

    let SessionMessage::Initial(initial) =
        SessionMessage::from_bytes(&fixture.initial).expect("the fixture's message decodes")
    else {
        panic!("the fixture's first message is an initial message");
    };
    seeds.push(("initial_message", initial.to_bytes()));
    seeds.push(("session_message", fixture.initial.clone()));
    seeds.push(("session_decrypt", fixture.initial.clone()));
    let mailbox = fixture.bob.mailbox_public();
    for message in &fixture.in_flight {
        let decoded = SessionMessage::from_bytes(message).expect("the fixture's message decodes");
        if let SessionMessage::Ratchet(ratchet) = &decoded {
            seeds.push(("ratchet_message", ratchet.to_bytes()));
        }
        seeds.push(("session_message", message.clone()));
        seeds.push(("session_decrypt", message.clone()));
        // Mode byte 0: a whole envelope.
        let sealed = envelope::seal(&mut rng, &mailbox, &fixture.alice.user_id(), &decoded)
            .expect("a short message fits");
        seeds.push(("envelope_open", [&[0][..], &sealed].concat()));
        // Mode byte 1: the sealed contents, which the target pads and seals itself.
        let mut contents = vec![1];
        contents.extend_from_slice(fixture.alice.user_id().as_bytes());
        contents.extend_from_slice(&(message.len() as u32).to_be_bytes());
        contents.extend_from_slice(message);
        seeds.push(("envelope_open", contents));
    }

    for start in &fixture.starts {
        seeds.push(("session_respond", start.clone()));
    }
    seeds.push(("session_respond", initial.to_bytes()));
    seeds.push(("key_file", fixture.key_file.to_bytes()));
    let sealed = fixture
        .storage_key
        .seal(&mut rng, "table", b"row", b"value")
        .expect("a short table name");
    seeds.push(("sealed_value", [&[0][..], &sealed].concat()));
    seeds.push(("sealed_value", b"\x01messages\0row 1\0hello".to_vec()));

    for (index, (target, seed)) in seeds.iter().enumerate() {
        let dir = Path::new("corpus").join(target);
        fs::create_dir_all(&dir)?;
        fs::write(dir.join(format!("seed-{index:02}")), seed)?;
    }
    Ok(())
}
