//! The server's REST API as the app uses it. Every call authenticates with HTTP Basic (user and
//! password or API token) and turns a refusal into a [`Failure`] with the server's own words.

use std::path::{Path, PathBuf};
use std::time::Duration;

use reqwest::{Method, RequestBuilder, Response};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tokenauth_core::audit::Histogram;
use tokenauth_core::scope::Scope;
use tokenauth_core::settings::Settings;
use tokenauth_core::token::{TokenPolicy, TokenView};

use crate::failure::Failure;
use crate::profiles::normalize_url;
use crate::tls::{CertProblem, Trust};

/// Who signed in, as `/rest/api/2/myself` reports it.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Me {
    pub name: String,
    #[serde(default)]
    pub display_name: String,
    #[serde(default)]
    pub groups: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UserInfo {
    pub name: String,
    #[serde(default)]
    pub display_name: String,
    #[serde(default)]
    pub email_address: String,
    #[serde(default)]
    pub groups: Vec<String>,
    #[serde(default)]
    pub active: bool,
    /// Failed password logins since the last good one or an admin's reset.
    #[serde(default)]
    pub failed_login_count: u32,
}

/// A user to create; the password is optional (a user may live on tokens alone).
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NewUser {
    pub name: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub display_name: String,
    pub groups: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
}

/// A change to a user: only what is `Some` is sent.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct UserPatch {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub groups: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub active: Option<bool>,
}

/// How long a new token lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Validity {
    Days(u32),
    Never,
    /// Not said: the server's maximum (or less, for a token made with a token).
    Default,
}

#[derive(Debug, Clone)]
pub struct NewToken {
    pub description: String,
    pub scope: Scope,
    pub validity: Validity,
}

impl NewToken {
    fn body(&self) -> Value {
        let mut body = json!({"description": self.description, "scope": self.scope.as_str()});
        match self.validity {
            Validity::Days(d) => body["validityDays"] = json!(d),
            Validity::Never => body["neverExpires"] = json!(true),
            Validity::Default => {}
        }
        body
    }
}

/// The admin's token search.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TokenSearch {
    pub user: Option<String>,
    pub q: String,
    pub expired: Option<bool>,
    pub scope: Option<Scope>,
    pub offset: usize,
    pub limit: usize,
}

#[derive(Debug, Clone, Deserialize)]
pub struct TokenPage {
    pub offset: usize,
    pub total: usize,
    pub tokens: Vec<TokenView>,
}

/// Filters of the audit log; times are RFC 3339 or epoch milliseconds, as the server takes them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditFilter {
    pub from: Option<String>,
    pub to: Option<String>,
    pub user: Option<String>,
    pub action: Option<String>,
}

impl AuditFilter {
    fn params(&self) -> Vec<(&'static str, String)> {
        let mut p = Vec::new();
        for (k, v) in [
            ("from", &self.from),
            ("to", &self.to),
            ("user", &self.user),
            ("action", &self.action),
        ] {
            if let Some(v) = v {
                p.push((k, v.clone()));
            }
        }
        p
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct Named {
    #[serde(default)]
    pub name: String,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct EventType {
    #[serde(default)]
    pub category: String,
    #[serde(default)]
    pub action: String,
}

/// One value an event changed, before and after.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct ChangedValue {
    pub key: String,
    pub from: String,
    pub to: String,
}

/// One audit event as the Jira-shaped events endpoint gives it.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Event {
    pub id: u64,
    pub timestamp: String,
    pub author: Named,
    #[serde(rename = "type")]
    pub kind: EventType,
    pub affected_user: Option<String>,
    pub token_id: Option<String>,
    pub token_description: Option<String>,
    pub scope: Option<String>,
    pub method: Option<String>,
    pub path: Option<String>,
    pub source: Option<String>,
    pub proxy_ip: Option<String>,
    pub reason: Option<String>,
    pub changed_values: Vec<ChangedValue>,
}

#[derive(Debug, Clone, Default)]
pub struct EventPage {
    pub events: Vec<Event>,
    /// The cursor of the next older page, if there is one.
    pub next_before: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum ExportFormat {
    Csv,
    Json,
}

impl ExportFormat {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Csv => "csv",
            Self::Json => "json",
        }
    }
}

/// A signed-in connection. The secret lives only in memory.
#[derive(Clone)]
pub struct Api {
    http: reqwest::Client,
    base: String,
    user: String,
    secret: String,
}

