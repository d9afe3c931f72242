//! A mapping's `response` as data: status, headers, body, delays and faults, plus WireMock's
//! `response-template` transformer (Handlebars over the `request.*` model). The server turns a
//! [`RenderedResponse`] into HTTP; nothing here does I/O except reading `bodyFileName` at load.

use std::time::Duration;

use base64::Engine as _;
use rand::RngExt as _;
use serde_json::{Map, Value};

use super::MockRequest;
use super::mapping::{
    ErrorKind, MappingError, ParseContext, as_object, child, err, opt_f64, opt_i64, opt_string,
    read_body_file, scalar_string,
};
use super::templating;

pub use super::templating::{MAX_RENDER_STEPS, MAX_RENDERED_BYTES};

/// WireMock's four faults: how the connection misbehaves instead of answering.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    ConnectionResetByPeer,
    EmptyResponse,
    MalformedResponseChunk,
    RandomDataThenClose,
}

/// `delayDistribution`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum DelayDistribution {
    /// Milliseconds drawn evenly from `lower..=upper`.
    Uniform { lower: u64, upper: u64 },
    /// `median · e^(σ·N(0,1))` milliseconds, at most `max_value` when given.
    LogNormal {
        median: f64,
        sigma: f64,
        max_value: Option<f64>,
    },
}

/// `chunkedDribbleDelay`: the body sent in this many chunks spread over this long.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChunkedDribbleDelay {
    pub number_of_chunks: u32,
    pub total_duration: Duration,
}

impl ChunkedDribbleDelay {
    /// How WireMock cuts a body of `len` bytes (its `BodyChunker`): never more chunks than bytes,
    /// each `len / n` bytes and the remainder in the last. An empty body has no chunks.
    pub fn chunk_lengths(&self, len: usize) -> Vec<usize> {
        let n = usize::try_from(self.number_of_chunks)
            .unwrap_or(usize::MAX)
            .min(len);
        if n == 0 {
            return Vec::new();
        }
        let mut lengths = vec![len / n; n];
        if let Some(last) = lengths.last_mut() {
            *last += len % n;
        }
        lengths
    }

    /// The wait before each of `chunks` chunks: WireMock sleeps `totalDuration / chunks` before
    /// writing each one, so the last arrives after the whole duration.
    pub fn interval(&self, chunks: usize) -> Duration {
        match u32::try_from(chunks) {
            Ok(c) if c > 0 => self.total_duration / c,
            _ => Duration::ZERO,
        }
    }
}

/// A mapping's response, parsed once at load.
#[derive(Debug, Clone)]
pub struct ResponseDefinition {
    pub status: u16,
    pub status_message: Option<String>,
    /// A header given as a list becomes one entry per value, in order.
    pub headers: Vec<(String, String)>,
    /// From `body`, `jsonBody` (serialised as WireMock does), `base64Body` or `bodyFileName`.
    pub body: Option<Vec<u8>>,
    pub fixed_delay: Option<Duration>,
    pub delay_distribution: Option<DelayDistribution>,
    pub chunked_dribble_delay: Option<ChunkedDribbleDelay>,
    pub fault: Option<Fault>,
    /// Compiled when `transformers` names `response-template`.
    templates: Option<templating::Templates>,
}

impl Default for ResponseDefinition {
    fn default() -> Self {
        ResponseDefinition {
            status: 200,
            status_message: None,
            headers: Vec::new(),
            body: None,
            fixed_delay: None,
            delay_distribution: None,
            chunked_dribble_delay: None,
            fault: None,
            templates: None,
        }
    }
}

