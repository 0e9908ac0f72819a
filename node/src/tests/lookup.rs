//! Record lookups that answer before their query ends: an older record that arrives first
//! is used at once, and a newer one that a slower peer returns afterwards replaces it.

use std::time::Duration;

use futures::StreamExt;
use libp2p::{Multiaddr, kad, swarm::SwarmEvent};
use tern_crypto::{AccountKey, DeviceId, PrekeySecrets, UserId, rand_core::UnwrapErr};
use tern_proto::{dht, record};
use tokio::sync::{mpsc, watch};

use super::{TIMEOUT, raw_swarm};

/// A bare Kademlia server holding one record, which the test can freeze: while frozen its
/// swarm is not polled, so requests to it go unanswered, as with a peer whose link stalls.
struct RawPeer {
    /// Its address, with `/p2p/<peer id>`.
    address: Multiaddr,
    frozen: watch::Sender<bool>,
    /// One message per connection established.
    connected: mpsc::Receiver<()>,
}

impl RawPeer {
    async fn start(record: kad::Record) -> Self {
        let mut swarm = raw_swarm(|key| {
            let peer = key.public().to_peer_id();
            kad::Behaviour::with_config(peer, kad::store::MemoryStore::new(peer), dht::kad_config())
        });
        swarm.behaviour_mut().set_mode(Some(kad::Mode::Server));
        use kad::store::RecordStore;
        swarm.behaviour_mut().store_mut().put(record).unwrap();
        swarm
            .listen_on("/ip4/127.0.0.1/tcp/0".parse().unwrap())
            .unwrap();
        let listening = loop {
            if let SwarmEvent::NewListenAddr { address, .. } = swarm.select_next_some().await {
                break address;
            }
        };
        let address = listening.with_p2p(*swarm.local_peer_id()).unwrap();
        let (frozen, mut frozen_rx) = watch::channel(false);
        let (connections, connected) = mpsc::channel(16);
        tokio::spawn(async move {
            loop {
                if *frozen_rx.borrow_and_update() {
                    if frozen_rx.wait_for(|frozen| !frozen).await.is_err() {
                        return;
                    }
                    continue;
                }
                tokio::select! {
                    event = swarm.select_next_some() => {
                        if let SwarmEvent::ConnectionEstablished { .. } = event {
                            let _ = connections.try_send(());
                        }
                    }
                    changed = frozen_rx.changed() => if changed.is_err() { return },
                }
            }
        });
        Self {
            address,
            frozen,
            connected,
        }
    }

    async fn wait_connected(&mut self) {
        tokio::time::timeout(TIMEOUT, self.connected.recv())
            .await
            .expect("the node never connected")
            .expect("the raw peer stopped");
    }

    fn freeze(&self, frozen: bool) {
        self.frozen.send_replace(frozen);
    }
}

/// `account`'s record with sequence number `seq`, valid for an hour from now.
fn record_of(account: &AccountKey, seq: u64) -> kad::Record {
    let mut rng = UnwrapErr(getrandom::SysRng);
    let now = crate::Clock::system().now_secs();
    let device =
        DeviceId::from_bytes(*AccountKey::generate(&mut rng).user_id().as_bytes()).unwrap();
    let certificate = account.certify_device(device, now, now + 3600);
    let bundle = PrekeySecrets::generate(&mut rng, account, now).bundle(account, seq);
    let value = record::sign(account, &certificate, &[], &bundle, &[], seq, now + 3600);
    kad::Record::new(record::key_for(&account.user_id()), value)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_older_record_that_arrives_first_is_replaced_by_a_newer_one() {
    let alice = AccountKey::generate(&mut UnwrapErr(getrandom::SysRng));
    let alice_user: UserId = alice.user_id();
    // The quick peer holds Alice's previous record; the slow one her current record.
    let mut quick = RawPeer::start(record_of(&alice, 1)).await;
    let mut slow = RawPeer::start(record_of(&alice, 2)).await;

    let dir = tempfile::tempdir().unwrap();
    let node = crate::test_utils::builder(dir.path())
        .with_bootstrap(quick.address.to_string())
        .with_bootstrap(slow.address.to_string())
        .with_lookup_grace(Duration::from_millis(100))
        .spawn()
        .await
        .unwrap();
    quick.wait_connected().await;
    slow.wait_connected().await;

    // The slow peer stalls: the lookup answers with the record that came first, without
    // waiting for the query to end.
    slow.freeze(true);
    let found = tokio::time::timeout(TIMEOUT, node.inner_net().lookup(alice_user))
        .await
        .expect("the lookup waited for the stalled peer")
        .expect("no record found");
    assert_eq!(found.record.seq, 1, "the record that arrived first");

    // The stalled peer comes back and answers: the newer record replaces the older one.
    slow.freeze(false);
    let newer = tokio::time::timeout(TIMEOUT, found.newer)
        .await
        .expect("the newer record never came")
        .expect("the query ended without passing the newer record on");
    assert_eq!(newer.seq, 2);
    assert_eq!(newer.user, alice_user);
    node.shutdown().await;
}

/// Regression: a peer answers a PUT at once and stores the record only once it has validated
/// it, on its blocking pool. A node that read its record back before then found no copy,
/// called the publication failed, and tried again 5 s later, to the same end while the peer
/// stayed busy: its record never counted as current. It now reads back again after a pause.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_record_stored_after_the_put_was_answered_still_counts_as_published() {
    let dirs: Vec<tempfile::TempDir> = (0..2).map(|_| tempfile::tempdir().unwrap()).collect();
    let bootstrap = super::start(dirs[0].path(), &[]).await;
    crate::network::records::failpoints::delay_checks_at(
        bootstrap.inner_net().peer_id(),
        Duration::from_millis(600),
    );
    let alice = super::start(dirs[1].path(), &bootstrap.addresses().await).await;
    tokio::time::timeout(TIMEOUT, async {
        while !alice.status().await.unwrap().record_current {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
    .expect("the record never counted as published");
}