impl std::fmt::Debug for Api {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Api")
            .field("base", &self.base)
            .field("user", &self.user)
            .finish_non_exhaustive()
    }
}

fn transport(base: &str, e: &reqwest::Error) -> Failure {
    if let Some(problem) = crate::tls::certificate_problem(e) {
        let message = match &problem {
            CertProblem::Changed { pinned, presented } => format!(
                "{base} presented another certificate than the one accepted for it, so nothing \
                 was sent. Accepted: {pinned}. Now: {presented}. If the server made a new \
                 certificate, compare its fingerprint with the one it printed at start before \
                 trusting it."
            ),
            CertProblem::Expired => {
                format!("the certificate of {base} has expired; nothing was sent")
            }
            CertProblem::Untrusted(why) => {
                format!("the certificate of {base} is not trusted here ({why}); nothing was sent")
            }
        };
        let mut f = Failure::new(message);
        f.certificate = Some(problem);
        return f;
    }
    if e.is_timeout() {
        Failure::new(format!("{base} did not answer in time; try again"))
    } else if e.is_connect() {
        Failure::new(format!(
            "cannot reach the server at {base}: is it running, and is the URL right?"
        ))
    } else if e.is_decode() {
        Failure::new(format!(
            "{base} answered with something that is not tokenauth's JSON ({e})"
        ))
    } else {
        Failure::new(format!("the request to {base} failed: {e}"))
    }
}

/// The words of a refusal in Jira's shape: `{"errorMessages": [..], "errors": {field: msg}}`.
fn refusal(status: u16, body: &str) -> Failure {
    let v: Value = serde_json::from_str(body).unwrap_or(Value::Null);
    let mut words: Vec<String> = v["errorMessages"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|m| m.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    let field = v["errors"]
        .as_object()
        .and_then(|o| o.iter().next())
        .map(|(k, m)| {
            if words.is_empty() {
                words.push(format!("{k}: {}", m.as_str().unwrap_or_default()));
            }
            k.clone()
        });
    if words.is_empty() {
        words.push(match status {
            401 => "the user or secret is not right (or the token expired or was revoked)".into(),
            403 => "you are not allowed to do this".into(),
            404 => "not found on this server".into(),
            429 => "too many requests; wait a moment".into(),
            _ => format!("the server answered {status}"),
        });
    }
    // A hostile server's words are shown every frame: bounded like any text from the network.
    let words = words.join("; ");
    Failure::new(tokenauth_core::bounded::text(&words, MESSAGE_CHARS).into_owned())
        .with_status(status)
        .with_field(field.map(|f| tokenauth_core::bounded::name(&f).into_owned()))
}

/// How long an export may stream.
const EXPORT_TIMEOUT: Duration = Duration::from_secs(3600);

/// The most of a server's refusal the app shows.
const MESSAGE_CHARS: usize = 300;
/// The largest error body read (the rest is not needed to show a message).
const ERROR_BODY_BYTES: usize = 64 * 1024;
/// The largest JSON answer read; a page of 1,000 audit events is well under 2 MiB.
const JSON_BODY_BYTES: usize = 16 * 1024 * 1024;

/// Reads at most `max` bytes of a body; `Err` when it is longer.
async fn read_bounded(mut r: Response, max: usize) -> Result<Vec<u8>, reqwest::Error> {
    let mut out = Vec::new();
    while let Some(chunk) = r.chunk().await? {
        if out.len() + chunk.len() > max {
            out.extend_from_slice(&chunk[..max.saturating_sub(out.len())]);
            return Ok(out);
        }
        out.extend_from_slice(&chunk);
    }
    Ok(out)
}

/// The URL must name a server and nothing else: credentials in it would be stored in the
/// profile, named in the keychain entry and shown in the header; a query or fragment is never
/// meant.
fn check_url(base: &str) -> Result<(), Failure> {
    let parsed = reqwest::Url::parse(base)
        .map_err(|e| Failure::new(format!("'{base}' is not a URL: {e}")))?;
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err(Failure::new(
            "put the user and secret in their own fields, not in the URL",
        ));
    }
    if parsed.query().is_some() || parsed.fragment().is_some() {
        return Err(Failure::new("the server URL takes no ?query or #fragment"));
    }
    Ok(())
}

