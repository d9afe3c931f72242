//! Proxied exchanges → stub mappings and body files, as WireMock's recorder writes them
//! (`POST /__admin/recordings/stop` and `/snapshot`, `--record-mappings`): the request as
//! `url` (or `urlPath` with `queryParameters`), `method`, the captured headers and a body
//! pattern; the response's status, headers and body; repeats of one request as a scenario that
//! replays their answers in order; large bodies in `__files`.
//!
//! Pure data: the server hands in [`Exchange`]s it has already stripped of every credential
//! (this module never sees one, and refuses to capture a credential header), and writes what
//! [`snapshot`] returns.
//!
//! Differences from WireMock, each because the stub must load what it records: a query with a
//! repeated parameter is recorded as the whole `url` (WireMock writes `hasExactly`); a binary or
//! multipart request body gets no body pattern (WireMock writes `binaryEqualTo` / `anything`);
//! an XML body is compared with `equalTo` (WireMock writes `equalToXml`).

use base64::Engine as _;
use serde_json::{Map, Value, json};

use crate::mapping::STARTED;
use crate::request::MockRequest;

/// One request the server forwarded and the answer it got, credentials already removed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exchange {
    /// The recorded mapping's id (a UUID, given when the exchange was captured).
    pub id: String,
    pub method: String,
    /// Path and query as the client sent them.
    pub url: String,
    pub request_headers: Vec<(String, String)>,
    pub request_body: Vec<u8>,
    pub status: u16,
    /// Without `Content-Length`, `Content-Encoding`, `Transfer-Encoding` (as WireMock drops them).
    pub response_headers: Vec<(String, String)>,
    /// Decoded (the server asks the upstream for an uncompressed answer).
    pub response_body: Vec<u8>,
    /// Whether a proxy answered it (a snapshot takes only those, unless `allowNonProxied`).
    pub proxied: bool,
}

/// A body file: its name under `__files/` and its bytes.
pub type BodyFile = (String, Vec<u8>);

/// What a snapshot made: mapping documents (newest first, as WireMock lists them) and the body
/// files they name, relative to `__files/`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Recorded {
    pub mappings: Vec<Value>,
    pub files: Vec<BodyFile>,
}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

fn mime(headers: &[(String, String)]) -> String {
    header(headers, "content-type")
        .and_then(|c| c.split(';').next())
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase()
}

/// WireMock's `ContentTypes.determineIsTextFromMimeType`, near enough.
fn is_text_mime(mime: &str) -> bool {
    mime.starts_with("text/")
        || [
            "json",
            "xml",
            "html",
            "javascript",
            "x-www-form-urlencoded",
            "csv",
            "yaml",
        ]
        .iter()
        .any(|t| mime.contains(t))
}

fn body_pattern(spec: &BodyPattern, e: &Exchange) -> Option<Value> {
    if e.request_body.is_empty() {
        return None;
    }
    let mime = mime(&e.request_headers);
    let text = std::str::from_utf8(&e.request_body).ok()?;
    let json_ok = serde_json::from_str::<Value>(text).is_ok();
    Some(match *spec {
        BodyPattern::Auto {
            ignore_array_order,
            ignore_extra_elements,
            case_insensitive,
        } => {
            if mime.contains("json") && json_ok {
                json!({"equalToJson": text, "ignoreArrayOrder": ignore_array_order, "ignoreExtraElements": ignore_extra_elements})
            } else if mime == "multipart/form-data" || (!mime.is_empty() && !is_text_mime(&mime)) {
                return None;
            } else if case_insensitive {
                json!({"equalTo": text, "caseInsensitive": true})
            } else {
                json!({"equalTo": text})
            }
        }
        BodyPattern::EqualTo { case_insensitive } if case_insensitive => {
            json!({"equalTo": text, "caseInsensitive": true})
        }
        BodyPattern::EqualTo { .. } => json!({"equalTo": text}),
        BodyPattern::EqualToJson {
            ignore_array_order,
            ignore_extra_elements,
        } if json_ok => {
            json!({"equalToJson": text, "ignoreArrayOrder": ignore_array_order, "ignoreExtraElements": ignore_extra_elements})
        }
        BodyPattern::EqualToJson { .. } => json!({"equalTo": text}),
    })
}

/// The request part of a recorded mapping.
fn request_json(spec: &RecordSpec, e: &Exchange) -> Value {
    let req = MockRequest::new(&e.method, &e.url);
    let params = req.query_params();
    let mut m = Map::new();
    let repeated = params
        .iter()
        .enumerate()
        .any(|(i, (k, _))| params[..i].iter().any(|(k2, _)| k2 == k));
    if params.is_empty() || repeated {
        m.insert("url".into(), Value::String(e.url.clone()));
    } else {
        m.insert("urlPath".into(), Value::String(req.path().to_owned()));
        let q: Map<String, Value> = params
            .into_iter()
            .map(|(k, v)| (k, json!({"equalTo": v})))
            .collect();
        m.insert("queryParameters".into(), Value::Object(q));
    }
    m.insert("method".into(), Value::String(e.method.clone()));
    let mut headers = Map::new();
    for (name, ci) in &spec.capture_headers {
        if let Some(v) = header(&e.request_headers, name) {
            let matcher = if *ci {
                json!({"equalTo": v, "caseInsensitive": true})
            } else {
                json!({"equalTo": v})
            };
            headers.insert(name.clone(), matcher);
        }
    }
    if !headers.is_empty() {
        m.insert("headers".into(), Value::Object(headers));
    }
    if let Some(p) = body_pattern(&spec.body_pattern, e) {
        m.insert("bodyPatterns".into(), json!([p]));
    }
    Value::Object(m)
}

