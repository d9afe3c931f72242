//! `GET /rest/tokenauth/1/openapi.json`: the OpenAPI 3.0 document of the whole HTTP surface.

use std::sync::OnceLock;

use axum::Json;
use serde_json::{Map, Value, json};

use crate::error::ApiError;

fn err(desc: &str) -> Value {
    json!({"description": desc, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}})
}

fn ok(desc: &str, schema: Value) -> Value {
    json!({"description": desc, "content": {"application/json": {"schema": schema}}})
}

fn r(name: &str) -> Value {
    json!({"$ref": format!("#/components/schemas/{name}")})
}

fn body(schema: Value) -> Value {
    json!({"required": true, "content": {"application/json": {"schema": schema}}})
}

fn path_param(name: &str) -> Value {
    json!({"name": name, "in": "path", "required": true, "schema": {"type": "string"}})
}

fn query(name: &str, schema: Value) -> Value {
    json!({"name": name, "in": "query", "required": false, "schema": schema})
}

/// The responses every authenticated operation may give.
fn secured(mut responses: Value) -> Value {
    if let Some(o) = responses.as_object_mut() {
        o.insert("401".into(), err("Missing, malformed or wrong credentials"));
        o.insert(
            "403".into(),
            err(
                "IP not allowed, passwords disabled, Read Only token on a write (or asking to mint \
                 Read & Write), not permitted, or an XSRF check failed (a cookie write without \
                 JSON or X-Atlassian-Token: no-check, or a foreign Origin)",
            ),
        );
        o.insert(
            "429".into(),
            err("Per-user rate limit exceeded (Retry-After)"),
        );
    }
    responses
}

fn admin(mut responses: Value) -> Value {
    responses = secured(responses);
    responses
}

