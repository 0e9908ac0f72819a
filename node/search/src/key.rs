//! Document keys, the order of results, and the cursor that continues a page.
//!
//! The node names each message by a [`DocKey`]: the conversation it belongs to, its stamp
//! (the hybrid-logical-clock time that orders history) and its message id. Results come
//! newest first: by stamp, then conversation, then id, all descending. Within one
//! conversation that is exactly the order of the history table, `(stamp, id)`, read
//! backwards, so a search page and a history page agree.
//!
//! A page ends with a [`Cursor`]: the key of its last (oldest) hit. The next page holds the
//! hits strictly older than it, which stays right when messages are added or deleted in
//! between, as history's `before` cursor does. Its text form is the 40 bytes
//! `stamp (8, big-endian) ‖ conversation (16) ‖ id (16)` in lower-case hex, which sorts as the
//! keys do.

use std::{fmt, str::FromStr};

/// The key under which the node indexes a message. The index keeps nothing else about it.
///
/// ```
/// let key = tern_search::DocKey::new([1; 16], 0x18c_3f2a_0000_0001, [2; 16]);
/// assert_eq!(key.stamp, 0x18c_3f2a_0000_0001);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct DocKey {
    /// The conversation's key: what [`crate::Index::remove_conversation`] and the
    /// conversation filter of a search compare.
    pub conversation: [u8; 16],
    /// Orders results: larger is newer. The node passes the message's history stamp.
    pub stamp: u64,
    /// Tells apart messages with the same stamp: the message id.
    pub id: [u8; 16],
}

impl DocKey {
    /// A key from its parts.
    pub fn new(conversation: [u8; 16], stamp: u64, id: [u8; 16]) -> DocKey {
        DocKey {
            conversation,
            stamp,
            id,
        }
    }

    /// The 40 bytes `stamp (big-endian) ‖ conversation ‖ id`, whose byte order is the
    /// order of keys.
    pub fn to_bytes(&self) -> [u8; 40] {
        let mut out = [0u8; 40];
        out[..8].copy_from_slice(&self.stamp.to_be_bytes());
        out[8..24].copy_from_slice(&self.conversation);
        out[24..].copy_from_slice(&self.id);
        out
    }

    /// The key of [`DocKey::to_bytes`]'s output.
    pub fn from_bytes(bytes: &[u8; 40]) -> DocKey {
        let mut stamp = [0u8; 8];
        let mut conversation = [0u8; 16];
        let mut id = [0u8; 16];
        stamp.copy_from_slice(&bytes[..8]);
        conversation.copy_from_slice(&bytes[8..24]);
        id.copy_from_slice(&bytes[24..]);
        DocKey::new(conversation, u64::from_be_bytes(stamp), id)
    }
}

impl Ord for DocKey {
    /// Stamp, then conversation, then id: a search result later in this order is newer.
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (self.stamp, self.conversation, self.id).cmp(&(other.stamp, other.conversation, other.id))
    }
}

impl PartialOrd for DocKey {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

/// Where a page of results ended: pass it to [`crate::Index::search`] for the next, older
/// page. Its text form round-trips through [`FromStr`].
///
/// ```
/// let cursor = tern_search::Cursor::after(tern_search::DocKey::new([1; 16], 7, [2; 16]));
/// assert_eq!(cursor.to_string().parse::<tern_search::Cursor>().unwrap(), cursor);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Cursor(pub(crate) DocKey);

impl Cursor {
    /// The cursor continuing after `key`: the next page holds the hits older than it.
    pub fn after(key: DocKey) -> Cursor {
        Cursor(key)
    }

    /// The last key of the page this cursor ends.
    pub fn key(&self) -> DocKey {
        self.0
    }
}

impl fmt::Display for Cursor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for byte in self.0.to_bytes() {
            write!(f, "{byte:02x}")?;
        }
        Ok(())
    }
}

/// Text that is not a cursor: not 80 hex digits.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("bad search cursor {0:?}")]
pub struct ParseCursorError(String);

impl FromStr for Cursor {
    type Err = ParseCursorError;

    fn from_str(s: &str) -> Result<Cursor, ParseCursorError> {
        let invalid = || ParseCursorError(s.chars().take(96).collect());
        // Checked here because `from_str_radix` would also take a sign.
        if s.len() != 80 || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(invalid());
        }
        let mut bytes = [0u8; 40];
        for (byte, pair) in bytes.iter_mut().zip(s.as_bytes().chunks_exact(2)) {
            let pair = std::str::from_utf8(pair).map_err(|_| invalid())?;
            *byte = u8::from_str_radix(pair, 16).map_err(|_| invalid())?;
        }
        Ok(Cursor(DocKey::from_bytes(&bytes)))
    }
}

/// One page of search results, newest first.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Page {
    /// The messages found, newest first.
    pub hits: Vec<DocKey>,
    /// Pass to [`crate::Index::search`] for the next (older) page; `None` on the last page.
    pub next: Option<Cursor>,
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn key() -> impl Strategy<Value = DocKey> {
        (any::<[u8; 16]>(), any::<u64>(), any::<[u8; 16]>())
            .prop_map(|(c, s, i)| DocKey::new(c, s, i))
    }

    proptest! {
        #[test]
        fn byte_order_is_key_order(a in key(), b in key()) {
            prop_assert_eq!(a.cmp(&b), a.to_bytes().cmp(&b.to_bytes()));
            prop_assert_eq!(DocKey::from_bytes(&a.to_bytes()), a);
        }

        #[test]
        fn cursors_round_trip(a in key()) {
            let cursor = Cursor::after(a);
            prop_assert_eq!(cursor.to_string().parse::<Cursor>().unwrap(), cursor);
        }

        #[test]
        fn garbage_cursors_are_refused_not_panicked_on(text in ".{0,90}") {
            let _ = text.parse::<Cursor>();
        }
    }

    #[test]
    fn malformed_cursors_are_refused() {
        let good = "00".repeat(40);
        assert!(good.parse::<Cursor>().is_ok());
        for bad in [
            String::new(),
            "0".repeat(79),
            "0".repeat(81),
            format!("{}zz", "0".repeat(78)),
            format!("{}+1", "0".repeat(78)),
            format!("{}é", "0".repeat(78)),
        ] {
            assert!(bad.parse::<Cursor>().is_err(), "{bad:?}");
        }
    }
}
