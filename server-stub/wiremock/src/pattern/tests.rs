use super::*;
use crate::mapping::{ParseContext, parse_mapping_at};
use crate::stubs::ScenarioStates;
use crate::test_support::{answer, get, mapping, stubs};
use serde_json::json;

#[test]
fn method_and_any() {
    let s = stubs(vec![
        json!({"id": "post", "request": {"method": "POST", "url": "/x"}}),
    ]);
    assert_eq!(
        answer(&s, &MockRequest::new("POST", "/x")).as_deref(),
        Some("post")
    );
    assert_eq!(answer(&s, &get("/x")), None);
    let s = stubs(vec![
        json!({"id": "any", "request": {"method": "ANY", "url": "/x"}}),
    ]);
    assert_eq!(
        answer(&s, &MockRequest::new("DELETE", "/x")).as_deref(),
        Some("any")
    );
}

#[test]
fn the_five_url_kinds() {
    let s = stubs(vec![json!({"id": "u", "request": {"url": "/a?b=1"}})]);
    assert!(answer(&s, &get("/a?b=1")).is_some());
    assert!(answer(&s, &get("/a?b=2")).is_none() && answer(&s, &get("/a")).is_none());
    let s = stubs(vec![json!({"id": "p", "request": {"urlPath": "/a"}})]);
    assert!(answer(&s, &get("/a?anything=1")).is_some() && answer(&s, &get("/a/b")).is_none());
    let s = stubs(vec![
        json!({"id": "r", "request": {"urlPattern": "/a/[0-9]+\\?x=.*"}}),
    ]);
    assert!(answer(&s, &get("/a/12?x=y")).is_some() && answer(&s, &get("/a/12")).is_none());
    let s = stubs(vec![
        json!({"id": "pp", "request": {"urlPathPattern": "/a/[0-9]+"}}),
    ]);
    assert!(answer(&s, &get("/a/12?x=y")).is_some() && answer(&s, &get("/a/b")).is_none());
    let s = stubs(vec![json!({"id": "any", "request": {}})]);
    assert!(answer(&s, &get("/whatever?x")).is_some());
}

#[test]
fn url_path_template_with_path_parameters() {
    let s = stubs(vec![json!({"id": "t", "request": {
        "urlPathTemplate": "/rest/api/2/issue/{key}/comment/{id}",
        "pathParameters": {"key": {"matches": "[A-Z]+-[0-9]+"}}}})]);
    let r = get("/rest/api/2/issue/PROJ-1/comment/7?expand=x");
    let m = s.find(&r, &ScenarioStates::default()).unwrap();
    assert_eq!(
        m.path_parameters,
        vec![("key".into(), "PROJ-1".into()), ("id".into(), "7".into())]
    );
    assert!(
        answer(&s, &get("/rest/api/2/issue/proj-1/comment/7")).is_none(),
        "pathParameters apply"
    );
    assert!(
        answer(&s, &get("/rest/api/2/issue//comment/7")).is_none(),
        "a parameter takes a non-empty segment"
    );
    assert!(
        answer(&s, &get("/rest/api/2/issue/A-1/x/comment/7")).is_none(),
        "a parameter stops at /"
    );
    let s = stubs(vec![
        json!({"id": "w", "request": {"urlPathTemplate": "/files/**"}}),
    ]);
    assert_eq!(
        s.find(&get("/files/a/b.txt"), &ScenarioStates::default())
            .unwrap()
            .path_parameters,
        vec![("0".into(), "a/b.txt".into())]
    );
    let e = parse_mapping_at(
        &json!({"request": {"urlPath": "/a", "pathParameters": {"k": {"equalTo": "1"}}}}),
        "",
        ParseContext::default(),
    )
    .unwrap_err();
    assert_eq!(e.pointer, "/request/pathParameters");
    let e = parse_mapping_at(
        &json!({"request": {"urlPathTemplate": "/a/{k}", "pathParameters": {"j": {"equalTo": "1"}}}}),
        "",
        ParseContext::default(),
    )
    .unwrap_err();
    assert_eq!(e.pointer, "/request/pathParameters/j");
}

