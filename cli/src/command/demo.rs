//! `tern demo`: a whole Tern network on this machine, in one command.
//!
//! A relay and two users, Alice and Bob, each a real node (real libp2p over loopback TCP,
//! real RocksDB databases) in a temporary directory that is removed at the end. The script
//! shows direct delivery with receipts, Bob going offline, Alice's messages and a file waiting
//! sealed at the relay, Bob coming back and receiving each exactly once (the file verified,
//! from the relay and Alice's device at once), and the read receipts flowing back. Then a stranger writes to Bob: the message lands in his message requests, not his
//! chats, and once Bob blocks the stranger, the next message is refused.

mod group;

use std::{
    collections::HashSet,
    io::Write,
    path::Path,
    time::{Duration, Instant},
};

use anyhow::{Context as _, anyhow, bail};
use futures::StreamExt;
use serde::Serialize;
use tern_node::{DeliveryState, Event, EventStream, KdfParams, MessageId, Node};

use super::Context;
use crate::error::CliError;

/// How long any one step may take before the demo gives up. Every step is local; this only
/// stops a broken build from hanging forever.
const STEP_TIMEOUT: Duration = Duration::from_secs(60);

/// A group's admins move its log after 2 s without an answer from its relays, instead of an
/// hour, so that the demo shows it; members follow after 2 s more.
const DEMO_FAILOVER: tern_node::GroupFailover = tern_node::GroupFailover {
    after: Duration::from_secs(2),
    stagger: Duration::from_secs(2),
    settle: Duration::from_secs(2),
};

/// Run a whole Tern network on this machine and watch it work.
///
/// A relay and two users chat; one goes offline and gets its messages later, exactly once; a
/// stranger's message is a request, and a blocked stranger is refused.
///
/// Everything runs on 127.0.0.1 in a temporary directory, removed at the end. Nothing to set
/// up, nothing left behind.
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  tern demo
  tern demo --json | jq '.[] | .actor + \": \" + .text'")]
pub(crate) struct Demo {}

/// One line of the transcript.
#[derive(Debug, Clone, Serialize)]
struct Step {
    /// Milliseconds since the demo started.
    at_ms: u64,
    /// Who acts: relay, alice, bob, or demo.
    actor: &'static str,
    /// What happened.
    text: String,
}

struct Transcript {
    start: Instant,
    steps: Vec<Step>,
    live: bool,
}

impl Transcript {
    fn say(&mut self, actor: &'static str, text: impl Into<String>) -> std::io::Result<()> {
        let step = Step {
            at_ms: u64::try_from(self.start.elapsed().as_millis()).unwrap_or(u64::MAX),
            actor,
            text: text.into(),
        };
        if self.live {
            let mut out = std::io::stdout().lock();
            writeln!(
                out,
                "[{:6.2}s] {:6} {}",
                step.at_ms as f64 / 1000.0,
                step.actor,
                step.text
            )?;
            out.flush()?;
        }
        self.steps.push(step);
        Ok(())
    }
}

impl Demo {
    pub(crate) async fn run(self, context: &Context) -> Result<(), CliError> {
        let dir = tempfile::Builder::new()
            .prefix("tern-demo-")
            .tempdir()
            .context("creating a temporary directory")?;
        let mut transcript = Transcript {
            start: Instant::now(),
            steps: Vec::new(),
            live: !context.out.is_json(),
        };
        if transcript.live {
            let mut out = std::io::stdout().lock();
            let dir = dir.path().display().to_string();
            writeln!(out, "{}\n", t!("demo-intro", dir = dir))?;
        }
        let outcome = script(dir.path(), &mut transcript).await;
        let location = dir.path().display().to_string();
        // Remove everything, also after a failure.
        remove(dir.keep()).await?;
        outcome?;
        let total = transcript.start.elapsed();
        context.out.emit(&transcript.steps, |out| {
            let seconds = format!("{:.1}", total.as_secs_f64());
            let done = t!("demo-done", seconds = seconds, dir = location.as_str());
            writeln!(out, "\n{done}")?;
            writeln!(out, "{}", t!("demo-next"))
        })
    }
}

