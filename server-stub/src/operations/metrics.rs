//! What an operator watches: `GET /metrics` in the Prometheus text format.
//!
//! Each server owns its recorder (no global one: several servers may run in one process, as the
//! in-process test server does) and keeps the handles of its metrics, registered once at
//! start; recording is an atomic add where the event happens. The exporter renders the text
//! format that `promtool check metrics` judges.
//!
//! | metric | what |
//! |---|---|
//! | `tokenauth_requests_total{outcome, reason}` | authentication decisions: `allowed`, `denied` (with the reason), `anonymous`, `error` |
//! | `tokenauth_argon2_verifications_total`, `tokenauth_argon2_verification_seconds` | secrets actually hashed, and how long each took |
//! | `tokenauth_verified_cache_hits_total`, `…_misses_total` | secrets answered from memory, or not |
//! | `tokenauth_sessions` | live cookie sessions |
//! | `tokenauth_audit_events_queued_total`, `…_written_total`, `…_failed_total` | the audit writer; a failed write is also logged at ERROR |
//! | `tokenauth_audit_file_written_total`, `…_failed_total`, `tokenauth_audit_file_rotation_failures_total` | `--audit-file`: lines written, events not written (also logged at ERROR), rotations that failed (the line then goes past the size limit) |
//! | `tokenauth_expiry_notices_total{outcome}` | expiry notices `sent` to the webhook, or `failed` after every retry (also logged at ERROR and audited) |
//! | `tokenauth_last_used_write_failures_total` | last-used times that could not be written |
//! | `tokenauth_journal_requests` | requests held in the request journal |
//! | `tokenauth_log_lines_dropped_total` | log lines standard error did not take |
//! | `tokenauth_connections_refused_total{reason}`, `tokenauth_connections_closed_total{reason}` | connections closed at accept (`per_client`: the client held its share of `--max-connections`), and closed by a deadline (`no_request`, `idle`) |
//! | `tokenauth_build_info{version}` | always 1 |

use metrics::{Counter, Gauge, Histogram, Key, Label, Metadata, Recorder, Unit};
use metrics_exporter_prometheus::{
    Matcher, PrometheusBuilder, PrometheusHandle, PrometheusRecorder,
};
use tokenauth_core::auth::DenialKind;

/// Why a request did not get through, as the `reason` label says it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Allowed,
    Anonymous,
    Denied(DenialKind),
    RateLimited,
    /// No hashing slot in time (503).
    Busy,
    Error,
}

const DENIALS: [DenialKind; 9] = [
    DenialKind::IpNotAllowed,
    DenialKind::MissingCredentials,
    DenialKind::MalformedCredentials,
    DenialKind::Failed,
    DenialKind::PasswordAuthDisabled,
    DenialKind::CaptchaChallenge,
    DenialKind::ReadOnlyToken,
    DenialKind::TokenUseNotPermitted,
    DenialKind::XsrfCheckFailed,
];

pub fn denial_label(kind: DenialKind) -> &'static str {
    match kind {
        DenialKind::IpNotAllowed => "ip_not_allowed",
        DenialKind::MissingCredentials => "missing_credentials",
        DenialKind::MalformedCredentials => "malformed_credentials",
        DenialKind::Failed => "failed",
        DenialKind::PasswordAuthDisabled => "password_auth_disabled",
        DenialKind::CaptchaChallenge => "captcha_challenge",
        DenialKind::ReadOnlyToken => "read_only_token",
        DenialKind::TokenUseNotPermitted => "token_use_not_permitted",
        DenialKind::XsrfCheckFailed => "xsrf_check_failed",
    }
}

/// The argon2 buckets: a verification takes ~15 ms with the default cost; anything near a
/// second means the hashing threads are saturated.
const ARGON2_BUCKETS: [f64; 10] = [0.005, 0.01, 0.02, 0.03, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0];

