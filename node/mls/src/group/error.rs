//! The group operations' errors.

use crate::{credential::CredentialError, policy::PolicyError, storage::StorageError};

/// Which side of the group's epoch a message was for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EpochSide {
    /// An epoch the group has left (a commit that lost the race, or a message too old to
    /// decrypt).
    Past,
    /// An epoch the group has not reached (a commit this member has not applied yet).
    Future,
}

/// Why an incoming message was refused. Nothing changed: the group is in the state it was
/// before the call, and the storage batch is empty.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ProcessError {
    /// Over [`crate::MAX_MESSAGE_LEN`].
    #[error("message too large ({0} bytes)")]
    TooLarge(usize),
    /// Not an MLS message, or not one a group member processes.
    #[error("malformed message")]
    Malformed,
    /// For another group.
    #[error("message for another group")]
    WrongGroup,
    /// For another epoch.
    #[error("message for epoch {message} while the group is in epoch {current}")]
    WrongEpoch {
        /// Past or future.
        side: EpochSide,
        /// The message's epoch.
        message: u64,
        /// The group's epoch.
        current: u64,
    },
    /// The sender is not a member of the group.
    #[error("sender is not a member")]
    NonMember,
    /// The message failed authentication: decryption, signature, membership tag or
    /// confirmation tag. A forged or corrupted message, or a replay of one already processed.
    #[error("message failed authentication: {0}")]
    Forged(String),
    /// A commit or proposal the group's policy refuses.
    #[error("refused by the group's policy: {0}")]
    Policy(#[from] PolicyError),
    /// A credential entering the tree was refused by the node's verifier.
    #[error(transparent)]
    Credential(#[from] CredentialError),
    /// Any other refusal by the MLS protocol rules (duplicate keys, invalid proposals, …).
    #[error("refused by MLS: {0}")]
    Invalid(String),
    /// A commit that reached this member outside the log ([`super::Group::process_failover`])
    /// and is not an admin's move of the log that changes nothing else.
    #[error("not a failover of the log: {0}")]
    NotFailover(&'static str),
    /// The storage failed.
    #[error(transparent)]
    Storage(#[from] StorageError),
}

/// Why a group operation (create, join, commit, send) failed. Nothing changed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum GroupError {
    /// The group's policy does not allow it (e.g. a member who is not an admin adding).
    #[error(transparent)]
    Policy(#[from] PolicyError),
    /// A key package or credential was refused.
    #[error(transparent)]
    Credential(#[from] CredentialError),
    /// A key package, Welcome or member argument was invalid.
    #[error("invalid input: {0}")]
    Invalid(String),
    /// The group is not active (this member was removed) or has a commit pending.
    #[error("group state does not allow this: {0}")]
    State(String),
    /// The group does not exist in storage.
    #[error("no such group")]
    NotFound,
    /// Proposals (a member's leave) wait for a commit; until one is made no member of this
    /// epoch sends messages ([`Group::proposals_pending`](crate::Group::proposals_pending)).
    #[error("a member's leave waits for a commit")]
    ProposalsPending,
    /// The storage failed.
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// The MLS library refused for another reason.
    #[error("mls: {0}")]
    Mls(String),
}

/// An openmls error, as text for [`GroupError::Mls`] (openmls's errors carry no secrets).
pub(crate) fn mls<E: std::fmt::Debug>(error: E) -> GroupError {
    GroupError::Mls(format!("{error:?}"))
}
