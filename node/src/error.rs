//! What can go wrong with each operation of a [`crate::Node`]: one error type per kind of
//! operation, each saying only what that operation can fail with, with the underlying cause
//! as its `source()`.

use std::sync::Arc;

use tern_crypto::UserId;

use crate::{id::MessageId, store::StoreError};

/// The node's database failed. The node then stops accepting changes (nothing it
/// acknowledged is lost); restart it.
#[derive(Debug, Clone, thiserror::Error)]
#[error("the database failed: {what}")]
pub struct StorageError {
    what: String,
    #[source]
    source: Option<Arc<StoreError>>,
}

impl StorageError {
    pub(crate) fn other(what: impl Into<String>) -> Self {
        Self {
            what: what.into(),
            source: None,
        }
    }
}

impl From<StoreError> for StorageError {
    fn from(e: StoreError) -> Self {
        Self {
            what: e.to_string(),
            source: Some(Arc::new(e)),
        }
    }
}

/// Why [`crate::Node::send`] failed. Nothing was queued.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum SendError {
    /// The text is empty.
    #[error("the message is empty")]
    Empty,
    /// The text is longer than [`crate::MAX_TEXT_LEN`].
    #[error("the message is {len} bytes; at most {max} fit")]
    TooLong {
        /// Its length in bytes.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// The message could not be encrypted for the recipient (its published keys are
    /// unusable).
    #[error("the message could not be encrypted: {0}")]
    Encryption(String),
    /// The disk holding the database is nearly full (below the reserve set with
    /// [`crate::Builder::with_min_free_disk`]): free space, for example by deleting a
    /// conversation, and send again.
    #[error("the disk is full: free some space (delete a conversation, say) and send again")]
    StorageFull,
    /// The recipient is blocked: unblock them ([`crate::Node::unblock`]) to write to them.
    #[error("{} is blocked", .0.short())]
    Blocked(UserId),
    /// The message replied to is not in this conversation.
    #[error("no message {} in this conversation", .0.short())]
    NoMessage(MessageId),
    /// A disappearing-message timer is off or one of [`crate::DISAPPEAR_CHOICES`].
    #[error("a disappearing-message timer is off, 5 minutes, 1 hour, 1 day or 1 week, not {0} s")]
    BadTimer(u32),
    /// A profile's name is 1 to [`crate::MAX_NAME_LEN`] bytes and its status at most
    /// [`crate::MAX_STATUS_LEN`], without control characters.
    #[error(
        "a profile name is 1 to 128 bytes and a status at most 512, without control characters"
    )]
    BadProfile,
    /// The database failed.
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// The node has stopped.
    #[error("the node has stopped")]
    Stopped,
    /// The message was for a group, and the group refused it (we are not in it, it has no
    /// such id, or it is busy with a change).
    #[error(transparent)]
    Group(crate::GroupError),
}

/// Why an edit, a delete or a reaction ([`crate::Node::edit`], [`crate::Node::delete`],
/// [`crate::Node::react`]) failed. Nothing changed and nothing was sent.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum ChangeError {
    /// The message is not in this conversation.
    #[error("no message {} in this conversation", .0.short())]
    NoMessage(MessageId),
    /// Only a message's author may edit it or delete it for everyone.
    #[error("only its author can edit or delete a message for everyone")]
    NotAuthor,
    /// Edits and deletes for everyone are made within [`crate::EDIT_WINDOW`] of sending.
    #[error("a message can be edited or deleted for everyone only within 24 hours of sending")]
    WindowClosed,
    /// The message was deleted; it can no longer be edited or reacted to.
    #[error("the message was deleted")]
    Deleted,
    /// The message is of a kind that cannot be edited (not a text).
    #[error("only texts can be edited")]
    NotText,
    /// A reaction is one emoji.
    #[error("a reaction is one emoji")]
    NotAnEmoji,
    /// The new text is empty.
    #[error("the message is empty")]
    Empty,
    /// The new text is longer than [`crate::MAX_TEXT_LEN`].
    #[error("the message is {len} bytes; at most {max} fit")]
    TooLong {
        /// Its length in bytes.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// The peer is blocked.
    #[error("{} is blocked", .0.short())]
    Blocked(UserId),
    /// The disk holding the database is nearly full.
    #[error("the disk is full: free some space and try again")]
    StorageFull,
    /// The database failed.
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// The node has stopped.
    #[error("the node has stopped")]
    Stopped,
    /// The message was for a group, and the group refused it (we are not in it, it has no
    /// such id, or it is busy with a change).
    #[error(transparent)]
    Group(crate::GroupError),
}

/// Why a change to a conversation (accepting a request, deleting a chat, blocking) failed.
/// Nothing changed.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum ChatError {
    /// There is no message request from this account.
    #[error("no message request from {}", .0.short())]
    NoRequest(UserId),
    /// There is no conversation (chat or request) with this account.
    #[error("no conversation with {}", .0.short())]
    NoChat(UserId),
    /// The database failed.
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// The node has stopped.
    #[error("the node has stopped")]
    Stopped,
}

