//! The relay's counters.

/// Counters, as the metrics endpoint and [`crate::Relay::metrics`] report them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Metrics {
    /// Deposits stored (custody receipts issued).
    pub deposits: u64,
    /// Deposit streams (`/tern/deposit/1`) accepted.
    pub deposit_streams: u64,
    /// Collect streams (`/tern/collect/2`) accepted.
    pub collect_streams: u64,
    /// Fetch requests answered (on `/tern/mailbox/2` and collect streams).
    pub fetches: u64,
    /// Envelopes deleted on acknowledgement.
    pub acked: u64,
    /// Envelopes deleted at the end of their retention.
    pub expired: u64,
    /// Requests refused, by reason: the mailbox's refusals, and `connection_limit` for
    /// connections the relay closed at once because it or the peer already had too many.
    pub refused: std::collections::BTreeMap<String, u64>,
    /// Entries a bounded table evicted to admit new ones, by table: `challenges` (nonces
    /// never used) and `held_fetches` (answered early, empty).
    pub evicted: std::collections::BTreeMap<String, u64>,
    /// Malformed or failed inbound streams.
    pub bad_streams: u64,
    /// The same streams by how they failed: `malformed` and `too_large` (requests that could
    /// not be read), `io`, `timeout`, `connection_closed`, `unsupported_protocols` and
    /// `response_omission`.
    pub stream_failures: std::collections::BTreeMap<String, u64>,
    /// Connections open now.
    pub connections: u64,
    /// Mailboxes holding at least one envelope.
    pub mailboxes: u64,
    /// Envelopes held.
    pub stored_messages: u64,
    /// Bytes held.
    pub stored_bytes: u64,
    /// The most bytes the relay holds in all ([`crate::Limits::disk_budget`]).
    pub disk_budget: u64,
    /// Fetches held open now.
    pub held_fetches: u64,
    /// Challenge nonces handed out and not yet used or expired.
    pub challenges_outstanding: u64,
    /// `rate_limited` refusals waiting out [`crate::Limits::refusal_delay_ms`] now.
    pub held_refusals: u64,
    /// DHT records refused on PUT.
    pub records_refused: u64,
    /// One-time prekeys stored from owners' uploads.
    pub prekeys_uploaded: u64,
    /// One-time prekeys handed out to senders (each once).
    pub prekeys_taken: u64,
    /// Prekey requests answered "exhausted".
    pub prekeys_exhausted: u64,
    /// Group log streams (`/tern/grouplog/2`) accepted.
    pub log_streams: u64,
    /// Group log opens answered (new logs, and opens of a log that exists).
    pub logs_opened: u64,
    /// Entries appended to group logs (signed receipts issued).
    pub log_appends: u64,
    /// Commits refused because their epoch already had one.
    pub log_commits_lost: u64,
    /// Group log reads answered.
    pub log_reads: u64,
    /// Group log entries deleted at the end of their retention.
    pub log_entries_expired: u64,
    /// Attachment blobs held for offline recipients.
    pub blobs: crate::BlobMetrics,
}