/// The response part, its body inline (`body` for text, `base64Body` otherwise).
fn response_json(e: &Exchange) -> Value {
    let mut m = Map::new();
    m.insert("status".into(), json!(e.status));
    if !e.response_body.is_empty() {
        match std::str::from_utf8(&e.response_body) {
            Ok(t)
                if is_text_mime(&mime(&e.response_headers))
                    || mime(&e.response_headers).is_empty() =>
            {
                m.insert("body".into(), Value::String(t.to_owned()));
            }
            _ => {
                let b64 = base64::engine::general_purpose::STANDARD.encode(&e.response_body);
                m.insert("base64Body".into(), Value::String(b64));
            }
        }
    }
    let kept = e.response_headers.iter().filter(|(n, _)| {
        !["content-length", "content-encoding", "transfer-encoding"]
            .iter()
            .any(|x| n.eq_ignore_ascii_case(x))
    });
    let mut h = Map::new();
    {
        for (name, value) in kept {
            // A header sent more than once becomes a list, as WireMock writes it.
            match h.get_mut(name) {
                Some(Value::Array(list)) => list.push(Value::String(value.clone())),
                Some(first) => {
                    let was = first.take();
                    *first = json!([was, value]);
                }
                None => {
                    h.insert(name.clone(), Value::String(value.clone()));
                }
            }
        }
    }
    if !h.is_empty() {
        m.insert("headers".into(), Value::Object(h));
    }
    Value::Object(m)
}

/// WireMock's `FilenameMaker.sanitizeUrl`: `/rest/api/2/issue/X-1` → `rest_api_2_issue_x-1`.
pub fn sanitized_name(path: &str) -> String {
    let s: String = path
        .replace('/', "_")
        .chars()
        .map(|c| if c.is_whitespace() { '-' } else { c })
        .filter(|c| c.is_alphanumeric() || matches!(c, '_' | '-' | '.'))
        .collect::<String>()
        .to_lowercase();
    let s = s.trim_matches('_');
    s.chars().take(200).collect()
}

/// The extension of a body file, from the answer's content type or the path.
fn extension(path: &str, headers: &[(String, String)], body: &[u8]) -> String {
    let mime = mime(headers);
    if mime.contains("json") {
        return "json".into();
    }
    if mime.contains("xml") {
        return "xml".into();
    }
    if mime.contains("html") {
        return "html".into();
    }
    if mime.contains("text") {
        return "txt".into();
    }
    // A type that names its own extension (`image/png`, `application/pdf`); any other binary
    // one is `bin`, as WireMock's table has it.
    if let Some((kind, sub)) = mime.split_once('/')
        && !is_text_mime(&mime)
    {
        let known = ["png", "jpeg", "gif", "pdf", "zip", "svg+xml", "webp"];
        return match sub {
            "jpeg" => "jpg".into(),
            "svg+xml" => "svg".into(),
            s if known.contains(&s) && matches!(kind, "image" | "application") => s.into(),
            _ => "bin".into(),
        };
    }
    let last = path.rsplit('/').next().unwrap_or_default();
    if let Some((_, ext)) = last.rsplit_once('.') {
        let ext = sanitized_name(ext);
        if !ext.is_empty() && !ext.contains('.') {
            return ext;
        }
    }
    match std::str::from_utf8(body) {
        Ok(t) if serde_json::from_str::<Value>(t).is_ok() => "json".into(),
        Ok(_) => "txt".into(),
        Err(_) => "bin".into(),
    }
}

/// Whether `spec` takes this exchange: one a proxy answered (or any, with `allowNonProxied`)
/// whose request the `filters` match.
pub fn takes(spec: &RecordSpec, e: &Exchange) -> bool {
    (e.proxied || spec.allow_non_proxied)
        && spec.filters.as_ref().is_none_or(|f| {
            let mut r = MockRequest::new(&e.method, &e.url).body(e.request_body.clone());
            for (n, v) in &e.request_headers {
                r.push_header(n, v);
            }
            f.matches(&r)
        })
}

/// The request part of the mapping `e` makes: exchanges with the same one are a group (one
/// mapping, or a scenario of several).
pub fn request_key(spec: &RecordSpec, e: &Exchange) -> Value {
    request_json(spec, e)
}

