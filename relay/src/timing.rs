//! Latency histograms for the metrics endpoint. Recording is an atomic add per observation;
//! the histograms are shared (cheap clones) between the event loop, the writer thread and the
//! HTTP exposition.

use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};

/// Histogram buckets for durations: 0.1 ms doubling to about 1.6 s. A synced group commit on
/// an SSD takes a few milliseconds; anything near the top is a disk in trouble.
fn duration_buckets() -> impl Iterator<Item = f64> {
    exponential_buckets(0.0001, 2.0, 15)
}

/// The relay's latency and batching histograms.
#[derive(Debug, Clone)]
pub(crate) struct Timings {
    /// Deposit request received → custody receipt ready (includes the durable write).
    pub(crate) deposit: Histogram,
    /// Fetch request received → answer ready, for fetches answered without being held.
    pub(crate) fetch: Histogram,
    /// One synced group commit of deposits.
    pub(crate) sync: Histogram,
    /// Deposits per group commit.
    pub(crate) batch: Histogram,
}

impl Timings {
    pub(crate) fn new() -> Self {
        Self {
            deposit: Histogram::new(duration_buckets()),
            fetch: Histogram::new(duration_buckets()),
            sync: Histogram::new(duration_buckets()),
            // 1 to 512 deposits: the writer's largest group.
            batch: Histogram::new(exponential_buckets(1.0, 2.0, 10)),
        }
    }
}
