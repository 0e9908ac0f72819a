//! The public face of the crate: [`Builder`] to start a node, [`Node`] to use it.

use std::{
    path::{Path, PathBuf},
    sync::Arc,
    time::Duration,
};

use futures::Stream;
use libp2p::{Multiaddr, identity::Keypair};
use tern_crypto::{
    AccountKey, DeviceId, PrekeySecrets, SafetyNumber, UserId, at_rest::KdfParams,
    rand_core::UnwrapErr,
};
use tokio::sync::{broadcast, mpsc, oneshot};
use tokio_util::sync::CancellationToken;
use tracing::info;

mod builder;
mod conversation;
mod files;
mod groups;
mod open;

pub use self::builder::{
    Builder, DEFAULT_LOOKUP_GRACE, DEFAULT_MIN_FREE_DISK, RELAY_FAILOVER_AFTER,
};
pub use self::files::AttachmentReader;
use self::open::open_account;
use crate::{
    core::{Compose, Core, Error, Parts, Request},
    error::{ChatError, ContactError, PassphraseError, QueryError, SendError, StorageError},
    event::{self, Cursor, Event},
    hlc::Hlc,
    id::MessageId,
    network,
    store::{Direction as ScanDirection, Store, StoreError},
    tables::{
        Events, STATE_ACCOUNT, STATE_CLOCK, STATE_DEVICE_KEY, STATE_OUTBOX_SEQ, STATE_PREKEYS,
        State,
    },
    view::{Chat, Contact, HistoryCursor, MessageRequest, NodeStatus, Page},
};

/// Capacity of the request channel from handles to the core task.
const REQUEST_CAPACITY: usize = 256;
/// Live events buffered per subscriber before it falls back to reading the log.
const EVENT_BUFFER: usize = 1024;

/// Why a node could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StartError {
    /// The data directory holds no account; create one with [`Builder::create_account`].
    #[error("no account in {0}; create one first")]
    NotInitialized(PathBuf),
    /// The data directory already holds an account.
    #[error("an account already exists in {0}")]
    AlreadyInitialized(PathBuf),
    /// The passphrase does not unlock the account.
    #[error("wrong passphrase")]
    WrongPassphrase,
    /// Neither [`Builder::with_passphrase`] nor [`Builder::insecure_no_passphrase`] was called.
    #[error("no passphrase given; use insecure_no_passphrase() to have none")]
    NoPassphrase,
    /// [`Builder::with_passphrase`] was given an empty passphrase.
    #[error("the passphrase is empty; use insecure_no_passphrase() to have none")]
    EmptyPassphrase,
    /// Another process is using the data directory.
    #[error("the data directory is in use by another process")]
    Locked,
    /// The stored data is damaged or from a newer version.
    #[error("storage: {0}")]
    Storage(String),
    /// A listen or bootstrap address is invalid.
    #[error("invalid address {0:?}: {1}")]
    Address(String, String),
    /// The network could not start.
    #[error("network: {0}")]
    Network(String),
}

impl From<StoreError> for StartError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::WrongPassphrase => Self::WrongPassphrase,
            StoreError::Locked => Self::Locked,
            other => Self::Storage(other.to_string()),
        }
    }
}

struct Inner {
    net: network::Handle,
    requests: mpsc::Sender<Request>,
    events: broadcast::Sender<(Cursor, Event)>,
    /// Taken out at shutdown, so that the database closes once the tasks are done.
    store: std::sync::Mutex<Option<Store>>,
    user: UserId,
    cancel: CancellationToken,
    tasks: std::sync::Mutex<Vec<tokio::task::JoinHandle<()>>>,
    /// Event subscribers' tasks: each holds the database open until it notices the shutdown,
    /// so shutting down waits for them too.
    subscribers: tokio_util::task::TaskTracker,
    /// The cursor the next committed event will get, kept by the core task.
    next_event: Arc<std::sync::atomic::AtomicU64>,
    /// The profile's file store: sends import into it, saves read from it.
    blobs: tern_blob::store::Store,
}

