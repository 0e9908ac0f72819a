//! Contacts and the read side: chat list, history pages, read marks, status.

use super::*;

/// Most rows of a conversation read at a time when looking for its unread messages.
const MARK_READ_PAGE: usize = 256;

impl Core {
    pub(super) async fn verify_contact(
        &mut self,
        user: UserId,
        verified: bool,
    ) -> Result<(), Error> {
        let conv = self.conv(&user);
        let mut row = self
            .read(move |s| s.get::<Contacts>(&conv))
            .await?
            .ok_or(Error::UnknownContact(user))?;
        row.verified = verified;
        let mut batch = Batch::new();
        batch.put::<Contacts>(&conv, &row)?;
        self.commit(Pending::new(batch, vec![])).await?;
        if verified {
            self.release_identity(user).await?;
        }
        Ok(())
    }

    pub(super) async fn add_contact(&mut self, name: String, user: UserId) -> Result<(), Error> {
        let name = name.trim().to_owned();
        if name.is_empty() || name.len() > 64 {
            return Err(Error::InvalidName);
        }
        let existing = self
            .read(|s| s.scan::<Contacts>(.., ScanDirection::Forward, usize::MAX))
            .await?;
        if existing
            .iter()
            .any(|(_, row)| row.name == name && row.user != user)
        {
            return Err(Error::DuplicateName(name));
        }
        let mut batch = Batch::new();
        let row = ContactRow {
            user,
            name,
            verified: false,
            added_ms: self.time.now_ms(),
        };
        let conv = self.conv(&user);
        batch.put::<Contacts>(&conv, &row)?;
        // A contact is accepted: a request from them becomes their chat.
        let mut summaries = HashMap::new();
        let request = self.stage_accept(&mut batch, &mut summaries, user);
        for (conv, summary) in &summaries {
            batch.put::<Conversations>(conv, summary)?;
        }
        let mut events = Vec::new();
        if request.is_some() {
            events.push(Event::ChatChanged {
                peer: user,
                change: ChatChange::Accepted,
            });
        }
        self.standing.remove(&user);
        self.commit(Pending::new(batch, events)).await?;
        self.area.remove(&conv);
        Ok(())
    }

    pub(super) async fn contacts(&self) -> Result<Vec<Contact>, Error> {
        let rows = self
            .read(|s| s.scan::<Contacts>(.., ScanDirection::Forward, usize::MAX))
            .await?;
        let mut profiles = self.profiles().await?;
        Ok(rows
            .into_iter()
            .map(|(conv, r)| Contact {
                user: r.user,
                name: r.name,
                verified: r.verified,
                profile: profiles.remove(&conv),
                identity: self.identity_state(&r.user),
            })
            .collect())
    }

    pub(super) async fn chats(&self) -> Result<Vec<Chat>, Error> {
        let (rows, contacts) = self
            .read(|s| {
                Ok((
                    s.scan::<Conversations>(.., ScanDirection::Forward, usize::MAX)?,
                    s.scan::<Contacts>(.., ScanDirection::Forward, usize::MAX)?,
                ))
            })
            .await?;
        let names: HashMap<UserId, String> = contacts
            .into_iter()
            .map(|(_, c)| (c.user, c.name))
            .collect();
        let now = self.time.now_ms();
        let mut profiles = self.profiles().await?;
        let mut chats: Vec<Chat> = rows
            .into_iter()
            .map(|(conv, row)| {
                let settings = self.settings.get(&conv).copied().unwrap_or_default();
                Chat {
                    name: names.get(&row.peer).cloned(),
                    peer: row.peer,
                    last_ms: hlc::millis(row.last_stamp),
                    last_text: row.last_text,
                    unread: row.unread,
                    muted_until_ms: (settings.muted_until_ms > now)
                        .then_some(settings.muted_until_ms),
                    archived: settings.archived,
                    pinned: settings.pinned,
                    profile: profiles.remove(&conv),
                    disappear_secs: self.timer(&conv),
                    auto_download: self.download_rule(&conv),
                    typing: self.signals.typing(&row.peer),
                    presence: self.signals.presence(&row.peer),
                    identity: self.identity_state(&row.peer),
                }
            })
            .collect();
        // Pinned chats first, then the most recent.
        chats.sort_by_key(|chat| (!chat.pinned, std::cmp::Reverse(chat.last_ms)));
        Ok(chats)
    }

