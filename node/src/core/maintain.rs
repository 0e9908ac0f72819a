//! Upkeep as the core carries it out: rotating keys, renewing the certificate, pruning the
//! tables whose rows expire and bounding the caches, as [`crate::upkeep::Upkeep`] schedules.

use super::*;
use crate::tables::Orphans;

impl Core {
    /// The chores of a node that runs for months, as [`Upkeep`] schedules them: rotating
    /// prekeys, renewing the device certificate (both republished, the bundle handed to the
    /// collectors), bounding the caches, and one page of pruning per call while a pass runs.
    pub(super) async fn upkeep(&mut self) {
        let now_ms = self.time.now_ms();
        if self.upkeep.due(now_ms) {
            let now = now_ms / 1000;
            let rotated =
                self.prekeys
                    .rotate(&mut UnwrapErr(getrandom::SysRng), &self.account, now);
            // Also persists the retirement of old secrets, which `rotate` does silently. The
            // new secrets are durable before their public halves are published.
            let mut pending = Pending::new(Batch::new(), Vec::new());
            let saved = match pending
                .batch
                .put::<State>(&STATE_PREKEYS.to_owned(), &self.prekeys.to_bytes())
            {
                Ok(()) => self.commit(pending).await.map(|_| ()),
                Err(e) => Err(e.into()),
            };
            if let Err(e) = saved {
                error!("cannot store rotated prekeys: {e}");
                return;
            }
            let certificate = &self.certificate;
            if certificate_due(certificate.created(), certificate.expires(), now) {
                info!("renewing the device certificate");
                self.certificate = self.account.certify_device(
                    certificate.device(),
                    now,
                    now + upkeep::CERTIFICATE_LIFETIME_SECS,
                );
                self.publication.invalidate();
            }
            if rotated {
                info!("rotated the signed prekeys");
                self.publication.invalidate();
                // Collectors prove mailbox ownership with the current bundle.
                for (relay, addresses) in self.relays.all().to_vec() {
                    self.start_collector(relay, addresses);
                }
            }
            self.records.forget_expired(now);
        }
        self.bound_caches();
        if let Some(page) = self.upkeep.next_page() {
            match self.prune(page, now_ms).await {
                Ok(last) => self.upkeep.page_done(last),
                Err(e) => warn!("pruning expired rows failed: {e}"),
            }
        }
    }

    /// Deletes the expired rows of one page of a table that expires rows; returns the key of
    /// the last row examined, or `None` when the table has no more.
    pub(super) async fn prune(
        &mut self,
        page: upkeep::Page,
        now_ms: u64,
    ) -> Result<Option<Vec<u8>>, Error> {
        /// One page of `T` after the row encoded as `after`: a batch deleting the rows whose
        /// `expires` is past (and whatever `also` adds for each), and the last key examined.
        fn page_of<T: crate::store::Table>(
            store: &Store,
            after: Option<Vec<u8>>,
            now_ms: u64,
            expires: fn(&T::Value) -> u64,
            also: fn(&mut Batch, &T::Key),
        ) -> Result<(Batch, Option<Vec<u8>>), StoreError> {
            use crate::store::Key;
            use std::ops::Bound;
            let lower = match after.as_deref().map(T::Key::decode) {
                Some(Ok(key)) => Bound::Excluded(key),
                _ => Bound::Unbounded,
            };
            let rows = store.scan::<T>(
                (lower, Bound::Unbounded),
                ScanDirection::Forward,
                upkeep::PRUNE_PAGE,
            )?;
            let mut batch = Batch::new();
            for (key, value) in &rows {
                if expires(value) <= now_ms {
                    batch.delete::<T>(key);
                    also(&mut batch, key);
                }
            }
            let last = (rows.len() == upkeep::PRUNE_PAGE)
                .then(|| rows.last().map(|(key, _)| key.encode()))
                .flatten();
            Ok((batch, last))
        }
        let page_table = page.table;
        let (batch, last) = self
            .read(move |store| match page.table {
                // An envelope's ack row goes with its seen row.
                upkeep::Table::Seen => page_of::<Seen>(
                    store,
                    page.after,
                    now_ms,
                    |at| *at,
                    |batch, key| {
                        batch.delete::<Acks>(key);
                    },
                ),
                upkeep::Table::Replays => {
                    page_of::<Replays>(store, page.after, now_ms, |at| *at, |_, _| {})
                }
                // A conversation left in `orphan_convs` with no rows only costs one empty
                // read when its next message arrives.
                upkeep::Table::Orphans => {
                    page_of::<Orphans>(store, page.after, now_ms, |row| row.expires_ms, |_, _| {})
                }
            })
            .await?;
        if !batch.is_empty() {
            debug!(
                deleted = batch.len(),
                table = ?page_table,
                "pruned expired rows"
            );
            self.commit(Pending::new(batch, Vec::new())).await?;
        }
        Ok(last)
    }

    /// Keeps the in-memory caches within their bounds. Runs only between operations, never
    /// while a group holds staged sessions.
    pub(super) fn bound_caches(&mut self) {
        bound(&mut self.sessions, MAX_CACHED_PEERS);
        self.records.bound(MAX_CACHED_PEERS);
    }
}
