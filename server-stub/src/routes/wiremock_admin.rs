//! WireMock's admin API under `/__admin/` (SPEC §8): the subset real clients use — the PyPI
//! `wiremock` package, WireMock's Java and JS clients — over the mappings (`crate::mocks::mappings`) and
//! the request journal (`crate::mocks::journal`).
//!
//! Who may call it: a client on this machine (`crate::authentication::local`: a loopback peer with no sign of
//! a proxy or of a web page) needs no credentials, as with WireMock; any other client needs
//! an administrator's credentials, checked by the same token rules as `/rest/` (the middleware
//! authenticates `/__admin/` requests that are not local). A Read Only admin token may read,
//! not change.
//!
//! Differences from WireMock, on purpose: mappings are not written back to files (`persistent`
//! is accepted and ignored); the journal is redacted (see `crate::mocks::journal`), so a count by
//! `Authorization` or cookie value finds nothing.

use utoipa::IntoParams;

use super::answers::ErrorBody;
use super::params::{MappingIdParam, RequestIdParam};
use std::net::SocketAddr;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, FromRequestParts, Path, Query, State};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};
use tokenauth_core::auth::Principal;

use crate::error::ApiError;
use crate::mocks::journal::Entry;
use crate::mocks::journal_json::{entry_json, request_json};
use crate::mocks::mappings::AdminError;
use crate::state::Shared;
use wiremock_engine::RequestPattern;

/// A caller the admin API serves: local, or an authenticated administrator; who, for the
/// audit log of what it may only audit (a recording started, and where it points).
pub struct AdminCaller {
    /// The administrator's name, or [`LOCAL_CALLER`].
    pub who: String,
    pub ip: Option<String>,
}

/// The author of what a local caller, who needs no credentials, did.
pub const LOCAL_CALLER: &str = "local client";

impl FromRequestParts<Shared> for AdminCaller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &Shared) -> Result<Self, ApiError> {
        let ip = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0.ip().to_string());
        if let Some(p) = parts.extensions.get::<Principal>() {
            return if state.auth.is_admin(&p.user) {
                Ok(AdminCaller {
                    who: p.user.name.clone(),
                    ip,
                })
            } else {
                Err(ApiError::Forbidden(
                    "Administrator rights are required for the WireMock admin API".into(),
                ))
            };
        }
        match parts.extensions.get::<ConnectInfo<SocketAddr>>() {
            Some(ConnectInfo(peer)) if state.is_local(*peer, &parts.headers, &parts.uri) => {
                Ok(AdminCaller {
                    who: LOCAL_CALLER.into(),
                    ip,
                })
            }
            // The middleware authenticates every non-local call, so this is not reached; if it
            // were, refusing is the safe answer.
            _ => Err(ApiError::Forbidden(
                "the WireMock admin API needs an administrator's credentials from another machine"
                    .into(),
            )),
        }
    }
}

/// WireMock's error shape: `{"errors": [{"code", "source": {"pointer"}, "title"}]}`, 422 for a
/// mapping that does not parse (as WireMock 3 answers).
fn refused(e: &AdminError) -> Response {
    let (status, pointer) = match e {
        AdminError::Invalid(m) => (StatusCode::UNPROCESSABLE_ENTITY, m.pointer.clone()),
        AdminError::NotJson(_) => (StatusCode::UNPROCESSABLE_ENTITY, String::new()),
        AdminError::Full | AdminError::TooLarge(..) | AdminError::TooManyCredentialValues(..) => {
            (StatusCode::BAD_REQUEST, String::new())
        }
    };
    wiremock_errors(
        status,
        Some(&pointer),
        "Error parsing JSON",
        Some(&e.to_string()),
    )
}

/// WireMock's error shape, `{"errors": [{"code": 10, "source": {"pointer"}, "title", "detail"}]}`:
/// every refusal of the admin API answers in it (the recordings' too).
pub fn wiremock_errors(
    status: StatusCode,
    pointer: Option<&str>,
    title: &str,
    detail: Option<&str>,
) -> Response {
    let mut error = json!({"code": 10, "title": title});
    if let Some(p) = pointer {
        error["source"] = json!({"pointer": p});
    }
    if let Some(d) = detail {
        error["detail"] = json!(d);
    }
    (status, Json(json!({ "errors": [error] }))).into_response()
}

