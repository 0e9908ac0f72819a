//! What the chat screen shows of changes to the group itself: members joining and leaving,
//! renames, admins, the log moving, the disappearing-message timer, and this device's own
//! place in the group, each an inline notice (and the member list kept in step).

use super::{GroupMemberView, Screen};
use crate::api::model::GroupEventView;

impl Screen {
    /// A change to the group (any event [`Screen::on_event`] does not handle itself).
    pub(super) fn on_change(&mut self, event: GroupEventView) {
        match event {
            GroupEventView::Joined { name, by } => {
                let text = match by {
                    Some(by) => t!("chat-group-joined", by = self.name(&by), name = name),
                    None => t!("chat-group-created", name = name),
                };
                self.notice(text);
            }
            GroupEventView::Added { by, members } => {
                let text = t!(
                    "chat-group-added",
                    by = self.name(&by),
                    members = self.names_of(&members)
                );
                self.notice(text);
                for address in members {
                    if !self.group.members.iter().any(|m| m.address == address) {
                        self.group.members.push(GroupMemberView {
                            address,
                            admin: false,
                        });
                    }
                }
            }
            GroupEventView::Removed { by, members } => {
                let text = if members == [by.clone()] {
                    t!("chat-group-left", member = self.name(&by))
                } else {
                    t!(
                        "chat-group-removed",
                        by = self.name(&by),
                        members = self.names_of(&members)
                    )
                };
                self.notice(text);
                self.group.members.retain(|m| !members.contains(&m.address));
            }
            GroupEventView::Renamed { by, name } => {
                let text = t!(
                    "chat-group-renamed",
                    by = self.name(&by),
                    name = name.as_str()
                );
                self.notice(text);
                self.group.name = name;
            }
            GroupEventView::TimerChanged { by, timer_secs } => {
                let by = self.name(&by);
                let text = match timer_secs {
                    0 => t!("chat-group-timer-off", by = by),
                    secs => t!(
                        "chat-group-timer",
                        by = by,
                        timer = crate::command::timer_words(secs)
                    ),
                };
                self.notice(text);
                self.group.disappear_secs = (timer_secs != 0).then_some(timer_secs);
            }
            GroupEventView::AdminChanged { by, member, admin } => {
                let (by, name) = (self.name(&by), self.name(&member));
                let text = if admin {
                    t!("chat-group-promoted", by = by, member = name)
                } else {
                    t!("chat-group-demoted", by = by, member = name)
                };
                self.notice(text);
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
                self.notice(t!("chat-group-ended"));
                self.group.active = false;
                self.group.admin = false;
                self.group.members.clear();
            }
            GroupEventView::AddWaiting { member } => {
                let text = t!("chat-group-waiting", member = self.name(&member));
                self.notice(text);
            }
            GroupEventView::FellBehind { asked } => {
                let text = if asked.is_empty() {
                    t!("chat-group-behind-alone")
                } else {
                    t!("chat-group-behind", admins = self.names_of(&asked))
                };
                self.notice(text);
            }
            GroupEventView::Missed { count } => {
                self.notice(t!("chat-group-missed", count = count));
            }
            GroupEventView::AddedBack { by, members } => {
                let text = t!(
                    "chat-group-added-back",
                    by = self.name(&by),
                    members = self.names_of(&members)
                );
                self.notice(text);
            }
            GroupEventView::LogMoved { by, relays } => {
                let list = relays.join(", ");
                let text = t!("chat-group-log-moved", by = self.name(&by), relays = list);
                self.notice(text);
                self.group.sequencers = relays;
            }
            _ => {}
        }
    }
}
