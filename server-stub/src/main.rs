//! `tokenauth-stub`: run the server (the default), or work on a stopped server's data.

use std::io::{IsTerminal as _, Read as _, Write as _};
use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::{Context, bail};
use clap::{Args, Parser, Subcommand, ValueEnum};
use tokenauth_core::private_fs::PrivateFile;
use tokenauth_core::scope::Scope;
use tokenauth_core::service::{NewUser, TokenAuth};
use tokenauth_stub::commands::{self, ExportFilter};
use tokenauth_stub::config::users_file;
use tokenauth_stub::config::{
    DEFAULT_BIND, DEFAULT_HEADER_READ_TIMEOUT, DEFAULT_IDLE_TIMEOUT, DEFAULT_MAX_CONNECTIONS,
    ServerConfig, default_data_dir,
};
use tokenauth_stub::connection::tls::{self, TlsSource};
use tokenauth_stub::operations::audit_file::{self, AuditFile, AuditFileConfig};
use tokenauth_stub::operations::logging::BufferedStderr;
use tokenauth_stub::server;

#[derive(Parser)]
#[command(
    name = "tokenauth-stub",
    version,
    about = "Jira/Confluence-style REST authentication with API tokens, for testing scripts"
)]
struct Cli {
    /// Where the sled database lives [default: the platform data directory]
    #[arg(long, env = "TOKENAUTH_DATA_DIR", global = true)]
    data_dir: Option<PathBuf>,
    #[command(flatten)]
    serve: ServeArgs,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Args)]
