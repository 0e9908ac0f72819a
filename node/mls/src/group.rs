//! A Tern group at the MLS level: what the node drives.
//!
//! Every operation takes a [`Provider`] made for it: openmls's storage writes collect in its
//! overlay, and the node commits [`Provider::take_batch`] in the same write batch as the
//! message that caused them (the outgoing commit in the outbox, or the incoming message's
//! log cursor). On error the overlay is discarded and the group reloaded: nothing changed.
//!
//! ```text
//! creator:  Group::create ─► (batch)
//! invitee:  key_package ─► (batch; publish the bytes)
//! admin:    add_members(key packages) ─► Outgoing { commit, welcome } ─► upload commit to the log
//!           log says it won its epoch ─► merge_own_commit     (lost: process the winner instead)
//! invitee:  Group::join(welcome) ─► (batch)
//! everyone: process(bytes from the log) ─► Processed::{Application, Proposal, Commit, OwnCommit}
//! member:   send(text) ─► bytes to upload;  leave() ─► a proposal any member then commits
//! ```
//!
//! Configuration (named constants below): handshake and application messages are both
//! `PrivateMessage`s (relays see neither senders nor proposals), Welcomes carry the ratchet
//! tree (joining needs nothing from the inviter afterwards), and no past epoch's secrets are
//! kept ([`MAX_PAST_EPOCHS`]: the log never needs them).

mod commit;
mod error;
mod process;
#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, BTreeSet};

use openmls::prelude::{
    tls_codec::{Deserialize as _, Serialize as _},
    *,
};

pub use self::{
    commit::{Outgoing, key_package_identity},
    error::{EpochSide, GroupError, ProcessError},
    process::{Change, Processed},
};
use crate::{
    CIPHERSUITE, Provider,
    credential::{CredentialVerifier, DeviceSigner, Identity},
    policy::{EXTENSION_TYPE, LogRelay, PolicyError, Roles},
    storage::Backing,
};
use error::mls;

/// Largest message [`Group::process`] accepts. A commit adding many members with its
/// update path, or a 1,000-member ratchet tree in a Welcome, stays well under it; anything
/// larger is refused before decoding.
pub const MAX_MESSAGE_LEN: usize = 4 * 1024 * 1024;

/// How many past epochs' application secrets a member keeps: none. A message of an epoch
/// that has ended is refused as a past-epoch message.
///
/// A member reading the log never needs one: a sequencer takes an epoch's messages only
/// before the commit that ends it (later ones are refused `Retired` and made again in the
/// new epoch), and a member reads an epoch's entries before that commit. A copy that
/// reached a member another way after the commit can be dropped: the log has it. Every
/// epoch kept costs on every decryption: openmls rewrites its whole store of message
/// secrets each time, each past epoch with its member list (at 50 members, four past
/// epochs made it 140 KB, `docs/benchmarks.md`). Groups made when this was 4 take it at
/// their next load ([`Group::load`]).
pub const MAX_PAST_EPOCHS: usize = 0;

/// How far out of order application messages from one sender may arrive, and how far ahead
/// of the last one a message may be: generous, since delivery is by a log with retries and
/// also direct.
pub const OUT_OF_ORDER_TOLERANCE: u32 = 256;
const MAXIMUM_FORWARD_DISTANCE: u32 = 4096;

/// A member as the node shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    /// Its leaf index (one per device).
    pub leaf: u32,
    /// Its identity (account), from the node's verifier.
    pub identity: Identity,
    /// Its credential's bytes (the device certificate).
    pub credential: Vec<u8>,
    /// Whether its identity is an admin.
    pub admin: bool,
}

/// One Tern group: an openmls group plus its members' identities and roles.
#[derive(Debug)]
pub struct Group {
    mls: MlsGroup,
    members: BTreeMap<u32, (Identity, Vec<u8>)>,
    roles: Roles,
    /// SHA-256 of the last commit this member made, while it is pending.
    own_commit: Option<[u8; 32]>,
}

