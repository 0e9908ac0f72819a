//! A user of a private relay keeps their mailbox there alone: with relay discovery turned off,
//! `tern daemon` never adds relays it finds in the DHT. Real processes only.

use tern_tests::{Profile, RelayProcess, eventually};

/// The peer ids of the relays `tern status` lists.
async fn relays(profile: &Profile) -> Vec<String> {
    let status = profile.tern(&["status", "--json"]).await.json();
    status["relays"]
        .as_array()
        .expect("relays")
        .iter()
        .map(|r| r["peer_id"].as_str().expect("a peer id").to_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_relay_discovery_the_mailbox_stays_at_the_given_relay() {
    let dirs: Vec<tempfile::TempDir> = (0..2)
        .map(|_| tempfile::tempdir().expect("tempdir"))
        .collect();
    let private = RelayProcess::start(dirs[0].path(), &[]);
    let (private_address, private_peer) = private.address().await;
    // Another relay advertises itself in the DHT, reachable through the first.
    let public = RelayProcess::start(dirs[1].path(), &[&private_address]);
    let (_, public_peer) = public.address().await;

    let pinned = Profile::new();
    let run = pinned
        .tern(&["init", "--relay", &private_address, "--no-relay-discovery"])
        .await;
    assert_eq!(run.code, 0, "{run:?}");
    let config = std::fs::read_to_string(pinned.path().join("config.toml")).expect("config");
    assert!(config.contains("relay_discovery = false"), "{config}");
    let open = Profile::init(&[&private_address]).await;

    // The pinned daemon starts first, so it has had at least as long as the other to pick.
    let pinned_daemon = pinned.daemon().await;
    let open_daemon = open.daemon().await;
    eventually(
        "the default daemon to pick the advertised relay",
        || async { relays(&open).await.contains(&public_peer).then_some(()) },
    )
    .await;
    assert_eq!(relays(&pinned).await, [private_peer]);

    pinned_daemon.stop().await;
    open_daemon.stop().await;
    public.stop().await;
    private.stop().await;
}
