//! Where a command's work happens: in the running daemon (through its local API), or, for
//! commands that only touch this account's own data (contacts, history, chats, `read`, `id`),
//! in a short-lived node opened by the command itself when no daemon runs. Commands that need
//! the network (`send`, `chat`, `status`) require the daemon.
//!
//! Both paths return the same [`crate::api::model`] types, so `--json` output is identical.

mod groups;

use tern_node::Node;

use crate::{
    api::{
        Client,
        model::{
            BlockedView, Changed, ChatSettingsRequest, ChatView, ChatsPage, ContactView, Deleted,
            EditView, HistoryPage, Identity, IdentityView, Marked, NewContact, ProfileSet,
            ProfileView, RequestView, SearchQuery, SearchResults, Sent, SharingView, StatusView,
        },
        service,
    },
    command::Context,
    error::CliError,
    profile,
};

pub(crate) enum Backend {
    Daemon(Client),
    Local(Node),
}

/// Whether a command can do without a daemon.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Need {
    /// Only this account's data: open it here if no daemon runs.
    Data,
    /// The network: a daemon must run.
    Network,
}

impl Backend {
    pub(crate) async fn open(context: &Context, need: Need) -> Result<Self, CliError> {
        let profile = &context.profile;
        if let Some(client) = Client::connect(profile)
            .await
            .map_err(|e| CliError::Network(e.to_string()))?
        {
            return Ok(Self::Daemon(client));
        }
        if !profile.has_account() {
            return Err(CliError::NoAccount(profile.home().to_path_buf()));
        }
        if need == Need::Network {
            return Err(CliError::NoDaemon(profile.home().to_path_buf()));
        }
        let passphrase = profile::passphrase(&context.global, false)?;
        // Loopback only, no discovery, no bootstrap: this node exists for a moment to read
        // or change local data. Messages it queues (read receipts) leave with the daemon.
        let node = profile::unlock(Node::builder(profile.node_dir()), &passphrase)
            .with_listen_addr("/ip4/127.0.0.1/tcp/0")
            .with_mdns(false)
            .spawn()
            .await
            .map_err(|e| match e {
                tern_node::StartError::Locked => CliError::Locked(profile.home().to_path_buf()),
                other => other.into(),
            })?;
        Ok(Self::Local(node))
    }

    pub(crate) async fn close(self) {
        if let Self::Local(node) = self {
            node.shutdown().await;
        }
    }

    pub(crate) async fn identity(&self) -> Result<Identity, CliError> {
        match self {
            Self::Daemon(c) => Ok(c.identity().await?),
            Self::Local(n) => Ok(service::identity(n)),
        }
    }

    pub(crate) async fn status(&self) -> Result<StatusView, CliError> {
        match self {
            Self::Daemon(c) => Ok(c.status().await?),
            Self::Local(n) => Ok(service::status(n).await?),
        }
    }

    pub(crate) async fn send(
        &self,
        to: &str,
        reply_to: Option<&str>,
        text: &str,
    ) -> Result<Sent, CliError> {
        match self {
            Self::Daemon(c) => Ok(c.reply(to, reply_to, text).await?),
            Self::Local(n) => Ok(service::send(
                n,
                crate::api::model::NewMessage {
                    to: to.into(),
                    text: text.into(),
                    reply_to: reply_to.map(str::to_owned),
                },
            )
            .await?),
        }
    }

    /// Sends a file; the daemon does it (the command needs the network).
    pub(crate) async fn send_file(
        &self,
        to: &str,
        path: &std::path::Path,
        query: crate::api::model::UploadQuery,
        progress: impl Fn(u64) + Send + Sync + 'static,
    ) -> Result<Sent, CliError> {
        match self {
            Self::Daemon(c) => Ok(c.send_file(to, path, &query, progress).await?),
            Self::Local(n) => {
                let file = std::fs::File::open(path).map_err(|e| {
                    CliError::Usage(t!("send-file-unreadable", error = e.to_string()))
                })?;
                Ok(service::send_file(n, to, query, file).await?)
            }
        }
    }

