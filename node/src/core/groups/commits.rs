//! The changes a member makes to a group: a commit made from an intent (add, remove, rename,
//! promote or demote, the waiting proposals, renewing our keys, moving the log), and leaving.

use tern_mls::Change;

use super::*;

impl Core {
    pub(super) async fn leave_group(&mut self, id: GroupId) -> Result<(), Error> {
        self.ready(id)?;
        let mut pending = Pending::new(Batch::new(), Vec::new());
        let seq = self.stage_leave(&mut pending, id).await?;
        self.commit(pending).await?;
        self.after_group_write(id, &[seq]);
        Ok(())
    }

    /// Stages our leave (a proposal to remove us, for a member who stays to commit) in the
    /// outbox; returns its sequence number.
    async fn stage_leave(&mut self, pending: &mut Pending, id: GroupId) -> Result<u64, Error> {
        let log = self.live(id)?.row.log;
        let ((body, epoch), layer) = self
            .with_group(id, move |cx, g| {
                cx.op(|p, signer, _| {
                    let bytes = g
                        .leave(p, signer, &Certificates)
                        .and_then(|proposal| glue::seal_entry(g, p, &log, &proposal))
                        .map_err(|e| Error::Group(e.into()))?;
                    Ok((bytes, g.epoch()))
                })
            })
            .await?;
        glue::stage(&mut pending.batch, layer)?;
        let row = GroupOutboxRow {
            body,
            epoch,
            what: OutgoingRow::Leave,
        };
        self.stage_outgoing(pending, id, row)
    }

    /// Makes our leave again if the epoch it was made in ended before a sequencer took it:
    /// the commit that ended the epoch dropped the proposal, and without this we would stay
    /// in a group we asked to leave. After every page of the log, after a move of the log,
    /// and at start.
    pub(super) async fn redo_stale_leave(&mut self, id: GroupId) -> Result<(), Error> {
        let Some(live) = self.groups.live.get(&id) else {
            return Ok(());
        };
        let epoch = live.mls().epoch();
        let stale: Vec<u64> = live
            .outbox
            .iter()
            .filter(|(_, row)| matches!(row.what, OutgoingRow::Leave) && row.epoch < epoch)
            .map(|(seq, _)| *seq)
            .collect();
        if stale.is_empty() || !live.row.active || live.behind.is_some() {
            return Ok(());
        }
        let again = !live.mls().is_leaving();
        let mut pending = Pending::new(Batch::new(), Vec::new());
        for seq in stale {
            self.forget_own(&mut pending, id, seq)?;
        }
        let seq = if again {
            Some(self.stage_leave(&mut pending, id).await?)
        } else {
            None
        };
        self.commit(pending).await?;
        if let Some(seq) = seq {
            info!(group = %id.short(), epoch, "our leave's epoch ended first: leaving again");
            self.after_group_write(id, &[seq]);
        }
        Ok(())
    }

    /// Makes a commit for `intent` and queues it for the log.
    pub(super) async fn commit_intent(
        &mut self,
        id: GroupId,
        intent: IntentRow,
    ) -> Result<(), Error> {
        self.ready(id)?;
        self.make_intent(id, intent, false).await
    }

    /// On the outbox tick (its first comes right after a start): makes again each commit of
    /// ours set aside (`OutageRow::set_aside`) because it lost its epoch or waited at a log we
    /// failed over, once no failover is held. It stays stored until the write that makes it,
    /// so a crash in between loses nothing. One that can no longer be made (the member it
    /// names is gone, we are no longer an admin, the group ended or we fell behind it) is
    /// dropped; one that cannot be made yet (the disk is full, the database failed) waits for
    /// the next tick.
    pub(in crate::core) async fn remake_set_aside_commits(&mut self) {
        if self.groups.drop_followups {
            // A test's crash right after the write that set them aside: nothing after it.
            return;
        }
        let due: Vec<(GroupId, IntentRow)> = self
            .groups
            .live
            .iter()
            .filter(|(_, live)| live.failovers.is_empty() && live.pending_commit().is_none())
            .filter_map(|(id, live)| Some((*id, live.outage.set_aside.clone()?)))
            .collect();
        for (id, intent) in due {
            if let Err(e) = self.remake_set_aside(id, intent).await {
                debug!(group = %id.short(), "a change of ours set aside still waits: {e}");
            }
        }
    }

