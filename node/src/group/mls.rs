//! The glue between `tern-mls` and the node: openmls's rows in the node's store, device
//! certificates as leaf credentials, the device key as the leaf's signer, and the log's
//! access keys from the MLS exporter.

use std::collections::BTreeMap;

use tern_crypto::{DeviceCertificate, UserId};
use tern_mls::{
    Backing, CredentialError, CredentialVerifier, Crypto, DeviceSigner, Identity, Provider,
};
use tern_proto::grouplog::{Access, LogId};

use super::tables::MlsRows;
use crate::store::{Batch, Store, StoreError, Table};

/// The exporter label of a log's access keys (`docs/protocol/groups.md` §9.2).
pub(crate) const ACCESS_LABEL: &str = "tern grouplog access";

/// Rows of MLS operations earlier in the same write, not yet committed: `Some(value)` to
/// put, `None` to delete.
pub(crate) type Layer = BTreeMap<Vec<u8>, Option<Vec<u8>>>;

/// openmls's rows as an operation sees them: those of earlier operations of the same write
/// (`layer`), else the node's store.
pub(crate) struct StoreBacking<'a> {
    pub(crate) store: &'a Store,
    pub(crate) layer: &'a Layer,
}

impl Backing for StoreBacking<'_> {
    type Error = StoreError;

    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        // Every row key tern-mls makes is 33 bytes; any other has no row.
        if let Some(value) = self.layer.get(key) {
            return Ok(value.clone());
        }
        match <[u8; 33]>::try_from(key) {
            Ok(key) => self.store.get::<MlsRows>(&key),
            Err(_) => Ok(None),
        }
    }
}

/// Adds an operation's rows to `layer`.
pub(crate) fn merge(layer: &mut Layer, rows: tern_mls::Batch) {
    layer.extend(rows);
}

/// Adds the rows of a write's operations to its batch.
pub(crate) fn stage(batch: &mut Batch, layer: Layer) -> Result<(), StoreError> {
    for (key, value) in layer {
        let Ok(key) = <[u8; 33]>::try_from(key.as_slice()) else {
            return Err(StoreError::Encode {
                table: MlsRows::NAME,
                reason: format!("a row key of {} bytes", key.len()),
            });
        };
        match value {
            Some(value) => batch.put::<MlsRows>(&key, &value)?,
            None => batch.delete::<MlsRows>(&key),
        }
    }
    Ok(())
}

/// What the group operations of one write run with, on the blocking pool: the store, the
/// device's signer and certificate, and the rows of the operations before.
pub(crate) struct Cx<'a> {
    pub(crate) store: &'a Store,
    pub(crate) crypto: &'a Crypto,
    pub(crate) key: &'a tern_mls::StorageKey,
    pub(crate) signer: &'a DeviceSigner,
    pub(crate) certificate: &'a [u8],
    pub(crate) layer: Layer,
}

impl Cx<'_> {
    /// Runs one operation; its rows join the write's only if it succeeds (a failed operation
    /// changed nothing).
    pub(crate) fn op<T, E>(
        &mut self,
        f: impl FnOnce(&Provider<'_, StoreBacking<'_>>, &DeviceSigner, &[u8]) -> Result<T, E>,
    ) -> Result<T, E> {
        let backing = StoreBacking {
            store: self.store,
            layer: &self.layer,
        };
        let provider = Provider::new(self.crypto, backing, self.key);
        let result = f(&provider, self.signer, self.certificate);
        let rows = provider.take_batch();
        drop(provider);
        if result.is_ok() {
            merge(&mut self.layer, rows);
        }
        result
    }
}

/// The profile's key that hides openmls's row keys.
pub(crate) fn storage_key(store: &Store) -> tern_mls::StorageKey {
    tern_mls::StorageKey::new(*store.secret("mls storage key"))
}

/// Leaf credentials are device certificates (`docs/protocol/groups.md` §3): valid, signed by
/// their account, and certifying exactly the leaf's signature key. The identity is the
/// account's 32 bytes. A certificate's validity period is not checked here: leaves outlive
/// the hourly rotation of certificates, and a member's self-update carries its current one.
pub(crate) struct Certificates;

