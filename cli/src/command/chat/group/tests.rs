//! The group chat screen's tests: commands, events and what the screen draws.

use super::*;

fn group() -> GroupView {
    GroupView {
        id: "ab".repeat(32),
        name: "family".into(),
        epoch: 1,
        members: vec![
            GroupMemberView {
                address: "tern1me".into(),
                admin: true,
            },
            GroupMemberView {
                address: "tern1bob".into(),
                admin: false,
            },
        ],
        admin: true,
        active: true,
        sequencers: vec!["r1".into(), "r2".into(), "r3".into()],
        keys_renewed_ms: None,
        unread: 0,
        auto_download: None,
        held: 0,
        disappear_secs: None,
        failing_over: false,
        unreachable_since_ms: None,
    }
}

fn screen() -> Screen {
    let names = [("tern1bob".to_owned(), "bob".to_owned())].into();
    Screen::new(group(), "tern1me".into(), names)
}

fn message(id: &str, sender: &str, direction: &str) -> GroupMessageView {
    GroupMessageView {
        id: id.into(),
        group: "ab".repeat(32),
        sender: sender.into(),
        direction: direction.into(),
        text: format!("text {id}"),
        file: None,
        reply_to: None,
        edited_at_ms: None,
        reactions: Vec::new(),
        deleted: false,
        sent_at_ms: 1_700_000_000_000,
        delivery: Delivery::Queued,
        receipts: None,
        disappear_secs: None,
        expires_at_ms: None,
        notice: None,
    }
}

/// The notices on `screen`, oldest first.
fn notices(screen: &Screen) -> Vec<String> {
    screen
        .entries
        .iter()
        .filter_map(|e| match e {
            Entry::Notice { text, .. } => Some(text.clone()),
            Entry::Message(_) => None,
        })
        .collect()
}

/// Makes `screen`'s group's events as its connection reports them.
fn group_event(screen: &Screen) -> impl Fn(GroupEventView) -> Report + use<> {
    let id = screen.group.id.clone();
    move |event| {
        Report::Event(EventView::Group {
            group: id.clone(),
            event,
        })
    }
}

fn typed(screen: &mut Screen, line: &str) -> Action {
    for c in line.chars() {
        screen.on_key(KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE));
    }
    screen.on_key(KeyEvent::new(KeyCode::Enter, KeyModifiers::NONE))
}

#[test]
fn commands_are_parsed_and_bad_ones_explained() {
    assert_eq!(Command::parse("hello"), None);
    assert_eq!(
        Command::parse("/add carol dave"),
        Some(Ok(Command::Add(vec!["carol".into(), "dave".into()])))
    );
    assert_eq!(
        Command::parse(" /rename  Sunday dinners "),
        Some(Ok(Command::Rename("Sunday dinners".into())))
    );
    assert_eq!(
        Command::parse("/demote bob"),
        Some(Ok(Command::Admin("bob".into(), false)))
    );
    assert_eq!(Command::parse("/leave"), Some(Ok(Command::Leave)));
    assert_eq!(
        Command::parse("/relays /ip4/198.51.100.7/tcp/1/p2p/A  /p2p/B"),
        Some(Ok(Command::Relays(vec![
            "/ip4/198.51.100.7/tcp/1/p2p/A".into(),
            "/p2p/B".into()
        ])))
    );
    assert!(matches!(Command::parse("/relays"), Some(Err(_))));
    assert!(matches!(Command::parse("/remove"), Some(Err(_))));
    assert!(matches!(Command::parse("/add "), Some(Err(_))));
    assert!(matches!(Command::parse("/nonsense"), Some(Err(_))));
}

#[test]
fn typing_sends_and_commands_go_to_the_loop() {
    let mut screen = screen();
    assert_eq!(typed(&mut screen, "hi all"), Action::Send("hi all".into()));
    assert_eq!(
        typed(&mut screen, "/remove bob"),
        Action::Command(Command::Remove("bob".into()))
    );
    assert_eq!(typed(&mut screen, "/members"), Action::None);
    let ctrl = |c| KeyEvent::new(KeyCode::Char(c), KeyModifiers::CONTROL);
    assert_eq!(screen.on_key(ctrl('n')), Action::Switch(1));
    assert_eq!(screen.on_key(ctrl('p')), Action::Switch(-1));
    let Some(Entry::Notice { text, .. }) = screen.entries.last() else {
        panic!("no member list");
    };
    assert!(text.contains("bob") && text.contains("me"), "{text}");
    assert_eq!(typed(&mut screen, "/bogus"), Action::None);
    assert!(screen.problem.is_some());
}

