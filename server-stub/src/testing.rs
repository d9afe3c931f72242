//! The stub inside a Rust test, like wiremock-rs's `MockServer::start()`: a server on
//! `127.0.0.1:<free port>` with its data in a fresh private temporary directory, started on
//! the test's own tokio runtime and stopped when dropped.
//!
//! ```no_run
//! # async fn example() -> Result<(), tokenauth_stub::testing::TestServerError> {
//! use tokenauth_stub::testing::TestServer;
//!
//! let server = TestServer::builder()
//!     .users_toml(r#"
//!         [[users]]
//!         name = "ci-bot"
//!         password = "pw"
//!         [[users.tokens]]
//!         description = "CI fixture"
//!         secret = "tka_…"   # tokenauth-stub token mint
//!     "#)
//!     .start()
//!     .await?;
//! let url = server.uri("/rest/api/2/myself");
//! # Ok(()) }
//! ```
//!
//! It is [`server::open`] and [`server::serve`] and nothing more: the same routes, rules and
//! audit as the binary. One difference, for speed: secrets are hashed with [`TEST_HASH_PARAMS`]
//! (argon2id with 64 KiB and one pass, through [`ServerConfig::hash_params`]) instead of the
//! 19 MiB default, so seeding users and the first authentication cost microseconds. The
//! database lives only as long as the test, so nothing weaker outlives it.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use tokenauth_core::secret_hash::HashParams;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::config::users_file::{self, Seed, UsersFileError};
use crate::config::{ServerConfig, ephemeral_data_dir, remove_data_dir};
use crate::mocks::mappings::{Mocks, MocksError};
use crate::server::{self, ServerError};

/// argon2id at its cheapest sensible cost: real hashes, checked the real way, made in
/// microseconds. For test servers only.
pub const TEST_HASH_PARAMS: HashParams = HashParams {
    memory_kib: 64,
    iterations: 1,
    lanes: 1,
};

