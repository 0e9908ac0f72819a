//! Session scenarios: starting, confirming, routing, replays, rotation, persistence.

use tern_crypto::{
    DecryptError, EncryptError, InitialMessage, PrekeyBundle, PrekeySecrets, Session, SessionError,
    SessionMessage, VerifyError,
    envelope::{self, EnvelopeError},
    prekeys::{
        MAX_ONE_TIME_PREKEYS, PREKEY_LIFETIME_SECS, RETIRED_GRACE_SECS, ROTATION_INTERVAL_SECS,
    },
    ratchet_limits::MAX_PLAINTEXT_LEN,
};

use super::support::{NOW, World, initial};

#[test]
fn long_conversation_in_both_directions() {
    let mut w = World::new(1);
    let (mut alice, mut bob) = w.established();
    // Irregular turns: runs in one direction (no DH step) and alternations (a DH step each).
    let pattern = [3usize, 1, 1, 5, 2, 1, 1, 1, 4];
    for (turn, &count) in pattern.iter().enumerate() {
        let (from, to) = if turn % 2 == 0 {
            (&mut alice, &mut bob)
        } else {
            (&mut bob, &mut alice)
        };
        for i in 0..count {
            let text = format!("turn {turn} message {i}");
            let message = from.encrypt(&mut w.rng, text.as_bytes()).unwrap();
            assert!(matches!(message, SessionMessage::Ratchet(_)));
            assert_eq!(
                to.decrypt(&mut w.rng, &message, NOW).unwrap(),
                text.as_bytes()
            );
        }
    }
}

#[test]
fn initiator_repeats_the_header_until_a_reply_arrives() {
    let mut w = World::new(2);
    let mut alice = Session::initiate(&mut w.rng, &w.alice, &w.bundle, None, NOW).unwrap();
    let first = initial(alice.encrypt(&mut w.rng, b"one").unwrap());
    let second = initial(alice.encrypt(&mut w.rng, b"two").unwrap());
    assert_eq!(first.base_key(), second.base_key());

    // The first is lost; the second alone starts the session, and the first still decrypts
    // later through the existing session (same base key), out of order.
    let (mut bob, plaintext) =
        Session::respond(&mut w.rng, &w.bob, &mut w.bob_prekeys, &second, NOW).unwrap();
    assert_eq!(plaintext, b"two");
    assert_eq!(bob.base_key(), second.base_key());
    assert_eq!(
        bob.decrypt(&mut w.rng, &SessionMessage::Initial(first), NOW)
            .unwrap(),
        b"one"
    );

    let reply = bob.encrypt(&mut w.rng, b"ack").unwrap();
    assert!(
        matches!(reply, SessionMessage::Ratchet(_)),
        "the responder never sends a header"
    );
    alice.decrypt(&mut w.rng, &reply, NOW).unwrap();
    assert!(matches!(
        alice.encrypt(&mut w.rng, b"three").unwrap(),
        SessionMessage::Ratchet(_)
    ));
}

/// A session confirmed by the responder's device (its `stored` answer, not a reply) sends
/// plain ratchet messages, which the responder's session decrypts after the initial ones,
/// and keeps doing so once stored and loaded again.
#[test]
fn a_confirmed_session_drops_the_header_and_the_responder_follows() {
    let mut w = World::new(22);
    let mut alice = Session::initiate(&mut w.rng, &w.alice, &w.bundle, None, NOW).unwrap();
    let first = initial(alice.encrypt(&mut w.rng, b"one").unwrap());
    let (mut bob, _) =
        Session::respond(&mut w.rng, &w.bob, &mut w.bob_prekeys, &first, NOW).unwrap();
    let before = alice.to_bytes().len();
    alice.confirm();
    assert!(!alice.is_unconfirmed());
    let mut alice = Session::from_bytes(&alice.to_bytes()).unwrap();
    assert!(alice.to_bytes().len() < before, "the stored header is gone");
    for text in [&b"two"[..], b"three"] {
        let message = alice.encrypt(&mut w.rng, text).unwrap();
        assert!(matches!(message, SessionMessage::Ratchet(_)));
        assert_eq!(bob.decrypt(&mut w.rng, &message, NOW).unwrap(), text);
    }
    // Confirming the responder's side changes nothing: it never sends a header.
    bob.confirm();
    let reply = bob.encrypt(&mut w.rng, b"reply").unwrap();
    assert!(matches!(reply, SessionMessage::Ratchet(_)));
    assert_eq!(alice.decrypt(&mut w.rng, &reply, NOW).unwrap(), b"reply");
}