/// The capabilities every Tern leaf declares: the one ciphersuite and the roles extension.
fn capabilities() -> Capabilities {
    Capabilities::builder()
        .ciphersuites(vec![CIPHERSUITE])
        .extensions(vec![ExtensionType::Unknown(EXTENSION_TYPE)])
        .build()
}

fn join_config() -> MlsGroupJoinConfig {
    MlsGroupJoinConfig::builder()
        .wire_format_policy(PURE_CIPHERTEXT_WIRE_FORMAT_POLICY)
        .use_ratchet_tree_extension(true)
        .max_past_epochs(MAX_PAST_EPOCHS)
        .sender_ratchet_configuration(SenderRatchetConfiguration::new(
            OUT_OF_ORDER_TOLERANCE,
            MAXIMUM_FORWARD_DISTANCE,
        ))
        .build()
}

/// The group-context extensions with `roles` in place of the old roles.
fn with_roles(
    current: &Extensions<GroupContext>,
    roles: &Roles,
) -> Result<Extensions<GroupContext>, GroupError> {
    let mut extensions: Vec<Extension> = current
        .iter()
        .filter(|e| e.extension_type() != ExtensionType::Unknown(EXTENSION_TYPE))
        .cloned()
        .collect();
    extensions.push(Extension::Unknown(
        EXTENSION_TYPE,
        UnknownExtension(roles.encode()),
    ));
    Extensions::from_vec(extensions).map_err(mls)
}

/// Where a group may keep its log: an id of 1 to [`crate::MAX_LOG_ID_LEN`] bytes, and 1 to
/// [`crate::MAX_RELAYS`] relays within bounds, no id twice.
fn check_log(log: &[u8], relays: &[LogRelay]) -> Result<(), GroupError> {
    let mut ids = BTreeSet::new();
    if !(1..=crate::MAX_LOG_ID_LEN).contains(&log.len())
        || relays.is_empty()
        || relays.len() > crate::MAX_RELAYS
        || relays
            .iter()
            .any(|r| !r.within_bounds() || !ids.insert(r.id.as_slice()))
    {
        return Err(GroupError::Invalid(format!(
            "a group's log has an id of 1 to {} bytes and is kept at 1 to {} distinct \
             relays, each within bounds",
            crate::MAX_LOG_ID_LEN,
            crate::MAX_RELAYS
        )));
    }
    Ok(())
}

fn roles_of(extensions: &Extensions<GroupContext>) -> Result<Roles, PolicyError> {
    let bytes = extensions
        .unknown(EXTENSION_TYPE)
        .ok_or(PolicyError::MissingRoles)?;
    Roles::decode(&bytes.0).map_err(|_| PolicyError::MissingRoles)
}

/// Makes a key package for this device, to publish so that admins can add it. openmls
/// stores its private keys through `provider`: commit the batch before publishing.
pub fn key_package<B: Backing>(
    provider: &Provider<'_, B>,
    signer: &DeviceSigner,
    certificate: Vec<u8>,
) -> Result<Vec<u8>, GroupError> {
    let bundle = KeyPackage::builder()
        .leaf_node_capabilities(capabilities())
        .build(
            CIPHERSUITE,
            provider,
            signer,
            signer.credential(certificate),
        )
        .map_err(mls)?;
    MlsMessageOut::from(bundle.key_package().clone())
        .tls_serialize_detached()
        .map_err(mls)
}

