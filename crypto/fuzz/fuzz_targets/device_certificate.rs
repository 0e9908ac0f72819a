#![no_main]
//! `DeviceCertificate::from_bytes` on certificates presented by peers.
//!
//! The format has exactly one encoding per value, so whatever decodes must re-encode to the
//! very bytes it came from; anything else means two encodings that peers could disagree on.

use libfuzzer_sys::fuzz_target;
use tern_crypto::DeviceCertificate;

fuzz_target!(|data: &[u8]| {
    if let Ok(decoded) = DeviceCertificate::from_bytes(data) {
        assert_eq!(
            decoded.to_bytes().as_slice(),
            data,
            "decoding is not canonical"
        );
    }
});
