//! Helpers for tests of programs built on `tern-node` (enable the `test-utils` feature): nodes
//! on loopback in temporary directories, and waiting for events with a timeout, never
//! sleeping in the hope that something happened.
//!
//! ```no_run
//! # async fn run() {
//! use tern_node::{From, Event, test_utils::{TestNode, wait_for}};
//!
//! let bootstrap = TestNode::start("bootstrap", &[]).await;
//! let seed = bootstrap.node.addresses().await;
//! let (alice, bob) = (TestNode::start("alice", &seed).await, TestNode::start("bob", &seed).await);
//! let mut events = bob.node.events(From::Now);
//! alice.node.send(bob.node.user_id(), "hi").await.unwrap();
//! wait_for(&mut events, |e| matches!(e, Event::MessageReceived(_)).then_some(())).await;
//! # }
//! ```

use std::{path::Path, time::Duration};

use futures::{Stream, StreamExt};
use tempfile::TempDir;

use crate::{Builder, Cursor, Event, KdfParams, Node};

/// How long a test waits for one expected event. Generous: a loaded 2-core machine running
/// several test binaries at once can be slow, and a passing test never waits this long.
pub const EVENT_TIMEOUT: Duration = Duration::from_secs(60);

/// The passphrase of every test node.
pub const PASSPHRASE: &str = "test passphrase";

/// A builder for a test node in `dir`: loopback TCP only, no mDNS, serving the DHT, a cheap
/// key derivation, creating the account if needed. Add bootstrap peers, relays or a clock.
pub fn builder(dir: &Path) -> Builder {
    if let Ok(filter) = std::env::var("TERN_TEST_LOG") {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
            .with_test_writer()
            .try_init();
    }
    let kdf = KdfParams::new(64, 1, 1).unwrap_or_default();
    Node::builder(dir)
        .with_passphrase(PASSPHRASE)
        .with_kdf_params(kdf)
        .with_listen_addr("/ip4/127.0.0.1/tcp/0")
        .with_mdns(false)
        .with_dht_server(true)
        .create_account(true)
}

/// A running test node and the temporary directory that holds its data (removed on drop).
#[derive(Debug)]
pub struct TestNode {
    /// The node.
    pub node: Node,
    /// Its data directory.
    pub dir: TempDir,
}

impl TestNode {
    /// Starts a node named `name` (for the directory's name) that knows `bootstrap`.
    ///
    /// # Panics
    ///
    /// If the node cannot start: this is for tests.
    pub async fn start(name: &str, bootstrap: &[String]) -> Self {
        #[allow(clippy::expect_used, reason = "a test helper")]
        let dir = tempfile::Builder::new()
            .prefix(&format!("tern-{name}-"))
            .tempdir()
            .expect("cannot make a temporary directory");
        let node = Self::spawn(dir.path(), bootstrap).await;
        Self { node, dir }
    }

    /// Starts (or restarts) a node in `path` that knows `bootstrap`.
    ///
    /// # Panics
    ///
    /// If the node cannot start.
    pub async fn spawn(path: &Path, bootstrap: &[String]) -> Node {
        let mut builder = builder(path);
        for address in bootstrap {
            builder = builder.with_bootstrap(address.clone());
        }
        #[allow(clippy::expect_used, reason = "a test helper")]
        builder.spawn().await.expect("the test node did not start")
    }
}

/// Waits for the first event for which `pick` returns `Some`, with [`EVENT_TIMEOUT`].
///
/// # Panics
///
/// If no such event comes in time, or the stream ends.
pub async fn wait_for<T>(
    events: &mut (impl Stream<Item = (Cursor, Event)> + Unpin),
    pick: impl FnMut(&Event) -> Option<T>,
) -> T {
    wait_for_within(EVENT_TIMEOUT, events, pick).await
}

/// Waits for the first event for which `pick` returns `Some`, within `timeout` (for
/// scenarios slower than [`EVENT_TIMEOUT`] allows).
///
/// # Panics
///
/// If no such event comes in time, or the stream ends.
#[allow(clippy::panic, reason = "a test helper")]
pub async fn wait_for_within<T>(
    timeout: Duration,
    events: &mut (impl Stream<Item = (Cursor, Event)> + Unpin),
    mut pick: impl FnMut(&Event) -> Option<T>,
) -> T {
    tokio::time::timeout(timeout, async {
        while let Some((_, event)) = events.next().await {
            if let Some(found) = pick(&event) {
                return found;
            }
        }
        panic!("event stream ended");
    })
    .await
    .unwrap_or_else(|_| panic!("timed out waiting for an event"))
}

/// Waits until `message`, sent by the node of `events`, is delivered.
pub async fn wait_delivered(
    events: &mut (impl Stream<Item = (Cursor, Event)> + Unpin),
    message: crate::MessageId,
) {
    wait_delivered_within(EVENT_TIMEOUT, events, message).await;
}

/// Waits until `message`, sent by the node of `events`, is delivered, within `timeout`.
pub async fn wait_delivered_within(
    timeout: Duration,
    events: &mut (impl Stream<Item = (Cursor, Event)> + Unpin),
    message: crate::MessageId,
) {
    wait_for_within(timeout, events, |event| match event {
        Event::DeliveryStateChanged {
            id,
            state: crate::DeliveryState::Delivered,
            ..
        } if *id == message => Some(()),
        _ => None,
    })
    .await;
}

/// Waits until a message with `text` is received.
pub async fn wait_received(events: &mut (impl Stream<Item = (Cursor, Event)> + Unpin), text: &str) {
    wait_for(events, |event| match event {
        Event::MessageReceived(m) if m.text == text => Some(()),
        _ => None,
    })
    .await;
}

