//! The recipient's side of prekeys: the secrets an account still honours, their rotation,
//! retirement and versioned state (see the parent module for the rules).

use std::{
    collections::{BTreeMap, BTreeSet},
    fmt,
};

use rand_core::CryptoRng;
use zeroize::Zeroizing;

#[allow(
    clippy::wildcard_imports,
    reason = "the other half of the prekey module"
)]
use super::*;

/// The recipient's side: every prekey secret the account still honours.
///
/// This is state the node stores (encrypted) and updates: after [`PrekeySecrets::rotate`], after
/// [`PrekeySecrets::generate_one_time`], and after a session is accepted (which consumes a
/// one-time prekey). Each change must be persisted before the corresponding public keys are
/// published or the session is acknowledged.
pub struct PrekeySecrets {
    pub(super) account: UserId,
    pub(super) next_id: PrekeyId,
    /// Newest last. The newest is current; older ones are retired but honoured until their
    /// grace period ends.
    ///
    /// Every secret here is boxed, so that `push`, `retain` and the map's node changes move
    /// pointers and leave no copies of secrets behind (see [`primitives::SecretBox`]).
    pub(super) signed: Vec<Held<SignedPrekey, SecretBox<32>>>,
    /// Same order and rule as `signed`. The secret is the 64-byte FIPS 203 key-generation seed,
    /// from which the decapsulation key is re-derived when needed (64 bytes stored, not 2400).
    pub(super) kem: Vec<Held<KemPrekey, SecretBox<64>>>,
    pub(super) one_time: BTreeMap<PrekeyId, SecretBox<32>>,
}

impl PrekeySecrets {
    /// Fresh state with a first signed prekey and KEM prekey, valid from `now`.
    pub fn generate<R: CryptoRng + ?Sized>(rng: &mut R, account: &AccountKey, now: u64) -> Self {
        let mut secrets = Self {
            account: account.user_id(),
            next_id: 1,
            signed: Vec::new(),
            kem: Vec::new(),
            one_time: BTreeMap::new(),
        };
        secrets.add_signed_pair(rng, account, now);
        secrets
    }

    /// The next unused id. Ids only need to be unique per account, and 2^32 keys is far
    /// beyond any device's life; still, should the counter ever wrap, an id that is held is
    /// skipped rather than handed out twice (at most a few thousand are held).
    fn take_id(&mut self) -> PrekeyId {
        loop {
            let id = self.next_id;
            self.next_id = self.next_id.wrapping_add(1).max(1);
            if !self.holds(id) {
                return id;
            }
        }
    }

    /// Whether any held prekey, of any kind, has id `id`.
    fn holds(&self, id: PrekeyId) -> bool {
        self.one_time.contains_key(&id)
            || self.signed.iter().any(|held| held.public.id == id)
            || self.kem.iter().any(|held| held.public.id == id)
    }

    /// The account these prekeys belong to.
    pub(crate) fn account(&self) -> &UserId {
        &self.account
    }

    fn add_signed_pair<R: CryptoRng + ?Sized>(
        &mut self,
        rng: &mut R,
        account: &AccountKey,
        now: u64,
    ) {
        let expires = now.saturating_add(PREKEY_LIFETIME_SECS);
        let user = account.user_id();

        let id = self.take_id();
        let secret = primitives::x25519_generate(rng);
        let key = primitives::x25519_public(&secret);
        let signature = account.sign(&SignedPrekey::signed_message(&user, id, &key, now, expires));
        self.signed.push(Held {
            public: SignedPrekey {
                id,
                key,
                created: now,
                expires,
                signature,
            },
            secret: primitives::secret_box(&secret),
        });

        let id = self.take_id();
        let seed = Zeroizing::new(primitives::random::<64, _>(rng));
        let (_, key) = primitives::mlkem768_generate(&seed);
        let signature = account.sign(&KemPrekey::signed_message(&user, id, &key, now, expires));
        self.kem.push(Held {
            public: KemPrekey {
                id,
                key: Box::new(key),
                created: now,
                expires,
                signature,
            },
            secret: primitives::secret_box(&seed),
        });
    }

    /// Replaces the signed and KEM prekeys when the current ones are older than
    /// [`ROTATION_INTERVAL_SECS`], or dated more than half of [`MAX_CLOCK_SKEW_SECS`] in the
    /// future (they were made while the clock was ahead, and peers would refuse them as not
    /// yet valid), and forgets retired secrets whose grace period has ended. Returns whether
    /// the published bundle must change (republish it then).
    ///
    /// [`MAX_CLOCK_SKEW_SECS`]: crate::MAX_CLOCK_SKEW_SECS
    pub fn rotate<R: CryptoRng + ?Sized>(
        &mut self,
        rng: &mut R,
        account: &AccountKey,
        now: u64,
    ) -> bool {
        let due = self.signed.last().is_none_or(|held| {
            now >= held.public.created.saturating_add(ROTATION_INTERVAL_SECS)
                || held.public.created > now.saturating_add(crate::MAX_CLOCK_SKEW_SECS / 2)
        });
        if due {
            self.add_signed_pair(rng, account, now);
        }
        let keep = |expires: u64| now < retires_at(expires);
        let newest_signed = self.signed.len().saturating_sub(1);
        let mut index = 0;
        self.signed.retain(|held| {
            index += 1;
            index - 1 == newest_signed || keep(held.public.expires)
        });
        let newest_kem = self.kem.len().saturating_sub(1);
        let mut index = 0;
        self.kem.retain(|held| {
            index += 1;
            index - 1 == newest_kem || keep(held.public.expires)
        });
        due
    }

