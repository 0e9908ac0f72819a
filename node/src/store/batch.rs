//! A set of writes that reach the disk together or not at all.

use super::{StoreError, Table, key::Key};

/// Writes collected for one atomic commit: `Store::commit` turns them into a single RocksDB
/// write batch, written with the write-ahead log synced, so after a crash either every write in
/// it is on disk or none is.
///
/// A batch holds encoded but not yet sealed values; the store seals them with its own keys when
/// it commits, so a batch belongs to no particular store. Dropping a batch writes nothing.
#[derive(Default)]
pub(crate) struct Batch {
    pub(super) ops: Vec<Op>,
}

/// One write of a batch.
pub(super) enum Op {
    /// A row of a table: the value is postcard-encoded and sealed at commit.
    Put {
        table: &'static str,
        key: Vec<u8>,
        value: Vec<u8>,
    },
    Delete {
        table: &'static str,
        key: Vec<u8>,
    },
    /// Every row with `from <= key < to`.
    DeleteRange {
        table: &'static str,
        from: Vec<u8>,
        to: Vec<u8>,
    },
    /// A row of `meta`, stored as it is given.
    PutMeta {
        key: &'static [u8],
        value: Vec<u8>,
    },
}

impl Batch {
    /// An empty batch.
    pub(crate) fn new() -> Self {
        Self::default()
    }

    /// Writes `value` under `key` in table `T`, replacing any value there.
    ///
    /// Fails only if `T::Value`'s `Serialize` implementation fails; the batch is then unchanged.
    pub(crate) fn put<T: Table>(
        &mut self,
        key: &T::Key,
        value: &T::Value,
    ) -> Result<(), StoreError> {
        super::declared::<T>();
        let value = postcard::to_stdvec(value).map_err(|e| StoreError::Encode {
            table: T::NAME,
            reason: e.to_string(),
        })?;
        self.ops.push(Op::Put {
            table: T::NAME,
            key: key.encode(),
            value,
        });
        Ok(())
    }

    /// Deletes the row under `key` in table `T`, if there is one.
    pub(crate) fn delete<T: Table>(&mut self, key: &T::Key) {
        super::declared::<T>();
        self.ops.push(Op::Delete {
            table: T::NAME,
            key: key.encode(),
        });
    }

    /// Deletes every row of table `T` whose key lies in `first..=last`, with one range
    /// tombstone however many rows there are.
    pub(crate) fn delete_range<T: Table>(&mut self, first: &T::Key, last: &T::Key) {
        super::declared::<T>();
        self.ops.push(Op::DeleteRange {
            table: T::NAME,
            from: first.encode(),
            to: last.successor(),
        });
    }

    /// The row this batch leaves under `key` in table `T`, as far as its writes decide it:
    /// `Some(Some(value))` after a put, `Some(None)` after a delete (or a range delete that
    /// covers the key), and `None` when no write of the batch touches the key, so that the
    /// store's row stands. A step that reads, changes and writes back a row staged by an
    /// earlier step of the same write reads it here first, or the earlier step is lost.
    pub(crate) fn staged<T: Table>(
        &self,
        key: &T::Key,
    ) -> Result<Option<Option<T::Value>>, StoreError> {
        let wanted = key.encode();
        for op in self.ops.iter().rev() {
            match op {
                Op::Put { table, key, value } if *table == T::NAME && *key == wanted => {
                    let value = postcard::from_bytes(value).map_err(|e| StoreError::Corrupt {
                        table: T::NAME,
                        reason: e.to_string(),
                    })?;
                    return Ok(Some(Some(value)));
                }
                Op::Delete { table, key } if *table == T::NAME && *key == wanted => {
                    return Ok(Some(None));
                }
                Op::DeleteRange { table, from, to }
                    if *table == T::NAME && *from <= wanted && wanted < *to =>
                {
                    return Ok(Some(None));
                }
                _ => {}
            }
        }
        Ok(None)
    }

    /// Writes a row of `meta`, which only the store itself does.
    pub(super) fn put_meta(&mut self, key: &'static [u8], value: Vec<u8>) {
        self.ops.push(Op::PutMeta { key, value });
    }

    /// The number of writes in the batch.
    pub(crate) fn len(&self) -> usize {
        self.ops.len()
    }

    /// Forgets every write after the first `len`, wiping their values: what a step staged
    /// before it failed must not reach the disk with the steps that succeeded.
    pub(crate) fn truncate(&mut self, len: usize) {
        if len >= self.ops.len() {
            return;
        }
        for op in &mut self.ops[len..] {
            if let Op::Put { value, .. } = op {
                value.fill(0);
                std::hint::black_box(&value);
            }
        }
        self.ops.truncate(len);
    }

    /// Whether the batch holds no write.
    pub(crate) fn is_empty(&self) -> bool {
        self.ops.is_empty()
    }
}

impl Drop for Batch {
    /// Wipes the encoded values, which are plaintext until the store seals them: a batch of
    /// session state must not leave its keys in freed memory. Best effort, as for any plaintext
    /// the node handles: the encoder may have left copies while it grew the buffer.
    fn drop(&mut self) {
        for op in &mut self.ops {
            if let Op::Put { value, .. } = op {
                value.fill(0);
                // Keeps the compiler from discarding the writes as dead before the free.
                std::hint::black_box(&value);
            }
        }
    }
}

impl std::fmt::Debug for Batch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Values are plaintext: show only how many writes there are.
        f.debug_struct("Batch")
            .field("len", &self.ops.len())
            .finish_non_exhaustive()
    }
}
