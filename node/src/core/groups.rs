//! Groups on the core task: the requests of [`crate::Node`]'s group methods, the groups'
//! state in memory, and every write that changes a group (`docs/protocol/groups.md` §9.7,
//! §10).
//!
//! The core is the only writer of a group's state, as of everything else. Each operation runs
//! `tern-mls` on the blocking pool ([`Core::mls`]) and commits the MLS rows it produced in one
//! write with what caused them: a message with its history row and its outbox entry, a
//! commit with its outbox entry, a page of the log with the cursor and what the page did.
//!
//! The log decides. A commit of ours stays pending until the reader meets it in the log (we
//! won: merge it, send the Welcome) or meets another commit for the same epoch (we lost: our
//! commit is dropped and made again on the new epoch from its intent). Appends only report
//! how many sequencers hold an entry.
//!
//! `groups/calls.rs` answers the node's group methods; `groups/entries.rs` processes what
//! the log task reports; `groups/invites.rs` the 1:1 side (key packages and invitations).

mod calls;
mod commits;
mod conversation;
mod entries;
mod failover;
mod files;
mod history;
mod invite_files;
mod invites;
mod moving;
mod outgoing;
mod receipts;
mod rejoin;
mod renewal;
mod unread;

pub(crate) use calls::GroupRequest;
pub(crate) use files::GroupFileTarget;
pub(in crate::core) use files::pending_targets;
pub(in crate::core) use history::read_message;
use history::{entry_time, stage_history, with_expiry};
#[cfg(feature = "test-utils")]
pub(crate) use invite_files::describe_invite;
use std::collections::BTreeMap;

use tern_mls::{Crypto, DeviceSigner};
use tern_proto::grouplog::{Access, Kind};

use super::*;
use crate::group::{
    GroupError, GroupEvent, GroupId, GroupInfo, GroupMember, GroupMessage,
    log::{self, Control, LogTask, Sequencer},
    mls::{self as glue, Certificates, Cx, Layer},
    tables::{
        GroupOutbox, GroupOutboxRow, GroupOwn, GroupReceipts, GroupRow, Groups, IntentRow,
        OutgoingRow, SequencerRow,
    },
};

/// How many relays keep a new group's log (`docs/protocol/groups.md` §9.7).
pub(crate) const SEQUENCERS: usize = 3;

/// Reports from the log tasks waiting for the core.
const REPORTS_CAPACITY: usize = 256;

/// The groups' state on the core.
pub(crate) struct GroupState {
    live: HashMap<GroupId, Live>,
    reports_tx: mpsc::Sender<log::Report>,
    pub(super) reports: mpsc::Receiver<log::Report>,
    /// The device's Ed25519 secret: group leaves sign with the device key.
    device: std::sync::Arc<zeroize::Zeroizing<[u8; 32]>>,
    next_seq: u64,
    /// Work to do once the write in progress is durable (a group joined through an
    /// envelope, key packages that let waiting adds go ahead).
    pub(super) followups: Vec<Followup>,
    /// Log entries and 1:1 group bodies refused, by reason, since start.
    pub(super) refused: BTreeMap<&'static str, u64>,
    /// Parts of unfinished invitations this process staged, by sender and invitation: the
    /// store shows only those of writes already made (`groups/invites.rs`).
    pub(super) invite_parts: InviteParts,
    /// Invitations received as files whose blob is being fetched, by message id
    /// (`groups/invite_files.rs`): the rows of `invite_fetches` handed to the
    /// transfer task, so that its reports about them come back here.
    pub(super) invite_fetches: std::collections::HashSet<MessageId>,
    /// Whether adds may wait for a group to be ready while their key packages are here: set
    /// at start (a crash may have come between the write that kept a key package and the
    /// add), and while a group was not ready for them; the outbox tick tries them then.
    pub(super) adds_due: bool,
    /// Requests to add back members that fell behind, waiting until the group is ready for
    /// a commit of ours (`groups/rejoin.rs`). In memory: a member asks again daily.
    pub(super) readds: Vec<(GroupId, UserId, Vec<u8>)>,
    /// When we last added back each member (in memory): at most one add-back a day each.
    pub(super) readded_ms: HashMap<(GroupId, UserId), u64>,
    /// When admins move a log nobody reaches (`groups/failover.rs`).
    failover: crate::GroupFailover,
    /// Test only ([`crate::Builder::dropping_group_followups`]): followups are dropped, as a
    /// crash right after their write would.
    drop_followups: bool,
}