#[test]
fn query_parameters_headers_and_cookies() {
    let s = stubs(vec![json!({"id": "m", "request": {"urlPath": "/s",
        "queryParameters": {"jql": {"contains": "project = X"}, "debug": {"absent": true}},
        "headers": {"accept": {"equalTo": "application/json"}},
        "cookies": {"session": {"equalTo": "beef"}}}})]);
    let ok = get("/s?jql=project%20%3D%20X")
        .header("Accept", "application/json")
        .header("Cookie", "a=b; session=beef");
    assert!(
        answer(&s, &ok).is_some(),
        "header names ignore case, query values are decoded"
    );
    let mut r = ok.clone();
    r.set_url(&format!("{}&debug=1", ok.url()));
    assert!(answer(&s, &r).is_none(), "absent parameter present");
    let r = get("/s?jql=project%20%3D%20X").header("Accept", "application/json");
    assert!(answer(&s, &r).is_none(), "cookie missing");
    let r = get("/s?jql=project%20%3D%20X")
        .header("Accept", "text/html")
        .header("Accept", "application/json")
        .header("Cookie", "session=beef");
    assert!(
        answer(&s, &r).is_some(),
        "a repeated header matches if either value does"
    );
}

#[test]
fn body_patterns_must_all_match() {
    let s = stubs(vec![
        json!({"id": "b", "request": {"method": "POST", "url": "/b", "bodyPatterns": [
        {"matchesJsonPath": "$.fields.summary"}, {"doesNotContain": "secret"}]}}),
    ]);
    let post = |b: &str| MockRequest::new("POST", "/b").body(b);
    assert!(answer(&s, &post(r#"{"fields": {"summary": "x"}}"#)).is_some());
    assert!(answer(&s, &post(r#"{"fields": {"summary": "secret"}}"#)).is_none());
    assert!(answer(&s, &post(r#"{"fields": {}}"#)).is_none());
    let s = stubs(vec![
        json!({"id": "e", "request": {"bodyPatterns": [{"absent": true}]}}),
    ]);
    assert!(
        answer(&s, &get("/")).is_some(),
        "an empty body is an absent one"
    );
    assert!(answer(&s, &get("/").body("x")).is_none());
}

/// Security review 2, N1: a mapping cannot read a credential one guess at a time.
#[test]
fn credentials_are_matched_whole_and_a_guessing_matcher_is_refused_at_load() {
    let s = stubs(vec![json!({"id": "m", "request": {"urlPath": "/s",
        "headers": {"Authorization": {"equalTo": "Bearer tka_right"}},
        "queryParameters": {"access_token": {"absent": true}},
        "cookies": {"JSESSIONID": {"matches": ".+"}}}})]);
    let r = get("/s")
        .header("authorization", "Bearer tka_right")
        .header("Cookie", "JSESSIONID=s1");
    assert!(answer(&s, &r).is_some());
    let wrong = get("/s")
        .header("authorization", "Bearer tka_wrong")
        .header("Cookie", "JSESSIONID=s1");
    assert!(answer(&s, &wrong).is_none());
    let with_param = get("/s?access_token=x")
        .header("authorization", "Bearer tka_right")
        .header("Cookie", "JSESSIONID=s1");
    assert!(
        answer(&s, &with_param).is_none(),
        "absent parameter present"
    );
    for (request, pointer) in [
        (
            json!({"headers": {"Authorization": {"matches": "Bearer A.*"}}}),
            "/request/headers/Authorization/matches",
        ),
        (
            json!({"headers": {"x-api-key": {"contains": "k"}}}),
            "/request/headers/x-api-key/contains",
        ),
        (
            json!({"cookies": {"s": {"matches": "[0-9a-f]+"}}}),
            "/request/cookies/s/matches",
        ),
        (
            json!({"queryParameters": {"token": {"doesNotMatch": "a.*"}}}),
            "/request/queryParameters/token/doesNotMatch",
        ),
    ] {
        let e = parse_mapping_at(&json!({"request": request}), "", ParseContext::default())
            .unwrap_err();
        assert_eq!(e.pointer, pointer);
        assert!(e.to_string().contains("credential"), "{e}");
    }
    // A `url` is compared whole, so it may name a credential parameter's real value;
    // a pattern over the URL sees it redacted.
    let s = stubs(vec![json!({"id": "u", "request": {"url": "/t?token=abc"}})]);
    assert!(answer(&s, &get("/t?token=abc")).is_some());
    let s = stubs(vec![
        json!({"id": "p", "request": {"urlPattern": "/t\\?token=a.*"}}),
    ]);
    assert!(answer(&s, &get("/t?token=abc")).is_none());
}

/// Security review 2, N2: what a pattern promises about the paths it matches.
#[test]
fn a_pattern_reports_the_literal_prefix_every_path_it_matches_starts_with() {
    let bound = |request: Value| mapping(json!({"request": request})).request.path_bound();
    let prefix = |p: &str| PathBound::Prefix(p.into());
    // A regex's bound: its literal prefix (the regex itself beside it).
    let pattern = |request: Value| match bound(request) {
        PathBound::Pattern { prefix, anchored } => {
            assert!(anchored.starts_with(r"\A(?:") && anchored.ends_with(r")\z"));
            PathBound::Prefix(prefix)
        }
        other => other,
    };
    assert_eq!(
        bound(json!({"urlPath": "/a/b"})),
        PathBound::Exact("/a/b".into())
    );
    assert_eq!(
        bound(json!({"url": "/a/b?x=1"})),
        PathBound::Exact("/a/b".into())
    );
    assert_eq!(bound(json!({})), PathBound::Anything);
    assert_eq!(
        pattern(json!({"urlPathPattern": "/static/.*"})),
        prefix("/static/")
    );
    assert_eq!(
        pattern(json!({"urlPattern": "/api/v1\\?x=.*"})),
        prefix("/api/v1")
    );
    assert_eq!(
        bound(json!({"urlPathTemplate": "/api/{id}/x"})),
        prefix("/api/")
    );
    assert_eq!(
        pattern(json!({"urlPattern": ".*/rest/api/2/myself"})),
        prefix("")
    );
    assert_eq!(
        pattern(json!({"urlPathPattern": "/static/x|/rest/y"})),
        prefix("/")
    );
    let folded = pattern(json!({"urlPathPattern": "(?i)/rest/api/2/myself"}));
    assert!(
        matches!(&folded, PathBound::Prefix(p) if p.len() <= 1),
        "{folded:?}"
    );
    assert_eq!(
        pattern(json!({"urlPathPattern": "/re(st)?/x"})),
        prefix("/re")
    );
}

/// WireMock 3.13.2, asked: in a matcher object with two operators, the first (in document
/// order) applies and the others are ignored — real mappings write `{"matchesJsonPath": …,
/// "contains": …}` and WireMock only asks that the path exists.
#[test]
fn of_two_operators_in_one_object_the_first_applies() {
    let post = |b: &str| MockRequest::new("POST", "/b").body(b);
    let s = stubs(vec![json!({"id": "jp", "request": {"url": "/b",
        "bodyPatterns": [{"matchesJsonPath": "$.a", "contains": "xyz"}]}})]);
    assert!(answer(&s, &post(r#"{"a": "nope"}"#)).is_some());
    assert!(answer(&s, &post(r#"{"b": "xyz"}"#)).is_none());
    let s = stubs(vec![json!({"id": "c", "request": {"url": "/b",
        "bodyPatterns": [{"contains": "xyz", "matchesJsonPath": "$.a"}]}})]);
    assert!(answer(&s, &post(r#"{"b": "xyz"}"#)).is_some());
    assert!(answer(&s, &post(r#"{"a": "nope"}"#)).is_none());
}

#[test]
fn an_operator_this_engine_lacks_is_named_beside_its_modifiers() {
    let e = parse_mapping_at(
        &json!({"request": {"bodyPatterns": [{"enablePlaceholders": true, "equalToXml": "<a/>"}]}}),
        "",
        ParseContext::default(),
    )
    .unwrap_err();
    assert_eq!(e.pointer, "/request/bodyPatterns/0/equalToXml");
    assert!(e.to_string().contains("not supported by this stub"), "{e}");
}

/// WireMock 3.13.2, asked: `basicAuthCredentials`, and its old name `basicAuth`, match
/// `Authorization: Basic base64(user:password)` (without case), in place of the mapping's own
/// `Authorization` matcher. Ignoring it (as the stub once did `basicAuth`) would answer requests
/// without the credentials the mapping demands.
#[test]
fn basic_credentials_demand_that_authorization_and_replace_its_matcher() {
    for key in ["basicAuthCredentials", "basicAuth"] {
        let s = stubs(vec![json!({"id": "b", "request": {"url": "/u",
            "headers": {"Authorization": {"contains": "Bearer"}},
            key: {"username": "git-user", "password": "git-secret"}}})]);
        let with = |auth: &str| get("/u").header("Authorization", auth);
        // base64("git-user:git-secret")
        let right = "Z2l0LXVzZXI6Z2l0LXNlY3JldA==";
        assert!(
            answer(&s, &with(&format!("Basic {right}"))).is_some(),
            "{key}"
        );
        assert!(
            answer(&s, &with(&format!("basic {right}"))).is_some(),
            "{key}"
        );
        assert!(
            answer(&s, &with("Basic Z2l0LXVzZXI6d3Jvbmc=")).is_none(),
            "{key}"
        );
        assert!(answer(&s, &with("Bearer x")).is_none(), "{key}");
        assert!(answer(&s, &get("/u")).is_none(), "{key}");
    }
}
