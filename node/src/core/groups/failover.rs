//! Moving a group's log away from sequencers nobody reaches (`docs/protocol/groups.md` §9.9).
//!
//! A log moves by an admin's commit that the log orders (§9.8). When every sequencer stays
//! unreachable, nothing can order that commit, so the admins step in, longest-standing
//! first: once the log task has reached no sequencer for the failover delay, the first admin
//! (one stagger later per place in the order for the others, so that one usually acts
//! alone) makes the commit that moves the log to relays of its own that work, and hands it
//! to the members among its contacts over the 1:1 path. Each member passes a failover on to
//! the members among its own contacts the first time it holds it, so it reaches every
//! member invitations connected; and an admin that holds one makes none.
//!
//! Admins that failed over at once each made their own commit for the same epoch. So a
//! member follows none at once: it holds what it receives (and what it made) for the settle
//! time from the first, then takes the one whose sealed commit has the smallest SHA-256
//! among those that process (an admin's commit for this epoch that moves the log and
//! changes nothing else, `tern_mls::Group::process_failover`). Every member that holds the
//! same failovers takes the same one. Following one is a page of one commit: the group's row
//! takes the new log, the log task restarts there, and our messages of the ended epoch are
//! made again in the new one.

use sha2::{Digest, Sha256};
use tern_mls::Processed;

use super::*;
use crate::{
    body::GroupOp,
    group::tables::{FailoverRow, GroupFailovers, GroupOutages, MAX_FAILOVERS, OutageRow},
};

/// The digest a failover is known and ordered by.
fn digest(entry: &[u8]) -> [u8; 32] {
    Sha256::digest(entry).into()
}

/// Whether an admin at `rank`, whose log has been unreachable since `since`, moves it at
/// `now`.
fn due(failover: &crate::GroupFailover, since: u64, rank: usize, now: u64) -> bool {
    let millis = |d: Duration| u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
    let wait =
        millis(failover.after).saturating_add(millis(failover.stagger).saturating_mul(rank as u64));
    now >= since.saturating_add(wait)
}

/// Stages group `conv`'s outage row as it stands: written, or deleted once empty.
pub(super) fn stage_outage(batch: &mut Batch, conv: Conv, row: &OutageRow) -> Result<(), Error> {
    if *row == OutageRow::default() {
        batch.delete::<GroupOutages>(&conv);
        Ok(())
    } else {
        Ok(batch.put::<GroupOutages>(&conv, row)?)
    }
}

/// The failovers of `epoch` in the order they are tried: by digest, smallest first.
fn in_order(held: &BTreeMap<[u8; 32], FailoverRow>, epoch: u64) -> Vec<([u8; 32], FailoverRow)> {
    held.iter()
        .filter(|(_, row)| row.epoch == epoch)
        .map(|(digest, row)| (*digest, row.clone()))
        .collect()
}

/// Follows `row`, a failover of the group's epoch: ours is merged, another's opened and
/// processed; or the reason it is refused.
fn follow(
    cx: &mut Cx<'_>,
    g: &mut tern_mls::Group,
    log: &[u8; 32],
    row: &FailoverRow,
) -> Result<Followed, &'static str> {
    if row.from.is_none() {
        if !g.has_pending_commit() {
            return Err("own_commit");
        }
        return cx
            .op(|p, _, _| g.merge_own_commit(p, &Certificates))
            .map(Followed::Own)
            .map_err(|_| "own_commit");
    }
    let message = cx
        .op(|p, _, _| glue::open_entry(g, p, log, &row.entry).ok_or(()))
        .map_err(|()| "sealed_entry")?;
    match cx.op(|p, _, _| g.process_failover(p, &Certificates, &message)) {
        Ok(Processed::Commit {
            committer,
            changes,
            own_commit_lost,
        }) => glue::account(&committer.identity)
            .map(|by| Followed::Theirs(by, changes, own_commit_lost))
            .ok_or("credential"),
        Ok(Processed::OwnCommit { changes }) => Ok(Followed::Own(changes)),
        Ok(_) => Err("invalid"),
        Err(e) => Err(entries::refusal_code(&e)),
    }
}

