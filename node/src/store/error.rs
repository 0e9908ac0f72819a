//! Why a store operation failed.

use thiserror::Error;

/// Why a store operation failed.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub(crate) enum StoreError {
    /// `create` found a database that already holds a key file.
    #[error("the data directory already holds a database")]
    AlreadyInitialized,
    /// `open` found no database, or one that was never finished (it holds no key file).
    #[error("the data directory holds no database (run init first)")]
    NotInitialized,
    /// The passphrase does not unwrap the master key. The cause is a wrong passphrase or an
    /// altered key file; the two cannot be told apart.
    #[error("wrong passphrase (or the key file was altered)")]
    WrongPassphrase,
    /// Argon2id could not derive the key from the passphrase (not enough memory for the
    /// parameters, most likely). Says nothing about whether the passphrase is right.
    #[error("key derivation failed: {0}")]
    Kdf(String),
    /// Another process (or another `Store` in this one) has the database open.
    #[error("the database is in use by another process")]
    Locked,
    /// The database was written by a newer build, whose format this build cannot read.
    #[error(
        "the database has schema version {found}, newer than the {supported} this build supports"
    )]
    NewerSchema {
        /// The version found in the database.
        found: u32,
        /// The newest version this build reads and writes.
        supported: u32,
    },
    /// A value could not be sealed (a table name too long for the associated data: a bug,
    /// refused rather than stored with a truncated name).
    #[error("cannot seal a value for table {table}: {reason}")]
    Seal {
        /// The table the value was for.
        table: &'static str,
        /// Why it could not be sealed.
        reason: String,
    },
    /// A stored row key or value, or the key file or schema version, is not what this build
    /// wrote: the files were damaged or altered, or a value was moved to another row.
    #[error("corrupt data in table {table}: {reason}")]
    Corrupt {
        /// The table the data was read from.
        table: &'static str,
        /// What was wrong with it.
        reason: String,
    },
    /// A value could not be encoded. Only a value type whose `Serialize` fails can cause it.
    #[error("cannot encode a value for table {table}: {reason}")]
    Encode {
        /// The table the value was to be written to.
        table: &'static str,
        /// What postcard reported.
        reason: String,
    },
    /// An earlier write failed, so the store refuses every further write: after a failed
    /// write nothing the node acknowledges could be trusted to be on disk. Restart the node.
    #[error("an earlier write failed; the store accepts no more writes until restarted")]
    Poisoned,
    /// Any other error from the database or the file system.
    #[error("database i/o error: {0}")]
    Io(String),
}

impl From<rocksdb::Error> for StoreError {
    fn from(e: rocksdb::Error) -> Self {
        // RocksDB reports a held LOCK file as an I/O error; these are the two messages its
        // POSIX file system gives: another process holds the lock, or this process does.
        let message = e.into_string();
        if message.contains("While lock file") || message.contains("lock hold by current process") {
            StoreError::Locked
        } else {
            StoreError::Io(message)
        }
    }
}

impl From<std::io::Error> for StoreError {
    fn from(e: std::io::Error) -> Self {
        StoreError::Io(e.to_string())
    }
}
