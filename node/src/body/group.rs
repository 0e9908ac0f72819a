//! The body of content type `GROUP`: a group's traffic on the 1:1 path.

use serde::{Deserialize, Serialize};

use crate::{hlc::Stamp, id::MessageId};

/// A group's traffic on the 1:1 path (content type `GROUP`, `docs/protocol/groups.md`
/// §10): asking a peer for key packages, giving them, and the invitation that carries a
/// Welcome. Group messages themselves go through the group's log, not here.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct GroupControl {
    pub(crate) id: MessageId,
    pub(crate) stamp: Stamp,
    pub(crate) op: GroupOp,
}

/// Most key packages one [`GroupOp::KeyPackages`] carries.
pub(crate) const MAX_KEY_PACKAGES: usize = 4;

/// The largest part of an invitation split by [`invite_parts`]: well under one message's
/// plaintext limit (252 KiB), whatever else the body carries.
pub(crate) const INVITE_PART_LEN: usize = 128 * 1024;

/// Most parts one invitation is split into: 2 MiB, a Welcome for several thousand members.
pub(crate) const MAX_INVITE_PARTS: u16 = 16;

/// The largest invitation sent as a file ([`GroupOp::InviteFile`]): 8 MiB, the Welcome of a
/// group of some twenty thousand members.
pub(crate) const MAX_INVITE_FILE_LEN: u64 = 8 * 1024 * 1024;

/// The longest descriptor a [`GroupOp::InviteFile`] carries: ample for a blob at a few
/// relays, far short of an inline file.
pub(crate) const MAX_INVITE_DESCRIPTOR_LEN: usize = 4 * 1024;

/// Most sequencers an invitation as a file names.
pub(crate) const MAX_INVITE_SEQUENCERS: usize = 8;

/// Most addresses of one sequencer an invitation as a file gives.
pub(crate) const MAX_SEQUENCER_ADDRESSES: usize = 8;

/// What a [`GroupControl`] does. Variant order is the encoding; variants are only appended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum GroupOp {
    /// "Send me a key package": someone wants to add us to a group.
    KeyPackageRequest,
    /// Key packages (serialized MLS messages) for the recipient to add us with.
    KeyPackages(Vec<Vec<u8>>),
    /// We were added: the Welcome and where the group's log is kept.
    Invite {
        welcome: Vec<u8>,
        log: [u8; 32],
        sequencers: Vec<crate::group::tables::SequencerRow>,
    },
    /// Part `index` of `count` of an invitation too large for one message: the parts'
    /// `bytes`, in order, are the encoding of the [`GroupOp::Invite`].
    InvitePart {
        invite: [u8; 16],
        index: u16,
        count: u16,
        bytes: Vec<u8>,
    },
    /// "Add me back to `group`": our device fell behind the group's log (away longer than
    /// its relays keep entries, `docs/protocol/groups.md` §10.7); an admin that still has us
    /// in the group replaces our leaf with this key package and sends us the Welcome.
    Rejoin {
        group: [u8; 32],
        key_package: Vec<u8>,
    },
    /// An admin's failover of `group`'s log (`docs/protocol/groups.md` §9.9): the commit,
    /// made in `epoch` and sealed as the log would hold it, that moves the log away from
    /// sequencers nobody reaches. Each member passes it on to the members among its
    /// contacts.
    Failover {
        group: [u8; 32],
        epoch: u64,
        entry: Vec<u8>,
    },
    /// An invitation too large for one message, as a file (`docs/protocol/groups.md`
    /// §10.1): `descriptor` (`tern-blob`, version byte first) names the encrypted encoding of
    /// a [`GroupOp::Invite`] at the group's sequencers, whose addresses `sequencers` gives.
    /// Sent once a sequencer holds it.
    InviteFile {
        descriptor: Vec<u8>,
        sequencers: Vec<crate::group::tables::SequencerRow>,
    },
}

impl GroupOp {
    /// Whether the op keeps within its bounds: at most [`MAX_KEY_PACKAGES`] key packages; a
    /// part numbered within 2 to [`MAX_INVITE_PARTS`] parts, of at most [`INVITE_PART_LEN`];
    /// a failover's commit of at most [`INVITE_PART_LEN`]; an invitation file's descriptor of
    /// at most [`MAX_INVITE_DESCRIPTOR_LEN`], with 1 to [`MAX_INVITE_SEQUENCERS`] sequencers
    /// of at most [`MAX_SEQUENCER_ADDRESSES`] addresses each.
    pub(crate) fn within_bounds(&self) -> bool {
        match self {
            Self::KeyPackages(packages) => packages.len() <= MAX_KEY_PACKAGES,
            Self::InvitePart {
                index,
                count,
                bytes,
                ..
            } => {
                (2..=MAX_INVITE_PARTS).contains(count)
                    && index < count
                    && bytes.len() <= INVITE_PART_LEN
            }
            Self::Failover { entry, .. } => entry.len() <= INVITE_PART_LEN,
            Self::InviteFile {
                descriptor,
                sequencers,
            } => {
                descriptor.len() <= MAX_INVITE_DESCRIPTOR_LEN
                    && (1..=MAX_INVITE_SEQUENCERS).contains(&sequencers.len())
                    && sequencers
                        .iter()
                        .all(|s| s.addresses.len() <= MAX_SEQUENCER_ADDRESSES)
            }
            Self::KeyPackageRequest | Self::Invite { .. } | Self::Rejoin { .. } => true,
        }
    }
}

