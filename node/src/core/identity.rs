//! Identity changes. A Tern address is the account's signing key and never changes; what can
//! change behind it is the X25519 identity key that the account binds with a signature and
//! that PQXDH uses. The node pins, for every accepted peer, the key it last saw, from the
//! peer's record (before starting a session) and from the sessions the peer starts. When
//! another key shows up, the user's policy for that peer applies:
//!
//! - every policy puts a notice in the chat and emits [`Event::IdentityChanged`];
//! - `warn` also marks a contact unverified;
//! - `block` does too, and holds everything queued for the peer (in the outbox, nothing lost)
//!   until the user verifies the peer again or changes the policy;
//! - `trust-new` takes the new key and leaves the contact's verification alone.
//!
//! This module also replaces our own identity key ([`Core::rotate_identity_key`]): the old
//! account stays to accept session starts made against the old key while they can still
//! arrive, and the next message to each peer starts a new session under the new key.

use super::{receive::Group, *};
use crate::{
    IdentityPolicy, IdentityState,
    tables::{IdentityRow, NoticeRow, Notices, STATE_ACCOUNT_PREVIOUS},
};

/// How long the account keeps its previous identity key after replacing it: as long as a
/// session start made against it can be accepted (its signed prekey's lifetime).
pub(super) const PREVIOUS_KEY_SECS: u64 = tern_crypto::prekeys::PREKEY_LIFETIME_SECS;

/// The account as it was before the identity key was replaced, until when it is kept.
pub(super) struct Previous {
    pub(super) account: std::sync::Arc<AccountKey>,
    pub(super) until_secs: u64,
}

impl Core {
    /// Loads every pinned identity and our previous identity key, if one is still kept.
    pub(super) async fn load_identities(&mut self) -> Result<(), Error> {
        let (rows, previous) = self
            .read(|s| {
                Ok((
                    s.scan::<Identities>(.., ScanDirection::Forward, usize::MAX)?,
                    s.get::<State>(&STATE_ACCOUNT_PREVIOUS.to_owned())?,
                ))
            })
            .await?;
        self.identities = rows.into_iter().map(|(_, row)| (row.peer, row)).collect();
        self.previous = previous.and_then(|bytes| {
            let (until, account) = bytes.split_at_checked(8)?;
            let until_secs = u64::from_be_bytes(until.try_into().ok()?);
            let account = AccountKey::from_bytes(account).ok()?;
            Some(Previous {
                account: std::sync::Arc::new(account),
                until_secs,
            })
        });
        Ok(())
    }

    /// Whether sending to `peer` waits for the user (a key change under `block`).
    pub(super) fn held(&self, peer: &UserId) -> bool {
        self.identities.get(peer).is_some_and(|row| row.held)
    }

    /// The identity state the API shows for `peer`.
    pub(super) fn identity_state(&self, peer: &UserId) -> IdentityState {
        self.identities
            .get(peer)
            .map(|row| IdentityState {
                policy: row.policy.into(),
                held: row.held,
                changed_at_ms: row.changed_ms,
            })
            .unwrap_or_default()
    }

    /// Our previous account, while session starts made against its key may still arrive.
    pub(super) fn previous_account(&self) -> Option<std::sync::Arc<AccountKey>> {
        self.previous
            .as_ref()
            .filter(|p| p.until_secs > self.time.now_secs())
            .map(|p| p.account.clone())
    }

    /// Notes that `peer` uses identity key `key`. The first key seen is pinned silently; a
    /// different one is a change: staged with its notice and events into `pending`. Returns
    /// the row to keep in memory once `pending` is committed, if it changed.
    pub(super) async fn observe_identity(
        &mut self,
        pending: &mut Pending,
        summaries: &mut HashMap<Conv, ConversationRow>,
        current: Option<&IdentityRow>,
        peer: UserId,
        key: [u8; 32],
    ) -> Result<Option<IdentityRow>, Error> {
        let current = current.or_else(|| self.identities.get(&peer)).cloned();
        let conv = self.conv(&peer);
        let mut row = match current {
            Some(row) if row.key == Some(key) => return Ok(None),
            Some(row) => row,
            None => IdentityRow {
                peer,
                key: None,
                policy: IdentityPolicy::default().into(),
                held: false,
                changed_ms: None,
            },
        };
        let first = row.key.is_none();
        row.key = Some(key);
        if first {
            pending.batch.put::<Identities>(&conv, &row)?;
            return Ok(Some(row));
        }
        let now = self.time.now_ms();
        let policy: IdentityPolicy = row.policy.into();
        row.changed_ms = Some(now);
        row.held = policy == IdentityPolicy::Block;
        pending.batch.put::<Identities>(&conv, &row)?;
        warn!(peer = %peer.short(), ?policy, "a peer's identity key changed");
        if policy != IdentityPolicy::TrustNew
            && let Some(mut contact) = self.read(move |s| s.get::<Contacts>(&conv)).await?
            && contact.verified
        {
            contact.verified = false;
            pending.batch.put::<Contacts>(&conv, &contact)?;
        }
        // The notice: a message of the conversation, read (it is ours, not the peer's).
        let id = MessageId::random(&mut UnwrapErr(getrandom::SysRng));
        let stamp = self.clock.tick(now);
        let message = MessageRow {
            peer,
            direction: Direction::Incoming,
            text: String::new(),
            state: DeliveryState::Delivered,
            read: true,
        };
        self.stage_message(&mut pending.batch, summaries, conv, stamp, id, &message)
            .await?;
        let notice = NoticeRow::IdentityChanged(row.held);
        pending
            .batch
            .put::<Notices>(&(conv, stamp, *id.as_bytes()), &notice)?;
        let shown =
            disappear::with_extras(to_message(id, stamp, &message, None), Some(&notice), None);
        pending.events.push(Event::MessageReceived(shown));
        pending.events.push(Event::IdentityChanged {
            peer,
            policy,
            held: row.held,
        });
        Ok(Some(row))
    }

