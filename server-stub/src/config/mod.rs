//! What the server is told: where to listen, where the data lives, the limits of the fast
//! path, and the parts' own settings (`ServerConfig`); and the users a new database starts
//! with (`users_file`: the demo users, or a `--users` TOML file).
//!
//! Above the parts, below state: it may hold the parts' configuration types (`TlsSource`,
//! `AuditFileConfig`, `NotifierConfig`, the loaded `Mocks`), never state or the routes.

pub mod users_file;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use tokenauth_core::secret_hash::HashParams;

pub const DEFAULT_BIND: &str = "127.0.0.1:2990";
/// Bodies over this get 413.
pub const BODY_LIMIT: usize = 1024 * 1024;
pub const DEFAULT_HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
pub const DEFAULT_MAX_CONNECTIONS: usize = 1024;
/// An HTTP/2 client keeps its connection for more requests (and PINGs it): a minute without a
/// request is plenty for that, and bounds how long an idle peer holds a slot.
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(60);

#[derive(Clone)]
pub struct ServerConfig {
    pub bind: SocketAddr,
    pub data_dir: PathBuf,
    /// How many verified secrets are remembered (each entry is about 150 bytes).
    pub cache_capacity: usize,
    /// How many argon2 verifications may run at once; the rest wait, so a flood of wrong
    /// secrets takes at most this many cores.
    pub hash_concurrency: usize,
    /// Uncached failed verifications allowed per token id (or user) per minute before further
    /// uncached attempts on it are refused without hashing.
    pub failures_per_minute: u32,
    pub request_timeout: Duration,
    /// How long a connection may take to send a request head — the first one counted from
    /// accept, TLS handshake and HTTP/2 preface included — and how long an idle HTTP/1
    /// keep-alive connection stays open (hyper starts the same timer for both): a client that
    /// sends nothing, or a request line and then nothing, holds a connection this long at most.
    pub header_read_timeout: Duration,
    /// How long a connection stays open with no request open, whatever it sends besides
    /// requests (HTTP/2 PINGs): what bounds an idle HTTP/2 connection.
    pub idle_timeout: Duration,
    /// Connections open at once; further clients wait in the kernel's backlog until one closes,
    /// so the process never runs out of file descriptors (which would lock everyone out).
    pub max_connections: usize,
    /// Connections one client (an IPv4 address, an IPv6 /64) may hold at once; `None`:
    /// `peers::default_share` of the cap. More are closed at accept.
    pub max_connections_per_client: Option<usize>,
    /// Live cookie sessions in all (each user holds at most `sessions::PER_USER`).
    pub max_sessions: usize,
    /// HTTPS with this certificate; `None`: plain HTTP (loopback only, unless `insecure_http`).
    pub tls: Option<crate::connection::tls::TlsSource>,
    /// Plain HTTP on a non-loopback address, said aloud (`--insecure-http`).
    pub insecure_http: bool,
    /// Every audit event also as a JSON line in this file (`--audit-file`).
    pub audit_file: Option<crate::operations::audit_file::AuditFileConfig>,
    /// The expiry-notice job.
    pub notifier: crate::operations::notifier::NotifierConfig,
    /// Webhook delivery and the addresses it may reach (`--webhook-allow`; loopback and private
    /// ranges too when the server listens on loopback).
    pub webhooks: std::sync::Arc<crate::operations::webhook::Webhooks>,
    /// WireMock mappings served after the token rules (`--mappings`, and the admin API's).
    pub mocks: std::sync::Arc<crate::mocks::mappings::Mocks>,
    /// Proxying and recording (`--proxy-all`, `--record-mappings`, the upstream's credential).
    pub upstream: crate::upstream::UpstreamConfig,
    /// Requests the journal keeps (`--journal-size`; 0: no journal).
    pub journal_size: usize,
    /// What a request no mapping answers gets: the echo (`/rest/`) or WireMock's 404 with the
    /// closest mappings (`--unmatched 404`).
    pub unmatched_404: bool,
    /// A mapped answer is gzipped when the client accepts it, as WireMock does (off with
    /// `--disable-gzip`; `crate::mocks::encoding`).
    pub gzip: bool,
    pub hash_params: HashParams,
    /// The data is removed when the server stops (`--ephemeral`, the test server): changes are
    /// not flushed to disk one by one.
    pub ephemeral: bool,
}

impl ServerConfig {
    pub fn new(bind: SocketAddr, data_dir: PathBuf) -> Self {
        let cores = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
        Self {
            bind,
            data_dir,
            cache_capacity: 10_000,
            hash_concurrency: (cores / 2).max(1),
            failures_per_minute: 10,
            request_timeout: Duration::from_secs(30),
            header_read_timeout: DEFAULT_HEADER_READ_TIMEOUT,
            idle_timeout: DEFAULT_IDLE_TIMEOUT,
            max_connections: DEFAULT_MAX_CONNECTIONS,
            max_connections_per_client: None,
            max_sessions: crate::authentication::sessions::MAX_SESSIONS,
            tls: None,
            insecure_http: false,
            audit_file: None,
            notifier: crate::operations::notifier::NotifierConfig::default(),
            webhooks: std::sync::Arc::new(crate::operations::webhook::Webhooks::new(
                tokenauth_core::webhook_target::TargetPolicy::new(bind.ip().is_loopback(), vec![]),
            )),
            mocks: std::sync::Arc::new(crate::mocks::mappings::Mocks::empty()),
            upstream: crate::upstream::UpstreamConfig::default(),
            journal_size: crate::mocks::journal::DEFAULT_SIZE,
            unmatched_404: false,
            gzip: true,
            hash_params: HashParams::DEFAULT,
            ephemeral: false,
        }
    }
}

/// The platform data directory (e.g. `~/.local/share/tokenauth` on Linux).
pub fn default_data_dir() -> PathBuf {
    directories::ProjectDirs::from("", "", "tokenauth")
        .map(|d| d.data_dir().to_path_buf())
        .unwrap_or_else(|| PathBuf::from("tokenauth-data"))
}

/// A new data directory for `--ephemeral` and the in-process test server: under the platform's
/// temporary directory, for its owner only (0700, whatever the umask: it will hold password and
/// token hashes), removed with [`remove_data_dir`].
pub fn ephemeral_data_dir(prefix: &str) -> std::io::Result<tempfile::TempDir> {
    let mut builder = tempfile::Builder::new();
    builder.prefix(prefix);
    #[cfg(unix)]
    builder.permissions(std::os::unix::fs::PermissionsExt::from_mode(0o700));
    builder.tempdir()
}

/// Removes an ephemeral data directory once the server has stopped. sled finishes its last
/// writes on its own threads a moment after the database is dropped, and a file it creates then
/// makes the removal fail with "directory not empty": tried again for up to a second.
pub fn remove_data_dir(dir: tempfile::TempDir) -> std::io::Result<()> {
    let path = dir.keep();
    let mut attempts = 0;
    loop {
        match std::fs::remove_dir_all(&path) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(_) if attempts < 50 => {
                attempts += 1;
                std::thread::sleep(Duration::from_millis(20));
            }
            other => return other,
        }
    }
}
