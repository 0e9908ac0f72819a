//! The tables of groups, added after schema version 1 as tables of their own (no
//! migration), pinned by `node/tests/fixtures/node-v1-groups/`. Row keys hold no group id in
//! clear: a group is keyed by `index_id("group", group id)`, a peer by its `Conv`.

use serde::{Deserialize, Serialize};
use tern_crypto::UserId;

use crate::{store::Table, tables::Conv};

/// openmls's state, as `tern-mls` hands it over: `row(label, key)` (33 bytes: a format
/// byte and an HMAC under the profile's MLS storage key, `docs/protocol/groups.md` §8) → the
/// JSON value, sealed like every value.
pub(crate) struct MlsRows;
impl Table for MlsRows {
    const NAME: &'static str = "mls";
    type Key = [u8; 33];
    type Value = Vec<u8>;
}

/// A sequencer relay of a group, as stored and as invitations carry it: its peer id bytes
/// and addresses.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct SequencerRow {
    pub(crate) peer: Vec<u8>,
    pub(crate) addresses: Vec<String>,
}

/// A group we are or were in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct GroupRow {
    /// The MLS group id.
    pub(crate) id: [u8; 32],
    /// Its name, as of the last commit we processed.
    pub(crate) name: String,
    /// The log's id at the sequencers.
    pub(crate) log: [u8; 32],
    /// The sequencer relays, in the order that decides (the first that answers).
    pub(crate) sequencers: Vec<SequencerRow>,
    /// The last entry committed, at each sequencer (same order).
    pub(crate) cursors: Vec<u64>,
    /// When we joined, Unix milliseconds.
    pub(crate) joined_ms: u64,
    /// Whether we are still in it.
    pub(crate) active: bool,
}

impl GroupRow {
    /// A group we are in from now on (`now_ms`), with its log at `sequencers`, read from the
    /// start.
    pub(crate) fn joined(
        id: [u8; 32],
        name: String,
        log: [u8; 32],
        sequencers: Vec<SequencerRow>,
        now_ms: u64,
    ) -> Self {
        Self {
            id,
            name,
            log,
            cursors: vec![0; sequencers.len()],
            sequencers,
            joined_ms: now_ms,
            active: true,
        }
    }
}

/// Groups, keyed by `index_id("group", group id)`.
pub(crate) struct Groups;
impl Table for Groups {
    const NAME: &'static str = "groups";
    type Key = Conv;
    type Value = GroupRow;
}

/// What a commit of ours was made to do, kept so that it is made again on the new epoch if
/// another commit wins the race. Variant order is the encoding.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum IntentRow {
    /// Add these accounts, with the key package each gave us.
    Add(Vec<(UserId, Vec<u8>)>),
    /// Remove these accounts (every device of each).
    Remove(Vec<UserId>),
    /// Rename the group.
    Rename(String),
    /// Promote (`true`) or demote an account.
    Admin(UserId, bool),
    /// Commit the proposals waiting (a member's leave).
    Pending,
    /// Renew our own keys in the group (post-compromise security, `docs/protocol/groups.md`
    /// §10.6).
    Update,
    /// Add back an account that fell behind the group's log, from the key package it sent
    /// us: its leaves are replaced by this one (§10.7).
    Readd(UserId, Vec<u8>),
    /// Move the group's log to these relays (§9.7).
    Move(Vec<SequencerRow>),
}

/// What an outgoing log entry is. Variant order is the encoding.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum OutgoingRow {
    /// An application message: its id in history and the payload, to encrypt again if its
    /// epoch ends before a sequencer takes it.
    Message { id: [u8; 16], payload: Vec<u8> },
    /// Our leave proposal.
    Leave,
    /// A commit from `epoch`, naming the next epoch's access key; its Welcome, if it adds
    /// members; and what it was for.
    Commit {
        next_key: [u8; 32],
        welcome: Option<Vec<u8>>,
        intent: IntentRow,
    },
}

/// An entry waiting to be appended to a group's log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct GroupOutboxRow {
    /// The MLS message.
    pub(crate) body: Vec<u8>,
    /// The epoch it was made in (its access key's).
    pub(crate) epoch: u64,
    pub(crate) what: OutgoingRow,
}

/// Entries waiting to be appended, and our commit until the log has decided it: `(group
/// key, outbox sequence number)`.
pub(crate) struct GroupOutbox;
impl Table for GroupOutbox {
    const NAME: &'static str = "group_outbox";
    type Key = (Conv, u64);
    type Value = GroupOutboxRow;
}

