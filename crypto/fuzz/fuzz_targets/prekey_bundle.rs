#![no_main]
//! `PrekeyBundle::from_bytes` on bytes fetched from the DHT, which anyone can write.
//!
//! The format has exactly one encoding per value, so whatever decodes must re-encode to the
//! very bytes it came from; anything else means two encodings that peers could disagree on.

use libfuzzer_sys::fuzz_target;
use tern_crypto::PrekeyBundle;

fuzz_target!(|data: &[u8]| {
    if let Ok(decoded) = PrekeyBundle::from_bytes(data) {
        assert_eq!(
            decoded.to_bytes().as_slice(),
            data,
            "decoding is not canonical"
        );
    }
});
