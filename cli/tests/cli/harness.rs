//! Starting profiles, daemons and a relay, and waiting for things with timeouts: the process
//! harness is `tern-tests`'; what is particular to these tests (an in-process relay, a pair of
//! accounts) is here.

pub(crate) use tern_tests::{Daemon, Profile, TIMEOUT, eventually, run, tern};

/// A relay in this process, on loopback.
pub(crate) async fn relay() -> (tern_relay::Relay, String, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let relay = tern_relay::Relay::spawn(
        tern_relay::Config::new(dir.path()).with_listen_addr("/ip4/127.0.0.1/tcp/0"),
    )
    .await
    .unwrap();
    let address = relay.addresses().await[0].clone();
    (relay, address, dir)
}

/// Two accounts that have each other as contacts ("alice" has "bob" and back), sharing a
/// relay, with their daemons running.
pub(crate) struct Pair {
    pub(crate) alice: Profile,
    pub(crate) bob: Profile,
    pub(crate) alice_daemon: Option<Daemon>,
    pub(crate) bob_daemon: Option<Daemon>,
    pub(crate) relay: tern_relay::Relay,
    _relay_dir: tempfile::TempDir,
}

impl Pair {
    pub(crate) async fn start() -> Self {
        let (relay, relay_address, relay_dir) = relay().await;
        let alice = Profile::init(&[relay_address.as_str()]).await;
        let bob = Profile::init(&[relay_address.as_str()]).await;
        // Contacts are added before any daemon runs: the commands open the account themselves.
        let (alice_invite, bob_invite) = (alice.invite().await, bob.invite().await);
        let run = alice.tern(&["contact", "add", "bob", &bob_invite]).await;
        assert_eq!(run.code, 0, "{run:?}");
        let run = bob.tern(&["contact", "add", "alice", &alice_invite]).await;
        assert_eq!(run.code, 0, "{run:?}");
        let alice_daemon = Some(alice.daemon().await);
        let bob_daemon = Some(bob.daemon().await);
        Self {
            alice,
            bob,
            alice_daemon,
            bob_daemon,
            relay,
            _relay_dir: relay_dir,
        }
    }
}

/// A profile on `relay` with its daemon running, that has `peer` (an invite) as a contact
/// named `name`, while `peer` does not know it: a stranger to `peer`.
pub(crate) async fn stranger(relay: &str, name: &str, peer_invite: &str) -> (Profile, Daemon) {
    let profile = Profile::init(&[relay]).await;
    let run = profile.tern(&["contact", "add", name, peer_invite]).await;
    assert_eq!(run.code, 0, "{run:?}");
    let daemon = profile.daemon().await;
    (profile, daemon)
}

impl Pair {
    /// The base URL of Alice's daemon's API.
    pub(crate) fn alice_api(&self) -> &str {
        &self.alice_daemon.as_ref().unwrap().api
    }
}