struct ServeArgs {
    /// Address to listen on; anything but loopback is refused while a demo password is unchanged
    #[arg(long, env = "TOKENAUTH_BIND", default_value = DEFAULT_BIND)]
    bind: SocketAddr,
    /// Users a new database starts with (TOML) instead of the demo users; they may hold
    /// tokens with fixed secrets (`token mint` makes one)
    #[arg(long, env = "TOKENAUTH_USERS")]
    users: Option<PathBuf>,
    /// Keep the data in a new private temporary directory, removed when the server stops
    /// (SIGINT, SIGTERM or an error; a SIGKILL leaves it in the temporary directory)
    #[arg(long, env = "TOKENAUTH_EPHEMERAL", conflicts_with = "data_dir")]
    ephemeral: bool,
    /// Log format
    #[arg(long, env = "TOKENAUTH_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,
    /// How many verified secrets to remember (about 150 bytes each)
    #[arg(long, env = "TOKENAUTH_CACHE_CAPACITY", default_value_t = 10_000)]
    cache_capacity: usize,
    /// Seconds a connection may take to send a request head (the first from accept, TLS
    /// handshake included), and may stay idle between HTTP/1 requests
    #[arg(long, env = "TOKENAUTH_HEADER_READ_TIMEOUT", default_value_t = DEFAULT_HEADER_READ_TIMEOUT.as_secs(), value_parser = clap::value_parser!(u64).range(1..=3600))]
    header_read_timeout: u64,
    /// Seconds a connection may stay open with no request open, whatever else it sends (HTTP/2
    /// PINGs do not count)
    #[arg(long, env = "TOKENAUTH_IDLE_TIMEOUT", default_value_t = DEFAULT_IDLE_TIMEOUT.as_secs(), value_parser = clap::value_parser!(u64).range(1..=86_400))]
    idle_timeout: u64,
    /// Connections served at once; more clients wait until one closes
    #[arg(long, env = "TOKENAUTH_MAX_CONNECTIONS", default_value_t = DEFAULT_MAX_CONNECTIONS, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..=1_000_000))]
    max_connections: usize,
    /// Connections one client (an IPv4 address, loopback included, or an IPv6 /64) may hold at
    /// once; more are closed as soon as accepted [default: an eighth of --max-connections, at
    /// least 8]. A proxy on this host is one client: give it --max-connections
    #[arg(long, env = "TOKENAUTH_MAX_CONNECTIONS_PER_CLIENT", value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..=1_000_000))]
    max_connections_per_client: Option<usize>,
    /// Cookie sessions open at once in all; when full, new logins are refused (nobody is logged out)
    #[arg(long, env = "TOKENAUTH_MAX_SESSIONS", default_value_t = tokenauth_stub::authentication::sessions::MAX_SESSIONS, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..=10_000_000))]
    max_sessions: usize,
    /// Serve HTTPS with this certificate (PEM; a chain, leaf first), read again on SIGHUP
    #[arg(
        long,
        env = "TOKENAUTH_TLS_CERT",
        requires = "tls_key",
        conflicts_with = "tls_self_signed"
    )]
    tls_cert: Option<PathBuf>,
    /// The private key of --tls-cert (PEM: PKCS#8, PKCS#1 or SEC1)
    #[arg(long, env = "TOKENAUTH_TLS_KEY", requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// Serve HTTPS with a certificate made here and kept in the data directory (tls/); its
    /// SHA-256 fingerprint is printed at start for clients to check
    #[arg(long, env = "TOKENAUTH_TLS_SELF_SIGNED")]
    tls_self_signed: bool,
    /// More names (DNS or IP) for the self-signed certificate, besides localhost, loopback,
    /// the bound address and the host name
    #[arg(long = "tls-name", value_name = "NAME")]
    tls_names: Vec<String>,
    /// Serve plain HTTP on a non-loopback address (only behind something that does TLS)
    #[arg(long, env = "TOKENAUTH_INSECURE_HTTP")]
    insecure_http: bool,
    /// argon2 computations at once [default: half the cores]; the rest wait up to 5 s, then 503
    #[arg(long, env = "TOKENAUTH_HASH_CONCURRENCY", value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..=1024))]
    hash_concurrency: Option<usize>,
    /// Serve the WireMock mappings of DIR (its `mappings/` and `__files/`) after the token rules;
    /// a bad mapping file refuses the start, naming the file and the JSON pointer of the problem
    #[arg(long, env = "TOKENAUTH_MAPPINGS", value_name = "DIR")]
    mappings: Option<PathBuf>,
    /// Bytes all WireMock mappings may hold together (their JSON and bodies), whether loaded
    /// with --mappings or added through the admin API, which then answers 400 naming the limit
    #[arg(long, env = "TOKENAUTH_MAX_MAPPING_BYTES", value_name = "BYTES", default_value_t = tokenauth_stub::mocks::mappings::MAX_MAPPING_BYTES, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1024..=(1u64 << 40)))]
    max_mapping_bytes: usize,
    /// Requests the journal keeps for `/__admin/requests` (redacted; 0 turns it off)
    #[arg(long, env = "TOKENAUTH_JOURNAL_SIZE", default_value_t = tokenauth_stub::mocks::journal::DEFAULT_SIZE, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(0..=1_000_000))]
    journal_size: usize,
    /// What a request no mapping answers gets: `echo` (the echo under /rest/, 404 elsewhere)
    /// or `404` (WireMock's 404 with the closest mappings, everywhere)
    #[arg(long, env = "TOKENAUTH_UNMATCHED", value_enum, default_value_t = Unmatched::Echo)]
    unmatched: Unmatched,
    /// Seconds between looks for due expiry notices (the webhook of the settings'
    /// `notifications`)
    #[arg(long, env = "TOKENAUTH_NOTIFY_EVERY", default_value_t = 300, value_parser = clap::value_parser!(u64).range(1..=86_400))]
    notify_every: u64,
    /// Milliseconds before the first retry of an expiry notice (doubled each time; 5 attempts)
    #[arg(long, env = "TOKENAUTH_NOTIFY_RETRY_MS", default_value_t = 2000, value_parser = clap::value_parser!(u64).range(1..=600_000))]
    notify_retry_ms: u64,
    /// Loopback or private ranges (CIDR, or an address) webhooks may reach although the server
    /// listens on a non-loopback address; repeatable. Link-local and metadata addresses never
    #[arg(long = "webhook-allow", env = "TOKENAUTH_WEBHOOK_ALLOW", value_name = "CIDR", value_delimiter = ',', value_parser = parse_net)]
    webhook_allow: Vec<ipnet::IpNet>,
    /// Also write every audit event as one JSON line to this file (0600), for log shippers;
    /// rotated by size and count, reopened on SIGHUP
    #[arg(long, env = "TOKENAUTH_AUDIT_FILE", value_name = "PATH")]
    audit_file: Option<PathBuf>,
    /// Rotate the audit file before it passes this size: bytes, or with KB, MB or GB (1024-based)
    #[arg(long, env = "TOKENAUTH_AUDIT_FILE_MAX_SIZE", value_name = "SIZE", default_value = "100MB", value_parser = audit_file::parse_size)]
    audit_file_max_size: u64,
    /// Audit files kept, the live one included: PATH, PATH.1 (newest) … PATH.<N-1> (oldest)
    #[arg(long, env = "TOKENAUTH_AUDIT_FILE_MAX_FILES", value_name = "N", default_value_t = audit_file::DEFAULT_MAX_FILES, value_parser = clap::value_parser!(u32).range(1..=i64::from(audit_file::MAX_MAX_FILES)))]
    audit_file_max_files: u32,
}