pub struct Metrics {
    handle: PrometheusHandle,
    allowed: Counter,
    anonymous: Counter,
    denied: [Counter; DENIALS.len()],
    rate_limited: Counter,
    busy: Counter,
    error: Counter,
    pub argon2: Counter,
    pub argon2_seconds: Histogram,
    pub cache_hits: Counter,
    pub cache_misses: Counter,
    pub sessions: Gauge,
    pub audit_queued: Counter,
    pub audit_written: Counter,
    pub audit_failed: Counter,
    pub audit_file_written: Counter,
    pub audit_file_failed: Counter,
    pub audit_file_rotation_failures: Counter,
    pub last_used_failed: Counter,
    pub notices_sent: Counter,
    pub notices_failed: Counter,
    pub journal: Gauge,
    log_dropped: Counter,
    log_dropped_seen: std::sync::atomic::AtomicU64,
    pub connections: crate::connection::listener::ConnectionCounters,
}

struct Registrar {
    recorder: PrometheusRecorder,
}

impl Registrar {
    fn meta() -> Metadata<'static> {
        Metadata::new(module_path!(), metrics::Level::INFO, Some(module_path!()))
    }

    fn counter(&self, name: &'static str, help: &'static str, labels: Vec<Label>) -> Counter {
        self.recorder
            .describe_counter(name.into(), None, help.into());
        self.recorder
            .register_counter(&Key::from_parts(name, labels), &Self::meta())
    }

    fn gauge(&self, name: &'static str, help: &'static str, labels: Vec<Label>) -> Gauge {
        self.recorder.describe_gauge(name.into(), None, help.into());
        self.recorder
            .register_gauge(&Key::from_parts(name, labels), &Self::meta())
    }
}