/// A late initial message reaches the session its header started, and only with that very
/// header: one with the session's base key and sender but another KEM ciphertext or other
/// prekey ids (bytes its ratchet message does not authenticate) is refused, changing nothing.
#[test]
fn a_late_initial_message_must_carry_the_header_that_started_the_session() {
    let mut w = World::new(21);
    let mut alice = Session::initiate(&mut w.rng, &w.alice, &w.bundle, None, NOW).unwrap();
    let first = initial(alice.encrypt(&mut w.rng, b"one").unwrap());
    let second = initial(alice.encrypt(&mut w.rng, b"two").unwrap());
    let (mut bob, _) =
        Session::respond(&mut w.rng, &w.bob, &mut w.bob_prekeys, &second, NOW).unwrap();

    // version ‖ identity [128] ‖ EK_A [32] ‖ CT [1088] ‖ spk_id u32 ‖ kem_id u32 ‖ ...
    let ct = 1 + 128 + 32;
    let ids = ct + 1088;
    let altered = |at: usize| {
        let mut bytes = first.to_bytes();
        bytes[at] ^= 1;
        SessionMessage::Initial(InitialMessage::from_bytes(&bytes).unwrap())
    };
    let before = bob.to_bytes();
    for at in [ct, ct + 1087, ids + 3, ids + 7] {
        assert_eq!(
            bob.decrypt(&mut w.rng, &altered(at), NOW),
            Err(DecryptError::OtherSession),
            "byte {at} altered"
        );
        assert_eq!(bob.to_bytes(), before);
    }
    // The genuine late message still decrypts, also after a reload.
    let mut bob = Session::from_bytes(&bob.to_bytes()).unwrap();
    assert_eq!(
        bob.decrypt(&mut w.rng, &SessionMessage::Initial(first), NOW)
            .unwrap(),
        b"one"
    );
}

/// The responder's prekeys must be the responding account's: a start is answered only with
/// the secrets of the account it was addressed to.
#[test]
fn respond_refuses_prekeys_of_another_account() {
    let mut w = World::new(22);
    let mut alice = Session::initiate(&mut w.rng, &w.alice, &w.bundle, None, NOW).unwrap();
    let start = initial(alice.encrypt(&mut w.rng, b"hi").unwrap());
    let before = w.bob_prekeys.to_bytes();
    let err = Session::respond(&mut w.rng, &w.alice, &mut w.bob_prekeys, &start, NOW).unwrap_err();
    assert_eq!(
        err,
        SessionError::Prekey(VerifyError::WrongAccount("prekey secrets"))
    );
    assert_eq!(w.bob_prekeys.to_bytes(), before);
}

#[test]
fn a_start_for_another_session_is_routed_away() {
    let mut w = World::new(3);
    let (_alice, mut bob) = w.start(false, b"first session");
    let mut again = Session::initiate(&mut w.rng, &w.alice, &w.bundle, None, NOW).unwrap();
    let other = again.encrypt(&mut w.rng, b"second session").unwrap();
    let before = bob.to_bytes();
    assert_eq!(
        bob.decrypt(&mut w.rng, &other, NOW),
        Err(DecryptError::OtherSession)
    );
    assert_eq!(bob.to_bytes(), before);
    // As a new start it is accepted.
    let (_, plaintext) =
        Session::respond(&mut w.rng, &w.bob, &mut w.bob_prekeys, &initial(other), NOW).unwrap();
    assert_eq!(plaintext, b"second session");
}

