//! Groups at scale, in process: random interleavings of adds, removes, updates and
//! application messages by 100 and 300 members (1,000 with `TERN_MLS_SCALE_1000=1`), under
//! 10 % loss and reordering, ordered by a simulated sequencer log. Every member must end in
//! the same epoch with the same tree hash.
//!
//! The sequencer appends every upload to one log. A commit is for the epoch its author was
//! in; the first commit for an epoch wins, and members refuse later ones as past-epoch
//! commits (their authors find theirs lost and drop it). A member reads the log in order,
//! at its own pace (each round a random half of the members read); each delivery is lost
//! with probability 10 %: a lost commit stops the member until it is redelivered in a later
//! round (commits are applied in the log's order), a lost application message is delivered
//! again a few rounds later (reordered after later entries). Welcomes go to the added devices
//! once their commit has won, and they read the log from the entry after it.

#[path = "support/sim.rs"]
mod sim;

use proptest::prelude::*;
use rand_chacha::ChaCha20Rng;
use rand_core::{Rng, SeedableRng};
use sim::Dev;
use tern_mls::{Crypto, EpochSide, MAX_PAST_EPOCHS, ProcessError, Processed};

#[derive(Debug, Clone, Copy)]
enum Op {
    Send(u16),
    Update(u16),
    Add(u16),
    Remove(u16, u16),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => any::<u16>().prop_map(Op::Send),
        2 => any::<u16>().prop_map(Op::Update),
        1 => any::<u16>().prop_map(Op::Add),
        2 => (any::<u16>(), any::<u16>()).prop_map(|(a, b)| Op::Remove(a, b)),
    ]
}

enum Entry {
    /// A commit: its epoch, whether it won, and the Welcome for the devices it adds.
    Commit { bytes: Vec<u8>, won: bool },
    App {
        bytes: Vec<u8>,
        epoch: u64,
        text: Vec<u8>,
        sender: usize,
    },
}

struct Member {
    dev: Dev,
    cursor: usize,
    /// Application messages lost once, with the round they come back in.
    delayed: Vec<(usize, usize)>,
    active: bool,
    /// The epoch it joined in.
    joined: u64,
}

struct World {
    crypto: Crypto,
    members: Vec<Member>,
    log: Vec<Entry>,
    /// The epoch the log's winning commits have reached.
    log_epoch: u64,
    rng: ChaCha20Rng,
    round: usize,
    next_name: usize,
}

impl World {
    fn new(n: usize, seed: u64) -> Self {
        let crypto = Crypto::new();
        let devs = sim::group(&crypto, n);
        let log_epoch = devs[0].g().epoch();
        Self {
            members: devs
                .into_iter()
                .map(|dev| Member {
                    dev,
                    cursor: 0,
                    delayed: Vec::new(),
                    active: true,
                    joined: 0,
                })
                .collect(),
            crypto,
            log: Vec::new(),
            log_epoch,
            rng: ChaCha20Rng::seed_from_u64(seed),
            round: 0,
            next_name: n,
        }
    }

    fn active(&self) -> Vec<usize> {
        (0..self.members.len())
            .filter(|&i| self.members[i].active)
            .collect()
    }

    /// Appends a commit made in `epoch`; returns whether it won its epoch.
    fn append_commit(
        log: &mut Vec<Entry>,
        log_epoch: &mut u64,
        bytes: Vec<u8>,
        epoch: u64,
    ) -> bool {
        let won = epoch == *log_epoch;
        if won {
            *log_epoch += 1;
        }
        log.push(Entry::Commit { bytes, won });
        won
    }

    fn act(&mut self, op: Op) {
        let active = self.active();
        let pick = |x: u16| active[usize::from(x) % active.len()];
        let c = &self.crypto;
        match op {
            Op::Send(a) => {
                let sender = pick(a);
                let m = &mut self.members[sender];
                if m.dev.g().has_pending_commit() {
                    return;
                }
                let text = format!("{} says {}", m.dev.name, self.log.len()).into_bytes();
                let epoch = m.dev.g().epoch();
                let bytes = m.dev.send(c, &text);
                self.log.push(Entry::App {
                    bytes,
                    epoch,
                    text,
                    sender,
                });
            }
            Op::Update(a) => {
                let m = &mut self.members[pick(a)];
                if m.dev.g().has_pending_commit() {
                    return;
                }
                let epoch = m.dev.g().epoch();
                let out = m.dev.update(c);
                Self::append_commit(&mut self.log, &mut self.log_epoch, out.commit, epoch);
            }
            Op::Add(a) => {
                let admins: Vec<usize> = active
                    .iter()
                    .copied()
                    .filter(|&i| self.members[i].dev.g().is_admin())
                    .collect();
                let i = admins[usize::from(a) % admins.len()];
                if self.members[i].dev.g().has_pending_commit() {
                    return;
                }
                let mut joiner = Dev::new(c, format!("dev{}", self.next_name));
                self.next_name += 1;
                let kp = joiner.key_package(c);
                let epoch = self.members[i].dev.g().epoch();
                let out = self.members[i].dev.add(c, &[kp]);
                if Self::append_commit(&mut self.log, &mut self.log_epoch, out.commit, epoch) {
                    joiner.join(c, &out.welcome.unwrap());
                    let cursor = self.log.len();
                    let joined = joiner.g().epoch();
                    self.members.push(Member {
                        dev: joiner,
                        cursor,
                        delayed: Vec::new(),
                        active: true,
                        joined,
                    });
                }
            }
            Op::Remove(a, t) => {
                let admins: Vec<usize> = active
                    .iter()
                    .copied()
                    .filter(|&i| self.members[i].dev.g().is_admin())
                    .collect();
                let i = admins[usize::from(a) % admins.len()];
                let g = self.members[i].dev.g();
                let others: Vec<u32> = g
                    .members()
                    .iter()
                    .map(|m| m.leaf)
                    .filter(|&l| l != g.own_leaf())
                    .collect();
                if g.has_pending_commit() || others.len() < 2 {
                    return;
                }
                let victim = others[usize::from(t) % others.len()];
                let epoch = g.epoch();
                let out = self.members[i].dev.remove(c, &[victim]);
                Self::append_commit(&mut self.log, &mut self.log_epoch, out.commit, epoch);
            }
        }
    }

