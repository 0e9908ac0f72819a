//! A node that runs for months: three nodes share a manual clock and live through 120 days
//! in about a minute, with contacts writing every day. Without upkeep on a timer, the record
//! of a node that never restarts expires with its prekeys (14 days) and its device
//! certificate (30 days), and honest peers can no longer reach it.

use std::time::Duration;

use futures::StreamExt;
use tempfile::TempDir;

use super::start_on as start;
use crate::{
    Clock, Event,
    store::Direction,
    tables::{Replays, Seen},
};

const DAY: Duration = Duration::from_secs(24 * 3600);
const DAYS: u32 = 120;
/// How long one simulated day may take in real time before the test fails.
const STEP_TIMEOUT: Duration = Duration::from_secs(60);
/// How long a count of the deduplication table waits for pruning to catch up with the clock.
const PRUNE_CATCH_UP: Duration = Duration::from_secs(10);

/// Waits for `text` to arrive (in a chat or a message request), letting simulated time run (two seconds per real 20 ms) so
/// that retries and republications scheduled by the clock come due.
async fn arrives(events: &mut crate::EventStream, clock: &Clock, text: &str) {
    tokio::time::timeout(STEP_TIMEOUT, async {
        loop {
            tokio::select! {
                next = events.next() => match next {
                    Some((_, Event::MessageReceived(m) | Event::RequestReceived(m)))
                        if m.text == text => return,
                    Some(_) => {}
                    None => panic!("event stream ended"),
                },
                () = tokio::time::sleep(Duration::from_millis(20)) => {
                    clock.advance(Duration::from_secs(2));
                }
            }
        }
    })
    .await
    .unwrap_or_else(|_| panic!("{text:?} did not arrive"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_stays_reachable_through_120_simulated_days() {
    let clock = Clock::manual(Clock::system().now_ms());
    let dirs: Vec<TempDir> = (0..4).map(|_| tempfile::tempdir().unwrap()).collect();
    let bootstrap = start(dirs[0].path(), &clock, &[]).await;
    let seed = bootstrap.addresses().await;
    let alice = start(dirs[1].path(), &clock, &seed).await;
    let bob = start(dirs[2].path(), &clock, &seed).await;
    let (alice_id, bob_id) = (alice.user_id(), bob.user_id());
    alice.add_contact("bob", bob_id).await.unwrap();
    bob.add_contact("alice", alice_id).await.unwrap();
    let mut alice_events = alice.events(crate::From::Oldest);
    let mut bob_events = bob.events(crate::From::Oldest);

    let mut seen_rows = Vec::new();
    for day in 0..DAYS {
        clock.advance(DAY);
        match day {
            // The machine slept for three weeks.
            90 => clock.advance(21 * DAY),
            // A clock that ran ahead is corrected: two weeks back.
            100 => clock.set_ms(clock.now_ms() - 14 * 24 * 3600 * 1000),
            _ => {}
        }
        let text = format!("day {day} from alice");
        alice.send(bob_id, &text).await.unwrap();
        arrives(&mut bob_events, &clock, &text).await;
        let reply = format!("day {day} from bob");
        bob.send(alice_id, &reply).await.unwrap();
        arrives(&mut alice_events, &clock, &reply).await;
        if day % 10 == 9 {
            // Pruning runs on the node's half-second tick, while a simulated day can pass
            // faster: give it time to catch up with the clock before counting, up to the
            // bound asserted below (a table that does not shrink stays over it).
            let bound = match seen_rows.len() {
                3..=8 => Some(seen_rows[2] + 10),
                11 => Some(seen_rows[2] + 24),
                _ => None,
            };
            let count = || {
                bob.inner_store()
                    .scan::<Seen>(.., Direction::Forward, usize::MAX)
                    .unwrap()
                    .len()
            };
            let _ = tokio::time::timeout(PRUNE_CATCH_UP, async {
                while bound.is_some_and(|bound| count() > bound) {
                    // A pruning pass starts only when upkeep is due, hourly by the node's
                    // clock: with the clock stopped, a pass that began before the last
                    // simulated day (CI's loaded cores tick less often per simulated day)
                    // would leave that day's expired rows to a pass that never comes. A
                    // minute per step lets the next ones come due; the 28-day retention
                    // does not notice the hours.
                    clock.advance(Duration::from_secs(60));
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            })
            .await;
            seen_rows.push(count());
        }
    }

    // A stranger who first writes at the end needs Bob's current prekeys, certificate and
    // record, all made valid again after the clock went back. Its message is a request.
    let carol = start(dirs[3].path(), &clock, &seed).await;
    carol
        .send(bob_id, "hello from a new contact")
        .await
        .unwrap();
    arrives(&mut bob_events, &clock, "hello from a new contact").await;

    // Nothing lost, nothing twice, in order.
    let history = bob.history(alice_id, 500, None).await.unwrap().messages;
    let from_alice: Vec<&str> = history
        .iter()
        .filter(|m| m.direction == crate::Direction::Incoming)
        .map(|m| m.text.as_str())
        .collect();
    let expected: Vec<String> = (0..DAYS).map(|d| format!("day {d} from alice")).collect();
    // In order until the clock jumped (day 90). After it went back, Alice's clock still stamps after her
    // last message (days ahead of the corrected time), and Bob clamps stamps more than a day
    // ahead of his clock (`hlc::MAX_DRIFT_MS`), so those messages sort by their clamped
    // stamps; none is lost or repeated.
    assert_eq!(from_alice[..90], expected[..90]);
    let mut all = from_alice.clone();
    all.sort_unstable();
    let mut wanted: Vec<&str> = expected.iter().map(String::as_str).collect();
    wanted.sort_unstable();
    assert_eq!(all, wanted);

    // The deduplication tables stay flat: entries older than their retention (28 days) are
    // pruned, so days 40 to 90 hold about as many as the first thirty (90 without pruning).
    // Pruning runs on the node's half-second tick, and a simulated day can pass faster than
    // that, so it may lag a few simulated days behind (each count above waits for it). After the clock went back, entries
    // made in what is now the future live that much longer, and still go.
    let settled = seen_rows[3..9].iter().max().copied().unwrap();
    assert!(
        settled <= seen_rows[2] + 10,
        "seen table grows: {seen_rows:?}"
    );
    assert!(
        seen_rows[11] <= seen_rows[2] + 24,
        "seen table grows after the clock jumps: {seen_rows:?}"
    );
    let replays = bob
        .inner_store()
        .scan::<Replays>(.., Direction::Forward, usize::MAX)
        .unwrap()
        .len();
    assert!(replays <= 2, "{replays} replay entries kept");

    for node in [carol, alice, bob, bootstrap] {
        node.shutdown().await;
    }
}
