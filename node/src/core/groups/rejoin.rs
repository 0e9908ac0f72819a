//! Falling behind a group's log and being added back (`docs/protocol/groups.md` §10.7).
//!
//! A sequencer keeps a log's entries for its retention (21 days). A device away for longer
//! finds that the commit that ended its epoch has expired: every sequencer refuses its reads
//! with `Expired`, and it can never read on. The log task reports it; this device then
//! stops reading, sending and committing in the group, records a `FellBehind` event (the
//! chat shows the gap: what was sent meanwhile is lost to this device), and asks the group's
//! admins among its contacts, over the 1:1 path, to add it back with a fresh key package. An
//! admin that still has us in the group replaces our leaves with that key package in one
//! commit (`tern_mls::Group::readd`) and sends the Welcome as for any add; the first such
//! commit wins the log, and other admins find the key package already in the tree. The
//! Welcome replaces our old state of the group, and the messages we had queued are
//! encrypted again in the new epoch.

use crate::body::GroupOp;
use crate::group::tables::{GroupOutbox, GroupRejoins, RejoinRow};

use super::*;

/// How long after asking to be added back we ask again, while still behind; and how long an
/// admin waits before it adds the same member back again (each add-back costs the group a
/// commit, so a member cannot make an admin commit at will).
const ASK_AGAIN_MS: u64 = 24 * 3600 * 1000;

impl Core {
    /// Reads the groups we are behind in (once the groups are live) and keeps their log
    /// tasks stopped.
    pub(super) async fn load_rejoins(&mut self) -> Result<(), Error> {
        let rows = self
            .read(|s| s.scan::<GroupRejoins>(.., ScanDirection::Forward, usize::MAX))
            .await?;
        for (conv, row) in rows {
            if let Some(live) = self.groups.live.values_mut().find(|l| l.conv == conv) {
                live.cancel.cancel();
                live.control = None;
                live.behind = Some(row);
            }
        }
        Ok(())
    }

    /// Every sequencer said our epoch's entries expired: stop, show the gap, and ask to be
    /// added back.
    pub(super) async fn fell_behind(&mut self, id: GroupId) -> Result<(), Error> {
        let live = self.live(id)?;
        if !live.row.active || live.behind.is_some() {
            return Ok(());
        }
        warn!(
            group = %id.short(),
            "fell behind the group's log (its entries expired); asking to be added back"
        );
        self.stop_group(id);
        let now = self.time.now_ms();
        let mut pending = Pending::new(Batch::new(), Vec::new());
        let asked = self.ask_to_rejoin(&mut pending, id).await?;
        let row = RejoinRow {
            since_ms: now,
            asked_ms: now,
            asked: asked.clone(),
        };
        let conv = self.live_conv(id)?;
        pending.batch.put::<GroupRejoins>(&conv, &row)?;
        pending.events.push(Event::Group {
            group: id,
            event: GroupEvent::FellBehind { asked },
        });
        self.commit(pending).await?;
        self.live_mut(id)?.behind = Some(row);
        self.dispatch_due().await;
        Ok(())
    }

    /// Asks again, daily, in the groups we are still behind in.
    pub(crate) async fn ask_to_rejoin_again(&mut self) {
        let now = self.time.now_ms();
        let due: Vec<GroupId> = self
            .groups
            .live
            .iter()
            .filter(|(_, l)| {
                l.behind
                    .as_ref()
                    .is_some_and(|b| b.asked_ms.saturating_add(ASK_AGAIN_MS) <= now)
            })
            .map(|(id, _)| *id)
            .collect();
        for id in due {
            let result = async {
                let mut pending = Pending::new(Batch::new(), Vec::new());
                let asked = self.ask_to_rejoin(&mut pending, id).await?;
                let live = self.live_mut(id)?;
                let Some(row) = live.behind.as_mut() else {
                    return Ok(());
                };
                row.asked_ms = now;
                row.asked = asked;
                let (conv, row) = (live.conv, row.clone());
                pending.batch.put::<GroupRejoins>(&conv, &row)?;
                self.commit(pending).await?;
                self.dispatch_due().await;
                Ok::<_, Error>(())
            }
            .await;
            if let Err(e) = result {
                warn!(group = %id.short(), "cannot ask to be added back: {e}");
            }
        }
    }

