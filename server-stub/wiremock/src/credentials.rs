//! Which parts of a request are credentials, and the only ways a mapping may test them.
//!
//! A mapping is written by whoever may use the admin API, and it sees every request that
//! reaches the mappings, other people's included. If it could run `matches`, `contains` or a
//! template over a credential, it could read that credential: one mapping per guessed
//! character, with the journal telling which one matched (security review 2, N1). So a
//! credential — a header of [`CREDENTIAL_HEADERS`], any cookie, a query parameter of
//! [`CREDENTIAL_PARAMS`] — is *sealed*: templates and the journal see [`REDACTED`] in its
//! place, and a matcher on it may only ask whether it is there (`absent`, or a presence test
//! `matches ".*"` / `".+"`), which scheme it uses (`matches "Bearer .*"`, `contains "Basic"`),
//! or whether it equals a whole value (`equalTo`, compared in constant time): one guess, one
//! bit. Any other matcher on a credential is refused when the mapping is loaded.

use serde_json::Value;
use subtle::ConstantTimeEq as _;

use crate::parse::{ErrorKind, MappingError, as_object, child, err, opt_bool, scalar_string};

/// What templates, the journal and the admin API show in place of a credential.
pub const REDACTED: &str = "[redacted]";

/// Headers whose values are credentials, whatever they hold (compared without case): the
/// standard ones, and those that API gateways and well-known services read keys from.
pub const CREDENTIAL_HEADERS: &[&str] = &[
    "authorization",
    "proxy-authorization",
    "cookie",
    "x-api-key",
    "api-key",
    "apikey",
    "x-auth-token",
    "x-access-token",
    "x-token",
    "private-token",
    "job-token",
    "x-vault-token",
    "x-goog-api-key",
    "x-amz-security-token",
    "ocp-apim-subscription-key",
    "x-functions-key",
    "x-csrf-token",
    "x-xsrf-token",
];

/// Query parameters whose values are credentials (compared without case): OAuth's, the usual
/// API-key names, signed-URL signatures, and Jira's own `os_password`.
pub const CREDENTIAL_PARAMS: &[&str] = &[
    "access_token",
    "id_token",
    "refresh_token",
    "token",
    "auth_token",
    "api_key",
    "apikey",
    "api-key",
    "private_token",
    "client_secret",
    "password",
    "passwd",
    "pwd",
    "secret",
    "os_password",
    "jsessionid",
    "signature",
    "sig",
    "x-amz-signature",
    "x-amz-security-token",
];

/// Authentication schemes a scheme test may name.
const SCHEMES: &[&str] = &[
    "basic",
    "bearer",
    "digest",
    "negotiate",
    "token",
    "ntlm",
    "hawk",
    "aws4-hmac-sha256",
];

pub fn is_credential_header(name: &str) -> bool {
    // Jira's CSRF marker holds `no-check`, never a secret, and mappings match on it.
    if name.eq_ignore_ascii_case("x-atlassian-token") {
        return false;
    }
    CREDENTIAL_HEADERS
        .iter()
        .any(|c| c.eq_ignore_ascii_case(name))
        || named_like_a_credential(name)
}

pub fn is_credential_param(name: &str) -> bool {
    CREDENTIAL_PARAMS
        .iter()
        .any(|c| c.eq_ignore_ascii_case(name))
        || named_like_a_credential(name)
}

