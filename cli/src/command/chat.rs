//! `tern chat NAME`: a full-screen conversation.
//!
//! The parts: [`link`] keeps a connection to the daemon (history, the event WebSocket
//! resumed by cursor across daemon restarts, a status and chat-list poll) and reports to the
//! screen through a channel; [`input`] is the line editor; [`list`] is the conversation list
//! to switch chats; [`screen`] holds what is shown and draws it. The loop here feeds keys and
//! link reports to the screen and redraws; switching chats starts a link for the new one.

mod group;
mod input;
mod layout;
mod link;
mod list;
mod screen;
mod search;

use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use ratatui::{
    crossterm::event::{self, Event as TermEvent, KeyEventKind},
    style::{Color, Style},
    text::Span,
};
use tokio::sync::mpsc;

use super::{Context, chats};
use crate::{
    api::{
        Client,
        model::{Delivery, StatusView},
    },
    error::CliError,
    output,
};

/// Chat with a contact or a group, or read a message request, full screen (needs `tern
/// daemon`).
///
/// Scrollback from history, live messages, delivery marks (… queued, ⇡k/R stored at relays,
/// ✓ delivered, ✓✓ read), connection status. Keeps working across daemon restarts.
///
/// Keys: Enter sends; ←/→, Home/End, Backspace/Delete, Ctrl-U, Ctrl-W edit; PgUp/PgDn and
/// ↑/↓ scroll; Esc or Ctrl-C quits. Alt-↑/↓ select a message; then Alt-r replies to it,
/// Alt-e edits it, Alt-d deletes it for everyone (your own), Alt-x deletes it for you,
/// Alt-1…5 react (👍 ❤️ 😂 🎉 😮) and Alt-0 takes your reaction back. Commands typed in the input line: /accept (a message
/// request), /block, /unblock, /delete (the conversation and its messages, then quit).
/// Ctrl-N / Ctrl-P switch to the next or previous chat (your groups come after the 1:1
/// chats), Ctrl-K finds one by name, Ctrl-L shows or hides the chat list (shown by itself on
/// terminals 140 columns wide or more).
///
/// In a group (`tern chat '#family'`): members beside the conversation on wide terminals,
/// joins, leaves, renames and role changes inline, ⇡k/R on your messages as the group's
/// relays take them, then ✓n/m as members receive them and ✓✓n/m as they read them;
/// /add NAME…, /remove NAME, /rename NAME, /admin NAME, /demote NAME, /leave and /members in
/// the input line; Ctrl-N / Ctrl-P switch chats here too.
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  tern chat bob
  tern chat '#family'
  tern chat tern1qz...      (a message request: /accept, /block or /delete it)")]
pub(crate) struct Chat {
    /// Contact name or address, or `#name` of a group.
    peer: String,
}

impl Chat {
    pub(crate) async fn run(self, context: &Context) -> Result<(), CliError> {
        let profile = context.profile.clone();
        let client = Client::connect(&profile)
            .await
            .map_err(|e| CliError::Network(e.to_string()))?
            .ok_or_else(|| CliError::NoDaemon(profile.home().to_path_buf()))?;
        // A 1:1 chat and a group are screens of their own; switching between them (Ctrl-N,
        // Ctrl-P, Ctrl-K) ends one and opens the other.
        let mut chat = self.peer;
        loop {
            let next = if chat.starts_with('#') {
                let group = client.group(&chat).await?;
                group::run(profile.clone(), client.clone(), group).await?
            } else {
                peer_screen(profile.clone(), client.clone(), &chat).await?
            };
            match next {
                Some(next) => chat = next,
                None => return Ok(()),
            }
        }
    }
}

