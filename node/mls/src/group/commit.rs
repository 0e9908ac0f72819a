//! What a member sends: commits (add, remove, self-update, rename, admin changes, moving
//! the log, pending proposals), the leave proposal, and application messages.
//!
//! Every commit is built with the roles extension the policy requires (`policy.rs`): the new
//! seniority order when members are added, admins who left dropped and, if none is left, the
//! longest-standing member promoted. The commit is checked against the same policy as a
//! receiver would, before it is sent. It stays pending until the node learns from the
//! sequencer log whether it won its epoch: then [`Group::merge_own_commit`], or, if another
//! commit won, processing that one discards it.

use openmls::prelude::{
    tls_codec::{Deserialize as _, Serialize as _},
    *,
};
use sha2::{Digest, Sha256};

use super::{Change, Group, GroupError, check_log, error::mls, with_roles};
use crate::{
    Provider,
    credential::{CredentialVerifier, DeviceSigner, Identity},
    policy::{self, CommitSummary, LogRelay, PolicyError, Roles},
    storage::Backing,
};

/// A commit to upload to the group's log, and the Welcome for the members it adds (to send
/// to each of them over the 1:1 path).
#[derive(Debug, Clone)]
pub struct Outgoing {
    /// The commit (an MLS `PrivateMessage`).
    pub commit: Vec<u8>,
    /// The Welcome, if the commit adds members.
    pub welcome: Option<Vec<u8>>,
}

/// Checks a key package (a serialized `MLSMessage`) as an Add does: its encoding, signature,
/// ciphersuite and lifetime, and its credential through `verifier`. Returns the account it
/// is for, so that a node can check that a peer gave it a key package of its own before it
/// keeps it.
pub fn key_package_identity<B: Backing>(
    provider: &Provider<'_, B>,
    verifier: &dyn CredentialVerifier,
    bytes: &[u8],
) -> Result<Identity, GroupError> {
    validate_key_package(provider, verifier, bytes).map(|(_, identity)| identity)
}

fn validate_key_package<B: Backing>(
    provider: &Provider<'_, B>,
    verifier: &dyn CredentialVerifier,
    bytes: &[u8],
) -> Result<(KeyPackage, Identity), GroupError> {
    let message = MlsMessageIn::tls_deserialize_exact(bytes)
        .map_err(|_| GroupError::Invalid("not an MLS message".into()))?;
    let MlsMessageBodyIn::KeyPackage(key_package) = message.extract() else {
        return Err(GroupError::Invalid("not a key package".into()));
    };
    let key_package = key_package
        .validate(provider.crypto(), ProtocolVersion::Mls10)
        .map_err(|e| GroupError::Invalid(format!("key package: {e:?}")))?;
    let leaf = key_package.leaf_node();
    let identity = crate::credential::verify(
        verifier,
        leaf.credential().serialized_content(),
        leaf.signature_key().as_slice(),
    )?;
    Ok((key_package, identity))
}

/// What a commit this member makes will change.
#[derive(Default)]
struct Plan {
    adds: Vec<(KeyPackage, Identity)>,
    removes: Vec<u32>,
    /// Removals proposed by others and already queued (a member's leave).
    queued_removes: Vec<(u32, u32)>,
    name: Option<String>,
    admin: Option<(Identity, bool)>,
    log: Option<(Vec<u8>, Vec<LogRelay>)>,
    update: bool,
}

impl Group {
    /// Adds the devices whose key packages (serialized `MLSMessage`s) are given. Admins only.
    pub fn add_members<B: Backing>(
        &mut self,
        provider: &Provider<'_, B>,
        signer: &DeviceSigner,
        verifier: &dyn CredentialVerifier,
        key_packages: &[Vec<u8>],
    ) -> Result<Outgoing, GroupError> {
        let adds = key_packages
            .iter()
            .map(|bytes| validate_key_package(provider, verifier, bytes))
            .collect::<Result<Vec<_>, _>>()?;
        let plan = Plan {
            adds,
            ..Plan::default()
        };
        self.commit(provider, signer, verifier, plan)
    }

