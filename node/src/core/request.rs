//! What [`crate::Node`] handles ask of the core task: one variant per operation, each with
//! the `oneshot` its answer goes back on.

use tern_crypto::UserId;
use tokio::sync::oneshot;

#[cfg(any(test, feature = "test-utils"))]
use super::Body;
use super::{Change, Error, RelayTarget, Setting};
use crate::{
    id::MessageId,
    view::{Chat, Contact, HistoryCursor, MessageRequest, NodeStatus, Page},
};

/// What a send puts in a conversation.
#[derive(Debug, Clone)]
pub(crate) enum Compose {
    /// A text, perhaps a reply to an earlier message.
    Text {
        text: String,
        reply_to: Option<MessageId>,
    },
    /// A change to an earlier message.
    Change { target: MessageId, change: Change },
    /// A new disappearing-message timer for the conversation, in seconds (0: off).
    Timer { secs: u32 },
    /// A file, with a caption (perhaps empty) and perhaps as a reply.
    File {
        file: super::OutgoingFile,
        caption: String,
        reply_to: Option<MessageId>,
    },
}

pub(crate) enum Request {
    Send {
        peer: UserId,
        compose: Compose,
        reply: oneshot::Sender<Result<MessageId, Error>>,
    },
    Search {
        query: String,
        chat: Option<crate::ChatId>,
        limit: usize,
        after: Option<tern_search::Cursor>,
        reply: oneshot::Sender<Result<crate::view::SearchPage, Error>>,
    },
    SetChat {
        peer: UserId,
        setting: Setting,
        reply: oneshot::Sender<Result<(), Error>>,
    },
    DeleteForMe {
        chat: crate::ChatId,
        id: MessageId,
        reply: oneshot::Sender<Result<(), Error>>,
    },
    EditHistory {
        chat: crate::ChatId,
        id: MessageId,
        reply: oneshot::Sender<Result<Vec<crate::view::Edit>, Error>>,
    },
    AddContact {
        name: String,
        user: UserId,
        reply: oneshot::Sender<Result<(), Error>>,
    },
    RemoveContact {
        user: UserId,
        reply: oneshot::Sender<Result<(), Error>>,
    },
    VerifyContact {
        user: UserId,
        verified: bool,
        reply: oneshot::Sender<Result<(), Error>>,
    },
    Contacts {
        reply: oneshot::Sender<Result<Vec<Contact>, Error>>,
    },
    SetIdentityPolicy {
        peer: UserId,
        policy: crate::IdentityPolicy,
        reply: oneshot::Sender<Result<(), Error>>,
    },
    IdentityState {
        peer: UserId,
        reply: oneshot::Sender<Result<crate::IdentityState, Error>>,
    },
    RotateIdentityKey {
        reply: oneshot::Sender<Result<(), Error>>,
    },
    SetProfile {
        name: String,
        status: String,
        reply: oneshot::Sender<Result<usize, Error>>,
    },
    Typing {
        peer: UserId,
        active: bool,
        reply: oneshot::Sender<Result<bool, Error>>,
    },
    GetSharing {
        reply: oneshot::Sender<Result<super::Sharing, Error>>,
    },
    SetSharing {
        sharing: super::Sharing,
        reply: oneshot::Sender<Result<super::Sharing, Error>>,
    },
    OwnProfile {
        reply: oneshot::Sender<Result<Option<crate::view::Profile>, Error>>,
    },
    Chats {
        reply: oneshot::Sender<Result<Vec<Chat>, Error>>,
    },
    History {
        peer: UserId,
        limit: usize,
        before: Option<HistoryCursor>,
        reply: oneshot::Sender<Result<Page, Error>>,
    },
    MarkRead {
        peer: UserId,
        reply: oneshot::Sender<Result<usize, Error>>,
    },
    Status {
        reply: oneshot::Sender<Result<NodeStatus, Error>>,
    },
    Requests {
        reply: oneshot::Sender<Result<Vec<MessageRequest>, Error>>,
    },
    Accept {
        peer: UserId,
        reply: oneshot::Sender<Result<(), Error>>,
    },
    DeleteChat {
        peer: UserId,
        reply: oneshot::Sender<Result<usize, Error>>,
    },
    Block {
        peer: UserId,
        blocked: bool,
        reply: oneshot::Sender<Result<(), Error>>,
    },
    Blocked {
        reply: oneshot::Sender<Result<Vec<UserId>, Error>>,
    },
    /// The transfer task's report on a fetch.
    Transfer(crate::transfer::Report),
    /// The transfer task asks which capability may read a blob this device sent.
    Grant {
        root: tern_blob::Root,
        reply: oneshot::Sender<crate::transfer::Grant>,
    },
    /// The relays and mailbox of a peer's record, if the core holds one (`None`: no record).
    RelayTarget {
        peer: UserId,
        reply: oneshot::Sender<Option<Option<RelayTarget>>>,
    },
    FetchAttachment {
        chat: crate::ChatId,
        id: MessageId,
        reply: oneshot::Sender<Result<crate::AttachmentState, Error>>,
    },
    HeldFile {
        chat: crate::ChatId,
        id: MessageId,
        reply: oneshot::Sender<Result<super::Held, Error>>,
    },
    Attachments {
        chat: Option<crate::ChatId>,
        reply: oneshot::Sender<Result<Vec<crate::view::FileEntry>, Error>>,
    },
    /// Tests: queues any body, as a misbehaving or newer peer would send it.
    #[cfg(any(test, feature = "test-utils"))]
    SendBody {
        peer: UserId,
        body: Body,
        reply: oneshot::Sender<Result<(), Error>>,
    },
    /// New one-time prekeys for a relay of ours, their secrets durable before the reply.
    OneTimePrekeys {
        count: usize,
        reply: oneshot::Sender<Result<Vec<tern_crypto::OneTimePrekey>, Error>>,
    },
    /// A group operation.
    Group(super::groups::GroupRequest),
}