#[test]
fn one_time_prekey_is_used_once() {
    let mut w = World::new(4);
    let opk = w.one_time[0].clone();
    let held = w.bob_prekeys.one_time_count();
    let mut alice = Session::initiate(&mut w.rng, &w.alice, &w.bundle, Some(&opk), NOW).unwrap();
    let start = initial(alice.encrypt(&mut w.rng, b"hi").unwrap());
    assert_eq!(start.one_time_prekey_id(), Some(opk.id()));
    Session::respond(&mut w.rng, &w.bob, &mut w.bob_prekeys, &start, NOW).unwrap();
    assert_eq!(w.bob_prekeys.one_time_count(), held - 1);

    // A replay of the same start cannot be accepted: the prekey is gone.
    let err = Session::respond(&mut w.rng, &w.bob, &mut w.bob_prekeys, &start, NOW).unwrap_err();
    assert_eq!(
        err,
        SessionError::UnknownPrekey {
            kind: "one-time",
            id: opk.id()
        }
    );
}

#[test]
fn replay_tag_identifies_a_start_without_one_time_prekey() {
    let mut w = World::new(5);
    let mut alice = Session::initiate(&mut w.rng, &w.alice, &w.bundle, None, NOW).unwrap();
    let first = initial(alice.encrypt(&mut w.rng, b"a").unwrap());
    let second = initial(alice.encrypt(&mut w.rng, b"b").unwrap());
    // Same start, same tag: a replay cache keyed by it rejects the replay.
    assert_eq!(first.replay_tag(), second.replay_tag());
    let mut other = Session::initiate(&mut w.rng, &w.alice, &w.bundle, None, NOW).unwrap();
    assert_ne!(
        initial(other.encrypt(&mut w.rng, b"c").unwrap()).replay_tag(),
        first.replay_tag()
    );
    // Without the cache, the spec's warning holds: the start is accepted again. The cache can
    // drop the tag once the signed prekey is retired.
    let prekeys_before = w.bob_prekeys.to_bytes();
    Session::respond(&mut w.rng, &w.bob, &mut w.bob_prekeys, &first, NOW).unwrap();
    Session::respond(&mut w.rng, &w.bob, &mut w.bob_prekeys, &first, NOW).unwrap();
    assert_eq!(
        w.bob_prekeys.to_bytes(),
        prekeys_before,
        "a start without one-time prekey consumes nothing"
    );
    assert_eq!(
        w.bob_prekeys
            .signed_prekey_retires_at(first.signed_prekey_id()),
        Some(NOW + PREKEY_LIFETIME_SECS + RETIRED_GRACE_SECS)
    );
}

#[test]
fn expired_bundle_is_refused() {
    let mut w = World::new(6);
    let late = NOW + PREKEY_LIFETIME_SECS;
    let err = Session::initiate(&mut w.rng, &w.alice, &w.bundle, None, late).unwrap_err();
    assert!(
        matches!(err, SessionError::Prekey(VerifyError::Expired { .. })),
        "{err:?}"
    );
}

#[test]
fn one_time_prekeys_beyond_the_bound_are_not_made_and_none_is_evicted() {
    let mut w = World::new(15);
    let held = w.bob_prekeys.one_time_count();
    let more = w
        .bob_prekeys
        .generate_one_time(&mut w.rng, &w.bob, MAX_ONE_TIME_PREKEYS);
    assert_eq!(
        more.len(),
        MAX_ONE_TIME_PREKEYS - held,
        "only as many as fit"
    );
    assert_eq!(w.bob_prekeys.one_time_count(), MAX_ONE_TIME_PREKEYS);
    assert!(
        w.bob_prekeys
            .generate_one_time(&mut w.rng, &w.bob, 10)
            .is_empty(),
        "none while the store is full"
    );
    // The oldest prekey, which a relay may still hand out, still starts a session.
    let (_alice, _bob) = w.start(true, b"still works");
    assert_eq!(w.bob_prekeys.one_time_count(), MAX_ONE_TIME_PREKEYS - 1);
    assert_eq!(
        w.bob_prekeys
            .generate_one_time(&mut w.rng, &w.bob, 10)
            .len(),
        1
    );
}

