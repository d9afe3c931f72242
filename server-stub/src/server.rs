//! Starting and stopping the server: open the store, seed users, bind, serve, and on shutdown
//! drain the background writer and flush the database.
//!
//! Above the routes: it builds the state from the parts, hands the routes to the connection,
//! and starts the background jobs (pruner, notifier, SIGHUP reloads).

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokenauth_core::CoreError;
use tokenauth_core::clock::SystemClock;
use tokenauth_core::service::TokenAuth;
use tokenauth_core::store::{SledStore, StoreError};

use crate::authentication::cache::{CacheMetrics, VerifiedCache};
use crate::authentication::hashing::HashPool;
use crate::authentication::rate_limit::RateLimiter;
use crate::authentication::sessions::Sessions;
use crate::config::ServerConfig;
use crate::config::users_file::{DEMO_NAMES, Seed};
use crate::connection::listener;
use crate::connection::tls::{CertInfo, Tls};
use crate::operations::audit_file::{AuditFile, FileCounters};
use crate::operations::metrics::Metrics;
use crate::operations::notifier::{self, Notifier};
use crate::operations::writer::{Writer, WriterMetrics};
use crate::state::{AppState, Phase};

const PRUNE_EVERY: Duration = Duration::from_secs(600);

#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Core(#[from] CoreError),
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error(
        "refusing to listen on the non-loopback address {0} while the demo user '{1}' still has its demo password; change it first (tokenauth-stub user passwd {1}) or bind 127.0.0.1"
    )]
    DemoPassword(SocketAddr, String),
    #[error("the server failed: {0}")]
    Serve(std::io::Error),
    #[error(
        "refusing to serve plain HTTP on the non-loopback address {0}: passwords and tokens would \
         cross the network in clear. Use --tls-self-signed (or --tls-cert and --tls-key), or say \
         --insecure-http if something in front of this server (a proxy on this machine) does TLS"
    )]
    PlainHttp(SocketAddr),
    #[error(transparent)]
    Tls(#[from] crate::connection::tls::TlsError),
    #[error("{0}")]
    Recording(String),
    #[error(
        "--proxy-all {0} is this server itself ({1}): every request would be sent round again. Point it at the server to record"
    )]
    ProxyLoop(String, SocketAddr),
}

/// Whether `url` names this server's own address (a loopback name or address, or the address
/// it listens on, with its port): a proxy to it would send every request round again. A loop
/// through another host is caught at run time by the `Via` mark (`crate::upstream`).
fn points_here(url: &str, addr: SocketAddr) -> bool {
    // The WHATWG parser the client uses: `127.1`, `0x7f000001`, `2130706433` are 127.0.0.1.
    let Ok(u) = reqwest::Url::parse(url) else {
        return false;
    };
    if u.port_or_known_default() != Some(addr.port()) {
        return false;
    }
    let Some(host) = u.host_str() else {
        return false;
    };
    // The parser has written an address in its canonical form by now.
    let Ok(ip) = host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .parse::<std::net::IpAddr>()
        .map(|ip| ip.to_canonical())
    else {
        let d = host.trim_end_matches('.').to_ascii_lowercase();
        return d == "localhost" || d.ends_with(".localhost");
    };
    ip.is_loopback() || ip == addr.ip().to_canonical() || addr.ip().is_unspecified()
}

/// Opens the database and the rules on it, creating `seed`'s users and their fixed-secret
/// tokens on a new database. Returns whether they were created now. With `audit_file`, every event the store
/// commits from here on (the seeded users' too) also goes to that file.
pub fn open(
    config: &ServerConfig,
    seed: Seed,
    audit_file: Option<&AuditFile>,
) -> Result<(Arc<TokenAuth>, bool), ServerError> {
    let mut store = SledStore::open(&config.data_dir)?;
    if config.ephemeral {
        store = store.without_fsync();
    }
    if let Some(file) = audit_file {
        store = store.with_event_sink(file.sink());
    }
    let auth = TokenAuth::new(Arc::new(store), Arc::new(SystemClock), config.hash_params)?;
    let seeded = auth.seed(seed.users, seed.tokens)?;
    Ok((Arc::new(auth), seeded))
}

/// The first demo user that still has its demo password (its name), if any.
pub fn unchanged_demo_password(auth: &TokenAuth) -> Result<Option<String>, ServerError> {
    for name in DEMO_NAMES {
        if let Some(u) = auth.store().user(name).map_err(CoreError::from)?
            && u.password
                .as_ref()
                .is_some_and(|h| h.verify(name.as_bytes()))
        {
            return Ok(Some(name.to_owned()));
        }
    }
    Ok(None)
}

