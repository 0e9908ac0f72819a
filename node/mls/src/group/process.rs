//! What a member receives: every message from the group's log (or directly from a sender),
//! in the log's order.
//!
//! ```text
//! bytes ─► size ≤ MAX_MESSAGE_LEN ─► decode MLSMessage ─► group id ─► epoch
//!       ─► openmls: decrypt, verify signature / membership / confirmation tags
//!       ─► application: plaintext and sender
//!          proposal:    allowed by the policy? ─► stored until a commit takes it
//!          commit:      credentials of new leaves verified ─► policy ─► merged
//! ```
//!
//! Handshake messages must be for the current epoch exactly: the log orders commits and the
//! first one for an epoch wins, so a commit for a past epoch lost (and is refused as
//! [`EpochSide::Past`]), and one for a future epoch means a commit was missed. Application
//! messages may be up to [`super::MAX_PAST_EPOCHS`] epochs old. Any refusal leaves the group
//! as it was.

use openmls::prelude::{tls_codec::Deserialize as _, *};
use sha2::{Digest, Sha256};

use super::{EpochSide, Group, Member, ProcessError, roles_of};
use crate::{
    Provider,
    credential::{CredentialVerifier, Identity},
    policy::{self, CommitSummary, LogRelay, PolicyError},
    storage::Backing,
};

/// What processing a message did.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Processed {
    /// An application message.
    Application {
        /// Its sender.
        sender: Member,
        /// The plaintext.
        plaintext: Vec<u8>,
    },
    /// A proposal (a member's leave), stored until a commit includes it.
    Proposal {
        /// Its sender.
        sender: Member,
    },
    /// Another member's commit, merged: the group is in a new epoch.
    Commit {
        /// Who committed.
        committer: Member,
        /// What changed.
        changes: Vec<Change>,
        /// Whether this member had a commit pending for the same epoch, which lost.
        own_commit_lost: bool,
    },
    /// This member's own commit, read back from the log: it won its epoch and is merged.
    OwnCommit {
        /// What changed, as the other members see it (`Commit::changes`).
        changes: Vec<Change>,
    },
}

/// One membership or roles change made by a commit.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Change {
    /// A member joined.
    Added(Member),
    /// A member was removed or left.
    Removed(Member),
    /// A member updated its leaf.
    Updated(Member),
    /// The group was renamed.
    Renamed(String),
    /// An identity became an admin.
    Promoted(Identity),
    /// An identity stopped being an admin.
    Demoted(Identity),
    /// An admin moved the group's log to these relays (and a new id there, [`Group::log`]),
    /// from this epoch on.
    LogMoved(Vec<LogRelay>),
}

/// Where a message reached this member from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Source {
    /// The group's log, in its order.
    Log,
    /// An admin's failover, outside the log ([`Group::process_failover`]).
    Failover,
}

/// Refuses a failover commit that does more than an admin's move of the log.
fn failover_only(
    roles: &policy::Roles,
    committer: &Member,
    summary: &CommitSummary,
) -> Result<(), ProcessError> {
    if !committer.admin {
        return Err(ProcessError::NotFailover("not an admin's commit"));
    }
    // Members may only go, and only those who asked to (their leaves were waiting); the
    // admins then change only as their leaving forces, which the policy checked.
    let leaves_only = summary.removes.iter().all(|(leaf, by)| leaf == by);
    if !summary.adds.is_empty() || !leaves_only || summary.other_proposals {
        return Err(ProcessError::NotFailover("it changes the members"));
    }
    match &summary.new_roles {
        Some(new)
            if new.log != roles.log
                && new.name == roles.name
                && (new.admins == roles.admins || !summary.removes.is_empty())
                && new.order == roles.order =>
        {
            Ok(())
        }
        Some(_) => Err(ProcessError::NotFailover("it changes more than the log")),
        None => Err(ProcessError::NotFailover("it does not move the log")),
    }
}