/// Runs the screen of the 1:1 chat with `peer` until the user quits (`None`) or switches to
/// a group (its `#name`).
async fn peer_screen(
    profile: crate::profile::Profile,
    client: Client,
    peer: &str,
) -> Result<Option<String>, CliError> {
    let (mut contact, request) = open(&client, peer).await?;
    let mut screen = screen::Screen::new(contact.clone(), request);

    let (mut reports_tx, mut reports) = mpsc::channel(256);
    let mut link = tokio::spawn(link::run(
        profile.clone(),
        link::Conversation::Peer(contact.address.clone()),
        reports_tx.clone(),
    ));
    let mut keys = Keys::start();

    let mut terminal = ratatui::init();
    let mut outcome = Ok(None);
    let mut sender: Option<Client> = Some(client);
    loop {
        if let Err(e) = terminal.draw(|frame| screen.draw(frame)) {
            outcome = Err(CliError::from(e));
            break;
        }
        tokio::select! {
            input = keys.next() => {
                let Some(input) = input else { break };
                let TermEvent::Key(key) = input else {
                    // A resize: the next draw fits the new size.
                    continue;
                };
                let action = match screen.on_key(key) {
                    screen::Action::SwitchBy(step) => {
                        let here = &contact.address;
                        match list::ChatList::next_from(sender.as_ref(), here, step).await {
                            Some(peer) => screen::Action::Switch(peer),
                            None => screen::Action::None,
                        }
                    }
                    action => action,
                };
                match action {
                    screen::Action::None | screen::Action::SwitchBy(_) => {}
                    screen::Action::Quit => break,
                    screen::Action::Switch(peer) if peer.starts_with('#') => {
                        outcome = Ok(Some(peer));
                        break;
                    }
                    screen::Action::Switch(peer) => {
                        let Some(client) = sender.clone() else {
                            screen.on_report(link::Report::Notice(t!("chat-no-daemon")));
                            continue;
                        };
                        match open(&client, &peer).await {
                            Ok((next, request)) => {
                                // A link of its own for the new chat: nothing the old one
                                // still reports can reach the new screen.
                                link.abort();
                                let (tx, rx) = mpsc::channel(256);
                                (reports_tx, reports) = (tx, rx);
                                link = tokio::spawn(link::run(
                                    profile.clone(),
                                    link::Conversation::Peer(next.address.clone()),
                                    reports_tx.clone(),
                                ));
                                screen = screen.switched(next.clone(), request);
                                contact = next;
                            }
                            Err(e) => screen.on_report(link::Report::Notice(e.to_string())),
                        }
                    }
                    screen::Action::Typing => {
                        // The node sends at most one signal per few seconds, and only
                        // when typing is shared: report every key press.
                        if let Some(client) = sender.clone() {
                            let peer = contact.address.clone();
                            tokio::spawn(async move {
                                let _ = client.typing(&peer, true).await;
                            });
                        }
                    }
                    screen::Action::Command(command) => {
                        let Some(client) = sender.clone() else {
                            screen.on_report(link::Report::Notice(t!("chat-no-daemon")));
                            continue;
                        };
                        let peer = contact.address.clone();
                        let delete = command == screen::Command::Delete;
                        let outcome = match command {
                            screen::Command::Search(words) => {
                                let reports = reports_tx.clone();
                                tokio::spawn(async move {
                                    let found = search::run(&client, &peer, words).await;
                                    let _ = reports.send(found).await;
                                });
                                Ok(())
                            }
                            screen::Command::Accept => client.accept_request(&peer).await,
                            screen::Command::Block => client.block(&peer, true).await,
                            screen::Command::Unblock => client.block(&peer, false).await,
                            screen::Command::Delete => {
                                client.delete_chat(&peer).await.map(|_| ())
                            }
                            screen::Command::Disappear(secs) => {
                                let settings = crate::api::model::ChatSettingsRequest {
                                    disappear_secs: Some(secs),
                                    ..Default::default()
                                };
                                client.set_chat(&peer, &settings).await.map(drop)
                            }
                        };
                        match outcome {
                            Ok(()) if delete => break,
                            Ok(()) => {}
                            Err(e) => screen.on_report(link::Report::Notice(e.to_string())),
                        }
                    }
                    screen::Action::Send(text, reply_to) => {
                        let Some(client) = sender.clone() else {
                            screen.on_report(link::Report::SendFailed(text, t!("chat-no-daemon")));
                            continue;
                        };
                        let to = contact.address.clone();
                        let reports = reports_tx.clone();
                        // The message shows up through its MessageSent event; only a
                        // failure needs reporting here.
                        tokio::spawn(async move {
                            if let Err(e) = client.reply(&to, reply_to.as_deref(), &text).await {
                                let _ = reports
                                    .send(link::Report::SendFailed(text, e.to_string()))
                                    .await;
                            }
                        });
                    }
                    screen::Action::Change(id, change) => {
                        let Some(client) = sender.clone() else {
                            screen.on_report(link::Report::Notice(t!("chat-no-daemon")));
                            continue;
                        };
                        let peer = contact.address.clone();
                        let reports = reports_tx.clone();
                        // The change shows up through its event; only a failure is
                        // reported here.
                        tokio::spawn(async move {
                            let outcome = match change {
                                screen::Change::Edit(text) => client.edit(&peer, &id, &text).await,
                                screen::Change::Delete(everyone) => {
                                    client.delete_message(&peer, &id, everyone).await
                                }
                                screen::Change::React(emoji) => client.react(&peer, &id, &emoji).await,
                            };
                            if let Err(e) = outcome {
                                let _ = reports.send(link::Report::Notice(e.to_string())).await;
                            }
                        });
                    }
                    screen::Action::Save(id) => {
                        let Some(client) = sender.clone() else {
                            screen.on_report(link::Report::Notice(t!("chat-no-daemon")));
                            continue;
                        };
                        let peer = contact.address.clone();
                        let reports = reports_tx.clone();
                        tokio::spawn(async move {
                            let notice = save_file(&client, &peer, &id, |name| {
                                t!("chat-file-fetching", name = name)
                            })
                            .await;
                            let _ = reports.send(link::Report::Notice(notice)).await;
                        });
                    }
                }
            }
            report = reports.recv() => {
                let Some(report) = report else { break };
                report.track(&mut sender);
                screen.on_report(report);
                // Whatever arrived is on screen now: mark it read, which sends the
                // sender its read receipts.
                if screen.take_unread()
                    && let Some(client) = sender.clone()
                {
                    let peer = contact.address.clone();
                    tokio::spawn(async move {
                        let _ = client.mark_read(&peer).await;
                    });
                }
            }
        }
    }
    ratatui::restore();
    link.abort();
    drop(keys);
    outcome
}