#[test]
fn files_show_inline_with_their_progress_and_slash_commands_send_and_save_them() {
    let mut screen = screen();
    assert_eq!(
        typed(&mut screen, "/file plans.pdf the plans"),
        Action::Command(Command::File("plans.pdf".into(), "the plans".into()))
    );
    assert_eq!(
        typed(&mut screen, "/file \"my plans.pdf\""),
        Action::Command(Command::File("my plans.pdf".into(), String::new()))
    );
    assert_eq!(typed(&mut screen, "/file"), Action::None);
    assert!(screen.problem.take().is_some());
    // Nothing to save yet.
    assert_eq!(typed(&mut screen, "/save"), Action::None);
    assert!(screen.problem.take().is_some());

    let id = screen.group.id.clone();
    let mut with_file = message("f1a2b3c4d5", "tern1bob", "in");
    with_file.text = "the plans".into();
    with_file.file = Some(Box::new(crate::api::model::AttachmentView {
        kind: "document".into(),
        name: "plans.pdf".into(),
        mime: "application/pdf".into(),
        size: 2_000_000,
        state: "fetching".into(),
        failure: None,
    }));
    screen.on_report(Report::GroupHistory(vec![
        with_file,
        message("m2", "tern1bob", "in"),
    ]));
    screen.on_report(Report::Event(EventView::Group {
        group: id.clone(),
        event: GroupEventView::AttachmentProgress {
            id: "f1a2b3c4d5".into(),
            received: 1_000_000,
            total: 2_000_000,
        },
    }));
    let shown = |screen: &Screen| {
        screen
            .lines(200)
            .iter()
            .map(|line| {
                line.spans
                    .iter()
                    .map(|s| s.content.as_ref())
                    .collect::<String>()
            })
            .find(|line| line.contains("plans.pdf"))
            .unwrap()
    };
    let line = shown(&screen);
    assert!(line.contains("50%") && line.contains("the plans"), "{line}");
    screen.on_report(Report::Event(EventView::Group {
        group: id,
        event: GroupEventView::AttachmentChanged {
            id: "f1a2b3c4d5".into(),
            state: "ready".into(),
            failure: None,
        },
    }));
    assert!(!shown(&screen).contains('%'));
    // The newest file, or the one named by a prefix of its id.
    assert_eq!(
        typed(&mut screen, "/save"),
        Action::Save("f1a2b3c4d5".into())
    );
    assert_eq!(
        typed(&mut screen, "/save F1A2"),
        Action::Save("f1a2b3c4d5".into())
    );
    assert_eq!(typed(&mut screen, "/save m2"), Action::None);
}

#[test]
fn changes_aim_at_the_newest_message_and_show_as_they_come() {
    let mut screen = screen();
    // Nothing to aim at yet.
    assert_eq!(typed(&mut screen, "/react 👍"), Action::None);
    assert!(screen.problem.take().is_some());
    assert_eq!(typed(&mut screen, "/reply"), Action::None);
    assert!(screen.problem.take().is_some());
    screen.on_report(Report::GroupHistory(vec![
        message("m1", "tern1me", "out"),
        message("m2", "tern1bob", "in"),
    ]));
    assert_eq!(
        typed(&mut screen, "/reply sounds good"),
        Action::Command(Command::Reply(Some("m2".into()), "sounds good".into()))
    );
    assert_eq!(
        typed(&mut screen, "/react 🎉"),
        Action::Command(Command::React(Some("m2".into()), "🎉".into()))
    );
    assert_eq!(
        typed(&mut screen, "/edit better"),
        Action::Command(Command::Edit(Some("m1".into()), "better".into()))
    );
    assert_eq!(
        typed(&mut screen, "/delete"),
        Action::Command(Command::Delete(Some("m1".into())))
    );
    // For this device alone: the newest of anyone's, or the one named by a prefix.
    assert_eq!(
        typed(&mut screen, "/delete-for-me"),
        Action::Command(Command::DeleteForMe(None, Some("m2".into())))
    );
    assert_eq!(
        typed(&mut screen, "/delete-for-me M1"),
        Action::Command(Command::DeleteForMe(Some("m1".into()), Some("m1".into())))
    );

    let event = group_event(&screen);
    screen.on_report(event(GroupEventView::MessageEdited {
        id: "m2".into(),
        by: "tern1bob".into(),
        text: "edited text".into(),
        edited_at_ms: 1_700_000_001_000,
    }));
    for by in ["tern1me", "tern1carol"] {
        screen.on_report(event(GroupEventView::ReactionChanged {
            id: "m2".into(),
            by: by.into(),
            emoji: Some("👍".into()),
        }));
    }
    screen.on_report(event(GroupEventView::MessageDeleted {
        id: "m1".into(),
        by: "tern1me".into(),
    }));
    let text: Vec<String> = screen
        .lines(200)
        .iter()
        .map(|line| line.spans.iter().map(|s| s.content.as_ref()).collect())
        .collect();
    let all = text.join("\n");
    assert!(all.contains("edited text (edited)"), "{all}");
    assert!(all.contains("👍 2"), "{all}");
    assert!(!all.contains("text m1"), "{all}");
    // A deleted message is no target.
    assert_eq!(typed(&mut screen, "/edit again"), Action::None);
    // Deleted for this device alone, a message leaves the screen.
    screen.on_report(event(GroupEventView::DeletedForMe { id: "m2".into() }));
    let left: String = screen
        .lines(200)
        .iter()
        .flat_map(|line| line.spans.iter().map(|s| s.content.to_string()))
        .collect();
    assert!(!left.contains("edited text"), "{left}");
    // A gap in the log is shown where it was found.
    screen.on_report(event(GroupEventView::Missed { count: 7 }));
    let shown: String = screen
        .lines(200)
        .iter()
        .flat_map(|line| line.spans.iter().map(|s| s.content.to_string()))
        .collect();
    assert!(shown.contains("up to 7 messages"), "{shown}");
}

