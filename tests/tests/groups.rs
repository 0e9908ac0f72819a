//! A group chat as its users run it: three `tern-relay` processes (the group's sequencers and
//! everyone's mailboxes) and five `tern daemon` processes, everything driven through the
//! `tern` command, loopback only, nothing in process.

use serde_json::Value;
use tern_tests::{Daemon, Profile, RelayProcess, contains, eventually, files};

/// The texts of group `id` as `profile` sees them, in the log's order (its notices of
/// changes to the group left out).
async fn texts(profile: &Profile, id: &str) -> Vec<String> {
    let run = profile
        .tern(&["group", "history", id, "--limit", "500", "--json"])
        .await;
    if run.code != 0 {
        return Vec::new();
    }
    run.json()
        .as_array()
        .expect("a list")
        .iter()
        .filter(|m| m.get("notice").is_none())
        .map(|m| m["text"].as_str().expect("text").to_owned())
        .collect()
}

async fn info(profile: &Profile, id: &str) -> Option<Value> {
    let run = profile.tern(&["group", "info", id, "--json"]).await;
    (run.code == 0).then(|| run.json())
}

/// What members must agree on: the epoch, the name and the members.
async fn state(profile: &Profile, id: &str) -> Option<(u64, String, Vec<String>)> {
    let info = info(profile, id).await?;
    let mut members: Vec<String> = info["members"]
        .as_array()?
        .iter()
        .map(|m| m["address"].as_str().unwrap_or_default().to_owned())
        .collect();
    members.sort();
    Some((
        info["epoch"].as_u64()?,
        info["name"].as_str()?.to_owned(),
        members,
    ))
}

