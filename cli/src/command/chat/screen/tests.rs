//! The 1:1 chat screen's tests.

use super::*;

fn contact(address: &str) -> ContactView {
    serde_json::from_value(serde_json::json!({
        "name": "bob", "address": address, "verified": false, "safety_number": "",
    }))
    .unwrap()
}

fn chat(peer: &str) -> crate::api::model::ChatView {
    serde_json::from_value(serde_json::json!({
        "peer": peer, "name": peer, "last_ms": 0, "last_text": "", "unread": 0,
    }))
    .unwrap()
}

/// A screen opened a moment ago has no chat list until its link delivers one: Ctrl-N then
/// asks the daemon's list instead of doing nothing (the key was lost before).
#[test]
fn ctrl_n_before_the_list_arrives_asks_the_daemon() {
    let ctrl = |c| KeyEvent::new(KeyCode::Char(c), KeyModifiers::CONTROL);
    let mut screen = Screen::new(contact("tern1bob"), false);
    assert!(matches!(screen.on_key(ctrl('n')), Action::SwitchBy(1)));
    assert!(matches!(screen.on_key(ctrl('p')), Action::SwitchBy(-1)));

    screen.on_report(Report::Chats(vec![chat("tern1bob"), chat("#family")]));
    assert!(matches!(screen.on_key(ctrl('n')), Action::Switch(p) if p == "#family"));
    // The list goes with the screen to the next chat.
    let mut next = screen.switched(contact("tern1cy"), false);
    assert!(matches!(next.on_key(ctrl('n')), Action::Switch(p) if p == "tern1bob"));
}

fn text(id: &str, text: &str) -> MessageView {
    serde_json::from_value(serde_json::json!({
        "id": id, "peer": "tern1bob", "direction": "in", "text": text,
        "sent_at_ms": 1_800_000_000_000_u64, "delivery": {"state": "delivered"}, "read": true,
    }))
    .unwrap()
}

#[test]
fn a_search_selects_the_newest_message_found_and_esc_clears_it() {
    use super::super::search::Matches;
    let mut screen = Screen::new(contact("tern1bob"), false);
    screen.on_report(Report::History(crate::api::model::HistoryPage {
        messages: (0..30)
            .map(|i| text(&format!("m{i}"), &format!("message {i}")))
            .collect(),
        before: None,
    }));
    let typed = "/search dinner";
    for c in typed.chars() {
        screen.on_key(KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE));
    }
    assert!(matches!(
        screen.on_key(KeyEvent::new(KeyCode::Enter, KeyModifiers::NONE)),
        Action::Command(Command::Search(words)) if words == "dinner"
    ));
    let hit = |id: &str| (id.to_owned(), 1_800_000_000_000, format!("dinner {id}"));
    screen.on_report(Report::Found(Matches {
        query: "dinner".into(),
        hits: vec![hit("m12"), hit("m3"), hit("gone")],
    }));
    assert_eq!(screen.selected, Some(12));
    // Brought into view: the lines of the 17 messages after it are below.
    assert!(screen.scroll >= 17, "{}", screen.scroll);
    assert!(
        screen
            .problem
            .as_deref()
            .is_some_and(|p| p.contains("3 found"))
    );
    let highlighted = screen
        .lines(80)
        .iter()
        .flat_map(|line| line.spans.clone())
        .filter(|span| span.style == super::super::search::HIT)
        .count();
    assert_eq!(highlighted, 2, "m12 and m3, not what is not on screen");
    screen.on_key(KeyEvent::new(KeyCode::Esc, KeyModifiers::NONE));
    assert!(screen.found.is_none() && screen.selected.is_none());
    assert!(
        !screen
            .lines(80)
            .iter()
            .flat_map(|line| line.spans.clone())
            .any(|span| span.style == super::super::search::HIT)
    );
}