impl Group {
    /// Creates a group with this device as its only member and first admin.
    ///
    /// ```
    /// use tern_mls::{Crypto, DeviceSigner, Group, InsecureTestVerifier, MemoryBacking, Provider, StorageKey};
    ///
    /// let crypto = Crypto::new();
    /// let mut store = MemoryBacking::new();
    /// let key = StorageKey::new([1; 32]);
    /// let alice = DeviceSigner::generate(&crypto).unwrap();
    /// let certificate = InsecureTestVerifier::credential(b"alice", &alice);
    ///
    /// let provider = Provider::new(&crypto, &store, &key);
    /// let group = Group::create(&provider, &alice, certificate, &InsecureTestVerifier, "family").unwrap();
    /// let batch = provider.take_batch();
    /// drop(provider);
    /// store.commit(batch); // the node: one RocksDB write batch
    /// assert_eq!(group.name(), "family");
    /// assert!(group.members()[0].admin);
    /// ```
    pub fn create<B: Backing>(
        provider: &Provider<'_, B>,
        signer: &DeviceSigner,
        certificate: Vec<u8>,
        verifier: &dyn CredentialVerifier,
        name: &str,
    ) -> Result<Self, GroupError> {
        Self::create_with_log(provider, signer, certificate, verifier, name, (&[], &[]))
    }

    /// [`Group::create`], naming in the roles extension where the group's log is kept: its
    /// id there (1 to [`crate::MAX_LOG_ID_LEN`] bytes) and the relays (1 to
    /// [`crate::MAX_RELAYS`], each within [`LogRelay::within_bounds`]), so that every member,
    /// joiners too, reads them from the group itself, and only an admin's commit moves them
    /// ([`Group::move_log`]). Both empty: none named.
    pub fn create_with_log<B: Backing>(
        provider: &Provider<'_, B>,
        signer: &DeviceSigner,
        certificate: Vec<u8>,
        verifier: &dyn CredentialVerifier,
        name: &str,
        (log, relays): (&[u8], &[LogRelay]),
    ) -> Result<Self, GroupError> {
        if !(log.is_empty() && relays.is_empty()) {
            check_log(log, relays)?;
        }
        let identity = crate::credential::verify(verifier, &certificate, &signer.public())?;
        let roles = Roles {
            name: name.chars().take(crate::policy::MAX_NAME_LEN).collect(),
            admins: BTreeSet::from([identity]),
            order: vec![0],
            log: log.to_vec(),
            relays: relays.to_vec(),
        };
        let required = Extension::RequiredCapabilities(RequiredCapabilitiesExtension::new(
            &[ExtensionType::Unknown(EXTENSION_TYPE)],
            &[],
            &[CredentialType::Basic],
        ));
        let extensions = Extensions::from_vec(vec![
            required,
            Extension::Unknown(EXTENSION_TYPE, UnknownExtension(roles.encode())),
        ])
        .map_err(mls)?;
        let config = MlsGroupCreateConfig::builder()
            .ciphersuite(CIPHERSUITE)
            .capabilities(capabilities())
            .wire_format_policy(PURE_CIPHERTEXT_WIRE_FORMAT_POLICY)
            .use_ratchet_tree_extension(true)
            .max_past_epochs(MAX_PAST_EPOCHS)
            .sender_ratchet_configuration(SenderRatchetConfiguration::new(
                OUT_OF_ORDER_TOLERANCE,
                MAXIMUM_FORWARD_DISTANCE,
            ))
            .with_group_context_extensions(extensions)
            .build();
        let group_id = GroupId::from_slice(
            &provider
                .rand()
                .random_vec(32)
                .map_err(|e| GroupError::Mls(e.to_string()))?,
        );
        let result = MlsGroup::new_with_group_id(
            provider,
            signer,
            &config,
            group_id,
            signer.credential(certificate),
        )
        .map_err(mls)
        .and_then(|mls| Self::from_mls(mls, verifier));
        if result.is_err() {
            provider.discard();
        }
        result
    }

    /// Joins a group from a Welcome (which carries the ratchet tree). Every leaf's credential
    /// is checked by `verifier`.
    pub fn join<B: Backing>(
        provider: &Provider<'_, B>,
        welcome: &[u8],
        verifier: &dyn CredentialVerifier,
    ) -> Result<Self, GroupError> {
        Self::join_replacing(provider, welcome, verifier, &|_| false)
    }

