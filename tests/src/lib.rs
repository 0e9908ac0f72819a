//! Running Tern the way its users do, for tests: the real `tern` and `tern-relay` binaries in
//! their own processes, temporary profiles and data directories, loopback addresses only.
//!
//! The crate's own suite (`tests/tests/`) runs whole-network scenarios with nothing in
//! process; the `tern-cli` tests use the same harness for the command-line tool.
//!
//! The binaries are found beside the test executable (`.target/<profile>/`): `cargo test
//! --workspace` builds them with the tests.
//!
//! ```no_run
//! # async fn demo() {
//! use tern_tests::{Profile, RelayProcess};
//!
//! let dir = tempfile::tempdir().unwrap();
//! let relay = RelayProcess::start(dir.path(), &[]);
//! let (address, _peer) = relay.address().await;
//! let alice = Profile::init(&[address.as_str()]).await;
//! let daemon = alice.daemon().await;
//! println!("Alice's API listens at {}", daemon.api);
//! daemon.stop().await;
//! # }
//! ```
#![allow(
    clippy::print_stderr,
    reason = "the harness shows a process's log when TERN_TEST_LOG is set"
)]

use std::{
    path::{Path, PathBuf},
    process::Stdio,
    sync::{Arc, Mutex},
    time::Duration,
};

mod events;
pub mod netns;
mod relay;

use serde_json::{Value, json};

pub use self::{
    events::Events,
    relay::{Metrics, RelayProcess},
};
use tokio::{
    io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader},
    net::TcpStream,
    process::{Child, Command},
};

/// Generous: a loaded 2-core machine can be slow, and nothing here depends on speed.
pub const TIMEOUT: Duration = Duration::from_secs(90);

/// The path of the workspace binary `name`, built beside the running test executable.
///
/// # Panics
///
/// If it has not been built: run the tests with `cargo test --workspace`.
pub fn binary(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("the test executable's path");
    // .target/<profile>/deps/<test>-<hash> → .target/<profile>/<name>
    let dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("a test executable under <target dir>/<profile>/deps");
    let path = dir.join(name);
    assert!(
        path.is_file(),
        "{} is not built; run the tests with `cargo test --workspace`",
        path.display()
    );
    path
}

/// The `tern` binary.
pub fn tern() -> PathBuf {
    binary("tern")
}

/// The output of one finished process.
#[derive(Debug)]
pub struct Run {
    /// The exit code (-1 when killed by a signal).
    pub code: i32,
    /// Everything it printed on stdout.
    pub stdout: String,
    /// Everything it printed on stderr.
    pub stderr: String,
}

impl Run {
    /// The stdout as JSON.
    ///
    /// # Panics
    ///
    /// With both streams, if the process failed or printed something else.
    pub fn json(&self) -> Value {
        assert_eq!(self.code, 0, "tern failed: {self:?}");
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {self:?}"))
    }
}

