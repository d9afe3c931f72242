//! The two routes every Jira client and script calls first — `serverInfo` (anonymous) and
//! `myself` (its credentials' check) — answered by `front::Front::call` without axum's router
//! (issue 21). The router's match, its boxed route service and future, the handler's extractors
//! and the principal's trip through the request's extensions cost these two answers more than
//! building them. Only a `GET` of one of the four paths exactly is answered here: `HEAD`, a
//! trailing slash, another method or spelling take the router, as before. The answers are the
//! handlers' own (`jira::server_info_answer`, `jira::myself_answer`), and
//! `tests/tests/authentication.rs` holds each one to what the router answers a `HEAD` of it.

use axum::http::Method;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hot {
    ServerInfo,
    Myself,
}

impl Hot {
    pub fn of(method: &Method, path: &str) -> Option<Self> {
        if method != Method::GET {
            return None;
        }
        match path {
            "/rest/api/2/serverInfo" | "/rest/api/latest/serverInfo" => Some(Hot::ServerInfo),
            "/rest/api/2/myself" | "/rest/api/latest/myself" => Some(Hot::Myself),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Hot;
    use axum::http::Method;

    #[test]
    fn only_a_get_of_the_exact_paths_is_hot() {
        use Hot::{Myself, ServerInfo};
        for (m, p, hot) in [
            (Method::GET, "/rest/api/2/serverInfo", Some(ServerInfo)),
            (Method::GET, "/rest/api/latest/serverInfo", Some(ServerInfo)),
            (Method::GET, "/rest/api/2/myself", Some(Myself)),
            (Method::GET, "/rest/api/latest/myself", Some(Myself)),
            (Method::HEAD, "/rest/api/2/serverInfo", None),
            (Method::POST, "/rest/api/2/myself", None),
            (Method::GET, "/rest/api/2/serverInfo/", None),
            (Method::GET, "/rest/api/2/serverinfo", None),
            (Method::GET, "/rest/api/2/myself/x", None),
            (Method::GET, "/rest/api/3/myself", None),
        ] {
            assert_eq!(Hot::of(&m, p), hot, "{m} {p}");
        }
    }
}
