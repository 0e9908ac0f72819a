//! `tern-relay` processes for scenarios: started on loopback with their metrics served, and
//! read the way an operator reads them.

use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
    process::Stdio,
    sync::{Arc, Mutex},
};

use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
    process::Child,
};

use crate::{binary, drain_into, eventually, kill, terminate};

/// A running `tern-relay` process with its data directory, killed when dropped.
#[derive(Debug)]
pub struct RelayProcess {
    child: Child,
    dir: PathBuf,
    /// Everything it has logged so far.
    log: Arc<Mutex<Vec<String>>>,
    /// The network namespace it runs in, if not this process's.
    netns: Option<String>,
}

impl RelayProcess {
    /// Starts a network of relays, one in each of `dirs`: the first on its own, the others
    /// joining the DHT through it (everyone's way in). Returns them and their addresses, in
    /// the order of `dirs`.
    ///
    /// # Panics
    ///
    /// If a relay cannot start, or does not write its address within [`crate::TIMEOUT`].
    pub async fn network(dirs: &[tempfile::TempDir]) -> (Vec<Self>, Vec<String>) {
        let mut relays = Vec::with_capacity(dirs.len());
        let mut addresses: Vec<String> = Vec::with_capacity(dirs.len());
        for dir in dirs {
            let bootstrap: Vec<&str> = addresses.first().map(String::as_str).into_iter().collect();
            let relay = Self::start(dir.path(), &bootstrap);
            addresses.push(relay.address().await.0);
            relays.push(relay);
        }
        (relays, addresses)
    }

    /// Starts `tern-relay` on a free loopback port with its data in `dir` (kept across
    /// restarts), joining the DHT through `bootstrap`.
    ///
    /// # Panics
    ///
    /// If the binary cannot start.
    pub fn start(dir: &Path, bootstrap: &[&str]) -> Self {
        Self::start_at(dir, "/ip4/127.0.0.1/tcp/0", bootstrap)
    }

    /// Starts `tern-relay` listening on `listen`, as an operator restarts one with its fixed
    /// address: `start_at(dir, listen_address, …)` after a kill brings back the same relay.
    ///
    /// # Panics
    ///
    /// If the binary cannot start.
    pub fn start_at(dir: &Path, listen: &str, bootstrap: &[&str]) -> Self {
        Self::spawn(None, dir, listen, bootstrap, None, "warn")
    }

    /// Starts `tern-relay` inside the network namespace `ns` (see [`crate::netns::Lab`]),
    /// listening on each of `listen`; the first is the address it writes to `relay.addr`.
    ///
    /// # Panics
    ///
    /// If the binary cannot start.
    pub fn start_in(ns: &str, dir: &Path, listen: &[&str], bootstrap: &[&str]) -> Self {
        Self::spawn(Some(ns), dir, &listen.join(","), bootstrap, None, "info")
    }

    /// Starts `tern-relay` as [`RelayProcess::start`] does, with `config` (TOML, as in
    /// docs/relay-operator.md, e.g. a `[limits]` table) as its configuration file.
    ///
    /// # Panics
    ///
    /// If the file cannot be written or the binary cannot start.
    pub fn start_with_config(dir: &Path, bootstrap: &[&str], config: &str) -> Self {
        Self::spawn(
            None,
            dir,
            "/ip4/127.0.0.1/tcp/0",
            bootstrap,
            Some(config),
            "warn",
        )
    }

    /// Starts `tern-relay` as [`RelayProcess::start`] does, logging by `filter` (tracing
    /// syntax, as `--log` takes it); [`RelayProcess::log`] returns the lines.
    ///
    /// # Panics
    ///
    /// If the binary cannot start.
    pub fn start_logging(dir: &Path, bootstrap: &[&str], filter: &str) -> Self {
        Self::spawn(None, dir, "/ip4/127.0.0.1/tcp/0", bootstrap, None, filter)
    }

    fn spawn(
        ns: Option<&str>,
        dir: &Path,
        listen: &str,
        bootstrap: &[&str],
        config: Option<&str>,
        log: &str,
    ) -> Self {
        let _ = std::fs::remove_file(dir.join("relay.addr"));
        let mut command = crate::netns::command(ns, binary("tern-relay"));
        if let Some(config) = config {
            let path = dir.join("relay.toml");
            std::fs::write(&path, config).expect("the relay's configuration file");
            command.arg("--config").arg(path);
        }
        command
            .arg("--data-dir")
            .arg(dir)
            .arg("--listen")
            .arg(listen)
            .arg("--metrics-addr")
            .arg("127.0.0.1:0")
            .arg("--log")
            .arg(log)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        for address in bootstrap {
            command.arg("--bootstrap").arg(address);
        }
        let mut child = command.spawn().expect("tern-relay starts");
        let kept = Arc::new(Mutex::new(Vec::new()));
        drain_into(
            "relay".into(),
            child.stderr.take().expect("piped stderr"),
            Some(kept.clone()),
        );
        Self {
            child,
            dir: dir.to_owned(),
            log: kept,
            netns: ns.map(str::to_owned),
        }
    }

