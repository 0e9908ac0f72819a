//! The demo's group chat: Alice makes a group with Bob and Carol, Bob writes to it once and
//! both others read it (Carol finds it again by search), Alice sends it a photo that both
//! fetch from the group's relay, then Alice removes Carol, who reads nothing said after that,
//! and moves the group's messages to a second relay, where Bob follows them. When that relay
//! goes down, Alice's node moves them back by itself, and Bob follows again.

use anyhow::{Context as _, bail};
use tern_node::{Direction, Event, EventStream, GroupEvent, GroupId, Node, SearchHit};

use super::{Transcript, next_event, user};

pub(super) async fn group(
    dir: &std::path::Path,
    relay_address: &str,
    alice: &Node,
    bob: &Node,
    (nodes, more_relays): (&mut Vec<Node>, &mut Vec<tern_relay::Relay>),
    t: &mut Transcript,
) -> anyhow::Result<()> {
    let carol = user(&dir.join("carol"), relay_address, true).await?;
    nodes.push(carol.clone());
    t.say(
        "carol",
        t!("demo-created", address = carol.user_id().to_string()),
    )?;
    alice.add_contact("carol", carol.user_id()).await?;
    carol.add_contact("alice", alice.user_id()).await?;
    let mut bob_events = bob.events(tern_node::From::Now);
    let mut carol_events = carol.events(tern_node::From::Now);
    let mut alice_events = alice.events(tern_node::From::Now);

    let name = t!("demo-group-name");
    let group = alice.create_group(&name).await?;
    alice
        .add_members(group, vec![bob.user_id(), carol.user_id()])
        .await?;
    t.say("alice", t!("demo-group-created", name = name.as_str()))?;
    for (who, events) in [("bob", &mut bob_events), ("carol", &mut carol_events)] {
        until_group(events, group, |e| matches!(e, GroupEvent::Joined { .. })).await?;
        t.say(who, t!("demo-group-joined", name = name.as_str()))?;
    }
    // Carol's key package may have come after Bob's: wait until everyone sees all three.
    for (node, events) in [
        (alice, &mut alice_events),
        (bob, &mut bob_events),
        (&carol, &mut carol_events),
    ] {
        while node.group_info(group).await?.members.len() < 3 {
            until_group(events, group, |e| {
                matches!(e, GroupEvent::Added { .. } | GroupEvent::Joined { .. })
            })
            .await?;
        }
    }

    let hello = t!("demo-text-group");
    let hello_id = bob.send_to_group(group, &hello).await?;
    t.say(
        "bob",
        t!(
            "demo-group-sent",
            name = name.as_str(),
            text = format!("{hello:?}")
        ),
    )?;
    for (who, events) in [("alice", &mut alice_events), ("carol", &mut carol_events)] {
        until_text(events, group, &hello).await?;
        t.say(
            who,
            t!(
                "demo-group-received",
                name = name.as_str(),
                text = format!("{hello:?}")
            ),
        )?;
    }

    // Each member's node acknowledges it through the log; Bob's count reaches both.
    loop {
        if let Event::Group {
            event: GroupEvent::Receipts { id, delivery },
            ..
        } = next_event(&mut bob_events).await.context("receipts")?
            && id == hello_id
            && delivery.delivered == delivery.members
        {
            t.say(
                "bob",
                t!(
                    "demo-group-delivered",
                    delivered = delivery.delivered,
                    members = delivery.members
                ),
            )?;
            break;
        }
    }

    // Search finds it in the group, beside the 1:1 chats, from the index in memory.
    let found = carol.search(&hello, None, 10, None).await?;
    if !found
        .hits
        .iter()
        .any(|hit| matches!(hit, SearchHit::Group(m) if m.id == hello_id && m.group == group))
    {
        bail!("carol's search did not find the group's message in the group");
    }
    t.say(
        "carol",
        t!(
            "demo-group-search",
            name = name.as_str(),
            text = format!("{hello:?}")
        ),
    )?;

    // A photo to the group: uploaded once, to the group's relay, which both members read.
    let photo: Vec<u8> = (0..1_000_000u32)
        .map(|i| (i.wrapping_mul(2_246_822_519) >> 24) as u8)
        .collect();
    let photo_name = "beach.jpg";
    let file = tern_node::OutgoingFile::from_bytes(photo_name, photo.clone());
    let photo_id = alice
        .send_attachment(group, file, t!("demo-text-group-photo"))
        .await?;
    let size = crate::output::size(photo.len() as u64);
    t.say(
        "alice",
        t!(
            "demo-group-file",
            name = name.as_str(),
            file = photo_name,
            size = size.as_str()
        ),
    )?;
    for (who, node, events) in [
        ("bob", bob, &mut bob_events),
        ("carol", &carol, &mut carol_events),
    ] {
        until_group(events, group, |e| {
            matches!(e, GroupEvent::AttachmentChanged { id, state: tern_node::AttachmentState::Ready } if *id == photo_id)
        })
        .await?;
        let mut reader = node.open_attachment(group, photo_id).await?;
        let expected = photo.clone();
        let same = tokio::task::spawn_blocking(move || {
            let mut copy = Vec::new();
            std::io::Read::read_to_end(&mut reader, &mut copy).map(|_| copy == expected)
        })
        .await??;
        if !same {
            bail!("{who}'s copy of the group's photo differs");
        }
        t.say(who, t!("demo-group-file-seen", file = photo_name))?;
    }

    alice.remove_members(group, vec![carol.user_id()]).await?;
    t.say("alice", t!("demo-group-removes"))?;
    until_group(&mut carol_events, group, |e| matches!(e, GroupEvent::Ended)).await?;
    t.say("carol", t!("demo-group-ended"))?;
    let secret = t!("demo-text-group-after");
    to_bob(alice, (group, &name), &mut bob_events, &secret, t).await?;
    if carol
        .group_history(group, 100)
        .await?
        .iter()
        .any(|m| m.text == secret)
    {
        bail!("a removed member read the group");
    }
    t.say("carol", t!("demo-group-sealed"))?;
    // The removal stays in Bob's history where it happened, for whenever he opens the chat.
    let kept = bob.group_history(group, 100).await?.iter().any(|m| {
        matches!(m.notice.as_deref(), Some(GroupEvent::Removed { members, .. }) if *members == [carol.user_id()])
    });
    if !kept {
        bail!("bob's history does not show carol's removal");
    }
    t.say("bob", t!("demo-group-notice"))?;
    move_log(
        dir,
        alice,
        bob,
        group,
        (&name, &mut bob_events),
        more_relays,
        t,
    )
    .await
}

