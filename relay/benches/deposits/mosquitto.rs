//! The baseline broker: Mosquitto doing the same store-and-forward job over MQTT.
//!
//! The job is the relay's: many senders publish 1 KiB messages with QoS 1 to one offline
//! recipient, whose persistent session (`clean_session = false`) holds them; the recipient then
//! connects and drains them, acknowledging each; finally the recipient stays connected and each
//! message is timed from publish to arrival.
//!
//! Durability, stated as it is: Mosquitto answers a QoS 1 publish (PUBACK) once the message is in
//! memory. With `persistence true` it writes a snapshot of its whole state to disk every
//! `autosave_interval` seconds (here 1, the shortest it offers) and at shutdown, so an
//! acknowledged message can be lost in a crash for up to a second and a snapshot's length. The
//! relay answers a deposit only after the envelope is synced to disk.
//!
//! Mosquitto has no setting that syncs a message before its PUBACK. The nearest,
//! [`Saving::EachChange`] (`autosave_on_changes true` with `autosave_interval 1`), saves the
//! whole state after every change: the broker's loop writes it to a new file, syncs and renames
//! it, after the PUBACKs of the publishes it has just read are written (seen with `strace`). A
//! crash can still lose an acknowledged message, and each save costs the whole state, so this
//! configuration runs on fewer messages.

use std::{
    net::{Ipv4Addr, TcpListener},
    os::unix::fs::MetadataExt,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use rumqttc::{AsyncClient, Event, EventLoop, MqttOptions, Packet, QoS};

use super::{Measured, WAIT, percentile};

/// Where Debian installs the broker; it is not on an unprivileged user's `PATH`.
const INSTALLED: &str = "/usr/sbin/mosquitto";
const TOPIC: &str = "mailbox/owner";
const OWNER: &str = "owner";

/// When the broker writes its state to disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Saving {
    /// A snapshot every second: `autosave_interval 1`.
    EverySecond,
    /// A snapshot after every change: `autosave_on_changes true`, `autosave_interval 1`.
    EachChange,
}

/// A Mosquitto process on a loopback port, killed when dropped.
pub(crate) struct Broker {
    child: Child,
    port: u16,
    dir: PathBuf,
    saving: Saving,
}

