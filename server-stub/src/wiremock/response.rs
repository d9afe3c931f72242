//! A mapping's `response` as data: status, headers, body, delays and faults, plus WireMock's
//! `response-template` transformer (Handlebars over the `request.*` model). The server turns a
//! [`RenderedResponse`] into HTTP; nothing here does I/O except reading `bodyFileName` at load.

use std::time::Duration;

use base64::Engine as _;
use handlebars::template::TemplateElement;
use handlebars::{
    Context, Handlebars, Helper, HelperResult, Output, RenderContext, RenderErrorReason, Template,
};
use rand::RngExt as _;
use serde_json::{Map, Value, json};

use super::MockRequest;
use super::mapping::{
    ErrorKind, MAX_EXPRESSION_LEN, MappingError, ParseContext, as_object, child, err, opt_f64,
    opt_i64, opt_string, read_body_file, scalar_string,
};
use super::matching::{json_path, json_text};

/// A rendered body (or header) larger than this is an error, not an allocation.
pub const MAX_RENDERED_BYTES: usize = 10 * 1024 * 1024;
/// Longest `randomValue`.
const MAX_RANDOM_LENGTH: usize = 64 * 1024;
/// How deeply a response template may nest blocks and sub-expressions (its parser recurses).
const MAX_TEMPLATE_DEPTH: usize = 32;

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
    templates: Option<Templates>,
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

/// The body and header templates of one response, in a registry with WireMock's helpers.
#[derive(Clone)]
struct Templates {
    registry: Handlebars<'static>,
    body: bool,
    /// Header names the templates read as `request.headers.<Name>` in their own case: HTTP/2
    /// and hyper hand headers over in lower case, and WireMock finds them whatever the case.
    header_names: Vec<String>,
}

