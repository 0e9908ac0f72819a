//! Tern's cryptographic core: account identities, prekeys, PQXDH session setup, the Double
//! Ratchet, sealed and direct envelopes and at-rest keys.
//!
//! This crate does no I/O and no networking, keeps no clock and spawns nothing: every
//! function takes its randomness (`rng`) and, where validity matters, the time (`now`, Unix
//! seconds) from the caller. Long-lived state — accounts, prekey secrets, sessions — is exported
//! as versioned bytes (`to_bytes` / `from_bytes`) that `tern-node` stores encrypted.
//!
//! The wire formats, labels and KDFs are specified byte for byte in `docs/protocol/crypto.md`.
//!
//! # Quick start
//!
//! ```
//! use tern_crypto::{envelope, AccountKey, ContentType, Payload, PrekeySecrets, Session, SessionMessage};
//!
//! let mut rng = rand_core::UnwrapErr(getrandom::SysRng);
//! let now = 1_800_000_000;
//! let alice = AccountKey::generate(&mut rng);
//! let bob = AccountKey::generate(&mut rng);
//!
//! // Bob publishes a prekey bundle (in Tern: in his DHT record).
//! let mut bob_prekeys = PrekeySecrets::generate(&mut rng, &bob, now);
//! let bundle = bob_prekeys.bundle(&bob, 1);
//!
//! // Alice starts a session and seals a message to Bob's mailbox.
//! let mut session = Session::initiate(&mut rng, &alice, &bundle, None, now).unwrap();
//! let payload = Payload::new(ContentType::TEXT, "hello");
//! let message = session.encrypt(&mut rng, &payload.to_bytes()).unwrap();
//! let sealed = envelope::seal(&mut rng, bundle.mailbox(), &alice.user_id(), &message).unwrap();
//!
//! // A relay sees only `sealed`. Bob opens it and accepts the session.
//! let opened = envelope::open(bob.mailbox_secret(), &sealed).unwrap();
//! let SessionMessage::Initial(start) = &opened.message else { unreachable!() };
//! let (_bob_session, plaintext) = Session::respond(&mut rng, &bob, &mut bob_prekeys, start, now).unwrap();
//! assert_eq!(Payload::from_bytes(&plaintext).unwrap().body, b"hello");
//! assert_eq!(opened.sender, alice.user_id());
//!
//! // Straight to Bob's device (a channel only it can read), the same contents go unsealed;
//! // sealing them later gives what a relay may hold. Bob knows both as the same message.
//! let direct = envelope::direct(&alice.user_id(), &message).unwrap();
//! let for_relays = envelope::seal_direct(&mut rng, bundle.mailbox(), &direct).unwrap();
//! let (a, b) = (
//!     envelope::open(bob.mailbox_secret(), &direct).unwrap(),
//!     envelope::open(bob.mailbox_secret(), &for_relays).unwrap(),
//! );
//! assert_eq!((a.form, b.form), (envelope::Form::Direct, envelope::Form::Sealed));
//! assert_eq!(a.digest, b.digest);
//! assert_eq!(a.digest, opened.digest);
//! ```
#![deny(missing_docs)]
#![forbid(unsafe_code)]
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

pub mod at_rest;
mod codec;
pub mod envelope;
pub mod hpke;
mod identity;
mod plaintext;
mod pqxdh;
mod prekey;
mod primitives;
mod ratchet;
mod session;

pub use codec::DecodeError;
pub use envelope::{ContentType, EnvelopeError, MailboxId, MailboxPublicKey, Payload};
pub use identity::{
    AccountKey, AddressError, DeviceCertificate, DeviceId, MAX_CLOCK_SKEW_SECS, PublicIdentity,
    SafetyNumber, SigningContext, UserId, VerifyError,
};
pub use plaintext::Plaintext;
pub use pqxdh::InitialMessage;
pub use prekey::{KemPrekey, OneTimePrekey, PrekeyBundle, PrekeyId, PrekeySecrets, SignedPrekey};
/// Tunables of prekey rotation and retention.
pub mod prekeys {
    pub use crate::prekey::{
        MAX_ONE_TIME_PREKEYS, PREKEY_LIFETIME_SECS, RETIRED_GRACE_SECS, ROTATION_INTERVAL_SECS,
    };
}
/// Limits of the Double Ratchet.
pub mod ratchet_limits {
    pub use crate::ratchet::{
        MAX_PLAINTEXT_LEN, MAX_SKIP, MAX_SKIPPED_KEYS, SKIPPED_KEY_LIFETIME_SECS,
    };
}
/// The random-number traits every `rng` argument implements, re-exported so callers use the
/// same version.
pub use rand_core;
pub use ratchet::{DecryptError, EncryptError, RatchetMessage};
pub use session::{Session, SessionError, SessionMessage};