/// Entries we appended, until the reader meets them in the log (MLS cannot decrypt a
/// member's own messages): `(group key, entry digest)` → the outbox sequence number.
pub(crate) struct GroupOwn;
impl Table for GroupOwn {
    const NAME: &'static str = "group_own";
    type Key = (Conv, [u8; 32]);
    type Value = u64;
}

/// When a commit of ours last renewed our own keys in a group (Unix milliseconds), by the
/// group's key. No row: not since we joined it (its row's `joined_ms`).
pub(crate) struct GroupRenewed;
impl Table for GroupRenewed {
    const NAME: &'static str = "group_renewed";
    type Key = Conv;
    type Value = u64;
}

/// The last commits of a group that we processed, by (the group's key, the epoch each was
/// made in), at most [`COMMIT_COPIES`] per group: what a sequencer that missed them is given
/// again so that it takes the group's current key (`docs/protocol/groups.md` §9.7). Written in
/// the write of the page that held each.
pub(crate) struct GroupCommits;
impl Table for GroupCommits {
    const NAME: &'static str = "group_commits";
    type Key = (Conv, u64);
    type Value = CommitCopyRow;
}

/// How many of a group's last commits are kept to copy to a sequencer that missed them.
pub(crate) const COMMIT_COPIES: u64 = 8;

/// A commit as the log holds it, and the seed of the access key of the epoch it was made in
/// (the key that appends it). Field order is the encoding.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct CommitCopyRow {
    /// The next epoch's access key, as the entry's kind names it.
    pub(crate) next_key: [u8; 32],
    /// The entry's body (the sealed commit).
    pub(crate) body: Vec<u8>,
    /// The access-key seed of the commit's epoch (`tern_proto::grouplog::Access::from_seed`).
    pub(crate) seed: [u8; 32],
}

/// Failovers of a group's log held until they settle (`docs/protocol/groups.md` §9.9), by
/// (the group's key, the SHA-256 of the sealed commit): ours, and those members gave us.
/// Written in the write that made or received each; deleted in the write that follows one,
/// or once the group left their epoch.
pub(crate) struct GroupFailovers;
impl Table for GroupFailovers {
    const NAME: &'static str = "group_failovers";
    type Key = (Conv, [u8; 32]);
    type Value = FailoverRow;
}

/// Most failovers a group holds at once; more are refused.
pub(crate) const MAX_FAILOVERS: usize = 8;

/// One failover: an admin's commit that moves the log, sealed as the log would hold it.
/// Field order is the encoding.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct FailoverRow {
    /// The epoch the commit was made in.
    pub(crate) epoch: u64,
    /// The sealed commit (`docs/protocol/groups.md` §9.2).
    pub(crate) entry: Vec<u8>,
    /// The member who gave it to us; `None`: we made it.
    pub(crate) from: Option<UserId>,
    /// When we made or received it (Unix ms).
    pub(crate) received_ms: u64,
}

/// Groups whose log no sequencer answers (`docs/protocol/groups.md` §9.9), or that hold a
/// commit of ours set aside to be made again (§9.7), by the group's key: so that a restart
/// neither restarts the failover delay nor loses the commit. Written when either changes;
/// deleted once both are gone.
pub(crate) struct GroupOutages;
impl Table for GroupOutages {
    const NAME: &'static str = "group_outages";
    type Key = Conv;
    type Value = OutageRow;
}

/// One group's outage. Field order is the encoding.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct OutageRow {
    /// Since when the log task reaches no sequencer (Unix ms).
    pub(crate) since_ms: Option<u64>,
    /// A commit of ours to make again: it lost its epoch to another, or waited at the
    /// unreachable log when we failed over. Made again once no failover is held, in the
    /// write that clears it.
    pub(crate) set_aside: Option<IntentRow>,
}

/// A group this device fell behind (its log's entries expired before we read them,
/// `docs/protocol/groups.md` §10.7), by the group's key. Deleted when the Welcome that adds us
/// back is taken.
pub(crate) struct GroupRejoins;
impl Table for GroupRejoins {
    const NAME: &'static str = "group_rejoins";
    type Key = Conv;
    type Value = RejoinRow;
}

/// Since when we are behind, and when and whom we last asked to add us back. Field order
/// is the encoding.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct RejoinRow {
    /// When a sequencer first told us (Unix ms).
    pub(crate) since_ms: u64,
    /// When we last asked (Unix ms).
    pub(crate) asked_ms: u64,
    /// The admins we asked.
    pub(crate) asked: Vec<UserId>,
}

/// How many messages from other members arrived in a group since it was last marked read,
/// by the group's key. No row: none.
pub(crate) struct GroupUnread;
impl Table for GroupUnread {
    const NAME: &'static str = "group_unread";
    type Key = Conv;
    type Value = u32;
}