impl CredentialVerifier for Certificates {
    fn verify(&self, credential: &[u8], signature_key: &[u8]) -> Result<Identity, CredentialError> {
        let certificate = DeviceCertificate::from_bytes(credential)
            .map_err(|e| CredentialError::new(format!("device certificate: {e}")))?;
        if certificate.device().as_bytes().as_slice() != signature_key {
            return Err(CredentialError::new(
                "the certificate is for another device key",
            ));
        }
        Ok(Identity(certificate.account().as_bytes().to_vec()))
    }

    fn identity(&self, credential: &[u8]) -> Result<Identity, CredentialError> {
        let certificate = DeviceCertificate::from_bytes(credential)
            .map_err(|e| CredentialError::new(format!("device certificate: {e}")))?;
        Ok(Identity(certificate.account().as_bytes().to_vec()))
    }
}

/// The account an identity names (an identity the verifier made is always one).
pub(crate) fn account(identity: &Identity) -> Option<UserId> {
    let bytes: [u8; 32] = identity.0.as_slice().try_into().ok()?;
    UserId::from_bytes(bytes).ok()
}

/// The access key of an epoch from its exported seed.
pub(crate) fn access(seed: &[u8]) -> Access {
    let mut bytes = [0u8; 32];
    bytes.copy_from_slice(&seed[..32.min(seed.len())]);
    Access::from_seed(bytes)
}

/// The exporter label of the key that seals log entries (`docs/protocol/groups.md` §9.3).
pub(crate) const ENTRY_LABEL: &str = "tern grouplog entry";
/// The first byte of a sealed entry.
const ENTRY_VERSION: u8 = 1;
const ENTRY_NONCE_LEN: usize = 24;
const ENTRY_TAG_LEN: usize = 16;

/// The bytes a sealed entry's AEAD authenticates besides its ciphertext: the log and the
/// epoch it belongs to.
fn entry_aad(log: &LogId, epoch: u64) -> Vec<u8> {
    let mut aad = Vec::with_capacity(ENTRY_LABEL.len() + 1 + 32 + 8);
    aad.extend_from_slice(ENTRY_LABEL.as_bytes());
    aad.push(0);
    aad.extend_from_slice(log);
    aad.extend_from_slice(&epoch.to_be_bytes());
    aad
}

fn entry_cipher<B: Backing>(
    group: &tern_mls::Group,
    provider: &Provider<'_, B>,
    log: &LogId,
) -> Result<chacha20poly1305::XChaCha20Poly1305, tern_mls::GroupError> {
    use chacha20poly1305::KeyInit;
    let key = zeroize::Zeroizing::new(group.export_secret(provider, ENTRY_LABEL, log, 32)?);
    chacha20poly1305::XChaCha20Poly1305::new_from_slice(&key)
        .map_err(|_| tern_mls::GroupError::Invalid("an entry key of another length".into()))
}

/// Seals an MLS message for the group's log under its current epoch's entry key, so that a
/// sequencer sees neither the MLS header (group id, epoch, content type) nor anything else:
/// `0x01 ‖ nonce (24) ‖ XChaCha20-Poly1305(key, nonce, aad, message)`.
pub(crate) fn seal_entry<B: Backing>(
    group: &tern_mls::Group,
    provider: &Provider<'_, B>,
    log: &LogId,
    message: &[u8],
) -> Result<Vec<u8>, tern_mls::GroupError> {
    use chacha20poly1305::aead::{Aead, Payload};
    let cipher = entry_cipher(group, provider, log)?;
    let mut nonce = [0u8; ENTRY_NONCE_LEN];
    tern_crypto::rand_core::Rng::fill_bytes(
        &mut tern_crypto::rand_core::UnwrapErr(getrandom::SysRng),
        &mut nonce,
    );
    let aad = entry_aad(log, group.epoch());
    let sealed = cipher
        .encrypt(
            (&nonce).into(),
            Payload {
                msg: message,
                aad: &aad,
            },
        )
        .map_err(|_| tern_mls::GroupError::Invalid("an entry too large to seal".into()))?;
    let mut out = Vec::with_capacity(1 + ENTRY_NONCE_LEN + sealed.len());
    out.push(ENTRY_VERSION);
    out.extend_from_slice(&nonce);
    out.extend_from_slice(&sealed);
    Ok(out)
}