    /// A session start from `sender` was accepted in a received group: checks its key.
    pub(super) async fn observe_start(
        &mut self,
        pending: &mut Pending,
        staged: &mut Group,
        sender: UserId,
        key: [u8; 32],
    ) -> Result<(), Error> {
        let current = staged.identities.get(&sender).cloned();
        let mut summaries = std::mem::take(&mut staged.summaries);
        let changed = self
            .observe_identity(pending, &mut summaries, current.as_ref(), sender, key)
            .await;
        staged.summaries = summaries;
        if let Some(row) = changed? {
            staged.identities.insert(sender, row);
        }
        Ok(())
    }

    /// A record of `peer` was learned: checks its key, for a peer the user accepted.
    pub(super) async fn observe_record(&mut self, peer: UserId, key: [u8; 32]) {
        let result = async {
            if self.standing(&peer).await? != requests::Standing::Accepted {
                return Ok(());
            }
            let mut pending = Pending::new(Batch::new(), Vec::new());
            let mut summaries = HashMap::new();
            let Some(row) = self
                .observe_identity(&mut pending, &mut summaries, None, peer, key)
                .await?
            else {
                return Ok(());
            };
            for (conv, summary) in &summaries {
                pending.batch.put::<Conversations>(conv, summary)?;
            }
            self.commit(pending).await?;
            self.identities.insert(peer, row);
            Ok::<_, Error>(())
        }
        .await;
        if let Err(e) = result {
            error!(peer = %peer.short(), "cannot record a peer's identity key: {e}");
        }
    }

    /// Sets the policy for a change of `peer`'s identity key. Any policy but `block` releases
    /// messages held by an earlier change.
    pub(super) async fn set_identity_policy(
        &mut self,
        peer: UserId,
        policy: IdentityPolicy,
    ) -> Result<(), Error> {
        let mut row = self.identities.get(&peer).cloned().unwrap_or(IdentityRow {
            peer,
            key: None,
            policy: policy.into(),
            held: false,
            changed_ms: None,
        });
        row.policy = policy.into();
        if policy != IdentityPolicy::Block {
            row.held = false;
        }
        self.put_identity(row).await
    }

    /// The user verified `peer` again: messages held by a key change go.
    pub(super) async fn release_identity(&mut self, peer: UserId) -> Result<(), Error> {
        match self.identities.get(&peer) {
            Some(row) if row.held => {
                let row = IdentityRow {
                    held: false,
                    ..row.clone()
                };
                self.put_identity(row).await
            }
            _ => Ok(()),
        }
    }

    async fn put_identity(&mut self, row: IdentityRow) -> Result<(), Error> {
        let peer = row.peer;
        let released = self.held(&peer) && !row.held;
        let mut batch = Batch::new();
        batch.put::<Identities>(&self.conv(&peer), &row)?;
        self.commit(Pending::new(batch, Vec::new())).await?;
        self.identities.insert(peer, row);
        if released {
            info!(peer = %peer.short(), "released the messages held by an identity change");
            self.dispatch_due().await;
        }
        Ok(())
    }

    /// Replaces our identity key (same address). The old account is kept for starts made
    /// against its key; the record is published again with the new key, and the next message
    /// to each peer starts a new session under it.
    pub(super) async fn rotate_identity_key(&mut self) -> Result<(), Error> {
        let rotated = self
            .account
            .with_new_identity_key(&mut UnwrapErr(getrandom::SysRng));
        let until_secs = self.time.now_secs() + PREVIOUS_KEY_SECS;
        let mut previous = zeroize::Zeroizing::new(until_secs.to_be_bytes().to_vec());
        previous.extend_from_slice(&self.account.to_bytes());
        let mut batch = Batch::new();
        batch.put::<State>(&STATE_ACCOUNT.to_owned(), &rotated.to_bytes())?;
        batch.put::<State>(&STATE_ACCOUNT_PREVIOUS.to_owned(), &*previous)?;
        self.commit(Pending::new(batch, Vec::new())).await?;
        let old = std::mem::replace(&mut self.account, std::sync::Arc::new(rotated));
        self.previous = Some(Previous {
            account: old,
            until_secs,
        });
        info!("replaced the identity key");
        self.publication.invalidate();
        // Collectors prove mailbox ownership with the current bundle.
        for (relay, addresses) in self.relays.all().to_vec() {
            self.start_collector(relay, addresses);
        }
        Ok(())
    }
}
