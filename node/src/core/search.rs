//! Full-text search over this device's history, with `tern-search`'s in-memory index.
//!
//! The index holds terms and keys, never text, and nothing derived from a message's text is
//! written to disk (`docs/search.md` has the measurements behind this choice). It is built from
//! the history table when the node starts, on the indexer's own thread, which then keeps it:
//! changes committed meanwhile wait in its queue and are applied once it is ready (inserts and
//! removals are idempotent, so a message the build also read is indexed once), and searches
//! made meanwhile wait behind them.
//!
//! Every commit that adds, edits or removes a message's text carries the index operations in
//! its [`Pending`]; they are applied only once the commit is durable, so the index never
//! knows a message the database lost. A deleted or expired message leaves the index in the
//! same step as it leaves history.

use tern_search::{Cursor, DocKey, Index, Query};

use super::*;
use crate::{
    GroupId,
    view::{ChatId, SearchHit, SearchPage},
};

/// Rows read per batch while the index is built: bounds the memory the build holds beyond
/// the index itself.
const BUILD_BATCH: usize = 4096;
/// Jobs queued for the indexer (one per commit that changes text, or a search): room for a
/// few seconds of commits at full speed while the index is built, after which commits wait.
const JOBS: usize = 1024;

/// What the index holds of a message: its text (a file's caption) and its file's name, so
/// that a file is found by either.
pub(super) fn searched(text: &str, file_name: Option<&str>) -> String {
    match file_name {
        Some(name) => format!("{text} {name}"),
        None => text.to_owned(),
    }
}

/// The name of the file in `row`, if its descriptor reads.
pub(super) fn file_name(row: &crate::tables::AttachmentRow) -> Option<String> {
    crate::Attachment::from_descriptor(&row.descriptor, &row.state).map(|file| file.name)
}

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

/// A search asked of the core.
pub(super) struct Waiting {
    pub(super) query: String,
    pub(super) chat: Option<ChatId>,
    pub(super) limit: usize,
    pub(super) after: Option<Cursor>,
    pub(super) reply: oneshot::Sender<Result<SearchPage, Error>>,
}

/// What the indexer thread is asked to do. It takes jobs in the order the core sends them,
/// so a search sees every commit made before it was asked.
enum Job {
    /// The index operations of a durable commit.
    Apply(Vec<SearchOp>),
    Search {
        query: Query,
        conversation: Option<Conv>,
        /// The node's groups by their history's `Conv`: a hit in one is a group message.
        groups: HashMap<Conv, GroupId>,
        limit: usize,
        after: Option<Cursor>,
        reply: oneshot::Sender<Result<SearchPage, Error>>,
    },
}

/// The indexer: a thread that owns the index, builds it from history at start, then applies
/// the operations of each commit and answers searches, reading the messages found. Indexing a
/// message's text (cutting it into words, folding case) costs about as much as the rest of
/// storing it; on its own thread it runs beside the core instead of inside each commit.
#[derive(Default)]
pub(super) struct Search {
    jobs: Option<mpsc::Sender<Job>>,
}

/// The indexer thread, which the core waits for when it stops: the build holds the database
/// open.
pub(super) type Indexer = tokio::task::JoinHandle<()>;

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

/// The indexer's life: build, then serve jobs until the core drops its end. The core waits
/// for it when it stops, so its handle on the database goes before the node's.
fn index_jobs(store: &Store, cancel: &CancellationToken, mut jobs: mpsc::Receiver<Job>) {
    let mut index = match build(store, cancel) {
        Ok(index) => index,
        Err(Error::Stopped) => return,
        Err(e) => {
            // Searches find nothing until the next start, rather than stop the node.
            error!("cannot build the search index: {e}");
            Index::new()
        }
    };
    debug!(messages = index.len(), "search index ready");
    // Operations committed during the build wait in the channel; applying them again to
    // messages the build also read is harmless (inserts and removals are idempotent).
    while let Some(job) = jobs.blocking_recv() {
        match job {
            Job::Apply(ops) => {
                for op in ops {
                    apply(&mut index, op);
                }
            }
            Job::Search {
                query,
                conversation,
                groups,
                limit,
                after,
                reply,
            } => {
                let page = index.search(&query, conversation.as_ref(), limit, after.as_ref());
                let _ = reply.send(read_page(store, &groups, page));
            }
        }
    }
}

