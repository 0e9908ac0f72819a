#![no_main]
//! `KeyFile::from_bytes`: never panics, and a key file that decodes encodes back to the same
//! bytes (the format has one encoding per value). Unlocking is left out: it runs Argon2 with
//! the decoded parameters, up to gigabytes of memory per input.

use libfuzzer_sys::fuzz_target;
use tern_crypto::at_rest::KeyFile;

fuzz_target!(|data: &[u8]| {
    if let Ok(file) = KeyFile::from_bytes(data) {
        assert_eq!(file.to_bytes(), data, "not canonical");
    }
});