/// The mappings (and body files) of one group, its exchanges oldest first: the newest alone
/// without `repeatsAsScenarios`; several as the scenario numbered `scenario_index`.
pub fn group_mappings(
    spec: &RecordSpec,
    request: &Value,
    list: &[&Exchange],
    scenario_index: usize,
) -> Vec<(Value, Option<BodyFile>)> {
    let list: &[&Exchange] = match list {
        [.., last] if !spec.repeats_as_scenarios => std::slice::from_ref(last),
        _ => list,
    };
    let scenario = (list.len() > 1).then(|| {
        let req = MockRequest::new("GET", &list[0].url);
        let parts: Vec<&str> = req.path().split('/').filter(|s| !s.is_empty()).collect();
        format!("scenario-{scenario_index}-{}", parts.join("-"))
    });
    let n = list.len();
    let mut out = Vec::with_capacity(n);
    for (i, e) in list.iter().enumerate() {
        let path = MockRequest::new(&e.method, &e.url).path().to_owned();
        let name = sanitized_name(&path);
        let mut m = Map::new();
        m.insert("id".into(), Value::String(e.id.clone()));
        m.insert("name".into(), Value::String(name.clone()));
        m.insert("request".into(), request.clone());
        let mut response = response_json(e);
        let mut file = None;
        if let Some((text_max, binary_max)) = spec.extract {
            let is_text = response.get("body").is_some();
            let len = e.response_body.len() as u64;
            if (is_text && len > text_max) || (!is_text && len > binary_max && len > 0) {
                let ext = extension(&path, &e.response_headers, &e.response_body);
                let stem = if name.is_empty() {
                    "root"
                } else {
                    name.as_str()
                };
                let file_name = format!("{stem}-{}.{ext}", e.id);
                if let Some(r) = response.as_object_mut() {
                    r.remove("body");
                    r.remove("base64Body");
                    r.insert("bodyFileName".into(), Value::String(file_name.clone()));
                }
                file = Some((file_name, e.response_body.clone()));
            }
        }
        m.insert("response".into(), response);
        m.insert("uuid".into(), Value::String(e.id.clone()));
        if spec.persist {
            m.insert("persistent".into(), Value::Bool(true));
        }
        if let Some(s) = &scenario {
            m.insert("scenarioName".into(), Value::String(s.clone()));
            let required = if i == 0 {
                STARTED.to_owned()
            } else {
                format!("{s}-{}", i + 1)
            };
            m.insert("requiredScenarioState".into(), Value::String(required));
            if i + 1 < n {
                m.insert(
                    "newScenarioState".into(),
                    Value::String(format!("{s}-{}", i + 2)),
                );
            }
        }
        out.push((Value::Object(m), file));
    }
    out
}

/// The mappings and files the `exchanges` (oldest first) make under `spec`, newest first as
/// WireMock answers a snapshot; scenarios numbered in the order their requests first came.
pub fn snapshot<'a>(
    exchanges: impl IntoIterator<Item = &'a Exchange>,
    spec: &RecordSpec,
) -> Recorded {
    // Grouped by the request part, in order of first appearance; each exchange keeps its place.
    let mut index: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
    let mut groups: Vec<(Value, Vec<(usize, &Exchange)>)> = Vec::new();
    for (position, e) in exchanges.into_iter().enumerate() {
        if !takes(spec, e) {
            continue;
        }
        let request = request_json(spec, e);
        let key = request.to_string();
        match index.get(&key) {
            Some(&g) => groups[g].1.push((position, e)),
            None => {
                index.insert(key, groups.len());
                groups.push((request, vec![(position, e)]));
            }
        }
    }
    let mut out: Vec<(usize, Value, Option<BodyFile>)> = Vec::new();
    let mut scenario_index = 0;
    for (request, list) in groups {
        if list.len() > 1 && spec.repeats_as_scenarios {
            scenario_index += 1;
        }
        let refs: Vec<&Exchange> = list.iter().map(|(_, e)| *e).collect();
        let made = group_mappings(spec, &request, &refs, scenario_index);
        // `group_mappings` keeps the newest alone without scenarios: positions from the end.
        let positions = list.iter().rev().take(made.len()).rev().map(|(p, _)| *p);
        for (position, (m, f)) in positions.zip(made) {
            out.push((position, m, f));
        }
    }
    out.sort_by_key(|(p, _, _)| std::cmp::Reverse(*p));
    let mut recorded = Recorded::default();
    for (_, m, f) in out {
        recorded.mappings.push(m);
        recorded.files.extend(f);
    }
    recorded
}

/// The file a recorded mapping is written to under `mappings/`: `<name>-<id>.json`.
pub fn mapping_file_name(mapping: &Value) -> String {
    let name = mapping
        .get("name")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let id = mapping
        .get("id")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let id: String = id
        .chars()
        .filter(|c| c.is_ascii_hexdigit() || *c == '-')
        .collect();
    if name.is_empty() {
        format!("mapping-{id}.json")
    } else {
        format!("{name}-{id}.json")
    }
}

mod spec;
pub use spec::{BodyPattern, RecordSpec};

#[cfg(test)]
mod tests;
