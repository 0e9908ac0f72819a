//! The log store's rules, durability, quota and expiry.

use super::*;

fn quota(log_bytes: u64) -> Quota {
    Quota {
        max_messages: 100,
        max_bytes: 1 << 20,
        disk_budget: 1 << 30,
        min_free: 0,
        log_bytes,
    }
}

async fn run(store: &Store, log: LogId, key: [u8; 32], work: LogWork, now: u64) -> LogOutcome {
    let (reply, outcome) = oneshot::channel();
    store
        .log_job(LogJob {
            log,
            key,
            work,
            now,
            reply,
        })
        .await;
    outcome.await.unwrap()
}

fn message(body: &[u8]) -> LogWork {
    LogWork::Append {
        kind: Kind::Message,
        body: body.to_vec(),
        digest: entry_digest(&Kind::Message, body),
    }
}

fn commit(epoch: u64, next_key: [u8; 32], body: &[u8]) -> LogWork {
    let kind = Kind::Commit { epoch, next_key };
    LogWork::Append {
        kind,
        body: body.to_vec(),
        digest: entry_digest(&kind, body),
    }
}

fn seqs(page: &LogPage) -> Vec<u64> {
    page.items.iter().map(|e| e.seq).collect()
}

const LOG: LogId = [1; 32];
const K0: [u8; 32] = [10; 32];
const K1: [u8; 32] = [11; 32];

#[tokio::test]
async fn each_key_reads_its_epoch_and_the_first_commit_of_an_epoch_wins() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), quota(1 << 20), Timings::new()).unwrap();
    let open = LogWork::Open { epoch: 0 };
    assert_eq!(
        run(&store, LOG, K0, message(b"m"), 1).await,
        LogOutcome::Refused(LogRefusal::NoSuchLog)
    );
    let opened = LogOutcome::Opened {
        epoch: 0,
        next_seq: 1,
    };
    assert_eq!(run(&store, LOG, K0, open, 1).await, opened);
    assert_eq!(
        run(&store, LOG, K0, LogWork::Open { epoch: 0 }, 2).await,
        opened
    );
    assert_eq!(
        run(&store, LOG, K1, LogWork::Open { epoch: 0 }, 2).await,
        LogOutcome::Refused(LogRefusal::Exists)
    );
    let appended = |seq, stored_at| LogOutcome::Appended { seq, stored_at };
    assert_eq!(
        run(&store, LOG, K0, message(b"one"), 3).await,
        appended(1, 3)
    );
    // The same body again is the same entry, answered as first stored.
    assert_eq!(
        run(&store, LOG, K0, message(b"one"), 4).await,
        appended(1, 3)
    );
    // Not for a stranger, who cannot learn that way what the log holds.
    assert_eq!(
        run(&store, LOG, [42; 32], message(b"one"), 4).await,
        LogOutcome::Refused(LogRefusal::UnknownKey)
    );
    assert_eq!(
        run(&store, LOG, K1, message(b"x"), 4).await,
        LogOutcome::Refused(LogRefusal::UnknownKey)
    );
    assert_eq!(
        run(&store, LOG, K0, commit(1, K1, b"future"), 4).await,
        LogOutcome::Refused(LogRefusal::FutureEpoch)
    );
    assert_eq!(
        run(&store, LOG, K0, commit(0, K0, b"reuses a key"), 4).await,
        LogOutcome::Refused(LogRefusal::Exists)
    );
    assert_eq!(
        run(&store, LOG, K0, commit(0, K1, b"c1"), 5).await,
        appended(2, 5)
    );
    // A rival commit for epoch 0 lost, under either key; the old key appends nothing.
    for key in [K0, K1] {
        assert_eq!(
            run(&store, LOG, key, commit(0, [12; 32], b"rival"), 6).await,
            LogOutcome::Lost {
                epoch: 0,
                winner: 2
            }
        );
    }
    assert_eq!(
        run(&store, LOG, K0, message(b"late"), 6).await,
        LogOutcome::Refused(LogRefusal::Retired)
    );
    assert_eq!(
        run(&store, LOG, K1, message(b"two"), 7).await,
        appended(3, 7)
    );

    // K0 reads up to the commit that retired it, K1 from there on.
    let page = store.read_log(&LOG, &K0, 0, 100, 1 << 20).unwrap();
    assert_eq!((seqs(&page), page.more, page.first), (vec![1, 2], false, 1));
    assert_eq!(
        page.items[1].kind,
        Kind::Commit {
            epoch: 0,
            next_key: K1
        }
    );
    assert_eq!(page.items[0].body, b"one");
    assert_eq!(
        store.read_log(&LOG, &K0, 2, 100, 1 << 20),
        Err(LogRefusal::Retired)
    );
    assert_eq!(
        seqs(&store.read_log(&LOG, &K1, 0, 100, 1 << 20).unwrap()),
        [3]
    );
    let page = store.read_log(&LOG, &K0, 0, 1, 1 << 20).unwrap();
    assert_eq!((seqs(&page), page.more), (vec![1], true));
    assert_eq!(
        store.read_log(&LOG, &[99; 32], 0, 1, 1 << 20),
        Err(LogRefusal::UnknownKey)
    );

    // All of it survives a restart: state, keys, entries, duplicates, the winner.
    drop(store);
    let store = Store::open(dir.path(), quota(1 << 20), Timings::new()).unwrap();
    assert_eq!(
        run(&store, LOG, K1, message(b"two"), 8).await,
        appended(3, 7)
    );
    assert_eq!(
        run(&store, LOG, K1, commit(0, [13; 32], b"rival 2"), 8).await,
        LogOutcome::Lost {
            epoch: 0,
            winner: 2
        }
    );
    assert_eq!(
        run(&store, LOG, K1, message(b"three"), 9).await,
        appended(4, 9)
    );
    assert_eq!(
        run(&store, LOG, K1, LogWork::Open { epoch: 1 }, 9).await,
        LogOutcome::Opened {
            epoch: 1,
            next_seq: 5
        }
    );
    assert_eq!(
        run(&store, LOG, K0, LogWork::Open { epoch: 0 }, 9).await,
        LogOutcome::Refused(LogRefusal::Retired)
    );
}