/// Serves until `shutdown` resolves; `ready` learns the bound address (port 0 becomes real)
/// and, with TLS, the certificate clients will see. `audit_file` (the one given to [`open`])
/// is reopened on SIGHUP and written out before this returns.
pub async fn serve(
    config: ServerConfig,
    auth: Arc<TokenAuth>,
    audit_file: Option<AuditFile>,
    ready: impl FnOnce(SocketAddr, Option<CertInfo>),
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServerError> {
    if !config.bind.ip().is_loopback() && config.tls.is_none() && !config.insecure_http {
        return Err(ServerError::PlainHttp(config.bind));
    }
    let tls = match &config.tls {
        Some(source) => {
            let source = source.clone();
            Some(Arc::new(
                tokio::task::spawn_blocking(move || Tls::load(source))
                    .await
                    .map_err(|e| ServerError::Serve(std::io::Error::other(e)))??,
            ))
        }
        None => None,
    };
    if !config.bind.ip().is_loopback() {
        let a = Arc::clone(&auth);
        let demo = tokio::task::spawn_blocking(move || unchanged_demo_password(&a))
            .await
            .map_err(|e| ServerError::Serve(std::io::Error::other(e)))??;
        if let Some(name) = demo {
            return Err(ServerError::DemoPassword(config.bind, name));
        }
    }
    let listener = tokio::net::TcpListener::bind(config.bind)
        .await
        .map_err(|source| ServerError::Bind {
            addr: config.bind,
            source,
        })?;
    let addr = listener.local_addr().map_err(ServerError::Serve)?;
    if let Some(url) = &config.upstream.proxy_all
        && points_here(url, addr)
    {
        return Err(ServerError::ProxyLoop(url.clone(), addr));
    }
    let metrics = Metrics::new();
    let (writer, writer_task) = Writer::spawn(
        Arc::clone(&auth),
        WriterMetrics {
            queued: metrics.audit_queued.clone(),
            written: metrics.audit_written.clone(),
            failed: metrics.audit_failed.clone(),
            last_used_failed: metrics.last_used_failed.clone(),
        },
    );
    if let Some(file) = &audit_file {
        file.count_in(FileCounters {
            written: metrics.audit_file_written.clone(),
            failed: metrics.audit_file_failed.clone(),
            rotation_failures: metrics.audit_file_rotation_failures.clone(),
        });
        // Installed before the server says it is ready: a SIGHUP from then on reopens the
        // file, and never meets the default action (which ends the process).
        reopen_on_hangup(file.clone()).map_err(ServerError::Serve)?;
    }
    let prune_now = Arc::new(tokio::sync::Notify::new());
    let journal =
        crate::mocks::journal::Journal::new(config.journal_size, Some(metrics.journal.clone()));
    let up = &config.upstream;
    let upstream = crate::upstream::Upstream::new(up.credential.clone(), up.timeout, up.max_body);
    let recorder = crate::mocks::recorder::Recorder::new(up.recordings_dir.clone());
    let record_from_start = up.record_from_start.then(|| up.proxy_all.clone());
    let state = Arc::new(AppState {
        cache: VerifiedCache::new(
            config.cache_capacity,
            config.failures_per_minute,
            config.hash_params,
        )
        .observed_by(CacheMetrics {
            hits: metrics.cache_hits.clone(),
            misses: metrics.cache_misses.clone(),
            argon2: metrics.argon2.clone(),
            argon2_seconds: metrics.argon2_seconds.clone(),
        }),
        metrics,
        hashing: HashPool::new(config.hash_concurrency).map_err(ServerError::Serve)?,
        writer: writer.clone(),
        sessions: Sessions::new(config.max_sessions),
        rate_limit: RateLimiter::default(),
        auth: Arc::clone(&auth),
        config,
        prune_now: Arc::clone(&prune_now),
        tls: tls.clone(),
        phase: Phase::default(),
        rotated_reports: crate::authentication::throttle::RotatedReports::default(),
        journal,
        upstream,
        recorder,
    });
    if let Some(target) = record_from_start {
        crate::routes::recordings::record_from_start(&state, target.as_deref())
            .await
            .map_err(ServerError::Recording)?;
    }
    if let Some(t) = &tls {
        tokio::spawn(reload_on_hangup(Arc::clone(t)));
    }
    let pruner = tokio::spawn(prune_forever(Arc::clone(&auth), prune_now));
    let sweeper = tokio::spawn(redact_journal(Arc::downgrade(&state)));
    let notifier = tokio::spawn(notifier::run(
        Notifier {
            auth: Arc::clone(&auth),
            webhooks: Arc::clone(&state.config.webhooks),
            sent: state.metrics.notices_sent.clone(),
            failed: state.metrics.notices_failed.clone(),
        },
        state.config.notifier.clone(),
    ));
    let app = crate::routes::router(Arc::clone(&state));
    let (max_connections, lowered) = listener::fit_connections(state.config.max_connections);
    if let Some(limit) = lowered {
        tracing::warn!(
            max_connections,
            open_files_limit = limit,
            "the open-files limit is low: serving at most {max_connections} connections at once \
             (raise it with ulimit -n)"
        );
    }
    let limits = listener::Limits {
        header_read_timeout: state.config.header_read_timeout,
        idle_timeout: state.config.idle_timeout,
        max_connections,
        // Of the cap in force (lowered to fit the open-files limit, if it was).
        max_connections_per_client: state
            .config
            .max_connections_per_client
            .unwrap_or_else(|| crate::connection::peers::default_share(max_connections)),
        counters: state.metrics.connections.clone(),
    };
    ready(addr, tls.as_ref().map(|t| t.info()));
    state.phase.running();
    let st = Arc::clone(&state);
    let shutdown = async move {
        shutdown.await;
        st.phase.stopping();
    };
    let served = listener::serve(listener, app, limits, tls, shutdown).await;
    pruner.abort();
    notifier.abort();
    sweeper.abort();
    let stats = state.cache.stats();
    tracing::info!(
        argon2_verifications = stats.hashed,
        answered_from_memory = stats.hits,
        "secret verification since start"
    );
    // Everything queued before shutdown reaches the disk.
    writer.flush().await;
    drop(state);
    drop(writer);
    let _ = writer_task.await;
    auth.store().flush().map_err(CoreError::from)?;
    if let Some(file) = audit_file {
        // After the writer's last batch: every event is in the file too.
        let _ = tokio::task::spawn_blocking(move || file.flush()).await;
    }
    tracing::info!("stopped; all audit events and last-used times are on disk");
    served.map_err(ServerError::Serve)
}

/// Reads the certificate again on SIGHUP; a certificate that does not load leaves the running
/// one in place and says why.
async fn reload_on_hangup(tls: Arc<Tls>) {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let Ok(mut hup) = signal(SignalKind::hangup()) else {
            return;
        };
        while hup.recv().await.is_some() {
            let t = Arc::clone(&tls);
            match tokio::task::spawn_blocking(move || t.reload()).await {
                Ok(Ok(info)) => tracing::info!(
                    fingerprint = %info.fingerprint,
                    not_after = %info.not_after,
                    "TLS certificate reloaded"
                ),
                Ok(Err(e)) => {
                    tracing::error!(error = %e, "TLS certificate not reloaded; the previous one stays");
                }
                Err(e) => tracing::error!(error = %e, "TLS certificate reload failed"),
            }
        }
    }
    #[cfg(not(unix))]
    let _ = tls;
}