/// Why a change to the contact list failed. Nothing changed.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum ContactError {
    /// A contact's name must be 1 to 64 bytes after trimming.
    #[error("a contact name is 1 to 64 bytes")]
    InvalidName,
    /// No contact with this address.
    #[error("unknown contact {}", .0.short())]
    Unknown(UserId),
    /// Another contact already has this name.
    #[error("a contact named {0:?} already exists")]
    DuplicateName(String),
    /// The database failed.
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// The node has stopped.
    #[error("the node has stopped")]
    Stopped,
}

/// Why a query (history, chats, contacts, status, read marks) failed.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum QueryError {
    /// The database failed.
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// The node has stopped.
    #[error("the node has stopped")]
    Stopped,
}

/// Why [`crate::Node::search`] failed.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum SearchError {
    /// The `after` cursor is not one a search page gave.
    #[error("bad search cursor {0:?}")]
    BadCursor(String),
    /// The search was limited to a group this node has never been in.
    #[error("no such group: {0}")]
    NoSuchGroup(crate::GroupId),
    /// The database failed.
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// The node has stopped.
    #[error("the node has stopped")]
    Stopped,
}

impl From<Error> for SearchError {
    fn from(e: Error) -> Self {
        match e {
            Error::Storage(e) => Self::Storage(e),
            Error::Group(crate::GroupError::NoSuchGroup(id)) => Self::NoSuchGroup(id),
            Error::Stopped => Self::Stopped,
            other => Self::Storage(unexpected(&other)),
        }
    }
}

/// Why [`crate::Node::change_passphrase`] failed. The old passphrase still unlocks the node.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum PassphraseError {
    /// The passphrase given as the current one is wrong.
    #[error("wrong passphrase")]
    Wrong,
    /// The database failed.
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// The node has stopped.
    #[error("the node has stopped")]
    Stopped,
}

/// Why sending, fetching or saving a file ([`crate::Node::send_attachment`],
/// [`crate::Node::fetch_attachment`], [`crate::Node::save_attachment`]) failed. Nothing was
/// sent, and no partial file was handed out.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum AttachmentError {
    /// The file to send could not be read, or the one to save could not be written.
    #[error("{0}")]
    File(String),
    /// The file is larger than its kind allows (16 MB for media, 100 MB for documents).
    #[error("the file is {len} bytes; at most {max} fit")]
    TooLarge {
        /// Its length in bytes.
        len: u64,
        /// The limit.
        max: u64,
    },
    /// The message carrying the file could not be sent.
    #[error(transparent)]
    Send(#[from] SendError),
    /// No message with a file by that id in this conversation.
    #[error("no file in message {} of this conversation", .0.short())]
    NoAttachment(MessageId),
    /// The file, or the part asked for, is not on this device yet: fetch it first (it may
    /// be on its way).
    #[error("the file has not arrived yet")]
    NotReady,
    /// The preview to send with the file is too large or malformed (a thumbnail over
    /// 16 KiB, a blurhash over 200 characters, a waveform over 256 samples).
    #[error("bad preview: {0}")]
    BadPreview(String),
    /// A range that starts at or past the end of the file.
    #[error("byte {start} lies past the end of a {len}-byte file")]
    BadRange {
        /// Where the range started.
        start: u64,
        /// The file's length.
        len: u64,
    },
    /// The file was for a group, and the group refused it (we are not in it, or it has no
    /// such id).
    #[error(transparent)]
    Group(#[from] crate::GroupError),
    /// The database failed.
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// The node has stopped.
    #[error("the node has stopped")]
    Stopped,
}

impl From<Error> for AttachmentError {
    fn from(e: Error) -> Self {
        match e {
            Error::NoMessage(id) | Error::NoAttachment(id) => Self::NoAttachment(id),
            Error::Group(e) => Self::Group(e),
            Error::Storage(e) => Self::Storage(e),
            Error::Stopped => Self::Stopped,
            other => Self::Send(other.into()),
        }
    }
}

/// What went wrong inside the core task, before it is told to the caller as the error of the
/// operation that asked.
#[derive(Debug, Clone, thiserror::Error)]
pub(crate) enum Error {
    #[error("the message is empty")]
    Empty,
    #[error("the message is {len} bytes; at most {max} fit")]
    TooLong { len: usize, max: usize },
    #[error("encryption failed: {0}")]
    Encryption(String),
    #[error("a contact name is 1 to 64 bytes")]
    InvalidName,
    #[error("unknown contact")]
    UnknownContact(UserId),
    #[error("a contact named {0:?} already exists")]
    DuplicateName(String),
    #[error("wrong passphrase")]
    WrongPassphrase,
    #[error("the peer is blocked")]
    Blocked(UserId),
    #[error("the disk is full")]
    StorageFull,
    #[error("no message request")]
    NoRequest(UserId),
    #[error("no conversation")]
    NoChat(UserId),
    #[error("no such message")]
    NoMessage(MessageId),
    #[error("not the author")]
    NotAuthor,
    #[error("the edit window has closed")]
    WindowClosed,
    #[error("the message was deleted")]
    Deleted,
    #[error("not a text")]
    NotText,
    #[error("not an emoji")]
    NotAnEmoji,
    #[error("bad timer")]
    BadTimer(u32),
    #[error("bad profile")]
    BadProfile,
    #[error("no attachment")]
    NoAttachment(MessageId),
    #[error(transparent)]
    Storage(#[from] StorageError),
    #[error("the node has stopped")]
    Stopped,
    #[error(transparent)]
    Group(crate::group::GroupError),
}

impl From<StoreError> for Error {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::WrongPassphrase => Self::WrongPassphrase,
            other => Self::Storage(other.into()),
        }
    }
}