pub fn spec() -> Value {
    let echo = json!({
        "operationId": "echoGet", "tags": ["jira"],
        "summary": "Authenticated echo of any other /rest/ path",
        "responses": secured(json!({"200": ok("Who the request authenticated as", r("Echo"))}))
    });
    let token_list = json!({"type": "array", "items": r("Token")});
    let days = json!({"type": "integer", "minimum": 0, "maximum": 4_294_967_295_u64});
    let policy = json!({"type": "object", "required": ["maxTokenValidityDays", "allowNonExpiringTokens", "mayCreateOwnTokens", "ownTokensReadOnly", "mayCreateTokensForOthers", "isAdmin"]});
    let histogram = json!({"type": "object", "required": ["from", "to", "bucketMillis", "counts"], "properties": {"from": {"type": "integer"}, "to": {"type": "integer"}, "bucketMillis": {"type": "integer"}, "counts": {"type": "array", "items": {"type": "integer", "minimum": 0}}}});
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
            "/rest/api/2/serverInfo": {"get": {"summary": "Server information (anonymous)", "security": [], "responses": {"200": ok("Server information", r("ServerInfo"))}}},
            "/rest/api/latest/serverInfo": {"get": {"summary": "Server information (anonymous)", "security": [], "responses": {"200": ok("Server information", r("ServerInfo"))}}},
            "/rest/api/2/myself": {"get": {"summary": "The authenticated user", "responses": secured(json!({"200": ok("User", r("User"))}))}},
            "/rest/api/latest/myself": {"get": {"summary": "The authenticated user", "responses": secured(json!({"200": ok("User", r("User"))}))}},
            "/rest/api/user/current": {"get": {"summary": "The authenticated user (Confluence)", "responses": secured(json!({"200": ok("User", r("User"))}))}},
            "/rest/api/2/issue": {"get": echo.clone(), "post": {"operationId": "echoPost", "tags": ["jira"], "summary": "Authenticated echo (201 for POST)", "responses": secured(json!({"201": ok("Echo", r("Echo"))}))}},
            "/rest/auth/1/session": {
                "post": {"summary": "Open a cookie session (password may be a token)", "security": [],
                    "requestBody": body(json!({"type": "object", "required": ["username", "password"], "properties": {"username": {"type": "string"}, "password": {"type": "string"}}})),
                    "responses": {"200": ok("Session (Set-Cookie: JSESSIONID)", json!({"type": "object"})), "400": err("Bad JSON"), "401": err("Wrong credentials"), "403": err("Refused"), "413": err("Body over 1 MiB"), "503": err("Busy")}},
                "get": {"summary": "The current session", "responses": secured(json!({"200": ok("Session", json!({"type": "object"}))}))},
                "delete": {"summary": "Log out", "responses": secured(json!({"204": {"description": "Logged out"}, "404": err("No session")}))}
            },
            "/rest/tokenauth/1/openapi.json": {"get": {"summary": "This document", "security": [], "responses": {"200": ok("OpenAPI", json!({"type": "object"}))}}},
            "/rest/tokenauth/1/tokens": {
                "get": {"summary": "Own tokens", "parameters": [query("expiringWithinDays", days.clone())],
                    "responses": secured(json!({"200": ok("Tokens (with expiringWithinDays: only those still valid that expire within that many days, soonest first)", token_list.clone()), "400": err("Bad parameter")}))},
                "post": {"summary": "Create an own token (allowed for a Read Only token)",
                    "responses": secured(json!({"201": ok("The token, with its secret this once", r("Token")), "400": err("Invalid, over maxTokensPerUser, or outliving the token you authenticated with"), "413": err("Body over 1 MiB")}))}
            },
            "/rest/tokenauth/1/tokens/{id}": {
                "parameters": [path_param("id")],
                "patch": {"summary": "Change an own token's description",
                    "responses": secured(json!({"200": ok("Token", r("Token")), "400": err("Invalid"), "404": err("No such token of yours")}))},
                "delete": {"summary": "Revoke an own token", "responses": secured(json!({"204": {"description": "Revoked"}, "404": err("No such token of yours")}))}
            },
            "/rest/tokenauth/1/admin/tokens": {"get": {"summary": "All users' tokens (admin)",
                "parameters": [query("user", json!({"type": "string"})), query("q", json!({"type": "string"})), query("expired", json!({"type": "boolean"})), query("scope", json!({"type": "string", "enum": ["READ_ONLY", "READ_WRITE"]})), query("expiringWithinDays", days.clone()), query("offset", json!({"type": "integer", "minimum": 0})), query("limit", json!({"type": "integer", "minimum": 1, "maximum": 1000}))],
                "responses": admin(json!({"200": ok("A page of tokens", json!({"type": "object", "properties": {"offset": {"type": "integer"}, "limit": {"type": "integer"}, "total": {"type": "integer"}, "tokens": token_list.clone()}})), "400": err("Bad parameter")}))}},
            "/rest/tokenauth/1/admin/tokens/{id}": {"parameters": [path_param("id")], "delete": {"summary": "Revoke any token (admin)", "responses": admin(json!({"204": {"description": "Revoked"}, "404": err("No such token")}))}},
            "/rest/tokenauth/1/admin/users": {
                "get": {"summary": "Users (admin)", "responses": admin(json!({"200": ok("Users", json!({"type": "array", "items": r("User")}))}))},
                "post": {"summary": "Create a user (admin)",  "responses": admin(json!({"201": ok("User", r("User")), "400": err("Invalid"), "409": err("Exists")}))}
            },
            "/rest/tokenauth/1/admin/users/{user}": {
                "parameters": [path_param("user")],
                "put": {"summary": "Change a user (admin); demoting or deactivating yourself needs force=true", "parameters": [query("force", json!({"type": "boolean"}))],  "responses": admin(json!({"200": ok("User", r("User")), "400": err("Invalid"), "404": err("No such user"), "409": err("Would remove your own admin rights (use force=true)")}))},
                "delete": {"summary": "Delete a user and their tokens (admin)", "responses": admin(json!({"204": {"description": "Deleted"}, "404": err("No such user"), "409": err("Cannot delete yourself")}))}
            },
            "/rest/tokenauth/1/admin/users/{user}/tokens": {
                "parameters": [path_param("user")],
                "post": {"summary": "Create a token on a user's behalf (admin)",  "responses": admin(json!({"201": ok("Token with secret", r("Token")), "400": err("Invalid"), "404": err("No such user")}))},
                "delete": {"summary": "Revoke all of a user's tokens (admin)", "responses": admin(json!({"200": ok("Revoked", json!({"type": "object"})), "404": err("No such user")}))}
            },
            "/rest/tokenauth/1/admin/users/{user}/reset-failed-logins": {"parameters": [path_param("user")], "post": {"summary": "Clear the failed-login counter (admin)", "responses": admin(json!({"200": ok("User", r("User")), "404": err("No such user")}))}},
            "/rest/tokenauth/1/admin/settings": {
                "get": {"summary": "Settings (admin)", "responses": admin(json!({"200": ok("Settings", r("Settings"))}))},
                "put": {"summary": "Change settings; a partial document changes only what it names (admin)",
                    "parameters": [query("force", json!({"type": "boolean"}))], "requestBody": body(json!({"type": "object"})),
                    "responses": admin(json!({"200": ok("Settings", r("Settings")), "400": err("Invalid, with the field named in errors"), "409": err("Would lock you out (use force=true)")}))}
            },
            "/rest/auditing/1.0/events": {"get": {"summary": "Audit events, newest first, in Jira Data Center's shape (admin)",
                "description": "Every filter narrows; a list parameter matches any of its comma-separated values. A search examines at most 100,000 events per request (scanLimit may ask for fewer); when that stops it before the page is full, pagingInfo.scanLimitReached is true and nextPageCursor/nextPageLink continue from the last event examined. A CSV answer carries pagingInfo as X-Paging-* and Link headers when limit is at most 1,000.",
                "parameters": [
                    query("offset", json!({"type": "integer", "minimum": 0})),
                    query("limit", json!({"type": "integer", "minimum": 1, "maximum": 100_000, "default": 200})),
                    query("from", json!({"type": "string", "description": "RFC 3339 or epoch milliseconds"})),
                    query("to", json!({"type": "string", "description": "RFC 3339 or epoch milliseconds"})),
                    query("user", json!({"type": "string", "maxLength": 255, "description": "Author or affected user, ignoring case"})),
                    query("action", json!({"type": "string", "description": "One action label"})),
                    query("before", json!({"type": "string", "pattern": "^-?[0-9]+:[0-9]+$", "description": "Keyset cursor from pagingInfo.nextBefore"})),
                    query("userIds", json!({"type": "string", "description": "Jira: comma-separated users (names, ignoring case), author or affected user, any of them; at most 100"})),
                    query("actions", json!({"type": "string", "description": "Jira: comma-separated action labels, any of them; an unknown label is refused"})),
                    query("categories", json!({"type": "string", "description": "Jira: comma-separated categories, any of them (every event is in \"API tokens\"; another matches nothing)"})),
                    query("search", json!({"type": "string", "maxLength": 100, "description": "Jira: free text, found ignoring case in any text field of an event"})),
                    query("pageCursor", json!({"type": "string", "maxLength": 64, "description": "Jira: cursor timestamp,id from pagingInfo.nextPageCursor (the time in epoch milliseconds or RFC 3339)"})),
                    query("outputFormat", json!({"type": "string", "enum": ["json", "csv"], "default": "json"})),
                    query("scanLimit", json!({"type": "integer", "minimum": 1, "description": "Jira: the most events to examine; at most 100,000 are (the default for a search)"}))
                ],
                "responses": admin(json!({"200": {"description": "A page of events", "content": {"application/json": {"schema": r("AuditPage")}, "text/csv": {"schema": {"type": "string"}}}}, "400": err("Bad parameter, named in errors")}))}},
            "/rest/tokenauth/1/tokens/policy": {"get": {"summary": "The token rules as they apply to the caller", "responses": secured(json!({"200": ok("Policy", policy.clone())}))}},
            "/rest/tokenauth/1/admin/audit/histogram": {"get": {"summary": "Events over time, for a chart (admin)",
                "parameters": [query("from", json!({"type": "string"})), query("to", json!({"type": "string"})), query("user", json!({"type": "string"})), query("action", json!({"type": "string"})), query("buckets", json!({"type": "integer", "minimum": 1, "maximum": 1000}))],
                "responses": admin(json!({"200": ok("Counts per slice of time", histogram.clone()), "400": err("Bad parameter")}))}},
            "/rest/tokenauth/1/admin/audit/export": {"get": {"summary": "Export audit events (admin)",
                "parameters": [query("format", json!({"type": "string", "enum": ["csv", "json"]})), query("from", json!({"type": "string"})), query("to", json!({"type": "string"})), query("user", json!({"type": "string"})), query("action", json!({"type": "string"}))],
                "responses": admin(json!({"200": {"description": "CSV or a JSON array of entities", "content": {"text/csv": {"schema": {"type": "string"}}, "application/json": {"schema": {"type": "array", "items": r("AuditEntity")}}}}, "400": err("Bad parameter")}))}},
            "/rest/de.resolution.apitokenauth/latest/user/token": {
                "get": {"summary": "Own tokens (original product's API)", "responses": secured(json!({"200": ok("Tokens", json!({"type": "array", "items": r("CompatToken")}))}))},
                "post": {"summary": "Create a token (original product's API)",
                    "responses": secured(json!({"201": ok("Token with plainTextToken", r("CompatToken")), "400": err("Invalid")}))}
            },
            "/rest/de.resolution.apitokenauth/latest/user/token/{id}": {
                "parameters": [path_param("id")],
                "patch": {"summary": "Change description (original product's API)", "responses": secured(json!({"200": ok("Token", r("CompatToken")), "400": err("Invalid"), "404": err("No such token")}))},
                "delete": {"summary": "Revoke (original product's API)", "responses": secured(json!({"204": {"description": "Revoked"}, "404": err("No such token")}))}
            },
            "/rest/de.resolution.apitokenauth/latest/user/token/deleteAllFor/{userKey}": {"parameters": [path_param("userKey")], "delete": {"summary": "Revoke all of a user's tokens (admins)", "responses": secured(json!({"200": ok("Revoked", json!({"type": "object"})), "404": err("No such user")}))}}
        },
        "components": {
            "securitySchemes": {
                "basic": {"type": "http", "scheme": "basic"},
                "bearer": {"type": "http", "scheme": "bearer"},
                "session": {"type": "apiKey", "in": "cookie", "name": "JSESSIONID"}
            },
            "schemas": {
                "Error": {"type": "object", "required": ["errorMessages", "errors"], "properties": {"errorMessages": {"type": "array", "items": {"type": "string"}}, "errors": {"type": "object", "additionalProperties": {"type": "string"}}}},
                "ServerInfo": {"type": "object", "required": ["baseUrl", "version", "versionNumbers", "deploymentType", "buildNumber", "serverTime", "serverTitle"], "properties": {"baseUrl": {"type": "string"}, "version": {"type": "string"}, "versionNumbers": {"type": "array", "items": {"type": "integer"}}, "deploymentType": {"type": "string"}, "buildNumber": {"type": "integer"}, "serverTime": {"type": "string"}, "serverTitle": {"type": "string"}}},
                "User": {"type": "object", "required": ["name", "key", "displayName", "emailAddress", "active", "groups"], "properties": {"name": {"type": "string"}, "key": {"type": "string"}, "displayName": {"type": "string"}, "emailAddress": {"type": "string"}, "active": {"type": "boolean"}, "groups": {"type": "array", "items": {"type": "string"}}, "failedLoginCount": {"type": "integer"}}},
                "Echo": {"type": "object", "required": ["user", "method", "path", "authType"], "properties": {"user": {"type": "string"}, "method": {"type": "string"}, "path": {"type": "string"}, "authType": {"type": "string", "enum": ["token", "password", "session"]}, "tokenId": {"type": "string"}, "scope": {"type": "string"}}},
                "CompatToken": {"type": "object", "required": ["id", "description", "created"], "properties": {"id": {"type": "string"}, "description": {"type": "string"}, "created": {"type": "integer", "nullable": true}, "lastAccessed": {"type": "integer", "nullable": true}, "expires": {"type": "integer", "nullable": true}, "scope": {"type": "string"}, "plainTextToken": {"type": "string"}}},
                "Settings": {"type": "object", "properties": {"ipAllowList": {"type": "array", "items": {"type": "string"}}, "trustedProxies": {"type": "array", "items": {"type": "string"}}, "passwordAuthEnabled": {"type": "boolean"}, "maxTokenValidityDays": {"type": "integer"}, "allowNonExpiringTokens": {"type": "boolean"}, "permissions": {"type": "object"}, "audit": {"type": "object"}, "maxFailedLogins": {"type": "integer"}, "rateLimitPerMinute": {"type": "integer", "nullable": true}, "adminGroup": {"type": "string"}, "maxTokensPerUser": {"type": "integer", "minimum": 1, "maximum": 10000}}},
                "AuditEntity": {"type": "object", "required": ["id", "timestamp", "author", "type", "affectedObjects", "changedValues"], "properties": {"id": {"type": "integer"}, "timestamp": {"type": "string"}, "author": {"type": "object"}, "type": {"type": "object"}, "affectedObjects": {"type": "array", "items": {"type": "object"}}, "changedValues": {"type": "array", "items": {"type": "object"}}, "source": {"type": "string", "nullable": true}, "proxyIp": {"type": "string", "nullable": true}, "tokenId": {"type": "string", "nullable": true}, "tokenDescription": {"type": "string", "nullable": true}, "scope": {"type": "string", "nullable": true}, "method": {"type": "string", "nullable": true}, "path": {"type": "string", "nullable": true}, "reason": {"type": "string", "nullable": true}, "affectedUser": {"type": "string", "nullable": true}}},
                "AuditPage": {"type": "object", "required": ["entities", "pagingInfo"], "properties": {"entities": {"type": "array", "items": r("AuditEntity")}, "pagingInfo": r("PagingInfo")}},
                "PagingInfo": {"type": "object", "required": ["start", "limit", "size", "lastPage", "isLastPage", "scanned", "scanLimitReached"], "properties": {
                    "start": {"type": "integer"}, "limit": {"type": "integer"}, "size": {"type": "integer"},
                    "lastPage": {"type": "boolean"}, "isLastPage": {"type": "boolean"},
                    "nextPageOffset": {"type": "integer", "nullable": true}, "nextStart": {"type": "integer", "nullable": true},
                    "nextPageCursor": {"type": "string", "nullable": true, "description": "timestamp,id: pass as pageCursor"},
                    "nextBefore": {"type": "string", "nullable": true, "description": "timestamp:id: pass as before"},
                    "nextPageLink": {"type": "string", "nullable": true, "description": "This query's next page, an absolute link"},
                    "scanLimit": {"type": "integer", "nullable": true}, "scanned": {"type": "integer"},
                    "scanLimitReached": {"type": "boolean", "description": "The scan limit stopped the query before the page was full"}}}
            }
        }
    })
}

