#![no_main]
//! `PrekeySecrets::from_bytes` on stored prekey state, which may be corrupt.
//!
//! Whatever loads must store and load again to the same bytes, and must be usable: the node
//! rotates and publishes from it right after loading. The state is not canonical as written
//! (one-time prekeys are kept in a map, so duplicates collapse and the order is normalised),
//! hence the check on the second encoding rather than on the input.

use libfuzzer_sys::fuzz_target;
use tern_crypto::PrekeySecrets;
use tern_crypto_fuzz::{NOW, fixture, rng};

fuzz_target!(|data: &[u8]| {
    let Ok(mut secrets) = PrekeySecrets::from_bytes(data) else {
        return;
    };
    let stored = secrets.to_bytes();
    let reloaded = PrekeySecrets::from_bytes(&stored).expect("a stored state loads again");
    assert_eq!(*reloaded.to_bytes(), *stored, "storing is not stable");

    let account = &fixture().bob;
    secrets.rotate(&mut rng(1), account, NOW);
    let _ = secrets.bundle(account, 2);
    let _ = secrets.generate_one_time(&mut rng(2), account, 3);
});
