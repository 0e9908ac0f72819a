//! OpenSSL's X25519 as the baseline for the crate's, measured in the same run.
//!
//! The goal for X25519 is a ratio: one operation may take at most 1.5× what
//! `openssl speed ecdhx25519` reports on the same machine. Absolute times on the shared
//! benchmark machine move with its load by 2× and more, so the two are measured back to back
//! in one run, each for [`SECONDS`], and the report prints both and the ratio:
//!
//! - **tern**: what `primitives::x25519` does for every Diffie-Hellman (load the secret key
//!   into AWS-LC, then agree), through the same library calls;
//! - **x25519-dalek**: the implementation the crate used before, for the before/after ratio;
//! - **openssl**: `openssl speed -seconds 2 ecdhx25519`, its ops/s parsed from the last column
//!   of its X25519 line. The measurement is skipped, saying so, when `openssl` is not on the
//!   `PATH` or its output cannot be read.
//!
//! It runs after the criterion benchmarks, under `cargo bench` only (not in the one-shot test
//! mode of `cargo test --benches`), and only when no filter is given or the filter names
//! `x25519` or `openssl`.

use std::{
    hint::black_box,
    process::Command,
    time::{Duration, Instant},
};

use aws_lc_rs::agreement;

/// How long each implementation runs. `openssl speed` counts operations for a fixed time, so
/// ours are measured the same way over the same span, which evens out the machine's noise
/// about as much for both.
const SECONDS: u64 = 2;

/// Whether this invocation should measure the baseline (see the module comment).
pub(crate) fn wanted(args: &[String]) -> bool {
    if !args.iter().any(|a| a == "--bench") {
        return false;
    }
    let mut filters = args
        .iter()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .peekable();
    filters.peek().is_none() || filters.any(|f| f.contains("x25519") || f.contains("openssl"))
}

/// Measures and prints the three figures and the ratios.
#[allow(clippy::print_stdout, reason = "the report is the benchmark's output")]
pub(crate) fn report() {
    let secret = [0x42; 32];
    let public = x25519_dalek::x25519([0x24; 32], x25519_dalek::X25519_BASEPOINT_BYTES);

    println!("\nX25519, one operation; each measured for {SECONDS} s, back to back:");
    let ours = per_op(|| tern_x25519(black_box(&secret), &public));
    println!(
        "  tern (AWS-LC, as primitives::x25519)  {:>8.2} µs",
        micros(ours)
    );
    let dalek = per_op(|| x25519_dalek::x25519(black_box(secret), public));
    println!(
        "  x25519-dalek (before)                 {:>8.2} µs",
        micros(dalek)
    );
    let openssl = match openssl_per_op() {
        Ok(openssl) => openssl,
        Err(why) => {
            println!("  openssl: skipped, {why}");
            return;
        }
    };
    println!(
        "  openssl speed ecdhx25519              {:>8.2} µs",
        micros(openssl)
    );
    println!(
        "  ratio to openssl: tern {:.2}× (goal ≤ 1.5×), x25519-dalek {:.2}×",
        ours.as_secs_f64() / openssl.as_secs_f64(),
        dalek.as_secs_f64() / openssl.as_secs_f64(),
    );
}

/// The calls `primitives::x25519` makes (which is crate-private).
fn tern_x25519(secret: &[u8; 32], public: &[u8; 32]) -> [u8; 32] {
    let secret =
        agreement::PrivateKey::from_private_key(&agreement::X25519, secret).expect("a 32-byte key");
    let peer = agreement::UnparsedPublicKey::new(&agreement::X25519, public);
    agreement::agree(&secret, peer, (), |shared| {
        let mut out = [0; 32];
        out.copy_from_slice(shared);
        Ok(out)
    })
    .expect("the public key is not of low order")
}

/// The mean time of one call of `op`, run repeatedly for [`SECONDS`].
fn per_op<T>(mut op: impl FnMut() -> T) -> Duration {
    let span = Duration::from_secs(SECONDS);
    let start = Instant::now();
    let mut ops = 0u32;
    while start.elapsed() < span {
        // Reading the clock costs far less than an operation, but checking it every few calls
        // keeps it out of the figure altogether.
        for _ in 0..16 {
            black_box(op());
        }
        ops += 16;
    }
    start.elapsed() / ops
}

/// Runs `openssl speed` and returns its time per X25519 operation.
fn openssl_per_op() -> Result<Duration, String> {
    let output = Command::new("openssl")
        .args(["speed", "-seconds", &SECONDS.to_string(), "ecdhx25519"])
        .output()
        .map_err(|e| format!("could not run openssl ({e}); install it to get the baseline"))?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    let ops_per_sec = parse_ops_per_sec(&stdout)
        .ok_or_else(|| format!("no X25519 figure in openssl's output:\n{stdout}"))?;
    Ok(Duration::from_secs_f64(1.0 / ops_per_sec))
}

/// The ops/s column of `openssl speed ecdhx25519`'s result line, which reads (OpenSSL 1.1
/// and 3.x) ` 253 bits ecdh (X25519)   0.0000s  30082.5`.
fn parse_ops_per_sec(output: &str) -> Option<f64> {
    output
        .lines()
        .filter(|line| line.contains("(X25519)"))
        .find_map(|line| line.split_whitespace().last()?.parse().ok())
        .filter(|&ops: &f64| ops > 0.0)
}

fn micros(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}
