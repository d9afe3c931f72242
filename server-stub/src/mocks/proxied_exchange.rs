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

/// The exchange to keep, and the headers and body the caller gets.
pub type Kept = (Exchange, Vec<(String, String)>, Vec<u8>);

/// An answer this server cannot read to cut secrets from, so it is not passed on.
#[derive(Debug, thiserror::Error)]
pub enum Unreadable {
    #[error(
        "the upstream answered with Content-Encoding {0}, which this server cannot read to cut secrets from (it asked for none)"
    )]
    Encoding(String),
    #[error(
        "the upstream's compressed answer is larger than the {0} bytes a proxied answer may have"
    )]
    TooLarge(usize),
}

/// The body decoded from its `Content-Encoding` (gzip, deflate), at most `max` bytes, and the
/// header removed; an encoding this server cannot read is refused.
fn decoded(
    headers: &mut Vec<(String, String)>,
    body: Vec<u8>,
    max: usize,
) -> Result<Vec<u8>, Unreadable> {
    use std::io::Read as _;
    let Some(i) = headers
        .iter()
        .position(|(n, _)| n.eq_ignore_ascii_case("content-encoding"))
    else {
        return Ok(body);
    };
    let encoding = headers[i].1.trim().to_ascii_lowercase();
    let mut out = Vec::new();
    let limit = u64::try_from(max).unwrap_or(u64::MAX).saturating_add(1);
    let read = match encoding.as_str() {
        "" | "identity" => {
            headers.remove(i);
            return Ok(body);
        }
        "gzip" | "x-gzip" => flate2::read::GzDecoder::new(&body[..])
            .take(limit)
            .read_to_end(&mut out),
        "deflate" => flate2::read::ZlibDecoder::new(&body[..])
            .take(limit)
            .read_to_end(&mut out),
        _ => return Err(Unreadable::Encoding(encoding)),
    };
    if read.is_err() {
        return Err(Unreadable::Encoding(format!("{encoding} (not valid)")));
    }
    if out.len() > max {
        return Err(Unreadable::TooLarge(max));
    }
    headers.remove(i);
    Ok(out)
}

/// Whether an answer of this content type is text (so a body that is not UTF-8 is Latin-1).
fn textual(headers: &[(String, String)]) -> bool {
    headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case("content-type"))
        .is_some_and(|(_, v)| {
            let v = v.to_ascii_lowercase();
            [
                "json",
                "text/",
                "xml",
                "html",
                "javascript",
                "x-www-form-urlencoded",
            ]
            .iter()
            .any(|t| v.contains(t))
        })
}

/// A text body that is not UTF-8, read as Latin-1 (each byte one character), scrubbed as text
/// or JSON, and written back as Latin-1: a secret field is cut whatever the charset.
fn scrubbed_latin1(secrets: &Secrets, body: &[u8]) -> Vec<u8> {
    let text: String = body.iter().map(|&b| char::from(b)).collect();
    let out = secrets.scrub_body(text.as_bytes(), None);
    String::from_utf8_lossy(&out)
        .chars()
        .map(|c| u8::try_from(u32::from(c)).unwrap_or(b'?'))
        .collect()
}

/// The exchange to keep (for the recorder), and the headers and body the caller gets; or why
/// the answer cannot be passed on.
pub fn scrubbed(
    sent: &Sent<'_>,
    answered: Answered,
    upstream_credential: Option<&str>,
    max_body: usize,
) -> Result<Kept, Unreadable> {
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
    let mut headers: Vec<(String, String)> = answered
        .headers
        .iter()
        .map(|(n, v)| (secrets.scrub(n), secrets.scrub(v)))
        .collect();
    let plain = decoded(&mut headers, answered.body, max_body)?;
    let body = if std::str::from_utf8(&plain).is_err() && textual(&headers) {
        scrubbed_latin1(&secrets, &plain)
    } else {
        secrets.body_for_mappings(&plain, None).unwrap_or(plain)
    };
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
    Ok((exchange, headers, body))
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
            // `_method`: a method other than the one the token rules judged.
            !is_credential_param(&name) && !name.eq_ignore_ascii_case("_method")
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

    fn answer(headers: &[(&str, &str)], body: Vec<u8>) -> Answered {
        Answered {
            status: 200,
            headers: headers
                .iter()
                .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
                .collect(),
            body,
            withheld_cookies: vec![],
        }
    }

    fn sent() -> Sent<'static> {
        Sent {
            method: "GET",
            url: "/rest/x",
            headers: vec![],
            body: b"",
        }
    }

    #[test]
    fn a_compressed_or_latin1_answer_is_read_before_it_is_scrubbed() {
        use std::io::Write as _;
        let json = b"{\"name\":\"caf\xe9\",\"rawToken\":\"NzQ0MjE2NjA3NDg5OkJqJ4Zy\"}".to_vec();
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(br#"{"rawToken":"NzQ0MjE2NjA3NDg5OkJqJ4Zy"}"#)
            .unwrap();
        let gz = gz.finish().unwrap();
        let ct = ("Content-Type", "application/json;charset=ISO-8859-1");
        let (_, _, body) = scrubbed(&sent(), answer(&[ct], json), None, 1 << 20).unwrap();
        assert_eq!(
            body,
            b"{\"name\":\"caf\xe9\",\"rawToken\":\"[redacted]\"}".to_vec()
        );
        let (e, headers, body) = scrubbed(
            &sent(),
            answer(&[ct, ("Content-Encoding", "gzip")], gz.clone()),
            None,
            1 << 20,
        )
        .unwrap();
        assert_eq!(body, br#"{"rawToken":"[redacted]"}"#.to_vec());
        assert!(
            !headers
                .iter()
                .any(|(n, _)| n.eq_ignore_ascii_case("content-encoding"))
        );
        assert_eq!(
            e.response_body, body,
            "recorded as served: plain, without the encoding"
        );
        assert!(matches!(
            scrubbed(
                &sent(),
                answer(&[("Content-Encoding", "br")], vec![1, 2]),
                None,
                1 << 20
            ),
            Err(Unreadable::Encoding(_))
        ));
        assert!(matches!(
            scrubbed(
                &sent(),
                answer(&[("Content-Encoding", "gzip")], gz),
                None,
                4
            ),
            Err(Unreadable::TooLarge(4))
        ));
    }

    #[test]
    fn credential_parameters_never_leave_with_the_request() {
        assert_eq!(
            without_credential_params("/rest/x?os_username=a&os_password=secret1&fields=b"),
            "/rest/x?os_username=a&fields=b"
        );
        assert_eq!(without_credential_params("/x?access_token=t"), "/x");
        assert_eq!(without_credential_params("/x?a%5Fb=1"), "/x?a%5Fb=1");
        assert_eq!(without_credential_params("/x"), "/x");
        assert_eq!(without_credential_params("/x?_method=DELETE&a=1"), "/x?a=1");
    }
}
