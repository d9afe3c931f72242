//! `tokenauth`: tokens kept in the OS keychain, handed to scripts — the way `gh auth token`,
//! `aws-vault exec` and `op run` hand theirs.
//!
//! - `login` keeps a token (given on standard input, or made with the password given there);
//! - `get` prints the secret alone on standard output;
//! - `exec` runs a command with the secret in its environment only, never on a command line;
//! - `rotate` replaces the saved token by a new one (the old secret stops working at once) and
//!   keeps the new one under the same name;
//! - `list`, `erase`, `status`.
//!
//! `TOKENAUTH_TOKEN` in the environment wins over the keychain, as `GH_TOKEN` does for gh.
//! Without a keychain there is an error that says what is missing and how to get it — never a
//! plain-text fallback — and every keychain call has a time limit (a locked keyring's unlock
//! prompt nobody answers). Messages go to standard error; exit codes are in [`Exit`].

use std::ffi::OsString;
use std::io::{IsTerminal as _, Read as _, Write as _};
use std::path::PathBuf;
use std::process::Command;

use clap::{Args, Parser, Subcommand, ValueEnum};
use tokenauth_core::scope::Scope;
use tokenauth_core::token_format;

use crate::api::{Api, NewToken, Validity};
use crate::failure::Failure;
use crate::keychain::{self, BACKEND, Keychain, KeychainError};
use crate::profiles::normalize_url;
use crate::tls::{self, CertProblem, Trust};

/// What a script can rely on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    Ok = 0,
    /// No token saved for that server, user and label.
    NotFound = 1,
    /// The command line was wrong (clap's own code too).
    Usage = 2,
    /// No keychain, a locked one, or one that did not answer in time.
    Keychain = 3,
    /// The server refused: a wrong password or token, not permitted, an untrusted certificate.
    Refused = 4,
    /// The server could not be reached.
    Unreachable = 5,
}

#[derive(Parser, Debug)]
#[command(
    name = "tokenauth",
    version,
    about = "Keep API tokens in the OS keychain and hand them to scripts",
    after_help = "Exit codes: 0 done; 1 no token saved for that server, user and label; 2 usage; \
                  3 no keychain, locked, or no answer in time; 4 refused by the server; \
                  5 server unreachable. `exec` exits with the command's own code."
)]
pub struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Args, Debug, Clone)]
struct Which {
    /// The server, e.g. https://jira.example.com or http://127.0.0.1:2990
    url: String,
    /// The user the token belongs to
    #[arg(long, short)]
    user: String,
    /// Which of the user's tokens (several may be kept per server and user)
    #[arg(long, short)]
    label: Option<String>,
}

#[derive(Args, Debug, Clone)]
struct TlsArgs {
    /// Trust the certificates in this PEM file for HTTPS, besides the system's
    #[arg(long, env = "TOKENAUTH_CA_FILE")]
    ca_file: Option<PathBuf>,
    /// Trust a self-signed server whose certificate has this SHA-256 fingerprint (as the stub
    /// prints it); it is pinned for that server — the one that presents it — from then on
    #[arg(long, value_name = "AB:CD:…")]
    accept_fingerprint: Option<String>,
    /// The one server --accept-fingerprint is for (with `list`, which asks several)
    #[arg(long, value_name = "URL", requires = "accept_fingerprint")]
    server: Option<String>,
}

/// A fingerprint compared without its colons and case.
fn fingerprint_key(fp: &str) -> String {
    fp.chars()
        .filter(char::is_ascii_hexdigit)
        .map(|c| c.to_ascii_uppercase())
        .collect()
}

