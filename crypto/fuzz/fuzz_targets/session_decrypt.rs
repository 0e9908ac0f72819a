#![no_main]
//! `Session::decrypt` of arbitrary bytes, decoded as a `SessionMessage`, in an established
//! session with stored skipped keys.
//!
//! Decryption is transactional: a message that fails must leave the session exactly as it
//! was, or a forged message could advance chains, fill the skipped-key store or lose keys of
//! real messages. A message that succeeds must leave a state that stores and loads again.
//! The session is restored from the same bytes on every run so that crashes reproduce.

use libfuzzer_sys::fuzz_target;
use tern_crypto::{Session, SessionMessage};
use tern_crypto_fuzz::{NOW, fixture, rng};

fuzz_target!(|data: &[u8]| {
    let Ok(message) = SessionMessage::from_bytes(data) else {
        return;
    };
    let mut session = Session::from_bytes(&fixture().bob_session).expect("the fixture loads");
    let before = session.to_bytes();
    match session.decrypt(&mut rng(1), &message, NOW) {
        Ok(_) => {
            let after = session.to_bytes();
            Session::from_bytes(&after).expect("the state after a decryption loads");
        }
        Err(error) => assert!(
            *session.to_bytes() == *before,
            "a failed decryption ({error}) changed the session"
        ),
    }
});