/// Reopens the audit file on each SIGHUP (logrotate or a shipper moved it), beside the TLS
/// reload; the handler is installed now, the waiting runs in a task.
fn reopen_on_hangup(file: AuditFile) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut hup = signal(SignalKind::hangup())?;
        tokio::spawn(async move {
            while hup.recv().await.is_some() {
                file.reopen();
            }
        });
    }
    #[cfg(not(unix))]
    let _ = file;
    Ok(())
}

async fn prune_forever(auth: Arc<TokenAuth>, now: Arc<tokio::sync::Notify>) {
    loop {
        let a = Arc::clone(&auth);
        match tokio::task::spawn_blocking(move || a.prune_audit()).await {
            Ok(Ok(0)) => {}
            Ok(Ok(n)) => tracing::info!(removed = n, "pruned audit events past retention"),
            Ok(Err(e)) => tracing::error!(error = %e, "audit pruning failed"),
            Err(e) => tracing::error!(error = %e, "audit pruning failed"),
        }
        tokio::select! {
            () = tokio::time::sleep(PRUNE_EVERY) => {}
            () = now.notified() => {}
        }
    }
}

/// Redacts what the journal recorded, every second, once it is [`REDACT_WITHIN`] less a second
/// old: no unredacted request stays in memory longer than that, read or not (the journal's
/// module comment). Holds the state weakly, so the server's shutdown never waits for it.
async fn redact_journal(state: std::sync::Weak<AppState>) {
    use crate::mocks::journal::REDACT_WITHIN;
    let every = Duration::from_secs(1);
    loop {
        tokio::time::sleep(every).await;
        let Some(st) = state.upgrade() else { return };
        if !st.journal.enabled() {
            return;
        }
        let _ = tokio::task::spawn_blocking(move || {
            st.journal
                .redact_older_than(REDACT_WITHIN.saturating_sub(every))
        })
        .await;
    }
}

/// Resolves on SIGINT (Ctrl-C) or SIGTERM. The handlers are installed when this is called (not
/// when the future is first polled), so a signal that arrives while the server starts still
/// shuts it down cleanly instead of killing it with its logs unwritten. Call it inside the
/// runtime.
pub fn shutdown_signal() -> std::io::Result<impl Future<Output = ()> + Send + 'static> {
    #[cfg(unix)]
    let (mut int, mut term) = {
        use tokio::signal::unix::{SignalKind, signal};
        (
            signal(SignalKind::interrupt())?,
            signal(SignalKind::terminate())?,
        )
    };
    Ok(async move {
        #[cfg(unix)]
        tokio::select! {
            _ = int.recv() => {},
            _ = term.recv() => {},
        }
        #[cfg(not(unix))]
        let _ = tokio::signal::ctrl_c().await;
        tracing::info!("shutting down: finishing requests and flushing");
    })
}