impl std::fmt::Debug for Templates {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Templates")
            .field("body", &self.body)
            .finish_non_exhaustive()
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
            r.templates = Some(compile_templates(&r, m, ptr)?);
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
            let model = Context::wraps(request_model(req, path_parameters, &t.header_names))
                .map_err(|e| RenderError::Template(e.to_string()))?;
            if t.body {
                body = render_one(&t.registry, "body", &model)?.into_bytes();
            }
            for (i, (_, value)) in headers.iter_mut().enumerate() {
                *value = render_one(&t.registry, &format!("header{i}"), &model)?;
            }
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

/// How deeply `{{#block}}`s and `(sub expressions)` nest in a template source: its parser
/// recurses on both, so a mapping cannot be allowed to nest them without bound.
fn template_depth(s: &str) -> usize {
    let (mut blocks, mut max) = (0usize, 0usize);
    let mut rest = s;
    while let Some(start) = rest.find("{{") {
        let tag = &rest[start + 2..];
        let end = tag.find("}}").unwrap_or(tag.len());
        let inner = tag[..end].trim_start_matches(['{', '~', ' ']);
        if inner.starts_with('#') || inner.starts_with('^') {
            blocks += 1;
        } else if inner.starts_with('/') {
            blocks = blocks.saturating_sub(1);
        }
        let mut parens = 0usize;
        for c in tag[..end].chars() {
            match c {
                '(' => {
                    parens += 1;
                    max = max.max(blocks + parens);
                }
                ')' => parens = parens.saturating_sub(1),
                _ => {}
            }
        }
        max = max.max(blocks);
        rest = &tag[end..];
    }
    max
}

/// Partials and decorators can define and call themselves: refused, so rendering cannot recurse.
fn has_partials(t: &Template) -> bool {
    t.elements.iter().any(|e| match e {
        TemplateElement::PartialExpression(_)
        | TemplateElement::PartialBlock(_)
        | TemplateElement::DecoratorExpression(_)
        | TemplateElement::DecoratorBlock(_) => true,
        TemplateElement::HelperBlock(h) => {
            h.template.as_ref().is_some_and(has_partials)
                || h.inverse.as_ref().is_some_and(has_partials)
        }
        _ => false,
    })
}

fn compile(source: &str, ptr: &str) -> Result<Template, MappingError> {
    if source.len() > MAX_EXPRESSION_LEN * 16 || template_depth(source) > MAX_TEMPLATE_DEPTH {
        return Err(err(
            ptr,
            ErrorKind::InvalidTemplate("too large or nested too deeply".into()),
        ));
    }
    let t = Template::compile(source)
        .map_err(|e| err(ptr, ErrorKind::InvalidTemplate(e.to_string())))?;
    if has_partials(&t) {
        return Err(err(
            ptr,
            ErrorKind::InvalidTemplate("partials and decorators are not supported".into()),
        ));
    }
    Ok(t)
}

fn compile_templates(
    r: &ResponseDefinition,
    m: &Map<String, Value>,
    ptr: &str,
) -> Result<Templates, MappingError> {
    let mut registry = new_registry();
    // A text body is a template; a binary one (base64Body, a binary file) is sent as it is.
    let body_key = ["body", "jsonBody", "bodyFileName"]
        .into_iter()
        .find(|k| m.get(*k).is_some_and(|v| !v.is_null()));
    let mut body = false;
    if let (Some(key), Some(bytes)) = (body_key, &r.body)
        && let Ok(text) = std::str::from_utf8(bytes)
    {
        registry.register_template("body", compile(text, &child(ptr, key))?);
        body = true;
    }
    for (i, (name, value)) in r.headers.iter().enumerate() {
        registry.register_template(
            &format!("header{i}"),
            compile(value, &child(&child(ptr, "headers"), name))?,
        );
    }
    let mut header_names = Vec::new();
    let sources = r
        .body
        .iter()
        .filter(|_| body)
        .filter_map(|b| std::str::from_utf8(b).ok())
        .chain(r.headers.iter().map(|(_, v)| v.as_str()));
    for text in sources {
        for name in referenced_headers(text) {
            if !header_names.contains(&name) {
                header_names.push(name);
            }
        }
    }
    Ok(Templates {
        registry,
        body,
        header_names,
    })
}

/// The names after `request.headers.` (or in `request.headers.[…]`) in a template's text.
fn referenced_headers(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(i) = rest.find("request.headers.") {
        rest = &rest[i + "request.headers.".len()..];
        let (name, bracketed) = match rest.strip_prefix('[') {
            Some(inner) => (inner.split(']').next().unwrap_or(""), true),
            None => (
                rest.split(|c: char| !(c.is_ascii_alphanumeric() || c == '-' || c == '_'))
                    .next()
                    .unwrap_or(""),
                false,
            ),
        };
        if !name.is_empty() && (bracketed || name.chars().any(|c| c.is_ascii_uppercase())) {
            out.push(name.to_owned());
        }
    }
    out
}

/// A registry with WireMock's helpers. Strict mode stays off: a missing field renders empty,
/// as in WireMock. HTML escaping stays on for `{{x}}` (`{{{x}}}` is raw), as in WireMock.
fn new_registry() -> Handlebars<'static> {
    let mut h = Handlebars::new();
    h.set_strict_mode(false);
    h.register_helper("jsonPath", Box::new(json_path_helper));
    h.register_helper("randomValue", Box::new(random_value_helper));
    h.register_helper("now", Box::new(now_helper));
    // Handlebars' built-in `log` writes what it is given to the server's log: a mapping could
    // copy a client's `Authorization` header there. It renders nothing and logs nothing here.
    h.register_helper("log", Box::new(no_log_helper));
    h
}

fn no_log_helper(
    _: &Helper<'_>,
    _: &Handlebars<'_>,
    _: &Context,
    _: &mut RenderContext<'_, '_>,
    _: &mut dyn Output,
) -> HelperResult {
    Ok(())
}

fn helper_error(msg: impl Into<String>) -> handlebars::RenderError {
    RenderErrorReason::Other(msg.into()).into()
}

/// `{{jsonPath request.body '$.a.b'}}`: the value found (a string without quotes, anything
/// else as JSON), several values as a JSON array, nothing as the empty string.
fn json_path_helper(
    h: &Helper<'_>,
    _: &Handlebars<'_>,
    _: &Context,
    _: &mut RenderContext<'_, '_>,
    out: &mut dyn Output,
) -> HelperResult {
    let doc = h
        .param(0)
        .map(|p| p.value())
        .ok_or_else(|| helper_error("jsonPath needs a document"))?;
    let expr = h
        .param(1)
        .and_then(|p| p.value().as_str())
        .ok_or_else(|| helper_error("jsonPath needs an expression"))?;
    let path = json_path(expr, "").map_err(|e| helper_error(e.kind.to_string()))?;
    // The document is usually `request.body`, JSON text; an object from the model is used as is.
    let parsed;
    let doc = match doc {
        Value::String(s) => match serde_json::from_str::<Value>(s) {
            Ok(v) => {
                parsed = v;
                &parsed
            }
            Err(_) => return Ok(()),
        },
        other => other,
    };
    let found = path.query(doc).all();
    let text = match found.as_slice() {
        [] => String::new(),
        [one] => json_text(one),
        many => Value::Array(many.iter().map(|v| (*v).clone()).collect()).to_string(),
    };
    out.write(&text)?;
    Ok(())
}

