//! The transfer task: files over `/tern/blob/1`, served from the profile's blob store and
//! fetched from the locations their descriptors name.
//!
//! The core task stays the only writer of the database: it stores a file's message and
//! asks for a fetch once that is durable ([`Transfers::fetch`]); this task reports back
//! progress, completion and failure ([`Report`]), which the core records and publishes as
//! events. The blob store on disk is this task's alone while a download runs: the store
//! refuses a second handle on the same partial blob, and this task runs one fetch per root.
//!
//! **Serving** answers `Get` for blobs this device sent: the capability must match the one
//! stored with the message ([`crate::tables::BlobGrants`]), read straight from the database.
//! At most [`MAX_SERVING`] streams are served at once; beyond it a reader hears `Busy`.
//!
//! **Fetching** asks a source for the groups still missing, [`WINDOW_GROUPS`] at a time, one
//! stream per window, and writes each 16 KiB group only after it verified against the root;
//! every window ends in a commit of the download's journal, so a crash or a dropped link
//! costs at most the window in flight. A source that is offline is tried again later with
//! back-off (the file stays `Fetching`); one that answers wrongly (unknown blob, wrong
//! capability, a length that contradicts the descriptor, groups that fail verification) is
//! dropped, and when no source is left the fetch fails for good.

use std::{
    collections::{HashMap, HashSet},
    sync::Arc,
    time::Duration,
};

use libp2p::{Multiaddr, PeerId, StreamProtocol};
use tern_blob::{
    Descriptor, Root,
    descriptor::{Body, LocationKind},
    store::Store as BlobStore,
};
use tern_crypto::UserId;
use tokio::{
    sync::{Semaphore, mpsc},
    task::JoinSet,
};
use tokio_util::sync::CancellationToken;
use tracing::{debug, warn};

use crate::{ChatId as Chat, core::Request, id::MessageId, network, store::Store};

/// The grant a `Get` for a root must match, as the core answers it.
pub(crate) type Grant = Option<[u8; 32]>;

mod fetch;
mod gather;
mod serve;
mod upload;

pub(crate) use upload::{Quota, Target as UploadTarget, Upload};

/// The protocol, as libp2p names it.
pub(crate) const PROTOCOL: StreamProtocol = StreamProtocol::new(tern_blob::wire::PROTOCOL);
/// Streams served at once; more readers are told `Busy`.
pub(crate) const MAX_SERVING: usize = 16;
/// Files fetched at once; more wait their turn.
const MAX_FETCHING: usize = 4;
/// Uploads to relays running at once (one relay each); more wait their turn.
const MAX_UPLOADING: usize = 2;
/// Groups asked for per stream: 4 MiB, so progress is reported and the journal committed
/// every 4 MiB.
pub(crate) const WINDOW_GROUPS: u64 = 256;
/// Groups asked for in the window that starts a file: 1 MiB, so that a player gets the
/// first verified bytes after one short round instead of a whole window.
pub(crate) const FIRST_WINDOW_GROUPS: u64 = 64;
/// How long a peer may send or take nothing before its stream is given up.
pub(crate) use tern_blob::pipe::IDLE;
/// Waits before fetching again from a source that was unreachable: doubling from this…
/// Short, because the commonest cause is a group's file whose upload to the sequencers is
/// still under way when a member reads its message.
const FIRST_RETRY: Duration = Duration::from_secs(1);
/// …up to this, for as long as the message is kept.
const MAX_RETRY: Duration = Duration::from_secs(30 * 60);
/// Commands waiting for the task.
const COMMAND_CAPACITY: usize = 256;

/// A file to fetch: the message that carries it and its descriptor.
#[derive(Clone)]
pub(crate) struct Fetch {
    /// The conversation.
    pub(crate) chat: Chat,
    /// Who sent it: its device is a location when the descriptor names one.
    pub(crate) sender: UserId,
    pub(crate) id: MessageId,
    /// `version ‖ postcard(Descriptor)`, validated.
    pub(crate) descriptor: Vec<u8>,
    /// Our own mailbox relays and where they listen, so that a relay location among them is
    /// reached at once (others are found through the network).
    pub(crate) relays: Vec<(PeerId, Vec<Multiaddr>)>,
}

/// What the task tells the core about a fetch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Report {
    /// More verified groups are on disk.
    Progress {
        chat: Chat,
        id: MessageId,
        received: u64,
        total: u64,
    },
    /// The whole file verified and is in the store.
    Done { chat: Chat, id: MessageId },
    /// No source could give the file, and none will: the reason is for people.
    Failed {
        chat: Chat,
        id: MessageId,
        reason: String,
    },
    /// An upload to one relay ended: held until the Unix second given, or refused.
    Uploaded {
        root: Root,
        relay: PeerId,
        outcome: Result<u64, String>,
    },
}

