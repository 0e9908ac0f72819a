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