    /// Its address (ending in `/p2p/<peer id>`) and peer id, once it has written them.
    ///
    /// # Panics
    ///
    /// If it does not within [`TIMEOUT`].
    pub async fn address(&self) -> (String, String) {
        let path = self.dir.join("relay.addr");
        let text = eventually("the relay to write its address", || async {
            std::fs::read_to_string(&path)
                .ok()
                .filter(|text| text.ends_with('\n'))
        })
        .await;
        let address = text.lines().next().expect("an address line").to_owned();
        let peer = address
            .rsplit_once("/p2p/")
            .expect("an address ending in /p2p/<peer id>")
            .1
            .to_owned();
        (address, peer)
    }

    /// Its listen address without the peer id (for [`RelayProcess::start_at`]).
    pub async fn listen_address(&self) -> String {
        let (address, peer) = self.address().await;
        address
            .strip_suffix(&format!("/p2p/{peer}"))
            .unwrap_or(&address)
            .to_owned()
    }

    /// Its process id, for reading `/proc/<pid>/…`.
    ///
    /// # Panics
    ///
    /// If it has already been waited for.
    pub fn pid(&self) -> u32 {
        self.child.id().expect("a running relay")
    }

    /// The data directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Its metrics as `/metrics` serves them now.
    ///
    /// # Panics
    ///
    /// If the endpoint does not answer within [`crate::TIMEOUT`].
    pub async fn metrics(&self) -> Metrics {
        let path = self.dir.join("metrics.addr");
        let address = eventually("the relay to write its metrics address", || async {
            std::fs::read_to_string(&path)
                .ok()
                .filter(|text| text.ends_with('\n'))
        })
        .await;
        let text = tokio::time::timeout(
            crate::TIMEOUT,
            get(self.netns.as_deref(), address.trim(), "/metrics"),
        )
        .await
        .expect("the metrics endpoint answers in time")
        .expect("the metrics endpoint answers");
        Metrics::parse(&text)
    }

    /// The lines it has logged so far (on stderr).
    pub fn log(&self) -> Vec<String> {
        self.log.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Kills it with SIGKILL.
    ///
    /// # Panics
    ///
    /// If it cannot be waited for.
    pub async fn kill(mut self) {
        kill(&mut self.child, "relay").await;
    }

    /// Stops it with SIGTERM and waits for a clean exit.
    ///
    /// # Panics
    ///
    /// If it does not exit cleanly within [`TIMEOUT`].
    pub async fn stop(mut self) {
        terminate(&mut self.child, "relay").await;
    }
}

/// A GET over HTTP/1.0 (the connection closes after the answer): the body of a 200.
async fn get(ns: Option<&str>, address: &str, path: &str) -> std::io::Result<String> {
    let mut stream = match ns {
        Some(ns) => crate::netns::connect(ns, address).await?,
        None => TcpStream::connect(address).await?,
    };
    stream
        .write_all(format!("GET {path} HTTP/1.0\r\nHost: {address}\r\n\r\n").as_bytes())
        .await?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer).await?;
    match answer.split_once("\r\n\r\n") {
        Some((head, body))
            if head.starts_with("HTTP/1.1 200") || head.starts_with("HTTP/1.0 200") =>
        {
            Ok(body.to_owned())
        }
        _ => Err(std::io::Error::other(format!("GET {path}: {answer}"))),
    }
}

/// One scrape of a relay's `/metrics`: each sample by its name and labels as written, e.g.
/// `tern_relay_refused_total{reason="rate_limited"}`.
#[derive(Debug, Clone, Default)]
pub struct Metrics(BTreeMap<String, f64>);

impl Metrics {
    fn parse(text: &str) -> Self {
        Self(
            text.lines()
                .filter(|line| !line.starts_with('#'))
                .filter_map(|line| {
                    let (name, value) = line.rsplit_once(' ')?;
                    Some((name.to_owned(), value.parse().ok()?))
                })
                .collect(),
        )
    }

    /// The sample `name` (with its labels, if any), or 0 when the relay has not written it:
    /// a counter that never moved is absent from labelled families.
    pub fn get(&self, name: &str) -> f64 {
        self.0.get(name).copied().unwrap_or(0.0)
    }

    /// Every sample, for a failure message.
    pub fn samples(&self) -> &BTreeMap<String, f64> {
        &self.0
    }
}
