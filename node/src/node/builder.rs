//! [`Builder`]: how a node is configured, and starting it.

use super::*;

/// Configures and starts a [`Node`].
///
/// ```no_run
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// let node = tern_node::Node::builder("/tmp/alice")
///     .with_passphrase("correct horse battery staple")
///     .with_listen_addr("/ip4/0.0.0.0/tcp/0")
///     .with_bootstrap("/ip4/192.0.2.1/tcp/4001/p2p/12D3KooWDpJ7As7BWAwRMfu1VU2WCqNjvq387JEYKDBj4kx6nXTN")
///     .create_account(true)
///     .spawn()
///     .await?;
/// println!("my address: {}", node.user_id());
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct Builder {
    data_dir: PathBuf,
    passphrase: Passphrase,
    listen: Vec<String>,
    bootstrap: Vec<String>,
    relays: Vec<String>,
    direct: bool,
    seal_direct: bool,
    invite_part_len: usize,
    mdns: bool,
    dht_server: bool,
    create: bool,
    kdf: KdfParams,
    relay_discovery: bool,
    relay_failover_after: Duration,
    group_failover: crate::GroupFailover,
    clock: crate::Clock,
    min_free_disk: u64,
    lookup_grace: Duration,
    delivery_streams: bool,
    auto_download: u64,
    group_read_receipts: bool,
    drop_group_followups: bool,
}

/// Free space the node leaves on the disk that holds its database by default: 64 MiB. See
/// [`Builder::with_min_free_disk`].
pub const DEFAULT_MIN_FREE_DISK: u64 = 64 << 20;

/// How long a record lookup waits for a newer record after the first valid one, by default:
/// 100 ms. See [`Builder::with_lookup_grace`].
pub const DEFAULT_LOOKUP_GRACE: Duration = Duration::from_millis(100);

/// What the builder was told about the passphrase.
enum Passphrase {
    Unset,
    Given(zeroize::Zeroizing<Vec<u8>>),
    Insecure,
}

impl std::fmt::Debug for Passphrase {
    /// Never the passphrase itself.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Unset => "Unset",
            Self::Given(_) => "Given(..)",
            Self::Insecure => "Insecure",
        })
    }
}

/// How long a relay picked from the DHT may be unreachable before the node replaces it: long
/// enough to ride out a restart or an upgrade, short enough that mail does not wait on a relay
/// that is gone. Senders count a message stored at two of three relays, so one relay down for
/// this long loses nothing.
pub const RELAY_FAILOVER_AFTER: Duration = Duration::from_secs(3600);

impl Builder {
    /// The defaults, for an account in `data_dir` ([`Node::builder`]).
    pub(super) fn new(data_dir: PathBuf) -> Self {
        Self {
            data_dir,
            passphrase: Passphrase::Unset,
            listen: Vec::new(),
            bootstrap: Vec::new(),
            relays: Vec::new(),
            direct: true,
            seal_direct: false,
            invite_part_len: crate::body::INVITE_PART_LEN,
            mdns: true,
            dht_server: false,
            create: false,
            kdf: KdfParams::default(),
            relay_discovery: true,
            relay_failover_after: RELAY_FAILOVER_AFTER,
            group_failover: crate::GroupFailover::default(),
            clock: crate::Clock::system(),
            min_free_disk: DEFAULT_MIN_FREE_DISK,
            lookup_grace: DEFAULT_LOOKUP_GRACE,
            delivery_streams: true,
            auto_download: crate::DEFAULT_AUTO_DOWNLOAD,
            group_read_receipts: true,
            drop_group_followups: false,
        }
    }

    /// The passphrase that protects the account and history.
    /// Required, unless [`Builder::insecure_no_passphrase`] is called instead: an empty
    /// passphrase here fails [`Builder::spawn`] with [`StartError::EmptyPassphrase`], since it
    /// is more often an unset variable than a choice.
    pub fn with_passphrase(mut self, passphrase: impl AsRef<[u8]>) -> Self {
        self.passphrase = Passphrase::Given(zeroize::Zeroizing::new(passphrase.as_ref().to_vec()));
        self
    }

    /// Protects the account with no passphrase at all: anyone who can read the data
    /// directory can read the keys and the history. For throwaway nodes and devices whose
    /// disk is encrypted by other means.
    pub fn insecure_no_passphrase(mut self) -> Self {
        self.passphrase = Passphrase::Insecure;
        self
    }