impl Core {
    /// Starts the indexer, which builds the index from history off the core task.
    pub(super) fn start_indexer(&mut self) -> Indexer {
        let (tx, rx) = mpsc::channel(JOBS);
        let store = self.store.clone();
        let cancel = self.cancel.clone();
        self.search = Search { jobs: Some(tx) };
        tokio::task::spawn_blocking(move || index_jobs(&store, &cancel, rx))
    }

    /// Stops the indexer: it finishes the jobs sent so far, then ends.
    pub(super) fn stop_search(&mut self) {
        self.search.jobs = None;
    }

    /// Hands the index operations of a durable commit to the indexer.
    pub(super) async fn on_search_ops(&mut self, ops: Vec<SearchOp>) {
        if ops.is_empty() {
            return;
        }
        if let Some(jobs) = &self.search.jobs {
            let _ = jobs.send(Job::Apply(ops)).await;
        }
    }

    /// Hands a search to the indexer, which answers it once the commits before it are
    /// indexed (and the index built); the core goes on meanwhile. A search in a group this
    /// node does not know is answered at once with its error.
    pub(super) async fn search(&mut self, search: Waiting) {
        let conversation = match search.chat.map(|chat| self.chat_conv(chat)).transpose() {
            Ok(conversation) => conversation,
            Err(e) => {
                let _ = search.reply.send(Err(e));
                return;
            }
        };
        let job = Job::Search {
            query: Query::parse(&search.query),
            conversation,
            groups: self.group_convs(),
            limit: search.limit,
            after: search.after,
            reply: search.reply,
        };
        let unsent = match &self.search.jobs {
            Some(jobs) => jobs.send(job).await.err().map(|e| e.0),
            None => Some(job),
        };
        // The indexer is gone (the node is stopping): nothing to find.
        if let Some(Job::Search { reply, .. }) = unsent {
            let _ = reply.send(Ok(SearchPage::default()));
        }
    }
}

/// The messages of a page of hits, read from history: a group's as its history shows them,
/// the others as 1:1 messages.
fn read_page(
    store: &Store,
    groups: &HashMap<Conv, GroupId>,
    page: tern_search::Page,
) -> Result<SearchPage, Error> {
    let mut hits = Vec::with_capacity(page.hits.len());
    for key in page.hits {
        let row_key = (key.conversation, key.stamp, key.id);
        // A message removed since (a request past its cap) is skipped.
        let Some(row) = store.get::<Messages>(&row_key)? else {
            continue;
        };
        hits.push(match groups.get(&key.conversation) {
            Some(group) => SearchHit::Group(groups::read_message(store, *group, row_key, row)?),
            None => {
                let meta = store.get::<crate::tables::MessageMeta>(&row_key)?;
                SearchHit::Message(to_message(
                    MessageId::from_bytes(key.id),
                    key.stamp,
                    &row,
                    meta.as_ref(),
                ))
            }
        });
    }
    Ok(SearchPage {
        hits,
        next: page.next.map(|cursor| cursor.to_string()),
    })
}

/// Builds the index from every message with text or a file, a batch of rows at a time, each
/// with its file's name as when it was stored. Stops early when the node stops: the build
/// holds the database open, and the core waits for it.
fn build(store: &Store, cancel: &CancellationToken) -> Result<Index, Error> {
    // Files are few beside messages: their names are read first, in one pass.
    let mut names: HashMap<(Conv, u64, [u8; 16]), String> = HashMap::new();
    for (key, row) in
        store.scan::<crate::tables::Attachments>(.., ScanDirection::Forward, usize::MAX)?
    {
        if let Some(name) = file_name(&row) {
            names.insert(key, name);
        }
    }
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
        docs.extend(rows.into_iter().filter_map(|(key, row)| {
            let text = searched(&row.text, names.get(&key).map(String::as_str));
            let (conv, stamp, id) = key;
            (!text.is_empty()).then(|| (DocKey::new(conv, stamp, id), text))
        }));
        if !full {
            break;
        }
    }
    Index::build(docs).map_err(|e| Error::Storage(StorageError::other(e.to_string())))
}
