//! What an operator configures. The binary fills this from a TOML file, flags and the
//! environment; library users build it with the `with_*` methods.

use std::path::PathBuf;

use serde::Deserialize;

/// Limits that protect the relay and share it fairly between mailboxes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Limits {
    /// Largest envelope accepted, bytes. The largest envelope bucket by default.
    pub max_envelope: usize,
    /// Most messages held per mailbox.
    pub mailbox_messages: u64,
    /// Most bytes held per mailbox.
    pub mailbox_bytes: u64,
    /// Bytes of envelopes the relay holds in all, over every mailbox.
    pub disk_budget: u64,
    /// How long an envelope is kept if its owner never collects it, seconds.
    pub retention_secs: u64,
    /// Deposits a single peer may make in a burst…
    pub deposit_burst: u32,
    /// …refilled at this many per second.
    pub deposits_per_sec: u32,
    /// Bytes of envelopes a single peer may deposit in a burst…
    pub deposit_bytes_burst: u64,
    /// …refilled at this many bytes per second.
    pub deposit_bytes_per_sec: u64,
    /// Challenges a single peer may ask for in a burst…
    pub challenge_burst: u32,
    /// …refilled at this many per second. An owner needs one per fetch, acknowledgement and
    /// prekey upload.
    pub challenges_per_sec: u32,
    /// How long a peer over its deposit or challenge budget waits for its `rate_limited`
    /// refusal, milliseconds. A flooder's requests in flight then sit in the relay's queue
    /// instead of coming back at once, so one connection cannot keep it busy answering.
    pub refusal_delay_ms: u64,
    /// Bytes of the filesystem the relay always leaves free. Deposits that would eat into
    /// it are refused (`storage_full`), so acknowledgements always have room to free space.
    pub min_free_disk: u64,
    /// Circuit relay v2: reservations held at once, in all…
    pub max_reservations: usize,
    /// …and per peer.
    pub max_reservations_per_peer: usize,
    /// Circuit relay v2: circuits open at once, in all…
    pub max_circuits: usize,
    /// …and per peer.
    pub max_circuits_per_peer: usize,
    /// Bytes one circuit may carry in each direction before it is closed. The default
    /// carries the largest envelope several times over.
    pub max_circuit_bytes: u64,
    /// How long one circuit may stay open, seconds.
    pub max_circuit_secs: u64,
    /// DHT records the relay stores for others. When full, the oldest record of the peer
    /// that put the most goes; one peer holds at most an eighth.
    pub dht_max_records: usize,
    /// Largest attachment blob accepted, bytes of ciphertext. The default takes every
    /// document up to 100 MB (`tern_blob::stream::MAX_CIPHERTEXT_LEN`).
    pub max_blob: u64,
    /// Bytes of blobs held for one mailbox (the quota the uploader's token names).
    pub blob_quota: u64,
    /// Bytes of blobs the relay holds in all. Blobs also leave `min_free_disk` free.
    pub blob_budget: u64,
    /// How long a blob is kept after its upload completed, seconds, read or not.
    pub blob_retention_secs: u64,
    /// Blob uploads and reads served at once; more are told `busy`.
    pub blob_transfers: usize,
    /// Whether the relay keeps group logs (`/tern/grouplog/2`) as a sequencer relay. A relay
    /// with an allow list keeps none, whatever this says.
    pub group_logs: bool,
    /// Bytes one group log may hold (entries and their index rows).
    pub log_bytes: u64,
    /// How long a group log's entries are kept, seconds. A member away longer rejoins.
    pub log_retention_secs: u64,
    /// Group log requests a single peer may make in a burst…
    pub log_request_burst: u32,
    /// …refilled at this many per second.
    pub log_requests_per_sec: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_envelope: tern_crypto::envelope::MAX_ENVELOPE_LEN,
            // A month of heavy chat for one offline user.
            mailbox_messages: 50_000,
            mailbox_bytes: 256 * 1024 * 1024,
            disk_budget: 16 * 1024 * 1024 * 1024,
            // Three weeks: long enough for a holiday offline, short enough that abandoned
            // mailboxes do not pile up.
            retention_secs: 21 * 24 * 60 * 60,
            deposit_burst: 2_000,
            deposits_per_sec: 1_000,
            // 32 of the largest envelopes at once, then four a second: a thousand small
            // messages a second, as the count allows, but a single peer needs hours, not a
            // minute, to fill the disk budget.
            deposit_bytes_burst: 8 * 1024 * 1024,
            deposit_bytes_per_sec: 1024 * 1024,
            // An owner asks for two per round (fetch, then ack); a busy inbox wakes a held
            // fetch for every deposit, so this allows 256 rounds a second.
            challenge_burst: 1_024,
            challenges_per_sec: 512,
            refusal_delay_ms: 1_000,
            min_free_disk: 256 * 1024 * 1024,
            max_reservations: 1024,
            max_reservations_per_peer: 4,
            max_circuits: 256,
            max_circuits_per_peer: 8,
            max_circuit_bytes: 4 * 1024 * 1024,
            max_circuit_secs: 10 * 60,
            dht_max_records: tern_proto::dht::SERVER_MAX_RECORDS,
            max_blob: 100 * 1024 * 1024,
            // A week of photos and a few large documents for one offline user.
            blob_quota: 1024 * 1024 * 1024,
            blob_budget: 64 * 1024 * 1024 * 1024,
            // A week: attachments are large, and a recipient away longer can ask the sender
            // again while the message (kept three weeks) names the file.
            blob_retention_secs: 7 * 24 * 60 * 60,
            blob_transfers: 64,
            group_logs: true,
            // Three weeks of a busy 1,000-member group: about 12,000 1 KiB messages a day.
            log_bytes: 256 * 1024 * 1024,
            // As long as mailboxes keep envelopes: a member back from three weeks away still
            // reads everything.
            log_retention_secs: 21 * 24 * 60 * 60,
            // A member catching up reads pages of 256; a held read costs one request per
            // entry that wakes it.
            log_request_burst: 1_024,
            log_requests_per_sec: 256,
        }
    }
}

/// A relay's configuration.
#[derive(Debug, Clone)]
pub struct Config {
    pub(crate) data_dir: PathBuf,
    pub(crate) listen: Vec<String>,
    pub(crate) bootstrap: Vec<String>,
    pub(crate) limits: Limits,
    pub(crate) allow: Option<Vec<[u8; 32]>>,
}

impl Config {
    /// A relay whose identity and mailboxes live in `data_dir`, with default limits.
    pub fn new(data_dir: impl Into<PathBuf>) -> Self {
        Self {
            data_dir: data_dir.into(),
            listen: Vec::new(),
            bootstrap: Vec::new(),
            limits: Limits::default(),
            allow: None,
        }
    }

    /// Listens on `address` (a multiaddr); by default TCP and QUIC on every interface,
    /// port 4001.
    pub fn with_listen_addr(mut self, address: impl Into<String>) -> Self {
        self.listen.push(address.into());
        self
    }

    /// Joins the DHT through `address` (a multiaddr ending in `/p2p/<peer id>`).
    pub fn with_bootstrap(mut self, address: impl Into<String>) -> Self {
        self.bootstrap.push(address.into());
        self
    }

    /// Replaces the limits.
    pub fn with_limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// A private relay: serves only these mailbox ids (64 hex digits each).
    pub fn with_allow_list(mut self, mailboxes: Vec<[u8; 32]>) -> Self {
        self.allow = Some(mailboxes);
        self
    }
}