    /// Writes the file of message `id` with `peer` to `path` (never over an existing file),
    /// reporting bytes written; returns its size. The file must be here already.
    pub(crate) async fn save_file(
        &self,
        peer: &str,
        id: &str,
        path: &std::path::Path,
        progress: impl Fn(u64) + Send + Sync + 'static,
    ) -> Result<u64, CliError> {
        let io = |e: std::io::Error| CliError::Usage(e.to_string());
        match self {
            Self::Daemon(c) => {
                let dir = match path.parent() {
                    Some(dir) if !dir.as_os_str().is_empty() => dir.to_owned(),
                    _ => std::path::PathBuf::from("."),
                };
                let tmp = tempfile::NamedTempFile::new_in(dir).map_err(io)?;
                let mut out = tokio::fs::File::from_std(tmp.reopen().map_err(io)?);
                let size = c.download_file(peer, id, &mut out, progress).await?;
                out.sync_all().await.map_err(io)?;
                tmp.persist_noclobber(path).map_err(|e| io(e.error))?;
                Ok(size)
            }
            Self::Local(n) => {
                let user = service::resolve(n, peer).await?;
                let id = service::message_id(n, user, id, service::Pick::Any).await?;
                let size = n
                    .save_attachment(user, id, path)
                    .await
                    .map_err(crate::api::model::ApiError::from)?;
                progress(size);
                Ok(size)
            }
        }
    }

    /// The files of every conversation, or of `peer`'s.
    pub(crate) async fn files(
        &self,
        peer: Option<&str>,
    ) -> Result<crate::api::model::FilesPage, CliError> {
        match self {
            Self::Daemon(c) => Ok(c.files(peer).await?),
            Self::Local(n) => Ok(service::files(n, peer).await?),
        }
    }

    pub(crate) async fn edit(&self, peer: &str, id: &str, text: &str) -> Result<Changed, CliError> {
        match self {
            Self::Daemon(c) => Ok(c.edit(peer, id, text).await?),
            Self::Local(n) => Ok(service::edit(n, peer, id, text.into()).await?),
        }
    }

    pub(crate) async fn delete_message(
        &self,
        peer: &str,
        id: &str,
        for_everyone: bool,
    ) -> Result<Changed, CliError> {
        match self {
            Self::Daemon(c) => Ok(c.delete_message(peer, id, for_everyone).await?),
            Self::Local(n) => Ok(service::delete_message(n, peer, id, for_everyone).await?),
        }
    }

    pub(crate) async fn react(
        &self,
        peer: &str,
        id: &str,
        emoji: &str,
    ) -> Result<Changed, CliError> {
        match self {
            Self::Daemon(c) => Ok(c.react(peer, id, emoji).await?),
            Self::Local(n) => Ok(service::react(n, peer, id, emoji.into()).await?),
        }
    }

    pub(crate) async fn edit_history(
        &self,
        peer: &str,
        id: &str,
    ) -> Result<Vec<EditView>, CliError> {
        match self {
            Self::Daemon(c) => Ok(c.edit_history(peer, id).await?),
            Self::Local(n) => Ok(service::edit_history(n, peer, id).await?),
        }
    }

    pub(crate) async fn contacts(&self) -> Result<Vec<ContactView>, CliError> {
        match self {
            Self::Daemon(c) => Ok(c.contacts().await?),
            Self::Local(n) => Ok(service::contacts(n).await?),
        }
    }

    pub(crate) async fn contact(&self, peer: &str) -> Result<ContactView, CliError> {
        match self {
            Self::Daemon(c) => Ok(c.contact(peer).await?),
            Self::Local(n) => Ok(service::contact(n, peer).await?),
        }
    }

    pub(crate) async fn add_contact(&self, new: NewContact) -> Result<ContactView, CliError> {
        match self {
            Self::Daemon(c) => Ok(c.add_contact(&new).await?),
            Self::Local(n) => Ok(service::add_contact(n, new).await?),
        }
    }

    pub(crate) async fn remove_contact(&self, peer: &str) -> Result<(), CliError> {
        match self {
            Self::Daemon(c) => Ok(c.remove_contact(peer).await?),
            Self::Local(n) => Ok(service::remove_contact(n, peer).await?),
        }
    }

    pub(crate) async fn verify_contact(
        &self,
        peer: &str,
        verified: bool,
    ) -> Result<ContactView, CliError> {
        match self {
            Self::Daemon(c) => Ok(c.verify_contact(peer, verified).await?),
            Self::Local(n) => Ok(service::verify_contact(n, peer, verified).await?),
        }
    }

    pub(crate) async fn set_identity_policy(
        &self,
        peer: &str,
        policy: &str,
    ) -> Result<IdentityView, CliError> {
        match self {
            Self::Daemon(c) => Ok(c.set_identity_policy(peer, policy).await?),
            Self::Local(n) => Ok(service::set_identity_policy(n, peer, policy).await?),
        }
    }

    pub(crate) async fn rotate_identity_key(&self) -> Result<Identity, CliError> {
        match self {
            Self::Daemon(c) => Ok(c.rotate_identity_key().await?),
            Self::Local(n) => Ok(service::rotate_identity_key(n).await?),
        }
    }