impl Drop for Broker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Broker {
    /// Starts Mosquitto with persistence in `dir`, saving as `saving` says, or says why it
    /// cannot.
    pub(crate) fn start(dir: &Path, saving: Saving) -> Result<Self, String> {
        let program = which().ok_or("mosquitto is not installed (apt-get install mosquitto)")?;
        std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
        let port = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .and_then(|l| l.local_addr())
            .map_err(|e| e.to_string())?
            .port();
        let config = dir.join("mosquitto.conf");
        std::fs::write(
            &config,
            format!(
                // `user root`: stay the user who started it (as root it would otherwise switch
                // to the `mosquitto` user, who cannot write to our private directory).
                "listener {port} 127.0.0.1\n\
                 user root\n\
                 allow_anonymous true\n\
                 persistence true\n\
                 persistence_location {}/\n\
                 autosave_interval 1\n\
                 autosave_on_changes {}\n\
                 max_queued_messages 0\n\
                 max_queued_bytes 0\n\
                 max_inflight_messages 0\n\
                 message_size_limit 0\n\
                 log_dest file {}/mosquitto.log\n\
                 log_type error\n\
                 log_type warning\n",
                dir.display(),
                saving == Saving::EachChange,
                dir.display()
            ),
        )
        .map_err(|e| e.to_string())?;
        let child = Command::new(program)
            .arg("-c")
            .arg(&config)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("mosquitto did not start: {e}"))?;
        Ok(Self {
            child,
            port,
            dir: dir.to_owned(),
            saving,
        })
    }

    fn options(&self, id: &str, clean: bool) -> MqttOptions {
        let mut options = MqttOptions::new(id, "127.0.0.1", self.port);
        options
            .set_clean_session(clean)
            .set_keep_alive(Duration::from_secs(60))
            .set_inflight(super::IN_FLIGHT_PER_SENDER as u16)
            .set_max_packet_size(64 * 1024, 64 * 1024);
        options
    }

    /// Connects `id`, retrying while the broker is still starting; returns once CONNACK is in.
    async fn connect(&self, id: &str, clean: bool, capacity: usize) -> (AsyncClient, EventLoop) {
        let give_up = Instant::now() + Duration::from_secs(20);
        loop {
            let (client, mut events) = AsyncClient::new(self.options(id, clean), capacity);
            match events.poll().await {
                Ok(Event::Incoming(Packet::ConnAck(_))) => return (client, events),
                Ok(other) => panic!("mosquitto answered {other:?} before CONNACK"),
                Err(_) if Instant::now() < give_up => {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                Err(e) => panic!("could not connect to mosquitto: {e}"),
            }
        }
    }

    /// The persistence file's size, once Mosquitto has written a snapshot that started after
    /// now (saving each change: once no snapshot has replaced it for 500 ms, since the broker
    /// saves nothing more while nothing changes).
    async fn snapshot_after_now(&self) -> u64 {
        let file = self.dir.join("mosquitto.db");
        let inode = || std::fs::metadata(&file).ok().map(|m| m.ino());
        let give_up = Instant::now() + Duration::from_secs(120);
        let log = || std::fs::read_to_string(self.dir.join("mosquitto.log")).unwrap_or_default();
        if self.saving == Saving::EachChange {
            let mut seen = inode();
            loop {
                assert!(
                    Instant::now() < give_up,
                    "mosquitto's snapshot did not settle; its log: {}",
                    log()
                );
                tokio::time::sleep(Duration::from_millis(500)).await;
                let now = inode();
                if now.is_some() && now == seen {
                    return std::fs::metadata(&file).map(|m| m.len()).unwrap_or(0);
                }
                seen = now;
            }
        }
        // A snapshot is written to a new file and renamed into place: each completed snapshot
        // is a new inode. The first change may be a snapshot begun before now; the second began
        // after the first ended.
        let mut seen = inode();
        let mut changes = 0;
        while changes < 2 {
            assert!(
                Instant::now() < give_up,
                "mosquitto wrote no snapshot; its log: {}",
                log()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
            let now = inode();
            if now.is_some() && now != seen {
                seen = now;
                changes += 1;
            }
        }
        std::fs::metadata(&file).map(|m| m.len()).unwrap_or(0)
    }
}

fn which() -> Option<PathBuf> {
    std::env::var_os("PATH")
        .into_iter()
        .flat_map(|paths| std::env::split_paths(&paths).collect::<Vec<_>>())
        .map(|dir| dir.join("mosquitto"))
        .chain([PathBuf::from(INSTALLED)])
        .find(|path| path.is_file())
}

/// Runs the relay's job against the broker; `senders` × `per_sender` messages of `size` bytes.
pub(crate) async fn run(
    broker: &Broker,
    senders: usize,
    per_sender: usize,
    size: usize,
) -> Measured {
    // The recipient subscribes once, then goes offline; its session keeps what arrives.
    {
        let (owner, mut events) = broker.connect(OWNER, false, 16).await;
        owner
            .subscribe(TOPIC, QoS::AtLeastOnce)
            .await
            .expect("subscribe");
        loop {
            if let Event::Incoming(Packet::SubAck(_)) = events.poll().await.expect("suback") {
                break;
            }
        }
        owner.disconnect().await.expect("disconnect");
        while events.poll().await.is_ok() {}
    }

    let mut tasks = tokio::task::JoinSet::new();
    let started = Instant::now();
    for sender in 0..senders {
        let (client, mut events) = broker
            .connect(&format!("sender-{sender}"), true, per_sender + 1)
            .await;
        tasks.spawn(async move {
            let payload = vec![0x5a; size];
            // The event loop ends when every handle is gone: `client` stays until all are acked.
            let publisher = client.clone();
            tokio::spawn(async move {
                for _ in 0..per_sender {
                    publisher
                        .publish(TOPIC, QoS::AtLeastOnce, false, payload.clone())
                        .await
                        .expect("publish");
                }
            });
            let mut acked = 0;
            while acked < per_sender {
                match tokio::time::timeout(WAIT, events.poll()).await {
                    Ok(Ok(Event::Incoming(Packet::PubAck(_)))) => acked += 1,
                    Ok(Ok(_)) => {}
                    Ok(Err(e)) => panic!("publisher lost its connection: {e}"),
                    Err(_) => panic!("publisher waited {WAIT:?} for PUBACKs"),
                }
            }
            drop(client);
            acked
        });
    }
    let mut stored = 0;
    while let Some(acked) = tasks.join_next().await {
        stored += acked.expect("publisher");
    }
    let deposit_time = started.elapsed();
    let on_disk = broker.snapshot_after_now().await;

    // The recipient comes back and drains its session, acknowledging each message.
    let started = Instant::now();
    let (_owner, mut events) = broker.connect(OWNER, false, 16).await;
    let mut drained = 0;
    while drained < stored {
        match tokio::time::timeout(WAIT, events.poll()).await {
            Ok(Ok(Event::Incoming(Packet::Publish(_)))) => drained += 1,
            Ok(Ok(_)) => {}
            Ok(Err(e)) => panic!("recipient lost its connection: {e}"),
            Err(_) => panic!("recipient got {drained} of {stored} queued messages"),
        }
    }
    let drain_time = started.elapsed();

    // Latency: the recipient is online; each message is timed from publish to arrival.
    let (sender, mut sender_events) = broker.connect("latency", true, 16).await;
    let payload = vec![0x5a; size];
    let mut latencies = Vec::new();
    for _ in 0..200 {
        let at = Instant::now();
        sender
            .publish(TOPIC, QoS::AtLeastOnce, false, payload.clone())
            .await
            .expect("publish");
        loop {
            tokio::select! {
                event = events.poll() => if let Event::Incoming(Packet::Publish(_)) = event.expect("recipient") {
                    break;
                },
                event = sender_events.poll() => { event.expect("sender"); }
            }
        }
        latencies.push(at.elapsed());
    }
    latencies.sort();

    Measured {
        deposits_per_sec: stored as f64 / deposit_time.as_secs_f64(),
        bytes_per_message: on_disk as f64 / stored.max(1) as f64,
        drained_per_sec: drained as f64 / drain_time.as_secs_f64(),
        p50: percentile(&latencies, 0.5),
        p99: percentile(&latencies, 0.99),
    }
}