/// The contact to open a chat with (or, for an address that is not a contact, a stand-in),
/// and whether the conversation is a message request.
async fn open(
    client: &Client,
    peer: &str,
) -> Result<(crate::api::model::ContactView, bool), CliError> {
    let contact = match client.contact(peer).await {
        Ok(contact) => contact,
        // Not a contact: an address (a message request, or someone to write to).
        Err(e) if e.is_not_found() => {
            let Some(user) = crate::api::service::parse_address(peer) else {
                return Err(e.into());
            };
            let address = user.to_string();
            crate::api::model::ContactView {
                name: chats::short(&address),
                safety_number: String::new(),
                address,
                verified: false,
                profile: None,
                identity: Default::default(),
            }
        }
        Err(e) => return Err(e.into()),
    };
    let request = client
        .requests()
        .await?
        .iter()
        .any(|r| r.peer == contact.address);
    Ok((contact, request))
}

/// Key presses and resizes, read from the terminal on a thread of their own (the read
/// blocks) and handed to the async loop. Dropping it stops the thread.
struct Keys {
    events: mpsc::Receiver<TermEvent>,
    stop: Arc<AtomicBool>,
    reader: Option<std::thread::JoinHandle<()>>,
}

impl Keys {
    fn start() -> Self {
        let (tx, events) = mpsc::channel(64);
        let stop = Arc::new(AtomicBool::new(false));
        let reader = std::thread::spawn({
            let stop = stop.clone();
            move || read_terminal(&tx, &stop)
        });
        Self {
            events,
            stop,
            reader: Some(reader),
        }
    }