/// Names the lists above do not spell out but that say they hold a secret (`api_token`,
/// `oauth_token`, `X-Api-Token`, `client-secret`, `jwt`, …): lower-cased without `_` and `-`,
/// one of the usual endings. A page cursor (`nextPageToken`) is not a secret: Jira's search
/// API pages with one, and mappings match it.
///
/// The journal asks this of every header it keeps, on the server's core (issue 21): an ASCII
/// name (every HTTP header name, most parameter names) is read from its end into a small
/// buffer, without an allocation; any other name is lower-cased in full, as Unicode lower-cases
/// it (the Kelvin sign `K` becomes an ASCII `k`, so no byte shortcut is safe there).
fn named_like_a_credential(name: &str) -> bool {
    // Longer than every ending and every whole name below.
    const TAIL: usize = 16;
    if !name.is_ascii() {
        let n: String = name
            .chars()
            .filter(|c| *c != '_' && *c != '-')
            .flat_map(char::to_lowercase)
            .collect();
        return says_credential(n.as_bytes(), true);
    }
    let mut tail = [0u8; TAIL];
    let (mut kept, mut len) = (0, 0);
    for &b in name.as_bytes().iter().rev() {
        if b == b'_' || b == b'-' {
            continue;
        }
        if kept < TAIL {
            tail[TAIL - 1 - kept] = b.to_ascii_lowercase();
            kept += 1;
        }
        len += 1;
    }
    says_credential(&tail[TAIL - kept..], len == kept)
}

/// `end`: the end of a name lower-cased without `_` and `-`; `whole`: it is all of the name.
fn says_credential(end: &[u8], whole: bool) -> bool {
    const ENDINGS: &[&str] = &[
        "token",
        "secret",
        "password",
        "passwd",
        "apikey",
        "privatekey",
        "signature",
        "sessionid",
        "credential",
        "credentials",
    ];
    const WHOLE: &[&str] = &["jwt", "sig", "pwd", "pass", "session"];
    !end.ends_with(b"pagetoken")
        && ((whole && WHOLE.iter().any(|w| end == w.as_bytes()))
            || ENDINGS.iter().any(|e| end.ends_with(e.as_bytes())))
}

/// A matcher on a credential: what it may learn is one bit per guess of a whole value.
#[derive(Debug, Clone)]
pub enum CredentialMatcher {
    /// `{"absent": true}`.
    Absent,
    /// `matches ".*"` (any value, even empty) or `".+"` (a non-empty one).
    Present {
        non_empty: bool,
    },
    /// The authentication scheme (the first word), compared without case.
    Scheme(String),
    /// The whole value, compared in constant time (lower-cased first for `caseInsensitive`).
    EqualTo {
        value: String,
        case_insensitive: bool,
    },
    And(Vec<CredentialMatcher>),
    Or(Vec<CredentialMatcher>),
}

/// Whole values that all mappings together may compare credentials with. Each is one guess per
/// request that reaches the mappings: with no bound, 100,000 mappings of `or` lists would try a
/// dictionary of passwords against every victim request and the journal would say which
/// matched — a lockout-free brute force (second look at N1). Real folders test a few fixed
/// fixture tokens.
pub const MAX_CREDENTIAL_VALUES: usize = 64;

