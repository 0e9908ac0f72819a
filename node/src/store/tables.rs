//! The tables of the database: one RocksDB column family each, declared once.
//!
//! A table is a type implementing [`Table`]: its name (the column family), its key type and
//! its value type. The store creates or opens the column family of every name in
//! [`ALL_TABLES`] when it opens the database, and refuses to compile a read or write of a table
//! whose name is not listed there, so that a table cannot be forgotten.
//!
//! To add a table: declare its type next to the code that owns the data, add its name to
//! [`ALL_TABLES`], and document its key encoding and value type in `docs/storage.md`. A new
//! table needs no migration: RocksDB creates missing column families when the database opens.
//! Never rename or reuse a name: the name is bound into every sealed value of the table.

use serde::{Serialize, de::DeserializeOwned};

use super::key::Key;

/// A table: a column family with a fixed key type and value type.
///
/// Values are encoded with postcard and sealed under a key of the table's own, bound to the
/// table name and row key (see `docs/storage.md`); keys are stored as [`Key::encode`] gives
/// them, in the clear, so they must not contain private data (build them with
/// `Store::index_id` instead).
pub(crate) trait Table {
    /// The column family's name. Part of the on-disk format: never change it.
    const NAME: &'static str;
    /// The row key.
    type Key: Key;
    /// The row value.
    type Value: Serialize + DeserializeOwned;
}

/// The store's own table: the schema version and the passphrase-wrapped key file. Its values
/// are not sealed, because they are needed before any key exists; see `docs/storage.md`.
pub(super) const META: &str = "meta";

/// Every column family the store creates and opens, `meta` first. Tables of the node are added
/// here when they are declared.
pub(crate) const ALL_TABLES: &[&str] = &[
    META,
    crate::tables::State::NAME,
    crate::tables::Contacts::NAME,
    crate::tables::Sessions::NAME,
    crate::tables::Messages::NAME,
    crate::tables::MessageIndex::NAME,
    crate::tables::Conversations::NAME,
    crate::tables::Outbox::NAME,
    crate::tables::Seen::NAME,
    crate::tables::Acks::NAME,
    crate::tables::Replays::NAME,
    crate::tables::Events::NAME,
    crate::tables::Requests::NAME,
    crate::tables::Blocked::NAME,
    crate::tables::RelaySightings::NAME,
    crate::tables::MessageMeta::NAME,
    crate::tables::EditHistory::NAME,
    crate::tables::Orphans::NAME,
    crate::tables::EventIndex::NAME,
    crate::tables::ChatSettings::NAME,
    crate::tables::Timers::NAME,
    crate::tables::Notices::NAME,
    crate::tables::Expiries::NAME,
    crate::tables::ExpiryQueue::NAME,
    crate::tables::Profiles::NAME,
    crate::tables::Identities::NAME,
    crate::tables::Attachments::NAME,
    crate::tables::BlobGrants::NAME,
    crate::tables::BlobUploads::NAME,
    crate::tables::DownloadRules::NAME,
    crate::group::tables::MlsRows::NAME,
    crate::group::tables::Groups::NAME,
    crate::group::tables::GroupOutbox::NAME,
    crate::group::tables::GroupOwn::NAME,
    crate::group::tables::HeldKeyPackages::NAME,
    crate::group::tables::PendingAdds::NAME,
    crate::group::tables::GroupRenewed::NAME,
    crate::group::tables::InviteParts::NAME,
    crate::group::tables::GroupUnread::NAME,
    crate::group::tables::GroupReceiptsDue::NAME,
    crate::group::tables::GroupReceipts::NAME,
    crate::tables::GroupUploads::NAME,
    crate::group::tables::GroupRejoins::NAME,
    crate::group::tables::GroupCommits::NAME,
    crate::group::tables::GroupFailovers::NAME,
    crate::group::tables::GroupOutages::NAME,
    crate::group::tables::InviteUploads::NAME,
    crate::group::tables::InviteFetches::NAME,
];

/// Tables that exist only in unit tests, so that the production database carries no column
/// family for them. Part of the v1 fixture's format (it holds rows of all three), so these
/// names must stay.
#[cfg(test)]
pub(super) const TEST_TABLES: &[&str] = &["test/rows", "test/history", "test/names"];
#[cfg(not(test))]
pub(super) const TEST_TABLES: &[&str] = &[];

/// Every table this build opens: [`ALL_TABLES`], and in unit tests [`TEST_TABLES`] too.
pub(super) fn opened_tables() -> impl Iterator<Item = &'static str> {
    ALL_TABLES.iter().chain(TEST_TABLES).copied()
}

/// Whether `name` is a table this build opens, other than `meta` (which only the store itself
/// reads and writes). Evaluated at compile time for every table the store is asked to use.
pub(super) const fn is_declared(name: &str) -> bool {
    !str_eq(name, META) && (contains(ALL_TABLES, name) || contains(TEST_TABLES, name))
}

const fn contains(list: &[&str], name: &str) -> bool {
    let mut i = 0;
    while i < list.len() {
        if str_eq(list[i], name) {
            return true;
        }
        i += 1;
    }
    false
}

/// `a == b`, which `str`'s `PartialEq` cannot do in a `const fn`.
const fn str_eq(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    let mut i = 0;
    while i < a.len() {
        if a[i] != b[i] {
            return false;
        }
        i += 1;
    }
    true
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    #[test]
    fn table_names_are_unique_and_not_reserved() {
        let names: Vec<&str> = opened_tables().collect();
        let unique: HashSet<&str> = names.iter().copied().collect();
        assert_eq!(unique.len(), names.len(), "{names:?}");
        // RocksDB's own column family: the store never uses it, so that every row lives in a
        // table with a declared type.
        assert!(!unique.contains("default"));
        assert_eq!(ALL_TABLES.first(), Some(&META));
        for name in names {
            assert!(!name.is_empty() && name.len() <= 64, "{name}");
            assert_eq!(is_declared(name), name != META, "{name}");
        }
        assert!(!is_declared("test/row"));
        assert!(!is_declared("default"));
    }
}