#[test]
fn events_change_members_roles_name_and_delivery() {
    let mut screen = screen();
    let event = group_event(&screen);
    screen.on_report(Report::GroupHistory(vec![message("m1", "tern1me", "out")]));
    assert!(!screen.take_unread(), "our own message is never unread");
    screen.on_report(event(GroupEventView::Message {
        message: message("m0", "tern1bob", "in"),
    }));
    assert!(
        screen.take_unread(),
        "bob's message on screen: mark the group read"
    );
    assert!(!screen.take_unread(), "once");
    screen.entries.clear();
    screen.on_report(Report::GroupHistory(vec![message("m1", "tern1me", "out")]));
    screen.on_report(event(GroupEventView::Stored {
        id: "m1".into(),
        relays: 2,
    }));
    // A snapshot from before the relays answered does not undo it.
    screen.on_report(Report::GroupHistory(vec![message("m1", "tern1me", "out")]));
    let Entry::Message(m) = &screen.entries[0] else {
        panic!("not a message");
    };
    assert_eq!(m.mark(), "⇡2/3");
    // Receipts: delivered to 1 of 2, then 2 of 2 and read by 1; an older snapshot
    // (history read before the receipts) keeps the newer counts.
    let counts = |delivered, read| GroupReceiptsView {
        delivered,
        read,
        members: 2,
    };
    screen.on_report(event(GroupEventView::Receipts {
        id: "m1".into(),
        receipts: counts(1, 0),
    }));
    let Entry::Message(m) = &screen.entries[0] else {
        panic!("not a message");
    };
    assert_eq!(m.mark(), "✓1/2");
    screen.on_report(event(GroupEventView::Receipts {
        id: "m1".into(),
        receipts: counts(2, 1),
    }));
    let mut old = message("m1", "tern1me", "out");
    old.receipts = Some(counts(0, 0));
    screen.on_report(Report::GroupHistory(vec![old]));
    let Entry::Message(m) = &screen.entries[0] else {
        panic!("not a message");
    };
    assert_eq!(m.mark(), "✓2/2 ✓✓1/2");

    screen.on_report(event(GroupEventView::Added {
        by: "tern1me".into(),
        members: vec!["tern1carol".into()],
    }));
    screen.on_report(event(GroupEventView::AdminChanged {
        by: "tern1me".into(),
        member: "tern1bob".into(),
        admin: true,
    }));
    screen.on_report(event(GroupEventView::Removed {
        by: "tern1bob".into(),
        members: vec!["tern1bob".into()],
    }));
    screen.on_report(event(GroupEventView::Renamed {
        by: "tern1me".into(),
        name: "fam".into(),
    }));
    let members: Vec<_> = screen
        .group
        .members
        .iter()
        .map(|m| &m.address[..])
        .collect();
    assert_eq!(members, ["tern1me", "tern1carol"]);
    assert_eq!(screen.group.name, "fam");
    let notices: Vec<_> = screen
        .entries
        .iter()
        .filter_map(|e| match e {
            Entry::Notice { text, .. } => Some(text.clone()),
            Entry::Message(_) => None,
        })
        .collect();
    assert_eq!(notices.len(), 4, "{notices:?}");
    assert!(notices[2].contains("bob"), "{notices:?}");

    // The log moving is a notice naming the relays, and the relays shown follow it.
    let relay = "/ip4/198.51.100.7/tcp/4001/p2p/12D3KooWRelay".to_owned();
    screen.on_report(event(GroupEventView::LogMoved {
        by: "tern1me".into(),
        relays: vec![relay.clone()],
    }));
    assert_eq!(screen.group.sequencers, std::slice::from_ref(&relay));
    assert!(matches!(
        screen.entries.last(),
        Some(Entry::Notice { text, .. }) if text.contains(&relay)
    ));

    // Falling behind the log and being added back are shown where they happened.
    screen.on_report(event(GroupEventView::FellBehind {
        asked: vec!["tern1carol".into()],
    }));
    screen.on_report(event(GroupEventView::FellBehind { asked: Vec::new() }));
    screen.on_report(event(GroupEventView::AddedBack {
        by: "tern1carol".into(),
        members: vec!["tern1me".into()],
    }));
    let last: Vec<String> = screen
        .entries
        .iter()
        .rev()
        .take(3)
        .filter_map(|e| match e {
            Entry::Notice { text, .. } => Some(text.clone()),
            Entry::Message(_) => None,
        })
        .collect();
    assert!(
        last[2].contains("lost to this device") && last[2].contains("carol"),
        "{last:?}"
    );
    assert!(last[1].contains("remove you and add you again"), "{last:?}");
    assert!(last[0].contains("added back"), "{last:?}");

    // Another group's events are not this screen's.
    screen.on_report(Report::Event(EventView::Group {
        group: "cd".repeat(32),
        event: GroupEventView::Ended,
    }));
    assert!(screen.group.active);
    screen.on_report(event(GroupEventView::Ended));
    assert!(!screen.group.active);
    assert_eq!(typed(&mut screen, "still here"), Action::None);
    assert_eq!(screen.input.text(), "still here");
}

