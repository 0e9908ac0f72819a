#![no_main]
//! `AccountKey::from_bytes` on stored account state, which may be corrupt.
//!
//! The state holds the three secrets as they are, so a state that loads must store back
//! unchanged; otherwise saving an account after loading it would change its keys.

use libfuzzer_sys::fuzz_target;
use tern_crypto::AccountKey;

fuzz_target!(|data: &[u8]| {
    if let Ok(decoded) = AccountKey::from_bytes(data) {
        assert_eq!(
            decoded.to_bytes().as_slice(),
            data,
            "decoding is not canonical"
        );
    }
});
