//! A group's history on one device, through a real relay: search across group chats (a
//! member finds a group's messages, its own and others', by text and by a file's name, as
//! soon as they are in history, beside its 1:1 messages, each shown in the chat it belongs
//! to; an edit and a delete for everyone change what is found; a restart rebuilds it),
//! deleting a group message from this device alone (the others keep it, and nothing the log
//! brings later puts it back), the gap a member away longer than the log keeps entries
//! finds in a group that stayed in its epoch, and a log a relay dropped while the group was
//! idle and that is opened again: members read it from its start, whatever their cursors.

mod support;

use std::time::Duration;

use futures::StreamExt;
use support::{
    groups::{holds, in_a_group, texts},
    node_builder as builder, running_clock, until, wait_for,
};
use tern_node::{
    ChatId, Event, GroupEvent, GroupId, MessageId, Node, SearchError, SearchHit, UserId,
};

const TIMEOUT: Duration = Duration::from_secs(90);

/// The chats and texts of what `node` finds for `query`, newest first.
async fn found(node: &Node, query: &str, chat: Option<ChatId>) -> Vec<(ChatId, String)> {
    let page = node.search(query, chat, 50, None).await.unwrap();
    page.hits
        .iter()
        .map(|hit| (hit.chat(), hit.text().to_owned()))
        .collect()
}

/// A relay in this process, and Alice and Bob (contacts) in a group Alice made, once Bob
/// is in it; the directories are removed on drop.
struct Two {
    relay: tern_relay::Relay,
    relays: Vec<String>,
    dirs: Vec<tempfile::TempDir>,
    alice: Node,
    bob: Node,
    group: GroupId,
    clock: Option<tern_node::Clock>,
}

impl Two {
    async fn start(name: &str) -> Self {
        Self::start_on(name, None).await
    }

    /// A node of the pair from `dir`, on the pair's clock when it has one.
    fn builder(
        dir: &std::path::Path,
        relays: &[String],
        clock: &Option<tern_node::Clock>,
    ) -> tern_node::Builder {
        let builder = builder(dir, relays);
        match clock {
            Some(clock) => builder.with_clock(clock.clone()),
            None => builder,
        }
    }

    /// [`Two::start`], the nodes on `clock` when one is given.
    async fn start_on(name: &str, clock: Option<tern_node::Clock>) -> Self {
        let relay_dir = tempfile::tempdir().unwrap();
        let relay = tern_relay::Relay::spawn(
            tern_relay::Config::new(relay_dir.path()).with_listen_addr("/ip4/127.0.0.1/tcp/0"),
        )
        .await
        .unwrap();
        let relays = vec![relay.addresses().await[0].clone()];
        let dirs: Vec<_> = (0..2).map(|_| tempfile::tempdir().unwrap()).collect();
        let alice = Self::builder(dirs[0].path(), &relays, &clock)
            .spawn()
            .await
            .unwrap();
        let bob = Self::builder(dirs[1].path(), &relays, &clock)
            .spawn()
            .await
            .unwrap();
        alice.add_contact("bob", bob.user_id()).await.unwrap();
        bob.add_contact("alice", alice.user_id()).await.unwrap();
        let group = in_a_group(&alice, &bob, name).await;
        let dirs = std::iter::once(relay_dir).chain(dirs).collect();
        Self {
            relay,
            relays,
            dirs,
            alice,
            bob,
            group,
            clock,
        }
    }

    /// Bob's node again, from his directory (once the one before has shut down).
    async fn bob_again(&self) -> Node {
        Self::builder(self.dirs[2].path(), &self.relays, &self.clock)
            .spawn()
            .await
            .unwrap()
    }

    /// Restarts Bob's node.
    async fn restart_bob(self) -> Self {
        self.bob.shutdown().await;
        let bob = self.bob_again().await;
        Self { bob, ..self }
    }

