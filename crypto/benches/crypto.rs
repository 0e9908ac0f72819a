//! Benchmarks of the protocol operations against the raw AEAD they are built on.
//!
//! Everything runs in one criterion run, so that the ratios between operations mean something
//! even on a noisy, shared machine: the absolute numbers drift with the load, the ratios much
//! less. `docs/benchmarks.md` states the goals these numbers are checked against and the
//! results of the last run.
//!
//! The groups, and what each iteration does:
//!
//! - `aead`: the floor. One seal and one open of a 1 KiB message with XChaCha20-Poly1305 (what
//!   the ratchet uses) and with IETF ChaCha20-Poly1305 (what HPKE uses), with the same
//!   associated-data length as a ratchet message, through the `chacha20poly1305` crate.
//! - `ratchet`: one 1 KiB message encrypted by one side of an established session and decrypted
//!   by the other, either always in the same direction (no Diffie-Hellman ratchet step) or in
//!   alternating directions (a Diffie-Hellman step on every receipt).
//! - `pqxdh`: starting a session: `Session::initiate`, the first `encrypt`, `Session::respond`.
//! - `envelope`: sealing and opening the envelope of a ratchet message with a 1 KiB payload,
//!   and making and opening the direct envelope of the same message (`direct_open_1k`).
//! - `session_state`: `Session::to_bytes` then `Session::from_bytes`, which the node does for
//!   every message it sends or receives.
//! - `parts`: the sub-steps and primitives the operations above are made of, so that a missed
//!   goal can be explained from the same run instead of guessed at.
//!
//! After them, the X25519 goal's baseline: `openssl speed ecdhx25519` beside the crate's X25519
//! and the ratio, measured back to back (see `crypto/openssl.rs`).

// A bench target is a crate root in `benches/`, where a plain `mod` would look for
// `benches/openssl.rs`, which cargo would take for a bench of its own.
#[path = "crypto/openssl.rs"]
mod openssl;

use std::{
    hint::black_box,
    time::{Duration, Instant},
};

use aws_lc_rs::agreement::{self, X25519};
use chacha20poly1305::{
    ChaCha20Poly1305, KeyInit, XChaCha20Poly1305,
    aead::{Aead, Payload as AeadPayload},
};
use criterion::{BatchSize, Criterion, Throughput, criterion_group};
use ed25519_dalek::{Signer, SigningKey};
use hmac::{Hmac, Mac};
use rand_chacha::ChaCha20Rng;
use sha2::Sha256;
use tern_crypto::{
    AccountKey, ContentType, Payload, Plaintext, PrekeyBundle, PrekeySecrets, PublicIdentity,
    Session, SessionMessage, envelope,
    rand_core::{Rng, SeedableRng},
};

/// A fixed "now" inside every prekey's validity period, so runs do not depend on the clock.
const NOW: u64 = 1_800_000_000;
/// The message size every per-message benchmark uses.
const MESSAGE_LEN: usize = 1024;
/// Associated data of a ratchet message: the session AD (two encoded X25519 keys and two
/// account keys, 130 bytes) followed by the 41-byte message header. The raw AEAD floor is
/// measured with the same length so that the comparison is like for like.
const RATCHET_AD_LEN: usize = 130 + 41;

/// A deterministic RNG, so that every run benchmarks the same keys.
fn seeded(seed: u64) -> ChaCha20Rng {
    ChaCha20Rng::seed_from_u64(seed)
}

/// Two accounts, the responder's prekey secrets and the bundle he publishes.
struct Parties {
    alice: AccountKey,
    bob: AccountKey,
    bob_prekeys: PrekeySecrets,
    bundle: PrekeyBundle,
}

impl Parties {
    fn new(rng: &mut ChaCha20Rng) -> Self {
        let alice = AccountKey::generate(rng);
        let bob = AccountKey::generate(rng);
        let bob_prekeys = PrekeySecrets::generate(rng, &bob, NOW);
        let bundle = bob_prekeys.bundle(&bob, 1);
        Self {
            alice,
            bob,
            bob_prekeys,
            bundle,
        }
    }

    /// A session pair that both sides consider established: Alice initiated, Bob responded and
    /// replied, and Alice decrypted the reply, so neither sends the PQXDH header any more.
    fn established(&mut self, rng: &mut ChaCha20Rng) -> (Session, Session) {
        let mut alice = Session::initiate(rng, &self.alice, &self.bundle, None, NOW)
            .expect("the bundle was just made and is valid at NOW");
        let first = alice.encrypt(rng, b"hello").expect("a short message");
        let SessionMessage::Initial(start) = &first else {
            panic!("an unconfirmed session sends initial messages");
        };
        let (mut bob, _) = Session::respond(rng, &self.bob, &mut self.bob_prekeys, start, NOW)
            .expect("the start was made for this account");
        let reply = bob.encrypt(rng, b"hello back").expect("a short message");
        alice
            .decrypt(rng, &reply, NOW)
            .expect("the reply is for this session");
        assert!(!alice.is_unconfirmed());
        (alice, bob)
    }
}