    /// A multiaddr to listen on (repeatable). Default: all interfaces, a random TCP port and
    /// a random QUIC port.
    pub fn with_listen_addr(mut self, address: impl Into<String>) -> Self {
        self.listen.push(address.into());
        self
    }

    /// A bootstrap peer's multiaddr, ending in `/p2p/<peer id>` (repeatable).
    pub fn with_bootstrap(mut self, address: impl Into<String>) -> Self {
        self.bootstrap.push(address.into());
        self
    }

    /// Keeps this account's mailbox at the relay at `address` (a multiaddr ending in
    /// `/p2p/<peer id>`); repeat for replicas (three are used). The relays are listed in the
    /// account's DHT record, so that senders leave messages there while this node is offline,
    /// and the node collects from them while it runs. A relay is also a DHT bootstrap peer.
    pub fn with_relay(mut self, address: impl Into<String>) -> Self {
        self.relays.push(address.into());
        self
    }

    /// Whether to pick mailbox relays from the DHT (relays advertise themselves there) while
    /// fewer than three work, and replace picked relays that stay unreachable (default: yes).
    /// Relays given with [`Builder::with_relay`] are always kept.
    pub fn with_relay_discovery(mut self, enabled: bool) -> Self {
        self.relay_discovery = enabled;
        self
    }

    /// How long a relay picked from the DHT may fail before it is replaced (default
    /// [`RELAY_FAILOVER_AFTER`]).
    pub fn with_relay_failover_after(mut self, after: Duration) -> Self {
        self.relay_failover_after = after;
        self
    }

    /// When a group's admins move its log away from sequencers that stay unreachable, and
    /// how long members wait for failovers made at once (default
    /// [`crate::GroupFailover::default`]: after an hour, five minutes apart, settled in
    /// five).
    pub fn with_group_failover(mut self, failover: crate::GroupFailover) -> Self {
        self.group_failover = failover;
        self
    }

    /// Received files up to `max_bytes` are fetched as soon as their message arrives from a
    /// contact (default [`crate::DEFAULT_AUTO_DOWNLOAD`], 16 MB: every photo and voice
    /// note); larger ones, and every file from a message request, wait for
    /// [`Node::fetch_attachment`]. 0 fetches nothing by itself.
    pub fn with_auto_download(mut self, max_bytes: u64) -> Self {
        self.auto_download = max_bytes;
        self
    }

    /// Sends read receipts to groups (the default), or, when `false`, keeps what the user
    /// read to this device: other members then see our delivery receipts only. Either way
    /// this node counts the read receipts others send for our messages.
    pub fn with_group_read_receipts(mut self, enabled: bool) -> Self {
        self.group_read_receipts = enabled;
        self
    }

    /// Sends directly to recipients (the default), or, when `false`, only through their
    /// relays: this node then never connects to its contacts and leaves its own addresses out
    /// of its DHT record, so contacts do not learn its IP address, at the cost of a hop. It
    /// still receives through its own relays (see [`Builder::with_relay`]).
    pub fn with_direct_delivery(mut self, enabled: bool) -> Self {
        self.direct = enabled;
        self
    }

    /// The longest group invitation (the Welcome and where the group's log is) sent inside
    /// one 1:1 message (default and most: 128 KiB). A longer one goes as a file at the
    /// group's sequencers, or in parts of this length if none takes the file; a Welcome for
    /// a thousand members is about 360 KB. Lower it only for tests.
    pub fn with_invite_message_len(mut self, bytes: usize) -> Self {
        self.invite_part_len = bytes.clamp(1, crate::body::INVITE_PART_LEN);
        self
    }

    /// The free space to leave on the disk that holds the database (default
    /// [`DEFAULT_MIN_FREE_DISK`]). Below twice this, messages from strangers (message
    /// requests) are refused with `Busy`; below it, every delivery is, and sends fail with
    /// [`SendError::StorageFull`](crate::SendError::StorageFull). Senders retry and relays
    /// keep the mail, so nothing is lost, and the node accepts again by itself once space is
    /// freed (by [`Node::delete_chat`], say), without a restart. The reserve is what lets
    /// RocksDB flush, compact and carry out deletions on a nearly full disk.
    pub fn with_min_free_disk(mut self, bytes: u64) -> Self {
        self.min_free_disk = bytes;
        self
    }