/// A CIDR range, or one address as its own range.
fn parse_net(text: &str) -> Result<ipnet::IpNet, String> {
    text.parse::<ipnet::IpNet>()
        .or_else(|_| text.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
        .map_err(|_| format!("{text:?} is not a CIDR range (10.0.0.0/8) or an address"))
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Unmatched {
    Echo,
    #[value(name = "404")]
    NotFound,
}

#[derive(Clone, Copy, ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

#[derive(Subcommand)]
enum Command {
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
enum UserCommand {
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
enum TokenCommand {
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
enum ScopeArg {
    ReadOnly,
    ReadWrite,
}

#[derive(Subcommand)]
enum SettingsCommand {
    /// Print the settings document
    Show,
    /// Apply a (partial) settings document: JSON text, or @FILE
    Set { json: String },
}

#[derive(Subcommand)]
enum AuditCommand {
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
enum ExportFormat {
    Csv,
    Json,
}

/// Logs go to standard error through a shared buffer flushed every 100 ms and at exit, so an
/// audited request costs no syscall of its own for its log line.
fn init_logging(format: LogFormat) -> BufferedStderr {
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
        LogFormat::Text => builder
            .event_format(tokenauth_stub::operations::logging::LeanText)
            .init(),
        LogFormat::Json => builder.json().init(),
    }
    out
}

fn seed(path: Option<&PathBuf>) -> anyhow::Result<users_file::Seed> {
    Ok(match path {
        Some(p) => users_file::load(p)?,
        None => users_file::Seed::demo(),
    })
}

fn open(
    config: &ServerConfig,
    users: Option<&PathBuf>,
    audit_file: Option<&AuditFile>,
) -> anyhow::Result<(std::sync::Arc<TokenAuth>, bool)> {
    let (auth, seeded) = server::open(config, seed(users)?, audit_file).with_context(|| {
        let with = users
            .map(|u| format!(" with the users of {}", u.display()))
            .unwrap_or_default();
        format!(
            "cannot open the data directory {}{with}",
            config.data_dir.display()
        )
    })?;
    Ok((auth, seeded))
}

/// A secret from standard input: typed at a prompt without echo when it is a terminal, else
/// read whole (a pipe or a file). Never from the command line, where other users can read it.
fn read_stdin_secret(what: &str) -> anyhow::Result<String> {
    if std::io::stdin().is_terminal() {
        let s = rpassword::prompt_password(format!("{what}: "))
            .with_context(|| format!("reading the {what} from the terminal"))?;
        if s.is_empty() {
            bail!("no {what} given");
        }
        return Ok(s);
    }
    let mut s = String::new();
    std::io::stdin()
        .read_to_string(&mut s)
        .with_context(|| format!("reading the {what} from standard input"))?;
    let s = s.trim_end_matches(['\n', '\r']).to_owned();
    if s.is_empty() {
        bail!("no {what} on standard input");
    }
    Ok(s)
}

/// Writes a line to standard error, or drops it: a closed pipe must not stop a running server
/// (`eprintln!` panics when the write fails).
macro_rules! say {
    ($($arg:tt)*) => {{
        let _ = writeln!(std::io::stderr(), $($arg)*);
    }};
}

/// [`say!`] for standard output, flushed at once (scripts read the address from it; a harness
/// that stops reading after the first line closes the pipe).
macro_rules! say_out {
    ($($arg:tt)*) => {{
        let mut out = std::io::stdout();
        let _ = writeln!(out, $($arg)*);
        let _ = out.flush();
    }};
}

fn main() -> std::process::ExitCode {
    match run() {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            // The cause chain in words; no backtrace for an expected failure.
            say!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn run() -> anyhow::Result<()> {
    let cli = Cli::parse();
    private_files();
    if cli.serve.ephemeral && !matches!(cli.command, None | Some(Command::Serve)) {
        bail!(
            "--ephemeral is for running the server: a command on a new temporary database would be lost at once"
        );
    }
    // Removed when this is dropped, at the end of `run`: after the server has stopped and the
    // database is closed. 0700, under the platform's temporary directory.
    let ephemeral = if cli.serve.ephemeral {
        Some(
            tokenauth_stub::config::ephemeral_data_dir("tokenauth-")
                .context("creating the temporary data directory")?,
        )
    } else {
        None
    };
    let data_dir = match &ephemeral {
        Some(dir) => dir.path().to_path_buf(),
        None => cli.data_dir.clone().unwrap_or_else(default_data_dir),
    };
    let mut config = ServerConfig::new(cli.serve.bind, data_dir);
    config.ephemeral = ephemeral.is_some();
    config.cache_capacity = cli.serve.cache_capacity;
    config.header_read_timeout = std::time::Duration::from_secs(cli.serve.header_read_timeout);
    config.idle_timeout = std::time::Duration::from_secs(cli.serve.idle_timeout);
    config.max_connections = cli.serve.max_connections;
    config.max_connections_per_client = cli.serve.max_connections_per_client;
    config.max_sessions = cli.serve.max_sessions;
    config.insecure_http = cli.serve.insecure_http;
    config.webhooks = std::sync::Arc::new(tokenauth_stub::operations::webhook::Webhooks::new(
        tokenauth_core::webhook_target::TargetPolicy::new(
            cli.serve.bind.ip().is_loopback(),
            cli.serve.webhook_allow.clone(),
        ),
    ));
    config.tls = match (
        &cli.serve.tls_cert,
        &cli.serve.tls_key,
        cli.serve.tls_self_signed,
    ) {
        (Some(cert), Some(key), _) => Some(TlsSource::Files {
            cert: cert.clone(),
            key: key.clone(),
        }),
        (_, _, true) => Some(TlsSource::SelfSigned {
            dir: config.data_dir.join("tls"),
            names: tls::self_signed_names(config.bind.ip(), &cli.serve.tls_names),
        }),
        _ => None,
    };
    if let Some(n) = cli.serve.hash_concurrency {
        config.hash_concurrency = n;
    }
    config.mocks = std::sync::Arc::new(match &cli.serve.mappings {
        Some(dir) => {
            tokenauth_stub::mocks::mappings::Mocks::load_within(dir, cli.serve.max_mapping_bytes)?
        }
        None => tokenauth_stub::mocks::mappings::Mocks::empty_within(cli.serve.max_mapping_bytes),
    });
    config.journal_size = cli.serve.journal_size;
    config.unmatched_404 = cli.serve.unmatched == Unmatched::NotFound;
    config.notifier.every = std::time::Duration::from_secs(cli.serve.notify_every);
    config.notifier.retry_base = std::time::Duration::from_millis(cli.serve.notify_retry_ms);
    config.audit_file = cli.serve.audit_file.clone().map(|path| AuditFileConfig {
        path,
        max_size: cli.serve.audit_file_max_size,
        max_files: cli.serve.audit_file_max_files,
    });
    let log = init_logging(cli.serve.log_format);
    let result = start_audit_file(&config).and_then(|file| {
        let result = dispatch(cli, config, file.as_ref());
        // The sub-commands' events too (a token made on a stopped server's data).
        if let Some(f) = file {
            f.flush();
        }
        result
    });
    if let Some(dir) = ephemeral {
        let shown = dir.path().display().to_string();
        if let Err(e) = tokenauth_stub::config::remove_data_dir(dir) {
            say!("could not remove the temporary data directory {shown}: {e}");
        }
    }
    log.flush();
    result
}

/// Opens `--audit-file` before anything is written: a file that cannot be opened is a
/// configuration error, said before the server starts rather than found in its log later.
fn start_audit_file(config: &ServerConfig) -> anyhow::Result<Option<AuditFile>> {
    Ok(match &config.audit_file {
        Some(c) => Some(AuditFile::start(c.clone())?),
        None => None,
    })
}

fn dispatch(cli: Cli, config: ServerConfig, audit_file: Option<&AuditFile>) -> anyhow::Result<()> {
    let users = cli.serve.users.as_ref();
    match cli.command {
        None | Some(Command::Serve) => run_server(config, users, audit_file, cli.serve.ephemeral),
        Some(Command::User(c)) => {
            let (auth, _) = open(&config, users, audit_file)?;
            match c {
                UserCommand::Create {
                    name,
                    groups,
                    display_name,
                    email,
                } => {
                    let password = read_stdin_secret("password")?;
                    let user = NewUser {
                        name: name.clone(),
                        display_name,
                        email,
                        groups,
                        password: Some(password),
                        active: Some(true),
                    };
                    commands::create_user(&auth, user)?;
                    eprintln!("created user {name}");
                }
                UserCommand::List => {
                    let users: Vec<_> = auth
                        .users()?
                        .iter()
                        .map(tokenauth_stub::routes::answers::UserView::from)
                        .collect();
                    println!("{}", serde_json::to_string_pretty(&users)?);
                }
                UserCommand::Passwd { name } => {
                    commands::set_password(&auth, &name, read_stdin_secret("password")?)?;
                    eprintln!("changed the password of {name}");
                }
                UserCommand::ResetFailedLogins { name } => {
                    commands::reset_failed_logins(&auth, &name)?;
                    eprintln!("reset the failed-login count of {name}");
                }
            }
            Ok(())
        }
        Some(Command::Token(TokenCommand::Mint)) => {
            let token = tokenauth_core::token_format::generate()?;
            // Only the secret on standard output, so scripts can capture it.
            say_out!("{}", token.text);
            say!(
                "minted token secret with id {} (not stored anywhere; put it in a users file)",
                token.id
            );
            Ok(())
        }
        Some(Command::Token(c)) => {
            let (auth, _) = open(&config, users, audit_file)?;
            match c {
                // Answered above, without a database.
                TokenCommand::Mint => {}
                TokenCommand::Create {
                    user,
                    description,
                    scope,
                    days,
                    never,
                } => {
                    let scope = match scope {
                        ScopeArg::ReadOnly => Scope::ReadOnly,
                        ScopeArg::ReadWrite => Scope::ReadWrite,
                    };
                    let view =
                        commands::create_token(&auth, &user, description, scope, days, never)?;
                    eprintln!(
                        "created token {} for {} ({}, expires {})",
                        view.id,
                        view.user,
                        view.scope,
                        view.expires_at.as_deref().unwrap_or("never")
                    );
                    // Only the secret on standard output, so scripts can capture it.
                    println!("{}", view.token.unwrap_or_default());
                }
                TokenCommand::List { user } => {
                    println!(
                        "{}",
                        serde_json::to_string_pretty(&commands::list_tokens(&auth, user)?)?
                    );
                }
                TokenCommand::Revoke { id } => {
                    let v = commands::revoke_token(&auth, &id)?;
                    eprintln!("revoked token {} of {}", v.id, v.user);
                }
                TokenCommand::RevokeAll { user } => {
                    let n = commands::revoke_all(&auth, &user)?;
                    eprintln!("revoked {n} tokens of {user}");
                }
            }
            Ok(())
        }
        Some(Command::Settings(c)) => {
            let (auth, _) = open(&config, users, audit_file)?;
            match c {
                SettingsCommand::Show => println!("{}", commands::show_settings(&auth)?),
                SettingsCommand::Set { json } => {
                    let text = match json.strip_prefix('@') {
                        Some(file) => std::fs::read_to_string(file)
                            .with_context(|| format!("reading {file}"))?,
                        None => json,
                    };
                    println!("{}", commands::set_settings(&auth, &text)?);
                }
            }
            Ok(())
        }
        Some(Command::Audit(AuditCommand::Export {
            format,
            output,
            user,
            action,
            from,
            to,
        })) => {
            let (auth, _) = open(&config, users, audit_file)?;
            let filter = ExportFilter {
                user,
                action,
                from,
                to,
            };
            let csv = format == ExportFormat::Csv;
            let n = match output {
                Some(path) => {
                    // The audit log names users, addresses and tokens: for its owner only,
                    // written beside the name and renamed when complete.
                    let mut out = PrivateFile::create(&path)
                        .with_context(|| format!("creating {}", path.display()))?;
                    let written = {
                        let mut w = std::io::BufWriter::new(out.file());
                        let n = commands::export_audit(&auth, csv, filter, &mut w);
                        n.and_then(|n| w.flush().map(|()| n).map_err(Into::into))
                    };
                    match written {
                        Ok(n) => {
                            out.commit()
                                .with_context(|| format!("writing {}", path.display()))?;
                            n
                        }
                        Err(e) => {
                            out.abandon();
                            return Err(e.into());
                        }
                    }
                }
                None => {
                    let stdout = std::io::stdout();
                    let mut w = std::io::BufWriter::new(stdout.lock());
                    commands::export_audit(&auth, csv, filter, &mut w)?
                }
            };
            eprintln!("exported {n} events");
            Ok(())
        }
    }
}

/// Everything this process creates (the database's files, exports) is for its user only: the
/// database holds password and token hashes and the audit log. A umask of 077 covers the files
/// sled creates later (snapshots, new segments) too. Also lifts the soft open-files limit to the
/// hard one, so the connection cap rather than the limit decides how many clients are served.
fn private_files() {
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
fn report_open_data_dir(dir: &std::path::Path) {
    if let Ok(Some(mode)) = tokenauth_core::private_fs::others_can_read(dir) {
        tracing::warn!(
            "the data directory {} can be read by other users (mode {mode:o}); it holds password \
             and token hashes and the audit log: chmod 700 {}",
            dir.display(),
            dir.display()
        );
    }
}

fn run_server(
    config: ServerConfig,
    users: Option<&PathBuf>,
    audit_file: Option<&AuditFile>,
    ephemeral: bool,
) -> anyhow::Result<()> {
    let (auth, seeded) = open(&config, users, audit_file)?;
    let data_dir = config.data_dir.clone();
    report_open_data_dir(&data_dir);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(async {
        let shutdown = server::shutdown_signal().context("installing the signal handlers")?;
        // A write past the file-size limit raises SIGXFSZ, which kills a process by default:
        // handled, the write fails with EFBIG instead, and a failed write is counted, logged
        // and survived like a full disk.
        #[cfg(unix)]
        let _file_size_limit = tokio::signal::unix::signal(
            tokio::signal::unix::SignalKind::from_raw(rustix::process::Signal::XFSZ.as_raw()),
        )
        .context("installing the signal handlers")?;
        let mocks = config.mocks.clone();
        server::serve(
        config,
        auth,
        audit_file.cloned(),
        |addr, cert| {
            let scheme = if cert.is_some() { "https" } else { "http" };
            // The first line on standard output: scripts and tests read the address from it.
            say_out!("tokenauth-stub listening on {scheme}://{addr}");
            if let Some(c) = &cert {
                // Second line: what a client checks before it trusts this server.
                say_out!("TLS certificate SHA-256 fingerprint: {}", c.fingerprint);
                say!(
                    "TLS certificate {} for {} (valid until {})",
                    c.path.display(),
                    c.names.join(", "),
                    c.not_after
                );
            }
            if ephemeral {
                say!(
                    "data directory: {} (ephemeral: removed when the server stops, but not after a kill -9)",
                    data_dir.display()
                );
            } else {
                say!("data directory: {}", data_dir.display());
            }
            if let Some(f) = audit_file {
                say!("audit file: {} (every audit event as a JSON line)", f.path().display());
            }
            if !mocks.is_empty() {
                say!("serving {} WireMock mapping(s) after the token rules", mocks.len());
            }
            say!("WireMock admin API: {scheme}://{addr}/__admin/ (no credentials from this machine, an admin's from elsewhere)");
            if seeded && users.is_none() {
                say!("created the demo users admin/admin (administrator), alice/alice and bob/bob");
            }
            let cacert = cert
                .as_ref()
                .map(|c| format!("--cacert {} ", c.path.display()))
                .unwrap_or_default();
            // The demo users' hints only where the demo users are (not with --users).
            if users.is_none() {
                say!("try: curl {cacert}-u admin:admin {scheme}://{addr}/rest/api/2/myself");
                say!("create a token: curl {cacert}-u alice:alice -H 'Content-Type: application/json' -d '{{\"description\":\"my script\"}}' {scheme}://{addr}/rest/tokenauth/1/tokens");
            }
        },
        shutdown,
    )
        .await
        .map_err(anyhow::Error::from)
    })?;
    Ok(())
}