/// Whether `--accept-fingerprint` may pin `url` (security review 2, N13): the server must be
/// the one `--server` names, if any, and must present that very certificate now — so a
/// fingerprint meant for one server never re-pins another.
fn accepted_for(url: &str, tls: &TlsArgs) -> Result<Option<String>, Stop> {
    let Some(fp) = &tls.accept_fingerprint else {
        return Ok(None);
    };
    if let Some(named) = &tls.server
        && normalize_url(named) != normalize_url(url)
    {
        return Ok(None);
    }
    let presented = runtime()?
        .block_on(tls::probe(url))
        .map_err(|f| Stop::new(Exit::Refused, f.message))?;
    if fingerprint_key(&presented.fingerprint) == fingerprint_key(fp) {
        Ok(Some(presented.fingerprint))
    } else if tls.server.is_some() {
        Err(Stop::new(
            Exit::Refused,
            format!(
                "{url} presents the fingerprint {}, not {fp}: nothing pinned",
                presented.fingerprint
            ),
        ))
    } else {
        Ok(None)
    }
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// Keep a token for URL: the token, or the password to make one with, on standard input
    Login {
        #[command(flatten)]
        which: Which,
        #[command(flatten)]
        tls: TlsArgs,
        /// Scope of a token made with a password
        #[arg(long, value_enum, default_value_t = ScopeArg::ReadOnly)]
        scope: ScopeArg,
        /// Days a token made with a password lives [default: the server's maximum]
        #[arg(long)]
        days: Option<u32>,
        /// Description of a token made with a password
        #[arg(long)]
        description: Option<String>,
        /// Send the secret over plain http:// to another machine all the same
        #[arg(long)]
        insecure_http: bool,
    },
    /// Print the saved token alone on standard output
    Get {
        #[command(flatten)]
        which: Which,
    },
    /// Run a command with the token in its environment (TOKENAUTH_TOKEN, JIRA_API_TOKEN,
    /// JIRA_USER, JIRA_URL)
    Exec {
        #[command(flatten)]
        which: Which,
        /// Other variable names: token=NAME, user=NAME or url=NAME (repeatable; replaces the
        /// defaults for that kind)
        #[arg(long = "env", value_name = "KIND=NAME")]
        env: Vec<String>,
        /// The command and its arguments, after --
        #[arg(last = true, required = true, value_name = "CMD")]
        command: Vec<OsString>,
    },
    /// List the saved tokens (servers, users, labels, token ids, expiry where the server
    /// answers); never a secret
    List {
        /// Do not ask the servers for expiry dates
        #[arg(long)]
        offline: bool,
        #[command(flatten)]
        tls: TlsArgs,
    },
    /// Replace the saved token by a new one (same owner, description and scope, a fresh
    /// expiry): the old secret stops working at once, the new one is kept in its place
    Rotate {
        #[command(flatten)]
        which: Which,
        #[command(flatten)]
        tls: TlsArgs,
        /// Days the new token lives [default: as long as the old one did]
        #[arg(long)]
        days: Option<u32>,
        /// Send the secret over plain http:// to another machine all the same
        #[arg(long)]
        insecure_http: bool,
    },
    /// Remove a saved token from the keychain (the token itself stays valid on the server)
    Erase {
        #[command(flatten)]
        which: Which,
    },
    /// Which keychain holds the tokens, and whether it is reachable and unlocked
    Status,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum ScopeArg {
    ReadOnly,
    ReadWrite,
}

/// A failure and the exit code it means.
#[derive(Debug)]
pub struct Stop {
    pub code: Exit,
    pub message: String,
}

impl Stop {
    fn new(code: Exit, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }
}

impl From<KeychainError> for Stop {
    fn from(e: KeychainError) -> Self {
        match e {
            KeychainError::Unavailable(m) => Stop::new(Exit::Keychain, m),
            KeychainError::Invalid(m) => Stop::new(Exit::Usage, m),
        }
    }
}

fn from_failure(f: Failure) -> Stop {
    let code = if f.certificate.is_some() || f.status.is_some() {
        Exit::Refused
    } else if f.message.contains("cannot reach") || f.message.contains("did not answer") {
        Exit::Unreachable
    } else {
        Exit::Refused
    };
    Stop::new(code, f.message)
}

/// Runs the command line; answers the process's exit code.
pub fn main() -> i32 {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() {
                Exit::Usage as i32
            } else {
                0
            };
        }
    };
    match run(cli) {
        Ok(code) => code,
        Err(stop) => {
            let _ = writeln!(std::io::stderr(), "tokenauth: {}", stop.message);
            stop.code as i32
        }
    }
}

/// The token from `TOKENAUTH_TOKEN`, when set (it wins over the keychain).
fn env_token() -> Option<String> {
    std::env::var("TOKENAUTH_TOKEN")
        .ok()
        .filter(|t| !t.trim().is_empty())
}

fn keychain() -> Result<Keychain, Stop> {
    Ok(keychain::within(keychain::time_limit(), Keychain::open)?)
}

/// A keychain call under the time limit.
fn call<T: Send + 'static>(
    f: impl FnOnce(Keychain) -> Result<T, KeychainError> + Send + 'static,
) -> Result<T, Stop> {
    Ok(keychain::within(keychain::time_limit(), move || {
        f(Keychain::open()?)
    })?)
}