/// Removes the demo's directory. The databases' last background writes (RocksDB finishing
/// its close on a blocking thread) can land just after the nodes report they stopped, so a
/// removal that races one is tried again for a short while.
async fn remove(dir: std::path::PathBuf) -> anyhow::Result<()> {
    let mut attempts = 0;
    loop {
        match std::fs::remove_dir_all(&dir) {
            Ok(()) => return Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) if attempts < 50 => {
                attempts += 1;
                tracing::debug!(error = %e, "retrying the removal of {}", dir.display());
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            Err(e) => {
                return Err(e).with_context(|| format!("removing {}", dir.display()));
            }
        }
    }
}

async fn script(dir: &Path, t: &mut Transcript) -> anyhow::Result<()> {
    let relay = tern_relay::Relay::spawn(
        tern_relay::Config::new(dir.join("relay")).with_listen_addr("/ip4/127.0.0.1/tcp/0"),
    )
    .await
    .context("starting the relay")?;
    let relay_address = relay
        .addresses()
        .await
        .into_iter()
        .next()
        .ok_or_else(|| anyhow!("the relay has no address"))?;
    t.say(
        "relay",
        t!("demo-relay-listening", address = relay_address.as_str()),
    )?;

    let (mut nodes, mut more_relays) = (Vec::new(), Vec::new());
    let result = chat(
        dir,
        &relay,
        &relay_address,
        (&mut nodes, &mut more_relays),
        t,
    )
    .await;
    // Stop everything, also after a failure, so the directory can be removed.
    for node in nodes {
        node.shutdown().await;
    }
    for relay in more_relays.into_iter().chain([relay]) {
        relay.shutdown().await;
    }
    result
}

async fn chat(
    dir: &Path,
    relay: &tern_relay::Relay,
    relay_address: &str,
    (nodes, more_relays): (&mut Vec<Node>, &mut Vec<tern_relay::Relay>),
    t: &mut Transcript,
) -> anyhow::Result<()> {
    let alice = user(&dir.join("alice"), relay_address, true).await?;
    nodes.push(alice.clone());
    t.say(
        "alice",
        t!("demo-created", address = alice.user_id().to_string()),
    )?;
    let bob = user(&dir.join("bob"), relay_address, true).await?;
    nodes.push(bob.clone());
    t.say(
        "bob",
        t!("demo-created", address = bob.user_id().to_string()),
    )?;
    let (a, b) = (alice.user_id(), bob.user_id());
    alice.add_contact("bob", b).await?;
    bob.add_contact("alice", a).await?;
    t.say("demo", t!("demo-swap"))?;
    let mut alice_events = alice.events(tern_node::From::Oldest);
    let mut bob_events = bob.events(tern_node::From::Oldest);

    // Online: direct delivery, with receipts.
    let text = t!("demo-text-hello");
    let hello = alice.send(b, &text).await?;
    t.say(
        "alice",
        t!("demo-send-queued", to = "bob", text = format!("{text:?}")),
    )?;
    let got = received(&mut bob_events, &[hello]).await?;
    t.say(
        "bob",
        t!(
            "demo-received",
            from = "alice",
            text = format!("{:?}", got[0])
        ),
    )?;
    reached(&mut alice_events, &[hello], DeliveryState::Delivered).await?;
    t.say("alice", t!("demo-delivered-first"))?;
    let text = t!("demo-text-answer");
    let reply = bob.send(a, &text).await?;
    t.say(
        "bob",
        t!("demo-send", to = "alice", text = format!("{text:?}")),
    )?;
    let got = received(&mut alice_events, &[reply]).await?;
    t.say(
        "alice",
        t!(
            "demo-received",
            from = "bob",
            text = format!("{:?}", got[0])
        ),
    )?;
    reached(&mut bob_events, &[reply], DeliveryState::Delivered).await?;
    t.say("bob", t!("demo-delivered"))?;

    // Bob goes offline; Alice's messages wait, sealed, at the relay.
    drop(bob_events);
    bob.shutdown().await;
    t.say("bob", t!("demo-offline"))?;
    let texts = [
        t!("demo-text-there"),
        t!("demo-text-meeting"),
        t!("demo-text-slides"),
    ];
    let mut ids = Vec::new();
    for text in &texts {
        ids.push(alice.send(b, text).await?);
        t.say(
            "alice",
            t!("demo-send", to = "bob", text = format!("{text:?}")),
        )?;
    }
    stored(&mut alice_events, &ids).await?;
    t.say("alice", t!("demo-stored"))?;
    let metrics = relay.metrics().await;
    t.say(
        "relay",
        t!(
            "demo-relay-holds",
            count = metrics.stored_messages,
            bytes = metrics.stored_bytes
        ),
    )?;
    t.say(
        "relay",
        t!("demo-relay-streams", count = metrics.deposit_streams),
    )?;
    let slides = offline_file(&alice, b, relay, t).await?;

    // Bob comes back: his node collects from the relay, once each, in order.
    let bob = user(&dir.join("bob"), relay_address, false).await?;
    nodes.push(bob.clone());
    t.say("bob", t!("demo-back"))?;
    let mut bob_events = bob.events(tern_node::From::Oldest);
    let got = received(&mut bob_events, &ids).await?;
    for text in &got {
        t.say(
            "bob",
            t!("demo-received", from = "alice", text = format!("{text:?}")),
        )?;
    }
    if got != texts {
        bail!("bob received {got:?}, expected {texts:?}");
    }
    t.say("bob", t!("demo-received-all", count = 3))?;
    fetched_from_relay(&bob, a, &slides, relay, &mut bob_events, t).await?;
    reached(&mut alice_events, &ids, DeliveryState::Delivered).await?;
    t.say("alice", t!("demo-delivered-times", count = 3))?;
    let marked = bob.mark_read(a).await?;
    t.say("bob", t!("demo-reads", count = marked))?;
    reached(&mut alice_events, &ids, DeliveryState::Read).await?;
    t.say("alice", t!("demo-read-times", count = 3))?;
    let left = relay.metrics().await;
    t.say(
        "relay",
        t!("demo-relay-emptied", count = left.stored_messages),
    )?;
    if left.collect_streams > 0 {
        t.say("relay", t!("demo-relay-collected"))?;
    }
    conversation(&alice, &bob, &ids, &mut alice_events, &mut bob_events, t).await?;
    group::group(dir, relay_address, &alice, &bob, (nodes, more_relays), t).await?;
    stranger(dir, relay_address, &bob, nodes, t).await
}