/// Runs `command` to completion (within [`TIMEOUT`]).
///
/// # Panics
///
/// If it does not finish in time or cannot start.
pub async fn run(mut command: Command) -> Run {
    let output = tokio::time::timeout(TIMEOUT, command.output())
        .await
        .expect("the process did not finish")
        .expect("the process did not start");
    Run {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// Waits until `check` gives a value, polling every 50 ms.
///
/// # Panics
///
/// After [`TIMEOUT`], naming `what`.
pub async fn eventually<T, F, Fut>(what: &str, mut check: F) -> T
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

/// Forwards a child's stream line by line to the test's stderr when `TERN_TEST_LOG` is set,
/// and otherwise drains it so the child never blocks on a full pipe.
fn drain<R>(label: String, stream: R)
where
    R: tokio::io::AsyncRead + Unpin + Send + 'static,
{
    drain_into(label, stream, None);
}

/// [`drain`], keeping every line in `kept` as well.
fn drain_into<R>(label: String, stream: R, kept: Option<Arc<Mutex<Vec<String>>>>)
where
    R: tokio::io::AsyncRead + Unpin + Send + 'static,
{
    tokio::spawn(async move {
        let mut lines = BufReader::new(stream).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            if std::env::var_os("TERN_TEST_LOG").is_some() {
                eprintln!("{label}: {line}");
            }
            if let Some(kept) = &kept {
                kept.lock().unwrap_or_else(|e| e.into_inner()).push(line);
            }
        }
    });
}

/// Sends SIGTERM and waits for a clean exit, as systemd stops a service.
async fn terminate(child: &mut Child, what: &str) {
    signal(child, rustix::process::Signal::TERM);
    let status = tokio::time::timeout(TIMEOUT, child.wait())
        .await
        .unwrap_or_else(|_| panic!("the {what} did not stop"))
        .unwrap_or_else(|e| panic!("the {what}'s exit status: {e}"));
    assert!(status.success(), "the {what} exited with {status}");
}

/// Sends SIGKILL and waits until the process is gone.
async fn kill(child: &mut Child, what: &str) {
    child
        .start_kill()
        .unwrap_or_else(|e| panic!("SIGKILL to the {what}: {e}"));
    child
        .wait()
        .await
        .unwrap_or_else(|e| panic!("the {what}'s exit status: {e}"));
}

fn signal(child: &Child, signal: rustix::process::Signal) {
    if let Some(pid) = child.id()
        && let Some(pid) = i32::try_from(pid)
            .ok()
            .and_then(rustix::process::Pid::from_raw)
    {
        let _ = rustix::process::kill_process(pid, signal);
    }
}

/// A profile directory of its own (`tern --data-dir`).
#[derive(Debug)]
pub struct Profile {
    dir: tempfile::TempDir,
    /// The network namespace its commands and daemon run in, if not this process's.
    netns: Option<String>,
}

impl Default for Profile {
    fn default() -> Self {
        Self::new()
    }
}

impl Profile {
    /// An empty profile directory, without an account.
    ///
    /// # Panics
    ///
    /// If no temporary directory can be made.
    pub fn new() -> Self {
        Self {
            dir: tempfile::tempdir().expect("a temporary directory"),
            netns: None,
        }
    }

    /// Runs its commands and daemon inside the network namespace `ns` from now on (see
    /// [`netns::Lab`]).
    pub fn set_netns(&mut self, ns: &str) {
        self.netns = Some(ns.to_owned());
    }

    /// A profile with an account created by `tern init` (no passphrase), its mailbox at
    /// `relays` (which are also its bootstrap peers).
    ///
    /// # Panics
    ///
    /// If `tern init` fails.
    pub async fn init(relays: &[&str]) -> Self {
        let profile = Self::new();
        let mut args = vec!["init"];
        for relay in relays {
            args.extend(["--relay", relay]);
        }
        let run = profile.tern(&args).await;
        assert_eq!(run.code, 0, "{run:?}");
        profile
    }

    /// The profile directory.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// `tern --data-dir <this> --insecure-no-passphrase ARGS…`, not yet started, with no
    /// profile or passphrase inherited from the environment.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut command = netns::command(self.netns.as_deref(), tern());
        command
            .arg("--data-dir")
            .arg(self.path())
            .arg("--insecure-no-passphrase")
            .args(args)
            .env_remove("TERN_HOME")
            .env_remove("TERN_PASSPHRASE")
            .env_remove("RUST_LOG")
            // The tests read the CLI's English texts, whatever language the machine speaks.
            .env("LC_ALL", "C.UTF-8")
            .stdin(Stdio::null())
            .kill_on_drop(true);
        command
    }

    /// Runs `tern ARGS…` on this profile to completion.
    pub async fn tern(&self, args: &[&str]) -> Run {
        run(self.command(args)).await
    }

    /// The account's address, from `tern id`.
    ///
    /// # Panics
    ///
    /// If `tern id` fails.
    pub async fn address(&self) -> String {
        self.id_field("address").await
    }

    /// Adds `other` as a contact named `name`, from its invite, with `tern contact add`.
    ///
    /// # Panics
    ///
    /// If either command fails.
    pub async fn add_contact(&self, name: &str, other: &Profile) {
        let run = self
            .tern(&["contact", "add", name, &other.invite().await])
            .await;
        assert_eq!(run.code, 0, "{run:?}");
    }

    /// The account's invite, from `tern id`.
    ///
    /// # Panics
    ///
    /// If `tern id` fails.
    pub async fn invite(&self) -> String {
        self.id_field("invite").await
    }

    async fn id_field(&self, field: &str) -> String {
        self.tern(&["id", "--json"]).await.json()[field]
            .as_str()
            .expect("a text field")
            .to_owned()
    }

    /// The conversation with `peer` as `tern history --json` shows it, oldest first.
    ///
    /// # Panics
    ///
    /// If `tern history` fails.
    pub async fn history(&self, peer: &str) -> Vec<Value> {
        let page = self
            .tern(&["history", peer, "--limit", "500", "--json"])
            .await
            .json();
        page["messages"].as_array().expect("messages").clone()
    }

    /// Whether every message sent to `peer` is marked delivered.
    ///
    /// # Panics
    ///
    /// If `tern history` fails.
    pub async fn all_sent_delivered(&self, peer: &str) -> bool {
        self.history(peer)
            .await
            .iter()
            .filter(|m| m["direction"] == "outgoing")
            .all(|m| m["delivery"]["state"] == "delivered")
    }

    /// Waits until this profile's daemon has published its record and holds a connection to
    /// at least `relays` of its relays.
    ///
    /// # Panics
    ///
    /// If it does not within [`TIMEOUT`].
    pub async fn wait_online(&self, relays: usize) {
        eventually(
            "the daemon to be published and connected to its relays",
            || async {
                let status = self.tern(&["status", "--json"]).await.json();
                let connected = status["relays"]
                    .as_array()?
                    .iter()
                    .filter(|r| r["connected"] == true)
                    .count();
                (status["record_published"].is_u64() && connected >= relays).then_some(())
            },
        )
        .await;
    }

    /// The local API's bearer token, once a daemon has written it.
    ///
    /// # Panics
    ///
    /// If there is none.
    pub fn token(&self) -> String {
        api_token(self.path())
    }

    /// Starts `tern daemon` on a loopback port and waits until its API answers.
    ///
    /// # Panics
    ///
    /// If it exits or does not get ready within [`TIMEOUT`].
    pub async fn daemon(&self) -> Daemon {
        self.daemon_with(&["--listen", "/ip4/127.0.0.1/tcp/0"])
            .await
    }

    /// Starts `tern daemon ARGS…` (`--listen` addresses, `--relay-only`…) and waits until
    /// its API answers.
    ///
    /// # Panics
    ///
    /// If it exits or does not get ready within [`TIMEOUT`].
    pub async fn daemon_with(&self, args: &[&str]) -> Daemon {
        let mut all = vec!["daemon", "--json", "--no-mdns"];
        all.extend(args);
        let mut child = self
            .command(&all)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("tern daemon starts");
        // Drained from the start: a daemon that logs much before it is ready would otherwise
        // block on a full pipe.
        let label = match &self.netns {
            Some(ns) => format!("daemon in {ns}"),
            None => "daemon".into(),
        };
        drain(label, child.stderr.take().expect("piped stderr"));
        // The daemon prints one JSON document once its API listens.
        let stdout = child.stdout.take().expect("piped stdout");
        let mut lines = BufReader::new(stdout).lines();
        let mut text = String::new();
        let ready = tokio::time::timeout(TIMEOUT, async {
            while let Some(line) = lines.next_line().await.expect("daemon output") {
                text.push_str(&line);
                if let Ok(value) = serde_json::from_str::<Value>(&text) {
                    return value;
                }
            }
            panic!("the daemon exited before it was ready: {text}");
        })
        .await
        .expect("the daemon did not start");
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        Daemon {
            child,
            api: ready["api"].as_str().expect("the API address").to_owned(),
            home: self.path().to_path_buf(),
            netns: self.netns.clone(),
        }
    }
}

