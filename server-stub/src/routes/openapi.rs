//! `GET /rest/tokenauth/1/openapi.json` (`routes::document`): the OpenAPI 3.0.3 document of
//! the whole HTTP surface, derived from the code. Each handler's `#[utoipa::path]` says its operation (summary,
//! parameters with their limits, every answer and its type), the types are the serde types the
//! handlers read and write (`routes::answers`, core's wire types), and `routes::api_routes`
//! registers each handler together with that description. What is written here is what no
//! single handler owns: the security schemes, WireMock's own published shapes (the admin API
//! passes WireMock's JSON through), the fallback's echo, and the answers every guarded operation
//! may give because of the layers in front of it (401/403/429, 413). The routes hand their
//! own document in (`routes::document_value`): nothing here imports the router.

use serde_json::{Map, Value, json};

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
/// the token rules (`front`) and the body limit (`DefaultBodyLimit`); and
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

/// The document from the routes' own descriptions (`routes::api_routes`, handed in by
/// `routes::document_value`): converted to 3.0, in the frame, with the layers' answers and the
/// links.
pub fn complete(generated: utoipa::openapi::OpenApi) -> Result<Value, serde_json::Error> {
    let mut generated = serde_json::to_value(generated)?;
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
    super::answers::ErrorBody,
    super::answers::Echo
)))]
pub struct Components;

#[cfg(test)]
mod tests;