fn json_body(body: &Bytes) -> Result<Value, AdminError> {
    serde_json::from_slice(body).map_err(|e| AdminError::NotJson(e.to_string()))
}

fn not_found(what: &str) -> Response {
    ApiError::NotFound(format!("No {what} with that id")).into_response()
}

#[utoipa::path(
    get,
    path = "/__admin/mappings",
    operation_id = "listMappings",
    summary = "Stub mappings (WireMock admin API)",
    responses((status = 200, description = "The mappings", body = ref("#/components/schemas/StubMappings"))),
    tag = "wiremock"
)]
pub async fn list_mappings(_: AdminCaller, State(st): State<Shared>) -> Json<Value> {
    let list = st.config.mocks.list();
    let total = list.len();
    Json(json!({"mappings": list, "meta": {"total": total}}))
}

#[utoipa::path(
    post,
    path = "/__admin/mappings",
    operation_id = "createMapping",
    request_body(content = ref("#/components/schemas/StubMappingInput"), content_type = "application/json"),
    summary = "Add a stub mapping",
    responses((status = 201, description = "The mapping as stored, with its id", body = ref("#/components/schemas/StubMapping")), (status = 400, description = "WireMock's error shape: what is wrong, with a JSON pointer", body = ref("#/components/schemas/WireMockErrors")), (status = 422, description = "WireMock's error shape: what is wrong, with a JSON pointer", body = ref("#/components/schemas/WireMockErrors"))),
    tag = "wiremock"
)]
pub async fn create_mapping(_: AdminCaller, State(st): State<Shared>, body: Bytes) -> Response {
    let v = match json_body(&body) {
        Ok(v) => v,
        Err(e) => return refused(&e),
    };
    match st.config.mocks.add(&v) {
        Ok(shown) => (StatusCode::CREATED, Json(shown)).into_response(),
        Err(e) => refused(&e),
    }
}

#[utoipa::path(
    get,
    path = "/__admin/mappings/{id}",
    operation_id = "getMapping",
    summary = "One stub mapping",
    params(MappingIdParam),
    responses((status = 200, description = "The mapping", body = ref("#/components/schemas/StubMapping")), (status = 404, description = "No mapping with that id", body = ErrorBody)),
    tag = "wiremock"
)]
pub async fn get_mapping(
    _: AdminCaller,
    State(st): State<Shared>,
    Path(id): Path<String>,
) -> Response {
    match st.config.mocks.get(&id) {
        Some(m) => Json(m).into_response(),
        None => not_found("mapping"),
    }
}

#[utoipa::path(
    put,
    path = "/__admin/mappings/{id}",
    operation_id = "updateMapping",
    request_body(content = ref("#/components/schemas/StubMappingInput"), content_type = "application/json"),
    summary = "Replace a stub mapping",
    params(MappingIdParam),
    responses((status = 200, description = "The mapping as stored", body = ref("#/components/schemas/StubMapping")), (status = 404, description = "No mapping with that id", body = ErrorBody), (status = 400, description = "WireMock's error shape: what is wrong, with a JSON pointer", body = ref("#/components/schemas/WireMockErrors")), (status = 422, description = "WireMock's error shape: what is wrong, with a JSON pointer", body = ref("#/components/schemas/WireMockErrors"))),
    tag = "wiremock"
)]
pub async fn put_mapping(
    _: AdminCaller,
    State(st): State<Shared>,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    let v = match json_body(&body) {
        Ok(v) => v,
        Err(e) => return refused(&e),
    };
    match st.config.mocks.replace(&id, &v) {
        Ok(Some(shown)) => Json(shown).into_response(),
        Ok(None) => not_found("mapping"),
        Err(e) => refused(&e),
    }
}