impl Drop for Inner {
    /// The last handle is gone: stop the node. Its tasks finish in the background and the
    /// database closes (releasing the data directory) once they have; call
    /// [`Node::shutdown`] instead to wait for that.
    fn drop(&mut self) {
        self.cancel.cancel();
    }
}

/// A running node. Cheap to clone; every clone drives the same node.
#[derive(Clone)]
pub struct Node {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Node {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Node")
            .field("user", &self.inner.user)
            .finish_non_exhaustive()
    }
}

impl Node {
    /// Starts configuring a node whose account and history live in `data_dir`.
    pub fn builder(data_dir: impl Into<PathBuf>) -> Builder {
        Builder::new(data_dir.into())
    }

    /// This account's address.
    pub fn user_id(&self) -> UserId {
        self.inner.user
    }

    /// The addresses this node can be dialled at, each ending in `/p2p/<peer id>` (the form
    /// other nodes take as a bootstrap address). Waits until the node listens somewhere.
    pub async fn addresses(&self) -> Vec<String> {
        let mut addresses = self.inner.net.addresses();
        let peer = self.inner.net.peer_id();
        let current = tokio::select! {
            () = self.inner.cancel.cancelled() => return Vec::new(),
            current = addresses.wait_for(|a| !a.is_empty()) => match current {
                Ok(current) => current.clone(),
                Err(_) => return Vec::new(),
            },
        };
        current.iter().map(|a| format!("{a}/p2p/{peer}")).collect()
    }

    /// An invite others can use to add this account: `tern:<address>`.
    pub fn invite(&self) -> String {
        format!("tern:{}", self.inner.user)
    }

    async fn call<T, E: From<Error>>(
        &self,
        make: impl FnOnce(oneshot::Sender<Result<T, Error>>) -> Request,
    ) -> Result<T, E> {
        let (reply, answer) = oneshot::channel();
        self.inner
            .requests
            .send(make(reply))
            .await
            .map_err(|_| Error::Stopped)?;
        Ok(answer.await.map_err(|_| Error::Stopped)??)
    }

    /// Sends `text` to `peer`. Returns once the message is durable in the outbox (it survives
    /// a crash from then on); delivery continues in the background, reported by events.
    pub async fn send(
        &self,
        peer: UserId,
        text: impl Into<String>,
    ) -> Result<MessageId, SendError> {
        let compose = Compose::Text {
            text: text.into(),
            reply_to: None,
        };
        self.call(|reply| Request::Send {
            peer,
            compose,
            reply,
        })
        .await
    }

    /// Adds (or renames) a contact.
    pub async fn add_contact(
        &self,
        name: impl Into<String>,
        user: UserId,
    ) -> Result<(), ContactError> {
        let name = name.into();
        self.call(|reply| Request::AddContact { name, user, reply })
            .await
    }

    /// Removes a contact (its conversation stays).
    pub async fn remove_contact(&self, user: UserId) -> Result<(), ContactError> {
        self.call(|reply| Request::RemoveContact { user, reply })
            .await
    }

    /// Marks a contact verified (after comparing [`Node::safety_number`]) or not.
    pub async fn verify_contact(&self, user: UserId, verified: bool) -> Result<(), ContactError> {
        self.call(|reply| Request::VerifyContact {
            user,
            verified,
            reply,
        })
        .await
    }

    /// Sets what happens when `peer`'s identity key changes (see [`crate::IdentityPolicy`]):
    /// `Warn` (the default), `Block` or `TrustNew`. Any policy but `Block` also releases
    /// messages held by an earlier change; so does verifying the contact again. Works for any
    /// peer, contact or not.
    ///
    /// ```no_run
    /// # async fn f(node: tern_node::Node, bot: tern_node::UserId) -> Result<(), tern_node::ChatError> {
    /// node.set_identity_policy(bot, tern_node::IdentityPolicy::TrustNew).await?;
    /// # Ok(()) }
    /// ```
    pub async fn set_identity_policy(
        &self,
        peer: UserId,
        policy: crate::IdentityPolicy,
    ) -> Result<(), ChatError> {
        self.call(|reply| Request::SetIdentityPolicy {
            peer,
            policy,
            reply,
        })
        .await
    }