/// Opens an entry sealed by [`seal_entry`] in the group's current epoch; `None` if it is not
/// one (another version, too short, another epoch or log, or tampered with).
pub(crate) fn open_entry<B: Backing>(
    group: &tern_mls::Group,
    provider: &Provider<'_, B>,
    log: &LogId,
    sealed: &[u8],
) -> Option<Vec<u8>> {
    use chacha20poly1305::aead::{Aead, Payload};
    let (&version, rest) = sealed.split_first()?;
    if version != ENTRY_VERSION || rest.len() < ENTRY_NONCE_LEN + ENTRY_TAG_LEN {
        return None;
    }
    let (nonce, ciphertext) = rest.split_at(ENTRY_NONCE_LEN);
    let nonce: [u8; ENTRY_NONCE_LEN] = nonce.try_into().ok()?;
    let cipher = entry_cipher(group, provider, log).ok()?;
    let aad = entry_aad(log, group.epoch());
    cipher
        .decrypt(
            (&nonce).into(),
            Payload {
                msg: ciphertext,
                aad: &aad,
            },
        )
        .ok()
}

/// The access key of the group's current epoch.
pub(crate) fn current_access<B: Backing>(
    group: &tern_mls::Group,
    provider: &Provider<'_, B>,
    log: &LogId,
) -> Result<Access, tern_mls::GroupError> {
    group
        .export_secret(provider, ACCESS_LABEL, log, 32)
        .map(|seed| access(&seed))
}

/// The seed of the current epoch's access key ([`access`] makes the key from it).
pub(crate) fn current_access_seed<B: Backing>(
    group: &tern_mls::Group,
    provider: &Provider<'_, B>,
    log: &LogId,
) -> Result<[u8; 32], tern_mls::GroupError> {
    let seed = group.export_secret(provider, ACCESS_LABEL, log, 32)?;
    let mut bytes = [0u8; 32];
    bytes.copy_from_slice(&seed[..32.min(seed.len())]);
    Ok(bytes)
}

/// The access key of the epoch the pending commit moves to.
pub(crate) fn next_access<B: Backing>(
    group: &tern_mls::Group,
    provider: &Provider<'_, B>,
    log: &LogId,
) -> Result<Option<Access>, tern_mls::GroupError> {
    Ok(group
        .pending_export_secret(provider, ACCESS_LABEL, log, 32)?
        .map(|seed| access(&seed)))
}

#[cfg(test)]
mod tests {
    use tempfile::TempDir;
    use tern_crypto::{AccountKey, DeviceId, at_rest::KdfParams, rand_core::UnwrapErr};
    use tern_mls::{Group, Processed};

    use super::*;

    const PASSPHRASE: &[u8] = b"group storage test";

    /// A device of an account, with a node store of its own.
    struct Device {
        dir: TempDir,
        store: Option<Store>,
        account: AccountKey,
        signer: DeviceSigner,
        certificate: Vec<u8>,
    }

    impl Device {
        fn new() -> Self {
            let mut rng = UnwrapErr(getrandom::SysRng);
            let dir = TempDir::new().unwrap();
            let cheap = KdfParams::new(64, 1, 1).unwrap();
            let store = Store::create(dir.path(), PASSPHRASE, cheap).unwrap();
            let account = AccountKey::generate(&mut rng);
            let signer = DeviceSigner::generate(&Crypto::new()).unwrap();
            let device = DeviceId::from_bytes(signer.public()).unwrap();
            let certificate = account.certify_device(device, 0, u64::MAX).to_bytes();
            Self {
                dir,
                store: Some(store),
                account,
                signer,
                certificate,
            }
        }