#[test]
fn one_time_prekey_of_another_account_is_refused() {
    let mut w = World::new(7);
    let mut mallory_prekeys = PrekeySecrets::generate(&mut w.rng, &w.alice, NOW);
    let foreign = mallory_prekeys
        .generate_one_time(&mut w.rng, &w.alice, 1)
        .pop()
        .unwrap();
    let err = Session::initiate(&mut w.rng, &w.alice, &w.bundle, Some(&foreign), NOW).unwrap_err();
    assert_eq!(
        err,
        SessionError::Prekey(VerifyError::WrongAccount("one-time prekey"))
    );
}

#[test]
fn rotation_keeps_retired_prekeys_through_the_grace_period() {
    let mut w = World::new(8);
    let old_bundle = w.bundle.clone();
    assert!(
        !w.bob_prekeys.rotate(&mut w.rng, &w.bob, NOW + 1),
        "not due yet"
    );
    let rotated_at = NOW + ROTATION_INTERVAL_SECS;
    assert!(w.bob_prekeys.rotate(&mut w.rng, &w.bob, rotated_at));
    let new_bundle = w.bob_prekeys.bundle(&w.bob, 2);
    assert_ne!(
        new_bundle.signed_prekey().id(),
        old_bundle.signed_prekey().id()
    );

    // A start made against the old bundle before it expired, fetched from a relay late.
    let mut alice = Session::initiate(&mut w.rng, &w.alice, &old_bundle, None, rotated_at).unwrap();
    let start = initial(alice.encrypt(&mut w.rng, b"delayed").unwrap());
    let fetched_at = old_bundle.signed_prekey().expires() + RETIRED_GRACE_SECS - 1;
    w.bob_prekeys.rotate(&mut w.rng, &w.bob, fetched_at);
    let (_, plaintext) =
        Session::respond(&mut w.rng, &w.bob, &mut w.bob_prekeys, &start, fetched_at).unwrap();
    assert_eq!(plaintext, b"delayed");

    // After the grace period the old secret is gone and the start is refused.
    w.bob_prekeys.rotate(&mut w.rng, &w.bob, fetched_at + 1);
    let err = Session::respond(
        &mut w.rng,
        &w.bob,
        &mut w.bob_prekeys,
        &start,
        fetched_at + 1,
    )
    .unwrap_err();
    assert!(
        matches!(err, SessionError::UnknownPrekey { kind: "signed", .. }),
        "{err:?}"
    );
    // The newest prekeys always survive, however long the device was off.
    w.bob_prekeys
        .rotate(&mut w.rng, &w.bob, fetched_at + 10 * RETIRED_GRACE_SECS);
    let _ = w.bob_prekeys.bundle(&w.bob, 3);
}

#[test]
fn a_retired_prekey_is_refused_even_before_rotation() {
    let mut w = World::new(14);
    let mut alice = Session::initiate(&mut w.rng, &w.alice, &w.bundle, None, NOW).unwrap();
    let start = initial(alice.encrypt(&mut w.rng, b"late").unwrap());
    let retires = w
        .bob_prekeys
        .signed_prekey_retires_at(start.signed_prekey_id())
        .unwrap();
    assert_eq!(retires, NOW + PREKEY_LIFETIME_SECS + RETIRED_GRACE_SECS);

    // Bob's device was off: `rotate` never ran, so the secret is still held. The start must be
    // refused all the same, or a replay cache that dropped its tag at `retires` would let a
    // replay through.
    let before = w.bob_prekeys.to_bytes();
    let err =
        Session::respond(&mut w.rng, &w.bob, &mut w.bob_prekeys, &start, retires).unwrap_err();
    assert_eq!(
        err,
        SessionError::UnknownPrekey {
            kind: "signed",
            id: start.signed_prekey_id()
        }
    );
    assert_eq!(w.bob_prekeys.to_bytes(), before);
    let (_, plaintext) =
        Session::respond(&mut w.rng, &w.bob, &mut w.bob_prekeys, &start, retires - 1).unwrap();
    assert_eq!(plaintext, b"late");
}