    async fn next(&mut self) -> Option<TermEvent> {
        self.events.recv().await
    }
}

impl Drop for Keys {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(reader) = self.reader.take() {
            let _ = reader.join();
        }
    }
}

/// Forwards key presses and resizes from the terminal (a blocking read) to the async loop.
fn read_terminal(events: &mpsc::Sender<TermEvent>, stop: &AtomicBool) {
    while !stop.load(Ordering::Relaxed) {
        // Polling with a timeout lets the thread notice the stop flag.
        match event::poll(Duration::from_millis(100)) {
            Ok(true) => {}
            Ok(false) => continue,
            Err(_) => return,
        }
        match event::read() {
            Ok(TermEvent::Key(key)) if key.kind == KeyEventKind::Release => {}
            Ok(e @ (TermEvent::Key(_) | TermEvent::Resize(..))) => {
                if events.blocking_send(e).is_err() {
                    return;
                }
            }
            Ok(_) => {}
            Err(_) => return,
        }
    }
}

/// How far a message's delivery has come, for keeping the newest of two snapshots: states
/// only move forward.
fn rank(delivery: Delivery) -> u8 {
    match delivery {
        Delivery::Queued => 0,
        Delivery::Stored { stored, .. } => 1 + stored.min(100),
        Delivery::Delivered => 110,
        Delivery::Read => 120,
        Delivery::Failed => 130,
    }
}

/// The time of day of `ms`, as the chat shows it beside a message.
fn clock(ms: u64) -> String {
    let time = output::time(ms);
    time.get(11..).unwrap_or(&time).to_owned()
}

/// The status line's first part: whether the daemon answers.
fn daemon_span(connected: bool) -> Span<'static> {
    if connected {
        Span::styled(
            format!("● {}", t!("chat-daemon")),
            Style::new().fg(Color::Green),
        )
    } else {
        Span::styled(
            format!("○ {}", t!("chat-daemon-offline")),
            Style::new().fg(Color::Red),
        )
    }
}

/// The status line's network part: relays up, peers, the outbox.
fn network_span(status: &StatusView) -> Span<'static> {
    let up = status.relays.iter().filter(|r| r.connected).count();
    Span::raw(format!(
        " · {}",
        t!(
            "chat-network",
            up = up,
            relays = status.relays.len(),
            peers = status.connected_peers,
            outbox = status.outbox
        )
    ))
}

/// The status line's last part: what went wrong last, or a command's outcome.
fn problem_span(problem: &str) -> Span<'static> {
    Span::styled(format!(" · {problem}"), Style::new().fg(Color::Yellow))
}

/// Saves the file of message `id` into the current directory under its own name (with a
/// number added when that is taken), or starts fetching it when it is not here yet; returns
/// what to tell the user.
async fn save_file(
    client: &Client,
    peer: &str,
    id: &str,
    fetching: impl Fn(&str) -> String,
) -> String {
    let file = match client.files(Some(peer)).await {
        Ok(page) => page.files.into_iter().find(|f| f.id == id),
        Err(e) => return e.to_string(),
    };
    let Some(file) = file else {
        return t!("save-no-file", id = id);
    };
    if file.file.state != "ready" {
        return match client.fetch_file(peer, id).await {
            Ok(_) => fetching(&file.file.name),
            Err(e) => e.to_string(),
        };
    }
    let name = super::save::safe_name(&file);
    let mut path = std::path::PathBuf::from(&name);
    let mut n = 1;
    while path.exists() {
        path = std::path::PathBuf::from(format!("{n}-{name}"));
        n += 1;
    }
    let result = async {
        let mut out = tokio::fs::File::create_new(&path)
            .await
            .map_err(|e| e.to_string())?;
        client
            .download_file(peer, id, &mut out, |_| {})
            .await
            .map_err(|e| e.to_string())
    }
    .await;
    match result {
        Ok(_) => t!("chat-file-saved", path = path.display().to_string()),
        Err(e) => {
            let _ = std::fs::remove_file(&path);
            e
        }
    }
}
