#![no_main]
//! `UserId::from_str` on account addresses, which people type, paste and scan.
//!
//! Parsing must never panic, and an address that parses must be the one address of its
//! account: the address the account displays, up to the surrounding whitespace and letter
//! case that the parser forgives. Two different texts naming one account would let a
//! contact list or a search keyed by text treat one account as two.

use libfuzzer_sys::fuzz_target;
use tern_crypto::UserId;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(user) = text.parse::<UserId>() {
        let shown = user.to_string();
        assert_eq!(
            shown.parse::<UserId>().ok(),
            Some(user),
            "display does not parse back"
        );
        assert_eq!(
            shown,
            text.trim().to_ascii_lowercase(),
            "a second text parses to the same account"
        );
    }
});
