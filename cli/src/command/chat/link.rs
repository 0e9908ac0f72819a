//! The chat screen's connection to the daemon. It survives daemon restarts: it reconnects
//! (re-reading the profile's api.addr, since a restarted daemon may listen elsewhere) and
//! resumes the event WebSocket after the last cursor it saw, so no event is missed or repeated.
//! It follows a 1:1 chat or a group: the history it loads and what it refreshes differ.

use std::time::Duration;

use futures::StreamExt;
use tokio::sync::mpsc;

use crate::{
    api::{
        CallError, Client,
        model::{ChatView, EventView, GroupMessageView, GroupView, HistoryPage, StatusView},
    },
    profile::Profile,
};

/// How much scrollback the screen loads when it opens.
const SCROLLBACK: usize = 200;
/// Most chats the conversation list shows.
const CHAT_LIST: usize = 100;
/// How often the status line's peer and relay information is refreshed.
const STATUS_EVERY: Duration = Duration::from_secs(3);
/// Reconnection backoff bounds: quick enough to notice a restarted daemon at once, slow
/// enough not to spin while none runs.
const RETRY_MIN: Duration = Duration::from_millis(200);
const RETRY_MAX: Duration = Duration::from_secs(3);

/// The chats the screens switch through: the first page of 1:1 chats, then the groups we
/// are in, each as `#name` with its member count.
pub(crate) async fn chat_list(client: &Client) -> Result<Vec<ChatView>, CallError> {
    let page = client.chats(Some(CHAT_LIST), None, false).await?;
    let mut chats = page.chats;
    chats.extend(page.groups.into_iter().map(|g| {
        let name = format!("#{}", g.group.name);
        let members = t!("group-member-count", count = g.group.members.len());
        let (last_ms, last_text) = match &g.last {
            Some(m) => (
                m.sent_at_ms,
                format!("{members} · {}", crate::output::group_body(m, None)),
            ),
            None => (0, members),
        };
        let g = g.group;
        ChatView {
            peer: name.clone(),
            name: Some(name),
            last_ms,
            last_text,
            unread: g.unread,
            muted_until_ms: None,
            archived: false,
            pinned: false,
            disappear_secs: None,
            auto_download: None,
            profile: None,
            typing: false,
            presence: None,
            identity: Default::default(),
        }
    }));
    Ok(chats)
}

/// The conversation a link follows.
#[derive(Debug, Clone)]
pub(crate) enum Conversation {
    /// The 1:1 chat with this address.
    Peer(String),
    /// The group with this id.
    Group(String),
}

/// What the link tells the screen.
#[derive(Debug)]
pub(crate) enum Report {
    /// Connected (again) to a daemon.
    Connected(Client),
    /// The daemon went away; the link keeps trying.
    Disconnected(String),
    /// The conversation's newest messages, on the first connection.
    History(HistoryPage),
    /// A group's newest messages, on the first connection, oldest first.
    GroupHistory(Vec<GroupMessageView>),
    /// The group, fresh (members, roles, name).
    Group(GroupView),
    /// An event.
    Event(EventView),
    /// Fresh status.
    Status(StatusView),
    /// The chat list, fresh.
    Chats(Vec<ChatView>),
    /// Sending a message failed; the text goes back into the input line.
    SendFailed(String, String),
    /// Something to tell the user on the status line (a command's outcome).
    Notice(String),
    /// What a `/search` found in the open chat.
    Found(super::search::Matches),
}

impl Report {
    /// Keeps `sender`, the client a screen sends with, to the daemon the link is connected
    /// to: a new one on connecting, none while the daemon is away.
    pub(crate) fn track(&self, sender: &mut Option<Client>) {
        match self {
            Self::Connected(client) => *sender = Some(client.clone()),
            Self::Disconnected(_) => *sender = None,
            _ => {}
        }
    }
}

pub(crate) async fn run(
    profile: Profile,
    conversation: Conversation,
    reports: mpsc::Sender<Report>,
) {
    let mut cursor: Option<String> = None;
    let mut retry = RETRY_MIN;
    let mut loaded = false;
    loop {
        let client = match Client::connect(&profile).await {
            Ok(Some(client)) => client,
            Ok(None) => {
                let _ = reports
                    .send(Report::Disconnected(t!("chat-no-daemon")))
                    .await;
                tokio::time::sleep(retry).await;
                retry = (retry * 2).min(RETRY_MAX);
                continue;
            }
            Err(e) => {
                let _ = reports.send(Report::Disconnected(e.to_string())).await;
                tokio::time::sleep(retry).await;
                retry = (retry * 2).min(RETRY_MAX);
                continue;
            }
        };
        // Subscribe first, then read history: whatever happens in between arrives as events
        // (the screen ignores messages it already has).
        let after = cursor.clone().unwrap_or_else(|| "latest".into());
        let mut events = match client.events(Some(&after)).await {
            Ok(events) => events,
            Err(e) => {
                let _ = reports.send(Report::Disconnected(e.to_string())).await;
                tokio::time::sleep(retry).await;
                retry = (retry * 2).min(RETRY_MAX);
                continue;
            }
        };
        retry = RETRY_MIN;
        if reports
            .send(Report::Connected(client.clone()))
            .await
            .is_err()
        {
            return;
        }
        if !loaded {
            let history = match &conversation {
                Conversation::Peer(peer) => client
                    .history(peer, Some(SCROLLBACK), None)
                    .await
                    .map(Report::History),
                Conversation::Group(id) => client
                    .group_messages(id, Some(SCROLLBACK))
                    .await
                    .map(Report::GroupHistory),
            };
            match history {
                Ok(history) => {
                    loaded = true;
                    if reports.send(history).await.is_err() {
                        return;
                    }
                }
                Err(e) => {
                    let _ = reports.send(Report::Disconnected(e.to_string())).await;
                    continue;
                }
            }
        }
        let mut status_every = tokio::time::interval(STATUS_EVERY);
        let reason = loop {
            tokio::select! {
                frame = events.next() => match frame {
                    Some(Ok(frame)) => {
                        cursor = Some(frame.cursor);
                        if reports.send(Report::Event(frame.event)).await.is_err() {
                            return;
                        }
                    }
                    Some(Err(e)) => break e.to_string(),
                    None => break t!("chat-daemon-closed"),
                },
                _ = status_every.tick() => match client.status().await {
                    Ok(status) => {
                        if reports.send(Report::Status(status)).await.is_err() {
                            return;
                        }
                        let fresh = match &conversation {
                            Conversation::Peer(_) => chat_list(&client).await.map(Report::Chats),
                            Conversation::Group(id) => client.group(id).await.map(Report::Group),
                        };
                        if let Ok(fresh) = fresh
                            && reports.send(fresh).await.is_err()
                        {
                            return;
                        }
                    }
                    Err(e) => break e.to_string(),
                },
            }
        };
        if reports.send(Report::Disconnected(reason)).await.is_err() {
            return;
        }
    }
}