/// What following a failover did.
enum Followed {
    /// Our own, and what it changed.
    Own(Vec<tern_mls::Change>),
    /// Another admin's; whether a commit of ours, pending at the log, lost to it.
    Theirs(UserId, Vec<tern_mls::Change>, bool),
}

impl Core {
    /// Reads the failovers each group holds, and its outage (once the groups are live).
    pub(super) async fn load_failovers(&mut self) -> Result<(), Error> {
        let rows = self
            .read(|s| s.scan::<GroupFailovers>(.., ScanDirection::Forward, usize::MAX))
            .await?;
        for ((conv, digest), row) in rows {
            if let Some(live) = self.groups.live.values_mut().find(|l| l.conv == conv) {
                live.failovers.insert(digest, row);
            }
        }
        let outages = self
            .read(|s| s.scan::<GroupOutages>(.., ScanDirection::Forward, usize::MAX))
            .await?;
        for (conv, row) in outages {
            if let Some(live) = self.groups.live.values_mut().find(|l| l.conv == conv) {
                live.outage = row;
            }
        }
        Ok(())
    }

    /// The log task of `log` reaches a sequencer, or none: its first word since it started,
    /// or a change. An outage from before a restart goes on counting from when it began,
    /// once the log task finds it still there.
    pub(super) async fn on_reach(
        &mut self,
        id: GroupId,
        log: [u8; 32],
        reachable: bool,
    ) -> Result<(), Error> {
        let now = self.time.now_ms();
        let Some(live) = self.groups.live.get_mut(&id).filter(|l| l.row.log == log) else {
            return Ok(());
        };
        live.reach_known = true;
        let before = live.outage.since_ms;
        if reachable {
            live.outage.since_ms = None;
        } else {
            warn!(group = %id.short(), "no sequencer of the group's log answers");
            live.outage.since_ms.get_or_insert(now);
        }
        if live.outage.since_ms == before {
            return Ok(());
        }
        self.write_outage(id).await
    }

    /// Writes group `id`'s outage as memory holds it, in a write of its own.
    pub(super) async fn write_outage(&mut self, id: GroupId) -> Result<(), Error> {
        let live = self.live(id)?;
        let mut batch = Batch::new();
        stage_outage(&mut batch, live.conv, &live.outage)?;
        self.commit(Pending::new(batch, Vec::new())).await?;
        Ok(())
    }

    /// On the outbox tick: each group whose log stayed unreachable for the failover delay
    /// (one stagger more per admin before us) is moved by us, if we are an admin and hold no
    /// failover of it; and failovers held for the settle time are decided.
    pub(crate) async fn fail_over_logs(&mut self) {
        let now = self.time.now_ms();
        let failover = self.groups.failover;
        let due = self.active_groups_where(|live| {
            let (Some(since), Some(rank)) = (live.outage.since_ms, live.mls().admin_rank()) else {
                return false;
            };
            // A member on its way out leaves the move to the admins who stay.
            live.reach_known
                && live.failovers.is_empty()
                && live.behind.is_none()
                && !live.mls().is_leaving()
                && due(&failover, since, rank, now)
        });
        for id in due {
            if let Err(e) = self.fail_over(id, now).await {
                warn!(group = %id.short(), "cannot move the group's unreachable log: {e}");
            }
        }
        let stale = self.active_groups_where(|live| {
            let epoch = live.mls().epoch();
            live.failovers.values().any(|row| row.epoch != epoch)
        });
        for id in stale {
            if let Err(e) = self.drop_stale_failovers(id).await {
                warn!(group = %id.short(), "cannot drop failovers of an ended epoch: {e}");
            }
        }
        let settle = u64::try_from(failover.settle.as_millis()).unwrap_or(u64::MAX);
        let settled = self.active_groups_where(|live| {
            live.failovers
                .values()
                .map(|row| row.received_ms)
                .min()
                .is_some_and(|first| now >= first.saturating_add(settle))
        });
        for id in settled {
            if let Err(e) = self.settle_failovers(id).await {
                warn!(group = %id.short(), "cannot follow a failover of the group's log: {e}");
            }
        }
    }