/// One message from `sender` to `receiver`, checked so that a broken session cannot make a
/// benchmark measure only the error path.
fn send(
    rng: &mut ChaCha20Rng,
    sender: &mut Session,
    receiver: &mut Session,
    plaintext: &[u8],
) -> Plaintext {
    let message = sender.encrypt(rng, plaintext).expect("a 1 KiB message");
    receiver
        .decrypt(rng, &message, NOW)
        .expect("the message is for this session")
}

fn random_bytes<const N: usize>(rng: &mut ChaCha20Rng) -> [u8; N] {
    let mut out = [0u8; N];
    rng.fill_bytes(&mut out);
    out
}

fn aead(c: &mut Criterion) {
    let mut rng = seeded(1);
    let key: [u8; 32] = random_bytes(&mut rng);
    let xnonce: [u8; 24] = random_bytes(&mut rng);
    let nonce: [u8; 12] = random_bytes(&mut rng);
    let aad = [0x5a; RATCHET_AD_LEN];
    let plaintext = [0xa5; MESSAGE_LEN];

    let mut group = c.benchmark_group("aead");
    group.throughput(Throughput::Bytes(MESSAGE_LEN as u64));
    // The cipher is keyed inside the loop because the ratchet keys a new one for every message.
    group.bench_function("xchacha20poly1305_seal_open_1k", |b| {
        b.iter(|| {
            let payload = AeadPayload {
                msg: black_box(&plaintext),
                aad: &aad,
            };
            let sealed = XChaCha20Poly1305::new(&key.into())
                .encrypt(&xnonce.into(), payload)
                .expect("1 KiB is far below the AEAD's limit");
            let payload = AeadPayload {
                msg: &sealed,
                aad: &aad,
            };
            XChaCha20Poly1305::new(&key.into())
                .decrypt(&xnonce.into(), payload)
                .expect("the ciphertext was just sealed")
        });
    });
    group.bench_function("chacha20poly1305_seal_open_1k", |b| {
        b.iter(|| {
            let payload = AeadPayload {
                msg: black_box(&plaintext),
                aad: &aad,
            };
            let sealed = ChaCha20Poly1305::new(&key.into())
                .encrypt(&nonce.into(), payload)
                .expect("1 KiB is far below the AEAD's limit");
            let payload = AeadPayload {
                msg: &sealed,
                aad: &aad,
            };
            ChaCha20Poly1305::new(&key.into())
                .decrypt(&nonce.into(), payload)
                .expect("the ciphertext was just sealed")
        });
    });
    group.finish();
}

fn ratchet(c: &mut Criterion) {
    let mut rng = seeded(2);
    let plaintext = [0xa5; MESSAGE_LEN];
    let mut group = c.benchmark_group("ratchet");
    group.throughput(Throughput::Bytes(MESSAGE_LEN as u64));

    let (mut alice, mut bob) = Parties::new(&mut rng).established(&mut rng);
    // The first message after Bob's reply makes Bob take a DH step; send it now so that every
    // measured message stays in the same receiving chain.
    send(&mut rng, &mut alice, &mut bob, &plaintext);
    group.bench_function("no_dh_step_1k", |b| {
        b.iter(|| send(&mut rng, &mut alice, &mut bob, black_box(&plaintext)));
    });

    let (mut alice, mut bob) = Parties::new(&mut rng).established(&mut rng);
    // The last message went from Bob to Alice, so Alice speaks next. Alternating makes the
    // receiver of every message take a DH ratchet step.
    let mut alice_next = true;
    group.bench_function("dh_step_1k", |b| {
        b.iter(|| {
            let plaintext = black_box(&plaintext);
            let out = if alice_next {
                send(&mut rng, &mut alice, &mut bob, plaintext)
            } else {
                send(&mut rng, &mut bob, &mut alice, plaintext)
            };
            alice_next = !alice_next;
            out
        });
    });
    group.finish();
}

