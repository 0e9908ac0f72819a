#![no_main]
//! `envelope::open` on envelopes from relays, to a fixed mailbox.
//!
//! The first input byte picks what the rest is. Even: a whole envelope, as a relay delivers
//! it; almost all of these stop at HPKE, which is the point of the format. Odd: the sealed
//! contents, which this target pads with zeros to the next bucket and seals to the mailbox
//! itself, so that the fuzzer reaches the parser behind HPKE (sender, length, session message,
//! padding) as only a sender could.
//!
//! The contents have one valid form per message, so contents that open must be exactly the
//! sender, the length, the re-encoded message and zero padding.

use hpke::{Deserializable, OpModeS, Serializable};
use libfuzzer_sys::fuzz_target;
use tern_crypto::envelope::{self, Opened};
use tern_crypto_fuzz::{ENVELOPE_INFO, ENVELOPE_VERSION, contents_len_for, fixture, rng};

type Kem = hpke::kem::X25519HkdfSha256;

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let mailbox = fixture().bob.mailbox_secret();
    if mode % 2 == 0 {
        if let Ok(opened) = envelope::open(mailbox, rest) {
            check_message(&opened);
        }
        return;
    }

    let Some(len) = contents_len_for(rest.len()) else {
        return;
    };
    let mut contents = rest.to_vec();
    contents.resize(len, 0);
    let recipient = <Kem as hpke::Kem>::PublicKey::from_bytes(mailbox.public().as_bytes())
        .expect("the fixture's mailbox key is valid");
    let (enc, ciphertext) = hpke::single_shot_seal_with_rng::<
        hpke::aead::ChaCha20Poly1305,
        hpke::kdf::HkdfSha256,
        Kem,
    >(
        &OpModeS::Base,
        &recipient,
        ENVELOPE_INFO,
        &contents,
        &[ENVELOPE_VERSION],
        &mut rng(1),
    )
    .expect("sealing to a valid key succeeds");
    let sealed = [&[ENVELOPE_VERSION][..], &enc.to_bytes(), &ciphertext].concat();
    if let Ok(opened) = envelope::open(mailbox, &sealed) {
        check_message(&opened);
        let message = opened.message.to_bytes();
        let mut expected = opened.sender.as_bytes().to_vec();
        expected.extend_from_slice(&(message.len() as u32).to_be_bytes());
        expected.extend_from_slice(&message);
        expected.resize(len, 0);
        assert_eq!(expected, contents, "sealed contents are not canonical");
    }
});

/// The message inside an opened envelope is canonical like any session message.
fn check_message(opened: &Opened) {
    let encoded = opened.message.to_bytes();
    let decoded = tern_crypto::SessionMessage::from_bytes(&encoded).expect("re-encoding decodes");
    assert_eq!(decoded, opened.message);
}