/// The host a plain `http://` URL would send credentials to in clear, unless it is this machine
/// (loopback addresses and `localhost`): `None` for https, loopback, and what does not parse.
pub fn cleartext_host(url: &str) -> Option<String> {
    let parsed = reqwest::Url::parse(&normalize_url(url)).ok()?;
    if parsed.scheme() != "http" {
        return None;
    }
    let host = parsed.host_str()?;
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    let loopback = bare.eq_ignore_ascii_case("localhost")
        || bare
            .parse::<std::net::IpAddr>()
            .is_ok_and(|a| tokenauth_core::ip::canonical(a).is_loopback());
    (!loopback).then(|| host.to_owned())
}

impl Api {
    /// A client for `url` signing in as `user`. Plain `http://` to another machine is refused:
    /// it would carry the secret in clear (see [`Api::new_allowing_cleartext`]).
    pub fn new(url: &str, user: &str, secret: &str) -> Result<Self, Failure> {
        Self::connect(url, user, secret, &Trust::Platform, false)
    }

    /// [`Api::new`] once the user has confirmed sending the secret over plain HTTP.
    pub fn new_allowing_cleartext(url: &str, user: &str, secret: &str) -> Result<Self, Failure> {
        Self::connect(url, user, secret, &Trust::Platform, true)
    }

    /// A client for `url`: https judged by `trust`; plain http to another machine only when
    /// `allow_cleartext` (the user's consent).
    pub fn connect(
        url: &str,
        user: &str,
        secret: &str,
        trust: &Trust,
        allow_cleartext: bool,
    ) -> Result<Self, Failure> {
        if !allow_cleartext && let Some(host) = cleartext_host(url) {
            return Err(Failure::new(format!(
                "http://{host} is not this machine: your secret would cross the network \
                 unencrypted. Use https://, or confirm that you accept this."
            )));
        }
        let base = normalize_url(url);
        if base.is_empty() {
            return Err(Failure::new(
                "enter the server's URL, e.g. http://127.0.0.1:2990",
            ));
        }
        if !(base.starts_with("http://") || base.starts_with("https://")) {
            return Err(Failure::new(
                "the server URL must start with http:// or https://",
            ));
        }
        check_url(&base)?;
        if user.trim().is_empty() {
            return Err(Failure::new("enter your user name"));
        }
        if secret.is_empty() {
            return Err(Failure::new("enter your password or API token"));
        }
        let mut builder = reqwest::Client::builder()
            .tls_backend_preconfigured(crate::tls::client_config(trust)?)
            .connect_timeout(Duration::from_secs(5))
            .timeout(Duration::from_secs(60));
        if cleartext_host(&base).is_none() && base.starts_with("http://") {
            // This machine: never through a proxy from the environment (http_proxy without
            // 127.0.0.1 in no_proxy would carry the credentials across the network in clear).
            builder = builder.no_proxy();
        }
        let http = builder
            .build()
            .map_err(|e| Failure::new(format!("cannot start the HTTP client: {e}")))?;
        Ok(Self {
            http,
            base,
            user: user.trim().to_owned(),
            secret: secret.to_owned(),
        })
    }

    pub fn base(&self) -> &str {
        &self.base
    }

    /// The id of the token this client signs in with (`None`: a password).
    pub fn token_id(&self) -> Option<String> {
        tokenauth_core::token_format::parse(&self.secret)
            .ok()
            .map(|t| t.id.as_str().to_owned())
    }

    /// The same server and user with another secret (the sign-in token was rotated).
    pub fn with_secret(&self, secret: &str) -> Self {
        Self {
            http: self.http.clone(),
            base: self.base.clone(),
            user: self.user.clone(),
            secret: secret.to_owned(),
        }
    }

    pub fn user(&self) -> &str {
        &self.user
    }

    fn request(&self, method: Method, path: &str) -> RequestBuilder {
        self.http
            .request(method, format!("{}{path}", self.base))
            .basic_auth(&self.user, Some(&self.secret))
    }

    async fn send(&self, rb: RequestBuilder) -> Result<Response, Failure> {
        let r = rb.send().await.map_err(|e| transport(&self.base, &e))?;
        let status = r.status().as_u16();
        if r.status().is_success() {
            return Ok(r);
        }
        let body = read_bounded(r, ERROR_BODY_BYTES).await.unwrap_or_default();
        Err(refusal(status, &String::from_utf8_lossy(&body)))
    }

