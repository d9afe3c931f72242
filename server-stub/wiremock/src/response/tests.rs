use super::*;
use crate::parse::{ErrorKind, ParseContext};
use crate::templating::helpers::java_format;
use rand::SeedableRng as _;
use serde_json::json;

fn response(v: Value) -> ResponseDefinition {
    ResponseDefinition::parse(&v, "/response", ParseContext::default()).unwrap()
}

fn error(v: Value) -> MappingError {
    ResponseDefinition::parse(&v, "/response", ParseContext::default()).unwrap_err()
}

fn render(v: Value, req: &MockRequest) -> RenderedResponse {
    response(v).render(req, &[]).unwrap()
}

fn body_text(v: Value, req: &MockRequest) -> String {
    String::from_utf8(render(v, req).body).unwrap()
}

#[test]
fn status_defaults_to_200_and_headers_may_repeat() {
    let r = render(json!({}), &MockRequest::default());
    assert_eq!(
        (r.status, r.body.len(), r.delay, r.fault),
        (200, 0, Duration::ZERO, None)
    );
    let r = render(
        json!({"status": 404, "statusMessage": "Nope", "headers": {"Set-Cookie": ["a=1", "b=2"], "X": 5}}),
        &MockRequest::default(),
    );
    assert_eq!((r.status, r.status_message.as_deref()), (404, Some("Nope")));
    assert_eq!(
        r.headers,
        [("Set-Cookie", "a=1"), ("Set-Cookie", "b=2"), ("X", "5")]
            .map(|(a, b)| (a.to_owned(), b.to_owned()))
    );
    assert_eq!(error(json!({"status": 20})).pointer, "/response/status");
}

#[test]
fn the_four_kinds_of_body() {
    assert_eq!(
        body_text(json!({"body": "plain"}), &MockRequest::default()),
        "plain"
    );
    assert_eq!(
        body_text(json!({"base64Body": "aGk="}), &MockRequest::default()),
        "hi"
    );
    // jsonBody is written with Jackson's pretty printer, its keys in the mapping's order.
    assert_eq!(
        body_text(
            json!({"jsonBody": {"key": "PROJ-1", "n": [1, 2], "e": {}, "o": {"a": null}}}),
            &MockRequest::default()
        ),
        "{\n  \"key\" : \"PROJ-1\",\n  \"n\" : [ 1, 2 ],\n  \"e\" : { },\n  \"o\" : {\n    \"a\" : null\n  }\n}"
    );
    let e = error(json!({"body": "a", "jsonBody": {}}));
    assert_eq!(e.pointer, "/response/jsonBody");
    assert!(matches!(e.kind, ErrorKind::ConflictingBody(_)));
    assert_eq!(
        error(json!({"base64Body": "!!"})).pointer,
        "/response/base64Body"
    );
}

#[test]
fn delays_fixed_uniform_and_lognormal() {
    let mut rng = rand::rngs::StdRng::seed_from_u64(1);
    let r = response(json!({"fixedDelayMilliseconds": 250}));
    assert_eq!(r.sample_delay(&mut rng), Duration::from_millis(250));
    let r = response(json!({"delayDistribution": {"type": "uniform", "lower": 10, "upper": 20}}));
    for _ in 0..100 {
        let d = r.sample_delay(&mut rng).as_millis();
        assert!((10..=20).contains(&d), "{d}");
    }
    let r =
        response(json!({"delayDistribution": {"type": "lognormal", "median": 80, "sigma": 0.4}}));
    let mut draws: Vec<u128> = (0..1001)
        .map(|_| r.sample_delay(&mut rng).as_millis())
        .collect();
    draws.sort_unstable();
    assert!(
        (60..=100).contains(&draws[500]),
        "median near 80: {}",
        draws[500]
    );
    let r = response(
        json!({"delayDistribution": {"type": "lognormal", "median": 1e300, "sigma": 1e300}}),
    );
    let _ = r.sample_delay(&mut rng); // saturates, does not panic
    assert_eq!(
        error(json!({"delayDistribution": {"type": "uniform", "lower": 5, "upper": 1}})).pointer,
        "/response/delayDistribution/upper"
    );
    assert_eq!(
        error(json!({"delayDistribution": {"type": "pareto"}})).pointer,
        "/response/delayDistribution/type"
    );
}

