//! Token scopes and the method rule, with its two exceptions.

use std::fmt;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Scope {
    ReadOnly,
    ReadWrite,
}

impl Scope {
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::ReadOnly => "READ_ONLY",
            Scope::ReadWrite => "READ_WRITE",
        }
    }

    /// The lesser of two scopes: what a token made by a token may hold at most.
    pub fn at_most(self, cap: Scope) -> Scope {
        match (self, cap) {
            (Scope::ReadWrite, Scope::ReadWrite) => Scope::ReadWrite,
            _ => Scope::ReadOnly,
        }
    }

    /// Whether this scope grants everything `other` does.
    pub fn covers(self, other: Scope) -> bool {
        self == Scope::ReadWrite || other == Scope::ReadOnly
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "READ_ONLY" => Some(Scope::ReadOnly),
            "READ_WRITE" => Some(Scope::ReadWrite),
            _ => None,
        }
    }

    /// Whether a request with `method` to `path` may proceed under this scope.
    pub fn allows(self, method: &str, path: &str) -> bool {
        match self {
            Scope::ReadWrite => true,
            Scope::ReadOnly => is_read_method(method) || is_scope_exempt(method, path),
        }
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// GET, HEAD and OPTIONS. Methods are case-sensitive in HTTP, so `get` is not a read.
pub fn is_read_method(method: &str) -> bool {
    matches!(method, "GET" | "HEAD" | "OPTIONS")
}

/// Endpoints that take a POST from a Read Only token all the same: the session login, and the
/// creation of one's own token (governed by the permissions, not by the scope). Creating a token
/// on someone else's behalf is not exempt: an admin's Read Only token stays read only there.
/// Logging out (`DELETE` of the session) is allowed too: ending one's own session writes nothing.
pub const SCOPE_EXEMPT_POST_PATHS: [&str; 4] = [
    "/rest/auth/1/session",
    "/rest/tokenauth/1/tokens",
    "/rest/de.resolution.apitokenauth/latest/user/token",
    "/rest/pat/latest/tokens",
];

/// Rotating a token (`POST /rest/tokenauth/1/tokens/{id}/rotate`) is exempt too: a Read Only
/// script renews its own secret; what it may rotate is bounded by what it holds, as for
/// creation (`service::rotate_token`).
fn is_rotation(path: &str) -> bool {
    path.strip_prefix("/rest/tokenauth/1/tokens/")
        .and_then(|rest| rest.strip_suffix("/rotate"))
        .is_some_and(|id| !id.is_empty() && id.bytes().all(|b| b.is_ascii_alphanumeric()))
}

pub const SESSION_PATH: &str = "/rest/auth/1/session";

/// Exactly the routed paths: `/rest/tokenauth/1/tokens/` is no route, so a Read Only token's
/// POST there is a write like any other (the echo would otherwise answer it with a 201).
pub fn is_scope_exempt(method: &str, path: &str) -> bool {
    (method == "POST" && (SCOPE_EXEMPT_POST_PATHS.contains(&path) || is_rotation(path)))
        || (method == "DELETE" && path == SESSION_PATH)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn read_only_allows_get_head_options_only() {
        for m in ["GET", "HEAD", "OPTIONS"] {
            assert!(Scope::ReadOnly.allows(m, "/rest/api/2/issue"), "{m}");
        }
        for m in ["POST", "PUT", "DELETE", "PATCH", "get", "TRACE"] {
            assert!(!Scope::ReadOnly.allows(m, "/rest/api/2/issue"), "{m}");
        }
    }

    #[test]
    fn read_write_allows_every_method() {
        for m in ["GET", "POST", "PUT", "DELETE", "PATCH", "CUSTOM"] {
            assert!(Scope::ReadWrite.allows(m, "/rest/api/2/issue"));
        }
    }

    #[test]
    fn read_only_may_post_to_the_session_login_and_token_creation() {
        assert!(Scope::ReadOnly.allows("POST", "/rest/auth/1/session"));
        assert!(Scope::ReadOnly.allows("POST", "/rest/tokenauth/1/tokens"));
        assert!(
            Scope::ReadOnly.allows("POST", "/rest/de.resolution.apitokenauth/latest/user/token")
        );
    }

    #[test]
    fn the_exceptions_cover_only_post_on_exactly_those_paths() {
        assert!(!Scope::ReadOnly.allows("PUT", "/rest/auth/1/session"));
        assert!(!Scope::ReadOnly.allows("PUT", "/rest/tokenauth/1/tokens"));
        assert!(!Scope::ReadOnly.allows("DELETE", "/rest/tokenauth/1/tokens/AAAAAAAAAAAA"));
        assert!(!Scope::ReadOnly.allows("POST", "/rest/tokenauth/1/admin/users/bob/tokens"));
        assert!(!Scope::ReadOnly.allows("POST", "/rest/auth/1/session/extra"));
    }

    #[test]
    fn l8_only_the_exact_routed_paths_are_exempt() {
        assert!(!Scope::ReadOnly.allows("POST", "/rest/tokenauth/1/tokens/"));
        assert!(!Scope::ReadOnly.allows("POST", "/rest/auth/1/session/"));
        assert!(!Scope::ReadOnly.allows(
            "POST",
            "/rest/de.resolution.apitokenauth/latest/user/token/"
        ));
    }

    #[test]
    fn read_only_may_post_to_the_pat_api_and_rotate_one_token() {
        assert!(Scope::ReadOnly.allows("POST", "/rest/pat/latest/tokens"));
        assert!(Scope::ReadOnly.allows("POST", "/rest/tokenauth/1/tokens/AAAAAAAAAAAA/rotate"));
        for path in [
            "/rest/tokenauth/1/tokens//rotate",
            "/rest/tokenauth/1/tokens/AAAA/BBBB/rotate",
            "/rest/tokenauth/1/tokens/AAAAAAAAAAAA/rotate/",
            "/rest/tokenauth/1/tokens/AAAA%2FB/rotate",
            "/rest/pat/latest/admin/tokens",
        ] {
            assert!(!Scope::ReadOnly.allows("POST", path), "{path}");
        }
        assert!(!Scope::ReadOnly.allows("DELETE", "/rest/pat/latest/tokens/1"));
    }

    #[test]
    fn read_only_may_log_out_of_its_session() {
        assert!(Scope::ReadOnly.allows("DELETE", "/rest/auth/1/session"));
    }

    #[test]
    fn scopes_serialize_as_the_api_names_them() {
        assert_eq!(
            serde_json::to_string(&Scope::ReadOnly).unwrap(),
            "\"READ_ONLY\""
        );
        assert_eq!(Scope::parse("READ_WRITE"), Some(Scope::ReadWrite));
        assert_eq!(Scope::parse("read_write"), None);
    }
}
