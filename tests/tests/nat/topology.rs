//! The test network: an "internet" with two mailbox relays and a bootstrap node on public
//! addresses, and three homes behind NAT routers, each with a user running `tern daemon`.
//!
//! ```text
//!                      inet (bridge br0, 203.0.113.0/24)
//!        relay1 .1   relay2 .2   bootstrap .3
//!          |                |                 |
//!   rA wan .11        rB wan .12         rC wan .13
//!   NAT: mapping      NAT: mapping       NAT: symmetric (a new
//!   kept per source   kept per source    random port per flow,
//!   (home router)     (home router)      carrier-grade NAT)
//!   lan 198.51.100.1  lan .65            lan .129
//!          |                |                 |
//!   home A .10/26     home B .74/26      mobile C .138/26
//! ```
//!
//! Each router drops what arrives on its WAN side unless it answers a flow from inside (as
//! home routers do): nothing reaches a home that it did not first send to.

use serde_json::Value;
use tempfile::TempDir;
use tern_tests::{Api, Daemon, Profile, RelayProcess, eventually, netns::Lab};

/// Where a user's daemon listens: every interface of its namespace, QUIC and TCP.
pub(crate) const LISTEN: [&str; 4] = [
    "--listen",
    "/ip4/0.0.0.0/udp/0/quic-v1",
    "--listen",
    "/ip4/0.0.0.0/tcp/0",
];

/// How a home's router maps addresses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Nat {
    /// Linux masquerade: one mapping per inside address and port, whoever it sends to
    /// (endpoint-independent mapping), filtering by the address and port sent to.
    HomeRouter,
    /// A random outside port for every new flow: each destination sees another port
    /// (address- and port-dependent mapping).
    Symmetric,
}

/// One user behind one router.
#[derive(Debug)]
pub(crate) struct Home {
    pub(crate) name: &'static str,
    /// The namespace of its NAT router.
    pub(crate) router: String,
    pub(crate) profile: Profile,
    pub(crate) daemon: Option<Daemon>,
}

impl Home {
    /// Its running daemon.
    pub(crate) fn daemon(&self) -> &Daemon {
        self.daemon.as_ref().expect("the daemon runs")
    }

    /// Starts its daemon with `extra` arguments besides [`LISTEN`].
    pub(crate) async fn start(&mut self, extra: &[&str]) {
        let mut args = LISTEN.to_vec();
        args.extend(extra);
        if std::env::var_os("TERN_TEST_LOG").is_some() {
            args.push("-vv");
        }
        self.daemon = Some(self.profile.daemon_with(&args).await);
    }

    /// Stops its daemon (SIGTERM), if it runs.
    pub(crate) async fn stop(&mut self) {
        if let Some(daemon) = self.daemon.take() {
            daemon.stop().await;
        }
    }

    /// An API connection to its daemon.
    pub(crate) async fn api(&self) -> Api {
        self.daemon().connect().await
    }

    /// `GET /v1/status`.
    pub(crate) async fn status(&self) -> Value {
        status(&mut self.api().await).await
    }
}

/// `GET /v1/status` on `api`.
pub(crate) async fn status(api: &mut Api) -> Value {
    let (code, status) = api.request("GET", "/v1/status", None).await;
    assert_eq!(code, 200, "status: {status}");
    status
}

/// The whole network, torn down when dropped (processes first, then namespaces).
pub(crate) struct World {
    pub(crate) homes: Vec<Home>,
    _relays: Vec<RelayProcess>,
    _dirs: Vec<TempDir>,
    pub(crate) lab: Lab,
}

