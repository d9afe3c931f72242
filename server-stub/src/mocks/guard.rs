//! Which requests the token rules guard (SPEC §3, §8): every path under `/rest/` but the few
//! anonymous Jira endpoints — read as leniently as a pattern could read it — and, outside
//! `/rest/`, whatever a mapping answers that could have answered a `/rest/` path.

use axum::http::Method;

use wiremock_engine::{Mapping, PathBound};

mod reach;

/// The path prefix of WireMock's admin API.
pub const PREFIX: &str = "/__admin";

/// Whether a path is WireMock's admin API: open without credentials to local callers only
/// (`crate::authentication::local`), and never journaled.
pub fn is_admin_api(path: &str) -> bool {
    path == PREFIX || path.starts_with("/__admin/")
}

/// Paths that need no authentication: outside `/rest/`, and the few anonymous Jira endpoints.
pub fn is_anonymous(method: &Method, path: &str) -> bool {
    let path = path.strip_suffix('/').unwrap_or(path);
    matches!(
        (method.as_str(), path),
        (
            "GET" | "HEAD",
            "/rest/api/2/serverInfo" | "/rest/api/latest/serverInfo"
        ) | ("GET" | "HEAD", "/rest/tokenauth/1/openapi.json")
            | ("POST", "/rest/auth/1/session")
    ) || !under_rest(path)
}

/// Whether a path is under `/rest/` once read the way a lenient matcher could read it: percent
/// escapes undone, repeated slashes merged, `.` and `..` segments resolved, any case. The
/// token rules guard every such path, so `//rest/…`, `/x/../rest/…` or `/%72est/…` cannot
/// reach a mapping whose pattern matches them without credentials.
pub fn under_rest(path: &str) -> bool {
    if path.starts_with("/rest/") || path == "/rest" {
        return true;
    }
    // Nothing to undo: the path means what it says.
    if path.is_ascii()
        && !path.contains(['%', '.', '\\'])
        && !path.contains("//")
        && !path
            .get(..5)
            .is_some_and(|p| p.eq_ignore_ascii_case("/rest"))
    {
        return false;
    }
    let decoded = super::redaction::percent_decoded(path);
    let mut segments: Vec<&str> = Vec::new();
    for seg in decoded.split(['/', '\\']) {
        match seg {
            "" | "." => {}
            ".." => {
                segments.pop();
            }
            s => segments.push(s),
        }
    }
    segments.first().is_some_and(|first| is_rest(first))
}

/// `rest` in any case, Unicode's too: a case-insensitive pattern folds `ſ` (U+017F) to `s`.
fn is_rest(segment: &str) -> bool {
    segment.replace('\u{17f}', "s").eq_ignore_ascii_case("rest")
}

/// Whether a mapping answers only authenticated callers: when it could answer a path under
/// `/rest/` by some spelling (security review 2, N2). A literal path decides by itself; a
/// template is open to anonymous callers only when every path it matches starts with a literal
/// first segment that is not `rest` (`/static/…`, `/api/v1/…`); a regex when that literal
/// prefix says so, or else when its DFA cannot match any spelling of a `/rest/` path
/// ([`reach::may_match_rest`]: `/2.0/repositories/.*` is open, `.*/rest/…`, `(?i)/REST/…`,
/// `/.est/…` are guarded); no URL at all is guarded. A mapping's
/// author may open one on purpose with `"metadata": {"tokenauth": {"public": true}}`; the
/// token rules still guard every request whose own path is under `/rest/`.
pub fn mapping_is_guarded(m: &Mapping) -> bool {
    let public = m
        .source
        .pointer("/metadata/tokenauth/public")
        .and_then(serde_json::Value::as_bool)
        .unwrap_or(false);
    !public && bound_is_guarded(&m.request.path_bound())
}

fn bound_is_guarded(bound: &PathBound) -> bool {
    match bound {
        PathBound::Exact(p) => under_rest(p),
        PathBound::Anything => true,
        PathBound::Prefix(p) => prefix_is_guarded(p),
        // A prefix that proves it open needs no DFA; otherwise the DFA decides, exactly.
        PathBound::Pattern { prefix, anchored } => {
            prefix_is_guarded(prefix) && reach::may_match_rest(anchored)
        }
    }
}

fn prefix_is_guarded(p: &str) -> bool {
    let Some(rest) = p.strip_prefix('/') else {
        return true;
    };
    let Some((first, _)) = rest.split_once('/') else {
        // The first segment is not finished (`/re…`): it could still become `rest`.
        return true;
    };
    // Anything a lenient reading could turn into another segment counts as guarded.
    first.is_empty() || first.contains(['%', '.', '\\', ';']) || is_rest(first)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn prefix(p: &str) -> bool {
        bound_is_guarded(&PathBound::Prefix(p.into()))
    }

    #[test]
    fn a_pattern_is_open_only_behind_a_literal_first_segment_other_than_rest() {
        assert!(!prefix("/static/") && !prefix("/api/v1/issue"));
        for p in [
            "", "/", "/re", "/rest/", "/REST/", "//rest/", "/%72est/", "/./", "/x.y/", "rest/",
        ] {
            assert!(prefix(p), "{p:?}");
        }
        assert!(bound_is_guarded(&PathBound::Anything));
        assert!(bound_is_guarded(&PathBound::Exact(
            "/rest/api/2/issue/X".into()
        )));
        assert!(bound_is_guarded(&PathBound::Exact("//rest/x".into())));
        assert!(!bound_is_guarded(&PathBound::Exact(
            "/static/app.js".into()
        )));
        assert!(prefix("/re\u{17f}t/"));
        assert!(
            under_rest("/re%C5%BFt/api/2/myself")
                && under_rest("/REST/x")
                && under_rest("/%72est/x")
        );
        assert!(under_rest("//rest/x") && under_rest("/a/../rest/x") && under_rest("/./rest/x"));
        assert!(!under_rest("/x/rest/x") && !under_rest("/static/a"));
    }
}
