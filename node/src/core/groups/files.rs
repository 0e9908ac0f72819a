//! Files in groups (`docs/protocol/attachments.md` §8): a file sent to a group is encrypted
//! once, named in one message through the log, and uploaded once to each of the group's
//! sequencer relays, whose locations are the only ones its descriptor names, so that every
//! member reads the same copy and the sender's upload does not grow with the group. The
//! upload's quota token names the group's log and is signed with the access key of the
//! current epoch: only a member can spend the group's quota at its sequencers.

use libp2p::{Multiaddr, PeerId};
use tern_blob::Root;

use super::*;
use crate::{
    core::uploads::UploadPlan,
    tables::{GroupUploadRow, GroupUploads, UploadStateV1},
    transfer::{self, Upload},
};

impl Core {
    /// The sequencer relays of group `id` and where they listen.
    pub(in crate::core) fn sequencers_of(&self, id: GroupId) -> Vec<(PeerId, Vec<Multiaddr>)> {
        self.groups
            .live
            .get(&id)
            .map_or_else(Vec::new, |live| sequencer_places(&live.row.sequencers))
    }

    /// The group whose conversation key is `conv`, if one is.
    pub(in crate::core) fn group_of_conv(&self, conv: &Conv) -> Option<GroupId> {
        self.groups
            .live
            .iter()
            .find(|(_, live)| live.conv == *conv)
            .map(|(id, _)| *id)
    }

    /// Where a file for group `id` goes: its sequencers and its log, while we are in it.
    pub(super) fn file_target(&self, id: GroupId) -> Result<GroupFileTarget, Error> {
        let live = self.active(id)?;
        Ok(GroupFileTarget {
            sequencers: self.sequencers_of(id),
            log: live.row.log,
        })
    }

    /// Stages the upload row of a file we send to group `id`, with its message.
    pub(super) fn stage_group_upload(
        &self,
        batch: &mut Batch,
        (id, message): (GroupId, MessageId),
        root: Root,
        plan: &UploadPlan,
    ) -> Result<GroupUploadRow, Error> {
        let row = GroupUploadRow {
            root: *root.as_bytes(),
            ciphertext_len: plan.ciphertext_len,
            group: *id.as_bytes(),
            id: message,
            targets: plan.targets.clone(),
        };
        batch.put::<GroupUploads>(&self.store.index_id("upload", root.as_bytes()), &row)?;
        Ok(row)
    }

    /// Asks the transfer task to upload a group's file to the sequencers that do not hold it
    /// yet, under the group's current access key. Nothing once we are out of the group: the
    /// sequencers would refuse a key of an epoch we cannot sign for. Returns whether the
    /// upload is handed over or needs nothing more.
    pub(in crate::core) fn hand_over_group(&self, row: &GroupUploadRow) -> bool {
        let Some(live) = self.groups.live.get(&GroupId::from_bytes(row.group)) else {
            return false;
        };
        let targets = pending_targets(&row.targets);
        if targets.is_empty() {
            return true;
        }
        if !live.row.active {
            return false;
        }
        self.transfers.upload(Upload {
            root: Root::from_bytes(row.root),
            ciphertext_len: row.ciphertext_len,
            quota: transfer::Quota::Log {
                log: live.row.log,
                access: Box::new(live.access.clone()),
            },
            targets,
        });
        true
    }
}

/// Where a file for a group goes (see [`Core::file_target`]).
#[derive(Debug, Clone)]
pub(crate) struct GroupFileTarget {
    pub(crate) sequencers: Vec<(PeerId, Vec<Multiaddr>)>,
    pub(crate) log: [u8; 32],
}

/// The targets of an upload that no relay has answered yet, for the transfer task.
pub(in crate::core) fn pending_targets(
    targets: &[crate::tables::UploadTarget],
) -> Vec<transfer::UploadTarget> {
    targets
        .iter()
        .filter(|t| t.state == UploadStateV1::Pending)
        .filter_map(|t| {
            Some(transfer::UploadTarget {
                relay: PeerId::from_bytes(&t.relay).ok()?,
                addresses: t
                    .addresses
                    .iter()
                    .filter_map(|a| Multiaddr::try_from(a.to_vec()).ok())
                    .collect(),
                capability: tern_blob::Capability::from_bytes(t.capability),
            })
        })
        .collect()
}
