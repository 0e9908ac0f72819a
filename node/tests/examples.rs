//! The examples under `node/examples/`, run as their users run them: as processes, against a
//! node on loopback.

#[path = "support/harness.rs"]
mod support;

use std::{
    path::{Path, PathBuf},
    process::Stdio,
    time::Duration,
};

use support::{EVENT_TIMEOUT, TestNode, wait_for};
use tern_node::{Direction, Event, From, UserId};
use tokio::{
    io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines},
    process::{Child, ChildStdout, Command},
};

/// The built example `name`, beside this test's executable (`cargo test` builds examples);
/// built here if it is missing, as when only this test target was asked for.
fn example(name: &str) -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let profile_dir = exe.parent().and_then(Path::parent).unwrap();
    let path = profile_dir.join("examples").join(name);
    if !path.exists() {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let status = std::process::Command::new(cargo)
            .args(["build", "-p", "tern-node", "--example", name])
            .status()
            .unwrap();
        assert!(status.success(), "building example {name} failed");
    }
    path
}

/// A running example: killed if the test ends early.
struct Process {
    child: Child,
    stdout: Lines<BufReader<ChildStdout>>,
}

impl Process {
    fn start(name: &str, args: &[String]) -> Self {
        let mut child = Command::new(example(name))
            .args(args)
            .env("TERN_PASSPHRASE", "example passphrase")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let stdout = BufReader::new(child.stdout.take().unwrap()).lines();
        Self { child, stdout }
    }

    /// The next stdout line, with a timeout.
    async fn line(&mut self) -> String {
        tokio::time::timeout(EVENT_TIMEOUT, self.stdout.next_line())
            .await
            .expect("no output in time")
            .unwrap()
            .expect("the example closed its output")
    }

    /// The account address the example printed first.
    async fn user(&mut self) -> UserId {
        let line = self.line().await;
        line.strip_prefix("user ").unwrap().parse().unwrap()
    }

    /// Interrupts it (as Ctrl-C does) and waits for a clean exit.
    async fn interrupt(self) {
        let pid = self.child.id().unwrap().to_string();
        let killed = Command::new("kill").args(["-INT", &pid]).status().await;
        assert!(killed.unwrap().success());
        self.exits_cleanly().await;
    }

    async fn exits_cleanly(mut self) {
        let status = tokio::time::timeout(EVENT_TIMEOUT, self.child.wait())
            .await
            .expect("the example did not exit")
            .unwrap();
        assert!(status.success(), "exit status {status}");
    }
}

fn args(dir: &Path, seed: &[String]) -> Vec<String> {
    let mut args = vec![
        dir.display().to_string(),
        "--listen".into(),
        "/ip4/127.0.0.1/tcp/0".into(),
        "--no-mdns".into(),
    ];
    for address in seed {
        args.extend(["--bootstrap".into(), address.clone()]);
    }
    args
}

async fn echo(events: &mut tern_node::EventStream, text: &str) {
    wait_for(events, |e| match e {
        Event::MessageReceived(m) if m.text == text => Some(()),
        _ => None,
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn local_pair_runs_to_completion() {
    let mut pair = Process::start("local_pair", &[]);
    drop(pair.child.stdin.take());
    tokio::time::timeout(Duration::from_secs(120), async {
        while let Ok(Some(line)) = pair.stdout.next_line().await {
            drop(line);
        }
    })
    .await
    .expect("local_pair did not finish");
    pair.exits_cleanly().await;
}

/// The README's bot: run twice against the same data directory, it answers each message once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_echo_bot_answers_each_message_once_across_restarts() {
    let alice = TestNode::start("alice", &[]).await;
    let seed = alice.node.addresses().await;
    let bot_dir = tempfile::tempdir().unwrap();
    let mut events = alice.node.events(From::Now);

    let mut bot = Process::start("echo_bot", &args(bot_dir.path(), &seed));
    let bot_user = bot.user().await;
    alice.node.send(bot_user, "ping 1").await.unwrap();
    echo(&mut events, "echo: ping 1").await;
    bot.interrupt().await;

    let mut bot = Process::start("echo_bot", &args(bot_dir.path(), &seed));
    assert_eq!(bot.user().await, bot_user);
    alice.node.send(bot_user, "ping 2").await.unwrap();
    echo(&mut events, "echo: ping 2").await;
    bot.interrupt().await;

    // Events reach the bot in order, so a second answer to ping 1 would have come first.
    let history = alice.node.history(bot_user, 50, None).await.unwrap();
    let answers: Vec<&str> = history
        .messages
        .iter()
        .filter(|m| m.direction == Direction::Incoming)
        .map(|m| m.text.as_str())
        .collect();
    assert_eq!(answers, ["echo: ping 1", "echo: ping 2"]);
    alice.node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_bridge_carries_lines_both_ways() {
    let alice = TestNode::start("alice", &[]).await;
    let seed = alice.node.addresses().await;
    let dir = tempfile::tempdir().unwrap();
    let mut events = alice.node.events(From::Now);
    let mut bridge_args = args(dir.path(), &seed);
    bridge_args.insert(1, alice.node.user_id().to_string());

    let mut bridge = Process::start("bridge", &bridge_args);
    let bridge_user = bridge.user().await;
    alice.node.add_contact("bridge", bridge_user).await.unwrap();
    let mut stdin = bridge.child.stdin.take().unwrap();
    stdin.write_all(b"hello from a pipe\n").await.unwrap();
    echo(&mut events, "hello from a pipe").await;

    alice.node.send(bridge_user, "hello back").await.unwrap();
    loop {
        let line = bridge.line().await;
        if line == "hello back" {
            break;
        }
        assert!(line.starts_with("address "), "unexpected output {line:?}");
    }
    // End of input: the bridge exits once what it sent is delivered.
    stdin.write_all(b"last line\n").await.unwrap();
    drop(stdin);
    echo(&mut events, "last line").await;
    bridge.exits_cleanly().await;
    alice.node.shutdown().await;
}