    /// Stages a request to be added back, with a fresh key package, to each admin of group
    /// `id` (as of the epoch we are stuck in) that is an accepted contact; returns them.
    async fn ask_to_rejoin(
        &mut self,
        pending: &mut Pending,
        id: GroupId,
    ) -> Result<Vec<UserId>, Error> {
        let asked = self.member_contacts(id, |m| m.admin).await?;
        if asked.is_empty() {
            return Ok(asked);
        }
        let key_package = self.fresh_key_package(pending).await?;
        let op = GroupOp::Rejoin {
            group: *id.as_bytes(),
            key_package,
        };
        for admin in &asked {
            let body = self.group_body(op.clone());
            self.enqueue(pending, *admin, &body, false).await?;
        }
        Ok(asked)
    }

    /// `sender` asks to be added back to group `group`: kept for when the group is ready for
    /// a commit of ours, if we are an admin of it, the key package is the sender's own, the
    /// sender is still a member, and no admin added this key package yet.
    pub(super) async fn receive_rejoin(
        &mut self,
        sender: UserId,
        group: [u8; 32],
        key_package: Vec<u8>,
    ) -> Result<(), Error> {
        let id = GroupId::from_bytes(group);
        let Ok(live) = self.active(id) else {
            *self
                .groups
                .refused
                .entry("rejoin_unknown_group")
                .or_default() += 1;
            return Ok(());
        };
        let member = live
            .mls()
            .members()
            .iter()
            .any(|m| glue::account(&m.identity) == Some(sender));
        if !live.mls().is_admin() || !member {
            *self.groups.refused.entry("rejoin_not_allowed").or_default() += 1;
            return Ok(());
        }
        let package = key_package.clone();
        let (own, _) = self
            .with_group(id, move |cx, g| {
                Ok(cx
                    .op(|p, _, _| tern_mls::key_package_identity(p, &Certificates, &package))
                    .ok()
                    .and_then(|identity| glue::account(&identity))
                    == Some(sender)
                    && !cx.op(|p, _, _| {
                        Ok::<_, Error>(g.has_key_package(p, &Certificates, &package))
                    })?)
            })
            .await?;
        if !own {
            *self.groups.refused.entry("rejoin_key_package").or_default() += 1;
            return Ok(());
        }
        let now = self.time.now_ms();
        let recent = self
            .groups
            .readded_ms
            .get(&(id, sender))
            .is_some_and(|at| now.saturating_sub(*at) < ASK_AGAIN_MS);
        if recent {
            *self.groups.refused.entry("rejoin_too_soon").or_default() += 1;
            return Ok(());
        }
        if !self
            .groups
            .readds
            .iter()
            .any(|(g, u, _)| *g == id && *u == sender)
        {
            self.groups.readds.push((id, sender, key_package));
        }
        self.groups.followups.push(Followup::Adds);
        Ok(())
    }

    /// Makes the add-backs that wait, in groups ready for a commit of ours.
    pub(super) async fn run_readds(&mut self) -> Result<(), Error> {
        let waiting = std::mem::take(&mut self.groups.readds);
        let mut first_error = None;
        for (id, member, key_package) in waiting {
            if self.active(id).is_err() {
                continue;
            }
            if self.ready(id).is_err() {
                self.groups.readds.push((id, member, key_package));
                continue;
            }
            info!(group = %id.short(), member = %member.short(), "adding back a member that fell behind");
            self.groups
                .readded_ms
                .insert((id, member), self.time.now_ms());
            if let Err(e) = self
                .commit_intent(id, IntentRow::Readd(member, key_package))
                .await
            {
                first_error.get_or_insert(e);
            }
        }
        first_error.map_or(Ok(()), Err)
    }

    /// Whether a Welcome for group `id` may replace the state we hold of it: we left or were
    /// removed (and are added again), or we fell behind.
    pub(super) fn replaceable(&self, id: &GroupId) -> bool {
        self.groups
            .live
            .get(id)
            .is_some_and(|l| !l.row.active || l.behind.is_some())
    }

    /// Encrypts again, in the epoch we joined, the messages still queued from before a
    /// Welcome replaced our state of group `id`; drops the commits and leaves queued then.
    pub(super) async fn restage_queued(&mut self, id: GroupId) -> Result<(), Error> {
        let conv = self.live_conv(id)?;
        let queued = self
            .read(move |s| {
                s.scan::<GroupOutbox>(
                    (conv, 0)..=(conv, u64::MAX),
                    ScanDirection::Forward,
                    usize::MAX,
                )
            })
            .await?;
        if queued.is_empty() {
            return Ok(());
        }
        let mut rows = Vec::with_capacity(queued.len());
        for ((_, seq), row) in queued {
            rows.push((seq, row.what.clone()));
            self.live_mut(id)?.outbox.insert(seq, row);
        }
        self.remake(id, rows).await?;
        Ok(())
    }
}
