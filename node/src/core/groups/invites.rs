//! The 1:1 side of groups (`docs/protocol/groups.md` §10): key packages asked for and given
//! over the sessions of accepted peers, adds that wait for them, invitations that carry a
//! Welcome, and the work left for after a write.

use crate::body::{GroupControl, GroupOp};
use crate::group::tables::{
    HeldKeyPackages, InvitePartRow, InviteParts, MAX_HELD, MAX_OPEN_INVITES, PendingAdds,
};

use super::*;

impl Core {
    /// A group body from `sender`, an accepted peer, staged in the receive's write.
    pub(in crate::core) async fn receive_group_control(
        &mut self,
        pending: &mut Pending,
        sender: UserId,
        control: GroupControl,
    ) -> Result<(), Error> {
        match control.op {
            GroupOp::KeyPackageRequest => {
                let package = self.fresh_key_package(pending).await?;
                let body = self.group_body(GroupOp::KeyPackages(vec![package]));
                self.enqueue(pending, sender, &body, false).await?;
            }
            GroupOp::KeyPackages(packages) => {
                let offered = packages.len();
                let (own, _) = self
                    .mls(move |cx| {
                        packages
                            .into_iter()
                            .filter(|package| {
                                cx.op(|p, _, _| {
                                    tern_mls::key_package_identity(p, &Certificates, package)
                                })
                                .ok()
                                .and_then(|identity| glue::account(&identity))
                                    == Some(sender)
                            })
                            .collect::<Vec<_>>()
                    })
                    .await?;
                if own.len() < offered {
                    *self
                        .groups
                        .refused
                        .entry("foreign_key_package")
                        .or_default() += (offered - own.len()) as u64;
                }
                if own.is_empty() {
                    return Ok(());
                }
                // Two answers of one peer can arrive in one receive write: the second adds to
                // what the first staged.
                let conv = self.conv(&sender);
                let mut held = self
                    .read_staged::<HeldKeyPackages>(&pending.batch, conv)
                    .await?
                    .unwrap_or_default();
                held.extend(own);
                let excess = held.len().saturating_sub(MAX_HELD);
                held.drain(..excess);
                pending.batch.put::<HeldKeyPackages>(&conv, &held)?;
                self.groups.followups.push(Followup::Adds);
            }
            GroupOp::Invite {
                welcome,
                log,
                sequencers,
            } => {
                let sent = (sender, control.stamp);
                self.join_from_invite(pending, sent, welcome, log, sequencers)
                    .await?;
            }
            GroupOp::InvitePart {
                invite,
                index,
                count,
                bytes,
            } => {
                let sent = (sender, control.stamp);
                self.receive_invite_part(pending, sent, invite, (index, count), bytes)
                    .await?;
            }
            GroupOp::InviteFile {
                descriptor,
                sequencers,
            } => {
                let sent = (sender, control.id, control.stamp);
                self.receive_invite_file(pending, sent, descriptor, sequencers)
                    .await?;
            }
            GroupOp::Rejoin { group, key_package } => {
                self.receive_rejoin(sender, group, key_package).await?;
            }
            GroupOp::Failover {
                group,
                epoch,
                entry,
            } => {
                self.receive_failover(pending, sender, (group, epoch, entry))
                    .await?;
            }
        }
        Ok(())
    }

    /// A fresh key package of this device, its private keys staged in `pending`'s write.
    pub(super) async fn fresh_key_package(
        &mut self,
        pending: &mut Pending,
    ) -> Result<Vec<u8>, Error> {
        let (made, layer) = self
            .mls(|cx| {
                cx.op(|p, signer, certificate| {
                    tern_mls::key_package(p, signer, certificate.to_vec())
                        .map_err(|e| Error::Group(e.into()))
                })
            })
            .await?;
        let package = made?;
        glue::stage(&mut pending.batch, layer)?;
        Ok(package)
    }