    async fn json<T: DeserializeOwned>(&self, rb: RequestBuilder) -> Result<T, Failure> {
        let r = self.send(rb).await?;
        let body = read_bounded(r, JSON_BODY_BYTES + 1)
            .await
            .map_err(|e| transport(&self.base, &e))?;
        if body.len() > JSON_BODY_BYTES {
            return Err(Failure::new(format!(
                "{} answered with more than {} MiB; not read",
                self.base,
                JSON_BODY_BYTES >> 20
            )));
        }
        serde_json::from_slice(&body).map_err(|e| {
            Failure::new(format!(
                "{} answered with something that is not tokenauth's JSON ({e})",
                self.base
            ))
        })
    }

    pub async fn myself(&self) -> Result<Me, Failure> {
        self.json(self.request(Method::GET, "/rest/api/2/myself"))
            .await
    }

    pub async fn policy(&self) -> Result<TokenPolicy, Failure> {
        self.json(self.request(Method::GET, "/rest/tokenauth/1/tokens/policy"))
            .await
    }

    pub async fn my_tokens(&self) -> Result<Vec<TokenView>, Failure> {
        self.json(self.request(Method::GET, "/rest/tokenauth/1/tokens"))
            .await
    }

    pub async fn create_own(&self, t: &NewToken) -> Result<TokenView, Failure> {
        self.json(
            self.request(Method::POST, "/rest/tokenauth/1/tokens")
                .json(&t.body()),
        )
        .await
    }

    /// Rotates a token (own, or anyone's for an admin): the new token, its secret this once.
    pub async fn rotate(&self, id: &str, validity: Validity) -> Result<TokenView, Failure> {
        let body = match validity {
            Validity::Default => serde_json::json!({}),
            Validity::Days(d) => serde_json::json!({"validityDays": d}),
            Validity::Never => serde_json::json!({"neverExpires": true}),
        };
        self.json(
            self.request(
                Method::POST,
                &format!("/rest/tokenauth/1/tokens/{}/rotate", encode(id)),
            )
            .json(&body),
        )
        .await
    }

    pub async fn revoke_own(&self, id: &str) -> Result<(), Failure> {
        self.send(self.request(
            Method::DELETE,
            &format!("/rest/tokenauth/1/tokens/{}", encode(id)),
        ))
        .await
        .map(drop)
    }

    pub async fn users(&self) -> Result<Vec<UserInfo>, Failure> {
        self.json(self.request(Method::GET, "/rest/tokenauth/1/admin/users"))
            .await
    }

    pub async fn create_user(&self, u: &NewUser) -> Result<UserInfo, Failure> {
        self.json(
            self.request(Method::POST, "/rest/tokenauth/1/admin/users")
                .json(u),
        )
        .await
    }

    /// Changes a user; `force` confirms a change the server refused as a conflict (an admin
    /// demoting or deactivating themselves).
    pub async fn update_user(
        &self,
        name: &str,
        patch: &UserPatch,
        force: bool,
    ) -> Result<UserInfo, Failure> {
        let mut rb = self
            .request(
                Method::PUT,
                &format!("/rest/tokenauth/1/admin/users/{}", encode(name)),
            )
            .json(patch);
        if force {
            rb = rb.query(&[("force", "true")]);
        }
        self.json(rb).await
    }

    pub async fn reset_failed_logins(&self, name: &str) -> Result<UserInfo, Failure> {
        self.json(self.request(
            Method::POST,
            &format!(
                "/rest/tokenauth/1/admin/users/{}/reset-failed-logins",
                encode(name)
            ),
        ))
        .await
    }

    pub async fn search_tokens(&self, s: &TokenSearch) -> Result<TokenPage, Failure> {
        let mut q: Vec<(&str, String)> = vec![
            ("offset", s.offset.to_string()),
            ("limit", s.limit.max(1).to_string()),
        ];
        if let Some(u) = &s.user {
            q.push(("user", u.clone()));
        }
        if !s.q.trim().is_empty() {
            q.push(("q", s.q.trim().to_owned()));
        }
        if let Some(e) = s.expired {
            q.push(("expired", e.to_string()));
        }
        if let Some(sc) = s.scope {
            q.push(("scope", sc.as_str().to_owned()));
        }
        self.json(
            self.request(Method::GET, "/rest/tokenauth/1/admin/tokens")
                .query(&q),
        )
        .await
    }

    pub async fn create_for(&self, user: &str, t: &NewToken) -> Result<TokenView, Failure> {
        self.json(
            self.request(
                Method::POST,
                &format!("/rest/tokenauth/1/admin/users/{}/tokens", encode(user)),
            )
            .json(&t.body()),
        )
        .await
    }

