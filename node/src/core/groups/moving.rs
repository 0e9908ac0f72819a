//! Moving a group's log to other relays by an admin's commit (`docs/protocol/groups.md`
//! §9.8).
//!
//! Where the log is kept (its id and its relays) is named in the group's roles extension,
//! so every member, a joiner too, reads it from the group itself and only an admin's commit
//! changes it (`tern_mls::Group::move_log`); each move takes a fresh log id. The commit is
//! ordered by the relays that keep the log until then, like any other. Every member that
//! processes it (its author when it wins) writes the new id, relays and cursors in the write
//! of that page, then restarts its log task on the new relays, where it reads from the start
//! of the new epoch. Messages of ours made in an earlier epoch and not yet at every relay
//! are made again in the new one (the old relays would answer `Retired`; the new log never
//! held that epoch), and the copies of earlier commits are dropped (no sequencer of the new
//! log can take them).

use libp2p::{Multiaddr, multiaddr::Protocol};
use tern_mls::{LogRelay, MAX_RELAY_ADDRESS_LEN, MAX_RELAY_ADDRESSES};

use super::*;

/// `rows` as the roles extension names them ([`canonical`] rows keep within its bounds).
pub(super) fn log_relays(rows: &[SequencerRow]) -> Vec<LogRelay> {
    rows.iter()
        .map(|row| LogRelay {
            id: row.peer.clone(),
            addresses: row.addresses.clone(),
        })
        .collect()
}

/// The rows of the relays a group names.
pub(super) fn sequencer_rows(relays: &[LogRelay]) -> Vec<SequencerRow> {
    relays
        .iter()
        .map(|relay| SequencerRow {
            peer: relay.id.clone(),
            addresses: relay.addresses.clone(),
        })
        .collect()
}

/// `rows` as a group that names them keeps them: each address without the relay's own
/// `/p2p/` part, within the roles extension's bounds.
pub(super) fn canonical(rows: &[SequencerRow]) -> Vec<SequencerRow> {
    rows.iter()
        .map(|row| SequencerRow {
            peer: row.peer.clone(),
            addresses: row
                .addresses
                .iter()
                .map(|a| without_peer(a))
                .filter(|a| (1..=MAX_RELAY_ADDRESS_LEN).contains(&a.len()))
                .take(MAX_RELAY_ADDRESSES)
                .collect(),
        })
        .collect()
}

/// `address` without a last `/p2p/<peer id>` part.
pub(super) fn without_peer(address: &str) -> String {
    match address.parse::<Multiaddr>() {
        Ok(mut parsed) if matches!(parsed.iter().last(), Some(Protocol::P2p(_))) => {
            parsed.pop();
            parsed.to_string()
        }
        _ => address.to_owned(),
    }
}

/// The log id `group` names, if it names one Tern makes (32 bytes).
pub(super) fn log_id(group: &tern_mls::Group) -> Option<[u8; 32]> {
    group.log().try_into().ok()
}

/// The relays a user names to move a log to: 1 to [`SEQUENCERS`] multiaddresses, each ending
/// in `/p2p/<peer id>`, of distinct relays, in the order that decides.
pub(super) fn relays_to_move_to(addresses: &[Multiaddr]) -> Result<Vec<SequencerRow>, Error> {
    let bad = |why: &str| Error::Group(GroupError::BadRelays(why.to_owned()));
    if addresses.is_empty() || addresses.len() > SEQUENCERS {
        return Err(bad("name 1 to 3 relays"));
    }
    let mut rows: Vec<SequencerRow> = Vec::with_capacity(addresses.len());
    for address in addresses {
        let mut address = address.clone();
        let Some(Protocol::P2p(peer)) = address.pop() else {
            return Err(bad(&format!("{address} does not end in /p2p/<peer id>")));
        };
        if rows.iter().any(|r| r.peer == peer.to_bytes()) {
            return Err(bad(&format!("{peer} is named twice")));
        }
        let address = address.to_string();
        if address.len() > MAX_RELAY_ADDRESS_LEN {
            return Err(bad("an address is over 256 bytes"));
        }
        rows.push(SequencerRow {
            peer: peer.to_bytes(),
            addresses: if address.is_empty() {
                Vec::new()
            } else {
                vec![address]
            },
        });
    }
    Ok(rows)
}

/// Each of `relays`' cursor in the log `log`: a relay that keeps the same log keeps its
/// cursor; anything else starts at 0 (the log there holds nothing before the move).
fn cursors_after(row: &GroupRow, log: &[u8; 32], relays: &[SequencerRow]) -> Vec<u64> {
    relays
        .iter()
        .map(|relay| {
            row.sequencers
                .iter()
                .position(|old| old.peer == relay.peer && row.log == *log)
                .and_then(|at| row.cursors.get(at).copied())
                .unwrap_or(0)
        })
        .collect()
}

