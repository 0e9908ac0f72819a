//! Properties of sessions under arbitrary delivery: reordering, loss, duplication, tampering
//! and restarts.

use proptest::prelude::*;
use tern_crypto::{DecryptError, Session, SessionMessage, ratchet_limits::MAX_SKIP};

use super::support::{NOW, World};

#[derive(Clone, Debug)]
enum Op {
    /// Alice (true) or Bob (false) encrypts a new message.
    Send(bool),
    /// Deliver the message with this index (modulo those sent) to its recipient.
    Deliver(usize),
    /// Restart one side from its persisted state.
    Restart(bool),
    /// Deliver a tampered copy: flip bit `bit` of byte `byte` (modulo the length).
    Tamper(usize, usize, u8),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => any::<bool>().prop_map(Op::Send),
        4 => any::<usize>().prop_map(Op::Deliver),
        1 => any::<bool>().prop_map(Op::Restart),
        1 => (any::<usize>(), any::<usize>(), 0u8..8).prop_map(|(i, b, bit)| Op::Tamper(i, b, bit)),
    ]
}

struct Sent {
    from_alice: bool,
    plaintext: Vec<u8>,
    message: SessionMessage,
    delivered: bool,
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    /// Every message decrypts exactly once, in any order, whatever is lost, duplicated or
    /// tampered with, and across restarts; every refusal leaves the session unchanged.
    #[test]
    fn any_delivery_order_decrypts_each_message_exactly_once(seed in any::<u64>(), ops in prop::collection::vec(op(), 1..80)) {
        let mut w = World::new(seed);
        let (mut alice, mut bob) = w.established();
        let mut sent: Vec<Sent> = Vec::new();
        for op in ops {
            match op {
                Op::Send(from_alice) => {
                    let plaintext = format!("message {} from {}", sent.len(), if from_alice { "alice" } else { "bob" }).into_bytes();
                    let session = if from_alice { &mut alice } else { &mut bob };
                    let message = session.encrypt(&mut w.rng, &plaintext).unwrap();
                    sent.push(Sent { from_alice, plaintext, message, delivered: false });
                }
                Op::Deliver(i) if !sent.is_empty() => {
                    let index = i % sent.len();
                    let item = &mut sent[index];
                    let to = if item.from_alice { &mut bob } else { &mut alice };
                    let before = to.to_bytes();
                    let result = to.decrypt(&mut w.rng, &item.message, NOW);
                    if item.delivered {
                        prop_assert!(result.is_err(), "a duplicate was accepted");
                        prop_assert_eq!(to.to_bytes(), before, "a refused duplicate changed state");
                    } else {
                        prop_assert_eq!(result.unwrap(), item.plaintext.clone());
                        item.delivered = true;
                    }
                }
                Op::Restart(alice_side) => {
                    let session = if alice_side { &mut alice } else { &mut bob };
                    *session = Session::from_bytes(&session.to_bytes()).unwrap();
                }
                Op::Tamper(i, byte, bit) if !sent.is_empty() => {
                    let index = i % sent.len();
                    let item = &sent[index];
                    let mut bytes = item.message.to_bytes();
                    let at = byte % bytes.len();
                    bytes[at] ^= 1 << bit;
                    let to = if item.from_alice { &mut bob } else { &mut alice };
                    let before = to.to_bytes();
                    if let Ok(tampered) = SessionMessage::from_bytes(&bytes) {
                        prop_assert!(to.decrypt(&mut w.rng, &tampered, NOW).is_err(), "tampered byte {} accepted", at);
                    }
                    prop_assert_eq!(to.to_bytes(), before, "a refused message changed state");
                }
                _ => {}
            }
        }
        // Everything not yet delivered still arrives.
        for item in sent.iter_mut().filter(|s| !s.delivered) {
            let to = if item.from_alice { &mut bob } else { &mut alice };
            prop_assert_eq!(to.decrypt(&mut w.rng, &item.message, NOW).unwrap(), item.plaintext.clone());
        }
        prop_assert_eq!(alice.skipped_keys() + bob.skipped_keys(), 0, "skipped keys left after every message arrived");
    }

    /// Skipping more than MAX_SKIP keys is refused without any change; the message just
    /// within the bound is accepted.
    #[test]
    fn skipping_beyond_the_bound_is_refused(seed in any::<u64>(), beyond in 1u32..4) {
        let mut w = World::new(seed);
        let (mut alice, mut bob) = w.established();
        // Message number MAX_SKIP needs exactly MAX_SKIP keys skipped (allowed, as in the spec's
        // `Nr + MAX_SKIP < until` test); anything further is refused.
        let messages: Vec<_> = (0..=MAX_SKIP + beyond).map(|_| alice.encrypt(&mut w.rng, b"x").unwrap()).collect();
        let before = bob.to_bytes();
        let too_far = &messages[(MAX_SKIP + beyond) as usize];
        let err = bob.decrypt(&mut w.rng, too_far, NOW).unwrap_err();
        prop_assert!(matches!(err, DecryptError::TooManySkipped { .. }), "{:?}", err);
        prop_assert_eq!(bob.to_bytes(), before);
        prop_assert!(bob.decrypt(&mut w.rng, &messages[MAX_SKIP as usize], NOW).is_ok());
        prop_assert_eq!(bob.skipped_keys(), MAX_SKIP as usize);
    }
}