fn run(cli: Cli) -> Result<i32, Stop> {
    match cli.command {
        Cmd::Get { which } => {
            let secret = secret_for(&which)?;
            let mut out = std::io::stdout();
            let _ = writeln!(out, "{secret}");
            let _ = out.flush();
            Ok(0)
        }
        Cmd::Exec {
            which,
            env,
            command,
        } => exec(&which, &env, &command),
        Cmd::Login {
            which,
            tls,
            scope,
            days,
            description,
            insecure_http,
        } => login(&which, &tls, scope, days, description, insecure_http),
        Cmd::List { offline, tls } => list(offline, &tls),
        Cmd::Rotate {
            which,
            tls,
            days,
            insecure_http,
        } => rotate(&which, &tls, days, insecure_http),
        Cmd::Erase { which } => {
            let Which { url, user, label } = which.clone();
            let existed = call(move |k| k.remove(&url, &user, label.as_deref()))?;
            if existed {
                let _ = writeln!(
                    std::io::stderr(),
                    "erased {} from the keychain ({BACKEND}); the token stays valid on the \
                     server until it is revoked there",
                    describe(&which)
                );
                Ok(0)
            } else {
                Err(not_found(&which))
            }
        }
        Cmd::Status => status(),
    }
}

fn describe(w: &Which) -> String {
    match &w.label {
        Some(l) => format!("the token '{l}' of {} at {}", w.user, normalize_url(&w.url)),
        None => format!("the token of {} at {}", w.user, normalize_url(&w.url)),
    }
}

fn not_found(w: &Which) -> Stop {
    let label = w
        .label
        .as_ref()
        .map(|l| format!(" --label {l}"))
        .unwrap_or_default();
    Stop::new(
        Exit::NotFound,
        format!(
            "no {} in the keychain ({BACKEND}); keep one with: tokenauth login {} --user {}{label}",
            describe(w).trim_start_matches("the "),
            normalize_url(&w.url),
            w.user
        ),
    )
}

/// The secret for `which`: `TOKENAUTH_TOKEN` if set, else the keychain's.
fn secret_for(which: &Which) -> Result<String, Stop> {
    if let Some(t) = env_token() {
        return Ok(t);
    }
    let Which { url, user, label } = which.clone();
    call(move |k| k.get(&url, &user, label.as_deref()))?.ok_or_else(|| not_found(which))
}

/// The default variable names a token, user and URL are given under.
const TOKEN_VARS: [&str; 2] = ["TOKENAUTH_TOKEN", "JIRA_API_TOKEN"];

fn exec(which: &Which, env: &[String], command: &[OsString]) -> Result<i32, Stop> {
    let mut token_vars: Vec<String> = Vec::new();
    let mut user_vars: Vec<String> = Vec::new();
    let mut url_vars: Vec<String> = Vec::new();
    for spec in env {
        let Some((kind, name)) = spec.split_once('=') else {
            return Err(Stop::new(
                Exit::Usage,
                format!("--env {spec}: give KIND=NAME, e.g. token=GITHUB_TOKEN"),
            ));
        };
        let valid = !name.is_empty()
            && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
            && !name.as_bytes()[0].is_ascii_digit();
        if !valid {
            return Err(Stop::new(
                Exit::Usage,
                format!("--env {spec}: '{name}' is not a variable name"),
            ));
        }
        match kind {
            "token" => token_vars.push(name.to_owned()),
            "user" => user_vars.push(name.to_owned()),
            "url" => url_vars.push(name.to_owned()),
            other => {
                return Err(Stop::new(
                    Exit::Usage,
                    format!("--env {spec}: '{other}' is not token, user or url"),
                ));
            }
        }
    }
    if token_vars.is_empty() {
        token_vars = TOKEN_VARS.iter().map(|s| (*s).to_owned()).collect();
    }
    if user_vars.is_empty() {
        user_vars = vec!["JIRA_USER".into()];
    }
    if url_vars.is_empty() {
        url_vars = vec!["JIRA_URL".into()];
    }
    let secret = secret_for(which)?;
    let (program, args) = command
        .split_first()
        .ok_or_else(|| Stop::new(Exit::Usage, "give the command to run after --"))?;
    let mut child = Command::new(program);
    child.args(args);
    // The secret goes to the child's environment only: never its arguments, which other
    // users of the machine can read in the process list.
    for v in &token_vars {
        child.env(v, &secret);
    }
    for v in &user_vars {
        child.env(v, &which.user);
    }
    for v in &url_vars {
        child.env(v, normalize_url(&which.url));
    }
    let status = child.status().map_err(|e| {
        Stop::new(
            Exit::Usage,
            format!("cannot run {}: {e}", program.to_string_lossy()),
        )
    })?;
    Ok(exit_code(status))
}