#[tokio::test]
async fn a_held_read_wakes_on_an_append_and_logs_count_against_their_quota() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), quota(3 * cost(100)), Timings::new()).unwrap();
    run(&store, LOG, K0, LogWork::Open { epoch: 0 }, 1).await;
    let mut watch = store.watch_log(&LOG);
    assert!(!watch.changed(Duration::from_millis(1)).await);
    run(&store, LOG, K0, message(&[1; 100]), 2).await;
    assert!(watch.changed(Duration::from_secs(60)).await);
    drop(watch);
    assert!(store.shared.log_watchers.len() == 0, "unregistered");
    run(&store, LOG, K0, message(&[2; 100]), 2).await;
    run(&store, LOG, K0, message(&[3; 100]), 2).await;
    assert_eq!(
        run(&store, LOG, K0, message(&[4; 100]), 2).await,
        LogOutcome::Refused(LogRefusal::QuotaExceeded)
    );
    assert_eq!(store.totals().bytes, 3 * cost(100));
    // Held bytes are counted again at start.
    drop(store);
    let store = Store::open(dir.path(), quota(3 * cost(100)), Timings::new()).unwrap();
    assert_eq!(store.totals().bytes, 3 * cost(100));
}

#[tokio::test]
async fn entries_expire_and_an_idle_empty_log_goes() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), quota(1 << 20), Timings::new()).unwrap();
    run(&store, LOG, K0, LogWork::Open { epoch: 0 }, 100).await;
    run(&store, LOG, K0, message(b"old"), 100).await;
    run(&store, LOG, K0, commit(0, K1, b"old commit"), 100).await;
    run(&store, LOG, K1, message(b"new"), 200).await;
    assert_eq!(store.expire_logs(150, 0).unwrap(), 2);
    let page = store.read_log(&LOG, &K1, 0, 100, 1 << 20).unwrap();
    assert_eq!((seqs(&page), page.first), (vec![3], 3));
    assert_eq!(store.totals().bytes, cost(3));
    // A reader of the epoch whose end expired can never read on: told so, not answered
    // with an empty page for ever. Past the commit it is still the usual refusal.
    for after in [0, 1] {
        assert_eq!(
            store.read_log(&LOG, &K0, after, 100, 1 << 20),
            Err(LogRefusal::Expired)
        );
    }
    assert_eq!(
        store.read_log(&LOG, &K0, 2, 100, 1 << 20),
        Err(LogRefusal::Retired)
    );
    // An expired body is new again.
    assert_eq!(
        run(&store, LOG, K1, message(b"old"), 300).await,
        LogOutcome::Appended {
            seq: 4,
            stored_at: 300
        }
    );
    assert_eq!(store.expire_logs(1_000, 0).unwrap(), 2);
    assert_eq!(store.totals().bytes, 0);
    assert_eq!(
        store.read_log(&LOG, &K1, 0, 100, 1 << 20),
        Err(LogRefusal::NoSuchLog)
    );
    // The id can be opened afresh; a log opened and never used goes after a shorter
    // while than retention, so that opening logs cannot fill a relay with empty ones.
    assert_eq!(
        run(&store, LOG, K1, LogWork::Open { epoch: 7 }, 1_001).await,
        LogOutcome::Opened {
            epoch: 7,
            next_seq: 1
        }
    );
    assert_eq!(store.expire_logs(0, 1_001).unwrap(), 0);
    assert!(store.read_log(&LOG, &K1, 0, 1, 1 << 20).is_ok());
    assert_eq!(store.expire_logs(0, 1_002).unwrap(), 0);
    assert_eq!(
        store.read_log(&LOG, &K1, 0, 1, 1 << 20),
        Err(LogRefusal::NoSuchLog)
    );
}

