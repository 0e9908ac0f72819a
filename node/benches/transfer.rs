//! What moving a file costs: two real nodes over loopback TCP, the file fetched over
//! `/tern/blob/1` with every 16 KiB group verified and journaled, against a raw TCP copy of
//! the same number of bytes in the same run.
//!
//! Measures, in one run:
//! - **send**: `send_attachment` from a file on disk (encrypt, hash, store, message durable);
//! - **fetch**: from `fetch_attachment` to the file verified and complete on the receiver;
//! - **raw TCP**: the same bytes over a loopback socket, 64 KiB writes, read to the end;
//! - **bare libp2p stream**: the same bytes over one libp2p stream between two bare swarms
//!   built like the nodes' (TCP, Noise, Yamux with its defaults), no protocol on top; and the
//!   same over QUIC (the nodes' other transport), to decide which one files should prefer;
//! - **peak RSS growth** of the process while the file moves (both nodes live in it).
//!
//! Run: `cargo bench -p tern-node --bench transfer` (100 MB; `-- --mb N` for another size).

#![allow(clippy::print_stdout, reason = "a benchmark program reports on stdout")]

use std::time::{Duration, Instant};

use futures::StreamExt;
use tern_node::{AttachmentState, Event, Node, OutgoingFile};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const WAIT: Duration = Duration::from_secs(600);

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let full = args.iter().any(|a| a == "--bench");
    let mb = args
        .iter()
        .position(|a| a == "--mb")
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(if full { 100 } else { 4 });
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");
    runtime.block_on(run(mb * 1_000_000));
}

async fn start(dir: &std::path::Path, bootstrap: &[String], auto: u64) -> Node {
    let mut builder = tern_node::test_utils::builder(dir).with_auto_download(auto);
    for address in bootstrap {
        builder = builder.with_bootstrap(address.clone());
    }
    builder.spawn().await.expect("node starts")
}

async fn until<T>(
    events: &mut tern_node::EventStream,
    mut pick: impl FnMut(&Event) -> Option<T>,
) -> T {
    tokio::time::timeout(WAIT, async {
        loop {
            let (_, event) = events.next().await.expect("event stream open");
            if let Some(found) = pick(&event) {
                return found;
            }
        }
    })
    .await
    .expect("the event came in time")
}

/// A 16 MB video: a player's first range.
const VIDEO_LEN: u64 = 16_000_000;

/// Writes `len` pseudo-random bytes to `path`.
fn write_file(path: &std::path::Path, len: u64) {
    use std::io::Write;
    let mut out = std::io::BufWriter::new(std::fs::File::create(path).expect("create"));
    let mut state = 0x9e37_79b9_7f4a_7c15u64 ^ len;
    let mut block = vec![0u8; 1 << 20];
    let mut written = 0u64;
    while written < len {
        for byte in &mut block {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            *byte = state as u8;
        }
        let n = block
            .len()
            .min(usize::try_from(len - written).unwrap_or(usize::MAX));
        out.write_all(&block[..n]).expect("write");
        written += n as u64;
    }
}

/// Sends the video at `path` from Alice to Bob, and has Bob play it: from `fetch_attachment`
/// until its first 64 KiB verified and were read through `open_attachment_range`, and until
/// the whole file is complete.
async fn first_verified_byte(
    alice: &Node,
    bob: &Node,
    path: &std::path::Path,
) -> (Duration, Duration) {
    use std::io::Read;
    let (a, b) = (alice.user_id(), bob.user_id());
    let mut events = bob.events(tern_node::From::Now);
    let file = OutgoingFile::from_path(path).with_kind(tern_node::AttachmentKind::Video);
    let id = alice
        .send_attachment(b, file, "")
        .await
        .expect("send the video");
    until(&mut events, |e| {
        matches!(e, Event::MessageReceived(m) if m.id == id).then_some(())
    })
    .await;
    let started = Instant::now();
    bob.fetch_attachment(a, id).await.expect("fetch");
    let first = loop {
        match bob.open_attachment_range(a, id, 0..65_536).await {
            Ok(mut reader) => {
                let mut head = Vec::new();
                reader.read_to_end(&mut head).expect("read");
                assert_eq!(head.len(), 65_536);
                break started.elapsed();
            }
            Err(tern_node::AttachmentError::NotReady) => {
                until(&mut events, |e| match e {
                    Event::AttachmentProgress { id: i, .. }
                    | Event::AttachmentChanged { id: i, .. }
                        if *i == id =>
                    {
                        Some(())
                    }
                    _ => None,
                })
                .await;
            }
            Err(e) => panic!("the range did not open: {e}"),
        }
    };
    if bob.open_attachment(a, id).await.is_err() {
        until(&mut events, |e| match e {
            Event::AttachmentChanged { id: i, state, .. } if *i == id => {
                (*state != AttachmentState::Fetching).then_some(())
            }
            _ => None,
        })
        .await;
    }
    (first, started.elapsed())
}

