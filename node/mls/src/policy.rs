//! The group's roles, kept in the MLS group context, and the authorization policy every
//! member applies to every commit before merging it.
//!
//! # The roles extension
//!
//! A group-context extension of type [`EXTENSION_TYPE`] (from RFC 9420's private-use range)
//! holds the group's name, its admins and the members' seniority:
//!
//! ```text
//! struct {
//!     uint8  version;                                         // 1, or 2 with relays
//!     uint16 name_length;   opaque name[name_length];          // UTF-8, ≤ 256 bytes
//!     uint16 admin_count;   { uint8 length; opaque identity[length]; } admins[admin_count];
//!                                                             // sorted, no duplicates
//!     uint32 order_count;   uint32 order[order_count];        // leaf indices, oldest first
//!     // version 2 only:
//!     uint8  log_length;    opaque log[log_length];            // 1 to 64 bytes
//!     uint8  relay_count;                                     // 1 to 8
//!     struct {
//!         uint8 id_length;      opaque id[id_length];          // 1 to 64 bytes
//!         uint8 address_count;                                 // at most 8
//!         { uint16 length; opaque address[length]; } addresses[address_count];
//!                                                             // UTF-8, 1 to 256 bytes
//!     } relays[relay_count];
//! } TernRoles;
//! ```
//!
//! `log` and `relays` say where the group's log is kept: its id there, and the relays
//! ([`LogRelay`]); this crate does not read them beyond their bounds. A group without them
//! encodes version 1, so the bytes of groups made before they were added do not change;
//! version 2 needs both.
//!
//! Admins are [`Identity`]s (accounts), so every device of an admin account is an admin.
//! `order` lists leaf indices by when their member was added, oldest first; it may hold
//! indices whose member has since been removed (a removal does not rewrite it), which every
//! reader skips, and it is rewritten by every commit that adds members.
//!
//! # The policy (checked by every member, for every commit)
//!
//! Let `admin(x)` be "x's identity is in `admins` before the commit".
//!
//! 1. Only Add, Remove, Update and GroupContextExtensions proposals are allowed.
//! 2. An Add must be proposed by an admin (an inline proposal is proposed by the committer).
//! 3. A Remove must be proposed by an admin, or by the removed member itself (leaving).
//! 4. An update (proposal or commit path) must keep the leaf's identity.
//! 5. The leaves after the commit are: the leaves before, less those removed, plus one per
//!    Add at the lowest unoccupied indices, in order (RFC 9420 §12.1.1, §7.8).
//! 6. If the commit adds members, it must carry the roles extension with
//!    `order = [l in old order, still a member, not removed] ++ [added leaves, ascending]`.
//! 7. After the commit every admin is a member, and a non-empty group has an admin.
//! 8. A committer who is not an admin may change the extension only as rule 7 forces:
//!    dropping admins who left, and, if none is left, promoting the longest-standing member
//!    (the first leaf in `order` that is still a member). An admin may also rename, promote
//!    and demote, and move the log (change `log` and `relays`, never to none once set).
//!
//! A commit that breaks a rule is refused with a [`PolicyError`] before it is merged; the
//! group stays in its epoch.

use std::collections::{BTreeMap, BTreeSet};

use crate::credential::Identity;

/// The roles extension's type: in RFC 9420's private-use range (0xF000–0xFFFF).
pub const EXTENSION_TYPE: u16 = 0xF7A1;

/// Longest group name, in bytes.
pub const MAX_NAME_LEN: usize = 256;

const VERSION: u8 = 1;
const VERSION_RELAYS: u8 = 2;

/// Most relays a group's log is kept at.
pub const MAX_RELAYS: usize = 8;
/// Most addresses of one relay.
pub const MAX_RELAY_ADDRESSES: usize = 8;
const MAX_RELAY_ID_LEN: usize = 64;
/// Longest log id.
pub const MAX_LOG_ID_LEN: usize = 64;
/// Longest address of a relay, in bytes.
pub const MAX_RELAY_ADDRESS_LEN: usize = 256;