/// Waits until `profile` has read exactly `expected` in group `id`: each once, in order.
async fn reads(profile: &Profile, id: &str, expected: &[String]) {
    let got = eventually("a member to read everything", || async {
        let got = texts(profile, id).await;
        (got.len() >= expected.len()).then_some(got)
    })
    .await;
    assert_eq!(
        got, expected,
        "each message exactly once, in the log's order"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_daemons_and_three_relays_talk_remove_converge_and_survive_a_killed_sequencer() {
    let relay_dirs: Vec<tempfile::TempDir> = (0..3)
        .map(|_| tempfile::tempdir().expect("tempdir"))
        .collect();
    let (mut relays, addresses) = RelayProcess::network(&relay_dirs).await;
    let addresses: Vec<&str> = addresses.iter().map(String::as_str).collect();

    // Five people with their mailboxes at all three relays; Alice knows everyone, and
    // everyone knows Alice (an invitation is taken only from a contact).
    let names = ["alice", "bob", "carol", "dave", "erin"];
    let mut people = Vec::new();
    for _ in names {
        people.push(Profile::init(&addresses).await);
    }
    for (name, person) in names.iter().zip(&people).skip(1) {
        people[0].add_contact(name, person).await;
        person.add_contact("alice", &people[0]).await;
    }
    let mut daemons: Vec<Option<Daemon>> = Vec::new();
    for person in &people {
        daemons.push(Some(person.daemon().await));
    }
    for person in &people {
        person.wait_online(3).await;
    }
    let (alice, bob, carol, dave, erin) =
        (&people[0], &people[1], &people[2], &people[3], &people[4]);

    // Alice makes the group with everyone in it; its log is at her three relays.
    let created = alice
        .tern(&[
            "group", "create", "kestrels", "bob", "carol", "dave", "erin", "--json",
        ])
        .await;
    assert_eq!(created.code, 0, "{created:?}");
    let id = created.json()["id"].as_str().expect("an id").to_owned();
    let id = id.as_str();
    assert_eq!(
        created.json()["sequencers"].as_array().map(Vec::len),
        Some(3)
    );
    for person in &people {
        eventually("everyone to be in the group", || async {
            let (_, _, members) = state(person, id).await?;
            (members.len() == 5).then_some(())
        })
        .await;
    }

    // Everyone says something; everyone reads all of it, in one order.
    let mut said = Vec::new();
    for (name, person) in names.iter().zip(&people) {
        let text = format!("hi from {name}");
        say(person, &text).await;
        said.push(text);
    }
    let order = eventually("alice to read everyone", || async {
        let got = texts(alice, id).await;
        (got.len() >= said.len()).then_some(got)
    })
    .await;
    assert_eq!(sorted(&order), sorted(&said), "each message once");
    for person in &people[1..] {
        reads(person, id, &order).await;
    }

    // The first sequencer, whose order decides, dies with kill -9 in mid-conversation: what
    // was sent before and after it all arrives, exactly once.
    let first_sequencer = created.json()["sequencers"][0]
        .as_str()
        .expect("an address")
        .to_owned();
    let killed = relays
        .iter()
        .position(|r| first_sequencer.ends_with(&format!("/p2p/{}", peer_of(r))))
        .expect("the sequencer is one of the relays");
    say(bob, "before the kill").await;
    relays.remove(killed).kill().await;
    let mut order = order;
    order.push("before the kill".to_owned());
    for (i, person) in [carol, alice, erin].into_iter().enumerate() {
        let text = format!("after the kill #{i}");
        say(person, &text).await;
        order.push(text);
    }
    let got = eventually("dave to read past the kill", || async {
        let got = texts(dave, id).await;
        (got.len() >= order.len()).then_some(got)
    })
    .await;
    assert_eq!(sorted(&got), sorted(&order), "nothing lost, nothing twice");
    let order = got;
    for person in [alice, bob, carol, erin] {
        reads(person, id, &order).await;
    }

    // Dave's daemon dies and misses two commits: Bob and Carol become admins.
    daemons[3].take().expect("dave's daemon").kill().await;
    for (name, member) in [("bob", bob), ("carol", carol)] {
        eventually("alice to promote a member", || async {
            let run = alice.tern(&["group", "admin", id, name]).await;
            (run.code == 0).then_some(())
        })
        .await;
        eventually("the member to be an admin in its own view", || async {
            (info(member, id).await?["admin"] == true).then_some(())
        })
        .await;
    }

    // Three admins rename the group at the same moment: the log orders the commits, the
    // losers make theirs again on the new epoch, and every member ends in the same state.
    let epoch_before = state(alice, id).await.expect("alice's view").0;
    let renames = [
        ["group", "rename", id, "by alice"],
        ["group", "rename", id, "by bob"],
        ["group", "rename", id, "by carol"],
    ];
    let (a, b, c) = tokio::join!(
        alice.tern(&renames[0]),
        bob.tern(&renames[1]),
        carol.tern(&renames[2]),
    );
    for run in [a, b, c] {
        assert_eq!(run.code, 0, "{run:?}");
    }
    let settled = eventually("the three renames to be in", || async {
        let state = state(alice, id).await?;
        (state.0 >= epoch_before + 3).then_some(state)
    })
    .await;
    for person in [bob, carol, erin] {
        eventually("every member to converge", || async {
            (state(person, id).await? == settled).then_some(())
        })
        .await;
    }

    // Erin is removed; she learns it and reads nothing said after.
    let run = alice.tern(&["group", "remove", id, "erin"]).await;
    assert_eq!(run.code, 0, "{run:?}");
    eventually("erin to be out", || async {
        (info(erin, id).await?["active"] == false).then_some(())
    })
    .await;
    let renamed = format!("#{}", settled.1);
    let run = carol.tern(&["send", &renamed, "erin has gone"]).await;
    assert_eq!(run.code, 0, "{run:?}");
    let mut order = order;
    order.push("erin has gone".to_owned());
    for person in [alice, bob] {
        reads(person, id, &order).await;
    }
    assert!(!texts(erin, id).await.contains(&"erin has gone".to_owned()));

    // Dave comes back and catches up through every commit he missed.
    daemons[3] = Some(dave.daemon().await);
    eventually("dave to catch up", || async {
        let (epoch, _, members) = state(dave, id).await?;
        // One commit after the renames: Erin's removal.
        (epoch > settled.0 && members.len() == 4).then_some(())
    })
    .await;
    reads(dave, id, &order).await;
    assert_eq!(
        state(dave, id).await,
        state(alice, id).await,
        "dave converges too"
    );

    for daemon in daemons.into_iter().flatten() {
        daemon.stop().await;
    }
    for relay in relays {
        relay.stop().await;
    }

    // The relays' disks hold no text, no group name and not the MLS group id, which every
    // MLS message carries in clear (entries are sealed again for the log). Each relay keeps
    // every member's mailbox, so their addresses are there as mailbox owners.
    let mut needles: Vec<Vec<u8>> = order.iter().map(|t| t.as_bytes().to_vec()).collect();
    needles.extend(["kestrels", "by alice", "by bob", "by carol"].map(|n| n.as_bytes().to_vec()));
    needles.push(
        (0..id.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&id[i..i + 2], 16).expect("hex"))
            .collect(),
    );
    for dir in &relay_dirs {
        for (path, bytes) in files(dir.path()) {
            for needle in &needles {
                assert!(
                    !contains(&bytes, needle),
                    "{} holds {:?}",
                    path.display(),
                    String::from_utf8_lossy(needle)
                );
            }
        }
    }
}

/// A relay's peer id, from the address it wrote.
/// `profile` writes `text` to the group with `tern send`.
async fn say(profile: &Profile, text: &str) {
    let run = profile.tern(&["send", "#kestrels", text]).await;
    assert_eq!(run.code, 0, "{run:?}");
}

/// `texts` in sorted order: the same messages, whatever order they came in.
fn sorted(texts: &[String]) -> Vec<String> {
    let mut texts = texts.to_vec();
    texts.sort();
    texts
}

fn peer_of(relay: &RelayProcess) -> String {
    let path = relay.dir().join("relay.addr");
    let text = std::fs::read_to_string(path).expect("the relay's address");
    let address = text.lines().next().expect("an address line");
    address
        .rsplit_once("/p2p/")
        .expect("a peer id")
        .1
        .to_owned()
}