/// Parts of invitations by (sender's `Conv`, invitation id), by index.
pub(super) type InviteParts =
    HashMap<(Conv, [u8; 16]), BTreeMap<u64, crate::group::tables::InvitePartRow>>;

/// Work that waits for a write.
pub(crate) enum Followup {
    /// Start the log task of a group joined from a Welcome.
    Start(GroupId),
    /// Key packages arrived, or a group's commit was decided: make the adds that wait.
    Adds,
    /// Upload an invitation's blob to the group's sequencers.
    Upload(crate::tables::GroupUploadRow),
    /// Fetch the blob of the invitation kept at this `invite_fetches` key.
    FetchInvite((Conv, [u8; 16])),
}

/// A group we are in, in memory.
struct Live {
    conv: Conv,
    row: GroupRow,
    /// `None` only while an operation has it on the blocking pool.
    mls: Option<tern_mls::Group>,
    /// The access key of the current epoch.
    access: Access,
    /// Entries waiting to be appended or decided, by outbox sequence number.
    outbox: BTreeMap<u64, GroupOutboxRow>,
    control: Option<mpsc::Sender<Control>>,
    /// Outbox entries waiting for room in the log task's queue, oldest first.
    unhanded: std::collections::VecDeque<u64>,
    cancel: CancellationToken,
    /// When our keys in the group were last renewed, and are to be renewed next (Unix ms;
    /// see `groups/renewal.rs`).
    renewed_ms: Option<u64>,
    renew_at_ms: u64,
    /// Messages from other members not yet read (see `groups/unread.rs`).
    unread: u32,
    /// Messages from other members we have not acknowledged yet, and since when the oldest
    /// waits (see `groups/receipts.rs`).
    due: Vec<[u8; 16]>,
    due_since_ms: u64,
    /// Since when members' leaves wait for a commit (see [`Core::commit_waiting_leaves`]).
    leaves_since_ms: Option<u64>,
    /// Set while this device is behind the group's log and waits to be added back (see
    /// `groups/rejoin.rs`): nothing is read, sent or committed meanwhile.
    behind: Option<crate::group::tables::RejoinRow>,
    /// The group's last commits, shared with its log task (see `group/log.rs`).
    copies: log::Copies,
    /// Since when the log task reaches no sequencer, and a commit of ours set aside to be
    /// made again (stored, `group_outages`); whether the log task has said since this start if
    /// it reaches one; and the failovers held until they settle, by digest (see
    /// `groups/failover.rs`).
    outage: crate::group::tables::OutageRow,
    reach_known: bool,
    failovers: BTreeMap<[u8; 32], crate::group::tables::FailoverRow>,
}

impl Live {
    fn mls(&self) -> &tern_mls::Group {
        // Taken only for the length of one operation, which the core awaits.
        self.mls
            .as_ref()
            .unwrap_or_else(|| unreachable!("a group's state is out during an operation"))
    }

    /// The group as queries show it, with this node's settings for its chat: its own
    /// download rule and its disappearing-message timer.
    fn info(
        &self,
        id: GroupId,
        (auto_download, disappear_secs): (Option<u64>, Option<u32>),
    ) -> GroupInfo {
        let active = self.row.active;
        let mls = self.mls();
        let members = if active {
            mls.members()
                .into_iter()
                .filter_map(|m| {
                    glue::account(&m.identity).map(|user| GroupMember {
                        user,
                        admin: m.admin,
                    })
                })
                .fold(Vec::<GroupMember>::new(), |mut all, m| {
                    // One entry per account, however many devices it has.
                    if !all.iter().any(|a| a.user == m.user) {
                        all.push(m);
                    }
                    all
                })
        } else {
            Vec::new()
        };
        GroupInfo {
            id,
            name: mls.name().to_owned(),
            epoch: mls.epoch(),
            members,
            admin: active && mls.is_admin(),
            active,
            sequencers: sequencer_addresses(&self.row.sequencers),
            keys_renewed_ms: self.renewed_ms,
            unread: self.unread,
            auto_download,
            held: self
                .outbox
                .values()
                .filter(|r| outgoing::is_held(r))
                .count() as u32,
            disappear_secs,
            failing_over: !self.failovers.is_empty(),
            unreachable_since_ms: self.outage.since_ms,
        }
    }