#[derive(Debug, thiserror::Error)]
pub enum TestServerError {
    #[error(transparent)]
    Users(#[from] UsersFileError),
    #[error(transparent)]
    Mappings(#[from] MocksError),
    #[error("cannot create the temporary data directory: {0}")]
    TempDir(std::io::Error),
    #[error(transparent)]
    Server(#[from] ServerError),
    #[error("the server task ended unexpectedly: {0}")]
    Task(String),
}

enum Users {
    Demo,
    Toml(String),
    File(PathBuf),
}

/// How the server starts: [`TestServer::builder`].
pub struct TestServerBuilder {
    users: Users,
    mappings: Option<PathBuf>,
    hash_params: HashParams,
    journal_size: Option<usize>,
    upstream: crate::upstream::UpstreamConfig,
}

impl TestServerBuilder {
    /// The users (and their fixed-secret tokens) as a users file's TOML text, instead of the
    /// demo users `admin`/`admin`, `alice`/`alice` and `bob`/`bob`.
    pub fn users_toml(mut self, toml: impl Into<String>) -> Self {
        self.users = Users::Toml(toml.into());
        self
    }

    /// The users from a users file (`--users`).
    pub fn users_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.users = Users::File(path.into());
        self
    }

    /// Serve the WireMock mappings of `dir` (its `mappings/` and `__files/`), as `--mappings`.
    pub fn mappings(mut self, dir: impl Into<PathBuf>) -> Self {
        self.mappings = Some(dir.into());
        self
    }

    /// Hash secrets with these argon2 parameters instead of [`TEST_HASH_PARAMS`] (e.g.
    /// `HashParams::DEFAULT`, to time the real cost).
    pub fn hash_params(mut self, params: HashParams) -> Self {
        self.hash_params = params;
        self
    }

    /// Keep this many requests in the journal instead of the default 10,000 (`--journal-size`;
    /// 0 turns it off).
    pub fn journal_size(mut self, n: usize) -> Self {
        self.journal_size = Some(n);
        self
    }

    /// Proxy every request no mapping answers to `url`, as `--proxy-all`.
    pub fn proxy_all(mut self, url: impl Into<String>) -> Self {
        self.upstream.proxy_all = Some(url.into());
        self
    }

    /// Send this `Authorization` value to the upstream at `origin` (as the environment's
    /// `TOKENAUTH_UPSTREAM_AUTHORIZATION` and `TOKENAUTH_UPSTREAM_ORIGIN`).
    pub fn upstream_authorization(mut self, origin: &str, value: &str) -> Self {
        self.upstream.credential = crate::upstream::UpstreamCredential::new(origin, value).ok();
        self
    }

    /// Proxied requests time out after `t` (`--proxy-timeout`), their answers at most `max`
    /// bytes (`--proxy-max-body`).
    pub fn proxy_bounds(mut self, t: Duration, max: usize) -> Self {
        self.upstream.timeout = t;
        self.upstream.max_body = max;
        self
    }

    /// Record what `--proxy-all` answers from the start (`--record-mappings`), into the
    /// `mappings` folder, created if missing.
    pub fn record_mappings(mut self) -> Self {
        self.upstream.record_from_start = true;
        self
    }

    /// Opens a new database in a private temporary directory, seeds it, and serves it on
    /// `127.0.0.1:0` from a task on the current tokio runtime. Returns once the server accepts
    /// connections.
    pub async fn start(self) -> Result<TestServer, TestServerError> {
        let seed = match &self.users {
            Users::Demo => Seed::demo(),
            Users::Toml(text) => users_file::parse(text, "the users TOML")?,
            Users::File(path) => users_file::load(path)?,
        };
        let dir = ephemeral_data_dir("tokenauth-test-").map_err(TestServerError::TempDir)?;
        let mut config = ServerConfig::new(
            SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
            dir.path().to_path_buf(),
        );
        config.hash_params = self.hash_params;
        config.ephemeral = true;
        if let Some(n) = self.journal_size {
            config.journal_size = n;
        }
        if let Some(m) = &self.mappings
            && self.upstream.record_from_start
        {
            for sub in ["mappings", "__files"] {
                tokenauth_core::private_fs::create_dir(&m.join(sub))
                    .map_err(TestServerError::TempDir)?;
            }
        }
        let mut mocks = match &self.mappings {
            Some(m) => Mocks::load(m)?,
            None => Mocks::empty(),
        };
        if let Some(url) = &self.upstream.proxy_all {
            mocks = mocks.with_proxy_all(url)?;
        }
        config.mocks = Arc::new(mocks);
        config.upstream = self.upstream.clone();
        config.upstream.recordings_dir = self.mappings.clone();
        // Opening sled and hashing the seeded secrets block: off the runtime's threads.
        let opened = {
            let config = config.clone();
            tokio::task::spawn_blocking(move || server::open(&config, seed, None))
                .await
                .map_err(|e| TestServerError::Task(e.to_string()))??
        };
        let (auth, _) = opened;
        let data_dir = dir.path().to_path_buf();
        let (ready_tx, ready_rx) = oneshot::channel();
        let (stop_tx, stop_rx) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let released = Arc::downgrade(&auth);
            let served = server::serve(
                config,
                auth,
                None,
                move |addr, _| {
                    let _ = ready_tx.send(addr);
                },
                // Resolves on `stop`, and when the sender is dropped with the TestServer.
                async move {
                    let _ = stop_rx.await;
                },
            )
            .await;
            // The directory goes once nothing holds the database any more (the background
            // jobs were aborted and finish on their next poll), so sled is closed first.
            for _ in 0..250 {
                if released.strong_count() == 0 {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(4)).await;
            }
            let _ = tokio::task::spawn_blocking(move || remove_data_dir(dir)).await;
            served
        });
        match ready_rx.await {
            Ok(addr) => Ok(TestServer {
                addr,
                data_dir,
                stop: Some(stop_tx),
                task: Some(task),
            }),
            // `serve` failed before it listened: its error says why.
            Err(_) => match task.await {
                Ok(Err(e)) => Err(e.into()),
                Ok(Ok(())) => Err(TestServerError::Task("stopped before it listened".into())),
                Err(e) => Err(TestServerError::Task(e.to_string())),
            },
        }
    }
}

/// A running stub; see the [module](self) documentation. Dropping it stops the server: the
/// port is closed and the data directory removed within moments, while the runtime runs (or
/// when it shuts down). [`TestServer::stop`] waits for both.
pub struct TestServer {
    addr: SocketAddr,
    data_dir: PathBuf,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<Result<(), ServerError>>>,
}

impl TestServer {
    /// A server with the demo users and no mappings.
    pub async fn start() -> Result<Self, TestServerError> {
        Self::builder().start().await
    }

    pub fn builder() -> TestServerBuilder {
        TestServerBuilder {
            users: Users::Demo,
            mappings: None,
            hash_params: TEST_HASH_PARAMS,
            journal_size: None,
            upstream: crate::upstream::UpstreamConfig::default(),
        }
    }

    /// `http://127.0.0.1:PORT`, without a trailing slash.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The URL of `path` (which starts with `/`) on this server.
    pub fn uri(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub fn address(&self) -> SocketAddr {
        self.addr
    }

    /// Where the data lives while the server runs (removed when it stops).
    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// Stops the server and waits until its port is closed, everything is flushed and the data
    /// directory is removed.
    pub async fn stop(mut self) -> Result<(), TestServerError> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        match self.task.take() {
            Some(task) => task
                .await
                .map_err(|e| TestServerError::Task(e.to_string()))?
                .map_err(Into::into),
            None => Ok(()),
        }
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        // The task sees the sender go and shuts the server down on its own.
        self.stop.take();
    }
}