    /// [`Group::join`], for a group whose state this device may already hold: a member that
    /// was removed and is added again, or one that fell behind its log's retention and is
    /// added back (`docs/protocol/groups.md` §10.7). If storage holds the Welcome's group and
    /// `replace` says yes for its id, the old state is deleted in the same batch as the new
    /// one is written; if it says no, the Welcome is refused as a group this device is in.
    pub fn join_replacing<B: Backing>(
        provider: &Provider<'_, B>,
        welcome: &[u8],
        verifier: &dyn CredentialVerifier,
        replace: &dyn Fn(&[u8]) -> bool,
    ) -> Result<Self, GroupError> {
        let result = Self::join_inner(provider, welcome, verifier, replace);
        if result.is_err() {
            provider.discard();
        }
        result
    }

    fn join_inner<B: Backing>(
        provider: &Provider<'_, B>,
        welcome: &[u8],
        verifier: &dyn CredentialVerifier,
        replace: &dyn Fn(&[u8]) -> bool,
    ) -> Result<Self, GroupError> {
        if welcome.len() > MAX_MESSAGE_LEN {
            return Err(GroupError::Invalid("welcome too large".into()));
        }
        let message = MlsMessageIn::tls_deserialize_exact(welcome)
            .map_err(|_| GroupError::Invalid("not an MLS message".into()))?;
        let MlsMessageBodyIn::Welcome(welcome) = message.extract() else {
            return Err(GroupError::Invalid("not a Welcome".into()));
        };
        let builder =
            StagedWelcome::build_from_welcome(provider, &join_config(), welcome).map_err(mls)?;
        let group_id = builder
            .processed_welcome()
            .unverified_group_info()
            .group_id()
            .clone();
        let old = MlsGroup::load(provider.storage(), &group_id).map_err(mls)?;
        let staged = match old {
            Some(_) if !replace(group_id.as_slice()) => {
                return Err(GroupError::State("already in this group".into()));
            }
            Some(_) => builder.replace_old_group().build(),
            None => builder.build(),
        }
        .map_err(mls)?;
        for member in staged.members() {
            crate::credential::verify(
                verifier,
                member.credential.serialized_content(),
                &member.signature_key,
            )?;
        }
        roles_of(staged.group_context().extensions())?;
        // The old state's rows go in the same batch as the new state's (some, such as its
        // past epochs' secrets, the new state would not overwrite).
        if let Some(mut old) = old {
            old.delete(provider.storage()).map_err(mls)?;
        }
        let mls = staged.into_group(provider).map_err(mls)?;
        Self::from_mls(mls, verifier)
    }

    /// Loads a group from storage (`None` if the store has no such group).
    pub fn load<B: Backing>(
        provider: &Provider<'_, B>,
        group_id: &[u8],
        verifier: &dyn CredentialVerifier,
    ) -> Result<Option<Self>, GroupError> {
        match MlsGroup::load(provider.storage(), &GroupId::from_slice(group_id))? {
            Some(mut mls) => {
                // A group stored under an older configuration (more past epochs) takes
                // today's; its store of past epochs shrinks with it.
                let config = join_config();
                if *mls.configuration() != config {
                    mls.set_configuration(provider.storage(), &config)?;
                }
                Self::from_mls(mls, verifier).map(Some)
            }
            None => Ok(None),
        }
    }

    fn from_mls(mls: MlsGroup, verifier: &dyn CredentialVerifier) -> Result<Self, GroupError> {
        let mut group = Self {
            roles: roles_of(mls.extensions())?,
            mls,
            members: BTreeMap::new(),
            own_commit: None,
        };
        group.refresh(verifier)?;
        Ok(group)
    }