/// What the server should do for a matched request.
#[derive(Debug, Clone, PartialEq)]
pub struct RenderedResponse {
    pub status: u16,
    pub status_message: Option<String>,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// `fixedDelayMilliseconds` plus a draw from `delayDistribution`, before anything is sent.
    pub delay: Duration,
    pub chunked_dribble_delay: Option<ChunkedDribbleDelay>,
    pub fault: Option<Fault>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RenderError {
    #[error("response template failed: {0}")]
    Template(String),
    #[error("rendered response larger than {MAX_RENDERED_BYTES} bytes")]
    TooLarge,
    #[error(
        "response template stopped: it took more than {MAX_RENDER_STEPS} steps (#each iterations and helper calls)"
    )]
    Budget,
}

impl ResponseDefinition {
    /// Whether the answer is rendered from the request (`response-template`), and so may hold
    /// what the request carried.
    pub fn is_templated(&self) -> bool {
        self.templates.is_some()
    }

    pub fn parse(v: &Value, ptr: &str, cx: ParseContext<'_>) -> Result<Self, MappingError> {
        let m = as_object(v, ptr)?;
        let mut r = ResponseDefinition::default();
        if let Some(s) = opt_i64(m, "status", ptr)? {
            r.status = u16::try_from(s)
                .ok()
                .filter(|s| (100..=999).contains(s))
                .ok_or_else(|| {
                    err(
                        &child(ptr, "status"),
                        ErrorKind::Expected("a status from 100 to 999"),
                    )
                })?;
        }
        r.status_message = opt_string(m, "statusMessage", ptr)?;
        if let Some(h) = m.get("headers").filter(|h| !h.is_null()) {
            let at = child(ptr, "headers");
            for (name, value) in as_object(h, &at)? {
                let hp = child(&at, name);
                match value {
                    Value::Array(list) => {
                        for (i, v) in list.iter().enumerate() {
                            r.headers.push((
                                name.clone(),
                                scalar_string(v, &child(&hp, &i.to_string()))?,
                            ));
                        }
                    }
                    v => r.headers.push((name.clone(), scalar_string(v, &hp)?)),
                }
            }
        }
        r.body = parse_body(m, ptr, cx)?;
        if let Some(ms) = opt_i64(m, "fixedDelayMilliseconds", ptr)? {
            r.fixed_delay = Some(Duration::from_millis(non_negative(
                ms,
                &child(ptr, "fixedDelayMilliseconds"),
            )?));
        }
        if let Some(d) = m.get("delayDistribution").filter(|d| !d.is_null()) {
            r.delay_distribution = Some(parse_distribution(d, &child(ptr, "delayDistribution"))?);
        }
        if let Some(d) = m.get("chunkedDribbleDelay").filter(|d| !d.is_null()) {
            let at = child(ptr, "chunkedDribbleDelay");
            let dm = as_object(d, &at)?;
            let chunks = opt_i64(dm, "numberOfChunks", &at)?
                .ok_or_else(|| err(&child(&at, "numberOfChunks"), ErrorKind::Missing))?;
            let total = opt_i64(dm, "totalDuration", &at)?
                .ok_or_else(|| err(&child(&at, "totalDuration"), ErrorKind::Missing))?;
            r.chunked_dribble_delay = Some(ChunkedDribbleDelay {
                number_of_chunks: u32::try_from(chunks).ok().filter(|c| *c >= 1).ok_or_else(
                    || {
                        err(
                            &child(&at, "numberOfChunks"),
                            ErrorKind::Expected("a positive integer"),
                        )
                    },
                )?,
                total_duration: Duration::from_millis(non_negative(
                    total,
                    &child(&at, "totalDuration"),
                )?),
            });
        }
        if let Some(f) = opt_string(m, "fault", ptr)? {
            r.fault = Some(match f.as_str() {
                "CONNECTION_RESET_BY_PEER" => Fault::ConnectionResetByPeer,
                "EMPTY_RESPONSE" => Fault::EmptyResponse,
                "MALFORMED_RESPONSE_CHUNK" => Fault::MalformedResponseChunk,
                "RANDOM_DATA_THEN_CLOSE" => Fault::RandomDataThenClose,
                _ => {
                    return Err(err(
                        &child(ptr, "fault"),
                        ErrorKind::Invalid(format!("unknown fault {f:?}")),
                    ));
                }
            });
        }
        let templated = match m.get("transformers") {
            None | Some(Value::Null) => false,
            Some(Value::Array(list)) => {
                list.iter().any(|t| t.as_str() == Some("response-template"))
            }
            Some(_) => {
                return Err(err(
                    &child(ptr, "transformers"),
                    ErrorKind::Expected("an array of names"),
                ));
            }
        };
        if templated {
            r.templates = Some(templating::compile_templates(&r, m, ptr)?);
        }
        Ok(r)
    }