impl World {
    /// Builds the network and starts the relays, or `None` where namespaces cannot be made
    /// (see [`Lab::new`]).
    pub(crate) async fn build() -> Option<Self> {
        let mut lab = Lab::new("tn")?;
        let inet = lab.namespace("inet");
        lab.ip(&inet, "link add br0 type bridge");
        lab.ip(&inet, "link set br0 up");
        for host in 1..=3 {
            lab.ip(&inet, &format!("addr add 203.0.113.{host}/24 dev br0"));
        }
        let mut dirs = Vec::new();
        let mut relays = Vec::new();
        let mut addresses = Vec::new();
        // The bootstrap node first, then the two mailbox relays joining through it.
        for host in [3, 1, 2] {
            let dir = tempfile::tempdir().expect("a relay directory");
            let quic = format!("/ip4/203.0.113.{host}/udp/4001/quic-v1");
            let tcp = format!("/ip4/203.0.113.{host}/tcp/4001");
            let bootstrap: Vec<&str> = addresses.first().map(String::as_str).into_iter().collect();
            let relay = RelayProcess::start_in(&inet, dir.path(), &[&quic, &tcp], &bootstrap);
            addresses.push(relay.address().await.0);
            relays.push(relay);
            dirs.push(dir);
        }
        let bootstrap = addresses[0].clone();
        let mailbox = [addresses[1].as_str(), addresses[2].as_str()];

        let plan = [
            ("alice", 1, Nat::HomeRouter),
            ("bob", 2, Nat::HomeRouter),
            ("carol", 3, Nat::Symmetric),
        ];
        let mut homes = Vec::new();
        for (name, n, nat) in plan {
            let router = lab.namespace(&format!("r{n}"));
            let host = lab.namespace(&format!("h{n}"));
            let uplink = format!("up{n}");
            lab.link(&router, "wan", &inet, &uplink);
            lab.ip(&inet, &format!("link set {uplink} master br0"));
            lab.ip(
                &router,
                &format!("addr add 203.0.113.{}/24 dev wan", 10 + n),
            );
            lab.link(&router, "lan", &host, "eth0");
            let base = 64 * (n - 1);
            lab.ip(
                &router,
                &format!("addr add 198.51.100.{}/26 dev lan", base + 1),
            );
            lab.ip(
                &host,
                &format!("addr add 198.51.100.{}/26 dev eth0", base + 10),
            );
            lab.ip(
                &host,
                &format!("route add default via 198.51.100.{}", base + 1),
            );
            lab.exec(&router, "sysctl", "-qw net.ipv4.ip_forward=1");
            lab.nft(&router, &router_rules(nat));

            let mut profile = Profile::new();
            let mut args = vec!["init", "--bootstrap", bootstrap.as_str()];
            for relay in mailbox {
                args.extend(["--relay", relay]);
            }
            // Relays found in the DHT would spread the mailbox beyond the two this test
            // watches.
            args.push("--no-relay-discovery");
            let run = profile.tern(&args).await;
            assert_eq!(run.code, 0, "{run:?}");
            profile.set_netns(&host);
            homes.push(Home {
                name,
                router,
                profile,
                daemon: None,
            });
        }
        // Alice knows both; Bob and Carol know Alice.
        let [alice, bob, carol] = [&homes[0], &homes[1], &homes[2]];
        alice.profile.add_contact("bob", &bob.profile).await;
        alice.profile.add_contact("carol", &carol.profile).await;
        bob.profile.add_contact("alice", &alice.profile).await;
        carol.profile.add_contact("alice", &alice.profile).await;
        for home in &mut homes {
            home.start(&[]).await;
        }
        Some(Self {
            homes,
            _relays: relays,
            _dirs: dirs,
            lab,
        })
    }

    /// Waits until every user's daemon is online behind its NAT: AutoNAT found it private,
    /// it holds circuit reservations at both relays, and it published a record after it had
    /// them. Returns the record version each published.
    pub(crate) async fn wait_reachable(&self) -> Vec<u64> {
        let mut versions = Vec::new();
        for home in &self.homes {
            versions.push(wait_reachable(home).await);
        }
        versions
    }
}

/// Waits until `home`'s daemon is private, holds two circuits, lists circuit addresses and
/// has published a record that says so. Returns that record's version.
pub(crate) async fn wait_reachable(home: &Home) -> u64 {
    eventually(
        &format!("{} to be reachable through circuits", home.name),
        || async move {
            let status = home.status().await;
            let circuits = status["circuits"].as_array().map_or(0, Vec::len);
            let listed = status["listen_addresses"]
                .as_array()?
                .iter()
                .filter(|a| a.as_str().is_some_and(|a| a.contains("/p2p-circuit")))
                .count();
            let published = status["record_published"].as_u64();
            let ready = status["nat"] == "private"
                && circuits >= 2
                && listed >= 2
                && status["record_current"] == true;
            published.filter(|_| ready)
        },
    )
    .await
}

/// nftables for a router: source NAT out of `wan`, and a stateful firewall that lets in only
/// answers to flows from inside.
fn router_rules(nat: Nat) -> String {
    let masquerade = match nat {
        Nat::HomeRouter => "masquerade",
        Nat::Symmetric => "masquerade fully-random",
    };
    format!(
        r#"
table ip nat {{
    chain postrouting {{
        type nat hook postrouting priority srcnat; policy accept;
        oifname "wan" {masquerade}
    }}
}}
table ip filter {{
    chain forward {{
        type filter hook forward priority filter; policy drop;
        ct state established,related accept
        iifname "lan" oifname "wan" accept
    }}
    chain input {{
        type filter hook input priority filter; policy accept;
        iifname "wan" ct state new drop
    }}
}}
"#
    )
}