impl CredentialMatcher {
    /// `basicAuthCredentials` (or its old name `basicAuth`): `{"username", "password"}`, which
    /// WireMock (3.13.2, asked) turns into `Authorization` equal, without case, to
    /// `Basic base64(username:password)` — in place of any other `Authorization` matcher of the
    /// mapping. One whole value, compared in constant time like any `equalTo`.
    pub fn basic_auth(v: &Value, ptr: &str) -> Result<Self, MappingError> {
        use base64::Engine as _;
        let m = as_object(v, ptr)?;
        let field = |name: &str| match m.get(name) {
            Some(v) => scalar_string(v, &child(ptr, name)),
            None => Err(err(&child(ptr, name), ErrorKind::Missing)),
        };
        let pair = format!("{}:{}", field("username")?, field("password")?);
        Ok(CredentialMatcher::EqualTo {
            value: format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(pair)
            ),
            case_insensitive: true,
        })
    }

    /// How many whole values it compares with (its `equalTo`s).
    pub fn values(&self) -> usize {
        match self {
            CredentialMatcher::EqualTo { .. } => 1,
            CredentialMatcher::And(ms) | CredentialMatcher::Or(ms) => {
                ms.iter().map(CredentialMatcher::values).sum()
            }
            _ => 0,
        }
    }

    /// `what` names the credential for the error (`the header "Authorization"`).
    pub fn parse(v: &Value, ptr: &str, what: &str) -> Result<Self, MappingError> {
        Self::parse_depth(v, ptr, what, 0)
    }

    fn parse_depth(v: &Value, ptr: &str, what: &str, depth: usize) -> Result<Self, MappingError> {
        const MAX_DEPTH: usize = 8;
        if depth > MAX_DEPTH {
            return Err(err(
                ptr,
                ErrorKind::Invalid(format!("matchers nested deeper than {MAX_DEPTH}")),
            ));
        }
        let m = as_object(v, ptr)?;
        let refuse = |op: &str| {
            err(
                &child(ptr, op),
                ErrorKind::Credential {
                    what: what.to_owned(),
                    matcher: op.to_owned(),
                },
            )
        };
        let mut ops = m.keys().filter(|k| k.as_str() != "caseInsensitive");
        let op = match (ops.next(), ops.next()) {
            (Some(op), None) => op.as_str(),
            (None, _) => return Err(err(ptr, ErrorKind::UnknownMatcher(String::new()))),
            (Some(_), Some(second)) => {
                return Err(err(
                    &child(ptr, second),
                    ErrorKind::Invalid("only one matcher per object".into()),
                ));
            }
        };
        let at = child(ptr, op);
        let operand = &m[op];
        if op != "equalTo" && m.contains_key("caseInsensitive") {
            return Err(err(
                ptr,
                ErrorKind::UnknownMatcher("caseInsensitive".into()),
            ));
        }
        Ok(match op {
            "absent" => match operand {
                Value::Bool(true) => CredentialMatcher::Absent,
                _ => return Err(err(&at, ErrorKind::Expected("true"))),
            },
            "equalTo" => CredentialMatcher::EqualTo {
                value: scalar_string(operand, &at)?,
                case_insensitive: opt_bool(m, "caseInsensitive", ptr)?.unwrap_or(false),
            },
            "matches" => {
                let pattern = scalar_string(operand, &at)?;
                match presence_or_scheme(&pattern) {
                    Some(m) => m,
                    None => return Err(refuse(op)),
                }
            }
            "contains" => {
                let word = scalar_string(operand, &at)?;
                let word = word.trim_end();
                if SCHEMES.iter().any(|s| s.eq_ignore_ascii_case(word)) {
                    CredentialMatcher::Scheme(word.to_ascii_lowercase())
                } else {
                    return Err(refuse(op));
                }
            }
            "and" | "or" => {
                let list = operand
                    .as_array()
                    .ok_or_else(|| err(&at, ErrorKind::Expected("an array of matchers")))?;
                let parts = list
                    .iter()
                    .enumerate()
                    .map(|(i, v)| {
                        Self::parse_depth(v, &child(&at, &i.to_string()), what, depth + 1)
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                if op == "and" {
                    CredentialMatcher::And(parts)
                } else {
                    CredentialMatcher::Or(parts)
                }
            }
            _ => return Err(refuse(op)),
        })
    }

    /// `None`: the credential is not there. Each `Some` value is the sealed, real one.
    pub fn matches(&self, value: Option<&str>) -> bool {
        match (self, value) {
            (CredentialMatcher::Absent, v) => v.is_none(),
            (CredentialMatcher::And(ms), v) => ms.iter().all(|m| m.matches(v)),
            (CredentialMatcher::Or(ms), v) => ms.iter().any(|m| m.matches(v)),
            (_, None) => false,
            (CredentialMatcher::Present { non_empty }, Some(v)) => !non_empty || !v.is_empty(),
            (CredentialMatcher::Scheme(s), Some(v)) => v
                .trim_start()
                .split(|c: char| c.is_ascii_whitespace())
                .next()
                .is_some_and(|w| w.eq_ignore_ascii_case(s)),
            (
                CredentialMatcher::EqualTo {
                    value,
                    case_insensitive,
                },
                Some(v),
            ) => {
                if *case_insensitive {
                    constant_time_eq(&v.to_lowercase(), &value.to_lowercase())
                } else {
                    constant_time_eq(v, value)
                }
            }
        }
    }
}

/// Equal contents in time that depends on the lengths only.
pub fn constant_time_eq(a: &str, b: &str) -> bool {
    a.len() == b.len() && bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

/// The patterns of `matches` that test presence or a scheme, and nothing of the secret:
/// `.*`, `.+`, and `<scheme> .*` / `<scheme> .+` (a space or `\s`, `(?i)` allowed in front).
fn presence_or_scheme(pattern: &str) -> Option<CredentialMatcher> {
    match pattern {
        ".*" => return Some(CredentialMatcher::Present { non_empty: false }),
        ".+" => return Some(CredentialMatcher::Present { non_empty: true }),
        _ => {}
    }
    let p = pattern.strip_prefix("(?i)").unwrap_or(pattern);
    let scheme = [
        " .*", " .+", "\\s.*", "\\s.+", "\\s+.*", "\\s+.+", " +.*", " +.+",
    ]
    .iter()
    .find_map(|tail| p.strip_suffix(tail))?;
    SCHEMES
        .iter()
        .find(|s| s.eq_ignore_ascii_case(scheme))
        .map(|s| CredentialMatcher::Scheme((*s).to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(v: Value) -> Result<CredentialMatcher, MappingError> {
        CredentialMatcher::parse(
            &v,
            "/request/headers/Authorization",
            "the header Authorization",
        )
    }

    #[test]
    fn names_that_say_they_hold_a_secret_are_credentials_and_cursors_are_not() {
        for p in [
            "api_token",
            "oauth_token",
            "jwt",
            "client-secret",
            "X-Amz-Signature",
        ] {
            assert!(is_credential_param(p), "{p}");
        }
        for h in ["X-Api-Token", "X-Client-Secret", "Authorization"] {
            assert!(is_credential_header(h), "{h}");
        }
        for ok in ["nextPageToken", "jql", "startAt", "expand"] {
            assert!(!is_credential_param(ok), "{ok}");
        }
        assert!(!is_credential_header("X-Atlassian-Token") && !is_credential_header("Accept"));
    }

    /// The rule as first written: the whole name lower-cased into a `String`.
    fn named_like_a_credential_by_allocating(name: &str) -> bool {
        let n: String = name
            .chars()
            .filter(|c| *c != '_' && *c != '-')
            .flat_map(char::to_lowercase)
            .collect();
        says_credential(n.as_bytes(), true)
    }

    #[test]
    fn the_allocation_free_reading_of_a_name_agrees_with_lower_casing_it_whole() {
        // Names built from the pieces the rule looks at, so that most of them land near an
        // ending, a whole name or a cursor: 200,000 of them, the same every run.
        const PIECES: &[&str] = &[
            "",
            "_",
            "-",
            "x",
            "X-",
            "Api",
            "api",
            "TOKEN",
            "token",
            "Token",
            "page",
            "Page",
            "next",
            "Secret",
            "pass",
            "PASS",
            "word",
            "wd",
            "Jwt",
            "sig",
            "Sig",
            "nature",
            "session",
            "Id",
            "id",
            "credential",
            "s",
            "S",
            "private",
            "Key",
            "key",
            "_-_",
            "aaaaaaaaaaaaaaaaaaaa",
            "pwd",
        ];
        let mut seed: u64 = 0x2545_F491_4F6C_DD1D;
        let mut next = |n: usize| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            usize::try_from(seed % n as u64).unwrap()
        };
        let (mut yes, mut no) = (0, 0);
        for _ in 0..200_000 {
            let name: String = (0..next(6)).map(|_| PIECES[next(PIECES.len())]).collect();
            let fast = named_like_a_credential(&name);
            assert_eq!(
                fast,
                named_like_a_credential_by_allocating(&name),
                "{name:?}"
            );
            if fast { yes += 1 } else { no += 1 }
        }
        assert!(
            yes > 10_000 && no > 10_000,
            "both answers tried: {yes} yes, {no} no"
        );
        // Past the 16 bytes read, and a Unicode name that lower-cases into an ending.
        for name in [
            "aaaaaaaaaaaaaaaaaaaaaaaaaaaaapwd",
            "x_-_-_-_-_-_-_-_-_-_-_-_jwt",
            "TO\u{212A}EN",
        ] {
            assert_eq!(
                named_like_a_credential(name),
                named_like_a_credential_by_allocating(name),
                "{name:?}"
            );
        }
        assert!(
            named_like_a_credential("TO\u{212A}EN"),
            "the Kelvin sign lower-cases to k"
        );
        assert!(
            !named_like_a_credential("aaaaaaaaaaaaaaaaaaaaaaaaaaaaapwd"),
            "pwd only whole"
        );
    }

    #[test]
    fn a_credential_is_tested_whole_for_presence_or_for_its_scheme() {
        let eq = parse(json!({"equalTo": "Bearer abc"})).unwrap();
        assert!(eq.matches(Some("Bearer abc")));
        assert!(!eq.matches(Some("Bearer abd")) && !eq.matches(Some("Bearer ab")));
        assert!(!eq.matches(None));
        let ci = parse(json!({"equalTo": "BASIC abc", "caseInsensitive": true})).unwrap();
        assert!(ci.matches(Some("basic ABC")));
        assert!(parse(json!({"absent": true})).unwrap().matches(None));
        let any = parse(json!({"matches": ".*"})).unwrap();
        assert!(any.matches(Some("")) && !any.matches(None));
        assert!(!parse(json!({"matches": ".+"})).unwrap().matches(Some("")));
        for p in ["Bearer .*", "(?i)bearer .+", "Bearer\\s.*"] {
            let m = parse(json!({"matches": p})).unwrap();
            assert!(m.matches(Some("Bearer tka_x")), "{p}");
            assert!(!m.matches(Some("Basic YTpi")), "{p}");
        }
        let c = parse(json!({"contains": "Basic"})).unwrap();
        assert!(c.matches(Some("Basic YTpi")) && !c.matches(Some("Bearer Basic")));
        let or = parse(json!({"or": [{"absent": true}, {"equalTo": "x"}]})).unwrap();
        assert!(or.matches(None) && or.matches(Some("x")) && !or.matches(Some("y")));
    }

    #[test]
    fn a_matcher_that_could_read_a_credential_is_refused_at_its_pointer() {
        for (v, op) in [
            (json!({"matches": "Bearer A.*"}), "matches"),
            (json!({"matches": "(?i).*a.*"}), "matches"),
            (json!({"contains": "tka_"}), "contains"),
            (json!({"doesNotContain": "x"}), "doesNotContain"),
            (json!({"doesNotMatch": "x"}), "doesNotMatch"),
            (json!({"equalToJson": {}}), "equalToJson"),
            (json!({"matchesJsonPath": "$.a"}), "matchesJsonPath"),
            (
                json!({"and": [{"matches": ".*"}, {"contains": "Bearer A"}]}),
                "contains",
            ),
        ] {
            let e = parse(v.clone()).unwrap_err();
            assert!(e.pointer.ends_with(op), "{v}: {}", e.pointer);
            let text = e.to_string();
            assert!(
                text.contains("Authorization") && text.contains("credential"),
                "{text}"
            );
        }
    }

    #[test]
    fn the_lists_are_lower_case_and_compared_without_case() {
        for n in CREDENTIAL_HEADERS.iter().chain(CREDENTIAL_PARAMS) {
            assert_eq!(*n, n.to_ascii_lowercase());
        }
        assert!(is_credential_header("Authorization") && is_credential_header("X-API-Key"));
        assert!(is_credential_param("ACCESS_TOKEN") && !is_credential_param("jql"));
    }
}
