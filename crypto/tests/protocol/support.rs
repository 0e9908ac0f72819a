//! Shared set-up: seeded RNGs and accounts in a known state.

use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;
use tern_crypto::{
    AccountKey, OneTimePrekey, PrekeyBundle, PrekeySecrets, Session, SessionMessage,
};

/// A fixed "now" for tests, Unix seconds (2027-01-15).
pub(crate) const NOW: u64 = 1_800_000_000;

pub(crate) fn rng(seed: u64) -> ChaCha20Rng {
    ChaCha20Rng::seed_from_u64(seed)
}

/// Bob with published prekeys, and Alice who has fetched them.
pub(crate) struct World {
    pub(crate) rng: ChaCha20Rng,
    pub(crate) alice: AccountKey,
    pub(crate) bob: AccountKey,
    pub(crate) bob_prekeys: PrekeySecrets,
    pub(crate) bundle: PrekeyBundle,
    pub(crate) one_time: Vec<OneTimePrekey>,
}

impl World {
    pub(crate) fn new(seed: u64) -> Self {
        let mut rng = rng(seed);
        let alice = AccountKey::generate(&mut rng);
        let bob = AccountKey::generate(&mut rng);
        let mut bob_prekeys = PrekeySecrets::generate(&mut rng, &bob, NOW);
        let one_time = bob_prekeys.generate_one_time(&mut rng, &bob, 4);
        let bundle = bob_prekeys.bundle(&bob, 1);
        Self {
            rng,
            alice,
            bob,
            bob_prekeys,
            bundle,
            one_time,
        }
    }

    /// Alice starts a session and sends `first`; Bob accepts it. Returns (alice, bob).
    pub(crate) fn start(&mut self, with_one_time: bool, first: &[u8]) -> (Session, Session) {
        let opk = with_one_time.then(|| self.one_time[0].clone());
        let mut alice =
            Session::initiate(&mut self.rng, &self.alice, &self.bundle, opk.as_ref(), NOW).unwrap();
        let start = initial(alice.encrypt(&mut self.rng, first).unwrap());
        let (bob, plaintext) =
            Session::respond(&mut self.rng, &self.bob, &mut self.bob_prekeys, &start, NOW).unwrap();
        assert_eq!(plaintext, first);
        (alice, bob)
    }

    /// A confirmed session pair: started, and Alice has decrypted Bob's reply.
    pub(crate) fn established(&mut self) -> (Session, Session) {
        let (mut alice, mut bob) = self.start(true, b"hello");
        let reply = bob.encrypt(&mut self.rng, b"hi").unwrap();
        assert_eq!(alice.decrypt(&mut self.rng, &reply, NOW).unwrap(), b"hi");
        assert!(!alice.is_unconfirmed());
        (alice, bob)
    }
}

pub(crate) fn initial(message: SessionMessage) -> tern_crypto::InitialMessage {
    match message {
        SessionMessage::Initial(start) => start,
        other => panic!("expected an initial message, got {other:?}"),
    }
}