impl Metrics {
    pub fn new() -> Self {
        let recorder = PrometheusBuilder::new()
            .set_buckets_for_metric(
                Matcher::Full("tokenauth_argon2_verification_seconds".into()),
                &ARGON2_BUCKETS,
            )
            // Only an empty list is refused, and the list is not empty.
            .unwrap_or_else(|_| PrometheusBuilder::new())
            .build_recorder();
        let handle = recorder.handle();
        let r = Registrar { recorder };
        let requests = |outcome: &'static str, reason: &'static str| {
            r.counter(
                "tokenauth_requests_total",
                "Authentication decisions by outcome and, when refused, the reason",
                vec![Label::new("outcome", outcome), Label::new("reason", reason)],
            )
        };
        let metrics = Self {
            allowed: requests("allowed", ""),
            anonymous: requests("anonymous", ""),
            denied: DENIALS.map(|k| requests("denied", denial_label(k))),
            rate_limited: requests("denied", "rate_limited"),
            busy: requests("error", "hashing_busy"),
            error: requests("error", "internal"),
            argon2: r.counter(
                "tokenauth_argon2_verifications_total",
                "Secrets verified with argon2id (not answered from memory)",
                vec![],
            ),
            argon2_seconds: {
                r.recorder.describe_histogram(
                    "tokenauth_argon2_verification_seconds".into(),
                    Some(Unit::Seconds),
                    "Time of one argon2id verification".into(),
                );
                r.recorder.register_histogram(
                    &Key::from_name("tokenauth_argon2_verification_seconds"),
                    &Registrar::meta(),
                )
            },
            cache_hits: r.counter(
                "tokenauth_verified_cache_hits_total",
                "Presented secrets answered from the cache of verified secrets",
                vec![],
            ),
            cache_misses: r.counter(
                "tokenauth_verified_cache_misses_total",
                "Presented secrets the cache could not answer",
                vec![],
            ),
            sessions: r.gauge("tokenauth_sessions", "Live cookie sessions", vec![]),
            audit_queued: r.counter(
                "tokenauth_audit_events_queued_total",
                "Audit events handed to the background writer",
                vec![],
            ),
            audit_written: r.counter(
                "tokenauth_audit_events_written_total",
                "Audit events written to the audit log by the background writer",
                vec![],
            ),
            audit_failed: r.counter(
                "tokenauth_audit_events_failed_total",
                "Audit events the background writer could not write (each failure is also logged at ERROR)",
                vec![],
            ),
            audit_file_written: r.counter(
                "tokenauth_audit_file_written_total",
                "Audit events written to the --audit-file as JSON lines",
                vec![],
            ),
            audit_file_failed: r.counter(
                "tokenauth_audit_file_failed_total",
                "Audit events that could not be written to the --audit-file (each failure is also logged at ERROR)",
                vec![],
            ),
            audit_file_rotation_failures: r.counter(
                "tokenauth_audit_file_rotation_failures_total",
                "Rotations of the --audit-file that failed (the lines then go on into the live file, past its size limit)",
                vec![],
            ),
            last_used_failed: r.counter(
                "tokenauth_last_used_write_failures_total",
                "Batches of token last-used times that could not be written",
                vec![],
            ),
            notices_sent: r.counter(
                "tokenauth_expiry_notices_total",
                "Expiry notices by outcome: sent to the webhook, or failed after every retry",
                vec![Label::new("outcome", "sent")],
            ),
            notices_failed: r.counter(
                "tokenauth_expiry_notices_total",
                "Expiry notices by outcome: sent to the webhook, or failed after every retry",
                vec![Label::new("outcome", "failed")],
            ),
            journal: r.gauge(
                "tokenauth_journal_requests",
                "Requests held in the request journal",
                vec![],
            ),
            log_dropped: r.counter(
                "tokenauth_log_lines_dropped_total",
                "Log lines that could not be written (standard error on a full disk or closed)",
                vec![],
            ),
            log_dropped_seen: std::sync::atomic::AtomicU64::new(0),
            connections: {
                let closed = |reason: &'static str| {
                    r.counter(
                        "tokenauth_connections_closed_total",
                        "Connections the server closed: no request within the header-read timeout, or none open for the idle timeout",
                        vec![Label::new("reason", reason)],
                    )
                };
                crate::connection::listener::ConnectionCounters {
                    refused_per_client: r.counter(
                        "tokenauth_connections_refused_total",
                        "Connections closed at accept, unread: the client held its share of the connection cap",
                        vec![Label::new("reason", "per_client")],
                    ),
                    closed_no_request: closed("no_request"),
                    closed_idle: closed("idle"),
                }
            },
            handle,
        };
        r.gauge(
            "tokenauth_build_info",
            "The running build",
            vec![Label::new("version", env!("CARGO_PKG_VERSION"))],
        )
        .set(1.0);
        metrics
    }

    pub fn request(&self, outcome: Outcome) {
        match outcome {
            Outcome::Allowed => &self.allowed,
            Outcome::Anonymous => &self.anonymous,
            Outcome::Denied(kind) => {
                let i = DENIALS.iter().position(|k| *k == kind).unwrap_or(0);
                &self.denied[i]
            }
            Outcome::RateLimited => &self.rate_limited,
            Outcome::Busy => &self.busy,
            Outcome::Error => &self.error,
        }
        .increment(1);
    }

    /// The text format (version 0.0.4).
    pub fn render(&self) -> String {
        // The log writer counts in a plain atomic (it has no handle); carried over here.
        let dropped = super::logging::DROPPED_LINES.load(std::sync::atomic::Ordering::Relaxed);
        let seen = self
            .log_dropped_seen
            .swap(dropped, std::sync::atomic::Ordering::Relaxed);
        self.log_dropped.increment(dropped.saturating_sub(seen));
        self.handle.render()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_metric_is_there_from_the_start_and_counts() {
        let m = Metrics::new();
        m.request(Outcome::Denied(DenialKind::ReadOnlyToken));
        m.request(Outcome::Allowed);
        m.request(Outcome::Allowed);
        m.argon2_seconds.record(0.015);
        let text = m.render();
        assert!(
            text.contains(
                "tokenauth_requests_total{outcome=\"denied\",reason=\"read_only_token\"} 1"
            )
        );
        assert!(text.contains("tokenauth_requests_total{outcome=\"allowed\",reason=\"\"} 2"));
        assert!(
            text.contains("tokenauth_audit_events_failed_total 0"),
            "{text}"
        );
        assert!(
            text.contains("tokenauth_audit_file_failed_total 0"),
            "{text}"
        );
        assert!(text.contains("tokenauth_build_info{version="));
        assert!(text.contains("tokenauth_argon2_verification_seconds_bucket{le=\"0.02\"} 1"));
        assert!(text.contains("# HELP tokenauth_sessions Live cookie sessions"));
        assert!(
            text.contains("tokenauth_connections_refused_total{reason=\"per_client\"} 0"),
            "{text}"
        );
        assert!(text.contains("tokenauth_connections_closed_total{reason=\"idle\"} 0"));
    }
}