impl Live {
    /// Takes where the group says its log is into the row, if a commit moved it; returns
    /// whether one did. (A group made before the log was named in it names nothing: its row
    /// keeps what its invitation said.)
    pub(super) fn follow_log_move(&mut self) -> bool {
        let mls = self.mls();
        let Some(log) = log_id(mls) else {
            return false;
        };
        // Checked on every page: compared in place, copied only when it moved.
        let named = mls.relays();
        let same = log == self.row.log
            && named.len() == self.row.sequencers.len()
            && named
                .iter()
                .zip(&self.row.sequencers)
                .all(|(relay, row)| relay.id == row.peer && relay.addresses == row.addresses);
        if named.is_empty() || same {
            return false;
        }
        let relays = sequencer_rows(named);
        self.row.cursors = cursors_after(&self.row, &log, &relays);
        self.row.log = log;
        self.row.sequencers = relays;
        true
    }
}

/// Stages the end of the copies of the group's commits up to `epoch`: they are of the log
/// the group left ([`Core::log_moved`] drops them from memory).
pub(super) fn stage_forget_copies(batch: &mut Batch, conv: Conv, epoch: u64) {
    let oldest = epoch.saturating_sub(crate::group::tables::COMMIT_COPIES);
    for epoch in oldest..=epoch {
        batch.delete::<crate::group::tables::GroupCommits>(&(conv, epoch));
    }
}

impl Core {
    /// Moves group `id`'s log to `addresses` by a commit of ours (admins only).
    pub(super) async fn move_log(
        &mut self,
        id: GroupId,
        addresses: Vec<Multiaddr>,
    ) -> Result<(), Error> {
        let rows = canonical(&relays_to_move_to(&addresses)?);
        self.commit_intent(id, IntentRow::Move(rows)).await
    }

    /// After the write of a page that moved the log: the log task starts again on the new
    /// relays, and our messages of earlier epochs are made again in this one.
    pub(super) async fn log_moved(&mut self, id: GroupId) -> Result<(), Error> {
        let cancel = self.cancel.child_token();
        let live = self.live_mut(id)?;
        live.cancel.cancel();
        live.cancel = cancel;
        live.control = None;
        live.copies.clear();
        // Its callers wrote the end of an outage of the old log; the new log task says
        // again whether it reaches the new relays.
        live.outage.since_ms = None;
        live.reach_known = false;
        info!(group = %id.short(), relays = live.row.sequencers.len(), "the group's log moved");
        self.start_log(id);
        self.remake_stale(id).await
    }

    /// Makes our messages of an epoch that has ended, still waiting for a relay, again in
    /// this one; [`Core::start_log`] does not hand them over. Our leave too.
    pub(super) async fn remake_stale(&mut self, id: GroupId) -> Result<(), Error> {
        self.redo_stale_leave(id).await?;
        let live = self.live(id)?;
        let epoch = live.mls().epoch();
        let stale: Vec<(u64, OutgoingRow)> = live
            .outbox
            .iter()
            .filter(|(_, row)| outgoing::is_stale(row, epoch))
            .map(|(seq, row)| (*seq, row.what.clone()))
            .collect();
        if stale.is_empty() {
            return Ok(());
        }
        debug!(group = %id.short(), messages = stale.len(), "making messages of an ended epoch again");
        self.remake(id, stale).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn peer(n: u8) -> libp2p::PeerId {
        libp2p::identity::Keypair::ed25519_from_bytes([n; 32])
            .unwrap()
            .public()
            .to_peer_id()
    }

    #[test]
    fn relays_to_move_to_are_distinct_addresses_with_peer_ids() {
        let at = |n: u8, port: u16| -> Multiaddr {
            format!("/ip4/127.0.0.1/tcp/{port}/p2p/{}", peer(n))
                .parse()
                .unwrap()
        };
        let rows = relays_to_move_to(&[at(1, 4001), format!("/p2p/{}", peer(2)).parse().unwrap()])
            .unwrap();
        assert_eq!(rows[0].addresses, ["/ip4/127.0.0.1/tcp/4001"]);
        assert_eq!(rows[0].peer, peer(1).to_bytes());
        assert!(rows[1].addresses.is_empty());
        for bad in [
            vec![],
            vec![at(1, 1), at(2, 2), at(3, 3), at(4, 4)],
            vec![at(1, 1), at(1, 2)],
            vec!["/ip4/127.0.0.1/tcp/1".parse().unwrap()],
        ] {
            assert!(matches!(
                relays_to_move_to(&bad),
                Err(Error::Group(GroupError::BadRelays(_)))
            ));
        }
    }

    #[test]
    fn a_relay_kept_keeps_its_cursor_and_a_new_one_starts_at_zero() {
        let row_of = |n: u8| SequencerRow {
            peer: peer(n).to_bytes(),
            addresses: Vec::new(),
        };
        let mut row = GroupRow::joined([0; 32], "g".into(), [0; 32], vec![row_of(1), row_of(2)], 0);
        row.cursors = vec![17, 9];
        assert_eq!(
            cursors_after(&row, &[0; 32], &[row_of(3), row_of(2)]),
            [0, 9]
        );
        // A new log id: every relay starts at 0.
        assert_eq!(cursors_after(&row, &[1; 32], &[row_of(2)]), [0]);
    }
}