/// `Session::initiate`, the first `encrypt` and `Session::respond`: everything between Alice
/// holding Bob's verified bundle and Bob holding the plaintext, bar envelopes.
fn start_session(
    rng: &mut ChaCha20Rng,
    parties: &mut Parties,
    one_time: Option<&tern_crypto::OneTimePrekey>,
) -> (Session, Plaintext) {
    let mut alice = Session::initiate(rng, &parties.alice, &parties.bundle, one_time, NOW)
        .expect("the bundle is valid at NOW");
    let first = alice.encrypt(rng, b"hello").expect("a short message");
    let SessionMessage::Initial(start) = &first else {
        panic!("an unconfirmed session sends initial messages");
    };
    Session::respond(rng, &parties.bob, &mut parties.bob_prekeys, start, NOW)
        .expect("the start was made for this account")
}

fn pqxdh(c: &mut Criterion) {
    let mut rng = seeded(3);
    let mut parties = Parties::new(&mut rng);
    let mut group = c.benchmark_group("pqxdh");

    group.bench_function("without_one_time_prekey", |b| {
        b.iter(|| start_session(&mut rng, &mut parties, None));
    });
    // Responding consumes the one-time prekey, so each iteration needs a new one. Making it
    // signs it, which is the publisher's cost at upload time, not part of starting a session:
    // only the session start is timed.
    group.bench_function("with_one_time_prekey", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let one_time = parties
                    .bob_prekeys
                    .generate_one_time(&mut rng, &parties.bob, 1)
                    .pop();
                assert!(one_time.is_some());
                let start = Instant::now();
                black_box(start_session(&mut rng, &mut parties, one_time.as_ref()));
                total += start.elapsed();
            }
            total
        });
    });
    group.finish();
}

fn envelope(c: &mut Criterion) {
    let mut rng = seeded(4);
    let mut parties = Parties::new(&mut rng);
    let (mut alice, _bob) = parties.established(&mut rng);
    let payload = Payload::new(ContentType::TEXT, vec![0xa5; MESSAGE_LEN]).to_bytes();
    let message = alice.encrypt(&mut rng, &payload).expect("a 1 KiB payload");
    assert!(matches!(message, SessionMessage::Ratchet(_)));
    let recipient = parties.bob.mailbox_public();
    let sender = parties.alice.user_id();
    let sealed = envelope::seal(&mut rng, &recipient, &sender, &message).expect("it fits");
    // A 1 KiB payload does not fit the 1 KiB bucket with the headers; note which one it takes,
    // since the HPKE cost is proportional to the bucket, not to the payload.
    assert_eq!(sealed.len(), envelope::BUCKETS[1]);

    let mut group = c.benchmark_group("envelope");
    group.throughput(Throughput::Bytes(MESSAGE_LEN as u64));
    group.bench_function("seal_open_1k", |b| {
        b.iter(|| {
            let sealed = envelope::seal(&mut rng, &recipient, &sender, black_box(&message))
                .expect("it fits");
            envelope::open(parties.bob.mailbox_secret(), &sealed).expect("sealed to Bob")
        });
    });
    // What the direct path costs instead: the same contents, not sealed.
    group.bench_function("direct_open_1k", |b| {
        b.iter(|| {
            let direct = envelope::direct(&sender, black_box(&message)).expect("it fits");
            envelope::open(parties.bob.mailbox_secret(), &direct).expect("a direct envelope")
        });
    });
    group.finish();
}

fn session_state(c: &mut Criterion) {
    let mut rng = seeded(5);
    let (alice, _bob) = Parties::new(&mut rng).established(&mut rng);
    let mut group = c.benchmark_group("session_state");
    group.bench_function("to_from_bytes", |b| {
        b.iter(|| {
            let bytes = black_box(&alice).to_bytes();
            Session::from_bytes(&bytes).expect("just written")
        });
    });
    group.finish();
}

