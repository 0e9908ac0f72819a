//! The requests of [`crate::Node`]'s group methods, and how the core answers each: most
//! hand over to the module of their concern; creating a group is answered here.

use super::*;

/// What [`Core::on_group_request`] answers.
pub(crate) enum GroupRequest {
    Create {
        name: String,
        reply: oneshot::Sender<Result<GroupId, Error>>,
    },
    Add {
        group: GroupId,
        members: Vec<UserId>,
        reply: oneshot::Sender<Result<(), Error>>,
    },
    Remove {
        group: GroupId,
        members: Vec<UserId>,
        reply: oneshot::Sender<Result<(), Error>>,
    },
    Leave {
        group: GroupId,
        reply: oneshot::Sender<Result<(), Error>>,
    },
    Rename {
        group: GroupId,
        name: String,
        reply: oneshot::Sender<Result<(), Error>>,
    },
    SetAdmin {
        group: GroupId,
        member: UserId,
        admin: bool,
        reply: oneshot::Sender<Result<(), Error>>,
    },
    MoveLog {
        group: GroupId,
        relays: Vec<libp2p::Multiaddr>,
        reply: oneshot::Sender<Result<(), Error>>,
    },
    /// A text (`Compose::Text`) or a file (`Compose::File`).
    Send {
        group: GroupId,
        compose: Compose,
        reply: oneshot::Sender<Result<MessageId, Error>>,
    },
    FileTarget {
        group: GroupId,
        reply: oneshot::Sender<Result<GroupFileTarget, Error>>,
    },
    AutoDownload {
        group: GroupId,
        rule: Option<u64>,
        reply: oneshot::Sender<Result<(), Error>>,
    },
    History {
        group: GroupId,
        limit: usize,
        reply: oneshot::Sender<Result<Vec<GroupMessage>, Error>>,
    },
    List {
        reply: oneshot::Sender<Result<Vec<GroupInfo>, Error>>,
    },
    Info {
        group: GroupId,
        reply: oneshot::Sender<Result<GroupInfo, Error>>,
    },
    MarkRead {
        group: GroupId,
        reply: oneshot::Sender<Result<usize, Error>>,
    },
}

impl Core {
    pub(in crate::core) async fn on_group_request(&mut self, request: GroupRequest) {
        match request {
            GroupRequest::Create { name, reply } => {
                let _ = reply.send(self.create_group(name).await);
            }
            GroupRequest::Add {
                group,
                members,
                reply,
            } => {
                let _ = reply.send(self.add_members(group, members).await);
            }
            GroupRequest::Remove {
                group,
                members,
                reply,
            } => {
                let result = self.commit_intent(group, IntentRow::Remove(members)).await;
                let _ = reply.send(result);
            }
            GroupRequest::Leave { group, reply } => {
                let _ = reply.send(self.leave_group(group).await);
            }
            GroupRequest::Rename { group, name, reply } => {
                let result = match check_name(&name) {
                    Ok(()) => self.commit_intent(group, IntentRow::Rename(name)).await,
                    Err(e) => Err(e),
                };
                let _ = reply.send(result);
            }
            GroupRequest::SetAdmin {
                group,
                member,
                admin,
                reply,
            } => {
                let intent = IntentRow::Admin(member, admin);
                let _ = reply.send(self.commit_intent(group, intent).await);
            }
            GroupRequest::MoveLog {
                group,
                relays,
                reply,
            } => {
                let _ = reply.send(self.move_log(group, relays).await);
            }
            GroupRequest::Send {
                group,
                compose,
                reply,
            } => {
                let _ = reply.send(self.send_to_group(group, compose).await);
            }
            GroupRequest::FileTarget { group, reply } => {
                let _ = reply.send(self.file_target(group));
            }
            GroupRequest::History {
                group,
                limit,
                reply,
            } => {
                let _ = reply.send(self.group_history(group, limit).await);
            }
            GroupRequest::List { reply } => {
                let mut all: Vec<GroupInfo> = self
                    .groups
                    .live
                    .iter()
                    .map(|(id, live)| self.info_of(*id, live))
                    .collect();
                all.sort_by(|a, b| a.name.cmp(&b.name).then(a.id.cmp(&b.id)));
                let _ = reply.send(Ok(all));
            }
            GroupRequest::Info { group, reply } => {
                let _ = reply.send(self.live(group).map(|live| self.info_of(group, live)));
            }
            GroupRequest::AutoDownload { group, rule, reply } => {
                let _ = reply.send(self.set_group_download_rule(group, rule).await);
            }
            GroupRequest::MarkRead { group, reply } => {
                let _ = reply.send(self.mark_group_read(group).await);
            }
        }
    }

    async fn create_group(&mut self, name: String) -> Result<GroupId, Error> {
        check_name(&name)?;
        if self.room() == Room::Full {
            return Err(Error::StorageFull);
        }
        let sequencers: Vec<SequencerRow> = moving::canonical(
            &self
                .relays
                .all()
                .iter()
                .take(SEQUENCERS)
                .map(|(peer, addresses)| SequencerRow {
                    peer: peer.to_bytes(),
                    addresses: addresses.iter().map(ToString::to_string).collect(),
                })
                .collect::<Vec<_>>(),
        );
        if sequencers.is_empty() {
            return Err(Error::Group(GroupError::NoRelays));
        }
        let log: [u8; 32] = random();
        let create_name = name.clone();
        let relays = moving::log_relays(&sequencers);
        let ((group, access), layer) = self
            .mls(move |cx| {
                let group = cx.op(|p, signer, certificate| {
                    tern_mls::Group::create_with_log(
                        p,
                        signer,
                        certificate.to_vec(),
                        &Certificates,
                        &create_name,
                        (&log, &relays),
                    )
                    .map_err(|e| Error::Group(e.into()))
                });
                let access = match &group {
                    Ok(g) => cx.op(|p, _, _| {
                        glue::current_access(g, p, &log).map_err(|e| Error::Group(e.into()))
                    }),
                    Err(_) => Err(Error::Group(GroupError::Refused("no group".into()))),
                };
                (group, access)
            })
            .await?;
        let (group, access) = (group?, access?);
        let id = GroupId::from_bytes(group.id().try_into().map_err(|_| {
            Error::Group(GroupError::Refused("a group id of another length".into()))
        })?);
        let conv = self.group_key(&id);
        let row = GroupRow::joined(
            *id.as_bytes(),
            name.clone(),
            log,
            sequencers,
            self.time.now_ms(),
        );
        let mut batch = Batch::new();
        glue::stage(&mut batch, layer)?;
        batch.put::<Groups>(&conv, &row)?;
        let event = Event::Group {
            group: id,
            event: GroupEvent::Joined { name, by: None },
        };
        self.commit(Pending::new(batch, vec![event])).await?;
        self.go_live(id, conv, row, group, access, BTreeMap::new());
        info!(group = %id.short(), "created a group");
        Ok(id)
    }
}
