//! The command line of a benchmark program: `--bench` (a full run; without it, as in
//! `cargo test --benches`, a short one) and `--name N` options.

/// The arguments the program was started with.
pub(crate) struct Args(Vec<String>);

impl Args {
    pub(crate) fn from_env() -> Self {
        Self(std::env::args().collect())
    }

    /// Whether this is a full run (`--bench`, as `cargo bench` passes).
    pub(crate) fn full(&self) -> bool {
        self.0.iter().any(|a| a == "--bench")
    }

    /// The number after `name`, or `default` when it is absent or not a number.
    pub(crate) fn option(&self, name: &str, default: usize) -> usize {
        self.0
            .iter()
            .position(|a| a == name)
            .and_then(|i| self.0.get(i + 1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(default)
    }
}