    /// Makes `intent`, set aside in group `id`, again; drops it if it can no longer be made.
    async fn remake_set_aside(&mut self, id: GroupId, intent: IntentRow) -> Result<(), Error> {
        let result = match self.ready_to_remake(id) {
            Ok(_) => self.make_intent(id, intent, true).await,
            Err(e) => Err(e),
        };
        match result {
            Err(Error::Group(
                e @ (GroupError::NoSuchGroup(_)
                | GroupError::NotMember(_)
                | GroupError::NotAllowed(_)
                | GroupError::NoMember(_)
                | GroupError::FellBehind(_)
                | GroupError::NoRelays
                | GroupError::BadRelays(_)
                | GroupError::BadName
                | GroupError::Refused(_)),
            )) => {
                warn!(group = %id.short(), "dropping a change of ours that can no longer be made: {e}");
                self.live_mut(id)?.outage.set_aside = None;
                self.write_outage(id).await
            }
            result => result,
        }
    }

    /// Makes the commit of `intent` in group `id`, ready for it; `remade` clears the commit
    /// set aside in the same write.
    async fn make_intent(
        &mut self,
        id: GroupId,
        intent: IntentRow,
        remade: bool,
    ) -> Result<(), Error> {
        if self.room() == Room::Full {
            return Err(Error::StorageFull);
        }
        let live = self.live(id)?;
        let me = self.account.user_id();
        // What the intent names, as MLS sees it.
        let leaves = match &intent {
            IntentRow::Remove(members) => {
                let mut leaves = Vec::new();
                for member in members {
                    if *member == me {
                        return Err(Error::Group(GroupError::NotAllowed(
                            "leave the group rather than remove yourself".into(),
                        )));
                    }
                    let of: Vec<u32> = live
                        .mls()
                        .members()
                        .iter()
                        .filter(|m| glue::account(&m.identity) == Some(*member))
                        .map(|m| m.leaf)
                        .collect();
                    if of.is_empty() {
                        return Err(Error::Group(GroupError::NoMember(*member)));
                    }
                    leaves.extend(of);
                }
                leaves
            }
            IntentRow::Admin(member, _) => {
                if !live
                    .mls()
                    .members()
                    .iter()
                    .any(|m| glue::account(&m.identity) == Some(*member))
                {
                    return Err(Error::Group(GroupError::NoMember(*member)));
                }
                Vec::new()
            }
            _ => Vec::new(),
        };
        let ((out, next_key, epoch), layer) = self.make_commit(id, &intent, leaves, false).await?;
        let mut pending = Pending::new(Batch::new(), Vec::new());
        glue::stage(&mut pending.batch, layer)?;
        let row = GroupOutboxRow {
            body: out.commit,
            epoch,
            what: OutgoingRow::Commit {
                next_key,
                welcome: out.welcome,
                intent,
            },
        };
        let seq = self.stage_outgoing(&mut pending, id, row)?;
        let cleared = if remade {
            let live = self.live(id)?;
            let outage = crate::group::tables::OutageRow {
                set_aside: None,
                ..live.outage.clone()
            };
            failover::stage_outage(&mut pending.batch, live.conv, &outage)?;
            Some(outage)
        } else {
            None
        };
        self.commit(pending).await?;
        if let Some(outage) = cleared {
            self.live_mut(id)?.outage = outage;
        }
        self.after_group_write(id, &[seq]);
        Ok(())
    }

