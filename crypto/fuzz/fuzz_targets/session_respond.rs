#![no_main]
//! `Session::respond` to arbitrary bytes decoded as an `InitialMessage`, with Bob's prekeys
//! from the fixture (one one-time prekey still held).
//!
//! Accepting a start is transactional: a start that is refused must leave the prekeys exactly
//! as they were (no one-time prekey consumed by a forgery). One that is accepted must have
//! consumed the one-time prekey it named, if any, and leave a session that stores, loads, and
//! can reply.

use libfuzzer_sys::fuzz_target;
use tern_crypto::{InitialMessage, PrekeySecrets, Session};
use tern_crypto_fuzz::{NOW, fixture, rng};

fuzz_target!(|data: &[u8]| {
    let Ok(start) = InitialMessage::from_bytes(data) else {
        return;
    };
    let fixture = fixture();
    let before = fixture.bob_prekeys.to_bytes();
    let mut prekeys = PrekeySecrets::from_bytes(&before).expect("the fixture loads");
    let mut rng = rng(2);
    match Session::respond(&mut rng, &fixture.bob, &mut prekeys, &start, NOW) {
        Ok((mut session, _)) => {
            let held = PrekeySecrets::from_bytes(&before).expect("the fixture loads");
            let consumed = usize::from(start.one_time_prekey_id().is_some());
            assert_eq!(prekeys.one_time_count() + consumed, held.one_time_count());
            let stored = session.to_bytes();
            let loaded = Session::from_bytes(&stored).expect("an accepted session loads");
            assert_eq!(*loaded.to_bytes(), *stored);
            session
                .encrypt(&mut rng, b"reply")
                .expect("an accepted session can reply");
        }
        Err(error) => assert!(
            *prekeys.to_bytes() == *before,
            "a refused start ({error}) changed the prekeys"
        ),
    }
});
