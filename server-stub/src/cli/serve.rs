//! The default command: serve the data directory, and tell the operator where and how.

use std::path::PathBuf;
use std::sync::Arc;

use tokenauth_core::service::TokenAuth;

use super::error::CliError;
use super::process::{report_open_data_dir, say, say_out};
use crate::config::ServerConfig;
use crate::operations::audit_file::AuditFile;
use crate::server;

/// Runs the server on the opened data (`seeded`: its users were created now) until SIGINT or
/// SIGTERM, saying where it listens (the first line on standard output) and how to reach it.
pub(super) fn serve(
    config: ServerConfig,
    (auth, seeded): (Arc<TokenAuth>, bool),
    users: Option<&PathBuf>,
    audit_file: Option<&AuditFile>,
    ephemeral: bool,
) -> Result<(), CliError> {
    let data_dir = config.data_dir.clone();
    report_open_data_dir(&data_dir);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(CliError::io("starting the async runtime"))?;
    runtime.block_on(async {
        let shutdown =
            server::shutdown_signal().map_err(CliError::io("installing the signal handlers"))?;
        // A write past the file-size limit raises SIGXFSZ, which kills a process by default:
        // handled, the write fails with EFBIG instead, and a failed write is counted, logged
        // and survived like a full disk.
        #[cfg(unix)]
        let _file_size_limit = tokio::signal::unix::signal(
            tokio::signal::unix::SignalKind::from_raw(rustix::process::Signal::XFSZ.as_raw()),
        )
        .map_err(CliError::io("installing the signal handlers"))?;
        let mocks = config.mocks.clone();
        let upstream = config.upstream.clone();
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
            if let Some(url) = &upstream.proxy_all {
                let credential = match &upstream.credential {
                    Some(c) => format!("with TOKENAUTH_UPSTREAM_AUTHORIZATION for {}", c.origin()),
                    None => "without a credential (TOKENAUTH_UPSTREAM_AUTHORIZATION is not set)".into(),
                };
                say!("proxying every request no mapping answers to {url}, after the token rules, {credential}");
            }
            if let (true, Some(dir)) = (upstream.record_from_start, &upstream.recordings_dir) {
                say!("recording into {} (mappings/ and __files/, each answer as it is sent)", dir.display());
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
        .map_err(CliError::from)
    })?;
    Ok(())
}
