//! Tern's cryptographic core.
#![deny(missing_docs)]
#![forbid(unsafe_code)]
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

pub mod at_rest;
mod codec;
mod primitives;

pub use codec::DecodeError;
