//! A WireMock mapping document from a file or the admin API: parsing it never panics, and when
//! it parses, matching requests built from the same bytes (and rendering the chosen response,
//! templates included) never panics either.
#![no_main]

use libfuzzer_sys::fuzz_target;
use serde_json::Value;

use wiremock_engine::{MockRequest, ParseContext, ScenarioStates, Stubs, parse_document};

/// Up to `max` strings from the document: the likeliest URLs, headers and bodies to match it.
fn strings(v: &Value, out: &mut Vec<String>, max: usize) {
    if out.len() >= max {
        return;
    }
    match v {
        Value::String(s) => out.push(s.clone()),
        Value::Array(a) => a.iter().for_each(|v| strings(v, out, max)),
        Value::Object(m) => m.iter().for_each(|(k, v)| {
            if out.len() < max {
                out.push(k.clone());
            }
            strings(v, out, max)
        }),
        _ => {}
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(mappings) = parse_document(data, ParseContext::default()) else {
        return;
    };
    let stubs = Stubs::new(mappings);
    let mut words = vec![String::from_utf8_lossy(data).into_owned()];
    if let Ok(v) = serde_json::from_slice::<Value>(data) {
        strings(&v, &mut words, 16);
    }
    let mut states = ScenarioStates::default();
    for (i, w) in words.iter().enumerate() {
        let url = if w.starts_with('/') { w.clone() } else { format!("/{w}") };
        let method = ["GET", "POST", "PUT", "DELETE"][i % 4];
        let mut req = MockRequest::new(method, &url).header("Accept", w).header("Cookie", w).body(w.as_bytes());
        if let Some(next) = words.get(i + 1) {
            req = req.header(next, w);
        }
        let indexed = stubs.find(&req, &states).map(|m| m.mapping.id.clone());
        let linear = stubs.find_linear(&req, &states).map(|m| m.mapping.id.clone());
        assert_eq!(indexed, linear);
        if let Some(m) = stubs.serve(&req, &mut states) {
            let _ = m.mapping.response.render(&req, &m.path_parameters);
        }
        let _ = stubs.near_misses(&req, &states, 3, |_| true);
    }
});
