//! Tern's attachments: the format and the local storage of encrypted, content-addressed blobs.
#![deny(missing_docs)]
#![forbid(unsafe_code)]
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

pub mod descriptor;
pub mod pad;
pub mod store;
pub mod stream;
pub mod verify;
pub mod wire;

pub use stream::{FileKey, Lengths};
pub use verify::{GroupSet, Root};