fn forged(e: impl std::fmt::Debug) -> ProcessError {
    ProcessError::Forged(format!("{e:?}"))
}

/// Sorts openmls's refusals into the typed ones.
fn classify(error: ProcessMessageError<crate::StorageError>) -> ProcessError {
    use ProcessMessageError as P;
    use ValidationError as V;
    match error {
        P::StorageError(e) => ProcessError::Storage(e),
        P::ValidationError(e) => match e {
            V::UnknownMember | V::NonMemberApplicationMessage | V::UnauthorizedExternalSender => {
                ProcessError::NonMember
            }
            V::InvalidSignature
            | V::InvalidMembershipTag
            | V::MissingMembershipTag
            | V::MissingConfirmationTag
            | V::UnableToDecrypt(_)
            | V::InvalidLeafNodeSignature => forged(e),
            e => ProcessError::Invalid(format!("{e:?}")),
        },
        P::InvalidCommit(e) => match e {
            StageCommitError::ConfirmationTagMismatch
            | StageCommitError::ConfirmationTagMissing
            | StageCommitError::PathLeafNodeVerificationFailure
            | StageCommitError::UpdatePathError(_)
            | StageCommitError::VerifiedUpdatePathError(_) => forged(e),
            e => ProcessError::Invalid(format!("{e:?}")),
        },
        P::IncompatibleWireFormat => ProcessError::Malformed,
        P::UnauthorizedExternalApplicationMessage | P::UnauthorizedExternalCommitMessage => {
            ProcessError::NonMember
        }
        e => ProcessError::Invalid(format!("{e:?}")),
    }
}

impl Group {
    /// Processes one message from the group's log (see the module documentation).
    pub fn process<B: Backing>(
        &mut self,
        provider: &Provider<'_, B>,
        verifier: &dyn CredentialVerifier,
        bytes: &[u8],
    ) -> Result<Processed, ProcessError> {
        self.process_as(provider, verifier, bytes, Source::Log)
    }

    /// Processes a commit that reached this member outside the log: an admin's failover,
    /// which moves the log away from sequencers nobody can reach (the node's
    /// `docs/protocol/groups.md` §9.9). It is taken only if it is a commit for this epoch,
    /// by an admin, that moves the log (a new log id) and changes nothing else: no member
    /// added, none removed but those whose leaves were waiting (a move takes them with it),
    /// the name and order as they were, and the admins too but as those leaves force.
    /// Anything else is refused
    /// with [`ProcessError::NotFailover`] (or the refusal any message would get) and leaves
    /// the group as it was. This member's own pending commit is merged as from the log.
    pub fn process_failover<B: Backing>(
        &mut self,
        provider: &Provider<'_, B>,
        verifier: &dyn CredentialVerifier,
        bytes: &[u8],
    ) -> Result<Processed, ProcessError> {
        self.process_as(provider, verifier, bytes, Source::Failover)
    }

