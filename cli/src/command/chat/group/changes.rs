//! What the chat screen shows of changes to the group itself: members joining and leaving,
//! renames, admins, the log moving, the disappearing-message timer, and this device's own
//! place in the group, each an inline notice (and the member list kept in step). The same
//! words serve the notices history keeps and the events that arrive while the chat is open.

use super::{Entry, GroupMemberView, Screen, now_ms};
use crate::api::model::GroupEventView;

/// The chat subscribes to events before it reads history, so a change made in between is in
/// both. A notice of history placed this shortly before it arrived may be the echo of an
/// event to come, and only an event this shortly after it may be an echo.
const OVERLAP_MS: u64 = 10_000;

impl Screen {
    /// A change to the group (any event [`Screen::on_event`] does not handle itself): its
    /// notice, unless history brought it already, and the group's state kept in step.
    pub(super) fn on_change(&mut self, event: GroupEventView) {
        let fresh = now_ms() < self.history_at_ms.saturating_add(OVERLAP_MS);
        let echo = self.entries.iter_mut().find_map(|entry| match entry {
            Entry::Notice { echo, .. } if fresh && echo.as_deref() == Some(&event) => Some(echo),
            _ => None,
        });
        match echo {
            Some(echo) => *echo = None,
            None => {
                if let Some(text) = self.change_text(&event) {
                    self.notice(text);
                }
            }
        }
        self.follow(event);
    }

    /// A notice from history, `change` made at `at_ms`.
    pub(super) fn history_notice(&mut self, at_ms: u64, change: GroupEventView) {
        let Some(text) = self.change_text(&change) else {
            return;
        };
        let echo = (at_ms.saturating_add(OVERLAP_MS) >= now_ms()).then(|| Box::new(change));
        self.entries.push(Entry::Notice { at_ms, text, echo });
    }

    /// What the chat says of a change, with people's names; `None` for an event that is
    /// none.
    fn change_text(&self, event: &GroupEventView) -> Option<String> {
        crate::output::group_change(event, &|address| self.name(address))
    }

    /// The group as `event` leaves it: its members, name, admins, timer and relays.
    fn follow(&mut self, event: GroupEventView) {
        match event {
            GroupEventView::Added { members, .. } => {
                for address in members {
                    if !self.group.members.iter().any(|m| m.address == address) {
                        self.group.members.push(GroupMemberView {
                            address,
                            admin: false,
                        });
                    }
                }
            }
            GroupEventView::Removed { members, .. } => {
                self.group.members.retain(|m| !members.contains(&m.address));
            }
            GroupEventView::Renamed { name, .. } => self.group.name = name,
            GroupEventView::TimerChanged { timer_secs, .. } => {
                self.group.disappear_secs = (timer_secs != 0).then_some(timer_secs);
            }
            GroupEventView::AdminChanged { member, admin, .. } => {
                for m in &mut self.group.members {
                    if m.address == member {
                        m.admin = admin;
                    }
                }
                if member == self.me {
                    self.group.admin = admin;
                }
            }
            GroupEventView::Ended => {
                self.group.active = false;
                self.group.admin = false;
                self.group.members.clear();
            }
            GroupEventView::LogMoved { relays, .. } => self.group.sequencers = relays,
            _ => {}
        }
    }
}
