//! The command line's arguments (clap): the server's options, which every sub-command takes
//! too (they share the data directory, the users file and the audit file), and the
//! sub-commands.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::config::{
    DEFAULT_BIND, DEFAULT_HEADER_READ_TIMEOUT, DEFAULT_IDLE_TIMEOUT, DEFAULT_MAX_CONNECTIONS,
};
use crate::operations::audit_file;

#[derive(Parser)]
#[command(
    name = "tokenauth-stub",
    version,
    about = "Jira/Confluence-style REST authentication with API tokens, for testing scripts"
)]
pub struct Cli {
    /// Where the sled database lives [default: the platform data directory]
    #[arg(long, env = "TOKENAUTH_DATA_DIR", global = true)]
    pub data_dir: Option<PathBuf>,
    #[command(flatten)]
    pub serve: ServeArgs,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Args)]
pub struct ServeArgs {
    /// Address to listen on; anything but loopback is refused while a demo password is unchanged
    #[arg(long, env = "TOKENAUTH_BIND", default_value = DEFAULT_BIND)]
    pub bind: SocketAddr,
    /// Users a new database starts with (TOML) instead of the demo users; they may hold
    /// tokens with fixed secrets (`token mint` makes one)
    #[arg(long, env = "TOKENAUTH_USERS")]
    pub users: Option<PathBuf>,
    /// Keep the data in a new private temporary directory, removed when the server stops
    /// (SIGINT, SIGTERM or an error; a SIGKILL leaves it in the temporary directory)
    #[arg(long, env = "TOKENAUTH_EPHEMERAL", conflicts_with = "data_dir")]
    pub ephemeral: bool,
    /// Log format
    #[arg(long, env = "TOKENAUTH_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
    /// How many verified secrets to remember (about 150 bytes each)
    #[arg(long, env = "TOKENAUTH_CACHE_CAPACITY", default_value_t = 10_000)]
    pub cache_capacity: usize,
    /// Seconds a connection may take to send a request head (the first from accept, TLS
    /// handshake included), and may stay idle between HTTP/1 requests
    #[arg(long, env = "TOKENAUTH_HEADER_READ_TIMEOUT", default_value_t = DEFAULT_HEADER_READ_TIMEOUT.as_secs(), value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub header_read_timeout: u64,
    /// Seconds a connection may stay open with no request open, whatever else it sends (HTTP/2
    /// PINGs do not count)
    #[arg(long, env = "TOKENAUTH_IDLE_TIMEOUT", default_value_t = DEFAULT_IDLE_TIMEOUT.as_secs(), value_parser = clap::value_parser!(u64).range(1..=86_400))]
    pub idle_timeout: u64,
    /// Connections served at once; more clients wait until one closes
    #[arg(long, env = "TOKENAUTH_MAX_CONNECTIONS", default_value_t = DEFAULT_MAX_CONNECTIONS, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..=1_000_000))]
    pub max_connections: usize,
    /// Connections one client (an IPv4 address, loopback included, or an IPv6 /64) may hold at
    /// once; more are closed as soon as accepted [default: an eighth of --max-connections, at
    /// least 8]. A proxy on this host is one client: give it --max-connections
    #[arg(long, env = "TOKENAUTH_MAX_CONNECTIONS_PER_CLIENT", value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..=1_000_000))]
    pub max_connections_per_client: Option<usize>,
    /// Cookie sessions open at once in all; when full, new logins are refused (nobody is logged out)
    #[arg(long, env = "TOKENAUTH_MAX_SESSIONS", default_value_t = crate::authentication::sessions::MAX_SESSIONS, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..=10_000_000))]
    pub max_sessions: usize,
    /// Serve HTTPS with this certificate (PEM; a chain, leaf first), read again on SIGHUP
    #[arg(
        long,
        env = "TOKENAUTH_TLS_CERT",
        requires = "tls_key",
        conflicts_with = "tls_self_signed"
    )]
    pub tls_cert: Option<PathBuf>,
    /// The private key of --tls-cert (PEM: PKCS#8, PKCS#1 or SEC1)
    #[arg(long, env = "TOKENAUTH_TLS_KEY", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// Serve HTTPS with a certificate made here and kept in the data directory (tls/); its
    /// SHA-256 fingerprint is printed at start for clients to check
    #[arg(long, env = "TOKENAUTH_TLS_SELF_SIGNED")]
    pub tls_self_signed: bool,
    /// More names (DNS or IP) for the self-signed certificate, besides localhost, loopback,
    /// the bound address and the host name
    #[arg(long = "tls-name", value_name = "NAME")]
    pub tls_names: Vec<String>,
    /// Serve plain HTTP on a non-loopback address (only behind something that does TLS)
    #[arg(long, env = "TOKENAUTH_INSECURE_HTTP")]
    pub insecure_http: bool,
    /// argon2 computations at once [default: half the cores]; the rest wait up to 5 s, then 503
    #[arg(long, env = "TOKENAUTH_HASH_CONCURRENCY", value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..=1024))]
    pub hash_concurrency: Option<usize>,
    /// Serve the WireMock mappings of DIR (its `mappings/` and `__files/`) after the token rules.
    /// Every mapping that can be served is; each that cannot is refused alone, named on
    /// standard error with its file, JSON pointer and the feature (then "loaded N of M mappings
    /// from K files; R refused"). A file that is not JSON refuses the start, as in WireMock
    #[arg(long, env = "TOKENAUTH_MAPPINGS", value_name = "DIR")]
    pub mappings: Option<PathBuf>,
    /// Refuse the start when --mappings refuses any mapping (for CI: a folder must load whole)
    #[arg(long, env = "TOKENAUTH_STRICT_MAPPINGS", requires = "mappings")]
    pub strict_mappings: bool,
    /// Bytes all WireMock mappings may hold together (their JSON and bodies), whether loaded
    /// with --mappings or added through the admin API, which then answers 400 naming the limit
    #[arg(long, env = "TOKENAUTH_MAX_MAPPING_BYTES", value_name = "BYTES", default_value_t = crate::mocks::mappings::MAX_MAPPING_BYTES, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1024..=(1u64 << 40)))]
    pub max_mapping_bytes: usize,
    /// Proxy every request no mapping answers to URL (WireMock's --proxy-all), after the token
    /// rules: only a caller they pass, within its token's scope, is proxied. The caller's own
    /// credentials are never sent on; the upstream's is TOKENAUTH_UPSTREAM_AUTHORIZATION
    #[arg(long, env = "TOKENAUTH_PROXY_ALL", value_name = "URL")]
    pub proxy_all: Option<String>,
    /// Record what --proxy-all answers into --mappings DIR (created if missing) as WireMock
    /// mappings and __files, each written as it is answered; replay it later with --mappings DIR
    #[arg(long, env = "TOKENAUTH_RECORD_MAPPINGS", requires_all = ["proxy_all", "mappings"])]
    pub record_mappings: bool,
    /// Seconds a proxied request may take, answer included; then 504 naming the upstream
    #[arg(long, env = "TOKENAUTH_PROXY_TIMEOUT", default_value_t = crate::upstream::DEFAULT_TIMEOUT.as_secs(), value_parser = clap::value_parser!(u64).range(1..=25))]
    pub proxy_timeout: u64,
    /// Bytes a proxied answer may have; a larger one gets 502 naming the limit
    #[arg(long, env = "TOKENAUTH_PROXY_MAX_BODY", value_name = "BYTES", default_value_t = crate::upstream::DEFAULT_MAX_BODY, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1024..=(256u64 << 20)))]
    pub proxy_max_body: usize,
    /// Requests the journal keeps for `/__admin/requests` (redacted; 0 turns it off)
    #[arg(long, env = "TOKENAUTH_JOURNAL_SIZE", default_value_t = crate::mocks::journal::DEFAULT_SIZE, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(0..=1_000_000))]
    pub journal_size: usize,
    /// What a request no mapping answers gets: `echo` (the echo under /rest/, 404 elsewhere)
    /// or `404` (WireMock's 404 with the closest mappings, everywhere)
    #[arg(long, env = "TOKENAUTH_UNMATCHED", value_enum, default_value_t = Unmatched::Echo)]
    pub unmatched: Unmatched,
    /// Never gzip a mapped answer (as WireMock's --disable-gzip); without it, a mapping's 2xx
    /// answer is gzipped when the request accepts gzip, as WireMock does. The server's own
    /// answers are never compressed
    #[arg(long, env = "TOKENAUTH_DISABLE_GZIP")]
    pub disable_gzip: bool,
    /// Seconds between looks for due expiry notices (the webhook of the settings'
    /// `notifications`)
    #[arg(long, env = "TOKENAUTH_NOTIFY_EVERY", default_value_t = 300, value_parser = clap::value_parser!(u64).range(1..=86_400))]
    pub notify_every: u64,
    /// Milliseconds before the first retry of an expiry notice (doubled each time; 5 attempts)
    #[arg(long, env = "TOKENAUTH_NOTIFY_RETRY_MS", default_value_t = 2000, value_parser = clap::value_parser!(u64).range(1..=600_000))]
    pub notify_retry_ms: u64,
    /// Loopback or private ranges (CIDR, or an address) webhooks may reach although the server
    /// listens on a non-loopback address; repeatable. Link-local and metadata addresses never
    #[arg(long = "webhook-allow", env = "TOKENAUTH_WEBHOOK_ALLOW", value_name = "CIDR", value_delimiter = ',', value_parser = parse_net)]
    pub webhook_allow: Vec<ipnet::IpNet>,
    /// Also write every audit event as one JSON line to this file (0600), for log shippers;
    /// rotated by size and count, reopened on SIGHUP
    #[arg(long, env = "TOKENAUTH_AUDIT_FILE", value_name = "PATH")]
    pub audit_file: Option<PathBuf>,
    /// Rotate the audit file before it passes this size: bytes, or with KB, MB or GB (1024-based)
    #[arg(long, env = "TOKENAUTH_AUDIT_FILE_MAX_SIZE", value_name = "SIZE", default_value = "100MB", value_parser = audit_file::parse_size)]
    pub audit_file_max_size: u64,
    /// Audit files kept, the live one included: PATH, PATH.1 (newest) … PATH.<N-1> (oldest)
    #[arg(long, env = "TOKENAUTH_AUDIT_FILE_MAX_FILES", value_name = "N", default_value_t = audit_file::DEFAULT_MAX_FILES, value_parser = clap::value_parser!(u32).range(1..=i64::from(audit_file::MAX_MAX_FILES)))]
    pub audit_file_max_files: u32,
}

