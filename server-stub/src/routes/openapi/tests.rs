use std::collections::BTreeSet;

use super::*;
use crate::routes::document_value;

const METHODS: &[&str] = &["get", "put", "post", "delete", "patch", "head", "options"];

fn operations(doc: &Value) -> Vec<(String, String, Value)> {
    let mut out = Vec::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for (method, op) in item.as_object().expect("path item") {
            if METHODS.contains(&method.as_str()) {
                out.push((path.clone(), method.clone(), op.clone()));
            }
        }
    }
    out
}

/// The route-coverage test: every routed method and path (read from `api_routes`, the
/// router itself) is a documented operation with an operationId, a tag, a summary and its
/// responses, and every hand-written description belongs to a route (or the fallback), so
/// neither side can drift from the other.
#[test]
fn every_route_is_described_and_every_description_routed() {
    let generated = serde_json::to_value(crate::routes::api_routes().into_openapi())
        .expect("generated document");
    let routed: BTreeSet<(String, String)> = operations(&generated)
        .into_iter()
        .map(|(p, m, _)| (p, m))
        .collect();
    assert!(routed.len() >= 60, "only {} routes found", routed.len());

    let doc = document_value().expect("document");
    let mut ids = BTreeSet::new();
    for (path, method, op) in operations(&doc) {
        let at = format!("{} {path}", method.to_uppercase());
        if !FALLBACK_PATHS.contains(&path.as_str()) {
            assert!(
                routed.contains(&(path.clone(), method.clone())),
                "{at}: not routed"
            );
            let id = op["operationId"].as_str().unwrap_or_default();
            assert!(!id.is_empty(), "{at}: no operationId");
            assert!(ids.insert(id.to_owned()), "{at}: operationId {id} twice");
            assert!(
                op["tags"].as_array().is_some_and(|t| !t.is_empty()),
                "{at}: no tag"
            );
        }
        assert!(
            op["summary"].as_str().is_some_and(|s| !s.is_empty()),
            "{at}: no summary"
        );
        assert!(
            op["responses"].as_object().is_some_and(|r| !r.is_empty()),
            "{at}: no responses"
        );
        // Every answer but 204 says what it carries, and some answer is a success.
        let responses = op["responses"].as_object().expect("responses");
        assert!(
            responses.keys().any(|s| s.starts_with('2')),
            "{at}: no success answer"
        );
        for (status, response) in responses {
            if status != "204" {
                assert!(
                    response["content"]
                        .as_object()
                        .is_some_and(|c| c.values().all(|m| m["schema"].is_object())),
                    "{at}: answer {status} has no typed content"
                );
            }
        }
        // A guarded operation documents the token rules' refusals.
        if op["security"] != json!([]) {
            for status in ["401", "403", "429"] {
                assert!(responses.contains_key(status), "{at}: no {status}");
            }
        }
        // Each {param} of the path is declared, on the path or on the operation.
        let declared: BTreeSet<String> = doc["paths"][&path]["parameters"]
            .as_array()
            .into_iter()
            .chain(op["parameters"].as_array())
            .flatten()
            .filter(|p| p["in"] == "path")
            .filter_map(|p| p["name"].as_str().map(str::to_owned))
            .collect();
        for seg in path.split('/').filter(|s| s.starts_with('{')) {
            let name = seg.trim_matches(|c| c == '{' || c == '}');
            assert!(
                declared.contains(name),
                "{at}: path parameter {name} undeclared"
            );
        }
    }
    for route in &routed {
        assert!(
            operations(&doc)
                .iter()
                .any(|(p, m, _)| (p, m) == (&route.0, &route.1)),
            "{route:?} routed but not in the document"
        );
    }
    // The hand-written detail describes no path that is neither routed nor the fallback's.
    for path in frame()["paths"].as_object().expect("paths").keys() {
        assert!(
            FALLBACK_PATHS.contains(&path.as_str()) || routed.iter().any(|(p, _)| p == path),
            "{path}: described but not routed"
        );
    }
}

/// Every link names an operation that exists, from a response that exists.
#[test]
fn every_link_leads_somewhere() {
    let doc = document_value().expect("document");
    let ops = operations(&doc);
    let ids: BTreeSet<&str> = ops
        .iter()
        .filter_map(|(_, _, op)| op["operationId"].as_str())
        .collect();
    for (from, status, name, to, _, _) in LINKS {
        assert!(ids.contains(to), "link {name}: no operation {to}");
        let (_, _, op) = ops
            .iter()
            .find(|(_, _, op)| op["operationId"] == *from)
            .expect("link source");
        assert!(
            op["responses"][*status]["links"][*name].is_object(),
            "link {name}: {from} has no {status} answer"
        );
    }
}

