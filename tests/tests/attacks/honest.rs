//! The honest side of every attack: Alice and Bob, real `tern daemon` processes, chatting
//! through the relays under attack, and the latency of Alice's messages with and without it.

use std::time::{Duration, Instant};

use tern_tests::{Api, Daemon, Events, Profile, eventually};

/// How many times slower an honest message may be while the relay is under attack than in
/// the unflooded run before it (the bound).
pub(crate) const SLOWDOWN: f64 = 3.0;
/// Messages in each timed run.
pub(crate) const RUN: usize = 20;

/// Alice and Bob with each other as contacts, both published; Bob offline unless he
/// collects, so that Alice's messages go through the relays' mailboxes.
pub(crate) struct Chat {
    pub(crate) alice: Profile,
    pub(crate) bob: Profile,
    alice_daemon: Daemon,
    alice_api: Api,
    alice_events: Events,
    bob_daemon: Option<Daemon>,
    /// What Alice has sent so far, in order.
    sent: Vec<String>,
}

impl Chat {
    /// Alice and Bob, using `relays`, each online once so that their records are out; then
    /// Bob goes offline.
    pub(crate) async fn start(relays: &[&str]) -> Self {
        let alice = Profile::init(relays).await;
        let bob = Profile::init(relays).await;
        alice.add_contact("bob", &bob).await;
        bob.add_contact("alice", &alice).await;
        let alice_daemon = alice.daemon().await;
        let bob_daemon = bob.daemon().await;
        alice.wait_online(relays.len()).await;
        bob.wait_online(relays.len()).await;
        bob_daemon.stop().await;
        let alice_api = alice_daemon.connect().await;
        let alice_events = Events::open(&alice_daemon).await;
        Self {
            alice,
            bob,
            alice_daemon,
            alice_api,
            alice_events,
            bob_daemon: None,
            sent: Vec::new(),
        }
    }

    /// Starts Bob's daemon; Alice's messages then go to him directly.
    pub(crate) async fn bob_comes_online(&mut self) {
        assert!(self.bob_daemon.is_none(), "bob is online already");
        self.bob_daemon = Some(self.bob.daemon().await);
    }

    /// Stops Bob's daemon; Alice's messages then go through the relays.
    pub(crate) async fn bob_goes_offline(&mut self) {
        if let Some(daemon) = self.bob_daemon.take() {
            daemon.stop().await;
        }
    }

    /// Alice writes `count` messages to Bob without waiting for them to leave.
    pub(crate) async fn send(&mut self, label: &str, count: usize) {
        for _ in 0..count {
            let text = format!("{label} #{}", self.sent.len() + 1);
            self.alice_api.send("bob", &text).await;
            self.sent.push(text);
        }
    }

    /// Alice writes `count` messages to Bob, one after the other: for each, the time from the
    /// API accepting it to the first durable copy, a relay's custody receipt (the message
    /// shows as stored) or Bob's own (delivered).
    pub(crate) async fn timed(&mut self, label: &str, count: usize) -> Latencies {
        let mut times = Vec::with_capacity(count);
        for _ in 0..count {
            let text = format!("{label} #{}", self.sent.len() + 1);
            let sent = self.alice_api.send("bob", &text).await;
            let accepted = Instant::now();
            let id = sent["id"].as_str().expect("a message id").to_owned();
            loop {
                let event = self.alice_events.next().await;
                let state = &event["delivery"]["state"];
                if event["type"] == "delivery_changed"
                    && event["id"] == id.as_str()
                    && (state == "stored" || state == "delivered")
                {
                    break;
                }
            }
            times.push(accepted.elapsed());
            self.sent.push(text);
        }
        Latencies::new(label, times)
    }

    /// Bob comes online if he is not, and has every message Alice sent, once, in order; Alice
    /// sees each delivered. Bob stays as he was before.
    pub(crate) async fn bob_has_everything(&mut self) {
        let was_offline = self.bob_daemon.is_none();
        if was_offline {
            self.bob_comes_online().await;
        }
        let got = eventually("bob to collect every message", || async {
            let got: Vec<String> = self
                .bob
                .history("alice")
                .await
                .iter()
                .filter(|m| m["direction"] == "incoming")
                .map(|m| m["text"].as_str().expect("text").to_owned())
                .collect();
            (got.len() >= self.sent.len()).then_some(got)
        })
        .await;
        assert_eq!(got, self.sent, "each message exactly once, in order");
        eventually("alice to see every message delivered", || async {
            self.alice.all_sent_delivered("bob").await.then_some(())
        })
        .await;
        if was_offline {
            self.bob_goes_offline().await;
        }
    }

    pub(crate) async fn stop(mut self) {
        self.bob_goes_offline().await;
        drop(self.alice_events);
        drop(self.alice_api);
        self.alice_daemon.stop().await;
    }
}

/// Latencies of one run, sorted.
#[derive(Debug)]
pub(crate) struct Latencies {
    label: String,
    sorted: Vec<Duration>,
}

impl Latencies {
    fn new(label: &str, mut times: Vec<Duration>) -> Self {
        times.sort();
        Self {
            label: label.to_owned(),
            sorted: times,
        }
    }

    pub(crate) fn p50(&self) -> Duration {
        self.sorted[self.sorted.len() / 2]
    }

    pub(crate) fn max(&self) -> Duration {
        *self.sorted.last().expect("at least one latency")
    }
}

impl std::fmt::Display for Latencies {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}: p50 {:.1} ms, max {:.1} ms over {}",
            self.label,
            self.p50().as_secs_f64() * 1e3,
            self.max().as_secs_f64() * 1e3,
            self.sorted.len()
        )
    }
}

/// The bound: the median honest message under attack takes at most [`SLOWDOWN`]
/// times the median of the unflooded run.
pub(crate) fn assert_within_bound(calm: &Latencies, attacked: &Latencies) {
    let ratio = attacked.p50().as_secs_f64() / calm.p50().as_secs_f64();
    eprintln!("{calm}\n{attacked}\nmedian slowdown {ratio:.2}×");
    assert!(
        ratio <= SLOWDOWN,
        "honest messages slowed down {ratio:.2}× under attack (at most {SLOWDOWN}×)\n{calm}\n{attacked}"
    );
}
