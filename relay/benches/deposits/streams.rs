//! Deposits on `/tern/deposit/1`: one long-lived stream per sender, deposits pipelined on it
//! ([`tern_proto::mailbox::deposits`]), against the same relay as the request-response
//! senders.

use futures::StreamExt;
use libp2p::{Multiaddr, PeerId};
use tern_proto::mailbox::{
    VerifiedRoots,
    deposits::{self, DepositAnswer},
};

/// Deposits `envelopes` for `mailbox` on one deposit stream to the relay, keeping `window`
/// unanswered, and checks every receipt as a node does (each batch's signature once).
/// Returns how many were stored.
pub(super) async fn deposit(
    address: Multiaddr,
    relay: PeerId,
    mailbox: [u8; 32],
    envelopes: Vec<Vec<u8>>,
    window: usize,
) -> usize {
    let mut swarm = super::swarm(libp2p_stream::Behaviour::new());
    let mut control = swarm.behaviour().new_control();
    swarm.dial(address).expect("dial");
    let network = tokio::spawn(async move {
        loop {
            swarm.select_next_some().await;
        }
    });
    let stream = control
        .open_stream(relay, deposits::PROTOCOL)
        .await
        .expect("deposit stream");
    let (lane, driver) = deposits::lane(stream);
    let driver = tokio::spawn(driver);
    let roots = VerifiedRoots::default();
    let mailbox_id = tern_crypto::MailboxId::from_bytes(mailbox);
    let stored = futures::stream::iter(envelopes)
        .map(|envelope| {
            let lane = lane.clone();
            async move {
                let answer = lane.deposit(mailbox, envelope.clone()).await;
                (answer, envelope)
            }
        })
        .buffer_unordered(window)
        .map(|(answer, envelope)| {
            let Ok(DepositAnswer::Stored(receipt)) = answer else {
                panic!("deposit not stored: {answer:?}");
            };
            receipt
                .verify_with(&relay.to_bytes(), &mailbox_id, &envelope, &roots)
                .expect("valid receipt");
        })
        .count()
        .await;
    drop(lane);
    driver
        .await
        .expect("driver")
        .expect("stream closed cleanly");
    network.abort();
    stored
}