    /// An invitation from `sender`: joins the group from its Welcome, if the sender is in it
    /// and we are not yet.
    pub(super) async fn join_from_invite(
        &mut self,
        pending: &mut Pending,
        (sender, sent): (UserId, Stamp),
        welcome: Vec<u8>,
        log: [u8; 32],
        sequencers: Vec<SequencerRow>,
    ) -> Result<(), Error> {
        // A group we left, were removed from or fell behind in may take us again.
        let replaceable: Vec<GroupId> = self
            .groups
            .live
            .keys()
            .filter(|id| self.replaceable(id))
            .copied()
            .collect();
        let (joined, layer) = self
            .mls(move |cx| {
                cx.op(|p, _, _| {
                    let replace = |id: &[u8]| replaceable.iter().any(|r| r.as_bytes() == id);
                    tern_mls::Group::join_replacing(p, &welcome, &Certificates, &replace)
                        .map_err(|e| Error::Group(e.into()))
                })
            })
            .await?;
        let group = match joined {
            Ok(group) => group,
            Err(e) => {
                *self.groups.refused.entry("welcome").or_default() += 1;
                debug!("refused a group invitation: {e}");
                return Ok(());
            }
        };
        // The inviter must be in the group it invites to.
        let inviter_in = group
            .members()
            .iter()
            .any(|m| glue::account(&m.identity) == Some(sender));
        let Ok(id) = <[u8; 32]>::try_from(group.id()).map(GroupId::from_bytes) else {
            return Ok(());
        };
        let known =
            self.groups.live.get(&id).is_some_and(|l| l.row.active) && !self.replaceable(&id);
        if !inviter_in || known || sequencers.is_empty() {
            *self.groups.refused.entry("invitation").or_default() += 1;
            return Ok(());
        }
        glue::stage(&mut pending.batch, layer)?;
        let name = group.name().to_owned();
        // Where the group itself says its log is wins over the invitation's copy.
        let named = moving::sequencer_rows(group.relays());
        let (log, sequencers) = match moving::log_id(&group) {
            Some(own) if !named.is_empty() => (own, named),
            _ => (log, sequencers),
        };
        let row = GroupRow::joined(
            *id.as_bytes(),
            name.clone(),
            log,
            sequencers,
            self.time.now_ms(),
        );
        pending.batch.put::<Groups>(&self.group_key(&id), &row)?;
        pending
            .batch
            .delete::<crate::group::tables::GroupRejoins>(&self.group_key(&id));
        // What the state this Welcome replaces held (we fell behind, and are added back)
        // goes with it: its outage, a commit it set aside, the failovers it held.
        let conv = self.group_key(&id);
        pending
            .batch
            .delete::<crate::group::tables::GroupOutages>(&conv);
        if let Some(live) = self.groups.live.get(&id) {
            for digest in live.failovers.keys() {
                pending
                    .batch
                    .delete::<crate::group::tables::GroupFailovers>(&(conv, *digest));
            }
        }
        let from = pending.events.len();
        pending.events.push(Event::Group {
            group: id,
            event: GroupEvent::Joined {
                name,
                by: Some(sender),
            },
        });
        // Its notice stands when the inviter sent the invitation (the commit had won): before
        // what members wrote since, however late this device takes it.
        let now = self.time.now_ms();
        pending.happened_since(from, sent.min(hlc::at_millis(now)));
        self.groups.followups.push(Followup::Start(id));
        Ok(())
    }

    /// A part of an invitation from `sender`: kept until the last one arrives, when the
    /// invitation they make up is taken. A peer keeps at most [`MAX_OPEN_INVITES`]
    /// invitations unfinished; parts beyond, or that disagree on their count, are refused.
    ///
    /// Envelopes are received in groups committed in one write, so a part staged earlier in
    /// this write is not in the store yet: the parts are the store's and those this process
    /// staged, together.
    async fn receive_invite_part(
        &mut self,
        pending: &mut Pending,
        (sender, sent): (UserId, Stamp),
        invite: [u8; 16],
        (index, count): (u16, u16),
        bytes: Vec<u8>,
    ) -> Result<(), Error> {
        let conv = self.conv(&sender);
        let stored = self
            .read(move |s| {
                s.scan::<InviteParts>(
                    (conv, [0; 16], 0)..=(conv, [0xFF; 16], u64::MAX),
                    ScanDirection::Forward,
                    usize::MAX,
                )
            })
            .await?;
        let mut open: BTreeMap<[u8; 16], BTreeMap<u64, InvitePartRow>> = BTreeMap::new();
        for ((_, id, at), row) in stored {
            open.entry(id).or_default().insert(at, row);
        }
        for ((from, id), parts) in &self.groups.invite_parts {
            if *from == conv {
                open.entry(*id).or_default().extend(parts.clone());
            }
        }
        let known = open.contains_key(&invite);
        let mut parts = open.remove(&invite).unwrap_or_default();
        if (!known && open.len() >= MAX_OPEN_INVITES) || parts.values().any(|p| p.count != count) {
            *self.groups.refused.entry("invite_part").or_default() += 1;
            return Ok(());
        }
        // A part that came twice counts once.
        let index = u64::from(index);
        let row = InvitePartRow { count, bytes };
        parts.insert(index, row.clone());
        if parts.len() < usize::from(count) {
            pending
                .batch
                .put::<InviteParts>(&(conv, invite, index), &row)?;
            self.groups
                .invite_parts
                .entry((conv, invite))
                .or_default()
                .insert(index, row);
            return Ok(());
        }
        for at in parts.keys() {
            pending.batch.delete::<InviteParts>(&(conv, invite, *at));
        }
        self.groups.invite_parts.remove(&(conv, invite));
        match crate::body::assemble_invite(parts.values().map(|p| p.bytes.as_slice())) {
            Some(GroupOp::Invite {
                welcome,
                log,
                sequencers,
            }) => {
                self.join_from_invite(pending, (sender, sent), welcome, log, sequencers)
                    .await
            }
            _ => {
                *self.groups.refused.entry("invitation").or_default() += 1;
                Ok(())
            }
        }
    }

