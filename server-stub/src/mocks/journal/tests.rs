use super::*;
use crate::mocks::journal_json::entry_json;
use base64::Engine as _;
use serde_json::json;

fn arrived(headers: &[(&str, &str)], url: &str) -> Arrived {
    Arrived {
        method: "POST".into(),
        url: url.into(),
        scheme: "http",
        authority: None,
        client_ip: Some([127, 0, 0, 1].into()),
        headers: headers
            .iter()
            .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
            .collect(),
    }
}

fn served(body: &str) -> Served {
    Served {
        body: axum::body::Bytes::from(body.to_owned()),
        record_body: true,
        ..Served::default()
    }
}

#[test]
fn no_credential_header_value_and_no_presented_secret_is_stored() {
    let j = Journal::new(10, None);
    let basic = base64::engine::general_purpose::STANDARD.encode("alice:SeCrEt-token-1");
    j.record(
        arrived(
            &[
                ("Authorization", &format!("Basic {basic}")),
                ("Cookie", "JSESSIONID=abc123"),
                ("X-Echo", "I said SeCrEt-token-1"),
            ],
            "/rest/x?leak=SeCrEt-token-1",
        ),
        200,
        None,
        Some(Served {
            body: axum::body::Bytes::from("{\"t\":\"SeCrEt-token-1\"}"),
            record_body: true,
            answer_templated: false,
            stub: None,
            answer: Some((
                vec![("X-Back".into(), format!("Basic {basic}"))],
                format!("echo SeCrEt-token-1 {basic}").into_bytes(),
            )),
        }),
    );
    let (entries, total) = j.newest(10);
    assert_eq!(total, 1);
    let text = entry_json(&entries[0], None).to_string();
    for secret in ["SeCrEt-token-1", basic.as_str(), "abc123"] {
        assert!(!text.contains(secret), "{secret} leaked into {text}");
    }
    assert!(text.contains(REDACTED));
}

#[test]
fn a_bearer_token_is_cut_from_the_body_too() {
    let j = Journal::new(10, None);
    j.record(
        arrived(&[("Authorization", "Bearer tok_ABCDEF")], "/rest/x"),
        200,
        None,
        Some(served("token=tok_ABCDEF")),
    );
    let e = &j.newest(1).0[0];
    assert_eq!(e.request.body, format!("token={REDACTED}").into_bytes());
}

#[test]
fn the_journal_forgets_its_oldest_entry_past_its_size_and_counts_by_pattern() {
    let j = Journal::new(3, None);
    for i in 0..5 {
        j.record(arrived(&[], &format!("/n/{i}")), 200, None, None);
    }
    let (entries, total) = j.newest(10);
    assert_eq!(total, 3);
    let urls: Vec<&str> = entries.iter().map(|e| e.request.url()).collect();
    assert_eq!(urls, ["/n/4", "/n/3", "/n/2"]);
    let pattern = RequestPattern::parse(&json!({"urlPathPattern": "/n/[34]"}), "").unwrap();
    assert_eq!(j.count(&pattern), 2);
    j.clear();
    assert!(j.is_empty());
}

#[test]
fn a_large_body_is_kept_up_to_its_bound_and_marked() {
    let j = Journal::new(3, None);
    let big = "x".repeat(MAX_BODY + 10);
    j.record(arrived(&[], "/big"), 200, None, Some(served(&big)));
    let e = &j.newest(1).0[0];
    assert_eq!(e.request.body.len(), MAX_BODY);
    assert!(e.body_truncated);
}

#[test]
fn the_byte_bound_holds_whatever_the_count() {
    let j = Journal::new(1_000_000, None);
    let body = "y".repeat(MAX_BODY);
    for _ in 0..(MAX_BYTES / MAX_BODY + 50) {
        j.record(arrived(&[], "/b"), 200, None, Some(served(&body)));
    }
    assert!(j.len() <= MAX_BYTES / MAX_BODY);
}

#[test]
fn each_entry_has_a_version_4_uuid() {
    let j = Journal::new(2, None);
    j.record(arrived(&[], "/x"), 200, None, None);
    let id = j.newest(1).0[0].id.clone();
    let parts: Vec<usize> = id.split('-').map(str::len).collect();
    assert_eq!(parts, [8, 4, 4, 4, 12], "{id}");
    assert_eq!(&id[14..15], "4");
    assert!(id.bytes().all(|b| b == b'-' || b.is_ascii_hexdigit()));
}

