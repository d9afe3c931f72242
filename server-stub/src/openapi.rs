//! `GET /rest/tokenauth/1/openapi.json`: the OpenAPI 3.0.3 document of the whole HTTP surface,
//! derived from the code. Each handler's `#[utoipa::path]` says its operation (summary,
//! parameters with their limits, every answer and its type), the types are the serde types the
//! handlers read and write (`routes::answers`, core's wire types), and `routes::api_routes`
//! registers each handler together with that description. What is written here is what no
//! single handler owns: the security schemes, WireMock's own published shapes (the admin API
//! passes WireMock's JSON through), the fallback's echo, and the answers every guarded operation
//! may give because of the layers in front of it (401/403/429, 413).

use std::sync::OnceLock;

use axum::Json;
use serde_json::{Map, Value, json};

use crate::error::ApiError;

fn r(name: &str) -> Value {
    json!({"$ref": format!("#/components/schemas/{name}")})
}

fn error(description: &str) -> Value {
    json!({"description": description, "content": {"application/json": {"schema": r("Error")}}})
}

/// The document's frame: title, security schemes, and the parts that are not any handler's.
fn frame() -> Value {
    json!({
        "openapi": "3.0.3",
        "info": {
            "title": "tokenauth-stub",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Jira/Confluence-style REST authentication with API tokens. Authenticate with HTTP Basic (user + token or password), Bearer token, or the JSESSIONID cookie of /rest/auth/1/session."
        },
        "servers": [{"url": "/"}],
        "security": [{"basic": []}, {"bearer": []}, {"session": []}],
        "paths": {
            // The fallback answers any other /rest/ path; one example of it, described here as
            // it has no route of its own.
            "/rest/api/2/issue": {
                "get": {"operationId": "echoGet", "tags": ["jira"], "summary": "Authenticated echo of any other /rest/ path",
                    "responses": {"200": {"description": "Who the request authenticated as", "content": {"application/json": {"schema": r("Echo")}}}}},
                "post": {"operationId": "echoPost", "tags": ["jira"], "summary": "Authenticated echo (201 for POST)",
                    "responses": {"201": {"description": "Who the request authenticated as", "content": {"application/json": {"schema": r("Echo")}}}}}
            }
        },
        "components": {
            "securitySchemes": {
                "basic": {"type": "http", "scheme": "basic"},
                "bearer": {"type": "http", "scheme": "bearer"},
                "session": {"type": "apiKey", "in": "cookie", "name": "JSESSIONID"}
            },
            "schemas": wiremock_shapes()
        }
    })
}

/// WireMock's published shapes (its admin API's JSON, which the stub keeps as WireMock writes
/// it): the admin operations' answers reference these.
fn wiremock_shapes() -> Value {
    let any = json!({"type": "object", "additionalProperties": true});
    json!({
        "StubMapping": {"type": "object", "additionalProperties": true, "description": "A WireMock stub mapping (WireMock's published StubMapping shape): id, request, response, priority, scenarioName…"},
        // What a new or replaced mapping may say, as far as a generator should try: a request
        // pattern by method and URL path, and a plain answer (the full shape is WireMock's
        // StubMapping; the server accepts all it documents). Paths under /mock/ only: a mapping
        // of, say, /rest/api/2/issue answers in place of the echo; and a request pattern
        // without a path matches every path.
        "StubMappingInput": {"type": "object", "required": ["request"], "additionalProperties": false,
            "properties": {
                "name": {"type": "string", "maxLength": 255},
                "priority": {"type": "integer", "minimum": 1, "maximum": 1000},
                "request": {"type": "object", "additionalProperties": false, "required": ["urlPath"], "properties": {
                    "method": {"type": "string", "enum": ["ANY", "GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS"]},
                    "urlPath": {"type": "string", "pattern": "^/mock/[A-Za-z0-9/_.-]*$", "maxLength": 200, "description": "Any path is accepted; the document offers /mock/... so that generated mappings do not answer in place of the other operations"}}},
                "response": {"type": "object", "additionalProperties": false, "properties": {
                    "status": {"type": "integer", "minimum": 200, "maximum": 599},
                    "body": {"type": "string", "maxLength": 1000}}}},
            "example": {"request": {"method": "GET", "urlPath": "/mock/hello"}, "response": {"status": 200, "body": "hello"}}},
        "StubMappings": {"type": "object", "required": ["mappings", "meta"], "properties": {"mappings": {"type": "array", "items": r("StubMapping")}, "meta": {"type": "object", "properties": {"total": {"type": "integer", "minimum": 0}}}}},
        "MappingsImport": {"type": "object", "required": ["mappings"], "properties": {"mappings": {"type": "array", "items": r("StubMappingInput")}, "importOptions": {"type": "object", "properties": {"duplicatePolicy": {"type": "string", "enum": ["OVERWRITE", "IGNORE"]}, "deleteAllNotInImport": {"type": "boolean"}}}}},
        "RequestPattern": {"type": "object", "description": "A WireMock request pattern (method, url, urlPath, headers, bodyPatterns…)"},
        "JournaledRequest": any,
        "JournaledRequests": {"type": "object", "required": ["requests"], "properties": {"requests": {"type": "array", "items": r("JournaledRequest")}, "meta": {"type": "object"}, "requestJournalDisabled": {"type": "boolean"}}},
        "RequestCount": {"type": "object", "required": ["count"], "properties": {"count": {"type": "integer", "minimum": 0}, "requestJournalDisabled": {"type": "boolean"}}},
        "NearMisses": {"type": "object", "required": ["nearMisses"], "properties": {"nearMisses": {"type": "array", "items": any}}},
        "Scenarios": {"type": "object", "required": ["scenarios"], "properties": {"scenarios": {"type": "array", "items": any}}},
        "WireMockErrors": {"type": "object", "required": ["errors"], "properties": {"errors": {"type": "array", "items": {"type": "object"}}}}
    })
}