/// Alice moves the group's log to a second relay by a commit; Bob follows, and reads there.
async fn move_log(
    dir: &std::path::Path,
    alice: &Node,
    bob: &Node,
    group: GroupId,
    (name, bob_events): (&str, &mut EventStream),
    more_relays: &mut Vec<tern_relay::Relay>,
    t: &mut Transcript,
) -> anyhow::Result<()> {
    let second = tern_relay::Relay::spawn(
        tern_relay::Config::new(dir.join("relay-2")).with_listen_addr("/ip4/127.0.0.1/tcp/0"),
    )
    .await
    .context("starting the second relay")?;
    let address = second.addresses().await.into_iter().next();
    more_relays.push(second);
    let address = address.context("the second relay has no address")?;
    alice.move_group_log(group, vec![address.parse()?]).await?;
    t.say("alice", t!("demo-group-moves", address = address.as_str()))?;
    until_group(bob_events, group, |e| {
        matches!(e, GroupEvent::LogMoved { .. })
    })
    .await?;
    if bob.group_info(group).await?.sequencers != [address] {
        bail!("bob did not follow the group's log");
    }
    t.say("bob", t!("demo-group-moved"))?;
    to_bob(
        alice,
        (group, name),
        bob_events,
        &t!("demo-text-group-moved"),
        t,
    )
    .await?;
    disappear(alice, bob, group, name, t).await?;
    fail_over(alice, bob, group, (name, bob_events), more_relays, t).await
}

