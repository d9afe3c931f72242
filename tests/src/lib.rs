//! The end-to-end harness: builds the real `tokenauth-stub` binary once, starts it on
//! 127.0.0.1:0 with a temp data directory, and talks to it over HTTP.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test support: a broken setup should fail loudly

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use reqwest::{Method, RequestBuilder, Response};
use serde_json::{Value, json};

pub use tokenauth_core::credentials::basic_header;

/// reqwest is built without a crypto provider of its own (the workspace uses rustls with ring):
/// install ring as the process default once, before any client is built.
pub fn init_tls() {
    static ONCE: OnceLock<()> = OnceLock::new();
    ONCE.get_or_init(|| {
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}

/// An HTTPS client that trusts exactly the certificates of `ca_pem` (no platform roots).
pub fn https_client(ca_pem: &[u8]) -> reqwest::Client {
    init_tls();
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls::pki_types::pem::PemObject::pem_slice_iter(ca_pem) {
        roots.add(cert.unwrap()).unwrap();
    }
    let config = rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    reqwest::Client::builder()
        .tls_backend_preconfigured(config)
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap()
}

/// The binary under test, built once per test process; `TOKENAUTH_E2E_BIN` names another build
/// to run the same tests against (an older release, to show an attack test fails there).
pub fn binary() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        if let Some(other) = std::env::var_os("TOKENAUTH_E2E_BIN") {
            return PathBuf::from(other);
        }
        let root = Path::new(env!("CARGO_MANIFEST_DIR"))
            .parent()
            .unwrap()
            .to_path_buf();
        let target =
            std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| root.join("target"), PathBuf::from);
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let status = Command::new(cargo)
            .args([
                "build",
                "--quiet",
                "-p",
                "tokenauth-stub",
                "--bin",
                "tokenauth-stub",
            ])
            .current_dir(&root)
            .status()
            .expect("running cargo build for tokenauth-stub");
        assert!(status.success(), "building tokenauth-stub failed");
        target.join("debug").join("tokenauth-stub")
    })
}

pub struct Server {
    pub base: String,
    pub data: PathBuf,
    child: Option<Child>,
    _dir: Option<tempfile::TempDir>,
    pub http: reqwest::Client,
    log: PathBuf,
    /// The `Authorization` the harness's admin calls use: the admin's password, until a test
    /// that disables passwords hands it a token.
    admin_auth: std::sync::RwLock<String>,
    /// The server's certificate (PEM), when it serves HTTPS.
    pub ca: Option<Vec<u8>>,
}

impl Server {
    /// A new server on a new data directory with the demo users.
    pub fn start() -> Self {
        Self::start_with(&[])
    }