#[utoipa::path(
    delete,
    path = "/__admin/mappings/{id}",
    operation_id = "deleteMapping",
    summary = "Remove a stub mapping",
    params(MappingIdParam),
    responses((status = 200, description = "Done", body = Object), (status = 404, description = "No mapping with that id", body = ErrorBody)),
    tag = "wiremock"
)]
pub async fn delete_mapping(
    _: AdminCaller,
    State(st): State<Shared>,
    Path(id): Path<String>,
) -> Response {
    if st.config.mocks.remove(&id) {
        Json(json!({})).into_response()
    } else {
        not_found("mapping")
    }
}

#[utoipa::path(
    delete,
    path = "/__admin/mappings",
    operation_id = "deleteAllMappings",
    summary = "Remove every stub mapping",
    responses((status = 200, description = "Done", body = Object)),
    tag = "wiremock"
)]
pub async fn delete_mappings(_: AdminCaller, State(st): State<Shared>) -> Json<Value> {
    st.config.mocks.remove_all();
    Json(json!({}))
}

#[utoipa::path(
    post,
    path = "/__admin/mappings/reset",
    operation_id = "resetMappings",
    summary = "Back to the mappings loaded at start",
    responses((status = 200, description = "Done", body = Object)),
    tag = "wiremock"
)]
pub async fn reset_mappings(_: AdminCaller, State(st): State<Shared>) -> Json<Value> {
    st.config.mocks.reset();
    Json(json!({}))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ImportOptions {
    #[serde(default)]
    duplicate_policy: Option<String>,
    #[serde(default)]
    delete_all_not_in_import: bool,
}

#[utoipa::path(
    post,
    path = "/__admin/mappings/import",
    operation_id = "importMappings",
    request_body(content = ref("#/components/schemas/MappingsImport"), content_type = "application/json"),
    summary = "Import mappings ({mappings: [...], importOptions: {duplicatePolicy, deleteAllNotInImport}})",
    responses((status = 200, description = "Done", body = Object), (status = 400, description = "WireMock's error shape: what is wrong, with a JSON pointer", body = ref("#/components/schemas/WireMockErrors")), (status = 422, description = "WireMock's error shape: what is wrong, with a JSON pointer", body = ref("#/components/schemas/WireMockErrors"))),
    tag = "wiremock"
)]
pub async fn import_mappings(_: AdminCaller, State(st): State<Shared>, body: Bytes) -> Response {
    let v = match json_body(&body) {
        Ok(v) => v,
        Err(e) => return refused(&e),
    };
    let Some(list) = v.get("mappings").and_then(Value::as_array) else {
        return refused(&AdminError::Invalid(wiremock_engine::MappingError {
            pointer: "/mappings".into(),
            kind: wiremock_engine::mapping::ErrorKind::Expected("an array"),
        }));
    };
    let options: ImportOptions = v
        .get("importOptions")
        .and_then(|o| serde_json::from_value(o.clone()).ok())
        .unwrap_or(ImportOptions {
            duplicate_policy: None,
            delete_all_not_in_import: false,
        });
    let overwrite = !options
        .duplicate_policy
        .is_some_and(|p| p.eq_ignore_ascii_case("IGNORE"));
    match st
        .config
        .mocks
        .import(list, overwrite, options.delete_all_not_in_import)
    {
        Ok(_) => Json(json!({})).into_response(),
        Err(e) => refused(&e),
    }
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct JournalQuery {
    /// At most this many, newest first.
    #[param(minimum = 0)]
    limit: Option<usize>,
}

fn entry_with_stub(st: &Shared, e: &Entry) -> Value {
    let stub = match &e.mappings {
        Some(Some(s)) => st.config.mocks.get(&s.id),
        _ => None,
    };
    entry_json(e, stub)
}

/// Newest first. Written entry by entry: a journal of 10,000 requests as one JSON tree would
/// cost several times its size at once.
#[utoipa::path(
    get,
    path = "/__admin/requests",
    operation_id = "listRequests",
    summary = "The request journal, newest first",
    params(JournalQuery),
    responses((status = 200, description = "Journaled requests", body = ref("#/components/schemas/JournaledRequests")), (status = 400, description = "limit is not a number", body = String, content_type = "text/plain")),
    tag = "wiremock"
)]
pub async fn list_requests(
    _: AdminCaller,
    State(st): State<Shared>,
    Query(q): Query<JournalQuery>,
) -> Response {
    let (entries, total) = st.journal.newest(q.limit.unwrap_or(usize::MAX));
    let mut out = String::from("{\"requests\":[");
    for (i, e) in entries.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(&entry_with_stub(&st, e).to_string());
    }
    out.push_str(&format!(
        "],\"meta\":{{\"total\":{total}}},\"requestJournalDisabled\":{}}}",
        !st.journal.enabled()
    ));
    (
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        out,
    )
        .into_response()
}

