//! Real networks on one machine: Linux network namespaces joined by veth pairs, with routers
//! that translate addresses (nftables) and links that delay and lose packets
//! ([`Lab::impair`]).
//!
//! A [`Lab`] owns the namespaces it made and deletes them when dropped, whatever the test
//! did: their interfaces, routes and NAT tables go with them. Processes run inside a
//! namespace through `ip netns exec`; the test itself reaches a daemon's loopback-only API
//! with a socket made inside that namespace ([`connect`]), which stays there after the thread
//! that made it leaves.
//!
//! Only documentation ranges (192.0.2.0/24, 198.51.100.0/24, 203.0.113.0/24) are given out,
//! and nothing is routed out of the namespaces the lab made.

use std::{
    collections::VecDeque,
    ffi::OsStr,
    os::fd::AsFd,
    path::{Path, PathBuf},
    process::Stdio,
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicU16, Ordering},
    },
    time::{Duration, Instant},
};

use tokio::process::Command;

/// Where `ip netns` keeps its namespaces.
const NETNS_DIR: &str = "/var/run/netns";

/// A set of network namespaces made for one test, deleted when dropped.
#[derive(Debug)]
pub struct Lab {
    prefix: String,
    made: Vec<String>,
}

impl Lab {
    /// A lab whose namespaces are named `<tag><pid>-…`, or `None` where this process may not
    /// make namespaces (not root, no `ip`, no `nft`), after saying so loudly.
    ///
    /// # Panics
    ///
    /// Where it cannot while `TERN_PRIVILEGED_TESTS` is set (CI sets it when it runs as
    /// root): there a skipped test would hide a failure.
    pub fn new(tag: &str) -> Option<Self> {
        let lab = Self {
            prefix: format!("{tag}{}", std::process::id()),
            made: Vec::new(),
        };
        let probe = format!("{}-probe", lab.prefix);
        let works = run_ok("ip", ["netns", "add", probe.as_str()]).is_ok()
            && run_ok("ip", ["netns", "del", probe.as_str()]).is_ok()
            && run_ok("nft", ["--version"]).is_ok()
            && run_ok("iptables", ["--version"]).is_ok();
        if works {
            return Some(lab);
        }
        let why = "cannot make network namespaces with nftables: this test needs root, \
                   iproute2, nftables and iptables";
        assert!(
            std::env::var_os("TERN_PRIVILEGED_TESTS").is_none(),
            "{why}, and TERN_PRIVILEGED_TESTS is set"
        );
        #[allow(clippy::print_stderr, reason = "a skipped test must say so loudly")]
        {
            eprintln!("SKIPPED: {why}");
        }
        None
    }

    /// Makes the namespace `<prefix>-<name>` with its loopback up, and returns its name.
    ///
    /// # Panics
    ///
    /// If it cannot.
    pub fn namespace(&mut self, name: &str) -> String {
        let ns = format!("{}-{name}", self.prefix);
        must("ip", ["netns", "add", ns.as_str()]);
        self.made.push(ns.clone());
        self.ip(&ns, "link set lo up");
        ns
    }

    /// `ip -n <ns> ARGS` (words split on spaces).
    ///
    /// # Panics
    ///
    /// If it fails.
    pub fn ip(&self, ns: &str, args: &str) {
        let mut all = vec!["-n", ns];
        all.extend(args.split_whitespace());
        must("ip", all);
    }

    /// `ip netns exec <ns> PROGRAM ARGS` to completion (words split on spaces).
    ///
    /// # Panics
    ///
    /// If it fails.
    pub fn exec(&self, ns: &str, program: &str, args: &str) {
        let mut all = vec!["netns", "exec", ns, program];
        all.extend(args.split_whitespace());
        must("ip", all);
    }

    /// Loads an nftables ruleset (in `nft -f` syntax) into `ns`.
    ///
    /// # Panics
    ///
    /// If `nft` refuses it.
    pub fn nft(&self, ns: &str, ruleset: &str) {
        let file = tempfile::NamedTempFile::new().expect("a ruleset file");
        std::fs::write(file.path(), ruleset).expect("the ruleset written");
        let path = file.path().to_string_lossy().into_owned();
        must("ip", ["netns", "exec", ns, "nft", "-f", path.as_str()]);
    }

    /// A veth pair: `a_name` in `a`, `b_name` in `b`, both up, without addresses.
    ///
    /// # Panics
    ///
    /// If it cannot be made.
    pub fn link(&self, a: &str, a_name: &str, b: &str, b_name: &str) {
        must(
            "ip",
            [
                "link", "add", a_name, "netns", a, "type", "veth", "peer", "name", b_name, "netns",
                b,
            ],
        );
        self.ip(a, &format!("link set {a_name} up"));
        self.ip(b, &format!("link set {b_name} up"));
    }

    /// Makes the link behind `device` of the router `ns` slow and lossy: every packet the
    /// router forwards in or out through `device` waits `delay`, and `loss_percent` of them
    /// are dropped, in each direction.
    ///
    /// `tc netem` would do this, but kernels built without it (as on some CI machines) are
    /// common, so the delay is made here: the router queues those packets to this process
    /// (netfilter's NFQUEUE), which lets each through once it has waited. The impairment
    /// lasts until the returned guard is dropped.
    ///
    /// # Panics
    ///
    /// If the rules cannot be loaded or the queue bound.
    pub fn impair(&self, ns: &str, device: &str, delay: Duration, loss_percent: u8) -> Impairment {
        let queue = QUEUES.fetch_add(1, Ordering::Relaxed);
        let probability = f64::from(loss_percent) / 100.0;
        for direction in ["-i", "-o"] {
            self.exec(
                ns,
                "iptables",
                &format!(
                    "-t mangle -A FORWARD {direction} {device} -m statistic --mode random \
                     --probability {probability} -j DROP"
                ),
            );
            self.exec(
                ns,
                "iptables",
                &format!(
                    "-t mangle -A FORWARD {direction} {device} -j NFQUEUE --queue-num {queue} \
                     --queue-bypass"
                ),
            );
        }
        Impairment::start(Path::new(NETNS_DIR).join(ns), queue, delay)
    }
}