#[tokio::test]
async fn a_rival_in_the_same_write_learns_the_winner_and_kinds_and_epochs_are_checked() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), quota(1 << 20), Timings::new()).unwrap();
    run(&store, LOG, K0, LogWork::Open { epoch: 0 }, 1).await;
    // Two admins' commits for epoch 0 in one write group: the second is told the first's
    // sequence number, not the database's "no winner yet".
    let shared = &store.shared;
    let cf = shared.db.cf_handle(LOGS).unwrap();
    let mut group = Group::default();
    let job = |work| {
        let (reply, _) = oneshot::channel();
        LogJob {
            log: LOG,
            key: K0,
            work,
            now: 2,
            reply,
        }
    };
    let first = group.apply(shared, cf, &job(commit(0, K1, b"a")), 0, None);
    let rival = group.apply(shared, cf, &job(commit(0, [12; 32], b"b")), 0, None);
    assert_eq!(
        first,
        Ok(LogOutcome::Appended {
            seq: 1,
            stored_at: 2
        })
    );
    assert_eq!(
        rival,
        Ok(LogOutcome::Lost {
            epoch: 0,
            winner: 1
        })
    );
    drop(group);

    // The same body as a message and as a commit are two entries.
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), quota(1 << 20), Timings::new()).unwrap();
    run(&store, LOG, K0, LogWork::Open { epoch: 0 }, 1).await;
    assert_eq!(
        run(&store, LOG, K0, message(b"same"), 2).await,
        LogOutcome::Appended {
            seq: 1,
            stored_at: 2
        }
    );
    assert_eq!(
        run(&store, LOG, K0, commit(0, K1, b"same"), 3).await,
        LogOutcome::Appended {
            seq: 2,
            stored_at: 3
        }
    );
    // The current key at another epoch is not the log's opener.
    assert_eq!(
        run(&store, LOG, K1, LogWork::Open { epoch: 0 }, 3).await,
        LogOutcome::Refused(LogRefusal::Exists)
    );

    // The last epoch has no successor.
    let last: LogId = [2; 32];
    run(&store, last, K0, LogWork::Open { epoch: u64::MAX }, 1).await;
    assert_eq!(
        run(&store, last, K0, commit(u64::MAX, K1, b"overflow"), 2).await,
        LogOutcome::Refused(LogRefusal::FutureEpoch)
    );
}