/// The documented patterns say what core's validators accept.
#[test]
fn the_patterns_agree_with_core() {
    use crate::routes::params::{DESCRIPTION_PATTERN, DISPLAY_TEXT_PATTERN, USER_NAME_PATTERN};
    use tokenauth_core::token::validate_description;
    use tokenauth_core::user::{validate_display_text, validate_name};
    let re = |p: &str| regex::Regex::new(p).expect("pattern");
    let (desc, name, text) = (
        re(DESCRIPTION_PATTERN),
        re(USER_NAME_PATTERN),
        re(DISPLAY_TEXT_PATTERN),
    );
    let samples = [
        "alice",
        "CI deploy",
        " padded ",
        " ",
        "",
        "a:b",
        "a/b",
        "tab\there",
        "zw\u{200B}j",
        "rtl\u{202E}x",
        "bom\u{FEFF}",
        "nl\n",
        "ünïcödé",
        "x\u{7F}",
        "  x",
        "x  ",
        "\u{85}",
    ];
    for s in samples {
        assert_eq!(
            desc.is_match(s),
            validate_description("d", s).is_ok(),
            "description {s:?}"
        );
        assert_eq!(
            name.is_match(s),
            validate_name("n", s).is_ok(),
            "name {s:?}"
        );
        assert_eq!(
            text.is_match(s),
            validate_display_text("t", s).is_ok(),
            "text {s:?}"
        );
    }
    // The document carries the same patterns the constants spell.
    let doc = document_value().expect("document");
    let schemas = &doc["components"]["schemas"];
    assert_eq!(
        schemas["CreateToken"]["properties"]["description"]["pattern"],
        DESCRIPTION_PATTERN
    );
    assert_eq!(
        schemas["UserInput"]["properties"]["name"]["pattern"],
        USER_NAME_PATTERN
    );
    assert_eq!(
        schemas["UserInput"]["properties"]["displayName"]["pattern"],
        DISPLAY_TEXT_PATTERN
    );
    assert_eq!(schemas["Scope"]["enum"], json!(["READ_ONLY", "READ_WRITE"]));
    // The user path parameters too (`routes::UserParam`, `UserKeyParam`).
    for (path, name) in [
        ("/rest/tokenauth/1/admin/users/{user}", "user"),
        (
            "/rest/de.resolution.apitokenauth/latest/user/token/deleteAllFor/{userKey}",
            "userKey",
        ),
    ] {
        for (_, op) in doc["paths"][path].as_object().expect("path item") {
            let param = op["parameters"]
                .as_array()
                .and_then(|ps| ps.iter().find(|p| p["name"] == name))
                .expect("user parameter");
            assert_eq!(param["schema"]["pattern"], USER_NAME_PATTERN, "{path}");
        }
    }
    // A group name as core's validate_group takes it.
    let group = re(crate::routes::admin::GROUP_NAME_PATTERN);
    for s in samples {
        let core = tokenauth_core::user::validate_group("g", s).is_ok();
        let length = (1..=255).contains(&s.chars().count());
        assert_eq!(group.is_match(s) && length, core, "group {s:?}");
    }
    // And the token id parameter says what core's TokenId accepts.
    let id = &doc["paths"]["/rest/tokenauth/1/tokens/{id}"]["delete"]["parameters"][0];
    let pattern = re(id["schema"]["pattern"].as_str().expect("id pattern"));
    for sample in [
        "AbCdEf012345",
        "AbCdEf01234",
        "../../etc/pa",
        "AbCdEf0123456",
    ] {
        assert_eq!(
            pattern.is_match(sample),
            tokenauth_core::token_format::TokenId::parse(sample).is_some(),
            "token id {sample:?}"
        );
    }
}

/// axum cannot list a router's routes, so the guard against a route added beside the
/// described ones is the router's source: routes go in only through `routes!`, which takes
/// the handler's `#[utoipa::path]` description with it.
#[test]
fn routes_are_added_only_with_their_description() {
    let source = include_str!("../mod.rs");
    for forbidden in [".route(", ".route_service(", ".nest(", ".merge("] {
        assert!(
            !source.contains(forbidden),
            "routes/mod.rs adds a route with {forbidden}: use .routes(routes!(handler)) and \
             #[utoipa::path] on the handler"
        );
    }
}