/// Queue numbers given out, one per impaired link (they are per namespace, but unique ones
/// make a router's rules easier to read).
static QUEUES: AtomicU16 = AtomicU16::new(1);

/// A link made slow and lossy by [`Lab::impair`]: the thread that holds its packets.
#[derive(Debug)]
pub struct Impairment {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Impairment {
    fn start(netns: PathBuf, queue_num: u16, delay: Duration) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let (ready, bound) = std::sync::mpsc::channel();
        let stopping = stop.clone();
        let thread = std::thread::spawn(move || {
            let mut queue = match bind_queue(&netns, queue_num) {
                Ok(queue) => {
                    let _ = ready.send(Ok(()));
                    queue
                }
                Err(e) => {
                    let _ = ready.send(Err(e));
                    return;
                }
            };
            let mut held: VecDeque<(Instant, nfq::Message)> = VecDeque::new();
            while !stopping.load(Ordering::Relaxed) {
                match queue.recv() {
                    Ok(message) => held.push_back((Instant::now() + delay, message)),
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                        std::thread::sleep(Duration::from_millis(1));
                    }
                    // A burst the socket could not take: those packets are lost, as on a
                    // congested link; the queue goes on.
                    Err(_) => {}
                }
                while held.front().is_some_and(|(due, _)| *due <= Instant::now()) {
                    if let Some((_, mut message)) = held.pop_front() {
                        message.set_verdict(nfq::Verdict::Accept);
                        let _ = queue.verdict(message);
                    }
                }
            }
            for (_, mut message) in held {
                message.set_verdict(nfq::Verdict::Accept);
                let _ = queue.verdict(message);
            }
        });
        bound
            .recv()
            .expect("the impairment thread answers")
            .expect("the packet queue bound");
        Self {
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for Impairment {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Binds netfilter queue `queue_num` of the namespace at `netns`, from this thread (which
/// enters that namespace for good: the queue's socket belongs to it).
fn bind_queue(netns: &Path, queue_num: u16) -> std::io::Result<nfq::Queue> {
    enter(netns)?;
    let mut queue = nfq::Queue::open()?;
    queue.bind(queue_num)?;
    // Only the verdict matters here, not the bytes.
    queue.set_copy_range(queue_num, 64)?;
    queue.set_queue_max_len(queue_num, 16 * 1024)?;
    // Should this thread stall, packets pass rather than vanish.
    queue.set_fail_open(queue_num, true)?;
    queue.set_nonblocking(true);
    Ok(queue)
}

/// Moves the calling thread into the network namespace at `netns`.
fn enter(netns: &Path) -> std::io::Result<()> {
    let file = std::fs::File::open(netns)?;
    rustix::thread::move_into_link_name_space(
        file.as_fd(),
        Some(rustix::thread::LinkNameSpaceType::Network),
    )?;
    Ok(())
}

impl Drop for Lab {
    fn drop(&mut self) {
        for ns in self.made.iter().rev() {
            // Processes still inside keep a namespace alive until they exit; deleting the
            // name is all that is needed here, and the harness kills its processes on drop.
            let _ = std::process::Command::new("ip")
                .args(["netns", "del", ns])
                .stderr(Stdio::null())
                .status();
        }
    }
}

/// `PROGRAM` to be run inside `ns` (through `ip netns exec`), or as is without one.
pub fn command(ns: Option<&str>, program: impl AsRef<OsStr>) -> Command {
    match ns {
        Some(ns) => {
            let mut command = Command::new("ip");
            command.args(["netns", "exec", ns]).arg(program);
            command
        }
        None => Command::new(program),
    }
}

/// A TCP connection to `address` made inside `ns`: the socket belongs to that namespace's
/// network stack, so a daemon's loopback API there is reachable from the test.
///
/// # Errors
///
/// If the namespace cannot be entered or the connection is refused.
pub async fn connect(ns: &str, address: &str) -> std::io::Result<tokio::net::TcpStream> {
    let path: PathBuf = Path::new(NETNS_DIR).join(ns);
    let address = address.to_owned();
    // A thread of its own: entering a namespace changes the calling thread for good.
    let stream = std::thread::spawn(move || -> std::io::Result<std::net::TcpStream> {
        enter(&path)?;
        let stream = std::net::TcpStream::connect(&address)?;
        stream.set_nonblocking(true)?;
        Ok(stream)
    })
    .join()
    .map_err(|_| std::io::Error::other("the namespace thread panicked"))??;
    tokio::net::TcpStream::from_std(stream)
}

fn run_ok<I, S>(program: &str, args: I) -> Result<(), String>
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let output = std::process::Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("{program}: {e}"))?;
    if output.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{program}: {}",
            String::from_utf8_lossy(&output.stderr).trim()
        ))
    }
}

#[allow(clippy::panic, reason = "a test harness")]
fn must<I, S>(program: &str, args: I)
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let args: Vec<_> = args.into_iter().map(|a| a.as_ref().to_owned()).collect();
    if let Err(e) = run_ok(program, &args) {
        panic!("{program} {args:?}: {e}");
    }
}