#[test]
fn a_journal_of_size_zero_records_nothing() {
    let j = Journal::new(0, None);
    j.record(arrived(&[], "/x"), 200, None, None);
    assert!(j.is_empty());
}

/// The review's F1–F3: the secret escaped, encoded, unpadded, or as the session cookie.
#[test]
fn a_secret_is_cut_in_every_form_a_client_or_a_template_writes_it() {
    let j = Journal::new(10, None);
    let secret = "al ice+p@ss=1<x>";
    let unpadded =
        base64::engine::general_purpose::STANDARD_NO_PAD.encode(format!("alice:{secret}"));
    let encoded: String = form_urlencoded::byte_serialize(secret.as_bytes()).collect();
    j.record(
        arrived(
            &[
                ("Authorization", &format!("Basic {unpadded}")),
                ("Cookie", "JSESSIONID=sess-1234567890; theme=dark"),
                ("X-Session", "sess-1234567890"),
            ],
            &format!("/rest/x?p={encoded}&half=al%20ice+p%40ss=1<x>"),
        ),
        200,
        None,
        Some(Served {
            body: axum::body::Bytes::from(format!(
                "{{\"p\": {}, \"html\": \"{}\"}}",
                serde_json::to_string(secret).unwrap(),
                handlebars::html_escape(secret)
            )),
            record_body: true,
            ..Served::default()
        }),
    );
    let text = entry_json(&j.newest(1).0[0], None).to_string();
    for leak in [
        secret,
        encoded.as_str(),
        "al%20ice",
        "al ice",
        "sess-1234567890",
        unpadded.as_str(),
    ] {
        assert!(!text.contains(leak), "{leak} leaked: {text}");
    }
}

#[test]
fn a_templated_answer_to_a_request_with_credentials_is_not_kept() {
    let j = Journal::new(10, None);
    let basic = base64::engine::general_purpose::STANDARD.encode("alice:tok=");
    j.record(
        arrived(&[("Authorization", &format!("Basic {basic}"))], "/rest/x"),
        200,
        None,
        Some(Served {
            answer: Some((vec![], b"anything a template made".to_vec())),
            answer_templated: true,
            record_body: true,
            ..Served::default()
        }),
    );
    let e = &j.newest(1).0[0];
    assert!(e.answer.is_none() && e.answer_omitted);
    // Without credentials, the same answer is kept.
    j.record(
        arrived(&[], "/x"),
        200,
        None,
        Some(Served {
            answer: Some((vec![], b"kept".to_vec())),
            answer_templated: true,
            record_body: true,
            ..Served::default()
        }),
    );
    assert!(j.newest(1).0[0].answer.is_some());
}

#[test]
fn many_tiny_headers_count_against_the_byte_bound() {
    let headers: Vec<(String, String)> =
        (0..500).map(|i| (format!("a{i}"), String::new())).collect();
    let e = redacted_entry(
        Arrived {
            method: "GET".into(),
            url: "/x".into(),
            scheme: "http",
            authority: None,
            client_ip: Some([1, 2, 3, 4].into()),
            headers,
        },
        200,
        None,
        None,
    );
    assert_eq!(e.request.headers().len(), MAX_HEADERS);
    assert_eq!(e.headers_dropped, 500 - MAX_HEADERS);
    assert!(e.bytes >= MAX_HEADERS * HEADER_OVERHEAD);
}

/// The sweep's promise (issue 21): a request recorded and never read is redacted once it is
/// older than the sweep's age, and one younger is left for later.
#[test]
fn the_sweep_redacts_what_is_older_than_its_age_and_only_that() {
    let pending = |j: &Journal| {
        j.lock()
            .entries
            .iter()
            .filter(|(s, _)| matches!(s, Slot::Pending(_)))
            .count()
    };
    let j = Journal::new(10, None);
    j.record(
        arrived(&[("Authorization", "Bearer SeCrEt-token-1")], "/x"),
        200,
        None,
        None,
    );
    assert_eq!(j.redact_older_than(Duration::from_secs(60)), 0);
    assert_eq!(pending(&j), 1);
    std::thread::sleep(Duration::from_millis(5));
    assert_eq!(j.redact_older_than(Duration::from_millis(1)), 1);
    assert_eq!(pending(&j), 0);
    let text = entry_json(&j.newest(1).0[0], None).to_string();
    assert!(!text.contains("SeCrEt-token-1"), "{text}");
}