    /// The identity key of `peer` as this node sees it: the policy for a change, and whether
    /// one happened and holds sending.
    pub async fn identity_state(&self, peer: UserId) -> Result<crate::IdentityState, QueryError> {
        self.call(|reply| Request::IdentityState { peer, reply })
            .await
    }

    /// Replaces this account's identity key (the X25519 key PQXDH uses) with a new one,
    /// keeping the address, contacts and history: after a suspected leak of the device's
    /// keys, for example. The record is published again; the next message to each peer starts
    /// a new session under the new key, which the peer's node reports as an identity change.
    /// The old key still accepts session starts made against it until they expire.
    pub async fn rotate_identity_key(&self) -> Result<(), QueryError> {
        self.call(|reply| Request::RotateIdentityKey { reply })
            .await
    }

    /// The safety number to compare with `peer` out of band.
    pub fn safety_number(&self, peer: &UserId) -> SafetyNumber {
        SafetyNumber::new(&self.inner.user, peer)
    }

    /// All contacts.
    pub async fn contacts(&self) -> Result<Vec<Contact>, QueryError> {
        self.call(|reply| Request::Contacts { reply }).await
    }

    /// The chat list, most recent first.
    pub async fn chats(&self) -> Result<Vec<Chat>, QueryError> {
        self.call(|reply| Request::Chats { reply }).await
    }

    /// A page of the conversation with `peer`: the `limit` messages before `before` (or the
    /// newest), oldest first.
    pub async fn history(
        &self,
        peer: UserId,
        limit: usize,
        before: Option<HistoryCursor>,
    ) -> Result<Page, QueryError> {
        self.call(|reply| Request::History {
            peer,
            limit,
            before,
            reply,
        })
        .await
    }

    /// Message requests: messages from accounts that are neither contacts nor in the chat
    /// list, newest first. They are not in [`Node::chats`]; read their messages with
    /// [`Node::history`], and answer with [`Node::accept_request`], [`Node::delete_chat`] or
    /// [`Node::block`]. Writing to the sender or adding them as a contact accepts too.
    ///
    /// ```no_run
    /// # async fn run(node: tern_node::Node) -> Result<(), Box<dyn std::error::Error>> {
    /// for request in node.requests().await? {
    ///     let page = node.history(request.peer, 20, None).await?;
    ///     if page.messages.iter().any(|m| m.text.contains("lottery")) {
    ///         node.block(request.peer).await?;
    ///     } else {
    ///         node.accept_request(request.peer).await?;
    ///     }
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn requests(&self) -> Result<Vec<MessageRequest>, QueryError> {
        self.call(|reply| Request::Requests { reply }).await
    }

    /// Accepts `peer`'s message request: it moves to the chat list, `peer`'s devices are
    /// delivered to at the trusted rate, and `peer` gets the delivery receipts held back.
    pub async fn accept_request(&self, peer: UserId) -> Result<(), ChatError> {
        self.call(|reply| Request::Accept { peer, reply }).await
    }

    /// Deletes the conversation with `peer`, chat or message request: every message stored
    /// for it (and the logged events that carry them), and the messages to `peer` still
    /// waiting to be delivered, which are not sent.
    /// The deleted rows are erased from the database files before this returns. Returns how
    /// many messages were deleted. A later message from `peer` starts a new conversation (a
    /// request, unless `peer` is a contact).
    pub async fn delete_chat(&self, peer: UserId) -> Result<usize, ChatError> {
        self.call(|reply| Request::DeleteChat { peer, reply }).await
    }

    /// Blocks `peer`: its direct deliveries are refused and its mail through relays dropped
    /// (acknowledged at the relay, so it is not kept there). Its message request, if any, is
    /// deleted; a chat's history stays. Sending to `peer` fails until [`Node::unblock`].
    pub async fn block(&self, peer: UserId) -> Result<(), ChatError> {
        self.call(|reply| Request::Block {
            peer,
            blocked: true,
            reply,
        })
        .await
    }

    /// Unblocks `peer`. Nothing it sent while blocked comes back.
    pub async fn unblock(&self, peer: UserId) -> Result<(), ChatError> {
        self.call(|reply| Request::Block {
            peer,
            blocked: false,
            reply,
        })
        .await
    }