    /// Removes the members at `leaves`. Admins only; to remove itself a member leaves.
    pub fn remove_members<B: Backing>(
        &mut self,
        provider: &Provider<'_, B>,
        signer: &DeviceSigner,
        verifier: &dyn CredentialVerifier,
        leaves: &[u32],
    ) -> Result<Outgoing, GroupError> {
        if leaves.contains(&self.own_leaf()) {
            return Err(GroupError::Invalid(
                "a member leaves rather than removes itself".into(),
            ));
        }
        if let Some(leaf) = leaves.iter().find(|l| !self.members.contains_key(l)) {
            return Err(GroupError::Invalid(format!("no member at leaf {leaf}")));
        }
        let plan = Plan {
            removes: leaves.to_vec(),
            ..Plan::default()
        };
        self.commit(provider, signer, verifier, plan)
    }

    /// Adds back a member that can no longer follow the group (its device fell behind the
    /// log's retention, `docs/protocol/groups.md` §10.7): one commit removes every leaf of the
    /// key package's identity and adds the key package. Admins only. Refused if the identity
    /// has no leaf (it is not a member: it is added, not added back) or if the key package is
    /// already in the tree (another admin added it back first).
    pub fn readd<B: Backing>(
        &mut self,
        provider: &Provider<'_, B>,
        signer: &DeviceSigner,
        verifier: &dyn CredentialVerifier,
        key_package: &[u8],
    ) -> Result<Outgoing, GroupError> {
        let (package, identity) = validate_key_package(provider, verifier, key_package)?;
        if self.holds_key_package(&package) {
            return Err(GroupError::State("already added back".into()));
        }
        let removes: Vec<u32> = self
            .members
            .iter()
            .filter(|(_, (id, _))| *id == identity)
            .map(|(leaf, _)| *leaf)
            .collect();
        if removes.is_empty() {
            return Err(GroupError::Invalid("not a member of the group".into()));
        }
        if removes.contains(&self.own_leaf()) {
            return Err(GroupError::Invalid(
                "a member does not add itself back".into(),
            ));
        }
        let plan = Plan {
            adds: vec![(package, identity)],
            removes,
            ..Plan::default()
        };
        self.commit(provider, signer, verifier, plan)
    }

    /// Whether the key package (a serialized `MLSMessage`) is a leaf of the tree already:
    /// a member's leaf keeps the encryption key it joined with until that member updates.
    pub fn has_key_package<B: Backing>(
        &self,
        provider: &Provider<'_, B>,
        verifier: &dyn CredentialVerifier,
        key_package: &[u8],
    ) -> bool {
        validate_key_package(provider, verifier, key_package)
            .is_ok_and(|(package, _)| self.holds_key_package(&package))
    }

    fn holds_key_package(&self, package: &KeyPackage) -> bool {
        let key = package.leaf_node().encryption_key();
        self.mls.members().any(|m| *key == m.encryption_key.into())
    }

    /// Updates this device's leaf (fresh HPKE key: post-compromise security).
    pub fn self_update<B: Backing>(
        &mut self,
        provider: &Provider<'_, B>,
        signer: &DeviceSigner,
        verifier: &dyn CredentialVerifier,
    ) -> Result<Outgoing, GroupError> {
        let plan = Plan {
            update: true,
            ..Plan::default()
        };
        self.commit(provider, signer, verifier, plan)
    }

    /// Renames the group. Admins only.
    pub fn rename<B: Backing>(
        &mut self,
        provider: &Provider<'_, B>,
        signer: &DeviceSigner,
        verifier: &dyn CredentialVerifier,
        name: &str,
    ) -> Result<Outgoing, GroupError> {
        let plan = Plan {
            name: Some(name.chars().take(policy::MAX_NAME_LEN).collect()),
            ..Plan::default()
        };
        self.commit(provider, signer, verifier, plan)
    }

    /// Promotes (`true`) or demotes (`false`) the member identity `identity`. Admins only; the
    /// group keeps at least one admin.
    pub fn set_admin<B: Backing>(
        &mut self,
        provider: &Provider<'_, B>,
        signer: &DeviceSigner,
        verifier: &dyn CredentialVerifier,
        identity: &Identity,
        admin: bool,
    ) -> Result<Outgoing, GroupError> {
        let plan = Plan {
            admin: Some((identity.clone(), admin)),
            ..Plan::default()
        };
        self.commit(provider, signer, verifier, plan)
    }

