//! The core's tasks that end in an [`Outcome`]: deliveries, deposits, lookups, publications
//! and relay probes.
//!
//! Each task holds something while it runs: an outbox entry marked as being tried, a lookup
//! in progress. A task that panics (a bug, or a fault in a dependency) would leave that held
//! until the node restarts, and its message unsent for as long. So a task is spawned with
//! what it holds ([`Held`]), and a task that ends in a panic is reported as the failure of
//! that (a failed delivery, deposit, lookup or publication), which releases it and tries
//! again as after any failure.

use std::{collections::HashMap, future::Future};

use tern_crypto::UserId;
use tokio::task::{Id, JoinSet};
use tracing::error;

use super::{Outcome, deliver::Left, network::NetError};

/// What a task holds while it runs.
pub(super) enum Held {
    /// The direct delivery of this outbox entry.
    Delivery(u64),
    /// The deposit of these outbox entries at their recipient's relays.
    Deposits(Vec<u64>),
    /// A lookup of this peer's record.
    Lookup(UserId),
    /// The publication of our record with this sequence number.
    Publication(u64),
}

impl Held {
    /// The outcomes that end what the task held, as a failure.
    fn lost(self) -> Vec<Outcome> {
        let failed = || "the task failed".to_owned();
        match self {
            Self::Delivery(seq) => vec![Outcome::Delivered {
                seq,
                status: Err(NetError::Delivery(failed())),
            }],
            // None stored: each tries again, as after a deposit that failed.
            Self::Deposits(seqs) => vec![Outcome::Deposited(
                seqs.into_iter()
                    .map(|seq| Left {
                        seq,
                        deposit: crate::relay_path::Deposit::default(),
                        sealed: None,
                    })
                    .collect(),
            )],
            Self::Lookup(peer) => vec![Outcome::Looked {
                peer,
                record: Err(NetError::NotFound(failed())),
                one_time: None,
                newer: None,
            }],
            Self::Publication(seq) => vec![Outcome::Published {
                seq,
                result: Err(NetError::Publish(failed())),
            }],
        }
    }
}

/// The running tasks, and what each one holds.
pub(super) struct InFlight {
    tasks: JoinSet<Outcome>,
    held: HashMap<Id, Held>,
}

impl InFlight {
    pub(super) fn new() -> Self {
        Self {
            tasks: JoinSet::new(),
            held: HashMap::new(),
        }
    }

    /// Runs `task`, which holds nothing: its loss means nothing.
    pub(super) fn spawn(&mut self, task: impl Future<Output = Outcome> + Send + 'static) {
        self.tasks.spawn(task);
    }

    /// Runs `task`, which holds `held`: if it panics, it ends in the failure of that.
    pub(super) fn spawn_holding(
        &mut self,
        held: Held,
        task: impl Future<Output = Outcome> + Send + 'static,
    ) {
        let id = self.tasks.spawn(task).id();
        self.held.insert(id, held);
    }

    pub(super) fn len(&self) -> usize {
        self.tasks.len()
    }

    pub(super) fn is_empty(&self) -> bool {
        self.tasks.is_empty()
    }

    /// The outcomes of the next task to end (several for one that was lost); `None` when
    /// none runs.
    pub(super) async fn next(&mut self) -> Option<Vec<Outcome>> {
        let ended = self.tasks.join_next_with_id().await?;
        Some(self.ended(ended))
    }

    /// [`InFlight::next`], if a task has ended already.
    pub(super) fn try_next(&mut self) -> Option<Vec<Outcome>> {
        let ended = self.tasks.try_join_next_with_id()?;
        Some(self.ended(ended))
    }

    fn ended(&mut self, ended: Result<(Id, Outcome), tokio::task::JoinError>) -> Vec<Outcome> {
        match ended {
            Ok((id, outcome)) => {
                self.held.remove(&id);
                vec![outcome]
            }
            Err(e) => {
                if e.is_panic() {
                    error!("a delivery or lookup task panicked; what it held is tried again");
                }
                self.held
                    .remove(&e.id())
                    .map(Held::lost)
                    .unwrap_or_default()
            }
        }
    }

    /// Stops every task (the node is shutting down).
    pub(super) fn abort_all(&mut self) {
        self.tasks.abort_all();
        self.held.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_task_that_panics_ends_in_the_failure_of_what_it_held() {
        let mut tasks = InFlight::new();
        tasks.spawn_holding(Held::Deposits(vec![7, 8]), async { panic!("a bug") });
        let outcomes = tasks.next().await.unwrap();
        let [Outcome::Deposited(left)] = outcomes.as_slice() else {
            panic!("not the deposits' failure");
        };
        let seqs: Vec<u64> = left.iter().map(|l| l.seq).collect();
        assert_eq!(seqs, [7, 8]);
        assert!(left.iter().all(|l| l.sealed.is_none()));
        tasks.spawn_holding(Held::Delivery(3), async { panic!("a bug") });
        assert!(matches!(
            tasks.next().await.unwrap().as_slice(),
            [Outcome::Delivered {
                seq: 3,
                status: Err(_)
            }]
        ));
        // One that ends normally ends in its own outcome, and what it held is forgotten.
        tasks.spawn_holding(Held::Publication(9), async {
            Outcome::Published {
                seq: 1,
                result: Ok(()),
            }
        });
        assert!(matches!(
            tasks.next().await.unwrap().as_slice(),
            [Outcome::Published {
                seq: 1,
                result: Ok(())
            }]
        ));
        assert!(tasks.held.is_empty() && tasks.is_empty());
        assert!(tasks.next().await.is_none());
        // A task holding nothing ends in nothing.
        tasks.spawn(async { panic!("another bug") });
        assert!(tasks.next().await.unwrap().is_empty());
    }
}