fn exit_code(status: std::process::ExitStatus) -> i32 {
    if let Some(code) = status.code() {
        return code;
    }
    #[cfg(unix)]
    {
        use std::os::unix::process::ExitStatusExt;
        if let Some(signal) = status.signal() {
            return 128 + signal;
        }
    }
    1
}

/// Reads the secret from standard input: at a terminal without echo, else the whole input
/// (one line; the trailing newline is not part of it).
fn read_secret() -> Result<String, Stop> {
    let secret = if std::io::stdin().is_terminal() {
        rpassword::prompt_password("Token, or password to make one with: ")
            .map_err(|e| Stop::new(Exit::Usage, format!("reading the secret: {e}")))?
    } else {
        let mut s = String::new();
        std::io::stdin()
            .take(64 * 1024)
            .read_to_string(&mut s)
            .map_err(|e| {
                Stop::new(
                    Exit::Usage,
                    format!("reading the secret from standard input: {e}"),
                )
            })?;
        s.trim_end_matches(['\n', '\r']).to_owned()
    };
    if secret.is_empty() {
        return Err(Stop::new(
            Exit::Usage,
            "no secret on standard input: give the token, or the password to make one with \
             (e.g. `printf %s \"$TOKEN\" | tokenauth login URL --user U`)",
        ));
    }
    Ok(secret)
}

fn runtime() -> Result<tokio::runtime::Runtime, Stop> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Stop::new(Exit::Usage, format!("cannot start: {e}")))
}

fn trust_for(url: &str, tls: &TlsArgs) -> Result<Trust, Stop> {
    if let Some(fp) = accepted_for(url, tls)? {
        pins::set(url, &fp).map_err(|e| Stop::new(Exit::Usage, e))?;
        return Ok(Trust::Pinned(fp));
    }
    if let Some(fp) = pins::get(url) {
        return Ok(Trust::Pinned(fp));
    }
    match &tls.ca_file {
        Some(path) => Ok(Trust::PlatformAnd(
            tls::read_ca_file(path).map_err(|f| Stop::new(Exit::Usage, f.message))?,
        )),
        None => Ok(Trust::Platform),
    }
}

/// A refused certificate, explained with what to do: a self-signed server's fingerprint to
/// compare and accept.
async fn certificate_advice(url: &str, f: Failure) -> Stop {
    let Some(problem) = &f.certificate else {
        return from_failure(f);
    };
    if matches!(problem, CertProblem::Changed { .. }) {
        return Stop::new(
            Exit::Refused,
            format!(
                "{} If it did, accept the new one with --accept-fingerprint.",
                f.message
            ),
        );
    }
    match tls::probe(url).await {
        Ok(p) if p.self_signed && !p.expired => Stop::new(
            Exit::Refused,
            format!(
                "{url} presents a self-signed certificate (for {}) with the SHA-256 fingerprint\n  {}\n\
                 If this is the fingerprint the server printed when it started, run again with\n  \
                 --accept-fingerprint {}\nIt is then pinned for this server.",
                p.names.join(", "),
                p.fingerprint,
                p.fingerprint
            ),
        ),
        _ => from_failure(f),
    }
}