/// A small filesystem (a tmpfs) mounted on a fresh directory for as long as it lives, for
/// tests of what happens when a disk fills up. Mounting needs root.
#[derive(Debug)]
pub struct SmallDisk {
    dir: TempDir,
}

impl SmallDisk {
    /// Mounts a tmpfs of `size` (`mount -o size=`, e.g. `"48m"`), or says loudly why it
    /// cannot and returns `None`, for the test to end there.
    ///
    /// # Panics
    ///
    /// If it cannot mount while `TERN_PRIVILEGED_TESTS` is set (CI sets it when it runs as
    /// root): there a skipped test would hide a failure.
    #[allow(clippy::expect_used, clippy::panic, reason = "a test helper")]
    pub fn mount(size: &str) -> Option<Self> {
        let dir = tempfile::tempdir().expect("cannot make a temporary directory");
        let status = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir.path())
            .status();
        if matches!(status, Ok(s) if s.success()) {
            return Some(Self { dir });
        }
        let why = format!("cannot mount a tmpfs ({status:?}): this test needs root");
        assert!(
            std::env::var_os("TERN_PRIVILEGED_TESTS").is_none(),
            "{why}, and TERN_PRIVILEGED_TESTS is set"
        );
        #[allow(clippy::print_stderr, reason = "a skipped test must say so loudly")]
        {
            eprintln!("SKIPPED: {why}");
        }
        None
    }

    /// The mounted directory.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(self.dir.path())
            .status();
    }
}

/// A sender's only stored blob, damaged past its middle: the sender serves the groups before
/// the damage (it checks its copy as it encodes) and stops there, as a sender that went
/// away would. [`DamagedBlob::repair`] puts the copy back.
pub struct DamagedBlob {
    path: std::path::PathBuf,
    whole: Vec<u8>,
}

impl std::fmt::Debug for DamagedBlob {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DamagedBlob")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl DamagedBlob {
    /// Damages the only blob in `complete` (a blob store's `complete/` directory).
    ///
    /// # Panics
    ///
    /// If the directory does not hold exactly one readable, writable blob.
    #[allow(clippy::expect_used, reason = "a test helper")]
    pub fn past_the_middle(complete: &Path) -> DamagedBlob {
        let mut stored = std::fs::read_dir(complete).expect("the blob directory");
        let path = stored
            .next()
            .expect("a blob")
            .expect("a readable directory")
            .path();
        assert!(stored.next().is_none(), "one blob");
        let whole = std::fs::read(&path).expect("the blob");
        let mut broken = whole.clone();
        broken[whole.len() * 6 / 10] ^= 0x55;
        std::fs::write(&path, &broken).expect("the blob written back");
        DamagedBlob { path, whole }
    }

    /// Puts the blob back as it was.
    ///
    /// # Panics
    ///
    /// If it cannot be written.
    #[allow(clippy::expect_used, reason = "a test helper")]
    pub fn repair(&self) {
        std::fs::write(&self.path, &self.whole).expect("the blob repaired");
    }
}

/// Sends `peer` a failover of `group`'s log (`docs/protocol/groups.md` §9.9) made of
/// `entry` for `epoch`, as a misbehaving member would, and waits until it is delivered.
///
/// # Panics
///
/// If it cannot be sent or delivered within a minute.
pub async fn send_forged_failover(
    node: &Node,
    peer: crate::UserId,
    (group, epoch, entry): (crate::GroupId, u64, Vec<u8>),
) {
    let body = crate::body::Body::Group(crate::body::GroupControl {
        id: crate::MessageId::random(&mut tern_crypto::rand_core::UnwrapErr(getrandom::SysRng)),
        stamp: 1,
        op: crate::body::GroupOp::Failover {
            group: *group.as_bytes(),
            epoch,
            entry,
        },
    });
    node.send_body(peer, body).await;
}

/// Sends `peer` an invitation as a file (`docs/protocol/groups.md` §10.1) whose descriptor
/// names blob `root` at a relay that does not exist, under a key nobody used, as a
/// misbehaving contact would to reach a file `peer` already holds; waits until it is
/// delivered.
///
/// # Panics
///
/// If it cannot be sent or delivered within a minute.
#[expect(
    clippy::expect_used,
    reason = "a test helper, never built into a release"
)]
pub async fn send_forged_invite_file(node: &Node, peer: crate::UserId, root: [u8; 32]) {
    use tern_blob::descriptor::{Location, LocationKind};
    let mut rng = tern_crypto::rand_core::UnwrapErr(getrandom::SysRng);
    let relay = libp2p::PeerId::random();
    let descriptor = crate::core::describe_invite(
        tern_blob::Root::from_bytes(root),
        tern_blob::Lengths::for_plaintext(300_000).expect("a valid length"),
        tern_blob::FileKey::generate(&mut rng),
        vec![Location {
            kind: LocationKind::Relay,
            peer: relay.to_bytes(),
            capability: tern_blob::Capability::generate(&mut rng),
        }],
    )
    .expect("a valid descriptor");
    let body = crate::body::Body::Group(crate::body::GroupControl {
        id: crate::MessageId::random(&mut rng),
        stamp: 1,
        op: crate::body::GroupOp::InviteFile {
            descriptor,
            sequencers: vec![crate::group::tables::SequencerRow {
                peer: relay.to_bytes(),
                addresses: vec!["/ip4/127.0.0.1/tcp/9".into()],
            }],
        },
    });
    node.send_body(peer, body).await;
}
