//! WireMock's recording API under `/__admin/recordings/` (`start`, `stop`, `status`,
//! `snapshot`), and `--record-mappings`: who may aim the proxy is who may change mappings
//! (`AdminCaller`, the admin API's rule), and the audit log names who started a recording and
//! the host it points at, and who saved one and how many mappings it wrote.

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use tokenauth_core::audit::{AuditAction, AuditEvent, ChangedValue};
use wiremock_engine::proxy::origin_of;
use wiremock_engine::recording::RecordSpec;

use super::wiremock_admin::{AdminCaller, wiremock_errors};
use crate::mocks::recorder::{RecorderError, answer};
use crate::state::Shared;

/// WireMock's error shape, 400 with what is wrong.
fn refused(title: &str, pointer: &str) -> Response {
    wiremock_errors(StatusCode::BAD_REQUEST, Some(pointer), title, None)
}

fn recorder_refused(e: &RecorderError) -> Response {
    match e {
        RecorderError::Write(..) => wiremock_errors(
            StatusCode::INTERNAL_SERVER_ERROR,
            None,
            &e.to_string(),
            None,
        ),
        _ => refused(&e.to_string(), ""),
    }
}

/// The record spec a body holds, or what is wrong with it (its message and pointer).
fn spec_of(body: &Bytes) -> Result<RecordSpec, Box<Response>> {
    let v: Value = if body.iter().all(u8::is_ascii_whitespace) {
        Value::Null
    } else {
        match serde_json::from_slice(body) {
            Ok(v) => v,
            Err(e) => return Err(Box::new(refused(&format!("not JSON: {e}"), ""))),
        }
    };
    RecordSpec::parse(&v).map_err(|e| Box::new(refused(&e.to_string(), &e.pointer)))
}

async fn audit(
    state: &Shared,
    action: AuditAction,
    who: &str,
    ip: Option<String>,
    values: Vec<(&str, String)>,
) {
    let mut e = AuditEvent::new(state.auth.now(), action, who);
    e.client_ip = ip;
    e.changed_values = values
        .into_iter()
        .map(|(k, v)| ChangedValue {
            key: k.into(),
            from: String::new(),
            to: v,
        })
        .collect();
    e.bound();
    state.writer.events(vec![e]).await;
}

/// Starts a recording of what the proxy mappings answer; with `targetBaseUrl`, adds a proxy
/// of every request to it first (removed at stop).
#[utoipa::path(
    post,
    path = "/__admin/recordings/start",
    operation_id = "startRecording",
    summary = "Start recording proxied answers as mappings",
    request_body(content = Object, content_type = "application/json", description = "WireMock's record spec: targetBaseUrl, filters, captureHeaders, requestBodyPattern, extractBodyCriteria, persist, repeatsAsScenarios"),
    responses((status = 200, description = "Recording", body = Object), (status = 400, description = "WireMock's error shape", body = ref("#/components/schemas/WireMockErrors"))),
    tag = "wiremock"
)]
pub async fn start(caller: AdminCaller, State(st): State<Shared>, body: Bytes) -> Response {
    let spec = match spec_of(&body) {
        Ok(s) => s,
        Err(r) => return *r,
    };
    let target = spec.target_base_url.clone();
    start_as(&st, spec, target.as_deref(), &caller.who, caller.ip)
        .await
        .map_or_else(|e| *e, |()| Json(json!({})).into_response())
}

async fn start_as(
    st: &Shared,
    spec: RecordSpec,
    target: Option<&str>,
    who: &str,
    ip: Option<String>,
) -> Result<(), Box<Response>> {
    let proxy_mapping = match target {
        Some(url) => {
            let id = wiremock_engine::mapping::random_uuid();
            let v = json!({"id": id, "name": "recording", "priority": 1,
                "request": {"method": "ANY", "urlPattern": ".*"},
                "response": {"proxyBaseUrl": url}});
            if let Err(e) = st.config.mocks.add(&v) {
                return Err(Box::new(refused(&e.to_string(), "/targetBaseUrl")));
            }
            Some(id)
        }
        None => None,
    };
    match st.recorder.start(spec, proxy_mapping.clone()) {
        Ok(true) => {
            let host = target
                .and_then(origin_of)
                .unwrap_or_else(|| "the proxy mappings' own targets".into());
            audit(
                st,
                AuditAction::RecordingStarted,
                who,
                ip,
                vec![("target", host)],
            )
            .await;
            Ok(())
        }
        // Already recording: WireMock leaves the running recording as it is.
        Ok(false) => {
            if let Some(id) = proxy_mapping {
                st.config.mocks.remove(&id);
            }
            Ok(())
        }
        Err(e) => {
            if let Some(id) = proxy_mapping {
                st.config.mocks.remove(&id);
            }
            Err(Box::new(recorder_refused(&e)))
        }
    }
}