    /// Member `i` reads the log; `lossy` drops 10 % of deliveries.
    fn read(&mut self, i: usize, lossy: bool) {
        let round = self.round;
        let due: Vec<usize> = {
            let m = &mut self.members[i];
            let (due, later): (Vec<_>, Vec<_>) = m
                .delayed
                .drain(..)
                .partition(|&(_, r)| r <= round || !lossy);
            m.delayed = later;
            due.into_iter().map(|(e, _)| e).collect()
        };
        for e in due {
            self.deliver(i, e);
        }
        while self.members[i].active && self.members[i].cursor < self.log.len() {
            let e = self.members[i].cursor;
            if lossy && self.rng.next_u32().is_multiple_of(10) {
                match self.log[e] {
                    // A lost commit: nothing after it is applied until it comes again.
                    Entry::Commit { .. } => return,
                    Entry::App { .. } => {
                        let back = round + 1 + (self.rng.next_u32() % 4) as usize;
                        self.members[i].delayed.push((e, back));
                        self.members[i].cursor += 1;
                        continue;
                    }
                }
            }
            self.members[i].cursor += 1;
            self.deliver(i, e);
        }
    }

    fn deliver(&mut self, i: usize, e: usize) {
        let m = &mut self.members[i];
        // The node never feeds a member its own application messages back.
        if !m.active || matches!(self.log[e], Entry::App { sender, .. } if sender == i) {
            return;
        }
        let now = m.dev.g().epoch();
        let result = match &self.log[e] {
            Entry::Commit { bytes, .. } | Entry::App { bytes, .. } => {
                m.dev.process(&self.crypto, bytes)
            }
        };
        match (&self.log[e], result) {
            (
                Entry::Commit { won: true, .. },
                Ok(Processed::Commit { .. } | Processed::OwnCommit { .. }),
            ) => {
                m.active = m.dev.g().is_active();
            }
            (
                Entry::Commit { won: false, .. },
                Err(ProcessError::WrongEpoch {
                    side: EpochSide::Past,
                    ..
                }),
            ) => {}
            (Entry::App { text, .. }, Ok(Processed::Application { plaintext, .. })) => {
                assert_eq!(&plaintext, text);
            }
            // Too old to decrypt, or sent in an epoch before this member joined.
            (
                Entry::App { epoch, .. },
                Err(ProcessError::WrongEpoch {
                    side: EpochSide::Past,
                    ..
                }),
            ) if now - epoch > MAX_PAST_EPOCHS as u64 || *epoch < m.joined => {}
            (_, other) => panic!("member {} entry {e}: {other:?}", m.dev.name),
        }
    }

    fn run(&mut self, ops: &[Op]) {
        for &op in ops {
            self.act(op);
            self.round += 1;
            for i in 0..self.members.len() {
                if self.members[i].active && self.rng.next_u32().is_multiple_of(2) {
                    self.read(i, true);
                }
            }
        }
        // Everything is eventually delivered.
        for i in 0..self.members.len() {
            self.read(i, false);
        }
        // The run moved the group on.
        let won = self
            .log
            .iter()
            .filter(|e| matches!(e, Entry::Commit { won: true, .. }))
            .count();
        assert!(won > 0, "no commit in the run");
        let active = self.active();
        let state = self.members[active[0]].dev.state();
        assert_eq!(
            state.0, self.log_epoch,
            "the members are in the log's epoch"
        );
        for &i in &active {
            assert_eq!(
                self.members[i].dev.state(),
                state,
                "{}",
                self.members[i].dev.name
            );
        }
    }
}

fn scale(n: usize, ops: &[Op], seed: u64) {
    World::new(n, seed).run(ops);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 3, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn a_group_of_100_converges(ops in proptest::collection::vec(op(), 30..40), seed: u64) {
        scale(100, &ops, seed);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn a_group_of_300_converges(ops in proptest::collection::vec(op(), 16..20), seed: u64) {
        scale(300, &ops, seed);
    }
}

#[test]
fn a_group_of_1000_converges() {
    if std::env::var_os("TERN_MLS_SCALE_1000").is_none() {
        return;
    }
    let mut rng = ChaCha20Rng::seed_from_u64(1000);
    let ops: Vec<Op> = (0..10)
        .map(|_| match rng.next_u32() % 4 {
            0 => Op::Send(rng.next_u32() as u16),
            1 => Op::Update(rng.next_u32() as u16),
            2 => Op::Add(rng.next_u32() as u16),
            _ => Op::Remove(rng.next_u32() as u16, rng.next_u32() as u16),
        })
        .collect();
    scale(1000, &ops, 7);
}