    /// `fixedDelayMilliseconds` plus one draw from `delayDistribution`.
    pub fn sample_delay<R: rand::Rng + ?Sized>(&self, rng: &mut R) -> Duration {
        let fixed = self.fixed_delay.unwrap_or_default();
        let random_ms = match self.delay_distribution {
            None => 0,
            Some(DelayDistribution::Uniform { lower, upper }) => rng.random_range(lower..=upper),
            Some(DelayDistribution::LogNormal {
                median,
                sigma,
                max_value,
            }) => {
                // Box–Muller for one standard normal draw; 1-u keeps ln away from 0.
                let (u1, u2): (f64, f64) = (rng.random(), rng.random());
                let normal = (-2.0 * (1.0 - u1).ln()).sqrt() * (std::f64::consts::TAU * u2).cos();
                let ms = (median * (normal * sigma).exp()).round();
                let ms = max_value.map_or(ms, |max| ms.min(max));
                // `as` saturates (and NaN is 0): no overflow whatever the parameters.
                ms as u64
            }
        };
        fixed.saturating_add(Duration::from_millis(random_ms))
    }

    /// Renders the response for `req` (templating, the delay drawn from the thread's RNG).
    pub fn render(
        &self,
        req: &MockRequest,
        path_parameters: &[(String, String)],
    ) -> Result<RenderedResponse, RenderError> {
        let mut headers = self.headers.clone();
        let mut body = self.body.clone().unwrap_or_default();
        if let Some(t) = &self.templates {
            templating::render(t, req, path_parameters, &mut headers, &mut body)?;
        }
        Ok(RenderedResponse {
            status: self.status,
            status_message: self.status_message.clone(),
            headers,
            body,
            delay: self.sample_delay(&mut rand::rng()),
            chunked_dribble_delay: self.chunked_dribble_delay,
            fault: self.fault,
        })
    }
}

fn non_negative(v: i64, ptr: &str) -> Result<u64, MappingError> {
    u64::try_from(v).map_err(|_| err(ptr, ErrorKind::Expected("a non-negative integer")))
}

fn parse_body(
    m: &Map<String, Value>,
    ptr: &str,
    cx: ParseContext<'_>,
) -> Result<Option<Vec<u8>>, MappingError> {
    let present: Vec<&str> = ["body", "jsonBody", "base64Body", "bodyFileName"]
        .into_iter()
        .filter(|k| m.get(*k).is_some_and(|v| !v.is_null()))
        .collect();
    let key = match present.as_slice() {
        [] => return Ok(None),
        [k] => *k,
        [first, second, ..] => {
            return Err(err(
                &child(ptr, second),
                ErrorKind::ConflictingBody((*first).to_owned()),
            ));
        }
    };
    let at = child(ptr, key);
    let v = &m[key];
    Ok(Some(match key {
        "body" => scalar_string(v, &at)?.into_bytes(),
        "jsonBody" => jackson_pretty(v).into_bytes(),
        "base64Body" => base64::engine::general_purpose::STANDARD
            .decode(scalar_string(v, &at)?.trim())
            .map_err(|e| err(&at, ErrorKind::Invalid(format!("not base64: {e}"))))?,
        _ => read_body_file(&scalar_string(v, &at)?, &at, cx)?,
    }))
}

