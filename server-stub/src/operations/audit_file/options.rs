//! What `--audit-file` is told: the path and the size and count limits (`--audit-file-max-size`
//! read as logback reads it), and why the file could not be opened, written or rotated.

use std::io;
use std::path::PathBuf;

/// 100 MB and 100 files, as Jira Data Center keeps its audit log files.
pub const DEFAULT_MAX_SIZE: u64 = 100 * 1024 * 1024;
pub const DEFAULT_MAX_FILES: u32 = 100;
/// Smaller limits are refused: at under a kilobyte each event would rotate the file.
pub const MIN_MAX_SIZE: u64 = 1024;
pub const MAX_MAX_FILES: u32 = 100_000;
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditFileConfig {
    pub path: PathBuf,
    /// Rotate before the live file passes this many bytes.
    pub max_size: u64,
    /// Files kept in all, the live one included: `PATH`, `PATH.1` … `PATH.(max_files - 1)`.
    pub max_files: u32,
}

impl AuditFileConfig {
    pub fn new(path: PathBuf) -> Self {
        Self {
            path,
            max_size: DEFAULT_MAX_SIZE,
            max_files: DEFAULT_MAX_FILES,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum AuditFileError {
    #[error("cannot open the audit file {path} (--audit-file): {source}")]
    Open { path: PathBuf, source: io::Error },
    /// `PATH` is there but is not a file only this process's user controls: someone else could
    /// have planted it to have audit lines (and our 0600) land where they chose, or read them.
    #[error("refusing the audit file {path} (--audit-file): {why}")]
    Unsafe { path: PathBuf, why: String },
    #[error("cannot write to the audit file {path}: {source}")]
    Write { path: PathBuf, source: io::Error },
    #[error("cannot rotate the audit file {path}: {source}")]
    Rotate { path: PathBuf, source: io::Error },
    #[error("cannot start the audit file writer: {0}")]
    Thread(io::Error),
}

/// `--audit-file-max-size`: bytes, or a number with `KB`, `MB` or `GB` (also `K`, `M`, `G`,
/// `KiB`, `MiB`, `GiB`; any case), each 1024 of the one before, as logback — which Jira's audit
/// file settings go through — reads them. At least [`MIN_MAX_SIZE`].
pub fn parse_size(text: &str) -> Result<u64, String> {
    let t = text.trim();
    let digits = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (number, unit) = t.split_at(digits);
    let number: u64 = number
        .parse()
        .map_err(|_| format!("'{text}' is not a size: a number of bytes, or e.g. 100MB"))?;
    let shift = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 0,
        "k" | "kb" | "kib" => 10,
        "m" | "mb" | "mib" => 20,
        "g" | "gb" | "gib" => 30,
        other => return Err(format!("unknown size unit '{other}': use KB, MB or GB")),
    };
    let bytes = number
        .checked_mul(1 << shift)
        .ok_or_else(|| format!("'{text}' is too large"))?;
    if bytes < MIN_MAX_SIZE {
        return Err(format!(
            "'{text}' is too small: at least {MIN_MAX_SIZE} bytes"
        ));
    }
    Ok(bytes)
}