    /// The blocked accounts, in the order they were blocked.
    pub async fn blocked(&self) -> Result<Vec<UserId>, QueryError> {
        self.call(|reply| Request::Blocked { reply }).await
    }

    /// Marks the conversation with `peer` read and sends read receipts. Returns how many
    /// messages were newly marked.
    pub async fn mark_read(&self, peer: UserId) -> Result<usize, QueryError> {
        self.call(|reply| Request::MarkRead { peer, reply }).await
    }

    /// Changes the passphrase that unlocks this node's data directory. Only the small key
    /// file is re-encrypted (with a fresh salt and `params`), so this takes one key derivation
    /// per passphrase, whatever the size of the history; the old key file is flushed out of
    /// the database's logs before this returns.
    ///
    /// ```no_run
    /// # async fn run(node: tern_node::Node) -> Result<(), tern_node::PassphraseError> {
    /// node.change_passphrase("old secret", "new, longer secret", Default::default()).await?;
    /// # Ok(()) }
    /// ```
    pub async fn change_passphrase(
        &self,
        old: impl AsRef<[u8]>,
        new: impl AsRef<[u8]>,
        params: KdfParams,
    ) -> Result<(), PassphraseError> {
        let store = self
            .inner
            .store
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
            .ok_or(Error::Stopped)?;
        let old = zeroize::Zeroizing::new(old.as_ref().to_vec());
        let new = zeroize::Zeroizing::new(new.as_ref().to_vec());
        tokio::task::spawn_blocking(move || store.change_passphrase(&old, &new, params))
            .await
            .map_err(|e| Error::Storage(StorageError::other(e.to_string())))?
            .map_err(|e| Error::from(e).into())
    }

    /// Peers, addresses, NAT status, outbox depth, rejection counters.
    pub async fn status(&self) -> Result<NodeStatus, QueryError> {
        self.call(|reply| Request::Status { reply }).await
    }

    /// The cursor of the newest event in the log, or `None` while the log is empty. Subscribe
    /// with it ([`Node::events`]) to follow only what happens from now on, missing nothing
    /// that happens after this call.
    pub async fn latest_cursor(&self) -> Result<Option<Cursor>, QueryError> {
        let store = self
            .inner
            .store
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
            .ok_or(Error::Stopped)?;
        let newest = tokio::task::spawn_blocking(move || {
            store.scan::<Events>(.., ScanDirection::Reverse, 1)
        })
        .await
        .map_err(|e| Error::Storage(StorageError::other(e.to_string())))?
        .map_err(Error::from)?;
        Ok(newest.first().map(|(seq, _)| Cursor(*seq)))
    }