/// The API token a daemon wrote to the profile directory `home`.
fn api_token(home: &Path) -> String {
    std::fs::read_to_string(home.join("api.token"))
        .expect("api.token")
        .trim()
        .to_owned()
}

/// A running `tern daemon`, sent SIGTERM when dropped.
#[derive(Debug)]
pub struct Daemon {
    child: Child,
    /// `http://127.0.0.1:PORT`.
    pub api: String,
    /// Its profile directory.
    pub home: PathBuf,
    /// The network namespace it runs in, if not this process's.
    netns: Option<String>,
}

impl Daemon {
    /// Its process id, for reading `/proc/<pid>/…`.
    ///
    /// # Panics
    ///
    /// If it has already been waited for.
    pub fn pid(&self) -> u32 {
        self.child.id().expect("a running daemon")
    }

    /// The API token this daemon wrote at its start.
    ///
    /// # Panics
    ///
    /// If there is none.
    pub fn token(&self) -> String {
        api_token(&self.home)
    }

    /// A new connection to its local API, authenticated with the profile's token.
    ///
    /// # Panics
    ///
    /// If the API is not on a loopback address or does not accept the connection.
    pub async fn connect(&self) -> Api {
        let address = self
            .api
            .strip_prefix("http://")
            .expect("an http:// API address")
            .to_owned();
        assert!(
            address.starts_with("127.0.0.1:"),
            "the API listens on loopback only: {address}"
        );
        let token = self.token();
        let stream = self.tcp().await;
        Api {
            stream: BufReader::new(stream),
            address,
            token,
        }
    }

