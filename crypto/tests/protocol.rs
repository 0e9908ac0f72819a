//! Protocol tests through the public API of `tern-crypto`: session scenarios, properties of
//! the ratchet, refusal of bad input, and the golden transcript that pins every encoding.
//!
//! One test binary with submodules, so the crate and its dependencies link once.

mod protocol {
    mod support;

    mod bad_input;
    mod golden;
    mod identity;
    mod properties;
    mod session;
}