    pub async fn admin_revoke(&self, id: &str) -> Result<(), Failure> {
        self.send(self.request(
            Method::DELETE,
            &format!("/rest/tokenauth/1/admin/tokens/{}", encode(id)),
        ))
        .await
        .map(drop)
    }

    /// Revokes all of a user's tokens; answers how many went.
    pub async fn revoke_all(&self, user: &str) -> Result<u64, Failure> {
        let v: Value = self
            .json(self.request(
                Method::DELETE,
                &format!("/rest/tokenauth/1/admin/users/{}/tokens", encode(user)),
            ))
            .await?;
        Ok(v["deleted"].as_u64().unwrap_or(0))
    }

    pub async fn settings(&self) -> Result<Settings, Failure> {
        self.json(self.request(Method::GET, "/rest/tokenauth/1/admin/settings"))
            .await
    }

    /// Sends what changed from `base` (the settings as loaded) to `s`, not the whole document:
    /// a field another admin changed meanwhile keeps their value.
    /// Whether a signing secret for expiry notices is set (its value is never sent back).
    pub async fn notice_secret_set(&self) -> Result<bool, Failure> {
        let v: serde_json::Value = self
            .json(self.request(Method::GET, "/rest/tokenauth/1/admin/notifications"))
            .await?;
        Ok(v["secretSet"].as_bool().unwrap_or(false))
    }

    pub async fn set_notice_secret(&self, secret: &str) -> Result<(), Failure> {
        self.send(
            self.request(Method::PUT, "/rest/tokenauth/1/admin/notifications/secret")
                .json(&serde_json::json!({ "secret": secret })),
        )
        .await
        .map(drop)
    }

    /// Sends one signed test message to `url` (or the saved URL): the outcome in words.
    pub async fn test_notice(&self, url: Option<&str>) -> Result<String, Failure> {
        let body = match url {
            Some(u) => serde_json::json!({ "webhookUrl": u }),
            None => serde_json::json!({}),
        };
        let v: serde_json::Value = self
            .json(
                self.request(Method::POST, "/rest/tokenauth/1/admin/notifications/test")
                    .json(&body),
            )
            .await?;
        Ok(if v["delivered"].as_bool() == Some(true) {
            format!("Delivered: the receiver answered HTTP {}.", v["status"])
        } else {
            format!(
                "Not delivered: {}.",
                v["error"].as_str().unwrap_or("no answer")
            )
        })
    }

    pub async fn put_settings(
        &self,
        base: &Settings,
        s: &Settings,
        force: bool,
    ) -> Result<Settings, Failure> {
        self.json(
            self.request(Method::PUT, "/rest/tokenauth/1/admin/settings")
                .query(&[("force", force)])
                .json(&s.patch_from(base)),
        )
        .await
    }

    pub async fn events(
        &self,
        f: &AuditFilter,
        before: Option<&str>,
        limit: usize,
    ) -> Result<EventPage, Failure> {
        let mut q = f.params();
        q.push(("limit", limit.to_string()));
        if let Some(b) = before {
            q.push(("before", b.to_owned()));
        }
        let v: Value = self
            .json(
                self.request(Method::GET, "/rest/auditing/1.0/events")
                    .query(&q),
            )
            .await?;
        let events = serde_json::from_value(v["entities"].clone())
            .map_err(|e| Failure::new(format!("unexpected audit page from the server: {e}")))?;
        Ok(EventPage {
            events,
            next_before: v["pagingInfo"]["nextBefore"].as_str().map(str::to_owned),
        })
    }

    pub async fn histogram(&self, f: &AuditFilter, buckets: usize) -> Result<Histogram, Failure> {
        let mut q = f.params();
        q.push(("buckets", buckets.to_string()));
        self.json(
            self.request(Method::GET, "/rest/tokenauth/1/admin/audit/histogram")
                .query(&q),
        )
        .await
    }

