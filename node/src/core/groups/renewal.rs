//! Renewing our own keys in each group, for post-compromise security
//! (`docs/protocol/groups.md` §10.3): a commit of ours with a fresh leaf and path, within a
//! day of joining (the key package we joined with may have waited at the inviter's for
//! weeks), then weekly. Each member's time falls at random in the last [`SPREAD_MS`] before
//! it is due, so that the members of a group made at once do not race for the same epoch.

use tern_crypto::rand_core::Rng;

use super::*;
use crate::group::tables::GroupRenewed;

/// How long after joining a group our keys are renewed, at the latest.
pub(crate) const AFTER_JOIN_MS: u64 = 24 * 3600 * 1000;
/// How long after a renewal the next one is due, at the latest.
pub(crate) const EVERY_MS: u64 = 7 * 24 * 3600 * 1000;
/// The window before the deadline over which members' renewals are spread.
const SPREAD_MS: u64 = 12 * 3600 * 1000;
/// When a renewal could not be made (storage full, say), how long until the next try.
const RETRY_MS: u64 = 3600 * 1000;

/// When a member that joined the group of `row` first renews its keys.
pub(super) fn first(row: &GroupRow) -> u64 {
    row.joined_ms.saturating_add(AFTER_JOIN_MS) - spread()
}

/// When the renewal after one at `renewed_ms` is due.
fn next(renewed_ms: u64) -> u64 {
    renewed_ms.saturating_add(EVERY_MS) - spread()
}

fn spread() -> u64 {
    UnwrapErr(getrandom::SysRng).next_u64() % SPREAD_MS
}

impl Core {
    /// Reads when our keys in each group were last renewed (once the groups are live).
    pub(super) async fn load_renewals(&mut self) -> Result<(), Error> {
        let rows = self
            .read(|s| s.scan::<GroupRenewed>(.., ScanDirection::Forward, usize::MAX))
            .await?;
        for (conv, renewed_ms) in rows {
            if let Some(live) = self.groups.live.values_mut().find(|l| l.conv == conv) {
                live.renewed_ms = Some(renewed_ms);
                live.renew_at_ms = next(renewed_ms);
            }
        }
        Ok(())
    }

    /// Commits a renewal of our keys in every group where one is due and no commit of ours
    /// is waiting for the log.
    pub(crate) async fn renew_group_keys(&mut self) {
        self.ask_to_rejoin_again().await;
        let now = self.time.now_ms();
        let due = self
            .active_groups_where(|live| live.renew_at_ms <= now && live.pending_commit().is_none());
        for id in due {
            if let Some(live) = self.groups.live.get_mut(&id) {
                // The commit, once it wins, sets the next time (a lost one is made again on
                // the new epoch); this only keeps a failed one from being tried every tick.
                live.renew_at_ms = now.saturating_add(RETRY_MS);
            }
            match self.commit_intent(id, IntentRow::Update).await {
                Ok(()) => debug!(group = %id.short(), "renewing our keys"),
                Err(e) => warn!(group = %id.short(), "cannot renew our keys: {e}"),
            }
        }
    }

    /// Our renewal won its epoch: stages when, and schedules the next.
    pub(super) fn renewed(&mut self, pending: &mut Pending, id: GroupId) -> Result<(), Error> {
        let now = self.time.now_ms();
        let live = self.live_mut(id)?;
        live.renewed_ms = Some(now);
        live.renew_at_ms = next(now);
        pending.batch.put::<GroupRenewed>(&live.conv, &now)?;
        Ok(())
    }
}