/// The token lifecycle of SPEC §9: rotation, Jira DC's personal access token API, expiry
/// notices (kept apart from `spec`'s one literal, which the `json!` macro's recursion limit
/// bounds).
fn lifecycle_paths() -> Vec<(&'static str, Value)> {
    let pat_id = json!({"name": "id", "in": "path", "required": true, "schema": {"type": "integer", "minimum": 0}});
    let notices = json!({"type": "object", "required": ["webhookUrl", "daysBefore", "secretSet"], "properties": {"webhookUrl": {"type": "string", "nullable": true}, "daysBefore": {"type": "array", "items": {"type": "integer"}}, "secretSet": {"type": "boolean"}}});
    let secret = json!({"type": "object", "required": ["secret"], "additionalProperties": false, "properties": {"secret": {"type": "string", "minLength": 16, "maxLength": 256}}});
    let test_body = json!({"type": "object", "additionalProperties": false, "properties": {"webhookUrl": {"type": "string"}}});
    let test_answer = json!({"type": "object", "required": ["delivered", "delivery"], "properties": {"delivered": {"type": "boolean"}, "status": {"type": "integer"}, "error": {"type": "string"}, "delivery": {"type": "string"}}});
    let ids =
        json!({"type": "array", "maxItems": 1000, "items": {"type": "integer", "minimum": 0}});
    vec![
        (
            "/rest/tokenauth/1/tokens/{id}/rotate",
            json!({
                "parameters": [path_param("id")],
                "post": {"summary": "Rotate a token (the owner's; admins: anyone's): a new secret with the same owner, description and scope and a fresh expiry (by default the old token's lifetime); the old secret is refused from now on. Allowed for a Read Only token.",
                    "requestBody": {"required": false, "content": {"application/json": {"schema": r("RotateToken")}}},
                    "responses": secured(json!({"201": ok("The new token, with its secret this once, and replaces (the old id)", r("RotatedToken")), "400": err("Invalid expiry or body"), "404": err("No such token of yours (or already rotated away)"), "413": err("Body over 1 MiB")}))}
            }),
        ),
        (
            "/rest/pat/latest/tokens",
            json!({
                "get": {"summary": "Own tokens as Jira Data Center's personal access token API lists them", "responses": secured(json!({"200": ok("Tokens", json!({"type": "array", "items": r("Pat")}))}))},
                "post": {"summary": "Create a personal access token (Jira DC's API): Read & Write unless the settings force Read Only",
                    "responses": secured(json!({"201": ok("The token, with rawToken this once", r("Pat")), "400": err("Invalid, or over maxTokensPerUser"), "413": err("Body over 1 MiB")}))}
            }),
        ),
        (
            "/rest/pat/latest/tokens/{id}",
            json!({
                "parameters": [pat_id],
                "get": {"summary": "One personal access token (owner or admin)", "responses": secured(json!({"200": ok("Token", r("Pat")), "404": err("No such token of yours")}))},
                "delete": {"summary": "Revoke a personal access token (owner or admin)", "responses": secured(json!({"204": {"description": "Revoked"}, "404": err("No such token of yours")}))}
            }),
        ),
        (
            "/rest/pat/latest/admin/tokens",
            json!({"delete": {"summary": "Revoke personal access tokens by id (admin); ids that name no token are skipped",
                "requestBody": body(ids),
                "responses": admin(json!({"204": {"description": "Revoked"}, "400": err("Not an array of ids, or over 1000"), "413": err("Body over 1 MiB")}))}}),
        ),
        (
            "/rest/tokenauth/1/admin/notifications",
            json!({"get": {"summary": "Expiry notices: the webhook, the thresholds and whether a signing secret is set (admin)",
                "responses": admin(json!({"200": ok("Notices", notices)}))}}),
        ),
        (
            "/rest/tokenauth/1/admin/notifications/secret",
            json!({"put": {"summary": "Set the secret expiry notices are signed with (HMAC-SHA256 in X-Tokenauth-Signature-256); never shown again, audited as changed (admin)",
                "requestBody": body(secret),
                "responses": admin(json!({"204": {"description": "Set"}, "400": err("Too short, too long or not text"), "413": err("Body over 1 MiB")}))}}),
        ),
        (
            "/rest/tokenauth/1/admin/notifications/test",
            json!({"post": {"summary": "Send one signed test message to the webhook (or to webhookUrl, to try it before saving) (admin)",
                "requestBody": {"required": false, "content": {"application/json": {"schema": test_body}}},
                "responses": admin(json!({"200": ok("What the receiver answered", test_answer), "400": err("No webhook URL, an invalid one, or no signing secret"), "413": err("Body over 1 MiB")}))}}),
        ),
    ]
}