/// A CIDR range, or one address as its own range.
fn parse_net(text: &str) -> Result<ipnet::IpNet, String> {
    text.parse::<ipnet::IpNet>()
        .or_else(|_| text.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
        .map_err(|_| format!("{text:?} is not a CIDR range (10.0.0.0/8) or an address"))
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Unmatched {
    Echo,
    #[value(name = "404")]
    NotFound,
}

#[derive(Clone, Copy, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Subcommand)]
pub enum Command {
    /// Run the server (what no sub-command does too)
    Serve,
    /// Users
    #[command(subcommand)]
    User(UserCommand),
    /// API tokens
    #[command(subcommand)]
    Token(TokenCommand),
    /// Show or change the settings
    #[command(subcommand)]
    Settings(SettingsCommand),
    /// The audit log
    #[command(subcommand)]
    Audit(AuditCommand),
}

#[derive(Subcommand)]
pub enum UserCommand {
    /// Create a user; the password is read from standard input (never from the command line,
    /// where other local users and the shell history could read it)
    Create {
        name: String,
        #[arg(long = "group")]
        groups: Vec<String>,
        #[arg(long)]
        display_name: Option<String>,
        #[arg(long)]
        email: Option<String>,
    },
    /// List users as JSON
    List,
    /// Set a user's password, read from standard input
    Passwd { name: String },
    /// Clear a user's failed-login counter (lifts the CAPTCHA challenge)
    ResetFailedLogins { name: String },
}

#[derive(Subcommand)]
pub enum TokenCommand {
    /// Print a fresh, valid token secret for a users file's `[[users.tokens]]` (nothing is
    /// stored: no data directory needed)
    Mint,
    /// Create a token for USER and print its secret (shown this once)
    Create {
        user: String,
        #[arg(long, short)]
        description: String,
        #[arg(long, value_enum, default_value_t = ScopeArg::ReadOnly)]
        scope: ScopeArg,
        /// Days until it expires [default: the maximum validity]
        #[arg(long)]
        days: Option<u32>,
        /// Never expires (only if the settings allow it)
        #[arg(long)]
        never: bool,
    },
    /// List tokens (all users, or one) as JSON
    List {
        #[arg(long)]
        user: Option<String>,
    },
    /// Revoke one token by id
    Revoke { id: String },
    /// Revoke every token of a user
    RevokeAll { user: String },
}

#[derive(Clone, Copy, ValueEnum)]
pub enum ScopeArg {
    ReadOnly,
    ReadWrite,
}

#[derive(Subcommand)]
pub enum SettingsCommand {
    /// Print the settings document
    Show,
    /// Apply a (partial) settings document: JSON text, or @FILE
    Set { json: String },
}

#[derive(Subcommand)]
pub enum AuditCommand {
    /// Export events, newest first
    Export {
        #[arg(long, value_enum, default_value_t = ExportFormat::Csv)]
        format: ExportFormat,
        /// Write here instead of standard output
        #[arg(long, short)]
        output: Option<PathBuf>,
        #[arg(long)]
        user: Option<String>,
        #[arg(long)]
        action: Option<String>,
        #[arg(long)]
        from: Option<String>,
        #[arg(long)]
        to: Option<String>,
    },
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ExportFormat {
    Csv,
    Json,
}
