//! The credentials a request presents: `Authorization: Basic`, `Authorization: Bearer`, a
//! session, or none. Parsing never fails with anything but a [`CredentialError`].

use std::fmt;

use base64::Engine as _;

use crate::token_format::TokenId;
use crate::user::validate_name;

#[derive(Clone, PartialEq, Eq)]
pub enum Credentials {
    None,
    Basic {
        user: String,
        secret: String,
    },
    Bearer {
        token: String,
    },
    /// A session opened by the session endpoint; the server resolves the cookie to this.
    Session(SessionPrincipal),
}

/// Who a session belongs to and how it was opened. A session lives no longer than what opened
/// it: the decision checks the origin on every request (see `auth::decide`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionPrincipal {
    pub user: String,
    pub origin: SessionOrigin,
}

#[derive(Clone, PartialEq, Eq)]
pub enum SessionOrigin {
    /// Opened with the password whose stored hash has this salt. A new password (or a deleted
    /// and re-created user) has a new random salt, so the session no longer matches; and a
    /// password session needs passwords to be enabled.
    Password { stamp: [u8; 16] },
    /// Opened with this token: it lives as long as the token and keeps its scope, so a Read Only
    /// token cannot write through a cookie.
    Token(TokenId),
}

impl fmt::Debug for SessionOrigin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SessionOrigin::Password { .. } => f.write_str("Password"),
            SessionOrigin::Token(id) => write!(f, "Token({id})"),
        }
    }
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Credentials::None => f.write_str("None"),
            Credentials::Basic { user, .. } => write!(f, "Basic({user}, <secret>)"),
            Credentials::Bearer { .. } => f.write_str("Bearer(<token>)"),
            Credentials::Session(p) => write!(f, "Session({})", p.user),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum CredentialError {
    #[error("the Authorization header is not valid text")]
    NotText,
    #[error("unsupported authorization scheme (use Basic or Bearer)")]
    Scheme,
    #[error("the Basic credentials are not valid base64")]
    Base64,
    #[error("the Basic credentials are not UTF-8")]
    Utf8,
    #[error("the Basic credentials lack the ':' between user and secret")]
    NoColon,
    #[error("the Basic credentials have an empty user name")]
    EmptyUser,
    /// Longer than 255 characters, control characters, '/', surrounding whitespace: no user can
    /// have such a name, and it must not reach an audit event or a log line.
    #[error("the user name is not a valid user name")]
    BadUser,
    #[error("the Bearer token is empty or contains invalid characters")]
    Bearer,
}

/// Longest header we even try to decode; anything longer is malformed by definition.
const MAX_HEADER_LEN: usize = 8 * 1024;

pub fn parse_authorization(header: Option<&[u8]>) -> Result<Credentials, CredentialError> {
    let Some(raw) = header else {
        return Ok(Credentials::None);
    };
    if raw.len() > MAX_HEADER_LEN {
        return Err(CredentialError::NotText);
    }
    let text = std::str::from_utf8(raw).map_err(|_| CredentialError::NotText)?;
    let text = text.trim();
    let (scheme, rest) = text.split_once(' ').unwrap_or((text, ""));
    let rest = rest.trim();
    if scheme.eq_ignore_ascii_case("basic") {
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(rest)
            .or_else(|_| base64::engine::general_purpose::STANDARD_NO_PAD.decode(rest))
            .map_err(|_| CredentialError::Base64)?;
        let decoded = String::from_utf8(decoded).map_err(|_| CredentialError::Utf8)?;
        let (user, secret) = decoded.split_once(':').ok_or(CredentialError::NoColon)?;
        if user.is_empty() {
            return Err(CredentialError::EmptyUser);
        }
        if validate_name("user", user).is_err() {
            return Err(CredentialError::BadUser);
        }
        Ok(Credentials::Basic {
            user: user.to_owned(),
            secret: secret.to_owned(),
        })
    } else if scheme.eq_ignore_ascii_case("bearer") {
        if rest.is_empty() || !rest.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(CredentialError::Bearer);
        }
        Ok(Credentials::Bearer {
            token: rest.to_owned(),
        })
    } else {
        Err(CredentialError::Scheme)
    }
}

/// Longest secret accepted in a login body: the same bound as the `Authorization` header, so
/// the login endpoint hashes no more than Basic auth does.
pub const MAX_LOGIN_SECRET: usize = MAX_HEADER_LEN;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LoginError {
    #[error("invalid JSON body: {0}")]
    Json(String),
    #[error("{field}: {message}")]
    Field {
        field: &'static str,
        message: &'static str,
    },
}