/// What the layers in front of every guarded handler may answer, whatever the handler does:
/// the token rules (`middleware::authenticate`) and the body limit (`DefaultBodyLimit`); and
/// what utoipa's output needs to say it in 3.0 (anonymous, optional and WireMock bodies).
fn add_layer_answers(paths: &mut Map<String, Value>) {
    let refusals = [
        ("401", "Missing, malformed or wrong credentials"),
        (
            "403",
            "IP not allowed, passwords disabled, a Read Only token on a write (or asking to mint \
             Read & Write), not permitted, or an XSRF check failed (a cookie write without JSON \
             or X-Atlassian-Token: no-check, or a foreign Origin)",
        ),
        ("429", "Per-user rate limit exceeded (Retry-After)"),
    ];
    for item in paths.values_mut().filter_map(Value::as_object_mut) {
        for op in item.values_mut().filter_map(Value::as_object_mut) {
            // utoipa writes `security(())` as one empty requirement; 3.0 says "anonymous" as
            // an empty list.
            if op.get("security") == Some(&json!([{}])) {
                op.insert("security".into(), json!([]));
            }
            let anonymous = op.get("security") == Some(&json!([]));
            // An optional body (`request_body = Option<T>`) is said by `required: false`;
            // utoipa also makes its schema nullable, which invites a JSON `null` the handler
            // refuses. Absent, not null, is what the server takes.
            if let Some(body) = op.get_mut("requestBody")
                && body.get("required") != Some(&Value::Bool(true))
                && let Some(schema) = body.pointer_mut("/content/application~1json/schema")
                && schema.get("nullable") == Some(&Value::Bool(true))
                && let Some(Value::Array(all_of)) = schema.get("allOf")
                && let [single] = all_of.as_slice()
            {
                *schema = single.clone();
            }
            // A body in one of WireMock's shapes is a ref utoipa cannot see into, so it does
            // not know the body is required; every WireMock operation that reads one needs it.
            if let Some(body) = op.get_mut("requestBody").and_then(Value::as_object_mut)
                && body
                    .get("content")
                    .and_then(|c| c.pointer("/application~1json/schema/$ref"))
                    .and_then(Value::as_str)
                    .and_then(|r| r.strip_prefix("#/components/schemas/"))
                    .is_some_and(|name| wiremock_shapes().get(name).is_some())
            {
                body.insert("required".into(), Value::Bool(true));
            }
            let has_body = op.contains_key("requestBody");
            let Some(responses) = op.get_mut("responses").and_then(Value::as_object_mut) else {
                continue;
            };
            if !anonymous {
                for (status, description) in refusals {
                    responses
                        .entry(status)
                        .or_insert_with(|| error(description));
                }
            }
            if has_body {
                responses
                    .entry("413")
                    .or_insert_with(|| error("Body over 1 MiB"));
            }
        }
    }
}

/// Paths the fallback answers (any other `/rest/` path echoes who asked): described by hand,
/// since they have no route of their own.
pub const FALLBACK_PATHS: &[&str] = &["/rest/api/2/issue"];

/// The tags of the operations, in the order a generated client lists them.
const TAGS: &[(&str, &str)] = &[
    ("tokens", "Your own API tokens"),
    (
        "admin",
        "Users, everyone's tokens and the settings (administrators)",
    ),
    ("audit", "The audit log"),
    ("notifications", "Expiry notices (administrators)"),
    ("session", "Sign in for a JSESSIONID cookie"),
    ("pat", "Jira Data Center's personal access token API"),
    ("compat", "The original product's token API"),
    ("jira", "Jira's and Confluence's user and server endpoints"),
    ("wiremock", "WireMock's admin API"),
    ("operations", "Health and metrics"),
    ("meta", "This document"),
];