    /// Moves the group's log to the id `log` at `relays` (1 to [`crate::MAX_RELAYS`], in the
    /// order that decides): members read and append there from the epoch this commit
    /// begins. Admins only.
    pub fn move_log<B: Backing>(
        &mut self,
        provider: &Provider<'_, B>,
        signer: &DeviceSigner,
        verifier: &dyn CredentialVerifier,
        (log, relays): (&[u8], &[LogRelay]),
    ) -> Result<Outgoing, GroupError> {
        check_log(log, relays)?;
        if !self.is_admin() {
            return Err(PolicyError::NotAdmin("move the group's log").into());
        }
        // Members' leaves waiting for a commit go with it: a move made outside the log (a
        // failover) ends the epoch their proposals belong to.
        let plan = Plan {
            log: Some((log.to_vec(), relays.to_vec())),
            queued_removes: self.queued_leaves()?,
            ..Plan::default()
        };
        self.commit(provider, signer, verifier, plan)
    }

    /// The leaves proposed and stored, each as (leaf, proposer).
    fn queued_leaves(&self) -> Result<Vec<(u32, u32)>, GroupError> {
        let mut queued = Vec::new();
        for proposal in self.mls.pending_proposals() {
            let (Proposal::Remove(remove), Sender::Member(sender)) =
                (proposal.proposal(), proposal.sender())
            else {
                return Err(PolicyError::ProposalNotAllowed.into());
            };
            queued.push((remove.removed().u32(), sender.u32()));
        }
        Ok(queued)
    }

    /// Commits the proposals received and stored (members' leaves), with the roles change
    /// they force. Any member may.
    pub fn commit_pending<B: Backing>(
        &mut self,
        provider: &Provider<'_, B>,
        signer: &DeviceSigner,
        verifier: &dyn CredentialVerifier,
    ) -> Result<Outgoing, GroupError> {
        let plan = Plan {
            queued_removes: self.queued_leaves()?,
            ..Plan::default()
        };
        self.commit(provider, signer, verifier, plan)
    }

    /// Whether proposals are waiting to be committed.
    pub fn has_pending_proposals(&self) -> bool {
        self.mls.has_pending_proposals()
    }

    /// Whether this device is to commit the proposals waiting (members' leaves). An admin
    /// that stays does. If they take every admin away, the member the commit will promote
    /// (the longest-standing that stays, policy rule 8) does, so that a group whose last
    /// admin left goes on, and its other members do not race each other for the epoch.
    pub fn commits_pending(&self) -> bool {
        let removed = self.pending_removals();
        let own = self.own_leaf();
        if removed.is_empty() || removed.contains(&own) {
            return false;
        }
        if self.is_admin() {
            return true;
        }
        let mut after = self.identities();
        after.retain(|leaf, _| !removed.contains(leaf));
        // The admins that stay, or else the member to promote; we are no admin here.
        let forced = policy::forced_admins(&self.roles.admins, &after, &self.roles.order);
        self.identity_of(own).is_some_and(|me| forced.contains(me))
    }

    /// When members' leaves wait for a commit that the members [`Group::commits_pending`]
    /// names have not made (they are offline), where this member stands among the others
    /// who stay, longest-standing first (0 is the first to step in); `None` when nothing
    /// waits or this member is the one leaving. The policy lets any member commit a leave:
    /// a node uses the rank to stagger its fallback, so that members do not race for the
    /// epoch.
    pub fn fallback_rank(&self) -> Option<usize> {
        let removed = self.pending_removals();
        let own = self.own_leaf();
        if removed.is_empty() || removed.contains(&own) {
            return None;
        }
        self.roles
            .order
            .iter()
            .filter(|leaf| !removed.contains(leaf))
            .position(|leaf| *leaf == own)
    }

    /// This member's place among the admins, longest-standing first: how many failover
    /// delays it waits before it moves a log nobody reaches (the node's
    /// `docs/protocol/groups.md` §9.9). `None` if it is no admin.
    pub fn admin_rank(&self) -> Option<usize> {
        let admins: Vec<u32> = self
            .members()
            .into_iter()
            .filter(|m| m.admin)
            .map(|m| m.leaf)
            .collect();
        let own = self.own_leaf();
        self.roles
            .order
            .iter()
            .filter(|leaf| admins.contains(leaf))
            .position(|leaf| *leaf == own)
    }

    /// Whether a Remove proposal waiting for a commit takes this device out: we asked to
    /// leave.
    pub fn is_leaving(&self) -> bool {
        self.pending_removals().contains(&self.own_leaf())
    }