fn lifecycle_schemas() -> Vec<(&'static str, Value)> {
    vec![
        (
            "StubMapping",
            json!({"type": "object", "additionalProperties": true, "description": "A WireMock stub mapping (WireMock's published StubMapping shape): id, request, response, priority, scenarioName…"}),
        ),
        (
            // What a new or replaced mapping may say, as far as a generator should try: a
            // request pattern by method and URL path, and a plain answer (the full shape is
            // WireMock's published StubMapping; the server accepts all it documents). Paths
            // under /mock/ only: a mapping of, say, /rest/api/2/issue answers for an
            // authenticated caller in place of the echo, which schemathesis then reports; and
            // a request pattern without a path matches every path.
            "StubMappingInput",
            json!({"type": "object", "required": ["request"], "additionalProperties": false,
                "properties": {
                    "name": {"type": "string", "maxLength": 255},
                    "priority": {"type": "integer", "minimum": 1, "maximum": 1000},
                    "request": {"type": "object", "additionalProperties": false, "required": ["urlPath"], "properties": {
                        "method": {"type": "string", "enum": ["ANY", "GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS"]},
                        "urlPath": {"type": "string", "pattern": "^/mock/[A-Za-z0-9/_.-]*$", "maxLength": 200, "description": "Any path is accepted; the document offers /mock/... so that generated mappings do not answer in place of the other operations"}}},
                    "response": {"type": "object", "additionalProperties": false, "properties": {
                        "status": {"type": "integer", "minimum": 200, "maximum": 599},
                        "body": {"type": "string", "maxLength": 1000}}}},
                "example": {"request": {"method": "GET", "urlPath": "/mock/hello"}, "response": {"status": 200, "body": "hello"}}}),
        ),
        (
            "JournaledRequests",
            json!({"type": "object", "required": ["requests"], "properties": {"requests": {"type": "array", "items": {"type": "object"}}, "meta": {"type": "object"}, "requestJournalDisabled": {"type": "boolean"}}}),
        ),
        (
            "WireMockErrors",
            json!({"type": "object", "required": ["errors"], "properties": {"errors": {"type": "array", "items": {"type": "object"}}}}),
        ),
        (
            "RotatedToken",
            json!({"allOf": [r("Token"), {"type": "object", "required": ["replaces", "token"], "properties": {"replaces": {"type": "string"}}}]}),
        ),
        (
            "Pat",
            json!({"type": "object", "required": ["id", "name", "createdAt", "expiringAt"], "properties": {"id": {"type": "integer"}, "name": {"type": "string"}, "createdAt": {"type": "string"}, "expiringAt": {"type": "string", "nullable": true}, "lastAccessedAt": {"type": "string", "nullable": true}, "rawToken": {"type": "string"}}}),
        ),
        (
            "Notifications",
            json!({"type": "object", "properties": {"webhookUrl": {"type": "string", "nullable": true, "maxLength": 2048}, "daysBefore": {"type": "array", "minItems": 1, "maxItems": 10, "items": {"type": "integer", "minimum": 1, "maximum": 365}}}}),
        ),
    ]
}

