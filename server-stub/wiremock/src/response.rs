//! A mapping's `response` as data: status, headers, body, delays and faults, plus WireMock's
//! `response-template` transformer (Handlebars over the `request.*` model). The server turns a
//! [`RenderedResponse`] into HTTP; nothing here does I/O except reading `bodyFileName` at load.

use std::time::Duration;

use base64::Engine as _;
use rand::RngExt as _;
use serde_json::{Map, Value};

use crate::body_file::read_body_file;
use crate::jackson::jackson_pretty;
use crate::parse::{
    ErrorKind, MappingError, ParseContext, as_object, child, err, opt_f64, opt_i64, opt_string,
    scalar_string,
};
use crate::proxy::ProxyDefinition;
use crate::request::MockRequest;
use crate::templating;

pub use crate::templating::{MAX_RENDER_STEPS, MAX_RENDERED_BYTES, RenderError};

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
    /// `proxyBaseUrl` and its companions: the answer is fetched from there instead.
    pub proxy: Option<ProxyDefinition>,
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
            proxy: None,
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
        r.proxy = ProxyDefinition::parse(m, ptr)?;
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
            r.templates = Some(templating::compile_templates(
                r.body.as_deref(),
                &r.headers,
                m,
                ptr,
            )?);
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

#[cfg(test)]
mod tests;