    fn pending_commit(&self) -> Option<(u64, &GroupOutboxRow)> {
        self.outbox
            .iter()
            .find(|(_, row)| matches!(row.what, OutgoingRow::Commit { .. }))
            .map(|(seq, row)| (*seq, row))
    }
}

pub(super) fn sequencer_addresses(rows: &[SequencerRow]) -> Vec<String> {
    rows.iter()
        .filter_map(|s| {
            let peer = libp2p::PeerId::from_bytes(&s.peer).ok()?;
            Some(match s.addresses.first() {
                // Rows of groups made before their relays were named in them may hold it.
                Some(address) => format!("{}/p2p/{peer}", moving::without_peer(address)),
                None => peer.to_string(),
            })
        })
        .collect()
}

/// The sequencers `rows` name and where they listen, as fetches and uploads take them.
pub(super) fn sequencer_places(
    rows: &[SequencerRow],
) -> Vec<(libp2p::PeerId, Vec<libp2p::Multiaddr>)> {
    sequencers_of(rows)
        .into_iter()
        .map(|s| (s.peer, s.addresses))
        .collect()
}

pub(crate) fn sequencers_of(rows: &[SequencerRow]) -> Vec<Sequencer> {
    rows.iter()
        .filter_map(|s| {
            Some(Sequencer {
                peer: libp2p::PeerId::from_bytes(&s.peer).ok()?,
                addresses: s.addresses.iter().filter_map(|a| a.parse().ok()).collect(),
            })
        })
        .collect()
}

impl GroupState {
    pub(crate) fn new(
        device: zeroize::Zeroizing<[u8; 32]>,
        failover: crate::GroupFailover,
        drop_followups: bool,
    ) -> Self {
        let (reports_tx, reports) = mpsc::channel(REPORTS_CAPACITY);
        Self {
            live: HashMap::new(),
            reports_tx,
            reports,
            device: std::sync::Arc::new(device),
            next_seq: 0,
            followups: Vec::new(),
            refused: BTreeMap::new(),
            invite_parts: InviteParts::new(),
            invite_fetches: std::collections::HashSet::new(),
            adds_due: true,
            readds: Vec::new(),
            readded_ms: HashMap::new(),
            failover,
            drop_followups,
        }
    }
}