enum Command {
    Fetch(Fetch),
    Upload(Upload),
    /// A contact came online: fetches waiting for its device try again now.
    Online(UserId),
}

/// The core's handle on the transfer task.
#[derive(Clone)]
pub(crate) struct Transfers {
    commands: mpsc::Sender<Command>,
}

impl Transfers {
    /// Asks for a file once its message is durable. A fetch already running for the same
    /// file is not started twice.
    pub(crate) fn fetch(&self, fetch: Fetch) {
        if self.commands.try_send(Command::Fetch(fetch)).is_err() {
            // Full or stopped: the row stays `Fetching`, and the next start resumes it.
            warn!("transfer queue full; the fetch resumes at the next start");
        }
    }

    /// Leaves a blob this device sent at the relays `upload` names (its message was
    /// deposited there: the recipient is offline). An upload of the same blob already
    /// running is not started twice.
    pub(crate) fn upload(&self, upload: Upload) {
        if self.commands.try_send(Command::Upload(upload)).is_err() {
            warn!("transfer queue full; the upload resumes at the next start");
        }
    }

    /// Tells waiting fetches that `peer` is reachable now.
    pub(crate) fn online(&self, peer: UserId) {
        let _ = self.commands.try_send(Command::Online(peer));
    }
}

/// What the task works with. It holds no handle on the database (the core answers what it
/// needs), so the database closes as soon as the core stops.
pub(crate) struct Parts {
    pub(crate) blobs: BlobStore,
    pub(crate) net: network::Handle,
    pub(crate) reports: mpsc::Sender<Request>,
    pub(crate) cancel: CancellationToken,
}

/// Starts the task: it serves `/tern/blob/1` and fetches what the core asks for.
pub(crate) fn spawn(parts: Parts) -> (Transfers, tokio::task::JoinHandle<()>) {
    let (commands, rx) = mpsc::channel(COMMAND_CAPACITY);
    let task = tokio::spawn(run(parts, rx));
    (Transfers { commands }, task)
}

/// Shared by the fetches.
#[derive(Clone)]
struct Context {
    blobs: BlobStore,
    net: network::Handle,
    reports: mpsc::Sender<Request>,
}

impl Context {
    async fn report(&self, report: Report) {
        let _ = self.reports.send(Request::Transfer(report)).await;
    }
}

async fn run(parts: Parts, mut commands: mpsc::Receiver<Command>) {
    let Parts {
        blobs,
        net,
        reports,
        cancel,
    } = parts;
    let mut incoming = match net.acceptor().accept(PROTOCOL) {
        Ok(incoming) => incoming,
        Err(e) => {
            warn!("cannot serve attachments: {e}");
            return;
        }
    };
    let context = Context {
        blobs: blobs.clone(),
        net,
        reports: reports.clone(),
    };
    let serving = Arc::new(Semaphore::new(MAX_SERVING));
    let mut served = JoinSet::new();
    let mut fetching: JoinSet<(Root, Option<Fetch>)> = JoinSet::new();
    let mut uploading: JoinSet<Root> = JoinSet::new();
    let upload_slots = Arc::new(Semaphore::new(MAX_UPLOADING));
    let mut uploads: HashSet<Root> = HashSet::new();
    // Roots being fetched, and fetches waiting for a turn or for their source.
    let mut running: HashSet<Root> = HashSet::new();
    let mut queued: Vec<(Root, Fetch)> = Vec::new();
    let mut waiting: HashMap<Root, (Fetch, tokio::time::Instant, Duration)> = HashMap::new();
    let mut retry_tick = tokio::time::interval(Duration::from_secs(1));
    loop {
        use futures::StreamExt;
        tokio::select! {
            () = cancel.cancelled() => break,
            Some((peer, stream)) = incoming.next() => {
                while served.try_join_next().is_some() {}
                let permit = serving.clone().try_acquire_owned().ok();
                let (blobs, core) = (blobs.clone(), reports.clone());
                served.spawn(async move {
                    serve::serve(stream, peer, permit, blobs, core).await;
                });
            }
            command = commands.recv() => match command {
                None => break,
                Some(Command::Fetch(fetch)) => {
                    let Some(root) = root_of(&fetch.descriptor) else { continue };
                    waiting.remove(&root);
                    if !running.contains(&root) && !queued.iter().any(|(r, _)| *r == root) {
                        queued.push((root, fetch));
                    }
                }
                Some(Command::Upload(upload)) => {
                    if uploads.insert(upload.root) {
                        let (context, slots) = (context.clone(), upload_slots.clone());
                        uploading.spawn(async move {
                            let root = upload.root;
                            upload::upload(&context, upload, slots).await;
                            root
                        });
                    }
                }
                Some(Command::Online(user)) => {
                    let now = tokio::time::Instant::now();
                    for (fetch, at, _) in waiting.values_mut() {
                        if fetch.sender == user {
                            *at = now;
                        }
                    }
                }
            },
            Some(done) = fetching.join_next() => {
                match done {
                    Ok((root, again)) => {
                        running.remove(&root);
                        if again.is_none() {
                            waiting.remove(&root);
                        }
                        if let Some(fetch) = again {
                            let backoff = waiting.get(&root).map_or(FIRST_RETRY, |w| w.2);
                            let at = tokio::time::Instant::now() + backoff;
                            waiting.insert(root, (fetch, at, (backoff * 2).min(MAX_RETRY)));
                        }
                    }
                    Err(e) => warn!("a fetch failed: {e}"),
                }
            }
            Some(done) = uploading.join_next() => {
                if let Ok(root) = done {
                    uploads.remove(&root);
                }
            }
            _ = retry_tick.tick() => {
                let now = tokio::time::Instant::now();
                let due: Vec<Root> = waiting
                    .iter()
                    .filter(|(_, (_, at, _))| *at <= now)
                    .map(|(root, _)| *root)
                    .collect();
                for root in due {
                    if let Some((fetch, _, backoff)) = waiting.get(&root).cloned() {
                        // Kept in `waiting` for its back-off until it is running.
                        waiting.insert(root, (fetch.clone(), now + MAX_RETRY, backoff));
                        if !running.contains(&root) && !queued.iter().any(|(r, _)| *r == root) {
                            queued.push((root, fetch));
                        }
                    }
                }
            }
        }
        while running.len() < MAX_FETCHING && !queued.is_empty() {
            let (root, fetch) = queued.remove(0);
            running.insert(root);
            let context = context.clone();
            fetching.spawn(async move { (root, fetch::fetch(&context, fetch).await) });
        }
    }
    served.abort_all();
    fetching.abort_all();
    uploading.abort_all();
    while served.join_next().await.is_some() {}
    while fetching.join_next().await.is_some() {}
    while uploading.join_next().await.is_some() {}
    debug!("transfer task stopped");
}

