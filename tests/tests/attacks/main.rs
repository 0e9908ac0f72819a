//! One scenario for each way the abuse review found to take mail away from honest users,
//! mounted the way an attacker would: real `tern-relay` and `tern daemon` processes, and an
//! attacker written here with raw libp2p. In each, Alice keeps writing to Bob through the
//! relay under attack. Every honest message arrives exactly once, in order; the median honest
//! message is at most three times slower than in the unflooded run just before; and the
//! attacker's traffic is refused and shows in the relay's metrics, as an operator sees it.

#![allow(
    clippy::print_stderr,
    reason = "each scenario reports its latencies and the attacker's tally (shown with --nocapture)"
)]

mod attacker;
mod dht;
mod dht_floods;
mod honest;
mod local_api;
mod network;
mod node_floods;
mod relay_floods;

/// Held by each scenario for its whole run: latency is compared with an unflooded run in the
/// same test, which another scenario flooding the same machine at the same time would skew.
/// `cargo test` runs a binary's tests in parallel; these run one after another.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
