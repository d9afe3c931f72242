//! The recorder writes what WireMock's recorder writes, and what it writes answers the same
//! requests the same way once loaded back.

use serde_json::{Value, json};

use super::*;
use crate::stubs::{ScenarioStates, Stubs};
use crate::test_support::mapping;

fn exchange(method: &str, url: &str, status: u16, body: &str) -> Exchange {
    Exchange {
        id: crate::id::random_uuid(),
        method: method.into(),
        url: url.into(),
        request_headers: vec![],
        request_body: vec![],
        status,
        response_headers: vec![("Content-Type".into(), "application/json".into())],
        response_body: body.as_bytes().to_vec(),
        proxied: true,
    }
}

fn spec(v: Value) -> RecordSpec {
    RecordSpec::parse(&v).unwrap()
}

#[test]
fn a_get_is_recorded_as_its_url_method_status_headers_and_body() {
    let mut e = exchange(
        "GET",
        "/rest/api/2/issue/PROJ-1",
        200,
        r#"{"key":"PROJ-1"}"#,
    );
    e.response_headers
        .push(("Content-Length".into(), "16".into()));
    e.response_headers
        .push(("Transfer-Encoding".into(), "chunked".into()));
    let r = snapshot(&[e.clone()], &RecordSpec::default());
    assert_eq!(
        r.mappings,
        vec![json!({
            "id": e.id, "uuid": e.id, "name": "rest_api_2_issue_proj-1", "persistent": true,
            "request": {"url": "/rest/api/2/issue/PROJ-1", "method": "GET"},
            "response": {"status": 200, "body": r#"{"key":"PROJ-1"}"#,
                         "headers": {"Content-Type": "application/json"}},
        })]
    );
    assert!(r.files.is_empty());
    assert_eq!(
        mapping_file_name(&r.mappings[0]),
        format!("rest_api_2_issue_proj-1-{}.json", e.id)
    );
}

#[test]
fn a_query_is_matched_parameter_by_parameter_unless_one_repeats() {
    let r = snapshot(
        &[exchange(
            "GET",
            "/rest/api/2/search?jql=project%3DP&maxResults=5",
            200,
            "{}",
        )],
        &RecordSpec::default(),
    );
    assert_eq!(
        r.mappings[0]["request"],
        json!({"urlPath": "/rest/api/2/search", "method": "GET",
               "queryParameters": {"jql": {"equalTo": "project=P"}, "maxResults": {"equalTo": "5"}}})
    );
    let r = snapshot(
        &[exchange("GET", "/x?a=1&a=2", 200, "{}")],
        &RecordSpec::default(),
    );
    assert_eq!(
        r.mappings[0]["request"],
        json!({"url": "/x?a=1&a=2", "method": "GET"})
    );
}

