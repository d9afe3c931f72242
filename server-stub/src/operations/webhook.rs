//! Delivering one signed message to a webhook: the HTTP client, the target policy applied to
//! every address it connects to, and what an attempt reports.
//!
//! The policy (`core::webhook_target`) is checked on the address actually dialled: on an IP
//! literal before connecting, and on a name in the client's own resolver, after DNS — so a
//! name cannot lead where a literal could not. Redirects are never followed (a signed message
//! goes where the admin said, nowhere else), so no redirect can either. A failure is reported as
//! its reason class only: whether a port is closed, filtered or slow is not the admin API's to
//! tell (security review 2, N10).

use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use tokenauth_core::notify::{self, SIGNATURE_HEADER};
use tokenauth_core::webhook_target::{Refusal, TargetPolicy};

/// Why a message was not delivered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Undelivered {
    /// The target's address is one the policy refuses.
    RefusedByPolicy(Refusal),
    /// No connection: the name did not resolve, or the address did not accept (refused,
    /// filtered and slow to connect are one class).
    Unreachable,
    /// Connected, and no answer in time.
    Timeout,
    /// The receiver answered with a status other than 2xx.
    HttpError(u16),
    /// The request could not be made (an invalid URL, a TLS failure).
    Failed,
}

impl Undelivered {
    /// The class, as the test answer's `reason` and the metrics name it.
    pub fn class(&self) -> &'static str {
        match self {
            Undelivered::RefusedByPolicy(_) => "refused_by_policy",
            Undelivered::Unreachable => "unreachable",
            Undelivered::Timeout => "timeout",
            Undelivered::HttpError(_) => "http_error",
            Undelivered::Failed => "failed",
        }
    }

    /// Worth another attempt: no answer, 408, 429 and 5xx; not a refusal of any kind.
    pub fn retryable(&self) -> bool {
        match self {
            Undelivered::Unreachable | Undelivered::Timeout => true,
            Undelivered::HttpError(s) => *s == 408 || *s == 429 || *s >= 500,
            Undelivered::RefusedByPolicy(_) | Undelivered::Failed => false,
        }
    }
}

impl std::fmt::Display for Undelivered {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Undelivered::RefusedByPolicy(r) => write!(f, "refused by policy: {}", r.describe()),
            Undelivered::Unreachable => f.write_str("unreachable: no connection to the receiver"),
            Undelivered::Timeout => f.write_str("timeout: the receiver did not answer in time"),
            Undelivered::HttpError(s) => write!(f, "the receiver answered HTTP {s}"),
            Undelivered::Failed => {
                f.write_str("failed: the request could not be made (URL or TLS)")
            }
        }
    }
}

/// An attempt's outcome: the receiver's 2xx status, or why not.
pub type Delivery = Result<u16, Undelivered>;

/// The webhook sender of one server: its policy and its client (made on first use: loading the
/// platform's trust store takes tens of milliseconds a test run need not spend).
#[derive(Debug, Default)]
pub struct Webhooks {
    policy: Arc<TargetPolicy>,
    client: OnceLock<Result<reqwest::Client, String>>,
}

/// The resolver error that says the policy refused every address of a name.
#[derive(Debug)]
struct Refused(Refusal);

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.0.describe())
    }
}

impl std::error::Error for Refused {}

/// DNS through the system resolver, then the policy: only admitted addresses are dialled.
struct PolicyResolver(Arc<TargetPolicy>);

impl reqwest::dns::Resolve for PolicyResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let policy = Arc::clone(&self.0);
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let found: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let mut refusal = None;
            let admitted: Vec<SocketAddr> = found
                .into_iter()
                .filter(|a| match policy.check(a.ip()) {
                    Ok(()) => true,
                    Err(r) => {
                        refusal.get_or_insert(r);
                        false
                    }
                })
                .collect();
            match (admitted.is_empty(), refusal) {
                (true, Some(r)) => {
                    Err(Box::new(Refused(r)) as Box<dyn std::error::Error + Send + Sync>)
                }
                _ => Ok(Box::new(admitted.into_iter()) as reqwest::dns::Addrs),
            }
        })
    }
}

impl Webhooks {
    pub fn new(policy: TargetPolicy) -> Self {
        Self {
            policy: Arc::new(policy),
            client: OnceLock::new(),
        }
    }

    fn client(&self) -> Result<reqwest::Client, String> {
        self.client
            .get_or_init(|| build_client(Arc::clone(&self.policy)))
            .clone()
    }

    /// Makes the client now (on a blocking thread, before the first delivery of a round).
    pub fn ready(&self) -> Result<(), String> {
        self.client().map(|_| ())
    }

    /// One POST of a signed body.
    pub async fn post(&self, url: &str, secret: &str, body: Vec<u8>) -> Delivery {
        let parsed = reqwest::Url::parse(url).map_err(|_| Undelivered::Failed)?;
        // An IP literal never reaches the resolver: checked here.
        let literal = parsed
            .host_str()
            .map(|h| h.trim_start_matches('[').trim_end_matches(']'))
            .and_then(|h| h.parse::<IpAddr>().ok());
        if let Some(ip) = literal {
            self.policy
                .check(ip)
                .map_err(Undelivered::RefusedByPolicy)?;
        }
        let client = self.client().map_err(|_| Undelivered::Failed)?;
        let signature = notify::signature(secret.as_bytes(), &body);
        let r = client
            .post(parsed)
            .header("Content-Type", "application/json")
            .header(
                "User-Agent",
                concat!("tokenauth/", env!("CARGO_PKG_VERSION")),
            )
            .header(SIGNATURE_HEADER, signature)
            .body(body)
            .send()
            .await
            .map_err(|e| classify(&e))?;
        let status = r.status().as_u16();
        if r.status().is_success() {
            Ok(status)
        } else {
            Err(Undelivered::HttpError(status))
        }
    }
}

fn classify(e: &reqwest::Error) -> Undelivered {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = source {
        if let Some(Refused(r)) = err.downcast_ref::<Refused>() {
            return Undelivered::RefusedByPolicy(*r);
        }
        source = err.source();
    }
    if e.is_connect() {
        Undelivered::Unreachable
    } else if e.is_timeout() {
        Undelivered::Timeout
    } else {
        Undelivered::Failed
    }
}

/// The platform's trust store, short timeouts, no redirects, the policy's resolver.
fn build_client(policy: Arc<TargetPolicy>) -> Result<reqwest::Client, String> {
    let tls = crate::connection::tls_client::platform_client_config()?;
    reqwest::Client::builder()
        .tls_backend_preconfigured(tls)
        .connect_timeout(Duration::from_secs(5))
        .timeout(Duration::from_secs(10))
        .redirect(reqwest::redirect::Policy::none())
        // No proxy from the environment: the policy judges the receiver, not a proxy.
        .no_proxy()
        .dns_resolver(PolicyResolver(policy))
        .build()
        .map_err(|e| format!("the HTTP client: {e}"))
}
