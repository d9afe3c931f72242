//! `tokenauth-stub`: run the server (the default), or work on a stopped server's data. The
//! command line is the library's `cli`; this parses it, runs it, and says why a run failed.

use std::io::Write as _;

use clap::Parser as _;
use tokenauth_stub::cli::{self, args::Cli};

/// mimalloc instead of glibc's malloc: per-thread free lists, and a block freed on another thread
/// than the one that allocated it (an audit event, a journal entry) costs no lock (issue 21,
/// BENCHMARKS.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    match cli::run(Cli::parse()) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            // The cause chain in words; no backtrace for an expected failure. Written or dropped:
            // a closed standard error must not turn a failure into a panic.
            let _ = writeln!(std::io::stderr(), "error: {:#}", anyhow::Error::new(e));
            std::process::ExitCode::FAILURE
        }
    }
}