    /// Whether proposals wait for a commit: until one is made, MLS (RFC 9420 as openmls
    /// applies it) lets no member of this epoch send application messages.
    pub fn proposals_pending(&self) -> bool {
        self.mls.pending_proposals().next().is_some()
    }

    /// The leaves that pending Remove proposals take out.
    fn pending_removals(&self) -> std::collections::BTreeSet<u32> {
        self.mls
            .pending_proposals()
            .filter_map(|proposal| match proposal.proposal() {
                Proposal::Remove(remove) => Some(remove.removed().u32()),
                _ => None,
            })
            .collect()
    }

    /// Asks the group to remove this device: a Remove proposal for its own leaf, which any
    /// member then commits ([`Group::commit_pending`]). Returns the proposal to upload.
    pub fn leave<B: Backing>(
        &mut self,
        provider: &Provider<'_, B>,
        signer: &DeviceSigner,
        verifier: &dyn CredentialVerifier,
    ) -> Result<Vec<u8>, GroupError> {
        let result = self
            .mls
            .leave_group(provider, signer)
            .map_err(mls)
            .and_then(|m| m.tls_serialize_detached().map_err(mls));
        if result.is_err() {
            self.restore(provider, verifier);
        }
        result
    }

    /// Encrypts an application message for the group.
    pub fn send<B: Backing>(
        &mut self,
        provider: &Provider<'_, B>,
        signer: &DeviceSigner,
        verifier: &dyn CredentialVerifier,
        plaintext: &[u8],
    ) -> Result<Vec<u8>, GroupError> {
        if self.proposals_pending() {
            return Err(GroupError::ProposalsPending);
        }
        let result = self
            .mls
            .create_message(provider, signer, plaintext)
            .map_err(mls)
            .and_then(|m| m.tls_serialize_detached().map_err(mls));
        if result.is_err() {
            self.restore(provider, verifier);
        }
        result
    }

    /// Applies this member's pending commit once the log shows it won its epoch. Returns
    /// what it changed, as [`Processed::Commit`](super::Processed::Commit) reports it to the
    /// other members: with the leaves it committed for their members, or an admin it
    /// promoted because the last one left, which the caller did not ask for by name.
    pub fn merge_own_commit<B: Backing>(
        &mut self,
        provider: &Provider<'_, B>,
        verifier: &dyn CredentialVerifier,
    ) -> Result<Vec<Change>, GroupError> {
        let Some(staged) = self.mls.pending_commit() else {
            return Err(GroupError::State("no pending commit".into()));
        };
        // What it does, as a receiver's `process` reports it: the leaves it removes (leaves
        // proposed by their members included) and those it updates.
        let (mut removed, mut updated) = (Vec::new(), Vec::new());
        for queued in staged.queued_proposals() {
            match (queued.proposal(), queued.sender()) {
                (Proposal::Remove(remove), _) => removed.push(remove.removed().u32()),
                (Proposal::Update(_), Sender::Member(leaf)) => updated.push(leaf.u32()),
                _ => {}
            }
        }
        if staged.update_path_leaf_node().is_some() {
            updated.push(self.own_leaf());
        }
        let (before, old_roles) = (self.members(), self.roles.clone());
        let result = self
            .mls
            .merge_pending_commit(provider)
            .map_err(mls)
            .and_then(|()| self.refresh(verifier));
        self.own_commit = None;
        match result {
            Ok(()) => Ok(self.changes_since(&before, &old_roles, &removed, &updated)),
            Err(e) => {
                self.restore(provider, verifier);
                Err(e)
            }
        }
    }

    /// Drops this member's pending commit (it lost its epoch, or will never be sent).
    pub fn discard_own_commit<B: Backing>(
        &mut self,
        provider: &Provider<'_, B>,
    ) -> Result<(), GroupError> {
        self.own_commit = None;
        self.mls.clear_pending_commit(provider.storage())?;
        Ok(())
    }

    /// A secret exported from the epoch this member's pending commit moves to (RFC 9420
    /// §8.5), before the commit is merged: the log's access key of the next epoch, which the
    /// commit must name. `None` without a pending commit.
    pub fn pending_export_secret<B: Backing>(
        &self,
        provider: &Provider<'_, B>,
        label: &str,
        context: &[u8],
        length: usize,
    ) -> Result<Option<Vec<u8>>, GroupError> {
        self.mls
            .pending_commit()
            .map(|staged| staged.export_secret(provider.crypto(), label, context, length))
            .transpose()
            .map_err(mls)
    }

