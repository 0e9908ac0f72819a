//! A file through one relay: the recipient is offline, so the sender leaves a copy at the
//! recipient's relay; the sender goes away, the recipient comes back and fetches the file from
//! the relay alone, every 16 KiB group verified and journaled. A raw loopback TCP copy of the
//! same number of bytes runs in the same process as the baseline.
//!
//! Measures, in one run:
//! - **upload**: from `send_attachment` returning (the file encrypted and stored, the message
//!   durable) until the relay has signed custody of the copy;
//! - **fetch**: from `fetch_attachment` until the file is verified and complete, from the relay;
//! - **raw TCP**: the same bytes over a loopback socket, 64 KiB writes, read to the end.
//!
//! Run: `cargo bench -p tern-relay --bench files` (100 MB; `-- --mb N` for another size).
//! Without `--bench` (a `cargo test --benches` run) it moves 4 MB.

#![allow(clippy::print_stdout, reason = "a benchmark program reports on stdout")]

use std::{
    path::Path,
    time::{Duration, Instant},
};

use futures::StreamExt;
use tern_node::{AttachmentState, DeliveryState, Event, Node, OutgoingFile};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const WAIT: Duration = Duration::from_secs(600);

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let full = args.iter().any(|a| a == "--bench");
    let mb: u64 = args
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

async fn node(dir: &Path, relay: &str) -> Node {
    tern_node::test_utils::builder(dir)
        .with_relay(relay.to_owned())
        .with_auto_download(0)
        .spawn()
        .await
        .expect("node starts")
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

/// Writes `len` pseudo-random bytes to `path`, so the file is not in this process's memory.
fn write_file(path: &Path, len: u64) {
    use std::io::Write;
    let mut out = std::io::BufWriter::new(std::fs::File::create(path).expect("create"));
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
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

async fn run(len: u64) {
    let dirs: Vec<tempfile::TempDir> = (0..4).map(|_| tempfile::tempdir().expect("tmp")).collect();
    let relay = tern_relay::Relay::spawn(
        tern_relay::Config::new(dirs[0].path()).with_listen_addr("/ip4/127.0.0.1/tcp/0"),
    )
    .await
    .expect("relay starts");
    let address = relay.addresses().await[0].clone();
    let alice = node(dirs[1].path(), &address).await;
    let bob = node(dirs[2].path(), &address).await;
    let (a, b) = (alice.user_id(), bob.user_id());
    alice.add_contact("bob", b).await.expect("contact");
    bob.add_contact("alice", a).await.expect("contact");
    let mut alice_events = alice.events(tern_node::From::Now);
    let hello = alice.send(b, "hi").await.expect("send");
    until(&mut alice_events, |e| match e {
        Event::DeliveryStateChanged {
            id,
            state: DeliveryState::Delivered,
            ..
        } if *id == hello => Some(()),
        _ => None,
    })
    .await;
    bob.shutdown().await;

    let path = dirs[3].path().join("file.bin");
    write_file(&path, len);
    let tcp = raw_tcp(len).await;

    let started = Instant::now();
    let id = alice
        .send_attachment(b, OutgoingFile::from_path(&path), "")
        .await
        .expect("send the file");
    let send = started.elapsed();
    let started = Instant::now();
    tokio::time::timeout(WAIT, async {
        while relay.metrics().await.blobs.uploads == 0 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await
    .expect("the relay signed custody in time");
    let upload = started.elapsed();
    alice.shutdown().await;

    let bob = node(dirs[2].path(), &address).await;
    let mut bob_events = bob.events(tern_node::From::Oldest);
    until(&mut bob_events, |e| {
        matches!(e, Event::MessageReceived(m) if m.id == id).then_some(())
    })
    .await;
    let started = Instant::now();
    bob.fetch_attachment(a, id).await.expect("fetch");
    let end = until(&mut bob_events, |e| match e {
        Event::AttachmentChanged { id: i, state, .. } if *i == id => {
            (*state != AttachmentState::Fetching).then(|| state.clone())
        }
        _ => None,
    })
    .await;
    let fetch = started.elapsed();
    assert_eq!(end, AttachmentState::Ready, "the file arrived whole");
    assert!(
        relay.metrics().await.blobs.gets >= 1,
        "it came from the relay"
    );

    let mb = len as f64 / 1e6;
    let rate = |d: Duration| mb / d.as_secs_f64();
    println!("file: {mb:.0} MB through one relay on loopback TCP, every write synced");
    println!(
        "send (encrypt, hash, store, message durable): {:.2} s, {:.0} MB/s",
        send.as_secs_f64(),
        rate(send)
    );
    println!(
        "upload to the relay (verified, synced, signed): {:.2} s, {:.0} MB/s",
        upload.as_secs_f64(),
        rate(upload)
    );
    println!(
        "fetch from the relay (verified, journaled):   {:.2} s, {:.0} MB/s",
        fetch.as_secs_f64(),
        rate(fetch)
    );
    println!(
        "raw TCP copy, same bytes, same run:           {:.3} s, {:.0} MB/s",
        tcp.as_secs_f64(),
        rate(tcp)
    );
    println!(
        "fetch through the relay / raw TCP: {:.3}x",
        tcp.as_secs_f64() / fetch.as_secs_f64()
    );
    println!(
        "upload and fetch / raw TCP: {:.3}x",
        tcp.as_secs_f64() / (upload + fetch).as_secs_f64()
    );
    bob.shutdown().await;
    relay.shutdown().await;
}
