//! Full-text search over this device's history, with `tern-search`'s in-memory index.
//!
//! The index holds terms and keys, never text, and nothing derived from a message's text is
//! written to disk (`docs/search.md` has the measurements behind this choice). It is built from
//! the history table on a blocking thread when the node starts; changes committed meanwhile are
//! queued and applied once it is ready (inserts and removals are idempotent, so a message the
//! build also read is indexed once), and searches made meanwhile wait for it.
//!
//! Every commit that adds, edits or removes a message's text carries the index operations in
//! its [`Pending`]; they are applied only once the commit is durable, so the index never
//! knows a message the database lost. A deleted or expired message leaves the index in the
//! same step as it leaves history.

use tern_search::{Cursor, DocKey, Index, Query};

use super::*;
use crate::view::SearchPage;

/// Rows read per batch while the index is built: bounds the memory the build holds beyond
/// the index itself.
const BUILD_BATCH: usize = 4096;

/// A change to the index, applied after its commit.
#[derive(Debug, Clone)]
pub(super) enum SearchOp {
    /// Index a message's text (or replace it, after an edit).
    Put(Conv, Stamp, [u8; 16], String),
    /// Forget a message.
    Remove(Conv, Stamp, [u8; 16]),
    /// Forget a whole conversation.
    RemoveConversation(Conv),
}

/// A search waiting for the index.
pub(super) struct Waiting {
    pub(super) query: String,
    pub(super) peer: Option<UserId>,
    pub(super) limit: usize,
    pub(super) after: Option<Cursor>,
    pub(super) reply: oneshot::Sender<Result<SearchPage, Error>>,
}

/// The index, or the build in progress with what waits for it.
#[derive(Default)]
pub(super) enum Search {
    /// Not started yet.
    #[default]
    Idle,
    Building {
        queued: Vec<SearchOp>,
        waiting: Vec<Waiting>,
    },
    /// Boxed: the index is large, and the other states are small.
    Ready(Box<Index>),
}

/// What the build of the index sends back.
pub(super) type Built = oneshot::Receiver<Result<Index, Error>>;

fn apply(index: &mut Index, op: SearchOp) {
    match op {
        SearchOp::Put(conv, stamp, id, text) => {
            if text.is_empty() {
                index.remove(&DocKey::new(conv, stamp, id));
            } else if let Err(e) = index.insert(DocKey::new(conv, stamp, id), &text) {
                warn!("a message could not be indexed for search: {e}");
            }
        }
        SearchOp::Remove(conv, stamp, id) => {
            index.remove(&DocKey::new(conv, stamp, id));
        }
        SearchOp::RemoveConversation(conv) => {
            index.remove_conversation(&conv);
        }
    }
}

impl Core {
    /// Starts building the index from history, off the core task; the core's loop waits for
    /// what it returns.
    pub(super) fn start_search_build(&mut self) -> Built {
        let (tx, done) = oneshot::channel();
        let store = self.store.clone();
        let cancel = self.cancel.clone();
        tokio::task::spawn_blocking(move || {
            let _ = tx.send(build(&store, &cancel));
        });
        self.search = Search::Building {
            queued: Vec::new(),
            waiting: Vec::new(),
        };
        done
    }

    /// The build finished: applies what was queued meanwhile and answers the waiting searches.
    pub(super) async fn on_search_built(
        &mut self,
        built: Result<Result<Index, Error>, oneshot::error::RecvError>,
    ) {
        let Search::Building { queued, waiting } = std::mem::take(&mut self.search) else {
            return;
        };
        let built =
            built.unwrap_or_else(|_| Err(Error::Storage(StorageError::other("the build stopped"))));
        let mut index = match built {
            Ok(index) => index,
            Err(e) => {
                // Searches find nothing until the next start, rather than stop the node.
                error!("cannot build the search index: {e}");
                Index::new()
            }
        };
        for op in queued {
            apply(&mut index, op);
        }
        debug!(messages = index.len(), "search index ready");
        self.search = Search::Ready(Box::new(index));
        for search in waiting {
            let result = self.run_search(&search).await;
            let _ = search.reply.send(result);
        }
    }

    /// Applies the index operations of a durable commit.
    pub(super) fn on_search_ops(&mut self, ops: Vec<SearchOp>) {
        match &mut self.search {
            Search::Ready(index) => {
                for op in ops {
                    apply(index, op);
                }
            }
            Search::Building { queued, .. } => queued.extend(ops),
            Search::Idle => {}
        }
    }

    /// Answers a search now, or once the index is built.
    pub(super) async fn search(&mut self, search: Waiting) {
        match &mut self.search {
            Search::Building { waiting, .. } => waiting.push(search),
            _ => {
                let result = self.run_search(&search).await;
                let _ = search.reply.send(result);
            }
        }
    }

    async fn run_search(&self, search: &Waiting) -> Result<SearchPage, Error> {
        let Search::Ready(index) = &self.search else {
            return Ok(SearchPage::default());
        };
        let conv = search.peer.map(|peer| self.conv(&peer));
        let page = index.search(
            &Query::parse(&search.query),
            conv.as_ref(),
            search.limit,
            search.after.as_ref(),
        );
        let keys: Vec<DocKey> = page.hits;
        let rows = self
            .read(move |s| {
                let mut rows = Vec::with_capacity(keys.len());
                for key in keys {
                    let row_key = (key.conversation, key.stamp, key.id);
                    // A message removed since (a request past its cap) is skipped.
                    if let Some(row) = s.get::<Messages>(&row_key)? {
                        let meta = s.get::<crate::tables::MessageMeta>(&row_key)?;
                        rows.push((row_key, row, meta));
                    }
                }
                Ok(rows)
            })
            .await?;
        Ok(SearchPage {
            messages: rows
                .into_iter()
                .map(|((_, stamp, id), row, meta)| {
                    to_message(MessageId::from_bytes(id), stamp, &row, meta.as_ref())
                })
                .collect(),
            next: page.next.map(|cursor| cursor.to_string()),
        })
    }
}

/// Builds the index from every message with text, a batch of rows at a time. Stops early
/// when the node stops: the build holds the database open, and the core waits for it.
fn build(store: &Store, cancel: &CancellationToken) -> Result<Index, Error> {
    let mut from: Option<(Conv, u64, [u8; 16])> = None;
    let mut docs = Vec::new();
    loop {
        if cancel.is_cancelled() {
            return Err(Error::Stopped);
        }
        let rows = match from {
            None => store.scan::<Messages>(.., ScanDirection::Forward, BUILD_BATCH)?,
            Some(after) => store.scan::<Messages>(
                (std::ops::Bound::Excluded(after), std::ops::Bound::Unbounded),
                ScanDirection::Forward,
                BUILD_BATCH,
            )?,
        };
        let Some((last, _)) = rows.last() else {
            break;
        };
        from = Some(*last);
        let full = rows.len() == BUILD_BATCH;
        docs.extend(
            rows.into_iter()
                .filter(|(_, row)| !row.text.is_empty())
                .map(|((conv, stamp, id), row)| (DocKey::new(conv, stamp, id), row.text)),
        );
        if !full {
            break;
        }
    }
    Index::build(docs).map_err(|e| Error::Storage(StorageError::other(e.to_string())))
}