#[test]
fn states_persist_mid_conversation() {
    let mut w = World::new(9);
    let (mut alice, mut bob) = w.established();
    let in_flight = alice.encrypt(&mut w.rng, b"in flight").unwrap();
    let delivered = alice.encrypt(&mut w.rng, b"delivered").unwrap();
    bob.decrypt(&mut w.rng, &delivered, NOW).unwrap();

    // Everything a node stores, restored from bytes.
    let alice_account = tern_crypto::AccountKey::from_bytes(&w.alice.to_bytes()).unwrap();
    let mut bob_prekeys = PrekeySecrets::from_bytes(&w.bob_prekeys.to_bytes()).unwrap();
    assert_eq!(bob_prekeys.to_bytes(), w.bob_prekeys.to_bytes());
    let mut alice = Session::from_bytes(&alice.to_bytes()).unwrap();
    let mut bob = Session::from_bytes(&bob.to_bytes()).unwrap();
    assert_eq!(bob.skipped_keys(), 1);

    assert_eq!(
        bob.decrypt(&mut w.rng, &in_flight, NOW).unwrap(),
        b"in flight"
    );
    let reply = bob.encrypt(&mut w.rng, b"after restart").unwrap();
    assert_eq!(
        alice.decrypt(&mut w.rng, &reply, NOW).unwrap(),
        b"after restart"
    );
    // And restored keys still start new sessions.
    let bundle = bob_prekeys.bundle(&w.bob, 2);
    let mut fresh = Session::initiate(&mut w.rng, &alice_account, &bundle, None, NOW).unwrap();
    let start = initial(fresh.encrypt(&mut w.rng, b"new").unwrap());
    Session::respond(&mut w.rng, &w.bob, &mut bob_prekeys, &start, NOW).unwrap();
}

#[test]
fn restored_sender_reencrypting_uses_fresh_nonces() {
    // A crash after encrypting but before persisting: the restored state derives the same
    // message key again. The random nonce keeps the two ciphertexts independent, and the
    // receiver accepts only one of them.
    let mut w = World::new(10);
    let (alice, mut bob) = w.established();
    let saved = alice.to_bytes();
    let mut first_life = Session::from_bytes(&saved).unwrap();
    let mut second_life = Session::from_bytes(&saved).unwrap();
    let a = first_life.encrypt(&mut w.rng, b"same length 1").unwrap();
    let b = second_life.encrypt(&mut w.rng, b"same length 2").unwrap();
    let (SessionMessage::Ratchet(a), SessionMessage::Ratchet(b)) = (&a, &b) else {
        panic!()
    };
    let (a, b) = (a.to_bytes(), b.to_bytes());
    assert_eq!(a[..41], b[..41], "same header: same message key");
    assert_ne!(a[41..65], b[41..65], "different nonces");
    let xor: Vec<u8> = a[65..].iter().zip(&b[65..]).map(|(x, y)| x ^ y).collect();
    let plain_xor: Vec<u8> = b"same length 1"
        .iter()
        .zip(b"same length 2")
        .map(|(x, y)| x ^ y)
        .collect();
    assert_ne!(
        xor[..plain_xor.len()],
        plain_xor[..],
        "keystream was reused"
    );

    let a = SessionMessage::from_bytes(&[&[2u8][..], &a].concat()).unwrap();
    let b = SessionMessage::from_bytes(&[&[2u8][..], &b].concat()).unwrap();
    assert_eq!(bob.decrypt(&mut w.rng, &b, NOW).unwrap(), b"same length 2");
    assert!(bob.decrypt(&mut w.rng, &a, NOW).is_err());
}