    /// Sends each new member of group `id` its invitation: the Welcome and where the log is,
    /// as a file at the group's sequencers when it is too large for one message
    /// (`groups/invite_files.rs`).
    pub(super) async fn send_invites(
        &mut self,
        pending: &mut Pending,
        (id, members): (GroupId, &[UserId]),
        welcome: Vec<u8>,
        log: [u8; 32],
        sequencers: Vec<SequencerRow>,
    ) -> Result<(), Error> {
        let invite = GroupOp::Invite {
            welcome,
            log,
            sequencers: sequencers.clone(),
        };
        let Ok(encoded) = postcard::to_stdvec(&invite) else {
            warn!("cannot encode an invitation");
            return Ok(());
        };
        if encoded.len() > self.invite_part_len {
            return self
                .send_invite_file(pending, (id, members), encoded, sequencers)
                .await;
        }
        for member in members {
            let body = self.group_body(invite.clone());
            self.enqueue(pending, *member, &body, false).await?;
        }
        Ok(())
    }

    /// The accounts of group `id`'s members that `pick` takes and that are our accepted
    /// contacts, ourselves left out, each once: whom the 1:1 side of the group reaches.
    pub(super) async fn member_contacts(
        &mut self,
        id: GroupId,
        pick: impl Fn(&tern_mls::Member) -> bool,
    ) -> Result<Vec<UserId>, Error> {
        let me = self.account.user_id();
        let mut accounts: Vec<UserId> = self
            .live(id)?
            .mls()
            .members()
            .iter()
            .filter(|m| pick(m))
            .filter_map(|m| glue::account(&m.identity))
            .filter(|account| *account != me)
            .collect();
        accounts.sort();
        accounts.dedup();
        let mut contacts = Vec::with_capacity(accounts.len());
        for account in accounts {
            if self.standing(&account).await? == requests::Standing::Accepted {
                contacts.push(account);
            }
        }
        Ok(contacts)
    }

    pub(super) fn group_body(&mut self, op: GroupOp) -> Body {
        Body::Group(GroupControl {
            id: MessageId::random(&mut UnwrapErr(getrandom::SysRng)),
            stamp: self.clock.tick(self.time.now_ms()),
            op,
        })
    }

    /// Adds `members` to group `id`: at once with the key packages we hold for them, and for
    /// the others once they answer our request for one.
    pub(super) async fn add_members(
        &mut self,
        id: GroupId,
        members: Vec<UserId>,
    ) -> Result<(), Error> {
        let live = self.ready(id)?;
        if !live.mls().is_admin() {
            return Err(Error::Group(GroupError::NotAllowed(
                "only admins add members".into(),
            )));
        }
        let group_conv = live.conv;
        let me = self.account.user_id();
        let present: Vec<UserId> = live
            .mls()
            .members()
            .iter()
            .filter_map(|m| glue::account(&m.identity))
            .collect();
        let mut adds = Vec::new();
        let mut held_after = Vec::new();
        let mut waiting = Vec::new();
        // Members someone else added while we waited for their key package: no add waits.
        let mut in_already = Vec::new();
        for member in members {
            if present.contains(&member) {
                in_already.push(self.conv(&member));
                continue;
            }
            if member == me || adds.iter().any(|(u, _)| *u == member) {
                continue;
            }
            let conv = self.conv(&member);
            let mut held = self
                .read(move |s| s.get::<HeldKeyPackages>(&conv))
                .await?
                .unwrap_or_default();
            if held.is_empty() {
                waiting.push(member);
            } else {
                adds.push((member, held.remove(0)));
                held_after.push((conv, held));
            }
        }
        if !adds.is_empty() {
            self.commit_intent(id, IntentRow::Add(adds.clone())).await?;
        }
        let mut pending = Pending::new(Batch::new(), Vec::new());
        for conv in in_already {
            pending.batch.delete::<PendingAdds>(&(conv, group_conv));
        }
        for (conv, held) in held_after {
            if held.is_empty() {
                pending.batch.delete::<HeldKeyPackages>(&conv);
            } else {
                pending.batch.put::<HeldKeyPackages>(&conv, &held)?;
            }
            pending.batch.delete::<PendingAdds>(&(conv, group_conv));
        }
        for member in waiting {
            let conv = self.conv(&member);
            pending
                .batch
                .put::<PendingAdds>(&(conv, group_conv), &member)?;
            let body = self.group_body(GroupOp::KeyPackageRequest);
            self.enqueue(&mut pending, member, &body, false).await?;
            pending.events.push(Event::Group {
                group: id,
                event: GroupEvent::AddWaiting { member },
            });
        }
        if !pending.batch.is_empty() || !pending.events.is_empty() {
            self.commit(pending).await?;
        }
        Ok(())
    }