/// `{{randomValue length=N type='ALPHANUMERIC'|'ALPHABETIC'|'NUMERIC'|'HEXADECIMAL'|'UUID'|… uppercase=true}}`
/// as WireMock's helper: 36 characters by default, lower case unless `uppercase=true`, any
/// other type printable ASCII.
fn random_value_helper(
    h: &Helper<'_>,
    _: &Handlebars<'_>,
    _: &Context,
    _: &mut RenderContext<'_, '_>,
    out: &mut dyn Output,
) -> HelperResult {
    let kind = h
        .hash_get("type")
        .and_then(|v| v.value().as_str().map(str::to_owned))
        .unwrap_or_else(|| "ALPHANUMERIC".into());
    let length = h
        .hash_get("length")
        .and_then(|v| v.value().as_u64())
        .unwrap_or(36);
    let length = usize::try_from(length)
        .ok()
        .filter(|l| *l <= MAX_RANDOM_LENGTH)
        .ok_or_else(|| helper_error("randomValue length too large"))?;
    let upper = h
        .hash_get("uppercase")
        .is_some_and(|v| v.value().as_bool() == Some(true));
    let printable: Vec<u8> = (32..=126).collect();
    let alphabet: &[u8] = match kind.as_str() {
        "UUID" => {
            let id = super::mapping::random_uuid();
            out.write(&if upper { id.to_uppercase() } else { id })?;
            return Ok(());
        }
        "ALPHANUMERIC" => b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789",
        "ALPHABETIC" => b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ",
        "NUMERIC" => b"0123456789",
        "HEXADECIMAL" => b"ABCDEF0123456789",
        "ALPHANUMERIC_AND_SYMBOLS" => &printable[1..],
        _ => &printable,
    };
    let mut rng = rand::rng();
    let s: String = (0..length)
        .map(|_| char::from(alphabet[rng.random_range(0..alphabet.len())]))
        .collect();
    out.write(&if upper {
        s.to_uppercase()
    } else {
        s.to_lowercase()
    })?;
    Ok(())
}

/// `{{now}}`, `{{now offset='3 days' format='yyyy-MM-dd'}}`, `format='epoch'|'unix'`.
fn now_helper(
    h: &Helper<'_>,
    _: &Handlebars<'_>,
    _: &Context,
    _: &mut RenderContext<'_, '_>,
    out: &mut dyn Output,
) -> HelperResult {
    let mut t = time::OffsetDateTime::now_utc();
    if let Some(offset) = h.hash_get("offset").and_then(|v| v.value().as_str()) {
        t = t
            .checked_add(
                parse_offset(offset)
                    .ok_or_else(|| helper_error(format!("bad offset {offset:?}")))?,
            )
            .ok_or_else(|| helper_error("offset out of range"))?;
    }
    let text = match h.hash_get("format").and_then(|v| v.value().as_str()) {
        None => java_format(t, "yyyy-MM-dd'T'HH:mm:ss'Z'"),
        Some("epoch") => (t.unix_timestamp_nanos() / 1_000_000).to_string(),
        Some("unix") => t.unix_timestamp().to_string(),
        Some(f) => java_format(t, f),
    };
    out.write(&text)?;
    Ok(())
}

/// WireMock's offsets: `"<n> seconds|minutes|hours|days|weeks"`, `n` may be negative (months
/// and years, which WireMock also takes, are not supported).
fn parse_offset(s: &str) -> Option<time::Duration> {
    let mut parts = s.split_whitespace();
    let n: i64 = parts.next()?.parse().ok()?;
    let unit = parts.next()?.to_ascii_lowercase();
    let secs = match unit.trim_end_matches('s') {
        "second" => 1,
        "minute" => 60,
        "hour" => 3600,
        "day" => 86_400,
        "week" => 604_800,
        _ => return None,
    };
    Some(time::Duration::seconds(n.checked_mul(secs)?))
}