/// Messages from other members that we hold durably and have not yet acknowledged to the
/// group, by the group's key, oldest first: a delivery receipt takes them to the log in a
/// batch (`core/groups/receipts.rs`). No row: none waiting.
pub(crate) struct GroupReceiptsDue;
impl Table for GroupReceiptsDue {
    const NAME: &'static str = "group_receipts_due";
    type Key = Conv;
    type Value = Vec<[u8; 16]>;
}

/// Who has acknowledged a message we sent to a group: `(group key, message id)`.
pub(crate) struct GroupReceipts;
impl Table for GroupReceipts {
    const NAME: &'static str = "group_receipts";
    type Key = (Conv, [u8; 16]);
    type Value = GroupReceiptRow;
}

/// The receipts of one of our group messages. Members are named by the first 8 bytes of
/// their account's address: enough to count each account once, at 8 bytes a member.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct GroupReceiptRow {
    /// The other accounts in the group when the message was sent.
    pub(crate) members: u32,
    /// Accounts whose devices hold it durably.
    pub(crate) delivered: Vec<[u8; 8]>,
    /// Accounts that read it (and send read receipts).
    pub(crate) read: Vec<[u8; 8]>,
}

/// Parts of invitations that came in parts (`GroupOp::InvitePart`), until the last one
/// arrives: `(sender's Conv, invitation id, part index)` → the part.
pub(crate) struct InviteParts;
impl Table for InviteParts {
    const NAME: &'static str = "invite_parts";
    type Key = (Conv, [u8; 16], u64);
    type Value = InvitePartRow;
}

/// One part of an invitation: how many it has, and its bytes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct InvitePartRow {
    pub(crate) count: u16,
    pub(crate) bytes: Vec<u8>,
}

/// Most invitations one peer may have in parts, or as files not yet fetched, at once.
pub(crate) const MAX_OPEN_INVITES: usize = 4;

/// Invitations we send as a file (`GroupOp::InviteFile`), held until the Welcome's upload to
/// the group's sequencers is answered: `index_id("upload", root)` (the key of the blob's
/// `group_uploads` row) → the invitation. Written with the commit's outcome; the invitations
/// go out in the write that records the first sequencer holding the blob; the row goes once
/// every sequencer has answered, and the blob with it.
pub(crate) struct InviteUploads;
impl Table for InviteUploads {
    const NAME: &'static str = "invite_uploads";
    type Key = [u8; 16];
    type Value = InviteUploadRow;
}

/// A row of [`InviteUploads`]. Field order is the encoding; fields are only appended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct InviteUploadRow {
    /// The group (its id).
    pub(crate) group: [u8; 32],
    /// The new members, each sent the invitation.
    pub(crate) members: Vec<UserId>,
    /// The blob's descriptor, naming the sequencers.
    pub(crate) descriptor: Vec<u8>,
    /// The sequencers and their addresses, for the invitation.
    pub(crate) sequencers: Vec<SequencerRow>,
    /// Whether the invitations went out (a sequencer holds the blob).
    pub(crate) sent: bool,
}

/// Invitations received as files, until their blob is fetched and joined from, or given up:
/// `(sender's Conv, message id)` → what the invitation said.
pub(crate) struct InviteFetches;
impl Table for InviteFetches {
    const NAME: &'static str = "invite_fetches";
    type Key = (Conv, [u8; 16]);
    type Value = InviteFetchRow;
}

/// A row of [`InviteFetches`]. Field order is the encoding; fields are only appended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct InviteFetchRow {
    /// Who invited us.
    pub(crate) sender: UserId,
    /// The invitation's stamp: where the join stands in the group's history.
    pub(crate) stamp: u64,
    /// The blob's descriptor (validated when it arrived).
    pub(crate) descriptor: Vec<u8>,
    /// Where the sequencers listen.
    pub(crate) sequencers: Vec<SequencerRow>,
}

/// Key packages peers gave us for adding them to groups, keyed by the peer's `Conv`:
/// serialized MLS key packages, oldest first, at most [`MAX_HELD`].
pub(crate) struct HeldKeyPackages;
impl Table for HeldKeyPackages {
    const NAME: &'static str = "held_key_packages";
    type Key = Conv;
    type Value = Vec<Vec<u8>>;
}

/// Most key packages held for one peer.
pub(crate) const MAX_HELD: usize = 4;

/// Adds waiting for the peer's key package: `(peer Conv, group key)` → the peer.
pub(crate) struct PendingAdds;
impl Table for PendingAdds {
    const NAME: &'static str = "pending_adds";
    type Key = (Conv, Conv);
    type Value = UserId;
}