    /// A TCP connection to its API's address (made inside its network namespace, if it
    /// runs in one).
    ///
    /// # Panics
    ///
    /// If the API does not accept the connection in time.
    pub async fn tcp(&self) -> TcpStream {
        let address = self.api.strip_prefix("http://").unwrap_or(&self.api);
        let connecting = async {
            match &self.netns {
                Some(ns) => netns::connect(ns, address).await,
                None => TcpStream::connect(address).await,
            }
        };
        tokio::time::timeout(TIMEOUT, connecting)
            .await
            .expect("the API did not accept in time")
            .expect("a connection to the API")
    }

    /// Stops it the way systemd does (SIGTERM) and waits for a clean exit.
    ///
    /// # Panics
    ///
    /// If it does not exit cleanly, or leaves its API address file behind.
    pub async fn stop(mut self) {
        terminate(&mut self.child, "daemon").await;
        assert!(
            !self.home.join("api.addr").exists(),
            "a stopped daemon removes its address file"
        );
    }

    /// Stops it with SIGSTOP: its sockets stay open and the kernel still accepts connections
    /// for it, but it answers nothing, like a peer whose link has stalled. [`Daemon::resume`]
    /// lets it go on.
    pub fn pause(&self) {
        signal(&self.child, rustix::process::Signal::STOP);
    }

    /// Lets a [`Daemon::pause`]d daemon go on (SIGCONT).
    pub fn resume(&self) {
        signal(&self.child, rustix::process::Signal::CONT);
    }

    /// Kills it with SIGKILL: no shutdown, nothing but what is on disk survives.
    ///
    /// # Panics
    ///
    /// If it cannot be waited for.
    pub async fn kill(mut self) {
        kill(&mut self.child, "daemon").await;
    }
}

/// One keep-alive HTTP/1.1 connection to a daemon's local API: a message costs one request on
/// an open connection, where `tern send` costs a process. It speaks just enough HTTP for the
/// API's answers (JSON with a `Content-Length`, or `204 No Content` without a body), and
/// never retries: a request
/// that may have reached the daemon is not sent twice.
#[derive(Debug)]
pub struct Api {
    stream: BufReader<TcpStream>,
    address: String,
    token: String,
}

impl Api {
    /// `METHOD path` with an optional JSON body; the status and the JSON answer (`null` when
    /// the body is empty).
    ///
    /// # Panics
    ///
    /// If the daemon does not answer within [`TIMEOUT`], closes the connection or answers
    /// something that is not JSON.
    pub async fn request(
        &mut self,
        method: &str,
        path: &str,
        body: Option<&Value>,
    ) -> (u16, Value) {
        let body = body
            .map(|b| serde_json::to_vec(b).expect("a JSON body"))
            .unwrap_or_default();
        let (status, bytes) = tokio::time::timeout(TIMEOUT, self.exchange(method, path, &body))
            .await
            .unwrap_or_else(|_| panic!("{method} {path}: no answer in time"))
            .unwrap_or_else(|e| panic!("{method} {path}: {e}"));
        if bytes.is_empty() {
            return (status, Value::Null);
        }
        let value = serde_json::from_slice(&bytes).unwrap_or_else(|e| {
            panic!(
                "{method} {path}: not JSON ({e}): {}",
                String::from_utf8_lossy(&bytes)
            )
        });
        (status, value)
    }