/// One relay that keeps the group's log: its id and addresses, as the application writes
/// them (Tern: a libp2p peer id's bytes, and multiaddresses).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogRelay {
    /// The relay's id, 1 to 64 bytes.
    pub id: Vec<u8>,
    /// Its addresses, UTF-8, at most [`MAX_RELAY_ADDRESSES`] of 1 to 256 bytes.
    pub addresses: Vec<String>,
}

impl LogRelay {
    /// Whether it keeps within the extension's bounds.
    pub fn within_bounds(&self) -> bool {
        (1..=MAX_RELAY_ID_LEN).contains(&self.id.len())
            && self.addresses.len() <= MAX_RELAY_ADDRESSES
            && self
                .addresses
                .iter()
                .all(|a| (1..=MAX_RELAY_ADDRESS_LEN).contains(&a.len()))
    }
}

/// The roles extension's content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Roles {
    /// The group's name.
    pub name: String,
    /// The admins, sorted.
    pub admins: BTreeSet<Identity>,
    /// Leaf indices by seniority, oldest first (may name departed leaves).
    pub order: Vec<u32>,
    /// The log's id at its relays (1 to [`MAX_LOG_ID_LEN`] bytes); empty, with `relays`,
    /// in a group made without them (the application keeps them elsewhere).
    pub log: Vec<u8>,
    /// Where the group's log is kept, in the order that decides; empty in a group made
    /// without them.
    pub relays: Vec<LogRelay>,
}

/// The roles extension could not be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the group's roles extension is malformed")]
pub struct RolesDecodeError;

impl Roles {
    /// The extension's bytes. Relays beyond the bounds are left out (the group's own
    /// operations check them first).
    pub fn encode(&self) -> Vec<u8> {
        let relays: Vec<&LogRelay> = self
            .relays
            .iter()
            .filter(|r| r.within_bounds())
            .take(MAX_RELAYS)
            .collect();
        let placed = !relays.is_empty() && (1..=MAX_LOG_ID_LEN).contains(&self.log.len());
        let mut out = vec![if !placed { VERSION } else { VERSION_RELAYS }];
        let name = &self.name.as_bytes()[..self.name.len().min(MAX_NAME_LEN)];
        out.extend_from_slice(&(name.len() as u16).to_be_bytes());
        out.extend_from_slice(name);
        out.extend_from_slice(&(self.admins.len().min(usize::from(u16::MAX)) as u16).to_be_bytes());
        for admin in self.admins.iter().take(usize::from(u16::MAX)) {
            let id = &admin.0[..admin.0.len().min(255)];
            out.push(id.len() as u8);
            out.extend_from_slice(id);
        }
        out.extend_from_slice(&(self.order.len() as u32).to_be_bytes());
        for leaf in &self.order {
            out.extend_from_slice(&leaf.to_be_bytes());
        }
        if placed {
            out.push(self.log.len() as u8);
            out.extend_from_slice(&self.log);
            out.push(relays.len() as u8);
            for relay in relays {
                out.push(relay.id.len() as u8);
                out.extend_from_slice(&relay.id);
                out.push(relay.addresses.len() as u8);
                for address in &relay.addresses {
                    out.extend_from_slice(&(address.len() as u16).to_be_bytes());
                    out.extend_from_slice(address.as_bytes());
                }
            }
        }
        out
    }