/// Links from creating a thing to using its id: (operation, status, link, target operation,
/// the target's path parameter, where the id is in the answer). Generated clients and
/// schemathesis' stateful phase follow them.
const LINKS: &[(&str, &str, &str, &str, &str, &str)] = &[
    (
        "createToken",
        "201",
        "RenameToken",
        "renameToken",
        "id",
        "$response.body#/id",
    ),
    (
        "createToken",
        "201",
        "RevokeToken",
        "revokeToken",
        "id",
        "$response.body#/id",
    ),
    (
        "createToken",
        "201",
        "RotateToken",
        "rotateToken",
        "id",
        "$response.body#/id",
    ),
    (
        "createToken",
        "201",
        "AdminRevokeToken",
        "adminRevokeToken",
        "id",
        "$response.body#/id",
    ),
    (
        "createTokenForUser",
        "201",
        "RevokeToken",
        "adminRevokeToken",
        "id",
        "$response.body#/id",
    ),
    (
        "createTokenForUser",
        "201",
        "RotateToken",
        "rotateToken",
        "id",
        "$response.body#/id",
    ),
    (
        "rotateToken",
        "201",
        "RevokeToken",
        "revokeToken",
        "id",
        "$response.body#/id",
    ),
    (
        "createUser",
        "201",
        "UpdateUser",
        "updateUser",
        "user",
        "$response.body#/name",
    ),
    (
        "createUser",
        "201",
        "DeleteUser",
        "deleteUser",
        "user",
        "$response.body#/name",
    ),
    (
        "createUser",
        "201",
        "CreateTokenForUser",
        "createTokenForUser",
        "user",
        "$response.body#/name",
    ),
    (
        "createUser",
        "201",
        "RevokeAllTokensOfUser",
        "revokeAllTokensOfUser",
        "user",
        "$response.body#/name",
    ),
    (
        "createUser",
        "201",
        "ResetFailedLogins",
        "resetFailedLogins",
        "user",
        "$response.body#/name",
    ),
    (
        "createUser",
        "201",
        "RevokeAllCompatTokens",
        "revokeAllCompatTokensOf",
        "userKey",
        "$response.body#/key",
    ),
    (
        "createPersonalAccessToken",
        "201",
        "GetPersonalAccessToken",
        "getPersonalAccessToken",
        "id",
        "$response.body#/id",
    ),
    (
        "createPersonalAccessToken",
        "201",
        "RevokePersonalAccessToken",
        "revokePersonalAccessToken",
        "id",
        "$response.body#/id",
    ),
    (
        "createCompatToken",
        "201",
        "RenameCompatToken",
        "renameCompatToken",
        "id",
        "$response.body#/id",
    ),
    (
        "createCompatToken",
        "201",
        "RevokeCompatToken",
        "revokeCompatToken",
        "id",
        "$response.body#/id",
    ),
    (
        "createMapping",
        "201",
        "GetMapping",
        "getMapping",
        "id",
        "$response.body#/id",
    ),
    (
        "createMapping",
        "201",
        "UpdateMapping",
        "updateMapping",
        "id",
        "$response.body#/id",
    ),
    (
        "createMapping",
        "201",
        "DeleteMapping",
        "deleteMapping",
        "id",
        "$response.body#/id",
    ),
    (
        "listMappings",
        "200",
        "GetFirstMapping",
        "getMapping",
        "id",
        "$response.body#/mappings/0/id",
    ),
    (
        "listRequests",
        "200",
        "GetFirstRequest",
        "getRequest",
        "id",
        "$response.body#/requests/0/id",
    ),
];

/// Lays `LINKS` on the operations' responses.
fn add_links(paths: &mut Map<String, Value>) {
    for item in paths.values_mut().filter_map(Value::as_object_mut) {
        for op in item.values_mut().filter_map(Value::as_object_mut) {
            let Some(id) = op
                .get("operationId")
                .and_then(Value::as_str)
                .map(str::to_owned)
            else {
                continue;
            };
            for (from, status, name, to, param, expr) in LINKS.iter().filter(|l| l.0 == id) {
                let _ = from;
                if let Some(response) = op
                    .get_mut("responses")
                    .and_then(|r| r.get_mut(*status))
                    .and_then(Value::as_object_mut)
                {
                    let links = response.entry("links").or_insert_with(|| json!({}));
                    if let Some(links) = links.as_object_mut() {
                        links.insert(
                            (*name).to_owned(),
                            json!({"operationId": to, "parameters": {*param: expr}}),
                        );
                    }
                }
            }
        }
    }
}