/// The body of `POST /rest/auth/1/session`, `{"username", "password"}` (the password may be a
/// token), as the credentials of a Basic header. The name follows the user-name rule and the
/// secret the header's length bound, so a login can carry nothing a header could not.
pub fn parse_login(body: &[u8]) -> Result<Credentials, LoginError> {
    #[derive(serde::Deserialize)]
    struct Login {
        username: String,
        password: String,
    }
    let login: Login = serde_json::from_slice(body).map_err(|e| {
        // serde's message may quote the input; keep it short and free of what was sent.
        LoginError::Json(format!(
            "{} at line {} column {}",
            match e.classify() {
                serde_json::error::Category::Io => "unreadable",
                serde_json::error::Category::Syntax => "not JSON",
                serde_json::error::Category::Data =>
                    "expected {\"username\": \"…\", \"password\": \"…\"}",
                serde_json::error::Category::Eof => "unexpected end",
            },
            e.line(),
            e.column()
        ))
    })?;
    if login.username.is_empty() {
        return Err(LoginError::Field {
            field: "username",
            message: "must not be empty",
        });
    }
    if validate_name("username", &login.username).is_err() {
        return Err(LoginError::Field {
            field: "username",
            message: "is not a valid user name (1 to 255 characters, no control characters or '/')",
        });
    }
    if login.password.len() > MAX_LOGIN_SECRET {
        return Err(LoginError::Field {
            field: "password",
            message: "is longer than 8192 bytes",
        });
    }
    Ok(Credentials::Basic {
        user: login.username,
        secret: login.password,
    })
}

/// The header value a client sends for Basic auth; used by tests, the CLI and the desktop app.
pub fn basic_header(user: &str, secret: &str) -> String {
    let raw = format!("{user}:{secret}");
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(raw)
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn no_header_is_no_credentials() {
        assert_eq!(parse_authorization(None).unwrap(), Credentials::None);
    }

    #[test]
    fn basic_splits_at_the_first_colon() {
        let h = basic_header("alice", "pa:ss");
        assert_eq!(
            parse_authorization(Some(h.as_bytes())).unwrap(),
            Credentials::Basic {
                user: "alice".into(),
                secret: "pa:ss".into()
            }
        );
    }

    #[test]
    fn scheme_names_ignore_case_and_padding_is_optional() {
        assert!(matches!(
            parse_authorization(Some(b"basic YWxpY2U6eA")),
            Ok(Credentials::Basic { .. })
        ));
        assert!(matches!(
            parse_authorization(Some(b"BEARER abc")),
            Ok(Credentials::Bearer { .. })
        ));
    }

    #[test]
    fn malformed_headers_are_errors_not_panics() {
        let cases: [(&[u8], CredentialError); 8] = [
            (b"Basic !!!", CredentialError::Base64),
            (b"Basic", CredentialError::NoColon),
            (b"Basic bm9jb2xvbg==", CredentialError::NoColon),
            (b"Basic OnNlY3JldA==", CredentialError::EmptyUser),
            (b"Basic /w==", CredentialError::Utf8),
            (b"Digest x", CredentialError::Scheme),
            (b"Bearer ", CredentialError::Bearer),
            (b"\xff\xfe", CredentialError::NotText),
        ];
        for (raw, want) in cases {
            assert_eq!(parse_authorization(Some(raw)).unwrap_err(), want, "{raw:?}");
        }
    }

    #[test]
    fn m4_user_names_no_user_can_have_are_malformed() {
        for user in [
            "u".repeat(256),
            "alice\0x".into(),
            " alice".into(),
            "a/b".into(),
        ] {
            let h = basic_header(&user, "x");
            assert_eq!(
                parse_authorization(Some(h.as_bytes())).unwrap_err(),
                CredentialError::BadUser,
                "{user:?}"
            );
        }
        let h = basic_header(&"é".repeat(255), "x");
        assert!(parse_authorization(Some(h.as_bytes())).is_ok());
    }

    #[test]
    fn a_login_body_is_bounded_like_a_basic_header() {
        assert!(matches!(
            parse_login(br#"{"username":"alice","password":"alice"}"#),
            Ok(Credentials::Basic { .. })
        ));
        let long = format!(
            r#"{{"username":"{}","password":"x"}}"#,
            "u".repeat(1_000_000)
        );
        assert!(matches!(
            parse_login(long.as_bytes()),
            Err(LoginError::Field {
                field: "username",
                ..
            })
        ));
        let nul = br#"{"username":"alice\u0000x","password":"x"}"#;
        assert!(matches!(
            parse_login(nul),
            Err(LoginError::Field {
                field: "username",
                ..
            })
        ));
        let big_secret = format!(r#"{{"username":"a","password":"{}"}}"#, "p".repeat(9000));
        assert!(matches!(
            parse_login(big_secret.as_bytes()),
            Err(LoginError::Field {
                field: "password",
                ..
            })
        ));
        let err = parse_login(b"{\"username\": \"hunter2secret").unwrap_err();
        assert!(!err.to_string().contains("hunter2"), "{err}");
        assert!(parse_login(b"").is_err());
        assert!(parse_login(br#"{"username":"","password":"x"}"#).is_err());
    }

    #[test]
    fn debug_output_hides_secrets() {
        let c = Credentials::Basic {
            user: "alice".into(),
            secret: "hunter2".into(),
        };
        assert!(!format!("{c:?}").contains("hunter2"));
        let b = Credentials::Bearer {
            token: "tka_x".into(),
        };
        assert!(!format!("{b:?}").contains("tka_x"));
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(raw in proptest::collection::vec(any::<u8>(), 0..200)) {
            let _ = parse_authorization(Some(&raw));
            let _ = parse_login(&raw);
        }

        #[test]
        fn basic_round_trips(user in "[a-z]{1,12}", secret in "[ -~]{0,40}") {
            let h = basic_header(&user, &secret);
            prop_assert_eq!(
                parse_authorization(Some(h.as_bytes())).unwrap(),
                Credentials::Basic { user, secret }
            );
        }
    }
}