    /// Reads the extension's bytes, strictly (no trailing bytes, sorted unique admins).
    pub fn decode(bytes: &[u8]) -> Result<Self, RolesDecodeError> {
        let mut r = Reader(bytes);
        let version = r.u8()?;
        if version != VERSION && version != VERSION_RELAYS {
            return Err(RolesDecodeError);
        }
        let name_len = usize::from(r.u16()?);
        if name_len > MAX_NAME_LEN {
            return Err(RolesDecodeError);
        }
        let name = String::from_utf8(r.take(name_len)?.to_vec()).map_err(|_| RolesDecodeError)?;
        let mut admins = BTreeSet::new();
        let mut last: Option<Identity> = None;
        for _ in 0..r.u16()? {
            let len = usize::from(r.u8()?);
            let id = Identity(r.take(len)?.to_vec());
            if last.as_ref().is_some_and(|l| *l >= id) {
                return Err(RolesDecodeError);
            }
            last = Some(id.clone());
            admins.insert(id);
        }
        let count = usize::try_from(r.u32()?).map_err(|_| RolesDecodeError)?;
        if count > r.0.len() / 4 {
            return Err(RolesDecodeError);
        }
        let order = (0..count).map(|_| r.u32()).collect::<Result<Vec<_>, _>>()?;
        let (log, relays) = if version == VERSION_RELAYS {
            let len = usize::from(r.u8()?);
            if !(1..=MAX_LOG_ID_LEN).contains(&len) {
                return Err(RolesDecodeError);
            }
            (r.take(len)?.to_vec(), r.relays()?)
        } else {
            (Vec::new(), Vec::new())
        };
        if !r.0.is_empty() {
            return Err(RolesDecodeError);
        }
        Ok(Self {
            name,
            admins,
            order,
            log,
            relays,
        })
    }
}

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], RolesDecodeError> {
        if self.0.len() < n {
            return Err(RolesDecodeError);
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Ok(head)
    }
    fn u8(&mut self) -> Result<u8, RolesDecodeError> {
        Ok(self.take(1)?[0])
    }
    fn u16(&mut self) -> Result<u16, RolesDecodeError> {
        let b = self.take(2)?;
        Ok(u16::from_be_bytes([b[0], b[1]]))
    }
    fn u32(&mut self) -> Result<u32, RolesDecodeError> {
        let b = self.take(4)?;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }
    /// Version 2's relays: at least one, each within [`LogRelay::within_bounds`].
    fn relays(&mut self) -> Result<Vec<LogRelay>, RolesDecodeError> {
        let count = usize::from(self.u8()?);
        if !(1..=MAX_RELAYS).contains(&count) {
            return Err(RolesDecodeError);
        }
        let mut relays = Vec::with_capacity(count);
        for _ in 0..count {
            let len = usize::from(self.u8()?);
            let id = self.take(len)?.to_vec();
            let addresses = (0..self.u8()?)
                .map(|_| {
                    let len = usize::from(self.u16()?);
                    String::from_utf8(self.take(len)?.to_vec()).map_err(|_| RolesDecodeError)
                })
                .collect::<Result<Vec<_>, _>>()?;
            let relay = LogRelay { id, addresses };
            if !relay.within_bounds() {
                return Err(RolesDecodeError);
            }
            relays.push(relay);
        }
        Ok(relays)
    }
}

