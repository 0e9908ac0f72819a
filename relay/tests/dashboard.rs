//! The Grafana dashboard in `docs/grafana/` queries only what a relay really serves: a relay
//! that has seen some traffic is scraped, and every metric the dashboard names must be in the
//! scrape, with the type its name implies.

mod support;

use std::collections::{BTreeMap, BTreeSet};

use futures::StreamExt;
use libp2p::{
    Multiaddr, PeerId, Swarm, kad, noise,
    swarm::dial_opts::{DialOpts, PeerCondition},
    tcp, yamux,
};
use tern_proto::{
    dht::Role,
    mailbox::{Refusal, Request, Response},
};

use self::support::*;

const DASHBOARD: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../docs/grafana/tern-relay.json"
);

/// `GET path` over plain HTTP/1.1; the whole response, head included.
async fn get(http: std::net::SocketAddr, path: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(http).await.unwrap();
    stream
        .write_all(
            format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes(),
        )
        .await
        .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).await.unwrap();
    response
}

/// Every `tern_relay_…` name in the dashboard's queries (`expr`, and the variables' `query`
/// and `definition`).
fn queried_metrics(dashboard: &serde_json::Value) -> BTreeSet<String> {
    fn walk(value: &serde_json::Value, names: &mut BTreeSet<String>) {
        match value {
            serde_json::Value::Object(map) => {
                for (key, value) in map {
                    match value {
                        serde_json::Value::String(text)
                            if ["expr", "query", "definition"].contains(&key.as_str()) =>
                        {
                            for (at, _) in text.match_indices("tern_relay_") {
                                let name: String = text[at..]
                                    .chars()
                                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                                    .collect();
                                names.insert(name);
                            }
                        }
                        _ => walk(value, names),
                    }
                }
            }
            serde_json::Value::Array(items) => items.iter().for_each(|v| walk(v, names)),
            _ => {}
        }
    }
    let mut names = BTreeSet::new();
    walk(dashboard, &mut names);
    names
}

/// The families in an OpenMetrics scrape, with their types.
fn families(scrape: &str) -> BTreeMap<&str, &str> {
    families_of(
        scrape
            .split_once("\r\n\r\n")
            .map_or(scrape, |(_, body)| body),
    )
}

fn families_of(text: &str) -> BTreeMap<&str, &str> {
    text.lines()
        .filter_map(|line| line.strip_prefix("# TYPE "))
        .filter_map(|rest| rest.split_once(' '))
        .collect()
}

/// Whether `name`, as a query uses it, is a sample of a family in the scrape: a counter's
/// `_total`, a histogram's `_bucket`, `_count` or `_sum`, or a gauge itself.
fn served(name: &str, families: &BTreeMap<&str, &str>) -> bool {
    [
        ("_total", "counter"),
        ("_bucket", "histogram"),
        ("_count", "histogram"),
        ("_sum", "histogram"),
        ("", "gauge"),
    ]
    .iter()
    .any(|(suffix, kind)| {
        name.strip_suffix(suffix)
            .and_then(|family| families.get(family))
            == Some(kind)
    })
}

/// Every `datasource` the dashboard names, panels and queries alike.
fn datasources(value: &serde_json::Value, found: &mut Vec<serde_json::Value>) {
    match value {
        serde_json::Value::Object(map) => {
            for (key, value) in map {
                if key == "datasource" {
                    found.push(value.clone());
                } else {
                    datasources(value, found);
                }
            }
        }
        serde_json::Value::Array(items) => items.iter().for_each(|v| datasources(v, found)),
        _ => {}
    }
}

/// A Kademlia client on Tern's DHT protocol.
fn dht_client() -> Swarm<kad::Behaviour<kad::store::MemoryStore>> {
    libp2p::SwarmBuilder::with_new_identity()
        .with_tokio()
        .with_tcp(
            tcp::Config::default(),
            noise::Config::new,
            yamux::Config::default,
        )
        .unwrap()
        .with_behaviour(|key| {
            let mut kad =
                tern_proto::dht::behaviour(key.public().to_peer_id(), Role::Node.capacity());
            kad.set_mode(Some(kad::Mode::Client));
            kad
        })
        .unwrap()
        .with_swarm_config(|c| c.with_idle_connection_timeout(TIMEOUT))
        .build()
}

