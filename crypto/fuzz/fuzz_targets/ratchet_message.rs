#![no_main]
//! `RatchetMessage::from_bytes` on messages of established sessions.
//!
//! The format has exactly one encoding per value, so whatever decodes must re-encode to the
//! very bytes it came from; anything else means two encodings that peers could disagree on.

use libfuzzer_sys::fuzz_target;
use tern_crypto::RatchetMessage;

fuzz_target!(|data: &[u8]| {
    if let Ok(decoded) = RatchetMessage::from_bytes(data) {
        assert_eq!(
            decoded.to_bytes().as_slice(),
            data,
            "decoding is not canonical"
        );
    }
});