    /// [`Server::start`] with more command-line options.
    pub fn start_with(extra: &[&str]) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        let mut s = Self::start_on(&data, extra);
        s._dir = Some(dir);
        s
    }

    /// The server's process id, while it runs.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().map(Child::id).expect("the server runs")
    }

    /// A line of `/proc/<pid>/status` as a number: `Threads`, `VmRSS` (KiB)...
    pub fn proc_status(&self, field: &str) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid())).unwrap();
        status
            .lines()
            .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
            .and_then(|v| v.split_whitespace().next()?.parse().ok())
            .unwrap_or_else(|| panic!("no {field} in /proc status"))
    }

    /// The argon2 verifications the server ran, as it reports them when it stops: stops it.
    pub fn stop_and_count_argon2(&mut self) -> u64 {
        self.stop();
        let log = self.log();
        log.split("argon2_verifications=")
            .nth(1)
            .and_then(|rest| {
                rest.split(|c: char| !c.is_ascii_digit())
                    .next()?
                    .parse()
                    .ok()
            })
            .unwrap_or_else(|| panic!("no verification count in the log:\n{log}"))
    }

    /// The address the server listens on.
    pub fn addr(&self) -> std::net::SocketAddr {
        self.base
            .trim_start_matches("http://")
            .trim_start_matches("https://")
            .parse()
            .unwrap()
    }

    pub fn start_on(data: &Path, extra: &[&str]) -> Self {
        Self::launch(data, extra, None, &[])
    }

    /// [`Server::start_on`] with these environment variables (a secret the server reads from
    /// its environment, never its command line).
    pub fn start_on_with_env(data: &Path, extra: &[&str], env: &[(&str, &str)]) -> Self {
        Self::launch(data, extra, None, env)
    }

    /// A new server whose files may grow to `file_size` bytes at most (`prlimit --fsize`): a
    /// full disk, for the tests of failing writes.
    pub fn start_limited(data: &Path, file_size: u64) -> Self {
        Self::launch(data, &[], Some(file_size), &[])
    }

    fn launch(data: &Path, extra: &[&str], file_size: Option<u64>, env: &[(&str, &str)]) -> Self {
        init_tls();
        let log = data.with_extension(format!("log-{}", std::process::id()));
        let err = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)
            .unwrap();
        let mut command = match file_size {
            None => Command::new(binary()),
            Some(limit) => {
                let mut c = Command::new("prlimit");
                c.arg(format!("--fsize={limit}")).arg("--").arg(binary());
                c
            }
        };
        let mut child = command
            .arg("--data-dir")
            .arg(data)
            // Loopback on a port of the kernel's choosing, unless the test names its own.
            .args(if extra.contains(&"--bind") {
                &[][..]
            } else {
                &["--bind", "127.0.0.1:0"][..]
            })
            .args(extra)
            .env("TOKENAUTH_LOG", "info")
            .envs(env.iter().copied())
            .env_remove("RUST_BACKTRACE")
            .stdout(Stdio::piped())
            .stderr(err)
            .spawn()
            .expect("starting tokenauth-stub");
        let stdout = child.stdout.take().unwrap();
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line).unwrap();
        let base = line
            .trim()
            .strip_prefix("tokenauth-stub listening on ")
            .unwrap_or_else(|| {
                panic!(
                    "unexpected first line {line:?}; log: {}",
                    std::fs::read_to_string(&log).unwrap_or_default()
                )
            })
            .to_owned();
        // Over HTTPS the harness trusts the server's own certificate, and nothing else.
        let ca = base.starts_with("https://").then(|| {
            let cert = extra
                .iter()
                .position(|a| *a == "--tls-cert")
                .and_then(|i| extra.get(i + 1))
                .map_or_else(|| data.join("tls/self-signed.crt"), PathBuf::from);
            std::fs::read(cert).unwrap()
        });
        let http = match &ca {
            Some(pem) => https_client(pem),
            None => reqwest::Client::builder()
                .timeout(Duration::from_secs(30))
                .build()
                .unwrap(),
        };
        Self {
            base,
            data: data.to_path_buf(),
            child: Some(child),
            _dir: None,
            http,
            ca,
            log,
            admin_auth: std::sync::RwLock::new(basic_header("admin", "admin")),
        }
    }

    /// Stops with SIGTERM (a clean shutdown) and waits for the process.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = Command::new("kill")
                .args(["-TERM", &child.id().to_string()])
                .status();
            let deadline = Instant::now() + Duration::from_secs(20);
            while Instant::now() < deadline {
                if child.try_wait().ok().flatten().is_some() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Kills the process with SIGKILL: no shutdown code runs.
    pub fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts again on the same data directory (after [`Server::stop`] or [`Server::kill9`]).
    pub fn start_again(mut self) -> Self {
        let dir = self._dir.take();
        let mut s = Self::start_on(&self.data, &[]);
        s._dir = dir;
        s
    }

    /// Stops cleanly and starts again on the same data directory with `extra` options.
    pub fn restart_with(mut self, extra: &[&str]) -> Self {
        self.stop();
        let dir = self._dir.take();
        let mut s = Self::start_on(&self.data, extra);
        s._dir = dir;
        s
    }

    /// Stops cleanly and starts again on the same data directory.
    pub fn restart(mut self) -> Self {
        self.stop();
        let dir = self._dir.take();
        let mut s = Self::start_on(&self.data, &[]);
        s._dir = dir;
        s
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The log, once it holds `part` (standard error is written while the test runs on).
    pub fn log_with(&self, part: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let log = self.log();
            if log.contains(part) || Instant::now() > deadline {
                return log;
            }
            std::thread::sleep(Duration::from_millis(25));
        }
    }

    /// The value of one series of `GET /metrics` (e.g. `tokenauth_audit_file_failed_total` or
    /// `tokenauth_expiry_notices_total{outcome="sent"}`), from this machine.
    pub async fn metric(&self, series: &str) -> f64 {
        let text = text_of(self.req(Method::GET, "/metrics")).await;
        text.lines()
            .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
            .unwrap_or_else(|| panic!("no {series} in /metrics:\n{text}"))
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    pub fn req(&self, method: Method, path: &str) -> RequestBuilder {
        self.http.request(method, self.url(path))
    }

    pub fn get_as(&self, path: &str, user: &str, secret: &str) -> RequestBuilder {
        self.req(Method::GET, path)
            .header("Authorization", basic_header(user, secret))
    }

    pub fn admin(&self, method: Method, path: &str) -> RequestBuilder {
        let auth = self.admin_auth.read().unwrap().clone();
        self.req(method, path).header("Authorization", auth)
    }

    /// Makes the harness's admin calls use an admin token from now on.
    pub async fn admin_uses_token(&self) {
        let t = self.secret("admin", "READ_WRITE").await;
        *self.admin_auth.write().unwrap() = format!("Bearer {t}");
    }

    /// Creates a token as `user` (with their demo password) and returns the JSON answer.
    pub async fn token(&self, user: &str, scope: &str) -> Value {
        let r = self
            .req(Method::POST, "/rest/tokenauth/1/tokens")
            .header("Authorization", basic_header(user, user))
            .json(&json!({"description": format!("{user} script"), "scope": scope}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201, "creating a token");
        r.json().await.unwrap()
    }

    pub async fn secret(&self, user: &str, scope: &str) -> String {
        self.token(user, scope).await["token"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    /// Changes settings as admin (with force, so tests may lock out the loopback admin).
    pub async fn settings(&self, patch: Value) {
        let r = self
            .admin(Method::PUT, "/rest/tokenauth/1/admin/settings?force=true")
            .json(&patch)
            .send()
            .await
            .unwrap();
        assert_eq!(
            r.status(),
            200,
            "changing settings: {}",
            r.text().await.unwrap()
        );
    }

    /// Audit events (newest first) once the background writer has stored at least `min` that
    /// match `query`.
    pub async fn events(&self, query: &str, min: usize) -> Vec<Value> {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let r = self
                .admin(
                    Method::GET,
                    &format!("/rest/auditing/1.0/events?limit=1000&{query}"),
                )
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 200);
            let v: Value = r.json().await.unwrap();
            let list = v["entities"].as_array().cloned().unwrap_or_default();
            if list.len() >= min || Instant::now() > deadline {
                return list;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    /// Writes an always-audited marker (a token created and deleted by bob) and waits for it:
    /// the writer keeps order, so every event of earlier requests is stored by then.
    pub async fn settle(&self) {
        self.settle_as(&basic_header("bob", "bob")).await;
    }

    /// [`Server::settle`] with bob's given `Authorization` (for tests that disable passwords).
    pub async fn settle_as(&self, bob_auth: &str) {
        let r = self
            .req(Method::POST, "/rest/tokenauth/1/tokens")
            .header("Authorization", bob_auth)
            .json(&json!({"description": "settle marker"}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201, "settle marker");
        let t: Value = r.json().await.unwrap();
        let id = t["id"].as_str().unwrap();
        let r = self
            .req(Method::DELETE, &format!("/rest/tokenauth/1/tokens/{id}"))
            .header("Authorization", bob_auth)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 204);
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            let ev = self.events("action=API token deleted&user=bob", 1).await;
            if ev.iter().any(|e| e["tokenId"] == id) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!("marker event never arrived");
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Status, the named header (if any) and the JSON body of a response.
pub async fn parts(r: Response, header: &str) -> (u16, Option<String>, Value) {
    let status = r.status().as_u16();
    let h = r
        .headers()
        .get(header)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let body = r.json().await.unwrap_or(Value::Null);
    (status, h, body)
}

/// Sends a request and answers its JSON body (panics on a transport error or a non-JSON body).
pub async fn json_of(rb: RequestBuilder) -> Value {
    rb.send().await.unwrap().json().await.unwrap()
}

/// Sends a request and answers its body as text.
pub async fn text_of(rb: RequestBuilder) -> String {
    rb.send().await.unwrap().text().await.unwrap()
}

/// Sends a request and answers its status.
pub async fn status_of(rb: RequestBuilder) -> u16 {
    rb.send().await.unwrap().status().as_u16()
}