#[test]
fn a_json_body_is_matched_with_equal_to_json_and_other_text_with_equal_to() {
    let mut e = exchange("POST", "/rest/api/2/issue", 201, "{}");
    e.request_headers.push((
        "Content-Type".into(),
        "application/json; charset=UTF-8".into(),
    ));
    e.request_body = br#"{"fields":{"summary":"s"}}"#.to_vec();
    let mut t = exchange("POST", "/form", 200, "ok");
    t.request_headers
        .push(("Content-Type".into(), "text/plain".into()));
    t.request_body = b"hello".to_vec();
    let mut b = exchange("POST", "/upload", 200, "ok");
    b.request_headers
        .push(("Content-Type".into(), "application/octet-stream".into()));
    b.request_body = vec![0, 159, 146, 150];
    let r = snapshot(&[e, t, b], &RecordSpec::default());
    assert_eq!(
        r.mappings[2]["request"]["bodyPatterns"],
        json!([{"equalToJson": r#"{"fields":{"summary":"s"}}"#, "ignoreArrayOrder": true, "ignoreExtraElements": true}])
    );
    assert_eq!(
        r.mappings[1]["request"]["bodyPatterns"],
        json!([{"equalTo": "hello"}])
    );
    assert_eq!(r.mappings[0]["request"].get("bodyPatterns"), None);
}

#[test]
fn repeats_of_one_request_replay_their_answers_in_order_as_a_scenario() {
    let first = exchange("GET", "/rest/api/2/issue/P-1", 200, r#"{"v":1}"#);
    let other = exchange("GET", "/rest/api/2/myself", 200, "{}");
    let second = exchange("GET", "/rest/api/2/issue/P-1", 200, r#"{"v":2}"#);
    let r = snapshot(
        &[first.clone(), other, second.clone()],
        &RecordSpec::default(),
    );
    // Newest first, as WireMock lists a snapshot.
    assert_eq!(r.mappings[0]["id"], json!(second.id));
    assert_eq!(r.mappings[2]["id"], json!(first.id));
    let name = "scenario-1-rest-api-2-issue-P-1";
    assert_eq!(r.mappings[2]["scenarioName"], json!(name));
    assert_eq!(r.mappings[2]["requiredScenarioState"], json!("Started"));
    assert_eq!(
        r.mappings[2]["newScenarioState"],
        json!(format!("{name}-2"))
    );
    assert_eq!(
        r.mappings[0]["requiredScenarioState"],
        json!(format!("{name}-2"))
    );
    assert_eq!(r.mappings[0].get("newScenarioState"), None);
    assert_eq!(r.mappings[1].get("scenarioName"), None);

    // Loaded back, the same two requests get the two answers in order.
    let stubs = Stubs::new(r.mappings.iter().cloned().map(mapping).collect());
    let mut states = ScenarioStates::default();
    let req = MockRequest::new("GET", "/rest/api/2/issue/P-1");
    let mut bodies = Vec::new();
    for _ in 0..2 {
        let candidates = stubs.candidates(&req);
        let m = stubs.choose(&req, &candidates, &states).unwrap();
        states.step(m.mapping);
        bodies.push(m.mapping.response.render(&req, &[]).unwrap().body);
    }
    assert_eq!(bodies, vec![br#"{"v":1}"#.to_vec(), br#"{"v":2}"#.to_vec()]);

    let once = snapshot(
        &[first, second.clone()],
        &spec(json!({"repeatsAsScenarios": false})),
    );
    assert_eq!(once.mappings.len(), 1);
    assert_eq!(once.mappings[0]["id"], json!(second.id));
}

#[test]
fn bodies_over_the_criteria_go_to_files_named_after_the_mapping() {
    let big = exchange(
        "GET",
        "/rest/api/2/field",
        200,
        &format!("[{}]", "1,".repeat(20) + "1"),
    );
    let small = exchange("GET", "/small", 200, "{}");
    let r = snapshot(
        &[big.clone(), small],
        &spec(json!({"extractBodyCriteria": {"textSizeThreshold": "10"}})),
    );
    let file = format!("rest_api_2_field-{}.json", big.id);
    assert_eq!(r.mappings[1]["response"]["bodyFileName"], json!(file));
    assert_eq!(r.mappings[1]["response"].get("body"), None);
    assert_eq!(r.files, vec![(file, big.response_body.clone())]);
    assert_eq!(r.mappings[0]["response"]["body"], json!("{}"));
}

#[test]
fn only_proxied_exchanges_matching_the_filters_are_taken() {
    let mut local = exchange("GET", "/rest/a", 200, "{}");
    local.proxied = false;
    let wanted = exchange("GET", "/rest/api/2/issue/P-1", 200, "{}");
    let unwanted = exchange("GET", "/other", 200, "{}");
    let r = snapshot(
        &[local.clone(), wanted.clone(), unwanted],
        &spec(json!({"filters": {"urlPathPattern": "/rest/.*"}})),
    );
    assert_eq!(r.mappings.len(), 1);
    assert_eq!(r.mappings[0]["id"], json!(wanted.id));
    let r = snapshot(
        &[local],
        &spec(json!({"filters": {"allowNonProxied": true}})),
    );
    assert_eq!(r.mappings.len(), 1);
}

#[test]
fn captured_headers_are_compared_but_a_credential_is_never_captured() {
    let mut e = exchange("GET", "/x", 200, "{}");
    e.request_headers
        .push(("Accept".into(), "application/json".into()));
    let r = snapshot(
        &[e],
        &spec(json!({"captureHeaders": {"Accept": {"caseInsensitive": true}, "X-Absent": {}}})),
    );
    assert_eq!(
        r.mappings[0]["request"]["headers"],
        json!({"Accept": {"equalTo": "application/json", "caseInsensitive": true}})
    );
    for name in ["Authorization", "Cookie", "X-Api-Key"] {
        let e = RecordSpec::parse(&json!({"captureHeaders": {name: {}}})).unwrap_err();
        assert_eq!(e.pointer, format!("/captureHeaders/{name}"));
    }
}

#[test]
fn what_this_stub_cannot_do_is_refused_with_its_pointer() {
    for (v, ptr) in [
        (json!({"transformers": ["x"]}), "/transformers"),
        (json!({"filters": {"ids": ["a"]}}), "/filters/ids"),
        (json!({"targetBaseUrl": "jira"}), "/targetBaseUrl"),
        (json!({"outputFormat": "XML"}), "/outputFormat"),
        (
            json!({"requestBodyPattern": {"matcher": "equalToXml"}}),
            "/requestBodyPattern/matcher",
        ),
    ] {
        assert_eq!(RecordSpec::parse(&v).unwrap_err().pointer, ptr, "{v}");
    }
    let s = spec(
        json!({"targetBaseUrl": "http://jira.example:8080/", "persist": false, "outputFormat": "ids"}),
    );
    assert_eq!(
        s.target_base_url.as_deref(),
        Some("http://jira.example:8080")
    );
    assert!(!s.persist && s.ids_only);
}

#[test]
fn a_binary_answer_is_kept_as_base64_and_names_are_what_wiremock_makes() {
    let mut e = exchange("GET", "/secure/attachment/1/a.png", 200, "");
    e.response_headers = vec![("Content-Type".into(), "image/png".into())];
    e.response_body = vec![0x89, b'P', b'N', b'G', 0xff];
    let r = snapshot(&[e], &RecordSpec::default());
    assert_eq!(r.mappings[0]["response"]["base64Body"], json!("iVBOR/8="));
    assert_eq!(
        sanitized_name("/rest/api/2/issue/PROJ 1"),
        "rest_api_2_issue_proj-1"
    );
    assert_eq!(sanitized_name("/"), "");
}