/// A stranger writes to Bob: a message request, which Bob answers by blocking.
async fn stranger(
    dir: &Path,
    relay_address: &str,
    bob: &Node,
    nodes: &mut Vec<Node>,
    t: &mut Transcript,
) -> anyhow::Result<()> {
    let mallory = user(&dir.join("mallory"), relay_address, true).await?;
    nodes.push(mallory.clone());
    let (m, b) = (mallory.user_id(), bob.user_id());
    t.say("mallory", t!("demo-stranger", address = m.to_string()))?;
    let mut bob_events = bob.events(tern_node::From::Now);
    let mut mallory_events = mallory.events(tern_node::From::Oldest);
    let text = t!("demo-text-prize");
    mallory.send(b, &text).await?;
    t.say(
        "mallory",
        t!("demo-send", to = "bob", text = format!("{text:?}")),
    )?;
    loop {
        match next_event(&mut bob_events).await? {
            Event::RequestReceived(message) if message.peer == m => break,
            Event::MessageReceived(message) if message.peer == m => {
                bail!("a stranger's message reached bob's chats")
            }
            _ => {}
        }
    }
    let requests = bob.requests().await?;
    t.say("bob", t!("demo-request", count = requests.len()))?;
    bob.block(m).await?;
    t.say("bob", t!("demo-blocks"))?;
    let last = t!("demo-text-last");
    let again = mallory.send(b, &last).await?;
    loop {
        if let Event::DeliveryStateChanged { id, state, .. } =
            next_event(&mut mallory_events).await?
            && id == again
        {
            match state {
                DeliveryState::Failed => break,
                DeliveryState::Delivered | DeliveryState::Read => {
                    bail!("a blocked stranger's message was accepted")
                }
                _ => {}
            }
        }
    }
    t.say("mallory", t!("demo-refused", text = format!("{last:?}")))?;
    Ok(())
}