#[test]
fn dribbled_bodies_are_cut_as_wiremock_cuts_them() {
    let d = |n, ms| ChunkedDribbleDelay {
        number_of_chunks: n,
        total_duration: Duration::from_millis(ms),
    };
    // What WireMock 3.13.2 sent: 20 bytes in 4 → 5 each; 10 in 3 → 3, 3, 4; 3 in 10 → 3 of 1.
    assert_eq!(d(4, 1000).chunk_lengths(20), [5, 5, 5, 5]);
    assert_eq!(d(3, 600).chunk_lengths(10), [3, 3, 4]);
    assert_eq!(d(10, 1000).chunk_lengths(3), [1, 1, 1]);
    assert!(d(3, 600).chunk_lengths(0).is_empty());
    assert_eq!(d(1, 5).chunk_lengths(7), [7]);
    // The wait before each chunk spreads the whole duration over the chunks actually sent.
    assert_eq!(d(10, 1000).interval(3), Duration::from_nanos(333_333_333));
    assert_eq!(d(4, 1000).interval(4), Duration::from_millis(250));
    assert_eq!(d(4, 1000).interval(0), Duration::ZERO);
}

#[test]
fn chunked_dribble_delay_and_faults_are_data() {
    let r = response(
        json!({"chunkedDribbleDelay": {"numberOfChunks": 5, "totalDuration": 1000}, "fault": "EMPTY_RESPONSE"}),
    );
    assert_eq!(
        r.chunked_dribble_delay,
        Some(ChunkedDribbleDelay {
            number_of_chunks: 5,
            total_duration: Duration::from_secs(1)
        })
    );
    assert_eq!(r.fault, Some(Fault::EmptyResponse));
    for (name, f) in [
        ("CONNECTION_RESET_BY_PEER", Fault::ConnectionResetByPeer),
        ("MALFORMED_RESPONSE_CHUNK", Fault::MalformedResponseChunk),
        ("RANDOM_DATA_THEN_CLOSE", Fault::RandomDataThenClose),
    ] {
        assert_eq!(response(json!({"fault": name})).fault, Some(f));
    }
    assert_eq!(error(json!({"fault": "BOOM"})).pointer, "/response/fault");
    assert_eq!(
        error(json!({"chunkedDribbleDelay": {"numberOfChunks": 0, "totalDuration": 1}})).pointer,
        "/response/chunkedDribbleDelay/numberOfChunks"
    );
}

fn templated(body: &str) -> Value {
    json!({"body": body, "transformers": ["response-template"]})
}

#[test]
fn a_template_finds_a_header_whatever_case_the_request_used() {
    // As hyper hands it over: lower case.
    let req = MockRequest::new("GET", "/x").header("x-trace", "t-9");
    let t = |body: &str| body_text(templated(body), &req);
    assert_eq!(t("{{request.headers.X-Trace}}"), "t-9");
    assert_eq!(t("{{request.headers.[X-TRACE]}}"), "t-9");
    assert_eq!(t("{{request.headers.x-trace}}"), "t-9");
    assert_eq!(t("{{request.headers.X-Other}}"), "");
}