    /// How long a lookup of a contact's DHT record waits, after the first valid record
    /// arrives, for a newer one from other peers (default: [`DEFAULT_LOOKUP_GRACE`]). The
    /// newest record seen by then is used, and the query goes on in the background: a newer
    /// record it finds later replaces the one in use. A long grace (30 s, the query timeout,
    /// or more) waits for the whole query, as nodes did before; one unresponsive DHT peer then
    /// holds every first message to a new contact until its request times out.
    pub fn with_lookup_grace(mut self, grace: Duration) -> Self {
        self.lookup_grace = grace;
        self
    }

    /// Pipeline direct deliveries to connected peers on one delivery stream each
    /// (`/tern/deliver/2`), and accept such streams (default: on). Off, every envelope goes
    /// by a request-response stream of its own (`/tern/msg/2`), as before that protocol
    /// existed: for comparing the two, and for peers that must not change protocol.
    pub fn with_delivery_streams(mut self, enabled: bool) -> Self {
        self.delivery_streams = enabled;
        self
    }

    /// Seal direct deliveries to the recipient's mailbox key as well, as nodes did before
    /// direct envelopes (default: off). A direct delivery reaches the recipient's own device
    /// over a channel that already encrypts and authenticates both ends, so the sealing hides
    /// nothing there and costs three X25519 operations a message; it is kept for comparing
    /// the two in benchmarks. Deposits at relays are sealed either way.
    pub fn with_sealed_direct_deliveries(mut self, enabled: bool) -> Self {
        self.seal_direct = enabled;
        self
    }

    /// Discover peers on the local network with mDNS (default: on).
    pub fn with_mdns(mut self, enabled: bool) -> Self {
        self.mdns = enabled;
        self
    }

    /// Serve DHT queries even before the node knows it is publicly reachable (default: off).
    /// Useful on a LAN and in tests, where no public address is ever confirmed.
    pub fn with_dht_server(mut self, enabled: bool) -> Self {
        self.dht_server = enabled;
        self
    }

    /// Create the account if the data directory holds none (default: off).
    pub fn create_account(mut self, create: bool) -> Self {
        self.create = create;
        self
    }

    /// Argon2id parameters for a new account's key file (default: RFC 9106's second
    /// recommendation, 64 MiB). Lower them only for tests.
    pub fn with_kdf_params(mut self, params: KdfParams) -> Self {
        self.kdf = params;
        self
    }

    /// The clock the node goes by (default: the system's). A [`crate::Clock::manual`] clock
    /// lets a simulation run a node, or a network of nodes sharing the clock, through
    /// months of rotations and expiries in minutes.
    pub fn with_clock(mut self, clock: crate::Clock) -> Self {
        self.clock = clock;
        self
    }

    /// Test only (feature `test-utils`): the node drops the group work that waits for a write
    /// to be durable (making again a commit that lost its epoch or waited for a failover,
    /// starting a group joined, adds whose key packages came), as a node killed right after
    /// that write would. A test then starts the node again without this, to check that the
    /// work resumes from what the write stored.
    #[cfg(feature = "test-utils")]
    pub fn dropping_group_followups(mut self) -> Self {
        self.drop_group_followups = true;
        self
    }