fn parse_distribution(v: &Value, ptr: &str) -> Result<DelayDistribution, MappingError> {
    let m = as_object(v, ptr)?;
    let need_f64 =
        |k: &str| opt_f64(m, k, ptr)?.ok_or_else(|| err(&child(ptr, k), ErrorKind::Missing));
    let need_ms = |k: &str| -> Result<u64, MappingError> {
        let v = opt_i64(m, k, ptr)?.ok_or_else(|| err(&child(ptr, k), ErrorKind::Missing))?;
        non_negative(v, &child(ptr, k))
    };
    match opt_string(m, "type", ptr)?.as_deref() {
        Some("uniform") => {
            let (lower, upper) = (need_ms("lower")?, need_ms("upper")?);
            if lower > upper {
                return Err(err(
                    &child(ptr, "upper"),
                    ErrorKind::Invalid("below lower".into()),
                ));
            }
            Ok(DelayDistribution::Uniform { lower, upper })
        }
        Some("lognormal") => {
            let (median, sigma) = (need_f64("median")?, need_f64("sigma")?);
            if median < 0.0 || sigma < 0.0 {
                return Err(err(
                    ptr,
                    ErrorKind::Invalid("median and sigma must not be negative".into()),
                ));
            }
            Ok(DelayDistribution::LogNormal {
                median,
                sigma,
                max_value: opt_f64(m, "maxValue", ptr)?,
            })
        }
        Some(other) => Err(err(
            &child(ptr, "type"),
            ErrorKind::Invalid(format!("unknown distribution {other:?}")),
        )),
        None => Err(err(&child(ptr, "type"), ErrorKind::Missing)),
    }
}