/// The parts that carry `encoded` (a [`GroupOp::Invite`]'s encoding) to one member, of at
/// most `part_len` bytes each, under the random id `id`. `None` if it fits one part (it goes
/// whole) or needs more than [`MAX_INVITE_PARTS`].
pub(crate) fn invite_parts(encoded: &[u8], part_len: usize, id: [u8; 16]) -> Option<Vec<GroupOp>> {
    let part_len = part_len.clamp(1, INVITE_PART_LEN);
    let count = u16::try_from(encoded.len().div_ceil(part_len))
        .ok()
        .filter(|count| (2..=MAX_INVITE_PARTS).contains(count))?;
    Some(
        encoded
            .chunks(part_len)
            .zip(0..)
            .map(|(bytes, index)| GroupOp::InvitePart {
                invite: id,
                index,
                count,
                bytes: bytes.to_vec(),
            })
            .collect(),
    )
}

/// The invitation whose parts, in index order, are `parts`: `None` unless they decode to a
/// [`GroupOp::Invite`] with nothing after it.
pub(crate) fn assemble_invite<'a>(parts: impl IntoIterator<Item = &'a [u8]>) -> Option<GroupOp> {
    let encoded: Vec<u8> = parts.into_iter().flatten().copied().collect();
    match postcard::from_bytes(&encoded) {
        Ok(invite @ GroupOp::Invite { .. }) => Some(invite),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::group::tables::SequencerRow;

    fn invite(welcome_len: usize) -> GroupOp {
        GroupOp::Invite {
            welcome: (0..welcome_len).map(|i| i as u8).collect(),
            log: [4; 32],
            sequencers: vec![SequencerRow {
                peer: vec![5; 38],
                addresses: vec!["/ip4/127.0.0.1/tcp/1".into()],
            }],
        }
    }

    fn bytes_of(op: &GroupOp) -> &[u8] {
        match op {
            GroupOp::InvitePart { bytes, .. } => bytes,
            _ => panic!("not a part"),
        }
    }

    #[test]
    fn a_large_invitation_goes_in_parts_and_comes_back_whole() {
        let encoding = |invite: &GroupOp| postcard::to_stdvec(invite).unwrap();
        // One that fits a part goes whole.
        assert_eq!(
            invite_parts(&encoding(&invite(100)), INVITE_PART_LEN, [1; 16]),
            None
        );
        // A Welcome for about a thousand members (363,693 bytes in docs/benchmarks.md).
        let large = invite(363_693);
        let parts = invite_parts(&encoding(&large), INVITE_PART_LEN, [1; 16]).unwrap();
        assert_eq!(parts.len(), 3);
        assert!(parts.iter().all(GroupOp::within_bounds));
        assert_eq!(assemble_invite(parts.iter().map(bytes_of)), Some(large));
        // Missing or reordered parts do not make an invitation.
        assert_eq!(assemble_invite(parts[..2].iter().map(bytes_of)), None);
        assert_eq!(assemble_invite(parts.iter().rev().map(bytes_of)), None);
        // Nor does a part of something else.
        let other = postcard::to_stdvec(&GroupOp::KeyPackageRequest).unwrap();
        assert_eq!(assemble_invite([&other[..]]), None);
    }

    #[test]
    fn parts_keep_within_their_bounds() {
        let huge = invite(usize::from(MAX_INVITE_PARTS) * INVITE_PART_LEN + 1);
        let huge = postcard::to_stdvec(&huge).unwrap();
        assert_eq!(invite_parts(&huge, INVITE_PART_LEN, [1; 16]), None);
        let part = |index, count, len| GroupOp::InvitePart {
            invite: [1; 16],
            index,
            count,
            bytes: vec![0; len],
        };
        assert!(part(0, 2, INVITE_PART_LEN).within_bounds());
        assert!(!part(0, 1, 10).within_bounds(), "one part is no split");
        assert!(!part(2, 2, 10).within_bounds());
        assert!(!part(0, MAX_INVITE_PARTS + 1, 10).within_bounds());
        assert!(!part(0, 2, INVITE_PART_LEN + 1).within_bounds());
        assert!(!GroupOp::KeyPackages(vec![vec![1]; MAX_KEY_PACKAGES + 1]).within_bounds());
    }

    #[test]
    fn an_invitation_file_keeps_within_its_bounds() {
        let sequencer = SequencerRow {
            peer: vec![5; 38],
            addresses: vec!["/ip4/127.0.0.1/tcp/1".into()],
        };
        let file = |descriptor_len, sequencers| GroupOp::InviteFile {
            descriptor: vec![0; descriptor_len],
            sequencers: vec![sequencer.clone(); sequencers],
        };
        assert!(file(MAX_INVITE_DESCRIPTOR_LEN, 3).within_bounds());
        assert!(file(300, MAX_INVITE_SEQUENCERS).within_bounds());
        assert!(!file(MAX_INVITE_DESCRIPTOR_LEN + 1, 3).within_bounds());
        assert!(!file(300, 0).within_bounds(), "nowhere to fetch it from");
        assert!(!file(300, MAX_INVITE_SEQUENCERS + 1).within_bounds());
        let mut crowded = file(300, 1);
        if let GroupOp::InviteFile { sequencers, .. } = &mut crowded {
            sequencers[0].addresses = vec!["/ip4/127.0.0.1/tcp/1".into(); 9];
        }
        assert!(!crowded.within_bounds());
    }
}
