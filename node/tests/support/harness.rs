//! The node's scenario tests use the crate's own test helpers (`test-utils`).

#![allow(unused_imports)]

pub(crate) use tern_node::test_utils::{EVENT_TIMEOUT, TestNode, wait_for};