/// The process's peak resident set so far (`VmHWM`), in bytes.
fn peak_rss() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
        })
        .map_or(0, |kib| kib * 1024)
}

/// Copies `len` bytes over a loopback TCP socket; returns the time it took.
async fn raw_tcp(len: u64) -> Duration {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let address = listener.local_addr().expect("address");
    let receiver = tokio::spawn(async move {
        let (mut socket, _) = listener.accept().await.expect("accept");
        let mut buf = vec![0u8; 64 * 1024];
        let mut got = 0u64;
        loop {
            let n = socket.read(&mut buf).await.expect("read");
            if n == 0 {
                return got;
            }
            got += n as u64;
        }
    });
    let started = Instant::now();
    let mut socket = tokio::net::TcpStream::connect(address)
        .await
        .expect("connect");
    let chunk = vec![7u8; 64 * 1024];
    let mut sent = 0u64;
    while sent < len {
        let n = chunk
            .len()
            .min(usize::try_from(len - sent).unwrap_or(usize::MAX));
        socket.write_all(&chunk[..n]).await.expect("write");
        sent += n as u64;
    }
    socket.shutdown().await.expect("shutdown");
    assert_eq!(receiver.await.expect("receiver"), len);
    started.elapsed()
}

/// Copies `len` bytes over one libp2p stream between two swarms built as the nodes' are, with
/// nothing on top (no framing, no verification, no disk); returns the time from opening the
/// stream to the last byte read.
async fn bare_stream(len: u64, listen: &str) -> Duration {
    use libp2p::{Swarm, multiaddr::Protocol, swarm::SwarmEvent};
    const PROTOCOL: libp2p::StreamProtocol = libp2p::StreamProtocol::new("/tern/bench/1");
    let make = || -> Swarm<libp2p_stream::Behaviour> {
        tern_proto::swarm::build(
            libp2p::identity::Keypair::generate_ed25519(),
            Duration::from_secs(60),
            |_| Ok(libp2p_stream::Behaviour::new()),
        )
        .expect("swarm")
    };
    let (mut server, mut client) = (make(), make());
    server
        .listen_on(listen.parse().expect("address"))
        .expect("listen");
    let address = loop {
        if let SwarmEvent::NewListenAddr { address, .. } = server.select_next_some().await {
            break address;
        }
    };
    let server_peer = *server.local_peer_id();
    let mut incoming = server
        .behaviour()
        .new_control()
        .accept(PROTOCOL)
        .expect("accept");
    let mut control = client.behaviour().new_control();
    client
        .dial(address.with(Protocol::P2p(server_peer)))
        .expect("dial");
    let swarms = [
        tokio::spawn(async move {
            loop {
                server.select_next_some().await;
            }
        }),
        tokio::spawn(async move {
            loop {
                client.select_next_some().await;
            }
        }),
    ];
    let receiver = tokio::spawn(async move {
        use futures::AsyncReadExt;
        let (_, mut stream) = incoming.next().await.expect("a stream");
        let mut buf = vec![0u8; 64 * 1024];
        let mut got = 0u64;
        loop {
            let n = stream.read(&mut buf).await.expect("read");
            if n == 0 {
                return got;
            }
            got += n as u64;
        }
    });
    let started = Instant::now();
    let mut stream = control
        .open_stream(server_peer, PROTOCOL)
        .await
        .expect("open a stream");
    {
        use futures::AsyncWriteExt;
        let chunk = vec![7u8; 64 * 1024];
        let mut sent = 0u64;
        while sent < len {
            let n = chunk
                .len()
                .min(usize::try_from(len - sent).unwrap_or(usize::MAX));
            stream.write_all(&chunk[..n]).await.expect("write");
            sent += n as u64;
        }
        stream.close().await.expect("close");
    }
    assert_eq!(receiver.await.expect("receiver"), len);
    let elapsed = started.elapsed();
    for swarm in swarms {
        swarm.abort();
    }
    elapsed
}