/// Why a commit (or a commit this member wanted to make) breaks the policy.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PolicyError {
    /// A change only admins may make, by a member who is not one.
    #[error("only an admin may {0}")]
    NotAdmin(&'static str),
    /// A proposal type Tern's groups do not use.
    #[error("proposal type not allowed in Tern groups")]
    ProposalNotAllowed,
    /// An update that would change the member's identity.
    #[error("an update may not change the member's identity")]
    IdentityChanged,
    /// The commit leaves the roles extension inconsistent with the membership.
    #[error("the roles extension does not match the membership: {0}")]
    Roles(&'static str),
    /// The group context lacks the roles extension or it is malformed.
    #[error("the group's roles extension is missing or malformed")]
    MissingRoles,
}

/// A commit, reduced to what the policy looks at.
#[derive(Debug, Default, Clone)]
pub(crate) struct CommitSummary {
    /// The committer's leaf.
    pub(crate) committer: u32,
    /// Added identities, in proposal order, each with its proposer's leaf.
    pub(crate) adds: Vec<(Identity, u32)>,
    /// Removed leaves, each with its proposer's leaf.
    pub(crate) removes: Vec<(u32, u32)>,
    /// Updated leaves (proposals and the commit's path) with their new identity.
    pub(crate) updates: Vec<(u32, Identity)>,
    /// The roles extension after the commit, if the commit changes the group context.
    pub(crate) new_roles: Option<Roles>,
    /// Whether the commit carries a proposal type outside the four allowed.
    pub(crate) other_proposals: bool,
}

/// The leaves after a commit that removes `removed` and adds `added` members (rule 5):
/// `(members after, the added leaves in order)`.
pub(crate) fn members_after(
    before: &BTreeMap<u32, Identity>,
    removed: &[u32],
    added: &[Identity],
) -> (BTreeMap<u32, Identity>, Vec<u32>) {
    let mut after = before.clone();
    for leaf in removed {
        after.remove(leaf);
    }
    let mut new_leaves = Vec::with_capacity(added.len());
    let mut candidate = 0u32;
    for identity in added {
        while after.contains_key(&candidate) {
            candidate += 1;
        }
        after.insert(candidate, identity.clone());
        new_leaves.push(candidate);
    }
    (after, new_leaves)
}

/// Rule 6's order: the old order's surviving members, then the added leaves.
pub(crate) fn expected_order(
    old: &[u32],
    before: &BTreeMap<u32, Identity>,
    removed: &[u32],
    new_leaves: &[u32],
) -> Vec<u32> {
    let mut seen = BTreeSet::new();
    let mut order: Vec<u32> = old
        .iter()
        .copied()
        .filter(|l| before.contains_key(l) && !removed.contains(l) && seen.insert(*l))
        .collect();
    let mut added = new_leaves.to_vec();
    added.sort_unstable();
    order.extend(added);
    order
}

/// Rule 7 and 8's forced change: admins that are still members, or if none, the
/// longest-standing member.
pub(crate) fn forced_admins(
    admins: &BTreeSet<Identity>,
    after: &BTreeMap<u32, Identity>,
    order: &[u32],
) -> BTreeSet<Identity> {
    let present: BTreeSet<&Identity> = after.values().collect();
    let kept: BTreeSet<Identity> = admins
        .iter()
        .filter(|a| present.contains(a))
        .cloned()
        .collect();
    if !kept.is_empty() || after.is_empty() {
        return kept;
    }
    let senior = order
        .iter()
        .find_map(|l| after.get(l))
        // An order that misses members (it never should) falls back to the lowest leaf.
        .or_else(|| after.values().next());
    senior.into_iter().cloned().collect()
}

/// Checks a commit against the policy (module documentation) and returns the roles after it.
pub(crate) fn check(
    roles: &Roles,
    before: &BTreeMap<u32, Identity>,
    commit: &CommitSummary,
) -> Result<Roles, PolicyError> {
    let is_admin = |leaf: u32| {
        before
            .get(&leaf)
            .is_some_and(|id| roles.admins.contains(id))
    };
    if commit.other_proposals {
        return Err(PolicyError::ProposalNotAllowed);
    }
    if commit.adds.iter().any(|(_, proposer)| !is_admin(*proposer)) {
        return Err(PolicyError::NotAdmin("add members"));
    }
    if commit
        .removes
        .iter()
        .any(|(removed, proposer)| removed != proposer && !is_admin(*proposer))
    {
        return Err(PolicyError::NotAdmin("remove other members"));
    }
    if commit
        .updates
        .iter()
        .any(|(leaf, identity)| before.get(leaf) != Some(identity))
    {
        return Err(PolicyError::IdentityChanged);
    }
    let removed: Vec<u32> = commit.removes.iter().map(|(leaf, _)| *leaf).collect();
    let added: Vec<Identity> = commit.adds.iter().map(|(id, _)| id.clone()).collect();
    let (after, new_leaves) = members_after(before, &removed, &added);
    let order = expected_order(&roles.order, before, &removed, &new_leaves);

    let new = commit.new_roles.clone().unwrap_or_else(|| roles.clone());
    // Rule 6 (an order that was not rewritten is fine only without adds).
    if (!added.is_empty() || commit.new_roles.is_some())
        && new.order != order
        && !(added.is_empty() && new.order == roles.order)
    {
        return Err(PolicyError::Roles(
            "the seniority order is not the expected one",
        ));
    }
    // Rule 7.
    let present: BTreeSet<&Identity> = after.values().collect();
    if new.admins.iter().any(|a| !present.contains(a)) {
        return Err(PolicyError::Roles("an admin is not a member"));
    }
    if new.admins.is_empty() && !after.is_empty() {
        return Err(PolicyError::Roles("the group would have no admin"));
    }
    // Rule 8.
    if commit.new_roles.is_some() && !is_admin(commit.committer) {
        let forced = forced_admins(&roles.admins, &after, &order);
        if new.name != roles.name || new.admins != forced {
            return Err(PolicyError::NotAdmin("change the group's name or admins"));
        }
        if new.relays != roles.relays || new.log != roles.log {
            return Err(PolicyError::NotAdmin("move the group's log"));
        }
    }
    if new.relays.is_empty() && !roles.relays.is_empty() {
        return Err(PolicyError::Roles("the group's log would be kept nowhere"));
    }
    Ok(new)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(n: u8) -> Identity {
        Identity(vec![n])
    }

    fn group(n: u8) -> (Roles, BTreeMap<u32, Identity>) {
        let members = (0..n).map(|i| (u32::from(i), id(i))).collect();
        let roles = Roles {
            name: "g".into(),
            admins: [id(0)].into(),
            order: (0..u32::from(n)).collect(),
            log: Vec::new(),
            relays: Vec::new(),
        };
        (roles, members)
    }

    fn relay(n: u8) -> LogRelay {
        LogRelay {
            id: vec![n; 38],
            addresses: vec![format!("/ip4/127.0.0.1/tcp/{}", 4000 + u16::from(n))],
        }
    }

    #[test]
    fn relays_encode_as_version_2_and_decode_strictly() {
        let (mut roles, _) = group(2);
        assert_eq!(roles.encode()[0], 1, "no relays: the version 1 bytes");
        roles.log = vec![9; 32];
        roles.relays = vec![relay(1), relay(2)];
        let bytes = roles.encode();
        assert_eq!(bytes[0], 2);
        assert_eq!(Roles::decode(&bytes).unwrap(), roles);
        assert!(Roles::decode(&bytes[..bytes.len() - 1]).is_err());
        assert!(Roles::decode(&[bytes.as_slice(), &[0]].concat()).is_err());
        // Version 2 with no log id, no relay, a relay without an id, an empty or non-UTF-8
        // address: malformed.
        let v1 = group(2).0.encode();
        let v2 = |tail: &[u8]| Roles::decode(&[&[2], &v1[1..], tail].concat());
        assert!(v2(&[0, 1, 1, 7, 0]).is_err());
        assert!(v2(&[1, 5, 0]).is_err());
        assert!(v2(&[1, 5, 1, 0, 0]).is_err());
        assert!(v2(&[1, 5, 1, 1, 7, 1, 0, 0]).is_err());
        assert!(v2(&[1, 5, 1, 1, 7, 1, 0, 1, 0xff]).is_err());
        assert!(v2(&[1, 5, 1, 1, 7, 1, 0, 1, b'a']).is_ok());
        assert!(v2(&[1, 5, 1, 1, 7, 0]).is_ok());
    }

    #[test]
    fn only_admins_move_the_log_and_never_to_nowhere() {
        let (mut roles, members) = group(3);
        roles.log = vec![1; 32];
        roles.relays = vec![relay(1)];
        let moving = |committer, relays: Vec<LogRelay>| CommitSummary {
            committer,
            new_roles: Some(Roles {
                relays,
                ..roles.clone()
            }),
            ..Default::default()
        };
        // A fresh log id on the same relays is a move too.
        let fresh = CommitSummary {
            committer: 1,
            new_roles: Some(Roles {
                log: vec![2; 32],
                ..roles.clone()
            }),
            ..Default::default()
        };
        assert_eq!(
            check(&roles, &members, &fresh),
            Err(PolicyError::NotAdmin("move the group's log"))
        );
        assert_eq!(
            check(&roles, &members, &moving(1, vec![relay(2)])),
            Err(PolicyError::NotAdmin("move the group's log"))
        );
        assert_eq!(
            check(&roles, &members, &moving(0, vec![relay(2)]))
                .unwrap()
                .relays,
            [relay(2)]
        );
        assert!(matches!(
            check(&roles, &members, &moving(0, Vec::new())),
            Err(PolicyError::Roles(_))
        ));
    }

    #[test]
    fn roles_round_trip_and_refuse_garbage() {
        let (roles, _) = group(3);
        let bytes = roles.encode();
        assert_eq!(Roles::decode(&bytes).unwrap(), roles);
        assert!(Roles::decode(&bytes[..bytes.len() - 1]).is_err());
        assert!(Roles::decode(&[bytes.as_slice(), &[0]].concat()).is_err());
        assert!(Roles::decode(&[2]).is_err());
        assert!(Roles::decode(&[]).is_err());
    }

    #[test]
    fn only_admins_add_and_remove_others() {
        let (roles, members) = group(3);
        let add = |proposer| CommitSummary {
            committer: proposer,
            adds: vec![(id(9), proposer)],
            new_roles: Some(Roles {
                order: vec![0, 1, 2, 3],
                ..roles.clone()
            }),
            ..Default::default()
        };
        assert_eq!(
            check(&roles, &members, &add(1)),
            Err(PolicyError::NotAdmin("add members"))
        );
        assert_eq!(
            check(&roles, &members, &add(0)).unwrap().order,
            [0, 1, 2, 3]
        );
        // An add without the new order is refused.
        let mut bare = add(0);
        bare.new_roles = None;
        assert!(matches!(
            check(&roles, &members, &bare),
            Err(PolicyError::Roles(_))
        ));

        let remove = |removed, proposer, committer| CommitSummary {
            committer,
            removes: vec![(removed, proposer)],
            ..Default::default()
        };
        assert!(check(&roles, &members, &remove(2, 1, 1)).is_err());
        assert!(check(&roles, &members, &remove(2, 0, 1)).is_ok());
        // Leaving: a member's own Remove, committed by anyone.
        assert!(check(&roles, &members, &remove(2, 2, 1)).is_ok());
    }

    #[test]
    fn the_last_admin_leaving_promotes_the_longest_standing_member() {
        let (mut roles, members) = group(4);
        roles.order = vec![3, 1, 0, 2];
        let leave = |new_admins: &[u8]| CommitSummary {
            committer: 2,
            removes: vec![(0, 0)],
            new_roles: Some(Roles {
                admins: new_admins.iter().map(|&n| id(n)).collect(),
                order: vec![3, 1, 2],
                ..roles.clone()
            }),
            ..Default::default()
        };
        assert!(check(&roles, &members, &leave(&[3])).is_ok());
        assert!(check(&roles, &members, &leave(&[2])).is_err());
        let mut no_change = leave(&[]);
        no_change.new_roles = None;
        assert!(matches!(
            check(&roles, &members, &no_change),
            Err(PolicyError::Roles(_))
        ));
    }

    #[test]
    fn non_admins_cannot_rename_or_promote_and_updates_keep_identity() {
        let (roles, members) = group(3);
        let rename = CommitSummary {
            committer: 1,
            new_roles: Some(Roles {
                name: "mine".into(),
                ..roles.clone()
            }),
            ..Default::default()
        };
        assert!(matches!(
            check(&roles, &members, &rename),
            Err(PolicyError::NotAdmin(_))
        ));
        let promote = CommitSummary {
            committer: 1,
            new_roles: Some(Roles {
                admins: [id(0), id(1)].into(),
                ..roles.clone()
            }),
            ..Default::default()
        };
        assert!(check(&roles, &members, &promote).is_err());
        let mut by_admin = promote.clone();
        by_admin.committer = 0;
        assert!(check(&roles, &members, &by_admin).is_ok());
        let update = CommitSummary {
            committer: 1,
            updates: vec![(1, id(7))],
            ..Default::default()
        };
        assert_eq!(
            check(&roles, &members, &update),
            Err(PolicyError::IdentityChanged)
        );
    }

    #[test]
    fn added_leaves_fill_the_lowest_free_indices() {
        let (_, mut members) = group(5);
        members.remove(&1);
        let (after, new) = members_after(&members, &[3], &[id(8), id(9), id(10)]);
        assert_eq!(new, [1, 3, 5]);
        assert_eq!(after.len(), 6);
    }
}