        fn store(&self) -> &Store {
            self.store.as_ref().unwrap()
        }

        /// A group named `name` with this device as its only member.
        fn create(&self, name: &str) -> Group {
            self.run(|p| {
                Group::create(
                    p,
                    &self.signer,
                    self.certificate.clone(),
                    &Certificates,
                    name,
                )
                .unwrap()
            })
        }

        /// Runs one operation and commits its rows in one write, as the core does.
        fn run<T>(&self, f: impl FnOnce(&Provider<'_, StoreBacking<'_>>) -> T) -> T {
            let crypto = Crypto::new();
            let key = storage_key(self.store());
            let layer = Layer::new();
            let backing = StoreBacking {
                store: self.store(),
                layer: &layer,
            };
            let provider = Provider::new(&crypto, backing, &key);
            let out = f(&provider);
            let mut rows = Layer::new();
            merge(&mut rows, provider.take_batch());
            let mut batch = Batch::new();
            stage(&mut batch, rows).unwrap();
            self.store().commit(batch).unwrap();
            out
        }

        fn reopen(&mut self) {
            self.store.take();
            self.store = Some(Store::open(self.dir.path(), PASSPHRASE).unwrap());
        }

        /// Every byte of the database's files.
        fn files(&self) -> Vec<u8> {
            self.store().flush().unwrap();
            let mut all = Vec::new();
            for entry in std::fs::read_dir(self.dir.path().join("db")).unwrap() {
                all.extend(std::fs::read(entry.unwrap().path()).unwrap());
            }
            all
        }
    }

    fn contains(haystack: &[u8], needle: &[u8]) -> bool {
        haystack.windows(needle.len()).any(|w| w == needle)
    }

    /// A name no database file holds by chance ("family" is in RocksDB's OPTIONS files).
    const NAME: &str = "Zanzibar reunion";

    #[test]
    fn a_group_lives_in_the_node_store_sealed_and_survives_a_reopen() {
        let (alice, mut bob) = (Device::new(), Device::new());
        let mut group = alice.create(NAME);
        let key_package =
            bob.run(|p| tern_mls::key_package(p, &bob.signer, bob.certificate.clone()).unwrap());
        let (out, hello) = alice.run(|p| {
            let out = group
                .add_members(p, &alice.signer, &Certificates, &[key_package])
                .unwrap();
            assert!(matches!(
                group.process(p, &Certificates, &out.commit).unwrap(),
                Processed::OwnCommit { .. }
            ));
            let hello = group
                .send(p, &alice.signer, &Certificates, b"hello bob")
                .unwrap();
            (out, hello)
        });
        let bobs = bob.run(|p| Group::join(p, &out.welcome.unwrap(), &Certificates).unwrap());
        assert_eq!(bobs.epoch(), group.epoch());
        let members: Vec<_> = bobs
            .members()
            .iter()
            .map(|m| account(&m.identity).unwrap())
            .collect();
        assert!(members.contains(&alice.account.user_id()));
        assert!(members.contains(&bob.account.user_id()));

        // Bob's node stops and starts again: his group is read back from his store.
        let group_id = bobs.id().to_vec();
        drop(bobs);
        bob.reopen();
        let mut bobs = bob.run(|p| Group::load(p, &group_id, &Certificates).unwrap().unwrap());
        let Processed::Application { sender, plaintext } =
            bob.run(|p| bobs.process(p, &Certificates, &hello).unwrap())
        else {
            panic!("not an application message");
        };
        assert_eq!(plaintext, b"hello bob");
        assert_eq!(account(&sender.identity), Some(alice.account.user_id()));

        // Neither the group id nor any text is on disk in the clear.
        for device in [&alice, &bob] {
            let files = device.files();
            // The rows are in these files: each key is stored after the prefix it shares with
            // the key before, which for two HMACs is their format byte and seldom more.
            let rows = device
                .store()
                .scan::<MlsRows>(.., crate::store::Direction::Forward, usize::MAX)
                .unwrap();
            assert!(rows.len() > 10);
            assert!(rows.iter().all(|(key, _)| contains(&files, &key[4..])));
            assert!(!contains(&files, &group_id), "the group id is on disk");
            assert!(
                !contains(&files, NAME.as_bytes()),
                "the group's name is on disk"
            );
            assert!(!contains(&files, b"hello bob"), "a message is on disk");
        }
    }

