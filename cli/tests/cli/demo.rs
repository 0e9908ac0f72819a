//! `tern demo`, the README's first command, runs to completion.

use super::harness::{Profile, run};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_runs_to_completion_and_cleans_up() {
    let scratch = tempfile::tempdir().unwrap();
    let profile = Profile::new();
    let mut command = profile.command(&["demo"]);
    command.env("TMPDIR", scratch.path());
    let demo = run(command).await;
    assert_eq!(demo.code, 0, "{demo:?}");
    for line in [
        "alice  ✓ delivered",
        "bob    goes offline",
        "stored at his relay",
        "relay  took them on one deposit stream, pipelined",
        "received 3 of 3, each exactly once, in order",
        "holds 1 encrypted file(s)",
        "fetched slides.pdf",
        "shows a blurred preview of photo.jpg",
        "alice  ✓✓ read ×3",
        "relay  holds 0 envelope(s)",
        "relay  bob collected them on one stream",
        "bob's reply, quoting her message",
        "sees alice's 👍 under his reply",
        "(edited); 2 versions kept",
        "sees a tombstone",
        "identity key changed\" in the chat",
        "gets the message that waited for Alice's check",
        "← a message request",
        "creates the group #family",
        "carol  joined #family",
        "alice  ← #family \"Dinner on Sunday?\"",
        "carol  searches her history for \"Dinner on Sunday?\": found in #family",
        "alice  → #family beach.jpg",
        "bob    fetched beach.jpg from the group's relay",
        "carol  fetched beach.jpg from the group's relay",
        "carol  is out of the group",
        "bob    ← #family \"Carol cannot read this.\"",
        "carol  has nothing after her removal",
        "moves the group's messages to a second relay",
        "bob    follows: reads and writes the group at the second relay",
        "bob    ← #family \"Now kept by the second relay.\"",
        "bob    turns on disappearing messages in #family for everyone",
        "alice  gets \"See you at the station.\", which her node erases a day after",
        "relay  the second relay goes down: nobody can reach #family's log",
        "moved the group's log to her own relay after 2 s without an answer",
        "bob    follows the same move, and reads on there",
        "bob    ← #family \"Still here, on another relay.\"",
        "refused: bob blocked this account",
        "Removed",
    ] {
        assert!(
            demo.stdout.contains(line),
            "missing {line:?} in:\n{}",
            demo.stdout
        );
    }
    assert_eq!(
        std::fs::read_dir(scratch.path()).unwrap().count(),
        0,
        "the demo leaves nothing behind"
    );

    let mut command = profile.command(&["demo", "--json"]);
    command.env("TMPDIR", scratch.path());
    let steps = run(command).await.json();
    let steps = steps.as_array().unwrap();
    assert!(steps.len() > 10);
    assert!(
        steps
            .iter()
            .all(|s| s["actor"].is_string() && s["at_ms"].is_u64())
    );
}
