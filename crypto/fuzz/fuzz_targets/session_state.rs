#![no_main]
//! `Session::from_bytes` on stored session state, which may be corrupt.
//!
//! Whatever loads must store and load again to the same bytes, and must be usable without
//! panicking. The skipped keys are kept in a map, so the input itself need not be canonical.

use libfuzzer_sys::fuzz_target;
use tern_crypto::Session;
use tern_crypto_fuzz::{NOW, rng};

fuzz_target!(|data: &[u8]| {
    let Ok(mut session) = Session::from_bytes(data) else {
        return;
    };
    let stored = session.to_bytes();
    let reloaded = Session::from_bytes(&stored).expect("a stored state loads again");
    assert_eq!(*reloaded.to_bytes(), *stored, "storing is not stable");

    session.prune(NOW);
    let _ = session.encrypt(&mut rng(1), b"fuzz");
});