    #[test]
    fn a_certificate_for_another_key_is_refused() {
        let (alice, bob) = (Device::new(), Device::new());
        let mut group = alice.create("family");
        // Bob's key package carries Alice's certificate: it certifies another device key.
        let forged =
            bob.run(|p| tern_mls::key_package(p, &bob.signer, alice.certificate.clone()).unwrap());
        let refused = alice.run(|p| group.add_members(p, &alice.signer, &Certificates, &[forged]));
        assert!(
            matches!(&refused, Err(tern_mls::GroupError::Credential(_))),
            "{refused:?}"
        );
        assert_eq!(group.epoch(), 0);
        assert!(Certificates.verify(b"garbage", &[0; 32]).is_err());
    }

    #[test]
    fn access_keys_follow_the_epoch_and_are_known_before_a_commit_merges() {
        let alice = Device::new();
        let log = [7; 32];
        let mut group = alice.create("family");
        let (now, next, commit) = alice.run(|p| {
            let now = current_access(&group, p, &log).unwrap();
            assert!(next_access(&group, p, &log).unwrap().is_none());
            let out = group.self_update(p, &alice.signer, &Certificates).unwrap();
            let next = next_access(&group, p, &log).unwrap().unwrap();
            (now, next, out.commit)
        });
        assert_ne!(now.public(), next.public());
        alice.run(|p| group.process(p, &Certificates, &commit).unwrap());
        let after = alice.run(|p| current_access(&group, p, &log).unwrap());
        assert_eq!(after.public(), next.public());
        // Another log of the same group has other keys.
        let other = alice.run(|p| current_access(&group, p, &[8; 32]).unwrap());
        assert_ne!(other.public(), after.public());
    }

    #[test]
    fn sealed_entries_hide_the_mls_header_and_open_only_in_their_epoch_and_log() {
        let alice = Device::new();
        let log = [7; 32];
        let mut group = alice.create("family");
        let (message, sealed) = alice.run(|p| {
            let message = group
                .send(p, &alice.signer, &Certificates, b"hello")
                .unwrap();
            let sealed = seal_entry(&group, p, &log, &message).unwrap();
            (message, sealed)
        });
        // The MLS message carries the group id in clear; the sealed entry does not.
        assert!(contains(&message, group.id()));
        assert!(!contains(&sealed, group.id()));
        assert_eq!(sealed.len(), message.len() + 1 + 24 + 16);
        alice.run(|p| {
            assert_eq!(open_entry(&group, p, &log, &sealed), Some(message.clone()));
            // Another log, a flipped bit, a cut, another version: refused.
            assert_eq!(open_entry(&group, p, &[8; 32], &sealed), None);
            for i in [0, 1, 30, sealed.len() - 1] {
                let mut bad = sealed.clone();
                bad[i] ^= 1;
                assert_eq!(open_entry(&group, p, &log, &bad), None, "bit flip at {i}");
            }
            assert_eq!(
                open_entry(&group, p, &log, &sealed[..sealed.len() - 1]),
                None
            );
            assert_eq!(open_entry(&group, p, &log, &sealed[..20]), None);
            assert_eq!(open_entry(&group, p, &log, &[]), None);
        });
        // The next epoch has another key: an old entry does not open in it.
        let commit = alice.run(|p| group.self_update(p, &alice.signer, &Certificates).unwrap());
        alice.run(|p| group.process(p, &Certificates, &commit.commit).unwrap());
        alice.run(|p| assert_eq!(open_entry(&group, p, &log, &sealed), None));
    }
}