#[utoipa::path(
    get,
    path = "/__admin/requests/{id}",
    operation_id = "getRequest",
    summary = "One journaled request",
    params(RequestIdParam),
    responses((status = 200, description = "The request", body = ref("#/components/schemas/JournaledRequest")), (status = 404, description = "No request with that id", body = ErrorBody)),
    tag = "wiremock"
)]
pub async fn get_request(
    _: AdminCaller,
    State(st): State<Shared>,
    Path(id): Path<String>,
) -> Response {
    match st.journal.get(&id) {
        Some(e) => Json(entry_with_stub(&st, &e)).into_response(),
        None => not_found("request"),
    }
}

#[utoipa::path(
    delete,
    path = "/__admin/requests",
    operation_id = "deleteAllRequests",
    summary = "Clear the request journal",
    responses((status = 200, description = "Done", body = Object)),
    tag = "wiremock"
)]
pub async fn clear_requests(_: AdminCaller, State(st): State<Shared>) -> Json<Value> {
    st.journal.clear();
    Json(json!({}))
}

/// `POST /__admin/requests/reset`, WireMock's older spelling of `DELETE /__admin/requests`: its
/// own function so that each documented operation has one path and one operationId.
#[utoipa::path(
    post,
    path = "/__admin/requests/reset",
    operation_id = "resetRequests",
    summary = "Clear the request journal (WireMock's older spelling)",
    responses((status = 200, description = "Done", body = Object)),
    tag = "wiremock"
)]
pub async fn reset_requests(caller: AdminCaller, st: State<Shared>) -> Json<Value> {
    clear_requests(caller, st).await
}

fn pattern(body: &Bytes) -> Result<RequestPattern, AdminError> {
    let v = json_body(body)?;
    Ok(RequestPattern::parse(&v, "")?)
}

#[utoipa::path(
    post,
    path = "/__admin/requests/count",
    operation_id = "countRequests",
    request_body(content = ref("#/components/schemas/RequestPattern"), content_type = "application/json"),
    summary = "Count journaled requests matching a pattern",
    responses((status = 200, description = "The count", body = ref("#/components/schemas/RequestCount")), (status = 400, description = "WireMock's error shape: what is wrong, with a JSON pointer", body = ref("#/components/schemas/WireMockErrors")), (status = 422, description = "WireMock's error shape: what is wrong, with a JSON pointer", body = ref("#/components/schemas/WireMockErrors"))),
    tag = "wiremock"
)]
pub async fn count_requests(_: AdminCaller, State(st): State<Shared>, body: Bytes) -> Response {
    match pattern(&body) {
        Ok(p) => Json(json!({"count": st.journal.count(&p)})).into_response(),
        Err(e) => refused(&e),
    }
}

#[utoipa::path(
    post,
    path = "/__admin/requests/find",
    operation_id = "findRequests",
    request_body(content = ref("#/components/schemas/RequestPattern"), content_type = "application/json"),
    summary = "Journaled requests matching a pattern",
    responses((status = 200, description = "Matching requests", body = ref("#/components/schemas/JournaledRequests")), (status = 400, description = "WireMock's error shape: what is wrong, with a JSON pointer", body = ref("#/components/schemas/WireMockErrors")), (status = 422, description = "WireMock's error shape: what is wrong, with a JSON pointer", body = ref("#/components/schemas/WireMockErrors"))),
    tag = "wiremock"
)]
pub async fn find_requests(_: AdminCaller, State(st): State<Shared>, body: Bytes) -> Response {
    match pattern(&body) {
        Ok(p) => {
            let list: Vec<Value> = st
                .journal
                .matching(&p)
                .iter()
                .map(|e| request_json(e))
                .collect();
            Json(json!({"requests": list})).into_response()
        }
        Err(e) => refused(&e),
    }
}