/// utoipa writes OpenAPI 3.1 schemas; the document is 3.0.3 (what the hand-written detail and
/// the tools people point at it read), so an `Option`'s `"type": [T, "null"]` or
/// `oneOf: [{"type": "null"}, X]` becomes `nullable`, and 3.1's `examples` list becomes 3.0's
/// `example`.
fn to_openapi_30(v: &mut Value) {
    match v {
        Value::Array(items) => items.iter_mut().for_each(to_openapi_30),
        Value::Object(o) => {
            if let Some(Value::Array(types)) = o.get("type").cloned() {
                let rest: Vec<Value> = types.into_iter().filter(|t| t != "null").collect();
                if let [single] = rest.as_slice() {
                    o.insert("type".into(), single.clone());
                    o.insert("nullable".into(), Value::Bool(true));
                }
            }
            if let Some(Value::Array(one_of)) = o.get("oneOf").cloned() {
                let rest: Vec<Value> = one_of
                    .into_iter()
                    .filter(|s| s.get("type").is_none_or(|t| t != "null"))
                    .collect();
                if let [single] = rest.as_slice() {
                    o.remove("oneOf");
                    // A $ref takes no siblings in 3.0: wrap it to carry `nullable`.
                    o.insert("allOf".into(), Value::Array(vec![single.clone()]));
                    o.insert("nullable".into(), Value::Bool(true));
                }
            }
            if let Some(Value::Array(examples)) = o.get("examples").cloned()
                && o.get("in").is_none()
                && let Some(first) = examples.into_iter().next()
            {
                o.remove("examples");
                o.insert("example".into(), first);
            }
            // 3.1's name schema of a map (utoipa writes one for a BTreeMap); 3.0 has none.
            if o.get("propertyNames").is_some() && o.get("additionalProperties").is_some() {
                o.remove("propertyNames");
            }
            o.values_mut().for_each(to_openapi_30);
        }
        _ => {}
    }
}

/// The document: the routes' own descriptions (`routes::api_routes`: every routed method and
/// path with its `#[utoipa::path]`), in the frame, with the layers' answers and the links.
/// Only routed operations (and the fallback's example) are published, so the document cannot
/// describe a route that does not exist.
pub fn document_value() -> Result<Value, serde_json::Error> {
    let mut generated = serde_json::to_value(crate::routes::api_routes().into_openapi())?;
    to_openapi_30(&mut generated);
    Ok(merge(&generated, frame()))
}

fn merge(generated: &Value, mut doc: Value) -> Value {
    let mut paths = generated
        .get("paths")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    if let Some(frame_paths) = doc.get("paths").and_then(Value::as_object) {
        for (path, item) in frame_paths {
            paths.insert(path.clone(), item.clone());
        }
    }
    add_layer_answers(&mut paths);
    add_links(&mut paths);
    if let (Some(derived), Some(schemas)) = (
        generated
            .pointer("/components/schemas")
            .and_then(Value::as_object),
        doc.pointer_mut("/components/schemas")
            .and_then(Value::as_object_mut),
    ) {
        for (name, schema) in derived {
            schemas.insert(name.clone(), schema.clone());
        }
    }
    if let Some(o) = doc.as_object_mut() {
        o.insert("paths".into(), Value::Object(paths));
        o.insert(
            "tags".into(),
            TAGS.iter()
                .map(|(name, description)| json!({"name": name, "description": description}))
                .collect(),
        );
    }
    doc
}

/// The document's starting point: schemas that no request body names but the answers do,
/// derived from core's wire types (core's `openapi` feature).
#[derive(utoipa::OpenApi)]
#[openapi(components(schemas(
    tokenauth_core::token::TokenView,
    tokenauth_core::scope::Scope,
    crate::routes::answers::ErrorBody,
    crate::routes::answers::Echo
)))]
pub struct Components;

/// Built once: the routes and the detail are fixed at compile time.
static DOCUMENT: OnceLock<Result<Value, String>> = OnceLock::new();

/// The OpenAPI 3 document of this server's HTTP surface.
#[utoipa::path(
    get,
    path = "/rest/tokenauth/1/openapi.json",
    operation_id = "getOpenApiDocument",
    summary = "This document (anonymous)",
    responses((status = 200, description = "The OpenAPI 3.0.3 document", body = Object)),
    security(()),
    tag = "meta"
)]
pub async fn document() -> Result<Json<Value>, ApiError> {
    DOCUMENT
        .get_or_init(|| document_value().map_err(|e| e.to_string()))
        .clone()
        .map(Json)
        .map_err(ApiError::Internal)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

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
        use crate::routes::{DESCRIPTION_PATTERN, DISPLAY_TEXT_PATTERN, USER_NAME_PATTERN};
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
        let source = include_str!("routes/mod.rs");
        for forbidden in [".route(", ".route_service(", ".nest(", ".merge("] {
            assert!(
                !source.contains(forbidden),
                "routes/mod.rs adds a route with {forbidden}: use .routes(routes!(handler)) and \
                 #[utoipa::path] on the handler"
            );
        }
    }
}
