//! Expiry notices (SPEC §9): which (token, threshold) notices are due, the message a webhook
//! receives, and its HMAC-SHA256 signature. The server delivers them; the rules are here.
//!
//! A notice is sent at most once per (token, threshold), even across restarts: the server
//! marks it sent, durably, before the first attempt (a crash mid-delivery loses that notice
//! rather than sending it twice). When several thresholds of one token are due at once (a
//! token made with 3 days to live, or a server that was down), one notice goes out, for the
//! nearest threshold, and all of them are marked.

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

use crate::clock::{MILLIS_PER_DAY, Millis, to_rfc3339};
use crate::settings::Settings;
use crate::token::TokenRecord;
use crate::validation::ValidationError;

// The `notifications` part of the settings document lives with the rest of the document (the
// settings hold it; these rules read the settings), named here too where it always was.
pub use crate::settings::{MAX_THRESHOLDS, MAX_URL_LEN, NotificationSettings};

/// The header carrying the signature: `sha256=` and the hex HMAC-SHA256 of the body.
pub const SIGNATURE_HEADER: &str = "X-Tokenauth-Signature-256";

/// A webhook URL as logs and the audit log show it: scheme and host only. Slack, Teams and
/// Discord webhook URLs carry their secret in the path or query.
pub fn shown_url(url: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap_or(("", url));
    let host = rest
        .split(['/', '?', '#'])
        .next()
        .unwrap_or_default()
        .rsplit('@')
        .next()
        .unwrap_or_default();
    let more = rest.len() > host.len();
    format!("{scheme}://{host}{}", if more { "/…" } else { "" })
}

/// The signing secret's rule: 16 to 256 characters, none of them hidden.
pub fn validate_secret(secret: &str) -> Result<(), ValidationError> {
    let n = secret.chars().count();
    if !(16..=256).contains(&n) || secret.chars().any(crate::bounded::is_hidden) {
        return Err(ValidationError::new(
            "secret",
            "must be 16 to 256 characters, with no control characters",
        ));
    }
    Ok(())
}

/// A notice due for one token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    pub token_id: String,
    pub user: String,
    pub description: String,
    pub expires_at: Millis,
    /// The threshold this notice is for (the nearest one due).
    pub days_before: u32,
    /// Every threshold it stands for, to be marked sent.
    pub marks: Vec<u32>,
}

/// The notices due at `now`: for each token still valid, the thresholds it has reached that
/// were not sent before (`sent`).
pub fn due(
    tokens: &[TokenRecord],
    settings: &Settings,
    now: Millis,
    mut sent: impl FnMut(&str, u32) -> bool,
) -> Vec<Notice> {
    let n = &settings.notifications;
    let mut out = Vec::new();
    for t in tokens {
        let Some(expires_at) = t.expiry_under(settings) else {
            continue;
        };
        if expires_at <= now {
            continue;
        }
        let left = expires_at - now;
        let mut reached: Vec<u32> = n
            .days_before
            .iter()
            .copied()
            .filter(|d| left <= i64::from(*d) * MILLIS_PER_DAY && !sent(&t.id, *d))
            .collect();
        reached.sort_unstable();
        if let Some(&nearest) = reached.first() {
            out.push(Notice {
                token_id: t.id.clone(),
                user: t.owner.clone(),
                description: t.description.clone(),
                expires_at,
                days_before: nearest,
                marks: reached,
            });
        }
    }
    out
}

/// The JSON body a receiver gets.
pub fn message(notice: &Notice, now: Millis, delivery: &str) -> Vec<u8> {
    let days_left = (notice.expires_at - now + MILLIS_PER_DAY - 1) / MILLIS_PER_DAY;
    serde_json::json!({
        "event": "token.expiring",
        "delivery": delivery,
        "tokenId": notice.token_id,
        "user": notice.user,
        "description": notice.description,
        "expiresAt": to_rfc3339(notice.expires_at),
        "daysBefore": notice.days_before,
        "daysLeft": days_left,
        "sentAt": to_rfc3339(now),
    })
    .to_string()
    .into_bytes()
}