    pub(super) async fn history(
        &self,
        peer: UserId,
        limit: usize,
        before: Option<HistoryCursor>,
    ) -> Result<Page, Error> {
        let limit = limit.clamp(1, MAX_PAGE);
        let conv = self.conv(&peer);
        let upper = match before {
            Some(cursor) => (cursor.stamp, cursor.id),
            None => (u64::MAX, [0xff; 16]),
        };
        let rows = self
            .read(move |s| {
                s.scan::<Messages>(
                    (conv, 0, [0u8; 16])..(conv, upper.0, upper.1),
                    ScanDirection::Reverse,
                    limit + 1,
                )
            })
            .await?;
        let more = rows.len() > limit;
        let rows: Vec<_> = rows.into_iter().take(limit).collect();
        let before = if more {
            rows.last().map(|((_, stamp, id), _)| HistoryCursor {
                stamp: *stamp,
                id: *id,
            })
        } else {
            None
        };
        // The meta, notice and timer rows of the page: one scan each of the same key range.
        let (metas, notices, expiries, files) = match (rows.last(), rows.first()) {
            (Some((oldest, _)), Some((newest, _))) => {
                let range = *oldest..=*newest;
                self.read(move |s| {
                    Ok((
                        beside::<crate::tables::MessageMeta>(s, &range)?,
                        beside::<crate::tables::Notices>(s, &range)?,
                        beside::<crate::tables::Expiries>(s, &range)?,
                        beside::<crate::tables::Attachments>(s, &range)?,
                    ))
                })
                .await?
            }
            _ => Default::default(),
        };
        let now = self.time.now_ms();
        let mut messages: Vec<Message> = rows
            .into_iter()
            .filter(|((_, stamp, id), _)| {
                // Run out, and erased within the next tick: already gone for the reader.
                expiries
                    .get(&(*stamp, *id))
                    .and_then(|e| e.at_ms)
                    .is_none_or(|at| at > now)
            })
            .map(|((_, stamp, id), row)| {
                let key = (stamp, id);
                attachments::with_file(
                    disappear::with_extras(
                        to_message(MessageId::from_bytes(id), stamp, &row, metas.get(&key)),
                        notices.get(&key),
                        expiries.get(&key),
                    ),
                    files.get(&key),
                )
            })
            .collect();
        messages.reverse();
        Ok(Page { messages, before })
    }

    pub(super) async fn mark_read(&mut self, peer: UserId) -> Result<usize, Error> {
        let conv = self.conv(&peer);
        if self.area.get(&conv).is_some() {
            // A request's sender learns nothing, read receipts included, until accepted.
            return Ok(0);
        }
        let Some(mut summary) = self.read(move |s| s.get::<Conversations>(&conv)).await? else {
            return Ok(0);
        };
        // Every unread message a write stores counts in the summary, and nothing lowers the
        // count but this (a deleted unread message stays counted): the unread messages are
        // found among the newest rows, read a page at a time until that many are found,
        // rather than the whole conversation on every call.
        let mut wanted = summary.unread;
        if wanted == 0 {
            // Nothing to mark, and no write to sync.
            return Ok(0);
        }
        let mut pending = Pending::new(Batch::new(), Vec::new());
        let mut ids = Vec::new();
        let mut read = Vec::new();
        let mut before = (conv, u64::MAX, [0xff; 16]);
        while wanted > 0 {
            let end = before;
            // Twice what is still wanted, within bounds: the unread messages are usually the
            // newest few.
            let limit = (wanted as usize)
                .saturating_mul(2)
                .clamp(16, MARK_READ_PAGE);
            let page = self
                .read(move |s| {
                    s.scan::<Messages>((conv, 0, [0u8; 16])..end, ScanDirection::Reverse, limit)
                })
                .await?;
            let last_page = page.len() < limit;
            for (key, mut row) in page {
                before = key;
                if row.direction == Direction::Incoming && !row.read {
                    row.read = true;
                    pending.batch.put::<Messages>(&key, &row)?;
                    ids.push(MessageId::from_bytes(key.2));
                    read.push(key);
                    wanted = wanted.saturating_sub(1);
                }
            }
            if last_page {
                break;
            }
        }
        self.start_timers(&mut pending.batch, read).await?;
        summary.unread = 0;
        pending.batch.put::<Conversations>(&conv, &summary)?;
        self.enqueue_receipts(&mut pending, peer, ReceiptKind::Read, &ids)
            .await?;
        self.commit(pending).await?;
        self.dispatch_due().await;
        Ok(ids.len())
    }

