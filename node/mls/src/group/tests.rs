//! Group behaviour with in-memory stores: roles, the policy as receivers apply it, typed
//! refusals that change nothing, and state that survives a reload.

use openmls::prelude::{tls_codec::Serialize as _, *};

use super::*;
use crate::{Crypto, InsecureTestVerifier, MemoryBacking, StorageKey, policy::PolicyError};

const V: InsecureTestVerifier = InsecureTestVerifier;

struct Device {
    signer: DeviceSigner,
    certificate: Vec<u8>,
    store: MemoryBacking,
    key: StorageKey,
    group: Option<Group>,
}

impl Device {
    fn new(crypto: &Crypto, name: &str) -> Self {
        let signer = DeviceSigner::generate(crypto).unwrap();
        let certificate = InsecureTestVerifier::credential(name.as_bytes(), &signer);
        Self {
            signer,
            certificate,
            store: MemoryBacking::new(),
            key: StorageKey::new([9; 32]),
            group: None,
        }
    }

    /// Runs one operation and commits its batch, as the node does.
    fn run<T>(
        &mut self,
        crypto: &Crypto,
        f: impl FnOnce(&Provider<'_, &MemoryBacking>, &mut Option<Group>, &DeviceSigner, &[u8]) -> T,
    ) -> T {
        let provider = Provider::new(crypto, &self.store, &self.key);
        let out = f(&provider, &mut self.group, &self.signer, &self.certificate);
        let batch = provider.take_batch();
        drop(provider);
        self.store.commit(batch);
        out
    }

    fn g(&mut self) -> &mut Group {
        self.group.as_mut().unwrap()
    }

    fn key_package(&mut self, crypto: &Crypto) -> Vec<u8> {
        self.run(crypto, |p, _, s, c| key_package(p, s, c.to_vec()).unwrap())
    }

    fn process(&mut self, crypto: &Crypto, bytes: &[u8]) -> Result<Processed, ProcessError> {
        self.run(crypto, |p, g, _, _| {
            g.as_mut().unwrap().process(p, &V, bytes)
        })
    }

    fn state(&self) -> (u64, Vec<u8>) {
        let g = self.group.as_ref().unwrap();
        (g.epoch(), g.tree_hash().to_vec())
    }
}

/// Alice creates a group and adds `others`; returns all devices, converged.
fn group_of(crypto: &Crypto, names: &[&str]) -> Vec<Device> {
    let mut devices: Vec<Device> = names.iter().map(|n| Device::new(crypto, n)).collect();
    devices[0].run(crypto, |p, g, s, c| {
        *g = Some(Group::create(p, s, c.to_vec(), &V, "family").unwrap());
    });
    let kps: Vec<Vec<u8>> = devices[1..]
        .iter_mut()
        .map(|d| d.key_package(crypto))
        .collect();
    let out = devices[0].run(crypto, |p, g, s, _| {
        g.as_mut().unwrap().add_members(p, s, &V, &kps).unwrap()
    });
    assert!(matches!(
        devices[0].process(crypto, &out.commit).unwrap(),
        Processed::OwnCommit { .. }
    ));
    let welcome = out.welcome.unwrap();
    for d in &mut devices[1..] {
        d.run(crypto, |p, g, _, _| {
            *g = Some(Group::join(p, &welcome, &V).unwrap())
        });
    }
    let state = devices[0].state();
    assert!(devices.iter().all(|d| d.state() == state));
    devices
}

#[test]
fn members_exchange_messages_and_a_removed_member_reads_nothing_new() {
    let crypto = Crypto::new();
    let mut d = group_of(&crypto, &["alice", "bob", "carol"]);
    let hello = d[1].run(&crypto, |p, g, s, _| {
        g.as_mut().unwrap().send(p, s, &V, b"hi").unwrap()
    });
    for i in [0, 2] {
        let Processed::Application { sender, plaintext } = d[i].process(&crypto, &hello).unwrap()
        else {
            panic!()
        };
        assert_eq!(
            (sender.identity.0.as_slice(), plaintext.as_slice()),
            (&b"bob"[..], &b"hi"[..])
        );
    }
    // Bob is not an admin: his removal of Carol is refused before anything is sent.
    let refused = d[1].run(&crypto, |p, g, s, _| {
        g.as_mut().unwrap().remove_members(p, s, &V, &[2])
    });
    assert!(matches!(
        refused,
        Err(GroupError::Policy(PolicyError::NotAdmin(_)))
    ));
    let out = d[0].run(&crypto, |p, g, s, _| {
        g.as_mut().unwrap().remove_members(p, s, &V, &[2]).unwrap()
    });
    d[0].process(&crypto, &out.commit).unwrap();
    d[1].process(&crypto, &out.commit).unwrap();
    let Processed::Commit { changes, .. } = d[2].process(&crypto, &out.commit).unwrap() else {
        panic!()
    };
    assert!(matches!(&changes[0], Change::Removed(m) if m.leaf == 2));
    assert!(!d[2].g().is_active());
    let secret = d[0].run(&crypto, |p, g, s, _| {
        g.as_mut().unwrap().send(p, s, &V, b"after").unwrap()
    });
    assert!(matches!(
        d[1].process(&crypto, &secret),
        Ok(Processed::Application { .. })
    ));
    assert!(d[2].process(&crypto, &secret).is_err());
}

#[test]
fn the_last_admin_leaving_promotes_the_longest_standing_member() {
    let crypto = Crypto::new();
    let mut d = group_of(&crypto, &["alice", "bob", "carol"]);
    let leave = d[0].run(&crypto, |p, g, s, _| {
        g.as_mut().unwrap().leave(p, s, &V).unwrap()
    });
    for x in &mut d[1..3] {
        assert!(matches!(
            x.process(&crypto, &leave).unwrap(),
            Processed::Proposal { .. }
        ));
    }
    // Bob, whom the commit will promote, is the one to commit it; any member still may.
    assert!(d[1].g().commits_pending());
    assert!(!d[2].g().commits_pending());
    // Carol (not an admin) commits Alice's leave; the policy makes her promote Bob, the
    // longest-standing remaining member.
    let out = d[2].run(&crypto, |p, g, s, _| {
        g.as_mut().unwrap().commit_pending(p, s, &V).unwrap()
    });
    let Processed::OwnCommit { changes: own } = d[2].process(&crypto, &out.commit).unwrap() else {
        panic!("not carol's commit")
    };
    let Processed::Commit { changes, .. } = d[1].process(&crypto, &out.commit).unwrap() else {
        panic!()
    };
    assert!(changes.contains(&Change::Promoted(Identity(b"bob".to_vec()))));
    assert_eq!(own, changes, "the committer sees what the others see");
    assert!(d[1].g().is_admin() && !d[2].g().is_admin());
    d[0].process(&crypto, &out.commit).unwrap();
    assert!(!d[0].g().is_active());
    assert_eq!(d[1].state(), d[2].state());
}

#[test]
fn a_staying_admin_commits_a_members_leave() {
    let crypto = Crypto::new();
    let mut d = group_of(&crypto, &["alice", "bob", "carol"]);
    assert!(!d[0].g().commits_pending(), "nothing waits");
    let leave = d[2].run(&crypto, |p, g, s, _| {
        g.as_mut().unwrap().leave(p, s, &V).unwrap()
    });
    for x in &mut d[0..2] {
        x.process(&crypto, &leave).unwrap();
    }
    assert!(d[0].g().commits_pending());
    assert!(!d[1].g().commits_pending());
    assert!(d[2].g().is_leaving(), "carol asked to leave");
    assert!(!d[0].g().is_leaving() && !d[1].g().is_leaving());
    // Until it is committed nobody sends; should Alice stay away, Bob (second in the
    // order) may commit it in her place.
    let refused = d[1].run(&crypto, |p, g, s, _| {
        g.as_mut().unwrap().send(p, s, &V, b"still here?")
    });
    assert!(matches!(refused, Err(GroupError::ProposalsPending)));
    assert!(d[1].g().proposals_pending());
    assert_eq!(d[0].g().fallback_rank(), Some(0));
    assert_eq!(d[1].g().fallback_rank(), Some(1));
    let out = d[1].run(&crypto, |p, g, s, _| {
        g.as_mut().unwrap().commit_pending(p, s, &V).unwrap()
    });
    let Processed::OwnCommit { changes: own } = d[1].process(&crypto, &out.commit).unwrap() else {
        panic!("not bob's commit")
    };
    let Processed::Commit { changes, .. } = d[0].process(&crypto, &out.commit).unwrap() else {
        panic!("not a commit")
    };
    assert!(
        own.iter()
            .any(|c| matches!(c, Change::Removed(m) if m.identity.0 == b"carol"))
    );
    assert_eq!(own, changes, "the committer sees what the others see");
    assert_eq!(d[0].state(), d[1].state());
    assert!(d[0].g().is_admin(), "alice stays the admin");
    assert_eq!(d[1].g().fallback_rank(), None, "nothing waits");
    let hello = d[1].run(&crypto, |p, g, s, _| {
        g.as_mut().unwrap().send(p, s, &V, b"still here").unwrap()
    });
    assert!(matches!(
        d[0].process(&crypto, &hello),
        Ok(Processed::Application { .. })
    ));
}

/// A commit of `roles` made through openmls directly, past the API's own checks.
fn forged_commit(crypto: &Crypto, device: &mut Device, roles: &Roles) -> Vec<u8> {
    device.run(crypto, |p, g, s, _| {
        let g = g.as_mut().unwrap();
        let ext = with_roles(g.mls.extensions(), roles).unwrap();
        let bundle = g
            .mls
            .commit_builder()
            .propose_group_context_extensions(ext)
            .unwrap()
            .load_psks(p.storage())
            .unwrap()
            .build(p.rand(), p.crypto(), s, |_| true)
            .unwrap()
            .stage_commit(p)
            .unwrap();
        bundle.into_commit().tls_serialize_detached().unwrap()
    })
}

fn relay(n: u8) -> LogRelay {
    LogRelay {
        id: vec![n; 38],
        addresses: vec![format!("/ip4/127.0.0.1/tcp/{}", 4000 + u16::from(n))],
    }
}

#[test]
fn an_admin_moves_the_log_and_every_member_and_joiner_follows() {
    let crypto = Crypto::new();
    let mut d = group_of(&crypto, &["alice", "bob", "carol"]);
    assert!(d[0].g().relays().is_empty());
    // Bob is no admin: refused before anything is sent, and by receivers when forged.
    let refused = d[1].run(&crypto, |p, g, s, _| {
        g.as_mut()
            .unwrap()
            .move_log(p, s, &V, (&[5; 32], &[relay(2)]))
    });
    assert!(matches!(
        refused,
        Err(GroupError::Policy(PolicyError::NotAdmin(_)))
    ));
    let forged = Roles {
        log: vec![6; 32],
        relays: vec![relay(6)],
        ..d[1].g().roles.clone()
    };
    let forged = forged_commit(&crypto, &mut d[1], &forged);
    assert!(matches!(
        d[0].process(&crypto, &forged),
        Err(ProcessError::Policy(PolicyError::NotAdmin(_)))
    ));
    d[1].run(&crypto, |p, g, _, _| {
        g.as_mut().unwrap().discard_own_commit(p).unwrap()
    });
    // No relay, the same relay twice, or no log id: refused as invalid.
    for (log, bad) in [
        (vec![5; 32], vec![]),
        (vec![5; 32], vec![relay(2), relay(2)]),
        (vec![], vec![relay(2)]),
    ] {
        let refused = d[0].run(&crypto, |p, g, s, _| {
            g.as_mut().unwrap().move_log(p, s, &V, (&log, &bad))
        });
        assert!(
            matches!(refused, Err(GroupError::Invalid(_))),
            "{refused:?}"
        );
    }

    let out = d[0].run(&crypto, |p, g, s, _| {
        g.as_mut()
            .unwrap()
            .move_log(p, s, &V, (&[5; 32], &[relay(2), relay(3)]))
            .unwrap()
    });
    assert!(matches!(
        d[0].process(&crypto, &out.commit).unwrap(),
        Processed::OwnCommit { .. }
    ));
    for i in [1, 2] {
        let Processed::Commit { changes, .. } = d[i].process(&crypto, &out.commit).unwrap() else {
            panic!("not a commit")
        };
        assert!(changes.contains(&Change::LogMoved(vec![relay(2), relay(3)])));
        assert_eq!(d[i].g().relays(), [relay(2), relay(3)]);
        assert_eq!(d[i].g().log(), [5; 32]);
    }
    // A joiner reads them from the group itself.
    let mut dave = Device::new(&crypto, "dave");
    let kp = dave.key_package(&crypto);
    let add = d[0].run(&crypto, |p, g, s, _| {
        g.as_mut().unwrap().add_members(p, s, &V, &[kp]).unwrap()
    });
    d[0].process(&crypto, &add.commit).unwrap();
    let welcome = add.welcome.unwrap();
    dave.run(&crypto, |p, g, _, _| {
        *g = Some(Group::join(p, &welcome, &V).unwrap())
    });
    assert_eq!(dave.g().relays(), [relay(2), relay(3)]);
    assert_eq!(dave.g().log(), [5; 32]);
    assert_eq!(dave.state(), d[0].state());
}

#[test]
fn a_failover_is_taken_only_as_an_admins_move_of_the_log() {
    let crypto = Crypto::new();
    let mut d = group_of(&crypto, &["alice", "bob", "carol"]);
    let failover = |d: &mut Device, bytes: &[u8]| {
        d.run(&crypto, |p, g, _, _| {
            g.as_mut().unwrap().process_failover(p, &V, bytes)
        })
    };
    // Anything but a move, even an admin's commit the log would take, is refused and
    // changes nothing.
    let rename = d[0].run(&crypto, |p, g, s, _| {
        g.as_mut().unwrap().rename(p, s, &V, "renamed").unwrap()
    });
    let before = d[1].state();
    assert!(matches!(
        failover(&mut d[1], &rename.commit),
        Err(ProcessError::NotFailover(_))
    ));
    assert_eq!(d[1].state(), before);
    d[0].run(&crypto, |p, g, _, _| {
        g.as_mut().unwrap().discard_own_commit(p).unwrap()
    });
    let message = d[0].run(&crypto, |p, g, s, _| {
        g.as_mut().unwrap().send(p, s, &V, b"hello").unwrap()
    });
    assert!(matches!(
        failover(&mut d[1], &message),
        Err(ProcessError::NotFailover("not a commit"))
    ));
    // A move forged by a member who is no admin: refused by the policy, as from the log.
    let forged = Roles {
        log: vec![6; 32],
        relays: vec![relay(6)],
        ..d[1].g().roles.clone()
    };
    let forged = forged_commit(&crypto, &mut d[1], &forged);
    assert!(matches!(
        failover(&mut d[2], &forged),
        Err(ProcessError::Policy(PolicyError::NotAdmin(_)))
    ));
    d[1].run(&crypto, |p, g, _, _| {
        g.as_mut().unwrap().discard_own_commit(p).unwrap()
    });
    // An admin's move: its author merges it as its own, the others follow.
    let moved = d[0].run(&crypto, |p, g, s, _| {
        g.as_mut()
            .unwrap()
            .move_log(p, s, &V, (&[7; 32], &[relay(7)]))
            .unwrap()
    });
    assert!(matches!(
        failover(&mut d[0], &moved.commit).unwrap(),
        Processed::OwnCommit { .. }
    ));
    for i in [1, 2] {
        let Processed::Commit { changes, .. } = failover(&mut d[i], &moved.commit).unwrap() else {
            panic!("not a commit")
        };
        assert!(changes.contains(&Change::LogMoved(vec![relay(7)])));
    }
    assert!(d.iter().all(|x| x.state() == d[0].state()));
    assert_eq!(d[2].g().log(), [7; 32]);
    // Only admins fail over, the longest-standing first.
    assert_eq!(d[0].g().admin_rank(), Some(0));
    assert_eq!(d[1].g().admin_rank(), None);
}

#[test]
fn a_failover_takes_a_members_waiting_leave_with_it() {
    let crypto = Crypto::new();
    let mut d = group_of(&crypto, &["alice", "bob", "carol"]);
    // Carol asks to leave; the log dies before anyone commits it.
    let leave = d[2].run(&crypto, |p, g, s, _| {
        g.as_mut().unwrap().leave(p, s, &V).unwrap()
    });
    for x in &mut d[0..2] {
        x.process(&crypto, &leave).unwrap();
    }
    // Alice's failover moves the log and commits the leave: nobody stays in a group they
    // asked to leave because its relays died.
    let moved = d[0].run(&crypto, |p, g, s, _| {
        g.as_mut()
            .unwrap()
            .move_log(p, s, &V, (&[8; 32], &[relay(8)]))
            .unwrap()
    });
    let failover = |d: &mut Device, bytes: &[u8]| {
        d.run(&crypto, |p, g, _, _| {
            g.as_mut().unwrap().process_failover(p, &V, bytes)
        })
    };
    let Processed::OwnCommit { changes: own } = failover(&mut d[0], &moved.commit).unwrap() else {
        panic!("not our commit")
    };
    let Processed::Commit { changes, .. } = failover(&mut d[1], &moved.commit).unwrap() else {
        panic!("not a commit")
    };
    assert!(
        changes
            .iter()
            .any(|c| matches!(c, Change::Removed(m) if m.leaf == 2))
    );
    assert_eq!(own, changes, "the committer sees what the others see");
    assert_eq!(d[0].state(), d[1].state());
    assert_eq!(d[1].g().members().len(), 2);
    failover(&mut d[2], &moved.commit).unwrap();
    assert!(!d[2].g().is_active(), "carol is out");
}

#[test]
fn receivers_refuse_a_commit_the_policy_forbids() {
    let crypto = Crypto::new();
    let mut d = group_of(&crypto, &["alice", "bob", "carol"]);
    // Bob bypasses the API's own check and commits a rename through openmls directly.
    let forged_roles = Roles {
        name: "bob's".into(),
        ..d[1].g().roles.clone()
    };
    let commit = forged_commit(&crypto, &mut d[1], &forged_roles);
    let before = d[0].state();
    let rows = d[0].store.rows().clone();
    let refused = d[0].process(&crypto, &commit);
    assert!(
        matches!(refused, Err(ProcessError::Policy(PolicyError::NotAdmin(_)))),
        "{refused:?}"
    );
    assert_eq!(d[0].state(), before);
    assert_eq!(
        d[0].store.rows(),
        &rows,
        "a refused commit changes nothing on disk"
    );
    // The group goes on.
    let hi = d[2].run(&crypto, |p, g, s, _| {
        g.as_mut().unwrap().send(p, s, &V, b"still here").unwrap()
    });
    assert!(d[0].process(&crypto, &hi).is_ok());
}

#[test]
fn bad_input_is_refused_with_a_typed_reason() {
    let crypto = Crypto::new();
    let mut d = group_of(&crypto, &["alice", "bob"]);
    assert!(matches!(
        d[1].process(&crypto, b"garbage"),
        Err(ProcessError::Malformed)
    ));
    assert!(matches!(
        d[1].process(&crypto, &vec![0; MAX_MESSAGE_LEN + 1]),
        Err(ProcessError::TooLarge(_))
    ));
    let msg = d[0].run(&crypto, |p, g, s, _| {
        g.as_mut().unwrap().send(p, s, &V, b"x").unwrap()
    });
    let mut tampered = msg.clone();
    let last = tampered.len() - 1;
    tampered[last] ^= 1;
    assert!(matches!(
        d[1].process(&crypto, &tampered),
        Err(ProcessError::Forged(_))
    ));
    assert!(d[1].process(&crypto, &msg).is_ok());
    // A replay is refused (its key is used up).
    assert!(matches!(
        d[1].process(&crypto, &msg),
        Err(ProcessError::Forged(_))
    ));

    // Epochs: a commit Bob has not applied makes Alice's next message a future one for him,
    // and the commit itself, replayed after he applied it, a past one.
    let out = d[0].run(&crypto, |p, g, s, _| {
        g.as_mut().unwrap().self_update(p, s, &V).unwrap()
    });
    d[0].process(&crypto, &out.commit).unwrap();
    let next = d[0].run(&crypto, |p, g, s, _| {
        g.as_mut().unwrap().send(p, s, &V, b"y").unwrap()
    });
    assert!(matches!(
        d[1].process(&crypto, &next),
        Err(ProcessError::WrongEpoch {
            side: EpochSide::Future,
            ..
        })
    ));
    d[1].process(&crypto, &out.commit).unwrap();
    assert!(matches!(
        d[1].process(&crypto, &out.commit),
        Err(ProcessError::WrongEpoch {
            side: EpochSide::Past,
            ..
        })
    ));
    assert!(d[1].process(&crypto, &next).is_ok());
}

#[test]
fn a_lost_commit_is_discarded_and_the_winner_applied() {
    let crypto = Crypto::new();
    let mut d = group_of(&crypto, &["alice", "bob", "carol"]);
    // Both commit in the same epoch; the log orders Bob's first.
    let alice = d[0].run(&crypto, |p, g, s, _| {
        g.as_mut().unwrap().self_update(p, s, &V).unwrap()
    });
    let bob = d[1].run(&crypto, |p, g, s, _| {
        g.as_mut().unwrap().self_update(p, s, &V).unwrap()
    });
    let Processed::Commit {
        own_commit_lost, ..
    } = d[0].process(&crypto, &bob.commit).unwrap()
    else {
        panic!()
    };
    assert!(own_commit_lost);
    assert!(matches!(
        d[1].process(&crypto, &bob.commit).unwrap(),
        Processed::OwnCommit { .. }
    ));
    d[2].process(&crypto, &bob.commit).unwrap();
    for x in &mut d[1..3] {
        assert!(matches!(
            x.process(&crypto, &alice.commit),
            Err(ProcessError::WrongEpoch {
                side: EpochSide::Past,
                ..
            })
        ));
    }
    assert!(d.iter().all(|x| x.state() == d[0].state()));
}

#[test]
fn the_group_reloads_from_the_committed_store() {
    let crypto = Crypto::new();
    let mut d = group_of(&crypto, &["alice", "bob"]);
    let id = d[1].g().id().to_vec();
    let state = d[1].state();
    let members = d[1].g().members();
    let provider = Provider::new(&crypto, &d[1].store, &d[1].key);
    let loaded = Group::load(&provider, &id, &V).unwrap().unwrap();
    assert_eq!((loaded.epoch(), loaded.tree_hash().to_vec()), state);
    assert_eq!(loaded.members(), members);
    assert!(
        Group::load(&provider, b"no such group", &V)
            .unwrap()
            .is_none()
    );
    // No row key contains the group id.
    assert!(
        d[1].store
            .rows()
            .keys()
            .all(|k| !k.windows(8).any(|w| id.windows(8).any(|i| i == w)))
    );
}

#[test]
fn the_next_epochs_secret_is_known_before_the_commit_is_merged() {
    let crypto = Crypto::new();
    let mut devices = group_of(&crypto, &["alice", "bob"]);
    let export = |d: &mut Device| {
        d.run(&crypto, |p, g, _, _| {
            g.as_ref()
                .unwrap()
                .export_secret(p, "label", b"log", 32)
                .unwrap()
        })
    };
    let none = devices[0].run(&crypto, |p, g, _, _| {
        g.as_ref()
            .unwrap()
            .pending_export_secret(p, "label", b"log", 32)
            .unwrap()
    });
    assert_eq!(none, None);
    let (next, out) = devices[0].run(&crypto, |p, g, s, _| {
        let g = g.as_mut().unwrap();
        let out = g.self_update(p, s, &V).unwrap();
        (
            g.pending_export_secret(p, "label", b"log", 32).unwrap(),
            out,
        )
    });
    let now = export(&mut devices[0]);
    assert_ne!(next.as_deref(), Some(now.as_slice()));
    devices[0].process(&crypto, &out.commit).unwrap();
    devices[1].process(&crypto, &out.commit).unwrap();
    assert_eq!(next, Some(export(&mut devices[0])));
    assert_eq!(next, Some(export(&mut devices[1])));
}

#[test]
fn a_member_left_behind_is_added_back_once_and_joins_over_its_old_state() {
    let crypto = Crypto::new();
    let mut d = group_of(&crypto, &["alice", "bob", "carol"]);
    // Carol misses a commit (its log entry expired before she read it).
    let missed = d[0].run(&crypto, |p, g, s, _| {
        g.as_mut().unwrap().rename(p, s, &V, "family 2").unwrap()
    });
    d[0].process(&crypto, &missed.commit).unwrap();
    d[1].process(&crypto, &missed.commit).unwrap();

    // Bob is no admin; Alice adds Carol back from the key package Carol sent her.
    let package = d[2].key_package(&crypto);
    let refused = d[1].run(&crypto, |p, g, s, _| {
        g.as_mut().unwrap().readd(p, s, &V, &package)
    });
    assert!(matches!(
        refused,
        Err(GroupError::Policy(PolicyError::NotAdmin(_)))
    ));
    let out = d[0].run(&crypto, |p, g, s, _| {
        g.as_mut().unwrap().readd(p, s, &V, &package).unwrap()
    });
    d[0].process(&crypto, &out.commit).unwrap();
    let Processed::Commit { changes, .. } = d[1].process(&crypto, &out.commit).unwrap() else {
        panic!()
    };
    assert!(
        changes
            .iter()
            .any(|c| matches!(c, Change::Removed(m) if m.identity.0 == b"carol"))
    );
    assert!(
        changes
            .iter()
            .any(|c| matches!(c, Change::Added(m) if m.identity.0 == b"carol"))
    );
    // A second admin holding the same request finds it done.
    let held = d[0].run(&crypto, |p, g, _, _| {
        g.as_ref().unwrap().has_key_package(p, &V, &package)
    });
    assert!(held);
    let again = d[0].run(&crypto, |p, g, s, _| {
        g.as_mut().unwrap().readd(p, s, &V, &package)
    });
    assert!(matches!(again, Err(GroupError::State(_))));

    // Carol's old state is in her store: a plain join is refused, a replacing one joins.
    let welcome = out.welcome.unwrap();
    let plain = d[2].run(&crypto, |p, _, _, _| Group::join(p, &welcome, &V));
    assert!(matches!(plain, Err(GroupError::State(_))));
    d[2].run(&crypto, |p, g, _, _| {
        *g = Some(Group::join_replacing(p, &welcome, &V, &|_| true).unwrap())
    });
    assert_eq!(d[2].state(), d[0].state());
    assert_eq!(d[2].g().name(), "family 2");
    let hello = d[0].run(&crypto, |p, g, s, _| {
        g.as_mut().unwrap().send(p, s, &V, b"welcome back").unwrap()
    });
    assert!(matches!(
        d[2].process(&crypto, &hello),
        Ok(Processed::Application { .. })
    ));
    // And after a reload from the store.
    let id = d[2].g().id().to_vec();
    let reloaded = d[2].run(&crypto, |p, _, _, _| {
        Group::load(p, &id, &V).unwrap().unwrap()
    });
    assert_eq!(
        (reloaded.epoch(), reloaded.tree_hash()),
        (d[0].state().0, &d[0].state().1[..])
    );
}

/// A group stored when members kept four past epochs takes today's configuration when it is
/// loaded, and a group stored under today's is loaded without a write.
#[test]
fn a_group_stored_with_more_past_epochs_keeps_fewer_once_loaded() {
    let crypto = Crypto::new();
    let mut devices = group_of(&crypto, &["alice", "bob"]);
    let bob = &mut devices[1];
    let id = bob.g().id().to_vec();
    let load = |bob: &Device| {
        let provider = Provider::new(&crypto, &bob.store, &bob.key);
        let group = Group::load(&provider, &id, &V).unwrap().unwrap();
        (group, provider.take_batch())
    };
    let (group, writes) = load(bob);
    assert_eq!(*group.mls.configuration(), join_config());
    assert!(writes.is_empty(), "today's configuration needs no write");

    let older = MlsGroupJoinConfig::builder()
        .wire_format_policy(PURE_CIPHERTEXT_WIRE_FORMAT_POLICY)
        .use_ratchet_tree_extension(true)
        .max_past_epochs(4)
        .sender_ratchet_configuration(SenderRatchetConfiguration::new(
            OUT_OF_ORDER_TOLERANCE,
            MAXIMUM_FORWARD_DISTANCE,
        ))
        .build();
    bob.run(&crypto, |p, g, _, _| {
        g.as_mut()
            .unwrap()
            .mls
            .set_configuration(p.storage(), &older)
            .unwrap();
    });
    let (group, writes) = load(bob);
    assert_eq!(*group.mls.configuration(), join_config());
    assert!(!writes.is_empty(), "the new configuration is written");
}