#[test]
fn envelopes_hide_everything_but_size() {
    let mut w = World::new(11);
    let mut alice = Session::initiate(&mut w.rng, &w.alice, &w.bundle, None, NOW).unwrap();
    let secret_text = b"meet me at the usual place";
    let message = alice.encrypt(&mut w.rng, secret_text).unwrap();
    let sealed =
        envelope::seal(&mut w.rng, w.bundle.mailbox(), &w.alice.user_id(), &message).unwrap();
    assert!(envelope::BUCKETS.contains(&sealed.len()));
    for needle in [
        &secret_text[..],
        w.alice.user_id().as_bytes(),
        w.alice.public().dh_key(),
    ] {
        assert!(
            !sealed.windows(needle.len()).any(|win| win == needle),
            "envelope leaks {needle:?}"
        );
    }
    assert!(!String::from_utf8_lossy(&sealed).contains(&w.alice.user_id().to_string()));

    // Only the mailbox owner opens it.
    assert_eq!(
        envelope::open(w.alice.mailbox_secret(), &sealed).unwrap_err(),
        EnvelopeError::NotForUs
    );
    let opened = envelope::open(w.bob.mailbox_secret(), &sealed).unwrap();
    assert_eq!(opened.sender, w.alice.user_id());
    assert_eq!(opened.message, message);

    // Sizes fall into buckets: a short message and a 3 KiB one differ only by bucket.
    let short =
        envelope::seal(&mut w.rng, w.bundle.mailbox(), &w.alice.user_id(), &message).unwrap();
    assert_eq!(short.len(), sealed.len());
    let (mut a, _) = w.established();
    let small = a.encrypt(&mut w.rng, b"x").unwrap();
    let big = a.encrypt(&mut w.rng, &[7u8; 3000]).unwrap();
    let small = envelope::seal(&mut w.rng, w.bundle.mailbox(), &w.alice.user_id(), &small).unwrap();
    let big = envelope::seal(&mut w.rng, w.bundle.mailbox(), &w.alice.user_id(), &big).unwrap();
    assert_eq!((small.len(), big.len()), (1024, 4096));

    // The largest plaintext a session encrypts fits the largest envelope, even as a session
    // start; one byte more is refused by the session with a typed error.
    let mut fresh = Session::initiate(&mut w.rng, &w.alice, &w.bundle, None, NOW).unwrap();
    let largest = fresh
        .encrypt(&mut w.rng, &vec![0u8; MAX_PLAINTEXT_LEN])
        .unwrap();
    assert!(matches!(largest, SessionMessage::Initial(_)));
    let sealed =
        envelope::seal(&mut w.rng, w.bundle.mailbox(), &w.alice.user_id(), &largest).unwrap();
    assert_eq!(sealed.len(), envelope::MAX_ENVELOPE_LEN);
    let err = a
        .encrypt(&mut w.rng, &vec![0u8; MAX_PLAINTEXT_LEN + 1])
        .unwrap_err();
    assert_eq!(
        err,
        EncryptError::TooLong {
            len: MAX_PLAINTEXT_LEN + 1,
            max: MAX_PLAINTEXT_LEN
        }
    );
}

