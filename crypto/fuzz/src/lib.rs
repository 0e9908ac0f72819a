//! Deterministic fixtures shared by the fuzz targets and the seed-corpus generator.
//!
//! Every target must behave the same on every run for a crash to reproduce, so all keys come
//! from a seeded RNG and all times from [`NOW`]. The seed-corpus generator
//! (`examples/seed_corpus.rs`) builds its inputs from the same fixture, so that its seeds for
//! `session_decrypt` and `envelope_open` are real messages for the session and the mailbox the
//! targets hold: the fuzzer can then mutate inputs that get past the AEAD instead of only ones
//! that fail at it.

use std::sync::OnceLock;

use rand_chacha::ChaCha20Rng;
use tern_crypto::{
    AccountKey, PrekeyBundle, PrekeySecrets, Session, SessionMessage,
    at_rest::{KdfParams, KeyFile, StorageKey},
    rand_core::SeedableRng,
};

/// A fixed "now" inside every fixture key's validity period.
pub const NOW: u64 = 1_800_000_000;

/// The envelope format's HPKE parameters (see `crypto/src/envelope.rs`), so that the
/// `envelope_open` target can seal arbitrary contents and reach the parser behind HPKE.
pub const ENVELOPE_INFO: &[u8] = b"tern/envelope/v1";
/// The envelope version byte, which is also HPKE's associated data.
pub const ENVELOPE_VERSION: u8 = 1;
/// Bytes of an envelope that are not sealed contents: version, HPKE `enc` and the AEAD tag.
pub const ENVELOPE_OVERHEAD: usize = 1 + 32 + 16;

/// A deterministic RNG for one purpose. Distinct seeds keep the fixture, the per-run RNGs and
/// the corpus generator from depending on each other's draws.
pub fn rng(seed: u64) -> ChaCha20Rng {
    ChaCha20Rng::seed_from_u64(seed)
}

/// Two accounts with an established session, in a state where Bob has a message history worth
/// fuzzing: skipped keys stored for delayed messages, and messages in flight on both the
/// current and a newer chain.
#[derive(Debug)]
pub struct Fixture {
    /// The sender.
    pub alice: AccountKey,
    /// The recipient, whose mailbox and session the targets use.
    pub bob: AccountKey,
    /// Bob's prekey secrets after accepting Alice's session.
    pub bob_prekeys: PrekeySecrets,
    /// The bundle Alice started the session from.
    pub bundle: PrekeyBundle,
    /// Alice's session state.
    pub alice_session: Vec<u8>,
    /// Bob's session state: two skipped keys stored.
    pub bob_session: Vec<u8>,
    /// Encoded session messages from Alice that Bob has not decrypted yet, each of which
    /// decrypts in `bob_session`: two delayed ones (skipped-key path), one later in the same
    /// chain, and two on a newer chain (DH ratchet step).
    pub in_flight: Vec<Vec<u8>>,
    /// Alice's first message, as Bob received it: an initial message.
    pub initial: Vec<u8>,
    /// Encoded initial messages of new sessions that Bob's prekeys (`bob_prekeys`) accept:
    /// one with the one-time prekey he still holds, one without any.
    pub starts: Vec<Vec<u8>>,
    /// A key file made with the cheapest Argon2 parameters.
    pub key_file: KeyFile,
    /// A storage key from that key file's master key.
    pub storage_key: StorageKey,
}

/// The fixture, built once per process.
pub fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(build)
}

fn build() -> Fixture {
    let mut rng = rng(0x7e57);
    let alice = AccountKey::generate(&mut rng);
    let bob = AccountKey::generate(&mut rng);
    let mut bob_prekeys = PrekeySecrets::generate(&mut rng, &bob, NOW);
    let bundle = bob_prekeys.bundle(&bob, 1);
    let mut one_time = bob_prekeys.generate_one_time(&mut rng, &bob, 2);
    let spare_one_time = one_time.remove(0);
    let one_time = one_time.pop();

    let mut a = Session::initiate(&mut rng, &alice, &bundle, one_time.as_ref(), NOW)
        .expect("fixture bundle is valid");
    let first = a.encrypt(&mut rng, b"hello").expect("short message");
    let SessionMessage::Initial(start) = &first else {
        panic!("an unconfirmed session sends initial messages");
    };
    let (mut b, _) =
        Session::respond(&mut rng, &bob, &mut bob_prekeys, start, NOW).expect("fixture start");
    let reply = b.encrypt(&mut rng, b"hello back").expect("short message");
    a.decrypt(&mut rng, &reply, NOW).expect("fixture reply");

    // Alice sends five; Bob receives the first and the fourth, so he stores keys for the
    // second and third.
    let sent: Vec<SessionMessage> = (0..5u8)
        .map(|i| a.encrypt(&mut rng, &[i; 40]).expect("short message"))
        .collect();
    for i in [0, 3] {
        b.decrypt(&mut rng, &sent[i], NOW).expect("fixture message");
    }
    // Bob answers, Alice takes a DH step and sends on a new chain that Bob has not seen.
    let reply = b.encrypt(&mut rng, b"again").expect("short message");
    a.decrypt(&mut rng, &reply, NOW).expect("fixture reply");
    let newer: Vec<SessionMessage> = (0..2u8)
        .map(|i| a.encrypt(&mut rng, &[0x80 | i; 40]).expect("short message"))
        .collect();
    assert_eq!(b.skipped_keys(), 2);

    let in_flight = [&sent[1], &sent[2], &sent[4], &newer[0], &newer[1]]
        .into_iter()
        .map(SessionMessage::to_bytes)
        .collect();
    let starts = [Some(&spare_one_time), None]
        .into_iter()
        .map(|opk| {
            let mut session = Session::initiate(&mut rng, &alice, &bundle, opk, NOW)
                .expect("fixture bundle is valid");
            match session
                .encrypt(&mut rng, b"new start")
                .expect("short message")
            {
                SessionMessage::Initial(start) => start.to_bytes(),
                SessionMessage::Ratchet(_) => panic!("a new session sends initial messages"),
            }
        })
        .collect();
    let params = KdfParams::new(8, 1, 1).expect("the cheapest parameters are valid");
    let (key_file, master) =
        KeyFile::create(&mut rng, b"fuzz", params).expect("argon2 runs with 8 KiB");
    Fixture {
        alice_session: a.to_bytes().to_vec(),
        bob_session: b.to_bytes().to_vec(),
        initial: first.to_bytes(),
        in_flight,
        alice,
        bob,
        bob_prekeys,
        bundle,
        starts,
        key_file,
        storage_key: master.subkey("fuzz"),
    }
}

/// The sealed-contents size of the smallest envelope bucket that holds `len` bytes, or `None`
/// if none does.
pub fn contents_len_for(len: usize) -> Option<usize> {
    tern_crypto::envelope::BUCKETS
        .iter()
        .map(|bucket| bucket - ENVELOPE_OVERHEAD)
        .find(|&contents| contents >= len)
}