/// libp2p's circuit-relay families, as its recorder names them under the relay's prefix. The
/// relay's circuit service starts only once the relay has a confirmed external address,
/// which a relay on loopback never has, so no scrape here can show them; libp2p itself
/// vouches for their names instead.
fn circuit_relay_families() -> String {
    use libp2p::metrics::{Metrics, Recorder, Registry};
    let mut registry = Registry::with_prefix("tern_relay");
    let metrics = Metrics::new(&mut registry);
    metrics.record(&libp2p::relay::Event::ReservationReqAccepted {
        src_peer_id: PeerId::random(),
        renewed: false,
    });
    let mut text = String::new();
    prometheus_client::encoding::text::encode(&mut text, &registry).unwrap();
    text
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_metric_the_dashboard_queries_is_served() {
    let dashboard: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(DASHBOARD).unwrap())
            .expect("the dashboard is not valid JSON");
    let queried = queried_metrics(&dashboard);
    assert!(queried.len() >= 15, "too few metrics found: {queried:?}");

    // The Prometheus data source is the dashboard's variable, never one operator's own.
    let mut found = Vec::new();
    datasources(&dashboard["panels"], &mut found);
    assert!(!found.is_empty());
    for datasource in found {
        assert_eq!(datasource["uid"], "${datasource}", "{datasource}");
    }

    let dir = tempfile::tempdir().unwrap();
    let relay = tern_relay::Relay::spawn(
        tern_relay::Config::new(dir.path())
            .with_listen_addr("/ip4/127.0.0.1/tcp/0")
            .with_limits(tern_relay::Limits {
                max_envelope: 4096,
                ..Default::default()
            }),
    )
    .await
    .unwrap();
    let http = relay
        .serve_metrics("127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let address: Multiaddr = relay.addresses().await[0].parse().unwrap();
    let peer: PeerId = relay.peer_id().parse().unwrap();

    // Traffic for every panel: a deposit stored, one refused, the owner's fetch, a garbage
    // stream, a DHT lookup, a connection closed and one refused by the per-peer limit.
    let bob = owner(2);
    let mailbox = *bob.bundle.mailbox().id().as_bytes();
    let mut sender = client();
    sender.dial(address.clone()).unwrap();
    assert!(matches!(
        call(
            &mut sender,
            peer,
            Request::Deposit {
                mailbox,
                envelope: sealed_like(1, 1024),
            },
        )
        .await,
        Some(Response::Stored(_))
    ));
    assert_eq!(
        call(
            &mut sender,
            peer,
            Request::Deposit {
                mailbox,
                envelope: sealed_like(2, 16 * 1024),
            },
        )
        .await,
        Some(Response::Refused(Refusal::TooLarge))
    );
    assert_eq!(fetch(&mut sender, peer, &bob).await.len(), 1);
    let _ = sender.disconnect_peer_id(peer);

    let mut garbage = raw_client();
    garbage.dial(address.clone()).unwrap();
    garbage.behaviour_mut().send_request(&peer, vec![7; 64]);
    let mut lookup = dht_client();
    lookup.behaviour_mut().add_address(&peer, address.clone());
    lookup.behaviour_mut().get_closest_peers(PeerId::random());
    let mut flood = client();
    for _ in 0..9 {
        flood
            .dial(
                DialOpts::peer_id(peer)
                    .addresses(vec![address.clone()])
                    .condition(PeerCondition::Always)
                    .build(),
            )
            .unwrap();
    }
    let clients = tokio::spawn(async move {
        loop {
            tokio::select! {
                _ = garbage.select_next_some() => {}
                _ = lookup.select_next_some() => {}
                _ = flood.select_next_some() => {}
                _ = sender.select_next_some() => {}
            }
        }
    });

    // libp2p adds a labelled family on its first event, so scrape until all have shown.
    let circuit_relay = circuit_relay_families();
    let scraped = tokio::time::timeout(TIMEOUT, async {
        loop {
            let scraped = get(http, "/metrics").await;
            let mut families = families(&scraped);
            families.extend(families_of(&circuit_relay));
            if queried.iter().all(|name| served(name, &families)) {
                return scraped;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
    })
    .await;
    let scraped = match scraped {
        Ok(scraped) => scraped,
        Err(_) => {
            let scraped = get(http, "/metrics").await;
            let mut families = families(&scraped);
            families.extend(families_of(&circuit_relay));
            let missing: Vec<&String> = queried
                .iter()
                .filter(|name| !served(name, &families))
                .collect();
            panic!("the dashboard queries {missing:?}, which the relay does not serve:\n{scraped}");
        }
    };
    clients.abort();
    assert!(scraped.starts_with("HTTP/1.1 200"), "{scraped}");
    // Two registries, one exposition: a single end marker, at the end.
    assert_eq!(scraped.matches("# EOF").count(), 1, "{scraped}");
    assert!(scraped.ends_with("# EOF\n"), "{scraped}");
    // libp2p's own counters moved with the traffic, next to the relay's.
    for line in [
        "tern_relay_deposits_total 1",
        "tern_relay_refused_total{reason=\"too_large\"} 1",
        "tern_relay_refused_total{reason=\"connection_limit\"} 1",
        "tern_relay_stream_failures_total{kind=\"malformed\"} 1",
        "tern_relay_libp2p_swarm_connections_established_total{",
        "tern_relay_libp2p_bandwidth_bytes_total{",
    ] {
        assert!(scraped.contains(line), "missing {line:?} in {scraped}");
    }
    relay.shutdown().await;
}