    fn process_as<B: Backing>(
        &mut self,
        provider: &Provider<'_, B>,
        verifier: &dyn CredentialVerifier,
        bytes: &[u8],
        source: Source,
    ) -> Result<Processed, ProcessError> {
        if bytes.len() > super::MAX_MESSAGE_LEN {
            return Err(ProcessError::TooLarge(bytes.len()));
        }
        let digest: [u8; 32] = Sha256::digest(bytes).into();
        if self.own_commit == Some(digest) {
            let changes = self
                .merge_own_commit(provider, verifier)
                .map_err(|e| ProcessError::Invalid(e.to_string()))?;
            return Ok(Processed::OwnCommit { changes });
        }
        let message =
            MlsMessageIn::tls_deserialize_exact(bytes).map_err(|_| ProcessError::Malformed)?;
        let message = message
            .try_into_protocol_message()
            .map_err(|_| ProcessError::Malformed)?;
        if message.group_id() != self.mls.group_id() {
            return Err(ProcessError::WrongGroup);
        }
        if source == Source::Failover && message.content_type() != ContentType::Commit {
            return Err(ProcessError::NotFailover("not a commit"));
        }
        let (epoch, current) = (message.epoch().as_u64(), self.epoch());
        let side = if epoch > current {
            Some(EpochSide::Future)
        } else if epoch < current
            && (message.is_handshake_message() || current - epoch > super::MAX_PAST_EPOCHS as u64)
        {
            Some(EpochSide::Past)
        } else {
            None
        };
        if let Some(side) = side {
            return Err(ProcessError::WrongEpoch {
                side,
                message: epoch,
                current,
            });
        }
        let past_application = epoch < current;
        let result = self.process_verified(provider, verifier, message, source);
        if result.is_err() {
            self.restore(provider, verifier);
        }
        match result {
            // An application message from a past epoch this member holds no keys for (it
            // joined later, or the epoch's secrets are gone): too old, not forged.
            Err(ProcessError::Forged(reason))
                if past_application && reason.starts_with("UnableToDecrypt(SecretTreeError(") =>
            {
                Err(ProcessError::WrongEpoch {
                    side: EpochSide::Past,
                    message: epoch,
                    current,
                })
            }
            other => other,
        }
    }

    /// The sender as it was in the message's epoch: its leaf and the credential openmls
    /// authenticated (for a message from a past epoch the leaf may since have been emptied
    /// or reused).
    fn sender(
        &self,
        verifier: &dyn CredentialVerifier,
        sender: &Sender,
        credential: &Credential,
    ) -> Result<Member, ProcessError> {
        let Sender::Member(leaf) = sender else {
            return Err(ProcessError::NonMember);
        };
        let credential = credential.serialized_content().to_vec();
        let identity = verifier.identity(&credential)?;
        Ok(Member {
            leaf: leaf.u32(),
            admin: self.roles.admins.contains(&identity),
            identity,
            credential,
        })
    }

    fn process_verified<B: Backing>(
        &mut self,
        provider: &Provider<'_, B>,
        verifier: &dyn CredentialVerifier,
        message: ProtocolMessage,
        source: Source,
    ) -> Result<Processed, ProcessError> {
        let processed = self
            .mls
            .process_message(provider, message)
            .map_err(classify)?;
        let sender = self.sender(verifier, processed.sender(), processed.credential())?;
        match processed.into_content() {
            ProcessedMessageContent::ApplicationMessage(message) => Ok(Processed::Application {
                sender,
                plaintext: message.into_bytes(),
            }),
            ProcessedMessageContent::ProposalMessage(proposal) => {
                // Only leaving is proposed on its own in Tern: any other proposal is refused
                // here rather than left for a commit to trip over.
                match proposal.proposal() {
                    Proposal::Remove(remove) if remove.removed().u32() == sender.leaf => {}
                    _ => return Err(PolicyError::ProposalNotAllowed.into()),
                }
                self.mls
                    .store_pending_proposal(provider.storage(), *proposal)?;
                Ok(Processed::Proposal { sender })
            }
            ProcessedMessageContent::StagedCommitMessage(staged) => {
                self.apply_commit(provider, verifier, (sender, source), *staged)
            }
            _ => Err(ProcessError::Invalid("unexpected message content".into())),
        }
    }