/// The common letters of Java's `SimpleDateFormat` (y M d H m s S, quoted text); other letters
/// are copied as they are.
fn java_format(t: time::OffsetDateTime, pattern: &str) -> String {
    let chars: Vec<char> = pattern.chars().collect();
    let mut out = String::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c == '\'' {
            let end = chars[i + 1..]
                .iter()
                .position(|&c| c == '\'')
                .map_or(chars.len(), |p| i + 1 + p);
            if end == i + 1 {
                out.push('\'');
            }
            out.extend(&chars[(i + 1).min(end)..end]);
            i = end + 1;
            continue;
        }
        let run = chars[i..].iter().take_while(|&&x| x == c).count();
        let num = |v: i64, width: usize| format!("{v:0width$}");
        match c {
            'y' if run == 2 => out.push_str(&num(i64::from(t.year()).rem_euclid(100), 2)),
            'y' => out.push_str(&num(i64::from(t.year()), run)),
            'M' => out.push_str(&num(i64::from(u8::from(t.month())), run)),
            'd' => out.push_str(&num(i64::from(t.day()), run)),
            'H' => out.push_str(&num(i64::from(t.hour()), run)),
            'm' => out.push_str(&num(i64::from(t.minute()), run)),
            's' => out.push_str(&num(i64::from(t.second()), run)),
            'S' => out.push_str(&num(i64::from(t.millisecond()), run)),
            _ => out.extend(&chars[i..i + run]),
        }
        i += run;
    }
    out
}

/// WireMock's `request` model for templates.
fn request_model(
    req: &MockRequest,
    path_parameters: &[(String, String)],
    header_names: &[String],
) -> Value {
    fn grouped<'a>(pairs: impl Iterator<Item = (&'a str, &'a str)>) -> Value {
        let mut m: Map<String, Value> = Map::new();
        for (k, v) in pairs {
            match m.get_mut(k) {
                // One value renders as itself; several as a list (`.[1]` reaches the second).
                Some(Value::Array(list)) => list.push(json!(v)),
                Some(first) => *first = json!([first.clone(), v]),
                None => {
                    m.insert(k.to_owned(), json!(v));
                }
            }
        }
        Value::Object(m)
    }
    let path = req.path();
    let query = req.query_params();
    let cookies = req.cookies();
    // Header names are case-insensitive: each header is reachable as sent and in lower case.
    let headers = req.headers.iter().flat_map(|(k, v)| {
        let lower = (k.to_ascii_lowercase() != *k).then(|| (k.to_ascii_lowercase(), v.as_str()));
        std::iter::once((k.clone(), v.as_str())).chain(lower)
    });
    let mut headers: Vec<(String, &str)> = headers.collect();
    // Each name a template reads in its own case, found whatever case the request used.
    for name in header_names {
        if !headers.iter().any(|(k, _)| k == name) {
            let found: Vec<&str> = req.header_values(name).collect();
            headers.extend(found.into_iter().map(|v| (name.clone(), v)));
        }
    }
    json!({
        "request": {
            "url": req.url,
            "path": path,
            "pathSegments": path.split('/').filter(|s| !s.is_empty()).collect::<Vec<_>>(),
            "query": grouped(query.iter().map(|(k, v)| (k.as_str(), v.as_str()))),
            "headers": grouped(headers.iter().map(|(k, v)| (k.as_str(), *v))),
            "cookies": grouped(cookies.iter().map(|(k, v)| (k.as_str(), v.as_str()))),
            "pathParameters": grouped(path_parameters.iter().map(|(k, v)| (k.as_str(), v.as_str()))),
            "body": req.body_text(),
            "method": req.method.to_ascii_uppercase(),
        }
    })
}

/// Writes into memory up to [`MAX_RENDERED_BYTES`], then fails (and says so).
struct Capped {
    buf: Vec<u8>,
    overflowed: bool,
}

impl std::io::Write for Capped {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        if self.buf.len() + data.len() > MAX_RENDERED_BYTES {
            self.overflowed = true;
            return Err(std::io::Error::other("rendered response too large"));
        }
        self.buf.extend_from_slice(data);
        Ok(data.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn render_one(
    registry: &Handlebars<'static>,
    name: &str,
    model: &Context,
) -> Result<String, RenderError> {
    let mut out = Capped {
        buf: Vec::new(),
        overflowed: false,
    };
    match registry.render_with_context_to_write(name, model, &mut out) {
        Ok(()) => Ok(String::from_utf8_lossy(&out.buf).into_owned()),
        Err(_) if out.overflowed => Err(RenderError::TooLarge),
        Err(e) => Err(RenderError::Template(e.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wiremock::mapping::{ErrorKind, ParseContext};
    use rand::SeedableRng as _;

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
        assert_eq!(t("{{request.cookies.s}} {{request.method}}"), "abc POST");
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
}