/// A user's node on loopback, with its mailbox at the relay.
async fn user(dir: &Path, relay: &str, create: bool) -> anyhow::Result<Node> {
    Node::builder(dir)
        .with_passphrase("demo")
        // A throw-away account in a temporary directory: a light key derivation keeps the
        // demo quick. Real accounts use the default, deliberately slow one.
        .with_kdf_params(KdfParams::new(1024, 1, 1).map_err(|e| anyhow!("{e}"))?)
        .with_listen_addr("/ip4/127.0.0.1/tcp/0")
        .with_mdns(false)
        .with_dht_server(true)
        .with_relay(relay)
        .with_group_failover(DEMO_FAILOVER)
        .create_account(create)
        .spawn()
        .await
        .context("starting a node")
}

async fn next_event(events: &mut EventStream) -> anyhow::Result<Event> {
    match tokio::time::timeout(STEP_TIMEOUT, events.next()).await {
        Ok(Some((_, event))) => Ok(event),
        Ok(None) => bail!("a node stopped unexpectedly"),
        Err(_) => bail!("nothing happened for {} s", STEP_TIMEOUT.as_secs()),
    }
}

/// Waits until the messages `ids` arrived; returns their texts in arrival order. Fails on a
/// duplicate.
/// A reply, a reaction, an edit and a delete for everyone, each as the other side sees it.
async fn conversation(
    alice: &Node,
    bob: &Node,
    ids: &[MessageId],
    alice_events: &mut EventStream,
    bob_events: &mut EventStream,
    t: &mut Transcript,
) -> anyhow::Result<()> {
    let (a, b) = (alice.user_id(), bob.user_id());
    let (meeting, slides) = (ids[1], ids[2]);
    let text = t!("demo-text-works");
    let answer = bob.reply(a, meeting, &text).await?;
    t.say(
        "bob",
        t!(
            "demo-reply",
            original = format!("{:?}", t!("demo-text-meeting")),
            text = format!("{text:?}")
        ),
    )?;
    received(alice_events, &[answer]).await?;
    let page = alice.history(b, 1, None).await?;
    if page.messages.last().and_then(|m| m.reply_to) != Some(meeting) {
        bail!("alice does not see bob's message as a reply");
    }
    t.say("alice", t!("demo-reply-seen"))?;
    alice.react(b, answer, "👍").await?;
    t.say("alice", t!("demo-react", emoji = "👍"))?;
    until(
        bob_events,
        |e| matches!(e, Event::ReactionChanged { id, emoji: Some(_), .. } if *id == answer),
    )
    .await?;
    t.say("bob", t!("demo-react-seen", emoji = "👍"))?;
    let text = t!("demo-text-meeting-edited");
    alice.edit(b, meeting, &text).await?;
    t.say("alice", t!("demo-edit", text = format!("{text:?}")))?;
    until(
        bob_events,
        |e| matches!(e, Event::MessageEdited { id, .. } if *id == meeting),
    )
    .await?;
    let versions = bob.edit_history(a, meeting).await?;
    t.say(
        "bob",
        t!(
            "demo-edit-seen",
            text = format!("{text:?}"),
            count = versions.len()
        ),
    )?;
    alice.delete(b, slides).await?;
    t.say(
        "alice",
        t!(
            "demo-delete",
            text = format!("{:?}", t!("demo-text-slides"))
        ),
    )?;
    until(
        bob_events,
        |e| matches!(e, Event::MessageDeleted { id, for_everyone: true, .. } if *id == slides),
    )
    .await?;
    t.say("bob", t!("demo-tombstone"))?;
    file(alice, bob, bob_events, t).await?;

    // A profile for contacts only, and disappearing messages.
    alice.set_profile("Alice", t!("demo-text-status")).await?;
    t.say("alice", t!("demo-profile", name = "Alice"))?;
    until(
        bob_events,
        |e| matches!(e, Event::ProfileChanged { peer, .. } if *peer == a),
    )
    .await?;
    t.say("bob", t!("demo-profile-seen", name = "Alice"))?;
    let hour = Duration::from_secs(3600);
    let notice = alice.set_disappearing(b, Some(hour)).await?;
    t.say("alice", t!("demo-timer"))?;
    received(bob_events, &[notice]).await?;
    let text = t!("demo-text-secret");
    let secret = alice.send(b, &text).await?;
    received(bob_events, &[secret]).await?;
    let page = bob.history(a, 1, None).await?;
    if page.messages.last().and_then(|m| m.disappear_secs) != Some(3600) {
        bail!("bob's copy does not disappear");
    }
    t.say("bob", t!("demo-timer-seen", text = format!("{text:?}")))?;

    // A new identity key behind the same address, under Alice's strictest policy.
    alice
        .set_identity_policy(b, tern_node::IdentityPolicy::Block)
        .await?;
    t.say("alice", t!("demo-policy"))?;
    bob.rotate_identity_key().await?;
    t.say("bob", t!("demo-rotate"))?;
    let hello = bob.send(a, t!("demo-text-new-key")).await?;
    until(
        alice_events,
        |e| matches!(e, Event::IdentityChanged { peer, held: true, .. } if *peer == b),
    )
    .await?;
    received(alice_events, &[hello]).await?;
    t.say("alice", t!("demo-rotate-seen"))?;
    let checked = alice.send(b, t!("demo-text-checked")).await?;
    alice.verify_contact(b, true).await?;
    t.say("alice", t!("demo-reverify"))?;
    received(bob_events, &[checked]).await?;
    t.say("bob", t!("demo-released"))?;
    Ok(())
}

