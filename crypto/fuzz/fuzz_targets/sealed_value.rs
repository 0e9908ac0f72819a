#![no_main]
//! `StorageKey::open` of arbitrary bytes under the fixture's storage key.
//!
//! First byte even: the rest is a sealed value, which must not panic the decoder; if it opens
//! for table `"table"` and row `"row"` (as the seed does), it must not open for another row.
//! Odd: the rest is split into a table name, a row key and a value, which the
//! target seals itself and opens again: the value must come back, and must not open under
//! another row key.

use libfuzzer_sys::fuzz_target;
use tern_crypto::at_rest::OpenError;
use tern_crypto_fuzz::{fixture, rng};

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let key = &fixture().storage_key;
    if mode % 2 == 0 {
        if key.open("table", b"row", rest).is_ok() {
            assert!(
                key.open("table", b"row2", rest).is_err(),
                "opened for two rows"
            );
        }
        return;
    }
    // `table ‖ 0x00 ‖ row ‖ 0x00 ‖ value`; the table must be text.
    let mut parts = rest.splitn(3, |&b| b == 0);
    let (Some(table), Some(row), Some(value)) = (parts.next(), parts.next(), parts.next()) else {
        return;
    };
    let Ok(table) = std::str::from_utf8(table) else {
        return;
    };
    let sealed = key
        .seal(&mut rng(3), table, row, value)
        .expect("a table name from a fuzz input is short");
    let opened = key.open(table, row, &sealed).expect("a sealed value opens");
    assert_eq!(opened.as_slice(), value);
    let other_row = [row, b"x"].concat();
    assert_eq!(
        key.open(table, &other_row, &sealed).map(|_| ()),
        Err(OpenError::Authentication)
    );
});
