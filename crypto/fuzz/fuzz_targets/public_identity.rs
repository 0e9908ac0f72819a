#![no_main]
//! `PublicIdentity::from_bytes` on identities received from peers.
//!
//! The format has exactly one encoding per value, so whatever decodes must re-encode to the
//! very bytes it came from; anything else means two encodings that peers could disagree on.

use libfuzzer_sys::fuzz_target;
use tern_crypto::PublicIdentity;

fuzz_target!(|data: &[u8]| {
    if let Ok(decoded) = PublicIdentity::from_bytes(data) {
        assert_eq!(
            decoded.to_bytes().as_slice(),
            data,
            "decoding is not canonical"
        );
    }
});