    /// Moves group `id`'s log to relays of ours that work, by a commit made outside the log,
    /// held until it settles and handed to the members among our contacts.
    async fn fail_over(&mut self, id: GroupId, now: u64) -> Result<(), Error> {
        // Should this attempt fail, the next comes a whole delay later.
        self.live_mut(id)?.outage.since_ms = Some(now);
        self.write_outage(id).await?;
        let live = self.live(id)?;
        let current: Vec<&[u8]> = live
            .row
            .sequencers
            .iter()
            .map(|s| s.peer.as_slice())
            .collect();
        let relays: Vec<SequencerRow> = moving::canonical(
            &self
                .relays
                .working()
                .into_iter()
                .filter(|(peer, _)| !current.contains(&peer.to_bytes().as_slice()))
                .take(SEQUENCERS)
                .map(|(peer, addresses)| SequencerRow {
                    peer: peer.to_bytes(),
                    addresses: addresses.iter().map(ToString::to_string).collect(),
                })
                .collect::<Vec<_>>(),
        );
        if relays.is_empty() {
            // Offline ourselves, or no other relay: a whole delay later, try again.
            warn!(group = %id.short(), "the group's log is unreachable, and no other relay of ours works");
            return Ok(());
        }
        let stuck = live
            .pending_commit()
            .map(|(seq, row)| (seq, row.what.clone()));
        let intent = IntentRow::Move(relays);
        let ((out, _, epoch), layer) = self
            .make_commit(id, &intent, Vec::new(), stuck.is_some())
            .await?;
        let mut pending = Pending::new(Batch::new(), Vec::new());
        glue::stage(&mut pending.batch, layer)?;
        if let Some((seq, what)) = stuck {
            // Nothing orders it any more: made again once the failover is decided.
            self.forget_own(&mut pending, id, seq)?;
            if let OutgoingRow::Commit { intent, .. } = what {
                let live = self.live_mut(id)?;
                live.outage.set_aside = Some(intent);
                stage_outage(&mut pending.batch, live.conv, &live.outage)?;
            }
        }
        let entry = out.commit;
        let row = FailoverRow {
            epoch,
            entry: entry.clone(),
            from: None,
            received_ms: now,
        };
        let conv = self.live(id)?.conv;
        let key = digest(&entry);
        pending.batch.put::<GroupFailovers>(&(conv, key), &row)?;
        let op = GroupOp::Failover {
            group: *id.as_bytes(),
            epoch,
            entry,
        };
        let told = self.pass_on(&mut pending, id, op, None).await?;
        self.commit(pending).await?;
        self.live_mut(id)?.failovers.insert(key, row);
        info!(group = %id.short(), epoch, told, "moving the group's unreachable log");
        self.dispatch_due().await;
        Ok(())
    }

    /// Stages `op` to every member of group `id` among our accepted contacts but `except`;
    /// returns how many.
    async fn pass_on(
        &mut self,
        pending: &mut Pending,
        id: GroupId,
        op: GroupOp,
        except: Option<UserId>,
    ) -> Result<usize, Error> {
        let members = self.member_contacts(id, |_| true).await?;
        let mut told = 0;
        for member in members.into_iter().filter(|m| Some(*m) != except) {
            let body = self.group_body(op.clone());
            self.enqueue(pending, member, &body, false).await?;
            told += 1;
        }
        Ok(told)
    }