    /// Does the work that waited for a write.
    pub(in crate::core) async fn run_group_followups(&mut self) {
        let followups = std::mem::take(&mut self.groups.followups);
        if self.groups.drop_followups {
            debug!(
                count = followups.len(),
                "dropping the work after a group write (test)"
            );
            return;
        }
        for followup in followups {
            let result = match followup {
                Followup::Start(id) => self.start_joined(id).await,
                Followup::Adds => match self.retry_waiting_adds().await {
                    Ok(()) => self.run_readds().await,
                    Err(e) => Err(e),
                },
                Followup::Upload(row) => {
                    self.upload_invite(&row).await;
                    Ok(())
                }
                Followup::FetchInvite(key) => self.fetch_invite(key).await,
            };
            if let Err(e) = result {
                warn!("group work after a write failed: {e}");
            }
        }
    }

    /// Loads a group joined from a Welcome (committed) and starts its log task.
    async fn start_joined(&mut self, id: GroupId) -> Result<(), Error> {
        let conv = self.group_key(&id);
        let Some(row) = self.read(move |s| s.get::<Groups>(&conv)).await? else {
            return Ok(());
        };
        let Some((group, access)) = self.load_group(&row).await? else {
            return Ok(());
        };
        self.go_live(id, conv, row, group, access, BTreeMap::new());
        info!(group = %id.short(), "joined a group");
        // What a state this Welcome replaced had queued (`groups/rejoin.rs`).
        self.restage_queued(id).await
    }

    /// On the outbox tick, while adds may wait with their key packages here
    /// ([`GroupState::adds_due`]): makes them.
    pub(in crate::core) async fn retry_due_adds(&mut self) {
        if !self.groups.adds_due || self.groups.drop_followups {
            return;
        }
        self.groups.adds_due = false;
        if let Err(e) = self.retry_waiting_adds().await {
            debug!("adds waiting for key packages still wait: {e}");
            self.groups.adds_due = true;
        }
    }

    /// Makes the adds that wait for key packages we now hold, in groups that are ready. Those
    /// of a group busy with a commit, or that failed for a while (a full disk, a failed
    /// write), are left for the outbox tick; those that cannot be made (we are no longer an
    /// admin, the key package is refused) wait for the next key package or start.
    pub(super) async fn retry_waiting_adds(&mut self) -> Result<(), Error> {
        let waiting = self
            .read(|s| s.scan::<PendingAdds>(.., ScanDirection::Forward, usize::MAX))
            .await?;
        debug!(waiting = waiting.len(), "adds waiting for key packages");
        // One commit per group adds everyone whose key package is here.
        let mut ready: BTreeMap<Conv, Vec<UserId>> = BTreeMap::new();
        for ((peer_conv, group_conv), member) in waiting {
            let held = self
                .read(move |s| s.get::<HeldKeyPackages>(&peer_conv))
                .await?;
            if held.is_some_and(|h| !h.is_empty()) {
                ready.entry(group_conv).or_default().push(member);
            }
        }
        for (group_conv, members) in ready {
            let Some(id) = self
                .groups
                .live
                .iter()
                .find(|(_, l)| l.conv == group_conv)
                .map(|(id, _)| *id)
            else {
                continue;
            };
            let result = match self.ready(id) {
                Ok(_) => self.add_members(id, members).await,
                Err(e) => Err(e),
            };
            match result {
                Ok(()) => {}
                Err(Error::Group(GroupError::Busy) | Error::StorageFull | Error::Storage(_)) => {
                    self.groups.adds_due = true;
                }
                Err(e) => debug!(group = %id.short(), "adds waiting for key packages: {e}"),
            }
        }
        Ok(())
    }
}