    /// Opens (or creates) the account and starts the node.
    pub async fn spawn(self) -> Result<Node, StartError> {
        let parse = |list: &[String]| {
            list.iter()
                .map(|a| {
                    a.parse::<Multiaddr>()
                        .map_err(|e| StartError::Address(a.clone(), e.to_string()))
                })
                .collect::<Result<Vec<_>, _>>()
        };
        let mut listen = parse(&self.listen)?;
        if listen.is_empty() {
            listen = vec![
                "/ip4/0.0.0.0/tcp/0"
                    .parse()
                    .map_err(|e: libp2p::multiaddr::Error| StartError::Network(e.to_string()))?,
                "/ip4/0.0.0.0/udp/0/quic-v1"
                    .parse()
                    .map_err(|e: libp2p::multiaddr::Error| StartError::Network(e.to_string()))?,
            ];
        }
        let mut bootstrap = parse(&self.bootstrap)?;
        let relay_addresses = parse(&self.relays)?;
        let mut relays: Vec<(libp2p::PeerId, Vec<Multiaddr>)> = Vec::new();
        for address in &relay_addresses {
            let Some(peer) = network::peer_of(address) else {
                return Err(StartError::Address(
                    address.to_string(),
                    "needs a /p2p/<peer id> suffix".into(),
                ));
            };
            match relays.iter_mut().find(|(p, _)| *p == peer) {
                Some((_, list)) => list.push(address.clone()),
                None => relays.push((peer, vec![address.clone()])),
            }
            bootstrap.push(address.clone());
        }
        for address in &bootstrap {
            if network::peer_of(address).is_none() {
                return Err(StartError::Address(
                    address.to_string(),
                    "needs a /p2p/<peer id> suffix".into(),
                ));
            }
        }

        let passphrase = match &self.passphrase {
            Passphrase::Unset => return Err(StartError::NoPassphrase),
            Passphrase::Given(p) if p.is_empty() => return Err(StartError::EmptyPassphrase),
            Passphrase::Given(p) => p.clone(),
            Passphrase::Insecure => zeroize::Zeroizing::new(Vec::new()),
        };
        let dir = self.data_dir.clone();
        let (create, kdf) = (self.create, self.kdf);
        let now = self.clock.now_secs();
        let opened =
            tokio::task::spawn_blocking(move || open_account(&dir, &passphrase, create, kdf, now))
                .await
                .map_err(|e| StartError::Storage(e.to_string()))??;

        // Files live beside the database. Blobs no message names (a send cut short by a
        // crash, a deletion during a download) go before any request can import a new one.
        let (db, blob_dir) = (opened.store.clone(), self.data_dir.join("blobs"));
        let blobs = tokio::task::spawn_blocking(move || {
            let blobs = tern_blob::store::Store::open(&blob_dir)
                .map_err(|e| StartError::Storage(format!("the file store: {e}")))?;
            match crate::transfer::sweep(&db, &blobs) {
                Ok(0) => {}
                Ok(n) => info!("deleted {n} files no message names"),
                Err(e) => tracing::warn!("cannot sweep the file store: {e}"),
            }
            Ok::<_, StartError>(blobs)
        })
        .await
        .map_err(|e| StartError::Storage(e.to_string()))??;

        let cancel = CancellationToken::new();
        let (net, inbound, network_task) = network::spawn(
            network::Config {
                keypair: opened.device.clone(),
                listen,
                bootstrap,
                mdns: self.mdns,
                dht_server: self.dht_server,
                lookup_grace: self.lookup_grace,
                delivery_streams: self.delivery_streams,
            },
            self.clock.clone(),
            cancel.child_token(),
        )
        .map_err(|e| StartError::Network(e.to_string()))?;

        let user = opened.account.user_id();
        let device_secret = opened
            .device
            .clone()
            .try_into_ed25519()
            .ok()
            .and_then(|keypair| <[u8; 32]>::try_from(keypair.secret().as_ref()).ok())
            .map(zeroize::Zeroizing::new)
            .ok_or_else(|| StartError::Storage("the device key is not Ed25519".into()))?;
        let (requests, request_rx) = mpsc::channel(REQUEST_CAPACITY);
        let (events, _) = broadcast::channel(EVENT_BUFFER);
        let next_event = Arc::new(std::sync::atomic::AtomicU64::new(opened.next_event));
        let (transfers, transfer_task) = crate::transfer::spawn(crate::transfer::Parts {
            blobs: blobs.clone(),
            net: net.clone(),
            reports: requests.clone(),
            cancel: cancel.child_token(),
        });
        let core = Core::new(Parts {
            store: opened.store.clone(),
            account: opened.account,
            prekeys: opened.prekeys,
            certificate: opened.certificate,
            clock: opened.clock,
            time: self.clock.clone(),
            net: net.clone(),
            requests: request_rx,
            requests_tx: requests.clone(),
            discovery: self.relay_discovery,
            failover_after: self.relay_failover_after,
            inbound,
            events: events.clone(),
            next_event: opened.next_event,
            committed_events: next_event.clone(),
            next_outbox: opened.next_outbox,
            record_seq: opened.record_seq,
            cancel: cancel.child_token(),
            relays,
            direct: self.direct,
            seal_direct: self.seal_direct,
            invite_part_len: self.invite_part_len,
            min_free_disk: self.min_free_disk,
            blobs: blobs.clone(),
            transfers,
            auto_download: self.auto_download,
            group_read_receipts: self.group_read_receipts,
            device_secret,
            group_failover: self.group_failover,
            drop_group_followups: self.drop_group_followups,
        });
        let core_task = tokio::spawn(core.run());
        info!(user = %user, "node started");
        Ok(Node {
            inner: Arc::new(Inner {
                net,
                requests,
                events,
                store: std::sync::Mutex::new(Some(opened.store)),
                user,
                cancel,
                tasks: std::sync::Mutex::new(vec![network_task, transfer_task, core_task]),
                blobs,
                subscribers: tokio_util::task::TaskTracker::new(),
                next_event,
            }),
        })
    }
}
