//! The command line of `tokenauth-stub`: its arguments (`args`), the run they ask for (`run`
//! here: the process set up, the configuration made from the arguments, then the server or a
//! sub-command, `dispatch`), the default command (`serve`), the sub-commands on a stopped
//! server's data (`commands`), what a run sets up around its work (`process`), and why a run
//! failed (`error`). `main.rs` parses the arguments, calls [`run`] and prints the error.
//!
//! The top of the crate: it starts the server, so it may import every layer; nothing in the
//! crate imports it.

pub mod args;
pub mod commands;
mod dispatch;
pub mod error;
mod process;
mod serve;

use tokenauth_core::webhook_target::TargetPolicy;

use self::args::{Cli, Command, Unmatched};
use self::dispatch::dispatch;
use self::error::CliError;
use self::process::{init_logging, private_files, say};
use crate::config::{ServerConfig, default_data_dir, ephemeral_data_dir, remove_data_dir};
use crate::connection::tls::{self, TlsSource};
use crate::mocks::mappings::Mocks;
use crate::operations::audit_file::{AuditFile, AuditFileConfig};
use crate::operations::webhook::Webhooks;

/// Runs the command line `main.rs` parsed: the server (no sub-command, or `serve`), or one
/// sub-command on the data directory.
pub fn run(cli: Cli) -> Result<(), CliError> {
    private_files();
    if cli.serve.ephemeral && !matches!(cli.command, None | Some(Command::Serve)) {
        return Err(CliError::Usage(
            "--ephemeral is for running the server: a command on a new temporary database would be lost at once".into(),
        ));
    }
    // Removed when this is dropped, at the end of `run`: after the server has stopped and the
    // database is closed. 0700, under the platform's temporary directory.
    let ephemeral = if cli.serve.ephemeral {
        Some(
            ephemeral_data_dir("tokenauth-")
                .map_err(CliError::io("creating the temporary data directory"))?,
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
    config.webhooks = std::sync::Arc::new(Webhooks::new(TargetPolicy::new(
        cli.serve.bind.ip().is_loopback(),
        cli.serve.webhook_allow.clone(),
    )));
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
    if cli.serve.record_mappings
        && let Some(dir) = &cli.serve.mappings
    {
        // A recording starts from nothing: its folder is made (for its owner only).
        for sub in ["mappings", "__files"] {
            tokenauth_core::private_fs::create_dir(&dir.join(sub)).map_err(CliError::io(
                format!("creating {}", dir.join(sub).display()),
            ))?;
        }
    }
    let mut mocks = match &cli.serve.mappings {
        Some(dir) => {
            let (mocks, report) = Mocks::load_within(dir, cli.serve.max_mapping_bytes)?;
            // Standard error: the first line of standard output is the address scripts read.
            for refusal in &report.refused {
                say!("refused mapping: {refusal}");
            }
            say!("--mappings {}: {}", dir.display(), report.summary());
            if cli.serve.strict_mappings {
                report
                    .strict()
                    .map_err(crate::mocks::mappings::MocksError::Refused)?;
            }
            mocks
        }
        None => Mocks::empty_within(cli.serve.max_mapping_bytes),
    };
    if let Some(url) = &cli.serve.proxy_all {
        mocks = mocks.with_proxy_all(url)?;
    }
    config.mocks = std::sync::Arc::new(mocks);
    config.upstream = upstream_config(&cli.serve)?;
    config.journal_size = cli.serve.journal_size;
    config.unmatched_404 = cli.serve.unmatched == Unmatched::NotFound;
    config.gzip = !cli.serve.disable_gzip;
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
        if let Err(e) = remove_data_dir(dir) {
            say!("could not remove the temporary data directory {shown}: {e}");
        }
    }
    log.flush();
    result
}

/// Proxying and recording from the command line and the environment. The upstream's
/// credential comes from the environment only (never the command line, where `ps` shows it):
/// `TOKENAUTH_UPSTREAM_AUTHORIZATION`, for `--proxy-all`'s origin or `TOKENAUTH_UPSTREAM_ORIGIN`.
fn upstream_config(
    serve: &self::args::ServeArgs,
) -> Result<crate::upstream::UpstreamConfig, CliError> {
    let mut up = crate::upstream::UpstreamConfig {
        proxy_all: serve.proxy_all.clone(),
        timeout: std::time::Duration::from_secs(serve.proxy_timeout),
        max_body: serve.proxy_max_body,
        recordings_dir: serve.mappings.clone(),
        record_from_start: serve.record_mappings,
        ..Default::default()
    };
    if let Ok(value) = std::env::var("TOKENAUTH_UPSTREAM_AUTHORIZATION")
        && !value.trim().is_empty()
    {
        let origin = std::env::var("TOKENAUTH_UPSTREAM_ORIGIN")
            .ok()
            .or_else(|| serve.proxy_all.clone())
            .ok_or_else(|| {
                CliError::Usage(
                    "TOKENAUTH_UPSTREAM_AUTHORIZATION needs the origin it is for: --proxy-all URL or TOKENAUTH_UPSTREAM_ORIGIN".into(),
                )
            })?;
        up.credential = Some(
            crate::upstream::UpstreamCredential::new(&origin, &value)
                .map_err(|e| CliError::Usage(format!("TOKENAUTH_UPSTREAM_AUTHORIZATION: {e}")))?,
        );
    }
    Ok(up)
}

/// Opens `--audit-file` before anything is written: a file that cannot be opened is a
/// configuration error, said before the server starts rather than found in its log later.
fn start_audit_file(config: &ServerConfig) -> Result<Option<AuditFile>, CliError> {
    Ok(match &config.audit_file {
        Some(c) => Some(AuditFile::start(c.clone())?),
        None => None,
    })
}