/// What `GET /status`, `GET /metrics` and WireMock's admin API answer (their operations, ids and
/// tags come from the handlers; this is the detail the handlers' `Json<Value>` cannot tell).
fn operations_paths() -> Vec<(&'static str, Value)> {
    let any = || json!({"type": "object", "additionalProperties": true});
    let mapping = || r("StubMapping");
    let requests = || r("JournaledRequests");
    let wm_err = || ok("WireMock's error shape", r("WireMockErrors"));
    let empty = || ok("Done", json!({"type": "object"}));
    let id = path_param("id");
    let admin_only = |mut responses: Value| {
        if let Some(o) = responses.as_object_mut() {
            o.insert(
                "401".into(),
                err("Missing, malformed or wrong credentials (callers not on this machine)"),
            );
            o.insert(
                "403".into(),
                err("Not an administrator, or a refused request (IP, XSRF, passwords disabled)"),
            );
            o.insert(
                "429".into(),
                err("Per-user rate limit exceeded (Retry-After)"),
            );
        }
        responses
    };
    let mappings = json!({"type": "object", "required": ["mappings", "meta"], "properties": {"mappings": {"type": "array", "items": mapping()}, "meta": {"type": "object", "properties": {"total": {"type": "integer", "minimum": 0}}}}});
    let pattern_body = json!({"required": true, "content": {"application/json": {"schema": {"type": "object", "description": "A WireMock request pattern (method, url, urlPath, headers, bodyPatterns…)"}}}});
    let mapping_body = || json!({"required": true, "content": {"application/json": {"schema": r("StubMappingInput")}}});
    vec![
        (
            "/status",
            json!({"get": {"summary": "Health, as Jira answers load balancers (anonymous)", "security": [],
                "responses": {"200": ok("Running", json!({"type": "object", "required": ["state"], "properties": {"state": {"type": "string", "enum": ["RUNNING"]}}, "example": {"state": "RUNNING"}})),
                    "503": ok("Starting or stopping", json!({"type": "object", "required": ["state"], "properties": {"state": {"type": "string", "enum": ["STARTING", "STOPPING"]}}}))}}}),
        ),
        (
            "/metrics",
            json!({"get": {"summary": "Prometheus metrics: to clients on this machine without credentials, to others with an admin's",
                "security": [{}, {"basic": []}, {"bearer": []}, {"session": []}],
                "responses": admin_only(json!({"200": {"description": "The Prometheus text format", "content": {"text/plain": {"schema": {"type": "string"}}}}}))}}),
        ),
        (
            "/__admin/mappings",
            json!({
                "get": {"summary": "Stub mappings (WireMock admin API)", "responses": admin_only(json!({"200": ok("Mappings", mappings)}))},
                "post": {"summary": "Add a stub mapping", "requestBody": mapping_body(), "responses": admin_only(json!({"201": ok("The mapping as stored, with its id", mapping()), "400": wm_err(), "422": wm_err(), "413": err("Body over 1 MiB")}))},
                "delete": {"summary": "Remove every stub mapping", "responses": admin_only(json!({"200": empty()}))}
            }),
        ),
        (
            "/__admin/mappings/reset",
            json!({"post": {"summary": "Back to the mappings loaded at start", "responses": admin_only(json!({"200": empty()}))}}),
        ),
        (
            "/__admin/mappings/import",
            json!({"post": {"summary": "Import mappings ({mappings: [...], importOptions: {duplicatePolicy, deleteAllNotInImport}})",
                "requestBody": {"required": true, "content": {"application/json": {"schema": {"type": "object", "required": ["mappings"], "properties": {"mappings": {"type": "array", "items": r("StubMappingInput")}, "importOptions": {"type": "object", "properties": {"duplicatePolicy": {"type": "string", "enum": ["OVERWRITE", "IGNORE"]}, "deleteAllNotInImport": {"type": "boolean"}}}}}}}},
                "responses": admin_only(json!({"200": empty(), "400": wm_err(), "422": wm_err(), "413": err("Body over 1 MiB")}))}}),
        ),
        (
            "/__admin/mappings/{id}",
            json!({
                "parameters": [id],
                "get": {"summary": "One stub mapping", "responses": admin_only(json!({"200": ok("Mapping", mapping()), "404": err("No mapping with that id")}))},
                "put": {"summary": "Replace a stub mapping", "requestBody": mapping_body(), "responses": admin_only(json!({"200": ok("The mapping as stored", mapping()), "404": err("No mapping with that id"), "400": wm_err(), "422": wm_err(), "413": err("Body over 1 MiB")}))},
                "delete": {"summary": "Remove a stub mapping", "responses": admin_only(json!({"200": empty(), "404": err("No mapping with that id")}))}
            }),
        ),
        (
            "/__admin/requests",
            json!({
                "get": {"summary": "The request journal, newest first", "parameters": [query("limit", json!({"type": "integer", "minimum": 0}))], "responses": admin_only(json!({"200": ok("Requests", requests()), "400": {"description": "limit is not a number (axum's plain-text rejection, as the handler leaves it)", "content": {"text/plain": {"schema": {"type": "string"}}}}}))},
                "delete": {"summary": "Clear the request journal", "responses": admin_only(json!({"200": empty()}))}
            }),
        ),
        (
            "/__admin/requests/reset",
            json!({"post": {"summary": "Clear the request journal (WireMock's older spelling)", "responses": admin_only(json!({"200": empty()}))}}),
        ),
        (
            "/__admin/requests/count",
            json!({"post": {"summary": "Count journaled requests matching a pattern", "requestBody": pattern_body, "responses": admin_only(json!({"200": ok("Count", json!({"type": "object", "required": ["count"], "properties": {"count": {"type": "integer", "minimum": 0}, "requestJournalDisabled": {"type": "boolean"}}})), "400": wm_err(), "422": wm_err(), "413": err("Body over 1 MiB")}))}}),
        ),
        (
            "/__admin/requests/find",
            json!({"post": {"summary": "Journaled requests matching a pattern", "requestBody": pattern_body, "responses": admin_only(json!({"200": ok("Requests", requests()), "400": wm_err(), "422": wm_err(), "413": err("Body over 1 MiB")}))}}),
        ),
        (
            "/__admin/requests/unmatched",
            json!({"get": {"summary": "Journaled requests no mapping matched", "responses": admin_only(json!({"200": ok("Requests", requests())}))}}),
        ),
        (
            "/__admin/requests/unmatched/near-misses",
            json!({"get": {"summary": "The closest mappings to each unmatched request", "responses": admin_only(json!({"200": ok("Near misses", json!({"type": "object", "required": ["nearMisses"], "properties": {"nearMisses": {"type": "array", "items": any()}}}))}))}}),
        ),
        (
            "/__admin/requests/{id}",
            json!({"parameters": [path_param("id")], "get": {"summary": "One journaled request", "responses": admin_only(json!({"200": ok("Request", any()), "404": err("No request with that id")}))}}),
        ),
        (
            "/__admin/scenarios",
            json!({"get": {"summary": "Scenarios and their states", "responses": admin_only(json!({"200": ok("Scenarios", json!({"type": "object", "required": ["scenarios"], "properties": {"scenarios": {"type": "array", "items": any()}}}))}))}}),
        ),
        (
            "/__admin/scenarios/reset",
            json!({"post": {"summary": "Every scenario back to Started", "responses": admin_only(json!({"200": empty()}))}}),
        ),
        (
            "/__admin/reset",
            json!({"post": {"summary": "Reset mappings, journal and scenarios", "responses": admin_only(json!({"200": empty()}))}}),
        ),
    ]
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

/// The hand-written detail: responses, parameters, bodies and schemas.
fn detail() -> Value {
    let mut doc = spec();
    if let Some(paths) = doc.get_mut("paths").and_then(Value::as_object_mut) {
        for (p, v) in lifecycle_paths().into_iter().chain(operations_paths()) {
            paths.insert(p.to_owned(), v);
        }
    }
    if let Some(schemas) = doc
        .pointer_mut("/components/schemas")
        .and_then(Value::as_object_mut)
    {
        for (name, v) in lifecycle_schemas() {
            schemas.insert(name.to_owned(), v);
        }
    }
    if let Some(props) = doc
        .pointer_mut("/components/schemas/Settings/properties")
        .and_then(Value::as_object_mut)
    {
        props.insert("notifications".into(), r("Notifications"));
    }
    doc
}

/// The document the routes describe (`routes::api_routes`: every routed method and path, its
/// operationId, tag and doc comment), with the hand-written detail laid over each operation.
/// Only routed operations (and the fallback's examples) are published, so the document cannot
/// describe a route that does not exist.
pub fn document_value() -> Result<Value, serde_json::Error> {
    let mut generated = serde_json::to_value(crate::routes::api_routes().into_openapi())?;
    to_openapi_30(&mut generated);
    Ok(merge(&generated, detail()))
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
            o.values_mut().for_each(to_openapi_30);
        }
        _ => {}
    }
}