#[test]
fn a_group_timer_is_shown_and_expired_messages_leave_the_screen() {
    let mut screen = screen();
    let event = group_event(&screen);
    let shown = |screen: &Screen| -> String {
        screen
            .lines(200)
            .iter()
            .flat_map(|line| line.spans.iter().map(|s| s.content.to_string()))
            .collect()
    };
    screen.on_report(event(GroupEventView::TimerChanged {
        by: "tern1bob".into(),
        timer_secs: 3600,
    }));
    assert_eq!(screen.group.disappear_secs, Some(3600));
    assert!(
        shown(&screen).contains("⏱ bob set disappearing messages to 1 hour"),
        "{}",
        shown(&screen)
    );
    let mut vanishing = message("m1", "tern1bob", "in");
    vanishing.disappear_secs = Some(3600);
    screen.on_report(event(GroupEventView::Message { message: vanishing }));
    assert!(shown(&screen).contains("⏱ text m1"), "{}", shown(&screen));
    screen.on_report(event(GroupEventView::MessageExpired { id: "m1".into() }));
    assert!(!shown(&screen).contains("text m1"), "{}", shown(&screen));
    screen.on_report(event(GroupEventView::TimerChanged {
        by: "tern1me".into(),
        timer_secs: 0,
    }));
    assert_eq!(screen.group.disappear_secs, None);
    assert!(shown(&screen).contains("turned disappearing messages off"));
}

#[test]
fn the_title_says_when_the_groups_relays_do_not_answer_and_when_its_log_moves_away() {
    let mut screen = screen();
    let title = |screen: &Screen| -> String {
        screen
            .title()
            .iter()
            .map(|s| s.content.to_string())
            .collect()
    };
    assert!(!title(&screen).contains('⚠'), "{}", title(&screen));
    let unreachable = GroupView {
        unreachable_since_ms: Some(1_800_000_000_000),
        ..group()
    };
    screen.on_report(Report::Group(unreachable.clone()));
    assert!(
        title(&screen).contains("⚠ its relays do not answer"),
        "{}",
        title(&screen)
    );
    let failing = GroupView {
        failing_over: true,
        ..unreachable
    };
    screen.on_report(Report::Group(failing));
    assert!(
        title(&screen).contains("⚠ its relays are unreachable: moving its log"),
        "{}",
        title(&screen)
    );
}