/// The root of a descriptor's blob (`None` for an inline file, which needs no fetch).
pub(crate) fn root_of(descriptor: &[u8]) -> Option<Root> {
    match Descriptor::from_bytes(descriptor).ok()?.body {
        Body::Blob(blob) => Some(blob.root),
        Body::Inline(_) => None,
    }
}

/// Deletes the blobs no message or invitation names any more: deleted while a download of
/// them ran, or imported for a send that a crash cut short. Runs before the node takes any
/// request, so no send is importing at the same time. Returns how many went.
pub(crate) fn sweep(db: &Store, blobs: &BlobStore) -> Result<usize, String> {
    use crate::{
        group::tables::{InviteFetches, InviteUploads},
        store::Direction,
    };
    let error = |e: crate::store::StoreError| e.to_string();
    let mut named: HashSet<Root> = HashSet::new();
    for (_, row) in db
        .scan::<crate::tables::Attachments>(.., Direction::Forward, usize::MAX)
        .map_err(error)?
    {
        named.extend(root_of(&row.descriptor));
    }
    // Invitations as files: ours until every sequencer answered, theirs until joined from.
    for (_, row) in db
        .scan::<InviteUploads>(.., Direction::Forward, usize::MAX)
        .map_err(error)?
    {
        named.extend(root_of(&row.descriptor));
    }
    for (_, row) in db
        .scan::<InviteFetches>(.., Direction::Forward, usize::MAX)
        .map_err(error)?
    {
        named.extend(root_of(&row.descriptor));
    }
    let mut roots = blobs.complete_roots().map_err(|e| e.to_string())?;
    roots.extend(blobs.partial_roots().map_err(|e| e.to_string())?);
    let mut swept = 0;
    for root in roots.iter().filter(|root| !named.contains(root)) {
        swept += usize::from(blobs.delete(root).map_err(|e| e.to_string())?);
    }
    Ok(swept)
}

/// A place a blob can be fetched from.
#[derive(Clone)]
struct Source {
    peer: PeerId,
    capability: tern_blob::Capability,
    /// A relay (reached under the anonymous identity) rather than the sender's device.
    relay: bool,
}

/// The locations of a descriptor's blob: the sender's device first, then the relays.
fn sources(blob: &tern_blob::descriptor::BlobRef) -> Vec<Source> {
    let mut sources: Vec<Source> = blob
        .locations
        .iter()
        .filter_map(|l| {
            Some(Source {
                peer: PeerId::from_bytes(&l.peer).ok()?,
                capability: l.capability.clone(),
                relay: l.kind == LocationKind::Relay,
            })
        })
        .collect();
    sources.sort_by_key(|s| s.relay);
    sources
}

/// Addresses to reach `device` of `user` at: from the user's newest record, if it names that
/// device.
async fn addresses_of(net: &network::Handle, user: UserId, device: PeerId) -> Vec<Multiaddr> {
    match net.lookup(user).await {
        Ok(found) if found.record.device == device => found.record.addresses,
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests;