    /// The bundle to publish now, with the publisher's sequence number `seq`.
    pub fn bundle(&self, account: &AccountKey, seq: u64) -> PrekeyBundle {
        // `generate` always creates one of each, and `rotate` never removes the newest.
        let signed = &self.signed[self.signed.len() - 1].public;
        let kem = &self.kem[self.kem.len() - 1].public;
        let mailbox = account.mailbox_public();
        let mailbox_signature = account.sign(&mailbox_message(&account.user_id(), &mailbox));
        let mut bundle = PrekeyBundle {
            identity: account.public().clone(),
            seq,
            expires: signed.expires.min(kem.expires),
            mailbox,
            mailbox_signature,
            signed_prekey: signed.clone(),
            kem_prekey: kem.clone(),
            signature: [0; 64],
        };
        bundle.signature = account.sign(&bundle.signed_message());
        bundle
    }

    /// Makes up to `count` new one-time prekeys to upload: as many as fit under
    /// [`MAX_ONE_TIME_PREKEYS`] with those already held, possibly none. Upload exactly the
    /// returned keys.
    ///
    /// No held secret is ever forgotten to make room: a relay may still hand out its public
    /// half, and a session start using it would then fail and its message be lost. When relays
    /// run dry, senders start sessions with the signed prekey alone, which the replay cache
    /// covers.
    pub fn generate_one_time<R: CryptoRng + ?Sized>(
        &mut self,
        rng: &mut R,
        account: &AccountKey,
        count: usize,
    ) -> Vec<OneTimePrekey> {
        let count = count.min(MAX_ONE_TIME_PREKEYS.saturating_sub(self.one_time.len()));
        let user = account.user_id();
        (0..count)
            .map(|_| {
                let id = self.take_id();
                let secret = primitives::x25519_generate(rng);
                let key = primitives::x25519_public(&secret);
                let signature = account.sign(&OneTimePrekey::signed_message(&user, id, &key));
                self.one_time.insert(id, primitives::secret_box(&secret));
                OneTimePrekey {
                    account: user,
                    id,
                    key,
                    signature,
                }
            })
            .collect()
    }

    /// How many one-time prekey secrets are held.
    pub fn one_time_count(&self) -> usize {
        self.one_time.len()
    }

    /// When signed prekey `id` retires (Unix seconds): `expires + RETIRED_GRACE_SECS`, or `None`
    /// if its secret has already been forgotten. From this time on, [`crate::Session::respond`]
    /// refuses every session start that uses it, whether or not [`PrekeySecrets::rotate`] has
    /// run since, so a replay cache may drop its entries for starts against that key then.
    pub fn signed_prekey_retires_at(&self, id: PrekeyId) -> Option<u64> {
        self.signed
            .iter()
            .find(|held| held.public.id == id)
            .map(|held| retires_at(held.public.expires))
    }

    /// The secret of signed prekey `id`, if it is held and has not retired at `now`.
    pub(crate) fn signed_secret(&self, id: PrekeyId, now: u64) -> Option<&Zeroizing<[u8; 32]>> {
        self.signed
            .iter()
            .find(|held| held.public.id == id && now < retires_at(held.public.expires))
            .map(|held| &*held.secret)
    }

    /// The decapsulation key of KEM prekey `id`, if it is held and has not retired at `now`.
    pub(crate) fn kem_secret(&self, id: PrekeyId, now: u64) -> Option<primitives::MlKemSecret> {
        self.kem
            .iter()
            .find(|held| held.public.id == id && now < retires_at(held.public.expires))
            .map(|held| primitives::mlkem768_generate(&held.secret).0)
    }

    pub(crate) fn one_time_secret(&self, id: PrekeyId) -> Option<&Zeroizing<[u8; 32]>> {
        self.one_time.get(&id).map(|secret| &**secret)
    }

    /// Forgets a one-time prekey once a session started with it has been accepted.
    pub(crate) fn consume_one_time(&mut self, id: PrekeyId) {
        self.one_time.remove(&id);
    }