/// An internal error that an operation cannot produce, reported as a storage failure with
/// what it was (it would be a bug).
fn unexpected(e: &Error) -> StorageError {
    StorageError::other(format!("unexpected: {e}"))
}

impl From<Error> for SendError {
    fn from(e: Error) -> Self {
        match e {
            Error::Empty => Self::Empty,
            Error::TooLong { len, max } => Self::TooLong { len, max },
            Error::Encryption(why) => Self::Encryption(why),
            Error::Blocked(user) => Self::Blocked(user),
            Error::StorageFull => Self::StorageFull,
            Error::NoMessage(id) => Self::NoMessage(id),
            Error::BadTimer(secs) => Self::BadTimer(secs),
            Error::BadProfile => Self::BadProfile,
            Error::Storage(e) => Self::Storage(e),
            Error::Stopped => Self::Stopped,
            Error::Group(e) => Self::Group(e),
            other => Self::Storage(unexpected(&other)),
        }
    }
}

impl From<Error> for ChangeError {
    fn from(e: Error) -> Self {
        match e {
            Error::NoMessage(id) => Self::NoMessage(id),
            Error::NotAuthor => Self::NotAuthor,
            Error::WindowClosed => Self::WindowClosed,
            Error::Deleted => Self::Deleted,
            Error::NotText => Self::NotText,
            Error::NotAnEmoji => Self::NotAnEmoji,
            Error::Empty => Self::Empty,
            Error::TooLong { len, max } => Self::TooLong { len, max },
            Error::Blocked(user) => Self::Blocked(user),
            Error::StorageFull => Self::StorageFull,
            Error::Storage(e) => Self::Storage(e),
            Error::Stopped => Self::Stopped,
            Error::Group(e) => Self::Group(e),
            other => Self::Storage(unexpected(&other)),
        }
    }
}

impl From<Error> for ContactError {
    fn from(e: Error) -> Self {
        match e {
            Error::InvalidName => Self::InvalidName,
            Error::UnknownContact(user) => Self::Unknown(user),
            Error::DuplicateName(name) => Self::DuplicateName(name),
            Error::Storage(e) => Self::Storage(e),
            Error::Stopped => Self::Stopped,
            other => Self::Storage(unexpected(&other)),
        }
    }
}

impl From<Error> for ChatError {
    fn from(e: Error) -> Self {
        match e {
            Error::NoRequest(user) => Self::NoRequest(user),
            Error::NoChat(user) => Self::NoChat(user),
            Error::Storage(e) => Self::Storage(e),
            Error::Stopped => Self::Stopped,
            other => Self::Storage(unexpected(&other)),
        }
    }
}

impl From<Error> for QueryError {
    fn from(e: Error) -> Self {
        match e {
            Error::Storage(e) => Self::Storage(e),
            Error::Stopped => Self::Stopped,
            other => Self::Storage(unexpected(&other)),
        }
    }
}

impl From<Error> for PassphraseError {
    fn from(e: Error) -> Self {
        match e {
            Error::WrongPassphrase => Self::Wrong,
            Error::Storage(e) => Self::Storage(e),
            Error::Stopped => Self::Stopped,
            other => Self::Storage(unexpected(&other)),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::error::Error as _;

    use super::*;

    #[test]
    fn storage_failures_keep_their_cause() {
        let error = QueryError::from(Error::from(StoreError::Poisoned));
        let QueryError::Storage(storage) = &error else {
            panic!("{error:?}");
        };
        assert!(
            storage.source().is_some(),
            "the store's error is the source"
        );
        assert!(error.to_string().starts_with("the database failed"));
    }

    #[test]
    fn each_operation_reports_its_own_errors() {
        assert!(matches!(
            SendError::from(Error::TooLong { len: 9, max: 8 }),
            SendError::TooLong { len: 9, max: 8 }
        ));
        assert!(matches!(
            PassphraseError::from(Error::from(StoreError::WrongPassphrase)),
            PassphraseError::Wrong
        ));
        assert!(matches!(
            ContactError::from(Error::DuplicateName("bob".into())),
            ContactError::DuplicateName(_)
        ));
        assert!(matches!(
            QueryError::from(Error::Stopped),
            QueryError::Stopped
        ));
    }
}