#[test]
fn a_search_highlights_what_it_found_and_brings_the_newest_into_view() {
    use super::super::search::Matches;
    let mut screen = screen();
    for i in 0..20 {
        screen.upsert(message(&format!("m{i}"), "tern1bob", "in"));
    }
    assert_eq!(
        typed(&mut screen, "/search text"),
        Action::Command(Command::Search("text".into()))
    );
    assert_eq!(typed(&mut screen, "/search  "), Action::None);
    assert!(
        screen
            .problem
            .as_deref()
            .is_some_and(|p| p.contains("/search"))
    );
    let hit = |id: &str| (id.to_owned(), 0, format!("text {id}"));
    screen.on_report(Report::Found(Matches {
        query: "text".into(),
        hits: vec![hit("m15"), hit("m2")],
    }));
    assert!(screen.scroll >= 4, "{}", screen.scroll);
    let highlighted = |screen: &Screen| {
        screen
            .lines(80)
            .iter()
            .flat_map(|line| line.spans.clone())
            .filter(|span| span.style == super::super::search::HIT)
            .count()
    };
    assert_eq!(highlighted(&screen), 2);
    assert!(
        screen
            .problem
            .as_deref()
            .is_some_and(|p| p.contains("2 found"))
    );
    // Esc clears the search first, and quits only after.
    assert_eq!(
        screen.on_key(KeyEvent::new(KeyCode::Esc, KeyModifiers::NONE)),
        Action::None
    );
    assert_eq!(highlighted(&screen), 0);
    assert_eq!(
        screen.on_key(KeyEvent::new(KeyCode::Esc, KeyModifiers::NONE)),
        Action::Quit
    );
    // Found nowhere on screen: the newest is named in the notice.
    screen.on_report(Report::Found(Matches {
        query: "old".into(),
        hits: vec![("gone".into(), 0, "an old text".into())],
    }));
    assert!(
        screen
            .problem
            .as_deref()
            .is_some_and(|p| p.contains("an old text")),
        "{:?}",
        screen.problem
    );
}

#[test]
fn changes_kept_in_history_show_where_they_happened_and_once() {
    let mut screen = screen();
    let mut renamed = message("02", "tern1bob", "in");
    renamed.text.clear();
    renamed.notice = Some(Box::new(GroupEventView::Renamed {
        by: "tern1bob".into(),
        name: "fam".into(),
    }));
    let mut added = message("04", "tern1me", "out");
    added.text.clear();
    added.sent_at_ms = now_ms();
    let carol_added = GroupEventView::Added {
        by: "tern1me".into(),
        members: vec!["tern1carol".into()],
    };
    added.notice = Some(Box::new(carol_added.clone()));
    screen.on_report(Report::GroupHistory(vec![
        message("01", "tern1bob", "in"),
        renamed,
        message("03", "tern1me", "out"),
        added,
    ]));
    // In place among the messages, in the words of the event, with no unread mark and
    // the group as the daemon gave it (history tells what happened, not what is).
    let kinds: Vec<_> = screen
        .entries
        .iter()
        .map(|e| match e {
            Entry::Message(m) => m.id.clone(),
            Entry::Notice { text, .. } => text.clone(),
        })
        .collect();
    assert_eq!(kinds.len(), 4, "{kinds:?}");
    assert_eq!((&kinds[0][..], &kinds[2][..]), ("01", "03"));
    assert!(
        kinds[1].contains("bob") && kinds[1].contains("fam"),
        "{kinds:?}"
    );
    assert!(kinds[3].contains("tern1carol"), "{kinds:?}");
    assert_eq!(screen.group.name, "family");
    // Carol's add was written after the chat subscribed: its event comes too, and is not
    // shown twice, but the member list follows it. A later change of the same words is
    // shown again.
    let event = group_event(&screen);
    screen.on_report(event(carol_added.clone()));
    assert_eq!(notices(&screen).len(), 2, "{:?}", notices(&screen));
    assert!(
        screen
            .group
            .members
            .iter()
            .any(|m| m.address == "tern1carol")
    );
    screen.on_report(event(carol_added));
    assert_eq!(notices(&screen).len(), 3, "{:?}", notices(&screen));
    // An echo that never came does not hide a change made again once the overlap is over.
    let timer = GroupEventView::TimerChanged {
        by: "tern1bob".into(),
        timer_secs: 3600,
    };
    let mut set = message("05", "tern1bob", "in");
    set.sent_at_ms = now_ms();
    set.notice = Some(Box::new(timer.clone()));
    screen.on_report(Report::GroupHistory(vec![set]));
    assert_eq!(notices(&screen).len(), 4, "{:?}", notices(&screen));
    screen.history_at_ms = now_ms() - 60_000;
    screen.on_report(event(timer));
    assert_eq!(notices(&screen).len(), 5, "{:?}", notices(&screen));
}