/// The second relay goes down; Alice's node, an admin's, moves the log back to her own relay
/// by itself, and Bob follows.
async fn fail_over(
    alice: &Node,
    bob: &Node,
    group: GroupId,
    (name, bob_events): (&str, &mut EventStream),
    more_relays: &mut Vec<tern_relay::Relay>,
    t: &mut Transcript,
) -> anyhow::Result<()> {
    let mut alice_events = alice.events(tern_node::From::Now);
    let second = more_relays.pop().context("the second relay is gone")?;
    second.shutdown().await;
    drop(second);
    t.say("relay", t!("demo-group-relay-down", name = name))?;
    for events in [&mut alice_events, bob_events] {
        until_group(events, group, |e| matches!(e, GroupEvent::LogMoved { .. })).await?;
    }
    let at_alice = alice.group_info(group).await?.sequencers;
    if bob.group_info(group).await?.sequencers != at_alice {
        bail!("bob did not follow the failover");
    }
    t.say(
        "alice",
        t!(
            "demo-group-failover",
            secs = super::DEMO_FAILOVER.after.as_secs()
        ),
    )?;
    t.say("bob", t!("demo-group-failover-followed"))?;
    let text = t!("demo-text-group-failover");
    to_bob(alice, (group, name), bob_events, &text, t).await
}

/// Alice sends `text` to the group, and Bob reads it.
async fn to_bob(
    alice: &Node,
    (group, name): (GroupId, &str),
    bob_events: &mut EventStream,
    text: &str,
    t: &mut Transcript,
) -> anyhow::Result<()> {
    alice.send_to_group(group, text).await?;
    until_text(bob_events, group, text).await?;
    t.say(
        "bob",
        t!(
            "demo-group-received",
            name = name,
            text = format!("{text:?}")
        ),
    )?;
    Ok(())
}

/// Bob turns disappearing messages on for the whole group; Alice follows, and his next
/// message reaches her under the timer.
async fn disappear(
    alice: &Node,
    bob: &Node,
    group: GroupId,
    name: &str,
    t: &mut Transcript,
) -> anyhow::Result<()> {
    let mut alice_events = alice.events(tern_node::From::Now);
    let day = std::time::Duration::from_secs(86_400);
    bob.set_disappearing(group, Some(day)).await?;
    t.say("bob", t!("demo-group-timer", name = name))?;
    until_group(&mut alice_events, group, |e| {
        matches!(e, GroupEvent::TimerChanged { secs: 86_400, .. })
    })
    .await?;
    let text = t!("demo-text-group-timer");
    let id = bob.send_to_group(group, &text).await?;
    until_text(&mut alice_events, group, &text).await?;
    let history = alice.group_history(group, 10).await?;
    if history
        .iter()
        .find(|m| m.id == id)
        .and_then(|m| m.disappear_secs)
        != Some(86_400)
    {
        bail!("alice's copy does not disappear");
    }
    t.say(
        "alice",
        t!("demo-group-timer-seen", text = format!("{text:?}")),
    )?;
    Ok(())
}

async fn until_group(
    events: &mut EventStream,
    group: GroupId,
    pick: impl Fn(&GroupEvent) -> bool,
) -> anyhow::Result<()> {
    loop {
        if let Event::Group { group: g, event } =
            next_event(events).await.context("a group step")?
            && g == group
            && pick(&event)
        {
            return Ok(());
        }
    }
}

async fn until_text(events: &mut EventStream, group: GroupId, text: &str) -> anyhow::Result<()> {
    until_group(events, group, |e| {
        matches!(e, GroupEvent::Message(m) if m.text == text && m.direction == Direction::Incoming)
    })
    .await
}