    pub(super) async fn status(&self) -> Result<NodeStatus, Error> {
        let net = self.net.status().await.map_err(|_| Error::Stopped)?;
        let outbox = self.queue.len();
        let mut rejections = std::collections::BTreeMap::new();
        for (reason, count) in &net.counters.records_rejected {
            rejections.insert(format!("dht_record_{reason}"), *count);
        }
        rejections.insert(
            "delivery_rate_limited".into(),
            net.counters.deliveries_rate_limited,
        );
        rejections.insert("delivery_busy".into(), net.counters.deliveries_busy);
        rejections.insert("delivery_blocked".into(), net.counters.deliveries_blocked);
        rejections.insert("request_dropped".into(), self.requests_dropped);
        rejections.insert("storage_full".into(), self.storage_full);
        for reason in ["forged_change", "edit_window"] {
            let count = self.changes_refused.get(reason).copied().unwrap_or(0);
            rejections.insert(reason.into(), count);
        }
        rejections.insert("dht_record_evicted".into(), net.counters.records_evicted);
        for (code, count) in &self.deposits_refused {
            rejections.insert(format!("relay_refused_{code}"), *count);
        }
        for (code, count) in &self.groups.refused {
            rejections.insert(format!("group_{code}"), *count);
        }
        Ok(NodeStatus {
            user: self.account.user_id(),
            peer_id: net.peer_id.to_string(),
            listen_addresses: net
                .listen_addresses
                .iter()
                .map(ToString::to_string)
                .collect(),
            connected_peers: net.connected_peers,
            nat: net.nat,
            outbox,
            rejections,
            relays: self
                .relays
                .all()
                .iter()
                .map(|(peer, _)| RelayStatus {
                    peer_id: peer.to_string(),
                    connected: net.connected.contains(peer),
                })
                .collect(),
            record_published: self.publication.published(),
            record_current: self.publication.current(),
            circuits: net.reserved_at.iter().map(ToString::to_string).collect(),
            hole_punches: net.punches,
            contacts: self.contact_paths(&net.paths).await?,
        })
    }

    /// Each contact's path: the kind of connection open to its device, else its mailbox.
    async fn contact_paths(
        &self,
        paths: &HashMap<libp2p::PeerId, Path>,
    ) -> Result<Vec<ContactPath>, Error> {
        let rows = self
            .read(|s| s.scan::<Contacts>(.., ScanDirection::Forward, usize::MAX))
            .await?;
        Ok(rows
            .into_iter()
            .map(|(_, row)| ContactPath {
                path: self
                    .records
                    .device_of(&row.user)
                    .and_then(|device| paths.get(&device).copied())
                    .unwrap_or(Path::Mailbox),
                user: row.user,
                name: row.name,
            })
            .collect())
    }
}

/// Rows of a page of history, by `(stamp, id)`.
type ByMessage<V> = HashMap<(u64, [u8; 16]), V>;

/// The rows of a table keyed like [`Messages`] in `range`, by `(stamp, id)`: what a page of
/// history reads beside its messages.
fn beside<T: crate::store::Table<Key = (Conv, u64, [u8; 16])>>(
    store: &Store,
    range: &std::ops::RangeInclusive<T::Key>,
) -> Result<ByMessage<T::Value>, StoreError> {
    Ok(store
        .scan::<T>(range.clone(), ScanDirection::Forward, usize::MAX)?
        .into_iter()
        .map(|((_, stamp, id), value)| ((stamp, id), value))
        .collect())
}