async fn run(len: u64) {
    let dirs: Vec<tempfile::TempDir> = (0..4).map(|_| tempfile::tempdir().expect("tmp")).collect();
    let bootstrap = start(dirs[0].path(), &[], 0).await;
    let seed = bootstrap.addresses().await;
    let alice = start(dirs[1].path(), &seed, 0).await;
    let bob = start(dirs[2].path(), &seed, 0).await;
    let (a, b) = (alice.user_id(), bob.user_id());
    alice.add_contact("bob", b).await.expect("contact");
    bob.add_contact("alice", a).await.expect("contact");
    let mut bob_events = bob.events(tern_node::From::Now);
    alice.send(b, "hi").await.expect("send");
    until(&mut bob_events, |e| {
        matches!(e, Event::MessageReceived(m) if m.text == "hi").then_some(())
    })
    .await;

    // The file, on disk, so that it is not in this process's memory.
    let path = dirs[3].path().join("file.bin");
    write_file(&path, len);

    let tcp = raw_tcp(len).await;
    let bare = bare_stream(len, "/ip4/127.0.0.1/tcp/0").await;
    let bare_quic = bare_stream(len, "/ip4/127.0.0.1/udp/0/quic-v1").await;
    let rss_before = peak_rss();
    let started = Instant::now();
    let id = alice
        .send_attachment(b, OutgoingFile::from_path(&path), "")
        .await
        .expect("send the file");
    let send = started.elapsed();
    until(&mut bob_events, |e| {
        matches!(e, Event::MessageReceived(m) if m.id == id).then_some(())
    })
    .await;
    let started = Instant::now();
    bob.fetch_attachment(a, id).await.expect("fetch");
    until(&mut bob_events, |e| match e {
        Event::AttachmentChanged { id: i, state, .. } if *i == id => {
            (*state != AttachmentState::Fetching).then(|| state.clone())
        }
        _ => None,
    })
    .await;
    let fetch = started.elapsed();
    let rss_growth = peak_rss().saturating_sub(rss_before);

    let video = dirs[3].path().join("video.mp4");
    write_file(&video, VIDEO_LEN);
    let (first_byte, video_whole) = first_verified_byte(&alice, &bob, &video).await;

    let mb = len as f64 / 1e6;
    let rate = |d: Duration| mb / d.as_secs_f64();
    println!("file: {mb:.0} MB, two nodes on loopback TCP, every write synced");
    println!(
        "send (encrypt, hash, store, message durable): {:.2} s, {:.0} MB/s",
        send.as_secs_f64(),
        rate(send)
    );
    println!(
        "fetch (verified, journaled, complete):        {:.2} s, {:.0} MB/s",
        fetch.as_secs_f64(),
        rate(fetch)
    );
    println!(
        "raw TCP copy, same bytes, same run:           {:.3} s, {:.0} MB/s",
        tcp.as_secs_f64(),
        rate(tcp)
    );
    println!(
        "bare libp2p stream, same bytes, same run:     {:.3} s, {:.0} MB/s",
        bare.as_secs_f64(),
        rate(bare)
    );
    println!(
        "bare libp2p stream over QUIC, same bytes:     {:.3} s, {:.0} MB/s",
        bare_quic.as_secs_f64(),
        rate(bare_quic)
    );
    println!(
        "fetch / raw TCP: {:.3}x",
        tcp.as_secs_f64() / fetch.as_secs_f64()
    );
    println!(
        "fetch / bare libp2p stream: {:.3}x",
        bare.as_secs_f64() / fetch.as_secs_f64()
    );
    println!(
        "peak RSS growth while sending and fetching: {:.1} MiB",
        rss_growth as f64 / (1024.0 * 1024.0)
    );
    println!(
        "16 MB video, fetch to its first 64 KiB verified and read: {:.1} ms (whole file: {:.1} ms)",
        first_byte.as_secs_f64() * 1e3,
        video_whole.as_secs_f64() * 1e3
    );
    for node in [alice, bob, bootstrap] {
        node.shutdown().await;
    }
}