#[utoipa::path(
    get,
    path = "/__admin/requests/unmatched",
    operation_id = "listUnmatchedRequests",
    summary = "Journaled requests no mapping matched",
    responses((status = 200, description = "Unmatched requests", body = ref("#/components/schemas/JournaledRequests"))),
    tag = "wiremock"
)]
pub async fn unmatched_requests(_: AdminCaller, State(st): State<Shared>) -> Json<Value> {
    let list: Vec<Value> = st
        .journal
        .unmatched()
        .iter()
        .map(|e| request_json(e))
        .collect();
    Json(json!({"requests": list}))
}

/// How many of the newest unmatched requests the near-miss report covers.
const NEAR_MISS_REQUESTS: usize = 100;

/// For each of the newest unmatched requests, the closest mapping (WireMock's near-miss
/// report), scored on the blocking pool.
#[utoipa::path(
    get,
    path = "/__admin/requests/unmatched/near-misses",
    operation_id = "listUnmatchedNearMisses",
    summary = "The closest mappings to each unmatched request",
    responses((status = 200, description = "Near misses", body = ref("#/components/schemas/NearMisses"))),
    tag = "wiremock"
)]
pub async fn unmatched_near_misses(_: AdminCaller, State(st): State<Shared>) -> Json<Value> {
    let mut unmatched = st.journal.unmatched();
    let skip = unmatched.len().saturating_sub(NEAR_MISS_REQUESTS);
    let unmatched = unmatched.split_off(skip);
    let mocks = std::sync::Arc::clone(&st.config.mocks);
    let out = tokio::task::spawn_blocking(move || {
        let mut out = Vec::new();
        for e in unmatched {
            if let Some(n) = mocks.near_misses(&e.request, 1, true).into_iter().next() {
                let distance = if n.total == 0 {
                    1.0
                } else {
                    1.0 - f64::from(n.matched) / f64::from(n.total)
                };
                out.push(json!({
                    "request": request_json(&e),
                    "stubMapping": mocks.get(&n.id),
                    "matchResult": {"distance": distance},
                }));
            }
        }
        out
    })
    .await
    .unwrap_or_default();
    Json(json!({"nearMisses": out}))
}

#[utoipa::path(
    get,
    path = "/__admin/scenarios",
    operation_id = "listScenarios",
    summary = "Scenarios and their states",
    responses((status = 200, description = "Scenarios", body = ref("#/components/schemas/Scenarios"))),
    tag = "wiremock"
)]
pub async fn list_scenarios(_: AdminCaller, State(st): State<Shared>) -> Json<Value> {
    Json(json!({"scenarios": st.config.mocks.scenarios_json()}))
}

#[utoipa::path(
    post,
    path = "/__admin/scenarios/reset",
    operation_id = "resetScenarios",
    summary = "Every scenario back to Started",
    responses((status = 200, description = "Done", body = Object)),
    tag = "wiremock"
)]
pub async fn reset_scenarios(_: AdminCaller, State(st): State<Shared>) -> Json<Value> {
    st.config.mocks.reset_scenarios();
    Json(json!({}))
}

/// Everything back to the start: the loaded mappings, an empty journal, every scenario
/// `Started`.
#[utoipa::path(
    post,
    path = "/__admin/reset",
    operation_id = "resetAll",
    summary = "Reset mappings, journal and scenarios",
    responses((status = 200, description = "Done", body = Object)),
    tag = "wiremock"
)]
pub async fn reset_all(_: AdminCaller, State(st): State<Shared>) -> Json<Value> {
    st.config.mocks.reset();
    st.config.mocks.reset_scenarios();
    st.journal.clear();
    Json(json!({}))
}
