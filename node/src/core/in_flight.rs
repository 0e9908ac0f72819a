//! The core's tasks that end in an [`Outcome`]: deliveries, deposits, lookups, publications
//! and relay probes.
//!
//! Each task holds something while it runs: an outbox entry marked as being tried, a lookup
//! in progress. A task that panics (a bug, or a fault in a dependency) would leave that held
//! until the node restarts, and its message unsent for as long. So a task is spawned with
//! the outcomes its loss means (a failed delivery, a failed lookup), and a task that ends
//! in a panic is reported as those, which releases what it held and tries again as after
//! any failure.

use std::{collections::HashMap, future::Future};

use tokio::task::{Id, JoinSet};
use tracing::error;

use super::Outcome;

/// The running tasks, and what each one's loss means.
pub(super) struct InFlight {
    tasks: JoinSet<Outcome>,
    if_lost: HashMap<Id, Vec<Outcome>>,
}

impl InFlight {
    pub(super) fn new() -> Self {
        Self {
            tasks: JoinSet::new(),
            if_lost: HashMap::new(),
        }
    }

    /// Runs `task`, which holds nothing: its loss means nothing.
    pub(super) fn spawn(&mut self, task: impl Future<Output = Outcome> + Send + 'static) {
        self.spawn_holding(Vec::new(), task);
    }

    /// Runs `task`; if it panics, it ends in `if_lost` instead.
    pub(super) fn spawn_holding(
        &mut self,
        if_lost: Vec<Outcome>,
        task: impl Future<Output = Outcome> + Send + 'static,
    ) {
        let id = self.tasks.spawn(task).id();
        if !if_lost.is_empty() {
            self.if_lost.insert(id, if_lost);
        }
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
                self.if_lost.remove(&id);
                vec![outcome]
            }
            Err(e) => {
                if e.is_panic() {
                    error!("a delivery or lookup task panicked; what it held is tried again");
                }
                self.if_lost.remove(&e.id()).unwrap_or_default()
            }
        }
    }

    /// Stops every task (the node is shutting down).
    pub(super) fn abort_all(&mut self) {
        self.tasks.abort_all();
        self.if_lost.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn published(seq: u64) -> Outcome {
        Outcome::Published {
            seq,
            result: Ok(()),
        }
    }

    fn seqs(outcomes: &[Outcome]) -> Vec<u64> {
        outcomes
            .iter()
            .map(|o| match o {
                Outcome::Published { seq, .. } => *seq,
                _ => panic!("not a publication"),
            })
            .collect()
    }

    #[tokio::test]
    async fn a_task_that_panics_ends_in_what_its_loss_means() {
        let mut tasks = InFlight::new();
        tasks.spawn_holding(vec![published(7), published(8)], async {
            panic!("a bug");
        });
        assert_eq!(seqs(&tasks.next().await.unwrap()), [7, 8]);
        // One that ends normally ends in its own outcome, and its loss is forgotten.
        tasks.spawn_holding(vec![published(9)], async { published(1) });
        assert_eq!(seqs(&tasks.next().await.unwrap()), [1]);
        assert!(tasks.if_lost.is_empty() && tasks.is_empty());
        assert!(tasks.next().await.is_none());
        // A task holding nothing ends in nothing.
        tasks.spawn(async { panic!("another bug") });
        assert!(tasks.next().await.unwrap().is_empty());
    }
}