/// The body of the admin's "send a test message".
pub fn test_message(now: Millis, delivery: &str) -> Vec<u8> {
    serde_json::json!({"event": "test", "delivery": delivery, "sentAt": to_rfc3339(now)})
        .to_string()
        .into_bytes()
}

/// `sha256=<hex HMAC-SHA256 of body>`, as GitHub signs its webhooks: the receiver computes the
/// same with the shared secret and compares in constant time.
pub fn signature(secret: &[u8], body: &[u8]) -> String {
    let mut hex = String::from("sha256=");
    if let Ok(mut mac) = <Hmac<Sha256> as KeyInit>::new_from_slice(secret) {
        mac.update(body);
        for b in mac.finalize().into_bytes() {
            hex.push_str(&format!("{b:02x}"));
        }
    }
    hex
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scope::Scope;
    use crate::secret_hash::{HashParams, SecretHash};

    const NOW: Millis = 1_800_000_000_000;

    fn token(id: &str, days_left: i64) -> TokenRecord {
        TokenRecord {
            id: id.into(),
            owner: "alice".into(),
            description: "nightly".into(),
            scope: Scope::ReadOnly,
            created_at: NOW - MILLIS_PER_DAY,
            created_by: "alice".into(),
            expires_at: Some(NOW + days_left * MILLIS_PER_DAY - 1000),
            last_used_at: None,
            last_used_ip: None,
            hash: SecretHash::new(
                b"x",
                HashParams {
                    memory_kib: 64,
                    iterations: 1,
                    lanes: 1,
                },
            )
            .unwrap(),
        }
    }

    #[test]
    fn one_notice_per_token_for_the_nearest_threshold_reached_marking_all_reached() {
        let s = Settings::default(); // thresholds 7 and 1
        let tokens = [token("far", 30), token("week", 6), token("day", 1)];
        let due = due(&tokens, &s, NOW, |_, _| false);
        let got: Vec<(&str, u32, Vec<u32>)> = due
            .iter()
            .map(|n| (n.token_id.as_str(), n.days_before, n.marks.clone()))
            .collect();
        assert_eq!(got, vec![("week", 7, vec![7]), ("day", 1, vec![1, 7])]);
    }

    #[test]
    fn a_threshold_sent_before_is_not_due_again_and_expired_tokens_get_none() {
        let s = Settings::default();
        let tokens = [token("week", 6), token("gone", -1)];
        assert!(due(&tokens, &s, NOW, |id, d| id == "week" && d == 7).is_empty());
    }

    #[test]
    fn the_signature_is_hmac_sha256_of_the_body_in_hex() {
        // RFC 4231 test case 2.
        assert_eq!(
            signature(b"Jefe", b"what do ya want for nothing?"),
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn a_webhook_url_is_shown_without_its_path_query_or_credentials() {
        assert_eq!(
            shown_url("https://hooks.slack.com/services/T000/B000/XXXXSECRET"),
            "https://hooks.slack.com/…"
        );
        assert_eq!(
            shown_url("http://u:p@127.0.0.1:8080?k=s"),
            "http://127.0.0.1:8080/…"
        );
        assert_eq!(shown_url("https://example.com"), "https://example.com");
    }

    #[test]
    fn settings_are_checked() {
        let ok = NotificationSettings {
            webhook_url: Some("https://hooks.example.com/tokens".into()),
            days_before: vec![14, 7, 1],
        };
        assert!(ok.validate().is_ok());
        for (url, days) in [
            ("ftp://x", vec![7]),
            ("https://", vec![7]),
            ("https://a b", vec![7]),
            ("https://x", vec![]),
            ("https://x", vec![0]),
            ("https://x", vec![7, 7]),
            ("https://x", vec![400]),
        ] {
            let bad = NotificationSettings {
                webhook_url: Some(url.into()),
                days_before: days,
            };
            assert!(bad.validate().is_err(), "{bad:?}");
        }
        assert!(validate_secret("short").is_err());
        assert!(validate_secret("a-long-enough-secret").is_ok());
    }
}
