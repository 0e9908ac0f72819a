#![no_main]
//! `Payload::from_bytes` on decrypted plaintexts, which a peer chooses freely.
//!
//! Every byte string of at least one byte is a payload, and re-encodes to itself.

use libfuzzer_sys::fuzz_target;
use tern_crypto::Payload;

fuzz_target!(|data: &[u8]| {
    if let Ok(decoded) = Payload::from_bytes(data) {
        assert_eq!(
            decoded.to_bytes().as_slice(),
            data,
            "decoding is not canonical"
        );
    }
});