impl Core {
    /// Runs `f` on the blocking pool with a [`Cx`] over the store; returns what it returned
    /// and the MLS rows of the operations that succeeded, to commit in the caller's write.
    pub(super) async fn mls<R: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Cx<'_>) -> R + Send + 'static,
    ) -> Result<(R, Layer), Error> {
        let store = self.store.clone();
        let device = self.groups.device.clone();
        let certificate = self.certificate.to_bytes();
        tokio::task::spawn_blocking(move || {
            let crypto = Crypto::new();
            let key = glue::storage_key(&store);
            let signer = DeviceSigner::from_secret(&device);
            let mut cx = Cx {
                store: &store,
                crypto: &crypto,
                key: &key,
                signer: &signer,
                certificate: &certificate,
                layer: Layer::new(),
            };
            let out = f(&mut cx);
            (out, cx.layer)
        })
        .await
        .map_err(|e| Error::Storage(StorageError::other(e.to_string())))
    }

    fn group_key(&self, id: &GroupId) -> Conv {
        self.store.index_id("group", id.as_bytes())
    }

    /// The groups we are still in whose state meets `due`.
    fn active_groups_where(&self, due: impl Fn(&Live) -> bool) -> Vec<GroupId> {
        self.groups
            .live
            .iter()
            .filter(|(_, live)| live.row.active && live.behind.is_none() && due(live))
            .map(|(id, _)| *id)
            .collect()
    }

    pub(super) fn live_conv(&self, id: GroupId) -> Result<Conv, Error> {
        Ok(self.live(id)?.conv)
    }

    /// Every group this node has history of (those it left too), by its history's `Conv`.
    pub(super) fn group_convs(&self) -> HashMap<Conv, GroupId> {
        self.groups
            .live
            .iter()
            .map(|(id, live)| (live.conv, *id))
            .collect()
    }

    /// Group `id` (its `live` state) as queries show it.
    fn info_of(&self, id: GroupId, live: &Live) -> GroupInfo {
        live.info(id, (self.download_rule(&live.conv), self.timer(&live.conv)))
    }

    fn live(&self, id: GroupId) -> Result<&Live, Error> {
        self.groups.live.get(&id).ok_or(no_such(id))
    }

    fn live_mut(&mut self, id: GroupId) -> Result<&mut Live, Error> {
        self.groups.live.get_mut(&id).ok_or(no_such(id))
    }

    /// Runs `f` with group `id`'s MLS state on the blocking pool; the state is out of memory
    /// meanwhile and put back after, whatever `f` did. Returns what `f` returned and the rows of
    /// the operations that succeeded, for the caller's write.
    pub(super) async fn with_group<T: Send + 'static>(
        &mut self,
        id: GroupId,
        f: impl FnOnce(&mut Cx<'_>, &mut tern_mls::Group) -> Result<T, Error> + Send + 'static,
    ) -> Result<(T, Layer), Error> {
        let mut group = self
            .live_mut(id)?
            .mls
            .take()
            .ok_or(Error::Group(GroupError::Refused("no group state".into())))?;
        let ran = self
            .mls(move |cx| {
                let result = f(cx, &mut group);
                (group, result)
            })
            .await;
        match ran {
            Ok(((group, result), layer)) => {
                self.put_back(id, Some(group));
                result.map(|out| (out, layer))
            }
            // The task did not run to the end: read the group back from the store.
            Err(e) => {
                let row = self.live(id)?.row.clone();
                if let Some((group, _)) = self.load_group(&row).await? {
                    self.put_back(id, Some(group));
                }
                Err(e)
            }
        }
    }

    /// Reads a group's MLS state and its access key from the store (`None`: not there).
    pub(super) async fn load_group(
        &self,
        row: &GroupRow,
    ) -> Result<Option<(tern_mls::Group, Access)>, Error> {
        let (group_id, log) = (row.id, row.log);
        let (loaded, _) = self
            .mls(move |cx| {
                let Some(group) = cx.op(|p, _, _| {
                    tern_mls::Group::load(p, &group_id, &Certificates)
                        .map_err(|e| Error::Group(e.into()))
                })?
                else {
                    return Ok(None);
                };
                let access = cx.op(|p, _, _| {
                    glue::current_access(&group, p, &log).map_err(|e| Error::Group(e.into()))
                })?;
                Ok(Some((group, access)))
            })
            .await?;
        loaded
    }

    /// Puts a group in memory (replacing what was there) and starts its log task.
    pub(super) fn go_live(
        &mut self,
        id: GroupId,
        conv: Conv,
        row: GroupRow,
        group: tern_mls::Group,
        access: Access,
        outbox: BTreeMap<u64, GroupOutboxRow>,
    ) {
        if let Some(old) = self.groups.live.get(&id) {
            old.cancel.cancel();
        }
        let live = Live {
            conv,
            renewed_ms: None,
            renew_at_ms: renewal::first(&row),
            unread: 0,
            due: Vec::new(),
            due_since_ms: 0,
            leaves_since_ms: None,
            behind: None,
            copies: log::Copies::default(),
            outage: crate::group::tables::OutageRow::default(),
            reach_known: false,
            failovers: BTreeMap::new(),
            row,
            mls: Some(group),
            access,
            outbox,
            control: None,
            unhanded: std::collections::VecDeque::new(),
            cancel: self.cancel.child_token(),
        };
        self.groups.live.insert(id, live);
        self.start_log(id);
    }

    /// The group, if we are still in it.
    fn active(&self, id: GroupId) -> Result<&Live, Error> {
        let live = self.live(id)?;
        if !live.row.active {
            return Err(Error::Group(GroupError::NotMember(id)));
        }
        if live.behind.is_some() {
            return Err(Error::Group(GroupError::FellBehind(id)));
        }
        Ok(live)
    }

    /// The group, active, with no commit of ours waiting for the log or set aside to be made
    /// again (a member keeps one pending commit at most).
    fn ready(&self, id: GroupId) -> Result<&Live, Error> {
        let live = self.ready_to_remake(id)?;
        if live.outage.set_aside.is_some() {
            return Err(Error::Group(GroupError::Busy));
        }
        Ok(live)
    }

    /// [`Core::ready`], but for making again the commit set aside.
    fn ready_to_remake(&self, id: GroupId) -> Result<&Live, Error> {
        let live = self.active(id)?;
        if live.pending_commit().is_some() || !live.failovers.is_empty() {
            return Err(Error::Group(GroupError::Busy));
        }
        Ok(live)
    }

    /// Reads every group we are in, resumes their outboxes and starts their log tasks.
    pub(super) async fn load_groups(&mut self) -> Result<(), Error> {
        let rows = self
            .read(|s| s.scan::<Groups>(.., ScanDirection::Forward, usize::MAX))
            .await?;
        let outbox = self
            .read(|s| s.scan::<GroupOutbox>(.., ScanDirection::Forward, usize::MAX))
            .await?;
        self.groups.next_seq = outbox
            .iter()
            .map(|((_, seq), _)| seq + 1)
            .max()
            .unwrap_or(0);
        for (conv, row) in rows {
            let id = GroupId::from_bytes(row.id);
            let Some((group, access)) = self.load_group(&row).await? else {
                warn!(group = %id.short(), "a group's MLS state is missing; skipping it");
                continue;
            };
            let outbox: BTreeMap<u64, GroupOutboxRow> = outbox
                .iter()
                .filter(|((c, _), _)| *c == conv)
                .map(|((_, seq), row)| (*seq, row.clone()))
                .collect();
            self.go_live(id, conv, row, group, access, outbox);
        }
        self.load_commit_copies().await?;
        self.load_rejoins().await?;
        self.load_failovers().await?;
        for id in self.active_groups_where(|_| true) {
            self.remake_stale(id).await?;
        }
        self.load_renewals().await?;
        self.load_unread().await?;
        self.load_receipts_due().await
    }

    /// Starts the log task of group `id` and hands it the entries waiting to be appended.
    fn start_log(&mut self, id: GroupId) {
        let net = self.net.clone();
        let reports = self.groups.reports_tx.clone();
        let Some(live) = self.groups.live.get_mut(&id) else {
            return;
        };
        if !live.row.active || live.behind.is_some() {
            return;
        }
        let (control, rx) = mpsc::channel(REPORTS_CAPACITY);
        let task = LogTask {
            group: id,
            log: live.row.log,
            sequencers: sequencers_of(&live.row.sequencers),
            cursors: live.row.cursors.clone(),
            access: live.access.clone(),
            epoch: live.mls().epoch(),
            copies: live.copies.clone(),
            net,
            reports,
            control: rx,
            cancel: live.cancel.clone(),
        };
        tokio::spawn(task.run());
        live.control = Some(control);
        live.unhanded.clear();
        // Messages of an ended epoch are made again instead ([`Core::remake_stale`]).
        let epoch = live.mls().epoch();
        let seqs: Vec<u64> = live
            .outbox
            .iter()
            .filter(|(_, row)| !outgoing::is_stale(row, epoch))
            .map(|(seq, _)| *seq)
            .collect();
        for seq in seqs {
            live.offer(seq);
        }
    }

    fn put_back(&mut self, id: GroupId, group: Option<tern_mls::Group>) {
        if let Some(live) = self.groups.live.get_mut(&id) {
            live.mls = group;
        }
    }
}

/// What the log task is asked to append for an outbox row.
fn kind_of(row: &GroupOutboxRow) -> Kind {
    match &row.what {
        OutgoingRow::Commit { next_key, .. } => Kind::Commit {
            epoch: row.epoch,
            next_key: *next_key,
        },
        OutgoingRow::Message { .. } | OutgoingRow::Leave => Kind::Message,
    }
}

fn no_such(id: GroupId) -> Error {
    Error::Group(GroupError::NoSuchGroup(id))
}

fn check_name(name: &str) -> Result<(), Error> {
    if name.is_empty() || name.len() > tern_mls::MAX_NAME_LEN || name.chars().any(char::is_control)
    {
        return Err(Error::Group(GroupError::BadName));
    }
    Ok(())
}

fn random<const N: usize>() -> [u8; N] {
    let mut out = [0u8; N];
    tern_crypto::rand_core::Rng::fill_bytes(&mut UnwrapErr(getrandom::SysRng), &mut out);
    out
}