#[test]
fn templates_see_the_request_model() {
    let req = MockRequest::new("post", "/rest/api/2/issue/PROJ-7?expand=names&x=1&x=2")
        .header("X-Trace", "t-1")
        .header("Cookie", "s=abc")
        .body(r#"{"fields": {"summary": "Hello"}, "labels": ["a", "b"]}"#);
    let t = |body: &str| body_text(templated(body), &req);
    assert_eq!(t("{{request.pathSegments.[4]}}"), "PROJ-7");
    assert_eq!(t("{{request.path}}"), "/rest/api/2/issue/PROJ-7");
    // WireMock's `request.path` is also the list of segments (and the map of parameters).
    assert_eq!(
        t("{{request.path.[0]}}/{{ request.path.[4] }} request.path.[0]"),
        "rest/PROJ-7 request.path.[0]"
    );
    // `{{…}}` escapes as WireMock's default (jknack's Handlebars.js strategy), `{{{…}}}` does not.
    assert_eq!(
        t("{{request.url}}"),
        "/rest/api/2/issue/PROJ-7?expand&#x3D;names&amp;x&#x3D;1&amp;x&#x3D;2"
    );
    assert_eq!(
        t("{{{request.url}}}"),
        "/rest/api/2/issue/PROJ-7?expand=names&x=1&x=2"
    );
    assert_eq!(
        t("{{request.query.expand}} {{request.query.x.[1]}}"),
        "names 2"
    );
    assert_eq!(
        t("{{request.headers.X-Trace}} {{request.headers.x-trace}}"),
        "t-1 t-1"
    );
    // Cookies are credentials: a template sees that one is there, never its value.
    assert_eq!(
        t("{{request.cookies.s}} {{request.method}}"),
        "[redacted] POST"
    );
    assert_eq!(t("{{jsonPath request.body '$.fields.summary'}}"), "Hello");
    assert_eq!(t("{{jsonPath request.body '$.labels[*]'}}"), r#"["a","b"]"#);
    assert_eq!(
        t("{{jsonPath request.body '$.missing'}}|{{request.nothing}}"),
        "|",
        "strict mode off"
    );
    assert_eq!(t("{{#each request.query.x}}[{{this}}]{{/each}}"), "[1][2]");
}

#[test]
fn path_parameters_from_a_template_url() {
    let r = response(templated("issue {{request.pathParameters.key}}"));
    let out = r
        .render(
            &MockRequest::new("GET", "/i/K-1"),
            &[("key".into(), "K-1".into())],
        )
        .unwrap();
    assert_eq!(out.body, b"issue K-1");
}

#[test]
fn headers_and_json_bodies_are_templated_too() {
    let req = MockRequest::new("GET", "/a/b");
    let r = render(
        json!({"jsonBody": {"seg": "{{request.pathSegments.[1]}}"}, "headers": {"Location": "/x/{{request.pathSegments.[0]}}"},
               "transformers": ["response-template"]}),
        &req,
    );
    assert_eq!(r.body, b"{\n  \"seg\" : \"b\"\n}");
    assert_eq!(r.headers, vec![("Location".to_owned(), "/x/a".to_owned())]);
    // Without the transformer nothing is rendered.
    assert_eq!(
        body_text(json!({"body": "{{request.path}}"}), &req),
        "{{request.path}}"
    );
}

#[test]
fn random_values_and_now() {
    let req = MockRequest::default();
    let v = body_text(templated("{{randomValue length=12 type='NUMERIC'}}"), &req);
    assert!(
        v.len() == 12 && v.bytes().all(|b| b.is_ascii_digit()),
        "{v}"
    );
    let v = body_text(templated("{{randomValue length=20}}"), &req);
    assert!(
        v.len() == 20
            && v.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit()),
        "{v}"
    );
    let v = body_text(
        templated("{{randomValue length=8 type='ALPHABETIC' uppercase=true}}"),
        &req,
    );
    assert!(
        v.len() == 8 && v.bytes().all(|b| b.is_ascii_uppercase()),
        "{v}"
    );
    let v = body_text(templated("{{randomValue type='UUID'}}"), &req);
    assert_eq!((v.len(), v.as_bytes()[14]), (36, b'4'));
    assert!(
        response(templated("{{randomValue length=99999999}}"))
            .render(&req, &[])
            .is_err()
    );
    let now = body_text(templated("{{now}}"), &req);
    assert_eq!(
        (now.len(), &now[10..11], &now[19..]),
        (20, "T", "Z"),
        "{now}"
    );
    let year = time::OffsetDateTime::now_utc().year();
    let next = body_text(templated("{{now offset='366 days' format='yyyy'}}"), &req);
    assert!(
        next == (year + 1).to_string() || next == (year + 2).to_string(),
        "{next}"
    );
    let epoch: i64 = body_text(templated("{{now format='unix'}}"), &req)
        .parse()
        .unwrap();
    assert!((epoch - time::OffsetDateTime::now_utc().unix_timestamp()).abs() < 5);
    assert_eq!(
        java_format(
            time::macros::datetime!(2024-03-05 07:08:09.123 UTC),
            "dd/MM/yy HH:mm:ss.SSS 'at' yyyy"
        ),
        "05/03/24 07:08:09.123 at 2024"
    );
}

#[test]
fn templates_are_checked_at_load_and_bounded_when_rendered() {
    let e = error(templated("{{#if x}}unclosed"));
    assert_eq!(e.pointer, "/response/body");
    assert!(matches!(e.kind, ErrorKind::InvalidTemplate(_)));
    assert!(
        matches!(
            error(templated("{{> other}}")).kind,
            ErrorKind::InvalidTemplate(_)
        ),
        "no partials"
    );
    assert!(matches!(
        error(templated("{{#*inline \"p\"}}{{> p}}{{/inline}}")).kind,
        ErrorKind::InvalidTemplate(_)
    ));
    let deep = "{{#if a}}".repeat(40) + &"{{/if}}".repeat(40);
    assert!(matches!(
        error(templated(&deep)).kind,
        ErrorKind::InvalidTemplate(_)
    ));
    // 64 KiB of random value per item × a 200-item query list: over the 10 MiB cap.
    let big = "{{#each request.query.x}}{{randomValue length=65536}}{{/each}}";
    let url = format!("/?{}", "x=1&".repeat(200));
    let out = response(templated(big)).render(&MockRequest::new("GET", &url), &[]);
    assert_eq!(out, Err(RenderError::TooLarge));
    // A binary body is sent as it is, not parsed as a template.
    let r = response(json!({"base64Body": "/wA=", "transformers": ["response-template"]}));
    assert_eq!(
        r.render(&MockRequest::default(), &[]).unwrap().body,
        vec![0xff, 0]
    );
}

/// Security review 2, N1: a template renders from the request's view, credentials redacted.
#[test]
fn a_template_cannot_echo_a_credential() {
    let req = MockRequest::new("GET", "/a?access_token=tka_q&x=1")
        .header("Authorization", "Bearer tka_secret")
        .header("Cookie", "JSESSIONID=sess")
        .header("X-Api-Key", "key-1");
    let r = response(templated(
        "{{request.headers.Authorization}}|{{request.headers.authorization}}|{{request.headers.[X-API-KEY]}}|{{request.cookies.JSESSIONID}}|{{request.query.access_token}}|{{request.url}}|{{#each request.headers}}{{this}},{{/each}}",
    ));
    let out = String::from_utf8(r.render(&req, &[]).unwrap().body).unwrap();
    for secret in ["tka_secret", "sess", "key-1", "tka_q"] {
        assert!(!out.contains(secret), "{secret} in {out}");
    }
    assert!(
        out.starts_with("[redacted]|[redacted]|[redacted]|[redacted]|[redacted]|"),
        "{out}"
    );
}

/// Security review 2, N8: work that multiplies stops at the render budget, while it runs.
#[test]
fn a_template_that_multiplies_stops_at_its_budget() {
    let url = format!("/x?{}", "x=1&".repeat(300));
    let req = MockRequest::new("GET", &url);
    let each = "{{#each @root.request.query.x}}";
    let triple = format!("{each}{each}{each}{{{{/each}}}}{{{{/each}}}}{{{{/each}}}}");
    let start = std::time::Instant::now();
    let out = response(templated(&triple)).render(&req, &[]);
    assert_eq!(out, Err(RenderError::Budget));
    // Not a timing assertion: a figure for the reader (27 million iterations unbounded).
    eprintln!("stopped after {:?}", start.elapsed());
    // What a real template does over the same body is well inside the budget.
    let one = format!("{each}{{{{this}}}},{{{{/each}}}}");
    let text =
        String::from_utf8(response(templated(&one)).render(&req, &[]).unwrap().body).unwrap();
    assert_eq!(text.matches(',').count(), 300);
    let pairs = "{{#each request.query}}{{@key}}={{this}};{{/each}}";
    let q = MockRequest::new("GET", "/x?a=1&b=2");
    assert_eq!(
        String::from_utf8(response(templated(pairs)).render(&q, &[]).unwrap().body).unwrap(),
        "a=1;b=2;"
    );
}