#[test]
fn a_direct_envelope_carries_the_contents_a_sealed_one_would() {
    let mut w = World::new(12);
    let (mut alice, _) = w.established();
    let sender = w.alice.user_id();
    for len in [1, 900, 3000, MAX_PLAINTEXT_LEN] {
        let message = alice.encrypt(&mut w.rng, &vec![5u8; len]).unwrap();
        let direct = envelope::direct(&sender, &message).unwrap();
        let bucket = envelope::BUCKETS
            .into_iter()
            .find(|&b| b == direct.len() + envelope::SEALING_LEN)
            .expect("a bucket less the sealing");
        assert_eq!(envelope::Form::of(&direct), Some(envelope::Form::Direct));

        // Sealing it gives the envelope `seal` gives: same bucket, opened to the same contents.
        let sealed = envelope::seal_direct(&mut w.rng, w.bundle.mailbox(), &direct).unwrap();
        assert_eq!(sealed.len(), bucket);
        assert_eq!(envelope::Form::of(&sealed), Some(envelope::Form::Sealed));
        let also = envelope::seal(&mut w.rng, w.bundle.mailbox(), &sender, &message).unwrap();
        assert_eq!(also.len(), bucket);
        assert!(!sealed.windows(32).any(|win| win == sender.as_bytes()));
        // A sealed envelope is already fit for a relay: it comes back as it was.
        assert_eq!(
            envelope::seal_direct(&mut w.rng, w.bundle.mailbox(), &sealed).unwrap(),
            sealed
        );

        // Both open, with the same sender, message and digest, whatever form they came in.
        let from_direct = envelope::open(w.bob.mailbox_secret(), &direct).unwrap();
        let from_sealed = envelope::open(w.bob.mailbox_secret(), &sealed).unwrap();
        let from_seal = envelope::open(w.bob.mailbox_secret(), &also).unwrap();
        assert_eq!(from_direct.form, envelope::Form::Direct);
        assert_eq!(from_sealed.form, envelope::Form::Sealed);
        for opened in [&from_direct, &from_sealed, &from_seal] {
            assert_eq!(opened.sender, sender);
            assert_eq!(opened.message, message);
            assert_eq!(opened.digest, from_direct.digest);
        }
    }

    // A direct envelope altered in its padding, cut short, or of another length is refused.
    let message = alice.encrypt(&mut w.rng, b"hi").unwrap();
    let direct = envelope::direct(&sender, &message).unwrap();
    let mut padded = direct.clone();
    *padded.last_mut().unwrap() = 1;
    assert!(matches!(
        envelope::open(w.bob.mailbox_secret(), &padded),
        Err(EnvelopeError::Decode(_))
    ));
    for len in [direct.len() - 1, direct.len() + 1] {
        let mut other = direct.clone();
        other.resize(len, 0);
        assert_eq!(
            envelope::open(w.bob.mailbox_secret(), &other).unwrap_err(),
            EnvelopeError::BadLength(len)
        );
        assert_eq!(
            envelope::seal_direct(&mut w.rng, w.bundle.mailbox(), &other).unwrap_err(),
            EnvelopeError::BadLength(len)
        );
    }
    let mut newer = direct.clone();
    newer[0] = 3;
    assert!(matches!(
        envelope::open(w.bob.mailbox_secret(), &newer),
        Err(EnvelopeError::Decode(
            tern_crypto::DecodeError::UnsupportedVersion { found: 3, .. }
        ))
    ));
}

#[test]
fn a_forged_sender_cannot_speak_in_anothers_session() {
    // Mallory seals Alice's name on an envelope, but the message inside must decrypt in
    // Bob's session with Alice, which only Alice can produce.
    let mut w = World::new(12);
    let (_alice, mut bob) = w.established();
    let mallory = tern_crypto::AccountKey::generate(&mut w.rng);
    let mut mallory_prekeys = PrekeySecrets::generate(&mut w.rng, &mallory, NOW);
    let mallory_bundle = mallory_prekeys.bundle(&mallory, 1);
    let mut m = Session::initiate(&mut w.rng, &mallory, &w.bundle, None, NOW).unwrap();
    let start = initial(m.encrypt(&mut w.rng, b"I am Alice").unwrap());
    // Mallory's own start carries her own verified identity, not Alice's.
    assert_eq!(start.identity().user_id(), mallory.user_id());
    let (mut m_bob, _) =
        Session::respond(&mut w.rng, &w.bob, &mut w.bob_prekeys, &start, NOW).unwrap();
    let forged = m.encrypt(&mut w.rng, b"still Alice").unwrap();
    let sealed =
        envelope::seal(&mut w.rng, w.bundle.mailbox(), &w.alice.user_id(), &forged).unwrap();
    let opened = envelope::open(w.bob.mailbox_secret(), &sealed).unwrap();
    assert_eq!(
        opened.sender,
        w.alice.user_id(),
        "the claim is only a claim"
    );
    assert!(
        bob.decrypt(&mut w.rng, &opened.message, NOW).is_err(),
        "but Alice's session refuses it"
    );
    assert!(m_bob.decrypt(&mut w.rng, &opened.message, NOW).is_ok());
    let _ = (&mut mallory_prekeys, mallory_bundle);
}