    /// Streams the filtered events into `path`: written beside it first and renamed when
    /// complete, so a failed export never leaves half a file under the chosen name. Answers
    /// the bytes written.
    pub async fn export(
        &self,
        f: &AuditFilter,
        format: ExportFormat,
        path: &Path,
    ) -> Result<u64, Failure> {
        let mut q = f.params();
        q.push(("format", format.as_str().to_owned()));
        // A large export streams for longer than the 60 s an ordinary request may take.
        let mut r = self
            .send(
                self.request(Method::GET, "/rest/tokenauth/1/admin/audit/export")
                    .query(&q)
                    .timeout(EXPORT_TIMEOUT),
            )
            .await?;
        let partial = partial_path(path);
        let file_err =
            |e: std::io::Error| Failure::new(format!("cannot write {}: {e}", path.display()));
        let mut file = create_private(&partial).await.map_err(file_err)?;
        let mut written = 0u64;
        let result: Result<(), Failure> = async {
            use tokio::io::AsyncWriteExt;
            while let Some(chunk) = r.chunk().await.map_err(|e| transport(&self.base, &e))? {
                file.write_all(&chunk).await.map_err(file_err)?;
                written += chunk.len() as u64;
            }
            file.sync_all().await.map_err(file_err)?;
            Ok(())
        }
        .await;
        if let Err(e) = result {
            let _ = tokio::fs::remove_file(&partial).await;
            return Err(e);
        }
        if let Err(e) = tokio::fs::rename(&partial, path).await {
            let _ = tokio::fs::remove_file(&partial).await;
            return Err(file_err(e));
        }
        Ok(written)
    }
}

/// A new file only its owner can read (the audit log names users, addresses and tokens). A
/// leftover partial file is removed first and the new one created exclusively, so a symlink
/// planted under that name cannot redirect the export.
async fn create_private(path: &Path) -> std::io::Result<tokio::fs::File> {
    match tokio::fs::remove_file(path).await {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    let mut options = tokio::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    options.mode(0o600);
    options.open(path).await
}

fn partial_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(".partial");
    path.with_file_name(name)
}

/// Percent-encodes a path segment (user names may hold characters a URL path cannot).
fn encode(segment: &str) -> String {
    let mut out = String::with_capacity(segment.len());
    for b in segment.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refusal_keeps_the_servers_words_and_the_field_it_names() {
        let f = refusal(
            400,
            r#"{"errorMessages":["ipAllowList[1]: '10.0.0.0/33' is not an address"],"errors":{"ipAllowList":"bad"}}"#,
        );
        assert_eq!(f.message, "ipAllowList[1]: '10.0.0.0/33' is not an address");
        assert_eq!(f.field.as_deref(), Some("ipAllowList"));
        assert_eq!(f.status, Some(400));
        assert!(refusal(502, "<html>").message.contains("502"));
        assert!(refusal(401, "").message.contains("not right"));
    }

    #[test]
    fn user_names_are_encoded_in_paths() {
        assert_eq!(encode("a b/c"), "a%20b%2Fc");
        assert_eq!(encode("alice"), "alice");
    }

    #[test]
    fn l6_plain_http_to_another_machine_needs_consent() {
        for local in [
            "127.0.0.1:2990",
            "http://localhost:2990",
            "http://[::1]:2990",
        ] {
            assert_eq!(cleartext_host(local), None, "{local}");
            assert!(Api::new(local, "u", "s").is_ok(), "{local}");
        }
        assert_eq!(
            cleartext_host("http://jira.example.com:8080").as_deref(),
            Some("jira.example.com")
        );
        assert_eq!(cleartext_host("10.0.0.5").as_deref(), Some("10.0.0.5"));
        assert!(Api::new("http://jira.example.com", "u", "s").is_err());
        assert!(Api::new_allowing_cleartext("http://jira.example.com", "u", "s").is_ok());
    }

    #[test]
    fn a_url_names_a_server_and_nothing_else() {
        for bad in [
            "http://alice:pw@127.0.0.1:2990",
            "http://127.0.0.1:2990/?x=1",
            "http://127.0.0.1:2990#frag",
        ] {
            assert!(Api::new(bad, "u", "s").is_err(), "{bad}");
        }
    }

    #[test]
    fn a_hostile_servers_refusal_is_bounded_and_cleaned() {
        let body = format!(
            r#"{{"errorMessages":["{}\u202e"],"errors":{{}}}}"#,
            "x".repeat(100_000)
        );
        let f = refusal(400, &body);
        assert!(f.message.chars().count() <= MESSAGE_CHARS);
        assert!(!f.message.contains('\u{202E}'));
    }

    #[test]
    fn a_connection_needs_a_url_a_user_and_a_secret() {
        assert!(Api::new("", "u", "s").is_err());
        assert!(Api::new("ftp://x", "u", "s").is_err());
        assert!(Api::new("127.0.0.1:2990", "", "s").is_err());
        assert!(Api::new("127.0.0.1:2990", "u", "").is_err());
        assert_eq!(
            Api::new("127.0.0.1:2990/", "u", "s").unwrap().base(),
            "http://127.0.0.1:2990"
        );
    }
}