    /// A failover of `group`'s log from `sender`, a member among our contacts: held until it
    /// settles, and passed on, if it is for our epoch and sealed under our log's key.
    /// Anything else is refused and counted; one for an epoch we already left is dropped.
    pub(super) async fn receive_failover(
        &mut self,
        pending: &mut Pending,
        sender: UserId,
        (group, epoch, entry): ([u8; 32], u64, Vec<u8>),
    ) -> Result<(), Error> {
        let id = GroupId::from_bytes(group);
        let refuse = |core: &mut Self, code: &'static str| {
            *core.groups.refused.entry(code).or_default() += 1;
            debug!(group = %id.short(), "refused a failover: {code}");
        };
        let Some(live) = self.groups.live.get(&id) else {
            refuse(self, "failover_group");
            return Ok(());
        };
        let from_member = live
            .mls()
            .members()
            .iter()
            .any(|m| glue::account(&m.identity) == Some(sender));
        if !live.row.active || live.behind.is_some() || !from_member {
            refuse(self, "failover_group");
            return Ok(());
        }
        let current = live.mls().epoch();
        if epoch < current {
            // Decided already, here or by the log: nothing to hold.
            return Ok(());
        }
        if epoch > current {
            refuse(self, "failover_epoch");
            return Ok(());
        }
        let key = digest(&entry);
        if live.failovers.contains_key(&key) {
            return Ok(());
        }
        if live.failovers.len() >= MAX_FAILOVERS {
            refuse(self, "failover_full");
            return Ok(());
        }
        let (conv, log) = (live.conv, live.row.log);
        let sealed = entry.clone();
        let (opens, _) = self
            .with_group(id, move |cx, g| {
                Ok(cx
                    .op(|p, _, _| glue::open_entry(g, p, &log, &sealed).ok_or(()))
                    .is_ok())
            })
            .await?;
        if !opens {
            refuse(self, "failover_sealed");
            return Ok(());
        }
        let row = FailoverRow {
            epoch,
            entry: entry.clone(),
            from: Some(sender),
            received_ms: self.time.now_ms(),
        };
        pending.batch.put::<GroupFailovers>(&(conv, key), &row)?;
        self.live_mut(id)?.failovers.insert(key, row);
        info!(group = %id.short(), epoch, "holding a failover of the group's log");
        let op = GroupOp::Failover {
            group,
            epoch,
            entry,
        };
        self.pass_on(pending, id, op, Some(sender)).await?;
        Ok(())
    }

    /// Drops the failovers of an epoch group `id` has left: the log came back and ordered
    /// a commit first (which our own failover, if any, lost to). A commit of ours that was
    /// waiting for the failover is made again once none is held.
    async fn drop_stale_failovers(&mut self, id: GroupId) -> Result<(), Error> {
        let live = self.live_mut(id)?;
        let epoch = live.mls().epoch();
        let stale: Vec<[u8; 32]> = live
            .failovers
            .iter()
            .filter(|(_, row)| row.epoch != epoch)
            .map(|(key, _)| *key)
            .collect();
        let conv = live.conv;
        let mut batch = Batch::new();
        for key in &stale {
            batch.delete::<GroupFailovers>(&(conv, *key));
        }
        live.failovers.retain(|key, _| !stale.contains(key));
        stage_outage(&mut batch, conv, &live.outage)?;
        self.commit(Pending::new(batch, Vec::new())).await?;
        info!(group = %id.short(), count = stale.len(), "dropped failovers the log overtook");
        Ok(())
    }

    /// Decides the failovers group `id` held for the settle time: follows the first, by
    /// digest, that processes, and drops the rest.
    async fn settle_failovers(&mut self, id: GroupId) -> Result<(), Error> {
        let live = self.live(id)?;
        let (conv, log) = (live.conv, live.row.log);
        let candidates = in_order(&live.failovers, live.mls().epoch());
        let keys: Vec<[u8; 32]> = live.failovers.keys().copied().collect();
        let ((followed, refused, access), layer) = self
            .with_group(id, move |cx, g| {
                let mut refused = Vec::new();
                let mut followed = None;
                for (_, row) in &candidates {
                    match follow(cx, g, &log, row) {
                        Ok(done) => {
                            followed = Some(done);
                            break;
                        }
                        Err(code) => refused.push(code),
                    }
                }
                if followed.is_none() && g.has_pending_commit() {
                    // Ours did not merge: nothing waits for it any more.
                    cx.op(|p, _, _| g.discard_own_commit(p))
                        .map_err(|e| Error::Group(e.into()))?;
                }
                let log = moving::log_id(g).unwrap_or(log);
                let access = cx.op(|p, _, _| glue::current_access(g, p, &log)).ok();
                Ok((followed, refused, access))
            })
            .await?;
        for code in refused {
            *self.groups.refused.entry(code).or_default() += 1;
        }
        let mut pending = Pending::new(Batch::new(), Vec::new());
        glue::stage(&mut pending.batch, layer)?;
        for key in keys {
            pending.batch.delete::<GroupFailovers>(&(conv, key));
        }
        let me = self.account.user_id();
        let live = self.live_mut(id)?;
        live.failovers.clear();
        let (mut moved, mut ended) = (false, false);
        if let Some(followed) = followed {
            // A failover takes members' waiting leaves with it: ours too.
            let active = live.mls().is_active();
            ended = live.row.active && !active;
            live.row.active = active;
            moved = active && live.follow_log_move();
            if moved {
                moving::stage_forget_copies(&mut pending.batch, conv, live.mls().epoch());
            }
            live.outage.since_ms = None;
            if let Some(access) = access {
                live.access = access;
            }
            pending.batch.put::<Groups>(&conv, &live.row)?;
            let events = match followed {
                Followed::Own(changes) => commits::change_events(me, changes),
                Followed::Theirs(by, changes, own_lost) => {
                    if own_lost {
                        // A commit of ours waiting at the old log: made again in the new
                        // epoch, as when the log orders another first.
                        self.decide_own_commit(&mut pending, id, None).await?;
                    }
                    commits::change_events(by, changes)
                }
            };
            for event in events {
                pending.events.push(Event::Group { group: id, event });
            }
            if ended {
                self.stage_ended(&mut pending, id).await?;
            }
        }
        stage_outage(&mut pending.batch, conv, &self.live(id)?.outage)?;
        self.commit(pending).await?;
        if ended {
            info!(group = %id.short(), "a failover of the group's log took our leave with it");
            self.stop_group(id);
        } else if moved {
            info!(group = %id.short(), "followed a failover of the group's log");
            self.log_moved(id).await?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn admins_move_an_unreachable_log_one_stagger_apart() {
        let failover = crate::GroupFailover {
            after: Duration::from_secs(60),
            stagger: Duration::from_secs(10),
            settle: Duration::from_secs(5),
        };
        assert!(!due(&failover, 1_000, 0, 60_999));
        assert!(due(&failover, 1_000, 0, 61_000));
        assert!(!due(&failover, 1_000, 2, 61_000));
        assert!(due(&failover, 1_000, 2, 81_000));
        let never = crate::GroupFailover {
            after: Duration::MAX,
            ..failover
        };
        assert!(!due(&never, 1_000, 0, u64::MAX - 1));
    }

    #[test]
    fn failovers_of_the_epoch_are_tried_smallest_digest_first() {
        let row = |epoch: u64, fill: u8| FailoverRow {
            epoch,
            entry: vec![fill; 8],
            from: None,
            received_ms: 0,
        };
        let held: BTreeMap<[u8; 32], FailoverRow> = [row(4, 1), row(4, 2), row(3, 3), row(4, 4)]
            .into_iter()
            .map(|r| (digest(&r.entry), r))
            .collect();
        let order: Vec<[u8; 32]> = in_order(&held, 4).into_iter().map(|(d, _)| d).collect();
        assert_eq!(order.len(), 3);
        assert!(order.windows(2).all(|w| w[0] < w[1]));
        assert!(in_order(&held, 5).is_empty());
    }
}
