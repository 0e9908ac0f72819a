//! The attacker's Kademlia side: a raw client with Tern's DHT settings, throwaway accounts'
//! records, and reading any account's record the way anyone on the DHT can.

use std::collections::HashSet;

use futures::StreamExt;
use libp2p::{
    Multiaddr, PeerId, Swarm,
    kad::{self, store::MemoryStore},
    swarm::SwarmEvent,
};
use rand_chacha::{ChaCha20Rng, rand_core::SeedableRng};
use tern_crypto::{AccountKey, DeviceId, PrekeySecrets, UserId};
use tern_proto::record::{self, PeerRecord};
use tern_tests::TIMEOUT;

use crate::attacker::peer_of;

pub(crate) type KadClient = Swarm<kad::Behaviour<MemoryStore>>;

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("after 1970")
        .as_secs()
}

/// A client holding only a Kademlia behaviour, with a fresh identity, knowing the relay at
/// `address`.
pub(crate) fn kad_client(address: &Multiaddr) -> KadClient {
    let mut swarm = libp2p::SwarmBuilder::with_new_identity()
        .with_tokio()
        .with_tcp(
            libp2p::tcp::Config::default(),
            libp2p::noise::Config::new,
            libp2p::yamux::Config::default,
        )
        .expect("tcp")
        .with_behaviour(|key| tern_proto::dht::behaviour(key.public().to_peer_id(), 16))
        .expect("behaviour")
        .with_swarm_config(|c| c.with_idle_connection_timeout(TIMEOUT))
        .build();
    swarm
        .behaviour_mut()
        .add_address(&peer_of(address), address.clone());
    swarm
}

/// A valid record for a fresh throwaway account, as a node publishes one.
pub(crate) fn throwaway_record(seed: u64) -> kad::Record {
    let mut seed_bytes = [0u8; 32];
    seed_bytes[..8].copy_from_slice(&seed.to_be_bytes());
    let mut rng = ChaCha20Rng::from_seed(seed_bytes);
    let account = AccountKey::generate(&mut rng);
    let device = libp2p::identity::Keypair::generate_ed25519();
    let device_key: [u8; 32] = device
        .public()
        .try_into_ed25519()
        .expect("an ed25519 key")
        .to_bytes();
    let now = now();
    let certificate = account.certify_device(
        DeviceId::from_bytes(device_key).expect("a device key"),
        now,
        now + 86_400,
    );
    let bundle = PrekeySecrets::generate(&mut rng, &account, now).bundle(&account, 1);
    let value = record::sign(&account, &certificate, &[], &bundle, &[], 1, now + 3600);
    kad::Record::new(record::key_for(&account.user_id()), value)
}

/// Puts each record at the relay only; how many it acknowledged.
pub(crate) async fn put_all(
    swarm: &mut KadClient,
    relay: PeerId,
    records: Vec<kad::Record>,
) -> usize {
    let mut waiting = HashSet::new();
    for record in records {
        waiting.insert(swarm.behaviour_mut().put_record_to(
            record,
            std::iter::once(relay),
            kad::Quorum::One,
        ));
    }
    let mut stored = 0;
    tokio::time::timeout(TIMEOUT * 2, async {
        while !waiting.is_empty() {
            if let SwarmEvent::Behaviour(kad::Event::OutboundQueryProgressed {
                id,
                result: kad::QueryResult::PutRecord(result),
                ..
            }) = swarm.select_next_some().await
                && waiting.remove(&id)
            {
                stored += usize::from(result.is_ok());
            }
        }
    })
    .await
    .expect("the puts finish in time");
    stored
}

/// `user`'s record as the DHT at `address` hands it out, checked, and its bytes.
pub(crate) async fn find_record(
    address: &Multiaddr,
    user: &UserId,
) -> Option<(PeerRecord, Vec<u8>)> {
    let mut swarm = kad_client(address);
    let key = record::key_for(user);
    swarm.behaviour_mut().get_record(key.clone());
    let found = tokio::time::timeout(TIMEOUT, async {
        loop {
            if let SwarmEvent::Behaviour(kad::Event::OutboundQueryProgressed {
                result: kad::QueryResult::GetRecord(result),
                ..
            }) = swarm.select_next_some().await
            {
                return result;
            }
        }
    })
    .await
    .expect("the lookup finishes in time");
    match found {
        Ok(kad::GetRecordOk::FoundRecord(found)) => Some((
            record::validate(&key, &found.record.value, now()).expect("a valid record"),
            found.record.value,
        )),
        _ => None,
    }
}