    pub(crate) async fn chats(
        &self,
        limit: Option<usize>,
        cursor: Option<&str>,
        archived: bool,
    ) -> Result<ChatsPage, CliError> {
        match self {
            Self::Daemon(c) => Ok(c.chats(limit, cursor, archived).await?),
            Self::Local(n) => Ok(service::chats(n, limit, cursor, archived).await?),
        }
    }

    pub(crate) async fn search(&self, query: SearchQuery) -> Result<SearchResults, CliError> {
        match self {
            Self::Daemon(c) => Ok(c.search(&query).await?),
            Self::Local(n) => Ok(service::search(n, query).await?),
        }
    }

    pub(crate) async fn profile(&self) -> Result<ProfileView, CliError> {
        match self {
            Self::Daemon(c) => Ok(c.profile().await?),
            Self::Local(n) => Ok(service::profile(n).await?),
        }
    }

    pub(crate) async fn set_profile(&self, profile: ProfileView) -> Result<ProfileSet, CliError> {
        match self {
            Self::Daemon(c) => Ok(c.set_profile(&profile).await?),
            Self::Local(n) => Ok(service::set_profile(n, profile).await?),
        }
    }

    pub(crate) async fn sharing(&self) -> Result<SharingView, CliError> {
        match self {
            Self::Daemon(c) => Ok(c.sharing().await?),
            Self::Local(n) => Ok(n
                .sharing()
                .await
                .map_err(crate::api::model::ApiError::from)?
                .into()),
        }
    }

    pub(crate) async fn set_sharing(&self, sharing: SharingView) -> Result<SharingView, CliError> {
        match self {
            Self::Daemon(c) => Ok(c.set_sharing(&sharing).await?),
            Self::Local(n) => Ok(n
                .set_sharing(sharing.into())
                .await
                .map_err(crate::api::model::ApiError::from)?
                .into()),
        }
    }

    pub(crate) async fn set_chat(
        &self,
        peer: &str,
        settings: ChatSettingsRequest,
    ) -> Result<ChatView, CliError> {
        match self {
            Self::Daemon(c) => Ok(c.set_chat(peer, &settings).await?),
            Self::Local(n) => Ok(service::set_chat(n, peer, settings).await?),
        }
    }

    pub(crate) async fn history(
        &self,
        peer: &str,
        limit: Option<usize>,
        before: Option<&str>,
    ) -> Result<HistoryPage, CliError> {
        match self {
            Self::Daemon(c) => Ok(c.history(peer, limit, before).await?),
            Self::Local(n) => {
                Ok(service::history(n, peer, limit, before.map(str::to_owned)).await?)
            }
        }
    }

    pub(crate) async fn mark_read(&self, peer: &str) -> Result<Marked, CliError> {
        match self {
            Self::Daemon(c) => Ok(c.mark_read(peer).await?),
            Self::Local(n) => Ok(service::mark_read(n, peer).await?),
        }
    }
}

impl Backend {
    pub(crate) async fn requests(&self) -> Result<Vec<RequestView>, CliError> {
        match self {
            Self::Daemon(c) => Ok(c.requests().await?),
            Self::Local(n) => Ok(service::requests(n).await?),
        }
    }

    pub(crate) async fn accept_request(&self, peer: &str) -> Result<(), CliError> {
        match self {
            Self::Daemon(c) => Ok(c.accept_request(peer).await?),
            Self::Local(n) => Ok(service::accept_request(n, peer).await?),
        }
    }

    pub(crate) async fn delete_chat(&self, peer: &str) -> Result<Deleted, CliError> {
        match self {
            Self::Daemon(c) => Ok(c.delete_chat(peer).await?),
            Self::Local(n) => Ok(service::delete_chat(n, peer).await?),
        }
    }

    pub(crate) async fn blocked(&self) -> Result<Vec<BlockedView>, CliError> {
        match self {
            Self::Daemon(c) => Ok(c.blocked().await?),
            Self::Local(n) => Ok(service::blocked(n).await?),
        }
    }

    pub(crate) async fn block(&self, peer: &str, blocked: bool) -> Result<(), CliError> {
        match self {
            Self::Daemon(c) => Ok(c.block(peer, blocked).await?),
            Self::Local(n) => Ok(service::block(n, peer, blocked).await?),
        }
    }
}

/// Runs `work` on a backend and closes it, also when `work` fails.
pub(crate) async fn with<T>(
    context: &Context,
    need: Need,
    work: impl AsyncFnOnce(&Backend) -> Result<T, CliError>,
) -> Result<T, CliError> {
    let backend = Backend::open(context, need).await?;
    let outcome = work(&backend).await;
    backend.close().await;
    outcome
}
