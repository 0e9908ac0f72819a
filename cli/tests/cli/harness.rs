//! Starting profiles, daemons and a relay, and waiting for things with timeouts.
#![allow(
    clippy::print_stderr,
    reason = "tests show a daemon's log when TERN_TEST_LOG is set"
)]

use std::{
    path::{Path, PathBuf},
    process::Stdio,
    time::Duration,
};

use serde_json::Value;
use tokio::{
    io::{AsyncBufReadExt, BufReader},
    process::{Child, Command},
};

/// Generous: a loaded 2-core machine can be slow, and nothing here depends on speed.
pub(crate) const TIMEOUT: Duration = Duration::from_secs(90);

pub(crate) const TERN: &str = env!("CARGO_BIN_EXE_tern");

/// The output of one `tern` run.
#[derive(Debug)]
pub(crate) struct Run {
    pub(crate) code: i32,
    pub(crate) stdout: String,
    pub(crate) stderr: String,
}

impl Run {
    /// The stdout as JSON; panics with both streams if it is not.
    pub(crate) fn json(&self) -> Value {
        assert_eq!(self.code, 0, "tern failed: {self:?}");
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {self:?}"))
    }
}

/// A profile directory of its own.
#[derive(Debug)]
pub(crate) struct Profile {
    dir: tempfile::TempDir,
}

impl Profile {
    pub(crate) fn new() -> Self {
        Self {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    /// A profile with an account, created with `tern init` (no passphrase).
    pub(crate) async fn init(relay: Option<&str>) -> Self {
        let profile = Self::new();
        let mut args = vec!["init"];
        if let Some(relay) = relay {
            args.extend(["--relay", relay]);
        }
        let run = profile.tern(&args).await;
        assert_eq!(run.code, 0, "{run:?}");
        profile
    }

    pub(crate) fn path(&self) -> &Path {
        self.dir.path()
    }

    pub(crate) fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(TERN);
        command
            .arg("--data-dir")
            .arg(self.path())
            .arg("--insecure-no-passphrase")
            .args(args)
            .env_remove("TERN_HOME")
            .env_remove("TERN_PASSPHRASE")
            .env_remove("RUST_LOG")
            .stdin(Stdio::null())
            .kill_on_drop(true);
        command
    }

    /// Runs `tern --data-dir <this> --insecure-no-passphrase ARGS…` to completion.
    pub(crate) async fn tern(&self, args: &[&str]) -> Run {
        run(self.command(args)).await
    }

    pub(crate) async fn address(&self) -> String {
        self.tern(&["id", "--json"]).await.json()["address"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    pub(crate) async fn invite(&self) -> String {
        self.tern(&["id", "--json"]).await.json()["invite"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    pub(crate) fn token(&self) -> String {
        std::fs::read_to_string(self.path().join("api.token"))
            .unwrap()
            .trim()
            .to_owned()
    }

    /// Starts `tern daemon` and waits until its API answers.
    pub(crate) async fn daemon(&self) -> Daemon {
        let mut child = self
            .command(&[
                "daemon",
                "--json",
                "--no-mdns",
                "--listen",
                "/ip4/127.0.0.1/tcp/0",
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // The daemon prints one JSON document once its API listens.
        let stdout = child.stdout.take().unwrap();
        let mut lines = BufReader::new(stdout).lines();
        let mut text = String::new();
        let ready = tokio::time::timeout(TIMEOUT, async {
            while let Some(line) = lines.next_line().await.unwrap() {
                text.push_str(&line);
                if let Ok(value) = serde_json::from_str::<Value>(&text) {
                    return value;
                }
            }
            panic!("the daemon exited before it was ready: {text}");
        })
        .await
        .expect("the daemon did not start");
        // Keep draining its output so it never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        let stderr = child.stderr.take().unwrap();
        tokio::spawn(async move {
            let mut lines = BufReader::new(stderr).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                if std::env::var_os("TERN_TEST_LOG").is_some() {
                    eprintln!("daemon: {line}");
                }
            }
        });
        let api = ready["api"].as_str().unwrap().to_owned();
        Daemon {
            child,
            api,
            home: self.path().to_path_buf(),
        }
    }
}

/// A running `tern daemon`, stopped with SIGTERM when dropped.
#[derive(Debug)]
pub(crate) struct Daemon {
    child: Child,
    /// `http://127.0.0.1:PORT`.
    pub(crate) api: String,
    pub(crate) home: PathBuf,
}

impl Daemon {
    /// Stops it the way systemd does (SIGTERM) and waits for a clean exit.
    pub(crate) async fn stop(mut self) {
        self.terminate();
        let status = tokio::time::timeout(TIMEOUT, self.child.wait())
            .await
            .expect("the daemon did not stop")
            .unwrap();
        assert!(status.success(), "the daemon exited with {status}");
        assert!(
            !self.home.join("api.addr").exists(),
            "a stopped daemon removes its address file"
        );
    }

    fn terminate(&self) {
        if let Some(pid) = self.child.id() {
            let pid = rustix::process::Pid::from_raw(i32::try_from(pid).unwrap()).unwrap();
            let _ = rustix::process::kill_process(pid, rustix::process::Signal::TERM);
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        self.terminate();
    }
}

pub(crate) async fn run(mut command: Command) -> Run {
    let output = tokio::time::timeout(TIMEOUT, command.output())
        .await
        .expect("tern did not finish")
        .unwrap();
    Run {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// A relay in this process, on loopback.
pub(crate) async fn relay() -> (tern_relay::Relay, String, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let relay = tern_relay::Relay::spawn(
        tern_relay::Config::new(dir.path()).with_listen_addr("/ip4/127.0.0.1/tcp/0"),
    )
    .await
    .unwrap();
    let address = relay.addresses().await[0].clone();
    (relay, address, dir)
}

/// Two accounts that have each other as contacts ("alice" has "bob" and back), sharing a
/// relay, with their daemons running.
pub(crate) struct Pair {
    pub(crate) alice: Profile,
    pub(crate) bob: Profile,
    pub(crate) alice_daemon: Option<Daemon>,
    pub(crate) bob_daemon: Option<Daemon>,
    pub(crate) relay: tern_relay::Relay,
    _relay_dir: tempfile::TempDir,
}

impl Pair {
    pub(crate) async fn start() -> Self {
        let (relay, relay_address, relay_dir) = relay().await;
        let alice = Profile::init(Some(&relay_address)).await;
        let bob = Profile::init(Some(&relay_address)).await;
        // Contacts are added before any daemon runs: the commands open the account themselves.
        let (alice_invite, bob_invite) = (alice.invite().await, bob.invite().await);
        let run = alice.tern(&["contact", "add", "bob", &bob_invite]).await;
        assert_eq!(run.code, 0, "{run:?}");
        let run = bob.tern(&["contact", "add", "alice", &alice_invite]).await;
        assert_eq!(run.code, 0, "{run:?}");
        let alice_daemon = Some(alice.daemon().await);
        let bob_daemon = Some(bob.daemon().await);
        Self {
            alice,
            bob,
            alice_daemon,
            bob_daemon,
            relay,
            _relay_dir: relay_dir,
        }
    }
}

impl Pair {
    /// The base URL of Alice's daemon's API.
    pub(crate) fn alice_api(&self) -> &str {
        &self.alice_daemon.as_ref().unwrap().api
    }
}

/// Calls `check` until it returns `Some`, for at most [`TIMEOUT`]. Each call is a real
/// command or request; the pause between calls only keeps this from spinning.
pub(crate) async fn eventually<T, F, Fut>(what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + TIMEOUT;
    loop {
        if let Some(found) = check().await {
            return found;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