    /// The event log from `from`, then live events as they happen. A subscriber that
    /// resumes with [`From::After`](event::From::After) the last cursor it handled misses nothing and sees
    /// nothing twice, across restarts of the node too.
    ///
    /// ```no_run
    /// # async fn run(node: tern_node::Node, saved: Option<tern_node::Cursor>) {
    /// use futures::StreamExt;
    /// use tern_node::{Event, From};
    ///
    /// let from = saved.map_or(From::Oldest, From::After);
    /// let mut events = node.events(from);
    /// while let Some((cursor, event)) = events.next().await {
    ///     if let Event::MessageReceived(message) = event {
    ///         println!("{}: {}", message.peer.short(), message.text);
    ///     }
    ///     // Store `cursor` durably here to resume after it next time.
    /// #   let _ = cursor;
    /// }
    /// # }
    /// ```
    pub fn events(&self, from: event::From) -> EventStream {
        let after = match from {
            event::From::Oldest => None,
            event::From::After(cursor) => Some(cursor),
            // Every event committed from here on has a cursor at least this.
            event::From::Now => self
                .inner
                .next_event
                .load(std::sync::atomic::Ordering::SeqCst)
                .checked_sub(1)
                .map(Cursor),
        };
        let store = self
            .inner
            .store
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        let mut live = self.inner.events.subscribe();
        let cancel = self.inner.cancel.clone();
        let (tx, rx) = mpsc::channel(EVENT_BUFFER);
        let Some(store) = store else {
            // Shut down: an empty stream.
            return EventStream { rx };
        };
        self.inner.subscribers.spawn(async move {
            // Subscribed first, then read the log: nothing falls in between.
            let mut next = after.map_or(0, |c| c.0 + 1);
            loop {
                // Catch up from the log.
                loop {
                    let from = next;
                    let store = store.clone();
                    let page = tokio::task::spawn_blocking(move || {
                        store.scan::<Events>(from.., ScanDirection::Forward, 256)
                    })
                    .await;
                    let Ok(Ok(page)) = page else { return };
                    if page.is_empty() {
                        break;
                    }
                    for (seq, crate::tables::EventRow(event)) in page {
                        // A subscriber that stops reading must not keep the database open
                        // after shutdown.
                        tokio::select! {
                            () = cancel.cancelled() => return,
                            sent = tx.send((Cursor(seq), event)) => if sent.is_err() { return },
                        }
                        next = seq + 1;
                    }
                }
                // Then follow live events, skipping what the log already gave.
                loop {
                    tokio::select! {
                        () = cancel.cancelled() => return,
                        received = live.recv() => match received {
                            Ok((cursor, event)) => {
                                if event.is_ephemeral() {
                                    // Not in the log: passed on as it comes, skipped once
                                    // missed, and `next` stays.
                                    if tx.send((cursor, event)).await.is_err() {
                                        return;
                                    }
                                    continue;
                                }
                                if cursor.0 < next {
                                    continue;
                                }
                                if cursor.0 > next {
                                    // A gap: read it from the log.
                                    break;
                                }
                                if tx.send((cursor, event)).await.is_err() {
                                    return;
                                }
                                next = cursor.0 + 1;
                            }
                            Err(broadcast::error::RecvError::Lagged(_)) => break,
                            Err(broadcast::error::RecvError::Closed) => return,
                        },
                    }
                }
            }
        });
        EventStream { rx }
    }

    /// Stops the node, waits for its tasks to finish and closes the database, so the data
    /// directory can be opened again (by this process or another). Every change already
    /// acknowledged is on disk; nothing else needs flushing.
    pub async fn shutdown(&self) {
        self.inner.cancel.cancel();
        self.inner
            .store
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        let tasks =
            std::mem::take(&mut *self.inner.tasks.lock().unwrap_or_else(|e| e.into_inner()));
        for task in tasks {
            let _ = tokio::time::timeout(Duration::from_secs(10), task).await;
        }
        self.inner.subscribers.close();
        let _ = tokio::time::timeout(Duration::from_secs(10), self.inner.subscribers.wait()).await;
    }
}

/// The events of a node, from [`Node::events`]: first those after the given cursor from the
/// durable log, then live ones. Ends when the node shuts down.
#[derive(Debug)]
pub struct EventStream {
    rx: mpsc::Receiver<(Cursor, Event)>,
}

impl Stream for EventStream {
    type Item = (Cursor, Event);

    fn poll_next(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Self::Item>> {
        self.rx.poll_recv(cx)
    }
}

#[cfg(test)]
impl Node {
    pub(crate) fn inner_net(&self) -> &network::Handle {
        &self.inner.net
    }

    pub(crate) fn inner_store(&self) -> Store {
        self.inner.store.lock().unwrap().clone().unwrap()
    }
}

#[cfg(any(test, feature = "test-utils"))]
impl Node {
    /// Sends any body, as a misbehaving or newer peer would, and waits until the outbox is
    /// empty again: deliveries run concurrently, so this is what keeps the bodies of a test
    /// arriving in the order it sends them.
    #[allow(
        clippy::unwrap_used,
        clippy::expect_used,
        reason = "a test helper, never built into a release"
    )]
    pub(crate) async fn send_body(&self, peer: UserId, body: crate::body::Body) {
        let result: Result<(), SendError> = self
            .call(|reply| Request::SendBody { peer, body, reply })
            .await;
        result.unwrap();
        tokio::time::timeout(Duration::from_secs(60), async {
            while self.status().await.unwrap().outbox > 0 {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        })
        .await
        .expect("the body was not delivered");
    }
}