    /// Whether this member has a commit waiting for the log's verdict.
    pub fn has_pending_commit(&self) -> bool {
        self.mls.pending_commit().is_some()
    }

    fn commit<B: Backing>(
        &mut self,
        provider: &Provider<'_, B>,
        signer: &DeviceSigner,
        verifier: &dyn CredentialVerifier,
        plan: Plan,
    ) -> Result<Outgoing, GroupError> {
        if self.mls.pending_commit().is_some() {
            return Err(GroupError::State("a commit is already pending".into()));
        }
        let result = self.commit_inner(provider, signer, plan);
        if result.is_err() {
            self.restore(provider, verifier);
        }
        result
    }

    fn commit_inner<B: Backing>(
        &mut self,
        provider: &Provider<'_, B>,
        signer: &DeviceSigner,
        plan: Plan,
    ) -> Result<Outgoing, GroupError> {
        let before = self.identities();
        let me = self.own_leaf();
        let mut summary = CommitSummary {
            committer: me,
            adds: plan.adds.iter().map(|(_, id)| (id.clone(), me)).collect(),
            removes: plan.removes.iter().map(|&l| (l, me)).collect(),
            ..CommitSummary::default()
        };
        summary.removes.extend(plan.queued_removes.iter().copied());
        let removed: Vec<u32> = summary.removes.iter().map(|(l, _)| *l).collect();
        let added: Vec<Identity> = plan.adds.iter().map(|(_, id)| id.clone()).collect();
        let (after, new_leaves) = policy::members_after(&before, &removed, &added);
        let order = policy::expected_order(&self.roles.order, &before, &removed, &new_leaves);

        let mut roles = Roles {
            order: if added.is_empty() {
                self.roles.order.clone()
            } else {
                order.clone()
            },
            ..self.roles.clone()
        };
        if let Some(name) = plan.name {
            roles.name = name;
        }
        if let Some((log, relays)) = plan.log {
            roles.log = log;
            roles.relays = relays;
        }
        let changes_admins = plan.admin.is_some();
        if let Some((identity, admin)) = plan.admin {
            if !self.is_admin() {
                return Err(PolicyError::NotAdmin("promote or demote").into());
            }
            if admin {
                if !after.values().any(|id| *id == identity) {
                    return Err(GroupError::Invalid("not a member".into()));
                }
                roles.admins.insert(identity);
            } else {
                roles.admins.remove(&identity);
            }
        }
        // Admins who leave are dropped; if none is left, the longest-standing member is
        // promoted. Demoting the last admin explicitly is refused instead.
        if roles.admins.is_empty() && changes_admins {
            return Err(PolicyError::Roles("the group would have no admin").into());
        }
        roles.admins = policy::forced_admins(&roles.admins, &after, &order);
        if roles != self.roles {
            summary.new_roles = Some(roles.clone());
        }
        // Check as every receiver will.
        policy::check(&self.roles, &before, &summary)?;

        let extensions = match &summary.new_roles {
            Some(roles) => Some(with_roles(self.mls.extensions(), roles)?),
            None => None,
        };
        let mut builder = self
            .mls
            .commit_builder()
            .consume_proposal_store(!plan.queued_removes.is_empty())
            .force_self_update(plan.update)
            .propose_adds(plan.adds.into_iter().map(|(kp, _)| kp))
            .propose_removals(plan.removes.into_iter().map(LeafNodeIndex::new));
        if let Some(extensions) = extensions {
            builder = builder
                .propose_group_context_extensions(extensions)
                .map_err(mls)?;
        }
        let bundle = builder
            .load_psks(provider.storage())
            .map_err(mls)?
            .build(provider.rand(), provider.crypto(), signer, |_| true)
            .map_err(mls)?
            .stage_commit(provider)
            .map_err(mls)?;
        let (commit, welcome, _) = bundle.into_messages();
        let commit = commit.tls_serialize_detached().map_err(mls)?;
        let welcome = welcome
            .map(|w| w.tls_serialize_detached().map_err(mls))
            .transpose()?;
        self.own_commit = Some(Sha256::digest(&commit).into());
        Ok(Outgoing { commit, welcome })
    }
}
