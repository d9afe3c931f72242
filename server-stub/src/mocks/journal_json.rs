//! The journal's entries as WireMock's admin API writes them (`GET /__admin/requests` and its
//! family), with what the stub decided in each entry's `tokenauth` member. Read from redacted
//! entries only: [`super::journal::Journal`] hands out nothing else.

use base64::Engine as _;
use serde_json::{Map, Value, json};

use super::journal::{Decided, Entry, REDACTED};

/// Headers as WireMock's journal writes them: a name with one value maps to the value, with
/// several to the list.
fn headers_json(headers: &[(String, String)]) -> Value {
    let mut m = Map::new();
    for (n, v) in headers {
        match m.get_mut(n) {
            None => {
                m.insert(n.clone(), Value::String(v.clone()));
            }
            Some(Value::Array(list)) => list.push(Value::String(v.clone())),
            Some(old) => {
                let first = old.take();
                *old = Value::Array(vec![first, Value::String(v.clone())]);
            }
        }
    }
    Value::Object(m)
}

fn body_fields(m: &mut Map<String, Value>, body: &[u8]) {
    m.insert(
        "body".into(),
        Value::String(String::from_utf8_lossy(body).into_owned()),
    );
    m.insert(
        "bodyAsBase64".into(),
        Value::String(base64::engine::general_purpose::STANDARD.encode(body)),
    );
}

/// The `request` part of an entry (also what `/requests/find` and `/requests/unmatched` list).
pub fn request_json(e: &Entry) -> Value {
    let r = &e.request;
    let mut query = Map::new();
    for (k, v) in r.query_params() {
        let slot = query
            .entry(k.clone())
            .or_insert_with(|| json!({"key": k, "values": []}));
        if let Some(values) = slot.get_mut("values").and_then(Value::as_array_mut) {
            values.push(Value::String(v));
        }
    }
    let mut cookies = Map::new();
    // Cookie values are credentials: named, never shown.
    for name in r.cookie_names() {
        cookies.insert(name, Value::String(REDACTED.into()));
    }
    let mut m = Map::new();
    m.insert("url".into(), Value::String(r.url().to_owned()));
    let host = r
        .header_values("host")
        .next()
        .or(e.authority.as_deref())
        .unwrap_or("localhost");
    m.insert(
        "absoluteUrl".into(),
        Value::String(format!("{}://{host}{}", e.scheme, r.url())),
    );
    m.insert("method".into(), Value::String(r.method.clone()));
    m.insert(
        "clientIp".into(),
        Value::String(e.client_ip.map(|ip| ip.to_string()).unwrap_or_default()),
    );
    m.insert("headers".into(), headers_json(r.headers()));
    m.insert("cookies".into(), Value::Object(cookies));
    m.insert("queryParams".into(), Value::Object(query));
    m.insert("browserProxyRequest".into(), Value::Bool(false));
    m.insert("loggedDate".into(), json!(e.logged_ms));
    m.insert(
        "loggedDateString".into(),
        Value::String(tokenauth_core::clock::to_rfc3339(e.logged_ms)),
    );
    body_fields(&mut m, &r.body);
    Value::Object(m)
}

/// What the stub decided, in the entry's `tokenauth` member.
fn decision_json(e: &Entry) -> Value {
    let mut m = Map::new();
    match &e.decided {
        None => {
            m.insert("decision".into(), json!("anonymous"));
        }
        Some(Decided::Allowed {
            user,
            how,
            token_id,
        }) => {
            m.insert("decision".into(), json!("allowed"));
            m.insert("user".into(), json!(user));
            m.insert("authType".into(), json!(how));
            if let Some(t) = token_id {
                m.insert("tokenId".into(), json!(t));
            }
        }
        Some(Decided::Refused {
            status,
            kind,
            reason,
        }) => {
            m.insert("decision".into(), json!("refused"));
            m.insert(
                "refusal".into(),
                json!({"status": status, "kind": kind, "reason": reason}),
            );
        }
    }
    m.insert(
        "answeredBy".into(),
        json!(match &e.mappings {
            Some(Some(_)) => "mapping",
            Some(None) => "unmatched",
            None if matches!(e.decided, Some(Decided::Refused { .. })) => "token rules",
            None => "server",
        }),
    );
    if let Some(Some(s)) = &e.mappings {
        m.insert("matchedMapping".into(), json!({"id": s.id, "name": s.name}));
    }
    m.insert("bodyRecorded".into(), json!(e.body_recorded));
    m.insert("bodyTruncated".into(), json!(e.body_truncated));
    if e.answer_omitted {
        m.insert(
            "responseBodyOmitted".into(),
            json!("a templated answer to a request with credentials"),
        );
    }
    if e.headers_dropped > 0 {
        m.insert("headersDropped".into(), json!(e.headers_dropped));
    }
    Value::Object(m)
}

/// A whole entry, as `GET /__admin/requests` lists it: WireMock's members plus `tokenauth`.
pub fn entry_json(e: &Entry, stub_mapping: Option<Value>) -> Value {
    let mut response = Map::new();
    response.insert("status".into(), json!(e.status));
    if let Some((h, b)) = &e.answer {
        response.insert("headers".into(), headers_json(h));
        body_fields(&mut response, b);
    }
    let mut m = Map::new();
    m.insert("id".into(), json!(e.id));
    m.insert("request".into(), request_json(e));
    m.insert(
        "responseDefinition".into(),
        json!({"status": e.status, "fromConfiguredStub": matches!(e.mappings, Some(Some(_)))}),
    );
    m.insert("response".into(), Value::Object(response));
    m.insert("wasMatched".into(), json!(!e.unmatched()));
    if let Some(s) = stub_mapping {
        m.insert("stubMapping".into(), s);
    }
    m.insert("tokenauth".into(), decision_json(e));
    Value::Object(m)
}