    fn apply_commit<B: Backing>(
        &mut self,
        provider: &Provider<'_, B>,
        verifier: &dyn CredentialVerifier,
        (committer, source): (Member, Source),
        staged: StagedCommit,
    ) -> Result<Processed, ProcessError> {
        let mut summary = CommitSummary {
            committer: committer.leaf,
            ..CommitSummary::default()
        };
        let leaf_of = |sender: &Sender| match sender {
            Sender::Member(leaf) => Ok(leaf.u32()),
            _ => Err(ProcessError::NonMember),
        };
        for queued in staged.queued_proposals() {
            let proposer = leaf_of(queued.sender())?;
            match queued.proposal() {
                Proposal::Add(add) => {
                    let leaf = add.key_package().leaf_node();
                    let identity = crate::credential::verify(
                        verifier,
                        leaf.credential().serialized_content(),
                        leaf.signature_key().as_slice(),
                    )?;
                    summary.adds.push((identity, proposer));
                }
                Proposal::Remove(remove) => {
                    summary.removes.push((remove.removed().u32(), proposer))
                }
                Proposal::Update(update) => {
                    let leaf = update.leaf_node();
                    let identity = crate::credential::verify(
                        verifier,
                        leaf.credential().serialized_content(),
                        leaf.signature_key().as_slice(),
                    )?;
                    summary.updates.push((proposer, identity));
                }
                Proposal::GroupContextExtensions(_) => {}
                _ => summary.other_proposals = true,
            }
        }
        if let Some(leaf) = staged.update_path_leaf_node() {
            let identity = crate::credential::verify(
                verifier,
                leaf.credential().serialized_content(),
                leaf.signature_key().as_slice(),
            )?;
            summary.updates.push((committer.leaf, identity));
        }
        let new_roles = roles_of(staged.group_context().extensions())?;
        if new_roles != self.roles {
            summary.new_roles = Some(new_roles);
        }
        let before = self.members();
        let old_roles = self.roles.clone();
        policy::check(&self.roles, &self.identities(), &summary)?;
        if source == Source::Failover {
            failover_only(&self.roles, &committer, &summary)?;
        }

        let own_commit_lost = self.mls.pending_commit().is_some();
        if own_commit_lost {
            self.own_commit = None;
            self.mls.clear_pending_commit(provider.storage())?;
        }
        self.mls
            .merge_staged_commit(provider, staged)
            .map_err(|e| ProcessError::Invalid(format!("{e:?}")))?;
        self.refresh(verifier)
            .map_err(|e| ProcessError::Invalid(e.to_string()))?;

        let removed: Vec<u32> = summary.removes.iter().map(|(leaf, _)| *leaf).collect();
        let updated: Vec<u32> = summary.updates.iter().map(|(leaf, _)| *leaf).collect();
        let changes = self.changes_since(&before, &old_roles, &removed, &updated);
        Ok(Processed::Commit {
            committer,
            changes,
            own_commit_lost,
        })
    }

    /// What a commit just merged changed, against the members and roles before it: the
    /// leaves it removed, and those it updated (by proposal or by its path).
    pub(super) fn changes_since(
        &self,
        before: &[Member],
        old_roles: &policy::Roles,
        removed: &[u32],
        updated: &[u32],
    ) -> Vec<Change> {
        let mut changes = Vec::new();
        for leaf in removed {
            if let Some(m) = before.iter().find(|m| m.leaf == *leaf) {
                changes.push(Change::Removed(m.clone()));
            }
        }
        for m in &self.members() {
            // A removed leaf may be taken again by an add in the same commit, also by the
            // same identity (a member added back, `Group::readd`).
            let reused = removed.contains(&m.leaf);
            match before.iter().find(|b| b.leaf == m.leaf) {
                None => changes.push(Change::Added(m.clone())),
                Some(b) if b.identity != m.identity || reused => {
                    changes.push(Change::Added(m.clone()));
                }
                Some(_) if updated.contains(&m.leaf) => {
                    changes.push(Change::Updated(m.clone()));
                }
                Some(_) => {}
            }
        }
        if self.roles.name != old_roles.name {
            changes.push(Change::Renamed(self.roles.name.clone()));
        }
        for id in self.roles.admins.difference(&old_roles.admins) {
            changes.push(Change::Promoted(id.clone()));
        }
        for id in old_roles.admins.difference(&self.roles.admins) {
            changes.push(Change::Demoted(id.clone()));
        }
        if self.roles.relays != old_roles.relays || self.roles.log != old_roles.log {
            changes.push(Change::LogMoved(self.roles.relays.clone()));
        }
        changes
    }
}