fn login(
    which: &Which,
    tls_args: &TlsArgs,
    scope: ScopeArg,
    days: Option<u32>,
    description: Option<String>,
    insecure_http: bool,
) -> Result<i32, Stop> {
    if let Some(l) = &which.label {
        keychain::check_label(l)?;
    }
    // The keychain first: without one there is nowhere to keep the token, so no token is made.
    call(|k| k.check())?;
    let secret = read_secret()?;
    let url = normalize_url(&which.url);
    let trust = trust_for(&url, tls_args)?;
    let rt = runtime()?;
    let token = rt.block_on(async {
        let api = Api::connect(&url, &which.user, &secret, &trust, insecure_http)
            .map_err(from_failure)?;
        if token_format::parse(&secret).is_ok() {
            // A token: keep it once the server takes it.
            match api.myself().await {
                Ok(_) => Ok(secret.clone()),
                Err(f) => Err(certificate_advice(&url, f).await),
            }
        } else {
            // A password: make a token with it, and keep the token (never the password).
            let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
                .map(|h| h.trim().to_owned())
                .unwrap_or_else(|_| "this machine".into());
            let new = NewToken {
                description: description.clone().unwrap_or_else(|| match &which.label {
                    Some(l) => format!("tokenauth CLI ({l}) on {host}"),
                    None => format!("tokenauth CLI on {host}"),
                }),
                scope: match scope {
                    ScopeArg::ReadOnly => Scope::ReadOnly,
                    ScopeArg::ReadWrite => Scope::ReadWrite,
                },
                validity: days.map_or(Validity::Default, Validity::Days),
            };
            match api.create_own(&new).await {
                Ok(view) => view
                    .token
                    .ok_or_else(|| Stop::new(Exit::Refused, "the server sent no secret")),
                Err(f) => Err(certificate_advice(&url, f).await),
            }
        }
    })?;
    let id = token_format::parse(&token)
        .map(|t| t.id.as_str().to_owned())
        .unwrap_or_default();
    let (u, user, label, t) = (url.clone(), which.user.clone(), which.label.clone(), token);
    call(move |k| k.put(&u, &user, label.as_deref(), &t))?;
    let _ = writeln!(
        std::io::stderr(),
        "kept {} (token {id}) in the keychain ({BACKEND})",
        describe(which)
    );
    Ok(0)
}

/// Rotates the saved token with itself and keeps the new secret in the same entry. The
/// keychain is checked first; should saving still fail after the server rotated, the new
/// secret is printed on standard output (it exists nowhere else) with what to do.
fn rotate(
    which: &Which,
    tls_args: &TlsArgs,
    days: Option<u32>,
    insecure_http: bool,
) -> Result<i32, Stop> {
    let Which { url, user, label } = which.clone();
    let secret =
        call(move |k| k.get(&url, &user, label.as_deref()))?.ok_or_else(|| not_found(which))?;
    let id = token_format::parse(&secret)
        .map(|t| t.id.as_str().to_owned())
        .map_err(|_| {
            Stop::new(
                Exit::Usage,
                format!(
                    "{} holds a password, not a token: nothing to rotate",
                    describe(which)
                ),
            )
        })?;
    let url = normalize_url(&which.url);
    let trust = trust_for(&url, tls_args)?;
    let rt = runtime()?;
    let view = rt.block_on(async {
        let api = Api::connect(&url, &which.user, &secret, &trust, insecure_http)
            .map_err(from_failure)?;
        match api
            .rotate(&id, days.map_or(Validity::Default, Validity::Days))
            .await
        {
            Ok(v) => Ok(v),
            Err(f) => Err(certificate_advice(&url, f).await),
        }
    })?;
    let new = view
        .token
        .clone()
        .ok_or_else(|| Stop::new(Exit::Refused, "the server sent no secret"))?;
    let (u, user, label, t) = (
        url.clone(),
        which.user.clone(),
        which.label.clone(),
        new.clone(),
    );
    if let Err(e) = call(move |k| k.put(&u, &user, label.as_deref(), &t)) {
        let mut out = std::io::stdout();
        let _ = writeln!(out, "{new}");
        let _ = out.flush();
        return Err(Stop::new(
            e.code,
            format!(
                "token {id} was rotated to {}, but the keychain did not take the new secret ({}); it is printed above, the only copy: keep it with `tokenauth login`",
                view.id, e.message
            ),
        ));
    }
    let _ = writeln!(
        std::io::stderr(),
        "rotated {}: token {id} no longer works; token {} (expires {}) kept in its place",
        describe(which),
        view.id,
        view.expires_at.as_deref().unwrap_or("never")
    );
    Ok(0)
}