    /// Re-reads members and roles after the MLS state changed.
    fn refresh(&mut self, verifier: &dyn CredentialVerifier) -> Result<(), GroupError> {
        self.roles = roles_of(self.mls.extensions())?;
        self.members = self
            .mls
            .members()
            .map(|m| {
                let credential = m.credential.serialized_content().to_vec();
                verifier
                    .identity(&credential)
                    .map(|identity| (m.index.u32(), (identity, credential)))
            })
            .collect::<Result<_, _>>()?;
        Ok(())
    }

    /// Throws away in-memory changes after a failure: the overlay's writes are discarded and
    /// the group is read back from the committed store.
    fn restore<B: Backing>(
        &mut self,
        provider: &Provider<'_, B>,
        verifier: &dyn CredentialVerifier,
    ) {
        provider.discard();
        let group_id = self.mls.group_id().clone();
        if let Ok(Some(mls)) = MlsGroup::load(provider.storage(), &group_id) {
            let own_commit = self.own_commit.filter(|_| mls.pending_commit().is_some());
            if let Ok(group) = Self::from_mls(mls, verifier) {
                *self = Self {
                    own_commit,
                    ..group
                };
            }
        }
    }

    /// The group's id (random, 32 bytes). Never stored in clear by this crate.
    pub fn id(&self) -> &[u8] {
        self.mls.group_id().as_slice()
    }

    /// The current epoch.
    pub fn epoch(&self) -> u64 {
        self.mls.epoch().as_u64()
    }

    /// The ratchet tree's hash in this epoch: members agree on it exactly when they agree on
    /// the tree.
    pub fn tree_hash(&self) -> &[u8] {
        self.mls.public_group().group_context().tree_hash()
    }

    /// The epoch authenticator (RFC 9420 §8.7), for out-of-band checks between members.
    pub fn epoch_authenticator(&self) -> &[u8] {
        self.mls.epoch_authenticator().as_slice()
    }

    /// A secret exported from this epoch (RFC 9420 §8.5), e.g. the log's access key.
    pub fn export_secret<B: Backing>(
        &self,
        provider: &Provider<'_, B>,
        label: &str,
        context: &[u8],
        length: usize,
    ) -> Result<Vec<u8>, GroupError> {
        self.mls
            .export_secret(provider.crypto(), label, context, length)
            .map_err(mls)
    }

    /// The group's name.
    pub fn name(&self) -> &str {
        &self.roles.name
    }

    /// The relays that keep the group's log, in the order that decides; empty if the group
    /// was made without them.
    pub fn relays(&self) -> &[LogRelay] {
        &self.roles.relays
    }

    /// The log's id at its relays; empty if the group was made without it.
    pub fn log(&self) -> &[u8] {
        &self.roles.log
    }

    /// The admins' identities.
    pub fn admins(&self) -> impl Iterator<Item = &Identity> {
        self.roles.admins.iter()
    }

    /// The members, by leaf.
    pub fn members(&self) -> Vec<Member> {
        self.members
            .iter()
            .map(|(leaf, (identity, credential))| Member {
                leaf: *leaf,
                identity: identity.clone(),
                credential: credential.clone(),
                admin: self.roles.admins.contains(identity),
            })
            .collect()
    }

    /// How many members (leaves) the group has, without listing them.
    pub fn member_count(&self) -> usize {
        self.members.len()
    }

    /// This device's leaf.
    pub fn own_leaf(&self) -> u32 {
        self.mls.own_leaf_index().u32()
    }

    /// Whether this device is still a member (false once a commit removed it).
    pub fn is_active(&self) -> bool {
        self.mls.is_active()
    }

    /// Whether this device's identity is an admin.
    pub fn is_admin(&self) -> bool {
        self.identity_of(self.own_leaf())
            .is_some_and(|id| self.roles.admins.contains(id))
    }

    fn identity_of(&self, leaf: u32) -> Option<&Identity> {
        self.members.get(&leaf).map(|(identity, _)| identity)
    }

    fn identities(&self) -> BTreeMap<u32, Identity> {
        self.members
            .iter()
            .map(|(leaf, (identity, _))| (*leaf, identity.clone()))
            .collect()
    }
}