    async fn stop(self) {
        for node in [self.alice, self.bob] {
            node.shutdown().await;
        }
        self.relay.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_members_search_finds_group_messages_in_their_group_as_they_arrive() {
    let two = Two::start("trips").await;
    let (alice, bob, group) = (&two.alice, &two.bob, two.group);
    let (a, b): (UserId, UserId) = (alice.user_id(), bob.user_id());

    // The same word in a 1:1 chat and in the group, the group's newest.
    alice.send(b, "kilimanjaro boots bought").await.unwrap();
    until("bob to have the 1:1 message", || async {
        bob.history(a, 10, None)
            .await
            .is_ok_and(|p| p.messages.iter().any(|m| m.text.contains("boots")))
    })
    .await;
    let tickets = alice
        .send_to_group(group, "kilimanjaro tickets booked")
        .await
        .unwrap();
    holds(bob, group, "kilimanjaro tickets booked").await;
    let both = vec![
        (
            ChatId::Group(group),
            "kilimanjaro tickets booked".to_owned(),
        ),
        (ChatId::Peer(a), "kilimanjaro boots bought".to_owned()),
    ];
    assert_eq!(found(bob, "kilimanjaro", None).await, both);
    let page = bob.search("tickets", None, 10, None).await.unwrap();
    let [SearchHit::Group(hit)] = page.hits.as_slice() else {
        panic!("not one group hit: {page:?}");
    };
    assert_eq!((hit.id, hit.group, hit.sender), (tickets, group, a));
    // Limited to a chat: the group's, or the 1:1 one's only.
    assert_eq!(
        found(bob, "kilimanjaro", Some(ChatId::Group(group))).await,
        both[..1]
    );
    assert_eq!(found(bob, "kilimanjaro", Some(a.into())).await, both[1..]);
    // The sender finds its own group message too.
    assert_eq!(
        found(alice, "tickets", None).await,
        [(
            ChatId::Group(group),
            "kilimanjaro tickets booked".to_owned()
        )]
    );

    // A file is found by its name, also once its caption was edited.
    let path = two.dirs[1].path().join("itinerary-arusha.pdf");
    std::fs::write(&path, b"day 1: Moshi").unwrap();
    let plan = alice.send_file(group, &path, "the plan").await.unwrap();
    holds(bob, group, "the plan").await;
    assert_eq!(
        found(bob, "arusha", None).await,
        [(ChatId::Group(group), "the plan".to_owned())]
    );
    alice.edit(group, plan, "the final plan").await.unwrap();
    holds(bob, group, "the final plan").await;
    let final_plan = [(ChatId::Group(group), "the final plan".to_owned())];
    assert_eq!(found(bob, "arusha", None).await, final_plan);

    // An edit changes what is found; a delete for everyone removes it.
    alice
        .edit(group, tickets, "everest tickets booked")
        .await
        .unwrap();
    holds(bob, group, "everest tickets booked").await;
    assert_eq!(found(bob, "tickets", None).await.len(), 1);
    assert_eq!(found(bob, "everest", None).await.len(), 1);
    assert_eq!(found(bob, "kilimanjaro", None).await, both[1..]);
    alice.delete(group, tickets).await.unwrap();
    until("bob to see the delete", || async {
        bob.group_history(group, 50)
            .await
            .is_ok_and(|h| h.iter().any(|m| m.id == tickets && m.deleted))
    })
    .await;
    assert!(found(bob, "everest", None).await.is_empty());

    // A group this node was never in.
    let elsewhere = alice.create_group("elsewhere").await.unwrap();
    assert!(matches!(
        bob.search("plan", Some(ChatId::Group(elsewhere)), 10, None)
            .await,
        Err(SearchError::NoSuchGroup(g)) if g == elsewhere
    ));

    // After a restart the index is built from history, and still knows the group's.
    let two = two.restart_bob().await;
    assert_eq!(found(&two.bob, "plan", None).await, final_plan);
    assert_eq!(found(&two.bob, "arusha", None).await, final_plan);
    assert_eq!(
        found(&two.bob, "kilimanjaro", Some(ChatId::Group(group))).await,
        []
    );
    two.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_group_message_deleted_for_me_leaves_this_device_alone_and_stays_gone() {
    let two = Two::start("plans").await;
    let (alice, bob, group) = (&two.alice, &two.bob, two.group);
    let mut bob_events = bob.events(tern_node::From::Now);

    let secret = alice
        .send_to_group(group, "the surprise party is at eight")
        .await
        .unwrap();
    let kept = alice.send_to_group(group, "bring snacks").await.unwrap();
    holds(bob, group, "bring snacks").await;
    holds(bob, group, "the surprise party is at eight").await;
    assert_eq!(bob.group_info(group).await.unwrap().unread, 2);

    // Bob deletes one unread message for himself: gone from his history, search and
    // unread count, with its event; Alice keeps it.
    bob.delete_for_me(group, secret).await.unwrap();
    tokio::time::timeout(
        TIMEOUT,
        wait_for(&mut bob_events, |e| match e {
            Event::Group {
                group: g,
                event: GroupEvent::DeletedForMe { id },
            } if *g == group && *id == secret => Some(()),
            _ => None,
        }),
    )
    .await
    .expect("no DeletedForMe event");
    let history = bob.group_history(group, 50).await.unwrap();
    assert!(history.iter().all(|m| m.id != secret));
    assert!(history.iter().any(|m| m.id == kept));
    assert!(found(bob, "surprise", None).await.is_empty());
    assert_eq!(bob.group_info(group).await.unwrap().unread, 1);
    assert!(
        alice
            .group_history(group, 50)
            .await
            .unwrap()
            .iter()
            .any(|m| m.id == secret)
    );
    // Its text left Bob's event log too.
    let mut logged = bob.events(tern_node::From::Oldest);
    let mut events = Vec::new();
    while let Ok(Some((_, event))) =
        tokio::time::timeout(Duration::from_millis(500), logged.next()).await
    {
        events.push(format!("{event:?}"));
    }
    assert!(events.iter().any(|e| e.contains("bring snacks")));
    assert!(
        events.iter().all(|e| !e.contains("surprise party")),
        "the deleted text is still in the event log"
    );

    // A later edit from Alice does not bring it back; Bob's own message he deletes for
    // himself is gone for him only.
    alice
        .edit(group, secret, "the surprise party is at nine")
        .await
        .unwrap();
    let mine = bob.send_to_group(group, "on my way").await.unwrap();
    holds(alice, group, "on my way").await;
    until("bob to drop the edit of a message he deleted", || async {
        bob.status()
            .await
            .is_ok_and(|s| s.rejections.get("group_change_without_target") == Some(&1))
    })
    .await;
    bob.delete_for_me(group, mine).await.unwrap();
    assert!(
        alice
            .group_history(group, 50)
            .await
            .unwrap()
            .iter()
            .any(|m| m.id == mine)
    );
    // Unknown messages and groups are refused.
    assert!(matches!(
        bob.delete_for_me(group, secret).await,
        Err(tern_node::ChangeError::NoMessage(_))
    ));

    // After a restart it is still gone, and so is its unread mark.
    let two = two.restart_bob().await;
    assert_eq!(texts(&two.bob, group).await, ["bring snacks"]);
    assert_eq!(two.bob.group_info(group).await.unwrap().unread, 1);
    two.stop().await;
}

/// A cutoff for the relay's expiry that everything stored so far is before: the clock has
/// passed it when this returns.
async fn past_a_cutoff() -> u64 {
    let cutoff = tern_node::Clock::system().now_secs() + 1;
    until("the clock to pass the cutoff", || async {
        tern_node::Clock::system().now_secs() >= cutoff
    })
    .await;
    cutoff
}

/// The texts of `node`'s history of `group`, oldest first.
/// Waits until every message `node` sent to `group` whose text starts with `prefix` is held
/// by the relay.
async fn stored(node: &Node, group: GroupId, prefix: &str) {
    until(&format!("{prefix:?} to be stored"), || async {
        node.group_history(group, 50).await.is_ok_and(|h| {
            h.iter()
                .filter(|m| m.text.starts_with(prefix))
                .all(|m| matches!(m.state, tern_node::DeliveryState::StoredAtRelays { .. }))
        })
    })
    .await;
}

/// Waits until every message in `node`'s history of `group` (all its own) is delivered to
/// the one other member: the receipts are in the log.
async fn all_delivered(node: &Node, group: GroupId) {
    until("every message to be delivered", || async {
        node.group_history(group, 50).await.is_ok_and(|h| {
            h.iter()
                .filter(|m| m.notice.is_none())
                .all(|m| m.delivery.is_some_and(|d| d.delivered == 1))
        })
    })
    .await;
}

/// The `Missed` counts in `node`'s event log for `group`, oldest first.
async fn gaps(node: &Node, group: GroupId) -> Vec<u64> {
    let mut logged = node.events(tern_node::From::Oldest);
    let mut counts = Vec::new();
    while let Ok(Some((_, event))) =
        tokio::time::timeout(Duration::from_millis(500), logged.next()).await
    {
        if let Event::Group {
            group: g,
            event: GroupEvent::Missed { count },
        } = event
            && g == group
        {
            counts.push(count);
        }
    }
    counts
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_back_after_entries_expired_in_a_quiet_group_is_shown_the_gap() {
    let two = Two::start("quiet").await;
    let (alice, group) = (&two.alice, two.group);
    alice.send_to_group(group, "before").await.unwrap();
    holds(&two.bob, group, "before").await;
    // Bob's receipt for it is in the log before he goes.
    all_delivered(alice, group).await;

    // Bob goes away; Alice talks on in the same epoch; then everything stored before the
    // cutoff expires at the relay (what Bob read too), and Alice says one more thing.
    two.bob.shutdown().await;
    for text in ["while away 1", "while away 2"] {
        alice.send_to_group(group, text).await.unwrap();
    }
    stored(alice, group, "while away").await;
    let cutoff = past_a_cutoff().await;
    alice.send_to_group(group, "kept").await.unwrap();
    stored(alice, group, "kept").await;
    assert!(two.relay.expire_logs_before(cutoff).await >= 2);

    // Back, Bob reads on past the gap and is shown it: the two messages he never read are
    // lost to him, and nothing else is.
    let bob = two.bob_again().await;
    holds(&bob, group, "kept").await;
    assert_eq!(texts(&bob, group).await, ["before", "kept"]);
    let shown = gaps(&bob, group).await;
    assert_eq!(shown.len(), 1, "{shown:?}");
    assert!(shown[0] >= 2, "{shown:?}");
    assert!(bob.group_info(group).await.unwrap().active);
    // Alice, who read everything, was shown none; after a restart Bob is shown it once.
    assert!(gaps(alice, group).await.is_empty());
    bob.shutdown().await;
    let bob = two.bob_again().await;
    alice.send_to_group(group, "still here").await.unwrap();
    holds(&bob, group, "still here").await;
    assert_eq!(gaps(&bob, group).await, shown);
    // The chat shows the gap where it was, whenever it is opened: history keeps it.
    let kept: Vec<String> = bob
        .group_history(group, 50)
        .await
        .unwrap()
        .into_iter()
        .map(|m| match m.notice.as_deref() {
            Some(GroupEvent::Missed { count }) => format!("missed {count}"),
            Some(other) => format!("{other:?}"),
            None => m.text,
        })
        .filter(|line| !line.starts_with("Joined"))
        .collect();
    assert_eq!(
        kept,
        [
            "before".to_owned(),
            format!("missed {}", shown[0]),
            "kept".to_owned(),
            "still here".to_owned()
        ]
    );
    let two = Two { bob, ..two };
    two.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_log_the_relay_dropped_while_idle_is_read_from_its_start_when_opened_again() {
    let two = Two::start("idle").await;
    let (alice, group) = (&two.alice, two.group);
    for text in ["one", "two", "three"] {
        alice.send_to_group(group, text).await.unwrap();
    }
    holds(&two.bob, group, "three").await;
    all_delivered(alice, group).await;

    // Bob goes away and the group is idle until the relay drops the log, keys and all (it
    // held nothing newer than the cutoff). Alice's reader opens it again at her epoch: its
    // sequence numbers start again at 1, below every cursor the members hold.
    two.bob.shutdown().await;
    let cutoff = past_a_cutoff().await;
    assert!(two.relay.expire_logs_before(cutoff).await >= 4);
    let bob = two.bob_again().await;
    alice.send_to_group(group, "are you there?").await.unwrap();
    holds(&bob, group, "are you there?").await;
    bob.send_to_group(group, "yes").await.unwrap();
    holds(alice, group, "yes").await;
    assert_eq!(
        texts(&bob, group).await,
        ["one", "two", "three", "are you there?", "yes"]
    );
    let two = Two { bob, ..two };
    two.stop().await;
}

/// The message of `node`'s history of `group` with `id`, if it holds one.
async fn message(node: &Node, group: GroupId, id: MessageId) -> Option<tern_node::GroupMessage> {
    let history = node.group_history(group, 50).await.unwrap();
    history.into_iter().find(|m| m.id == id)
}

/// Waits until `node` reports that `by` set `group`'s timer to `secs`.
async fn timer_seen(events: &mut tern_node::EventStream, group: GroupId, by: UserId, secs: u32) {
    wait_for(events, |e| match e {
        Event::Group {
            group: g,
            event: GroupEvent::TimerChanged { by: who, secs: s },
        } if *g == group && *who == by && *s == secs => Some(()),
        _ => None,
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_group_timer_reaches_every_member_and_each_copy_disappears_on_its_own_clock() {
    let (clock, ticking) = running_clock();
    let two = Two::start_on("vanishing", Some(clock.clone())).await;
    let (alice, bob, group) = (&two.alice, &two.bob, two.group);
    let (a, b) = (alice.user_id(), bob.user_id());
    let mut alice_events = alice.events(tern_node::From::Now);
    let mut bob_events = bob.events(tern_node::From::Now);

    // Only the timers a 1:1 chat offers; the group is untouched by a refused one.
    assert!(matches!(
        alice
            .set_disappearing(group, Some(Duration::from_secs(7)))
            .await,
        Err(tern_node::SendError::BadTimer(7))
    ));
    let hour = Duration::from_secs(3600);
    alice.set_disappearing(group, Some(hour)).await.unwrap();
    timer_seen(&mut alice_events, group, a, 3600).await;
    timer_seen(&mut bob_events, group, a, 3600).await;
    for node in [alice, bob] {
        let info = node.group_info(group).await.unwrap();
        assert_eq!(info.disappear_secs, Some(3600), "every member follows");
    }

    // Alice's copy runs from sending; Bob's keeps the timer and starts when he reads it.
    let ink = alice.send_to_group(group, "vanishing ink").await.unwrap();
    let sent = message(alice, group, ink).await.unwrap();
    assert_eq!(sent.disappear_secs, Some(3600));
    let expires = sent
        .expires_at_ms
        .expect("the sender's clock runs from sending");
    assert!(expires >= clock.now_ms() + 3_500_000, "{expires}");
    holds(bob, group, "vanishing ink").await;
    let received = message(bob, group, ink).await.unwrap();
    assert_eq!(
        (received.disappear_secs, received.expires_at_ms),
        (Some(3600), None)
    );
    assert_eq!(found(bob, "vanishing", None).await.len(), 1);
    // Bob reads it half an hour later: his copy has an hour from then.
    clock.advance(Duration::from_secs(1800));
    assert_eq!(bob.mark_group_read(group).await.unwrap(), 1);
    let read = message(bob, group, ink).await.unwrap();
    let bob_expires = read.expires_at_ms.expect("read: its clock runs");
    assert!(
        bob_expires >= expires + 1_700_000,
        "{bob_expires} vs {expires}"
    );
    // Bob's own message is sent under the group's timer too.
    let reply = bob.send_to_group(group, "noted").await.unwrap();
    assert_eq!(
        message(bob, group, reply).await.unwrap().disappear_secs,
        Some(3600)
    );

    // Past the hour, Alice's copy goes (history, search, event log); Bob's stays.
    clock.advance(Duration::from_secs(1800 + 60));
    wait_for(&mut alice_events, |e| match e {
        Event::Group {
            event: GroupEvent::MessageExpired { id },
            ..
        } if *id == ink => Some(()),
        _ => None,
    })
    .await;
    assert!(message(alice, group, ink).await.is_none());
    assert!(found(alice, "vanishing", None).await.is_empty());
    let logged: Vec<(tern_node::Cursor, Event)> = alice
        .events(tern_node::From::Oldest)
        .take_while(|(_, e)| {
            let more = !matches!(
                e,
                Event::Group {
                    event: GroupEvent::MessageExpired { .. },
                    ..
                }
            );
            async move { more }
        })
        .collect()
        .await;
    assert!(
        !format!("{logged:?}").contains("vanishing ink"),
        "the event log keeps no text of it"
    );
    assert!(
        message(bob, group, ink).await.is_some(),
        "Bob read it later"
    );
    clock.advance(Duration::from_secs(1800));
    until("bob's copy to go too", || async {
        message(bob, group, ink).await.is_none()
    })
    .await;
    assert!(found(bob, "vanishing", None).await.is_empty());

    // Changes that cross settle the same on both sides; off is a change like any other.
    let (day, week) = (Duration::from_secs(86_400), Duration::from_secs(604_800));
    let (x, y) = tokio::join!(
        alice.set_disappearing(group, Some(day)),
        bob.set_disappearing(group, Some(week))
    );
    x.unwrap();
    y.unwrap();
    timer_seen(&mut alice_events, group, b, 604_800).await;
    timer_seen(&mut bob_events, group, a, 86_400).await;
    let settled = alice.group_info(group).await.unwrap().disappear_secs;
    assert!(settled.is_some());
    assert_eq!(bob.group_info(group).await.unwrap().disappear_secs, settled);
    bob.set_disappearing(group, None).await.unwrap();
    timer_seen(&mut alice_events, group, b, 0).await;
    assert_eq!(alice.group_info(group).await.unwrap().disappear_secs, None);
    let plain = alice.send_to_group(group, "here to stay").await.unwrap();
    assert_eq!(
        message(alice, group, plain).await.unwrap().disappear_secs,
        None
    );

    // A restart keeps the timer off and what was erased erased.
    let two = two.restart_bob().await;
    assert_eq!(
        two.bob.group_info(group).await.unwrap().disappear_secs,
        None
    );
    assert!(message(&two.bob, group, ink).await.is_none());
    ticking.abort();
    two.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_and_its_caption_edit_read_in_one_page_are_found_by_the_files_name() {
    let two = Two::start("caption").await;
    let group = two.group;
    // Bob is away while Alice sends a file and edits its caption: he reads both in one page.
    two.bob.shutdown().await;
    let path = two.dirs[1].path().join("tide-table-zanzibar.pdf");
    std::fs::write(&path, b"high water 06:12").unwrap();
    let tides = two
        .alice
        .send_file(group, &path, "the tides")
        .await
        .unwrap();
    two.alice
        .edit(group, tides, "the tides, corrected")
        .await
        .unwrap();
    let bob = two.bob_again().await;
    holds(&bob, group, "the tides, corrected").await;
    assert_eq!(
        found(&bob, "zanzibar", None).await,
        [(ChatId::Group(group), "the tides, corrected".to_owned())],
        "found by the file's name as well as by its caption"
    );
    bob.shutdown().await;
    two.alice.shutdown().await;
    two.relay.shutdown().await;
}