/// Jackson's default pretty printer, which WireMock uses to write `jsonBody`: `"k" : v`, two
/// spaces of indent, arrays on one line as `[ 1, 2 ]`, empty containers as `{ }` and `[ ]`.
pub(crate) fn jackson_pretty(v: &Value) -> String {
    fn write(v: &Value, indent: usize, out: &mut String) {
        match v {
            Value::Object(m) if m.is_empty() => out.push_str("{ }"),
            Value::Object(m) => {
                out.push('{');
                for (i, (k, v)) in m.iter().enumerate() {
                    out.push_str(if i == 0 { "\n" } else { ",\n" });
                    out.push_str(&"  ".repeat(indent + 1));
                    out.push_str(&Value::String(k.clone()).to_string());
                    out.push_str(" : ");
                    write(v, indent + 1, out);
                }
                out.push('\n');
                out.push_str(&"  ".repeat(indent));
                out.push('}');
            }
            Value::Array(a) if a.is_empty() => out.push_str("[ ]"),
            Value::Array(a) => {
                out.push_str("[ ");
                for (i, v) in a.iter().enumerate() {
                    if i > 0 {
                        out.push_str(", ");
                    }
                    write(v, indent, out);
                }
                out.push_str(" ]");
            }
            other => out.push_str(&other.to_string()),
        }
    }
    let mut out = String::new();
    write(v, 0, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::templating::java_format;
    use super::*;
    use crate::mapping::{ErrorKind, ParseContext};
    use rand::SeedableRng as _;
    use serde_json::json;

    fn response(v: Value) -> ResponseDefinition {
        ResponseDefinition::parse(&v, "/response", ParseContext::default()).unwrap()
    }

    fn error(v: Value) -> MappingError {
        ResponseDefinition::parse(&v, "/response", ParseContext::default()).unwrap_err()
    }

    fn render(v: Value, req: &MockRequest) -> RenderedResponse {
        response(v).render(req, &[]).unwrap()
    }

    fn body_text(v: Value, req: &MockRequest) -> String {
        String::from_utf8(render(v, req).body).unwrap()
    }

    #[test]
    fn status_defaults_to_200_and_headers_may_repeat() {
        let r = render(json!({}), &MockRequest::default());
        assert_eq!(
            (r.status, r.body.len(), r.delay, r.fault),
            (200, 0, Duration::ZERO, None)
        );
        let r = render(
            json!({"status": 404, "statusMessage": "Nope", "headers": {"Set-Cookie": ["a=1", "b=2"], "X": 5}}),
            &MockRequest::default(),
        );
        assert_eq!((r.status, r.status_message.as_deref()), (404, Some("Nope")));
        assert_eq!(
            r.headers,
            [("Set-Cookie", "a=1"), ("Set-Cookie", "b=2"), ("X", "5")]
                .map(|(a, b)| (a.to_owned(), b.to_owned()))
        );
        assert_eq!(error(json!({"status": 20})).pointer, "/response/status");
    }

    #[test]
    fn the_four_kinds_of_body() {
        assert_eq!(
            body_text(json!({"body": "plain"}), &MockRequest::default()),
            "plain"
        );
        assert_eq!(
            body_text(json!({"base64Body": "aGk="}), &MockRequest::default()),
            "hi"
        );
        // jsonBody is written as WireMock writes it, with Jackson's pretty printer.
        assert_eq!(
            body_text(
                json!({"jsonBody": {"key": "PROJ-1", "n": [1, 2], "e": {}, "o": {"a": null}}}),
                &MockRequest::default()
            ),
            "{\n  \"e\" : { },\n  \"key\" : \"PROJ-1\",\n  \"n\" : [ 1, 2 ],\n  \"o\" : {\n    \"a\" : null\n  }\n}"
        );
        let e = error(json!({"body": "a", "jsonBody": {}}));
        assert_eq!(e.pointer, "/response/jsonBody");
        assert!(matches!(e.kind, ErrorKind::ConflictingBody(_)));
        assert_eq!(
            error(json!({"base64Body": "!!"})).pointer,
            "/response/base64Body"
        );
    }

    #[test]
    fn delays_fixed_uniform_and_lognormal() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(1);
        let r = response(json!({"fixedDelayMilliseconds": 250}));
        assert_eq!(r.sample_delay(&mut rng), Duration::from_millis(250));
        let r =
            response(json!({"delayDistribution": {"type": "uniform", "lower": 10, "upper": 20}}));
        for _ in 0..100 {
            let d = r.sample_delay(&mut rng).as_millis();
            assert!((10..=20).contains(&d), "{d}");
        }
        let r = response(
            json!({"delayDistribution": {"type": "lognormal", "median": 80, "sigma": 0.4}}),
        );
        let mut draws: Vec<u128> = (0..1001)
            .map(|_| r.sample_delay(&mut rng).as_millis())
            .collect();
        draws.sort_unstable();
        assert!(
            (60..=100).contains(&draws[500]),
            "median near 80: {}",
            draws[500]
        );
        let r = response(
            json!({"delayDistribution": {"type": "lognormal", "median": 1e300, "sigma": 1e300}}),
        );
        let _ = r.sample_delay(&mut rng); // saturates, does not panic
        assert_eq!(
            error(json!({"delayDistribution": {"type": "uniform", "lower": 5, "upper": 1}}))
                .pointer,
            "/response/delayDistribution/upper"
        );
        assert_eq!(
            error(json!({"delayDistribution": {"type": "pareto"}})).pointer,
            "/response/delayDistribution/type"
        );
    }

    #[test]
    fn dribbled_bodies_are_cut_as_wiremock_cuts_them() {
        let d = |n, ms| ChunkedDribbleDelay {
            number_of_chunks: n,
            total_duration: Duration::from_millis(ms),
        };
        // What WireMock 3.13.2 sent: 20 bytes in 4 → 5 each; 10 in 3 → 3, 3, 4; 3 in 10 → 3 of 1.
        assert_eq!(d(4, 1000).chunk_lengths(20), [5, 5, 5, 5]);
        assert_eq!(d(3, 600).chunk_lengths(10), [3, 3, 4]);
        assert_eq!(d(10, 1000).chunk_lengths(3), [1, 1, 1]);
        assert!(d(3, 600).chunk_lengths(0).is_empty());
        assert_eq!(d(1, 5).chunk_lengths(7), [7]);
        // The wait before each chunk spreads the whole duration over the chunks actually sent.
        assert_eq!(d(10, 1000).interval(3), Duration::from_nanos(333_333_333));
        assert_eq!(d(4, 1000).interval(4), Duration::from_millis(250));
        assert_eq!(d(4, 1000).interval(0), Duration::ZERO);
    }

    #[test]
    fn chunked_dribble_delay_and_faults_are_data() {
        let r = response(
            json!({"chunkedDribbleDelay": {"numberOfChunks": 5, "totalDuration": 1000}, "fault": "EMPTY_RESPONSE"}),
        );
        assert_eq!(
            r.chunked_dribble_delay,
            Some(ChunkedDribbleDelay {
                number_of_chunks: 5,
                total_duration: Duration::from_secs(1)
            })
        );
        assert_eq!(r.fault, Some(Fault::EmptyResponse));
        for (name, f) in [
            ("CONNECTION_RESET_BY_PEER", Fault::ConnectionResetByPeer),
            ("MALFORMED_RESPONSE_CHUNK", Fault::MalformedResponseChunk),
            ("RANDOM_DATA_THEN_CLOSE", Fault::RandomDataThenClose),
        ] {
            assert_eq!(response(json!({"fault": name})).fault, Some(f));
        }
        assert_eq!(error(json!({"fault": "BOOM"})).pointer, "/response/fault");
        assert_eq!(
            error(json!({"chunkedDribbleDelay": {"numberOfChunks": 0, "totalDuration": 1}}))
                .pointer,
            "/response/chunkedDribbleDelay/numberOfChunks"
        );
    }

    fn templated(body: &str) -> Value {
        json!({"body": body, "transformers": ["response-template"]})
    }

    #[test]
    fn a_template_finds_a_header_whatever_case_the_request_used() {
        // As hyper hands it over: lower case.
        let req = MockRequest::new("GET", "/x").header("x-trace", "t-9");
        let t = |body: &str| body_text(templated(body), &req);
        assert_eq!(t("{{request.headers.X-Trace}}"), "t-9");
        assert_eq!(t("{{request.headers.[X-TRACE]}}"), "t-9");
        assert_eq!(t("{{request.headers.x-trace}}"), "t-9");
        assert_eq!(t("{{request.headers.X-Other}}"), "");
    }

    #[test]
    fn templates_see_the_request_model() {
        let req = MockRequest::new("post", "/rest/api/2/issue/PROJ-7?expand=names&x=1&x=2")
            .header("X-Trace", "t-1")
            .header("Cookie", "s=abc")
            .body(r#"{"fields": {"summary": "Hello"}, "labels": ["a", "b"]}"#);
        let t = |body: &str| body_text(templated(body), &req);
        assert_eq!(t("{{request.pathSegments.[4]}}"), "PROJ-7");
        assert_eq!(t("{{request.path}}"), "/rest/api/2/issue/PROJ-7");
        // `{{…}}` escapes as WireMock's default (jknack's Handlebars.js strategy), `{{{…}}}` does not.
        assert_eq!(
            t("{{request.url}}"),
            "/rest/api/2/issue/PROJ-7?expand&#x3D;names&amp;x&#x3D;1&amp;x&#x3D;2"
        );
        assert_eq!(
            t("{{{request.url}}}"),
            "/rest/api/2/issue/PROJ-7?expand=names&x=1&x=2"
        );
        assert_eq!(
            t("{{request.query.expand}} {{request.query.x.[1]}}"),
            "names 2"
        );
        assert_eq!(
            t("{{request.headers.X-Trace}} {{request.headers.x-trace}}"),
            "t-1 t-1"
        );
        // Cookies are credentials: a template sees that one is there, never its value.
        assert_eq!(
            t("{{request.cookies.s}} {{request.method}}"),
            "[redacted] POST"
        );
        assert_eq!(t("{{jsonPath request.body '$.fields.summary'}}"), "Hello");
        assert_eq!(t("{{jsonPath request.body '$.labels[*]'}}"), r#"["a","b"]"#);
        assert_eq!(
            t("{{jsonPath request.body '$.missing'}}|{{request.nothing}}"),
            "|",
            "strict mode off"
        );
        assert_eq!(t("{{#each request.query.x}}[{{this}}]{{/each}}"), "[1][2]");
    }

    #[test]
    fn path_parameters_from_a_template_url() {
        let r = response(templated("issue {{request.pathParameters.key}}"));
        let out = r
            .render(
                &MockRequest::new("GET", "/i/K-1"),
                &[("key".into(), "K-1".into())],
            )
            .unwrap();
        assert_eq!(out.body, b"issue K-1");
    }

    #[test]
    fn headers_and_json_bodies_are_templated_too() {
        let req = MockRequest::new("GET", "/a/b");
        let r = render(
            json!({"jsonBody": {"seg": "{{request.pathSegments.[1]}}"}, "headers": {"Location": "/x/{{request.pathSegments.[0]}}"},
                   "transformers": ["response-template"]}),
            &req,
        );
        assert_eq!(r.body, b"{\n  \"seg\" : \"b\"\n}");
        assert_eq!(r.headers, vec![("Location".to_owned(), "/x/a".to_owned())]);
        // Without the transformer nothing is rendered.
        assert_eq!(
            body_text(json!({"body": "{{request.path}}"}), &req),
            "{{request.path}}"
        );
    }

    #[test]
    fn random_values_and_now() {
        let req = MockRequest::default();
        let v = body_text(templated("{{randomValue length=12 type='NUMERIC'}}"), &req);
        assert!(
            v.len() == 12 && v.bytes().all(|b| b.is_ascii_digit()),
            "{v}"
        );
        let v = body_text(templated("{{randomValue length=20}}"), &req);
        assert!(
            v.len() == 20
                && v.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit()),
            "{v}"
        );
        let v = body_text(
            templated("{{randomValue length=8 type='ALPHABETIC' uppercase=true}}"),
            &req,
        );
        assert!(
            v.len() == 8 && v.bytes().all(|b| b.is_ascii_uppercase()),
            "{v}"
        );
        let v = body_text(templated("{{randomValue type='UUID'}}"), &req);
        assert_eq!((v.len(), v.as_bytes()[14]), (36, b'4'));
        assert!(
            response(templated("{{randomValue length=99999999}}"))
                .render(&req, &[])
                .is_err()
        );
        let now = body_text(templated("{{now}}"), &req);
        assert_eq!(
            (now.len(), &now[10..11], &now[19..]),
            (20, "T", "Z"),
            "{now}"
        );
        let year = time::OffsetDateTime::now_utc().year();
        let next = body_text(templated("{{now offset='366 days' format='yyyy'}}"), &req);
        assert!(
            next == (year + 1).to_string() || next == (year + 2).to_string(),
            "{next}"
        );
        let epoch: i64 = body_text(templated("{{now format='unix'}}"), &req)
            .parse()
            .unwrap();
        assert!((epoch - time::OffsetDateTime::now_utc().unix_timestamp()).abs() < 5);
        assert_eq!(
            java_format(
                time::macros::datetime!(2024-03-05 07:08:09.123 UTC),
                "dd/MM/yy HH:mm:ss.SSS 'at' yyyy"
            ),
            "05/03/24 07:08:09.123 at 2024"
        );
    }

    #[test]
    fn templates_are_checked_at_load_and_bounded_when_rendered() {
        let e = error(templated("{{#if x}}unclosed"));
        assert_eq!(e.pointer, "/response/body");
        assert!(matches!(e.kind, ErrorKind::InvalidTemplate(_)));
        assert!(
            matches!(
                error(templated("{{> other}}")).kind,
                ErrorKind::InvalidTemplate(_)
            ),
            "no partials"
        );
        assert!(matches!(
            error(templated("{{#*inline \"p\"}}{{> p}}{{/inline}}")).kind,
            ErrorKind::InvalidTemplate(_)
        ));
        let deep = "{{#if a}}".repeat(40) + &"{{/if}}".repeat(40);
        assert!(matches!(
            error(templated(&deep)).kind,
            ErrorKind::InvalidTemplate(_)
        ));
        // 64 KiB of random value per item × a 200-item query list: over the 10 MiB cap.
        let big = "{{#each request.query.x}}{{randomValue length=65536}}{{/each}}";
        let url = format!("/?{}", "x=1&".repeat(200));
        let out = response(templated(big)).render(&MockRequest::new("GET", &url), &[]);
        assert_eq!(out, Err(RenderError::TooLarge));
        // A binary body is sent as it is, not parsed as a template.
        let r = response(json!({"base64Body": "/wA=", "transformers": ["response-template"]}));
        assert_eq!(
            r.render(&MockRequest::default(), &[]).unwrap().body,
            vec![0xff, 0]
        );
    }

    /// Security review 2, N1: a template renders from the request's view, credentials redacted.
    #[test]
    fn a_template_cannot_echo_a_credential() {
        let req = MockRequest::new("GET", "/a?access_token=tka_q&x=1")
            .header("Authorization", "Bearer tka_secret")
            .header("Cookie", "JSESSIONID=sess")
            .header("X-Api-Key", "key-1");
        let r = response(templated(
            "{{request.headers.Authorization}}|{{request.headers.authorization}}|{{request.headers.[X-API-KEY]}}|{{request.cookies.JSESSIONID}}|{{request.query.access_token}}|{{request.url}}|{{#each request.headers}}{{this}},{{/each}}",
        ));
        let out = String::from_utf8(r.render(&req, &[]).unwrap().body).unwrap();
        for secret in ["tka_secret", "sess", "key-1", "tka_q"] {
            assert!(!out.contains(secret), "{secret} in {out}");
        }
        assert!(
            out.starts_with("[redacted]|[redacted]|[redacted]|[redacted]|[redacted]|"),
            "{out}"
        );
    }

    /// Security review 2, N8: work that multiplies stops at the render budget, while it runs.
    #[test]
    fn a_template_that_multiplies_stops_at_its_budget() {
        let url = format!("/x?{}", "x=1&".repeat(300));
        let req = MockRequest::new("GET", &url);
        let each = "{{#each @root.request.query.x}}";
        let triple = format!("{each}{each}{each}{{{{/each}}}}{{{{/each}}}}{{{{/each}}}}");
        let start = std::time::Instant::now();
        let out = response(templated(&triple)).render(&req, &[]);
        assert_eq!(out, Err(RenderError::Budget));
        // Not a timing assertion: a figure for the reader (27 million iterations unbounded).
        eprintln!("stopped after {:?}", start.elapsed());
        // What a real template does over the same body is well inside the budget.
        let one = format!("{each}{{{{this}}}},{{{{/each}}}}");
        let text =
            String::from_utf8(response(templated(&one)).render(&req, &[]).unwrap().body).unwrap();
        assert_eq!(text.matches(',').count(), 300);
        let pairs = "{{#each request.query}}{{@key}}={{this}};{{/each}}";
        let q = MockRequest::new("GET", "/x?a=1&b=2");
        assert_eq!(
            String::from_utf8(response(templated(pairs)).render(&q, &[]).unwrap().body).unwrap(),
            "a=1;b=2;"
        );
    }
}