/// `--record-mappings`: a recording from the start, of `--proxy-all`'s target, every body in
/// `__files` (as WireMock's `--record-mappings` writes them).
pub async fn record_from_start(st: &Shared, target: Option<&str>) -> Result<(), String> {
    let spec = RecordSpec {
        extract: Some((0, 0)),
        ..RecordSpec::default()
    };
    // The proxy is --proxy-all's mapping: nothing to add.
    match st.recorder.start(spec, None) {
        Ok(_) => {
            let host = target.and_then(origin_of).unwrap_or_default();
            audit(
                st,
                AuditAction::RecordingStarted,
                "tokenauth",
                None,
                vec![("target", host)],
            )
            .await;
            Ok(())
        }
        Err(e) => Err(format!("--record-mappings: {e}")),
    }
}

/// Stops the recording: its mappings, written into `--mappings DIR` and served from now on.
#[utoipa::path(
    post,
    path = "/__admin/recordings/stop",
    operation_id = "stopRecording",
    summary = "Stop recording: the mappings recorded",
    responses((status = 200, description = "The recorded mappings", body = Object), (status = 400, description = "Not recording", body = ref("#/components/schemas/WireMockErrors"))),
    tag = "wiremock"
)]
pub async fn stop(caller: AdminCaller, State(st): State<Shared>) -> Response {
    let (recorded, proxy_mapping) = match st.recorder.stop() {
        Ok(r) => r,
        Err(e) => return recorder_refused(&e),
    };
    if let Some(id) = proxy_mapping {
        st.config.mocks.remove(&id);
    }
    saved(&st, &recorded, false, &caller).await
}

async fn saved(
    st: &Shared,
    recorded: &wiremock_engine::recording::Recorded,
    ids_only: bool,
    caller: &AdminCaller,
) -> Response {
    // Served from now on, as WireMock imports what it recorded.
    if let Err(e) = st.config.mocks.import(&recorded.mappings, true, false) {
        tracing::warn!(target: "tokenauth", "recording: the recorded mappings are written but not served: {e}");
    }
    audit(
        st,
        AuditAction::RecordingSaved,
        &caller.who,
        caller.ip.clone(),
        vec![("mappings", recorded.mappings.len().to_string())],
    )
    .await;
    Json(answer(recorded, ids_only)).into_response()
}

#[utoipa::path(
    get,
    path = "/__admin/recordings/status",
    operation_id = "recordingStatus",
    summary = "NeverStarted, Recording or Stopped",
    responses((status = 200, description = "The recorder's status", body = Object)),
    tag = "wiremock"
)]
pub async fn status(_: AdminCaller, State(st): State<Shared>) -> Json<Value> {
    Json(json!({"status": st.recorder.status().name()}))
}

/// Mappings of every proxied exchange kept so far (WireMock's snapshot of its journal).
#[utoipa::path(
    post,
    path = "/__admin/recordings/snapshot",
    operation_id = "snapshotRecording",
    summary = "Mappings of the proxied answers so far",
    request_body(content = Object, content_type = "application/json", description = "WireMock's record spec (without targetBaseUrl)"),
    responses((status = 200, description = "The mappings", body = Object), (status = 400, description = "WireMock's error shape", body = ref("#/components/schemas/WireMockErrors"))),
    tag = "wiremock"
)]
pub async fn snapshot(caller: AdminCaller, State(st): State<Shared>, body: Bytes) -> Response {
    let spec = match spec_of(&body) {
        Ok(s) => s,
        Err(r) => return *r,
    };
    match st.recorder.snapshot(&spec) {
        Ok(recorded) => saved(&st, &recorded, spec.ids_only, &caller).await,
        Err(e) => recorder_refused(&e),
    }
}