    /// One request and its answer's status and body.
    async fn exchange(
        &mut self,
        method: &str,
        path: &str,
        body: &[u8],
    ) -> std::io::Result<(u16, Vec<u8>)> {
        let malformed = |what: String| std::io::Error::new(std::io::ErrorKind::InvalidData, what);
        let mut request = format!(
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {}\r\n\
             Content-Type: application/json\r\nContent-Length: {}\r\n\r\n",
            self.address,
            self.token,
            body.len()
        )
        .into_bytes();
        request.extend_from_slice(body);
        self.stream.get_mut().write_all(&request).await?;

        let mut line = String::new();
        if self.stream.read_line(&mut line).await? == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        let status: u16 = line
            .split_whitespace()
            .nth(1)
            .and_then(|code| code.parse().ok())
            .ok_or_else(|| malformed(format!("not an HTTP status line: {line:?}")))?;
        let mut length = None;
        loop {
            line.clear();
            self.stream.read_line(&mut line).await?;
            let header = line.trim_end();
            if header.is_empty() {
                break;
            }
            if let Some((name, value)) = header.split_once(':')
                && name.eq_ignore_ascii_case("content-length")
            {
                length = value.trim().parse::<usize>().ok();
            }
        }
        // A 204 has no body, and says so by sending no length.
        let length = match (length, status) {
            (Some(length), _) => length,
            (None, 204) => 0,
            (None, _) => return Err(malformed("an answer without Content-Length".into())),
        };
        let mut bytes = vec![0; length];
        self.stream.read_exact(&mut bytes).await?;
        Ok((status, bytes))
    }

    /// `POST /v1/messages`: queues `text` to `to` (a contact name or address).
    ///
    /// # Panics
    ///
    /// Unless the daemon accepts it (201).
    pub async fn send(&mut self, to: &str, text: &str) -> Value {
        let (status, sent) = self
            .request(
                "POST",
                "/v1/messages",
                Some(&json!({ "to": to, "text": text })),
            )
            .await;
        assert_eq!(status, 201, "sending to {to}: {sent}");
        sent
    }

    /// The whole conversation with `peer` (a contact name or address), oldest first, read page
    /// by page.
    ///
    /// # Panics
    ///
    /// If a page cannot be read.
    pub async fn history(&mut self, peer: &str) -> Vec<Value> {
        let mut pages = Vec::new();
        let mut before: Option<String> = None;
        loop {
            let path = match &before {
                Some(cursor) => format!("/v1/chats/{peer}/messages?limit=500&before={cursor}"),
                None => format!("/v1/chats/{peer}/messages?limit=500"),
            };
            let (status, mut page) = self.request("GET", &path, None).await;
            assert_eq!(status, 200, "history with {peer}: {page}");
            let messages = page["messages"].take();
            let Value::Array(messages) = messages else {
                panic!("history with {peer}: no messages in {page}");
            };
            let empty = messages.is_empty();
            pages.push(messages);
            match page["before"].as_str() {
                Some(cursor) if !empty => before = Some(cursor.to_owned()),
                _ => break,
            }
        }
        pages.into_iter().rev().flatten().collect()
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        signal(&self.child, rustix::process::Signal::TERM);
    }
}

/// Every file under `dir`, read whole: what a test searches for leaks.
///
/// # Panics
///
/// If `dir` or a directory under it cannot be read.
pub fn files(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir)
            .expect("a readable directory")
            .flatten()
        {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else if let Ok(bytes) = std::fs::read(&path) {
                out.push((path, bytes));
            }
        }
    }
    out
}

/// Whether `needle` occurs in `haystack`.
pub fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}