    /// Versioned secret state; store it only encrypted.
    ///
    /// `version u8 = 1 ‖ account [32] ‖ next_id u32 ‖ n_signed u16 ‖ (signed prekey public
    /// fields ‖ secret [32])* ‖ n_kem u16 ‖ (kem prekey public fields ‖ seed [64])* ‖
    /// n_one_time u32 ‖ (id u32 ‖ secret [32])*`.
    pub fn to_bytes(&self) -> Zeroizing<Vec<u8>> {
        let mut w = Writer::with_capacity(self.encoded_len());
        w.u8(SECRETS_STATE_VERSION)
            .bytes(self.account.as_bytes())
            .u32(self.next_id);
        w.u16(self.signed.len() as u16);
        for held in &self.signed {
            held.public.write(&mut w);
            w.bytes(&held.secret[..]);
        }
        w.u16(self.kem.len() as u16);
        for held in &self.kem {
            held.public.write(&mut w);
            w.bytes(&held.secret[..]);
        }
        w.u32(self.one_time.len() as u32);
        for (id, secret) in &self.one_time {
            w.u32(*id).bytes(&secret[..]);
        }
        Zeroizing::new(w.into_vec())
    }

    /// The exact length of [`PrekeySecrets::to_bytes`].
    pub(super) fn encoded_len(&self) -> usize {
        1 + 32
            + 4
            + 2
            + self.signed.len() * (SignedPrekey::RECORD_LEN + 32)
            + 2
            + self.kem.len() * (KemPrekey::RECORD_LEN + 64)
            + 4
            + self.one_time.len() * (4 + 32)
    }

    /// Restores the state written by [`PrekeySecrets::to_bytes`].
    ///
    /// Besides the format, checks what a corrupt or tampered state could get wrong: every
    /// signature, that no prekey id appears twice (ids come from one counter across all three
    /// kinds), that the id counter is past every held id (a counter at or below one would hand
    /// that id out again), and that each signed and KEM secret belongs to its public key.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, DecodeError> {
        // Signatures were made by this device; a stored state that no longer verifies is corrupt.
        let corrupt = |_| DecodeError::Invalid("stored prekey");
        let mut ids = BTreeSet::new();
        let mut unique = |id: PrekeyId| {
            if ids.insert(id) {
                Ok(())
            } else {
                Err(DecodeError::Duplicate("prekey id"))
            }
        };
        let mut r = Reader::new(bytes);
        r.version("prekey state", SECRETS_STATE_VERSION)?;
        let account = UserId::from_bytes(r.array("prekey state account")?).map_err(corrupt)?;
        let next_id = r.u32("next prekey id")?;
        let n_signed = r.u16("signed prekey count")?;
        let mut signed = Vec::new();
        for _ in 0..n_signed {
            let public = SignedPrekey::read(&mut r, &account).map_err(corrupt)?;
            unique(public.id)?;
            let secret = Zeroizing::new(r.array("signed prekey secret")?);
            if primitives::x25519_public(&secret) != public.key {
                return Err(DecodeError::Inconsistent("signed prekey secret"));
            }
            signed.push(Held {
                public,
                secret: primitives::secret_box(&secret),
            });
        }
        let n_kem = r.u16("kem prekey count")?;
        let mut kem = Vec::new();
        for _ in 0..n_kem {
            let public = KemPrekey::read(&mut r, &account).map_err(corrupt)?;
            unique(public.id)?;
            let secret = Zeroizing::new(r.array("kem prekey seed")?);
            if primitives::mlkem768_generate(&secret).1 != *public.key {
                return Err(DecodeError::Inconsistent("kem prekey seed"));
            }
            kem.push(Held {
                public,
                secret: primitives::secret_box(&secret),
            });
        }
        if signed.is_empty() || kem.is_empty() {
            return Err(DecodeError::Invalid("prekey state without current prekeys"));
        }
        let n_one_time = r.u32("one-time prekey count")? as usize;
        if n_one_time > MAX_ONE_TIME_PREKEYS {
            return Err(DecodeError::TooLong {
                what: "one-time prekeys",
                len: n_one_time,
                max: MAX_ONE_TIME_PREKEYS,
            });
        }
        let mut one_time = BTreeMap::new();
        for _ in 0..n_one_time {
            let id = r.u32("one-time prekey id")?;
            unique(id)?;
            // Only the secret is stored, so there is no public key to compare it with.
            let secret = Zeroizing::new(r.array("one-time prekey secret")?);
            one_time.insert(id, primitives::secret_box(&secret));
        }
        r.finish()?;
        // The counter only moves forward and every id came from it, so a counter at or below
        // a held id means a tampered or inconsistently restored state. (Only wrapping past
        // 2^32 ids could produce it honestly.)
        if next_id == 0 || ids.last().is_some_and(|&max| next_id <= max) {
            return Err(DecodeError::Inconsistent("next prekey id"));
        }
        Ok(Self {
            account,
            next_id,
            signed,
            kem,
            one_time,
        })
    }
}

impl fmt::Debug for PrekeySecrets {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PrekeySecrets")
            .field("account", &self.account)
            .field(
                "signed",
                &self.signed.iter().map(|h| h.public.id).collect::<Vec<_>>(),
            )
            .field(
                "kem",
                &self.kem.iter().map(|h| h.public.id).collect::<Vec<_>>(),
            )
            .field("one_time", &self.one_time.len())
            .finish()
    }
}