/// The sub-steps of the operations above, to explain their costs from the same run.
fn parts(c: &mut Criterion) {
    let mut rng = seeded(6);
    let mut parties = Parties::new(&mut rng);
    let plaintext = [0xa5; MESSAGE_LEN];
    let mut group = c.benchmark_group("parts");

    // The two halves of `ratchet/no_dh_step_1k`. Decryption goes first: encrypting alone
    // moves Alice's chain further ahead than Bob may skip.
    let (mut alice, mut bob) = parties.established(&mut rng);
    send(&mut rng, &mut alice, &mut bob, &plaintext);
    let mut decrypt_rng = seeded(7);
    group.bench_function("ratchet_decrypt_1k", |b| {
        b.iter_batched(
            || {
                alice
                    .encrypt(&mut rng, &plaintext)
                    .expect("a 1 KiB message")
            },
            |message| {
                bob.decrypt(&mut decrypt_rng, &message, NOW)
                    .expect("the message is for this session")
            },
            BatchSize::SmallInput,
        );
    });
    group.bench_function("ratchet_encrypt_1k", |b| {
        b.iter(|| alice.encrypt(&mut rng, black_box(&plaintext)));
    });

    // The halves of `session_state/to_from_bytes`, and the unconfirmed initiator's state,
    // which also carries the PQXDH header.
    group.bench_function("session_to_bytes", |b| {
        b.iter(|| black_box(&alice).to_bytes());
    });
    let confirmed = alice.to_bytes();
    group.bench_function("session_from_bytes", |b| {
        b.iter(|| Session::from_bytes(black_box(&confirmed)));
    });
    let unconfirmed = Session::initiate(&mut rng, &parties.alice, &parties.bundle, None, NOW)
        .expect("the bundle is valid at NOW")
        .to_bytes();
    group.bench_function("session_from_bytes_unconfirmed", |b| {
        b.iter(|| Session::from_bytes(black_box(&unconfirmed)));
    });

    // The halves of `pqxdh/without_one_time_prekey`.
    group.bench_function("pqxdh_initiate", |b| {
        b.iter(|| {
            Session::initiate(
                &mut rng,
                &parties.alice,
                black_box(&parties.bundle),
                None,
                NOW,
            )
        });
    });
    let mut initiator = Session::initiate(&mut rng, &parties.alice, &parties.bundle, None, NOW)
        .expect("the bundle is valid at NOW");
    let SessionMessage::Initial(start) = initiator.encrypt(&mut rng, b"hello").expect("short")
    else {
        panic!("an unconfirmed session sends initial messages");
    };
    // Without a one-time prekey, responding changes nothing in the prekey secrets, so the same
    // start can be answered again and again.
    group.bench_function("pqxdh_respond", |b| {
        b.iter(|| {
            Session::respond(
                &mut rng,
                &parties.bob,
                &mut parties.bob_prekeys,
                black_box(&start),
                NOW,
            )
        });
    });

    // Decoders a peer's data goes through before the operations above; they verify
    // signatures, which the operations above (given decoded values) do not repeat.
    let identity = parties.alice.public().to_bytes();
    group.bench_function("public_identity_from_bytes", |b| {
        b.iter(|| PublicIdentity::from_bytes(black_box(&identity)));
    });
    let bundle = parties.bundle.to_bytes();
    group.bench_function("prekey_bundle_from_bytes", |b| {
        b.iter(|| PrekeyBundle::from_bytes(black_box(&bundle)));
    });

    // The halves of `envelope/seal_open_1k`.
    let payload = Payload::new(ContentType::TEXT, vec![0xa5; MESSAGE_LEN]).to_bytes();
    let message = alice.encrypt(&mut rng, &payload).expect("a 1 KiB payload");
    let recipient = parties.bob.mailbox_public();
    let sender = parties.alice.user_id();
    group.bench_function("envelope_seal_1k", |b| {
        b.iter(|| envelope::seal(&mut rng, &recipient, &sender, black_box(&message)));
    });
    let sealed = envelope::seal(&mut rng, &recipient, &sender, &message).expect("it fits");
    group.bench_function("envelope_open_1k", |b| {
        b.iter(|| envelope::open(parties.bob.mailbox_secret(), black_box(&sealed)));
    });

    // Primitives, through the same libraries the crate uses. `x25519` is what
    // `primitives::x25519` does: load the secret into AWS-LC (which computes its public key on
    // the way, `x25519_load_key`), then agree. `x25519_dalek` is the implementation it
    // replaced, kept for the before/after ratio; fixed-base multiplications (`x25519_base`)
    // still use it.
    let secret: [u8; 32] = random_bytes(&mut rng);
    let public = x25519_dalek::x25519(random_bytes(&mut rng), x25519_dalek::X25519_BASEPOINT_BYTES);
    group.bench_function("x25519", |b| {
        b.iter(|| {
            let secret = agreement::PrivateKey::from_private_key(&X25519, black_box(&secret))
                .expect("a 32-byte key");
            agreement::agree(
                &secret,
                agreement::UnparsedPublicKey::new(&X25519, &public),
                (),
                |shared| Ok(shared[0]),
            )
        });
    });
    group.bench_function("x25519_load_key", |b| {
        b.iter(|| {
            agreement::PrivateKey::from_private_key(&X25519, black_box(&secret))
                .expect("a 32-byte key")
                .compute_public_key()
        });
    });
    group.bench_function("x25519_dalek", |b| {
        b.iter(|| x25519_dalek::x25519(black_box(secret), public));
    });
    group.bench_function("x25519_base", |b| {
        b.iter(|| {
            x25519_dalek::PublicKey::from(&x25519_dalek::StaticSecret::from(black_box(secret)))
        });
    });
    // The crate's low-order check multiplies by the cofactor with a full Montgomery ladder.
    group.bench_function("x25519_low_order_check", |b| {
        b.iter(|| {
            curve25519_dalek::montgomery::MontgomeryPoint(black_box(public))
                * curve25519_dalek::scalar::Scalar::from(8u8)
        });
    });
    // What the same check costs with a ladder over only the four bits of the cofactor, which
    // is what a cheaper check would look like (an optimisation idea, measured here).
    let cofactor_bits = || [true, false, false, false].into_iter();
    for u in [public, [0; 32], {
        let mut one = [0; 32];
        one[0] = 1;
        one
    }] {
        let point = curve25519_dalek::montgomery::MontgomeryPoint(u);
        assert_eq!(
            point.mul_bits_be(cofactor_bits()),
            point * curve25519_dalek::scalar::Scalar::from(8u8)
        );
    }
    group.bench_function("x25519_low_order_check_4_bits", |b| {
        b.iter(|| {
            curve25519_dalek::montgomery::MontgomeryPoint(black_box(public))
                .mul_bits_be(cofactor_bits())
        });
    });
    // The envelope's HPKE AEAD runs over the whole 4 KiB bucket, not over the payload.
    let bucket = vec![0xa5; envelope::BUCKETS[1]];
    let key: [u8; 32] = random_bytes(&mut rng);
    let nonce: [u8; 12] = random_bytes(&mut rng);
    group.bench_function("chacha20poly1305_seal_open_4k", |b| {
        b.iter(|| {
            let cipher = ChaCha20Poly1305::new(&key.into());
            let sealed = cipher
                .encrypt(&nonce.into(), black_box(bucket.as_slice()))
                .expect("4 KiB is far below the AEAD's limit");
            cipher
                .decrypt(&nonce.into(), sealed.as_slice())
                .expect("the ciphertext was just sealed")
        });
    });
    let signing = SigningKey::from_bytes(&secret);
    let verifying = signing.verifying_key();
    let signature = signing.sign(&identity);
    group.bench_function("ed25519_verify_strict", |b| {
        b.iter(|| verifying.verify_strict(black_box(&identity), &signature));
    });
    let seed: [u8; 64] = random_bytes(&mut rng);
    group.bench_function("mlkem768_keygen", |b| {
        b.iter(|| libcrux_ml_kem::mlkem768::generate_key_pair(black_box(seed)));
    });
    let pair = libcrux_ml_kem::mlkem768::generate_key_pair(seed);
    let randomness: [u8; 32] = random_bytes(&mut rng);
    group.bench_function("mlkem768_encapsulate", |b| {
        b.iter(|| libcrux_ml_kem::mlkem768::encapsulate(pair.public_key(), black_box(randomness)));
    });
    let (ciphertext, _) = libcrux_ml_kem::mlkem768::encapsulate(pair.public_key(), randomness);
    group.bench_function("mlkem768_decapsulate", |b| {
        b.iter(|| {
            libcrux_ml_kem::mlkem768::decapsulate(pair.private_key(), black_box(&ciphertext))
        });
    });
    group.bench_function("hmac_sha256", |b| {
        b.iter(|| {
            // HMAC is keyed through the same RustCrypto `KeyInit` trait as the AEADs.
            let mut mac =
                Hmac::<Sha256>::new_from_slice(&secret).expect("HMAC takes any key length");
            mac.update(black_box(&[0x01]));
            mac.finalize().into_bytes()
        });
    });
    group.bench_function("hkdf_sha256_32", |b| {
        b.iter(|| {
            let mut out = [0u8; 32];
            hkdf::Hkdf::<Sha256>::new(Some(&[0u8; 32]), black_box(&secret))
                .expand(b"tern/ratchet/message/v1", &mut out)
                .expect("32 bytes is within HKDF's limit");
            out
        });
    });
    group.finish();
}

criterion_group! {
    name = benches;
    // Short runs: the point is the ratios within one run on a shared machine, and criterion's
    // interval shows when the noise is too large to read anything into them.
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .sample_size(50);
    targets = aead, ratchet, pqxdh, envelope, session_state, parts
}
fn main() {
    // What `criterion_main!` would do, followed by the OpenSSL baseline.
    benches();
    Criterion::default().configure_from_args().final_summary();
    let args: Vec<String> = std::env::args().collect();
    if openssl::wanted(&args) {
        openssl::report();
    }
}
