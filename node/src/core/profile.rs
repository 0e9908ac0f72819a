//! Profiles: a display name and a short status, shared end to end with contacts only.
//!
//! Our profile lives in [`State`] under `STATE_PROFILE`. Setting it sends a profile body
//! (content type `0x80`, which older nodes pass over silently) through the outbox to every
//! accepted conversation and contact, so it reaches contacts who are offline too, through
//! their relays. A new contact, an accepted request, and a contact who shares a profile with
//! us for the first time get ours. What contacts share is kept in [`Profiles`], the newest by
//! their stamp; a message request's sender shares nothing with us until accepted, and the name
//! the user gave a contact is shown before the one it shares.

use super::*;
use crate::{
    body::{Profile, check_profile},
    tables::{ProfileRow, Profiles, STATE_PROFILE},
};

impl Core {
    /// Our profile, if we set one.
    pub(super) async fn own_profile(&self) -> Result<Option<ProfileRow>, Error> {
        let bytes = self
            .read(|s| s.get::<State>(&STATE_PROFILE.to_owned()))
            .await?;
        Ok(bytes.and_then(|bytes| postcard::from_bytes(&bytes).ok()))
    }

    /// Every profile peers shared, by conversation (the key of contacts and chats alike).
    pub(super) async fn profiles(&self) -> Result<HashMap<Conv, crate::view::Profile>, Error> {
        let rows = self
            .read(|s| s.scan::<Profiles>(.., ScanDirection::Forward, usize::MAX))
            .await?;
        Ok(rows
            .into_iter()
            .map(|(conv, row)| {
                let profile = crate::view::Profile {
                    name: row.name,
                    status: row.status,
                };
                (conv, profile)
            })
            .collect())
    }

    /// Sets our profile and sends it to every accepted conversation and contact. Returns how
    /// many it was sent to.
    pub(super) async fn set_profile(
        &mut self,
        name: String,
        status: String,
    ) -> Result<usize, Error> {
        let name = name.trim().to_owned();
        let status = status.trim().to_owned();
        if check_profile(&name, &status).is_err() {
            return Err(Error::BadProfile);
        }
        let stamp = self.clock.tick(self.time.now_ms());
        let row = ProfileRow {
            name,
            status,
            stamp,
        };
        let mut pending = Pending::new(Batch::new(), Vec::new());
        pending.batch.put::<State>(
            &STATE_PROFILE.to_owned(),
            &postcard::to_stdvec(&row)
                .map_err(|e| Error::Storage(StorageError::other(e.to_string())))?,
        )?;
        let peers = self.accepted_peers().await?;
        for peer in &peers {
            self.stage_profile(&mut pending, *peer, &row).await?;
        }
        self.commit(pending).await?;
        self.dispatch_due().await;
        Ok(peers.len())
    }

    /// The peers our profile and presence go to: contacts, and conversations that are not
    /// requests or blocked.
    pub(super) async fn accepted_peers(&mut self) -> Result<Vec<UserId>, Error> {
        let (chats, contacts) = self
            .read(|s| {
                Ok((
                    s.scan::<Conversations>(.., ScanDirection::Forward, usize::MAX)?,
                    s.scan::<Contacts>(.., ScanDirection::Forward, usize::MAX)?,
                ))
            })
            .await?;
        // Contacts and chats are keyed alike: a peer in both counts once.
        let peers: HashMap<Conv, UserId> = chats
            .into_iter()
            .map(|(conv, chat)| (conv, chat.peer))
            .chain(contacts.into_iter().map(|(conv, row)| (conv, row.user)))
            .collect();
        let mut audience = Vec::with_capacity(peers.len());
        for peer in peers.into_values() {
            if self.standing(&peer).await? == requests::Standing::Accepted {
                audience.push(peer);
            }
        }
        Ok(audience)
    }

    /// Queues `row` for `peer`, with the sessions it advanced.
    async fn stage_profile(
        &mut self,
        pending: &mut Pending,
        peer: UserId,
        row: &ProfileRow,
    ) -> Result<(), Error> {
        let body = Body::Profile(Profile {
            id: MessageId::random(&mut UnwrapErr(getrandom::SysRng)),
            stamp: self.clock.tick(self.time.now_ms()),
            name: row.name.clone(),
            status: row.status.clone(),
        });
        self.enqueue(pending, peer, &body, false).await
    }

    /// Sends our profile, if we have one, to a peer just accepted (a new contact or an
    /// accepted request).
    pub(super) async fn share_profile_with(&mut self, peer: UserId) -> Result<(), Error> {
        let Some(row) = self.own_profile().await? else {
            return Ok(());
        };
        let mut pending = Pending::new(Batch::new(), Vec::new());
        self.stage_profile(&mut pending, peer, &row).await?;
        self.commit(pending).await?;
        self.dispatch_due().await;
        Ok(())
    }

    /// Takes the profile an accepted peer shared, unless a newer one is already here; the
    /// first profile a peer shares gets ours in return.
    pub(super) async fn receive_profile(
        &mut self,
        pending: &mut Pending,
        sender: UserId,
        conv: Conv,
        stamp: Stamp,
        profile: Profile,
    ) -> Result<(), Error> {
        // An earlier profile of the same receive write may be staged, not yet stored.
        let known = self.read_staged::<Profiles>(&pending.batch, conv).await?;
        if known.as_ref().is_some_and(|row| row.stamp >= stamp) {
            return Ok(());
        }
        let row = ProfileRow {
            name: profile.name,
            status: profile.status,
            stamp,
        };
        pending.batch.put::<Profiles>(&conv, &row)?;
        pending.events.push(Event::ProfileChanged {
            peer: sender,
            name: row.name,
            status: row.status,
        });
        if known.is_none()
            && let Some(own) = self.own_profile().await?
        {
            let body = Body::Profile(Profile {
                id: MessageId::random(&mut UnwrapErr(getrandom::SysRng)),
                stamp: self.clock.tick(self.time.now_ms()),
                name: own.name,
                status: own.status,
            });
            self.enqueue(pending, sender, &body, false).await?;
        }
        Ok(())
    }
}
