//! What a run of the command line sets up around its work: the process's own files private
//! and its open-files limit raised, the log output, and the way it speaks to the terminal.

use super::args::LogFormat;
use crate::operations::logging::{BufferedStderr, LeanText};

/// Writes a line to standard error, or drops it: a closed pipe must not stop a running server
/// (`eprintln!` panics when the write fails).
macro_rules! say {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr(), $($arg)*);
    }};
}

/// `say!` for standard output, flushed at once (scripts read the address from it; a harness
/// that stops reading after the first line closes the pipe).
macro_rules! say_out {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let mut out = std::io::stdout();
        let _ = writeln!(out, $($arg)*);
        let _ = out.flush();
    }};
}

pub(crate) use {say, say_out};

/// Logs go to standard error through a shared buffer flushed every 100 ms and at exit, so an
/// audited request costs no syscall of its own for its log line.
pub(super) fn init_logging(format: LogFormat) -> BufferedStderr {
    let filter = tracing_subscriber::EnvFilter::try_from_env("TOKENAUTH_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let out = BufferedStderr::default();
    out.spawn_flusher();
    // Plain lines (no colours): they are read from files and pipes as often as on a terminal.
    let builder = tracing_subscriber::fmt()
        .with_ansi(false)
        // Its report of a failed write is an eprintln!, which panics when standard error is
        // what failed; the writer counts dropped lines instead.
        .log_internal_errors(false)
        .with_env_filter(filter)
        .with_writer(out.clone());
    match format {
        LogFormat::Text => builder.event_format(LeanText).init(),
        LogFormat::Json => builder.json().init(),
    }
    out
}

/// Everything this process creates (the database's files, exports) is for its user only: the
/// database holds password and token hashes and the audit log. A umask of 077 covers the files
/// sled creates later (snapshots, new segments) too. Also lifts the soft open-files limit to the
/// hard one, so the connection cap rather than the limit decides how many clients are served.
pub(super) fn private_files() {
    #[cfg(unix)]
    {
        use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};
        rustix::process::umask(rustix::fs::Mode::from_raw_mode(0o077));
        let limit = getrlimit(Resource::Nofile);
        if let (Some(soft), hard) = (limit.current, limit.maximum) {
            let target = hard.unwrap_or(u64::MAX).min(1 << 20);
            if soft < target {
                let _ = setrlimit(
                    Resource::Nofile,
                    Rlimit {
                        current: Some(target),
                        maximum: hard,
                    },
                );
            }
        }
    }
}

/// Says so when users other than the owner can read the data directory (one made by an older
/// version, or by hand): it holds password and token hashes and the audit log.
pub(super) fn report_open_data_dir(dir: &std::path::Path) {
    if let Ok(Some(mode)) = tokenauth_core::private_fs::others_can_read(dir) {
        tracing::warn!(
            "the data directory {} can be read by other users (mode {mode:o}); it holds password \
             and token hashes and the audit log: chmod 700 {}",
            dir.display(),
            dir.display()
        );
    }
}