#[test]
fn tampered_bundles_are_refused() {
    let w = World::new(13);
    let bytes = w.bundle.to_bytes();
    assert_eq!(PrekeyBundle::from_bytes(&bytes).unwrap(), w.bundle);
    // Every single-byte change anywhere is caught (signatures, keys, or structure).
    for i in 0..bytes.len() {
        let mut tampered = bytes.clone();
        tampered[i] ^= 0x01;
        assert!(
            PrekeyBundle::from_bytes(&tampered).is_err(),
            "byte {i} of the bundle is not covered"
        );
    }
}

/// A new identity key under the same account: sessions set up before keep working in both
/// directions, a start made against the old bundle is accepted only with the old key, and
/// new sessions carry (and need) the new one.
#[test]
fn a_new_identity_key_keeps_the_address_and_the_sessions() {
    let mut w = World::new(40);
    let (mut alice, mut bob) = w.established();
    let rotated = w.bob.with_new_identity_key(&mut w.rng);
    assert_eq!(rotated.user_id(), w.bob.user_id());
    assert_ne!(rotated.public().dh_key(), w.bob.public().dh_key());
    assert_eq!(
        tern_crypto::PublicIdentity::from_bytes(&rotated.public().to_bytes()).as_ref(),
        Ok(rotated.public()),
        "the new key's binding verifies under the same account key"
    );
    let restored = tern_crypto::AccountKey::from_bytes(&rotated.to_bytes()).unwrap();
    assert_eq!(restored.public(), rotated.public());
    assert_eq!(rotated.mailbox_public(), w.bob.mailbox_public());

    // The established pair does not depend on the identity key any more.
    let message = alice.encrypt(&mut w.rng, b"still here").unwrap();
    assert_eq!(
        bob.decrypt(&mut w.rng, &message, NOW).unwrap(),
        b"still here"
    );
    let reply = bob.encrypt(&mut w.rng, b"me too").unwrap();
    assert_eq!(alice.decrypt(&mut w.rng, &reply, NOW).unwrap(), b"me too");

    // A start against the old bundle needs the old key; refused with the new one, it
    // changes nothing, so the old key can still take it.
    let mut late = Session::initiate(&mut w.rng, &w.alice, &w.bundle, None, NOW).unwrap();
    let start = initial(late.encrypt(&mut w.rng, b"late").unwrap());
    assert!(Session::respond(&mut w.rng, &rotated, &mut w.bob_prekeys, &start, NOW).is_err());
    let (_, plaintext) =
        Session::respond(&mut w.rng, &w.bob, &mut w.bob_prekeys, &start, NOW).unwrap();
    assert_eq!(plaintext, b"late");

    // The new bundle carries the new key, and its sessions show it on both ends.
    let bundle = w.bob_prekeys.bundle(&rotated, 2);
    assert_eq!(bundle.identity(), rotated.public());
    let mut fresh = Session::initiate(&mut w.rng, &w.alice, &bundle, None, NOW).unwrap();
    let start = initial(fresh.encrypt(&mut w.rng, b"new").unwrap());
    assert_eq!(start.identity(), w.alice.public());
    let (bob_new, plaintext) =
        Session::respond(&mut w.rng, &rotated, &mut w.bob_prekeys, &start, NOW).unwrap();
    assert_eq!(plaintext, b"new");
    assert_eq!(fresh.remote_identity(), rotated.public());
    assert_eq!(bob_new.local_identity(), rotated.public());
}