fn list(offline: bool, tls_args: &TlsArgs) -> Result<i32, Stop> {
    let saved = call(|k| k.index())?;
    let mut out = std::io::stdout();
    if saved.is_empty() {
        let _ = writeln!(
            std::io::stderr(),
            "no tokens in the keychain ({BACKEND}); keep one with: tokenauth login URL --user U"
        );
        return Ok(0);
    }
    // A fingerprint to accept is for one server: the one that presents it (or --server names).
    let mut accepted = 0;
    let rt = runtime()?;
    let _ = writeln!(out, "SERVER\tUSER\tLABEL\tTOKEN\tEXPIRES");
    for s in saved {
        if !offline
            && tls_args.accept_fingerprint.is_some()
            && s.url.starts_with("https://")
            && matches!(accepted_for(&s.url, tls_args), Ok(Some(_)))
        {
            accepted += 1;
        }
        let expires = if offline {
            "-".to_owned()
        } else {
            expiry(&rt, &s, tls_args).unwrap_or_else(|why| why)
        };
        let _ = writeln!(
            out,
            "{}\t{}\t{}\t{}\t{expires}",
            s.url,
            s.user,
            s.label.as_deref().unwrap_or("-"),
            s.token_id.as_deref().unwrap_or("-"),
        );
    }
    if let Some(fp) = &tls_args.accept_fingerprint
        && !offline
        && accepted == 0
    {
        return Err(Stop::new(
            Exit::Refused,
            format!("no saved server presents the fingerprint {fp}: nothing pinned"),
        ));
    }
    Ok(0)
}

/// The expiry of a saved token, asked of its server with the token itself (a few seconds at
/// most); in words when the server does not say.
fn expiry(
    rt: &tokio::runtime::Runtime,
    saved: &crate::keychain::Saved,
    tls_args: &TlsArgs,
) -> Result<String, String> {
    let Some(id) = saved.token_id.clone() else {
        return Err("(not a token)".into());
    };
    let (url, user, label) = (saved.url.clone(), saved.user.clone(), saved.label.clone());
    let secret = call(move |k| k.get(&url, &user, label.as_deref()))
        .map_err(|e| e.message)?
        .ok_or("(missing)")?;
    let trust = trust_for(&saved.url, tls_args).map_err(|e| e.message)?;
    let api = Api::connect(&saved.url, &saved.user, &secret, &trust, false)
        .map_err(|_| "(not asked: plain http to another machine)".to_owned())?;
    rt.block_on(async {
        match tokio::time::timeout(std::time::Duration::from_secs(5), api.my_tokens()).await {
            Ok(Ok(tokens)) => Ok(tokens
                .iter()
                .find(|t| t.id == id)
                .map(|t| t.expires_at.clone().unwrap_or_else(|| "never".into()))
                .unwrap_or_else(|| "(revoked)".into())),
            Ok(Err(f)) if f.status == Some(401) => Err("(refused: revoked or expired)".into()),
            _ => Err("(server not answering)".into()),
        }
    })
}

fn status() -> Result<i32, Stop> {
    let mut err = std::io::stderr();
    let _ = writeln!(err, "keychain: {BACKEND}");
    if env_token().is_some() {
        let _ = writeln!(err, "TOKENAUTH_TOKEN is set: it wins over the keychain");
    }
    let k = keychain()?;
    drop(k);
    match call(|k| {
        k.check()?;
        k.index()
    }) {
        Ok(saved) => {
            let _ = writeln!(
                err,
                "reachable and unlocked; {} token(s) kept (tokenauth list shows them)",
                saved.len()
            );
            Ok(0)
        }
        Err(e) => Err(e),
    }
}

/// Certificates accepted on first use by the command line: server URL → SHA-256, in a file of
/// the user's config directory (0600; not a secret, but what stands for trust).
mod pins {
    use std::collections::BTreeMap;
    use std::path::PathBuf;

    use crate::profiles::normalize_url;

    fn path() -> Option<PathBuf> {
        directories::ProjectDirs::from("", "", "tokenauth")
            .map(|d| d.config_dir().join("pins.json"))
    }

    fn load() -> BTreeMap<String, String> {
        path()
            .and_then(|p| std::fs::read(p).ok())
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default()
    }

    pub fn get(url: &str) -> Option<String> {
        load().get(&normalize_url(url)).cloned()
    }

    pub fn set(url: &str, fingerprint: &str) -> Result<(), String> {
        let path = path().ok_or("no config directory for this user")?;
        if let Some(dir) = path.parent() {
            tokenauth_core::private_fs::create_dir(dir)
                .map_err(|e| format!("{}: {e}", dir.display()))?;
        }
        let mut pins = load();
        pins.insert(normalize_url(url), fingerprint.to_owned());
        let text = serde_json::to_vec_pretty(&pins).map_err(|e| e.to_string())?;
        let mut f = tokenauth_core::private_fs::PrivateFile::create(&path)
            .map_err(|e| format!("{}: {e}", path.display()))?;
        std::io::Write::write_all(f.file(), &text).map_err(|e| e.to_string())?;
        f.commit().map_err(|e| format!("{}: {e}", path.display()))
    }
}