    /// Makes a commit for `intent` (`leaves`: the leaves it names), sealed as the log holds
    /// it; returns it with the next epoch's access key and the epoch it is made in, and the
    /// MLS rows to write. `discard_first` drops a commit of ours still pending first.
    pub(super) async fn make_commit(
        &mut self,
        id: GroupId,
        intent: &IntentRow,
        leaves: Vec<u32>,
        discard_first: bool,
    ) -> Result<((tern_mls::Outgoing, [u8; 32], u64), Layer), Error> {
        let log = self.live(id)?.row.log;
        let made = intent.clone();
        self.with_group(id, move |cx, g| {
            cx.op(|p, signer, _| {
                if discard_first && g.has_pending_commit() {
                    g.discard_own_commit(p)
                        .map_err(|e| Error::Group(e.into()))?;
                }
                let v = &Certificates;
                let out = match &made {
                    IntentRow::Add(adds) => {
                        let packages: Vec<Vec<u8>> =
                            adds.iter().map(|(_, kp)| kp.clone()).collect();
                        g.add_members(p, signer, v, &packages)
                    }
                    IntentRow::Remove(_) => g.remove_members(p, signer, v, &leaves),
                    IntentRow::Rename(name) => g.rename(p, signer, v, name),
                    IntentRow::Admin(member, admin) => g.set_admin(
                        p,
                        signer,
                        v,
                        &tern_mls::Identity(member.as_bytes().to_vec()),
                        *admin,
                    ),
                    IntentRow::Pending => g.commit_pending(p, signer, v),
                    IntentRow::Update => g.self_update(p, signer, v),
                    IntentRow::Readd(_, key_package) => g.readd(p, signer, v, key_package),
                    // A fresh id each time: the relays cannot link the logs, and a
                    // group whose id was taken at a relay escapes (§9.8).
                    IntentRow::Move(relays) => {
                        g.move_log(p, signer, v, (&random::<32>(), &moving::log_relays(relays)))
                    }
                }
                .map_err(|e| Error::Group(e.into()))?;
                let next = glue::next_access(g, p, &log)
                    .map_err(|e| Error::Group(e.into()))?
                    .ok_or(Error::Group(GroupError::Refused(
                        "the commit is not pending".into(),
                    )))?;
                // Sealed under the key of the epoch it is made in, as members read it.
                let out = tern_mls::Outgoing {
                    commit: glue::seal_entry(g, p, &log, &out.commit)
                        .map_err(|e| Error::Group(e.into()))?,
                    ..out
                };
                Ok((out, next.public(), g.epoch()))
            })
        })
        .await
    }
}

/// The events of another member's commit, by account.
pub(super) fn change_events(committer: UserId, changes: Vec<Change>) -> Vec<GroupEvent> {
    let (mut added, mut removed) = (Vec::new(), Vec::new());
    let mut events = Vec::new();
    for change in changes {
        match change {
            Change::Added(m) => added.extend(glue::account(&m.identity)),
            Change::Removed(m) => removed.extend(glue::account(&m.identity)),
            Change::Renamed(name) => events.push(GroupEvent::Renamed {
                by: committer,
                name,
            }),
            Change::Promoted(identity) => {
                events.extend(
                    glue::account(&identity).map(|member| GroupEvent::AdminChanged {
                        by: committer,
                        member,
                        admin: true,
                    }),
                );
            }
            Change::Demoted(identity) => {
                events.extend(
                    glue::account(&identity).map(|member| GroupEvent::AdminChanged {
                        by: committer,
                        member,
                        admin: false,
                    }),
                );
            }
            Change::LogMoved(relays) => events.push(GroupEvent::LogMoved {
                by: committer,
                relays: sequencer_addresses(&moving::sequencer_rows(&relays)),
            }),
            _ => {}
        }
    }
    added.dedup();
    removed.dedup();
    // Removed and added in one commit: added back after falling behind (`Group::readd`).
    let back: Vec<UserId> = added
        .iter()
        .filter(|a| removed.contains(a))
        .copied()
        .collect();
    added.retain(|a| !back.contains(a));
    removed.retain(|r| !back.contains(r));
    let mut out = Vec::new();
    if !back.is_empty() {
        out.push(GroupEvent::AddedBack {
            by: committer,
            members: back,
        });
    }
    if !added.is_empty() {
        out.push(GroupEvent::Added {
            by: committer,
            members: added,
        });
    }
    if !removed.is_empty() {
        out.push(GroupEvent::Removed {
            by: committer,
            members: removed,
        });
    }
    out.extend(events);
    out
}
