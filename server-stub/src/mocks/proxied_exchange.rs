//! What is kept of a proxied exchange, and what the caller gets of it: the request and the
//! upstream's answer with every secret the exchange holds cut out — what the request presented
//! (its credentials, cookies, credential parameters, secret-named body fields), the operator's
//! upstream credential, the cookies the upstream set — with the journal's redaction
//! (`super::redaction::Secrets`). Pure, so that its promise is a property test
//! (`server-stub/tests/recording_keeps_no_secret.rs`).

use wiremock_engine::credentials::{is_credential_header, is_credential_param};
use wiremock_engine::recording::Exchange;

use super::redaction::Secrets;

/// The request as it arrived.
pub struct Sent<'a> {
    pub method: &'a str,
    /// Path and query.
    pub url: &'a str,
    pub headers: Vec<(&'a str, &'a str)>,
    pub body: &'a [u8],
}

/// The upstream's answer, its `Set-Cookie` values held back.
pub struct Answered {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    pub withheld_cookies: Vec<String>,
}

/// The exchange to keep (for the recorder), and the headers and body the caller gets.
pub fn scrubbed(
    sent: &Sent<'_>,
    answered: Answered,
    upstream_credential: Option<&str>,
) -> (Exchange, Vec<(String, String)>, Vec<u8>) {
    let mut secrets = Secrets::presented(sent.headers.iter().copied(), sent.url);
    secrets.add_body_fields(sent.body);
    if let Some(c) = upstream_credential {
        secrets.add_authorization(c);
    }
    secrets.add_values(answered.withheld_cookies.iter().map(String::as_str));
    let encoding = |h: &[(&str, &str)]| {
        h.iter()
            .find(|(n, _)| n.eq_ignore_ascii_case("content-encoding"))
            .map(|(_, v)| (*v).to_owned())
    };
    let headers: Vec<(String, String)> = answered
        .headers
        .iter()
        .map(|(n, v)| (secrets.scrub(n), secrets.scrub(v)))
        .collect();
    let answer_encoding = headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case("content-encoding"))
        .map(|(_, v)| v.clone());
    let body = secrets
        .body_for_mappings(&answered.body, answer_encoding.as_deref())
        .unwrap_or(answered.body);
    let request_body = secrets
        .body_for_mappings(sent.body, encoding(&sent.headers).as_deref())
        .unwrap_or_else(|| sent.body.to_vec());
    let exchange = Exchange {
        id: wiremock_engine::mapping::random_uuid(),
        method: sent.method.to_owned(),
        url: secrets.scrub(&without_credential_params(sent.url)),
        request_headers: sent
            .headers
            .iter()
            .filter(|(n, _)| !is_credential_header(n))
            .map(|(n, v)| (secrets.scrub(n), secrets.scrub(v)))
            .collect(),
        request_body,
        status: answered.status,
        response_headers: headers.clone(),
        response_body: body.clone(),
        proxied: true,
    };
    (exchange, headers, body)
}

/// `path_and_query` without the query parameters that are credentials (Jira's `os_password`,
/// `access_token`, …): the caller's, for this server, never sent on.
pub fn without_credential_params(path_and_query: &str) -> String {
    let Some((path, query)) = path_and_query.split_once('?') else {
        return path_and_query.to_owned();
    };
    let kept: Vec<&str> = query
        .split('&')
        .filter(|pair| {
            let name = pair.split('=').next().unwrap_or_default();
            let name = form_urlencoded::parse(name.as_bytes())
                .next()
                .map(|(k, _)| k.into_owned())
                .unwrap_or_default();
            !is_credential_param(&name)
        })
        .collect();
    if kept.is_empty() {
        path.to_owned()
    } else {
        format!("{path}?{}", kept.join("&"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credential_parameters_never_leave_with_the_request() {
        assert_eq!(
            without_credential_params("/rest/x?os_username=a&os_password=secret1&fields=b"),
            "/rest/x?os_username=a&fields=b"
        );
        assert_eq!(without_credential_params("/x?access_token=t"), "/x");
        assert_eq!(without_credential_params("/x?a%5Fb=1"), "/x?a%5Fb=1");
        assert_eq!(without_credential_params("/x"), "/x");
    }
}