/// A photo: encrypted on Alice's device, fetched from it by Bob's node in verified 16 KiB
/// groups, and readable only once the whole file checked out.
async fn file(
    alice: &Node,
    bob: &Node,
    bob_events: &mut EventStream,
    t: &mut Transcript,
) -> anyhow::Result<()> {
    let (a, b) = (alice.user_id(), bob.user_id());
    let photo: Vec<u8> = (0..2_000_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
        .collect();
    let name = "photo.jpg";
    let blurhash = "LEHV6nWB2yk8pyo0adR*.7kCMdnj";
    let file = tern_node::OutgoingFile::from_bytes(name, photo.clone())
        .with_thumbnail(tern_node::Thumbnail::Blurhash(blurhash.into()));
    let id = alice
        .send_attachment(b, file, t!("demo-text-photo"))
        .await?;
    let size = crate::output::size(photo.len() as u64);
    t.say("alice", t!("demo-file", name = name, size = size.as_str()))?;
    until(
        bob_events,
        |e| matches!(e, Event::MessageReceived(m) if m.id == id),
    )
    .await?;
    // What a client shows while the photo is on its way.
    let preview = bob.attachment_preview(a, id).await?;
    if preview.thumbnail != Some(tern_node::Thumbnail::Blurhash(blurhash.into())) {
        bail!("bob's preview of the photo differs");
    }
    t.say("bob", t!("demo-file-preview", name = name))?;
    until(bob_events, |e| {
        matches!(e, Event::AttachmentChanged { id: i, state: tern_node::AttachmentState::Ready, .. } if *i == id)
    })
    .await?;
    let mut reader = bob.open_attachment(a, id).await?;
    let same = tokio::task::spawn_blocking(move || {
        let mut copy = Vec::new();
        std::io::Read::read_to_end(&mut reader, &mut copy).map(|_| copy == photo)
    })
    .await??;
    if !same {
        bail!("bob's copy of the photo differs");
    }
    t.say(
        "bob",
        t!("demo-file-seen", name = name, size = size.as_str()),
    )?;
    Ok(())
}

/// A file for offline Bob: a copy goes to his relay with the message, encrypted, and Alice's
/// device is no longer needed for it.
async fn offline_file(
    alice: &Node,
    bob: tern_node::UserId,
    relay: &tern_relay::Relay,
    t: &mut Transcript,
) -> anyhow::Result<(MessageId, Vec<u8>)> {
    let slides: Vec<u8> = (0..1_500_000u32)
        .map(|i| (i.wrapping_mul(2_246_822_519) >> 24) as u8)
        .collect();
    let name = "slides.pdf";
    let id = alice
        .send_attachment(
            bob,
            tern_node::OutgoingFile::from_bytes(name, slides.clone()).with_mime("application/pdf"),
            t!("demo-text-slides-file"),
        )
        .await?;
    let size = crate::output::size(slides.len() as u64);
    t.say(
        "alice",
        t!("demo-file-offline", name = name, size = size.as_str()),
    )?;
    tokio::time::timeout(Duration::from_secs(60), async {
        while relay.metrics().await.blobs.uploads == 0 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .map_err(|_| anyhow!("the relay never held the file"))?;
    let held = relay.metrics().await.blobs;
    t.say(
        "relay",
        t!(
            "demo-relay-holds-file",
            count = held.held,
            bytes = held.bytes
        ),
    )?;
    Ok((id, slides))
}

/// Bob, back, gets the file, verified, from his relay and Alice's device at once, and it is
/// the one Alice sent.
async fn fetched_from_relay(
    bob: &Node,
    alice: tern_node::UserId,
    (id, slides): &(MessageId, Vec<u8>),
    relay: &tern_relay::Relay,
    events: &mut EventStream,
    t: &mut Transcript,
) -> anyhow::Result<()> {
    let id = *id;
    until(events, |e| {
        matches!(e, Event::AttachmentChanged { id: i, state: tern_node::AttachmentState::Ready, .. } if *i == id)
    })
    .await?;
    let mut reader = bob.open_attachment(alice, id).await?;
    let expected = slides.clone();
    let same = tokio::task::spawn_blocking(move || {
        let mut copy = Vec::new();
        std::io::Read::read_to_end(&mut reader, &mut copy).map(|_| copy == expected)
    })
    .await??;
    if !same {
        bail!("bob's copy of the slides differs");
    }
    // Alice is still online, so her device and the relay both offer it; each source is
    // asked for its own part.
    let source = if relay.metrics().await.blobs.gets > 0 {
        t!("demo-source-relay")
    } else {
        t!("demo-source-device")
    };
    let size = crate::output::size(slides.len() as u64);
    t.say(
        "bob",
        t!(
            "demo-file-from-relay",
            name = "slides.pdf",
            size = size.as_str(),
            source = source
        ),
    )?;
    Ok(())
}

/// Waits for the first event `pick` accepts.
async fn until(events: &mut EventStream, pick: impl Fn(&Event) -> bool) -> anyhow::Result<()> {
    while !pick(&next_event(events).await?) {}
    Ok(())
}

async fn received(events: &mut EventStream, ids: &[MessageId]) -> anyhow::Result<Vec<String>> {
    let mut texts = Vec::new();
    let mut seen = HashSet::new();
    while seen.len() < ids.len() {
        if let Event::MessageReceived(m) = next_event(events).await?
            && ids.contains(&m.id)
        {
            if !seen.insert(m.id) {
                bail!("message {} arrived twice", m.id);
            }
            texts.push(m.text);
        }
    }
    Ok(texts)
}

/// Waits until every message in `ids` reached `state` (or beyond).
async fn reached(
    events: &mut EventStream,
    ids: &[MessageId],
    state: DeliveryState,
) -> anyhow::Result<()> {
    let mut waiting: HashSet<MessageId> = ids.iter().copied().collect();
    while !waiting.is_empty() {
        if let Event::DeliveryStateChanged { id, state: now, .. } = next_event(events).await?
            && now >= state
            && now != DeliveryState::Failed
        {
            waiting.remove(&id);
        }
    }
    Ok(())
}

/// Waits until every message in `ids` is held by relays.
async fn stored(events: &mut EventStream, ids: &[MessageId]) -> anyhow::Result<()> {
    let mut waiting: HashSet<MessageId> = ids.iter().copied().collect();
    while !waiting.is_empty() {
        match next_event(events).await? {
            Event::DeliveryStateChanged {
                id,
                state: DeliveryState::StoredAtRelays { .. },
                ..
            } => {
                waiting.remove(&id);
            }
            Event::DeliveryStateChanged {
                state: DeliveryState::Failed,
                ..
            } => bail!("a message failed"),
            _ => {}
        }
    }
    Ok(())
}