fn merge(generated: &Value, mut doc: Value) -> Value {
    let empty = Map::new();
    let hand = doc
        .get("paths")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    let mut paths = Map::new();
    for (path, item) in generated
        .get("paths")
        .and_then(Value::as_object)
        .unwrap_or(&empty)
    {
        let hand_item = hand.get(path).and_then(Value::as_object).unwrap_or(&empty);
        let mut out = Map::new();
        if let Some(params) = hand_item.get("parameters") {
            out.insert("parameters".into(), params.clone());
        }
        for (method, op) in item.as_object().unwrap_or(&empty) {
            let mut op = op.as_object().cloned().unwrap_or_default();
            if let Some(detail) = hand_item.get(method).and_then(Value::as_object) {
                for (k, v) in detail {
                    op.insert(k.clone(), v.clone());
                }
            }
            out.insert(method.clone(), Value::Object(op));
        }
        paths.insert(path.clone(), Value::Object(out));
    }
    for path in FALLBACK_PATHS {
        if let Some(item) = hand.get(*path) {
            paths.insert((*path).to_owned(), item.clone());
        }
    }
    add_links(&mut paths);
    // Schemas derived from the handlers' serde types replace any hand-written namesake.
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
#[openapi(components(schemas(tokenauth_core::token::TokenView, tokenauth_core::scope::Scope)))]
pub struct Components;

/// Built once: the routes and the detail are fixed at compile time.
static DOCUMENT: OnceLock<Result<Value, String>> = OnceLock::new();

/// The OpenAPI 3 document of this server's HTTP surface.
#[utoipa::path(
    get,
    path = "/rest/tokenauth/1/openapi.json",
    operation_id = "getOpenApiDocument",
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
        for path in detail()["paths"].as_object().expect("paths").keys() {
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
